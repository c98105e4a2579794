"""The application's URL rules compile their URL builders on first use
(santeid.routing.LazilyCompiledRule): every rule builds the URL Werkzeug's own rule builds."""

from __future__ import annotations

import pytest
from flask import url_for
from werkzeug.routing import AnyConverter
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map
from werkzeug.routing import Rule

from santeid.routing import LazilyCompiledRule


def _eager_twin(rule: Rule, converters) -> Rule:
    """The same rule as Werkzeug builds it (builders compiled at once), in a map of its own."""
    twin = Rule(rule.rule, endpoint=rule.endpoint, defaults=rule.defaults,
                methods=rule.methods, strict_slashes=rule.strict_slashes)  # fmt: skip
    Map([twin], converters=converters)
    return twin


def _values(rule: Rule) -> dict[str, object]:
    """A value each converter of ``rule`` accepts, with characters that need quoting."""
    values: dict[str, object] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, IntegerConverter):
            values[name] = 7
        else:
            values[name] = "a b/é"
    return values


def test_every_rule_of_the_application_compiles_its_builders_lazily(app):
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 50
    assert all(isinstance(rule, LazilyCompiledRule) for rule in rules)


@pytest.mark.parametrize("append_unknown", [False, True])
def test_every_rule_builds_the_url_werkzeug_builds(app, append_unknown):
    converters = dict(app.url_map.converters)
    for rule in app.url_map.iter_rules():
        values = {**_values(rule), "unknown": "x y"}
        twin = _eager_twin(rule, converters)
        assert rule.build(values, append_unknown) == twin.build(values, append_unknown), rule
        # A missing argument: neither builds (a ValidationError or TypeError alike).
        if rule.arguments - set(rule.defaults or ()):
            with pytest.raises(TypeError):
                rule.build({}, append_unknown)
            with pytest.raises(TypeError):
                twin.build({}, append_unknown)


def test_url_for_builds_the_same_url_twice(app):
    with app.test_request_context():
        first = url_for("static", filename="a b.css")
        assert url_for("static", filename="a b.css") == first == "/static/a%20b.css"

"""URL rules whose URL builders are compiled when first used, not when the rule is added.

Werkzeug compiles two URL-building functions for every rule as soon as it is bound to the map
(``Rule.compile``: Python source generated as an ``ast`` tree, then ``compile()``), whether or
not anything ever builds a URL for it. santeid's ≈ 110 rules made that two thirds of the cost
of building the application (``create_app``: 41 → 14 ms) — paid by every server worker at
start-up and by every test that builds an app — while a running server builds URLs for a
handful of endpoints. docs/decisions/url-rule-builders.md has the measurement.

The builders are Werkzeug's own (``Rule._compile_builder``, unchanged), so a URL built here
is the one Werkzeug would build; ``tests/test_routing.py`` checks it for every rule of the
application. Werkzeug's routing:
https://werkzeug.palletsprojects.com/en/stable/routing/
"""

from __future__ import annotations

from collections.abc import Callable

from werkzeug.routing import Rule

__all__ = ["LazilyCompiledRule"]


class LazilyCompiledRule(Rule):
    """A :class:`werkzeug.routing.Rule` that compiles each of its two URL builders (with and
    without unknown arguments appended as a query string) on its first use."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compile_now = super()._compile_builder
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, *args: object, **kwargs: object) -> tuple[str, str]:
            # Two threads may both compile on a first use: the same function, either wins.
            nonlocal compiled
            if compiled is None:
                compiled = compile_now(append_unknown)
            return compiled(rule, *args, **kwargs)

        return build

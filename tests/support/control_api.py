"""The sandbox control API's contract, ``src/santeid/sandbox/control-openapi.yaml``, checked
against the answers the API really gives: every status it answers an operation with is one the
document declares for that operation, with a declared media type and a body its schema
accepts (:func:`check_answer`). ``tests/sandbox/conftest.py`` runs it on every answer of the
in-process tests."""

from __future__ import annotations

import re
from typing import Any

from openapi_schema_validator import OAS31Validator
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from santeid.sandbox.api import PREFIX
from santeid.sandbox.api import _openapi_document


def document() -> dict:
    """The contract, as the API serves it at ``/sandbox/api/openapi.json``."""
    return _openapi_document()


def _template(rule: str) -> str:
    """``/professionals/<path:national_id>/scenario`` → ``/professionals/{national_id}/…``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.removeprefix(PREFIX))


def _resolved(value: dict, contract: dict) -> dict:
    while "$ref" in value:
        node: Any = contract
        for part in value["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        value = node
    return value


def operation_of(app, method: str, path: str) -> tuple[str, dict] | None:
    """The document's operation the API serves ``method path`` with, and its path template;
    ``None`` for a path or method no route takes (routing errors: ``not_found``,
    ``method_not_allowed``) and for the document itself."""
    if not path.startswith(PREFIX + "/") or path == f"{PREFIX}/openapi.json":
        return None
    adapter = app.url_map.bind("localhost")
    try:
        rule, _ = adapter.match(path, method=method, return_rule=True)
    except (HTTPException, RequestRedirect):
        return None
    template = _template(rule.rule)
    operation = document()["paths"].get(template, {}).get(method.lower())
    assert operation is not None, f"{method} {template} is served but not in the contract"
    return template, operation


def check_answer(app, method: str, path: str, status: int, media_type: str, body: Any) -> None:
    """Fail unless the contract declares ``status`` for the operation of ``method path``, with
    ``media_type``, and a schema that accepts ``body`` (the parsed JSON)."""
    found = operation_of(app, method, path)
    if found is None:
        return
    template, operation = found
    contract = document()
    where = f"{method} {template} answered {status}"
    declared = operation["responses"]
    assert str(status) in declared, f"{where}, which the contract does not declare: {body}"
    content = _resolved(declared[str(status)], contract).get("content", {})
    assert media_type in content, f"{where} as {media_type}; declared: {sorted(content)}"
    schema = content[media_type].get("schema")
    if schema is not None:
        OAS31Validator({**schema, "components": contract["components"]}).validate(body)

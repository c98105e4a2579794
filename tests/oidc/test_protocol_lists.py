"""Each protocol list has one owner that every module imports (``santeid.oidc.client_auth``
for client authentication methods, ``santeid.oidc.grant_types`` for grant types,
``santeid.ciba.metadata`` for CIBA delivery modes): a second copy of a name in code is how
lists drift apart (discovery advertising what registration refuses, a metric counting under
another label)."""

from __future__ import annotations

import ast
from pathlib import Path

from santeid.ciba import metadata as ciba_metadata
from santeid.oidc import client_auth
from santeid.oidc import grant_types

SRC = Path(__file__).resolve().parents[2] / "src" / "santeid"
OWNED = {
    **{name: "oidc/client_auth.py" for name in client_auth.AUTH_METHODS},
    **{
        name: "oidc/grant_types.py"
        for name in (
            grant_types.AUTHORIZATION_CODE,
            grant_types.CLIENT_CREDENTIALS,
            grant_types.CIBA,
        )
    },
    **{name: "ciba/metadata.py" for name in ciba_metadata.DELIVERY_MODES},
}
#: A pytest plugin for services' own tests: it talks to santeid over HTTP, as a client does,
#: and imports none of its modules.
CLIENT_SIDE = {"testing.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_protocol_names_are_written_only_by_their_owner():
    copies = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).as_posix()
        if where in CLIENT_SIDE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in OWNED
                and OWNED[node.value] != where
                and id(node) not in docstrings
            ):
                copies.append(f"{where}:{node.lineno} {node.value!r}")
    assert copies == []

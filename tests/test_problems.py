"""The one problem catalogue: every ``type`` santeid answers with resolves to a description."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from santeid import problems
from santeid.ecps.problems import CATALOGUE as ECPS_CATALOGUE
from santeid.insi.problems import HTTP_ERROR_CODES
from santeid.insi.problems import PROBLEM_TYPES as INSI_PROBLEM_TYPES

SRC = Path(problems.__file__).parent


def test_each_family_is_a_part_of_the_one_catalogue():
    sandbox = problems.family("sandbox")
    assert set(ECPS_CATALOGUE) | set(INSI_PROBLEM_TYPES) | set(sandbox) == set(problems.CATALOGUE)
    assert not set(sandbox) & (set(ECPS_CATALOGUE) | set(INSI_PROBLEM_TYPES))
    assert not set(ECPS_CATALOGUE) & set(INSI_PROBLEM_TYPES)


@pytest.mark.parametrize("code", sorted(problems.CATALOGUE))
def test_every_type_resolves_to_json(client, code):
    kind = problems.CATALOGUE[code]
    answer = client.get(f"/problems/{code}")
    assert (answer.status_code, answer.mimetype) == (200, "application/json")
    assert answer.get_json() == {
        "type": f"http://localhost/problems/{code}",
        "code": code,
        "title": kind.title,
        "status": kind.status,
        "description": kind.description,
        "api": kind.family,
    }


def test_a_browser_gets_a_page_and_the_index_lists_every_type(client):
    page = client.get("/problems/wrong_pin", headers={"Accept": "text/html"})
    assert (page.status_code, page.mimetype) == (200, "text/html")
    assert "Wrong PIN" in page.get_data(as_text=True)
    listing = client.get("/problems/").get_json()
    assert [entry["code"] for entry in listing] == list(problems.CATALOGUE)
    html = client.get("/problems/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert html.mimetype == "text/html"
    assert all(f'id="{code}"' in html.get_data(as_text=True) for code in problems.CATALOGUE)


def test_an_unknown_type_is_a_problem_not_a_page(client):
    answer = client.get("/problems/<script>")
    assert (answer.status_code, answer.mimetype) == (404, "application/problem+json")


#: The exceptions that carry a catalogue code as their first argument, and the INSi
#: functions making one that take it as ``code=``.
_CODE_FIRST = {"Problem", "ControlProblem", "AnswerError", "InsiError"}
_RAISERS = _CODE_FIRST | {"invalid", "request_error"}
#: The one place an INSi error keeps a status of its own: an HTTP error's.
_STATUS_OWNER = ("santeid/insi/problems.py", "error_for")


def _code_of(node: ast.expr) -> str | None:
    """A code written as a literal or as a ``CODE_*`` name of ``santeid.problems``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return getattr(problems, name, None) if name.startswith("CODE_") else None


def _raise_sites():
    """``(file, innermost enclosing function or module, callee name, call)`` of each call."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = {}
        # ast.walk goes breadth first: a nested function comes after the one holding it.
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]:
            calls.update({id(c): (scope, c) for c in ast.walk(scope) if isinstance(c, ast.Call)})
        for scope, call in calls.values():
            callee = call.func.attr if isinstance(call.func, ast.Attribute) else None
            callee = callee or getattr(call.func, "id", None)
            if callee in _RAISERS:
                yield path.relative_to(SRC.parent).as_posix(), scope, callee, call


def test_every_code_raised_is_in_the_catalogue_which_gives_its_status():
    """The catalogue (``santeid.problems``) owns each code's HTTP status: a raise site names
    the code only, and the code has an entry."""
    codes = set()
    for where, scope, callee, call in _raise_sites():
        first = call.args[:1] if callee in _CODE_FIRST else []
        args = [*first, *(k.value for k in call.keywords if k.arg == "code")]
        found = [c for c in map(_code_of, args) if c is not None]
        assert all(c in problems.CATALOGUE for c in found), (where, call.lineno, found)
        codes.update(found)
        keywords = {k.arg for k in call.keywords}
        owner = (where, getattr(scope, "name", None)) == _STATUS_OWNER
        assert owner or not keywords & {"status", "http_status"}, (where, call.lineno)
        statuses = [a.value for a in call.args if isinstance(a, ast.Constant)]
        assert not [s for s in statuses if type(s) is int], (where, call.lineno)
    assert {"wrong_pin", "unknown_professional", "desir_1020", "code_required"} <= codes
    assert set(HTTP_ERROR_CODES.values()) <= set(problems.CATALOGUE)

"""One place says what an outage is (``santeid.outages``): every error renderer answers the
token store or the database not answering as a 503, and names which failed the same way."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

import santeid
from santeid import outages
from santeid.db.backends import PostgresUnavailable
from santeid.db.backends import SqliteUnavailable
from santeid.storage import StoreUnavailable

SOURCE = Path(santeid.__file__).parent
#: The modules that define the outage exceptions, and the one that classifies them.
OWNERS = {SOURCE / "outages.py", SOURCE / "db", SOURCE / "storage"}


@pytest.mark.parametrize(
    ("exc", "part"),
    [
        (StoreUnavailable("redis refused"), "store"),
        (SqliteUnavailable("database is locked"), "database"),
        (PostgresUnavailable("server closed the connection"), "database"),
        (ValueError("a bug"), None),
        (sqlite3.IntegrityError("a constraint"), None),
        # SQLite's error for a wrong statement: a bug, not an outage (tests/db/test_backends.py)
        (sqlite3.OperationalError("no such column: metadata"), None),
    ],
)
def test_each_outage_is_named_by_the_part_that_failed(exc, part):
    assert outages.failed_part(exc) == part
    assert isinstance(exc, outages.OUTAGES) is (part is not None)


def _owned(path: Path) -> bool:
    return any(path == owner or owner in path.parents for owner in OWNERS)


def test_no_renderer_spells_its_own_list_of_outages():
    """``isinstance(exc, StoreUnavailable)`` or ``DatabaseUnavailable`` in a renderer is a second
    statement of what an outage is: a new kind added to ``santeid.outages`` would miss it."""
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        if _owned(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance"
                and any(
                    isinstance(name, ast.Name)
                    and name.id in ("StoreUnavailable", "DatabaseUnavailable")
                    for name in ast.walk(node)
                )
            ):
                offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize(
    ("exc", "name"),
    [(StoreUnavailable("down"), "the token store"), (PostgresUnavailable("down"), "the database")],
)
def test_oauth_and_insi_name_the_failed_part_alike(app, exc, name):
    """A client of the token endpoint and an INSi client read the same name for one outage."""
    from santeid.errors import oauth_json_error
    from santeid.insi.model import outage

    with app.test_request_context("/auth/realms/esante-wallet/protocol/openid-connect/token"):
        answer = oauth_json_error(exc)
    assert answer.status_code == 503
    assert answer.get_json()["error_description"] == f"{name} is unavailable"
    insi = outage(exc)
    assert insi is not None and insi.detail == f"{name} is unavailable"

"""The backends' errors (``santeid.db.backends``): each backend's failures reach the callers as
the same three families — a refused row, an unusable database, any database error — and psycopg
is loaded only by a process that opens a PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from santeid import db
from santeid.db.backends import PostgresUnavailable
from tests.support.redis_server import free_port
from tests.support.servers import santeid_env

TABLE = "CREATE TABLE sample (id TEXT PRIMARY KEY)"


def test_a_refused_row_is_an_integrity_error_and_its_transaction_leaves_nothing(database):
    database.execute(TABLE)
    database.execute("INSERT INTO sample (id) VALUES (?)", ("taken",))
    with pytest.raises(db.IntegrityError) as refused:
        database.execute("INSERT INTO sample (id) VALUES (?)", ("taken",))
    assert isinstance(refused.value, db.DatabaseError)
    assert not isinstance(refused.value, db.DatabaseUnavailable)
    with pytest.raises(db.IntegrityError), database.transaction() as conn:
        conn.execute("INSERT INTO sample (id) VALUES (?)", ("new",))
        conn.execute("INSERT INTO sample (id) VALUES (?)", ("taken",))
    assert database.execute("SELECT id FROM sample").rows == [("taken",)]


def test_a_refused_statement_is_a_database_error_with_the_database_s_message(database):
    with pytest.raises(db.DatabaseError, match="(?i)syntax") as refused:
        database.execute("THIS IS NOT SQL")
    # (SQLite raises its OperationalError for a syntax error and for a locked file alike.)
    assert not isinstance(refused.value, db.IntegrityError)
    # Within a transaction, and through executemany, the same family.
    database.execute(TABLE)
    with pytest.raises(db.IntegrityError), database.transaction() as conn:
        conn.executemany("INSERT INTO sample (id) VALUES (?)", [("a",), ("a",)])
    assert database.execute("SELECT count(*) FROM sample").scalar() == 0


@pytest.mark.postgres
def test_an_unreachable_postgresql_is_unavailable_and_keeps_libpq_s_message():
    import psycopg

    database = db.PostgresDatabase(f"postgresql://santeid@127.0.0.1:{free_port()}/none", timeout=1)
    try:
        with pytest.raises(db.DatabaseUnavailable, match="127.0.0.1") as refused:
            database.execute("SELECT 1")
        assert isinstance(refused.value, PostgresUnavailable)
        assert isinstance(refused.value.__cause__, psycopg.OperationalError)
        assert database.ping() is False
    finally:
        database.close()


def test_an_embedded_installation_never_imports_psycopg(tmp_path: Path):
    """The application of an embedded (SQLite) installation, its clients registry written and
    read, and its health check: ≈ 0.1 s of import that every worker and command would pay."""
    probe = (
        "import sys\n"
        "from santeid.app import create_app\n"
        "app = create_app()\n"
        "client = app.test_client()\n"
        "assert client.get('/health/ready').status_code == 200\n"
        "app.extensions['santeid'].clients.list()\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=santeid_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"

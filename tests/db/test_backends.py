"""The backends' errors (``santeid.db.backends``): each backend's failures reach the callers as
the same three families — a refused row, an unusable database, any database error — and psycopg
is loaded only by a process that opens a PostgreSQL database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from santeid import db
from santeid import outages
from santeid.db.backends import PostgresUnavailable
from tests.support.redis_server import free_port
from tests.support.servers import santeid_env
from tests.support.servers import santeid_process

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


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("sslrootcert={missing}", 'root certificate file "{missing}" does not exist'),
        ("sslrootcert={folder}", 'could not read root certificate file "{folder}"'),
    ],
    ids=["missing", "unreadable"],
)
def test_a_root_certificate_libpq_cannot_use_is_refused_for_good(tmp_path, option, reason):
    """libpq refuses an ``sslrootcert`` it cannot read as soon as the server offers TLS, before
    any login: a setting to mend (a start stops naming ``database_url``), not an outage."""
    import socket
    import threading

    from santeid.db.backends import PostgresLoginRefused

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def offer_tls() -> None:  # PostgreSQL's answer "S" to libpq's SSLRequest, then nothing
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return  # the listener closed: the test is over
            with peer:
                peer.recv(8)
                peer.sendall(b"S")
                peer.recv(1024)

    threading.Thread(target=offer_tls, daemon=True).start()
    paths = {"missing": tmp_path / "no-ca.pem", "folder": tmp_path}
    query = option.format(**paths)
    url = f"postgresql://santeid@127.0.0.1:{port}/santeid?sslmode=verify-full&{query}"
    database = db.PostgresDatabase(url, timeout=2)
    try:
        with pytest.raises(PostgresLoginRefused, match=reason.format(**paths)):
            database.execute("SELECT 1")
    finally:
        database.close()
        listener.close()


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


# -- an outage or a bug: the same answer on both backends (docs/deployment.md, "Outages") -------
#: Statements wrong for the tables as they are: a bug (or tables changed behind santeid's back),
#: which no retry mends — never an outage, on either backend.
WRONG_STATEMENTS = {
    "syntax": "SELEC id FROM sample",
    "no such table": "SELECT id FROM no_such_table",
    "no such column": "SELECT no_such_column FROM sample",
}


def _a_bug(exc: BaseException) -> None:
    assert isinstance(exc, db.DatabaseError)
    assert not isinstance(exc, db.DatabaseUnavailable)
    assert outages.failed_part(exc) is None


@pytest.mark.parametrize("sql", WRONG_STATEMENTS.values(), ids=WRONG_STATEMENTS.keys())
def test_a_wrong_statement_is_a_bug_not_an_outage(database, sql):
    database.execute(TABLE)
    with pytest.raises(db.DatabaseError) as alone:
        database.execute(sql)
    _a_bug(alone.value)
    with pytest.raises(db.DatabaseError) as within, database.transaction() as conn:
        conn.execute("INSERT INTO sample (id) VALUES (?)", ("rolled-back",))
        conn.execute(sql)
    _a_bug(within.value)
    with pytest.raises(db.DatabaseError) as many, database.transaction() as conn:
        conn.executemany(sql.replace("SELECT", "INSERT INTO sample SELECT"), [()])
    _a_bug(many.value)
    assert database.execute("SELECT count(*) FROM sample").scalar() == 0
    assert database.ping() is True


#: A connection's setting that makes it give up at once on a lock another connection holds.
SHORT_LOCK_WAIT = {
    db.SQLITE: ("PRAGMA busy_timeout = 50", "PRAGMA busy_timeout = 5000"),
    db.POSTGRESQL: ("SET lock_timeout = '50ms'", "RESET lock_timeout"),
}


def test_a_lock_held_by_another_connection_is_an_outage(database):
    database.execute(TABLE)
    other = (
        db.SqliteDatabase(database.path)
        if isinstance(database, db.SqliteDatabase)
        else db.PostgresDatabase(database.url)
    )
    short, usual = SHORT_LOCK_WAIT[database.dialect]
    try:
        with other.transaction() as holder, database.connect() as conn:
            holder.execute("INSERT INTO sample (id) VALUES (?)", ("held",))  # SQLite: locked
            if database.dialect == db.POSTGRESQL:
                holder.execute("LOCK TABLE sample")
            conn.execute(short)
            try:
                with pytest.raises(db.DatabaseUnavailable, match="lock") as locked:
                    conn.execute("INSERT INTO sample (id) VALUES (?)", ("waiting",))
            finally:
                conn.execute(usual)
        assert outages.failed_part(locked.value) == "database"
        assert database.execute("SELECT id FROM sample").rows == [("held",)]
    finally:
        other.close()


def _unavailable(database: db.SqliteDatabase, sql: str, code: int) -> sqlite3.Error:
    with pytest.raises(db.DatabaseUnavailable) as refused:
        database.execute(sql)
    assert isinstance(refused.value, db.SqliteUnavailable)
    assert refused.value.sqlite_errorcode & 0xFF == code  # type: ignore[attr-defined]
    assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
    assert outages.failed_part(refused.value) == "database"
    return refused.value


def test_an_sqlite_file_that_cannot_be_opened_is_an_outage(tmp_path):
    database = db.SqliteDatabase(tmp_path)  # a directory
    _unavailable(database, "SELECT 1", sqlite3.SQLITE_CANTOPEN)
    assert database.ping() is False


def test_an_sqlite_disk_i_o_error_is_an_outage():
    """/proc/self/mem cannot be read from its start: the kernel answers EIO."""
    database = db.SqliteDatabase("/proc/self/mem")
    _unavailable(database, "SELECT 1", sqlite3.SQLITE_IOERR)
    assert database.ping() is False


def test_a_full_sqlite_disk_is_an_outage(tmp_path):
    database = db.SqliteDatabase(tmp_path / "full.sqlite3")
    try:
        database.execute(TABLE)
        with database.connect() as conn:
            pages = conn.execute("PRAGMA page_count").scalar()
            conn.execute(f"PRAGMA max_page_count = {pages}")  # no room for another page
            with pytest.raises(db.DatabaseUnavailable, match="full") as full:
                conn.execute("INSERT INTO sample (id) VALUES (hex(randomblob(20000)))")
        assert full.value.sqlite_errorcode == sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    finally:
        database.close()


def test_a_read_only_sqlite_file_is_an_outage(tmp_path):
    database = db.SqliteDatabase(tmp_path / "ro.sqlite3")
    try:
        database.execute(TABLE)
        with database.read_only() as conn, pytest.raises(db.DatabaseUnavailable) as refused:
            conn.execute("INSERT INTO sample (id) VALUES (?)", ("x",))
        assert refused.value.sqlite_errorcode == sqlite3.SQLITE_READONLY  # type: ignore[attr-defined]
    finally:
        database.close()


def test_the_directory_s_own_sqlite_reads_are_classified_alike():
    """Code that reads an SQLite file of its own through the backend (the directory) gets the
    same classes."""
    from santeid.directory import Directory

    with pytest.raises(db.DatabaseUnavailable):
        Directory("/proc/self/mem").initialize()


CLIENT = {"client_id": "rp", "client_secret": "secret-secret-secret-secret",
          "redirect_uris": ["https://rp.example/cb"],
          "grant_types": ["authorization_code", "client_credentials"]}  # fmt: skip


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_running_server_answers_a_wrong_statement_as_a_bug_on_both_backends(
    request, tmp_path, backend
):
    """The clients table changed behind a running server's back: every statement reading it is
    wrong. Both backends answer it alike — 500, nothing of the error shown, the cause and its
    traceback in the log — and never as an outage (no 503, no ``Retry-After``)."""
    if backend == "sqlite":
        settings = {}

        def rename(sql: str) -> None:
            with sqlite3.connect(tmp_path / "var" / "santeid.sqlite3") as conn:
                conn.execute(sql)

    else:
        import psycopg

        url = request.getfixturevalue("postgres_url")
        settings = {"SANTEID_DATABASE_URL": url}

        def rename(sql: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql)  # type: ignore[arg-type]

    with santeid_process(tmp_path, clients=[CLIENT], **settings) as server:
        token = f"{server.oidc}/token"
        basic = (CLIENT["client_id"], CLIENT["client_secret"])
        grant = {"grant_type": "client_credentials"}
        assert requests.post(token, data=grant, auth=basic, timeout=30).status_code == 200
        rename("ALTER TABLE client RENAME COLUMN metadata TO metadata_before")

        answer = requests.post(token, data=grant, auth=basic, timeout=30)
        assert answer.status_code == 500
        assert answer.json() == {"error": "server_error", "error_description": "internal error"}
        assert "Retry-After" not in answer.headers
        page = requests.get(
            f"{server.oidc}/auth",
            params={"client_id": "rp", "redirect_uri": CLIENT["redirect_uris"][0],
                    "response_type": "code", "scope": "openid"},
            timeout=30,
        )  # fmt: skip
        assert page.status_code == 500
        assert "Retry-After" not in page.headers
        for body in (answer.text, page.text):
            assert "metadata" not in body and "Traceback" not in body
        # The database answers: the host stays in the rotation.
        assert requests.get(f"{server.base}/health/ready", timeout=30).status_code == 200
    log = server.log.read_text()
    assert "unhandled error on POST" in log and "Traceback" in log
    assert "metadata" in log  # the database's own message: no such column / does not exist
    assert "database unavailable" not in log

"""santeid behind a PgBouncer in transaction pooling mode that does not track prepared statements
(docs/deployment.md, "PgBouncer"): with ``database_prepared_statements = false`` nothing is
prepared, and a running server works through it. A real PgBouncer (Debian 12's 1.18) in front
of the suite's PostgreSQL, a database of this module's own (PgBouncer does not pass on the
``options`` that the per-test schemas of ``postgres_url`` need)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import requests

from santeid import db
from santeid.settings import Settings
from tests.support.concurrency import race
from tests.support.pgbouncer_server import PGBOUNCER_MISSING
from tests.support.pgbouncer_server import pgbouncer
from tests.support.pgbouncer_server import pgbouncer_binary
from tests.support.pgbouncer_server import pgbouncer_version
from tests.support.servers import santeid_process

pytestmark = pytest.mark.postgres

#: The PgBouncer release that first tracked protocol-level prepared statements.
TRACKS_PREPARED = (1, 21, 0)
THREADS = 4
#: Runs of one statement per thread: psycopg prepares it from its sixth run on a connection.
RUNS = 30


@pytest.fixture(scope="module")
def own_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"santeid_pgbouncer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield postgres_admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        db.close_shared()
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def bounced(own_database: str) -> Iterator[tuple[str, tuple[int, ...]]]:
    """``own_database`` through PgBouncer in transaction pooling mode, and its version."""
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip(PGBOUNCER_MISSING)
    with pgbouncer(binary, own_database, pool_mode="transaction") as url:
        yield url, pgbouncer_version(binary)


def _failures(database: db.Database) -> list[str]:
    """The errors of ``THREADS`` threads each running one statement ``RUNS`` times, and
    ``executemany`` of as many rows (which psycopg prepares too)."""
    database.execute("CREATE TABLE IF NOT EXISTS sample (n INTEGER)")

    def run(_: int) -> list[str]:
        failures = []
        for n in range(RUNS):
            try:
                assert database.execute("SELECT ? + 1", (n,)).scalar() == n + 1
                with database.transaction() as conn:
                    conn.executemany("INSERT INTO sample (n) VALUES (?)", [(n,)] * 6)
            except db.DatabaseError as exc:
                failures.append(str(exc))
        return failures

    return [failure for failures in race(run, threads=THREADS) for failure in failures]


def _prepared_on_one_connection(database: db.PostgresDatabase) -> int:
    """Statements prepared in one pooled session (``pg_prepared_statements``) after it ran one
    statement ``RUNS`` times and ``executemany`` of ``RUNS`` rows."""
    with database.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sample (n INTEGER)")
        for n in range(RUNS):
            conn.execute("SELECT ? + 1", (n,))
        conn.executemany("INSERT INTO sample (n) VALUES (?)", [(n,) for n in range(RUNS)])
        return int(conn.execute("SELECT count(*) FROM pg_prepared_statements").scalar())


@pytest.mark.parametrize("prepared", [True, False])
def test_the_setting_decides_whether_anything_is_prepared(own_database, prepared):
    """Straight to PostgreSQL: the session's ``pg_prepared_statements`` stays empty with the
    setting off, as ``database_for`` builds the database from the settings."""
    settings = Settings(database_url=own_database, database_prepared_statements=prepared)
    database = db.database_for(settings, db.CLIENTS)
    assert isinstance(database, db.PostgresDatabase)
    try:
        assert (_prepared_on_one_connection(database) > 0) is prepared
    finally:
        db.close_shared(own_database)


def test_with_prepared_statements_off_statements_run_through_pgbouncer(bounced, own_database):
    url, version = bounced
    database = db.PostgresDatabase(url, pool_size=THREADS, prepared_statements=False)
    try:
        assert _failures(database) == []
    finally:
        database.close()
    if version < TRACKS_PREPARED:
        # What the setting is for: the same statements with psycopg's default fail there. One
        # server connection for the four clients, so that they meet on it whatever the order
        # the threads happen to run in (each names its first prepared statement `_pg3_0`).
        with pgbouncer(pgbouncer_binary() or "", own_database, pool_size=1) as shared:
            preparing = db.PostgresDatabase(shared, pool_size=THREADS)
            try:
                assert any("prepared statement" in failure for failure in _failures(preparing))
            finally:
                preparing.close()


CLIENT = {
    "client_id": "rp",
    "client_secret": "secret-secret-secret-secret",
    "redirect_uris": ["https://rp.example/cb"],
    "grant_types": ["client_credentials"],
}


def test_a_server_behind_pgbouncer_answers_every_request(bounced, tmp_path):
    """``santeid serve`` whose ``database_url`` is PgBouncer's, prepared statements off: its
    schemas are upgraded through it at start, and concurrent token requests — a client read
    each — all succeed."""
    url, _ = bounced
    settings = {"SANTEID_DATABASE_URL": url, "SANTEID_DATABASE_PREPARED_STATEMENTS": "false"}
    with santeid_process(tmp_path, clients=[CLIENT], **settings) as server:

        def tokens(_: int) -> list[int]:
            with requests.Session() as session:
                return [
                    session.post(
                        f"{server.oidc}/token",
                        data={"grant_type": "client_credentials"},
                        auth=(CLIENT["client_id"], CLIENT["client_secret"]),
                        timeout=30,
                    ).status_code
                    for _ in range(RUNS // 2)
                ]

        statuses = [status for each in race(tokens, threads=THREADS) for status in each]
    assert statuses == [200] * (THREADS * (RUNS // 2))
    assert "prepared statement" not in server.log.read_text()

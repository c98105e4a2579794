"""What the PostgreSQL backend does to each pooled connection (``PostgresDatabase``): its
server-side ``statement_timeout`` set once connected, never in the startup packet (PgBouncer
refuses ``options``) and never over an operator's own; and its dead-connection check, which
works whatever the socket's descriptor number (docs/deployment.md, "Outages")."""

from __future__ import annotations

import contextlib
import os
import resource
import time
import uuid
from urllib.parse import quote

import psycopg
import pytest

from santeid import db
from santeid.db.backends import _dropped

pytestmark = pytest.mark.postgres


def _shown(database: db.PostgresDatabase) -> str:
    return database.execute("SHOW statement_timeout").scalar()


def test_the_statement_timeout_is_set_once_connected_not_in_the_startup_options(postgres_url):
    database = db.PostgresDatabase(postgres_url, timeout=3)
    try:
        assert _shown(database) == "2s"
        assert "options" not in database.connection_kwargs()
        with database.connect() as conn:
            sent = conn.raw.info.get_parameters().get("options", "")  # type: ignore[attr-defined]
        assert "search_path" in sent and "statement_timeout" not in sent
    finally:
        database.close()


def test_a_statement_timeout_in_the_url_is_kept(postgres_url):
    database = db.PostgresDatabase(f"{postgres_url}{quote(' -c statement_timeout=7s')}")
    try:
        assert _shown(database) == "7s"
        assert database.execute("SELECT 1").scalar() == 1
    finally:
        database.close()


def test_a_statement_timeout_set_for_the_database_or_role_is_kept(postgres_admin_url):
    name = f"santeid_timeout_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '6s'")
    database = db.PostgresDatabase(postgres_admin_url.rsplit("/", 1)[0] + "/" + name)
    try:
        assert _shown(database) == "6s"
    finally:
        database.close()
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _descriptors_above(floor: int):
    """Descriptors held open until the next one the process opens is numbered ``floor`` or
    more (``select(2)`` cannot watch those)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < floor + 100:
        if hard != resource.RLIM_INFINITY and hard < floor + 100:
            pytest.skip(f"at most {hard} open files here")
        resource.setrlimit(resource.RLIMIT_NOFILE, (floor + 100, hard))
    held = []
    try:
        while not held or held[-1] < floor - 1:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_numbered_above_1024_is_checked_like_any(postgres_url):
    with _descriptors_above(1024):
        database = db.PostgresDatabase(postgres_url, pool_size=2)
        try:
            pool = database._get_pool()
            raw = pool.getconn()
            try:
                assert raw.fileno() >= 1024
                assert _dropped(raw) is False  # idle and alive: used as it is
                with psycopg.connect(postgres_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (raw.info.backend_pid,))
                deadline = time.monotonic() + 10  # till the server's farewell arrives
                while not _dropped(raw) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert _dropped(raw) is True
            finally:
                pool.putconn(raw)
            assert database.execute("SELECT 1").scalar() == 1
        finally:
            database.close()

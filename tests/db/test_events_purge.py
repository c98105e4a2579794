"""``santeid events purge`` deletes in batches: however many events are due, no statement
comes near PostgreSQL's statement timeout (docs/operations.md, "Authentication events")."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from santeid import db
from santeid.observability.events import SCHEMA
from santeid.observability.events import Event
from santeid.observability.events import EventStore
from tests.support.browser import wait_for
from tests.support.servers import SANTEID
from tests.support.servers import santeid_home

DAY = 86_400
NOW = 400 * DAY


@pytest.mark.postgres
def test_a_purge_longer_than_the_statement_timeout_is_done_in_batches(postgres_url, monkeypatch):
    # Requests wait 1.5 s; the server stops a statement after 0.5 s.
    database = db.PostgresDatabase(postgres_url, timeout=1.5)
    try:
        store = EventStore(database, clock=lambda: NOW)
        db.ensure(database, SCHEMA)
        database.execute(
            "INSERT INTO auth_events (at, type) SELECT ?, 'LOGIN' FROM generate_series(1, 3000)",
            (NOW - 100 * DAY,),
        )
        store.add(Event(at=NOW - DAY, type="LOGIN"))
        # Deleting an event takes a millisecond here: all of them at once, 3 s.
        with database.transaction() as conn:
            conn.execute(
                "CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN PERFORM pg_sleep(0.001); RETURN OLD; END $$"
            )
            conn.execute(
                "CREATE TRIGGER slow_delete BEFORE DELETE ON auth_events"
                " FOR EACH ROW EXECUTE FUNCTION slow_delete()"
            )
        # Batches of 25 (25 ms): far below the limit even when a loaded machine slows the sleeps.
        monkeypatch.setattr(EventStore, "PURGE_ROWS", 25, raising=False)
        assert store.purge(30) == 3000
        assert [event.at for event in store.list()] == [NOW - DAY]
    finally:
        database.close()


def test_a_purge_keeps_what_is_recent(tmp_path, monkeypatch):
    store = EventStore(db.SqliteDatabase(tmp_path / "events.sqlite3"), clock=lambda: NOW)
    for age in (1, 29, 31, 60, 61, 90):
        store.add(Event(at=NOW - age * DAY, type="LOGIN"))
    monkeypatch.setattr(EventStore, "PURGE_ROWS", 2)
    assert store.purge(30) == 4
    assert sorted(NOW - event.at for event in store.list()) == [DAY, 29 * DAY]
    assert store.purge(30) == 0


# -- purges run at once on several hosts (a daily cron on each) --------------------------------
OLD_DAYS = 100
RETENTION = "30"


def _fill(database: db.Database, old: int) -> None:
    """``old`` events past the retention and one within it, at this moment's clock (the
    commands use the system clock)."""
    db.ensure(database, SCHEMA)
    now = int(time.time())
    database.execute(
        "INSERT INTO auth_events (at, type) SELECT ? - n, 'LOGIN' FROM generate_series(1, ?) n"
        if database.dialect == db.POSTGRESQL
        else "WITH RECURSIVE n(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM n WHERE n < ?)"
        " INSERT INTO auth_events (at, type) SELECT ? - n, 'LOGIN' FROM n",
        (now - OLD_DAYS * DAY, old)
        if database.dialect == db.POSTGRESQL
        else (old, now - OLD_DAYS * DAY),
    )
    EventStore(database).add(Event(at=now - DAY, type="LOGIN"))


def _left(database: db.Database) -> tuple[int, int]:
    """Events past the retention, and within it."""
    cutoff = int(time.time()) - int(RETENTION) * DAY
    return (
        database.execute("SELECT count(*) FROM auth_events WHERE at < ?", (cutoff,)).scalar(),
        database.execute("SELECT count(*) FROM auth_events WHERE at >= ?", (cutoff,)).scalar(),
    )


def _purge(home) -> subprocess.Popen:
    return subprocess.Popen(
        [SANTEID, "events", "purge", "--older-than", RETENTION],
        env=home.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _deleted(output: str) -> int:
    match = re.fullmatch(rf"(\d+) event\(s\) older than {RETENTION} days deleted\n", output)
    assert match, output
    return int(match.group(1))


def _waiting_on_locks(url: str) -> int:
    """Backends of this database waiting for a lock (asked on a connection of its own:
    within a transaction, ``pg_stat_activity`` is a snapshot taken at its first use)."""
    with psycopg.connect(url, autocommit=True) as observer:
        return observer.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared(request, tmp_path):
    """The events database two hosts share, and the configuration of their commands."""
    if request.param == "sqlite":
        home = santeid_home(tmp_path / "home")
        database = db.SqliteDatabase(Path(home.env["SANTEID_DATA_DIR"]) / "events.sqlite3")
    else:
        url = request.getfixturevalue("postgres_url")
        home = santeid_home(tmp_path / "home", SANTEID_DATABASE_URL=url)
        database = db.PostgresDatabase(url)
    yield database, home
    database.close()


def test_purges_run_at_once_delete_every_event_due_between_them(shared):
    """Two hosts' daily purges, started at the same moment over several batches' worth of
    events: each ends with status 0 and the count of what it deleted, the two counts add up
    to every event past the retention, none is left, and neither meets a deadlock."""
    database, home = shared
    old = 5 * EventStore.PURGE_ROWS
    _fill(database, old)
    if database.dialect == db.POSTGRESQL:
        # Both purges wait behind this lock, then start their first batch together.
        with psycopg.connect(database.url) as gate:
            gate.execute("LOCK TABLE auth_events IN EXCLUSIVE MODE")
            purges = [_purge(home), _purge(home)]
            wait_for(
                lambda: (
                    _waiting_on_locks(database.url) > 0 or any(p.poll() is not None for p in purges)
                ),
                timeout=60,
            )
            # The second one, for no longer than the first may wait: its statement stops
            # after 4 s (PostgresDatabase.TIMEOUT).
            deadline = time.monotonic() + 3
            while _waiting_on_locks(database.url) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
    else:
        purges = [_purge(home), _purge(home)]
    outputs = [purge.communicate(timeout=120)[0] for purge in purges]
    assert [purge.returncode for purge in purges] == [0, 0], outputs
    assert sum(_deleted(output) for output in outputs) == old, outputs
    assert _left(database) == (0, 1)


@pytest.mark.postgres
def test_purges_go_on_past_the_events_another_purge_is_deleting(postgres_url, tmp_path):
    """Three hosts: the first one's purge holds a batch it has not committed yet when the
    other two start theirs. Neither waits for it, nor takes a batch it finds thinned for the
    end: between them they delete every other event due, and the first one's commit deletes
    the rest."""
    database = db.PostgresDatabase(postgres_url)
    home = santeid_home(tmp_path / "home", SANTEID_DATABASE_URL=postgres_url)
    try:
        old = 3 * EventStore.PURGE_ROWS
        _fill(database, old)
        held = 100
        with psycopg.connect(postgres_url) as first:
            first.execute(
                "DELETE FROM auth_events WHERE id IN"
                " (SELECT id FROM auth_events WHERE at < %s ORDER BY id LIMIT %s)",
                (int(time.time()) - int(RETENTION) * DAY, held),
            )
            purges = [_purge(home), _purge(home)]
            wait_for(
                lambda: (
                    all(p.poll() is not None for p in purges)
                    or _waiting_on_locks(postgres_url) == len(purges)
                ),
                timeout=60,
            )
        outputs = [purge.communicate(timeout=120)[0] for purge in purges]
        assert [purge.returncode for purge in purges] == [0, 0], outputs
        assert sum(_deleted(output) for output in outputs) == old - held, outputs
        assert _left(database) == (0, 1)
    finally:
        database.close()

"""``santeid events purge`` deletes in batches: however many events are due, no statement
comes near PostgreSQL's statement timeout (docs/operations.md, "Authentication events")."""

from __future__ import annotations

import pytest

from santeid import db
from santeid.observability.events import SCHEMA
from santeid.observability.events import Event
from santeid.observability.events import EventStore

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

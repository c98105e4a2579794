"""What an authentication event adds to a login: one ``EventStore.add`` (one INSERT) on the
embedded SQLite file and, given ``SANTEID_BENCH_POSTGRES`` (a libpq URL), on PostgreSQL.

    .venv/bin/python bench/events.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from santeid import db
from santeid.observability.events import LOGIN
from santeid.observability.events import Event
from santeid.observability.events import EventStore

ROUNDS = 2000


def measure(store: EventStore) -> list[float]:
    store.add(Event(at=0, type=LOGIN))  # schema ready, connection open
    timings = []
    for i in range(ROUNDS):
        event = Event(
            at=int(time.time()),
            type=LOGIN,
            client_id="bench-client",
            professional=f"8100000{i:05d}",
            auth_mode="MOBILE",
            source="127.0.0.1",
            request_id=f"{i:032x}",
        )
        started = time.perf_counter()
        store.add(event)
        timings.append((time.perf_counter() - started) * 1e6)
    return timings


def report(name: str, timings: list[float]) -> None:
    timings.sort()
    print(
        f"{name}: median {statistics.median(timings):.0f} us, "
        f"p99 {timings[int(len(timings) * 0.99)]:.0f} us per event ({ROUNDS} events)"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database = db.SqliteDatabase(Path(tmp) / "events.sqlite3")
        report("embedded SQLite", measure(EventStore(database)))
        database.close()
    url = os.environ.get("SANTEID_BENCH_POSTGRES")
    if url:
        database = db.open_url(url)
        report("PostgreSQL", measure(EventStore(database)))
        database.close()


if __name__ == "__main__":
    main()

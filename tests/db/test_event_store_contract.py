"""The authentication event store on SQLite and on a real PostgreSQL: same filters, same
order, same purge."""

from __future__ import annotations

from santeid.observability.events import LOGIN
from santeid.observability.events import LOGIN_ERROR
from santeid.observability.events import PIN_FAILURE
from santeid.observability.events import Event
from santeid.observability.events import EventStore


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_events_are_listed_newest_first_and_filtered(database):
    store = EventStore(database)
    store.add(Event(at=1000, type=LOGIN, client_id="rp-a", professional="810000000001",
                    auth_mode="MOBILE", source="127.0.0.1", request_id="r1"))  # fmt: skip
    store.add(Event(at=2000, type=LOGIN_ERROR, client_id="rp-b", professional="810000000002",
                    reason="unknown_id"))  # fmt: skip
    store.add(Event(at=3000, type=PIN_FAILURE, professional="810000000001", device="dev-1",
                    details={"remaining": 2}))  # fmt: skip

    assert [e.at for e in store.list()] == [3000, 2000, 1000]
    first = store.list(client_id="rp-a")[0]
    assert first == Event(1000, LOGIN, "rp-a", "810000000001", "MOBILE", "127.0.0.1", "r1")
    assert [e.type for e in store.list(professional="810000000001")] == [PIN_FAILURE, LOGIN]
    assert store.list(types=(LOGIN_ERROR,))[0].reason == "unknown_id"
    assert [e.at for e in store.list(since=2000)] == [3000, 2000]
    assert [e.at for e in store.list(until=2000)] == [1000]
    assert store.list(types=(PIN_FAILURE,))[0].details == {"remaining": 2}
    assert [e.at for e in store.list(limit=1, offset=1)] == [2000]
    assert store.list(professional="nobody") == []


def test_an_offset_past_any_row_is_an_empty_page_on_either_backend(database):
    """Beyond what an SQL integer holds (2⁶³ − 1) no row can be: an empty list, never an
    overflow (PostgreSQL's "bigint out of range", sqlite3's OverflowError)."""
    store = EventStore(database)
    store.add(Event(at=1000, type=LOGIN))
    for offset in (2**63 - 1, 2**63, 10**20 * 50):
        assert store.list(offset=offset) == []
    assert [e.at for e in store.list(offset=0)] == [1000]


def test_counts_group_by_bucket_type_mode_and_reason(database):
    store = EventStore(database)
    for at in (3600, 3700, 7300):
        store.add(Event(at=at, type=LOGIN, auth_mode="MOBILE"))
    store.add(Event(at=3650, type=LOGIN_ERROR, reason="denied"))
    rows = store.counts(since=0, bucket=3600, types=(LOGIN, LOGIN_ERROR))
    assert sorted(tuple(r) for r in rows) == [
        (3600, LOGIN, "MOBILE", None, 2),
        (3600, LOGIN_ERROR, None, "denied", 1),
        (7200, LOGIN, "MOBILE", None, 1),
    ]


def test_purge_deletes_only_what_is_older_than_the_retention(database):
    clock = Clock(100 * 86400)
    store = EventStore(database, clock=clock)
    store.add(Event(at=100 * 86400 - 91 * 86400, type=LOGIN))
    store.add(Event(at=100 * 86400 - 89 * 86400, type=LOGIN))
    assert store.purge(90) == 1
    assert store.purge(90) == 0
    assert len(store.list()) == 1


def test_events_of_the_same_second_list_newest_first(database):
    store = EventStore(database)
    for reason in ("first", "second", "third"):
        store.add(Event(at=5000, type=LOGIN_ERROR, reason=reason))
    assert [e.reason for e in store.list()] == ["third", "second", "first"]

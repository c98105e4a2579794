"""The short-lived record layer (``santeid.storage.records``) on both stores.

Each test runs on MemoryStore and RedisStore (the ``store`` fixture). Expiry is reached by a
:class:`~santeid.clock.ManualClock` given to the book: the records carry their own
``expires_at``, so no test waits for a store TTL.
"""

from __future__ import annotations

import dataclasses

import pytest

from santeid.clock import ManualClock
from santeid.storage import EphemeralStore
from santeid.storage import keys
from santeid.storage.records import EXPIRES_AT
from santeid.storage.records import RecordBook
from santeid.storage.records import RecordCollision
from santeid.storage.records import RecordKind
from santeid.storage.records import TransitionNotAllowed
from tests.support.concurrency import race

# Real kinds of the application are exercised by their own tests; these two cover the shapes.
CODE_LIKE = RecordKind(
    name="test code",
    namespace=keys.CODE,
    hashed_id=True,
    lifetime="60 s",
    initial=("issued",),
    transitions={"issued": ("consumed",)},
    tombstone="consumed",
)
REQUEST_LIKE = RecordKind(
    name="test request",
    namespace=keys.CIBA_REQUEST,
    hashed_id=True,
    lifetime="expires_in",
    initial=("pending", "approved"),
    transitions={"pending": ("approved", "denied"), "approved": ("consumed",)},
    tombstone="consumed",
    grace=300,
)
PLAIN = RecordKind(
    name="test pair", namespace=keys.ECPS_CODE_PAIR, hashed_id=False, lifetime="10 min"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


def book(store: EphemeralStore, kind: RecordKind, clock: ManualClock) -> RecordBook:
    return RecordBook(store, kind, clock=clock)


def test_create_get_and_the_hashed_id_never_in_the_key(
    store: EphemeralStore, clock: ManualClock
) -> None:
    codes = book(store, CODE_LIKE, clock)
    created = codes.create("bearer-value", {"client_id": "c"}, lifetime=60)
    assert created.state == "issued"
    assert created.expires_at == 1_800_000_060
    assert "bearer-value" not in created.key
    assert created.key == keys.CODE.key(keys.digest("bearer-value"))
    read = codes.get("bearer-value")
    assert read is not None and read["client_id"] == "c" and not read.expired
    assert codes.get("another") is None
    assert codes.get(None) is None and codes.get("") is None


def test_unhashed_id_is_in_the_key(store: EphemeralStore, clock: ManualClock) -> None:
    pairs = book(store, PLAIN, clock)
    assert pairs.create("flow1", {"n": 1}, lifetime=600).key == "ecps-act:flow1"
    assert store.get("ecps-act:flow1") == {"n": 1, EXPIRES_AT: 1_800_000_600}


def test_expiry_by_the_clock_not_the_store_ttl(store: EphemeralStore, clock: ManualClock) -> None:
    codes = book(store, CODE_LIKE, clock)
    codes.create("c1", {}, lifetime=60)
    clock.advance(59.9)
    assert codes.get("c1") is not None
    clock.advance(0.1)
    # The store still holds it (its TTL is garbage collection); the book says it is gone.
    assert store.get(codes.key("c1")) is not None
    assert codes.get("c1") is None
    assert codes.consume(codes.key("c1"), "issued", tombstone_lifetime=3600) is None
    # The refused consumption left a tombstone that says it is no evidence of a use.
    tombstone = codes.get("c1")
    assert tombstone is not None and tombstone.state == "consumed" and tombstone.consumed_late


def test_grace_reads_expired_then_nothing(store: EphemeralStore, clock: ManualClock) -> None:
    requests = book(store, REQUEST_LIKE, clock)
    requests.create("r1", {}, lifetime=120)
    clock.advance(120)
    late = requests.get("r1")
    assert late is not None and late.expired and late.state == "pending"
    clock.advance(299)
    assert requests.get("r1") is not None
    clock.advance(1)
    assert requests.get("r1") is None


def test_allowed_transitions_move_others_are_refused(
    store: EphemeralStore, clock: ManualClock
) -> None:
    requests = book(store, REQUEST_LIKE, clock)
    key = requests.create("r1", {"n": 1}, lifetime=120).key
    with pytest.raises(TransitionNotAllowed):
        requests.transition(key, "pending", "consumed")
    with pytest.raises(TransitionNotAllowed):
        requests.transition(key, "denied", "approved")
    with pytest.raises(TransitionNotAllowed):
        requests.update(key, {"state": "approved"})
    with pytest.raises(TransitionNotAllowed):
        requests.create("r2", {}, lifetime=1, state="consumed")
    assert requests.get("r1").state == "pending"  # type: ignore[union-attr]
    moved = requests.transition(key, "pending", "approved", {"auth": {"acr": "eidas1"}})
    assert moved is not None and moved.state == "approved" and moved["n"] == 1
    # From a state the record has left: nothing happens.
    assert requests.transition(key, "pending", "denied") is None
    assert requests.get("r1").state == "approved"  # type: ignore[union-attr]


def test_transition_with_a_lifetime_renews_the_expiry(
    store: EphemeralStore, clock: ManualClock
) -> None:
    requests = book(store, REQUEST_LIKE, clock)
    key = requests.create("r1", {}, lifetime=10).key
    clock.advance(5)
    renewed = requests.update(key, {"seen": True}, lifetime=100)
    assert renewed is not None and renewed.expires_at == 1_800_000_105
    assert store.ttl(key) in (399, 400)  # the lifetime plus the grace
    clock.advance(50)
    assert not requests.get("r1").expired  # type: ignore[union-attr]


def test_consume_once_leaves_a_tombstone(store: EphemeralStore, clock: ManualClock) -> None:
    codes = book(store, CODE_LIKE, clock)
    key = codes.create("c1", {"client_id": "c"}, lifetime=60).key
    consumed = codes.consume(key, "issued", {"fid": "f1"}, tombstone_lifetime=3600)
    assert consumed is not None and consumed.state == "consumed" and consumed["fid"] == "f1"
    assert codes.consume(key, "issued", {"fid": "f2"}, tombstone_lifetime=3600) is None
    # A replay reads the tombstone (and the family to revoke), long after the code's expiry.
    clock.advance(3000)
    replay = codes.get("c1")
    assert replay is not None and replay.state == "consumed" and replay["fid"] == "f1"
    assert replay.expired and not replay.consumed_late
    clock.advance(600)
    assert codes.get("c1") is None


def test_give_back_only_the_own_consumption(store: EphemeralStore, clock: ManualClock) -> None:
    """``give_back`` undoes a consumption (``used`` → ``issued`` of e-CPS activation codes):
    the record is as it was created, with its own expiry, and can be consumed again; a give
    back whose consumption is no longer the tombstone's changes nothing."""
    givable = dataclasses.replace(
        CODE_LIKE, transitions={"issued": ("consumed",), "consumed": ("issued",)}
    )
    codes = book(store, givable, clock)
    key = codes.create("c1", {"client_id": "c"}, lifetime=60).key
    first = codes.consume(key, "issued", tombstone_lifetime=3600)
    assert first is not None
    clock.advance(10)
    given = codes.give_back(first, "issued")
    assert given is not None and given.state == "issued" and given["client_id"] == "c"
    assert given.expires_at == first.expires_at and not given.consumed_late
    assert store.ttl(key) is not None and store.ttl(key) <= 60  # the tombstone's 3600 s undone
    assert codes.give_back(first, "issued") is None  # once only
    clock.advance(5)
    second = codes.consume(key, "issued", tombstone_lifetime=3600)
    assert second is not None
    assert codes.give_back(first, "issued") is None  # not the tombstone of that consumption
    assert codes.get("c1").state == "consumed"  # type: ignore[union-attr]
    clock.advance(50)  # past the code's expiry: given back, it is still expired
    assert codes.give_back(second, "issued") is None
    assert codes.get("c1") is None
    with pytest.raises(TransitionNotAllowed):
        book(store, CODE_LIKE, clock).give_back(second, "issued")
    with pytest.raises(TransitionNotAllowed):
        codes.give_back(given, "issued")


def test_concurrent_consume_exactly_one_winner(store: EphemeralStore, clock: ManualClock) -> None:
    codes = book(store, CODE_LIKE, clock)
    key = codes.create("c1", {}, lifetime=60).key
    results = race(lambda i: codes.consume(key, "issued", {"fid": f"f{i}"}, tombstone_lifetime=600))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert codes.get("c1")["fid"] == winners[0]["fid"]  # type: ignore[index]


def test_consume_matching_other_fields_leaves_a_record_that_differs(
    store: EphemeralStore, clock: ManualClock
) -> None:
    codes = book(store, CODE_LIKE, clock)
    key = codes.create("c1", {"client_id": "a"}, lifetime=60).key
    assert codes.consume(key, "issued", matching={"client_id": "b"}) is None
    assert codes.get("c1").state == "issued"  # type: ignore[union-attr]
    results = race(lambda i: codes.consume(key, "issued", matching={"client_id": "a"}))
    assert len([r for r in results if r is not None]) == 1
    assert codes.get("c1").state == "consumed"  # type: ignore[union-attr]
    with pytest.raises(TransitionNotAllowed):
        book(store, PLAIN, clock).consume("k", matching={"client_id": "a"})


def test_batched_consumption_one_winner_with_unbatched_ones(
    store: EphemeralStore, clock: ManualClock
) -> None:
    """``consume_in`` (the token endpoint's batch) from the record as read, raced against
    plain consumptions: one winner, and its outcome is the record as consumed."""
    codes = book(store, CODE_LIKE, clock)
    key = codes.create("c1", {}, lifetime=60).key
    read = codes.get("c1")
    assert read is not None

    def consume(i: int):
        if i % 2:
            return codes.consume(key, "issued", {"fid": f"f{i}"}, current=read.data)
        batch = store.batch()
        pending = codes.consume_in(batch, key, "issued", {"fid": f"f{i}"}, current=read.data)
        batch.run()
        return pending.value

    winners = [r for r in race(consume) if r is not None]
    assert len(winners) == 1 and winners[0].state == "consumed"
    assert codes.get("c1")["fid"] == winners[0]["fid"]  # type: ignore[index]


def test_batched_consumption_of_an_expired_record_does_not_count(
    store: EphemeralStore, clock: ManualClock
) -> None:
    codes = book(store, CODE_LIKE, clock)
    key = codes.create("c1", {}, lifetime=60).key
    clock.advance(61)
    batch = store.batch()
    late = codes.consume_in(batch, key, "issued", tombstone_lifetime=600)
    batch.run()
    assert late.value is None
    tombstone = codes.get("c1")
    assert tombstone is not None and tombstone.consumed_late


def test_batched_creation_and_update(store: EphemeralStore, clock: ManualClock) -> None:
    codes = book(store, CODE_LIKE, clock)
    batch = store.batch()
    created = codes.create("c1", {"n": 1}, lifetime=60, batch=batch)
    assert codes.get("c1") is None  # written when the batch runs
    renewed = codes.update_in(batch, created.key, {"n": 2}, lifetime=120)
    batch.run()
    assert renewed.value is not None and renewed.value["n"] == 2
    assert renewed.value.expires_at == clock() + 120
    with pytest.raises(ValueError):
        codes.create("c2", {}, lifetime=60, exclusive=True, batch=store.batch())


def test_consume_without_tombstone_deletes_once(store: EphemeralStore, clock: ManualClock) -> None:
    pairs = book(store, PLAIN, clock)
    key = pairs.create("flow1", {"n": 1}, lifetime=600).key
    results = race(lambda i: pairs.consume(key))
    assert [r["n"] for r in results if r is not None] == [1]
    assert pairs.get("flow1") is None
    with pytest.raises(TransitionNotAllowed):
        pairs.consume(key, "issued")


def test_exclusive_create_never_overwrites(store: EphemeralStore, clock: ManualClock) -> None:
    requests = book(store, REQUEST_LIKE, clock)
    requests.create("r1", {"n": 1}, lifetime=60, exclusive=True)
    with pytest.raises(RecordCollision):
        requests.create("r1", {"n": 2}, lifetime=60, exclusive=True)
    assert requests.get("r1")["n"] == 1  # type: ignore[index]


def test_delete(store: EphemeralStore, clock: ManualClock) -> None:
    pairs = book(store, PLAIN, clock)
    key = pairs.create("flow1", {}, lifetime=600).key
    assert pairs.delete(key) is True
    assert pairs.delete(key) is False
    assert pairs.get("flow1") is None


def test_a_record_without_expiry_lives_as_long_as_its_ttl(
    store: EphemeralStore, clock: ManualClock
) -> None:
    """Records written before ``expires_at`` existed are read as before."""
    pairs = book(store, PLAIN, clock)
    store.put("ecps-act:old", {"n": 1}, 60)
    clock.advance(10**6)
    assert pairs.get("old") is not None


def test_kinds_that_make_no_sense_are_refused(store: EphemeralStore, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="tombstone"):
        RecordKind(
            "x",
            keys.CODE,
            hashed_id=True,
            lifetime="1 s",
            initial=("a",),
            transitions={"a": ("b",)},
            tombstone="c",
        )
    several_states = RecordKind(
        "x", keys.LOGIN, hashed_id=False, lifetime="1 s", initial=("a",), transitions={"a": ("b",)}
    )
    # Deleting cannot check the state, so only a kind of one state may be consumed by delete.
    login_like = book(store, several_states, clock)
    key = login_like.create("t1", {}, lifetime=60).key
    with pytest.raises(TransitionNotAllowed):
        login_like.consume(key)
    assert login_like.get("t1") is not None
    with pytest.raises(ValueError, match="one id"):
        RecordKind("x", keys.RATE, hashed_id=False, lifetime="1 s")

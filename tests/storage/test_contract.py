"""The EphemeralStore contract, run against every implementation through ``store``.

Each test runs twice (ids ``memory`` and ``redis``). The provider's single-use codes, replay
protection and session handling rely on exactly these guarantees, so an implementation
passing here can be swapped for another without touching the OIDC layer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from santeid.storage import EphemeralStore
from santeid.storage import StoreUnavailable
from tests.support.concurrency import THREADS
from tests.support.concurrency import race

# -- put / get -------------------------------------------------------------------------------


def test_put_get_roundtrip_nested_unicode(store: EphemeralStore) -> None:
    """Records carry claims with accents (French names) and nested structures intact."""
    value = {
        "sub": "f:7a0d1f9e:899700218896",
        "given_name": "Élodie-Chloé",
        "family_name": "D'Artagnan Œuvre",
        "claims": {"SubjectRole": ["10^1.2.250.1.213.1.1.5.5"], "empty": [], "none": None},
        "auth_time": 1732369600.123456,
        "big": 2**62,
        "emoji": "🩺",
        "ok": True,
    }
    store.put("session:a", value, ttl=60)
    assert store.get("session:a") == value


def test_values_come_back_as_their_json_image(store: EphemeralStore) -> None:
    """Both stores agree on what comes back, so code tested on memory behaves on Redis."""
    store.put("k", {"t": (1, 2), 3: "x"}, ttl=60)
    assert store.get("k") == {"t": [1, 2], "3": "x"}


def test_returned_record_is_a_copy(store: EphemeralStore) -> None:
    """Mutating a returned dict must not change the stored state behind the store's back."""
    store.put("k", {"list": [1]}, ttl=60)
    record = store.get("k")
    assert record is not None
    record["list"].append(2)
    record["new"] = 1
    assert store.get("k") == {"list": [1]}


def test_get_absent_is_none(store: EphemeralStore) -> None:
    """An unknown code or session is ``None``, not an exception."""
    assert store.get("code:unknown") is None


def test_get_many_reads_each_key_in_order(store: EphemeralStore) -> None:
    """Userinfo reads the token's deny-list entry and its SSO session together: each answer
    is what ``get`` would give, in the order asked, absent keys ``None``."""
    store.put("revoked:a", {"reason": "revoked"}, ttl=60)
    store.put("sso:s", {"auth": {"acr": "eidas1"}}, ttl=60)
    store.add_member("set:k", "m", ttl=60)
    assert store.get_many("sso:s", "missing", "revoked:a") == [
        {"auth": {"acr": "eidas1"}},
        None,
        {"reason": "revoked"},
    ]
    assert store.get_many() == []
    with pytest.raises(TypeError):
        store.get_many("sso:s", "")


def test_get_many_skips_expired_keys(
    store: EphemeralStore, advance_time: Callable[[float], None]
) -> None:
    store.put("short", {"v": 1}, ttl=1)
    store.put("long", {"v": 2}, ttl=60)
    advance_time(1.2)
    assert store.get_many("short", "long") == [None, {"v": 2}]


def test_put_overwrites_value_and_ttl(store: EphemeralStore) -> None:
    """put is a plain overwrite: a refreshed SSO session gets its new lifetime."""
    store.put("k", {"v": 1, "gone": True}, ttl=10)
    store.put("k", {"v": 2}, ttl=100)
    assert store.get("k") == {"v": 2}
    assert store.ttl("k") == 100


def test_put_expires(store: EphemeralStore, advance_time: Callable[[float], None]) -> None:
    """Expired state (codes, login transactions) must stop being usable on time."""
    store.put("code:x", {"v": 1}, ttl=1)
    advance_time(1.2)
    assert store.get("code:x") is None
    assert store.ttl("code:x") is None


def test_non_json_values_are_rejected(store: EphemeralStore) -> None:
    """A value Redis could not hold fails at once in every store, not only in production."""
    with pytest.raises(TypeError):
        store.put("k", {"when": object()}, ttl=10)
    with pytest.raises(TypeError):
        store.put("k", ["not", "a", "dict"], ttl=10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.put("k", {"x": float("nan")}, ttl=10)
    assert store.get("k") is None


@pytest.mark.parametrize("ttl", [0, -1, 1.5, True, None])
def test_invalid_ttl_is_rejected(store: EphemeralStore, ttl: object) -> None:
    """TTLs are whole seconds ≥ 1: a 0 or fractional TTL is a caller bug in every store."""
    with pytest.raises(ValueError):
        store.put("k", {}, ttl=ttl)  # type: ignore[arg-type]
    assert store.get("k") is None


# -- add -------------------------------------------------------------------------------------


def test_add_only_once(store: EphemeralStore) -> None:
    """A jti seen once must be refused the second time, and the first value kept."""
    assert store.add("jti:abc", {"n": 1}, ttl=60) is True
    assert store.add("jti:abc", {"n": 2}, ttl=60) is False
    assert store.get("jti:abc") == {"n": 1}


def test_add_again_after_expiry(
    store: EphemeralStore, advance_time: Callable[[float], None]
) -> None:
    """Once its lifetime is over, a key can be created again (the replay window closed)."""
    assert store.add("jti:abc", {"n": 1}, ttl=1) is True
    advance_time(1.2)
    assert store.add("jti:abc", {"n": 2}, ttl=60) is True
    assert store.get("jti:abc") == {"n": 2}


def test_concurrent_add_exactly_one_wins(store: EphemeralStore) -> None:
    """Replayed client assertions racing on several workers: only one may pass."""
    results = race(lambda i: store.add("jti:race", {"by": i}, ttl=60))
    assert results.count(True) == 1
    winner = results.index(True)
    assert store.get("jti:race") == {"by": winner}


# -- pop -------------------------------------------------------------------------------------


def test_pop_returns_once(store: EphemeralStore) -> None:
    """A value taken with pop is gone: one-time data cannot be read twice."""
    store.put("k", {"v": 1}, ttl=60)
    assert store.pop("k") == {"v": 1}
    assert store.pop("k") is None
    assert store.get("k") is None


def test_concurrent_pop_exactly_one_gets_value(store: EphemeralStore) -> None:
    """Two token requests with the same code at once: exactly one may redeem it."""
    store.put("code:race", {"v": 1}, ttl=60)
    results = race(lambda i: store.pop("code:race"))
    assert [r for r in results if r is not None] == [{"v": 1}]


# -- transition ------------------------------------------------------------------------------


def test_transition_success_returns_new_record_and_leaves_tombstone(
    store: EphemeralStore,
) -> None:
    """Consuming a code marks it, so a replay is recognised (and its tokens revoked)."""
    store.put("code:x", {"state": "issued", "client_id": "c1"}, ttl=60)
    new = store.transition("code:x", {"state": "issued"}, {"state": "consumed", "at": 5})
    assert new == {"state": "consumed", "client_id": "c1", "at": 5}
    assert store.get("code:x") == new
    # The replay: the precondition no longer holds, and the tombstone is untouched.
    assert store.transition("code:x", {"state": "issued"}, {"state": "consumed"}) is None
    assert store.get("code:x") == new


def test_transition_mismatch_changes_nothing(store: EphemeralStore) -> None:
    """Every expected field must match; a partial match must not write anything."""
    store.put("k", {"state": "issued", "client_id": "c1"}, ttl=60)
    assert store.transition("k", {"state": "issued", "client_id": "c2"}, {"state": "x"}) is None
    assert store.get("k") == {"state": "issued", "client_id": "c1"}


def test_transition_missing_field_does_not_match_none(store: EphemeralStore) -> None:
    """``{"revoked": None}`` must not match a record that has no such field."""
    store.put("k", {"state": "issued"}, ttl=60)
    assert store.transition("k", {"revoked": None}, {"state": "x"}) is None
    store.put("k", {"state": "issued", "revoked": None}, ttl=60)
    assert store.transition("k", {"revoked": None}, {"revoked": 1}) == {
        "state": "issued",
        "revoked": 1,
    }


def test_transition_absent_returns_none_and_creates_nothing(store: EphemeralStore) -> None:
    """An expired or unknown code cannot be brought back to life by a transition."""
    assert store.transition("code:none", {}, {"state": "consumed"}) is None
    assert store.get("code:none") is None


def test_transition_keeps_ttl(store: EphemeralStore, advance_time: Callable[[float], None]) -> None:
    """Consuming a code must not extend its life (nor make it immortal)."""
    store.put("k", {"state": "a"}, ttl=5)
    advance_time(1.2)
    assert store.transition("k", {"state": "a"}, {"state": "b"}) is not None
    remaining = store.ttl("k")
    assert remaining is not None and 1 <= remaining <= 4


def test_transition_with_ttl_resets_it(store: EphemeralStore) -> None:
    """An explicit ttl resets the lifetime (e.g. a consumed code kept longer as tombstone)."""
    store.put("k", {"state": "a"}, ttl=5)
    store.transition("k", {"state": "a"}, {"state": "b"}, ttl=300)
    assert store.ttl("k") == 300


def test_concurrent_transitions_exactly_one_wins(store: EphemeralStore) -> None:
    """Single-use consumption under a race: one winner, the others see the tombstone."""
    store.put("code:race", {"state": "issued"}, ttl=60)
    results = race(
        lambda i: store.transition("code:race", {"state": "issued"}, {"state": "used", "by": i})
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get("code:race") == winners[0]


def test_transition_from_the_record_as_read(store: EphemeralStore) -> None:
    """``current`` (the record as read in the request) gives the same outcome as a fresh read:
    up to date, it is the starting point; stale, the stored record decides."""
    store.put("code:x", {"state": "issued", "n": 1}, ttl=60)
    read = store.get("code:x")
    assert read is not None
    assert store.transition("code:x", {"state": "issued"}, {"state": "used"}, current=read) == {
        "state": "used",
        "n": 1,
    }
    # The same copy again, now stale: the tombstone decides, nothing is written.
    assert store.transition("code:x", {"state": "issued"}, {"state": "used"}, current=read) is None
    assert store.get("code:x") == {"state": "used", "n": 1}
    # A stale copy that does not match, while the stored record does: the store's wins.
    old = {"state": "issued"}
    store.put("k", {"state": "a"}, ttl=60)
    assert store.transition("k", {"state": "a"}, {"state": "b"}, current=old) == {"state": "b"}
    # A copy of a record that is gone brings nothing back.
    assert store.transition("gone", {}, {"state": "b"}, current={"state": "b"}) is None
    assert store.get("gone") is None


def test_transition_from_a_stale_copy_merges_into_the_stored_record(
    store: EphemeralStore,
) -> None:
    """Fields written by someone else since the copy was read are kept, not overwritten by
    the copy's values."""
    store.put("k", {"state": "a", "seen": 1}, ttl=60)
    copy = store.get("k")
    assert store.update("k", {"seen": 2, "other": True}) is not None
    assert store.transition("k", {"state": "a"}, {"state": "b"}, current=copy) == {
        "state": "b",
        "seen": 2,
        "other": True,
    }


def test_concurrent_transitions_from_one_read_exactly_one_wins(store: EphemeralStore) -> None:
    """Single-use consumption by racers that all read the record first: one winner."""
    store.put("code:race", {"state": "issued"}, ttl=60)
    read = store.get("code:race")
    results = race(
        lambda i: store.transition(
            "code:race", {"state": "issued"}, {"state": "used", "by": i}, current=read
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get("code:race") == winners[0]


# -- update ----------------------------------------------------------------------------------


def test_update_merges_and_keeps_ttl(
    store: EphemeralStore, advance_time: Callable[[float], None]
) -> None:
    """Touching a record (e.g. last-seen) must not extend its absolute lifetime."""
    store.put("sso:s", {"sub": "u", "n": 1}, ttl=5)
    advance_time(1.2)
    assert store.update("sso:s", {"n": 2, "seen": True}) == {"sub": "u", "n": 2, "seen": True}
    remaining = store.ttl("sso:s")
    assert remaining is not None and 1 <= remaining <= 4


def test_update_with_ttl_resets_it(store: EphemeralStore) -> None:
    """The SSO idle timeout slides by passing the new ttl."""
    store.put("sso:s", {"n": 1}, ttl=5)
    store.update("sso:s", {"n": 2}, ttl=1800)
    assert store.ttl("sso:s") == 1800


def test_update_absent_returns_none_and_creates_nothing(store: EphemeralStore) -> None:
    """update never resurrects an expired session."""
    assert store.update("sso:gone", {"n": 1}) is None
    assert store.get("sso:gone") is None


def test_concurrent_updates_lose_nothing(store: EphemeralStore) -> None:
    """Merges from concurrent requests all land: no read-modify-write is lost."""
    store.put("k", {"base": 0}, ttl=60)
    race(lambda i: store.update("k", {f"f{i}": i}))
    assert store.get("k") == {"base": 0} | {f"f{i}": i for i in range(THREADS)}


def test_concurrent_updates_from_one_read_lose_nothing(store: EphemeralStore) -> None:
    """Racers all holding the same copy, which goes stale at the first write: every merge
    still lands, and the lifetime given is set."""
    store.put("k", {"base": 0}, ttl=60)
    read = store.get("k")
    race(lambda i: store.update("k", {f"f{i}": i}, ttl=300, current=read))
    assert store.get("k") == {"base": 0} | {f"f{i}": i for i in range(THREADS)}
    assert store.ttl("k") == 300


def test_update_from_the_record_as_read_keeps_ttl(store: EphemeralStore) -> None:
    store.put("sso:s", {"n": 1}, ttl=50)
    read = store.get("sso:s")
    assert store.update("sso:s", {"n": 2}, current=read) == {"n": 2}
    remaining = store.ttl("sso:s")
    assert remaining is not None and 45 <= remaining <= 50
    assert store.update("sso:gone", {"n": 2}, current=read) is None
    assert store.get("sso:gone") is None


# -- batch -----------------------------------------------------------------------------------


def test_batch_runs_every_operation_and_reports_each_outcome(store: EphemeralStore) -> None:
    """A batch does what its operations would do one by one, in order."""
    store.put("code:x", {"state": "issued"}, ttl=60)
    store.put("sso:s", {"n": 1}, ttl=60)
    read = store.get("code:x")
    batch = store.batch()
    family = batch.put("fam:f", {"state": "active"}, ttl=60)
    member = batch.add_member("fam:f:at", "at1", ttl=90)
    consumed = batch.transition(
        "code:x", {"state": "issued"}, {"state": "consumed", "fid": "f"}, ttl=300, current=read
    )
    refused = batch.transition("code:x", {"state": "issued"}, {"state": "again"}, current=read)
    touched = batch.update("sso:s", {"n": 2})  # no copy: read by the store
    gone = batch.update("sso:gone", {"n": 2})
    with pytest.raises(RuntimeError):
        consumed.value  # noqa: B018 - not known before the batch runs
    batch.run()
    assert (family.value, member.value) == (None, None)
    assert consumed.value == {"state": "consumed", "fid": "f"}
    assert refused.value is None  # the tombstone written just before in the same batch
    assert touched.value == {"n": 2}
    assert gone.value is None
    assert store.get("fam:f") == {"state": "active"}
    assert store.members("fam:f:at") == {"at1"}
    assert store.get("code:x") == {"state": "consumed", "fid": "f"}
    assert store.ttl("code:x") == 300
    assert store.get("sso:gone") is None
    with pytest.raises(RuntimeError):
        batch.run()
    with pytest.raises(RuntimeError):
        batch.put("code:y", {}, ttl=60)


def test_batch_removes_members(store: EphemeralStore) -> None:
    """An e-CPS request decided leaves its professional's pending index in the same round
    trip: a batched ``remove_member`` answers as an unbatched one, and keeps the set's
    lifetime."""
    store.add_member("ecps:pending:p", "1:a", ttl=60)
    store.add_member("ecps:pending:p", "1:b", ttl=60)
    store.put("ecps:req:a", {"status": "pending"}, ttl=60)
    batch = store.batch()
    decided = batch.transition("ecps:req:a", {"status": "pending"}, {"status": "approved"})
    left = batch.remove_member("ecps:pending:p", "1:a")
    absent = batch.remove_member("ecps:pending:p", "1:zz")
    batch.run()
    assert decided.value == {"status": "approved"}
    assert (left.value, absent.value) == (True, False)
    assert store.members("ecps:pending:p") == {"1:b"}
    remaining = store.ttl("ecps:pending:p")
    assert remaining is not None and 55 <= remaining <= 60
    with pytest.raises(TypeError):
        store.batch().remove_member("ecps:pending:p", 7)  # type: ignore[arg-type]


def test_batched_transition_from_a_stale_copy(store: EphemeralStore) -> None:
    """The stored record decides, as unbatched: a stale copy neither wins nor blocks."""
    store.put("k", {"state": "a", "seen": 1}, ttl=60)
    copy = store.get("k")
    store.update("k", {"seen": 2})
    batch = store.batch()
    moved = batch.transition("k", {"state": "a"}, {"state": "b"}, current=copy)
    matching_copy_only = batch.transition("k", {"state": "a"}, {"state": "c"}, current=copy)
    batch.run()
    assert moved.value == {"state": "b", "seen": 2}
    assert matching_copy_only.value is None
    assert store.get("k") == {"state": "b", "seen": 2}


def test_batch_mistakes_raise_before_anything_is_written(store: EphemeralStore) -> None:
    batch = store.batch()
    batch.put("code:a", {"state": "issued"}, ttl=60)
    with pytest.raises(ValueError):
        batch.put("code:b", {}, ttl=0)
    with pytest.raises(TypeError):
        batch.put("code:c", {"bad": object()}, ttl=60)
    with pytest.raises(TypeError):
        batch.add_member("fam:f:at", 5, ttl=60)  # type: ignore[arg-type]
    assert store.get("code:a") is None  # nothing sent until run()
    batch.run()
    assert store.get("code:a") == {"state": "issued"}
    store.add_member("fam:set", "m", ttl=60)
    wrong_kind = store.batch()
    wrong_kind.update("fam:set", {"n": 1})
    with pytest.raises(TypeError):
        wrong_kind.run()


def test_concurrent_batched_consumptions_exactly_one_wins(store: EphemeralStore) -> None:
    """The token endpoint's batch (family, consumption, token index) raced from one read of
    the code, against an unbatched consumption too: one winner, every other write lands."""
    store.put("code:race", {"state": "issued"}, ttl=60)
    read = store.get("code:race")

    def redeem(i: int) -> dict | None:
        if i == 0:
            return store.transition(
                "code:race", {"state": "issued"}, {"state": "used", "by": i}, current=read
            )
        batch = store.batch()
        batch.put(f"fam:{i}", {"state": "active"}, ttl=60)
        taken = batch.transition(
            "code:race", {"state": "issued"}, {"state": "used", "by": i}, current=read
        )
        batch.add_member(f"fam:{i}:at", "at", ttl=60)
        batch.run()
        return taken.value

    results = race(redeem)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get("code:race") == winners[0]
    for i in range(1, THREADS):
        assert store.get(f"fam:{i}") == {"state": "active"}
        assert store.members(f"fam:{i}:at") == {"at"}


# -- incr ------------------------------------------------------------------------------------


def test_incr_counts_and_sets_ttl_only_on_creation(store: EphemeralStore) -> None:
    """A fixed-window counter: later hits must not push the window's end further away."""
    assert store.incr("rate:ip", ttl=100) == 1
    assert store.incr("rate:ip", ttl=5) == 2
    assert store.incr("rate:ip", ttl=5, amount=10) == 12
    assert store.incr("rate:ip", ttl=5, amount=-2) == 10
    assert store.ttl("rate:ip") == 100


def test_concurrent_incr_counts_every_hit(store: EphemeralStore) -> None:
    """Attempts counted from many workers at once are all counted (brute-force limits)."""
    race(lambda i: store.incr("rate:race", ttl=60))
    assert store.counter("rate:race") == THREADS


def test_counter_reads_without_creating(store: EphemeralStore) -> None:
    """Reading a count (a refresh token's uses, a spent limit) must not leave a counter behind:
    a read of an absent counter is 0 and the key stays absent."""
    assert store.counter("rate:absent") == 0
    assert store.ttl("rate:absent") is None
    store.incr("rate:read", ttl=100, amount=3)
    assert store.counter("rate:read") == 3
    assert store.ttl("rate:read") == 100


# -- sets ------------------------------------------------------------------------------------


def test_add_member_and_members(store: EphemeralStore) -> None:
    """A refresh-token family lists every token it issued, once each."""
    assert store.members("family:f") == set()
    store.add_member("family:f", "rt1", ttl=60)
    store.add_member("family:f", "rt2", ttl=60)
    store.add_member("family:f", "rt1", ttl=60)
    assert store.members("family:f") == {"rt1", "rt2"}


def test_remove_member_removes_that_member_only(store: EphemeralStore) -> None:
    """A decided e-CPS request leaves its professional's pending index at once."""
    assert store.remove_member("pending:p", "r1") is False  # no set yet
    store.add_member("pending:p", "r1", ttl=60)
    store.add_member("pending:p", "r2", ttl=60)
    assert store.remove_member("pending:p", "r1") is True
    assert store.remove_member("pending:p", "r1") is False
    assert store.members("pending:p") == {"r2"}
    assert store.ttl("pending:p") == 60
    assert store.remove_member("pending:p", "r2") is True
    assert store.members("pending:p") == set() and store.ttl("pending:p") is None


def test_add_member_ttl_is_the_max(store: EphemeralStore) -> None:
    """The family index must outlive its longest-lived token, and never shrink."""
    store.add_member("family:f", "rt1", ttl=100)
    store.add_member("family:f", "rt2", ttl=10)
    assert store.ttl("family:f") == 100
    store.add_member("family:f", "rt3", ttl=500)
    assert store.ttl("family:f") == 500


# -- any kind --------------------------------------------------------------------------------


def test_ttl_absent_is_none(store: EphemeralStore) -> None:
    """``None`` (not 0 or -2) tells "no such key" apart from any remaining lifetime."""
    assert store.ttl("nothing") is None


def test_delete_counts_existing_keys_of_any_kind(store: EphemeralStore) -> None:
    """Logout deletes session, family and counters at once and reports what existed."""
    store.put("a", {"v": 1}, ttl=60)
    store.incr("b", ttl=60)
    store.add_member("c", "m", ttl=60)
    assert store.delete() == 0
    assert store.delete("a", "b", "c", "missing") == 3
    assert store.get("a") is None and store.members("c") == set()
    assert store.ttl("b") is None
    assert store.delete("a") == 0


def test_wrong_kind_of_operation_raises_type_error(store: EphemeralStore) -> None:
    """Using a key with another kind's operation is a bug, reported the same everywhere."""
    store.put("record", {"v": 1}, ttl=60)
    store.incr("counter", ttl=60)
    store.add_member("set", "m", ttl=60)
    with pytest.raises(TypeError):
        store.get("counter")
    with pytest.raises(TypeError):
        store.get("set")
    with pytest.raises(TypeError):
        store.incr("record", ttl=60)
    with pytest.raises(TypeError):
        store.counter("record")
    with pytest.raises(TypeError):
        store.counter("set")
    with pytest.raises(TypeError):
        store.add_member("record", "m", ttl=60)
    with pytest.raises(TypeError):
        store.members("record")
    with pytest.raises(TypeError):
        store.remove_member("record", "m")
    with pytest.raises(TypeError):
        store.update("set", {"v": 2})
    assert store.get("record") == {"v": 1}


def test_ping_and_close(store: EphemeralStore) -> None:
    """After close, use is refused as "unavailable" (503), never silently reconnected."""
    assert store.ping() is True
    store.close()
    assert store.ping() is False
    with pytest.raises(StoreUnavailable):
        store.get("k")
    with pytest.raises(StoreUnavailable):
        store.put("k", {}, ttl=1)
    store.close()  # idempotent

"""``santeid.rate_limits`` on both stores: a fixed window per limit and subject, counted
atomically, so every worker counts together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from santeid import rate_limits


def test_the_hit_beyond_the_limit_is_refused(store):
    results = [
        rate_limits.hit(store, "login", "810000000001", limit=3, window=60) for _ in range(5)
    ]
    assert results == [False, False, False, True, True]


def test_limits_and_subjects_are_counted_apart(store):
    for _ in range(3):
        rate_limits.hit(store, "login", "810000000001", limit=3, window=60)
    assert rate_limits.hit(store, "login", "810000000002", limit=3, window=60) is False
    assert rate_limits.hit(store, "activation", "810000000001", limit=3, window=60) is False
    assert rate_limits.hit(store, "login", "810000000001", limit=3, window=60) is True


def test_concurrent_hits_never_exceed_the_limit(store):
    def one(_):
        return rate_limits.hit(store, "login", "203.0.113.9", limit=10, window=60)

    with ThreadPoolExecutor(8) as pool:
        refused = list(pool.map(one, range(40)))
    assert refused.count(False) == 10


def test_a_new_window_starts_after_the_last(store, advance_time):
    for _ in range(2):
        rate_limits.hit(store, "login", "x", limit=1, window=1)
    advance_time(1.1)
    assert rate_limits.hit(store, "login", "x", limit=1, window=1) is False


def test_the_subject_never_appears_in_the_key(store):
    rate_limits.hit(store, "login", "::ffff:203.0.113.9", limit=1, window=60)
    key = rate_limits.Limit("login", 1, 60).key("::ffff:203.0.113.9")
    assert store.ttl(key) is not None
    assert "203.0.113.9" not in key


def test_a_hit_taken_back_frees_its_place_in_the_window(store):
    limit = rate_limits.Limit("sign-in", 2, 60)
    assert [limit.hit(store, "203.0.113.9") for _ in range(2)] == [False, False]
    limit.take_back(store, "203.0.113.9")
    assert limit.hit(store, "203.0.113.9") is False
    assert limit.hit(store, "203.0.113.9") is True
    assert store.ttl(limit.key("203.0.113.9")) > 1  # the window's, not the take-back's


def test_a_take_back_after_the_window_lives_one_second(store, advance_time):
    limit = rate_limits.Limit("sign-in", 2, 1)
    limit.hit(store, "x")
    advance_time(1.1)
    limit.take_back(store, "x")
    assert store.ttl(limit.key("x")) <= 1
    advance_time(1.1)
    assert store.incr(limit.key("x"), 60, amount=0) == 0


def test_a_limit_may_have_a_key_family_of_its_own(store):
    from santeid.storage import keys

    limit = rate_limits.Limit("admin-sign-in", 5, 900, namespace=keys.ADMIN_LOGIN_FAILURES)
    limit.hit(store, "203.0.113.9")
    assert limit.key("203.0.113.9") == keys.ADMIN_LOGIN_FAILURES.key(keys.digest("203.0.113.9", 32))

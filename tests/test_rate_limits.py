"""``santeid.rate_limits`` on both stores: a fixed window per limit and subject, counted
atomically, so every worker counts together."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from santeid import rate_limits
from santeid.settings import SETTINGS
from santeid.settings import Settings
from santeid.settings import setting
from santeid.storage import keys
from tests.support.paths import ROOT

#: A limit of the tests: 3 hits a minute unless a test says otherwise.
LOGIN = rate_limits.Rule("login", "a login", 3, 60, "refused")


def _hit(store, name: str, subject: str, *, limit: int, window: int) -> bool:
    rule = rate_limits.Rule(name, "a hit", limit, window, "refused")
    return rule.of().hit(store, subject)


def test_the_hit_beyond_the_limit_is_refused(store):
    results = [LOGIN.of().hit(store, "810000000001") for _ in range(5)]
    assert results == [False, False, False, True, True]


def test_limits_and_subjects_are_counted_apart(store):
    for _ in range(3):
        _hit(store, "login", "810000000001", limit=3, window=60)
    assert _hit(store, "login", "810000000002", limit=3, window=60) is False
    assert _hit(store, "activation", "810000000001", limit=3, window=60) is False
    assert _hit(store, "login", "810000000001", limit=3, window=60) is True


def test_concurrent_hits_never_exceed_the_limit(store):
    def one(_):
        return _hit(store, "login", "203.0.113.9", limit=10, window=60)

    with ThreadPoolExecutor(8) as pool:
        refused = list(pool.map(one, range(40)))
    assert refused.count(False) == 10


def test_a_new_window_starts_after_the_last(store, advance_time):
    for _ in range(2):
        _hit(store, "login", "x", limit=1, window=1)
    advance_time(1.1)
    assert _hit(store, "login", "x", limit=1, window=1) is False


def test_the_subject_never_appears_in_the_key(store):
    _hit(store, "login", "::ffff:203.0.113.9", limit=1, window=60)
    key = LOGIN.of().key("::ffff:203.0.113.9")
    assert store.ttl(key) is not None
    assert "203.0.113.9" not in key


def test_a_hit_taken_back_frees_its_place_in_the_window(store):
    limit = rate_limits.Limit(LOGIN, 2, 60)
    assert [limit.hit(store, "203.0.113.9") for _ in range(2)] == [False, False]
    limit.take_back(store, "203.0.113.9")
    assert limit.hit(store, "203.0.113.9") is False
    assert limit.hit(store, "203.0.113.9") is True
    assert store.ttl(limit.key("203.0.113.9")) > 1  # the window's, not the take-back's


def test_a_take_back_after_the_window_lives_one_second(store, advance_time):
    limit = rate_limits.Limit(LOGIN, 2, 1)
    limit.hit(store, "x")
    advance_time(1.1)
    limit.take_back(store, "x")
    assert store.ttl(limit.key("x")) <= 1
    advance_time(1.1)
    assert store.incr(limit.key("x"), 60, amount=0) == 0


def test_a_limit_may_have_a_key_family_of_its_own(store):
    limit = rate_limits.ADMIN_SIGN_IN.of()
    limit.hit(store, "203.0.113.9")
    assert limit.key("203.0.113.9") == keys.ADMIN_LOGIN_FAILURES.key(keys.digest("203.0.113.9", 32))
    assert store.incr(limit.key("203.0.113.9"), 1, amount=0) == 1


def test_a_count_says_beyond_and_spent(store):
    limit = rate_limits.Limit(LOGIN, 2, 60)
    counts = [limit.count(store, "x") for _ in range(3)]
    assert [(c.hits, c.beyond, c.spent) for c in counts] == [
        (1, False, False),
        (2, False, True),
        (3, True, True),
    ]


def test_spent_reads_without_counting(store):
    limit = rate_limits.Limit(LOGIN, 2, 60)
    assert limit.spent(store, "x") is False
    assert store.ttl(limit.key("x")) is None  # reading created no counter
    limit.hit(store, "x")
    assert limit.spent(store, "x") is False
    limit.hit(store, "x")
    assert limit.spent(store, "x") is True
    assert store.incr(limit.key("x"), 1, amount=0) == 2


def test_a_lock_lasts_a_window_from_when_it_was_set(store, advance_time):
    limit = rate_limits.Limit(rate_limits.ECPS_OFFLINE_CODE_ADDRESS, 5, 2)
    assert limit.locked(store, "810000000001", "203.0.113.9") is False
    limit.lock(store, "810000000001", "203.0.113.9", since=1)
    assert limit.locked(store, "810000000001", "203.0.113.9") is True
    assert limit.locked(store, "810000000001", "203.0.113.10") is False
    advance_time(2.1)
    assert limit.locked(store, "810000000001", "203.0.113.9") is False
    with pytest.raises(TypeError):
        LOGIN.of().lock(store, "x", since=1)


def test_hashed_key_parts_are_those_the_pattern_names_sha256():
    limit = rate_limits.ECPS_OFFLINE_CODE_ADDRESS.of(Settings())
    origin_digest = keys.digest("203.0.113.9", 24)
    assert limit.key("810000000001", "203.0.113.9") == (
        f"ecps:totp-fail:810000000001:{origin_digest}"
    )
    assert limit._lock_key(("810000000001", "203.0.113.9")) == (
        f"ecps:totp-lock:810000000001:{origin_digest}"
    )
    assert LOGIN.of().key("x") == f"rate:login:{keys.digest('x', 32)}"
    with pytest.raises(TypeError):
        limit.key("810000000001")


# -- docs/security.md, docs/operations.md, docs/configuration.md -----------------------------

SECURITY = ROOT / "docs" / "security.md"
OPERATIONS = ROOT / "docs" / "operations.md"


def _shown(value: int | str, render) -> str:
    if isinstance(value, int):
        return render(value)
    return f"`{value}` ({render(setting(Settings(), value))})"


def rules_table() -> str:
    """The table of ``docs/security.md``, "Attempt and rate limits": every rule of
    ``santeid.rate_limits``, its settings with their defaults."""
    rows = [
        "| Limit | One hit is | At most | Per | Beyond | Keys |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rate_limits.RULES:
        pattern = (rule.namespace or keys.RATE).pattern.replace("<limit>", rule.name)
        stored = f"`{pattern}`" + (f", lock `{rule.lock.pattern}`" if rule.lock else "")
        rows.append(
            f"| `{rule.name}` | {rule.counts} | {_shown(rule.limit, str)} "
            f"| {_shown(rule.window, keys.duration)} | {rule.beyond} | {stored} |"
        )
    return "\n".join(rows)


def test_security_md_lists_every_limit():
    text = SECURITY.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- limits table: generated.*?-->\n(.*?)\n<!-- end of limits table -->", text, re.S
    )
    assert found, "docs/security.md has no limits table markers"
    expected = rules_table()
    assert found.group(1) == expected, f"paste into docs/security.md:\n{expected}"


def test_every_limit_has_a_name_of_its_own_and_settings_that_exist():
    names = [rule.name for rule in rate_limits.RULES]
    assert len(names) == len(set(names))
    for rule in rate_limits.RULES:
        for value in (rule.limit, rule.window):
            assert isinstance(value, int) or value in SETTINGS, (rule.name, value)
        assert rule.of(Settings()).limit >= 1


def test_operations_md_lists_the_refusals_of_the_recorded_limits():
    """``santeid_refusals_total``'s ``rate_limit:<name>`` reasons in docs/operations.md are
    exactly the rules whose refusals are recorded."""
    (row,) = [
        line
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `santeid_refusals_total` |")
    ]
    listed = set(re.findall(r"`rate_limit:([a-z-]+)`", row))
    assert listed == {rule.name for rule in rate_limits.RULES if rule.recorded}

"""The offline code (RFC 6238): accepted once, ±1 step, locked after repeated failures."""

from __future__ import annotations

import dataclasses

import pyotp
import pytest
from joserfc.jwk import ECKey

from santeid.ecps.service import EcpsService
from santeid.ecps.totp import TotpError
from santeid.storage import MemoryStore
from santeid.storage import keys
from tests.support.concurrency import race
from tests.support.ecps_phone import CHEAP_PINS

START = 1_700_000_010.0  # 10 s into a 30-s step


@pytest.fixture
def clock(fake_clock):
    fake_clock.now = START
    return fake_clock


@pytest.fixture
def service(app, store, clock):
    """An e-CPS service on the parametrised ``store`` (memory and Redis) and a fake clock."""
    svc = app.extensions["santeid"]
    return EcpsService(svc.settings, store, svc.directory, pins=CHEAP_PINS, clock=clock)


@pytest.fixture
def device(service, national_id):
    activation = service.start_activation(national_id)
    return service.register_device(
        activation_code=activation.code,
        public_jwk=ECKey.generate_key("P-256").as_dict(private=False),
        pin="1234",
    )


def _code(device, at: float) -> str:
    return pyotp.TOTP(device.totp_secret).at(int(at))


def _wrong(device, at: float) -> str:
    """A 6-digit code valid in none of the three accepted steps."""
    valid = {_code(device, at + delta) for delta in (-30, 0, 30)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def _error(service, national_id, code) -> str:
    with pytest.raises(TotpError) as caught:
        service.verify_totp(national_id, code)
    return caught.value.code


def test_good_code_then_replay(service, device, national_id):
    code = _code(device, START)
    assert service.verify_totp(national_id, code).device_id == device.device_id
    assert _error(service, national_id, code) == "replayed_code"
    assert service.devices.get(device.device_id).last_used_at is not None


def test_one_step_either_side(service, device, national_id, clock):
    assert service.verify_totp(national_id, _code(device, START - 30)).device_id == device.device_id
    assert service.verify_totp(national_id, _code(device, START + 30)).device_id == device.device_id
    assert _error(service, national_id, _code(device, START - 60)) == "invalid_code"
    assert _error(service, national_id, _code(device, START + 60)) == "invalid_code"


def test_a_code_used_is_refused_in_the_next_step_too(service, device, national_id, clock):
    code = _code(device, START)
    service.verify_totp(national_id, code)
    clock.advance(30)  # the same code is still inside the window (previous step)
    assert _error(service, national_id, code) == "replayed_code"


def test_bad_formats_are_invalid(service, device, national_id):
    for code in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        assert _error(service, national_id, code) == "invalid_code"


def test_no_device(service, other_national_id):
    assert _error(service, other_national_id, "123456") == "no_device"


def test_locked_device_has_no_offline_code(service, device, national_id):
    service.devices.revoke(device.device_id)
    assert _error(service, national_id, _code(device, START)) == "no_device"


def test_lock_after_five_failures(service, device, national_id):
    good = _code(device, START)
    wrong = _wrong(device, START)
    for _ in range(4):
        assert _error(service, national_id, wrong) == "invalid_code"
    assert _error(service, national_id, wrong) == "invalid_code"  # the fifth locks
    assert _error(service, national_id, good) == "locked"
    assert _error(service, national_id, wrong) == "locked"


def test_success_clears_the_failure_count(service, device, national_id, clock):
    wrong = _wrong(device, START)
    for _ in range(4):
        _error(service, national_id, wrong)
    service.verify_totp(national_id, _code(device, START))
    for _ in range(4):
        assert _error(service, national_id, wrong) == "invalid_code"
    assert service.verify_totp(national_id, _code(device, START + 30))


def test_wrong_codes_racing_are_compared_at_most_the_limit(service, device, national_id):
    """Counted before compared: racing guesses from one origin cannot outrun the count."""
    wrong = _wrong(device, START)
    outcomes = race(lambda _: _error(service, national_id, wrong), threads=20)
    assert outcomes.count("invalid_code") == 5
    assert outcomes.count("locked") == 15
    assert _error(service, national_id, _code(device, START)) == "locked"


def test_wrong_codes_racing_from_many_origins_are_compared_at_most_the_cap(
    service, device, national_id
):
    wrong = _wrong(device, START)

    def guess(i: int) -> str:
        with pytest.raises(TotpError) as caught:
            service.verify_totp(national_id, wrong, origin=f"198.51.100.{i}")
        return caught.value.code

    outcomes = race(guess, threads=30)
    assert outcomes.count("invalid_code") == 20  # ecps_totp_failures_per_professional
    assert outcomes.count("locked") == 10
    assert _error(service, national_id, _code(device, START)) == "locked"


def test_a_right_or_replayed_code_is_no_failure(service, device, national_id, store):
    everyone = keys.ECPS_TOTP_FAILURES_ALL.key(national_id)
    wrong = _wrong(device, START)
    for _ in range(2):
        _error(service, national_id, wrong)
    code = _code(device, START)
    service.verify_totp(national_id, code)
    assert _error(service, national_id, code) == "replayed_code"
    assert store.incr(everyone, 1, amount=0) == 2


def _on_a_clock(app, national_id, now: list[float]):
    """A service whose store and clock read ``now[0]``, and a device registered there."""
    store = MemoryStore(clock=lambda: now[0])
    svc = app.extensions["santeid"]
    service = EcpsService(svc.settings, store, svc.directory, pins=CHEAP_PINS, clock=lambda: now[0])
    activation = service.start_activation(national_id)
    device = service.register_device(
        activation_code=activation.code,
        public_jwk=ECKey.generate_key("P-256").as_dict(private=False),
        pin="1234",
    )
    return service, device


def test_lock_lasts_ecps_totp_lock_seconds(app, national_id):
    now = [START]
    svc = app.extensions["santeid"]
    service, device = _on_a_clock(app, national_id, now)
    for _ in range(5):
        _error(service, national_id, _wrong(device, now[0]))
    now[0] += svc.settings.ecps.totp_lock - 1
    assert _error(service, national_id, _code(device, now[0])) == "locked"
    now[0] += 2
    assert service.verify_totp(national_id, _code(device, now[0])).device_id == device.device_id


def test_any_active_device_of_the_professional(service, device, national_id):
    activation = service.start_activation(national_id)
    second = service.register_device(
        activation_code=activation.code,
        public_jwk=ECKey.generate_key("P-256").as_dict(private=False),
        pin="5678",
    )
    assert service.verify_totp(national_id, _code(second, START)).device_id == second.device_id


def test_totp_error_reachable_from_the_service(ecps):
    assert ecps.TotpError is TotpError


def _guess_from(service, national_id, code, origin) -> str:
    with pytest.raises(TotpError) as caught:
        service.verify_totp(national_id, code, origin=origin)
    return caught.value.code


def test_a_guesser_waiting_out_each_window_is_capped_per_day(app, national_id):
    """20 wrong codes per ``ecps_totp_lock`` window, from addresses each under its own lock,
    window after window: the 50th of the day (``ecps_totp_failures_per_day``) refuses the
    offline code to everyone until 24 h after the first, and is recorded once."""
    from santeid.observability import events
    from santeid.observability.metrics import OWN_METRICS

    settings = app.extensions["santeid"].settings.ecps
    assert (settings.totp_failures_per_professional, settings.totp_failures_per_day) == (20, 50)
    now = [START]
    svc = app.extensions["santeid"]
    service, device = _on_a_clock(app, national_id, now)
    metric = "santeid_ecps_offline_code_locks_total"
    before = OWN_METRICS.get_sample_value(metric) or 0.0
    with app.test_request_context():
        guesses = 0
        while guesses < 50:
            for _ in range(min(20, 50 - guesses)):
                origin = f"198.51.100.{guesses // 4}"
                assert _guess_from(service, national_id, _wrong(device, now[0]), origin) == (
                    "invalid_code"
                ), guesses
                guesses += 1
            now[0] += settings.totp_lock  # the next window, every address unlocked
        assert guesses == 50 and now[0] - START == 3 * settings.totp_lock
        # The short window is fresh, the day's budget spent: the right code is refused too,
        # as locked for the day (not a short window's lock: the page says which).
        right = _code(device, now[0])
        assert _guess_from(service, national_id, right, "203.0.113.1") == "locked_for_the_day"
        now[0] = START + 86400 - 1
        late = _guess_from(service, national_id, _code(device, now[0]), "203.0.113.2")
        assert late == "locked_for_the_day"
        now[0] = START + 86400
        accepted = service.verify_totp(national_id, _code(device, now[0]), origin="203.0.113.3")
        assert accepted.device_id == device.device_id
        (lock,) = svc.events.list(types=(events.OFFLINE_CODE_LOCK,))
    assert (lock.professional, lock.reason) == (national_id, "per_day")
    assert (OWN_METRICS.get_sample_value(metric) or 0.0) - before == 1


def test_wrong_codes_racing_are_compared_at_most_the_day_cap(service, device, national_id):
    """With the short window's cap out of the way, racing guesses from as many addresses are
    compared at most ``ecps_totp_failures_per_day`` times: counted before compared."""
    service.totp.per_window = dataclasses.replace(service.totp.per_window, limit=1000)
    wrong = _wrong(device, START)
    outcomes = race(
        lambda i: _guess_from(service, national_id, wrong, f"198.51.100.{i}"), threads=70
    )
    assert outcomes.count("invalid_code") == 50  # ecps_totp_failures_per_day
    assert outcomes.count("locked_for_the_day") == 20
    right = _code(device, START)
    assert _guess_from(service, national_id, right, "203.0.113.9") == "locked_for_the_day"


def _sha256(value: str, length: int) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()[:length]


def test_the_counters_keys_counts_and_lifetimes(app, national_id):
    """What the store holds after wrong codes, a lock and a right code: the keys santeid has
    always written (written out here, so that a rolling upgrade keeps the counts in flight),
    their counts and their lifetimes (``docs/storage.md``; ``docs/security.md``, "Limits")."""
    now = [START]
    settings = app.extensions["santeid"].settings.ecps
    service, device = _on_a_clock(app, national_id, now)
    store = service.store
    here, there = "198.51.100.1", "198.51.100.2"
    mine = f"ecps:totp-fail:{national_id}:{_sha256(here, 24)}"
    lock = f"ecps:totp-lock:{national_id}:{_sha256(here, 24)}"
    everyone = f"ecps:totp-fail-all:{national_id}"
    day = f"ecps:totp-fail-day:{national_id}"

    def count(key: str) -> int:
        return store.incr(key, 1, amount=0)

    for n in range(1, 6):
        assert _guess_from(service, national_id, _wrong(device, now[0]), here) == "invalid_code"
        assert (count(mine), count(everyone), count(day)) == (n, n, n)
        assert store.get(lock) is None if n < 5 else store.get(lock) == {"since": int(now[0])}
        now[0] += 10
    # Windows from the first wrong code; the lock from the wrong code that set it.
    assert (store.ttl(mine), store.ttl(everyone)) == (settings.totp_lock - 50,) * 2
    assert store.ttl(day) == 86400 - 50
    assert store.ttl(lock) == settings.totp_lock - 10
    # Locked: refused uncompared and uncounted, the right code too.
    assert _guess_from(service, national_id, _code(device, now[0]), here) == "locked"
    assert (count(mine), count(everyone), count(day)) == (5, 5, 5)
    # Another address: a replayed code takes its counts back, a right one clears its own.
    code = _code(device, now[0])
    assert service.verify_totp(national_id, code, origin=there).device_id == device.device_id
    assert store.ttl(f"ecps:totp-fail:{national_id}:{_sha256(there, 24)}") is None
    assert _guess_from(service, national_id, code, there) == "replayed_code"
    assert (count(mine), count(everyone), count(day)) == (5, 5, 5)
    assert count(f"ecps:totp-fail:{national_id}:{_sha256(there, 24)}") == 0
    # The lock ends after ecps_totp_lock seconds; the counts' windows with it.
    now[0] += settings.totp_lock
    assert store.get(lock) is None and store.ttl(mine) is None and store.ttl(everyone) is None
    assert count(day) == 5

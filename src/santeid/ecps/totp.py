"""The offline e-CPS code: TOTP (RFC 6238) when the phone has no network.

Each device gets a random base32 secret at registration (160 bits, RFC 4226 §4 R6 recommends
at least 128) and shows ``HOTP(secret, floor(t / 30))`` as 6 digits (RFC 6238 §4 defaults:
T0 = 0, X = 30 s, HMAC-SHA-1). The login page's "Pas de réseau sur le téléphone ?" form sends
it to :meth:`TotpVerifier.verify`:

* one step before or after the current one is accepted (RFC 6238 §5.2: "at most one time step
  is allowed as the network delay"; it also absorbs a phone clock a little off);
* a (device, step) pair is accepted once (RFC 6238 §5.2: "the verifier MUST NOT accept the
  second attempt of the OTP after the successful validation"), atomically across workers
  with ``store.add``;
* wrong codes are counted per professional *and origin* (the client address the codes come
  from, ``store.incr``); after ``ecps_totp_failures`` of them the offline code is refused to
  that origin for ``ecps_totp_lock`` seconds (RFC 4226 §7.3 throttling). A stranger typing
  wrong codes therefore locks only themselves, never the professional's own browser. Wrong
  codes from all origins together are bounded too: beyond
  ``ecps_totp_failures_per_professional`` in a window of ``ecps_totp_lock`` seconds, the
  offline code is refused to everyone until the window ends, which bounds a guesser spread
  over many addresses (``docs/security.md``). A guesser who waits out each window is bounded
  by a second one: beyond ``ecps_totp_failures_per_day`` wrong codes from all origins in
  :data:`DAY` seconds, the offline code is refused to everyone until that window ends (an
  authentication event ``OFFLINE_CODE_LOCK`` and a metric record it). A correct code clears
  the count of its origin. A replayed code is not counted: it reveals nothing an attacker
  could search.

  Each attempt is counted (the three counters, each an atomic ``incr``) *before* its code is
  compared, and refused uncompared when a count is over its limit: of any number of
  concurrent guesses, at most ``ecps_totp_failures`` per origin,
  ``ecps_totp_failures_per_professional`` per window and ``ecps_totp_failures_per_day`` per day
  in all are compared. An attempt that turns out right (or replayed) takes its counts back, so
  the limits still count wrong codes only.
"""

from __future__ import annotations

import hmac

import pyotp

from santeid import rate_limits
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.ecps.devices import Device
from santeid.ecps.devices import DeviceRepository
from santeid.observability import record as observe
from santeid.storage import EphemeralStore
from santeid.storage import keys

#: RFC 6238 time step, in seconds, and digits.
STEP = 30
DIGITS = 6
#: Steps accepted on each side of the current one.
WINDOW = 1
#: How long a used (device, step) is remembered: longer than the window it could be valid in.
USED_TTL = (2 * WINDOW + 2) * STEP
#: Seconds of the long window of wrong codes per professional (``ecps_totp_failures_per_day``),
#: declared with its store key.
DAY = keys.ECPS_TOTP_DAY_WINDOW

#: ``TotpError.code`` values (the login page shows one message per code).
NO_DEVICE = "no_device"
INVALID_CODE = "invalid_code"
REPLAYED_CODE = "replayed_code"
LOCKED = "locked"


class TotpError(Exception):
    """The offline code was not accepted; ``code`` says why (see the constants above)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code


def new_secret() -> str:
    """A random base32 secret of 160 bits (RFC 4226 §4 R6; pyotp's default length)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, national_id: str) -> str:
    """``otpauth://totp/…`` (Google Authenticator key URI format) for authenticator apps."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=national_id, issuer_name="santeid e-CPS"
    )


def code_at(secret: str, for_time: float) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(int(for_time))


class TotpVerifier:
    def __init__(
        self,
        store: EphemeralStore,
        devices: DeviceRepository,
        *,
        max_failures: int,
        lock_seconds: int,
        max_failures_per_professional: int | None = None,
        max_failures_per_day: int | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.devices = devices
        self.max_failures = max_failures
        self.lock_seconds = lock_seconds
        self.max_failures_per_professional = max_failures_per_professional or 4 * max_failures
        self.max_failures_per_day = max_failures_per_day or 10 * max_failures
        self.clock = clock

    @staticmethod
    def _origin(origin: str) -> str:
        # The origin (a client address) is hashed: keys stay short and free of its characters.
        return keys.digest(origin, 24)

    def _failures_key(self, national_id: str, origin: str) -> str:
        return keys.ECPS_TOTP_FAILURES.key(national_id, self._origin(origin))

    def _lock_key(self, national_id: str, origin: str) -> str:
        return keys.ECPS_TOTP_LOCK.key(national_id, self._origin(origin))

    def _all_failures_key(self, national_id: str) -> str:
        return keys.ECPS_TOTP_FAILURES_ALL.key(national_id)

    def _day_failures_key(self, national_id: str) -> str:
        return keys.ECPS_TOTP_FAILURES_DAY.key(national_id)

    def _counters(self, national_id: str) -> tuple[tuple[str, int, int], ...]:
        """The professional's counters of wrong codes from every origin: ``(key, window in
        seconds, limit)``, the short window first."""
        return (
            (self._all_failures_key(national_id), self.lock_seconds,
             self.max_failures_per_professional),
            (self._day_failures_key(national_id), DAY, self.max_failures_per_day),
        )  # fmt: skip

    def _locked(self, national_id: str, origin: str) -> bool:
        """Already locked, for this origin or for everyone: refused without counting."""
        if self.store.get(self._lock_key(national_id, origin)) is not None:
            return True
        return any(
            self.store.ttl(key) is not None and self.store.incr(key, 1, amount=0) >= limit
            for key, _, limit in self._counters(national_id)
        )

    def _count_attempt(self, national_id: str, origin: str) -> tuple[int, int] | None:
        """Count this attempt as a failure *before* the code is compared: the origin's count
        and the day's with it, or ``None`` when it is over a limit (refused without
        comparing). Each ``incr`` is atomic, so of concurrent attempts at most
        ``max_failures`` per origin, ``max_failures_per_professional`` per window and
        ``max_failures_per_day`` per day get a count under the limit: parallel guesses cannot
        outrun the counting. The counters' windows start at their first attempt (ttl set on
        creation only). A counter over its limit leaves the next ones alone: an attempt
        refused uncompared spends no other budget."""
        mine = self.store.incr(self._failures_key(national_id, origin), ttl=self.lock_seconds)
        if mine > self.max_failures:
            # Refused at the origin: the professional's count is left to other addresses.
            return None
        count = mine
        for key, window, limit in self._counters(national_id):
            count = self.store.incr(key, ttl=window)
            if count > limit:
                return None
        return mine, count

    def _not_a_failure(self, national_id: str, origin: str) -> None:
        """Take back the count of an attempt that was no wrong code (a replayed one): the
        limits count wrong codes only (``rate_limits.take_back_hit``: a counter gone meanwhile
        is not outlived)."""
        for key, _, _ in self._counters(national_id):
            rate_limits.take_back_hit(self.store, key)
        rate_limits.take_back_hit(self.store, self._failures_key(national_id, origin))

    def verify(self, national_id: str, code: str, *, origin: str = "") -> Device:
        """The device whose current code this is; raises :class:`TotpError` otherwise.

        ``origin``: where the attempt comes from (the client address), which a lock applies to.
        """
        if self._locked(national_id, origin):
            raise TotpError(LOCKED, "too many wrong offline codes; try again later")
        devices = self.devices.active_for(national_id)
        if not devices:
            raise TotpError(NO_DEVICE, "no active e-CPS device")
        counted = self._count_attempt(national_id, origin)
        if counted is None:
            raise TotpError(LOCKED, "too many wrong offline codes; try again later")
        failures, today = counted
        code = code.strip() if isinstance(code, str) else ""
        if len(code) == DIGITS and code.isascii() and code.isdigit():
            now = self.clock()
            current = int(now // STEP)
            for device in devices:
                totp = pyotp.TOTP(device.totp_secret, digits=DIGITS, interval=STEP)
                for counter in range(current - WINDOW, current + WINDOW + 1):
                    expected = totp.generate_otp(counter)
                    if hmac.compare_digest(expected, code):
                        return self._accept(national_id, device, counter, origin)
        if failures >= self.max_failures:
            # The lock is a key of its own, so that it lasts lock_seconds from the failure
            # that set it (the counter's window started at the first). The counter is not
            # reset: a reset would give racing guesses a fresh count before the lock shows.
            lock = {"since": int(self.clock())}
            self.store.put(self._lock_key(national_id, origin), lock, self.lock_seconds)
        if today == self.max_failures_per_day:
            # The wrong code that spends the day's budget: refused to everyone from now on.
            observe.ecps_offline_code_locked(national_id)
        raise TotpError(INVALID_CODE, "wrong offline code")

    def _accept(self, national_id: str, device: Device, counter: int, origin: str) -> Device:
        used = keys.ECPS_TOTP_USED.key(device.device_id, str(counter))
        if not self.store.add(used, {"at": int(self.clock())}, USED_TTL):
            self._not_a_failure(national_id, origin)
            raise TotpError(REPLAYED_CODE, "this offline code has already been used")
        # A right code is no failure: the professional's counts take it back (as in
        # _not_a_failure), and the origin's count is cleared.
        for key, _, _ in self._counters(national_id):
            rate_limits.take_back_hit(self.store, key)
        self.store.delete(self._failures_key(national_id, origin))
        self.devices.touch(device.device_id)
        return device

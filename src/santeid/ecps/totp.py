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
  from), under the limits ``santeid.rate_limits`` declares (``ecps-offline-code-*``,
  ``docs/security.md``, "Attempt and rate limits"); after ``ecps_totp_failures`` of them the
  offline code is refused to that origin for ``ecps_totp_lock`` seconds (RFC 4226 §7.3
  throttling). A stranger typing wrong codes therefore locks only themselves, never the
  professional's own browser. Wrong codes from all origins together are bounded too: beyond
  ``ecps_totp_failures_per_professional`` in a window of ``ecps_totp_lock`` seconds, the
  offline code is refused to everyone until the window ends, which bounds a guesser spread
  over many addresses. A guesser who waits out each window is bounded by a second one: beyond
  ``ecps_totp_failures_per_day`` wrong codes from all origins in a day, the offline code is
  refused to everyone until that window ends (an authentication event ``OFFLINE_CODE_LOCK``
  and a metric record it). A correct code clears the count of its origin. A replayed code is
  not counted: it reveals nothing an attacker could search.

  Each attempt is counted (the three limits, each count atomic) *before* its code is
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
from santeid.rate_limits import Count
from santeid.rate_limits import Limit
from santeid.settings import Settings
from santeid.storage import EphemeralStore
from santeid.storage import keys

#: RFC 6238 time step, in seconds, and digits.
STEP = 30
DIGITS = 6
#: Steps accepted on each side of the current one.
WINDOW = 1
#: How long a used (device, step) is remembered: longer than the window it could be valid in.
USED_TTL = (2 * WINDOW + 2) * STEP

#: ``TotpError.code`` values (the login page shows one message per code).
NO_DEVICE = "no_device"
INVALID_CODE = "invalid_code"
REPLAYED_CODE = "replayed_code"
LOCKED = "locked"
#: The day's budget of wrong codes is spent: refused to everyone until the day's window ends,
#: far longer than a ``locked`` window.
LOCKED_FOR_THE_DAY = "locked_for_the_day"


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
    """Verifies offline codes under the limits of ``santeid.rate_limits`` (the
    ``ecps-offline-code-*`` rules: per origin, per professional per window, per day)."""

    def __init__(
        self,
        store: EphemeralStore,
        devices: DeviceRepository,
        settings: Settings,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.devices = devices
        self.clock = clock
        #: Wrong codes of a professional from one origin, and the origin's lock.
        self.per_origin = rate_limits.ECPS_OFFLINE_CODE_ADDRESS.of(settings)
        #: Wrong codes of a professional from every origin: in a window, in a day.
        self.per_window = rate_limits.ECPS_OFFLINE_CODE_PROFESSIONAL.of(settings)
        self.per_day = rate_limits.ECPS_OFFLINE_CODE_DAY.of(settings)

    def _per_professional(self) -> tuple[Limit, Limit]:
        """The professional's limits of wrong codes from every origin, the short window first."""
        return self.per_window, self.per_day

    def _lock(self, national_id: str, origin: str) -> str | None:
        """Already locked — :data:`LOCKED_FOR_THE_DAY`, else :data:`LOCKED` for this origin or
        for everyone in the window —, refused without counting; None when not locked."""
        if self.per_day.spent(self.store, national_id):
            return LOCKED_FOR_THE_DAY
        if self.per_origin.locked(self.store, national_id, origin):
            return LOCKED
        return LOCKED if self.per_window.spent(self.store, national_id) else None

    def _count_attempt(self, national_id: str, origin: str) -> tuple[Count, Count]:
        """Count this attempt as a failure *before* the code is compared: the origin's count
        and the day's with it; :class:`TotpError` (``locked``, or ``locked_for_the_day`` over
        the day's limit) when it is over a limit (refused without comparing). Each count is
        atomic, so of concurrent attempts at most the origin's limit, the window's and the
        day's get a count under the limit: parallel guesses cannot outrun the counting. A
        limit refusing the attempt leaves the next ones alone: an attempt refused uncompared
        spends no other budget."""
        mine = self.per_origin.count(self.store, national_id, origin)
        if mine.beyond:
            # Refused at the origin: the professional's count is left to other addresses.
            raise TotpError(LOCKED, "too many wrong offline codes; try again later")
        count = mine
        for limit in self._per_professional():
            count = limit.count(self.store, national_id)
            if count.beyond:
                why = LOCKED_FOR_THE_DAY if limit is self.per_day else LOCKED
                raise TotpError(why, "too many wrong offline codes; try again later")
        return mine, count

    def _not_a_failure(self, national_id: str, origin: str) -> None:
        """Take back the count of an attempt that was no wrong code (a replayed one): the
        limits count wrong codes only."""
        for limit in self._per_professional():
            limit.take_back(self.store, national_id)
        self.per_origin.take_back(self.store, national_id, origin)

    def verify(self, national_id: str, code: str, *, origin: str = "") -> Device:
        """The device whose current code this is; raises :class:`TotpError` otherwise.

        ``origin``: where the attempt comes from (the client address), which a lock applies to.
        """
        lock = self._lock(national_id, origin)
        if lock is not None:
            raise TotpError(lock, "too many wrong offline codes; try again later")
        devices = self.devices.active_for(national_id)
        if not devices:
            raise TotpError(NO_DEVICE, "no active e-CPS device")
        failures, today = self._count_attempt(national_id, origin)
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
        if failures.spent:
            # The lock lasts a whole window from the failure that set it (the counter's window
            # started at the first). The counter is not reset: a reset would give racing
            # guesses a fresh count before the lock shows.
            self.per_origin.lock(self.store, national_id, origin, since=int(self.clock()))
        if today.spent:
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
        for limit in self._per_professional():
            limit.take_back(self.store, national_id)
        self.per_origin.clear(self.store, national_id, origin)
        self.devices.touch(device.device_id)
        return device

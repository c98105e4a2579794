"""Every limit on attempts counted in a window, declared here and nowhere else (:data:`RULES`):
how many hits of one subject (a client address, a professional, a flow) a window of seconds
allows, and what happens beyond. ``docs/security.md`` ("Attempt and rate limits") lists them
in a table generated from :data:`RULES` (``tests/test_rate_limits.py`` compares the two).
Bounds of another shape live where they are held: wrong PINs on the device's record
(``ecps_pin_attempts``, no window), open connections and waits where they are open.

A :class:`Rule` declares a limit: its name, what one hit is, where its numbers come from (the
flat name of a setting, or a constant), what happens beyond and its store keys;
``rule.of(settings)`` is the :class:`Limit` in force. Windows are fixed and kept in the
ephemeral store, so every worker and host counts together (``store.incr`` is atomic and sets
the window's lifetime on the first hit only; a window starts at its first hit). A limit:

* counts a hit and judges it: :meth:`Limit.hit` says whether it is beyond the limit (the
  caller refuses it), :meth:`Limit.count` gives the :class:`Count` too, for a caller that acts
  on the hit that spends the window's budget;
* reads without counting whether the budget is spent (:meth:`Limit.spent`);
* forgets a hit that turned out not to count (:meth:`Limit.take_back`: a limit on failures
  counts every try *before* judging it, so that tries sent in parallel cannot outrun the count,
  and takes a success back) or the subject's whole window (:meth:`Limit.clear`);
* for a rule with a ``lock``, locks the subject for a whole window from now
  (:meth:`Limit.lock`, a record of its own, so that the lock lasts a window from the hit that
  set it and not from the window's first hit) and says whether it is locked
  (:meth:`Limit.locked`).

A key part that the rule's key pattern names ``<sha256(…)>`` is the digest of the subject's
part (its first ``digest_length`` hex digits), so an address never becomes part of a key
verbatim (no key injection, fixed length). A refusal of a ``recorded`` rule counts in
``santeid_refusals_total`` as ``rate_limit:<name>`` (``docs/operations.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from santeid.observability import metrics
from santeid.settings import Settings
from santeid.settings import setting
from santeid.storage import EphemeralStore
from santeid.storage import keys

#: The start of a key pattern's placeholder whose part enters the key as a digest.
_HASHED = "sha256("


@dataclass(frozen=True)
class Rule:
    """A limit as declared: at most ``limit`` hits of one subject per ``window`` seconds."""

    name: str
    #: What one hit is (``docs/security.md``).
    counts: str
    #: Hits allowed in a window: a number, or the flat name of the setting that holds it.
    limit: int | str
    #: The window, in seconds: a number, or the flat name of the setting that holds it.
    window: int | str
    #: What a hit beyond the limit gets (``docs/security.md``).
    beyond: str
    #: The counters' key family; by default ``rate:<name>:<sha256(subject)>``
    #: (:data:`santeid.storage.keys.RATE`).
    namespace: keys.Namespace | None = None
    #: The key family of the subject's lock (:meth:`Limit.lock`), for a rule that locks.
    lock: keys.Namespace | None = None
    #: Hex digits of a hashed key part.
    digest_length: int = 32
    #: A refusal counts in ``santeid_refusals_total`` (``rate_limit:<name>``).
    recorded: bool = True

    def of(self, settings: Settings | None = None) -> Limit:
        """The limit in force under ``settings`` (needed only for numbers that are settings)."""
        return Limit(self, _number(self.limit, settings), _number(self.window, settings))


def _number(value: int | str, settings: Settings | None) -> int:
    if isinstance(value, int):
        return value
    if settings is None:
        raise TypeError(f"the setting {value} is needed")
    return int(setting(settings, value))


@dataclass(frozen=True)
class Count:
    """The hits of one subject in the current window, the one just counted included."""

    hits: int
    limit: int

    @property
    def beyond(self) -> bool:
        """This hit is beyond the limit: the caller refuses it."""
        return self.hits > self.limit

    @property
    def spent(self) -> bool:
        """No hit is left in this window: this one was the last allowed, or beyond."""
        return self.hits >= self.limit


@dataclass(frozen=True)
class Limit:
    """``rule`` in force: at most ``limit`` hits of one subject in ``window`` seconds. A
    subject is one string, or the parts of the rule's key pattern (``national_id, origin``)."""

    rule: Rule
    limit: int
    window: int

    @property
    def name(self) -> str:
        return self.rule.name

    def key(self, *subject: str) -> str:
        return self._key(self.rule.namespace, subject)

    def _key(self, namespace: keys.Namespace | None, subject: tuple[str, ...]) -> str:
        if namespace is None:
            namespace, subject = keys.RATE, (self.rule.name, *subject)
        if len(subject) != namespace.arity:
            raise TypeError(f"{namespace.pattern} takes {namespace.arity} part(s)")
        return namespace.key(
            *(
                keys.digest(part, self.rule.digest_length) if name.startswith(_HASHED) else part
                for name, part in zip(namespace.parts, subject, strict=True)
            )
        )

    def count(self, store: EphemeralStore, *subject: str) -> Count:
        """Count one hit of ``subject``: its hits in the current window, this one included."""
        count = Count(store.incr(self.key(*subject), self.window), self.limit)
        if count.beyond and self.rule.recorded:
            metrics.refused(f"rate_limit:{self.rule.name}")
        return count

    def hit(self, store: EphemeralStore, *subject: str) -> bool:
        """Count one hit of ``subject``; ``True`` when this hit is beyond the limit in the
        current window (the caller refuses it)."""
        return self.count(store, *subject).beyond

    def retry_after(self, store: EphemeralStore, *subject: str) -> int:
        """Seconds until ``subject``'s current window ends (a window starts at its first hit
        and lasts ``window`` seconds): what a refusal tells the caller to wait
        (``Retry-After``, RFC 9110 §10.2.3, https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3);
        the whole window when no window is open."""
        return store.ttl(self.key(*subject)) or self.window

    def spent(self, store: EphemeralStore, *subject: str) -> bool:
        """``subject`` has no hit left in the current window (read without counting)."""
        return store.counter(self.key(*subject)) >= self.limit

    def take_back(self, store: EphemeralStore, *subject: str) -> None:
        """Forget one hit of ``subject``, counted and found not to count (:func:`take_back_hit`)."""
        take_back_hit(store, self.key(*subject))

    def clear(self, store: EphemeralStore, *subject: str) -> None:
        """Forget ``subject``'s hits of the current window."""
        store.delete(self.key(*subject))

    def lock(self, store: EphemeralStore, *subject: str, since: int) -> None:
        """Lock ``subject`` for a whole window from ``since`` (now)."""
        store.put(self._lock_key(subject), {"since": since}, self.window)

    def locked(self, store: EphemeralStore, *subject: str) -> bool:
        return store.get(self._lock_key(subject)) is not None

    def _lock_key(self, subject: tuple[str, ...]) -> str:
        if self.rule.lock is None:
            raise TypeError(f"the limit {self.rule.name} does not lock")
        return self._key(self.rule.lock, subject)


def take_back_hit(store: EphemeralStore, key: str) -> None:
    """Forget one hit counted under ``key`` (a fixed-window counter of ``store.incr``). If the
    window ended meanwhile, the counter this creates lives 1 s: the -1 never outlives the
    window it belongs to."""
    store.incr(key, 1, amount=-1)


# -- the limits ------------------------------------------------------------------------------

_PUSH_REFUSED = "429 on the login page; nothing reaches the phone"
_SENDS_REFUSED = "429; no codes sent"

ECPS_PUSH_ADDRESS = Rule(
    "ecps-push-address",
    "e-CPS requests the login page starts, per client address (whoever is targeted)",
    "ecps_push_limit_per_address",
    "ecps_push_window",
    _PUSH_REFUSED,
)
ECPS_PUSH_PROFESSIONAL = Rule(
    "ecps-push-professional",
    "e-CPS requests the login page starts for one professional (a request refused by the "
    "address's limit is not counted)",
    "ecps_push_limit_per_professional",
    "ecps_push_window",
    _PUSH_REFUSED,
)
ECPS_ACTIVATION_ADDRESS = Rule(
    "ecps-activation-address",
    "pairs of self-service activation codes sent, per requesting client address",
    "ecps_activation_sends_per_address",
    "ecps_activation_window",
    _SENDS_REFUSED,
)
ECPS_ACTIVATION_PROFESSIONAL = Rule(
    "ecps-activation-professional",
    "pairs of self-service activation codes sent to one professional (a request refused by "
    "the address's limit is not counted)",
    "ecps_activation_sends_per_professional",
    "ecps_activation_window",
    _SENDS_REFUSED,
)
ECPS_ACTIVATION_CODES = Rule(
    "ecps-activation-codes",
    "tries, right or wrong, at one pair of activation codes, counted before the codes are compared",
    5,
    keys.ECPS_CODE_PAIR_LIFETIME,
    "the pair deleted, uncompared (“locked”); the wrong try that spends the budget deletes it too",
    namespace=keys.ECPS_CODE_PAIR_TRIES,
    recorded=False,
)
ECPS_OFFLINE_CODE_ADDRESS = Rule(
    "ecps-offline-code-address",
    "wrong offline codes of one professional from one client address, counted before the code "
    "is compared (a right or replayed code is taken back; a right one clears the count)",
    "ecps_totp_failures",
    "ecps_totp_lock",
    "refused uncompared (“locked”); the wrong code that spends the budget locks the offline "
    "code for that address for a whole window from itself",
    namespace=keys.ECPS_TOTP_FAILURES,
    lock=keys.ECPS_TOTP_LOCK,
    digest_length=24,
    recorded=False,
)
ECPS_OFFLINE_CODE_PROFESSIONAL = Rule(
    "ecps-offline-code-professional",
    "wrong offline codes of one professional from every address (a code refused by the "
    "address's limit is not counted)",
    "ecps_totp_failures_per_professional",
    "ecps_totp_lock",
    "the offline code refused uncompared (“locked”) to everyone until the window ends",
    namespace=keys.ECPS_TOTP_FAILURES_ALL,
    recorded=False,
)
ECPS_OFFLINE_CODE_DAY = Rule(
    "ecps-offline-code-day",
    "the same, over a day (a code refused by the window's limit is not counted)",
    "ecps_totp_failures_per_day",
    keys.ECPS_TOTP_DAY_WINDOW,
    "the offline code refused uncompared to everyone until the day ends (“locked for the "
    "day”, which the page says rather than a short lock's minutes); the wrong code that "
    "spends the budget is recorded (event `OFFLINE_CODE_LOCK`, metric "
    "`santeid_ecps_offline_code_locks_total`)",
    namespace=keys.ECPS_TOTP_FAILURES_DAY,
    recorded=False,
)
ADMIN_SIGN_IN = Rule(
    "admin-sign-in",
    "sign-ins to the administration console from one client address, counted before the "
    "password is checked (a right one is taken back)",
    5,
    keys.ADMIN_SIGN_IN_WINDOW,
    "429, the password unchecked",
    namespace=keys.ADMIN_LOGIN_FAILURES,
)

#: Every limit, in the order ``docs/security.md`` lists them.
RULES: tuple[Rule, ...] = (
    ECPS_PUSH_ADDRESS,
    ECPS_PUSH_PROFESSIONAL,
    ECPS_OFFLINE_CODE_ADDRESS,
    ECPS_OFFLINE_CODE_PROFESSIONAL,
    ECPS_OFFLINE_CODE_DAY,
    ECPS_ACTIVATION_ADDRESS,
    ECPS_ACTIVATION_PROFESSIONAL,
    ECPS_ACTIVATION_CODES,
    ADMIN_SIGN_IN,
)

"""Short-lived records: one typed layer over the store contract.

Login transactions, authorization codes, SSO sessions, refresh-token families, CIBA
requests, e-CPS requests and activation codes are all *records*: a JSON ``dict`` under one key
of a :class:`~santeid.storage.keys.Namespace`, created once, read, moved from state to state by
compare-and-set, consumed once, deleted. A :class:`RecordKind` says, for one of them:

* its namespace (``keys.py`` builds the key) and whether the id is stored hashed (SHA-256), so
  that a dump of the store reveals no bearer value (codes, ``auth_req_id``\\ s);
* its states and the transitions allowed between them — asking for another is a
  :class:`TransitionNotAllowed` (a bug of the caller, never a client's error);
* the state a consumption leaves behind (a *tombstone*: a replay is then told apart from an
  unknown id) or none (the record is deleted when consumed);
* ``grace``: seconds a record stays readable, flagged :attr:`Record.expired`, after its expiry
  (a late poll of a CIBA or e-CPS request learns that it expired, rather than that it never
  existed).

Each record carries its own ``expires_at`` (seconds since the epoch), checked against the
book's clock (:mod:`santeid.clock`): the store's TTL (``expires_at`` + ``grace``, rounded up) only
collects the garbage, and a test reaches an expiry by moving a
:class:`~santeid.clock.ManualClock` rather than by sleeping. A record written before this field
existed has none and lives as long as its TTL.

Every operation of :class:`RecordBook` is one store operation (``docs/storage.md`` gives their
round trips): ``create`` is ``put`` (or ``add`` when ``exclusive``), ``get`` is ``get``,
``transition``, ``consume`` with a tombstone and ``give_back`` are ``transition``, ``update``
is ``update``, ``consume`` without a tombstone is ``pop``, ``delete`` is ``delete``.
``create(batch=…)``, :meth:`RecordBook.update_in` and :meth:`RecordBook.consume_in` queue theirs
in a :class:`~santeid.storage.base.Batch`, sent with other writes of the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.storage import keys
from santeid.storage.base import Batch
from santeid.storage.base import EphemeralStore
from santeid.storage.base import Pending
from santeid.storage.keys import Namespace
from santeid.storage.keys import digest

#: The field every record keeps its expiry in (seconds since the epoch).
EXPIRES_AT = "expires_at"
#: When a record was consumed (seconds since the epoch), in its tombstone.
CONSUMED_AT = "consumed_at"
#: The field a tombstone keeps its own end in, when it outlives the record (the record's
#: ``expires_at`` is kept, so a consumption can tell it came too late).
TOMBSTONE_UNTIL = "tombstone_until"


class TransitionNotAllowed(ValueError):
    """A move the record kind does not allow (a caller bug)."""


class RecordCollision(RuntimeError):
    """``create(..., exclusive=True)`` found the id taken (a 2⁻²⁵⁶ event for our ids)."""


@dataclass(frozen=True, eq=False)
class RecordKind:
    """What one kind of short-lived record is; see the module docstring."""

    #: For people: ``"authorization code"``.
    name: str
    namespace: Namespace
    #: The id enters the key as its SHA-256 (``keys.digest``).
    hashed_id: bool
    #: Where the lifetime comes from (``docs/storage.md``): a setting in backquotes, or a
    #: duration. The book's caller passes the seconds.
    lifetime: str
    #: The states a record is created in.
    initial: tuple[str, ...] = ()
    #: ``{from_state: (to_state, …)}``; a kind without states has no transition.
    transitions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: The field holding the state.
    state_field: str = "state"
    #: The state a consumption leaves; ``None``: consuming deletes the record.
    tombstone: str | None = None
    #: How long a tombstone is kept (``docs/storage.md``), when it is not the record's own.
    tombstone_lifetime: str = ""
    #: Seconds a record stays readable (as expired) past its ``expires_at``.
    grace: int = 0

    def __post_init__(self) -> None:
        if self.namespace.holds != "record" or self.namespace.arity != 1:
            raise ValueError(f"{self.name}: a record kind's namespace holds records by one id")
        states = self.states
        if self.initial and not set(self.initial) <= states:
            raise ValueError(f"{self.name}: unknown initial state")
        if self.tombstone is not None and not any(
            self.tombstone in targets for targets in self.transitions.values()
        ):
            raise ValueError(f"{self.name}: no transition reaches the tombstone")
        if self.grace < 0:
            raise ValueError(f"{self.name}: grace is >= 0")

    @property
    def states(self) -> frozenset[str]:
        found = set(self.initial)
        for source, targets in self.transitions.items():
            found.add(source)
            found.update(targets)
        return frozenset(found)

    def allows(self, from_state: str, to_state: str) -> bool:
        return to_state in self.transitions.get(from_state, ())

    def key(self, record_id: str) -> str:
        """The store key of ``record_id`` (its digest when the kind hashes ids)."""
        return self.namespace.key(digest(record_id) if self.hashed_id else record_id)


@dataclass(frozen=True)
class Record:
    """A record as read: its key, its data, and whether it is past its ``expires_at`` (only
    ever ``True`` within the kind's ``grace``)."""

    kind: RecordKind
    key: str
    data: dict[str, Any]
    expired: bool = False

    @property
    def state(self) -> str | None:
        return self.data.get(self.kind.state_field)

    @property
    def expires_at(self) -> float | None:
        return self.data.get(EXPIRES_AT)

    @property
    def consumed_late(self) -> bool:
        """A tombstone written when the record had already expired: the consumption was
        refused, so the tombstone is no evidence of a use."""
        consumed_at = _seconds(self.data.get(CONSUMED_AT))
        expires_at = _seconds(self.data.get(EXPIRES_AT))
        return consumed_at is not None and expires_at is not None and consumed_at >= expires_at

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


class RecordBook:
    """The records of one kind in one store; see the module docstring.

    ``create`` and ``get`` take the record's id; the other operations take its key
    (:attr:`Record.key`, or :meth:`RecordKind.key` of the id), which holders of a hashed id
    pass around instead of the bearer value.
    """

    def __init__(self, store: EphemeralStore, kind: RecordKind, *, clock: Clock = system_clock):
        self.store = store
        self.kind = kind
        self.clock = clock

    def key(self, record_id: str) -> str:
        return self.kind.key(record_id)

    # -- reading -------------------------------------------------------------------------------
    def _read(self, key: str, data: dict[str, Any] | None) -> Record | None:
        if data is None:
            return None
        now = self.clock()
        expires_at = _seconds(data.get(EXPIRES_AT))
        expired = expires_at is not None and now >= expires_at
        until = _seconds(data.get(TOMBSTONE_UNTIL))
        if until is not None and data.get(self.kind.state_field) == self.kind.tombstone:
            return None if now >= until else Record(self.kind, key, data, expired)
        if expires_at is not None and now >= expires_at + self.kind.grace:
            return None
        return Record(self.kind, key, data, expired)

    def get(self, record_id: object) -> Record | None:
        """The record of ``record_id``, or ``None`` (absent, past its grace, or not an id)."""
        if not isinstance(record_id, str) or not record_id:
            return None
        key = self.key(record_id)
        return self._read(key, self.store.get(key))

    def read(self, key: str) -> Record | None:
        """The record under ``key`` (from :attr:`Record.key`), or ``None``."""
        return self._read(key, self.store.get(key))

    def found(self, key: str, data: dict[str, Any] | None) -> Record | None:
        """:meth:`read` of what the store has just answered for ``key`` (one of the reads of a
        ``get_many``)."""
        return self._read(key, data)

    # -- writing -------------------------------------------------------------------------------
    def _ttl(self, expires_at: float) -> int:
        return max(1, math.ceil(expires_at + self.kind.grace - self.clock()))

    def _expiry(self, lifetime: int) -> int:
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime < 1:
            raise ValueError(f"lifetime is a whole number of seconds >= 1, got {lifetime!r}")
        return int(self.clock()) + lifetime

    def create(
        self,
        record_id: str,
        data: Mapping[str, Any],
        *,
        lifetime: int,
        state: str | None = None,
        exclusive: bool = False,
        batch: Batch | None = None,
    ) -> Record:
        """Store a new record living ``lifetime`` seconds (``expires_at`` is set here).

        ``state``: one of the kind's initial states (the first by default). ``exclusive``:
        never overwrite (``add``), raising :class:`RecordCollision` if the id is taken.
        ``batch``: written when that :class:`~santeid.storage.base.Batch` runs (not with
        ``exclusive``, whose outcome is needed at once).
        """
        if exclusive and batch is not None:
            raise ValueError("an exclusive creation is not batched: its outcome is needed now")
        written = dict(data)
        if self.kind.initial:
            chosen = self.kind.initial[0] if state is None else state
            if chosen not in self.kind.initial:
                raise TransitionNotAllowed(f"{self.kind.name}: not created {chosen!r}")
            written[self.kind.state_field] = chosen
        elif state is not None:
            raise TransitionNotAllowed(f"{self.kind.name} has no states")
        expires_at = self._expiry(lifetime)
        written[EXPIRES_AT] = expires_at
        key = self.key(record_id)
        ttl = lifetime + self.kind.grace
        if exclusive:
            if not self.store.add(key, written, ttl):
                raise RecordCollision(f"{self.kind.name}: id already taken")
        elif batch is not None:
            batch.put(key, written, ttl)
        else:
            self.store.put(key, written, ttl)
        return Record(self.kind, key, written)

    def _changes(self, changes: Mapping[str, Any] | None, lifetime: int | None) -> dict[str, Any]:
        merged = dict(changes or {})
        if self.kind.state_field in merged and self.kind.initial:
            raise TransitionNotAllowed(f"{self.kind.name}: the state moves by transition only")
        if lifetime is not None:
            merged[EXPIRES_AT] = self._expiry(lifetime)
        return merged

    def transition(
        self,
        key: str,
        from_state: str,
        to_state: str,
        changes: Mapping[str, Any] | None = None,
        *,
        lifetime: int | None = None,
        current: Mapping[str, Any] | None = None,
        matching: Mapping[str, Any] | None = None,
    ) -> Record | None:
        """Compare-and-set ``from_state`` → ``to_state``, merging ``changes``; ``None`` if the
        record is gone or no longer in ``from_state`` (another writer won). ``matching``:
        fields the record must hold too, checked in the same compare-and-set.

        ``to_state`` equal to ``from_state`` changes the record only while it is in that state.
        ``lifetime``: the record now expires ``lifetime`` seconds from now (else it keeps its
        expiry; ``changes`` may still bring ``expires_at`` closer, as "expire now" does).
        ``current``: the record's data as read in this request (:attr:`Record.data`), which
        spares the store reading it again (:meth:`EphemeralStore.transition`); stale or left
        out, the outcome is the same.

        :raises TransitionNotAllowed: the kind does not allow this move.
        """
        expected, merged, ttl = self._move(from_state, to_state, changes, lifetime, matching)
        data = self.store.transition(key, expected, merged, ttl=ttl, current=current)
        return self._read(key, data)

    def transition_in(
        self,
        batch: Batch,
        key: str,
        from_state: str,
        to_state: str,
        changes: Mapping[str, Any] | None = None,
        *,
        lifetime: int | None = None,
        current: Mapping[str, Any] | None = None,
        matching: Mapping[str, Any] | None = None,
    ) -> PendingRecord:
        """:meth:`transition`, done when ``batch`` runs."""
        expected, merged, ttl = self._move(from_state, to_state, changes, lifetime, matching)
        pending = batch.transition(key, expected, merged, ttl=ttl, current=current)
        return PendingRecord(pending, lambda data: self._read(key, data))

    def _move(
        self,
        from_state: str,
        to_state: str,
        changes: Mapping[str, Any] | None,
        lifetime: int | None,
        matching: Mapping[str, Any] | None,
    ) -> tuple[dict[str, Any], dict[str, Any], int | None]:
        """What the store compares and writes for a move ``from_state`` → ``to_state``."""
        stays = from_state == to_state and from_state in self.kind.states
        if not (stays or self.kind.allows(from_state, to_state)):
            raise TransitionNotAllowed(f"{self.kind.name}: {from_state} → {to_state}")
        merged = self._changes(changes, lifetime)
        merged[self.kind.state_field] = to_state
        ttl = None if lifetime is None else self._ttl(merged[EXPIRES_AT])
        expected = {**(matching or {}), self.kind.state_field: from_state}
        return expected, merged, ttl

    def update(
        self,
        key: str,
        changes: Mapping[str, Any],
        *,
        lifetime: int | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> Record | None:
        """Merge ``changes`` (never the state) into the record; ``None`` if it is gone.
        ``lifetime`` and ``current`` as in :meth:`transition`."""
        merged = self._changes(changes, lifetime)
        ttl = None if lifetime is None else self._ttl(merged[EXPIRES_AT])
        return self._read(key, self.store.update(key, merged, ttl=ttl, current=current))

    def update_in(
        self,
        batch: Batch,
        key: str,
        changes: Mapping[str, Any],
        *,
        lifetime: int | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> PendingRecord:
        """:meth:`update`, done when ``batch`` runs."""
        merged = self._changes(changes, lifetime)
        ttl = None if lifetime is None else self._ttl(merged[EXPIRES_AT])
        pending = batch.update(key, merged, ttl=ttl, current=current)
        return PendingRecord(pending, lambda data: self._read(key, data))

    def consume(
        self,
        key: str,
        from_state: str | None = None,
        changes: Mapping[str, Any] | None = None,
        *,
        tombstone_lifetime: int | None = None,
        current: Mapping[str, Any] | None = None,
        matching: Mapping[str, Any] | None = None,
    ) -> Record | None:
        """Take the record once: of concurrent callers exactly one gets it, the others
        ``None``. ``current`` as in :meth:`transition` (a kind consumed by delete needs none).
        ``matching``: fields the record must hold too, checked in the same compare-and-set
        (a kind with a tombstone only): a record that differs is left untouched, ``None``.

        With a tombstone, the record moves ``from_state`` → the tombstone state (merging
        ``changes``; kept ``tombstone_lifetime`` seconds from now, else its own remaining
        life) and the record *as consumed* is returned; a later :meth:`get` reads the tombstone.
        Without, the record is deleted and returned as it was (``from_state``, ``changes``
        and ``tombstone_lifetime`` must then be left out). A record past its expiry is never
        returned: the expiry is checked on the record as it was consumed, in the same store
        operation.
        """
        tombstone = self.kind.tombstone
        if tombstone is None:
            # Consuming by delete cannot check a state: only a kind with at most one may.
            if len(self.kind.states) > 1:
                raise TransitionNotAllowed(f"{self.kind.name} has no tombstone to consume to")
            if from_state is not None or changes or tombstone_lifetime is not None or matching:
                raise TransitionNotAllowed(f"{self.kind.name} is deleted when consumed")
            taken = self._read(key, self.store.pop(key))
            return None if taken is None or taken.expired else taken
        expected, merged, ttl = self._consumption(from_state, changes, tombstone_lifetime)
        expected = {**(matching or {}), **expected}
        data = self.store.transition(key, expected, merged, ttl=ttl, current=current)
        return self._consumed(key, data)

    def consume_in(
        self,
        batch: Batch,
        key: str,
        from_state: str,
        changes: Mapping[str, Any] | None = None,
        *,
        tombstone_lifetime: int | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> PendingRecord:
        """:meth:`consume` to the kind's tombstone, done when ``batch`` runs: of concurrent
        consumptions, batched or not, exactly one gets the record."""
        expected, merged, ttl = self._consumption(from_state, changes, tombstone_lifetime)
        pending = batch.transition(key, expected, merged, ttl=ttl, current=current)
        return PendingRecord(pending, lambda data: self._consumed(key, data))

    def _consumption(
        self,
        from_state: str | None,
        changes: Mapping[str, Any] | None,
        tombstone_lifetime: int | None,
    ) -> tuple[dict[str, Any], dict[str, Any], int | None]:
        """``(expected, changes, ttl)`` of the store transition that consumes a record."""
        tombstone = self.kind.tombstone
        if tombstone is None or from_state is None or not self.kind.allows(from_state, tombstone):
            raise TransitionNotAllowed(f"{self.kind.name}: {from_state} → {tombstone}")
        merged = self._changes(changes, None)
        merged[self.kind.state_field] = tombstone
        merged[CONSUMED_AT] = self.clock()
        ttl = None
        if tombstone_lifetime is not None:
            until = self._expiry(tombstone_lifetime)
            merged[TOMBSTONE_UNTIL] = until
            ttl = max(1, math.ceil(until - self.clock()))
        return {self.kind.state_field: from_state}, merged, ttl

    def _consumed(self, key: str, data: dict[str, Any] | None) -> Record | None:
        if data is None:
            return None
        expires_at = _seconds(data.get(EXPIRES_AT))
        if expires_at is not None and self.clock() >= expires_at:
            # Consumed after its expiry: the tombstone stands, the consumption does not count.
            return None
        return Record(self.kind, key, data)

    def give_back(self, consumed: Record, to_state: str) -> Record | None:
        """Undo the consumption that returned ``consumed`` (:meth:`consume` to a tombstone)
        when what it was taken for could not be done: a compare-and-set from the tombstone back
        to ``to_state``, made only while the tombstone is still the one this consumption wrote
        (same ``consumed_at``). The record gets its own ``expires_at`` and lifetime back (the
        tombstone's ``consumed_at`` and ``tombstone_until`` are cleared). ``None`` if the
        tombstone is gone or is not this consumption's.

        :raises TransitionNotAllowed: the kind does not allow the move back to ``to_state``,
            or ``consumed`` is not a record as a consumption returned it.
        """
        tombstone = self.kind.tombstone
        if tombstone is None or not self.kind.allows(tombstone, to_state):
            raise TransitionNotAllowed(f"{self.kind.name}: {tombstone} → {to_state}")
        consumed_at = _seconds(consumed.get(CONSUMED_AT))
        if consumed.state != tombstone or consumed_at is None:
            raise TransitionNotAllowed(f"{self.kind.name}: only a consumed record is given back")
        state = self.kind.state_field
        expected = {state: tombstone, CONSUMED_AT: consumed_at}
        changes = {state: to_state, CONSUMED_AT: None, TOMBSTONE_UNTIL: None}
        expires_at = _seconds(consumed.get(EXPIRES_AT))
        ttl = None if expires_at is None else self._ttl(expires_at)
        data = self.store.transition(
            consumed.key, expected, changes, ttl=ttl, current=consumed.data
        )
        return self._read(consumed.key, data)

    def delete(self, key: str) -> bool:
        """Forget the record; ``True`` if it existed."""
        return self.store.delete(key) > 0


class PendingRecord:
    """A record operation of a :class:`~santeid.storage.base.Batch`: :attr:`value` is what
    the operation alone would have returned, once the batch has run."""

    def __init__(
        self, pending: Pending, finish: Callable[[dict[str, Any] | None], Record | None]
    ) -> None:
        self._pending = pending
        self._finish = finish

    @property
    def value(self) -> Record | None:
        return self._finish(self._pending.value)


def _seconds(value: object) -> float | None:
    """A stored instant, or ``None`` when the field is absent (records older than it)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


# -- every short-lived record of santeid (``docs/storage.md``, "Records") --------------------

LOGIN_TRANSACTION = RecordKind(
    name="login transaction",
    namespace=keys.LOGIN,
    hashed_id=False,
    lifetime="`login_transaction_lifetime`",
    initial=("identify",),
    transitions={
        # ``done`` before a proof: the browser's SSO session answered it (another tab logged in).
        "identify": ("waiting", "approved", "done"),
        "waiting": ("approved", "failed", "done"),
        # A retry (another authenticator, or the offline code after a failed push).
        "failed": ("identify", "waiting", "approved", "done"),
        "approved": ("done",),
    },
)
AUTHORIZATION_CODE = RecordKind(
    name="authorization code",
    namespace=keys.CODE,
    hashed_id=True,
    lifetime="`authorization_code_lifetime`",
    initial=("issued",),
    transitions={"issued": ("consumed",)},
    tombstone="consumed",
    # A replay long after the code's own life must still find the family to revoke.
    tombstone_lifetime="`refresh_token_lifetime`",
)
SSO_SESSION = RecordKind(
    name="SSO session",
    namespace=keys.SSO,
    hashed_id=False,
    lifetime="min(`sso_idle_timeout`, what remains of `sso_max_lifetime`), renewed on use",
)
REFRESH_TOKEN_FAMILY = RecordKind(
    name="refresh-token family",
    namespace=keys.FAMILY,
    hashed_id=False,
    lifetime="min(`refresh_token_lifetime`, `sso_idle_timeout`), renewed with each refresh "
    "token, never past the session's maximum",
    initial=("active",),
    transitions={"active": ("revoked",)},
)
REFRESH_TOKEN = RecordKind(
    name="refresh token",
    namespace=keys.REFRESH_TOKEN,
    hashed_id=False,
    lifetime="min(`refresh_token_lifetime`, `sso_idle_timeout`), never past the session's maximum",
    initial=("active",),
)
CIBA_REQUEST = RecordKind(
    name="CIBA request",
    namespace=keys.CIBA_REQUEST,
    hashed_id=True,
    lifetime="the request's `expires_in`",
    initial=("pending", "approved"),
    transitions={"pending": ("approved", "denied"), "approved": ("consumed",)},
    tombstone="consumed",
    grace=keys.REQUEST_GRACE,
)
ECPS_REQUEST = RecordKind(
    name="e-CPS request",
    namespace=keys.ECPS_REQUEST,
    hashed_id=False,
    lifetime="`ecps_request_lifetime`, or the CIBA request's",
    initial=("pending",),
    transitions={"pending": ("approved", "denied", "failed")},
    state_field="status",
    grace=keys.REQUEST_GRACE,
)
ECPS_ACTIVATION_CODE = RecordKind(
    name="e-CPS activation code",
    namespace=keys.ECPS_ACTIVATION,
    hashed_id=True,
    lifetime="`ecps_activation_code_lifetime`",
    initial=("issued",),
    # Given back (``used`` → ``issued``) when the device it was redeemed for could not be
    # written because the database was unavailable.
    transitions={"issued": ("used",), "used": ("issued",)},
    tombstone="used",
    tombstone_lifetime=keys.duration(keys.USED_ACTIVATION_CODE_MEMORY),
)
ECPS_CODE_PAIR = RecordKind(
    name="e-CPS activation code pair",
    namespace=keys.ECPS_CODE_PAIR,
    hashed_id=False,
    lifetime=keys.duration(keys.ECPS_CODE_PAIR_LIFETIME),
)
PUSHED_AUTHORIZATION_REQUEST = RecordKind(
    name="pushed authorization request",
    namespace=keys.PUSHED_REQUEST,
    hashed_id=False,
    lifetime="`par_lifetime`",
    # Consumed by a compare-and-set that checks its client too: a request_uri presented with
    # another client_id is left for the client that pushed it.
    initial=("pushed",),
    transitions={"pushed": ("used",)},
    tombstone="used",
)
ADMIN_SESSION = RecordKind(
    name="admin console session",
    namespace=keys.ADMIN_SESSION,
    # The id is the cookie's bearer value: a dump of the store must not hand out sessions.
    hashed_id=True,
    lifetime=keys.ADMIN_SESSION.lifetime + ", renewed on use",
)
ADMIN_FLASH = RecordKind(
    name="admin console flash",
    namespace=keys.ADMIN_FLASH,
    # Its id holds the session's: a dump of the store must not hand it out.
    hashed_id=True,
    lifetime=keys.ADMIN_FLASH.lifetime,
)

#: Every record kind, in the order of ``docs/storage.md``.
KINDS: tuple[RecordKind, ...] = (
    LOGIN_TRANSACTION,
    AUTHORIZATION_CODE,
    SSO_SESSION,
    REFRESH_TOKEN_FAMILY,
    REFRESH_TOKEN,
    CIBA_REQUEST,
    ECPS_REQUEST,
    ECPS_ACTIVATION_CODE,
    ECPS_CODE_PAIR,
    PUSHED_AUTHORIZATION_REQUEST,
    ADMIN_SESSION,
    ADMIN_FLASH,
)

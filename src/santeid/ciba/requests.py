"""The CIBA authentication request record (CIBA Core 1.0 §7.3, §10, §11).

One record of kind :data:`~santeid.storage.records.CIBA_REQUEST` per back-channel request,
stored by the digest of its ``auth_req_id``: the store never holds a usable ``auth_req_id``
(same rule as authorization codes, ``docs/storage.md``). Its ``state`` moves only by
compare-and-set (:meth:`~santeid.storage.records.RecordBook.transition`)::

    pending ──► approved ──► consumed      (tokens issued once: poll / ping at the token
       │                                    endpoint, or push delivery)
       └──────► denied                      (the professional refused, the device failed)

``expired`` is never stored: a ``pending`` or ``approved`` record past ``expires_at`` *reads*
as expired, and the record itself lives ``RECORD_MARGIN`` seconds longer (the kind's
``grace``) so that a late poll gets ``expired_token`` rather than ``invalid_grant``.
``consumed`` is a tombstone, not a delete: a replayed ``auth_req_id`` is recognised (and the
tokens it gave revoked).

Fields (all JSON): ``client_id``, ``national_id``, ``scope``, ``acr_values``,
``binding_message``, ``channel`` (``MOBILE``/``CARD``), ``mode`` (``poll``/``ping``/``push``),
``created_at``, ``expires_at``, ``interval`` (grows by 5 s on each ``slow_down``),
``last_poll``, ``ecps_request`` (the e-CPS request of the MOBILE channel), ``challenge``
(CARD channel), ``auth`` (the :class:`~santeid.oidc.authentication.Authentication` once
approved), ``error`` (``access_denied`` once denied), ``notification`` (ping/push: the
sealed ``auth_req_id`` and ``client_notification_token``), ``fid`` (token family once
consumed), ``pings`` (ping mode: the pings sent while it was approved) and ``ping_answers``
(how many presentations of the consumed ``auth_req_id`` were taken as answers to them,
:meth:`CibaRequestBook.answer_to_a_ping`).

``keys.CIBA_ECPS_LINK`` maps the phone's request back to the CIBA record, so that a decision
taken on the device (in any worker) completes the CIBA request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.storage import EphemeralStore
from santeid.storage import keys
from santeid.storage.base import Batch
from santeid.storage.records import CIBA_REQUEST
from santeid.storage.records import PendingRecord
from santeid.storage.records import Record
from santeid.storage.records import RecordBook

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
CONSUMED = "consumed"
#: Read-only state: a pending or approved request past its ``expires_at``.
EXPIRED = "expired"

#: Seconds a record outlives its expiry, so a late poll reads ``expired_token``.
RECORD_MARGIN = CIBA_REQUEST.grace

#: ``auth_req_id``: 32 random bytes, URL-safe base64 (256 bits; CIBA Core §7.3 asks for at
#: least 128 bits of entropy).
AUTH_REQ_ID_BYTES = 32
#: Longest ``auth_req_id`` looked up (ours are 43 characters).
MAX_AUTH_REQ_ID_LENGTH = 256


def new_auth_req_id() -> str:
    return secrets.token_urlsafe(AUTH_REQ_ID_BYTES)


@dataclass(frozen=True)
class CibaRequest:
    """One record as read from the store; ``state`` says ``expired`` when it is."""

    key: str
    data: dict[str, Any]
    state: str

    @property
    def client_id(self) -> str:
        return self.data["client_id"]

    @property
    def national_id(self) -> str:
        return self.data["national_id"]

    @property
    def scope(self) -> str:
        return self.data["scope"]

    @property
    def mode(self) -> str:
        return self.data["mode"]

    @property
    def channel(self) -> str:
        return self.data["channel"]

    @property
    def expires_at(self) -> int:
        return self.data["expires_at"]

    @property
    def interval(self) -> int:
        return int(self.data.get("interval", 0))

    @property
    def stored_state(self) -> str:
        return self.data["state"]

    # Authlib's grants ask these of a credential (``DeviceCredentialMixin``).
    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.state == EXPIRED


class CibaRequestBook:
    """The CIBA requests in the ephemeral store; every state change is a compare-and-set."""

    def __init__(self, store: EphemeralStore, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.records = RecordBook(store, CIBA_REQUEST, clock=clock)

    @staticmethod
    def _read(record: Record | None) -> CibaRequest | None:
        if record is None:
            return None
        state = record["state"]
        if state in (PENDING, APPROVED) and record.expired:
            state = EXPIRED
        return CibaRequest(record.key, record.data, state)

    def create(
        self,
        auth_req_id: str,
        record: dict[str, Any],
        lifetime: int,
        *,
        approved: dict[str, Any] | None = None,
    ) -> CibaRequest:
        """Store a new request, ``pending`` — or already ``approved`` with the authentication
        ``approved`` (sandbox auto-approval: one write instead of a write and a move).
        ``expires_at`` is ``lifetime`` seconds from now."""
        data = dict(record) if approved is None else {**record, "auth": approved}
        # Exclusive: an identifier collision (2^-256) must never overwrite a request.
        created = self.records.create(
            auth_req_id,
            data,
            lifetime=lifetime,
            state=PENDING if approved is None else APPROVED,
            exclusive=True,
        )
        return CibaRequest(created.key, created.data, created["state"])

    def get(self, auth_req_id: Any) -> CibaRequest | None:
        if not isinstance(auth_req_id, str) or not 0 < len(auth_req_id) <= MAX_AUTH_REQ_ID_LENGTH:
            return None
        return self._read(self.records.get(auth_req_id))

    def get_by_key(self, key: str) -> CibaRequest | None:
        return self._read(self.records.read(key))

    def transition(
        self, key: str, from_state: str, to_state: str, changes: dict[str, Any] | None = None
    ) -> CibaRequest | None:
        """Move a request from ``from_state`` to ``to_state`` (``from_state`` again: change it
        only if it is still there); ``None`` if another writer moved it first."""
        return self._read(self.records.transition(key, from_state, to_state, changes))

    def consume(self, request: CibaRequest, changes: dict[str, Any]) -> CibaRequest | None:
        """``approved`` → the ``consumed`` tombstone, once; ``None`` for every other caller.
        The request as read is the store's starting point (no second read when unchanged)."""
        return self._read(
            self.records.consume(request.key, APPROVED, changes, current=request.data)
        )

    def consume_in(
        self, batch: Batch, request: CibaRequest, changes: dict[str, Any]
    ) -> PendingRecord:
        """:meth:`consume`, done when ``batch`` runs (its ``value``: the tombstone, or
        ``None`` for every caller but one)."""
        return self.records.consume_in(batch, request.key, APPROVED, changes, current=request.data)

    def note_ping(self, request: CibaRequest) -> CibaRequest | None:
        """One more ping of an approved request counted, by compare-and-set from ``approved``
        (and from the count as read): ``None`` once it is no longer approved (a poll redeemed
        it), and then no ping is sent. A request has one delivery, whose attempts follow one
        another: the count read is the count stored."""
        sent = request.data.get("pings")
        return self._read(
            self.records.transition(
                request.key,
                APPROVED,
                APPROVED,
                {"pings": (sent or 0) + 1, "ping_answers": 0},
                current=request.data,
                matching=None if sent is None else {"pings": sent},
            )
        )

    def answer_to_a_ping(self, request: CibaRequest) -> bool:
        """A consumed ping request presented again by its client: ``True`` for as many such
        presentations as pings were sent while it was approved, each counted by compare-and-set
        (concurrent presentations are never taken for more answers than there were pings);
        ``False`` beyond, a replay.

        CIBA Core §7.3 gives a ping client an ``interval`` to poll with: a client that polls
        while its ping is on the way presents the ``auth_req_id`` once by its poll and once in
        answer to the ping (§10.2), whichever comes first takes the tokens, and the other is
        no replay."""
        current: CibaRequest | None = request
        while current is not None and current.stored_state == CONSUMED:
            answered = current.data.get("ping_answers")
            if not isinstance(answered, int) or answered >= current.data.get("pings", 0):
                return False
            counted = self.records.transition(
                current.key,
                CONSUMED,
                CONSUMED,
                {"ping_answers": answered + 1},
                current=current.data,
                matching={"ping_answers": answered},
            )
            if counted is not None:
                return True
            current = self.get_by_key(current.key)  # another presentation counted first
        return False

    def note(self, request: CibaRequest, changes: dict[str, Any]) -> None:
        """Merge ``changes`` (never the state) into the request, as read."""
        self.records.update(request.key, changes, current=request.data)

    def note_poll(self, request: CibaRequest, now: float, interval: int) -> None:
        """Remember when the client polled and the interval it must now respect (§11
        ``slow_down``). A plain merge: two concurrent polls of one request both count."""
        self.note(request, {"last_poll": now, "interval": interval})

    def note_expiry_once(self, request: CibaRequest) -> bool:
        """``True`` for the first caller only, whichever worker or host: a marker added only
        if absent (atomic), living as long as the record may."""
        digest = request.key.removeprefix(keys.CIBA_REQUEST.prefix)
        marker = keys.CIBA_EXPIRY_NOTED.key(digest)
        return self.store.add(marker, {}, RECORD_MARGIN)

    def link_ecps(self, ecps_request_id: str, key: str, lifetime: int) -> None:
        link = keys.CIBA_ECPS_LINK.key(ecps_request_id)
        self.store.put(link, {"key": key}, lifetime + RECORD_MARGIN)

    def key_for_ecps(self, ecps_request_id: str) -> str | None:
        found = self.store.get(keys.CIBA_ECPS_LINK.key(ecps_request_id))
        return None if found is None else found.get("key")

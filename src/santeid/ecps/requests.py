"""Authentication requests: what a professional approves on the phone.

A request is born when the login page (``kind="browser"``) or a CIBA call (``kind="ciba"``,
docs/reference/pro-sante-connect.md §14) needs the professional's e-CPS, and is decided once by one
of their devices.

* **Browser** requests carry three distinct two-digit *candidates*, one of which is the
  *dynamic code* shown on the login page; the professional enters the PIN, then picks the code
  seen on the screen (docs/reference/pro-sante-connect.md §13: "saisie du mot de passe e-CPS, puis
  sélection du code
  dynamique … parmi les trois valeurs proposées sur le téléphone portable"). The right code is
  never sent to the device (except the sandbox hint, see ``api.py``).
* **CIBA** requests carry the relying party's ``binding_message`` instead (CIBA Core §7.1).

Storage (``docs/storage.md``): a record of kind :data:`~santeid.storage.records.ECPS_REQUEST`
stays readable ``RECORD_MARGIN`` seconds past its expiry (the kind's ``grace``), so its final
status stays readable a while after it expired (the login page and the CIBA token endpoint poll
it). ``keys.ECPS_PENDING`` is the set of the professional's requests, each member
``"<expires_at>:<id>"``: the store contract has no "remove member", so dead members stay until
the set expires, and the expiry written into each member lets a listing skip them without
reading their record. Every status change is a
:meth:`~santeid.storage.records.RecordBook.transition` from ``pending``, so a request is
decided exactly once even when two devices (or a device and the login page's cancel) race.

Status is ``pending`` → ``approved`` | ``denied`` | ``failed`` (with a ``failure`` reason:
``wrong_code``, ``pin_locked``, ``cancelled``, ``replaced`` — withdrawn for a newer one of
the same professional, ``EcpsService``; never a request of the sandbox phone, which answers
each of its requests on its own). ``expired`` is never stored: a pending request whose
``expires_at`` has passed *reads* as expired.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.storage import EphemeralStore
from santeid.storage import keys
from santeid.storage.records import ECPS_REQUEST
from santeid.storage.records import Record
from santeid.storage.records import RecordBook

KIND_BROWSER = "browser"
KIND_CIBA = "ciba"

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
FAILED = "failed"
EXPIRED = "expired"

#: The ``failure`` of a request withdrawn for a newer one of the same professional
#: (``EcpsService._withdraw_older``): the login page says so, and its CIBA denial is notified
#: once, never retried (docs/ciba.md, "Delivery rules").
FAILURE_REPLACED = "replaced"

#: The record member of a request the sandbox phone made, and answers by scenario
#: (``santeid.sandbox.phone``): what it needs to answer it, written with the request.
SANDBOX_PHONE = "sandbox_phone"

#: Seconds a request record outlives its expiry, for late readers of its final status.
RECORD_MARGIN = ECPS_REQUEST.grace

#: ``secrets.token_urlsafe(24)``: 192 random bits, 32 characters of the URL-safe alphabet.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")

_random = secrets.SystemRandom()


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


def draw_code_and_candidates() -> tuple[str, list[str]]:
    """The dynamic code and three distinct candidates "00"–"99" containing it, in random
    order (docs/reference/pro-sante-connect.md §13). ``SystemRandom``: the position of the right
    code must not be
    predictable."""
    candidates = [f"{value:02d}" for value in _random.sample(range(100), 3)]
    return _random.choice(candidates), candidates


@dataclass(frozen=True)
class AuthRequest:
    """One authentication request as read from the store (``status`` already says
    ``expired`` for a pending request past its ``expires_at``)."""

    request_id: str
    national_id: str
    kind: str
    client_name: str
    status: str
    created_at: int
    expires_at: int
    candidates: tuple[str, ...] = ()
    code: str | None = None
    binding_message: str | None = None
    client_id: str | None = None
    requested_from: str | None = None
    failure: str | None = None
    device_id: str | None = None
    amr: list[str] | None = None
    decided_at: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.request_id

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @property
    def sandbox_phone(self) -> dict[str, Any] | None:
        """What the sandbox phone noted when it made this request; ``None``: a request for
        the professional's e-CPS devices."""
        return self.raw.get(SANDBOX_PHONE)

    def device_view(self, *, sandbox_hint: bool = False) -> dict[str, Any]:
        """The item a device receives (never the right code, except the sandbox hint): the
        service asking (``client_name``, ``client_id``), when (``created_at``), through which
        channel (``kind``) and, for a browser login, from which address (``requested_from``)."""
        item: dict[str, Any] = {
            "request_id": self.request_id,
            "kind": self.kind,
            "client_name": self.client_name,
            "client_id": self.client_id,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }
        if self.kind == KIND_BROWSER:
            item["requested_from"] = self.requested_from
            item["candidates"] = list(self.candidates)
            if sandbox_hint:
                item["sandbox_expected_code"] = self.code
        else:
            item["binding_message"] = self.binding_message
        return item

    @classmethod
    def from_record(cls, stored: Record) -> AuthRequest:
        record = stored.data
        status = record["status"]
        if status == PENDING and stored.expired:
            status = EXPIRED
        return cls(
            request_id=record["id"],
            national_id=record["national_id"],
            kind=record["kind"],
            client_name=record["client_name"],
            status=status,
            created_at=record["created_at"],
            expires_at=record["expires_at"],
            candidates=tuple(record.get("candidates") or ()),
            code=record.get("code"),
            binding_message=record.get("binding_message"),
            client_id=record.get("client_id"),
            requested_from=record.get("requested_from"),
            failure=record.get("failure"),
            device_id=record.get("device_id"),
            amr=record.get("amr"),
            decided_at=record.get("decided_at"),
            raw=record,
        )


class RequestBook:
    """The authentication requests in the ephemeral store."""

    def __init__(self, store: EphemeralStore, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock
        self.records = RecordBook(store, ECPS_REQUEST, clock=clock)

    def create(
        self,
        national_id: str,
        *,
        kind: str,
        client_name: str,
        lifetime: int,
        binding_message: str | None = None,
        client_id: str | None = None,
        requested_from: str | None = None,
        sandbox_phone: dict[str, Any] | None = None,
    ) -> AuthRequest:
        """A pending request; ``sandbox_phone``: made by the sandbox phone, with what it
        needs to answer it (:data:`SANDBOX_PHONE`)."""
        if kind not in (KIND_BROWSER, KIND_CIBA):
            raise ValueError(f"unknown request kind {kind!r}")
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime < 1:
            raise ValueError(f"lifetime is a whole number of seconds >= 1, got {lifetime!r}")
        now = int(self.clock())
        request_id = secrets.token_urlsafe(24)
        record: dict[str, Any] = {
            "id": request_id,
            "national_id": national_id,
            "kind": kind,
            "client_name": client_name,
            "client_id": client_id,
            "requested_from": requested_from,
            "failure": None,
            "created_at": now,
            "device_id": None,
            "amr": None,
            "decided_at": None,
        }
        if kind == KIND_BROWSER:
            record["code"], record["candidates"] = draw_code_and_candidates()
        else:
            record["code"], record["candidates"] = None, []
            record["binding_message"] = binding_message
        if sandbox_phone is not None:
            record[SANDBOX_PHONE] = sandbox_phone
        # Record first, index second (in one round trip): a device that sees the id can always
        # read it.
        writes = self.store.batch()
        created = self.records.create(request_id, record, lifetime=lifetime, batch=writes)
        writes.add_member(
            keys.ECPS_PENDING.key(national_id),
            f"{created['expires_at']}:{request_id}",
            lifetime + RECORD_MARGIN,
        )
        writes.run()
        return AuthRequest.from_record(created)

    def get(self, request_id: str) -> AuthRequest | None:
        if not is_request_id(request_id):
            return None
        record = self.records.get(request_id)
        return None if record is None else AuthRequest.from_record(record)

    def pending_for(self, national_id: str, *, besides: str | None = None) -> list[AuthRequest]:
        """The professional's pending, unexpired requests, oldest first; ``besides``: a
        request id left out (not read)."""
        now = self.clock()
        found = []
        for member in self.store.members(keys.ECPS_PENDING.key(national_id)):
            expires_at, _, request_id = member.partition(":")
            # Members of expired requests are skipped without a store read.
            if not expires_at.isdigit() or int(expires_at) <= now or request_id == besides:
                continue
            request = self.get(request_id)
            if request is not None and request.is_pending and request.national_id == national_id:
                found.append(request)
            elif request is not None and request.national_id == national_id:
                # Decided without leaving the index (e.g. expired early by the sandbox):
                # dropped now, so that it is read once only.
                self.store.remove_member(keys.ECPS_PENDING.key(national_id), member)
        found.sort(key=lambda r: (r.created_at, r.request_id))
        return found

    def decide(
        self, request_id: str, changes: dict[str, Any], *, current: AuthRequest | None = None
    ) -> AuthRequest | None:
        """Move a pending request to its outcome; ``None`` if it was no longer pending, has
        expired (or is gone). Compare-and-set on ``status`` and ``expires_at``: of concurrent
        deciders exactly one wins, and a request expired before its decision (or made to expire
        meanwhile, :meth:`expire_now`) stays undecided, however long the decision took.
        ``current``: the request as read in this request (spares the store a read)."""
        key = self.records.key(request_id)
        stored = None if current is None else current.raw
        if stored is None:
            found = self.records.read(key)
            if found is None:
                return None
            stored = found.data
        now = self.clock()
        expires_at = stored.get("expires_at")
        if expires_at is not None and now >= expires_at:
            return None
        changes = {**changes, "decided_at": int(now)}
        outcome = changes.pop("status")
        writes = self.store.batch()
        decided = self.records.transition_in(
            writes,
            key,
            PENDING,
            outcome,
            changes,
            current=stored,
            matching=None if expires_at is None else {"expires_at": expires_at},
        )
        # Out of the professional's pending index at once, in the same round trip: pending_for
        # reads only what may still be pending, however many logins the professional made (CPU
        # per login must not grow with them). Should the decision lose, the request was
        # decided by another, or expired early (expire_now): out of the index all the same.
        writes.remove_member(
            keys.ECPS_PENDING.key(stored["national_id"]), f"{expires_at}:{request_id}"
        )
        writes.run()
        record = decided.value
        return None if record is None else AuthRequest.from_record(record)

    def note(
        self, request_id: str, changes: dict[str, Any], *, current: AuthRequest | None = None
    ) -> None:
        """Merge ``changes`` (never the status) into the request; ``current`` as in
        :meth:`decide`."""
        self.records.update(
            self.records.key(request_id),
            changes,
            current=None if current is None else current.raw,
        )

    def expire_now(self, request_id: str) -> AuthRequest | None:
        """Let a pending request expire now; ``None`` if it was no longer pending."""
        now = int(self.clock())
        key = self.records.key(request_id)
        record = self.records.transition(key, PENDING, PENDING, {"expires_at": now})
        return None if record is None else AuthRequest.from_record(record)

    def note_wrong_pin(self, request_id: str, remaining_attempts: int) -> None:
        """Remember that the phone typed a wrong PIN for this pending request (the request
        stays pending), so the login page can say so while it waits."""
        request = self.get(request_id)
        if request is None:
            return
        ttl = max(1, int(request.expires_at - self.clock())) + RECORD_MARGIN
        note = {"remaining_attempts": remaining_attempts}
        self.store.put(keys.ECPS_WRONG_PIN.key(request_id), note, ttl)

    def wrong_pin(self, request_id: str) -> int | None:
        """Attempts left after the last wrong PIN typed for this request, or ``None``."""
        if not is_request_id(request_id):
            return None
        note = self.store.get(keys.ECPS_WRONG_PIN.key(request_id))
        return None if note is None else int(note["remaining_attempts"])

    def cancel(self, request_id: str) -> bool:
        """Withdraw a pending request (the login ended otherwise); ``True`` if it was pending."""
        if not is_request_id(request_id):
            return False
        return self.decide(request_id, {"status": FAILED, "failure": "cancelled"}) is not None

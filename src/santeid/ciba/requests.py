"""The CIBA authentication request record (CIBA Core 1.0 §7.3, §10, §11).

One record per back-channel request, in the ephemeral store under
``ciba:<sha256(auth_req_id)>``: the store never holds a usable ``auth_req_id`` (same rule as
authorization codes, ``docs/storage.md``). Its ``state`` moves only by compare-and-set
(:meth:`~santeid.storage.EphemeralStore.transition`)::

    pending ──► approved ──► consumed      (tokens issued once: poll / ping at the token
       │                                    endpoint, or push delivery)
       └──────► denied                      (the professional refused, the device failed)

``expired`` is never stored: a ``pending`` or ``approved`` record past ``expires_at`` *reads*
as expired, and the record itself lives ``RECORD_MARGIN`` seconds longer so that a late poll
gets ``expired_token`` rather than ``invalid_grant``. ``consumed`` is a tombstone, not a
delete: a replayed ``auth_req_id`` is recognised (and the tokens it gave revoked).

Fields (all JSON): ``client_id``, ``national_id``, ``scope``, ``acr_values``,
``binding_message``, ``channel`` (``MOBILE``/``CARD``), ``mode`` (``poll``/``ping``/``push``),
``created_at``, ``expires_at``, ``interval`` (grows by 5 s on each ``slow_down``),
``last_poll``, ``ecps_request`` (the e-CPS request of the MOBILE channel), ``challenge``
(CARD channel), ``auth`` (the :class:`~santeid.oidc.authentication.Authentication` once
approved), ``error`` (``access_denied`` once denied), ``notification`` (ping/push: the
sealed ``auth_req_id`` and ``client_notification_token``), ``fid`` (token family once
consumed).

``ciba:ecps:<e-CPS request id>`` maps the phone's request back to the CIBA record, so that a
decision taken on the device (in any worker) completes the CIBA request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from santeid.storage import EphemeralStore

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
CONSUMED = "consumed"
#: Read-only state: a pending or approved request past its ``expires_at``.
EXPIRED = "expired"

#: Seconds a record outlives its expiry, so a late poll reads ``expired_token``.
RECORD_MARGIN = 300

#: ``auth_req_id``: 32 random bytes, URL-safe base64 (256 bits; CIBA Core §7.3 asks for at
#: least 128 bits of entropy).
AUTH_REQ_ID_BYTES = 32
#: Longest ``auth_req_id`` looked up (ours are 43 characters).
MAX_AUTH_REQ_ID_LENGTH = 256


def new_auth_req_id() -> str:
    return secrets.token_urlsafe(AUTH_REQ_ID_BYTES)


def request_key(auth_req_id: str) -> str:
    # Stored by digest: a dump of the store does not reveal usable identifiers.
    return "ciba:" + hashlib.sha256(auth_req_id.encode()).hexdigest()


def ecps_index_key(ecps_request_id: str) -> str:
    return f"ciba:ecps:{ecps_request_id}"


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

    def __init__(self, store: EphemeralStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def _read(self, key: str, data: dict[str, Any] | None) -> CibaRequest | None:
        if data is None:
            return None
        state = data["state"]
        if state in (PENDING, APPROVED) and self.clock() >= data["expires_at"]:
            state = EXPIRED
        return CibaRequest(key, data, state)

    def create(
        self,
        auth_req_id: str,
        record: dict[str, Any],
        lifetime: int,
        *,
        approved: dict[str, Any] | None = None,
    ) -> CibaRequest:
        """Store a new request, ``pending`` — or already ``approved`` with the authentication
        ``approved`` (sandbox auto-approval: one write instead of a write and a move)."""
        key = request_key(auth_req_id)
        if approved is None:
            data = {**record, "state": PENDING}
        else:
            data = {**record, "state": APPROVED, "auth": approved}
        # add, not put: an identifier collision (2^-256) must never overwrite a request.
        if not self.store.add(key, data, lifetime + RECORD_MARGIN):
            raise RuntimeError("auth_req_id collision")
        return CibaRequest(key, data, data["state"])

    def get(self, auth_req_id: Any) -> CibaRequest | None:
        if not isinstance(auth_req_id, str) or not 0 < len(auth_req_id) <= MAX_AUTH_REQ_ID_LENGTH:
            return None
        key = request_key(auth_req_id)
        return self._read(key, self.store.get(key))

    def get_by_key(self, key: str) -> CibaRequest | None:
        return self._read(key, self.store.get(key))

    def transition(
        self, key: str, from_state: str, changes: dict[str, Any], ttl: int | None = None
    ) -> CibaRequest | None:
        """Move a request out of ``from_state``; ``None`` if another writer moved it first."""
        data = self.store.transition(key, {"state": from_state}, changes, ttl=ttl)
        return self._read(key, data)

    def note_poll(self, request: CibaRequest, now: float, interval: int) -> None:
        """Remember when the client polled and the interval it must now respect (§11
        ``slow_down``). A plain merge: two concurrent polls of one request both count."""
        self.store.update(request.key, {"last_poll": now, "interval": interval})

    def link_ecps(self, ecps_request_id: str, key: str, lifetime: int) -> None:
        self.store.put(ecps_index_key(ecps_request_id), {"key": key}, lifetime + RECORD_MARGIN)

    def key_for_ecps(self, ecps_request_id: str) -> str | None:
        found = self.store.get(ecps_index_key(ecps_request_id))
        return None if found is None else found.get("key")

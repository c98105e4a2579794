"""Admin console sessions, kept in the store as Keycloak keeps its user sessions: the cookie
carries a random id and nothing else; the record (who, how they signed in, since when) lives
:data:`~santeid.storage.keys.ADMIN_SESSION_IDLE` seconds after the last request and
:data:`~santeid.storage.keys.ADMIN_SESSION_MAX_LIFETIME` seconds at most, and the sign-out
deletes it, so a copy of the cookie opens nothing afterwards on any worker or host (OWASP
Session Management Cheat Sheet, "Manual Session Expiration" and "Absolute Timeout":
https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html).

A session also records a fingerprint of the credential it was opened with (the configured
``admin_password_hash``), so that the console can end it when that credential is replaced
(docs/operations.md, "Admin console").

What a change shows once — its notice, a new client secret, an activation code — waits for the
page the change's answer redirects to (Post/Redirect/Get) in a record of its own, keyed by the
session's id and that page (:meth:`ConsoleSessions.show_once`), and is taken from the store by
the page's next display (:meth:`ConsoleSessions.take_shown`): reloading the page shows it no
more, and it never travels in a URL or a cookie."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from santeid.clock import Clock
from santeid.storage.base import EphemeralStore
from santeid.storage.keys import ADMIN_FLASH_LIFETIME
from santeid.storage.keys import ADMIN_SESSION_IDLE
from santeid.storage.keys import ADMIN_SESSION_MAX_LIFETIME
from santeid.storage.records import ADMIN_FLASH
from santeid.storage.records import ADMIN_SESSION
from santeid.storage.records import Record
from santeid.storage.records import RecordBook

#: The fields of a session record.
WHO = "who"
METHOD = "method"
CREDENTIAL = "credential"
CREATED_AT = "created_at"
#: The field of a flash record holding what it shows.
SHOWN = "shown"


def credential_fingerprint(secret: str) -> str:
    """What a session keeps of the credential it was opened with: SHA-256 of the configured
    password hash (an Argon2 string with its own random salt, so the fingerprint reveals
    nothing a guess could be checked against)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class ConsoleSessions:
    """The console sessions of one store (``docs/storage.md``, ``admin-session:``)."""

    def __init__(self, store: EphemeralStore, clock: Clock) -> None:
        self.book = RecordBook(store, ADMIN_SESSION, clock=clock)
        self.flashes = RecordBook(store, ADMIN_FLASH, clock=clock)
        self.clock = clock

    @staticmethod
    def _lifetime(created_at: int, now: int) -> int:
        return max(1, min(ADMIN_SESSION_IDLE, created_at + ADMIN_SESSION_MAX_LIFETIME - now))

    def open(self, who: str, method: str, credential: str = "") -> str:
        """A new session; returns its id (the cookie's value, 256 random bits)."""
        session_id = secrets.token_urlsafe(32)
        now = int(self.clock())
        data = {WHO: who, METHOD: method, CREDENTIAL: credential, CREATED_AT: now}
        self.book.create(session_id, data, lifetime=self._lifetime(now, now), exclusive=True)
        return session_id

    def get(self, session_id: object) -> dict[str, Any] | None:
        """The live session ``session_id``, its idle time started again; ``None`` when it
        ended (signed out, idle too long, past its maximum lifetime) or never existed."""
        record: Record | None = self.book.get(session_id)
        if record is None or record.expired:
            return None
        created_at = record.get(CREATED_AT)
        now = int(self.clock())
        if not isinstance(created_at, int) or now - created_at >= ADMIN_SESSION_MAX_LIFETIME:
            self.book.delete(record.key)
            return None
        renewed = self.book.update(
            record.key, {}, lifetime=self._lifetime(created_at, now), current=record.data
        )
        return None if renewed is None else renewed.data

    def close(self, session_id: object) -> bool:
        """End the session (taken atomically: of concurrent sign-outs one ends it); ``True``
        if it was live."""
        if not isinstance(session_id, str) or not session_id:
            return False
        return self.book.consume(self.book.key(session_id)) is not None

    @staticmethod
    def _flash_id(session_id: str, page: str) -> str:
        # A session id is URL-safe base64: the line feed cannot stand in it.
        return f"{session_id}\n{page}"

    def show_once(self, session_id: str, page: str, shown: dict[str, Any]) -> None:
        """Keep ``shown`` (JSON values) for the next display of ``page`` in this session,
        :data:`~santeid.storage.keys.ADMIN_FLASH_LIFETIME` seconds at most; a later change
        to the same page replaces it."""
        self.flashes.create(
            self._flash_id(session_id, page), {SHOWN: shown}, lifetime=ADMIN_FLASH_LIFETIME
        )

    def take_shown(self, session_id: object, page: str) -> dict[str, Any]:
        """What :meth:`show_once` kept for ``page``, taken from the store (one ``pop``: of
        two concurrent displays only one gets it); ``{}`` when there is nothing."""
        if not isinstance(session_id, str) or not session_id:
            return {}
        taken = self.flashes.consume(self.flashes.key(self._flash_id(session_id, page)))
        shown = taken.get(SHOWN) if taken is not None else None
        return shown if isinstance(shown, dict) else {}

"""SSO sessions: one per browser login, 4 h at most and 30 min idle (PSC IG lifetimes).

A session is a record of kind :data:`~santeid.storage.records.SSO_SESSION`; its lifetime is
the shorter of the idle timeout and what remains of the absolute lifetime, renewed on each use,
so an expired session simply disappears from every worker at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from santeid.clock import system_clock
from santeid.oidc.authentication import Authentication
from santeid.storage.base import Batch
from santeid.storage.records import SSO_SESSION
from santeid.storage.records import PendingRecord
from santeid.storage.records import Record
from santeid.storage.records import RecordBook


@dataclass(frozen=True)
class Renewal:
    """A renewal queued by :meth:`SessionStore.renew_in`: the authentication bound to the
    session, and the session's write."""

    authentication: Authentication
    write: PendingRecord

    @property
    def lasted(self) -> bool:
        """The session was still there when the batch ran (else nothing was written)."""
        return self.write.value is not None


class SessionStore:
    def __init__(self, store, *, max_lifetime: int, idle_timeout: int, clock=system_clock):
        self.book = RecordBook(store, SSO_SESSION, clock=clock)
        self.max_lifetime = max_lifetime
        self.idle_timeout = idle_timeout
        self.clock = clock

    @staticmethod
    def new_sid() -> str:
        # Keycloak-shaped (UUID) and unguessable: uuid4 draws 122 random bits.
        return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))

    def _ttl(self, created_at: int, now: int) -> int:
        remaining = created_at + self.max_lifetime - now
        return max(1, min(self.idle_timeout, remaining))

    def open(self, authentication: Authentication, *, batch: Batch | None = None) -> Authentication:
        """Start a session for a fresh login; returns the authentication bound to its sid.
        ``batch``: the session is written when that batch runs (with the code it answers)."""
        now = int(self.clock())
        sid = self.new_sid()
        bound = authentication.with_sid(sid, now)
        record = {"auth": bound.to_dict(), "created_at": now, "last_seen": now}
        self.book.create(sid, record, lifetime=self._ttl(now, now), batch=batch)
        return bound

    def renew_in(
        self, batch: Batch, sid: str | None, authentication: Authentication
    ) -> Renewal | None:
        """A new login by the professional already logged in: same session, fresh auth_time,
        acr and amr (Keycloak keeps the user session on re-authentication), written when
        ``batch`` runs (with the code it answers: one store round trip). None, and nothing
        queued, if ``sid`` is not a live session of that same professional; once the batch
        has run, :attr:`Renewal.lasted` says whether the session was still there."""
        record = self.live(sid)
        if sid is None or record is None:
            return None
        if record["auth"]["national_id"] != authentication.national_id:
            return None
        now = int(self.clock())
        bound = authentication.with_sid(sid, int(record["created_at"]))
        renewed = self.book.update_in(
            batch,
            record.key,
            {"auth": bound.to_dict(), "last_seen": now},
            lifetime=self._ttl(record["created_at"], now),
            current=record.data,
        )
        return Renewal(bound, renewed)

    def live(self, sid: str | None) -> Record | None:
        """The record of ``sid`` while the session lasts: neither ``max_lifetime`` since it
        started nor ``idle_timeout`` since it was last used. The record's own lifetime says as
        much, but only for the timeouts it was written under: one shortened since (a restart
        with a lower setting) applies to the sessions already open. A record past them is left
        in place: the refresh or the browser that finds it ends the session and tells its
        clients (:meth:`over`, ``session_end.end_session_found_over``)."""
        if not sid or not isinstance(sid, str):
            return None
        return self.lasting(self.book.get(sid))

    def lasting(self, record: Record | None) -> Record | None:
        """:meth:`live` of a session record already read (``RecordBook.found``)."""
        if record is None:
            return None
        now = int(self.clock())
        last_seen = int(record.get("last_seen", record["created_at"]))
        if self.reached_max_lifetime(record["created_at"], now) or (
            now - last_seen >= self.idle_timeout
        ):
            return None
        return record

    def reached_max_lifetime(self, started: int, now: int) -> bool:
        """A session begun at ``started`` has reached ``max_lifetime`` (``sso_max_lifetime``)
        at ``now``: the one test of it, for the session's record (:meth:`lasting`) and for the
        grants of its logins (``TokenService.session_reached_end``)."""
        return now - started >= self.max_lifetime

    def over(self, sid: str | None) -> bool:
        """The session ``sid`` is still stored but past its timeouts — Keycloak's user session
        found but no longer valid (``AuthenticationManager.isSessionValid`` false), which its
        refresh and its identity cookie log out, telling the session's clients; a session no
        longer stored is told to no one (docs/reference/keycloak-behaviour.md, "An SSO session
        found over"). The record lives until the lifetime it was written with: shortened
        timeouts since (a restart), or the last second of that lifetime."""
        if not sid or not isinstance(sid, str):
            return False
        record = self.book.get(sid)
        return record is not None and self.lasting(record) is None

    def get(self, sid: str | None, *, batch: Batch | None = None) -> Authentication | None:
        """The live session ``sid``, refreshed for idle purposes, or None. ``batch``: the
        refresh is written when that batch runs (with the code the session answers)."""
        record = self.live(sid)
        if record is None:
            return None
        if batch is None:
            self.book.update(record.key, **self._use(record))
        else:
            self.book.update_in(batch, record.key, **self._use(record))
        # The session's start from the session itself (records written before logins carried
        # it have it only there).
        return Authentication.from_dict({**record["auth"], "session_started": record["created_at"]})

    def keep_alive(self, sid: str) -> None:
        """A refresh token was issued under the session: its idle time starts again, as
        Keycloak sets the user session's ``lastSessionRefresh`` each time it makes a refresh
        token (``TokenManager.AccessTokenResponseBuilder.generateRefreshToken``,
        docs/reference/keycloak-behaviour.md, "Refresh tokens"), so a browser's SSO session
        lives on while a service keeps refreshing (nothing if it is already over)."""
        self.get(sid)

    def keep_alive_in(self, batch: Batch, session: Record) -> None:
        """:meth:`keep_alive` of a session this request has just found live (:meth:`live`),
        done when ``batch`` runs, from that copy: with the batch's other writes, one store
        round trip (docs/storage.md). A session gone since is not brought back."""
        self.book.update_in(batch, session.key, **self._use(session))

    def _use(self, record: Record) -> dict[str, Any]:
        """The changes of one use of the live session ``record``: its idle time starts again."""
        now = int(self.clock())
        return {
            "changes": {"last_seen": now},
            "lifetime": self._ttl(record["created_at"], now),
            "current": record.data,
        }

    def exists(self, sid: str | None) -> bool:
        """The session ``sid`` lasts, its idle time left as it is (a check, not a use)."""
        return self.live(sid) is not None

    def close(self, sid: str) -> None:
        self.book.delete(self.book.key(sid))

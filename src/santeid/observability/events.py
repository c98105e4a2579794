"""Authentication events: who logged in where, how, and what failed (docs/operations.md).

One row per event in the ``events`` component of the persistence layer (:mod:`santeid.db`:
the embedded ``events.sqlite3`` under ``data_dir``, or the shared ``database_url``), written by
one ``INSERT`` on the request path — a login's added cost, measured by ``bench/events.py``:
median 20 µs on the embedded file, 130 µs on PostgreSQL (``synchronous_commit`` off for these
rows) — kept ``events_retention_days`` and purged by ``santeid events purge``.

Each event has a time, a type (:data:`TYPES`, Keycloak's event type names where one exists:
https://www.keycloak.org/docs-api/latest/javadocs/org/keycloak/events/EventType.html), the
client, the professional (national identifier), the ``authMode``, the source address and the
request id; a reason for failures and outcomes; a device id for e-CPS device events. Never a
token, secret, PIN or code. A failed write is logged and counted, never fails the login."""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict
from dataclasses import dataclass

from santeid import db
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.services import services_if_any

log = logging.getLogger(__name__)

LOGIN = "LOGIN"
LOGIN_ERROR = "LOGIN_ERROR"
LOGOUT = "LOGOUT"
REFRESH_TOKEN = "REFRESH_TOKEN"  # noqa: S105 - an event type, not a secret
CIBA_REQUEST = "CIBA_REQUEST"
CIBA_OUTCOME = "CIBA_OUTCOME"
DEVICE_ACTIVATION = "DEVICE_ACTIVATION"
DEVICE_REVOCATION = "DEVICE_REVOCATION"
DEVICE_LOCK = "DEVICE_LOCK"
PIN_FAILURE = "PIN_FAILURE"
OFFLINE_CODE_LOCK = "OFFLINE_CODE_LOCK"
#: The reason of a ``LOGIN`` answered by the browser's SSO session: no means was used.
SSO = "sso"
#: Admin events: a change an operator made (console or command).
ADMIN_CLIENT = "ADMIN_CLIENT"
ADMIN_KEY = "ADMIN_KEY"
ADMIN_DEVICE = "ADMIN_DEVICE"
ADMIN_LOGIN = "ADMIN_LOGIN"

TYPES = (
    LOGIN,
    LOGIN_ERROR,
    LOGOUT,
    REFRESH_TOKEN,
    CIBA_REQUEST,
    CIBA_OUTCOME,
    DEVICE_ACTIVATION,
    DEVICE_REVOCATION,
    DEVICE_LOCK,
    PIN_FAILURE,
    OFFLINE_CODE_LOCK,
    ADMIN_CLIENT,
    ADMIN_KEY,
    ADMIN_DEVICE,
    ADMIN_LOGIN,
)

COMPONENT = db.Component("events", "events.sqlite3")
_TABLE = (
    " at           BIGINT NOT NULL,"
    " type         TEXT NOT NULL,"
    " client_id    TEXT,"
    " professional TEXT,"
    " auth_mode    TEXT,"
    " source       TEXT,"
    " request_id   TEXT,"
    " reason       TEXT,"
    " device       TEXT,"
    " details      TEXT)"
)
_INDEXES = (
    "CREATE INDEX auth_events_at ON auth_events (at)",
    "CREATE INDEX auth_events_professional ON auth_events (professional, at)",
    "CREATE INDEX auth_events_client ON auth_events (client_id, at)",
)
SCHEMA = db.Schema(
    COMPONENT,
    (
        # ``id``: insertion order, so events of the same second list newest first.
        db.Step(
            ("CREATE TABLE auth_events (id INTEGER PRIMARY KEY," + _TABLE, *_INDEXES),
            ("CREATE TABLE auth_events (id BIGSERIAL PRIMARY KEY," + _TABLE, *_INDEXES),
        ),
    ),
)

_INSERT = (
    "INSERT INTO auth_events (at, type, client_id, professional, auth_mode, source, request_id,"
    " reason, device, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: An event not written is logged, never an error for the request or command recording it.
_WRITE_FAILURES: tuple[type[Exception], ...] = (*db.DatabaseError, OSError)


@dataclass(frozen=True)
class Event:
    at: int
    type: str
    client_id: str | None = None
    professional: str | None = None
    auth_mode: str | None = None
    source: str | None = None
    request_id: str | None = None
    reason: str | None = None
    device: str | None = None
    details: dict | None = None

    def as_json(self) -> dict:
        return asdict(self)


class EventStore:
    """The events of one installation (``santeid.db`` component ``events``)."""

    def __init__(self, database: db.Database, *, clock: Clock = system_clock) -> None:
        self.db = database
        self.clock = clock

    @classmethod
    def for_settings(cls, settings, *, clock: Clock = system_clock) -> EventStore:
        return cls(db.database_for(settings, COMPONENT), clock=clock)

    def add(self, event: Event) -> None:
        db.ensure(self.db, SCHEMA)
        if isinstance(self.db, db.PostgresDatabase):
            # No wait for the WAL flush (3.5 ms → a fraction): a server crash may lose the
            # last few hundred milliseconds of events, never corrupt them; logins do not wait.
            with self.db.transaction() as conn:
                conn.execute("SET LOCAL synchronous_commit TO OFF")
                conn.execute(_INSERT, self._row(event))
            return
        self.db.execute(_INSERT, self._row(event))

    @staticmethod
    def _row(event: Event) -> tuple:
        return (
            event.at,
            event.type,
            event.client_id,
            event.professional,
            event.auth_mode,
            event.source,
            event.request_id,
            event.reason,
            event.device,
            json.dumps(event.details, separators=(",", ":")) if event.details else None,
        )

    def list(
        self,
        *,
        professional: str | None = None,
        client_id: str | None = None,
        types: tuple[str, ...] = (),
        since: int | None = None,
        until: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Event]:
        """Newest first, filtered on the given fields. Past :data:`santeid.db.MAX_INTEGER`
        rows there is none: an ``offset`` beyond it (the console's ``?page=`` of any size) is an
        empty page, not an overflow."""
        if offset > db.MAX_INTEGER:
            return []
        db.ensure(self.db, SCHEMA)
        where, params = _filters(professional, client_id, types, since, until)
        # Only placeholders are interpolated (``_filters``).
        sql = (
            "SELECT at, type, client_id, professional, auth_mode, source, request_id, reason,"  # noqa: S608
            f" device, details FROM auth_events{where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = self.db.execute(
            sql, (*params, min(int(limit), db.MAX_INTEGER), int(offset))
        ).fetchall()
        return [_event_from_row(row) for row in rows]

    def counts(
        self, *, since: int, bucket: int, types: tuple[str, ...]
    ) -> builtins.list[tuple[int, str, str | None, str | None, int]]:
        """``(bucket start, type, auth_mode, reason, count)`` rows from ``since``, for charts."""
        db.ensure(self.db, SCHEMA)
        where, params = _filters(None, None, types, since, None)
        sql = (
            f"SELECT (at / ?) * ?, type, auth_mode, reason, COUNT(*) FROM auth_events{where}"  # noqa: S608
            " GROUP BY 1, 2, 3, 4 ORDER BY 1"
        )
        return self.db.execute(sql, (int(bucket), int(bucket), *params)).fetchall()

    #: Events deleted by one statement of :meth:`purge`.
    PURGE_ROWS = 10_000

    def purge(self, older_than_days: int) -> int:
        """Delete events older than ``older_than_days``; returns how many this call deleted.

        :data:`PURGE_ROWS` at a time, oldest first, each batch its own transaction found
        through the ``at`` index: however many events are due, no statement comes near
        PostgreSQL's statement timeout (``PostgresDatabase.TIMEOUT``), no lock is held long
        against the servers recording events, and an interrupted purge keeps what it deleted.

        Purges run at once on several hosts (a daily cron on each) share the work: on
        PostgreSQL a batch locks the events it deletes and skips those another purge has
        locked (``FOR UPDATE SKIP LOCKED``,
        https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE), so no
        purge waits for another — nor deadlocks with it — and each goes on until a batch finds
        nothing left: a batch thinned by another purge is not the end. (SQLite runs one
        writing statement at a time: a batch is never thinned there.) Between them they
        delete every event due, each counting only its own."""
        db.ensure(self.db, SCHEMA)
        cutoff = int(self.clock()) - older_than_days * 86400
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.db.dialect == db.POSTGRESQL else ""
        where = f"WHERE at < ? ORDER BY at LIMIT ?{skip_locked}"
        sql = f"DELETE FROM auth_events WHERE id IN (SELECT id FROM auth_events {where})"  # noqa: S608
        removed = 0
        while True:
            batch = self.db.execute(sql, (cutoff, self.PURGE_ROWS)).rowcount
            removed += batch
            if not batch:
                return removed


def _event_from_row(row: tuple) -> Event:
    """An :class:`Event` from the columns :meth:`EventStore.list` selects, in table order."""
    at, type_, client_id, professional, auth_mode, source, request_id, reason, device, details = row
    return Event(
        at=at,
        type=type_,
        client_id=client_id,
        professional=professional,
        auth_mode=auth_mode,
        source=source,
        request_id=request_id,
        reason=reason,
        device=device,
        details=json.loads(details) if details else None,
    )


def _filters(professional, client_id, types, since, until) -> tuple[str, list]:
    clauses: list[str] = []
    params: list = []
    if professional:
        clauses.append("professional = ?")
        params.append(professional)
    if client_id:
        clauses.append("client_id = ?")
        params.append(client_id)
    if types:
        clauses.append("type IN (" + ", ".join("?" for _ in types) + ")")
        params.extend(types)
    if since is not None:
        clauses.append("at >= ?")
        params.append(int(since))
    if until is not None:
        clauses.append("at < ?")
        params.append(int(until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def record(
    type_: str,
    *,
    client_id: str | None = None,
    professional: str | None = None,
    auth_mode: str | None = None,
    reason: str | None = None,
    device: str | None = None,
    details: dict | None = None,
    store: EventStore | None = None,
) -> None:
    """Write one event in ``store``, or else in the current application's (no application:
    nothing); the request's source address and id when there is one, else :data:`CLI` in an
    operator's command (:func:`command`)."""
    from flask import g
    from flask import has_request_context
    from flask import request

    from santeid.proxies import client_address

    if store is None:
        svc = services_if_any()
        if svc is None:
            return
        store = svc.events
    in_request = has_request_context()
    event = Event(
        at=int(store.clock()),
        type=type_,
        client_id=client_id,
        professional=professional,
        auth_mode=auth_mode,
        # The client's address: behind a trusted proxy, the one it forwards (docs/operations.md
        # "Authentication events").
        source=client_address(request.environ) if in_request else _command_source.get(),
        request_id=g.get("request_id") if in_request else None,
        reason=reason,
        device=device,
        details=details,
    )
    try:
        store.add(event)
    except _WRITE_FAILURES as exc:
        from santeid.observability import metrics

        metrics.database_error(exc, metrics.EVENT_WRITE)
        log.error("authentication event %s not written: %s", type_, exc)


#: ``details["channel"]`` of an admin event: made in the admin console, or by a command.
CONSOLE = "console"
CLI = "cli"
#: :data:`CLI` while an operator's command runs (:func:`command`), else ``None``.
_command_source: ContextVar[str | None] = ContextVar("santeid_event_source", default=None)


@contextlib.contextmanager
def command() -> Iterator[None]:
    """The events written in this block outside a request are an operator's command's: their
    source is :data:`CLI` (docs/operations.md "Authentication events"), as those of
    :func:`record_command`. A decision taken by a timer of the server has none."""
    token = _command_source.set(CLI)
    try:
        yield
    finally:
        _command_source.reset(token)


def record_admin(
    type_: str,
    reason: str,
    *,
    admin: str,
    channel: str,
    details: dict | None = None,
    settings=None,
    **fields,
) -> None:
    """The one way an admin change (:data:`ADMIN_CLIENT`, :data:`ADMIN_KEY`,
    :data:`ADMIN_DEVICE`) is recorded, by the console and the commands alike: its details begin
    with who made it (``admin``: ``admin``, a professional's national identifier, or the
    operating system's user who ran the command) and through what (``channel``:
    :data:`CONSOLE` or :data:`CLI`), then ``details``. ``settings``: a command's configuration,
    whose event store gets the event with the source ``cli``; else the application's, with the
    request's address (:func:`record`)."""
    details = {"admin": admin, "channel": channel, **(details or {})}
    if settings is None:
        record(type_, reason=reason, details=details, **fields)
        return
    try:
        EventStore.for_settings(settings).add(
            # A command's own moment: no application, so no injected clock.
            Event(
                at=int(system_clock()),
                type=type_,
                reason=reason,
                source="cli",
                details=details,
                **fields,
            )  # fmt: skip
        )
    except _WRITE_FAILURES as exc:
        log.error("admin event %s not written: %s", type_, exc)


def command_operator() -> dict:
    """Who runs this command, as its admin events name them: the account of the process's real
    user id (``pwd.getpwuid(os.getuid())``, else ``uid N``) — never ``LOGNAME``/``USER``, which
    the caller sets at will — and, when it runs as root with ``SUDO_UID`` and ``SUDO_USER`` set,
    the user ``sudo`` says called it (``sudo_user``: what sudo reported, which root could forge;
    https://www.sudo.ws/docs/man/sudo.man/#ENVIRONMENT)."""
    import os
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without an account in the password database
        user = f"uid {uid}"
    caller = os.environ.get("SUDO_USER") if uid == 0 and os.environ.get("SUDO_UID") else None
    return {"admin": user, **({"sudo_user": caller} if caller and caller != user else {})}


def record_command(settings, type_: str, reason: str, *, details: dict | None = None,
                   **fields) -> None:  # fmt: skip
    """An admin event of a ``santeid`` command run by an operator: :func:`record_admin`
    naming them (:func:`command_operator`), source ``cli``."""
    operator = command_operator()
    record_admin(type_, reason, admin=operator.pop("admin"), channel=CLI,
                 details={**operator, **(details or {})}, settings=settings, **fields)  # fmt: skip

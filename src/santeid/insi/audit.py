"""Audit trail, monthly statistics and software registry of the INSi service.

Three tables reached through :mod:`santeid.db` — embedded: one SQLite file,
``{data_dir}/insi.sqlite3``, in WAL mode (readers never block the writer, and several server
processes append to it); several hosts: the shared PostgreSQL database, which every host
appends to and counts in:

* ``audit`` — one row per call: time (UTC), software id, structure, professional, operation,
  channel, authentication method, result (``CodeCR`` ``00``/``01``/``02``, the verification
  outcome, or the error code) and a **keyed hash** of the query.  No trait is stored in clear:
  the hash is a keyed BLAKE2b under a key of this installation (``{data_dir}/insi-audit.key``),
  so support can check "was *this* query made at that time?" by recomputing it
  (:meth:`AuditLog.query_hash`), while the file alone reveals nothing.  The table is
  append-only: triggers refuse ``UPDATE`` and ``DELETE``.
* ``monthly_stats`` — calls per month, software, operation and result, kept by an
  ``AFTER INSERT`` trigger on ``audit``: the statistics read a few rows instead of scanning the
  trail, and the writer only ever inserts.
* ``software`` — the registered software authorisation numbers (IDAM,
docs/reference/insi-teleservice.md §3), which the
  SOAP layer checks (unknown → ``siram_100`` / ``desir_550``).

Rows are written in batches by a writer thread per process (:class:`AuditLog`): one commit for
many calls.  What a stop costs:

* clean stop (SIGTERM to ``santeid serve``, a Granian or gunicorn worker ending, the end of a
  command): every queued row is written on the way out — nothing is lost
  (``tests/db/test_audit_shutdown.py``);
* crash of the process (``kill -9``, out of memory): the rows queued since the last commit, at
  most :data:`AuditLog.FLUSH_SECONDS` (50 ms) of calls, or :data:`AuditLog.FLUSH_ROWS` rows;
* power cut: on SQLite (``synchronous = NORMAL`` in WAL mode, a commit is not fsync'ed, a
  checkpoint is) also the last commits, never a corrupt file (https://www.sqlite.org/wal.html);
  on PostgreSQL (``synchronous_commit = on``) nothing committed.

The costs are measured by ``bench/insi.py``.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import multiprocessing.util
import os
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

from santeid import db
from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.insi.model import OPERATIONS
from santeid.insi.model import CallContext
from santeid.observability import metrics

log = logging.getLogger(__name__)
#: The audit trail cannot be written now (database outage, file system): rows stay queued.
_UNAVAILABLE: tuple[type[Exception], ...] = (*db.DatabaseUnavailable, OSError)
#: The database will never take this row (a constraint, a NUL character). Any other refusal
#: (a permission, a missing table) is the trail's own fault, not the row's: the rows stay
#: queued, and INSi calls are refused once too many wait (fail closed, ``AuditBacklog``).
_ROW_REFUSED: tuple[type[Exception], ...] = (*db.IntegrityError, db.UnstorableText)

_SQLITE_V1 = (
    """CREATE TABLE IF NOT EXISTS audit (
    id              INTEGER PRIMARY KEY,
    at              TEXT    NOT NULL,  -- UTC, ISO 8601 with milliseconds and Z
    software_id     TEXT    NOT NULL,  -- IDAM, OAuth client id or certificate structure
    structure_id    TEXT,
    professional_id TEXT,
    operation       TEXT    NOT NULL,  -- rechercherInsAvecTraitsIdentite...
    channel         TEXT    NOT NULL,  -- soap, rest, fhir
    auth_method     TEXT    NOT NULL,  -- certificate, cps-assertion, psc-token, bearer
    result          TEXT    NOT NULL,  -- 00/01/02, conform/not-conform/unknown-ins, error code
    query_hash      TEXT,              -- keyed BLAKE2b-128 of the query (hex, 32 characters)
    duration_us     INTEGER            -- time spent in the service, microseconds
)""",
    # No secondary index: rows arrive in time order, so id order is time order, and the
    # statistics come from monthly_stats. Every index would be paid on each insert.
    """CREATE TABLE IF NOT EXISTS monthly_stats (
    month       TEXT    NOT NULL,  -- YYYY-MM (UTC)
    software_id TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    result      TEXT    NOT NULL,
    calls       INTEGER NOT NULL,
    PRIMARY KEY (month, software_id, operation, result)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS software (
    idam     TEXT PRIMARY KEY,  -- CNDA authorisation number (ContexteLPS/LPS/IDAM)
    name     TEXT NOT NULL,
    added_at TEXT NOT NULL
) WITHOUT ROWID""",
    """CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the INSi audit trail is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the INSi audit trail is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_counts AFTER INSERT ON audit
BEGIN
    INSERT INTO monthly_stats (month, software_id, operation, result, calls)
    VALUES (substr(NEW.at, 1, 7), NEW.software_id, NEW.operation, NEW.result, 1)
    ON CONFLICT (month, software_id, operation, result) DO UPDATE SET calls = calls + 1;
END""",
)

# The same tables on PostgreSQL: identity column, BIGINT counters, PL/pgSQL triggers
# (https://www.postgresql.org/docs/current/plpgsql-trigger.html). TRUNCATE is refused too.
_POSTGRESQL_V1 = (
    """CREATE TABLE IF NOT EXISTS audit (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at              TEXT   NOT NULL,
    software_id     TEXT   NOT NULL,
    structure_id    TEXT,
    professional_id TEXT,
    operation       TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    auth_method     TEXT   NOT NULL,
    result          TEXT   NOT NULL,
    query_hash      TEXT,
    duration_us     BIGINT
)""",
    """CREATE TABLE IF NOT EXISTS monthly_stats (
    month       TEXT   NOT NULL,
    software_id TEXT   NOT NULL,
    operation   TEXT   NOT NULL,
    result      TEXT   NOT NULL,
    calls       BIGINT NOT NULL,
    PRIMARY KEY (month, software_id, operation, result)
)""",
    """CREATE TABLE IF NOT EXISTS software (
    idam     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    added_at TEXT NOT NULL
)""",
    """CREATE OR REPLACE FUNCTION insi_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the INSi audit trail is append-only'; END
$$""",
    """CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION insi_audit_append_only()""",
    """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
FOR EACH STATEMENT EXECUTE FUNCTION insi_audit_append_only()""",
    """CREATE OR REPLACE FUNCTION insi_audit_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO monthly_stats (month, software_id, operation, result, calls)
    VALUES (substr(NEW.at, 1, 7), NEW.software_id, NEW.operation, NEW.result, 1)
    ON CONFLICT (month, software_id, operation, result)
    DO UPDATE SET calls = monthly_stats.calls + 1;
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER audit_counts AFTER INSERT ON audit
FOR EACH ROW EXECUTE FUNCTION insi_audit_count()""",
)

SCHEMA = db.Schema(db.INSI, (db.Step(_SQLITE_V1, postgresql=_POSTGRESQL_V1),))

INSERT_AUDIT = (
    "INSERT INTO audit (at, software_id, structure_id, professional_id, operation, channel, "
    "auth_method, result, query_hash, duration_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: ASCII digits (``\d`` also takes other scripts' digits, a month no call is recorded under).
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_IDAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def utc_now() -> datetime:
    """The machine's time: the default of the audit log and the INSi service built outside
    ``create_services`` (commands, tests); the application passes its own clock."""
    return utc_datetime(system_clock)


def timestamp(moment: datetime) -> str:
    """``2026-01-15T09:30:00.123Z``: sortable, and its first 7 characters are the month."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def valid_month(month: str) -> bool:
    return bool(_MONTH.fullmatch(month or ""))


def valid_idam(idam: str) -> bool:
    return bool(_IDAM.fullmatch(idam or ""))


def _load_or_create_key(path: Path) -> bytes:
    """The installation's audit key (32 random bytes, hex in a 0600 file), created once.
    Several processes starting together all end up with the same key: the file is written
    under a temporary name and hard-linked into place, which fails if it already exists."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value.hex())
    try:
        os.link(tmp, path)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    finally:
        os.unlink(tmp)
    return value


#: Audit logs with a writer in this process, flushed at interpreter exit.
_LIVE_LOGS: weakref.WeakSet[AuditLog] = weakref.WeakSet()


def _flush_at_exit() -> None:
    for audit in list(_LIVE_LOGS):
        try:
            audit.flush()
        except Exception as exc:  # exiting: report, never raise
            log.error("INSi audit rows lost at exit: %s", exc)


# A clean stop writes what is queued: at interpreter exit (one-process server, gunicorn
# workers, commands), and at the end of a multiprocessing child (Granian's workers), which
# leaves through os._exit() after running multiprocessing's own finalizers, not atexit's. A
# child starts with an empty finalizer registry, hence one registration per process, made by
# the first writer it starts.
atexit.register(_flush_at_exit)
_finalizer_pid = 0


def _flush_at_process_end() -> None:
    global _finalizer_pid
    if _finalizer_pid != os.getpid():
        _finalizer_pid = os.getpid()
        multiprocessing.util.Finalize(None, _flush_at_exit, exitpriority=100)


class AuditBacklog(Exception):
    """The audit trail has not been writable for a while: calls must stop (fail closed)."""


class AuditLog:
    """Append-only audit trail and the statistics derived from it.

    Writes are **batched**: :meth:`record` stamps the row and appends it to an in-memory buffer
    (about a microsecond); a writer thread of this process commits the buffer every
    :data:`FLUSH_SECONDS` (or as soon as :data:`FLUSH_ROWS` rows wait) in one transaction —
    one ``executemany`` for the whole batch instead of one commit per call (``bench/insi.py``
    measures both); a batch longer than :data:`COMMIT_ROWS` (a backlog) in several.  Readers
    (:meth:`rows`, :meth:`stats`) flush first, so a process always reads its own writes; other
    processes see them within :data:`FLUSH_SECONDS`.  The buffer is flushed at interpreter
    exit (a graceful worker stop); a crash (``kill -9``, power cut) can lose the last
    :data:`FLUSH_SECONDS` of rows.  If commits keep failing (disk full, file locked) and
    :data:`MAX_PENDING` rows pile up, :meth:`record` raises :class:`AuditBacklog`: the service
    then refuses calls rather than answer without a trace.
    """

    #: Longest time a row waits in memory before its commit.
    FLUSH_SECONDS = 0.05
    #: Rows that trigger a commit at once.
    FLUSH_ROWS = 512
    #: Rows waiting (commits failing) beyond which calls are refused.
    MAX_PENDING = 50_000
    #: Rows committed in one transaction at most. The writer's statements keep the
    #: request's answer deadline (``PostgresDatabase.TIMEOUT``) rather than run unhurried: a
    #: frozen server must not hold the writer, and the readers and the exit flush queued
    #: behind it, forever. So a batch is cut to what commits well within that deadline.
    COMMIT_ROWS = 1000

    def __init__(
        self,
        path: Path | str | db.Database,
        *,
        key_path: Path | str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        #: The audit, statistics and software tables: the embedded file ``path``, or a
        #: :class:`~santeid.db.Database` (then ``key_path`` is required).
        self.db = path if isinstance(path, db.Database) else db.SqliteDatabase(path)
        if key_path is None:
            if not isinstance(self.db, db.SqliteDatabase):
                raise ValueError("key_path is required when the audit is not an SQLite file")
            key_path = self.db.path.with_name("insi-audit.key")
        self.key_path = Path(key_path)
        self._key: bytes | None = None
        self.clock = clock
        self._reset()

    def _reset(self) -> None:
        """Fresh buffer, lock and writer (at creation, and in a forked child)."""
        self._pid = os.getpid()
        self._pending: list[tuple] = []
        self._cond = threading.Condition(threading.Lock())
        self._flush_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._idle = False
        self._failures = 0

    # -- writing ---------------------------------------------------------------------------
    def query_hash(self, *parts: object) -> str:
        """Keyed BLAKE2b-128 (RFC 7693 keyed mode, a MAC), hex, of the query's fields in a fixed
        order.

        The input is the operation name then the fields, each as text, separated by ``\\x1f``;
        ``docs/insi-overview.md`` gives the order per operation so support can recompute it.
        UTF-8 with ``surrogatepass``: a refused query holding a lone surrogate (JSON
        ``"\\ud800"``, RFC 8259 §8.2) is hashed and audited too."""
        if self._key is None:
            self._key = _load_or_create_key(self.key_path)
        message = "\x1f".join("" if p is None else str(p) for p in parts).encode(
            "utf-8", "surrogatepass"
        )
        return hashlib.blake2b(message, key=self._key, digest_size=16).hexdigest()

    def record(
        self,
        ctx: CallContext,
        operation: str,
        result: str,
        *,
        query_hash: str | None = None,
        duration_us: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Queue one row for the next batch (the trigger counts it in ``monthly_stats``)."""
        row = (
            timestamp(at or self.clock()),
            ctx.software_id,
            ctx.structure_id,
            ctx.professional_id,
            operation,
            ctx.channel,
            ctx.auth_method,
            result,
            query_hash,
            duration_us,
        )
        if self._pid != os.getpid():  # forked: the parent's thread and lock are not ours
            self._reset()
        with self._cond:
            if len(self._pending) >= self.MAX_PENDING:
                raise AuditBacklog(f"{len(self._pending)} audit rows could not be written")
            self._pending.append(row)
            if self._writer is None:
                self._start_writer()
            elif self._idle or len(self._pending) == self.FLUSH_ROWS:
                # Wake the writer only when it sleeps on an empty buffer or must hurry: under
                # load it is already flushing every FLUSH_SECONDS and no signal is needed.
                self._cond.notify()

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="insi-audit", daemon=True)
        self._writer.start()
        _LIVE_LOGS.add(self)
        _flush_at_process_end()

    def _write_loop(self) -> None:
        """Wait for rows, let :data:`FLUSH_SECONDS` of them gather, commit; end when idle.

        No exception ends it: a failed flush keeps its rows queued (:meth:`flush`), is logged,
        and is retried after a pause growing with the failures in a row (at most 1 s). Should
        the thread end anyway, it clears ``_writer`` so that the next :meth:`record` starts
        another."""
        me = threading.current_thread()
        try:
            while True:
                with self._cond:
                    while not self._pending:
                        self._idle = True
                        woken = self._cond.wait(timeout=60)
                        self._idle = False
                        if not woken and not self._pending:
                            self._writer = None  # idle a minute: the next record() starts one
                            return
                    if len(self._pending) < self.FLUSH_ROWS:
                        self._cond.wait(timeout=self.FLUSH_SECONDS)
                try:
                    self.flush()
                    continue
                except _UNAVAILABLE:
                    pass  # logged by flush(); the rows stay queued and are retried
                except Exception:
                    log.exception("INSi audit writer: flush failed, rows kept for a retry")
                time.sleep(min(1.0, 0.05 * max(1, self._failures)))
        finally:
            with self._cond:
                if self._writer is me:
                    self._writer = None

    def flush(self) -> int:
        """Commit every queued row now, :data:`COMMIT_ROWS` rows per transaction; returns how
        many were written.

        A database outage (:data:`santeid.db.DatabaseUnavailable`) or a file system error
        keeps the rows not yet committed queued, to be retried, and is raised. A batch the
        database refuses because of a row it will never take (a constraint, a NUL character)
        is written again row by row: the rows it takes are committed, those it still refuses
        are logged without their content and dropped (``santeid_insi_audit_rows_dropped_total``),
        so one such row never holds back the rows queued after it. Any other error keeps the
        rows not yet committed queued and is raised."""
        if self._pid != os.getpid():
            self._reset()
            return 0
        with self._flush_lock:
            with self._cond:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            written = 0
            # One transaction per COMMIT_ROWS rows, the next taken only once the previous is
            # committed: a backlog (rows queued during an outage) is drained however long it
            # grew, each commit well within the answer deadline (docs/insi-overview.md).
            for start in range(0, len(batch), self.COMMIT_ROWS):
                try:
                    written += self._write(
                        batch[start : start + self.COMMIT_ROWS],
                        later=batch[start + self.COMMIT_ROWS :],
                    )
                except BaseException as exc:
                    self._failures += 1
                    if isinstance(exc, _UNAVAILABLE):
                        log.error(
                            "INSi audit trail not writable (%d rows kept, %d written): %s",
                            len(batch) - start,
                            written,
                            exc,
                        )
                    raise
            self._failures = 0
            return written

    def _write(self, batch: list[tuple], *, later: list[tuple]) -> int:
        """Commit ``batch`` (see :meth:`flush`); whenever this raises, the rows not written
        are queued again, followed by ``later`` (the rest of the flush, not tried).

        When the commit itself fails for want of an answer (the deadline, a connection cut
        during ``COMMIT``), the server may have committed it all the same: the batch is queued
        again, so its rows may be written twice — a row of the trail is never lost for it. A
        duplicate is the same row (same time to the millisecond, query hash and duration),
        counted twice in ``monthly_stats`` (docs/insi-overview.md)."""
        try:
            db.ensure(self.db, SCHEMA)
            try:
                with self.db.transaction() as conn:
                    conn.executemany(INSERT_AUDIT, batch)
                return len(batch)
            except _UNAVAILABLE:
                raise
            except _ROW_REFUSED as exc:
                log.warning(
                    "INSi audit batch of %d rows refused (%s): written row by row",
                    len(batch),
                    _error_name(exc),
                )
        except BaseException:
            self._requeue(batch + later)
            raise
        written = 0
        for index, row in enumerate(batch):
            try:
                self.db.execute(INSERT_AUDIT, row)
            except _UNAVAILABLE:
                self._requeue(batch[index:] + later)
                raise
            except _ROW_REFUSED as exc:
                _drop(row, exc)
                continue
            except BaseException:
                self._requeue(batch[index:] + later)
                raise
            written += 1
        return written

    def _requeue(self, rows: list[tuple]) -> None:
        """Put ``rows`` back at the head of the queue (they are older than what came since)."""
        with self._cond:
            self._pending[:0] = rows

    # -- reading ---------------------------------------------------------------------------
    def rows(self, *, limit: int = 100) -> list[dict]:
        """The latest rows, newest first (support and tests)."""
        self.flush()
        db.ensure(self.db, SCHEMA)
        result = self.db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(result.columns, row, strict=True)) for row in result]

    def daily_counts(self, since: datetime) -> list[tuple[str, str, str, str, int]]:
        """``(day YYYY-MM-DD, software, operation, result, calls)`` from ``since`` (UTC), for
        charts.

        The audit table has no index on ``at`` (every index is paid on each insert); rows
        arrive in time order, so the first row of the period is found by bisecting ids (a
        few primary-key lookups) and only the period's rows are read."""
        self.flush()
        db.ensure(self.db, SCHEMA)
        start = timestamp(since)
        with self.db.connect() as conn:
            bounds = conn.execute("SELECT MIN(id), MAX(id) FROM audit").fetchone()
            if bounds is None or bounds[0] is None:  # no row at all: MIN is NULL
                return []
            low, high = bounds
            high += 1
            while low < high:
                middle = (low + high) // 2
                row = conn.execute(
                    "SELECT at FROM audit WHERE id >= ? ORDER BY id LIMIT 1", (middle,)
                ).fetchone()
                if row is None or row[0] >= start:
                    high = middle
                else:
                    low = middle + 1
            return [
                (day, software, operation, result, int(calls))
                for day, software, operation, result, calls in conn.execute(
                    "SELECT substr(at, 1, 10), software_id, operation, result, COUNT(*)"
                    " FROM audit WHERE id >= ? AND at >= ? GROUP BY 1, 2, 3, 4 ORDER BY 1, 2",
                    (low, start),
                ).fetchall()
            ]

    def stats(self, software_id: str | None, month: str) -> dict:
        """Calls of ``month`` (``YYYY-MM``, UTC) by software, operation and result.

        ``{"month", "softwareId", "total", "software": [{"softwareId", "name", "total",
        "operations": {operation: {"total", "results": {result: calls}}}}]}``, software sorted
        by id; operations always list the three INSi operations (zero when unused)."""
        self.flush()
        db.ensure(self.db, SCHEMA)
        sql = "SELECT software_id, operation, result, calls FROM monthly_stats WHERE month = ?"
        params: list[str] = [month]
        if software_id is not None:
            sql += " AND software_id = ?"
            params.append(software_id)
        with self.db.connect() as conn:
            names = dict(conn.execute("SELECT idam, name FROM software").fetchall())
            counted = conn.execute(sql + " ORDER BY 1, 2, 3", params).fetchall()
        per_software: dict[str, dict] = {}
        for sid, operation, result, calls in counted:
            entry = per_software.setdefault(sid, _empty_software(sid, names.get(sid)))
            op = entry["operations"].setdefault(operation, {"total": 0, "results": {}})
            op["results"][result] = calls
            op["total"] += calls
            entry["total"] += calls
        if software_id is not None and software_id not in per_software:
            per_software[software_id] = _empty_software(software_id, names.get(software_id))
        software = [per_software[k] for k in sorted(per_software)]
        return {
            "month": month,
            "softwareId": software_id,
            "total": sum(s["total"] for s in software),
            "software": software,
        }


def _error_name(exc: BaseException) -> str:
    """The name of a database error's class (psycopg's, when the backend translated it): its
    message may quote the row (PostgreSQL's "Failing row contains …"), never logged here."""
    return type(exc.__cause__ or exc).__name__


def _drop(row: tuple, exc: BaseException) -> None:
    """Log and count a row the database refuses for good. Logged: when, which operation and
    channel, the result and the query hash — never the software, structure or professional
    of the call, nor the error's message (which may quote them)."""
    at, _software, _structure, _professional, operation, channel, _auth, result, digest, _ = row
    log.error(
        "INSi audit row refused by the database (%s) and dropped: at=%s operation=%r "
        "channel=%r result=%r query_hash=%s",
        _error_name(exc),
        at,
        operation,
        channel,
        result,
        digest,
    )
    metrics.insi_audit_row_dropped()


def _empty_software(software_id: str, name: str | None) -> dict:
    return {
        "softwareId": software_id,
        "name": name,
        "total": 0,
        "operations": {op: {"total": 0, "results": {}} for op in OPERATIONS},
    }


@dataclass(frozen=True)
class Software:
    """A registered software: its CNDA authorisation number (IDAM) and a name."""

    idam: str
    name: str
    added_at: str


class SoftwareRegistry:
    """Software authorisation numbers accepted by the service (docs/reference/insi-teleservice.md
    §3, ``ContexteLPS``).

    Read on every SOAP call (one primary-key lookup): a ``santeid insi software add/remove``
    in another process takes effect at once, no restart."""

    def __init__(self, database: db.Database, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = database
        self._clock = clock

    def _execute(self, sql: str, params: tuple = ()) -> db.Result:
        db.ensure(self._db, SCHEMA)
        return self._db.execute(sql, params)

    def add(self, idam: str, name: str, *, replace: bool = False) -> Software:
        """Register ``idam``; ``ValueError`` if malformed, or already there and not ``replace``."""
        if not valid_idam(idam):
            raise ValueError(
                f"{idam!r} is not an authorisation number (1-64 letters, digits, '.', '_', '-')"
            )
        if not name.strip():
            raise ValueError("the software name must not be empty")
        software = Software(idam, name.strip(), timestamp(self._clock()))
        sql = "INSERT INTO software (idam, name, added_at) VALUES (?, ?, ?)"
        if replace:
            sql += (
                " ON CONFLICT (idam) DO UPDATE SET name = excluded.name,"
                " added_at = excluded.added_at"
            )
        try:
            self._execute(sql, (software.idam, software.name, software.added_at))
        except db.IntegrityError:
            raise ValueError(f"software {idam!r} is already registered") from None
        return software

    def get(self, idam: str) -> Software | None:
        row = self._execute(
            "SELECT idam, name, added_at FROM software WHERE idam = ?", (idam,)
        ).fetchone()
        return Software(*row) if row else None

    def list(self) -> list[Software]:
        rows = self._execute("SELECT idam, name, added_at FROM software ORDER BY idam")
        return [Software(*row) for row in rows]

    def remove(self, idam: str) -> bool:
        """Unregister ``idam``; False if it was not registered."""
        return self._execute("DELETE FROM software WHERE idam = ?", (idam,)).rowcount > 0

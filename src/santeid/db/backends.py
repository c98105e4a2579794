"""The two backends of :mod:`santeid.db`: an SQLite file (embedded) and PostgreSQL (psycopg 3
with a connection pool).

Both hand out :class:`Connection` objects with one small API: ``execute`` (one statement,
every row fetched), ``executemany`` and ``transaction``. SQL is written once with ``?``
placeholders (the SQLite style); the PostgreSQL backend turns them into psycopg's ``%s``.
Connections are in autocommit mode: a statement outside :meth:`Connection.transaction` is its
own transaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
import os
import re
import select
import sqlite3
import threading
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Literal
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from santeid.settings import ConfigurationError
from santeid.sqlite_pool import ConnectionPool

log = logging.getLogger(__name__)

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class PostgresError(Exception):
    """An error of the PostgreSQL backend, raised from psycopg's own (its ``__cause__``).

    psycopg is imported only when a PostgreSQL database is opened (≈ 0.1 s that every CLI call
    and server worker of an embedded installation would otherwise pay); the error tuples below
    are built at import, so they name these classes, which the backend raises in psycopg's
    place.
    """


class PostgresIntegrityError(PostgresError):
    """A constraint refused the row (psycopg's ``IntegrityError``)."""


class PostgresUnavailable(PostgresError):
    """The server cannot be used now: unreachable, refused the login, or no pooled connection
    came free in time (psycopg's ``OperationalError``, psycopg_pool's ``PoolTimeout``)."""


class PostgresLoginRefused(PostgresUnavailable):
    """The connection is refused for a reason waiting will not mend: the database or the role
    of ``database_url`` does not exist, its password or address is refused, or its TLS
    settings do not fit the server (``sslmode``, ``sslrootcert``). An outage to a request
    (503, like any), a configuration error to a start (:class:`santeid.startup.Start`).

    libpq gives a failed connection's reason as text only, no SQLSTATE: it is recognised by
    PostgreSQL's and libpq's English messages (a server whose ``lc_messages`` is another
    language is taken for an outage, whose message carries the server's words)."""


#: PostgreSQL's reasons for refusing a connection for good (``3D000``, ``28000``, ``28P01``),
#: as libpq reports them: https://www.postgresql.org/docs/current/errcodes-appendix.html; and
#: libpq's own refusals of the TLS settings of ``database_url``
#: (https://www.postgresql.org/docs/current/libpq-ssl.html): an ``sslmode`` asking TLS of a
#: server without it, an ``sslrootcert`` missing or unreadable, a server certificate for
#: another host name.
_REFUSED_FOR_GOOD = re.compile(
    r'FATAL:\s+(?:database ".*" does not exist|role ".*" does not exist'
    r"|password authentication failed|no pg_hba\.conf entry)"
    r"|server does not support SSL, but SSL was required"
    r'|root certificate file ".*" does not exist|could not read root certificate file'
    r"|server certificate for .* does not match host name"
)


class SqliteUnavailable(sqlite3.OperationalError):
    """The SQLite file cannot be used now (:func:`sqlite_unavailable`), raised from sqlite3's
    ``OperationalError`` (its ``__cause__``), whose message and result code it keeps."""


class UnstorableText(ValueError):
    """A statement that writes was given text with a NUL character, which PostgreSQL's text
    types cannot hold (https://www.postgresql.org/docs/current/datatype-character.html), or
    with a lone surrogate (a JSON ``"\\ud800"``), which is no UTF-8 text for either backend
    (sqlite3 raises ``UnicodeEncodeError``): both backends refuse it before anything is sent,
    so an installation answers the same on either. Code writing text from outside checks it
    first (:func:`storable`)."""


#: SQLite's primary result codes (https://www.sqlite.org/rescode.html) that say the file cannot
#: be used now, whatever the statement: another connection holds the lock past the busy
#: timeout (``BUSY``, ``LOCKED``, ``PROTOCOL``), the disk failed or is full (``IOERR``,
#: ``FULL``), the file cannot be opened or written (``CANTOPEN``; ``READONLY``: its permissions,
#: or a file system remounted read-only after errors). The same statement succeeds once the
#: operator or the other process is done. Any other ``OperationalError`` is ``SQLITE_ERROR``
#: (https://www.sqlite.org/rescode.html#error): a syntax error, no such table, no such column —
#: the statement is wrong for the file as it is, a bug or tables changed behind santeid's back
#: (start-up created or checked them all: :func:`santeid.db.schemas.prepare`), which no retry
#: mends, as PostgreSQL's ``ProgrammingError`` (docs/deployment.md, "Outages").
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
    }
)


def sqlite_unavailable(exc: sqlite3.OperationalError) -> SqliteUnavailable | None:
    """``exc`` as :class:`SqliteUnavailable` when its result code says the file cannot be used
    now (:data:`_SQLITE_UNAVAILABLE`; an extended code's low byte is its primary code), else
    ``None``: the statement is wrong."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _SQLITE_UNAVAILABLE:
        return None
    unavailable = SqliteUnavailable(*exc.args)
    unavailable.sqlite_errorcode = code
    unavailable.sqlite_errorname = exc.sqlite_errorname
    return unavailable


class _SqliteErrors(contextlib.ContextDecorator):
    """``with sqlite_errors:`` (or ``@sqlite_errors``): an ``OperationalError`` of sqlite3 that
    means the file cannot be used now is raised as :class:`SqliteUnavailable`. Every path of
    the SQLite backend goes through it, and so does code that reads an SQLite file of its own
    (the directory's watcher, the civil-status base). A class, not a generator: one of these
    costs ≈ 0.1 µs on the INSi path."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> Literal[False]:
        if type(exc) is sqlite3.OperationalError:
            unavailable = sqlite_unavailable(exc)
            if unavailable is not None:
                raise unavailable from exc
        return False


sqlite_errors = _SqliteErrors()

#: Every backend's "a constraint refused this row" error (duplicate key, CHECK, NOT NULL).
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError, PostgresIntegrityError)
#: Every backend's error: the database is unreachable, locked, full, or refused a statement.
DatabaseError: tuple[type[Exception], ...] = (sqlite3.Error, PostgresError, UnstorableText)
#: The database cannot be used right now (unreachable, no connection free, locked, disk
#: full or failing): the web layer answers 503, as for the store. Other errors — a syntax
#: error, a missing table or column — are bugs, answered 500 (:data:`_SQLITE_UNAVAILABLE`).
DatabaseUnavailable: tuple[type[Exception], ...] = (SqliteUnavailable, PostgresUnavailable)
#: What a health check turns into "not ready" (the database, or the network under it).
_PING_FAILURES: tuple[type[Exception], ...] = (*DatabaseError, OSError)


@dataclass(frozen=True, slots=True)
class Result:
    """The rows of one statement (all fetched) and how many rows it changed."""

    rows: list[tuple]
    rowcount: int
    #: The DB-API ``cursor.description`` (``None`` for a statement without result columns).
    description: Sequence[Sequence[Any]] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(d[0] for d in self.description or ())

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)


#: The largest integer both backends hold (SQLite's INTEGER, PostgreSQL's ``bigint``): a
#: number past it, a ``LIMIT`` or ``OFFSET`` included, is refused by both (an
#: ``OverflowError`` from sqlite3, "bigint out of range" from PostgreSQL), and no row lies
#: past it (https://www.sqlite.org/datatype3.html,
#: https://www.postgresql.org/docs/current/datatype-numeric.html).
MAX_INTEGER = 2**63 - 1


def storable(text: str) -> bool:
    """Whether the database can hold ``text``: no NUL character and no lone surrogate
    (:class:`UnstorableText`)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(param: Any) -> bool:
    return type(param) is str and not storable(param)


def _holdable(sql: str, params: Sequence[Any]) -> Sequence[Any]:
    """``params`` as both backends bind them. A text neither can hold (:func:`storable`) equals
    no stored text: in a statement that only reads or deletes it is bound as NULL, which equals
    nothing either (a lookup by such an id finds nothing); a statement that writes (``INSERT``,
    ``UPDATE``…) is refused with :class:`UnstorableText`."""
    if not any(_unstorable(p) for p in params):
        return params
    if sql.lstrip()[:6].upper() not in ("SELECT", "DELETE"):
        raise UnstorableText("text with a NUL character or a lone surrogate cannot be stored")
    return tuple(None if _unstorable(p) else p for p in params)


def _holdable_rows(sql: str, rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
    return [_holdable(sql, row) for row in rows]


@functools.lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """``?`` placeholders → ``%s``, and a literal ``%`` → ``%%`` (psycopg's escape), outside
    quoted strings and identifiers."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        if ch == "%":
            out.append("%%")
            continue
        out.append(ch)
    return "".join(out)


class Connection:
    """One connection, used by one thread at a time."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed at the end of the block, rolled back on an exception.
        SQLite takes the write lock at once (``BEGIN IMMEDIATE``), so two writers queue
        instead of one failing half-way."""
        raise NotImplementedError
        yield self  # pragma: no cover


class SqliteConnection(Connection):
    dialect = SQLITE

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with sqlite_errors:
            cursor = self.raw.execute(sql, tuple(_holdable(sql, params)))
            rows = cursor.fetchall()  # to the end: an UPDATE … RETURNING releases its lock now
        return Result(rows, cursor.rowcount, cursor.description)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with sqlite_errors:
            self.raw.executemany(sql, _holdable_rows(sql, rows))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        with sqlite_errors:
            self.raw.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK")
                raise
            self.raw.execute("COMMIT")


@contextlib.contextmanager
def _postgres_errors() -> Iterator[None]:
    """psycopg's errors raised as :class:`PostgresError` and its subclasses, message kept."""
    import psycopg
    import psycopg_pool

    try:
        yield
    except psycopg.IntegrityError as exc:
        raise PostgresIntegrityError(str(exc)) from exc
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        if _REFUSED_FOR_GOOD.search(str(exc)):
            raise PostgresLoginRefused(str(exc)) from exc
        raise PostgresUnavailable(str(exc)) from exc
    except psycopg.Error as exc:
        raise PostgresError(str(exc)) from exc


class PostgresConnection(Connection):
    dialect = POSTGRESQL

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        # Without parameters psycopg sends the text as it is: no placeholder, no escaping.
        params = tuple(_holdable(sql, params))
        with _postgres_errors():
            cursor = self.raw.execute(postgres_sql(sql) if params else sql, params or None)
            rows = cursor.fetchall() if cursor.description else []
        return Result(rows, cursor.rowcount, cursor.description)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = _holdable_rows(sql, rows)
        with _postgres_errors(), self.raw.cursor() as cursor:
            cursor.executemany(postgres_sql(sql), rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        # The COMMIT at the end of the block may fail too (a deferred constraint, a lost server).
        with _postgres_errors(), self.raw.transaction():
            yield self


class Database:
    """Where one component's tables live. Thread-safe and fork-safe: a process that forked
    (gunicorn, Granian workers) never uses a connection its parent opened."""

    dialect: str
    url: str
    #: Upgrade schemas on first use (``database_auto_upgrade``); off: only check them.
    auto_upgrade: bool = True
    #: A schema newer than this santeid is served, not refused: a worker's of a running server
    #: (``santeid.db.schemas.prepare``, ``santeid.db.ensure``).
    newer_served: bool = False

    def __init__(self) -> None:
        #: Components whose schema was upgraded or checked in this process.
        self.ready_schemas: set[str] = set()
        self.schema_lock = threading.Lock()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        raise NotImplementedError
        yield  # pragma: no cover

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.connect() as conn, conn.transaction():
            yield conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement in its own transaction."""
        with self.connect() as conn:
            return conn.execute(sql, params)

    def ping(self, timeout: float | None = None) -> bool:
        """Whether the database answers now (``/health``); never raises, logs why not.
        ``timeout``: the seconds it may wait, for a backend that waits on a server
        (PostgreSQL); an SQLite file answers or fails at once."""
        try:
            return bool(self.execute("SELECT 1").scalar() == 1)
        except _PING_FAILURES as exc:
            return self._ping_failed(exc)

    def _ping_failed(self, exc: Exception) -> bool:
        """``False``, the reason logged (the URL without its password)."""
        log.warning(
            "database %s does not answer: %s: %s", redact(self.url), type(exc).__name__, exc
        )
        return False

    @contextlib.contextmanager
    def long_transaction(self) -> Iterator[Connection]:
        """A transaction whose statements may take longer than a request may wait (PostgreSQL's
        :attr:`PostgresDatabase.timeout`): schema upgrades, which may first wait for another
        host's, and bulk copies."""
        with self.transaction() as conn:
            yield conn

    def close(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r})"


class SqliteDatabase(Database):
    """One SQLite file in WAL mode (readers never wait for the writer).

    ``durable``: ``synchronous = FULL``, every commit reaches the disk before it returns (what
    must survive a power cut: device enrolments, revocations); otherwise ``NORMAL``, where a
    power cut may lose the last commits but never corrupts the file
    (https://www.sqlite.org/pragma.html#pragma_synchronous).
    """

    dialect = SQLITE
    #: Seconds a statement waits for another process's write lock.
    BUSY_TIMEOUT = 5.0
    #: Idle connections kept for reuse.
    MAX_IDLE = 8

    def __init__(self, path: Path | str, *, durable: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.durable = durable
        self._pool = ConnectionPool(
            self.path,
            pragmas=(
                "PRAGMA foreign_keys = ON",
                f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}",
            ),
            busy_timeout=self.BUSY_TIMEOUT,
            max_idle=self.MAX_IDLE,
        )
        self._wal_lock = threading.Lock()
        self._wal = False

    @sqlite_errors
    def _take(self) -> sqlite3.Connection:
        self._take_wal()
        return self._pool.take()

    def _take_wal(self) -> None:
        if not self._wal:
            with self._wal_lock:
                if not self._wal:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    conn = self._pool.open()
                    try:
                        # WAL is a property of the file: every later connection uses it.
                        conn.execute("PRAGMA journal_mode = WAL")
                    finally:
                        conn.close()
                    self._wal = True

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.raw_connection() as raw:
            yield SqliteConnection(raw)

    @contextlib.contextmanager
    def raw_connection(self) -> Iterator[sqlite3.Connection]:
        """A pooled ``sqlite3`` connection (autocommit), for code written against SQLite alone
        — the per-host national bases. Rolled back if the block fails inside a transaction;
        its errors raised as the backend's (:data:`sqlite_errors`)."""
        raw = self._take()
        with sqlite_errors:
            try:
                yield raw
            except BaseException:
                try:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                except sqlite3.Error:
                    raw.close()  # unusable: never hand it to the next caller
                else:
                    self._pool.give_back(raw)
                raise
        self._pool.give_back(raw)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement in its own transaction, without the context managers of
        :meth:`connect`: this runs on request paths (a registry lookup per INSi SOAP call)."""
        params = _holdable(sql, params)
        raw = self._take()
        try:
            with sqlite_errors:
                cursor = raw.execute(sql, params if type(params) is tuple else tuple(params))
                result = Result(cursor.fetchall(), cursor.rowcount, cursor.description)
        except BaseException:
            raw.close()  # its state is unknown: never hand it to the next caller
            raise
        self._pool.give_back(raw)
        return result

    def exists(self) -> bool:
        return self.path.exists()

    @contextlib.contextmanager
    def read_only(self) -> Iterator[Connection]:
        """A connection outside the pool that cannot write (``mode=ro``,
        https://www.sqlite.org/uri.html): nothing is created or changed — not the file, not
        its journal mode — and it never waits for another connection's write lock. The file
        must exist."""
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        with sqlite_errors:
            raw = sqlite3.connect(uri, uri=True, timeout=self.BUSY_TIMEOUT, isolation_level=None)
        try:
            yield SqliteConnection(raw)
        finally:
            raw.close()

    @sqlite_errors
    def open_unpooled(self) -> sqlite3.Connection:
        """A new connection outside the pool (schema changes, bulk loads); the caller closes it.
        What the caller runs on it is raised as sqlite3 raises it, unless run ``with``
        :data:`sqlite_errors`."""
        self._take_wal()
        return self._pool.open()

    def close(self) -> None:
        self._pool.close()


#: Pools a forked child inherited from its parent (see :meth:`PostgresDatabase._get_pool`).
_INHERITED_POOLS: list[Any] = []
#: Set inside :meth:`PostgresDatabase.long_transaction`: statements wait for their answer
#: without a deadline.
_UNHURRIED: contextvars.ContextVar[bool] = contextvars.ContextVar("unhurried", default=False)
#: Set inside :meth:`PostgresDatabase.ping`: seconds an answer is waited for, in place of the
#: connection's ``answer_timeout`` (a health check answers sooner than a request gives up).
_ANSWER_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "answer_deadline", default=None
)


@functools.cache
def _deadline_connection_class() -> Any:
    """psycopg's ``Connection`` that gives up on an answer after ``answer_timeout`` seconds.

    libpq waits for an answer as long as the socket stays open: a frozen server (a stopped
    process, a hung host whose kernel still acknowledges) would hold a request forever, and
    TCP keepalives and ``tcp_user_timeout`` cannot see it. The connection is closed when the
    time is up (its state is unknown), and the caller gets psycopg's ``OperationalError``,
    that is :class:`PostgresUnavailable`."""
    import psycopg
    from psycopg import errors

    wait_timeout = getattr(errors, "_WaitTimeout", psycopg.OperationalError)

    class DeadlineConnection(psycopg.Connection):
        answer_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            if timeout is None and not _UNHURRIED.get():
                timeout = _ANSWER_DEADLINE.get() or self.answer_timeout
            try:
                return super().wait(gen, interval=interval, timeout=timeout)
            except wait_timeout:
                self.pgconn.finish()  # mid-statement: never handed out again
                raise psycopg.OperationalError(
                    f"the server did not answer within {timeout:g} s"
                ) from None

    return DeadlineConnection


def _dropped(raw: Any) -> bool:
    """Whether an idle pooled connection was ended by the server (a restart, an administrator):
    its socket then has the server's farewell or end-of-file to read, where an idle session has
    nothing — one ``poll`` of no time, no round trip. Such a connection is checked for real and
    ``True`` if the check fails.

    ``poll(2)``, not ``select(2)``: ``select`` cannot watch a descriptor numbered 1024 or more
    (``FD_SETSIZE``), which a busy process's connections soon are."""
    if raw.closed:
        return True
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN)
        ready = poller.poll(0)
    except (OSError, ValueError):
        return True
    if not ready:
        return False
    import psycopg
    import psycopg_pool

    try:
        psycopg_pool.ConnectionPool.check_connection(raw)
    except psycopg.Error:
        return True
    return False


class PostgresDatabase(Database):
    """A PostgreSQL database through a psycopg 3 connection pool (one pool per process).

    ``url`` is a libpq URI (https://www.postgresql.org/docs/current/libpq-connect.html
    §34.1.1): TLS with ``?sslmode=verify-full&sslrootcert=/path/ca.pem`` and, for client
    certificates, ``sslcert`` / ``sslkey``.

    ``timeout`` bounds every wait of a request on the server: for a free pooled connection,
    for a new connection (``connect_timeout``), and for each statement's answer (a deadline
    of the client's, and the kernel's ``tcp_user_timeout``); past it the request fails with
    :class:`PostgresUnavailable` (503). The server's ``statement_timeout`` is a second
    shorter, so that a statement that is merely slow is stopped by the server, which says so
    and keeps the connection usable. It is set on each new connection (:meth:`_configure`)
    rather than sent in the startup packet's ``options``, which PgBouncer refuses, and only
    where the operator has not set one (docs/deployment.md, "Outages").
    """

    dialect = POSTGRESQL
    #: Seconds a request waits on the server before it is refused as unavailable
    #: (docs/deployment.md, "Outages").
    TIMEOUT = 5.0
    #: Seconds ``/health`` waits for a connection.
    PING_TIMEOUT = 2.0
    #: Seconds the pool keeps trying to replace a connection it lost, psycopg_pool's
    #: ``reconnect_timeout`` (https://www.psycopg.org/psycopg3/docs/api/pool.html): its
    #: attempts back off 1 s, 2 s, then what remains of this, and stop; the next request that
    #: finds the pool empty starts a new attempt at once. Its default, 5 minutes, let the
    #: backoff grow to 64 s during a long outage, and requests kept failing up to a minute
    #: after the server was back (docs/deployment.md, "Outages").
    RECONNECT_TIMEOUT = 5.0
    #: TCP keepalives on idle connections (seconds before the first probe, between probes,
    #: probes lost): a server that vanished is noticed before the connection is used.
    KEEPALIVES = (10, 2, 3)

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        timeout: float = TIMEOUT,
        prepared_statements: bool = True,
    ) -> None:
        try:
            import psycopg  # noqa: F401 (imported here, not with the module: see PostgresError)
        except ImportError:  # pragma: no cover - psycopg is a declared dependency
            raise ConfigurationError(
                "database_url is postgresql:// but psycopg is not installed"
            ) from None
        super().__init__()
        self.url = url
        self.pool_size = pool_size
        self.timeout = timeout
        self.prepared_statements = prepared_statements
        self._lock = threading.Lock()
        self._pool: Any = None
        self._pid = 0

    def connection_kwargs(self) -> dict[str, Any]:
        """libpq parameters of every connection: see the class docstring
        (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS).
        All of them act in libpq itself: nothing is added to what the server (or a PgBouncer
        in front of it) is sent at startup."""
        idle, interval, count = self.KEEPALIVES
        return {
            # libpq counts whole seconds and treats less than 2 as 2.
            "connect_timeout": max(2, int(self.timeout)),
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": interval,
            "keepalives_count": count,
            "tcp_user_timeout": int(self.timeout * 1000),
        }

    def _prepare_kwargs(self) -> dict[str, Any]:
        """psycopg's ``prepare_threshold`` of the pooled connections: its default (a statement
        run more than 5 times on a connection is prepared, https://www.psycopg.org/psycopg3/docs/advanced/prepare.html),
        or ``None`` — nothing is ever prepared — with ``prepared_statements`` off: a PgBouncer
        in transaction pooling mode that does not track prepared statements (before 1.21, or
        ``max_prepared_statements = 0``, https://www.pgbouncer.org/config.html#max_prepared_statements)
        runs a statement on a server connection where it was never prepared, or was prepared
        by another client ("prepared statement "_pg3_0" does not exist" / "already exists")."""
        return {} if self.prepared_statements else {"prepare_threshold": None}

    @property
    def statement_timeout_ms(self) -> int:
        return max(500, int((self.timeout - 1) * 1000))

    def _configure(self, raw: Any) -> None:
        """Each new pooled connection: the answer deadline, and the server's
        ``statement_timeout`` where it is at its default — an operator's own value (the URL's
        ``options=-c statement_timeout=…``, ``ALTER ROLE``/``ALTER DATABASE … SET``,
        ``postgresql.conf``) is kept (``source`` in
        https://www.postgresql.org/docs/current/view-pg-settings.html). One round trip; a
        session setting, as any ``SET``."""
        raw.answer_timeout = self.timeout
        raw.execute(
            "SELECT set_config('statement_timeout', %s, false) FROM pg_settings"
            " WHERE name = 'statement_timeout' AND source = 'default'",
            (f"{self.statement_timeout_ms}ms",),
        )

    def _get_pool(self) -> Any:
        import psycopg_pool

        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                return self._pool
        connection_class = _deadline_connection_class()
        kwargs = self.connection_kwargs()
        # One direct connection first: an unreachable server or a refused login fails here at
        # once with libpq's own message, instead of the pool retrying in the background until
        # its timeout. Outside the lock, so that callers arriving meanwhile each make their own
        # attempt rather than wait for the others' in turn; within a ping's deadline when one
        # is set (psycopg counts whole seconds, 2 at least, as libpq does).
        deadline = _ANSWER_DEADLINE.get()
        if deadline is not None:
            first = max(2, min(kwargs["connect_timeout"], math.ceil(deadline)))
            kwargs = {**kwargs, "connect_timeout": first}
        connection_class.connect(self.url, **kwargs).close()
        kwargs = self.connection_kwargs()
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                if self._pool is not None:
                    # Inherited through fork(): its sockets are the parent's. Kept referenced
                    # so that it is never garbage-collected here, which would end the
                    # parent's sessions (libpq sends Terminate when a connection is freed).
                    _INHERITED_POOLS.append(self._pool)
                self._pool = psycopg_pool.ConnectionPool(
                    self.url,
                    connection_class=connection_class,
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs={"autocommit": True, **self._prepare_kwargs(), **kwargs},
                    configure=self._configure,
                    timeout=self.timeout,
                    reconnect_timeout=self.RECONNECT_TIMEOUT,
                    name="santeid",
                    open=True,
                )
                self._pid = os.getpid()
            return self._pool

    def _checkout(self, pool: Any, timeout: float | None) -> Any:
        """A pooled connection the server has not ended. After a server restart every idle one
        was: each is replaced here, before any statement ran on it, so no request fails for
        it ("the pool reconnects by itself", docs/deployment.md)."""
        for _ in range(self.pool_size):
            raw = pool.getconn(timeout)
            if not _dropped(raw):
                return raw
            pool.putconn(raw)  # closed: the pool opens a new one in its place
        return pool.getconn(timeout)

    @contextlib.contextmanager
    def connect(self, timeout: float | None = None) -> Iterator[Connection]:
        with _postgres_errors():
            pool = self._get_pool()
            raw = self._checkout(pool, timeout)
            try:
                with raw:  # commits, or rolls back on an exception; never closes a pooled one
                    yield PostgresConnection(raw)
            finally:
                pool.putconn(raw)

    @contextlib.contextmanager
    def long_transaction(self) -> Iterator[Connection]:
        token = _UNHURRIED.set(True)
        try:
            with self.transaction() as conn:
                conn.execute("SET LOCAL statement_timeout = 0")
                yield conn
        finally:
            _UNHURRIED.reset(token)

    def ping(self, timeout: float | None = None) -> bool:
        # A health check answers within ``timeout`` (PING_TIMEOUT by default) even when the
        # pool waits for a server that went away, or the server is frozen (the answer's own
        # deadline), or the pool is not open yet in this process (its first connection's
        # ``connect_timeout``, 2 s at least: :meth:`_get_pool`).
        deadline = self.PING_TIMEOUT if timeout is None else timeout
        token = _ANSWER_DEADLINE.set(deadline)
        try:
            with self.connect(timeout=deadline) as conn:
                return bool(conn.execute("SELECT 1").scalar() == 1)
        except _PING_FAILURES as exc:
            return self._ping_failed(exc)
        finally:
            _ANSWER_DEADLINE.reset(token)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close()


def redact(url: str) -> str:
    """The URL without its password, for logs and messages (an unparsable one: its scheme
    only, since where its password is cannot be told)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return f"{url.split(':', 1)[0]}://… (not a valid URL)"
    if password is None:
        return url
    netloc = parts.netloc.replace(":" + password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


#: How a ``database_url`` starts, exactly (libpq, too, takes only these lower-case prefixes:
#: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS).
URL_PREFIXES = ("sqlite:///", "postgresql://", "postgres://")


def _sqlite_path(url: str) -> str | None:
    """The file of an ``sqlite:///`` URL, ``None`` for a ``postgresql://`` one; raises
    :class:`ConfigurationError` for anything else. The one check of a ``database_url``: the
    settings (at load) and :func:`open_url` both use it."""
    if not url.startswith(URL_PREFIXES):
        raise ConfigurationError(
            "database_url must be empty (embedded SQLite files under data_dir), sqlite:///path "
            f"or postgresql://user:password@host:5432/database, got {redact(url)!r}"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsed on access: "host:port" with a bad port raises here)
    except ValueError as exc:
        message = f"database_url {redact(url)!r} is not a valid URL: {exc}"
        raise ConfigurationError(message) from None
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise ConfigurationError(
                f"database_url {url!r}: write sqlite:///relative/path or sqlite:////absolute/path"
            )
        return path
    return None


def check_url(url: str) -> None:
    """Raise :class:`ConfigurationError` unless santeid can open ``url``."""
    _sqlite_path(url)


def open_url(
    url: str, *, durable: bool = False, pool_size: int = 10, prepared_statements: bool = True
) -> Database:
    """A :class:`Database` for ``sqlite:///path`` (``sqlite:////abs/path`` or
    ``sqlite:///rel/path``) or ``postgresql://…`` (also ``postgres://``)."""
    path = _sqlite_path(url)
    if path is not None:
        return SqliteDatabase(path, durable=durable)
    return PostgresDatabase(url, pool_size=pool_size, prepared_statements=prepared_statements)

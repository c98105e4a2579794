"""One persistence layer: connections, transactions, schema versions and migrations.

Every durable repository (clients, e-CPS devices, CPS cards and revocations, INSi software,
audit trail and statistics, the sandbox outbox) reaches its tables through a
:class:`~santeid.db.backends.Database` from :func:`database_for`:

* ``database_url`` empty (the default): the embedded installation, one SQLite file per
  component under ``data_dir`` — the files santeid always used, so ``make run`` needs nothing;
* ``sqlite:///path``: every component in that one SQLite file;
* ``postgresql://user:password@host/db`` (libpq URI, TLS with ``sslmode``/``sslrootcert``):
  every component in one PostgreSQL database shared by several hosts (psycopg 3, a
  connection pool per process).

Each component declares its :class:`Schema`: numbered steps, per dialect where the SQL
differs. The version reached is kept in the ``santeid_schema`` table, one row per component.
:func:`upgrade` applies the missing steps in one transaction (PostgreSQL: under an advisory
lock, so hosts starting together do not race); a database newer than this santeid is refused
with :class:`SchemaTooNew`. ``santeid db upgrade`` runs it on demand; servers run it at start
unless ``database_auto_upgrade`` is false, in which case they refuse an outdated schema
(:class:`SchemaOutdated`).

The read-mostly national bases — civil status (INSi) and the professionals directory — are not
components: they stay one SQLite file per host, replicated by import (docs/decisions/persistence.md
gives the measurements).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from santeid.clock import system_clock
from santeid.db.backends import MAX_INTEGER
from santeid.db.backends import POSTGRESQL
from santeid.db.backends import SQLITE
from santeid.db.backends import Connection
from santeid.db.backends import Database
from santeid.db.backends import DatabaseError
from santeid.db.backends import DatabaseUnavailable
from santeid.db.backends import IntegrityError
from santeid.db.backends import PostgresDatabase
from santeid.db.backends import Result
from santeid.db.backends import SqliteDatabase
from santeid.db.backends import SqliteUnavailable
from santeid.db.backends import UnstorableText
from santeid.db.backends import open_url
from santeid.db.backends import redact
from santeid.db.backends import sqlite_errors
from santeid.db.backends import storable
from santeid.settings import ConfigurationError

if TYPE_CHECKING:
    from santeid.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "MAX_INTEGER",
    "POSTGRESQL",
    "SQLITE",
    "Component",
    "Connection",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "IntegrityError",
    "PostgresDatabase",
    "Result",
    "Schema",
    "SchemaError",
    "SchemaOutdated",
    "SchemaTooNew",
    "SqliteDatabase",
    "SqliteUnavailable",
    "Step",
    "UnstorableText",
    "database_for",
    "ensure",
    "open_url",
    "redact",
    "sqlite_errors",
    "storable",
    "upgrade",
]


# -- components -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """A group of tables one repository owns.

    ``file_name``: its SQLite file in an embedded installation. ``durable``: its writes must
    survive a power cut once acknowledged (SQLite ``synchronous = FULL``; PostgreSQL commits
    are durable by default, ``synchronous_commit = on``)."""

    name: str
    file_name: str
    durable: bool = False


CLIENTS = Component("clients", "santeid.sqlite3", durable=True)
OUTBOX = Component("outbox", "santeid.sqlite3")
ECPS = Component("ecps", "ecps.sqlite3", durable=True)
CPS = Component("cps", "cps-cards.sqlite3", durable=True)
INSI = Component("insi", "insi.sqlite3")

_shared: dict[tuple[str, int, bool], Database] = {}
_shared_lock = threading.Lock()
#: Embedded files opened recently, so that a repository built per call (the card registry on
#: every card check) reuses a pool whose schema is known to be ready. Bounded: the least
#: recently used is closed (its idle connections only; a repository still holding it reopens).
_embedded: OrderedDict[tuple[str, bool], SqliteDatabase] = OrderedDict()
EMBEDDED_CACHE = 32


def database_for(settings: Settings, component: Component) -> Database:
    """The database holding ``component`` in this installation.

    A ``database_url`` database is shared by every repository of the process (one pool), and
    so is each embedded file."""
    url = settings.database.url
    if not url:
        file_key = (str((settings.data_path / component.file_name).absolute()), component.durable)
        with _shared_lock:
            embedded = _embedded.get(file_key)
            if embedded is None:
                embedded = _embedded[file_key] = SqliteDatabase(
                    file_key[0], durable=component.durable
                )
                evicted = (
                    _embedded.popitem(last=False)[1] if len(_embedded) > EMBEDDED_CACHE else None
                )
            else:
                _embedded.move_to_end(file_key)
                evicted = None
        if evicted is not None:
            evicted.close()
        db: Database = embedded
    else:
        url_key = (url, settings.database.pool_size, settings.database.prepared_statements)
        with _shared_lock:
            shared = _shared.get(url_key)
            if shared is None:
                shared = _shared[url_key] = open_url(
                    url,
                    durable=True,
                    pool_size=settings.database.pool_size,
                    prepared_statements=settings.database.prepared_statements,
                )
        db = shared
    db.auto_upgrade = settings.database.auto_upgrade
    return db


def close_shared(url: str | None = None) -> None:
    """Close the shared pools (of ``url``, or all): at the end of a command or a test."""
    with _shared_lock:
        keys = [key for key in _shared if url is None or key[0] == url]
        closing = [_shared.pop(key) for key in keys]
    for database in closing:
        database.close()


# -- schemas and migrations -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One migration step: the statements of each dialect (the same list for both when
    ``postgresql`` is omitted). Statements are separate strings because SQLite triggers and
    PostgreSQL functions contain semicolons."""

    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...] | None = None

    def statements(self, dialect: str) -> tuple[str, ...]:
        if dialect == POSTGRESQL and self.postgresql is not None:
            return self.postgresql
        return self.sqlite


@dataclass(frozen=True)
class Schema:
    """A component's tables: version ``n`` is reached by applying ``steps[:n]``. Never edit a
    released step; append one."""

    component: Component
    steps: tuple[Step, ...]

    @property
    def version(self) -> int:
        return len(self.steps)


class SchemaError(ConfigurationError):
    """The database's schema cannot be used by this santeid; the message says what to do
    (a :class:`~santeid.settings.ConfigurationError`: ``santeid serve`` prints it and stops)."""


class SchemaTooNew(SchemaError):
    def __init__(self, message: str, *, found: int) -> None:
        super().__init__(message)
        #: The version the database is at.
        self.found = found


class SchemaOutdated(SchemaError):
    pass


_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS santeid_schema ("
    " component  TEXT PRIMARY KEY,"
    " version    INTEGER NOT NULL,"
    " updated_at BIGINT NOT NULL)"
)
#: pg_advisory_xact_lock key serialising schema changes across hosts ("santeid" in ASCII).
_PG_LOCK = 0x73616E74656964


def _found_version(conn: Connection, schema: Schema, url: str, *, create: bool = True) -> int:
    if create:
        conn.execute(_VERSION_TABLE)
    found = conn.execute(
        "SELECT version FROM santeid_schema WHERE component = ?", (schema.component.name,)
    ).scalar()
    found = int(found or 0)
    if found > schema.version:
        raise SchemaTooNew(
            f"the {schema.component.name} tables of {redact(url)} are at schema "
            f"version {found}, newer than the {schema.version} this santeid knows: a newer "
            "santeid upgraded them. Run that version (or newer) instead; santeid never "
            "downgrades a schema.",
            found=found,
        )
    return found


def current_version(db: Database, schema: Schema) -> int:
    """The version the database is at for this component (0: none of its tables, or no
    database at all). Only reads: an SQLite file that does not exist is not created, and one
    that exists is opened read-only (its journal mode left as it is, no write lock waited
    for)."""
    listed = (
        "SELECT to_regclass('santeid_schema') IS NOT NULL"
        if db.dialect == POSTGRESQL
        else "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'santeid_schema'"
    )
    if isinstance(db, SqliteDatabase):
        if not db.exists():
            return 0
        reading = db.read_only()
    else:
        reading = db.connect()
    with reading as conn:
        if not conn.execute(listed).scalar():
            return 0
        return _found_version(conn, schema, db.url, create=False)


def upgrade(db: Database, schema: Schema) -> tuple[int, int]:
    """Apply the missing steps in one transaction; return ``(version found, version now)``.

    Idempotent. Raises :class:`SchemaTooNew` if the database is newer than ``schema``. Not
    bounded by the request timeout: it may wait for another host's upgrade, and a step may
    rebuild an index of a large table."""
    with db.long_transaction() as conn:
        if conn.dialect == POSTGRESQL:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK,))
        found = _found_version(conn, schema, db.url)
        for step in schema.steps[found:]:
            for statement in step.statements(conn.dialect):
                conn.execute(statement)
        if found != schema.version:
            conn.execute(
                "INSERT INTO santeid_schema (component, version, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version,"
                " updated_at = excluded.updated_at",
                # Upgrades run before any service (and its clock) exists: at start-up and
                # from ``santeid db upgrade``.
                (schema.component.name, schema.version, int(system_clock())),
            )
    return found, schema.version


def ensure(db: Database, schema: Schema) -> None:
    """Make ``schema`` usable on ``db`` once per process and database: upgrade it when
    ``database_auto_upgrade`` is on, otherwise check it is exactly at the known version.

    With ``db.newer_served``, a schema newer than this santeid is logged and used rather than
    refused (:class:`SchemaTooNew`) — in a worker of a running server
    (:func:`santeid.db.schemas.prepare`), whose first start found the schema usable: a newer
    release migrated it since, and its steps only add (docs/deployment.md, "Schema versions
    and upgrades"). So on a component's first use too, for a worker that started during an
    outage and checked no schema then."""
    ready = db.ready_schemas
    if schema.component.name in ready:
        return
    with db.schema_lock:
        if schema.component.name in ready:
            return
        try:
            if db.auto_upgrade:
                upgrade(db, schema)
            else:
                found = current_version(db, schema)
                if found < schema.version:
                    raise SchemaOutdated(
                        f"the {schema.component.name} tables of {redact(db.url)} are at schema "
                        f"version {found}, this santeid needs {schema.version}: run "
                        "`santeid db upgrade` (database_auto_upgrade is off)"
                    )
        except SchemaTooNew as exc:
            if not db.newer_served:
                raise
            log.warning(
                "start-up: the %s tables of %s are at schema version %d, newer than the %d "
                "this santeid knows (a newer release migrated them): this worker serves on, as "
                "this server's start found them usable and a newer release's steps only add; "
                "the server itself refuses them when it starts again: finish the roll-out "
                '(docs/deployment.md, "Schema versions and upgrades")',
                schema.component.name,
                redact(db.url),
                exc.found,
                schema.version,
            )
        ready.add(schema.component.name)

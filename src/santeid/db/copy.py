"""``santeid db migrate-from-sqlite``: copy an embedded installation's SQLite files into the
configured database (PostgreSQL), idempotently.

Rows are inserted with ``ON CONFLICT … DO NOTHING`` on each table's key, so a second run copies
nothing and a run interrupted half-way can simply be repeated. The INSi ``monthly_stats`` are
not copied: the target's trigger counts every audit row as it is inserted, so they come out
equal to the source's, and are never counted twice. Identity columns (``audit.id``,
``outbox.id``) keep their values; the sequences are then moved past them.

The civil-status base and the professionals directory are not part of it: they stay one SQLite
file per host (docs/decisions/persistence.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from santeid import db

if TYPE_CHECKING:
    from santeid.settings import Settings


@dataclass(frozen=True)
class Table:
    component: db.Component
    name: str
    key: str
    identity: bool = False


#: In dependency-free order; ``key`` is each table's primary key.
TABLES: tuple[Table, ...] = (
    Table(db.CLIENTS, "client", "client_id"),
    Table(db.OUTBOX, "outbox", "id", identity=True),
    Table(db.ECPS, "devices", "device_id"),
    Table(db.CPS, "cards", "serial"),
    Table(db.INSI, "software", "idam"),
    Table(db.INSI, "audit", "id", identity=True),
)


@dataclass(frozen=True)
class Copied:
    table: str
    source: int
    copied: int

    @property
    def already_there(self) -> int:
        return self.source - self.copied


def _source_rows(path: Path, table: str) -> tuple[tuple[str, ...], list[tuple]]:
    if not path.exists():
        return (), []
    # Read-only: the embedded installation is never modified.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if not found:
            return (), []
        cursor = conn.execute(f"SELECT * FROM {table}")  # noqa: S608 (constant names)
        columns = tuple(d[0] for d in cursor.description)
        return columns, cursor.fetchall()
    finally:
        conn.close()


def migrate_from_sqlite(data_dir: Path | str, settings: Settings) -> list[Copied]:
    """Copy every component's rows from ``data_dir``'s SQLite files into
    ``settings.database_url``; returns what was copied, table by table."""
    from santeid.db.schemas import all_schemas

    schemas = {schema.component.name: schema for schema in all_schemas()}
    report = []
    for table in TABLES:
        target = db.database_for(settings, table.component)
        db.ensure(target, schemas[table.component.name])
        columns, rows = _source_rows(Path(data_dir) / table.component.file_name, table.name)
        if not rows:
            report.append(Copied(table.name, 0, 0))
            continue
        count_sql = f"SELECT count(*) FROM {table.name}"  # noqa: S608 (constant names)
        insert = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT ({table.key}) DO NOTHING"
        )
        with target.transaction() as conn:
            before = conn.execute(count_sql).scalar()
            conn.executemany(insert, rows)
            after = conn.execute(count_sql).scalar()
            if table.identity and conn.dialect == db.POSTGRESQL:
                sequence = f"pg_get_serial_sequence('{table.name}', '{table.key}')"
                highest = f"SELECT max({table.key}) FROM {table.name}"  # noqa: S608
                conn.execute(f"SELECT setval({sequence}, ({highest}))")
        report.append(Copied(table.name, len(rows), after - before))
    return report

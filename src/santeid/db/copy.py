"""``santeid db migrate-from-sqlite``: copy an embedded installation's SQLite files into the
configured database (PostgreSQL), idempotently.

What is copied is derived from the components' schemas (:func:`santeid.db.schemas.all_schemas`,
the registry ``santeid db upgrade`` and ``status`` use): every table their steps create, with its
primary key, unless :data:`NOT_COPIED` names it with the reason — so a table a new step adds is
copied without anyone remembering to list it.

A second run copies what the source holds that the database does not, so a run interrupted
half-way can simply be repeated, and a last run just before switching over picks up what the
embedded installation did since. What it did since is not only new rows: in a table keyed by
a name (clients, e-CPS devices and push subscriptions, cards, INSi software), a row may have
changed since it was copied — a device or card revoked, a client's secret replaced — or been
removed — a client, a software number: such a table comes out equal to the source's (rows
updated, and removed), or a revoked phone or card would be active again once the hosts serve
from the database. The tables keyed by a generated number (:attr:`Table.generated`: the INSi
audit trail, the outbox, the authentication events) only ever gain rows: new rows are
inserted with ``ON CONFLICT … DO NOTHING``, and since there the same id says nothing about the
row, a row whose id is taken by a *different* row (another installation copied into the same
database first) stops the copy with :class:`CopyConflict`, listing them, and that table is
left as it was — never a row silently dropped from the audit trail. A table is read in
batches of :data:`BATCH_ROWS` and copied in one transaction. Identity columns (``audit.id``,
``outbox.id``, ``auth_events.id``) keep their values; their sequences are then moved past them.

The civil-status base and the professionals directory are not part of it: they stay one SQLite
file per host (docs/decisions/persistence.md).
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from santeid import db

if TYPE_CHECKING:
    from santeid.settings import Settings

#: Tables of a component's schema that are not copied, and why.
NOT_COPIED: dict[str, str] = {
    "monthly_stats": (
        "the INSi statistics: the target's trigger counts every audit row as it is inserted, so "
        "they come out equal to the source's and are never counted twice"
    ),
}
#: Source rows read, and inserted with one ``executemany``, at a time.
BATCH_ROWS = 1000


#: Conflicting ids named in a :class:`CopyConflict`'s message, at most.
LISTED_CONFLICTS = 20


class NoInstallation(Exception):
    """The folder given holds no component's SQLite file: not an embedded installation's
    data_dir (its parent, a mistyped path)."""

    def __init__(self, data_dir: Path | str, file_names: list[str]) -> None:
        super().__init__(
            f"{data_dir} holds no file of an embedded installation ({', '.join(file_names)}): "
            "give the data_dir of the installation to copy, the folder of its santeid.sqlite3"
        )


class CopyConflict(Exception):
    """Rows of the source whose generated id the target already gives to a different row."""

    def __init__(self, table: str, ids: list[int]) -> None:
        shown = ", ".join(str(i) for i in ids[:LISTED_CONFLICTS])
        more = f" and {len(ids) - LISTED_CONFLICTS} more" if len(ids) > LISTED_CONFLICTS else ""
        super().__init__(
            f"{table}: {len(ids)} rows of the source have an id the database already gives to "
            f"a different row (ids {shown}{more}); is another installation already copied "
            f"into it? Nothing of {table} was copied."
        )
        self.table = table
        self.ids = ids


@dataclass(frozen=True)
class Table:
    schema: db.Schema
    name: str
    #: Its primary key's columns.
    key: tuple[str, ...]
    #: Keyed by a number the database generates (an SQLite ``INTEGER PRIMARY KEY``, a
    #: PostgreSQL identity): two installations number their rows alike.
    generated: bool = False

    @property
    def component(self) -> db.Component:
        return self.schema.component


def schema_tables(schema: db.Schema) -> tuple[Table, ...]:
    """The tables ``schema``'s steps create, in creation order: found by applying its SQLite
    statements to an empty in-memory database (what each step makes, not what a list says)."""
    conn = sqlite3.connect(":memory:")
    try:
        for step in schema.steps:
            for statement in step.statements(db.SQLITE):
                conn.execute(statement)
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
            )
        ]
        tables = []
        for name in names:
            # PRAGMA table_info: ``pk`` is the column's position in the primary key, 0 if none
            # (https://www.sqlite.org/pragma.html#pragma_table_info).
            columns = conn.execute(f"PRAGMA table_info({name})").fetchall()
            key = tuple(c[1] for c in sorted((c for c in columns if c[5]), key=lambda c: c[5]))
            generated = len(key) == 1 and any(
                c[1] == key[0] and c[2].upper() == "INTEGER" for c in columns
            )
            tables.append(Table(schema, name, key, generated))
        return tuple(tables)
    finally:
        conn.close()


@functools.cache
def all_tables() -> tuple[Table, ...]:
    """Every table of every component, the copied ones and those of :data:`NOT_COPIED`."""
    from santeid.db.schemas import all_schemas

    return tuple(table for schema in all_schemas() for table in schema_tables(schema))


def copied_tables() -> tuple[Table, ...]:
    """The tables ``migrate-from-sqlite`` copies, in the order of the components' registry
    (no table of a component refers to another's)."""
    return tuple(table for table in all_tables() if table.name not in NOT_COPIED)


@dataclass(frozen=True)
class Copied:
    table: str
    #: Rows read from the source.
    source: int
    #: Of those, rows the database did not hold.
    copied: int
    #: Of those, rows the database held with other values (a name-keyed table's).
    updated: int = 0
    #: Rows of the database the source no longer holds, removed (a name-keyed table's).
    removed: int = 0

    @property
    def already_there(self) -> int:
        return self.source - self.copied - self.updated


def _copy_table(source: sqlite3.Connection, table: Table, target: db.Database) -> Copied:
    found = source.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
    ).fetchone()
    if not found:  # a source at an older schema version, without this table yet
        return Copied(table.name, 0, 0)
    cursor = source.execute(f"SELECT * FROM {table.name}")  # noqa: S608 (names from the schemas)
    columns = tuple(d[0] for d in cursor.description)
    count_sql = f"SELECT count(*) FROM {table.name}"  # noqa: S608
    insert = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(table.key)}) DO NOTHING"
    )
    if not table.generated:
        return _mirror_table(cursor, columns, table, target)
    read = 0
    with target.long_transaction() as conn:
        before = conn.execute(count_sql).scalar()
        conflicts: list[int] = []
        while rows := cursor.fetchmany(BATCH_ROWS):
            conflicts += _taken_ids(conn, table, columns, rows)
            if not conflicts:
                _refuse_nul_text(table, columns, rows)
                conn.executemany(insert, rows)
            read += len(rows)
        if conflicts:
            raise CopyConflict(table.name, conflicts)  # the transaction is rolled back
        after = conn.execute(count_sql).scalar()
        if read and conn.dialect == db.POSTGRESQL and len(table.key) == 1:
            # A serial or identity key: its sequence continues after the copied values.
            sequence = conn.execute(
                "SELECT pg_get_serial_sequence(?, ?)", (table.name, table.key[0])
            ).scalar()
            if sequence:
                highest = f"SELECT max({table.key[0]}) FROM {table.name}"  # noqa: S608
                conn.execute(f"SELECT setval(CAST(? AS regclass), ({highest}))", (sequence,))
    return Copied(table.name, read, after - before)


def _mirror_table(
    cursor: sqlite3.Cursor, columns: tuple[str, ...], table: Table, target: db.Database
) -> Copied:
    """Make ``table``, keyed by a name, hold in the database the rows the source holds: new
    rows inserted, rows with other values updated, rows the source no longer holds removed
    (module docstring). These tables are small (clients, devices, cards, software): the
    database's rows are read at once."""
    key_positions = [columns.index(name) for name in table.key]
    other_columns = [name for name in columns if name not in table.key]
    where_key = " AND ".join(f"{name} = ?" for name in table.key)
    insert = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 (names from the schemas)
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    update = (
        f"UPDATE {table.name} SET {', '.join(f'{name} = ?' for name in other_columns)} "  # noqa: S608
        f"WHERE {where_key}"
    )
    delete = f"DELETE FROM {table.name} WHERE {where_key}"  # noqa: S608

    def key_of(row: tuple) -> tuple:
        return tuple(row[position] for position in key_positions)

    read = copied = updated = 0
    with target.long_transaction() as conn:
        there = {
            key_of(row): row
            for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table.name}")  # noqa: S608
        }
        seen: set[tuple] = set()
        while rows := cursor.fetchmany(BATCH_ROWS):
            _refuse_nul_text(table, columns, rows)
            new = [row for row in rows if key_of(row) not in there]
            changed = [
                row
                for row in rows
                if key_of(row) in there
                and not all(_same(a, b) for a, b in zip(row, there[key_of(row)], strict=True))
            ]
            conn.executemany(insert, new)
            if other_columns:
                conn.executemany(
                    update,
                    [
                        tuple(row[columns.index(name)] for name in other_columns) + key_of(row)
                        for row in changed
                    ],
                )
            seen.update(key_of(row) for row in rows)
            read += len(rows)
            copied += len(new)
            updated += len(changed)
        gone = [key for key in there if key not in seen]
        conn.executemany(delete, gone)
    return Copied(table.name, read, copied, updated, len(gone))


def _refuse_nul_text(table: Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Raise :class:`~santeid.db.UnstorableText` naming the table, the row's key and the
    column of the first text holding a NUL character (PostgreSQL's text cannot: data written
    before santeid refused such text may hold one). docs/deployment.md says what to do."""
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            if isinstance(value, str) and not db.storable(value):
                key = ", ".join(f"{name}={row[columns.index(name)]!r}" for name in table.key)
                raise db.UnstorableText(
                    f"{table.name}: the row {key} holds a NUL character in {column}, which "
                    f"PostgreSQL cannot store; nothing of {table.name} was copied (remove the "
                    "character from that row in a copy of the data directory and copy from "
                    "there: docs/deployment.md)"
                )


def _same(a: object, b: object) -> bool:
    if isinstance(b, memoryview):
        b = bytes(b)
    return a == b


def _taken_ids(
    conn: db.Connection, table: Table, columns: tuple[str, ...], rows: list[tuple]
) -> list[int]:
    """The ids of ``rows`` that the target gives to a different row (same id, same values:
    copied before, "already there")."""
    position = columns.index(table.key[0])
    select = (
        f"SELECT {', '.join(columns)} FROM {table.name} "  # noqa: S608 (names from the schemas)
        f"WHERE {table.key[0]} IN ({', '.join('?' * len(rows))})"
    )
    there = {row[position]: row for row in conn.execute(select, [r[position] for r in rows])}
    return [
        row[position]
        for row in rows
        if row[position] in there
        and not all(_same(a, b) for a, b in zip(row, there[row[position]], strict=True))
    ]


def migrate_from_sqlite(data_dir: Path | str, settings: Settings) -> list[Copied]:
    """Copy every component's rows from ``data_dir``'s SQLite files into
    ``settings.database_url``; returns what was copied, table by table.

    A folder holding no component's file is refused (:class:`NoInstallation`), and files a
    newer santeid upgraded, before anything is copied
    (:class:`~santeid.db.SchemaTooNew`, naming the file and the version found): this santeid
    knows neither their new columns nor what they mean."""
    from santeid.db.schemas import all_schemas

    # Copying from a folder that holds none of them would report 0 rows everywhere and
    # succeed, and the hosts would be switched over to an empty database.
    file_names = list(dict.fromkeys(schema.component.file_name for schema in all_schemas()))
    if not any((Path(data_dir) / name).exists() for name in file_names):
        raise NoInstallation(data_dir, file_names)
    for schema in all_schemas():
        source_file = db.SqliteDatabase(Path(data_dir) / schema.component.file_name)
        try:
            db.current_version(source_file, schema)  # only reads, never creates the file
        finally:
            source_file.close()
    report = []
    for table in copied_tables():
        target = db.database_for(settings, table.component)
        db.ensure(target, table.schema)
        path = Path(data_dir) / table.component.file_name
        if not path.exists():
            report.append(Copied(table.name, 0, 0))
            continue
        # Read-only: the embedded installation is never modified.
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            report.append(_copy_table(source, table, target))
        finally:
            source.close()
    return report

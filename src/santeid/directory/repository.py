"""Read and write the professionals directory (SQLite, standard library only).

The provider reads the directory on every login and every userinfo call, from several threads
(and, with gunicorn, several processes). :class:`Directory` therefore:

- takes its connections from :class:`santeid.db.SqliteDatabase`: a small pool, each connection
  handed to one thread at a time (``sqlite3`` connections must not be used by two threads at
  once), dropped after a ``fork``;
- runs the database in WAL mode, so readers never wait for a writer and see a consistent
  snapshot (each :meth:`Directory.get` runs in one read transaction);
- writes in ``BEGIN IMMEDIATE`` transactions with a busy timeout, so two writers queue
  instead of failing;
- keeps the professionals it has read in a per-process cache, emptied as soon as anything
  commits to the file, whichever process or connection wrote (an import, a seed, another
  worker): before each :meth:`Directory.get` a connection that never writes asks SQLite's
  ``PRAGMA data_version`` (https://www.sqlite.org/pragma.html#pragma_data_version), which
  changes when any other connection has committed. A deactivation is therefore seen by the
  next lookup of every worker on the host — the directory is a per-host file
  (docs/decisions/persistence.md), each host importing its own extract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from santeid import db
from santeid.directory.models import STATUSES
from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import OtherId
from santeid.directory.models import Professional
from santeid.directory.models import SavoirFaire
from santeid.directory.models import Structure
from santeid.directory.schema import decode_given_names
from santeid.directory.schema import encode_given_names
from santeid.directory.schema import migrate

if TYPE_CHECKING:
    from santeid.settings import Settings

#: File name of the directory inside ``settings.data_dir``.
FILE_NAME = "directory.sqlite3"
#: Professionals kept per process; the cache is emptied when full, so memory and the cost of a
#: lookup do not grow with the directory.
CACHE_SIZE = 4096


def _columns(model: type, *, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    # Model fields and table columns share their names (see schema.py): derive the lists
    # once instead of spelling thirty column names twice.
    return tuple(f.name for f in dataclasses.fields(model) if f.name not in skip)


STRUCTURE_COLUMNS = _columns(Structure)
ACTIVITY_COLUMNS = _columns(Activity, skip=("structure",))
EXERCICE_COLUMNS = _columns(Exercice, skip=("activities", "other_savoir_faire"))
PERSON_COLUMNS = _columns(Professional, skip=("exercices", "other_ids"))


def _select_list(alias: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns)


# SQL is assembled from the model's field names, never from input, and every value is a bound
# parameter: hence the S608 ("string-built SQL") exemptions below.
#
# The four reads behind get(): each walks a primary key or a (parent, rank) unique index.
SQL_PERSON = (
    f"SELECT {_select_list('p', PERSON_COLUMNS)} FROM person p "  # noqa: S608
    "WHERE p.national_id = ?"
)
SQL_EXERCICES = (
    f"SELECT e.id, {_select_list('e', EXERCICE_COLUMNS)} FROM exercice e "  # noqa: S608
    "WHERE e.national_id = ? ORDER BY e.rank"
)
SQL_ACTIVITIES = (
    f"SELECT a.exercice_id, {_select_list('a', ACTIVITY_COLUMNS)}, "  # noqa: S608
    f"{_select_list('s', STRUCTURE_COLUMNS)} "
    "FROM exercice e JOIN activity a ON a.exercice_id = e.id "
    "LEFT JOIN structure s ON s.identifiant_technique = a.structure_id "
    "WHERE e.national_id = ? ORDER BY e.rank, a.rank"
)
SQL_OTHER_IDS = (
    "SELECT identifiant, origine, qualite FROM other_id WHERE national_id = ? ORDER BY rank"
)
SQL_SAVOIR_FAIRE = (
    "SELECT s.exercice_id, s.code_type_savoir_faire, s.code_savoir_faire "
    "FROM exercice e JOIN savoir_faire s ON s.exercice_id = e.id "
    "WHERE e.national_id = ? ORDER BY e.rank, s.rank"
)


class Directory:
    """The professionals directory stored in one SQLite file.

    Thread-safe; one instance per process is enough (share it through the Flask app).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        # Connections come from the persistence layer's SQLite backend (WAL, foreign keys, a
        # pool that survives fork). In WAL mode synchronous=NORMAL cannot corrupt the file; a
        # power cut may only lose the last commits, which a directory reloaded from the RASS
        # extract can afford. The directory is a per-host file in every deployment
        # (docs/decisions/persistence.md), versioned with PRAGMA user_version (schema.py).
        self._db = db.SqliteDatabase(self.path, durable=False)
        self._init_lock = threading.Lock()
        self._ready = False
        self._cache: dict[str, Professional] = {}
        self._cache_lock = threading.Lock()
        #: A connection that never writes, for ``PRAGMA data_version``, and the process that
        #: opened it (a connection must not cross a ``fork``).
        self._watcher: sqlite3.Connection | None = None
        self._watcher_pid = 0
        self._data_version: int | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> Directory:
        """The directory of this installation: ``{data_dir}/directory.sqlite3``."""
        settings.data_path.mkdir(parents=True, exist_ok=True)
        return cls(settings.data_path / FILE_NAME)

    def __repr__(self) -> str:
        return f"Directory({str(self.path)!r})"

    # -- connections --------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.initialize()
        with self._db.raw_connection() as conn:
            yield conn

    def initialize(self) -> None:
        """Create the file and the schema if missing, or migrate it; idempotent.

        Called on first use, so calling it explicitly is only needed to fail early.
        """
        with self._init_lock:
            if self._ready:
                return
            conn = self._db.open_unpooled()
            try:
                with db.sqlite_errors:
                    migrate(conn)
            finally:
                conn.close()
            self._ready = True

    def close(self) -> None:
        """Close the pooled connections. The directory stays usable and reopens on demand."""
        with self._cache_lock:
            if self._watcher is not None and self._watcher_pid == os.getpid():
                self._watcher.close()
            self._watcher = None
            self._cache.clear()
        self._db.close()

    def _current_version(self) -> int | None:
        """The file's data version as the watcher connection sees it, the cache emptied if it
        moved since the last call; ``None`` (nothing cached) until the file exists."""
        with self._cache_lock:
            if self._watcher is None or self._watcher_pid != os.getpid():
                self._watcher = self._db.open_unpooled()
                self._watcher_pid = os.getpid()
                self._data_version = None  # versions of another connection compare to nothing
            with db.sqlite_errors:
                version = self._watcher.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._cache.clear()
                self._data_version = version
            return version

    def _remember(self, professional: Professional, version: int | None) -> None:
        """Cache ``professional`` as read under ``version``, unless a commit was seen since:
        then the rows may predate it."""
        with self._cache_lock:
            if version is None or version != self._data_version:
                return
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[professional.national_id] = professional

    # -- reads ---------------------------------------------------------------

    def get(self, national_id: str) -> Professional | None:
        """The professional with this (normalised) national id, with every exercice, activity,
        structure and other id, in rank order; ``None`` if unknown.

        Five indexed queries in one read transaction, so a concurrent :meth:`upsert` is seen
        entirely or not at all — or the cached copy, if nothing committed to the file since it
        was read (module docstring). Unknown ids are not cached.
        """
        if not self._ready:
            self.initialize()
        version = self._current_version()
        cached = self._cache.get(national_id)
        if cached is not None:
            return cached
        professional = self._read(national_id)
        if professional is not None:
            self._remember(professional, version)
        return professional

    def _read(self, national_id: str) -> Professional | None:
        with self._connection() as conn:
            conn.execute("BEGIN")
            person = conn.execute(SQL_PERSON, (national_id,)).fetchone()
            if person is None:
                conn.execute("COMMIT")
                return None
            exercice_rows = conn.execute(SQL_EXERCICES, (national_id,)).fetchall()
            activity_rows = conn.execute(SQL_ACTIVITIES, (national_id,)).fetchall()
            other_rows = conn.execute(SQL_OTHER_IDS, (national_id,)).fetchall()
            savoir_faire_rows = conn.execute(SQL_SAVOIR_FAIRE, (national_id,)).fetchall()
            conn.execute("COMMIT")

        activities: dict[int, list[Activity]] = {}
        for row in activity_rows:
            activities.setdefault(row[0], []).append(_activity(row[1:]))
        more: dict[int, list[SavoirFaire]] = {}
        for exercice_id, code_type, code in savoir_faire_rows:
            more.setdefault(exercice_id, []).append(SavoirFaire(code_type, code))
        exercices = tuple(
            _exercice(row[1:], tuple(activities.get(row[0], ())), tuple(more.get(row[0], ())))
            for row in exercice_rows
        )
        other_ids = tuple(OtherId(identifiant=i, origine=o, qualite=q) for i, o, q in other_rows)
        return _person(person, exercices, other_ids)

    def list(self, sandbox_only: bool = False, limit: int | None = None) -> list[Professional]:
        """Professionals ordered by national id, as summaries.

        A summary carries the person and its exercices (so ``professions`` works) but no
        activities and no other ids: call :meth:`get` for the full graph. ``sandbox_only``
        keeps the ``sandbox_auto_approve`` ones; ``limit`` caps the number of people.
        """
        where = "WHERE sandbox_auto_approve = 1" if sandbox_only else ""
        sql = (
            f"SELECT {_select_list('p', PERSON_COLUMNS)}, e.id, "  # noqa: S608
            f"{_select_list('e', EXERCICE_COLUMNS)} "
            f"FROM (SELECT * FROM person {where} ORDER BY national_id LIMIT ?) p "
            "LEFT JOIN exercice e ON e.national_id = p.national_id "
            "ORDER BY p.national_id, e.rank"
        )
        with self._connection() as conn:
            rows = conn.execute(sql, (-1 if limit is None else limit,)).fetchall()

        width = len(PERSON_COLUMNS)
        result = []
        for _, group in itertools.groupby(rows, key=lambda row: row[0]):
            joined = list(group)
            exercices = tuple(
                _exercice(row[width + 1 :], ()) for row in joined if row[width] is not None
            )
            result.append(_person(joined[0][:width], exercices, ()))
        return result

    def count(self) -> int:
        """Number of professionals."""
        with self._connection() as conn:
            return conn.execute("SELECT count(*) FROM person").fetchone()[0]

    # -- writes --------------------------------------------------------------

    def upsert(self, professional: Professional) -> None:
        """Insert or replace one professional, in one transaction.

        The person's exercices, activities and other ids are replaced by those given;
        structures are shared between people, so they are inserted or updated (the last
        version written wins) and never deleted here.
        """
        self.upsert_many((professional,))

    def upsert_many(self, professionals: Iterable[Professional]) -> int:
        """:meth:`upsert` several professionals in one transaction; return how many.

        A person written here is no longer "as last imported": the extract import
        (:mod:`santeid.directory.importer`) forgets its digest and rewrites it next time.
        """
        given = list(professionals)
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            _write_many(conn, given)
            conn.executemany(
                "DELETE FROM import_source WHERE national_id = ?", [(p.national_id,) for p in given]
            )
            conn.execute("COMMIT")
        return len(given)

    def seed_demo(self) -> int:
        """Load the synthetic demo professionals (idempotent); return how many."""
        from santeid.directory.demo import demo_professionals

        return self.upsert_many(demo_professionals())


# -- row <-> model ------------------------------------------------------------


def _person(
    row: tuple, exercices: tuple[Exercice, ...], other_ids: tuple[OtherId, ...]
) -> Professional:
    values = dict(zip(PERSON_COLUMNS, row, strict=True))
    values["given_names"] = decode_given_names(values["given_names"])
    birth_date = values["birth_date"]
    values["birth_date"] = datetime.date.fromisoformat(birth_date) if birth_date else None
    values["sandbox_auto_approve"] = bool(values["sandbox_auto_approve"])
    return Professional(**values, exercices=exercices, other_ids=other_ids)


def _exercice(
    row: tuple, activities: tuple[Activity, ...], more: tuple[SavoirFaire, ...] = ()
) -> Exercice:
    return Exercice(
        **dict(zip(EXERCICE_COLUMNS, row, strict=True)),
        activities=activities,
        other_savoir_faire=more,
    )


def _activity(row: tuple) -> Activity:
    split = len(ACTIVITY_COLUMNS)
    structure_row = row[split:]
    # LEFT JOIN: an activity without a structure comes back with NULL structure columns.
    structure = (
        Structure(**dict(zip(STRUCTURE_COLUMNS, structure_row, strict=True)))
        if structure_row[0] is not None
        else None
    )
    return Activity(**dict(zip(ACTIVITY_COLUMNS, row[:split], strict=True)), structure=structure)


def _insert(table: str, columns: tuple[str, ...]) -> str:
    placeholders = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608


def _upsert(table: str, columns: tuple[str, ...], key: str) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return f"{_insert(table, columns)} ON CONFLICT ({key}) DO UPDATE SET {updates}"


SQL_UPSERT_PERSON = _upsert("person", PERSON_COLUMNS, "national_id")
SQL_UPSERT_STRUCTURE = _upsert("structure", STRUCTURE_COLUMNS, "identifiant_technique")
SQL_INSERT_ACTIVITY = _insert(
    "activity", ("exercice_id", "rank", *ACTIVITY_COLUMNS, "structure_id")
)
SQL_INSERT_OTHER_ID = _insert(
    "other_id", ("national_id", "rank", "identifiant", "origine", "qualite")
)
SQL_INSERT_SAVOIR_FAIRE = _insert(
    "savoir_faire", ("exercice_id", "rank", "code_type_savoir_faire", "code_savoir_faire")
)


SQL_INSERT_EXERCICE_WITH_ID = _insert("exercice", ("id", "national_id", "rank", *EXERCICE_COLUMNS))
SQL_DELETE_EXERCICES = "DELETE FROM exercice WHERE national_id = ?"
SQL_DELETE_OTHER_IDS = "DELETE FROM other_id WHERE national_id = ?"


# Column values of a model, in column order (one C call instead of a getattr per column).
_person_values = operator.attrgetter(*PERSON_COLUMNS)
_exercice_values = operator.attrgetter(*EXERCICE_COLUMNS)
_activity_values = operator.attrgetter(*ACTIVITY_COLUMNS)
_structure_values = operator.attrgetter(*STRUCTURE_COLUMNS)
_GIVEN_NAMES = PERSON_COLUMNS.index("given_names")
_BIRTH_DATE = PERSON_COLUMNS.index("birth_date")
_SANDBOX = PERSON_COLUMNS.index("sandbox_auto_approve")


@dataclasses.dataclass
class TableRows:
    """People as the rows of each table, ready for ``executemany`` (:func:`table_rows`).

    Exercice ids are relative (1, 2, … within these rows): :func:`write_rows` shifts them past
    the largest id in the table when it writes, under its write lock.  Plain lists of tuples,
    so that a process building rows hands them to the writing process cheaply (pickled).
    """

    keys: list[tuple[str]] = dataclasses.field(default_factory=list)
    persons: list[list] = dataclasses.field(default_factory=list)
    exercices: list[tuple] = dataclasses.field(default_factory=list)
    savoir_faire: list[tuple] = dataclasses.field(default_factory=list)
    activities: list[tuple] = dataclasses.field(default_factory=list)
    structures: dict[str, tuple] = dataclasses.field(default_factory=dict)
    other_ids: list[tuple] = dataclasses.field(default_factory=list)


def table_rows(professionals: Iterable[Professional]) -> TableRows:
    """The rows that store ``professionals``; a national id given twice is stored once, as
    given last.  Pure Python, no database: see :func:`write_rows`."""
    latest: dict[str, Professional] = {}
    for p in professionals:
        if p.national_id != p.id_type + p.local_id:
            raise ValueError(
                f"national id {p.national_id!r} is not id type {p.id_type!r} + local id "
                f"{p.local_id!r} (docs/reference/pro-sante-connect.md §15.1)"
            )
        if p.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {p.status!r}")
        latest.pop(p.national_id, None)
        latest[p.national_id] = p
    rows = TableRows(keys=[(national_id,) for national_id in latest])
    persons, exercices, savoir_faire = rows.persons, rows.exercices, rows.savoir_faire
    activities, structures, other_ids = rows.activities, rows.structures, rows.other_ids
    exercice_id = 0
    for p in latest.values():
        person = list(_person_values(p))
        person[_GIVEN_NAMES] = encode_given_names(p.given_names)
        person[_BIRTH_DATE] = p.birth_date.isoformat() if p.birth_date else ""
        person[_SANDBOX] = int(p.sandbox_auto_approve)
        persons.append(person)
        for rank, exercice in enumerate(p.exercices, start=1):
            exercice_id += 1
            exercices.append((exercice_id, p.national_id, rank, *_exercice_values(exercice)))
            for sf_rank, more in enumerate(exercice.other_savoir_faire, start=1):
                savoir_faire.append(
                    (exercice_id, sf_rank, more.code_type_savoir_faire, more.code_savoir_faire)
                )
            for activity_rank, activity in enumerate(exercice.activities, start=1):
                structure = activity.structure
                if structure is not None:
                    structures.pop(structure.identifiant_technique, None)
                    structures[structure.identifiant_technique] = _structure_values(structure)
                activities.append(
                    (
                        exercice_id,
                        activity_rank,
                        *_activity_values(activity),
                        structure.identifiant_technique if structure else None,
                    )
                )
        for rank, other in enumerate(p.other_ids, start=1):
            other_ids.append(
                (p.national_id, rank, other.identifiant, other.origine, int(other.qualite))
            )
    return rows


_rest = operator.itemgetter(slice(1, None))


def _shifted(rows: list[tuple], base: int) -> Iterable[tuple]:
    """``rows`` with ``base`` added to their first column (an exercice id), built by ``map``
    over C functions: no Python bytecode per row in the writing process."""
    if not base:
        return rows
    firsts = map(base.__add__, map(operator.itemgetter(0), rows))
    return map(tuple.__add__, zip(firsts), map(_rest, rows))


def write_rows(conn: sqlite3.Connection, rows: TableRows) -> None:
    """Insert or replace the people of ``rows`` inside the caller's write transaction: one
    ``executemany`` per table for the whole batch (the import writes thousands at a time).

    A person's exercices (activities and savoir-faire with them, ON DELETE CASCADE) and other
    ids are replaced by those given; structures are upserted, the last version given winning.
    Exercice ids are allocated here, after the largest in the table: the write transaction
    holds the only write lock, so nobody else can take them.
    """
    if not rows.keys:
        return
    conn.executemany(SQL_DELETE_EXERCICES, rows.keys)
    conn.executemany(SQL_DELETE_OTHER_IDS, rows.keys)
    base = conn.execute("SELECT coalesce(max(id), 0) FROM exercice").fetchone()[0]
    conn.executemany(SQL_UPSERT_PERSON, rows.persons)
    conn.executemany(SQL_UPSERT_STRUCTURE, rows.structures.values())
    conn.executemany(SQL_INSERT_EXERCICE_WITH_ID, _shifted(rows.exercices, base))
    conn.executemany(SQL_INSERT_SAVOIR_FAIRE, _shifted(rows.savoir_faire, base))
    conn.executemany(SQL_INSERT_ACTIVITY, _shifted(rows.activities, base))
    conn.executemany(SQL_INSERT_OTHER_ID, rows.other_ids)


def _write_many(conn: sqlite3.Connection, professionals: Iterable[Professional]) -> None:
    """:func:`write_rows` of :func:`table_rows`: ``professionals`` written inside the caller's
    write transaction."""
    write_rows(conn, table_rows(professionals))

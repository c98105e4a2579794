"""SQLite schema of the synthetic civil-status base (see ``docs/civil-status.md``).

One row per person, sized for 10 million rows: the OID is stored as its last arc (8 = NIR, 9 = NIA,
10 = test NIR), the key as an integer, the carte Vitale "ouvrant droit" as a person id.  The views
``persons_ins`` and ``vitale`` give them back in wire form.

Invariants kept by the generator (checked by the tests, not by CHECK constraints, which would cost
time on every one of the 10 million inserts):

* ``matricule`` is 13 characters, unique among persons, ``cle`` = 97 - (N mod 97) (2A→19, 2B→18);
* ``kind`` is ``NIR`` (``oid`` 8 or 10) or ``NIA`` (``oid`` 9);
* names are in INSi form (A-Z, space, apostrophe, hyphen) in ``birth_name``, ``given_names``,
  ``first_given_name``; the ``*_raw`` columns keep the civil-status spelling;
* ``given_names`` is the ``ListePrenom`` (space-separated), ``first_given_name`` its first item;
* ``birth_date`` and ``death_date`` are ``AAAA-MM-JJ``; ``death_date`` NULL = alive;
* ``od_id`` is the id of the carte Vitale "ouvrant droit" (the person itself for an adult), and
  (``od_id``, ``birth_date``, ``rang``) is unique: that is what a carte Vitale search looks up.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: Bumped whenever a table or column changes meaning; stored in ``PRAGMA user_version``.
SCHEMA_VERSION = 1
#: Fixed so that the file layout, hence its bytes, does not depend on the SQLite build's default.
PAGE_SIZE = 4096
#: ``PRAGMA application_id`` ("INSi" in ASCII): lets ``file(1)``-style tools recognise the base.
APPLICATION_ID = 0x494E5369

PERSON_COLUMNS: tuple[str, ...] = (
    "id",
    "matricule",
    "cle",
    "kind",
    "oid",
    "birth_name_raw",
    "birth_name",
    "given_names_raw",
    "given_names",
    "first_given_name",
    "sex",
    "birth_date",
    "birthplace",
    "rang",
    "death_date",
    "od_id",
)

HISTORY_COLUMNS: tuple[str, ...] = (
    "person_id",
    "seq",
    "matricule",
    "cle",
    "oid",
    "date_deb",
    "date_fin",
)

INSERT_PERSON = (
    "INSERT INTO persons (id, matricule, cle, kind, oid, birth_name_raw, birth_name, "
    "given_names_raw, given_names, first_given_name, sex, birth_date, birthplace, rang, "
    "death_date, od_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_HISTORY = (
    "INSERT INTO history (person_id, seq, matricule, cle, oid, date_deb, date_fin) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

TABLES = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE persons (
    id               INTEGER PRIMARY KEY,
    matricule        TEXT    NOT NULL,  -- 13 characters, NIR or NIA
    cle              INTEGER NOT NULL,  -- control key, 1-97 (written on 2 digits)
    kind             TEXT    NOT NULL,  -- 'NIR' or 'NIA'
    oid              INTEGER NOT NULL,  -- last arc of 1.2.250.1.213.1.4.x
    birth_name_raw   TEXT    NOT NULL,  -- civil-status spelling
    birth_name       TEXT    NOT NULL,  -- INSi form (NomNaissance)
    given_names_raw  TEXT    NOT NULL,  -- civil-status spelling, comma-separated
    given_names      TEXT    NOT NULL,  -- INSi form (ListePrenom), space-separated
    first_given_name TEXT    NOT NULL,  -- first item of given_names (Prenom)
    sex              TEXT    NOT NULL,  -- 'M' or 'F'
    birth_date       TEXT    NOT NULL,  -- AAAA-MM-JJ
    birthplace       TEXT    NOT NULL,  -- 5-character COG (commune or 99xxx country)
    rang             INTEGER NOT NULL,  -- rang de naissance (twins: 1 and 2)
    death_date       TEXT,              -- NULL while alive
    od_id            INTEGER NOT NULL REFERENCES persons (id)  -- carte Vitale ouvrant droit
);

CREATE TABLE history (
    person_id INTEGER NOT NULL REFERENCES persons (id),
    seq       INTEGER NOT NULL,  -- order of the INSHISTO entries
    matricule TEXT    NOT NULL,
    cle       INTEGER NOT NULL,
    oid       INTEGER NOT NULL,
    date_deb  TEXT,
    date_fin  TEXT,
    PRIMARY KEY (person_id, seq)
) WITHOUT ROWID;

CREATE TABLE test_identities (
    person_id INTEGER PRIMARY KEY REFERENCES persons (id),
    source    TEXT NOT NULL
);

CREATE TABLE published_cases (
    id          INTEGER PRIMARY KEY,
    birth_name  TEXT NOT NULL,
    given_names TEXT NOT NULL,  -- as queried (Prenom)
    sex         TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    birthplace  TEXT,
    expected    TEXT NOT NULL,  -- '00', '01', '02' or 'fault'
    matricule   TEXT,           -- expected INSACTIF when '00'
    fault       TEXT,           -- '<subcode>/<siram:Erreur code>' when 'fault'
    source      TEXT NOT NULL
);

CREATE VIEW persons_ins AS
SELECT id, matricule, printf('%02d', cle) AS cle, matricule || printf('%02d', cle) AS ins,
       kind, '1.2.250.1.213.1.4.' || oid AS oid, birth_name, given_names, first_given_name,
       sex, birth_date, birthplace, rang, death_date
FROM persons;

CREATE VIEW vitale AS
SELECT od.matricule AS od_matricule, printf('%02d', od.cle) AS od_cle,
       b.id AS person_id, b.matricule, b.birth_name, b.birth_date, b.rang
FROM persons AS b JOIN persons AS od ON od.id = b.od_id;
"""

#: Created before the bulk load: rows arrive in id order and ``od_id`` is the row's own id or a
#: parent's from the same chunk, so entries land at the end of the index, as cheap as appending.
LOAD_ORDER_INDEXES = """
-- Carte Vitale search: ouvrant droit + birth date + rang de naissance identify a beneficiary.
CREATE UNIQUE INDEX persons_by_vitale ON persons (od_id, birth_date, rang);
"""

#: Created after the bulk load (building an index once is much faster than maintaining it).
INDEXES = """
CREATE UNIQUE INDEX persons_by_matricule ON persons (matricule);
-- Traits search: the birth date and sex narrow 10 million rows to about a hundred, whatever the
-- name-matching policy; birth name and first given name then make the exact lookup index-only.
CREATE INDEX persons_by_traits ON persons (birth_date, sex, birth_name, first_given_name);
CREATE INDEX history_by_matricule ON history (matricule);
"""


def create_tables(conn: sqlite3.Connection) -> None:
    """Set the file-format pragmas, then create tables, views and :data:`LOAD_ORDER_INDEXES`."""
    # page_size only applies before the first table exists.
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.executescript(TABLES)
    conn.executescript(LOAD_ORDER_INDEXES)


def create_indexes(conn: sqlite3.Connection) -> None:
    conn.executescript(INDEXES)


# -- reads ---------------------------------------------------------------------------------
# Every statement run against the base lives here, next to the tables and indexes it relies on:
# the INSi service (``santeid.insi``) and the command line (``santeid civil show``) import them.

# Columns 0-8: id, matricule, cle, oid, birth_name, given_names, sex, birth_date, birthplace;
# 9-13 (traits search only): an INSHISTO entry, NULL when none.  The persons_by_traits index
# (birth_date, sex, birth_name, first_given_name) finds the candidates, the history's primary
# key (person_id, seq) their earlier matricules: one statement per search.
_TRAITS_SELECT = (
    "SELECT p.id, p.matricule, p.cle, p.oid, p.birth_name, p.given_names, p.sex, p.birth_date, "
    "p.birthplace, h.matricule, h.cle, h.oid, h.date_deb, h.date_fin "
    "FROM persons AS p LEFT JOIN history AS h ON h.person_id = p.id "
    "WHERE p.birth_date = ? AND p.sex = ? AND p.birth_name = ?"
)
SQL_TRAITS = _TRAITS_SELECT + " ORDER BY p.id, h.seq"
SQL_TRAITS_PLACE = _TRAITS_SELECT + " AND p.birthplace = ? ORDER BY p.id, h.seq"
SQL_BY_MATRICULE = (
    "SELECT id, matricule, cle, oid, birth_name, given_names, sex, birth_date, birthplace "
    "FROM persons WHERE matricule = ?"
)
SQL_BY_ID = (
    "SELECT id, matricule, cle, oid, birth_name, given_names, sex, birth_date, birthplace "
    "FROM persons WHERE id = ?"
)
SQL_HISTORY = (
    "SELECT matricule, cle, oid, date_deb, date_fin FROM history WHERE person_id = ? ORDER BY seq"
)
SQL_HISTORY_OWNER = "SELECT person_id FROM history WHERE matricule = ? ORDER BY person_id LIMIT 1"
# persons_by_matricule finds the ouvrant droit, persons_by_vitale (od_id, birth_date, rang) the
# beneficiary.
SQL_VITALE = (
    "SELECT b.id, b.matricule, b.cle, b.oid, b.birth_name, b.given_names, b.sex, b.birth_date, "
    "b.birthplace FROM persons AS od JOIN persons AS b ON b.od_id = od.id "
    "WHERE od.matricule = ? AND b.birth_date = ? AND b.rang = ?"
)

#: Published queries whose recorded answer is a SOAP fault (``santeid.insi.base.FaultCase``).
SQL_FAULT_CASES = (
    "SELECT birth_name, given_names, sex, birth_date, birthplace, fault "
    "FROM published_cases WHERE expected = 'fault' ORDER BY id"
)
# ``santeid civil show``: whole rows, read through ``sqlite3.Row``.
SQL_SHOW_BY_MATRICULE = "SELECT * FROM persons WHERE matricule = ?"
SQL_SHOW_BY_ID = "SELECT * FROM persons WHERE id = ?"
SQL_SHOW_HISTORY = "SELECT * FROM history WHERE person_id = ? ORDER BY seq"
SQL_SHOW_BENEFICIARIES = (
    "SELECT * FROM persons WHERE od_id = ? AND id != ? ORDER BY birth_date, rang"
)
SQL_SHOW_TEST_SOURCE = "SELECT source FROM test_identities WHERE person_id = ?"


class NotACivilBase(ValueError):
    """The file is SQLite, but not a civil-status base of :data:`SCHEMA_VERSION`."""


def connect_read_only(path: str | Path, *, immutable: bool = False) -> sqlite3.Connection:
    """Open a generated base read-only and check it is one, of this schema version.

    ``immutable``: SQLite takes no lock and reads no journal (the server's way: the generator
    never changes a base in place, it renames a new file over it).  Raises
    :class:`NotACivilBase`, or ``sqlite3.DatabaseError`` for a file that is not SQLite."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}"
    conn = sqlite3.connect(uri, uri=True)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    if app_id != APPLICATION_ID or version != SCHEMA_VERSION:
        conn.close()
        raise NotACivilBase(
            f"{path} is not a santeid civil-status base of schema version {SCHEMA_VERSION} "
            f"(application_id={app_id:#x}, user_version={version}); regenerate it"
        )
    return conn


def open_base(path: str | Path) -> sqlite3.Connection:
    """Open a generated base read-only (rows as ``sqlite3.Row``), checking it is one and of
    this schema version."""
    conn = connect_read_only(path)
    conn.row_factory = sqlite3.Row
    return conn

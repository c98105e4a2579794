"""SQLite schema of the directory, versioned with ``PRAGMA user_version``.

Tables follow the RASS "Extraction ProSanteConnect" file (docs/reference/pro-sante-connect.md
§15.2), normalised: a
``person`` has ranked ``exercice`` rows, each with ranked ``activity`` rows pointing at a shared
``structure``; ``other_id`` holds the *Autres identifiants* column. Column names are the field
names of :mod:`santeid.directory.models`, so the repository maps rows and values one to one.

Sized for the whole RASS (about 1.2 million professionals): every read the provider makes
starts from a national id and walks primary keys or the ``(parent, rank)`` unique indexes, so a
userinfo read is a handful of index lookups whatever the size of the tables.
"""

from __future__ import annotations

import sqlite3

from santeid.settings.base import ConfigurationError

#: Bump with every change below and add a step to :data:`MIGRATIONS`.
SCHEMA_VERSION = 5

_V1 = """
CREATE TABLE person (
    national_id          TEXT PRIMARY KEY,
    id_type              TEXT NOT NULL,
    local_id             TEXT NOT NULL,
    family_name          TEXT NOT NULL,
    -- RASS "Prénoms": each given name followed by an apostrophe, e.g. ANNE'CATHERINE'
    given_names          TEXT NOT NULL DEFAULT '',
    -- ISO 8601 (the RASS file says dd/MM/yyyy); '' when unknown
    birth_date           TEXT NOT NULL DEFAULT '',
    code_civilite        TEXT NOT NULL DEFAULT '',
    -- correspondence details: e-CPS activation only, never in userinfo
    correspondence_phone TEXT NOT NULL DEFAULT '',
    correspondence_email TEXT NOT NULL DEFAULT '',
    sandbox_auto_approve INTEGER NOT NULL DEFAULT 0 CHECK (sandbox_auto_approve IN (0, 1)),
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    CHECK (national_id = id_type || local_id)
) WITHOUT ROWID;

-- `directory list --sandbox` and the sandbox login page list these few people.
CREATE INDEX person_sandbox ON person (national_id) WHERE sandbox_auto_approve = 1;

CREATE TABLE exercice (
    id                             INTEGER PRIMARY KEY,
    national_id                    TEXT NOT NULL REFERENCES person (national_id) ON DELETE CASCADE,
    rank                           INTEGER NOT NULL,
    code_profession                TEXT NOT NULL,
    code_categorie_professionnelle TEXT NOT NULL DEFAULT '',
    code_civilite_exercice         TEXT NOT NULL DEFAULT '',
    nom_exercice                   TEXT NOT NULL DEFAULT '',
    prenom_exercice                TEXT NOT NULL DEFAULT '',
    code_type_savoir_faire         TEXT NOT NULL DEFAULT '',
    code_savoir_faire              TEXT NOT NULL DEFAULT '',
    UNIQUE (national_id, rank)
);

CREATE TABLE structure (
    identifiant_technique         TEXT PRIMARY KEY,
    numero_siret                  TEXT NOT NULL DEFAULT '',
    numero_siren                  TEXT NOT NULL DEFAULT '',
    numero_finess_site            TEXT NOT NULL DEFAULT '',
    numero_finess_ej              TEXT NOT NULL DEFAULT '',
    raison_sociale                TEXT NOT NULL DEFAULT '',
    enseigne_commerciale          TEXT NOT NULL DEFAULT '',
    complement_destinataire       TEXT NOT NULL DEFAULT '',
    complement_point_geographique TEXT NOT NULL DEFAULT '',
    numero_voie                   TEXT NOT NULL DEFAULT '',
    indice_repetition_voie        TEXT NOT NULL DEFAULT '',
    code_type_voie                TEXT NOT NULL DEFAULT '',
    libelle_voie                  TEXT NOT NULL DEFAULT '',
    mention_distribution          TEXT NOT NULL DEFAULT '',
    bureau_cedex                  TEXT NOT NULL DEFAULT '',
    code_postal                   TEXT NOT NULL DEFAULT '',
    code_commune                  TEXT NOT NULL DEFAULT '',
    code_pays                     TEXT NOT NULL DEFAULT '',
    telephone                     TEXT NOT NULL DEFAULT '',
    telephone2                    TEXT NOT NULL DEFAULT '',
    telecopie                     TEXT NOT NULL DEFAULT '',
    email                         TEXT NOT NULL DEFAULT '',
    code_departement              TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE activity (
    id                           INTEGER PRIMARY KEY,
    exercice_id                  INTEGER NOT NULL REFERENCES exercice (id) ON DELETE CASCADE,
    rank                         INTEGER NOT NULL,
    code_mode_exercice           TEXT NOT NULL DEFAULT '',
    code_secteur_activite        TEXT NOT NULL DEFAULT '',
    code_section_pharmacien      TEXT NOT NULL DEFAULT '',
    code_role                    TEXT NOT NULL DEFAULT '',
    code_genre_activite          TEXT NOT NULL DEFAULT '',
    autorite_enregistrement      TEXT NOT NULL DEFAULT '',
    ancien_identifiant_structure TEXT NOT NULL DEFAULT '',
    structure_id                 TEXT REFERENCES structure (identifiant_technique),
    UNIQUE (exercice_id, rank)
);

-- Foreign-key checks and a future "who works here" look-up would otherwise scan activities.
CREATE INDEX activity_structure ON activity (structure_id);

CREATE TABLE other_id (
    national_id TEXT NOT NULL REFERENCES person (national_id) ON DELETE CASCADE,
    rank        INTEGER NOT NULL,
    identifiant TEXT NOT NULL,
    origine     TEXT NOT NULL,
    qualite     INTEGER NOT NULL,
    PRIMARY KEY (national_id, rank)
) WITHOUT ROWID;
"""

# Version 2 (national scale, extract import, FHIR API):
# - ``savoir_faire``: an exercice's savoir-faire beyond its first (the first stays on the row);
# - ``import_source``: which people the RASS-extract import manages, with a digest of their
#   lines, so that re-importing a file changes nothing and a newer file applies as a diff;
# - search indexes of the FHIR API (names, professions, other identifiers). Names are searched
#   by prefix with range conditions (``>= ? AND < ?``), which these plain indexes serve.
_V2 = """
CREATE TABLE savoir_faire (
    exercice_id            INTEGER NOT NULL REFERENCES exercice (id) ON DELETE CASCADE,
    rank                   INTEGER NOT NULL,
    code_type_savoir_faire TEXT NOT NULL DEFAULT '',
    code_savoir_faire      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (exercice_id, rank)
) WITHOUT ROWID;

CREATE TABLE import_source (
    national_id TEXT PRIMARY KEY REFERENCES person (national_id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    digest      BLOB NOT NULL
) WITHOUT ROWID;

CREATE INDEX person_family_name ON person (family_name);
CREATE INDEX person_given_names ON person (given_names);
CREATE INDEX exercice_profession ON exercice (code_profession, national_id);
CREATE INDEX exercice_nom ON exercice (nom_exercice);
CREATE INDEX exercice_prenom ON exercice (prenom_exercice);
CREATE INDEX other_id_identifiant ON other_id (identifiant);
"""

# Version 3: the inactive people, whom the FHIR API's ``active=false`` pages through. They are
# few (an import removes the people who left the RASS, docs/directory.md "Import of the
# \"Extraction ProSanteConnect\" file"), so
# walking the primary key for them reads most of the table; this partial index holds only
# them. SQLite uses a partial index only when the query names the same literal
# (https://www.sqlite.org/partialindex.html, "Queries Using Partial Indexes").
_V3 = """
CREATE INDEX person_inactive ON person (national_id) WHERE status = 'inactive';
"""

# Version 4: the civility (TRE_R81), which the FHIR API's ``name`` matches by prefix as the
# Annuaire Santé's does ("ici sur le préfix correspondant à la civilité", docs/directory.md
# "Names"): without it every ``name`` search would scan ``person``.
_V4 = """
CREATE INDEX person_civilite ON person (code_civilite);
"""

# Version 5: the scenario a professional was created with through the sandbox control API
# (JSON, '' for none; sandbox mode only), kept with the professional rather than in the
# ephemeral store, so that a restart of a server on the embedded store does not lose it.
_V5 = """
ALTER TABLE person ADD COLUMN sandbox_scenario TEXT NOT NULL DEFAULT '';
"""

#: ``MIGRATIONS[n]`` takes a version-``n`` database to version ``n + 1``; index 0 creates it.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)


class SchemaError(ConfigurationError):
    """The database file was written by a newer santeid, or is not a directory at all: a
    setting (``directory_file``) that cannot be used, which every command reports in one line."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema of ``conn`` to :data:`SCHEMA_VERSION`; return the version found.

    Idempotent. Runs in one ``BEGIN IMMEDIATE`` transaction, so two processes starting
    together do not both create the tables: the second waits, then sees the new version.
    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise SchemaError(
                f"the directory database has schema version {found}, newer than the "
                f"{SCHEMA_VERSION} this santeid knows: upgrade santeid"
            )
        for step in MIGRATIONS[found:]:
            # executescript() would COMMIT first; run statements one by one to stay atomic.
            for statement in _statements(step):
                conn.execute(statement)
        # A bulk import drops these and builds them after its writes: if it was interrupted
        # in between, they come back here (a no-op when they exist).
        for statement in secondary_indexes().values():
            conn.execute(statement.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))
        if found != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def secondary_indexes() -> dict[str, str]:
    """The ``CREATE INDEX`` statements of the current schema, by index name, as
    :data:`MIGRATIONS` leave them (a later ``DROP INDEX`` removes one).

    Secondary indexes only, not those of primary keys and ``UNIQUE`` constraints: a bulk load
    may drop these and create them after its rows, a sort instead of a random insert per row
    (https://www.sqlite.org/lang_createindex.html); :func:`migrate` restores any missing.
    """
    indexes: dict[str, str] = {}
    for step in MIGRATIONS:
        for statement in _statements(step):
            words = statement.split(maxsplit=4)
            kind = words[:3] if words[1] == "UNIQUE" else words[:2]
            name = words[len(kind)]
            if kind[0] == "CREATE" and kind[-1] == "INDEX":
                indexes[name] = statement
            elif kind == ["DROP", "INDEX"]:
                indexes.pop(name, None)
    return indexes


def _statements(script: str) -> list[str]:
    """Split a script of DDL statements (no ``;`` inside literals or triggers)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def encode_given_names(names: tuple[str, ...]) -> str:
    """RASS form of a list of given names: ``("ANNE", "CATHERINE")`` → ``ANNE'CATHERINE'``.

    Raises ``ValueError`` for a name containing an apostrophe, which this form cannot carry.
    """
    for name in names:
        if "'" in name or not name.strip():
            raise ValueError(
                f"given name {name!r} cannot be stored: the RASS 'Prénoms' column separates "
                "names with apostrophes, and empty names would vanish"
            )
    return "".join(f"{name}'" for name in names)


def decode_given_names(text: str) -> tuple[str, ...]:
    """Inverse of :func:`encode_given_names`."""
    return tuple(name for name in text.split("'") if name)

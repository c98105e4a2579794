"""Schema versions 2 and 3: migration from version 1, extra savoir-faire, indexed searches."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from santeid.directory import Directory
from santeid.directory import repository
from santeid.directory import schema
from santeid.directory.demo import demo_professionals
from santeid.directory.models import SavoirFaire
from santeid.directory.search import DirectorySearch
from santeid.directory.search import name_key


def test_a_version_1_directory_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in schema._statements(schema.MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.execute(
        "INSERT INTO person (national_id, id_type, local_id, family_name) "
        "VALUES ('810000000901', '8', '10000000901', 'ANCIEN')"
    )
    conn.close()
    store = Directory(path)
    assert store.get("810000000901").family_name == "ANCIEN"
    assert store.get("810000000901").sandbox_scenario == ""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 5
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"savoir_faire", "import_source"} <= tables
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"person_inactive", "person_civilite"} <= indexes
    conn.close()
    store.close()


def _index_names(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def test_secondary_indexes_dropped_by_an_interrupted_load_come_back(tmp_path):
    path = tmp_path / "directory.sqlite3"
    created = Directory(path)
    created.initialize()
    created.close()
    indexes = schema.secondary_indexes()
    assert {"person_family_name", "activity_structure", "other_id_identifiant"} <= set(indexes)
    assert set(indexes) <= _index_names(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX person_family_name")
    conn.execute("DROP INDEX activity_structure")
    conn.commit()
    conn.close()
    assert "person_family_name" not in _index_names(path)
    store = Directory(path)
    store.initialize()
    store.close()
    assert set(indexes) <= _index_names(path)


def test_other_savoir_faire_round_trip(tmp_path):
    store = Directory(tmp_path / "d.sqlite3")
    base = demo_professionals()[0]
    extra = (SavoirFaire("CAPA", "CAPA06"), SavoirFaire("OP", "81"))
    professional = dataclasses.replace(
        base, exercices=(dataclasses.replace(base.exercices[0], other_savoir_faire=extra),)
    )
    store.upsert(professional)
    assert store.get(base.national_id) == professional
    store.upsert(base)  # replaced: the extra savoir-faire go with the old exercice rows
    assert store.get(base.national_id).exercices[0].other_savoir_faire == ()
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM savoir_faire").fetchone() == (
        0,
    )
    store.close()


def test_name_keys_are_the_rass_form():
    assert name_key("  Léa-Marie   d'Arco ") == "LEA-MARIE D'ARCO"
    assert name_key("Œuvrard") == "OEUVRARD"


@pytest.fixture
def raw(tmp_path):
    store = Directory(tmp_path / "d.sqlite3")
    store.initialize()
    conn = sqlite3.connect(store.path)
    yield conn
    conn.close()
    store.close()


def plan(conn, sql, params):
    return " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        (
            "SELECT national_id FROM person WHERE family_name >= ? AND family_name < ?",
            ("A", "B"),
            "person_family_name",
        ),
        (
            "SELECT national_id FROM person WHERE given_names >= ? AND given_names < ?",
            ("A", "B"),
            "person_given_names",
        ),
        (
            "SELECT national_id FROM exercice WHERE nom_exercice >= ? AND nom_exercice < ?",
            ("A", "B"),
            "exercice_nom",
        ),
        (
            "SELECT national_id FROM exercice WHERE prenom_exercice >= ? AND prenom_exercice < ?",
            ("A", "B"),
            "exercice_prenom",
        ),
        (
            "SELECT DISTINCT national_id FROM exercice WHERE code_profession IN (?) "
            "AND national_id > ? ORDER BY national_id LIMIT 5",
            ("10", ""),
            "exercice_profession",
        ),
        (
            "SELECT national_id FROM person WHERE code_civilite >= ? AND code_civilite < ?",
            ("MME", "MMF"),
            "person_civilite",
        ),
        (
            "SELECT DISTINCT national_id FROM other_id WHERE identifiant IN (?)",
            ("x",),
            "other_id_identifiant",
        ),
        (repository.SQL_SAVOIR_FAIRE, ("810000000001",), ""),
    ],
)
def test_searches_walk_indexes(raw, sql, params, index):
    """At 1.2 million people a table scan would take seconds."""
    found = plan(raw, sql, params)
    assert "SCAN" not in found.replace("SCAN CONSTANT ROW", ""), found
    assert index in found


def test_search_api_on_the_demo_set(tmp_path):
    store = Directory(tmp_path / "d.sqlite3")
    store.seed_demo()
    search = DirectorySearch(store)
    assert search.by_identifiers([(None, "810000000001")]) == ["810000000001"]
    assert search.by_names(family=["fauvel"]) == ["810000000001"]
    everyone = search.by_names(limit=1000)
    assert everyone == sorted(everyone) and len(everyone) == len(demo_professionals())
    assert search.by_names(after=everyone[-2], limit=10) == everyone[-1:]
    store.close()


def test_a_search_among_identified_people_reads_them_by_key(raw):
    """An identifier with names or ``active``: each identified person is checked through its
    primary key and its exercices' ``(national_id, rank)`` index, not by walking every person
    the names or ``active`` alone would match."""
    from santeid.directory import search

    conditions = [
        (search.NAME_COLUMNS["name"], [search._prefix_range("FAUV"), search._prefix_range("RO")]),
        (search.NAME_COLUMNS["given"], [search._prefix_range("HEL")]),
    ]
    sql, params = search._among_query(["810000000001", "820000119999"], conditions, True)
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN" not in found, found
    assert "SEARCH person USING PRIMARY KEY" in found
    # name: two exercice columns × two prefixes; given: one × one.
    assert found.count("sqlite_autoindex_exercice_1 (national_id=?)") == 5


def test_search_api_filters_identified_people_by_the_other_conditions(tmp_path):
    store = Directory(tmp_path / "d.sqlite3")
    store.seed_demo()
    search = DirectorySearch(store)
    both = search.by_identifiers([(None, "810000000001"), (None, "810000000024")])
    assert search.by_names(among=both) == both
    assert search.by_names(among=both, active=False) == ["810000000024"]
    assert search.by_names(among=both, family=[["zzz", "fab"]]) == ["810000000024"]
    assert search.by_names(among=both, family=["lemaire-vid"]) == []
    assert search.by_names(among=["810000000020"], family=["lemaire-vid"]) == ["810000000020"]
    assert search.by_names(among=both, after="810000000001") == ["810000000024"]
    assert search.by_names(among=[], active=True) == []
    assert search.by_names(family=[["fauvel", "rochefort"]]) == ["810000000001", "810000000002"]
    store.close()


def test_active_reads_each_candidates_status_by_key(raw):
    """``active`` never builds the list of every active (or inactive) person: alone, the
    primary key is walked in order up to the page; with names, each candidate's status is read
    through the primary key (at 1.2 million people the list took a table scan per request)."""
    from santeid.directory import search

    alone, params = search._names_query([], True)
    found = plan(raw, alone, (*params, "", 10))
    assert "LIST SUBQUERY" not in found and "TEMP B-TREE" not in found, found
    conditions = [(search.NAME_COLUMNS["family"], [search._prefix_range("MAR")])]
    named, params = search._names_query(conditions, True)
    found = plan(raw, named, (*params, "", 10))
    assert "LIST SUBQUERY" not in found and "SCAN person" not in found, found
    assert "SEARCH p USING PRIMARY KEY" in found


def test_inactive_people_alone_are_read_from_their_partial_index(raw):
    """``active=false`` alone pages through the partial index of the few inactive people (at
    1.2 million people, walking the primary key for them read the whole table)."""
    from santeid.directory import search

    sql, params = search._names_query([], False)
    found = plan(raw, sql, (*params, "", 10))
    assert "person_inactive" in found, found
    assert "TEMP B-TREE" not in found, found


def test_active_with_and_without_names_on_the_demo_set(tmp_path):
    store = Directory(tmp_path / "d.sqlite3")
    store.seed_demo()
    search = DirectorySearch(store)
    everyone = {p.national_id: p for p in store.list()}
    active = sorted(n for n, p in everyone.items() if p.is_active)
    inactive = sorted(n for n, p in everyone.items() if not p.is_active)
    assert inactive, "the demo set has an inactive professional"
    assert search.by_names(active=True, limit=1000) == active
    assert search.by_names(active=False, limit=1000) == inactive
    # Paged: the second page starts after the first page's last.
    first = search.by_names(active=True, limit=5)
    assert search.by_names(active=True, after=first[-1], limit=1000) == active[5:]
    assert search.by_names(family=["fab"], active=False, limit=1000) == ["810000000024"]
    assert search.by_names(family=["fab"], active=True, limit=1000) == []
    assert "810000000001" in search.by_names(family=["fau"], active=True, limit=1000)
    store.close()


def test_a_profession_alone_is_walked_in_national_id_order(raw):
    """``qualification-code=10&active=true`` over 1.2 million people: the profession index
    from the cursor, each candidate's status by key, no sort of the whole profession."""
    from santeid.directory import search

    sql, params = search._names_query([], True, [["10"]])
    found = plan(raw, sql, (*params, "", 10))
    assert "exercice_profession" in found and "TEMP B-TREE" not in found, found
    assert "SEARCH p USING PRIMARY KEY" in found and "SCAN" not in found, found


def test_professions_with_names_and_among_use_indexes(raw):
    from santeid.directory import search

    conditions = [(search.NAME_COLUMNS["family"], [search._prefix_range("MAR")])]
    sql, params = search._names_query(conditions, None, [["10", "40"], ["10"]])
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN exercice" not in found and "SCAN person" not in found, found
    # Each candidate's professions by key, never the list of a whole profession.
    assert found.count("exercice_profession (code_profession=? AND national_id=?)") == 2, found
    sql, params = search._names_query([], None, [["10"], ["40"]])
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN" not in found and "TEMP B-TREE" not in found, found
    sql, params = search._among_query(["810000000001"], [], None, [["10"]])
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN" not in found and "SEARCH person USING PRIMARY KEY" in found, found


def test_professions_and_counts_on_the_demo_set(tmp_path):
    store = Directory(tmp_path / "d.sqlite3")
    store.seed_demo()
    search = DirectorySearch(store)
    people = demo_professionals()
    dentists = sorted(p.national_id for p in people if "40" in p.professions)
    assert search.by_names(professions=[["40"]], limit=100) == dentists
    assert search.by_names(professions=[["40"], ["10"]], limit=100) == ["810000000012"]
    assert search.by_names(professions=[["40", "21"]], family=["duc"]) == ["810000000008"]
    assert search.by_names(professions=[[]]) == [] and search.count(professions=[[]]) == 0
    assert search.by_names(professions=[["40"]], among=["810000000001", "810000000012"]) == [
        "810000000012"
    ]
    assert search.count(professions=[["40"]]) == len(dentists)
    assert search.count(active=True) == sum(p.is_active for p in people)
    assert search.count(family=["fauvel"], among=["810000000001"]) == 1
    roles = sum(
        max(1, len(e.activities)) for p in people for e in p.exercices if e.code_profession == "10"
    )
    assert search.count_roles(["10"]) == roles and search.count_roles([]) == 0
    store.close()


def test_the_fhir_names_walk_indexes(raw):
    """The FHIR API's ``name`` (exercice names and the civility): index range walks only."""
    from santeid.directory import search

    conditions = [(search.FHIR_NAME_COLUMNS["name"], [search._prefix_range("MME")])]
    sql, params = search._names_query(conditions, None)
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN person" not in found and "SCAN exercice" not in found, found
    assert "person_civilite" in found and "exercice_nom" in found, found


def test_any_profession_and_a_whole_identifier_system_are_read_by_key(raw):
    """``qualification-code=<TRE_G15>|`` (any profession) and ``identifier=http://rpps.fr|``
    (any RPPS number: a person of id type 8): alone, a walk in national-id order from the
    cursor; with names, each candidate's exercices and id type read by key."""
    from santeid.directory import search

    family = [(search.NAME_COLUMNS["family"], [search._prefix_range("MAR")])]
    for args in (
        ([], None, [None]),
        ([], None, [], [(["810000000001"], ["0"])]),
        ([], True, [None], [([], ["8"])]),
    ):
        sql, params = search._names_query(*args)
        found = plan(raw, sql, (*params, "", 10))
        assert "TEMP B-TREE" not in found and "SCAN" not in found, (args, found)
    sql, params = search._names_query(family, None, [None], [([], ["8"])])
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN person" not in found and "SCAN exercice" not in found, found
    assert "SEARCH d USING PRIMARY KEY" in found and "(national_id=?)" in found, found
    sql, params = search._among_query(["810000000001"], [], None, [None], [(["x"], ["8"])])
    found = plan(raw, sql, (*params, "", 10))
    assert "SCAN" not in found and "SEARCH person USING PRIMARY KEY" in found, found

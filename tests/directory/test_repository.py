"""The SQLite directory: schema, round trips, replacement, concurrency, the demo set."""

from __future__ import annotations

import dataclasses
import datetime
import re
import sqlite3
import threading

import pytest

from santeid.directory import Activity
from santeid.directory import Directory
from santeid.directory import Exercice
from santeid.directory import OtherId
from santeid.directory import Professional
from santeid.directory import Structure
from santeid.directory import repository
from santeid.directory.demo import demo_professionals
from santeid.directory.models import PROFESSION_LABELS
from santeid.directory.schema import SCHEMA_VERSION
from santeid.directory.schema import SchemaError
from santeid.settings import Settings

CABINET = Structure(
    identifiant_technique="R9000000000901",
    raison_sociale="CABINET MEDICAL DE TEST",
    numero_voie="1",
    code_type_voie="R",
    libelle_voie="DES ESSAIS",
    bureau_cedex="75009 PARIS",
    code_postal="75009",
    code_commune="75109",
    code_pays="99000",
    code_departement="75",
)
HOSPITAL = Structure(
    identifiant_technique="F0B7500019",
    numero_finess_site="0B7500019",
    numero_finess_ej="0B7500001",
    raison_sociale="HOPITAL DE TEST",
)


def make_professional(national_id: str = "810000000901", **changes) -> Professional:
    base = Professional(
        national_id=national_id,
        id_type=national_id[0],
        local_id=national_id[1:],
        family_name="ESSAI",
        given_names=("JEANNE", "MARIE"),
        birth_date=datetime.date(1980, 2, 29),
        code_civilite="MME",
        correspondence_phone="0639980901",
        correspondence_email="jeanne.essai@example.org",
        exercices=(
            # Codes deliberately out of alphabetical order: rank, not value, orders rows.
            Exercice(
                code_profession="40",
                code_categorie_professionnelle="C",
                code_civilite_exercice="DR",
                nom_exercice="ESSAI",
                prenom_exercice="JEANNE",
                code_type_savoir_faire="S",
                code_savoir_faire="SCD02",
                activities=(
                    Activity(
                        code_mode_exercice="S",
                        code_secteur_activite="SA01",
                        autorite_enregistrement="ONCD/ONCD/ARS",
                        ancien_identifiant_structure="10B7500019",
                        structure=HOSPITAL,
                    ),
                    Activity(
                        code_mode_exercice="L",
                        code_secteur_activite="SA07",
                        code_genre_activite="GENR01",
                        ancien_identifiant_structure="410000000901002",
                        structure=CABINET,
                    ),
                    Activity(code_mode_exercice="B", code_secteur_activite="SA43"),
                ),
            ),
            Exercice(code_profession="10", code_savoir_faire="SM56", code_type_savoir_faire="S"),
        ),
        other_ids=(
            OtherId(identifiant=national_id, origine="RPPS", qualite=1),
            OtherId(identifiant="0996000901", origine="ADELI", qualite=1),
        ),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def directory(tmp_path):
    store = Directory(tmp_path / "directory.sqlite3")
    yield store
    store.close()


@pytest.fixture
def raw(directory):
    """A plain connection to the directory's file, to look behind the repository's back."""
    directory.initialize()
    conn = sqlite3.connect(directory.path)
    yield conn
    conn.close()


# -- schema ------------------------------------------------------------------


def test_initialize_creates_the_versioned_schema_in_wal_mode_and_is_idempotent(tmp_path):
    path = tmp_path / "nested" / "directory.sqlite3"
    store = Directory(path)
    store.initialize()
    store.initialize()
    Directory(path).initialize()  # a second process opening the same file
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"person", "exercice", "activity", "structure", "other_id"} <= tables
    conn.close()


def test_first_use_creates_the_file(tmp_path):
    store = Directory(tmp_path / "new.sqlite3")
    assert store.get("810000000001") is None
    assert store.path.exists()
    store.close()


def test_columns_match_model_fields(raw):
    """Model field names are the column names: a renamed field must not silently drop data."""

    def columns(table):
        return [row[1] for row in raw.execute(f"PRAGMA table_info({table})")]

    assert columns("structure") == list(repository.STRUCTURE_COLUMNS)
    assert columns("person") == list(repository.PERSON_COLUMNS)
    assert columns("exercice")[3:] == list(repository.EXERCICE_COLUMNS)
    assert columns("activity")[3:-1] == list(repository.ACTIVITY_COLUMNS)


def test_a_database_from_a_newer_santeid_is_refused(tmp_path):
    path = tmp_path / "directory.sqlite3"
    Directory(path).initialize()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    newer = Directory(path)
    with pytest.raises(SchemaError, match="newer"):
        newer.get("810000000001")
    newer.close()


@pytest.mark.parametrize(
    ("name", "sql"),
    [
        ("person", repository.SQL_PERSON),
        ("exercices", repository.SQL_EXERCICES),
        ("activities", repository.SQL_ACTIVITIES),
        ("other ids", repository.SQL_OTHER_IDS),
    ],
)
def test_every_read_of_a_professional_is_an_indexed_search(name, sql, raw):
    """With 1.2 million professionals a single table scan would make logins crawl."""
    plan = [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", ("810000000001",))]
    assert plan, name
    for step in plan:
        assert not step.startswith("SCAN"), f"{name}: {step}"
        assert "TEMP B-TREE" not in step, f"{name} sorts instead of reading in index order"


def test_sandbox_listing_reads_the_partial_index(raw):
    plan = " / ".join(
        row[3]
        for row in raw.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM person WHERE sandbox_auto_approve = 1 "
            "ORDER BY national_id"
        )
    )
    assert "person_sandbox" in plan


# -- reads and writes ----------------------------------------------------------


def test_unknown_professional_is_none(directory):
    assert directory.get("810000000999") is None


def test_round_trip_keeps_the_whole_graph_in_rank_order(directory):
    professional = make_professional()
    directory.upsert(professional)
    assert directory.get(professional.national_id) == professional


def test_activity_without_structure_round_trips(directory):
    directory.upsert(make_professional())
    third = directory.get("810000000901").exercices[0].activities[2]
    assert third.structure is None
    assert third.code_secteur_activite == "SA43"


def test_upsert_replaces_exercices_activities_and_other_ids(directory, raw):
    directory.upsert(make_professional())
    smaller = make_professional(
        family_name="ESSAI-NOUVEAU",
        sandbox_auto_approve=True,
        exercices=(Exercice(code_profession="60", activities=(Activity(structure=CABINET),)),),
        other_ids=(OtherId(identifiant="810000000901", origine="RPPS"),),
    )
    directory.upsert(smaller)
    assert directory.get("810000000901") == smaller
    # Nothing of the first version is left behind.
    assert raw.execute("SELECT count(*) FROM exercice").fetchone()[0] == 1
    assert raw.execute("SELECT count(*) FROM activity").fetchone()[0] == 1
    assert raw.execute("SELECT count(*) FROM other_id").fetchone()[0] == 1
    assert directory.count() == 1


def test_structures_are_shared_and_the_last_version_written_wins(directory, raw):
    directory.upsert(make_professional("810000000901"))
    renamed = dataclasses.replace(CABINET, raison_sociale="CABINET RENOMME", telephone="0199000901")
    directory.upsert(
        make_professional(
            "810000000902",
            exercices=(Exercice(code_profession="10", activities=(Activity(structure=renamed),)),),
        )
    )
    first = directory.get("810000000901")
    assert first.exercices[0].activities[1].structure == renamed
    assert raw.execute("SELECT count(*) FROM structure").fetchone()[0] == 2


def test_a_batch_is_one_transaction(directory):
    good = make_professional("810000000901")
    bad = make_professional("810000000902", local_id="10000000999")  # id type + local id ≠ id
    with pytest.raises(ValueError, match="is not id type"):
        directory.upsert_many([good, bad])
    assert directory.get("810000000901") is None
    assert directory.count() == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": "suspended"}, "status"),
        ({"given_names": ("N'GOLO",)}, "apostrophe"),
        ({"given_names": ("",)}, "empty"),
        ({"id_type": "0"}, "is not id type"),
    ],
)
def test_invalid_professionals_are_refused(directory, changes, message):
    with pytest.raises(ValueError, match=message):
        directory.upsert(make_professional(**changes))
    assert directory.count() == 0


def test_given_names_are_stored_in_the_rass_form(directory, raw):
    directory.upsert(make_professional())
    stored = raw.execute("SELECT given_names FROM person").fetchone()[0]
    assert stored == "JEANNE'MARIE'"  # docs/reference/pro-sante-connect.md §15.2 "Prénoms"


def test_optional_person_fields_round_trip_empty(directory):
    bare = Professional(
        national_id="500000010900017/SEC0901",
        id_type="5",
        local_id="00000010900017/SEC0901",
        family_name="SANSPRENOM",
    )
    directory.upsert(bare)
    assert directory.get(bare.national_id) == bare


def test_list_returns_summaries_in_national_id_order(directory):
    directory.upsert(make_professional("810000000903"))
    directory.upsert(make_professional("810000000901", sandbox_auto_approve=True))
    directory.upsert(
        Professional(
            national_id="0996000902", id_type="0", local_id="996000902", family_name="ADELI"
        )
    )
    listed = directory.list()
    assert [p.national_id for p in listed] == ["0996000902", "810000000901", "810000000903"]
    full = listed[1]
    assert full.given_name == "JEANNE"
    assert full.family_name == "ESSAI"
    assert full.sandbox_auto_approve is True
    assert full.professions == ("40", "10")
    # A summary: exercices without activities, no other ids (get() has those).
    assert all(not e.activities for e in full.exercices)
    assert full.other_ids == ()
    assert listed[0].professions == ()

    assert [p.national_id for p in directory.list(sandbox_only=True)] == ["810000000901"]
    assert [p.national_id for p in directory.list(limit=2)] == ["0996000902", "810000000901"]


def test_count(directory):
    assert directory.count() == 0
    directory.upsert(make_professional("810000000901"))
    directory.upsert(make_professional("810000000902"))
    directory.upsert(make_professional("810000000901"))
    assert directory.count() == 2


def test_close_releases_connections_and_the_directory_stays_usable(directory):
    directory.upsert(make_professional())
    directory.close()
    assert directory.get("810000000901") is not None


def test_for_settings_uses_the_data_dir(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "var" / "data"))
    store = Directory.for_settings(settings)
    assert store.path == tmp_path / "var" / "data" / "directory.sqlite3"
    assert store.path.parent.is_dir()


def test_concurrent_readers_see_whole_versions_while_a_writer_replaces_them(directory):
    """Each get() runs in one read transaction: never half of one version and half of another."""
    one = make_professional(family_name="VERSIONUN")
    two = make_professional(
        family_name="VERSIONDEUX",
        exercices=(Exercice(code_profession="60", activities=(Activity(structure=CABINET),) * 4),),
        other_ids=(),
    )
    directory.upsert(one)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: set[str] = set()

    def write():
        try:
            for i in range(60):
                directory.upsert(two if i % 2 == 0 else one)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    def read():
        try:
            while not stop.is_set():
                got = directory.get("810000000901")
                assert got in (one, two)
                seen.add(got.family_name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:1]
    assert seen  # readers did run while the writer worked


# -- the per-process cache ------------------------------------------------------


def test_a_professional_read_twice_without_a_commit_in_between_comes_from_the_cache(directory):
    directory.upsert(make_professional())
    first = directory.get("810000000901")
    assert directory.get("810000000901") is first
    directory.upsert(make_professional(family_name="AUTRE"))
    assert directory.get("810000000901").family_name == "AUTRE"


def test_a_change_through_another_connection_is_seen_by_the_next_lookup(tmp_path):
    """Two ``Directory`` objects on one file are two workers of one host: each caches what it
    read, and a commit by either empties the other's cache before its next lookup."""
    path = tmp_path / "directory.sqlite3"
    writer, reader = Directory(path), Directory(path)
    writer.upsert(make_professional())
    assert reader.get("810000000901").is_active
    writer.upsert(make_professional(status="inactive"))
    assert not reader.get("810000000901").is_active
    with sqlite3.connect(path) as conn:  # any writer at all, even outside santeid
        conn.execute("DELETE FROM person WHERE national_id = '810000000901'")
    assert reader.get("810000000901") is None
    writer.close()
    reader.close()


def test_a_change_by_another_process_is_seen_by_the_next_lookup(tmp_path):
    """An import or an admin command runs in a process of its own (``santeid directory
    import``): the serving process must not answer from a copy older than its commit."""
    import subprocess
    import sys

    path = tmp_path / "directory.sqlite3"
    reader = Directory(path)
    reader.upsert(make_professional())
    assert reader.get("810000000901").is_active
    script = (
        "import sys, dataclasses\n"
        "from santeid.directory import Directory\n"
        "d = Directory(sys.argv[1])\n"
        "p = d.get('810000000901')\n"
        "d.upsert(dataclasses.replace(p, status='inactive'))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert not reader.get("810000000901").is_active
    reader.close()


def test_a_read_that_raced_a_commit_is_not_cached(directory, monkeypatch):
    """A lookup that started before a commit and finished after another thread saw it must
    not put its (possibly older) rows in the cache."""
    directory.upsert(make_professional(family_name="AVANT"))
    read = directory._read

    def read_then_commit(national_id):
        professional = read(national_id)
        directory.upsert(make_professional(family_name="APRES"))
        directory._current_version()  # another thread's lookup sees the commit
        return professional

    monkeypatch.setattr(directory, "_read", read_then_commit)
    assert directory.get("810000000901").family_name == "AVANT"
    monkeypatch.setattr(directory, "_read", read)
    assert directory.get("810000000901").family_name == "APRES"


def test_the_cache_is_bounded(directory, monkeypatch):
    monkeypatch.setattr(repository, "CACHE_SIZE", 3)
    ids = [f"81000000090{i}" for i in range(1, 6)]
    directory.upsert_many(make_professional(national_id) for national_id in ids)
    for national_id in ids:
        assert directory.get(national_id).national_id == national_id
        assert len(directory._cache) <= 3


# -- the demo set ---------------------------------------------------------------


def test_seed_demo_is_idempotent_and_round_trips(directory):
    demo = demo_professionals()
    assert directory.seed_demo() == len(demo)
    assert directory.seed_demo() == len(demo)
    assert directory.count() == len(demo)
    for professional in demo:
        assert directory.get(professional.national_id) == professional


def test_seed_demo_resets_a_changed_demo_professional(directory):
    directory.seed_demo()
    original = directory.get("810000000001")
    directory.upsert(dataclasses.replace(original, exercices=(), sandbox_auto_approve=False))
    directory.seed_demo()
    assert directory.get("810000000001") == original


def by_id() -> dict[str, Professional]:
    return {p.national_id: p for p in demo_professionals()}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_demo_set_covers_the_cases_integrators_need():
    demo = demo_professionals()
    assert len(demo) >= 22
    auto = [p.national_id for p in demo if p.sandbox_auto_approve]
    assert len(auto) >= 3
    assert auto[0] == "810000000001"  # the easy one to type
    assert {p.id_type for p in demo} == {"8", "0", "3", "5", "ANS"}
    assert any(len(p.exercices) > 1 and len(p.professions) > 1 for p in demo)
    activity_counts = [len(e.activities) for p in demo for e in p.exercices]
    assert sum(2 <= n <= 5 for n in activity_counts) >= 3
    assert 5 in activity_counts
    assert any(p.exercices and not any(e.activities for e in p.exercices) for p in demo)
    assert any(not p.exercices for p in demo)
    assert any(p.id_type == "0" and p.exercices for p in demo)  # ADELI-only professional
    assert any(not p.is_active for p in demo)
    professions = {code for p in demo for code in p.professions}
    assert {"10", "21", "40", "50", "60", "70", "80"} <= professions
    specialties = {e.code_savoir_faire for p in demo for e in p.exercices}
    assert {"SM26", "SM53", "SM54", "SM04", "SM40", "SM42"} <= specialties


def test_demo_identities_cannot_be_real_people():
    for p in demo_professionals():
        if p.id_type == "8":
            assert re.fullmatch(r"8100000000\d\d", p.national_id)
            assert not luhn_valid(p.local_id), f"{p.national_id} could be a real RPPS number"
        if p.id_type == "0":
            assert p.local_id.startswith("99")  # ADELI department 99 does not exist
        assert p.correspondence_email.endswith("@example.org")
        assert re.fullmatch(r"063998\d{4}", p.correspondence_phone)


def test_demo_codes_come_from_the_nomenclatures():
    structures = set()
    for p in demo_professionals():
        assert p.code_civilite in ("M", "MME")
        for e in p.exercices:
            assert e.code_profession in PROFESSION_LABELS
            assert e.code_categorie_professionnelle in ("C", "E")
            assert e.code_civilite_exercice in ("", "DR", "PR")
            assert e.code_type_savoir_faire == ("S" if e.code_savoir_faire else "")
            for a in e.activities:
                assert a.code_mode_exercice in ("L", "S", "B")
                assert re.fullmatch(r"SA\d\d", a.code_secteur_activite)
                assert a.code_genre_activite in ("GENR01", "GENR02", "GENR04")
                assert re.fullmatch(r"[A-Z]+/[A-Z]+/[A-Z]+", a.autorite_enregistrement)
                assert a.structure is not None
                structures.add(a.structure)
            if e.code_profession == "21":
                assert all(a.code_section_pharmacien for a in e.activities)
    for s in structures:
        assert re.fullmatch(r"R\d+|F0B\d{7}", s.identifiant_technique)
        if s.numero_siret:
            assert s.numero_siret.startswith(s.numero_siren)
            assert luhn_valid(s.numero_siret) and luhn_valid(s.numero_siren)
        assert s.code_commune and s.code_postal and s.code_departement
        assert s.bureau_cedex.startswith(s.code_postal[:2])


def test_the_multi_exercice_demo_professional():
    vasseur = by_id()["810000000012"]
    assert vasseur.professions == ("10", "40")
    assert [e.code_savoir_faire for e in vasseur.exercices] == ["SM07", "SCD02"]


def test_a_newer_directory_stops_a_command_with_one_line(tmp_path):
    """A directory file upgraded by a newer release (rolled back hosts): the command names
    the version found in one ``Error:`` line, not a traceback."""
    from click.testing import CliRunner

    from santeid.cli import main

    path = tmp_path / "directory.sqlite3"
    Directory(path).initialize()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    env = {"SANTEID_DATA_DIR": str(tmp_path), "SANTEID_DIRECTORY_FILE": str(path)}
    result = CliRunner().invoke(main, ["directory", "list"], env=env)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and "newer" in result.output
    assert len(result.output.strip().splitlines()) == 1

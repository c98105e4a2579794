"""``santeid directory generate``: determinism, real shape, invented identifiers, bulk load."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.directory import Directory
from santeid.directory import nomenclatures
from santeid.directory import synthetic
from santeid.directory.demo import demo_professionals
from santeid.directory.extract_writer import write_extract
from santeid.directory.importer import import_extraction
from santeid.directory.search import DirectorySearch


def table_digest(path) -> str:
    conn = sqlite3.connect(path)
    digest = hashlib.sha256()
    for table in ("person", "exercice", "savoir_faire", "activity", "structure", "other_id"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):  # noqa: S608
            digest.update(repr(row).encode())
    conn.close()
    return digest.hexdigest()


def test_same_seed_same_directory_different_seed_different(tmp_path):
    a = synthetic.generate(tmp_path / "a.sqlite3", 1500, 3, with_demo=False)
    synthetic.generate(tmp_path / "b.sqlite3", 1500, 3, with_demo=False)
    synthetic.generate(tmp_path / "c.sqlite3", 1500, 4, with_demo=False)
    assert a.professionals == 1500 and a.activities > 1500
    assert table_digest(tmp_path / "a.sqlite3") == table_digest(tmp_path / "b.sqlite3")
    assert table_digest(tmp_path / "a.sqlite3") != table_digest(tmp_path / "c.sqlite3")


def test_helper_processes_give_the_same_rows(tmp_path):
    synthetic.generate(tmp_path / "one.sqlite3", 2500, 5, with_demo=False, jobs=1)
    synthetic.generate(tmp_path / "two.sqlite3", 2500, 5, with_demo=False, jobs=2)
    assert table_digest(tmp_path / "one.sqlite3") == table_digest(tmp_path / "two.sqlite3")


def test_generated_database_reads_back_as_the_generated_values(tmp_path):
    synthetic.generate(tmp_path / "d.sqlite3", 400, 8)
    store = Directory(tmp_path / "d.sqlite3")
    people = list(synthetic.professionals(400, 8))
    assert store.count() == 400 + len(demo_professionals())
    assert all(store.get(p.national_id) == p for p in people)
    assert store.get(demo_professionals()[0].national_id).sandbox_auto_approve
    store.close()


def test_proportions_follow_the_national_directory():
    people = list(synthetic.professionals(6000, 1))
    professions = Counter(e.code_profession for p in people for e in p.exercices[:1])
    share = {code: count / len(people) for code, count in professions.items()}
    assert 0.42 < share["60"] < 0.54  # infirmiers: ~600 k of 1.2 M
    assert 0.15 < share["10"] < 0.21  # médecins: ~230 k
    assert 0.05 < share["70"] < 0.10  # kinés
    doctors = [e for p in people for e in p.exercices if e.code_profession == "10"]
    general = sum(e.code_savoir_faire in ("SM54", "SM26", "SM53") for e in doctors)
    assert 0.35 < general / len(doctors) < 0.55
    assert all(e.code_type_savoir_faire == "S" and e.code_savoir_faire for e in doctors)
    modes = Counter(a.code_mode_exercice for p in people for e in p.exercices for a in e.activities)
    assert modes["L"] > 0.2 * sum(modes.values()) and modes["S"] > 0.4 * sum(modes.values())
    assert any(len(p.exercices) == 2 for p in people)  # several exercices for a few
    assert any(e.other_savoir_faire for p in people for e in p.exercices)
    assert any(sum(len(e.activities) for e in p.exercices) == 5 for p in people)
    assert 0.02 < sum(p.id_type == "0" for p in people) / len(people) < 0.15  # ADELI ids
    assert any(any(o.origine == "ADELI" for o in p.other_ids) and p.id_type == "8" for p in people)


def test_structures_look_like_the_rass(synthetic_people):
    structures = {
        a.structure
        for p in synthetic_people
        for e in p.exercices
        for a in e.activities
        if a.structure
    }
    finess = [s for s in structures if s.identifiant_technique.startswith("F")]
    siret = [s for s in structures if s.numero_siret]
    assert finess and siret
    for s in finess:
        assert s.identifiant_technique == "F" + s.numero_finess_site
        assert s.numero_finess_site.startswith("0B") and len(s.numero_finess_site) == 9
    for s in siret:
        assert s.numero_siret.startswith(s.numero_siren) and s.numero_siren.startswith("000")
        assert synthetic.luhn_key(s.numero_siret[:-1]) == int(s.numero_siret[-1])
    communes = {row["code"] for row in synthetic._data_rows("communes.csv")}
    for s in structures:
        assert s.code_commune in communes and s.bureau_cedex.startswith(s.code_postal)
        assert s.code_departement == (
            s.code_commune[:3] if s.code_commune.startswith("97") else s.code_commune[:2]
        )


def test_identifiers_cannot_be_real(synthetic_people):
    for p in synthetic_people:
        if p.id_type == "8":
            assert p.local_id.startswith("2") and len(p.local_id) == 11
            assert synthetic.luhn_key(p.local_id[:-1]) != int(p.local_id[-1])
        else:
            assert p.id_type == "0" and p.local_id.startswith("96")
        if p.correspondence_email:
            assert p.correspondence_email.endswith("@example.org")
        assert p.other_ids[0].identifiant == p.national_id


def test_generated_codes_are_all_in_the_nomenclatures(synthetic_people):
    report = nomenclatures.CodeReport()
    for p in synthetic_people:
        report.check_professional(p)
    assert report.total == 0, list(report.lines())


def test_extract_output_imports_to_the_same_directory(tmp_path):
    runner = CliRunner()
    env = {"SANTEID_DATA_DIR": str(tmp_path / "data"), "SANTEID_CONFIG": ""}
    out = tmp_path / "generated.zip"
    result = runner.invoke(
        main,
        ["directory", "generate", "--professionals", "250", "--seed", "2", "--out", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    store = Directory(tmp_path / "imported.sqlite3")
    report = import_extraction(store, out)
    assert report.added == 250 and report.malformed == 0 and report.codes.total == 0
    assert all(store.get(p.national_id) == p for p in synthetic.professionals(250, 2))
    store.close()


def test_cli_generate_protects_an_existing_directory(tmp_path):
    runner = CliRunner()
    env = {"SANTEID_DATA_DIR": str(tmp_path), "SANTEID_CONFIG": ""}

    def run(*args):
        return runner.invoke(main, ["directory", *args], env=env)

    assert run("generate", "--professionals", "120", "--seed", "1").exit_code == 0
    refused = run("generate", "--professionals", "120")
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = run("generate", "--professionals", "130", "--force", "--no-demo")
    assert forced.exit_code == 0, forced.output
    assert "Generated 130 professionals" in forced.output
    assert Directory(tmp_path / "directory.sqlite3").count() == 130


@pytest.mark.parametrize("name", ["extract.txt", "extract.zip", "d.sqlite3"])
def test_cli_generate_replaces_an_existing_file_only_with_force(tmp_path, name):
    runner = CliRunner()
    env = {"SANTEID_DATA_DIR": str(tmp_path / "data"), "SANTEID_CONFIG": ""}
    out = tmp_path / name
    out.write_text("kept")

    def run(*args):
        command = ["directory", "generate", "--professionals", "20", "--out", str(out), *args]
        return runner.invoke(main, command, env=env)

    refused = run()
    assert refused.exit_code == 1 and f"{out} exists: add --force" in refused.output
    assert out.read_text() == "kept"
    forced = run("--force")
    assert forced.exit_code == 0, forced.output
    assert out.stat().st_size > len("kept")


def test_cli_generate_an_extract_it_cannot_write_is_one_line(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    out = blocker / "extract.txt"
    result = CliRunner().invoke(
        main,
        ["directory", "generate", "--professionals", "5", "--out", str(out)],
        env={"SANTEID_DATA_DIR": str(tmp_path / "data"), "SANTEID_CONFIG": ""},
    )
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == f"Error: cannot write {out}: Not a directory"


def _interrupted(after: int):
    """A stream of professionals that Ctrl-C cuts after ``after`` of them."""
    for number, professional in enumerate(synthetic.professionals(100, 1)):
        if number == after:
            raise KeyboardInterrupt
        yield professional


@pytest.mark.parametrize("name", ["extract.txt", "extract.zip"])
def test_an_interrupted_extract_leaves_no_file_that_looks_whole(tmp_path, name):
    """``directory import`` would read a cut extract as a full one and retire everyone after
    the cut: the extract is written beside, then renamed."""
    out = tmp_path / name
    with pytest.raises(KeyboardInterrupt):
        write_extract(out, _interrupted(60))
    assert list(tmp_path.iterdir()) == []
    out.write_text("previous extract")
    with pytest.raises(KeyboardInterrupt):
        write_extract(out, _interrupted(60))
    assert list(tmp_path.iterdir()) == [out] and out.read_text() == "previous extract"


def test_an_interrupted_database_generation_leaves_nothing_behind(tmp_path):
    out = tmp_path / "d.sqlite3"
    synthetic.generate(out, 50, 1, with_demo=False)
    before = table_digest(out)

    def interrupt(count):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthetic.generate(out, 80, 2, with_demo=False, progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.sqlite3"]
    assert table_digest(out) == before


def test_search_indexes_exist_after_a_bulk_load(tmp_path):
    synthetic.generate(tmp_path / "d.sqlite3", 300, 1)
    conn = sqlite3.connect(tmp_path / "d.sqlite3")
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"exercice_profession", "person_family_name", "other_id_identifiant"} <= names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = Directory(tmp_path / "d.sqlite3")
    doctor = next(p for p in synthetic.professionals(300, 1) if "10" in p.professions)
    assert doctor.national_id in DirectorySearch(store).by_profession(["10"], limit=1000)
    store.close()


def test_luhn_helpers():
    assert synthetic.luhn_key("7992739871") == 3  # 79927398713, the usual Luhn example
    # rpps_local never yields a valid key, whatever the index.
    for index in range(200):
        local = synthetic.rpps_local(index)
        assert synthetic.luhn_key(local[:-1]) != int(local[-1])

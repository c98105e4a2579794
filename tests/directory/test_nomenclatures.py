"""The NOS code lists shipped with the package (docs/reference/pro-sante-connect.md §16)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.directory import nomenclatures
from santeid.directory.demo import demo_professionals
from santeid.directory.models import PROFESSION_LABELS


def test_every_list_loads_with_labels():
    tables = nomenclatures.nomenclatures()
    assert set(tables) == set(nomenclatures.FILES)
    for short, nomenclature in tables.items():
        assert nomenclature.codes, short
        for code, (label, table) in nomenclature.codes.items():
            assert code and label, (short, code)
            assert table.startswith(("TRE_", "JDV_")), (short, code, table)


@pytest.mark.parametrize(
    ("field", "code", "label"),
    [
        ("code_profession", "10", "Médecin"),
        ("code_profession", "60", "Infirmier"),
        ("code_savoir_faire", "SM26", "Qualifié en Médecine générale (SM)"),
        ("code_savoir_faire", "SM54", "Médecine générale (SM)"),
        ("code_savoir_faire", "PAC00", "Qualification Praticien adjoint contractuel (PAC)"),
        ("code_type_savoir_faire", "S", "Spécialité ordinale"),
        ("code_categorie_professionnelle", "C", "Civil"),
        ("code_civilite_exercice", "DR", "Docteur"),
        ("code_civilite", "MME", "Madame"),
        ("code_mode_exercice", "L", "Libéral, indépendant, artisan, commerçant"),
        ("code_genre_activite", "GENR01", "Activité de soin et de pharmacie"),
        ("code_secteur_activite", "SA07", "Cabinet individuel"),
        ("code_role", "FON-02", "Associé dans une société d'exercice (SEL ou SCP)"),
        ("code_section_pharmacien", "A", "Pharmacien titulaire d'officine"),
    ],
)
def test_codes_of_the_psc_reference_and_their_labels(field, code, label):
    assert nomenclatures.is_known(field, code)
    assert nomenclatures.label(field, code) == label


def test_savoir_faire_codes_know_their_own_table():
    assert nomenclatures.table_of("code_savoir_faire", "SM54") == "TRE_R38-SpecialiteOrdinale"
    assert nomenclatures.table_of("code_savoir_faire", "CAPA05") == "TRE_R43-CapaciteSavoirFaire"
    assert nomenclatures.fhir_system("TRE_R23-ModeExercice") == (
        "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"
    )


def test_professions_agree_with_the_models_labels():
    assert set(nomenclatures.get("TRE_G15").codes) == set(PROFESSION_LABELS)


def test_the_demo_set_uses_known_codes_only():
    report = nomenclatures.CodeReport()
    for professional in demo_professionals():
        report.check_professional(professional)
    assert report.total == 0, list(report.lines())


def test_unknown_and_empty_codes():
    report = nomenclatures.CodeReport()
    assert report.check("code_profession", "")  # absent is fine
    assert not report.check("code_profession", "35")  # deprecated aide-soignant
    assert not report.check("code_mode_exercice", "I")
    report.check("code_profession", "35")
    assert report.unknown == {("code_profession", "35"): 2, ("code_mode_exercice", "I"): 1}
    assert next(iter(report.lines())) == "code_profession '35': 2 row(s)"


def test_cli_lists_tables_and_codes(tmp_path):
    runner = CliRunner()
    env = {"SANTEID_DATA_DIR": str(tmp_path), "SANTEID_CONFIG": ""}
    listing = runner.invoke(main, ["directory", "nomenclatures"], env=env)
    assert "TRE_G15" in listing.output and "TRE_R38" in listing.output
    codes = runner.invoke(main, ["directory", "nomenclatures", "TRE_R01"], env=env)
    assert "CAPA05" in codes.output and "[TRE_R43-CapaciteSavoirFaire]" in codes.output
    assert runner.invoke(main, ["directory", "nomenclatures", "TRE_X"], env=env).exit_code == 1

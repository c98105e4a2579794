"""The RASS "Extraction ProSanteConnect" format (docs/reference/pro-sante-connect.md §15.2): header,
lines, grouping."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from santeid.directory.demo import demo_professionals
from santeid.directory.extraction import COLUMNS
from santeid.directory.extraction import HEADER
from santeid.directory.extraction import HEADER_LINE
from santeid.directory.extraction import LineError
from santeid.directory.extraction import build_professional
from santeid.directory.extraction import format_line
from santeid.directory.extraction import is_header
from santeid.directory.extraction import parse_other_ids
from santeid.directory.extraction import person_digest
from santeid.directory.extraction import professional_rows
from santeid.directory.extraction import split_line
from santeid.directory.models import OtherId

#: The sample line of docs/reference/pro-sante-connect.md §15.2 (correspondence phone number made
#: up).
SAMPLE = (
    "8|10106820706|810106820706|D'ARCO|ANNE'CATHERINE'|25/09/1975|91521|99000||F|0639980099||"
    "MME|60|C||D'ARCO|ANNE-CATHERINE|||S|SA43|||26890206100038||||R10100000489889|"
    "CENTRE COMMUNAL ACTION SOCIALE||||5|||RUE JULES DUMONT D URVILLE||89300 JOIGNY|89300|"
    "89206|99000||||||326890206100038|//|810106820706,RPPS,1;263462378544,ADELI,1;"
    "119294682980,ADELI,1|GENR01|"
)


def test_header_is_the_published_one():
    assert len(HEADER) == COLUMNS == 51
    assert HEADER[0] == "Type d'identifiant PP" and HEADER[-1] == "Code genre d'activité"
    assert HEADER_LINE.endswith("|") and HEADER_LINE.count("|") == 51
    assert is_header("\ufeff" + HEADER_LINE + "\r\n")
    assert is_header(HEADER_LINE[:-1])
    assert not is_header(HEADER_LINE.replace("Prénoms", "Prenoms"))


def test_the_reference_sample_line_reads_as_documented():
    fields = split_line(SAMPLE)
    professional, warnings = build_professional([fields])
    assert warnings == []
    assert professional.national_id == "810106820706"
    assert professional.given_names == ("ANNE", "CATHERINE")
    assert professional.birth_date == datetime.date(1975, 9, 25)
    (exercice,) = professional.exercices
    assert (exercice.code_profession, exercice.prenom_exercice) == ("60", "ANNE-CATHERINE")
    (activity,) = exercice.activities
    assert activity.code_mode_exercice == "S" and activity.code_secteur_activite == "SA43"
    assert activity.code_genre_activite == "GENR01"  # the last column
    assert activity.autorite_enregistrement == "//"  # kept as the file says
    assert activity.ancien_identifiant_structure == "326890206100038"
    assert activity.structure.identifiant_technique == "R10100000489889"
    assert activity.structure.numero_siret == "26890206100038"
    assert activity.structure.code_commune == "89206"
    assert [o.origine for o in professional.other_ids] == ["RPPS", "ADELI", "ADELI"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("8|1|81|X|", "expected 51"),
        (SAMPLE.replace("|810106820706|D'ARCO", "|810106820707|D'ARCO", 1), "is not"),
        (SAMPLE.replace("|25/09/1975|", "|1975-09-25|"), "dd/MM/yyyy"),
        (SAMPLE.replace("810106820706,RPPS,1;", "810106820706,RPPS;"), "id,origine,qualite"),
        (SAMPLE.replace(",ADELI,1|GENR01", ",ADELI,x|GENR01"), "not a number"),
        (SAMPLE.replace("|D'ARCO|ANNE'", "||ANNE'"), "Nom de famille"),
        ("|" * 51, "empty"),
    ],
)
def test_malformed_lines_say_why(line, reason):
    with pytest.raises(LineError, match=reason):
        split_line(line)


def test_a_line_without_its_trailing_bar_is_accepted():
    assert split_line(SAMPLE[:-1]) == split_line(SAMPLE)


def test_other_ids_format():
    assert parse_other_ids("") == ()
    assert parse_other_ids("810000000001,RPPS,1;0996000011,ADELI,1;") == (
        OtherId("810000000001", "RPPS", 1),
        OtherId("0996000011", "ADELI", 1),
    )


def _as_imported(professional):
    # The extract carries neither the sandbox flag nor the status: imports are active people.
    return dataclasses.replace(professional, sandbox_auto_approve=False, status="active")


def test_every_demo_professional_survives_writing_and_reading():
    for professional in demo_professionals():
        rows = professional_rows(professional)
        assert all(len(row) == COLUMNS for row in rows)
        lines = [split_line(format_line(row)) for row in rows]
        rebuilt, warnings = build_professional(lines)
        assert warnings == []
        assert rebuilt == _as_imported(professional)


def test_synthetic_professionals_survive_writing_and_reading(synthetic_people):
    for professional in synthetic_people:
        lines = [split_line(format_line(row)) for row in professional_rows(professional)]
        assert build_professional(lines)[0] == professional


def test_lines_are_grouped_person_exercice_savoir_faire_situation(synthetic_people):
    with_extra = next(p for p in synthetic_people if any(e.other_savoir_faire for e in p.exercices))
    exercice = next(e for e in with_extra.exercices if e.other_savoir_faire)
    rows = professional_rows(with_extra)
    # One line per exercice × savoir-faire × situation, as the RASS writes them.
    expected = sum(
        (1 + len(e.other_savoir_faire)) * max(1, len(e.activities)) for e in with_extra.exercices
    )
    assert len(rows) == expected
    rebuilt = build_professional(rows)[0]
    assert rebuilt.exercices[0].code_savoir_faire == with_extra.exercices[0].code_savoir_faire
    assert exercice.other_savoir_faire in [e.other_savoir_faire for e in rebuilt.exercices]


def test_digest_ignores_order_duplicates_and_unstored_columns():
    professional = demo_professionals()[3]
    rows = professional_rows(professional)
    digest = person_digest(rows)
    assert person_digest(list(reversed(rows)) + rows[:1]) == digest
    moved = [list(row) for row in rows]
    moved[0][8] = "JOIGNY"  # Lieu de naissance: not stored, not a change
    assert person_digest(moved) == digest
    moved[0][29] = "AUTRE RAISON SOCIALE"
    assert person_digest(moved) != digest


def test_structure_data_without_technical_id_is_a_warning():
    fields = split_line(SAMPLE.replace("|R10100000489889|", "||"))
    professional, warnings = build_professional([fields])
    assert warnings == ["situation with structure data but no technical id"]
    assert professional.exercices[0].activities[0].structure is None

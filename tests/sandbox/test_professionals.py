"""The integrator's professionals file (``sandbox_professionals``): loaded at start with its
scenarios, refused with every error located by line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from santeid import create_app
from santeid.directory import OtherId
from santeid.sandbox.professionals import ProfessionalsError
from santeid.sandbox.professionals import load_file
from santeid.sandbox.professionals import read_one
from santeid.settings import ConfigurationError
from santeid.storage import MemoryStore
from tests.support.servers import refused_start

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"

GOOD = """\
professionals:
  - national_id: "810000000101"
    family_name: DUPONT
    given_names: [JEAN, PAUL]
    birth_date: 1980-05-04
    scenario: {outcome: deny, delay: 2}
    exercices:
      - code_profession: 10
        code_savoir_faire: SM54
        activities:
          - code_mode_exercice: L
            structure: {identifiant_technique: R900000000101, raison_sociale: CABINET DUPONT}
  - national_id: "500000010900017/ACC0001"
    family_name: MARTIN
    scenario: approve
"""

BAD = """\
professionals:
  - national_id: "810000000101"
    family_name: DUPONT
    scenario: {outcome: maybe}
  - national_id: "12"
    exercices:
      - code_profession: "10"
        activites: []
"""


def test_good_file_is_loaded_with_its_scenarios(settings, tmp_path):
    path = tmp_path / "pros.yaml"
    path.write_text(GOOD)
    app = create_app(settings.replace(sandbox_professionals=str(path)), store=MemoryStore())
    svc = app.extensions["santeid"]
    dupont = svc.directory.get("810000000101")
    assert dupont.given_names == ("JEAN", "PAUL")
    assert dupont.exercices[0].code_profession == "10"  # a YAML number, read as the code
    assert dupont.exercices[0].activities[0].structure.raison_sociale == "CABINET DUPONT"
    assert dupont.other_ids == (OtherId("810000000101", "RPPS", 1),)
    assert svc.sandbox.scenario_for(dupont).to_dict() == {"outcome": "deny", "delay": 2.0}
    staff = svc.directory.get("500000010900017/ACC0001")
    assert staff.id_type == "5" and staff.exercices == () and staff.other_ids == ()
    assert svc.sandbox.scenario_for(staff).outcome == "approve"


def test_bad_file_names_every_error_with_its_line(tmp_path):
    path = tmp_path / "pros.yaml"
    path.write_text(BAD)
    with pytest.raises(ProfessionalsError) as caught:
        load_file(path)
    errors = caught.value.errors
    assert any(e.startswith(f"{path}:4: ") and "outcome" in e for e in errors), errors
    assert any(e.startswith(f"{path}:5: ") and "national_id" in e for e in errors), errors
    assert any(e.startswith(f"{path}:5: ") and "family_name" in e for e in errors), errors
    assert any(e.startswith(f"{path}:8: ") and "activites" in e for e in errors), errors


def test_bad_file_stops_the_server_from_starting(settings, tmp_path):
    path = tmp_path / "pros.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigurationError, match=r"pros\.yaml:4: "):
        create_app(settings.replace(sandbox_professionals=str(path)), store=MemoryStore())


def test_json_file_and_its_syntax_errors(tmp_path):
    good = tmp_path / "pros.json"
    good.write_text(
        json.dumps({"professionals": [{"national_id": "810000000102", "family_name": "X"}]})
    )
    assert load_file(good)[0].professional.national_id == "810000000102"
    broken = tmp_path / "broken.json"
    broken.write_text('{"professionals": [\n  {"national_id": "1",}\n]}')
    with pytest.raises(ProfessionalsError, match=r"broken\.json:2: "):
        load_file(broken)


def test_yaml_syntax_error_has_its_line(tmp_path):
    path = tmp_path / "pros.yaml"
    path.write_text("professionals:\n  - national_id: [unclosed\n")
    with pytest.raises(ProfessionalsError, match=r"pros\.yaml:3: "):
        load_file(path)


@pytest.mark.parametrize(
    ("national_id", "origine"),
    [("810000000101", "RPPS"), ("0999500099", "ADELI"), ("ANS20240101120000", "EDIT")],
)
def test_a_professional_without_other_ids_lists_its_own_id(national_id, origine):
    """docs/claims.md: the professional's own identifier is listed in ``otherIds``, as in every
    PSC answer (docs/reference/pro-sante-connect.md §6, §9.4, §15.2) — the demo directory's rule."""
    defined = read_one({"national_id": national_id, "family_name": "X"})
    assert defined.professional.other_ids == (OtherId(national_id, origine, 1),)


@pytest.mark.parametrize("national_id", ["500000010900017/ACC0001", "30B6900011/ACC0002"])
def test_structure_staff_without_other_ids_have_none(national_id):
    defined = read_one({"national_id": national_id, "family_name": "X"})
    assert defined.professional.other_ids == ()


def test_given_other_ids_are_kept_as_given():
    former = {"identifiant": "0996000099", "origine": "ADELI", "qualite": 1}
    listed = read_one({"national_id": "810000000101", "family_name": "X", "other_ids": [former]})
    assert listed.professional.other_ids == (OtherId("0996000099", "ADELI", 1),)
    none = read_one({"national_id": "810000000101", "family_name": "X", "other_ids": []})
    assert none.professional.other_ids == ()


def test_the_refused_start_is_the_one_docs_sandbox_md_shows(tmp_path):
    """``santeid serve`` on a file with the two mistakes of docs/sandbox.md's example (a wrong
    outcome on line 4, a misspelt field on line 8) prints that example, ``…`` standing for the
    rest of a line, and exits with status 1."""
    shown = DOC.read_text().split("every error is reported", 1)[1]
    shown = shown.split("```\n", 2)[1].splitlines()
    (tmp_path / "pros.yaml").write_text(
        "professionals:\n"
        '  - national_id: "810000000101"\n'
        "    family_name: DUPONT\n"
        "    scenario: {outcome: maybe}\n"
        '  - national_id: "810000000102"\n'
        "    family_name: DURAND\n"
        "    exercices:\n"
        '      - {code_profession: "10", activites: []}\n'
    )
    result = refused_start(
        tmp_path, "--sandbox", SANTEID_SANDBOX_PROFESSIONALS="pros.yaml", cwd=tmp_path
    )
    printed = result.stderr.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    start = printed.index(shown[0])
    assert len(printed) - start == len(shown), printed
    for line, example in zip(printed[start:], shown, strict=True):
        assert re.fullmatch(re.escape(example).replace("…", ".*"), line), (line, example)

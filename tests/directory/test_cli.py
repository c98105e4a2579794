"""``santeid directory list | seed-demo | show``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.directory.demo import demo_professionals

FEDERATION_ID = "3c1e9a70-5b2d-4e8f-a6c4-0d9b8e7f6a51"


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    env = {
        "SANTEID_DATA_DIR": str(tmp_path),
        "SANTEID_FEDERATION_ID": FEDERATION_ID,
        "SANTEID_CONFIG": "",  # ignore any configuration file of the machine running the tests
    }

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, ["directory", *args], env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_list_json_after_seed_has_the_sandbox_professionals(run, tmp_path):
    assert json.loads(run("list", "--json").output) == []
    assert (tmp_path / "directory.sqlite3").exists()  # created on first use

    seeded = run("seed-demo")
    assert f"Loaded {len(demo_professionals())} demo professionals" in seeded.output

    listed = json.loads(run("list", "--json").output)
    assert len(listed) == len(demo_professionals())
    for item in listed:
        assert {
            "national_id",
            "family_name",
            "given_name",
            "sandbox_auto_approve",
            "professions",
        } <= set(item)
        assert isinstance(item["professions"], list)
    auto = [item for item in listed if item["sandbox_auto_approve"]]
    assert len(auto) >= 3
    first = next(item for item in listed if item["national_id"] == "810000000001")
    assert first == {
        "national_id": "810000000001",
        "id_type": "8",
        "family_name": "FAUVEL",
        "given_name": "HELENE",
        "professions": ["10"],
        "sandbox_auto_approve": True,
        "status": "active",
    }

    sandbox = json.loads(run("list", "--sandbox", "--json").output)
    assert sandbox == auto


def test_seed_demo_is_idempotent(run):
    run("seed-demo")
    run("seed-demo")
    assert len(json.loads(run("list", "--json").output)) == len(demo_professionals())


def test_list_text(run):
    assert "seed-demo" in run("list").output  # says how to fill an empty directory
    run("seed-demo")
    lines = run("list").output.splitlines()
    assert len(lines) == len(demo_professionals())
    fauvel = next(line for line in lines if line.startswith("810000000001"))
    assert "FAUVEL HELENE" in fauvel and "10 Médecin" in fauvel and "[auto-approve]" in fauvel
    vasseur = next(line for line in lines if line.startswith("810000000012"))
    assert "10 Médecin, 40 Chirurgien-Dentiste" in vasseur
    assert "[inactive]" in next(line for line in lines if line.startswith("810000000024"))


def test_show_json_prints_the_userinfo(run):
    run("seed-demo")
    info = json.loads(run("show", "810000000001", "--json").output)
    assert info["sub"] == f"f:{FEDERATION_ID}:810000000001"
    assert list(info)[:3] == ["Secteur_Activite", "sub", "SubjectOrganization"]
    assert list(info)[-1] == "family_name"
    assert "authMode" not in info
    with_mode = json.loads(run("show", "810000000001", "--json", "--auth-mode", "CARD").output)
    assert with_mode["authMode"] == "CARD"


def test_show_accepts_what_people_type(run):
    run("seed-demo")
    info = json.loads(run("show", " 8 10 000 000 001 ", "--json").output)
    assert info["SubjectNameID"] == "810000000001"


def test_show_text_summarises_then_prints_userinfo(run):
    run("seed-demo")
    output = run("show", "810000000004").output
    assert output.startswith("810000000004 (RPPS) M LEGRAND ANTOINE")
    assert "5 activities" in output
    assert "CLINIQUE DES QUAIS DE GARONNE (F0B3300021)" in output
    userinfo = json.loads(output[output.index("{") :])
    assert userinfo["SubjectNameID"] == "810000000004"


def test_show_explains_a_mistyped_identifier(run):
    result = run("show", "10000000001", ok=False)
    assert result.exit_code == 2  # a usage error, as in every command taking a national id
    assert "prefix 8" in result.output and "810000000001" in result.output


def test_show_unknown_professional(run):
    run("seed-demo")
    result = run("show", "810000000999", ok=False)
    assert result.exit_code == 1
    assert "no professional with national id 810000000999" in result.output

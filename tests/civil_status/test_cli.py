"""``santeid civil generate`` and ``santeid civil show``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

# santeid.cli imports every command group when loaded; skip (with the reason shown by -ra) if a
# sibling group is not there yet rather than fail on someone else's missing module.
civil_cli = pytest.importorskip("santeid.cli.civil", reason="santeid.cli does not import")
civil = civil_cli.civil


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SANTEID_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_generate_then_show(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(civil, ["generate", "--persons", "400", "--seed", "5"])
    assert result.exit_code == 0, result.output
    base = tmp_path / "data" / "civil-status.sqlite3"
    assert base.exists()
    assert "400 synthetic + 11 published test identities" in result.output
    for label in ("NIA", "deceased", "homonym groups", "twin pairs", "time"):
        assert label in result.output

    shown = runner.invoke(civil, ["show", "1090763220834"])
    assert shown.exit_code == 0, shown.output
    assert "ECETINSI PIERRE-ALAIN MURIEL FLORIANT" in shown.output
    assert "109076322083489" in shown.output
    assert "209076322083439" in shown.output  # history
    assert "2019-03-01 → 2019-02-28" in shown.output

    # An earlier matricule, with its key and spaces, finds the same person.
    earlier = runner.invoke(civil, ["show", "2 09 07 63220 834 39"])
    assert earlier.exit_code == 0
    assert "earlier matricule" in earlier.output

    nia = runner.invoke(civil, ["show", "109076322088835", "--db", str(base)])
    assert "NIA, OID 1.2.250.1.213.1.4.9" in nia.output

    # HERMANN / GATIEN: taken with the published key INSi answers (60), not the computed one
    # (76), as the INSi operations take it (docs/reference/insi-teleservice.md §9).
    hermann = runner.invoke(civil, ["show", "181036322045660"])
    assert hermann.exit_code == 0, hermann.output
    assert "181036322045660" in hermann.output
    assert runner.invoke(civil, ["show", "181036322045676"]).exit_code == 1


def test_generate_to_explicit_path(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "x" / "base.sqlite3"
    result = runner.invoke(
        civil, ["generate", "--persons", "50", "--out", str(out), "--as-of", "2020-05-01"]
    )
    assert result.exit_code == 0, result.output
    assert "as of 2020-05-01" in result.output
    assert out.exists()


def test_show_errors(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(civil, ["show", "1090763220834"])
    assert missing.exit_code == 1
    assert "civil generate" in missing.output
    runner.invoke(civil, ["generate", "--persons", "10"])
    for argument in ("123", "109076322083400"):  # malformed, wrong key
        result = runner.invoke(civil, ["show", argument])
        assert result.exit_code == 1
    unknown = runner.invoke(civil, ["show", "1850599352999"])
    assert unknown.exit_code == 1
    assert "no person" in unknown.output


def test_generate_refuses_a_day_before_1900_and_leaves_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "base.sqlite3"
    result = runner.invoke(
        civil, ["generate", "--persons", "5", "--out", str(out), "--as-of", "1899-12-31"]
    )
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--as-of'" in result.output
    assert "1900-01-01 or later" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "new").exists()


def test_generate_creates_the_directory_of_out(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "base.sqlite3"
    assert runner.invoke(civil, ["generate", "--persons", "5", "--out", str(out)]).exit_code == 0
    assert out.exists()
    assert "directory created if missing" in runner.invoke(civil, ["generate", "--help"]).output


def test_generate_help_shows_no_bound_for_an_unbounded_seed(runner: CliRunner) -> None:
    """``--seed`` takes any whole number: its help line gives the default alone, not click's
    description of a range with no bound ("x<=None")."""
    help_text = runner.invoke(civil, ["generate", "--help"]).output
    assert "[default: 1]" in help_text
    assert "None" not in help_text

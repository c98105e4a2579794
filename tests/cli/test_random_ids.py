"""Commands that take an identifier the server drew at random accept one beginning with ``-``
(base64url text: one in 64 does), instead of reading it as an unknown option."""

from __future__ import annotations

from click.testing import CliRunner

from santeid.cli import main


def test_cps_approve_takes_an_auth_req_id_beginning_with_a_dash(tmp_path):
    result = CliRunner().invoke(
        main, ["cps", "approve", "--card", str(tmp_path), "-QVZaygpaRIo2py8knKhzn8s"]
    )
    assert "No such option" not in result.output
    assert "cannot read the card" in result.output  # past the arguments, on to the card


def test_device_answers_take_a_request_id_beginning_with_a_dash(tmp_path):
    for command in ("approve", "deny"):
        result = CliRunner().invoke(
            main, ["device", command, "-385H7khmraPV4", "--file", str(tmp_path / "d.json")]
        )
        assert "No such option" not in result.output
        assert "Missing option '--pin'" in result.output, result.output

"""``santeid cps issue-card | revoke-card | list`` and ``santeid tls dev-cert``."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.cps.cards import CardError
from santeid.cps.cards import verify_card_certificate
from santeid.pki import load_certificates
from santeid.pki import load_private_key
from santeid.pki import name_text
from santeid.pki import serial_hex
from santeid.settings import Settings
from tests.support.answering_server import FakeServer
from tests.support.cps import ACTIVE_ID
from tests.support.cps import INACTIVE_ID
from tests.support.cps import UNKNOWN_ID


@pytest.fixture
def home(tmp_path):
    return tmp_path


@pytest.fixture
def cli_settings(home) -> Settings:
    return Settings(data_dir=str(home / "var"), keys_dir=str(home / "keys"), sandbox=True)


@pytest.fixture
def run(home):
    runner = CliRunner()
    env = {
        "SANTEID_DATA_DIR": str(home / "var"),
        "SANTEID_KEYS_DIR": str(home / "keys"),
        "SANTEID_CONFIG": "",
        "SANTEID_SANDBOX": "true",  # test cards are a sandbox-mode thing (docs/cps-card.md)
    }

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
        return result

    invoke("directory", "seed-demo")
    return invoke


def _card(folder):
    return load_certificates(folder / "cert.pem")[0]


def test_issue_card_writes_a_usable_card(run, home, cli_settings):
    result = run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "card"))
    card = home / "card"
    cert = _card(card)
    assert f"issued card {serial_hex(cert)} for {ACTIVE_ID}" in result.output
    assert stat.S_IMODE((card / "key.pem").stat().st_mode) == 0o600
    assert load_private_key(card / "key.pem").public_key() == cert.public_key()
    assert load_certificates(card / "ca.pem")[0].subject == cert.issuer
    assert (home / "keys" / "cps-test-ca.pem").exists()
    assert name_text(cert.subject).startswith(f"CN={ACTIVE_ID},GN=ANTOINE,SN=LEGRAND,T=Médecin")
    assert verify_card_certificate(cert, cli_settings) == ACTIVE_ID

    # The authority is made once: a second card has the same issuer key.
    run("cps", "issue-card", "810000000005", "--out", str(home / "card2"))
    assert (card / "ca.pem").read_bytes() == (home / "card2" / "ca.pem").read_bytes()
    _card(home / "card2").verify_directly_issued_by(load_certificates(card / "ca.pem")[0])


def test_issue_card_options(run, home, cli_settings):
    run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "old"), "--expired")
    run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "new"), "--not-yet-valid")
    run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "short"), "--days", "2")
    short = _card(home / "short")
    assert (short.not_valid_after_utc - short.not_valid_before_utc).days == 2
    for folder, code in (("old", "expired"), ("new", "not_yet_valid")):
        with pytest.raises(CardError) as caught:
            verify_card_certificate(_card(home / folder), cli_settings)
        assert caught.value.code == code
    run(
        "cps",
        "issue-card",
        ACTIVE_ID,
        "--out",
        str(home / "x"),
        "--expired",
        "--not-yet-valid",
        ok=False,
    )


def test_issue_card_needs_a_known_well_formed_identifier(run, home, cli_settings):
    refused = run("cps", "issue-card", UNKNOWN_ID, "--out", str(home / "u"), ok=False)
    assert "not in the directory" in refused.output and "--allow-unknown" in refused.output
    malformed = run("cps", "issue-card", "12345", "--out", str(home / "m"), ok=False)
    assert "NATIONAL_ID" in malformed.output
    run("cps", "issue-card", UNKNOWN_ID, "--out", str(home / "u"), "--allow-unknown")
    with pytest.raises(CardError) as caught:
        verify_card_certificate(_card(home / "u"), cli_settings)
    assert caught.value.code == "unknown_professional"
    # Inactive professionals get cards (they exist in the directory); login refuses them.
    run("cps", "issue-card", INACTIVE_ID, "--out", str(home / "i"))


def test_revoke_by_folder_or_serial_and_list(run, home, cli_settings):
    run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "a"))
    run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "b"))
    a, b = _card(home / "a"), _card(home / "b")

    revoked = run("cps", "revoke-card", str(home / "a"), "--reason", "perdue")
    assert f"revoked card {serial_hex(a)} ({ACTIVE_ID})" in revoked.output
    assert "already revoked" in run("cps", "revoke-card", str(home / "a" / "cert.pem")).output
    colons = ":".join(f"{b.serial_number:040x}"[i : i + 2] for i in range(0, 40, 2))
    run("cps", "revoke-card", colons.lower())
    run("cps", "revoke-card", "0xDEADBEEF")  # a card issued elsewhere
    run("cps", "revoke-card", "not-hex", ok=False)
    run("cps", "revoke-card", str(home / "missing") + "/", ok=False)

    for cert in (a, b):
        with pytest.raises(CardError) as caught:
            verify_card_certificate(cert, cli_settings)
        assert caught.value.code == "revoked"

    listed = {item["serial"]: item for item in json.loads(run("cps", "list", "--json").output)}
    assert listed[serial_hex(a)]["status"] == "revoked"
    assert listed[serial_hex(a)]["revocation_reason"] == "perdue"
    assert listed[serial_hex(a)]["national_id"] == ACTIVE_ID
    assert listed["DEADBEEF"]["issued_at"] is None
    table = run("cps", "list").output
    assert table.splitlines()[0].split() == ["SERIAL", "NATIONAL", "ID", "NOT", "AFTER", "STATUS"]
    assert serial_hex(a) in table


def test_list_when_empty(run):
    assert "no card issued" in run("cps", "list").output
    assert json.loads(run("cps", "list", "--json").output) == []


def test_tls_dev_cert(run, home):
    result = run(
        "tls", "dev-cert", "--out", str(home / "tls"), "--host", "localhost", "--host", "10.1.2.3"
    )
    cert = _card(home / "tls")
    assert (
        "issued server certificate" in result.output and "santeid serve --tls-cert" in result.output
    )
    # serve finds the CPS and INSi authorities by itself: --client-ca is not a step to take.
    assert "<CPS authorities PEM>" not in result.output
    assert "CPS and INSi authorities" in result.output
    assert (home / "keys" / "tls-test-ca.pem").exists()
    ca = load_certificates(home / "tls" / "ca.pem")[0]
    cert.verify_directly_issued_by(ca)
    assert name_text(cert.subject).startswith("CN=localhost")
    # Separate from the CPS authority: cards and servers are signed by different CAs.
    assert not (home / "keys" / "cps-test-ca.pem").exists()


@pytest.mark.parametrize(
    "described",
    [{}, [1], b"<html>not json</html>", {"signing_input": 5, "client_name": "x"}],
    ids=["empty", "list", "not-json", "wrong-type"],
)
def test_approve_refuses_an_answer_that_is_not_a_card_request(run, home, described):
    """A server (or something else on its port) answering what no santeid sends: one line of
    error, no traceback, nothing signed or sent."""
    run("cps", "issue-card", ACTIVE_ID, "--out", str(home / "card"))
    server = FakeServer()
    path = "/auth/realms/esante-wallet/protocol/openid-connect/ext/ciba/card/REQ"
    server.answers[("GET", path)] = (200, described)
    try:
        result = run(
            "cps", "approve", "--card", str(home / "card"), "--server", server.origin, "REQ",
            ok=False,
        )  # fmt: skip
    finally:
        server.close()
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        f"Error: unexpected answer from {server.origin}{path}: not a card request"
    ), result.output
    assert server.calls == [("GET", path)]


def test_a_card_whose_files_cannot_be_written_is_not_recorded(run, home):
    blocker = home / "blocker"
    blocker.write_text("a file, not a directory")
    result = run("cps", "issue-card", ACTIVE_ID, "--out", str(blocker / "card"), ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Not a directory" in lines[0], result.output
    assert json.loads(run("cps", "list", "--json").output) == []

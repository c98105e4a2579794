"""``santeid insi issue-cert``: test INSi establishment certificates
(docs/reference/insi-teleservice.md §7)."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner
from cryptography.x509.oid import NameOID

from santeid.cli import main
from santeid.insi.auth import INSI_TEST_CA_COMMON_NAME
from santeid.insi.auth import certificate_context
from santeid.insi.model import CallContext
from santeid.pki import load_certificates
from santeid.settings import Settings


@pytest.fixture
def cli_settings(tmp_path) -> Settings:
    # Test certificates are a sandbox-mode thing (docs/insi-soap.md, "Authentication").
    return Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "keys"), sandbox=True)


def issue(settings: Settings, out, *args: str):
    return CliRunner().invoke(
        main, ["insi", "issue-cert", "--out", str(out), *args], obj=settings, catch_exceptions=False
    )


def test_issue_cert_writes_an_insi_auto_certificate(cli_settings, tmp_path):
    args = ("--structure", "10B0152872", "--cn", "INSI-AUTO")
    result = issue(cli_settings, tmp_path / "auto", *args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "auto"
    assert stat.S_IMODE((out / "key.pem").stat().st_mode) == 0o600
    certificate = load_certificates(out / "cert.pem")[0]
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "INSI-AUTO"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "10B0152872"
    )
    ca = load_certificates(out / "ca.pem")[0]
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        INSI_TEST_CA_COMMON_NAME
    )
    assert (tmp_path / "keys" / "insi-test-ca.pem").read_bytes() == (out / "ca.pem").read_bytes()
    context = certificate_context(certificate, software_id="X", settings=cli_settings)
    assert isinstance(context, CallContext)
    assert (context.structure_id, context.auth_method) == ("10B0152872", "certificate")


def test_the_authority_is_created_once(cli_settings, tmp_path):
    issue(cli_settings, tmp_path / "a", "--structure", "123456789", "--cn", "INSI-AUTO")
    issue(cli_settings, tmp_path / "b", "--structure", "12345678901234", "--cn", "INSI-MANU")
    assert (tmp_path / "a" / "ca.pem").read_bytes() == (tmp_path / "b" / "ca.pem").read_bytes()
    manu = load_certificates(tmp_path / "b" / "cert.pem")[0]
    assert manu.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "INSI-MANU"


@pytest.mark.parametrize(
    "args",
    [
        ("--structure", "10B0152872", "--cn", "INSI-TEST"),
        ("--structure", "12/34", "--cn", "INSI-AUTO"),
        ("--structure", "1234", "--cn", "INSI-AUTO"),
    ],
)
def test_issue_cert_refuses_bad_input(cli_settings, tmp_path, args):
    result = issue(cli_settings, tmp_path / "x", *args)
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()

"""Outside sandbox mode, INSi establishment certificates are checked against ``insi_ca_file``
only (docs/insi-soap.md, "Authentication"; docs/security.md, "INSi establishment
certificates"): the test INSi authority's key lies unencrypted in ``keys_dir``, so anyone who
can run ``santeid insi issue-cert`` or read that folder could call INSi as any establishment.
Against a real ``santeid serve`` outside sandbox mode with ``insi_ca_file`` empty, a certificate
minted by that authority (sent by the trusted proxy, as nginx does) is refused with
``DESIR_560``; the same certificate is accepted once an operator lists that authority in
``insi_ca_file`` on purpose. ``insi issue-cert`` itself refuses outside sandbox mode unless told
``--test-authority``, and the TLS layer no longer trusts the test authority there."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from santeid.cli.serve import _client_authorities
from santeid.pki import certificate_pem
from santeid.pki import load_certificates
from santeid.pki import write_pem
from santeid.settings import Settings
from tests.support.cps import signed_certificate
from tests.support.insi_server import STRUCTURE
from tests.support.insi_server import envelope
from tests.support.insi_server import post
from tests.support.insi_server import production_home
from tests.support.insi_server import refused
from tests.support.insi_server import rest
from tests.support.servers import production_process
from tests.support.servers import refused_start
from tests.support.servers import santeid_home
from tests.support.soap import IDAM

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A civil-status base, a registered software and an INSI-AUTO certificate minted with the
    test authority by the command line outside sandbox mode (``--test-authority``)."""
    home = tmp_path_factory.mktemp("insi-authority")
    production_home(home)
    return home


def _serve(home, log_name: str, **settings: str):
    return production_process(
        home, log_name=log_name, SANTEID_INSI_BASE=str(home / "civil.sqlite3"), **settings
    )


def _minted(home):
    return load_certificates(home / "minted" / "cert.pem")[0]


def test_a_test_certificate_is_refused_outside_sandbox_mode_without_insi_ca_file(home):
    with _serve(home, "no-ca-file.log") as server:
        reason = refused(post(server, envelope(idam=IDAM), certificate=_minted(home)))
        log = server.log.read_text()
    assert "non émis par une autorité INSi reconnue" in reason
    assert "insi_ca_file is empty: every INSi establishment certificate is refused" in log


def test_the_test_authority_listed_in_insi_ca_file_on_purpose_is_trusted(home):
    """The certificate itself is sound: an operator who lists the test authority gets it
    accepted."""
    listed = str(home / "keys" / "insi-test-ca.pem")
    with _serve(home, "test-ca-file.log", SANTEID_INSI_CA_FILE=listed) as server:
        answer = post(server, envelope(idam=IDAM), certificate=_minted(home))
    assert answer.status_code == 200, answer.text
    assert "Aucune identite trouvee" in answer.text


def test_issue_cert_refuses_outside_sandbox_mode_without_test_authority(home):
    production = santeid_home(home, sandbox=False)
    refused_run = production.cli("insi", "issue-cert", "--structure", STRUCTURE, "--cn",
                                 "INSI-AUTO", "--out", str(home / "refused"),
                                 check=False)  # fmt: skip
    assert refused_run.returncode != 0
    assert "--test-authority" in refused_run.stderr and "insi_ca_file" in refused_run.stderr
    assert not (home / "refused").exists()


def test_the_tls_layer_does_not_trust_the_test_authority_outside_sandbox_mode(home):
    """``santeid serve --tls-cert …`` without ``--client-ca`` asks for certificates of the
    authorities the application trusts: outside sandbox mode, not the test INSi one."""
    settings = Settings(data_dir=str(home / "var"), keys_dir=str(home / "keys"))
    assert (home / "keys" / "insi-test-ca.pem").exists()
    assert _client_authorities(settings, None) == []
    listed = settings.replace(insi_ca_file=str(home / "keys" / "insi-test-ca.pem"))
    assert _client_authorities(listed, None) == [str(home / "keys" / "insi-test-ca.pem")]


# -- the authority itself must be a valid CA (RFC 5280 §4.2.1.9, §6.1.3) ----------------------
@pytest.fixture(scope="module")
def authorities(home):
    """``insi_ca_file`` holding an expired authority, a ``cA=FALSE`` certificate and a valid
    authority, and an INSI-AUTO certificate (valid itself) signed by each."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    expired = (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
    bundle, leaves = b"", {}
    for tag, subject, period, ca in (
        ("expired", "CN=TEST AC INSI EXPIREE,C=FR", expired, True),
        ("not-ca", "CN=INSI-AUTO,OU=499999999,O=Etablissement,C=FR", valid, False),
        ("valid", "CN=TEST AC INSI,C=FR", valid, True),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name.from_rfc4514_string(subject)
        authority = signed_certificate(name, key, name, key, ca=ca, valid=period)
        bundle += certificate_pem(authority)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = x509.Name.from_rfc4514_string(f"CN=INSI-AUTO,OU={STRUCTURE},O=Etablissement,C=FR")
        leaves[tag] = signed_certificate(leaf, leaf_key, name, key, ca=False, valid=valid)
    path = home / "insi-authorities.pem"
    write_pem(path, bundle, mode=0o644)
    return path, leaves


def test_only_a_valid_ca_of_insi_ca_file_vouches_for_an_establishment(home, authorities):
    """An expired authority, or a certificate that is no CA (``cA=FALSE``) pasted into the
    bundle, signs nothing INSi accepts, over SOAP and REST alike; the valid one still does."""
    path, leaves = authorities
    with _serve(home, "authorities.log", SANTEID_INSI_CA_FILE=str(path)) as server:
        for tag in ("expired", "not-ca"):
            reason = refused(post(server, envelope(idam=IDAM), certificate=leaves[tag]))
            assert "non émis par une autorité INSi reconnue" in reason, tag
            answer = rest(server, leaves[tag])
            assert answer.status_code == 403, (tag, answer.text)
            assert answer.json()["code"] == "DESIR_560", tag
        accepted = post(server, envelope(idam=IDAM), certificate=leaves["valid"])
        assert accepted.status_code == 200, accepted.text
        assert "Aucune identite trouvee" in accepted.text
        assert rest(server, leaves["valid"]).status_code == 200


def test_an_unreadable_insi_ca_file_stops_the_start(tmp_path):
    refused_run = refused_start(tmp_path, SANTEID_INSI_CA_FILE=str(tmp_path / "none.pem"))
    assert refused_run.returncode != 0
    assert "insi_ca_file: cannot read" in refused_run.stdout + refused_run.stderr

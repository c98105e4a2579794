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

import pytest

from santeid.cli.serve import _client_authorities
from santeid.pki import load_certificates
from santeid.settings import Settings
from tests.support.insi_server import CERT_HEADER
from tests.support.insi_server import STRUCTURE
from tests.support.insi_server import envelope
from tests.support.insi_server import post
from tests.support.insi_server import refused
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process
from tests.support.soap import IDAM

pytestmark = [pytest.mark.server]

PROXY = "127.0.0.1"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A civil-status base, a registered software and an INSI-AUTO certificate minted with the
    test authority by the command line outside sandbox mode (``--test-authority``)."""
    home = tmp_path_factory.mktemp("insi-authority")
    production = santeid_home(home, SANTEID_SANDBOX="false")
    production.cli("civil", "generate", "--persons", "20", "--out", str(home / "civil.sqlite3"))
    production.cli("insi", "software", "add", IDAM, "--name", "software under test")
    production.cli("insi", "issue-cert", "--structure", STRUCTURE, "--cn", "INSI-AUTO",
                   "--out", str(home / "minted"), "--test-authority")  # fmt: skip
    return home


def _serve(home, log_name: str, **settings: str):
    return santeid_process(
        home,
        args=(),
        log_name=log_name,
        SANTEID_SANDBOX="false",
        SANTEID_STORE_URL="memory://",
        SANTEID_INSI_BASE=str(home / "civil.sqlite3"),
        SANTEID_TLS_CLIENT_CERT_HEADER=CERT_HEADER,
        SANTEID_TRUSTED_PROXIES=PROXY,
        **settings,
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
    production = santeid_home(home, SANTEID_SANDBOX="false")
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

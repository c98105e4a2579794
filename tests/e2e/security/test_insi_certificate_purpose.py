"""INSi establishment certificates are held to the rule a TLS handshake applies to a client's
certificate, as ``tls_client_auth`` clients and CPS cards are (OpenSSL's SSL client purpose,
``santeid.pki.client_purpose_refusal``; docs/insi-soap.md, "Authentication"; docs/security.md,
"INSi establishment certificates: fit for a TLS client").

Against a real ``santeid serve`` outside sandbox mode behind the certificate-forwarding proxy
(docs/cps-card.md's nginx block checks no chain: ``ssl_verify_client optional_no_ca``),
certificates with CN ``INSI-AUTO`` issued by the establishments' own authority
(``insi_ca_file``) but not for a TLS client — a TLS **server**'s (extendedKeyUsage serverAuth
alone, RFC 5280 §4.2.1.12), one of anyExtendedKeyUsage alone, one for encryption alone
(keyUsage keyEncipherment, §4.2.1.3) — are refused on every INSi channel with INSi's
``DESIR_560`` in the channel's shape (SOAP: the fault, HTTP 500; REST: problem details, FHIR:
an OperationOutcome, HTTP 403; docs/reference/insi-teleservice.md §6), the cause said; the ones
a handshake takes as a client's, and the one ``santeid insi issue-cert`` makes, authenticate.
"""

from __future__ import annotations

import pytest
import requests

from santeid.insi.auth import INSI_TEST_CA_COMMON_NAME
from santeid.pki import TestAuthority
from santeid.pki import issue_certificate
from santeid.pki import load_certificates
from santeid.pki import subject_name
from tests.support.cps import FIT_FOR_A_TLS_CLIENT
from tests.support.cps import PURPOSES
from tests.support.cps import UNFIT_FOR_A_TLS_CLIENT
from tests.support.insi_server import STRUCTURE
from tests.support.insi_server import envelope
from tests.support.insi_server import post
from tests.support.insi_server import production_home
from tests.support.insi_server import refused
from tests.support.insi_server import rest
from tests.support.servers import forwarded_certificate
from tests.support.servers import production_process
from tests.support.soap import IDAM

pytestmark = [pytest.mark.server]

FHIR_SEARCH = "/insi/fhir/Patient"
PARAMETERS = {"family": "MARTIN", "given": "JEAN", "gender": "male", "birthdate": "1980-01-01"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A civil-status base, a registered software, the establishments' authority, and an
    ``INSI-AUTO`` certificate of it for each of :data:`tests.support.cps.PURPOSES` — plus the
    one ``santeid insi issue-cert --test-authority`` makes, under ``issued``."""
    home = tmp_path_factory.mktemp("insi-purpose")
    production_home(home)
    authority = TestAuthority.load_or_create(home / "insi", "insi-ca", key_type="ec-p256",
                                             common_name=INSI_TEST_CA_COMMON_NAME)  # fmt: skip
    subject = subject_name(common_name="INSI-AUTO", country="FR", organization="CLINIQUE TEST",
                           organizational_unit=STRUCTURE)  # fmt: skip
    certificates = {"issued": load_certificates(home / "minted" / "cert.pem")[0]}
    for name, (key_usage, usages, _) in PURPOSES.items():
        certificates[name], _ = issue_certificate(authority, subject=subject, key_type="ec-p256",
                                                  key_usage=key_usage,
                                                  extended_key_usages=usages)  # fmt: skip
    authorities = [authority.cert_path, home / "keys" / "insi-test-ca.pem"]
    (home / "insi-authorities.pem").write_bytes(b"".join(p.read_bytes() for p in authorities))
    return home, certificates


@pytest.fixture(scope="module")
def server(home):
    folder, _ = home
    with production_process(
        folder,
        log_name="purpose.log",
        SANTEID_INSI_BASE=str(folder / "civil.sqlite3"),
        SANTEID_INSI_CA_FILE=str(folder / "insi-authorities.pem"),
    ) as server:
        yield server


def _fhir(server, certificate) -> requests.Response:
    return requests.get(f"{server.base}{FHIR_SEARCH}", params=PARAMETERS, timeout=30,
                        headers=forwarded_certificate(certificate))  # fmt: skip


@pytest.mark.parametrize(("name", "reason"), UNFIT_FOR_A_TLS_CLIENT)
def test_a_certificate_unfit_for_a_tls_client_is_refused_on_every_insi_channel(
    home, server, name, reason
):
    """Each was accepted as the establishment's identity before; a TLS handshake refuses it
    as a client's certificate ("unsuitable certificate purpose")."""
    _, certificates = home
    certificate = certificates[name]
    fault = refused(post(server, envelope(idam=IDAM), certificate=certificate))
    assert fault.startswith("Vous ne disposez pas des droits suffisants"), fault
    assert reason in fault
    by_rest = rest(server, certificate)
    assert by_rest.status_code == 403, by_rest.text
    assert by_rest.headers["Content-Type"] == "application/problem+json"
    assert by_rest.json()["code"] == "DESIR_560"
    assert reason in by_rest.json()["detail"]
    fhir = _fhir(server, certificate)
    assert fhir.status_code == 403, fhir.text
    assert fhir.json()["resourceType"] == "OperationOutcome"
    (issue,) = fhir.json()["issue"]
    assert issue["details"]["coding"][0]["code"] == "DESIR_560"
    assert reason in issue["details"]["text"]
    log = server.log.read_text()
    assert "Traceback" not in log


@pytest.mark.parametrize("name", ["issued", *FIT_FOR_A_TLS_CLIENT])
def test_a_certificate_fit_for_a_tls_client_authenticates_on_every_insi_channel(home, server, name):
    _, certificates = home
    certificate = certificates[name]
    soap = post(server, envelope(idam=IDAM), certificate=certificate)
    assert soap.status_code == 200, soap.text
    assert "Aucune identite trouvee" in soap.text
    by_rest = rest(server, certificate)
    assert by_rest.status_code == 200, by_rest.text
    fhir = _fhir(server, certificate)
    assert fhir.status_code == 200, fhir.text
    assert fhir.json()["resourceType"] == "Bundle"

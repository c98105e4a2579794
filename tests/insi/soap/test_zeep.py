"""zeep calls every operation, given only santeid's WSDL URLs (the search WSDL and the
verification WSDL) or the WSDL with the real INSi WSDL's structure shipped with the client
(``real_wsdl.py``) and santeid's endpoint (docs/reference/insi-teleservice.md §1, §2).

In-process first (zeep's HTTP goes into the Flask app through a ``requests`` adapter, the
client certificate through the trusted-proxy header), then against the real server process
over TLS, presenting a test INSI-AUTO certificate made with ``santeid insi issue-cert``.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import zeep
import zeep.exceptions
import zeep.plugins
from lxml import etree

from santeid.insi.auth import insi_test_authority
from santeid.insi.soap import schemas
from santeid.insi.soap.wsdl_documents import PLACEHOLDER_ADDRESS
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import private_key_pem
from santeid.pki import subject_name
from santeid.settings import Settings
from tests.support import soap as support
from tests.support.real_wsdl import QUALIFICATION_ADDRESS
from tests.support.real_wsdl import lay_out
from tests.support.servers import refused_start
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process
from tests.support.soap import IDAM
from tests.support.soap import cert_headers
from tests.support.soap import wsgi_session

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

DOCS = Path(__file__).resolve().parents[3] / "docs"
#: The search WSDL holds exactly the real WSDL's two operations (docs/reference/insi-teleservice.md
#: §2).
OPERATIONS = {"rechercherInsAvecCarteVitale", "rechercherInsAvecTraitsIdentite"}
VERIFY = "verifierInsAvecTraitsIdentite"
WSA = "{http://www.w3.org/2005/08/addressing}"


def context_lps(idam: str = IDAM) -> dict:
    """``ContexteLPS`` as a zeep value (docs/reference/insi-teleservice.md §3)."""
    return {
        "Nature": "CTXLPS",
        "Version": "01_00",
        "Id": "6b0e2b1a-7a4f-4c5e-9f3b-2f0c1d9e8a7b",
        "Temps": "2026-01-15T08:51:16.840Z",
        "Emetteur": "10B0152872",
        "LPS": {
            "IDAM": {"_value_1": idam, "R": "4"},
            "Version": "2026",
            "Instance": "0f8e7d6c-5b4a-4321-8fed-cba987654321",
            "Nom": "urn:lps:zeep-client:2026",
        },
    }


def context_bam() -> dict:
    return {
        "Version": "01_02",
        "Id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "Temps": "2026-01-15T08:51:16.840Z",
        "COUVERTURE": {},
    }


HEADERS = {"NO1_ContexteLPS": context_lps(), "NO1_ContexteBAM": context_bam()}


def find_the_three_people(client: zeep.Client | None, service=None) -> None:
    """ADRTROIS 00 (297022A020778 key 78), DE VINCI 02, HOUILLES 01."""
    service = service or client.service
    result = service.rechercherInsAvecTraitsIdentite(
        NomNaissance="ADRTROIS", Prenom=["DOMINIQUE"], Sexe="F", DateNaissance="1997-02-26",
        _soapheaders=HEADERS,
    )  # fmt: skip
    assert result.CR.CodeCR == "00"
    assert result.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant == "297022A020778"
    assert result.INDIVIDU.INSACTIF.IdIndividu.Cle == "78"
    assert result.INDIVIDU.INSACTIF.OID == "1.2.250.1.213.1.4.8"
    assert result.INDIVIDU.TIQ.ListePrenom == "DOMINIQUE"
    result = service.rechercherInsAvecTraitsIdentite(
        NomNaissance="DE VINCI", Prenom=["LEONARDO"], Sexe="M", DateNaissance="2014-02-01",
        _soapheaders=HEADERS,
    )  # fmt: skip
    assert (result.CR.CodeCR, result.CR.LibelleCR) == ("02", "Plusieurs identites trouvees")
    assert result.INDIVIDU is None
    result = service.rechercherInsAvecTraitsIdentite(
        NomNaissance="HOUILLES", Prenom=["PIERRE"], Sexe="M", DateNaissance="1993-01-27",
        _soapheaders=HEADERS,
    )  # fmt: skip
    assert (result.CR.CodeCR, result.CR.LibelleCR) == ("01", "Aucune identite trouvee")


# -- in-process ------------------------------------------------------------------------------
@pytest.fixture
def history() -> zeep.plugins.HistoryPlugin:
    return zeep.plugins.HistoryPlugin()


@pytest.fixture
def zeep_client(soap_app, auto_cert, history):
    session = wsgi_session(soap_app, cert_headers(auto_cert))
    return zeep.Client(
        "http://santeid.test/insi/soap?wsdl",
        transport=zeep.Transport(session=session),
        plugins=[history],
    )


@pytest.fixture
def verify_client(soap_app, auto_cert):
    session = wsgi_session(soap_app, cert_headers(auto_cert))
    return zeep.Client(
        "http://santeid.test/insi/soap/verification?wsdl",
        transport=zeep.Transport(session=session),
    )


@pytest.fixture
def real_structure_service(soap_app, auto_cert, tmp_path, history):
    """zeep on the WSDL with the real structure, as a client ships it, pointed at santeid."""
    session = wsgi_session(soap_app, cert_headers(auto_cert))
    client = zeep.Client(
        str(lay_out(tmp_path)), transport=zeep.Transport(session=session), plugins=[history]
    )
    port = client.wsdl.services["ICIR-v1"].ports["ICIRService"]
    assert port.binding_options["address"] == QUALIFICATION_ADDRESS
    return client.create_service(
        "{http://www.cnamts.fr/webservice}ICIRServiceBinding", "http://santeid.test/insi/soap"
    )


def test_wsdl_alone_is_enough_for_zeep(zeep_client):
    port = zeep_client.wsdl.services["ICIR-v1"].ports["ICIRService"]
    assert set(port.binding._operations) == OPERATIONS
    # The WSDL names the issuer's origin, not the Host the request was sent to.
    assert port.binding_options["address"] == "http://localhost/insi/soap"
    for name in OPERATIONS:
        operation = port.binding._operations[name]
        assert operation.soapaction == f"urn:ServiceIdentiteCertifiee:1.0.0:{name}"
        # wsaw:Action in the 2006/02 namespace, as the real WSDL: zeep does not read it, so it
        # adds no WS-Addressing header of its own (the real WSDL never causes one).
        assert operation.abstract.wsa_action is None
        # Messages and their body parts named after the operation, as in the real WSDL.
        messages = zeep_client.wsdl.messages
        request = messages[f"{{http://www.cnamts.fr/webservice}}{name}"]
        response = messages[f"{{http://www.cnamts.fr/webservice}}{name}Response"]
        assert list(request.parts) == [
            name, "NO1_Security", "NO1_ContexteLPS", "NO1_MessageID", "NO1_ContexteBAM",
        ]  # fmt: skip
        assert list(response.parts) == [f"{name}Response"]


def test_zeep_finds_the_published_people(zeep_client):
    find_the_three_people(zeep_client)


def test_zeep_sends_no_ws_addressing_header(zeep_client, history):
    find_the_three_people(zeep_client)
    header = history.last_sent["envelope"].find("{http://www.w3.org/2003/05/soap-envelope}Header")
    assert header is not None
    assert [h.tag for h in header if h.tag.startswith(WSA)] == []
    received = history.last_received["envelope"]
    assert received.find("{http://www.w3.org/2003/05/soap-envelope}Header") is None


def test_zeep_with_the_real_structure_wsdl_finds_the_published_people(
    real_structure_service, history
):
    find_the_three_people(None, service=real_structure_service)
    header = history.last_sent["envelope"].find("{http://www.w3.org/2003/05/soap-envelope}Header")
    assert [h.tag for h in header if h.tag.startswith(WSA)] == []


def test_zeep_with_the_real_structure_wsdl_carte_vitale_search(real_structure_service, base_db):
    row = base_db.execute(
        "SELECT od.matricule AS od, printf('%02d', od.cle) AS od_key, b.matricule, b.birth_name, "
        "b.birth_date, b.rang FROM persons b JOIN persons od ON b.od_id = od.id "
        "WHERE b.od_id != b.id ORDER BY b.id LIMIT 1"
    ).fetchone()
    result = real_structure_service.rechercherInsAvecCarteVitale(
        MatriculeOD={"NumIdentifiant": row["od"], "Cle": row["od_key"]},
        NomNaissance=row["birth_name"],
        DateNaissance=row["birth_date"],
        RangNaissance=str(row["rang"]),
        _soapheaders=HEADERS,
    )
    assert result.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant == row["matricule"]


def test_zeep_with_the_real_structure_wsdl_reads_the_unknown_software_fault(
    real_structure_service,
):
    with pytest.raises(zeep.exceptions.Fault) as caught:
        real_structure_service.rechercherInsAvecTraitsIdentite(
            NomNaissance="ADRDEUX", Prenom=["LAURENT"], Sexe="M", DateNaissance="1981-01-01",
            _soapheaders={"NO1_ContexteLPS": context_lps("PDP17NF21DD0")},
        )  # fmt: skip
    assert caught.value.detail.find("{urn:siram}Erreur").get("code") == "desir_550"


def test_zeep_with_the_real_structure_wsdl_reads_the_technical_error(real_structure_service):
    with pytest.raises(zeep.exceptions.Fault) as caught:
        real_structure_service.rechercherInsAvecTraitsIdentite(
            NomNaissance="D'AEION", Prenom=["COEUR"], Sexe="M", DateNaissance="1987-01-25",
            _soapheaders=HEADERS,
        )  # fmt: skip
    assert caught.value.code == "S:Receiver"
    assert caught.value.detail.find("{urn:siram}Erreur").get("code") == "insi_102"


def test_zeep_carte_vitale_search(zeep_client, base_db):
    row = base_db.execute(
        "SELECT od.matricule AS od, printf('%02d', od.cle) AS od_key, b.matricule, b.birth_name, "
        "b.birth_date, b.rang FROM persons b JOIN persons od ON b.od_id = od.id "
        "WHERE b.od_id != b.id ORDER BY b.id LIMIT 1"
    ).fetchone()
    result = zeep_client.service.rechercherInsAvecCarteVitale(
        MatriculeOD={"NumIdentifiant": row["od"], "Cle": row["od_key"]},
        NomNaissance=row["birth_name"],
        DateNaissance=row["birth_date"],
        RangNaissance=row["rang"],
        _soapheaders=HEADERS,
    )
    assert result.CR.CodeCR == "00"
    assert result.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant == row["matricule"]


def test_zeep_verification_from_its_own_wsdl(verify_client):
    port = verify_client.wsdl.services["ICIRVerification-v1"].ports["ICIRVerificationService"]
    assert set(port.binding._operations) == {VERIFY}
    assert port.binding_options["address"] == "http://localhost/insi/soap/verification"
    result = verify_client.service.verifierInsAvecTraitsIdentite(
        IndividuVerifie={
            "INSFourni": {
                "IdIndividu": {"NumIdentifiant": "297022A020778", "Cle": "78"},
                "OID": "1.2.250.1.213.1.4.8",
            },
            "TraitsIdentiteIndividu": {
                "NomNaissance": "ADRTROIS",
                "ListePrenom": "DOMINIQUE",
                "Sexe": "F",
                "DateNaissance": "1997-02-26",
                "LieuNaissance": "2A020",
            },
        },
        _soapheaders=HEADERS,
    )
    assert result.CR.CodeCR == "00"
    assert result.IndividuVerifie.Conforme is True
    assert result.IndividuVerifie.ElementNonConforme == []


def test_zeep_sees_faults_with_their_siram_detail(zeep_client):
    with pytest.raises(zeep.exceptions.Fault) as caught:
        zeep_client.service.rechercherInsAvecTraitsIdentite(
            NomNaissance="ADRTROIS", Prenom=["DOMINIQUE"], Sexe="F", DateNaissance="1997-02-26",
            _soapheaders={"NO1_ContexteLPS": context_lps("UNKNOWN0IDAM")},
        )  # fmt: skip
    fault = caught.value
    assert fault.message.startswith("L'accès par ce progiciel au service n'est pas autorisé.")
    assert fault.code == "soap:Sender"
    assert fault.subcodes[0].localname == "siram_100"
    erreur = fault.detail.find("{urn:siram}Erreur")
    assert (erreur.get("code"), erreur.get("severite")) == ("desir_550", "erreur")


# -- the documents ---------------------------------------------------------------------------
def test_served_wsdl_and_schemas_load_in_lxml(soap_app):
    client = soap_app.test_client()
    response = client.get(
        "/insi/soap?wsdl",
        base_url="http://forged.example.org",
        environ_base={"REMOTE_ADDR": "192.0.2.1"},  # a direct client with a forged Host
    )
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert "public" not in response.headers["Cache-Control"]
    wsdl = etree.fromstring(response.data)
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/", "s": "http://schemas.xmlsoap.org/wsdl/soap12/"}
    address = wsdl.find(".//w:service/w:port/s:address", ns).get("location")
    # The configured issuer's origin (oidc_flow.ISSUER), never the request's Host.
    assert address == "http://localhost/insi/soap"
    assert b"forged" not in response.data
    assert wsdl.get("name") == "ServiceIdentiteCertifiee-v1"
    assert wsdl.get("targetNamespace") == "http://www.cnamts.fr/webservice"
    verification = etree.fromstring(client.get("/insi/soap/verification?wsdl").data)
    locations = [i.get("schemaLocation") for i in wsdl.iter("{*}import")]
    locations += [i.get("schemaLocation") for i in verification.iter("{*}import")]
    names = {location.split("?xsd=", 1)[1] for location in locations}
    assert names == set(schemas.XSD_NAMESPACES)
    for location in locations:
        assert location.startswith("http://localhost/insi/soap?xsd=")
        name = location.split("?xsd=", 1)[1]
        xsd = client.get(f"/insi/soap?xsd={name}")
        assert xsd.status_code == 200
        schema = etree.XMLSchema(etree.fromstring(xsd.data))  # compiles on its own
        assert schema is not None
        assert etree.fromstring(xsd.data).get("targetNamespace") == schemas.XSD_NAMESPACES[name]


def test_the_wsdl_on_disk_loads_in_zeep_and_lxml():
    path = schemas.wsdl_dir() / schemas.WSDL_NAME
    client = zeep.Client(str(path))
    port = client.wsdl.services["ICIR-v1"].ports["ICIRService"]
    assert port.binding_options["address"] == PLACEHOLDER_ADDRESS
    verification = zeep.Client(str(schemas.wsdl_dir() / schemas.VERIFY_WSDL_NAME))
    assert verification.wsdl.services["ICIRVerification-v1"] is not None
    assert etree.parse(str(path)).getroot().tag == "{http://schemas.xmlsoap.org/wsdl/}definitions"
    assert schemas.schema() is not None  # every XSD compiles together


# -- the real server over TLS ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, insi_base):
    with support.insi_tls_server(tmp_path_factory.mktemp("insi-tls"), insi_base, "zeep") as server:
        yield server


def tls_session(home: Path, with_certificate: bool = True) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
    session.verify = str(home / "tls" / "ca.pem")
    if with_certificate:
        session.cert = (str(home / "client" / "cert.pem"), str(home / "client" / "key.pem"))
    return session


@pytest.mark.server
def test_zeep_over_tls_with_an_insi_auto_certificate(tls_server):
    session = tls_session(tls_server["home"])
    client = zeep.Client(
        f"{tls_server['base']}/insi/soap?wsdl", transport=zeep.Transport(session=session)
    )
    port = client.wsdl.services["ICIR-v1"].ports["ICIRService"]
    assert port.binding_options["address"] == f"{tls_server['base']}/insi/soap"
    find_the_three_people(client)


@pytest.mark.server
def test_the_documented_zeep_snippet_works_where_requests_ca_bundle_is_set(tls_server, tmp_path):
    """docs/insi-soap.md's zeep snippet, run as written (its URL's port and IDAM adapted), in a
    process whose REQUESTS_CA_BUNDLE names a bundle without the test authority, as in many CI
    images: the snippet must not depend on that variable being unset."""
    text = (DOCS / "insi-soap.md").read_text(encoding="utf-8")
    found = re.search(r"the WSDL URL is all it takes:\n\n```python\n(.*?)```", text, re.S)
    code = found.group(1).replace("https://127.0.0.1:8443", tls_server["base"])
    code = code.replace("PDP17NF21DD0", IDAM)
    (tmp_path / "insi-client").symlink_to(tls_server["home"] / "client")
    (tmp_path / "tls").symlink_to(tls_server["home"] / "tls")
    check = "\nassert result.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant == '297022A020778'\n"
    env = {**os.environ, "REQUESTS_CA_BUNDLE": requests.certs.where()}
    done = subprocess.run(
        [sys.executable, "-c", code + check],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.server
def test_over_tls_without_a_certificate_is_desir_560(tls_server):
    session = tls_session(tls_server["home"], with_certificate=False)
    client = zeep.Client(
        f"{tls_server['base']}/insi/soap?wsdl", transport=zeep.Transport(session=session)
    )
    with pytest.raises(zeep.exceptions.Fault) as caught:
        find_the_three_people(client)
    assert caught.value.detail.find("{urn:siram}Erreur").get("code") == "DESIR_560"


def _client_files(home: Path, name: str, certificate, key) -> tuple[str, str]:
    cert_path, key_path = home / f"{name}.pem", home / f"{name}.key"
    cert_path.write_bytes(certificate_pem(certificate))
    key_path.write_bytes(private_key_pem(key))
    return str(cert_path), str(key_path)


@pytest.mark.server
@pytest.mark.parametrize("case", ["other authority", "expired", "not yet valid"])
def test_over_tls_an_untrusted_or_out_of_date_certificate_is_refused_by_tls(tls_server, case):
    """As the real mTLS host most plausibly does, the TLS layer refuses the handshake: no HTTP
    answer, no fault (docs/insi-soap.md, "Authentication")."""

    home = tls_server["home"]
    authority = insi_test_authority(Settings(keys_dir=str(home / "keys")))
    now = datetime.datetime.now(datetime.UTC)
    validity = {}
    if case == "other authority":
        authority = TestAuthority.load_or_create(
            home, "impostor", common_name="TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
        )
    elif case == "expired":
        validity = {"not_before": now - datetime.timedelta(days=30),
                    "not_after": now - datetime.timedelta(days=1)}  # fmt: skip
    else:
        validity = {"not_before": now + datetime.timedelta(days=1),
                    "not_after": now + datetime.timedelta(days=30)}  # fmt: skip
    certificate, key = issue_certificate(
        authority,
        subject=subject_name(
            common_name="INSI-AUTO", country="FR", organization="CLINIQUE TEST",
            organizational_unit=support.STRUCTURE,
        ),
        key_type="ec-p256",
        **validity,
    )  # fmt: skip
    session = tls_session(home, with_certificate=False)
    session.cert = _client_files(home, case.replace(" ", "-"), certificate, key)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(
            f"{tls_server['base']}/insi/soap",
            data=b"<x/>",
            headers={"Content-Type": "application/soap+xml"},
            timeout=10,
        )


# -- `make run`'s shape: HTTP for the demo, HTTPS on a second port for certificates ----------
@pytest.fixture(scope="module")
def dual_server(tmp_path_factory, insi_base):
    """``santeid serve --sandbox --port P --tls-port Q`` with no ``--client-ca``, as ``make run``
    starts it: the INSi certificate is issued only after the server is up."""
    # Sandbox mode by the flag alone, no issuer configured: make run's environment.
    settings = {
        "SANTEID_INSI_BASE": str(insi_base),
        "SANTEID_SANDBOX": None,
        "SANTEID_ISSUER": None,
    }
    prepared = santeid_home(tmp_path_factory.mktemp("insi-dual"), **settings)
    home = prepared.home
    prepared.cli("tls", "dev-cert", "--out", str(home / "tls"))
    tls = ["--tls-cert", str(home / "tls" / "cert.pem"), "--tls-key", str(home / "tls" / "key.pem")]
    with santeid_process(home, args=["--sandbox", *tls], tls_port=True, **settings) as server:
        # The command is told sandbox mode, as README.md runs it: it refuses otherwise.
        sandbox_cli = server.with_settings(SANTEID_SANDBOX="true")
        sandbox_cli.cli("insi", "issue-cert", "--structure", "10B0152872", "--cn", "INSI-AUTO",
                        "--out", str(home / "client"))  # fmt: skip
        server.cli("insi", "software", "add", IDAM, "--name", "zeep after make run")
        yield {"base": server.base, "secure": server.https, "home": home, "log": server.log}


@pytest.mark.server
def test_second_tls_port_serves_insi_to_a_certificate_issued_after_start(dual_server):
    session = tls_session(dual_server["home"])
    secure = dual_server["secure"]
    client = zeep.Client(f"{secure}/insi/soap?wsdl", transport=zeep.Transport(session=session))
    port = client.wsdl.services["ICIR-v1"].ports["ICIRService"]
    assert port.binding_options["address"] == f"{secure}/insi/soap"
    find_the_three_people(client)


@pytest.mark.server
def test_second_tls_port_keeps_the_issuer_on_http_and_the_certificate_optional(dual_server):
    discovery = requests.get(
        f"{dual_server['base']}/auth/realms/esante-wallet/.well-known/openid-configuration",
        timeout=10,
    ).json()
    assert discovery["issuer"] == f"{dual_server['base']}/auth/realms/esante-wallet"
    anonymous = tls_session(dual_server["home"], with_certificate=False)
    health = anonymous.get(f"{dual_server['secure']}/health", timeout=10)
    assert health.status_code == 200
    assert health.headers["X-Santeid-Sandbox"] == "true"
    log = dual_server["log"].read_text()
    assert f"also serving {dual_server['secure']}/" in log
    assert "insi-test-ca.pem" in log and "cps-test-ca.pem" in log


def test_tls_port_is_refused_with_several_workers_or_without_a_certificate(tmp_path):
    alone = refused_start(tmp_path, "--tls-port", "5443")
    assert alone.returncode == 2
    assert "--tls-port needs --tls-cert and --tls-key" in alone.stderr
    santeid_home(tmp_path).cli("tls", "dev-cert", "--out", str(tmp_path / "tls"))
    workers = refused_start(
        tmp_path, "--workers", "2", "--tls-port", "5443",
        "--tls-cert", str(tmp_path / "tls" / "cert.pem"),
        "--tls-key", str(tmp_path / "tls" / "key.pem"),
        SANTEID_STORE_URL="redis://127.0.0.1:1/0",
    )  # fmt: skip
    assert workers.returncode == 2
    assert "--tls-port needs the one-process server" in workers.stderr

"""PHP's built-in ``SoapClient`` (ext-soap), as PHP vendors write an INSi client, against a real
santeid server over mutual TLS: SOAP 1.2, the establishment certificate in the stream context
(``local_cert``, ``local_pk``, ``cafile``), the context headers as XML (``SoapHeader`` holding a
``SoapVar`` ``XSD_ANYXML``), every operation from santeid's WSDLs and the searches from the WSDL
with the real INSi WSDL's structure (``real_wsdl.py``), only the endpoint replaced
(docs/reference/insi-teleservice.md §2, §8.1). Faults are read as SoapFault exposes them
(https://www.php.net/manual/en/class.soapfault.php), and what it leaves out (the SOAP 1.2 subcode,
``siram:Erreur``'s attributes: php-src ``ext/soap/php_packet_soap.c`` reads only ``Code/Value``,
``Reason/Text`` and decodes ``Detail`` without a schema) from the answer itself. Also: the
request as SoapClient writes it, the CPx (a card's signed assertion) and Pro Santé Connect
(assertion and ``Authorization: Bearer``) modes, SoapClient without a WSDL, a certificate the
TLS layer refuses, and faults on other statuses than 500 (docs/insi-soap.md, "Pointing an
existing INSi client at santeid").

The client is the documented example ``examples/insi-php-soap/client.php``; ``.ci/run`` installs
Debian's ``php-cli``, ``php-soap`` and ``php-xml`` when they are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree

from santeid.insi.soap import saml
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import private_key_pem
from santeid.pki import subject_name
from tests.support import soap as support
from tests.support.http_login import logged_in_tokens
from tests.support.real_wsdl import lay_out
from tests.support.servers import REALM
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_home
from tests.support.soap import ACTION
from tests.support.soap import CTXBAM
from tests.support.soap import CTXLPS
from tests.support.soap import IDAM
from tests.support.soap import STRUCTURE
from tests.support.soap import WSA

PHP_DIR = Path(__file__).resolve().parents[3] / "examples" / "insi-php-soap"
CLIENT = PHP_DIR / "client.php"
PHP = shutil.which("php")


def php_has_soap() -> bool:
    if PHP is None:
        return False
    check = [PHP, "-r", "exit(extension_loaded('soap') && extension_loaded('dom') ? 0 : 1);"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not php_has_soap(),
        reason="php with ext-soap is not installed (Debian: apt-get install php-cli php-soap "
        "php-xml; .ci/run installs them)",
    ),
]

#: What the client script is given to send.
CALLS = support.ClientCalls("urn:lps:php-soap:2026")
headers = CALLS.headers
traits = CALLS.traits
#: A demo professional of the sandbox directory (src/santeid/directory/demo_professionals.json).
CARD_HOLDER = "810000000004"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"


@pytest.fixture(scope="module")
def server(tmp_path_factory, insi_base):
    home = tmp_path_factory.mktemp("insi-php")
    with support.insi_tls_server(home, insi_base, "php soap") as running:
        yield running


@pytest.fixture(scope="module")
def beneficiary(insi_base):
    return support.vitale_beneficiary(insi_base)


def structured_headers(operation: str) -> list[dict]:
    """The same blocks as PHP data, which SoapClient encodes with the types the WSDL gives its
    header parts (``ContexteLPS``, ``ContexteBAM``, ``wsa:MessageID``) — the other way PHP
    clients write them (https://www.php.net/manual/en/soapheader.construct.php)."""
    lps = {
        "Nature": "CTXLPS", "Version": "01_00", "Id": str(uuid.uuid4()),
        "Temps": "2026-01-15T08:51:16Z", "Emetteur": STRUCTURE,
        "LPS": {"IDAM": {"_": IDAM, "R": "4"}, "Version": "2026", "Instance": str(uuid.uuid4()),
                "Nom": "urn:lps:php-soap:2026"},
    }  # fmt: skip
    bam = {"Version": "01_02", "Id": str(uuid.uuid4()), "Temps": "2026-01-15T08:51:16Z",
           "Emetteur": STRUCTURE, "COUVERTURE": {}}  # fmt: skip
    return [
        {"namespace": CTXBAM, "name": "ContexteBAM", "data": bam},
        {"namespace": CTXLPS, "name": "ContexteLPS", "data": lps},
        {"namespace": WSA, "name": "Action", "data": ACTION + operation},
        {"namespace": WSA, "name": "MessageID", "data": f"uuid:{uuid.uuid4()}"},
    ]


def search_calls(beneficiary) -> list[dict]:
    """The published searches, and one with the header blocks as PHP data."""
    structured = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
    structured.update(
        name="structured headers", headers=structured_headers(structured["operation"])
    )
    return [*CALLS.searches(beneficiary), structured]


def run_client(home: Path, clients: list[dict], **scenario) -> dict[str, dict]:
    """``php client.php`` on ``clients``, with the server's INSI-AUTO certificate unless
    ``scenario`` says otherwise; its answers by name."""
    scenario = {
        "cert": str(home / "client" / "cert.pem"),
        "key": str(home / "client" / "key.pem"),
        "ca": str(home / "tls" / "ca.pem"),
        "clients": clients,
        **scenario,
    }
    scenario = {k: v for k, v in scenario.items() if v is not None}
    result = subprocess.run(
        [PHP, str(CLIENT)], input=json.dumps(scenario), cwd=PHP_DIR,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


def check_search_answers(results: dict[str, dict], beneficiary: dict) -> None:
    """The published answers (HTTP 200), and the two captured faults as a PHP client reads
    them: SoapFault's ``faultcode`` is the Code/Value as written (prefix included),
    ``faultstring`` the Reason, ``detail->Erreur`` the siram:Erreur text alone; the subcode and
    the Erreur's code come from the answer (HTTP 500)."""
    found = results["ADRTROIS DOMINIQUE"]
    assert found["status"] == 200
    assert found["result"]["CR"] == {"CodeCR": "00", "LibelleCR": "OK"}
    assert found["result"]["INDIVIDU"]["INSACTIF"]["IdIndividu"] == {
        "NumIdentifiant": "297022A020778", "Cle": "78",
    }  # fmt: skip
    assert found["result"]["INDIVIDU"]["TIQ"]["ListePrenom"] == "DOMINIQUE"
    assert results["structured headers"]["result"] == found["result"]
    history = results["ECETINSI PIERRE-ALAIN"]["result"]["INDIVIDU"]["INSHISTO"]
    assert history["IdIndividu"]["NumIdentifiant"] == "2090763220834"  # one INSHISTO, as live
    assert (history["DateDeb"], history["DateFin"]) == ("2019-03-01", "2019-02-28")
    assert results["DE VINCI LEONARDO"]["result"]["CR"] == {
        "CodeCR": "02", "LibelleCR": "Plusieurs identites trouvees",
    }  # fmt: skip
    assert results["HOUILLES PIERRE"]["result"]["CR"] == {
        "CodeCR": "01", "LibelleCR": "Aucune identite trouvee",
    }  # fmt: skip
    vitale = results["carte Vitale"]["result"]
    matricule = vitale["INDIVIDU"]["INSACTIF"]["IdIndividu"]["NumIdentifiant"]
    assert matricule == beneficiary["matricule"]
    unknown = results["ADRDEUX LAURENT"]
    assert unknown["status"] == 500, unknown
    fault = unknown["fault"]
    assert (fault["faultcode"], fault["faultcodens"]) == ("soap:Sender", None)
    assert fault["faultstring"].startswith("L'accès par ce progiciel au service n'est pas")
    assert fault["detail"] == {"Erreur": "Numéro d'autorisation du logiciel inconnu."}
    assert fault["subcode"] == "soap:siram_100"
    assert fault["erreur"]["code"] == "desir_550"
    assert fault["erreur"]["severite"] == "erreur"
    message_id = re.search(r"<wsa:MessageID [^>]*>([^<]*)<", unknown["request"]).group(1)
    assert fault["erreur"]["messageID"] == message_id
    technical = results["D'AEION COEUR"]
    assert technical["status"] == 500, technical
    fault = technical["fault"]
    assert (fault["faultcode"], fault["subcode"]) == ("S:Receiver", "S:siram_40")
    assert fault["faultstring"].startswith("Le service est temporairement inaccessible.")
    assert fault["erreur"]["code"] == "insi_102"
    assert fault["erreur"]["severite"] == "fatal"
    assert fault["erreur"]["messageID"] is None


def test_php_soapclient_with_santeids_wsdls(server, beneficiary):
    base = server["base"]
    results = run_client(
        server["home"],
        [
            {"wsdl": f"{base}/insi/soap?wsdl", "calls": search_calls(beneficiary)},
            {"wsdl": f"{base}/insi/soap/verification?wsdl",
             "calls": [CALLS.verification(), CALLS.verification("other birthplace", "2B033")]},
        ],
        trace=True,
    )  # fmt: skip
    assert results[f"{base}/insi/soap?wsdl operations"]["operations"] == [
        "rechercherInsAvecCarteVitale", "rechercherInsAvecTraitsIdentite",
    ]  # fmt: skip
    assert results[f"{base}/insi/soap/verification?wsdl operations"]["operations"] == [
        "verifierInsAvecTraitsIdentite"
    ]
    check_search_answers(results, beneficiary)
    verified = results["verification"]
    assert verified["status"] == 200
    assert verified["result"]["CR"]["CodeCR"] == "00"
    assert verified["result"]["IndividuVerifie"]["Conforme"] is True  # xs:boolean decoded
    assert verified["result"]["IndividuVerifie"]["INSACTIF"]["IdIndividu"]["Cle"] == "78"
    differs = results["other birthplace"]["result"]["IndividuVerifie"]
    assert differs["Conforme"] is False
    assert differs["ElementNonConforme"] == "LieuNaissance"  # one: a string, not a list
    assert "INSACTIF" not in differs


def test_php_soapclient_with_the_real_wsdl_structure_and_santeids_endpoint(
    server, beneficiary, tmp_path
):
    wsdl = lay_out(tmp_path)
    results = run_client(
        server["home"],
        [{"wsdl": str(wsdl), "endpoint": f"{server['base']}/insi/soap",
          "calls": search_calls(beneficiary)}],
        trace=True,
    )  # fmt: skip
    assert results[f"{wsdl} operations"]["operations"] == [
        "rechercherInsAvecCarteVitale", "rechercherInsAvecTraitsIdentite",
    ]  # fmt: skip
    check_search_answers(results, beneficiary)


def test_the_request_as_php_soapclient_writes_it(server, tmp_path):
    """What santeid receives from SoapClient and answers: SOAP 1.2's media type with the
    operation's ``action`` (RFC 3902), an ``<?xml ?>`` declaration, the ``env:`` prefix, the body
    element in ``ns1:``, the header parts' namespaces declared (unused) on the envelope, no
    ``xsi:type`` (document/literal), no ``Id`` on the body; the XML header blocks as written,
    the structured ones re-encoded by PHP under ``nsN:`` prefixes."""
    wsdl = lay_out(tmp_path)
    call = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
    structured = {**call, "name": "structured", "headers": structured_headers(call["operation"])}
    results = run_client(
        server["home"],
        [{"wsdl": str(wsdl), "endpoint": f"{server['base']}/insi/soap",
          "calls": [call, structured]}],
        trace=True,
    )  # fmt: skip
    sent = results[call["name"]]
    http = sent["request_headers"].split("\r\n")
    assert http[0] == "POST /insi/soap HTTP/1.1"
    assert (
        "Content-Type: application/soap+xml; charset=utf-8; "
        'action="urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"'
    ) in http
    assert any(line.startswith("User-Agent: PHP-SOAP/") for line in http)
    request = sent["request"]
    assert request.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope ')
    root = etree.fromstring(request.encode())
    assert (root.prefix, etree.QName(root).namespace) == ("env", support.SOAP12)
    assert root.nsmap["ns1"] == support.RECSANS
    assert {CTXBAM, CTXLPS, WSA} <= set(root.nsmap.values())
    body = root.find(f"{{{support.SOAP12}}}Body")
    assert body.attrib == {}
    assert etree.QName(body[0]).text == f"{{{support.RECSANS}}}RECSANSVITALE"
    assert [child.prefix for child in body[0]] == ["ns1"] * 4
    assert "xsi:type" not in request
    header = request[request.index("<env:Header>") : request.index("</env:Header>")]
    assert header == "<env:Header>" + "".join(call["headers"])  # XSD_ANYXML: sent as written
    assert sent["result"]["CR"]["CodeCR"] == "00"
    encoded = etree.fromstring(results["structured"]["request"].encode())
    lps = encoded.find(f".//{{{CTXLPS}}}ContexteLPS")
    assert lps.prefix.startswith("ns")
    assert lps.find(f"{{{CTXLPS}}}LPS/{{{CTXLPS}}}IDAM").attrib == {"R": "4"}
    assert results["structured"]["result"]["CR"]["CodeCR"] == "00"


def test_a_card_assertion_in_wsse_security_without_a_client_certificate(server):
    """CPx mode (§7): no client certificate, a CPS card's signed SAML assertion in
    ``wsse:Security``, added as an XML header block like the others. SoapClient puts no
    ``Id`` on ``env:Body`` (real clients send ``Id="_0"`` with an assertion, §3), which santeid
    does not require; the exclusive c14n signature survives PHP's re-serialisation."""
    home = server["home"]
    cli = santeid_home(home, SANTEID_INSI_BASE=None, SANTEID_ISSUER=None)
    cli.cli("cps", "issue-card", CARD_HOLDER, "--out", str(home / "card"))
    certificate = x509.load_pem_x509_certificate((home / "card" / "cert.pem").read_bytes())
    key = load_pem_private_key((home / "card" / "key.pem").read_bytes(), None)

    def with_assertion(name: str) -> dict:
        call = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
        assertion = saml.card_assertion(certificate, key, CARD_HOLDER, structure=STRUCTURE)
        security = etree.tostring(saml.security_header(assertion), encoding="unicode")
        return {**call, "name": name, "headers": [*call["headers"], security]}

    bare = {**traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"), "name": "no credential"}
    results = run_client(
        home,
        [{"wsdl": f"{server['base']}/insi/soap?wsdl",
          "calls": [with_assertion("card"), bare]}],
        cert=None, key=None, trace=True,
    )  # fmt: skip
    card = results["card"]
    assert card["status"] == 200, card
    assert card["result"]["CR"]["CodeCR"] == "00"
    assert "<env:Body>" in card["request"]
    refused = results["no credential"]
    assert refused["status"] == 500
    assert refused["fault"]["erreur"]["code"] == "DESIR_560"
    assert refused["fault"]["faultstring"] == "Niveau d'accès insuffisant"


def test_a_psc_assertion_with_the_access_token_in_authorization(server, monkeypatch):
    """Pro Santé Connect mode (§7, docs/insi-soap.md "Authentication"): an unsigned assertion
    ``NameQualifier="PSC"`` in ``wsse:Security`` and the professional's santeid access token in
    ``Authorization: Bearer``, which SoapClient sends from its stream context's ``http.header``
    (https://www.php.net/manual/en/context.http.php); no client certificate. Without the token
    the same request is refused (``DESIR_560``)."""
    home = server["home"]
    secret = "a-long-secret-for-the-php-soap-service-01"
    redirect = "https://lps.example.org/callback"
    cli = santeid_home(home, SANTEID_INSI_BASE=None, SANTEID_ISSUER=None)
    cli.add_client(code_flow_client("php-lps", secret, redirect))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(home / "tls" / "ca.pem"))
    oidc = f"{server['base']}{REALM}/protocol/openid-connect"
    token = logged_in_tokens(oidc, "php-lps", secret, redirect, PROFESSIONAL)["access_token"]

    def with_assertion(name: str) -> dict:
        call = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
        assertion = saml.build_assertion(
            name_id=PROFESSIONAL,
            qualifier=saml.QUALIFIER_PSC,
            attributes={"identifiantFacturation": STRUCTURE, "codeSpecialiteAMO": "01"},
        )
        security = etree.tostring(saml.security_header(assertion), encoding="unicode")
        return {**call, "name": name, "headers": [*call["headers"], security]}

    wsdl = f"{server['base']}/insi/soap?wsdl"
    results = run_client(
        home,
        [{"wsdl": wsdl, "bearer": token, "calls": [with_assertion("PSC")]},
         {"wsdl": wsdl, "calls": [with_assertion("no token")]}],
        cert=None, key=None, trace=True,
    )  # fmt: skip
    accepted = results["PSC"]
    assert f"Authorization: Bearer {token}" in accepted["request_headers"].split("\r\n")
    assert accepted["status"] == 200, accepted
    assert accepted["result"]["CR"]["CodeCR"] == "00"
    refused = results["no token"]
    assert (refused["status"], refused["fault"]["erreur"]["code"]) == (500, "DESIR_560")


def test_soapclient_without_a_wsdl(server):
    """SoapClient's non-WSDL mode, which PHP clients that write the body as XML use
    (https://www.php.net/manual/en/soapclient.construct.php: ``location``, ``uri``,
    ``style`` SOAP_DOCUMENT, ``use`` SOAP_LITERAL): the body is a ``SoapVar`` ``XSD_ANYXML``.
    The operation's action must be given (``soapaction``): by default SoapClient sends
    ``action="<uri>#<operation>"``, which is no INSi action, and the ``wsa:Action`` header then
    differs from it."""
    body = (
        '<RECSANSVITALE xmlns="http://www.cnamts.fr/INSiRecSans"><NomNaissance>ADRTROIS'
        "</NomNaissance><Prenom>DOMINIQUE</Prenom><Sexe>F</Sexe><DateNaissance>1997-02-26"
        "</DateNaissance></RECSANSVITALE>"
    )
    operation = "rechercherInsAvecTraitsIdentite"
    given = {"name": "soapaction", "operation": operation, "headers": headers(operation),
             "body": body, "soapaction": ACTION + operation}  # fmt: skip
    default = {**given, "name": "default action", "headers": headers(operation)}
    del default["soapaction"]
    uri = "http://www.cnamts.fr/webservice"
    results = run_client(
        server["home"],
        [{"endpoint": f"{server['base']}/insi/soap", "uri": uri, "calls": [given, default]}],
        trace=True,
    )
    found = results["soapaction"]
    assert f'action="{ACTION}{operation}"' in found["request_headers"]
    assert found["status"] == 200, found
    assert found["result"]["INDIVIDU"]["INSACTIF"]["IdIndividu"]["NumIdentifiant"] == (
        "297022A020778"
    )
    refused = results["default action"]
    assert f'action="{uri}#{operation}"' in refused["request_headers"]
    assert refused["status"] == 500
    assert refused["fault"]["erreur"]["code"] == "santeid_action_mismatch"


def test_a_certificate_of_another_authority_is_refused_by_tls(server, tmp_path):
    """The handshake fails (docs/insi-soap.md, "Authentication"): SoapClient cannot load
    santeid's WSDL (a ``WSDL`` fault), and with a WSDL file its call ends in an ``HTTP`` fault
    with no answer — never an INSi fault."""
    impostor = TestAuthority.load_or_create(
        tmp_path, "impostor", common_name="TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    )
    certificate, key = issue_certificate(
        impostor,
        subject=subject_name(common_name="INSI-AUTO", country="FR",
                             organization="CLINIQUE TEST", organizational_unit=STRUCTURE),
        key_type="ec-p256",
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(certificate_pem(certificate))
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))
    wsdl = lay_out(tmp_path / "wsdl")
    base = server["base"]
    call = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
    results = run_client(
        server["home"],
        [{"wsdl": f"{base}/insi/soap?wsdl", "calls": [call]},
         {"wsdl": str(wsdl), "endpoint": f"{base}/insi/soap", "calls": [call]}],
        cert=str(tmp_path / "cert.pem"), key=str(tmp_path / "key.pem"),
    )  # fmt: skip
    loading = results[f"{base}/insi/soap?wsdl operations"]["fault"]
    assert loading["faultcode"] == "WSDL"
    assert "Couldn't load from" in loading["faultstring"]
    refused = results[call["name"]]
    assert refused["status"] is None
    assert refused["fault"]["faultcode"] == "HTTP"
    assert refused["fault"]["faultstring"] in (
        "Failed Sending HTTP SOAP request",
        "Error Fetching http headers",
        "Could not connect to host",
    )
    assert refused["fault"]["erreur"] is None


def test_soapclient_reads_a_fault_whatever_the_http_status(server, tmp_path):
    """PHP parses an XML answer as a fault whatever its status: the sandbox's unavailable
    service (500), santeid's 404 for an unknown path under ``/insi/soap``, the 415 for a
    request SoapClient compresses (``SOAP_COMPRESSION_GZIP`` with a level: ``Content-Encoding:
    gzip``, which santeid decodes not), and the SOAP 1.1 ``VersionMismatch`` a client gets
    without ``soap_version => SOAP_1_2`` (SoapClient then sends SOAP 1.1, ``text/xml``, whatever
    the WSDL's ``soap12`` binding) all come out as SoapFault with their ``siram:Erreur``. So does
    a value given as a ``SoapVar`` of another type than the schema's (``XSD_DATE`` for
    ``DateNaissance``, a string there): SoapClient writes ``xsi:type="xsd:date"``, which XML
    Schema does not allow on it (Part 1 §3.3.4: not derived from the declared type)."""
    wsdl = lay_out(tmp_path)
    base = server["base"]
    unavailable = traits("SANTEID-FAUTE", "INDISPONIBLE", "M", "1980-01-01")
    lost = {**traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"), "name": "lost"}
    typed = traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
    typed["name"] = "typed"
    typed["args"]["DateNaissance"] = {"xsd": "date", "value": "1997-02-26"}
    compressed = {**traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"), "name": "compressed"}
    soap11 = {**traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"), "name": "SOAP 1.1"}
    results = run_client(
        server["home"],
        [{"wsdl": str(wsdl), "endpoint": f"{base}/insi/soap", "calls": [unavailable, typed]},
         {"wsdl": str(wsdl), "endpoint": f"{base}/insi/soap/nothing", "calls": [lost]},
         {"wsdl": str(wsdl), "endpoint": f"{base}/insi/soap", "compression": True,
          "calls": [compressed]},
         {"wsdl": str(wsdl), "endpoint": f"{base}/insi/soap", "soap_version": "1.1",
          "calls": [soap11]}],
        trace=True,
    )  # fmt: skip
    got = {
        name: (results[name]["status"], results[name]["fault"]["faultcode"],
               results[name]["fault"]["erreur"]["code"])
        for name in (unavailable["name"], "typed", "lost", "compressed", "SOAP 1.1")
    }  # fmt: skip
    assert got == {
        unavailable["name"]: (500, "soap:Sender", "desir_1020"),
        "typed": (500, "soap:Sender", "santeid_invalid_request"),
        "lost": (404, "soap:Sender", "santeid_not_found"),
        "compressed": (415, "soap:Sender", "santeid_media_type"),
        "SOAP 1.1": (500, "soapenv:VersionMismatch", "santeid_soap_version"),
    }
    assert '<ns1:DateNaissance xsi:type="xsd:date">' in results["typed"]["request"]
    assert results["typed"]["fault"]["erreur"]["text"].startswith("DateNaissance/@")


def test_the_examples_own_search_as_its_readme_runs_it(server, tmp_path):
    """``examples/insi-php-soap/search.json`` (written for ``make run``: its HTTPS port, its
    certificate paths, the README's software number), after the README's own ``santeid``
    commands run as written in a terminal — from the folder holding ``make run``'s ``var`` and
    ``keys`` (here the server's), no ``SANTEID_*`` variable but the ones they set themselves,
    ``.venv/bin/santeid`` this environment's command, ``/tmp/insi-client`` ``tmp_path``'s —
    with only the port and paths adapted to this server."""
    out = tmp_path / "insi-client"
    home = server["home"]
    block = support.run_readme_setup(PHP_DIR, home, out)
    assert "php examples/insi-php-soap/client.php < examples/insi-php-soap/search.json" in block
    scenario = json.loads((PHP_DIR / "search.json").read_text(encoding="utf-8"))
    scenario.update(
        cert=str(out / "cert.pem"), key=str(out / "key.pem"), ca=str(home / "tls" / "ca.pem")
    )
    for client in scenario["clients"]:
        client["wsdl"] = client["wsdl"].replace("https://127.0.0.1:5443", server["base"])
    answers = run_client(home, scenario.pop("clients"), **scenario)
    found = answers["ADRTROIS DOMINIQUE"]
    assert found["status"] == 200, found
    assert found["result"]["CR"]["CodeCR"] == "00"
    assert (
        found["result"]["INDIVIDU"]["INSACTIF"]["IdIndividu"]["NumIdentifiant"] == "297022A020778"
    )

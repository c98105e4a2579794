"""Shared pieces of the SOAP tests (imported by the modules of ``tests/insi/soap``; no test here).

* a small generated civil-status base (it always holds the published test identities of
  docs/reference/insi-teleservice.md §9) and a sandbox app on it, with the trusted-proxy certificate
  header configured so
  that in-process requests can present a TLS client certificate;
* test credentials: INSI-AUTO / INSI-MANU certificates of the INSi test CA, a wrong-CN and a
  wrong-CA certificate, CPS cards;
* :func:`envelope` — a request shaped like the real clients' (docs/reference/insi-teleservice.md
§8.1): ContexteBAM,
  ContexteLPS, ``wsa:Action``, ``wsa:MessageID``, optional ``wsse:Security``;
* :func:`shape` — the element names, prefixes and namespace declarations of a document in
  order, to compare with the captured answers' structure (docs/reference/insi-teleservice.md §8);
* :class:`WsgiAdapter` — a ``requests`` transport into the Flask app, so zeep runs in-process;
* :func:`insi_tls_server` — ``santeid serve`` over TLS trusting the INSi test CA, with an
  ``INSI-AUTO`` certificate issued by ``santeid insi issue-cert`` and :data:`IDAM` registered;
* :class:`ClientCalls` — the calls a vendor's INSi client script (npm ``soap``, PHP's
  ``SoapClient``) is given to make, and :func:`vitale_beneficiary`, a carte Vitale holder of
  the base.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from santeid import create_app
from santeid.insi.auth import insi_test_authority
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.settings import Settings
from santeid.storage import MemoryStore
from tests.support.oidc_flow import ISSUER
from tests.support.servers import CERT_HEADER
from tests.support.servers import PROXY
from tests.support.servers import SANTEID
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
RECVIT = "http://www.cnamts.fr/INSiRecVit"
RESULTAT = "http://www.cnamts.fr/INSiResultat"
REQUNIT = "http://www.cnamts.fr/INSiLot2/REQUnitaire"
REPUNIT = "http://www.cnamts.fr/INSiLot2/REPUnitaire"
SIRAM = "urn:siram"
NS = {
    "soap": SOAP12,
    "wsa": WSA,
    "res": RESULTAT,
    "rep": REPUNIT,
    "siram": SIRAM,
}

ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:"
CTXBAM = "urn:siram:bam:ctxbam"
CTXLPS = "urn:siram:lps:ctxlps"
TRAITS = ACTION + "rechercherInsAvecTraitsIdentite"
VITALE = ACTION + "rechercherInsAvecCarteVitale"
VERIFY = ACTION + "verifierInsAvecTraitsIdentite"

IDAM = "TESTSANTEID1"
STRUCTURE = "10B0152872"


@pytest.fixture(scope="session")
def soap_home(tmp_path_factory) -> Path:
    """Data and keys folders of the SOAP tests' app."""
    return tmp_path_factory.mktemp("insi-soap")


@pytest.fixture(scope="session")
def soap_settings(soap_home, insi_base) -> Settings:
    """Sandbox settings on the session's civil-status base (``conftest.insi_base``: published
    identities included), with the trusted-proxy certificate header."""
    return Settings(
        issuer=ISSUER,
        data_dir=str(soap_home / "var"),
        keys_dir=str(soap_home / "keys"),
        insi_base=str(insi_base),
        sandbox=True,
        sandbox_approval_delay=0,
        tls_client_cert_header=CERT_HEADER,
        trusted_proxies=PROXY,
    )


@pytest.fixture(scope="session")
def soap_app(soap_settings):
    app = create_app(soap_settings, store=MemoryStore())
    app.extensions["santeid"].insi.software().add(IDAM, "santeid SOAP tests", replace=True)
    return app


@pytest.fixture(scope="session")
def insi_ca(soap_settings) -> TestAuthority:
    return insi_test_authority(soap_settings)


def make_certificate(authority: TestAuthority, cn: str = "INSI-AUTO") -> tuple:
    return issue_certificate(
        authority,
        subject=subject_name(
            common_name=cn,
            country="FR",
            organization="CLINIQUE TEST",
            organizational_unit=STRUCTURE,
        ),
        key_type="ec-p256",
    )


@pytest.fixture(scope="session")
def auto_cert(insi_ca):
    return make_certificate(insi_ca, "INSI-AUTO")[0]


def cert_headers(certificate) -> dict[str, str]:
    """What a TLS-terminating proxy forwards (nginx ``$ssl_client_escaped_cert``)."""
    return {CERT_HEADER: quote(certificate_pem(certificate).decode())}


# -- envelopes --------------------------------------------------------------------------------
def _element(tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.Element(tag, **attributes)
    element.text = text
    return element


def traits_body(
    birth_name: str | None,
    given_names: list[str] | tuple[str, ...] = (),
    sex: str | None = None,
    birth_date: str | None = None,
    birthplace: str | None = None,
) -> etree._Element:
    body = etree.Element(f"{{{RECSANS}}}RECSANSVITALE", nsmap={"insi_recsans_ins": RECSANS})
    for name, value in (("NomNaissance", birth_name),):
        if value is not None:
            body.append(_element(f"{{{RECSANS}}}{name}", value))
    for given in given_names:
        body.append(_element(f"{{{RECSANS}}}Prenom", given))
    rest = (("Sexe", sex), ("DateNaissance", birth_date), ("LieuNaissance", birthplace))
    for name, value in rest:
        if value is not None:
            body.append(_element(f"{{{RECSANS}}}{name}", value))
    return body


def vitale_body(
    od: tuple[str, str], birth_name: str, birth_date: str, rank: int | None = 1, individual=None
) -> etree._Element:
    body = etree.Element(f"{{{RECVIT}}}RECVITALE", nsmap={"insi_recvit_ins": RECVIT})
    for tag, value in (("MatriculeIndividu", individual), ("MatriculeOD", od)):
        if value is None:
            continue
        matricule = etree.SubElement(body, f"{{{RECVIT}}}{tag}")
        etree.SubElement(matricule, f"{{{RECVIT}}}NumIdentifiant").text = value[0]
        etree.SubElement(matricule, f"{{{RECVIT}}}Cle").text = value[1]
    body.append(_element(f"{{{RECVIT}}}NomNaissance", birth_name))
    body.append(_element(f"{{{RECVIT}}}DateNaissance", birth_date))
    if rank is not None:
        body.append(_element(f"{{{RECVIT}}}RangNaissance", str(rank)))
    return body


def verify_body(matricule: str, key: str, **traits: str) -> etree._Element:
    ns = REQUNIT
    body = etree.Element(f"{{{ns}}}RequeteUnitaire", nsmap={"req": ns})
    individual = etree.SubElement(body, f"{{{ns}}}IndividuVerifie")
    ins = etree.SubElement(individual, f"{{{ns}}}INSFourni")
    id_individu = etree.SubElement(ins, f"{{{ns}}}IdIndividu")
    etree.SubElement(id_individu, f"{{{ns}}}NumIdentifiant").text = matricule
    etree.SubElement(id_individu, f"{{{ns}}}Cle").text = key
    etree.SubElement(id_individu, f"{{{ns}}}TypeMatricule").text = "INS"
    etree.SubElement(ins, f"{{{ns}}}OID").text = "1.2.250.1.213.1.4.8"
    block = etree.SubElement(individual, f"{{{ns}}}TraitsIdentiteIndividu")
    for name in ("NomNaissance", "Prenom", "ListePrenom", "Sexe", "DateNaissance", "LieuNaissance"):
        if name in traits:
            etree.SubElement(block, f"{{{ns}}}{name}").text = traits[name]
    return block.getparent().getparent()


def envelope(
    body: etree._Element,
    action: str | None = TRAITS,
    *,
    idam: str | None = IDAM,
    message_id: str | None = None,
    security: etree._Element | None = None,
    lps: bool = True,
    extra_headers: list[etree._Element] = (),
) -> bytes:
    """A request in the shape real clients send (docs/reference/insi-teleservice.md §8.1):
    ContexteBAM, ContexteLPS,
    wsa:Action, wsa:MessageID, then wsse:Security when given."""
    message_id = message_id or f"uuid:{uuid.uuid4()}"
    ctxbam = "urn:siram:bam:ctxbam"
    ctxlps = "urn:siram:lps:ctxlps"
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    bam = etree.SubElement(header, f"{{{ctxbam}}}ContexteBAM", nsmap={"ctxbam": ctxbam})
    bam.set("Version", "01_02")
    etree.SubElement(bam, f"{{{ctxbam}}}Id").text = str(uuid.uuid4())
    etree.SubElement(bam, f"{{{ctxbam}}}Temps").text = "2026-01-15T08:51:16.840Z"
    etree.SubElement(bam, f"{{{ctxbam}}}Emetteur").text = STRUCTURE
    etree.SubElement(bam, f"{{{ctxbam}}}COUVERTURE")
    if lps:
        block = etree.SubElement(header, f"{{{ctxlps}}}ContexteLPS", nsmap={"ctxlps": ctxlps})
        block.set("Nature", "CTXLPS")
        block.set("Version", "01_00")
        etree.SubElement(block, f"{{{ctxlps}}}Id").text = str(uuid.uuid4())
        etree.SubElement(block, f"{{{ctxlps}}}Temps").text = "2026-01-15T08:51:16.840Z"
        etree.SubElement(block, f"{{{ctxlps}}}Emetteur").text = STRUCTURE
        software = etree.SubElement(block, f"{{{ctxlps}}}LPS")
        if idam is not None:
            etree.SubElement(software, f"{{{ctxlps}}}IDAM", R="4").text = idam
        etree.SubElement(software, f"{{{ctxlps}}}Version").text = "2026"
        etree.SubElement(software, f"{{{ctxlps}}}Instance").text = str(uuid.uuid4())
        etree.SubElement(software, f"{{{ctxlps}}}Nom").text = "urn:lps:santeid-tests:2026"
    if action is not None:
        header.append(_element(f"{{{WSA}}}Action", action))
    header.append(_element(f"{{{WSA}}}MessageID", message_id))
    header.extend(extra_headers)
    if security is not None:
        header.append(security)
    soap_body = etree.SubElement(env, f"{{{SOAP12}}}Body")
    if security is not None:
        soap_body.set("Id", "_0")
    soap_body.append(body)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def post(client, data: bytes, action: str | None = TRAITS, *, certificate=None, **headers):
    """POST as a client behind the trusted proxy, with ``certificate`` forwarded if given."""
    content_type = "application/soap+xml; charset=utf-8"
    if action:
        content_type += f'; action="{action}"'
    all_headers = {"Content-Type": content_type, **headers}
    if certificate is not None:
        all_headers.update(cert_headers(certificate))
    return client.post(
        "/insi/soap", data=data, headers=all_headers, environ_base={"REMOTE_ADDR": PROXY}
    )


# -- reading answers --------------------------------------------------------------------------
def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def shape(root: etree._Element) -> list[tuple[str, dict]]:
    """``(prefix:name, namespaces declared here)`` for every element, in document order."""
    result = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        parent = element.getparent()
        inherited = parent.nsmap if parent is not None else {}
        declared = {k: v for k, v in element.nsmap.items() if inherited.get(k) != v}
        name = etree.QName(element).localname
        result.append((f"{element.prefix}:{name}" if element.prefix else name, declared))
    return result


def fault_parts(data: bytes) -> dict[str, str | None]:
    root = parse(data)
    erreur = root.find(".//siram:Erreur", NS)
    return {
        "code": root.findtext(".//soap:Fault/soap:Code/soap:Value", namespaces=NS),
        "subcode": root.findtext(".//soap:Fault/soap:Code/soap:Subcode/soap:Value", namespaces=NS),
        "reason": root.findtext(".//soap:Fault/soap:Reason/soap:Text", namespaces=NS),
        "erreur_code": erreur.get("code") if erreur is not None else None,
        "severite": erreur.get("severite") if erreur is not None else None,
        "message_id": erreur.get("messageID") if erreur is not None else None,
        "text": erreur.text if erreur is not None else None,
    }


# -- zeep in-process --------------------------------------------------------------------------
class WsgiAdapter(BaseAdapter):
    """``requests`` → the Flask app through its test client (what zeep's transport uses)."""

    def __init__(self, app, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.client = app.test_client()
        self.extra = headers or {}

    def send(self, request, **kwargs):  # noqa: ARG002 - requests' adapter signature
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        answer = self.client.open(
            path,
            method=request.method,
            data=request.body,
            headers={**dict(request.headers), **self.extra},
            environ_base={"REMOTE_ADDR": PROXY},
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response.raw = io.BytesIO(answer.data)
        response._content = answer.data
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def wsgi_session(app, headers: dict[str, str] | None = None) -> requests.Session:
    session = requests.Session()
    session.mount("http://", WsgiAdapter(app, headers))
    session.mount("https://", WsgiAdapter(app, headers))
    return session


# -- a real server over TLS -------------------------------------------------------------------
@contextmanager
def insi_tls_server(home: Path, insi_base: Path, client_name: str) -> Iterator[dict]:
    """``santeid serve`` (sandbox) over TLS on a free port, trusting the INSi test CA; yields
    ``{"base": https URL, "home": home}`` with ``home/tls/ca.pem`` (server authority) and
    ``home/client/{cert,key}.pem`` (an INSI-AUTO certificate), :data:`IDAM` registered."""
    # No issuer configured: serve derives https://127.0.0.1:<port>/auth/realms/….
    settings = {"SANTEID_INSI_BASE": str(insi_base), "SANTEID_ISSUER": None}
    prepared = santeid_home(home, **settings)
    prepared.cli("tls", "dev-cert", "--out", str(home / "tls"))
    prepared.cli("insi", "issue-cert", "--structure", STRUCTURE, "--cn", "INSI-AUTO",
                 "--out", str(home / "client"))  # fmt: skip
    prepared.cli("insi", "software", "add", IDAM, "--name", client_name)
    args = [
        "--tls-cert", str(home / "tls" / "cert.pem"), "--tls-key", str(home / "tls" / "key.pem"),
        "--client-ca", str(home / "client" / "ca.pem"),
    ]  # fmt: skip
    with santeid_process(home, args=args, ca=str(home / "tls" / "ca.pem"), **settings) as server:
        yield {"base": server.base, "home": home}


# -- what a vendor's client script is given to send ------------------------------------------
class ClientCalls:
    """The calls given to a vendor's INSi client script (``examples/insi-node-soap``,
    ``examples/insi-php-soap``): each a name, an operation, its header blocks as XML and its
    arguments as the WSDL names them. ``lps_name`` is the ``ContexteLPS/LPS/Nom`` the client
    sends."""

    def __init__(self, lps_name: str) -> None:
        self.lps_name = lps_name

    def headers(self, operation: str, idam: str = IDAM) -> list[str]:
        """The header blocks as an INSi client adds them (docs/reference/insi-teleservice.md
        §8.1): ContexteBAM with an empty COUVERTURE, ContexteLPS with the IDAM, wsa:Action and
        wsa:MessageID."""
        return [
            f'<ctxbam:ContexteBAM xmlns:ctxbam="{CTXBAM}" Version="01_02"><ctxbam:Id>'
            f"{uuid.uuid4()}</ctxbam:Id><ctxbam:Temps>2026-01-15T08:51:16.840Z</ctxbam:Temps>"
            f"<ctxbam:Emetteur>{STRUCTURE}</ctxbam:Emetteur><ctxbam:COUVERTURE>"
            "</ctxbam:COUVERTURE></ctxbam:ContexteBAM>",
            f'<ctxlps:ContexteLPS xmlns:ctxlps="{CTXLPS}" Nature="CTXLPS" Version="01_00">'
            f"<ctxlps:Id>{uuid.uuid4()}</ctxlps:Id><ctxlps:Temps>2026-01-15T08:51:16.840Z"
            f"</ctxlps:Temps><ctxlps:Emetteur>{STRUCTURE}</ctxlps:Emetteur><ctxlps:LPS>"
            f'<ctxlps:IDAM R="4">{idam}</ctxlps:IDAM><ctxlps:Version>2026</ctxlps:Version>'
            f"<ctxlps:Instance>{uuid.uuid4()}</ctxlps:Instance><ctxlps:Nom>{self.lps_name}"
            "</ctxlps:Nom></ctxlps:LPS></ctxlps:ContexteLPS>",
            f'<wsa:Action xmlns:wsa="{WSA}">{ACTION}{operation}</wsa:Action>',
            f'<wsa:MessageID xmlns:wsa="{WSA}">uuid:{uuid.uuid4()}</wsa:MessageID>',
        ]

    def traits(self, name: str, given: str, sex: str, day: str, idam: str = IDAM) -> dict:
        """A search by traits, named ``"<name> <given>"``."""
        operation = "rechercherInsAvecTraitsIdentite"
        return {
            "name": f"{name} {given}",
            "operation": operation,
            "headers": self.headers(operation, idam),
            "args": {"NomNaissance": name, "Prenom": given, "Sexe": sex, "DateNaissance": day},
        }

    def searches(self, beneficiary: dict) -> list[dict]:
        """The published test identities' searches (00 with and without INSHISTO, 02, 01), an
        unknown IDAM's and the technical error's faults, and ``beneficiary``'s carte Vitale
        search, named ``"carte Vitale"``."""
        vitale = "rechercherInsAvecCarteVitale"
        return [
            self.traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"),
            self.traits("ECETINSI", "PIERRE-ALAIN", "M", "2009-07-14"),
            self.traits("DE VINCI", "LEONARDO", "M", "2014-02-01"),
            self.traits("HOUILLES", "PIERRE", "M", "1993-01-27"),
            self.traits("ADRDEUX", "LAURENT", "M", "1981-01-01", idam="PDP17NF21DD0"),
            self.traits("D'AEION", "COEUR", "M", "1987-01-25"),
            {
                "name": "carte Vitale",
                "operation": vitale,
                "headers": self.headers(vitale),
                "args": {
                    "MatriculeOD": {
                        "NumIdentifiant": beneficiary["od"], "Cle": beneficiary["od_key"],
                    },
                    "NomNaissance": beneficiary["birth_name"],
                    "DateNaissance": beneficiary["birth_date"],
                    "RangNaissance": str(beneficiary["rang"]),
                },
            },
        ]  # fmt: skip

    def verification(self, name: str = "verification", birthplace: str = "2A020") -> dict:
        """ADRTROIS DOMINIQUE's INS verified with her traits, born in ``birthplace``."""
        operation = "verifierInsAvecTraitsIdentite"
        return {
            "name": name,
            "operation": operation,
            "headers": self.headers(operation),
            "args": {
                "IndividuVerifie": {
                    "INSFourni": {
                        "IdIndividu": {"NumIdentifiant": "297022A020778", "Cle": "78"},
                        "OID": "1.2.250.1.213.1.4.8",
                    },
                    "TraitsIdentiteIndividu": {
                        "NomNaissance": "ADRTROIS", "ListePrenom": "DOMINIQUE", "Sexe": "F",
                        "DateNaissance": "1997-02-26", "LieuNaissance": birthplace,
                    },
                }
            },
        }  # fmt: skip


def vitale_beneficiary(insi_base: Path) -> dict:
    """The first person of the base who is a beneficiary on another's carte Vitale: the
    carte's ``od``/``od_key``, and the beneficiary's ``matricule``, ``birth_name``,
    ``birth_date`` and ``rang``."""
    conn = sqlite3.connect(f"{insi_base.as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT od.matricule AS od, printf('%02d', od.cle) AS od_key, b.matricule, "
            "b.birth_name, b.birth_date, b.rang FROM persons b JOIN persons od "
            "ON b.od_id = od.id WHERE b.od_id != b.id ORDER BY b.id LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return dict(row)


def run_readme_setup(example: Path, home: Path, out: Path) -> str:
    """The ``santeid`` commands of ``example``'s README (its first ``sh`` block), run as written
    in a terminal beside ``make run``: from the folder holding ``make run``'s ``var`` and
    ``keys`` (``home``, the server's), with no ``SANTEID_*`` variable but the ones the commands
    set themselves; ``.venv/bin/santeid`` is this environment's command, ``/tmp/insi-client``
    ``out``. Returns the block."""
    readme = (example / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    commands = [
        line.replace(".venv/bin/santeid", SANTEID).replace("/tmp/insi-client", str(out))  # noqa: S108
        for line in block.splitlines()
        if ".venv/bin/santeid" in line
    ]
    assert len(commands) == 2, block
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    done = subprocess.run(
        ["bash", "-e", "-c", "\n".join(commands)], cwd=home, env={**env, "HOME": str(home)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return block

"""A real ``santeid serve`` answering INSi SOAP behind a trusted proxy's certificate header, and
the envelopes real clients send (insi-teleservice reference §3, §8)."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests
from lxml import etree

import santeid.oidc  # noqa: F401 - first: santeid.insi.soap alone hits an import cycle
from santeid.pki import certificate_pem
from tests.support.attack_server import santeid_server
from tests.support.servers import SANTEID

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
CERT_HEADER = "X-SSL-Client-Cert"
STRUCTURE = "10B0152872"


@contextmanager
def insi_server(home: Path, redis_server, *, db: int, settings: dict[str, str] | None = None):
    """The server on a small generated civil-status base; it trusts 127.0.0.1's header."""
    import subprocess

    base = home / "civil-status.sqlite3"
    subprocess.run(
        [SANTEID, "civil", "generate", "--persons", "20", "--out", str(base)],
        check=True,
        capture_output=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    every = {
        "SANTEID_INSI_BASE": str(base),
        "SANTEID_TLS_CLIENT_CERT_HEADER": CERT_HEADER,
        "SANTEID_TRUSTED_PROXIES": "127.0.0.1",
        **(settings or {}),
    }
    with santeid_server(home, redis_server, db=db, settings=every) as server:
        yield server


def envelope(*, idam: str | None, security: etree._Element | None = None) -> bytes:
    """A ``rechercherInsAvecTraitsIdentite`` request with ContexteBAM, ContexteLPS (IDAM),
    wsa:Action, wsa:MessageID and, when given, ``wsse:Security``."""
    ctxbam, ctxlps = "urn:siram:bam:ctxbam", "urn:siram:lps:ctxlps"
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    bam = etree.SubElement(header, f"{{{ctxbam}}}ContexteBAM", nsmap={"ctxbam": ctxbam})
    bam.set("Version", "01_02")
    etree.SubElement(bam, f"{{{ctxbam}}}Id").text = str(uuid.uuid4())
    etree.SubElement(bam, f"{{{ctxbam}}}Temps").text = "2026-01-15T08:51:16.840Z"
    etree.SubElement(bam, f"{{{ctxbam}}}Emetteur").text = STRUCTURE
    etree.SubElement(bam, f"{{{ctxbam}}}COUVERTURE")
    lps = etree.SubElement(header, f"{{{ctxlps}}}ContexteLPS", nsmap={"ctxlps": ctxlps})
    lps.set("Nature", "CTXLPS")
    lps.set("Version", "01_00")
    etree.SubElement(lps, f"{{{ctxlps}}}Id").text = str(uuid.uuid4())
    etree.SubElement(lps, f"{{{ctxlps}}}Temps").text = "2026-01-15T08:51:16.840Z"
    etree.SubElement(lps, f"{{{ctxlps}}}Emetteur").text = STRUCTURE
    software = etree.SubElement(lps, f"{{{ctxlps}}}LPS")
    if idam is not None:
        etree.SubElement(software, f"{{{ctxlps}}}IDAM", R="4").text = idam
    etree.SubElement(software, f"{{{ctxlps}}}Version").text = "2026"
    etree.SubElement(software, f"{{{ctxlps}}}Instance").text = str(uuid.uuid4())
    etree.SubElement(software, f"{{{ctxlps}}}Nom").text = "urn:lps:santeid-tests:2026"
    etree.SubElement(header, f"{{{WSA}}}Action").text = ACTION
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = f"uuid:{uuid.uuid4()}"
    if security is not None:
        header.append(security)
    body = etree.SubElement(env, f"{{{SOAP12}}}Body")
    if security is not None:
        body.set("Id", "_0")
    traits = etree.SubElement(body, f"{{{RECSANS}}}RECSANSVITALE", nsmap={"r": RECSANS})
    for name, value in (("NomNaissance", "MARTIN"), ("Prenom", "JEAN"), ("Sexe", "M")):
        etree.SubElement(traits, f"{{{RECSANS}}}{name}").text = value
    etree.SubElement(traits, f"{{{RECSANS}}}DateNaissance").text = "1980-01-01"
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def post(server, data: bytes, *, certificate=None) -> requests.Response:
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{ACTION}"'}
    if certificate is not None:
        headers[CERT_HEADER] = quote(certificate_pem(certificate).decode())
    return requests.post(f"{server.base}/insi/soap", data=data, headers=headers, timeout=30)


def refused(response: requests.Response) -> str:
    """The ``siram:Erreur`` text of a ``DESIR_560`` fault (asserting it is one)."""
    assert response.status_code == 500, response.text
    assert "DESIR_560" in response.text, response.text
    return etree.fromstring(response.content).findtext(".//{*}Erreur") or ""

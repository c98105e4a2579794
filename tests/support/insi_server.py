"""A real ``santeid serve`` answering INSi SOAP behind a trusted proxy's certificate header, and
the envelopes real clients send (insi-teleservice reference §3, §8)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests
from lxml import etree

from santeid.pki import certificate_pem
from tests.support import soap
from tests.support.attack_server import santeid_server
from tests.support.servers import BEHIND_PROXY
from tests.support.servers import CERT_HEADER
from tests.support.servers import SANTEID
from tests.support.servers import SanteidHome
from tests.support.servers import forwarded_certificate
from tests.support.servers import santeid_home

ACTION = soap.TRAITS
STRUCTURE = soap.STRUCTURE
#: The REST traits search, for the traits nobody has of :func:`envelope`.
REST_SEARCH = "/insi/v1/ins/search-by-traits"
TRAITS = {"birthName": "MARTIN", "givenNames": ["JEAN"], "sex": "M", "birthDate": "1980-01-01"}


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
    every = {"SANTEID_INSI_BASE": str(base), **BEHIND_PROXY, **(settings or {})}
    with santeid_server(home, redis_server, db=db, settings=every) as server:
        yield server


def production_home(home: Path) -> SanteidHome:
    """``home`` made ready for a server outside sandbox mode: a small civil-status base
    (``civil.sqlite3``), the software ``soap.IDAM`` registered, and an ``INSI-AUTO``
    certificate minted with the test INSi authority (``--test-authority``) in ``minted/``."""
    production = santeid_home(home, sandbox=False)
    production.cli("civil", "generate", "--persons", "20", "--out", str(home / "civil.sqlite3"))
    production.cli("insi", "software", "add", soap.IDAM, "--name", "software under test")
    production.cli("insi", "issue-cert", "--structure", STRUCTURE, "--cn", "INSI-AUTO",
                   "--out", str(home / "minted"), "--test-authority")  # fmt: skip
    return production


def envelope(*, idam: str | None, security: etree._Element | None = None) -> bytes:
    """A ``rechercherInsAvecTraitsIdentite`` request for traits nobody has, in the shape of
    :func:`tests.support.soap.envelope` (ContexteBAM, ContexteLPS with ``idam``, wsa:Action,
    wsa:MessageID and, when given, ``wsse:Security``)."""
    traits = etree.Element(f"{{{soap.RECSANS}}}RECSANSVITALE", nsmap={"r": soap.RECSANS})
    for name, value in (("NomNaissance", "MARTIN"), ("Prenom", "JEAN"), ("Sexe", "M")):
        etree.SubElement(traits, f"{{{soap.RECSANS}}}{name}").text = value
    etree.SubElement(traits, f"{{{soap.RECSANS}}}DateNaissance").text = "1980-01-01"
    return soap.envelope(traits, idam=idam, security=security)


def post(server, data: bytes, *, certificate=None) -> requests.Response:
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{ACTION}"'}
    if certificate is not None:
        headers[CERT_HEADER] = quote(certificate_pem(certificate).decode())
    return requests.post(f"{server.base}/insi/soap", data=data, headers=headers, timeout=30)


def rest(server, certificate) -> requests.Response:
    """The REST traits search with ``certificate`` in the trusted proxy's header."""
    return requests.post(f"{server.base}{REST_SEARCH}", json=TRAITS, timeout=30,
                         headers=forwarded_certificate(certificate))  # fmt: skip


def refused(response: requests.Response) -> str:
    """The ``siram:Erreur`` text of a ``DESIR_560`` fault (asserting it is one)."""
    assert response.status_code == 500, response.text
    assert "DESIR_560" in response.text, response.text
    return etree.fromstring(response.content).findtext(".//{*}Erreur") or ""

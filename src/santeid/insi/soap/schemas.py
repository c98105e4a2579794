"""The WSDL and XSDs shipped with santeid (``wsdl/``), and XSD validation of requests.

The documents are santeid's own (``docs/insi-soap.md``), written to the namespaces, element
names and order of INSi (docs/reference/insi-teleservice.md §2–§5). Requests are validated with
``etree.XMLSchema``
(XSD 1.0): the body against its operation's schema, ``ContexteLPS`` and ``ContexteBAM`` against
theirs. A violation is a ``Sender`` fault naming the element (:func:`validate`).
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from pathlib import Path

from lxml import etree

from santeid.insi.soap import faults

#: The search WSDL (the two operations of INSi's WSDL), served at ``/insi/soap?wsdl``.
WSDL_NAME = "ServiceIdentiteCertifiee.wsdl"
#: The verification WSDL (INSi publishes its verification apart, docs/reference/insi-teleservice.md
#: §2), served at
#: ``/insi/soap/verification?wsdl``.
VERIFY_WSDL_NAME = "ServiceVerificationIdentite.wsdl"
WSDL_NAMES = (WSDL_NAME, VERIFY_WSDL_NAME)

#: Schemas imported by the WSDL, served at ``?xsd=NAME``: file name → target namespace.
XSD_NAMESPACES: dict[str, str] = {
    "insi-recsans.xsd": "http://www.cnamts.fr/INSiRecSans",
    "insi-recvit.xsd": "http://www.cnamts.fr/INSiRecVit",
    "insi-resultat.xsd": "http://www.cnamts.fr/INSiResultat",
    "insi-verif-requete.xsd": "http://www.cnamts.fr/INSiLot2/REQUnitaire",
    "insi-verif-reponse.xsd": "http://www.cnamts.fr/INSiLot2/REPUnitaire",
    "ctxlps.xsd": "urn:siram:lps:ctxlps",
    "ctxbam.xsd": "urn:siram:bam:ctxbam",
    "siram-erreur.xsd": "urn:siram",
    "ws-addressing.xsd": "http://www.w3.org/2005/08/addressing",
    "wsse-security.xsd": (
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    ),
}

_local = threading.local()


def wsdl_dir() -> Path:
    """The package directory holding the WSDL and XSDs."""
    return Path(str(resources.files("santeid.insi.soap") / "wsdl"))


def document(name: str) -> bytes:
    """The bytes of a shipped document (``KeyError`` for any other name)."""
    if name not in WSDL_NAMES and name not in XSD_NAMESPACES:
        raise KeyError(name)
    return (wsdl_dir() / name).read_bytes()


def _build() -> etree.XMLSchema:
    base = wsdl_dir()
    imports = "".join(
        f'<xs:import namespace="{namespace}" schemaLocation="{(base / name).as_uri()}"/>'
        for name, namespace in XSD_NAMESPACES.items()
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    return etree.XMLSchema(etree.fromstring(wrapper))


def schema() -> etree.XMLSchema:
    """All the shipped schemas as one validator, one per thread (a validator keeps the error
    log of its last run, so it is not shared between threads)."""
    validator = getattr(_local, "schema", None)
    if validator is None:
        validator = _build()
        _local.schema = validator
    return validator


_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?([^']+)'(?:, attribute '([^']+)')?: ")
_NAMESPACE = re.compile(r"\{[A-Za-z][A-Za-z0-9+.-]*:[^}]*\}")


def validate(element: etree._Element, message_id: str | None = None) -> None:
    """Check ``element`` (a body payload or a header block) against the shipped schemas;
    raise a ``Sender`` fault naming the first element at fault."""
    validator = schema()
    if validator.validate(element):
        return
    entry = validator.error_log.last_error
    text = entry.message if entry is not None else "invalid"
    match = _ELEMENT.search(text)
    name = match.group(1) if match else etree.QName(element).localname
    if match and match.group(2):
        name = f"{name}/@{match.group(2)}"
    # "Element '{ns}Sexe': [facet…] …" → "Sexe : [facet…] …" (namespaces are noise here).
    detail = _NAMESPACE.sub("", _ELEMENT.sub("", text))
    raise faults.invalid_request(f"{name} : {detail}", message_id)

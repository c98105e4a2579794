"""The WSDLs and XSDs as served: ``GET /insi/soap?wsdl`` (search),
``GET /insi/soap/verification?wsdl`` (verification) and ``GET /insi/soap?xsd=NAME``.

On disk (``wsdl/``) the documents reference each other by relative file name and each WSDL's
``soap12:address`` is a placeholder, so they load as they are (lxml, zeep, an IDE). Served,
every ``schemaLocation`` becomes ``<search endpoint>?xsd=NAME`` and the address becomes the
endpoint itself, so a client given only the WSDL URL finds everything on this server (WSDL 1.1
§2.2, XML Schema Part 1 §4.2.3).
"""

from __future__ import annotations

import functools
import re
from xml.sax.saxutils import escape

from santeid.insi.soap.schemas import VERIFY_WSDL_NAME
from santeid.insi.soap.schemas import WSDL_NAME
from santeid.insi.soap.schemas import XSD_NAMESPACES
from santeid.insi.soap.schemas import document

#: The address written in the search WSDL file on disk, replaced when served.
PLACEHOLDER_ADDRESS = "https://localhost/insi/soap"
#: The same for the verification WSDL.
VERIFY_PLACEHOLDER_ADDRESS = "https://localhost/insi/soap/verification"
#: Path of the verification endpoint, under the search endpoint.
VERIFY_SUFFIX = "/verification"

_SCHEMA_LOCATION = re.compile(r'schemaLocation="([A-Za-z0-9_.-]+\.xsd)"')


def _rewrite(text: str, endpoint: str) -> str:
    def located(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in XSD_NAMESPACES:
            return match.group(0)
        return f'schemaLocation="{escape(endpoint)}?xsd={name}"'

    return _SCHEMA_LOCATION.sub(located, text)


@functools.lru_cache(maxsize=16)
def served_wsdl(endpoint: str, verification: bool = False) -> bytes:
    """The search WSDL (or with ``verification`` the verification one) with ``endpoint`` (the
    search endpoint) as address and schema base."""
    if verification:
        text = document(VERIFY_WSDL_NAME).decode("utf-8")
        address = endpoint + VERIFY_SUFFIX
        placeholder = VERIFY_PLACEHOLDER_ADDRESS
    else:
        text = document(WSDL_NAME).decode("utf-8")
        address, placeholder = endpoint, PLACEHOLDER_ADDRESS
    text = text.replace(f'location="{placeholder}"', f'location="{escape(address)}"')
    return _rewrite(text, endpoint).encode("utf-8")


@functools.lru_cache(maxsize=64)
def served_xsd(name: str, endpoint: str) -> bytes:
    """The schema ``name`` (``KeyError`` if santeid ships none of that name)."""
    if name not in XSD_NAMESPACES:
        raise KeyError(name)
    return _rewrite(document(name).decode("utf-8"), endpoint).encode("utf-8")

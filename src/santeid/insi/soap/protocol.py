"""Names on the wire: XML namespaces, the three operations and their ``wsa:Action`` values.

Everything here is what INSi clients already send and expect (docs/reference/insi-teleservice.md §1
"Operations", §2
"Namespaces"); the verification operation's request namespace is santeid's choice, documented
in ``docs/insi-soap.md`` (its WSDL is not public, docs/reference/insi-teleservice.md §15).
"""

from __future__ import annotations

from dataclasses import dataclass

from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import OP_SEARCH_VITALE
from santeid.insi.model import OP_VERIFY

# -- envelopes (SOAP 1.2 Part 1 §5; SOAP 1.1 §4) -------------------------------------------
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
#: Media type of SOAP 1.2 over HTTP (RFC 3902); SOAP 1.1 used ``text/xml``.
SOAP12_MEDIA_TYPE = "application/soap+xml"
SOAP11_MEDIA_TYPE = "text/xml"

# -- header blocks (docs/reference/insi-teleservice.md §3)
# -------------------------------------------------------------
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
CTXLPS = "urn:siram:lps:ctxlps"
CTXBAM = "urn:siram:bam:ctxbam"
SIRAM = "urn:siram"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"

# -- bodies (docs/reference/insi-teleservice.md §4, §5)
# ----------------------------------------------------------------
TNS = "http://www.cnamts.fr/webservice"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
RECVIT = "http://www.cnamts.fr/INSiRecVit"
RESULTAT = "http://www.cnamts.fr/INSiResultat"
#: Verification request: santeid's namespace under ``…/INSiLot2/``
#: (docs/reference/insi-teleservice.md §1 [Unconfirmed]).
REQUNIT = "http://www.cnamts.fr/INSiLot2/REQUnitaire"
#: Verification response: the public namespace of the GIE kit (docs/reference/insi-teleservice.md
#: §1).
REPUNIT = "http://www.cnamts.fr/INSiLot2/REPUnitaire"

#: santeid's own fault subcodes live here (the real ones reuse the envelope namespace).
SANTEID = "urn:santeid:insi"

ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"


def qname(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local``, as lxml spells element names."""
    return f"{{{namespace}}}{local}"


@dataclass(frozen=True)
class Operation:
    """One operation of the ``ICIRService`` port type."""

    #: Operation name (docs/reference/insi-teleservice.md §1), also the :mod:`santeid.insi.model`
    #: ``OP_*`` constant.
    name: str
    #: Clark name of the request body element.
    body: str
    #: Clark name of the response body element.
    response: str

    @property
    def action(self) -> str:
        """Input ``wsa:Action`` and SOAP 1.2 ``action`` (docs/reference/insi-teleservice.md §1)."""
        return ACTION_PREFIX + self.name

    @property
    def response_action(self) -> str:
        """Output action: the input's plus ``Response`` (docs/reference/insi-teleservice.md §1)."""
        return self.action + "Response"


OPERATIONS: tuple[Operation, ...] = (
    Operation(OP_SEARCH_VITALE, qname(RECVIT, "RECVITALE"), qname(RESULTAT, "RESULTAT")),
    Operation(OP_SEARCH_TRAITS, qname(RECSANS, "RECSANSVITALE"), qname(RESULTAT, "RESULTAT")),
    Operation(OP_VERIFY, qname(REQUNIT, "RequeteUnitaire"), qname(REPUNIT, "ReponseUnitaire")),
)
BY_ACTION: dict[str, Operation] = {op.action: op for op in OPERATIONS}
BY_BODY: dict[str, Operation] = {op.body: op for op in OPERATIONS}

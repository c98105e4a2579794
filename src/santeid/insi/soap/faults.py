"""SOAP 1.2 faults carrying ``siram:Erreur``, as INSi sends them (docs/reference/insi-teleservice.md
§6, §8.5).

Every error of ``/insi/soap`` — the teleservice's own refusals (:class:`InsiError`), an invalid
trait (:class:`TraitError`), a request santeid cannot read, a transport problem (413, 405, 415,
404) or a bug — leaves as a SOAP fault, never as an HTML page or a bare 500:

* ``env:Code/env:Value`` ``Sender`` (the request is at fault) or ``Receiver`` (the service is),
  or ``VersionMismatch`` / ``MustUnderstand`` (SOAP 1.2 Part 1 §5.4.6, §5.4.7, §5.4.8);
* ``env:Code/env:Subcode/env:Value`` the INSi code (``soap:siram_100``, ``soap:siram_40``), a
  santeid code for what INSi has none for (``soap:santeid_invalid_input``…), or a standard
  WS-Addressing subcode (``wsa:ActionNotSupported``, ``wsa:ActionMismatch``, WS-Addressing 1.0
  SOAP Binding §6.4);
* ``env:Reason/env:Text`` the user-facing French sentence;
* ``env:Detail/siram:Erreur`` with ``code``, ``severite`` and the request's ``messageID``.

Each fault is written in the shape captured from the real service
(docs/reference/insi-teleservice.md §8b), byte for
byte: the unknown-software fault (``soap:`` prefixes, ``siram:Erreur code messageID severite``),
the service-unavailable fault ``desir_1020`` (attributes ``code severite messageID``) and the
technical error ``insi_102`` (``S:`` prefixes, ``ns4`` declared on ``S:Fault``, no
``messageID``) — see :data:`SHAPES`. santeid's own faults use the first shape.

HTTP status: **500 for every SOAP fault**, ``Sender`` included, as the real service answers
(docs/reference/insi-teleservice.md §8b; real clients only read a fault body on 500). The SOAP 1.2
HTTP binding's 400 for
``Sender`` faults (SOAP 1.2 Part 2 §7.5.2.2) is kept behind the ``insi_soap_sender_400``
setting. Transport-level refusals keep their own status (413, 405, 415, 404). A SOAP 1.1
envelope gets a SOAP 1.1 ``VersionMismatch`` fault with an ``Upgrade`` header (SOAP 1.2 Part 1
Appendix A).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from xml.sax.saxutils import escape
from xml.sax.saxutils import quoteattr

from santeid.civil_status.traits import TraitError
from santeid.insi.model import CODE_INVALID_REQUEST
from santeid.insi.model import CODE_INVALID_TRAIT
from santeid.insi.model import SUBCODE_INVALID_INPUT
from santeid.insi.model import InsiError
from santeid.insi.model import service_unavailable
from santeid.insi.soap.protocol import SIRAM
from santeid.insi.soap.protocol import SOAP11
from santeid.insi.soap.protocol import SOAP11_MEDIA_TYPE
from santeid.insi.soap.protocol import SOAP12
from santeid.insi.soap.protocol import SOAP12_MEDIA_TYPE
from santeid.insi.soap.protocol import WSA

#: Reason of every refusal of the request's form (santeid's wording: INSi's is not public).
REASON_INVALID_REQUEST = (
    "La requête transmise au service est invalide. Contactez l'éditeur du progiciel ou votre "
    "responsable informatique."
)

#: Subcode prefix → namespace, for the subcodes the faults use.
_SUBCODE_NAMESPACES = {"soap": SOAP12, "wsa": WSA}


@dataclass(eq=False)
class SoapFault(Exception):
    """A SOAP 1.2 fault about to be sent.

    ``code`` is the ``env:Code/env:Value`` local name; ``subcode`` a ``prefix:local`` QName
    (``soap:siram_100``, ``wsa:ActionNotSupported``) or None; ``error_code``, ``severity``,
    ``message`` fill ``siram:Erreur``; ``reason`` is ``env:Reason/env:Text`` in ``lang``.
    ``extra_detail`` is raw XML appended inside ``env:Detail`` (``wsa:ProblemAction``…),
    ``header`` raw XML header blocks (``env:Upgrade``, ``env:NotUnderstood``).
    """

    code: str
    subcode: str | None
    reason: str
    error_code: str
    message: str
    severity: str = "erreur"
    http_status: int | None = None
    lang: str = "fr"
    extra_detail: str = ""
    header: str = ""
    message_id: str | None = None
    #: SOAP 1.1 request: answer in SOAP 1.1 (VersionMismatch only).
    soap11: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.error_code}: {self.message}")

    @property
    def status(self) -> int:
        """The real service's status: 500 for every fault (docs/reference/insi-teleservice.md
        §8b)."""
        return self.status_for(sender_400=False)

    def status_for(self, *, sender_400: bool) -> int:
        """HTTP status; ``sender_400``: the SOAP 1.2 HTTP binding's 400 for ``Sender`` faults
        (SOAP 1.2 Part 2 §7.5.2.2) instead of the real service's 500."""
        if self.http_status is not None:
            return self.http_status
        if sender_400 and self.code == "Sender" and not self.soap11:
            return 400
        return 500  # the real service; also SOAP 1.1 §6.2

    @property
    def content_type(self) -> str:
        media = SOAP11_MEDIA_TYPE if self.soap11 else SOAP12_MEDIA_TYPE
        return f"{media}; charset=utf-8"

    def render(self) -> bytes:
        """The whole response document."""
        return (render_soap11_fault(self) if self.soap11 else render_fault(self)).encode("utf-8")


@dataclass(frozen=True)
class FaultShape:
    """How one captured fault is written (docs/reference/insi-teleservice.md §8b): the prefix of the
    fault elements, the
    namespaces ``env:Body`` and the fault element declare, the order of the ``siram:Erreur``
    attributes, whether ``messageID`` is echoed, and the ``xml:lang`` of the reason (None: the
    fault's own)."""

    prefix: str
    body_declarations: tuple[tuple[str, str], ...]
    fault_declarations: tuple[tuple[str, str], ...]
    erreur_attributes: tuple[str, ...]
    echoes_message_id: bool = True
    lang: str | None = None


#: The unknown-software fault ``siram_100`` / ``desir_550`` as captured in 2026
#: (docs/reference/insi-teleservice.md §8b):
#: also the shape of ``DESIR_560`` (not captured) and of santeid's own faults.
SHAPE_SIRAM_100 = FaultShape(
    prefix="soap",
    body_declarations=(("env", SOAP12),),
    fault_declarations=(),
    erreur_attributes=("code", "messageID", "severite"),
)
#: ``desir_1020`` (service unavailable), as captured: attributes ``code, severite, messageID``.
SHAPE_DESIR_1020 = FaultShape(
    prefix="soap",
    body_declarations=(("env", SOAP12),),
    fault_declarations=(),
    erreur_attributes=("code", "severite", "messageID"),
)
#: ``insi_102`` (technical error of the traits search), as captured in 2023: ``env:Body``
#: declaring ``S`` and ``env``, ``S:`` prefixes, ``ns4`` (the SOAP 1.1 namespace) declared on
#: ``S:Fault``, ``severite`` before ``code``, no ``messageID``, ``xml:lang="en"``.
SHAPE_INSI_102 = FaultShape(
    prefix="S",
    body_declarations=(("S", SOAP12), ("env", SOAP12)),
    fault_declarations=(("ns4", SOAP11),),
    erreur_attributes=("severite", "code"),
    echoes_message_id=False,
    lang="en",
)
#: ``siram:Erreur`` code → its captured shape; any other code: :data:`SHAPE_SIRAM_100`.
SHAPES: dict[str, FaultShape] = {"desir_1020": SHAPE_DESIR_1020, "insi_102": SHAPE_INSI_102}


def shape_of(fault: SoapFault) -> FaultShape:
    return SHAPES.get(fault.error_code, SHAPE_SIRAM_100)


def _declarations(pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in pairs)


def _erreur(fault: SoapFault, shape: FaultShape = SHAPE_SIRAM_100) -> str:
    values = {"code": fault.error_code, "severite": fault.severity}
    if fault.message_id and shape.echoes_message_id:
        values["messageID"] = fault.message_id
    attributes = "".join(
        f" {name}={quoteattr(values[name])}" for name in shape.erreur_attributes if name in values
    )
    return f'<siram:Erreur{attributes} xmlns:siram="{SIRAM}">{escape(fault.message)}</siram:Erreur>'


def _subcode(subcode: str, p: str) -> str:
    prefix, local = subcode.split(":", 1)
    declaration = ""
    if prefix == "soap":
        prefix = p  # the envelope namespace, under the shape's prefix
    else:
        declaration = f' xmlns:{prefix}="{_SUBCODE_NAMESPACES[prefix]}"'
    return (
        f"<{p}:Subcode><{p}:Value{declaration}>{escape(prefix)}:{escape(local)}</{p}:Value>"
        f"</{p}:Subcode>"
    )


def render_fault(fault: SoapFault) -> str:
    """A SOAP 1.2 fault in its captured shape (docs/reference/insi-teleservice.md §8b,
    :data:`SHAPES`)."""
    shape = shape_of(fault)
    p = shape.prefix
    header = f"<soap:Header>{fault.header}</soap:Header>" if fault.header else ""
    subcode = _subcode(fault.subcode, p) if fault.subcode else ""
    lang = shape.lang or fault.lang
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP12}">{header}'
        f"<env:Body{_declarations(shape.body_declarations)}>"
        f"<{p}:Fault{_declarations(shape.fault_declarations)}>"
        f"<{p}:Code><{p}:Value>{p}:{fault.code}</{p}:Value>{subcode}</{p}:Code>"
        f'<{p}:Reason><{p}:Text xml:lang="{lang}">{escape(fault.reason)}</{p}:Text>'
        f"</{p}:Reason>"
        f"<{p}:Detail>{_erreur(fault, shape)}{fault.extra_detail}</{p}:Detail>"
        f"</{p}:Fault></env:Body></soap:Envelope>"
    )


def render_soap11_fault(fault: SoapFault) -> str:
    """SOAP 1.1 fault (SOAP 1.1 §4.4) for a SOAP 1.1 request, with the SOAP 1.2 ``Upgrade``
    header saying which envelope this node supports (SOAP 1.2 Part 1 §5.4.7, Appendix A)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP11}"><soapenv:Header>{_upgrade()}'
        "</soapenv:Header><soapenv:Body><soapenv:Fault>"
        f"<faultcode>soapenv:{fault.code}</faultcode>"
        f"<faultstring>{escape(fault.reason)}</faultstring>"
        f"<detail>{_erreur(fault)}</detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def _upgrade() -> str:
    return (
        f'<upg:Upgrade xmlns:upg="{SOAP12}"><upg:SupportedEnvelope qname="ns1:Envelope" '
        f'xmlns:ns1="{SOAP12}"/></upg:Upgrade>'
    )


# -- the faults -----------------------------------------------------------------------------
def from_insi_error(error: InsiError, message_id: str | None = None) -> SoapFault:
    """The fault of a refusal of the core (``siram_100``/``desir_550``, ``siram_40``/
    ``insi_102``, ``DESIR_560``, an invalid trait…), with its codes and texts
    (docs/reference/insi-teleservice.md §6)."""
    message = error.message
    if error.element:
        message = f"{error.element} : {message}"
        if error.rule:
            message += f" [{error.rule}]"
    fault = error.fault if error.fault in ("Sender", "Receiver") else "Sender"
    reason = error.reason or message
    if error.subcode == SUBCODE_INVALID_INPUT:
        # The core's reason is its technical message; INSi's Reason is a sentence for the user.
        reason = REASON_INVALID_REQUEST
    return SoapFault(
        code=fault,
        subcode=f"soap:{error.subcode}" if error.subcode else None,
        reason=reason,
        error_code=error.code,
        message=message,
        severity=error.severity,
        message_id=message_id,
    )


def from_trait_error(error: TraitError, message_id: str | None = None) -> SoapFault:
    """An identity trait breaking an RNIV/INSi rule: the fault names the element and the rule."""
    return SoapFault(
        code="Sender",
        subcode=f"soap:{SUBCODE_INVALID_INPUT}",
        reason=REASON_INVALID_REQUEST,
        error_code=CODE_INVALID_TRAIT,
        message=f"{error.element} : {error.message} [{error.rule}]",
        message_id=message_id,
    )


def invalid_request(message: str, message_id: str | None = None) -> SoapFault:
    """The body or a header does not follow the schemas (XSD) of the WSDL."""
    return SoapFault(
        code="Sender",
        subcode=f"soap:{SUBCODE_INVALID_INPUT}",
        reason=REASON_INVALID_REQUEST,
        error_code=CODE_INVALID_REQUEST,
        message=message,
        message_id=message_id,
    )


def unreadable(error_code: str, message: str, *, status: int | None = None) -> SoapFault:
    """The request is not an XML document santeid accepts to read (malformed, DTD, too large,
    too deep, not an envelope): ``error_code`` says which (``santeid_xml_*``)."""
    return SoapFault(
        code="Sender",
        subcode=f"soap:{SUBCODE_INVALID_INPUT}",
        reason=REASON_INVALID_REQUEST,
        error_code=error_code,
        message=message,
        http_status=status,
    )


def version_mismatch(*, soap11: bool) -> SoapFault:
    """The envelope is not SOAP 1.2 (SOAP 1.2 Part 1 §5.4.7)."""
    return SoapFault(
        code="VersionMismatch",
        subcode=None,
        reason="Seules les enveloppes SOAP 1.2 sont acceptées par ce service.",
        error_code="santeid_soap_version",
        message=f"SOAP 1.2 envelope ({SOAP12}) expected",
        header="" if soap11 else _upgrade(),
        soap11=soap11,
    )


def must_understand(blocks: Sequence[tuple[str, str]], message_id: str | None) -> SoapFault:
    """Header blocks marked ``mustUnderstand`` that santeid does not process (SOAP 1.2 Part 1
    §5.4.8): one ``env:NotUnderstood`` per block, as ``(namespace, local name)``."""
    header = "".join(
        f'<soap:NotUnderstood qname="nu{i}:{local}" xmlns:nu{i}="{escape(ns)}"/>'
        for i, (ns, local) in enumerate(blocks)
    )
    names = ", ".join(f"{{{ns}}}{local}" for ns, local in blocks)
    return SoapFault(
        code="MustUnderstand",
        subcode=None,
        reason=REASON_INVALID_REQUEST,
        error_code="santeid_must_understand",
        message=f"header block(s) not understood: {names}",
        header=header,
        message_id=message_id,
    )


def action_not_supported(action: str, message_id: str | None) -> SoapFault:
    """Unknown ``wsa:Action`` / SOAP ``action`` (WS-Addressing 1.0 SOAP Binding §6.4.1.2)."""
    return SoapFault(
        code="Sender",
        subcode="wsa:ActionNotSupported",
        reason=REASON_INVALID_REQUEST,
        error_code="santeid_action",
        message=f"action not supported by this endpoint: {action!r}",
        extra_detail=(
            f'<wsa:ProblemAction xmlns:wsa="{WSA}"><wsa:Action>{escape(action)}</wsa:Action>'
            "</wsa:ProblemAction>"
        ),
        message_id=message_id,
    )


def action_mismatch(soap_action: str, wsa_action: str, message_id: str | None) -> SoapFault:
    """The HTTP ``action`` parameter and ``wsa:Action`` disagree (WS-Addressing 1.0 SOAP
    Binding §6.4.1.5, ``ActionMismatch``)."""
    return SoapFault(
        code="Sender",
        subcode="wsa:ActionMismatch",
        reason=REASON_INVALID_REQUEST,
        error_code="santeid_action_mismatch",
        message=f"action {soap_action!r} and wsa:Action {wsa_action!r} differ",
        extra_detail=(
            f'<wsa:ProblemAction xmlns:wsa="{WSA}"><wsa:Action>{escape(wsa_action)}</wsa:Action>'
            f"<wsa:SoapAction>{escape(soap_action)}</wsa:SoapAction></wsa:ProblemAction>"
        ),
        message_id=message_id,
    )


def transport(status: int, error_code: str, message: str, **headers: str) -> SoapFault:
    """An HTTP-level refusal (404, 405, 413, 415) told as a SOAP fault with that status."""
    fault = SoapFault(
        code="Sender",
        subcode=f"soap:{SUBCODE_INVALID_INPUT}",
        reason=REASON_INVALID_REQUEST,
        error_code=error_code,
        message=message,
        http_status=status,
    )
    fault.headers.update(headers)
    return fault


def internal_error(message_id: str | None = None) -> SoapFault:
    """A bug or an outage on santeid's side: the captured service-unavailable fault
    ``siram_40`` / ``desir_1020`` (docs/reference/insi-teleservice.md §8b); nothing of the cause is
    shown."""
    return from_insi_error(service_unavailable(), message_id)

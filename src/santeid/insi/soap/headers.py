"""The SOAP header blocks of an INSi request (docs/reference/insi-teleservice.md §3) and the action
it asks for.

* ``ctxlps:ContexteLPS`` — the calling software; ``LPS/IDAM`` with ``R="4"`` is its
  authorisation number, checked against the registered software (``santeid insi software
  add``); absent or unknown → ``siram_100`` / ``desir_550``.
* ``ctxbam:ContexteBAM`` — the coverage read on a carte Vitale (empty ``COUVERTURE`` for a
  traits search); validated when present, otherwise unused.
* WS-Addressing 1.0 (Core §3, SOAP Binding §2): ``wsa:Action``, ``wsa:MessageID`` (echoed in
  faults' ``siram:Erreur/@messageID``); ``wsa:To`` and ``wsa:ReplyTo`` are read but change
  nothing: the answer never has a SOAP header, as the real service's
  (docs/reference/insi-teleservice.md §5).
* ``wsse:Security`` — the assertions of the CPx and PSC modes
  (``santeid.insi.soap.authentication``).

Header blocks may come in any order (the WSDL and real clients disagree,
docs/reference/insi-teleservice.md §3).
The action is the ``action`` parameter of the SOAP 1.2 media type (RFC 3902 §6, quoted or
not: :func:`media_action`) or ``wsa:Action``; both given and different is a
``wsa:ActionMismatch``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from santeid.insi.soap import faults
from santeid.insi.soap import schemas
from santeid.insi.soap.envelope import Envelope
from santeid.insi.soap.envelope import block_content
from santeid.insi.soap.protocol import BY_ACTION
from santeid.insi.soap.protocol import BY_BODY
from santeid.insi.soap.protocol import CTXBAM
from santeid.insi.soap.protocol import CTXLPS
from santeid.insi.soap.protocol import WSA
from santeid.insi.soap.protocol import WSSE
from santeid.insi.soap.protocol import Operation
from santeid.insi.soap.protocol import qname

_LPS = qname(CTXLPS, "ContexteLPS")
_BAM = qname(CTXBAM, "ContexteBAM")
_IDAM = f"{{{CTXLPS}}}LPS/{{{CTXLPS}}}IDAM"
_EMITTER = qname(CTXLPS, "Emetteur")
_ACTION = qname(WSA, "Action")
_MESSAGE_ID = qname(WSA, "MessageID")
_TO = qname(WSA, "To")
_REPLY_TO = qname(WSA, "ReplyTo")
_SECURITY = qname(WSSE, "Security")

#: ``R`` attribute of the ``IDAM`` that carries the CNDA authorisation number
#: (docs/reference/insi-teleservice.md §3).
IDAM_AUTHORISATION = "4"


@dataclass(frozen=True)
class RequestHeaders:
    """What santeid reads from the header blocks."""

    message_id: str | None
    wsa_action: str | None
    to: str | None
    reply_to: bool
    #: ``ContexteLPS`` block (validated), or None.
    lps: etree._Element | None
    bam: etree._Element | None
    security: etree._Element | None
    #: The software authorisation number (``LPS/IDAM`` with ``R="4"``), or None.
    idam: str | None = None
    #: ``ContexteLPS/Emetteur``: the structure (mTLS) or the NameID (CPx),
    #: docs/reference/insi-teleservice.md §3.
    emitter: str | None = None


def _idam(lps: etree._Element | None) -> str | None:
    if lps is None:
        return None
    idam = lps.find(_IDAM)
    if idam is None or idam.get("R") != IDAM_AUTHORISATION:
        return None
    return (idam.text or "").strip() or None


def _emitter(lps: etree._Element | None) -> str | None:
    if lps is None:
        return None
    value = lps.findtext(_EMITTER)
    return value.strip() if value else None


def message_id_of(envelope: Envelope) -> str | None:
    """``wsa:MessageID``, for faults raised before the headers are fully read."""
    return envelope.header_text(_MESSAGE_ID)


def read_headers(envelope: Envelope) -> RequestHeaders:
    """The header blocks, with ``ContexteLPS`` and ``ContexteBAM`` checked against their XSD."""
    message_id = message_id_of(envelope)
    lps = envelope.header(_LPS)
    if lps is not None:
        schemas.validate(block_content(lps), message_id)
    bam = envelope.header(_BAM)
    if bam is not None:
        schemas.validate(block_content(bam), message_id)
    return RequestHeaders(
        message_id=message_id,
        wsa_action=envelope.header_text(_ACTION),
        to=envelope.header_text(_TO),
        reply_to=envelope.header(_REPLY_TO) is not None,
        lps=lps,
        bam=bam,
        security=envelope.header(_SECURITY),
        idam=_idam(lps),
        emitter=_emitter(lps),
    )


#: A parameter of a ``Content-Type`` (RFC 9110 §5.6.6): its name, then a quoted string or,
#: leniently, anything up to the next ``;``.
_MEDIA_PARAMETER = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")


def media_parameter(content_type: str | None, name: str) -> str | None:
    """The parameter ``name`` (any case) of a raw ``Content-Type``: quoted, or not quoted — up
    to the next ``;`` — as public SOAP 1.2 client code sends ``action``. A URI's ``:`` is a
    tspecial, where Werkzeug's ``parse_options_header`` ends an unquoted value (``action=urn:…``
    read as ``urn``, and the parameters after it lost)."""
    for match in _MEDIA_PARAMETER.finditer(content_type or ""):
        if match.group(1).lower() != name:
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        return value.strip() or None
    return None


def media_action(content_type: str | None) -> str | None:
    """The ``action`` parameter of ``application/soap+xml`` (RFC 3902 §6,
    https://www.rfc-editor.org/rfc/rfc3902#section-6: the URI of the message's intent)."""
    return media_parameter(content_type, "action")


def media_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter: the document's encoding, authoritative when given (RFC 7303
    §3.2, https://www.rfc-editor.org/rfc/rfc7303#section-3.2, which RFC 3902 §6 applies to
    ``application/soap+xml``), unless the document starts with a byte order mark."""
    return media_parameter(content_type, "charset")


def operation_for(
    envelope: Envelope, headers: RequestHeaders, soap_action: str | None
) -> Operation:
    """The operation the request asks for: its action (HTTP ``action`` parameter, else
    ``wsa:Action``), else — no action at all — its body element. The body element must be the
    operation's (``Sender`` fault naming it otherwise)."""
    wsa_action = headers.wsa_action
    if soap_action and wsa_action and soap_action != wsa_action:
        raise faults.action_mismatch(soap_action, wsa_action, headers.message_id)
    action = soap_action or wsa_action
    if action:
        operation = BY_ACTION.get(action)
        if operation is None:
            raise faults.action_not_supported(action, headers.message_id)
    else:
        operation = BY_BODY.get(str(envelope.payload.tag))
        if operation is None:
            # No action was sent: the body element, not an (empty) action, is what is unknown.
            raise faults.invalid_request(
                f"{etree.QName(envelope.payload).localname} : no action given, and "
                f"{etree.QName(envelope.payload).text} is the body of no operation",
                headers.message_id,
            )
    if envelope.payload.tag != operation.body:
        expected = etree.QName(operation.body)
        found = etree.QName(envelope.payload)
        message = f"{found.localname} : the body of {operation.name} is {expected.localname}"
        if found.localname == expected.localname:
            # Only the namespace is wrong: say so, or the message names the same element twice.
            message += f" in {expected.namespace}, not in {found.namespace or '(no namespace)'}"
        raise faults.invalid_request(message, headers.message_id)
    return operation

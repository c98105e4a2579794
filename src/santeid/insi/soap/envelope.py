"""Reading a SOAP 1.2 request safely: hardened XML parsing and the envelope's structure.

Hardening (OWASP XML External Entity Prevention; libxml2 through lxml):

* no DTD at all: a document containing ``<!DOCTYPE`` is refused before parsing, and again
  after (``docinfo``) for encodings the byte scan cannot see — so no external entity (XXE),
  no entity expansion (billion laughs, quadratic blow-up), no network or file access;
* the parser itself resolves no entity, loads no DTD, never uses the network and keeps
  libxml2's default limits (``huge_tree=False``: depth 256, text node size…);
* comments and processing instructions are dropped, so that a value split by one reads whole,
  as the schema validates it;
* size: at most :data:`MAX_BYTES` (Flask's ``MAX_CONTENT_LENGTH`` refuses larger bodies
  earlier, with 413);
* depth: at most :data:`MAX_DEPTH` nested elements (the deepest legitimate path, a signed
  assertion's ``X509Certificate``, is 8 deep).

Structure (SOAP 1.2 Part 1 §5): ``env:Envelope`` with an optional ``env:Header`` then one
``env:Body``; INSi bodies hold exactly one element (document/literal,
docs/reference/insi-teleservice.md §2). A SOAP 1.1
envelope, or any other, is a ``VersionMismatch``; header blocks marked ``mustUnderstand`` that
santeid does not process are a ``MustUnderstand`` fault (§5.2.3, §5.4.8).
"""

from __future__ import annotations

import codecs
import threading
from dataclasses import dataclass

from lxml import etree

from santeid.insi.soap import faults
from santeid.insi.soap.protocol import CTXBAM
from santeid.insi.soap.protocol import CTXLPS
from santeid.insi.soap.protocol import SOAP11
from santeid.insi.soap.protocol import SOAP12
from santeid.insi.soap.protocol import WSA
from santeid.insi.soap.protocol import WSSE
from santeid.insi.soap.protocol import qname
from santeid.serving import MAX_BUFFERED_BODY

#: Largest request accepted, in bytes: the one limit of every body (the app's
#: ``MAX_CONTENT_LENGTH`` too).
MAX_BYTES = MAX_BUFFERED_BODY
#: Deepest element nesting accepted (Envelope = 1).
MAX_DEPTH = 24

#: Header blocks santeid processes (SOAP 1.2 Part 1 §2.4 "understood"): the INSi contexts, the
#: WS-Addressing message properties and WS-Security.
UNDERSTOOD_NAMESPACES = frozenset({CTXLPS, CTXBAM, WSA, WSSE})

_ENVELOPE = qname(SOAP12, "Envelope")
_HEADER = qname(SOAP12, "Header")
_BODY = qname(SOAP12, "Body")
_MUST_UNDERSTAND = qname(SOAP12, "mustUnderstand")
_ROLE = qname(SOAP12, "role")
#: Roles this node plays (SOAP 1.2 Part 1 §2.2): blocks for other roles are not ours to check.
_OUR_ROLES = (None, "http://www.w3.org/2003/05/soap-envelope/role/next",
              "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver")  # fmt: skip

_TOO_DEEP = etree.XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")

_local = threading.local()

#: Byte order marks (UTF-8, UTF-16, UTF-32): one wins over the media type's charset (RFC 7303
#: §3.2); libxml2 reads it itself.
_BYTE_ORDER_MARKS = (codecs.BOM_UTF8, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE,
                     codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # fmt: skip


def _parser(charset: str | None = None) -> etree.XMLParser:
    """One parser per thread and per encoding imposed (lxml parsers must not be shared between
    threads); ``charset`` None: the document's own declaration, else UTF-8."""
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(charset)
    if parser is None:
        parser = etree.XMLParser(
            encoding=charset,
            resolve_entities=False,
            no_network=True,
            dtd_validation=False,
            load_dtd=False,
            huge_tree=False,
            # A comment or processing instruction inside a value is no part of it (XML 1.0
            # §2.5, §2.6): the schema validates the text around it joined, and ``.text`` would
            # stop at it ("ADR<!-- -->TROIS" read "ADR"). Dropped here, the text is merged and
            # every value read is the one validated. Assertion signatures are unchanged: the
            # exclusive c14n INSi clients sign with leaves comments out anyway.
            remove_comments=True,
            remove_pis=True,
            remove_blank_text=False,
        )
        parsers[charset] = parser
    return parser


def _charset_parser(charset: str | None, data: bytes) -> etree.XMLParser:
    """The parser of a document sent with ``charset`` (the media type's parameter)."""
    if charset is None or data.startswith(_BYTE_ORDER_MARKS):
        return _parser()
    try:
        # Python's name for it, so that the parsers kept are one per encoding however its name
        # is spelled; then one libxml2 reads too.
        return _parser(codecs.lookup(charset).name)
    except LookupError:
        pass
    raise faults.transport(
        415, "santeid_media_type", f"charset {charset!r} is not an encoding santeid reads"
    )


def _has_doctype(data: bytes) -> bool:
    # UTF-8 / ASCII-compatible encodings, and UTF-16 in either byte order.
    return (
        b"<!DOCTYPE" in data
        or b"<!ENTITY" in data
        or b"<\x00!\x00D\x00O\x00C\x00" in data
        or b"\x00<\x00!\x00D\x00O\x00C" in data
    )


def parse_document(data: bytes, charset: str | None = None) -> etree._Element:
    """The root element of ``data``, or a :class:`~santeid.insi.soap.faults.SoapFault`.

    ``charset``, the media type's parameter, is the document's encoding, over its XML
    declaration (RFC 7303 §3.2); a byte order mark wins over both."""
    if len(data) > MAX_BYTES:
        raise faults.unreadable(
            "santeid_xml_too_large", f"request larger than {MAX_BYTES} bytes", status=413
        )
    if not data.strip():
        raise faults.unreadable("santeid_xml_malformed", "empty request body")
    if _has_doctype(data):
        raise faults.unreadable(
            "santeid_xml_forbidden", "DTD and entity declarations are not accepted"
        )
    parser = _charset_parser(charset, data)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise faults.unreadable("santeid_xml_malformed", f"malformed XML: {exc.msg}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise faults.unreadable(
            "santeid_xml_forbidden", "DTD and entity declarations are not accepted"
        )
    if _TOO_DEEP(root):
        raise faults.unreadable(
            "santeid_xml_too_deep", f"elements nested deeper than {MAX_DEPTH} levels"
        )
    return root


@dataclass(frozen=True)
class Envelope:
    """A SOAP 1.2 request split into its parts."""

    root: etree._Element
    #: Header blocks, in document order (empty without ``env:Header``).
    headers: tuple[etree._Element, ...]
    body: etree._Element
    #: The one element child of ``env:Body``.
    payload: etree._Element

    def header(self, name: str) -> etree._Element | None:
        """The first header block named ``name`` (Clark notation)."""
        for block in self.headers:
            if block.tag == name:
                return block
        return None

    def header_text(self, name: str) -> str | None:
        block = self.header(name)
        if block is None:
            return None
        return (block.text or "").strip()


def _elements(parent: etree._Element) -> list[etree._Element]:
    """Element children only (comments and processing instructions are not SOAP content)."""
    return [child for child in parent if isinstance(child.tag, str)]


def read_envelope(root: etree._Element) -> Envelope:
    """Check the envelope's structure (SOAP 1.2 Part 1 §5.1–§5.3) and split it."""
    if root.tag != _ENVELOPE:
        namespace = etree.QName(root).namespace
        if etree.QName(root).localname == "Envelope":
            raise faults.version_mismatch(soap11=namespace == SOAP11)
        raise faults.unreadable("santeid_invalid_envelope", "the document is not a SOAP envelope")
    children = _elements(root)
    headers: list[etree._Element] = []
    if children and children[0].tag == _HEADER:
        headers = _elements(children[0])
        children = children[1:]
    if len(children) != 1 or children[0].tag != _BODY:
        raise faults.unreadable(
            "santeid_invalid_envelope",
            "env:Envelope must hold an optional env:Header, then env:Body",
        )
    body = children[0]
    payload = _elements(body)
    if len(payload) != 1:
        raise faults.unreadable(
            "santeid_invalid_envelope", "env:Body must hold exactly one element"
        )
    return Envelope(root=root, headers=tuple(headers), body=body, payload=payload[0])


#: Blanks an ``xs:boolean`` or ``xs:anyURI`` value may have around it (XML Schema Part 2
#: §4.3.6, ``whiteSpace`` collapse; attribute-value normalisation has already made the others
#: spaces).
_XML_BLANKS = " \t\n\r"
#: The lexical forms of ``xs:boolean`` (XML Schema Part 2 §3.2.2.1).
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def must_understand(block: etree._Element) -> bool:
    """``env:mustUnderstand`` of a header block (SOAP 1.2 Part 1 §5.2.3): an ``xs:boolean``,
    ``true`` or ``1``, ``false`` or ``0`` (absent: false), blanks around it allowed — "a SOAP
    receiver MUST accept any valid lexical representation of the attribute value". Any other
    value is no SOAP 1.2 message: a ``Sender`` fault (§5.4.6; the W3C SOAP 1.2 test collection's
    T14, https://www.w3.org/TR/soap12-testcollection/#T14), never read as false — which would
    skip a block its sender wants understood or refused."""
    value = block.get(_MUST_UNDERSTAND)
    if value is None:
        return False
    understood = _BOOLEANS.get(value.strip(_XML_BLANKS))
    if understood is None:
        raise faults.unreadable(
            "santeid_invalid_envelope",
            f"{etree.QName(block).localname} : env:mustUnderstand {value!r} is not an "
            "xs:boolean (true, false, 1 or 0)",
        )
    return understood


def not_understood(envelope: Envelope) -> list[tuple[str, str]]:
    """Header blocks for this node marked ``mustUnderstand`` that santeid does not process
    (SOAP 1.2 Part 1 §5.2.3); a ``Sender`` fault for a value that is no ``xs:boolean``, on any
    block (:func:`must_understand`)."""
    missing = []
    for block in envelope.headers:
        if not must_understand(block):
            continue
        role = block.get(_ROLE)
        if (role.strip(_XML_BLANKS) if role is not None else None) not in _OUR_ROLES:
            continue
        name = etree.QName(block)
        if name.namespace not in UNDERSTOOD_NAMESPACES:
            missing.append((name.namespace or "", name.localname))
    return missing


def block_content(block: etree._Element) -> etree._Element:
    """A header block as its own schema describes it: a copy without the SOAP attributes
    (``env:mustUnderstand``, ``env:role``, ``env:relay``, ``env:encodingStyle``), which SOAP 1.2
    Part 1 §5.2 allows on any header block and the INSi context schemas do not list — so that
    ``ContexteLPS env:mustUnderstand="true"`` is not refused as an unknown attribute."""
    soap_attributes = [name for name in block.attrib if name.startswith(f"{{{SOAP12}}}")]
    if not soap_attributes:
        return block
    content = etree.fromstring(etree.tostring(block))
    for name in soap_attributes:
        del content.attrib[name]
    return content

"""SAML 2.0 assertions in ``wsse:Security``: the CPx and PSC authentication modes of INSi
(docs/reference/insi-teleservice.md §7).

* **CPx card** ("assertion d'identification PS"): ``saml:Assertion`` with ``ID``,
  ``IssueInstant``, ``Version="2.0"``; ``Issuer`` (format X509SubjectName) = the card
  certificate's subject; an **enveloped XML-DSig signature** (W3C XML Signature 1.1 §6.6.4)
  with exclusive canonicalisation (W3C Exclusive XML Canonicalization 1.0), ``rsa-sha256``,
  ``sha256`` digest, ``Reference URI="#<ID>"`` and the card's certificate in
  ``KeyInfo/X509Data``; ``Subject/NameID NameQualifier="CPS"`` = the holder's national
  identifier; attributes ``identifiantFacturation``, ``codeSpecialiteAMO``, ``secteurActivite``.
* **Pro Santé Connect**: the same assertion **unsigned**, ``NameQualifier="PSC"``; santeid pairs
  it with its own access token in ``Authorization: Bearer`` (docs/reference/insi-teleservice.md §7
  leaves open how the PSC
  token travels).

Verification of a CPx assertion (:func:`verify_cps_assertion`):

1. the certificate of ``KeyInfo`` is a valid CPS card certificate: issued by a trusted CPS
   authority (``cps_ca_file``, or in sandbox mode the test CPS CA), valid now, end-entity, not
   revoked, naming an active professional (``santeid.cps.cards.verify_card_certificate``,
   RFC 5280 §6.1);
2. the signature verifies with that certificate (signxml), the one reference is the assertion
   itself (no signature wrapping: everything read afterwards comes from the *signed* copy
   signxml returns), and only SHA-256-or-better algorithms are accepted;
3. the ``NameID`` is the certificate's holder, ``IssueInstant`` is not in the future and not
   older than ``insi_assertion_max_age`` (5 minutes by default), and ``Conditions``
   (``NotBefore``/``NotOnOrAfter``) hold;
4. the assertion is used once: its ``ID`` (with the card certificate's fingerprint) is
   remembered in the store, with an atomic set-if-absent, until the assertion is too old to be
   accepted anyway (:func:`replay_key`, ``authentication.py``). A captured assertion cannot be
   replayed, from this client or any other. The real service's accepted age is not public
   (``docs/reference/insi-teleservice.md §7``): a client makes a fresh assertion per call, as
   the card middleware does.

Exclusive canonicalisation is what makes the signature survive being placed in an envelope:
namespaces inherited from ``soap:Envelope`` and ``wsse:Security`` do not enter the digest.

:func:`build_assertion` and :func:`sign_assertion` make such assertions (tests, benchmarks and
developers' test clients; ``docs/insi-soap.md``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml import SignatureConfiguration
from signxml import XMLSigner
from signxml import XMLVerifier
from signxml.algorithms import DigestAlgorithm
from signxml.algorithms import SignatureMethod
from signxml.exceptions import InvalidInput
from signxml.exceptions import SignXMLException
from signxml.verifier import VerifyResult

from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.insi.soap.protocol import DS
from santeid.insi.soap.protocol import SAML
from santeid.insi.soap.protocol import WSSE
from santeid.pki import PrivateKey
from santeid.pki import certificate_pem
from santeid.pki import name_text
from santeid.pki import private_key_pem
from santeid.storage import keys

#: signxml logs at DEBUG every string it canonicalizes to sign or verify: a whole assertion, with
#: the patient's NIR of a carte Vitale assertion and the name of a CPS card's holder. Those
#: records are never written, whatever ``log_level`` (docs/security.md#logs).
logging.getLogger("signxml").setLevel(logging.INFO)

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
NAMEID_X509 = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
#: ``NameID/@NameQualifier`` of each mode (docs/reference/insi-teleservice.md §7).
QUALIFIER_CPS = "CPS"
QUALIFIER_PSC = "PSC"
#: Oldest ``IssueInstant`` accepted by default (``insi_assertion_max_age``), and the clock skew
#: tolerated.
MAX_AGE = datetime.timedelta(minutes=5)
CLOCK_SKEW = datetime.timedelta(minutes=5)

_ASSERTION = f"{{{SAML}}}Assertion"
_SIGNATURE = f"{{{DS}}}Signature"

#: Algorithms accepted in a signature (no SHA-1: XML Signature Best Practices §2.1).
_CONFIG = SignatureConfiguration(
    require_x509=True,
    expect_references=1,
    signature_methods=frozenset(
        {
            SignatureMethod.RSA_SHA256,
            SignatureMethod.RSA_SHA384,
            SignatureMethod.RSA_SHA512,
            SignatureMethod.ECDSA_SHA256,
            SignatureMethod.ECDSA_SHA384,
            SignatureMethod.ECDSA_SHA512,
        }
    ),
    digest_algorithms=frozenset(
        {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
    ),
)


class AssertionRefused(Exception):
    """An assertion that authenticates no one; the message says why (logged and returned in
    the fault's ``siram:Erreur``)."""


@dataclass(frozen=True)
class Assertion:
    """What santeid reads from an assertion."""

    element: etree._Element
    id: str
    name_id: str
    qualifier: str
    issue_instant: str
    attributes: dict[str, str]
    signed: bool


def _read(element: etree._Element, *, signed: bool) -> Assertion:
    name_id = element.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    attributes: dict[str, str] = {}
    for attribute in element.iterfind(f"{{{SAML}}}AttributeStatement/{{{SAML}}}Attribute"):
        name = attribute.get("Name")
        value = attribute.findtext(f"{{{SAML}}}AttributeValue")
        if name and value is not None:
            attributes[name] = value.strip()
    return Assertion(
        element=element,
        id=element.get("ID") or "",
        name_id=(name_id.text or "").strip() if name_id is not None else "",
        qualifier=name_id.get("NameQualifier", "") if name_id is not None else "",
        issue_instant=element.get("IssueInstant") or "",
        attributes=attributes,
        signed=signed,
    )


def professional_assertion(
    security: etree._Element | None, *, any_signed: bool = True
) -> Assertion | None:
    """The professional's assertion in ``wsse:Security``, or None.

    It is the first one whose ``NameQualifier`` is CPS or PSC, wherever it stands: with a carte
    Vitale the header also holds the "assertion CV" made from the card
    (docs/reference/insi-teleservice.md §3, §4, §7, which do not say in which order), and that
    one is ignored. When no assertion
    has such a qualifier, the first signed one is taken for a card's (and refused as such later)
    if ``any_signed``; the caller passes False when a client certificate authenticates the call,
    so that an assertion CV beside the certificate is ignored too."""
    if security is None:
        return None
    signed = None
    for element in security.iterfind(_ASSERTION):
        assertion = _read(element, signed=element.find(_SIGNATURE) is not None)
        if assertion.qualifier in (QUALIFIER_CPS, QUALIFIER_PSC):
            return assertion
        if signed is None and assertion.signed:
            signed = assertion
    return signed if any_signed else None


def _instant(value: str, what: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AssertionRefused(f"{what} is not an xs:dateTime: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def check_times(
    assertion: Assertion,
    now: datetime.datetime | None = None,
    *,
    max_age: datetime.timedelta = MAX_AGE,
) -> datetime.datetime:
    """``IssueInstant`` within [now − ``max_age``, now + skew]; ``Conditions`` honoured
    (SAML 2.0 Core §2.5.1.2). Returns the moment the assertion stops being acceptable (its
    ``IssueInstant`` + ``max_age``, or ``NotOnOrAfter`` if sooner), plus the skew."""
    # Without ``now`` (commands, tests): the machine's clock; requests pass the application's.
    now = now or utc_datetime(system_clock)
    issued = _instant(assertion.issue_instant, "IssueInstant")
    if issued > now + CLOCK_SKEW:
        raise AssertionRefused("assertion issued in the future (IssueInstant)")
    if issued < now - max_age:
        raise AssertionRefused("assertion too old (IssueInstant)")
    acceptable_until = issued + max_age + CLOCK_SKEW
    conditions = assertion.element.find(f"{{{SAML}}}Conditions")
    if conditions is not None:
        not_before = conditions.get("NotBefore")
        if not_before and now + CLOCK_SKEW < _instant(not_before, "NotBefore"):
            raise AssertionRefused("assertion not yet valid (Conditions/@NotBefore)")
        expires = conditions.get("NotOnOrAfter")
        if expires:
            not_on_or_after = _instant(expires, "NotOnOrAfter")
            if now - CLOCK_SKEW >= not_on_or_after:
                raise AssertionRefused("assertion expired (Conditions/@NotOnOrAfter)")
            acceptable_until = min(acceptable_until, not_on_or_after + CLOCK_SKEW)
    return acceptable_until


def replay_key(assertion: Assertion, certificate: x509.Certificate) -> str:
    """Store key remembering a used assertion: its ``ID`` and its signer's certificate (two
    cards may pick the same ``ID``; one card may not reuse one)."""
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    return keys.INSI_ASSERTION_USED.key(keys.digest(f"{fingerprint}|{assertion.id}"))


def signing_certificate(assertion: Assertion) -> x509.Certificate:
    """The certificate in ``ds:Signature/ds:KeyInfo/ds:X509Data`` (the first one)."""
    text = assertion.element.findtext(
        f"{{{DS}}}Signature/{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"
    )
    if not text:
        raise AssertionRefused("no X509Certificate in the signature's KeyInfo")
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise AssertionRefused("unreadable X509Certificate in the signature's KeyInfo") from None


def verify_signature(assertion: Assertion, certificate: x509.Certificate) -> Assertion:
    """Check the enveloped signature with ``certificate``; return the assertion as signed
    (read from signxml's verified copy, never from the request tree)."""
    try:
        result = XMLVerifier().verify(
            assertion.element,
            x509_cert=certificate,
            expect_config=_CONFIG,
            id_attribute="ID",
        )
    except (SignXMLException, InvalidInput, ValueError) as exc:
        raise AssertionRefused(f"invalid assertion signature: {exc}") from None
    # A list only comes back when several references are expected (expect_references > 1).
    signed = result.signed_xml if isinstance(result, VerifyResult) else None
    if signed is None or signed.tag != _ASSERTION or signed.get("ID") != assertion.id:
        raise AssertionRefused("the signature does not cover the whole assertion")
    return _read(signed, signed=True)


# -- making assertions (tests, benchmarks, developers' clients) ------------------------------
def build_assertion(
    *,
    name_id: str,
    qualifier: str = QUALIFIER_CPS,
    issuer: str = "",
    attributes: dict[str, str] | None = None,
    issue_instant: datetime.datetime | None = None,
    lifetime: datetime.timedelta | None = None,
) -> etree._Element:
    """An unsigned assertion in the shape of docs/reference/insi-teleservice.md §7 (add a signature
    with
    :func:`sign_assertion` for the CPx mode)."""
    # Assertions are built by clients of the teleservice (tests, benchmarks): their own clock.
    now = issue_instant or utc_datetime(system_clock)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    root = etree.Element(
        _ASSERTION,
        nsmap={None: SAML},
        ID=f"_{uuid.uuid4()}",
        IssueInstant=stamp,
        Version="2.0",
    )
    issuer_element = etree.SubElement(root, f"{{{SAML}}}Issuer", Format=NAMEID_X509)
    issuer_element.text = issuer or name_id
    subject = etree.SubElement(root, f"{{{SAML}}}Subject")
    name = etree.SubElement(subject, f"{{{SAML}}}NameID", NameQualifier=qualifier)
    name.text = name_id
    if lifetime is not None:
        etree.SubElement(
            root,
            f"{{{SAML}}}Conditions",
            NotBefore=stamp,
            NotOnOrAfter=(now + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    if attributes:
        statement = etree.SubElement(root, f"{{{SAML}}}AttributeStatement")
        for key, value in attributes.items():
            attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=key)
            etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
    return root


def sign_assertion(
    assertion: etree._Element, certificate: x509.Certificate, key: PrivateKey
) -> etree._Element:
    """``assertion`` signed as a CPS card signs it (enveloped, exc-c14n, rsa-sha256, sha256,
    ``Reference URI="#ID"``, certificate in ``KeyInfo``); the signature goes right after
    ``Issuer`` as the SAML schema requires (SAML 2.0 Core §2.3.3)."""
    issuer = assertion.find(f"{{{SAML}}}Issuer")
    assertion_id = assertion.get("ID")
    if issuer is None or not assertion_id:
        raise ValueError("a SAML assertion to sign needs an Issuer and an ID")
    placeholder = etree.Element(_SIGNATURE, nsmap={"ds": DS}, Id="placeholder")
    issuer.addnext(placeholder)
    signer = XMLSigner(
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=EXC_C14N,
    )
    signer.namespaces = {"ds": DS}
    return signer.sign(
        assertion,
        key=private_key_pem(key),
        cert=[certificate_pem(certificate).decode()],
        reference_uri="#" + assertion_id,
        id_attribute="ID",
    )


def card_assertion(
    certificate: x509.Certificate,
    key: PrivateKey,
    national_id: str,
    *,
    structure: str = "",
    speciality: str = "",
    sector: str = "SA05",
) -> etree._Element:
    """A signed CPx assertion for the card (``certificate``, ``key``) of ``national_id``."""
    return sign_assertion(
        build_assertion(
            name_id=national_id,
            qualifier=QUALIFIER_CPS,
            issuer=name_text(certificate.subject),
            attributes={
                "identifiantFacturation": structure,
                "codeSpecialiteAMO": speciality,
                "secteurActivite": sector,
            },
        ),
        certificate,
        key,
    )


def security_header(*assertions: etree._Element) -> etree._Element:
    """``wsse:Security`` holding ``assertions``."""
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    security.extend(assertions)
    return security

"""Constants and a two-level authority shared by the CPS-card tests."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID

from santeid.pki import CLIENT_AUTH
from santeid.pki import SERVER_AUTH
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import generate_private_key
from santeid.pki import private_key_pem
from santeid.pki import subject_name
from santeid.pki import write_pem

#: Demo professionals (src/santeid/directory/demo_professionals.json).
ACTIVE_ID = "810000000004"  # LEGRAND Antoine: no e-CPS, not auto-approved
INACTIVE_ID = "810000000024"  # FABRE Odile: status inactive
UNKNOWN_ID = "810000000099"  # absent from the directory

#: End-entity certificates by the purposes they are issued for — (keyUsage names,
#: extendedKeyUsage) for ``santeid.pki.issue_certificate`` — with what
#: ``santeid.pki.client_purpose_refusal`` says of each, None where a TLS handshake takes it as
#: a client's: OpenSSL's SSL client purpose (``check_purpose_ssl_client``, crypto/x509/v3_purp.c)
#: wants ``clientAuth`` in an extendedKeyUsage (``anyExtendedKeyUsage`` does not do) and
#: ``digitalSignature`` or ``keyAgreement`` in a keyUsage. Behind a proxy that checks no chain
#: the application refuses the same ones (``tls_client_auth`` clients, INSi establishments).
PURPOSES: dict[str, tuple[tuple[str, ...], tuple[x509.ObjectIdentifier, ...], str | None]] = {
    "no-eku": (("digital_signature",), (), None),
    "key-agreement": (("key_agreement",), (CLIENT_AUTH,), None),
    "server-only": (("digital_signature",), (SERVER_AUTH,),
                    "its extendedKeyUsage (serverAuth) does not list clientAuth"),
    "any-eku": (("digital_signature",), (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,),
                "its extendedKeyUsage (anyExtendedKeyUsage) does not list clientAuth"),
    "encipherment-only": (("key_encipherment",), (),
                          "its keyUsage (keyEncipherment) asserts neither digitalSignature nor "
                          "keyAgreement"),
}  # fmt: skip
#: The names of :data:`PURPOSES` a TLS handshake takes as a client's.
FIT_FOR_A_TLS_CLIENT = sorted(name for name, purpose in PURPOSES.items() if purpose[2] is None)
#: The others, with why: ``(name, refusal)`` pairs.
UNFIT_FOR_A_TLS_CLIENT = sorted(
    (name, refusal) for name, (_, _, refusal) in PURPOSES.items() if refusal is not None
)


def signed_certificate(
    subject: x509.Name,
    key,
    issuer: x509.Name,
    issuer_key,
    *,
    ca: bool = True,
    valid: tuple[datetime.datetime, datetime.datetime] | None = None,
    twice: x509.ExtensionType | None = None,
    latin1_title: bool = False,
) -> x509.Certificate:
    """A certificate of ``subject`` (its ``key``) signed by ``issuer_key``: an authority
    (``cA=TRUE``, ``keyCertSign``) unless ``ca`` is false; valid from five minutes ago for 30
    days unless ``valid`` (not before, not after) says otherwise — an expired authority, say;
    with the extension ``twice`` in it twice (:func:`with_extension_twice`); with
    ``latin1_title``, its names' title :data:`TITLE_DRAFT` in Latin-1
    (:func:`with_latin1_title`)."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = valid or (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        builder = builder.add_extension(usage, critical=True).add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    )
    if twice is not None:
        return with_extension_twice(builder, twice, issuer_key)
    if latin1_title:
        return with_latin1_title(builder, issuer_key)
    return builder.sign(issuer_key, hashes.SHA256())


def machine_authority(folder: Path) -> TestAuthority:
    """The authority of ``tls_client_auth`` clients' certificates (``tls_client_auth_ca_file``),
    made in ``folder`` on first use."""
    return TestAuthority.load_or_create(
        folder, "machine-ca", common_name="TEST AC MACHINES", key_type="ec-p256"
    )


def igc_like_authorities(folder: Path) -> tuple[TestAuthority, TestAuthority]:
    """IGC-Santé's shape (docs/cps-card.md, "Production"): a root, and the issuing authority
    it signed ("… FORT PERSONNES"), which signs the cards. Written to ``folder`` as
    ``root.pem``/``.key`` and ``issuing.pem``/``.key``; returns (root, issuing)."""
    root_key, issuing_key = generate_private_key("ec-p256"), generate_private_key("ec-p256")
    root_name = subject_name(common_name="TEST AC RACINE IGC-SANTE", country="FR")
    issuing_name = subject_name(common_name="TEST AC IGC-SANTE FORT PERSONNES", country="FR")
    root = signed_certificate(root_name, root_key, root_name, root_key)
    issuing = signed_certificate(issuing_name, issuing_key, root_name, root_key)
    authorities = []
    for name, certificate, key in (("root", root, root_key), ("issuing", issuing, issuing_key)):
        cert_path, key_path = TestAuthority.paths(folder, name)
        folder.mkdir(parents=True, exist_ok=True)
        write_pem(key_path, private_key_pem(key), mode=0o600)
        write_pem(cert_path, certificate_pem(certificate), mode=0o644)
        authorities.append(TestAuthority.load(folder, name))
    return authorities[0], authorities[1]


#: A certificate extension type no one defines (``id-ce`` 99): the placeholder under which
#: :func:`with_extension_twice` signs the second copy of an extension.
_PLACEHOLDER = x509.ObjectIdentifier("2.5.29.99")


def with_extension_twice(
    builder: x509.CertificateBuilder, extension: x509.ExtensionType, issuer_key
) -> x509.Certificate:
    """What ``builder`` makes, signed by ``issuer_key`` (SHA-256), with ``extension`` in it
    twice — which RFC 5280 §4.2 forbids ("A certificate MUST NOT include more than one
    instance of a particular extension") and cryptography's builder refuses. ``extension``
    is an ``id-ce`` one (``2.5.29.n``, n < 128: keyUsage, extendedKeyUsage…): its second copy
    goes in under a placeholder type whose encoding has the same length, renamed in the
    bytes to sign, which are signed again."""
    placeholder = x509.UnrecognizedExtension(_PLACEHOLDER, extension.public_bytes())
    builder = builder.add_extension(extension, critical=False)
    draft = builder.add_extension(placeholder, critical=False).sign(issuer_key, hashes.SHA256())
    der = draft.public_bytes(serialization.Encoding.DER)
    tbs = draft.tbs_certificate_bytes
    renamed = tbs.replace(_oid_der(_PLACEHOLDER), _oid_der(extension.oid))
    assert tbs.count(_oid_der(_PLACEHOLDER)) == 1 and len(renamed) == len(tbs)
    return x509.load_der_x509_certificate(_signed_again(der, renamed, issuer_key))


#: The title :func:`with_latin1_title` rewrites: ``Médecin`` with a placeholder for the ``é``.
TITLE_DRAFT = "MXdecin"
#: DER tags of the string types :func:`latin1_title_der` writes.
TELETEX_STRING = 0x14
IA5_STRING = 0x16


def with_latin1_title(builder: x509.CertificateBuilder, issuer_key) -> x509.Certificate:
    """:func:`latin1_title_der` with a TeletexString: a certificate cryptography loads, but
    whose name (subject, issuer or both) raises ``ValueError`` when asked for."""
    return x509.load_der_x509_certificate(latin1_title_der(builder, issuer_key))


def latin1_title_der(
    builder: x509.CertificateBuilder, issuer_key, *, tag: int = TELETEX_STRING
) -> bytes:
    """The DER of what ``builder`` makes (its subject, its issuer or both holding the title
    :data:`TITLE_DRAFT`), signed by ``issuer_key`` (SHA-256), with that title ``M\\xe9decin``
    — Latin-1, as older European certificates write accents — in a string of type ``tag``.
    OpenSSL reads such a name either way (a TLS handshake and nginx take the certificate);
    cryptography loads a certificate with a TeletexString but raises ``ValueError`` when the
    name is asked for, and cannot load one with an IA5String (as in an e-mail address) at
    all."""
    draft = builder.sign(issuer_key, hashes.SHA256())
    tbs = draft.tbs_certificate_bytes
    # The UTF8String the builder wrote (tag 0x0C) becomes a string of type ``tag``.
    utf8 = _der(0x0C, TITLE_DRAFT.encode())
    assert utf8 in tbs, "the builder's subject or issuer holds no TITLE_DRAFT title"
    latin1 = tbs.replace(utf8, _der(tag, TITLE_DRAFT.replace("X", "\xe9").encode("latin-1")))
    return _signed_again(draft.public_bytes(serialization.Encoding.DER), latin1, issuer_key)


def _signed_again(der: bytes, tbs: bytes, issuer_key) -> bytes:
    """The DER of the certificate ``der`` with ``tbs`` (same length or not) as its
    to-be-signed part, signed by ``issuer_key`` with SHA-256, the algorithm ``der`` names."""
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    else:
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    # Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    body_start, _ = _der_header(der, 0)
    algorithm_start = _der_end(der, body_start)
    algorithm = der[algorithm_start : _der_end(der, algorithm_start)]
    content = tbs + algorithm + _der(0x03, b"\x00" + signature)
    return _der(0x30, content)


def _oid_der(oid: x509.ObjectIdentifier) -> bytes:
    arcs = [int(arc) for arc in oid.dotted_string.split(".")]
    assert arcs[:3] == [2, 5, 29] and arcs[3] < 128 and len(arcs) == 4, oid
    return bytes([0x06, 3, 40 * 2 + 5, 29, arcs[3]])


def _der_header(der: bytes, at: int) -> tuple[int, int]:
    """Where the value of the DER element at ``at`` starts, and its length."""
    length = der[at + 1]
    if length < 0x80:
        return at + 2, length
    count = length & 0x7F
    return at + 2 + count, int.from_bytes(der[at + 2 : at + 2 + count], "big")


def _der_end(der: bytes, at: int) -> int:
    start, length = _der_header(der, at)
    return start + length


def _der(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    size = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value

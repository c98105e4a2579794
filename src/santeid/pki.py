"""A small test PKI: self-signed test authorities and the certificates they issue.

Real deployments chain to IGC-Santé (the ANS public-key infrastructure,
docs/reference/pro-sante-connect.md §3; its
"TEST AC IGC-SANTE …" authorities in qualification, docs/reference/insi-teleservice.md §7). Tests,
the sandbox and
developers need the same shapes without ANS: this module makes them with ``cryptography``.

* :class:`TestAuthority` — a self-signed certification authority kept as two PEM files in a
  directory (``{name}.pem`` 0644, ``{name}.key`` 0600), created **once** and reused: every
  later call, in any process, loads the same key and certificate.
* :func:`issue_certificate` — an end-entity certificate (RFC 5280 §4.1) with the subject,
  key type, validity, key usage, extended key usages and serial number the caller chooses.
* :func:`issue_server_certificate` — a TLS server certificate for the dev server.
* :func:`subject_name` and the PEM helpers (:func:`write_credentials` writes ``cert.pem``,
  ``key.pem`` and ``ca.pem``, the bundle every ``santeid … issue-…`` command hands out).
* The trust rules every client-certificate check shares (CPS cards, INSi establishments,
  ``tls_client_auth`` clients): :func:`trust_anchor_file` (the configured authorities, a test
  authority in sandbox mode only), :func:`authorities_in` (reading them) and
  :func:`issuing_authority` (RFC 5280 §6.1, one step; :func:`untrusted_issuer_reason` says why
  it found none); and, for CPS cards and ``tls_client_auth`` clients, the purposes the
  certificate may serve (:func:`client_purpose_refusal`), its extensions read by
  :func:`certificate_extensions` (a repeated or malformed one is a refusal, not an error).

Users: CPS card certificates (``santeid.cps``), the dev TLS certificate (``santeid tls
dev-cert``) and INSi establishment certificates (CN ``INSI-AUTO`` / ``INSI-MANU``,
docs/reference/insi-teleservice.md §7).
Nothing here is meant for production keys: private keys are written unencrypted.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import functools
import ipaddress
import os
import tempfile
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from typing import get_args

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

__all__ = [
    "CLIENT_AUTH",
    "SERVER_AUTH",
    "KeyType",
    "PKIError",
    "PrivateKey",
    "TestAuthority",
    "authorities_in",
    "certificate_extensions",
    "certificate_name",
    "certificate_pem",
    "client_purpose_refusal",
    "generate_private_key",
    "issue_certificate",
    "issuing_authority",
    "check_server_host",
    "issue_server_certificate",
    "load_certificates",
    "load_private_key",
    "name_text",
    "private_key_pem",
    "serial_hex",
    "subject_name",
    "trust_anchor_file",
    "untrusted_issuer_reason",
    "write_credentials",
    "write_pem",
]

#: RFC 5280 §4.2.1.12 ``id-kp-clientAuth`` / ``id-kp-serverAuth``.
from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.settings.base import HOST_NAME_SYNTAX
from santeid.settings.base import ConfigurationError
from santeid.settings.base import is_host_name

CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

#: Key algorithms on offer. CPS cards and IGC-Santé use RSA; EC keys are quicker for tests.
KeyType = Literal["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Leeway subtracted from "now" for ``notBefore``: a machine whose clock is a little behind
#: must not see a certificate issued a second ago as not yet valid.
CLOCK_SKEW = datetime.timedelta(minutes=5)

#: ``KeyUsage`` flag names accepted by :func:`issue_certificate` (RFC 5280 §4.2.1.3).
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
)


class PKIError(Exception):
    """A test authority or certificate file cannot be used; the message says what to do."""


def _now() -> datetime.datetime:
    # Test certificates are dated by the machine that makes them (commands, start-up); a
    # caller that needs another date passes ``not_before``/``not_after``.
    return utc_datetime(system_clock)


def generate_private_key(key_type: KeyType = "rsa-2048") -> PrivateKey:
    """A new private key of ``key_type``."""
    if key_type.startswith("rsa-"):
        size = int(key_type.removeprefix("rsa-"))
        if size not in (2048, 3072, 4096):
            raise PKIError(f"unsupported RSA key size {size}")
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    curves: dict[str, ec.EllipticCurve] = {"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1()}
    if key_type not in curves:
        raise PKIError(f"unsupported key type {key_type!r}: one of {', '.join(get_args(KeyType))}")
    return ec.generate_private_key(curves[key_type])


def subject_name(
    *,
    common_name: str,
    country: str | None = None,
    organization: str | None = None,
    organizational_unit: str | None = None,
    title: str | None = None,
    surname: str | None = None,
    given_name: str | None = None,
    serial_number: str | None = None,
) -> x509.Name:
    """A distinguished name (RFC 5280 §4.1.2.6) in the order IGC-Santé certificates use:
    ``C, O, OU, title, SN, GN, serialNumber, CN`` — attributes left at ``None`` are omitted.

    Examples: a CPS card ``subject_name(common_name="810000000004", country="FR",
    surname="LEGRAND", given_name="ANTOINE", title="Médecin")``; an INSi establishment
    certificate ``subject_name(common_name="INSI-AUTO", country="FR",
    organizational_unit="<FINESS or SIRET>", organization="<structure name>")``.
    """
    parts: list[tuple[x509.ObjectIdentifier, str | None]] = [
        (NameOID.COUNTRY_NAME, country),
        (NameOID.ORGANIZATION_NAME, organization),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit),
        (NameOID.TITLE, title),
        (NameOID.SURNAME, surname),
        (NameOID.GIVEN_NAME, given_name),
        (NameOID.SERIAL_NUMBER, serial_number),
        (NameOID.COMMON_NAME, common_name),
    ]
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value])


#: Short names for display (RFC 4514 only knows CN, O, OU, C… and prints the rest as OIDs).
_SHORT_NAMES = {NameOID.GIVEN_NAME: "GN", NameOID.SURNAME: "SN", NameOID.TITLE: "T"}


def name_text(name: x509.Name) -> str:
    """``name`` as an RFC 4514 string with the usual short names for GN, SN and title."""
    return name.rfc4514_string(_SHORT_NAMES)


def serial_hex(certificate: x509.Certificate) -> str:
    """The serial number as upper-case hexadecimal, as ``openssl x509 -serial`` prints it."""
    return format(certificate.serial_number, "X")


# -- PEM ------------------------------------------------------------------------------------
def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``): test keys only."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pem(path: Path | str, data: bytes, *, mode: int) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, then rename) with ``mode``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_certificates(path: Path | str) -> list[x509.Certificate]:
    """Every certificate of a PEM file (a bundle may hold several)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PKIError(f"{path}: not a PEM certificate file ({exc})") from None
    return certificates


def load_private_key(path: Path | str) -> PrivateKey:
    path = Path(path)
    try:
        key = _parse_private_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise PKIError(f"{path}: cannot load an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PKIError(f"{path}: only RSA and EC keys are supported")
    return key


@functools.lru_cache(maxsize=32)
def _parse_private_key(pem: bytes) -> PrivateKeyTypes:
    """The key of a PEM file, parsed once per process and content: parsing an RSA private key
    checks it, ≈ 0.14 s of CPU for the authorities' 3072-bit keys (0.06 s for 2048 bits)
    (https://cryptography.io/en/latest/hazmat/primitives/asymmetric/serialization/#cryptography.hazmat.primitives.serialization.load_pem_private_key),
    and an authority's key is read again for every certificate it issues. A changed file is
    new content, parsed again; a key object is immutable, so sharing it is safe."""
    return serialization.load_pem_private_key(pem, password=None)


def write_credentials(
    out_dir: Path | str,
    certificate: x509.Certificate,
    key: PrivateKey,
    authority: TestAuthority,
) -> dict[str, Path]:
    """Write ``cert.pem`` (0644), ``key.pem`` (0600) and ``ca.pem`` (0644, the authority's
    certificate: what the other side must trust) into ``out_dir``; return the three paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "cert": write_pem(out / "cert.pem", certificate_pem(certificate), mode=0o644),
        "key": write_pem(out / "key.pem", private_key_pem(key), mode=0o600),
        "ca": write_pem(out / "ca.pem", certificate_pem(authority.certificate), mode=0o644),
    }


# -- authorities ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TestAuthority:
    """A self-signed test certification authority stored as ``{directory}/{name}.pem`` and
    ``{directory}/{name}.key``.

    ``load_or_create`` makes it once; concurrent callers (several workers, parallel
    commands) serialise on ``.{name}.lock`` and all end up with the same authority.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    name: str
    directory: Path
    certificate: x509.Certificate
    private_key: PrivateKey

    #: Lifetime of a new authority.
    VALIDITY = datetime.timedelta(days=3650)

    @staticmethod
    def paths(directory: Path | str, name: str) -> tuple[Path, Path]:
        """``(certificate file, key file)`` of the authority ``name`` in ``directory``."""
        directory = Path(directory)
        return directory / f"{name}.pem", directory / f"{name}.key"

    @property
    def cert_path(self) -> Path:
        return self.paths(self.directory, self.name)[0]

    @property
    def key_path(self) -> Path:
        return self.paths(self.directory, self.name)[1]

    @property
    def common_name(self) -> str:
        values = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else ""

    @classmethod
    def load(cls, directory: Path | str, name: str) -> TestAuthority | None:
        """The authority if both of its files exist, else ``None``."""
        directory = Path(directory)
        cert_path, key_path = cls.paths(directory, name)
        if not cert_path.exists() and not key_path.exists():
            return None
        if not (cert_path.exists() and key_path.exists()):
            present, missing = (
                (cert_path, key_path) if cert_path.exists() else (key_path, cert_path)
            )
            raise PKIError(
                f"test authority {name!r}: {present} exists but {missing} does not; "
                "restore it, or delete both files to create a new authority"
            )
        certificates = load_certificates(cert_path)
        return cls(
            name=name,
            directory=directory,
            certificate=certificates[0],
            private_key=load_private_key(key_path),
        )

    @classmethod
    def load_or_create(
        cls,
        directory: Path | str,
        name: str,
        *,
        common_name: str,
        organization: str = "santeid (TEST)",
        key_type: KeyType = "rsa-3072",
    ) -> TestAuthority:
        """The authority ``name``, created on first call (self-signed, 10 years, RFC 5280
        §4.2.1.9 ``cA=TRUE, pathLen=0``). Later calls return it unchanged, whatever
        ``common_name`` they pass."""
        directory = Path(directory)
        try:
            existing = cls.load(directory, name)
        except PKIError:
            # Half an authority outside the lock may be one being written right now (key
            # first): decide under the lock, where half an authority is a real error.
            existing = None
        if existing is not None:
            return existing
        with _locked(directory, name):
            existing = cls.load(directory, name)  # another process may have just made it
            if existing is not None:
                return existing
            key = generate_private_key(key_type)
            certificate = _self_signed(key, common_name=common_name, organization=organization)
            cert_path, key_path = cls.paths(directory, name)
            # Key first: a certificate on disk always has its key next to it.
            write_pem(key_path, private_key_pem(key), mode=0o600)
            write_pem(cert_path, certificate_pem(certificate), mode=0o644)
            return cls(name=name, directory=directory, certificate=certificate, private_key=key)


def trust_anchor_file(
    configured: str, *, sandbox: bool, keys_dir: Path | str, test_authority: str
) -> Path | None:
    """The PEM file of the authorities one kind of client certificate must be signed by: the
    configured one (``cps_ca_file``, ``insi_ca_file``); else, in sandbox mode only, the test
    authority ``test_authority`` under ``keys_dir`` if it exists; else ``None``: no such
    certificate is accepted.

    Outside sandbox mode a test authority is never implied: its key lies unencrypted in
    ``keys_dir``, so whoever could run the command that issues its certificates (``santeid cps
    issue-card``, ``santeid insi issue-cert``) or read that folder would mint credentials the
    server accepts. Keycloak's X.509 authentication likewise trusts its configured trust store
    only (https://www.keycloak.org/server/mutual-tls)."""
    if configured:
        return Path(configured)
    if not sandbox:
        return None
    cert_path, _ = TestAuthority.paths(keys_dir, test_authority)
    return cert_path if cert_path.exists() else None


def authorities_in(path: Path, setting: str) -> tuple[x509.Certificate, ...]:
    """The certificates of the PEM bundle ``path``, which the setting ``setting`` names
    (``cps_ca_file``, ``insi_ca_file``, ``tls_client_auth_ca_file``), read again when the
    file changes.

    Raises :class:`ConfigurationError` naming ``setting`` when the file
    cannot be read or holds no certificate."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigurationError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    try:
        return _authorities_in(str(path), mtime)
    except PKIError as exc:
        raise ConfigurationError(f"{setting}: {exc}") from None


@functools.lru_cache(maxsize=8)
def _authorities_in(path: str, mtime_ns: int) -> tuple[x509.Certificate, ...]:
    del mtime_ns  # part of the cache key only: a replaced file is read again
    return tuple(load_certificates(path))


def issuing_authority(
    certificate: x509.Certificate,
    authorities: Sequence[x509.Certificate],
    now: datetime.datetime,
) -> x509.Certificate | None:
    """The certificate of ``authorities`` that signed ``certificate`` (RFC 5280 §6.1.3 (a): a
    one-step path, the bundle holding the *issuing* authority, root or not), or None.

    The authority must be a valid CA at ``now``: in its validity period, ``basicConstraints
    cA=TRUE`` (RFC 5280 §4.2.1.9, required) and ``keyCertSign`` if it has a ``keyUsage``
    extension (§4.2.1.3). The signature is verified: a look-alike authority with the same
    name and another key signs nothing here. CPS cards (``santeid.cps.cards``), INSi
    establishment certificates (``santeid.insi.auth``) and ``tls_client_auth`` clients
    (``santeid.oidc.tls_client_auth``) are checked with it."""
    issuer = certificate_name(certificate, "issuer")
    for ca in authorities:
        if ca.subject == issuer and _unfit_issuer(certificate, ca, now) is None:
            return ca
    return None


def certificate_name(
    certificate: x509.Certificate, part: Literal["subject", "issuer"]
) -> x509.Name | None:
    """The ``subject`` or ``issuer`` of ``certificate``, or None when it cannot be decoded.

    cryptography decodes a name only when it is asked for, and raises ``ValueError`` when
    an attribute's bytes are not of its string type — a TeletexString holding Latin-1 accents
    (``M\\xe9decin``), say, which OpenSSL reads: a TLS handshake, and a proxy forwarding
    the certificate, let it through. An unreadable issuer is no trusted authority's name (a
    configured authority's subject has been read), and an unreadable subject names no one
    (RFC 5280 §4.1.2.4, https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.4).
    :func:`issuing_authority`, the CPS card check (``santeid.cps.cards``), the INSi
    establishment certificate check (``santeid.insi.auth``), the ``tls_client_auth`` subject
    DN check (``santeid.oidc.tls_client_auth``) and the sandbox TLS layer's validity check
    (``santeid.tls``) read them through here."""
    try:
        return certificate.subject if part == "subject" else certificate.issuer
    except ValueError:
        return None


def certificate_extensions(certificate: x509.Certificate) -> x509.Extensions | str:
    """The extensions of ``certificate``, or why they cannot be read: one of them repeated
    (RFC 5280 §4.2, https://www.rfc-editor.org/rfc/rfc5280#section-4.2: "A certificate MUST
    NOT include more than one instance of a particular extension"; cryptography raises
    ``DuplicateExtension``, no ``ValueError``), malformed (``ValueError``), or naming an
    x400Address or ediPartyName, general names cryptography does not read
    (``UnsupportedGeneralNameType``). OpenSSL holds the first two invalid, and a TLS handshake
    refuses them; a certificate whose extensions cannot be read is refused wherever they
    matter. Every reading of the extensions of a presented certificate (and of an authority
    of a configured bundle) goes through here."""
    try:
        return certificate.extensions
    except (x509.DuplicateExtension, x509.UnsupportedGeneralNameType, ValueError) as exc:
        return f"its extensions cannot be read ({exc})"


def client_purpose_refusal(certificate: x509.Certificate) -> str | None:
    """Why ``certificate`` may not authenticate a TLS client, or None: the rule a TLS handshake
    applies to a client's end-entity certificate, OpenSSL's SSL client purpose
    (``check_purpose_ssl_client`` and the extensions it reads,
    https://github.com/openssl/openssl/blob/ff194324db89f5ae9b167beec3aca6459b0f63b5/crypto/x509/v3_purp.c):

    * its extensions can be read (:func:`certificate_extensions`);
    * an ``extendedKeyUsage`` extension lists ``clientAuth`` (RFC 5280 §4.2.1.12, "the
      certificate MUST only be used for one of the purposes indicated");
      ``anyExtendedKeyUsage`` alone does not do: OpenSSL keeps it apart from ``clientAuth``
      (``XKU_ANYEKU``), and its handshake refuses such a certificate ("unsuitable certificate
      purpose");
    * a ``keyUsage`` extension asserts ``digitalSignature`` or ``keyAgreement`` (§4.2.1.3);
    * a Netscape certificate type extension (``nsCertType``) includes "SSL client".

    An absent extension allows every purpose. Behind a proxy that checks no chain
    (``ssl_verify_client optional_no_ca``) only this check stands between, say, a TLS
    server's certificate of the same authority and client authentication; over direct TLS
    the handshake has refused the same certificates. CPS cards (``santeid.cps.cards``,
    ``wrong_usage``), ``tls_client_auth`` clients (``santeid.oidc.tls_client_auth``) and INSi
    establishment certificates (``santeid.insi.auth``, ``DESIR_560``) are checked with it."""
    extensions = certificate_extensions(certificate)
    if isinstance(extensions, str):
        return extensions
    with contextlib.suppress(x509.ExtensionNotFound):
        purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if CLIENT_AUTH not in purposes:
            listed = ", ".join(purpose._name for purpose in purposes) or "empty"
            return f"its extendedKeyUsage ({listed}) does not list clientAuth"
    with contextlib.suppress(x509.ExtensionNotFound):
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.key_agreement):
            asserted = ", ".join(_asserted(usage)) or "empty"
            return f"its keyUsage ({asserted}) asserts neither digitalSignature nor keyAgreement"
    with contextlib.suppress(x509.ExtensionNotFound):
        netscape = extensions.get_extension_for_oid(_NETSCAPE_CERT_TYPE).value
        bits = netscape.public_bytes()
        # A DER BIT STRING: tag, length, unused bits, then the bits; "SSL client" is the first.
        if len(bits) < 3 or bits[0] != 0x03 or bits[1] != len(bits) - 2:
            return "its Netscape certificate type is not a BIT STRING"
        if len(bits) == 3 or not bits[3] & 0x80:
            return "its Netscape certificate type does not include SSL client"
    return None


#: The Netscape certificate type extension, which OpenSSL still reads (``NID_netscape_cert_type``).
_NETSCAPE_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")


#: RFC 5280 §4.2.1.3's names of the ``KeyUsage`` bits an end entity may assert (not
#: ``encipherOnly``/``decipherOnly``, which mean something with ``keyAgreement`` only).
_KEY_USAGE_NAMES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "contentCommitment",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}


def _asserted(usage: x509.KeyUsage) -> list[str]:
    return [label for name, label in _KEY_USAGE_NAMES.items() if getattr(usage, name)]


def untrusted_issuer_reason(
    certificate: x509.Certificate,
    authorities: Sequence[x509.Certificate],
    now: datetime.datetime,
) -> str:
    """Why :func:`issuing_authority` found none, for a log line: the bundle holds no
    certificate named as the issuer (an intermediate authority missing beside its root, or
    another authority altogether), or what is wrong with each one it holds under that name."""
    issuer = certificate_name(certificate, "issuer")
    if issuer is None:
        return "its issuer name cannot be read"
    named = [ca for ca in authorities if ca.subject == issuer]
    if not named:
        return (
            f"its issuer {issuer.rfc4514_string()} is not in the file (another "
            "authority, or an intermediate one whose root alone is listed: the file must hold "
            "the authority that signs the certificates itself)"
        )
    return "; ".join(f"{_unfit_issuer(certificate, ca, now)}" for ca in named)


def _unfit_issuer(
    certificate: x509.Certificate, ca: x509.Certificate, now: datetime.datetime
) -> str | None:
    """None if ``ca``, named as ``certificate``'s issuer, is a valid CA at ``now`` whose key
    signed it (:func:`issuing_authority`'s rule); else what fails."""
    named = f"the authority {ca.subject.rfc4514_string()} of the file"
    if not (ca.not_valid_before_utc <= now <= ca.not_valid_after_utc):
        return f"{named} is outside its validity period"
    extensions = certificate_extensions(ca)
    if isinstance(extensions, str):
        return f"{named}: {extensions}"
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None  # RFC 5280 §4.2.1.9: a CA certificate carries basicConstraints
    if constraints is None or not constraints.ca:
        return f"{named} is no CA (basicConstraints cA=TRUE required)"
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        return f"{named} may not sign certificates (keyUsage without keyCertSign)"
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return f"{named} did not sign it (same name, another key)"
    return None


@contextlib.contextmanager
def _locked(directory: Path, name: str) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _self_signed(key: PrivateKey, *, common_name: str, organization: str) -> x509.Certificate:
    name = subject_name(common_name=common_name, country="FR", organization=organization)
    now = _now()
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + TestAuthority.VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


# -- end-entity certificates ----------------------------------------------------------------
def issue_certificate(
    authority: TestAuthority,
    *,
    subject: x509.Name,
    key_type: KeyType = "rsa-2048",
    days: int = 1095,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    key_usage: Iterable[str] = ("digital_signature",),
    extended_key_usages: Sequence[x509.ObjectIdentifier] = (CLIENT_AUTH,),
    serial: int | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    key: PrivateKey | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """An end-entity certificate signed by ``authority``, and its private key.

    Validity is ``not_before`` (default: now minus :data:`CLOCK_SKEW`) to ``not_after``
    (default: ``not_before + days``); pass both in the past for an expired certificate, or
    both in the future for a not-yet-valid one. Extensions (RFC 5280 §4.2): critical
    ``basicConstraints cA=FALSE`` and ``keyUsage`` (``key_usage`` names, see
    :data:`KEY_USAGES`), ``extKeyUsage`` (default ``clientAuth``; empty = omitted),
    subject/authority key identifiers, and ``subjectAltName`` when hosts are given.
    ``serial`` defaults to a random 159-bit number (RFC 5280 §4.1.2.2: at most 20 octets).
    """
    usages = set(key_usage)
    unknown = usages - set(KEY_USAGES)
    if unknown:
        raise PKIError(f"unknown key usage {sorted(unknown)}: choose among {KEY_USAGES}")
    key = key or generate_private_key(key_type)
    start = not_before or (_now() - CLOCK_SKEW)
    end = not_after or (start + datetime.timedelta(days=days))
    if end <= start:
        raise PKIError("not_after must be later than not_before")
    public = key.public_key()
    ca_public = authority.private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.certificate.subject)
        .public_key(public)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                **{name: name in usages for name in KEY_USAGES},
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
    )
    if extended_key_usages:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False
        )
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    certificate = builder.sign(authority.private_key, hashes.SHA256())
    return certificate, key


def check_server_host(host: str) -> None:
    """Raise :class:`PKIError` unless ``host`` can be named by a server certificate: an IP
    address, or a host name in the preferred name syntax a dNSName requires (RFC 5280
    §4.2.1.6, RFC 1123 §2.1; :func:`santeid.settings.base.is_host_name`), at most 253
    characters, its first label possibly ``*`` (RFC 6125 §6.4.3)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return
    name = host[2:] if host.startswith("*.") else host
    if len(host) > 253 or not is_host_name(name):
        raise PKIError(f"{host!r} is neither an IP address nor a host name ({HOST_NAME_SYNTAX})")


def issue_server_certificate(
    authority: TestAuthority,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    *,
    days: int = 397,
) -> tuple[x509.Certificate, PrivateKey]:
    """A TLS server certificate (``serverAuth``, EC P-256) for ``hosts``: IP addresses go
    into ``subjectAltName`` as iPAddress, names as dNSName (RFC 6125 §6.4); the first host
    is also the CN."""
    if not hosts:
        raise PKIError("a server certificate needs at least one host name or address")
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    for host in hosts:
        check_server_host(host)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns_names.append(host)
        else:
            ip_addresses.append(host)
    return issue_certificate(
        authority,
        subject=subject_name(common_name=hosts[0], organization="santeid (TEST)"),
        key_type="ec-p256",
        days=days,
        key_usage=("digital_signature",),
        extended_key_usages=(SERVER_AUTH,),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
    )

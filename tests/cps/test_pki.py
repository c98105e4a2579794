"""The test PKI (``santeid.pki``): authorities made once, certificates that chain."""

from __future__ import annotations

import datetime
import ipaddress
import re
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import Criticality
from cryptography.x509.verification import ExtensionPolicy
from cryptography.x509.verification import PolicyBuilder
from cryptography.x509.verification import Store

from santeid.pki import CLIENT_AUTH
from santeid.pki import KEY_USAGES
from santeid.pki import PKIError
from santeid.pki import TestAuthority
from santeid.pki import client_purpose_refusal
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import issue_server_certificate
from santeid.pki import issuing_authority
from santeid.pki import load_certificates
from santeid.pki import load_private_key
from santeid.pki import name_text
from santeid.pki import serial_hex
from santeid.pki import subject_name
from santeid.pki import untrusted_issuer_reason
from santeid.pki import write_credentials
from tests.support.cps import signed_certificate
from tests.support.paths import ROOT


def _key_usage(*names: str) -> x509.KeyUsage:
    flags = {name: name in names for name in KEY_USAGES}
    return x509.KeyUsage(**flags, key_cert_sign=False, crl_sign=False, encipher_only=False,
                         decipher_only=False)  # fmt: skip


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca(tmp_path) -> TestAuthority:
    return TestAuthority.load_or_create(
        tmp_path / "keys", "unit-ca", common_name="TEST AC UNIT", key_type="ec-p256"
    )


def test_authority_is_created_once_and_reused(tmp_path):
    keys = tmp_path / "keys"
    first = TestAuthority.load_or_create(keys, "cps-test-ca", common_name="TEST AC ONE")
    again = TestAuthority.load_or_create(keys, "cps-test-ca", common_name="ANOTHER NAME")
    assert again.certificate == first.certificate
    assert again.common_name == "TEST AC ONE"  # the name of a later call is ignored
    assert first.cert_path == keys / "cps-test-ca.pem"
    assert first.key_path == keys / "cps-test-ca.key"
    assert _mode(first.key_path) == 0o600
    assert _mode(first.cert_path) == 0o644
    assert _mode(keys) == 0o700
    assert load_private_key(first.key_path).public_key() == first.certificate.public_key()
    # Self-signed CA, RFC 5280 §4.2.1.9 / §4.2.1.3.
    cert = first.certificate
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(first.private_key, rsa.RSAPrivateKey)


def test_a_key_file_is_parsed_once_until_its_content_changes(tmp_path, ca):
    """An authority's key is read for every certificate it issues: parsed (and checked) once
    per content, and a replaced file gives the new key at once."""
    first = load_private_key(ca.key_path)
    assert load_private_key(ca.key_path) is first
    other = TestAuthority.load_or_create(
        tmp_path / "other", "unit-ca", common_name="TEST AC OTHER", key_type="ec-p256"
    )
    ca.key_path.write_bytes(other.key_path.read_bytes())
    replaced = load_private_key(ca.key_path)
    assert replaced.public_key() == other.certificate.public_key()
    assert replaced.public_key() != first.public_key()
    ca.key_path.write_text("not a key")
    with pytest.raises(PKIError, match="cannot load an unencrypted PEM private key"):
        load_private_key(ca.key_path)


def test_concurrent_creation_yields_one_authority(tmp_path):
    keys = tmp_path / "keys"

    def create(_):
        return TestAuthority.load_or_create(
            keys, "race-ca", common_name="TEST AC RACE", key_type="ec-p256"
        ).certificate

    with ThreadPoolExecutor(max_workers=4) as pool:
        certificates = list(pool.map(create, range(8)))
    assert len({serial_hex(c) for c in certificates}) == 1
    assert sorted(p.name for p in keys.iterdir()) == [".race-ca.lock", "race-ca.key", "race-ca.pem"]


def test_half_an_authority_is_an_error_not_a_new_authority(tmp_path, ca):
    ca.key_path.unlink()
    with pytest.raises(PKIError, match="delete both files"):
        TestAuthority.load_or_create(ca.directory, "unit-ca", common_name="TEST AC UNIT")
    assert TestAuthority.load(tmp_path / "elsewhere", "unit-ca") is None


def test_issued_client_certificate_chains_and_carries_the_requested_profile(ca):
    subject = subject_name(
        common_name="810000000004",
        country="FR",
        organization="CABINET",
        surname="LEGRAND",
        given_name="ANTOINE",
        title="Médecin",
    )
    cert, key = issue_certificate(ca, subject=subject, serial=0x1234ABCD, days=10)
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.issuer == ca.certificate.subject
    assert cert.subject == subject
    assert serial_hex(cert) == "1234ABCD"
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert key.public_key() == cert.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=10)
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [CLIENT_AUTH]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki == ski.value.digest
    # IGC-Santé attribute order, with readable short names.
    assert name_text(cert.subject) == (
        "CN=810000000004,GN=ANTOINE,SN=LEGRAND,T=Médecin,O=CABINET,C=FR"
    )
    # cryptography's strict path validation accepts it as a TLS client certificate, once
    # told that card certificates name their holder in the subject, not in subjectAltName.
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store([ca.certificate]))
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    verified = verifier.verify(cert, [])
    assert verified.chain[-1] == ca.certificate


def test_validity_can_be_set_in_the_past_or_the_future(ca):
    now = datetime.datetime.now(datetime.UTC)
    subject = subject_name(common_name="x")
    expired, _ = issue_certificate(
        ca,
        subject=subject,
        key_type="ec-p256",
        not_before=now - datetime.timedelta(days=10),
        not_after=now - datetime.timedelta(days=1),
    )
    assert expired.not_valid_after_utc < now
    future, _ = issue_certificate(
        ca, subject=subject, key_type="ec-p256", not_before=now + datetime.timedelta(days=1)
    )
    assert future.not_valid_before_utc > now
    with pytest.raises(PKIError, match="later"):
        issue_certificate(ca, subject=subject, not_before=now, not_after=now)


def test_key_types_usages_and_errors(ca):
    subject = subject_name(common_name="x")
    cert, key = issue_certificate(
        ca,
        subject=subject,
        key_type="ec-p384",
        key_usage=("digital_signature", "key_encipherment"),
        extended_key_usages=(),
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    with pytest.raises(PKIError, match="unknown key usage"):
        issue_certificate(ca, subject=subject, key_usage=("key_cert_sign",))
    with pytest.raises(PKIError, match="unsupported key type"):
        issue_certificate(ca, subject=subject, key_type="dsa-1024")  # type: ignore[arg-type]


def test_server_certificate_names_every_host(ca):
    cert, _ = issue_server_certificate(ca, ["127.0.0.1", "localhost", "idp.test", "::1"])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "idp.test"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "127.0.0.1"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    verifier = (
        PolicyBuilder()
        .store(Store([ca.certificate]))
        .build_server_verifier(x509.DNSName("idp.test"))
    )
    assert verifier.verify(cert, [])[-1] == ca.certificate
    with pytest.raises(PKIError):
        issue_server_certificate(ca, [])


def test_write_credentials_for_an_insi_establishment_certificate(tmp_path, ca):
    """The shape the INSi issue uses: CN INSI-AUTO, structure id in OU
    (docs/reference/insi-teleservice.md §7)."""
    cert, key = issue_certificate(
        ca,
        subject=subject_name(
            common_name="INSI-AUTO",
            country="FR",
            organization="CLINIQUE DU TEST",
            organizational_unit="10B0152872",
        ),
    )
    files = write_credentials(tmp_path / "out", cert, key, ca)
    assert {name: path.name for name, path in files.items()} == {
        "cert": "cert.pem",
        "key": "key.pem",
        "ca": "ca.pem",
    }
    assert _mode(files["key"]) == 0o600
    assert _mode(files["cert"]) == 0o644
    assert load_certificates(files["cert"]) == [cert]
    assert load_certificates(files["ca"]) == [ca.certificate]
    assert load_private_key(files["key"]).public_key() == cert.public_key()
    assert name_text(cert.subject) == "CN=INSI-AUTO,OU=10B0152872,O=CLINIQUE DU TEST,C=FR"


def test_load_certificates_reports_unreadable_files(tmp_path):
    with pytest.raises(PKIError, match="cannot read"):
        load_certificates(tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(PKIError, match="not a PEM certificate"):
        load_certificates(bad)


def test_a_repeated_extension_is_a_refusal_not_an_error(ca):
    """RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular
    extension". cryptography refuses to read the extensions of such a certificate
    (``DuplicateExtension``, no ``ValueError``): the purpose check refuses it, as OpenSSL
    holds it invalid, rather than fail; and an authority of the bundle with a repeated
    extension signs nothing."""
    now = datetime.datetime.now(datetime.UTC)
    key = generate_private_key("ec-p256")
    subject = subject_name(common_name="logiciel-mtls", country="FR")
    leaf = signed_certificate(subject, key, ca.certificate.subject, ca.private_key, ca=False,
                              twice=x509.ExtendedKeyUsage([CLIENT_AUTH]))  # fmt: skip
    with pytest.raises(x509.DuplicateExtension):
        _ = leaf.extensions
    assert issuing_authority(leaf, [ca.certificate], now) == ca.certificate  # signed
    assert client_purpose_refusal(leaf) == (
        "its extensions cannot be read (Duplicate 2.5.29.37 extension found)"
    )
    authority = signed_certificate(ca.certificate.subject, ca.private_key,
                                   ca.certificate.subject, ca.private_key,
                                   twice=x509.ExtendedKeyUsage([CLIENT_AUTH]))  # fmt: skip
    good, _ = issue_certificate(ca, subject=subject)
    assert issuing_authority(good, [authority], now) is None
    assert untrusted_issuer_reason(good, [authority], now) == (
        "the authority CN=TEST AC UNIT,O=santeid (TEST),C=FR of the file: its extensions cannot "
        "be read (Duplicate 2.5.29.37 extension found)"
    )


#: OpenSSL's Netscape certificate type extension (nsCertType), a BIT STRING: "SSL client" is
#: its first bit, "SSL server" its second.
NETSCAPE_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")


@pytest.mark.parametrize(
    ("extensions", "refusal"),
    [
        ([], None),
        ([x509.ExtendedKeyUsage([CLIENT_AUTH])], None),
        ([x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, CLIENT_AUTH])], None),
        ([x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])],
         "its extendedKeyUsage (serverAuth) does not list clientAuth"),
        ([x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])],
         "its extendedKeyUsage (anyExtendedKeyUsage) does not list clientAuth"),
        ([_key_usage("digital_signature")], None),
        ([_key_usage("key_agreement")], None),
        ([_key_usage("key_encipherment", "data_encipherment")],
         "its keyUsage (keyEncipherment, dataEncipherment) asserts neither digitalSignature "
         "nor keyAgreement"),
        ([x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE, b"\x03\x02\x07\x80")], None),
        ([x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE, b"\x03\x02\x06\x40")],
         "its Netscape certificate type does not include SSL client"),
        ([x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE, b"\x04\x01\x80")],
         "its Netscape certificate type is not a BIT STRING"),
    ],
)  # fmt: skip
def test_the_client_purpose_is_the_tls_handshakes(ca, extensions, refusal):
    """OpenSSL's SSL client purpose for an end-entity certificate, what a TLS handshake
    checks (``check_purpose_ssl_client``, crypto/x509/v3_purp.c): an extendedKeyUsage lists
    ``clientAuth`` — ``anyExtendedKeyUsage`` alone does not do —, a keyUsage asserts
    ``digitalSignature`` or ``keyAgreement``, a Netscape certificate type includes SSL client;
    an absent extension allows every purpose."""
    key = generate_private_key("ec-p256")
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(common_name="logiciel-mtls"))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    certificate = builder.sign(ca.private_key, hashes.SHA256())
    assert client_purpose_refusal(certificate) == refusal


def test_the_documented_example_issues_from_the_insi_authority_santeid_uses(settings, tmp_path):
    """docs/cps-card.md, "For code: the PKI and TLS helpers": its example, run as written on a
    keys folder without an INSi test authority yet, issues an ``INSI-AUTO`` certificate of the
    authority ``santeid insi issue-cert`` and the sandbox's INSi check use — not one of its own
    under the same file name with another CN, which the next ``issue-cert`` would then take."""
    from santeid.insi.auth import INSI_TEST_CA_COMMON_NAME
    from santeid.insi.auth import INSI_TEST_CA_NAME
    from santeid.insi.auth import insi_test_authority

    section = (ROOT / "docs" / "cps-card.md").read_text(encoding="utf-8")
    section = section.split("## For code: the PKI and TLS helpers", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    for path in TestAuthority.paths(settings.keys_path, INSI_TEST_CA_NAME):
        path.unlink(missing_ok=True)
    out_dir = tmp_path / "insi-client"
    exec(block, {"settings": settings, "out_dir": out_dir})  # noqa: S102 - the doc's example

    authority = insi_test_authority(settings)
    assert authority.common_name == INSI_TEST_CA_COMMON_NAME
    (cert,) = load_certificates(out_dir / "cert.pem")
    cert.verify_directly_issued_by(authority.certificate)
    assert load_certificates(out_dir / "ca.pem") == [authority.certificate]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "INSI-AUTO"
    assert client_purpose_refusal(cert) is None

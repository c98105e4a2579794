"""Constants and a two-level authority shared by the CPS-card tests."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

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


def signed_certificate(
    subject: x509.Name,
    key,
    issuer: x509.Name,
    issuer_key,
    *,
    ca: bool = True,
    valid: tuple[datetime.datetime, datetime.datetime] | None = None,
) -> x509.Certificate:
    """A certificate of ``subject`` (its ``key``) signed by ``issuer_key``: an authority
    (``cA=TRUE``, ``keyCertSign``) unless ``ca`` is false; valid from five minutes ago for 30
    days unless ``valid`` (not before, not after) says otherwise — an expired authority, say."""
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
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    ).sign(issuer_key, hashes.SHA256())


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

"""CPS card certificates: the subject format, test cards, and verification at login.

A CPS card (CPS, CPF, CPE…, docs/reference/pro-sante-connect.md §13) holds an IGC-Santé
*authentication* certificate whose
private key never leaves the card; the browser presents it in the TLS handshake after the
professional types the card's PIN. Pro Santé Connect then logs the holder in with
``authMode`` ``CARD`` and ``acr`` ``eidas3`` (docs/reference/pro-sante-connect.md §11).

Subject format
--------------
The holder is named by the **common name, which is the national identifier**
(``nationalId = idType + id``, docs/reference/pro-sante-connect.md §15.1), as in the card
certificate subjects INSi
carries (docs/reference/insi-teleservice.md §7: ``…CN=00B6087510+SN=…,T=Infirmier,C=FR``, the CN
being the holder's
identifier)::

    C=FR, O=<structure>, OU=<structure id>, title=<profession>, SN=<family name>,
    GN=<given name>, CN=<nationalId>

for example ``C=FR, O=CABINET DU PARC, OU=R10000000001, title=Médecin, SN=LEGRAND,
GN=ANTOINE, CN=810000000004``. Only the CN matters to santeid: exactly one CN attribute
(anywhere in the subject, single- or multi-valued RDN), holding a well-formed national
identifier (``santeid.psc.national_id``). ``O``/``OU`` come from the first activity and are
omitted when there is none.

Verification (:func:`verify_card_certificate`) follows RFC 5280 §6.1 for a one-step path: the
card must be signed by a configured CPS authority (``cps_ca_file``, else in sandbox mode
the test authority under ``keys_dir``) that is itself a valid CA, be within its validity
period, be an end-entity certificate usable for TLS client authentication, not be revoked
(``santeid.cps.registry``), and name an active professional of the directory.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.cps.registry import CardRegistry
from santeid.directory import Directory
from santeid.directory import Professional
from santeid.directory.models import PROFESSION_LABELS
from santeid.i18n import MessageError
from santeid.pki import CLIENT_AUTH
from santeid.pki import PrivateKey
from santeid.pki import TestAuthority
from santeid.pki import authorities_in
from santeid.pki import certificate_extensions
from santeid.pki import certificate_name
from santeid.pki import client_purpose_refusal
from santeid.pki import issue_certificate
from santeid.pki import issuing_authority
from santeid.pki import name_text
from santeid.pki import subject_name
from santeid.pki import trust_anchor_file
from santeid.pki import write_credentials
from santeid.psc import proofs
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.settings import Settings

log = logging.getLogger(__name__)

#: The test CPS authority, ``{keys_dir}/cps-test-ca.pem`` and ``.key`` (named after
#: IGC-Santé's "TEST AC IGC-SANTE FORT PERSONNES", docs/reference/insi-teleservice.md §7).
CPS_TEST_CA_NAME = "cps-test-ca"
CPS_TEST_CA_COMMON_NAME = "TEST AC SANTEID CPS PERSONNES"

#: What a card login yields: PSC's ``authMode`` (docs/reference/pro-sante-connect.md §11) and the
#: RFC 8176 method
#: references — smart card, PIN, proof of possession of a hardware-secured key,
#: multiple factors (the ``["sc","pin","mfa","hwk"]`` set ANS defines for CPx,
#: docs/reference/pro-sante-connect.md §11).
CARD_AUTH_MODE = proofs.AUTH_MODE_CARD
CARD_AMR = list(proofs.CARD_AMR)

#: Default lifetime of a test card certificate (CPS cards are renewed every three years).
CARD_VALIDITY_DAYS = 1095

#: Upper bounds of X.520 attributes (RFC 5280 Appendix A): longer values are cut.
_UB_NAME = 64


class CardError(MessageError):
    """A card certificate cannot log anyone in; ``code`` says why (stable, for programs),
    ``message(language)`` says it to the professional.

    Codes: ``no_certificate``, ``untrusted_issuer``, ``expired``, ``not_yet_valid``,
    ``wrong_usage``, ``revoked``, ``no_national_id``, ``unknown_professional``,
    ``inactive_professional``.
    """

    PREFIX = "card"

    @property
    def status(self) -> int:
        """HTTP status of the error page: 400 when nothing usable was presented, else 403."""
        return 400 if self.code in ("no_certificate", "no_national_id") else 403


# -- authorities ----------------------------------------------------------------------------
def card_authority(settings: Settings) -> TestAuthority:
    """The test CPS authority under ``keys_dir``, created on first use."""
    return TestAuthority.load_or_create(
        settings.keys_path, CPS_TEST_CA_NAME, common_name=CPS_TEST_CA_COMMON_NAME
    )


def trusted_authorities_file(settings: Settings) -> Path | None:
    """The PEM file of the authorities cards must be signed by: ``cps_ca_file``; else, in
    sandbox mode only, the test authority's certificate if it exists; else ``None`` (no card
    can be accepted, every card login answers ``untrusted_issuer``).

    Outside sandbox mode the test authority is never implied: its key lies unencrypted in
    ``keys_dir``, and whoever can run ``santeid cps issue-card`` or read that folder would
    mint ``eidas3`` logins for any professional (docs/cps-card.md, "Production"); the rule is
    :func:`santeid.pki.trust_anchor_file`'s, the INSi establishment certificates' too."""
    return trust_anchor_file(
        settings.cps.ca_file,
        sandbox=settings.sandbox.enabled,
        keys_dir=settings.keys_path,
        test_authority=CPS_TEST_CA_NAME,
    )


def trusted_authorities(settings: Settings) -> tuple[x509.Certificate, ...]:
    """The certificates of the trusted CPS authorities (re-read when the file changes).

    Raises :class:`ConfigurationError` when ``cps_ca_file`` is set but unusable.
    """
    path = trusted_authorities_file(settings)
    return () if path is None else authorities_in(path, "cps_ca_file")


# -- subject --------------------------------------------------------------------------------
def card_subject(professional: Professional) -> x509.Name:
    """The subject of ``professional``'s card certificate (format in the module docstring)."""
    structure = None
    for exercice in professional.exercices:
        for activity in exercice.activities:
            if activity.structure is not None:
                structure = activity.structure
                break
        if structure is not None:
            break
    profession = professional.professions[0] if professional.professions else ""
    return subject_name(
        common_name=professional.national_id,
        country="FR",
        organization=(structure.raison_sociale[:_UB_NAME] or None) if structure else None,
        organizational_unit=(structure.identifiant_technique[:_UB_NAME] or None)
        if structure
        else None,
        title=PROFESSION_LABELS.get(profession, "")[:_UB_NAME] or None,
        surname=professional.family_name or None,
        given_name=professional.given_name or None,
    )


def national_id_from_subject(subject: x509.Name | None) -> str:
    """The national identifier a card subject names (its one CN); raises
    :class:`CardError` ``no_national_id`` otherwise, and for ``None``: a subject that cannot
    be read (:func:`santeid.pki.certificate_name`)."""
    names = [] if subject is None else subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) == 1 and isinstance(names[0].value, str):
        try:
            national_id = parse_national_id(names[0].value)
        except NationalIdError:
            pass
        else:
            # The CN must be the identifier as written in the directory, not something
            # parse_national_id had to tidy up (spaces, lower-case "ans").
            if national_id.value == names[0].value:
                return national_id.value
    raise CardError("no_national_id")


# -- issuing test cards ---------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedCard:
    national_id: str
    certificate: x509.Certificate
    private_key: PrivateKey
    authority: TestAuthority
    #: ``cert``, ``key`` and ``ca`` files written by ``issue_test_card(out_dir=…)``.
    files: dict[str, Path] = field(default_factory=dict)


def issue_test_card(
    settings: Settings,
    professional: Professional,
    *,
    days: int = CARD_VALIDITY_DAYS,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    registry: CardRegistry | None = None,
    out_dir: Path | None = None,
) -> IssuedCard:
    """A card certificate (RSA 2048, as CPS3 cards; ``clientAuth``, ``digitalSignature``)
    for ``professional``, signed by the test authority and recorded in the registry.

    With ``out_dir``, ``cert.pem``, ``key.pem`` and ``ca.pem`` are written there first
    (:func:`santeid.pki.write_credentials`): a card whose key could not be written raises
    ``OSError`` and is never recorded, so no listed card lacks its key."""
    authority = card_authority(settings)
    certificate, key = issue_certificate(
        authority,
        subject=card_subject(professional),
        key_type="rsa-2048",
        days=days,
        not_before=not_before,
        not_after=not_after,
        key_usage=("digital_signature",),
        extended_key_usages=(CLIENT_AUTH,),
    )
    files = {} if out_dir is None else write_credentials(out_dir, certificate, key, authority)
    (registry or CardRegistry.for_settings(settings)).record_issued(
        certificate, professional.national_id
    )
    return IssuedCard(professional.national_id, certificate, key, authority, files)


# -- verification ---------------------------------------------------------------------------
def _check_usage(certificate: x509.Certificate) -> None:
    """End-entity certificate for TLS client authentication: fit for a TLS client as a
    handshake checks it (:func:`santeid.pki.client_purpose_refusal`, which refuses
    extensions that cannot be read too), and besides, as a card: not a CA (RFC 5280
    §4.2.1.9), a ``keyUsage`` that asserts ``digitalSignature`` (§4.2.1.3: a card signs, the
    handshake's and the CIBA card channel's challenges; ``keyAgreement`` alone, which a
    handshake takes, does not do), no unrecognised critical extension (§4.2)."""
    wrong = CardError("wrong_usage")
    extensions = certificate_extensions(certificate)
    if client_purpose_refusal(certificate) is not None or isinstance(extensions, str):
        raise wrong
    for extension in extensions:
        if extension.critical and isinstance(extension.value, x509.UnrecognizedExtension):
            raise wrong
    with contextlib.suppress(x509.ExtensionNotFound):
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise wrong
    with contextlib.suppress(x509.ExtensionNotFound):
        if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            raise wrong


def verify_card_certificate(
    certificate: x509.Certificate | None,
    settings: Settings,
    *,
    directory: Directory | None = None,
    registry: CardRegistry | None = None,
    now: datetime.datetime | None = None,
) -> str:
    """The national identifier of the professional ``certificate`` logs in, or
    :class:`CardError`.

    Checks, in order: a certificate was presented (``no_certificate``); it is signed by a
    trusted CPS authority (``untrusted_issuer``); ``now`` lies in its validity period
    (``not_yet_valid``, ``expired``); it is an end-entity client-authentication certificate
    (``wrong_usage``); it is not revoked (``revoked``); its CN is a national identifier
    (``no_national_id``) of a professional of the directory (``unknown_professional``) who
    is active (``inactive_professional``). ``directory`` defaults to the one of the settings.
    """
    if certificate is None:
        raise CardError("no_certificate")
    # Without ``now`` (commands, tests): the machine's clock; requests pass the application's.
    now = now or utc_datetime(system_clock)
    authorities = trusted_authorities(settings)
    if issuing_authority(certificate, authorities, now) is None:
        issuer = certificate_name(certificate, "issuer")
        if issuer is None:
            raise CardError("untrusted_issuer", message_key="card.unreadable_issuer")
        raise CardError("untrusted_issuer", issuer=name_text(issuer))
    if now < certificate.not_valid_before_utc:
        start = certificate.not_valid_before_utc
        raise CardError("not_yet_valid", start=start)
    if now > certificate.not_valid_after_utc:
        end = certificate.not_valid_after_utc
        raise CardError("expired", end=end)
    _check_usage(certificate)
    if (registry or CardRegistry.for_settings(settings)).is_revoked(certificate):
        raise CardError("revoked")
    national_id = national_id_from_subject(certificate_name(certificate, "subject"))
    owned = directory is None
    directory = directory or Directory.for_settings(settings)
    try:
        professional = directory.get(national_id)
    finally:
        if owned:
            directory.close()
    if professional is None:
        raise CardError("unknown_professional", national_id=national_id)
    if not professional.is_active:
        raise CardError("inactive_professional", national_id=national_id)
    return national_id

"""``verify_card_certificate``: one test per refusal code, certificates fed directly."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from santeid.cps.cards import CARD_AMR
from santeid.cps.cards import CardError
from santeid.cps.cards import card_subject
from santeid.cps.cards import national_id_from_subject
from santeid.cps.cards import verify_card_certificate
from santeid.pki import CLIENT_AUTH
from santeid.pki import SERVER_AUTH
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.settings import ConfigurationError
from tests.support.cps import ACTIVE_ID
from tests.support.cps import INACTIVE_ID
from tests.support.cps import TITLE_DRAFT
from tests.support.cps import UNKNOWN_ID
from tests.support.cps import igc_like_authorities
from tests.support.cps import signed_certificate


def _refusal(certificate, settings, **kwargs) -> CardError:
    with pytest.raises(CardError) as caught:
        verify_card_certificate(certificate, settings, **kwargs)
    return caught.value


def test_a_valid_card_yields_its_national_id(settings, directory, make_card):
    card = make_card(ACTIVE_ID)
    assert verify_card_certificate(card.certificate, settings, directory=directory) == ACTIVE_ID
    # Without a directory argument, the settings' directory is opened.
    assert verify_card_certificate(card.certificate, settings) == ACTIVE_ID
    assert CARD_AMR == ["sc", "pin", "hwk", "mfa"]


def test_no_certificate(settings, directory):
    error = _refusal(None, settings, directory=directory)
    assert error.code == "no_certificate"
    assert error.status == 400
    assert "Insérez votre carte" in error.message("fr")
    assert "Insert your card" in error.message("en")


def test_card_of_another_authority_is_untrusted(settings, directory, tmp_path, make_card):
    make_card()  # the real test authority exists, but did not sign this one
    other = TestAuthority.load_or_create(
        tmp_path / "other", "other-ca", common_name="AC PIRATE", key_type="ec-p256"
    )
    professional = directory.get(ACTIVE_ID)
    cert, _ = issue_certificate(other, subject=card_subject(professional))
    error = _refusal(cert, settings, directory=directory)
    assert error.code == "untrusted_issuer"
    assert error.status == 403
    assert "AC PIRATE" in error.message_fr and "AC PIRATE" in error.message_en


def test_an_authority_with_the_same_name_but_another_key_is_untrusted(
    settings, directory, tmp_path, authority
):
    """Names are not trust: the signature is verified (RFC 5280 §6.1.3 (a)(1))."""
    impostor = TestAuthority.load_or_create(
        tmp_path / "impostor", "cps-test-ca", common_name=authority.common_name
    )
    assert impostor.certificate.subject == authority.certificate.subject
    cert, _ = issue_certificate(impostor, subject=card_subject(directory.get(ACTIVE_ID)))
    assert _refusal(cert, settings, directory=directory).code == "untrusted_issuer"


def test_without_any_authority_no_card_is_trusted(settings, directory, tmp_path):
    other = TestAuthority.load_or_create(tmp_path / "o", "x", common_name="X", key_type="ec-p256")
    cert, _ = issue_certificate(other, subject=subject_name(common_name=ACTIVE_ID))
    assert not (settings.keys_path / "cps-test-ca.pem").exists()
    assert _refusal(cert, settings, directory=directory).code == "untrusted_issuer"


def test_cps_ca_file_replaces_the_test_authority(settings, directory, tmp_path, make_card):
    card = make_card()
    other = TestAuthority.load_or_create(
        tmp_path / "igc", "igc", common_name="TEST AC IGC-SANTE FORT PERSONNES", key_type="ec-p256"
    )
    bundle = tmp_path / "cps-authorities.pem"
    bundle.write_bytes(certificate_pem(other.certificate))
    configured = settings.replace(cps_ca_file=str(bundle))
    assert _refusal(card.certificate, configured, directory=directory).code == "untrusted_issuer"
    trusted, _ = issue_certificate(other, subject=card_subject(directory.get(ACTIVE_ID)))
    assert verify_card_certificate(trusted, configured, directory=directory) == ACTIVE_ID
    # A bundle of several authorities: any of them may have signed the card.
    bundle.write_bytes(
        certificate_pem(other.certificate) + certificate_pem(card.authority.certificate)
    )
    assert verify_card_certificate(card.certificate, configured, directory=directory) == ACTIVE_ID
    with pytest.raises(ConfigurationError, match="cps_ca_file"):
        verify_card_certificate(
            card.certificate, settings.replace(cps_ca_file=str(tmp_path / "nope.pem"))
        )


def test_cps_ca_file_holds_the_issuing_authority_not_its_root(settings, directory, tmp_path):
    """docs/cps-card.md, "Production": the bundle's issuing authority signs the card directly,
    its root is not needed; a root alone does not vouch for the cards of its sub-authority
    (the TLS layer trusts the same bundle: tests/e2e/test_cps_tls_server.py)."""
    root, issuing = igc_like_authorities(tmp_path / "igc")
    card, _ = issue_certificate(issuing, subject=card_subject(directory.get(ACTIVE_ID)))
    issuing_only = settings.replace(cps_ca_file=str(issuing.cert_path))
    assert verify_card_certificate(card, issuing_only, directory=directory) == ACTIVE_ID
    root_only = settings.replace(cps_ca_file=str(root.cert_path))
    assert _refusal(card, root_only, directory=directory).code == "untrusted_issuer"


def test_expired_card(settings, directory, make_card):
    card = make_card(expired=True)
    error = _refusal(card.certificate, settings, directory=directory)
    assert error.code == "expired"
    assert "a expiré le" in error.message_fr and "expired on" in error.message_en


def test_not_yet_valid_card(settings, directory, make_card):
    card = make_card(not_yet_valid=True)
    assert _refusal(card.certificate, settings, directory=directory).code == "not_yet_valid"
    # ...and valid once its time has come.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    assert verify_card_certificate(card.certificate, settings, directory=directory, now=later)


def test_revoked_card(settings, directory, registry, make_card):
    card = make_card()
    other = make_card()
    registry.revoke(format(card.certificate.serial_number, "x"), "perdue")
    assert _refusal(card.certificate, settings, directory=directory).code == "revoked"
    # Revocation is per certificate: the professional's other card still works.
    assert verify_card_certificate(other.certificate, settings, directory=directory) == ACTIVE_ID


@pytest.mark.parametrize(
    ("key_usage", "ekus"),
    [
        (("digital_signature",), (SERVER_AUTH,)),  # a server certificate, not a card
        (("key_encipherment",), ()),  # an encryption certificate
        # for any purpose but not named for client authentication: a TLS handshake refuses it
        (("digital_signature",), (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,)),
        # fit for a TLS client (OpenSSL's rule), but a card signs: digitalSignature
        (("key_agreement",), (CLIENT_AUTH,)),
    ],
)
def test_certificate_not_meant_for_authentication(settings, directory, authority, key_usage, ekus):
    cert, _ = issue_certificate(
        authority,
        subject=card_subject(directory.get(ACTIVE_ID)),
        key_usage=key_usage,
        extended_key_usages=ekus,
    )
    assert _refusal(cert, settings, directory=directory).code == "wrong_usage"


def test_a_card_with_a_repeated_extension_is_of_the_wrong_usage(settings, directory, authority):
    """RFC 5280 §4.2: an extension at most once; cryptography cannot read the extensions of
    a certificate that repeats one (``DuplicateExtension``): refused, not a server error."""
    key = generate_private_key("rsa-2048")
    card = signed_certificate(card_subject(directory.get(ACTIVE_ID)), key,
                              authority.certificate.subject, authority.private_key, ca=False,
                              twice=x509.ExtendedKeyUsage([CLIENT_AUTH]))  # fmt: skip
    assert _refusal(card, settings, directory=directory).code == "wrong_usage"


def test_a_ca_certificate_is_not_a_card(settings, directory, authority):
    assert _refusal(authority.certificate, settings, directory=directory).code == "wrong_usage"


@pytest.mark.parametrize(
    "common_name", ["ANTOINE LEGRAND", "8100000000", "81000000 0004", "ans20240115093000"]
)
def test_subject_without_a_national_id(settings, directory, authority, common_name):
    cert, _ = issue_certificate(authority, subject=subject_name(common_name=common_name))
    error = _refusal(cert, settings, directory=directory)
    assert error.code == "no_national_id"
    assert error.status == 400


def test_a_card_whose_subject_cannot_be_decoded_names_no_one(settings, directory, authority):
    """A Latin-1 TeletexString in the subject: OpenSSL reads it (the handshake takes the
    card), cryptography raises when asked for the name: refused, not a server error."""
    card = signed_certificate(subject_name(common_name=ACTIVE_ID, title=TITLE_DRAFT),
                              generate_private_key("rsa-2048"), authority.certificate.subject,
                              authority.private_key, ca=False, latin1_title=True)  # fmt: skip
    error = _refusal(card, settings, directory=directory)
    assert (error.code, error.status) == ("no_national_id", 400)


def test_a_certificate_whose_issuer_cannot_be_decoded_is_untrusted(settings, directory, authority):
    """What any browser can present behind nginx's ``optional_no_ca``: a self-signed
    certificate whose name (subject and issuer) cryptography cannot decode."""
    key = generate_private_key("rsa-2048")
    name = subject_name(common_name=ACTIVE_ID, title=TITLE_DRAFT)
    forged = signed_certificate(name, key, name, key, ca=False, latin1_title=True)
    error = _refusal(forged, settings, directory=directory)
    assert (error.code, error.status) == ("untrusted_issuer", 403)
    assert "illisible" in error.message_fr and "cannot be read" in error.message_en


def test_subject_with_two_common_names_is_ambiguous():
    name = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "810000000004"),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "810000000005"),
        ]
    )
    with pytest.raises(CardError, match="no national"):
        national_id_from_subject(name)


def test_multi_valued_rdn_as_in_gip_cps_subjects():
    """``GN=…+CN=…+SN=…, T=…, C=FR`` (docs/reference/insi-teleservice.md §7): the CN is found inside
    the RDN."""
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "FR")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(x509.NameOID.TITLE, "Infirmier")]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(x509.NameOID.GIVEN_NAME, "OLIVIER"),
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "0099500012"),
                    x509.NameAttribute(x509.NameOID.SURNAME, "INFIRMCS"),
                ]
            ),
        ]
    )
    assert national_id_from_subject(name) == "0099500012"


def test_the_test_card_subject_insi_carries_names_its_adeli_holder():
    """The exact subject of docs/reference/insi-teleservice.md §7,
    ``2.5.4.42=OLIVIER+CN=00B6087510+SN=INFIRMCS ADELI8751,T=Infirmier,C=FR``: an ADELI
    number with a capital letter, as an IGC-Santé test card carries it."""
    name = x509.Name.from_rfc4514_string(
        "2.5.4.42=OLIVIER+CN=00B6087510+SN=INFIRMCS ADELI8751,T=Infirmier,C=FR",
        {"T": x509.NameOID.TITLE, "SN": x509.NameOID.SURNAME},
    )
    assert national_id_from_subject(name) == "00B6087510"


def test_every_national_id_kind_round_trips_through_the_subject(directory):
    for national_id in ("810000000001", "0999500012", "ANS20240115093000", "30B6900011/ADM0107"):
        professional = directory.get(national_id)
        assert national_id_from_subject(card_subject(professional)) == national_id


def test_unknown_professional(settings, directory, make_card):
    card = make_card(UNKNOWN_ID)
    error = _refusal(card.certificate, settings, directory=directory)
    assert error.code == "unknown_professional"
    assert UNKNOWN_ID in error.message_fr and "annuaire" in error.message_fr
    assert error.status == 403


def test_inactive_professional(settings, directory, make_card):
    card = make_card(INACTIVE_ID)
    error = _refusal(card.certificate, settings, directory=directory)
    assert error.code == "inactive_professional"
    assert "n'est plus actif" in error.message_fr

"""Authentication of SOAP calls, as INSi does it (docs/reference/insi-teleservice.md §7): a TLS
client certificate CN
INSI-AUTO / INSI-MANU of the INSi CA; a CPS card's signed SAML assertion in ``wsse:Security``;
an unsigned PSC assertion with santeid's access token in ``Authorization: Bearer``. Anything
else gets the insufficient-access fault ``DESIR_560`` (docs/reference/insi-teleservice.md §6)."""

from __future__ import annotations

import datetime
import logging
from urllib.parse import quote

import pytest
from lxml import etree

from santeid.cps.cards import card_subject
from santeid.cps.cards import issue_test_card
from santeid.cps.registry import CardRegistry
from santeid.insi.soap import saml
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import serial_hex
from santeid.pki import subject_name
from tests.support import soap as support
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import register_client
from tests.support.soap import CERT_HEADER
from tests.support.soap import NS
from tests.support.soap import VITALE
from tests.support.soap import envelope
from tests.support.soap import fault_parts
from tests.support.soap import make_certificate
from tests.support.soap import parse
from tests.support.soap import post
from tests.support.soap import traits_body
from tests.support.soap import vitale_body

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

#: A demo professional of the sandbox directory (src/santeid/directory/demo_professionals.json).
CARD_HOLDER = "810000000004"


@pytest.fixture
def client(soap_app):
    return soap_app.test_client()


def body():
    return traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26")


def found(response) -> bool:
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.data).findtext(".//res:CodeCR", namespaces=NS) == "00"


def refused(response) -> dict:
    assert response.status_code == 500, response.get_data(as_text=True)
    parts = fault_parts(response.data)
    assert parts["code"] == "soap:Sender"
    assert parts["erreur_code"] == "DESIR_560"
    assert parts["reason"] == "Niveau d'accès insuffisant"
    assert parts["text"].startswith(
        "Vous ne disposez pas des droits suffisants pour accéder à ce service"
    )
    return parts


def last_audit(app) -> dict:
    return app.extensions["santeid"].insi.audit.rows(limit=1)[0]


# -- certificates ----------------------------------------------------------------------------
@pytest.mark.parametrize("cn", ["INSI-AUTO", "INSI-MANU"])
def test_insi_certificate_is_accepted(client, insi_ca, cn):
    certificate, _ = make_certificate(insi_ca, cn)
    assert found(post(client, envelope(body()), certificate=certificate))


@pytest.mark.parametrize("cn", ["INSI-TEST", "insi-auto", "INSI-AUTO "])
def test_certificate_with_another_cn_is_desir_560(client, insi_ca, cn):
    certificate, _ = make_certificate(insi_ca, cn)
    parts = refused(post(client, envelope(body()), certificate=certificate))
    # The exact text of docs/reference/insi-teleservice.md §6 when the CN is wrong.
    assert parts["text"] == "Vous ne disposez pas des droits suffisants pour accéder à ce service"


def test_certificate_of_another_authority_is_refused(client, tmp_path):
    # Same authority name as the INSi CA, different key: only the signature tells them apart.
    impostor = TestAuthority.load_or_create(
        tmp_path, "impostor", common_name="TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    )
    certificate, _ = make_certificate(impostor, "INSI-AUTO")
    refused(post(client, envelope(body()), certificate=certificate))


def test_certificate_header_from_an_untrusted_address_is_ignored(client, auto_cert, caplog):
    """Ignored and logged, as REST, FHIR and the card login log it (docs/configuration.md,
    ``trusted_proxies``): the operator of a proxy left out of the list learns why."""
    with caplog.at_level(logging.WARNING, logger="santeid.tls"):
        response = client.post(
            "/insi/soap",
            data=envelope(body()),
            headers={
                "Content-Type": "application/soap+xml; charset=utf-8",
                CERT_HEADER: quote(certificate_pem(auto_cert).decode()),
            },
            environ_base={"REMOTE_ADDR": "192.0.2.10"},
        )
    refused(response)
    assert f"{CERT_HEADER} header from 192.0.2.10 ignored" in caplog.text


def test_no_credential_at_all_is_desir_560(client):
    refused(post(client, envelope(body())))


def test_refusals_are_audited(soap_app, client, insi_ca):
    certificate, _ = make_certificate(insi_ca, "INSI-TEST")
    refused(post(client, envelope(body()), certificate=certificate))
    row = last_audit(soap_app)
    assert (row["result"], row["auth_method"], row["channel"]) == (
        "DESIR_560",
        "certificate",
        "soap",
    )


# -- CPS card assertion ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def card(soap_app, soap_settings):
    professional = soap_app.extensions["santeid"].directory.get(CARD_HOLDER)
    return issue_test_card(soap_settings, professional)


def cps_envelope(assertion) -> bytes:
    return envelope(body(), security=saml.security_header(assertion))


def test_signed_cps_assertion_is_accepted(soap_app, client, card):
    assertion = saml.card_assertion(
        card.certificate, card.private_key, CARD_HOLDER, structure="10B0152872"
    )
    assert found(post(client, cps_envelope(assertion)))
    row = last_audit(soap_app)
    assert row["auth_method"] == "cps-assertion"
    assert row["professional_id"] == CARD_HOLDER
    assert row["structure_id"] == "10B0152872"


def test_cps_assertion_survives_reserialisation_in_another_envelope(client, card):
    """Exclusive c14n: namespaces inherited from the envelope do not enter the digest."""
    assertion = saml.card_assertion(card.certificate, card.private_key, CARD_HOLDER)
    data = cps_envelope(etree.fromstring(etree.tostring(assertion)))
    data = data.replace(b"<soap:Envelope ", b'<soap:Envelope xmlns:extra="urn:x" ', 1)
    assert found(post(client, data))


def test_tampered_cps_assertion_is_refused(client, card):
    assertion = saml.card_assertion(
        card.certificate, card.private_key, CARD_HOLDER, structure="10B0152872"
    )
    value = assertion.find(f".//{{{saml.SAML}}}AttributeValue")
    value.text = "99B9999999"
    assert "signature" in refused(post(client, cps_envelope(assertion)))["text"]


def test_cps_assertion_naming_someone_else_is_refused(client, card):
    assertion = saml.sign_assertion(
        saml.build_assertion(name_id="810000000006"), card.certificate, card.private_key
    )
    refused(post(client, cps_envelope(assertion)))


def test_cps_assertion_signed_by_a_card_of_another_authority_is_refused(soap_app, client, tmp_path):
    professional = soap_app.extensions["santeid"].directory.get(CARD_HOLDER)
    other = TestAuthority.load_or_create(
        tmp_path, "cps-impostor", common_name="TEST AC SANTEID CPS PERSONNES"
    )
    certificate, key = issue_certificate(other, subject=card_subject(professional))
    assertion = saml.card_assertion(certificate, key, CARD_HOLDER)
    assert "carte CPS" in refused(post(client, cps_envelope(assertion)))["text"]


def test_cps_assertion_of_a_revoked_card_is_refused(soap_app, soap_settings, client):
    professional = soap_app.extensions["santeid"].directory.get(CARD_HOLDER)
    revoked = issue_test_card(soap_settings, professional)
    CardRegistry.for_settings(soap_settings).revoke(serial_hex(revoked.certificate))
    assertion = saml.card_assertion(revoked.certificate, revoked.private_key, CARD_HOLDER)
    assert "revoked" in refused(post(client, cps_envelope(assertion)))["text"]


def test_old_cps_assertion_is_refused(client, card):
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    assertion = saml.sign_assertion(
        saml.build_assertion(name_id=CARD_HOLDER, issue_instant=old),
        card.certificate,
        card.private_key,
    )
    assert "too old" in refused(post(client, cps_envelope(assertion)))["text"]


def test_unsigned_cps_assertion_is_refused(client):
    refused(post(client, cps_envelope(saml.build_assertion(name_id=CARD_HOLDER))))


def test_a_bad_assertion_is_refused_even_with_a_good_certificate(client, auto_cert):
    data = cps_envelope(saml.build_assertion(name_id=CARD_HOLDER))
    refused(post(client, data, certificate=auto_cert))


# -- carte Vitale: the professional's assertion plus the "assertion CV" -----------------------
# docs/reference/insi-teleservice.md §3, §4, §7 item 4: with a carte Vitale, wsse:Security holds two
# assertions, the professional's (NameQualifier CPS or PSC) and the one made from the card.
def cv_assertion(tmp_path, *, signed: bool = True):
    """An "assertion CV": its NameQualifier is neither CPS nor PSC; signed (when ``signed``)
    with a certificate that is no CPS card."""
    assertion = saml.build_assertion(name_id="297022A020778", qualifier="CV")
    if not signed:
        return assertion
    authority = TestAuthority.load_or_create(
        tmp_path, "vitale", common_name="TEST AC SANTEID CARTE VITALE"
    )
    certificate, key = issue_certificate(
        authority, subject=subject_name(common_name="297022A020778", country="FR")
    )
    return saml.sign_assertion(assertion, certificate, key)


def vitale_envelope(*assertions) -> bytes:
    body = vitale_body(("297022A020778", "78"), "ADRTROIS", "1997-02-26")
    return envelope(body, VITALE, security=saml.security_header(*assertions))


def test_vitale_search_with_cps_then_cv_assertion(soap_app, client, card, tmp_path):
    cps = saml.card_assertion(card.certificate, card.private_key, CARD_HOLDER)
    assert found(post(client, vitale_envelope(cps, cv_assertion(tmp_path)), VITALE))
    row = last_audit(soap_app)
    assert (row["auth_method"], row["professional_id"]) == ("cps-assertion", CARD_HOLDER)


def test_vitale_search_with_cv_then_cps_assertion(soap_app, client, card, tmp_path):
    cps = saml.card_assertion(card.certificate, card.private_key, CARD_HOLDER)
    assert found(post(client, vitale_envelope(cv_assertion(tmp_path), cps), VITALE))
    row = last_audit(soap_app)
    assert (row["auth_method"], row["professional_id"]) == ("cps-assertion", CARD_HOLDER)


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_vitale_search_with_certificate_and_cv_assertion(
    soap_app, client, auto_cert, tmp_path, signed
):
    data = vitale_envelope(cv_assertion(tmp_path, signed=signed))
    assert found(post(client, data, VITALE, certificate=auto_cert))
    assert last_audit(soap_app)["auth_method"] == "certificate"


def test_signed_cv_assertion_alone_is_still_judged_as_a_card(client, tmp_path):
    """Without a certificate nor a CPS/PSC assertion, a signed assertion is taken for the
    card's, as before: a CV certificate is no CPS card."""
    parts = refused(post(client, vitale_envelope(cv_assertion(tmp_path)), VITALE))
    assert "carte CPS refusée" in parts["text"]


def test_an_assertion_verified_at_debug_is_not_logged(soap_app, client, card, tmp_path, caplog):
    """signxml logs at DEBUG every string it canonicalizes: the whole assertion, with the
    patient's NIR of a carte Vitale assertion and the professional's name of a CPS card's
    (docs/security.md#logs). Under ``log_level = "DEBUG"`` none of it reaches the log."""
    cps = saml.card_assertion(card.certificate, card.private_key, CARD_HOLDER)
    data = vitale_envelope(cps, cv_assertion(tmp_path))
    with caplog.at_level(logging.DEBUG):
        assert logging.getLogger("santeid.insi").isEnabledFor(logging.DEBUG)
        assert found(post(client, data, VITALE))
    assert "297022A020778" not in caplog.text
    assert "Assertion" not in caplog.text


# -- Pro Santé Connect assertion + santeid access token ---------------------------------------
@pytest.fixture
def psc_login(soap_app, client):
    """An access token of a sandbox professional (authMode SANDBOX: accepted in sandbox mode)
    and that professional's national identifier."""
    token = Flow(soap_app, client, register_client(soap_app)).full_login()["access_token"]
    claims = soap_app.extensions["santeid"].tokens.verify_access_token(token)
    return token, claims["preferred_username"]


def psc_envelope(national_id: str) -> bytes:
    assertion = saml.build_assertion(
        name_id=national_id,
        qualifier=saml.QUALIFIER_PSC,
        attributes={"identifiantFacturation": "10B0152872", "codeSpecialiteAMO": "01"},
    )
    return cps_envelope(assertion)


def test_psc_assertion_with_a_valid_token_is_accepted(soap_app, client, psc_login):
    token, national_id = psc_login
    response = post(client, psc_envelope(national_id), Authorization=f"Bearer {token}")
    assert found(response)
    row = last_audit(soap_app)
    assert (row["auth_method"], row["professional_id"]) == ("psc-token", national_id)


def test_psc_assertion_with_a_revoked_token_is_refused(soap_app, client, psc_login):
    token, national_id = psc_login
    tokens = soap_app.extensions["santeid"].tokens
    tokens.revoke_access_token(tokens.verify_access_token(token))
    response = post(client, psc_envelope(national_id), Authorization=f"Bearer {token}")
    assert "revoked" in refused(response)["text"]


def test_psc_assertion_without_token_is_refused(client, psc_login):
    refused(post(client, psc_envelope(psc_login[1])))


def test_psc_assertion_of_another_professional_is_refused(client, psc_login):
    token, _ = psc_login
    response = post(client, psc_envelope(CARD_HOLDER), Authorization=f"Bearer {token}")
    refused(response)


def test_token_without_assertion_is_refused(client, psc_login):
    refused(post(client, envelope(body()), Authorization=f"Bearer {psc_login[0]}"))


def test_vitale_search_with_cv_then_psc_assertion(soap_app, client, psc_login, tmp_path):
    token, national_id = psc_login
    psc = saml.build_assertion(name_id=national_id, qualifier=saml.QUALIFIER_PSC)
    data = vitale_envelope(cv_assertion(tmp_path), psc)
    assert found(post(client, data, VITALE, Authorization=f"Bearer {token}"))
    row = last_audit(soap_app)
    assert (row["auth_method"], row["professional_id"]) == ("psc-token", national_id)


def test_garbage_token_is_refused(client, psc_login):
    refused(post(client, psc_envelope(psc_login[1]), Authorization="Bearer abc.def.ghi"))

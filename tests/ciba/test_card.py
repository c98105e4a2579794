"""The CARD channel (the workstation signs the request's challenge with the CPS card key)
and ``tls_client_auth`` (RFC 8705 §2.1) at the CIBA endpoints."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from santeid.cps import issue_test_card
from santeid.cps.cards import card_authority
from santeid.cps.cards import card_subject
from santeid.pki import CLIENT_AUTH
from santeid.pki import certificate_pem
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from tests.support import cps as cps_support
from tests.support.ciba import backchannel
from tests.support.ciba import error_of
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import decode
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate

CARD_ID = "810000000004"  # demo directory: no e-CPS device, not auto-approved


@pytest.fixture
def machine_authority(tmp_path):
    return cps_support.machine_authority(tmp_path)


@pytest.fixture
def settings(settings, machine_authority):
    return behind_proxy(settings, tls_client_auth_ca_file=str(machine_authority.cert_path))


@pytest.fixture
def meta(app):
    return register_ciba_client(app)


def _card(app, national_id: str = CARD_ID):
    svc = app.extensions["santeid"]
    return issue_test_card(svc.settings, svc.directory.get(national_id))


def _sign(card, signing_input: str) -> str:
    signature = card.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def _card_url(auth_req_id: str) -> str:
    return f"{OIDC}/ext/ciba/card/{auth_req_id}"


def test_card_channel_approval(app, client, meta):
    card = _card(app)
    auth_req_id = start(client, meta, CARD_ID, channel="CARD", binding_message="12")["auth_req_id"]
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"
    described = client.get(_card_url(auth_req_id)).get_json()
    assert described["binding_message"] == "12"
    assert described["client_name"] == "Logiciel lourd de test"
    assert described["signing_input"] == "santeid-ciba-card:" + described["challenge"]
    response = client.post(
        _card_url(auth_req_id),
        json={
            "certificate": certificate_pem(card.certificate).decode(),
            "signature": _sign(card, described["signing_input"]),
        },
    )
    assert response.status_code == 200, response.get_json()
    tokens = poll(client, meta, auth_req_id)
    assert tokens.status_code == 200, tokens.get_json()
    claims = decode(app, tokens.get_json()["id_token"])[1]
    assert claims["authMode"] == "CARD" and claims["acr"] == "eidas3"
    assert claims["amr"] == ["sc", "pin", "hwk", "mfa"]
    # Decided: the card route says so.
    again = client.get(_card_url(auth_req_id))
    assert again.status_code in (404, 409)


def test_card_from_the_tls_handshake(app, client, meta):
    card = _card(app)
    auth_req_id = start(client, meta, CARD_ID, channel="CARD")["auth_req_id"]
    signing_input = client.get(_card_url(auth_req_id)).get_json()["signing_input"]
    response = client.post(
        _card_url(auth_req_id),
        json={"signature": _sign(card, signing_input)},
        headers=forwarded_certificate(card.certificate),
    )
    assert response.status_code == 200, response.get_json()


def test_card_refusals(app, client, meta, auto_id):
    card = _card(app)
    other_card = _card(app, auto_id)
    auth_req_id = start(client, meta, CARD_ID, channel="CARD")["auth_req_id"]
    signing_input = client.get(_card_url(auth_req_id)).get_json()["signing_input"]
    pem = certificate_pem(card.certificate).decode()

    bad = client.post(
        _card_url(auth_req_id), json={"certificate": pem, "signature": _sign(card, "x")}
    )
    assert bad.status_code == 403 and bad.get_json()["error"] == "invalid_signature"
    wrong = client.post(
        _card_url(auth_req_id),
        json={
            "certificate": certificate_pem(other_card.certificate).decode(),
            "signature": _sign(other_card, signing_input),
        },
    )
    assert wrong.status_code == 403 and wrong.get_json()["code"] == "wrong_card"
    assert client.post(_card_url(auth_req_id), json={"certificate": pem}).status_code == 400
    assert client.post(_card_url(auth_req_id), data="nope").status_code == 400
    assert client.get(_card_url("x" * 43)).status_code == 404
    # A MOBILE request cannot be approved by card.
    mobile = start(client, meta, auto_id)["auth_req_id"]
    assert client.get(_card_url(mobile)).status_code == 404
    # Still pending after all that.
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"


def test_a_card_repeating_an_extension_is_refused_not_an_error(app, client, meta):
    """RFC 5280 §4.2: an extension at most once. A certificate of the CPS authority that
    repeats one cannot have its extensions read: 403 ``wrong_usage``, not a server error."""
    svc = app.extensions["santeid"]
    authority = card_authority(svc.settings)
    key = generate_private_key("rsa-2048")
    card = cps_support.signed_certificate(
        card_subject(svc.directory.get(CARD_ID)), key, authority.certificate.subject,
        authority.private_key, ca=False, twice=x509.ExtendedKeyUsage([CLIENT_AUTH]),
    )  # fmt: skip
    auth_req_id = start(client, meta, CARD_ID, channel="CARD")["auth_req_id"]
    presented = {"certificate": certificate_pem(card).decode(), "signature": "c2ln"}
    response = client.post(_card_url(auth_req_id), json=presented)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.get_json()["code"] == "wrong_usage"
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"


def test_a_certificate_whose_names_cannot_be_decoded_is_refused_not_an_error(app, client, meta):
    """A self-signed certificate whose name is a Latin-1 TeletexString (cryptography cannot
    decode it): 403 ``untrusted_issuer``, the request still pending."""
    key = generate_private_key("rsa-2048")
    name = subject_name(common_name=CARD_ID, title=cps_support.TITLE_DRAFT)
    forged = cps_support.signed_certificate(name, key, name, key, ca=False, latin1_title=True)
    auth_req_id = start(client, meta, CARD_ID, channel="CARD")["auth_req_id"]
    presented = {"certificate": certificate_pem(forged).decode(), "signature": "c2ln"}
    response = client.post(_card_url(auth_req_id), json=presented)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.get_json()["code"] == "untrusted_issuer"
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"


def test_revoked_card_is_refused(app, client, meta):
    from santeid.cps import CardRegistry
    from santeid.pki import serial_hex

    card = _card(app)
    CardRegistry.for_settings(app.extensions["santeid"].settings).revoke(
        serial_hex(card.certificate)
    )
    auth_req_id = start(client, meta, CARD_ID, channel="CARD")["auth_req_id"]
    signing_input = client.get(_card_url(auth_req_id)).get_json()["signing_input"]
    response = client.post(
        _card_url(auth_req_id),
        json={
            "certificate": certificate_pem(card.certificate).decode(),
            "signature": _sign(card, signing_input),
        },
    )
    assert response.status_code == 403 and response.get_json()["code"] == "revoked"


# -- tls_client_auth ---------------------------------------------------------------------------


@pytest.fixture
def machine_certificate(machine_authority):
    certificate, _ = issue_certificate(
        machine_authority,
        subject=subject_name(
            common_name="logiciel-lourd", organization="Cabinet Test", country="FR"
        ),
        key_type="ec-p256",
    )
    return certificate


def test_tls_client_auth_at_both_endpoints(app, client, auto_id, machine_certificate):
    meta = register_ciba_client(
        app,
        "ciba-mtls",
        client_secret=None,
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn=machine_certificate.subject.rfc4514_string(),
    )
    header = forwarded_certificate(machine_certificate)
    response = backchannel(client, meta, headers=header, login_hint=auto_id, client_id="ciba-mtls")
    assert response.status_code == 200, response.get_json()
    tokens = poll(
        client, meta, response.get_json()["auth_req_id"], headers=header, client_id="ciba-mtls"
    )
    assert tokens.status_code == 200, tokens.get_json()
    # RFC 8705 §3.1: the access token is bound to the certificate, and refused without it.
    from santeid.oidc.protector import certificate_thumbprint

    access = tokens.get_json()["access_token"]
    claims = app.extensions["santeid"].tokens.verify_access_token(access)
    assert claims["cnf"] == {"x5t#S256": certificate_thumbprint(machine_certificate)}
    userinfo = f"{OIDC}/userinfo"
    bearer = {"Authorization": f"Bearer {access}"}
    assert client.get(userinfo, headers={**bearer, **header}).status_code == 200
    assert client.get(userinfo, headers=bearer).status_code == 401
    # Without the certificate, or with another subject: invalid_client.
    without = backchannel(client, meta, headers={}, login_hint=auto_id, client_id="ciba-mtls")
    assert without.status_code == 401 and error_of(without) == "invalid_client"
    register_ciba_client(
        app,
        "ciba-mtls",
        client_secret=None,
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn="CN=someone-else,O=Cabinet Test,C=FR",
    )
    other = backchannel(client, meta, headers=header, login_hint=auto_id, client_id="ciba-mtls")
    assert other.status_code == 401


def test_tls_client_auth_needs_a_subject_dn(app):
    from santeid.oidc.clients import InvalidClientMetadata

    with pytest.raises(InvalidClientMetadata, match="tls_client_auth_subject_dn"):
        register_ciba_client(
            app, "x", client_secret=None, token_endpoint_auth_method="tls_client_auth"
        )


def test_a_card_body_with_a_member_twice_is_refused_naming_it(app, client, meta):
    card = _card(app)
    auth_req_id = start(client, meta, CARD_ID, channel="CARD")["auth_req_id"]
    signing_input = client.get(_card_url(auth_req_id)).get_json()["signing_input"]
    signature = _sign(card, signing_input)
    pem = json.dumps(certificate_pem(card.certificate).decode())
    raw = f'{{"certificate": {pem}, "signature": "{signature}", "signature": "{signature}"}}'
    response = client.post(_card_url(auth_req_id), data=raw, content_type="application/json")
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "the JSON body is not I-JSON (RFC 7493 §2.3): member 'signature' "
        "appears more than once",
    }
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"

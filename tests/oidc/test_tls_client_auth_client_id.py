"""Where a ``tls_client_auth`` client names itself: Keycloak's ``X509ClientAuthenticator``
reads ``client_id`` from the form, then from the query string, so a client that puts it in
the token endpoint's URL authenticates by its certificate all the same
(``MutualTLSClientTest.testSuccessfulClientInvocationWithClientIdInQueryParams``,
docs/reference/keycloak-behaviour.md, "Client authentication")."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.pki import write_pem
from tests.support.cps import igc_like_authorities
from tests.support.oidc_flow import register_client
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate

TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"
SUBJECT = subject_name(common_name="logiciel-mtls", organization="Cabinet", country="FR")
OTHER = subject_name(common_name="autre-logiciel", organization="Cabinet", country="FR")
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}


@pytest.fixture
def issuing(tmp_path):
    root, issuing = igc_like_authorities(tmp_path / "igc")
    return issuing


@pytest.fixture
def settings(settings, tmp_path, issuing):
    bundle = tmp_path / "authorities.pem"
    write_pem(bundle, certificate_pem(issuing.certificate), mode=0o644)
    return behind_proxy(settings, tls_client_auth_ca_file=str(bundle))


@pytest.fixture
def registered(app):
    register_client(app, client_id="logiciel-mtls", client_secret=None,
                    grant_types=["client_credentials"], redirect_uris=[],
                    token_endpoint_auth_method="tls_client_auth",
                    tls_client_auth_subject_dn=SUBJECT.rfc4514_string())  # fmt: skip


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _thumbprint(certificate) -> str:
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_client_id_in_the_query_authenticates_by_the_certificate(client, issuing, registered):
    certificate, _ = issue_certificate(issuing, subject=SUBJECT, key_type="ec-p256")
    answer = client.post(f"{TOKEN}?client_id=logiciel-mtls",
                         headers=forwarded_certificate(certificate),
                         data={"grant_type": "client_credentials"})  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    claims = _claims(answer.get_json()["access_token"])
    assert claims["azp"] == "logiciel-mtls"
    assert claims["cnf"] == {"x5t#S256": _thumbprint(certificate)}


@pytest.mark.parametrize("subject", [OTHER, None], ids=["another-subject", "no-certificate"])
def test_a_client_id_in_the_query_with_a_wrong_or_no_certificate_is_refused(
    client, issuing, registered, subject
):
    headers = {}
    if subject is not None:
        certificate, _ = issue_certificate(issuing, subject=subject, key_type="ec-p256")
        headers = forwarded_certificate(certificate)
    answer = client.post(f"{TOKEN}?client_id=logiciel-mtls", headers=headers,
                         data={"grant_type": "client_credentials"})  # fmt: skip
    assert (answer.status_code, answer.get_json()) == (401, INVALID_CLIENT)


def test_the_form_s_client_id_wins_over_the_query_s(client, issuing, registered):
    """Keycloak reads the form first: the query's ``client_id`` does not rescue a form that
    names a client the certificate does not authenticate."""
    certificate, _ = issue_certificate(issuing, subject=SUBJECT, key_type="ec-p256")
    answer = client.post(f"{TOKEN}?client_id=logiciel-mtls",
                         headers=forwarded_certificate(certificate),
                         data={"grant_type": "client_credentials",
                               "client_id": "inconnu"})  # fmt: skip
    assert (answer.status_code, answer.get_json()) == (401, INVALID_CLIENT)

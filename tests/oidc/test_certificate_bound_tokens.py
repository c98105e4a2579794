"""Tokens bound to a client certificate (RFC 8705 §3) as Keycloak's ``HoKTest`` sees them
(https://github.com/keycloak/keycloak/blob/08632d3b67277f193df8c74cbe0dab088e20e2f5/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/hok/HoKTest.java;
docs/reference/keycloak-behaviour.md, "Certificate-bound tokens: `HoKTest`, method by
method"), for a client that authenticates with its secret and has the binding on
(``tls_client_certificate_bound_access_tokens``)."""

from __future__ import annotations

import dataclasses

import pytest

from santeid.oidc.protector import certificate_thumbprint
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from tests.support.cps import igc_like_authorities
from tests.support.jwt_keys import unverified_claims
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional
from tests.support.servers import behind_proxy
from tests.support.servers import forwarded_certificate

SECRET = "bound-secret-0123456789abcdef"


@pytest.fixture
def settings(settings):
    return behind_proxy(settings)


@pytest.fixture
def certificate(tmp_path):
    _, issuing = igc_like_authorities(tmp_path / "igc")
    subject = subject_name(common_name="logiciel-lie", organization="Cabinet", country="FR")
    return issue_certificate(issuing, subject=subject, key_type="ec-p256")[0]


def _bound_tokens(app, client, certificate, national_id: str) -> dict:
    """A login of ``national_id`` by the client ``bound``, its code exchanged over
    ``certificate``."""
    bound = register_client(app, client_id="bound", client_secret=SECRET,
                            tls_client_certificate_bound_access_tokens=True)  # fmt: skip
    flow = Flow(app, client, bound)
    code = flow.code_from(flow.login(flow.authorize(), national_id))["code"]
    headers = {**basic_auth("bound", SECRET), **forwarded_certificate(certificate)}
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": bound["redirect_uris"][0]}  # fmt: skip
    tokens = client.post(f"{OIDC}/token", data=form, headers=headers)
    assert tokens.status_code == 200, tokens.get_json()
    return tokens.get_json()


def test_a_resource_server_without_certificate_introspects_the_binding(app, client, certificate):
    """``testIntrospectHoKAccessToken``: introspection reads no certificate, and its answer
    carries the token's ``cnf``, the thumbprint of the token request's certificate, the
    refresh token's too (RFC 8705 §3.2)."""
    resource_server = register_client(
        app, client_id="confidential-cli", client_secret="secret1-0123456789abcdef"
    )
    national_id = sandbox_professional(app)
    tokens = _bound_tokens(app, client, certificate, national_id)
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    binding = {"x5t#S256": certificate_thumbprint(certificate)}
    assert unverified_claims(access)["cnf"] == unverified_claims(refresh)["cnf"] == binding

    answer = client.post(
        f"{OIDC}/token/introspect",
        data={"token": access, "token_type_hint": "access_token"},
        headers=basic_auth("confidential-cli", resource_server["client_secret"]),
    ).get_json()
    assert answer["active"] is True
    assert answer["username"] == national_id
    assert answer["client_id"] == "bound"
    assert answer["sub"] == unverified_claims(access)["sub"]
    assert answer["cnf"] == binding


def _refresh(client, refresh_token: str, certificate=None):
    headers = basic_auth("bound", SECRET)
    if certificate is not None:
        headers.update(forwarded_certificate(certificate))
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return client.post(f"{OIDC}/token", headers=headers, data=form)


CERTIFICATE_REFUSAL = {
    "error": "unauthorized_client",
    "error_description": "Client certificate missing, or its thumbprint and one in the refresh "
    "token did NOT match",
}


@pytest.mark.parametrize("ended", ["professional inactive", "session logged out"])
def test_a_refresh_without_the_certificate_is_refused_for_it_before_its_grant_is_looked_at(
    app, client, certificate, ended
):
    """Keycloak's ``TokenManager.refreshAccessToken`` runs ``verifyRefreshToken`` — the token,
    its client, then its certificate — before ``validateToken`` looks at its session and user
    (https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/TokenManager.java):
    a bound refresh token whose grant can no longer be refreshed, sent without its
    certificate, is the 401 of ``refreshTokenRequestByRefreshTokenWithoutClientCertificate``;
    over its certificate, the grant's own refusal."""
    national_id = sandbox_professional(app)
    tokens = _bound_tokens(app, client, certificate, national_id)
    if ended == "professional inactive":
        directory = app.extensions["santeid"].directory
        directory.upsert(dataclasses.replace(directory.get(national_id), status="inactive"))
        grant_refusal = "User disabled"
    else:
        logout = client.get(f"{OIDC}/logout", query_string={"id_token_hint": tokens["id_token"]})
        assert logout.status_code == 200
        grant_refusal = "Session not active"
    refused = _refresh(client, tokens["refresh_token"])
    assert (refused.status_code, refused.get_json()) == (401, CERTIFICATE_REFUSAL)
    over_it = _refresh(client, tokens["refresh_token"], certificate)
    assert (over_it.status_code, over_it.get_json()) == (400, {
        "error": "invalid_grant", "error_description": grant_refusal})  # fmt: skip

"""CORS on the OIDC endpoints, case by case as Keycloak's CORS test classes assert it
(``TokenEndpointCorsTest``, ``UserInfoEndpointCorsTest``, ``TokenRevocationCorsTest``,
``PreflightRequestTest``, under
https://github.com/keycloak/keycloak/tree/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth;
docs/reference/keycloak-behaviour.md, "Realm endpoints")."""

from __future__ import annotations

import pytest

from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client

VALID = "https://service.example.org"  # the client's web origin ("+": its redirect URI's)
INVALID = "https://invalid.service.example.org"
ALLOWED = {
    "Access-Control-Allow-Origin": VALID,
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "Access-Control-Allow-Methods",
}
WELL_KNOWN = "/auth/realms/esante-wallet/.well-known"


def _cors(response) -> dict:
    return {k: v for k, v in response.headers.items() if k.startswith("Access-Control-")}


@pytest.fixture
def web_flow(app, client):
    return Flow(app, client, register_client(app, web_origins=["+"]))


def _refresh(client, refresh_token: str, origin: str, secret: str = CLIENT_SECRET):
    return client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={**basic_auth("service-test", secret), "Origin": origin},
    )


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("token", "POST, OPTIONS"),  # TokenEndpoint.preflight
        ("revoke", "POST, OPTIONS"),  # TokenRevocationEndpoint.preflight
        ("auth/device", "POST, OPTIONS"),  # DeviceEndpoint.preflight
        # UserInfoEndpoint.issueUserInfoPreflight and LogoutEndpoint's OPTIONS name no
        # method: Cors.DEFAULT_ALLOW_METHODS.
        ("userinfo", "GET, HEAD, OPTIONS"),
        ("logout", "GET, HEAD, OPTIONS"),
        # OIDCLoginProtocolService.getVersionPreflight: allowedMethods("GET").
        ("certs", "GET"),
    ],
)
def test_an_options_request_with_an_origin_is_a_preflight(client, path, methods):
    """Keycloak's ``OPTIONS`` methods answer a preflight to any request carrying ``Origin``,
    with or without ``Access-Control-Request-Method`` (``DefaultCors.add``: ``preflight`` is
    the method's choice, not the request's): ``TokenEndpointCorsTest.preflightRequest`` and
    ``PreflightRequestTest.preflightRequest`` send ``OPTIONS`` with ``Origin`` alone and read
    ``Access-Control-Allow-Methods``."""
    for extra in ({}, {"Access-Control-Request-Method": "POST"}):
        response = client.options(
            f"{OIDC}/{path}", headers={"Origin": "http://example.com", **extra}
        )
        assert response.status_code == 200
        cors = _cors(response)
        assert cors["Access-Control-Allow-Origin"] == "http://example.com", (path, extra)
        assert cors["Access-Control-Allow-Methods"] == methods, (path, extra)
        assert cors["Access-Control-Allow-Credentials"] == "true"
        assert cors["Access-Control-Allow-Headers"].endswith(", DPoP, Authorization")
        assert cors["Access-Control-Max-Age"] == "3600"
        assert "Access-Control-Expose-Headers" not in cors


@pytest.mark.parametrize(
    "name", ["openid-configuration", "oauth-authorization-server", "wallet-openid-configuration"]
)
def test_the_well_known_preflight_names_get_alone(client, name):
    """``RealmsResource.getVersionPreflight`` (``{realm}/.well-known/{provider}``):
    ``allowedMethods("GET").preflight().auth()``."""
    response = client.options(f"{WELL_KNOWN}/{name}", headers={"Origin": "http://example.com"})
    assert response.status_code == 200
    assert _cors(response)["Access-Control-Allow-Methods"] == "GET"
    assert _cors(response)["Access-Control-Allow-Origin"] == "http://example.com"


def test_an_options_request_without_origin_gets_no_cors(client):
    """``DefaultCors.add``: "No Origin header, ignoring"."""
    for path in ("token", "userinfo", "certs"):
        assert _cors(client.options(f"{OIDC}/{path}")) == {}


def test_token_endpoint_cors_as_keycloaks(web_flow, client):
    """``TokenEndpointCorsTest.accessTokenCorsRequest`` and
    ``accessTokenWithConfidentialClientCorsRequest``: the code exchange and the refresh from the
    client's web origin are readable, a refresh from another origin is not, a wrong secret is,
    and so is the refusal of a refresh token whose session has ended."""
    code = web_flow.obtain_code()["code"]
    exchanged = client.post(
        f"{OIDC}/token",
        data={"grant_type": "authorization_code", "code": code,
              "redirect_uri": web_flow.client["redirect_uris"][0]},
        headers={**basic_auth("service-test", CLIENT_SECRET), "Origin": VALID},
    )  # fmt: skip
    assert exchanged.status_code == 200
    assert _cors(exchanged) == ALLOWED
    tokens = exchanged.get_json()
    refreshed = _refresh(client, tokens["refresh_token"], VALID)
    assert refreshed.status_code == 200
    assert _cors(refreshed) == ALLOWED
    elsewhere = _refresh(client, refreshed.get_json()["refresh_token"], INVALID)
    assert elsewhere.status_code == 200
    assert _cors(elsewhere) == {}
    wrong_secret = _refresh(client, tokens["refresh_token"], VALID, secret="invalid")
    assert wrong_secret.status_code == 401
    assert _cors(wrong_secret) == ALLOWED
    # No session: the refresh token of a logged-out session, refused readable.
    logout = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": elsewhere.get_json()["refresh_token"]},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert logout.status_code == 204
    ended = _refresh(client, elsewhere.get_json()["refresh_token"], VALID)
    assert ended.status_code == 400
    assert ended.get_json() == {"error": "invalid_grant", "error_description": "Session not active"}
    assert _cors(ended) == ALLOWED


def test_userinfo_cors_as_keycloaks(web_flow, client, app):
    """``UserInfoEndpointCorsTest``: a valid token from the web origin is readable, from
    another origin not; its refusals — the token expired (a token that does not verify: any
    origin), its session deleted (the client's web origins) — are readable from the web
    origin, ``WWW-Authenticate`` exposed."""
    tokens = web_flow.full_login()
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}
    valid = client.get(f"{OIDC}/userinfo", headers={**bearer, "Origin": VALID})
    assert valid.status_code == 200
    assert _cors(valid) == ALLOWED
    elsewhere = client.get(f"{OIDC}/userinfo", headers={**bearer, "Origin": INVALID})
    assert elsewhere.status_code == 200
    assert _cors(elsewhere) == {}
    client.post(
        f"{OIDC}/logout",
        data={"refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    ended = client.get(f"{OIDC}/userinfo", headers={**bearer, "Origin": VALID})
    assert ended.status_code == 401
    assert _cors(ended) == {
        **ALLOWED,
        "Access-Control-Expose-Headers": "Access-Control-Allow-Methods, WWW-Authenticate",
    }
    assert _cors(client.get(f"{OIDC}/userinfo", headers={**bearer, "Origin": INVALID})) == {}


def test_revocation_cors_as_keycloaks(web_flow, client):
    """``TokenRevocationCorsTest``: the revocation from the web origin is readable, from another
    origin it succeeds unreadable."""
    for origin, expected in ((VALID, ALLOWED), (INVALID, {})):
        tokens = web_flow.full_login()
        revoked = client.post(
            f"{OIDC}/revoke",
            data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
            headers={**basic_auth("service-test", CLIENT_SECRET), "Origin": origin},
        )
        assert revoked.status_code == 200
        assert _cors(revoked) == expected
        assert _refresh(client, tokens["refresh_token"], VALID).status_code == 400


def test_introspection_has_no_cors_preflight_or_cors_answer(web_flow, client):
    """Keycloak's ``TokenIntrospectionEndpoint`` (reached through ``TokenEndpoint.introspect``,
    whose ``@OPTIONS preflight`` serves ``…/token`` alone) declares no ``OPTIONS`` method and
    builds no ``Cors``: RESTEasy answers an ``OPTIONS`` 200 with its ``Allow`` header and no
    CORS header, so no browser page passes the preflight, and an introspection sent with
    ``Origin`` — from the client's own web origin too — is answered without CORS headers
    (docs/reference/keycloak-behaviour.md, "Userinfo and introspection: ``UserInfoTest`` and
    ``TokenIntrospectionTest``, method by method"). Introspection is a resource server's call,
    never a page's."""
    for extra in ({}, {"Access-Control-Request-Method": "POST"}):
        preflight = client.options(f"{OIDC}/token/introspect", headers={"Origin": VALID, **extra})
        assert preflight.status_code == 200
        assert "POST" in preflight.headers["Allow"]
        assert _cors(preflight) == {}
    tokens = web_flow.full_login()
    answer = client.post(
        f"{OIDC}/token/introspect",
        data={"token": tokens["access_token"]},
        headers={**basic_auth("service-test", CLIENT_SECRET), "Origin": VALID},
    )
    assert answer.status_code == 200 and answer.get_json()["active"] is True
    assert _cors(answer) == {}

"""A Pro Santé Connect service written with python-keycloak (``KeycloakOpenID``,
https://python-keycloak.readthedocs.io/en/latest/modules/openid_client.html), pointed at a real
``santeid serve`` by changing only its base URL: ``server_url`` ``<santeid>/auth/`` and realm
``esante-wallet``, as for PSC. The library builds every URL itself from those two (its
``urls_patterns``), the authorization URL apart, which it reads from the realm's discovery
document: this is the "change only the base URL" test in its purest form.

Driven as an integrator drives it: discovery, the authorization URL with PKCE S256, the
professional's login (plain HTTP, a sandbox professional approved at once, docs/sandbox.md),
the code exchange, userinfo, refresh, introspection, the JWKS and the realm's public key, the
library's own token verification (``decode_token(validate=True)``: signature against the
certs, ``exp`` and ``nbf``), the refresh-token logout, ``client_credentials``; the async twins
(``a_token``, ``a_userinfo``…, on httpx) for the login path. Then what a PSC client gets as
errors, with the exception, status and body the library reports: a used code, a wrong secret,
a refresh token after logout, and the grants PSC's Keycloak knows but leaves off for its
clients (docs/reference/keycloak-behaviour.md, "Grants PSC's clients cannot use"): the
password grant, the device flow, UMA; token exchange, off at PSC. An answer of santeid that makes
the library raise where Keycloak's would not fails the test."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.serialization import load_der_public_key
from jwcrypto.jwk import JWK
from keycloak import KeycloakAuthenticationError
from keycloak import KeycloakOpenID
from keycloak import KeycloakPostError
from keycloak.pkce_utils import generate_code_challenge
from keycloak.pkce_utils import generate_code_verifier

from tests.support.http_login import login_to_callback
from tests.support.servers import santeid_process
from tests.support.servers import service_client

pytestmark = [pytest.mark.server, pytest.mark.redis]

SECRET = "a-long-secret-for-the-python-keycloak-rp-01"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
SCOPE = "openid scope_all"
REALM = "esante-wallet"
#: The client that logs professionals in, and a service calling with its own token.
SERVICE = "python-keycloak"
SERVICE_ACCOUNT = "python-keycloak-service-account"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    """``santeid serve --workers 2`` on Redis, as deployed (each request may land on either
    worker), with the two clients, registered as an operator registers them."""
    clients = [
        {
            "client_id": SERVICE,
            "client_name": SERVICE,
            "client_secret": SECRET,
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_post",
        },
        service_client(SERVICE_ACCOUNT, SECRET),
    ]
    with santeid_process(
        tmp_path_factory.mktemp("python-keycloak"),
        args=["--workers", "2"],
        clients=clients,
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/10",
    ) as process:
        yield process


def keycloak_openid(server, client_id: str = SERVICE, secret: str = SECRET) -> KeycloakOpenID:
    """The library's client as its documentation sets one up for a Keycloak server: the base
    URL with ``/auth/`` (Keycloak before 17, as PSC serves it), the realm, the credentials."""
    return KeycloakOpenID(
        server_url=f"{server.base}/auth/",
        realm_name=REALM,
        client_id=client_id,
        client_secret_key=secret,
    )


def authorization_request() -> dict[str, str]:
    """``auth_url``'s arguments with a new nonce and a PKCE S256 challenge (the library's own
    helpers); the code verifier under ``verifier``."""
    verifier = generate_code_verifier()
    challenge, method = generate_code_challenge(verifier)
    return {
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "state-1",
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": method,
        "verifier": verifier,
    }


def authorization_url(openid: KeycloakOpenID) -> tuple[str, str, str]:
    """The authorization URL (:func:`with_acr`), its nonce and code verifier."""
    arguments = authorization_request()
    verifier = arguments.pop("verifier")
    return with_acr(openid.auth_url(**arguments)), arguments["nonce"], verifier


def with_acr(url: str) -> str:
    """PSC's ``acr_values``, which ``auth_url`` cannot add: appended, as integrators do."""
    return url + "&acr_values=eidas1"


def code_of(callback: str) -> str:
    query = parse_qs(urlsplit(callback).query)
    assert query["state"] == ["state-1"], callback
    return query["code"][0]


def log_in(openid: KeycloakOpenID, browser: requests.Session) -> tuple[dict, str]:
    """A whole login through the library: the token answer and the request's nonce."""
    url, nonce, verifier = authorization_url(openid)
    code = code_of(login_to_callback(browser, url, REDIRECT_URI, PROFESSIONAL))
    tokens = openid.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    return tokens, nonce


def refusal(error: Exception) -> tuple[int | None, dict]:
    """The status and JSON body the library put on the exception it raised."""
    return error.response_code, json.loads(error.response_body)


def test_the_whole_integration_through_the_library(server):
    openid = keycloak_openid(server)
    discovery = openid.well_known()
    assert discovery["issuer"] == server.issuer
    # The URLs the library builds from server_url and the realm are the ones discovery names.
    assert discovery["token_endpoint"] == f"{server.oidc}/token"
    assert discovery["userinfo_endpoint"] == f"{server.oidc}/userinfo"
    assert discovery["introspection_endpoint"] == f"{server.oidc}/token/introspect"
    assert discovery["jwks_uri"] == f"{server.oidc}/certs"
    assert discovery["end_session_endpoint"] == f"{server.oidc}/logout"

    tokens, nonce = log_in(openid, requests.Session())
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == SCOPE
    assert {"access_token", "refresh_token", "id_token", "session_state"} <= tokens.keys()

    # The library's verification: the signature against certs(), exp and nbf.
    id_token = openid.decode_token(tokens["id_token"], validate=True)
    assert id_token["iss"] == server.issuer and id_token["aud"] == SERVICE
    assert id_token["nonce"] == nonce and id_token["acr"] == "eidas1"
    assert id_token["SubjectNameID"] == PROFESSIONAL
    access = openid.decode_token(tokens["access_token"], validate=True)
    assert access["azp"] == SERVICE and access["preferred_username"] == PROFESSIONAL

    userinfo = openid.userinfo(tokens["access_token"])
    assert userinfo["sub"] == id_token["sub"] and userinfo["SubjectNameID"] == PROFESSIONAL
    assert userinfo["SubjectRefPro"]["exercices"]

    refreshed = openid.refresh_token(tokens["refresh_token"])
    assert refreshed["access_token"] != tokens["access_token"]
    assert openid.decode_token(refreshed["id_token"])["sub"] == id_token["sub"]

    introspected = openid.introspect(refreshed["access_token"])
    assert introspected["active"] is True and introspected["client_id"] == SERVICE
    assert introspected["SubjectNameID"] == PROFESSIONAL

    # The realm document's public key is the JWKS signing key, which verifies the tokens.
    (jwk,) = [key for key in openid.certs()["keys"] if key["use"] == "sig"]
    public_key = load_der_public_key(base64.b64decode(openid.public_key()))
    modulus = base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))
    assert public_key.public_numbers().n == int.from_bytes(modulus, "big")
    pem = f"-----BEGIN PUBLIC KEY-----\n{openid.public_key()}\n-----END PUBLIC KEY-----"
    assert openid.decode_token(tokens["id_token"], key=JWK.from_pem(pem.encode()))["sid"]

    # The refresh-token logout (POST …/logout): 204, which the library returns as {}.
    assert openid.logout(refreshed["refresh_token"]) == {}
    with pytest.raises(KeycloakPostError) as after:
        openid.refresh_token(tokens["refresh_token"])
    assert refusal(after.value) == (
        400,
        {"error": "invalid_grant", "error_description": "Session not active"},
    )
    with pytest.raises(KeycloakAuthenticationError) as gone:
        openid.userinfo(refreshed["access_token"])
    assert gone.value.response_code == 401
    assert openid.introspect(refreshed["access_token"]) == {"active": False}


def test_a_used_code_is_refused_and_ends_its_grant(server):
    """Keycloak's answer to a code used twice, which also ends the grant the code gave
    (docs/reference/keycloak-behaviour.md, "Token endpoint")."""
    openid = keycloak_openid(server)
    url, _, verifier = authorization_url(openid)
    code = code_of(login_to_callback(requests.Session(), url, REDIRECT_URI, PROFESSIONAL))
    exchange = {"code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    tokens = openid.token(grant_type="authorization_code", **exchange)
    with pytest.raises(KeycloakPostError) as again:
        openid.token(grant_type="authorization_code", **exchange)
    assert refusal(again.value) == (
        400,
        {"error": "invalid_grant", "error_description": "Code not valid"},
    )
    with pytest.raises(KeycloakPostError) as refresh:
        openid.refresh_token(tokens["refresh_token"])
    assert refusal(refresh.value)[1]["error_description"] == "Session doesn't have required client"


def test_a_wrong_secret(server):
    """Keycloak's failed client authentication, which the library raises as an authentication
    error (401): ``unauthorized_client`` at the token endpoint, ``invalid_request``
    "Authentication failed." at introspection (docs/psc-integration.md §5.1)."""
    wrong = keycloak_openid(server, secret="not-the-secret-of-this-client")
    with pytest.raises(KeycloakAuthenticationError) as token:
        wrong.token(grant_type="authorization_code", code="any", redirect_uri=REDIRECT_URI)
    assert refusal(token.value) == (
        401,
        {
            "error": "unauthorized_client",
            "error_description": "Invalid client or Invalid client credentials",
        },
    )
    with pytest.raises(KeycloakAuthenticationError) as introspection:
        wrong.introspect("any")
    assert refusal(introspection.value) == (
        401,
        {"error": "invalid_request", "error_description": "Authentication failed."},
    )


def test_client_credentials(server):
    """A service's own token (the directory API, docs/directory.md), and Keycloak's answer to
    a client without a service account."""
    service = keycloak_openid(server, SERVICE_ACCOUNT)
    tokens = service.token(grant_type="client_credentials")
    assert "refresh_token" not in tokens and tokens["refresh_expires_in"] == 0
    claims = service.decode_token(tokens["access_token"], validate=True)
    assert claims["preferred_username"] == f"service-account-{SERVICE_ACCOUNT}"
    assert service.decode_token(tokens["id_token"], validate=True)["aud"] == SERVICE_ACCOUNT
    with pytest.raises(KeycloakAuthenticationError) as refused:
        keycloak_openid(server).token(grant_type="client_credentials")
    assert refusal(refused.value) == (
        401,
        {
            "error": "unauthorized_client",
            "error_description": "Client not enabled to retrieve service account",
        },
    )


def test_the_password_grant_is_refused_as_keycloak_refuses_it(server):
    """PSC's clients have no direct access grants: Keycloak authenticates the client, then
    answers 400 ``unauthorized_client`` (``ResourceOwnerPasswordCredentialsGrantType``)."""
    with pytest.raises(KeycloakPostError) as refused:
        keycloak_openid(server).token(PROFESSIONAL, "a password")
    assert refusal(refused.value) == (
        400,
        {
            "error": "unauthorized_client",
            "error_description": "Client not allowed for direct access grants",
        },
    )
    # The client is authenticated first: a wrong secret is the 401.
    with pytest.raises(KeycloakAuthenticationError) as unauthenticated:
        keycloak_openid(server, secret="not-the-secret").token(PROFESSIONAL, "a password")
    assert refusal(unauthenticated.value)[1]["error"] == "unauthorized_client"


def test_the_device_flow_is_refused_as_keycloak_refuses_it(server):
    """The device flow is off for PSC's clients: Keycloak's device authorization endpoint
    (``DeviceEndpoint``) and its device-code grant (``DeviceGrantType``) each refuse the
    authenticated client in their own words."""
    openid = keycloak_openid(server)
    with pytest.raises(KeycloakPostError) as device:
        openid.device(scope="openid")
    assert refusal(device.value) == (
        400,
        {
            "error": "unauthorized_client",
            "error_description": "Client is not allowed to initiate OAuth 2.0 Device "
            "Authorization Grant. The flow is disabled for the client.",
        },
    )
    with pytest.raises(KeycloakAuthenticationError) as unauthenticated:
        keycloak_openid(server, secret="not-the-secret").device(scope="openid")
    assert refusal(unauthenticated.value)[1]["error"] == "unauthorized_client"
    with pytest.raises(KeycloakPostError) as grant:
        openid.token(grant_type="urn:ietf:params:oauth:grant-type:device_code", device_code="any")
    assert refusal(grant.value) == (
        400,
        {
            "error": "invalid_grant",
            "error_description": "Client not allowed OAuth 2.0 Device Authorization Grant",
        },
    )


def test_token_exchange_is_unsupported(server):
    """Token exchange is a Keycloak feature off at PSC (its discovery lists no such grant):
    the grant type is unknown, ``unsupported_grant_type``."""
    openid = keycloak_openid(server)
    tokens, _ = log_in(openid, requests.Session())
    with pytest.raises(KeycloakPostError) as exchange:
        openid.exchange_token(tokens["access_token"], audience=SERVICE)
    assert refusal(exchange.value) == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"},
    )


def test_uma_is_refused_as_keycloak_refuses_it(server):
    """UMA (``uma_permissions``: Keycloak's authorization services) with the professional's
    token: the client has no authorization services, Keycloak's ``AuthorizationTokenService``
    answers 400 ``invalid_request``; a token that does not verify is 401 ``invalid_grant``
    (``PermissionGrantType``)."""
    openid = keycloak_openid(server)
    tokens, _ = log_in(openid, requests.Session())
    with pytest.raises(KeycloakPostError) as uma:
        openid.uma_permissions(tokens["access_token"])
    assert refusal(uma.value) == (
        400,
        {"error": "invalid_request", "error_description": "Client does not support permissions"},
    )
    with pytest.raises(KeycloakAuthenticationError) as forged:
        openid.uma_permissions(tokens["access_token"][:-4] + "AAAA")
    assert refusal(forged.value) == (
        401,
        {"error": "invalid_grant", "error_description": "Invalid bearer token"},
    )


def test_the_async_twins(server):
    """The same login through the library's async methods (httpx instead of requests)."""

    async def integration() -> None:
        openid = keycloak_openid(server)
        arguments = authorization_request()
        verifier = arguments.pop("verifier")
        try:
            url = with_acr(await openid.a_auth_url(**arguments))
            browser = requests.Session()
            callback = await asyncio.to_thread(
                login_to_callback, browser, url, REDIRECT_URI, PROFESSIONAL
            )
            code = code_of(callback)
            tokens = await openid.a_token(
                grant_type="authorization_code",
                code=code,
                redirect_uri=REDIRECT_URI,
                code_verifier=verifier,
            )
            id_token = await openid.a_decode_token(tokens["id_token"], validate=True)
            assert id_token["nonce"] == arguments["nonce"]
            userinfo = await openid.a_userinfo(tokens["access_token"])
            assert userinfo["SubjectNameID"] == PROFESSIONAL
            refreshed = await openid.a_refresh_token(tokens["refresh_token"])
            introspected = await openid.a_introspect(refreshed["access_token"])
            assert introspected["active"] is True
            assert (await openid.a_certs())["keys"] and await openid.a_public_key()
            assert (await openid.a_well_known())["issuer"] == server.issuer
            assert await openid.a_logout(refreshed["refresh_token"]) == {}
            with pytest.raises(KeycloakPostError) as after:
                await openid.a_refresh_token(refreshed["refresh_token"])
            assert refusal(after.value)[1]["error_description"] == "Session not active"
            wrong = keycloak_openid(server, secret="not-the-secret-of-this-client")
            try:
                with pytest.raises(KeycloakAuthenticationError) as unauthenticated:
                    await wrong.a_token(grant_type="authorization_code", code=code)
                assert refusal(unauthenticated.value)[1]["error"] == "unauthorized_client"
            finally:
                await wrong.connection.aclose()
        finally:
            await openid.connection.aclose()

    asyncio.run(integration())

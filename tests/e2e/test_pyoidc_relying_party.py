"""A Pro Santé Connect integration written with a certified relying-party library, pointed at
a real ``santeid serve`` by its issuer URL alone: pyoidc (``oic``, an OpenID Certified RP
library, https://pyoidc.readthedocs.io/en/latest/examples/rp.html), used as its documentation
tells an integrator to.

Discovery from the issuer, the code flow with ``state``, ``nonce`` and PKCE S256, the token
request with ``client_secret_basic`` and ``client_secret_post``, the ID token verified by the
library against the published JWKS, userinfo (JSON and signed JWT, by POST and GET, ``sub``
compared with the ID token's), refresh, introspection and revocation (the library's RFC 7662 and
RFC 7009 client), RP-initiated logout with ``id_token_hint``, and the back-channel logout token
verified by the library's own checks. Whatever the library refuses, and every warning it logs,
fails the test. The browser's part, the login page, is plain HTTP with a sandbox professional
approved at once (docs/sandbox.md), as in the other end-to-end tests."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey
from oic import rndstr
from oic.extension.client import Client as OAuth2ExtensionClient
from oic.oauth2.message import ErrorResponse
from oic.oic import Client
from oic.oic.message import AccessTokenResponse
from oic.oic.message import AuthorizationErrorResponse
from oic.oic.message import AuthorizationResponse
from oic.oic.message import BackChannelLogoutRequest
from oic.oic.message import OpenIDSchema
from oic.oic.message import RegistrationResponse
from oic.oic.message import TokenErrorResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from oic.utils.keyio import KeyBundle

from tests.support.http_login import login_to_callback
from tests.support.logout_receiver import LogoutReceiver
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

SECRET = "a-long-secret-for-the-pyoidc-relying-party-01"
REDIRECT_URI = "https://service.example.org/callback"
LOGGED_OUT_URI = "https://service.example.org/logged-out"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
SCOPE = ["openid", "scope_all"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    """``santeid serve --workers 2`` on Redis, as deployed: each request of a login may land on
    either worker."""
    with santeid_process(
        tmp_path_factory.mktemp("pyoidc-server"),
        args=["--workers", "2"],
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/14",
    ) as process:
        yield process


@pytest.fixture(autouse=True)
def library_warnings(caplog):
    """Every warning the library logs about santeid's answers fails the test."""
    caplog.set_level(logging.WARNING, logger="oic")
    yield
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("oic")]
    assert not logged, logged


def register(server, client_id: str, **metadata) -> None:
    """The service's registration, as an operator makes it (``santeid clients add``)."""
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[LOGGED_OUT_URI],
        grant_types=["authorization_code", "refresh_token"],
        **{"token_endpoint_auth_method": "client_secret_basic", **metadata},
    )


def relying_party(server, client_id: str, **registration) -> Client:
    """The library's client as its documentation sets one up: provider metadata discovered
    from the issuer URL (endpoints and JWKS), the registration stored as given by the
    operator."""
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(server.issuer)
    client.store_registration_info(
        RegistrationResponse(
            client_id=client_id,
            client_secret=SECRET,
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[LOGGED_OUT_URI],
            **registration,
        )
    )
    return client


def authorization_request(client: Client, **extra: str) -> tuple[str, str, str]:
    """The authorization URL with a new ``state`` and ``nonce`` and a PKCE S256 challenge;
    the URL, the ``state`` and the code verifier."""
    state = rndstr()
    challenge, verifier = client.add_code_challenge()
    request_args = {
        "client_id": client.client_id,
        "response_type": "code",
        "scope": SCOPE,
        "nonce": rndstr(),
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "acr_values": "eidas1",
        **challenge,
        **extra,
    }
    request = client.construct_AuthorizationRequest(request_args=request_args)
    return request.request(client.authorization_endpoint), state, verifier


def browser_login(browser: requests.Session, url: str, national_id: str = PROFESSIONAL) -> str:
    """The professional's login from ``url`` to this service's callback, whose URL it returns
    (:func:`tests.support.http_login.login_to_callback`)."""
    return login_to_callback(browser, url, REDIRECT_URI, national_id)


def callback(client: Client, url: str) -> AuthorizationResponse | AuthorizationErrorResponse:
    """The callback's query parsed and verified by the library."""
    return client.parse_response(
        AuthorizationResponse, info=urlsplit(url).query, sformat="urlencoded"
    )


def log_in(
    client: Client, browser: requests.Session, method: str
) -> tuple[str, AccessTokenResponse]:
    """A whole code-flow login: the ``state`` and the library's verified token response."""
    url, state, verifier = authorization_request(client)
    answer = callback(client, browser_login(browser, url))
    assert isinstance(answer, AuthorizationResponse), answer.to_dict()
    assert answer["state"] == state
    tokens = client.do_access_token_request(
        state=state,
        request_args={"code": answer["code"], "code_verifier": verifier},
        authn_method=method,
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    return state, tokens


def introspection_client(server, client_id: str) -> OAuth2ExtensionClient:
    """The library's RFC 7662 / RFC 7009 client, configured from the same discovery."""
    client = OAuth2ExtensionClient(client_id=client_id, client_authn_method=CLIENT_AUTHN_METHOD)
    client.client_secret = SECRET
    client.provider_config(server.issuer)
    return client


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_the_whole_integration_through_the_library(server, method):
    client_id = f"pyoidc-{method}"
    register(server, client_id, token_endpoint_auth_method=method)
    client = relying_party(server, client_id, token_endpoint_auth_method=method)
    assert client.issuer == server.issuer
    assert client.authorization_endpoint == f"{server.oidc}/auth"
    browser = requests.Session()

    state, tokens = log_in(client, browser, method)
    # The library has checked the signature against the JWKS, iss, aud, exp and the nonce.
    id_token = tokens["id_token"]
    assert id_token["iss"] == server.issuer and client_id in id_token["aud"]
    assert id_token["SubjectNameID"] == PROFESSIONAL and id_token["acr"] == "eidas1"
    assert tokens["scope"] == SCOPE

    # Userinfo by POST (the library's default: the token in the body) and by GET (Bearer
    # header); the library compares its sub with the ID token's.
    for http_method in ("POST", "GET"):
        userinfo = client.do_user_info_request(state=state, method=http_method)
        assert isinstance(userinfo, OpenIDSchema), userinfo.to_dict()
        assert userinfo["SubjectNameID"] == PROFESSIONAL
        assert userinfo["SubjectRefPro"]["exercices"]

    refreshed = client.do_access_token_refresh(state=state, authn_method=method)
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["id_token"]["sub"] == id_token["sub"]

    oauth2 = introspection_client(server, client_id)
    introspected = oauth2.do_token_introspection(
        request_args={"token": refreshed["access_token"], "token_type_hint": "access_token"},
        authn_method=method,
    )
    assert introspected["active"] is True and introspected["client_id"] == client_id
    assert introspected["SubjectNameID"] == PROFESSIONAL
    # "Revoke Refresh Token" is off, as at PSC: the first refresh token is still valid.
    first = oauth2.do_token_introspection(
        request_args={"token": tokens["refresh_token"]}, authn_method=method
    )
    assert first["active"] is True and first["token_type"] == "Refresh"

    # RP-initiated logout: the library adds the ID token it holds as id_token_hint.
    logout = client.construct_EndSessionRequest(
        state=state, request_args={"post_logout_redirect_uri": LOGGED_OUT_URI, "state": state}
    )
    assert logout["id_token_hint"]
    response = browser.get(logout.request(client.end_session_endpoint), allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{LOGGED_OUT_URI}?state={state}"

    after = client.do_access_token_refresh(state=state, authn_method=method)
    assert isinstance(after, TokenErrorResponse)
    assert after.to_dict() == {"error": "invalid_grant", "error_description": "Session not active"}
    gone = oauth2.do_token_introspection(
        request_args={"token": refreshed["access_token"]}, authn_method=method
    )
    assert gone.to_dict() == {"active": False}


def test_revocation_through_the_library(server):
    register(server, "pyoidc-revocation")
    client = relying_party(server, "pyoidc-revocation")
    state, tokens = log_in(client, requests.Session(), "client_secret_basic")
    oauth2 = introspection_client(server, "pyoidc-revocation")
    revoked = oauth2.do_token_revocation(
        request_args={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        authn_method="client_secret_basic",
    )
    assert revoked == 200
    refused = client.do_access_token_refresh(state=state)
    assert isinstance(refused, TokenErrorResponse)
    assert refused["error"] == "invalid_grant"


def test_a_signed_userinfo_answer_is_verified_by_the_library(server):
    """``userinfo_signed_response_alg``: the answer is a JWT the library verifies against the
    JWKS (OpenID Connect Core 1.0 §5.3.2)."""
    register(server, "pyoidc-signed-userinfo", userinfo_signed_response_alg="RS256")
    client = relying_party(server, "pyoidc-signed-userinfo")
    state, _ = log_in(client, requests.Session(), "client_secret_basic")
    response = requests.post(
        client.userinfo_endpoint,
        headers={"Authorization": f"Bearer {client.get_grant(state).get_token().access_token}"},
        timeout=10,
    )
    assert response.headers["Content-Type"].startswith("application/jwt")
    userinfo = client.do_user_info_request(state=state)
    assert isinstance(userinfo, OpenIDSchema), userinfo.to_dict()
    assert userinfo["SubjectNameID"] == PROFESSIONAL


def test_the_library_verifies_the_back_channel_logout_token(server):
    """OpenID Connect Back-Channel Logout 1.0 §2.6, as the library checks it: signature against
    the JWKS, ``iss``, ``aud``, ``iat``, the ``events`` member, ``sid``, no ``nonce``."""
    with LogoutReceiver() as receiver:
        register(server, "pyoidc-backchannel", backchannel_logout_uri=receiver.url)
        client = relying_party(server, "pyoidc-backchannel")
        browser = requests.Session()
        state, tokens = log_in(client, browser, "client_secret_basic")
        logout = client.construct_EndSessionRequest(
            state=state, request_args={"post_logout_redirect_uri": LOGGED_OUT_URI}
        )
        ended = browser.get(logout.request(client.end_session_endpoint), allow_redirects=False)
        assert ended.headers["Location"] == LOGGED_OUT_URI
        (delivery,) = receiver.wait_for(1)
    request = BackChannelLogoutRequest(**delivery["form"])
    request.verify(aud=client.client_id, iss=client.issuer, keyjar=client.keyjar)
    logout_token = request["logout_token"]
    assert logout_token["sid"] == tokens["id_token"]["sid"]
    assert logout_token["sub"] == tokens["id_token"]["sub"]


def test_the_library_default_private_key_jwt_assertion_authenticates(server):
    """``private_key_jwt`` as the library signs it by default: ``iat`` now and ``exp`` 600 s
    later. Keycloak accepts it (with ``iat``, only the use is bounded: within the client's
    "max expiration" of ``iat``, docs/reference/keycloak-behaviour.md, "Client
    authentication"), so santeid must too."""
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "pyoidc-key", "use": "sig"})
    register(
        server,
        "pyoidc-private-key-jwt",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    client = relying_party(server, "pyoidc-private-key-jwt")
    client.keyjar.add_kb("", KeyBundle([key.as_dict(private=True)]))
    _, tokens = log_in(client, requests.Session(), "private_key_jwt")
    assert tokens["id_token"]["SubjectNameID"] == PROFESSIONAL


def test_error_answers_are_what_the_library_expects(server):
    """Errors come in the shapes the library parses (RFC 6749 §4.1.2.1 with RFC 9207's
    ``iss``, §5.2), with Keycloak's codes and descriptions."""
    register(server, "pyoidc-errors")
    client = relying_party(server, "pyoidc-errors")

    url, state, _ = authorization_request(client, prompt="none")
    silent = callback(client, browser_login(requests.Session(), url))
    assert isinstance(silent, AuthorizationErrorResponse)
    assert silent.to_dict() == {"error": "login_required", "state": state, "iss": server.issuer}

    url, state, _ = authorization_request(client, scope="openid not_a_scope")
    refused = callback(client, browser_login(requests.Session(), url))
    assert isinstance(refused, AuthorizationErrorResponse)
    assert refused["error"] == "invalid_scope" and refused["state"] == state

    browser = requests.Session()
    url, state, verifier = authorization_request(client)
    code = callback(client, browser_login(browser, url))["code"]
    wrong = client.do_access_token_request(
        state=state, request_args={"code": code, "code_verifier": verifier[:-1] + "-"}
    )
    assert isinstance(wrong, TokenErrorResponse)
    assert wrong.to_dict() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Code mismatch",
    }
    # The code is spent by the failed attempt, as Keycloak spends it.
    again = client.do_access_token_request(
        state=state, request_args={"code": code, "code_verifier": verifier}
    )
    assert isinstance(again, ErrorResponse) and again["error"] == "invalid_grant"


def test_single_sign_on_and_id_token_hint_through_the_library(server):
    """A second service request in the same browser: ``prompt=none`` with the ID token as
    ``id_token_hint`` answers at once, and the library accepts the new ID token (same
    ``auth_time``, OpenID Connect Core 1.0 §3.1.2.1)."""
    register(server, "pyoidc-sso")
    client = relying_party(server, "pyoidc-sso")
    browser = requests.Session()
    _, first = log_in(client, browser, "client_secret_basic")
    url, state, verifier = authorization_request(
        client, prompt="none", id_token_hint=first["id_token_jwt"]
    )
    answer = callback(client, browser_login(browser, url, national_id="not used"))
    assert isinstance(answer, AuthorizationResponse), answer.to_dict()
    second = client.do_access_token_request(
        state=state, request_args={"code": answer["code"], "code_verifier": verifier}
    )
    assert isinstance(second, AccessTokenResponse), second.to_dict()
    assert second["id_token"]["auth_time"] == first["id_token"]["auth_time"]
    assert second["id_token"]["sid"] == first["id_token"]["sid"]


def test_the_library_follows_a_key_rotation(server):
    """``santeid keys rotate`` while the service runs: the library, holding the JWKS it read at
    discovery, meets an ID token with an unknown ``kid``, fetches the JWK Set again (OpenID
    Connect Core 1.0 §10.1.1) and verifies it (docs/keys.md, "Rotation")."""
    register(server, "pyoidc-rotation")
    client = relying_party(server, "pyoidc-rotation")
    state, tokens = log_in(client, requests.Session(), "client_secret_basic")
    first_kid = tokens["id_token"].jws_header["kid"]
    server.cli("keys", "rotate")
    # Every worker signs with the new key within reload_interval (5 s): refresh until one has.
    deadline = time.monotonic() + 30
    while True:
        refreshed = client.do_access_token_refresh(state=state)
        assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
        if refreshed["id_token"].jws_header["kid"] != first_kid:
            break
        assert time.monotonic() < deadline, "no token signed by the new key within 30 s"
        time.sleep(0.5)
    published = requests.get(client.provider_info["jwks_uri"], timeout=5).json()["keys"]
    assert {key["kid"] for key in published} >= {first_kid, refreshed["id_token"].jws_header["kid"]}


def test_discovery_lists_what_the_library_uses(server):
    """The metadata the library read (OpenID Connect Discovery 1.0 §3) is the one served."""
    client = relying_party(server, "pyoidc-discovery")
    served = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=5).json()
    read = json.loads(client.provider_info.to_json())
    assert {name: read[name] for name in served} == served
    assert "client_secret_post" in client.provider_info["token_endpoint_auth_methods_supported"]

"""A FastAPI service logging professionals in with httpx-oauth 0.17's generic ``OpenID`` client
(https://frankie567.github.io/httpx-oauth/reference/httpx_oauth.clients.openid/), the client
fastapi-users' OAuth routes take, configured from PSC's wallet discovery URL with only the base
URL changed, against a real ``santeid serve``. The service (FastAPI, served by uvicorn in a
thread: tests/support/asgi_server.py) sends the authorization request with its ``state`` (kept
in a cookie), ``acr_values`` and ``nonce`` as ``extras_params``, and takes the callback with
the library's ``OAuth2AuthorizeCallback`` dependency; the browser's part is played over plain
HTTP with a sandbox professional (docs/sandbox.md).

What the library does with PSC's answers:

- the constructor reads the discovery document once: the endpoints, ``refresh_token`` in
  ``grant_types_supported`` (refresh allowed), ``revocation_endpoint``, and the first method of
  ``token_endpoint_auth_methods_supported`` it implements — ``client_secret_basic``, since PSC's
  list starts with ``private_key_jwt`` — for the token and revocation requests alike;
- ``base_scopes`` defaults to ``openid email``: PSC's ``openid scope_all`` must be given;
  ``email``, a scope PSC advertises (docs/reference/pro-sante-connect.md §2), is granted but
  releases no ``email``, and without ``scope_all`` the login gets the identity claims only;
- the ID token is returned in the token answer, never validated (nor its ``nonce``): the
  service's own business, or none;
- ``get_id_email`` reads userinfo's ``sub`` and ``email``: PSC's userinfo has no ``email``,
  so it gives ``None``, which fastapi-users refuses (``OAUTH_NOT_AVAILABLE_EMAIL``,
  https://github.com/fastapi-users/fastapi-users/blob/master/fastapi_users/router/oauth.py)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from fastapi import Depends
from fastapi import FastAPI
from fastapi import HTTPException
from fastapi import Request
from fastapi.responses import RedirectResponse
from httpx_oauth.clients.openid import OpenID
from httpx_oauth.exceptions import GetIdEmailError
from httpx_oauth.exceptions import GetProfileError
from httpx_oauth.integrations.fastapi import OAuth2AuthorizeCallback
from httpx_oauth.oauth2 import GetAccessTokenError
from httpx_oauth.oauth2 import OAuth2Token
from httpx_oauth.oauth2 import RefreshTokenError
from keycloak.pkce_utils import generate_code_challenge
from keycloak.pkce_utils import generate_code_verifier

from tests.support.asgi_server import uvicorn_serving
from tests.support.http_login import login_to_callback
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CLIENT_ID = "httpx-oauth-service"
SECRET = "a-long-secret-for-the-httpx-oauth-service-1"
REDIRECT_URI = "https://service.example.org/callback"
SCOPES = ["openid", "scope_all"]
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    client = {
        "client_id": CLIENT_ID,
        "client_name": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with santeid_process(
        tmp_path_factory.mktemp("httpx-oauth"), SANTEID_STORE_URL="memory://", clients=[client]
    ) as process:
        yield process


def openid(server, base_scopes: list[str] | None = SCOPES) -> OpenID:
    """The client as the service configures it: its credentials and PSC's wallet discovery
    URL, the base URL santeid's (``base_scopes``: the library's default when ``None`` is not
    wanted, see :func:`test_the_librarys_default_scopes`)."""
    discovery = f"{server.issuer}/.well-known/wallet-openid-configuration"
    if base_scopes is None:
        return OpenID(CLIENT_ID, SECRET, discovery)
    return OpenID(CLIENT_ID, SECRET, discovery, base_scopes=base_scopes)


def service(client: OpenID) -> FastAPI:
    """The service: ``/login`` sends the professional to the authorization endpoint with a
    ``state`` it keeps in a cookie; ``/callback`` (the library's dependency exchanges the code)
    checks the state, then answers the tokens and what ``get_id_email`` and ``get_profile``
    read."""
    app = FastAPI()
    callback = OAuth2AuthorizeCallback(client, redirect_url=REDIRECT_URI)

    @app.get("/login")
    async def login() -> RedirectResponse:
        state = secrets.token_urlsafe(16)
        extras = {"acr_values": "eidas1", "nonce": secrets.token_urlsafe(16)}
        url = await client.get_authorization_url(REDIRECT_URI, state, extras_params=extras)
        redirect = RedirectResponse(url)
        redirect.set_cookie("login_state", state, httponly=True)
        return redirect

    @app.get("/callback")
    async def logged_in(
        request: Request, answer: tuple[OAuth2Token, str | None] = Depends(callback)
    ) -> dict:
        token, state = answer
        if state != request.cookies.get("login_state"):
            raise HTTPException(400, "state mismatch")
        user_id, email = await client.get_id_email(token["access_token"])
        profile = await client.get_profile(token["access_token"])
        return {"token": token, "id": user_id, "email": email, "profile": profile}

    return app


@contextlib.contextmanager
def running(client: OpenID) -> Iterator[str]:
    with uvicorn_serving(service(client)) as origin:
        yield origin


def through_the_service(origin: str, national_id: str = PROFESSIONAL) -> requests.Response:
    """A professional's login from the service's ``/login`` to its ``/callback``, one browser
    (a ``requests`` session) throughout: the service's answer at the callback."""
    browser = requests.Session()
    start = browser.get(f"{origin}/login", allow_redirects=False)
    assert start.status_code == 307, start.text
    refused = national_id == DENYING
    url = login_to_callback(
        browser, start.headers["Location"], REDIRECT_URI, national_id, refused=refused
    )
    return browser.get(f"{origin}/callback?{urlsplit(url).query}", allow_redirects=False)


def test_the_discovery_configures_the_client(server):
    """The wallet discovery document gives every endpoint (the authorization endpoint the
    wallet's, at the server's root as PSC's is on its wallet host), and the methods the
    library picks."""
    client = openid(server)
    assert client.authorize_endpoint == f"{server.base}/auth"
    assert client.access_token_endpoint == client.refresh_token_endpoint == f"{server.oidc}/token"
    assert client.revoke_token_endpoint == f"{server.oidc}/revoke"
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.revocation_endpoint_auth_method == "client_secret_basic"


def test_the_login_through_the_fastapi_service(server):
    """``/login``: PSC's scope, ``acr_values``, the service's ``state`` and ``nonce``. At the
    callback the code is exchanged (HTTP Basic), the tokens read, userinfo's ``sub`` with no
    ``email``, and the PSC profile (``SubjectNameID``, ``SubjectRefPro``)."""
    with running(openid(server)) as origin:
        start = requests.get(f"{origin}/login", allow_redirects=False, timeout=10)
        query = parse_qs(urlsplit(start.headers["Location"]).query)
        assert query["scope"] == ["openid scope_all"] and query["acr_values"] == ["eidas1"]
        assert query["state"] and query["nonce"] and query["response_type"] == ["code"]
        answer = through_the_service(origin)
    assert answer.status_code == 200, answer.text
    logged_in = answer.json()
    token = logged_in["token"]
    assert token["token_type"] == "Bearer" and token["scope"] == "openid scope_all"
    assert token["access_token"] and token["refresh_token"] and token["id_token"]
    assert token["expires_at"] - token["expires_in"] > 0  # computed by the library
    assert logged_in["email"] is None
    assert logged_in["id"] == logged_in["profile"]["sub"]
    assert logged_in["id"].endswith(f":{PROFESSIONAL}")
    assert logged_in["profile"]["SubjectNameID"] == PROFESSIONAL
    assert logged_in["profile"]["SubjectRefPro"]["exercices"]


def test_the_librarys_default_scopes(server):
    """Without ``base_scopes`` the library asks ``openid email``: the login goes through,
    ``email`` granted (PSC advertises it) with no ``email`` claim, and without ``scope_all``
    userinfo has the identity only (docs/claims.md, "Without ``scope_all``")."""
    with running(openid(server, base_scopes=None)) as origin:
        answer = through_the_service(origin)
    assert answer.status_code == 200, answer.text
    logged_in = answer.json()
    assert logged_in["token"]["scope"] == "openid email"
    assert logged_in["email"] is None
    assert list(logged_in["profile"]) == [
        "sub", "preferred_username", "given_name", "SubjectNameID", "family_name",
    ]  # fmt: skip


def code_of(server, client: OpenID, **params) -> str:
    """The code of a professional's login from the library's authorization URL (``params``:
    its other arguments)."""
    url = asyncio.run(
        client.get_authorization_url(REDIRECT_URI, secrets.token_urlsafe(8), **params)
    )
    callback = login_to_callback(requests.Session(), url, REDIRECT_URI, PROFESSIONAL)
    return parse_qs(urlsplit(callback).query)["code"][0]


def test_pkce_refresh_and_revocation(server):
    """The library's own calls: PKCE S256 (the verifier at the exchange; a wrong one is
    santeid's ``invalid_grant``), ``refresh_token``, ``revoke_token`` of the access token
    (userinfo then refuses it: ``GetProfileError`` with santeid's 401) and of the refresh
    token (the next refresh is ``RefreshTokenError`` with the 400 ``invalid_grant``). An
    unknown token's revocation is Keycloak's 200 (with an ``invalid_token`` body), which the
    library, reading the status only, takes as done."""
    client = openid(server)
    verifier = generate_code_verifier()
    pkce = {"code_challenge": generate_code_challenge(verifier)[0], "code_challenge_method": "S256"}
    code = code_of(server, client, **pkce)
    with pytest.raises(GetAccessTokenError) as wrong:
        asyncio.run(client.get_access_token(code, REDIRECT_URI, generate_code_verifier()))
    assert wrong.value.response.status_code == 400
    assert wrong.value.response.json()["error"] == "invalid_grant"

    token = asyncio.run(
        client.get_access_token(code_of(server, client, **pkce), REDIRECT_URI, verifier)
    )
    refreshed = asyncio.run(client.refresh_token(token["refresh_token"]))
    assert refreshed["access_token"] != token["access_token"] and not refreshed.is_expired()
    assert (
        asyncio.run(client.get_profile(refreshed["access_token"]))["SubjectNameID"] == PROFESSIONAL
    )

    asyncio.run(client.revoke_token(refreshed["access_token"], "access_token"))
    with pytest.raises(GetIdEmailError) as revoked:
        asyncio.run(client.get_id_email(refreshed["access_token"]))
    assert revoked.value.response.status_code == 401
    with pytest.raises(GetProfileError):
        asyncio.run(client.get_profile(refreshed["access_token"]))

    asyncio.run(client.revoke_token(refreshed["refresh_token"], "refresh_token"))
    with pytest.raises(RefreshTokenError) as ended:
        asyncio.run(client.refresh_token(refreshed["refresh_token"]))
    assert ended.value.response.status_code == 400
    assert ended.value.response.json()["error"] == "invalid_grant"
    assert asyncio.run(client.revoke_token("not-a-token")) is None


def test_refusals_at_the_callback(server):
    """A login refused on the sandbox phone comes back with ``error=access_denied``: the
    dependency answers 400 with it. A code used twice: santeid's 400 ``invalid_grant`` "Code
    not valid", which the dependency turns into a 500 whose detail is httpx's message."""
    with running(openid(server)) as origin:
        denied = through_the_service(origin, DENYING)
        assert denied.status_code == 400 and denied.json() == {"detail": "access_denied"}

        browser = requests.Session()
        start = browser.get(f"{origin}/login", allow_redirects=False)
        url = login_to_callback(browser, start.headers["Location"], REDIRECT_URI, PROFESSIONAL)
        callback = f"{origin}/callback?{urlsplit(url).query}"
        assert browser.get(callback).status_code == 200
        again = browser.get(callback)
    assert again.status_code == 500
    assert again.json()["detail"].startswith("Client error '400 Bad Request'")
    client = openid(server)
    with pytest.raises(GetAccessTokenError) as used:
        asyncio.run(client.get_access_token(parse_qs(urlsplit(url).query)["code"][0], REDIRECT_URI))
    assert used.value.response.json() == {
        "error": "invalid_grant",
        "error_description": "Code not valid",
    }

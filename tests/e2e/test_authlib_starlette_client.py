"""A FastAPI/Starlette service logging professionals in with Authlib's Starlette client
(``authlib.integrations.starlette_client``,
https://docs.authlib.org/en/latest/client/starlette.html), pointed at a real ``santeid serve``
with only the base URL changed: ``server_metadata_url`` PSC's wallet discovery URL,
``client_kwargs`` ``{"scope": "openid scope_all", "code_challenge_method": "S256"}``,
``acr_values="eidas1"`` given to ``authorize_redirect``. The service runs under uvicorn
(tests/support/asgi_server.py) with Starlette's ``SessionMiddleware`` keeping the state, nonce
and PKCE verifier; the professional's browser is plain HTTP (tests/support/http_login.py).

What differs from the Flask client (tests/e2e/test_authlib_flask_client.py) and is driven
here: every request goes through the library's ``httpx`` ``AsyncOAuth2Client``; the ID token
is validated by ``AsyncOpenIDMixin.parse_id_token``, which keeps the JWK Set it fetched in the
metadata and fetches it again only for an unknown ``kid`` (a key rotation,
https://docs.authlib.org/en/latest/client/frameworks.html#parsing-id-token); the registry's
``fetch_token`` and ``update_token`` are coroutines; and ``private_key_jwt`` comes from
``client_auth_methods=[PrivateKeyJWT()]`` with the private key as ``client_secret``
(https://docs.authlib.org/en/latest/client/oauth2.html#client-authentication). An exception in
a view of the service fails the test."""

from __future__ import annotations

import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.support.asgi_server import uvicorn_serving
from tests.support.http_login import login_from_service
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CLIENT_ID = "starlette-service"
KEY_CLIENT_ID = "starlette-service-key"
SECRET = "a-long-secret-for-the-starlette-service-01"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The service's clients at Authlib's registry: PSC's with its secret, PSC's with a signed
#: assertion (``private_key_jwt``), and the first with a wrong secret.
PSC = "psc"
PSC_KEY = "psc_key"
WRONG_SECRET = "psc_wrong_secret"
#: The service's own key for ``private_key_jwt``; its public half is registered at santeid.
SERVICE_KEY = RSAKey.generate_key(2048, private=True, parameters={"kid": "service-key"})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("authlib-starlette"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


class Service:
    """The Starlette service: its application, Authlib's registry, the tokens it keeps (by the
    professional's ``sub``), what ``update_token`` received, the exceptions its views raised."""

    def __init__(self, discovery_url: str) -> None:
        from authlib.integrations.starlette_client import OAuth
        from authlib.integrations.starlette_client import OAuthError
        from authlib.oauth2.rfc7523 import PrivateKeyJWT
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.sessions import SessionMiddleware
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        self.tokens: dict[str, dict] = {}
        self.updates: list[dict] = []
        self.exceptions: list[BaseException] = []
        #: How many times the service's client fetched the JWK Set.
        self.jwks_fetches = 0

        async def fetch_token(name, request):
            return self.tokens.get(request.session.get("sub", ""))

        async def update_token(name, token, refresh_token=None, access_token=None):
            self.updates.append({"name": name, "refresh_token": refresh_token})
            # The professional whose tokens were refreshed: the one holding that refresh token.
            (sub,) = (
                s for s, kept in self.tokens.items() if kept["refresh_token"] == refresh_token
            )
            self.tokens[sub] = token

        oauth = OAuth(fetch_token=fetch_token, update_token=update_token)
        common = {
            "server_metadata_url": discovery_url,
            "client_id": CLIENT_ID,
            "client_kwargs": {"scope": "openid scope_all", "code_challenge_method": "S256"},
        }
        # https://docs.authlib.org/en/latest/client/starlette.html
        oauth.register(PSC, client_secret=SECRET, **common)
        oauth.register(WRONG_SECRET, client_secret="not-the-secret", **common)
        oauth.register(
            PSC_KEY,
            **{
                **common,
                "client_id": KEY_CLIENT_ID,
                "client_kwargs": {
                    **common["client_kwargs"],
                    "token_endpoint_auth_method": "private_key_jwt",
                },
            },
            client_secret=SERVICE_KEY.as_dict(private=True),
            client_auth_methods=[PrivateKeyJWT()],
        )
        self.oauth = oauth
        fetch_jwk_set = type(oauth.psc).fetch_jwk_set

        async def counted_fetch_jwk_set(client, force=False):
            if force or not client.server_metadata.get("jwks"):
                self.jwks_fetches += 1
            return await fetch_jwk_set(client, force=force)

        for name in (PSC, PSC_KEY, WRONG_SECRET):
            client = oauth.create_client(name)
            client.fetch_jwk_set = counted_fetch_jwk_set.__get__(client)

        async def login(request):
            callback = str(request.url_for("callback", name=request.path_params["name"]))
            client = oauth.create_client(request.path_params["name"])
            return await client.authorize_redirect(request, callback, acr_values="eidas1")

        async def callback(request):
            try:
                token = await oauth.create_client(
                    request.path_params["name"]
                ).authorize_access_token(request)
            except OAuthError as error:
                return JSONResponse(
                    {
                        "exception": type(error).__name__,
                        "error": error.error,
                        "description": error.description,
                    }
                )
            sub = token["userinfo"]["sub"]
            request.session["sub"] = sub
            self.tokens[sub] = token
            return JSONResponse({"token": token})

        async def userinfo(request):
            return JSONResponse(dict(await oauth.psc.userinfo(request=request)))

        async def refresh(request):
            """The refresh grant, asked for by the service."""
            old = self.tokens[request.session["sub"]]
            new = await oauth.psc.fetch_access_token(
                grant_type="refresh_token", refresh_token=old["refresh_token"]
            )
            self.tokens[request.session["sub"]] = new
            return JSONResponse({"old": old, "new": new})

        async def expired_then_userinfo(request):
            """The access token has expired: the client refreshes it on its own before it
            calls userinfo, and hands the new tokens to ``update_token``."""
            sub = request.session["sub"]
            old = dict(self.tokens[sub])
            self.tokens[sub] = {**old, "expires_at": int(time.time()) - 1}
            claims = await oauth.psc.userinfo(request=request)
            return JSONResponse({"old": old, "new": self.tokens[sub], "userinfo": dict(claims)})

        async def logout(request):
            """RP-initiated logout: the end-session endpoint with the ID token as
            ``id_token_hint`` and a ``state`` the client checks on the way back."""
            token = self.tokens.pop(request.session["sub"])
            back = str(request.url_for("logged_out"))
            return await oauth.psc.logout_redirect(request, back, id_token_hint=token["id_token"])

        async def logged_out(request):
            try:
                state = await oauth.psc.validate_logout_response(request)
            except OAuthError as error:
                return JSONResponse({"exception": type(error).__name__, "error": error.description})
            request.session.clear()
            return JSONResponse(state)

        def recorded(view):
            async def run(request):
                try:
                    return await view(request)
                except Exception as error:
                    self.exceptions.append(error)
                    raise

            return run

        self.app = Starlette(
            routes=[
                Route("/login/{name}", recorded(login)),
                Route("/callback/{name}", recorded(callback), name="callback"),
                Route("/userinfo", recorded(userinfo)),
                Route("/refresh", recorded(refresh)),
                Route("/expired-then-userinfo", recorded(expired_then_userinfo)),
                Route("/logout", recorded(logout)),
                Route("/logged-out", recorded(logged_out), name="logged_out"),
            ],
            middleware=[
                # Its own cookie name: the browser sends a host's cookies to every port, and
                # santeid is on the same host here.
                Middleware(
                    SessionMiddleware,
                    secret_key="a-test-secret-key-for-the-starlette-service",
                    session_cookie="starlette_service_session",
                )
            ],
        )


@pytest.fixture(scope="module")
def service(server):
    """The service, registered at santeid as an operator registers it (a secret, and a
    ``private_key_jwt`` client with the service's public key), serving under uvicorn."""
    service = Service(f"{server.issuer}/.well-known/wallet-openid-configuration")
    with uvicorn_serving(service.app) as origin:
        callbacks = [f"{origin}/callback/{name}" for name in (PSC, WRONG_SECRET, PSC_KEY)]
        for client_id, metadata in (
            (
                CLIENT_ID,
                {"client_secret": SECRET, "token_endpoint_auth_method": "client_secret_basic"},
            ),
            (
                KEY_CLIENT_ID,
                {
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [SERVICE_KEY.as_dict(private=False)]},
                },
            ),
        ):
            server.register(
                client_id,
                redirect_uris=callbacks,
                post_logout_redirect_uris=[f"{origin}/logged-out"],
                grant_types=["authorization_code", "refresh_token"],
                **metadata,
            )
        service.origin = origin  # type: ignore[attr-defined]
        yield service


@pytest.fixture
def site(service):
    """The service's origin; none of its views may raise."""
    service.exceptions.clear()
    service.updates.clear()
    yield service.origin
    assert not service.exceptions, service.exceptions


def log_in(
    browser: requests.Session, site: str, national_id: str = PROFESSIONAL, name: str = PSC
) -> dict:
    """The professional logs in from the service's login route: what its callback shows."""
    callback = login_from_service(
        browser, f"{site}/login/{name}", f"{site}/callback/{name}", national_id
    )
    return browser.get(callback, timeout=10).json()


def test_the_login_validates_the_id_token_into_userinfo(server, site):
    """``authorize_redirect`` with ``acr_values``, a nonce and a PKCE S256 challenge, then
    ``authorize_access_token``: the token response, and the ID token validated against the
    JWKS (``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``) into ``token["userinfo"]``."""
    browser = requests.Session()
    sent = browser.get(f"{site}/login/{PSC}", allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(sent.headers["Location"]).query)
    assert query["acr_values"] == ["eidas1"] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid scope_all"] and query["nonce"]
    shown = log_in(browser, site)
    token, claims = shown["token"], shown["token"]["userinfo"]
    assert token["token_type"] == "Bearer" and token["scope"] == "openid scope_all"
    assert token["access_token"] and token["refresh_token"] and token["expires_at"]
    assert claims["iss"] == server.issuer and claims["aud"] == CLIENT_ID
    assert claims["acr"] == "eidas1" and claims["at_hash"] and claims["nonce"]
    assert claims["SubjectNameID"] == PROFESSIONAL


def test_userinfo_with_the_tokens_the_service_kept(site):
    """``userinfo(request=…)``: the access token from the registry's ``fetch_token``."""
    browser = requests.Session()
    sub = log_in(browser, site)["token"]["userinfo"]["sub"]
    claims = browser.get(f"{site}/userinfo", timeout=10).json()
    assert claims["sub"] == sub and claims["SubjectNameID"] == PROFESSIONAL
    assert (claims["given_name"], claims["family_name"]) == ("CLEMENT", "ARNAUD")
    assert claims["SubjectRefPro"]["exercices"]


def test_fetch_access_token_with_the_refresh_grant(site):
    """``fetch_access_token(grant_type="refresh_token", …)`` through the httpx client: new
    tokens of the same session, which userinfo accepts."""
    browser = requests.Session()
    log_in(browser, site)
    shown = browser.get(f"{site}/refresh", timeout=10).json()
    old, new = shown["old"], shown["new"]
    assert new["access_token"] != old["access_token"] and new["refresh_token"]
    assert new["session_state"] == old["session_state"]
    assert browser.get(f"{site}/userinfo", timeout=10).json()["SubjectNameID"] == PROFESSIONAL


def test_an_expired_access_token_is_refreshed_by_the_client(service, site):
    """The access token has expired: ``AsyncOAuth2Client`` refreshes it before it calls
    userinfo, and awaits ``update_token`` with the new tokens and the refresh token used."""
    browser = requests.Session()
    log_in(browser, site)
    shown = browser.get(f"{site}/expired-then-userinfo", timeout=10).json()
    old, new = shown["old"], shown["new"]
    assert new["access_token"] != old["access_token"] and new["expires_at"] > time.time()
    assert shown["userinfo"]["SubjectNameID"] == PROFESSIONAL
    assert service.updates == [{"name": PSC, "refresh_token": old["refresh_token"]}]


def test_private_key_jwt_through_client_auth_methods(server, site):
    """``private_key_jwt`` as Authlib signs it (``iss`` and ``sub`` the client, ``aud`` the
    token endpoint, ``exp`` an hour after ``iat``, a ``jti``): santeid authenticates the
    client, as Keycloak's "Signed JWT" authenticator does for an assertion used at once
    (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    browser = requests.Session()
    shown = log_in(browser, site, name=PSC_KEY)
    assert "token" in shown, shown
    assert shown["token"]["userinfo"]["aud"] == KEY_CLIENT_ID
    assert shown["token"]["userinfo"]["SubjectNameID"] == PROFESSIONAL


def test_the_client_fetches_the_jwk_set_again_after_a_key_rotation(server, service, site):
    """``santeid keys rotate`` while the service runs: the client, holding the JWK Set it
    fetched at its first login, meets an ID token with an unknown ``kid``, fetches the set
    again once (OpenID Connect Core 1.0 §10.1.1, docs/keys.md "Rotation") and accepts it."""
    first = log_in(requests.Session(), site)["token"]
    fetches = service.jwks_fetches
    assert fetches >= 1
    kid = rotated(server)
    deadline = time.monotonic() + 30
    while kid_of((token := log_in(requests.Session(), site)["token"])["id_token"]) != kid:
        assert time.monotonic() < deadline, "no ID token signed by the new key within 30 s"
        time.sleep(0.5)
    assert kid_of(first["id_token"]) != kid
    assert token["userinfo"]["SubjectNameID"] == PROFESSIONAL
    assert service.jwks_fetches == fetches + 1


def test_rp_initiated_logout_with_the_clients_state(server, site):
    """``logout_redirect`` sends the browser to the discovered end-session endpoint with the
    ID token as ``id_token_hint`` and a ``state``; santeid ends the session without a
    confirmation page and comes back with that ``state``, which ``validate_logout_response``
    checks. The next login asks for the professional again."""
    browser = requests.Session()
    log_in(browser, site)
    ended = browser.get(f"{site}/logout", timeout=10)
    assert ended.url.startswith(f"{site}/logged-out?state=")
    assert ended.json() == {"post_logout_redirect_uri": f"{site}/logged-out"}
    again = browser.get(f"{site}/login/{PSC}", timeout=10)
    assert again.url.startswith(server.base) and 'name="national_id"' in again.text


def test_a_login_refused_on_the_phone_is_an_oautherror(site):
    """The professional refuses on the sandbox phone and gives up: the callback has
    ``error=access_denied`` and, as from Keycloak, no ``error_description``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"), which
    ``authorize_access_token`` raises as ``OAuthError``."""
    browser = requests.Session()
    callback = login_from_service(
        browser, f"{site}/login/{PSC}", f"{site}/callback/{PSC}", DENYING, refused=True
    )
    assert browser.get(callback, timeout=10).json() == {
        "exception": "OAuthError",
        "error": "access_denied",
        "description": "",
    }


def test_a_wrong_client_secret_is_an_oautherror(site):
    """The service's secret is wrong: Keycloak's 401 ``unauthorized_client`` "Invalid client
    or Invalid client credentials" (docs/psc-integration.md §5.1), raised by the httpx
    client as ``OAuthError``."""
    shown = log_in(requests.Session(), site, name=WRONG_SECRET)
    assert shown == {
        "exception": "OAuthError",
        "error": "unauthorized_client",
        "description": "Invalid client or Invalid client credentials",
    }

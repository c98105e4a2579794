"""A Next.js service logging professionals in with NextAuth.js v4 (https://next-auth.js.org:
``next-auth`` 4.24, built on openid-client 5) and its Keycloak provider, pointed at a real
``santeid serve`` by the realm URL alone and driven in headless Chromium through the
sandbox's login page.

The service is ``tests/e2e/nextauth/`` (Next.js's pages router): the provider as its page
(https://next-auth.js.org/providers/keycloak) configures it, with PSC's parameters — ``issuer``
the realm, a client secret, ``scope`` ``openid scope_all`` and ``acr_values`` ``eidas1`` as
authorization parameters, the checks ``pkce``, ``state`` and ``nonce`` — the JWT session with
the ``jwt`` and ``session`` callbacks of the refresh-token rotation guide
(https://next-auth.js.org/v3/tutorials/refresh-token-rotation) keeping the access, refresh and
ID tokens, and a sign-out through Keycloak's end-session URL built from the ID token. Its
locked dependencies are installed with ``npm ci`` and ``next build`` runs once, kept in its
git-ignored ``.next`` until its sources change; each run starts it with ``next start`` on a
free port, ``NEXTAUTH_URL`` and ``NEXTAUTH_SECRET`` new. It listens on ``localhost`` (another
site than santeid's ``127.0.0.1``).

openid-client 5 checks what the browser brings back (``state``, RFC 9207's ``iss`` as the
discovery document announces it) and the token endpoint's answer (the ID token's signature,
``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, with the PKCE verifier sent); a refusal lands
on next-auth's error or sign-in page with its ``?error=…``, which the tests read."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import opened_json
from tests.support.browser import shown_json
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.http_login import login_to_callback
from tests.support.next_auth_pages import NextAuthPages
from tests.support.next_auth_pages import client_authentication
from tests.support.node import NODE
from tests.support.node import built_once
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.node import node_version
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "nextauth"

#: Next.js 16 needs Node.js 20.9 or later (its ``engines``); Debian 12 ships 18.
needs_node_20_9 = pytest.mark.skipif(
    NODE is not None and node_version() < (20, 9),
    reason="Next.js 16 needs Node.js 20.9 or later",
)

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    needs_node_and_npm,
    needs_node_20_9,
    # The first test waits for the service's `next build` (once per checkout).
    pytest.mark.timeout(300),
]

CLIENT_ID = "nextauth-service"
SECRET = "a-long-secret-for-the-nextauth-service-001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The library's own pages.
PAGES = NextAuthPages(base="/api/auth", library="next-auth's")
#: The access tokens' lifetime at the second santeid, in seconds: the ``jwt`` callback
#: refreshes them once they have expired.
SHORT_LIFETIME = 5


@pytest.fixture(scope="module")
def built():
    """The service's ``next build`` (Next.js's own environment: no telemetry), once."""
    install_locked(APP_DIR, "next-auth")
    env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
    sources = [APP_DIR / "pages", APP_DIR / "package.json"]
    return built_once(APP_DIR, sources, APP_DIR / ".next", env)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("nextauth"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def nextauth_service(
    server,
    folder: Path,
    client_id: str,
    *,
    secret: str = SECRET,
    metadata: dict | None = None,
    extra_env: dict[str, str] | None = None,
):
    """The service, registered at santeid as an operator registers it (next-auth's callback,
    its logout return page; ``metadata`` changes the registration, ``None`` removes an entry),
    then started with ``next start``, the realm as ``issuer``, the client secret ``secret``
    and ``extra_env`` in its environment; its origin."""
    assert NODE is not None  # needs_node_and_npm
    port = free_port()
    origin = f"http://localhost:{port}"
    PAGES.register(server, client_id, origin, SECRET, metadata)
    env = {
        **os.environ,
        "NEXT_TELEMETRY_DISABLED": "1",
        "ISSUER": server.issuer,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "NEXTAUTH_URL": origin,
        "NEXTAUTH_SECRET": secrets.token_urlsafe(32),
        **(extra_env or {}),
    }
    next_bin = APP_DIR / "node_modules" / "next" / "dist" / "bin" / "next"
    command = [NODE, str(next_bin), "start", str(APP_DIR), "--port", str(port)]
    with running_server(
        [*command, "--hostname", "127.0.0.1"],
        env,
        folder / f"{client_id}.log",
        f"http://127.0.0.1:{port}/api/auth/providers",
    ):
        yield origin


@pytest.fixture(scope="module")
def site_log(tmp_path_factory) -> Path:
    """The log of the module's service (next-auth logs the errors it maps)."""
    return tmp_path_factory.mktemp("nextauth-log") / f"{CLIENT_ID}.log"


@pytest.fixture(scope="module")
def site(built, server, site_log):
    with nextauth_service(server, site_log.parent, CLIENT_ID) as origin:
        yield origin


def test_the_login_gives_the_session(browser, server, site):
    """The sign-in: discovery by the realm, the authorization request with PSC's parameters,
    PKCE, ``state`` and ``nonce``; back at the callback, openid-client checks ``state`` and
    RFC 9207's ``iss``, exchanges the code and validates the ID token. The provider's
    ``profile()`` maps Keycloak's claims: ``id`` the ``sub``, ``name`` the ``name`` or else
    the ``preferred_username`` — PSC's ID token has ``given_name`` and ``family_name`` but no
    ``name`` (docs/reference/pro-sante-connect.md §7), so the national identifier —
    and ``email`` and ``image``, which PSC does not give, left out. The ``account`` next-auth
    gives the ``jwt`` callback holds the token answer's members as Keycloak's."""
    session = PAGES.logged_in(browser, site, PROFESSIONAL)
    user = session["user"]
    assert user == {"id": f"f:{user['id'].split(':')[1]}:{PROFESSIONAL}", "name": PROFESSIONAL}
    claims = session["claims"]
    assert claims["sub"] == user["id"] and claims["preferred_username"] == PROFESSIONAL
    assert claims["given_name"] == "CLEMENT" and claims["family_name"] == "ARNAUD"
    assert "name" not in claims
    assert claims["iss"] == server.issuer and claims["acr"] == "eidas1"
    assert claims["nonce"] and claims["sid"] and claims["SubjectNameID"] == PROFESSIONAL
    assert claims["practices"] == 0  # SubjectRefPro: userinfo's only
    assert session["accessToken"] and session["refreshTokenPresent"]
    assert session["idTokenPresent"] and session["error"] is None
    account = session["account"]
    assert account["token_type"] == "Bearer" and account["scope"] == "openid scope_all"
    assert account["session_state"] == claims["sid"] and account["refresh_expires_in"] > 0
    assert account["not_before_policy"] == 0


def test_the_authorization_request_carries_the_checks(server, site):
    """What next-auth sends santeid: the code flow, PSC's scope and ``acr_values``, S256 PKCE,
    ``state`` and ``nonce`` (the three checks configured), the callback as registered."""
    endpoint, query = PAGES.authorization_request(site)
    assert endpoint == f"{server.oidc}/auth"
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["scope"] == "openid scope_all" and query["acr_values"] == "eidas1"
    assert query["redirect_uri"] == f"{site}/api/auth/callback/keycloak"
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"]


def test_the_callback_passes_the_iss_and_state_checks(server, site, site_log):
    """The browser's part over HTTP: santeid's callback carries the ``state`` next-auth sent
    and RFC 9207's ``iss``, the realm. The same callback with another ``iss``, or another
    ``state``, is refused by openid-client before any code exchange ("iss mismatch", "state
    mismatch"; next-auth's sign-in page with ``OAuthCallback``); the one santeid sent then
    logs the professional in."""
    with requests.Session() as http:
        url = PAGES.signed_in(http, site)
        sent_state = parse_qs(urlsplit(url).query)["state"][0]
        callback = login_to_callback(http, url, f"{site}/api/auth/callback/keycloak", PROFESSIONAL)
        query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
        assert query["iss"] == server.issuer and query["state"] == sent_state and query["code"]

        refused = f"{site}/api/auth/error?error=OAuthCallback"
        forged_iss = callback.replace(
            f"iss={requests.utils.quote(server.issuer, safe='')}",
            "iss=https%3A%2F%2Fauth.example%2Fauth%2Frealms%2Fesante-wallet",
        )
        forged_state = callback.replace(f"state={sent_state}", "state=another-state")
        for forged, reason in ((forged_iss, "iss mismatch"), (forged_state, "state mismatch")):
            assert forged != callback
            answer = http.get(forged, allow_redirects=False, timeout=10)
            assert answer.headers["Location"] == refused
            assert f"OAuthCallbackError]: {reason}" in site_log.read_text()

        accepted = http.get(callback, allow_redirects=False, timeout=10)
        assert accepted.headers["Location"] == f"{site}/session"
        session = http.get(f"{site}/api/auth/session", timeout=10).json()
        assert session["user"]["name"] == PROFESSIONAL


def test_a_login_refused_on_the_phone_is_the_librarys_error(browser, site, site_log):
    """The professional refuses on the sandbox phone and gives up there: the callback gets
    ``access_denied`` with RFC 9207's ``iss``. next-auth reads a callback's ``error`` itself,
    before openid-client's checks, and raises it as a plain ``Error`` (its log's
    ``OAUTH_CALLBACK_HANDLER_ERROR``), which it maps to ``Callback``: its sign-in page with
    ``?error=Callback``, as from Keycloak; nobody is logged in."""
    PAGES.log_in(browser, site, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    assert PAGES.error(browser, site) == ("/api/auth/signin", "Callback")
    assert "oauth_callback_handler_error access_denied" in site_log.read_text()
    assert opened_json(browser, f"{site}/session") == {"session": None}


def test_a_wrong_client_secret_is_the_librarys_error(browser, server, tmp_path):
    """A service started with a wrong client secret: santeid answers the code exchange
    Keycloak's 401 ``unauthorized_client``, which openid-client raises; next-auth lands on its
    sign-in page with ``?error=OAuthCallback``."""
    with nextauth_service(server, tmp_path, "nextauth-wrong", secret="not-the-secret") as origin:
        start_afresh(browser, origin)
        PAGES.log_in(browser, origin, PROFESSIONAL)
        assert PAGES.error(browser, origin) == ("/api/auth/signin", "OAuthCallback")
        assert opened_json(browser, f"{origin}/session") == {"session": None}
    assert "unauthorized_client" in (tmp_path / "nextauth-wrong.log").read_text()


def test_sign_out_ends_the_sso_session(browser, server, site):
    """next-auth's ``signOut()`` (its session cookie gone), then the end-session endpoint with
    the ID token from the JWT as ``id_token_hint`` and the service's return page: santeid ends
    the SSO session without a confirmation page and sends the browser back. The next sign-in
    asks for the professional again."""
    PAGES.logged_in(browser, site, PROFESSIONAL)
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/logged-out") == {"loggedOut": True, "session": None}
    PAGES.open_sign_in(browser, site)
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert urlsplit(browser.current_url).netloc == urlsplit(server.base).netloc


@pytest.fixture(scope="module")
def short_lived(built, tmp_path_factory):
    """A second santeid whose access tokens last :data:`SHORT_LIFETIME` seconds, and the
    service started against it."""
    home = tmp_path_factory.mktemp("nextauth-short")
    with santeid_process(
        home, SANTEID_STORE_URL="memory://", SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME)
    ) as short:
        with nextauth_service(short, home, "nextauth-short") as origin:
            yield short, origin


def expired(browser, site: str, first: dict) -> dict:
    """The session read again once the access token of ``first`` has expired (the ``jwt``
    callback then refreshes it)."""
    deadline = first["accessTokenExpires"] / 1000
    wait_for(lambda: time.time() > deadline + 1, timeout=SHORT_LIFETIME + 10, what="expiry")
    return opened_json(browser, f"{site}/session")["session"]


def test_an_expired_access_token_is_refreshed(browser, short_lived):
    """The rotation guide's ``jwt`` callback: once the access token has expired, the next
    session read sends the refresh token to the token endpoint and keeps the new tokens in
    the JWT (the refreshed ID token among them); the next expiry is refreshed with the refresh
    token the first refresh gave; the last ID token then serves as the federated logout's
    ``id_token_hint``."""
    short, origin = short_lived
    start_afresh(browser, short.base, origin)
    first = PAGES.logged_in(browser, origin, PROFESSIONAL)
    after = expired(browser, origin, first)
    assert after["error"] is None, after["refreshError"]
    assert after["refreshes"] == first["refreshes"] + 1
    assert after["previousAccessToken"] == first["accessToken"]
    assert after["accessToken"] != first["accessToken"] and after["idTokenRefreshed"]
    assert after["user"] == first["user"]
    again = expired(browser, origin, after)
    assert again["error"] is None, again["refreshError"]
    assert again["refreshes"] == after["refreshes"] + 1
    assert again["previousAccessToken"] == after["accessToken"]
    browser.get(f"{origin}/logout")
    assert shown_json(browser, f"{origin}/logged-out") == {"loggedOut": True, "session": None}


def test_a_refresh_after_the_sso_session_ended_is_the_guides_error(browser, short_lived):
    """The professional logs out at santeid (its logout page, confirmed) while the service's
    JWT still holds the tokens: the refresh gets Keycloak's 400 ``invalid_grant`` "Session not
    active" (docs/reference/keycloak-behaviour.md), which the guide keeps in the JWT as
    ``RefreshAccessTokenError`` for the service to sign in again."""
    short, origin = short_lived
    start_afresh(browser, short.base, origin)
    first = PAGES.logged_in(browser, origin, PROFESSIONAL)
    browser.get(f"{short.oidc}/logout")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="logged out")
    after = expired(browser, origin, first)
    assert after["error"] == "RefreshAccessTokenError"
    assert after["refreshes"] == first["refreshes"]
    assert after["refreshError"] == {
        "error": "invalid_grant",
        "error_description": "Session not active",
    }
    assert after["accessToken"] == first["accessToken"]


def test_the_provider_as_its_page_writes_it(browser, server, tmp_path):
    """The Keycloak provider with ``clientId``, ``clientSecret`` and ``issuer`` alone, as
    next-auth's page shows it: its default scope ``openid email profile``, no ``acr_values``,
    its default checks PKCE and ``state`` — no ``nonce``, so openid-client 5 refuses an ID
    token carrying one; santeid, as Keycloak, puts none in it when the request had none."""
    with nextauth_service(server, tmp_path, "nextauth-bare", extra_env={"BARE": "1"}) as origin:
        query = PAGES.authorization_request(origin)[1]
        assert query["scope"] == "openid email profile" and "acr_values" not in query
        assert query["state"] and query["code_challenge"] and "nonce" not in query
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["user"]["name"] == PROFESSIONAL and session["claims"]["acr"] == "eidas1"
        assert "nonce" not in session["claims"]


def test_the_wallet_discovery_url_as_well_known(browser, server, tmp_path):
    """PSC documents its wallet discovery URL; next-auth v4's provider takes it as
    ``wellKnown`` and openid-client 5 discovers from it: the browser goes to the wallet
    authorization endpoint it announces, and the login completes with the realm as issuer."""
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    announced = requests.get(wallet, timeout=10).json()["authorization_endpoint"]
    assert announced != f"{server.oidc}/auth"
    env = {"WELL_KNOWN": wallet}
    with nextauth_service(server, tmp_path, "nextauth-wallet", extra_env=env) as origin:
        assert PAGES.authorization_request(origin)[0] == announced
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["user"]["name"] == PROFESSIONAL
        assert session["claims"]["iss"] == server.issuer


def test_the_profile_from_userinfo_is_refused_by_openid_client(browser, server, tmp_path):
    """PSC releases the practice data (``SubjectRefPro``) in userinfo only. The provider's
    ``idToken: false`` would read the profile there, but next-auth v4 then exchanges the code
    with openid-client 5's ``oauthCallback()``, which refuses a token answer carrying an ID
    token ("id_token detected in the response") — as Keycloak's for the scope ``openid``:
    next-auth's sign-in page with ``?error=OAuthCallback``, nobody logged in
    (https://github.com/nextauthjs/next-auth/issues/4543). A v4 service reads userinfo itself
    with the access token."""
    env = {"USERINFO": "1"}
    with nextauth_service(server, tmp_path, "nextauth-userinfo", extra_env=env) as origin:
        start_afresh(browser, origin)
        PAGES.log_in(browser, origin, PROFESSIONAL)
        assert PAGES.error(browser, origin) == ("/api/auth/signin", "OAuthCallback")
        assert opened_json(browser, f"{origin}/session") == {"session": None}
    assert "id_token detected in the response" in (tmp_path / "nextauth-userinfo.log").read_text()


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_jwt", "private_key_jwt"])
def test_the_client_authentication_methods(browser, server, tmp_path, method):
    """The provider's ``client.token_endpoint_auth_method``, which next-auth hands to
    openid-client's ``Client``: the secret in the form body; an HS256 assertion keyed with the
    client secret, Keycloak's "Signed JWT with Client Secret" (docs/psc-integration.md §2); an
    RS256 assertion signed with the service's key, the provider's ``jwks``. The refresh of
    the rotation guide is the service's own request (secret in the form body) and is not
    driven here."""
    metadata, env = client_authentication(method, tmp_path, "nextauth-key")
    client_id = f"nextauth-{method.replace('_', '-')}"
    with nextauth_service(server, tmp_path, client_id, metadata=metadata, extra_env=env) as origin:
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["user"]["name"] == PROFESSIONAL and session["accessToken"]


def test_the_sso_session_and_prompt_login(server, site):
    """next-auth's sign-out alone (``{base}/signout``: its session cookie gone) leaves santeid's
    SSO session: the next sign-in comes back at once, no login page. ``signIn()``'s
    authorization parameters (its third argument, sent as the sign-in URL's query) with
    ``prompt=login`` ask for the professional again, as Keycloak does."""
    callback_uri = f"{site}/api/auth/callback/keycloak"
    with requests.Session() as http:
        url = PAGES.signed_in(http, site)
        http.get(login_to_callback(http, url, callback_uri, PROFESSIONAL), timeout=10)
        assert http.get(f"{site}/api/auth/session", timeout=10).json()["user"]
        csrf = http.get(f"{site}/api/auth/csrf", timeout=10).json()["csrfToken"]
        http.post(f"{site}/api/auth/signout", data={"csrfToken": csrf}, timeout=10)
        assert http.get(f"{site}/api/auth/session", timeout=10).json() == {}

        again = http.get(PAGES.signed_in(http, site), allow_redirects=False, timeout=10)
        assert again.status_code == 302 and again.headers["Location"].startswith(callback_uri)

        url = PAGES.signed_in(http, site, "prompt=login")
        assert parse_qs(urlsplit(url).query)["prompt"] == ["login"]
        asked = http.get(url, timeout=10)
        assert asked.url.startswith(server.issuer) and 'name="national_id"' in asked.text

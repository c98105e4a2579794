"""An Express service logging professionals in with Auth.js (https://authjs.dev: ``@auth/core``
0.41, the engine of NextAuth.js v5, through ``@auth/express`` 0.12) and its built-in Keycloak
provider, pointed at a real ``santeid serve`` by the realm URL alone and driven in headless
Chromium through the sandbox's login page.

The service is ``tests/e2e/authjs/app.mjs``, configured as Auth.js's Keycloak provider page
(https://authjs.dev/getting-started/providers/keycloak) says, with PSC's parameters: ``issuer``
the realm, a client secret (``client_secret_basic``, the provider's default), ``scope``
``openid scope_all`` and ``acr_values`` ``eidas1`` as authorization parameters, the checks
``pkce``, ``state`` and ``nonce``, a ``profile()`` mapping PSC's claims, the JWT session
strategy, the tokens kept in the JWT and refreshed in the ``jwt`` callback
(https://authjs.dev/guides/refresh-token-rotation), and a federated logout at santeid's
end-session endpoint with the ID token as ``id_token_hint``. Its locked dependencies are
installed with ``npm ci`` into its git-ignored ``node_modules`` the first time; ``.ci/run``
installs Debian's nodejs and npm. It listens on ``localhost`` (another site than santeid's
``127.0.0.1``).

Auth.js is built on oauth4webapi, which checks what the browser brings back (``state``, RFC
9207's ``iss`` as the discovery document announces it, the code with its PKCE verifier) and the
token endpoint's answer (the ID token's ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, its
JOSE header's ``typ``). Every refusal lands on Auth.js's own error or sign-in page with the
error it maps (``?error=…``), which the tests read."""

from __future__ import annotations

import contextlib
import os
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
from tests.support.node import install_locked
from tests.support.node import needs_node_20
from tests.support.node import needs_node_and_npm
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "authjs"

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_node_and_npm, needs_node_20]

CLIENT_ID = "authjs-service"
SECRET = "a-long-secret-for-the-authjs-service-00001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The library's own pages.
PAGES = NextAuthPages(base="/auth", library="Auth.js's")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("authjs"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def authjs_service(
    server,
    folder: Path,
    client_id: str,
    *,
    secret: str = SECRET,
    well_known: str = "",
    userinfo: bool = False,
    provider_checks: bool = False,
    metadata: dict | None = None,
    extra_env: dict[str, str] | None = None,
):
    """The Express service, registered at santeid as an operator registers it (Auth.js's
    callback, its logout return page), then started with the realm as ``issuer``, the client
    secret ``secret``, if given ``well_known`` as the provider's ``wellKnown`` and, with
    ``userinfo``, the provider's ``idToken: false`` (the profile from userinfo) and, with
    ``provider_checks``, the provider's default checks (PKCE alone); ``metadata`` changes the
    registration (``None`` removes an entry), ``extra_env`` the service's environment; its
    origin."""
    assert NODE is not None  # needs_node_and_npm
    install_locked(APP_DIR, "@auth/express")
    port = free_port()
    origin = f"http://localhost:{port}"
    PAGES.register(server, client_id, origin, SECRET, metadata)
    env = {
        **os.environ,
        "PORT": str(port),
        "ISSUER": server.issuer,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "AUTH_SECRET": "a-long-secret-for-the-authjs-session-jwt-0001",
        "WELL_KNOWN": well_known,
        "USERINFO": "1" if userinfo else "",
        "PROVIDER_CHECKS": "1" if provider_checks else "",
        **(extra_env or {}),
    }
    with running_server(
        [NODE, str(APP_DIR / "app.mjs")],
        env,
        folder / f"{client_id}.log",
        f"http://127.0.0.1:{port}/logged-out",
    ):
        yield origin


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("authjs-log")
    with authjs_service(server, folder, CLIENT_ID) as origin:
        yield origin


def test_the_login_gives_the_session_psc_claims(browser, server, site):
    """The sign-in: discovery by the realm, the authorization request with PSC's parameters,
    PKCE, ``state`` and ``nonce``; back at the callback, oauth4webapi checks ``state`` and the
    ``iss`` RFC 9207 adds (santeid's discovery announces
    ``authorization_response_iss_parameter_supported``, as Keycloak's), exchanges the code and
    validates the ID token; ``profile()`` and the ``jwt`` callback see PSC's claims."""
    session = PAGES.logged_in(browser, site, PROFESSIONAL)
    assert session["nationalId"] == PROFESSIONAL
    assert session["user"]["name"] == "CLEMENT ARNAUD"
    psc = session["psc"]
    assert psc["SubjectNameID"] == PROFESSIONAL and psc["acr"] == "eidas1"
    assert psc["family_name"] == "ARNAUD" and psc["given_name"] == "CLEMENT"
    assert "SubjectRefPro" not in psc  # userinfo's only (docs/reference/pro-sante-connect.md)
    assert session["iss"] == server.issuer and session["nonce"] and session["sid"]
    assert session["access_token"] and session["refresh_token_present"]
    assert session["id_token_present"] and session["error"] is None


def test_the_authorization_request_carries_the_checks(server, site):
    """What Auth.js sends santeid: the code flow, PSC's scope and ``acr_values``, S256 PKCE,
    ``state`` and ``nonce`` (the three checks configured), the callback as registered. The
    discovery announces RFC 9207's ``iss``, so oauth4webapi requires it on the callback (a
    login passing is its check passing)."""
    discovery = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10)
    assert discovery.json()["authorization_response_iss_parameter_supported"] is True
    endpoint, query = PAGES.authorization_request(site)
    assert endpoint == f"{server.oidc}/auth"
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["scope"] == "openid scope_all" and query["acr_values"] == "eidas1"
    assert query["redirect_uri"] == f"{site}/auth/callback/keycloak"
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"]


def test_the_callback_passes_the_iss_and_state_checks(server, site):
    """The browser's part over HTTP: santeid's callback carries the ``state`` Auth.js sent and
    RFC 9207's ``iss``, the realm. The same callback with another ``iss`` is refused by
    oauth4webapi before any code exchange (Auth.js's error page); the one santeid sent then
    logs the professional in."""
    with requests.Session() as http:
        url = PAGES.signed_in(http, site)
        sent_state = parse_qs(urlsplit(url).query)["state"][0]
        callback = login_to_callback(http, url, f"{site}/auth/callback/keycloak", PROFESSIONAL)
        query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
        assert query["iss"] == server.issuer and query["state"] == sent_state and query["code"]

        forged = callback.replace(
            f"iss={requests.utils.quote(server.issuer, safe='')}",
            "iss=https%3A%2F%2Fauth.example%2Fauth%2Frealms%2Fesante-wallet",
        )
        assert forged != callback
        refused = http.get(forged, allow_redirects=False, timeout=10)
        assert refused.headers["Location"] == f"{site}/auth/error?error=Configuration"

        accepted = http.get(callback, allow_redirects=False, timeout=10)
        assert accepted.headers["Location"] == f"{site}/session"
        session = http.get(f"{site}/session", timeout=10).json()["session"]
        assert session["nationalId"] == PROFESSIONAL


def test_the_tokens_are_refreshed_in_the_jwt_callback(browser, site):
    """The ``jwt`` callback, as the refresh-token rotation guide writes it, sends the refresh
    token to the token endpoint (here on Auth.js's session ``update``, as next-auth's
    ``update()`` sends it, rather than on the access token's expiry) and keeps the new tokens
    in the session's JWT, the refreshed ID token among them, which then serves as the
    federated logout's ``id_token_hint``."""
    first = PAGES.logged_in(browser, site, PROFESSIONAL)
    browser.get(f"{site}/refresh")
    after = shown_json(browser, f"{site}/session")["session"]
    assert after["error"] is None, after["refresh_error"]
    assert after["refreshes"] == 1 and after["id_token_refreshed"]
    assert after["previous_access_token"] == first["access_token"]
    assert after["access_token"] != first["access_token"]
    assert after["expires_at"] >= first["expires_at"]
    assert after["nationalId"] == PROFESSIONAL and after["sid"] == first["sid"]
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/logged-out") == {"loggedOut": True, "session": None}


def test_a_login_refused_on_the_phone_is_the_librarys_error(browser, site):
    """The professional refuses on the sandbox phone and gives up there: the callback gets
    ``access_denied`` with RFC 9207's ``iss`` (no ``error_description``, as from Keycloak);
    oauth4webapi checks ``state`` and ``iss`` and Auth.js raises its ``OAuthCallbackError``,
    a sign-in error: its sign-in page with ``?error=OAuthCallbackError``, nobody logged in."""
    PAGES.log_in(browser, site, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    assert PAGES.error(browser, site) == ("/auth/signin", "OAuthCallbackError")
    assert opened_json(browser, f"{site}/session") == {"session": None}


def test_a_wrong_client_secret_is_the_librarys_error(browser, server, tmp_path):
    """A service started with a wrong client secret: santeid answers the code exchange
    Keycloak's 401 ``unauthorized_client``; oauth4webapi raises it and Auth.js lands on its
    error page (a ``CallbackRouteError``, which it shows as ``Configuration``), at once."""
    with authjs_service(server, tmp_path, "authjs-wrong-secret", secret="not-the-secret") as origin:
        start_afresh(browser, origin)
        PAGES.log_in(browser, origin, PROFESSIONAL)
        assert PAGES.error(browser, origin) == ("/auth/error", "Configuration")
        assert opened_json(browser, f"{origin}/session") == {"session": None}
    assert "unauthorized_client" in (tmp_path / "authjs-wrong-secret.log").read_text()


def test_sign_out_then_federated_logout(browser, server, site):
    """Auth.js's sign-out (its session cookie gone), then the end-session endpoint with the ID
    token from the JWT as ``id_token_hint`` and the service's return page: santeid ends the
    SSO session without a confirmation page and sends the browser back. The next sign-in asks
    for the professional again."""
    PAGES.logged_in(browser, site, PROFESSIONAL)
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/logged-out") == {"loggedOut": True, "session": None}
    PAGES.open_sign_in(browser, site)
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert urlsplit(browser.current_url).netloc == urlsplit(server.base).netloc


def test_the_wallet_discovery_url_as_well_known(browser, server, tmp_path):
    """PSC documents its wallet discovery URL. Auth.js 0.41's provider still takes a
    ``wellKnown`` but no longer reads it: oauth4webapi discovers from ``issuer``
    (``{issuer}/.well-known/openid-configuration``), so a service configured with the wallet
    URL logs in exactly as with the realm alone, at the realm's authorization endpoint."""
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    with authjs_service(server, tmp_path, "authjs-wallet", well_known=wallet) as origin:
        assert PAGES.authorization_request(origin)[0] == f"{server.oidc}/auth"
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["nationalId"] == PROFESSIONAL and session["iss"] == server.issuer


def test_the_profile_from_userinfo(browser, server, tmp_path):
    """PSC releases the practice data (``SubjectRefPro``) in userinfo only. With the provider's
    ``idToken: false``, Auth.js validates the ID token, then reads userinfo (oauth4webapi
    checks its ``sub`` against the ID token's) and gives it to ``profile()``."""
    with authjs_service(server, tmp_path, "authjs-userinfo", userinfo=True) as origin:
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        psc = session["psc"]
        assert session["nationalId"] == PROFESSIONAL and psc["SubjectNameID"] == PROFESSIONAL
        assert psc["SubjectRefPro"]["exercices"]


def test_the_providers_default_checks(browser, server, tmp_path):
    """The Keycloak provider's default checks, PKCE alone: Auth.js sends neither ``state`` nor
    ``nonce`` and oauth4webapi then refuses an ID token carrying a ``nonce``; santeid, as
    Keycloak, puts none in it when the request had none."""
    with authjs_service(server, tmp_path, "authjs-defaults", provider_checks=True) as origin:
        query = PAGES.authorization_request(origin)[1]
        assert "state" not in query and "nonce" not in query and query["code_challenge"]
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["nationalId"] == PROFESSIONAL and "nonce" not in session


def test_a_refresh_after_the_sso_session_ended_is_the_guides_error(browser, server, site):
    """The professional logs out at santeid (its logout page, confirmed) while the service's
    JWT still holds the tokens: the ``jwt`` callback's refresh gets Keycloak's 400
    ``invalid_grant`` "Session not active" (docs/reference/keycloak-behaviour.md), which the
    rotation guide keeps in the JWT as ``RefreshTokenError`` for the service to sign in
    again."""
    first = PAGES.logged_in(browser, site, PROFESSIONAL)
    browser.get(f"{server.oidc}/logout")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="logged out")
    browser.get(f"{site}/refresh")
    after = shown_json(browser, f"{site}/session")["session"]
    assert after["error"] == "RefreshTokenError" and after["refreshes"] == 0
    assert after["refresh_error"] == {
        "error": "invalid_grant",
        "error_description": "Session not active",
    }
    assert after["access_token"] == first["access_token"]


@pytest.mark.parametrize("method", ["client_secret_post", "private_key_jwt", "client_secret_jwt"])
def test_the_client_authentication_methods(browser, server, tmp_path, method):
    """The provider's ``client.token_endpoint_auth_method``: the secret in the form body; an
    RS256 assertion signed with the service's key (``token.clientPrivateKey``; Auth.js writes
    ``aud`` the issuer and the token endpoint, an array, which Keycloak's signed-JWT
    authenticator accepts when one of them is expected before 26.2, and santeid with
    ``client_assertion_multiple_audiences`` on, its default); an HS256 assertion keyed with the
    ``clientSecret`` (oauth4webapi's ``ClientSecretJwt``), Keycloak's "Signed JWT with Client
    Secret" (docs/psc-integration.md §2)."""
    metadata, extra_env = client_authentication(method, tmp_path, "authjs-key")
    client_id = f"authjs-{method.replace('_', '-')}"
    with authjs_service(
        server, tmp_path, client_id, metadata=metadata, extra_env=extra_env
    ) as origin:
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["nationalId"] == PROFESSIONAL and session["access_token"]


def test_the_form_post_response_mode(browser, server, tmp_path):
    """``response_mode: "form_post"`` among the authorization parameters (PSC's discovery
    lists it) and the checks ``state`` and ``nonce``: santeid's page posts the code, ``state``
    and ``iss`` to Auth.js's callback, which takes them from the form as from a query. Auth.js
    sends its state and nonce cookies ``SameSite=None`` for a ``form_post`` provider, not its
    PKCE one, which the provider's cross-site POST then lacks ("pkceCodeVerifier value could
    not be parsed"), as from Keycloak: such a service leaves PKCE out, as Auth.js's Apple
    provider does; the callback URL's cookie is lost the same way, so the browser lands on
    the service's base URL."""
    env = {"RESPONSE_MODE": "form_post", "CHECKS": "state,nonce"}
    with authjs_service(server, tmp_path, "authjs-form-post", extra_env=env) as origin:
        query = PAGES.authorization_request(origin)[1]
        assert query["response_mode"] == "form_post" and "code_challenge" not in query
        start_afresh(browser, origin)
        PAGES.log_in(browser, origin, PROFESSIONAL)
        # Auth.js's callback-URL cookie is SameSite=Lax too: back at its base URL.
        wait_for(lambda: browser.current_url == f"{origin}/", what="back at the service")
        session = opened_json(browser, f"{origin}/session")["session"]
        assert session["nationalId"] == PROFESSIONAL and session["iss"] == server.issuer


def test_the_provider_as_its_page_writes_it(browser, server, tmp_path):
    """The Keycloak provider with ``issuer``, ``clientId`` and ``clientSecret`` alone, as
    Auth.js's page shows it: Auth.js asks for its default scope ``openid profile email`` (two
    of PSC's scopes) and no ``acr_values``; the professional logs in and the ID token carries
    PSC's claims."""
    with authjs_service(server, tmp_path, "authjs-bare", extra_env={"BARE": "1"}) as origin:
        query = PAGES.authorization_request(origin)[1]
        assert query["scope"] == "openid profile email" and "acr_values" not in query
        start_afresh(browser, origin)
        session = PAGES.logged_in(browser, origin, PROFESSIONAL)
        assert session["nationalId"] == PROFESSIONAL
        assert session["psc"]["SubjectNameID"] == PROFESSIONAL

"""@axa-fr/oidc-client 7.29 (https://github.com/AxaFrance/oidc-client, the engine of
@axa-fr/react-oidc) drives a real ``santeid serve`` over HTTPS in headless Chromium, as a
single-page application uses it: ``authority`` the realm (``<base>/auth/realms/esante-wallet``,
discovery read from the page), a public client (PKCE S256, web origins the application's
origin), ``scope`` ``openid scope_all``, ``extras`` ``{acr_values: "eidas1"}``,
``refresh_time_before_tokens_expiration_in_second`` 30.

The library fetches from the page (CORS) discovery, the token, userinfo and revocation
endpoints; it renews the tokens by the refresh token and logs out by revoking both tokens, then
the end-session endpoint with ``id_token_hint`` and ``post_logout_redirect_uri``
(docs/psc-integration.md, "Relying-party libraries run against santeid"). In its service-worker
mode (its README, "Service Worker Support") the worker keeps the tokens from the page and
adds the access token to the requests for the trusted domains; ``http://localhost`` is a
secure context for Chromium (W3C Secure Contexts §3.1), so the worker registers there.

The application is served by the relying party's site (``http://localhost:<port>``, another
site than santeid's ``127.0.0.1``), which hands out the library bundled for the browser by
esbuild (the global ``AxaOidc``) from its locked npm folder (``tests/e2e/axa_oidc_client``:
``package.json``, ``package-lock.json``; ``npm ci`` into its git-ignored ``node_modules``, then
``npm run build`` into its git-ignored ``dist``, redone only when they change), and the
package's own service worker (``OidcServiceWorker.js``) beside the application's
``OidcTrustedDomains.js``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from tests.support.browser import console
from tests.support.browser import identify
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.node import built_once
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.relying_party_site import RelyingPartySite
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

AXA_DIR = Path(__file__).resolve().parent / "axa_oidc_client"

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_node_and_npm]

CLIENT_ID = "spa-axa-oidc-client"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The service worker's stand-ins for the tokens the page never sees (the package's
#: ``TOKEN_PLACEHOLDERS``, configuration ``default``, then the tab's ``#tabId=…``).
SECURED_ACCESS_TOKEN = "ACCESS_TOKEN_SECURED_BY_OIDC_SERVICE_WORKER_default#"
SECURED_REFRESH_TOKEN = "REFRESH_TOKEN_SECURED_BY_OIDC_SERVICE_WORKER_default#"


@pytest.fixture(scope="module")
def bundle() -> dict[str, str]:
    """The library's browser bundle (esbuild, built once) and the package's service worker."""
    worker = install_locked(AXA_DIR, "@axa-fr/oidc-client-service-worker")
    sources = [AXA_DIR / "index.js", AXA_DIR / "package.json"]
    dist = built_once(AXA_DIR, sources, AXA_DIR / "dist", dict(os.environ))
    return {
        "library": (dist / "axa-oidc-client.js").read_text(),
        "worker": (worker / "dist" / "OidcServiceWorker.js").read_text(),
    }


class SinglePageApplication(RelyingPartySite):
    """``/app`` is the application's page: the ``OidcClient`` in ``window.client``, the names
    of the events it publishes in ``window.events``. At ``/app/callback`` (the redirect URI)
    it completes the login (``loginCallbackAsync``), elsewhere it restores a session it keeps
    (``tryKeepExistingSessionAsync``); the errors its events carry in ``window.errors``
    (``{event, code}``); what a test changes in the configuration in the tab's
    ``sessionStorage`` (``configuration``); the outcome in ``window.callback``: ``{ok}`` or the
    library's error (``{name, code, message}``). ``/app/silent-login`` starts a silent login in
    the library's hidden iframe, ``/app/silent-callback`` ends it (the code exchanged, the
    tokens posted to the page). ``/signed-out`` is the post-logout redirect URI.
    ``service_worker``: the library's service-worker mode, ``/OidcServiceWorker.js`` and
    the application's ``/OidcTrustedDomains.js`` (santeid the OIDC domain and the API's)."""

    def __init__(self, bundle: dict[str, str], *, service_worker: bool = False) -> None:
        super().__init__()
        self.bundle = bundle
        self.service_worker = service_worker
        self.base = ""

    def configuration(self) -> dict:
        configuration = {
            "authority": f"{self.base}/auth/realms/esante-wallet",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{self.origin}/app/callback",
            # The hidden iframe's pages: it starts at the first, comes back at the second.
            "silent_login_uri": f"{self.origin}/app/silent-login",
            "silent_redirect_uri": f"{self.origin}/app/silent-callback",
            "monitor_session": True,
            "scope": "openid scope_all",
            "extras": {"acr_values": "eidas1"},
            # PSC's access tokens last 120 s, the library's default margin is 120 s less a
            # random 0-39 s: it would renew them every few seconds (docs/psc-integration.md).
            "refresh_time_before_tokens_expiration_in_second": 30,
        }
        if self.service_worker:
            configuration["service_worker_relative_url"] = "/OidcServiceWorker.js"
            # Never the page's storage: no worker is a failure, not a fallback.
            configuration["service_worker_only"] = True
        return configuration

    def page(self, path: str, query: dict[str, str]) -> str | tuple[str, str] | None:
        javascript = "text/javascript; charset=utf-8"
        if path == "/axa-oidc-client.js":
            return self.bundle["library"], javascript
        if path == "/OidcServiceWorker.js" and self.service_worker:
            return self.bundle["worker"], javascript
        if path == "/OidcTrustedDomains.js" and self.service_worker:
            domains = {"default": {"oidcDomains": [self.base], "accessTokenDomains": [self.base]}}
            return f"const trustedDomains = {json.dumps(domains)};", javascript
        if path not in ("/app", "/app/callback", "/signed-out", "/app/silent-login",
                        "/app/silent-callback"):  # fmt: skip
            return None
        if path == "/app/callback":
            complete = "window.client.loginCallbackAsync()"
        elif path == "/app/silent-login":
            # As @axa-fr/react-oidc's SilentLogin: the query's parameters but the state and
            # scope as extras, a silent login (prompt=none comes in the query).
            complete = (
                "(() => { const query = Object.fromEntries(new URLSearchParams(location.search));"
                "  const {state, scope, ...extras} = query;"
                "  return window.client.loginAsync(null, extras, true, scope); })()"
            )
        elif path == "/app/silent-callback":
            complete = "window.client.silentLoginCallbackAsync()"
        else:
            complete = "window.client.tryKeepExistingSessionAsync().then((kept) => ({ok: kept}))"
        return (
            # In the body, as an application's scripts run: the library adds its iframes there.
            "<!doctype html><title>Application</title><body>"
            "<script src=/axa-oidc-client.js></script><script>"
            "window.events = []; window.errors = [];"
            "window.outcome = (e) => ({name: e && e.name, code: e && e.code,"
            "  message: String(e && (e.message || e))});"
            # A test's changes to the configuration, kept in the tab across the login.
            f"const configuration = {json.dumps(self.configuration())};"
            "Object.assign(configuration, JSON.parse(sessionStorage.getItem('configuration')"
            "  || '{}'));"
            "window.client = AxaOidc.OidcClient.getOrCreate(() => fetch)(configuration);"
            "window.client.subscribeEvents((name, data) => { window.events.push(name);"
            "  const error = data && (data.code ? data : data.error);"
            "  if (error && error.code) window.errors.push({event: name, code: error.code}); });"
            f"{complete}.then((r) => {{ window.callback = r && r.ok !== undefined ? r"
            "  : {ok: true}; }, (e) => { window.callback = window.outcome(e); });"
            "</script>"
        )


@pytest.fixture(scope="module")
def app(bundle):
    with SinglePageApplication(bundle) as site:
        yield site


@pytest.fixture(scope="module")
def worker_app(bundle):
    """The same application in the library's service-worker mode, on an origin of its own."""
    with SinglePageApplication(bundle, service_worker=True) as site:
        yield site


@pytest.fixture(scope="module")
def server(tmp_path_factory, app, worker_app):
    """santeid over HTTPS, as in production, with the application's public client."""
    home = tmp_path_factory.mktemp("axa-oidc-client")
    args, ca = santeid_home(home).dev_tls()
    sites = (app, worker_app)
    client = {
        "client_id": CLIENT_ID,
        "client_name": "Application monopage",
        "redirect_uris": [
            f"{site.origin}/app/{end}" for site in sites for end in ("callback", "silent-callback")
        ],
        "post_logout_redirect_uris": [f"{site.origin}/signed-out" for site in sites],
        "web_origins": [site.origin for site in sites],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }
    with santeid_process(home, args=args, ca=ca, clients=[client],
                         SANTEID_STORE_URL="memory://") as process:  # fmt: skip
        app.base = worker_app.base = process.base
        yield process


@pytest.fixture
def browser(third_party_chromium, server, app, worker_app):
    start_afresh(third_party_chromium, server.base, app.origin, worker_app.origin)
    return third_party_chromium


def _settled(browser) -> dict:
    return wait_for(lambda: browser.execute_script("return window.callback"),
                    what="the application's callback handling")  # fmt: skip


def _open(browser, site) -> dict:
    """The application's page opened and its session handling settled: its outcome."""
    browser.get(f"{site.origin}/app")
    return _settled(browser)


def _call(browser, expression: str):
    """What the promise ``expression`` (of ``window.client``) resolves to (JSON), or the
    library's error: ``{failed: {name, code, message}}``."""
    return browser.execute_async_script(
        "const done = arguments[0];"
        f"Promise.resolve().then(() => window.client.{expression}).then((v) => done("
        "  v === undefined || v === null ? null : JSON.parse(JSON.stringify(v))),"
        "  (e) => done({failed: window.outcome(e)}))"
    )


def _tokens(browser) -> dict | None:
    return browser.execute_script(
        "return window.client.tokens && JSON.parse(JSON.stringify(window.client.tokens))"
    )


def _log_in(browser, site, national_id: str = PROFESSIONAL) -> None:
    """``loginAsync()`` from the application's page, to santeid's sandbox login page, where
    the professional's identifier is sent: the sandbox phone answers."""
    _open(browser, site)
    browser.execute_script("window.client.loginAsync('/app')")
    identify(browser, national_id)


def _logged_in(browser, site) -> dict:
    """:func:`_log_in`, back at the redirect URI, the code exchanged: the library's tokens."""
    _log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(f"{site.origin}/app/callback"),
             what="the way back")  # fmt: skip
    assert _settled(browser) == {"ok": True}, console(browser)
    tokens = _tokens(browser)
    assert tokens, console(browser)
    return tokens


def test_login_tokens_and_psc_claims(browser, server, app):
    """The code flow with PKCE S256 and ``acr_values``; the ID token's claims and userinfo's
    PSC claims (``SubjectRefPro``) as the application reads them from the library."""
    tokens = _logged_in(browser, app)
    id_token = tokens["idTokenPayload"]
    assert id_token["iss"] == server.issuer
    assert id_token["aud"] == CLIENT_ID or CLIENT_ID in id_token["aud"]
    assert id_token["acr"] == "eidas1"
    assert id_token["SubjectNameID"] == PROFESSIONAL
    assert id_token["preferred_username"] == PROFESSIONAL
    assert tokens["tokenType"] == "Bearer"
    assert tokens["refreshToken"]
    # Keycloak's access token is a JWT, which the library reads for its expiry.
    assert tokens["accessTokenPayload"]["sub"] == id_token["sub"]
    assert tokens["expiresAt"] == tokens["accessTokenPayload"]["exp"]

    userinfo = _call(browser, "userInfoAsync()")
    assert "failed" not in userinfo, (userinfo, console(browser))
    assert userinfo["sub"] == id_token["sub"]
    assert userinfo["SubjectNameID"] == PROFESSIONAL
    for claim in ("SubjectRefPro", "SubjectOrganization", "SubjectRole", "Secteur_Activite"):
        assert claim not in id_token and claim in userinfo, (claim, sorted(userinfo))
    exercice = userinfo["SubjectRefPro"]["exercices"][0]
    assert exercice["nomDexercice"] == id_token["family_name"]
    # A new page of the application finds the session in its storage.
    assert _open(browser, app) == {"ok": True}
    assert _tokens(browser)["accessToken"] == tokens["accessToken"]


def test_renewal_by_the_refresh_token(browser, app):
    """``renewTokensOrThrowAsync``: the token endpoint from the page with the refresh token;
    new tokens of the same session, whose ID token the library checks again (issuer,
    audience, the login's nonce)."""
    first = _logged_in(browser, app)
    renewed = _call(browser, "renewTokensOrThrowAsync()")
    assert "failed" not in renewed, (renewed, console(browser))
    assert renewed["accessToken"] != first["accessToken"]
    assert renewed["refreshToken"] != first["refreshToken"]
    assert renewed["idTokenPayload"]["sid"] == first["idTokenPayload"]["sid"]
    assert renewed["idTokenPayload"]["SubjectNameID"] == PROFESSIONAL
    # The refreshed ID token keeps the login's nonce, as Keycloak's (built from the access
    # token, docs/reference/keycloak-behaviour.md, "Token endpoint"); the library checks it.
    assert renewed["idTokenPayload"]["nonce"] == first["idTokenPayload"]["nonce"]
    assert _tokens(browser)["accessToken"] == renewed["accessToken"]
    assert "refreshTokensAsync_error" not in browser.execute_script("return window.events")


def test_automatic_renewal_before_the_tokens_expire(browser, app):
    """The library's timer (each second) renews the tokens by the refresh token once fewer
    than ``refresh_time_before_tokens_expiration_in_second`` are left before they expire:
    brought to 119 s of santeid's 120 s tokens (PSC's lifetime), it renews them within
    seconds by itself, and publishes ``token_renewed``."""
    first = _logged_in(browser, app)
    browser.execute_script(
        "window.client.configuration.refresh_time_before_tokens_expiration_in_second = 119"
    )
    wait_for(lambda: "token_renewed" in browser.execute_script("return window.events"),
             what="the automatic renewal")  # fmt: skip
    renewed = _tokens(browser)
    assert renewed["accessToken"] != first["accessToken"]
    assert renewed["idTokenPayload"]["sid"] == first["idTokenPayload"]["sid"]
    assert "refreshTokensAsync_error" not in browser.execute_script("return window.events")


def test_silent_login_in_a_hidden_iframe(browser, app):
    """``loginAsync(…, silentLoginOnly)``: the authorization endpoint in a hidden iframe with
    ``prompt=none`` and the ID token as ``id_token_hint``; with santeid's SSO session, a code
    exchanged in the iframe, the tokens handed to the page; without one, ``login_required``."""
    first = _logged_in(browser, app)
    _open(browser, app)
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    assert _settled(browser) == {"ok": False}
    silent = _call(browser, "loginAsync('/app', null, false, undefined, true)")
    assert "failed" not in silent, (silent, console(browser))
    tokens = _tokens(browser)
    assert tokens["accessToken"] != first["accessToken"]
    assert tokens["idTokenPayload"]["sid"] == first["idTokenPayload"]["sid"]
    assert tokens["idTokenPayload"]["SubjectNameID"] == PROFESSIONAL

    # Without a session the library publishes the refusal, then reads the missing tokens' expiry
    # (its defaultSilentLoginAsync): the promise resolves with that TypeError.
    start_afresh(browser, app.origin)
    _open(browser, app)
    refused = _call(browser, "loginAsync('/app', null, false, undefined, true)")
    assert _tokens(browser) is None, refused
    errors = browser.execute_script("return window.errors")
    assert {"event": "silentLoginAsync_error", "code": "LOGIN_REQUIRED"} in errors, errors


def test_session_monitor_sees_a_logout_in_another_tab(browser, server, app):
    """``monitor_session``: the ``check_session_iframe`` reports the change after a logout at
    santeid in another tab; the library's silent login then gets ``login_required`` and it
    drops the tokens (``logout_from_another_tab``)."""
    _logged_in(browser, app)
    browser.execute_async_script("setTimeout(arguments[0], 3000)")
    assert _tokens(browser) is not None
    application = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{server.oidc}/logout?client_id={CLIENT_ID}")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="closed page")
    browser.close()
    browser.switch_to.window(application)
    # The iframe's 2 s polling, then a silent login the library waits on for up to 12 s.
    wait_for(lambda: "logout_from_another_tab" in browser.execute_script("return window.events"),
             timeout=40, what="logout_from_another_tab")  # fmt: skip
    assert _tokens(browser) is None


def test_logout_revokes_the_tokens_and_ends_the_session(browser, server, app):
    """``logoutAsync``: both tokens revoked from the page, then the end-session endpoint with
    ``id_token_hint`` and ``post_logout_redirect_uri``, back without a confirmation; santeid's
    session is over: the next login asks for the professional again."""
    tokens = _logged_in(browser, app)
    browser.execute_script(f"window.client.logoutAsync('{app.origin}/signed-out')")
    wait_for(lambda: browser.current_url == f"{app.origin}/signed-out", what="the way back")
    assert _settled(browser) == {"ok": False}, console(browser)
    assert _tokens(browser) is None
    refused = requests.post(f"{server.oidc}/token", verify=server.ca, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refreshToken"],
        "client_id": CLIENT_ID})  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    userinfo = requests.get(f"{server.oidc}/userinfo", headers=bearer, verify=server.ca, timeout=10)
    assert userinfo.status_code == 401
    _open(browser, app)
    browser.execute_script("window.client.loginAsync('/app')")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")


def test_pushed_authorization_request_from_the_page(browser, server, app):
    """``par: "required"``: the library pushes the whole request (PKCE, ``acr_values``
    included) to the PAR endpoint from the page (CORS: the client's web origins, as Keycloak's
    ``ParEndpoint``), then sends the browser to the authorization endpoint with the
    ``request_uri`` alone; the login completes as without it."""
    _open(browser, app)
    # The URLs the library fetches, kept in the tab's storage across the login.
    browser.execute_script(
        "const original = window.fetch;"
        "window.fetch = (url, options) => { sessionStorage.setItem('fetched',"
        "  (sessionStorage.getItem('fetched') || '') + ' ' + url);"
        "  return original(url, options); };"
        "window.client.configuration.par = 'required';"
        "window.client.loginAsync('/app').catch((e) => { window.pushed = window.outcome(e); })"
    )
    shown = wait_for(
        lambda: (
            browser.execute_script("return window.pushed")
            or browser.find_elements("id", "national_id")
        ),
        what="the login page or the library's refusal",
    )
    assert not isinstance(shown, dict), (shown, console(browser))
    identify(browser, PROFESSIONAL)
    wait_for(lambda: browser.current_url.startswith(f"{app.origin}/app/callback"),
             what="the way back")  # fmt: skip
    assert _settled(browser) == {"ok": True}, console(browser)
    assert _tokens(browser)["idTokenPayload"]["acr"] == "eidas1"
    fetched = browser.execute_script("return sessionStorage.getItem('fetched')").split()
    assert fetched[0] == f"{server.oidc}/ext/par/request", fetched


def test_dpop_proofs_pass_the_preflight_and_are_ignored(browser, server, app):
    """``demonstrating_proof_of_possession``: the library sends a DPoP proof (RFC 9449) to the
    token endpoint, a header the preflight must allow — Keycloak's ``Cors`` allows ``DPoP`` —
    and santeid, offering no DPoP as PSC, ignores it: Bearer tokens, userinfo and renewal as
    without it."""
    _open(browser, app)
    browser.execute_script(
        "sessionStorage.setItem('configuration',"
        "  JSON.stringify({demonstrating_proof_of_possession: true}))"
    )
    tokens = _logged_in(browser, app)
    assert browser.execute_script("return window.client.configuration")[
        "demonstrating_proof_of_possession"
    ]
    assert tokens["tokenType"] == "Bearer"
    assert "cnf" not in tokens["accessTokenPayload"]
    userinfo = _call(browser, "userInfoAsync()")
    assert userinfo.get("SubjectNameID") == PROFESSIONAL, (userinfo, console(browser))
    renewed = _call(browser, "renewTokensOrThrowAsync()")
    assert "failed" not in renewed, (renewed, console(browser))
    assert renewed["accessToken"] != tokens["accessToken"]


def test_a_login_refused_on_the_phone_is_the_librarys_error(browser, app):
    """The professional refuses on the sandbox phone and gives up: the redirect URI gets
    ``access_denied``, which ``loginCallbackAsync`` rejects as its ``OidcError``."""
    _log_in(browser, app, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    wait_for(lambda: browser.current_url.startswith(f"{app.origin}/app/callback"),
             what="the way back")  # fmt: skip
    outcome = _settled(browser)
    assert outcome["name"] == "OidcError", outcome
    assert outcome["code"] == "OAUTH_ERROR", outcome
    assert "access_denied" in outcome["message"]
    assert _tokens(browser) is None
    assert "loginCallbackAsync_error" in browser.execute_script("return window.events")


def test_service_worker_keeps_the_tokens_from_the_page(browser, server, worker_app):
    """The service-worker mode on ``http://localhost``: the worker intercepts the token
    endpoint's answer, the page gets a stand-in for the access token and no refresh token;
    userinfo, fetched through the worker, carries the real one. Renewal and logout go through
    the worker too."""
    tokens = _logged_in(browser, worker_app)
    assert browser.execute_script("return !!navigator.serviceWorker.controller")
    assert tokens["accessToken"].startswith(SECURED_ACCESS_TOKEN), tokens
    assert tokens["refreshToken"].startswith(SECURED_REFRESH_TOKEN), tokens
    assert tokens["idTokenPayload"]["SubjectNameID"] == PROFESSIONAL
    userinfo = _call(browser, "userInfoAsync()")
    assert "failed" not in userinfo, (userinfo, console(browser))
    assert userinfo["SubjectRefPro"]["exercices"], userinfo

    renewed = _call(browser, "renewTokensOrThrowAsync()")
    assert "failed" not in renewed, (renewed, console(browser))
    assert renewed["accessToken"].startswith(SECURED_ACCESS_TOKEN), renewed
    assert renewed["idTokenPayload"]["sid"] == tokens["idTokenPayload"]["sid"]

    browser.execute_script(f"window.client.logoutAsync('{worker_app.origin}/signed-out')")
    wait_for(lambda: browser.current_url == f"{worker_app.origin}/signed-out",
             what="the way back")  # fmt: skip
    assert _settled(browser) == {"ok": False}, console(browser)
    _open(browser, worker_app)
    browser.execute_script("window.client.loginAsync('/app')")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")

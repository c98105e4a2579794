"""oidc-spa 10 (https://docs.oidc-spa.dev/v/v10, "OpenID Connect for client-first web
applications") drives a real ``santeid serve`` over HTTPS in headless Chromium, configured as
its Keycloak page says (https://docs.oidc-spa.dev/v/v10/providers-configuration/keycloak),
only the base URL changed: ``issuerUri`` the realm (``<base>/auth/realms/esante-wallet``), a
public client (PKCE S256, web origins the application's origin), ``scopes`` ``scope_all``
(``openid`` the library adds), ``extraQueryParams`` ``{acr_values: "eidas1"}``.

The library recognises a Keycloak issuer by its path (``/realms/<realm>``, its
``isKeycloak``): it then asks for the code in the fragment (``response_mode=fragment``), and
its ``createKeycloakUtils`` builds the account console's URL from the realm. It reads the
session's idle lifetime from the token response's ``refresh_expires_in`` (Keycloak's SSO
Session Idle, docs/reference/keycloak-behaviour.md, "Refresh tokens") for its auto logout,
renews the tokens by the refresh token, and logs out through the end-session endpoint with
``id_token_hint`` and ``post_logout_redirect_uri`` (its home URL).

The application is served by the relying party's site (``http://localhost:<port>``, another
site than santeid's ``127.0.0.1``, so the library restores a session by a full-page redirect
with ``prompt=none``, not an iframe: its ``sessionRestorationMethod`` "auto"), at ``/app/``
(the library's ``BASE_URL``, its redirect URI), with the library's core and Keycloak utilities
bundled for the browser by esbuild (the global ``OidcSpa``) from its locked npm folder
(``tests/e2e/oidc_spa``: ``package.json``, ``package-lock.json``; ``npm ci`` into its
git-ignored ``node_modules``, then ``npm run build`` into its git-ignored ``dist``, redone only
when they change).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import console
from tests.support.browser import desktop_browser
from tests.support.browser import identify
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.node import built_once
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.relying_party_site import RelyingPartySite
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

SPA_DIR = Path(__file__).resolve().parent / "oidc_spa"

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_node_and_npm]

CLIENT_ID = "spa-oidc-spa"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: santeid's SSO Session Idle (``sso_idle_timeout``), Keycloak's default 30 minutes.
SSO_IDLE = 1800
#: The second server's, for the auto logout.
SHORT_IDLE = 60
IDLE_CLIENT_ID = "spa-oidc-spa-idle"


@pytest.fixture(scope="module")
def bundle() -> str:
    """The library's browser bundle (esbuild, built once)."""
    install_locked(SPA_DIR, "oidc-spa")
    sources = [SPA_DIR / "index.js", SPA_DIR / "package.json"]
    dist = built_once(SPA_DIR, sources, SPA_DIR / "dist", dict(os.environ))
    return (dist / "oidc-spa.js").read_text()


class SinglePageApplication(RelyingPartySite):
    """``/app/`` is the application's page and its redirect URI: ``oidcEarlyInit`` first (it
    takes the authorization response from the URL before the application runs), then
    ``createOidc``; the outcome in ``window.callback``: ``{loggedIn}`` (and the
    ``initializationError``'s message, if any), the ``Oidc`` object in ``window.oidc``.
    ``/signed-out`` is an address the application sends the browser to after its logout."""

    def __init__(self, bundle: str, client_id: str = CLIENT_ID) -> None:
        super().__init__()
        self.bundle = bundle
        self.client_id = client_id
        self.base = ""
        self.arrival = ""

    def page(self, path: str, query: dict[str, str]) -> str | tuple[str, str] | None:
        if path == "/oidc-spa.js":
            return self.bundle, "text/javascript; charset=utf-8"
        if path not in ("/app/", "/signed-out"):
            return None
        parameters = {
            "issuerUri": f"{self.base}/auth/realms/esante-wallet",
            "clientId": self.client_id,
            "scopes": ["scope_all"],
            "extraQueryParams": {"acr_values": "eidas1"},
            "debugLogs": True,
        }
        return (
            "<!doctype html><title>Application</title><body>"
            "<script src=/oidc-spa.js></script><script>"
            # A test's DPoP mode, kept in the tab's storage.
            "const dpop = sessionStorage.getItem('dpop');"
            "OidcSpa.oidcEarlyInit({BASE_URL: '/app/', securityDefenses: dpop"
            "  ? {enableDPoP: OidcSpa.DPoP({mode: dpop}).enableDPoP} : {}});"
            "window.outcome = (e) => ({name: e && e.name, message: String(e && (e.message || e))});"
            "window.countdown = [];"
            # A test's session restoration method, kept in the tab's storage.
            f"const parameters = {json.dumps(parameters)};"
            "const restoration = sessionStorage.getItem('restoration');"
            "if (restoration) parameters.sessionRestorationMethod = restoration;"
            "OidcSpa.createOidc(parameters).then((oidc) => {"
            "  window.oidc = oidc;"
            "  if (oidc.isUserLoggedIn) oidc.subscribeToAutoLogoutCountdown("
            "    ({secondsLeft}) => window.countdown.push(secondsLeft));"
            "  window.callback = {loggedIn: oidc.isUserLoggedIn,"
            "    error: oidc.initializationError && oidc.initializationError.message};"
            "}, (e) => { window.callback = window.outcome(e); });"
            "</script>"
        )


@pytest.fixture(scope="module")
def app(bundle):
    with SinglePageApplication(bundle) as site:
        yield site


def _client(site: SinglePageApplication, client_id: str = CLIENT_ID) -> dict:
    """The application's public client: its home URL is its redirect URI and the address the
    end-session endpoint sends back to."""
    return {
        "client_id": client_id,
        "client_name": "Application monopage",
        "redirect_uris": [f"{site.origin}/app/"],
        "post_logout_redirect_uris": [f"{site.origin}/app/"],
        "web_origins": [site.origin],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory, app):
    """santeid over HTTPS, as in production, with the application's public client."""
    home = tmp_path_factory.mktemp("oidc-spa")
    args, ca = santeid_home(home).dev_tls()
    with santeid_process(home, args=args, ca=ca, clients=[_client(app)],
                         SANTEID_STORE_URL="memory://") as process:  # fmt: skip
        app.base = process.base
        yield process


@pytest.fixture(scope="module")
def idle_app(bundle):
    """The application on an origin of its own, for :func:`idle_server`."""
    with SinglePageApplication(bundle, client_id=IDLE_CLIENT_ID) as site:
        yield site


@pytest.fixture(scope="module")
def idle_server(server, idle_app):
    """A second santeid (the same home, so the same TLS certificate) whose SSO Session Idle is
    60 s, the shortest the library keeps a session alive with (its renewal 30 s before the
    refresh token expires, and 15 s to spare)."""
    tls = server.home / "tls"
    args = ("--tls-cert", str(tls / "cert.pem"), "--tls-key", str(tls / "key.pem"))
    with santeid_process(server.home, args=args, ca=server.ca, log_name="idle.log",
                         clients=[_client(idle_app, IDLE_CLIENT_ID)], SANTEID_STORE_URL="memory://",
                         SANTEID_SSO_IDLE_TIMEOUT=str(SHORT_IDLE)) as process:  # fmt: skip
        idle_app.base = process.base
        yield process


@pytest.fixture(scope="module")
def chromium(tmp_path_factory, server):
    driver = desktop_browser(
        tmp_path_factory.mktemp("oidc-spa-profile"), server.home / "tls/cert.pem"
    )
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, server, app):
    start_afresh(chromium, server.base, app.origin)
    return chromium


def _settled(browser) -> dict:
    return wait_for(lambda: browser.execute_script("return window.callback"),
                    what="the application's start")  # fmt: skip


def _open(browser, site) -> dict:
    """The application's page opened and the library started: its outcome."""
    browser.get(f"{site.origin}/app/")
    return _settled(browser)


def _call(browser, expression: str):
    """What the promise ``expression`` (of ``window.oidc``) resolves to (JSON), or the
    library's error: ``{failed: {name, message}}``."""
    return browser.execute_async_script(
        "const done = arguments[0];"
        f"Promise.resolve().then(() => window.oidc.{expression}).then((v) => done("
        "  v === undefined || v === null ? null : JSON.parse(JSON.stringify(v))),"
        "  (e) => done({failed: window.outcome(e)}))"
    )


def _log_in(browser, site, national_id: str = PROFESSIONAL) -> None:
    """``login()`` from the application's page, to santeid's sandbox login page, where the
    professional's identifier is sent: the sandbox phone answers."""
    assert _open(browser, site) == {"loggedIn": False, "error": None}, console(browser)
    browser.execute_script("window.oidc.login({doesCurrentHrefRequiresAuth: false})")
    identify(browser, national_id)


def _logged_in(browser, site) -> dict:
    """:func:`_log_in`, back at the application, the code exchanged: the library's tokens."""
    _log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(f"{site.origin}/app/"), what="the way back")
    assert _settled(browser) == {"loggedIn": True, "error": None}, console(browser)
    # The address santeid sent the browser back to, before the library tidied it.
    site.arrival = browser.execute_script(
        "return performance.getEntriesByType('navigation')[0].name"
    )
    tokens = _call(browser, "getTokens()")
    assert "failed" not in tokens, (tokens, console(browser))
    return tokens


def _other_tab_logout(browser, server) -> None:
    """santeid's logout page in another tab, confirmed: the SSO session ends there."""
    application = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{server.oidc}/logout?client_id={CLIENT_ID}")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="closed page")
    browser.close()
    browser.switch_to.window(application)


def test_login_tokens_and_psc_claims(browser, server, app):
    """The code flow with PKCE S256, ``acr_values`` and, the issuer being a Keycloak realm's,
    the code in the fragment; the ID token's claims as the application reads them
    (``getDecodedIdToken``) and userinfo's PSC claims fetched by the library's Keycloak utility
    (``fetchUserInfo``, the realm's ``protocol/openid-connect/userinfo``)."""
    tokens = _logged_in(browser, app)
    arrival = urlsplit(app.arrival)
    assert not arrival.query, app.arrival
    assert parse_qs(arrival.fragment)["iss"] == [server.issuer], app.arrival
    id_token = browser.execute_script("return window.oidc.getDecodedIdToken()")
    assert id_token == tokens["decodedIdToken"]
    assert id_token["iss"] == server.issuer
    assert id_token["aud"] == CLIENT_ID or CLIENT_ID in id_token["aud"]
    assert id_token["acr"] == "eidas1"
    assert id_token["SubjectNameID"] == PROFESSIONAL
    assert id_token["preferred_username"] == PROFESSIONAL
    assert tokens["hasRefreshToken"] is True
    # The library reads the access token's expiry from the JWT (milliseconds).
    access = json.loads(
        browser.execute_script(
            "const part = arguments[0].split('.')[1].replace(/-/g, '+').replace(/_/g, '/');"
            "return atob(part + '='.repeat((4 - part.length % 4) % 4));",
            tokens["accessToken"],
        )
    )
    assert tokens["accessTokenExpirationTime"] == access["exp"] * 1000
    assert access["sub"] == id_token["sub"]

    userinfo = browser.execute_async_script(
        "const done = arguments[0];"
        "const utils = OidcSpa.createKeycloakUtils({issuerUri: window.oidc.issuerUri});"
        "window.oidc.getTokens().then(({accessToken}) => utils.fetchUserInfo({accessToken}))"
        "  .then(done, (e) => done({failed: window.outcome(e)}))"
    )
    assert "failed" not in userinfo, (userinfo, console(browser))
    assert userinfo["sub"] == id_token["sub"]
    assert userinfo["SubjectNameID"] == PROFESSIONAL
    for claim in ("SubjectRefPro", "SubjectOrganization", "SubjectRole", "Secteur_Activite"):
        assert claim not in id_token and claim in userinfo, (claim, sorted(userinfo))
    assert userinfo["SubjectRefPro"]["exercices"][0]["nomDexercice"] == id_token["family_name"]
    # A new page of the application finds the session the library keeps for the tab.
    assert _open(browser, app) == {"loggedIn": True, "error": None}, console(browser)


def test_renewal_by_the_refresh_token(browser, app):
    """``renewTokens``: the token endpoint from the page (CORS) with the refresh token; new
    tokens of the same session, which the application is told of
    (``subscribeToTokensChange``)."""
    first = _logged_in(browser, app)
    browser.execute_script(
        "window.changes = [];"
        "window.oidc.subscribeToTokensChange((t) => window.changes.push(t.accessToken))"
    )
    renewed = _call(browser, "renewTokens()")
    assert renewed is None, (renewed, console(browser))
    tokens = _call(browser, "getTokens()")
    assert tokens["accessToken"] != first["accessToken"]
    assert tokens["refreshToken"] != first["refreshToken"]
    assert tokens["decodedIdToken"]["sid"] == first["decodedIdToken"]["sid"]
    assert tokens["decodedIdToken"]["SubjectNameID"] == PROFESSIONAL
    assert browser.execute_script("return window.changes") == [tokens["accessToken"]]


def test_keycloak_utilities_and_the_session_idle(browser, server, app):
    """The library's Keycloak utilities on PSC's realm URL: ``isKeycloak``, the account
    console's URL (``getAccountUrl``: the realm's ``account-service``, with ``referrer`` and
    ``referrer_uri``); the refresh token's lifetime, the session's idle lifetime the library
    counts down for its auto logout, is ``refresh_expires_in``: santeid's SSO Session Idle."""
    tokens = _logged_in(browser, app)
    utilities = browser.execute_script(
        "const issuerUri = window.oidc.issuerUri;"
        "const utils = OidcSpa.createKeycloakUtils({issuerUri});"
        "return {isKeycloak: OidcSpa.isKeycloak({issuerUri}), realm: utils.issuerUriParsed.realm,"
        "  account: utils.getAccountUrl({clientId: window.oidc.clientId,"
        "    validRedirectUri: window.oidc.validRedirectUri})};"
    )
    assert utilities["isKeycloak"] is True
    assert utilities["realm"] == "esante-wallet"
    realm = requests.get(server.issuer, verify=server.ca, timeout=10).json()
    account = urlsplit(utilities["account"])
    assert utilities["account"].startswith(realm["account-service"] + "?"), utilities
    assert parse_qs(account.query) == {
        "referrer": [CLIENT_ID],
        "referrer_uri": [f"{app.origin}/app/"],
    }
    idle = tokens["refreshTokenExpirationTime"] - tokens["issuedAtTime"]
    assert abs(idle - SSO_IDLE * 1000) <= 2000, idle
    # After 5 s without the user's input the library counts down what is left of it.
    left = wait_for(lambda: [s for s in browser.execute_script("return window.countdown") if s],
                    what="the auto logout's countdown")  # fmt: skip
    assert SSO_IDLE - 15 <= left[0] <= SSO_IDLE - 5, left


def test_logout_through_the_end_session_endpoint(browser, server, app):
    """``logout({redirectTo: "specific url"})``: the end-session endpoint with
    ``id_token_hint`` and ``post_logout_redirect_uri`` (the library's home URL), back without a
    confirmation (the hint names the session), then the application's address; santeid's
    session is over: the refresh token is refused and the next login asks for the
    professional again."""
    tokens = _logged_in(browser, app)
    browser.execute_script("window.oidc.logout({redirectTo: 'specific url', url: '/signed-out'})")
    wait_for(lambda: browser.current_url == f"{app.origin}/signed-out", what="the way back")
    assert _settled(browser) == {"loggedIn": False, "error": None}, console(browser)
    refused = requests.post(f"{server.oidc}/token", verify=server.ca, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refreshToken"],
        "client_id": CLIENT_ID})  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    # The library logs in only from its own pages (under its BASE_URL).
    assert _open(browser, app) == {"loggedIn": False, "error": None}, console(browser)
    browser.execute_script("window.oidc.login({doesCurrentHrefRequiresAuth: false})")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")


def test_a_login_refused_on_the_phone(browser, app):
    """The professional refuses on the sandbox phone and gives up: the redirect URI gets
    ``access_denied`` in the fragment, which the library takes as no session (it tells the
    application nothing of the refusal): the application starts not logged in, the error
    gone from the address, without a second trip to santeid."""
    _log_in(browser, app, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    wait_for(lambda: browser.current_url.startswith(f"{app.origin}/app/"), what="the way back")
    assert _settled(browser) == {"loggedIn": False, "error": None}, console(browser)
    assert browser.current_url == f"{app.origin}/app/"
    assert "access_denied" in console(browser)


def test_the_sso_session_ended_elsewhere(browser, server, app):
    """The professional logs out at santeid in another tab: the library's next renewal is
    refused as Keycloak refuses it (``invalid_grant`` "Session not active"), so it forgets its
    tokens and sends the browser to the authorization endpoint: santeid's login page, the
    session being over."""
    _logged_in(browser, app)
    _other_tab_logout(browser, server)
    browser.execute_script(
        "window.oidc.renewTokens().catch((e) => { window.renewal = String(e); })"
    )
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert browser.current_url.startswith(f"{server.issuer}/")
    assert "Session not active" in console(browser)
    # Back at the application, it is not logged in: nothing of the old session is kept.
    assert _open(browser, app) == {"loggedIn": False, "error": None}, console(browser)


@pytest.mark.timeout(300)  # waits out the 60 s idle itself: ≈ 1 min on an idle machine
def test_auto_logout_after_the_session_idle(chromium, idle_server, idle_app):
    """With santeid's SSO Session Idle at 60 s: the library renews the tokens 30 s before the
    refresh token would lapse (keeping santeid's session alive), and, the user idle for the
    whole of it, logs out by itself through the end-session endpoint (``redirectTo`` "current
    page"): back at the application not logged in, santeid's session over."""
    start_afresh(chromium, idle_server.base, idle_app.origin)
    tokens = _logged_in(chromium, idle_app)
    idle = tokens["refreshTokenExpirationTime"] - tokens["issuedAtTime"]
    assert abs(idle - SHORT_IDLE * 1000) <= 2000, idle
    chromium.execute_script(
        "window.changes = [];"
        "window.oidc.subscribeToTokensChange((t) => window.changes.push(t.accessToken))"
    )
    wait_for(lambda: chromium.execute_script("return window.changes.length"),
             timeout=SHORT_IDLE, what="the renewal that keeps the session alive")  # fmt: skip
    renewed = _call(chromium, "getTokens()")
    assert renewed["accessToken"] != tokens["accessToken"]
    # A new page once the library has logged out: window.oidc is then not logged in.
    wait_for(lambda: chromium.execute_script("return window.oidc.isUserLoggedIn") is False,
             timeout=SHORT_IDLE + 30, what="the auto logout")  # fmt: skip
    assert _settled(chromium) == {"loggedIn": False, "error": None}, console(chromium)
    assert chromium.current_url == f"{idle_app.origin}/app/"
    refused = requests.post(f"{idle_server.oidc}/token", verify=idle_server.ca, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": renewed["refreshToken"],
        "client_id": IDLE_CLIENT_ID})  # fmt: skip
    # The renewed refresh token has not expired yet: its session has ended.
    assert refused.json()["error"] == "invalid_grant", refused.text
    assert "Session not active" in refused.json()["error_description"]


def test_dpop_is_left_off_as_psc_offers_none(browser, server, app):
    """The library's DPoP defence decides by discovery's ``dpop_signing_alg_values_supported``,
    which santeid, as PSC, does not list: in its ``auto`` mode it goes without (Bearer tokens,
    the login as without it); ``enforced`` refuses to start."""
    _open(browser, app)
    browser.execute_script("sessionStorage.setItem('dpop', 'auto')")
    tokens = _logged_in(browser, app)
    assert tokens["decodedIdToken"]["SubjectNameID"] == PROFESSIONAL
    assert "DPoP disabled because it's not supported by the IdP" in console(browser)
    assert (
        "dpop_signing_alg_values_supported"
        not in requests.get(
            f"{server.issuer}/.well-known/openid-configuration", verify=server.ca, timeout=10
        ).json()
    )

    browser.execute_script("sessionStorage.setItem('dpop', 'enforced')")
    outcome = _open(browser, app)
    assert outcome == {"name": "Error", "message": "oidc-spa: The IdP does not support DPoP"}


def test_session_restored_by_a_full_page_redirect(browser, server, app):
    """A page without the tab's tokens (``sessionStorage`` emptied), the library remembering a
    login: it goes to the authorization endpoint with ``prompt=none`` and comes back with a
    code of the same SSO session; once that session has ended at santeid (another tab), the
    same trip brings ``login_required`` and the application starts not logged in, no login
    page shown."""
    first = _logged_in(browser, app)
    browser.execute_script("sessionStorage.clear()")
    assert _open(browser, app) == {"loggedIn": True, "error": None}, console(browser)
    arrival = browser.execute_script("return performance.getEntriesByType('navigation')[0].name")
    assert "code=" in urlsplit(arrival).fragment, arrival
    restored = _call(browser, "getTokens()")
    assert restored["accessToken"] != first["accessToken"]
    assert restored["decodedIdToken"]["sid"] == first["decodedIdToken"]["sid"]

    _other_tab_logout(browser, server)
    browser.execute_script("sessionStorage.clear()")
    assert _open(browser, app) == {"loggedIn": False, "error": None}, console(browser)
    arrival = browser.execute_script("return performance.getEntriesByType('navigation')[0].name")
    assert parse_qs(urlsplit(arrival).fragment)["error"] == ["login_required"], arrival


@pytest.fixture(scope="module")
def third_party_chromium(tmp_path_factory, server):
    """A Chromium that keeps third-party cookies, as Chrome does by default: a hidden iframe
    carries santeid's cookies inside the application's page."""
    driver = desktop_browser(
        tmp_path_factory.mktemp("oidc-spa-iframe-profile"),
        server.home / "tls/cert.pem",
        third_party_cookies=True,
    )
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def test_session_restored_in_a_hidden_iframe(third_party_chromium, server, app):
    """``sessionRestorationMethod: "iframe"`` (its docs: for an application that santeid's
    cookies reach in an iframe): the page without the tab's tokens restores the SSO session in
    a hidden iframe (``prompt=none``, the code exchanged from the page), the page itself never
    leaving the application."""
    browser = third_party_chromium
    start_afresh(browser, server.base, app.origin)
    first = _logged_in(browser, app)
    browser.execute_script(
        "sessionStorage.clear(); sessionStorage.setItem('restoration', 'iframe')"
    )
    assert _open(browser, app) == {"loggedIn": True, "error": None}, console(browser)
    arrival = browser.execute_script("return performance.getEntriesByType('navigation')[0].name")
    assert arrival == f"{app.origin}/app/", arrival
    restored = _call(browser, "getTokens()")
    assert restored["accessToken"] != first["accessToken"]
    assert restored["decodedIdToken"]["sid"] == first["decodedIdToken"]["sid"]

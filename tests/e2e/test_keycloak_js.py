"""keycloak-js, the Keycloak JavaScript adapter (https://www.keycloak.org/securing-apps/javascript-adapter),
drives a real ``santeid serve`` over HTTPS in headless Chromium, as a relying party's single-page
application uses it: ``url`` santeid's base plus ``/auth``, realm ``esante-wallet``, the paths
it builds itself (``…/protocol/openid-connect/auth``, ``token``, ``logout``,
``login-status-iframe.html``, ``3p-cookies/step1.html``). Its code flow has no secret: the
client is public (``token_endpoint_auth_method`` ``none``) with PKCE S256, as keycloak-js asks
(docs/endpoints.md, "Public clients").

The page is served by the relying party's site (``http://localhost:<port>``, another site than
santeid's ``127.0.0.1``), which loads keycloak-js from its locked npm package
(``tests/e2e/keycloak_js``: ``package.json``, ``package-lock.json``, installed with ``npm ci``
into its git-ignored ``node_modules`` the first time; ``.ci/run`` installs node and npm).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from tests.support.browser import identify
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.relying_party_site import RelyingPartySite
from tests.support.security import first_professional
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

KEYCLOAK_JS_DIR = Path(__file__).resolve().parent / "keycloak_js"

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    needs_node_and_npm,
]

CLIENT_ID = "spa-keycloak-js"
#: Every callback keycloak-js offers, recorded in ``window.events`` in the order they come.
CALLBACKS = (
    "onReady",
    "onAuthSuccess",
    "onAuthError",
    "onAuthRefreshSuccess",
    "onAuthRefreshError",
    "onAuthLogout",
)


@pytest.fixture(scope="module")
def keycloak_js() -> str:
    """keycloak-js's ES module, from its locked package (``npm ci`` when missing)."""
    return (install_locked(KEYCLOAK_JS_DIR, "keycloak-js") / "lib" / "keycloak.js").read_text()


#: keycloak-js's page for a silent ``check-sso`` (its documentation's
#: ``silent-check-sso.html``): it hands the callback's address to the application.
SILENT_CHECK_SSO = (
    "<!doctype html><html><body><script>"
    "parent.postMessage(location.href, location.origin)</script></body></html>"
)


class SinglePageApplication(RelyingPartySite):
    """``/app`` is the application's page: keycloak-js's instance in ``window.kc``, its
    callbacks in ``window.events``, ``init``'s outcome in ``window.initResult``
    (``{authenticated}`` or ``{error}``); ``/app?silent=1`` checks the session in a hidden
    iframe (``silentCheckSsoRedirectUri``, ``/silent-check-sso.html``) rather than by a
    redirect of the page; ``/keycloak.js`` the adapter."""

    def __init__(self, script: str) -> None:
        super().__init__()
        self.script = script
        self.base = ""

    def page(self, path: str, query: dict[str, str]) -> str | tuple[str, str] | None:
        if path == "/keycloak.js":
            return self.script, "text/javascript; charset=utf-8"
        if path == "/silent-check-sso.html":
            return SILENT_CHECK_SSO
        if path != "/app":
            return None
        config = {"url": f"{self.base}/auth", "realm": "esante-wallet", "clientId": CLIENT_ID}
        options = {"onLoad": "check-sso", "checkLoginIframeInterval": 1,
                   "scope": "openid scope_all"}  # fmt: skip
        if query.get("silent"):
            options["silentCheckSsoRedirectUri"] = f"{self.origin}/silent-check-sso.html"
        return (
            "<!doctype html><title>Application</title><script type=module>"
            "import Keycloak from '/keycloak.js';"
            "window.events = [];"
            f"const kc = new Keycloak({json.dumps(config)});"
            f"for (const name of {json.dumps(list(CALLBACKS))}) {{"
            "  kc[name] = () => window.events.push(name);"
            "}"
            "window.kc = kc;"
            f"kc.init({json.dumps(options)}).then("
            "  (authenticated) => { window.initResult = {authenticated}; },"
            "  (error) => { window.initResult = {error: String(error && (error.message"
            "     || error.error || JSON.stringify(error)))}; });"
            "</script>"
        )


@pytest.fixture(scope="module")
def app(keycloak_js):
    with SinglePageApplication(keycloak_js) as site:
        yield site


@pytest.fixture(scope="module")
def server(tmp_path_factory, app):
    """santeid over HTTPS, as in production, with the application's public client."""
    home = tmp_path_factory.mktemp("keycloak-js")
    args, ca = santeid_home(home).dev_tls()
    client = {
        "client_id": CLIENT_ID,
        "client_name": "Application monopage",
        # keycloak-js returns to the page's own address: each one the tests open.
        "redirect_uris": [
            f"{app.origin}/app",
            f"{app.origin}/app?silent=1",
            f"{app.origin}/silent-check-sso.html",
        ],
        "web_origins": ["+"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }
    with santeid_process(home, args=args, ca=ca, clients=[client],
                         SANTEID_STORE_URL="memory://") as process:  # fmt: skip
        app.base = process.base
        yield process


@pytest.fixture
def browser(third_party_chromium, server):
    start_afresh(third_party_chromium, server.base)
    return third_party_chromium


def _open(browser, app, query: str = "") -> dict:
    """The application's page opened and keycloak-js's ``init`` settled: its outcome."""
    browser.get(f"{app.origin}/app{query}")
    return _settled(browser)


def _settled(browser) -> dict:
    result = wait_for(lambda: browser.execute_script("return window.initResult"),
                      what="keycloak-js's init")  # fmt: skip
    assert "error" not in result, (result, _console(browser))
    return result


def _console(browser) -> str:
    return "\n".join(entry["message"] for entry in browser.get_log("browser"))


def _kc(browser, expression: str):
    return browser.execute_script(f"return window.kc.{expression}")


def _log_in(browser, server) -> None:
    """``kc.login()`` from the application's page, through santeid's sandbox login page, back
    to the application, whose ``init`` exchanges the code."""
    browser.execute_script("window.kc.login({acrValues: 'eidas1'})")
    identify(browser, first_professional(server))
    wait_for(lambda: browser.current_url.startswith(f"{urlsplit(browser.current_url).scheme}://localhost"),
             what="the way back to the application")  # fmt: skip


def test_check_sso_login_refresh_and_a_logout_in_another_tab(browser, server, app):
    # Before any login: keycloak-js's third-party-cookie check and login-status iframe tell it
    # there is no session; it stays on the page, not authenticated.
    assert _open(browser, app) == {"authenticated": False}
    assert browser.current_url == f"{app.origin}/app"

    _log_in(browser, server)
    assert _settled(browser) == {"authenticated": True}
    # keycloak-js removed the callback's parameters from the address.
    assert browser.current_url == f"{app.origin}/app"
    token, id_token = _kc(browser, "tokenParsed"), _kc(browser, "idTokenParsed")
    assert token["iss"] == server.issuer
    assert token["azp"] == CLIENT_ID
    assert _kc(browser, "subject") == token["sub"] == id_token["sub"]
    assert _kc(browser, "sessionId") == token["sid"] == id_token["sid"]
    assert id_token["nonce"]  # keycloak-js compared it with the one it sent
    assert _kc(browser, "refreshTokenParsed")["typ"] == "Refresh"
    assert browser.execute_script("return window.events") == ["onAuthSuccess", "onReady"]

    # A forced refresh (updateToken(-1)): a new access token, same session.
    first = _kc(browser, "token")
    assert browser.execute_async_script(
        "const done = arguments[0]; window.kc.updateToken(-1).then(done, (e) => done(String(e)))"
    ) is True  # fmt: skip
    assert _kc(browser, "token") != first
    assert _kc(browser, "tokenParsed")["sid"] == token["sid"]
    assert "onAuthRefreshSuccess" in browser.execute_script("return window.events")

    # Another page load with the SSO session: check-sso logs in silently (prompt=none).
    assert _open(browser, app) == {"authenticated": True}
    assert _kc(browser, "tokenParsed")["sid"] == token["sid"]

    # A logout in another tab: the login-status iframe says "changed" at its next check,
    # keycloak-js drops its tokens and calls onAuthLogout.
    application = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{server.oidc}/logout?client_id={CLIENT_ID}")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="closed page")
    browser.close()
    browser.switch_to.window(application)
    wait_for(lambda: "onAuthLogout" in browser.execute_script("return window.events"),
             what="onAuthLogout")  # fmt: skip
    assert _kc(browser, "authenticated") is False
    assert _kc(browser, "token") is None


def test_logout_ends_the_session_and_comes_back(browser, server, app):
    assert _open(browser, app) == {"authenticated": False}
    _log_in(browser, server)
    assert _settled(browser) == {"authenticated": True}
    id_token = _kc(browser, "idToken")

    browser.execute_script("window.kc.logout()")
    # keycloak-js's logout URL: client_id, post_logout_redirect_uri (the page), id_token_hint.
    wait_for(lambda: browser.current_url.startswith(app.origin)
             and browser.execute_script("return window.initResult"),
             what="the page after the logout")  # fmt: skip
    assert _settled(browser) == {"authenticated": False}
    # The session ended: a silent login finds none.
    assert _open(browser, app) == {"authenticated": False}
    assert id_token  # the hint keycloak-js sent
    assert parse_qs(urlsplit(browser.current_url).query) == {}


def _call(browser, expression: str):
    """What the promise ``expression`` (of ``window.kc``) resolves to, or its error's text."""
    return browser.execute_async_script(
        "const done = arguments[0];"
        f"window.kc.{expression}.then(done, (e) => done({{error: String(e && (e.message || e))}}))"
    )


def test_silent_check_sso_and_the_userinfo(browser, server, app):
    """``silentCheckSsoRedirectUri``: keycloak-js asks the authorization endpoint with
    ``prompt=none`` in a hidden iframe — ``login_required`` without a session, a code with one —
    and never leaves the page; ``loadUserInfo()`` reads the userinfo from the page (CORS, the
    client's web origins); ``loadUserProfile()`` is not served (docs/endpoints.md, "Public
    clients")."""
    assert _open(browser, app, "?silent=1") == {"authenticated": False}
    assert browser.current_url == f"{app.origin}/app?silent=1"
    _log_in(browser, server)
    assert _settled(browser) == {"authenticated": True}

    assert _open(browser, app, "?silent=1") == {"authenticated": True}
    assert browser.current_url == f"{app.origin}/app?silent=1"
    token = _kc(browser, "tokenParsed")
    userinfo = _call(browser, "loadUserInfo()")
    assert "error" not in userinfo, (userinfo, _console(browser))
    assert userinfo["sub"] == token["sub"]
    assert userinfo["preferred_username"] == first_professional(server)
    # loadUserProfile() asks Keycloak's account REST service ({issuer}/account), which wants
    # the account client's roles that PSC's tokens do not carry: not served here either.
    assert "error" in _call(browser, "loadUserProfile()")

"""oidc-client-ts 3.5 (https://github.com/authts/oidc-client-ts, the OpenID Connect client under
react-oidc-context and many Angular and Vue applications) drives a real ``santeid serve`` over
HTTPS in headless Chromium, as a single-page application uses it: ``authority`` the realm
(``<base>/auth/realms/esante-wallet``, discovery read from the page), a public client
(``token_endpoint_auth_method`` ``none``, PKCE S256, web origins the application's origin),
``scope`` ``openid scope_all``, ``extraQueryParams`` ``{acr_values: "eidas1"}``,
``loadUserInfo``, ``monitorSession`` and ``revokeTokensOnSignout``.

The library fetches from the page (CORS): discovery, the token, userinfo and revocation
endpoints; it renews silently by the refresh token or in a hidden iframe (``prompt=none``),
watches the session through discovery's ``check_session_iframe`` and logs out through the
end-session endpoint with ``id_token_hint`` (docs/psc-integration.md, "Relying-party libraries
run against santeid"; docs/endpoints.md, "Public clients").

The application is served by the relying party's site (``http://localhost:<port>``, another
site than santeid's ``127.0.0.1``), which hands out the library's browser bundle
(``dist/browser/oidc-client-ts.js``, the global ``oidc``) from its locked npm package
(``tests/e2e/oidc_client_ts``: ``package.json``, ``package-lock.json``, installed with ``npm ci``
into its git-ignored ``node_modules`` the first time; ``.ci/run`` installs node and npm).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import console
from tests.support.browser import identify
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.relying_party_site import RelyingPartySite
from tests.support.security import first_professional
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

OIDC_CLIENT_TS_DIR = Path(__file__).resolve().parent / "oidc_client_ts"

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    needs_node_and_npm,
]

CLIENT_ID = "spa-oidc-client-ts"
#: The UserManager events the application records in ``window.events``, in the order they come.
EVENTS = ("UserLoaded", "UserUnloaded", "UserSignedOut", "UserSessionChanged", "SilentRenewError")


@pytest.fixture(scope="module")
def bundle() -> str:
    """oidc-client-ts's browser bundle, from its locked package (``npm ci`` when missing)."""
    package = install_locked(OIDC_CLIENT_TS_DIR, "oidc-client-ts")
    return (package / "dist" / "browser" / "oidc-client-ts.js").read_text()


class SinglePageApplication(RelyingPartySite):
    """``/app`` is the application's page and its redirect URI: the ``UserManager`` in
    ``window.mgr``, its events in ``window.events``; on the way back from santeid (a ``state``
    in the query) it completes the login (``signinCallback``) and records the outcome in
    ``window.callback`` (``{ok}`` or the library's error: ``{name, error, message}``).
    ``/signed-out`` is the same page as the post-logout redirect URI, which completes the
    logout (``signoutCallback``: ``{ok, state}``, the state the application passed).
    ``/silent.html`` is the hidden iframe's end, after a silent login (``signinCallback``)
    or a silent logout (``signoutSilentCallback``: the library sends that one no state),
    ``/oidc-client-ts.js`` the library's browser bundle."""

    def __init__(self, script: str) -> None:
        super().__init__()
        self.script = script
        self.base = ""

    def settings(self) -> dict:
        return {
            "authority": f"{self.base}/auth/realms/esante-wallet",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{self.origin}/app",
            "silent_redirect_uri": f"{self.origin}/silent.html",
            "post_logout_redirect_uri": f"{self.origin}/signed-out",
            "response_type": "code",
            "scope": "openid scope_all",
            "extraQueryParams": {"acr_values": "eidas1"},
            "loadUserInfo": True,
            "monitorSession": True,
            "checkSessionIntervalInSeconds": 1,
            "revokeTokensOnSignout": True,
            "automaticSilentRenew": False,
            "silentRequestTimeoutInSeconds": 10,
            # signoutSilent: the end-session endpoint in the hidden iframe, back at its page.
            "includeIdTokenInSilentSignout": True,
            "popup_post_logout_redirect_uri": f"{self.origin}/silent.html",
        }

    def page(self, path: str, query: dict[str, str]) -> str | tuple[str, str] | None:
        if path == "/oidc-client-ts.js":
            return self.script, "text/javascript; charset=utf-8"
        settings = json.dumps(self.settings())
        if path == "/silent.html":
            return (
                "<!doctype html><title>Silent</title><script src=/oidc-client-ts.js></script>"
                f"<script>const m = new oidc.UserManager({settings});"
                "new URLSearchParams(location.search).has('code')"
                "  || new URLSearchParams(location.search).has('error')"
                "  ? m.signinCallback() : m.signoutSilentCallback();</script>"
            )
        if path not in ("/app", "/signed-out"):
            return None
        if path == "/signed-out":
            complete = (
                "mgr.signoutCallback().then("
                "  (r) => { window.callback = {ok: true, state: r && r.userState}; },"
                "  (e) => { window.callback = window.outcome(e); });"
            )
        else:
            complete = (
                "if (new URLSearchParams(location.search).has('state')) {"
                "  mgr.signinCallback().then("
                "    () => { window.callback = {ok: true};"
                "            history.replaceState(null, '', '/app'); },"
                "    (e) => { window.callback = window.outcome(e); });"
                "} else { window.callback = {ok: 'nothing to complete'}; }"
            )
        return (
            "<!doctype html><title>Application</title><script src=/oidc-client-ts.js></script>"
            "<script>"
            "window.events = [];"
            "window.outcome = (e) => ({name: e && e.name, error: e && e.error,"
            "  message: String(e && (e.message || e))});"
            f"const mgr = new oidc.UserManager({settings});"
            "window.mgr = mgr;"
            f"for (const name of {json.dumps(list(EVENTS))}) {{"
            "  mgr.events['add' + name]((e) => window.events.push(name));"
            "}"
            f"{complete}</script>"
        )


@pytest.fixture(scope="module")
def app(bundle):
    with SinglePageApplication(bundle) as site:
        yield site


@pytest.fixture(scope="module")
def foreign(bundle):
    """The same application on another origin, among the client's redirect URIs but not among
    its web origins."""
    with SinglePageApplication(bundle) as site:
        yield site


@pytest.fixture(scope="module")
def server(tmp_path_factory, app, foreign):
    """santeid over HTTPS, as in production, with the application's public client."""
    home = tmp_path_factory.mktemp("oidc-client-ts")
    args, ca = santeid_home(home).dev_tls()
    client = {
        "client_id": CLIENT_ID,
        "client_name": "Application monopage",
        "redirect_uris": [
            f"{app.origin}/app",
            f"{app.origin}/silent.html",
            f"{foreign.origin}/app",
        ],
        "post_logout_redirect_uris": [f"{app.origin}/signed-out", f"{app.origin}/silent.html"],
        "web_origins": [app.origin],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }
    with santeid_process(home, args=args, ca=ca, clients=[client],
                         SANTEID_STORE_URL="memory://") as process:  # fmt: skip
        app.base = foreign.base = process.base
        yield process


@pytest.fixture
def browser(third_party_chromium, server, app, foreign):
    start_afresh(third_party_chromium, server.base)
    for site in (app, foreign):
        third_party_chromium.execute_cdp_cmd(
            "Storage.clearDataForOrigin", {"origin": site.origin, "storageTypes": "all"}
        )
    return third_party_chromium


def _open(browser, site) -> dict:
    """The application's page opened and its callback handling settled: its outcome."""
    browser.get(f"{site.origin}/app")
    return _settled(browser)


def _settled(browser) -> dict:
    return wait_for(lambda: browser.execute_script("return window.callback"),
                    what="the application's callback handling")  # fmt: skip


def _call(browser, expression: str):
    """What the promise ``expression`` (of ``window.mgr``) resolves to (JSON), or the
    library's error: ``{name, error, message}``."""
    return browser.execute_async_script(
        "const done = arguments[0];"
        f"window.mgr.{expression}.then((v) => done(v === undefined || v === null ? null"
        "  : JSON.parse(JSON.stringify(v))), (e) => done({failed: window.outcome(e)}))"
    )


def _base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _user(browser) -> dict | None:
    return _call(browser, "getUser()")


def _log_in(browser, server, site) -> dict:
    """``signinRedirect()`` from the application's page, through santeid's sandbox login page,
    back to the application, which exchanges the code: the stored user."""
    browser.execute_script("window.mgr.signinRedirect()")
    identify(browser, first_professional(server))
    wait_for(lambda: browser.current_url.startswith(site.origin), what="the way back")
    return _settled(browser)


def test_login_claims_and_userinfo(browser, server, app):
    assert _open(browser, app) == {"ok": "nothing to complete"}
    assert _log_in(browser, server, app) == {"ok": True}, console(browser)
    user = _user(browser)
    assert user["token_type"] == "Bearer"
    assert user["scope"].split() == ["openid", "scope_all"]
    assert user["session_state"]
    profile = user["profile"]
    assert profile["iss"] == server.issuer
    assert profile["aud"] == CLIENT_ID or CLIENT_ID in profile["aud"]
    # The ID token's protocol claims (acr, amr…), which the library keeps out of the profile.
    id_token = json.loads(_base64url(user["id_token"].split(".")[1]))
    assert id_token["acr"] == "eidas1"
    # PSC's claims: the ID token's, and those only userinfo releases, fetched from the page
    # (loadUserInfo, CORS) and merged into the profile after the library checked its sub.
    assert profile["SubjectNameID"] == first_professional(server)
    assert profile["preferred_username"] == first_professional(server)
    assert profile["given_name"] and profile["family_name"]
    for claim in ("SubjectRefPro", "SubjectOrganization", "SubjectRole", "Secteur_Activite"):
        assert claim not in id_token and claim in profile, (claim, sorted(profile))
    assert profile["SubjectRefPro"]["exercices"][0]["nomDexercice"] == profile["family_name"]
    assert "UserLoaded" in browser.execute_script("return window.events")


def test_silent_renew_by_refresh_token_and_by_iframe(browser, server, app):
    _open(browser, app)
    assert _log_in(browser, server, app) == {"ok": True}, console(browser)
    first = _user(browser)
    assert first["refresh_token"]

    # With a refresh token: the token endpoint from the page, same session.
    renewed = _call(browser, "signinSilent()")
    assert "failed" not in renewed, (renewed, console(browser))
    assert renewed["access_token"] != first["access_token"]
    assert renewed["profile"]["sid"] == first["profile"]["sid"]
    assert renewed["profile"]["SubjectNameID"] == first_professional(server)

    # Without one: the authorization endpoint in a hidden iframe, prompt=none, with the SSO
    # session — a code, exchanged from the page.
    browser.execute_async_script(
        "const done = arguments[0];"
        "window.mgr.getUser().then((u) => { u.refresh_token = undefined;"
        "  return window.mgr.storeUser(u); }).then(() => done(null))"
    )
    by_iframe = _call(browser, "signinSilent()")
    assert "failed" not in by_iframe, (by_iframe, console(browser))
    assert by_iframe["access_token"] != renewed["access_token"]
    assert by_iframe["profile"]["sid"] == first["profile"]["sid"]
    assert by_iframe["profile"]["SubjectNameID"] == first_professional(server)


def test_silent_signin_without_a_session_is_login_required(browser, app):
    _open(browser, app)
    outcome = _call(browser, "signinSilent()")
    assert outcome["failed"]["name"] == "ErrorResponse", outcome
    assert outcome["failed"]["error"] == "login_required"


def test_session_monitor_sees_a_logout_in_another_tab(browser, server, app):
    _open(browser, app)
    assert _log_in(browser, server, app) == {"ok": True}, console(browser)
    # The check-session iframe answers "unchanged" while the session lives: no event.
    browser.execute_async_script("setTimeout(arguments[0], 3000)")
    assert "UserSignedOut" not in browser.execute_script("return window.events")

    application = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{server.oidc}/logout?client_id={CLIENT_ID}")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="closed page")
    browser.close()
    browser.switch_to.window(application)
    wait_for(lambda: "UserSignedOut" in browser.execute_script("return window.events"),
             what="UserSignedOut")  # fmt: skip


def test_signout_revokes_the_tokens_and_comes_back(browser, server, app):
    _open(browser, app)
    assert _log_in(browser, server, app) == {"ok": True}, console(browser)
    user = _user(browser)
    userinfo = f"{server.oidc}/userinfo"
    bearer = {"Authorization": f"Bearer {user['access_token']}"}
    assert requests.get(userinfo, headers=bearer, verify=server.ca, timeout=10).ok

    # revokeTokens from the page (CORS): the access token alone ends, the session lives on.
    assert _call(browser, "revokeTokens(['access_token'])") is None, console(browser)
    revoked = requests.get(userinfo, headers=bearer, verify=server.ca, timeout=10)
    assert revoked.status_code == 401
    assert _call(browser, "signinSilent()")["profile"]["sid"] == user["profile"]["sid"]
    user = _user(browser)

    # revokeTokensOnSignout: the access and refresh tokens revoked from the page (CORS), then
    # the end-session endpoint with id_token_hint and post_logout_redirect_uri, and the state
    # the application passed, back at the post-logout redirect URI without a confirmation.
    browser.execute_script(
        "window.mgr.signoutRedirect({state: 'bye'})"
        ".catch((e) => { window.signout = window.outcome(e); })"
    )
    wait_for(lambda: browser.current_url.startswith(f"{app.origin}/signed-out?")
             or browser.execute_script("return window.signout"),
             what="the way back after the logout")  # fmt: skip
    assert browser.execute_script("return window.signout") is None, console(browser)
    assert _settled(browser) == {"ok": True, "state": "bye"}, console(browser)
    # The tokens were revoked before the end-session request (a refusal stops signoutRedirect
    # before it leaves the page): the refresh token no longer renews.
    assert _user(browser) is None
    refused = requests.post(f"{server.oidc}/token", verify=server.ca, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": user["refresh_token"],
        "client_id": CLIENT_ID})  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    # The session ended: a silent login finds none.
    outcome = _call(browser, "signinSilent()")
    assert outcome["failed"]["error"] == "login_required", outcome


def test_silent_signout_ends_the_session_from_a_hidden_iframe(browser, server, app):
    """``signoutSilent``: the end-session endpoint with ``id_token_hint`` in a hidden iframe,
    back at the silent page (a registered post-logout redirect URI) with no confirmation; the
    application's page stays, its user removed, the SSO session ended."""
    _open(browser, app)
    assert _log_in(browser, server, app) == {"ok": True}, console(browser)
    # Without revocation first, which would end the session by itself.
    browser.execute_script("window.mgr.settings.revokeTokensOnSignout = false")
    assert _call(browser, "signoutSilent()") is None, console(browser)
    assert browser.current_url == f"{app.origin}/app"
    assert _user(browser) is None
    assert "UserUnloaded" in browser.execute_script("return window.events")
    outcome = _call(browser, "signinSilent()")
    assert outcome["failed"]["error"] == "login_required", outcome


def test_an_origin_not_among_the_web_origins_is_refused(browser, server, foreign):
    """Its redirect URI is registered, its origin is not a web origin: the token endpoint's
    answer carries no CORS header, so the browser keeps it from the page and the library fails
    the login, as at Keycloak."""
    _open(browser, foreign)
    outcome = _log_in(browser, server, foreign)
    assert outcome["name"] == "TypeError", outcome  # fetch's network error
    assert _call(browser, "getUser()") is None
    assert parse_qs(urlsplit(browser.current_url).query)["state"]

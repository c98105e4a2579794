"""santeid's cookies against Keycloak's cookie tests, method by method
(docs/reference/keycloak-behaviour.md, "Cookies: ``CookieTest`` and ``CookiesPathTest``,
method by method"), through a real ``santeid serve`` over HTTPS (as PSC answers) and over
``make run``'s plain-HTTP localhost issuer, driven by ``requests`` as a browser: what each
answer of a login writes (``DefaultCookieProviderTest.testCookieDefaults`` and
``testCookieDefaultsWithInsecureContext``), which cookies a logout expires (``testExpire``), an
identity cookie santeid never signed (``CookieTest.testCookieValue``), and cookies of the same
names that are not santeid's on a longer path (``CookiesPathTest.testOldCookieWithWrongPath``).
The cookies' names are santeid's own (docs/configuration.md, "Cookies")."""

from __future__ import annotations

import base64
import hashlib
from http.cookiejar import Cookie
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.http_login import login_to_callback
from tests.support.oidc_flow import authorization_url
from tests.support.oidc_flow import basic_auth
from tests.support.security import first_professional
from tests.support.servers import REALM
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CLIENT_ID = "rp-cookie-parity"
SECRET = "a-long-secret-for-the-cookie-parity-tests-0123456789"
#: Never fetched: the login ends on the redirect to it.
CALLBACK = "http://127.0.0.1:9/callback"
IDENTITY = "santeid_identity"
AUTH_SESSION = "santeid_auth_session"
RESTART = "santeid_restart"
SESSION = "santeid_session"
SESSION_STATE = "santeid_session_state"
#: Keycloak's ``FEDERATION`` cookies' counterparts: ``KEYCLOAK_IDENTITY``, ``AUTH_SESSION_ID``,
#: ``KC_RESTART``.
FEDERATION = (IDENTITY, AUTH_SESSION, RESTART)


@pytest.fixture(scope="module", params=["https", "http"])
def server(request, tmp_path_factory):
    """santeid over HTTPS with its development certificate, or on a plain-HTTP localhost
    issuer (``make run``'s)."""
    home = tmp_path_factory.mktemp(f"cookie-parity-{request.param}")
    args, ca = santeid_home(home).dev_tls() if request.param == "https" else ((), None)
    clients = [code_flow_client(CLIENT_ID, SECRET, CALLBACK)]
    with santeid_process(home, args=["--sandbox", *args], ca=ca, clients=clients,
                         SANTEID_STORE_URL="memory://") as process:  # fmt: skip
        yield process


class Browser(requests.Session):
    """A browser's cookie jar, keeping every ``Set-Cookie`` header of every answer it got, one
    list per answer (:attr:`written`)."""

    def __init__(self, server) -> None:
        super().__init__()
        # A CA bundle named in the environment would override ``verify`` (requests' rule).
        self.trust_env = False
        self.verify = server.ca or True
        self.written: list[list[str]] = []
        self.hooks["response"].append(self._keep)

    def _keep(self, response, *args, **kwargs):
        self.written.append(response.raw.headers.getlist("Set-Cookie"))


def _attributes(header: str) -> tuple[str, str, dict[str, str]]:
    """A ``Set-Cookie`` header's name, value and attributes (names lower-cased)."""
    pair, *rest = (part.strip() for part in header.split(";"))
    name, value = pair.split("=", 1)
    attributes = {}
    for attribute in rest:
        key, _, val = attribute.partition("=")
        attributes[key.lower()] = val
    return name, value, attributes


def _log_in(browser: Browser, server) -> dict:
    """The professional logs in to the service in ``browser``: the callback's parameters."""
    url = authorization_url(f"{server.oidc}/auth", client_id=CLIENT_ID, redirect_uri=CALLBACK)
    callback = login_to_callback(browser, url, CALLBACK, first_professional(server))
    return {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}


def _authorize(browser: Browser, server) -> requests.Response:
    url = authorization_url(f"{server.oidc}/auth", client_id=CLIENT_ID, redirect_uri=CALLBACK)
    return browser.get(url, allow_redirects=False, timeout=10)


def _tokens(server, code: str) -> dict:
    answer = requests.post(
        f"{server.oidc}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers=basic_auth(CLIENT_ID, SECRET),
        verify=server.ca or True,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _digest(session_state: str) -> str:
    hashed = hashlib.sha256(session_state.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def _expired(headers: list[str]) -> set[str]:
    return {
        name
        for name, _, attributes in map(_attributes, headers)
        if attributes.get("max-age") == "0"
    }


def test_the_cookies_of_a_login_have_keycloaks_attributes(server):
    """``DefaultCookieProviderTest.testCookieDefaults`` (HTTPS) and
    ``testCookieDefaultsWithInsecureContext`` (plain HTTP): ``KEYCLOAK_IDENTITY``,
    ``AUTH_SESSION_ID`` and ``KC_RESTART`` are ``HttpOnly`` and ``Secure; SameSite=None`` in a
    secure context, ``Lax`` without ``Secure`` elsewhere, and last until the browser closes
    (no ``Max-Age`` without remember-me); ``KEYCLOAK_SESSION`` the same but readable by
    scripts and with a ``Max-Age``, holding the SHA-256 of the session id (the ``KEYCLOAK_SESSION``
    check of ``CookiesPathTest.testMultipleCookies`` as Keycloak now writes it). Every
    cookie's path ends with ``/`` (``CookiesPathTest``), santeid's being ``/``; no answer
    writes a cookie twice (``CookieTest.testNoDuplicationsWhenExpiringCookies``)."""
    browser = Browser(server)
    session_state = _log_in(browser, server)["session_state"]
    secure = server.base.startswith("https://")
    seen: dict[str, dict[str, str]] = {}
    for headers in browser.written:
        names = [_attributes(header)[0] for header in headers]
        assert len(names) == len(set(names)), headers
        for name, value, attributes in map(_attributes, headers):
            assert attributes["path"] == "/", (name, attributes)
            assert ("secure" in attributes) is secure, (name, attributes)
            if attributes.get("max-age") != "0":  # the restart cookie ends with the login
                seen.setdefault(name, {"value": value, **attributes})
    assert set(seen) == {*FEDERATION, SESSION, SESSION_STATE}, seen
    for name in FEDERATION:
        assert seen[name]["samesite"] == ("None" if secure else "Lax"), seen[name]
        assert "httponly" in seen[name], seen[name]
        assert "max-age" not in seen[name] and "expires" not in seen[name], seen[name]
    assert seen[SESSION_STATE]["samesite"] == ("None" if secure else "Lax")
    assert "httponly" not in seen[SESSION_STATE], seen[SESSION_STATE]
    assert int(seen[SESSION_STATE]["max-age"]) > 0
    assert seen[SESSION_STATE]["value"] == _digest(session_state)
    assert seen[SESSION]["samesite"] == "Lax" and "httponly" in seen[SESSION]


def test_a_logout_expires_only_the_cookies_the_browser_sent(server):
    """``DefaultCookieProviderTest.testExpire``: a cookie is expired (``Max-Age=0``, on its
    path) only when the request carried it. A browser that no longer holds the session-status
    cookie gets only its identity cookie expired at logout."""
    browser = Browser(server)
    tokens = _tokens(server, _log_in(browser, server)["code"])
    browser.cookies.clear(domain="127.0.0.1", path="/", name=SESSION_STATE)
    browser.written.clear()
    query = urlencode({"id_token_hint": tokens["id_token"]})
    ended = browser.get(f"{server.oidc}/logout?{query}", allow_redirects=False, timeout=10)
    assert ended.status_code == 200, ended.text[:500]
    headers = [header for answer in browser.written for header in answer]
    assert _expired(headers) == {IDENTITY}, headers
    for name, value, attributes in map(_attributes, headers):
        if name == IDENTITY:
            assert value == "" and attributes["path"] == "/", attributes


@pytest.mark.parametrize("logged_out", [False, True])
def test_an_access_token_as_identity_cookie_gets_the_login_page_and_is_expired(server, logged_out):
    """``CookieTest.testCookieValue`` and ``testCookieValueLoggedOut``: a browser whose
    identity cookie holds the professional's access token gets the login page, the session
    alive or over; Keycloak expires that cookie, which names no session
    (``AuthenticationManager.authenticateIdentityCookie``), and the session-status cookie
    with it."""
    owner = Browser(server)
    tokens = _tokens(server, _log_in(owner, server)["code"])
    if logged_out:
        query = urlencode({"id_token_hint": tokens["id_token"]})
        assert owner.get(f"{server.oidc}/logout?{query}", timeout=10).status_code == 200
    browser = Browser(server)
    browser.cookies.set(IDENTITY, tokens["access_token"], domain="127.0.0.1", path="/")
    browser.cookies.set(SESSION_STATE, "left-by-a-session", domain="127.0.0.1", path="/")
    answer = _authorize(browser, server)
    assert answer.status_code == 302, answer.text[:500]
    assert "/login-actions/" in answer.headers["Location"]
    assert _expired(browser.written[-1]) == {IDENTITY, SESSION_STATE}, browser.written[-1]
    assert IDENTITY not in browser.cookies and SESSION_STATE not in browser.cookies


def _foreign(name: str, value: str) -> Cookie:
    """A cookie named ``name`` on the realm's path, which santeid did not write: the browser
    sends it before santeid's own, on ``/`` (RFC 6265 §5.4: the longer path first)."""
    return requests.cookies.create_cookie(name, value, domain="127.0.0.1", path=f"{REALM}/")


def test_cookies_of_the_same_names_on_a_longer_path_leave_the_login_and_sso_working(server):
    """``CookiesPathTest.testOldCookieWithWrongPath`` and ``testMultipleCookies``: a browser
    holding an ``AUTH_SESSION_ID`` of another path logs in, and ends with the cookies of its
    session. santeid reads, of the cookies of one name, the first it signed: a browser that
    also holds, on the realm's path, cookies named as santeid's that are not santeid's logs in
    and is then answered by its SSO session — it was told its login was "opened in another
    browser" (the foreign ``santeid_auth_session`` read in place of its own)."""
    browser = Browser(server)
    for name in (AUTH_SESSION, SESSION, IDENTITY):
        browser.cookies.set_cookie(_foreign(name, "not-santeid-s"))
    first = _log_in(browser, server)
    again = _authorize(browser, server)
    assert again.status_code == 302, again.text[:500]
    assert again.headers["Location"].startswith(CALLBACK), again.headers["Location"]
    assert parse_qs(urlsplit(again.headers["Location"]).query)["session_state"] == [
        first["session_state"]
    ]

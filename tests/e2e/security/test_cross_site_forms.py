"""A relying party's form POSTs from another site, in a real headless Chromium against a real
``santeid serve``. RP-Initiated Logout 1.0 §2 and OIDC Core §3.1.2.1 let the relying party
send the logout and the authorization request by POST; the browser then sends santeid only the
cookies a cross-site POST may carry. Over HTTPS the SSO session's cookies are
``SameSite=None; Secure``, as Keycloak's ``KEYCLOAK_IDENTITY`` and ``AUTH_SESSION_ID``
(``CookieScope.FEDERATION``, docs/reference/keycloak-behaviour.md, "Cookies"), so that:

* a logout POST without ``id_token_hint`` shows the confirmation (Keycloak's rule) and,
  confirmed, ends the browser's very session: the relying party's refresh token gets
  ``invalid_grant`` "Session not active" and its back-channel receiver the logout token; with
  the hint the session ends at once;
* an authorization POST gets a code of the session, ``prompt=none`` too;
* nothing weakens CSRF: a cross-site POST to santeid's own forms without their token (the login
  page, the logout confirmation, the admin console) changes nothing, and the admin console's
  cookie (``SameSite=Lax``) is neither sent cross-site nor replaced.

With ``make run``'s plain-HTTP localhost issuer the cookies cannot be ``Secure``, hence not
``SameSite=None``: they are ``Lax`` (Keycloak's choice in a non-secure context). Chromium logs in
and keeps the SSO session; a cross-site POST to the logout or authorization endpoint carries no
cookie, and is sent back by GET (which carries them): it then sees the session as over HTTPS,
writes the browser no new id — a login open in another tab goes through —, and a confirmed
logout ends the real session.
docs/security.md, "Browser"; docs/psc-integration.md §5.3."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import urlencode

import pytest
import requests

from santeid.ecps.pin import PinHasher
from tests.support.browser import desktop_browser
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.logout_receiver import LogoutReceiver
from tests.support.relying_party_site import RelyingPartySite
from tests.support.security import first_professional
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "rp-cross-site"
SECRET = "a-long-secret-for-the-cross-site-tests-0123456789"
ADMIN_PASSWORD = "the-admin-password-of-the-cross-site-tests"
IDENTITY = "santeid_identity"
AUTH_SESSION = "santeid_auth_session"
SESSION = "santeid_session"


class PostingSite(RelyingPartySite):
    """``/post`` is a page whose form posts its query's parameters to ``action`` as soon as it
    loads."""

    def page(self, path: str, query: dict[str, str]) -> str | None:
        if path != "/post":
            return None
        query = dict(query)
        action = query.pop("action")
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        return (
            f'<!doctype html><form method="post" action="{html.escape(action)}">'
            f"{fields}</form><script>document.forms[0].submit()</script>"
        )


@pytest.fixture(scope="module")
def rp():
    with PostingSite() as site:
        yield site


@pytest.fixture(scope="module")
def receiver():
    with LogoutReceiver() as logout_receiver:
        yield logout_receiver


def _client(rp: RelyingPartySite, receiver: LogoutReceiver) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_name": "Service d'un autre site",
        "client_secret": SECRET,
        "redirect_uris": [rp.callback],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "backchannel_logout_uri": receiver.url,
    }


def _serve(home, rp, receiver, *, tls: bool):
    args, ca = santeid_home(home).dev_tls() if tls else ((), None)
    return santeid_process(
        home,
        args=args,
        ca=ca,
        clients=[_client(rp, receiver)],
        SANTEID_STORE_URL="memory://",
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
    )


@pytest.fixture(scope="module")
def https_server(tmp_path_factory, rp, receiver):
    """santeid over HTTPS (its issuer ``https://127.0.0.1:<port>/…``), a secure context."""
    with _serve(tmp_path_factory.mktemp("cross-site-https"), rp, receiver, tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def http_server(tmp_path_factory, rp, receiver):
    """santeid as ``make run`` serves it: a plain-HTTP localhost issuer."""
    with _serve(tmp_path_factory.mktemp("cross-site-http"), rp, receiver, tls=False) as server:
        yield server


@pytest.fixture(scope="module")
def chromium(tmp_path_factory, https_server):
    driver = desktop_browser(
        tmp_path_factory.mktemp("cross-site-profile"), https_server.home / "tls/cert.pem"
    )
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, https_server, http_server):
    """The module's Chromium, without the previous test's cookies."""
    start_afresh(chromium, https_server.base)
    start_afresh(chromium, http_server.base)
    return chromium


# -- what the relying party does -------------------------------------------------------------
def _authorize_params(rp, state: str, **extra) -> dict[str, str]:
    return {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": rp.callback,
            "scope": "openid scope_all", "state": state, "nonce": f"n-{state}",
            **extra}  # fmt: skip


def _by_id(browser, element_id: str):
    return wait_for(lambda: browser.find_element("id", element_id), what=f"#{element_id}")


def _log_in(browser, server, rp, state: str) -> dict:
    """The professional logs in to the relying party (a top-level GET to the authorization
    endpoint, the login page): the tokens the relying party gets for the code."""
    browser.get(f"{server.oidc}/auth?{urlencode(_authorize_params(rp, state))}")
    _by_id(browser, "national_id").send_keys(first_professional(server))
    _by_id(browser, "submit").click()
    return _tokens(server, rp, rp.wait_callback(state)["code"])


def _tokens(server, rp, code: str) -> dict:
    answer = requests.post(f"{server.oidc}/token", auth=(CLIENT_ID, SECRET), timeout=10,
                           verify=server.ca or True,
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": rp.callback})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def _refresh(server, tokens: dict) -> requests.Response:
    return requests.post(f"{server.oidc}/token", auth=(CLIENT_ID, SECRET), timeout=10,
                         verify=server.ca or True,
                         data={"grant_type": "refresh_token",
                               "refresh_token": tokens["refresh_token"]})  # fmt: skip


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _post_from_rp(browser, rp, action: str, **params: str) -> None:
    """The relying party's page posts ``params`` to ``action`` (a cross-site form POST)."""
    browser.get(f"{rp.origin}/post?{urlencode({'action': action, **params})}")
    wait_for(lambda: not browser.current_url.startswith(f"{rp.origin}/post"),
             what="the form posted")  # fmt: skip


def _silent(browser, server, rp, state: str) -> dict[str, str]:
    """``prompt=none`` by a top-level GET (which ``SameSite=Lax`` cookies follow too)."""
    params = _authorize_params(rp, state, prompt="none")
    browser.get(f"{server.oidc}/auth?{urlencode(params)}")
    return rp.wait_callback(state)


def _cookies(browser) -> dict[str, dict]:
    """Every cookie of the browser by name, with its attributes (Chrome DevTools Protocol
    ``Network.getAllCookies``)."""
    return {c["name"]: c for c in browser.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}


def _cookie_payload(cookie: dict) -> dict:
    """The JSON object a cookie of :class:`santeid.security.CrossSiteCookie` holds (itsdangerous:
    its base64url payload, then the signature)."""
    payload = cookie["value"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _assert_ended(server, rp, receiver, browser, tokens: dict, delivered_before: int) -> None:
    """The session of ``tokens`` is over, everywhere the relying party and the browser look."""
    refused = _refresh(server, tokens)
    assert refused.status_code == 400, refused.text
    assert refused.json() == {"error": "invalid_grant", "error_description": "Session not active"}
    sid = _claims(tokens["id_token"])["sid"]
    deliveries = receiver.wait_for(delivered_before + 1)[delivered_before:]
    assert [_claims(d["form"]["logout_token"])["sid"] for d in deliveries] == [sid]
    assert IDENTITY not in _cookies(browser)
    assert _silent(browser, server, rp, f"after-{sid}")["error"] == "login_required"


# -- over HTTPS: the session seen as Keycloak sees it ------------------------------------------
def test_the_cookies_over_https(browser, https_server, rp):
    """The SSO session's cookies may go with a cross-site request; the admin console's and
    the login pages' CSRF token's may not."""
    _log_in(browser, https_server, rp, "https-cookies")
    cookies = _cookies(browser)
    for name in (IDENTITY, AUTH_SESSION):
        assert cookies[name]["sameSite"] == "None", cookies[name]
        assert cookies[name]["secure"] and cookies[name]["httpOnly"], cookies[name]
    assert cookies[SESSION]["sameSite"] == "Lax", cookies[SESSION]
    assert cookies[SESSION]["secure"] and cookies[SESSION]["httpOnly"], cookies[SESSION]


def test_a_logout_post_with_a_return_uri_and_no_hint_asks_then_ends_the_session(
    browser, https_server, rp, receiver
):
    """Keycloak's answer to ``client_id`` and ``post_logout_redirect_uri`` without a hint, for
    a browser holding a session: the confirmation; confirmed, the session ends and the
    browser returns to the relying party with ``state``."""
    tokens = _log_in(browser, https_server, rp, "a-login")
    before = len(receiver.received)
    _post_from_rp(browser, rp, f"{https_server.oidc}/logout", client_id=CLIENT_ID,
                  post_logout_redirect_uri=rp.callback, state="a-bye")  # fmt: skip
    _by_id(browser, "confirm-logout").click()
    assert "code" not in rp.wait_callback("a-bye")
    _assert_ended(https_server, rp, receiver, browser, tokens, before)


def test_a_logout_post_with_the_id_token_hint_ends_the_session_at_once(
    browser, https_server, rp, receiver
):
    tokens = _log_in(browser, https_server, rp, "hint-login")
    before = len(receiver.received)
    _post_from_rp(browser, rp, f"{https_server.oidc}/logout", id_token_hint=tokens["id_token"],
                  post_logout_redirect_uri=rp.callback, state="hint-bye")  # fmt: skip
    rp.wait_callback("hint-bye")
    _assert_ended(https_server, rp, receiver, browser, tokens, before)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_logout_post_with_client_id_only_is_confirmed_and_ends_the_real_session(
    request, browser, rp, receiver, scheme
):
    """The confirmation page, then the closed-session page: and the session the browser held
    is the one over, not a fresh one the page would have put in its place. Over plain HTTP
    too: the page shown to the relying party's POST writes no cookie, and the confirmation (a
    same-site POST, which ``SameSite=Lax`` cookies follow) ends the real session."""
    server = request.getfixturevalue(f"{scheme}_server")
    tokens = _log_in(browser, server, rp, f"b-login-{scheme}")
    before = len(receiver.received)
    _post_from_rp(browser, rp, f"{server.oidc}/logout", client_id=CLIENT_ID)
    _by_id(browser, "confirm-logout").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="closed page")
    _assert_ended(server, rp, receiver, browser, tokens, before)


@pytest.mark.parametrize("prompt", ["none", None])
def test_an_authorization_post_gets_a_code_of_the_session(browser, https_server, rp, prompt):
    """OIDC Core §3.1.2.1's POST, ``prompt=none`` or not: a code at once, of the session the
    browser holds, whose cookie stays as it was."""
    tokens = _log_in(browser, https_server, rp, f"c-login-{prompt}")
    identity = _cookies(browser).get(IDENTITY)
    state = f"c-post-{prompt}"
    params = _authorize_params(rp, state, **({"prompt": prompt} if prompt else {}))
    _post_from_rp(browser, rp, f"{https_server.oidc}/auth", **params)
    answer = rp.wait_callback(state)
    assert "code" in answer, answer
    assert answer["session_state"] == _claims(tokens["id_token"])["sid"]
    assert identity is not None and _cookies(browser)[IDENTITY]["value"] == identity["value"]
    assert _refresh(https_server, tokens).status_code == 200


# -- CSRF: santeid's own forms, posted from another site without their token ---------------------
def test_a_cross_site_login_form_post_starts_nothing(browser, https_server, rp):
    """The login page's form, posted by another site with the identifier: refused, the
    transaction still waits for the professional, whose own login then goes through."""
    browser.get(f"{https_server.oidc}/auth?{urlencode(_authorize_params(rp, 'd-login'))}")
    _by_id(browser, "national_id")
    login_page = browser.current_url
    _post_from_rp(browser, rp, login_page, national_id=first_professional(https_server))
    _by_id(browser, "error-detail")
    browser.get(login_page)
    _by_id(browser, "national_id").send_keys(first_professional(https_server))
    _by_id(browser, "submit").click()
    assert "code" in rp.wait_callback("d-login")


@pytest.mark.parametrize("token", [None, "a-made-up-token"])
def test_a_cross_site_logout_confirmation_without_its_token_ends_nothing(
    browser, https_server, rp, token
):
    """The confirmation's form posted by another site: its cookie goes along
    (``SameSite=None``), its token cannot — refused, the session lives on."""
    tokens = _log_in(browser, https_server, rp, f"e-login-{token}")
    form = {"client_id": CLIENT_ID, **({"csrf_token": token} if token else {})}
    _post_from_rp(browser, rp, f"{https_server.oidc}/logout/logout-confirm", **form)
    _by_id(browser, "error-detail")
    assert _refresh(https_server, tokens).status_code == 200
    assert "code" in _silent(browser, https_server, rp, f"e-still-{token}")


def test_a_cross_site_admin_form_post_changes_nothing(browser, https_server, rp):
    """Signed in to the console, the admin visits another site whose page posts the console's
    client form: no client registered, and the admin is still signed in (the console's
    cookie was neither sent nor replaced)."""
    browser.get(f"{https_server.base}/admin/login")
    _by_id(browser, "user").send_keys("admin")
    _by_id(browser, "password").send_keys(ADMIN_PASSWORD)
    _by_id(browser, "sign-in").click()
    wait_for(lambda: "/admin/login" not in browser.current_url, what="signed in")
    assert _cookies(browser)[SESSION]["sameSite"] == "Lax"
    forged = "rp-forged-cross-site"
    _post_from_rp(browser, rp, f"{https_server.base}/admin/clients", client_id=forged,
                  client_name=forged, redirect_uri="https://forged.example.org/cb")  # fmt: skip
    assert forged not in https_server.cli("clients", "list").stdout
    browser.get(f"{https_server.base}/admin/clients")
    _by_id(browser, "clients")
    assert "/admin/login" not in browser.current_url


# -- make run's plain-HTTP localhost issuer --------------------------------------------------------
def test_the_cookies_over_plain_http_are_lax_and_logins_work(browser, http_server, rp):
    _log_in(browser, http_server, rp, "http-login")
    cookies = _cookies(browser)
    for name in (IDENTITY, AUTH_SESSION, SESSION):
        assert cookies[name]["sameSite"] == "Lax", cookies[name]
        assert not cookies[name]["secure"] and cookies[name]["httpOnly"], cookies[name]
    assert "code" in _silent(browser, http_server, rp, "http-sso")


def test_over_plain_http_a_cross_site_logout_post_leaves_the_session_as_it_was(
    browser, http_server, rp
):
    """The browser does not send the ``Lax`` cookies with the relying party's POST: santeid
    sends it back to the same endpoint by GET (303), which a top-level navigation makes with
    them. santeid then sees the session, as over HTTPS, and asks; not confirmed, the session
    and the browser's cookies stay as they were."""
    tokens = _log_in(browser, http_server, rp, "http-a-login")
    before = _cookies(browser)
    _post_from_rp(browser, rp, f"{http_server.oidc}/logout", client_id=CLIENT_ID,
                  post_logout_redirect_uri=rp.callback, state="http-a-bye")  # fmt: skip
    _by_id(browser, "confirm-logout")
    assert _refresh(http_server, tokens).status_code == 200
    after = _cookies(browser)
    assert {n: c["value"] for n, c in after.items() if n != AUTH_SESSION} == {
        n: c["value"] for n, c in before.items() if n != AUTH_SESSION
    }
    # The confirmation's CSRF token joins the browser's id, which stays the same.
    assert (
        _cookie_payload(after[AUTH_SESSION])["bid"] == _cookie_payload(before[AUTH_SESSION])["bid"]
    )
    silent = _silent(browser, http_server, rp, "http-a-still")
    assert silent.get("session_state") == _claims(tokens["id_token"])["sid"], silent


def _in_another_tab(browser, act) -> None:
    """``act(browser)`` in a new tab of the same browser, then back to the first tab."""
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        act(browser)
    finally:
        browser.close()
        browser.switch_to.window(first)


def _finish_login(browser, server, rp, state: str) -> None:
    """The login page open in this tab, completed: a code for ``state``."""
    _by_id(browser, "national_id").send_keys(first_professional(server))
    _by_id(browser, "submit").click()
    assert "code" in rp.wait_callback(state)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_login_open_in_a_tab_survives_a_cross_site_logout_post_in_another(
    request, browser, rp, scheme
):
    """The relying party's logout POST brings up the confirmation page in another tab: the
    browser keeps its id, and the login already open goes through (over plain HTTP the POST
    carries no ``Lax`` cookie, and the answer to it must not put a new one in its place)."""
    server = request.getfixturevalue(f"{scheme}_server")
    state = f"g-login-{scheme}"
    browser.get(f"{server.oidc}/auth?{urlencode(_authorize_params(rp, state))}")
    _by_id(browser, "national_id")

    def logout_post(tab):
        _post_from_rp(tab, rp, f"{server.oidc}/logout", client_id=CLIENT_ID)
        _by_id(tab, "confirm-logout")

    _in_another_tab(browser, logout_post)
    _finish_login(browser, server, rp, state)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_login_open_in_a_tab_survives_a_cross_site_authorization_post_in_another(
    request, browser, rp, scheme
):
    """Two logins of the same browser: the one open in a tab, and one the relying party's
    authorization POST starts in another. Both go through: once the other tab has logged in,
    the page left open reloads by itself and the SSO session answers its own request, with
    its own ``state`` (Keycloak's ``authChecker.js``, docs/reference/keycloak-behaviour.md,
    "Login pages: two tabs, browser buttons, KC_RESTART") — which it could not if the
    cross-site POST had unbound the first login from this browser."""
    server = request.getfixturevalue(f"{scheme}_server")
    first, second = f"h-first-{scheme}", f"h-second-{scheme}"
    browser.get(f"{server.oidc}/auth?{urlencode(_authorize_params(rp, first))}")
    _by_id(browser, "national_id")

    def authorization_post(tab):
        _post_from_rp(tab, rp, f"{server.oidc}/auth", **_authorize_params(rp, second))
        _finish_login(tab, server, rp, second)

    _in_another_tab(browser, authorization_post)
    answered = rp.wait_callback(first)
    assert "code" in answered and "error" not in answered, answered


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_authorization_post_from_a_browser_without_a_session_logs_in(
    request, browser, rp, scheme
):
    """The relying party's authorization POST, from a browser santeid has never seen: the
    login page, and a code once the professional has logged in."""
    server = request.getfixturevalue(f"{scheme}_server")
    _post_from_rp(browser, rp, f"{server.oidc}/auth", **_authorize_params(rp, f"i-{scheme}"))
    _finish_login(browser, server, rp, f"i-{scheme}")

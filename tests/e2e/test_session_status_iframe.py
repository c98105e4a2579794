"""OpenID Connect Session Management 1.0 §3.2 in a real headless Chromium against a real
``santeid serve`` over HTTPS: a relying party's page on another site (``http://localhost:<port>``,
santeid being on ``127.0.0.1``) embeds the ``check_session_iframe`` discovery advertises and
posts it ``client_id + " " + session_state``, as keycloak-js's ``checkLoginIframe`` and
oidc-client-ts's ``monitorSession`` do. The answers are Keycloak's
(docs/reference/keycloak-behaviour.md, "Session status iframe"): ``unchanged`` while the
browser is in that session, ``changed`` once it logged out in another tab, ``error`` for a
client that does not exist or whose web origins do not include the page's. keycloak-js's
third-party-cookie check says ``supported``. A page of an origin no client registered may frame
the iframe, which answers it ``error``."""

from __future__ import annotations

import html
import json
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import desktop_browser
from tests.support.browser import identify
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.redis_server import free_port
from tests.support.relying_party_site import RelyingPartySite
from tests.support.security import first_professional
from tests.support.security import running_nginx
from tests.support.security import self_signed_certificate
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "rp-session-check"
OTHER_CLIENT_ID = "rp-elsewhere"
SECRET = "a-long-secret-for-the-session-iframe-tests-0123456789"


class FramingSite(RelyingPartySite):
    """``/check?frame=<url>&op=<origin>`` is a page that frames ``frame`` (``#op``) and keeps
    every message of origin ``op`` in ``window.answers``; ``window.send(text)`` posts ``text``
    to the frame."""

    def page(self, path: str, query: dict[str, str]) -> str | None:
        if path != "/check":
            return None
        op = json.dumps(query["op"])
        return (
            "<!doctype html><script>window.answers = []; window.loaded = false;"
            "window.addEventListener('message', function (event) {"
            f"  if (event.origin === {op}) {{ window.answers.push(event.data); }}"
            "});"
            "window.send = function (text) {"
            f"  document.getElementById('op').contentWindow.postMessage(text, {op});"
            "};</script>"
            f'<iframe id="op" src="{html.escape(query["frame"])}"'
            ' onload="window.loaded = true"></iframe>'
        )


@pytest.fixture(scope="module")
def rp():
    with FramingSite() as site:
        yield site


@pytest.fixture(scope="module")
def other_rp():
    """Another relying party's site, registered for :data:`OTHER_CLIENT_ID` only."""
    with FramingSite() as site:
        yield site


@pytest.fixture(scope="module")
def stranger():
    """A site no client registered."""
    with FramingSite() as site:
        yield site


def _clients(rp, other_rp) -> list[dict]:
    return [
        {"client_id": CLIENT_ID, "client_name": "Service qui suit la session",
         "client_secret": SECRET, "redirect_uris": [rp.callback], "web_origins": ["+"],
         "grant_types": ["authorization_code", "refresh_token"],
         "token_endpoint_auth_method": "client_secret_basic"},
        {"client_id": OTHER_CLIENT_ID, "client_name": "Un autre service",
         "client_secret": SECRET, "redirect_uris": [other_rp.callback], "web_origins": ["+"],
         "grant_types": ["authorization_code"],
         "token_endpoint_auth_method": "client_secret_basic"},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory, rp, other_rp):
    """santeid over HTTPS (``https://127.0.0.1:<port>/…``), as in production."""
    home = tmp_path_factory.mktemp("session-iframe")
    args, ca = santeid_home(home).dev_tls()
    with santeid_process(home, args=args, ca=ca, clients=_clients(rp, other_rp),
                         SANTEID_STORE_URL="memory://") as process:  # fmt: skip
        yield process


def _chromium(tmp_path_factory, server, *, third_party_cookies: bool):
    return desktop_browser(
        tmp_path_factory.mktemp("session-iframe-profile"),
        server.home / "tls/cert.pem",
        third_party_cookies=third_party_cookies,
    )


@pytest.fixture(scope="module")
def chromium(tmp_path_factory, server):
    """A Chromium that keeps third-party cookies, as Chrome does by default."""
    driver = _chromium(tmp_path_factory, server, third_party_cookies=True)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, server):
    start_afresh(chromium, server.base)
    return chromium


def _discovery(server) -> dict:
    url = f"{server.issuer}/.well-known/openid-configuration"
    return requests.get(url, verify=server.ca, timeout=10).json()


def _log_in(browser, server, rp, national_id: str | None = None) -> str:
    """``national_id`` (the first sandbox professional by default) logs in to the relying party,
    asked to log in even with a session (``prompt=login``): the ``session_state`` it gets."""
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": rp.callback,
              "scope": "openid scope_all", "state": "session-check", "prompt": "login"}  # fmt: skip
    before = len(rp.callbacks)
    browser.get(f"{server.oidc}/auth?{urlencode(params)}")
    identify(browser, national_id or first_professional(server))
    answer = wait_for(lambda: rp.callbacks[before:], what="the redirect back")[0]
    assert "code" in answer, answer
    return answer["session_state"]


def _log_in_for_tokens(browser, server, rp) -> dict:
    """:func:`_log_in`, then the code exchanged: the relying party's tokens."""
    _log_in(browser, server, rp)
    answer = requests.post(f"{server.oidc}/token", auth=(CLIENT_ID, SECRET), timeout=10,
                           verify=server.ca,
                           data={"grant_type": "authorization_code",
                                 "code": rp.callbacks[-1]["code"],
                                 "redirect_uri": rp.callback})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def _check_page(browser, site: RelyingPartySite, frame: str, server) -> None:
    """``site``'s page framing ``frame``, loaded."""
    op = f"{urlsplit(server.base).scheme}://{urlsplit(server.base).netloc}"
    browser.get(f"{site.origin}/check?{urlencode({'frame': frame, 'op': op})}")
    wait_for(lambda: browser.execute_script("return window.loaded"), what="the iframe loaded")


def _ask(browser, message: str) -> str:
    """What the iframe answers ``message``."""
    count = browser.execute_script("return window.answers.length")
    browser.execute_script("window.send(arguments[0])", message)
    answers = wait_for(
        lambda: browser.execute_script("return window.answers")[count:], what="the answer"
    )
    return answers[0]


def test_unchanged_while_logged_in_changed_after_a_logout_in_another_tab(browser, server, rp):
    iframe = _discovery(server)["check_session_iframe"]
    assert iframe == f"{server.oidc}/login-status-iframe.html"
    session_state = _log_in(browser, server, rp)
    _check_page(browser, rp, iframe, server)
    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "unchanged"
    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "unchanged"
    assert _ask(browser, f"{CLIENT_ID} another-session") == "changed"
    check_tab = browser.current_window_handle

    browser.switch_to.new_window("tab")
    browser.get(f"{server.oidc}/logout?{urlencode({'client_id': CLIENT_ID})}")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="closed page")
    browser.close()
    browser.switch_to.window(check_tab)

    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "changed"
    # Session Management §3.2: a relying party without a session sends an empty one.
    assert _ask(browser, f"{CLIENT_ID} ") == "unchanged"


def test_a_login_of_another_professional_is_a_change(browser, server, rp):
    """The same professional logging in again keeps the session (Keycloak keeps the user
    session): unchanged. Another one taking over the browser: changed, for the old
    ``session_state``; unchanged for the new one."""
    first = _log_in(browser, server, rp)
    assert _log_in(browser, server, rp) == first
    iframe = f"{server.oidc}/login-status-iframe.html"
    _check_page(browser, rp, iframe, server)
    assert _ask(browser, f"{CLIENT_ID} {first}") == "unchanged"
    listing = server.cli("directory", "list", "--sandbox", "--json").stdout
    second = _log_in(browser, server, rp, json.loads(listing)[1]["national_id"])
    assert second != first
    _check_page(browser, rp, iframe, server)
    assert _ask(browser, f"{CLIENT_ID} {first}") == "changed"
    assert _ask(browser, f"{CLIENT_ID} {second}") == "unchanged"


def test_a_session_ended_by_the_relying_party_is_a_change_once_the_browser_comes_back(
    browser, server, rp
):
    """A refresh-token logout (a back end's ``POST …/logout``) ends the session without the
    browser: the cookie stays and the iframe says ``unchanged``, as Keycloak's. The browser's
    next visit to the authorization endpoint (``prompt=none``: ``login_required``) forgets the
    session, as Keycloak's ``authenticateIdentityCookie``: ``changed`` from then on."""
    tokens = _log_in_for_tokens(browser, server, rp)
    session_state = rp.callbacks[-1]["session_state"]
    ended = requests.post(
        f"{server.oidc}/logout",
        auth=(CLIENT_ID, SECRET),
        data={"refresh_token": tokens["refresh_token"]},
        verify=server.ca,
        timeout=10,
    )
    assert ended.status_code == 204, ended.text
    iframe = f"{server.oidc}/login-status-iframe.html"
    _check_page(browser, rp, iframe, server)
    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "unchanged"
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": rp.callback,
              "scope": "openid", "state": "silent", "prompt": "none"}  # fmt: skip
    browser.get(f"{server.oidc}/auth?{urlencode(params)}")
    assert wait_for(lambda: rp.callbacks[-1].get("error"), what="the silent answer") == (
        "login_required"
    )
    _check_page(browser, rp, iframe, server)
    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "changed"


@pytest.mark.parametrize("who", ["unknown client", "origin of another client"])
def test_error_for_a_client_or_an_origin_not_allowed(browser, server, rp, other_rp, who):
    session_state = _log_in(browser, server, rp)
    iframe = f"{server.oidc}/login-status-iframe.html"
    if who == "unknown client":
        _check_page(browser, rp, iframe, server)
        assert _ask(browser, f"no-such-client {session_state}") == "error"
    else:
        # other_rp's origin may frame the page (its client registered it), not check this one.
        _check_page(browser, other_rp, iframe, server)
        assert _ask(browser, f"{CLIENT_ID} {session_state}") == "error"
    # Refused once, the iframe does not ask the server again: even the right client gets error.
    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "error"


def test_a_site_no_client_registered_frames_it_and_gets_error(browser, server, rp, stranger):
    """Any site may frame the iframe, as Keycloak's; ``/init`` refuses its origin."""
    session_state = _log_in(browser, server, rp)
    _check_page(browser, stranger, f"{server.oidc}/login-status-iframe.html", server)
    assert _ask(browser, f"{CLIENT_ID} {session_state}") == "error"


def test_keycloak_js_third_party_cookie_check_says_supported(browser, server, rp):
    _check_page(browser, rp, f"{server.oidc}/3p-cookies/step1.html", server)
    assert wait_for(lambda: browser.execute_script("return window.answers"),
                    what="the check's answer") == ["supported"]  # fmt: skip
    # It leaves no cookie behind.
    names = {c["name"] for c in browser.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}
    assert not {n for n in names if n.startswith("santeid_3p_cookie")}, names


def test_a_browser_that_blocks_third_party_cookies(tmp_path_factory, server, rp):
    """Without access to its cookies inside the relying party's page, the check says
    ``unsupported`` (keycloak-js then turns its iframe off) and the iframe ``error``: it
    cannot tell, and never says ``changed`` for a session that goes on."""
    browser = _chromium(tmp_path_factory, server, third_party_cookies=False)
    try:
        session_state = _log_in(browser, server, rp)
        _check_page(browser, rp, f"{server.oidc}/3p-cookies/step1.html", server)
        assert wait_for(lambda: browser.execute_script("return window.answers"),
                        what="the check's answer") == ["unsupported"]  # fmt: skip
        _check_page(browser, rp, f"{server.oidc}/login-status-iframe.html", server)
        assert _ask(browser, f"{CLIENT_ID} {session_state}") == "error"
    finally:
        browser.quit()


@pytest.mark.parametrize(("cookie_secure", "answer"), [("auto", "changed"), ("true", "unchanged")])
def test_a_plain_http_localhost_issuer_and_a_relying_party_on_another_site(
    tmp_path_factory, chromium, rp, other_rp, cookie_secure, answer
):
    """``make run``'s ``http://127.0.0.1`` issuer: its cookies are ``Lax``, which a page framed
    by another site (``localhost``) does not see — the iframe says ``changed`` while the session
    lasts (docs/psc-integration.md §5.3); ``cookie_secure = true`` gives Keycloak's
    ``Secure; SameSite=None`` cookies, which Chromium keeps on a loopback host."""
    home = tmp_path_factory.mktemp(f"session-iframe-http-{cookie_secure}")
    with santeid_process(home, clients=_clients(rp, other_rp), SANTEID_STORE_URL="memory://",
                         SANTEID_COOKIE_SECURE=cookie_secure) as http_server:  # fmt: skip
        start_afresh(chromium, http_server.base)
        session_state = _log_in(chromium, http_server, rp)
        _check_page(chromium, rp, f"{http_server.oidc}/login-status-iframe.html", http_server)
        assert _ask(chromium, f"{CLIENT_ID} {session_state}") == answer


def test_a_page_of_another_origin_learns_nothing_through_a_relying_partys_iframe(
    browser, server, rp, stranger
):
    """A site no client registered opens the relying party's page in a window, whose iframe
    ``/init`` accepted for the relying party, and posts to that iframe (``frames[0]``: a window
    of another origin lets anyone post to its frames). Session Management §3.2: the OP iframe
    "MUST reject postMessage requests from any other source origin" — ``error`` whether the
    browser is logged in or not, never an answer telling the two apart."""
    op = f"{urlsplit(server.base).scheme}://{urlsplit(server.base).netloc}"
    frame = f"{server.oidc}/login-status-iframe.html"
    check = f"{rp.origin}/check?{urlencode({'frame': frame, 'op': op})}"

    def stranger_asks() -> str:
        browser.get(f"{stranger.origin}/")
        browser.execute_script(
            "var op = arguments[0]; window.answers = [];"
            "window.addEventListener('message', function (event) {"
            "  if (event.origin === op) { window.answers.push(event.data); }"
            "});"
            "window.relyingParty = window.open(arguments[1], 'relying-party');",
            op,
            check,
        )
        own = browser.current_window_handle
        browser.switch_to.window("relying-party")
        wait_for(lambda: browser.execute_script("return window.loaded"), what="the iframe")
        # The relying party's own first message: its client and origin accepted.
        assert _ask(browser, f"{CLIENT_ID} ") in ("unchanged", "changed")
        browser.switch_to.window(own)
        browser.execute_script(
            "window.relyingParty.frames[0].postMessage(arguments[0], '*')", f"{CLIENT_ID} "
        )
        answer = wait_for(lambda: browser.execute_script("return window.answers"), what="answer")
        browser.switch_to.window("relying-party")
        browser.close()
        browser.switch_to.window(own)
        return answer[0]

    assert stranger_asks() == "error"  # logged out
    _log_in(browser, server, rp)
    assert stranger_asks() == "error"  # logged in


def test_the_pages_are_served_behind_nginx_whatever_the_number_of_relying_parties(tmp_path):
    """keycloak-js loads the iframe at each page of every relying party. Behind the nginx of
    docs/configuration.md ("Behind a reverse proxy"), whose header buffer is one memory page,
    the pages must not carry a header that grows with the registered clients (a
    ``frame-ancestors`` naming each one's web origins was a 502 from about a hundred on), nor
    tell any visitor which services use santeid."""
    clients = [
        {"client_id": f"service-{n:03d}", "client_secret": SECRET, "web_origins": ["+"],
         "redirect_uris": [f"https://service-{n:03d}.hopital-exemple.fr/callback"],
         "grant_types": ["authorization_code"],
         "token_endpoint_auth_method": "client_secret_basic"}
        for n in range(200)
    ]  # fmt: skip
    port = free_port()
    cert, key = self_signed_certificate(tmp_path)
    with (
        santeid_process(
            tmp_path,
            args=(),
            clients=clients,
            SANTEID_STORE_URL="memory://",
            SANTEID_TRUSTED_PROXIES="127.0.0.1",
        ) as server,  # fmt: skip
        running_nginx(tmp_path, port, server.port, cert, key),
    ):
        prefix = urlsplit(server.oidc).path
        for page in ("login-status-iframe.html", "3p-cookies/step1.html"):
            answer = requests.get(f"https://127.0.0.1:{port}{prefix}/{page}", verify=str(cert),
                                  timeout=10)  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert "hopital-exemple" not in answer.headers["Content-Security-Policy"]

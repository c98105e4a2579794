"""The professional's login pages in a real headless Chromium against a real ``santeid serve``
(sandbox mode, on a real Redis store): what a person at a desktop browser meets when the login
does not go straight through — a login page left open past ``login_transaction_lifetime``, the
page of a login that ended, an e-CPS push that failed (a device registered over the device
protocol, docs/ecps-device-protocol.md).

Keycloak starts an expired login again from its ``KC_RESTART`` cookie: the login form comes
back with "loginTimeout", and the login goes on to the client as if nothing had happened
(docs/reference/keycloak-behaviour.md, "Login pages"). The transaction's expiry is the store's:
its key is gone, as Redis removes it at the end of its lifetime."""

from __future__ import annotations

import json

import pyotp
import pytest

from tests.support.answering_server import FakeServer
from tests.support.browser import click_and_wait
from tests.support.browser import start_browser
from tests.support.browser import wait_for
from tests.support.ecps_phone import Phone
from tests.support.login_pages import callback
from tests.support.login_pages import expire
from tests.support.login_pages import open_login_page
from tests.support.login_pages import transaction_id
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.browser]

CLIENT_ID = "service-de-test"
#: A sandbox professional approved at once (docs/sandbox.md, "Scenarios by identity").
APPROVED_AT_ONCE = "810000000030"
#: A demo professional without a sandbox scenario: only an e-CPS device logs him in.
ECPS_ONLY = "810000000004"


@pytest.fixture
def relying_party():
    site = FakeServer()
    yield site
    site.close()


def _sent_to(relying_party) -> list[tuple[str, str]]:
    """What the browser was sent to at the service: its requests there, less the icon
    Chromium fetches on its own, at a time of its choosing, once a page of that origin is
    shown."""
    return [call for call in relying_party.calls if call[1] != "/favicon.ico"]


@pytest.fixture
def server(tmp_path, redis_url, relying_party):
    client = {
        "client_id": CLIENT_ID,
        "client_name": "Service de test",
        "client_secret": "a-long-secret-for-the-login-page-tests-0123456789",
        "redirect_uris": [f"{relying_party.origin}/callback"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with santeid_process(
        tmp_path,
        clients=[client],
        SANTEID_STORE_URL=redis_url,
        SANTEID_ADMIN_PROFESSIONALS=APPROVED_AT_ONCE,
    ) as process:
        yield process


@pytest.fixture
def browser(tmp_path):
    driver = start_browser(tmp_path / "profile", size=(1280, 900))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _open_login_page(browser, server, relying_party, state: str) -> str:
    return open_login_page(browser, server.oidc, CLIENT_ID, relying_party.origin, state)


def _callback(browser, relying_party) -> dict[str, str]:
    return callback(browser, relying_party.origin)


def test_a_login_page_submitted_after_its_lifetime_starts_the_login_again(
    browser, server, relying_party, redis_url
):
    txid = _open_login_page(browser, server, relying_party, "left-open")
    expire(redis_url, txid)

    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    click_and_wait(browser, browser.find_element("id", "submit"))
    # The same login, started again: the form, saying why it is back.
    notice = wait_for(lambda: browser.find_element("id", "login-restarted"), what="the notice")
    assert notice.get_attribute("role") == "alert"
    assert "délai de connexion est dépassé" in notice.text
    assert transaction_id(browser.current_url) != txid
    assert browser.title == "Connexion à Service de test"

    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    browser.find_element("id", "submit").click()
    answer = _callback(browser, relying_party)
    assert answer["state"] == "left-open" and answer["code"]


def test_cancel_on_an_expired_login_page_tells_the_service(
    browser, server, relying_party, redis_url
):
    txid = _open_login_page(browser, server, relying_party, "cancelled-late")
    expire(redis_url, txid)

    browser.find_element("id", "cancel").click()
    answer = _callback(browser, relying_party)
    assert answer["error"] == "access_denied"
    assert answer["state"] == "cancelled-late"


def test_a_finished_login_is_not_started_again(browser, server, relying_party):
    txid = _open_login_page(browser, server, relying_party, "finished")
    login_page = browser.current_url
    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    browser.find_element("id", "submit").click()
    assert _callback(browser, relying_party)["code"]

    # Back to the login page of the login that ended: no new login of the same request.
    browser.get(login_page)
    assert not browser.find_elements("id", "national_id")
    assert not browser.find_elements("id", "login-restarted")
    assert transaction_id(browser.current_url) == txid


def test_back_after_the_login_says_the_professional_is_logged_in(browser, server, relying_party):
    """Keycloak's info page "alreadyLoggedIn" for the page of a login that ended, when the
    browser has a user session (docs/reference/keycloak-behaviour.md, "Login pages")."""
    _open_login_page(browser, server, relying_party, "went-back")
    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    browser.find_element("id", "submit").click()
    assert _callback(browser, relying_party)["code"]

    browser.back()
    status = wait_for(lambda: browser.find_element("id", "already-logged-in"), what="the page")
    assert status.text.startswith("Vous êtes déjà connecté.")
    assert browser.title == "Déjà connecté"
    assert "expirée" not in browser.find_element("tag name", "main").text


def test_after_a_failed_push_the_page_offers_the_offline_code(browser, server, relying_party):
    """The phone's request failed (here refused; an expired one — no network on the phone —
    alike): the offline code, which may still end the login, is offered next to "Réessayer",
    and ends it."""
    activation = json.loads(server.cli("ecps", "activate", ECPS_ONLY, "--json").stdout)
    phone = Phone.register_over_http(server.base, activation["code"])
    _open_login_page(browser, server, relying_party, "offline")
    browser.find_element("id", "national_id").send_keys(ECPS_ONLY)
    click_and_wait(browser, browser.find_element("id", "submit"))
    wait_for(lambda: browser.find_element("id", "otp-link"), what="the waiting page")
    [request] = phone.pending().json()["requests"]
    assert phone.decide(request["request_id"], "deny").status_code == 200

    wait_for(lambda: browser.find_element("id", "retry"), what="the failed page")
    click_and_wait(browser, browser.find_element("id", "otp-link"))
    totp = pyotp.TOTP(phone.registered["totp_secret"]).now()
    field = wait_for(lambda: browser.find_element("id", "otp"), what="the offline code page")
    field.send_keys(totp)
    browser.find_element("id", "submit-otp").click()
    answer = _callback(browser, relying_party)
    assert answer["state"] == "offline" and answer["code"]


@pytest.mark.parametrize("expired", [True, False], ids=["expired", "in-time"])
@pytest.mark.parametrize("action", ["submit", "cancel"])
def test_a_login_of_a_client_removed_since_is_not_started_again(
    browser, server, relying_party, redis_url, action, expired
):
    """Keycloak starts an expired login again only for a client that still exists
    (``restartAuthenticationSessionFromCookie``), and finds no login of a removed client
    (docs/reference/keycloak-behaviour.md, "Login pages"): a login page left open while the
    service was removed, expired or not, neither starts a new login for it nor sends the
    browser to its redirect URI, by submit or by cancel."""
    txid = _open_login_page(browser, server, relying_party, "removed-meanwhile")
    if expired:
        expire(redis_url, txid)
    server.cli("clients", "remove", CLIENT_ID)

    if action == "submit":
        browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
        click_and_wait(browser, browser.find_element("id", "submit"))
    else:
        click_and_wait(browser, browser.find_element("id", "cancel"))
    assert not browser.find_elements("id", "login-restarted")
    assert not browser.find_elements("id", "national_id")
    assert "expirée" in browser.find_element("tag name", "main").text
    assert not browser.current_url.startswith(relying_party.origin)
    assert _sent_to(relying_party) == []


def test_a_login_page_left_open_goes_on_to_the_service_once_another_tab_logged_in(
    browser, server, relying_party
):
    """Keycloak's ``MultipleTabsLoginTest.multipleTabsParallelLoginTest``: a login page left
    open in one tab while the professional logs in in another goes on to the service by
    itself, its own request answered by the SSO session the other tab opened — as Keycloak's
    login pages do (``authChecker.js`` reloads them once the session cookie appears,
    docs/reference/keycloak-behaviour.md, "Login pages: two tabs, browser buttons,
    KC_RESTART"). Nothing is done in that tab."""
    left_open_tab = browser.current_window_handle
    _open_login_page(browser, server, relying_party, "left-open")
    browser.switch_to.new_window("tab")
    _open_login_page(browser, server, relying_party, "other-tab")
    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    browser.find_element("id", "submit").click()
    other = _callback(browser, relying_party)
    assert other["state"] == "other-tab"

    browser.switch_to.window(left_open_tab)
    answer = _callback(browser, relying_party)
    assert answer["state"] == "left-open" and answer["code"]
    assert answer["session_state"] == other["session_state"]


def test_an_expired_login_page_starts_again_and_the_session_of_another_tab_answers_it(
    browser, server, relying_party, redis_url
):
    """The browser's latest login (``santeid_restart`` names it) past its lifetime while an
    earlier tab logged in: started again — Keycloak 25 restarts from ``KC_RESTART`` before it
    looks at the identity cookie (``SessionCodeChecks.initialVerifyAuthSession``) — and then
    answered by the SSO session: the service gets a code for that request, its ``state``."""
    other_tab = browser.current_window_handle
    _open_login_page(browser, server, relying_party, "other-tab")
    browser.switch_to.new_window("tab")
    left_open_tab = browser.current_window_handle
    left_open = _open_login_page(browser, server, relying_party, "left-open")
    expire(redis_url, left_open)
    browser.switch_to.window(other_tab)
    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    browser.find_element("id", "submit").click()
    assert _callback(browser, relying_party)["state"] == "other-tab"

    browser.switch_to.window(left_open_tab)
    answer = _callback(browser, relying_party)
    assert answer["state"] == "left-open" and answer["code"]
    assert not browser.find_elements("id", "already-logged-in")


def test_an_expired_console_sign_in_starts_again_in_a_browser_logged_in_to_a_service(
    browser, server, relying_party, redis_url
):
    """The admin console's sign-in goes through the login pages but is never answered by the
    SSO session (it opens none): its page used after its lifetime starts again, with the
    notice, in a browser logged in to a service too — "already logged in" would leave the
    console signed out."""
    _open_login_page(browser, server, relying_party, "service")
    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    browser.find_element("id", "submit").click()
    assert _callback(browser, relying_party)["code"]
    browser.get(f"{server.base}/admin/login")
    click_and_wait(browser, browser.find_element("id", "sign-in-professional"))
    wait_for(lambda: browser.find_element("id", "national_id"), what="the console's login page")
    expire(redis_url, transaction_id(browser.current_url))

    browser.find_element("id", "national_id").send_keys(APPROVED_AT_ONCE)
    click_and_wait(browser, browser.find_element("id", "submit"))
    wait_for(lambda: browser.find_element("id", "login-restarted"), what="the notice")
    assert not browser.find_elements("id", "already-logged-in")

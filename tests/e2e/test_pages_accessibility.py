"""Every page a person meets, in its states, checked by axe-core in headless Chromium
(``tests.support.browser.AXE_TAGS``: WCAG 2.0 and 2.1 at levels A and AA, which RGAA 4.1
follows, and axe's best practices): the professional's login pages (empty, in English, an
identifier refused (in French and English), restarted, waiting for the sandbox phone or an e-CPS
device, refused on the phone, the offline code and a wrong one, denied, expired, device locked,
card refused, "already logged in", a CSRF-refused form), the logout confirmation and the
logged-out page (with and without front-channel frames), error pages in French and English, a
page not found, the problem types, the e-CPS activation page, the e-CPS app's first screen, the
sandbox pages (home, the debugger from the request to the tokens and CIBA, the outbox, the API
docs' index) and the admin console (sign-in, refused, each page).

No violation of any impact. The e-CPS app's other screens are checked by
tests/e2e/ecps_app/test_browser.py, the activation codes and QR pages, the devices page and
its revoke confirmation by tests/e2e/ecps_app/test_pages_layout.py, with the same check."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
import redis
import requests
from selenium.webdriver.common.by import By

from tests.support.answering_server import FakeServer
from tests.support.browser import assert_accessible
from tests.support.browser import click_and_wait
from tests.support.browser import start_afresh
from tests.support.browser import start_browser
from tests.support.browser import wait_for
from tests.support.ecps_phone import Phone
from tests.support.login_pages import callback
from tests.support.login_pages import expire
from tests.support.login_pages import open_login_page
from tests.support.servers import SanteidProcess
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.browser]

CLIENT_ID = "service-de-test"
FRONT_CHANNEL_CLIENT_ID = "service-avec-deconnexion"
SECRET = "a-long-secret-for-the-accessibility-tests-0123456789"
#: Sandbox professionals (docs/sandbox.md, "Scenarios by identity").
APPROVED_AT_ONCE = "810000000030"
DENIES = "810000000032"
NEVER_ANSWERS = "810000000034"
DEVICE_LOCKED = "810000000036"
#: A demo professional without a sandbox scenario: only an e-CPS device logs him in.
ECPS_ONLY = "810000000004"
ADMIN, ADMIN_PASSWORD = "admin", "santeid-demo-admin"


class Site:
    def __init__(self, server: SanteidProcess, relying_party: FakeServer, store_url: str):
        self.server, self.relying_party, self.store_url = server, relying_party, store_url
        self.base = server.base


@pytest.fixture(scope="module")
def site(tmp_path_factory, redis_server):
    store_url = redis_server.url.rsplit("/", 1)[0] + "/15"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    relying_party = FakeServer()
    client = {
        "client_id": CLIENT_ID,
        "client_name": "Service de test",
        "client_secret": SECRET,
        "redirect_uris": [f"{relying_party.origin}/callback"],
        "post_logout_redirect_uris": [f"{relying_party.origin}/"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    # A service the logout tells in an iframe (OpenID Connect Front-Channel Logout 1.0 §3).
    front_channel = {
        **client,
        "client_id": FRONT_CHANNEL_CLIENT_ID,
        "frontchannel_logout_uri": f"{relying_party.origin}/front-channel-logout",
    }
    try:
        with santeid_process(
            tmp_path_factory.mktemp("a11y"),
            clients=[client, front_channel],
            SANTEID_STORE_URL=store_url,
            SANTEID_SANDBOX_APPROVAL_DELAY=None,
        ) as process:
            yield Site(process, relying_party, store_url)
    finally:
        relying_party.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("a11y-profile"), size=(1280, 900))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def css(driver, selector: str):
    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, selector), what=selector)


def login_page(driver, site: Site, state: str = "a11y", client_id: str = CLIENT_ID, **extra) -> str:
    return open_login_page(
        driver, site.server.oidc, client_id, site.relying_party.origin, state, **extra
    )


def submit_identifier(driver, national_id: str) -> None:
    css(driver, "#national_id").send_keys(national_id)
    click_and_wait(driver, css(driver, "#submit"))


def logged_in(driver, site: Site) -> None:
    login_page(driver, site)
    css(driver, "#national_id").send_keys(APPROVED_AT_ONCE)
    css(driver, "#submit").click()
    assert callback(driver, site.relying_party.origin)["code"]


def ecps_waiting(driver, site: Site) -> Phone:
    """A login pushed to the professional's e-CPS device, its waiting page open."""
    activation = json.loads(site.server.cli("ecps", "activate", ECPS_ONLY, "--json").stdout)
    phone = Phone.register_over_http(site.base, activation["code"])
    login_page(driver, site)
    submit_identifier(driver, ECPS_ONLY)
    css(driver, "#dynamic-code")
    return phone


# -- the pages, each reached as a person reaches it ------------------------------------------


def _login_empty(driver, site: Site) -> None:
    login_page(driver, site)


def _login_english(driver, site: Site) -> None:
    login_page(driver, site, ui_locales="en")


def _login_identifier_refused(driver, site: Site, **extra) -> None:
    login_page(driver, site, **extra)
    submit_identifier(driver, "123")
    css(driver, "#national_id_error")


def _login_identifier_refused_english(driver, site: Site) -> None:
    _login_identifier_refused(driver, site, ui_locales="en")


def _login_restarted(driver, site: Site) -> None:
    expire(site.store_url, login_page(driver, site))
    submit_identifier(driver, APPROVED_AT_ONCE)
    css(driver, "#login-restarted")


def _sandbox_waiting(driver, site: Site) -> None:
    login_page(driver, site)
    submit_identifier(driver, NEVER_ANSWERS)
    css(driver, "#dynamic-code")


def _ecps_waiting(driver, site: Site) -> None:
    ecps_waiting(driver, site)


def _ecps_refused(driver, site: Site) -> None:
    phone = ecps_waiting(driver, site)
    [request] = phone.pending().json()["requests"]
    assert phone.decide(request["request_id"], "deny").status_code == 200
    css(driver, "#retry")


def _offline_code(driver, site: Site) -> None:
    ecps_waiting(driver, site)
    click_and_wait(driver, css(driver, "#otp-link"))
    css(driver, "#otp")


def _expired(driver, site: Site) -> None:
    """The phone never answered: the request expires (the control API ends it now)."""
    _sandbox_waiting(driver, site)
    api = f"{site.base}/sandbox/api"
    # This page's request, and any left by an earlier page of the same professional.
    pending = requests.get(f"{api}/professionals/{NEVER_ANSWERS}/requests", timeout=5).json()
    assert pending["requests"]
    for request in pending["requests"]:
        assert requests.post(f"{api}/requests/{request['request_id']}/expire", timeout=5).ok
    css(driver, "#failure-message")


def _offline_code_refused(driver, site: Site) -> None:
    _offline_code(driver, site)
    css(driver, "#otp").send_keys("000000")
    click_and_wait(driver, css(driver, "#submit-otp"))
    css(driver, "#otp_error")


def _sandbox_denied(driver, site: Site) -> None:
    login_page(driver, site)
    submit_identifier(driver, DENIES)
    css(driver, "#failure-message")


def _device_locked(driver, site: Site) -> None:
    login_page(driver, site)
    submit_identifier(driver, DEVICE_LOCKED)
    css(driver, "#failure-message")


def _card_refused(driver, site: Site) -> None:
    """The card link's page reached without a card certificate on the connection."""
    transaction = login_page(driver, site)
    driver.get(f"{site.server.issuer}/login-actions/card?tx={transaction}")
    css(driver, "main h1")


def _already_logged_in(driver, site: Site) -> None:
    logged_in(driver, site)
    driver.back()
    css(driver, "#already-logged-in")


def _csrf_refused(driver, site: Site) -> None:
    login_page(driver, site)
    driver.execute_script(
        "document.querySelector('input[name=csrf_token]').value = 'not-the-token'"
    )
    submit_identifier(driver, APPROVED_AT_ONCE)
    css(driver, "#error-detail")


def _logout_confirmation(driver, site: Site) -> None:
    logged_in(driver, site)
    driver.get(f"{site.server.oidc}/logout")
    css(driver, "#confirm-logout")


def _logged_out(driver, site: Site) -> None:
    _logout_confirmation(driver, site)
    click_and_wait(driver, css(driver, "#confirm-logout"))


def _logged_out_front_channel(driver, site: Site) -> None:
    """The logged-out page that loads the front-channel logout page of a service holding a
    grant of the session (its code exchanged)."""
    login_page(driver, site, client_id=FRONT_CHANNEL_CLIENT_ID)
    css(driver, "#national_id").send_keys(APPROVED_AT_ONCE)
    css(driver, "#submit").click()
    code = callback(driver, site.relying_party.origin)["code"]
    redirect_uri = f"{site.relying_party.origin}/callback"
    exchange = requests.post(
        f"{site.server.oidc}/token",
        auth=(FRONT_CHANNEL_CLIENT_ID, SECRET),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        timeout=5,
    )
    assert exchange.status_code == 200, exchange.text
    driver.get(f"{site.server.oidc}/logout")
    click_and_wait(driver, css(driver, "#confirm-logout"))
    css(driver, "#frontchannel-logout")


def _error(locale: str) -> Callable[[object, Site], None]:
    def error_page(driver, site: Site) -> None:
        query = {"response_type": "code", "client_id": "nobody", "scope": "openid",
                 "redirect_uri": "https://nowhere.example/cb", "ui_locales": locale}  # fmt: skip
        driver.get(f"{site.server.oidc}/auth?{urlencode(query)}")
        css(driver, "#error-detail")

    return error_page


def _installed_app_code(driver, site: Site) -> None:
    """The page an installed application's code is shown on (``urn:ietf:wg:oauth:2.0:oob``)."""
    driver.get(f"{site.server.oidc}/oauth/oob?{urlencode({'code': 'a1b2c3', 'state': 's'})}")
    css(driver, "#code")


def _not_found(driver, site: Site) -> None:
    driver.get(f"{site.base}/no-such-page")


def _problems(driver, site: Site) -> None:
    driver.get(f"{site.base}/problems/")


def _activation(driver, site: Site) -> None:
    driver.get(f"{site.base}/ecps/activation")
    css(driver, "#national_id")


def _activation_refused(driver, site: Site) -> None:
    _activation(driver, site)
    submit_identifier(driver, "123")


def _ecps_app(driver, site: Site) -> None:
    driver.get(f"{site.base}/ecps/app/")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "main h1").text, what="the app")


def _home(driver, site: Site) -> None:
    driver.get(f"{site.base}/")
    css(driver, "#sandbox-links")


def _debugger(driver, site: Site) -> None:
    driver.get(f"{site.base}/sandbox/debugger")
    css(driver, "#build")


def _debugger_request(driver, site: Site) -> None:
    _debugger(driver, site)
    click_and_wait(driver, css(driver, "#build"))
    css(driver, "#run")


def _debugger_callback(driver, site: Site) -> None:
    _debugger_request(driver, site)
    css(driver, "#run").click()
    submit_identifier(driver, APPROVED_AT_ONCE)
    css(driver, "#exchange")


def _debugger_tokens(driver, site: Site) -> None:
    _debugger_callback(driver, site)
    click_and_wait(driver, css(driver, "#exchange"))
    css(driver, "#id-token .decoded-payload")


def _debugger_ciba(driver, site: Site) -> None:
    _debugger(driver, site)
    hint = css(driver, "#ciba-login-hint")
    hint.clear()
    hint.send_keys(NEVER_ANSWERS)
    css(driver, "#ciba-start").click()
    wait_for(lambda: css(driver, "#ciba-status").text == "authorization_pending")


def _outbox(driver, site: Site) -> None:
    driver.get(f"{site.base}/sandbox/outbox")


def _api_docs(driver, site: Site) -> None:
    driver.get(f"{site.base}/api-docs/")


def _admin_login(driver, site: Site) -> None:
    driver.get(f"{site.base}/admin/login")
    css(driver, "#user")


def _admin_login_refused(driver, site: Site) -> None:
    _admin_login(driver, site)
    css(driver, "#user").send_keys(ADMIN)
    css(driver, "#password").send_keys("wrong-password")
    click_and_wait(driver, css(driver, "#sign-in"))
    css(driver, "#error")


def _admin(path: str) -> Callable[[object, Site], None]:
    def admin_page(driver, site: Site) -> None:
        _admin_login(driver, site)
        css(driver, "#user").send_keys(ADMIN)
        css(driver, "#password").send_keys(ADMIN_PASSWORD)
        click_and_wait(driver, css(driver, "#sign-in"))
        driver.get(f"{site.base}/admin/{path}")
        css(driver, "main h1")

    return admin_page


PAGES: dict[str, Callable] = {
    "login": _login_empty,
    "login-en": _login_english,
    "login-identifier-refused": _login_identifier_refused,
    "login-identifier-refused-en": _login_identifier_refused_english,
    "login-restarted": _login_restarted,
    "wait-sandbox": _sandbox_waiting,
    "wait-ecps": _ecps_waiting,
    "refused-on-the-phone": _ecps_refused,
    "offline-code": _offline_code,
    "offline-code-refused": _offline_code_refused,
    "denied": _sandbox_denied,
    "expired": _expired,
    "device-locked": _device_locked,
    "card-refused": _card_refused,
    "already-logged-in": _already_logged_in,
    "csrf-refused": _csrf_refused,
    "logout-confirmation": _logout_confirmation,
    "logged-out": _logged_out,
    "logged-out-front-channel": _logged_out_front_channel,
    "error-fr": _error("fr"),
    "error-en": _error("en"),
    "installed-app-code": _installed_app_code,
    "not-found": _not_found,
    "problems": _problems,
    "ecps-activation": _activation,
    "ecps-activation-refused": _activation_refused,
    "ecps-app": _ecps_app,
    "home": _home,
    "debugger": _debugger,
    "debugger-request": _debugger_request,
    "debugger-callback": _debugger_callback,
    "debugger-tokens": _debugger_tokens,
    "debugger-ciba": _debugger_ciba,
    "outbox": _outbox,
    "api-docs": _api_docs,
    "admin-login": _admin_login,
    "admin-login-refused": _admin_login_refused,
    "admin-dashboard": _admin(""),
    "admin-dashboard-en": _admin("?lang=en"),
    "admin-clients": _admin("clients"),
    "admin-professionals": _admin(f"professionals?q={ECPS_ONLY}"),
    # A professional inactive in the directory: the page says so (810000000024, the demo's).
    "admin-professional-inactive": _admin("professionals?q=810000000024"),
    "admin-keys": _admin("keys"),
    "admin-events": _admin("events"),
    "admin-insi": _admin("insi"),
}


@pytest.mark.parametrize("name", PAGES)
def test_page_meets_wcag_21_aa(site, browser, name):
    start_afresh(browser, site.base)
    PAGES[name](browser, site)
    assert_accessible(browser, name)

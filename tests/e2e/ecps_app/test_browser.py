"""The e-CPS app in real headless Chromium, phone-sized (390 × 844), against a real server
process: a professional activates through the web activation page and the sandbox outbox,
opens the app from the QR code's link and chooses a PIN; a service starts a login in another
browser; the app shows the request live; the code the login page shows is picked and the PIN
entered on the app's keypad; the service gets tokens saying ``authMode`` MOBILE. Also a denial,
a CIBA request with its binding message, the offline code typed on the login page, the app
starting with the server gone (service worker) and three wrong PINs locking the device; and
the app holding up when things go wrong: a wrong PIN then the right one, a push message while
open, a phone clock 20 s ahead, a stalled decision, a service unavailable, activating again.

Each test sets up what it needs (an active e-CPS in the app, its own requests), so the module
passes in any order and split over workers (``-n 2``)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import sqlite3
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pyotp
import pytest
import requests
from selenium.webdriver.common.by import By

from tests.support.browser import PHONE_SIZE
from tests.support.browser import assert_accessible
from tests.support.browser import console
from tests.support.browser import start_browser
from tests.support.browser import wait_for
from tests.support.ecps_app_server import CIBA_GRANT
from tests.support.ecps_app_server import SECRET
from tests.support.ecps_app_server import santeid_cli
from tests.support.markdown import table_rows
from tests.support.paths import ROOT

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.browser]

NATIONAL_ID = "810000000004"
EMAIL = "antoine.legrand@example.org"
PHONE = "0639980004"
PIN = "246810"


# -- helpers ----------------------------------------------------------------------------------


def screen(driver, name: str) -> None:
    """Every app screen fits the phone (no horizontal scrolling, tap targets of 44 px) and has
    no violation of the WCAG 2.1 A/AA rules axe-core checks (labels, names, contrast…); with
    ``SANTEID_SCREENSHOTS=<dir>`` it is also saved as ``<dir>/ecps-app-<name>.png`` (the
    pictures of docs/ecps-app.md)."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE_SIZE[0], f"{name}: {width} px wide"
    small = driver.execute_script(
        """return [...document.querySelectorAll('button, a.button, input')]
             .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
             .map(e => e.outerHTML.slice(0, 80));"""
    )
    assert small == [], f"{name}: tap targets under 44 px: {small}"
    assert_accessible(driver, name)
    folder = os.environ.get("SANTEID_SCREENSHOTS")
    if folder:
        time.sleep(0.3)  # let the focus ring and live texts settle
        driver.save_screenshot(str(Path(folder) / f"ecps-app-{name}.png"))


def css(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def text_of(driver, selector: str) -> str:
    return css(driver, selector).text


def outbox_codes(server) -> tuple[str, str]:
    """The newest e-mail and SMS codes sent to the professional (sandbox outbox)."""
    found = {}
    for to in (EMAIL, PHONE):
        answer = requests.get(f"{server.base}/sandbox/outbox.json", params={"to": to}, timeout=5)
        body = answer.json()["messages"][0]["body"]
        found[to] = re.search(r"\b(\d{6})\b", body).group(1)
    return found[EMAIL], found[PHONE]


def activate_on_the_web(server, desktop) -> str:
    """Activation page → codes from the outbox → the QR page; returns the QR code's link."""
    desktop.get(f"{server.base}/ecps/activation")
    css(desktop, "#national_id").send_keys(NATIONAL_ID)
    css(desktop, "form button[type=submit]").click()
    wait_for(lambda: css(desktop, "#email_code"), what="the codes page")
    email_code, sms_code = outbox_codes(server)
    css(desktop, "#email_code").send_keys(email_code)
    css(desktop, "#sms_code").send_keys(sms_code)
    css(desktop, "form button[type=submit]").click()
    return wait_for(lambda: text_of(desktop, "#activation-uri"), what="the QR page")


def app_link(server) -> str:
    """A new activation code's app link, from the operator's command (no web pages)."""
    return json.loads(santeid_cli(server.env, "ecps", "activate", NATIONAL_ID, "--json"))[
        "app_link"
    ]


def choose_pin(phone) -> None:
    """The activation screen is shown: continue — replacing the e-CPS already there, if asked
    (the question is recorded in ``window.confirmed``) —, type the PIN twice, activate; wait for
    the home screen."""
    phone.execute_script("window.confirm = (text) => { window.confirmed = text; return true; };")
    css(phone, "#activate-next").click()
    wait_for(lambda: css(phone, "#new-pin"), what="the PIN screen").send_keys(PIN)
    css(phone, "#new-pin-again").send_keys(PIN)
    css(phone, "#pin-submit").click()
    wait_for(lambda: css(phone, "#request-list"), what="the home screen", timeout=30)


def devices(server) -> dict[str, str]:
    """``device_id`` → ``status`` of the professional's devices (the operator's command)."""
    found = json.loads(
        santeid_cli(server.env, "ecps", "devices", "--national-id", NATIONAL_ID, "--json")
    )
    return {device["device_id"]: device["status"] for device in found}


def start_ciba(server, binding_message: str | None = None) -> tuple[requests.Response, str]:
    """A CIBA request; its binding message (a new one unless given), which tells it from a
    request another test left pending."""
    binding_message = binding_message or secrets.token_hex(4)
    started = requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/ciba/auth",
        data={
            "scope": "openid scope_all",
            "login_hint": NATIONAL_ID,
            "binding_message": binding_message,
        },
        auth=("ciba-app", SECRET),
        timeout=10,
    )
    assert started.status_code == 200, started.text
    return started, binding_message


def pin_on_pad(phone, pin: str) -> None:
    for digit in pin:
        css(phone, f'#pin-pad button[data-digit="{digit}"]').click()


def start_login(server, browser) -> str:
    """A service sends the browser to the authorization endpoint; the professional types the
    identifier; returns the code shown on the waiting page."""
    query = {
        "response_type": "code",
        "client_id": "rp-app",
        "redirect_uri": server.redirect_uri,
        "scope": "openid scope_all",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    # A new login each time: no single sign-on session from the previous test.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(f"{server.issuer}/protocol/openid-connect/auth?{urlencode(query)}")
    field = wait_for(lambda: css(browser, "#national_id"), what="the login page")
    field.send_keys(NATIONAL_ID)
    css(browser, "form button[type=submit]").click()
    return wait_for(lambda: text_of(browser, "#dynamic-code"), what="the dynamic code")


def open_request(phone, service: str, binding: str | None = None) -> None:
    """The app shows the request live (no reload); open it. ``binding``: a CIBA request's
    binding message, to wait for that request rather than one left pending before it."""

    def shown() -> bool:
        first = css(phone, "#request-list .request")
        if first.find_element(By.CSS_SELECTOR, ".service-name").text != service:
            return False
        return binding is None or first.find_element(By.CSS_SELECTOR, ".binding").text == binding

    wait_for(shown, what=f"the request of {service} in the app")
    css(phone, "#request-list button.answer").click()
    wait_for(lambda: css(phone, "#pin-pad"), what="the PIN pad")


#: Everything the app keeps in the browser, as JSON: localStorage, and each IndexedDB record
#: with its byte arrays in hexadecimal and its CryptoKeys by algorithm.
STORED_DATA = """
const done = arguments[arguments.length - 1];
const plain = (value) => {
  if (value instanceof CryptoKey) {
    return {cryptokey: value.algorithm.name, extractable: value.extractable};
  }
  if (value instanceof ArrayBuffer) value = new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return {bytes: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)]
      .map((b) => b.toString(16).padStart(2, "0")).join("")};
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
};
const open = indexedDB.open("santeid-ecps");
open.onsuccess = () => {
  const store = open.result.transaction("kv").objectStore("kv");
  const keys = store.getAllKeys(), values = store.getAll();
  values.onsuccess = () => done({
    indexeddb: Object.fromEntries(keys.result.map((k, i) => [k, plain(values.result[i])])),
    local_storage: {...localStorage},
  });
};
open.onerror = () => done(null);
"""


def stored_data(phone) -> dict:
    return phone.execute_async_script(STORED_DATA)


def stored_device(phone) -> dict:
    return stored_data(phone)["indexeddb"]["device"]


def totp_secret(server, device_id: str) -> str:
    """The device's offline-code secret as the server keeps it (its SQLite database)."""
    path = Path(server.env["SANTEID_DATA_DIR"]) / "ecps.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as database:
        (secret,) = database.execute(
            "SELECT totp_secret FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
    return secret


def expected_codes(secret: str) -> set[str]:
    """The codes the server accepts now (the current step and one on each side)."""
    now = time.time()
    return {pyotp.TOTP(secret).at(now + 30 * step) for step in (-1, 0, 1)}


def offline_code(phone, pin: str) -> str:
    """The offline-code tab: it asks the PIN; the code shown once it is typed."""
    css(phone, "#tab-offline").click()
    field = wait_for(lambda: css(phone, "#offline-pin"), what="the offline code's PIN")
    assert phone.find_elements(By.CSS_SELECTOR, "#totp-code") == []
    field.send_keys(pin)
    css(phone, "#offline-show").click()
    return wait_for(lambda: css(phone, "#totp-code").get_attribute("data-code"), what="the code")


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def redeem(server, redirected: str) -> dict:
    code = parse_qs(urlsplit(redirected).query)["code"][0]
    answer = requests.post(
        f"{server.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": server.redirect_uri,
        },
        auth=("rp-app", SECRET),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


#: DevTools' network emulation (Network.emulateNetworkConditions): the phone without network —
#: navigator.onLine false, the "offline" event, every request failing — and back.
OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
ONLINE = {**OFFLINE, "offline": False}


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("desktop-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("phone-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def first_activation(server, desktop, phone):
    """The professional's e-CPS, activated in the app from the QR code's link."""
    link = activate_on_the_web(server, desktop)
    assert link.startswith(f"{server.base}/ecps/app/#activation=")
    phone.get(link)
    wait_for(lambda: css(phone, "#activation-code").get_attribute("value"), what="the code")
    assert phone.execute_script("return window.isSecureContext") is True
    # The fragment, never sent to the server, is dropped from the address bar at once.
    assert "#" not in phone.current_url
    screen(phone, "1-activation")
    css(phone, "#activate-next").click()
    css(phone, "#new-pin").send_keys(PIN)
    css(phone, "#new-pin-again").send_keys(PIN)
    screen(phone, "2-pin")
    css(phone, "#pin-submit").click()
    wait_for(lambda: css(phone, "#request-list"), what="the home screen", timeout=30)
    screen(phone, "3-waiting")
    code = link.split("#activation=")[1]
    assert code not in server.log  # the activation code never reached the server's log
    return phone


@pytest.fixture
def activated(server, first_activation):
    """The app, opened afresh in French on its home screen, with an active e-CPS: the one of
    the first activation, or a new one if a test before this one locked or replaced it."""
    phone = first_activation
    phone.get("about:blank")
    phone.get(f"{server.base}/ecps/app/")
    phone.execute_script("localStorage.setItem('santeid-ecps-lang', 'fr')")
    phone.refresh()
    wait_for(lambda: phone.find_elements(By.CSS_SELECTOR, "#request-list, #locked-title"))
    # The phone holds the newest device this server registered: active, or locked or revoked
    # by a test before this one.
    if "active" not in devices(server).values():
        phone.get(app_link(server))
        wait_for(lambda: css(phone, "#activation-code").get_attribute("value"), what="the code")
        choose_pin(phone)
    return phone


# -- tests ------------------------------------------------------------------------------------


def test_login_approved_in_the_app_with_the_shown_code(server, activated, desktop):
    phone = activated
    shown = start_login(server, desktop)
    wait_for(lambda: css(phone, "#request-list .service-name"), what="the request")
    # Screen readers hear of it (an assertive live region).
    wait_for(
        lambda: (
            text_of(phone, "#announcer")
            == "Nouvelle demande de connexion de Service de démonstration."
        ),
        what="the announcement",
    )
    assert css(phone, "#announcer").get_attribute("aria-live") == "assertive"
    # Where it comes from (docs/security.md, "Push fatigue"): the service's identifier and the
    # address of the browser that started the login, in the list and on the answer screen.
    origin = ("Identifiant du service : rp-app", "Adresse du navigateur : 127.0.0.1")
    assert (text_of(phone, "#request-list .client-id"),
            text_of(phone, "#request-list .requested-from")) == origin  # fmt: skip
    screen(phone, "4-request")
    open_request(phone, "Service de démonstration")
    assert text_of(phone, ".request .channel") == "Connexion dans un navigateur"
    assert (text_of(phone, ".request .client-id"),
            text_of(phone, ".request .requested-from")) == origin  # fmt: skip
    pin_on_pad(phone, PIN)
    screen(phone, "5-pin-pad")
    css(phone, "#approve").click()
    screen(phone, "6-codes")
    candidates = phone.find_elements(By.CSS_SELECTOR, ".candidates button")
    assert len(candidates) == 3 and shown in [c.text for c in candidates]
    assert all(c.size["height"] >= 44 and c.size["width"] >= 44 for c in candidates)
    css(phone, f'.candidates button[data-code="{shown}"]').click()
    wait_for(lambda: "validée" in text_of(phone, "#result"), what="the approval")
    screen(phone, "7-approved")

    redirected = wait_for(
        lambda: desktop.current_url.startswith(server.redirect_uri) and desktop.current_url,
        what="the redirect to the service",
    )
    tokens = redeem(server, redirected)
    assert claims(tokens["access_token"])["authMode"] == "MOBILE"
    assert claims(tokens["id_token"])["amr"] == ["swk", "pin", "mfa"]
    assert not [line for line in console(phone).splitlines() if "SEVERE" in line]


def test_denial_in_the_app_is_shown_on_the_login_page(server, activated, desktop):
    phone = activated
    start_login(server, desktop)
    open_request(phone, "Service de démonstration")
    pin_on_pad(phone, PIN)
    css(phone, "#deny").click()
    wait_for(lambda: "refusée" in text_of(phone, "#result"), what="the denial")
    wait_for(lambda: "refusée sur le téléphone" in text_of(desktop, "main"), what="the login page")
    assert css(desktop, "#retry")


def test_ciba_request_shows_its_binding_message_and_is_approved(server, activated):
    phone = activated
    started, _ = start_ciba(server, "73")
    open_request(phone, "Logiciel de cabinet", "73")
    assert text_of(phone, ".request .channel") == "Demande d'un service (sans navigateur)"
    assert text_of(phone, ".request .binding") == "73"
    # A CIBA request has no browser: the service's identifier only.
    assert text_of(phone, ".request .client-id") == "Identifiant du service : ciba-app"
    assert phone.find_elements(By.CSS_SELECTOR, ".request .requested-from") == []
    screen(phone, "8-ciba")
    pin_on_pad(phone, PIN)
    css(phone, "#approve").click()  # no code to pick for CIBA
    wait_for(lambda: "validée" in text_of(phone, "#result"), what="the approval")
    tokens = requests.post(
        f"{server.issuer}/protocol/openid-connect/token",
        data={"grant_type": CIBA_GRANT, "auth_req_id": started.json()["auth_req_id"]},
        auth=("ciba-app", SECRET),
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    assert claims(tokens.json()["access_token"])["authMode"] == "MOBILE"


def test_offline_code_of_the_app_is_accepted_by_the_login_page(server, activated, desktop):
    phone = activated
    start_login(server, desktop)
    css(desktop, "#otp-link").click()
    # The offline code is shown only once the PIN is typed; a wrong PIN shows a code too —
    # nothing on the phone can tell a wrong PIN — which the server refuses.
    wrong = offline_code(phone, "1357")
    assert re.fullmatch(r"\d{6}", wrong)
    secret = totp_secret(server, stored_device(phone)["device_id"])
    assert wrong not in expected_codes(secret)
    css(desktop, "#otp").send_keys(wrong)
    css(desktop, "#submit-otp").click()
    assert "Code incorrect" in wait_for(lambda: text_of(desktop, "main"), what="the refusal")
    code = offline_code(phone, PIN)
    assert code in expected_codes(secret)
    assert re.fullmatch(r"Nouveau code dans \d+ s", text_of(phone, "#totp-left"))
    assert text_of(phone, "#offline-card").splitlines()[-1] == "Masquer le code"
    assert phone.find_elements(By.CSS_SELECTOR, "#offline-legacy") == []
    screen(phone, "9-offline-code")
    css(desktop, "#otp").clear()
    css(desktop, "#otp").send_keys(code)
    css(desktop, "#submit-otp").click()
    redirected = wait_for(
        lambda: desktop.current_url.startswith(server.redirect_uri) and desktop.current_url,
        what="the redirect to the service",
    )
    access = claims(redeem(server, redirected)["access_token"])
    assert access["authMode"] == "MOBILE"


def test_the_app_keeps_the_offline_secret_only_masked_by_the_pin(server, activated):
    """Nothing in the browser's storage gives the offline code without the PIN: no secret in
    clear (bytes or base32), no HMAC key, no PIN."""
    data = stored_data(activated)
    secret = totp_secret(server, data["indexeddb"]["device"]["device_id"])
    kept = json.dumps(data)
    assert base64.b32decode(secret).hex() not in kept
    assert secret not in kept and secret.lower() not in kept
    assert '"cryptokey": "HMAC"' not in kept
    assert PIN not in kept


@pytest.mark.timeout(300)  # two waits of up to 120 s each on a loaded machine
def test_an_e_cps_activated_before_the_pin_mask_masks_its_codes_at_the_next_accepted_pin(
    server, activated
):
    """An e-CPS activated by an earlier version of the app holds the offline-code secret as a
    non-extractable HMAC key, which cannot be read to be masked: its code is shown after the
    PIN too (any PIN: nothing can check it), and the first decision the server accepts with the
    PIN — not a refused one — replaces the key by the codes of the next 180 days, masked by
    that PIN."""
    phone = activated
    secret = totp_secret(server, stored_device(phone)["device_id"])
    phone.execute_async_script(
        """const [secret, done] = arguments;
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let bits = 0, value = 0; const bytes = [];
        for (const c of secret) { value = (value << 5) | alphabet.indexOf(c); bits += 5;
          if (bits >= 8) { bytes.push((value >>> (bits - 8)) & 0xff); bits -= 8; } }
        const open = indexedDB.open("santeid-ecps");
        open.onsuccess = async () => {
          const totpKey = await crypto.subtle.importKey("raw", new Uint8Array(bytes),
            {name: "HMAC", hash: "SHA-1"}, false, ["sign"]);
          const read = open.result.transaction("kv").objectStore("kv").get("device");
          read.onsuccess = () => {
            const device = read.result; delete device.totp; device.totpKey = totpKey;
            const tx = open.result.transaction("kv", "readwrite");
            tx.objectStore("kv").put(device, "device");
            tx.oncomplete = () => done(true);
          };
        };""",
        secret,
    )
    try:
        phone.refresh()
        wait_for(lambda: css(phone, "#request-list"), what="the home screen")
        assert offline_code(phone, "0000") in expected_codes(secret)
        assert "prochaine réponse" in text_of(phone, "#offline-legacy")
        # A wrong PIN, refused by the server: nothing masked with it.
        css(phone, "#tab-requests").click()
        _, binding = start_ciba(server)
        open_request(phone, "Logiciel de cabinet", binding)
        pin_on_pad(phone, "0000")
        css(phone, "#deny").click()
        wait_for(lambda: "Essais restants" in text_of(phone, "#decision-error"), what="wrong PIN")
        assert '"cryptokey": "HMAC"' in json.dumps(stored_data(phone))
        pin_on_pad(phone, PIN)
        css(phone, "#deny").click()
        # The accepted PIN starts masking 180 days of codes in the page, which can keep the
        # page from answering WebDriver for a while: on a loaded machine, longer than 20 s.
        wait_for(lambda: "refusée" in text_of(phone, "#result"), what="the denial", timeout=120)
        wait_for(
            lambda: '"cryptokey": "HMAC"' not in json.dumps(stored_data(phone)),
            what="the key replaced by masked codes",
            timeout=120,
        )
        kept = json.dumps(stored_data(phone))
        assert base64.b32decode(secret).hex() not in kept and secret not in kept
        assert offline_code(phone, PIN) in expected_codes(secret)
        assert text_of(phone, "#offline-until").startswith("Ce code hors connexion est disponible")
        assert phone.find_elements(By.CSS_SELECTOR, "#offline-legacy") == []
        css(phone, "#offline-hide").click()
        wrong = offline_code(phone, "0000")
        assert re.fullmatch(r"\d{6}", wrong) and wrong not in expected_codes(secret)
    finally:
        # The tests after this one find an e-CPS of this version.
        phone.get(app_link(server))
        wait_for(lambda: css(phone, "#activation-code").get_attribute("value"), what="the code")
        choose_pin(phone)


def test_my_ecps_screen_shows_identity_device_and_last_approvals(server, activated):
    phone = activated
    for button, result in (("#approve", "validée"), ("#deny", "refusée")):
        _, binding = start_ciba(server)
        open_request(phone, "Logiciel de cabinet", binding)
        pin_on_pad(phone, PIN)
        css(phone, button).click()
        wait_for(lambda r=result: r in text_of(phone, "#result"), what=f"the answer {result}")
        css(phone, "#result-back").click()
    css(phone, "#tab-me").click()
    wait_for(lambda: text_of(phone, '[data-fact="me_identity"]') == "ANTOINE LEGRAND")
    assert text_of(phone, '[data-fact="me_national_id"]') == NATIONAL_ID
    assert text_of(phone, '[data-fact="me_state"]') == "active"
    history = wait_for(
        lambda: "validée" in text_of(phone, "#me-history") and text_of(phone, "#me-history")
    )
    assert "Logiciel de cabinet — validée" in history
    assert "Logiciel de cabinet — refusée" in history
    screen(phone, "10-my-ecps")
    # The sandbox shows in the app too (README: a banner on every page), in its language.
    assert text_of(phone, "#sandbox-banner").startswith("Bac à sable santeid")
    # English on request, remembered; French again.
    css(phone, "#lang-toggle").click()
    wait_for(lambda: text_of(phone, "h1") == "My e-CPS", what="the English screen")
    assert text_of(phone, "#tab-requests") == "Requests"
    assert text_of(phone, "#sandbox-banner") == "santeid sandbox — test environment, no real data."
    assert phone.execute_script("return document.documentElement.lang") == "en"
    css(phone, "#lang-toggle").click()
    wait_for(lambda: text_of(phone, "h1") == "Mon e-CPS", what="the French screen")


def test_three_wrong_pins_lock_the_device(server, activated, desktop):
    phone = activated
    start_login(server, desktop)
    # The login page counts the request's remaining time down, live.
    counted = text_of(desktop, "#wait-countdown")
    assert re.fullmatch(r"La demande expire dans \d+ secondes\.", counted)
    wait_for(lambda: text_of(desktop, "#wait-countdown") != counted, what="the countdown")
    open_request(phone, "Service de démonstration")
    for remaining in (2, 1):
        pin_on_pad(phone, "0000")
        css(phone, "#approve").click()
        css(phone, ".candidates button").click()
        wait_for(
            lambda r=remaining: f"Essais restants : {r}" in text_of(phone, "#decision-error"),
            what="the wrong PIN message",
        )
        # …and the login page says so while it waits.
        wait_for(
            lambda r=remaining: (
                text_of(desktop, "#phone-status")
                == f"Code PIN erroné saisi sur le téléphone. Essais restants avant blocage : {r}."
            ),
            what="the login page's wrong PIN message",
        )
    pin_on_pad(phone, "0000")
    css(phone, "#deny").click()
    wait_for(lambda: text_of(phone, "#locked-title") == "e-CPS bloquée", what="the lock")
    assert "activez une nouvelle e-CPS" in text_of(phone, "#locked-text")
    assert css(phone, "#activation-page").get_attribute("href").endswith("/ecps/activation")
    screen(phone, "11-locked")
    wait_for(lambda: "bloquée" in text_of(desktop, "main"), what="the login page's message")
    # Reopened, the app still says so (the server's word: GET /me).
    phone.refresh()
    wait_for(lambda: text_of(phone, "#locked-title") == "e-CPS bloquée", what="the lock again")


def test_the_app_starts_without_network_and_shows_the_offline_code(own_server, tmp_path):
    phone = start_browser(tmp_path / "profile")
    try:
        link = json.loads(santeid_cli(own_server.env, "ecps", "activate", NATIONAL_ID, "--json"))[
            "app_link"
        ]
        phone.get(link)
        wait_for(lambda: css(phone, "#activation-code").get_attribute("value"))
        css(phone, "#activate-next").click()
        css(phone, "#new-pin").send_keys(PIN)
        css(phone, "#new-pin-again").send_keys(PIN)
        css(phone, "#pin-submit").click()
        wait_for(lambda: css(phone, "#request-list"), what="the home screen", timeout=30)
        wait_for(
            lambda: phone.execute_script("return !!navigator.serviceWorker.controller"),
            what="the service worker in control",
        )
        # Installable as an app (Chromium's own criteria: manifest, icons, service worker).
        errors = wait_for(
            lambda: phone.execute_cdp_cmd("Page.getInstallabilityErrors", {}),
            what="the installability check",
        )
        assert errors["installabilityErrors"] == []
        step = int(time.time() // 30)  # before the first code: both within one step below
        online = offline_code(phone, PIN)

        own_server.process.terminate()
        own_server.process.wait(timeout=10)
        phone.get(f"{own_server.base}/ecps/app/")
        wait_for(lambda: css(phone, "#request-list"), what="the home screen, server gone")
        # The phone is online, the server is not there: the service cannot be reached, which
        # is not the phone being offline.
        assert phone.execute_script("return navigator.onLine") is True
        banner = wait_for(lambda: text_of(phone, "#network-banner"), what="the banner")
        assert banner.startswith("Service injoignable pour le moment"), banner
        # The phone loses its network too (DevTools' network emulation: navigator.onLine
        # false, the "offline" event): now it is offline.
        phone.execute_cdp_cmd("Network.enable", {})
        phone.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
        wait_for(lambda: text_of(phone, "#network-banner").startswith("Hors ligne"), what="offline")
        assert phone.execute_script("return navigator.onLine") is False
        shown = offline_code(phone, PIN)
        assert re.fullmatch(r"\d{6}", shown)
        if int(time.time() // 30) == step:
            # Same 30-s step: the same code as online (its value is checked against the
            # server by the login test above).
            assert shown == online
    finally:
        phone.quit()


def test_the_app_scans_the_activation_qr_code(own_server, tmp_path):
    """The app's own scanner: Chromium's fake camera, and — Chromium on Linux having no
    ``BarcodeDetector`` — a stand-in for that browser API that reads the QR code's text."""
    link = json.loads(santeid_cli(own_server.env, "ecps", "activate", NATIONAL_ID, "--json"))[
        "app_link"
    ]
    phone = start_browser(tmp_path / "profile", fake_camera=True)
    try:
        phone.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": "window.BarcodeDetector = class { async detect(video) {"
                f" return video.videoWidth ? [{{rawValue: {json.dumps(link)}}}] : []; }} }};"
            },
        )
        phone.get(f"{own_server.base}/ecps/app/")
        wait_for(lambda: css(phone, "#scan-button"), what="the scan button").click()
        code = wait_for(lambda: css(phone, "#activation-code").get_attribute("value"))
        assert code == link.split("#activation=")[1]
        assert phone.find_elements(By.CSS_SELECTOR, "video.scanner") == []  # camera stopped
        css(phone, "#activate-next").click()
        css(phone, "#new-pin").send_keys(PIN)
        css(phone, "#new-pin-again").send_keys("999999")
        css(phone, "#pin-submit").click()
        assert "différents" in wait_for(lambda: text_of(phone, "#pin-error"))
        css(phone, "#new-pin-again").clear()
        css(phone, "#new-pin-again").send_keys(PIN)
        css(phone, "#pin-submit").click()
        wait_for(lambda: css(phone, "#request-list"), what="the home screen", timeout=30)
    finally:
        phone.quit()


# -- when things go wrong ---------------------------------------------------------------------


def test_a_wrong_pin_then_the_right_pin_on_the_keypad_approves(server, activated):
    phone = activated
    # The request list is no live region (its countdown changes every second); new requests
    # are announced through the announcer.
    assert css(phone, "#request-list").get_attribute("aria-live") is None
    _, binding = start_ciba(server)
    open_request(phone, "Logiciel de cabinet", binding)
    live = phone.execute_script(
        "return [...document.querySelectorAll('.expires')].map(e => e.closest('[aria-live]'))"
        ".filter(e => e && e.getAttribute('aria-live') !== 'off').length"
    )
    assert live == 0
    # Retour leaves the PIN step for the list; the request is still there.
    css(phone, "#pin-back").click()
    open_request(phone, "Logiciel de cabinet", binding)
    pin_on_pad(phone, "0000")
    css(phone, "#approve").click()
    wait_for(lambda: "Essais restants : 2" in text_of(phone, "#decision-error"), what="wrong PIN")
    # The focus goes to the instruction (focusable), not to the page's body.
    assert phone.execute_script("return document.activeElement.id") == "pin-label"
    assert all(key.is_enabled() for key in phone.find_elements(By.CSS_SELECTOR, "#pin-pad button"))
    pin_on_pad(phone, PIN)
    css(phone, "#approve").click()
    wait_for(lambda: "validée" in text_of(phone, "#result"), what="the approval")


def test_a_push_message_while_open_keeps_requests_live(server, activated):
    """The service worker passes each push to the open app, which looks at once; the loop it
    replaces ends without stopping the new one."""
    phone = activated
    for _ in range(2):
        phone.execute_script(
            "navigator.serviceWorker.dispatchEvent("
            "new MessageEvent('message', {data: {type: 'request'}}))"
        )
    time.sleep(7)  # longer than the server's long poll (5 s): a stopped loop would show
    _, binding = start_ciba(server)
    open_request(phone, "Logiciel de cabinet", binding)
    phone.execute_script(
        "navigator.serviceWorker.dispatchEvent("
        "new MessageEvent('message', {data: {type: 'request'}}))"
    )
    time.sleep(7)
    css(phone, "#pin-back").click()
    _, binding = start_ciba(server)
    wait_for(lambda: text_of(phone, "#request-list .binding") == binding, what="the next request")


def test_a_phone_clock_20_s_ahead_is_corrected_from_the_server_time(server, activated):
    phone = activated
    phone.execute_script("const real = Date.now; Date.now = () => real.call(Date) + 20000;")
    _, binding = start_ciba(server)
    open_request(phone, "Logiciel de cabinet", binding)
    pin_on_pad(phone, PIN)
    css(phone, "#approve").click()
    wait_for(lambda: "validée" in text_of(phone, "#result"), what="the approval")
    assert not css(phone, "#network-banner").is_displayed()


def test_the_offline_code_follows_the_server_time_and_says_the_phone_clock_is_wrong(
    server, activated
):
    """A phone clock 2 minutes behind: the offline code is the server time's, and the tab says
    the clock is wrong — also offline, from the difference learnt at the last answer."""
    phone = activated
    secret = totp_secret(server, stored_device(phone)["device_id"])
    scripts = [
        phone.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": "const real = Date.now; Date.now = () => real.call(Date) - 120000;"},
        )["identifier"]
    ]
    try:
        phone.refresh()
        wait_for(lambda: css(phone, "#request-list"), what="the home screen")
        wait_for(lambda: phone.execute_script("return localStorage.getItem('santeid-ecps-skew')"))
        assert offline_code(phone, PIN) in expected_codes(secret)
        assert "décalée de 2 min" in text_of(phone, "#offline-clock")
        # No answer from the device API now: the difference learnt last time still applies.
        scripts.append(
            phone.execute_cdp_cmd(
                "Page.addScriptToEvaluateOnNewDocument",
                {
                    "source": "const realFetch = window.fetch.bind(window); window.fetch = "
                    "(url, options) => String(url).includes('/ecps/device/') ? "
                    "Promise.reject(new TypeError('Failed to fetch')) : realFetch(url, options);"
                },
            )["identifier"]
        )
        phone.refresh()
        banner = wait_for(lambda: text_of(phone, "#network-banner"), what="the banner")
        assert banner.startswith("Service injoignable pour le moment"), banner
        assert offline_code(phone, PIN) in expected_codes(secret)
        assert "décalée de 2 min" in text_of(phone, "#offline-clock")
    finally:
        for identifier in scripts:
            phone.execute_cdp_cmd(
                "Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier}
            )
        phone.refresh()
    wait_for(lambda: css(phone, "#request-list"), what="the home screen")
    offline_code(phone, PIN)
    assert phone.find_elements(By.CSS_SELECTOR, "#offline-clock") == []


def test_a_stalled_decision_ends_as_a_network_error(server, activated):
    phone = activated
    _, binding = start_ciba(server)
    open_request(phone, "Logiciel de cabinet", binding)
    pin_on_pad(phone, PIN)
    # The decision never gets an answer: Chromium holds it (DevTools Fetch domain).
    phone.execute_cdp_cmd("Fetch.enable", {"patterns": [{"urlPattern": "*/decision"}]})
    try:
        css(phone, "#approve").click()
        assert css(phone, "#request-body").get_attribute("data-step") == "sent"
        # The phone is online: the service cannot be reached, not "offline".
        wait_for(
            lambda: text_of(phone, "#decision-error").startswith("Le service est injoignable"),
            what="the network error",
            timeout=25,
        )
        assert css(phone, "#approve").is_enabled() and css(phone, "#pin-back").is_enabled()
    finally:
        phone.execute_cdp_cmd("Fetch.disable", {})


def test_an_unavailable_service_is_shown_and_its_retry_after_honoured(server, activated):
    phone = activated
    # The next poll is answered 503 temporarily_unavailable with Retry-After: 6, as a store
    # outage is (docs/ecps-device-protocol.md §7); the ones after it reach the server.
    phone.execute_script(
        """window.polls = [];
        const real = window.fetch.bind(window);
        window.fetch = (url, options) => {
          if (!String(url).includes('/requests?wait')) return real(url, options);
          window.polls.push(Date.now());
          if (window.polls.length > 1) return real(url, options);
          const problem = {type: 'about:blank', title: 'Unavailable', status: 503, detail: '-',
            code: 'temporarily_unavailable', server_time: Math.floor(Date.now() / 1000)};
          return Promise.resolve(new Response(JSON.stringify(problem), {status: 503,
            headers: {'Content-Type': 'application/problem+json', 'Retry-After': '6'}}));
        };
        navigator.serviceWorker.dispatchEvent(
          new MessageEvent('message', {data: {type: 'request'}}));"""
    )
    banner = wait_for(lambda: text_of(phone, "#network-banner"), what="the banner")
    assert banner.startswith("Service momentanément indisponible")
    # No "waiting for requests" while none can arrive.
    wait_for(lambda: "En attente de demandes" not in text_of(phone, "#request-list"))
    wait_for(lambda: phone.execute_script("return window.polls.length") >= 2, timeout=15)
    first, second = phone.execute_script("return window.polls")[:2]
    assert second - first >= 5900
    wait_for(lambda: not css(phone, "#network-banner").is_displayed(), what="the banner gone")


#: Long polls of the app's own device, made in the page with its key (IndexedDB) while the
#: test runs: as the app open in other tabs would make them.
OTHER_WAITS = """
const [count, done] = arguments;
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const text = (value) => b64(new TextEncoder().encode(JSON.stringify(value)));
const open = indexedDB.open("santeid-ecps");
open.onsuccess = () => {
  const read = open.result.transaction("kv").objectStore("kv").get("device");
  read.onsuccess = () => {
    const device = read.result;
    window.otherWaits = true;
    const token = async () => {
      const now = Math.floor(Date.now() / 1000);
      const input = text({alg: "ES256", kid: device.device_id}) + "." + text({iss: device.device_id,
        aud: device.server, iat: now, exp: now + 30, jti: crypto.randomUUID()});
      const signature = await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"},
        device.privateKey, new TextEncoder().encode(input));
      return input + "." + b64(signature);
    };
    const wait = async () => {
      while (window.otherWaits) {
        const answer = await fetch("/ecps/device/requests?wait=25",
          {headers: {Authorization: "Bearer " + await token()}});
        if (!answer.ok) await new Promise((resolve) => window.setTimeout(resolve, 200));
      }
    };
    for (let i = 0; i < count; i += 1) wait();
    window.setTimeout(() => done(true), 500);
  };
};
"""


def test_too_many_waits_has_its_own_text(own_server, tmp_path):
    """The app open in as many other tabs as the server allows long polls per device
    (``ecps_waits_per_device``, 2): its own poll is refused ``429 too_many_waits``, which the
    banner says in its own words, not as a service unavailable. A server and a browser of the
    test's own: no request pending (a long poll that answers at once holds no place), no
    connection left by another test."""
    phone = start_browser(tmp_path / "profile")
    try:
        phone.get(app_link(own_server))
        wait_for(lambda: css(phone, "#activation-code").get_attribute("value"), what="the code")
        choose_pin(phone)
        app = phone.current_window_handle
        phone.get("about:blank")  # the app closed: the long polls are the other tab's
        # Another tab of the same origin (not the app, which would poll too) holds them.
        phone.switch_to.new_window("tab")
        phone.get(f"{own_server.base}/ecps/device/me")
        phone.execute_async_script(OTHER_WAITS, 2)
        phone.switch_to.window(app)
        phone.get(f"{own_server.base}/ecps/app/")
        banner = wait_for(lambda: text_of(phone, "#network-banner"), what="the banner")
        assert banner == (
            "L'application est ouverte trop de fois sur ce téléphone. "
            "Fermez ses autres fenêtres ou onglets."
        )
    finally:
        phone.quit()


def test_the_english_button_redraws_the_request_screen_keeping_the_pin(server, activated):
    phone = activated
    _, binding = start_ciba(server)
    open_request(phone, "Logiciel de cabinet", binding)
    pin_on_pad(phone, "24")
    try:
        css(phone, "#lang-toggle").click()
        wait_for(lambda: text_of(phone, "h1") == "Login to Logiciel de cabinet", what="English")
        assert text_of(phone, ".request .channel") == "Request from a service (no browser)"
        assert text_of(phone, "#pin-label") == "Type your e-CPS PIN, then approve or deny."
        assert text_of(phone, "#pin-display") == "••"
        pin_on_pad(phone, PIN[2:])
        css(phone, "#approve").click()
        wait_for(lambda: text_of(phone, "#result").startswith("Login approved"), what="result")
        css(phone, "#lang-toggle").click()
        wait_for(lambda: "validée" in text_of(phone, "#result"), what="the French result")
    finally:
        phone.execute_script("localStorage.setItem('santeid-ecps-lang', 'fr')")


def test_an_activation_link_opened_in_the_open_app_replaces_and_revokes_the_old_e_cps(
    server, activated
):
    phone = activated
    before = {device for device, status in devices(server).items() if status == "active"}
    link = app_link(server)
    phone.get(link)  # the same page: only the fragment changes
    wait_for(
        lambda: css(phone, "#activation-code").get_attribute("value") == link.split("=")[-1],
        what="the code from the link",
    )
    assert "#" not in phone.current_url
    choose_pin(phone)
    asked = phone.execute_script("return window.confirmed")
    assert "ANTOINE LEGRAND" in asked and NATIONAL_ID in asked
    after = devices(server)
    assert [device for device, status in after.items() if status == "active"] != list(before)
    assert {after[device] for device in before} == {"revoked"}


def test_an_activation_link_opened_on_a_phone_with_an_e_cps_leads_back_to_it(server, activated):
    """Opened cold (the app not open) with a code that turns out refused: the activation screen
    offers the way back, requests keep arriving meanwhile and are said there, and Retour shows
    them."""
    phone = activated
    phone.get("about:blank")
    phone.get(f"{server.base}/ecps/app/#activation={'A' * 22}")
    wait_for(lambda: css(phone, "#activation-code").get_attribute("value"), what="the code")
    assert css(phone, "#activate-back").text == "Retour"
    assert css(phone, "#tabs").is_displayed()
    _, binding = start_ciba(server)
    pending = wait_for(lambda: text_of(phone, "#activate-pending"), what="the request, said")
    assert "Logiciel de cabinet" in pending
    screen(phone, "12-activation-with-an-e-cps")
    phone.execute_script("window.confirm = () => true;")
    css(phone, "#activate-next").click()
    wait_for(lambda: css(phone, "#new-pin"), what="the PIN screen").send_keys(PIN)
    css(phone, "#new-pin-again").send_keys(PIN)
    css(phone, "#pin-submit").click()
    assert "inconnu ou expiré" in wait_for(lambda: text_of(phone, "#activate-error"))
    css(phone, "#activate-back").click()
    wait_for(lambda: text_of(phone, "#request-list .binding") == binding, what="the request")
    assert "active" in devices(server).values()


def test_the_activation_field_takes_the_older_activation_uri(server, activated):
    """``santeid-ecps://activate?server=…&code=…`` (protocol §1, which clients keep accepting,
    and which ``santeid ecps activate --json`` prints as ``uri``) pasted into the field."""
    phone = activated
    activation = json.loads(santeid_cli(server.env, "ecps", "activate", NATIONAL_ID, "--json"))
    assert activation["uri"].startswith("santeid-ecps://activate?")
    phone.get(f"{server.base}/ecps/app/#activation=placeholder")
    field = wait_for(lambda: css(phone, "#activation-code"), what="the activation screen")
    field.clear()
    field.send_keys("https://example.org/ecps/app/")
    css(phone, "#activate-next").click()
    assert text_of(phone, "#activate-error") == "Saisissez le code d'activation."
    field.clear()
    field.send_keys(activation["uri"])
    choose_pin(phone)
    assert list(devices(server).values()).count("active") == 1


def test_after_revoking_its_e_cps_the_phone_activates_a_new_one_without_a_replacement_warning(
    server, activated
):
    phone = activated
    css(phone, "#tab-me").click()
    phone.execute_script("window.confirm = () => true;")
    wait_for(lambda: css(phone, "#revoke"), what="the revoke button").click()
    wait_for(lambda: text_of(phone, "#locked-title") == "e-CPS révoquée", what="revoked")
    css(phone, "#activate-again").click()
    wait_for(lambda: css(phone, "#activation-code"), what="the activation screen")
    assert "sera révoquée" not in text_of(phone, "main")
    css(phone, "#activation-code").send_keys(app_link(server).split("#activation=")[1])
    phone.execute_script("delete window.confirmed;")
    choose_pin(phone)
    assert phone.execute_script("return window.confirmed") is None  # nothing to confirm
    assert list(devices(server).values()).count("active") == 1


def test_notifications_are_said_on_only_when_subscribed(server, activated):
    """Chromium's push service is out of reach here: permission granted, no subscription."""
    phone = activated
    phone.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": server.base, "permissions": ["notifications"]}
    )
    try:
        phone.refresh()
        wait_for(lambda: css(phone, "#enable-notifications"), what="the button")
        # The button alone: no state said, and no stray text beside it (a "null" once).
        assert text_of(phone, "#notify-box") == "Activer les notifications"
    finally:
        phone.execute_cdp_cmd("Browser.resetPermissions", {})


# -- the texts table of docs/ecps-app.md ---------------------------------------------------------

#: The rows of the doc's texts table: when, answer, where, French, English.
TEXT_ROWS = table_rows(
    (ROOT / "docs" / "ecps-app.md").read_text(), "| When | Answer | Where | French | English |"
)
#: The calls of each "When" of the table (what their URL holds).
WHEN = {"waiting for requests (long poll)": "/requests?wait", "sending a decision": "/decision"}
#: The answer of each "Answer" of the table: (status, problem code); status 0: no answer with
#: the phone online (the request fails in the network), -1: the phone offline (DevTools'
#: network emulation); a status without a code: a proxy's page, no problem document.
ANSWERS = {
    "no network (the phone offline)": (-1, ""),
    "no answer (the phone online: the server stopped or unreachable)": (0, ""),
    "no answer, or none within 15 s (the phone online)": (0, ""),
    "`502` from a proxy in front (no problem document; `503` and `504` too)": (502, ""),
    "`503 temporarily_unavailable`": (503, "temporarily_unavailable"),
    "`500 internal_error` (any other `5xx`)": (500, "internal_error"),
    "`429 too_many_waits`": (429, "too_many_waits"),
    "`401 token_expired` (or `token_not_yet_valid`), again once signed anew": (
        401,
        "token_expired",
    ),
    "`400 stale_decision`, again once signed anew": (400, "stale_decision"),
    "`400 invalid_decision` (any other refusal: its `code`)": (400, "invalid_decision"),
}
#: Where each "Where" of the table is on the screen.
WHERE = {"banner": "#network-banner", "under the keypad": "#decision-error"}
#: In the page, from now on: the answer to the device API calls whose URL holds ``pattern`` —
#: a problem as the server writes them (RFC 9457, with ``server_time``: protocol §7), a proxy's
#: HTML page without a code or, with status 0, no network.
ANSWER_IN_PAGE = """
const [pattern, status, code] = arguments;
if (!window.realFetch) window.realFetch = window.fetch.bind(window);
window.fetch = (url, options) => {
  if (!String(url).includes(pattern)) return window.realFetch(url, options);
  if (!status) return Promise.reject(new TypeError("Failed to fetch"));
  if (!code) return Promise.resolve(new Response("<html><body>Bad Gateway</body></html>",
    {status, headers: {"Content-Type": "text/html"}}));
  const problem = {type: "about:blank", title: code, status, detail: code, code,
    server_time: Math.floor(Date.now() / 1000)};
  return Promise.resolve(new Response(JSON.stringify(problem),
    {status, headers: {"Content-Type": "application/problem+json"}}));
};
"""


def answer_id(status: int, code: str) -> str:
    return code or {-1: "offline", 0: "unanswered"}.get(status, f"proxy-{status}")


def test_the_texts_table_names_only_situations_the_texts_test_makes():
    assert len(TEXT_ROWS) >= 10
    for row in TEXT_ROWS:
        assert len(row) == 5, row
        when, answer, where, _french, _english = row
        assert (when in WHEN, answer in ANSWERS, where in WHERE) == (True, True, True), row


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(
    "row",
    [
        pytest.param(row, id=f"{index}-{answer_id(*ANSWERS.get(row[1], (0, '')))}")
        for index, row in enumerate(TEXT_ROWS)
    ],
)
def test_each_documented_text_is_shown_in_its_situation(server, activated, row, language):
    """Each row of docs/ecps-app.md's texts table: the answer it names, to the call it names,
    shows its text where it says, in French and in English."""
    phone = activated
    when, answer, where, french, english = row
    if language == "en":
        css(phone, "#lang-toggle").click()
        wait_for(lambda: text_of(phone, "#tab-requests") == "Requests", what="English")
    status, code = ANSWERS[answer]

    def answer_so() -> None:
        if status < 0:  # the phone offline: every request fails in the network
            phone.execute_cdp_cmd("Network.enable", {})
            phone.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
        else:
            phone.execute_script(ANSWER_IN_PAGE, WHEN[when], status, code)

    try:
        if WHEN[when] == "/decision":
            _, binding = start_ciba(server)
            open_request(phone, "Logiciel de cabinet", binding)
            pin_on_pad(phone, PIN)
            answer_so()
            css(phone, "#approve").click()
        else:
            answer_so()
            # A push message makes the app poll at once.
            phone.execute_script(
                "navigator.serviceWorker.dispatchEvent("
                "new MessageEvent('message', {data: {type: 'request'}}))"
            )
        expected = french if language == "fr" else english
        wait_for(lambda: text_of(phone, WHERE[where]) == expected, what=expected)
        assert phone.execute_script("return navigator.onLine") is (status >= 0)
    finally:
        if status < 0:
            phone.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)

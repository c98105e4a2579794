"""The admin console in a real headless Chromium against a real server: sign in as the sandbox
demo admin, register a client and give it a new secret, revoke an e-CPS device, rotate the
signing key, and see the dashboard's charts count the logins made meanwhile; every change is an
admin event. Reloading the page a change leads to changes nothing again and shows its secret no
more; a form of a second tab posted after a sign-out is not sent, and the sign-in leads back to
its page."""

from __future__ import annotations

import json
import os

import pytest
import requests

from tests.support.browser import click_and_wait
from tests.support.browser import start_browser
from tests.support.operations import REDIRECT_URI
from tests.support.operations import full_login
from tests.support.operations import run
from tests.support.operations import sandbox_professional
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.browser]

ECPS_PROFESSIONAL = "810000000004"
SECRET = "a-secret-registered-from-the-console-0123456789"


@pytest.fixture
def browser(tmp_path):
    driver = start_browser(tmp_path / "profile")  # phone-sized
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def server(tmp_path, redis_url):
    with santeid_process(
        tmp_path,
        args=(),
        # The console rotates and retires this server's keys: the ones its first start makes.
        fresh_keys=True,
        SANTEID_DEVICE_FILE=str(tmp_path / "device.json"),
        # The activation code made by the command must reach the server: a shared store.
        SANTEID_STORE_URL=redis_url,
    ) as process:
        yield {"base": process.base, "issuer": process.issuer, "env": process.env}


def _submit(driver, button_id: str) -> None:
    click_and_wait(driver, driver.find_element("id", button_id))


def _series_total(driver, chart_id: str, series: str) -> int:
    for item in driver.find_elements("css selector", f"#{chart_id}-h ~ ul.legend li span"):
        if item.get_attribute("data-series-total") == series:
            return int(item.text)
    return 0


def _authenticates(issuer: str, client_id: str, secret: str) -> bool:
    """Whether the token endpoint takes ``secret`` as ``client_id``'s: with a made-up code, an
    authenticated client is told ``invalid_grant``, any other ``unauthorized_client``."""
    answer = requests.post(f"{issuer}/protocol/openid-connect/token", timeout=10, data={
        "grant_type": "authorization_code", "code": "made-up", "redirect_uri": REDIRECT_URI,
        "client_id": client_id, "client_secret": secret})  # fmt: skip
    assert answer.json()["error"] in ("invalid_grant", "unauthorized_client"), answer.text
    return answer.json()["error"] == "invalid_grant"


def _kids(driver) -> set[str]:
    return {e.get_attribute("data-kid") for e in driver.find_elements("css selector", "[data-kid]")}


def test_admin_console(server, browser):
    base, env = server["base"], server["env"]
    activation = json.loads(run(env, "ecps", "activate", ECPS_PROFESSIONAL, "--json"))
    run(env, "device", "enroll", "--activation-uri", activation["uri"], "--pin", "246810")

    # Off-limits without signing in; the demo admin is shown in sandbox mode only.
    browser.get(f"{base}/admin/clients")
    assert browser.current_url.endswith("/admin/login")
    assert "santeid-demo-admin" in browser.find_element("id", "demo-admin").text
    browser.find_element("id", "user").send_keys("admin")
    browser.find_element("id", "password").send_keys("wrong-password")
    _submit(browser, "sign-in")
    assert browser.find_element("id", "error").text
    # The user typed is kept (never the password): only the password is typed again.
    assert browser.find_element("id", "user").get_attribute("value") == "admin"
    assert browser.find_element("id", "password").get_attribute("value") == ""
    browser.find_element("id", "password").send_keys("santeid-demo-admin")
    _submit(browser, "sign-in")
    assert browser.find_element("tag name", "h1").text == "Tableau de bord"
    assert _series_total(browser, "logins-mode", "MOBILE") == 0
    # Readable at 390 px: nothing wider than the screen but the tables, which scroll inside
    # their own box, and no sideways scrolling of the page.
    wide = browser.execute_script(
        "const w = document.documentElement.clientWidth; return [...document.querySelectorAll"
        "('body *')].filter(e => !e.closest('.table-scroll'))"
        ".filter(e => e.getBoundingClientRect().right > w + 1).map(e => e.tagName +"
        " '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"
    )
    assert wide == [], wide
    assert browser.execute_script("return document.documentElement.clientWidth") == 390
    assert browser.execute_script("return document.documentElement.scrollWidth") == 390
    chart = browser.find_element("id", "logins-mode")
    assert chart.get_attribute("role") == "img" and chart.size["width"] <= 390

    # Register a client from RFC 7591 metadata.
    browser.get(f"{base}/admin/clients")
    metadata = {"client_id": "rp-console", "client_name": "RP console", "client_secret": SECRET,
                "redirect_uris": [REDIRECT_URI]}  # fmt: skip
    area = browser.find_element("id", "metadata")
    area.clear()
    area.send_keys(json.dumps(metadata))
    _submit(browser, "register")
    assert "rp-console" in browser.find_element("id", "notice").text
    assert browser.find_elements("css selector", 'tr[data-client="rp-console"]')

    # A new secret, shown once; reloading the page (F5) neither makes another one — the one
    # shown still authenticates the client — nor shows it again.
    rotate = browser.find_element("css selector", 'tr[data-client="rp-console"] button.rotate')
    click_and_wait(browser, rotate)
    assert browser.current_url == f"{base}/admin/clients"
    assert "rp-console" in browser.find_element("id", "notice").text
    secret = browser.find_element("id", "new-secret").text
    assert secret and _authenticates(server["issuer"], "rp-console", secret)
    browser.refresh()
    assert browser.find_element("tag name", "h1").text == "Clients"
    assert not browser.find_elements("id", "new-secret")
    assert not browser.find_elements("id", "notice")
    assert secret not in browser.page_source
    assert _authenticates(server["issuer"], "rp-console", secret)
    assert not _authenticates(server["issuer"], "rp-console", SECRET)

    # Revoke the professional's e-CPS device.
    browser.get(f"{base}/admin/professionals?q={ECPS_PROFESSIONAL}")
    row = browser.find_element("css selector", "#devices tr[data-device]")
    device_id = row.get_attribute("data-device")
    click_and_wait(browser, row.find_element("css selector", "button.revoke"))
    assert device_id in browser.find_element("id", "notice").text
    status = browser.find_element("css selector", f'tr[data-device="{device_id}"] .status')
    assert status.text != "active"

    # Rotate the signing key: a new kid is listed and published.
    browser.get(f"{base}/admin/keys")
    before = {
        e.get_attribute("data-kid") for e in browser.find_elements("css selector", "tr[data-kid]")
    }
    _submit(browser, "rotate-key")
    after = {
        e.get_attribute("data-kid") for e in browser.find_elements("css selector", "tr[data-kid]")
    }
    (new_kid,) = after - before
    browser.refresh()  # no second rotation
    assert _kids(browser) == after and not browser.find_elements("id", "notice")
    jwks = requests.get(f"{server['issuer']}/protocol/openid-connect/certs", timeout=5).json()
    assert new_kid in {key["kid"] for key in jwks["keys"]}

    # Retire that key: a newer one signs, the retired one stays published until the tokens it
    # signed have expired (the date is shown).
    _submit(browser, f"retire-{new_kid}")
    assert new_kid in browser.find_element("id", "notice").text
    retired = browser.find_element("css selector", f'tr[data-kid="{new_kid}"]')
    assert retired.get_attribute("data-status") == "retired"
    published_until = retired.find_elements("tag name", "td")[5].text
    assert published_until and published_until in browser.find_element("id", "notice").text
    (newest,) = _kids(browser) - after
    assert (
        browser.find_element("css selector", f'tr[data-kid="{newest}"]').get_attribute(
            "data-status"
        )
        == "active"
    )
    assert not browser.find_elements("id", f"retire-{new_kid}")  # retired keys offer nothing
    jwks = requests.get(f"{server['issuer']}/protocol/openid-connect/certs", timeout=5).json()
    assert {new_kid, newest} <= {key["kid"] for key in jwks["keys"]}

    # Logins through the client registered above; the dashboard counts them.
    national_id = sandbox_professional(env)
    for _ in range(2):
        full_login(server["issuer"], national_id, client_id="rp-console", secret=secret)
    browser.get(f"{base}/admin/?lang=en")
    assert browser.find_element("tag name", "h1").text == "Dashboard"
    assert _series_total(browser, "logins-mode", "MOBILE") == 2
    assert _series_total(browser, "logins-outcome", "success") == 2
    if os.environ.get("SANTEID_ADMIN_SCREENSHOT"):  # docs/images/admin-dashboard.png
        browser.save_screenshot(os.environ["SANTEID_ADMIN_SCREENSHOT"])
    # Response times since the start, from the duration histogram: the two code redemptions.
    token_row = browser.find_element("css selector", '#latency tr[data-family="token"]')
    assert int(token_row.find_elements("tag name", "td")[0].text) >= 2
    csv_url = browser.find_element("id", "csv").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    figures = requests.get(csv_url, cookies=cookies, timeout=5)
    assert figures.headers["Content-Type"].startswith("text/csv")
    mobile = [line for line in figures.text.splitlines() if line.startswith("logins-mode,")]
    assert sum(int(line.rsplit(",", 1)[1]) for line in mobile if ",MOBILE," in line) == 2

    # Every change is an admin event.
    admin_events = json.loads(run(env, "events", "list", "--type", "ADMIN_CLIENT", "--type",
                                  "ADMIN_DEVICE", "--type", "ADMIN_KEY", "--json"))  # fmt: skip
    changes = [(e["type"], e["reason"], e["details"]["channel"]) for e in admin_events]
    assert len(changes) == len(set(changes))  # each once: no reload sent a form again
    assert set(changes) == {
        ("ADMIN_DEVICE", "activation", "cli"),  # the command at the start
        ("ADMIN_CLIENT", "register", "console"),
        ("ADMIN_CLIENT", "rotate_secret", "console"),
        ("ADMIN_DEVICE", "revoke", "console"),
        ("ADMIN_KEY", "rotate", "console"),
        ("ADMIN_KEY", "retire", "console"),
    }
    (retirement,) = [e for e in admin_events if e["reason"] == "retire"]
    assert retirement["details"] == {
        "admin": "admin", "channel": "console", "kid": newest, "retired": new_kid
    }  # fmt: skip
    # A form posted without the session's CSRF token changes nothing.
    forged = requests.post(f"{base}/admin/keys", cookies=cookies, timeout=5, allow_redirects=False)
    assert forged.status_code == 400
    forged = requests.post(
        f"{base}/admin/keys", data={"retire": newest}, cookies=cookies, timeout=5,
        allow_redirects=False,
    )  # fmt: skip
    assert forged.status_code == 400
    listed = json.loads(run(env, "keys", "list", "--json"))
    assert {k["kid"] for k in listed if k["status"] == "active"} >= {newest}

    # A second tab signs out; the first tab's form, posted afterwards, is not sent: the login
    # page says so, and the sign-in leads back to the page the form was on.
    browser.get(f"{base}/admin/professionals?q={ECPS_PROFESSIONAL}&lang=fr")
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"{base}/admin/keys")
    _submit(browser, "sign-out")
    browser.close()
    browser.switch_to.window(first)
    _submit(browser, "start-activation")
    assert browser.current_url == f"{base}/admin/login"
    assert "formulaire n'a pas été envoyé" in browser.find_element("id", "notice").text
    browser.find_element("id", "user").send_keys("admin")
    browser.find_element("id", "password").send_keys("santeid-demo-admin")
    _submit(browser, "sign-in")
    assert browser.current_url == f"{base}/admin/professionals?q={ECPS_PROFESSIONAL}"
    assert ECPS_PROFESSIONAL in browser.find_element("id", "professional").text
    assert not browser.find_elements("id", "activation-code")
    devices = json.loads(run(env, "events", "list", "--type", "ADMIN_DEVICE", "--json"))
    assert [e["details"]["channel"] for e in devices if e["reason"] == "activation"] == ["cli"]

"""The pages around the e-CPS app on a phone (390 px wide, headless Chromium): the activation
pages, the sandbox outbox, the devices page and its revoke confirmation, and the login page,
never wider than the screen (``document.documentElement.scrollWidth <= 390``), without a
violation of the WCAG 2.1 A/AA rules axe-core checks (labels, names, contrast…)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from selenium.webdriver.common.by import By

from santeid.ecps.simulator import DeviceSimulator
from tests.support.browser import PHONE_SIZE
from tests.support.browser import assert_accessible
from tests.support.browser import start_browser
from tests.support.browser import wait_for
from tests.support.ecps_app_server import santeid_cli

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.browser]

#: Sandbox professional with correspondence e-mail and phone, logged in automatically.
AUTO = "810000000001"
PIN = "135790"


def css(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def assert_fits(driver, what: str) -> None:
    """No horizontal scrolling, and no violation axe-core finds (labels, names, contrast…)."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE_SIZE[0], f"{what}: {width} px wide on a {PHONE_SIZE[0]} px screen"
    assert_accessible(driver, what)


def small_targets(driver) -> list[str]:
    """Buttons and button-like links of the page lower than 44 px (WCAG 2.5.5)."""
    return driver.execute_script(
        """return [...document.querySelectorAll('button, a.button, input[type=submit]')]
             .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
             .map(e => e.outerHTML.slice(0, 80));"""
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("layout-profile"))
    yield driver
    driver.quit()


def test_activation_and_outbox_pages_fit_a_phone(server, browser):
    browser.get(f"{server.base}/ecps/activation")
    assert_fits(browser, "activation form")
    css(browser, "#national_id").send_keys(AUTO)
    css(browser, "#submit").click()
    wait_for(lambda: css(browser, "#email_code"), what="the codes page")
    assert_fits(browser, "codes page")
    browser.get(f"{server.base}/sandbox/outbox")
    assert_fits(browser, "sandbox outbox")
    bodies = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".outbox-message pre")]
    codes = {}
    for to, text in zip(
        [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".outbox-message h2")],
        bodies,
        strict=True,
    ):
        code = next(w for w in text.replace(",", " ").split() if w.isdigit() and len(w) == 6)
        codes.setdefault("sms" if "SMS" in to else "email", code)
    browser.back()
    wait_for(lambda: css(browser, "#email_code"), what="the codes page again")
    css(browser, "#email_code").send_keys(codes["email"])
    css(browser, "#sms_code").send_keys(codes["sms"])
    css(browser, "#submit").click()
    wait_for(lambda: css(browser, "#activation-uri"), what="the QR page")
    assert_fits(browser, "QR page")
    assert small_targets(browser) == []


def test_devices_page_and_revoke_confirmation_fit_a_phone(server, browser):
    query = urlencode({"ui_locales": "fr"})
    browser.get(f"{server.base}/ecps/devices?{query}")
    css(browser, "#national_id").send_keys(AUTO)
    assert_fits(browser, "login page")
    css(browser, "#submit").click()
    wait_for(lambda: css(browser, "#devices-owner"), what="the devices page", timeout=30)
    # A phone of the professional's, enrolled after the login (it would otherwise be asked).
    link = json.loads(santeid_cli(server.env, "ecps", "activate", AUTO, "--json"))["app_link"]
    phone = DeviceSimulator.enroll(link, PIN, name="Pixel 8 de la Dre Martin-Fauvel")
    browser.refresh()
    row = wait_for(lambda: css(browser, f"#device-{phone.device.device_id}"))
    assert "Pixel 8" in row.text
    assert_fits(browser, "devices page")
    assert small_targets(browser) == []
    css(browser, f"#device-{phone.device.device_id} a.button").click()
    wait_for(lambda: css(browser, "#confirm-revoke"), what="the confirmation")
    assert_fits(browser, "revoke confirmation")
    assert phone.me()["status"] == "active"  # asked, not yet revoked
    css(browser, "#confirm-revoke").click()
    wait_for(lambda: css(browser, "#notice-1"), what="the notice")
    assert phone.me()["status"] == "revoked"

"""The debugger in real headless Chromium against a real ``santeid serve --sandbox``: from the
home page, a code-flow login with PKCE, the callback, the code exchange, decoded tokens,
userinfo, introspection, refresh and logout; then a CIBA request whose live status turns to
tokens when the control API approves it."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.support.browser import start_afresh
from tests.support.browser import start_browser
from tests.support.browser import wait_for
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

DESKTOP = (1280, 900)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(tmp_path_factory.mktemp("debugger")) as process:
        yield process.base


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("debugger-profile"), size=DESKTOP)
    yield driver
    driver.quit()


@pytest.fixture
def page(server, browser):
    """The module's browser with nothing left by the previous test: no single sign-on cookie,
    no storage, no cache (the debugger keeps its own state on the server)."""
    start_afresh(browser, server)
    return browser


def css(driver, selector: str):
    return driver.find_element(By.CSS_SELECTOR, selector)


def text_of(driver, selector: str) -> str:
    return css(driver, selector).text


def visible(driver, selector: str):
    return wait_for(
        lambda: (element := css(driver, selector)).is_displayed() and element,
        what=selector,
    )


def fill(driver, selector: str, text: str) -> None:
    """Replace the field's value, as a person selecting it and typing would."""
    field = visible(driver, selector)
    field.clear()
    field.send_keys(text)


def call_named(driver, name: str) -> bool:
    return any(e.text == name for e in driver.find_elements(By.CSS_SELECTOR, ".call-name"))


def test_code_flow_from_the_home_page_to_logout(server, page):
    page.get(server + "/")
    page.find_element(By.PARTIAL_LINK_TEXT, "Débogueur OpenID Connect").click()
    Select(visible(page, "#pkce")).select_by_value("S256")
    css(page, "#build").click()
    wait_for(lambda: "code_challenge_method" in text_of(page, "#request-params"))
    css(page, "#run").click()
    fill(page, "#national_id", "810000000030")
    css(page, "#submit").click()
    # The waiting page continues by itself (approved at once) to the debugger's callback.
    visible(page, "#exchange")
    assert text_of(page, "#callback-iss").startswith(server)
    css(page, "#exchange").click()
    id_token = visible(page, "#id-token .decoded-payload").text
    assert '"SubjectNameID": "810000000030"' in id_token
    assert '"acr": "eidas1"' in id_token
    assert '"alg": "RS256"' in text_of(page, "#access-token .decoded-header")

    for button, name in (("#userinfo", "userinfo"), ("#introspect", "introspect")):
        css(page, button).click()
        wait_for(lambda name=name: call_named(page, name), what=name)
    calls = text_of(page, "#calls")
    assert "userinfo → HTTP 200" in calls and '"SubjectRefPro"' in calls
    assert "introspect → HTTP 200" in calls and '"active": true' in calls
    css(page, "#refresh").click()
    wait_for(lambda: call_named(page, "refresh"), what="refresh")
    assert "refresh → HTTP 200" in text_of(page, "#calls")

    result_url = page.current_url.split("#")[0]
    css(page, "#logout").click()
    wait_for(lambda: page.current_url.startswith(server + "/sandbox/debugger"), what="return")
    assert visible(page, "#code-form")
    # The session is over: userinfo's refusal is a challenge and an empty body, shown as such.
    page.get(result_url)
    css(page, "#userinfo").click()
    wait_for(lambda: "userinfo → HTTP 401" in text_of(page, "#calls"), what="refusal")
    assert 'error_description="user_session_not_found"' in text_of(page, ".call-challenge")


def test_ciba_status_turns_to_tokens_when_approved(server, page):
    page.get(server + "/sandbox/debugger")
    fill(page, "#ciba-login-hint", "810000000034")  # never answers by itself
    css(page, "#ciba-start").click()
    wait_for(lambda: text_of(page, "#ciba-status") == "authorization_pending", what="pending")
    api = server + "/sandbox/api"
    [item] = requests.get(f"{api}/professionals/810000000034/requests", timeout=5).json()[
        "requests"
    ]
    assert item["binding_message"] == "A1B2"
    assert requests.post(f"{api}/requests/{item['request_id']}/approve", timeout=5).ok
    visible(page, "#ciba-result-link").click()
    payload = visible(page, "#id-token .decoded-payload").text
    assert '"SubjectNameID": "810000000034"' in payload


def test_ciba_denied_shows_access_denied(server, page):
    page.get(server + "/sandbox/debugger")
    fill(page, "#ciba-login-hint", "810000000032")  # denies
    css(page, "#ciba-start").click()
    wait_for(lambda: text_of(page, "#ciba-status") == "access_denied", what="access_denied")


#: Every URL the page loaded: the document, then each resource (scripts, styles, fetches).
LOADED_URLS = """
return [location.href, ...performance.getEntriesByType("resource").map(e => e.name)];
"""


@pytest.mark.parametrize("name", ["insi", "ecps-device", "sandbox"])
def test_swagger_ui_renders_each_api_without_a_cdn(server, page, name):
    page.get(f"{server}/api-docs/{name}")
    wait_for(lambda: len(page.find_elements(By.CSS_SELECTOR, ".opblock")) >= 3, what="ops")
    loaded = page.execute_script(LOADED_URLS)
    assert len(loaded) > 1
    assert [url for url in loaded if not url.startswith(server)] == []


def test_home_page_links_every_sandbox_page(server, page):
    page.get(server + "/")
    links = [
        a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "#sandbox-links a")
    ]
    assert any(link.endswith("/sandbox/debugger") for link in links)
    for link in links:
        assert requests.get(link, timeout=5).status_code == 200, link
    assert "810000000032" in text_of(page, "#scenario-table")

"""The debugger in real headless Chromium against a real ``santeid serve --sandbox``: from the
home page, a code-flow login with PKCE, the callback, the code exchange, decoded tokens,
userinfo, introspection, refresh and logout; then a CIBA request whose live status turns to
tokens when the control API approves it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import requests

from fixtures_redis import free_port
from server_process import running_server

pytestmark = pytest.mark.server

CHROMIUM = "/usr/bin/chromium"
SANTEID = str(Path(sys.executable).with_name("santeid"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev dependency)")
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("debugger")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_SANDBOX="true",
        SANTEID_SANDBOX_APPROVAL_DELAY="0",
        SANTEID_ISSUER=f"{base}/auth/realms/esante-wallet",
    )
    with running_server(
        [SANTEID, "serve", "--sandbox", "--port", str(port)],
        env,
        home / "server.log",
        f"{base}/health",
    ):
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_code_flow_from_the_home_page_to_logout(server, page):
    page.goto(server + "/")
    page.click("text=Débogueur OpenID Connect")
    page.select_option("#pkce", "S256")
    page.click("#build")
    assert "code_challenge_method" in page.inner_text("#request-params")
    page.click("#run")
    page.fill("#national_id", "810000000030")
    page.click("#submit")
    # The waiting page continues by itself (approved at once) to the debugger's callback.
    page.wait_for_selector("#exchange")
    assert page.inner_text("#callback-iss").startswith(server)
    page.click("#exchange")
    page.wait_for_selector("#id-token .decoded-payload")
    id_token = page.inner_text("#id-token .decoded-payload")
    assert '"SubjectNameID": "810000000030"' in id_token
    assert '"acr": "eidas1"' in id_token
    assert '"alg": "RS256"' in page.inner_text("#access-token .decoded-header")

    for button, name in (("#userinfo", "userinfo"), ("#introspect", "introspect")):
        page.click(button)
        page.wait_for_selector(f".call-name:text-is('{name}')")
    calls = page.inner_text("#calls")
    assert "userinfo → HTTP 200" in calls and '"SubjectRefPro"' in calls
    assert "introspect → HTTP 200" in calls and '"active": true' in calls
    page.click("#refresh")
    page.wait_for_selector(".call-name:text-is('refresh')")
    assert "refresh → HTTP 200" in page.inner_text("#calls")

    page.click("#logout")
    page.wait_for_url(server + "/sandbox/debugger*")
    assert page.is_visible("#code-form")


def test_ciba_status_turns_to_tokens_when_approved(server, page):
    page.goto(server + "/sandbox/debugger")
    page.fill("#ciba-login-hint", "810000000034")  # never answers by itself
    page.click("#ciba-start")
    sync_api.expect(page.locator("#ciba-status")).to_have_text("authorization_pending")
    api = server + "/sandbox/api"
    [item] = requests.get(f"{api}/professionals/810000000034/requests", timeout=5).json()[
        "requests"
    ]
    assert item["binding_message"] == "A1B2"
    assert requests.post(f"{api}/requests/{item['request_id']}/approve", timeout=5).ok
    page.wait_for_selector("#ciba-result-link", state="visible")
    page.click("#ciba-result-link")
    assert '"SubjectNameID": "810000000034"' in page.inner_text("#id-token .decoded-payload")


def test_ciba_denied_shows_access_denied(server, page):
    page.goto(server + "/sandbox/debugger")
    page.fill("#ciba-login-hint", "810000000032")  # denies
    page.click("#ciba-start")
    sync_api.expect(page.locator("#ciba-status")).to_have_text("access_denied")


@pytest.mark.parametrize("name", ["insi", "ecps-device", "sandbox"])
def test_swagger_ui_renders_each_api_without_a_cdn(server, page, name):
    outside = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server) else None,
    )
    page.goto(f"{server}/api-docs/{name}")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 3
    assert outside == []


def test_home_page_links_every_sandbox_page(server, page):
    page.goto(server + "/")
    links = page.eval_on_selector_all("#sandbox-links a", "nodes => nodes.map(n => n.href)")
    assert any(link.endswith("/sandbox/debugger") for link in links)
    for link in links:
        assert requests.get(link, timeout=5).status_code == 200, link
    assert "810000000032" in page.inner_text("#scenario-table")

"""The admin console's buttons act on the row they are in, in a real Chromium against a real
server, whatever the identifier of that row holds. A client id may hold ``/`` and ``..``
(santeid keeps Keycloak's permissive ids, docs/operations.md "Admin console"): a button whose
URL carried the id in its path was rewritten by the browser before it was sent — the URL
Standard removes a ``..`` segment and the one before it (https://url.spec.whatwg.org/#path-state)
— so "New secret" and "Remove" of ``rp/../rp-victim`` rotated and removed ``rp-victim``; and an
id with a ``/`` matched no route (404). The buttons post the identifier in their form."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import requests

from tests.support.browser import click_and_wait
from tests.support.browser import start_browser
from tests.support.operations import run
from tests.support.security import REDIRECT_URI
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

VICTIM = "rp-victim"
#: Rewritten by the browser into the victim's path when it stood in one.
DOTTED = "rp/../rp-victim"
#: A URL as client id, as a SAML client's entity id is in Keycloak.
URL_ID = "https://rp.example.org/app"
SECRETS = {
    VICTIM: "the-victim-secret-0123456789abcdef",
    DOTTED: "the-dotted-secret-0123456789abcdef",
    URL_ID: "the-url-id-secret-0123456789abcdef",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("targets")
    with santeid_process(home, SANTEID_STORE_URL="memory://") as process:
        for client_id, secret in SECRETS.items():
            # From standard input: a file named after the id would need its folders.
            document = {"client_id": client_id, "client_secret": secret,
                        "redirect_uris": [REDIRECT_URI]}  # fmt: skip
            process.cli("clients", "add", "-", stdin=json.dumps(document))
        yield process


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    """Chromium, signed in to the console as the sandbox demo admin."""
    driver = start_browser(tmp_path_factory.mktemp("profile"), size=(1280, 900))
    driver.implicitly_wait(5)
    driver.get(f"{server.base}/admin/login")
    driver.find_element("id", "user").send_keys("admin")
    driver.find_element("id", "password").send_keys("santeid-demo-admin")
    click_and_wait(driver, driver.find_element("id", "sign-in"))
    yield driver
    driver.quit()


def _authenticates(server, client_id: str, secret: str) -> bool:
    """Whether the token endpoint takes ``secret`` as ``client_id``'s: with a made-up code, an
    authenticated client is told ``invalid_grant``, any other ``unauthorized_client`` (Keycloak's
    answer to wrong client credentials)."""
    answer = requests.post(f"{server.oidc}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": "made-up", "redirect_uri": REDIRECT_URI,
        "client_id": client_id, "client_secret": secret})  # fmt: skip
    assert answer.json()["error"] in ("invalid_grant", "unauthorized_client"), answer.text
    return answer.json()["error"] == "invalid_grant"


def _listed(browser) -> set[str]:
    rows = browser.find_elements("css selector", "#clients tr[data-client]")
    return {row.get_attribute("data-client") for row in rows}


def _button(browser, client_id: str, name: str):
    for row in browser.find_elements("css selector", "#clients tr[data-client]"):
        if row.get_attribute("data-client") == client_id:
            return row.find_element("css selector", f"button.{name}")
    raise AssertionError(f"no row for {client_id!r}")


def test_each_button_acts_on_the_client_of_its_row(server, browser):
    browser.get(f"{server.base}/admin/clients")
    assert _listed(browser) >= set(SECRETS)

    click_and_wait(browser, _button(browser, DOTTED, "rotate"))
    assert DOTTED in browser.find_element("id", "notice").text
    new_secret = browser.find_element("id", "new-secret").text
    assert _authenticates(server, DOTTED, new_secret)
    assert not _authenticates(server, DOTTED, SECRETS[DOTTED])
    assert _authenticates(server, VICTIM, SECRETS[VICTIM])  # untouched

    click_and_wait(browser, _button(browser, DOTTED, "remove"))
    assert DOTTED in browser.find_element("id", "notice").text
    assert DOTTED not in _listed(browser) and VICTIM in _listed(browser)
    click_and_wait(browser, _button(browser, URL_ID, "remove"))
    assert URL_ID in browser.find_element("id", "notice").text
    assert _listed(browser) & set(SECRETS) == {VICTIM}
    assert _authenticates(server, VICTIM, SECRETS[VICTIM])

    # The admin events name the clients acted on.
    changes = json.loads(run(server.env, "events", "list", "--type", "ADMIN_CLIENT", "--json"))
    console = [e for e in changes if e["source"] != "cli"]  # not the registrations above
    assert sorted((e["reason"], e["client_id"]) for e in console) == sorted(
        [("rotate_secret", DOTTED), ("remove", DOTTED), ("remove", URL_ID)]
    )


#: A structure's staff member: the national identifier holds a ``/`` (docs/psc-integration.md).
STAFF = "30B6900011/ADM0107"


def test_an_activation_code_for_a_national_id_holding_a_slash(server, browser):
    browser.get(f"{server.base}/admin/professionals?" + urlencode({"q": STAFF}))
    assert STAFF in browser.find_element("id", "professional").text
    click_and_wait(browser, browser.find_element("id", "start-activation"))
    assert browser.find_element("id", "activation-code").text
    assert STAFF in browser.find_element("id", "professional").text
    changes = json.loads(run(server.env, "events", "list", "--type", "ADMIN_DEVICE", "--json"))
    assert [(e["reason"], e["professional"]) for e in changes] == [("activation", STAFF)]

"""The SSO session never answers for another professional than the one a service names, against
a real server: a browser logged in as professional A, a service asking — silently or not — for
professional B by ``login_hint`` or by B's ``id_token_hint`` gets the login page or
``login_required``, never a code for A; a hint that is no ID token of this server is refused.
Keycloak would answer for A (docs/psc-integration.md §5.1: a difference kept on purpose)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import REDIRECT_URI
from tests.support.security import SECRET
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("sso-hints"), clients=[CLIENT], SANTEID_STORE_URL="memory://"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def professionals(server) -> list[str]:
    listing = json.loads(server.cli("directory", "list", "--sandbox", "--json").stdout)
    return [p["national_id"] for p in listing if p["sandbox_auto_approve"]][:2]


def _authorize(server, browser: requests.Session, **params) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "s" * 16,
        "nonce": "n" * 16,
        **params,
    }
    return browser.get(f"{server.oidc}/auth?{urlencode(query)}", allow_redirects=False, timeout=10)


def _callback(response: requests.Response) -> dict:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _login(server, national_id: str) -> tuple[requests.Session, dict]:
    """A browser logged in as ``national_id`` (auto-approved), and the service's tokens."""
    browser = requests.Session()
    browser.trust_env = False
    response = _authorize(server, browser)
    assert response.status_code == 302, response.text
    login_url = urljoin(response.url, response.headers["Location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(login_url).text)[1]
    posted = browser.post(
        login_url,
        data={"national_id": national_id, "csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 303, posted.text
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    actions = f"{server.issuer}/login-actions"
    for _ in range(100):
        if browser.get(f"{actions}/status", params={"tx": tx}).json()["state"] == "approved":
            break
        time.sleep(0.05)
    done = browser.get(f"{actions}/complete", params={"tx": tx}, allow_redirects=False)
    code = _callback(done)["code"]
    tokens = requests.post(
        f"{server.oidc}/token",
        auth=(CLIENT_ID, SECRET),
        timeout=10,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
    )
    assert tokens.status_code == 200, tokens.text
    return browser, tokens.json()


def test_a_hint_for_another_professional_never_gets_the_sessions_identity(server, professionals):
    first, second = professionals
    _, theirs = _login(server, second)
    browser, _ = _login(server, first)
    # The session still answers for its own professional (the test's control)…
    assert "code" in _callback(_authorize(server, browser, prompt="none", login_hint=first))
    # …never for another one, named by login_hint or by their ID token.
    for hint in ({"login_hint": second}, {"id_token_hint": theirs["id_token"]}):
        silent = _callback(_authorize(server, browser, prompt="none", **hint))
        assert silent["error"] == "login_required", hint
        shown = _authorize(server, browser, **hint)
        assert shown.status_code == 302
        assert "/login-actions/authenticate" in shown.headers["Location"], hint


def test_an_id_token_hint_of_no_server_of_ours_is_refused(server, professionals):
    browser, tokens = _login(server, professionals[0])
    head, body, signature = tokens["id_token"].split(".")
    forged = f"{head}.{body}.{signature[::-1]}"
    refused = _callback(_authorize(server, browser, prompt="none", id_token_hint=forged))
    assert refused["error"] == "invalid_request"
    assert "code" not in refused

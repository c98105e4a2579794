"""A real server: a code obtained by SSO just before a logout buys no tokens afterwards
(Keycloak finds no user session for it, ``invalid_grant`` "Code not valid",
docs/reference/keycloak-behaviour.md, "Token endpoint"), so nobody holds tokens of a session
that no later logout could revoke."""

from __future__ import annotations

import time
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import REDIRECT_URI
from tests.support.operations import SECRET
from tests.support.operations import sandbox_professional
from tests.support.operations import start_login
from tests.support.operations import submit_identifier
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]


def _complete(browser: requests.Session, login_url: str) -> str:
    """Wait for the sandbox's approval and return the redirect to the client."""
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    actions = urljoin(login_url, "./")
    for _ in range(100):
        if browser.get(actions + "status", params={"tx": tx}).json()["state"] == "approved":
            break
        time.sleep(0.1)
    done = browser.get(actions + "complete", params={"tx": tx}, allow_redirects=False)
    assert done.status_code == 302
    return done.headers["Location"]


def _code(location: str) -> str:
    assert location.startswith(REDIRECT_URI), location
    return parse_qs(urlsplit(location).query)["code"][0]


def _exchange(server, code: str, **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    return requests.post(
        f"{server.oidc}/token",
        data={**data, **extra},
        auth=(CLIENT_ID, SECRET),
        timeout=10,
    )


def test_a_code_from_before_the_logout_buys_no_tokens(tmp_path):
    with santeid_process(tmp_path, clients=[CLIENT]) as server:
        _, verifier, browser, login_url = start_login(server.issuer)
        submit_identifier(browser, login_url, sandbox_professional(server.env))
        code = _code(_complete(browser, login_url))
        first = _exchange(server, code, code_verifier=verifier)
        assert first.status_code == 200, first.text
        tokens = first.json()

        # Same browser, same SSO session: a second code without a login page, kept aside.
        again = browser.get(
            f"{server.oidc}/auth",
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid scope_all",
                "prompt": "none",
            },
            allow_redirects=False,
        )
        assert again.status_code == 302
        kept = _code(again.headers["Location"])

        logout = requests.get(
            f"{server.oidc}/logout", params={"id_token_hint": tokens["id_token"]}, timeout=10
        )
        assert logout.status_code == 200

        late = _exchange(server, kept)
        assert late.status_code == 400
        assert late.json() == {"error": "invalid_grant", "error_description": "Code not valid"}
        userinfo = requests.get(
            f"{server.oidc}/userinfo",
            headers={"Authorization": "Bearer " + tokens["access_token"]},
            timeout=10,
        )
        assert userinfo.status_code == 401

"""Two ``santeid serve --sandbox`` in one checkout (one data folder, two ports), as the README
has it (``make run``, then a second server for CPS cards or Redis): each one's built-in clients
— the debugger's ``santeid-debugger`` and the devices page's ``santeid-account`` — keep working,
whichever started last."""

from __future__ import annotations

from urllib.parse import urlencode
from urllib.parse import urljoin

import pytest
import requests

from tests.support.servers import santeid_process

pytestmark = pytest.mark.server


def debugger_authorization(base: str, issuer: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": "santeid-debugger",
        "redirect_uri": f"{base}/sandbox/debugger/callback",
        "scope": "openid scope_all",
        "state": "s" * 16,
    }
    return requests.get(
        f"{issuer}/protocol/openid-connect/auth?" + urlencode(params),
        allow_redirects=False,
        timeout=5,
    )


def devices_login(base: str) -> requests.Response:
    """The devices page sends a visitor to log in; where the authorization endpoint sends it."""
    browser = requests.Session()
    start = browser.get(f"{base}/ecps/devices", allow_redirects=False, timeout=5)
    assert start.status_code == 302, start.text
    return browser.get(
        urljoin(start.url, start.headers["Location"]), allow_redirects=False, timeout=5
    )


def test_the_first_servers_built_in_clients_survive_a_second_server(tmp_path):
    with santeid_process(tmp_path, log_name="first.log") as first:
        with santeid_process(tmp_path, log_name="second.log") as second:
            for server in (first, second):
                answer = debugger_authorization(server.base, server.issuer)
                assert answer.status_code == 302, answer.text
                assert "/login-actions/authenticate" in answer.headers["Location"]
                devices = devices_login(server.base)
                assert devices.status_code == 302, devices.text
                assert "/login-actions/authenticate" in devices.headers["Location"]
        # The second one stopped: the first one still works.
        answer = debugger_authorization(first.base, first.issuer)
        assert answer.status_code == 302, answer.text

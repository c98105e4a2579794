"""The admin console's sign-in limit against a real server: wrong passwords sent in parallel
from one address are checked at most 5 times (docs/security.md, "The client's
address behind a proxy"); the
count is taken before the password is checked, so racing requests cannot pass it."""

from __future__ import annotations

import json
import re

import pytest
import requests

from santeid.ecps.pin import PinHasher
from tests.support.attack_server import browser_from
from tests.support.concurrency import race
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

ADMIN_PASSWORD = "the-admin-password-of-the-race-tests"
SIGN_IN_FAILURES = 5  # santeid.rate_limits.ADMIN_SIGN_IN (docs/security.md)
#: Well over the limit, and under the server's 32 connections per address
#: (``max_connections_per_address``), which would close the rest unheard.
GUESSES = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("admin-sign-in-race")
    with santeid_process(
        home,
        # As many requests at once as there are guesses: the race is the server's to lose.
        args=("--threads", str(GUESSES)),
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
    ) as server:
        yield server


def _form(server, browser: requests.Session) -> str:
    page = browser.get(server.base + "/admin/login", timeout=10)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _sign_in(server, browser: requests.Session, csrf: str, password: str) -> int:
    return browser.post(
        server.base + "/admin/login",
        data={"user": "admin", "password": password, "csrf_token": csrf},
        allow_redirects=False,
        timeout=60,
    ).status_code


def test_wrong_passwords_sent_in_parallel_are_checked_at_most_the_limit(server):
    address = "127.0.0.9"
    attacker = browser_from(address)
    csrf = _form(server, attacker)

    def guess(i: int) -> int:
        client = browser_from(address)
        client.cookies.update(attacker.cookies)
        return _sign_in(server, client, csrf, f"wrong-password-{i}")

    statuses = race(guess, threads=GUESSES)
    assert set(statuses) <= {401, 429}, statuses
    # 401: the password was checked, and wrong; 429: refused unchecked.
    assert 1 <= statuses.count(401) <= SIGN_IN_FAILURES, statuses
    # The right password from that address is refused too: the limit is spent.
    assert _sign_in(server, attacker, csrf, ADMIN_PASSWORD) == 429

    listed = server.cli("events", "list", "--type", "ADMIN_LOGIN", "--json").stdout
    reasons = [e["reason"] for e in json.loads(listed) if e["source"] == address]
    assert reasons.count("failure") == statuses.count(401)
    assert reasons.count("throttled") == statuses.count(429) + 1
    assert "success" not in reasons

    # Another address still signs in.
    owner = browser_from("127.0.0.10")
    assert _sign_in(server, owner, _form(server, owner), ADMIN_PASSWORD) == 302
    assert "Traceback" not in server.log.read_text()

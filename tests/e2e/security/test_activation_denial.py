"""Self-service activation against a real server: a stranger asking codes for a professional
neither cancels the pair the professional's browser started nor spends the professional's
sends alone (limits per requesting address and per professional)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from tests.support.attack_server import browser_from
from tests.support.attack_server import santeid_server

pytestmark = [pytest.mark.server, pytest.mark.redis]

#: Demo professional with both contact data (docs/demo-professionals.md).
PROFESSIONAL = "810000000004"
EMAIL = "antoine.legrand@example.org"
PHONE = "0639980004"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE_RE = re.compile(r"\b([0-9]{6})\b")


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("activation-denial")
    with santeid_server(home, redis_server, db=12) as server:
        yield server


def ask_codes(server, browser):
    page = browser.get(f"{server.base}/ecps/activation", timeout=10)
    return browser.post(
        f"{server.base}/ecps/activation",
        data={"national_id": PROFESSIONAL, "csrf_token": CSRF_RE.search(page.text).group(1)},
        allow_redirects=False,
        timeout=10,
    )


def latest_codes(server, browser) -> tuple[str, str]:
    def latest(to: str) -> str:
        answer = browser.get(f"{server.base}/sandbox/outbox.json", params={"to": to}, timeout=10)
        return CODE_RE.search(answer.json()["messages"][0]["body"]).group(1)

    return latest(EMAIL), latest(PHONE)


def test_a_stranger_neither_cancels_the_owners_codes_nor_spends_all_sends(server):
    owner = browser_from("127.0.0.1")
    started = ask_codes(server, owner)
    assert started.status_code == 303
    flow = parse_qs(urlsplit(started.headers["Location"]).query)["flow"][0]
    email_code, sms_code = latest_codes(server, owner)

    stranger = browser_from("127.0.0.2")
    answers = [ask_codes(server, stranger).status_code for _ in range(4)]
    # Three sends per address (the default), then 429 for this requester.
    assert answers == [303, 303, 303, 429]
    # Another address still gets codes sent: the professional's budget (5) is not spent by
    # the first stranger alone.
    assert ask_codes(server, browser_from("127.0.0.3")).status_code == 303
    # Then the professional's own limit holds, whoever asks.
    assert ask_codes(server, browser_from("127.0.0.4")).status_code == 429

    # The owner's pair survived the strangers' requests: it activates.
    page = owner.get(f"{server.base}/ecps/activation/verify", params={"flow": flow}, timeout=10)
    assert page.status_code == 200
    done = owner.post(
        f"{server.base}/ecps/activation/verify",
        data={
            "flow": flow,
            "email_code": email_code,
            "sms_code": sms_code,
            "csrf_token": CSRF_RE.search(page.text).group(1),
        },
        timeout=10,
    )
    assert done.status_code == 200, done.text
    assert "/ecps/app/#activation=" in done.text
    assert "Traceback" not in server.log.read_text()

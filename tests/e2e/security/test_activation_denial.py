"""Self-service activation against a real server: a stranger asking codes for a professional
neither cancels the pair the professional's browser started nor spends the professional's
sends alone (limits per requesting address and per professional); guesses at one pair of codes
sent in parallel to two worker processes are compared at most 5 times (``ecps-activation-codes``,
docs/security.md, "Attempt and rate limits")."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest

from tests.support.attack_server import browser_from
from tests.support.attack_server import santeid_server
from tests.support.concurrency import race_http
from tests.support.redis_server import RedisServer
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

#: Demo professional with both contact data (docs/demo-professionals.md).
PROFESSIONAL = "810000000004"
EMAIL = "antoine.legrand@example.org"
PHONE = "0639980004"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE_RE = re.compile(r"\b([0-9]{6})\b")
#: Tries at one pair of codes: ``santeid.rate_limits.ECPS_ACTIVATION_CODES`` (docs/security.md).
CODE_TRIES = 5
#: Well over the limit, and under the server's 32 connections per address
#: (``max_connections_per_address``), which would close the rest unheard.
GUESSES = 20


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


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """``santeid serve --workers 2`` (Granian, two processes) on a Redis of its own: racing
    guesses reach different processes, and only the store counts them together."""
    home = tmp_path_factory.mktemp("activation-code-tries")
    with (
        RedisServer() as redis_server,
        santeid_process(home, args=["--sandbox", "--workers", "2", "--threads", str(GUESSES)],
                        SANTEID_STORE_URL=redis_server.url) as server,
    ):  # fmt: skip
        yield server


def _verify(server, browser, flow: str, csrf: str, email_code: str, sms_code: str):
    return browser.post(
        f"{server.base}/ecps/activation/verify",
        data={"flow": flow, "email_code": email_code, "sms_code": sms_code, "csrf_token": csrf},
        allow_redirects=False,
        timeout=60,
    )


def test_guesses_at_a_pair_of_codes_sent_in_parallel_are_compared_at_most_the_limit(workers):
    """Someone who asked codes for a professional (the pair is bound to their browser) guesses
    the two codes sent to the professional's e-mail and phone, all at once: each try is counted
    in the store before the codes are compared, so at most 5 are compared, the pair is then
    cancelled, and the right codes no longer activate anything."""
    server = workers
    address = "127.0.0.6"
    guesser = browser_from(address)
    started = ask_codes(server, guesser)
    assert started.status_code == 303, started.text
    flow = parse_qs(urlsplit(started.headers["Location"]).query)["flow"][0]
    email_code, sms_code = latest_codes(server, guesser)
    page = guesser.get(f"{server.base}/ecps/activation/verify", params={"flow": flow}, timeout=10)
    assert page.status_code == 200, page.text
    csrf = CSRF_RE.search(page.text).group(1)

    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in guesser.cookies)
    guesses = [
        urlencode({"flow": flow, "email_code": email_code, "csrf_token": csrf,
                   "sms_code": f"{(int(sms_code) + i) % 1_000_000:06d}"}).encode()
        for i in range(1, GUESSES + 1)
    ]  # fmt: skip
    answers = race_http(f"{server.base}/ecps/activation/verify", guesses, headers={
        "Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded",
    })  # fmt: skip

    def outcome(status: int, body: bytes) -> str:
        text = body.decode()
        assert status == 400, (status, text[:300])
        if "Essais restants" in text:
            return "compared"
        if "Trop de codes incorrects" in text:
            return "locked"
        assert "Ces codes ont expiré ou ont déjà servi" in text, text[:300]
        return "gone"

    outcomes = [outcome(*answer) for answer in answers]
    # "compared": a wrong pair, tries left; the try that spends the budget is compared too
    # and cancels the pair ("locked"), as do the tries beyond it, uncompared.
    assert 1 <= outcomes.count("compared") <= CODE_TRIES - 1, outcomes
    assert "locked" in outcomes, outcomes
    # The pair is gone: the right codes, sent last, activate nothing.
    late = _verify(server, guesser, flow, csrf, email_code, sms_code)
    assert late.status_code == 400
    assert "Ces codes ont expiré ou ont déjà servi" in late.text
    assert "Traceback" not in server.log.read_text()

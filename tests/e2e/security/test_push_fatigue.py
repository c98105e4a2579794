"""Push fatigue against a real server: starting logins for a professional piles no approval
requests on the phone (one pending at a time, the newest), starts are limited per professional
and per address, the phone sees where each request comes from, and a stranger typing wrong
offline codes locks only themselves."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from santeid.ecps.simulator import DeviceSimulator
from tests.support.attack_server import browser_from
from tests.support.attack_server import santeid_server

pytestmark = [pytest.mark.server, pytest.mark.redis]

NATIONAL_ID = "810000000001"
PIN = "135790"
REDIRECT_URI = "https://rp.example.org/callback"
PER_PROFESSIONAL = 4
PER_ADDRESS = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("push-fatigue")
    limits = {
        "SANTEID_ECPS_PUSH_LIMIT_PER_PROFESSIONAL": str(PER_PROFESSIONAL),
        "SANTEID_ECPS_PUSH_LIMIT_PER_ADDRESS": str(PER_ADDRESS),
    }
    with santeid_server(home, redis_server, db=11, settings=limits) as server:
        server.register(
            "rp-fatigue",
            client_name="Cabinet de test",
            client_secret="a-long-secret-for-the-push-fatigue-test-0123",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"],
            token_endpoint_auth_method="client_secret_basic",
        )
        yield server


@pytest.fixture(scope="module")
def phone(server) -> DeviceSimulator:
    uri = json.loads(server.cli("ecps", "activate", NATIONAL_ID, "--json").stdout)["uri"]
    return DeviceSimulator.enroll(uri, PIN)


def _flush_limits(server) -> None:
    import redis

    with redis.Redis.from_url(server.store_url) as connection:
        for key in connection.scan_iter("santeid:rate:*"):
            connection.delete(key)


def start_login(server, browser: requests.Session) -> tuple[requests.Response, str, str]:
    """Authorization request, then the national identifier typed on the login page:
    ``(answer to the identifier, tx, realm URL)``."""
    query = {
        "response_type": "code",
        "client_id": "rp-fatigue",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "s",
        "nonce": "n",
    }
    authorize = f"{server.oidc}/auth?{urlencode(query)}"
    response = browser.get(authorize, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    login_url = urljoin(authorize, response.headers["Location"])
    page = browser.get(login_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        login_url, data={"national_id": NATIONAL_ID, "csrf_token": csrf}, timeout=10
    )
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    realm = server.base + urlsplit(login_url).path.split("/login-actions/")[0]
    return answer, tx, realm


def test_logins_started_in_a_burst_leave_one_request_on_the_phone(server, phone):
    _flush_limits(server)
    attacker = browser_from("127.0.0.2")
    answers = [start_login(server, attacker)[0] for _ in range(PER_PROFESSIONAL + 2)]
    assert [a.status_code for a in answers[:PER_PROFESSIONAL]] == [200] * PER_PROFESSIONAL
    # Beyond the professional's limit: refused before anything reaches the phone.
    assert {a.status_code for a in answers[PER_PROFESSIONAL:]} == {429}
    pending = phone.pending()
    assert len(pending) == 1
    (item,) = pending
    # Where it comes from: the service, its client_id, the channel, the time, the address.
    assert item["client_name"] == "Cabinet de test" and item["client_id"] == "rp-fatigue"
    assert item["kind"] == "browser" and item["requested_from"] == "127.0.0.2"
    assert item["created_at"] <= item["expires_at"]
    assert "Traceback" not in server.log.read_text()


def test_logins_from_one_address_are_limited_whoever_they_target(server, phone):
    _flush_limits(server)
    attacker = browser_from("127.0.0.3")
    statuses = [start_login(server, attacker)[0].status_code for _ in range(PER_PROFESSIONAL)]
    assert statuses == [200] * PER_PROFESSIONAL
    _flush_professional_only(server)
    more = [start_login(server, attacker)[0].status_code for _ in range(PER_ADDRESS)]
    # The address had PER_PROFESSIONAL starts already: the rest of its budget, then 429.
    assert more.count(200) == PER_ADDRESS - PER_PROFESSIONAL and more[-1] == 429
    # Once the professional's window is over, the address stays refused, others are served.
    _flush_professional_only(server)
    assert start_login(server, attacker)[0].status_code == 429
    assert start_login(server, browser_from("127.0.0.4"))[0].status_code == 200


def _flush_professional_only(server) -> None:
    """Forget the professional's count, keep the addresses' (so the address limit shows)."""
    import hashlib

    import redis

    digest = hashlib.sha256(NATIONAL_ID.encode()).hexdigest()[:32]
    with redis.Redis.from_url(server.store_url) as connection:
        connection.delete(f"santeid:rate:ecps-push-professional:{digest}")


def test_a_strangers_wrong_offline_codes_do_not_lock_the_professional(server, phone):
    _flush_limits(server)
    stranger = browser_from("127.0.0.5")
    answer, tx, realm = start_login(server, stranger)
    assert answer.status_code == 200
    otp_url = f"{realm}/login-actions/otp?tx={tx}"
    for _ in range(6):
        page = stranger.get(otp_url, timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        wrong = "000000" if phone.totp() != "000000" else "111111"
        stranger.post(otp_url, data={"otp": wrong, "csrf_token": csrf}, timeout=10)
    locked = stranger.get(otp_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', locked.text).group(1)
    refused = stranger.post(otp_url, data={"otp": phone.totp(), "csrf_token": csrf}, timeout=10)
    assert refused.status_code == 400  # locked for the stranger, even with the right code

    owner = browser_from("127.0.0.1")
    answer, tx, realm = start_login(server, owner)
    assert answer.status_code == 200
    otp_url = f"{realm}/login-actions/otp?tx={tx}"
    page = owner.get(otp_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    accepted = owner.post(
        otp_url, data={"otp": phone.totp(), "csrf_token": csrf}, allow_redirects=False, timeout=10
    )
    assert accepted.status_code == 302, accepted.text
    assert "/login-actions/complete" in accepted.headers["Location"]


# -- offline codes guessed in parallel (docs/security.md, "Push fatigue") ----------------------

WRONG_CODE = "Code incorrect."  # i18n "otp_invalid_code": the code was compared, and wrong
LOCKED = "Trop de codes incorrects"  # i18n "otp_locked": refused without comparing
TOTP_FAILURES = 5  # ecps_totp_failures (default)
TOTP_FAILURES_PER_PROFESSIONAL = 20  # ecps_totp_failures_per_professional (default)


def _flush_offline_code_counts(server) -> None:
    import redis

    with redis.Redis.from_url(server.store_url) as connection:
        for key in connection.scan_iter("santeid:ecps:totp-*"):
            connection.delete(key)


def _wrong_code(phone: DeviceSimulator) -> str:
    """A code valid in none of the steps the server accepts (the current one, ±1)."""
    import time

    now = time.time()
    valid = {phone.totp(now + delta) for delta in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


def _offline_form(server, browser: requests.Session) -> tuple[str, str]:
    """A login waiting for the phone, at its offline-code page: ``(otp URL, csrf token)``."""
    answer, tx, realm = start_login(server, browser)
    assert answer.status_code == 200, answer.text
    otp_url = f"{realm}/login-actions/otp?tx={tx}"
    page = browser.get(otp_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return otp_url, csrf


def _guess_in_parallel(browser, otp_url, csrf, code, addresses: list[str]) -> list[str]:
    """One POST of ``code`` per address, all released at once, each with the browser's
    cookies (the same login): ``"checked"`` (compared, wrong), ``"locked"`` or the answer."""
    from tests.support.concurrency import race

    def guess(i: int) -> str:
        client = browser_from(addresses[i])
        client.cookies.update(browser.cookies)
        answer = client.post(otp_url, data={"otp": code, "csrf_token": csrf}, timeout=30)
        if answer.status_code == 400 and WRONG_CODE in answer.text:
            return "checked"
        if answer.status_code == 400 and LOCKED in answer.text:
            return "locked"
        return f"{answer.status_code}: {answer.text[:200]}"

    return race(guess, threads=len(addresses))


def test_wrong_offline_codes_sent_in_parallel_from_one_address_are_checked_at_most_the_limit(
    server, phone
):
    _flush_limits(server)
    _flush_offline_code_counts(server)
    attacker = browser_from("127.0.0.6")
    otp_url, csrf = _offline_form(server, attacker)
    # 24 at once: well over the limit of 5, under the server's 32 connections per address
    # (max_connections_per_address), which would close the rest before they are heard.
    answers = _guess_in_parallel(attacker, otp_url, csrf, _wrong_code(phone), ["127.0.0.6"] * 24)
    assert set(answers) <= {"checked", "locked"}, answers
    # The count is taken before the comparison: racing guesses cannot pass the limit.
    assert 1 <= answers.count("checked") <= TOTP_FAILURES, answers
    refused = attacker.post(otp_url, data={"otp": phone.totp(), "csrf_token": csrf}, timeout=10)
    assert refused.status_code == 400 and LOCKED in refused.text


def test_wrong_offline_codes_sent_in_parallel_from_many_addresses_are_checked_at_most_the_cap(
    server, phone
):
    _flush_limits(server)
    _flush_offline_code_counts(server)
    attacker = browser_from("127.0.0.7")
    otp_url, csrf = _offline_form(server, attacker)
    addresses = [f"127.0.1.{n}" for n in range(1, 61)]
    answers = _guess_in_parallel(attacker, otp_url, csrf, _wrong_code(phone), addresses)
    assert set(answers) <= {"checked", "locked"}, answers
    assert 1 <= answers.count("checked") <= TOTP_FAILURES_PER_PROFESSIONAL, answers
    # The professional's cap is spent: the right code is refused from a fresh address too.
    fresh = browser_from("127.0.2.1")
    fresh.cookies.update(attacker.cookies)
    refused = fresh.post(otp_url, data={"otp": phone.totp(), "csrf_token": csrf}, timeout=10)
    assert refused.status_code == 400 and LOCKED in refused.text


def test_the_right_offline_code_under_the_limit_is_accepted(server, phone):
    _flush_limits(server)
    _flush_offline_code_counts(server)
    owner = browser_from("127.0.0.8")
    otp_url, csrf = _offline_form(server, owner)
    wrong = _wrong_code(phone)
    for _ in range(TOTP_FAILURES - 1):
        answer = owner.post(otp_url, data={"otp": wrong, "csrf_token": csrf}, timeout=10)
        assert answer.status_code == 400 and WRONG_CODE in answer.text
    accepted = owner.post(
        otp_url, data={"otp": phone.totp(), "csrf_token": csrf}, allow_redirects=False, timeout=10
    )
    assert accepted.status_code == 302, accepted.text
    assert "/login-actions/complete" in accepted.headers["Location"]


def _offline_code(server, browser: requests.Session, code: str) -> requests.Response:
    """A login started from ``browser`` (the start limits forgotten first), then ``code`` typed
    on its offline-code page."""
    _flush_limits(server)
    answer, tx, realm = start_login(server, browser)
    assert answer.status_code == 200
    otp_url = f"{realm}/login-actions/otp?tx={tx}"
    page = browser.get(otp_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return browser.post(otp_url, data={"otp": code, "csrf_token": csrf}, allow_redirects=False,
                        timeout=10)  # fmt: skip


def test_wrong_offline_codes_spread_over_addresses_lock_the_professional(server, phone):
    """``ecps_totp_failures_per_professional`` (20): 4 wrong codes from each of 5 addresses
    (each below the per-address lock of 5) are 20 guesses; the 21st attempt, from a sixth
    address and with the right code, is refused "locked". Sequential guesses (one at a
    time)."""
    _flush_offline_code_counts(server)
    try:
        guesses = 0
        for host in range(1, 6):
            guesser = browser_from(f"127.0.7.{host}")
            for _ in range(4):
                answer = _offline_code(server, guesser, _wrong_code(phone))
                guesses += 1
                assert answer.status_code == 400, (guesses, answer.text)
                # Each of the 20 guesses is judged: a wrong code, not a lock.
                assert WRONG_CODE in answer.text and LOCKED not in answer.text, guesses
        assert guesses == 20
        owner = browser_from("127.0.7.9")
        refused = _offline_code(server, owner, phone.totp())
        assert refused.status_code == 400, refused.text
        assert LOCKED in refused.text, refused.text
    finally:
        _flush_offline_code_counts(server)


TOTP_FAILURES_PER_DAY = 50  # ecps_totp_failures_per_day (default)


def _end_the_short_windows(server) -> None:
    """What ``ecps_totp_lock`` (900 s) passing does: the addresses' counts and locks and the
    professional's count of the window are gone; the day's count stays."""
    import redis

    with redis.Redis.from_url(server.store_url) as connection:
        for pattern in ("santeid:ecps:totp-fail:*", "santeid:ecps:totp-lock:*",
                        "santeid:ecps:totp-fail-all:*"):  # fmt: skip
            for key in connection.scan_iter(pattern):
                connection.delete(key)


def test_wrong_offline_codes_over_many_windows_lock_the_professional_for_the_day(server, phone):
    """A guesser who waits out each window: 20 wrong codes per window (4 from each of 5
    addresses), window after window. The 50th wrong code of the day
    (``ecps_totp_failures_per_day``) locks the offline code for everyone, even in a fresh
    window and with the right code."""
    _flush_offline_code_counts(server)
    try:
        guesses = 0
        while guesses < TOTP_FAILURES_PER_DAY:
            for _ in range(min(TOTP_FAILURES_PER_PROFESSIONAL, TOTP_FAILURES_PER_DAY - guesses)):
                guesser = browser_from(f"127.0.8.{1 + guesses // 4}")
                answer = _offline_code(server, guesser, _wrong_code(phone))
                guesses += 1
                assert answer.status_code == 400, (guesses, answer.text)
                assert WRONG_CODE in answer.text and LOCKED not in answer.text, guesses
            _end_the_short_windows(server)
        owner = browser_from("127.0.8.99")
        refused = _offline_code(server, owner, phone.totp())
        assert refused.status_code == 400, refused.text
        assert LOCKED in refused.text, refused.text
        assert "Traceback" not in server.log.read_text()
    finally:
        _flush_offline_code_counts(server)

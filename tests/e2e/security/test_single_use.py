"""Single use, raced against a real server: ``santeid serve --workers 2`` (Granian, two
processes) on a Redis of its own, so that the racing requests reach different processes and
only the store can tell them apart.

* an authorization code is redeemed once: of 20 simultaneous exchanges one gets tokens, the 19
  others ``invalid_grant`` "Code not valid", and those replays revoke what the winner got
  (RFC 6749 §4.1.2; docs/reference/keycloak-behaviour.md, "Token endpoint");
* an approved CIBA ``auth_req_id`` is redeemed once (CIBA Core §11: then ``invalid_grant``),
  the replays revoking the winner's tokens too;
* a phone's signed decision is applied once: the same JWT sent 10 times at once is approved
  once, every copy answered 409 ``replayed_decision``; a fresh decision (new ``jti``) on the
  decided request is 409 ``request_not_pending`` (docs/ecps-device-protocol.md §4)."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from santeid.ecps.simulator import DeviceSimulator
from santeid.ecps.simulator import ProtocolError
from santeid.ecps.simulator import make_decision
from santeid.oidc import keycloak_errors
from tests.support.concurrency import race_http
from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import REDIRECT_URI
from tests.support.operations import SECRET
from tests.support.operations import start_login
from tests.support.operations import submit_identifier
from tests.support.redis_server import RedisServer
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
PIN = "135790"
#: Auto-approved in sandbox mode (no phone): the code race's professional.
AUTO_APPROVED = "810000000001"
#: Two more auto-approve professionals, each given a phone below: a professional with an
#: active e-CPS is asked on it, so their requests wait for the test's own decisions.
CIBA_PHONE = "810000000002"
DECISION_PHONE = "810000000003"
#: Racing requests: within the server's 32 connections per address, with room for a
#: neighbour module's.
RACERS = 20
DECISION_RACERS = 10
#: Races per test. Between reading a code (or an approved request) and consuming it a server
#: spends a few milliseconds; without the compare-and-set that consumes it, two racers
#: obtained tokens in about every other race: several races make that failure dependable.
ROUNDS = 5
#: The operations tests' client, polling without an interval: a racer refused ``slow_down``
#: would be no proof of single use.
RP = {**CLIENT, "backchannel_polling_interval": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("single-use")
    with (
        RedisServer() as redis,
        santeid_process(
            home, args=["--sandbox", "--workers", "2"], clients=[RP],
            SANTEID_STORE_URL=redis.url,
        ) as server,
    ):  # fmt: skip
        yield server


def _phone(server, national_id: str) -> DeviceSimulator:
    """A phone activated for ``national_id`` with the CLI (the store is shared)."""
    activation = json.loads(server.cli("ecps", "activate", national_id, "--json").stdout)
    return DeviceSimulator.enroll(activation["uri"], PIN, session=browser())


def _wait_for_approval(session: requests.Session, login_url: str) -> str:
    """The transaction id once the login page's status says ``approved``."""
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    for _ in range(100):
        state = session.get(urljoin(login_url, "status"), params={"tx": tx}, timeout=10)
        if state.json()["state"] == "approved":
            return tx
        time.sleep(0.1)
    raise AssertionError(f"login not approved: {state.json()}")


def _complete(session: requests.Session, login_url: str, tx: str) -> str:
    done = session.get(urljoin(login_url, "complete"), params={"tx": tx},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert done.status_code == 302, done.text
    location = done.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return parse_qs(urlsplit(location).query)["code"][0]


def _token(server, data: dict) -> requests.Response:
    return requests.post(f"{server.oidc}/token", data=data, auth=(CLIENT_ID, SECRET), timeout=30)


def _race_token(server, data: dict, copies: int = RACERS) -> list[tuple[int, dict]]:
    """``copies`` token requests of ``data`` arriving together: ``(status, answer)`` each."""
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}",
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    answers = race_http(f"{server.oidc}/token", urlencode(data).encode(), headers=headers,
                        copies=copies)  # fmt: skip
    return [(status, json.loads(body)) for status, body in answers]


def _revoked(server, tokens: dict) -> None:
    """The winner's tokens no longer work: access token 401 at userinfo, refresh token
    ``invalid_grant``."""
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}
    userinfo = requests.get(f"{server.oidc}/userinfo", headers=bearer, timeout=10)
    assert userinfo.status_code == 401, userinfo.text
    refreshed = _token(server, {"grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def _one_winner(answers: list[tuple[int, dict]]) -> tuple[dict, set[str]]:
    """The tokens of the one 200 among ``answers``, every other one ``invalid_grant``, and
    the descriptions of those refusals."""
    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 1, 400: len(answers) - 1}, answers
    refused = [answer for status, answer in answers if status != 200]
    assert {answer["error"] for answer in refused} == {"invalid_grant"}, refused
    (winner,) = (answer for status, answer in answers if status == 200)
    return winner, {answer.get("error_description") for answer in refused}


def test_a_code_raced_twenty_times_buys_one_token_set_and_is_revoked(server):
    for _ in range(ROUNDS):
        _, verifier, session, login_url = start_login(server.issuer)
        submitted = submit_identifier(session, login_url, AUTO_APPROVED)
        assert submitted.status_code == 303, submitted.text
        code = _complete(session, login_url, _wait_for_approval(session, login_url))
        exchange = {"grant_type": "authorization_code", "code": code,
                    "redirect_uri": REDIRECT_URI, "code_verifier": verifier}  # fmt: skip

        winner, refusals = _one_winner(_race_token(server, exchange))

        assert refusals == {keycloak_errors.CODE_NOT_VALID}
        # RFC 6749 §4.1.2: a code used more than once revokes the tokens it gave.
        _revoked(server, winner)


def test_an_approved_auth_req_id_raced_twenty_times_gives_one_token_set(server):
    phone = _phone(server, CIBA_PHONE)
    for _ in range(ROUNDS):
        started = requests.post(f"{server.oidc}/ext/ciba/auth", auth=(CLIENT_ID, SECRET),
                                data={"scope": "openid scope_all", "login_hint": CIBA_PHONE,
                                      "binding_message": "42"}, timeout=10)  # fmt: skip
        assert started.status_code == 200, started.text
        poll = {"grant_type": CIBA_GRANT, "auth_req_id": started.json()["auth_req_id"]}
        pending = _token(server, poll)
        assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
        (item,) = phone.pending(wait=5)
        assert phone.approve(item["request_id"], PIN)["status"] == "approved"

        winner, _ = _one_winner(_race_token(server, poll))

        assert {"access_token", "refresh_token", "id_token"} <= set(winner)
        _revoked(server, winner)


def test_a_decision_replayed_in_parallel_decides_once(server):
    phone = _phone(server, DECISION_PHONE)
    _, _, session, login_url = start_login(server.issuer)
    submitted = submit_identifier(session, login_url, DECISION_PHONE)
    assert submitted.status_code == 303, submitted.text
    (item,) = phone.pending(wait=5)
    request_id = item["request_id"]
    # One decision, signed once (one jti), with the right code (the sandbox hint of a phone
    # enrolled in sandbox mode), sent by every racer.
    signed = make_decision(phone.device, request_id, "approve", PIN, item["sandbox_expected_code"])
    url = f"{server.base}/ecps/device/requests/{request_id}/decision"

    answers = race_http(url, signed.encode(), headers={"Content-Type": "application/jwt"},
                        copies=DECISION_RACERS)  # fmt: skip

    # The approval's answer has a status; a refusal is a problem (RFC 9457) with a code.
    outcomes = Counter(
        (status, json.loads(body).get("code", json.loads(body)["status"]))
        for status, body in answers
    )
    assert outcomes == {(200, "approved"): 1, (409, "replayed_decision"): DECISION_RACERS - 1}
    # A new decision (fresh jti) on the decided request: refused, the request stays decided.
    with pytest.raises(ProtocolError) as refused:
        phone.deny(request_id, PIN)
    assert (refused.value.status, refused.value.code) == (409, "request_not_pending")
    # The login goes on, once.
    code = _complete(session, login_url, _wait_for_approval(session, login_url))
    assert code

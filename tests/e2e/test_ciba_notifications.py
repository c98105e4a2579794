"""CIBA ping and push on real ``santeid serve --sandbox`` processes sharing one Redis store,
with local receivers (docs/ciba.md, "Delivery rules"; docs/sandbox.md, "Scenario outcomes"):

* a sandbox scenario answers a ping or push client's request by itself, without a poll;
* a client whose notification endpoint never answers does not hold back another client's;
* a poll that itself finds the request approved gets the tokens, and no ping follows it;
* a ping client that polls too presents its ``auth_req_id`` twice (its poll, while the ping
  is delivered or at the same instant as its answer to the ping): tokens once, and the
  presentation the ping caused revokes nothing; a ping waiting behind another of its
  client's, whose request a poll redeems meanwhile, is never sent.
"""

from __future__ import annotations

import base64
import http.server
import json
import queue
import threading
import time
from urllib.parse import urlencode

import pytest
import requests

from tests.support.ciba import Receiver
from tests.support.concurrency import race_http
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

SECRET = "a-long-secret-for-the-ciba-notification-test-01"
CIBA = "urn:openid:params:grant-type:ciba"
#: Demo directory: a sandbox auto-approving professional (its scenario is set per test).
PROFESSIONAL = "810000000001"
#: One delivery attempt may take this long: a hanging endpoint holds its attempt for the whole
#: test, whose assertions never depend on a delay running out.
TIMEOUT = "120"
NOTIFICATION_TOKEN = "tok-1"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("ciba-notifications")


@pytest.fixture(scope="module")
def store_url(redis_server):
    return redis_server.url.rsplit("/", 1)[0] + "/7"


def _serve(home, store_url, log_name: str):
    return santeid_process(
        home,
        # One worker: one delivery pool, whose threads the hanging endpoint could all hold.
        args=["--sandbox", "--workers", "1"],
        log_name=log_name,
        SANTEID_STORE_URL=store_url,
        SANTEID_CIBA_NOTIFICATION_TIMEOUT=TIMEOUT,
        # Push clients too (off by default, as at PSC; docs/ciba.md, "Push mode").
        SANTEID_CIBA_PUSH_ENABLED="true",
    )


@pytest.fixture(scope="module")
def server(home, store_url):
    with _serve(home, store_url, "server.log") as server:
        yield server


def _client(server, client_id: str, url: str, mode: str = "ping") -> None:
    server.register(
        client_id,
        client_secret=SECRET,
        grant_types=[CIBA, "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        backchannel_token_delivery_mode=mode,
        backchannel_client_notification_endpoint=url,
        backchannel_polling_interval=0,
    )


def _scenario(server, outcome: str, delay: float) -> None:
    response = requests.put(
        f"{server.base}/sandbox/api/professionals/{PROFESSIONAL}/scenario",
        json={"outcome": outcome, "delay": delay},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _start(server, client_id: str, notification_token: str = NOTIFICATION_TOKEN) -> str:
    response = requests.post(
        f"{server.oidc}/ext/ciba/auth",
        data={
            "scope": "openid scope_all",
            "login_hint": PROFESSIONAL,
            "client_notification_token": notification_token,
        },
        auth=(client_id, SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["auth_req_id"]


def _poll(server, client_id: str, auth_req_id: str) -> requests.Response:
    return requests.post(
        f"{server.oidc}/token",
        data={"grant_type": CIBA, "auth_req_id": auth_req_id},
        auth=(client_id, SECRET),
        timeout=10,
    )


class HeldEndpoint:
    """A notification endpoint that takes every POST, reports it as it arrives (``received``,
    and :meth:`next` in order) and answers none until the test says so: one by one
    (:meth:`answer`) or all at :meth:`close`. A ping held open is a ping being delivered."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.arrived: queue.Queue[dict] = queue.Queue()
        self.answers = threading.Semaphore(0)
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                endpoint.received.append(body)
                endpoint.arrived.put(body)
                endpoint.answers.acquire(timeout=180)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self) -> dict:
        return self.arrived.get(timeout=30)

    def answer(self) -> None:
        self.answers.release()

    def close(self) -> None:
        self.answers.release(100)
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("mode", "outcome"), [("ping", "deny"), ("push", "approve")])
def test_a_scenario_answers_a_ping_or_push_request_by_itself(server, mode, outcome):
    _scenario(server, outcome, 0.5)
    with Receiver([204]) as receiver:
        _client(server, f"ciba-{mode}-{outcome}", receiver.url, mode)
        auth_req_id = _start(server, f"ciba-{mode}-{outcome}")
        [received] = receiver.wait_for(1, timeout=30)  # never polled
    assert received["body"]["auth_req_id"] == auth_req_id
    if mode == "push":
        assert received["body"]["token_type"] == "Bearer" and "id_token" in received["body"]
    else:
        denied = _poll(server, f"ciba-{mode}-{outcome}", auth_req_id)
        assert denied.json()["error"] == "access_denied"


def test_a_hanging_endpoint_does_not_hold_back_another_clients_ping(server):
    _scenario(server, "approve", 0)  # approved at once: each request is pinged at once
    hanging = HeldEndpoint()
    try:
        _client(server, "ciba-hanging", hanging.url)
        with Receiver([204]) as receiver:
            _client(server, "ciba-prompt", receiver.url)
            for n in range(6):  # more than the delivery pool's threads
                _start(server, "ciba-hanging", f"tok-a{n}")
            deadline = time.monotonic() + 30
            while not hanging.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert hanging.received, "the first delivery never reached the hanging endpoint"
            auth_req_id = _start(server, "ciba-prompt")
            [ping] = receiver.wait_for(1, timeout=60)
            # The hanging client's first attempt is still under way (its timeout is 120 s)
            # and none of its other deliveries has started: it holds one thread, no more.
            assert len(hanging.received) == 1
        assert ping["body"] == {"auth_req_id": auth_req_id}
    finally:
        hanging.close()


def test_a_poll_that_finds_the_approval_is_not_followed_by_a_ping(server, home, store_url):
    """The request is made on another server, which stops before the scenario answers: the
    answer is taken by this server's token endpoint, when polled, and the poll gets the
    tokens. A ping then would make the client present a used auth_req_id."""
    with Receiver([204]) as receiver:
        _client(server, "ciba-polling-ping", receiver.url)
        with _serve(home, store_url, "other.log") as other:
            # Longer than the other server takes to stop, with its timer.
            _scenario(other, "approve", 10)
            auth_req_id = _start(other, "ciba-polling-ping")
        deadline = time.monotonic() + 60
        while True:
            response = _poll(server, "ciba-polling-ping", auth_req_id)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            assert response.json()["error"] == "authorization_pending", response.text
            time.sleep(0.2)
        assert response.status_code == 200, response.text
        time.sleep(3)  # what a ping, had one been sent, would take to arrive
    assert receiver.received == []
    userinfo = requests.get(
        f"{server.oidc}/userinfo",
        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200


def _userinfo(server, access_token: str) -> int:
    return requests.get(
        f"{server.oidc}/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    ).status_code


def test_a_ping_clients_poll_and_its_answer_to_the_ping_give_tokens_once(server):
    """CIBA Core §7.3 gives ping clients an ``interval`` to poll with, so a ping client may
    poll while its ping is on the way, and then present the ``auth_req_id`` again in answer
    to the ping: that presentation, caused by the ping, gets ``invalid_grant`` and revokes
    nothing. Its poll takes the tokens while the ping is being delivered (the endpoint holds
    its answer), or the poll and the answer to the ping reach the token endpoint together
    (``race_http``). A further presentation is a replay, and revokes the tokens."""
    _scenario(server, "approve", 0)  # approved at once: pinged at once
    client_id = "ciba-ping-and-poll"
    authorization = "Basic " + base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    headers = {"Authorization": authorization,
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    endpoint = HeldEndpoint()
    try:
        _client(server, client_id, endpoint.url)
        # Ends with a round not raced: of two presentations that reach the token endpoint at
        # the same instant, the one that loses the redemption's compare-and-set is refused as
        # a concurrent poll is, without counting as the answer to the ping, which then
        # excuses one presentation more.
        for raced in (True, False, True, False):
            auth_req_id = _start(server, client_id, f"tok-{raced}")
            assert endpoint.next() == {"auth_req_id": auth_req_id}
            if raced:
                endpoint.answer()
                body = urlencode({"grant_type": CIBA, "auth_req_id": auth_req_id}).encode()
                answers = race_http(f"{server.oidc}/token", body, headers=headers, copies=2)
            else:
                polled = _poll(server, client_id, auth_req_id)  # while the ping is delivered
                endpoint.answer()
                answered = _poll(server, client_id, auth_req_id)  # the answer to the ping
                answers = [(r.status_code, r.content) for r in (polled, answered)]
            assert sorted(status for status, _ in answers) == [200, 400], answers
            refused = next(json.loads(body) for status, body in answers if status == 400)
            assert refused["error"] == "invalid_grant", refused
            tokens = next(json.loads(body) for status, body in answers if status == 200)
            assert _userinfo(server, tokens["access_token"]) == 200, (raced, auth_req_id)
        replay = _poll(server, client_id, auth_req_id)
        assert replay.json()["error"] == "invalid_grant", replay.text
        assert _userinfo(server, tokens["access_token"]) == 401
    finally:
        endpoint.close()


def test_a_ping_waiting_behind_another_is_not_sent_once_a_poll_redeemed_its_request(server):
    """A client's pings go one at a time: the second request's ping waits while the first
    one's is being delivered (held open), the client polls the second request and takes its
    tokens, and that ping is then never sent."""
    _scenario(server, "approve", 0)
    client_id = "ciba-ping-queued"
    endpoint = HeldEndpoint()
    try:
        _client(server, client_id, endpoint.url)
        first = _start(server, client_id, "tok-first")
        assert endpoint.next() == {"auth_req_id": first}  # held open
        second = _start(server, client_id, "tok-second")  # its ping waits in the lane
        polled = _poll(server, client_id, second)
        assert polled.status_code == 200, polled.text
        endpoint.answer()
        deadline = time.monotonic() + 15
        while "CIBA notification to ciba-ping-queued not sent" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()[-3000:]
            time.sleep(0.1)
        assert endpoint.arrived.empty()
        assert _userinfo(server, polled.json()["access_token"]) == 200
    finally:
        endpoint.close()

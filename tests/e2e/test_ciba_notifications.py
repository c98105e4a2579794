"""CIBA ping and push on real ``santeid serve --sandbox`` processes sharing one Redis store,
with local receivers (docs/ciba.md, "Delivery rules"; docs/sandbox.md, "Scenario outcomes"):

* a sandbox scenario answers a ping or push client's request by itself, without a poll;
* a client whose notification endpoint never answers does not hold back another client's;
* a poll that itself finds the request approved gets the tokens, and no ping follows it.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest
import requests

from tests.support.ciba import Receiver
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


class HangingEndpoint:
    """A notification endpoint that takes every POST and answers none until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.received: list[str] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                endpoint.received.append(self.path)
                endpoint.release.wait(180)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
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
    hanging = HangingEndpoint()
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

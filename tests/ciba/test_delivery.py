"""Ping and push delivery (CIBA Core §10.2, §10.3, §12) against a local HTTP receiver started
by each test; retries on 5xx and network errors, never on 4xx; no redirect followed; the SSRF
guard at registration and at delivery."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from santeid.ciba import delivery as ciba_delivery
from santeid.ciba import metadata as ciba_metadata
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.tokens import at_hash
from tests.support.ciba import Receiver
from tests.support.ciba import backchannel
from tests.support.ciba import error_of
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import decode
from tests.support.redis_server import closed_port

TOKEN = "notif-token-0123456789.abc~XYZ"


@pytest.fixture
def settings(settings):
    """Push offered (``ciba_push_enabled``; off by default, as at PSC:
    tests/ciba/test_delivery_modes.py): this module delivers in both modes."""
    return settings.replace(ciba_push_enabled=True)


def _ping_client(app, url: str, client_id: str = "ciba-ping", mode: str = "ping") -> dict:
    return register_ciba_client(
        app,
        client_id,
        backchannel_token_delivery_mode=mode,
        backchannel_client_notification_endpoint=url,
    )


def _deliveries_done(app) -> None:
    """Wait until every notification submitted so far has been sent, retried or given up on
    (the notifier's pool drains): what the receiver got is then all it will ever get."""
    app.extensions["santeid"].ciba.notifier.shutdown(wait=True)


def test_ping_on_sandbox_approval_then_poll(app, client, auto_id):
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url)
        auth_req_id = start(client, meta, auto_id, client_notification_token=TOKEN)["auth_req_id"]
        [received] = receiver.wait_for(1)
    assert received["path"] == "/cb"
    assert received["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert received["headers"]["Content-Type"] == "application/json"
    assert received["body"] == {"auth_req_id": auth_req_id}
    assert poll(client, meta, auth_req_id).status_code == 200


def test_ping_when_the_phone_approves_and_when_it_denies(app, client, plain_id):
    phone = Phone.register(app, client, plain_id, pin=PIN)
    with Receiver([200]) as receiver:
        meta = _ping_client(app, receiver.url)
        approved = start(client, meta, plain_id, client_notification_token=TOKEN)
        assert "interval" in approved  # ping clients may poll too
        [item] = phone.pending().get_json()["requests"]
        assert receiver.received == []
        phone.decide(item["request_id"], "approve")
        receiver.wait_for(1)
        denied = start(client, meta, plain_id, client_notification_token=TOKEN)["auth_req_id"]
        [item] = phone.pending().get_json()["requests"]
        phone.decide(item["request_id"], "deny")
        received = receiver.wait_for(2)
    assert [r["body"]["auth_req_id"] for r in received] == [approved["auth_req_id"], denied]
    assert poll(client, meta, approved["auth_req_id"]).status_code == 200
    assert error_of(poll(client, meta, denied)) == "access_denied"


def test_ping_needs_a_notification_token(app, client, auto_id):
    """Keycloak's words where it has the check (``BackchannelAuthenticationEndpoint``,
    docs/reference/keycloak-behaviour.md "CIBA: a notification token in poll mode"); the
    RFC 6750 syntax, which Keycloak does not check, in santeid's."""
    meta = _ping_client(app, "http://127.0.0.1:9/cb")
    syntax = "client_notification_token must be a bearer token of at most 1024 characters"
    for token, description in [
        (None, "Client Notification token needs to be provided with the ping mode"),
        ("x" * 1025, "Client Notification token length is limited to 1024 characters"),
        ("has space", syntax),
        ("ünï", syntax),
        ("", syntax),
    ]:
        response = backchannel(client, meta, login_hint=auto_id, client_notification_token=token)
        assert response.status_code == 400 and error_of(response) == "invalid_request", token
        assert response.get_json()["error_description"] == description
    assert start(client, meta, auto_id, client_notification_token="y" * 1024)


def test_push_delivers_the_tokens(app, client, auto_id):
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url, "ciba-push", mode="push")
        ack = start(client, meta, auto_id, client_notification_token=TOKEN)
        [received] = receiver.wait_for(1)
    assert "interval" not in ack
    body = received["body"]
    assert received["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert body["auth_req_id"] == ack["auth_req_id"]
    assert {"access_token", "token_type", "refresh_token", "expires_in", "id_token"} <= set(body)
    _, claims = decode(app, body["id_token"])
    assert claims["urn:openid:params:jwt:claim:auth_req_id"] == ack["auth_req_id"]
    assert claims["at_hash"] == at_hash(body["access_token"])
    # CIBA Core §10.3.1's claim names.
    assert claims["urn:openid:params:jwt:claim:rt_hash"] == at_hash(body["refresh_token"])
    assert "rt_hash" not in claims
    assert claims["authMode"] == "MOBILE" and "auth_time" in claims
    # Push clients never poll (CIBA Core §11), and the request is consumed.
    assert error_of(poll(client, meta, ack["auth_req_id"])) == "unauthorized_client"
    record = app.extensions["santeid"].ciba.book.get(ack["auth_req_id"])
    assert record.stored_state == "consumed"


def test_push_needs_openid_poll_and_ping_do_not(app, client, auto_id):
    """CIBA Core §7.1: openid is REQUIRED; Keycloak (no push mode) accepts a request without
    it, so poll and ping do too (docs/reference/keycloak-behaviour.md)."""
    with Receiver([204]) as receiver:
        push = _ping_client(app, receiver.url, "ciba-push", mode="push")
        response = backchannel(
            client, push, login_hint=auto_id, scope="scope_all", client_notification_token=TOKEN
        )
        assert response.status_code == 400
        assert response.get_json() == {
            "error": "invalid_scope",
            "error_description": "scope must contain openid",
        }
        ping = _ping_client(app, receiver.url, "ciba-ping")
        assert start(client, ping, auto_id, scope="scope_all", client_notification_token=TOKEN)
        receiver.wait_for(1)
        _deliveries_done(app)
    assert len(receiver.received) == 1  # the ping; nothing was pushed
    poll_client = register_ciba_client(app, "ciba-poll")
    assert start(client, poll_client, auto_id, scope="scope_all")


def test_push_error_payload_on_denial(app, client, plain_id):
    phone = Phone.register(app, client, plain_id, pin=PIN)
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url, "ciba-push", mode="push")
        auth_req_id = start(client, meta, plain_id, client_notification_token=TOKEN)["auth_req_id"]
        [item] = phone.pending().get_json()["requests"]
        phone.decide(item["request_id"], "deny")
        [received] = receiver.wait_for(1)
    assert received["body"]["auth_req_id"] == auth_req_id
    assert received["body"]["error"] == "access_denied"


def test_retries_on_5xx_then_success(app, client, auto_id):
    with Receiver([500, 502, 204]) as receiver:
        meta = _ping_client(app, receiver.url)
        start(client, meta, auto_id, client_notification_token=TOKEN)
        receiver.wait_for(3)
        _deliveries_done(app)
    assert len(receiver.received) == 3


def test_at_most_three_retries(app, client, auto_id):
    with Receiver([503]) as receiver:
        meta = _ping_client(app, receiver.url)
        auth_req_id = start(client, meta, auto_id, client_notification_token=TOKEN)["auth_req_id"]
        receiver.wait_for(4)
        _deliveries_done(app)
    assert len(receiver.received) == 4
    # The notification's fate never changes what the client can poll.
    assert poll(client, meta, auth_req_id).status_code == 200


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_no_retry_on_4xx(app, client, auto_id, status):
    with Receiver([status]) as receiver:
        meta = _ping_client(app, receiver.url)
        start(client, meta, auto_id, client_notification_token=TOKEN)
        receiver.wait_for(1)
        _deliveries_done(app)
    assert len(receiver.received) == 1


def test_no_redirect_is_followed(app, client, auto_id):
    with Receiver([204]) as target, Receiver([301], location=None) as redirecting:
        redirecting.location = target.url
        meta = _ping_client(app, redirecting.url)
        auth_req_id = start(client, meta, auto_id, client_notification_token=TOKEN)["auth_req_id"]
        redirecting.wait_for(1)
        _deliveries_done(app)
    assert len(redirecting.received) == 1 and target.received == []
    assert poll(client, meta, auth_req_id).status_code == 200


def test_network_errors_are_retried(app, client, auto_id, caplog):
    with closed_port() as port:
        meta = _ping_client(app, f"http://127.0.0.1:{port}/cb")
        with caplog.at_level(logging.WARNING, logger="santeid.ciba.delivery"):
            start(client, meta, auto_id, client_notification_token=TOKEN)
            deadline = time.monotonic() + 10
            while "given up" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
    assert caplog.text.count("failed") == 4 and "given up after 4 attempts" in caplog.text


def test_ssrf_guard_at_delivery(app, client, auto_id, caplog):
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url)
        # As if the server had left sandbox mode since the registration.
        app.extensions["santeid"].ciba.notifier.sandbox = False
        with caplog.at_level(logging.WARNING, logger="santeid.ciba.delivery"):
            start(client, meta, auto_id, client_notification_token=TOKEN)
            deadline = time.monotonic() + 5
            while "SSRF" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
        _deliveries_done(app)
    assert receiver.received == []
    assert "refused by the SSRF guard" in caplog.text


def test_push_mints_no_tokens_when_the_ssrf_guard_refuses_delivery(app, client, auto_id, caplog):
    """Push carries the tokens themselves: refused delivery, no tokens (the grant stays
    unredeemed and no token family is opened)."""
    ciba = app.extensions["santeid"].ciba
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url, "ciba-push-guarded", mode="push")
        ciba.notifier.sandbox = False  # 127.0.0.1 is refused outside sandbox mode
        with caplog.at_level(logging.WARNING, logger="santeid.ciba"):
            auth_req_id = start(client, meta, auto_id, client_notification_token=TOKEN)[
                "auth_req_id"
            ]
            deadline = time.monotonic() + 5
            while "no tokens issued" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
        _deliveries_done(app)
    assert receiver.received == []
    assert "refused by the SSRF guard" in caplog.text and "no tokens issued" in caplog.text
    request = ciba.book.get(auth_req_id)
    assert request.stored_state == "approved" and "fid" not in request.data


@pytest.mark.parametrize(
    ("url", "sandbox", "reason"),
    [
        ("http://127.0.0.1:8080/cb", False, "https"),
        ("https://127.0.0.1/cb", False, "non-public"),
        ("https://10.1.2.3/cb", True, "non-public"),
        ("https://192.168.0.10/cb", True, "non-public"),
        ("https://169.254.169.254/latest", True, "non-public"),
        ("https://[::1]/cb", False, "non-public"),
        ("https://rp.invalid/cb", True, "cannot be resolved"),
        ("ftp://example.org/cb", True, "https"),
        ("https://user:pw@example.org/cb", True, "credentials"),
        ("http://127.0.0.1:8080/c\x00b", True, "U\\+0000 cannot appear in a URL"),
    ],
)
def test_ssrf_guard_at_registration(url, sandbox, reason):
    meta = {
        "grant_types": [ciba_metadata.CIBA_GRANT_TYPE],
        "backchannel_token_delivery_mode": "ping",
        "backchannel_client_notification_endpoint": url,
    }
    with pytest.raises(ciba_metadata.CibaMetadataError, match=reason):
        ciba_metadata.validate_ciba_metadata(meta, sandbox=sandbox)


def test_public_https_endpoint_is_accepted(monkeypatch, settings):
    # Resolution is faked: no traffic is ever sent by this test.
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("192.0.32.10", 443))]
    )
    ciba_metadata.validate_ciba_metadata(
        {
            "grant_types": [ciba_metadata.CIBA_GRANT_TYPE],
            "backchannel_token_delivery_mode": "push",
            "backchannel_client_notification_endpoint": "https://rp.example.org/cb",
        },
        sandbox=False,
        settings=settings,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backchannel_token_delivery_mode": None}, "backchannel_token_delivery_mode is required"),
        ({"backchannel_token_delivery_mode": "smoke"}, "backchannel_token_delivery_mode"),
        ({"backchannel_token_delivery_mode": "ping"}, "notification_endpoint is required"),
        ({"backchannel_client_notification_endpoint": "http://127.0.0.1/cb"}, "ping and push"),
        ({"backchannel_authentication_request_signing_alg": "RS256"}, "PS256 or ES256"),
        ({"backchannel_authentication_request_signing_alg": "PS256"}, "jwks"),
        ({"backchannel_user_code_parameter": True}, "only false"),
        ({"backchannel_request_expiry": 0}, "backchannel_request_expiry"),
        ({"backchannel_polling_interval": -1}, "backchannel_polling_interval"),
        ({"backchannel_polling_interval": "5"}, "backchannel_polling_interval"),
        ({"grant_types": ["refresh_token"]}, "only for clients with the grant type"),
    ],
)
def test_ciba_client_metadata_is_checked(app, overrides, message):
    with pytest.raises(InvalidClientMetadata, match=message):
        register_ciba_client(app, "bad", **overrides)


def test_clients_add_says_a_local_http_endpoint_needs_sandbox_mode(settings, tmp_path):
    """docs/ciba.md, "Ping mode": the walkthrough's receiver on 127.0.0.1 is registered with
    SANTEID_SANDBOX=true; without it, the refusal says so."""
    import json

    from click.testing import CliRunner

    from santeid.cli import main

    client_file = tmp_path / "ping.json"
    client_file.write_text(
        json.dumps(
            {
                "client_id": "logiciel-lourd-ping",
                "client_secret": "a-secret-of-at-least-16-characters",
                "grant_types": [ciba_metadata.CIBA_GRANT_TYPE],
                "backchannel_token_delivery_mode": "ping",
                "backchannel_client_notification_endpoint": "http://127.0.0.1:8099/ciba",
            }
        )
    )
    env = {
        "SANTEID_DATA_DIR": settings.data_dir,
        "SANTEID_KEYS_DIR": settings.keys_dir,
        "SANTEID_CONFIG": "",
    }
    runner = CliRunner()
    refused = runner.invoke(
        main, ["clients", "add", str(client_file)], env={**env, "SANTEID_SANDBOX": "false"}
    )
    assert refused.exit_code == 1
    assert (
        "backchannel_client_notification_endpoint: the webhook URL must use https"
        " (http://127.0.0.1 and http://localhost are accepted in sandbox mode only)"
    ) in refused.output
    added = runner.invoke(
        main, ["clients", "add", str(client_file)], env={**env, "SANTEID_SANDBOX": "true"}
    )
    assert added.exit_code == 0, added.output


def test_interval_zero_and_sandbox_local_endpoint_are_accepted(app):
    meta = _ping_client(app, "http://localhost:8080/cb")
    assert meta["backchannel_polling_interval"] == 0


def test_no_ping_when_the_poll_itself_decides(app, client, plain_id):
    """The token endpoint's poll that moves the request to approved has the tokens at once:
    a ping after it would make the client present a used auth_req_id (a replay, which
    revokes them)."""
    svc = app.extensions["santeid"]
    phone = Phone.register(app, client, plain_id, pin=PIN)
    listeners = svc.ecps._decided_listeners
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url)
        ack = start(client, meta, plain_id, client_notification_token=TOKEN)
        [item] = phone.pending().get_json()["requests"]
        saved = list(listeners)
        listeners.clear()  # the decision listener missed: only the poll sees the approval
        try:
            assert phone.decide(item["request_id"], "approve").status_code == 200
        finally:
            listeners.extend(saved)
        response = poll(client, meta, ack["auth_req_id"])
        assert response.status_code == 200, response.get_json()
        _deliveries_done(app)
    assert receiver.received == []


def test_no_ping_for_a_request_already_redeemed(app, client, auto_id):
    svc = app.extensions["santeid"]
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url)
        ack = start(client, meta, auto_id, client_notification_token=TOKEN)
        receiver.wait_for(1)
        assert poll(client, meta, ack["auth_req_id"]).status_code == 200
        # A late delivery of the same decision (queued behind others) finds it redeemed.
        svc.ciba._deliver(svc.ciba.book.get(ack["auth_req_id"]).key)
        _deliveries_done(app)
    assert len(receiver.received) == 1


def test_no_ping_retry_once_a_poll_redeemed_the_request(app, client, auto_id, monkeypatch):
    """The first ping gets a 503; the client polls and redeems before the retry, which is not
    sent (docs/ciba.md, "No ping after the poll that decided")."""
    monkeypatch.setattr(app.extensions["santeid"].ciba.notifier, "backoff", (2.0,))
    with Receiver([503]) as receiver:
        meta = _ping_client(app, receiver.url)
        ack = start(client, meta, auto_id, client_notification_token=TOKEN)
        receiver.wait_for(1)
        assert poll(client, meta, ack["auth_req_id"]).status_code == 200
        _deliveries_done(app)
    assert len(receiver.received) == 1


def test_each_ping_sent_excuses_one_presentation_of_the_redeemed_request(any_store_app, auto_id):
    """The ping is answered 503, then 204: two pings reached the client, each of which may
    make it present the auth_req_id its poll already redeemed. Those two presentations are
    invalid_grant and revoke nothing; one more is a replay, which revokes the tokens
    (docs/ciba.md, "A ping client that polls too")."""
    app = any_store_app
    http = app.test_client()
    with Receiver([503, 204]) as receiver:
        meta = _ping_client(app, receiver.url)
        auth_req_id = start(http, meta, auto_id, client_notification_token=TOKEN)["auth_req_id"]
        receiver.wait_for(2)
        _deliveries_done(app)
    assert len(receiver.received) == 2
    tokens = poll(http, meta, auth_req_id)
    assert tokens.status_code == 200, tokens.get_json()
    bearer = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    for _ in receiver.received:
        answer = poll(http, meta, auth_req_id)
        assert answer.status_code == 400 and error_of(answer) == "invalid_grant"
        assert http.get(f"{OIDC}/userinfo", headers=bearer).status_code == 200
    replay = poll(http, meta, auth_req_id)
    assert replay.status_code == 400 and error_of(replay) == "invalid_grant"
    assert http.get(f"{OIDC}/userinfo", headers=bearer).status_code == 401


def test_a_replaced_request_is_notified_once_without_retry(app, client, plain_id):
    """A request withdrawn for a newer one of the same professional (ecps_max_pending_requests)
    is denied, and that denial is notified in one attempt."""
    Phone.register(app, client, plain_id, pin=PIN)
    with Receiver([503]) as receiver:
        meta = _ping_client(app, receiver.url)
        first = start(client, meta, plain_id, client_notification_token=TOKEN)
        start(client, meta, plain_id, client_notification_token=TOKEN)
        _deliveries_done(app)
    assert [r["body"] for r in receiver.received] == [{"auth_req_id": first["auth_req_id"]}]
    assert error_of(poll(client, meta, first["auth_req_id"])) == "access_denied"


def test_one_clients_hanging_endpoint_does_not_hold_back_another():
    """Each client has its own lane: A's deliveries go one at a time, so B's is sent at once
    even when A's endpoint never answers, and what A has beyond the bound is dropped."""
    notifier = ciba_delivery.Notifier(sandbox=True, max_workers=2, per_client_queue=3)
    release = threading.Event()
    started: list[str] = []
    b_sent = threading.Event()

    def hang(name):
        started.append(name)
        release.wait(30)

    try:
        for n in range(10):
            notifier.submit(hang, f"a{n}", client_id="client-a")
        notifier.submit(b_sent.set, client_id="client-b")
        assert b_sent.wait(30)
        assert started == ["a0"]  # A's first delivery still hangs; nothing else of A ran
    finally:
        release.set()
        notifier.shutdown(wait=True)
    assert started == ["a0", "a1", "a2", "a3"]  # 3 waited behind a0; 6 were dropped


class _SlowDeliveries:
    """Deliveries that record their name, then wait for :attr:`release`."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.release = threading.Event()
        self.under_way = threading.Event()

    def slow(self, name: str) -> None:
        self.ran.append(name)
        self.under_way.set()
        self.release.wait(30)


def test_lanes_take_turns_on_the_pool():
    """One delivery per task: A's next delivery goes behind B's, so with a single thread a
    client with a queue of slow deliveries delays another by one delivery, not by its queue."""
    notifier = ciba_delivery.Notifier(sandbox=True, max_workers=1)
    deliveries = _SlowDeliveries()
    try:
        for n in range(3):
            notifier.submit(deliveries.slow, f"a{n}", client_id="client-a")
        notifier.submit(deliveries.ran.append, "b0", client_id="client-b")
    finally:
        deliveries.release.set()
        notifier.shutdown(wait=True)
    assert deliveries.ran == ["a0", "b0", "a1", "a2"]


def test_shutdown_without_waiting_drops_what_is_not_under_way():
    notifier = ciba_delivery.Notifier(sandbox=True, max_workers=1)
    deliveries = _SlowDeliveries()
    for n in range(3):
        notifier.submit(deliveries.slow, f"a{n}", client_id="client-a")
    notifier.submit(deliveries.ran.append, "b0", client_id="client-b")
    assert deliveries.under_way.wait(30)
    notifier.shutdown(wait=False)
    notifier.submit(deliveries.ran.append, "c0", client_id="client-c")  # refused, never raises
    deliveries.release.set()
    notifier.shutdown(wait=True)  # the delivery under way has finished
    assert deliveries.ran == ["a0"]
    assert notifier._lanes == {}


SCENARIOS = "/sandbox/api/professionals"


@pytest.mark.parametrize(
    ("mode", "outcome"), [("ping", "approve"), ("ping", "deny"), ("push", "approve")]
)
def test_sandbox_scenarios_answer_ping_and_push_requests_by_themselves(
    app, client, auto_id, mode, outcome
):
    """docs/sandbox.md: a ping or push client need not poll for the scenario to answer."""
    put = client.put(f"{SCENARIOS}/{auto_id}/scenario", json={"outcome": outcome, "delay": 0.2})
    assert put.status_code == 200
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url, f"ciba-{mode}", mode=mode)
        ack = start(client, meta, auto_id, client_notification_token=TOKEN)
        [received] = receiver.wait_for(1)
    body = received["body"]
    assert body["auth_req_id"] == ack["auth_req_id"]
    if mode == "push":
        assert "access_token" in body
    elif outcome == "deny":
        assert error_of(poll(client, meta, ack["auth_req_id"])) == "access_denied"
    else:
        assert poll(client, meta, ack["auth_req_id"]).status_code == 200


def test_the_sandbox_timers_decision_is_an_event(app, client, auto_id):
    """The timer thread has no application: the CIBA service writes the outcome in its own
    event store (docs/operations.md, "Authentication events")."""
    from santeid.observability.events import CIBA_OUTCOME

    put = client.put(f"{SCENARIOS}/{auto_id}/scenario", json={"outcome": "approve", "delay": 0.2})
    assert put.status_code == 200
    with Receiver([204]) as receiver:
        meta = _ping_client(app, receiver.url)
        start(client, meta, auto_id, client_notification_token=TOKEN)
        receiver.wait_for(1)
    (outcome,) = app.extensions["santeid"].events.list(types=(CIBA_OUTCOME,))
    assert (outcome.reason, outcome.client_id, outcome.professional) == (
        "approved",
        "ciba-ping",
        auto_id,
    )


class _TimerRecorder:
    """Stands in for ``threading.Timer`` in the sandbox phone; ``start`` raises like a
    process out of threads when ``refuse``."""

    made: list[float] = []
    refuse = False

    def __init__(self, interval, function, args=()):
        self.made.append(interval)
        self.daemon = False

    def start(self):
        if self.refuse:
            raise RuntimeError("can't start new thread")


def test_no_sandbox_timer_outlives_the_request(app, client, auto_id, monkeypatch):
    """A scenario that would answer after the request's expiry starts no timer."""
    from santeid.sandbox import phone

    monkeypatch.setattr(phone.threading, "Timer", _TimerRecorder)
    monkeypatch.setattr(_TimerRecorder, "made", [])
    meta = _ping_client(app, "http://127.0.0.1:9/cb")
    for delay in (3600, 1):
        put = client.put(
            f"{SCENARIOS}/{auto_id}/scenario", json={"outcome": "deny", "delay": delay}
        )
        assert put.status_code == 200
        start(client, meta, auto_id, client_notification_token=TOKEN, requested_expiry=60)
    [interval] = _TimerRecorder.made
    assert 0 < interval <= 1


def test_a_sandbox_timer_that_cannot_start_leaves_the_request_to_a_poll(
    app, client, auto_id, monkeypatch
):
    from santeid.sandbox import phone

    monkeypatch.setattr(phone.threading, "Timer", _TimerRecorder)
    monkeypatch.setattr(_TimerRecorder, "refuse", True)
    put = client.put(f"{SCENARIOS}/{auto_id}/scenario", json={"outcome": "deny", "delay": 0})
    assert put.status_code == 200
    meta = _ping_client(app, "http://127.0.0.1:9/cb")
    ack = start(client, meta, auto_id, client_notification_token=TOKEN)  # 200, not 500
    assert error_of(poll(client, meta, ack["auth_req_id"])) == "access_denied"

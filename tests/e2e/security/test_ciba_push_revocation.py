"""CIBA push mode against a real server: the notification carries the tokens, so tokens whose
delivery finally failed are revoked — the receiver answering 503 to the first attempt and to
every retry leaves the pushed access token refused (401) at userinfo. docs/ciba.md ("Push
mode") says which failures these are: "refused at connection time, or no answer after the
retries"; a 4xx is the client's final answer (never retried) and the tokens it received stay
valid. The receivers listen on 127.0.0.1, which sandbox mode allows."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.ciba import CIBA_GRANT
from tests.support.ciba import Receiver
from tests.support.security import first_professional
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-ciba-push-tests-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("ciba-push")
    # Push is offered only with ciba_push_enabled (off by default, as at PSC).
    with santeid_process(
        home, SANTEID_STORE_URL="memory://", SANTEID_CIBA_PUSH_ENABLED="true"
    ) as server:
        yield server


def _pushed_tokens(server, receiver: Receiver, client_id: str, attempts: int) -> dict:
    """A push client whose endpoint is ``receiver``; a CIBA request for an auto-approved
    professional; the token response of the first of ``attempts`` deliveries."""
    server.register(
        client_id,
        client_secret=SECRET,
        grant_types=[CIBA_GRANT, "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        backchannel_token_delivery_mode="push",
        backchannel_client_notification_endpoint=receiver.url,
    )
    started = requests.post(
        f"{server.oidc}/ext/ciba/auth",
        data={
            "scope": "openid scope_all",
            "binding_message": "42",
            "login_hint": first_professional(server),
            "client_notification_token": "notification-token-0123456789",
        },  # fmt: skip
        auth=(client_id, SECRET),
        timeout=10,
    )
    assert started.status_code == 200, started.text
    received = receiver.wait_for(attempts, timeout=30)
    body = received[0]["body"]
    assert body["auth_req_id"] == started.json()["auth_req_id"]
    assert all(r["body"]["access_token"] == body["access_token"] for r in received)
    return body


def _userinfo(server, access_token: str) -> int:
    bearer = {"Authorization": f"Bearer {access_token}"}
    return requests.get(f"{server.oidc}/userinfo", headers=bearer, timeout=10).status_code


def _userinfo_settles_on(server, access_token: str, status: int) -> None:
    """The revocation follows the last attempt in the delivery thread: wait for it (no bound
    on how soon is asserted)."""
    deadline = time.monotonic() + 20
    while _userinfo(server, access_token) != status and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _userinfo(server, access_token) == status


def test_tokens_never_delivered_are_revoked(server):
    with Receiver([503]) as receiver:
        tokens = _pushed_tokens(server, receiver, "rp-push-503", attempts=4)
        _userinfo_settles_on(server, tokens["access_token"], 401)
        assert len(receiver.received) == 4  # the first attempt and 3 retries, no more
    # The refresh token of the same response is revoked with it.
    refreshed = requests.post(f"{server.oidc}/token", auth=("rp-push-503", SECRET), timeout=10,
                              data={"grant_type": "refresh_token",
                                    "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 400, refreshed.text
    assert refreshed.json()["error"] == "invalid_grant"
    assert "Traceback" not in server.log.read_text()


def test_tokens_delivered_stay_valid(server):
    """The control: the same delivery answered 204."""
    with Receiver([204]) as receiver:
        tokens = _pushed_tokens(server, receiver, "rp-push-204", attempts=1)
        time.sleep(1)  # any (wrong) revocation would have happened by now
        assert _userinfo(server, tokens["access_token"]) == 200
        assert len(receiver.received) == 1


def test_a_4xx_answer_is_final_and_leaves_the_tokens_valid(server):
    """docs/ciba.md: retries "never on 4xx", and only tokens "refused at connection time, or
    no answer after the retries" are revoked. A receiver that answered 401 read the token
    response: the tokens stay valid (not retried, not revoked)."""
    with Receiver([401]) as receiver:
        tokens = _pushed_tokens(server, receiver, "rp-push-401", attempts=1)
        time.sleep(4)  # past the retry schedule (0.5 + 1 + 2 s): nothing more arrives
        assert len(receiver.received) == 1
        assert _userinfo(server, tokens["access_token"]) == 200

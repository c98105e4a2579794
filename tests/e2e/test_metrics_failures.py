"""The failure metrics of a real ``santeid serve --workers 2`` on its own Redis and PostgreSQL:
refusals of the hardening layers by reason, CIBA requests that expire unanswered (once, whichever
worker sees it), and the store and database outages answered 503, by backend and endpoint
family. Each is provoked, then read back from ``/metrics`` (docs/operations.md, "Metrics")."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
import requests

from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import SECRET
from tests.support.operations import metric_sum
from tests.support.operations import parse_metrics
from tests.support.operations import run
from tests.support.redis_server import RedisServer
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.postgres]

CIBA = "urn:openid:params:grant-type:ciba"


@pytest.fixture(scope="module")
def redis():
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis, postgres_module_url):
    home = tmp_path_factory.mktemp("metrics-failures")
    with santeid_process(
        home,
        args=["--workers", "2"],
        clients=[CLIENT],
        SANTEID_STORE_URL=redis.url,
        SANTEID_DATABASE_URL=postgres_module_url,
        SANTEID_DEVICE_FILE=str(home / "device.json"),
        SANTEID_SANDBOX_APPROVAL_DELAY=None,
    ) as process:
        yield {
            "base": process.base,
            "issuer": process.issuer,
            "env": process.env,
            "database_url": postgres_module_url,
        }


def _metrics(server) -> dict:
    response = requests.get(f"{server['base']}/metrics", timeout=10)
    assert response.status_code == 200
    return parse_metrics(response.text)


def _token_request(server, data: dict | None = None) -> requests.Response:
    return requests.post(
        f"{server['issuer']}/protocol/openid-connect/token",
        auth=(CLIENT_ID, SECRET),
        data=data or {"grant_type": "authorization_code", "code": "no-such-code",
                      "redirect_uri": "https://rp.example.org/callback"},
        timeout=30,
    )  # fmt: skip


def test_refusals_of_the_hardening_layers_are_counted_by_reason(server):
    before = _metrics(server)
    bad_host = requests.get(
        f"{server['base']}/health/live", headers={"Host": "bad host!"}, timeout=10
    )
    assert bad_host.status_code == 400
    too_long = requests.get(
        f"{server['issuer']}/protocol/openid-connect/auth",
        params={"client_id": "x" * 5000},
        timeout=10,
    )
    assert too_long.status_code == 400
    too_big = requests.post(
        f"{server['issuer']}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "padding": "y" * 300_000},
        timeout=10,
    )
    assert too_big.status_code == 413
    after = _metrics(server)

    def added(reason: str) -> float:
        return metric_sum(after, "santeid_refusals_total", reason=reason) - metric_sum(
            before, "santeid_refusals_total", reason=reason
        )

    assert added("malformed_host") == 1
    assert added("parameter_too_large") == 1
    assert added("body_too_large") == 1


def test_a_ciba_request_left_unanswered_counts_once_as_expired(server):
    env = server["env"]
    listed = json.loads(run(env, "directory", "list", "--json"))
    national_id = next(
        p["national_id"]
        for p in listed
        if not p["sandbox_auto_approve"] and p.get("status", "active") == "active"
    )
    # An enrolled e-CPS nobody answers: the request stays pending until it expires.
    activation = json.loads(run(env, "ecps", "activate", national_id, "--json"))
    run(env, "device", "enroll", "--activation-uri", activation["uri"], "--pin", "135790")
    before = _metrics(server)
    accepted = requests.post(
        f"{server['issuer']}/protocol/openid-connect/ext/ciba/auth",
        auth=(CLIENT_ID, SECRET),
        data={"scope": "openid", "login_hint": national_id, "binding_message": "42",
              "requested_expiry": "1"},
        timeout=10,
    )  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    auth_req_id = accepted.json()["auth_req_id"]
    time.sleep(accepted.json()["expires_in"] + 0.5)
    polls = [
        _token_request(server, {"grant_type": CIBA, "auth_req_id": auth_req_id})
        for _ in range(4)  # two workers: both are likely to see it expired
    ]
    assert {(p.status_code, p.json()["error"]) for p in polls} == {(400, "expired_token")}
    after = _metrics(server)
    labels = {"delivery_mode": "poll", "outcome": "expired"}
    added = metric_sum(after, "santeid_ciba_outcomes_total", **labels) - metric_sum(
        before, "santeid_ciba_outcomes_total", **labels
    )
    assert added == 1


def test_a_database_outage_answered_503_is_counted_by_backend_and_family(server):
    before = _metrics(server)
    # The registered clients' table (in this module's own schema: the URL's search_path) held
    # by another transaction: each token request waits for it until the statement timeout,
    # then is answered 503. Nothing else of the database is touched.
    with psycopg.connect(server["database_url"]) as holder:
        holder.execute("LOCK TABLE client IN ACCESS EXCLUSIVE MODE")
        try:
            answers = [_token_request(server) for _ in range(2)]
        finally:
            holder.rollback()
    assert [a.status_code for a in answers] == [503, 503], [a.text for a in answers]
    assert {a.json()["error"] for a in answers} == {"temporarily_unavailable"}
    assert _token_request(server).status_code == 400  # invalid_grant: the client is read again
    after = _metrics(server)
    labels = {"backend": "postgresql", "operation": "token"}
    added = metric_sum(after, "santeid_database_errors_total", **labels) - metric_sum(
        before, "santeid_database_errors_total", **labels
    )
    assert added == 2


def test_a_store_outage_answered_503_is_counted_by_backend_and_family(server, redis):
    before = _metrics(server)
    redis.stop()
    answers = [_token_request(server) for _ in range(3)]
    assert [a.status_code for a in answers] == [503] * 3
    assert {a.json()["error"] for a in answers} == {"temporarily_unavailable"}
    after = _metrics(server)
    labels = {"backend": "redis", "operation": "token"}
    added = metric_sum(after, "santeid_store_errors_total", **labels) - metric_sum(
        before, "santeid_store_errors_total", **labels
    )
    assert added == 3

"""The health endpoints inside the application: the probes answer over plain HTTP whatever the
issuer (docs/operations.md "Health endpoints"), and a failed readiness check says why in the
server log."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from santeid import create_app
from santeid.db import SqliteUnavailable
from santeid.keys.lifecycle import NoSigningKey
from santeid.storage import MemoryStore
from santeid.storage.redis import RedisStore
from tests.support.redis_server import RedisServer
from tests.support.redis_server import closed_port

HTTPS_ISSUER = "https://id.example.org/auth/realms/esante-wallet"


@pytest.fixture
def https_client(settings):
    """The sandbox app with an ``https://`` issuer, called over plain HTTP from loopback (an
    orchestrator's probe sent straight to the pod's port)."""
    return create_app(settings.replace(issuer=HTTPS_ISSUER), store=MemoryStore()).test_client()


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/metrics"])
def test_probes_and_metrics_answer_plain_http_with_an_https_issuer(https_client, path):
    assert https_client.get(path).status_code == 200


def test_metrics_over_plain_http_are_still_behind_their_allow_list(https_client):
    far = https_client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert far.status_code == 404


def test_the_realm_still_requires_https(https_client):
    answer = https_client.get("/auth/realms/esante-wallet/.well-known/openid-configuration")
    assert answer.status_code == 403
    assert answer.get_json()["error_description"] == "HTTPS required"
    # Only the exact probe paths: nothing under them, nothing that merely starts like them.
    assert https_client.get("/health/live/x").status_code == 403
    assert https_client.get("/metricsx").status_code == 403


# -- why a readiness check failed: in the server log ------------------------------------------
#: The loggers that tell why a check failed: the checks of santeid.health, and the pings of the
#: store and the database, which also answer /health.
REASON_LOGGERS = {"santeid.health", "santeid.storage.redis", "santeid.db.backends"}


def _reasons(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name in REASON_LOGGERS and record.levelno == logging.WARNING
    ]


def _ready(app):
    answer = app.test_client().get("/health/ready")
    return answer.status_code, {
        name: c["status"] for name, c in answer.get_json()["checks"].items()
    }


def test_an_unreachable_redis_is_logged_once_without_its_password(settings, caplog):
    password = "redis-password-not-for-logs"
    with closed_port() as port:  # refuses connections: nobody listens there
        store = RedisStore.from_url(f"redis://:{password}@127.0.0.1:{port}/0")
        app = create_app(settings, store=store)
        caplog.clear()
        status, checks = _ready(app)
    assert (status, checks["store"]) == (503, "down")
    (reason,) = _reasons(caplog)
    assert reason.startswith("Redis store does not answer PING: ConnectionError: ")
    assert f"127.0.0.1:{port}" in reason
    assert password not in caplog.text


@pytest.mark.redis
def test_no_sentinel_answering_is_one_short_line_naming_the_addresses(
    settings, redis_server, caplog
):
    """Every sentinel of a ``redis+sentinel://`` store down: the readiness check's reason is one
    line naming the master and each address tried, not redis-py's ``repr`` of every sentinel
    client (some two thousand characters each) — docs/storage.md, "Failure behaviour"."""
    config = f"sentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n"
    with closed_port() as never, RedisServer(config=config, extra_args=["--sentinel"]) as one:
        url = f"redis+sentinel://127.0.0.1:{one.port},127.0.0.1:{never}/mymaster/0"
        app = create_app(settings, store=RedisStore.from_url(url))
        one.stop()  # before the store's first connection: no master known
        caplog.clear()
        status, checks = _ready(app)
        assert (status, checks["store"]) == (503, "down")
        assert _reasons(caplog) == [
            "Redis store does not answer PING: MasterNotFoundError: no sentinel answered for "
            f"master 'mymaster' (tried 127.0.0.1:{one.port}, 127.0.0.1:{never})"
        ]
        assert app.test_client().get("/health").get_json()["store"] == "unavailable"


def test_a_failing_database_is_logged_once_by_its_url(app, monkeypatch, caplog):
    database = app.extensions["santeid"].clients.db

    def locked(*args, **kwargs):
        raise SqliteUnavailable("database is locked")

    monkeypatch.setattr(database, "execute", locked)
    caplog.clear()
    status, checks = _ready(app)
    assert (status, checks["database"]) == (503, "down")
    assert _reasons(caplog) == [
        f"database {database.url} does not answer: SqliteUnavailable: database is locked"
    ]


def test_a_check_that_raises_is_logged_with_its_message(app, monkeypatch, caplog):
    def no_key(*args, **kwargs):
        raise NoSigningKey("no active signing key")

    monkeypatch.setattr(app.extensions["santeid"].keys, "signing_key", no_key)
    caplog.clear()
    status, checks = _ready(app)
    assert (status, checks["signing_keys"]) == (503, "down")
    assert _reasons(caplog) == [
        "readiness check signing_keys is down: NoSigningKey: no active signing key"
    ]


def test_a_check_past_its_deadline_is_logged_as_a_timeout(settings, monkeypatch, caplog):
    app = create_app(settings.replace(health_check_timeout=0.05), store=MemoryStore())
    keys = app.extensions["santeid"].keys
    slow = keys.signing_key

    def hung(*args, **kwargs):
        time.sleep(0.5)
        return slow(*args, **kwargs)

    monkeypatch.setattr(keys, "signing_key", hung)
    caplog.clear()
    status, checks = _ready(app)
    assert (status, checks["signing_keys"]) == (503, "timeout")
    assert _reasons(caplog) == [
        "readiness check signing_keys is timeout: no answer within health_check_timeout (0.05 s)"
    ]


def test_a_missing_civil_status_base_is_logged_only_when_required(settings, caplog):
    without_base = create_app(settings, store=MemoryStore())
    caplog.clear()
    assert _ready(without_base)[1]["civil_status"] == "down"  # not required: no warning
    assert _reasons(caplog) == []

    missing = Path(settings.data_dir) / "absent-civil-status.sqlite3"
    with_base = create_app(settings.replace(insi_base=str(missing)), store=MemoryStore())
    caplog.clear()
    status, checks = _ready(with_base)
    assert (status, checks["civil_status"]) == (503, "down")
    (reason,) = _reasons(caplog)
    assert reason.startswith(
        f"readiness check civil_status is down: RuntimeError: no civil-status base at {missing}"
    )


# -- concurrent probes during an outage -------------------------------------------------------


def test_concurrent_probes_share_one_check_per_dependency(settings, monkeypatch):
    """Six probes while the database hangs: the database check runs once for all of them
    and counts as ``timeout``, and the store and the keys, which answer, are ``up`` in every
    answer — a hung dependency never makes another one look down (docs/operations.md,
    "Health endpoints")."""
    import threading

    app = create_app(settings.replace(health_check_timeout=0.5), store=MemoryStore())
    database = app.extensions["santeid"].clients.db
    released = threading.Event()
    calls = []

    def hung_ping(*args, **kwargs):
        calls.append(time.monotonic())
        released.wait(10)
        return True

    monkeypatch.setattr(database, "ping", hung_ping)
    answers: list = []

    def probe() -> None:
        answers.append(_ready(app))

    try:
        probes = [threading.Thread(target=probe) for _ in range(6)]
        for thread in probes:
            thread.start()
        for thread in probes:
            thread.join(10)
    finally:
        released.set()
    assert len(answers) == 6
    for status, checks in answers:
        assert status == 503
        assert checks["database"] == "timeout"
        assert (checks["store"], checks["signing_keys"]) == ("up", "up"), checks
    assert len(calls) == 1
    # Once the database answers, the probes are ready, and a finished check is not reused: each
    # later probe runs its own.
    deadline = time.monotonic() + 5
    while _ready(app)[0] != 200:
        assert time.monotonic() < deadline
    checked = len(calls)
    assert _ready(app)[0] == 200
    assert len(calls) == checked + 1

"""Revocations and Redis restarts, against a real server and real Redis servers: with the
persistence docs/deployment.md asks for, a revoked token stays refused after Redis restarts;
without it, santeid warns at start-up; with ``CONFIG`` disabled, it starts and says it could not
check."""

from __future__ import annotations

import pytest
import requests

from tests.support.attack_server import santeid_server
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.server, pytest.mark.redis]

SECRET = "a-long-secret-for-the-revocation-test-0123456789"
WARNING = "does not persist its data"


def _client(server) -> None:
    server.register(
        "rp-revoke",
        client_secret=SECRET,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
    )


def _introspect(server, token: str) -> dict:
    response = requests.post(
        f"{server.oidc}/token/introspect",
        data={"token": token},
        auth=("rp-revoke", SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_revoked_token_stays_revoked_across_a_redis_restart(tmp_path):
    data = tmp_path / "redis-data"
    data.mkdir()
    redis_server = RedisServer(extra_args=["--appendonly", "yes", "--dir", str(data)]).start()
    try:
        (tmp_path / "home").mkdir()
        with santeid_server(tmp_path / "home", redis_server, db=0) as server:
            assert WARNING not in server.log.read_text()
            _client(server)
            token = requests.post(
                f"{server.oidc}/token",
                data={"grant_type": "client_credentials"},
                auth=("rp-revoke", SECRET),
                timeout=10,
            ).json()["access_token"]
            revoked = requests.post(
                f"{server.oidc}/revoke",
                data={"token": token},
                auth=("rp-revoke", SECRET),
                timeout=10,
            )
            assert revoked.status_code == 200
            assert _introspect(server, token)["active"] is False

            redis_server.stop()
            redis_server.start()  # same port, same data directory: the AOF is read back

            assert _introspect(server, token)["active"] is False
    finally:
        redis_server.stop()


def test_a_redis_without_persistence_is_reported_at_start_up(tmp_path, redis_server):
    with santeid_server(tmp_path, redis_server, db=15) as server:
        assert WARNING in server.log.read_text()


def test_a_redis_refusing_config_does_not_stop_the_start(tmp_path):
    redis_server = RedisServer(extra_args=["--rename-command", "CONFIG", ""]).start()
    try:
        with santeid_server(tmp_path, redis_server, db=0) as server:
            log = server.log.read_text()
            assert "store persistence not checked" in log and WARNING not in log
            assert requests.get(f"{server.base}/health", timeout=10).status_code == 200
    finally:
        redis_server.stop()

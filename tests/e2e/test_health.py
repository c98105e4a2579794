"""``/health/ready`` of a real server follows its Redis: 503 naming the store while
redis-server is stopped (why, in the server log), 200 again once it is back (same port);
``/health/live`` stays up."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]


def _ready(base: str) -> requests.Response:
    return requests.get(f"{base}/health/ready", timeout=10)


def _wait_for(base: str, status: int) -> requests.Response:
    deadline = time.monotonic() + 20
    while True:
        response = _ready(base)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_readiness_follows_redis(tmp_path, disposable_redis):
    with santeid_process(
        tmp_path,
        args=(),
        SANTEID_STORE_URL=disposable_redis.url,
        SANTEID_HEALTH_CHECK_TIMEOUT="2",
    ) as server:
        base = server.base
        ready = _ready(base)
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "up"
        assert {name: check["status"] for name, check in body["checks"].items()} == {
            "store": "up",
            "database": "up",
            "signing_keys": "up",
            # No civil-status base generated: reported, not required without insi_base.
            "civil_status": "down",
        }
        assert body["checks"]["civil_status"]["required"] is False
        assert ready.headers["Cache-Control"] == "no-store"

        disposable_redis.stop()
        down = _wait_for(base, 503)
        assert down.status_code == 503
        assert down.json()["status"] == "down"
        assert down.json()["checks"]["store"] == {"status": "down", "required": True}
        assert down.json()["checks"]["database"]["status"] == "up"
        # The reason is not in the body but in the server log (docs/operations.md).
        assert "Redis store does not answer PING: ConnectionError: " in server.log.read_text()
        live = requests.get(f"{base}/health/live", timeout=5)
        assert live.status_code == 200 and live.json() == {"status": "up"}
        assert requests.get(f"{base}/health", timeout=5).status_code == 503

        disposable_redis.start()
        back = _wait_for(base, 200)
        assert back.status_code == 200
        assert back.json()["checks"]["store"]["status"] == "up"

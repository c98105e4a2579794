"""A real ``santeid serve --sandbox`` process on Redis for the e-CPS app tests, with a relying
party for browser logins and a CIBA client (poll mode)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.ecps_app_server import CIBA_GRANT
from tests.support.ecps_app_server import SECRET
from tests.support.ecps_app_server import Server
from tests.support.redis_server import free_port
from tests.support.servers import santeid_process


@contextlib.contextmanager
def serve(home: Path, store_url: str) -> Iterator[Server]:
    """``santeid serve --sandbox`` on a free port, on the given Redis database (flushed)."""
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    # Nothing listens there: the browser stops on the redirect, whose URL the test reads.
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    clients = {
        "rp-app": {
            "client_name": "Service de démonstration",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
        },
        "ciba-app": {
            "client_name": "Logiciel de cabinet",
            "grant_types": [CIBA_GRANT],
            "backchannel_token_delivery_mode": "poll",
            "backchannel_polling_interval": 0,
        },
    }
    with santeid_process(
        home,
        clients=[
            {
                "client_id": client_id,
                "client_secret": SECRET,
                "token_endpoint_auth_method": "client_secret_basic",
                **metadata,
            }
            for client_id, metadata in clients.items()
        ],
        SANTEID_STORE_URL=store_url,
        SANTEID_ECPS_LONG_POLL="5",
        SANTEID_SANDBOX_APPROVAL_DELAY=None,
    ) as process:
        found = Server(process.base, process.env, home, redirect_uri)
        found.process = process.process
        yield found


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server) -> Iterator[Server]:
    store_url = redis_server.url.rsplit("/", 1)[0] + "/11"
    with serve(tmp_path_factory.mktemp("ecps-app-server"), store_url) as found:
        yield found


@pytest.fixture
def own_server(tmp_path, redis_server) -> Iterator[Server]:
    """A server of the test's own, which it may stop."""
    with serve(tmp_path, redis_server.url.rsplit("/", 1)[0] + "/12") as found:
        yield found

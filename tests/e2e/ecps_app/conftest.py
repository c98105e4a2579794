"""A real ``santeid serve --sandbox`` process on Redis for the e-CPS app tests, with a relying
party for browser logins and a CIBA client (poll mode)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.ecps_app_server import CIBA_GRANT
from tests.support.ecps_app_server import SANTEID
from tests.support.ecps_app_server import SECRET
from tests.support.ecps_app_server import Server
from tests.support.ecps_app_server import santeid_cli
from tests.support.redis_server import free_port
from tests.support.servers import running_server


@contextlib.contextmanager
def serve(home: Path, store_url: str) -> Iterator[Server]:
    """``santeid serve --sandbox`` on a free port, on the given Redis database (flushed)."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/auth/realms/esante-wallet"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    env = dict(
        os.environ,
        SANTEID_STORE_URL=store_url,
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_ISSUER=issuer,
        SANTEID_SANDBOX="true",
        SANTEID_CONFIG="",
        SANTEID_ECPS_LONG_POLL="5",
        HOME=str(home),
    )
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
    for client_id, metadata in clients.items():
        path = home / f"{client_id}.json"
        document = {
            "client_id": client_id,
            "client_secret": SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            **metadata,
        }
        path.write_text(json.dumps(document))
        santeid_cli(env, "clients", "add", str(path))
    base = f"http://127.0.0.1:{port}"
    found = Server(base, env, home, redirect_uri)
    with running_server(
        [SANTEID, "serve", "--port", str(port), "--sandbox"],
        env,
        home / "server.log",
        f"{base}/health",
    ) as process:
        found.process = process
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

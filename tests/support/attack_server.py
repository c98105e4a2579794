"""A real ``santeid serve`` process for the attacks on logins, assertions and INSi: its own
data and keys folders, a real Redis database of its own, the CLI for set-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import requests
from requests.adapters import HTTPAdapter

from tests.support.redis_server import free_port
from tests.support.servers import running_server

SANTEID = str(Path(sys.executable).with_name("santeid"))
REALM = "/auth/realms/esante-wallet"


@dataclass
class Server:
    base: str
    issuer: str
    env: dict
    home: Path
    log: Path
    store_url: str

    @property
    def oidc(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [SANTEID, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def register(self, client_id: str, **metadata) -> dict:
        document = {"client_id": client_id, "client_name": client_id, **metadata}
        path = self.home / f"{client_id}.json"
        path.write_text(json.dumps(document))
        self.cli("clients", "add", str(path))
        return document


@contextmanager
def santeid_server(
    home: Path, redis_server, *, db: int, settings: dict[str, str] | None = None
) -> Iterator[Server]:
    """``santeid serve --sandbox`` on a free port, its store in Redis database ``db``
    (flushed first), ``settings`` as ``SANTEID_*`` variables."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = base + REALM
    store_url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    env.update(
        SANTEID_STORE_URL=store_url,
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_ISSUER=issuer,
        SANTEID_SANDBOX="true",
        SANTEID_SANDBOX_APPROVAL_DELAY="0",
        HOME=str(home),
    )
    env.update(settings or {})
    log = home / "server.log"
    with running_server(
        [SANTEID, "serve", "--port", str(port), "--sandbox"], env, log, f"{base}/health"
    ):
        yield Server(base, issuer, env, home, log, store_url)


class FromAddress(HTTPAdapter):
    """Connections from another loopback source address: a second client, as the server sees
    it (``request.remote_addr``)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser_from(address: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", FromAddress(address))
    return session

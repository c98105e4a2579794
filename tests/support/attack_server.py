"""A real ``santeid serve`` process for the attacks on logins, assertions and INSi: its own
data and keys folders, a real Redis database of its own, the CLI for set-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import requests
from requests.adapters import HTTPAdapter

from tests.support.servers import SanteidProcess
from tests.support.servers import santeid_process

Server = SanteidProcess


@contextmanager
def santeid_server(
    home: Path, redis_server, *, db: int, settings: dict[str, str] | None = None
) -> Iterator[SanteidProcess]:
    """``santeid serve --sandbox`` on a free port, its store in Redis database ``db``
    (flushed first), ``settings`` as ``SANTEID_*`` variables."""
    store_url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    with santeid_process(home, SANTEID_STORE_URL=store_url, **(settings or {})) as server:
        yield server


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

"""The connection limit per address spares the trusted proxies, on a real ``santeid serve`` in
each shipped layout (docs/security.md, "Slow clients and resource exhaustion": "trusted proxies
exempt"): the reverse proxy carries every client's connections, and a limit of a few per
address would cut the service off at its busiest; any other address is held to the limit.

Each layout reads the client's address in a way of its own — Werkzeug's ``verify_request``,
gunicorn's ``accept``, Granian's ``scope.client`` (``ip:port``) — before the same
``AddressLimiter``: the exemption is checked where each one counts.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

import pytest

from tests.support.security import EVERY_LAYOUT
from tests.support.servers import LAYOUTS

pytestmark = [pytest.mark.server]

TOKEN_PATH = "/auth/realms/esante-wallet/protocol/openid-connect/token"
LIMIT_PER_ADDRESS = 2
#: Long enough that a connection kept by the server, its body not sent yet, is still waiting
#: when the refusals (which come at once) have all been seen.
BODY_DEADLINE = 20
#: The reverse proxy, and a client that is not one (all of 127.0.0.0/8 is the loopback
#: interface on Linux); neither is the health probes' 127.0.0.1.
PROXY = "127.0.6.1"
CLIENT = "127.0.6.2"
#: A body the token endpoint answers at once (400: no grant type it knows).
BODY = b"grant_type=none&pad=" + b"x" * 80


@pytest.fixture(scope="module", params=EVERY_LAYOUT)
def server(request, serve_layout):
    """``santeid serve`` with a limit of ``LIMIT_PER_ADDRESS`` connections per address and
    ``PROXY`` trusted; its ``port``, ``ca`` (direct TLS) and number of ``workers``, each of
    which counts on its own."""
    settings = {
        "SANTEID_MAX_CONNECTIONS_PER_ADDRESS": str(LIMIT_PER_ADDRESS),
        "SANTEID_REQUEST_BODY_TIMEOUT": str(BODY_DEADLINE),
        "SANTEID_TRUSTED_PROXIES": PROXY,
    }
    own = LAYOUTS[request.param][0]  # the layout's arguments: its --workers, if any
    workers = int(own[own.index("--workers") + 1]) if "--workers" in own else 1
    with serve_layout(request.param, db=11, **settings) as process:
        yield {"port": process.port, "ca": process.ca, "workers": workers, "log": process.log}


def _open(server, source: str) -> socket.socket | None:
    """A connection from ``source`` with a token request's headers sent, its body not yet;
    ``None`` if the server refused it during the TLS handshake."""
    sock = socket.create_connection(("127.0.0.1", server["port"]), 10, (source, 0))
    try:
        if server["ca"] is not None:
            context = ssl.create_default_context(cafile=server["ca"])
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(
            f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        )
    except OSError:
        sock.close()
        return None
    return sock


#: How long the refusals, which come at once, are waited for.
WINDOW = 2


def _first_bytes(opened: list[socket.socket | None]) -> list[bytes | None]:
    """What the server sent first on each connection within ``WINDOW`` seconds (``b""``:
    closed or reset), ``None`` for a connection it kept quiet on or refused earlier."""
    until = time.monotonic() + WINDOW
    return [None if sock is None else _sent(sock, until) for sock in opened]


def _sent(sock: socket.socket, until: float) -> bytes | None:
    """What the server sent by ``until`` (``b""``: closed or reset), ``None`` if it kept quiet.
    Over TLS a record without data (a TLS 1.3 session ticket) is no answer."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while poller.poll(max(0.0, until - time.monotonic()) * 1000):
        sock.setblocking(False)
        try:
            return sock.recv(65536)
        except ssl.SSLWantReadError:
            continue
        except OSError:
            return b""
        finally:
            sock.setblocking(True)
    return None


def _answers(kept: list[socket.socket]) -> list[bytes]:
    """The whole answer to each request once its body is sent (``Connection: close``): every
    body first, then every answer."""
    for sock in kept:
        sock.settimeout(10)
        sock.sendall(BODY)
    return [_read_all(sock) for sock in kept]


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:
        pass
    return received


def _refused(first: bytes | None) -> bool:
    # Werkzeug and gunicorn close a connection over the limit; Granian answers it 503.
    return first is not None and (first == b"" or first.startswith(b"HTTP/1.1 503"))


def test_the_trusted_proxy_is_not_held_to_the_limit_per_address(server):
    """Three connections more than the limit allows (per process) from the trusted proxy:
    none is cut, and each request is answered once its body arrives."""
    count = LIMIT_PER_ADDRESS * server["workers"] + 3
    opened = [_open(server, PROXY) for _ in range(count)]
    try:
        assert None not in opened, "a connection of the trusted proxy was refused"
        firsts = _first_bytes(opened)
        assert firsts == [None] * count, firsts
        answers = _answers(opened)
    finally:
        for sock in opened:
            if sock is not None:
                sock.close()
    assert all(answer.startswith(b"HTTP/1.1 400 ") for answer in answers), answers
    assert "connection from 127.0.6.1 refused" not in server["log"].read_text()


def test_another_address_is_held_to_the_limit_per_address(server):
    """The same connections from an address that is not a trusted proxy: those beyond the limit
    are refused at once, those within it kept and answered."""
    count = LIMIT_PER_ADDRESS * server["workers"] + 3
    opened = [_open(server, CLIENT) for _ in range(count)]
    try:
        firsts = _first_bytes(opened)
        refused = sum(
            sock is None or _refused(first) for sock, first in zip(opened, firsts, strict=True)
        )
        kept = [
            sock
            for sock, first in zip(opened, firsts, strict=True)
            if sock is not None and first is None
        ]
        assert refused >= 3, firsts
        assert len(kept) >= LIMIT_PER_ADDRESS, firsts
        answers = _answers(kept)
    finally:
        for sock in opened:
            if sock is not None:
                sock.close()
    assert all(answer.startswith(b"HTTP/1.1 400 ") for answer in answers), answers

"""Concurrency helpers for the tests of atomic operations."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

THREADS = 20


def race(action: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``action(i)`` in ``threads`` threads released at the same instant."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = action(i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results


def race_http(
    url: str,
    body: bytes | list[bytes],
    *,
    headers: dict[str, str],
    method: str = "POST",
    copies: int = THREADS,
    timeout: float = 30,
) -> list[tuple[int, bytes]]:
    """``copies`` identical requests to a real server, arriving together
    (:func:`race_requests`). ``body`` as a list: one request per body instead of ``copies`` of
    one. Returns each request's ``(status, body)``, in the order of the bodies."""
    bodies = body if isinstance(body, list) else [body] * copies
    assert all(bodies), url
    answers = race_requests([RawRequest(method, url, headers, each) for each in bodies], timeout)
    return [(answer.status, answer.body) for answer in answers]


@dataclass(frozen=True)
class RawRequest:
    """One request of :func:`race_requests`."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds its last byte waits once the others are released: a sweep of such offsets
    #: lands some races inside windows narrower than a request.
    after: float = 0


@dataclass(frozen=True)
class RawAnswer:
    """What a server answered one request of :func:`race_requests`."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


def race_requests(sent: list[RawRequest], timeout: float = 30) -> list[RawAnswer]:
    """Requests to a real server (any methods, URLs, headers: a logout and a login's end),
    arriving together: each on a connection of its own, sent whole but for its last byte (of
    the body, or the blank line ending the headers); once every one is there, the last bytes
    go out at the same instant (a server runs no request before it is complete). Requests
    merely started together reach the server one after the other as their connections open,
    and each may be over before the next begins. Returns each request's answer, in order."""
    raws = []
    for each in sent:
        parts = urlsplit(each.url)
        assert parts.scheme == "http", each.url
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"{each.method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in each.headers.items()]
        if each.body or each.method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(each.body)}")
        raws.append(
            ((parts.hostname, parts.port), "\r\n".join(lines).encode() + b"\r\n\r\n" + each.body)
        )
    sockets = []
    try:
        for address, raw in raws:
            sock = socket.create_connection(address, timeout=timeout)
            sockets.append(sock)
            sock.sendall(raw[:-1])

        def finish(i: int) -> RawAnswer:
            time.sleep(sent[i].after)
            sockets[i].sendall(raws[i][1][-1:])
            response = http.client.HTTPResponse(sockets[i], method=sent[i].method)
            response.begin()
            return RawAnswer(response.status, response.msg, response.read())

        return race(finish, len(raws))
    finally:
        for sock in sockets:
            sock.close()

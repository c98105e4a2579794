"""Concurrency helpers for the tests of atomic operations."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
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
    """``copies`` identical requests to a real server, arriving together: each on a connection
    of its own, sent whole but for the body's last byte; once every one is there, the last
    bytes go out at the same instant (a server runs no request before its body is complete).
    Requests merely started together reach the server one after the other as their
    connections open, and each may be over before the next begins. ``body`` as a list: one
    request per body instead of ``copies`` of one. Returns each request's ``(status, body)``,
    in the order of the bodies."""
    parts = urlsplit(url)
    bodies = body if isinstance(body, list) else [body] * copies
    assert parts.scheme == "http" and all(bodies), url
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connections = []
    try:
        for each in bodies:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            connection.putrequest(method, target)
            for name, value in {**headers, "Content-Length": str(len(each))}.items():
                connection.putheader(name, value)
            connection.endheaders()
            connection.send(each[:-1])
            connections.append(connection)

        def finish(i: int) -> tuple[int, bytes]:
            connections[i].send(bodies[i][-1:])
            response = connections[i].getresponse()
            return response.status, response.read()

        return race(finish, len(bodies))
    finally:
        for connection in connections:
            connection.close()

"""An ASGI application (a FastAPI service) served by uvicorn in a thread of the test process,
as in production but without a process of its own: one event loop for the whole service, on a
socket bound before the server starts (no race for a port)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn

from tests.support.browser import wait_for


@contextlib.contextmanager
def uvicorn_serving(app) -> Iterator[str]:
    """``app`` served by uvicorn on ``127.0.0.1``: its origin once it accepts requests;
    stopped (and its thread joined) at the end."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="uvicorn's start")
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()

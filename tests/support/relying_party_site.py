"""A relying party's web site for browser tests: on ``http://localhost:<port>``, another site
than santeid's ``127.0.0.1`` for the browser (cross-site cookies, framing, ``postMessage``)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from tests.support.browser import wait_for

BACK = '<!doctype html><p id="back">back at the relying party</p>'


class RelyingPartySite:
    """``/callback`` records the query each redirect back brings (:attr:`callbacks`); the
    pages a test needs come from :meth:`page` (HTML, or a ``(body, content type)`` pair: a
    script); any other path answers a plain page. Used as a context manager: it serves in a
    thread of its own in between."""

    def __init__(self) -> None:
        self.callbacks: list[dict[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = site.page(parts.path, query)
                content_type = "text/html; charset=utf-8"
                if body is None:
                    if parts.path == "/callback":
                        site.callbacks.append(query)
                    body = BACK
                elif isinstance(body, tuple):
                    body, content_type = body
                raw = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        self.callback = f"{self.origin}/callback"

    def page(self, path: str, query: dict[str, str]) -> str | tuple[str, str] | None:
        """The HTML of ``path`` for ``query`` (or its body and content type), or None for the
        plain page."""
        return None

    def __enter__(self) -> RelyingPartySite:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_callback(self, state: str) -> dict[str, str]:
        """The query of the redirect back with ``state``."""
        return wait_for(
            lambda: next((c for c in self.callbacks if c.get("state") == state), None),
            what=f"the redirect back with state {state}",
        )

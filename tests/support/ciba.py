"""Helpers for the CIBA tests: registering CIBA clients, calling the back-channel and token
endpoints through Flask's test client (or over HTTP, of a real server), a local HTTP receiver
for ping and push."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any

import requests

from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
BACKCHANNEL = f"{OIDC}/ext/ciba/auth"
TOKEN = f"{OIDC}/token"
SECRET = "ciba-client-secret-0123456789"


def register_ciba_client(app, client_id: str = "ciba-rp", **overrides: Any) -> dict:
    metadata: dict[str, Any] = {
        "client_id": client_id,
        "client_name": "Logiciel lourd de test",
        "client_secret": SECRET,
        "grant_types": [CIBA_GRANT, "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "backchannel_token_delivery_mode": "poll",
        "backchannel_polling_interval": 0,
    }
    metadata.update(overrides)
    metadata = {k: v for k, v in metadata.items() if v is not None}
    app.extensions["santeid"].clients.add(metadata, replace=True)
    return metadata


def auth_headers(meta: dict) -> dict:
    if meta.get("token_endpoint_auth_method", "client_secret_basic") == "client_secret_basic":
        return basic_auth(meta["client_id"], meta["client_secret"])
    return {}


def backchannel(http, meta: dict, *, headers: dict | None = None, **params: Any):
    data = {"scope": "openid scope_all", "binding_message": "42"}
    data.update(params)
    data = {k: v for k, v in data.items() if v is not None}
    return http.post(
        BACKCHANNEL, data=data, headers=auth_headers(meta) if headers is None else headers
    )


def start(http, meta: dict, national_id: str, **params: Any) -> dict:
    response = backchannel(http, meta, login_hint=national_id, **params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def poll(http, meta: dict, auth_req_id: str, *, headers: dict | None = None, **extra: Any):
    data = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id, **extra}
    return http.post(TOKEN, data=data, headers=auth_headers(meta) if headers is None else headers)


def start_over_http(discovery: dict, credentials: tuple[str, str], national_id: str) -> str:
    """A poll-mode CIBA request for ``national_id`` (binding message ``A1``) to a real server
    (``discovery``: its OpenID configuration), as client ``credentials``: its
    ``auth_req_id``."""
    response = requests.post(
        discovery["backchannel_authentication_endpoint"],
        data={"scope": "openid scope_all", "login_hint": national_id, "binding_message": "A1"},
        auth=credentials,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["auth_req_id"]


def poll_over_http(
    discovery: dict, credentials: tuple[str, str], auth_req_id: str
) -> requests.Response:
    """One poll of the token endpoint of a real server for ``auth_req_id``."""
    return requests.post(
        discovery["token_endpoint"],
        data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
        auth=credentials,
        timeout=5,
    )


def error_of(response) -> str:
    return response.get_json()["error"]


class Receiver:
    """A local HTTP server recording POSTs (:meth:`record`); ``statuses`` are answered in turn
    (the last one repeats), each ``delay`` seconds after the request was read (a slow relying
    party). Started by the test, on 127.0.0.1 (allowed in sandbox mode only)."""

    def __init__(
        self,
        statuses: list[int] | None = None,
        *,
        location: str | None = None,
        delay: float = 0.0,
    ):
        self.statuses = list(statuses or [204])
        self.location = location
        self.delay = delay
        self.received: list[dict[str, Any]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(receiver.record(self.path, dict(self.headers), body))
                index = min(len(receiver.received) - 1, len(receiver.statuses) - 1)
                status = receiver.statuses[index]
                time.sleep(receiver.delay)
                self.send_response(status)
                if receiver.location and 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.event.set()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A slow answer still under way does not hold the test's end.
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """What is kept of one POST: a JSON body (CIBA's ping and push)."""
        return {"path": path, "headers": headers, "body": json.loads(body or b"null")}

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.received
        return self.received

"""Ping and push notifications to the client (CIBA Core 1.0 §10.2, §10.3, §12).

* **Ping**: ``POST`` ``{"auth_req_id": …}`` to the client's registered
  ``backchannel_client_notification_endpoint`` with ``Authorization: Bearer
  <client_notification_token>``; the client then fetches the result at the token endpoint.
* **Push**: the same ``POST`` carries the token response itself (with ``auth_req_id``), or
  the push error payload ``{"auth_req_id", "error", "error_description"}`` after a denial.

Rules (issue 4; oidc.md §5.4 item 5, §7 item 6): no redirect is followed (``http.client``
never follows one; a 3xx is a failure); 5-second timeout; at most 3 retries with exponential
backoff on network errors and 5xx, never on 4xx; deliveries run on a small thread pool so a
decision never waits for the client; the outcome of a notification never changes what the
client can poll.

SSRF guard: the URL is checked again before each attempt with the e-CPS webhook guard
(``santeid.ecps.webhooks.check_webhook_url``: ``https`` only, every resolved address globally
routable; in sandbox mode ``http``/``https`` to ``127.0.0.1``/``localhost``/``[::1]`` too), and
the connection goes to the address that was checked (no second DNS lookup).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import check_webhook_url

log = logging.getLogger(__name__)

#: Seconds for connecting and for the answer.
TIMEOUT = 5.0
#: Retries after the first attempt (network errors and 5xx only).
RETRIES = 3
#: Seconds before retry 1, 2, 3.
BACKOFF = (0.5, 1.0, 2.0)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address checked beforehand, whatever the name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # server_hostname: SNI and certificate verification against the URL's host name.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post_json(
    url: str, payload: dict[str, Any], *, bearer: str, sandbox: bool, timeout: float = TIMEOUT
) -> int:
    """One ``POST`` of ``payload`` as JSON; the HTTP status. Raises ``WebhookRefused`` (the
    guard refused the URL) or ``OSError``/``http.client.HTTPException`` (network)."""
    scheme, host, port, addresses = check_webhook_url(url, sandbox=sandbox)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, addresses[0], timeout)
    try:
        connection.request(
            "POST",
            target,
            body=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {bearer}",
                "User-Agent": "santeid-ciba",
            },
        )
        response = connection.getresponse()
        response.read(65536)  # CIBA Core §10.2: the body, if any, is ignored
        return response.status
    finally:
        connection.close()


class Notifier:
    """Sends notifications on a thread pool; :meth:`submit` never blocks nor raises."""

    def __init__(
        self,
        *,
        sandbox: bool,
        max_workers: int = 4,
        timeout: float = TIMEOUT,
        retries: int = RETRIES,
        backoff: tuple[float, ...] = BACKOFF,
    ) -> None:
        self.sandbox = sandbox
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ciba")

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._executor.submit(self._guarded, fn, *args)
        except RuntimeError:  # the pool is shut down (interpreter exit)
            log.warning("CIBA notification not sent: shutting down")

    @staticmethod
    def _guarded(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 — a notification must never break anything
            log.exception("CIBA notification failed")

    def send(self, url: str, payload: dict[str, Any], *, bearer: str, what: str) -> int | None:
        """POST with the retry policy; the final status, or ``None`` when none came back."""
        shown = _shown(url)
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff[min(attempt - 1, len(self.backoff) - 1)])
            try:
                status = post_json(
                    url, payload, bearer=bearer, sandbox=self.sandbox, timeout=self.timeout
                )
            except WebhookRefused as exc:
                log.warning("CIBA %s: %s refused by the SSRF guard: %s", what, shown, exc)
                return None
            except (OSError, http.client.HTTPException) as exc:
                log.warning("CIBA %s: %s attempt %d failed: %s", what, shown, attempt + 1, exc)
                continue
            if status >= 500:
                log.warning(
                    "CIBA %s: %s answered %d (attempt %d)", what, shown, status, attempt + 1
                )
                continue
            if not 200 <= status < 300:
                # 3xx (never followed) and 4xx: the client's answer is final.
                log.warning("CIBA %s: %s answered %d; not retried", what, shown, status)
            return status
        log.warning("CIBA %s: %s given up after %d attempts", what, shown, self.retries + 1)
        return None

    def shutdown(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


def _shown(url: str) -> str:
    """The URL without its query (which may hold a token) for the logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

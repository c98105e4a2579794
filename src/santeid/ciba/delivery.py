"""Ping and push notifications to the client (CIBA Core 1.0 §10.2, §10.3, §12).

* **Ping**: ``POST`` ``{"auth_req_id": …}`` to the client's registered
  ``backchannel_client_notification_endpoint`` with ``Authorization: Bearer
  <client_notification_token>``; the client then fetches the result at the token endpoint.
* **Push**: the same ``POST`` carries the token response itself (with ``auth_req_id``), or
  the push error payload ``{"auth_req_id", "error", "error_description"}`` after a denial.

Rules (the FAPI-CIBA ping-delivery tests, docs/reference/openid-standards.md §5.4 item 5, §7 item
6): no redirect is
followed (``http.client`` never follows one; a 3xx is a failure); 5-second timeout; at most 3
retries with exponential backoff on network errors and 5xx, never on 4xx; deliveries run on a
small thread pool so a decision never waits for the client; the outcome of a notification never
changes what the client can poll.

One client cannot delay another's notifications more than by one delivery: each client has its
own lane, where its deliveries go one at a time, and the lane hands the pool ONE delivery at a
time, its next one going to the back of the pool's first-come-first-served queue once the last
is done. So each client has at most one delivery in the pool (under way or waiting for a thread):
a client whose endpoint does not answer holds one thread, never more, and a delivery handed to
the pool waits behind at most one delivery of each other client. At most
:data:`PER_CLIENT_QUEUE` of a client's deliveries wait in its lane behind the one in the pool; a
notification beyond that is dropped and logged (docs/ciba.md, "Delivery rules": a ping client can
still poll; a push delivery dropped so mints no tokens).

SSRF guard: each attempt goes through the e-CPS webhooks' transport
(``santeid.ecps.webhooks.deliver``), which checks the URL again
(``check_webhook_url``: ``https`` only, every resolved address globally routable; in sandbox
mode ``http``/``https`` to ``127.0.0.1``/``localhost``/``[::1]`` too) and connects to the
address it checked (no second DNS lookup).
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import deliver

log = logging.getLogger(__name__)

#: Seconds for connecting and for the answer.
TIMEOUT = 5.0
#: Retries after the first attempt (network errors and 5xx only).
RETRIES = 3
#: Seconds before retry 1, 2, 3.
BACKOFF = (0.5, 1.0, 2.0)
#: Notifications of one client that may wait behind the one being delivered.
PER_CLIENT_QUEUE = 20


def post_json(
    url: str, payload: dict[str, Any], *, bearer: str, sandbox: bool, timeout: float = TIMEOUT
) -> int:
    """One ``POST`` of ``payload`` as JSON with ``Authorization: Bearer <bearer>``, through the
    e-CPS webhooks' guarded transport; the HTTP status. Raises ``WebhookRefused`` (the guard
    refused the URL) or ``OSError``/``http.client.HTTPException`` (network)."""
    return deliver(
        url,
        payload,
        sandbox=sandbox,
        timeout=timeout,
        headers={"Authorization": f"Bearer {bearer}"},
        user_agent="santeid-ciba",
    )


class Notifier:
    """Sends notifications on a thread pool, one lane per client (see the module docstring);
    :meth:`submit` never blocks nor raises."""

    def __init__(
        self,
        *,
        sandbox: bool,
        max_workers: int = 4,
        timeout: float = TIMEOUT,
        retries: int = RETRIES,
        backoff: tuple[float, ...] = BACKOFF,
        per_client_queue: int = PER_CLIENT_QUEUE,
    ) -> None:
        self.sandbox = sandbox
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.per_client_queue = per_client_queue
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ciba")
        self._lock = threading.Condition()
        #: The clients with a delivery in the pool, and what waits behind it.
        self._lanes: dict[str, deque[tuple[Callable[..., Any], tuple[Any, ...]]]] = {}
        #: Set by :meth:`shutdown`: nothing more is accepted.
        self._closing = False
        #: Set by ``shutdown(wait=False)``: the lanes stop after the delivery under way.
        self._stopped = False

    def submit(self, fn: Callable[..., Any], *args: Any, client_id: str = "") -> None:
        """Run ``fn(*args)`` in ``client_id``'s lane."""
        with self._lock:
            if self._closing:
                log.warning("CIBA notification to %s not sent: shutting down", client_id)
                return
            waiting = self._lanes.get(client_id)
            if waiting is not None:
                if len(waiting) >= self.per_client_queue:
                    log.warning(
                        "CIBA notification to %s dropped: %d already wait for its endpoint",
                        client_id,
                        len(waiting),
                    )
                    return
                waiting.append((fn, args))
                return
            self._lanes[client_id] = deque()
        self._hand_over(client_id, fn, args)

    def _hand_over(self, client_id: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Queue one delivery of the lane at the back of the pool's queue."""
        try:
            self._executor.submit(self._step, client_id, fn, args)
        except RuntimeError:  # the pool is shut down (interpreter exit)
            with self._lock:
                self._lanes.pop(client_id, None)
                self._lock.notify_all()
            log.warning("CIBA notification to %s not sent: shutting down", client_id)

    def _step(self, client_id: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """One delivery; then the lane's next one goes to the back of the pool's queue, so
        that the other clients' deliveries already there run first."""
        self._guarded(fn, *args)
        with self._lock:
            if self._stopped:
                return
            waiting = self._lanes[client_id]
            if not waiting:
                del self._lanes[client_id]
                self._lock.notify_all()
                return
            fn, args = waiting.popleft()
        self._hand_over(client_id, fn, args)

    @staticmethod
    def _guarded(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 — a notification must never break anything
            log.exception("CIBA notification failed")

    def send(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        bearer: str,
        what: str,
        retry: bool = True,
        still_wanted: Callable[[], bool] | None = None,
    ) -> int | None:
        """POST with the retry policy (one attempt without ``retry``); the final status, or
        ``None`` when none came back. ``still_wanted``: asked before each attempt; once it
        says no, nothing more is sent (``None``)."""
        shown = _shown(url)
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff[min(attempt - 1, len(self.backoff) - 1)])
            if still_wanted is not None and not still_wanted():
                log.info("CIBA %s: no longer wanted, not sent (attempt %d)", what, attempt + 1)
                return None
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
        log.warning("CIBA %s: %s given up after %d attempts", what, shown, attempts)
        return None

    def shutdown(self, wait: bool = False) -> None:
        """Accept no more notifications. ``wait``: return once every one accepted has been
        delivered (or given up on); otherwise drop those not under way: each delivery under
        way finishes, and its lane stops there."""
        with self._lock:
            self._closing = True
            if wait:
                self._lock.wait_for(lambda: not self._lanes)
            else:
                self._stopped = True
                self._lanes.clear()
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


def _shown(url: str) -> str:
    """The URL without its query (which may hold a token) for the logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

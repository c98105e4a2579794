"""Health endpoints for load balancers, orchestrators and operators (docs/operations.md).

* ``/health/live``: the process answers (no dependency is touched: a liveness probe that
  failed on a Redis outage would restart every healthy worker for nothing).
* ``/health/ready``: each dependency checked with a short deadline (``health_check_timeout``)
  — the store, the durable database, the signing keys and the civil-status base — and a JSON
  body naming each check and its state; 503 when one the service needs is down, so the host
  leaves the rotation until it recovers. Each dependency has at most one check running at a
  time, in a thread of its own: probes that arrive while it runs wait for that check rather
  than start another, so a hung dependency holds one thread, never the other checks' (which
  would then be reported as ``timeout`` although they answer).
* ``/health``: the original probe (store and database), kept for existing configurations.

Why a check failed is not in the body (it may name hosts) but in the server log, one WARNING per
failed required check and call: the store's and the database's ``ping`` log their own failure
(they answer ``/health`` too), the other checks raise and are logged here, as is a check that
overran its deadline.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

from flask import current_app
from flask import jsonify

from santeid import error_formats
from santeid.cache_control import no_store
from santeid.insi.model import InsiError
from santeid.services import services

log = logging.getLogger(__name__)

#: The names of the checks of ``/health/ready``, in the order of its answer.
CHECKS = ("store", "database", "signing_keys", "civil_status")


class RunningChecks:
    """The readiness checks of one application: at most one run of each at a time, shared by
    every probe that asks for it meanwhile, each in a thread of its own (one per check), so
    that a hung dependency costs its own deadline and no other check's thread."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=len(CHECKS), thread_name_prefix="health"
        )
        self._lock = threading.Lock()
        self._running: dict[str, concurrent.futures.Future] = {}

    def start(self, name: str, check: Callable[[], bool]) -> concurrent.futures.Future:
        """The run of ``name`` under way, or a new one if none is."""
        with self._lock:
            future = self._running.get(name)
            if future is None or future.done():
                future = self._running[name] = self._pool.submit(check)
            return future


def _signing_keys_ok(svc) -> bool:
    """An active signing key is loaded (a missing one raises: counted as down)."""
    return svc.keys.signing_key() is not None


def _civil_status_ok(svc) -> bool:
    """The base opens; if not, raises with the operator's explanation of why (missing file,
    wrong schema: ``santeid.insi.base``)."""
    insi = svc.insi
    if insi is None:
        raise RuntimeError("no INSi service")
    try:
        insi.base.connection()
    except InsiError as exc:
        raise RuntimeError(exc.detail or str(exc)) from None
    return True


def _checks(svc) -> dict[str, tuple]:
    """name → (check, required). The civil-status base is required only when one is configured
    (``insi_base``): a provider run for OpenID Connect alone does not need it. The database's
    ping waits ``health_check_timeout`` at most (its own default is ``/health``'s), so that a
    check left running past a probe's deadline is over by the next probe's."""
    deadline = svc.settings.observability.health_check_timeout
    checks = {
        "store": (svc.store.ping, True),
        "database": (lambda: svc.clients.db.ping(timeout=deadline), True),
        "signing_keys": (lambda: _signing_keys_ok(svc), True),
        "civil_status": (lambda: _civil_status_ok(svc), bool(svc.settings.insi.base)),
    }
    assert tuple(checks) == CHECKS
    return checks


def readiness(svc, running: RunningChecks) -> tuple[bool, dict]:
    """Every check at once (or the run of it under way), each within the deadline; ``(ready,
    {name: result})``."""
    deadline = svc.settings.observability.health_check_timeout
    started = time.monotonic()
    futures = {
        name: (running.start(name, check), required)
        for name, (check, required) in _checks(svc).items()
    }
    results: dict[str, dict] = {}
    ready = True
    for name, (future, required) in futures.items():
        remaining = max(0.0, deadline - (time.monotonic() - started))
        reason = None  # a False answer has no reason here: the pings log their own
        try:
            state = "up" if future.result(timeout=remaining) else "down"
        except concurrent.futures.TimeoutError:
            state = "timeout"
            reason = f"no answer within health_check_timeout ({deadline:g} s)"
        except Exception as exc:  # a check that raises counts as down; logged, not exposed
            state = "down"
            reason = f"{type(exc).__name__}: {exc}"
        results[name] = {"status": state, "required": required}
        if required and state != "up":
            ready = False
            if reason:
                log.warning("readiness check %s is %s: %s", name, state, reason)
    return ready, results


def live():
    return no_store(jsonify(status="up"))


def ready():
    ok, checks = readiness(services(), current_app.extensions[_RUNNING])
    response = jsonify(status="up" if ok else "down", checks=checks)
    response.status_code = 200 if ok else 503
    return no_store(response)


def health():
    store_ok = services().store.ping()
    database_ok = services().clients.db.ping()
    response = jsonify(
        status="ok" if store_ok and database_ok else "degraded",
        store="ok" if store_ok else "unavailable",
        database="ok" if database_ok else "unavailable",
    )
    response.status_code = 200 if store_ok and database_ok else 503
    return no_store(response)


#: Where an application keeps its :class:`RunningChecks`.
_RUNNING = "santeid.health"


def init_app(app) -> None:
    app.extensions[_RUNNING] = RunningChecks()
    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/health/live", "health_live", live)
    app.add_url_rule("/health/ready", "health_ready", ready)
    error_formats.declare(
        None, error_formats.JSON_OAUTH, endpoints=["health", "health_live", "health_ready"]
    )

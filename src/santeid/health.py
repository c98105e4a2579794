"""Health endpoints for load balancers, orchestrators and operators (docs/operations.md).

* ``/health/live``: the process answers (no dependency is touched: a liveness probe that
  failed on a Redis outage would restart every healthy worker for nothing).
* ``/health/ready``: each dependency checked with a short deadline (``health_check_timeout``)
  — the store, the durable database, the signing keys and the civil-status base — and a JSON
  body naming each check and its state; 503 when one the service needs is down, so the host
  leaves the rotation until it recovers.
* ``/health``: the original probe (store and database), kept for existing configurations.

Why a check failed is not in the body (it may name hosts) but in the server log, one WARNING per
failed required check and call: the store's and the database's ``ping`` log their own failure
(they answer ``/health`` too), the other checks raise and are logged here, as is a check that
overran its deadline.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time

from flask import jsonify

from santeid import error_formats
from santeid.insi.model import InsiError
from santeid.services import services

log = logging.getLogger(__name__)

#: Threads running the checks, so that a hung dependency costs its deadline and no more.
_checks_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


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
    (``insi_base``): a provider run for OpenID Connect alone does not need it."""
    return {
        "store": (svc.store.ping, True),
        "database": (svc.clients.db.ping, True),
        "signing_keys": (lambda: _signing_keys_ok(svc), True),
        "civil_status": (lambda: _civil_status_ok(svc), bool(svc.settings.insi.base)),
    }


def readiness(svc) -> tuple[bool, dict]:
    """Run every check at once, each within the deadline; ``(ready, {name: result})``."""
    deadline = svc.settings.observability.health_check_timeout
    started = time.monotonic()
    futures = {
        name: (_checks_pool.submit(check), required)
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


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def live():
    return _no_store(jsonify(status="up"))


def ready():
    ok, checks = readiness(services())
    response = jsonify(status="up" if ok else "down", checks=checks)
    response.status_code = 200 if ok else 503
    return _no_store(response)


def health():
    store_ok = services().store.ping()
    database_ok = services().clients.db.ping()
    response = jsonify(
        status="ok" if store_ok and database_ok else "degraded",
        store="ok" if store_ok else "unavailable",
        database="ok" if database_ok else "unavailable",
    )
    response.status_code = 200 if store_ok and database_ok else 503
    return _no_store(response)


def init_app(app) -> None:
    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/health/live", "health_live", live)
    app.add_url_rule("/health/ready", "health_ready", ready)
    error_formats.declare(
        None, error_formats.JSON_OAUTH, endpoints=["health", "health_live", "health_ready"]
    )

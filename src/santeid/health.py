"""``/health``: liveness plus the state of the store and of the durable database, for load
balancers and operators: a host that cannot reach either answers 503 and leaves the rotation."""

from __future__ import annotations

from flask import jsonify

from santeid import error_formats
from santeid.services import services


def health():
    store_ok = services().store.ping()
    database_ok = services().clients.db.ping()
    response = jsonify(
        status="ok" if store_ok and database_ok else "degraded",
        store="ok" if store_ok else "unavailable",
        database="ok" if database_ok else "unavailable",
    )
    response.status_code = 200 if store_ok and database_ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    app.add_url_rule("/health", "health", health)
    error_formats.declare(None, error_formats.JSON_OAUTH, endpoints=["health"])

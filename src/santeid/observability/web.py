"""Per-request observability, as the outermost WSGI layer (so the INSi fast path, which
answers without Flask, is measured too): the request id (``X-Request-Id``: taken from the
request when sane, else generated, and always returned), the request duration histogram, and
one access record per request (``santeid.access``, JSON fields under ``log_format = "json"``);
plus the ``/metrics`` endpoint behind its address allow-list."""

from __future__ import annotations

import logging
import os
import re
import time
from urllib.parse import parse_qs

from flask import Response
from flask import abort
from flask import g
from flask import request

from santeid.cache_control import no_store
from santeid.observability import metrics
from santeid.observability.access import address_allowed
from santeid.observability.access import parse_networks
from santeid.observability.logs import configure_logging
from santeid.oidc.client_auth import basic_credentials
from santeid.proxies import client_address

access_log = logging.getLogger("santeid.access")

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_KEY = "santeid.request_id"
ENDPOINT_KEY = "santeid.endpoint"
CLIENT_KEY = "santeid.client_id"
#: A request id we accept from a proxy or client: short, and harmless in a log line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
#: A client id we log (a registered id has this shape; anything else is not logged).
SANE_CLIENT_ID = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
#: Query fields read for the access record's client id; a longer query names none.
MAX_QUERY_FIELDS = 50


def _sane_client(value: str | None) -> str | None:
    return value if value and SANE_CLIENT_ID.fullmatch(value) else None


def _environ_client_id(environ) -> str | None:
    """The client id the query string or the HTTP Basic user names — never the secret."""
    try:
        query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        # More fields than any request of ours has: not worth parsing for a log field, and
        # the access record must never fail the request it describes (it runs after it).
        query = {}
    if query.get("client_id"):
        return _sane_client(query["client_id"][0])
    user, _ = basic_credentials({"Authorization": environ.get("HTTP_AUTHORIZATION", "")})
    return _sane_client(user)


class ObservedApp:
    """WSGI middleware: request id, duration, access record."""

    def __init__(self, wsgi_app, json_access: bool) -> None:
        self.wsgi_app = wsgi_app
        self.json_access = json_access

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        offered = environ.get("HTTP_X_REQUEST_ID")
        if offered and SANE_REQUEST_ID.fullmatch(offered):
            request_id = offered
        else:
            request_id = os.urandom(16).hex()
        environ[REQUEST_ID_KEY] = request_id
        status_code = [500]

        def observed_start_response(status, headers, exc_info=None):
            status_code[0] = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, observed_start_response)
        finally:
            # Measured when the response is ready to stream (a long poll's wait included).
            self._finish(environ, status_code[0], time.perf_counter() - started)

    def _finish(self, environ, status: int, seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        metrics.observe_request(path, status, seconds)
        if not (self.json_access and access_log.isEnabledFor(logging.INFO)):
            return
        endpoint = environ.get(ENDPOINT_KEY) or metrics.family_of(path)
        access_log.info(
            "%s %s %s %.1f ms",
            environ.get("REQUEST_METHOD", "-"),
            endpoint,
            status,
            seconds * 1000,
            extra={
                "request_id": environ[REQUEST_ID_KEY],
                "client_id": environ.get(CLIENT_KEY) or _environ_client_id(environ),
                "endpoint": endpoint,
                "method": environ.get("REQUEST_METHOD"),
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            },
        )


def _note_request() -> None:
    """Inside Flask: the request id on ``g`` (for every log record and event of the request),
    and the endpoint and form ``client_id`` for the access record."""
    environ = request.environ
    g.request_id = environ.get(REQUEST_ID_KEY) or os.urandom(16).hex()
    environ[ENDPOINT_KEY] = request.endpoint
    if request.mimetype == "application/x-www-form-urlencoded":
        client_id = _sane_client(request.form.get("client_id"))
        if client_id:
            environ[CLIENT_KEY] = client_id


METRICS_PATH = "/metrics"


def _hide_metrics() -> None:
    """``/metrics`` to an address outside ``metrics_allowed_addresses``: the 404 of a path
    nothing serves, whatever the method. Judged before the view is dispatched, where Flask
    would answer a 405 (``POST``) or an ``OPTIONS`` with its ``Allow``, telling anyone that
    ``/metrics`` exists (docs/operations.md "Metrics")."""
    if request.path != METRICS_PATH:
        return
    from santeid.services import services

    networks = parse_networks(services().settings.observability.metrics_allowed_addresses)
    # The client's address: behind a trusted proxy, the one it forwards, never the proxy's
    # own (docs/operations.md "Metrics").
    if not address_allowed(client_address(request.environ), networks):
        abort(404)


def metrics_view():
    """Only reached from an allowed address (:func:`_hide_metrics`)."""
    body, content_type = metrics.exposition()
    response = Response(body, content_type=content_type)
    return no_store(response)


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    # An app built outside ``santeid serve`` (another WSGI server, a test) logs in the
    # configured format too; under ``serve`` this is a no-op, already done before the build.
    configure_logging(settings.observability)
    app.before_request(_note_request)
    app.before_request(_hide_metrics)
    app.add_url_rule(METRICS_PATH, "metrics", metrics_view)


def wrap(app) -> None:
    """Last step of ``create_app``: observe every request, whatever layer answers it."""
    settings = app.extensions["santeid"].settings
    app.wsgi_app = ObservedApp(app.wsgi_app, settings.observability.log_format == "json")

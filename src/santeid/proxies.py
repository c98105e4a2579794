"""Reverse proxies: believe ``X-Forwarded-Proto``/``-Host``/``-Port``/``-For`` from the proxies
santeid is told to trust, from nobody else, and refuse plain HTTP when the issuer is HTTPS.

A TLS-terminating proxy (nginx, HAProxy) talks to santeid over plain HTTP and says in
``X-Forwarded-*`` headers what the client really used. Anyone can send those headers, so they
are applied (by Werkzeug's ``ProxyFix``) only when the *immediate peer* — the TCP connection's
address — is in ``trusted_proxies``; ``proxy_hops`` says how many proxies of the chain append to
them (the rightmost ``proxy_hops`` values are the trusted ones).

``REMOTE_ADDR`` stays the immediate peer: every trust decision (the forwarded client
certificate of ``santeid.tls``, INSi) is about who is *connected*. Whatever judges or records a
*client* — the ``/metrics`` allow-list, the admin sign-in limit, the e-CPS limits per address,
the events' source — takes :func:`client_address`, the forwarded client address
(docs/security.md "The client's address behind a proxy"; ``tests/test_proxies.py`` lists the
modules allowed to read ``REMOTE_ADDR``).

With an ``https://`` issuer, a request that is still plain HTTP after this (sent straight to
santeid's port, or by a proxy that did not say ``X-Forwarded-Proto: https``) is refused as
Keycloak refuses it when its realm requires SSL: 403 ``invalid_request`` "HTTPS required"
(Keycloak ``TokenEndpoint.checkSsl``, docs/reference/keycloak-behaviour.md; source
https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/endpoints/TokenEndpoint.java).
santeid does so for every path but the probes and the metrics (``/health``, ``/health/live``,
``/health/ready``, ``/metrics``), which orchestrators and Prometheus call on the server's own port
over plain HTTP (docs/operations.md); ``/metrics`` stays behind its address allow-list.
Keycloak's default ``external`` also lets private addresses through; santeid does not, see
docs/configuration.md "Behind a reverse proxy".
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from santeid.cache_control import NO_STORE
from santeid.cache_control import no_store
from santeid.routing import LazilyCompiledRule
from santeid.tls import is_trusted_proxy
from santeid.tls import parse_trusted_proxies

__all__ = [
    "HTTPS_REQUIRED",
    "Application",
    "ForwardedHeaders",
    "client_address",
    "init_app",
    "peer_address",
]

log = logging.getLogger(__name__)

#: The OAuth error Keycloak answers on plain HTTP when its realm requires SSL.
HTTPS_REQUIRED = {"error": "invalid_request", "error_description": "HTTPS required"}

#: environ keys set by :class:`ForwardedHeaders`.
CLIENT_ADDRESS_KEY = "santeid.client_address"

#: Paths answered over plain HTTP whatever the issuer: the probes of load balancers and
#: orchestrators, and the metrics scrape (still behind ``metrics_allowed_addresses``), which
#: reach the server's port directly (docs/operations.md).
_PLAIN_HTTP_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})


def peer_address(environ) -> str | None:
    """The address of the TCP peer (a proxy, or the client itself)."""
    return environ.get("REMOTE_ADDR")


def client_address(environ) -> str | None:
    """The client's address: from ``X-Forwarded-For`` when the peer is a trusted proxy that
    sent one, else the peer's address."""
    return environ.get(CLIENT_ADDRESS_KEY) or environ.get("REMOTE_ADDR")


def _refusal(start_response):
    from santeid.observability import metrics

    metrics.refused("https_required")
    body = json.dumps(HTTPS_REQUIRED).encode()
    start_response(
        "403 Forbidden",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            NO_STORE,
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [body]


class ForwardedHeaders:
    """WSGI middleware, outermost: ``X-Forwarded-*`` from trusted proxies only, then the
    HTTPS requirement of an ``https://`` issuer."""

    def __init__(self, app, *, trusted_proxies: str, hops: int, https_issuer: bool) -> None:
        parse_trusted_proxies(trusted_proxies)  # ConfigurationError if malformed
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.https_issuer = https_issuer
        self.forwarded = ProxyFix(self._restore_peer, x_for=hops, x_proto=hops, x_host=hops,
                                  x_port=hops)  # fmt: skip

    def _restore_peer(self, environ, start_response):
        """Inside ProxyFix: keep the forwarded client aside, the peer in ``REMOTE_ADDR``."""
        original = environ["werkzeug.proxy_fix.orig"]
        environ[CLIENT_ADDRESS_KEY] = environ.get("REMOTE_ADDR")
        environ["REMOTE_ADDR"] = original["REMOTE_ADDR"]
        if environ.get("wsgi.url_scheme") not in ("http", "https"):
            environ["wsgi.url_scheme"] = original["wsgi.url_scheme"]  # nonsense: ignored
        return self._checked(environ, start_response)

    def _checked(self, environ, start_response):
        if (
            self.https_issuer
            and environ.get("wsgi.url_scheme") != "https"
            and environ.get("PATH_INFO") not in _PLAIN_HTTP_PATHS
        ):
            return _refusal(start_response)
        return self.app(environ, start_response)

    def __call__(self, environ, start_response):
        if self.trusted_proxies and is_trusted_proxy(
            environ.get("REMOTE_ADDR"), self.trusted_proxies
        ):
            return self.forwarded(environ, start_response)
        return self._checked(environ, start_response)


def _insecure_transport(exc):
    """Authlib refuses a plain-HTTP URL that is not localhost (e.g. an ``http://`` issuer
    reached under another ``Host``): the same clear refusal, never a 500."""
    from flask import jsonify

    response = jsonify(HTTPS_REQUIRED)
    response.status_code = 403
    return no_store(response)


#: Each status code's reason phrase as HTTP names it (RFC 9110 §15,
#: https://www.rfc-editor.org/rfc/rfc9110#section-15) and Keycloak's server writes it,
#: "401 Unauthorized": Werkzeug's responses say "401 UNAUTHORIZED".
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def _phrased(start_response):
    """``start_response`` with the status line :data:`STATUS_LINES` gives its code (a code HTTP
    does not name keeps its line)."""

    def phrased(status, headers, exc_info=None):
        code = status[:3]
        line = STATUS_LINES.get(int(code)) if code.isdigit() else None
        return start_response(line or status, headers, exc_info)

    return phrased


class Application(Flask):
    """The Flask application whose WSGI entry point runs :class:`ForwardedHeaders` (and the
    malformed-request guard) before ``wsgi_app``, whatever other layers ``wsgi_app`` holds
    (the INSi fast path): servers and test clients call the application itself, and every
    status line leaves it with HTTP's reason phrase (:data:`STATUS_LINES`). Its URL rules
    compile their URL builders when first used (:mod:`santeid.routing`)."""

    url_rule_class = LazilyCompiledRule
    outer_wsgi = None

    def __call__(self, environ, start_response):
        start_response = _phrased(start_response)
        if self.outer_wsgi is None:
            return self.wsgi_app(environ, start_response)
        return self.outer_wsgi(environ, start_response)


def init_app(app) -> None:
    """Put the proxy and malformed-request layers in front of everything."""
    from authlib.oauth2.rfc6749.errors import InsecureTransportError

    from santeid.security import MalformedRequests

    settings = app.extensions["santeid"].settings
    app.register_error_handler(InsecureTransportError, _insecure_transport)

    def inner(environ, start_response):  # late-bound: wsgi_app as it is at call time
        return app.wsgi_app(environ, start_response)

    app.outer_wsgi = ForwardedHeaders(
        # Inside: the Host it checks is the forwarded one, when believed.
        MalformedRequests(inner),
        trusted_proxies=settings.http.trusted_proxies,
        hops=settings.http.proxy_hops,
        https_issuer=urlsplit(settings.issuer).scheme == "https",
    )

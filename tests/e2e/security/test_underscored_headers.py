"""``X_Forwarded_For`` and ``X_Forwarded_Proto`` from a client, passed on by the trusted proxy,
are never read, in every server layout ``santeid serve`` runs: the one-process Werkzeug server,
Granian with several workers (santeid's own layer drops them), gunicorn with several workers
over direct TLS (docs/security.md, "Transport and proxies").

A proxy that replaces only the ``X-Forwarded-*`` headers it sets (HAProxy forwards the other
spellings untouched) hands on a client's ``X_Forwarded_For: 127.0.0.1`` beside its own
``X-Forwarded-For``: to a WSGI application both are ``HTTP_X_FORWARDED_FOR``, and merged in
that order the client's value is the rightmost, the one santeid reads. The client would be
taken for a loopback one (the ``/metrics`` allow-list, the sign-in limits, the events' source)
and, with ``X_Forwarded_Proto: https``, its plain-HTTP request for an HTTPS one. The server's
port is reached here from the proxy's address, as the card header's tests do
(``tests/e2e/security/test_certificate_header.py``)."""

from __future__ import annotations

import http.client
import ssl

import pytest

from tests.support.security import EVERY_LAYOUT
from tests.support.security import REALM
from tests.support.servers import PROXY

pytestmark = [pytest.mark.server]

ISSUER = "https://idp.example.org" + REALM
DISCOVERY = REALM + "/.well-known/openid-configuration"
#: The client the proxy names: outside the default ``metrics_allowed_addresses``.
OUTSIDER = "198.51.100.7"


@pytest.fixture(scope="module", params=EVERY_LAYOUT)
def server(request, serve_layout):
    """``santeid serve`` behind a proxy on :data:`PROXY` (``trusted_proxies``), its issuer
    ``https://``: plain HTTP is refused unless the proxy says the client came over HTTPS."""
    settings = {"SANTEID_ISSUER": ISSUER, "SANTEID_TRUSTED_PROXIES": PROXY}
    with serve_layout(request.param, db=13, **settings) as process:
        yield process


def _from_proxy(server, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """``GET path`` from the proxy's address with ``headers``, sent in their order."""
    if server.base.startswith("https:"):
        context = ssl.create_default_context(cafile=server.ca)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", server.port, timeout=10, source_address=(PROXY, 0), context=context
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", server.port, timeout=10, source_address=(PROXY, 0)
        )
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_an_underscored_x_forwarded_for_is_not_the_client(server):
    # The controls: the address the proxy forwards is the one judged.
    assert _from_proxy(server, "/metrics", [("X-Forwarded-For", "127.0.0.1")])[0] == 200
    assert _from_proxy(server, "/metrics", [("X-Forwarded-For", OUTSIDER)])[0] == 404
    for name in ("X_Forwarded_For", "X-Forwarded_For", "x_forwarded_for"):
        status, body = _from_proxy(
            server, "/metrics", [("X-Forwarded-For", OUTSIDER), (name, "127.0.0.1")]
        )
        # Outside the allow-list, /metrics is a path nothing serves.
        assert status == 404, (name, status, body[:200])
        assert b"santeid_" not in body
    assert "Traceback" not in server.log.read_text()


def test_an_underscored_x_forwarded_proto_is_not_the_scheme(server):
    assert _from_proxy(server, DISCOVERY, [("X-Forwarded-Proto", "https")])[0] == 200
    assert _from_proxy(server, DISCOVERY, [("X-Forwarded-Proto", "http")])[0] == 403
    for name in ("X_Forwarded_Proto", "X-Forwarded_Proto", "x_forwarded_proto"):
        status, body = _from_proxy(
            server, DISCOVERY, [("X-Forwarded-Proto", "http"), (name, "https")]
        )
        assert status == 403, (name, status, body[:200])
        assert b"HTTPS required" in body
    assert "Traceback" not in server.log.read_text()

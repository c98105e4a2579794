"""Malformed requests to a real server get a clear 4xx, never a 500 (nor a traceback in the
log): the cases found by fuzzing, then a seeded, time-bounded fuzz run over every route of the
application (tests/support/fuzzing.py; bench/fuzz.py runs the long version)."""

from __future__ import annotations

import base64
import functools
import json
import shutil
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import seed
from hypothesis import settings

from santeid import create_app
from santeid.raw_paths import NOT_NORMALIZED
from santeid.settings import Settings
from santeid.storage import MemoryStore
from tests.support.fuzzing import application_rules
from tests.support.fuzzing import requests_for
from tests.support.fuzzing import send
from tests.support.security import REALM
from tests.support.security import http_from

pytestmark = [pytest.mark.server]

OIDC = REALM + "/protocol/openid-connect"
#: Requests of the fuzz run, and its wall-clock budget (requests stop being sent after it).
FUZZ_EXAMPLES = 1500
FUZZ_SECONDS = 45


@pytest.fixture(scope="module", params=["werkzeug", "granian"])
def server(request, serve_layout):
    """The one-process server (HTTP parsed in Python) on the embedded store, and Granian's
    workers (HTTP parsed in Rust, santeid's RSGI layer) on Redis."""
    with serve_layout(request.param, db=10, args=(), SANTEID_STORE_URL="memory://") as process:
        yield {"port": process.port, "log": process.log, "home": process.home, "env": process.env}


def _ask(server, method, path, headers=None, body=None):
    status, response_headers, content = http_from("127.0.0.1", server["port"], method, path,
                                                  body=body, headers=headers or {})  # fmt: skip
    return status, response_headers, content


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "path",
    [
        # A leading empty segment: no proxy rule on "/auth/" matches it.
        "//auth/realms/esante-wallet/protocol/openid-connect/certs",
        "///auth/realms/esante-wallet/.well-known/openid-configuration",
        "//auth/realms/esante-wallet/protocol/openid-connect/token/introspect",
        # The same inside the path.
        OIDC + "//certs",
        OIDC + "/./certs",
        # Sent under /auth, leaving it once resolved: Keycloak's root all the same.
        "/auth/..",
        "/auth/../health",
        "/auth/realms/../../sandbox/",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_path_with_an_empty_or_dot_segment_under_auth_reaches_no_endpoint(server, path, method):
    """Keycloak (26.4 and later) refuses a path that needs normalising, 400
    ``missingNormalization`` (docs/reference/keycloak-behaviour.md, "Paths"), so that a proxy
    filtering paths by prefix is not walked around: the request line is sent as written, and
    ``//auth/…``, which a rule on ``/auth/`` does not match, must not be served as ``/auth/…``."""
    status, headers, body = _ask(server, method, path)
    assert status == 400, (path, status, body[:200])
    assert headers["Content-Type"].startswith("application/json"), headers
    assert json.loads(body) == NOT_NORMALIZED


def test_the_normal_paths_under_auth_are_served(server):
    """The refusal takes no valid path with it: the wallet discovery document (a ``.`` at the
    start of a segment, not a dot segment) and the keys."""
    for path in (REALM + "/.well-known/wallet-openid-configuration",
                 REALM + "/.well-known/openid-configuration", OIDC + "/certs"):  # fmt: skip
        status, _, body = _ask(server, "GET", path)
        assert status == 200, (path, status, body[:200])


@pytest.mark.parametrize("path", ["/health", OIDC + "/auth?client_id=x", OIDC + "/certs"])
def test_a_host_label_over_63_characters_is_a_400(server, path):
    status, headers, body = _ask(server, "GET", path, {"Host": "a" * 64 + ".example.org"})
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "host",
    [
        "[::1",  # an IPv6 literal left open
        "[::1]x",
        "localhost:99999",  # ports past 65535, port 0, a zero ahead, no digits
        "localhost:65536",
        "localhost:0",
        "localhost:05000",
        "localhost:",
        "[::1]:",
        "[fe80::1%eth0]:5000",  # IPv6 zone ids, as they are and as RFC 6874 writes them
        "[fe80::1%25eth0]",
        "[zz]",  # brackets around what is no IPv6 address
        "[127.0.0.1]",
        "[v1.fe]",
        "a~b.example",  # a character no host name holds
        "a b",
    ],
)
def test_a_host_werkzeug_would_drop_is_a_400(server, host):
    """A ``Host`` Werkzeug 3.1 does not take for one (``werkzeug.sansio.utils.host_is_trusted``:
    a name of letters, digits, dots and hyphens or an IPv6 literal in brackets, then a port of
    1 to 65535 with no leading zero) makes Flask's ``request.host`` empty, and every absolute
    URL built from it (``http:///fhir/v1/…``) broken: refused as the other malformed hosts
    (docs/security.md)."""
    status, headers, body = _ask(server, "GET", REALM + "/.well-known/openid-configuration",
                                 {"Host": host})  # fmt: skip
    assert status == 400, (host, status, body[:200])
    assert json.loads(body) == {
        "error": "invalid_request", "error_description": "malformed Host header"}  # fmt: skip


@pytest.mark.parametrize(
    "host",
    ["localhost:65535", "LOCALHOST:5000", "[::1]:5000", "[::ffff:127.0.0.1]", "127.0.0.1:80",
     "santeid_app:5000", "xn--exmple-cua.example", ""],
)  # fmt: skip
def test_a_host_werkzeug_takes_or_a_docker_name_is_served(server, host):
    """What the refusal leaves alone: a name in any case, an IPv6 literal, the largest port,
    an A-label — and an underscore, which Werkzeug refuses but Docker puts in the names of its
    containers and services (``santeid_app``), which other containers reach santeid by; an
    empty ``Host`` (RFC 9110 §7.2) is no host, as without the header."""
    status, _, body = _ask(server, "GET", "/health", {"Host": host})
    assert status == 200, (host, status, body[:200])


@pytest.mark.parametrize("endpoint", ["/token", "/token/introspect", "/revoke", "/ext/ciba/auth"])
@pytest.mark.parametrize("authorization", ["Basic", "Basic ", _basic(b"\xff\xfe:\xff")])
def test_undecodable_basic_credentials_are_no_credentials(server, endpoint, authorization):
    status, _, body = _ask(server, "POST", OIDC + endpoint, {
        "Authorization": authorization,
        "Content-Type": "application/x-www-form-urlencoded",
    }, b"grant_type=client_credentials&token=x&scope=openid")  # fmt: skip
    assert status == 401
    # Keycloak's introspection endpoint answers every failed client authentication alike.
    expected = "invalid_request" if endpoint == "/token/introspect" else "invalid_client"
    assert json.loads(body)["error"] == expected


def test_a_non_localhost_host_over_plain_http_is_refused_cleanly(server):
    status, _, body = _ask(server, "POST", OIDC + "/token", {
        "Host": "idp.example.org", "Content-Type": "application/x-www-form-urlencoded",
    }, b"grant_type=client_credentials")  # fmt: skip
    assert status == 403
    assert json.loads(body) == {"error": "invalid_request", "error_description": "HTTPS required"}


@pytest.mark.parametrize("path", ["/ecps/device/register", "/ecps/device/webhook"])
def test_json_nested_100000_levels_is_a_400_problem(server, path):
    status, headers, body = _ask(server, "POST", path, {"Content-Type": "application/json"},
                                 b"[" * 100_000 + b"]" * 100_000)  # fmt: skip
    assert 400 <= status < 500
    assert headers["Content-Type"] == "application/problem+json"


def test_a_bearer_token_nested_too_deeply_is_no_token_for_cors(server):
    """A Bearer token whose payload is JSON nested deeper than Python parses is a token that
    does not verify, not a 500 — and its refusal, made before any client is known, may be read
    by any origin, as Keycloak's."""
    deep = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    status, headers, body = _ask(server, "GET", OIDC + "/userinfo", {
        "Origin": "https://rp.example", "Authorization": f"Bearer eyJhbGciOiJSUzI1NiJ9.{deep}.x",
    })  # fmt: skip
    assert (status, body) == (401, b"")
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert headers["Access-Control-Allow-Origin"] == "https://rp.example"


def _raw_get(server, target: bytes) -> tuple[bytes, bytes]:
    """A GET whose request line carries ``target`` byte for byte (http.client sends ASCII
    only): the status line and headers, then the body."""
    host = f"127.0.0.1:{server['port']}".encode()
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as connection:
        connection.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_raw_utf_8_in_the_request_target_reaches_the_application_once_decoded(server):
    """curl sends a URL as typed: ``Practitioner?given=Hélène`` (docs/directory.md) is raw
    UTF-8 in the request line. Both layouts hand the application the same bytes as for its
    percent-encoded form, the query (a ``state`` comes back as sent, percent-encoded) and the
    path (the problem type named in the 404's ``detail``) alike."""
    redirect_uri = quote(f"http://127.0.0.1:{server['port']}/sandbox/debugger/callback", safe="")
    head, _ = _raw_get(server, (OIDC + "/auth?client_id=santeid-debugger&response_type=nope"
                                f"&redirect_uri={redirect_uri}&state=Hélène").encode())  # fmt: skip
    location = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"location:"))
    assert parse_qs(urlsplit(location[9:].strip().decode()).query)["state"] == ["Hélène"]
    _, body = _raw_get(server, "/problems/Hélène".encode())
    assert json.loads(body)["detail"] == "no problem type 'Hélène'"


def test_a_non_ascii_redirect_uri_is_a_400_page(server):
    status, _, _ = _ask(server, "GET", OIDC + "/auth?client_id=x&response_type=code&scope=openid"
                        "&redirect_uri=https%3A%2F%2F%C3%A9.example%2Fcb")  # fmt: skip
    assert status == 400


@pytest.mark.parametrize(
    "path",
    [
        "/sandbox/api/outbox?limit=%C2%B2",
        "/sandbox/outbox.json?limit=%C2%B2",
        OIDC + "/auth?client_id=x&response_type=code&scope=openid&max_age=%C2%B2",
        OIDC + "/auth?client_id=x&response_type=code&scope=openid&max_age=" + "9" * 4000,
    ],
)
def test_a_number_int_cannot_read_is_no_500(server, path):
    """``²`` passes ``str.isdigit()`` but not ``int()``, nor do more than 4300 digits: every
    whole number a request carries is read by ``santeid.security.whole_number``."""
    status, _, _ = _ask(server, "GET", path)
    assert 200 <= status < 500
    assert "Traceback" not in server["log"].read_text()


@functools.cache
def fuzz_requests() -> tuple:
    """The fuzz run's requests: drawn once (seeded, so the same on every run) and sent to each
    server. Drawn in a test's call, where coverage is paused (``no_cover``): Hypothesis is the
    busiest code of this process, and what the requests exercise runs in the server."""
    home = Path(tempfile.mkdtemp(prefix="santeid-fuzz-rules-"))
    try:
        app = create_app(
            Settings(issuer="http://127.0.0.1" + REALM, sandbox=True,
                     data_dir=str(home / "var"), keys_dir=str(home / "keys")),
            store=MemoryStore(),
        )  # fmt: skip
        rules = application_rules(app)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    drawn = []

    @seed(20261205)
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(requests_for(rules))
    def draw(request):
        drawn.append(request)

    draw()
    return tuple(drawn)


@pytest.mark.no_cover
# Drawing the 1 500 requests (once per process) takes 10 s on an idle machine and took over
# 60 s on a loaded CI machine; the sending is bounded by FUZZ_SECONDS.
@pytest.mark.timeout(300)
def test_fuzzing_every_route_gives_no_5xx(server):
    """Seeded and time-bounded: the same requests on every run, for at most FUZZ_SECONDS."""
    requests = fuzz_requests()
    assert len(requests) == FUZZ_EXAMPLES
    until = time.monotonic() + FUZZ_SECONDS
    failures = []
    for request in requests:
        if time.monotonic() > until:
            break
        status = send(server["port"], *request)
        if status >= 500:
            failures.append((status, request))
    assert failures == [], failures[:5]
    assert "Traceback" not in server["log"].read_text()

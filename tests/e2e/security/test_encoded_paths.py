"""Paths a proxy reads one way and santeid another: a percent-encoded slash or backslash
(``%2F``, ``%5C``) or a percent-encoded unreserved character (``%74oken``), against
``santeid serve`` in the layouts whose server hands the application the target as received
(Werkzeug in one process, gunicorn over direct TLS), alone and behind a real nginx whose rule
matches the raw target (``$request_uri``), as HAProxy's ``path_beg`` or a WAF does
(docs/security.md, "Paths").

Granian (``--workers`` over HTTP) hands its applications the path already decoded, so
santeid cannot tell ``%2F`` from ``/`` there: docs/security.md says what to do in the proxy.
More than one leading slash (``//sandbox/api/…``, which Werkzeug's routing drops) shows once
decoded: refused in every layout, Granian's too.
"""

from __future__ import annotations

import http.client
import json
import ssl

import pytest

from santeid.raw_paths import NOT_NORMALIZED
from tests.support.redis_server import free_port
from tests.support.security import running_nginx
from tests.support.servers import REALM
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

OIDC = REALM + "/protocol/openid-connect"
STAFF = "500000010900017/SEC0042"  # a structure's staff member (SIRET): its id holds a slash


@pytest.fixture(scope="module", params=["werkzeug", "gunicorn-tls"])
def server(request, serve_layout):
    with serve_layout(request.param, db=11) as process:
        yield {"port": process.port, "ca": process.ca, "layout": request.param}


def _ask(port: int, path: str, method: str = "GET", ca: str | None = None):
    """``method path`` sent exactly as written (no client re-encodes it)."""
    if ca is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        context = ssl.create_default_context(cafile=ca)
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        OIDC + "%2Fcerts",
        OIDC + "%2fcerts",
        "/auth%2Frealms/esante-wallet/protocol/openid-connect/certs",
        OIDC + "/token%2Fintrospect",
        OIDC + "%5Ccerts",
        OIDC + "/%74oken",
        REALM + "/.well-known/openid-c%6Fnfiguration",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_encoded_separator_or_unreserved_character_under_auth_is_refused(server, path, method):
    """Keycloak refuses a path that is not its own normal form (``%74`` is ``t``: Vert.x's
    normal form decodes it) with 400 ``missingNormalization``; santeid answers the same for an
    encoded slash or backslash, which it would otherwise serve as a separator."""
    status, media_type, body = _ask(server["port"], path, method, server["ca"])
    assert (status, media_type.split(";")[0]) == (400, "application/json"), body
    assert json.loads(body) == NOT_NORMALIZED


@pytest.mark.parametrize(
    "path",
    [
        "/sandbox%2Fapi/scenarios",
        "/sandbox/api%2fscenarios",
        "/sandbox/api/professionals/810000000032%2Fscenario",
        "/sandbox/api/professionals/" + STAFF + "%2Frequests",
        "/sandbox%5Capi/scenarios",
        "/s%61ndbox/api/scenarios",
        "/admin%2F",
        "/health%2F",
    ],
)
def test_an_encoded_separator_or_unreserved_character_elsewhere_is_a_400(server, path):
    status, _, body = _ask(server["port"], path, ca=server["ca"])
    assert status == 400, body


@pytest.mark.parametrize("suffix", ["", "/requests"])
def test_a_national_id_with_its_slash_encoded_is_the_professional(server, suffix):
    """The control API's OpenAPI document names the professional by a path parameter; a client
    generated from it encodes the slash of a structure's staff id (``5…%2FSEC0042``)."""
    encoded = STAFF.replace("/", "%2F")
    status, _, body = _ask(server["port"], f"/sandbox/api/professionals/{encoded}{suffix}",
                           ca=server["ca"])  # fmt: skip
    assert status == 200, body
    if not suffix:
        assert json.loads(body)["national_id"] == STAFF


#: Paths whose leading slashes are more than one: Werkzeug's routing drops them, so each was
#: served as the path a proxy's rule on ``/sandbox/api/``, ``/fhir/`` or ``/admin/`` covers.
LEADING_SLASHES = [
    "//sandbox/api/scenarios",
    "///sandbox/api/scenarios",
    "//sandbox/api/professionals/" + STAFF.replace("/", "%2F"),
    "//fhir/v1/Practitioner",
    "//admin/",
    "//health",
    "http://127.0.0.1//sandbox/api/scenarios",
]


@pytest.mark.parametrize("path", LEADING_SLASHES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_leading_slashes_elsewhere_are_a_400(server, path, method):
    status, _, body = _ask(server["port"], path, method, server["ca"])
    assert status == 400, body


@pytest.mark.parametrize(
    "target",
    [
        "http:/sandbox%2Fapi/scenarios",
        "HTTP:/s%61ndbox/api/scenarios",
        "x:/sandbox/api/scenarios",
        "http:sandbox/api/scenarios",
        "http:/auth/realms/esante-wallet/protocol/openid-connect%2Fcerts",
    ],
)
def test_a_target_neither_a_path_nor_an_absolute_url_with_a_host_is_a_400(server, target):
    """An absolute URI without an authority (RFC 3986 §3: ``http:/…``, ``x:/…``) is not the
    path a proxy's rule on ``/sandbox/api/`` matches, while Werkzeug's server took its path and
    served it, the encoded forms decoded; gunicorn and Granian refuse such targets themselves."""
    assert _ask_as_written(server, target) == 400


@pytest.mark.parametrize(
    "target", ["http://[x]/sandbox/api/scenarios", "http://127.0.0.1:b:c/sandbox/api/scenarios"]
)
def test_an_authority_the_one_process_server_cannot_split_is_a_400(server, target):
    """Werkzeug's server dropped the connection, unanswered, with a traceback in the log."""
    if server["layout"] != "werkzeug":
        pytest.skip("gunicorn serves the path of such a target, the one a proxy reads too")
    assert _ask_as_written(server, target) == 400


def _ask_as_written(server, target: str) -> int:
    """The status of ``GET target``, the target sent as written: http.client would split an
    absolute one for its Host header."""
    if server["ca"] is None:
        connection = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10)
    else:
        context = ssl.create_default_context(cafile=server["ca"])
        connection = http.client.HTTPSConnection(
            "127.0.0.1", server["port"], timeout=10, context=context
        )
    try:
        connection.putrequest("GET", target, skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{server['port']}")
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def granian_server(serve_layout):
    """``santeid serve --workers 2`` over HTTP: Granian, which hands the path decoded."""
    with serve_layout("granian", db=12) as process:
        yield process.port


@pytest.mark.parametrize("path", LEADING_SLASHES[:-1])
def test_leading_slashes_are_a_400_under_granian_too(granian_server, path):
    """Leading slashes show once decoded: Granian's path keeps them."""
    status, _, body = _ask(granian_server, path)
    assert status == 400, body


def test_the_normal_paths_are_served(server):
    for path in (OIDC + "/certs", "/sandbox/api/scenarios", f"/sandbox/api/professionals/{STAFF}"):
        status, _, body = _ask(server["port"], path, ca=server["ca"])
        assert status == 200, (path, body)


#: A proxy that denies the control API by the raw target, as HAProxy's ``path_beg`` does, and
#: forwards that target unchanged (``proxy_pass`` without a URI).
NGINX_RAW_RULE = """
    server {{
        listen 127.0.0.1:{port};
        location / {{
            if ($request_uri ~* "^/sandbox/api(/|$|\\?)") {{ return 403; }}
            if ($request_uri ~* "^/auth/realms/esante-wallet/protocol/openid-connect/certs") {{
                return 403;
            }}
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
        }}
    }}
"""


@pytest.fixture(scope="module")
def raw_rule_proxy(tmp_path_factory):
    home = tmp_path_factory.mktemp("raw-rule")
    with santeid_process(home / "santeid", args=["--sandbox"]) as process:
        port = free_port()
        block = NGINX_RAW_RULE.format(port=port, upstream=process.port)
        with running_nginx(home, port, process.port, home, home, server=block):
            yield port


@pytest.mark.parametrize(
    "path",
    [
        "/sandbox%2Fapi/scenarios",
        "/sandbox%2fapi/scenarios",
        "/s%61ndbox/api/scenarios",
        "/auth/realms/esante-wallet/protocol/openid-connect%2Fcerts",
        "/auth/realms/esante-wallet/protocol/openid-c%6Fnnect/certs",
        "//sandbox/api/scenarios",
        "//auth/realms/esante-wallet/protocol/openid-connect/certs",
    ],
)
def test_a_raw_path_rule_in_front_is_not_bypassed_by_encoding(raw_rule_proxy, path):
    """What the rule denies stays out of reach: the proxy lets the encoded form through (it is
    not the denied text), and santeid refuses it rather than serving the denied path."""
    status, _, body = _ask(raw_rule_proxy, path)
    assert status == 400, body
    denied = "/" + path.lstrip("/")
    denied = denied.replace("%2F", "/").replace("%2f", "/").replace("%61", "a").replace("%6F", "o")
    assert _ask(raw_rule_proxy, denied)[0] == 403  # the rule itself works

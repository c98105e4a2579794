"""santeid with an ``https://`` issuer behind a real nginx that terminates TLS and forwards
``X-Forwarded-Proto/Host/For``: discovery, a code-flow login, the token, introspection and
revocation endpoints all work through the proxy (Authlib sees HTTPS), while plain-HTTP calls
straight to santeid — with forged ``X-Forwarded-*`` headers or not — get Keycloak's clear
``403 invalid_request "HTTPS required"``, never a 500 — except the health probes and
``/metrics`` (behind its allow-list), which orchestrators and Prometheus call on santeid's port
directly.

Through the proxy, what judges or records a client's address — the ``/metrics`` allow-list,
the admin console's sign-in limit, the events' source address — sees the client nginx
forwards, not nginx itself (docs/configuration.md "Behind a reverse proxy"). Clients connect
to nginx from chosen loopback addresses (all of 127.0.0.0/8 is the loopback interface on
Linux), which nginx forwards in ``X-Forwarded-For``."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from santeid.ecps.pin import PinHasher
from tests.support.attack_server import FromAddress
from tests.support.redis_server import free_port
from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import OTHER_LOOPBACK
from tests.support.security import REALM
from tests.support.security import REDIRECT_URI
from tests.support.security import SECRET
from tests.support.security import first_professional
from tests.support.security import http_from
from tests.support.security import nginx_binary
from tests.support.security import running_nginx
from tests.support.security import self_signed_certificate
from tests.support.servers import santeid_process

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed"),
]

TOKEN_PATH = REALM + "/protocol/openid-connect/token"
#: The issuer's host name. Not a loopback address, which Authlib would let through over plain
#: HTTP (RFC 8252 §7.3): the proxy-less failure shows only with a real name.
PUBLIC_NAME = "idp.santeid.test"
ADMIN_PASSWORD = "the-admin-password-of-the-proxy-tests"
#: The Prometheus server's address, listed in ``metrics_allowed_addresses`` after the default
#: loopback (docs/operations.md "Metrics": "list your Prometheus server's address").
PROMETHEUS = "127.0.0.3"
METRICS_ALLOWED = f"127.0.0.1/32, ::1/128, {PROMETHEUS}/32"


class _ResolveToLoopback(HTTPAdapter):
    """Connects to 127.0.0.1 for ``PUBLIC_NAME`` (what a DNS entry would do), keeping the
    name in ``Host`` and in the URL the session sees (cookies, redirects)."""

    def send(self, request, **kwargs):
        original = request.url
        parts = urlsplit(original)
        if parts.hostname != PUBLIC_NAME:
            return super().send(request, **kwargs)
        rewritten = request.copy()
        rewritten.url = original.replace(f"//{PUBLIC_NAME}", "//127.0.0.1", 1)
        rewritten.headers["Host"] = parts.netloc
        response = super().send(rewritten, **kwargs)
        response.url, response.request = original, request
        return response


class _FromAddress(_ResolveToLoopback, FromAddress):
    """The same, connecting from a loopback address of its own (:class:`FromAddress`): a client
    nginx forwards as that address."""


def _client_at(proxied, source: str) -> requests.Session:
    """A browser at ``source`` that reaches santeid through nginx."""
    session = requests.Session()
    session.trust_env = False
    session.verify = proxied["session"].verify
    session.mount("https://", _FromAddress(source))
    return session


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    home = tmp_path_factory.mktemp("proxied")
    public_port = free_port()  # nginx's
    issuer = f"https://{PUBLIC_NAME}:{public_port}{REALM}"
    cert, key = self_signed_certificate(home)
    with (
        santeid_process(
            home,
            args=(),
            clients=[CLIENT],
            SANTEID_ISSUER=issuer,
            SANTEID_TRUSTED_PROXIES="127.0.0.1",
            SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
            SANTEID_METRICS_ALLOWED_ADDRESSES=METRICS_ALLOWED,
        ) as server,
        running_nginx(home, public_port, server.port, cert, key),
    ):
        session = requests.Session()
        session.trust_env = False
        session.verify = str(cert)
        session.mount("https://", _ResolveToLoopback())
        yield {
            "issuer": issuer,
            "origin": f"https://{PUBLIC_NAME}:{public_port}",
            "app_port": server.port,
            "server": server,
            "session": session,
            "log": server.log,
        }
        session.close()


def _code_flow_login(session: requests.Session, discovery: dict, national_id: str) -> str:
    """The browser side of a login (sandbox approval): returns the authorization code."""
    response = session.get(
        discovery["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "state": "s" * 16,
            "nonce": "n" * 16,
        },  # fmt: skip
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    login_url = urljoin(response.url, response.headers["Location"])
    assert login_url.startswith(discovery["issuer"])  # the public https origin
    page = session.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = session.post(
        login_url, data={"national_id": national_id, "csrf_token": csrf}, allow_redirects=False
    )
    if response.status_code != 302:  # the waiting page: go on to completion
        tx = parse_qs(urlsplit(login_url).query)["tx"][0]
        response = session.get(
            discovery["issuer"] + "/login-actions/complete",
            params={"tx": tx},
            allow_redirects=False,
        )
    while not response.headers["Location"].startswith(REDIRECT_URI):
        assert response.status_code in (302, 303), response.text
        assert urljoin(response.url, response.headers["Location"]).startswith(discovery["issuer"])
        response = session.get(
            urljoin(response.url, response.headers["Location"]), allow_redirects=False
        )
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def test_login_token_introspection_and_revocation_work_through_the_proxy(proxied):
    session = proxied["session"]
    discovery = session.get(
        proxied["issuer"] + "/.well-known/openid-configuration", timeout=10
    ).json()
    assert discovery["issuer"] == proxied["issuer"]
    assert discovery["token_endpoint"] == proxied["issuer"] + "/protocol/openid-connect/token"

    code = _code_flow_login(session, discovery, first_professional(proxied["server"]))
    auth = (CLIENT_ID, SECRET)
    token = session.post(
        discovery["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=auth,
    )
    assert token.status_code == 200, token.text
    access_token = token.json()["access_token"]
    assert token.json()["refresh_token"]

    introspected = session.post(
        discovery["introspection_endpoint"], data={"token": access_token}, auth=auth
    )
    assert introspected.status_code == 200, introspected.text
    assert introspected.json()["active"] is True

    revoked = session.post(discovery["revocation_endpoint"], data={"token": access_token},
                           auth=auth)  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    after = session.post(
        discovery["introspection_endpoint"], data={"token": access_token}, auth=auth
    )
    assert after.status_code == 200 and after.json()["active"] is False
    assert "Traceback" not in proxied["log"].read_text()


@pytest.mark.parametrize(
    "source, headers",
    [
        # Someone who can reach santeid's port, pretending to be behind the proxy.
        (OTHER_LOOPBACK, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}),
        (OTHER_LOOPBACK, {}),
        # The trusted proxy's address, but no X-Forwarded-Proto: still plain HTTP.
        ("127.0.0.1", {}),
    ],
)
def test_plain_http_to_an_https_issuer_is_refused_cleanly(proxied, source, headers):
    status, response_headers, body = http_from(
        source,
        proxied["app_port"],
        "POST",
        TOKEN_PATH,
        body=b"grant_type=client_credentials",
        headers={
            "Host": urlsplit(proxied["issuer"]).netloc,
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic cnAtc2VjdXJpdHk6eA==",
            **headers,
        },
    )
    assert status == 403
    assert response_headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"error": "invalid_request", "error_description": "HTTPS required"}
    assert "Traceback" not in proxied["log"].read_text()


def test_forged_forwarded_headers_from_an_untrusted_peer_are_not_believed(proxied):
    """An untrusted peer cannot pass for HTTPS, and the discovery it can read over plain HTTP
    (refused too) never shows a host it chose."""
    status, _, body = http_from(
        OTHER_LOOPBACK,
        proxied["app_port"],
        "GET",
        REALM + "/.well-known/openid-configuration",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
    )
    assert status == 403
    assert b"evil.example" not in body


def test_health_answers_plain_http_probes(proxied):
    status, _, body = http_from(OTHER_LOOPBACK, proxied["app_port"], "GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_metrics_answer_the_allowed_clients_through_the_proxy_and_no_one_else(proxied):
    """nginx connects from 127.0.0.1, which the default allow-list holds: judging nginx's
    address would serve the metrics to every client of the proxy."""
    metrics = proxied["origin"] + "/metrics"
    with _client_at(proxied, OTHER_LOOPBACK) as remote:
        assert remote.get(metrics, timeout=10).status_code == 404
        # nginx appends the address it sees: a forged loopback address before it is not read.
        forged = remote.get(metrics, headers={"X-Forwarded-For": "127.0.0.1"}, timeout=10)
        assert forged.status_code == 404
    for allowed in (PROMETHEUS, "127.0.0.1"):  # the Prometheus server, a scrape on the host
        with _client_at(proxied, allowed) as scraper:
            response = scraper.get(metrics, timeout=10)
            assert response.status_code == 200, allowed
            assert "santeid_http_request_duration_seconds" in response.text


@pytest.mark.parametrize("method", ["POST", "OPTIONS", "PUT", "DELETE"])
def test_metrics_outside_the_allow_list_is_a_path_nothing_serves_whatever_the_method(
    proxied, method
):
    """docs/operations.md "Metrics": everyone outside the allow-list gets a 404. A ``POST``
    was answered 405 and an ``OPTIONS`` 200, both naming the methods of ``/metrics``: anyone
    learnt that the metrics are served there."""
    with _client_at(proxied, OTHER_LOOPBACK) as remote:
        hidden = remote.request(method, proxied["origin"] + "/metrics", timeout=10)
        absent = remote.request(method, proxied["origin"] + "/nothing-here", timeout=10)
    assert (hidden.status_code, absent.status_code) == (404, 404)
    assert hidden.content == absent.content
    assert "Allow" not in hidden.headers


def _sign_in(session: requests.Session, origin: str, password: str, **headers) -> int:
    page = session.get(origin + "/admin/login", timeout=10)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return session.post(
        origin + "/admin/login",
        data={"user": "admin", "password": password, "csrf_token": csrf},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    ).status_code


def test_admin_sign_in_limit_counts_each_client_behind_the_proxy(proxied):
    """5 wrong passwords from one client do not lock out the admin signing in from another
    address; the attacker's 6th try is refused however it forges ``X-Forwarded-For``; the
    events name each client's address, never the proxy's."""
    origin = proxied["origin"]
    attacker, admin = "127.0.0.4", "127.0.0.5"
    with _client_at(proxied, attacker) as guesser:
        for attempt in range(5):
            forged = {"X-Forwarded-For": f"198.51.100.{attempt + 1}"}
            assert _sign_in(guesser, origin, "wrong-password", **forged) == 401
        with _client_at(proxied, admin) as owner:
            assert _sign_in(owner, origin, ADMIN_PASSWORD) == 302
        assert _sign_in(guesser, origin, ADMIN_PASSWORD, **{"X-Forwarded-For": admin}) == 429
    listed = proxied["server"].cli("events", "list", "--type", "ADMIN_LOGIN", "--json").stdout
    found = [(e["reason"], e["source"]) for e in json.loads(listed)][::-1]
    assert found == [*[("failure", attacker)] * 5, ("success", admin), ("throttled", attacker)]
    assert "Traceback" not in proxied["log"].read_text()


def test_events_record_the_client_nginx_forwards(proxied):
    """An event's source is the client's address, not the proxy's (every event said 127.0.0.1
    behind nginx before)."""
    client = "127.0.0.6"
    with _client_at(proxied, client) as browser:
        assert _sign_in(browser, proxied["origin"], "wrong-password") == 401
    listed = proxied["server"].cli("events", "list", "--type", "ADMIN_LOGIN", "--json").stdout
    found = [(e["reason"], e["source"]) for e in json.loads(listed)]
    assert ("failure", client) in found
    assert ("failure", "127.0.0.1") not in found  # nobody signs in from nginx's own address


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_orchestrator_probes_answer_plain_http(proxied, path):
    """Liveness and readiness probes go to the pod's port over plain HTTP (docs/operations.md)."""
    status, _, body = http_from(OTHER_LOOPBACK, proxied["app_port"], "GET", path)
    assert status == 200 and json.loads(body)["status"] == "up"


def test_metrics_answer_a_plain_http_scrape_from_the_allowed_addresses_only(proxied):
    """Scraped on santeid's port over plain HTTP, from the host or the listed Prometheus server
    (docs/operations.md); another address still gets the allow-list's 404, not the HTTPS
    refusal."""
    for allowed in ("127.0.0.1", PROMETHEUS):
        status, headers, body = http_from(allowed, proxied["app_port"], "GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain"), allowed
        assert b"santeid_http_request_duration_seconds" in body
    status, _, _ = http_from(OTHER_LOOPBACK, proxied["app_port"], "GET", "/metrics")
    assert status == 404

"""The session-status iframe of OpenID Connect Session Management 1.0 §3.2 as Keycloak serves it
(docs/reference/keycloak-behaviour.md, "Session status iframe"): discovery's
``check_session_iframe``, the page and its framing, the ``/init`` check of the client's web
origins, keycloak-js's third-party-cookie pages, and the ``santeid_session_state`` cookie the
page's script compares with the relying party's ``session_state``. What the script answers in a
browser: tests/e2e/test_session_status_iframe.py."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional

IFRAME = f"{OIDC}/login-status-iframe.html"
RP_ORIGIN = "https://service.example.org"
COOKIE = "santeid_session_state"


def _set_cookie(response, name: str) -> list[str]:
    """The attributes of the cookie ``name`` the response sets, lower-cased, value first."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            value, *attributes = header.split(";")
            return [value.split("=", 1)[1], *(a.strip().lower() for a in attributes)]
    raise AssertionError(f"no {name} in {response.headers.getlist('Set-Cookie')}")


def _digest(session_state: str) -> str:
    hashed = hashlib.sha256(session_state.encode()).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


@pytest.mark.parametrize("path", ["openid-configuration", "wallet-openid-configuration"])
def test_discovery_advertises_the_iframe_keycloak_serves(client, path):
    document = client.get(f"/auth/realms/esante-wallet/.well-known/{path}").get_json()
    assert (
        document["check_session_iframe"]
        == f"{ISSUER}/protocol/openid-connect/login-status-iframe.html"
    )
    page = client.get(document["check_session_iframe"].replace("http://localhost", ""))
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "login-status-iframe.js" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", [IFRAME, f"{OIDC}/3p-cookies/step1.html", f"{OIDC}/3p-cookies/step2.html"]
)
def test_the_iframe_pages_may_be_framed_by_any_site(app, client, path):
    """As Keycloak's, with no ``X-Frame-Options``: the embedding page is not known (the iframe
    is loaded without a client id), and ``/init`` decides whom the iframe answers. The policy
    names no client's origin (it would grow with the clients and list them to anyone)."""
    register_client(app, web_origins=["+"])
    register_client(app, client_id="other-service", web_origins=["https://app.example.net"])
    response = client.get(path)
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert response.headers["X-Robots-Tag"] == "none"  # framed, and still never indexed
    policy = [d.strip() for d in response.headers["Content-Security-Policy"].split(";")]
    assert "frame-ancestors *" in policy, policy
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert "app.example.net" not in response.headers["Content-Security-Policy"]
    # Every other page keeps refusing to be framed.
    login = client.get(f"{OIDC}/auth", query_string={"client_id": "nobody"})
    assert login.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in login.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path", [IFRAME, f"{OIDC}/3p-cookies/step1.html", f"{OIDC}/3p-cookies/step2.html"]
)
@pytest.mark.parametrize("version", ["26.2.4", "x", ""])
def test_a_version_parameter_changes_nothing(client, path, version):
    """Keycloak's ``?version=`` (a cache key of its own resources: 404 unless it is the
    server's resources version, then cached) is ignored: santeid has no such version for a
    client to know, and a version written for Keycloak must not make the page fail. The page is
    the same, and as uncacheable, with or without it (docs/reference/keycloak-behaviour.md,
    "Session status iframe"): Keycloak's header without a version
    (``LoginStatusIframeEndpointTest.checkIframeCache``: ``IframeUtil``'s
    ``CacheControlUtil.noCache()``), which Keycloak's newest release sends with one too
    (``IframeEndpointsNonceTest.iframePagesAreNotCacheable``)."""
    plain = client.get(path)
    versioned = client.get(path, query_string={"version": version})
    assert versioned.status_code == plain.status_code == 200
    assert versioned.get_data() == plain.get_data()
    assert versioned.headers["Cache-Control"] == plain.headers["Cache-Control"]
    assert plain.headers["Cache-Control"] == "no-cache, must-revalidate, no-transform, no-store"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"client_id": "service-test", "origin": RP_ORIGIN}, 204),
        ({"client_id": "service-test", "origin": "http://localhost"}, 204),  # santeid's own
        ({"client_id": "service-test", "origin": "https://evil.example"}, 403),
        ({"client_id": "service-test", "origin": RP_ORIGIN + ":8443"}, 403),
        ({"client_id": "nobody", "origin": RP_ORIGIN}, 403),
        ({"client_id": "service-test"}, 403),
        ({"origin": RP_ORIGIN}, 403),
        ({"client_id": "", "origin": ""}, 403),
        ({}, 403),
    ],
)
def test_init_accepts_a_client_from_its_web_origins_only(app, client, query, status):
    """Keycloak's ``preCheck``: 204, else 403 with no body."""
    register_client(app, web_origins=["+"])
    response = client.get(f"{IFRAME}/init", query_string=query)
    assert response.status_code == status
    assert response.data == b""


def test_init_with_any_origin_allowed(app, client):
    register_client(app, web_origins=["*"])
    query = {"client_id": "service-test", "origin": "https://anywhere.example"}
    response = client.get(f"{IFRAME}/init", query_string=query)
    assert response.status_code == 204


def test_the_login_writes_the_session_state_the_iframe_reads(app, client, flow):
    """``santeid_session_state``: the SHA-256 of the ``session_state`` the relying party got,
    readable by the iframe's script (not ``HttpOnly``), until the session's absolute end; an
    SSO answer writes it again; the logout removes it."""
    response = flow.login(flow.authorize(), sandbox_professional(app))
    answer = flow.code_from(response)
    session_state = answer["session_state"]
    value, *attributes = _set_cookie(response, COOKIE)
    assert value == _digest(session_state)
    assert "httponly" not in attributes, attributes
    assert "path=/" in attributes and "samesite=lax" in attributes, attributes
    max_lifetime = app.extensions["santeid"].sessions.max_lifetime
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert max_lifetime - 5 <= max_age <= max_lifetime
    # Nothing in it lets a script act on the session: the session's own cookie stays HttpOnly.
    assert session_state not in value
    assert "httponly" in _set_cookie(response, "santeid_identity")

    sso = flow.authorize()
    assert flow.code_from(sso)["session_state"] == session_state
    assert _set_cookie(sso, COOKIE)[0] == value

    id_token = flow.token(answer["code"]).get_json()["id_token"]
    logout = client.get(f"{OIDC}/logout", query_string={"id_token_hint": id_token})
    assert logout.status_code == 200, logout.get_data(as_text=True)
    value, *attributes = _set_cookie(logout, COOKIE)
    assert value == "" and "max-age=0" in attributes, attributes
    assert client.get_cookie(COOKIE) is None


def test_a_session_over_on_the_server_is_forgotten_at_the_next_authorization(app, client, flow):
    """Keycloak's ``authenticateIdentityCookie``: an identity cookie whose session is gone is
    expired with ``KEYCLOAK_SESSION``. A refresh-token logout by the relying party (no browser
    in it) leaves the cookies; the browser's next authorization request (here ``prompt=none``,
    answered ``login_required``) removes them, and the iframe then says ``changed``."""
    tokens = flow.full_login()
    logout = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": tokens["refresh_token"]},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    assert logout.status_code == 204
    assert client.get_cookie(COOKIE) is not None  # nothing told the browser yet
    silent = flow.authorize(prompt="none")
    assert flow.code_from(silent)["error"] == "login_required"
    for name in (COOKIE, "santeid_identity"):
        value, *attributes = _set_cookie(silent, name)
        assert value == "" and "max-age=0" in attributes, (name, attributes)
    assert client.get_cookie(COOKIE) is None


def test_a_browser_without_cookies_gets_none_expired(client, flow):
    """Nothing to forget: an authorization request without the cookies sets none."""
    silent = flow.authorize(prompt="none")
    assert silent.headers.getlist("Set-Cookie") == []

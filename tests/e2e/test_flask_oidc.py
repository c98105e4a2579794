"""A Flask service logging professionals in with flask-oidc 2.4
(https://flask-oidc.readthedocs.io/en/latest/), the Flask extension on Authlib, pointed at a
real ``santeid serve``: configured as its documentation says, a ``client_secrets.json`` with
the realm's ``issuer`` (the extension reads ``{issuer}/.well-known/openid-configuration``),
``client_id`` and ``client_secret``, and ``OIDC_SCOPES`` PSC's ``openid scope_all``; served by
Werkzeug's threaded server in a process of its own on ``localhost`` (another site than
santeid's ``127.0.0.1``), driven in headless Chromium through the sandbox's login page.

The service is tests/support/flask_oidc_rp.py. The extension sends the authorization request
with ``state`` and ``nonce`` (it has no setting for ``acr_values``, which santeid, like
Keycloak, does not require), exchanges the code with ``client_secret_post`` (its
``OIDC_INTROSPECTION_AUTH_METHOD`` default), validates the ID token through Authlib, reads
userinfo into ``session["oidc_auth_profile"]``; before every request it refreshes an access
token that expires within a minute (Authlib's ``leeway``), and its ``/logout`` ends the
service's session only. ``@oidc.accept_token()`` introspects the Bearer token with the
service's credentials. A failed request or an error the service logs fails the test, unless
the test expects it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import opened_json
from tests.support.browser import shown_json
from tests.support.browser import wait_for
from tests.support.http_login import logged_in_tokens
from tests.support.python_rp import ServiceSite
from tests.support.python_rp import python_relying_party
from tests.support.redis_server import free_port
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "flask-oidc-service"
OTHER_CLIENT_ID = "another-psc-service"
SECRET = "a-long-secret-for-the-flask-oidc-service-01"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The access-token lifetime of the server whose tokens expire during a test.
SHORT_LIFETIME = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("flask-oidc"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def flask_service(server, folder: Path) -> Iterator[tuple[str, Path]]:
    """The Flask service, registered at ``server`` as an operator registers it, serving in a
    process of its own: its origin and its log."""
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/authorize", REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_post",
    )
    secrets = folder / "client_secrets.json"
    secrets.write_text(
        json.dumps(
            {"web": {"issuer": server.issuer, "client_id": CLIENT_ID, "client_secret": SECRET}}
        )
    )
    config = {
        "port": port,
        "client_secrets": str(secrets),
        "scopes": "openid scope_all",
        "sessions": str(folder / "sessions"),
    }
    log = folder / "service.log"
    with python_relying_party("tests.support.flask_oidc_rp", "FLASK_OIDC_RP", config, log, "/me"):
        yield origin, log


@pytest.fixture(scope="module")
def service(server, tmp_path_factory):
    with flask_service(server, tmp_path_factory.mktemp("flask-oidc-service")) as service:
        yield service


@pytest.fixture
def site(service):
    """The service's origin; it must log nothing during the test (the service logs warnings
    and errors only) unless the test took it (:meth:`ServiceSite.taken`)."""
    site = ServiceSite.from_end_of(*service)
    yield site
    logged = site.taken()
    assert not logged.strip(), logged


def log_in(browser, site: str, national_id: str = PROFESSIONAL) -> dict:
    """The extension's login, santeid's login page, the professional's identifier; back at
    the service's ``/me``: what it shows."""
    browser.get(f"{site}/login?next=/me")
    identify(browser, national_id)
    return shown_json(browser, f"{site}/me")


def test_the_login_fills_the_session_with_psc_claims(browser, server, site):
    """``oidc.user_loggedin`` and ``session["oidc_auth_profile"]``: userinfo, PSC's claims."""
    me = log_in(browser, site)
    assert me["logged_in"] is True
    profile = me["profile"]
    assert profile["SubjectNameID"] == PROFESSIONAL
    assert (profile["given_name"], profile["family_name"]) == ("CLEMENT", "ARNAUD")
    assert profile["SubjectRefPro"]["exercices"]
    assert me["access_token"] and me["refresh_token"]


def test_an_expiring_access_token_is_refreshed_before_the_request(browser, site):
    """The access token expires (``expires_at`` past, as two minutes after the login): before
    the next request the extension refreshes it (Authlib's ``ensure_active_token``) and keeps
    the new token answer in the session; the professional stays logged in."""
    before = log_in(browser, site)
    assert opened_json(browser, f"{site}/age") == {"aged": True}
    after = opened_json(browser, f"{site}/me")
    assert after["logged_in"] is True
    assert after["access_token"] != before["access_token"]
    assert after["expires_at"] >= before["expires_at"]
    assert after["profile"] == before["profile"]


def test_a_refusal_of_the_refresh_logs_the_professional_out(browser, server, site):
    """The refresh token revoked at santeid (RFC 7009, by the service): the refresh is refused
    (``invalid_grant``), and the extension sends the browser to its own logout
    (``reason=expired``), which ends the service's session."""
    before = log_in(browser, site)
    revoked = requests.post(
        f"{server.oidc}/revoke",
        data={"token": before["refresh_token"], "client_id": CLIENT_ID, "client_secret": SECRET},
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    opened_json(browser, f"{site}/age")
    browser.get(f"{site}/me")
    assert shown_json(browser, f"{site}/")["logged_in"] is False


def test_the_extensions_logout_ends_the_services_session_only(browser, server, site):
    """``/logout`` forgets the tokens and the profile; santeid's SSO session lives on, as
    Keycloak's does when a service does not send the browser to the end-session endpoint: the
    next login comes back without the login page."""
    log_in(browser, site)
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/")["logged_in"] is False
    browser.get(f"{site}/login?next=/me")
    me = shown_json(browser, f"{site}/me")
    assert me["logged_in"] is True and me["profile"]["SubjectNameID"] == PROFESSIONAL


def test_a_login_refused_on_the_phone_is_a_401(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback has ``error=access_denied``, which Authlib raises as ``OAuthError`` and the
    extension logs and answers with a 401."""
    browser.get(f"{site}/login?next=/me")
    identify(browser, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    wait_for(lambda: browser.current_url.startswith(f"{site}/authorize"), what="the callback")
    assert "access_denied" in browser.find_element("tag name", "body").text
    logged = site.taken()
    assert "Could not get the access token" in logged and "access_denied" in logged


def api(site: str, token: str, path: str = "/api") -> requests.Response:
    return requests.get(f"{site}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_accept_token_introspects_the_professionals_token(browser, site):
    """``@oidc.accept_token()``: the Bearer token introspected with the service's credentials
    (``client_secret_post``); the view gets Keycloak's introspection answer, PSC's claims
    with ``client_id``, ``username`` and ``active``. ``scopes=["scope_all"]`` is met."""
    token = log_in(browser, site)["access_token"]
    for path in ("/api", "/api/scope-all"):
        response = api(site, token, path)
        assert response.status_code == 200, response.text
        claims = response.json()
        assert claims["active"] is True and claims["client_id"] == CLIENT_ID
        assert (claims["typ"], claims["token_type"]) == ("Bearer", "Bearer")
        assert claims["username"] == PROFESSIONAL and claims["SubjectNameID"] == PROFESSIONAL


def test_accept_token_takes_another_services_token(server, site):
    """Keycloak lets any confidential client of the realm introspect any token
    (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"), and so
    does santeid: the extension accepts a token issued to another service, whose
    ``client_id`` the view reads to refuse it if it must."""
    server.register(
        OTHER_CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code"],
        token_endpoint_auth_method="client_secret_basic",
    )
    tokens = logged_in_tokens(server.oidc, OTHER_CLIENT_ID, SECRET, REDIRECT_URI, PROFESSIONAL)
    response = api(site, tokens["access_token"])
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == OTHER_CLIENT_ID


def test_accept_token_refuses_a_revoked_token_and_none(browser, server, site):
    """A token santeid no longer holds active (revoked: introspection answers
    ``{"active": false}``, as for an expired one) is refused with Authlib's 401
    ``invalid_token``; no token, with its 401 ``missing_authorization``."""
    token = log_in(browser, site)["access_token"]
    requests.post(
        f"{server.oidc}/revoke",
        data={"token": token, "client_id": CLIENT_ID, "client_secret": SECRET},
        timeout=10,
    ).raise_for_status()
    refused = api(site, token)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    missing = requests.get(f"{site}/api", timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (401, "missing_authorization")


@pytest.fixture(scope="module")
def short_lived_site(tmp_path_factory):
    """A server whose access tokens live :data:`SHORT_LIFETIME` seconds, and the service
    pointed at it: the service's origin, the server."""
    with (
        santeid_process(
            tmp_path_factory.mktemp("flask-oidc-short"),
            SANTEID_STORE_URL="memory://",
            SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
        ) as server,
        flask_service(server, tmp_path_factory.mktemp("flask-oidc-short-service")) as service,
    ):
        yield service[0], server


def test_accept_token_refuses_an_expired_token(short_lived_site):
    """Past its ``exp``, introspection answers ``{"active": false}``: Authlib's 401
    ``invalid_token``."""
    site, server = short_lived_site
    token = logged_in_tokens(server.oidc, CLIENT_ID, SECRET, REDIRECT_URI, PROFESSIONAL)
    expires = jwt.decode(token["access_token"], options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires + 1 - time.time()))
    refused = api(site, token["access_token"])
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")


def test_accept_token_takes_a_refresh_token_whose_type_the_view_reads(browser, site):
    """The service's refresh token sent as the Bearer token: flask-oidc introspects it
    without a ``token_type_hint``, which Keycloak answers through its access-token
    introspection, active (docs/reference/keycloak-behaviour.md, "Userinfo, introspection,
    revocation"): the extension accepts it, and the view tells it by ``typ`` and
    ``token_type``, ``Refresh``."""
    me = log_in(browser, site)
    response = api(site, me["refresh_token"])
    assert response.status_code == 200, response.text
    claims = response.json()
    assert (claims["typ"], claims["token_type"]) == ("Refresh", "Refresh")
    assert claims["client_id"] == CLIENT_ID and claims["active"] is True

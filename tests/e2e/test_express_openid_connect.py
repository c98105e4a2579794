"""An Express service logging professionals in with express-openid-connect 3
(https://github.com/auth0/express-openid-connect, Auth0's Express middleware, on openid-client
6), pointed at a real ``santeid serve`` by its issuer URL alone and driven in headless Chromium
through the sandbox's login page.

The service is ``tests/e2e/express_openid_connect/app.js``, configured as the library's README
says, with PSC's parameters: ``issuerBaseURL`` the realm, a client secret
(``client_secret_basic``), ``response_type`` ``code`` (the library adds PKCE and a nonce),
``scope`` ``openid scope_all``, ``acr_values`` ``eidas1``, ``idpLogout`` (RP-initiated logout
at santeid's end-session endpoint) and ``backchannelLogout``. Its locked dependencies are
installed with ``npm ci`` into its git-ignored ``node_modules`` the first time; ``.ci/run``
installs Debian's nodejs and npm. It listens on ``localhost`` (another site than santeid's
``127.0.0.1``).

The library checks what the browser brings back (``state``, RFC 9207's ``iss``, the code with
its PKCE verifier, the ID token's signature, ``iss``, ``aud``, ``nonce``, ``exp``) before any
page of the service answers: every refusal surfaces as the service's error page, which fails
the test."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import opened_json
from tests.support.browser import relying_party_browser
from tests.support.browser import shown_json
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.node import NODE
from tests.support.node import install_locked
from tests.support.node import needs_node_20
from tests.support.node import needs_node_and_npm
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "express_openid_connect"

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_node_and_npm, needs_node_20]

CLIENT_ID = "express-service"
SECRET = "a-long-secret-for-the-express-service-0001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("express-oidc"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def express_service(server, folder: Path, client_id: str, issuer_base_url: str):
    """The Express service, registered at santeid as an operator registers it (its callback,
    its logout return page, its back-channel logout endpoint), then started with
    ``issuer_base_url``; its origin."""
    assert NODE is not None  # needs_node_and_npm
    install_locked(APP_DIR, "express-openid-connect")
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/callback"],
        post_logout_redirect_uris=[f"{origin}/logged-out"],
        backchannel_logout_uri=f"{origin}/backchannel-logout",
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    env = {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": origin,
        "ISSUER_BASE_URL": issuer_base_url,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": SECRET,
        "APP_SECRET": "a-long-secret-for-the-express-session-cookie",
    }
    with running_server(
        [NODE, str(APP_DIR / "app.js")],
        env,
        folder / f"{client_id}.log",
        f"http://127.0.0.1:{port}/logged-out",
    ):
        yield origin


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    """The service configured with the realm as ``issuerBaseURL``."""
    folder = tmp_path_factory.mktemp("express-log")
    with express_service(server, folder, CLIENT_ID, server.issuer) as origin:
        yield origin


chromium, browser = relying_party_browser("express-oidc-profile")


def log_in(browser, site: str, national_id: str = PROFESSIONAL) -> None:
    """The service's login route, santeid's login page, the professional's identifier; the
    sandbox phone answers."""
    browser.get(f"{site}/login")
    identify(browser, national_id)


def logged_in(browser, site: str) -> dict:
    log_in(browser, site)
    return shown_json(browser, f"{site}/")


def test_the_login_gives_the_service_psc_claims(browser, server, site):
    """``req.oidc.user`` is the ID token's claims (the library's ``identityClaimFilter`` takes
    the protocol ones out), PSC's among them; ``fetchUserInfo()`` reads the userinfo endpoint
    and compares its ``sub`` with the ID token's."""
    log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(site), what="back at the service")
    me = opened_json(browser, f"{site}/me")
    user, claims = me["user"], me["claims"]
    assert user["SubjectNameID"] == PROFESSIONAL and user["acr"] == "eidas1"
    assert user["family_name"] == "ARNAUD" and user["given_name"] == "CLEMENT"
    assert "aud" not in user and "nonce" not in user
    assert claims["iss"] == server.issuer and claims["aud"] == CLIENT_ID and claims["nonce"]
    assert claims["sid"]

    userinfo = opened_json(browser, f"{site}/userinfo")
    assert userinfo["sub"] == claims["sub"] and userinfo["SubjectNameID"] == PROFESSIONAL
    assert userinfo["SubjectRefPro"]["exercices"]


def test_the_access_token_is_refreshed_through_the_library(browser, site):
    """``req.oidc.accessToken.refresh()``: the refresh-token grant, the new ID token validated
    and kept in the session."""
    log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(site), what="back at the service")
    first = opened_json(browser, f"{site}/me")["claims"]
    refreshed = opened_json(browser, f"{site}/refresh")
    assert refreshed["after"] != refreshed["before"] and refreshed["expires_in"] > 0
    assert refreshed["claims"]["sub"] == first["sub"]
    assert refreshed["claims"]["sid"] == first["sid"]
    assert refreshed["claims"]["iat"] >= first["iat"]
    assert opened_json(browser, f"{site}/userinfo")["SubjectNameID"] == PROFESSIONAL


def test_idp_logout_ends_the_sso_session(browser, server, site):
    """``idpLogout``: the library's ``/logout`` sends the browser to santeid's end-session
    endpoint with the ID token as ``id_token_hint`` and the service's return page; santeid
    ends the session without a confirmation page and sends the browser back. The next login
    asks for the professional again."""
    log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(site), what="back at the service")
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/logged-out") == {"loggedOut": True, "user": None}
    browser.get(f"{site}/me")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert urlsplit(browser.current_url).netloc == urlsplit(server.base).netloc


def test_idp_logout_of_nobody(browser, server, site):
    """The library's ``/logout`` with nobody logged in at the service sends the browser to the
    end-session endpoint with ``client_id`` and the return page, no ``id_token_hint``. Without
    an SSO session santeid, as Keycloak, sends it back at once; with one (the professional
    still logged in at santeid), it asks the professional to confirm
    (docs/reference/keycloak-behaviour.md, "Logout")."""
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/logged-out") == {"loggedOut": True, "user": None}

    log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(site), what="back at the service")
    browser.delete_all_cookies()  # the service's own: santeid's SSO session stays
    browser.get(f"{site}/logout")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    assert shown_json(browser, f"{site}/logged-out") == {"loggedOut": True, "user": None}


def test_silent_login_without_an_sso_session_is_login_required(browser, site):
    """``attemptSilentLogin``: the first page goes to santeid with ``prompt=none``; without an
    SSO session santeid answers ``login_required`` (Keycloak's error), which the library
    swallows: the page is shown to nobody, once (its ``skipSilentLogin`` cookie)."""
    assert opened_json(browser, f"{site}/maybe") == {"user": None}
    cookies = {c["name"] for c in browser.get_cookies()}
    assert "skipSilentLogin" in cookies


def test_silent_login_with_an_sso_session_logs_in_without_a_page(browser, site):
    """With an SSO session at santeid and none at the service (its cookies gone, santeid's
    kept), ``prompt=none`` answers a code at once: the page is shown to the professional
    without any login page, in the same SSO session."""
    log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(site), what="back at the service")
    first = opened_json(browser, f"{site}/me")["claims"]
    browser.delete_all_cookies()  # the service's own: WebDriver's are the page's
    assert opened_json(browser, f"{site}/logged-out")["user"] is None
    silent = opened_json(browser, f"{site}/maybe")
    assert silent["user"]["SubjectNameID"] == PROFESSIONAL
    assert silent["claims"]["sid"] == first["sid"] and silent["claims"]["sub"] == first["sub"]


def test_backchannel_logout_logs_the_service_out(browser, server, site):
    """The professional logs out at santeid (its logout page, confirmed): santeid POSTs its
    logout token to the service's ``/backchannel-logout``, which the library verifies
    (signature against the JWKS, ``iss``, ``aud``, ``events``, no ``nonce``) and records by
    ``sid`` and ``sub``; the service's next page has nobody logged in."""
    log_in(browser, site)
    wait_for(lambda: browser.current_url.startswith(site), what="back at the service")
    claims = opened_json(browser, f"{site}/me")["claims"]
    browser.get(f"{server.oidc}/logout")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="logged out")
    recorded = opened_json(browser, f"{site}/logouts")
    assert set(recorded) >= {
        f"{server.issuer}|{claims['sid']}",
        f"{server.issuer}|{claims['sub']}",
    }
    assert opened_json(browser, f"{site}/logged-out")["user"] is None


def test_a_login_refused_on_the_phone_is_the_librarys_error(browser, server, site):
    """The professional refuses on the sandbox phone (santeid's "refused" page) and gives up
    there: the service's callback gets ``access_denied`` with RFC 9207's ``iss`` and, as from
    Keycloak, no ``error_description`` (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint"). The library checks ``iss`` and raises an HTTP 400 error with santeid's
    ``error``; its description is then the library's own words."""
    log_in(browser, site, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    answer = shown_json(browser, f"{site}/callback")
    assert answer == {
        "status": 400,
        "error": "access_denied",
        "error_description": "authorization response from the server is an error",
        "message": "authorization response from the server is an error",
    }


def test_the_wallet_discovery_url_as_issuer_base_url(browser, server, tmp_path):
    """PSC documents its wallet discovery URL, which services configure as is: openid-client 6,
    under the library, reads a ``.well-known`` URL as the document's own address (without the
    issuer comparison it makes for an issuer) and sends the browser to the wallet's
    ``/auth`` (docs/psc-integration.md §2); the callback's ``iss`` and the ID token's are the
    realm's, which the document names."""
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    with express_service(server, tmp_path, "express-wallet", wallet) as origin:
        start_afresh(browser, origin)
        sent = requests.get(f"{origin}/login", allow_redirects=False, timeout=10)
        assert sent.headers["Location"].startswith(f"{server.base}/auth?")
        browser.get(f"{origin}/login")
        identify(browser, PROFESSIONAL)
        wait_for(lambda: browser.current_url.startswith(origin), what="back at the service")
        claims = opened_json(browser, f"{origin}/me")["claims"]
        assert claims["iss"] == server.issuer and claims["aud"] == "express-wallet"
        assert claims["SubjectNameID"] == PROFESSIONAL

"""An Express service protected by keycloak-connect 26 (Keycloak's Node.js adapter,
https://github.com/keycloak/keycloak-nodejs-connect), pointed at a real ``santeid serve`` by
its base URL alone and driven in headless Chromium through the sandbox's login page.

The service is ``tests/e2e/keycloak_connect/app.js``, configured as the adapter's README and
Keycloak's guide configure it for a Keycloak server — keycloak.json's ``auth-server-url``
(``<santeid>/auth``), ``realm`` (``esante-wallet``), ``resource`` (the client id),
``credentials.secret``, ``ssl-required``, ``confidential-port`` — with express-session's
memory store for the grants and ``keycloak.middleware({logout: '/logout'})``. The adapter
builds every URL itself from the base URL and the realm: the authorization URL
(``…/protocol/openid-connect/auth``, ``scope=openid scope_all``, no PKCE, no nonce), the token
endpoint (Basic authentication plus ``client_id`` and Keycloak's ``client_session_state`` and
``client_session_host`` in the form), the certs, userinfo, introspection and logout URLs.
Every token it receives goes through its ``GrantManager.validateToken`` (``typ`` ``Bearer``
and ``ID``, ``iss`` the realm URL, ``iat`` against its not-before, an ID token's ``aud`` and
``azp``, the RS256 signature with the JWK its ``kid`` names): a refusal is the adapter's 403
"Access denied", which fails the test."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jws
from joserfc.jwk import RSAKey

from santeid.keystore import KeyStore
from tests.support.browser import identify
from tests.support.browser import opened_json
from tests.support.browser import shown_json
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.node import NODE
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "keycloak_connect"

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_node_and_npm]

CLIENT_ID = "keycloak-connect-service"
SECRET = "a-long-secret-for-the-keycloak-connect-01"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The pages keycloak.protect() guards: the adapter's redirect URI is the page's own URL with
#: ``auth_callback=1``.
PROTECTED = ("/protected", "/userinfo", "/validate", "/maybe")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("keycloak-connect"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def adapter_service(server, folder: Path, client_id: str):
    """The Express service, registered at santeid as an operator registers it (the callback
    URL of each protected page, the page the adapter's logout returns to), then started with
    ``auth-server-url`` santeid's ``/auth``; its origin."""
    assert NODE is not None  # needs_node_and_npm
    install_locked(APP_DIR, "keycloak-connect")
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[f"{origin}{page}?auth_callback=1" for page in PROTECTED],
        post_logout_redirect_uris=[f"{origin}/"],
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
    )
    realm = requests.get(server.issuer, timeout=10).json()
    env = {
        **os.environ,
        "PORT": str(port),
        "AUTH_SERVER_URL": f"{server.base}/auth",
        "REALM": "esante-wallet",
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": SECRET,
        "SESSION_SECRET": "a-long-secret-for-the-express-session-cookie",
        "REALM_PUBLIC_KEY": realm["public_key"],
    }
    log = folder / f"{client_id}.log"
    with running_server([NODE, str(APP_DIR / "app.js")], env, log, f"http://127.0.0.1:{port}/"):
        yield origin


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keycloak-connect-log")
    with adapter_service(server, folder, CLIENT_ID) as origin:
        yield origin


def session_cookie(browser) -> dict[str, str]:
    """The service's session cookie (express-session's ``connect.sid``) from the browser at
    the service, for the same session outside it."""
    return {c["name"]: c["value"] for c in browser.get_cookies() if c["name"] == "connect.sid"}


def logged_in(browser, site: str) -> dict:
    """The protected page, santeid's login page, the professional's identifier; the sandbox
    phone answers, the adapter's callback exchanges the code, validates the tokens and sends
    the browser back to the page: the grant's tokens and their claims."""
    browser.get(f"{site}/protected")
    identify(browser, PROFESSIONAL)
    return shown_json(browser, f"{site}/protected")


def test_the_protected_page_shows_the_professionals_claims(browser, server, site):
    """``keycloak.protect()`` sends the browser to Keycloak's authorization path of the realm;
    back at the page with ``auth_callback=1``, the adapter exchanges the code (Basic plus
    ``client_id``, ``client_session_state`` and an empty ``client_session_host`` in the
    form, as it does with Keycloak), validates the access and ID tokens (``typ``, ``iss``,
    ``aud``, ``azp``, the signature against the certs) and keeps the grant in the session;
    ``req.kauth.grant`` carries PSC's claims."""
    first = requests.get(f"{site}/protected", allow_redirects=False, timeout=10)
    sent = urlsplit(first.headers["Location"])
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == f"{server.oidc}/auth"
    query = parse_qs(sent.query)
    assert query["scope"] == ["openid scope_all"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{site}/protected?auth_callback=1"]
    grant = logged_in(browser, site)
    access, id_claims = grant["access"], grant["id"]
    assert access["typ"] == "Bearer" and access["iss"] == server.issuer
    assert access["azp"] == CLIENT_ID and access["preferred_username"] == PROFESSIONAL
    assert "aud" not in access  # as PSC's: the adapter checks it only if verify-token-audience
    assert id_claims["typ"] == "ID" and id_claims["aud"] == CLIENT_ID
    assert id_claims["azp"] == CLIENT_ID and "nonce" not in id_claims
    assert id_claims["SubjectNameID"] == PROFESSIONAL and id_claims["family_name"] == "ARNAUD"
    assert grant["refresh"]["typ"] == "Refresh" and grant["refresh"]["sid"] == id_claims["sid"]
    # The session keeps the grant: the page again, without santeid.
    assert opened_json(browser, f"{site}/protected")["access_token"] == grant["access_token"]


def confirm_logout(browser) -> None:
    """santeid's logout confirmation page ("Do you want to log out?"), confirmed: the SSO
    session ends."""
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="logged out")


def test_userinfo_and_introspection_through_the_grant_manager(browser, server, site):
    """``grantManager.userInfo`` (GET userinfo with the access token) answers PSC's claims;
    ``grantManager.validateAccessToken`` (the introspection endpoint, Basic and the secret in
    the form) says the token is active while the SSO session lives and no longer once the
    professional logged out at santeid (the adapter's local checks still pass: the token has
    not expired)."""
    grant = logged_in(browser, site)
    userinfo = opened_json(browser, f"{site}/userinfo")
    assert userinfo["sub"] == grant["access"]["sub"] and userinfo["SubjectNameID"] == PROFESSIONAL
    assert userinfo["SubjectRefPro"]["exercices"]
    assert opened_json(browser, f"{site}/validate") == {"valid": True}
    browser.get(f"{server.oidc}/logout")
    confirm_logout(browser)
    assert opened_json(browser, f"{site}/validate") == {"valid": False}


def test_check_sso_without_a_session_is_nobody(browser, site):
    """``keycloak.checkSso()``: the page goes to santeid with ``prompt=none``; without an SSO
    session santeid answers ``login_required`` (Keycloak's error), which the adapter takes
    for "nobody": the page is shown without a grant."""
    assert opened_json(browser, f"{site}/maybe") == {"loggedIn": False, "tokens": None}


def test_check_sso_with_a_session_logs_in_without_a_page(browser, server, site):
    """With an SSO session at santeid and none at the service, ``prompt=none`` answers a code
    at once: the grant of the same SSO session, no login page."""
    first = logged_in(browser, site)
    browser.delete_all_cookies()  # the service's own: santeid's SSO session stays
    silent = opened_json(browser, f"{site}/maybe")
    assert silent["loggedIn"] is True
    assert silent["tokens"]["id"]["sid"] == first["id"]["sid"]


def test_the_adapters_logout_ends_the_sso_session(browser, server, site):
    """The adapter's ``/logout`` removes the grant from the session and sends the browser to
    the realm's end-session endpoint with the ID token as ``id_token_hint`` and the service's
    root as ``post_logout_redirect_uri``: santeid ends the SSO session without a confirmation
    page and sends the browser back. The protected page then asks for the professional
    again."""
    logged_in(browser, site)
    browser.get(f"{site}/logout")
    assert shown_json(browser, f"{site}/") == {"loggedIn": False, "tokens": None}
    browser.get(f"{site}/protected")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert urlsplit(browser.current_url).netloc == urlsplit(server.base).netloc


def test_the_adapters_logout_of_nobody_asks_for_a_confirmation(browser, server, site):
    """With no grant in the service's session the adapter sends the browser to the end-session
    endpoint without any parameter: Keycloak's confirmation page ("Do you want to log
    out?"), which ends the SSO session left at santeid."""
    logged_in(browser, site)
    browser.delete_all_cookies()  # the service's own: santeid's SSO session stays
    browser.get(f"{site}/logout")
    assert browser.current_url == f"{server.oidc}/logout"
    confirm_logout(browser)
    browser.get(f"{site}/protected")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")


def bearer(site: str, token: str | None, api: str = "api") -> requests.Response:
    """The bearer-only route ``/<api>/me`` with ``token`` in ``Authorization``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{site}/{api}/me", headers=headers, timeout=10)


def access_denied(answer: requests.Response) -> bool:
    """The adapter's refusal (``Keycloak.accessDenied``)."""
    return answer.status_code == 403 and answer.text == "Access denied"


def resigned(token: str, key, **changes) -> str:
    """``token``'s header (its ``kid`` kept) and claims with ``changes``, signed RS256 with
    ``key``."""
    header, payload, _ = token.split(".")
    claims = {**json.loads(base64.urlsafe_b64decode(payload + "==")), **changes}
    protected = json.loads(base64.urlsafe_b64decode(header + "=="))
    return jws.serialize_compact(protected, json.dumps(claims).encode(), key)


def test_the_bearer_only_api_accepts_santeids_access_token(browser, server, site):
    """A bearer-only adapter of the same client (``bearer-only: true``) validates the
    ``Authorization: Bearer`` access token of a real login (``typ`` ``Bearer``, ``iss``, the
    signature against the certs) and hands its claims to the route."""
    token = logged_in(browser, site)["access_token"]
    accepted = bearer(site, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["preferred_username"] == PROFESSIONAL
    assert accepted.json()["iss"] == server.issuer


def test_the_bearer_only_api_refuses_what_keycloak_would_not_accept(browser, server, site):
    """The adapter's 403 "Access denied": no token; the ID and refresh tokens of the same login
    (``typ`` ``ID`` and ``Refresh``, not ``Bearer``); the access token re-signed by another
    RSA key under santeid's ``kid``; the access token of another realm (its ``iss``), signed
    by santeid's own key."""
    grant = logged_in(browser, site)
    token = grant["access_token"]
    assert bearer(site, token).status_code == 200
    assert access_denied(bearer(site, None))
    assert access_denied(bearer(site, grant["id_token"]))
    assert access_denied(bearer(site, grant["refresh_token"]))
    assert access_denied(bearer(site, resigned(token, RSAKey.generate_key(2048))))
    keys = KeyStore(Path(server.env["SANTEID_KEYS_DIR"]), retired_key_lifetime=1800)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert bearer(site, keys.sign(claims)).status_code == 200  # the same claims, re-signed
    other_realm = {**claims, "iss": server.issuer.replace("esante-wallet", "another-realm")}
    assert access_denied(bearer(site, keys.sign(other_realm)))


def test_the_realms_public_key_in_the_configuration(browser, server, site):
    """``realm-public-key`` (the realm document's ``public_key``, as older keycloak.json exports
    carry it): the adapter verifies the access token with it, no certs read; a token signed
    by another key is its "Access denied"."""
    token = logged_in(browser, site)["access_token"]
    accepted = bearer(site, token, "pinned")
    assert accepted.status_code == 200 and accepted.json()["preferred_username"] == PROFESSIONAL
    assert access_denied(bearer(site, resigned(token, RSAKey.generate_key(2048)), "pinned"))


def test_a_login_refused_on_the_phone_is_the_adapters_access_denied(browser, server, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback brings ``error=access_denied``, which the adapter answers with its 403 "Access
    denied" (Keycloak's cancelled login gives it the same)."""
    browser.get(f"{site}/protected")
    identify(browser, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    wait_for(lambda: browser.current_url.split("?")[0] == f"{site}/protected")
    callback = parse_qs(urlsplit(browser.current_url).query)
    assert callback["error"] == ["access_denied"] and callback["auth_callback"] == ["1"]
    assert browser.find_element("tag name", "body").text == "Access denied"


def test_the_service_accounts_grant(site, server):
    """``grantManager.obtainFromClientCredentials()`` (``scope=openid``, Basic and
    ``client_id``): the access token and the service account's ID token pass the adapter's
    validation (``typ``, ``iss``, ``aud``, ``azp``, signature); no refresh token."""
    answer = requests.get(f"{site}/service-account", timeout=10)
    assert answer.status_code == 200, answer.text
    grant = answer.json()
    assert grant["access"]["typ"] == "Bearer" and grant["access"]["iss"] == server.issuer
    assert grant["access"]["preferred_username"] == f"service-account-{CLIENT_ID}"
    assert grant["id"]["typ"] == "ID" and grant["id"]["aud"] == CLIENT_ID
    assert grant["refresh_token"] is None


def test_a_role_guard_refuses_psc_tokens(browser, site):
    """``keycloak.protect("realm:offline_access")`` looks for the role in the access token's
    ``realm_access``, which PSC's access tokens do not carry
    (docs/reference/keycloak-behaviour.md, "Tokens"): the adapter's "Access denied", while
    the same session's unguarded page answers."""
    logged_in(browser, site)
    browser.get(f"{site}/role")
    wait_for(lambda: browser.find_element("tag name", "body").text == "Access denied")
    assert "realm_access" not in opened_json(browser, f"{site}/protected")["access"]


def test_the_enforcer_is_refused_as_at_psc(browser, site):
    """``keycloak.enforcer()`` asks the token endpoint for the UMA grant
    (``urn:ietf:params:oauth:grant-type:uma-ticket``); PSC's clients have no authorization
    services, and santeid answers as Keycloak does then (400 "Client does not support
    permissions"): the adapter's "Access denied"."""
    logged_in(browser, site)
    browser.get(f"{site}/enforced")
    wait_for(lambda: browser.find_element("tag name", "body").text == "Access denied")


def kid(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def test_the_adapter_follows_a_key_rotation(browser, server, site):
    """``santeid keys rotate`` while the service runs: the adapter, holding the certs it read
    at an earlier login, meets tokens with an unknown ``kid``, reads the certs again and
    verifies them with the new key (docs/keys.md, "Rotation"). The adapter reads the certs
    at most every 10 s (its ``min-time-between-jwks-requests``): a token of the new key that
    comes sooner is its "Access denied", as with Keycloak, and the login is tried again."""
    first_kid = kid(logged_in(browser, site)["id_token"])
    server.cli("keys", "rotate")
    # Every worker signs with the new key within reload_interval (5 s).
    deadline = time.monotonic() + 40
    while True:
        start_afresh(browser, server.base, site)
        browser.get(f"{site}/protected")
        identify(browser, PROFESSIONAL)
        wait_for(lambda: browser.current_url.split("?")[0] == f"{site}/protected")
        shown = browser.find_element("tag name", "body").text
        if shown != "Access denied" and kid(json.loads(shown)["id_token"]) != first_kid:
            break
        assert time.monotonic() < deadline, f"no token of the new key accepted within 40 s: {shown}"
        time.sleep(1)
    grant = json.loads(shown)
    assert grant["id"]["SubjectNameID"] == PROFESSIONAL
    assert kid(grant["access_token"]) == kid(grant["id_token"])
    # The bearer-only adapter has its own copy of the certs, and its own 10 s.
    while access_denied(answer := bearer(site, grant["access_token"])):
        assert time.monotonic() < deadline + 20, "the new key's token refused for 20 s"
        time.sleep(1)
    assert answer.status_code == 200 and answer.json()["sid"] == grant["id"]["sid"]


#: The access-token lifetime of the refresh tests' santeid, in seconds (Keycloak's "Access
#: Token Lifespan", which its ID tokens share): long enough for a login to reach the page with
#: its tokens unexpired, short enough to wait for them to expire.
SHORT_LIFETIME = 5


@pytest.fixture(scope="module")
def short_lived_server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("keycloak-connect-short"),
        SANTEID_STORE_URL="memory://",
        SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
    ) as process:
        yield process


@pytest.fixture(scope="module")
def short_lived_site(short_lived_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("keycloak-connect-short-log")
    with adapter_service(short_lived_server, folder, "keycloak-connect-short") as origin:
        yield origin


@pytest.fixture
def driver(chromium, short_lived_server, short_lived_site):
    """The module's Chromium started afresh at the short-lived santeid and its service."""
    start_afresh(chromium, short_lived_server.base, short_lived_site)
    return chromium


def until_expired(token_claims: dict) -> None:
    """Wait until the adapter takes the token of ``token_claims`` for expired (``exp`` in
    milliseconds before ``Date.now()``)."""
    time.sleep(max(0.0, token_claims["exp"] + 1 - time.time()))


def test_an_expired_access_token_is_refreshed_by_the_adapter(driver, short_lived_site):
    """Once the access token has expired, the adapter refreshes the grant before the page
    (``ensureFreshness``: the refresh-token grant, Basic and ``client_id``), validates the new
    access and ID tokens and stores them: the page answers at once, with no trip to santeid
    (the service's session alone, outside the browser). The refreshed grant's ID token is then
    the adapter's ``id_token_hint`` at logout, which santeid accepts without a
    confirmation."""
    first = logged_in(driver, short_lived_site)
    service = requests.Session()
    service.cookies.update(session_cookie(driver))
    until_expired(first["access"])
    answer = service.get(f"{short_lived_site}/protected", allow_redirects=False, timeout=10)
    assert answer.status_code == 200, answer.headers.get("Location")
    refreshed = answer.json()
    assert refreshed["access"]["jti"] != first["access"]["jti"]
    assert refreshed["access"]["exp"] > first["access"]["exp"]
    assert refreshed["id"]["typ"] == "ID"
    for grant in (first, refreshed):  # the ID token lives as long as its access token
        assert grant["id"]["exp"] == grant["access"]["exp"]
    assert refreshed["id"]["sid"] == first["id"]["sid"]
    assert refreshed["id"]["SubjectNameID"] == PROFESSIONAL
    # The browser's session holds the refreshed grant.
    kept = opened_json(driver, f"{short_lived_site}/protected")
    assert kept["id_token"] == refreshed["id_token"]
    driver.get(f"{short_lived_site}/logout")
    assert shown_json(driver, f"{short_lived_site}/") == {"loggedIn": False, "tokens": None}


def test_the_bearer_only_api_refuses_an_expired_token(driver, short_lived_site):
    """The access token of a real login is accepted until its ``exp``, then the adapter's 403
    "Access denied"."""
    grant = logged_in(driver, short_lived_site)
    assert bearer(short_lived_site, grant["access_token"]).status_code == 200
    until_expired(grant["access"])
    assert access_denied(bearer(short_lived_site, grant["access_token"]))


def test_a_refresh_after_a_logout_at_santeid_sends_to_the_login(
    driver, short_lived_server, short_lived_site
):
    """The professional logged out at santeid since the login: once the access token has
    expired, the adapter's refresh gets Keycloak's 400 ``invalid_grant`` "Session not
    active"; it drops the grant and ``keycloak.protect()`` sends the browser to the
    authorization endpoint again."""
    grant = logged_in(driver, short_lived_site)
    service = requests.Session()
    service.cookies.update(session_cookie(driver))
    driver.get(f"{short_lived_server.oidc}/logout")
    confirm_logout(driver)
    until_expired(grant["access"])
    answer = service.get(f"{short_lived_site}/protected", allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"{short_lived_server.oidc}/auth?")

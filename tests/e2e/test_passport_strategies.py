"""An Express service logging professionals in with two Passport strategies
(https://www.passportjs.org/), pointed at a real ``santeid serve`` by its base URL alone and
driven in headless Chromium through the sandbox's login page:

- passport-openidconnect 0.1.2 (https://github.com/jaredhanson/passport-openidconnect), the
  provider's endpoints written out as its README says (``issuer``, ``authorizationURL`` PSC's
  wallet URL, ``tokenURL``, ``userInfoURL``, ``clientID``, ``clientSecret``,
  ``callbackURL``), with PSC's ``scope_all`` (the strategy puts ``openid`` first),
  ``acrValues: "eidas1"`` and ``nonce: true``;
- passport-keycloak-oauth2-oidc 1.0.5
  (https://github.com/louie007/passport-keycloak-oauth2-oidc), written for Keycloak: ``realm``
  and ``authServerURL`` (the base under which Keycloak serves ``/realms/…``), from which it
  builds the authorization, token and userinfo URLs itself, ``publicClient: "false"``,
  ``clientSecret``, ``sslRequired``.

The service is ``tests/e2e/passport/login.js``; its locked dependencies are installed with
``npm ci`` into its git-ignored ``node_modules`` the first time; ``.ci/run`` installs Debian's
nodejs and npm. It listens on ``localhost`` (another site than santeid's ``127.0.0.1``).

Both strategies exchange the code on the back channel with the secret in the form body (the
``oauth`` package's way; the client is registered for ``client_secret_basic``, and santeid, as
Keycloak, accepts the secret either way). passport-openidconnect checks ``state`` (in the
session), the ID token's ``iss``, ``aud``, ``azp``, ``exp`` and ``nonce`` — but not its
signature — and ignores RFC 9207's ``iss`` parameter; the Keycloak strategy sends no
``state`` (passport-oauth2's default) and reads only userinfo."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import opened_json
from tests.support.browser import shown_json
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.http_login import login_from_service
from tests.support.node import NODE
from tests.support.node import install_locked
from tests.support.node import needs_node_20
from tests.support.node import needs_node_and_npm
from tests.support.oidc_flow import KEYCLOAK_TOKEN_MEMBERS
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "passport"

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_node_and_npm, needs_node_20]

CLIENT_ID = "passport-service"
SECRET = "a-long-secret-for-the-passport-service-0001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The callbacks of login.js, one per strategy instance, and the route that starts each login.
LOGINS = {
    "openidconnect": ("/login", "/callback"),
    "openidconnect-userinfo": ("/userinfo-login", "/userinfo-callback"),
    "keycloak": ("/keycloak/login", "/keycloak/callback"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("passport"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def passport_service(server, folder: Path, client_id: str, secret: str = SECRET):
    """The service, registered at santeid as an operator registers it (its three callbacks),
    then started with santeid's origin and issuer and the client secret ``secret``; its
    origin."""
    assert NODE is not None  # needs_node_and_npm
    install_locked(APP_DIR, "passport-openidconnect")
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[f"{origin}{callback}" for _, callback in LOGINS.values()],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    env = {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": origin,
        "ORIGIN": server.base,
        "ISSUER": server.issuer,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "APP_SECRET": "a-long-secret-for-the-passport-session-cookie",
    }
    with running_server(
        [NODE, str(APP_DIR / "login.js")],
        env,
        folder / f"{client_id}.log",
        f"http://127.0.0.1:{port}/health",
    ):
        yield origin


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    with passport_service(server, tmp_path_factory.mktemp("passport-log"), CLIENT_ID) as origin:
        yield origin


def logged_in(browser, site: str, strategy: str) -> dict:
    """The strategy's login route, santeid's login page, the professional's identifier (the
    sandbox phone approves): the user the strategy's verify function was given."""
    browser.get(site + LOGINS[strategy][0])
    identify(browser, PROFESSIONAL)
    return shown_json(browser, f"{site}/me")["user"]


def test_the_readme_verify_gets_the_profile_of_the_id_token(browser, server, site):
    """``verify(issuer, profile, cb)``: the strategy reads no userinfo and builds the profile
    from the ID token's ``sub``, ``preferred_username``, ``family_name`` and ``given_name``
    (PSC's ID token has no ``name`` nor ``email``, so no ``displayName`` nor ``emails``)."""
    user = logged_in(browser, site, "openidconnect")
    assert user["issuer"] == server.issuer
    profile = user["profile"]
    assert profile["id"].endswith(f":{PROFESSIONAL}")
    assert profile == {
        "id": profile["id"],
        "username": PROFESSIONAL,
        "name": {"familyName": "ARNAUD", "givenName": "CLEMENT"},
    }


def test_the_nine_argument_verify_gets_userinfo_too(browser, server, site):
    """The nine-argument ``verify``: the strategy reads userinfo with the access token and
    hands both profiles over — userinfo's raw JSON carries PSC's claims (``SubjectNameID``,
    ``SubjectRefPro``…) — with the context of the ID token (``acr``, ``auth_time``) and the
    token answer (Keycloak's members, the refresh token taken out by the library)."""
    user = logged_in(browser, site, "openidconnect-userinfo")
    assert user["issuer"] == server.issuer
    userinfo, id_profile = user["uiProfile"], user["idProfile"]
    assert userinfo["id"] == id_profile["id"] and userinfo["username"] == PROFESSIONAL
    assert userinfo["_json"]["SubjectNameID"] == PROFESSIONAL
    assert userinfo["_json"]["SubjectRefPro"]["exercices"]
    names = {"familyName": "ARNAUD", "givenName": "CLEMENT"}
    assert userinfo["name"] == id_profile["name"] == names
    assert user["context"]["class"] == "eidas1" and user["context"]["timestamp"]
    assert user["hasIdToken"] and user["hasAccessToken"] and user["hasRefreshToken"]
    assert user["tokenResponse"] == [m for m in KEYCLOAK_TOKEN_MEMBERS if m != "refresh_token"]


def test_the_keycloak_strategy_reads_its_profile_from_userinfo(browser, site):
    """The Keycloak strategy builds its URLs from ``authServerURL`` and ``realm`` and its
    profile from userinfo: ``id`` the ``sub``, ``username`` ``preferred_username``, and
    ``email``, ``name``, ``email_verified``, ``roles`` empty, as for a Keycloak user without
    them (PSC releases none). Its ``given_name`` is userinfo's ``family_name``: the strategy
    assigns ``given_name`` twice, the second time from ``family_name``."""
    user = logged_in(browser, site, "keycloak")
    profile = user["profile"]
    assert user["hasAccessToken"] and user["hasRefreshToken"]
    assert profile["_json"]["SubjectNameID"] == PROFESSIONAL
    assert profile["_json"]["SubjectRefPro"]["exercices"]
    assert profile == {
        "realm": "esante-wallet",
        "provider": "keycloak",
        "id": profile["_json"]["sub"],
        "username": PROFESSIONAL,
        "email": "",
        "name": "",
        "given_name": "ARNAUD",
        "email_verified": "",
        "roles": "",
        "_json": profile["_json"],
    }


def http_callback(site: str, strategy: str, **changes: str) -> requests.Response:
    """Over plain HTTP, a browser (a ``requests`` session keeping the service's cookie) starts
    the strategy's login, with ``changes`` made to the authorization URL's query, logs in at
    santeid and brings the callback back to the service: the service's answer (redirects
    followed)."""
    http = requests.Session()
    http.trust_env = False
    start, callback = LOGINS[strategy]
    returned = login_from_service(http, site + start, site + callback, PROFESSIONAL, **changes)
    return http.get(returned, timeout=10)


def test_the_authorization_request_carries_psc_parameters(site):
    """What the strategies send to PSC's wallet URL (passport-openidconnect) and to Keycloak's
    authorization path under ``authServerURL`` (the Keycloak strategy): the code flow, PSC's
    scopes, ``acr_values``; passport-openidconnect's ``state`` and ``nonce``, no ``state`` from
    the Keycloak strategy. Neither sends PKCE, which neither Keycloak nor santeid require of a
    confidential client."""
    sent = {}
    for strategy, (start, _) in LOGINS.items():
        answer = requests.get(site + start, allow_redirects=False, timeout=10)
        url = urlsplit(answer.headers["Location"])
        sent[strategy] = (url.path, {k: v[0] for k, v in parse_qs(url.query).items()})
    path, query = sent["openidconnect"]
    assert path == "/auth"
    assert {k: query[k] for k in ("response_type", "scope", "acr_values", "client_id")} == {
        "response_type": "code",
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "client_id": CLIENT_ID,
    }
    assert query["state"] and query["nonce"] and "code_challenge" not in query
    path, query = sent["keycloak"]
    assert path == "/auth/realms/esante-wallet/protocol/openid-connect/auth"
    assert query["scope"] == "openid scope_all" and query["acr_values"] == "eidas1"
    assert "state" not in query and "nonce" not in query and "code_challenge" not in query


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state": "another-state"}, "Invalid authorization request state."),
        ({"nonce": "another-nonce"}, "ID token contains invalid nonce."),
    ],
    ids=["state", "nonce"],
)
def test_passport_openidconnect_checks_state_and_nonce(site, changes, message):
    """The authorization request's ``state`` or ``nonce`` changed on its way to santeid:
    santeid returns them as it received them, in the callback and in the ID token, and the
    strategy refuses the login with its own message (``failureMessage``), before or after the
    code exchange. Unchanged, the same login succeeds."""
    answer = http_callback(site, "openidconnect", **changes)
    assert answer.json() == {"failed": True, "messages": [message]}
    user = http_callback(site, "openidconnect").json()["user"]
    assert user["profile"]["username"] == PROFESSIONAL


def test_a_login_refused_on_the_phone_is_a_failure_without_a_message(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's "refused" page:
    the callback gets ``access_denied`` without ``error_description``, as from Keycloak
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"). Both strategies take it
    for a failure (``fail``) whose message is that description: the service's failure page,
    with no message kept."""
    for strategy in ("openidconnect", "keycloak"):
        start_afresh(browser, site)
        browser.get(site + LOGINS[strategy][0])
        identify(browser, DENYING)
        wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
        browser.find_element("id", "cancel").click()
        assert shown_json(browser, f"{site}/failed") == {"failed": True, "messages": []}
        assert opened_json(browser, f"{site}/me") == {"user": None}


def test_a_wrong_client_secret_is_the_strategies_token_error(server, tmp_path):
    """A service started with a wrong client secret: santeid answers the code exchange with
    Keycloak's 401 ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/psc-integration.md §5.1), which both strategies parse into a ``TokenError`` carrying
    santeid's error and description; the service's error page shows it."""
    with passport_service(server, tmp_path, "passport-wrong-secret", "not-the-secret") as origin:
        for strategy in ("openidconnect", "keycloak"):
            answer = http_callback(origin, strategy)
            assert answer.status_code == 500
            assert answer.json() == {
                "status": 500,
                "name": "TokenError",
                "code": "unauthorized_client",
                "message": "Invalid client or Invalid client credentials",
            }

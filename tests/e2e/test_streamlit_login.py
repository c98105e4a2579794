"""A Streamlit app logging professionals in with ``st.login`` (Streamlit 1.67,
https://docs.streamlit.io/develop/api-reference/user/st.login), pointed at a real ``santeid
serve``: ``.streamlit/secrets.toml``'s ``[auth]`` section as Streamlit's documentation writes
it (``redirect_uri`` the app's ``/oauth2callback``, ``cookie_secret``, ``expose_tokens``) and a
named provider, ``[auth.psc]``, with ``client_id``, ``client_secret``, ``server_metadata_url``
the realm's discovery document and ``client_kwargs`` PSC's ``scope`` and ``acr_values``.
Served by ``streamlit run`` in a process of its own on ``localhost`` (another site than
santeid's ``127.0.0.1``), driven in headless Chromium: Streamlit's page is a websocket
application, whose ``st.login()`` sends the browser to the app's ``/auth/login``.

The app is tests/support/streamlit_rp.py. Streamlit hands the login to Authlib's Starlette
client: the authorization request with ``state``, ``nonce``, PKCE S256 (the discovery document
lists it) and ``prompt=select_account`` (Streamlit's default); the code exchanged with
``client_secret_basic``; the ID token validated and its claims, not userinfo's, kept in a
signed cookie as ``st.user``. ``st.logout()`` sends the browser to the end-session endpoint
with ``client_id``, ``id_token_hint`` and the ``redirect_uri`` as ``post_logout_redirect_uri``.
A warning or an error Streamlit logs fails the test, unless the test expects it."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import jwt
import pytest

from tests.support.browser import desktop_browser
from tests.support.browser import identify
from tests.support.browser import requested_urls
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.python_rp import ROOT
from tests.support.python_rp import ServiceSite
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "streamlit-app"
SECRET = "a-long-secret-for-the-streamlit-app-000001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
APP = ROOT / "tests/support/streamlit_rp.py"
#: The access-token lifetime of the server whose tokens expire during a test: long enough for
#: a login and a first call on a busy test machine, short enough to wait out.
SHORT_LIFETIME = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("streamlit"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


def secrets_toml(origin: str, issuer: str) -> str:
    """``.streamlit/secrets.toml`` as Streamlit's documentation has an app's author write it,
        with PSC's parameters in ``client_kwargs`` (``[auth.psc]``); ``[auth.pscacr]``, PSC's
        ``acr_values`` as Authlib's registry's ``authorize_params`` instead; ``[auth.pscwallet]``,
        PSC's wallet discovery URL as ``server_metadata_url``;
        ``[auth.pscwallet]
    client_id = "{CLIENT_ID}"
    client_secret = "{SECRET}"
    server_metadata_url = "{issuer}/.well-known/wallet-openid-configuration"
    client_kwargs = {{ scope = "openid scope_all" }}

    [auth.pscdefaults]``, Streamlit's defaults (no ``client_kwargs``);
        ``[auth.pscwrongsecret]``, a wrong secret."""
    return f"""\
[auth]
redirect_uri = "{origin}/oauth2callback"
cookie_secret = "a-long-random-cookie-secret-for-the-streamlit-app"
expose_tokens = ["id", "access"]

[auth.psc]
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
client_kwargs = {{ scope = "openid scope_all", acr_values = "eidas1" }}

[auth.pscacr]
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
client_kwargs = {{ scope = "openid scope_all" }}
authorize_params = {{ acr_values = "eidas1" }}

[auth.pscwallet]
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
server_metadata_url = "{issuer}/.well-known/wallet-openid-configuration"
client_kwargs = {{ scope = "openid scope_all" }}

[auth.pscdefaults]
client_id = "{CLIENT_ID}"
client_secret = "{SECRET}"
server_metadata_url = "{issuer}/.well-known/openid-configuration"

[auth.pscwrongsecret]
client_id = "{CLIENT_ID}"
client_secret = "not-the-secret"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
client_kwargs = {{ scope = "openid scope_all" }}
"""


@contextlib.contextmanager
def streamlit_app(server, folder: Path) -> Iterator[tuple[str, Path]]:
    """The app, registered at ``server`` as an operator registers it (its redirect URI only:
    Keycloak's default post-logout URIs, ``+``, are the redirect URIs; PKCE required, which
    Keycloak's "PKCE method" setting requires), run by ``streamlit run`` in ``folder`` (its
    ``.streamlit/secrets.toml``): its origin and its log."""
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/oauth2callback"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
    )
    (folder / ".streamlit").mkdir(parents=True)
    (folder / ".streamlit/secrets.toml").write_text(secrets_toml(origin, server.issuer))
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        # Streamlit's log lines name no level by default.
        "--logger.messageFormat",
        "%(asctime)s %(levelname)s %(name)s: %(message)s",
    ]
    env = {**os.environ, "HOME": str(folder / "home")}
    log = folder / "app.log"
    # Streamlit reads .streamlit/secrets.toml in its working directory.
    health = f"http://127.0.0.1:{port}/_stcore/health"
    with running_server(command, env, log, health, cwd=folder):
        yield origin, log


@pytest.fixture(scope="module")
def service(server, tmp_path_factory):
    with streamlit_app(server, tmp_path_factory.mktemp("streamlit-app")) as service:
        yield service


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """The module's Chromium, its network log kept: the authorization request Streamlit sends
    is read from it."""
    driver = desktop_browser(tmp_path_factory.mktemp("streamlit-profile"), network_log=True)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, server, site):
    start_afresh(chromium, server.base, site)
    requested_urls(chromium)  # the previous test's
    return chromium


def requests_to(browser, endpoint: str) -> list[dict[str, str]]:
    """The query parameters of the requests the browser sent to ``endpoint`` since it was last
    asked (:func:`requested_urls`)."""
    return [
        dict(parse_qsl(urlsplit(url).query))
        for url in requested_urls(browser)
        if url.startswith(f"{endpoint}?")
    ]


def authorization_requests(browser, server) -> list[dict[str, str]]:
    """The parameters of the requests to the realm's authorization endpoint (Keycloak's path,
    which ``openid-configuration`` advertises) since the test began."""
    return requests_to(browser, f"{server.oidc}/auth")


@pytest.fixture
def site(service):
    """The app's origin; the app must log no warning nor error during the test unless the
    test took it (:meth:`ServiceSite.taken`)."""
    site = ServiceSite.from_end_of(*service)
    yield site
    logged = site.taken()
    assert not problems(logged), logged


def problems(logged: str) -> list[str]:
    """The lines of Streamlit's log that are warnings or errors (its format: ``<date> <time>
    <LEVEL> <logger>: <message>``) or tracebacks."""
    return [
        line
        for line in logged.splitlines()
        if " WARNING " in line or " ERROR " in line or line.startswith("Traceback")
    ]


def button(browser, key: str):
    """The Streamlit button of ``key`` once the page shows it (``st-key-<key>``)."""
    return wait_for(lambda: browser.find_element("css selector", f".st-key-{key} button"), what=key)


def shown(browser) -> dict:
    """What the logged-in page shows: the JSON of its code block."""
    code = wait_for(
        lambda: browser.find_element("css selector", "[data-testid='stCode'] code"),
        what="the logged-in page",
    )
    return json.loads(code.get_attribute("textContent"))


def log_in(browser, site: str, national_id: str = PROFESSIONAL, provider: str = "") -> dict:
    """The app's page, its login button (``st.login``), santeid's login page, the
    professional's identifier; back at the app: what it shows."""
    browser.get(f"{site}/?provider={provider}" if provider else f"{site}/")
    button(browser, "login").click()
    identify(browser, national_id)
    return shown(browser)


def test_the_authorization_request(browser, server, site):
    """What ``st.login("psc")`` sends: the code flow with ``state``, ``nonce``, PKCE S256 (the
    discovery document lists it) and Streamlit's ``prompt=select_account``; the scope of
    ``client_kwargs``. Its ``acr_values`` is not sent: Authlib takes from ``client_kwargs``
    only ``response_mode``, ``nonce``, ``prompt`` and ``login_hint`` into the request."""
    log_in(browser, site)
    [request] = authorization_requests(browser, server)
    assert request["response_type"] == "code" and request["client_id"] == CLIENT_ID
    assert request["redirect_uri"] == f"{site}/oauth2callback"
    assert request["scope"] == "openid scope_all"
    assert request["state"] and request["nonce"] and request["code_challenge"]
    assert request["code_challenge_method"] == "S256"
    assert request["prompt"] == "select_account"
    assert "acr_values" not in request


def test_authorize_params_sends_acr_values(browser, server, site):
    """``authorize_params``, a key of Authlib's registry that Streamlit hands over from a
    named provider's section, adds ``acr_values`` to the request."""
    assert log_in(browser, site, provider="pscacr")["user"]["acr"] == "eidas1"
    [request] = authorization_requests(browser, server)
    assert request["acr_values"] == "eidas1"


def test_psc_wallet_discovery_url(browser, server, site):
    """PSC's wallet discovery URL as ``server_metadata_url``, as PSC's documentation gives it:
    Authlib reads the document at that address and sends the browser to the wallet's
    authorization URL it advertises (``<issuer origin>/auth``); the same login."""
    me = log_in(browser, site, provider="pscwallet")
    assert me["user"]["iss"] == server.issuer and me["user"]["SubjectNameID"] == PROFESSIONAL
    [request] = requests_to(browser, f"{server.base}/auth")
    assert request["code_challenge_method"] == "S256" and request["client_id"] == CLIENT_ID


def test_streamlits_defaults_get_the_identity_only(browser, server, site):
    """With Streamlit's defaults (no ``client_kwargs``), the scope is ``openid email profile``:
    the login succeeds and ``st.user`` is the same (the ID token carries PSC's identity
    whatever the scope, docs/claims.md), but userinfo has no sectoral claims."""
    me = log_in(browser, site, provider="pscdefaults")
    [request] = authorization_requests(browser, server)
    assert request["scope"] == "openid email profile"
    assert me["user"]["SubjectNameID"] == PROFESSIONAL
    assert (me["user"]["given_name"], me["user"]["family_name"]) == ("CLEMENT", "ARNAUD")
    assert "email" not in me["user"]
    claims = me["userinfo"]["claims"]
    assert claims["SubjectNameID"] == PROFESSIONAL and "SubjectRefPro" not in claims


def test_st_user_holds_the_id_tokens_claims(browser, server, site):
    """``st.user`` after ``st.login("psc")``: the ID token's claims as Authlib validated them
    (``iss``, ``aud``, ``nonce``), PSC's identity among them (``SubjectNameID``,
    ``preferred_username``, ``given_name``, ``family_name``), ``is_logged_in``."""
    me = log_in(browser, site)
    user = me["user"]
    assert user["is_logged_in"] is True and user["provider"] == "psc"
    assert (user["iss"], user["aud"], user["azp"]) == (server.issuer, CLIENT_ID, CLIENT_ID)
    assert user["nonce"]
    assert user["SubjectNameID"] == user["preferred_username"] == PROFESSIONAL
    assert (user["given_name"], user["family_name"]) == ("CLEMENT", "ARNAUD")
    assert (user["acr"], user["authMode"]) == ("eidas1", "MOBILE")
    assert "SubjectRefPro" not in user


def test_psc_sends_no_email_which_st_user_does_not_have(browser, site):
    """PSC releases no ``email`` (docs/claims.md), nor a ``name``: ``st.user.email``, which
    Streamlit's examples read, raises ``AttributeError``; ``st.user.get("email")`` is
    ``None``."""
    me = log_in(browser, site)
    assert me["email"] == {
        "error": "AttributeError",
        "message": 'st.user has no attribute "email".',
    }
    assert "email" not in me["user"] and "name" not in me["user"]


def test_userinfo_with_the_exposed_access_token(browser, site):
    """The sectoral claims are in userinfo only, which Streamlit does not read: with
    ``expose_tokens``, the app calls userinfo with ``st.user.tokens["access"]``."""
    me = log_in(browser, site)
    assert me["tokens"] == ["access", "id"]
    assert me["userinfo"]["status"] == 200
    claims = me["userinfo"]["claims"]
    assert claims["sub"] == me["user"]["sub"]
    assert claims["SubjectRefPro"]["exercices"]


def streamlit_cookies(browser) -> dict[str, str]:
    """The cookies the browser holds for the app's site (``localhost``)."""
    return {c["name"]: c["value"] for c in browser.get_cookies()}


def test_select_account_comes_back_through_the_sso_session(browser, server, site):
    """Streamlit sends ``prompt=select_account`` unless told otherwise; santeid, as Keycloak,
    has no account chooser and takes the SSO session (Keycloak's
    ``OIDCLoginProtocol.requireReauthentication`` reads ``prompt=login`` only,
    docs/reference/keycloak-behaviour.md): a second login after the app forgot the
    professional comes back without santeid's login page, the same ``auth_time``."""
    first = log_in(browser, site)
    browser.delete_all_cookies()  # the app's site only: santeid's cookies are another site's
    browser.get(f"{site}/")
    button(browser, "login").click()
    again = shown(browser)
    assert again["user"]["sub"] == first["user"]["sub"]
    assert again["user"]["auth_time"] == first["user"]["auth_time"]


def test_st_logout_ends_the_session_at_santeid(browser, server, site):
    """``st.logout()``: the app's cookies deleted, the browser sent to the end-session endpoint
    with ``client_id``, ``id_token_hint`` and the ``redirect_uri`` as
    ``post_logout_redirect_uri`` (valid: Keycloak's default post-logout URIs are the redirect
    URIs). santeid ends the SSO session without a confirmation page (a hint of a known client,
    as at Keycloak) and sends the browser to ``/oauth2callback`` with no ``state`` (Streamlit
    sent none), which Streamlit logs as a stale callback before showing its page; the next
    login asks for the professional again."""
    id_token_claims = log_in(browser, site)["user"]
    requested_urls(browser)
    button(browser, "logout").click()
    button(browser, "login")
    assert not [name for name in streamlit_cookies(browser) if name.startswith("_streamlit_user")]
    logged = site.taken()
    assert "Missing provider for OAuth callback" in logged
    [logout] = requests_to(browser, f"{server.oidc}/logout")
    assert logout.keys() == {"client_id", "post_logout_redirect_uri", "id_token_hint"}
    assert logout["client_id"] == CLIENT_ID
    assert logout["post_logout_redirect_uri"] == f"{site}/oauth2callback"
    hint = jwt.decode(logout["id_token_hint"], options={"verify_signature": False})
    assert hint["sid"] == id_token_claims["sid"]
    button(browser, "login").click()
    identify(browser, PROFESSIONAL)
    assert shown(browser)["user"]["SubjectNameID"] == PROFESSIONAL


def test_a_login_refused_on_the_phone_leaves_the_professional_logged_out(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback has ``error=access_denied``, which Streamlit logs as an error and answers with its
    page, logged out."""
    browser.get(f"{site}/")
    button(browser, "login").click()
    identify(browser, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    button(browser, "login")
    logged = site.taken()
    assert "Error during authentication: access_denied" in logged, logged


def test_a_wrong_client_secret_leaves_the_professional_logged_out(browser, site):
    """A wrong ``client_secret``: Keycloak's 401 ``unauthorized_client`` at the token
    endpoint, which Authlib raises and Streamlit logs as a failed token exchange before showing
    its page, logged out."""
    log_in_wrong = f"{site}/?provider=pscwrongsecret"
    browser.get(log_in_wrong)
    button(browser, "login").click()
    identify(browser, PROFESSIONAL)
    button(browser, "login")
    logged = site.taken()
    assert "OAuth token exchange failed for provider 'pscwrongsecret'" in logged, logged
    assert "unauthorized_client" in logged, logged


@pytest.fixture(scope="module")
def short_lived_site(tmp_path_factory):
    """A server whose access tokens live :data:`SHORT_LIFETIME` seconds, and the app pointed at
    it: the app's origin, the server."""
    with (
        santeid_process(
            tmp_path_factory.mktemp("streamlit-short"),
            SANTEID_STORE_URL="memory://",
            SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
        ) as server,
        streamlit_app(server, tmp_path_factory.mktemp("streamlit-short-app")) as service,
    ):
        yield service[0], server


def test_st_user_outlives_the_tokens(chromium, short_lived_site):
    """Streamlit refreshes nothing: ``st.user`` lives as long as its cookie (30 days), the
    exposed access token as long as santeid made it (PSC's 120 s). Once it has expired the app's
    userinfo call is santeid's 401, as Keycloak's, while ``st.user`` still says logged in."""
    site, server = short_lived_site
    start_afresh(chromium, server.base, site)
    before = log_in(chromium, site)
    assert before["userinfo"]["status"] == 200

    def refused() -> dict | None:
        chromium.get(f"{site}/")
        me = shown(chromium)
        return me if me["userinfo"]["status"] == 401 else None

    after = wait_for(refused, timeout=SHORT_LIFETIME + 30, what="the access token's expiry")
    assert after["user"]["is_logged_in"] is True
    assert after["user"]["sub"] == before["user"]["sub"]

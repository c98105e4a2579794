"""A Django service logging professionals in with python-social-auth — social-auth-core 7 in
its Django app, social-auth-app-django 8
(https://python-social-auth.readthedocs.io/en/latest/configuration/django.html) — pointed at a
real ``santeid serve``, through two of its backends configured as their documentation says:

* ``KeycloakOAuth2`` (https://python-social-auth.readthedocs.io/en/latest/backends/keycloak.html):
  ``SOCIAL_AUTH_KEYCLOAK_KEY``, ``_SECRET``, ``_PUBLIC_KEY`` (the realm's ``public_key``, from
  ``GET {issuer}``), ``_AUTHORIZATION_URL`` and ``_ACCESS_TOKEN_URL`` (Keycloak's paths under
  the issuer), ``_ID_KEY`` ``preferred_username`` (the national identifier, as PSC
  recommends keying accounts), PSC's scope and ``acr_values``, ``_EXTRA_DATA`` the refresh
  token. The backend reads the user from
  the access token, decoded with the public key and checked for ``aud`` = the client id,
  which its documentation has Keycloak add with an audience mapper; PSC's access tokens
  have no ``aud`` (docs/reference/pro-sante-connect.md §6), so the login fails as it would at
  PSC. The same backend without the audience check (``keycloak-psc``, a subclass in
  tests/support/social_django_rp.py) logs in.
* ``OpenIdConnectAuth`` (https://python-social-auth.readthedocs.io/en/latest/backends/oidc.html):
  ``SOCIAL_AUTH_OIDC_OIDC_ENDPOINT`` the issuer (the backend reads its discovery document),
  ``_KEY``, ``_SECRET``, PKCE, ``_ACR_VALUES``, ``_SCOPE``. It validates the ID token (the
  JWKS, ``iss``, ``aud``, ``azp``, ``iat``, ``nonce``, ``at_hash``), reads userinfo, and on
  a refresh checks that the new ID token keeps ``iss``, ``sub``, ``aud``, ``auth_time`` and
  ``nonce`` (OpenID Connect Core §12.2).

Served by Django's threaded WSGI server in a process of its own on ``localhost`` (another site
than santeid's ``127.0.0.1``), driven in headless Chromium through the sandbox's login page.
A failed request or an error the service logs fails the test, unless the test expects it."""

from __future__ import annotations

import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import opened_json
from tests.support.browser import shown_json
from tests.support.browser import wait_for
from tests.support.python_rp import ServiceSite
from tests.support.python_rp import python_relying_party
from tests.support.redis_server import free_port
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "social-auth-service"
SECRET = "a-long-secret-for-the-social-auth-service-01"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
BACKENDS = ("keycloak", "keycloak-psc", "oidc")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("social-auth"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


def keycloak_settings(prefix: str, server) -> dict:
    """``KeycloakOAuth2``'s settings as its documentation lists them, for ``server``'s realm."""
    realm = requests.get(server.issuer, timeout=10).json()
    return {
        f"{prefix}_KEY": CLIENT_ID,
        f"{prefix}_SECRET": SECRET,
        f"{prefix}_PUBLIC_KEY": realm["public_key"],
        f"{prefix}_AUTHORIZATION_URL": f"{server.oidc}/auth",
        f"{prefix}_ACCESS_TOKEN_URL": f"{server.oidc}/token",
        f"{prefix}_ID_KEY": "preferred_username",
        f"{prefix}_SCOPE": ["openid", "scope_all"],
        f"{prefix}_AUTH_EXTRA_ARGUMENTS": {"acr_values": "eidas1"},
        # The backend keeps the access token and ``sub`` only; a service that refreshes
        # keeps the refresh token too.
        f"{prefix}_EXTRA_DATA": ["refresh_token"],
    }


@pytest.fixture(scope="module")
def service(server, tmp_path_factory):
    """The Django service, registered at santeid as an operator registers it, serving in a
    process of its own: its origin and its log."""
    folder = tmp_path_factory.mktemp("social-auth-service")
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/complete/{backend}/" for backend in BACKENDS],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    settings = {
        **keycloak_settings("SOCIAL_AUTH_KEYCLOAK", server),
        **keycloak_settings("SOCIAL_AUTH_KEYCLOAK_PSC", server),
        "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT": server.issuer,
        "SOCIAL_AUTH_OIDC_KEY": CLIENT_ID,
        "SOCIAL_AUTH_OIDC_SECRET": SECRET,
        "SOCIAL_AUTH_OIDC_USE_PKCE": True,
        "SOCIAL_AUTH_OIDC_SCOPE": ["scope_all"],
        "SOCIAL_AUTH_OIDC_ACR_VALUES": "eidas1",
    }
    config = {"port": port, "database": str(folder / "db.sqlite3"), "settings": settings}
    log = folder / "service.log"
    with python_relying_party("tests.support.social_django_rp", "SOCIAL_RP", config, log, "/me/"):
        yield origin, log


@pytest.fixture
def site(service):
    """The service's origin; what it logged during the test must hold no error (a failed
    request, a traceback), unless the test took it (:meth:`ServiceSite.taken`)."""
    site = ServiceSite.from_end_of(*service)
    yield site
    logged = site.taken()
    assert not site.failures(logged), logged


def log_in(browser, site: str, backend: str, landing: str = "/me/"):
    """The service's login button for ``backend`` (a form the library takes by POST),
    santeid's login page, the professional's identifier; what the service shows where it
    lands."""
    browser.get(f"{site}/")
    browser.find_element("id", f"login-{backend}").click()
    identify(browser, PROFESSIONAL)
    return shown_json(browser, f"{site}{landing}")


def test_the_keycloak_backend_refuses_psc_access_tokens_for_their_missing_audience(browser, site):
    """``KeycloakOAuth2`` decodes the access token with ``audience`` its client id: PSC's
    access tokens have no ``aud``, and PyJWT's ``MissingRequiredClaimError`` ends the login
    at the error URL, as it would at PSC, with the library's ``missing_claim`` message; no
    user is made."""
    failed = log_in(browser, site, "keycloak", landing="/failed/")
    assert failed == {
        "backend": "keycloak",
        "message": "The authentication response is missing a required field.",
    }
    assert opened_json(browser, f"{site}/me/")["user"] is None
    logged = site.taken()
    assert "code=missing_claim source=provider_response stage=token_validation" in logged
    assert 'Token is missing the "aud" claim' in logged


def test_the_keycloak_backend_without_audience_reads_the_access_token(browser, site):
    """Without the audience check, the backend logs the professional in from the access
    token's claims: the account's ``uid`` the national identifier (``ID_KEY``
    ``preferred_username``), the Django username the same; PSC's access tokens carry no
    names nor e-mail, so the user has none. ``refresh_token`` renews the stored tokens (the
    refresh token kept by ``EXTRA_DATA``)."""
    me = log_in(browser, site, "keycloak-psc")["user"]
    assert me["username"] == PROFESSIONAL
    assert (me["first_name"], me["last_name"], me["email"]) == ("", "", "")
    [account] = [a for a in me["accounts"] if a["provider"] == "keycloak-psc"]
    assert account["uid"] == PROFESSIONAL
    assert account["extra_data"]["sub"].endswith(f":{PROFESSIONAL}")
    refreshed = opened_json(browser, f"{site}/refresh/keycloak-psc/")
    before, after = refreshed["before"], refreshed["after"]
    assert before["access_token"] == account["extra_data"]["access_token"]
    assert after["access_token"] != before["access_token"]


def test_the_openid_connect_backend_logs_in_and_refreshes(browser, site):
    """``OpenIdConnectAuth``: the ID token validated, userinfo read (PSC's names), the
    account keyed on ``sub``; then ``refresh_token``, whose new ID token keeps the first
    one's ``iss``, ``sub``, ``aud``, ``auth_time`` and ``nonce``."""
    me = log_in(browser, site, "oidc")["user"]
    assert (me["first_name"], me["last_name"]) == ("CLEMENT", "ARNAUD")
    [account] = [a for a in me["accounts"] if a["provider"] == "oidc"]
    assert account["uid"].endswith(f":{PROFESSIONAL}")
    refreshed = opened_json(browser, f"{site}/refresh/oidc/")
    before, after = refreshed["before"], refreshed["after"]
    assert after["access_token"] != before["access_token"]
    assert after["id_token"] != before["id_token"]


def test_a_login_refused_on_the_phone_is_the_librarys_cancellation(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback has ``error=access_denied`` (no description, as from Keycloak), which the
    library raises as ``AuthCanceled`` and its middleware sends to the error URL."""
    browser.get(f"{site}/")
    browser.find_element("id", "login-oidc").click()
    identify(browser, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    failed = shown_json(browser, f"{site}/failed/")
    assert failed == {"backend": "oidc", "message": "Authentication process canceled"}
    assert opened_json(browser, f"{site}/me/")["user"] is None

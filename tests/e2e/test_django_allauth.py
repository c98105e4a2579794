"""A Django service logging professionals in with django-allauth 65
(https://docs.allauth.org/en/latest/socialaccount/providers/openid_connect.html), the most used
Django login library, through its generic ``openid_connect`` provider, pointed at a real
``santeid serve``: configured as its documentation says for a Keycloak server —
``SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]``, ``server_url`` the realm's issuer
(allauth adds ``/.well-known/openid-configuration``) or PSC's wallet discovery URL (read as
given), ``oauth_pkce_enabled``, ``token_auth_method`` ``client_secret_basic``, PSC's scope and
``acr_values`` — served by Django's threaded WSGI server in a process of its own on
``localhost`` (another site than santeid's ``127.0.0.1``), driven in headless Chromium through
the sandbox's login page.

The service is tests/support/allauth_rp.py. allauth exchanges the code with HTTP Basic and the
PKCE verifier, checks the ID token's ``iss``, ``aud`` and ``exp`` (its signature is not checked
when the token came straight from the token endpoint, as OpenID Connect Core §3.1.3.7 allows),
reads userinfo, and makes the Django user and its ``SocialAccount`` (``uid`` the ``sub``,
``extra_data`` userinfo and the ID token's claims). A failed request or an error the service
logs fails the test."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import shown_json
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.python_rp import ServiceSite
from tests.support.python_rp import python_relying_party
from tests.support.redis_server import free_port
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "allauth-service"
SECRET = "a-long-secret-for-the-allauth-service-00001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: allauth's provider ids (its ``APPS``): the realm's issuer as ``server_url``, PSC's wallet
#: discovery URL, and the same client with a wrong secret.
REALM_APP = "psc"
WALLET_APP = "psc-wallet"
WRONG_SECRET_APP = "psc-wrong-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("django-allauth"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


def app(provider_id: str, server_url: str, secret: str = SECRET) -> dict:
    """One of allauth's ``APPS``, as its documentation configures a Keycloak server, with
    PSC's scope and ``acr_values``."""
    return {
        "provider_id": provider_id,
        "name": "Pro Santé Connect",
        "client_id": CLIENT_ID,
        "secret": secret,
        "settings": {
            "server_url": server_url,
            "oauth_pkce_enabled": True,
            "token_auth_method": "client_secret_basic",
            "scope": ["openid", "scope_all"],
            "auth_params": {"acr_values": "eidas1"},
        },
    }


@pytest.fixture(scope="module")
def service(server, tmp_path_factory):
    """The Django service, registered at santeid as an operator registers it, serving in a
    process of its own: its origin and its log."""
    folder = tmp_path_factory.mktemp("django-allauth-service")
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[
            f"{origin}/accounts/oidc/{provider_id}/login/callback/"
            for provider_id in (REALM_APP, WALLET_APP, WRONG_SECRET_APP)
        ],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    config = {
        "port": port,
        "database": str(folder / "db.sqlite3"),
        "apps": [
            app(REALM_APP, server.issuer),
            app(WALLET_APP, f"{server.issuer}/.well-known/wallet-openid-configuration"),
            app(WRONG_SECRET_APP, server.issuer, secret="not-the-secret"),
        ],
    }
    log = folder / "service.log"
    with python_relying_party("tests.support.allauth_rp", "ALLAUTH_RP", config, log, "/me/"):
        yield origin, log


@pytest.fixture
def site(service):
    """The service's origin; what it logged during the test must hold no error (a failed
    request, 5xx, or a traceback: tests/support/allauth_rp.py logs them)."""
    site = ServiceSite.from_end_of(*service)
    yield site
    logged = site.taken()
    assert not site.failures(logged), logged


def log_in(browser, site: str, national_id: str, provider_id: str = REALM_APP) -> None:
    """The professional logs in to the service: allauth's login page for the provider and its
    Continue button (a POST), santeid's login page, the professional's identifier; the
    sandbox phone answers."""
    browser.get(f"{site}/accounts/oidc/{provider_id}/login/")
    wait_for(
        lambda: browser.find_element("css selector", "form[method=post] button[type=submit]"),
        what="allauth's login page",
    ).click()
    identify(browser, national_id)


def me(browser, site: str) -> dict:
    """The service's own page (tests/support/allauth_rp.py)."""
    browser.get(f"{site}/me/")
    return shown_json(browser, f"{site}/me/")


@pytest.mark.parametrize(
    ("provider_id", "national_id"),
    # Each its own professional: the same one through a second provider id would be a second
    # account, whose username allauth must then make up (the first one's is taken).
    [(REALM_APP, PROFESSIONAL), (WALLET_APP, "810000000021")],
)
def test_the_login_makes_the_user_and_the_social_account(
    browser, server, site, provider_id, national_id
):
    """The login creates the Django user (``username`` from ``preferred_username``, PSC's
    national identifier; the names) and the ``SocialAccount``: ``uid`` the ``sub``,
    ``extra_data`` userinfo with PSC's claims and the ID token's claims, ``acr`` ``eidas1``."""
    log_in(browser, site, national_id, provider_id)
    shown = shown_json(browser, f"{site}/me/")
    user = shown["user"]
    (account,) = user["accounts"]
    userinfo, id_token = account["extra_data"]["userinfo"], account["extra_data"]["id_token"]
    assert user["username"] == national_id == userinfo["SubjectNameID"]
    assert (user["first_name"], user["last_name"]) == (
        userinfo["given_name"],
        userinfo["family_name"],
    )
    assert account["provider"] == provider_id and account["uid"] == userinfo["sub"]
    assert userinfo["SubjectRefPro"]["exercices"]
    assert id_token["sub"] == userinfo["sub"] and id_token["acr"] == "eidas1"
    assert id_token["iss"] == server.issuer and id_token["aud"] == CLIENT_ID
    if national_id == PROFESSIONAL:
        assert (user["first_name"], user["last_name"]) == ("CLEMENT", "ARNAUD")


def test_a_second_login_of_the_same_professional_reuses_the_account(browser, server, site):
    """The professional logs in again from a browser that forgot both sites: allauth finds
    the ``SocialAccount`` by ``(provider, uid)`` and logs the same user in; nothing new is
    made."""
    log_in(browser, site, PROFESSIONAL)
    first = shown_json(browser, f"{site}/me/")
    start_afresh(browser, server.base)
    start_afresh(browser, site)
    assert me(browser, site)["user"] is None
    log_in(browser, site, PROFESSIONAL)
    second = shown_json(browser, f"{site}/me/")
    assert second["user"]["id"] == first["user"]["id"]
    assert second["user"]["accounts"][0]["uid"] == first["user"]["accounts"][0]["uid"]
    assert (second["users"], second["social_accounts"]) == (
        first["users"],
        first["social_accounts"],
    )


def test_a_login_refused_on_the_phone_is_allauths_cancelled_login(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback has ``error=access_denied``, as from Keycloak, which allauth tells apart from
    other errors as the user's cancellation (its ``login_cancelled_error``) and answers with
    its "Login Cancelled" page. Nobody is logged in, nothing is made."""
    before = me(browser, site)
    log_in(browser, site, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    wait_for(
        lambda: urlsplit(browser.current_url).path == "/accounts/3rdparty/login/cancelled/",
        what="allauth's cancelled page",
    )
    assert browser.find_element("tag name", "h1").text == "Login Cancelled"
    after = me(browser, site)
    assert after["user"] is None and after["users"] == before["users"]


def test_a_wrong_client_secret_is_allauths_authentication_error(browser, site):
    """The service's secret is wrong: santeid's token endpoint answers Keycloak's 401
    ``unauthorized_client``, which allauth's client raises as its ``OAuth2Error`` and shows
    as its authentication-error page. Nobody is logged in, nothing is made."""
    before = me(browser, site)
    log_in(browser, site, PROFESSIONAL, WRONG_SECRET_APP)
    wait_for(
        lambda: (
            urlsplit(browser.current_url).path
            == f"/accounts/oidc/{WRONG_SECRET_APP}/login/callback/"
        ),
        what="allauth's callback",
    )
    h1 = wait_for(lambda: browser.find_element("tag name", "h1"), what="the error page")
    assert h1.text == "Third-Party Login Failure"
    after = me(browser, site)
    assert after["user"] is None and after["users"] == before["users"]


def test_the_authorization_request_allauth_sends(server, site):
    """allauth's login page is a form posted with Django's CSRF token; the POST answers with
    the browser sent to the authorization endpoint of the discovery document with PSC's
    scope and ``acr_values``, ``state`` and a PKCE S256 challenge."""
    service = requests.Session()
    form = service.get(f"{site}/accounts/oidc/{WALLET_APP}/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token is not None, form
    sent = service.post(
        f"{site}/accounts/oidc/{WALLET_APP}/login/",
        data={"csrfmiddlewaretoken": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert sent.status_code == 302
    location = urlsplit(sent.headers["Location"])
    wallet = requests.get(
        f"{server.issuer}/.well-known/wallet-openid-configuration", timeout=10
    ).json()
    assert (
        f"{location.scheme}://{location.netloc}{location.path}"
        == (wallet["authorization_endpoint"])
    )
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    # allauth sends the scope's values in an order of its own.
    assert set(query["scope"].split()) == {"openid", "scope_all"}
    assert query["acr_values"] == "eidas1"
    assert query["redirect_uri"] == f"{site}/accounts/oidc/{WALLET_APP}/login/callback/"
    assert query["state"] and query["code_challenge_method"] == "S256"
    assert query["code_challenge"] and "nonce" not in query

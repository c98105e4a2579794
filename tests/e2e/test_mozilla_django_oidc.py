"""A Django service logging professionals in with mozilla-django-oidc 5
(https://mozilla-django-oidc.readthedocs.io/en/stable/), the OIDC library of French
public-sector Django services, pointed at a real ``santeid serve``: configured as its
documentation says for a Keycloak provider (``OIDC_OP_*`` endpoints from the realm's
discovery, ``OIDC_RP_SIGN_ALGO`` RS256 with ``OIDC_OP_JWKS_ENDPOINT``, PKCE, nonce), with PSC's
``OIDC_RP_SCOPES`` and ``acr_values``, served by Django's threaded WSGI server in this process
on ``localhost`` (another site than santeid's ``127.0.0.1``), driven in headless Chromium
through the sandbox's login page.

The service's code is tests/support/django_rp.py: a backend that makes the Django user from
PSC's claims (``SubjectNameID``), the provider logout URL. Covered: the login (the library
verifies the ID token against the JWKS and its nonce, reads userinfo), the ``SessionRefresh``
middleware's silent re-authentication (``prompt=none``) while santeid's SSO session lives and
its ``login_required`` once the professional logged out at santeid, as Keycloak answers
(docs/psc-integration.md §5.1), and RP-initiated logout through the end-session endpoint."""

from __future__ import annotations

import base64
import json
import logging
import threading
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import wait_for
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "django-service"
SECRET = "a-long-secret-for-the-django-service-0001"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
#: The name of the service's session cookie: santeid's cookies are on 127.0.0.1, the service
#: on localhost — another host, but the name says whose it is.
SESSION_COOKIE = "service_session"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("django-oidc"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    """The Django service, configured from the realm's discovery document as an integrator
    configures it, registered at santeid, serving in a thread; its origin."""
    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.core.servers.basehttp import WSGIRequestHandler

    listener = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    origin = f"http://localhost:{listener.server_address[1]}"
    server.register(
        CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/oidc/callback/"],
        post_logout_redirect_uris=[f"{origin}/logged-out/"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_post",
    )
    discovery = requests.get(
        f"{server.issuer}/.well-known/wallet-openid-configuration", timeout=10
    ).json()
    configure_django(tmp_path_factory.mktemp("django-db") / "db.sqlite3", discovery, origin)
    from django.core.wsgi import get_wsgi_application

    listener.set_app(get_wsgi_application())
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    yield origin
    listener.shutdown()
    listener.server_close()


def configure_django(database, discovery: dict, origin: str) -> None:
    """Django's settings in code, mozilla-django-oidc's as its documentation lists them, for
    a Keycloak provider; the database made (``migrate``)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    oidc = {
        "OIDC_RP_CLIENT_ID": CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": SECRET,
        # PSC's wallet authorization URL, from the wallet discovery document.
        "OIDC_OP_AUTHORIZATION_ENDPOINT": discovery["authorization_endpoint"],
        "OIDC_OP_TOKEN_ENDPOINT": discovery["token_endpoint"],
        "OIDC_OP_USER_ENDPOINT": discovery["userinfo_endpoint"],
        "OIDC_OP_JWKS_ENDPOINT": discovery["jwks_uri"],
        "OIDC_OP_LOGOUT_ENDPOINT": discovery["end_session_endpoint"],
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_RP_SCOPES": "openid scope_all",
        "OIDC_AUTH_REQUEST_EXTRA_PARAMS": {"acr_values": "eidas1"},
        "OIDC_USE_PKCE": True,
        "OIDC_USE_NONCE": True,
        "OIDC_STORE_ID_TOKEN": True,
        "OIDC_OP_LOGOUT_URL_METHOD": "tests.support.django_rp.provider_logout",
        "OIDC_CALLBACK_CLASS": "tests.support.django_rp.RecordingCallbackView",
        "OIDC_TIMEOUT": 10,
        # The browser's own fetch of the icon never starts a renewal of its own.
        "OIDC_EXEMPT_URLS": ["/favicon.ico"],
        "ALLOW_LOGOUT_GET_METHOD": True,
        "LOGIN_REDIRECT_URL": "/me/",
        "LOGIN_REDIRECT_URL_FAILURE": "/failed/",
        "LOGOUT_REDIRECT_URL": "/logged-out/",
    }
    if settings.configured:  # a second run of the fixture in this process
        for name, value in oidc.items():
            setattr(settings, name, value)
        return
    settings.configure(
        SECRET_KEY="a-test-secret-key-for-the-django-service",
        ALLOWED_HOSTS=["localhost"],
        ROOT_URLCONF="tests.support.django_rp",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "mozilla_django_oidc",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "mozilla_django_oidc.middleware.SessionRefresh",
        ],
        AUTHENTICATION_BACKENDS=["tests.support.django_rp.ProSanteConnectBackend"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        USE_TZ=True,
        **oidc,
    )
    django.setup()
    call_command("migrate", verbosity=0)


@pytest.fixture(autouse=True)
def library_warnings(caplog):
    """Every warning the library logs (a refused token answer, claims it could not use, a
    user it could not make) fails the test: the service runs in this process's threads."""
    caplog.set_level(logging.WARNING, logger="mozilla_django_oidc")
    yield
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("mozilla_django_oidc")]
    assert not logged, logged


@pytest.fixture
def browser(browser):
    """tests/e2e/conftest.py's, with no callback of a previous test recorded."""
    from tests.support import django_rp

    django_rp.CALLBACKS.clear()
    return browser


def on(browser, url: str) -> str:
    """Wait until the browser is at ``url`` (its query aside)."""
    return wait_for(
        lambda: browser.current_url if browser.current_url.split("?")[0] == url else "",
        what=url,
    )


def logged_in_as(browser, site: str) -> dict | None:
    """The service's own page: who it says is logged in."""
    browser.get(f"{site}/me/")
    on(browser, f"{site}/me/")
    return json.loads(browser.find_element("tag name", "body").text)


def log_in(browser, site: str) -> None:
    """The professional logs in to the service: the library's login URL, santeid's login page,
    back to the service's page."""
    browser.get(f"{site}/oidc/authenticate/?next=/me/")
    identify(browser, PROFESSIONAL)
    on(browser, f"{site}/me/")


def session_store(browser):
    """The service's Django session of this browser, whatever page it shows (the Chrome
    DevTools Protocol's ``Network.getAllCookies``: WebDriver's cookies are the page's)."""
    from django.contrib.sessions.backends.db import SessionStore

    cookies = browser.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    (key,) = [c["value"] for c in cookies if c["name"] == SESSION_COOKIE]
    return SessionStore(key)


def session(browser) -> dict:
    return dict(session_store(browser).load())


def renewal_due(browser) -> None:
    """The time ``SessionRefresh`` waits before checking the login again
    (``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS``) has passed."""
    store = session_store(browser)
    store["oidc_id_token_expiration"] = 0
    store.save()


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_login_makes_the_django_user_from_psc_claims(browser, server, site):
    from django.contrib.auth import get_user_model

    from tests.support import django_rp

    log_in(browser, site)
    assert logged_in_as(browser, site) == {
        "username": PROFESSIONAL,
        "first_name": "CLEMENT",
        "last_name": "ARNAUD",
    }
    assert get_user_model().objects.filter(username=PROFESSIONAL).count() == 1
    # What the library sent and verified: the code came back with the state it made, the ID
    # token it checked (signature against the JWKS, nonce) has PSC's claims and acr.
    (callback,) = django_rp.CALLBACKS
    assert callback["iss"] == server.issuer and callback["code"]
    id_token = claims(session(browser)["oidc_id_token"])
    assert id_token["acr"] == "eidas1" and id_token["nonce"]
    assert id_token["aud"] == CLIENT_ID and id_token["SubjectNameID"] == PROFESSIONAL


def test_silent_renewal_while_the_sso_session_lives(browser, site):
    """``SessionRefresh``: past the renewal time, a GET of the service goes to santeid with
    ``prompt=none``, which answers a code at once from the SSO session; the user stays."""
    from tests.support import django_rp

    log_in(browser, site)
    first = session(browser)["oidc_id_token"]
    renewal_due(browser)
    assert logged_in_as(browser, site)["username"] == PROFESSIONAL
    assert [sorted(c) for c in django_rp.CALLBACKS] == [
        ["code", "iss", "session_state", "state"]
    ] * 2
    renewed = session(browser)["oidc_id_token"]
    assert renewed != first
    assert claims(renewed)["sid"] == claims(first)["sid"]
    assert claims(renewed)["auth_time"] == claims(first)["auth_time"]


def test_silent_renewal_after_a_logout_at_santeid_is_login_required(browser, server, site):
    """The professional logged out at santeid (its logout page, confirmed): the next silent
    renewal gets ``login_required``, as from Keycloak, and the library logs the Django user
    out."""
    from tests.support import django_rp

    log_in(browser, site)
    browser.get(f"{server.oidc}/logout")
    wait_for(lambda: browser.find_element("id", "confirm-logout"), what="the confirmation").click()
    wait_for(lambda: browser.find_element("css selector", "[role=status]"), what="logged out")
    renewal_due(browser)
    browser.get(f"{site}/me/")
    on(browser, f"{site}/failed/")
    refused = django_rp.CALLBACKS[-1]
    assert refused["error"] == "login_required" and refused["iss"] == server.issuer
    assert logged_in_as(browser, site) is None


def test_rp_initiated_logout_through_the_end_session_endpoint(browser, server, site):
    """The library's logout view sends the browser to santeid's end-session endpoint with the
    ID token as ``id_token_hint``: the session ends without a confirmation page, and the
    browser comes back to the service, logged out there too."""
    log_in(browser, site)
    browser.get(f"{site}/oidc/logout/")
    on(browser, f"{site}/logged-out/")
    assert logged_in_as(browser, site) is None
    # No SSO session left at santeid: a new login asks for the professional again.
    browser.get(f"{site}/oidc/authenticate/")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert urlsplit(browser.current_url).netloc == urlsplit(server.base).netloc
    assert "tx" in parse_qs(urlsplit(browser.current_url).query)

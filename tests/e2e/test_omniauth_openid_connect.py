"""A Ruby service logging professionals in with OmniAuth's OpenID Connect strategy
(omniauth_openid_connect 0.10, GitLab's fork as Debian 12 packages it,
https://gitlab.com/gitlab-org/gitlab-omniauth-openid-connect: the strategy GitLab and
Discourse use, on the openid_connect and rack-oauth2 gems), pointed at a real ``santeid serve``
over HTTPS, as PSC is, and driven in headless Chromium through the sandbox's login page.

The service is ``tests/e2e/omniauth_openid_connect/app.rb``, a plain Rack application served by
WEBrick, configured as the strategy's README says for a provider with discovery: ``issuer`` the
realm, ``discovery: true`` (the strategy reads ``{issuer}/.well-known/openid-configuration`` and
checks its ``issuer``), ``client_options`` from santeid's base URL alone (scheme, host, port)
with the client's identifier, secret and callback, ``scope`` ``[:openid, :scope_all]``,
``acr_values`` ``eidas1``, ``response_type`` ``:code``, ``client_auth_method`` ``:basic``.
Everything comes from Debian's packages (``ruby-omniauth-openid-connect``, ``ruby-rack``,
``ruby-rack-protection``, ``ruby-webrick``), which ``.ci/run`` installs; Ruby's HTTP client
trusts santeid's development authority through ``SSL_CERT_FILE``.

The strategy checks ``state``, then sends the code (with the scope) to the token endpoint
with HTTP Basic, verifies the ID token (signature against the discovered JWKS, ``iss``,
``aud``, ``exp``, ``nonce``) and reads userinfo, merged with the ID token's claims into the
auth hash's ``extra.raw_info``. Anything it cannot use surfaces as the service's error page,
which fails the test."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.browser import desktop_browser
from tests.support.browser import identify
from tests.support.browser import shown_json
from tests.support.browser import start_afresh
from tests.support.browser import wait_for
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

APP = Path(__file__).resolve().parent / "omniauth_openid_connect" / "app.rb"
RUBY = shutil.which("ruby")
#: What the service requires, each from a Debian package.
LIBRARIES = ("omniauth_openid_connect", "rack/handler/webrick", "rack/protection")


def ruby_libraries_missing() -> str:
    """Why the service cannot run here ('' when it can)."""
    if RUBY is None:
        return "ruby"
    script = "; ".join(f"require {name!r}" for name in LIBRARIES)
    done = subprocess.run(
        [RUBY, "-e", script], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stderr.strip().splitlines()[0] if done.returncode else ""


MISSING = ruby_libraries_missing()

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{MISSING}: apt-get install ruby-omniauth-openid-connect ruby-rack "
        "ruby-rack-protection ruby-webrick "
        "(.ci/run installs them)",
    ),
]

CLIENT_ID = "omniauth-service"
SECRET = "a-long-secret-for-the-omniauth-service-0001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``santeid serve`` over HTTPS with a development certificate, as PSC answers."""
    home = tmp_path_factory.mktemp("omniauth-oidc")
    tls, ca = santeid_home(home).dev_tls()
    settings = {"SANTEID_STORE_URL": "memory://"}
    with santeid_process(home, args=["--sandbox", *tls], ca=ca, **settings) as process:
        assert process.issuer.startswith("https://")
        yield process


@contextlib.contextmanager
def rack_service(server, folder: Path, client_id: str, secret: str = SECRET):
    """The Rack service, registered at santeid as an operator registers it, then started with
    ``secret`` as its client secret; its origin."""
    assert RUBY is not None  # MISSING says why not
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/auth/openid_connect/callback"],
        post_logout_redirect_uris=[f"{origin}/logged-out"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    scheme, _, authority = server.base.partition("://")
    host, _, provider_port = authority.partition(":")
    env = {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": origin,
        "ISSUER": server.issuer,
        "PROVIDER_SCHEME": scheme,
        "PROVIDER_HOST": host,
        "PROVIDER_PORT": provider_port,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "APP_SECRET": "a-long-secret-for-the-rack-session-cookie-" + "0" * 32,
        "SSL_CERT_FILE": server.ca,
    }
    log = folder / f"{client_id}.log"
    with running_server([RUBY, str(APP)], env, log, f"http://127.0.0.1:{port}/logged-out"):
        yield origin


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    with rack_service(server, tmp_path_factory.mktemp("omniauth-log"), CLIENT_ID) as origin:
        yield origin


@pytest.fixture(scope="module")
def chromium(server, tmp_path_factory):
    driver = desktop_browser(
        tmp_path_factory.mktemp("omniauth-profile"), server.home / "tls" / "cert.pem"
    )
    yield driver
    driver.quit()


def log_in(browser, site: str, national_id: str) -> None:
    """The service's login button (OmniAuth's request phase, a POST), santeid's login page,
    the professional's identifier; the sandbox phone answers."""
    browser.get(f"{site}/")
    wait_for(lambda: browser.find_element("id", "login"), what="the service's page").click()
    identify(browser, national_id)


def test_the_auth_hash_carries_psc_claims(browser, server, site):
    """The strategy's auth hash: ``uid`` the ``sub``, ``info`` from the standard claims
    (PSC releases names, no e-mail), ``credentials`` the tokens, ``extra.raw_info`` userinfo
    merged with the ID token's claims — PSC's among them."""
    log_in(browser, site, PROFESSIONAL)
    auth = shown_json(browser, f"{site}/auth/openid_connect/callback")
    raw = auth["extra"]["raw_info"]
    assert auth["provider"] == "openid_connect" and auth["uid"] == raw["sub"]
    assert auth["info"]["first_name"] == "CLEMENT" and auth["info"]["last_name"] == "ARNAUD"
    assert raw["SubjectNameID"] == PROFESSIONAL and raw["SubjectRefPro"]["exercices"]
    assert raw["acr"] == "eidas1" and raw["iss"] == server.issuer and raw["aud"] == CLIENT_ID
    assert raw["nonce"]
    credentials = auth["credentials"]
    assert credentials["token"] and credentials["id_token"] and credentials["refresh_token"]
    assert credentials["scope"] == "openid scope_all" and credentials["expires_in"] == 120
    # The access token the strategy got works at the userinfo endpoint.
    userinfo = requests.get(
        f"{server.oidc}/userinfo",
        headers={"Authorization": f"Bearer {credentials['token']}"},
        timeout=10,
        verify=server.ca,
    )
    assert userinfo.json()["SubjectNameID"] == PROFESSIONAL


def test_a_login_refused_on_the_phone_is_the_strategys_failure(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback has ``error=access_denied`` and, as from Keycloak, no ``error_description``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"), which the strategy
    reports as its failure (``fail!``) with santeid's error."""
    log_in(browser, site, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    failure = shown_json(browser, f"{site}/auth/openid_connect/callback")
    assert failure == {
        "type": "access_denied",
        "exception": "OmniAuth::Strategies::OpenIDConnect::CallbackError",
        "message": "access_denied",
        "error_reason": None,
    }


def test_the_authorization_request_the_strategy_sends(server, site):
    """OmniAuth 2's request phase is a POST with rack-protection's authenticity token; the
    strategy answers it with the browser sent to the discovered authorization endpoint with
    PSC's parameters, ``state`` and ``nonce``. Debian's 0.10 has no ``pkce`` option (it came
    in later releases): the request has no ``code_challenge``, which santeid, as Keycloak,
    does not require of a confidential client."""
    service = requests.Session()
    form = service.get(f"{site}/", timeout=10).text
    token = re.search(r'name="authenticity_token" value="([^"]+)"', form)
    assert token is not None, form
    sent = service.post(
        f"{site}/auth/openid_connect",
        data={"authenticity_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert sent.status_code == 302
    location = urlsplit(sent.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{server.oidc}/auth"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["scope"] == "openid scope_all" and query["acr_values"] == "eidas1"
    assert query["redirect_uri"] == f"{site}/auth/openid_connect/callback"
    assert query["state"] and query["nonce"] and "code_challenge" not in query


def test_the_strategys_logout_route_sends_no_id_token_hint(browser, server, site):
    """The strategy's ``/auth/openid_connect/logout`` sends the browser to the discovered
    end-session endpoint with ``post_logout_redirect_uri`` alone: Keycloak refuses that with a
    400 error page, "Missing parameters: id_token_hint", and so does santeid
    (docs/reference/keycloak-behaviour.md, "Logout"). A service builds the URL itself with the
    ID token of the auth hash's ``credentials`` as ``id_token_hint``: the session ends without
    a confirmation page and the browser comes back to the service."""
    log_in(browser, site, PROFESSIONAL)
    id_token = shown_json(browser, f"{site}/auth/openid_connect/callback")["credentials"][
        "id_token"
    ]

    browser.get(f"{site}/auth/openid_connect/logout")
    wait_for(lambda: browser.current_url.startswith(f"{server.oidc}/logout"), what="santeid")
    query = parse_qs(urlsplit(browser.current_url).query)
    assert query == {"post_logout_redirect_uri": [f"{site}/logged-out"]}
    assert "Paramètres manquants : id_token_hint" in browser.find_element("tag name", "body").text

    hinted = {"id_token_hint": id_token, "post_logout_redirect_uri": f"{site}/logged-out"}
    browser.get(f"{server.oidc}/logout?{urlencode(hinted)}")
    assert shown_json(browser, f"{site}/logged-out") == {"logged_out": True}
    # No SSO session left: the next login asks for the professional again.
    browser.get(f"{site}/")
    wait_for(lambda: browser.find_element("id", "login"), what="the service's page").click()
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")


def test_a_wrong_client_secret_is_the_strategys_failure(browser, server, tmp_path):
    """The service's secret is not the registered one: the token endpoint answers Keycloak's
    401 ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/reference/keycloak-behaviour.md, "Client authentication"), which rack-oauth2 parses
    and the strategy reports as its failure with that error."""
    with rack_service(server, tmp_path, "omniauth-wrong", secret="not-the-secret") as origin:
        start_afresh(browser, origin)
        log_in(browser, origin, PROFESSIONAL)
        failure = shown_json(browser, f"{origin}/auth/openid_connect/callback")
    assert failure == {
        "type": "unauthorized_client",
        "exception": "Rack::OAuth2::Client::Error",
        "message": "unauthorized_client :: Invalid client or Invalid client credentials",
        "error_reason": None,
    }

"""Apache httpd with mod_auth_openidc (https://github.com/OpenIDC/mod_auth_openidc, Debian's
``libapache2-mod-auth-openidc``), configured as ANS's Pro Santé Connect proof of concept
configures it (github.com/ansforge/PSC-POC, ``api-client-side-components/apache2/apache2.tpl``),
drives a real ``santeid serve``: only the base URL changes. The configuration is the example's,
examples/psc-apache-mod-auth-openidc/psc-openidc.conf, included as it is in a real Apache
(tests/support/apache.py) in front of an application that echoes what it receives.

The professional's login in Chromium, the wallet discovery document with PSC's wallet
authorization URL, the token endpoint over mutual TLS with the client's certificate, the
module's refresh and userinfo refresh, RP-initiated and back-channel logout, the
resource-server mode (introspection and local JWT validation), and a professional's refusal on
the phone."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import redis
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.apache import EchoApp
from tests.support.apache import apache_folder
from tests.support.apache import needs_mod_auth_openidc
from tests.support.apache import running_apache
from tests.support.browser import click_and_wait
from tests.support.browser import identify
from tests.support.browser import start_afresh
from tests.support.browser import start_browser
from tests.support.browser import wait_for
from tests.support.http_login import login_to_callback
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import pkce_pair
from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.servers import establishment_certificates
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, needs_mod_auth_openidc]

CONF = ROOT / "examples" / "psc-apache-mod-auth-openidc" / "psc-openidc.conf"
SECRET = "a-long-secret-for-the-mod-auth-openidc-tests-01"
PASSPHRASE = "a-passphrase-for-the-module-state-0123456789"
#: docs/sandbox.md: Clément ARNAUD, approved at once; Gilles CARON, who refuses on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The proof of concept's redirect URI, under the protected location.
REDIRECT_PATH = "/demo/psc/redirect"
MTLS_DN = "CN=service-apache,O=Etablissement Test,C=FR"


@pytest.fixture(scope="module")
def app() -> Iterator[EchoApp]:
    with EchoApp() as echo:
        yield echo


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    """``santeid serve --workers 2`` in sandbox mode on Redis, as deployed, over plain HTTP as
    ``make run``: ``santeid sessions logout`` reaches its sessions."""
    store_url = redis_server.url.rsplit("/", 1)[0] + "/3"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    with santeid_process(
        tmp_path_factory.mktemp("mod-auth-openidc"),
        args=["--sandbox", "--workers", "2"],
        SANTEID_STORE_URL=store_url,
    ) as process:
        yield process


@contextmanager
def service(
    server,
    app: EchoApp,
    client_id: str,
    *,
    extra: str = "",
    files: dict[str, Path] | None = None,
    **defines: str,
) -> Iterator[str]:
    """An Apache on a free port whose virtual host includes the example's configuration with
    the example's variables (``server``'s discovery document, the client, the application,
    and ``defines``), then ``extra`` directives; its origin. ``files``: copied into the
    Apache's folder, where its children read them, each defined as a variable (the client's
    certificate and key, an authority). The two secrets are in a file of their own that
    Apache's children cannot read, as the example's README keeps them: the parent reads it,
    as root, before they start."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    root = apache_folder()
    secrets = Path(tempfile.mkdtemp(prefix="santeid-apache-secrets-"))  # 0700, this user's
    secret_file = secrets / "psc-secrets.conf"
    secret_file.touch(mode=0o600)
    secret_file.write_text(
        f"Define PSC_CLIENT_SECRET {SECRET}\nDefine OIDC_CRYPTO_PASSPHRASE {PASSPHRASE}\n"
    )
    values = {
        "PSC_METADATA_URL": f"{server.issuer}/.well-known/openid-configuration",
        "PSC_CLIENT_ID": client_id,
        "SERVICE_ORIGIN": origin,
        "APP_URL": f"{app.url}/demo",
        **defines,
    }
    for name, path in (files or {}).items():
        values[name] = str(shutil.copy(path, root / f"{name.lower()}.pem"))
    body = f"Include {secret_file}\n"
    body += "\n".join(f"Define {name} {value}" for name, value in values.items())
    body += f"\n<VirtualHost 127.0.0.1:{port}>\nInclude {CONF}\n{extra}\n</VirtualHost>\n"
    try:
        with running_apache(root, [port], body):
            yield origin
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(secrets, ignore_errors=True)


def register(server, client_id: str, origin: str, **metadata) -> None:
    """The service's registration, as its operator makes it: the proof of concept's redirect
    URI, a page to come back to after a logout, PKCE required."""
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[origin + REDIRECT_PATH],
        post_logout_redirect_uris=[origin + "/logged-out"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
        **metadata,
    )


def browser(verify: str | bool = True) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    return session


def log_in(browser: requests.Session, origin: str, national_id: str = PROFESSIONAL) -> dict:
    """A professional's login through the module from ``/demo/``, over plain HTTP
    (:func:`tests.support.http_login.login_to_callback`): what the application sees of the
    request that comes back there (:class:`~tests.support.apache.EchoApp`), with the
    authorization request the module sent under ``"authorization"``."""
    start = browser.get(f"{origin}/demo/", allow_redirects=False)
    assert start.status_code == 302, start.text
    authorization = start.headers["Location"]
    back = login_to_callback(browser, authorization, origin + REDIRECT_PATH, national_id)
    landed = browser.get(back, allow_redirects=False)
    assert landed.status_code == 302, landed.text
    assert landed.headers["Location"] == f"{origin}/demo/"
    return {**seen(browser, origin), "authorization": authorization}


def seen(browser: requests.Session, origin: str, path: str = "/demo/") -> dict:
    """What the application sees of the browser's request to ``path`` through the module."""
    answer = browser.get(origin + path, allow_redirects=False)
    assert answer.status_code == 200, (answer.status_code, answer.headers, answer.text[:500])
    return answer.json()


def sends_to_login(browser: requests.Session, origin: str, server) -> None:
    """The protected page asks for a new login: the module sends the browser to santeid's
    authorization endpoint, whose answer is the login page (no SSO session left)."""
    answer = browser.get(f"{origin}/demo/", allow_redirects=False)
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    authorization = answer.headers["Location"]
    assert authorization.startswith(f"{server.oidc}/auth?"), authorization
    page = browser.get(authorization)
    assert page.status_code == 200 and 'id="national_id"' in page.text, page.url


def claims_of(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def userinfo_calls(server) -> float:
    """Userinfo requests santeid answered 200, from its ``/metrics`` (docs/operations.md)."""
    text = requests.get(f"{server.base}/metrics", timeout=10).text
    pattern = r'santeid_http_request_duration_seconds_count\{family="userinfo",status="2xx"\} (\S+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


# -- 1. A professional's login in a browser ------------------------------------------------


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    driver = start_browser(tmp_path_factory.mktemp("mod-auth-openidc-profile"), size=(1000, 800))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.mark.browser
def test_a_professional_logs_in_through_apache(server, app, chromium):
    """The proof of concept's flow in Chromium: the protected page, santeid's login page, the
    sandbox phone's approval, the module's redirect URI, the application with ``X-Remote-User``
    and the ``OIDC_CLAIM_*`` headers the module builds from the ID token and userinfo. The
    client requires PKCE: santeid issued tokens for an S256 challenge and ``acr_values=eidas1``
    (the ID token's ``acr``)."""
    with service(server, app, "apache-browser") as origin:
        register(server, "apache-browser", origin)
        start_afresh(chromium, server.base)
        chromium.get(f"{origin}/demo/")
        wait_for(lambda: chromium.find_element("id", "national_id"), what="the login page")
        login_page = chromium.current_url
        chromium.find_element("id", "national_id").send_keys(PROFESSIONAL)
        chromium.find_element("id", "submit").click()
        wait_for(lambda: chromium.current_url == f"{origin}/demo/", what="the application")
        echoed = json.loads(chromium.find_element("tag name", "pre").text)
    headers = echoed["headers"]
    # The ID token's claims and userinfo's, merged by the module.
    claims = {
        name[len("OIDC_CLAIM_"):]: value for name, value in headers.items()
        if name.startswith("OIDC_CLAIM_")
    }  # fmt: skip
    assert headers["X-Remote-User"] == f"{claims['sub']}@{server.issuer}"
    assert claims["iss"] == server.issuer
    assert claims["aud"] == "apache-browser"
    assert claims["SubjectNameID"] == PROFESSIONAL
    assert claims["acr"] == "eidas1"
    # Userinfo's PSC claims: the professional's practice, its organisation.
    assert json.loads(claims["SubjectRefPro"])["exercices"]
    assert claims["SubjectOrganization"]
    access = claims_of(headers["OIDC_access_token"])
    assert access["azp"] == "apache-browser" and access["acr"] == "eidas1"
    assert login_page.startswith(f"{server.issuer}/login-actions/")
    assert echoed["path"] == "/demo/"


def test_the_authorization_request_is_the_proof_of_concept_s(server, app):
    """What the module sends santeid: PKCE S256, ``acr_values=eidas1``, ``scope=openid
    scope_all``; santeid, which requires PKCE of this client, answers with a code the module
    exchanges with its verifier."""
    with service(server, app, "apache-request") as origin:
        register(server, "apache-request", origin)
        echoed = log_in(browser(), origin)
    query = parse_qs(urlsplit(echoed["authorization"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["acr_values"] == ["eidas1"]
    assert query["scope"] == ["openid scope_all"]
    assert query["redirect_uri"][0].endswith(REDIRECT_PATH)
    assert echoed["headers"]["OIDC_CLAIM_acr"] == "eidas1"


# -- 2. PSC's wallet discovery document and wallet authorization URL ----------------------


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """``santeid serve`` over HTTPS (``santeid tls dev-cert``), as PSC is: the module takes an
    ``https`` URL alone for ``OIDCProviderAuthorizationEndpoint``. The TLS layer asks for
    client certificates of the establishments' authority (``tls_client_auth_ca_file``), which
    issued the service's (``client.pem``, ``client.key``); ``ca``: the server certificate's
    authority."""
    home = tmp_path_factory.mktemp("mod-auth-openidc-https")
    args, ca = santeid_home(home).dev_tls()
    authority = establishment_certificates(
        home, {"client": ("service-apache", "Etablissement Test")}
    )
    with santeid_process(
        home, args=["--sandbox", *args], ca=ca, SANTEID_STORE_URL="memory://",
        SANTEID_TLS_CLIENT_AUTH_CA_FILE=str(authority.cert_path),
    ) as process:  # fmt: skip
        yield process


def test_the_wallet_discovery_and_authorization_endpoint_as_in_the_proof_of_concept(
    https_server, app
):
    """``OIDCProviderMetadataURL …/.well-known/wallet-openid-configuration`` and
    ``OIDCProviderAuthorizationEndpoint <wallet>/auth``, as the proof of concept has them for
    PSC, on santeid's HTTPS origin: santeid's wallet alias (docs/psc-integration.md §2) logs
    the professional in."""
    server = https_server
    with service(
        server, app, "apache-wallet",
        PSC_METADATA_URL=f"{server.issuer}/.well-known/wallet-openid-configuration",
        PSC_AUTHORIZATION_ENDPOINT=f"{server.base}/auth",
        files={"PSC_CA_BUNDLE": Path(server.ca)},
    ) as origin:  # fmt: skip
        register(server, "apache-wallet", origin)
        echoed = log_in(browser(server.ca), origin)
    assert echoed["authorization"].startswith(f"{server.base}/auth?")
    assert echoed["headers"]["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL
    assert echoed["headers"]["OIDC_CLAIM_iss"] == server.issuer
    assert "cnf" not in claims_of(echoed["headers"]["OIDC_access_token"])


# -- 3. Mutual TLS to the token endpoint ---------------------------------------------------


@contextmanager
def mtls_service(server, app: EchoApp, client_id: str, *, extra: str = "") -> Iterator[str]:
    """:func:`service` in front of :func:`https_server`, from its wallet discovery document,
    presenting the service's certificate and key to its token endpoint as the proof of
    concept does (``OIDCClientTokenEndpointCert``, ``OIDCClientTokenEndpointKey``)."""
    client = server.home / "client"
    with service(
        server, app, client_id, extra=extra,
        PSC_METADATA_URL=f"{server.issuer}/.well-known/wallet-openid-configuration",
        files={"PSC_CA_BUNDLE": Path(server.ca), "PSC_CLIENT_CERT": client / "cert.pem",
               "PSC_CLIENT_KEY": client / "key.pem"},
    ) as origin:  # fmt: skip
        yield origin


def test_the_proof_of_concept_s_secret_and_certificate(https_server, app):
    """The proof of concept presents the service's certificate to the token endpoint
    (``OIDCClientTokenEndpointCert``/``Key``) and authenticates with its secret (the module
    sends ``client_secret_basic``, the first method of discovery's list it can use): the
    client is one of "Client Id and Secret", the certificate is not its credential, and binds
    nothing unless the client asks (below), as at Keycloak by default."""
    server = https_server
    with mtls_service(server, app, "apache-mtls-secret") as origin:
        register(server, "apache-mtls-secret", origin)
        echoed = log_in(browser(server.ca), origin)
    headers = echoed["headers"]
    assert headers["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL
    # Userinfo answered the module (the token is not bound to the certificate).
    assert json.loads(headers["OIDC_CLAIM_SubjectRefPro"])["exercices"]
    assert "cnf" not in claims_of(headers["OIDC_access_token"])


def test_the_proof_of_concept_s_certificate_binds_the_tokens_of_a_client_that_asks(
    https_server, app
):
    """The same configuration, the client registered with
    ``tls_client_certificate_bound_access_tokens`` (Keycloak's "OAuth 2.0 Mutual TLS
    Certificate Bound Access Tokens Enabled"): its secret authenticates it, and its access
    token is bound to the certificate the module presents (``cnf.x5t#S256``)."""
    server = https_server
    with mtls_service(server, app, "apache-mtls-bound") as origin:
        register(server, "apache-mtls-bound", origin,
                 tls_client_certificate_bound_access_tokens=True)  # fmt: skip
        echoed = log_in(browser(server.ca), origin)
    headers = echoed["headers"]
    assert headers["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL
    assert claims_of(headers["OIDC_access_token"])["cnf"] == {"x5t#S256": client_thumbprint(server)}
    # The module's userinfo call carries no certificate: refused, the ID token's claims alone.
    assert "OIDC_CLAIM_SubjectRefPro" not in headers


def client_thumbprint(server) -> str:
    """RFC 8705 §3.1 ``x5t#S256`` of the service's certificate."""
    certificate = x509.load_pem_x509_certificate((server.home / "client/cert.pem").read_bytes())
    digest = certificate.fingerprint(hashes.SHA256())
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_certificate_client_through_the_module(https_server, app):
    """A ``tls_client_auth`` client (PSC's production method): the module sends its
    ``client_id`` without a secret (``OIDCProviderTokenEndpointAuth none``) over the TLS
    connection that carries its certificate; santeid authenticates it by the certificate and
    binds the access token to it (RFC 8705 §3.1: ``cnf.x5t#S256``)."""
    server = https_server
    with mtls_service(
        server, app, "apache-mtls", extra="OIDCProviderTokenEndpointAuth none"
    ) as origin:
        server.register(
            "apache-mtls",
            redirect_uris=[origin + REDIRECT_PATH],
            grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method="tls_client_auth",
            tls_client_auth_subject_dn=MTLS_DN,
        )
        echoed = log_in(browser(server.ca), origin)
    headers = echoed["headers"]
    assert headers["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL
    assert claims_of(headers["OIDC_access_token"])["cnf"] == {"x5t#S256": client_thumbprint(server)}
    # The module asks userinfo without its certificate, which santeid refuses for a bound
    # token as Keycloak does (401 invalid_token, docs/psc-integration.md §5.2): the module
    # carries on with the ID token's claims alone.
    assert "OIDC_CLAIM_SubjectRefPro" not in headers
    assert headers["OIDC_CLAIM_given_name"] == "CLEMENT"


# -- 4. Refresh and userinfo refresh -------------------------------------------------------


def test_the_module_refreshes_the_access_token(server, app):
    """``OIDCRefreshAccessTokenBeforeExpiry`` (longer than santeid's 120-second access tokens:
    every request refreshes) and the refresh hook ``<redirect_uri>?refresh=<url>&
    access_token=<token>``; with ``logout_on_error``, a refresh santeid refuses once the SSO
    session has ended elsewhere (``santeid sessions logout``: invalid_grant "Session not
    active") ends the module's session: its "Logged Out" page, then a new login is asked."""
    with service(
        server,
        app,
        "apache-refresh",
        extra="OIDCRefreshAccessTokenBeforeExpiry 300 logout_on_error",
    ) as origin:
        register(server, "apache-refresh", origin)
        session = browser()
        first = log_in(session, origin)["headers"]
        second = seen(session, origin)["headers"]
        assert second["OIDC_access_token"] != first["OIDC_access_token"]
        refreshed = claims_of(second["OIDC_access_token"])
        assert refreshed["sid"] == first["OIDC_CLAIM_sid"]
        assert refreshed["azp"] == "apache-refresh"

        hook = session.get(
            origin + REDIRECT_PATH,
            params={"refresh": f"{origin}/demo/", "access_token": second["OIDC_access_token"]},
            allow_redirects=False,
        )
        assert hook.status_code == 302 and hook.headers["Location"] == f"{origin}/demo/"
        third = seen(session, origin)["headers"]
        assert third["OIDC_access_token"] not in (first["OIDC_access_token"],
                                                  second["OIDC_access_token"])  # fmt: skip

        server.cli("sessions", "logout", first["OIDC_CLAIM_sid"])
        # The refresh fails: the module logs the browser out and says so (its own page). The
        # module 2.4.12 lets the request through to the application all the same, whose answer
        # trails its page on the connection: a connection of its own.
        refused = session.get(f"{origin}/demo/", allow_redirects=False,
                              headers={"Connection": "close"})  # fmt: skip
        assert (refused.status_code, "Logged Out" in refused.text) == (200, True), refused.text
        sends_to_login(session, origin, server)


def test_the_module_refreshes_userinfo(server, app):
    """``OIDCUserInfoRefreshInterval``: once the interval has passed, the module asks santeid's
    userinfo again on the next request (counted by santeid's ``/metrics``)."""
    with service(server, app, "apache-userinfo", extra="OIDCUserInfoRefreshInterval 1") as origin:
        register(server, "apache-userinfo", origin)
        session = browser()
        log_in(session, origin)
        before = userinfo_calls(server)
        time.sleep(1.5)  # past the interval
        headers = seen(session, origin)["headers"]
        assert userinfo_calls(server) == before + 1
        assert json.loads(headers["OIDC_CLAIM_SubjectRefPro"])["exercices"]


# -- 5. Logout -----------------------------------------------------------------------------


def test_logout_through_the_module(server, app):
    """``<redirect_uri>?logout=<url>``: the module sends the browser to santeid's
    ``end_session_endpoint`` with the ID token as ``id_token_hint`` and ``<url>`` as
    ``post_logout_redirect_uri``; santeid ends its session and sends the browser back at
    once (a valid hint: no confirmation, as Keycloak); the protected page then asks for a new
    login."""
    with service(server, app, "apache-logout") as origin:
        register(server, "apache-logout", origin)
        session = browser()
        log_in(session, origin)
        logout = session.get(origin + REDIRECT_PATH, params={"logout": f"{origin}/logged-out"},
                             allow_redirects=False)  # fmt: skip
        assert logout.status_code == 302, logout.text
        end_session = urlsplit(logout.headers["Location"])
        assert logout.headers["Location"].startswith(f"{server.oidc}/logout?")
        query = parse_qs(end_session.query)
        assert query["post_logout_redirect_uri"] == [f"{origin}/logged-out"]
        assert claims_of(query["id_token_hint"][0])["aud"] == "apache-logout"
        ended = session.get(logout.headers["Location"], allow_redirects=False)
        assert ended.status_code == 302, ended.text
        assert ended.headers["Location"].startswith(f"{origin}/logged-out")
        sends_to_login(session, origin, server)


def test_back_channel_logout_ends_the_module_s_session(server, app):
    """The client registered with the module's back-channel logout URI
    (``<redirect_uri>?logout=backchannel``): a logout made at santeid by another route
    (``santeid sessions logout``) sends the module santeid's logout token, which it verifies
    and acts upon: the protected page asks for a new login."""
    with service(server, app, "apache-backchannel") as origin:
        register(
            server,
            "apache-backchannel",
            origin,
            backchannel_logout_uri=f"{origin}{REDIRECT_PATH}?logout=backchannel",
        )
        session = browser()
        headers = log_in(session, origin)["headers"]
        assert seen(session, origin)["headers"]["X-Remote-User"] == headers["X-Remote-User"]
        ended = server.cli("sessions", "logout", headers["OIDC_CLAIM_sid"])
        assert "back-channel logout sent to apache-backchannel" in ended.stdout
        sends_to_login(session, origin, server)


# -- 6. Resource-server mode ---------------------------------------------------------------

#: The access-token lifetime of the resource-server test's santeid, in seconds: long enough to
#: present a new token to both resource servers, short enough to wait for one to expire.
SHORT_LIFETIME = 10


@pytest.fixture(scope="module")
def short_lived_server(tmp_path_factory):
    """santeid over HTTPS (the module calls introspection and the JWKS over HTTPS alone), its
    access tokens valid :data:`SHORT_LIFETIME` seconds."""
    home = tmp_path_factory.mktemp("mod-auth-openidc-api")
    args, ca = santeid_home(home).dev_tls()
    with santeid_process(
        home, args=["--sandbox", *args], ca=ca, SANTEID_STORE_URL="memory://",
        SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
    ) as process:  # fmt: skip
        yield process


def access_token(server, client_id: str, redirect_uri: str) -> str:
    """An access token of a professional's login for ``client_id`` (code flow with PKCE)."""
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "scope": "openid scope_all", "acr_values": "eidas1", "state": "s" * 16,
             "nonce": "n" * 16, "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    url = f"{server.oidc}/auth?{urlencode(query)}"
    back = login_to_callback(browser(server.ca), url, redirect_uri, PROFESSIONAL)
    code = parse_qs(urlsplit(back).query)["code"][0]
    answer = requests.post(
        f"{server.oidc}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
              "code_verifier": verifier},
        headers=basic_auth(client_id, SECRET), timeout=10, verify=server.ca,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


RESOURCE_SERVER = """
<VirtualHost 127.0.0.1:{port}>
  OIDCCryptoPassphrase {passphrase}
  OIDCCABundlePath {ca}
  OIDCOAuthAcceptTokenAs header post
  {validation}
  <Location /api>
    AuthType oauth20
    Require valid-user
    ProxyPass {app}/api
  </Location>
</VirtualHost>
"""


def test_the_module_as_resource_server(short_lived_server, app):
    """``AuthType oauth20``: santeid's access token accepted by introspection
    (``OIDCOAuthIntrospectionEndpoint`` with the client's credentials) and by local JWT
    validation (``OIDCOAuthVerifyJwksUri``), as ``Authorization: Bearer`` and as the form's
    ``access_token`` (``OIDCOAuthAcceptTokenAs header post``). A revoked token is refused by
    introspection (a local validation cannot know of it); an expired one by both."""
    server = short_lived_server
    redirect_uri = "https://service.example.org/callback"
    server.register("apache-api", client_secret=SECRET, redirect_uris=[redirect_uri],
                    grant_types=["authorization_code", "refresh_token"])  # fmt: skip
    introspecting, validating = free_port(), free_port()
    introspection = "\n  ".join((
        f"OIDCOAuthIntrospectionEndpoint {server.oidc}/token/introspect",
        "OIDCOAuthIntrospectionEndpointAuth client_secret_basic",
        "OIDCOAuthClientID apache-api",
        f"OIDCOAuthClientSecret {SECRET}",
    ))  # fmt: skip
    jwks = f"OIDCOAuthVerifyJwksUri {server.oidc}/certs"
    body = "".join(
        RESOURCE_SERVER.format(port=port, passphrase=PASSPHRASE, validation=validation,
                               app=app.url, ca="{ca}")
        for port, validation in ((introspecting, introspection), (validating, jwks))
    )  # fmt: skip
    root = apache_folder()
    ca = shutil.copy(server.ca, root / "ca.pem")
    body = body.replace("{ca}", str(ca))
    try:
        with running_apache(root, [introspecting, validating], body) as apache:
            revoked = access_token(server, "apache-api", redirect_uri)
            taken_back = requests.post(f"{server.oidc}/revoke", data={"token": revoked},
                                       headers=basic_auth("apache-api", SECRET), timeout=10,
                                       verify=server.ca)  # fmt: skip
            assert taken_back.status_code == 200, taken_back.text
            # The valid token last: its lifetime covers the requests that follow.
            token = access_token(server, "apache-api", redirect_uri)
            expires = claims_of(token)["exp"]
            for port in (introspecting, validating):
                api = f"http://127.0.0.1:{port}/api/records"
                by_header = requests.get(api, headers={"Authorization": f"Bearer {token}"},
                                         timeout=10)  # fmt: skip
                assert by_header.status_code == 200, (port, by_header.text, apache.error_log())
                assert by_header.json()["headers"]["OIDC_CLAIM_azp"] == "apache-api"
                by_form = requests.post(api, data={"access_token": token}, timeout=10)
                assert by_form.status_code == 200, (port, by_form.text, apache.error_log())
                assert by_form.json()["method"] == "POST"
            # Introspection's answer: what santeid says of the token (SubjectNameID, active).
            introspected = requests.get(f"http://127.0.0.1:{introspecting}/api/records",
                                        headers={"Authorization": f"Bearer {token}"},
                                        timeout=10).json()["headers"]  # fmt: skip
            assert introspected["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL
            assert introspected["OIDC_CLAIM_active"] == "1"

            def status(port: int, bearer: str) -> int:
                bearing = {"Authorization": f"Bearer {bearer}"}
                api = f"http://127.0.0.1:{port}/api/records"
                return requests.get(api, headers=bearing, timeout=10).status_code

            assert status(introspecting, revoked) == 401
            # A signature and an expiry checked locally: revocation is introspection's to see.
            assert status(validating, revoked) == 200
            time.sleep(max(0.0, expires + 1 - time.time()))  # the token has expired
            assert (status(introspecting, token), status(validating, token)) == (401, 401)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- 7. The errors a professional meets ----------------------------------------------------


def refuse_on_the_phone(chromium, server, origin: str) -> None:
    """The professional who refuses on the sandbox phone, from the protected page of a browser
    without cookies: santeid's "refused" page, then its "cancel and go back to the service",
    which answers the module ``error=access_denied`` at its redirect URI."""
    start_afresh(chromium, server.base)
    chromium.get(f"{origin}/demo/")
    identify(chromium, DENYING)
    wait_for(lambda: chromium.find_element("id", "failure-message"), what="the refusal")
    click_and_wait(chromium, chromium.find_element("id", "cancel"))


@pytest.mark.browser
def test_a_refusal_on_the_phone_reaches_the_module_s_error_page(server, app, chromium):
    """mod_auth_openidc 2.4.12 takes an error response that carries RFC 9207's ``iss`` (as
    Keycloak's and santeid's do) for a discovery response and starts a new login: the
    professional is back on the login page. Keycloak's per-client "Exclude Issuer From
    Authentication Response" — santeid's ``exclude_issuer_from_auth_response`` — leaves
    ``iss`` out: the module shows its error page with santeid's ``access_denied``, no 500."""
    with service(server, app, "apache-refusal") as origin:
        register(server, "apache-refusal", origin)
        refuse_on_the_phone(chromium, server, origin)
        wait_for(lambda: "national_id" in chromium.page_source
                 and chromium.current_url.startswith(f"{server.issuer}/login-actions/"),
                 what="a new login")  # fmt: skip

    with service(server, app, "apache-refusal-no-iss") as origin:
        register(server, "apache-refusal-no-iss", origin, exclude_issuer_from_auth_response=True)
        refuse_on_the_phone(chromium, server, origin)
        wait_for(lambda: chromium.current_url.startswith(origin + REDIRECT_PATH),
                 what=f"the module's error page ({chromium.current_url})")  # fmt: skip
        query = parse_qs(urlsplit(chromium.current_url).query)
        page = chromium.find_element("tag name", "body").text
        status = chromium.execute_script(
            "return performance.getEntriesByType('navigation')[0].responseStatus"
        )
    assert query["error"] == ["access_denied"] and "iss" not in query
    assert status < 500
    assert "OpenID Connect Provider error: access_denied" in page

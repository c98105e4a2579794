"""A Pro Santé Connect service's OpenID Connect side written with openid-client 5 (panva's
previous major, https://github.com/panva/openid-client/tree/v5.x, still what next-auth v4 and
many Express services run), pointed at a real ``santeid serve`` by its discovery URL alone.

The service is ``tests/e2e/openid_client5/rp.js`` (its locked dependencies installed with
``npm ci``): ``Issuer.discover`` with the realm's issuer or PSC's wallet discovery URL,
``new issuer.Client({client_id, client_secret, redirect_uris, response_types})``, each of its
commands one step of the service (``authorizationUrl`` with ``generators``' PKCE verifier,
``state`` and ``nonce``; ``callbackParams`` and ``callback``; ``userinfo``, ``refresh``,
``introspect``, ``revoke``, ``endSessionUrl``). The browser's part is played here over plain
HTTP with a sandbox professional (docs/sandbox.md).

``callback`` checks RFC 9207's ``iss`` (discovery says
``authorization_response_iss_parameter_supported``), ``state``, and the ID token: its signature
by ``kid`` against the JWKS, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``,
``at_hash``, ``auth_time`` against ``max_age``. An answer the library refuses (its
``RPError``) fails the test unless the test expects it; the OAuth errors are asserted as the
library raised them (``OPError``)."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.support.http_login import login_to_callback
from tests.support.node import NODE
from tests.support.node import JsonCommands
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

NODE_DIR = Path(__file__).resolve().parent / "openid_client5"

pytestmark = [pytest.mark.server, needs_node_and_npm]

SECRET = "a-long-secret-for-the-openid-client-5-rp-01"
REDIRECT_URI = "https://service.example.org/callback"
LOGGED_OUT_URI = "https://service.example.org/logged-out"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: rp.js's exit status for an error the library raised (OPError, RPError).
LIBRARY_ERROR = 3


@pytest.fixture(scope="module")
def script() -> Path:
    install_locked(NODE_DIR, "openid-client")
    return NODE_DIR / "rp.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("openid-client5"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


class Client(JsonCommands):
    """One service registered at santeid (``santeid clients add``) and its ``rp.js`` commands,
    run with the service's environment (discovery URL, client, session file); an error the
    library raised exits 3."""

    def __init__(
        self, script, server, folder: Path, client_id: str, discovery: str = "",
        registration: dict | None = None, **env: str,
    ) -> None:  # fmt: skip
        metadata = {
            "client_secret": SECRET,
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": [LOGGED_OUT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": env.get("PSC_AUTH_METHOD", "client_secret_basic"),
            **(registration or {}),
        }
        server.register(client_id, **{k: v for k, v in metadata.items() if v is not None})
        settings = {
            "PSC_ISSUER": discovery or server.issuer,
            "PSC_CLIENT_ID": client_id,
            "PSC_CLIENT_SECRET": SECRET,
            "PSC_REDIRECT_URI": REDIRECT_URI,
            "PSC_POST_LOGOUT_REDIRECT_URI": LOGGED_OUT_URI,
            "PSC_SESSION": str(folder / f"{client_id}.json"),
        }
        super().__init__(script, {**settings, **env}, prefix="PSC_", error_status=LIBRARY_ERROR)
        self.browser = requests.Session()

    def login(self, *extra: str, national_id: str = PROFESSIONAL, refused: bool = False) -> str:
        """The library's authorization URL followed by the browser to the callback URL."""
        url = self.ok("login", *extra)["url"]
        return login_to_callback(self.browser, url, REDIRECT_URI, national_id, refused=refused)


@pytest.fixture
def rp(script, server, tmp_path):
    """A new service at each call, registered under a name of its own."""
    made = itertools.count()
    return lambda **options: Client(
        script, server, tmp_path, f"oc5-{next(made)}-{tmp_path.name}", **options
    )


def test_discovery_by_the_issuer_and_by_the_wallet_url(server, rp):
    """``Issuer.discover`` with the issuer (the library adds
    ``/.well-known/openid-configuration``) and with PSC's wallet discovery URL (read as given):
    the documents served, to which the library adds its defaults of the members they lack
    (``require_request_uri_registration``: santeid takes ``request_uri`` from its PAR endpoint
    only, its discovery says ``request_uri_parameter_supported`` false)."""
    served = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=5).json()
    read = rp().ok("discover")
    assert {name: read[name] for name in served} == served
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    read = rp(discovery=wallet).ok("discover")
    served = requests.get(wallet, timeout=5).json()
    assert {name: read[name] for name in served} == served
    assert read["issuer"] == server.issuer
    assert read["authorization_endpoint"] == f"{server.base}/auth"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("wallet", [False, True], ids=["issuer", "wallet"])
def test_the_whole_integration_through_the_library(server, rp, method, wallet):
    discovery = f"{server.issuer}/.well-known/wallet-openid-configuration" if wallet else ""
    client = rp(discovery=discovery, PSC_AUTH_METHOD=method)
    client_id = client.env["PSC_CLIENT_ID"]
    url = client.ok("login")["url"]
    query = parse_qs(urlsplit(url).query)
    assert query["acr_values"] == ["eidas1"] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid scope_all"] and query["response_type"] == ["code"]

    callback = login_to_callback(client.browser, url, REDIRECT_URI, PROFESSIONAL)
    assert parse_qs(urlsplit(callback).query)["iss"] == [server.issuer]
    tokens = client.ok("callback", callback)
    # The library has checked iss, state, PKCE, and the ID token (at_hash included).
    claims = tokens["claims"]
    assert claims["iss"] == server.issuer and claims["aud"] == client_id
    assert claims["azp"] == client_id and claims["at_hash"]
    assert claims["nonce"] == json.loads(Path(client.env["PSC_SESSION"]).read_text())["nonce"]
    assert claims["SubjectNameID"] == PROFESSIONAL and claims["acr"] == "eidas1"
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid scope_all"
    assert tokens["session_state"] == claims["sid"]

    userinfo = client.ok("userinfo")
    assert userinfo["sub"] == claims["sub"] and userinfo["SubjectNameID"] == PROFESSIONAL
    # OpenID Connect Core 1.0 §5.3.1: POST, the token in the header or in the form body.
    assert client.ok("userinfo", "POST", "header") == userinfo
    assert client.ok("userinfo", "POST", "body") == userinfo

    refreshed = client.ok("refresh")
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["claims"]["sub"] == claims["sub"]
    assert refreshed["claims"]["auth_time"] == claims["auth_time"]

    introspected = client.ok("introspect")
    assert introspected["active"] is True and introspected["client_id"] == client_id
    assert client.ok("introspect", "refresh")["typ"] == "Refresh"

    # RP-initiated logout: endSessionUrl with the ID token as id_token_hint and the
    # registered post_logout_redirect_uri, followed by the browser back to the service.
    url = client.ok("logout")["url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{server.oidc}/logout?")
    assert query["id_token_hint"] == [refreshed["id_token"]]
    assert query["post_logout_redirect_uri"] == [LOGGED_OUT_URI]
    state = json.loads(Path(client.env["PSC_SESSION"]).read_text())["logoutState"]
    ended = client.browser.get(url, allow_redirects=False)
    assert ended.status_code == 302
    assert ended.headers["Location"] == f"{LOGGED_OUT_URI}?state={state}"

    assert client.error("refresh") == {
        "name": "OPError", "error": "invalid_grant", "error_description": "Session not active",
        "message": "invalid_grant (Session not active)", "status": 400,
    }  # fmt: skip
    refused = client.error("userinfo")
    assert (refused["name"], refused["error"], refused["status"]) == (
        "OPError", "invalid_token", 401,
    )  # fmt: skip
    assert client.ok("introspect") == {"active": False}


def test_max_age_is_checked_against_auth_time(rp):
    """``max_age`` in the request makes the library require ``auth_time`` in the ID token and
    check that the authentication is no older (OpenID Connect Core 1.0 §3.1.2.1,
    https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest). With the browser's
    SSO session, a login without ``max_age`` keeps the session's ``auth_time``; one whose
    ``max_age`` the session has outlived asks the professional again, and the library accepts
    the new ``auth_time``."""
    client = rp()
    first = client.ok("callback", client.login("max_age=300"))["claims"]
    assert first["auth_time"] <= first["iat"]
    time.sleep(4)
    again = client.ok("callback", client.login())["claims"]
    assert again["auth_time"] == first["auth_time"]
    renewed = client.ok("callback", client.login("max_age=3"))["claims"]
    assert renewed["auth_time"] > first["auth_time"]


def test_revocation_through_the_library(rp):
    """RFC 7009: ``client.revoke`` with ``token_type_hint``."""
    client = rp()
    client.ok("callback", client.login())
    assert client.ok("revoke", "access") == {"revoked": "access"}
    assert client.ok("introspect") == {"active": False}
    assert client.error("userinfo")["error"] == "invalid_token"
    assert client.ok("revoke", "refresh") == {"revoked": "refresh"}
    assert client.error("refresh")["error"] == "invalid_grant"


def test_a_service_account_through_client_grant(rp):
    """``client.grant`` with ``client_credentials`` and ``openid``: the ID token Keycloak
    issues for the client's service account (docs/reference/keycloak-behaviour.md, "Token
    endpoint"), validated by the library (signature, ``iss``, ``aud``, ``exp``, ``iat``,
    ``at_hash``); userinfo of the service account, its ``sub`` compared with the ID token's;
    without ``openid``, no ID token."""
    client = rp(registration={"grant_types": ["client_credentials"]})
    client_id = client.env["PSC_CLIENT_ID"]
    tokens = client.ok("service")
    assert tokens["scope"] == "openid" and "refresh_token" not in tokens
    claims = tokens["claims"]
    assert claims["sub"] == claims["preferred_username"] == f"service-account-{client_id}"
    assert claims["aud"] == claims["azp"] == client_id and claims["at_hash"]
    assert client.ok("userinfo") == {
        "sub": f"service-account-{client_id}",
        "preferred_username": f"service-account-{client_id}",
    }
    plain = client.ok("service", "rpps")
    assert plain["scope"] == "rpps" and "id_token" not in plain and "claims" not in plain


def test_errors_the_library_raises(rp):
    """Keycloak's errors as the library raises them: a wrong secret is Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/reference/keycloak-behaviour.md, "Client authentication"), a replayed code
    ``invalid_grant`` "Code not valid", a login refused on the sandbox phone the
    authorization response's ``access_denied``: each an ``OPError``."""
    client = rp()
    callback = client.login()
    assert client.error("callback", callback, PSC_CLIENT_SECRET="not-the-secret") == {
        "name": "OPError", "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
        "message": "unauthorized_client (Invalid client or Invalid client credentials)",
        "status": 401,
    }  # fmt: skip
    # The client is authenticated before the code is read: the code is still unused.
    assert client.ok("callback", callback)["claims"]["SubjectNameID"] == PROFESSIONAL
    assert client.error("callback", callback) == {
        "name": "OPError", "error": "invalid_grant", "error_description": "Code not valid",
        "message": "invalid_grant (Code not valid)", "status": 400,
    }  # fmt: skip

    denied = rp()
    refused = denied.error("callback", denied.login(national_id=DENYING, refused=True))
    assert refused == {"name": "OPError", "error": "access_denied", "message": "access_denied"}

    silent = rp()
    refused = silent.error("callback", silent.login("prompt=none"))
    assert (refused["name"], refused["error"]) == ("OPError", "login_required")


@pytest.mark.parametrize("mode", ["jwt", "query.jwt"])
def test_a_jarm_response_is_verified_by_the_library(server, rp, mode):
    """JARM (``response_mode=jwt``, docs/endpoints.md, "Authorization endpoint"): the callback
    holds one parameter, ``response``, which ``client.callback`` verifies (signature against
    the JWKS in the client's ``authorization_signed_response_alg``, RS256 by default; ``iss``,
    ``aud``, ``exp``) before it checks the ``state`` and RFC 9207 ``iss`` it carries and
    exchanges its code. An error comes as a JWT too, raised as the library's ``OPError``."""
    client = rp()
    callback = client.login(f"response_mode={mode}")
    assert list(parse_qs(urlsplit(callback).query)) == ["response"]
    tokens = client.ok("callback", callback)
    assert tokens["claims"]["SubjectNameID"] == PROFESSIONAL

    silent = rp()
    refused = silent.error("callback", silent.login("prompt=none", f"response_mode={mode}"))
    assert (refused["name"], refused["error"]) == ("OPError", "login_required")


@pytest.mark.parametrize("method", ["client_secret_basic", "private_key_jwt", "client_secret_jwt"])
def test_pushed_authorization_request(server, rp, tmp_path, method):
    """RFC 9126: ``client.pushedAuthorizationRequest`` pushes the request, the client
    authenticated as at the token endpoint (``private_key_jwt`` with the client's private JWK
    Set, ``client_secret_jwt`` with its secret); ``authorizationUrl`` with the ``request_uri``
    sends the browser. The code is exchanged with the same authentication."""
    registration, env = {}, {"PSC_AUTH_METHOD": method}
    if method == "private_key_jwt":
        key = RSAKey.generate_key(2048, private=True, parameters={"kid": "oc5-key", "use": "sig"})
        jwks = tmp_path / "private-jwks.json"
        jwks.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
        env["PSC_PRIVATE_JWKS"] = str(jwks)
        registration = {"client_secret": None, "jwks": {"keys": [key.as_dict(private=False)]}}
    client = rp(registration=registration, **env)
    url = client.ok("login", "--par")["url"]
    query = parse_qs(urlsplit(url).query)
    assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    # authorizationUrl adds its defaults beside request_uri (scope openid, not the pushed
    # scope): the pushed request is the one served, its scope and acr_values.
    assert set(query) == {"request_uri", "client_id", "scope", "response_type", "redirect_uri"}
    assert query["scope"] == ["openid"]
    callback = login_to_callback(client.browser, url, REDIRECT_URI, PROFESSIONAL)
    tokens = client.ok("callback", callback)
    assert tokens["scope"] == "openid scope_all" and tokens["claims"]["acr"] == "eidas1"
    assert tokens["claims"]["SubjectNameID"] == PROFESSIONAL
    assert tokens["claims"]["aud"] == client.env["PSC_CLIENT_ID"]
    assert client.ok("introspect")["active"] is True


def test_a_signed_userinfo_answer_is_verified_by_the_library(server, rp):
    """``userinfo_signed_response_alg``, as PSC services register it: the library asks for
    ``application/jwt`` and verifies the JWT against the JWKS (OpenID Connect Core 1.0
    §5.3.2, https://openid.net/specs/openid-connect-core-1_0.html#UserInfoResponse), then
    compares its ``sub`` with the ID token's."""
    client = rp(
        registration={"userinfo_signed_response_alg": "RS256"},
        PSC_USERINFO_SIGNED_RESPONSE_ALG="RS256",
    )
    tokens = client.ok("callback", client.login())
    userinfo = client.ok("userinfo")
    assert userinfo["SubjectNameID"] == PROFESSIONAL and userinfo["sub"] == tokens["claims"]["sub"]
    assert userinfo["iss"] == server.issuer and userinfo["aud"] == client.env["PSC_CLIENT_ID"]


@pytest.fixture(scope="module")
def passport_site(server, tmp_path_factory):
    """``openid_client5/passport.js``, the Express service on openid-client 5's Passport
    strategy, registered at santeid and configured with PSC's wallet discovery URL; its
    origin, on ``localhost`` (another site than santeid's ``127.0.0.1``)."""
    install_locked(NODE_DIR, "passport")
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        "oc5-passport",
        client_secret=SECRET,
        redirect_uris=[f"{origin}/callback"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    env = {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": origin,
        "ISSUER": f"{server.issuer}/.well-known/wallet-openid-configuration",
        "CLIENT_ID": "oc5-passport",
        "CLIENT_SECRET": SECRET,
        "APP_SECRET": "a-long-secret-for-the-openid-client-5-passport-cookie",
    }
    log = tmp_path_factory.mktemp("openid-client5-passport") / "passport.log"
    with running_server(
        [NODE, str(NODE_DIR / "passport.js")], env, log, f"http://127.0.0.1:{port}/health"
    ):
        yield origin


def passport_callback(site: str, national_id: str = PROFESSIONAL) -> requests.Response:
    """A browser's login from the service's ``/login`` to its ``/callback``, whose answer it
    returns (:func:`tests.support.http_login.login_to_callback`)."""
    browser = requests.Session()
    refused = national_id == DENYING
    url = login_to_callback(
        browser, f"{site}/login", f"{site}/callback", national_id, refused=refused
    )
    return browser.get(url, allow_redirects=False, timeout=30)


def test_the_passport_strategy_logs_the_professional_in(server, passport_site):
    """``new Strategy({client, params, usePKCE: "S256"}, verify)``: the strategy keeps
    ``state`` and the PKCE verifier in the session, runs ``client.callback``'s
    checks, and reads userinfo for a verify of ``(tokenset, userinfo, done)``."""
    answer = passport_callback(passport_site)
    assert answer.status_code == 200, answer.text
    user = answer.json()
    assert user["scope"] == "openid scope_all"
    assert user["claims"]["iss"] == server.issuer and user["claims"]["aud"] == "oc5-passport"
    # The strategy sends a nonce only when an ID token comes from the authorization endpoint
    # (response types with id_token); neither Keycloak nor santeid require one.
    assert user["claims"]["acr"] == "eidas1" and "nonce" not in user["claims"]
    assert user["userinfo"]["sub"] == user["claims"]["sub"]
    assert user["userinfo"]["SubjectNameID"] == PROFESSIONAL


def test_a_login_refused_on_the_phone_fails_the_strategy(passport_site):
    """The authorization response's ``access_denied`` is an ``OPError`` the strategy hands
    to Passport's ``fail()``: the service answers its own refusal, the user not logged in."""
    answer = passport_callback(passport_site, DENYING)
    assert answer.status_code == 401
    assert answer.json() == {
        "error": "access_denied", "message": "access_denied", "name": "OPError",
        "passport": "fail",
    }  # fmt: skip


def test_over_https_as_at_psc(script, tmp_path_factory):
    """An ``https://`` issuer, as PSC's: the server's certificate checked against its
    authority (``NODE_EXTRA_CA_CERTS``, ``santeid tls dev-cert``'s), by the library and by the
    browser."""
    home = tmp_path_factory.mktemp("openid-client5-https")
    tls, ca = santeid_home(home).dev_tls()
    with santeid_process(home, args=["--sandbox", *tls], ca=ca) as https_server:
        assert https_server.issuer.startswith("https://")
        client = Client(script, https_server, home, "oc5-https", NODE_EXTRA_CA_CERTS=ca)
        assert client.ok("discover")["token_endpoint"].startswith("https://")
        client.browser.trust_env = False  # REQUESTS_CA_BUNDLE would override the authority
        client.browser.verify = ca
        tokens = client.ok("callback", client.login())
        assert tokens["claims"]["iss"] == https_server.issuer
        assert client.ok("userinfo")["SubjectNameID"] == PROFESSIONAL

"""A Pro Santé Connect service written in Node with openid-client 6 (panva's OpenID Certified
relying-party library, https://github.com/panva/openid-client, on oauth4webapi), pointed at a
real ``santeid serve --workers 2`` on Redis by its issuer URL alone.

The service is the documented example ``examples/psc-node-openid-client/client.js``: its locked
dependencies are installed with ``npm ci`` into its ``node_modules`` (git-ignored) the first
time; ``.ci/run`` installs Debian's nodejs and npm when they are missing. Each of its commands
is one step of the service (the authorization URL, the callback, userinfo…); the browser's part
is played here over plain HTTP with a sandbox professional approved at once (docs/sandbox.md).

The library checks what the Python libraries let through: RFC 9207's ``iss`` in the
authorization response (discovery says ``authorization_response_iss_parameter_supported``),
``state``, the ID token (signature against the JWKS with its non-repudiation checks, ``iss``,
``aud``, ``azp``, ``exp``, ``iat``, ``nonce``), media types, ``WWW-Authenticate`` challenges,
the CIBA acknowledgement. Every refusal of a santeid answer fails the test (the example exits
1 on anything that is not an OAuth error); the OAuth errors are asserted as the library parsed
them.
santeid offers no DPoP (its discovery lists no ``dpop_signing_alg_values_supported``, as PSC's),
so none is driven."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import redis
import requests
from joserfc.jwk import RSAKey

from tests.support.http_login import login_to_callback
from tests.support.node import JsonCommands
from tests.support.node import install_locked
from tests.support.node import needs_node_20
from tests.support.node import needs_node_and_npm
from tests.support.servers import SANTEID
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

NODE_DIR = Path(__file__).resolve().parents[2] / "examples" / "psc-node-openid-client"


pytestmark = [pytest.mark.server, pytest.mark.redis, needs_node_and_npm, needs_node_20]

SECRET = "a-long-secret-for-the-openid-client-rp-0001"
REDIRECT_URI = "https://service.example.org/callback"
LOGGED_OUT_URI = "https://service.example.org/logged-out"
CIBA = "urn:openid:params:grant-type:ciba"
#: docs/sandbox.md: approved at once, denied on the phone, never answered, card only (no phone).
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
SILENT = "810000000034"
CARD_ONLY = "810000000005"
#: The example's exit status for an OAuth error answer (README.md).
OAUTH_ERROR = 3


@pytest.fixture(scope="module")
def example() -> Path:
    """The example's ``node_modules`` installed from the lock file when missing."""
    install_locked(NODE_DIR, "openid-client")
    return NODE_DIR / "client.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    """``santeid serve --workers 2`` on Redis, as deployed: each request of a login may land on
    either worker."""
    store_url = redis_server.url.rsplit("/", 1)[0] + "/4"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    with santeid_process(
        tmp_path_factory.mktemp("openid-client-server"),
        args=["--workers", "2"],
        SANTEID_STORE_URL=store_url,
    ) as process:
        yield process


@pytest.fixture(scope="module")
def private_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True, parameters={"kid": "node-key", "use": "sig"})


class Service(JsonCommands):
    """One service registered at santeid and run as the example: its commands with the
    example's environment (issuer, client, authentication method, session file); an OAuth
    error answer as the library parsed it exits 3."""

    def __init__(self, script: Path, server, folder: Path, client_id: str, **env: str) -> None:
        self.server = server
        settings = {
            "PSC_ISSUER": server.issuer,
            "PSC_CLIENT_ID": client_id,
            "PSC_CLIENT_SECRET": SECRET,
            "PSC_REDIRECT_URI": REDIRECT_URI,
            "PSC_SESSION": str(folder / f"{client_id}-session.json"),
        }
        super().__init__(script, {**settings, **env}, prefix="PSC_", error_status=OAUTH_ERROR)

    def log_in(self, browser: requests.Session, *login_args: str) -> dict:
        """The authorization URL built by the library, the browser's login, the callback URL
        handed back to the library: its validated token set."""
        url = self.ok("login", *login_args)["url"]
        return self.ok("callback", browser_login(browser, url))


def browser_login(browser: requests.Session, url: str, national_id: str = PROFESSIONAL) -> str:
    """The professional's login from ``url`` to this service's callback, whose URL it returns
    (:func:`tests.support.http_login.login_to_callback`)."""
    return login_to_callback(browser, url, REDIRECT_URI, national_id)


def service(example, server, tmp_path, client_id: str, *, env=None, **metadata) -> Service:
    """The service registered as an operator does (``santeid clients add``), then run."""
    registration = {
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [LOGGED_OUT_URI],
        "grant_types": ["authorization_code", "refresh_token", CIBA],
        "backchannel_token_delivery_mode": "poll",
        "backchannel_polling_interval": 1,
        "token_endpoint_auth_method": "client_secret_basic",
        **metadata,
    }
    server.register(client_id, **{k: v for k, v in registration.items() if v is not None})
    return Service(example, server, tmp_path, client_id, **(env or {}))


def authentication(method: str, private_key: RSAKey, tmp_path: Path) -> tuple[dict, dict]:
    """The registration metadata and the example's environment of ``method``."""
    if method != "private_key_jwt":
        return {"token_endpoint_auth_method": method}, {"PSC_AUTH_METHOD": method}
    key_file = tmp_path / "private-key.json"
    key_file.write_text(json.dumps(private_key.as_dict(private=True)))
    metadata = {
        "token_endpoint_auth_method": method,
        "client_secret": None,
        "jwks": {"keys": [private_key.as_dict(private=False)]},
    }
    return metadata, {"PSC_AUTH_METHOD": method, "PSC_PRIVATE_KEY": str(key_file)}


def test_discovery_as_the_library_reads_it(example, server, tmp_path):
    """OpenID Connect Discovery 1.0 §4.3: the library checks that ``issuer`` is the URL it was
    given; what it read is the document served."""
    rp = service(example, server, tmp_path, "node-discovery")
    read = rp.ok("discover")
    served = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert read == served
    assert read["issuer"] == server.issuer
    assert read["authorization_response_iss_parameter_supported"] is True
    assert "dpop_signing_alg_values_supported" not in read


@pytest.mark.parametrize("earlier", [False, True])
def test_the_session_file_is_readable_by_its_user_alone(example, server, tmp_path, earlier):
    """``PSC_SESSION`` holds the PKCE verifier and then the tokens, by default in the system's
    temporary folder, which every user of the machine reads: the example writes it readable
    and writable by its user alone (0600), a file left readable by an earlier run too — it was
    written with the process's umask, readable by everyone (0644)."""
    rp = service(example, server, tmp_path, f"node-session-{earlier}")
    session = Path(rp.env["PSC_SESSION"])
    if earlier:
        session.write_text("{}")
        session.chmod(0o644)
    rp.ok("login")
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert "code_verifier" in json.loads(session.read_text())


@pytest.mark.parametrize(
    "method", ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"]
)
def test_the_whole_integration_through_the_library(example, server, tmp_path, private_key, method):
    metadata, env = authentication(method, private_key, tmp_path)
    client_id = f"node-{method}"
    rp = service(example, server, tmp_path, client_id, env=env, **metadata)
    browser = requests.Session()

    tokens = rp.log_in(browser)
    # The library has checked iss in the callback, state, PKCE, and the ID token.
    claims = tokens["claims"]
    assert claims["iss"] == server.issuer and claims["aud"] == client_id
    assert claims["SubjectNameID"] == PROFESSIONAL and claims["acr"] == "eidas1"
    assert tokens["scope"] == "openid scope_all" and tokens["expires_in"] == 120

    # Its sub is compared with the ID token's by the library.
    userinfo = rp.ok("userinfo")
    assert userinfo["sub"] == claims["sub"] and userinfo["SubjectNameID"] == PROFESSIONAL
    assert userinfo["SubjectRefPro"]["exercices"]

    refreshed = rp.ok("refresh")
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["claims"]["sub"] == claims["sub"]
    assert refreshed["claims"]["auth_time"] == claims["auth_time"]

    introspected = rp.ok("introspect")
    assert introspected["active"] is True and introspected["client_id"] == client_id
    assert introspected["SubjectNameID"] == PROFESSIONAL
    assert rp.ok("introspect", "refresh")["typ"] == "Refresh"

    # RP-initiated logout: the URL the library builds, with the ID token as id_token_hint,
    # followed by the browser back to the service.
    url = rp.ok("logout", LOGGED_OUT_URI)["url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{server.oidc}/logout?") and query["client_id"] == [client_id]
    assert query["id_token_hint"] == [refreshed["id_token"]]
    state = json.loads(Path(rp.env["PSC_SESSION"]).read_text())["state"]
    ended = browser.get(url, allow_redirects=False)
    assert ended.status_code == 302
    assert ended.headers["Location"] == f"{LOGGED_OUT_URI}?state={state}"

    assert rp.error("refresh") == {
        "error": "invalid_grant", "error_description": "Session not active",
        "status": 400, "name": "ResponseBodyError",
    }  # fmt: skip
    # RFC 6750 §3: the userinfo refusal is read from WWW-Authenticate, with Keycloak's words
    # for a token whose session ended (docs/endpoints.md, "UserInfo").
    assert rp.error("userinfo") == {
        "error": "invalid_token", "error_description": "user_session_not_found",
        "status": 401, "scheme": "bearer", "name": "WWWAuthenticateChallengeError",
    }  # fmt: skip
    assert rp.ok("introspect") == {"active": False}


def test_revocation_through_the_library(example, server, tmp_path):
    """RFC 7009: the library's revocation request, with ``token_type_hint``."""
    rp = service(example, server, tmp_path, "node-revocation")
    rp.log_in(requests.Session())
    assert rp.ok("revoke", "access") == {"revoked": "access"}
    assert rp.ok("introspect") == {"active": False}
    assert rp.error("userinfo")["error"] == "invalid_token"
    assert rp.ok("revoke", "refresh") == {"revoked": "refresh"}
    assert rp.error("refresh")["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["client_secret_basic", "private_key_jwt", "client_secret_jwt"])
def test_pushed_authorization_request(example, server, tmp_path, private_key, method):
    """RFC 9126: ``buildAuthorizationUrlWithPAR`` pushes the request (authenticated as at the
    token endpoint) and sends the browser with ``request_uri`` and ``client_id`` only."""
    metadata, env = authentication(method, private_key, tmp_path)
    rp = service(example, server, tmp_path, f"node-par-{method}", env=env, **metadata)
    url = rp.ok("login", "--par")["url"]
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"request_uri", "client_id"}
    assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    tokens = rp.ok("callback", browser_login(requests.Session(), url))
    assert tokens["claims"]["SubjectNameID"] == PROFESSIONAL


def test_a_signed_userinfo_answer_is_verified_by_the_library(example, server, tmp_path):
    """``userinfo_signed_response_alg``, as PSC services register it: the library asks for
    ``application/jwt`` and verifies the JWT against the JWKS (OpenID Connect Core 1.0
    §5.3.2), then compares its ``sub``."""
    rp = service(
        example, server, tmp_path, "node-signed-userinfo",
        env={"PSC_USERINFO_SIGNED_RESPONSE_ALG": "RS256"}, userinfo_signed_response_alg="RS256",
    )  # fmt: skip
    tokens = rp.log_in(requests.Session())
    answer = requests.get(
        f"{server.oidc}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/jwt"},
        timeout=10,
    )
    assert answer.headers["Content-Type"].startswith("application/jwt")
    userinfo = rp.ok("userinfo")
    assert userinfo["SubjectNameID"] == PROFESSIONAL and userinfo["sub"] == tokens["claims"]["sub"]
    assert userinfo["iss"] == server.issuer and userinfo["aud"] == "node-signed-userinfo"


def test_ciba_poll_mode_through_the_library(example, server, tmp_path):
    """CIBA Core 1.0 poll mode: ``initiateBackchannelAuthentication`` then
    ``pollBackchannelAuthenticationGrant``, the ID token validated like the code flow's."""
    rp = service(example, server, tmp_path, "node-ciba")
    tokens = rp.ok("ciba", PROFESSIONAL)
    assert tokens["claims"]["SubjectNameID"] == PROFESSIONAL
    assert tokens["claims"]["aud"] == "node-ciba" and tokens["claims"]["acr"] == "eidas1"
    assert rp.ok("userinfo")["SubjectNameID"] == PROFESSIONAL
    assert rp.ok("refresh")["claims"]["sub"] == tokens["claims"]["sub"]

    # CIBA Core §11: denied on the phone; never answered, past expires_in.
    assert rp.error("ciba", DENYING) == {
        "error": "access_denied", "error_description": "not authorized",
        "status": 400, "name": "ResponseBodyError",
    }  # fmt: skip
    assert rp.error("ciba", SILENT, "requested_expiry=2") == {
        "error": "expired_token", "error_description": "authentication timed out",
        "status": 400, "name": "ResponseBodyError",
    }  # fmt: skip


def test_a_service_account_id_token_through_the_library(example, server, tmp_path):
    """``clientCredentialsGrant`` with ``openid``: the ID token Keycloak issues for the
    client's service account (docs/reference/keycloak-behaviour.md, "Token endpoint"),
    validated by the library as any other (signature against the JWKS, ``iss``, ``aud``,
    ``exp``, ``iat``, ``sub``), and userinfo of the service account; without ``openid``, no ID
    token. No refresh token either way."""
    rp = service(
        example, server, tmp_path, "node-service", grant_types=["client_credentials"],
        backchannel_token_delivery_mode=None, backchannel_polling_interval=None,
    )  # fmt: skip
    tokens = rp.ok("service")
    assert tokens["scope"] == "openid" and "refresh_token" not in tokens
    claims = tokens["claims"]
    assert claims["sub"] == claims["preferred_username"] == "service-account-node-service"
    assert claims["aud"] == claims["azp"] == claims["clientId"] == "node-service"
    assert claims["typ"] == "ID" and "sid" not in claims and "nonce" not in claims
    # Keycloak's userinfo describes the service account; the library compares its sub with
    # the ID token's.
    assert rp.ok("userinfo") == {
        "sub": "service-account-node-service",
        "preferred_username": "service-account-node-service",
    }
    plain = rp.ok("service", "rpps")
    assert plain["scope"] == "rpps" and "id_token" not in plain and "claims" not in plain


def test_errors_the_library_surfaces(example, server, tmp_path):
    """Keycloak's errors as the library parses them. A wrong secret is Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials", not RFC 6749
    §5.2's ``invalid_client`` (docs/reference/keycloak-behaviour.md, "Client authentication"):
    the library reads it from the body all the same, since no ``WWW-Authenticate`` comes with
    it. An unknown client is ``invalid_client``."""
    rp = service(example, server, tmp_path, "node-errors")
    browser = requests.Session()
    wrong_secret = {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
        "status": 401,
        "name": "ResponseBodyError",
    }

    callback = browser_login(browser, rp.ok("login")["url"])
    assert rp.error("callback", callback, PSC_CLIENT_SECRET="not-the-secret") == wrong_secret
    # The client is authenticated before the code is read: the code is still unused.
    assert rp.ok("callback", callback)["claims"]["SubjectNameID"] == PROFESSIONAL
    assert rp.error("callback", callback) == {
        "error": "invalid_grant", "error_description": "Code not valid",
        "status": 400, "name": "ResponseBodyError",
    }  # fmt: skip
    assert rp.error("ciba", PROFESSIONAL, PSC_CLIENT_SECRET="not-the-secret") == wrong_secret
    unknown = rp.error("refresh", PSC_CLIENT_ID="node-unknown")
    assert (unknown["error"], unknown["status"]) == ("invalid_client", 401)

    # RFC 6749 §4.1.2.1 with RFC 9207's iss, checked by the library before the error is read.
    silent = browser_login(requests.Session(), rp.ok("login", "prompt=none")["url"])
    assert rp.error("callback", silent) == {
        "error": "login_required", "name": "AuthorizationResponseError",
    }  # fmt: skip
    refused = browser_login(requests.Session(), rp.ok("login", "scope=openid no_scope")["url"])
    assert rp.error("callback", refused) == {
        "error": "invalid_scope", "error_description": "Invalid scopes: openid no_scope",
        "name": "AuthorizationResponseError",
    }  # fmt: skip


def test_a_ciba_request_for_a_professional_without_a_phone_is_not_an_oauth_error_to_the_library(
    example, server, tmp_path
):
    """Keycloak answers a back-channel request it cannot send to the professional's phone with
    503 ``server_error`` "Failed to send authentication request", and santeid as Keycloak
    (docs/sandbox.md, a card-only professional). openid-client reads OAuth errors from 4xx
    answers only (RFC 6749 §5.2 defines no other): the service gets the library's
    ``OAUTH_RESPONSE_IS_NOT_CONFORM`` with the 503, not an ``error`` code
    (docs/psc-integration.md, "Relying-party libraries run against santeid")."""
    rp = service(example, server, tmp_path, "node-card-only")
    refused = rp.command("ciba", CARD_ONLY)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1, "", "OAUTH_RESPONSE_IS_NOT_CONFORM: unexpected HTTP response status code (HTTP 503)\n",
    )  # fmt: skip
    answer = requests.post(
        f"{server.oidc}/ext/ciba/auth",
        auth=("node-card-only", SECRET),
        data={"scope": "openid scope_all", "login_hint": CARD_ONLY, "binding_message": "A1"},
        timeout=10,
    )
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "server_error", "error_description": "Failed to send authentication request",
    }  # fmt: skip


@pytest.mark.parametrize("pushed", [False, True], ids=["query", "par"])
def test_the_wallet_discovery_document_as_psc_services_configure_it(
    example, server, tmp_path, pushed
):
    """PSC documents its wallet discovery URL, which services configure as is: the library
    reads the document at that URL (without the issuer comparison it makes for an issuer) and
    sends the browser to the wallet's ``/auth`` (docs/psc-integration.md §2); the callback's
    ``iss`` and the ID token's are the realm's, which the document names."""
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    rp = service(example, server, tmp_path, f"node-wallet-{pushed}", env={"PSC_ISSUER": wallet})
    assert rp.ok("discover")["authorization_endpoint"] == f"{server.base}/auth"
    url = rp.ok("login", *(["--par"] if pushed else []))["url"]
    assert url.startswith(f"{server.base}/auth?")
    tokens = rp.ok("callback", browser_login(requests.Session(), url))
    assert tokens["claims"]["iss"] == server.issuer
    assert tokens["claims"]["SubjectNameID"] == PROFESSIONAL


def test_the_readme_block_as_an_integrator_runs_it(example, server, tmp_path):
    """``examples/psc-node-openid-client/README.md``'s commands, as written, beside this
    server: ``.venv/bin/santeid`` is this environment's command (with the server's
    configuration, as ``make run``'s folder gives it), the issuer this server's (``make run``'s
    by default), ``/tmp/psc-node.json`` a file of the test's; ``npm ci`` has run."""
    readme = (NODE_DIR / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    script = (
        block.replace(".venv/bin/santeid", SANTEID)
        .replace("/tmp/psc-node.json", str(tmp_path / "psc-node.json"))  # noqa: S108
        .replace("(cd examples/psc-node-openid-client && npm ci)", "")
    )
    env = {
        **{k: v for k, v in server.env.items() if not k.startswith("PSC_")},
        "PSC_ISSUER": server.issuer,
        "PSC_SESSION": str(tmp_path / "session.json"),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=NODE_DIR.parents[1], env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    registered, answers = done.stdout.split("\n", 1)
    assert registered == "registered client psc-node (client_secret_basic)"
    # Two JSON answers: the CIBA login's token set, then the userinfo.
    tokens, end = json.JSONDecoder().raw_decode(answers)
    userinfo = json.loads(answers[end:])
    assert tokens["claims"]["SubjectNameID"] == PROFESSIONAL
    assert tokens["claims"]["aud"] == "psc-node"
    assert userinfo["SubjectNameID"] == PROFESSIONAL and userinfo["sub"] == tokens["claims"]["sub"]


def test_over_https_as_at_psc(example, tmp_path_factory):
    """An ``https://`` issuer, as PSC's: the library's default, HTTPS only (no
    ``allowInsecureRequests``), the server's certificate checked against its authority
    (``NODE_EXTRA_CA_CERTS``, ``santeid tls dev-cert``'s). The browser's login and CIBA."""
    home = tmp_path_factory.mktemp("openid-client-https")
    tls, ca = santeid_home(home).dev_tls()
    with santeid_process(home, args=["--sandbox", *tls], ca=ca) as https_server:
        assert https_server.issuer.startswith("https://")
        rp = service(example, https_server, home, "node-https", env={"NODE_EXTRA_CA_CERTS": ca})
        assert rp.ok("discover")["token_endpoint"].startswith("https://")
        browser = requests.Session()
        browser.trust_env = False  # REQUESTS_CA_BUNDLE would override the authority
        browser.verify = ca
        tokens = rp.log_in(browser)
        assert tokens["claims"]["iss"] == https_server.issuer
        assert rp.ok("userinfo")["SubjectNameID"] == PROFESSIONAL
        assert rp.ok("ciba", PROFESSIONAL)["claims"]["SubjectNameID"] == PROFESSIONAL

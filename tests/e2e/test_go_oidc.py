"""A Go service and API on go-oidc (https://github.com/coreos/go-oidc, the library under
oauth2-proxy and Dex's examples; Debian 12 packages release 2.1.0, import path
``github.com/coreos/go-oidc``) and golang.org/x/oauth2 (Debian 12: 0.3.0), pointed at a real
``santeid serve`` over HTTPS, as PSC answers, configured as go-oidc's README says with only the
issuer changed to santeid's realm (``<base>/auth/realms/esante-wallet``).

The program is ``tests/e2e/go_oidc/main.go``, built once per test module from Debian's
packaged sources in GOPATH mode (no Go module proxy needed), which ``.ci/run`` installs
(``golang-go``, ``golang-github-coreos-go-oidc-dev``, ``golang-golang-x-oauth2-dev``). Go's
HTTP client trusts santeid's development authority through ``SSL_CERT_FILE``.

What go-oidc 2.1 does, read in its source (oidc.go, verify.go, jwks.go at
https://github.com/coreos/go-oidc/tree/v2.1.0): ``NewProvider`` reads
``{issuer}/.well-known/openid-configuration`` and refuses a document whose ``issuer`` is not
the URL it was given, byte for byte; ``Verifier(&Config{ClientID})`` checks ``iss``, that
``aud`` contains the client, ``exp`` (no leeway; ``nbf`` with one minute), the algorithm
against ``SupportedSigningAlgs`` (RS256 alone unless set: this release does not read the
discovery document's ``id_token_signing_alg_values_supported``) and the signature against the
JWK Set, which it fetches again when a token fails against the keys it holds and the set's
``Cache-Control`` lifetime is within 30 s of its end (santeid's certs answer ``no-cache``, as
Keycloak's: at once). The nonce and ``at_hash`` are the service's to check, with
``IDToken.Nonce`` and ``IDToken.VerifyAccessToken``. A Go API verifies PSC's access tokens with
the same verifier and ``SkipClientIDCheck`` (they carry no ``aud``, docs/psc-integration.md
"Resource servers run against santeid")."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from tests.support.browser import wait_for
from tests.support.http_login import login_from_service
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.redis_server import free_port
from tests.support.servers import running_server
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

SOURCE = Path(__file__).resolve().parent / "go_oidc" / "main.go"
GO = shutil.which("go")
GOPATH = Path("/usr/share/gocode")
#: The packages the program imports, as Debian installs them under GOPATH.
PACKAGES = ("github.com/coreos/go-oidc", "golang.org/x/oauth2")
MISSING = (
    "go" if GO is None else next((p for p in PACKAGES if not (GOPATH / "src" / p).is_dir()), "")
)

pytestmark = [
    pytest.mark.server,
    # Outside CI only: CI installs them (.ci/run), and there the test must run.
    pytest.mark.skipif(
        bool(MISSING) and not os.environ.get("CI"),
        reason=f"{MISSING} is missing: apt-get install golang-go "
        "golang-github-coreos-go-oidc-dev golang-golang-x-oauth2-dev (.ci/run installs them)",
    ),
]

CLIENT_ID = "go-oidc-service"
SECRET = "a-long-secret-for-the-go-oidc-service-0001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The access-token lifetime of the server whose tokens expire during a test: long enough for
#: a login and a first call on a busy test machine, short enough to wait out.
SHORT_LIFETIME = 8


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    """``main.go`` built with Debian's go-oidc and x/oauth2 in GOPATH mode."""
    assert not MISSING, f"{MISSING} is missing: .ci/run installs it"
    assert GO is not None
    build = tmp_path_factory.mktemp("go-oidc-build")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{GOPATH}:{build / 'gopath'}",
        "GOFLAGS": "",
        "GOCACHE": str(build / "cache"),
    }
    binary = build / "service"
    done = subprocess.run(
        [GO, "build", "-o", str(binary), str(SOURCE)],
        env=env,
        cwd=SOURCE.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return binary


def https_server(home: Path, **settings: str):
    """``santeid serve`` in sandbox mode over HTTPS with a development certificate."""
    tls, ca = santeid_home(home).dev_tls()
    return santeid_process(
        home, args=["--sandbox", *tls], ca=ca, SANTEID_STORE_URL="memory://", **settings
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with https_server(tmp_path_factory.mktemp("go-oidc")) as process:
        assert process.issuer.startswith("https://")
        yield process


def service_env(server, client_id: str, secret: str, port: int, **env: str) -> dict:
    return {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "ISSUER": server.issuer,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "SSL_CERT_FILE": server.ca,
        **env,
    }


@contextlib.contextmanager
def go_service(
    program: Path,
    server,
    folder: Path,
    client_id: str = CLIENT_ID,
    *,
    secret: str = SECRET,
    register: dict | None = None,
    **env: str,
):
    """The Go service, registered at santeid as an operator registers it (``register``: more
    metadata), then started with ``secret`` as its client secret; its origin."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/callback"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        **(register or {}),
    )
    environment = service_env(server, client_id, secret, port, **env)
    log = folder / f"{client_id}-{port}.log"
    with running_server([str(program)], environment, log, f"{origin}/health"):
        yield origin


@pytest.fixture(scope="module")
def site(program, server, tmp_path_factory):
    with go_service(program, server, tmp_path_factory.mktemp("go-oidc-log")) as origin:
        yield origin


def browser_for(server) -> requests.Session:
    """The professional's browser, trusting santeid's development authority (and nothing
    from the environment that would override it)."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = server.ca
    return browser


def log_in(server, site: str, national_id: str = PROFESSIONAL, **changes: str) -> dict:
    """The professional logs in from the service's ``/login`` (``changes`` made to the
    authorization request on its way): what its callback shows, with the browser."""
    browser = browser_for(server)
    callback = login_from_service(
        browser, f"{site}/login", f"{site}/callback", national_id, **changes
    )
    answer = browser.get(callback, timeout=30)
    return {"status": answer.status_code, "browser": browser, **answer.json()}


def api(site: str, token: str, path: str = "/api") -> tuple[int, dict]:
    answer = requests.get(f"{site}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return answer.status_code, answer.json()


def jwks_fetches(site: str) -> int:
    return requests.get(f"{site}/stats", timeout=10).json()["jwks_fetches"]


# --- The relying party ---------------------------------------------------------------------


def test_new_provider_wants_the_issuer_exactly(program, server, site):
    """``oidc.NewProvider`` with the realm's issuer succeeds (the service is up, its endpoints
    from discovery); given the issuer with a trailing slash, it fetches the same document and
    refuses it, since the document's ``issuer`` has none — as Keycloak's, whose issuer is the
    realm URL without one."""
    assert requests.get(f"{site}/health", timeout=10).status_code == 200
    port = free_port()
    env = service_env(server, CLIENT_ID, SECRET, port, ISSUER=f"{server.issuer}/")
    done = subprocess.run(
        [str(program)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "oidc: issuer did not match the issuer returned by provider" in done.stderr
    assert f'expected "{server.issuer}/" got "{server.issuer}"' in done.stderr


def test_the_code_flow_verifies_the_id_token_and_reads_userinfo(server, site):
    """``AuthCodeURL`` with a state, ``oidc.Nonce``, ``acr_values`` and a PKCE S256 challenge;
    at the callback the state checked, ``Exchange`` with the verifier (``client_secret_basic``),
    the ID token through ``Verifier(&oidc.Config{ClientID})`` (signature by the JWK Set,
    ``iss``, ``aud``, ``exp``), its nonce and ``at_hash`` (``VerifyAccessToken``), then
    ``UserInfo`` with the access token: PSC's claims in both."""
    browser = browser_for(server)
    sent = browser.get(f"{site}/login", allow_redirects=False, timeout=10)
    url = urlsplit(sent.headers["Location"])
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.oidc}/auth"
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["scope"] == "openid scope_all" and query["acr_values"] == "eidas1"
    assert query["state"] and query["nonce"] and query["redirect_uri"] == f"{site}/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43

    shown = log_in(server, site)
    assert shown["status"] == 200, shown
    verified, claims, token = shown["verified"], shown["id_token"], shown["token"]
    assert verified["issuer"] == server.issuer and verified["audience"] == [CLIENT_ID]
    assert verified["nonce"] and verified["at_hash"] == claims["at_hash"]
    assert claims["SubjectNameID"] == PROFESSIONAL and claims["acr"] == "eidas1"
    assert claims["azp"] == CLIENT_ID and claims["typ"] == "ID"
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    assert token["scope"] == "openid scope_all" and token["session_state"]
    assert token["refresh_expires_in"] > 0
    assert 0 < token["expiry"] - time.time() <= 120
    userinfo = shown["userinfo"]
    assert userinfo["sub"] == userinfo["go_oidc_subject"] == verified["subject"]
    assert userinfo["SubjectNameID"] == PROFESSIONAL
    assert (userinfo["given_name"], userinfo["family_name"]) == ("CLEMENT", "ARNAUD")
    assert userinfo["SubjectRefPro"]["exercices"]


def test_userinfo_with_the_sessions_access_token(server, site):
    """``provider.UserInfo`` with a ``StaticTokenSource`` of the token kept in the session."""
    browser = log_in(server, site)["browser"]
    userinfo = browser.get(f"{site}/userinfo", timeout=30).json()
    assert userinfo["SubjectNameID"] == PROFESSIONAL


def test_an_altered_state_or_nonce_is_refused_by_the_service(server, site):
    """The state comes back as sent (the service compares it to its cookie), and santeid
    puts the request's nonce into the ID token (``IDToken.Nonce``, which the service compares
    to its own): either altered on the way, the login is refused."""
    shown = log_in(server, site, state="altered")
    assert (shown["status"], shown["error"]) == (400, "state did not match")
    shown = log_in(server, site, nonce="altered")
    assert (shown["status"], shown["error"]) == (400, "nonce did not match")


def test_an_altered_pkce_challenge_fails_the_exchange(program, server, tmp_path):
    """x/oauth2 0.3 has no PKCE helpers: the service sends ``code_challenge`` and
    ``code_challenge_method`` through ``SetAuthURLParam``, and the verifier with ``Exchange``
    (RFC 7636). Another challenge on the way: Keycloak's ``invalid_grant`` "PKCE verification
    failed: Code mismatch", which ``Exchange`` returns when the client authenticates one way
    (``AuthStyleInHeader``). Left to probe (the default, until a first exchange succeeds),
    x/oauth2 takes any error for a refused authentication and sends the code again with the
    secret in the form: the code was spent by the first try, as Keycloak spends it
    (docs/reference/keycloak-behaviour.md, "Token endpoint"), and ``Exchange`` returns the
    second answer, "Code not valid"."""
    other = hashlib.sha256(b"another verifier").digest()
    challenge = base64.urlsafe_b64encode(other).rstrip(b"=").decode()
    errors = {}
    for style in ("header", ""):
        client_id = f"go-oidc-pkce-{style or 'probing'}"
        with go_service(program, server, tmp_path, client_id, AUTH_STYLE=style) as site:
            shown = log_in(server, site, code_challenge=challenge)
        assert shown["status"] == 500
        assert shown["error"].startswith("oauth2: cannot fetch token: 400")
        errors[style] = json.loads(shown["error"].split("Response: ", 1)[1])
    assert errors == {
        "header": {
            "error": "invalid_grant",
            "error_description": "PKCE verification failed: Code mismatch",
        },
        "": {"error": "invalid_grant", "error_description": "Code not valid"},
    }


def test_the_token_source_refreshes_an_expired_access_token(server, site):
    """``config.TokenSource`` with the session's token, its ``Expiry`` past: x/oauth2 sends
    the refresh grant before ``UserInfo``; the new tokens are of the same session, with an ID
    token that the verifier accepts (``at_hash`` of the new access token)."""
    browser = log_in(server, site)["browser"]
    shown = browser.get(f"{site}/refresh", timeout=30).json()
    old, new = shown["old"], shown["new"]
    assert new["access_token"] != old["access_token"] and new["refresh_token"]
    assert new["session_state"] == old["session_state"]
    assert shown["id_token"]["SubjectNameID"] == PROFESSIONAL
    assert shown["userinfo"]["SubjectNameID"] == PROFESSIONAL
    assert browser.get(f"{site}/userinfo", timeout=30).json()["SubjectNameID"] == PROFESSIONAL


def test_a_login_refused_on_the_phone(server, site):
    """The professional refuses on the sandbox phone and gives up: ``access_denied`` without
    a description, as from Keycloak (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint")."""
    browser = browser_for(server)
    callback = login_from_service(
        browser, f"{site}/login", f"{site}/callback", DENYING, refused=True
    )
    assert browser.get(callback, timeout=30).json() == {
        "error": "access_denied",
        "error_description": "",
    }


def test_a_wrong_client_secret_fails_the_exchange(program, server, tmp_path):
    """x/oauth2 tries HTTP Basic, then the secret in the form; both are Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials" (§5.1), which
    ``Exchange`` returns as its ``RetrieveError``."""
    with go_service(program, server, tmp_path, "go-oidc-wrong", secret="not-the-secret") as site:
        shown = log_in(server, site)
    assert shown["status"] == 500
    assert shown["error"].startswith("oauth2: cannot fetch token: 401")
    assert "Invalid client or Invalid client credentials" in shown["error"]


def test_psc_wallet_discovery_without_new_provider(program, server, tmp_path):
    """``NewProvider`` reads ``{issuer}/.well-known/openid-configuration`` alone, and go-oidc
    2.1 builds a ``Provider`` no other way; a service configured from PSC's wallet discovery
    document (docs/reference/pro-sante-connect.md §1) reads it itself, then builds its
    verifier with ``oidc.NewRemoteKeySet`` on its ``jwks_uri`` and ``oidc.NewVerifier`` with
    the issuer, and x/oauth2's ``Endpoint`` from its endpoints: the professional is sent to
    the wallet's ``authorization_endpoint``; userinfo is a plain call through
    ``oauth2.NewClient``."""
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    document = requests.get(wallet, verify=server.ca, timeout=10).json()
    assert document["authorization_endpoint"] == f"{server.base}/auth"
    with go_service(program, server, tmp_path, "go-oidc-wallet", DISCOVERY_URL=wallet) as site:
        sent = browser_for(server).get(f"{site}/login", allow_redirects=False, timeout=10)
        assert sent.headers["Location"].startswith(f"{server.base}/auth?")
        shown = log_in(server, site)
        assert shown["status"] == 200, shown
        assert shown["verified"]["issuer"] == server.issuer
        assert shown["verified"]["audience"] == ["go-oidc-wallet"]
        assert shown["userinfo"]["SubjectNameID"] == PROFESSIONAL
        status, claims = api(site, shown["token"]["access_token"])
    assert (status, claims["azp"]) == (200, "go-oidc-wallet")


def test_a_signed_userinfo_answer_is_not_read(program, server, tmp_path):
    """A client registered with ``userinfo_signed_response_alg``: userinfo answers an RS256
    JWT (``application/jwt``), as Keycloak's does; go-oidc 2.1's ``UserInfo`` decodes JSON
    only and fails (its 3.x verifies such an answer against the JWK Set)."""
    signed = {"userinfo_signed_response_alg": "RS256"}
    with go_service(program, server, tmp_path, "go-oidc-signed", register=signed) as site:
        shown = log_in(server, site)
    assert shown["status"] == 500
    assert shown["error"].startswith("oidc: failed to decode userinfo: invalid character")


# --- The resource server -------------------------------------------------------------------


def access_token(server, site: str) -> str:
    return log_in(server, site)["token"]["access_token"]


def test_the_api_verifies_a_professionals_access_token(server, site):
    """``Verifier(&oidc.Config{SkipClientIDCheck: true})``: signature, ``iss`` and ``exp``;
    then ``typ`` is ``Bearer``. The claims are PSC's, without ``aud``."""
    status, claims = api(site, access_token(server, site))
    assert status == 200, claims
    assert claims["azp"] == CLIENT_ID and claims["typ"] == "Bearer"
    assert claims["preferred_username"] == PROFESSIONAL
    assert claims["scope"].split() == ["openid", "scope_all"]
    assert "aud" not in claims


def test_the_readme_verifier_refuses_access_tokens_without_aud(server, site):
    """``Verifier(&oidc.Config{ClientID})``, as the README configures one for ID tokens,
    requires ``aud`` to contain the client: PSC's access tokens have no ``aud``, so it refuses
    every one, at PSC as here."""
    status, shown = api(site, access_token(server, site), "/api/audience")
    assert status == 401
    assert shown["error"] == f'oidc: expected audience "{CLIENT_ID}" got []'


def test_an_id_token_passes_the_verifier_and_fails_the_typ_check(server, site):
    """go-oidc reads every JWT as an ID token: the realm's ID token passes the access
    verifier (same key, same issuer); the API's check of ``typ`` refuses it."""
    id_token = log_in(server, site)["token"]["id_token"]
    status, shown = api(site, id_token)
    assert (status, shown) == (401, {"error": "not an access token: typ is not Bearer"})


def test_a_tampered_token_is_refused_after_one_more_fetch(server, site):
    """A token re-signed by another key under santeid's ``kid``, or under an unknown one:
    the signature fails against the keys held, the JWK Set is fetched again (santeid's
    ``no-cache``, as Keycloak's) and the token refused; so is a token whose claims were
    changed under santeid's signature."""
    token = access_token(server, site)
    assert api(site, token)[0] == 200
    for kid in (kid_of(token), "an-unknown-kid"):
        fetches = jwks_fetches(site)
        status, shown = api(site, forged(token, kid))
        assert (status, shown["error"]) == (
            401,
            "failed to verify signature: failed to verify id token signature",
        )
        assert jwks_fetches(site) == fetches + 1
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    other = {**claims, "preferred_username": "810000000031"}
    altered = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
    status, shown = api(site, f"{header}.{altered}.{signature}")
    assert (status, shown["error"]) == (
        401,
        "failed to verify signature: failed to verify id token signature",
    )


def test_a_key_rotation_is_followed_by_one_fetch(server, site):
    """``santeid keys rotate``: the new key signs at once. The token of the new ``kid`` fails
    against the keys held, go-oidc fetches the set again once and accepts it; a token signed
    before still verifies from the keys held, its key retired but published (docs/keys.md)."""
    before = log_in(server, site)
    assert api(site, before["token"]["access_token"])[0] == 200
    fetches = jwks_fetches(site)
    new_kid = rotated(server)
    after = wait_for(
        lambda: (
            (shown := log_in(server, site))["status"] == 200
            and kid_of(shown["token"]["id_token"]) == new_kid
            and shown
        ),
        timeout=30,
        what=f"an ID token signed with {new_kid}",
    )
    assert kid_of(after["token"]["access_token"]) == new_kid
    assert after["id_token"]["SubjectNameID"] == PROFESSIONAL
    assert jwks_fetches(site) == fetches + 1
    assert api(site, after["token"]["access_token"])[0] == 200
    assert api(site, before["token"]["access_token"])[0] == 200
    assert jwks_fetches(site) == fetches + 1


@pytest.fixture(scope="module")
def short_lived(program, tmp_path_factory):
    """A server whose access tokens live :data:`SHORT_LIFETIME` seconds, and a service."""
    home = tmp_path_factory.mktemp("go-oidc-short")
    with (
        https_server(home, SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME)) as server,
        go_service(program, server, home) as origin,
    ):
        yield server, origin


def test_an_expired_access_token_is_refused(short_lived):
    """Once ``exp`` has passed the verifier refuses the token: go-oidc allows no clock skew
    on ``exp``."""
    server, site = short_lived
    token = access_token(server, site)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == SHORT_LIFETIME
    assert api(site, token)[0] == 200
    shown = wait_for(
        lambda: (answer := api(site, token))[0] == 401 and answer[1],
        timeout=SHORT_LIFETIME + 10,
        what="the expired token refused",
    )
    assert shown["error"].startswith("oidc: token is expired")


# --- Signing algorithms --------------------------------------------------------------------


@pytest.fixture(scope="module")
def es256_server(tmp_path_factory):
    """A server that also holds an ES256 key: discovery lists RS256 and ES256."""
    home = tmp_path_factory.mktemp("go-oidc-es256")
    santeid_home(home).cli("keys", "generate", "--alg", "ES256")
    with https_server(home) as server:
        yield server


def test_es256_id_tokens_need_the_algorithms_of_discovery(program, es256_server, tmp_path):
    """A client registered with ``id_token_signed_response_alg`` ES256: go-oidc 2.1's verifier
    accepts RS256 alone unless told otherwise (its 3.x reads discovery's
    ``id_token_signing_alg_values_supported``), so the README's configuration refuses the ID
    token; with ``SupportedSigningAlgs`` from ``provider.Claims`` it verifies it, ``at_hash``
    with SHA-256."""
    discovery = requests.get(
        f"{es256_server.issuer}/.well-known/openid-configuration",
        verify=es256_server.ca,
        timeout=10,
    ).json()
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    es256 = {"id_token_signed_response_alg": "ES256"}
    with go_service(program, es256_server, tmp_path, "go-oidc-es256", register=es256) as site:
        shown = log_in(es256_server, site)
    assert shown["status"] == 500
    assert shown["error"] == (
        'oidc: id token signed with unsupported algorithm, expected ["RS256"] got "ES256"'
    )
    with go_service(
        program,
        es256_server,
        tmp_path,
        "go-oidc-es256-discovery",
        register=es256,
        ID_TOKEN_ALGS="discovery",
    ) as site:
        shown = log_in(es256_server, site)
    assert shown["status"] == 200, shown
    assert jwt.get_unverified_header(shown["token"]["id_token"])["alg"] == "ES256"
    assert shown["verified"]["at_hash"] and shown["id_token"]["SubjectNameID"] == PROFESSIONAL

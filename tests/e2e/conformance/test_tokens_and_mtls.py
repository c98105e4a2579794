"""Request shapes of real PSC integrations, against a real ``santeid serve`` process set up as
``make run`` does (HTTP on one port, HTTPS asking for client certificates on ``--tls-port``):

* a service refreshing on every request, from two tabs at once, with one refresh token —
  Keycloak's default lets all of them succeed (``refresh_token_revoke`` off); with the strict
  setting the reuse revokes the grant;
* what a client decodes: the refresh token (HS512, realm HMAC secret, ``typ`` Refresh) and the
  ID token (PSC's ``auth_level`` and ``scope``, an ``authMode`` PSC sends);
* a production client authenticating by its certificate (``tls_client_auth``), taking its URLs
  from discovery's ``mtls_endpoint_aliases``: its pushed authorization request is accepted
  there, its access token is bound to the certificate (RFC 8705 §3) and refused without it or
  with another one;
* a client authenticating with its secret whose tokens are bound to the certificate it
  presents (RFC 8705 §3.4 ``tls_client_certificate_bound_access_tokens``), as ANS's proof of
  concept presents one: Keycloak's refusals without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.oidc_flow import KEYCLOAK_TOKEN_MEMBERS
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import userinfo_refusal
from tests.support.servers import establishment_certificates
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

REDIRECT_URI = "https://rp.example.org/callback"
SECRET = "a-long-secret-for-the-conformance-test-0123456789"
MTLS_DN = "CN=logiciel-psc,O=Etablissement Test,C=FR"
#: Keycloak's userinfo words for a certificate-bound token without its certificate.
CERTIFICATE_MISMATCH = (
    "Client certificate missing, or its thumbprint and one in the refresh token did NOT match"
)
#: Keycloak's token endpoint without the certificate a client's tokens are to be bound to.
CERTIFICATE_MISSING = "Client Certification missing for MTLS HoK Token Binding"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Keys, demo directory, server certificate, clients and client certificates, made once."""
    prepared = santeid_home(tmp_path_factory.mktemp("conformance"))
    path = prepared.home
    prepared.cli("directory", "seed-demo")
    prepared.cli("tls", "dev-cert", "--out", str(path / "tls"))
    # The establishment's authority (tls_client_auth_ca_file), and two of its
    # certificates: the registered one and another.
    establishment_certificates(
        path,
        {
            "machine": ("logiciel-psc", "Etablissement Test"),
            "other": ("autre-logiciel", "Etablissement Test"),
        },
        authority="rp-ca",
    )
    prepared.register(
        "rp-web",
        client_name="Service web",
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    # A client that authenticates with its secret, its tokens bound to the certificate it
    # presents: Keycloak's "OAuth 2.0 Mutual TLS Certificate Bound Access Tokens Enabled".
    prepared.register(
        "rp-web-bound",
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
        tls_client_certificate_bound_access_tokens=True,
    )
    prepared.register(
        "rp-mtls",
        client_name="Logiciel en mTLS",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn=MTLS_DN,
    )
    listed = json.loads(prepared.cli("directory", "list", "--sandbox", "--json").stdout)
    return {"path": path, "national_id": listed[0]["national_id"]}


def _serve(home, name: str, **settings: str):
    path = home["path"]
    tls = ["--tls-cert", str(path / "tls" / "cert.pem"), "--tls-key", str(path / "tls" / "key.pem")]
    # The establishment's authority vouches for the clients' certificates: the TLS layer asks
    # for them (no --client-ca: serve takes tls_client_auth_ca_file) and tls_client_auth
    # checks them against it.
    authority = str(path / "rp-ca" / "rp-ca.pem")
    with santeid_process(
        path, args=["--sandbox", *tls], tls_port=True, log_name=f"server-{name}.log",
        SANTEID_TLS_CLIENT_AUTH_CA_FILE=authority, **settings,
    ) as server:  # fmt: skip
        yield {
            "base": server.base,
            "issuer": server.issuer,
            "ca": str(path / "tls" / "ca.pem"),
            "home": path,
            "national_id": home["national_id"],
        }


@pytest.fixture(scope="module")
def server(home):
    """Defaults, as ``make run``."""
    yield from _serve(home, "default")


@pytest.fixture(scope="module")
def strict_server(home):
    """Keycloak's "Revoke Refresh Token" on (max reuse 0)."""
    yield from _serve(home, "strict", SANTEID_REFRESH_TOKEN_REVOKE="true")


def _discovery(server) -> dict:
    url = f"{server['issuer']}/.well-known/wallet-openid-configuration"
    return requests.get(url, timeout=10).json()


def _pkce() -> tuple[str, str]:
    verifier = generate_token(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorization_code(server, client_id: str, challenge: str) -> str:
    """A browser's login: the authorization URL, the login page, the sandbox approval."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "state": generate_token(16),
        "nonce": generate_token(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorization = _discovery(server)["authorization_endpoint"]
    browser = requests.Session()
    browser.trust_env = False
    response = browser.get(f"{authorization}?{urlencode(query)}", allow_redirects=False)
    assert response.status_code == 302, response.text
    login_url = urljoin(authorization, response.headers["Location"])
    page = browser.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    step = browser.post(
        login_url,
        data={"national_id": server["national_id"], "csrf_token": csrf},
        allow_redirects=False,
    )
    if step.status_code != 302:  # the waiting page: poll until the sandbox approves
        tx = parse_qs(urlsplit(login_url).query)["tx"][0]
        actions = f"{server['issuer']}/login-actions"
        for _ in range(100):
            if browser.get(f"{actions}/status", params={"tx": tx}).json()["state"] == "approved":
                break
            time.sleep(0.05)
        step = browser.get(f"{actions}/complete", params={"tx": tx}, allow_redirects=False)
    while step.status_code == 302 and not step.headers["Location"].startswith(REDIRECT_URI):
        step = browser.get(urljoin(login_url, step.headers["Location"]), allow_redirects=False)
    assert step.status_code == 302, step.text
    return parse_qs(urlsplit(step.headers["Location"]).query)["code"][0]


def _login(server) -> dict:
    """The web service's code flow (client_secret_basic), as a PSC integration does it."""
    verifier, challenge = _pkce()
    code = _authorization_code(server, "rp-web", challenge)
    response = requests.post(
        _discovery(server)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=("rp-web", SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(server, refresh_token: str) -> requests.Response:
    return requests.post(
        _discovery(server)["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("rp-web", SECRET),
        timeout=10,
    )


def _refresh_twice_at_once(server, refresh_token: str) -> list[requests.Response]:
    """Two tabs refreshing with the same token at the same moment."""
    start = threading.Barrier(2)

    def tab(_):
        start.wait()
        return _refresh(server, refresh_token)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(tab, range(2)))


def _decode_unverified(token: str) -> tuple[dict, dict]:
    def part(segment: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    header, payload, _ = token.split(".")
    return part(header), part(payload)


# -- refresh tokens ------------------------------------------------------------------------------
def test_concurrent_refreshes_with_one_token_then_a_third_all_succeed(server):
    tokens = _login(server)
    first, second = _refresh_twice_at_once(server, tokens["refresh_token"])
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    third = _refresh(server, tokens["refresh_token"])
    assert third.status_code == 200, third.text
    body = third.json()
    assert list(body) == KEYCLOAK_TOKEN_MEMBERS
    # Every access token given out still works: nobody was logged out.
    userinfo = _discovery(server)["userinfo_endpoint"]
    for response in (first, second, third):
        access = response.json()["access_token"]
        answer = requests.get(userinfo, headers={"Authorization": f"Bearer {access}"}, timeout=10)
        assert answer.status_code == 200, answer.text


def test_strict_setting_revokes_the_family_on_reuse(strict_server):
    tokens = _login(strict_server)
    first, second = _refresh_twice_at_once(strict_server, tokens["refresh_token"])
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 400], (first.text, second.text)
    refused = first if first.status_code == 400 else second
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "Maximum allowed refresh token reuse exceeded",
    }
    winner = second if refused is first else first
    # The reuse revoked the grant: the token the winner got is refused too, and so is its
    # access token.
    third = _refresh(strict_server, winner.json()["refresh_token"])
    assert third.status_code == 400 and third.json()["error"] == "invalid_grant"
    userinfo = _discovery(strict_server)["userinfo_endpoint"]
    access = winner.json()["access_token"]
    answer = requests.get(userinfo, headers={"Authorization": f"Bearer {access}"}, timeout=10)
    # Keycloak detaches the client from the user session on reuse: userinfo finds no session
    # for the token (docs/reference/keycloak-behaviour.md, "Userinfo").
    assert userinfo_refusal(answer) == keycloak_refusal(
        401, "invalid_token", "user_session_not_found"
    )


# -- what a client decodes ----------------------------------------------------------------------
def test_refresh_token_is_hs512_with_a_realm_secret_not_in_the_jwks(server):
    tokens = _login(server)
    header, claims = _decode_unverified(tokens["refresh_token"])
    assert list(header) == ["alg", "typ", "kid"]
    assert header["alg"] == "HS512" and header["typ"] == "JWT"
    assert claims["typ"] == "Refresh" and claims["aud"] == server["issuer"]
    assert claims["exp"] - claims["iat"] == tokens["refresh_expires_in"] == 1800
    published = requests.get(_discovery(server)["jwks_uri"], timeout=10).json()["keys"]
    assert header["kid"] not in {key["kid"] for key in published}
    assert all(key["kty"] != "oct" and "k" not in key for key in published)


def test_id_token_carries_auth_level_scope_and_a_psc_auth_mode(server):
    tokens = _login(server)
    jwks = KeySet.import_key_set(requests.get(_discovery(server)["jwks_uri"], timeout=10).json())
    claims = jwt.decode(tokens["id_token"], jwks, algorithms=["RS256"]).claims
    assert claims["auth_level"] == "1"
    assert claims["scope"] == "openid scope_all"
    assert claims["authMode"] in ("CARD", "MOBILE")  # the sandbox login reports MOBILE
    assert claims["acr"] == "eidas1"


def test_userinfo_without_token_is_keycloaks_bare_challenge(server):
    response = requests.get(_discovery(server)["userinfo_endpoint"], timeout=10)
    assert userinfo_refusal(response) == keycloak_refusal(401)


def test_userinfo_post_takes_the_header_or_the_form_not_both(server):
    """Keycloak's ``UserInfoEndpoint.issueUserInfoPost``: the Bearer header's token, or the
    form's ``access_token`` — a client sending both is refused, whichever is valid."""
    access = _login(server)["access_token"]
    userinfo = _discovery(server)["userinfo_endpoint"]

    def post(authorization: str, form_token: str) -> requests.Response:
        return requests.post(
            userinfo,
            headers={"Authorization": authorization},
            data={"access_token": form_token},
            timeout=10,
        )

    two_ways = keycloak_refusal(
        400, "invalid_request", "More than one method used for including an access token"
    )
    for header, form_token in ((access, access), ("not-a-token", access), (access, "x")):
        assert userinfo_refusal(post(f"Bearer {header}", form_token)) == two_ways
    # A header that is not a Bearer token is no token: the form's is read.
    basic = post("Basic cnAtd2ViOnNlY3JldA==", access)
    assert basic.status_code == 200, basic.text
    assert basic.json()["sub"]


# -- mTLS as PSC deploys it for production clients ------------------------------------------------
def _tls(server, folder: str | None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= (requests#3829)
    session.verify = server["ca"]
    if folder:
        path = server["home"] / folder
        session.cert = (str(path / "cert.pem"), str(path / "key.pem"))
    return session


def _thumbprint(folder: Path) -> str:
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_discovery_advertises_the_tls_listener(server):
    """Every endpoint that accepts ``tls_client_auth`` has its alias on the TLS listener, named
    as Keycloak names them (docs/reference/pro-sante-connect.md §2, ``mtls_endpoint_aliases``;
    RFC 8705 §5), in Keycloak's order."""
    document = _discovery(server)
    assert document["tls_client_certificate_bound_access_tokens"] is True
    aliases = document["mtls_endpoint_aliases"]
    assert list(aliases) == [
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
        "pushed_authorization_request_endpoint",
        "backchannel_authentication_endpoint",
    ]
    tls_origin = urlsplit(aliases["token_endpoint"]).netloc
    for name, alias in aliases.items():
        assert urlsplit(alias).scheme == "https"
        assert urlsplit(alias).netloc == tls_origin
        assert urlsplit(alias).path == urlsplit(document[name]).path


def test_mtls_client_pushes_its_authorization_request_through_the_alias(server):
    """RFC 9126 §2 with RFC 8705 §2 client authentication: the client sends PAR where
    discovery's ``mtls_endpoint_aliases`` says (RFC 8705 §5), with its certificate, and the
    pushed request then serves at the authorization endpoint."""
    aliases = _discovery(server)["mtls_endpoint_aliases"]
    _, challenge = _pkce()
    form = {
        "response_type": "code",
        "client_id": "rp-mtls",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "par-mtls",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    # Without a certificate, or with one that is not the registered one: refused, as
    # Keycloak's PAR endpoint refuses any failed client authentication.
    for presenter in (_tls(server, None), _tls(server, "other")):
        refused = presenter.post(
            aliases["pushed_authorization_request_endpoint"], data=form, timeout=10
        )
        assert refused.status_code == 401, refused.text
        assert refused.json() == {
            "error": "invalid_request",
            "error_description": "Authentication failed.",
        }
    pushed = _tls(server, "machine").post(
        aliases["pushed_authorization_request_endpoint"], data=form, timeout=10
    )
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    authorization = _discovery(server)["authorization_endpoint"]
    browser = requests.Session()
    browser.trust_env = False
    query = urlencode({"client_id": "rp-mtls", "request_uri": request_uri})
    response = browser.get(f"{authorization}?{query}", allow_redirects=False)
    # The pushed request is accepted: the browser goes on to the login page.
    assert response.status_code == 302, response.text
    assert "login-actions/authenticate" in response.headers["Location"]


def test_mtls_client_from_discovery_gets_a_bound_token(server):
    aliases = _discovery(server)["mtls_endpoint_aliases"]
    machine = _tls(server, "machine")
    verifier, challenge = _pkce()
    code = _authorization_code(server, "rp-mtls", challenge)
    response = machine.post(
        aliases["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": "rp-mtls",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    _, claims = _decode_unverified(tokens["access_token"])
    thumbprint = _thumbprint(server["home"] / "machine")
    assert claims["cnf"] == {"x5t#S256": thumbprint}

    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    answer = machine.get(aliases["userinfo_endpoint"], headers=bearer, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["SubjectNameID"] == server["national_id"]

    # Introspection returns the binding, for resource servers that check it themselves.
    introspected = machine.post(
        aliases["introspection_endpoint"],
        data={"token": tokens["access_token"], "client_id": "rp-mtls"},
        timeout=10,
    ).json()
    assert introspected["active"] is True
    assert introspected["cnf"] == {"x5t#S256": thumbprint}

    # RFC 8705 §3: without the certificate, or with another one, the token is refused, in
    # Keycloak's words (UserInfoEndpoint, docs/reference/keycloak-behaviour.md).
    unbound = keycloak_refusal(401, "invalid_token", CERTIFICATE_MISMATCH)
    for presenter in (_tls(server, None), _tls(server, "other")):
        refused = presenter.get(aliases["userinfo_endpoint"], headers=bearer, timeout=10)
        assert userinfo_refusal(refused) == unbound
    plain = requests.get(_discovery(server)["userinfo_endpoint"], headers=bearer, timeout=10)
    assert userinfo_refusal(plain) == unbound

    # A refresh over the same certificate gives a token bound to it again.
    refreshed = machine.post(
        aliases["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "rp-mtls",
        },
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert _decode_unverified(refreshed.json()["access_token"])[1]["cnf"] == claims["cnf"]


def _code_exchange(session: requests.Session, url: str, code: str, verifier: str):
    return session.post(
        url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
              "code_verifier": verifier},
        auth=("rp-web-bound", SECRET), timeout=10,
    )  # fmt: skip


def test_a_secret_client_s_tokens_bound_to_its_certificate(server):
    """``tls_client_certificate_bound_access_tokens`` (RFC 8705 §3.4), Keycloak's per-client
    "OAuth 2.0 Mutual TLS Certificate Bound Access Tokens Enabled": the client authenticates
    with its secret and its access tokens are bound to the certificate its connection
    presents. Without one, Keycloak's refusals: the code exchange 400 ``invalid_request``
    (the code spent, as Keycloak takes it out first), the refresh 401 ``unauthorized_client``
    (``TokenManager``'s ``CERT_VERIFY_ERROR_DESC``, docs/psc-integration.md §5.2)."""
    token_endpoint = _discovery(server)["mtls_endpoint_aliases"]["token_endpoint"]
    machine, bare = _tls(server, "machine"), _tls(server, None)
    verifier, challenge = _pkce()
    code = _authorization_code(server, "rp-web-bound", challenge)
    refused = _code_exchange(bare, token_endpoint, code, verifier)
    assert (refused.status_code, refused.json()) == (400, {
        "error": "invalid_request", "error_description": CERTIFICATE_MISSING})  # fmt: skip
    spent = _code_exchange(machine, token_endpoint, code, verifier)
    assert spent.json()["error_description"] == "Code not valid"

    verifier, challenge = _pkce()
    code = _authorization_code(server, "rp-web-bound", challenge)
    tokens = _code_exchange(machine, token_endpoint, code, verifier).json()
    bound = {"x5t#S256": _thumbprint(server["home"] / "machine")}
    assert _decode_unverified(tokens["access_token"])[1]["cnf"] == bound
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = _discovery(server)["mtls_endpoint_aliases"]["userinfo_endpoint"]
    assert machine.get(userinfo, headers=bearer, timeout=10).status_code == 200
    assert userinfo_refusal(bare.get(userinfo, headers=bearer, timeout=10)) == keycloak_refusal(
        401, "invalid_token", CERTIFICATE_MISMATCH
    )

    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    without = bare.post(token_endpoint, data=refresh, auth=("rp-web-bound", SECRET), timeout=10)
    assert (without.status_code, without.json()) == (401, {
        "error": "unauthorized_client", "error_description": CERTIFICATE_MISMATCH})  # fmt: skip
    renewed = machine.post(token_endpoint, data=refresh, auth=("rp-web-bound", SECRET), timeout=10)
    assert _decode_unverified(renewed.json()["access_token"])[1]["cnf"] == bound

    # The service's own tokens (client_credentials) alike.
    service = {"grant_type": "client_credentials"}
    alone = bare.post(token_endpoint, data=service, auth=("rp-web-bound", SECRET), timeout=10)
    assert (alone.status_code, alone.json()["error_description"]) == (400, CERTIFICATE_MISSING)
    own = machine.post(token_endpoint, data=service, auth=("rp-web-bound", SECRET), timeout=10)
    assert _decode_unverified(own.json()["access_token"])[1]["cnf"] == bound

    # The same client's tokens without the switch: the certificate binds nothing.
    verifier, challenge = _pkce()
    code = _authorization_code(server, "rp-web", challenge)
    plain = machine.post(
        token_endpoint,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
              "code_verifier": verifier},
        auth=("rp-web", SECRET), timeout=10,
    ).json()  # fmt: skip
    assert "cnf" not in _decode_unverified(plain["access_token"])[1]

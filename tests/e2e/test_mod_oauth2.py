"""Apache httpd with mod_oauth2 (Debian 12's ``libapache2-mod-oauth2`` 3.3.1, over liboauth2,
https://github.com/OpenIDC/mod_oauth2 — the resource-server module of mod_auth_openidc's
authors) in front of a PSC API, configured as the sample ``oauth2.conf`` Debian ships with it
tells, against a real ``santeid serve``, only the base URL changed: ``AuthType oauth2`` and
``OAuth2TokenVerify`` in its modes,

- ``introspect`` the realm's ``/protocol/openid-connect/token/introspect``, the API's own
  client authenticating with ``introspect.auth`` ``client_secret_basic``,
  ``client_secret_post`` or ``client_secret_jwt`` (an assertion whose ``aud`` the
  configuration must name);
- ``jwks_uri`` the realm's ``/protocol/openid-connect/certs``;
- ``metadata`` the realm's RFC 8414 metadata, from which the module reads ``jwks_uri``.

The API behind the proxy is :class:`tests.support.apache.EchoApp`, which shows what it
receives: the ``OAUTH2_CLAIM_*`` headers the module makes of the token's claims (``jwks_uri``,
``metadata``) or of introspection's answer (``introspect``), the user it names.

What a PSC API meets there: ``Require oauth2_claim <name>:<value>`` compares a claim's whole
string, or each element of an array, and nothing else (the module's ``~`` for regular
expressions is commented out in liboauth2's ``src/server/apache.c``), so the scopes of PSC's
``scope`` — one space-separated string, as Keycloak's — cannot be required: the API reads
``OAUTH2_CLAIM_scope``. The JWK Set modes take any JWT the realm's key signed, the ID token
too: ``Require oauth2_claim typ:Bearer`` is the PSC API's own check."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

import jwt
import pytest

from tests.support import http_login
from tests.support.apache import OAUTH2_LOADED
from tests.support.apache import ApacheApi
from tests.support.apache import EchoApp
from tests.support.apache import apache_folder
from tests.support.apache import needs_mod_oauth2
from tests.support.apache import running_apache
from tests.support.http_login import logged_in_tokens
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import unverified_claims
from tests.support.redis_server import free_port
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_process
from tests.support.servers import service_client

pytestmark = [pytest.mark.server, needs_mod_oauth2]

#: The API's own client at santeid, with which the module introspects.
API_CLIENT = "psc-oauth2-api"
#: The API's client authenticating with ``client_secret_jwt`` (RFC 7523).
JWT_CLIENT = "psc-oauth2-api-jwt"
#: A service whose professionals call the API with their access tokens.
SERVICE = "psc-oauth2-service"
#: A service calling the API with its own token (``client_credentials``).
CALLER = "a-calling-service"
SECRET = "a-long-secret-for-the-oauth2-api-00000001"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
#: What the API is told of the caller (``OAuth2TargetPass``): the professional is
#: ``preferred_username`` (the national identifier; the module's default is ``sub``), in
#: ``X-Remote-User`` besides ``REMOTE_USER``.
TARGET = "remote_user_claim=preferred_username&authn_header=X-Remote-User"


def clients() -> list[dict]:
    return [
        code_flow_client(API_CLIENT, SECRET, REDIRECT_URI),
        {
            **code_flow_client(JWT_CLIENT, SECRET, REDIRECT_URI),
            "token_endpoint_auth_method": "client_secret_jwt",
        },
        code_flow_client(SERVICE, SECRET, REDIRECT_URI),
        service_client(CALLER, SECRET),
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("oauth2-rs"), SANTEID_STORE_URL="memory://", clients=clients()
    ) as process:
        yield process


@pytest.fixture(scope="module")
def app() -> Iterator[EchoApp]:
    with EchoApp() as echo:
        yield echo


#: A virtual host of the API: one ``OAuth2TokenVerify`` (``verify``), then the locations.
#: ``/api`` takes any token the module accepts; ``/api/psc`` is a PSC API's: an access token
#: (``typ``) of the realm (``iss``) from an eIDAS-substantial login (``acr``), all three
#: required (``RequireAll``; the words of one ``Require oauth2_claim`` line are alternatives);
#: ``/api/scope-all`` asks ``scope_all`` as the claim's value. A failed ``Require`` is 403
#: (``AuthzSendForbiddenOnFailure On``; Apache's default is 401).
VIRTUAL_HOST = """
<VirtualHost 127.0.0.1:{port}>
  ProxyPass /api {app}/api
  <Location /api>
    AuthType oauth2
    {verify}
    OAuth2TargetPass {target}
    AuthzSendForbiddenOnFailure On
    Require valid-user
  </Location>
  <Location /api/psc>
    <RequireAll>
      Require oauth2_claim typ:Bearer
      Require oauth2_claim iss:{issuer}
      Require oauth2_claim acr:eidas1
    </RequireAll>
  </Location>
  <Location /api/scope-all>
    Require oauth2_claim scope:scope_all
  </Location>
</VirtualHost>
"""


def introspect(server, auth: str = "client_secret_basic", **options: str) -> str:
    """``OAuth2TokenVerify introspect`` at the realm's introspection endpoint, the API's
    client authenticating with ``auth`` (``options`` added, e.g. ``aud``)."""
    client = JWT_CLIENT if auth == "client_secret_jwt" else API_CLIENT
    settings = {"introspect.auth": auth, "client_id": client, "client_secret": SECRET, **options}
    query = "&".join(f"{name}={value}" for name, value in settings.items())
    return f"OAuth2TokenVerify introspect {server.oidc}/token/introspect {query}"


def jwks_uri(server) -> str:
    return f"OAuth2TokenVerify jwks_uri {server.oidc}/certs"


def metadata(server) -> str:
    return f"OAuth2TokenVerify metadata {server.issuer}/.well-known/oauth-authorization-server"


@contextmanager
def api(server, app: EchoApp, **verifications: str) -> Iterator[ApacheApi]:
    """An Apache with a virtual host per entry of ``verifications`` (name → its
    ``OAuth2TokenVerify`` line), each on a free port, in front of ``app``."""
    root = apache_folder()
    ports = {name: free_port() for name in verifications}
    body = "".join(
        VIRTUAL_HOST.format(port=ports[name], verify=verify, app=app.url, target=TARGET,
                            issuer=server.issuer)
        for name, verify in verifications.items()
    )  # fmt: skip
    try:
        with running_apache(root, ports.values(), body, modules=OAUTH2_LOADED,
                            log_level="warn") as apache:  # fmt: skip
            yield ApacheApi(
                apache, {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def apis(server, app) -> Iterator[ApacheApi]:
    """The API behind five virtual hosts: introspection with HTTP Basic (``basic``), with the
    credentials in the form (``post``), with a ``client_secret_jwt`` assertion whose ``aud``
    is the issuer (``jwt``); the JWK Set (``jwks``); the RFC 8414 metadata (``metadata``)."""
    with api(
        server, app, basic=introspect(server), post=introspect(server, "client_secret_post"),
        jwt=introspect(server, "client_secret_jwt", aud=server.issuer), jwks=jwks_uri(server),
        metadata=metadata(server),
    ) as running:  # fmt: skip
        yield running


INTROSPECTING = ("basic", "post", "jwt")
LOCAL = ("jwks", "metadata")
MODES = (*INTROSPECTING, *LOCAL)


def tokens(server) -> dict:
    """The token answer of a professional's login to :data:`SERVICE` (``openid scope_all``,
    ``acr_values=eidas1``)."""
    return logged_in_tokens(server.oidc, SERVICE, SECRET, REDIRECT_URI, PROFESSIONAL)


def service_token(server) -> str:
    """:data:`CALLER`'s own access token (``client_credentials``)."""
    return http_login.service_token(server.oidc, CALLER, SECRET)


def revoke(server, token: str) -> None:
    http_login.revoke(server.oidc, token, SERVICE, SECRET)


def challenge(error: str, description: str) -> str:
    """The module's ``WWW-Authenticate`` (RFC 6750 §3): no ``realm``."""
    return f'Bearer error="{error}", error_description="{description}"'


# -- A professional's access token ---------------------------------------------------------


def test_a_professional_s_token_reaches_the_api_with_its_claims(server, apis):
    """Every mode hands the API the claims as ``OAUTH2_CLAIM_*`` headers and the professional
    (``remote_user_claim=preferred_username``: the national identifier) as ``X-Remote-User``.
    The JWK Set modes pass the token's claims; introspection's answer adds santeid's
    ``SubjectNameID``, ``client_id``, ``username``, ``token_type`` and ``active``, as
    Keycloak's (docs/psc-integration.md §5.2). ``otherIds``, an array of objects, reaches the
    API as its JSON. (A new token for each mode: the module's cache would answer a token
    another virtual host verified, see :func:`test_the_cache_is_the_whole_apache_s`.)"""
    for mode in MODES:
        token = tokens(server)["access_token"]
        claims = unverified_claims(token)
        headers = apis.seen(mode, "/api/records", token)
        assert headers["X-Remote-User"] == PROFESSIONAL, mode
        assert headers["OAUTH2_CLAIM_preferred_username"] == PROFESSIONAL, mode
        assert headers["OAUTH2_CLAIM_azp"] == SERVICE, mode
        assert headers["OAUTH2_CLAIM_iss"] == server.issuer, mode
        assert headers["OAUTH2_CLAIM_typ"] == "Bearer", mode
        assert headers["OAUTH2_CLAIM_sub"] == claims["sub"], mode
        assert headers["OAUTH2_CLAIM_scope"] == "openid scope_all", mode
        assert headers["OAUTH2_CLAIM_acr"] == "eidas1", mode
        assert headers["OAUTH2_CLAIM_exp"] == str(claims["exp"]), mode
        assert json.loads(headers["OAUTH2_CLAIM_otherIds"]) == claims["otherIds"], mode
        assert "OAUTH2_CLAIM_aud" not in headers, mode
        if mode in LOCAL:
            assert "OAUTH2_CLAIM_SubjectNameID" not in headers, mode
            assert "OAUTH2_CLAIM_active" not in headers, mode
        else:
            assert headers["OAUTH2_CLAIM_SubjectNameID"] == PROFESSIONAL, mode
            assert headers["OAUTH2_CLAIM_client_id"] == SERVICE, mode
            assert headers["OAUTH2_CLAIM_username"] == PROFESSIONAL, mode
            assert headers["OAUTH2_CLAIM_token_type"] == "Bearer", mode
            assert headers["OAUTH2_CLAIM_active"] == "true", mode


def test_the_cache_is_the_whole_apache_s(server, apis):
    """The module keeps a verified token's claims in the Apache's ``default`` cache, keyed by
    the token alone: a token introspected by one virtual host reaches another, whose mode is
    the JWK Set, with introspection's claims, without being verified there. An Apache whose
    virtual hosts verify differently names a cache of its own for each (``OAuth2Cache``,
    ``cache=`` of ``OAuth2TokenVerify``)."""
    token = tokens(server)["access_token"]
    assert "OAUTH2_CLAIM_active" in apis.seen("basic", "/api/records", token)
    assert "OAUTH2_CLAIM_active" in apis.seen("jwks", "/api/records", token)


def test_require_oauth2_claim_with_psc_s_claims(server, apis):
    """``typ:Bearer``, ``iss:<issuer>`` and ``acr:eidas1`` together let a professional's
    token through in every mode. ``scope:scope_all`` refuses it (403): the module compares
    the whole string ``openid scope_all`` — a PSC API reads the scopes itself."""
    for mode in MODES:
        token = tokens(server)["access_token"]
        assert apis.status(mode, "/api/psc/records", token) == 200, mode
        refused = apis.call(mode, "/api/scope-all/records", token)
        assert refused.status_code == 403, mode


def test_the_error_answers(apis):
    """RFC 6750's answers, without ``realm``: no token, 401 ``invalid_request`` "No bearer
    token found in the request."; a token no mode can verify, 401 ``invalid_token`` "Token
    could not be verified." — in the introspecting modes, santeid's answer is
    ``active: false``."""
    for mode in MODES:
        anonymous = apis.call(mode, "/api/records", None)
        assert anonymous.status_code == 401, mode
        assert anonymous.headers["WWW-Authenticate"] == challenge(
            "invalid_request", "No bearer token found in the request."
        ), mode
        refused = apis.call(mode, "/api/records", "not-a-token")
        assert refused.status_code == 401, mode
        assert refused.headers["WWW-Authenticate"] == challenge(
            "invalid_token", "Token could not be verified."
        ), mode


# -- Tokens that are not a professional's access token -------------------------------------


def test_a_service_token(server, apis):
    """A service's own token (``client_credentials``): santeid calls it active and the JWK Set
    verifies it, so ``Require valid-user`` lets it through as the service account
    (``preferred_username`` ``service-account-<client_id>``, Keycloak's); it has no ``acr``,
    so the PSC location refuses it."""
    for mode in MODES:
        token = service_token(server)
        headers = apis.seen(mode, "/api/records", token)
        assert headers["X-Remote-User"] == f"service-account-{CALLER}", mode
        assert headers["OAUTH2_CLAIM_azp"] == CALLER, mode
        assert apis.status(mode, "/api/psc/records", token) == 403, mode


def test_the_id_token_and_the_refresh_token(server, apis):
    """The login's other tokens: santeid's introspection calls the ID token inactive
    (docs/psc-integration.md §5.2), 401; the JWK Set modes verify it — same key, same issuer,
    and the module checks no ``typ`` — so ``Require valid-user`` lets it through and
    ``Require oauth2_claim typ:Bearer`` (``ID``) refuses it. The refresh token: introspection
    answers it active (``token_type`` ``Refresh``, as Keycloak), but it has no
    ``preferred_username``: "Could not determine remote user."; HS512-signed under a ``kid``
    the JWK Set lacks, the JWK Set modes refuse it."""
    for mode in MODES:
        answer = tokens(server)
        id_token, refresh_token = answer["id_token"], answer["refresh_token"]
        if mode in INTROSPECTING:
            assert apis.status(mode, "/api/records", id_token) == 401, mode
            refused = apis.call(mode, "/api/records", refresh_token)
            assert refused.status_code == 401, mode
            assert refused.headers["WWW-Authenticate"] == challenge(
                "invalid_token", "Could not determine remote user."
            ), mode
            continue
        assert apis.status(mode, "/api/records", refresh_token) == 401, mode
        local = apis.seen(mode, "/api/records", id_token)
        assert local["OAUTH2_CLAIM_typ"] == "ID", mode
        assert local["OAUTH2_CLAIM_aud"] == SERVICE, mode
        assert apis.status(mode, "/api/psc/records", id_token) == 403, mode


def test_forged_tokens_are_refused(server, apis):
    """The access token's claims re-signed by another key, under santeid's ``kid`` or an
    unknown one; its payload changed under santeid's signature: 401 ``invalid_token`` in
    every mode."""
    token = tokens(server)["access_token"]
    header, payload, signature = token.split(".")
    claims = unverified_claims(token)
    claims["preferred_username"] = "810000000031"
    changed = jwt.encode(claims, "x" * 32, algorithm="HS256").split(".")[1]
    for bad in (forged(token, kid_of(token)), forged(token, "another-kid"),
                f"{header}.{changed}.{signature}"):  # fmt: skip
        for mode in MODES:
            refused = apis.call(mode, "/api/records", bad)
            assert refused.status_code == 401, mode
            assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"], mode


# -- Revocation and the module's cache ------------------------------------------------------


def test_a_revoked_token(server, apis):
    """A token revoked at ``/revoke`` before the API saw it: introspection refuses it; the
    JWK Set modes cannot know of it and let it through until its ``exp``. Revoked after a
    first call, the module's cached result (the ``default`` cache, ``expiry`` of
    ``OAuth2TokenVerify``) still lets it through: an API that must see revocations at once
    sets a short ``expiry``."""
    unseen = tokens(server)["access_token"]
    revoke(server, unseen)
    for mode in INTROSPECTING:
        assert apis.status(mode, "/api/records", unseen) == 401, mode
    for mode in LOCAL:
        assert apis.status(mode, "/api/records", unseen) == 200, mode

    for mode in INTROSPECTING:
        seen = tokens(server)["access_token"]
        assert apis.status(mode, "/api/records", seen) == 200, mode
        revoke(server, seen)
        assert apis.status(mode, "/api/records", seen) == 200, mode


def test_a_short_cache_expiry_sees_a_revocation(server, app):
    """``expiry=1``: once the cached result is a second old the module introspects again,
    and santeid's answer for the revoked token is inactive: refused."""
    with api(server, app, basic=introspect(server, expiry="1")) as rs:
        token = tokens(server)["access_token"]
        assert rs.status("basic", "/api/records", token) == 200
        cached = time.time()
        revoke(server, token)
        time.sleep(max(0.0, cached + 2.5 - time.time()))
        assert rs.status("basic", "/api/records", token) == 401


# -- Introspection's client assertion -------------------------------------------------------


def test_client_secret_jwt_audiences(server, app):
    """``introspect.auth=client_secret_jwt`` makes an HS256 assertion with the configured
    ``aud``: santeid takes the issuer, the token endpoint's URL and the introspection
    endpoint's, as Keycloak; the revocation endpoint's URL is "Invalid token audience"
    (docs/reference/keycloak-behaviour.md, "Client authentication"), so every token is
    refused. The module makes a new assertion (new ``jti``) for each introspection, so no
    call is refused as a replay. The module's cache is the whole Apache's, keyed by the
    token: a token another virtual host verified is not introspected again, so the refused
    audience is tried first with each token."""
    with api(
        server, app,
        issuer=introspect(server, "client_secret_jwt", aud=server.issuer),
        token=introspect(server, "client_secret_jwt", aud=f"{server.oidc}/token"),
        introspection=introspect(server, "client_secret_jwt",
                                 aud=f"{server.oidc}/token/introspect"),
        revocation=introspect(server, "client_secret_jwt", aud=f"{server.oidc}/revoke"),
    ) as rs:  # fmt: skip
        for _ in range(2):
            token = tokens(server)["access_token"]
            assert rs.status("revocation", "/api/records", token) == 401
            for mode in ("issuer", "token", "introspection"):
                assert rs.seen(mode, "/api/records", token)["X-Remote-User"] == PROFESSIONAL

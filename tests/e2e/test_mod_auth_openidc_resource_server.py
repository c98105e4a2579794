"""Apache httpd with mod_auth_openidc (Debian 12's 2.4.12.3) as an OAuth 2.0 resource server
in front of a PSC API, configured as its documentation tells
(https://github.com/OpenIDC/mod_auth_openidc/wiki/OAuth-2.0-Resource-Server and the "OAuth 2.0
Resource Server Settings" of the module's sample ``auth_openidc.conf``), against a real
``santeid serve``, only the base URL changed: ``AuthType oauth20`` in both of its modes,

- remote validation: ``OIDCOAuthIntrospectionEndpoint`` the realm's
  ``/protocol/openid-connect/token/introspect``, the API's own client authenticating with
  ``OIDCOAuthClientID``/``OIDCOAuthClientSecret`` (``client_secret_basic`` or
  ``client_secret_post``), answers cached until the token's ``exp`` unless
  ``OIDCOAuthTokenIntrospectionInterval`` asks sooner;
- local validation: ``OIDCOAuthVerifyJwksUri`` the realm's ``/protocol/openid-connect/certs``
  (the set kept ``OIDCJWKSRefreshInterval``, fetched again for a ``kid`` it lacks);

and with the endpoints read from ``OIDCOAuthServerMetadataURL``, the realm's RFC 8414
metadata.

The API behind the proxy is :class:`tests.support.apache.EchoApp`, which shows what it
receives: the ``OIDC_CLAIM_*`` headers the module makes of the token's claims (local) or of
introspection's answer (remote), ``OIDC_access_token``, the user the module names.

What PSC's tokens meet there (tests/support/apache.py starts the Apache): with
``Require valid-user`` alone, the JWK Set mode takes any JWT the realm's key signed — the ID
token too — and checks neither ``iss`` nor ``typ``; introspection takes what santeid calls
active — a refresh token too, as Keycloak answers it. ``Require claim typ:Bearer`` and
``Require claim iss:<issuer>`` are the PSC API's own checks. The default ``shm`` cache never
holds a PSC access token's introspection (the token, its key, is too long) unless
``OIDCCacheEncrypt On`` hashes the keys."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

import jwt
import pytest
import requests

from tests.support import http_login
from tests.support.apache import ApacheApi
from tests.support.apache import EchoApp
from tests.support.apache import apache_folder
from tests.support.apache import needs_mod_auth_openidc
from tests.support.apache import running_apache
from tests.support.http_login import logged_in_tokens
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.jwt_keys import signed_with
from tests.support.jwt_keys import unverified_claims
from tests.support.redis_server import free_port
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process
from tests.support.servers import service_client

pytestmark = [pytest.mark.server, needs_mod_auth_openidc]

#: The API's own client at santeid, with which the module introspects.
API_CLIENT = "psc-apache-api"
#: A service whose professionals call the API with their access tokens.
SERVICE = "psc-apache-service"
#: A service calling the API with its own token (``client_credentials``).
CALLER = "a-calling-service"
SECRET = "a-long-secret-for-the-apache-api-000000001"
#: An API client whose secret has characters RFC 6749 §2.3.1's form encoding changes.
PLUS_CLIENT = "psc-apache-api-plus"
PLUS_SECRET = "a-long+secret/for=the-apache-api-00000001"
REDIRECT_URI = "https://service.example.org/callback"
PASSPHRASE = "a-passphrase-for-the-module-state-0123456789"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
#: The access-token lifetime of the server whose tokens expire during a test, in seconds.
SHORT_LIFETIME = 6
#: ``AuthName`` of the API's locations: the ``realm`` of the module's challenges.
REALM_NAME = "psc-api"


def clients() -> list[dict]:
    caller = service_client(CALLER, SECRET)
    return [
        code_flow_client(API_CLIENT, SECRET, REDIRECT_URI),
        code_flow_client(PLUS_CLIENT, PLUS_SECRET, REDIRECT_URI),
        code_flow_client(SERVICE, SECRET, REDIRECT_URI),
        caller,
    ]


@contextmanager
def https_server(home, **settings: str) -> Iterator:
    """``santeid serve`` over HTTPS (the module fetches the JWK Set and introspects over
    HTTPS, with ``OIDCCABundlePath`` the development certificate's authority)."""
    args, ca = santeid_home(home).dev_tls()
    with santeid_process(
        home, args=["--sandbox", *args], ca=ca, SANTEID_STORE_URL="memory://",
        clients=clients(), **settings,
    ) as process:  # fmt: skip
        yield process


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with https_server(tmp_path_factory.mktemp("apache-rs")) as process:
        yield process


@pytest.fixture(scope="module")
def app() -> Iterator[EchoApp]:
    with EchoApp() as echo:
        yield echo


#: A virtual host of the API: the module's settings for one mode (``validation``), then the
#: locations. ``/api`` takes any token the module accepts; a location whose ``Require claim``
#: fails answers 403 (``AuthzSendForbiddenOnFailure On``; Apache's default is 401) with the
#: RFC 6750 challenge the module leaves in ``OIDC_OAUTH_BEARER_SCOPE_ERROR`` for mod_headers.
#: ``/api/psc`` is a PSC API's: an access token (``typ``), of the realm (``iss``), with
#: ``scope_all`` in its space-separated ``scope`` — a regular expression, its backslashes
#: doubled: the module parses a ``Require claim`` line as an Apache string expression
#: (``ap_expr_parse_cmd`` with ``AP_EXPR_FLAG_STRING_RESULT``), where a backslash escapes the
#: next character, so ``\s`` reaches PCRE as ``s``. ``/api/scope-1`` asks a scope PSC's tokens
#: lack, ``/api/scope-all`` names ``scope_all`` as the claim's whole value,
#: ``/api/by-default`` keeps Apache's 401, and ``/api/fresh`` has an introspected answer asked
#: again after a second (``OIDCOAuthTokenIntrospectionInterval``, a per-path setting).
VIRTUAL_HOST = r"""
<VirtualHost 127.0.0.1:{port}>
  OIDCCryptoPassphrase {passphrase}
  OIDCCABundlePath {ca}
  {validation}
  ProxyPass /api {app}/api
  <Location /api>
    AuthType oauth20
    AuthName {realm}
    OIDCAuthNHeader X-Remote-User
    AuthzSendForbiddenOnFailure On
    Header always set WWW-Authenticate "%{{OIDC_OAUTH_BEARER_SCOPE_ERROR}}e" \
      env=OIDC_OAUTH_BEARER_SCOPE_ERROR
    Require valid-user
  </Location>
  <Location /api/psc>
    <RequireAll>
      Require claim typ:Bearer
      Require claim iss:{issuer}
      Require claim scope~(^|\\s)scope_all(\\s|$)
    </RequireAll>
  </Location>
  <Location /api/scope-1>
    Require claim scope~(^|\\s)scope_1(\\s|$)
  </Location>
  <Location /api/scope-all>
    Require claim scope:scope_all
  </Location>
  <Location /api/by-default>
    AuthzSendForbiddenOnFailure Off
    Require claim scope~(^|\\s)scope_1(\\s|$)
  </Location>
  <Location /api/fresh>
    OIDCOAuthTokenIntrospectionInterval 1
  </Location>
</VirtualHost>
"""


#: A PSC API's settings besides its mode's: the professional is ``preferred_username`` (the
#: national identifier; the module's default is ``sub``), and the module's cache keys are
#: hashed (``OIDCCacheEncrypt On``): the default ``shm`` cache takes keys shorter than 512
#: bytes, so it never stores the introspection answer of a PSC access token, its own key —
#: every call is introspected again and logs "key size is too large".
PSC_SETTINGS = ("OIDCOAuthRemoteUserClaim preferred_username", "OIDCCacheEncrypt On")


def introspection(
    server,
    auth: str = "client_secret_basic",
    client_id: str = API_CLIENT,
    secret: str = SECRET,
    settings: tuple[str, ...] = PSC_SETTINGS,
) -> str:
    """The remote mode's settings, as the wiki writes them, for the realm's introspection,
    then ``settings``."""
    return "\n  ".join((
        f"OIDCOAuthIntrospectionEndpoint {server.oidc}/token/introspect",
        f"OIDCOAuthIntrospectionEndpointAuth {auth}",
        f"OIDCOAuthClientID {client_id}",
        f"OIDCOAuthClientSecret {secret}",
        *settings,
    ))  # fmt: skip


def from_metadata(server) -> str:
    """The settings read from the realm's RFC 8414 metadata (``OIDCOAuthServerMetadataURL``,
    the sample configuration's ``/.well-known/oauth-authorization-server``), the API's client
    for introspection, then :data:`PSC_SETTINGS`."""
    return "\n  ".join((
        f"OIDCOAuthServerMetadataURL {server.issuer}/.well-known/oauth-authorization-server",
        f"OIDCOAuthClientID {API_CLIENT}",
        f"OIDCOAuthClientSecret {SECRET}",
        *PSC_SETTINGS,
    ))  # fmt: skip


def jwks(server, settings: tuple[str, ...] = PSC_SETTINGS) -> str:
    """The local mode's setting, the realm's JWK Set, then ``settings``."""
    return "\n  ".join((f"OIDCOAuthVerifyJwksUri {server.oidc}/certs", *settings))


@contextmanager
def api(server, app: EchoApp, **validations: str) -> Iterator[ApacheApi]:
    """An Apache with a virtual host per entry of ``validations`` (name → the module's
    settings of its mode), each on a free port, in front of ``app``."""
    root = apache_folder()
    ca = shutil.copy(server.ca, root / "ca.pem")
    ports = {name: free_port() for name in validations}
    body = "".join(
        VIRTUAL_HOST.format(port=ports[name], passphrase=PASSPHRASE, ca=ca, validation=settings,
                            app=app.url, realm=REALM_NAME, issuer=server.issuer)
        for name, settings in validations.items()
    )  # fmt: skip
    try:
        with running_apache(root, ports.values(), body) as apache:
            yield ApacheApi(
                apache, {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: RFC 7662's ``token_type_hint`` sent with every introspection
#: (``OIDCOAuthIntrospectionEndpointParams``).
HINT = "OIDCOAuthIntrospectionEndpointParams token_type_hint=access_token"


@pytest.fixture(scope="module")
def apis(server, app) -> Iterator[ApacheApi]:
    """The API behind six virtual hosts: introspection with HTTP Basic (``basic``), with the
    credentials in the form (``post``), the JWK Set (``jwks``), each with
    :data:`PSC_SETTINGS`; introspection with the module's defaults (``plain``), and with
    :data:`HINT` (``hinted``); the realm's RFC 8414 metadata (``metadata``)."""
    with api(
        server, app, basic=introspection(server),
        post=introspection(server, "client_secret_post"), jwks=jwks(server),
        plain=introspection(server, settings=()), metadata=from_metadata(server),
        hinted=introspection(server, settings=(HINT,)),
    ) as running:  # fmt: skip
        yield running


MODES = ("basic", "post", "jwks")
INTROSPECTING = ("basic", "post")


def tokens(server, browser: requests.Session | None = None) -> dict:
    """The token answer of a professional's login to :data:`SERVICE` (``openid scope_all``,
    ``acr_values=eidas1``), over santeid's HTTPS; ``browser`` may hold the SSO cookie."""
    if browser is None:
        browser = requests.Session()
        browser.trust_env = False  # REQUESTS_CA_BUNDLE would override ``verify``
        browser.verify = server.ca
    return logged_in_tokens(server.oidc, SERVICE, SECRET, REDIRECT_URI, PROFESSIONAL, browser,
                            verify=server.ca)  # fmt: skip


def service_token(server) -> str:
    """:data:`CALLER`'s own access token (``client_credentials``)."""
    return http_login.service_token(server.oidc, CALLER, SECRET, verify=server.ca)


def revoke(server, token: str) -> None:
    http_login.revoke(server.oidc, token, SERVICE, SECRET, verify=server.ca)


def challenge(error: str, description: str) -> str:
    """The module's ``WWW-Authenticate`` (RFC 6750 §3), with the location's ``AuthName``."""
    return f'Bearer realm="{REALM_NAME}", error="{error}", error_description="{description}"'


# -- A professional's access token ---------------------------------------------------------


def test_a_professional_s_token_reaches_the_api_with_its_claims(server, apis):
    """Every mode takes the token from ``Authorization: Bearer`` and hands the API its claims
    as ``OIDC_CLAIM_*`` headers, the token as ``OIDC_access_token`` and the professional
    (``OIDCOAuthRemoteUserClaim preferred_username``: the national identifier) as
    ``X-Remote-User``. The JWK Set mode passes the token's claims; introspection's answer
    adds santeid's ``SubjectNameID``, ``client_id``, ``username``, ``token_type`` and
    ``active``, as Keycloak's (docs/psc-integration.md §5.2). ``otherIds``, an array of
    objects, reaches the API empty (the module's limit): an API that needs it reads the token,
    ``OIDC_access_token``."""
    token = tokens(server)["access_token"]
    claims = unverified_claims(token)
    for mode in MODES:
        headers = apis.seen(mode, "/api/records", token)
        assert headers["X-Remote-User"] == PROFESSIONAL, mode
        assert headers["OIDC_access_token"] == token, mode
        assert headers["OIDC_CLAIM_azp"] == SERVICE, mode
        assert headers["OIDC_CLAIM_iss"] == server.issuer, mode
        assert headers["OIDC_CLAIM_typ"] == "Bearer", mode
        assert headers["OIDC_CLAIM_sub"] == claims["sub"], mode
        assert headers["OIDC_CLAIM_scope"] == "openid scope_all", mode
        assert headers["OIDC_CLAIM_exp"] == str(claims["exp"]), mode
        assert "OIDC_CLAIM_aud" not in headers, mode
        # An array of objects (PSC's ``otherIds``) is passed empty: the module flattens arrays
        # of strings, numbers and booleans only, and logs a warning for the others.
        assert headers["OIDC_CLAIM_otherIds"] == "", mode
    assert 'unhandled in-array JSON object type [0] for key "otherIds"' in apis.apache.error_log()
    local = apis.seen("jwks", "/api/records", token)
    assert "OIDC_CLAIM_SubjectNameID" not in local and "OIDC_CLAIM_active" not in local
    for mode in INTROSPECTING:
        remote = apis.seen(mode, "/api/records", token)
        assert remote["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL, mode
        assert remote["OIDC_CLAIM_client_id"] == SERVICE, mode
        assert remote["OIDC_CLAIM_username"] == PROFESSIONAL, mode
        assert remote["OIDC_CLAIM_token_type"] == "Bearer", mode
        assert remote["OIDC_CLAIM_active"] == "1", mode


def test_the_authorization_server_metadata_url(server, apis):
    """``OIDCOAuthServerMetadataURL`` the realm's ``/.well-known/oauth-authorization-server``
    (Keycloak 25 and later serve it: the ``openid-configuration`` document): the module
    takes ``introspection_endpoint`` from it and introspects — with an introspection
    endpoint it never validates locally, whatever ``jwks_uri`` says."""
    token = tokens(server)["access_token"]
    headers = apis.seen("metadata", "/api/psc/records", token)
    assert headers["X-Remote-User"] == PROFESSIONAL
    assert headers["OIDC_CLAIM_active"] == "1"
    assert headers["OIDC_CLAIM_SubjectNameID"] == PROFESSIONAL
    assert apis.status("metadata", "/api/records", tokens(server)["id_token"]) == 401


def test_require_claim_with_psc_s_claims(server, apis):
    """``Require claim`` on PSC's claims: ``typ:Bearer``, ``iss:<issuer>`` and
    ``scope~<regex>`` together let the token through; a scope PSC's token lacks is refused
    (403). ``scope`` is one space-separated string (``openid scope_all``), as Keycloak's:
    ``Require claim scope:scope_all`` compares the whole string and refuses the token — a
    scope is asked with a regular expression."""
    token = tokens(server)["access_token"]
    for mode in MODES:
        assert apis.status(mode, "/api/psc/records", token) == 200, mode
        assert apis.status(mode, "/api/scope-1/records", token) == 403, mode
        assert apis.status(mode, "/api/scope-all/records", token) == 403, mode


def test_the_error_answers(server, apis):
    """RFC 6750's answers: no token, 401 ``invalid_request``; a token the module refuses,
    401 ``invalid_token``, the description naming the mode ("Reference token could not be
    introspected", "JWT token could not be validated"), ``realm`` the location's
    ``AuthName``. A token without the claims a location requires: Apache's 403 with
    ``AuthzSendForbiddenOnFailure On`` (401 without), ``insufficient_scope`` by the
    ``Header`` directive that copies ``OIDC_OAUTH_BEARER_SCOPE_ERROR`` — without it, no
    challenge at all."""
    for mode in MODES:
        anonymous = apis.call(mode, "/api/records", None)
        assert anonymous.status_code == 401, mode
        assert anonymous.headers["WWW-Authenticate"] == challenge(
            "invalid_request", "No bearer token found in the request"
        )
    for mode, description in (
        ("basic", "Reference token could not be introspected"),
        ("post", "Reference token could not be introspected"),
        ("jwks", "JWT token could not be validated"),
    ):
        refused = apis.call(mode, "/api/records", "not-a-token")
        assert refused.status_code == 401, mode
        assert refused.headers["WWW-Authenticate"] == challenge("invalid_token", description)
    token = tokens(server)["access_token"]
    for mode in MODES:
        forbidden = apis.call(mode, "/api/scope-1/records", token)
        assert forbidden.status_code == 403, mode
        assert forbidden.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", '
            'error_description="Different scope(s) or other claims required"'
        )
        assert apis.status(mode, "/api/by-default/records", token) == 401, mode


# -- Tokens that are not a professional's access token -------------------------------------


def test_a_service_token(server, apis):
    """A service's own token (``client_credentials``): santeid calls it active and the JWK Set
    verifies it, so ``Require valid-user`` lets it through as the service account
    (``preferred_username`` ``service-account-<client_id>``, Keycloak's); its ``scope`` has
    no ``scope_all``, so the PSC location refuses it. An API that serves professionals only
    requires ``scope_all`` (or ``authMode``, which a service token lacks)."""
    token = service_token(server)
    for mode in MODES:
        headers = apis.seen(mode, "/api/records", token)
        assert headers["X-Remote-User"] == f"service-account-{CALLER}", mode
        assert headers["OIDC_CLAIM_azp"] == CALLER, mode
        assert "OIDC_CLAIM_authMode" not in headers, mode
        assert apis.status(mode, "/api/psc/records", token) == 403, mode


def test_the_id_token_and_the_refresh_token(server, apis):
    """What the modes make of the login's other tokens:

    - the ID token: santeid's introspection calls it inactive (docs/psc-integration.md §5.2),
      401; the JWK Set verifies it — same key, same issuer — and the module checks no
      ``typ``: ``Require valid-user`` lets it through, ``Require claim typ:Bearer`` (``ID``)
      refuses it;
    - the refresh token: introspection answers it active with ``token_type`` ``Refresh``, as
      Keycloak does, and the module reads ``active`` alone: with the module's defaults
      (``plain``), ``Require valid-user`` lets it through as its ``sub``, ``typ:Bearer``
      refuses it; the answer has no ``preferred_username`` (the refresh token has none, as
      Keycloak's), so with that claim for the user the module refuses it ("Could not set
      remote user"); ``token_type_hint=access_token`` changes nothing; HS512-signed under a
      ``kid`` the JWK Set lacks, the JWK Set mode refuses it (after fetching the set again).

    ``Require claim typ:Bearer`` is what a PSC API adds in both modes."""
    answer = tokens(server)
    id_token, refresh_token = answer["id_token"], answer["refresh_token"]
    for mode in (*INTROSPECTING, "plain"):
        assert apis.status(mode, "/api/records", id_token) == 401, mode
    plain = apis.seen("plain", "/api/records", refresh_token)
    assert plain["OIDC_CLAIM_token_type"] == "Refresh"
    assert plain["OIDC_CLAIM_typ"] == "Refresh"
    assert plain["X-Remote-User"] == unverified_claims(refresh_token)["sub"]
    assert "OIDC_CLAIM_preferred_username" not in plain
    assert apis.status("plain", "/api/psc/records", refresh_token) == 403
    # Keycloak's hint picks the provider that answers access tokens, which answers refresh
    # tokens alike (docs/reference/keycloak-behaviour.md): the hint refuses nothing.
    hinted = apis.seen("hinted", "/api/records", refresh_token)
    assert hinted["OIDC_CLAIM_token_type"] == "Refresh"
    for mode in INTROSPECTING:
        refused = apis.call(mode, "/api/records", refresh_token)
        assert refused.headers["WWW-Authenticate"] == challenge(
            "invalid_token", "Could not set remote user"
        ), mode
    local = apis.seen("jwks", "/api/records", id_token)
    assert local["OIDC_CLAIM_typ"] == "ID"
    assert local["OIDC_CLAIM_aud"] == SERVICE
    assert apis.status("jwks", "/api/psc/records", id_token) == 403
    assert apis.status("jwks", "/api/records", refresh_token) == 401


def test_forged_tokens_are_refused(server, apis):
    """The access token's claims re-signed by another key, under santeid's ``kid`` or an
    unknown one; its payload changed under santeid's signature: 401 ``invalid_token`` in
    every mode (santeid's introspection verifies the signature as Keycloak's)."""
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


@pytest.fixture(scope="module")
def other_realm(tmp_path_factory):
    """Another santeid with the same signing keys (tests/support/servers.py copies one key
    set to every server of a test run) on another origin: another issuer."""
    with https_server(tmp_path_factory.mktemp("apache-rs-other")) as process:
        yield process


def test_the_jwk_set_mode_checks_no_issuer(server, other_realm, apis):
    """A token of another issuer signed with a key of the JWK Set: the module verifies the
    signature and ``exp`` and nothing of ``iss`` (its local validation passes no issuer to
    the checks), so ``Require valid-user`` lets it through; ``Require claim iss:<issuer>``
    refuses it. Introspection refuses it: santeid checks the issuer, as Keycloak."""
    token = tokens(other_realm)["access_token"]
    assert unverified_claims(token)["iss"] == other_realm.issuer != server.issuer
    assert apis.seen("jwks", "/api/records", token)["OIDC_CLAIM_iss"] == other_realm.issuer
    assert apis.status("jwks", "/api/psc/records", token) == 403
    for mode in INTROSPECTING:
        assert apis.status(mode, "/api/records", token) == 401, mode


# -- Revocation, expiry and the introspection cache -----------------------------------------


def test_a_revoked_token(server, apis):
    """A token revoked at ``/revoke`` before the API saw it: introspection refuses it; the JWK
    Set mode cannot know of it and lets it through until its ``exp``.

    Revoked after a first call: introspection's cached answer (kept until the token's
    ``exp``) lets it through. ``OIDCOAuthTokenIntrospectionInterval 1`` asks santeid again
    on its path once the answer is a second old — refused — but a refusal does not replace
    the cached answer, which still lets the token through where no interval is set: the
    interval belongs on every protected path. With the module's defaults (``plain``) the
    answer is never cached (the token, the cache key, is longer than the ``shm`` cache's 512
    bytes): every call is introspected, and the revoked token refused at once."""
    unseen = tokens(server)["access_token"]
    revoke(server, unseen)
    for mode in (*INTROSPECTING, "plain"):
        assert apis.status(mode, "/api/records", unseen) == 401, mode
    assert apis.status("jwks", "/api/records", unseen) == 200

    seen = tokens(server)["access_token"]
    for mode in (*MODES, "plain"):
        assert apis.status(mode, "/api/records", seen) == 200, mode
    cached = time.time()
    revoke(server, seen)
    for mode in MODES:
        assert apis.status(mode, "/api/records", seen) == 200, mode
    assert apis.status("plain", "/api/records", seen) == 401
    assert "could not construct cache key since key size is too large" in apis.apache.error_log()
    time.sleep(max(0.0, cached + 2 - time.time()))  # past the one-second interval
    for mode in INTROSPECTING:
        assert apis.status(mode, "/api/fresh/records", seen) == 401, mode
        assert apis.status(mode, "/api/records", seen) == 200, mode
    assert apis.status("jwks", "/api/fresh/records", seen) == 200


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """A santeid whose access tokens live :data:`SHORT_LIFETIME` seconds."""
    with https_server(
        tmp_path_factory.mktemp("apache-rs-short"),
        SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
    ) as process:  # fmt: skip
        yield process


def test_an_expired_token(short_lived, app):
    """Past its ``exp``: the JWK Set mode checks ``exp`` and refuses it; introspection's
    cached answer lapses at the token's ``exp``, santeid's new answer is inactive: refused."""
    with api(short_lived, app, basic=introspection(short_lived), jwks=jwks(short_lived)) as rs:
        token = tokens(short_lived)["access_token"]
        for mode in ("basic", "jwks"):
            assert rs.status(mode, "/api/records", token) == 200, mode
        time.sleep(max(0.0, unverified_claims(token)["exp"] + 1 - time.time()))
        for mode, description in (("basic", "Reference token could not be introspected"),
                                  ("jwks", "JWT token could not be validated")):  # fmt: skip
            refused = rs.call(mode, "/api/records", token)
            assert refused.status_code == 401, mode
            assert refused.headers["WWW-Authenticate"] == challenge("invalid_token", description)


# -- Introspection's client authentication ------------------------------------------------


def test_introspection_client_authentication(server, app):
    """``OIDCOAuthIntrospectionEndpointAuth client_secret_basic`` and ``client_secret_post``
    with a secret that has ``+``, ``/`` and ``=``: santeid reads the Basic header's parts
    form-decoded, as Keycloak (RFC 6749 §2.3.1), and the module form-encodes them, so both
    work. A wrong secret is santeid's 401 at introspection: every token is refused, 401
    ``invalid_token``. (The module's defaults: no answer is cached, each call introspects.)"""
    with api(
        server, app,
        basic=introspection(server, "client_secret_basic", PLUS_CLIENT, PLUS_SECRET, ()),
        post=introspection(server, "client_secret_post", PLUS_CLIENT, PLUS_SECRET, ()),
        wrong=introspection(server, "client_secret_basic", API_CLIENT, SECRET + "x", ()),
    ) as rs:  # fmt: skip
        token = tokens(server)["access_token"]
        for mode in ("basic", "post"):
            assert rs.seen(mode, "/api/records", token)["OIDC_CLAIM_active"] == "1", mode
        refused = rs.call("wrong", "/api/records", token)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == challenge(
            "invalid_token", "Reference token could not be introspected"
        )


# -- Key rotation ---------------------------------------------------------------------------


def test_a_key_rotation(server, apis):
    """``santeid keys rotate`` (docs/keys.md): the new key signs at once, as a new Keycloak
    key does. The module keeps the JWK Set ``OIDCJWKSRefreshInterval`` (an hour by default)
    but fetches it again for a ``kid`` it lacks, so the new key's tokens are accepted at
    once; the old key, retired but still published, verifies the tokens it signed. Every
    token under an unknown ``kid`` costs the module one fetch of the set (no cool-down).
    Introspection never meets keys."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = server.ca

    def new_token() -> str:
        return tokens(server, browser)["access_token"]

    before = new_token()
    assert apis.status("jwks", "/api/records", before) == 200  # the set is fetched, and kept
    after = signed_with(rotated(server), new_token)
    assert kid_of(after) != kid_of(before)
    for mode in MODES:
        assert apis.seen(mode, "/api/psc/records", after)["X-Remote-User"] == PROFESSIONAL
        assert apis.status(mode, "/api/psc/records", before) == 200, mode

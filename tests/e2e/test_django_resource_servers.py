"""A Django REST framework API of a Pro Santé Connect service, protected by professionals'
access tokens as Django shops protect it, against a real ``santeid serve``, only the base URL
changed: django-oauth-toolkit 3 as a resource server that introspects tokens
(https://django-oauth-toolkit.readthedocs.io/en/latest/resource_server.html), and
drf-oidc-auth 4 (https://github.com/ByteInternet/drf-oidc-auth), which checks a JWT against
the realm's JWK Set or sends a Bearer token to userinfo. The API is
tests/support/django_rs.py, a process of its own per configuration; the tokens come from a
professional's login at the sandbox (tests/support/http_login.py).

What PSC's tokens meet there:

- django-oauth-toolkit stores an ``AccessToken`` row from introspection's ``active``,
  ``username`` (the Django user it makes), ``scope``, ``exp`` (the row's expiry) and ``aud``
  (RFC 8707's resource, matched as a prefix of the API's URL). santeid's answer, Keycloak's
  (docs/psc-integration.md §5.2), has them all; an access token has no ``aud``, so the row
  is good for any URL. The row answers for the token until ``exp`` (or
  ``RESOURCE_SERVER_TOKEN_CACHING_SECONDS``): a token revoked after its first call passes
  until then. Introspection is authenticated as Keycloak's, as a client (Basic):
  ``RESOURCE_SERVER_AUTH_TOKEN``'s Bearer header is no client authentication, and the
  library puts the credentials in the Basic header without RFC 6749 §2.3.1's form encoding.
- drf-oidc-auth requires ``aud`` by default (``OIDC_CLAIMS_OPTIONS``), which PSC's access
  tokens lack; its default user lookup is by ``sub``; ``OIDC_LEEWAY`` is both the clock skew
  allowed on ``exp`` and the oldest ``iat`` it takes; the JWK Set is fetched once a day, and
  userinfo's answer kept ten minutes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import requests

from tests.support import http_login
from tests.support.browser import wait_for
from tests.support.http_login import logged_in_tokens
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.jwt_keys import signed_with
from tests.support.jwt_keys import unverified_claims
from tests.support.python_rp import ServiceSite
from tests.support.python_rp import python_relying_party
from tests.support.redis_server import free_port
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_process
from tests.support.servers import service_client

pytestmark = pytest.mark.server

#: The API's client at santeid: the services it serves log in with their own clients; it
#: authenticates itself at introspection with its own.
API_CLIENT = "psc-django-api"
#: A service whose professionals call the API.
SERVICE = "psc-django-service"
#: A service calling the API with its own token (``client_credentials``).
CALLER = "a-calling-service"
SECRET = "a-long-secret-for-the-django-api-0000001"
#: An API client whose secret has characters that RFC 6749 §2.3.1's form encoding changes.
PLUS_CLIENT = "psc-django-api-plus"
PLUS_SECRET = "a-long+secret/for=the-django-api-0000001"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
#: The access-token lifetime of PSC (docs/psc-integration.md §3), and of the server whose
#: tokens expire during a test: long enough for a login and a first call on a busy test
#: machine, short enough to wait out.
PSC_LIFETIME = 120
SHORT_LIFETIME = 8


def clients() -> list[dict]:
    caller = service_client(CALLER, SECRET)
    # The API's client may also get a token of its own (``client_credentials``).
    api_client = code_flow_client(API_CLIENT, SECRET, REDIRECT_URI)
    api_client["grant_types"].append("client_credentials")
    plus = code_flow_client(PLUS_CLIENT, PLUS_SECRET, REDIRECT_URI)
    return [api_client, plus, code_flow_client(SERVICE, SECRET, REDIRECT_URI), caller]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("django-rs"), SANTEID_STORE_URL="memory://", clients=clients()
    ) as process:
        yield process


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """A server whose access tokens live :data:`SHORT_LIFETIME` seconds."""
    with santeid_process(
        tmp_path_factory.mktemp("django-rs-short"),
        SANTEID_STORE_URL="memory://",
        SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
        clients=clients(),
    ) as process:
        yield process


def introspection_url(server) -> str:
    discovery = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10)
    return discovery.json()["introspection_endpoint"]


def psc_settings(server, **oidc_auth) -> dict:
    """The settings of a PSC API: django-oauth-toolkit introspecting with the API's client
    (HTTP Basic, ``RESOURCE_SERVER_INTROSPECTION_CREDENTIALS``); drf-oidc-auth on the realm
    (``OIDC_ENDPOINT``, whose discovery names the JWK Set and userinfo) with no ``aud``
    required, ``typ: "Bearer"`` required (an ID token says ``ID``), ``OIDC_LEEWAY`` PSC's
    access-token lifetime (the oldest ``iat`` it takes), the professional's user from
    ``preferred_username``; ``oidc_auth``: other settings of drf-oidc-auth."""
    return {
        "oauth2_provider": {
            "RESOURCE_SERVER_INTROSPECTION_URL": introspection_url(server),
            "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS": [API_CLIENT, SECRET],
        },
        "oidc_auth": {
            "OIDC_ENDPOINT": server.issuer,
            "OIDC_CLAIMS_OPTIONS": {"typ": {"essential": True, "value": "Bearer"}},
            "OIDC_LEEWAY": PSC_LIFETIME,
            "OIDC_RESOLVE_USER_FUNCTION": "tests.support.django_rs.professional",
            **oidc_auth,
        },
    }


def readme_settings(server) -> dict:
    """The settings as the libraries' documentation writes them: django-oauth-toolkit with
    ``RESOURCE_SERVER_AUTH_TOKEN`` (the API's own token, sent as a Bearer header),
    drf-oidc-auth with ``aud`` required (the README's ``OIDC_CLAIMS_OPTIONS``) and its default
    user lookup."""
    return {
        "oauth2_provider": {
            "RESOURCE_SERVER_INTROSPECTION_URL": introspection_url(server),
            "RESOURCE_SERVER_AUTH_TOKEN": service_token(server, API_CLIENT),
        },
        "oidc_auth": {
            "OIDC_ENDPOINT": server.issuer,
            "OIDC_CLAIMS_OPTIONS": {"aud": {"values": [API_CLIENT], "essential": True}},
        },
    }


@contextlib.contextmanager
def api(server, folder: Path, settings: dict) -> Iterator[ServiceSite]:
    """The API with ``settings`` (:func:`psc_settings`, :func:`readme_settings`), serving in
    a process of its own: its origin, whose log the test reads. What it logged and the test
    did not take must hold no error."""
    port = free_port()
    config = {"port": port, "database": str(folder / "db.sqlite3"), **settings}
    log = folder / "api.log"
    with python_relying_party("tests.support.django_rs", "DJANGO_RS", config, log, "/health/"):
        site = ServiceSite.from_end_of(f"http://localhost:{port}", log)
        yield site
        logged = site.taken()
        assert not site.failures(logged), logged


@pytest.fixture(scope="module")
def psc_api(server, tmp_path_factory):
    with api(server, tmp_path_factory.mktemp("django-rs-api"), psc_settings(server)) as site:
        yield site


def tokens(server, client_id: str = SERVICE, browser: requests.Session | None = None) -> dict:
    """The token answer of a professional's login to ``client_id``."""
    return logged_in_tokens(server.oidc, client_id, SECRET, REDIRECT_URI, PROFESSIONAL, browser)


def service_token(server, client_id: str = CALLER) -> str:
    """``client_id``'s own access token (``client_credentials``)."""
    return http_login.service_token(server.oidc, client_id, SECRET)


def called(site: str, path: str, token: str, scheme: str = "Bearer") -> requests.Response:
    return requests.get(f"{site}{path}", headers={"Authorization": f"{scheme} {token}"}, timeout=10)


def revoked(server, token: str) -> None:
    http_login.revoke(server.oidc, token, SERVICE, SECRET, token_type_hint="access_token")


# django-oauth-toolkit: introspection


def test_dot_stores_the_introspection_answer_and_checks_psc_scopes(server, psc_api):
    """An access token's introspection answer is stored as django-oauth-toolkit wants it: the
    user is ``username`` (the national identifier), the scope PSC's, the row's expiry the
    token's ``exp``, no application (the token is the authorization server's), no resource
    (no ``aud``). ``TokenHasScope`` reads the scope: ``scope_all`` passes, PSC's ``scope_1``
    (not granted) is 403."""
    token = tokens(server)["access_token"]
    me = called(psc_api, "/dot/me/", token)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "username": PROFESSIONAL,
        "scope": "openid scope_all",
        "expires": unverified_claims(token)["exp"],
        "application": None,
        "resource": [],
    }
    assert called(psc_api, "/dot/prescriptions/", token).json() == {"username": PROFESSIONAL}
    refused = called(psc_api, "/dot/scope-1/", token)
    assert refused.status_code == 403, refused.text
    psc_api.taken()  # Django's warning of the 403

    anonymous = requests.get(f"{psc_api}/dot/me/", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    psc_api.taken()


def test_dot_takes_a_service_token_as_its_service_account(server, psc_api):
    """A service's own token (``client_credentials``): introspection's ``username`` is its
    service account, ``service-account-<client_id>`` as Keycloak's, which becomes a Django
    user; its scope is empty, so a route that needs ``scope_all`` refuses it. drf-oidc-auth
    takes its JWT as the same account, and userinfo refuses it."""
    token = service_token(server)
    assert called(psc_api, "/dot/me/", token).json()["username"] == f"service-account-{CALLER}"
    assert called(psc_api, "/dot/prescriptions/", token).status_code == 403
    # drf-oidc-auth: the JWT names the service account; userinfo refuses a token without
    # ``openid`` (403 "Missing openid scope", Keycloak's answer), so the Bearer way refuses it.
    local = called(psc_api, "/oidc/me/", token, "JWT")
    assert local.json()["username"] == f"service-account-{CALLER}"
    assert called(psc_api, "/oidc/me/", token).status_code == 401
    psc_api.taken()


def test_dot_refuses_id_and_refresh_tokens(server, psc_api):
    """An ID token is ``{"active": false}`` at santeid (docs/psc-integration.md §5.2): 401. A
    refresh token is answered active (``token_type`` ``Refresh``, Keycloak's answer), which
    django-oauth-toolkit does not read; its ``aud``, the realm's URL, becomes the row's
    resource, which the API's URL does not start with: 401 ``invalid_token``."""
    answer = tokens(server)
    id_refused = called(psc_api, "/dot/me/", answer["id_token"])
    assert id_refused.status_code == 401
    assert id_refused.headers["WWW-Authenticate"] == (
        'Bearer realm="api",error="invalid_token",error_description="The access token is invalid."'
    )
    refresh_refused = called(psc_api, "/dot/me/", answer["refresh_token"])
    assert refresh_refused.status_code == 401
    assert refresh_refused.headers["WWW-Authenticate"] == (
        'Bearer realm="api",error="invalid_token",'
        'error_description="The access token is not valid for this resource."'
    )
    psc_api.taken()


def test_dot_keeps_answering_for_a_token_revoked_after_its_first_call(server, psc_api):
    """The library's limit, with Keycloak as with santeid: the row made at the first call
    answers for the token until its ``exp``, without asking santeid again, so a token
    revoked at ``/revoke`` after that call still passes. A token revoked before the API ever
    saw it is ``{"active": false}``: 401."""
    token = tokens(server)["access_token"]
    assert called(psc_api, "/dot/me/", token).status_code == 200
    revoked(server, token)
    assert called(psc_api, "/dot/me/", token).status_code == 200

    unseen = tokens(server)["access_token"]
    revoked(server, unseen)
    assert called(psc_api, "/dot/me/", unseen).status_code == 401
    psc_api.taken()


def test_a_short_caching_time_bounds_how_long_a_revoked_token_passes(server, tmp_path):
    """``RESOURCE_SERVER_TOKEN_CACHING_SECONDS`` caps the row's expiry below the token's
    ``exp``: at 1 s, the token is introspected again a second after its first call, and
    once revoked is refused from then on."""
    settings = psc_settings(server)
    settings["oauth2_provider"]["RESOURCE_SERVER_TOKEN_CACHING_SECONDS"] = 1
    with api(server, tmp_path, settings) as site:
        token = tokens(server)["access_token"]
        me = called(site, "/dot/me/", token)
        assert me.status_code == 200
        assert me.json()["expires"] < unverified_claims(token)["exp"]
        revoked(server, token)
        wait_for(lambda: called(site, "/dot/me/", token).status_code == 401, what="a refusal")
        site.taken()


def test_introspection_with_a_bearer_token_is_refused(server, tmp_path):
    """``RESOURCE_SERVER_AUTH_TOKEN`` (the API's own access token as a Bearer header):
    Keycloak's introspection authenticates the calling client (Basic, form or assertion,
    docs/reference/keycloak-behaviour.md, "Client authentication"), a Bearer header is none:
    401 "Authentication failed.", which django-oauth-toolkit logs and answers 401 for every
    token. A PSC API uses ``RESOURCE_SERVER_INTROSPECTION_CREDENTIALS``."""
    settings = readme_settings(server)
    bearer = settings["oauth2_provider"]["RESOURCE_SERVER_AUTH_TOKEN"]
    direct = requests.post(
        introspection_url(server),
        data={"token": bearer},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    assert direct.status_code == 401
    assert direct.json() == {
        "error": "invalid_request",
        "error_description": "Authentication failed.",
    }
    with api(server, tmp_path, settings) as site:
        assert called(site, "/dot/me/", tokens(server)["access_token"]).status_code == 401
        logged = site.taken()
        assert "Failed to get a valid response from authentication server. Status code: 401" in (
            logged
        ), logged


def test_introspection_credentials_are_sent_as_they_are(server, tmp_path_factory):
    """django-oauth-toolkit puts ``RESOURCE_SERVER_INTROSPECTION_CREDENTIALS`` in the Basic
    header as they are; Keycloak reads each part form-decoded, as RFC 6749 §2.3.1 has clients
    encode them (docs/reference/keycloak-behaviour.md, "Client authentication"), so a ``+``
    in the secret is read as a space: introspection is 401 and every token refused. The
    setting's secret form-encoded (``urllib.parse.quote_plus``) is read right."""
    token = tokens(server)["access_token"]
    raw = psc_settings(server)
    raw["oauth2_provider"]["RESOURCE_SERVER_INTROSPECTION_CREDENTIALS"] = [PLUS_CLIENT, PLUS_SECRET]
    encoded = psc_settings(server)
    encoded["oauth2_provider"]["RESOURCE_SERVER_INTROSPECTION_CREDENTIALS"] = [
        PLUS_CLIENT,
        quote_plus(PLUS_SECRET),
    ]
    with (
        api(server, tmp_path_factory.mktemp("raw"), raw) as raw_api,
        api(server, tmp_path_factory.mktemp("encoded"), encoded) as encoded_api,
    ):
        assert called(raw_api, "/dot/me/", token).status_code == 401
        logged = raw_api.taken()
        assert "Status code: 401" in logged, logged
        assert called(encoded_api, "/dot/me/", token).json()["username"] == PROFESSIONAL


def test_dot_refuses_an_expired_token(short_lived, tmp_path):
    """Past its ``exp`` the row has expired: the library introspects the token again, which
    santeid answers inactive: 401."""
    with api(short_lived, tmp_path, psc_settings(short_lived)) as site:
        token = tokens(short_lived)["access_token"]
        assert called(site, "/dot/me/", token).status_code == 200
        time.sleep(max(0.0, unverified_claims(token)["exp"] + 1 - time.time()))
        assert called(site, "/dot/me/", token).status_code == 401
        site.taken()


# drf-oidc-auth: the JWK Set and userinfo


def test_readme_settings_refuse_psc_tokens(server, tmp_path):
    """The README's ``OIDC_CLAIMS_OPTIONS`` require ``aud``, which PSC's access tokens lack
    (docs/reference/pro-sante-connect.md §6): every JWT is refused. Through userinfo, the
    default ``OIDC_RESOLVE_USER_FUNCTION`` looks the Django user up by ``sub`` and makes
    none: "User not found"."""
    token = tokens(server)["access_token"]
    with api(server, tmp_path, readme_settings(server)) as site:
        no_aud = called(site, "/oidc/me/", token, "JWT")
        assert no_aud.status_code == 401
        assert no_aud.json()["detail"] == (
            "<class 'joserfc.errors.MissingClaimError'>missing_claim: Missing claim: 'aud'"
        )
        no_user = called(site, "/oidc/me/", token)
        assert no_user.status_code == 401
        assert no_user.json()["detail"] == "Invalid Authorization header. User not found."
        site.taken()


def test_a_psc_token_through_the_jwk_set_and_through_userinfo(server, psc_api):
    """PSC's settings: ``Authorization: JWT`` is checked against the realm's JWK Set (the
    token's claims reach the view), ``Authorization: Bearer`` is sent to userinfo (userinfo's
    claims, PSC's ``SubjectRefPro`` among them); both are the same professional's user."""
    token = tokens(server)["access_token"]
    local = called(psc_api, "/oidc/me/", token, "JWT")
    assert local.status_code == 200, local.text
    assert local.json()["authenticator"] == "JSONWebTokenAuthentication"
    assert local.json()["username"] == PROFESSIONAL
    claims = local.json()["claims"]
    assert claims["iss"] == server.issuer and claims["azp"] == SERVICE
    assert claims["typ"] == "Bearer" and "aud" not in claims

    remote = called(psc_api, "/oidc/me/", token)
    assert remote.status_code == 200, remote.text
    assert remote.json()["authenticator"] == "BearerTokenAuthentication"
    assert remote.json()["username"] == PROFESSIONAL
    assert remote.json()["claims"]["SubjectRefPro"]["exercices"]


def test_oidc_auth_refuses_id_refresh_and_forged_tokens(server, psc_api):
    """The ID token: its ``typ`` is ``ID`` (the JWK Set), userinfo refuses it (401
    "Token verification failed"); the refresh token is signed with the realm's HMAC secret,
    which the set lacks; a token re-signed under santeid's ``kid`` fails the signature. A
    refusal is 401 with the ``JWT`` challenge, the first class's."""
    answer = tokens(server)
    id_local = called(psc_api, "/oidc/me/", answer["id_token"], "JWT")
    assert id_local.status_code == 401
    assert id_local.json()["detail"] == (
        "<class 'joserfc.errors.InvalidClaimError'>invalid_claim: Invalid claim: 'typ'"
    )
    assert id_local.headers["WWW-Authenticate"] == 'JWT realm="api"'
    id_remote = called(psc_api, "/oidc/me/", answer["id_token"])
    assert id_remote.json()["detail"] == (
        "Invalid Authorization header. Unable to verify bearer token"
    )
    refresh = called(psc_api, "/oidc/me/", answer["refresh_token"], "JWT")
    assert refresh.status_code == 401
    assert refresh.json()["detail"] == "Invalid Authorization header. JWT algorithm not allowed."
    assert called(psc_api, "/oidc/me/", answer["refresh_token"]).status_code == 401
    token = answer["access_token"]
    forgery = called(psc_api, "/oidc/me/", forged(token, kid_of(token)), "JWT")
    assert forgery.json()["detail"] == (
        "Invalid Authorization header. JWT Signature verification failed."
    )
    psc_api.taken()  # the library logs each refusal's traceback


def test_oidc_auth_keeps_userinfo_answers(server, psc_api):
    """The library's limit: userinfo's answer is kept ``OIDC_BEARER_TOKEN_EXPIRATION_TIME``
    (ten minutes): a token revoked after its first call still passes; one revoked before is
    refused by userinfo. The JWK Set knows nothing of revocations."""
    token = tokens(server)["access_token"]
    assert called(psc_api, "/oidc/me/", token).status_code == 200
    revoked(server, token)
    assert called(psc_api, "/oidc/me/", token).status_code == 200
    assert called(psc_api, "/oidc/me/", token, "JWT").status_code == 200

    unseen = tokens(server)["access_token"]
    revoked(server, unseen)
    assert called(psc_api, "/oidc/me/", unseen).status_code == 401
    psc_api.taken()


def test_oidc_auth_leeway_is_the_oldest_token_it_takes(short_lived, tmp_path_factory):
    """``OIDC_LEEWAY`` is the clock skew allowed on ``exp`` and the age past which ``iat`` is
    "too old": with the access-token lifetime, an expired token is refused; with the default
    600 s, it passes for ten minutes more. Userinfo's answer kept from before the expiry lets
    it through too; a token first sent after it is refused by userinfo."""
    exact = psc_settings(short_lived, OIDC_LEEWAY=SHORT_LIFETIME)
    default = psc_settings(short_lived)
    del default["oidc_auth"]["OIDC_LEEWAY"]
    with (
        api(short_lived, tmp_path_factory.mktemp("exact"), exact) as exact_api,
        api(short_lived, tmp_path_factory.mktemp("default"), default) as default_api,
    ):
        token = tokens(short_lived)["access_token"]
        seen = tokens(short_lived)["access_token"]
        assert called(exact_api, "/oidc/me/", token, "JWT").status_code == 200
        assert called(exact_api, "/oidc/me/", seen).status_code == 200
        time.sleep(max(0.0, unverified_claims(token)["exp"] + 1 - time.time()))
        too_old = called(exact_api, "/oidc/me/", token, "JWT")
        assert too_old.json()["detail"] == "Invalid Authorization header. JWT too old."
        assert called(default_api, "/oidc/me/", token, "JWT").status_code == 200
        assert called(exact_api, "/oidc/me/", seen).status_code == 200
        assert called(exact_api, "/oidc/me/", token).status_code == 401
        exact_api.taken()


def test_oidc_auth_fetches_the_jwk_set_once_a_day(server, psc_api, tmp_path):
    """``santeid keys rotate``: the new key signs at once, as a new Keycloak key does, and the
    library, which keeps the JWK Set ``OIDC_JWKS_EXPIRATION_TIME`` (a day) and fetches it
    again for no unknown ``kid``, refuses the new key's tokens until then; an API started
    since verifies them. ``santeid keys prepare`` at least that long before the rotation
    (docs/keys.md) spares it."""
    browser = requests.Session()

    def new_token() -> str:
        return tokens(server, browser=browser)["access_token"]

    before = new_token()
    assert called(psc_api, "/oidc/me/", before, "JWT").status_code == 200
    after = signed_with(rotated(server), new_token)
    assert kid_of(after) != kid_of(before)
    unknown = called(psc_api, "/oidc/me/", after, "JWT")
    assert unknown.json()["detail"] == "Invalid Authorization header. JWT signature key not found."
    assert called(psc_api, "/oidc/me/", before, "JWT").status_code == 200
    psc_api.taken()
    with api(server, tmp_path, psc_settings(server)) as fresh:
        assert called(fresh, "/oidc/me/", after, "JWT").status_code == 200

"""A FastAPI API of a Pro Santé Connect service protected by fastapi-keycloak-middleware 2
(https://fastapi-keycloak-middleware.readthedocs.io/, on python-keycloak and jwcrypto),
configured as for PSC with only the base URL changed: ``url`` ``<santeid>/auth``, ``realm``
``esante-wallet``, the service's ``client_id`` and secret. The API runs in this process
(uvicorn in a thread); the middleware fetches the realm's JWK Set, or introspects the
token, at a real ``santeid serve``, and the tokens are a professional's, from a login at its
sandbox (tests/support/http_login.py).

What PSC's tokens need of the configuration (``validation_options``, passed to python-keycloak's
``decode_token`` and on to jwcrypto's ``JWT``,
https://jwcrypto.readthedocs.io/en/latest/jwt.html):

- by default the middleware checks the signature against the realm's keys, ``exp`` and ``nbf``
  with python-keycloak's 60 s of leeway, and that ``sub`` is there — not ``iss``, ``typ`` nor
  ``aud``: an ID token of the realm passes. ``check_claims`` ``{"iss": <issuer>, "typ":
  "Bearer", "exp": None}`` refuses it (PSC's access tokens say ``typ: "Bearer"``, its ID tokens
  ``"ID"``, as Keycloak's); jwcrypto checks ``exp`` only when ``check_claims`` is absent or
  names it, so a ``check_claims`` without ``"exp"`` lets expired tokens through;
- ``"aud"`` in ``check_claims`` refuses every PSC access token, which has none
  (docs/reference/pro-sante-connect.md §6);
- ``leeway``: 0 refuses a token once its ``exp`` has passed;
- ``authorization_claim`` ``scope`` (``authorization_method`` ``CLAIM``) gives the token's
  scopes to ``CheckPermissions``; the default ``roles`` is a claim PSC's tokens lack.

In introspection mode (``use_introspection_endpoint``) every check is santeid's, as
Keycloak's: a revoked, expired, foreign or ID token is ``{"active": false}``
(docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation")."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Annotated

import jwt
import pytest
import requests
from fastapi import Depends
from fastapi import FastAPI
from fastapi_keycloak_middleware import AuthContext
from fastapi_keycloak_middleware import AuthorizationMethod
from fastapi_keycloak_middleware import CheckPermissions
from fastapi_keycloak_middleware import FastApiUser
from fastapi_keycloak_middleware import KeycloakConfiguration
from fastapi_keycloak_middleware import ServicePrincipal
from fastapi_keycloak_middleware import get_auth_context
from fastapi_keycloak_middleware import get_service_principal
from fastapi_keycloak_middleware import get_user
from fastapi_keycloak_middleware import setup_keycloak_middleware

from tests.support.asgi_server import uvicorn_serving
from tests.support.http_login import logged_in_tokens
from tests.support.http_login import service_token
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.jwt_keys import signed_with
from tests.support.oidc_flow import basic_auth
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_process
from tests.support.servers import service_client

pytestmark = pytest.mark.server

CLIENT_ID = "psc-fastapi-api"
OTHER_CLIENT_ID = "another-psc-service"
#: A service calling the API with its own token (``client_credentials``).
CALLER = "a-calling-service"
#: The prefix of a service account's ``preferred_username``, Keycloak's as santeid's
#: (docs/reference/keycloak-behaviour.md, "Token endpoint").
SERVICE_ACCOUNT = "service-account-"
SECRET = "a-long-secret-for-the-fastapi-api-00000001"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
#: The access-token lifetime of the server whose tokens expire during a test.
SHORT_LIFETIME = 2


def client(client_id: str) -> dict:
    return code_flow_client(client_id, SECRET, REDIRECT_URI)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("fastapi-keycloak"),
        SANTEID_STORE_URL="memory://",
        clients=[client(CLIENT_ID), client(OTHER_CLIENT_ID), caller()],
    ) as process:
        yield process


def caller() -> dict:
    return service_client(CALLER, SECRET)


def psc_checks(server, **extra) -> dict:
    """The ``validation_options`` a PSC API sets: the realm's issuer, access tokens only, the
    expiry still checked (``extra``: more of jwcrypto's claims, python-keycloak's
    ``leeway``)."""
    claims = {"iss": server.issuer, "typ": "Bearer", "exp": None, **extra.pop("claims", {})}
    return {"check_claims": claims, **extra}


def configuration(server, **options) -> KeycloakConfiguration:
    """The middleware's configuration for PSC, the base URL santeid's (``options``: the
    middleware's others, or another ``client_secret``)."""
    settings = {
        # The trailing slash: python-keycloak joins the paths to it (urljoin), so without
        # it PSC's /auth context path is dropped.
        "url": f"{server.base}/auth/",
        "realm": "esante-wallet",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    return KeycloakConfiguration(**{**settings, **options})


@contextlib.contextmanager
def api(server, user_mapper=None, **options) -> Iterator[str]:
    """The service's API: ``/me`` answers the token's claims and the middleware's user
    (``user_mapper``'s, else the default ``FastApiUser``),
    ``/prescriptions`` needs ``scope_all`` among the token's scopes, ``/caller`` answers
    the service a ``client_credentials`` token names (``service_detector``: the service
    account's ``preferred_username``; not ``client_id``, which every introspection answer
    has, and which santeid's service tokens spell ``clientId`` as older Keycloak clients do);
    served by uvicorn (tests/support/asgi_server.py), its origin."""
    app = FastAPI()
    setup_keycloak_middleware(
        app,
        configuration(server, **options),
        user_mapper=user_mapper,
        service_detector=lambda claims: claims.get("preferred_username", "").startswith(
            SERVICE_ACCOUNT
        ),
        # The API's own documentation is public: the middleware guards every path otherwise.
        exclude_patterns=["/openapi.json", "/docs"],
        add_swagger_auth=True,
        swagger_auth_scopes=["openid", "scope_all"],
    )

    @app.get("/me")
    async def me(
        context: Annotated[AuthContext, Depends(get_auth_context)],
        user: Annotated[FastApiUser, Depends(get_user)],
    ) -> dict:
        return {"claims": context.claims, "user": [user.identity, user.display_name]}

    @app.get("/prescriptions", dependencies=[Depends(CheckPermissions("scope_all"))])
    async def prescriptions() -> list:
        return []

    @app.get("/caller")
    async def calling(service: Annotated[ServicePrincipal, Depends(get_service_principal)]) -> str:
        return service.identity

    with uvicorn_serving(app) as origin:
        yield origin


def tokens(server, client_id: str = CLIENT_ID) -> dict:
    """The token answer of a professional's login to ``client_id``."""
    return logged_in_tokens(server.oidc, client_id, SECRET, REDIRECT_URI, PROFESSIONAL)


def called(origin: str, token: str, path: str = "/me") -> requests.Response:
    """The API's ``path`` called with ``token`` as the Bearer token."""
    return requests.get(f"{origin}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def refused(response, detail: str = "") -> None:
    """The middleware's refusal: 401 with RFC 6750's ``invalid_token`` challenge and, in its
    ``detail``, what failed."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert detail in response.json()["detail"], response.json()


def test_a_professionals_access_token_reaches_the_route(server):
    """The key of the realm's JWK Set checks the token: PSC's claims reach the route through
    ``get_auth_context``; ``scope_all`` in ``scope`` lets ``CheckPermissions`` pass. The
    default user (``sub``, ``given_name``, ``family_name``) reaches ``get_user`` without a
    name: PSC's access tokens carry none (docs/reference/pro-sante-connect.md §6), the
    professional is ``preferred_username``, names are in the ID token and userinfo."""
    token = tokens(server)["access_token"]
    options = {
        "validation_options": psc_checks(server),
        "authorization_method": AuthorizationMethod.CLAIM,
        "authorization_claim": "scope",
    }
    with api(server, **options) as service:
        me = called(service, token)
        assert me.status_code == 200, me.text
        claims = me.json()["claims"]
        assert claims["preferred_username"] == PROFESSIONAL and claims["azp"] == CLIENT_ID
        assert claims["iss"] == server.issuer and claims["typ"] == "Bearer"
        assert "aud" not in claims
        assert "given_name" not in claims and "family_name" not in claims
        assert me.json()["user"] == [claims["sub"], " "]
        assert called(service, token, "/prescriptions").json() == []
        assert requests.get(f"{service}/me", timeout=10).status_code == 401  # no token at all


def test_a_service_accounts_token_is_a_service_principal(server):
    """A service's own token (``client_credentials``, as Keycloak's service accounts): its
    ``preferred_username`` makes it a service principal, named by ``azp`` (the default
    mapper's fallback), which ``get_service_principal`` answers and ``get_user`` refuses
    (403); a professional's token is refused at ``/caller``, by the JWK Set as by
    introspection."""
    token = service_token(server.oidc, CALLER, SECRET)
    with api(server, validation_options=psc_checks(server)) as service:
        assert called(service, token, "/caller").json() == CALLER
        assert called(service, token).status_code == 403
        assert called(service, tokens(server)["access_token"], "/caller").status_code == 403
    with api(server, use_introspection_endpoint=True) as service:
        assert called(service, token, "/caller").json() == CALLER
        assert called(service, tokens(server)["access_token"], "/caller").status_code == 403


def test_the_swagger_ui_reads_the_realms_discovery(server):
    """``add_swagger_auth``: the OpenAPI document's OpenID Connect scheme names
    ``{url}/realms/{realm}/.well-known/openid-configuration``, which santeid serves, as PSC's
    Keycloak does, and whose endpoints are santeid's."""
    with api(server) as service:
        schemes = requests.get(f"{service}/openapi.json", timeout=10).json()["components"][
            "securitySchemes"
        ]
    url = schemes["keycloak-openid"]["openIdConnectUrl"]
    assert url == f"{server.issuer}/.well-known/openid-configuration"
    discovery = requests.get(url, timeout=10).json()
    assert discovery["authorization_endpoint"] == f"{server.oidc}/auth"


def test_an_id_token_passes_the_default_checks_and_not_psc_ones(server):
    """The ID token is signed by the same key and has a ``sub``: the default configuration
    lets it through, as it would a Keycloak ID token. ``typ: "Bearer"`` in ``check_claims``
    refuses it (its ``typ`` is ``ID``)."""
    id_token = tokens(server)["id_token"]
    with api(server) as service:
        assert called(service, id_token).json()["claims"]["typ"] == "ID"
    with api(server, validation_options=psc_checks(server)) as service:
        refused(called(service, id_token), "Invalid 'typ' value")


def test_an_audience_refuses_every_psc_token(server):
    """PSC's access tokens have no ``aud`` (docs/reference/pro-sante-connect.md §6): an API
    that checks one refuses them all, at PSC as here; ``azp`` names the service instead."""
    checks = psc_checks(server, claims={"aud": CLIENT_ID})
    with api(server, validation_options=checks) as service:
        refused(called(service, tokens(server)["access_token"]), "Claim aud is missing")
    with api(server, validation_options=psc_checks(server)) as service:
        other = called(service, tokens(server, OTHER_CLIENT_ID)["access_token"])
        assert other.json()["claims"]["azp"] == OTHER_CLIENT_ID


def test_a_token_of_another_issuer_or_key_is_refused(server):
    """``iss`` checked against another realm's issuer; a token re-signed by another key under
    santeid's ``kid`` (the signature fails), or under a ``kid`` the JWK Set lacks (the
    middleware fetches the set again for it at most every ``jwks_refresh_interval``, 30 s by
    default, and the set has no such key)."""
    token = tokens(server)["access_token"]
    other_realm = psc_checks(server, claims={"iss": server.issuer.replace("esante", "other")})
    with api(server, validation_options=other_realm) as service:
        refused(called(service, token), "Invalid 'iss' value")
    with api(server, validation_options=psc_checks(server)) as service:
        assert called(service, token).status_code == 200
        # jwcrypto says "Missing Key" of both: no key of the set verifies the signature.
        refused(called(service, forged(token, kid_of(token))), "Missing Key")
        refused(called(service, forged(token, "an-unknown-kid")), "Missing Key")


def test_a_rotation_needs_the_key_set_fetched_again(server):
    """``santeid keys rotate``: the new key signs at once, as a new Keycloak key does. The
    middleware fetches the JWK Set again for the new ``kid`` — unless it fetched it less than
    ``jwks_refresh_interval`` ago (30 s by default), in which case it refuses the new key's
    tokens until then (``santeid keys prepare`` beforehand spares that, docs/keys.md); a
    token signed before the rotation keeps verifying, its key still published."""
    browser = requests.Session()

    def new_token() -> str:
        return logged_in_tokens(
            server.oidc, CLIENT_ID, SECRET, REDIRECT_URI, PROFESSIONAL, browser
        )["access_token"]

    before = new_token()
    checks = psc_checks(server)
    with (
        api(server, validation_options=checks) as holding,
        api(server, validation_options=checks, jwks_refresh_interval=0) as refreshing,
    ):
        assert called(holding, before).status_code == called(refreshing, before).status_code == 200
        after = signed_with(rotated(server), new_token)
        assert kid_of(after) != kid_of(before)
        refused(called(holding, after), "Missing Key")
        assert called(refreshing, after).json()["claims"]["preferred_username"] == PROFESSIONAL
        assert called(refreshing, before).status_code == 200


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """A server whose access tokens live :data:`SHORT_LIFETIME` seconds."""
    with santeid_process(
        tmp_path_factory.mktemp("fastapi-keycloak-short"),
        SANTEID_STORE_URL="memory://",
        SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
        clients=[client(CLIENT_ID)],
    ) as process:
        yield process


def test_an_expired_token_is_refused(short_lived):
    """Past its ``exp``: refused with ``leeway`` 0 (and by introspection); python-keycloak's
    default 60 s of leeway still lets it through, and so does a ``check_claims`` that does
    not name ``exp`` (jwcrypto checks it only by default or when named)."""
    token = tokens(short_lived)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == SHORT_LIFETIME
    time.sleep(max(0.0, claims["exp"] + 1 - time.time()))
    with api(short_lived, validation_options=psc_checks(short_lived, leeway=0)) as service:
        refused(called(service, token), "Expired at")
    with api(short_lived, validation_options=psc_checks(short_lived)) as service:
        assert called(service, token).status_code == 200
    unchecked = {"check_claims": {"typ": "Bearer"}, "leeway": 0}
    with api(short_lived, validation_options=unchecked) as service:
        assert called(service, token).status_code == 200
    with api(short_lived, use_introspection_endpoint=True) as service:
        refused(called(service, token), "Unable to verify provided access token")


def test_introspection_refuses_revoked_and_id_tokens(server):
    """``use_introspection_endpoint``: santeid answers for every token. An active access
    token's introspection claims reach the route (with ``SubjectNameID``, ``client_id``,
    ``username``, ``active``); an ID token, a forged one, an access token revoked at
    ``/revoke`` and one whose session ended at logout are ``{"active": false}``: 401."""
    answer = tokens(server)
    token = answer["access_token"]
    with api(server, use_introspection_endpoint=True) as service:
        claims = called(service, token).json()["claims"]
        assert claims["active"] is True and claims["SubjectNameID"] == PROFESSIONAL
        assert claims["client_id"] == CLIENT_ID and claims["username"] == PROFESSIONAL
        refused(called(service, answer["id_token"]), "Unable to verify provided access token")
        refused(
            called(service, forged(token, kid_of(token))), "Unable to verify provided access token"
        )

        revocation = requests.post(
            f"{server.oidc}/revoke",
            data={"token": token, "token_type_hint": "access_token"},
            headers=basic_auth(CLIENT_ID, SECRET),
            timeout=10,
        )
        assert revocation.status_code == 200
        refused(called(service, token), "Unable to verify provided access token")

        ended = tokens(server)
        assert called(service, ended["access_token"]).status_code == 200
        logout = requests.post(
            f"{server.oidc}/logout",
            data={"refresh_token": ended["refresh_token"]},
            headers=basic_auth(CLIENT_ID, SECRET),
            timeout=10,
        )
        assert logout.status_code == 204
        refused(called(service, ended["access_token"]), "Unable to verify provided access token")

    # The JWK Set alone knows nothing of revocations: the signature still verifies.
    with api(server, validation_options=psc_checks(server)) as service:
        assert called(service, token).status_code == 200


async def access_token_user(claims: dict) -> FastApiUser | None:
    """A user mapper that refuses (``None``: 401) what is not an access token."""
    if claims.get("token_type", claims.get("typ")) != "Bearer":
        return None
    return FastApiUser(claims.get("given_name", ""), claims.get("family_name", ""), claims["sub"])


def test_introspection_answers_a_refresh_token_active(server):
    """A refresh token sent as the Bearer token: Keycloak's access-token introspection answers
    it active, ``token_type`` ``Refresh`` (docs/reference/keycloak-behaviour.md, "Userinfo,
    introspection, revocation"), and the middleware, which sends no ``token_type_hint`` and
    checks ``active`` only, lets it through; a user mapper that requires ``Bearer`` refuses
    it. Checked against the JWK Set, it is refused: signed with the realm's HMAC secret
    (docs/keys.md, "The refresh-token secret"), no key of the set verifies it."""
    answer = tokens(server)
    with api(server, use_introspection_endpoint=True) as service:
        claims = called(service, answer["refresh_token"]).json()["claims"]
        assert claims["active"] is True and claims["token_type"] == "Refresh"
    with api(server, access_token_user, use_introspection_endpoint=True) as service:
        refused(called(service, answer["refresh_token"]), "Could not find a user")
        assert called(service, answer["access_token"]).status_code == 200
    with api(server, validation_options=psc_checks(server)) as service:
        refused(called(service, answer["refresh_token"]), "Missing Key")


def test_introspection_with_a_wrong_secret_is_the_providers_failure(server):
    """A wrong secret: santeid refuses the introspection as Keycloak up to 26.6 does (401
    ``invalid_request`` "Authentication failed.", docs/reference/keycloak-behaviour.md,
    "Client authentication"), which python-keycloak raises and the middleware answers 503
    "Unable to reach the identity provider", not 401: the token was never judged."""
    token = tokens(server)["access_token"]
    direct = requests.post(
        f"{server.oidc}/token/introspect",
        data={"token": token},
        headers=basic_auth(CLIENT_ID, "not-the-secret"),
        timeout=10,
    )
    assert direct.status_code == 401
    assert direct.json() == {
        "error": "invalid_request",
        "error_description": "Authentication failed.",
    }
    with api(server, use_introspection_endpoint=True, client_secret="not-the-secret") as service:
        answer = called(service, token)
    assert answer.status_code == 503
    assert answer.json() == {"detail": "Unable to reach the identity provider"}

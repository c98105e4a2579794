"""An API protected by santeid's access tokens as a Pro Santé Connect API owner writes one in
Node: ``tests/e2e/passport/api.js``, an Express API validating JWT access tokens locally with
express-oauth2-jwt-bearer 1.10 (https://github.com/auth0/node-oauth2-jwt-bearer) and with
passport-jwt 4 and jwks-rsa 4 (https://github.com/mikenicholson/passport-jwt,
https://github.com/auth0/node-jwks-rsa), each configured as its README says, with the realm
as issuer — against real ``santeid serve`` processes, with tokens from real logins of a
sandbox professional (:func:`tests.support.operations.full_login`).

What the libraries require of a token, and what santeid's are (PSC's shape, recorded in
docs/reference/keycloak-behaviour.md, "Tokens"): header ``{"alg": "RS256", "typ": "JWT",
"kid"}``, ``iss`` the realm, ``typ: "Bearer"``, ``azp`` the client, no ``aud``. The API's
locked dependencies are installed with ``npm ci`` into its git-ignored ``node_modules`` the
first time (jwks-rsa 4 needs Node.js 20.19, 22.12 or later); ``.ci/run`` installs Debian's
nodejs and npm."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from joserfc import jws
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.node import NODE
from tests.support.node import install_locked
from tests.support.node import needs_node_and_npm
from tests.support.node import needs_require_of_es_modules
from tests.support.operations import code_flow_client
from tests.support.operations import full_login
from tests.support.redis_server import free_port
from tests.support.servers import REALM
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "passport"

pytestmark = [pytest.mark.server, needs_node_and_npm, needs_require_of_es_modules]

CLIENT_ID = "psc-api-caller"
SECRET = "a-long-secret-for-the-psc-api-caller-0001"
CLIENTS = [code_flow_client(CLIENT_ID, SECRET)]
#: docs/sandbox.md: approved at once.
PROFESSIONAL = "810000000030"
#: The API's name, as express-oauth2-jwt-bearer requires one: PSC's tokens carry no ``aud``.
AUDIENCE = "https://api.example.org/psc"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("node-api"), clients=CLIENTS, SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def node_api(issuer: str, log: Path, **env: str) -> Iterator[str]:
    """``api.js`` trusting ``issuer`` (``env``: more of its settings); its origin."""
    assert NODE is not None  # needs_node_and_npm
    install_locked(APP_DIR, "express-oauth2-jwt-bearer")
    port = free_port()
    settings = {**os.environ, "PORT": str(port), "ISSUER": issuer, "AUDIENCE": AUDIENCE, **env}
    origin = f"http://127.0.0.1:{port}"
    with running_server([NODE, str(APP_DIR / "api.js")], settings, log, f"{origin}/health"):
        yield origin


@pytest.fixture(scope="module")
def api(server):
    with node_api(server.issuer, server.home / "api.log") as origin:
        yield origin


def tokens(issuer: str) -> dict:
    """A sandbox professional's login at the realm ``issuer`` (the server's address), the code
    redeemed: the token answer."""
    return full_login(issuer, PROFESSIONAL, client_id=CLIENT_ID, secret=SECRET)


@pytest.fixture(scope="module")
def login(server) -> dict:
    return tokens(server.issuer)


def call(api: str, route: str, token: str) -> tuple[int, dict]:
    """The API's ``route`` with ``token`` as ``Authorization: Bearer``: status and JSON."""
    answer = requests.get(f"{api}{route}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return answer.status_code, answer.json()


def unverified(token: str) -> tuple[dict, dict]:
    """A JWT's header and claims as sent, unverified."""
    extracted = jws.extract_compact(token.encode())
    return dict(extracted.protected), json.loads(extracted.payload)


#: The routes that accept access tokens only (``typ: "Bearer"``), and all the PSC routes.
ACCESS_ROUTES = ("/bearer/access", "/bearer/wallet", "/jwt/psc")
ROUTES = ("/bearer/psc", *ACCESS_ROUTES)


def refusals(api: str, token: str, routes: tuple[str, ...] = ACCESS_ROUTES) -> dict[str, str]:
    """Each of ``routes`` refusing ``token``: 401, with express-oauth2-jwt-bearer's
    ``invalid_token`` (passport-jwt's refusals have no code); the message of each."""
    found = {}
    for route in routes:
        status, answer = call(api, route, token)
        code = None if route.startswith("/jwt/") else "invalid_token"
        assert (status, answer["code"]) == (401, code), (route, answer)
        found[route] = answer["message"]
    return found


def by_library(bearer: str, jwt: str) -> dict[str, str]:
    """The refusals of the access routes: express-oauth2-jwt-bearer's, passport-jwt's."""
    return {"/bearer/access": bearer, "/bearer/wallet": bearer, "/jwt/psc": jwt}


def test_the_readme_configuration_wants_an_aud_that_psc_tokens_do_not_have(api, login):
    """``auth({issuerBaseURL, audience})`` as the README writes it checks ``aud`` against the
    configured audience; PSC's access tokens have none (docs/reference/keycloak-behaviour.md,
    "Tokens"), so neither have santeid's: 401 ``invalid_token``. A PSC API turns that
    validator off (``validators: { aud: false }``) and checks what the token does say."""
    header, claims = unverified(login["access_token"])
    assert "aud" not in claims
    assert refusals(api, login["access_token"], ("/bearer/readme",)) == {
        "/bearer/readme": "Unexpected 'aud' value"
    }


def test_an_access_token_of_a_real_login_passes_every_configuration(api, login, server):
    """Each configuration fetches the JWK Set (express-oauth2-jwt-bearer through discovery at
    the issuer or at PSC's wallet discovery URL, jwks-rsa at ``jwks_uri``), verifies the
    RS256 signature by ``kid``, ``iss`` and ``exp``, and hands the API the token's claims:
    PSC's."""
    header, claims = unverified(login["access_token"])
    for route in ROUTES:
        status, answer = call(api, route, login["access_token"])
        assert status == 200, (route, answer)
        assert answer["payload"] == claims and answer["header"] == header
    assert header == {"alg": "RS256", "typ": "JWT", "kid": header["kid"]}
    assert claims["iss"] == server.issuer and claims["typ"] == "Bearer"
    assert claims["azp"] == CLIENT_ID and claims["preferred_username"] == PROFESSIONAL
    assert claims["sub"].endswith(f":{PROFESSIONAL}") and claims["scope"] == "openid scope_all"


def test_an_id_token_passes_only_where_typ_is_checked(api, login):
    """The ID token is signed by the same key for the same issuer: a middleware checking the
    signature, ``iss`` and ``exp`` alone takes it for an access token (so it does with
    Keycloak's). Keycloak's claim ``typ`` tells them apart — ``ID`` against ``Bearer`` —
    and the header's ``typ`` does not (``JWT`` on both): ``claimEquals('typ', 'Bearer')``
    refuses it (401 ``invalid_token``), and so does the passport-jwt verify function that
    checks it."""
    header, claims = unverified(login["id_token"])
    assert claims["typ"] == "ID" and header["typ"] == "JWT"
    status, answer = call(api, "/bearer/psc", login["id_token"])
    assert status == 200 and answer["payload"]["typ"] == "ID"
    assert refusals(api, login["id_token"]) == by_library(
        "Unexpected 'typ' value", "not an access token: typ ID"
    )


def test_a_token_signed_by_an_unknown_key_is_refused(api, login):
    """The claims and header of a real access token, ``kid`` included, signed again with
    another RSA key: the published key with that ``kid`` does not verify it."""
    header, claims = unverified(login["access_token"])
    forged = jwt.encode(header, claims, RSAKey.generate_key(2048, private=True))
    assert refusals(api, forged) == by_library("signature verification failed", "invalid signature")


def test_a_token_of_another_santeid_is_refused(api, tmp_path):
    """Another santeid (its own keys and issuer, as PSC's BAS and production realms): its
    token's ``kid`` is not in the API's JWK Set, which both libraries fetch again before they
    refuse it (jose's remote key set, jwks-rsa's cache by ``kid``)."""
    with santeid_process(
        tmp_path, clients=CLIENTS, fresh_keys=True, SANTEID_STORE_URL="memory://"
    ) as other:
        foreign = tokens(other.issuer)["access_token"]
    assert refusals(api, foreign) == by_library(
        "no applicable key found in the JSON Web Key Set", "secret or public key must be provided"
    )


def test_an_expired_access_token_is_refused(api, server, tmp_path):
    """An access token past its ``exp``: one of a second host of the same deployment (the
    issuer and keys the API trusts, docs/deployment.md, "Several hosts") whose access tokens
    live one second. express-oauth2-jwt-bearer accepts five seconds of clock skew
    (``clockTolerance``), jsonwebtoken none."""
    with santeid_process(
        tmp_path,
        clients=CLIENTS,
        SANTEID_ISSUER=server.issuer,
        SANTEID_ACCESS_TOKEN_LIFETIME="1",
        SANTEID_STORE_URL="memory://",
    ) as second_host:
        expired = tokens(second_host.base + REALM)["access_token"]
    _, claims = unverified(expired)
    assert claims["iss"] == server.issuer and claims["exp"] - claims["iat"] == 1
    time.sleep(max(0.0, claims["exp"] + 6 - time.time()))
    assert refusals(api, expired) == by_library('"exp" claim timestamp check failed', "jwt expired")


def test_the_apis_follow_a_key_rotation(tmp_path):
    """``santeid keys rotate`` while the API runs: it holds the JWK Set it fetched for the
    first token; a token signed by the new key names a ``kid`` it does not know, and both
    libraries fetch the set again and verify it (docs/keys.md, "Rotation"). jose, under
    express-oauth2-jwt-bearer, fetches again at most once per ``cooldownDuration`` (30 s by
    default): this API sets it to 0 so that the new token need not wait."""
    with (
        santeid_process(tmp_path, clients=CLIENTS, SANTEID_STORE_URL="memory://") as server,
        node_api(server.issuer, tmp_path / "api.log", JWKS_COOLDOWN_MS="0") as api,
    ):
        first = tokens(server.issuer)
        first_kid = unverified(first["access_token"])[0]["kid"]
        for route in ACCESS_ROUTES:
            assert call(api, route, first["access_token"])[0] == 200
        server.cli("keys", "rotate")
        # Every worker signs with the new key within reload_interval (5 s): refresh until one has.
        deadline = time.monotonic() + 30
        refresh = first["refresh_token"]
        while True:
            answer = requests.post(
                f"{server.oidc}/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                auth=(CLIENT_ID, SECRET),
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            refreshed, refresh = answer.json()["access_token"], answer.json()["refresh_token"]
            if unverified(refreshed)[0]["kid"] != first_kid:
                break
            assert time.monotonic() < deadline, "no token signed by the new key within 30 s"
            time.sleep(0.5)
        for route in ACCESS_ROUTES:
            status, answer = call(api, route, refreshed)
            assert status == 200, (route, answer)
            assert answer["header"]["kid"] != first_kid
        # The first token, signed by the retired key, still verifies: the key stays published.
        for route in ACCESS_ROUTES:
            assert call(api, route, first["access_token"])[0] == 200

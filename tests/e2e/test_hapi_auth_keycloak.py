"""A hapi API protected by hapi-auth-keycloak 5 (https://github.com/felixheck/hapi-auth-keycloak,
the ``keycloak-jwt`` authentication scheme for a Keycloak realm, on keycloak-connect's
``GrantManager``) with santeid's access tokens, against real ``santeid serve`` processes and
tokens of real logins of a sandbox professional (:func:`tests.support.operations.full_login`).

The API is ``tests/e2e/hapi_auth_keycloak/api.js``: one strategy per mode of the README's
"Plugin + Strategy Options" table, each with ``realmUrl`` the realm's URL and ``clientId``:
``publicKey`` (offline: the realm's public key), neither key nor secret (the signature checked
with the realm's JWK Set by ``kid``), ``secret`` (online and live: every token introspected).
The offline and JWK Set modes check, in keycloak-connect's ``validateToken``: ``exp``, the
claim ``typ`` (``Bearer``), ``iss`` the realm URL, then the RS256 signature; ``aud`` only with
keycloak-connect's ``verifyTokenAudience``, which the plugin never sets — so PSC's tokens,
which have no ``aud`` (docs/reference/keycloak-behaviour.md, "Tokens"), pass without any
setting. The introspecting mode takes ``active`` from the realm and nothing else.

The plugin's route scopes come from the token: ``realm_access`` roles as ``realm:<role>``,
``resource_access`` roles, and each word of the claim ``scope`` as ``clientscope:<scope>``.
PSC's tokens have no roles, so a PSC API requires ``clientscope:scope_all``. A refusal is
hapi's 401 whose ``WWW-Authenticate`` names the strategy and keycloak-connect's reason. The
API's locked dependencies are installed with ``npm ci`` into its git-ignored ``node_modules``
the first time."""

from __future__ import annotations

import contextlib
import json
import os
import re
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
from tests.support.operations import code_flow_client
from tests.support.operations import full_login
from tests.support.redis_server import free_port
from tests.support.servers import REALM
from tests.support.servers import running_server
from tests.support.servers import santeid_process

APP_DIR = Path(__file__).resolve().parent / "hapi_auth_keycloak"

pytestmark = [pytest.mark.server, needs_node_and_npm]

CLIENT_ID = "psc-api-caller"
SECRET = "a-long-secret-for-the-psc-api-caller-0001"
#: The API's own client at the realm, whose secret authenticates its introspection requests.
API_ID = "hapi-psc-api"
API_SECRET = "a-long-secret-for-the-hapi-psc-api-00001"
CLIENTS = [code_flow_client(CLIENT_ID, SECRET), code_flow_client(API_ID, API_SECRET)]
#: docs/sandbox.md: approved at once.
PROFESSIONAL = "810000000030"
STRATEGIES = ("key", "jwks", "introspect")
#: What the introspecting strategy says of any token the realm calls inactive: the plugin
#: gives no reason (its own message, "Invalid credentials", is the error).
INACTIVE = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("hapi-api"), clients=CLIENTS, SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def hapi_api(server, log: Path) -> Iterator[str]:
    """``api.js`` trusting ``server``'s realm: its public key as the realm URL gives it, its
    API client for introspection; its origin."""
    assert NODE is not None  # needs_node_and_npm
    install_locked(APP_DIR, "hapi-auth-keycloak")
    port = free_port()
    realm = requests.get(server.issuer, timeout=10).json()
    settings = {
        **os.environ,
        "PORT": str(port),
        "REALM": server.issuer,
        "CLIENT_ID": API_ID,
        "CLIENT_SECRET": API_SECRET,
        "REALM_PUBLIC_KEY": realm["public_key"],
    }
    origin = f"http://127.0.0.1:{port}"
    with running_server([NODE, str(APP_DIR / "api.js")], settings, log, f"{origin}/health"):
        yield origin


@pytest.fixture(scope="module")
def api(server):
    with hapi_api(server, server.home / "hapi-api.log") as origin:
        yield origin


def tokens(issuer: str) -> dict:
    """A sandbox professional's login at the realm ``issuer``, the code redeemed: the token
    answer."""
    return full_login(issuer, PROFESSIONAL, client_id=CLIENT_ID, secret=SECRET)


@pytest.fixture
def login(server) -> dict:
    return tokens(server.issuer)


def call(api: str, route: str, token: str) -> requests.Response:
    return requests.get(f"{api}{route}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def claims(token: str) -> dict:
    """A JWT's claims as sent, unverified."""
    return json.loads(jws.extract_compact(token.encode()).payload)


def refusal(answer: requests.Response) -> tuple[str, str | None]:
    """A 401 of the plugin: the strategy and the reason its ``WWW-Authenticate`` names."""
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["WWW-Authenticate"]
    attributes = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    assert challenge.startswith("Bearer ") and attributes["error"] == "Invalid credentials"
    return attributes["strategy"], attributes.get("reason")


def reasons(api: str, token: str) -> dict[str, str | None]:
    """Each strategy refusing ``token``: the reason of each."""
    found = {}
    for strategy in STRATEGIES:
        named, reason = refusal(call(api, f"/{strategy}", token))
        assert named == f"keycloak-jwt ({strategy})"
        found[strategy] = reason
    return found


def test_the_realms_public_key_as_a_pem_string_is_refused(api, server):
    """The README: ``publicKey`` "has to be in PEM (``{string|Buffer}``) or JWK (``{Object}``)
    format"; its schema takes a string only as ``-----BEGIN RSA PUBLIC KEY-----``. The realm's
    ``public_key`` (Keycloak's, and santeid's, realm URL and "Keys" tab) is an SPKI key,
    whose PEM is ``-----BEGIN PUBLIC KEY-----``: the strategy is refused at start-up. The API
    passes the same PEM as a Buffer, which the schema does not read."""
    key = requests.get(server.issuer, timeout=10).json()["public_key"]
    pem = f"-----BEGIN PUBLIC KEY-----\n{key}\n-----END PUBLIC KEY-----\n"
    refused = requests.get(f"{api}/options-refused", timeout=10).json()["refused"]
    assert refused == f'"publicKey" with value "{pem}" fails to match the PEM pattern'


def test_an_access_token_of_a_real_login_passes_every_mode(api, login, server):
    """The access token, without ``aud`` and without ``realm_access``, passes each mode: the
    credentials are its ``sub``, the claims the API asked for (``userInfo``) and the plugin's
    scopes — ``clientscope:`` and each word of the claim ``scope``, and no role."""
    access = claims(login["access_token"])
    assert "aud" not in access and "realm_access" not in access
    for strategy in STRATEGIES:
        answer = call(api, f"/{strategy}", login["access_token"])
        assert answer.status_code == 200, (strategy, answer.text)
        assert answer.json() == {
            "scope": ["clientscope:openid", "clientscope:scope_all"],
            "sub": access["sub"],
            "typ": "Bearer",
            "azp": CLIENT_ID,
            "iss": server.issuer,
            "preferred_username": PROFESSIONAL,
            "acr": "eidas1",
            "sid": login["session_state"],
        }


def test_routes_require_pscs_client_scope_not_a_realm_role(api, login):
    """A route requiring ``clientscope:scope_all`` takes PSC's access token; one requiring a
    realm role (the README's ``realm:admin`` kind; ``offline_access`` is a Keycloak default
    role) refuses it with hapi's 403 "Insufficient scope": PSC's tokens carry no
    ``realm_access``."""
    assert call(api, "/key/scope_all", login["access_token"]).status_code == 200
    refused = call(api, "/key/realm-role", login["access_token"])
    assert refused.status_code == 403 and refused.json()["message"] == "Insufficient scope"


def test_an_id_token_is_refused_by_its_typ(api, login):
    """The ID token is signed by the same key for the same issuer: the local modes refuse it
    by its claim ``typ`` (``ID``, not ``Bearer``), and santeid's introspection, which answers
    for the access and refresh tokens it issued, calls it inactive."""
    assert claims(login["id_token"])["typ"] == "ID"
    assert reasons(api, login["id_token"]) == {
        "key": "invalid token (wrong type)",
        "jwks": "invalid token (wrong type)",
        "introspect": INACTIVE,
    }


def test_a_refresh_token_passes_the_introspecting_mode(api, login):
    """A refresh token (``typ`` ``Refresh``, HS512): the local modes refuse it by its
    ``typ`` before any signature; introspection without ``token_type_hint`` — which
    keycloak-connect's ``validateAccessToken`` never sends — answers it active, as Keycloak
    does (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"), and
    the plugin reads ``active`` alone: the refresh token is taken for credentials. A PSC API
    in this mode checks ``typ`` itself (``userInfo: ['typ']``, then ``Bearer`` in the
    handler or an ``onPostAuth`` extension)."""
    refresh = login["refresh_token"]
    found = {s: call(api, f"/{s}", refresh) for s in STRATEGIES}
    assert refusal(found["key"])[1] == refusal(found["jwks"])[1] == "invalid token (wrong type)"
    assert found["introspect"].status_code == 200, found["introspect"].text
    assert found["introspect"].json()["typ"] == "Refresh"


def test_a_token_signed_by_another_key_is_refused(api, login):
    """The claims and header of a real access token, ``kid`` included, signed again with
    another RSA key: the realm's key does not verify it, and the realm does not call it
    active."""
    extracted = jws.extract_compact(login["access_token"].encode())
    forged = jwt.encode(
        dict(extracted.protected), claims(login["access_token"]),
        RSAKey.generate_key(2048, private=True),
    )  # fmt: skip
    assert reasons(api, forged) == {
        "key": "invalid token (signature)",
        "jwks": "invalid token (public key signature)",
        "introspect": INACTIVE,
    }


def test_a_token_of_a_host_with_other_keys_is_refused(api, server, tmp_path):
    """A santeid with the same issuer and its own keys (a realm whose keys the API does not
    hold): the ``kid`` is not in the realm's JWK Set, which the JWK Set mode fetches again
    before it fails (keycloak-connect's ``Rotation.getJWK``); the public key does not verify
    it."""
    with santeid_process(
        tmp_path, clients=CLIENTS, fresh_keys=True, SANTEID_ISSUER=server.issuer,
        SANTEID_STORE_URL="memory://",
    ) as other:  # fmt: skip
        foreign = tokens(other.base + REALM)["access_token"]
    assert claims(foreign)["iss"] == server.issuer
    found = reasons(api, foreign)
    assert found["key"] == "invalid token (signature)" and found["introspect"] is INACTIVE
    assert found["jwks"].startswith("failed to load public key to verify token. Reason: ")


def test_a_revoked_access_token_is_refused_by_introspection_only(api, server, login):
    """The access token revoked at the realm (RFC 7009, Keycloak's revocation endpoint):
    introspection calls it inactive at once; the offline and JWK Set modes, which never ask
    the realm, take it until it expires — the README's "live" column."""
    revoked = requests.post(
        f"{server.oidc}/revoke",
        data={"token": login["access_token"]},
        auth=(CLIENT_ID, SECRET),
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    assert refusal(call(api, "/introspect", login["access_token"])) == (
        "keycloak-jwt (introspect)", INACTIVE,
    )  # fmt: skip
    for strategy in ("key", "jwks"):
        assert call(api, f"/{strategy}", login["access_token"]).status_code == 200


def test_an_expired_access_token_is_refused(tmp_path):
    """A realm whose access tokens live three seconds: the token passes each mode, then, past
    its ``exp``, the local modes refuse it (keycloak-connect's ``isExpired``, no clock skew)
    and introspection calls it inactive."""
    with (
        santeid_process(
            tmp_path, clients=CLIENTS, SANTEID_ACCESS_TOKEN_LIFETIME="3",
            SANTEID_STORE_URL="memory://",
        ) as short,
        hapi_api(short, tmp_path / "api.log") as api,
    ):  # fmt: skip
        token = tokens(short.issuer)["access_token"]
        expiry = claims(token)["exp"]
        for strategy in STRATEGIES:
            assert call(api, f"/{strategy}", token).status_code == 200, strategy
        time.sleep(max(0.0, expiry + 1.5 - time.time()))
        assert reasons(api, token) == {
            "key": "invalid token (expired)",
            "jwks": "invalid token (expired)",
            "introspect": INACTIVE,
        }

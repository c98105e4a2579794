"""An API of a Pro Santé Connect service checking the access tokens it receives with PyJWT
(https://pyjwt.readthedocs.io/en/stable/usage.html#retrieve-rsa-signing-keys-from-a-jwks-endpoint),
as the FastAPI and Flask tutorials write it: ``PyJWKClient(jwks_uri)`` on the realm's JWK Set,
``get_signing_key_from_jwt(token)``, then ``jwt.decode(token, key, algorithms=["RS256"],
issuer=…)``. The JWK Set is fetched over HTTP from a real ``santeid serve``; the tokens are a
professional's, from a login at its sandbox (tests/support/http_login.py).

PSC's access tokens carry no ``aud`` (docs/reference/pro-sante-connect.md §6): an API that
passes ``audience=`` to ``jwt.decode`` refuses them, at PSC as at santeid, and checks ``azp``
(the service the token was issued to) instead. Key rotation (docs/keys.md): PyJWKClient keeps
the JWK Set ``lifespan`` seconds (300 by default) and, on a ``kid`` it does not know, fetches
the set again unless it fetched it less than ``cooldown_duration`` seconds ago (30 by
default); the key ``santeid keys rotate`` makes signs at once, as a new Keycloak key does, so a
client inside its cool-down refuses the new key's tokens until it may fetch again, and
``santeid keys prepare`` publishes the key first so that no client has to."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from tests.support.http_login import logged_in_tokens
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.jwt_keys import signed_with
from tests.support.servers import code_flow_client
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CLIENT_ID = "psc-api-service"
OTHER_CLIENT_ID = "another-psc-service"
SECRET = "a-long-secret-for-the-pyjwt-service-00001"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"
#: The access-token lifetime of the server whose tokens expire during the test.
SHORT_LIFETIME = 2


def client(client_id: str) -> dict:
    return code_flow_client(client_id, SECRET, REDIRECT_URI)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("pyjwt"),
        SANTEID_STORE_URL="memory://",
        clients=[client(CLIENT_ID), client(OTHER_CLIENT_ID)],
    ) as process:
        yield process


def jwks_uri(server) -> str:
    """The ``jwks_uri`` of the realm's discovery document, as the API configures it."""
    discovery = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10)
    return discovery.json()["jwks_uri"]


def access_token(server, client_id: str = CLIENT_ID, browser=None) -> str:
    """A professional's access token, issued to ``client_id`` at the end of a login
    (``browser``: a session that may already hold santeid's SSO cookie)."""
    tokens = logged_in_tokens(server.oidc, client_id, SECRET, REDIRECT_URI, PROFESSIONAL, browser)
    return tokens["access_token"]


def verified(jwks: jwt.PyJWKClient, token: str, issuer: str, **options) -> dict:
    """What the tutorial API does with a Bearer token: the key its ``kid`` names, from the
    JWK Set, then the signature, ``exp`` and ``iss`` checked (``options``: ``jwt.decode``'s
    others, such as ``audience``)."""
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], issuer=issuer, **options)


def signing_with(server, kid: str, browser: requests.Session) -> str:
    """An access token signed with ``kid``, once the server signs with it."""
    return signed_with(kid, lambda: access_token(server, browser=browser))


def test_the_api_verifies_a_professionals_access_token(server):
    """The key found in the realm's JWK Set by the token's ``kid``, RS256, ``iss`` the realm:
    PSC's access-token claims, ``azp`` the service it was issued to and ``scope``."""
    claims = verified(jwt.PyJWKClient(jwks_uri(server)), access_token(server), server.issuer)
    assert claims["azp"] == CLIENT_ID and claims["typ"] == "Bearer"
    assert claims["preferred_username"] == PROFESSIONAL
    assert claims["sub"].endswith(f":{PROFESSIONAL}")
    assert claims["scope"].split() == ["openid", "scope_all"]
    assert "aud" not in claims


def test_an_audience_refuses_psc_access_tokens_which_have_none(server):
    """``audience=`` makes PyJWT require an ``aud`` claim, which PSC's access tokens lack
    (docs/reference/pro-sante-connect.md §6): the API that sets one refuses every token, as
    it would PSC's. It checks ``azp`` instead, which tells a token issued to another service."""
    jwks = jwt.PyJWKClient(jwks_uri(server))
    token = access_token(server)
    with pytest.raises(jwt.MissingRequiredClaimError, match="aud"):
        verified(jwks, token, server.issuer, audience=CLIENT_ID)
    other = verified(jwks, access_token(server, OTHER_CLIENT_ID), server.issuer)
    assert other["azp"] == OTHER_CLIENT_ID


def test_a_token_of_another_issuer_is_refused(server):
    """``issuer=``: a token checked against another realm's issuer is refused."""
    with pytest.raises(jwt.InvalidIssuerError):
        verified(
            jwt.PyJWKClient(jwks_uri(server)),
            access_token(server),
            server.issuer.replace("esante-wallet", "another-realm"),
        )


def test_a_token_signed_by_an_unknown_key_is_refused(server):
    """A ``kid`` the JWK Set lacks: PyJWKClient fetches the set once more and refuses the
    token with ``PyJWKClientError``; a token whose ``kid`` is santeid's but signed by another
    key fails the signature check."""
    jwks = jwt.PyJWKClient(jwks_uri(server), cooldown_duration=0)
    token = access_token(server)
    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        verified(jwks, forged(token, "an-unknown-kid"), server.issuer)
    with pytest.raises(jwt.InvalidSignatureError):
        verified(jwks, forged(token, kid_of(token)), server.issuer)


def test_a_rotation_keeps_a_running_api_verifying(server):
    """``santeid keys rotate``: the new key signs at once. The API's client, which holds the
    JWK Set from before, meets its ``kid``, fetches the set again (past its cool-down) and
    verifies the new token; a token signed before the rotation still verifies, its key
    retired but published until every token it signed has expired (docs/keys.md)."""
    browser = requests.Session()
    jwks = jwt.PyJWKClient(jwks_uri(server), cooldown_duration=0)
    before = access_token(server, browser=browser)
    verified(jwks, before, server.issuer)
    new_kid = rotated(server)
    after = signing_with(server, new_kid, browser)
    assert verified(jwks, after, server.issuer)["preferred_username"] == PROFESSIONAL
    assert verified(jwks, before, server.issuer)["preferred_username"] == PROFESSIONAL
    assert kid_of(before) != new_kid


def test_a_client_in_its_cool_down_needs_the_key_published_first(server):
    """A client that fetched the JWK Set less than ``cooldown_duration`` ago does not fetch it
    again for an unknown ``kid``: after a bare rotation it refuses the new key's tokens until
    it may. ``santeid keys prepare`` publishes the next key before it signs: a client that
    fetched the set since then verifies the tokens of the rotated key from what it holds."""
    browser = requests.Session()
    uri = jwks_uri(server)
    holding = jwt.PyJWKClient(uri, lifespan=3600, cooldown_duration=3600)
    verified(holding, access_token(server, browser=browser), server.issuer)
    unprepared = signing_with(server, rotated(server), browser)
    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        verified(holding, unprepared, server.issuer)

    next_kid = rotated(server, "prepare")
    prepared = jwt.PyJWKClient(uri, lifespan=3600, cooldown_duration=3600)
    assert next_kid in {key.key_id for key in prepared.get_signing_keys()}
    assert rotated(server) == next_kid
    token = signing_with(server, next_kid, browser)
    assert verified(prepared, token, server.issuer)["preferred_username"] == PROFESSIONAL


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """A server whose access tokens live :data:`SHORT_LIFETIME` seconds."""
    with santeid_process(
        tmp_path_factory.mktemp("pyjwt-short"),
        SANTEID_STORE_URL="memory://",
        SANTEID_ACCESS_TOKEN_LIFETIME=str(SHORT_LIFETIME),
        clients=[client(CLIENT_ID)],
    ) as process:
        yield process


def test_an_expired_token_is_refused(short_lived):
    """Once its ``exp`` has passed, ``jwt.decode`` refuses the token with
    ``ExpiredSignatureError`` (no ``leeway`` given)."""
    jwks = jwt.PyJWKClient(jwks_uri(short_lived))
    token = access_token(short_lived)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == SHORT_LIFETIME
    time.sleep(max(0.0, claims["exp"] + 1 - time.time()))
    with pytest.raises(jwt.ExpiredSignatureError):
        verified(jwks, token, short_lived.issuer)

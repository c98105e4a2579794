"""``private_key_jwt`` client assertions and signed requests against a real server: every
algorithm discovery advertises authenticates; an assertion used longer than
``client_assertion_max_lifetime`` after its ``iat``, or without ``iat`` and with an ``exp``
further ahead, a non-integer or a replayed one does not; a CIBA signed request living longer
than ``signed_request_max_lifetime`` is refused, and so is a ``login_hint_token`` whose ``exp``
is no whole number of seconds a double holds.
Assertions of a ``private_key_jwt`` client that are unsigned (``alg: none``) or HMAC-signed
(``client_secret_jwt``-style HS256, with a shared key the client registered in its ``jwks``) are
refused whatever their claims (docs/security.md, "Client assertions": HMAC only for a
``client_secret_jwt`` client, keyed with its secret). A refused assertion of a
``private_key_jwt`` client is Keycloak's "Signed JWT" answer: 400 ``invalid_client`` with its
reason (docs/reference/keycloak-behaviour.md, "Client authentication")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
import redis
import requests
from joserfc import jws
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from santeid.storage import keys as store_keys
from tests.support.attack_server import santeid_server

pytestmark = [pytest.mark.server, pytest.mark.redis]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEYS = {
    "rsa": RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa"}),
    "ec": ECKey.generate_key("P-256", private=True, parameters={"kid": "ec"}),
    "ec384": ECKey.generate_key("P-384", private=True, parameters={"kid": "ec384"}),
    "ec521": ECKey.generate_key("P-521", private=True, parameters={"kid": "ec521"}),
}
KEY_OF_ALG = {
    **dict.fromkeys(("RS256", "PS256", "RS384", "PS384", "RS512", "PS512"), "rsa"),
    "ES256": "ec",
    "ES384": "ec384",
    "ES512": "ec521",
}
#: A shared (``oct``) key: registration refuses it in ``jwks`` (a secret, which verifies no
#: client's JWS), and the token endpoint's list of algorithms refuses an HS256 assertion of a
#: ``private_key_jwt`` client before any key is looked for.
SHARED_KEY = b"a-shared-hmac-key-of-the-hs256-client-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("assertion-lifetimes")
    with santeid_server(
        home, redis_server, db=10, settings={"SANTEID_SIGNED_REQUEST_MAX_LIFETIME": "600"}
    ) as server:
        server.register(
            "rp-jwt",
            grant_types=["client_credentials"],
            token_endpoint_auth_method="private_key_jwt",
            jwks={"keys": [key.as_dict(private=False) for key in KEYS.values()]},
        )
        yield server


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_jwt(header: dict, claims: dict, sign) -> str:
    """A compact JWS built by hand (libraries refuse to make the bad ones): ``sign`` maps the
    signing input to the signature bytes."""
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    return signing_input + "." + _b64(sign(signing_input.encode()))


def _claims(server, client_id: str) -> dict:
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": f"{server.oidc}/token", "iat": now,
            "exp": now + 60, "jti": str(uuid.uuid4())}  # fmt: skip


def _assertion(server, alg: str = "PS256", **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": "rp-jwt",
        "sub": "rp-jwt",
        "aud": f"{server.oidc}/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **changes,
    }
    key = KEYS[KEY_OF_ALG[alg]]
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def _token(server, assertion: str) -> requests.Response:
    return requests.post(
        f"{server.oidc}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=10,
    )


def test_every_advertised_algorithm_authenticates(server):
    """Every asymmetric algorithm advertised verifies a ``private_key_jwt`` assertion; the
    HMAC ones advertised are ``client_secret_jwt``'s (tests/e2e/security/test_client_secret_jwt.py),
    refused for this client below."""
    discovery = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10)
    advertised = discovery.json()["token_endpoint_auth_signing_alg_values_supported"]
    asymmetric = [alg for alg in advertised if not alg.startswith("HS")]
    assert asymmetric == ["RS256", "ES256", "PS256", "RS384", "ES384", "PS384", "RS512", "ES512",
                          "PS512"]  # fmt: skip
    for alg in asymmetric:
        response = _token(server, _assertion(server, alg))
        assert response.status_code == 200, (alg, response.text)


def _jti_ttl(server, client_id: str, jti: str) -> int:
    """Seconds the store still remembers the assertion ``jti`` of ``client_id``."""
    key = "santeid:" + store_keys.CLIENT_ASSERTION_JTI.key(client_id, store_keys.digest(jti))
    with redis.Redis.from_url(server.store_url) as connection:
        return connection.ttl(key)


def test_an_assertion_made_to_live_an_hour_is_used_at_once_or_never(server):
    """Keycloak's rule (``AbstractBaseJWTValidator.validateTokenActive``,
    docs/reference/keycloak-behaviour.md, "Client authentication"): with an ``iat``, the
    assertion is accepted within the bound (``client_assertion_max_lifetime``, 300 s) of it,
    whatever its ``exp`` — what Authlib's ``private_key_jwt_sign`` sends by default, exp = now
    + 3600, authenticates — and its ``jti`` is remembered no longer than the bound."""
    jti = str(uuid.uuid4())
    assertion = _assertion(server, exp=int(time.time()) + 3600, jti=jti)
    assert _token(server, assertion).status_code == 200
    # + 1: the marker outlives its last accepted second (storage.keys.lifetime_through).
    assert 0 < _jti_ttl(server, "rp-jwt", jti) <= 300 + 15 + 1
    replayed = _token(server, assertion)
    assert replayed.json()["error_description"] == "Token reuse detected"
    # Made long ago: refused, however near its exp.
    old_iat = _assertion(server, iat=int(time.time()) - 3000)
    response = _token(server, old_iat)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Token was issued too far in the past to be used now",
    }
    # Made in the future: it would never be too old.
    ahead = _assertion(server, iat=int(time.time()) + 3000, exp=int(time.time()) + 3600)
    assert _token(server, ahead).json()["error_description"] == "Token was issued in the future"
    assert "Traceback" not in server.log.read_text()


def test_the_bounds_of_an_assertion_with_iat_tolerate_no_clock_skew(server):
    """Keycloak refuses an assertion once ``now > iat + max expiration``, or once its ``exp`` is
    past, with no clock skew on either bound (``AbstractBaseJWTValidator.validateTokenActive``,
    docs/reference/keycloak-behaviour.md, "Client authentication"): 10 s past the 300 s of
    ``client_assertion_max_lifetime`` is refused, however far its ``exp``."""
    now = int(time.time())
    late = _assertion(server, iat=now - 300 - 10, exp=now + 60)
    response = _token(server, late)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Token was issued too far in the past to be used now",
    }
    in_time = _assertion(server, iat=now - 300 + 20, exp=now + 60)
    assert _token(server, in_time).status_code == 200
    # With an iat, an exp already past is not active either, skew or not: Keycloak bounds the
    # assertion's use by min(exp - now, max expiration), refused when not above 0.
    expired = _assertion(server, iat=now - 10, exp=now - 5)
    response = _token(server, expired)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Token is not active",
    }


def test_an_assertion_gets_keycloaks_15_seconds_of_clock_skew(server):
    """Keycloak's ``JWTClientValidator.getAllowedClockSkew`` is 15 s
    (docs/reference/keycloak-behaviour.md, "Client authentication"): an ``iat`` 25 s ahead is
    "issued in the future", 10 s ahead passes; without an ``iat``, an ``exp`` 25 s past or an
    ``nbf`` 25 s ahead is "not active", 10 s passes. A client whose clock is off by 15 to 30 s
    is refused by PSC: it is by santeid too."""
    now = int(time.time())
    refused = {
        "Token was issued in the future": _assertion(server, iat=now + 25, exp=now + 60),
        "Token is not active": _assertion(server, nbf=now + 25),
    }
    for reason, assertion in refused.items():
        response = _token(server, assertion)
        assert response.status_code == 400, reason
        assert response.json() == {"error": "invalid_client", "error_description": reason}
    for iat in (now + 10, now):
        assert _token(server, _assertion(server, iat=iat, exp=now + 60)).status_code == 200
    assert _token(server, _assertion(server, nbf=now + 10)).status_code == 200
    for exp, status in ((now - 25, 400), (now - 10, 200)):
        assertion = _assertion(server, exp=exp)
        without_iat = jwt.decode(assertion, KEYS["rsa"], algorithms=["PS256"]).claims
        del without_iat["iat"]
        signed = jwt.encode({"alg": "PS256", "kid": "rsa"}, without_iat, KEYS["rsa"],
                            algorithms=["PS256"])  # fmt: skip
        response = _token(server, signed)
        assert response.status_code == status, (exp - now, response.text)
        if status == 400:
            assert response.json()["error_description"] == "Token is not active"


def test_an_assertion_without_iat_is_bounded_by_its_exp(server):
    claims = {"exp": int(time.time()) + 3600}
    assertion = _assertion(server, **claims)
    without_iat = jwt.decode(assertion, KEYS["rsa"], algorithms=["PS256"]).claims
    del without_iat["iat"]
    response = _token(
        server,
        jwt.encode({"alg": "PS256", "kid": "rsa"}, without_iat, KEYS["rsa"], algorithms=["PS256"]),
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": (
            "Token expiration is too far in the future and iat claim not present in token"
        ),
    }
    within = {**without_iat, "exp": int(time.time()) + 60, "jti": str(uuid.uuid4())}
    signed = jwt.encode({"alg": "PS256", "kid": "rsa"}, within, KEYS["rsa"], algorithms=["PS256"])
    assert _token(server, signed).status_code == 200


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_time_claims_are_whole_numbers(server, claim):
    value = {"exp": time.time() + 60, "iat": time.time(), "nbf": time.time() - 1}[claim]
    assert _token(server, _assertion(server, **{claim: value})).status_code == 400
    as_text = _assertion(server, **{claim: str(int(value))})
    assert _token(server, as_text).status_code == 400


def test_a_replayed_assertion_is_refused_for_as_long_as_it_is_acceptable(server):
    assertion = _assertion(server)
    assert _token(server, assertion).status_code == 200
    replayed = _token(server, assertion)
    assert replayed.status_code == 400
    assert replayed.json() == {
        "error": "invalid_client",
        "error_description": "Token reuse detected",
    }
    # The replay entry lives through exp + the clock skew, and the second after it at most
    # (storage.keys.lifetime_through): never more than the bound.
    jti = jwt.decode(assertion, KEYS["rsa"], algorithms=["PS256"]).claims["jti"]
    assert 0 < _jti_ttl(server, "rp-jwt", jti) <= 60 + 15 + 1


def test_a_ciba_signed_request_beyond_the_configured_lifetime_is_refused(server):
    server.register(
        "rp-ciba-signed",
        client_secret="a-secret-for-the-signed-ciba-requests-0123456789",
        grant_types=["urn:openid:params:grant-type:ciba"],
        token_endpoint_auth_method="client_secret_basic",
        backchannel_token_delivery_mode="poll",
        backchannel_authentication_request_signing_alg="ES256",
        jwks={"keys": [KEYS["ec"].as_dict(private=False)]},
    )
    now = int(time.time())
    claims = {
        "iss": "rp-ciba-signed",
        "aud": server.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + 1800,  # within FAPI-CIBA's hour, beyond the configured 10 minutes
        "jti": str(uuid.uuid4()),
        "scope": "openid scope_all",
        "login_hint": "810000000001",
        "binding_message": "42",
    }
    signed = jwt.encode({"alg": "ES256", "kid": "ec"}, claims, KEYS["ec"], algorithms=["ES256"])
    response = requests.post(
        f"{server.oidc}/ext/ciba/auth",
        data={"request": signed},
        auth=("rp-ciba-signed", "a-secret-for-the-signed-ciba-requests-0123456789"),
        timeout=10,
    )
    assert response.status_code == 400, response.text
    # Keycloak's FAPI-CIBA executor's words for its configurable period (docs/ciba.md).
    assert response.json()["error_description"] == (
        "signed authentication request's available period is long"
    )


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_assertion_is_refused(server, alg):
    unsigned = _raw_jwt({"alg": alg}, _claims(server, "rp-jwt"), lambda _: b"")
    response = _token(server, unsigned)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_client",
                               "error_description": "Invalid signature algorithm"}  # fmt: skip
    assert "access_token" not in response.text


@pytest.mark.parametrize("alg, digest", [("HS256", hashlib.sha256), ("HS512", hashlib.sha512)])
def test_an_hmac_assertion_is_refused(server, alg, digest):
    """An HMAC assertion of a ``private_key_jwt`` client: refused for its algorithm, before
    any key is looked for (an ``oct`` key cannot be registered in ``jwks``)."""
    sign = lambda data: hmac.new(SHARED_KEY, data, digest).digest()  # noqa: E731
    header = {"alg": alg, "kid": "shared", "typ": "JWT"}
    response = _token(server, _raw_jwt(header, _claims(server, "rp-jwt"), sign))
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_client",
                               "error_description": "Invalid signature algorithm"}  # fmt: skip
    assert "Traceback" not in server.log.read_text()


def test_an_hmac_assertion_keyed_with_the_public_key_is_refused(server):
    """Algorithm confusion: HS256 keyed with the client's public RSA key, which anyone has."""
    public = KEYS["rsa"].as_pem(private=False)
    sign = lambda data: hmac.new(public, data, hashlib.sha256).digest()  # noqa: E731
    header = {"alg": "HS256", "kid": "rsa", "typ": "JWT"}
    response = _token(server, _raw_jwt(header, _claims(server, "rp-jwt"), sign))
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid_client",
                               "error_description": "Invalid signature algorithm"}  # fmt: skip


#: ``exp`` values of a ``login_hint_token`` as raw JSON, which Python's ``json`` reads (``NaN``,
#: ``1e400`` as infinity, an integer of any size): none is a NumericDate santeid accepts
#: (``client_auth.numeric_date``), so none may make the token never expire.
NOT_A_NUMERIC_DATE = [b"NaN", b"Infinity", b"1e400", b"-1e400", b"1" + b"0" * 400, b"true"]


@pytest.fixture(scope="module")
def hint_client(server) -> tuple[str, str]:
    secret = "a-secret-for-the-login-hint-tokens-0123456789abcdef"
    server.register(
        "rp-ciba-hint",
        client_secret=secret,
        grant_types=["urn:openid:params:grant-type:ciba"],
        token_endpoint_auth_method="client_secret_basic",
        backchannel_token_delivery_mode="poll",
        jwks={"keys": [KEYS["ec"].as_dict(private=False)]},
    )
    return "rp-ciba-hint", secret


def _hint_token_request(server, auth, exp: bytes) -> requests.Response:
    payload = b'{"iss":"rp-ciba-hint","login_hint":"810000000001","exp":' + exp + b"}"
    token = jws.serialize_compact(
        {"alg": "ES256", "kid": "ec"}, payload, KEYS["ec"], algorithms=["ES256"]
    )
    return requests.post(
        f"{server.oidc}/ext/ciba/auth",
        data={"scope": "openid", "login_hint_token": token},
        auth=auth,
        timeout=10,
    )


@pytest.mark.parametrize("exp", NOT_A_NUMERIC_DATE, ids=lambda raw: raw.decode()[:12])
def test_a_login_hint_token_exp_that_is_no_numeric_date_is_refused(server, hint_client, exp):
    response = _hint_token_request(server, hint_client, exp)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "login_hint_token: the claim exp must be a whole number of "
        "seconds (NumericDate)",
    }
    assert "Traceback" not in server.log.read_text()


def test_a_login_hint_token_with_a_whole_exp_is_accepted(server, hint_client):
    exp = str(int(time.time()) + 60).encode()
    response = _hint_token_request(server, hint_client, exp)
    assert response.status_code == 200, response.text

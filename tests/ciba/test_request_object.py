"""Signed back-channel requests (CIBA Core §7.1.1): every FAPI-CIBA ID1 negative test of
docs/reference/openid-standards.md §5.4 item 2 fails with invalid_request; a good one passes."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from santeid.oidc.client_auth import LEEWAY
from tests.support.ciba import BACKCHANNEL
from tests.support.ciba import SECRET
from tests.support.ciba import error_of
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.jwt_keys import certificate_chain
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import sandbox_professional

CLIENT = "ciba-signed"


@pytest.fixture(scope="module")
def keys():
    return {
        "es": ECKey.generate_key("P-256", private=True, parameters={"kid": "es"}),
        "rsa": RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa"}),
        "intruder": ECKey.generate_key("P-256", private=True, parameters={"kid": "es"}),
    }


@pytest.fixture
def meta(app, keys):
    return register_ciba_client(
        app,
        CLIENT,
        jwks={"keys": [keys["es"].as_dict(private=False), keys["rsa"].as_dict(private=False)]},
        backchannel_authentication_request_signing_alg="ES256",
    )


def _claims(auto_id: str, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": CLIENT,
        "aud": ISSUER,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": str(uuid.uuid4()),
        "scope": "openid scope_all",
        "login_hint": auto_id,
        "binding_message": "42",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict, key, alg: str = "ES256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


def _send(client, request: str | None, **form):
    data = {"request": request, **form}
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(BACKCHANNEL, data=data, headers=basic_auth(CLIENT, SECRET))


def test_signed_request_is_accepted(client, meta, keys, auto_id):
    response = _send(client, _sign(_claims(auto_id, requested_expiry=30), keys["es"]))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["expires_in"] == 30
    assert poll(client, meta, response.get_json()["auth_req_id"]).status_code == 200
    as_string = _send(client, _sign(_claims(auto_id, requested_expiry="40"), keys["es"]))
    assert as_string.get_json()["expires_in"] == 40
    # aud may also be the back-channel endpoint URL.
    endpoint = f"{ISSUER}/protocol/openid-connect/ext/ciba/auth"
    assert _send(client, _sign(_claims(auto_id, aud=[endpoint]), keys["es"])).status_code == 200


def test_a_signed_request_carrying_a_certificate_chain_is_accepted(client, meta, keys, auto_id):
    """A signed request whose header carries an ``x5c`` chain of three certificates
    (RFC 7515 §4.1.6), over 4096 bytes: Keycloak's ``BackchannelAuthenticationEndpoint`` reads
    ``request`` whatever its length (docs/reference/keycloak-behaviour.md, "Parameter
    sizes"); santeid bounds it by ``max_jwt_parameter_length`` (20000)."""
    header = {"alg": "ES256", "kid": "es", "x5c": certificate_chain()}
    request = jwt.encode(header, _claims(auto_id), keys["es"], algorithms=["ES256"])
    assert len(request) > 4096
    response = _send(client, request)
    assert response.status_code == 200, response.get_json()
    assert poll(client, meta, response.get_json()["auth_req_id"]).status_code == 200


def test_unsigned_request_is_refused(client, meta, auto_id):
    response = client.post(
        BACKCHANNEL,
        data={"scope": "openid", "login_hint": auto_id},
        headers=basic_auth(CLIENT, SECRET),
    )
    assert response.status_code == 400 and error_of(response) == "invalid_request"


#: The FAPI-CIBA executor's words (Keycloak's ``SecureCibaSignedAuthenticationRequestExecutor``).
SIGNED_MISSING = "Missing parameter in the signed authentication request: "
OBJECT_MISSING = "Missing parameter in the 'request' object: "
OBJECT_INVALID = "Invalid parameter in the 'request' object: "
PERIOD_LONG = "signed authentication request's available period is long"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": None}, OBJECT_MISSING + "aud"),
        ({"aud": []}, "Missing parameter value in the 'request' object: aud"),
        ({"aud": "https://another-op.example.org"}, OBJECT_INVALID + "aud"),
        ({"iss": None}, OBJECT_MISSING + "iss"),
        ({"iss": "someone-else"}, OBJECT_INVALID + "iss"),
        ({"exp": None}, SIGNED_MISSING + "exp"),
        ({"exp": "EXPIRED"}, "Request Expired"),
        ({"exp": "70MIN"}, PERIOD_LONG),
        ({"exp": "50MIN", "nbf": "20MIN_PAST"}, PERIOD_LONG),
        ({"iat": None}, SIGNED_MISSING + "iat"),
        ({"nbf": None}, SIGNED_MISSING + "nbf"),
        ({"nbf": "10MIN_AHEAD"}, "Request not yet being processed"),
        ({"nbf": "70MIN_PAST"}, PERIOD_LONG),
        ({"jti": None}, SIGNED_MISSING + "jti"),
        # santeid's own checks, beyond the executor's.
        ({"exp": "EXPIRED", "iss": None}, "Request Expired"),
        ({"iat": "20MIN_PAST", "exp": "50MIN"}, "request object: exp is more than 60 minutes"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"scope": ["openid"]}, "scope must be a string"),
    ],
)
def test_claim_failures(client, meta, keys, auto_id, changes, reason):
    """The checks of FAPI-CIBA's executor, in its order (times, then ``aud``, ``iss``, ``iat``,
    ``jti``) and words, which santeid makes for every signed request."""
    now = int(time.time())
    relative = {
        "EXPIRED": now - 60,
        "70MIN": now + 70 * 60,
        "50MIN": now + 50 * 60,
        "10MIN_AHEAD": now + 10 * 60,
        "20MIN_PAST": now - 20 * 60,
        "70MIN_PAST": now - 70 * 60,
    }
    changes = {k: relative.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    response = _send(client, _sign(_claims(auto_id, **changes), keys["es"]))
    assert response.status_code == 400 and error_of(response) == "invalid_request"
    description = response.get_json()["error_description"]
    keycloak_words = reason.startswith(("Missing", "Invalid", "Request", "signed authentication"))
    assert description == reason if keycloak_words else reason in description, description


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"exp": -15}, True),
        ({"nbf": 20}, True),
        ({"exp": -60}, False),
        ({"nbf": 60}, False),
    ],
)
def test_clock_skew_is_the_one_of_every_client_signed_jwt(
    client, meta, keys, auto_id, changes, accepted
):
    """30 s of skew (``client_auth.LEEWAY``, docs/ciba.md "Signed requests"), as for a request
    object or a client assertion with the same claims."""
    now = int(time.time())
    changes = {claim: now + offset for claim, offset in changes.items()}
    response = _send(client, _sign(_claims(auto_id, **changes), keys["es"]))
    if accepted:
        assert response.status_code == 200, response.get_json()
    else:
        assert error_of(response) == "invalid_request"


def test_replayed_jti(client, meta, keys, auto_id):
    request = _sign(_claims(auto_id), keys["es"])
    assert _send(client, request).status_code == 200
    replay = _send(client, request)
    assert error_of(replay) == "invalid_request" and "jti" in replay.get_json()["error_description"]


def test_a_jti_is_remembered_as_long_as_its_request_is_accepted(clocked_app, clock, keys):
    """A request object is accepted until its ``exp`` plus the 30 s of skew; its ``jti`` is
    remembered that long, counted from a clock that is not on a whole second: a replay a
    tenth of a second before that end is still refused (docs/storage.md, ``ciba:jti``)."""
    register_ciba_client(
        clocked_app,
        CLIENT,
        jwks={"keys": [keys["es"].as_dict(private=False)]},
        backchannel_authentication_request_signing_alg="ES256",
    )
    http = clocked_app.test_client()
    clock.advance((0.7 - clock() % 1) % 1)  # now = n + 0.7
    issued = int(clock())
    claims = _claims(sandbox_professional(clocked_app), iat=issued, nbf=issued, exp=issued + 300)
    request = _sign(claims, keys["es"])
    first = http.post(BACKCHANNEL, data={"request": request}, headers=basic_auth(CLIENT, SECRET))
    assert first.status_code == 200, first.get_json()
    # exp + 30 s - 0.1 s: still within the skew, so the request would be accepted once more.
    clock.advance(issued + 300 + LEEWAY - 0.1 - clock())
    replay = http.post(BACKCHANNEL, data={"request": request}, headers=basic_auth(CLIENT, SECRET))
    assert error_of(replay) == "invalid_request"
    assert replay.get_json()["error_description"] == "request object: jti already used"
    clock.advance(0.1)  # exp + 30 s: no longer accepted, whatever the store remembers
    late = http.post(BACKCHANNEL, data={"request": request}, headers=basic_auth(CLIENT, SECRET))
    assert error_of(late) == "invalid_request"
    assert late.get_json()["error_description"] == "Request Expired"


#: Keycloak's words (``BackchannelAuthenticationEndpointSignedRequestParser``).
NOT_REGISTERED = (
    "Client requested algorithm not registered in advance or request signed with different "
    "algorithm other than client requested algorithm"
)


def _unsigned(claims: dict, alg: str) -> str:
    """A JWS header naming ``alg`` over the claims, with no valid signature."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": alg}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.c2ln"


def _description(response) -> str:
    assert response.status_code == 400 and error_of(response) == "invalid_request"
    return response.get_json()["error_description"]


def test_wrong_algorithms_and_keys(client, meta, keys, auto_id):
    """Keycloak's checks of the JWS header, in its order and words: ``none``, an HMAC, then
    any algorithm but the registered one."""
    # RS256 is not a FAPI algorithm, PS256 is not this client's registered one.
    rs256 = _send(client, _sign(_claims(auto_id), keys["rsa"], "RS256"))
    assert _description(rs256) == NOT_REGISTERED
    ps256 = _send(client, _sign(_claims(auto_id), keys["rsa"], "PS256"))
    assert _description(ps256) == NOT_REGISTERED
    # alg none: the payload of a valid request, no signature.
    none = _send(client, _unsigned(_claims(auto_id), "none")[: -len("c2ln")])
    assert _description(none) == "None signed algorithm is not allowed"
    hmac = _send(client, _unsigned(_claims(auto_id), "HS256"))
    assert _description(hmac) == "Signed algorithm is not allowed"
    # Then the signature, by the client's keys: another client's key (same kid), or a key
    # the client does not have, fails as Keycloak's decodeClientJWT does.
    intruder = _send(client, _sign(_claims(auto_id), keys["intruder"]))
    assert _description(intruder) == "Failed to verify signature"
    unknown = ECKey.generate_key("P-256", private=True, parameters={"kid": "unknown"})
    assert _description(_send(client, _sign(_claims(auto_id), unknown))) == (
        "Failed to verify signature"
    )


@pytest.mark.parametrize("alg", ["XS256", "RSA-OAEP", "es256"])
def test_an_algorithm_keycloak_does_not_name_fails_to_build_the_jws(client, meta, auto_id, alg):
    """Keycloak reads a signed request with ``JOSEParser.parse``, which builds a ``JWSInput``
    whose header's ``alg`` is read into the ``org.keycloak.jose.jws.Algorithm`` enum: a name
    outside it fails there, and ``parseRequest`` answers the parser's message, 400
    ``invalid_request`` "Failed to build JWS"
    (https://github.com/keycloak/keycloak/blob/1baab67f3bcf645fc73e1a2835dc22776ab3bc19/core/src/main/java/org/keycloak/jose/JOSEParser.java;
    docs/reference/keycloak-behaviour.md, "CIBA: a signed request's algorithm")."""
    response = _send(client, _unsigned(_claims(auto_id), alg))
    assert _description(response) == "Failed to build JWS"


@pytest.mark.parametrize("alg", ["Ed25519", "Ed448"])
def test_an_algorithm_keycloak_names_without_a_provider_is_not_found(client, meta, auto_id, alg):
    """Names of the enum without a signature provider (Keycloak signs EdDSA under ``EdDSA``;
    ``Ed25519`` and ``Ed448`` are its curves): "Not found provider for the algorithm <alg>",
    after ``none`` and before the HMAC check
    (``BackchannelAuthenticationEndpointSignedRequestParser``)."""
    response = _send(client, _unsigned(_claims(auto_id), alg))
    assert _description(response) == f"Not found provider for the algorithm {alg}"


def test_eddsa_is_known_and_not_registered(client, meta, auto_id):
    """``EdDSA`` has Keycloak's provider: a client registered for ES256 is answered that its
    algorithm is another."""
    response = _send(client, _unsigned(_claims(auto_id), "EdDSA"))
    assert _description(response) == NOT_REGISTERED


def test_parameters_outside_the_jwt_are_refused(client, meta, keys, auto_id):
    response = _send(client, _sign(_claims(auto_id), keys["es"]), binding_message="43")
    assert error_of(response) == "invalid_request"
    assert "outside" in response.get_json()["error_description"]


def test_client_without_registration_may_not_sign(app, client, keys, auto_id):
    """CIBA Core §4: without ``backchannel_authentication_request_signing_alg`` the client
    "will not send signed authentication requests"; Keycloak refuses one."""
    register_ciba_client(app, CLIENT, jwks={"keys": [keys["rsa"].as_dict(private=False)]})
    response = _send(client, _sign(_claims(auto_id), keys["rsa"], "PS256"))
    assert _description(response) == NOT_REGISTERED
    # ... and sends plain form requests.
    plain = client.post(
        BACKCHANNEL,
        data={"scope": "openid", "login_hint": auto_id},
        headers=basic_auth(CLIENT, SECRET),
    )
    assert plain.status_code == 200


@pytest.mark.parametrize("signed", [False, True])
def test_request_uri_is_refused_as_keycloak_refuses_an_unregistered_one(
    app, client, keys, auto_id, signed
):
    """santeid fetches no ``request_uri`` and registers none for a client, so every one is
    refused — Keycloak's answer to a ``request_uri`` outside the client's registered list —
    and with ``request`` too, Keycloak's answer to both (its
    ``BackchannelAuthenticationEndpointRequestParserProcessor``); nothing is started."""
    register_ciba_client(
        app,
        CLIENT,
        jwks={"keys": [keys["es"].as_dict(private=False)]},
        **({"backchannel_authentication_request_signing_alg": "ES256"} if signed else {}),
    )
    uri = "https://rp.example.org/ciba-request.jwt"
    if signed:
        response = _send(client, _sign(_claims(auto_id), keys["es"]), request_uri=uri)
        expected = "Illegal to use both 'request' and 'request_uri' parameters together"
    else:
        response = _send(client, None, request_uri=uri, scope="openid", login_hint=auto_id)
        expected = "Specified 'request_uri' not allowed for this client."
    assert _description(response) == expected
    empty = _send(client, None, request_uri="", scope="openid", login_hint=auto_id)
    assert _description(empty) == "Specified 'request_uri' not allowed for this client."

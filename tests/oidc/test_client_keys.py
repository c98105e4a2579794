"""Which of a client's registered keys verifies what it signed: client assertions at the token
endpoint, request objects at the authorization endpoint and signed CIBA requests, all through
the one lookup Keycloak makes for each (docs/reference/keycloak-behaviour.md, "Client
authentication", the client's keys): keys of ``use`` ``sig`` (or none), found by ``kid`` and
``alg``, by the ``alg`` a key has or defaults to when the JWS names no ``kid``; a key found
whose type or ``alg`` is not the JWS's does not verify it."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from santeid.oidc.clients import InvalidClientMetadata
from tests.support.ciba import BACKCHANNEL
from tests.support.ciba import SECRET
from tests.support.ciba import register_ciba_client
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import register_client

CLIENT = "pkjwt-keys"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NO_KEY = "Unable to load public key"
SIGNATURE = "Client authentication with signed JWT failed: Signature on JWT token failed validation"


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa1": RSAKey.generate_key(2048, private=True),
        "rsa2": RSAKey.generate_key(2048, private=True),
        "ec1": ECKey.generate_key("P-256", private=True),
        "ec2": ECKey.generate_key("P-256", private=True),
        "p384": ECKey.generate_key("P-384", private=True),
    }


def _jwk(key, **members) -> dict:
    """The public JWK of ``key`` with ``members`` (a member set to None is left out)."""
    jwk = {k: v for k, v in key.as_dict(private=False).items() if k not in ("kid", "use", "alg")}
    jwk.update(members)
    return {k: v for k, v in jwk.items() if v is not None}


def _register(app, *jwks: dict) -> None:
    register_client(
        app,
        client_id=CLIENT,
        client_secret=None,
        token_endpoint_auth_method="private_key_jwt",
        grant_types=["client_credentials"],
        jwks={"keys": list(jwks)},
    )


def _assertion(key, alg: str, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": f"{ISSUER}/protocol/openid-connect/token",
              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}  # fmt: skip
    header = {"alg": alg} | ({"kid": kid} if kid is not None else {})
    return jwt.encode(header, claims, key, algorithms=[alg])


def _token(client, assertion: str):
    return client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },  # fmt: skip
    )


def _refusal(response) -> str | None:
    """Keycloak's description of a refused assertion, or None once a token is issued."""
    if response.status_code == 200:
        return None
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_client", body
    return body["error_description"]


# -- 1. an assertion without kid, several keys registered --------------------------------------


def test_without_kid_the_first_key_whose_default_algorithm_matches_verifies(app, client, keys):
    """``PublicKeysWrapper.getKeyByKidAndAlg(null, alg)``: with every key named by a ``kid``,
    the first whose ``alg`` (or, without one, RS256 for RSA, ES256 for a P-256 EC key)
    is the assertion's — the first RSA key for RS256, the EC key for ES256 in a mixed set."""
    _register(app, _jwk(keys["rsa1"], kid="r1"), _jwk(keys["ec1"], kid="e1"),
              _jwk(keys["rsa2"], kid="r2"))  # fmt: skip
    assert _refusal(_token(client, _assertion(keys["rsa1"], "RS256"))) is None
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) is None
    # The second RSA key is never reached without its kid: the first one is tried, and fails.
    assert _refusal(_token(client, _assertion(keys["rsa2"], "RS256"))) == SIGNATURE
    assert _refusal(_token(client, _assertion(keys["rsa2"], "RS256", kid="r2"))) is None


def test_without_kid_two_keys_of_one_type_the_first_verifies(app, client, keys):
    _register(app, _jwk(keys["ec1"], kid="e1"), _jwk(keys["ec2"], kid="e2"))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) is None
    assert _refusal(_token(client, _assertion(keys["ec2"], "ES256"))) == SIGNATURE


def test_without_kid_a_key_without_kid_comes_first(app, client, keys):
    """A key registered without ``kid`` matches an assertion without one before any key is
    matched by algorithm: the EC key without kid is found for an RS256 assertion, and, of
    the wrong type, does not verify it."""
    _register(app, _jwk(keys["rsa1"], kid="r1"), _jwk(keys["ec1"]))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) is None
    assert _refusal(_token(client, _assertion(keys["rsa1"], "RS256"))) == SIGNATURE
    assert _refusal(_token(client, _assertion(keys["rsa1"], "RS256", kid="r1"))) is None


def test_without_kid_ps256_finds_no_rsa_key_without_alg(app, client, keys):
    """An RSA key without ``alg`` defaults to RS256 only: a PS256 assertion without ``kid``
    finds no key, unless the key says ``alg`` PS256."""
    _register(app, _jwk(keys["rsa1"], kid="r1"), _jwk(keys["ec1"], kid="e1"))
    assert _refusal(_token(client, _assertion(keys["rsa1"], "PS256"))) == NO_KEY
    assert _refusal(_token(client, _assertion(keys["rsa1"], "PS256", kid="r1"))) is None
    _register(app, _jwk(keys["rsa1"], kid="r1", alg="PS256"), _jwk(keys["ec1"], kid="e1"))
    assert _refusal(_token(client, _assertion(keys["rsa1"], "PS256"))) is None


def test_without_kid_a_p384_key_is_no_es256_key(app, client, keys):
    _register(app, _jwk(keys["p384"], kid="big"))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) == NO_KEY


def test_a_kid_matching_no_key_is_unable_to_load(app, client, keys):
    _register(app, _jwk(keys["ec1"], kid="e1"))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="other"))) == NO_KEY


# -- 2. keys without use, keys with use enc ----------------------------------------------------


def test_keys_without_use_verify(app, client, keys):
    """A key without ``use`` is taken as a signature key, as Keycloak takes the keys of a
    client's JWKS URL (santeid's ``jwks`` stands for either of Keycloak's settings)."""
    _register(app, _jwk(keys["ec1"], kid="e1"))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="e1"))) is None
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) is None


def test_an_encryption_key_never_verifies(app, client, keys):
    """``JWKSUtils.getKeyWrappersForUse(…, SIG)`` leaves out a key of ``use`` ``enc``: by
    its ``kid`` or as the only key, it is not found."""
    _register(app, _jwk(keys["ec1"], kid="e1", use="enc"), _jwk(keys["rsa1"], kid="r1", use="sig"))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="e1"))) == NO_KEY
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) == NO_KEY
    assert _refusal(_token(client, _assertion(keys["rsa1"], "RS256", kid="r1"))) is None


def test_registration_needs_a_signature_key(app):
    """What registration accepts, verification can use: a ``jwks`` whose keys are all for
    encryption (or of a type that verifies no signature) is refused, as is a secret key."""
    with pytest.raises(InvalidClientMetadata) as refused:
        _register(app, ECKey.generate_key("P-256").as_dict(private=False) | {"use": "enc"})
    assert "signature" in refused.value.description
    with pytest.raises(InvalidClientMetadata) as refused:
        _register(app, {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"})
    assert "public keys" in refused.value.description


@pytest.mark.parametrize("use", ["sig", None])
@pytest.mark.parametrize("key_ops", [["verify"], ["encrypt"], ["sign", "verify"], "verify"])
def test_key_ops_is_ignored(app, client, keys, use, key_ops):
    """Keycloak's ``JWK`` reads ``kid``, ``kty``, ``alg``, ``use`` and the certificate
    members, and leaves ``key_ops`` among the other members that ``JWKParser`` and
    ``JWKSUtils.getKeyWrappersForUse`` never read: a key whose ``key_ops`` says ``verify``,
    ``encrypt`` or is not even a list is registered and verifies as one without it."""
    _register(app, _jwk(keys["ec1"], kid="e1", use=use, key_ops=key_ops))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="e1"))) is None
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256"))) is None


def test_key_ops_does_not_make_an_encryption_key_verify(app, client, keys):
    """``use`` alone decides: a key of ``use`` ``enc`` is left out whatever its
    ``key_ops``."""
    _register(
        app,
        _jwk(keys["ec1"], kid="e1", use="enc", key_ops=["verify"]),
        _jwk(keys["rsa1"], kid="r1"),
    )
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="e1"))) == NO_KEY


def test_a_request_object_verifies_with_a_key_whose_key_ops_says_encrypt(app, client, keys):
    meta = register_client(
        app, jwks={"keys": [_jwk(keys["ec1"], kid="e1", use="sig", key_ops=["encrypt"])]}
    )
    response = Flow(app, client, meta).authorize(request=_request_object(keys["ec1"], "ES256"))
    assert response.status_code == 302, response.get_data(as_text=True)


# -- 3. a kid naming a key whose alg is another ------------------------------------------------


def test_a_kid_whose_key_has_another_alg_does_not_verify(app, client, keys):
    """``getKeyByKidAndAlg`` falls back on the ``kid`` alone; the key's own ``alg`` then
    differs from the assertion's ("Key Algorithms are different", a signature failure)."""
    _register(app, _jwk(keys["rsa1"], kid="r1", alg="RS256"))
    assert _refusal(_token(client, _assertion(keys["rsa1"], "PS256", kid="r1"))) == SIGNATURE
    assert _refusal(_token(client, _assertion(keys["rsa1"], "RS256", kid="r1"))) is None


def test_one_kid_for_two_algs_picks_the_key_of_the_assertions_alg(app, client, keys):
    _register(
        app, _jwk(keys["rsa1"], kid="k", alg="RS256"), _jwk(keys["rsa2"], kid="k", alg="PS256")
    )
    assert _refusal(_token(client, _assertion(keys["rsa2"], "PS256", kid="k"))) is None
    assert _refusal(_token(client, _assertion(keys["rsa1"], "RS256", kid="k"))) is None


def test_a_kid_whose_key_is_of_another_type_does_not_verify(app, client, keys):
    _register(app, _jwk(keys["rsa1"], kid="k1"), _jwk(keys["p384"], kid="big"))
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="k1"))) == SIGNATURE
    assert _refusal(_token(client, _assertion(keys["ec1"], "ES256", kid="big"))) == SIGNATURE


# -- the same lookup for request objects and signed CIBA requests -----------------------------


def _request_object(key, alg: str, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": "service-test", "client_id": "service-test", "aud": ISSUER, "iat": now,
              "exp": now + 60, "response_type": "code", "scope": "openid scope_all"}  # fmt: skip
    header = {"alg": alg} | ({"kid": kid} if kid is not None else {})
    return jwt.encode(header, claims, key, algorithms=[alg])


@pytest.mark.parametrize(
    ("jwks", "signer", "alg", "kid", "accepted"),
    [
        (["rsa1:r1", "ec1:e1"], "ec1", "ES256", None, True),
        (["rsa1:r1", "ec1:e1"], "rsa1", "RS256", None, True),
        (["ec1:e1:enc", "rsa1:r1"], "ec1", "ES256", None, False),
        (["rsa1:r1:sig:RS256"], "rsa1", "PS256", "r1", False),
    ],
)
def test_request_objects_pick_the_key_as_client_assertions(
    app, client, keys, jwks, signer, alg, kid, accepted, caplog
):
    registered = []
    for spec in jwks:
        name, key_id, *rest = spec.split(":")
        use = rest[0] if rest else None
        key_alg = rest[1] if len(rest) > 1 else None
        registered.append(_jwk(keys[name], kid=key_id, use=use, alg=key_alg))
    meta = register_client(app, jwks={"keys": registered})
    response = Flow(app, client, meta).authorize(request=_request_object(keys[signer], alg, kid))
    if accepted:
        assert response.status_code == 302, response.get_data(as_text=True)
    else:
        assert response.status_code == 400
        # Keycloak's page "Invalid Request"; the reason is logged.
        assert error_detail(response) == "Requête invalide"
        assert "the request object signature does not verify" in caplog.text


def _ciba_request(key, alg: str, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": "ciba-keys", "aud": ISSUER, "exp": now + 300, "iat": now, "nbf": now,
              "jti": str(uuid.uuid4()), "scope": "openid scope_all",
              "login_hint": "no-such-professional"}  # fmt: skip
    header = {"alg": alg} | ({"kid": kid} if kid is not None else {})
    return jwt.encode(header, claims, key, algorithms=[alg])


def test_signed_ciba_requests_pick_the_key_as_client_assertions(app, client, keys):
    """Without ``kid``, the request's ES256 finds the EC key among RSA ones; a key of ``use``
    ``enc`` is not found. Past the signature, the unknown hint is refused: the signature
    passed."""
    register_ciba_client(app, "ciba-keys", backchannel_authentication_request_signing_alg="ES256",
                         jwks={"keys": [_jwk(keys["rsa1"], kid="r1"), _jwk(keys["ec1"], kid="e1"),
                                        _jwk(keys["ec2"], kid="e2", use="enc")]})  # fmt: skip

    def send(token: str):
        return client.post(BACKCHANNEL, data={"request": token},
                           headers=basic_auth("ciba-keys", SECRET))  # fmt: skip

    passed = send(_ciba_request(keys["ec1"], "ES256")).get_json()
    assert "signature" not in passed["error_description"], passed
    refused = send(_ciba_request(keys["ec2"], "ES256", kid="e2")).get_json()
    assert refused["error"] == "invalid_request"
    assert refused["error_description"] == "Failed to verify signature", refused


# -- request_object_signing_alg ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "sent", "accepted"),
    [
        ("ES256", "ES256", True),
        ("ES256", "RS256", False),
        ("ES256", "none", False),
        ("none", "none", True),
        ("none", "ES256", False),
        (None, "ES256", True),
        (None, "none", True),
    ],
)
def test_request_object_signing_alg_is_the_only_alg_accepted(
    app, client, keys, caplog, registered, sent, accepted
):
    """OIDC Dynamic Client Registration §2 ``request_object_signing_alg``: "All Request Objects
    from this Client MUST be rejected, if not signed with this algorithm". Keycloak's client
    attribute ``request.object.signature.alg``, which its registration fills from that member:
    ``OIDCAdvancedRequestParamsTest.requestUriParamSignedExpectedES256ActualRS256`` and
    ``…ExpectedNoneActualES256`` get the page "Invalid Request", ``…ExpectedES256ActualES256``,
    ``…ExpectedNoneActualNone`` and ``…ExpectedAnyActualES256`` (none registered) log in
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oidc/OIDCAdvancedRequestParamsTest.java;
    docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    extra = {} if registered is None else {"request_object_signing_alg": registered}
    meta = register_client(
        app, jwks={"keys": [_jwk(keys["rsa1"], kid="r1"), _jwk(keys["ec1"], kid="e1")]}, **extra
    )
    if sent == "none":
        now = int(time.time())
        claims = {"client_id": "service-test", "iat": now, "exp": now + 60,
                  "response_type": "code", "scope": "openid scope_all"}  # fmt: skip
        segments = [{"alg": "none"}, claims]
        request = (
            ".".join(
                base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
                for part in segments
            )
            + "."
        )
    else:
        request = _request_object(keys["ec1" if sent == "ES256" else "rsa1"], sent)
    response = Flow(app, client, meta).authorize(request=request)
    if accepted:
        assert response.status_code == 302, response.get_data(as_text=True)
    else:
        assert response.status_code == 400 and "Location" not in response.headers
        assert error_detail(response) == "Requête invalide"
        assert f"the request object must be signed with {registered}" in caplog.text


def test_a_pushed_request_object_of_another_alg_is_invalid_request_object(app, client, keys):
    """``ParTest.testWrongSigningAlgorithmForRequestObject``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/par/ParTest.java):
    a client registered with ``request_object_signing_alg`` PS256 pushes an RS256 request
    object: 400 ``invalid_request_object``."""
    from tests.support.oidc_flow import CLIENT_SECRET
    from tests.support.oidc_flow import REDIRECT_URI

    register_client(
        app, jwks={"keys": [_jwk(keys["rsa1"], kid="r1")]}, request_object_signing_alg="PS256"
    )
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={"request": _request_object(keys["rsa1"], "RS256"), "redirect_uri": REDIRECT_URI},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert pushed.status_code == 400
    assert pushed.get_json()["error"] == "invalid_request_object"


@pytest.mark.parametrize("alg", ["HS256", "RS1", "", 256])
def test_an_unknown_request_object_signing_alg_is_not_registered(app, alg):
    with pytest.raises(InvalidClientMetadata) as refused:
        register_client(app, request_object_signing_alg=alg)
    assert "request_object_signing_alg" in refused.value.description

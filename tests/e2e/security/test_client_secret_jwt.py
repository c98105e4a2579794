"""``client_secret_jwt`` against a real server (docs/security.md, "Client assertions"): a relying
party using Authlib's ``ClientSecretJWT`` authenticates; the key of an assertion is the one its
client's registered method names, never what the assertion's header says, so none of these
authenticates: a replayed ``jti``, a wrong secret, ``alg: none``, the HMAC keyed with a
``private_key_jwt`` client's public key (algorithm confusion), an RSA assertion for a
``client_secret_jwt`` client, an HMAC assertion for a ``private_key_jwt`` client, a public
client's id, an assertion naming another client, another client's secret, or the digest of the
secret. Each is refused as Keycloak refuses it (docs/reference/keycloak-behaviour.md, "Client
authentication")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import ClientSecretJWT
from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey

from tests.support.attack_server import santeid_server

pytestmark = [pytest.mark.server, pytest.mark.redis]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET = "the-secret-of-the-hmac-relying-party-0123456789"
OTHER_SECRET = "the-secret-of-another-hmac-relying-party-98765"
RSA = RSAKey.generate_key(2048, private=True, parameters={"kid": "rsa"})
INVALID_ALGORITHM = {"error": "invalid_client", "error_description": "Invalid signature algorithm"}
BAD_HMAC = {
    "error": "unauthorized_client",
    "error_description": "Client authentication with client secret signed JWT failed: "
    "Signature on JWT token by client secret  failed validation",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("client-secret-jwt")
    with santeid_server(home, redis_server, db=5) as server:
        for client_id, secret in (("rp-hmac", SECRET), ("rp-hmac-other", OTHER_SECRET)):
            server.register(
                client_id,
                client_secret=secret,
                grant_types=["client_credentials"],
                token_endpoint_auth_method="client_secret_jwt",
                introspection_allowed=True,
            )
        server.register(
            "rp-rsa",
            grant_types=["client_credentials"],
            token_endpoint_auth_method="private_key_jwt",
            jwks={"keys": [RSA.as_dict(private=False)]},
        )
        server.register(
            "rp-public",
            redirect_uris=["https://rp.example/cb"],
            grant_types=["authorization_code"],
            token_endpoint_auth_method="none",
        )
        yield server


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(server, client_id: str = "rp-hmac", **changes) -> dict:
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": f"{server.oidc}/token", "iat": now,
            "exp": now + 60, "jti": str(uuid.uuid4()), **changes}  # fmt: skip


def _hmac_jwt(claims: dict, key: bytes, alg: str = "HS256") -> str:
    """A compact JWS built by hand, HMAC-SHA256 keyed with any bytes (a PEM too, which
    libraries refuse as an HMAC key)."""
    header = {"alg": alg, "typ": "JWT"}
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    digest = {"HS256": hashlib.sha256, "none": None}[alg]
    signature = hmac.new(key, signing_input.encode(), digest).digest() if digest else b""
    return signing_input + "." + _b64(signature)


def _token(server, assertion: str, **extra) -> requests.Response:
    return requests.post(
        f"{server.oidc}/token",
        data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
              "client_assertion": assertion, **extra},
        timeout=10,
    )  # fmt: skip


def _refused(response: requests.Response) -> None:
    assert response.status_code in (400, 401), response.text
    assert "access_token" not in response.text


def test_a_relying_party_with_authlib_s_client_secret_jwt(server):
    """Authlib's ``OAuth2Session`` with ``token_endpoint_auth_method="client_secret_jwt"``
    (its ``ClientSecretJWT``, HS256, ``aud`` the token endpoint), the token then introspected
    with a new assertion, as such a service does at Pro Santé Connect."""
    token_url = f"{server.oidc}/token"
    session = OAuth2Session(
        "rp-hmac",
        OctKey.import_key(SECRET),
        token_endpoint_auth_method=ClientSecretJWT(token_url),
    )
    token = session.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    introspected = session.introspect_token(
        f"{server.oidc}/token/introspect", token=token["access_token"]
    )
    assert introspected.status_code == 200, introspected.text
    assert introspected.json()["active"] is True
    assert introspected.json()["client_id"] == "rp-hmac"


def test_discovery_lists_it_as_pro_sante_connect_does(server):
    document = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert document["token_endpoint_auth_methods_supported"][-1] == "client_secret_jwt"
    assert {"HS256", "HS384", "HS512"} <= set(
        document["token_endpoint_auth_signing_alg_values_supported"]
    )


def test_a_replayed_assertion_is_refused(server):
    assertion = _hmac_jwt(_claims(server), SECRET.encode())
    assert _token(server, assertion).status_code == 200
    replayed = _token(server, assertion)
    assert replayed.status_code == 400
    assert replayed.json() == {"error": "invalid_client",
                               "error_description": "Token reuse detected"}  # fmt: skip


def test_a_wrong_secret_is_refused(server):
    response = _token(server, _hmac_jwt(_claims(server), b"not-the-secret-of-rp-hmac-at-all"))
    assert response.status_code == 400
    assert response.json() == BAD_HMAC


@pytest.mark.parametrize("client_id", ["rp-hmac", "rp-rsa"])
def test_an_unsigned_assertion_is_refused(server, client_id):
    response = _token(server, _hmac_jwt(_claims(server, client_id), b"", alg="none"))
    assert response.status_code == 400
    assert response.json() == INVALID_ALGORITHM


def test_the_public_key_of_a_private_key_jwt_client_is_no_hmac_key(server):
    """Algorithm confusion: now that HMAC assertions verify, HS256 keyed with the PEM of
    ``rp-rsa``'s public key, which anyone has, still authenticates nothing."""
    public_pem = RSA.as_pem(private=False)
    response = _token(server, _hmac_jwt(_claims(server, "rp-rsa"), public_pem))
    assert response.status_code == 400
    assert response.json() == INVALID_ALGORITHM
    jwk_json = json.dumps(RSA.as_dict(private=False)).encode()
    assert _token(server, _hmac_jwt(_claims(server, "rp-rsa"), jwk_json)).json() == (
        INVALID_ALGORITHM
    )


def test_an_rsa_assertion_for_a_client_secret_jwt_client_is_refused(server):
    """Signed with a key the attacker holds, for the HMAC client: its method says HMAC."""
    assertion = jwt.encode({"alg": "RS256", "kid": "rsa"}, _claims(server), RSA)
    response = _token(server, assertion)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unauthorized_client",
        "error_description": "Client authentication with client secret signed JWT failed: "
        "Signature on JWT token by client secret failed validation",
    }


def test_a_public_client_s_id_authenticates_nothing(server):
    for key in (b"", SECRET.encode(), b"rp-public"):
        _refused(_token(server, _hmac_jwt(_claims(server, "rp-public"), key or b"\0")))


def test_an_assertion_naming_another_client_is_refused(server):
    """``rp-hmac-other`` signs for ``rp-hmac`` with its own secret: as ``sub`` and ``iss``, or
    as ``iss`` only (a third party's assertion, which no authenticator takes)."""
    response = _token(server, _hmac_jwt(_claims(server, "rp-hmac"), OTHER_SECRET.encode()))
    assert response.status_code == 400
    assert response.json() == BAD_HMAC
    third_party = _claims(server, "rp-hmac", iss="rp-hmac-other")
    _refused(_token(server, _hmac_jwt(third_party, OTHER_SECRET.encode())))
    _refused(_token(server, _hmac_jwt(third_party, SECRET.encode())))


def test_the_client_id_parameter_cannot_name_another_client(server):
    assertion = _hmac_jwt(_claims(server, "rp-hmac-other"), OTHER_SECRET.encode())
    refused = _token(server, assertion, client_id="rp-hmac")
    _refused(refused)
    # Refused before its jti was read: the genuine request still goes through.
    assert _token(server, assertion, client_id="rp-hmac-other").status_code == 200


def test_the_digest_of_the_secret_is_no_key(server):
    """Who read the clients database's ``secret_digest`` cannot sign with it."""
    digest = hashlib.sha256(SECRET.encode()).hexdigest().encode()
    response = _token(server, _hmac_jwt(_claims(server), digest))
    assert response.json() == BAD_HMAC
    assert "Traceback" not in server.log.read_text()

"""``client_secret_jwt`` client authentication (OIDC Core §9, RFC 7523 §2.2; Keycloak's "Signed
JWT with Client Secret"): registration, the token, introspection and revocation endpoints, the
checks it shares with ``private_key_jwt`` and Keycloak's answers
(docs/reference/keycloak-behaviour.md, "Client authentication")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import pytest
from authlib.oauth2.rfc7523 import client_secret_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import OctKey

from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import validate_metadata
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET = "the-shared-secret-of-the-hmac-service-0123456789"
TOKEN_URL = f"{ISSUER}/protocol/openid-connect/token"


@pytest.fixture
def hmac_client(app):
    return register_client(
        app,
        client_id="csjwt-service",
        client_secret=SECRET,
        token_endpoint_auth_method="client_secret_jwt",
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
    )


def _assertion(secret: str = SECRET, *, alg: str = "HS256", client_id: str = "csjwt-service",
               **changes) -> str:  # fmt: skip
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex, **changes}  # fmt: skip
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(secret.encode()), algorithms=[alg])


def _client_credentials(http, assertion: str, **extra):
    return http.post(
        f"{OIDC}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            **extra,
        },
    )


META = {"client_id": "csjwt", "redirect_uris": ["https://rp.example/cb"]}


def test_registration_requires_a_secret():
    with pytest.raises(InvalidClientMetadata) as refused:
        validate_metadata({**META, "token_endpoint_auth_method": "client_secret_jwt"})
    assert "client_secret is required for client_secret_jwt" in refused.value.description
    validate_metadata(
        {**META, "token_endpoint_auth_method": "client_secret_jwt", "client_secret": SECRET}
    )


@pytest.mark.parametrize(
    "method, alg, accepted",
    [
        ("client_secret_jwt", "HS256", True),
        ("client_secret_jwt", "HS384", True),
        ("client_secret_jwt", "RS256", False),
        ("client_secret_jwt", "none", False),
        ("private_key_jwt", "PS256", True),
        ("private_key_jwt", "HS256", False),
        ("client_secret_basic", "HS256", False),
    ],
)
def test_registered_assertion_algorithm_belongs_to_the_method(method, alg, accepted):
    meta = {**META, "token_endpoint_auth_method": method, "client_secret": SECRET,
            "token_endpoint_auth_signing_alg": alg}  # fmt: skip
    if method == "private_key_jwt":
        meta["jwks"] = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    if accepted:
        validate_metadata(meta)
        return
    with pytest.raises(InvalidClientMetadata) as refused:
        validate_metadata(meta)
    assert "token_endpoint_auth_signing_alg" in refused.value.description


@pytest.mark.parametrize("alg, shortest", [(None, 32), ("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_the_shared_secret_is_as_long_as_the_hmac_key_must_be(alg, shortest):
    """RFC 7518 §3.2: an HMAC key at least as long as the hash's output — HS256's when the
    client registers no algorithm; santeid's 16 characters of a secret that is only compared
    would let a client_secret_jwt assertion be signed with a weaker key."""
    meta = {**META, "token_endpoint_auth_method": "client_secret_jwt"}
    if alg:
        meta["token_endpoint_auth_signing_alg"] = alg
    with pytest.raises(InvalidClientMetadata) as refused:
        validate_metadata({**meta, "client_secret": "s" * (shortest - 1)})
    assert f"at least {shortest} bytes" in refused.value.description
    validate_metadata({**meta, "client_secret": "s" * shortest})


def test_a_new_shared_secret_is_as_long_as_the_hmac_key_must_be(app, hmac_client):
    """A new secret is held to the same length as at registration (the client's own method and
    algorithm); another method's client keeps santeid's 16 characters."""
    registry = app.extensions["santeid"].clients
    with pytest.raises(InvalidClientMetadata, match="at least 32 bytes"):
        registry.set_secret("csjwt-service", "sixteen-chars-ok-but-short")
    register_client(app, client_id="basic-service", client_secret="s" * 20)
    assert registry.set_secret("basic-service", "another-secret-of-20")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_every_hmac_algorithm_authenticates_once(client, hmac_client, alg):
    assertion = _assertion(alg=alg)
    response = _client_credentials(client, assertion)
    assert response.status_code == 200, response.get_json()
    replay = _client_credentials(client, assertion)
    assert replay.status_code == 400
    assert replay.get_json() == {"error": "invalid_client",
                                 "error_description": "Token reuse detected"}  # fmt: skip


def test_authlib_client_secret_jwt_sign_interoperates(app, client, hmac_client):
    """Authlib's own helper (an hour's ``exp``, as relying parties make them) in a code flow."""
    flow = Flow(app, client, hmac_client)
    params = flow.obtain_code()
    # An OctKey, as Authlib's ClientSecretJWT passes the secret (joserfc warns of a string).
    assertion = client_secret_jwt_sign(OctKey.import_key(SECRET), "csjwt-service", TOKEN_URL)
    response = client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion.decode() if isinstance(assertion, bytes) else assertion,
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["access_token"]


def test_a_wrong_secret_is_keycloak_s_unauthorized_client(client, hmac_client):
    response = _client_credentials(client, _assertion("not-the-secret-of-this-service-at-all"))
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Client authentication with client secret signed JWT failed: "
        "Signature on JWT token by client secret  failed validation",
    }


def _signed(payload: bytes, secret: str = SECRET) -> str:
    """A compact HS256 JWS of ``payload`` as written, member order and repeats kept."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256"}') + "." + b64(payload)
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_a_payload_nested_deeper_than_python_parses_is_refused_as_any_unreadable_one(
    client, hmac_client
):
    # Read before the client is known: a RecursionError there was an unplanned 500.
    deep = _client_credentials(client, _signed(b"[" * 5000 + b"]" * 5000))
    unreadable = _client_credentials(client, _signed(b"{"))
    assert deep.status_code == unreadable.status_code == 401
    assert (
        deep.get_json()
        == unreadable.get_json()
        == {
            "error": "invalid_client",
            "error_description": "Invalid client or Invalid client credentials",
        }
    )


def test_a_claim_twice_is_read_as_its_last_value(client, hmac_client):
    # RFC 7519 §4 lets a JWT parser keep the lexically last member, as Jackson (Keycloak's
    # JSON library) and the JOSE library verifying the token do: one reading throughout.
    now = int(time.time())
    claims = (f'"iss": "csjwt-service", "sub": "someone-else", "sub": "csjwt-service", '
              f'"aud": "{TOKEN_URL}", "iat": {now}, "exp": {now + 60}, '
              f'"jti": "{uuid.uuid4().hex}"')  # fmt: skip
    response = _client_credentials(client, _signed(("{" + claims + "}").encode()))
    assert response.status_code == 200, response.get_json()


def test_the_registered_algorithm_is_the_only_one(app, client):
    register_client(app, client_id="csjwt-service", client_secret=SECRET,
                    token_endpoint_auth_method="client_secret_jwt",
                    token_endpoint_auth_signing_alg="HS384",
                    grant_types=["client_credentials"])  # fmt: skip
    refused = _client_credentials(client, _assertion(alg="HS256"))
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "invalid_client",
                                  "error_description": "Invalid signature algorithm"}  # fmt: skip
    assert _client_credentials(client, _assertion(alg="HS384")).status_code == 200


def test_registered_keys_leave_the_secret_as_the_assertion_key(app, client):
    """Keycloak's ``ClientAuthSecretSignedJWTTest.testCodeToTokenRequestSuccessWhenClientHas
    GeneratedKeys`` (https://github.com/keycloak/keycloak/issues/34547): a "Signed JWT with
    Client Secret" client that also has keys (here ``jwks``, for its request objects) still
    authenticates with an HMAC of its secret."""
    register_client(app, client_id="csjwt-service", client_secret=SECRET,
                    token_endpoint_auth_method="client_secret_jwt",
                    jwks={"keys": [ECKey.generate_key("P-256").as_dict(private=False)]},
                    grant_types=["client_credentials"])  # fmt: skip
    response = _client_credentials(client, _assertion(alg="HS256"))
    assert response.status_code == 200, response.get_json()


def test_the_secret_alone_does_not_authenticate_such_a_client(client, hmac_client):
    """Keycloak's client of "Signed JWT with Client Secret" has that authenticator only: its
    secret by Basic answers as for a ``private_key_jwt`` client without an assertion."""
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("csjwt-service", SECRET),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Parameter client_assertion_type is missing",
    }
    post = client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials", "client_id": "csjwt-service",
              "client_secret": SECRET},
    )  # fmt: skip
    assert post.status_code == 400
    assert "access_token" not in post.get_json()


def test_the_client_id_parameter_must_name_the_assertion_s_client(client, hmac_client):
    """Compared before the signature and the ``jti`` (Keycloak's ``validateClient``): the
    refused request spends no assertion."""
    assertion = _assertion()
    refused = _client_credentials(client, assertion, client_id="service-test")
    assert refused.status_code in (400, 401)
    assert "access_token" not in refused.get_json()
    named = _client_credentials(client, assertion, client_id="csjwt-service")
    assert named.status_code == 200, named.get_json()


def test_introspection_and_revocation_accept_it(app, client, hmac_client):
    token = _client_credentials(client, _assertion()).get_json()["access_token"]
    app.extensions["santeid"].clients.add(
        {**hmac_client, "introspection_allowed": True}, replace=True
    )
    introspection = client.post(
        f"{OIDC}/token/introspect",
        data={"token": token, "client_assertion_type": ASSERTION_TYPE,
              "client_assertion": _assertion()},
    )  # fmt: skip
    assert introspection.status_code == 200, introspection.get_json()
    assert introspection.get_json()["active"] is True
    revocation = client.post(
        f"{OIDC}/revoke",
        data={"token": token, "client_assertion_type": ASSERTION_TYPE,
              "client_assertion": _assertion()},
    )  # fmt: skip
    assert revocation.status_code == 200


def test_a_new_secret_is_the_new_hmac_key(app, client, hmac_client):
    registry = app.extensions["santeid"].clients
    assert registry.set_secret("csjwt-service", "the-new-secret-of-the-hmac-service-42")
    old = _client_credentials(client, _assertion())
    assert old.status_code == 400
    assert old.get_json()["error"] == "unauthorized_client"
    new = _client_credentials(client, _assertion("the-new-secret-of-the-hmac-service-42"))
    assert new.status_code == 200


def test_the_kept_secret_is_never_shown(app, hmac_client):
    registered = app.extensions["santeid"].clients.get("csjwt-service")
    assert registered.shared_secret == SECRET
    assert SECRET not in repr(registered)
    assert SECRET not in str(registered.public_metadata())
    # Other clients keep a digest only.
    assert app.extensions["santeid"].clients.get("service-test") is None or (
        app.extensions["santeid"].clients.get("service-test").shared_secret is None
    )


def test_refresh_and_refresh_token_logout_accept_it(app, client, hmac_client):
    """The refresh grant and the end-session endpoint's refresh-token logout (Keycloak's
    ``AuthorizeClientUtil``: every endpoint authenticates clients alike)."""
    flow = Flow(app, client, hmac_client)
    params = flow.obtain_code()
    credentials = {"client_assertion_type": ASSERTION_TYPE}
    tokens = client.post(
        f"{OIDC}/token",
        data={"grant_type": "authorization_code", "code": params["code"],
              "redirect_uri": REDIRECT_URI, "client_assertion": _assertion(), **credentials},
    ).get_json()  # fmt: skip
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
              "client_assertion": _assertion(), **credentials},
    )  # fmt: skip
    assert refreshed.status_code == 200, refreshed.get_json()
    logout = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": refreshed.get_json()["refresh_token"],
              "client_assertion": _assertion(), **credentials},
    )  # fmt: skip
    assert logout.status_code == 204, logout.get_data(as_text=True)
    bearer = {"Authorization": "Bearer " + refreshed.get_json()["access_token"]}
    assert client.get(f"{OIDC}/userinfo", headers=bearer).status_code == 401

"""Client authentication against a real ``santeid serve`` process under each policy,
``client_authentication = "keycloak"`` (the default) and ``"strict"``
(docs/configuration.md; docs/reference/keycloak-behaviour.md, "Client authentication").

* HTTP Basic credentials are read one way under both policies: each part form-decoded after
  Base64, as RFC 6749 §2.3.1 has clients encode them (openid-client does: a space becomes
  ``+``, a ``+`` ``%2B``).
* Every failed client authentication — a wrong, missing or unknown secret client, a
  ``tls_client_auth`` client without its certificate, a ``private_key_jwt`` assertion refused
  (wrong ``aud``, expired, replayed ``jti``, bad signature, key not registered, no assertion,
  ``client_id`` of another client), a ``client_secret_jwt`` client's (an HMAC with the wrong
  secret, an asymmetric assertion, its secret by Basic) — at the token, revocation, logout
  (``refresh_token``), CIBA, introspection and PAR endpoints: Keycloak's answer (status,
  ``error``, ``error_description``) under the default policy, RFC 6749 §5.2's (401 where
  RFC 7662 §2.3 and CIBA Core §13 require it) under the strict one.
"""

from __future__ import annotations

import base64
import time
import uuid
from urllib.parse import quote_plus

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import OctKey

from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CIBA = "urn:openid:params:grant-type:ciba"
#: A secret with a space, a plus and a percent sign: three characters form-encoding changes.
SPACED_SECRET = "a secret with+plus and 100% space-0123456789"  # noqa: S105 - a test secret
SECRET = "secret-client-secret-0123456789"  # noqa: S105 - a test secret
CLIENT_KEY = ECKey.generate_key("P-256", auto_kid=True)
OTHER_KEY = ECKey.generate_key("P-256", auto_kid=True)
#: A key the client never registered, under the kid of its registered key.
IMPOSTOR_KEY = ECKey.generate_key("P-256", parameters={"kid": CLIENT_KEY.kid})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HMAC_SECRET = "hmac-client-secret-0123456789-abcdef"  # noqa: S105 - a test secret


def _clients() -> list[dict]:
    grants = {
        "redirect_uris": ["http://127.0.0.1:8000/callback"],
        "grant_types": ["client_credentials", "authorization_code", CIBA],
        "backchannel_token_delivery_mode": "poll",
    }
    return [
        {"client_id": "spaced-secret", "client_secret": SPACED_SECRET,
         "token_endpoint_auth_method": "client_secret_basic", **grants},
        {"client_id": "secret-client", "client_secret": SECRET,
         "token_endpoint_auth_method": "client_secret_basic", **grants},
        {"client_id": "jwt-client", "token_endpoint_auth_method": "private_key_jwt",
         "jwks": {"keys": [CLIENT_KEY.as_dict(private=False)]}, **grants},
        {"client_id": "other-jwt-client", "token_endpoint_auth_method": "private_key_jwt",
         "jwks": {"keys": [OTHER_KEY.as_dict(private=False)]}, **grants},
        {"client_id": "hmac-client", "client_secret": HMAC_SECRET,
         "token_endpoint_auth_method": "client_secret_jwt", **grants},
        {"client_id": "mtls-client", "token_endpoint_auth_method": "tls_client_auth",
         "tls_client_auth_subject_dn": "CN=mtls-client,O=Etablissement,C=FR", **grants},
    ]  # fmt: skip


@pytest.fixture(scope="module", params=["keycloak", "strict"])
def server(request, tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp(f"client-auth-{request.param}"),
        clients=_clients(),
        SANTEID_CLIENT_AUTHENTICATION=request.param,
    ) as process:
        yield process


def _basic(client_id: str, secret: str, encode) -> dict:
    credentials = f"{encode(client_id)}:{encode(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: quote_plus(text, safe=""), id="form-encoded"),  # openid-client
        pytest.param(lambda text: text.replace("%", "%25").replace("+", "%2B"), id="percent-only"),
    ],
)
@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/token", {"grant_type": "client_credentials"}),
        ("/token/introspect", {"token": "x"}),
        ("/ext/ciba/auth", {"scope": "openid", "login_hint": "810000000030"}),
    ],
    ids=["token", "introspection", "ciba"],
)
def test_basic_credentials_are_form_decoded_under_both_policies(server, encode, path, form):
    """RFC 6749 §2.3.1: the client form-encodes its id and secret, then Base64; the server
    decodes both (Keycloak's ``BasicAuthHelper.RFC6749.parseHeader``). The strict policy read
    them with Authlib's ``%XX``-only decoding: openid-client's ``+`` stayed a ``+`` and the
    secret was refused."""
    response = requests.post(server.oidc + path, data=form,
                             headers=_basic("spaced-secret", SPACED_SECRET, encode),
                             timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text


#: Each endpoint that authenticates clients: its path and a request it would accept.
ENDPOINTS = {
    "token": ("/token", {"grant_type": "client_credentials"}),
    "revocation": ("/revoke", {"token": "x"}),
    "logout": ("/logout", {"refresh_token": "x"}),
    "ciba": ("/ext/ciba/auth", {"scope": "openid", "login_hint": "810000000030"}),
    "introspection": ("/token/introspect", {"token": "x"}),
    "par": ("/ext/par/request", {"response_type": "code", "scope": "openid",
                                 "redirect_uri": "http://127.0.0.1:8000/callback"}),
}  # fmt: skip
GENERIC = "Invalid client or Invalid client credentials"


def _assertion(server, *, key=CLIENT_KEY, sub="jwt-client", aud=None, exp=None) -> str:
    """A ``private_key_jwt`` client assertion (RFC 7523 §3), by default a good one."""
    now = int(time.time())
    claims = {"iss": sub, "sub": sub, "aud": aud or server.issuer, "iat": now,
              "exp": exp or now + 60, "jti": str(uuid.uuid4())}  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def _hmac_assertion(server, secret: str = HMAC_SECRET) -> str:
    """A ``client_secret_jwt`` client assertion of ``hmac-client`` (OIDC Core §9)."""
    now = int(time.time())
    claims = {"iss": "hmac-client", "sub": "hmac-client", "aud": server.issuer, "iat": now,
              "exp": now + 60, "jti": str(uuid.uuid4())}  # fmt: skip
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret.encode()))


def _signed(assertion: str, **form) -> dict:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **form}


#: Each failure: the request's credentials (form, headers), then the answer under each policy
#: at the token, revocation and logout endpoints (CIBA: the same with 401, CIBA Core §13;
#: introspection and PAR under the default policy: Keycloak's 401 "Authentication failed.").
FAILURES = {
    "wrong-secret": (
        lambda s: ({}, _basic("secret-client", "not-the-secret", str)),
        (401, "unauthorized_client", GENERIC), (401, "invalid_client"),
    ),
    "missing-secret": (
        lambda s: ({"client_id": "secret-client"}, {}),
        (401, "unauthorized_client", GENERIC), (401, "invalid_client"),
    ),
    "unknown-client": (
        lambda s: ({}, _basic("nobody", "not-the-secret", str)),
        (401, "invalid_client", GENERIC), (401, "invalid_client"),
    ),
    "tls-client-without-certificate": (
        lambda s: ({"client_id": "mtls-client"}, {}),
        (401, "invalid_client", GENERIC), (401, "invalid_client"),
    ),
    "assertion-wrong-aud": (
        lambda s: (_signed(_assertion(s, aud="https://elsewhere.example")), {}),
        (400, "invalid_client", "Invalid token audience"), (400, "invalid_client"),
    ),
    "assertion-expired": (
        lambda s: (_signed(_assertion(s, exp=int(time.time()) - 120)), {}),
        (400, "invalid_client", "Token is not active"), (400, "invalid_client"),
    ),
    "assertion-bad-signature": (
        lambda s: (_signed(_assertion(s, key=IMPOSTOR_KEY)), {}),
        (400, "invalid_client",
         "Client authentication with signed JWT failed: Signature on JWT token failed validation"),
        (400, "invalid_client"),
    ),
    "assertion-unregistered-key": (
        lambda s: (_signed(_assertion(s, key=OTHER_KEY)), {}),
        (400, "invalid_client", "Unable to load public key"), (400, "invalid_client"),
    ),
    "assertion-missing": (
        lambda s: ({"client_id": "jwt-client"}, {}),
        (400, "invalid_client", "Parameter client_assertion_type is missing"),
        (401, "invalid_client"),
    ),
    "assertion-of-another-client": (
        lambda s: (_signed(_assertion(s), client_id="other-jwt-client"), {}),
        (400, "invalid_client", "client_id parameter does not match sub claim"),
        (400, "invalid_client"),
    ),
    "hmac-wrong-secret": (
        lambda s: (_signed(_hmac_assertion(s, "not-the-secret-of-hmac-client")), {}),
        (400, "unauthorized_client", "Client authentication with client secret signed JWT "
         "failed: Signature on JWT token by client secret  failed validation"),
        (400, "invalid_client"),
    ),
    "hmac-client-asymmetric-assertion": (
        lambda s: (_signed(_assertion(s, sub="hmac-client")), {}),
        (400, "unauthorized_client", "Client authentication with client secret signed JWT "
         "failed: Signature on JWT token by client secret failed validation"),
        (400, "invalid_client"),
    ),
    "hmac-client-secret-by-basic": (
        lambda s: ({}, _basic("hmac-client", HMAC_SECRET, str)),
        (400, "invalid_client", "Parameter client_assertion_type is missing"),
        (401, "invalid_client"),
    ),
}  # fmt: skip


def _policy(server) -> str:
    return server.env["SANTEID_CLIENT_AUTHENTICATION"]


def _expected(server, failure: str, endpoint: str) -> tuple[int, str, str | None]:
    keycloak, strict = FAILURES[failure][1:]
    if _policy(server) == "keycloak":
        if endpoint in ("introspection", "par"):
            return 401, "invalid_request", "Authentication failed."
        status, error, description = keycloak
    else:
        (status, error), description = strict, None
        if endpoint in ("introspection", "ciba"):
            status = 401  # RFC 7662 §2.3, CIBA Core §13
    return (401 if endpoint == "ciba" else status), error, description


def _post(server, endpoint: str, form: dict, headers: dict) -> requests.Response:
    path, request_form = ENDPOINTS[endpoint]
    return requests.post(server.oidc + path, data={**request_form, **form}, headers=headers,
                         timeout=10)  # fmt: skip


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_client_authentication_answers_as_the_policy_says(server, failure, endpoint):
    """Keycloak's authenticators (docs/reference/keycloak-behaviour.md, "Client
    authentication"): "Client Id and Secret" answers a known secret client's failure 401
    ``unauthorized_client``; a client the flow cannot find, or a ``tls_client_auth`` client
    without its certificate, ends the flow, 401 ``invalid_client``; the "Signed JWT"
    authenticator answers a ``private_key_jwt`` client's own failures 400 ``invalid_client``
    with its reason, which the CIBA endpoint resends with 401; "Signed JWT with Client Secret"
    a ``client_secret_jwt`` client's the same, but 400 ``unauthorized_client`` for its
    signature. No answer carries
    ``WWW-Authenticate`` under the default policy."""
    form, headers = FAILURES[failure][0](server)
    response = _post(server, endpoint, form, headers)
    status, error, description = _expected(server, failure, endpoint)
    body = response.json()
    assert (response.status_code, body["error"]) == (status, error), body
    if description is not None:
        assert body["error_description"] == description
        assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_replayed_client_assertion_is_refused(server, endpoint):
    """RFC 7523 §3 (``jti``): an assertion is accepted once; Keycloak answers the second use
    400 ``invalid_client`` "Token reuse detected" (CIBA: 401)."""
    form = _signed(_assertion(server))
    first = _post(server, endpoint, form, {})
    # Authenticated: a success, or the logout endpoint's verdict on its refresh token.
    assert first.status_code in (200, 201) or first.json()["error"] == "invalid_grant"
    replayed = _post(server, endpoint, form, {})
    body = replayed.json()
    if _policy(server) == "keycloak" and endpoint in ("introspection", "par"):
        assert (replayed.status_code, body["error"]) == (401, "invalid_request")
    elif _policy(server) == "keycloak":
        assert replayed.status_code == (401 if endpoint == "ciba" else 400)
        assert body == {"error": "invalid_client", "error_description": "Token reuse detected"}
    else:
        assert body["error"] == "invalid_client"
        assert replayed.status_code == (401 if endpoint in ("ciba", "introspection") else 400)


@pytest.mark.parametrize("named", ["other-jwt-client", "nobody", "secret-client"])
def test_an_assertion_sent_with_another_client_id_is_not_spent(server, named):
    """Keycloak's "Signed JWT" authenticator compares the ``client_id`` parameter with the
    assertion's ``sub`` before it reads the signature and the ``jti``
    (``AbstractJWTClientValidator.validate``): a request naming another client — another
    ``private_key_jwt`` one, an unknown one, a secret one — is refused and spends no
    assertion, and the client's retry with the same assertion gets its token."""
    assertion = _assertion(server)
    refused = _post(server, "token", _signed(assertion, client_id=named), {})
    assert refused.status_code in (400, 401), refused.text
    assert refused.json()["error"] in ("invalid_client", "unauthorized_client"), refused.text
    retried = _post(server, "token", _signed(assertion), {})
    assert retried.status_code == 200, retried.text
    assert "access_token" in retried.json()

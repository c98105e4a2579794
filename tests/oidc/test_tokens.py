"""Token endpoint: PSC token shapes (docs/reference/pro-sante-connect.md §5–7), single-use codes,
PKCE, client
authentication, refresh rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote_plus

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from santeid import create_app
from santeid.storage import MemoryStore
from tests.support.jwt_keys import certificate_chain
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import KEYCLOAK_TOKEN_MEMBERS
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import MovedIssuer
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import pkce_pair
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional


def test_token_response_has_keycloak_fields_in_order(flow):
    body = flow.full_login()
    assert list(body) == KEYCLOAK_TOKEN_MEMBERS
    assert body["expires_in"] == 120
    assert body["refresh_expires_in"] == 1800
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid scope_all"


def test_access_token_is_shaped_like_psc(flow, app):
    national_id = sandbox_professional(app)
    body = flow.full_login(national_id)
    header, claims = decode(app, body["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"]
    assert list(claims) == [
        "exp", "iat", "auth_time", "jti", "iss", "sub", "typ", "azp", "nonce",
        "session_state", "acr", "scope", "sid", "authMode", "otherIds", "preferred_username",
    ]  # fmt: skip
    assert claims["exp"] - claims["iat"] == 120
    assert "aud" not in claims
    assert claims["iss"] == ISSUER
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == "service-test"
    assert claims["sid"] == claims["session_state"] == body["session_state"]
    assert claims["acr"] == "eidas1"
    prefix, federation, subject = claims["sub"].split(":")
    assert prefix == "f" and uuid.UUID(federation) and subject == national_id
    assert claims["preferred_username"] == national_id
    assert any(o["identifiant"] for o in claims["otherIds"])


def test_id_token_claims(flow, app):
    national_id = sandbox_professional(app)
    body = flow.full_login(national_id, nonce="my-nonce")
    _, claims = decode(app, body["id_token"])
    for name in (
        "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
        "SubjectNameID", "preferred_username", "given_name", "family_name", "authMode",
    ):  # fmt: skip
        assert name in claims, name
    assert claims["aud"] == "service-test"
    assert claims["nonce"] == "my-nonce"
    assert claims["SubjectNameID"] == national_id
    assert claims["typ"] == "ID"
    assert isinstance(claims["amr"], list) and claims["amr"]
    assert abs(claims["auth_time"] - time.time()) < 30
    professional = app.extensions["santeid"].directory.get(national_id)
    assert claims["family_name"] == professional.family_name


def test_nonce_is_optional(flow, app):
    """oidcc-ensure-request-without-nonce-succeeds-for-code-flow."""
    body = flow.full_login(nonce=None)
    _, claims = decode(app, body["id_token"])
    assert "nonce" not in claims


def test_an_empty_nonce_is_an_empty_nonce_claim(flow, client, app):
    """``nonce=`` (empty) is a nonce: Keycloak's ``AuthzEndpointRequestParser`` keeps the
    empty string (only a missing parameter is null), ``AuthorizationEndpoint`` stores it
    (``paramValue != null``), and the ID token is given it
    (``idToken.setNonce(clientSessionCtx.getAttribute(NONCE_PARAM))``), which Keycloak's
    mapper (``NON_NULL``) writes as ``"nonce": ""``: at the code's redemption and at a
    refresh alike."""
    body = flow.full_login(nonce="")
    _, claims = decode(app, body["id_token"])
    assert claims["nonce"] == ""
    _, access = decode(app, body["access_token"])
    assert access["nonce"] == ""
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    _, claims = decode(app, refreshed.get_json()["id_token"])
    assert claims["nonce"] == ""


def test_a_refresh_after_a_login_without_nonce_gives_no_nonce_claim(flow, client, app):
    body = flow.full_login(nonce=None)
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    _, claims = decode(app, refreshed.get_json()["id_token"])
    assert "nonce" not in claims


def test_code_is_single_use_and_replay_revokes_its_tokens(flow, client, app):
    params = flow.obtain_code()
    first = flow.token(params["code"])
    assert first.status_code == 200
    tokens = first.get_json()
    replay = flow.token(params["code"])
    assert replay.status_code == 400
    # docs/reference/keycloak-behaviour.md, "Token endpoint".
    assert replay.get_json() == {"error": "invalid_grant", "error_description": "Code not valid"}
    # RFC 6749 §4.1.2: the tokens the code gave are revoked.
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert userinfo.status_code == 401
    refresh = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert refresh.get_json()["error"] == "invalid_grant"


def test_a_code_issued_before_its_client_was_detached_finds_no_client_session(flow, client):
    """docs/reference/keycloak-behaviour.md, "Token endpoint": a code used twice detaches its
    client from the user session; a code of that client issued before and not yet exchanged
    then finds the user session but no client session in it, 400 ``invalid_grant`` "User
    session not found" (spent as any refused code). A code issued after the detachment
    brings the client back (Keycloak makes a new client session), and gives tokens."""
    first = flow.obtain_code()["code"]
    earlier = flow.code_from(flow.authorize(prompt="none"))["code"]
    assert flow.token(first).status_code == 200
    assert flow.token(first).get_json()["error_description"] == "Code not valid"
    refused = flow.token(earlier)
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_grant",
        "error_description": "User session not found",
    }
    assert flow.token(earlier).get_json()["error_description"] == "Code not valid"
    later = flow.code_from(flow.authorize(prompt="none"))["code"]
    assert flow.token(later).status_code == 200


def test_a_code_issued_before_a_refresh_token_revocation_finds_no_client_session(app, client):
    """The same after a revocation of the client's refresh token, which detaches it too
    (``TokenRevocationEndpoint.revokeClientSession``), while another client keeps the SSO
    session alive."""
    flow = Flow(app, client, register_client(app))
    other = Flow(app, client, register_client(app, client_id="service-other"))
    tokens = flow.full_login()
    assert other.token(other.code_from(other.authorize(prompt="none"))["code"]).status_code == 200
    earlier = flow.code_from(flow.authorize(prompt="none"))["code"]
    revoked = client.post(
        f"{OIDC}/revoke",
        data={"token": tokens["refresh_token"]},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert revoked.status_code == 200
    refused = flow.token(earlier)
    assert refused.get_json() == {
        "error": "invalid_grant",
        "error_description": "User session not found",
    }


def test_concurrent_redemptions_of_a_code_give_tokens_once(any_store_app):
    """On memory and on a real Redis: of one code raced at the token endpoint, one request
    gets tokens, every other one ``invalid_grant``."""
    app = any_store_app
    meta = register_client(app)
    code = Flow(app, app.test_client(), meta).obtain_code()["code"]

    def redeem(_):
        return Flow(app, app.test_client(), meta).token(code)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(redeem, range(8)))
    assert [r.status_code for r in responses].count(200) == 1
    refused = [r.get_json() for r in responses if r.status_code != 200]
    assert [body["error"] for body in refused] == ["invalid_grant"] * 7
    # Whether a request lost the race or came after the winner, Keycloak's text.
    assert [body["error_description"] for body in refused] == ["Code not valid"] * 7


@pytest.mark.parametrize("code", ["never-issued", "x" * 600], ids=["unknown", "oversized"])
def test_unknown_code_is_keycloaks_code_not_valid(flow, code):
    """docs/reference/keycloak-behaviour.md, "Token endpoint": a code the provider does not
    know is refused as a used one."""
    response = flow.token(code)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "Code not valid",
    }


def test_missing_code_is_keycloaks_missing_parameter(flow, client):
    """docs/reference/keycloak-behaviour.md, "Token endpoint": no ``code`` is
    ``invalid_request`` "Missing parameter: code"."""
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Missing parameter: code",
    }


def _other_client(app) -> dict:
    return register_client(
        app, client_id="other-service", client_secret="another-secret-0123456789"
    )


def _token_as(client, meta: dict, code: str, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    data.update(extra)
    return client.post(
        f"{OIDC}/token",
        data=data,
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    )


DIFFERENT_CLIENT = {
    "error": "invalid_grant",
    "error_description": "Auth error: Found different client_id in clientSession",
}
CODE_NOT_VALID = {"error": "invalid_grant", "error_description": "Code not valid"}


def test_code_of_another_client_is_keycloaks_different_client_id(flow, client, app):
    """docs/reference/keycloak-behaviour.md, "Token endpoint"."""
    other = _other_client(app)
    params = flow.obtain_code()
    response = _token_as(client, other, params["code"])
    assert response.status_code == 400
    assert response.get_json() == DIFFERENT_CLIENT
    # As in Keycloak, the refused attempt spent the code: the rightful client's use is refused.
    assert flow.token(params["code"]).get_json() == CODE_NOT_VALID


def test_code_checks_run_in_keycloaks_order(flow, client, app):
    """docs/reference/keycloak-behaviour.md, "Token endpoint": the code itself, then
    ``redirect_uri``, then the client, then PKCE."""
    other = _other_client(app)
    _, challenge = pkce_pair()

    def code() -> str:  # each refusal spends its code
        return flow.obtain_code(code_challenge=challenge, code_challenge_method="S256")["code"]

    elsewhere = "https://service.example.org/other"
    # redirect_uri before the client, and before PKCE.
    assert _token_as(client, other, code(), redirect_uri=elsewhere).get_json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect redirect_uri",
    }
    # The client before PKCE.
    assert _token_as(client, other, code()).get_json() == DIFFERENT_CLIENT


def test_used_code_of_another_client_is_code_not_valid_and_revokes(flow, client, app):
    """The code is checked before the client (docs/reference/keycloak-behaviour.md, "Token
    endpoint"): a used code is "Code not valid" whoever presents it, and its tokens are
    revoked (RFC 6749 §4.1.2)."""
    other = _other_client(app)
    params = flow.obtain_code()
    tokens = flow.token(params["code"]).get_json()
    replay = _token_as(client, other, params["code"])
    assert replay.status_code == 400
    assert replay.get_json() == {"error": "invalid_grant", "error_description": "Code not valid"}
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert userinfo.status_code == 401


def test_redirect_uri_must_match_the_authorization_request(flow, client):
    """docs/reference/keycloak-behaviour.md, "Token endpoint": another ``redirect_uri``, or
    none, is ``invalid_grant`` "Incorrect redirect_uri"; the refusal spends the code, as
    Keycloak's."""
    params = flow.obtain_code()
    response = flow.token(params["code"], redirect_uri="https://service.example.org/other")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect redirect_uri",
    }
    assert flow.token(params["code"]).get_json() == CODE_NOT_VALID
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "authorization_code", "code": flow.obtain_code()["code"]},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect redirect_uri",
    }


def test_a_session_state_added_to_the_redirect_uri_is_left_out(flow, app):
    """``AuthorizationCodeGrantType.process`` (KEYCLOAK-4478, adapters before Keycloak 3.4.2
    sent their callback URL with ``session_state``): a token request's ``redirect_uri`` holding
    ``session_state=`` where the authorization request's did not is compared without its
    ``session_state`` parameters (``KeycloakUriBuilder.replaceQueryParam``); any other
    difference is still refused."""
    for sent in (
        f"{REDIRECT_URI}?session_state=abc",
        f"{REDIRECT_URI}?session_state=a&session_state=b",
    ):
        response = flow.token(flow.obtain_code()["code"], redirect_uri=sent)
        assert response.status_code == 200, (sent, response.get_json())
    flow.client = register_client(app, redirect_uris=[f"{REDIRECT_URI}?tenant=7"])
    kept = f"{REDIRECT_URI}?session_state=x&tenant=7"
    response = flow.token(flow.obtain_code()["code"], redirect_uri=kept)
    assert response.status_code == 200, response.get_json()
    other = flow.token(
        flow.obtain_code()["code"], redirect_uri=f"{REDIRECT_URI}?session_state=x&a=1"
    )
    assert other.get_json()["error_description"] == "Incorrect redirect_uri"


def test_expired_code_is_invalid_grant(clocked_app, clock):
    from tests.support.oidc_flow import Flow

    flow = Flow(clocked_app, clocked_app.test_client(), register_client(clocked_app))
    params = flow.obtain_code()
    clock.advance(clocked_app.extensions["santeid"].settings.oidc.authorization_code_lifetime + 1)
    # Gone from the store, it is an unknown code.
    assert flow.token(params["code"]).get_json() == {
        "error": "invalid_grant",
        "error_description": "Code not valid",
    }


def test_pkce_s256(flow, app):
    """Keycloak's refusals (docs/reference/keycloak-behaviour.md, "Token endpoint")."""
    verifier, challenge = pkce_pair()
    national_id = sandbox_professional(app)
    params = flow.obtain_code(national_id, code_challenge=challenge, code_challenge_method="S256")
    missing = flow.token(params["code"])
    assert missing.status_code == 400
    assert missing.get_json() == {
        "error": "invalid_grant",
        "error_description": "PKCE code verifier not specified",
    }

    params = flow.obtain_code(national_id, code_challenge=challenge, code_challenge_method="S256")
    wrong = flow.token(params["code"], code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.get_json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Code mismatch",
    }

    params = flow.obtain_code(national_id, code_challenge=challenge, code_challenge_method="S256")
    assert flow.token(params["code"], code_verifier=verifier).status_code == 200


@pytest.mark.parametrize("method", ["S256", "plain", None])
def test_pkce_verifier_is_compared_in_constant_time_by_santeid(flow, app, monkeypatch, method):
    """RFC 7636 §4.6 by santeid itself (``PerClientCodeChallenge``): the verifier's transform
    and the challenge go through ``hmac.compare_digest``, never Authlib's ``==``."""
    import hmac

    from authlib.oauth2.rfc7636 import challenge as authlib_challenge

    from santeid.oidc import provider

    def not_authlib(*_):
        raise AssertionError("Authlib compared the PKCE verifier")

    monkeypatch.setattr(
        authlib_challenge.CodeChallenge,
        "CODE_CHALLENGE_METHODS",
        {"plain": not_authlib, "S256": not_authlib},
    )
    compared = []
    original = hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(provider.hmac, "compare_digest", compare_digest)
    verifier, s256 = pkce_pair()
    challenge = s256 if method == "S256" else verifier
    extra = {"code_challenge": challenge, "code_challenge_method": method}
    national_id = sandbox_professional(app)

    params = flow.obtain_code(national_id, **extra)
    wrong = flow.token(params["code"], code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.get_json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Code mismatch",
    }
    params = flow.obtain_code(national_id, **extra)
    assert flow.token(params["code"], code_verifier=verifier).status_code == 200
    assert (challenge.encode(), challenge.encode()) in compared


@pytest.mark.parametrize(
    "malformed",
    ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 43 + "\n", ""],
    ids=["too-short", "too-long", "outside-the-alphabet", "trailing-newline", "empty"],
)
def test_pkce_malformed_verifier_is_keycloaks_invalid_code_verifier(flow, app, malformed):
    """A verifier outside RFC 7636 §4.1's 43–128 unreserved characters is a wrong verifier
    (docs/reference/keycloak-behaviour.md, "Token endpoint"); an empty one is not a missing
    one."""
    _, challenge = pkce_pair()
    params = flow.obtain_code(code_challenge=challenge, code_challenge_method="S256")
    response = flow.token(params["code"], code_verifier=malformed)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Invalid code verifier",
    }


@pytest.mark.parametrize("verifier", [pkce_pair()[0], ""], ids=["well-formed", "empty"])
def test_verifier_without_challenge_is_refused(flow, app, verifier):
    """RFC 9700 §4.8: a code_verifier for a request that had no challenge is an attack sign.
    Keycloak's answer (docs/reference/keycloak-behaviour.md, "Token endpoint"), for any
    ``code_verifier`` sent, an empty one too; the refusal spends the code, as Keycloak's."""
    params = flow.obtain_code()
    response = flow.token(params["code"], code_verifier=verifier)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "PKCE code verifier specified but challenge not present in "
        "authorization",
    }
    assert flow.token(params["code"]).get_json() == CODE_NOT_VALID


def test_client_secret_post_only_when_registered_under_the_strict_setting(settings):
    from santeid import create_app
    from santeid.storage import MemoryStore
    from tests.support.oidc_flow import Flow

    app = create_app(settings.replace(client_authentication="strict"), store=MemoryStore())
    client = app.test_client()
    meta = register_client(app, token_endpoint_auth_method="client_secret_post")
    flow = Flow(app, client, meta)
    params = flow.obtain_code()
    basic = flow.token(params["code"])
    assert basic.status_code == 401  # registered for post, so Basic is refused
    assert basic.headers["WWW-Authenticate"].startswith("Basic")
    response = client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": meta["client_id"],
            "client_secret": meta["client_secret"],
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize("registered", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("sent", ["basic", "post", "both"])
def test_secret_by_basic_or_in_the_body_whatever_was_registered(app, client, registered, sent):
    """Keycloak's client-secret authenticator (docs/reference/keycloak-behaviour.md,
    "Client authentication")."""
    from tests.support.oidc_flow import Flow

    meta = register_client(app, token_endpoint_auth_method=registered)
    flow = Flow(app, client, meta)
    data = {"grant_type": "authorization_code", "code": flow.obtain_code()["code"]}
    data["redirect_uri"] = REDIRECT_URI
    headers = {}
    if sent in ("basic", "both"):
        headers = basic_auth(meta["client_id"], meta["client_secret"])
    if sent in ("post", "both"):
        data.update(client_id=meta["client_id"], client_secret=meta["client_secret"])
    response = client.post(f"{OIDC}/token", data=data, headers=headers)
    assert response.status_code == 200, response.get_json()


KEYCLOAK_UNAUTHORIZED_CLIENT = {
    "error": "unauthorized_client",
    "error_description": "Invalid client or Invalid client credentials",
}
KEYCLOAK_INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}


def test_keycloak_wrong_secret_has_no_challenge(flow, client):
    """A wrong secret in the body overrides a right one in Basic, as in Keycloak, whose
    "Client Id and Secret" authenticator answers 401 ``unauthorized_client`` without a
    challenge (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    meta = flow.client
    response = client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "authorization_code",
            "code": flow.obtain_code()["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": meta["client_id"],
            "client_secret": "wrong-" + meta["client_secret"],
        },
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    )
    assert response.status_code == 401
    assert response.get_json() == KEYCLOAK_UNAUTHORIZED_CLIENT
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    ("form", "expected"),
    [({"client_id": ""}, KEYCLOAK_INVALID_CLIENT),
     ({"client_secret": ""}, KEYCLOAK_UNAUTHORIZED_CLIENT)],
    ids=["empty-client-id", "empty-secret"],
)  # fmt: skip
def test_an_empty_form_parameter_overrides_the_basic_header(flow, client, form, expected):
    """Keycloak's ``ClientIdAndSecretAuthenticator`` takes the form's ``client_id`` and
    ``client_secret`` over the Basic header's whenever the form holds them
    (``formData.containsKey``), empty ones too: an empty ``client_id`` names no client
    (``invalid_client``), an empty secret is a wrong one (``unauthorized_client``)."""
    meta = flow.client
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    )
    assert (response.status_code, response.get_json()) == (401, expected)


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({"headers": basic_auth("service-test", "not-the-secret")}, KEYCLOAK_UNAUTHORIZED_CLIENT),
        ({"data": {"client_id": "service-test"}}, KEYCLOAK_UNAUTHORIZED_CLIENT),
        (
            {"data": {"client_id": "service-test", "client_secret": "x"}},
            KEYCLOAK_UNAUTHORIZED_CLIENT,
        ),
        ({"headers": basic_auth("nobody", "not-the-secret")}, KEYCLOAK_INVALID_CLIENT),
        ({"data": {"client_id": "nobody", "client_secret": "x"}}, KEYCLOAK_INVALID_CLIENT),
        ({}, KEYCLOAK_INVALID_CLIENT),
    ],
    ids=["wrong-basic", "no-secret", "wrong-post", "unknown-basic", "unknown-post", "nothing"],
)
def test_keycloak_codes_of_a_failed_client_authentication(flow, client, credentials, expected):
    """Keycloak's ``ClientIdAndSecretAuthenticator`` answers a known client's wrong or missing
    secret with ``unauthorized_client``; a client it cannot find (or no client at all) fails
    the whole client flow, ``invalid_client``; both 401, same text
    (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    data = {"grant_type": "client_credentials", **credentials.get("data", {})}
    response = client.post(f"{OIDC}/token", data=data, headers=credentials.get("headers", {}))
    assert response.status_code == 401
    assert response.get_json() == expected
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: quote_plus(text, safe=""), id="form-encoded"),  # RFC 6749 §2.3.1
        pytest.param(lambda text: text.replace("+", "%2B"), id="percent-only"),
    ],
)
def test_basic_credentials_are_form_decoded_without_key_ops_them(app, client, encode):
    """RFC 6749 §2.3.1 has clients form-encode the id and secret before Base64 (openid-client
    does: a space becomes ``+``); Keycloak decodes them with ``URLDecoder``
    (docs/reference/keycloak-behaviour.md, "Client authentication"). A secret with a space, a
    plus and a percent sign authenticates either way it is encoded."""
    secret = "a secret with+plus and 100% space-0123456789"
    register_client(app, client_id="spaced-secret", client_secret=secret,
                    grant_types=["client_credentials"])  # fmt: skip
    credentials = f"{encode('spaced-secret')}:{encode(secret)}"
    header = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    response = client.post(f"{OIDC}/token", data={"grant_type": "client_credentials"},
                           headers=header)  # fmt: skip
    assert response.status_code == 200, response.get_json()


def test_private_key_jwt_client_cannot_use_a_secret(app, client):
    """Keycloak's Signed JWT authenticator is strict: a secret does not authenticate such a
    client even if one was registered; it answers for the client the Basic header names, which
    sent no assertion (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    meta = register_client(
        app,
        client_id="jwt-client",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [ECKey.generate_key("P-256").as_dict(private=False)]},
    )
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Parameter client_assertion_type is missing",
    }


def test_missing_grant_type_is_keycloak_invalid_request(flow, client):
    response = client.post(
        f"{OIDC}/token", data={}, headers=basic_auth("service-test", flow.client["client_secret"])
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Missing form parameter: grant_type",
    }


@pytest.mark.parametrize("authenticated", [True, False])
def test_an_empty_grant_type_is_an_unsupported_one(flow, client, authenticated):
    """Keycloak's ``TokenEndpoint.checkGrantType`` answers "Missing form parameter" only for an
    absent ``grant_type`` (``formParams.getFirst`` is ``null``); ``grant_type=`` is the empty
    string, which names no grant: ``unsupported_grant_type``, before the client is looked at
    (docs/reference/keycloak-behaviour.md, "Token endpoint")."""
    headers = basic_auth("service-test", flow.client["client_secret"]) if authenticated else {}
    response = client.post(f"{OIDC}/token", data={"grant_type": ""}, headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant_type",
    }
    # A repeated empty grant_type is the same: the grant type is checked first.
    form = "application/x-www-form-urlencoded"
    repeated = client.post(
        f"{OIDC}/token", data="grant_type=&grant_type=", content_type=form, headers=headers
    )
    assert repeated.get_json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        ({"grant_type": "authorization_code", "code": ""}, "invalid_grant", "Code not valid"),
        (
            {"grant_type": "refresh_token", "refresh_token": ""},
            "invalid_grant",
            "Invalid refresh token",
        ),
        (
            {"grant_type": "client_credentials\x00"},
            "unsupported_grant_type",
            "Unsupported grant_type",
        ),
    ],
)
def test_an_empty_or_control_character_value_is_read_as_sent(
    flow, client, form, error, description
):
    """An empty ``code`` or ``refresh_token`` is a value, not the missing parameter ("Missing
    parameter: code", "No refresh token"), and a value is read with its control characters,
    as Keycloak 25 to 26.6 read them (26.7 strips them, ``TokenEndpoint.sanitizeFormParameters``;
    docs/reference/keycloak-behaviour.md, "Token endpoint: input validation")."""
    headers = basic_auth("service-test", flow.client["client_secret"])
    response = client.post(f"{OIDC}/token", data=form, headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": error, "error_description": description}


def test_an_over_long_parameter_is_refused_with_the_token_endpoints_headers(flow, client):
    """A parameter over ``max_parameter_length`` is santeid's refusal, before the client is
    authenticated (docs/reference/keycloak-behaviour.md, "Token endpoint: input validation":
    kept); it comes with the headers of every other token endpoint answer, as Keycloak's
    ``TokenEndpoint.processGrantRequest`` sets them before any check (RFC 6749 §5.1)."""
    form = {"grant_type": "client_credentials", "scope": "openid " + "x" * 4096}
    for headers in (basic_auth("service-test", flow.client["client_secret"]), {}):
        response = client.post(f"{OIDC}/token", data=form, headers=headers)
        assert response.status_code == 400
        assert response.get_json() == {
            "error": "invalid_request",
            "error_description": "parameter 'scope' exceeds 4096 bytes",
        }
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


def test_wrong_secret_consumes_nothing(flow, client, app):
    params = flow.obtain_code()
    response = client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT_URI,
        },
        headers=basic_auth("service-test", "not-the-secret-at-all"),
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized_client"
    assert flow.token(params["code"]).status_code == 200  # nothing was consumed


def _private_key_client_of(app) -> tuple[dict, ECKey]:
    """A ``private_key_jwt`` client registered in ``app`` with a P-256 key of ``kid`` "k1",
    and that key."""
    key = ECKey.generate_key("P-256", private=True)
    public = key.as_dict(private=False)
    public["kid"] = "k1"
    meta = register_client(
        app,
        client_id="pkjwt-service",
        client_secret=None,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public]},
    )
    return meta, key


@pytest.fixture
def private_key_client(app):
    return _private_key_client_of(app)


def _assertion(
    key,
    client_id: str,
    audience: str | list,
    jti: str | None = None,
    header: dict | None = None,
    **claims,
):
    """A client assertion of ``client_id``, signed by ``key``: ``claims`` added or replacing
    its own, one given ``None`` left out; ``header`` added to its header."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": jti or uuid.uuid4().hex,
        **claims,
    }
    claims = {name: value for name, value in claims.items() if value is not None}
    token = jwt.encode({"alg": "ES256", "kid": "k1", **(header or {})}, claims, key)
    return token.decode() if isinstance(token, bytes) else token


def _exchange_with_assertion(client, code: str, assertion: str | bytes):
    """Token request authenticated by a client assertion (RFC 7523 §2.2)."""
    if isinstance(assertion, bytes):
        assertion = assertion.decode()
    return client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def test_private_key_jwt_and_jti_replay(app, client, private_key_client):
    from tests.support.oidc_flow import Flow

    meta, key = private_key_client
    flow = Flow(app, client, meta)
    assertion = _assertion(key, meta["client_id"], f"{ISSUER}/protocol/openid-connect/token")
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200, response.get_json()

    replay = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert replay.status_code in (400, 401)
    assert replay.get_json()["error"] == "invalid_client"


def test_private_key_jwt_with_issuer_audience(app, client, private_key_client):
    """FAPI-CIBA: a client assertion whose aud is the issuer must be accepted."""
    from tests.support.oidc_flow import Flow

    meta, key = private_key_client
    flow = Flow(app, client, meta)
    assertion = _assertion(key, meta["client_id"], ISSUER)
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200


def test_a_client_assertion_carrying_a_certificate_chain_gets_tokens(
    app, client, private_key_client
):
    """A client assertion whose header carries an ``x5c`` chain of three certificates
    (RFC 7515 §4.1.6) is over 4096 bytes. Keycloak reads it whatever its length: it
    authenticates the client before ``TokenEndpoint.checkParameters``
    (docs/reference/keycloak-behaviour.md, "Parameter sizes"); santeid bounds it by
    ``max_jwt_parameter_length`` (20000), not ``max_parameter_length``."""
    meta, key = private_key_client
    flow = Flow(app, client, meta)
    audience = f"{ISSUER}/protocol/openid-connect/token"
    assertion = _assertion(key, meta["client_id"], audience, header={"x5c": certificate_chain()})
    assert len(assertion) > 4096
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200, response.get_json()
    assert decode(app, response.get_json()["access_token"])[1]["azp"] == meta["client_id"]


def test_a_client_assertion_over_max_jwt_parameter_length_is_refused(
    app, client, private_key_client
):
    """Over ``max_jwt_parameter_length`` (20000 bytes), a client assertion is refused as any
    parameter over its limit, before the client is authenticated: the code stays unused."""
    meta, key = private_key_client
    flow = Flow(app, client, meta)
    code = flow.obtain_code()["code"]
    audience = f"{ISSUER}/protocol/openid-connect/token"
    chain = [*certificate_chain(), "A" * 16000]
    assertion = _assertion(key, meta["client_id"], audience, header={"x5c": chain})
    assert len(assertion) > 20000
    response = _exchange_with_assertion(client, code, assertion)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "parameter 'client_assertion' exceeds 20000 bytes",
    }
    assertion = _assertion(key, meta["client_id"], audience)
    assert _exchange_with_assertion(client, code, assertion).status_code == 200


@pytest.mark.parametrize(("endpoint", "status"), [("token/introspect", 200), ("revoke", 200)])
def test_a_client_assertion_carrying_a_certificate_chain_authenticates_everywhere(
    app, client, private_key_client, endpoint, status
):
    """Introspection and revocation authenticate their client as the token endpoint does
    (``AuthorizeClientUtil.authorizeClient``), whatever the assertion's length: one over 4096
    bytes is read (docs/reference/keycloak-behaviour.md, "Parameter sizes")."""
    meta, key = private_key_client
    audience = f"{ISSUER}/protocol/openid-connect/token"
    code = Flow(app, client, meta).obtain_code()["code"]
    tokens = _exchange_with_assertion(client, code, _assertion(key, meta["client_id"], audience))
    tokens = tokens.get_json()
    assertion = _assertion(key, meta["client_id"], audience, header={"x5c": certificate_chain()})
    assert len(assertion) > 4096
    response = client.post(
        f"{OIDC}/{endpoint}",
        data={
            "token": tokens["refresh_token"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code == status, response.get_data(as_text=True)
    if endpoint == "token/introspect":
        assert response.get_json()["active"] is True


def test_the_jwt_parameter_limit_is_never_below_max_parameter_length(settings):
    """``max_jwt_parameter_length`` set below ``max_parameter_length`` (an installation that
    had raised the latter for such assertions) bounds nothing more than the latter does."""
    app = create_app(settings.replace(max_jwt_parameter_length=100), store=MemoryStore())
    client = app.test_client()
    meta, key = _private_key_client_of(app)
    flow = Flow(app, client, meta)
    audience = f"{ISSUER}/protocol/openid-connect/token"
    assertion = _assertion(key, meta["client_id"], audience, header={"x5c": ["A" * 2500]})
    assert 2500 < len(assertion) <= 4096
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("endpoint", ["token/introspect", "ext/par/request", "ext/ciba/auth"])
def test_private_key_jwt_for_another_keycloak_audience(app, client, private_key_client, endpoint):
    """Keycloak accepts an assertion whose ``aud`` is any of its issuer, token,
    introspection, PAR and CIBA endpoint URLs, at every endpoint
    (``JWTClientValidator.getExpectedAudiences``, docs/reference/keycloak-behaviour.md,
    "Client authentication"): one made for the introspection endpoint authenticates at the
    token endpoint."""
    meta, key = private_key_client
    flow = Flow(app, client, meta)
    assertion = _assertion(key, meta["client_id"], f"{ISSUER}/protocol/openid-connect/{endpoint}")
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "endpoint", ["token", "token/introspect", "ext/par/request", "ext/ciba/auth"]
)
def test_private_key_jwt_for_an_mtls_alias_audience(settings, endpoint):
    """On a certificate listener of its own (``mtls_base_url``), the endpoints have the URLs
    discovery's ``mtls_endpoint_aliases`` give (RFC 8705 §5), and Keycloak builds the audiences
    it accepts from the URL a request reaches it at (``JWTClientValidator.getExpectedAudiences``
    reads ``getUriInfo().getBaseUri()``, docs/reference/keycloak-behaviour.md, "Client
    authentication"): an assertion whose ``aud`` is the alias a client posts to (Authlib's
    default) authenticates, as the realm's own URL does."""
    app = create_app(settings.replace(mtls_base_url="https://localhost:5443"), store=MemoryStore())
    client = app.test_client()
    meta, key = _private_key_client_of(app)
    flow = Flow(app, client, meta)
    mtls_base = app.extensions["santeid"].settings.mtls_oidc_base
    assert mtls_base.startswith("https://localhost:5443/")
    assertion = _assertion(key, meta["client_id"], f"{mtls_base}/{endpoint}")
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200, response.get_json()


def test_private_key_jwt_for_an_mtls_alias_of_revocation_is_refused(settings):
    """The alias of an endpoint whose URL is no audience (revocation) stays refused."""
    app = create_app(settings.replace(mtls_base_url="https://localhost:5443"), store=MemoryStore())
    client = app.test_client()
    meta, key = _private_key_client_of(app)
    flow = Flow(app, client, meta)
    mtls_base = app.extensions["santeid"].settings.mtls_oidc_base
    assertion = _assertion(key, meta["client_id"], f"{mtls_base}/revoke")
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 400
    assert response.get_json()["error_description"] == "Invalid token audience"


@pytest.mark.parametrize("endpoint", ["revoke", "logout"])
def test_private_key_jwt_for_the_revocation_or_logout_url_is_refused(
    app, client, private_key_client, endpoint
):
    """Keycloak's audiences leave out the revocation and logout endpoints' URLs: an assertion
    made for one of them is refused there, 400 ``invalid_client`` "Invalid token audience", as
    requests-oauth2client's, whose ``aud`` is the URL it posts to by default."""
    meta, key = private_key_client
    assertion = _assertion(key, meta["client_id"], f"{ISSUER}/protocol/openid-connect/{endpoint}")
    response = client.post(
        f"{OIDC}/{endpoint}",
        data={
            "token" if endpoint == "revoke" else "refresh_token": "any-token",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Invalid token audience",
    }


def test_private_key_jwt_expired_with_its_audience_is_not_active(app, client, private_key_client):
    """An assertion for this server past its ``exp`` is "Token is not active", on the
    application's clock."""
    meta, key = private_key_client
    past = int(time.time()) - 3600
    assertion = _assertion(key, meta["client_id"], ISSUER, iat=past - 30, exp=past)
    response = _exchange_with_assertion(client, "whatever", assertion)
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Token is not active",
    }


@pytest.mark.parametrize(
    "claims",
    [
        {"iat": int(time.time()) - 3600, "exp": int(time.time()) + 100},
        {"iat": int(time.time()) + 100, "exp": int(time.time()) + 160},
        {"iat": None, "exp": int(time.time()) + 3600},
    ],
    ids=["issued-too-long-ago", "issued-in-the-future", "no-iat-exp-too-far"],
)
def test_private_key_jwt_not_yet_valid_is_not_active_before_its_iat_is_read(
    app, client, private_key_client, claims
):
    """Keycloak's ``AbstractBaseJWTValidator.validateTokenActive`` asks ``isActive`` (``exp``
    and ``nbf``, 15 s of skew) before it reads ``iat``: an assertion whose ``nbf`` is a minute
    ahead is "Token is not active", whatever its ``iat`` says."""
    meta, key = private_key_client
    nbf = int(time.time()) + 60
    assertion = _assertion(key, meta["client_id"], ISSUER, nbf=nbf, **claims)
    response = _exchange_with_assertion(client, "whatever", assertion)
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Token is not active",
    }


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS384", "PS512", "ES384", "ES512"])
def test_private_key_jwt_with_keycloaks_other_algorithms(app, client, alg):
    """Keycloak verifies a "Signed JWT" assertion with every asymmetric algorithm it has a
    client signature verifier for, which PSC's discovery lists
    (``ClientAuthSignedJWTTest.testCodeToTokenRequestSuccess512``, ``…PS384``, ``…PS512``,
    ``testECDSASignature``): SHA-384 and SHA-512 ones too, each key found by its ``kid``."""
    curve = {"ES384": "P-384", "ES512": "P-521"}.get(alg)
    key = (
        ECKey.generate_key(curve, private=True)
        if curve
        else RSAKey.generate_key(2048, private=True)
    )
    public = {**key.as_dict(private=False), "kid": "k-" + alg}
    meta = register_client(app, client_id="pkjwt-service", client_secret=None,
                           token_endpoint_auth_method="private_key_jwt",
                           grant_types=["client_credentials"], jwks={"keys": [public]})  # fmt: skip
    now = int(time.time())
    claims = {"iss": meta["client_id"], "sub": meta["client_id"], "aud": ISSUER, "iat": now,
              "exp": now + 60, "jti": uuid.uuid4().hex}  # fmt: skip
    assertion = jwt.encode({"alg": alg, "kid": "k-" + alg}, claims, key, algorithms=[alg])
    response = client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 200, response.get_json()


def test_private_key_jwt_with_one_audience_in_a_list(app, client, private_key_client):
    meta, key = private_key_client
    flow = Flow(app, client, meta)
    assertion = _assertion(key, meta["client_id"], [f"{ISSUER}/protocol/openid-connect/token"])
    response = _exchange_with_assertion(client, flow.obtain_code()["code"], assertion)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("allowed", [True, False])
def test_private_key_jwt_with_several_audiences(settings, allowed):
    """An ``aud`` of several values, one of them this server's, as Auth.js and openid-client 5
    write it (the issuer and the token endpoint): accepted, as Keycloak before 26.2 and
    Keycloak since with its option ``allow-multiple-audiences-for-jwt-client-authentication``
    on; with ``client_assertion_multiple_audiences = false``, Keycloak's default since 26.2
    (``AbstractBaseJWTValidator.validateTokenAudience``,
    ``ClientAuthSignedJWTTest.testMultipleAudiencesRejected``): 400 ``invalid_client``
    "Multiple audiences not allowed", the code not consumed."""
    from santeid import create_app
    from santeid.storage import MemoryStore

    app = create_app(
        settings.replace(client_assertion_multiple_audiences=allowed), store=MemoryStore()
    )
    client = app.test_client()
    meta, key = _private_key_client_of(app)
    code = Flow(app, client, meta).obtain_code()["code"]
    token_url = f"{ISSUER}/protocol/openid-connect/token"
    for audience in ([ISSUER, token_url], [token_url, "https://as.other.org"]):
        response = _exchange_with_assertion(
            client, code, _assertion(key, meta["client_id"], audience)
        )
        if allowed:
            assert response.status_code == 200, response.get_json()
            return
        assert response.status_code == 400, response.get_json()
        assert response.get_json() == {
            "error": "invalid_client",
            "error_description": "Multiple audiences not allowed",
        }
    assertion = _assertion(key, meta["client_id"], token_url)
    assert _exchange_with_assertion(client, code, assertion).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [{"exp": None}, {"exp": int(time.time()) - 3600}, {"iat": int(time.time()) + 3600}],
    ids=["no-exp", "expired", "issued-in-the-future"],
)
def test_private_key_jwt_audience_is_checked_before_its_times(
    app, client, private_key_client, claims
):
    """Keycloak's ``AbstractJWTClientValidator.validate`` checks the audience, then the
    assertion's times (``validateTokenActive``): an assertion for another server is "Invalid
    token audience" whatever its ``exp`` and ``iat``."""
    meta, key = private_key_client
    assertion = _assertion(key, meta["client_id"], "https://as.other.org", **claims)
    response = _exchange_with_assertion(client, "whatever", assertion)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Invalid token audience",
    }


def test_private_key_jwt_signed_by_another_key_is_refused(app, client, private_key_client):
    meta, _ = private_key_client
    stranger = ECKey.generate_key("P-256", private=True)
    response = _exchange_with_assertion(
        client, "whatever", _assertion(stranger, meta["client_id"], ISSUER)
    )
    assert response.get_json()["error"] == "invalid_client"


def test_authlib_private_key_jwt_sign_interoperates(app, client, private_key_client):
    """A relying party using Authlib's own client helper authenticates with the helper's
    default lifetime (3600 s): used at once, within ``client_assertion_max_lifetime`` of its
    ``iat``, as Keycloak accepts it."""
    from tests.support.oidc_flow import Flow

    meta, key = private_key_client
    flow = Flow(app, client, meta)
    params = flow.obtain_code()
    assertion = private_key_jwt_sign(
        key.as_dict(private=True) | {"kid": "k1"},
        meta["client_id"],
        f"{ISSUER}/protocol/openid-connect/token",
        alg="ES256",
    )
    response = _exchange_with_assertion(client, params["code"], assertion)
    assert response.status_code == 200, response.get_json()


def _refresh(client, refresh_token: str, **extra):
    return client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        headers=basic_auth("service-test", "s3cr3t-of-the-test-client-0123456789"),
    )


def _unverified(token: str) -> tuple[dict, dict]:
    """What a client can read of a refresh token: it cannot verify the HMAC signature."""
    header, payload, _ = token.split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def test_refresh_token_is_a_jwt_clients_can_read(flow, app):
    body = flow.full_login()
    header, claims = _unverified(body["refresh_token"])
    # Keycloak signs refresh tokens with the realm's HMAC secret, which is never published.
    assert header["alg"] == "HS512" and header["typ"] == "JWT"
    assert header["kid"] not in {
        k["kid"] for k in app.test_client().get(f"{OIDC}/certs").json["keys"]
    }
    assert claims["typ"] == "Refresh" and claims["aud"] == ISSUER
    assert claims["exp"] - claims["iat"] == 1800
    # "Revoke Refresh Token" off, Keycloak's default: no ``reuse_id`` (TestStrictRefresh).
    assert list(claims) == [
        "exp", "iat", "jti", "iss", "aud", "sub", "typ", "azp", "nonce", "session_state",
        "scope", "sid",
    ]  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017 - any refusal: the JWKS cannot verify it
        decode(app, body["refresh_token"])


def test_refresh_token_stays_usable_until_it_expires(flow, client):
    """Keycloak's default ("Revoke Refresh Token" off): the same refresh token refreshes again,
    each time with a new refresh token, and nothing is revoked."""
    first = flow.full_login()
    second = _refresh(client, first["refresh_token"], scope="openid scope_all")
    assert second.status_code == 200, second.get_json()
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert "id_token" in second
    third = _refresh(client, first["refresh_token"])
    assert third.status_code == 200, third.get_json()
    assert _refresh(client, second["refresh_token"]).status_code == 200
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + second["access_token"]}
    )
    assert userinfo.status_code == 200


def test_rotation_counts_from_the_restart_that_turns_it_on_and_its_refusals_stay(flow, client, app):
    """``RefreshTokenRevokeTest.refreshTokenReuseOfExistingTokenAfterEnablingReuseRevokation``
    and ``…AfterDisablingReuseRevokation``: uses made while "Revoke Refresh Token" is off are
    not counted, so with it on (max reuse 1) the same token serves twice more, then "Maximum
    allowed refresh token reuse exceeded"; turned off again, the token stays refused, its
    client detached from the session."""
    from santeid.oidc.tokens import RefreshRefused
    from santeid.oidc.tokens import TokenService

    first = flow.full_login()
    for _ in range(3):
        assert _refresh(client, first["refresh_token"]).status_code == 200
    svc = app.extensions["santeid"]

    def tokens(**settings):
        changed = svc.settings.replace(**settings)
        return TokenService(changed, svc.store, svc.keys, svc.directory)

    strict = tokens(refresh_token_revoke=True, refresh_token_max_reuse=1)
    for _ in range(2):
        strict.use_refresh_token(strict.refresh_grant(first["refresh_token"], "service-test"))
    with pytest.raises(RefreshRefused, match="^Maximum allowed refresh token reuse exceeded$"):
        strict.use_refresh_token(strict.refresh_grant(first["refresh_token"], "service-test"))
    with pytest.raises(RefreshRefused, match="^Session doesn't have required client$"):
        tokens(refresh_token_revoke=False).refresh_grant(first["refresh_token"], "service-test")
    assert _refresh(client, first["refresh_token"]).get_json()["error"] == "invalid_grant"


class TestStrictRefresh:
    """``refresh_token_revoke`` on: Keycloak's "Revoke Refresh Token" with max reuse 0."""

    @pytest.fixture
    def settings(self, settings):
        return settings.replace(refresh_token_revoke=True)

    def test_a_replay_revokes_the_family(self, flow, client):
        first = flow.full_login()
        second = _refresh(client, first["refresh_token"], scope="openid scope_all")
        assert second.status_code == 200, second.get_json()
        second = second.get_json()
        assert second["refresh_token"] != first["refresh_token"]
        # The used token is replayed: the whole family dies, including the newest token.
        replay = _refresh(client, first["refresh_token"]).get_json()
        assert replay == {
            "error": "invalid_grant",
            "error_description": "Maximum allowed refresh token reuse exceeded",
        }
        assert _refresh(client, second["refresh_token"]).get_json()["error"] == "invalid_grant"
        userinfo = client.get(
            f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + second["access_token"]}
        )
        assert userinfo.status_code == 401

    def test_of_concurrent_uses_of_a_token_one_succeeds(self, any_store_app):
        """``RefreshTokenRevokeTest.refreshTokenRevokeWithConcurrentRefreshTokenRequests``
        (https://github.com/keycloak/keycloak/issues/45647): five refreshes with one token at
        once, on memory and on Redis, one 200."""
        assert _concurrent_refreshes(any_store_app, 5) == [200] + [400] * 4

    def test_an_older_token_replayed_in_the_same_second_is_refused(self, clocked_app):
        """``RefreshTokenRevokeTest.refreshTokenSameSecondReplayRejected``: three rotations in
        one second, then the first token again: refused, and the client's newest token with it.
        To Keycloak 26.6 the first token is not stale — issued in the second of the last
        refresh (``iat < lastRefresh``) — but used again: "Maximum allowed refresh token reuse
        exceeded"; 26.8 calls it "Stale token" (https://github.com/keycloak/keycloak/issues/50999)."""
        client = clocked_app.test_client()
        flow = Flow(clocked_app, client, register_client(clocked_app))
        first = flow.full_login()
        second = _refresh(client, first["refresh_token"]).get_json()
        third = _refresh(client, second["refresh_token"]).get_json()
        issued = [_unverified(t["refresh_token"])[1]["iat"] for t in (first, second, third)]
        assert len(set(issued)) == 1
        assert _refresh(client, first["refresh_token"]).get_json() == {
            "error": "invalid_grant",
            "error_description": "Maximum allowed refresh token reuse exceeded",
        }
        assert _refresh(client, third["refresh_token"]).get_json() == {
            "error": "invalid_grant",
            "error_description": "Session doesn't have required client",
        }

    def test_a_login_after_a_refused_reuse_revives_no_old_token(self, clocked_app, clock):
        """``RefreshTokenRevokeTest.refreshTokenReuseTokenWithRefreshTokensRevokedAndSSO
        Reauthentication``: after a refused reuse, the browser logs in again without a form;
        the old access token stays refused at introspection and userinfo, and the old grant's
        newest refresh token is older than the client's new place in the session: "refresh
        token issued before the client session started"."""
        client = clocked_app.test_client()
        flow = Flow(clocked_app, client, register_client(clocked_app))
        first = flow.full_login()
        second = _refresh(client, first["refresh_token"]).get_json()
        assert _refresh(client, first["refresh_token"]).status_code == 400
        clock.advance(2)
        again = flow.token(flow.code_from(flow.authorize(prompt="none"))["code"]).get_json()
        assert again["session_state"] == first["session_state"]
        assert _introspect_refresh(client, first["access_token"], hint=None) == {"active": False}
        userinfo = client.get(
            f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + first["access_token"]}
        )
        assert userinfo.status_code == 401
        assert _refresh(client, second["refresh_token"]).get_json() == {
            "error": "invalid_grant",
            "error_description": "refresh token issued before the client session started",
        }
        assert _refresh(client, again["refresh_token"]).status_code == 200

    def test_refresh_tokens_carry_the_reuse_id_of_their_chain(self, flow, client):
        """Keycloak's ``AccessTokenResponseBuilder.generateRefreshToken``, "Revoke Refresh Token"
        on: the refresh token of a code (or a CIBA grant) gets a new ``reuse_id``, never its
        ``jti``, and each refresh copies it (``RefreshTokenRevokeTest.
        refreshTokenReuseOnDifferentTab``): the chain whose uses are counted together."""
        first = flow.full_login()
        _, claims = _unverified(first["refresh_token"])
        assert list(claims)[-1] == "reuse_id"
        reuse_id = claims["reuse_id"]
        assert uuid.UUID(reuse_id).version == 4
        assert reuse_id not in {claims["jti"], claims["sid"]}
        second = _refresh(client, first["refresh_token"]).get_json()
        _, refreshed = _unverified(second["refresh_token"])
        assert refreshed["reuse_id"] == reuse_id and refreshed["jti"] != claims["jti"]
        other = flow.token(flow.obtain_code()["code"]).get_json()
        _, other_claims = _unverified(other["refresh_token"])
        assert other_claims["sid"] == claims["sid"]
        assert other_claims["reuse_id"] != reuse_id

    def test_a_refused_reuse_detaches_the_client_from_its_sso_session(self, flow, client, app):
        """Keycloak's ``TokenManager.validateTokenReuseForRefresh``: a refused reuse "Will
        detach client session from user session" — every grant of the client in that SSO
        session ends, the other clients' grants and the session itself stay (the browser
        still logs in without a form)."""
        first = flow.full_login()
        again = flow.token(flow.obtain_code()["code"]).get_json()
        other_meta = register_client(app, client_id="other", client_secret="x" * 32,
                                     redirect_uris=["https://other.example.org/cb"])  # fmt: skip
        other = Flow(app, client, other_meta)
        other_tokens = other.token(other.obtain_code()["code"]).get_json()
        assert _refresh(client, first["refresh_token"]).status_code == 200
        refused = _refresh(client, first["refresh_token"]).get_json()
        assert refused["error_description"] == "Maximum allowed refresh token reuse exceeded"
        assert _refresh(client, again["refresh_token"]).get_json() == {
            "error": "invalid_grant",
            "error_description": "Session doesn't have required client",
        }
        kept = client.post(
            f"{OIDC}/token",
            data={"grant_type": "refresh_token", "refresh_token": other_tokens["refresh_token"]},
            headers=basic_auth("other", "x" * 32),
        )
        assert kept.status_code == 200
        assert "/login-actions/" not in flow.authorize().headers["Location"]

    def test_introspection_with_the_refresh_hint_finds_a_used_token_inactive(self, flow, client):
        """Keycloak's ``RefreshTokenIntrospectionProvider.verifyTokenReuse`` (``token_type_hint``
        ``refresh_token``, "Revoke Refresh Token" on): a refresh token used as often as the max
        reuse allows is inactive (``TokenIntrospectionTest.testIntrospectRevokeRefreshToken``);
        the token it gave is active, and without the hint the access-token provider, which
        counts no use, finds the used one active too."""
        first = flow.full_login()
        second = _refresh(client, first["refresh_token"]).get_json()
        assert _introspect_refresh(client, first["refresh_token"]) == {"active": False}
        assert _introspect_refresh(client, second["refresh_token"])["active"] is True
        assert _introspect_refresh(client, first["refresh_token"], hint=None)["active"] is True


class TestStrictRefreshWithMaxReuse:
    """Keycloak's "Refresh Token Max Reuse" 1: a token serves twice; once a newer one is used,
    an older one is stale."""

    @pytest.fixture
    def settings(self, settings):
        return settings.replace(refresh_token_revoke=True, refresh_token_max_reuse=1)

    def test_a_token_serves_max_reuse_plus_one_times(self, flow, client):
        first = flow.full_login()
        second = _refresh(client, first["refresh_token"]).get_json()
        again = _refresh(client, first["refresh_token"]).get_json()
        assert "access_token" in again
        third = _refresh(client, first["refresh_token"]).get_json()
        assert third["error_description"] == "Maximum allowed refresh token reuse exceeded"
        assert _refresh(client, second["refresh_token"]).get_json()["error"] == "invalid_grant"

    def test_of_concurrent_uses_of_a_token_max_reuse_plus_one_succeed(self, any_store_app):
        """``RefreshTokenRevokeTest.refreshTokenRevokeAndReuseWithConcurrentRefreshTokenRequests``
        with max reuse 1: of five at once, two 200."""
        assert _concurrent_refreshes(any_store_app, 5) == [200] * 2 + [400] * 3

    def test_an_older_token_is_stale_once_a_newer_one_is_used(self, clocked_app, clock):
        from tests.support.oidc_flow import Flow

        client = clocked_app.test_client()
        flow = Flow(clocked_app, client, register_client(clocked_app))
        first = flow.full_login()
        second = _refresh(client, first["refresh_token"]).get_json()
        clock.advance(5)
        assert "access_token" in _refresh(client, second["refresh_token"]).get_json()
        stale = _refresh(client, first["refresh_token"]).get_json()
        assert stale == {"error": "invalid_grant", "error_description": "Stale token"}

    def test_introspection_with_the_refresh_hint_follows_the_reuse_of_the_token(
        self, clocked_app, clock
    ):
        """``TokenIntrospectionTest.testIntrospectRefreshTokenAfterRefreshTokenRequest``, max
        reuse 1 (``TokenManager.validateTokenReuse`` without counting a use): a token used once
        is active, used twice inactive, the token it gave active; once a newer token is used,
        an older one is stale, inactive."""
        client = clocked_app.test_client()
        flow = Flow(clocked_app, client, register_client(clocked_app))
        first = flow.full_login()["refresh_token"]
        clock.advance(1)
        second = _refresh(client, first).get_json()["refresh_token"]
        assert _introspect_refresh(client, first)["active"] is True
        third = _refresh(client, first).get_json()["refresh_token"]
        assert _introspect_refresh(client, first) == {"active": False}
        assert _introspect_refresh(client, third)["active"] is True
        clock.advance(1)
        assert "access_token" in _refresh(client, third).get_json()
        assert _introspect_refresh(client, second) == {"active": False}


def _concurrent_refreshes(app, count: int) -> list[int]:
    """The status codes, 200s first, of ``count`` refreshes raced with one refresh token."""
    meta = register_client(app)
    token = Flow(app, app.test_client(), meta).full_login()["refresh_token"]

    def refresh(_):
        return _refresh(app.test_client(), token)

    with ThreadPoolExecutor(count) as pool:
        responses = list(pool.map(refresh, range(count)))
    for response in responses:
        assert response.status_code == 200 or response.get_json()["error"] == "invalid_grant"
    return sorted(response.status_code for response in responses)


def _introspect_refresh(client, token: str, hint: str | None = "refresh_token") -> dict:
    form = {"token": token, **({"token_type_hint": hint} if hint else {})}
    headers = basic_auth("service-test", "s3cr3t-of-the-test-client-0123456789")
    return client.post(f"{OIDC}/token/introspect", data=form, headers=headers).get_json()


@pytest.mark.parametrize("ended_by", ["refresh_token_logout", "operator"])
def test_a_refresh_token_of_an_ended_session_stays_refused_after_a_new_login(
    flow, client, app, ended_by
):
    """``RefreshTokenTest.refreshTokenAfterUserLogoutAndLoginAgain`` and
    ``refreshTokenUserSessionRemoved``
    (https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/RefreshTokenTest.java):
    once its session ended — by a logout with the refresh token, or by the operator (Keycloak's
    admin "Sign out", ``santeid sessions logout``) — a refresh token is 400 ``invalid_grant``,
    with neither an access nor a refresh token, and stays so after the professional logs in
    again, whose new refresh token refreshes."""
    from santeid.oidc.session_end import end_session

    first = flow.full_login()
    if ended_by == "operator":
        end_session(app.extensions["santeid"], first["session_state"])
    else:
        ended = client.post(
            f"{OIDC}/logout",
            data={"refresh_token": first["refresh_token"]},
            headers=basic_auth("service-test", flow.client["client_secret"]),
        )
        assert ended.status_code == 204
    second = flow.full_login()
    assert second["session_state"] != first["session_state"]
    refused = _refresh(client, first["refresh_token"])
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_grant",
        "error_description": "Session not active",
    }
    assert _refresh(client, second["refresh_token"]).status_code == 200


def test_a_refresh_answers_as_keycloaks_refresh_token_test(flow, client, app):
    """``RefreshTokenTest`` (https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/RefreshTokenTest.java):
    ``refreshTokenStructure`` — a refresh token without ``realm_access`` or
    ``resource_access``, for its client (``azp``) and not to it (``aud`` the issuer);
    ``tokenRefreshWithAccessTokenShouldReturnIdTokenWithAccessTokenHash`` — the refreshed ID
    token's ``at_hash`` is the new access token's (OIDC Core §3.1.3.6);
    ``invalidRefreshToken`` and ``refreshTokenWithAccessToken`` — 400 ``invalid_grant``
    "Invalid refresh token"."""
    first = flow.full_login()
    _, claims = _unverified(first["refresh_token"])
    assert "realm_access" not in claims and "resource_access" not in claims
    assert claims["azp"] == "service-test" and claims["aud"] == ISSUER
    refreshed = _refresh(client, first["refresh_token"]).get_json()
    digest = hashlib.sha256(refreshed["access_token"].encode()).digest()[:16]
    at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert decode(app, refreshed["id_token"])[1]["at_hash"] == at_hash
    for not_a_refresh_token in ("invalid", first["access_token"], first["id_token"]):
        refused = _refresh(client, not_a_refresh_token)
        assert refused.status_code == 400
        assert refused.get_json() == {
            "error": "invalid_grant",
            "error_description": "Invalid refresh token",
        }


def test_a_later_login_without_openid_leaves_the_first_grants_scope(flow, client, app):
    """``RefreshTokenTest.refreshTokenRetainsOpenidScopeAfterClientSessionScopeNoteOverwritten``
    (file above): a second login of the same client in the same SSO session, without
    ``openid``, does not take ``openid`` from the first grant, whose refresh with a ``scope``
    that leaves ``openid`` out still gives an OpenID access token that userinfo answers."""
    first = flow.full_login(scope="openid scope_all")
    later = flow.token(flow.obtain_code(scope="scope_all")["code"]).get_json()
    assert later["scope"] == "scope_all" and "id_token" not in later
    refreshed = _refresh(client, first["refresh_token"], scope="scope_all")
    assert refreshed.status_code == 200, refreshed.get_json()
    body = refreshed.get_json()
    assert body["scope"] == "openid scope_all" and "id_token" in body
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    )
    assert userinfo.status_code == 200


def test_a_second_professional_after_the_idle_time_gets_a_session_of_their_own(clocked_app, clock):
    """``RefreshTokenTest.testDoNotResolveUserSessionIfAuthenticationSessionIsInvalidated``
    (file above): once the first professional's SSO session has passed its idle time, another
    professional logging in on the same browser gets a new session, and the token of their
    refresh names them and it."""
    http = clocked_app.test_client()
    flow = Flow(clocked_app, http, register_client(clocked_app))
    directory = clocked_app.extensions["santeid"].directory.list(sandbox_only=True)
    alice, bob = directory[0].national_id, directory[1].national_id
    first = decode(clocked_app, flow.full_login(alice)["access_token"])[1]
    clock.advance(clocked_app.extensions["santeid"].settings.login.sso_idle_timeout + 1)
    opened = flow.authorize()
    assert "/login-actions/" in opened.headers["Location"]
    code = flow.code_from(flow.login(opened, bob))["code"]
    refreshed = _refresh(http, flow.token(code).get_json()["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    second = decode(clocked_app, refreshed.get_json()["access_token"])[1]
    assert second["sid"] != first["sid"]
    assert (first["preferred_username"], second["preferred_username"]) == (alice, bob)


def test_refresh_keeps_only_granted_scopes_it_names(flow, client, app):
    """Keycloak (``DefaultRefreshTokenProvider.refreshAccessToken``): the new access token has
    the granted scopes that the ``scope`` parameter names; a scope asked for but not granted
    is ignored, not refused. The ID token follows the authorization's scope, and the new
    refresh token keeps the grant's scope, so a later refresh without ``scope`` has it all
    again (docs/reference/keycloak-behaviour.md, "Refresh tokens")."""
    first = flow.full_login(scope="openid scope_all")
    wider = _refresh(client, first["refresh_token"], scope="openid scope_all email")
    assert wider.status_code == 200, wider.get_json()
    assert wider.get_json()["scope"] == "openid scope_all"
    narrower = _refresh(client, first["refresh_token"], scope="openid email").get_json()
    assert narrower["scope"] == "openid"
    assert decode(app, narrower["access_token"])[1]["scope"] == "openid"
    assert "id_token" in narrower
    assert _unverified(narrower["refresh_token"])[1]["scope"] == "openid scope_all"
    again = _refresh(client, narrower["refresh_token"]).get_json()
    assert again["scope"] == "openid scope_all"


def test_refresh_keeps_openid_when_the_scope_parameter_leaves_it_out(flow, client, app):
    """A refresh whose ``scope`` parameter leaves ``openid`` out still gives an OpenID access
    token when the authorization asked for ``openid``: its ``scope`` (token and answer) keeps
    ``openid`` and userinfo answers it. Keycloak's ``RefreshTokenTest.
    refreshTokenRetainsOpenidScopeWhenOmittedInRefreshRequest``
    (https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/RefreshTokenTest.java:
    ``scope=openid profile`` at login, ``scope=profile`` at the refresh, ``openid profile`` and
    userinfo 200); every release to 26.6 answers so
    (https://github.com/keycloak/keycloak/issues/52574)."""
    first = flow.full_login(scope="openid scope_all")
    response = _refresh(client, first["refresh_token"], scope="scope_all")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "openid scope_all"
    assert decode(app, body["access_token"])[1]["scope"] == "openid scope_all"
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    )
    assert userinfo.status_code == 200
    # Without openid at the authorization, a refresh adds none.
    plain = flow.token(flow.obtain_code(scope="scope_all")["code"]).get_json()
    body = _refresh(client, plain["refresh_token"], scope="scope_all").get_json()
    assert body["scope"] == "scope_all" and "id_token" not in body


def test_without_a_scope_parameter_no_id_token_even_after_a_refresh(flow, client, app):
    """``ScopeParameterTest.testMissingScopeOpenid``
    (https://github.com/keycloak/keycloak/blob/b9f7a43a72b1c81bac5a2c64539bc51082b2f6ff/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oidc/ScopeParameterTest.java):
    an authorization without ``scope`` is a plain OAuth 2.0 one — a code, access and refresh
    tokens for the professional, no ID token, none after a refresh either."""
    national_id = sandbox_professional(app)
    body = flow.token(flow.obtain_code(national_id, scope=None)["code"]).get_json()
    assert "id_token" not in body and body["refresh_token"]
    assert decode(app, body["access_token"])[1]["preferred_username"] == national_id
    refreshed = _refresh(client, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    assert "id_token" not in refreshed.get_json()


def test_refresh_with_an_unknown_scope_is_keycloaks_invalid_scopes(flow, client):
    """``OAuth2GrantTypeBase.getRequestedScopes``: checked before the refresh token, with the
    raw parameter in the description."""
    first = flow.full_login(scope="openid scope_all")
    for token in (first["refresh_token"], "not-a-refresh-token"):
        response = _refresh(client, token, scope="openid foo")
        assert response.status_code == 400
        assert response.get_json() == {
            "error": "invalid_scope",
            "error_description": "Invalid scopes: openid foo",
        }
    # The values are separated by the space alone (docs/reference/keycloak-behaviour.md,
    # "Scope values"): a no-break space joins two scopes into one unknown.
    joined = _refresh(client, first["refresh_token"], scope="openid\u00a0scope_all")
    assert joined.get_json() == {
        "error": "invalid_scope",
        "error_description": "Invalid scopes: openid%C2%A0scope_all",
    }


def test_refresh_without_a_refresh_token_is_keycloaks_no_refresh_token(flow, client):
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "scope": "openid foo"},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "No refresh token",
    }


def test_strict_scope_policy_refuses_a_wider_refresh(settings):
    """RFC 6749 §6: the requested scope MUST NOT include a scope not originally granted."""
    from santeid import create_app
    from santeid.storage import MemoryStore

    app = create_app(settings.replace(scope_policy="strict"), store=MemoryStore())
    client = app.test_client()
    first = Flow(app, client, register_client(app)).full_login(scope="openid")
    response = _refresh(client, first["refresh_token"], scope="openid scope_all")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


ANOTHER_CLIENTS_REFRESH_TOKEN = (
    "Invalid refresh token. Token client and authorized client don't match"  # noqa: S105
)


def test_refresh_token_of_another_client_is_refused(flow, client, app):
    """``TokenManager.verifyRefreshToken``: after the token's signature and expiry, before its
    session, with Keycloak's text."""
    other = register_client(app, client_id="other", client_secret="another-secret-0123456789")
    first = flow.full_login()
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic_auth(other["client_id"], other["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": ANOTHER_CLIENTS_REFRESH_TOKEN,
    }
    # Checked before the session: a logged-out session's token says the same to another client.
    logout = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": first["refresh_token"]},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert logout.status_code == 204
    after_logout = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=basic_auth(other["client_id"], other["client_secret"]),
    )
    assert after_logout.get_json()["error_description"] == ANOTHER_CLIENTS_REFRESH_TOKEN


def test_unsupported_grant_type(flow, client):
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert response.status_code == 400
    # Keycloak's text: every error carries an error_description.
    assert response.get_json() == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant_type",
    }


def test_the_password_grant_is_refused_once_the_client_is_authenticated(flow, client):
    """docs/reference/keycloak-behaviour.md, "Grants PSC's clients cannot use"."""
    form = {"grant_type": "password", "username": "x", "password": "y"}
    response = client.post(
        f"{OIDC}/token", data=form, headers=basic_auth("service-test", flow.client["client_secret"])
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }
    unauthenticated = client.post(
        f"{OIDC}/token", data=form, headers=basic_auth("service-test", "not-its-secret")
    )
    assert unauthenticated.status_code == 401
    repeated = client.post(
        f"{OIDC}/token",
        data="grant_type=password&username=x&password=y&username=z",
        content_type="application/x-www-form-urlencoded",
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert repeated.get_json()["error_description"] == "duplicated parameter"


def test_the_password_grant_refusals_a_client_sees_as_keycloaks_test_asserts(app, client):
    """``ResourceOwnerPasswordCredentialsGrantTest``
    (https://github.com/keycloak/keycloak/blob/de8d3c200db60d909608c41aeb52593fd7968330/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/ResourceOwnerPasswordCredentialsGrantTest.java):
    a client without direct access grants, public ones too, 400 ``unauthorized_client``
    (``grantAccessTokenClientNotAllowed``); a confidential client naming itself without its
    secret, 401 ``unauthorized_client`` before the grant is looked at
    (``grantAccessTokenMissingClientCredentials``)."""
    register_client(app)
    public = {"client_id": "spa", "redirect_uris": [REDIRECT_URI],
              "token_endpoint_auth_method": "none",
              "grant_types": ["authorization_code", "refresh_token"]}  # fmt: skip
    app.extensions["santeid"].clients.add(public, replace=True)
    form = {"grant_type": "password", "username": "x", "password": "y"}
    refused = client.post(f"{OIDC}/token", data={**form, "client_id": "spa"})
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }
    no_secret = client.post(f"{OIDC}/token", data={**form, "client_id": "service-test"})
    assert no_secret.status_code == 401
    assert no_secret.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


@pytest.mark.parametrize(
    "username", ["a" * 1000, "   ", "", "  validuser  ", "validuser", "valid\x00user"]
)
def test_the_password_grant_is_refused_before_its_username_is_read(flow, client, username):
    """``DirectGrantInputValidationTest``
    (https://github.com/keycloak/keycloak/blob/c4e55647b6ad92cb3380136f6f605ec71c0bfa05/tests/base/src/test/java/org/keycloak/tests/oauth/DirectGrantInputValidationTest.java):
    a username over Keycloak's length limit is ``invalid_grant``, a blank one 401
    "Missing parameter: username" — for a client with direct access grants, checked by the
    direct-grant flow after ``ResourceOwnerPasswordCredentialsGrantType.process`` refused a
    client without them. No PSC client has them: every username, the test's and a control
    character's, gets that first refusal."""
    form = {"grant_type": "password", "username": username, "password": "pw-Kq7vT2"}
    headers = basic_auth("service-test", flow.client["client_secret"])
    response = client.post(f"{OIDC}/token", data=form, headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }


def test_get_on_token_endpoint_is_405_json(client):
    response = client.get(f"{OIDC}/token")
    assert response.status_code == 405
    assert json.loads(response.data)["error"] == "invalid_request"


@pytest.mark.parametrize("with_iat", [True, False])
def test_a_jti_is_remembered_until_its_assertion_is_no_longer_usable(settings, with_iat):
    """The ``jti`` record lives until the assertion's ``exp`` plus the clock skew, counted from a
    clock that is not on a whole second, through that instant's whole second
    (``santeid.storage.keys.lifetime_through``), so that the assertion cannot be replayed in the
    last fraction of a second it is usable: with an ``iat``, until its ``exp``; without one,
    until its ``exp`` plus the skew (docs/reference/keycloak-behaviour.md, "Client
    authentication")."""
    from santeid import create_app
    from santeid.clock import ManualClock
    from santeid.oidc.client_auth import ASSERTION_CLOCK_SKEW
    from santeid.storage import MemoryStore
    from santeid.storage import keys as store_keys

    issued = int(time.time())
    clock = ManualClock(start=issued + 0.7)
    app = create_app(settings, store=MemoryStore(clock=clock), clock=clock)
    key = ECKey.generate_key("P-256", private=True)
    register_client(app, client_id="pkjwt-service", client_secret=None,
                    token_endpoint_auth_method="private_key_jwt",
                    grant_types=["client_credentials"],
                    jwks={"keys": [{**key.as_dict(private=False), "kid": "k1"}]})  # fmt: skip
    jti = uuid.uuid4().hex
    claims = {"iss": "pkjwt-service", "sub": "pkjwt-service", "iat": issued, "exp": issued + 60,
              "jti": jti, "aud": f"{ISSUER}/protocol/openid-connect/token"}  # fmt: skip
    if not with_iat:
        del claims["iat"]
    assertion = jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key)
    assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": assertion_type}  # fmt: skip
    http = app.test_client()
    assert http.post(f"{OIDC}/token", data=form).status_code == 200
    record = store_keys.CLIENT_ASSERTION_JTI.key("pkjwt-service", store_keys.digest(jti))
    # Remembered through exp + the skew (issued + 75), 74.3 s from now: 76 s, to issued + 76.7.
    assert app.extensions["santeid"].store.ttl(record) == 60 + ASSERTION_CLOCK_SKEW + 1
    # The last usable tenth, still remembered: with an iat issued + 59.9, without issued + 74.9.
    clock.advance(59.2 if with_iat else 74.2)
    replay = http.post(f"{OIDC}/token", data=form)
    assert replay.status_code == 400
    assert replay.get_json()["error_description"] == "Token reuse detected"


def test_the_device_flow_is_refused_once_the_client_is_authenticated(flow, client):
    """docs/reference/keycloak-behaviour.md, "Grants PSC's clients cannot use": one refusal at
    each endpoint, in Keycloak's two wordings."""
    auth = basic_auth("service-test", flow.client["client_secret"])
    device = client.post(f"{OIDC}/auth/device", data={"scope": "openid"}, headers=auth)
    assert device.status_code == 400
    assert device.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Client is not allowed to initiate OAuth 2.0 Device Authorization "
        "Grant. The flow is disabled for the client.",
    }
    wrong = basic_auth("service-test", "not-its-secret")
    unauthenticated = client.post(f"{OIDC}/auth/device", data={}, headers=wrong)
    assert unauthenticated.status_code == 401
    assert unauthenticated.get_json()["error"] == "unauthorized_client"
    grant = client.post(
        f"{OIDC}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
        headers=auth,
    )
    assert grant.status_code == 400
    assert grant.get_json() == {
        "error": "invalid_grant",
        "error_description": "Client not allowed OAuth 2.0 Device Authorization Grant",
    }


def test_the_device_endpoint_refuses_an_unknown_client_and_ignores_a_repeated_parameter(
    flow, client
):
    """``OAuth2DeviceAuthorizationGrantTest.testNotFoundClient``: an unknown client is 401
    ``invalid_client`` "Invalid client or Invalid client credentials"; ``testClientWithErrors``:
    a client without the device grant is refused for it. ``DeviceEndpoint.handleDeviceRequest``
    checks the client's grant (``checkClient``) before it parses the request, so a repeated
    parameter (``testDuplicatedRequestParams``' "duplicated parameter", for a client with the
    grant) does not change that refusal
    (https://github.com/keycloak/keycloak/blob/65067ce02dc5aec032d3c0678ca83d886dbf5643/services/src/main/java/org/keycloak/protocol/oidc/grants/device/endpoints/DeviceEndpoint.java)."""
    unknown = client.post(f"{OIDC}/auth/device", data={"client_id": "test-device-public2"})
    assert (unknown.status_code, unknown.get_json()) == (401, {
        "error": "invalid_client",
        "error_description": "Invalid client or Invalid client credentials",
    })  # fmt: skip
    auth = basic_auth("service-test", flow.client["client_secret"])
    repeated = client.post(
        f"{OIDC}/auth/device",
        data="scope=profile&scope=foo",
        content_type="application/x-www-form-urlencoded",
        headers=auth,
    )
    assert repeated.status_code == 400
    assert repeated.get_json()["error"] == "unauthorized_client"
    assert repeated.get_json()["error_description"].startswith("Client is not allowed to")


def test_uma_is_refused_as_keycloak_refuses_a_client_without_authorization_services(flow, client):
    """docs/reference/keycloak-behaviour.md, "Grants PSC's clients cannot use": the Bearer
    token stands for the client, then the audience is looked up."""
    tokens = flow.full_login()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    uma = "urn:ietf:params:oauth:grant-type:uma-ticket"

    def refusal(data, headers):
        response = client.post(
            f"{OIDC}/token",
            data=data,
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
        return response.status_code, response.get_json()

    # "permission" may be repeated: no duplicated-parameter check for this grant.
    form = f"grant_type={uma}&permission=a&permission=b&audience=service-test"
    assert refusal(form, bearer) == (
        400,
        {"error": "invalid_request", "error_description": "Client does not support permissions"},
    )
    assert refusal(f"grant_type={uma}&audience=nobody", bearer)[1]["error_description"] == (
        "Unknown resource server id."
    )
    assert refusal(f"grant_type={uma}", bearer)[1]["error_description"] == (
        "You must provide the issuedFor"
    )
    forged = {"Authorization": f"Bearer {tokens['access_token'][:-4]}AAAA"}
    assert refusal(form, forged) == (
        401,
        {"error": "invalid_grant", "error_description": "Invalid bearer token"},
    )
    # Without a Bearer token, the client authenticates as at the token endpoint.
    assert refusal(form, basic_auth("service-test", "not-its-secret"))[0] == 401
    secret = basic_auth("service-test", flow.client["client_secret"])
    assert refusal(form, secret)[1]["error_description"] == "Client does not support permissions"


def test_offline_access_is_an_ordinary_scope(app, client, flow):
    """santeid keeps no offline sessions (docs/reference/keycloak-behaviour.md, "Refresh
    tokens"): ``offline_access`` is granted as a scope, and its refresh token is the
    session's, ``typ`` ``Refresh`` with an ``exp``, ended by the logout."""
    code = flow.obtain_code(scope="openid offline_access")["code"]
    answer = flow.token(code)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["scope"] == "openid offline_access"
    refresh = body["refresh_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(refresh + "=" * (-len(refresh) % 4)))
    assert claims["typ"] == "Refresh" and claims["exp"] > claims["iat"]
    assert body["refresh_expires_in"] > 0
    auth = basic_auth(flow.client["client_id"], flow.client["client_secret"])
    assert client.post(f"{OIDC}/logout", data={"refresh_token": body["refresh_token"]},
                       headers=auth).status_code == 204  # fmt: skip
    again = client.post(f"{OIDC}/token", headers=auth, data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})  # fmt: skip
    assert again.status_code == 400
    assert again.get_json() == {"error": "invalid_grant", "error_description": "Session not active"}


def test_a_logout_with_the_offline_access_token_asks_for_a_new_login(client, flow):
    """``OfflineTokenTest.browserOfflineTokenLogoutFollowedByLoginSameSession``: the logout
    with the refresh token of an ``offline_access`` login ends it; the browser then logs in
    again, into another session."""
    first = flow.full_login(scope="openid offline_access")
    auth = basic_auth(flow.client["client_id"], flow.client["client_secret"])
    logout = client.post(f"{OIDC}/logout", data={"refresh_token": first["refresh_token"]},
                         headers=auth)  # fmt: skip
    assert logout.status_code == 204
    assert "/login-actions/" in flow.authorize().headers["Location"]
    second = flow.full_login(scope="openid offline_access")
    assert second["session_state"] != first["session_state"]


def test_offline_access_is_refused_to_a_client_without_it(app, client):
    """Keycloak's ``OfflineTokenTest.offlineTokenDisabledForClient``: a client without the
    scope is refused at the authorization endpoint, ``invalid_scope`` "Invalid scopes: …";
    ``client_credentials`` with it makes no refresh token (``refresh_expires_in`` 0)."""
    narrow = Flow(app, client, register_client(app, client_id="narrow", scope="openid scope_all"))
    refused = narrow.authorize(scope="openid offline_access")
    assert refused.status_code == 302
    expected = "error=invalid_scope&error_description=Invalid+scopes%3A+openid+offline_access"
    assert expected in refused.headers["Location"]
    meta = register_client(app, client_id="cc", grant_types=["client_credentials"])
    form = {"grant_type": "client_credentials", "scope": "offline_access"}
    auth = basic_auth("cc", meta["client_secret"])
    answer = client.post(f"{OIDC}/token", headers=auth, data=form)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert "refresh_token" not in body and body["refresh_expires_in"] == 0
    assert body["scope"] == "offline_access"


def test_a_refresh_token_of_another_issuer_is_keycloaks_invalid_token_issuer(settings):
    """``TokenManager.verifyRefreshToken`` checks the token's ``iss`` against the realm's
    (``TokenVerifier.RealmUrlCheck``) after its type and before its expiry and client: a refresh
    token issued before the issuer changed (a new base URL, same keys) is ``invalid_grant``
    "Invalid token issuer. Expected '<issuer>', but was '<its iss>'"
    (``RefreshTokenTest.refreshTokenWithDifferentIssuer``); an access token of that issuer is
    still "Invalid refresh token" (its type is checked first)."""
    moved = MovedIssuer(settings)

    def refresh(token: str):
        return moved.post("token", {"grant_type": "refresh_token", "refresh_token": token})

    response = refresh(moved.tokens["refresh_token"])
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": f"Invalid token issuer. Expected '{moved.issuer}', but was '{ISSUER}'",
    }
    assert "no-store" in response.headers["Cache-Control"]
    assert refresh(moved.tokens["access_token"]).get_json() == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token",
    }

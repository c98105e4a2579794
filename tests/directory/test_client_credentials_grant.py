"""RFC 6749 §4.4 client credentials: service tokens for the FHIR directory API."""

from __future__ import annotations

from santeid.oidc.clients import ClientRegistry
from santeid.oidc.tokens import at_hash
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import userinfo_refusal

SECRET = "service-secret-0123456789abcdef"


def register_service(app, **overrides):
    return register_client(
        app,
        client_id="annuaire-checker",
        client_secret=SECRET,
        grant_types=["client_credentials"],
        redirect_uris=[],
        post_logout_redirect_uris=[],
        **overrides,
    )


def token_request(client, data=None, client_id="annuaire-checker", secret=SECRET):
    return client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials", **(data or {})},
        headers=basic_auth(client_id, secret),
    )


def test_a_service_gets_an_access_token_without_refresh_or_id_token(app, client):
    register_service(app)
    response = token_request(client, {"scope": "rpps"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "not-before-policy",
        "scope",
    }
    assert body["token_type"] == "Bearer" and body["scope"] == "rpps"
    header, claims = decode(app, body["access_token"])
    assert claims["azp"] == claims["clientId"] == "annuaire-checker"
    assert claims["preferred_username"] == "service-account-annuaire-checker"
    assert claims["typ"] == "Bearer" and "aud" not in claims
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    with app.app_context():
        verified = app.extensions["santeid"].tokens.verify_access_token(body["access_token"])
    assert verified["jti"] == claims["jti"]


def test_openid_in_the_scope_gives_an_id_token_for_the_service_account(app, client):
    """Keycloak adds an ID token for the client's service account when ``scope`` holds
    ``openid`` (docs/reference/keycloak-behaviour.md, "Token endpoint"): the subject and
    ``preferred_username`` of the access token, its ``exp``, ``aud`` the client, ``at_hash``;
    no refresh token, no session (no ``sid``, no ``session_state``), no nonce."""
    register_service(app)
    response = token_request(client, {"scope": "openid rpps"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "id_token",
        "not-before-policy",
        "scope",
    ]
    assert body["scope"] == "openid rpps" and body["refresh_expires_in"] == 0
    header, id_claims = decode(app, body["id_token"])
    _, access_claims = decode(app, body["access_token"])
    assert header["alg"] == "RS256"
    assert list(id_claims) == [
        "exp",
        "iat",
        "jti",
        "iss",
        "aud",
        "sub",
        "typ",
        "azp",
        "at_hash",
        "preferred_username",
        "clientId",
    ]
    assert id_claims["typ"] == "ID" and id_claims["aud"] == id_claims["azp"] == "annuaire-checker"
    for claim in ("exp", "iat", "iss", "sub", "preferred_username", "clientId"):
        assert id_claims[claim] == access_claims[claim], claim
    assert id_claims["sub"] == "service-account-annuaire-checker"
    assert id_claims["jti"] != access_claims["jti"]
    assert id_claims["at_hash"] == at_hash(body["access_token"])


def test_the_service_id_token_follows_id_token_signed_response_alg(app, client):
    app.extensions["santeid"].keys.generate("PS256")
    register_service(app, id_token_signed_response_alg="PS256")
    body = token_request(client, {"scope": "openid"}).get_json()
    assert decode(app, body["id_token"])[0]["alg"] == "PS256"
    assert decode(app, body["access_token"])[0]["alg"] == "RS256"


def test_a_missing_id_token_key_fails_only_the_openid_request(app, client):
    """A client registered for ES256 ID tokens before its key went away (docs/keys.md): its
    ``openid`` request is the token endpoint's clear 500 ``server_error``, as for the other
    grants; without ``openid`` no ID token is signed and the request succeeds."""
    services = app.extensions["santeid"]
    ClientRegistry(services.clients.db).add(
        {
            "client_id": "annuaire-checker",
            "client_secret": SECRET,
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "id_token_signed_response_alg": "ES256",
        },
        replace=True,
    )
    refused = token_request(client, {"scope": "openid"})
    assert refused.status_code == 500
    assert refused.get_json()["error"] == "server_error"
    assert "id_token_signed_response_alg" in refused.get_json()["error_description"]
    assert token_request(client, {"scope": "rpps"}).status_code == 200
    services.keys.generate("ES256")
    accepted = token_request(client, {"scope": "openid"})
    assert accepted.status_code == 200, accepted.get_json()
    assert decode(app, accepted.get_json()["id_token"])[0]["alg"] == "ES256"


def test_without_openid_no_id_token(app, client):
    register_service(app)
    body = token_request(client, {"scope": "rpps"}).get_json()
    assert "id_token" not in body and "refresh_token" not in body


def test_client_secret_post_works_too(app, client):
    register_service(app, token_endpoint_auth_method="client_secret_post")
    response = client.post(
        f"{OIDC}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "annuaire-checker",
            "client_secret": SECRET,
        },
    )
    assert response.status_code == 200, response.get_json()


def test_only_clients_registered_for_the_grant_may_use_it(app, client, flow):
    """Keycloak's ``ClientCredentialsGrantType``: a client without a service account, 401
    ``unauthorized_client`` "Client not enabled to retrieve service account"."""
    # The code-flow client of the suite has no client_credentials grant.
    response = token_request(
        client, client_id=flow.client["client_id"], secret=flow.client["client_secret"]
    )
    assert response.status_code == 401
    assert response.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Client not enabled to retrieve service account",
    }


def test_a_client_without_the_grant_under_the_strict_error_style(settings):
    """``error_style = "strict"``: RFC 6749 §5.2's 400 ``unauthorized_client``."""
    from santeid import create_app
    from santeid.storage import MemoryStore

    app = create_app(settings.replace(error_style="strict"), store=MemoryStore())
    meta = register_client(app)
    response = token_request(
        app.test_client(), client_id=meta["client_id"], secret=meta["client_secret"]
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_bad_secret_and_bad_scope_are_refused(app, client):
    register_service(app, scope="rpps referentiel")
    assert token_request(client, secret="wrong-secret-000000000").status_code == 401
    unknown = token_request(client, {"scope": "admin"})
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_scope"
    not_allowed = token_request(client, {"scope": "scope_all"})
    assert not_allowed.get_json()["error"] == "invalid_scope"
    assert token_request(client, {"scope": "referentiel"}).status_code == 200


def test_a_scope_outside_the_error_description_charset_is_invalid_scope(app, client):
    # RFC 6749 §5.2: error_description holds %x20-21 / %x23-5B / %x5D-7E only.
    register_service(app)
    response = token_request(client, {"scope": 'rpps café "x"'})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_scope",
        "error_description": "Invalid scopes: rpps caf%C3%A9 %22x%22",
    }


def test_a_service_token_opens_no_userinfo_but_introspects(app, client):
    register_service(app)
    token = token_request(client).get_json()["access_token"]
    userinfo = client.get(f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {token}"})
    # No openid in a service token: Keycloak's userinfo answers 403 insufficient_scope.
    assert userinfo_refusal(userinfo) == keycloak_refusal(
        403, "insufficient_scope", "Missing openid scope"
    )
    introspection = client.post(
        f"{OIDC}/token/introspect",
        data={"token": token},
        headers=basic_auth("annuaire-checker", SECRET),
    )
    assert introspection.get_json()["active"] is True
    assert introspection.get_json()["client_id"] == "annuaire-checker"
    revoked = client.post(
        f"{OIDC}/revoke", data={"token": token}, headers=basic_auth("annuaire-checker", SECRET)
    )
    assert revoked.status_code == 200
    with app.app_context():
        import pytest

        from santeid.oidc.tokens import TokenError

        with pytest.raises(TokenError):
            app.extensions["santeid"].tokens.verify_access_token(token)


def test_discovery_and_client_metadata_know_the_grant(app, client):
    document = client.get("/auth/realms/esante-wallet/.well-known/openid-configuration").get_json()
    assert "client_credentials" in document["grant_types_supported"]
    meta = register_service(app)
    stored = app.extensions["santeid"].clients.get(meta["client_id"])
    assert stored.metadata["response_types"] == []

"""A client's ``id_token_signed_response_alg`` / ``userinfo_signed_response_alg`` and the key
store: discovery advertises only the algorithms with an active key, registration refuses the
others, and the token and userinfo endpoints answer a clear error, having consumed nothing,
when a client registered before its key went away (docs/keys.md, "Algorithms")."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.oidc.clients import ClientRegistry
from santeid.oidc.clients import InvalidClientMetadata
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client

WELL_KNOWN = "/auth/realms/esante-wallet/.well-known/openid-configuration"


def _bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def _register_unchecked(app, **overrides) -> dict:
    """A client registered without looking at the keys: by a santeid before this check, or
    before the keys directory was replaced by one without its algorithm's key."""
    services = app.extensions["santeid"]
    meta = {
        "client_id": "service-test",
        "client_secret": "s3cr3t-of-the-test-client-0123456789",
        "redirect_uris": ["https://service.example.org/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        **overrides,
    }
    ClientRegistry(services.clients.db).add(meta, replace=True)
    return meta


def test_discovery_advertises_only_algorithms_with_an_active_key(app, client):
    document = client.get(WELL_KNOWN).get_json()
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["userinfo_signing_alg_values_supported"] == ["RS256"]
    assert document["authorization_signing_alg_values_supported"] == ["RS256"]
    # Algorithms of what clients sign (request objects, assertions) do not depend on our keys.
    assert document["request_object_signing_alg_values_supported"] == [
        "RS256",
        "ES256",
        "PS256",
        "none",
    ]
    # Those of private_key_jwt, then client_secret_jwt's HMAC, as Keycloak's list holds both:
    # PSC's thirteen but EdDSA.
    assert document["token_endpoint_auth_signing_alg_values_supported"] == [
        "RS256",
        "ES256",
        "PS256",
        "RS384",
        "ES384",
        "PS384",
        "RS512",
        "ES512",
        "PS512",
        "HS256",
        "HS384",
        "HS512",
    ]
    app.extensions["santeid"].keys.generate("PS256")
    document = client.get(WELL_KNOWN).get_json()
    assert document["id_token_signing_alg_values_supported"] == ["RS256", "PS256"]
    assert document["userinfo_signing_alg_values_supported"] == ["RS256", "PS256"]
    assert document["authorization_signing_alg_values_supported"] == ["RS256", "PS256"]


@pytest.mark.parametrize(
    "field",
    [
        "id_token_signed_response_alg",
        "userinfo_signed_response_alg",
        "authorization_signed_response_alg",
    ],
)
def test_registration_refuses_an_algorithm_without_an_active_key(app, field):
    with pytest.raises(InvalidClientMetadata) as refused:
        register_client(app, **{field: "PS256"})
    assert refused.value.error == "invalid_client_metadata"
    assert field in refused.value.description
    assert "santeid keys generate --alg PS256" in refused.value.description
    assert app.extensions["santeid"].clients.get("service-test") is None


def test_clients_add_refuses_an_algorithm_without_an_active_key(settings, tmp_path):
    client_file = tmp_path / "client.json"
    client_file.write_text(
        json.dumps(
            {
                "client_id": "rp-es",
                "client_secret": "a-secret-of-at-least-16-characters",
                "redirect_uris": ["https://rp.example/cb"],
                "id_token_signed_response_alg": "ES256",
            }
        )
    )
    env = {
        "SANTEID_DATA_DIR": settings.data_dir,
        "SANTEID_KEYS_DIR": settings.keys_dir,
        "SANTEID_CONFIG": "",
    }
    runner = CliRunner()
    refused = runner.invoke(main, ["clients", "add", str(client_file)], env=env)
    assert refused.exit_code == 1
    assert "invalid_client_metadata" in refused.output
    assert "santeid keys generate --alg ES256" in refused.output
    generated = runner.invoke(main, ["keys", "generate", "--alg", "ES256"], env=env)
    assert generated.exit_code == 0, generated.output
    added = runner.invoke(main, ["clients", "add", str(client_file)], env=env)
    assert added.exit_code == 0, added.output


def test_id_token_in_the_registered_algorithm_once_its_key_exists(app, client):
    app.extensions["santeid"].keys.generate("PS256")
    meta = register_client(
        app, id_token_signed_response_alg="PS256", userinfo_signed_response_alg="PS256"
    )
    tokens = Flow(app, client, meta).full_login()
    header, claims = decode(app, tokens["id_token"])
    assert header["alg"] == "PS256"
    assert claims["aud"] == meta["client_id"]
    assert decode(app, tokens["access_token"])[0]["alg"] == "RS256"
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200 and response.mimetype == "application/jwt"
    assert decode(app, response.get_data(as_text=True))[0]["alg"] == "PS256"


def test_token_endpoint_keeps_the_code_when_the_id_token_key_is_missing(app, client):
    meta = _register_unchecked(app, id_token_signed_response_alg="PS256")
    flow = Flow(app, client, meta)
    code = flow.obtain_code()["code"]
    refused = flow.token(code)
    assert refused.status_code == 500
    assert refused.headers["Cache-Control"] == "no-store"
    body = refused.get_json()
    assert body["error"] == "server_error"
    assert "PS256" in body["error_description"]
    assert "id_token_signed_response_alg" in body["error_description"]
    # Nothing was spent: once the operator made the key, the same code gives the tokens.
    app.extensions["santeid"].keys.generate("PS256")
    accepted = flow.token(code)
    assert accepted.status_code == 200, accepted.get_json()
    assert decode(app, accepted.get_json()["id_token"])[0]["alg"] == "PS256"


def test_refresh_is_refused_without_spending_the_refresh_token(app, client):
    services = app.extensions["santeid"]
    services.settings.oidc.refresh_token_revoke = True  # a use would be counted
    meta = _register_unchecked(app)
    tokens = Flow(app, client, meta).full_login()
    _register_unchecked(app, id_token_signed_response_alg="ES256")

    def refresh():
        return client.post(
            f"{OIDC}/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic_auth(meta["client_id"], meta["client_secret"]),
        )

    refused = refresh()
    assert refused.status_code == 500
    assert refused.get_json()["error"] == "server_error"
    services.keys.generate("ES256")
    assert refresh().status_code == 200


def test_userinfo_answers_a_clear_error_when_its_key_is_missing(app, client):
    meta = _register_unchecked(app, userinfo_signed_response_alg="ES256")
    tokens = Flow(app, client, meta).full_login()
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 500
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == "server_error"
    assert "ES256" in body["error_description"]
    assert "userinfo_signed_response_alg" in body["error_description"]
    app.extensions["santeid"].keys.generate("ES256")
    signed = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert signed.status_code == 200 and signed.mimetype == "application/jwt"


def test_a_jwt_response_mode_answers_a_clear_error_when_its_key_is_missing(app, client):
    """A JARM request (tests/oidc/test_jarm.py) of a client whose
    ``authorization_signed_response_alg`` lost its key is refused before any login starts;
    once the key exists the same request is answered."""
    meta = _register_unchecked(app, authorization_signed_response_alg="ES256")
    flow = Flow(app, client, meta)
    response = flow.authorize(response_mode="query.jwt")
    assert response.status_code == 500
    assert "ES256" in response.get_data(as_text=True)
    assert "authorization_signed_response_alg" in response.get_data(as_text=True)
    app.extensions["santeid"].keys.generate("ES256")
    answered = flow.authorize(response_mode="query.jwt")
    assert answered.status_code == 302 and "/login-actions/" in answered.headers["Location"]

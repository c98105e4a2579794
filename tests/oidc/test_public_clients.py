"""Public clients (``token_endpoint_auth_method`` ``none``; Keycloak's client with "Client
authentication" off), as keycloak-js needs one (docs/endpoints.md, "Public clients";
tests/e2e/test_keycloak_js.py drives the real adapter): named by ``client_id`` alone at the
token endpoint, refused at introspection as Keycloak refuses them, and registered without a
secret, without ``client_credentials`` or CIBA, with PKCE required unless they say otherwise."""

from __future__ import annotations

import pytest

from santeid.oidc import clients as clients_module
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import validate_metadata
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import pkce_pair
from tests.support.oidc_flow import sandbox_professional

PUBLIC = {
    "client_id": "application-monopage",
    "redirect_uris": [REDIRECT_URI],
    "token_endpoint_auth_method": "none",
}


def _public(app) -> dict:
    metadata = {**PUBLIC, "grant_types": ["authorization_code", "refresh_token"]}
    app.extensions["santeid"].clients.add(metadata, replace=True)
    return metadata


def _code(app, client, **params) -> tuple[dict, str]:
    verifier, challenge = pkce_pair()
    flow = Flow(app, client, _public(app))
    answer = flow.obtain_code(code_challenge=challenge, code_challenge_method="S256", **params)
    return answer, verifier


def _exchange(client, code: str, verifier: str, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": PUBLIC["client_id"], "code_verifier": verifier, **extra}  # fmt: skip
    return client.post(f"{OIDC}/token", data=data)


def test_code_and_refresh_with_the_client_id_alone(app, client):
    answer, verifier = _code(app, client)
    tokens = _exchange(client, answer["code"], verifier)
    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert {"access_token", "id_token", "refresh_token"} <= body.keys()
    refreshed = client.post(f"{OIDC}/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": PUBLIC["client_id"]})  # fmt: skip
    assert refreshed.status_code == 200, refreshed.get_json()
    # The client id in a Basic header without a secret names it too, as Keycloak reads it.
    again = client.post(f"{OIDC}/token", headers=basic_auth(PUBLIC["client_id"], ""), data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})  # fmt: skip
    assert again.status_code == 200, again.get_json()


def test_pkce_is_required_by_default(app, client):
    flow = Flow(app, client, _public(app))
    refused = flow.authorize()
    assert refused.status_code == 302
    assert "error=invalid_request" in refused.headers["Location"]
    assert "code_challenge" in refused.headers["Location"]


def test_a_confidential_client_still_needs_its_secret(app, client, flow):
    """The ``none`` method authenticates public clients only: a client holding a secret that
    sends its client id alone is refused as before."""
    code = flow.obtain_code()["code"]
    refused = client.post(f"{OIDC}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": flow.client["client_id"]})  # fmt: skip
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "unauthorized_client"
    assert flow.token(code).status_code == 200  # the code was not spent


def test_a_client_is_looked_up_once_per_request(app, client, flow, monkeypatch):
    """Trying the public-client method before the secret methods costs no second lookup of
    the client (a database round trip with several hosts): each client id a request names
    is read once, whichever methods are tried."""
    code = flow.obtain_code()["code"]
    looked_up: list[str] = []

    class Counted(clients_module.Client):
        def __init__(self, client_id, *args, **kwargs):
            looked_up.append(client_id)
            super().__init__(client_id, *args, **kwargs)

    monkeypatch.setattr(clients_module, "Client", Counted)
    assert flow.token(code).status_code == 200
    assert looked_up.count(flow.client["client_id"]) == 1, looked_up


@pytest.mark.parametrize(
    "credential",
    [
        {"client_secret": CLIENT_SECRET},
        {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
         "client_assertion": "a.b.c"},
        {"headers": basic_auth(PUBLIC["client_id"], CLIENT_SECRET)},
    ],
    ids=["form secret", "client assertion", "basic secret"],
)  # fmt: skip
def test_a_credential_sent_by_a_public_client_is_ignored_as_keycloak_ignores_it(
    app, client, credential
):
    """Keycloak's ``ClientIdAndSecretAuthenticator`` finds the client by its id and, for a
    public one, succeeds before reading any secret ("Skip client_secret validation for public
    client"): a public client that still sends a secret (one made public after holding one)
    or an assertion is the client it names, PKCE still standing for its codes."""
    answer, verifier = _code(app, client)
    extra = dict(credential)
    headers = extra.pop("headers", None)
    data = {"grant_type": "authorization_code", "code": answer["code"],
            "redirect_uri": REDIRECT_URI, "client_id": PUBLIC["client_id"], **extra}  # fmt: skip
    tokens = client.post(f"{OIDC}/token", data={**data, "code_verifier": verifier},
                         headers=headers)  # fmt: skip
    assert tokens.status_code == 200, tokens.get_json()
    # PKCE still stands: a code of its without the verifier buys nothing, credential or not.
    answer, _ = _code(app, client)
    without = client.post(f"{OIDC}/token", data={**data, "code": answer["code"]},
                          headers=headers)  # fmt: skip
    assert without.status_code == 400, without.get_json()
    assert without.get_json()["error"] == "invalid_grant"


def test_a_credential_sent_by_a_public_client_authenticates_nothing_when_strict(settings):
    """``client_authentication = "strict"``: a client authenticates by the method it
    registered only, and ``none`` is no credential at all."""
    from santeid import create_app
    from santeid.storage import MemoryStore

    app = create_app(settings.replace(client_authentication="strict"), store=MemoryStore())
    client = app.test_client()
    answer, verifier = _code(app, client)
    refused = _exchange(client, answer["code"], verifier, client_secret=CLIENT_SECRET)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_client"
    assert _exchange(client, answer["code"], verifier).status_code == 200


def test_introspection_is_refused_as_keycloak_refuses_it(app, client):
    answer, verifier = _code(app, client)
    access = _exchange(client, answer["code"], verifier).get_json()["access_token"]
    refused = client.post(f"{OIDC}/token/introspect",
                          data={"token": access, "client_id": PUBLIC["client_id"]})  # fmt: skip
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "invalid_request",
                                  "error_description": "Client not allowed."}  # fmt: skip


def test_revocation_of_its_own_token(app, client):
    answer, verifier = _code(app, client)
    tokens = _exchange(client, answer["code"], verifier).get_json()
    revoked = client.post(f"{OIDC}/revoke", data={"token": tokens["refresh_token"],
                                                  "client_id": PUBLIC["client_id"]})  # fmt: skip
    assert revoked.status_code == 200, revoked.get_data(as_text=True)
    refused = client.post(f"{OIDC}/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": PUBLIC["client_id"]})  # fmt: skip
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_grant"


def test_registration():
    meta = validate_metadata(dict(PUBLIC))
    assert meta["require_pkce"] is True
    assert validate_metadata({**PUBLIC, "require_pkce": False})["require_pkce"] is False
    with pytest.raises(InvalidClientMetadata, match="has no secret"):
        validate_metadata({**PUBLIC, "client_secret": CLIENT_SECRET})
    for grant in ("client_credentials", "urn:openid:params:grant-type:ciba"):
        with pytest.raises(InvalidClientMetadata, match="need a confidential client"):
            validate_metadata({**PUBLIC, "grant_types": ["authorization_code", grant]})


def test_pushed_request_and_logout_with_the_client_id_alone(app, client):
    _public(app)
    verifier, challenge = pkce_pair()
    pushed = client.post(f"{OIDC}/ext/par/request", data={
        "client_id": PUBLIC["client_id"], "response_type": "code", "scope": "openid",
        "redirect_uri": REDIRECT_URI, "code_challenge": challenge,
        "code_challenge_method": "S256"})  # fmt: skip
    assert pushed.status_code == 201, pushed.get_json()
    flow = Flow(app, client, _public(app))
    answer = flow.code_from(flow.login(client.get(f"{OIDC}/auth", query_string={
        "client_id": PUBLIC["client_id"], "request_uri": pushed.get_json()["request_uri"]}),
        sandbox_professional(app)))  # fmt: skip
    tokens = _exchange(client, answer["code"], verifier).get_json()
    form = {"client_id": PUBLIC["client_id"], "refresh_token": tokens["refresh_token"]}
    ended = client.post(f"{OIDC}/logout", data=form)
    assert ended.status_code == 204, ended.get_data(as_text=True)
    refused = client.post(f"{OIDC}/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": PUBLIC["client_id"]})  # fmt: skip
    assert refused.status_code == 400


def test_an_authorization_header_of_another_scheme_is_ignored(app, client):
    """Keycloak's ``AccessTokenTest.testAuthorizationNegotiateHeaderIgnored``: a public
    client whose code exchange carries ``Authorization: Negotiate …`` beside its form
    ``client_id`` gets its tokens; a header that is not Basic names no client."""
    answer, verifier = _code(app, client)
    data = {"grant_type": "authorization_code", "code": answer["code"],
            "redirect_uri": REDIRECT_URI, "client_id": PUBLIC["client_id"],
            "code_verifier": verifier}  # fmt: skip
    negotiate = {"Authorization": "Negotiate something-which-will-be-ignored"}
    tokens = client.post(f"{OIDC}/token", data=data, headers=negotiate)
    assert tokens.status_code == 200, tokens.get_json()
    assert tokens.headers["Cache-Control"] == "no-store"
    assert tokens.headers["Pragma"] == "no-cache"

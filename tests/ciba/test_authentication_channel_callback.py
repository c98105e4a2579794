"""Keycloak's CIBA authentication-channel callback, ``POST …/ext/ciba/auth/callback``, where
Keycloak's authentication device reports the end user's decision. santeid's decisions come
from e-CPS, its sandbox and the CPS card (``santeid.ciba.service``): it issues no
authentication-channel token, so every call is refused as Keycloak refuses one without a
token it issued (docs/reference/keycloak-behaviour.md, "CIBA at the token endpoint")."""

from __future__ import annotations

import pytest

from tests.support.ciba import error_of
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.oidc_flow import OIDC

CALLBACK = f"{OIDC}/ext/ciba/auth/callback"
INVALID_TOKEN = {"error": "invalid_token", "error_description": "Invalid token"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic c2VydmljZTpzZWNyZXQ=", "Bearer", "Bearer a b", ""],
    ids=["none", "basic", "bearer-alone", "three-parts", "empty"],
)
def test_a_call_without_a_bearer_token_is_401(client, authorization):
    """``BackchannelAuthenticationCallbackEndpoint.verifyAuthenticationRequest``: no bearer
    token (``AppAuthManager.extractAuthorizationHeaderTokenOrReturnNull``) → 401
    ``invalid_token`` "Invalid token"."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post(CALLBACK, json={"status": "SUCCEED"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == INVALID_TOKEN


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
@pytest.mark.parametrize(
    "body", [{"status": "SUCCEED"}, {"status": "CANCELLED"}, {"status": "UNAUTHORIZED"}, {}]
)
def test_a_bearer_token_santeid_did_not_issue_for_the_channel_is_403(client, token, body):
    """Any bearer token: it does not verify, or names no pending request → 403
    ``invalid_token`` "Invalid token", before the body's status is read."""
    response = client.post(CALLBACK, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.get_json() == INVALID_TOKEN


def test_an_access_token_is_no_channel_token(flow, client):
    """A token santeid signed, but for a relying party (its ``aud`` is not the issuer, no
    request bears its id): 403 as well."""
    access_token = flow.full_login()["access_token"]
    response = client.post(
        CALLBACK, json={"status": "SUCCEED"}, headers={"Authorization": f"Bearer {access_token}"}
    )
    assert response.status_code == 403
    assert response.get_json() == INVALID_TOKEN


def test_only_a_json_post_is_served(client):
    """The resource method is ``@POST @Consumes(APPLICATION_JSON)``: another method is a 405,
    another media type a 415, before the token is looked at."""
    response = client.get(CALLBACK, headers={"Authorization": "Bearer x"})
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    form = client.post(CALLBACK, data={"status": "SUCCEED"}, headers={"Authorization": "Bearer x"})
    assert form.status_code == 415
    assert form.get_json()["error"]


@pytest.mark.parametrize(
    ("authorization", "status"), [(None, 401), ("Bearer x", 403)], ids=["no-token", "token"]
)
def test_a_post_without_content_type_is_judged_by_its_token(client, authorization, status):
    """RESTEasy Reactive checks ``@Consumes`` only against a ``Content-Type`` the request has
    (``ClassRoutingHandler.handle``), and reads a body without one as the method's media type
    (``RequestDeserializeHandler``): no 415, ``verifyAuthenticationRequest`` answers as for a
    JSON call (docs/reference/keycloak-behaviour.md, "CIBA at the token endpoint")."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post(CALLBACK, headers=headers)
    assert "Content-Type" not in response.request.headers
    assert response.status_code == status
    assert response.get_json() == INVALID_TOKEN


def test_a_client_cannot_approve_its_own_request_with_the_auth_req_id(app, client, auto_id):
    """``CIBATest.testAttackerClientUseAuthReqIdInCallbackEndpoint``: the ``auth_req_id`` as
    the callback's bearer token is 403, and the request stays pending (a CARD request waits
    for the card, whoever the professional)."""
    meta = register_ciba_client(app)
    auth_req_id = start(client, meta, auto_id, channel="CARD")["auth_req_id"]
    response = client.post(
        CALLBACK, json={"status": "SUCCEED"}, headers={"Authorization": f"Bearer {auth_req_id}"}
    )
    assert response.status_code == 403
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"

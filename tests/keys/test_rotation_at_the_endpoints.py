"""Keycloak's ``KeyRotationTest.testTokens`` against santeid's endpoints
(docs/reference/keycloak-behaviour.md, "Realm endpoints"; docs/keys.md, "Rotation"): tokens
signed by a key a rotation retired keep working at userinfo, introspection and the refresh
grant, which signs with the new keys; once a key is gone from the store, what it signed is
refused there as Keycloak refuses it.

Keycloak's ``OIDCSigningKeySelectionTest``
(https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/OIDCSigningKeySelectionTest.java)
with no client-specific ``kid`` (santeid has none): a second enabled key of the algorithm that
does not sign (Keycloak's lower-priority key, santeid's prepared ``next`` key) signs none of the
access, ID, logout, userinfo or authorization-response JWTs, and what it signed is accepted at
userinfo and introspection (docs/reference/keycloak-behaviour.md, "Signing keys, audiences and
lightweight access tokens: method by method")."""

from __future__ import annotations

import base64
import json
import os
import shutil
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from santeid.keystore import KEYS_FILENAME
from santeid.keystore import KeyStore
from santeid.oidc import backchannel_logout
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client


def _kid(token: str) -> str:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def _active(app) -> dict[str, str]:
    return {k.alg: k.kid for k in app.extensions["santeid"].keys.list() if k.status == "active"}


def _drop(app, *kids: str) -> None:
    """An operator deletes keys from the keys file (Keycloak: the key provider removed)."""
    store = app.extensions["santeid"].keys
    path = store.path / KEYS_FILENAME
    document = json.loads(path.read_text())
    document["keys"] = [entry for entry in document["keys"] if entry["kid"] not in kids]
    path.with_suffix(".tmp").write_text(json.dumps(document))
    path.with_suffix(".tmp").chmod(0o600)
    os.replace(path.with_suffix(".tmp"), path)
    store.reload_interval = 0


def _refresh(flow, refresh_token: str):
    return flow.http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )


def _logout(flow, refresh_token: str):
    return flow.http.post(
        f"{OIDC}/logout",
        data={"refresh_token": refresh_token},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )


def _userinfo(flow, access_token: str) -> int:
    answer = flow.http.get(f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + access_token})
    return answer.status_code


def _active_at_introspection(flow, token: str) -> bool:
    answer = flow.http.post(
        f"{OIDC}/token/introspect",
        data={"token": token},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    assert answer.status_code == 200
    return answer.json["active"]


def _refreshed_by(flow, refresh_token: str, keys: dict[str, str]) -> dict:
    """The tokens of a refresh, which must succeed and sign with ``keys``; its access token
    works at userinfo and introspection."""
    answer = _refresh(flow, refresh_token)
    assert answer.status_code == 200, answer.json
    tokens = answer.json
    assert _kid(tokens["access_token"]) == keys["RS256"]
    assert _kid(tokens["refresh_token"]) == keys["HS512"]
    assert _userinfo(flow, tokens["access_token"]) == 200
    assert _active_at_introspection(flow, tokens["access_token"])
    return tokens


def test_tokens_across_a_rotation_and_the_removal_of_keys(app, flow):
    store = app.extensions["santeid"].keys
    keys1 = _active(app)
    first = flow.full_login()
    assert _kid(first["access_token"]) == keys1["RS256"]
    assert _kid(first["refresh_token"]) == keys1["HS512"]
    assert _userinfo(flow, first["access_token"]) == 200
    assert _active_at_introspection(flow, first["access_token"])

    store.rotate("RS256")
    store.rotate("HS512")
    keys2 = _active(app)
    assert keys2["RS256"] != keys1["RS256"] and keys2["HS512"] != keys1["HS512"]

    # A refresh token of the retired secret refreshes; the new tokens carry the new kids.
    second = _refreshed_by(flow, first["refresh_token"], keys2)
    # What the retired key signed still verifies while it is kept.
    assert _userinfo(flow, first["access_token"]) == 200
    assert _active_at_introspection(flow, first["access_token"])

    # Keys #1 removed: the refresh token of keys #2 still refreshes.
    _drop(app, keys1["RS256"], keys1["HS512"])
    third = _refreshed_by(flow, second["refresh_token"], keys2)
    assert _userinfo(flow, first["access_token"]) == 401
    assert not _active_at_introspection(flow, first["access_token"])

    # Keys #2 removed (keys #3 sign): what keys #2 signed is refused.
    store.rotate("RS256")
    store.rotate("HS512")
    _drop(app, keys2["RS256"], keys2["HS512"])
    assert _userinfo(flow, third["access_token"]) == 401
    assert not _active_at_introspection(flow, third["access_token"])
    refused = _refresh(flow, third["refresh_token"])
    assert refused.status_code == 400
    assert refused.json == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token",
    }
    refused = _logout(flow, third["refresh_token"])
    assert refused.status_code == 400
    assert refused.json == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token",
    }
    # The JWK Set publishes neither removed key.
    published = {key["kid"] for key in flow.http.get(f"{OIDC}/certs").json["keys"]}
    assert keys1["RS256"] not in published and keys2["RS256"] not in published


def test_a_refresh_token_of_the_retired_secret_logs_out(app, flow):
    tokens = flow.full_login()
    app.extensions["santeid"].keys.rotate("HS512")
    assert _logout(flow, tokens["refresh_token"]).status_code == 204
    assert _userinfo(flow, tokens["access_token"]) == 401


def _published(flow, kid: str) -> dict:
    """The JWK the JWK Set publishes as ``kid``."""
    keys = flow.http.get(f"{OIDC}/certs").json["keys"]
    return next(key for key in keys if key["kid"] == kid)


def _signed_by(token: str, jwk: dict) -> bool:
    """Whether ``jwk``'s key made ``token``'s signature, whatever its header names."""
    try:
        jws.deserialize_compact(token, RSAKey.import_key(jwk), algorithms=["RS256"])
    except BadSignatureError:
        return False
    return True


def test_a_prepared_key_signs_none_of_the_jwts(app, client, monkeypatch):
    """``OIDCSigningKeySelectionTest``'s halves without a configured ``kid``
    (``testAccessTokenSigningKey``, ``testIdTokenAndLogoutTokenSigningKey``,
    ``testUserInfoSigningKey``, ``testAuthorizationResponseSigningKey``): with a second RS256
    key published, the active one signs every JWT a client receives, and the other does not."""
    store = app.extensions["santeid"].keys
    active = _active(app)["RS256"]
    prepared = store.prepare("RS256").kid
    assert prepared != active
    meta = register_client(
        app,
        userinfo_signed_response_alg="RS256",
        backchannel_logout_uri="http://127.0.0.1:9/backchannel",
    )
    flow = Flow(app, client, meta)
    signer, other = _published(flow, active), _published(flow, prepared)
    tokens = flow.full_login()
    answer = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert answer.status_code == 200 and answer.mimetype == "application/jwt"
    jarm = flow.authorize(response_mode="query.jwt")
    assert jarm.status_code == 302
    response = parse_qs(urlsplit(jarm.headers["Location"]).query)["response"][0]
    sent: list[str] = []

    def receive(url, fields, **kwargs):
        sent.append(fields["logout_token"])
        return 200

    monkeypatch.setattr(backchannel_logout, "deliver", receive)
    ended = client.get(
        f"{OIDC}/logout",
        query_string={
            "client_id": meta["client_id"],
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://service.example.org/logged-out",
        },
    )
    assert ended.status_code == 302
    assert len(sent) == 1
    jwts = {
        "access token": tokens["access_token"],
        "ID token": tokens["id_token"],
        "userinfo": answer.get_data(as_text=True),
        "authorization response": response,
        "logout token": sent[0],
    }
    for name, token in jwts.items():
        assert _kid(token) == active, name
        assert _signed_by(token, signer), name
        assert not _signed_by(token, other), name


def test_what_a_prepared_key_signed_is_accepted_before_it_signs_here(app, flow, tmp_path):
    """``testKeycloakVerifiesAccessTokenSignedWithClientKey``: an access token signed by a key
    that is published but does not sign here — a host that rotated a copied keys folder first
    (docs/keys.md, "Publishing the next key first") — works at userinfo, and introspection
    answers it active with its ``username``; ``LightWeightAccessTokenTest``'s introspection of
    an access token, with ``Accept: application/jwt`` from a client without Keycloak's JWT
    switch: the same JSON, no ``jwt`` member."""
    store = app.extensions["santeid"].keys
    prepared = store.prepare("RS256").kid
    tokens = flow.full_login()
    _, claims = decode(app, tokens["access_token"])
    elsewhere = tmp_path / "other-host-keys"
    shutil.copytree(store.path, elsewhere)
    other_host = KeyStore(elsewhere, retired_key_lifetime=store.retired_key_lifetime)
    assert other_host.rotate("RS256").kid == prepared
    token = other_host.sign(claims, alg="RS256")
    assert _kid(token) == prepared and _kid(token) != _active(app)["RS256"]

    assert _userinfo(flow, token) == 200
    for accept in (None, "application/jwt"):
        answer = flow.http.post(
            f"{OIDC}/token/introspect",
            data={"token": token},
            headers={
                **basic_auth(flow.client["client_id"], flow.client["client_secret"]),
                **({"Accept": accept} if accept else {}),
            },
        )
        assert answer.status_code == 200 and answer.mimetype == "application/json"
        body = answer.json
        assert body["active"] is True
        assert body["username"] == claims["preferred_username"]
        assert body["client_id"] == flow.client["client_id"]
        assert body["token_type"] == "Bearer"
        assert "jwt" not in body

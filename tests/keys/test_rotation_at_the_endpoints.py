"""Keycloak's ``KeyRotationTest.testTokens`` against santeid's endpoints
(docs/reference/keycloak-behaviour.md, "Realm endpoints"; docs/keys.md, "Rotation"): tokens
signed by a key a rotation retired keep working at userinfo, introspection and the refresh
grant, which signs with the new keys; once a key is gone from the store, what it signed is
refused there as Keycloak refuses it."""

from __future__ import annotations

import base64
import json
import os

from santeid.keystore import KEYS_FILENAME
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth


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

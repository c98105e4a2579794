"""Revocation (RFC 7009) in Keycloak's order: the token's signature, its type, its client, then
its session — never its expiry (``TokenRevocationEndpoint``, docs/reference/keycloak-behaviour.md,
"Userinfo, introspection, revocation"), as Keycloak's ``TokenRevocationTest`` drives it
(https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/TokenRevocationTest.java)."""

from __future__ import annotations

from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client

OTHER_SECRET = "another-secret-0123456789"  # noqa: S105 - a test client's secret
INVALID_TOKEN = {"error": "invalid_token", "error_description": "Invalid token"}
UNMATCHING_CLIENTS = {"error": "invalid_request", "error_description": "Unmatching clients"}


def _other(app) -> dict:
    return register_client(
        app,
        client_id="other",
        client_secret=OTHER_SECRET,
        redirect_uris=["https://other.example.org/cb"],
    )


def _revoke(client, token: str, client_id: str = "service-test", secret: str = CLIENT_SECRET):
    return client.post(
        f"{OIDC}/revoke", data={"token": token}, headers=basic_auth(client_id, secret)
    )


def _revoked_empty(response) -> bool:
    """Keycloak's success: 200, an empty body, no ``Content-Type``."""
    return (
        response.status_code == 200
        and response.get_data() == b""
        and "Content-Type" not in response.headers
    )


def test_an_id_token_is_keycloaks_unsupported_token_type(flow, client, app):
    """``checkToken``: a token of the realm whose ``typ`` is not ``Refresh``, ``Offline`` or
    ``Bearer`` is 400 ``unsupported_token_type`` — before its client is compared, so another
    client hears the same — and nothing is revoked."""
    _other(app)
    tokens = flow.full_login()
    for client_id, secret in (("service-test", CLIENT_SECRET), ("other", OTHER_SECRET)):
        response = _revoke(client, tokens["id_token"], client_id, secret)
        assert response.status_code == 400
        assert response.get_json() == {
            "error": "unsupported_token_type",
            "error_description": "Unsupported token type",
        }
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert userinfo.status_code == 200


def test_another_clients_token_is_unmatching_clients_even_once_its_session_ended(flow, client, app):
    """``checkIssuedFor`` runs before ``checkUser``: another client is told "Unmatching
    clients" for a token whose session is over, and the token's own client "Invalid token"
    (``TokenRevocationTest.testRevokeAlreadyRevokedToken``: 200 after a logout)."""
    _other(app)
    tokens = flow.full_login()
    logout = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert logout.status_code == 204
    for token in (tokens["access_token"], tokens["refresh_token"]):
        refused = _revoke(client, token, "other", OTHER_SECRET)
        assert refused.status_code == 400
        assert refused.get_json() == UNMATCHING_CLIENTS
        again = _revoke(client, token)
        assert again.status_code == 200 and again.get_json() == INVALID_TOKEN


def test_an_access_token_is_revoked_whether_expired_or_revoked_already(clocked_app, clock):
    """Keycloak decodes the token without its expiry and revokes it while its session holds
    its client: an empty 200 for an access token revoked already, or expired."""
    client = clocked_app.test_client()
    flow = Flow(clocked_app, client, register_client(clocked_app))
    tokens = flow.full_login()
    assert _revoked_empty(_revoke(client, tokens["access_token"]))
    assert _revoked_empty(_revoke(client, tokens["access_token"]))
    later = flow.token(flow.obtain_code()["code"]).get_json()
    clock.advance(later["expires_in"] + 1)
    assert _revoked_empty(_revoke(client, later["access_token"]))


def test_a_refresh_token_detaches_its_client_alone_then_the_last_ends_the_session(
    flow, client, app
):
    """``TokenRevocationTest.testRevokeToken``: two clients in one SSO session; revoking the
    first one's refresh token detaches that client — its tokens end, the other's live on —
    and revoking the second one's leaves no client, and no session."""
    tokens = flow.full_login()
    second = Flow(app, client, _other(app))
    other_tokens = second.token(second.obtain_code()["code"]).get_json()
    assert _revoked_empty(_revoke(client, tokens["refresh_token"]))
    refused = _refresh(client, tokens["refresh_token"])
    assert refused.get_json() == {
        "error": "invalid_grant",
        "error_description": "Session doesn't have required client",
    }
    assert _introspect(client, tokens["access_token"]) == {"active": False}
    assert _introspect(client, other_tokens["access_token"])["active"] is True
    refreshed = _refresh(client, other_tokens["refresh_token"], "other", OTHER_SECRET)
    assert refreshed.status_code == 200
    assert _revoked_empty(_revoke(client, other_tokens["refresh_token"], "other", OTHER_SECRET))
    ended = _refresh(client, other_tokens["refresh_token"], "other", OTHER_SECRET)
    assert ended.get_json() == {"error": "invalid_grant", "error_description": "Session not active"}


def _refresh(client, token: str, client_id: str = "service-test", secret: str = CLIENT_SECRET):
    return client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic_auth(client_id, secret),
    )


def _introspect(client, token: str) -> dict:
    response = client.post(
        f"{OIDC}/token/introspect",
        data={"token": token},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    return response.get_json()


def test_a_token_older_than_its_clients_new_grant_is_invalid_token(flow, client, app):
    """``checkTokenIssuedAt``: once a detached client is back in the session with a new
    grant, its older tokens — refresh or access — find a client session younger than they
    are: "Invalid token", and the new grant is left alone."""
    tokens = flow.full_login()
    second = Flow(app, client, _other(app))
    second.token(second.obtain_code()["code"])  # keeps the session once the first leaves
    assert _revoked_empty(_revoke(client, tokens["refresh_token"]))
    again = flow.token(flow.obtain_code()["code"]).get_json()
    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert _revoke(client, token).get_json() == INVALID_TOKEN
    assert _introspect(client, again["access_token"])["active"] is True
    assert _refresh(client, again["refresh_token"]).status_code == 200


def test_an_expired_refresh_token_of_a_live_grant_detaches_its_client(clocked_app, clock):
    """``checkToken`` decodes without the expiry, and ``checkUser`` finds the client session
    the token was issued in (``UserSessionUtil.findValidSessionForAccessToken``): a refresh
    token expired since a refresh issued a newer one is revoked like a live one — the empty
    200, its client detached, the newer token ended, the other client left alone
    (``TokenRevocationTest.testRevokeToken`` with a token past its ``exp``). Once the client
    is back in the session with a new grant, the old token is older than it: "Invalid
    token", and the new grant is left alone."""
    client = clocked_app.test_client()
    flow = Flow(clocked_app, client, register_client(clocked_app))
    first = flow.full_login()
    second = Flow(clocked_app, client, _other(clocked_app))
    other_tokens = second.token(second.obtain_code()["code"]).get_json()
    clock.advance(first["refresh_expires_in"] // 2)
    newer = _refresh(client, first["refresh_token"]).get_json()
    other_tokens = _refresh(client, other_tokens["refresh_token"], "other", OTHER_SECRET).get_json()
    clock.advance(first["refresh_expires_in"] // 2 + 1)
    assert _refresh(client, first["refresh_token"]).get_json()["error_description"] == (
        "Token is not active"
    )
    assert _revoked_empty(_revoke(client, first["refresh_token"]))
    assert _refresh(client, newer["refresh_token"]).get_json() == {
        "error": "invalid_grant",
        "error_description": "Session doesn't have required client",
    }
    assert _introspect(client, newer["access_token"]) == {"active": False}
    assert _refresh(client, other_tokens["refresh_token"], "other", OTHER_SECRET).status_code == 200
    again = flow.token(flow.obtain_code()["code"]).get_json()
    assert _revoke(client, first["refresh_token"]).get_json() == INVALID_TOKEN
    assert _refresh(client, again["refresh_token"]).status_code == 200


def test_a_refresh_token_ends_its_own_sso_session_only(flow, client, app):
    """``TokenRevocationTest.testRevokeSingleNormalSession``: one client logged in twice, in
    two sessions (Keycloak's test makes them with two password grants; here two browsers);
    revoking the first one's refresh token ends that grant, the other's lives on."""
    first = flow.full_login()
    browser = Flow(app, app.test_client(), flow.client)
    second = browser.token(browser.obtain_code()["code"]).get_json()
    assert first["session_state"] != second["session_state"]
    assert _revoked_empty(_revoke(client, first["refresh_token"]))
    assert _refresh(client, first["refresh_token"]).status_code == 400
    assert _introspect(client, first["access_token"]) == {"active": False}
    assert _introspect(client, second["access_token"])["active"] is True
    assert _refresh(client, second["refresh_token"]).status_code == 200


def test_offline_access_in_the_same_sso_session_is_revoked_with_the_online_grant(flow, client):
    """``TokenRevocationTest.testRevokeOfflineTokenWithOnlineSSOSession``: the client logs in,
    then again in the same SSO session with ``offline_access`` (one ``session_state``, as
    Keycloak's "offline" and online sessions share their id); revoking the second refresh
    token ends both grants ("Disable both offline and refresh"), and the session with its
    last client: the browser logs in again."""
    online = flow.full_login()
    offline = flow.token(flow.obtain_code(scope="openid offline_access")["code"]).get_json()
    assert offline["session_state"] == online["session_state"]
    assert "offline_access" in offline["scope"].split()
    assert _revoked_empty(_revoke(client, offline["refresh_token"]))
    for tokens in (offline, online):
        assert _refresh(client, tokens["refresh_token"]).get_json() == {
            "error": "invalid_grant",
            "error_description": "Session not active",
        }
        assert _introspect(client, tokens["access_token"]) == {"active": False}
    assert "/login-actions/" in flow.authorize().headers["Location"]


def test_another_clients_refresh_token_is_refused_and_keeps_working(flow, client, app):
    """``TokenRevocationTest.testRevokeTokenFromDifferentClient``: another client revoking
    the refresh token gets 400 "Unmatching clients"; the token's grant is untouched — its
    access token active, its refresh token refreshing."""
    _other(app)
    tokens = flow.full_login()
    refused = _revoke(client, tokens["refresh_token"], "other", OTHER_SECRET)
    assert refused.status_code == 400 and refused.get_json() == UNMATCHING_CLIENTS
    assert _introspect(client, tokens["access_token"])["active"] is True
    assert _refresh(client, tokens["refresh_token"]).status_code == 200


def test_a_revoked_access_token_stays_refused_until_and_at_its_exp(clocked_app, clock):
    """``TokenRevocationTest.testRevokedAccessTokenCacheLifespan``: the token's lifespan after
    its revocation it is still refused — introspection inactive, userinfo 401. At its very
    ``exp`` santeid's token has ended (RFC 7519 §4.1.4), where Keycloak's is one second from
    it, its revoked-token entry covering that second (a kept difference,
    docs/reference/keycloak-behaviour.md, "Revocation and offline tokens")."""
    client = clocked_app.test_client()
    flow = Flow(clocked_app, client, register_client(clocked_app))
    tokens = flow.full_login()
    assert _revoked_empty(_revoke(client, tokens["access_token"]))
    clock.advance(tokens["expires_in"] - 1)
    for _ in range(2):  # a second before its exp, then at it
        assert _introspect(client, tokens["access_token"]) == {"active": False}
        userinfo = client.get(
            f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
        )
        assert userinfo.status_code == 401
        clock.advance(1)

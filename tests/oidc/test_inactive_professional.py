"""A professional made inactive in the directory is Keycloak's disabled user
(docs/reference/keycloak-behaviour.md, "Disabled users"): the SSO session no longer answers
for them, a code already issued and their refresh tokens are ``invalid_grant`` "User disabled",
userinfo is 401 ``invalid_token`` "User disabled", introspection answers ``{"active": false}``;
once active again, the refresh token works."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional
from tests.support.oidc_flow import userinfo_refusal

USER_DISABLED = {"error": "invalid_grant", "error_description": "User disabled"}


def _set_status(app, national_id: str, status: str) -> None:
    directory = app.extensions["santeid"].directory
    directory.upsert(dataclasses.replace(directory.get(national_id), status=status))


def _refresh(client, refresh_token: str):
    return client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )


def test_sso_does_not_answer_for_an_inactive_professional(flow, app):
    national_id = sandbox_professional(app)
    flow.full_login(national_id)
    _set_status(app, national_id, "inactive")
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"
    response = flow.authorize()
    assert "/login-actions/" in response.headers["Location"]  # the login page, which refuses


def test_a_code_issued_before_is_user_disabled(flow, app):
    national_id = sandbox_professional(app)
    flow.full_login(national_id)
    code = flow.obtain_code(prompt="none")["code"]
    _set_status(app, national_id, "inactive")
    response = flow.token(code)
    assert response.status_code == 400
    assert response.get_json() == USER_DISABLED


def test_refresh_and_userinfo_are_user_disabled_until_active_again(flow, app, client):
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    _set_status(app, national_id, "inactive")
    refused = _refresh(client, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.get_json() == USER_DISABLED
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert userinfo_refusal(userinfo) == keycloak_refusal(401, "invalid_token", "User disabled")
    _set_status(app, national_id, "active")
    assert _refresh(client, tokens["refresh_token"]).status_code == 200


def test_userinfo_of_a_professional_gone_from_the_directory_is_user_not_found(flow, app, client):
    """Keycloak's ``UserInfoEndpoint``: the session holds no user any more, "User not found"
    (docs/reference/keycloak-behaviour.md, "Disabled users")."""
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    with app.extensions["santeid"].directory._connection() as conn:
        for table in ("other_id", "exercice", "import_source", "person"):
            conn.execute(f"DELETE FROM {table} WHERE national_id = ?", (national_id,))  # noqa: S608
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert userinfo_refusal(userinfo) == keycloak_refusal(401, "invalid_token", "User not found")


def _remove_from_directory(app, national_id: str) -> None:
    with app.extensions["santeid"].directory._connection() as conn:
        for table in ("other_id", "exercice", "import_source", "person"):
            conn.execute(f"DELETE FROM {table} WHERE national_id = ?", (national_id,))  # noqa: S608


def test_refresh_of_a_professional_gone_from_the_directory_is_invalid_refresh_token(
    flow, app, client
):
    """Keycloak's ``TokenManager.validateToken``: a user session whose user is gone, "Invalid
    refresh token" (after "Session not active", before "User disabled"), and nothing is
    revoked: the same token says the same again, not "Session doesn't have required client"
    (docs/reference/keycloak-behaviour.md, "Disabled users")."""
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    _remove_from_directory(app, national_id)
    invalid = {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    for _ in range(2):
        refused = _refresh(client, tokens["refresh_token"])
        assert refused.status_code == 400
        assert refused.get_json() == invalid


def test_a_code_of_a_professional_gone_from_the_directory_is_user_not_found(flow, app):
    """Keycloak's ``TokenEndpoint.codeToToken``: the user session holds no user, 400
    ``invalid_grant`` "User not found" (docs/reference/keycloak-behaviour.md, "Disabled
    users")."""
    national_id = sandbox_professional(app)
    flow.full_login(national_id)
    code = flow.obtain_code(prompt="none")["code"]
    _remove_from_directory(app, national_id)
    response = flow.token(code)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": "User not found"}


def _introspect(client, token: str):
    return client.post(
        f"{OIDC}/token/introspect",
        data={"token": token},
        headers=basic_auth("service-test", CLIENT_SECRET),
    ).get_json()


def test_introspection_finds_an_inactive_professionals_tokens_inactive(flow, app, client):
    """Keycloak's ``TokenManager.checkTokenValidForIntrospection`` (``isUserValid``)."""
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    _set_status(app, national_id, "inactive")
    assert _introspect(client, tokens["access_token"]) == {"active": False}
    assert _introspect(client, tokens["refresh_token"]) == {"active": False}
    _set_status(app, national_id, "active")
    assert _introspect(client, tokens["access_token"])["active"] is True
    assert _introspect(client, tokens["refresh_token"])["active"] is True


def test_introspection_finds_the_tokens_of_a_professional_gone_from_the_directory_inactive(
    flow, app, client
):
    """Keycloak's ``isUserValid`` is false for a deleted user as for a disabled one."""
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    directory = app.extensions["santeid"].directory
    with directory._connection() as conn:
        conn.execute("DELETE FROM person WHERE national_id = ?", (national_id,))
    assert _introspect(client, tokens["access_token"]) == {"active": False}
    assert _introspect(client, tokens["refresh_token"]) == {"active": False}


def _other_client(app) -> dict:
    return register_client(
        app, client_id="other-service", client_secret="another-secret-0123456789"
    )


@pytest.mark.parametrize(
    ("change", "refusal"),
    [("removed", "User not found"), ("inactive", "User disabled")],
)
@pytest.mark.parametrize("fault", ["redirect_uri", "client", "code_verifier"])
def test_the_user_of_a_code_is_checked_before_its_redirect_uri_client_and_pkce(
    flow, app, client, change, refusal, fault
):
    """Keycloak's ``AuthorizationCodeGrantType.process`` checks the code's user ("User not
    found", then "User disabled") right after its user session, before the ``redirect_uri``,
    the client and PKCE
    (https://github.com/keycloak/keycloak/blob/01e267d710da01ea44f0e2c330815417aeaf6ceb/services/src/main/java/org/keycloak/protocol/oidc/grants/AuthorizationCodeGrantType.java):
    a code of a professional gone from the directory, or made inactive, is refused for its
    user whatever else is wrong with the request, and is spent."""
    national_id = sandbox_professional(app)
    flow.full_login(national_id)
    code = flow.obtain_code(prompt="none")["code"]
    if change == "removed":
        _remove_from_directory(app, national_id)
    else:
        _set_status(app, national_id, "inactive")
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": flow.client["redirect_uris"][0]}  # fmt: skip
    headers = basic_auth(flow.client["client_id"], flow.client["client_secret"])
    if fault == "redirect_uri":
        data["redirect_uri"] = "https://service.example.org/other"
    elif fault == "client":
        other = _other_client(app)
        headers = basic_auth(other["client_id"], other["client_secret"])
    else:  # a verifier for a code issued without a challenge
        data["code_verifier"] = "v" * 43
    response = client.post(f"{OIDC}/token", data=data, headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_grant", "error_description": refusal}
    if change == "inactive":
        _set_status(app, national_id, "active")
    again = flow.token(code)
    assert again.get_json() == {"error": "invalid_grant", "error_description": "Code not valid"}

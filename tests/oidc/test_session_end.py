"""What a logout leaves usable: nothing. A code obtained by SSO before the logout buys no
tokens afterwards (Keycloak finds no user session for it: ``invalid_grant`` "Code not valid",
docs/reference/keycloak-behaviour.md, "Token endpoint"), even when the logout runs while the
code is being exchanged; the ID token of a grant without a browser session (CIBA) ends that
grant at logout."""

from __future__ import annotations

from santeid.oidc import session_end
from santeid.oidc.session_end import end_session
from santeid.storage import keys
from tests.support.ciba import auth_headers
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional

CODE_NOT_VALID = {"error": "invalid_grant", "error_description": "Code not valid"}


def _logout(client, id_token: str):
    response = client.get(f"{OIDC}/logout", query_string={"id_token_hint": id_token})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_a_code_obtained_before_logout_buys_no_tokens_after_it(flow, client):
    first = flow.full_login()
    code = flow.obtain_code(prompt="none")["code"]  # by SSO, in the same session
    _logout(client, first["id_token"])
    response = flow.token(code)
    assert response.status_code == 400
    assert response.get_json() == CODE_NOT_VALID


def test_a_code_of_an_ended_session_is_code_not_valid_before_its_redirect_uri(flow, client):
    """Keycloak's ``OAuth2CodeParser.parseCode`` finds no user session for the code and
    answers "Code not valid" before ``AuthorizationCodeGrantType.process`` reads the
    ``redirect_uri`` (docs/reference/keycloak-behaviour.md, "Token endpoint")."""
    first = flow.full_login()
    code = flow.obtain_code(prompt="none")["code"]
    _logout(client, first["id_token"])
    response = flow.token(code, redirect_uri="https://service.example.org/other")
    assert response.status_code == 400
    assert response.get_json() == CODE_NOT_VALID


def test_a_code_whose_session_expired_buys_no_tokens(flow, app):
    flow.full_login()
    result = flow.obtain_code(prompt="none")
    app.extensions["santeid"].sessions.close(result["session_state"])  # idle, gone
    assert flow.token(result["code"]).get_json() == CODE_NOT_VALID


def test_a_logout_during_the_exchange_revokes_the_new_tokens(flow, client, app, monkeypatch):
    """The logout reads the session's grants before this one joins them: the grant sees the
    session marked as ended once it has joined, and revokes what it issued."""
    first = flow.full_login()
    result = flow.obtain_code(prompt="none")
    tokens = app.extensions["santeid"].tokens
    issue = tokens.issue

    def logout_first(**kwargs):
        with app.test_request_context():
            end_session(app.extensions["santeid"], result["session_state"])
        return issue(**kwargs)

    monkeypatch.setattr(tokens, "issue", logout_first)
    response = flow.token(result["code"])
    monkeypatch.undo()
    assert response.get_json() == CODE_NOT_VALID
    # Whatever the exchange wrote is revoked: no family of the session is still active.
    families = [tokens.family(fid) for fid in tokens.session_families(result["session_state"])]
    assert families and all(f["state"] == "revoked" for f in families)
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + first["access_token"]}
    )
    assert userinfo.status_code == 401


def test_a_client_that_joined_just_before_the_end_mark_is_notified(flow, client, app, monkeypatch):
    """A code exchange that checks the session between the logout's start and its end mark
    gets its tokens (revoked at once by the logout): the participants are read after the mark,
    so its client is among those notified by back-channel logout."""
    flow.full_login()
    other = Flow(
        app,
        client,
        register_client(
            app, client_id="service-other", backchannel_logout_uri="http://127.0.0.1:9/logout"
        ),
    )
    result = other.obtain_code(prompt="none")  # by SSO, in the same session
    svc = app.extensions["santeid"]
    sid = result["session_state"]
    mark = keys.SESSION_ENDED.key(sid)
    add = svc.store.add
    exchanged = []

    def exchange_first(key, *args, **kwargs):
        if key == mark and not exchanged:
            exchanged.append(other.token(result["code"]))
        return add(key, *args, **kwargs)

    notified: list[str] = []

    def record(svc, clients, **kwargs):
        notified.extend(c.get_client_id() for c in clients)

    monkeypatch.setattr(svc.store, "add", exchange_first)
    monkeypatch.setattr(session_end.backchannel_logout, "notify", record)
    session_end.end_session(svc, sid)
    monkeypatch.undo()
    assert exchanged[0].status_code == 200
    assert sorted(notified) == ["service-other", "service-test"]
    userinfo = client.get(
        f"{OIDC}/userinfo",
        headers={"Authorization": "Bearer " + exchanged[0].get_json()["access_token"]},
    )
    assert userinfo.status_code == 401


def test_logout_with_the_id_token_of_a_ciba_grant_ends_that_grant(app, client):
    meta = register_ciba_client(app)
    auth_req_id = start(client, meta, sandbox_professional(app))["auth_req_id"]
    tokens = poll(client, meta, auth_req_id).get_json()
    assert "id_token" in tokens, tokens
    _logout(client, tokens["id_token"])
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    )
    assert userinfo.status_code == 401
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=auth_headers(meta),
    )
    assert refreshed.get_json()["error"] == "invalid_grant"


def test_an_id_token_hint_naming_another_clients_grant_leaves_it(app, client):
    meta = register_ciba_client(app)
    other = register_ciba_client(app, client_id="ciba-other")
    mine = poll(client, meta, start(client, meta, sandbox_professional(app))["auth_req_id"])
    theirs = poll(client, other, start(client, other, sandbox_professional(app))["auth_req_id"])
    mine, theirs = mine.get_json(), theirs.get_json()
    _logout(client, mine["id_token"])
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + theirs["access_token"]}
    )
    assert userinfo.status_code == 200


def test_a_refresh_token_logout_of_a_ciba_grant_ends_that_grant_only(app, client):
    """The refresh token of a grant without a browser session names the grant as its ``sid``:
    the refresh-token logout ends its tokens, and no other grant's."""
    meta = register_ciba_client(app)
    mine = poll(client, meta, start(client, meta, sandbox_professional(app))["auth_req_id"])
    theirs = poll(client, meta, start(client, meta, sandbox_professional(app))["auth_req_id"])
    mine, theirs = mine.get_json(), theirs.get_json()
    response = client.post(
        f"{OIDC}/logout", data={"refresh_token": mine["refresh_token"]}, headers=auth_headers(meta)
    )
    assert response.status_code == 204

    def userinfo(tokens) -> int:
        bearer = {"Authorization": "Bearer " + tokens["access_token"]}
        return client.get(f"{OIDC}/userinfo", headers=bearer).status_code

    assert (userinfo(mine), userinfo(theirs)) == (401, 200)

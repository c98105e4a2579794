"""What a logout leaves usable: nothing. A code obtained by SSO before the logout buys no
tokens afterwards (Keycloak finds no user session for it: ``invalid_grant`` "Code not valid",
docs/reference/keycloak-behaviour.md, "Token endpoint"), even when the logout runs while the
code is being exchanged; the ID token of a grant without a browser session (CIBA) ends that
grant at logout."""

from __future__ import annotations

import base64
import json
import re

import pytest

from santeid.app import create_app
from santeid.oidc import backchannel_logout
from santeid.oidc import session_end
from santeid.oidc.session_end import end_session
from santeid.storage import MemoryStore
from santeid.storage import keys
from tests.support.ciba import auth_headers
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
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


# -- A session found over: Keycloak's refresh and identity cookie log it out -------------------
# docs/reference/keycloak-behaviour.md, "An SSO session found over".

IDLE_BEFORE, IDLE_AFTER = 1800, 600
SESSION_NOT_ACTIVE = {"error": "invalid_grant", "error_description": "Session not active"}


def _two_clients_in_one_session(app, client) -> tuple[Flow, dict, Flow, dict]:
    """A browser's SSO session holding two clients that registered a
    ``backchannel_logout_uri``, and each client's tokens."""
    first = Flow(app, client, register_client(app, backchannel_logout_uri="http://127.0.0.1:9/one"))
    second = Flow(
        app,
        client,
        register_client(
            app, client_id="service-two", backchannel_logout_uri="http://127.0.0.1:9/two"
        ),
    )
    tokens = first.full_login()
    other = second.token(second.obtain_code(prompt="none")["code"]).get_json()
    return first, tokens, second, other


def _shortened_host(settings, store, clock, browser=None):
    """Another santeid on the same store after a restart with a shorter ``sso_idle_timeout``,
    and a test client holding ``browser``'s cookies."""
    host = create_app(
        settings.replace(sso_idle_timeout=IDLE_AFTER), store=store, clock=clock, first_start=False
    )
    http = host.test_client()
    for name in (
        browser.get_cookie(n) for n in ("santeid_identity", "KEYCLOAK_SESSION") if browser
    ):
        if name is not None:
            http.set_cookie(name.key, name.value, domain=name.domain, path=name.path)
    return host, http


def _refresh(http, meta: dict, tokens: dict):
    return http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    )


@pytest.fixture
def deliveries(monkeypatch) -> list[tuple[str, dict]]:
    """The logout tokens sent, as they leave: (``backchannel_logout_uri``, claims)."""
    sent: list[tuple[str, dict]] = []

    def receive(url, fields, **kwargs):
        sent.append((url, json.loads(base64.urlsafe_b64decode(
            fields["logout_token"].split(".")[1] + "=="))))  # fmt: skip
        return 200

    monkeypatch.setattr(backchannel_logout, "deliver", receive)
    return sent


def test_a_refresh_that_finds_its_session_over_tells_every_client_once(settings, clock, deliveries):
    """A restart with a shorter ``sso_idle_timeout``: the session, idle longer than that, is
    still stored. Userinfo refuses its access token and tells no one (Keycloak's
    ``UserSessionUtil.findValidSession`` with a callback that does nothing); the refresh
    answers "Session not active" after it has logged the session out — every client of the
    session gets its logout token, the refreshing one too (``TokenManager.validateToken``,
    ``AuthenticationManager.backchannelLogout``). Later refusals, on this host or another,
    find nothing to log out."""
    store = MemoryStore(clock=clock)
    app = create_app(settings.replace(sso_idle_timeout=IDLE_BEFORE), store=store, clock=clock)
    browser = app.test_client()
    first, tokens, second, other = _two_clients_in_one_session(app, browser)
    clock.advance(IDLE_AFTER + 1)
    host, http = _shortened_host(settings, store, clock, browser)

    bearer = {"Authorization": "Bearer " + other["access_token"]}
    assert http.get(f"{OIDC}/userinfo", headers=bearer).status_code == 401
    assert deliveries == []

    refused = _refresh(http, first.client, tokens)
    assert (refused.status_code, refused.get_json()) == (400, SESSION_NOT_ACTIVE)
    sid = tokens["session_state"]
    assert sorted((url, claims["aud"], claims["sid"]) for url, claims in deliveries) == [
        ("http://127.0.0.1:9/one", "service-test", sid),
        ("http://127.0.0.1:9/two", "service-two", sid),
    ]
    assert all(
        c["events"] == {backchannel_logout.BACKCHANNEL_LOGOUT_EVENT: {}} for _, c in deliveries
    )

    # Once per end of the session: the other client's refresh here, and both on the first
    # host, are refused without a second logout token.
    assert _refresh(http, second.client, other).get_json() == SESSION_NOT_ACTIVE
    assert _refresh(app.test_client(), first.client, tokens).get_json() == SESSION_NOT_ACTIVE
    assert _refresh(app.test_client(), second.client, other).get_json() == SESSION_NOT_ACTIVE
    assert len(deliveries) == 2


def test_a_browser_whose_session_is_found_over_gets_the_login_page_and_its_clients_are_told(
    settings, clock, deliveries
):
    """Keycloak's identity cookie naming a session still stored but no longer valid
    (``AuthenticationManager.verifyIdentityToken``, its invalid-session callback): the session
    is logged out, its clients told, the cookies expired; ``prompt=none`` is
    ``login_required``, and asking again tells no one more."""
    store = MemoryStore(clock=clock)
    app = create_app(settings.replace(sso_idle_timeout=IDLE_BEFORE), store=store, clock=clock)
    browser = app.test_client()
    first, tokens, _, _ = _two_clients_in_one_session(app, browser)
    clock.advance(IDLE_AFTER + 1)
    host, http = _shortened_host(settings, store, clock, browser)
    moved = Flow(host, http, first.client)

    assert moved.code_from(moved.authorize(prompt="none"))["error"] == "login_required"
    assert sorted(claims["aud"] for _, claims in deliveries) == ["service-test", "service-two"]
    assert http.get_cookie("santeid_identity") is None
    assert _refresh(http, first.client, tokens).get_json() == SESSION_NOT_ACTIVE
    assert len(deliveries) == 2


def test_a_session_gone_from_the_store_is_told_to_no_one(clocked_app, clock, deliveries):
    """Keycloak's ``backchannelLogout`` of a user session it cannot find returns at once: a
    session that expired out of the store (its record's lifetime over, Keycloak's background
    expiry) is told to no one, whatever refuses its tokens afterwards."""
    browser = clocked_app.test_client()
    first, tokens, second, other = _two_clients_in_one_session(clocked_app, browser)
    clock.advance(IDLE_BEFORE + 1)
    assert _refresh(browser, first.client, tokens).get_json() == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }
    assert first.code_from(first.authorize(prompt="none"))["error"] == "login_required"
    assert deliveries == []


def test_two_hosts_finding_the_same_session_over_tell_its_clients_once(
    settings, clock, deliveries, monkeypatch
):
    """Two santeid hosts that both read the session as over before either has removed it
    (two refreshes at the same instant): the end's mark is written once, by the store's
    atomic add, and only the host that wrote it sends the logout tokens."""
    store = MemoryStore(clock=clock)
    app = create_app(settings.replace(sso_idle_timeout=IDLE_BEFORE), store=store, clock=clock)
    _, tokens, _, _ = _two_clients_in_one_session(app, app.test_client())
    clock.advance(IDLE_AFTER + 1)
    hosts = [_shortened_host(settings, store, clock)[0] for _ in range(2)]
    sid = tokens["session_state"]
    for host in hosts:
        # The record left in place, as the other host's removal has not run yet.
        monkeypatch.setattr(host.extensions["santeid"].sessions, "close", lambda sid: None)
    assert [session_end.end_session_found_over(h.extensions["santeid"], sid) for h in hosts] == [
        True,
        True,
    ]
    assert sorted(claims["aud"] for _, claims in deliveries) == ["service-test", "service-two"]


def test_a_ciba_grant_found_past_a_shortened_maximum_tells_its_client_once(
    settings, clock, deliveries
):
    """A CIBA login is a user session of its own in Keycloak (``CibaGrantType.createUserSession``):
    after a restart with a lower ``sso_max_lifetime``, its refresh is "Session not active"
    once the grant has been ended and its client told, with the grant as ``sid``."""
    store = MemoryStore(clock=clock)
    app = create_app(settings, store=store, clock=clock)
    http = app.test_client()
    meta = register_ciba_client(app, backchannel_logout_uri="http://127.0.0.1:9/ciba")
    started = start(http, meta, sandbox_professional(app))
    tokens = poll(http, meta, started["auth_req_id"]).get_json()
    clock.advance(20 * 60)
    host = create_app(
        settings.replace(sso_max_lifetime=15 * 60), store=store, clock=clock, first_start=False
    )
    for _ in range(2):
        refused = _refresh(host.test_client(), meta, tokens)
        assert refused.get_json() == SESSION_NOT_ACTIVE
    sid = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))["sid"]
    assert [(url, claims["aud"], claims["sid"]) for url, claims in deliveries] == [
        ("http://127.0.0.1:9/ciba", "ciba-rp", sid)
    ]


def test_a_browser_logout_tells_the_clients_of_a_session_found_over_once(
    settings, clock, deliveries
):
    """Keycloak's ``LogoutEndpoint`` authenticates the identity cookie once the parameters are
    checked, before it asks for confirmation: a session found over is logged out there, its
    clients told; the confirmed logout after it sends nothing more, and no front-channel
    iframe (Keycloak's ``backchannelLogout`` frames none)."""
    store = MemoryStore(clock=clock)
    app = create_app(settings.replace(sso_idle_timeout=IDLE_BEFORE), store=store, clock=clock)
    browser = app.test_client()
    _two_clients_in_one_session(app, browser)
    front = Flow(
        app,
        browser,
        register_client(
            app, client_id="service-front", frontchannel_logout_uri="https://front.example.org/fcl"
        ),
    )
    assert front.token(front.obtain_code(prompt="none")["code"]).status_code == 200
    clock.advance(IDLE_AFTER + 1)
    _, http = _shortened_host(settings, store, clock, browser)
    asked = http.get(f"{OIDC}/logout")
    assert asked.status_code == 200
    assert sorted(claims["aud"] for _, claims in deliveries) == ["service-test", "service-two"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', asked.get_data(as_text=True))
    confirmed = http.post(f"{OIDC}/logout/logout-confirm", data={"csrf_token": csrf.group(1)})
    assert confirmed.status_code == 200
    assert "front.example.org" not in confirmed.get_data(as_text=True)
    assert len(deliveries) == 2

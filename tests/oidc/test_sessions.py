"""SSO sessions (4 h / 30 min idle), prompt and max_age (OIDC Core §3.1.2.1), and
RP-Initiated Logout 1.0."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from santeid.clock import ManualClock
from santeid.oidc.authentication import Authentication
from santeid.oidc.sessions import SessionStore
from santeid.oidc.tokens import RefreshRefused
from santeid.oidc.tokens import TokenService
from santeid.storage import MemoryStore
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import back_link
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional


def _second_service(app, client, **metadata) -> Flow:
    meta = register_client(
        app,
        client_id="second-service",
        client_secret="second-secret-0123456789",
        redirect_uris=["https://second.example.org/cb"],
        **metadata,
    )
    return Flow(app, client, meta)


def _browser_and_idle_timeout(app) -> tuple:
    """A browser (test client), a service's flow in it, and the SSO session's idle timeout."""
    client = app.test_client()
    return (
        client,
        Flow(app, client, register_client(app)),
        app.extensions["santeid"].settings.login.sso_idle_timeout,
    )


def test_second_service_logs_in_silently(flow, app, client):
    first = flow.full_login()
    second = _second_service(app, client)
    response = second.authorize()
    params = second.code_from(response)  # straight back with a code, no login page
    assert params["session_state"] == first["session_state"]
    assert second.token(params["code"]).status_code == 200


def test_silent_logins_keep_the_sso_session_alive(clocked_app, clock):
    """An authorization request answered from the SSO session is a use of it: services
    logging in silently every 25 minutes keep a 30-minute idle session going."""
    app = clocked_app
    client, flow, idle = _browser_and_idle_timeout(app)
    first = flow.full_login()
    for _ in range(3):
        clock.advance(idle - 5 * MINUTE)
        params = flow.code_from(flow.authorize(prompt="none"))
        assert params["session_state"] == first["session_state"]
    clock.advance(idle)
    refused = flow.authorize(prompt="none")
    assert "error=login_required" in refused.headers["Location"]


def test_a_session_ended_while_a_login_completes_gives_way_to_a_new_one(
    flow, app, client, monkeypatch
):
    """A logout between the completion's read of the browser's SSO session and its renewal:
    the code written with the renewal is never sent (it is deleted), and the login ends in a
    new session, as when the session had ended before."""
    from santeid.oidc import login_outcome

    svc = app.extensions["santeid"]
    first = flow.full_login()
    written = []

    def logged_out_meanwhile(areq, authentication, batch):
        if not written:
            svc.sessions.close(first["session_state"])
        written.append(login_outcome_new_code(areq, authentication, batch))
        return written[-1]

    login_outcome_new_code = login_outcome.new_code
    monkeypatch.setattr(login_outcome, "new_code", logged_out_meanwhile)
    params = flow.obtain_code(prompt="login")
    assert len(written) == 2
    (unsent, unsent_record), (sent, _) = written
    assert params["code"] == sent != unsent
    assert svc.tokens.codes.read(unsent_record.key) is None
    assert params["session_state"] != first["session_state"]
    assert svc.sessions.exists(params["session_state"])
    tokens = flow.token(params["code"]).get_json()
    assert tokens["session_state"] == params["session_state"]


def test_prompt_none_succeeds_with_a_session(flow, app, client):
    """oidcc-prompt-none-logged-in: same sub and auth_time, no UI."""
    flow.full_login()
    params = flow.code_from(flow.authorize(prompt="none"))
    assert "code" in params


def test_prompt_login_forces_a_new_login(flow):
    flow.full_login()
    response = flow.authorize(prompt="login")
    assert "login-actions/authenticate" in response.headers["Location"]


def test_max_age_zero_forces_a_new_login(flow):
    flow.full_login()
    assert "login-actions/authenticate" in flow.authorize(max_age="0").headers["Location"]
    assert "code=" in flow.authorize(max_age="3600").headers["Location"]


def test_login_hint_for_someone_else_shows_the_login_page(flow, app):
    flow.full_login()
    others = [p.national_id for p in app.extensions["santeid"].directory.list(sandbox_only=True)]
    response = flow.authorize(login_hint=others[1])
    assert "login-actions/authenticate" in response.headers["Location"]


def test_session_idle_and_absolute_lifetimes():
    clock = ManualClock(1_000_000)
    store = MemoryStore(clock=clock)
    sessions = SessionStore(store, max_lifetime=4 * 3600, idle_timeout=1800, clock=clock)
    auth = sessions.open(Authentication("810000000001", int(clock()), "eidas1", "SANDBOX", ["x"]))
    # Used every 20 minutes, the session survives the idle timeout…
    for _ in range(11):
        clock.advance(1200)
        assert sessions.get(auth.sid) is not None
    # …but not its 4-hour absolute lifetime.
    clock.advance(1200)
    assert sessions.get(auth.sid) is None


def test_idle_session_expires():
    clock = ManualClock(1_000_000)
    store = MemoryStore(clock=clock)
    sessions = SessionStore(store, max_lifetime=4 * 3600, idle_timeout=1800, clock=clock)
    auth = sessions.open(Authentication("810000000001", int(clock()), "eidas1", "SANDBOX", ["x"]))
    clock.advance(1801)
    assert sessions.get(auth.sid) is None


def test_a_shortened_idle_timeout_applies_to_sessions_already_open():
    """A restart with a lower ``sso_idle_timeout``: a session left idle longer than the new
    timeout is over, though its record was written to last the old one; checking it does not
    renew it."""
    clock = ManualClock(1_000_000)
    store = MemoryStore(clock=clock)
    before = SessionStore(store, max_lifetime=4 * 3600, idle_timeout=1800, clock=clock)
    auth = before.open(Authentication("810000000001", int(clock()), "eidas1", "SANDBOX", ["x"]))
    after = SessionStore(store, max_lifetime=4 * 3600, idle_timeout=600, clock=clock)
    clock.advance(599)
    assert after.exists(auth.sid)  # a check, not a use: the idle time runs on
    clock.advance(1)
    assert not after.exists(auth.sid)
    assert after.get(auth.sid) is None
    assert after.renew_in(store.batch(), auth.sid, auth) is None


def test_logout_with_hint_redirects_with_state_and_ends_everything(flow, client):
    tokens = flow.full_login()
    response = client.get(
        f"{OIDC}/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://service.example.org/logged-out",
            "state": "bye",
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "service.example.org"
    assert parse_qs(location.query) == {"state": ["bye"]}
    # The session is gone and its tokens revoked.
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    assert client.get(f"{OIDC}/userinfo", headers=headers).status_code == 401


def test_a_logout_in_one_browser_leaves_the_other_browsers_session(flow, app, client):
    """Keycloak's ``SSOTest.multipleSessions``: one professional logged in from two browsers
    has two sessions; the first browser's logout ends its own, and its next request gets the
    login page, while the second browser's is answered by its session, a ``LOGIN`` event of
    reason ``sso`` (docs/reference/keycloak-behaviour.md, "Events of a login by SSO")."""
    from santeid.observability.events import LOGIN
    from santeid.observability.events import SSO

    other = Flow(app, app.test_client(), flow.client)
    first, second = flow.full_login(), other.full_login()
    assert first["session_state"] != second["session_state"]
    logout = {"id_token_hint": first["id_token"],
              "post_logout_redirect_uri": "https://service.example.org/logged-out"}  # fmt: skip
    assert client.get(f"{OIDC}/logout", query_string=logout).status_code == 302

    assert "/login-actions/authenticate" in flow.authorize().headers["Location"]
    answer = other.code_from(other.authorize())
    assert answer["session_state"] == second["session_state"]
    assert other.token(answer["code"]).status_code == 200
    newest = app.extensions["santeid"].events.list(types=(LOGIN,))[0]
    assert newest.reason == SSO


def test_server_to_server_logout_with_only_the_hint(flow, app):
    """PSC's back-end logout: a GET with only id_token_hint, from another HTTP client."""
    tokens = flow.full_login()
    server = app.test_client()
    response = server.get(f"{OIDC}/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert "Session fermée" in response.get_data(as_text=True)
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"


def test_logout_refuses_unregistered_post_logout_redirect_uri(flow, client):
    tokens = flow.full_login()
    response = client.get(
        f"{OIDC}/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example.org/",
        },
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    # Nothing changed: the session still answers prompt=none.
    assert "code" in flow.code_from(flow.authorize(prompt="none"))


def test_logout_with_a_forged_hint_is_refused(flow, client):
    tokens = flow.full_login()
    head, body, sig = tokens["id_token"].split(".")
    response = client.get(
        f"{OIDC}/logout", query_string={"id_token_hint": f"{head}.{body}.{sig[::-1]}"}
    )
    assert response.status_code == 400


def test_logout_without_hint_asks_for_confirmation(flow, client):
    flow.full_login()
    page = client.get(f"{OIDC}/logout")
    assert page.status_code == 200
    assert 'id="confirm-logout"' in page.get_data(as_text=True)
    # Still logged in until confirmed…
    assert "code" in flow.code_from(flow.authorize(prompt="none"))
    # A form POST to the endpoint is a relying party's request: the same page, nothing ended.
    posted = client.post(f"{OIDC}/logout", data={"csrf_token": "nope"})
    assert posted.status_code == 200
    assert 'id="confirm-logout"' in posted.get_data(as_text=True)
    confirm = f"{OIDC}/logout/logout-confirm"
    assert f'action="{confirm}"' in page.get_data(as_text=True)
    forged = client.post(confirm, data={"csrf_token": "nope"})
    assert forged.status_code == 400
    assert "code" in flow.code_from(flow.authorize(prompt="none"))
    confirmed = client.post(confirm, data={"csrf_token": flow.csrf(page.get_data(as_text=True))})
    assert confirmed.status_code == 200
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"


def test_logging_in_again_keeps_the_session_with_a_new_auth_time(clocked_app, clock):
    app = clocked_app
    client = app.test_client()
    flow = Flow(app, client, register_client(app))
    national_id = sandbox_professional(app)
    first = flow.full_login(national_id)
    clock.advance(2)
    again = flow.full_login(national_id, prompt="login")
    assert again["session_state"] == first["session_state"]
    assert (
        decode(app, again["id_token"])[1]["auth_time"]
        > decode(app, first["id_token"])[1]["auth_time"]
    )
    headers = {"Authorization": "Bearer " + first["access_token"]}
    assert client.get(f"{OIDC}/userinfo", headers=headers).status_code == 200


def test_another_professional_logging_in_ends_the_previous_session(flow, app, client):
    ids = [p.national_id for p in app.extensions["santeid"].directory.list(sandbox_only=True)]
    first = flow.full_login(ids[0])
    second = flow.full_login(ids[1], prompt="login")
    assert first["session_state"] != second["session_state"]
    assert not app.extensions["santeid"].sessions.exists(first["session_state"])
    headers = {"Authorization": "Bearer " + first["access_token"]}
    assert client.get(f"{OIDC}/userinfo", headers=headers).status_code == 401


def test_an_authentication_is_stored_as_every_field_and_read_back_unchanged():
    """``to_dict`` is written out field by field: it must keep giving what
    ``dataclasses.asdict`` gives (a field added to the class and forgotten there would not be
    stored in sessions, codes and token families), with its own copy of ``amr``."""
    auth = Authentication("810000000001", 1_000_000, "eidas1", "MOBILE", ["sandbox"], "sid-1")
    stored = auth.to_dict()
    assert stored == dataclasses.asdict(auth)
    assert Authentication.from_dict(stored) == auth
    stored["amr"].append("changed")
    assert auth.amr == ["sandbox"]


def test_the_browser_cookie_follows_a_change_of_secret_key(app, client):
    """The cookie's signing serializer is built once (``security.SessionOverHttps``), yet a new
    secret key is used at once: a cookie signed with the old one is no session, until the old
    key is listed among the fallbacks."""
    with client.session_transaction() as cookie_session:
        cookie_session["csrf"] = "token-1"
    with client.session_transaction() as cookie_session:
        assert cookie_session.get("csrf") == "token-1"
    old_key = app.secret_key
    app.secret_key = "another-secret-key-0123456789abcdef"
    with client.session_transaction() as cookie_session:
        assert "csrf" not in cookie_session
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    with client.session_transaction() as cookie_session:
        assert cookie_session.get("csrf") == "token-1"


def test_the_identity_cookie_is_signed_and_follows_a_change_of_secret_key(flow, app, client):
    """``santeid_identity`` names the SSO session: a cookie made from the session's id, which
    every relying party learns (``sid``, ``session_state``), is signed by no one and opens
    nothing; the browser's own cookie stops opening it under a new secret key — and is expired,
    as Keycloak expires an identity cookie that does not verify (``KeyRotationTest``,
    docs/reference/keycloak-behaviour.md, "Cookies") —, until the old key is listed among the
    fallbacks (``security.CrossSiteCookie``)."""
    sid = flow.full_login()["session_state"]
    assert "code" in flow.code_from(flow.authorize(prompt="none"))
    own = client.get_cookie("santeid_identity").value
    for forged in (sid, json.dumps({"sid": sid}), own.rsplit(".", 1)[0] + ".forged"):
        forger = Flow(app, app.test_client(), flow.client)
        forger.http.set_cookie("santeid_identity", forged)
        assert forger.code_from(forger.authorize(prompt="none"))["error"] == "login_required"
    old_key = app.secret_key
    app.secret_key = "another-secret-key-0123456789abcdef"
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"
    assert client.get_cookie("santeid_identity") is None
    client.set_cookie("santeid_identity", own)
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert flow.code_from(flow.authorize(prompt="none"))["session_state"] == sid


@pytest.mark.parametrize("logged_out", [False, True])
def test_an_access_token_as_identity_cookie_gets_the_login_page(flow, app, logged_out):
    """Keycloak's ``CookieTest.testCookieValue`` and ``testCookieValueLoggedOut``: a browser
    whose identity cookie holds the professional's access token is no SSO session — the
    authorization request shows the login page — whether that session still lives or not."""
    tokens = flow.full_login()
    if logged_out:
        ended = flow.http.post(
            f"{OIDC}/logout",
            data={"refresh_token": tokens["refresh_token"]},
            headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
        )
        assert ended.status_code == 204
    other = Flow(app, app.test_client(), flow.client)
    other.http.set_cookie("santeid_identity", tokens["access_token"])
    answer = other.authorize()
    assert answer.status_code == 302
    assert "/login-actions/" in answer.headers["Location"]


def test_no_cookie_is_written_twice_in_one_answer(flow, app):
    """Keycloak's ``CookieTest.testNoDuplicationsWhenExpiringCookies``: the authorization
    endpoint's answer to a browser with an identity cookie, of a live session or of one that
    ended, has no ``Set-Cookie`` header twice."""
    tokens = flow.full_login()
    for ended in (False, True):
        if ended:
            flow.http.post(
                f"{OIDC}/logout",
                data={"refresh_token": tokens["refresh_token"]},
                headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
            )
        answer = flow.authorize()
        headers = answer.headers.getlist("Set-Cookie")
        assert headers, ended
        names = [header.split("=", 1)[0] for header in headers]
        assert len(names) == len(set(names)), headers


# -- tokens bound to their SSO session -----------------------------------------------------------
# Keycloak's TokenManager: an access token expires at the latest when its user session reaches
# SSO Session Max, a refresh token at min(now + SSO Session Idle, session start + SSO Session
# Max), a refresh renews the session's idle time, and a refresh after the session's end gets
# "Session not active" (docs/reference/keycloak-behaviour.md, "Refresh tokens").
MINUTE = 60


def _refresh(flow: Flow, refresh_token: str):
    return flow.http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )


def _userinfo(flow: Flow, access_token: str) -> int:
    response = flow.http.get(
        f"{OIDC}/userinfo", headers={"Authorization": "Bearer " + access_token}
    )
    return response.status_code


def test_refreshing_never_outlives_the_sessions_maximum(clocked_app, clock):
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    max_lifetime = app.extensions["santeid"].settings.login.sso_max_lifetime
    tokens = flow.full_login()
    started = decode(app, tokens["access_token"])[1]["auth_time"]
    # Refreshed every 25 minutes, as a client keeping its access token fresh does.
    while clock() + 25 * MINUTE < started + max_lifetime:
        clock.advance(25 * MINUTE)
        response = _refresh(flow, tokens["refresh_token"])
        assert response.status_code == 200, response.get_json()
        tokens = response.get_json()
    remaining = started + max_lifetime - int(clock())
    assert 0 < remaining < 25 * MINUTE
    # The last tokens end with the session: expires_in and refresh_expires_in say so.
    assert tokens["refresh_expires_in"] == remaining < 1800
    assert tokens["expires_in"] == min(120, remaining)
    access = decode(app, tokens["access_token"])[1]
    assert access["exp"] <= started + max_lifetime
    assert decode(app, tokens["id_token"])[1]["exp"] <= started + max_lifetime
    clock.advance(remaining)
    refused = _refresh(flow, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_grant"
    assert _userinfo(flow, tokens["access_token"]) == 401


def test_a_shortened_maximum_applies_to_sessions_already_open(clocked_app, clock):
    """An operator who lowers ``sso_max_lifetime`` ends the sessions already past it: their
    refresh tokens get ``invalid_grant`` "Session not active", as Keycloak answers for a user
    session that is no longer valid."""
    app = clocked_app
    svc = app.extensions["santeid"]
    flow = Flow(app, app.test_client(), register_client(app))
    tokens = flow.full_login()
    clock.advance(20 * MINUTE)
    shortened = svc.settings.replace(sso_max_lifetime=15 * MINUTE)
    tokens_service = TokenService(shortened, svc.store, svc.keys, svc.directory, clock=clock)
    with pytest.raises(RefreshRefused, match="^Session not active$"):
        tokens_service.refresh_grant(tokens["refresh_token"])


def test_a_logout_at_the_end_of_the_session_leaves_no_working_token(clocked_app, clock):
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    max_lifetime = app.extensions["santeid"].settings.login.sso_max_lifetime
    tokens = flow.full_login()
    ends = decode(app, tokens["access_token"])[1]["auth_time"] + max_lifetime
    while clock() + 25 * MINUTE < ends:
        clock.advance(25 * MINUTE)
        tokens = _refresh(flow, tokens["refresh_token"]).get_json()
    clock.advance(ends + 5 * MINUTE - clock())
    logout = flow.http.post(
        f"{OIDC}/logout",
        data={"refresh_token": tokens["refresh_token"]},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    # Keycloak checks the token's signature, not its expiry, and answers 204 whether or not
    # a session was left to end (docs/reference/keycloak-behaviour.md, "Logout").
    assert logout.status_code == 204
    assert _refresh(flow, tokens["refresh_token"]).status_code == 400
    assert _userinfo(flow, tokens["access_token"]) == 401


def test_refreshing_keeps_the_sso_session_alive(clocked_app, clock):
    """Keycloak renews the user session's idle time at each refresh: an hour of refreshes
    without the browser, and a second service still logs in silently."""
    app = clocked_app
    client, flow, idle = _browser_and_idle_timeout(app)
    tokens = flow.full_login()
    for _ in range(3):
        clock.advance(idle - 5 * MINUTE)
        response = _refresh(flow, tokens["refresh_token"])
        assert response.status_code == 200, response.get_json()
        tokens = response.get_json()
    silent = _second_service(app, client).authorize(prompt="none")
    assert "code=" in silent.headers["Location"], silent.headers["Location"]


def test_exchanging_the_code_keeps_the_sso_session_alive(clocked_app, clock):
    """The code exchange issues a refresh token, a use of the SSO session as a refresh is
    (Keycloak's ``generateRefreshToken`` sets ``lastSessionRefresh``): the idle time counts
    from the exchange, not from the login: a second service still logs in silently after the
    login's idle end."""
    app = clocked_app
    client, flow, idle = _browser_and_idle_timeout(app)
    code = flow.obtain_code()["code"]
    clock.advance(50)  # within the code's lifetime
    assert "refresh_token" in flow.token(code).get_json()
    clock.advance(idle - 10)  # past the login's idle end, within the exchange's
    silent = _second_service(app, client).authorize(prompt="none")
    assert "code=" in silent.headers["Location"], silent.headers["Location"]


def test_logging_in_again_does_not_restart_the_sessions_maximum(clocked_app, clock):
    """Keycloak keeps the user session, and its start, when the professional logs in again."""
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    max_lifetime = app.extensions["santeid"].settings.login.sso_max_lifetime
    national_id = sandbox_professional(app)
    first = flow.full_login(national_id)
    started = decode(app, first["access_token"])[1]["auth_time"]
    tokens = first
    while clock() + 25 * MINUTE < started + max_lifetime:  # the session kept in use
        clock.advance(25 * MINUTE)
        tokens = _refresh(flow, tokens["refresh_token"]).get_json()
    again = flow.full_login(national_id, prompt="login")
    assert again["session_state"] == first["session_state"]
    assert again["refresh_expires_in"] == started + max_lifetime - int(clock())


def test_the_id_token_expires_with_its_access_token(settings, clock):
    """Keycloak builds every ID token from its access token, ``exp`` included
    (``TokenManager.AccessTokenResponseBuilder.generateIDToken``,
    docs/reference/keycloak-behaviour.md, "Token endpoint"): with an access-token lifetime of
    600 s (a realm's "Access Token Lifespan"), the ID tokens of the code exchange and of a
    refresh expire with their access tokens. keycloak-connect validates its grant's ID token
    at every request: one expiring first would end a grant whose access token still lives."""
    from santeid import create_app

    longer = settings.replace(access_token_lifetime=600)
    app = create_app(longer, store=MemoryStore(clock=clock), clock=clock)
    flow = Flow(app, app.test_client(), register_client(app))
    tokens = flow.full_login()
    clock.advance(60)
    refreshed = _refresh(flow, tokens["refresh_token"]).get_json()
    for answer in (tokens, refreshed):
        access = decode(app, answer["access_token"])[1]
        assert access["exp"] == access["iat"] + 600
        assert decode(app, answer["id_token"])[1]["exp"] == access["exp"]


def test_a_logout_revokes_an_access_token_that_outlives_the_refresh_token(settings, clock):
    """With ``access_token_lifetime`` above ``refresh_token_lifetime`` (an operator's choice),
    the list of a grant's access tokens must outlive its refresh token: a logout after the
    refresh token expired still revokes the access token, which is still within its lifetime."""
    from santeid import create_app

    longer = settings.replace(access_token_lifetime=600, refresh_token_lifetime=60)
    app = create_app(longer, store=MemoryStore(clock=clock), clock=clock)
    client = app.test_client()
    flow = Flow(app, client, register_client(app))
    tokens = flow.full_login()
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    clock.advance(120)  # the refresh token is gone, the access token lives for 480 s more
    assert client.get(f"{OIDC}/userinfo", headers=headers).status_code == 200
    response = client.get(f"{OIDC}/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert client.get(f"{OIDC}/userinfo", headers=headers).status_code == 401


@pytest.mark.parametrize("extra", [{}, {"code_verifier": "v" * 43}], ids=["plain", "pkce-fault"])
def test_a_code_exchanged_once_its_session_reached_its_maximum_is_session_not_active(
    clocked_app, clock, extra
):
    """A code issued by SSO just before the session's ``sso_max_lifetime`` and exchanged just
    after: the session exists but is no longer valid, Keycloak's ``invalid_grant`` "Session
    not active" (``AuthorizationCodeGrantType.process``, ``isSessionValid``, after the client
    and before PKCE: a verifier sent for a code without a challenge changes nothing;
    docs/reference/keycloak-behaviour.md, "Token endpoint"), not the "Code not valid" of a
    session logged out."""
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    max_lifetime = app.extensions["santeid"].settings.login.sso_max_lifetime
    tokens = flow.full_login()
    ends = decode(app, tokens["access_token"])[1]["auth_time"] + max_lifetime
    while clock() + 25 * MINUTE < ends:  # the session kept in use
        clock.advance(25 * MINUTE)
        tokens = _refresh(flow, tokens["refresh_token"]).get_json()
    clock.advance(ends - 30 - clock())
    code = flow.obtain_code(prompt="none")["code"]
    clock.advance(40)
    refused = flow.token(code, **extra)
    assert (refused.status_code, refused.get_json()) == (400, {
        "error": "invalid_grant", "error_description": "Session not active"})  # fmt: skip


# Keycloak's RefreshTokenTimeoutsTest (docs/reference/keycloak-behaviour.md, "Refresh tokens:
# timeouts and rotation, method by method"): a refresh token's ``exp`` under each timeout, and
# what a refresh after each answers.


def decode_unverified(token: str) -> tuple[dict, dict]:
    """A refresh token as a client reads it: HMAC-signed, its signature unverifiable."""
    parts = token.split(".")[:2]
    return tuple(  # type: ignore[return-value]
        json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts
    )


def _timed_app(settings, clock, **timeouts):
    from santeid import create_app

    return create_app(settings.replace(**timeouts), store=MemoryStore(clock=clock), clock=clock)


def test_refresh_tokens_end_with_the_sessions_maximum(settings, clock):
    """``refreshTokenUserSessionMaxLifespan``: SSO Session Max 3600, SSO Session Idle 7200 (and
    Client Session Idle as long): the code's refresh token lasts 3600 s, one refreshed at 1800
    s the 1800 s left, and a refresh at 3700 s finds its token expired, "Token is not active"
    (``TokenManager.verifyRefreshToken``, before any session check); the SSO session is over."""
    app = _timed_app(
        settings, clock, sso_max_lifetime=3600, sso_idle_timeout=7200, refresh_token_lifetime=7200
    )
    client, flow, _ = _browser_and_idle_timeout(app)
    tokens = flow.full_login()
    assert tokens["refresh_expires_in"] == 3600
    _, claims = decode_unverified(tokens["refresh_token"])
    assert claims["exp"] - claims["iat"] == 3600
    clock.advance(1800)
    tokens = _refresh(flow, tokens["refresh_token"]).get_json()
    assert tokens["refresh_expires_in"] == 1800
    clock.advance(1900)
    assert _refresh(flow, tokens["refresh_token"]).get_json() == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }
    assert "error=login_required" in flow.authorize(prompt="none").headers["Location"]


def test_a_refresh_after_the_sessions_idle_time_is_token_is_not_active(settings, clock):
    """``testUserSessionRefreshAndIdle`` with the timeouts as they were when the token was
    issued: the refresh token lapses with the idle session (its ``exp`` is the session's idle
    end), so a refresh after it is refused by the token's own expiry, "Token is not active";
    the session is over too (``prompt=none``: ``login_required``)."""
    app = _timed_app(settings, clock, sso_idle_timeout=600, refresh_token_lifetime=1800)
    _, flow, idle = _browser_and_idle_timeout(app)
    tokens = flow.full_login()
    assert tokens["refresh_expires_in"] == idle == 600
    clock.advance(idle)
    assert _refresh(flow, tokens["refresh_token"]).get_json() == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }
    assert "error=login_required" in flow.authorize(prompt="none").headers["Location"]


def test_a_client_idle_past_its_refresh_lifetime_logs_in_again_by_sso(settings, clock):
    """``testClientSessionIdleTimeout``, ``refreshTokenClientSessionMaxLifespan``: a Client
    Session Idle (``refresh_token_lifetime``) shorter than SSO Session Idle gives refresh tokens
    of that length; past it the client's token is "Token is not active" while the SSO session,
    kept alive by another client, still lets it log in without a form, with new tokens of the
    same length."""
    app = _timed_app(settings, clock, sso_idle_timeout=1800, refresh_token_lifetime=600)
    client, flow, _ = _browser_and_idle_timeout(app)
    tokens = flow.full_login()
    assert tokens["refresh_expires_in"] == 600
    other = _second_service(app, client)
    other_tokens = other.token(other.obtain_code()["code"]).get_json()
    clock.advance(500)
    other_tokens = _refresh(other, other_tokens["refresh_token"]).get_json()
    assert other_tokens["refresh_expires_in"] == 600
    clock.advance(100)
    assert _refresh(flow, tokens["refresh_token"]).get_json()["error_description"] == (
        "Token is not active"
    )
    again = flow.token(flow.code_from(flow.authorize(prompt="none"))["code"]).get_json()
    assert again["session_state"] == tokens["session_state"]
    assert again["refresh_expires_in"] == 600


# -- Two tabs: a login page left open while another tab logged in --------------------------
# Keycloak's MultipleTabsLoginTest (docs/reference/keycloak-behaviour.md, "Login pages: two
# tabs, browser buttons, KC_RESTART").


def _txid(login_url: str) -> str:
    return parse_qs(urlsplit(login_url).query)["tx"][0]


def _login_page(flow, **params) -> str:
    """The login page of a new authorization request in this browser, opened; its URL."""
    response = flow.authorize(**params)
    login_url = response.headers["Location"]
    assert "/login-actions/authenticate" in login_url
    assert flow.http.get(login_url).status_code == 200
    return login_url


@pytest.mark.parametrize("step", ["form", "failed proof"])
def test_a_login_page_left_open_is_answered_by_the_session_another_tab_opened(flow, app, step):
    """``multipleTabsParallelLoginTest``: the first tab, used again once the second one logged
    in, goes on to the service logged in — its own request answered (its ``state``), by the
    SSO session the other tab opened — as Keycloak's login pages restart their flow
    (``authChecker.js``, ``LoginActionsService.restartSession``) and its cookie authenticator
    answers. Whatever step the first tab was at: the form, or a proof that failed."""
    left_open = _login_page(flow, state="tab1")
    if step == "failed proof":
        txid = _txid(left_open)
        transactions = app.extensions["santeid"].transactions
        transactions.move(txid, "identify", {"state": "waiting"})
        transactions.move(txid, "waiting", {"state": "failed", "failure": "denied"})
    other = flow.login(flow.authorize(state="tab2"), sandbox_professional(app))
    session_state = flow.code_from(other)["session_state"]

    answer = flow.code_from(flow.http.get(left_open))
    assert answer["state"] == "tab1"
    assert answer["session_state"] == session_state
    assert flow.token(answer["code"]).status_code == 200
    # That login is over: its page is now the page of a login that ended.
    again = flow.http.get(left_open)
    assert again.status_code == 200
    assert 'id="already-logged-in"' in again.get_data(as_text=True)


def test_a_proof_approved_while_the_session_answers_the_page_ends_the_login_its_own_way(
    flow, app, monkeypatch
):
    """The narrow race of a page left open: the SSO session another tab opened is found to
    answer it, and in that instant the page's own proof is approved. The proof ends the
    login: the session writes no code for it and no ``LOGIN`` of reason ``sso`` is recorded
    — once the code was written and recorded first, that code was never sent, yet its event
    stayed — and the approved login goes on to the service."""
    from santeid.observability.events import LOGIN
    from santeid.oidc import authorize
    from santeid.psc import proofs

    svc = app.extensions["santeid"]
    left_open = _login_page(flow, state="tab1")
    txid = _txid(left_open)
    flow.code_from(flow.login(flow.authorize(state="tab2"), sandbox_professional(app)))
    logins_before = len(svc.events.list(types=(LOGIN,)))
    session_satisfies = authorize.session_satisfies

    def approved_meanwhile(areq, authentication):
        claims = proofs.proof_claims("sandbox", svc.settings)
        assert svc.transactions.approve(txid, national_id=sandbox_professional(app), **claims)
        return session_satisfies(areq, authentication)

    monkeypatch.setattr(authorize, "session_satisfies", approved_meanwhile)
    page = flow.http.get(left_open)
    monkeypatch.undo()

    assert "Location" not in page.headers  # nothing sent to the service from the session
    assert len(svc.events.list(types=(LOGIN,))) == logins_before
    assert svc.transactions.get(txid)["state"] == "approved"
    answer = flow.code_from(flow.http.get(f"{LOGIN_ACTIONS}/complete?tx={txid}"))
    assert answer["state"] == "tab1"
    assert flow.token(answer["code"]).status_code == 200


def test_a_login_page_asking_for_a_new_login_is_not_answered_by_the_session(flow, app):
    """A request the SSO session does not answer (``prompt=login``, like ``max_age``): its page
    stays the login form, as Keycloak's restarted flow shows it again."""
    left_open = _login_page(flow, state="tab1", prompt="login")
    flow.login(flow.authorize(state="tab2"), sandbox_professional(app))
    page = flow.http.get(left_open)
    assert page.status_code == 200
    assert 'id="national_id"' in page.get_data(as_text=True)


def test_an_expired_login_page_starts_again_and_the_session_answers_it(flow, app):
    """The browser's latest login (``santeid_restart`` names it) used after its lifetime, while
    an earlier tab logged in: started again first — Keycloak 25 restarts from ``KC_RESTART``
    before it looks at the identity cookie (``SessionCodeChecks.initialVerifyAuthSession``) —
    and then answered by the SSO session: the service gets a code for that request."""
    other = flow.authorize(state="tab1")
    left_open = _login_page(flow, state="tab2")
    flow.code_from(flow.login(other, sandbox_professional(app)))
    app.extensions["santeid"].transactions.discard(_txid(left_open))

    restarted = flow.http.get(left_open)
    assert restarted.status_code == 303
    assert _txid(restarted.headers["Location"]) != _txid(left_open)
    answer = flow.code_from(flow.http.get(restarted.headers["Location"]))
    assert answer["state"] == "tab2"
    assert flow.token(answer["code"]).status_code == 200


def test_a_login_page_of_another_service_left_open_is_answered_for_that_service(flow, app, client):
    """``loginWithDifferentClients``: the page left open was another service's login; once the
    first tab logged in, it goes on to that service, with its own redirect URI and ``state``."""
    second = _second_service(app, client)
    left_open = _login_page(second, state="second")
    flow.code_from(flow.login(flow.authorize(state="first"), sandbox_professional(app)))

    answer = second.code_from(client.get(left_open))
    assert answer["state"] == "second"
    assert second.token(answer["code"]).status_code == 200


def test_a_login_page_of_a_service_removed_since_is_not_answered_by_the_session(flow, app, client):
    """The service of the page left open was removed meanwhile: nothing is sent to its redirect
    URI; the login ends on "Vous êtes déjà connecté.", as Keycloak answers a removed client's
    login URL in a browser with an SSO session (``SessionCodeChecks.initialVerifyAuthSession``:
    no session found for it, no restart, then the identity cookie), without a link back to
    it."""
    second = _second_service(app, client, client_uri=HOME)
    left_open = _login_page(second, state="second")
    flow.code_from(flow.login(flow.authorize(state="first"), sandbox_professional(app)))
    app.extensions["santeid"].clients.remove("second-service")

    page = client.get(left_open)
    assert page.status_code == 200
    assert "Location" not in page.headers
    assert 'id="already-logged-in"' in page.get_data(as_text=True)
    assert back_link(page) is None
    assert app.extensions["santeid"].transactions.get(_txid(left_open)) is None


# -- A service removed while its login pages are open ---------------------------------------
# Keycloak finds no authentication session, nor restarts one, for a client removed: its login
# actions answer as for a login no longer there (docs/reference/keycloak-behaviour.md, "Login
# pages").

LOGIN_ACTIONS = "/auth/realms/esante-wallet/login-actions"


def _removed_while_open(app, flow, step: str, remove) -> tuple[str, object]:
    """A login of ``flow``'s service taken to ``step`` in this browser (no SSO session),
    ``remove`` then run (the service removed, or its redirect URI), and the login page's next
    request at that step; its transaction id and the response."""
    login_url = flow.authorize(state="gone").headers["Location"]
    txid = _txid(login_url)
    form = flow.http.get(login_url)
    csrf = flow.csrf(form.get_data(as_text=True))
    if step == "completion":
        typed = {"national_id": sandbox_professional(app), "csrf_token": csrf}
        assert flow.http.post(login_url, data=typed).status_code == 303
    remove()
    if step == "login page":
        return txid, flow.http.get(login_url)
    if step == "identifier":
        typed = {"national_id": sandbox_professional(app), "csrf_token": csrf}
        return txid, flow.http.post(login_url, data=typed)
    if step == "completion":
        return txid, flow.http.get(f"{LOGIN_ACTIONS}/complete?tx={txid}")
    assert step == "cancel"
    return txid, flow.http.post(f"{LOGIN_ACTIONS}/cancel?tx={txid}", data={"csrf_token": csrf})


@pytest.mark.parametrize("step", ["login page", "identifier", "completion", "cancel"])
def test_a_login_whose_service_was_removed_ends_on_an_error_page(flow, app, step, monkeypatch):
    """The service is removed while its login page is open: the next step — the page, the
    identifier, the completion, the cancel — ends the login on the error page of a login no
    longer there (400, "Demande de connexion expirée"), Keycloak's ``invalidCodeMessage`` for
    a client it no longer finds: nothing sent to the removed service's redirect URI, no code
    written, the transaction used up and not started again."""
    from santeid.oidc import login_outcome

    completed = []
    monkeypatch.setattr(
        login_outcome.OidcAuthorizationSide, "complete", lambda *args: completed.append(args)
    )
    svc = app.extensions["santeid"]
    txid, response = _removed_while_open(
        app, flow, step, lambda: svc.clients.remove(flow.client["client_id"])
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Demande de connexion expirée" in response.get_data(as_text=True)
    assert completed == []
    assert svc.transactions.get(txid) is None
    again = flow.http.get(f"{LOGIN_ACTIONS}/authenticate?tx={txid}")
    assert again.status_code == 400 and "Location" not in again.headers


def test_a_login_whose_redirect_uri_the_service_no_longer_registers_ends_alike(flow, app):
    """The service still there, its ``redirect_uri`` no longer one of its own: nothing is sent
    there either (``still_answerable``; kept stricter than Keycloak, which keeps the redirect
    URI its authentication session validated)."""
    svc = app.extensions["santeid"]

    def other_uri():
        register_client(app, redirect_uris=["https://service.example.org/elsewhere"])

    txid, response = _removed_while_open(app, flow, "completion", other_uri)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert svc.transactions.get(txid) is None


def test_a_login_whose_service_was_removed_is_a_login_error_event(flow, app):
    """Operators see why the login ended: ``LOGIN_ERROR`` with Keycloak's event error
    ``client_not_found`` (docs/operations.md, "Authentication events")."""
    from santeid.observability.events import LOGIN_ERROR

    svc = app.extensions["santeid"]
    _removed_while_open(app, flow, "login page", lambda: svc.clients.remove("service-test"))
    (recorded,) = svc.events.list(types=(LOGIN_ERROR,))
    assert (recorded.client_id, recorded.reason) == ("service-test", "client_not_found")


# -- The link back to the service on a login's error pages ----------------------------------
# Keycloak's login actions know the client their URL's ``client_id`` names, or their
# authentication session's, and its error and info pages link "« Back to Application" to that
# client's Home URL (docs/reference/keycloak-behaviour.md, "Login pages").

HOME = "https://service.example.org/home"


def _service_with_home(app, http, **metadata) -> Flow:
    return Flow(app, http, register_client(app, client_uri=HOME, **metadata))


def test_a_login_page_opened_in_another_browser_links_back_to_the_service(app):
    """``LoginTest.loginWithDisabledCookies``, ``loginExpiredCodeAndExpiredCookies``: the
    login page without the browser's cookies is refused (santeid: "ouverte dans un autre
    navigateur", 403; Keycloak: "cookie not found"), and the page links back to the service's
    registered ``client_uri``, as Keycloak's links to the client its URL names."""
    flow = _service_with_home(app, app.test_client())
    login_url = flow.authorize().headers["Location"]
    page = app.test_client().get(login_url)
    assert page.status_code == 403
    assert "ouverte dans un autre navigateur" in page.get_data(as_text=True)
    assert back_link(page) == HOME
    assert "« Revenir à l'application" in html.unescape(page.get_data(as_text=True))


def test_a_login_page_in_english_links_back_in_english(app):
    flow = _service_with_home(app, app.test_client())
    login_url = flow.authorize(ui_locales="en").headers["Location"]
    page = app.test_client().get(login_url)
    assert back_link(page) == HOME
    assert "« Back to Application" in page.get_data(as_text=True)


def test_a_relative_client_uri_is_linked_from_the_issuers_origin(app):
    """A ``client_uri`` registered as a path links to it on the issuer's origin, as the
    logout's pages link it (``Client.client_uri``)."""
    http = app.test_client()
    flow = Flow(app, http, register_client(app, client_uri="/portal"))
    page = app.test_client().get(flow.authorize().headers["Location"])
    assert back_link(page) == "http://localhost/portal"


def test_a_login_of_a_service_without_client_uri_links_nowhere(flow, app):
    login_url = flow.authorize().headers["Location"]
    page = app.test_client().get(login_url)
    assert page.status_code == 403
    assert back_link(page) is None


def test_an_unknown_login_links_nowhere(app, client):
    """A login-actions URL naming no transaction this browser knows: no client known, no
    link (Keycloak: ``skipLink`` without a client)."""
    _service_with_home(app, client)
    page = client.get(f"{LOGIN_ACTIONS}/authenticate?tx=nothing-of-the-kind")
    assert page.status_code == 400
    assert back_link(page) is None


@pytest.mark.parametrize("step", ["login page", "identifier", "completion", "cancel"])
def test_a_login_whose_redirect_uri_is_gone_links_back_to_the_service(app, client, step):
    """The service still registered, with its ``client_uri``, but no longer its
    ``redirect_uri``: the page of the login ended ("Demande de connexion expirée") links back
    to the registered home page — never to the URI of the request."""
    flow = _service_with_home(app, client)

    def other_uri():
        register_client(app, client_uri=HOME, redirect_uris=["https://service.example.org/new"])

    _, response = _removed_while_open(app, flow, step, other_uri)
    assert response.status_code == 400
    assert "Demande de connexion expirée" in response.get_data(as_text=True)
    assert back_link(response) == HOME


@pytest.mark.parametrize("step", ["login page", "completion", "cancel"])
def test_a_login_whose_service_was_removed_links_nowhere(app, client, step):
    """Keycloak finds no client for a removed one: its page has no link
    (``initialVerifyAuthSession``, ``getClientByClientId`` finds none)."""
    flow = _service_with_home(app, client)
    svc = app.extensions["santeid"]
    _, response = _removed_while_open(
        app, flow, step, lambda: svc.clients.remove(flow.client["client_id"])
    )
    assert response.status_code == 400
    assert back_link(response) is None


def test_an_expired_login_the_restart_cookie_names_links_back_to_its_service(clocked_app, clock):
    """A login page past its lifetime whose login ``santeid_restart`` names, that cannot be
    started again (its service no longer registers its ``redirect_uri``): the error page knows
    the service from the cookie — Keycloak from its URL's ``client_id`` — and links back."""
    app = clocked_app
    flow = _service_with_home(app, app.test_client())
    login_url = _login_page(flow)
    clock.advance(app.extensions["santeid"].settings.login.transaction_lifetime + 1)
    register_client(app, client_uri=HOME, redirect_uris=["https://service.example.org/new"])
    page = flow.http.get(login_url)
    assert page.status_code == 400
    assert back_link(page) == HOME


def test_an_expired_login_another_login_is_remembered_for_links_nowhere(clocked_app, clock):
    """The restart cookie names another login (of another service): it is not this page's;
    Keycloak's restart from another client's cookie fails without linking to it
    (``testRestartFailureWithDifferentClientAfterAuthSessionExpiration``)."""
    app = clocked_app
    flow = _service_with_home(app, app.test_client())
    login_url = _login_page(flow)
    other = Flow(
        app,
        flow.http,
        register_client(
            app,
            client_id="second-service",
            client_uri="https://second.example.org/",
            redirect_uris=["https://second.example.org/cb"],
        ),
    )
    _login_page(other)
    clock.advance(app.extensions["santeid"].settings.login.transaction_lifetime + 1)
    page = flow.http.get(login_url)
    assert page.status_code == 400
    assert back_link(page) is None


def test_a_completion_another_request_ended_links_back_to_the_service(app, client, monkeypatch):
    """The completion of a login another request ended first (``finish`` finds it no longer
    approved): "Demande de connexion expirée", with the link back."""
    from santeid.login import views

    flow = _service_with_home(app, client)
    monkeypatch.setattr(views, "finish", lambda txid, tx, answerable, **kwargs: None)
    page = flow.login(flow.authorize(), sandbox_professional(app))
    assert page.status_code == 400
    assert back_link(page) == HOME


def test_already_logged_in_links_back_to_a_service_still_registered(app, client):
    """Keycloak's info page "already logged in" links back to the client its URL names
    (``info.ftl``): here the page of a login that ended because its service no longer
    registers its ``redirect_uri``, in a browser logged in meanwhile."""
    second = _second_service(app, client, client_uri=HOME)
    flow = Flow(app, client, register_client(app))
    left_open = _login_page(second, state="second")
    flow.code_from(flow.login(flow.authorize(state="first"), sandbox_professional(app)))
    register_client(
        app,
        client_id="second-service",
        client_uri=HOME,
        redirect_uris=["https://second.example.org/new"],
    )
    page = client.get(left_open)
    assert page.status_code == 200
    assert 'id="already-logged-in"' in page.get_data(as_text=True)
    assert back_link(page) == HOME


def test_a_bug_on_a_login_page_links_nowhere(app, client, monkeypatch):
    """What escapes a login view is Keycloak's ``KeycloakErrorHandler`` page, which knows no
    client: the 500 page has no link, though the login's service has a ``client_uri``."""
    from santeid.login import authenticators

    flow = _service_with_home(app, client)
    login_url = flow.authorize().headers["Location"]

    def broken(txid, tx):
        raise RuntimeError("bug")

    monkeypatch.setattr(authenticators, "advance", broken)
    page = client.get(login_url, headers={"Accept": "text/html"})
    assert (page.status_code, page.mimetype) == (500, "text/html")
    assert back_link(page) is None


def test_a_passive_check_in_another_tab_leaves_the_login_page_usable(flow, app):
    """``multipleTabsLoginAndPassiveCheck``: a ``prompt=none`` request in another tab while a
    login page is open gets ``login_required`` and leaves that login as it was: it goes on to
    the service."""
    first_tab = flow.authorize(state="tab1")
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"
    answer = flow.code_from(flow.login(first_tab, sandbox_professional(app)))
    assert answer["state"] == "tab1" and answer["code"]


def test_a_login_after_a_logout_in_another_tab_is_seen_by_the_first_tab(flow, app, client):
    """``testLoginAfterLogoutFromDifferentTab``: logged in, logged out from another tab, logged
    in again there: the first tab's next request is answered by the new session."""
    first = flow.full_login()
    response = client.get(f"{OIDC}/logout", query_string={"id_token_hint": first["id_token"]})
    assert response.status_code == 200  # the logged-out page, no post_logout_redirect_uri
    again = flow.full_login()
    answer = flow.code_from(flow.authorize(state="tab1"))
    assert answer["session_state"] == again["session_state"] != first["session_state"]


def test_a_new_login_page_after_one_left_to_expire_says_nothing_of_it(clocked_app, clock):
    """Keycloak's ``LoginTest.openLoginFormAfterExpiredCode``: a login page left past its
    lifetime, then a new authorization request: the new login page carries no "timed out"
    notice (that is for the expired page used again), and the login ends with a code."""
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    _login_page(flow, state="abandoned")
    clock.advance(app.extensions["santeid"].settings.login.transaction_lifetime + 1)

    fresh = flow.authorize(state="fresh")
    page = flow.http.get(fresh.headers["Location"]).get_data(as_text=True)
    assert 'id="national_id"' in page
    assert 'id="login-restarted"' not in page
    answer = flow.code_from(flow.login(fresh, sandbox_professional(app)))
    assert answer["state"] == "fresh"


@pytest.mark.parametrize("wait", [1700, "lifetime - 1"])
def test_a_login_form_sent_just_within_its_lifetime_logs_in(clocked_app, clock, wait):
    """``LoginTest.loginNoTimeoutWithLongWait``: a form posted 1700 s after its page, as
    Keycloak's test waits within its default 1800 s "Login timeout" — santeid's default
    ``login_transaction_lifetime`` — or one second before that lifetime ends, is a login, not
    a restart."""
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    authorized = flow.authorize(state="slow")
    login_url = authorized.headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    lifetime = app.extensions["santeid"].settings.login.transaction_lifetime
    clock.advance(1700 if wait == 1700 else lifetime - 1)
    posted = flow.http.post(
        login_url, data={"national_id": sandbox_professional(app), "csrf_token": flow.csrf(page)}
    )
    assert posted.status_code == 303
    assert _txid(posted.headers["Location"]) == _txid(login_url)
    answer = flow.code_from(flow.http.get(f"{LOGIN_ACTIONS}/complete?tx={_txid(login_url)}"))
    assert answer["state"] == "slow"


def test_after_the_sessions_maximum_the_form_comes_back_and_opens_a_new_session(clocked_app, clock):
    """``LoginTest.loginAfterExpiredTimeout``: past the SSO session's maximum lifetime, the
    browser's next authorization request shows the login form (not a code), and the login
    opens a session of its own."""
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    first = flow.full_login()
    clock.advance(app.extensions["santeid"].settings.login.sso_max_lifetime + 1)
    again = flow.authorize()
    assert "/login-actions/authenticate" in again.headers["Location"]
    second = flow.code_from(flow.login(again, sandbox_professional(app)))
    assert second["session_state"] != first["session_state"]

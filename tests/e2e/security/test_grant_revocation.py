"""Revoking a refresh token (RFC 7009) against a real ``santeid serve``, as Keycloak's
``TokenRevocationEndpoint.revokeClientSession`` does it (docs/reference/keycloak-behaviour.md,
"Userinfo, introspection, revocation"): the client is detached from the token's SSO session —
every grant of that client under the session ends, not only the token's — and the session
itself ends once no client is left in it, so the browser's ``prompt=none`` is answered
``login_required``. Another client's grants, and the session they keep, live on; an access
token revoked ends alone.

A replayed authorization code detaches its client the same way (Keycloak's
``AuthorizationCodeGrantType``), the session living on.

The attacker's view: a relying party that revokes what it holds (its user signed out of it)
must leave no other token of it working, nor a session that silently hands it new codes; a
code intercepted and replayed ends every grant of its client in that session."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.logout_receiver import LogoutReceiver
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import userinfo_refusal
from tests.support.operations import code_flow_client
from tests.support.operations import sandbox_login
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-revocation-tests-0123456789"
REDIRECT_URI = "https://rp.example.org/callback"
RP1, RP2 = "rp-revocation-1", "rp-revocation-2"
CLIENTS = [code_flow_client(client_id, SECRET, REDIRECT_URI) for client_id in (RP1, RP2)]
SESSION_NOT_ACTIVE = {"error": "invalid_grant", "error_description": "Session not active"}
WITHOUT_CLIENT = {
    "error": "invalid_grant",
    "error_description": "Session doesn't have required client",
}
BEFORE_CLIENT_SESSION = {
    "error": "invalid_grant",
    "error_description": "refresh token issued before the client session started",
}


#: Two clients told of the end of their sessions, by back-channel and front-channel logout.
RP_LOGOUT_1, RP_LOGOUT_2 = "rp-revocation-logout-1", "rp-revocation-logout-2"


def _frontchannel_uri(client_id: str) -> str:
    return f"https://{client_id}.example.org/frontchannel-logout"


#: Keycloak's userinfo answer to an access token whose grant ended with its client session.
SESSION_ENDED = keycloak_refusal(401, "invalid_token", "user_session_not_found")


@pytest.fixture(scope="module")
def receiver():
    with LogoutReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def server(tmp_path_factory, receiver):
    home = tmp_path_factory.mktemp("grant-revocation")
    told = [
        {
            **CLIENTS[0],
            "client_id": client_id,
            "client_name": client_id,
            "backchannel_logout_uri": f"{receiver.url}/{client_id}",
            "frontchannel_logout_uri": _frontchannel_uri(client_id),
        }
        for client_id in (RP_LOGOUT_1, RP_LOGOUT_2)
    ]
    with santeid_process(home, clients=[*CLIENTS, *told], SANTEID_STORE_URL="memory://") as server:
        yield server


def _authorize(server, session: requests.Session, client_id: str, **params):
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": secrets.token_urlsafe(8), **params}  # fmt: skip
    return session.get(f"{server.oidc}/auth", params=query, allow_redirects=False, timeout=10)


def _callback(answer: requests.Response) -> dict:
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(REDIRECT_URI), answer.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def _signed_in(server) -> tuple[requests.Session, str]:
    """A browser after a sandbox login (auto-approved) for ``RP1``, and the callback's code."""
    session = browser()
    done = sandbox_login(session, _authorize(server, session, RP1), server.env)
    return session, _callback(done)["code"]


def _tokens(server, client_id: str, code: str) -> dict:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    answer = requests.post(f"{server.oidc}/token", data=data, auth=(client_id, SECRET), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _silent(server, session: requests.Session, client_id: str) -> dict:
    """Tokens of a new grant of ``client_id`` from the browser's SSO session (``prompt=none``)."""
    return _tokens(server, client_id, _callback(_authorize(server, session, client_id,
                                                           prompt="none"))["code"])  # fmt: skip


def _refresh(server, client_id: str, tokens: dict) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    return requests.post(f"{server.oidc}/token", data=data, auth=(client_id, SECRET), timeout=10)


def _revoke(server, client_id: str, token: str) -> requests.Response:
    return requests.post(f"{server.oidc}/revoke", data={"token": token},
                         auth=(client_id, SECRET), timeout=10)  # fmt: skip


def _userinfo(server, tokens: dict) -> requests.Response:
    return requests.get(f"{server.oidc}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})  # fmt: skip


def _login_required(server, session: requests.Session, client_id: str) -> bool:
    return _callback(_authorize(server, session, client_id, prompt="none")).get("error") == (
        "login_required"
    )


def test_revoking_a_refresh_token_ends_the_clients_grants_then_the_session(server):
    session, code = _signed_in(server)
    first = _tokens(server, RP1, code)
    second = _silent(server, session, RP1)
    revoked = _revoke(server, RP1, first["refresh_token"])
    assert revoked.status_code == 200 and revoked.text == "", revoked.text
    # The other grant of the same client, in the same session, ended with it.
    assert _refresh(server, RP1, second).json() == SESSION_NOT_ACTIVE
    ended = _userinfo(server, second)
    assert userinfo_refusal(ended) == SESSION_ENDED
    # No client left in it: the SSO session is over, the browser must log in again.
    assert _login_required(server, session, RP1)
    assert _revoke(server, RP1, second["refresh_token"]).json() == {
        "error": "invalid_token",
        "error_description": "Invalid token",
    }


def test_another_clients_grants_keep_the_session_until_they_are_revoked(server):
    session, code = _signed_in(server)
    first = _tokens(server, RP1, code)
    second = _silent(server, session, RP1)
    other = _silent(server, session, RP2)
    assert _revoke(server, RP1, second["refresh_token"]).status_code == 200
    # Keycloak: the session lives on without RP1's client session.
    assert _refresh(server, RP1, first).json() == WITHOUT_CLIENT
    assert userinfo_refusal(_userinfo(server, first)) == SESSION_ENDED
    assert _refresh(server, RP2, other).status_code == 200
    assert _userinfo(server, other).status_code == 200
    # RP1 may start again from the session: a new grant, which works; its old refresh tokens
    # now meet a client session younger than they are (Keycloak's TokenManager.validateToken).
    again = _silent(server, session, RP1)
    assert _refresh(server, RP1, again).status_code == 200
    assert _refresh(server, RP1, first).json() == BEFORE_CLIENT_SESSION
    assert _refresh(server, RP1, second).json() == BEFORE_CLIENT_SESSION
    assert _revoke(server, RP2, other["refresh_token"]).status_code == 200
    assert not _login_required(server, session, RP2)  # RP1's new grant keeps it
    assert _revoke(server, RP1, again["refresh_token"]).status_code == 200
    assert _login_required(server, session, RP1)


def test_revoking_an_access_token_ends_that_token_alone(server):
    session, code = _signed_in(server)
    first = _tokens(server, RP1, code)
    second = _silent(server, session, RP1)
    assert _revoke(server, RP1, first["access_token"]).status_code == 200
    refused = _userinfo(server, first)
    assert userinfo_refusal(refused) == keycloak_refusal(
        401, "invalid_token", "Token verification failed"
    )
    assert _userinfo(server, second).status_code == 200
    assert _refresh(server, RP1, first).status_code == 200
    assert not _login_required(server, session, RP1)


def test_a_client_detached_from_the_session_is_not_told_of_its_logout(server, receiver):
    """Keycloak logs out the user session's client sessions (``AuthenticationManager.
    backchannelLogoutAll``, its front-channel logout likewise): a client that revoked its
    refresh token left the session, and its logout is none of its business — no logout token,
    no iframe; the client that stayed hears of it."""
    receiver.received.clear()
    receiver.event.clear()
    session = browser()
    done = sandbox_login(session, _authorize(server, session, RP_LOGOUT_1), server.env)
    detached = _tokens(server, RP_LOGOUT_1, _callback(done)["code"])
    staying = _silent(server, session, RP_LOGOUT_2)
    assert _revoke(server, RP_LOGOUT_1, detached["refresh_token"]).status_code == 200
    page = session.get(
        f"{server.oidc}/logout",
        params={"id_token_hint": staying["id_token"], "post_logout_redirect_uri": REDIRECT_URI},
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 200, page.text  # the front-channel iframes, then the redirect
    assert _frontchannel_uri(RP_LOGOUT_2) in page.text
    assert _frontchannel_uri(RP_LOGOUT_1) not in page.text
    assert receiver.event.wait(10), "no logout token delivered"
    time.sleep(1)  # a token for the detached client would have been queued with the other
    told = [delivery["path"] for delivery in receiver.received]
    assert told == [urlsplit(f"{receiver.url}/{RP_LOGOUT_2}").path]
    assert _login_required(server, session, RP_LOGOUT_2)


# -- a replayed authorization code (RFC 6749 §4.1.2) ---------------------------------------------
CODE_NOT_VALID = {"error": "invalid_grant", "error_description": "Code not valid"}


def _redeem(server, client_id: str, code: str, redirect_uri: str = REDIRECT_URI):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return requests.post(f"{server.oidc}/token", data=data, auth=(client_id, SECRET), timeout=10)


def test_a_replayed_code_ends_every_grant_of_its_client_in_the_session(server):
    """Keycloak's ``AuthorizationCodeGrantType``: "Attempt to use same code twice should
    invalidate existing clientSession" — the code's client is detached from the user session,
    so every grant of that client under the session ends, not only the code's. Another
    client's grant lives on, and so does the session: Keycloak removes a user session only
    when a revocation leaves it empty."""
    session, code = _signed_in(server)
    first = _tokens(server, RP1, code)
    second = _silent(server, session, RP1)
    other = _silent(server, session, RP2)
    replay = _redeem(server, RP1, code)
    assert (replay.status_code, replay.json()) == (400, CODE_NOT_VALID)
    for tokens in (first, second):
        assert _refresh(server, RP1, tokens).json() == WITHOUT_CLIENT
        assert userinfo_refusal(_userinfo(server, tokens)) == SESSION_ENDED
    assert _refresh(server, RP2, other).status_code == 200
    assert _userinfo(server, other).status_code == 200
    # The client may start again from the session: a new grant, which works.
    again = _silent(server, session, RP1)
    assert _userinfo(server, again).status_code == 200
    assert _refresh(server, RP1, again).status_code == 200


def test_a_code_spent_by_a_refusal_then_replayed_detaches_its_client_too(server):
    """A refused redemption spends the code (``OAuth2CodeParser.parseCode`` takes it out of
    the store first); presenting it again is a second use, which detaches its client from the
    session even though the code never gave tokens. The session itself, left without any
    grant, still answers ``prompt=none``."""
    session, code = _signed_in(server)
    first = _tokens(server, RP1, code)
    spent = _callback(_authorize(server, session, RP1, prompt="none"))["code"]
    refused = _redeem(server, RP1, spent, redirect_uri=REDIRECT_URI + "/other")
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "Incorrect redirect_uri",
    }
    assert _userinfo(server, first).status_code == 200  # a refusal alone ends nothing
    assert _redeem(server, RP1, spent).json() == CODE_NOT_VALID
    assert _refresh(server, RP1, first).json() == WITHOUT_CLIENT
    assert userinfo_refusal(_userinfo(server, first)) == SESSION_ENDED
    assert not _login_required(server, session, RP1)


UMA = "urn:ietf:params:oauth:grant-type:uma-ticket"
INVALID_BEARER = {"error": "invalid_grant", "error_description": "Invalid bearer token"}


def _uma(server, tokens: dict) -> requests.Response:
    """The UMA grant with the access token as its caller, as python-keycloak's
    ``uma_permissions()`` sends it: no client authentication, the token stands for it."""
    return requests.post(f"{server.oidc}/token", timeout=10,
                         data={"grant_type": UMA, "audience": RP2},
                         headers={"Authorization": f"Bearer {tokens['access_token']}"})  # fmt: skip


def test_a_dead_access_token_is_no_caller_of_the_uma_grant(server):
    """Keycloak's ``PermissionGrantType`` takes the Bearer token through its bearer-token
    authenticator, which wants the token's user session alive
    (``AuthenticationManager.verifyIdentityToken``): a token revoked, or whose grant ended, is
    401 "Invalid bearer token" — never a caller the audience lookup answers (which client ids
    exist: "Client does not support permissions" against "Unknown resource server id.")."""
    session, code = _signed_in(server)
    revoked = _tokens(server, RP1, code)
    ended = _silent(server, session, RP1)
    live = _silent(server, session, RP2)
    no_permissions = "Client does not support permissions"
    assert _uma(server, revoked).json()["error_description"] == no_permissions
    assert _revoke(server, RP1, revoked["access_token"]).status_code == 200
    answer = _uma(server, revoked)
    assert (answer.status_code, answer.json()) == (401, INVALID_BEARER)
    # RP1's refresh token revoked: its grants under the session end, RP2's lives on.
    assert _revoke(server, RP1, ended["refresh_token"]).status_code == 200
    answer = _uma(server, ended)
    assert (answer.status_code, answer.json()) == (401, INVALID_BEARER)
    assert _uma(server, live).status_code == 400

"""Refresh tokens against a real server: whoever holds one (a service, or someone who stole it)
cannot keep a session alive past ``sso_max_lifetime`` by refreshing it again and again, and
the last access token stops at the same instant; a refresh token lives no longer than its
session may stay idle (``sso_idle_timeout``), and once the session is over no token of it
works — as Keycloak's tokens end with their user session (docs/reference/keycloak-behaviour.md,
"Refresh tokens"; "Userinfo, introspection, revocation")."""

from __future__ import annotations

import contextlib
import time
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.jwt_keys import unverified_claims
from tests.support.logout_receiver import LogoutReceiver
from tests.support.oidc_flow import authorization_query
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import userinfo_refusal
from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import REDIRECT_URI
from tests.support.operations import SECRET
from tests.support.operations import browser_login
from tests.support.operations import full_login
from tests.support.operations import sandbox_professional
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

#: The session's maximum in this server, in seconds.
MAX_LIFETIME = 5
#: The idle timeout of the servers of the idle tests, in seconds.
IDLE_TIMEOUT = 4
#: Keycloak's userinfo answer to an access token whose user session is gone.
USER_SESSION_NOT_FOUND = keycloak_refusal(401, "invalid_token", "user_session_not_found")


@contextlib.contextmanager
def _restarted_shorter(tmp_path, redis_url: str, issuer: str):
    """santeid restarted on the same store with ``sso_idle_timeout`` lowered to
    :data:`IDLE_TIMEOUT`, once that time has passed: the sessions stored before are still
    there but past their new timeouts. Yields its OIDC endpoints' base under the same issuer
    (the tokens name it), served on the new server's port."""
    with santeid_process(
        tmp_path,
        log_name="shortened.log",
        SANTEID_ISSUER=issuer,
        SANTEID_STORE_URL=redis_url,
        SANTEID_SSO_IDLE_TIMEOUT=str(IDLE_TIMEOUT),
    ) as server:
        time.sleep(IDLE_TIMEOUT + 1)
        yield server.base + urlsplit(issuer).path + "/protocol/openid-connect"


def _refresh(server, refresh_token: str) -> requests.Response:
    return _refresh_at(server.oidc, refresh_token)


def _refresh_at(oidc: str, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{oidc}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(CLIENT_ID, SECRET),
        timeout=10,
    )


def test_refreshing_again_and_again_does_not_outlive_the_session(tmp_path):
    with santeid_process(
        tmp_path, clients=[CLIENT], SANTEID_SSO_MAX_LIFETIME=str(MAX_LIFETIME)
    ) as server:
        tokens = full_login(server.issuer, sandbox_professional(server.env))
        ends = time.time() + MAX_LIFETIME
        assert tokens["refresh_expires_in"] <= MAX_LIFETIME
        refreshes = 0
        while True:
            response = _refresh(server, tokens["refresh_token"])
            if response.status_code != 200:
                break
            tokens = response.json()
            refreshes += 1
            assert tokens["refresh_expires_in"] <= max(0, ends - time.time()) + 1
            assert time.time() < ends + 2, "a refresh succeeded after the session's end"
            time.sleep(0.5)
        assert refreshes >= 3  # the holder did refresh while the session lasted
        assert time.time() >= ends - 1
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        userinfo = requests.get(
            f"{server.oidc}/userinfo",
            headers={"Authorization": "Bearer " + tokens["access_token"]},
            timeout=10,
        )
        assert userinfo.status_code == 401


def _silent_authorization(oidc: str, browser: requests.Session, client_id: str = CLIENT_ID) -> dict:
    """``prompt=none`` from ``browser``: the parameters of the redirect back to the client."""
    response = browser.get(
        f"{oidc}/auth",
        params=authorization_query(client_id, REDIRECT_URI, prompt="none"),
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def _userinfo(oidc: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{oidc}/userinfo", headers={"Authorization": "Bearer " + access_token}, timeout=10
    )


def _introspection(oidc: str, token: str) -> dict:
    response = requests.post(
        f"{oidc}/token/introspect",
        data={"token": token},
        auth=(CLIENT_ID, SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _assert_over(oidc: str, browser: requests.Session, tokens: dict, refresh_refusal: str):
    """Nothing of the session of ``tokens`` works any more: its refresh token is refused with
    ``refresh_refusal``, ``prompt=none`` answers ``login_required``, userinfo finds no
    session for its access token and introspection calls both tokens inactive."""
    refused = _refresh_at(oidc, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": refresh_refusal}
    assert _silent_authorization(oidc, browser)["error"] == "login_required"
    assert userinfo_refusal(_userinfo(oidc, tokens["access_token"])) == USER_SESSION_NOT_FOUND
    assert _introspection(oidc, tokens["access_token"]) == {"active": False}
    assert _introspection(oidc, tokens["refresh_token"]) == {"active": False}


def test_an_idle_session_takes_its_tokens_with_it(tmp_path):
    """Keycloak's refresh token expires at min(now + SSO Session Idle, the session's start +
    SSO Session Max) and every refresh restarts the session's idle time: a service that keeps
    refreshing keeps the professional's SSO session alive, one that stops lets both lapse
    together — the refresh token is then "Token is not active", ``prompt=none`` answers
    ``login_required``, userinfo finds no session and introspection calls the last access
    token inactive, though its own ``exp`` has not come."""
    with santeid_process(
        tmp_path,
        clients=[CLIENT],
        SANTEID_SSO_IDLE_TIMEOUT=str(IDLE_TIMEOUT),
        SANTEID_SSO_MAX_LIFETIME="60",
    ) as server:
        tokens, browser = browser_login(server.issuer, sandbox_professional(server.env))
        assert tokens["refresh_expires_in"] == IDLE_TIMEOUT
        # Refreshing within the idle timeout keeps the session alive past it: every half of it
        # (a refresh token's exp is whole seconds, and a loaded machine answers late), three
        # times, one and a half idle timeouts in all.
        for _ in range(3):
            time.sleep(IDLE_TIMEOUT / 2)
            response = _refresh(server, tokens["refresh_token"])
            assert response.status_code == 200, response.text
            tokens = response.json()
            assert tokens["refresh_expires_in"] == IDLE_TIMEOUT
        assert "code" in _silent_authorization(server.oidc, browser)
        # Then nothing for longer than the idle timeout.
        time.sleep(IDLE_TIMEOUT + 1)
        _assert_over(server.oidc, browser, tokens, "Token is not active")


@pytest.mark.redis
def test_a_session_idle_under_a_shorter_timeout_refuses_its_refresh_tokens(tmp_path, redis_url):
    """The operator shortens ``sso_idle_timeout`` and restarts: a session idle for longer than
    the new timeout is over, though the refresh tokens issued under the old one have not
    expired — Keycloak's refresh of a session no longer valid, ``invalid_grant`` "Session not
    active" (``TokenManager.validateToken``), userinfo "user_session_not_found",
    introspection inactive."""
    with santeid_process(
        tmp_path, clients=[CLIENT], SANTEID_STORE_URL=redis_url, SANTEID_SSO_IDLE_TIMEOUT="600"
    ) as server:
        issuer = server.issuer
        tokens, browser = browser_login(issuer, sandbox_professional(server.env))
    assert tokens["refresh_expires_in"] == 600
    with _restarted_shorter(tmp_path, redis_url, issuer) as oidc:
        _assert_over(oidc, browser, tokens, "Session not active")


@pytest.mark.redis
def test_the_refresh_that_finds_a_session_over_tells_its_clients_once(tmp_path, redis_url):
    """The same restart, two services in the session, both with a ``backchannel_logout_uri``:
    userinfo refuses an access token and tells no one; the first refresh answers "Session not
    active" once every client of the session has had its logout token — Keycloak's
    ``TokenManager.validateToken`` calls ``AuthenticationManager.backchannelLogout`` on a user
    session found no longer valid (docs/reference/keycloak-behaviour.md, "An SSO session found
    over"); the refusals after it send nothing more."""
    other = {**CLIENT, "client_id": "rp-operations-2", "client_name": "RP 2"}
    with LogoutReceiver() as receiver:
        told = [{**c, "backchannel_logout_uri": f"{receiver.url}/{c['client_id']}"}
                for c in (CLIENT, other)]  # fmt: skip
        with santeid_process(
            tmp_path, clients=told, SANTEID_STORE_URL=redis_url, SANTEID_SSO_IDLE_TIMEOUT="600"
        ) as server:
            issuer = server.issuer
            tokens, browser = browser_login(issuer, sandbox_professional(server.env))
            code = _silent_authorization(server.oidc, browser, other["client_id"])["code"]
            second = requests.post(
                f"{server.oidc}/token",
                data={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": REDIRECT_URI},
                auth=(other["client_id"], SECRET),
                timeout=10,
            )  # fmt: skip
            assert second.status_code == 200, second.text
        with _restarted_shorter(tmp_path, redis_url, issuer) as oidc:
            assert _userinfo(oidc, second.json()["access_token"]).status_code == 401
            assert receiver.received == []
            refused = _refresh_at(oidc, tokens["refresh_token"])
            assert refused.json() == {
                "error": "invalid_grant",
                "error_description": "Session not active",
            }
            # Sent within the refusing request, before its answer.
            paths = sorted(delivery["path"] for delivery in receiver.received)
            assert paths == [urlsplit(c["backchannel_logout_uri"]).path for c in told]
            sids = {unverified_claims(d["form"]["logout_token"])["sid"] for d in receiver.received}
            assert sids == {unverified_claims(tokens["id_token"])["sid"]}
            _assert_over(oidc, browser, tokens, "Session not active")
            time.sleep(1)
            assert len(receiver.received) == 2

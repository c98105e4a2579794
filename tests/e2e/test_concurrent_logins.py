"""Logins answered in parallel by one SSO session, against a real server: ``santeid serve
--workers 2`` (Granian, two processes) on a Redis of its own, so that the racing requests
reach different processes and only the store ties them to the session. Keycloak's
``ConcurrentLoginTest``
(https://github.com/keycloak/keycloak/blob/c284f9ae66830df5ff869dd6f48453a992c7f340/tests/base/src/test/java/org/keycloak/tests/admin/concurrency/ConcurrentLoginTest.java;
docs/reference/keycloak-behaviour.md, "``ConcurrentLoginTest``, method by method"):

* a browser logged in once, then authorization requests of several services at once with its
  SSO cookie: each is answered straight away with a code and its own ``state``, the codes
  redeemed at once give tokens with each request's ``nonce`` in the same session, and each
  refresh token works at its first use (``concurrentLoginSingleUser``);
* the same with one service (``concurrentLoginSingleUserSingleClient``): no grant ends another;
* three browsers of three professionals at once (``concurrentLoginMultipleUsers``): each
  login's tokens name its browser's professional and session;
* each time, every grant opened in parallel belongs to its session: the logout that ends the
  session revokes them all (Keycloak counts the user session's client sessions: one per
  service, the first login's included)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.concurrency import RawRequest
from tests.support.concurrency import race_requests
from tests.support.jwt_keys import unverified_claims
from tests.support.oidc_flow import authorization_query
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import pkce_pair
from tests.support.operations import REDIRECT_URI
from tests.support.operations import browser_login
from tests.support.operations import code_flow_client
from tests.support.redis_server import RedisServer
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

#: Services logged in at once: within the server's 32 connections per address.
SERVICES = 9
SECRET = "a-long-secret-for-the-concurrent-logins-0123456789"
#: Auto-approved sandbox professionals (docs/sandbox.md), one browser each.
PROFESSIONALS = ("810000000001", "810000000002", "810000000003")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("concurrent-logins")
    clients = [code_flow_client(f"rp-{i}", SECRET) for i in range(SERVICES)]
    with (
        RedisServer() as redis,
        santeid_process(
            home, args=["--sandbox", "--workers", "2"], clients=clients,
            SANTEID_STORE_URL=redis.url,
        ) as server,
    ):  # fmt: skip
        yield server


def _logged_in_browser(server, national_id: str) -> tuple[dict, str]:
    """A browser's first login, to ``rp-0``: its tokens and its cookies as a header."""
    tokens, browser = browser_login(server.issuer, national_id, client_id="rp-0", secret=SECRET)
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies)
    return tokens, cookies


def _parallel_logins(server, logins: list[tuple[str, str]]) -> list[dict]:
    """Each ``(client_id, cookies)`` of ``logins`` an authorization request of that service in
    that browser, all at once; then their codes redeemed at once, then their refresh tokens
    used at once. Per login: the request's ``state`` and ``nonce``, the callback's parameters,
    the code's tokens and the refresh's, each answer checked a success."""
    requests_sent = []
    for client_id, cookies in logins:
        verifier, challenge = pkce_pair()
        query = authorization_query(client_id, REDIRECT_URI, code_challenge=challenge,
                                    code_challenge_method="S256")  # fmt: skip
        requests_sent.append({"client_id": client_id, "query": query, "verifier": verifier,
                              "cookies": cookies})  # fmt: skip
    authorizations = race_requests([
        RawRequest("GET", f"{server.oidc}/auth?{urlencode(sent['query'])}",
                   {"Cookie": sent["cookies"]})
        for sent in requests_sent
    ])  # fmt: skip
    for sent, answer in zip(requests_sent, authorizations, strict=True):
        assert answer.status == 302, answer.body
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        sent["callback"] = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    exchanges = race_requests([
        RawRequest("POST", f"{server.oidc}/token",
                   {**FORM, **basic_auth(sent["client_id"], SECRET)},
                   urlencode({"grant_type": "authorization_code",
                              "code": sent["callback"]["code"], "redirect_uri": REDIRECT_URI,
                              "code_verifier": sent["verifier"]}).encode())
        for sent in requests_sent
    ])  # fmt: skip
    for sent, answer in zip(requests_sent, exchanges, strict=True):
        assert answer.status == 200, (sent["client_id"], answer.body)
        sent["tokens"] = json.loads(answer.body)
    refreshes = race_requests([
        RawRequest("POST", f"{server.oidc}/token",
                   {**FORM, **basic_auth(sent["client_id"], SECRET)},
                   urlencode({"grant_type": "refresh_token",
                              "refresh_token": sent["tokens"]["refresh_token"]}).encode())
        for sent in requests_sent
    ])  # fmt: skip
    for sent, answer in zip(requests_sent, refreshes, strict=True):
        # Keycloak's LoginTask allows no retry: the first use of each refresh token works.
        assert answer.status == 200, (sent["client_id"], answer.body)
        sent["refreshed"] = json.loads(answer.body)
    return requests_sent


def _answered_by_session(logins: list[dict], sid: str, national_id: str) -> None:
    """Every login answered with its own ``state`` and ``nonce``, in the session ``sid`` of
    ``national_id``, by a code of its own; its refreshed tokens alike."""
    for login in logins:
        assert login["callback"]["state"] == login["query"]["state"]
        assert login["callback"]["session_state"] == sid
        for tokens in (login["tokens"], login["refreshed"]):
            access = unverified_claims(tokens["access_token"])
            assert (access["sid"], access["preferred_username"]) == (sid, national_id)
            # Its own login's nonce, in the ID token and (PSC's recorded shape, kept:
            # docs/reference/keycloak-behaviour.md, "Tokens") the access token, refreshed too.
            id_token = unverified_claims(tokens["id_token"])
            assert id_token["aud"] == login["client_id"]
            assert id_token["nonce"] == access["nonce"] == login["query"]["nonce"]
    assert len({login["callback"]["code"] for login in logins}) == len(logins)


def _session_ended_with_every_grant(server, first: dict, logins: list[dict]) -> None:
    """The logout of the first login's session (PSC's back-end logout: its ID token alone)
    revokes every grant the parallel logins opened in it: access tokens 401 at userinfo,
    refresh tokens ``invalid_grant``. Until then each login's last access token is answered
    (another professional's logout left it alone)."""
    for login in logins:
        bearer = {"Authorization": "Bearer " + login["refreshed"]["access_token"]}
        userinfo = requests.get(f"{server.oidc}/userinfo", headers=bearer, timeout=10)
        assert userinfo.status_code == 200, (login["client_id"], userinfo.text)
    logout = requests.get(f"{server.oidc}/logout", params={"id_token_hint": first["id_token"]},
                          timeout=10)  # fmt: skip
    assert logout.status_code == 200, logout.text
    for login in logins:
        for tokens in (login["tokens"], login["refreshed"]):
            bearer = {"Authorization": "Bearer " + tokens["access_token"]}
            userinfo = requests.get(f"{server.oidc}/userinfo", headers=bearer, timeout=10)
            assert userinfo.status_code == 401, (login["client_id"], userinfo.text)
            refreshed = requests.post(
                f"{server.oidc}/token", auth=(login["client_id"], SECRET), timeout=10,
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            )  # fmt: skip
            assert refreshed.status_code == 400, (login["client_id"], refreshed.text)
            assert refreshed.json()["error"] == "invalid_grant"


def test_services_logging_in_at_once_by_one_sso_session_each_get_their_tokens(server):
    """``concurrentLoginSingleUser``."""
    first, cookies = _logged_in_browser(server, PROFESSIONALS[0])
    sid = unverified_claims(first["access_token"])["sid"]

    logins = _parallel_logins(server, [(f"rp-{i}", cookies) for i in range(SERVICES)])

    _answered_by_session(logins, sid, PROFESSIONALS[0])
    _session_ended_with_every_grant(server, first, logins)


def test_one_service_logging_in_at_once_by_one_sso_session_keeps_every_grant(server):
    """``concurrentLoginSingleUserSingleClient``: a grant opened meanwhile for the same service
    ends none of the others."""
    first, cookies = _logged_in_browser(server, PROFESSIONALS[0])
    sid = unverified_claims(first["access_token"])["sid"]

    logins = _parallel_logins(server, [("rp-0", cookies)] * SERVICES)

    _answered_by_session(logins, sid, PROFESSIONALS[0])
    # The first login's grant too: its refresh token still works.
    again = requests.post(
        f"{server.oidc}/token", auth=("rp-0", SECRET), timeout=10,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )  # fmt: skip
    assert again.status_code == 200, again.text
    _session_ended_with_every_grant(server, first, logins)


def test_professionals_logging_in_at_once_each_get_their_own_session(server):
    """``concurrentLoginMultipleUsers``: service ``i`` in browser ``i % 3``."""
    browsers = [_logged_in_browser(server, national_id) for national_id in PROFESSIONALS]
    logins = _parallel_logins(
        server, [(f"rp-{i}", browsers[i % len(browsers)][1]) for i in range(SERVICES)]
    )

    for index, (first, _) in enumerate(browsers):
        own = logins[index :: len(browsers)]
        _answered_by_session(own, unverified_claims(first["access_token"])["sid"],
                             PROFESSIONALS[index])  # fmt: skip
        _session_ended_with_every_grant(server, first, own)

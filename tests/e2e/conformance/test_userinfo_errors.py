"""Every refusal of the userinfo endpoint, against a real ``santeid serve``, as Keycloak 25 and
later write them (``UserInfoEndpoint`` with ``OAuth2Error.json(false)``,
docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"): the status, a
``WWW-Authenticate: Bearer realm="esante-wallet"`` challenge carrying ``error`` and
``error_description`` (none without a token), and an empty ``text/plain`` body — by GET with
the ``Authorization`` header and by POST with the form's ``access_token`` alike.

A client library reads the challenge (openid-client's ``WWWAuthenticateChallengeError``
takes any response with one), so these are what a PSC integration sees on an error."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from santeid.oidc import keycloak_errors
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import userinfo_refusal
from tests.support.operations import code_flow_client
from tests.support.operations import sandbox_login
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-userinfo-tests-0123456789"
REDIRECT_URI = "https://rp.example.org/callback"
RP, GONE = "rp-userinfo", "rp-userinfo-removed"
CLIENTS = [code_flow_client(client_id, SECRET, REDIRECT_URI) for client_id in (RP, GONE)]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("userinfo-errors")
    with santeid_process(home, clients=CLIENTS, SANTEID_STORE_URL="memory://") as server:
        yield server


def _tokens(server, client_id: str = RP, scope: str = "openid scope_all") -> dict:
    """A sandbox login (auto-approved) for ``client_id`` in a fresh browser, and the code
    redeemed."""
    session = browser()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
             "scope": scope, "state": secrets.token_urlsafe(8)}  # fmt: skip
    started = session.get(f"{server.oidc}/auth", params=query, allow_redirects=False, timeout=10)
    done = sandbox_login(session, started, server.env)
    code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    answer = requests.post(f"{server.oidc}/token", data=data, auth=(client_id, SECRET), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _get(server, token: str) -> requests.Response:
    bearer = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{server.oidc}/userinfo", headers=bearer, timeout=10)


def _post(server, token: str) -> requests.Response:
    return requests.post(f"{server.oidc}/userinfo", data={"access_token": token}, timeout=10)


def _assert_refused(
    answer: requests.Response, status: int, error: str | None = None, description: str = ""
) -> None:
    """Keycloak's ``OAuth2Error.build()`` with ``json(false)``: the challenge, nothing else."""
    assert userinfo_refusal(answer) == keycloak_refusal(status, error, description), answer.text


def _both_ways(server, token: str, status: int, error: str, description: str) -> None:
    for answer in (_get(server, token), _post(server, token)):
        _assert_refused(answer, status, error, description)


def test_no_token_is_a_401_with_a_bare_challenge(server):
    """RFC 6750 §3.1 / Keycloak's ``OAuth2Error.unauthorized()``: no error code. An
    ``Authorization`` header of another scheme, or ``Bearer`` without a token, is no token; one
    in the query string is not read."""
    userinfo = f"{server.oidc}/userinfo"
    tokens = _tokens(server)
    answers = [
        requests.get(userinfo, timeout=10),
        requests.post(userinfo, timeout=10),
        requests.post(userinfo, data={"other": "x"}, timeout=10),
        requests.get(userinfo, headers={"Authorization": "Basic eDp5"}, timeout=10),
        requests.get(userinfo, headers={"Authorization": "Bearer"}, timeout=10),
        requests.get(userinfo, headers={"Authorization": "Bearer "}, timeout=10),
        requests.get(userinfo, params={"access_token": tokens["access_token"]}, timeout=10),
        # A JSON body is no form: its access_token is not read.
        requests.post(userinfo, json={"access_token": tokens["access_token"]}, timeout=10),
    ]
    for answer in answers:
        _assert_refused(answer, 401)


def test_a_token_sent_two_ways_or_twice_is_invalid_request(server):
    access = _tokens(server)["access_token"]
    userinfo = f"{server.oidc}/userinfo"
    bearer = {"Authorization": f"Bearer {access}"}
    for form_token in (access, ""):  # an empty access_token is one too
        both = requests.post(userinfo, headers=bearer, data={"access_token": form_token},
                             timeout=10)  # fmt: skip
        _assert_refused(both, 400, "invalid_request", keycloak_errors.MORE_THAN_ONE_METHOD)
    twice = requests.post(userinfo, data=f"access_token={access}&access_token={access}",
                          headers=FORM, timeout=10)  # fmt: skip
    _assert_refused(twice, 400, "invalid_request", "Duplicate parameter")
    # A header of another scheme is no token: the form's is read.
    basic = requests.post(userinfo, headers={"Authorization": "Basic eDp5"},
                          data={"access_token": access}, timeout=10)  # fmt: skip
    assert basic.status_code == 200, basic.text
    assert _get(server, access).status_code == _post(server, access).status_code == 200


def test_a_token_that_does_not_verify(server):
    """Signature, issuer, type (a refresh or an ID token is not an access token), format:
    "Token verification failed"."""
    tokens = _tokens(server)
    header, payload, signature = tokens["access_token"].split(".")
    for token in (
        "not-a-token",
        ".".join([header, payload, signature[::-1]]),
        tokens["refresh_token"],
        tokens["id_token"],
    ):
        _both_ways(server, token, 401, "invalid_token", "Token verification failed")
    # An empty form token is a token that does not verify, not a missing one.
    _assert_refused(_post(server, ""), 401, "invalid_token", "Token verification failed")


def test_an_expired_token(tmp_path):
    clients = [dict(CLIENTS[0])]
    with santeid_process(tmp_path, clients=clients, SANTEID_STORE_URL="memory://",
                         SANTEID_ACCESS_TOKEN_LIFETIME="2") as short:  # fmt: skip
        tokens = _tokens(short)
        assert _get(short, tokens["access_token"]).status_code == 200
        time.sleep(tokens["expires_in"] + 1.5)
        _both_ways(short, tokens["access_token"], 401, "invalid_token",
                   "Token verification failed")  # fmt: skip


def test_a_token_revoked_alone_then_one_whose_session_ended(server):
    """``/revoke`` of the access token: part of the token's verification. A logout (the
    refresh-token ``POST …/logout``): no user session holds the token's client any more —
    Keycloak's event code ``user_session_not_found`` as the description."""
    tokens = _tokens(server)
    revoked = requests.post(f"{server.oidc}/revoke", data={"token": tokens["access_token"]},
                            auth=(RP, SECRET), timeout=10)  # fmt: skip
    assert revoked.status_code == 200
    _both_ways(server, tokens["access_token"], 401, "invalid_token", "Token verification failed")

    tokens = _tokens(server)
    logout = requests.post(f"{server.oidc}/logout", data={"refresh_token": tokens["refresh_token"]},
                           auth=(RP, SECRET), timeout=10)  # fmt: skip
    assert logout.status_code == 204, logout.text
    _both_ways(server, tokens["access_token"], 401, "invalid_token", "user_session_not_found")


def test_a_token_without_openid_is_insufficient_scope_before_its_session(server):
    """Keycloak checks ``openid`` right after the signature: a plain OAuth 2.0 token is 403
    even once its session ended."""
    tokens = _tokens(server, scope="scope_all")
    _both_ways(server, tokens["access_token"], 403, "insufficient_scope", "Missing openid scope")
    logout = requests.post(f"{server.oidc}/logout", data={"refresh_token": tokens["refresh_token"]},
                           auth=(RP, SECRET), timeout=10)  # fmt: skip
    assert logout.status_code == 204, logout.text
    _both_ways(server, tokens["access_token"], 403, "insufficient_scope", "Missing openid scope")


def test_a_token_whose_client_was_removed(server):
    tokens = _tokens(server, GONE)
    assert _get(server, tokens["access_token"]).status_code == 200
    server.cli("clients", "remove", GONE)
    _both_ways(server, tokens["access_token"], 401, "invalid_token", "Client not found")

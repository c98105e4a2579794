"""Public clients (``token_endpoint_auth_method`` ``none``, docs/endpoints.md "Public
clients") against a real ``santeid serve``: naming a client by its ``client_id`` alone must
buy nothing that a credential protects.

The attacker knows client ids (they travel in every authorization URL) and may hold a code or
a refresh token stolen from a confidential client, or a code meant for a public client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.operations import sandbox_login
from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import REDIRECT_URI
from tests.support.security import SECRET
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

PUBLIC_ID = "application-monopage"
PUBLIC = {
    "client_id": PUBLIC_ID,
    "client_name": "Application monopage",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "none",
}
#: A second public client of the same server, which a stolen code may be presented by.
OTHER_PUBLIC = {**PUBLIC, "client_id": "autre-application", "client_name": "Autre application"}
#: A confidential client that its operator makes public while its refresh tokens live.
MADE_PUBLIC_ID = "application-devenue-publique"
MADE_PUBLIC = {**CLIENT, "client_id": MADE_PUBLIC_ID, "client_name": "Devenue publique",
               "grant_types": ["authorization_code", "refresh_token"]}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("public-clients")
    with santeid_process(
        home, clients=[CLIENT, PUBLIC, OTHER_PUBLIC, MADE_PUBLIC], SANTEID_STORE_URL="memory://"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def signed_in(server) -> requests.Session:
    """A browser with an SSO session: each authorization request then answers a code at
    once."""
    session = browser()
    verifier, challenge = _pair()
    started = _authorize(server, session, PUBLIC_ID, challenge)
    done = sandbox_login(session, started, server.env)
    assert done.headers["Location"].startswith(REDIRECT_URI), done.headers
    return session


def _pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(server, session, client_id: str, challenge: str | None) -> requests.Response:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": secrets.token_urlsafe(12)}  # fmt: skip
    if challenge:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return session.get(f"{server.oidc}/auth", params=query, allow_redirects=False, timeout=10)


def _code(server, session, client_id: str, challenge: str | None = None) -> str:
    answer = _authorize(server, session, client_id, challenge)
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def _token(server, data: dict, auth=None) -> requests.Response:
    return requests.post(f"{server.oidc}/token", data=data, auth=auth, timeout=10)


def _public_tokens(server, session) -> dict:
    verifier, challenge = _pair()
    code = _code(server, session, PUBLIC_ID, challenge)
    answer = _token(server, {"grant_type": "authorization_code", "code": code,
                             "redirect_uri": REDIRECT_URI, "client_id": PUBLIC_ID,
                             "code_verifier": verifier})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_confidential_clients_code_and_refresh_token_need_its_secret(server, signed_in):
    """A stolen code or refresh token of a confidential client, presented with its client id
    and no secret (as a public client presents its own), buys no tokens."""
    code = _code(server, signed_in, CLIENT_ID)
    stolen = _token(server, {"grant_type": "authorization_code", "code": code,
                             "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID})  # fmt: skip
    assert stolen.status_code == 401, stolen.text
    assert stolen.json()["error"] == "unauthorized_client"
    # The code was not spent by the refused attempt: its client redeems it.
    honest = _token(server, {"grant_type": "authorization_code", "code": code,
                             "redirect_uri": REDIRECT_URI}, auth=(CLIENT_ID, SECRET))  # fmt: skip
    assert honest.status_code == 200, honest.text
    refresh = honest.json()["refresh_token"]
    for auth in (None, (CLIENT_ID, "")):
        replayed = _token(server, {"grant_type": "refresh_token", "refresh_token": refresh,
                                   "client_id": CLIENT_ID}, auth=auth)  # fmt: skip
        assert replayed.status_code == 401, replayed.text
        assert replayed.json()["error"] == "unauthorized_client"
    # Nor under a public client's name.
    borrowed = _token(server, {"grant_type": "refresh_token", "refresh_token": refresh,
                               "client_id": PUBLIC_ID})  # fmt: skip
    assert borrowed.status_code == 400, borrowed.text
    assert borrowed.json()["error"] == "invalid_grant"


def test_a_public_clients_code_needs_its_verifier_and_its_client(server, signed_in):
    """PKCE is what stands between a public client's stolen code and its tokens: without the
    verifier, or presented by another public client, the code buys nothing; and a public
    client that sends no challenge gets no code."""
    verifier, challenge = _pair()
    code = _code(server, signed_in, PUBLIC_ID, challenge)
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    without = _token(server, {**base, "client_id": PUBLIC_ID})
    assert without.status_code == 400, without.text
    assert without.json()["error"] == "invalid_grant"
    other = _token(server, {**base, "client_id": OTHER_PUBLIC["client_id"],
                            "code_verifier": verifier})  # fmt: skip
    assert other.status_code == 400, other.text
    assert other.json()["error"] == "invalid_grant"
    # No challenge: refused at the authorization request (PKCE required of public clients).
    refused = _authorize(server, signed_in, PUBLIC_ID, None)
    location = refused.headers.get("Location", "")
    assert refused.status_code == 302 and location.startswith(REDIRECT_URI), refused.text
    assert parse_qs(urlsplit(location).query)["error"] == ["invalid_request"]
    assert "code" not in parse_qs(urlsplit(location).query)


def test_a_public_client_can_neither_introspect_nor_revoke_anothers_tokens(server, signed_in):
    """Introspection is refused to a public client (Keycloak's 403); revoking another
    client's token by naming oneself answers as RFC 7009 says and leaves the token valid."""
    honest = _token(server, {"grant_type": "authorization_code",
                             "code": _code(server, signed_in, CLIENT_ID),
                             "redirect_uri": REDIRECT_URI}, auth=(CLIENT_ID, SECRET))  # fmt: skip
    assert honest.status_code == 200, honest.text
    tokens = honest.json()
    introspected = requests.post(f"{server.oidc}/token/introspect", timeout=10,
                                 data={"token": tokens["access_token"],
                                       "client_id": PUBLIC_ID})  # fmt: skip
    assert introspected.status_code == 403, introspected.text
    assert introspected.json() == {"error": "invalid_request",
                                   "error_description": "Client not allowed."}  # fmt: skip
    requests.post(f"{server.oidc}/revoke", timeout=10,
                  data={"token": tokens["refresh_token"], "client_id": PUBLIC_ID})  # fmt: skip
    still = _token(server, {"grant_type": "refresh_token",
                            "refresh_token": tokens["refresh_token"]},
                   auth=(CLIENT_ID, SECRET))  # fmt: skip
    assert still.status_code == 200, still.text
    # Its own token it may revoke, by its client id alone.
    own = _public_tokens(server, signed_in)
    own_token = {"token": own["refresh_token"], "client_id": PUBLIC_ID}
    revoked = requests.post(f"{server.oidc}/revoke", data=own_token, timeout=10)
    assert revoked.status_code == 200, revoked.text
    after = _token(server, {"grant_type": "refresh_token", "refresh_token": own["refresh_token"],
                            "client_id": PUBLIC_ID})  # fmt: skip
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant", after.text


def test_a_client_made_public_keeps_its_tokens_and_its_secret_is_ignored(server, signed_in):
    """``santeid clients add --replace`` switching a confidential client to ``none`` while its
    refresh tokens live: as in Keycloak, where turning "Client authentication" off changes
    how the client authenticates, not the tokens it holds, they refresh by its client id —
    and the secret it may still send is ignored (``ClientIdAndSecretAuthenticator`` skips the
    secret of a public client), not refused."""
    code = _code(server, signed_in, MADE_PUBLIC_ID)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    honest = _token(server, exchange, auth=(MADE_PUBLIC_ID, SECRET))
    assert honest.status_code == 200, honest.text
    refresh = honest.json()["refresh_token"]
    document = {key: value for key, value in MADE_PUBLIC.items() if key != "client_secret"}
    path = server.home / "made-public.json"
    path.write_text(json.dumps({**document, "token_endpoint_auth_method": "none"}))
    server.cli("clients", "add", "--replace", str(path))
    with_secret = _token(server, {"grant_type": "refresh_token", "refresh_token": refresh},
                         auth=(MADE_PUBLIC_ID, SECRET))  # fmt: skip
    assert with_secret.status_code == 200, with_secret.text
    by_id = _token(server, {"grant_type": "refresh_token", "client_id": MADE_PUBLIC_ID,
                            "refresh_token": with_secret.json()["refresh_token"]})  # fmt: skip
    assert by_id.status_code == 200, by_id.text
    # Another client's refresh token is still not its own, whatever it sends.
    other = _public_tokens(server, signed_in)["refresh_token"]
    borrowed = _token(server, {"grant_type": "refresh_token", "refresh_token": other},
                      auth=(MADE_PUBLIC_ID, SECRET))  # fmt: skip
    assert borrowed.status_code == 400, borrowed.text
    assert borrowed.json()["error"] == "invalid_grant"


def test_a_public_client_gets_no_service_token(server):
    """``client_credentials`` by a public client's id, with or without a made-up secret:
    refused as Keycloak's ``ClientCredentialsGrantType`` refuses it, 401
    ``unauthorized_client`` "Public client not allowed to retrieve service account"."""
    for auth in (None, (PUBLIC_ID, "a-made-up-secret")):
        refused = _token(server, {"grant_type": "client_credentials", "client_id": PUBLIC_ID},
                         auth=auth)  # fmt: skip
        assert refused.status_code == 401, refused.text
        assert refused.json() == {"error": "unauthorized_client",
                                  "error_description": "Public client not allowed to retrieve "
                                                       "service account"}  # fmt: skip
        assert "access_token" not in refused.text

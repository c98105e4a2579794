"""PKCE (RFC 7636) against a real ``santeid serve``: a code issued for a ``code_challenge`` buys
no tokens without the verifier that made it, and a verifier sent for a code issued without a
challenge is refused too (RFC 9700 §4.8), each with Keycloak's ``invalid_grant`` text
(docs/reference/keycloak-behaviour.md, "Token endpoint").

The thief holds the code (a log, a ``Referer``, a malicious app on the redirect URI) and
presents it as the client does — here with the client's own credentials, so that PKCE alone
stands in the way."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from santeid.oidc import keycloak_errors
from tests.support.operations import sandbox_login
from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import REDIRECT_URI
from tests.support.security import SECRET
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

#: Another relying party of the same server, which a stolen code may be presented by.
OTHER_CLIENT = {**CLIENT, "client_id": "rp-security-other", "client_name": "Autre RP"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("pkce")
    clients = [CLIENT, OTHER_CLIENT]
    with santeid_process(home, clients=clients, SANTEID_STORE_URL="memory://") as server:
        yield server


@pytest.fixture(scope="module")
def signed_in(server) -> requests.Session:
    """A browser with an SSO session: each authorization request then answers a code at
    once."""
    session = browser()
    done = sandbox_login(session, _authorize(server, session), server.env)
    assert done.headers["Location"].startswith(REDIRECT_URI), done.headers
    return session


def _authorize(server, session: requests.Session, **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": secrets.token_urlsafe(12), **params}  # fmt: skip
    return session.get(f"{server.oidc}/auth", params=query, allow_redirects=False, timeout=10)


def _code(server, session: requests.Session, **params: str) -> str:
    answer = _authorize(server, session, **params)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT_URI)
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def _exchange(server, code: str, auth=(CLIENT_ID, SECRET), **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    return requests.post(f"{server.oidc}/token", data={**data, **extra},
                         auth=auth, timeout=10)  # fmt: skip


def _pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_stolen_code_without_the_right_verifier_buys_nothing(server, signed_in):
    verifier, challenge = _pair()
    s256 = {"code_challenge": challenge, "code_challenge_method": "S256"}
    plain_verifier = secrets.token_urlsafe(48)
    plain = {"code_challenge": plain_verifier, "code_challenge_method": "plain"}
    attempts = [
        (s256, {}, keycloak_errors.PKCE_VERIFIER_NOT_SPECIFIED),
        (s256, {"code_verifier": "x" * 43}, keycloak_errors.PKCE_CODE_MISMATCH),
        (s256, {"code_verifier": _pair()[0]}, keycloak_errors.PKCE_CODE_MISMATCH),
        (s256, {"code_verifier": challenge}, keycloak_errors.PKCE_CODE_MISMATCH),
        (s256, {"code_verifier": ""}, keycloak_errors.PKCE_INVALID_CODE_VERIFIER),
        (s256, {"code_verifier": "short"}, keycloak_errors.PKCE_INVALID_CODE_VERIFIER),
        (plain, {"code_verifier": secrets.token_urlsafe(48)}, keycloak_errors.PKCE_CODE_MISMATCH),
        ({}, {"code_verifier": verifier}, keycloak_errors.PKCE_VERIFIER_WITHOUT_CHALLENGE),
        ({}, {"code_verifier": ""}, keycloak_errors.PKCE_VERIFIER_WITHOUT_CHALLENGE),
    ]
    for challenge_params, presented, description in attempts:
        code = _code(server, signed_in, **challenge_params)
        refused = _exchange(server, code, **presented)
        assert refused.status_code == 400, (challenge_params, presented, refused.text)
        assert refused.json() == {"error": "invalid_grant", "error_description": description}

    # The controls: the right verifier, and no PKCE at all, buy tokens.
    assert _exchange(server, _code(server, signed_in, **s256), code_verifier=verifier).ok
    assert _exchange(server, _code(server, signed_in, **plain), code_verifier=plain_verifier).ok
    assert _exchange(server, _code(server, signed_in)).ok


def test_a_refused_redemption_spends_the_code(server, signed_in):
    """Keycloak takes the code out of its store as it parses it (``OAuth2CodeParser.parseCode``,
    docs/reference/keycloak-behaviour.md, "Token endpoint"): a request refused after the code
    was found — a wrong verifier, another ``redirect_uri``, another client, a verifier for a
    code without challenge — has spent it, and the rightful request that follows is "Code not
    valid". A thief's guess costs the client its code, never buys the tokens."""
    verifier, challenge = _pair()
    s256 = {"code_challenge": challenge, "code_challenge_method": "S256"}
    right = {"code_verifier": verifier}
    other = (OTHER_CLIENT["client_id"], SECRET)
    attempts = [
        (s256, {"code_verifier": _pair()[0]}, {}, keycloak_errors.PKCE_CODE_MISMATCH),
        (s256, {"code_verifier": "short"}, {}, keycloak_errors.PKCE_INVALID_CODE_VERIFIER),
        (s256, {}, {}, keycloak_errors.PKCE_VERIFIER_NOT_SPECIFIED),
        (s256, {"redirect_uri": REDIRECT_URI + "/x", **right}, {},
         keycloak_errors.INCORRECT_REDIRECT_URI),
        (s256, right, {"auth": other}, keycloak_errors.CODE_OF_ANOTHER_CLIENT),
        ({}, {"code_verifier": verifier}, {}, keycloak_errors.PKCE_VERIFIER_WITHOUT_CHALLENGE),
    ]  # fmt: skip
    for challenge_params, presented, sent, description in attempts:
        code = _code(server, signed_in, **challenge_params)
        refused = _exchange(server, code, **presented, **sent)
        assert refused.status_code == 400, (presented, refused.text)
        assert refused.json() == {"error": "invalid_grant", "error_description": description}
        retry = _exchange(server, code, **(right if challenge_params else {}))
        assert retry.status_code == 400, (presented, retry.text)
        assert retry.json() == {
            "error": "invalid_grant",
            "error_description": keycloak_errors.CODE_NOT_VALID,
        }

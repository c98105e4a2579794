"""pyjwt-key-fetcher 0.8 (PyPI ``pyjwt-key-fetcher``,
https://github.com/ioxiocom/pyjwt-key-fetcher), the async key discovery of PyJWT users, in a
resource server checking a real ``santeid serve``'s tokens over HTTPS: an aiohttp API
(tests/e2e/pyjwt_key_fetcher/api.py) with ``AsyncKeyFetcher(valid_issuers=[<the realm>])``,
``await fetcher.get_key(token)`` and ``jwt.decode(token, **key, issuer=…)``, as the library's
README has it. The tokens are a professional's, from a login at santeid's sandbox
(tests/support/http_login.py).

The library's aiohttp, aiocache and cachetools are none of the project's: the API runs as its own
process from a virtual environment beside its file (``tests/e2e/pyjwt_key_fetcher/.venv``,
git-ignored), installed once from the hashed lock ``tests/e2e/pyjwt_key_fetcher/requirements.txt``
(:func:`install_locked_venv`). Its aiohttp trusts santeid's development authority through
``SSL_CERT_FILE``, nothing insecure switched on.

What the library does, read in its source (``pyjwt_key_fetcher/fetcher.py``, ``provider.py``,
``key.py``): it reads ``kid`` from the token's header and ``iss`` from its unverified claims,
refuses an ``iss`` outside ``valid_issuers`` (``JWTInvalidIssuerError``) before fetching anything,
fetches ``iss`` + ``/.well-known/openid-configuration`` once per issuer (kept with the issuer's
entry, ``cache_ttl`` 3600 s), then the document's ``jwks_uri``; a key, once built, is kept by
``kid`` for as long. A ``kid`` it has not seen fetches the JWK Set again — through
``@aiocache.cached(ttl=300)``, so at most once every 300 s, which cannot be changed: within them
it gets the set it holds, and refuses the token (``JWTKeyNotFoundError``) without a request. The
key's algorithms are the JWK's ``alg``, which santeid publishes (docs/keys.md, "The JWK Set").

PSC's access tokens carry no ``aud`` and name the service in ``azp``; ID tokens have the service
as ``aud`` (docs/reference/pro-sante-connect.md §6)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from tests.support.http_login import logged_in_tokens
from tests.support.jwt_keys import forged
from tests.support.jwt_keys import kid_of
from tests.support.jwt_keys import rotated
from tests.support.jwt_keys import signed_with
from tests.support.python_venv import install_locked_venv
from tests.support.redis_server import free_port
from tests.support.servers import code_flow_client
from tests.support.servers import https_sandbox_process
from tests.support.servers import running_server

FOLDER = Path(__file__).resolve().parent / "pyjwt_key_fetcher"

pytestmark = [
    pytest.mark.server,
    # The first test waits for the virtual environment's install (once per checkout).
    pytest.mark.timeout(900),
]

CLIENT_ID = "pyjwt-key-fetcher-service"
SECRET = "a-long-secret-for-the-key-fetcher-service-1"
REDIRECT_URI = "https://service.example.org/callback"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once.
PROFESSIONAL = "810000000030"


@pytest.fixture(scope="module")
def python() -> Path:
    return install_locked_venv(FOLDER, "pyjwt_key_fetcher")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with https_sandbox_process(
        tmp_path_factory.mktemp("pyjwt-key-fetcher-santeid"), SANTEID_STORE_URL="memory://"
    ) as process:
        process.add_client(code_flow_client(CLIENT_ID, SECRET, REDIRECT_URI))
        yield process


@pytest.fixture(scope="module")
def api(python, server, tmp_path_factory) -> str:
    """The API on a free port of ``127.0.0.1``, its aiohttp trusting santeid's development
    authority alone (``SSL_CERT_FILE``); its origin."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SANTEID_", "PYTHON"))},
        "PYJWT_KEY_FETCHER_API": json.dumps({"port": port, "issuer": server.issuer}),
        "SSL_CERT_FILE": server.ca,
    }
    origin = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("pyjwt-key-fetcher-api") / "api.log"
    command = [str(python), str(FOLDER / "api.py")]
    with running_server(command, env, log, f"{origin}/health", cwd=FOLDER):
        yield origin
    assert "Traceback" not in log.read_text(), log.read_text()


def browser_for(server) -> requests.Session:
    """A browser trusting santeid's development authority."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = server.ca
    return browser


def login_tokens(server, browser: requests.Session | None = None) -> dict:
    """The token answer of a professional's login for the service (``browser``: one that
    may hold santeid's SSO cookie already)."""
    return logged_in_tokens(
        server.oidc, CLIENT_ID, SECRET, REDIRECT_URI, PROFESSIONAL,
        browser or browser_for(server), verify=server.ca,
    )  # fmt: skip


def checked(api: str, fetcher: str, token: str, audience: str | None = None) -> requests.Response:
    """The API's answer for ``token`` checked by its fetcher named ``fetcher``."""
    sent = {"token": token, "fetcher": fetcher, "audience": audience}
    return requests.post(f"{api}/decode", json=sent, timeout=30)


def verified(api: str, fetcher: str, token: str, audience: str | None = None) -> dict:
    answer = checked(api, fetcher, token, audience)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refusal(api: str, fetcher: str, token: str) -> dict:
    answer = checked(api, fetcher, token)
    assert answer.status_code == 401, answer.text
    return answer.json()


def fetched(api: str, fetcher: str) -> list[dict]:
    """What the fetcher's HTTP client fetched from santeid: each URL, and the ``kid`` of the
    keys of each JWK Set."""
    return requests.get(f"{api}/fetched", params={"fetcher": fetcher}, timeout=10).json()


def end_rate_limit(api: str) -> None:
    """The library's 300 s between two fetches of a JWK Set over (api.py says how)."""
    requests.post(f"{api}/rate-limit-over", timeout=10).raise_for_status()


def published_kids(server) -> list[str]:
    """The ``kid`` of every key santeid's JWK Set publishes now."""
    keys = requests.get(f"{server.oidc}/certs", verify=server.ca, timeout=10).json()["keys"]
    return [key["kid"] for key in keys]


def test_a_login_s_access_and_id_tokens_verify(server, api):
    """The library finds the realm's discovery document from the token's ``iss``, the JWK Set
    from its ``jwks_uri`` and the key by ``kid`` (RS256, the JWK's ``alg``): the access token
    verifies with no audience — PSC's have none, and an audience makes PyJWT refuse them —,
    its ``azp`` the service; the ID token verifies with the service as audience. Both from
    the one fetch of each document."""
    tokens = login_tokens(server)
    access = verified(api, "login", tokens["access_token"])
    assert access["kid"] == kid_of(tokens["access_token"])
    assert access["algorithms"] == ["RS256"]
    claims = access["claims"]
    assert claims["iss"] == server.issuer
    assert claims["azp"] == CLIENT_ID and claims["typ"] == "Bearer"
    assert claims["preferred_username"] == PROFESSIONAL
    assert "aud" not in claims

    id_token = verified(api, "login", tokens["id_token"], audience=CLIENT_ID)["claims"]
    assert id_token["aud"] == CLIENT_ID and id_token["typ"] == "ID"
    assert id_token["sub"] == claims["sub"]

    with_audience = checked(api, "login", tokens["access_token"], audience=CLIENT_ID)
    assert with_audience.status_code == 401
    assert with_audience.json()["error"] == "MissingRequiredClaimError"

    kids = published_kids(server)
    assert fetched(api, "login") == [
        {"url": f"{server.issuer}/.well-known/openid-configuration", "kids": None},
        {"url": f"{server.oidc}/certs", "kids": kids},
    ]


def test_a_token_of_another_issuer_is_refused_before_any_fetch(server, api):
    """An ``iss`` not in ``valid_issuers`` (another realm's): the library refuses the token
    (``JWTInvalidIssuerError``) and fetches nothing from that issuer, whose discovery
    document it would otherwise read."""
    token = login_tokens(server)["access_token"]
    other_realm = server.issuer.replace("esante-wallet", "another-realm")
    refused = refusal(api, "issuer", forged(token, kid_of(token), iss=other_realm))
    assert refused == {
        "error": "JWTInvalidIssuerError",
        "message": f"Invalid 'iss': '{other_realm}'",
    }
    assert fetched(api, "issuer") == []
    assert verified(api, "issuer", token)["claims"]["iss"] == server.issuer


def test_a_kid_santeid_does_not_publish_is_refused(server, api):
    """A ``kid`` the JWK Set lacks: within 300 s of its last fetch the library refuses the
    token from the set it holds, asking santeid nothing; after them it fetches the set again,
    santeid answers it as before (its keys, not that one), and the token is refused
    (``JWTKeyNotFoundError``). A token under santeid's own ``kid`` signed by another key fails
    PyJWT's signature check."""
    token = login_tokens(server)["access_token"]
    verified(api, "unknown-kid", token)
    assert len(fetched(api, "unknown-kid")) == 2

    unknown = forged(token, "a-kid-santeid-never-published")
    assert refusal(api, "unknown-kid", unknown)["error"] == "JWTKeyNotFoundError"
    assert len(fetched(api, "unknown-kid")) == 2

    end_rate_limit(api)
    assert refusal(api, "unknown-kid", unknown)["error"] == "JWTKeyNotFoundError"
    again = fetched(api, "unknown-kid")
    assert again[2:] == [{"url": f"{server.oidc}/certs", "kids": published_kids(server)}]
    assert kid_of(token) in again[2]["kids"]

    refused = refusal(api, "unknown-kid", forged(token, kid_of(token)))
    assert refused["error"] == "InvalidSignatureError"


def test_a_rotation_keeps_the_running_api_verifying(server, api):
    """``santeid keys rotate``: the new key signs at once. The API's fetcher, holding the set
    from before, refuses the new key's token while its 300 s since that fetch last; after
    them it fetches the set again for the new ``kid`` and verifies it. A token signed before
    the rotation still verifies — with the fetcher's kept key, and with a new fetcher reading
    santeid's set now, which still publishes the retired key (docs/keys.md, "Rotation")."""
    browser = browser_for(server)
    before = login_tokens(server, browser)["access_token"]
    verified(api, "rotation", before)
    new_kid = rotated(server)
    after = signed_with(new_kid, lambda: login_tokens(server, browser)["access_token"])

    assert refusal(api, "rotation", after)["error"] == "JWTKeyNotFoundError"
    assert len(fetched(api, "rotation")) == 2
    end_rate_limit(api)
    assert verified(api, "rotation", after)["claims"]["preferred_username"] == PROFESSIONAL
    refetch = fetched(api, "rotation")[2]
    assert refetch == {"url": f"{server.oidc}/certs", "kids": published_kids(server)}
    assert {new_kid, kid_of(before)} <= set(refetch["kids"])

    assert verified(api, "rotation", before)["kid"] == kid_of(before) != new_kid
    assert verified(api, "after-rotation", before)["kid"] == kid_of(before)
    assert kid_of(before) in fetched(api, "after-rotation")[1]["kids"]


def test_a_key_published_first_needs_no_fetch_at_the_rotation(server, api):
    """``santeid keys prepare`` publishes the next key before it signs: a fetcher that fetched
    the set since then verifies the rotated key's tokens from what it holds, with no request;
    one that fetched it just before the ``prepare`` refuses them until its 300 s are over. So
    a ``rotate`` at least 300 s after ``prepare`` breaks no running fetcher."""
    browser = browser_for(server)
    token = login_tokens(server, browser)["access_token"]
    verified(api, "before-prepare", token)
    next_kid = rotated(server, "prepare")
    verified(api, "after-prepare", token)
    assert next_kid in fetched(api, "after-prepare")[1]["kids"]

    assert rotated(server) == next_kid
    rotated_token = signed_with(next_kid, lambda: login_tokens(server, browser)["access_token"])
    assert verified(api, "after-prepare", rotated_token)["kid"] == next_kid
    assert len(fetched(api, "after-prepare")) == 2
    assert refusal(api, "before-prepare", rotated_token)["error"] == "JWTKeyNotFoundError"
    assert len(fetched(api, "before-prepare")) == 2

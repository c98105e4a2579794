"""A hapi service logging professionals in with @hapi/bell 13 (https://github.com/hapijs/bell,
hapi's third-party login plugin), pointed at a real ``santeid serve`` over HTTPS by the
realm's URL alone and driven over plain HTTP (tests/support/http_login.py).

The service is ``tests/e2e/hapi_bell/app.js``. bell has no Keycloak provider among its
built-in ones, so the service declares the custom OAuth2 provider bell's API reference
describes (https://hapi.dev/module/bell/api/, "provider"): ``protocol: "oauth2"``, Keycloak's
``auth`` and ``token`` endpoints under the realm's URL, ``scope: ["openid", "scope_all"]``,
``pkce: "S256"`` and a ``profile`` function that reads userinfo (bell's ``get``, the access
token as Bearer) and the ID token of the token answer; the strategy adds ``providerParams:
{acr_values: "eidas1"}``, ``isSecure: false`` (the service is plain HTTP) and its
``location``. bell's redirect URI is the route it protects (``/login``), which both starts the
login and receives the callback.

bell is an OAuth 2.0 client, not an OpenID Connect one: it sends no ``nonce`` and verifies no
ID token (the profile function reads it as it came over TLS from the token endpoint), sends
the client secret with HTTP Basic (``useParamsAuth`` off, its default), and reads neither RFC
9207's ``iss`` nor the ``state`` of an answer carrying ``error=access_denied``. Its locked
dependencies are installed with ``npm ci`` into the folder's git-ignored ``node_modules`` the
first time."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.http_login import login_from_service
from tests.support.http_login import login_to_callback
from tests.support.node import https_login_service
from tests.support.node import needs_node_and_npm
from tests.support.security import browser as new_browser
from tests.support.servers import https_sandbox_process

APP_DIR = Path(__file__).resolve().parent / "hapi_bell"

pytestmark = [pytest.mark.server, needs_node_and_npm]

CLIENT_ID = "hapi-bell-service"
SECRET = "a-long-secret-for-the-hapi-bell-service-1"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: bell's route: it starts the login and is the redirect URI.
LOGIN = "/login"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``santeid serve`` over HTTPS with a development certificate, as PSC answers."""
    home = tmp_path_factory.mktemp("hapi-bell")
    with https_sandbox_process(home, SANTEID_STORE_URL="memory://") as process:
        yield process


def bell_service(server, folder: Path, client_id: str, secret: str = SECRET):
    """The service, registered at santeid (bell's redirect URI), started with the realm's URL
    and the client secret ``secret``; its origin."""
    return https_login_service(
        server, APP_DIR / "app.js", "@hapi/bell", folder / f"{client_id}.log",
        client_id=client_id, registered_secret=SECRET, secret=secret, callbacks=[LOGIN],
        REALM=server.issuer, COOKIE_PASSWORD="a-password-of-32-characters-or-more-for-bell",
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    with bell_service(server, tmp_path_factory.mktemp("hapi-bell-log"), CLIENT_ID) as origin:
        yield origin


def login(server, site: str, national_id: str = PROFESSIONAL, *, refused: bool = False,
          **changes: str) -> requests.Response:  # fmt: skip
    """A whole login over HTTP: bell's ``/login``, the authorization URL with ``changes`` made
    to its query, santeid's login, the callback brought back to bell; the service's answer."""
    http = new_browser(server.ca)
    returned = login_from_service(
        http, site + LOGIN, site + LOGIN, national_id, refused=refused, **changes
    )
    return http.get(returned, timeout=10)


def failed(server, site: str, national_id: str = PROFESSIONAL, **changes: str) -> dict:
    """A login bell refuses (the route's ``mode: "try"`` hands its error to the handler):
    bell's message and data."""
    answer = login(server, site, national_id, **changes)
    assert answer.status_code == 401, answer.text
    return answer.json()["error"]


def test_the_authorization_request_of_the_custom_provider(server, site):
    """bell sends the browser to Keycloak's authorization path of the realm with PSC's scopes
    (space-separated), ``acr_values`` from ``providerParams``, its ``state`` (22 random
    characters) and PKCE S256, and keeps the verifier in its encrypted cookie; no ``nonce``."""
    sent = requests.get(site + LOGIN, allow_redirects=False, timeout=10)
    assert sent.status_code == 302, sent.text
    assert sent.cookies.get("bell-psc")
    url = urlsplit(sent.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.oidc}/auth"
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    state, challenge = query.pop("state"), query.pop("code_challenge")
    assert len(state) == 22 and len(challenge) == 43  # base64url of a SHA-256 digest
    assert query == {
        "acr_values": "eidas1",
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": site + LOGIN,
        "scope": "openid scope_all",
        "code_challenge_method": "S256",
    }


def test_the_login_gives_the_tokens_and_pscs_profile(server, site):
    """bell checks the ``state`` against its cookie, exchanges the code (Basic, the PKCE
    verifier) and runs the profile function: the credentials hold the access and refresh
    tokens and the profile built from userinfo and the ID token — PSC's claims, ``acr``
    ``eidas1``; the artifacts are the token answer as it came. The challenge bell sent is the
    hash of the verifier santeid checked, or the exchange would have failed (next tests)."""
    answer = login(server, site)
    assert answer.status_code == 200, answer.text
    credentials, artifacts = answer.json()["credentials"], answer.json()["artifacts"]
    assert credentials["provider"] == "psc"
    assert credentials["token"] == artifacts["access_token"]
    assert credentials["refreshToken"] == artifacts["refresh_token"]
    assert credentials["expiresIn"] == artifacts["expires_in"] > 0
    assert artifacts["token_type"] == "Bearer" and artifacts["scope"] == "openid scope_all"
    profile = credentials["profile"]
    assert profile["nationalId"] == PROFESSIONAL and profile["lastName"] == "ARNAUD"
    assert profile["acr"] == "eidas1" and profile["sid"] == artifacts["session_state"]
    id_token = profile["idToken"]
    assert id_token["iss"] == server.issuer and id_token["aud"] == CLIENT_ID
    assert id_token["typ"] == "ID" and id_token["sub"] == profile["id"]
    assert "nonce" not in id_token  # bell sends none
    # The ID token's at_hash is this access token's: bell's pair, not another login's.
    digest = hashlib.sha256(credentials["token"].encode()).digest()[:16]
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_changed_state_is_bells_incorrect_state(server, site):
    """The ``state`` changed on its way to santeid: santeid returns it as received, and bell
    refuses the callback against its cookie before any token request."""
    assert failed(server, site, state="another-state-of-22-ch") == {
        "message": "Incorrect psc state parameter",
        "data": None,
    }


def test_a_changed_code_challenge_fails_the_exchange(server, site):
    """The PKCE challenge changed on its way: bell's verifier no longer matches, and the
    exchange is Keycloak's ``invalid_grant`` "PKCE verification failed: Code mismatch": bell's
    "Failed obtaining psc access token" wraps @hapi/wreck's error for the 400, whose data is
    the server's body (the service shows it)."""
    assert failed(server, site, code_challenge="x" * 43) == {
        "message": "Failed obtaining psc access token",
        "data": {
            "error": "invalid_grant",
            "error_description": "PKCE verification failed: Code mismatch",
        },
    }


def test_a_login_refused_on_the_phone_is_bells_app_rejected(server, site):
    """The professional refuses on the sandbox phone and gives up: the callback brings
    Keycloak's ``access_denied`` without ``error_description``, the ``state`` and RFC 9207's
    ``iss``; bell reads ``error`` alone and refuses the login with "No information provided"
    (it would quote an ``error_description``)."""
    http = new_browser(server.ca)
    sent = http.get(site + LOGIN, allow_redirects=False, timeout=10)
    returned = login_to_callback(
        http, sent.headers["Location"], site + LOGIN, DENYING, refused=True
    )
    query = parse_qs(urlsplit(returned).query)
    assert query["error"] == ["access_denied"] and query["iss"] == [server.issuer]
    assert "error_description" not in query and query["state"]
    answer = http.get(returned, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"] == {
        "message": "App rejected: No information provided",
        "data": None,
    }


def test_a_wrong_client_secret_is_santeids_unauthorized_client(server, tmp_path):
    """A service started with a wrong client secret: the exchange is Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/psc-integration.md §5.1), handed over as bell's error's data."""
    with bell_service(server, tmp_path, "hapi-bell-wrong-secret", "not-the-secret") as origin:
        assert failed(server, origin) == {
            "message": "Failed obtaining psc access token",
            "data": {
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials",
            },
        }

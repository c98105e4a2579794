"""An Express service logging professionals in with grant 5.4 (https://github.com/simov/grant,
the OAuth proxy middleware for Express, Koa, Hapi…) and its ``keycloak`` provider, pointed
at a real ``santeid serve`` over HTTPS by the realm's host and path alone and driven over
plain HTTP (tests/support/http_login.py).

The service is ``tests/e2e/grant/app.js``. grant's ``keycloak`` provider has its URLs as
``https://[subdomain]/protocol/openid-connect/…`` (authorization, token, and userinfo for
the profile), so the realm's URL without its scheme is the ``subdomain``
(``<host>/auth/realms/esante-wallet``); the rest is grant's README: ``origin``,
``transport: "session"``, ``state``, ``key`` and ``secret``, ``scope: ["openid",
"scope_all"]``, ``custom_params: {acr_values: "eidas1"}``, ``nonce``, ``pkce`` (S256, its
only method), and ``response: ["tokens", "jwt", "profile"]``. Its redirect URI is its own,
``<origin>/connect/keycloak/callback``; the service's ``/done`` shows what grant left in the
session.

grant sends the secret in the form body (``client_secret_post``, its default; the client is
registered for ``client_secret_basic`` and santeid, as Keycloak, accepts either), decodes the
ID token without verifying its signature (its README: "does not verify the signature") and
checks its ``aud`` and ``nonce``; it reads neither RFC 9207's ``iss`` nor ``error`` (an
answer without ``code`` is handed over as it came). Its locked dependencies are installed
with ``npm ci`` into the folder's git-ignored ``node_modules`` the first time."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.support.http_login import login_from_service
from tests.support.node import https_login_service
from tests.support.node import needs_node_and_npm
from tests.support.security import browser as new_browser
from tests.support.servers import https_sandbox_process

APP_DIR = Path(__file__).resolve().parent / "grant"

pytestmark = [pytest.mark.server, needs_node_and_npm]

CLIENT_ID = "grant-service"
SECRET = "a-long-secret-for-the-grant-service-00001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: grant's routes: the one that starts a login, its redirect URI.
START = "/connect/keycloak"
CALLBACK = "/connect/keycloak/callback"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``santeid serve`` over HTTPS with a development certificate, as PSC answers (grant's
    ``keycloak`` URLs are ``https://``)."""
    home = tmp_path_factory.mktemp("grant")
    with https_sandbox_process(home, SANTEID_STORE_URL="memory://") as process:
        yield process


def grant_service(server, folder: Path, client_id: str, secret: str = SECRET,
                  metadata: dict | None = None, **env: str):  # fmt: skip
    """The service, registered at santeid (grant's redirect URI; ``metadata`` over the
    defaults), started with the realm's URL without its scheme as ``subdomain``, the client
    secret ``secret`` and ``env``; its origin."""
    return https_login_service(
        server, APP_DIR / "app.js", "grant", folder / f"{client_id}.log",
        client_id=client_id, registered_secret=SECRET, secret=secret, callbacks=[CALLBACK],
        metadata=metadata, REALM_HOST=server.issuer.removeprefix("https://"),
        SESSION_SECRET="a-long-secret-for-the-grant-session-cookie", **env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    with grant_service(server, tmp_path_factory.mktemp("grant-log"), CLIENT_ID) as origin:
        yield origin


def response(server, site: str, national_id: str = PROFESSIONAL, *, refused: bool = False,
             **changes: str) -> dict:  # fmt: skip
    """A whole login over HTTP — grant's ``/connect/keycloak``, the authorization URL with
    ``changes`` made to its query, santeid's login, grant's callback, which sends the
    browser to ``/done`` — and what grant left in the session there."""
    http = new_browser(server.ca)
    returned = login_from_service(
        http, site + START, site + CALLBACK, national_id, refused=refused, **changes
    )
    done = http.get(returned, timeout=10)
    assert done.status_code == 200 and done.url == f"{site}/done", done.text
    return done.json()


def test_the_authorization_request_of_the_keycloak_provider(server, site):
    """grant's ``keycloak`` provider sends the browser to Keycloak's authorization path under
    the ``subdomain``, with PSC's scopes (space-separated), ``acr_values`` from
    ``custom_params``, its ``state`` and ``nonce``, and PKCE S256 (the challenge is the hash of
    the verifier it keeps in the session, which the service's ``/done`` does not show: the
    challenge is checked against santeid's exchange in the next test)."""
    sent = requests.get(site + START, allow_redirects=False, timeout=10)
    assert sent.status_code == 302, sent.text
    url = urlsplit(sent.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.oidc}/auth"
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    made = [query.pop(name) for name in ("state", "nonce", "code_challenge")]
    assert all(made) and len(made[2]) == 43  # base64url of a SHA-256 digest
    assert query == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": site + CALLBACK,
        "scope": "openid scope_all",
        "code_challenge_method": "S256",
        "acr_values": "eidas1",
    }


def test_the_login_gives_the_tokens_the_decoded_id_token_and_the_profile(server, site):
    """grant exchanges the code (the secret in the form, the PKCE verifier), checks the ID
    token's ``aud`` and ``nonce``, decodes it into ``jwt.id_token`` and reads userinfo with
    the access token as the ``profile``: PSC's claims from both, the refresh token kept."""
    data = response(server, site)
    assert set(data) == {"id_token", "access_token", "refresh_token", "jwt", "profile"}
    payload = data["jwt"]["id_token"]["payload"]
    assert data["jwt"]["id_token"]["header"]["alg"] == "RS256"
    assert payload["iss"] == server.issuer and payload["aud"] == CLIENT_ID
    assert payload["typ"] == "ID" and payload["acr"] == "eidas1" and payload["nonce"]
    assert payload["SubjectNameID"] == PROFESSIONAL and payload["family_name"] == "ARNAUD"
    profile = data["profile"]
    assert profile["sub"] == payload["sub"] and profile["SubjectNameID"] == PROFESSIONAL
    assert profile["SubjectRefPro"]["exercices"][0]["nomDexercice"] == "ARNAUD"
    # The access token's at_hash in the ID token: grant's pair, not another login's.
    digest = hashlib.sha256(data["access_token"].encode()).digest()[:16]
    assert payload["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


#: What grant adds to every failed login: it asks userinfo all the same, with ``Bearer
#: undefined``, and santeid refuses it as Keycloak does — 401 with an empty body
#: (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation") — which
#: grant's HTTP client hands over as an empty object.
NO_PROFILE = {"profile": {"error": {}}}


def test_the_nonce_comes_back_in_the_id_token(server, site):
    """The authorization request's ``nonce`` changed on its way to santeid: santeid puts it in
    the ID token as received, and grant refuses the login after the exchange ("OpenID Connect
    nonce mismatch"): the session holds its error, no token."""
    assert response(server, site, nonce="another-nonce") == {
        "error": "Grant: OpenID Connect nonce mismatch",
        **NO_PROFILE,
    }


def test_a_changed_state_is_grants_state_mismatch(server, site):
    """The ``state`` changed on its way: santeid returns it as received, and grant refuses the
    callback before the exchange ("OAuth2 state mismatch")."""
    assert response(server, site, state="another-state") == {
        "error": "Grant: OAuth2 state mismatch",
        **NO_PROFILE,
    }


def test_a_changed_code_challenge_fails_the_exchange(server, site):
    """The PKCE challenge changed on its way: grant's verifier no longer matches, and the
    exchange is Keycloak's ``invalid_grant`` "PKCE verification failed: Code mismatch", which
    grant hands over as the server's body under ``error``."""
    assert response(server, site, code_challenge="x" * 43) == {
        "error": {
            "error": "invalid_grant",
            "error_description": "PKCE verification failed: Code mismatch",
        },
        **NO_PROFILE,
    }


def test_a_login_refused_on_the_phone_is_handed_over_as_it_came(server, site):
    """The professional refuses on the sandbox phone and gives up: the callback has no
    ``code``, and grant hands its query over as the response — Keycloak's ``access_denied``
    without ``error_description``, the ``state`` and RFC 9207's ``iss``."""
    data = response(server, site, DENYING, refused=True)
    assert data == {
        "error": "access_denied",
        "state": data["state"],
        "iss": server.issuer,
        **NO_PROFILE,
    }
    assert data["state"]


def test_a_wrong_client_secret_is_santeids_unauthorized_client(server, tmp_path):
    """A service started with a wrong client secret: the exchange is Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/psc-integration.md §5.1), handed over under ``error``."""
    with grant_service(server, tmp_path, "grant-wrong-secret", "not-the-secret") as origin:
        assert response(server, origin) == {
            "error": {
                "error": "unauthorized_client",
                "error_description": "Invalid client or Invalid client credentials",
            },
            **NO_PROFILE,
        }


@contextlib.contextmanager
def key_client_service(server, folder: Path, client_id: str, *, access_url: bool):
    """The service as a ``private_key_jwt`` client: grant's ``token_endpoint_auth_method:
    "private_key_jwt"`` with the client's private key as a JWK (``private_key``), the public
    key registered at santeid, no secret; ``access_url``: the realm's token endpoint written
    out beside the ``subdomain``. grant signs RS256, with the JWK's ``kid``, an assertion
    whose ``iss`` and ``sub`` are the client, ``aud`` its ``access_url``, with a ``jti``,
    ``exp`` five minutes on and ``iat`` and ``nbf`` two minutes back (lib/flow/oauth2.js)."""
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "grant-key", "use": "sig"})
    registration = {
        "client_secret": None,
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=False)]},
    }
    env = {"PRIVATE_JWK": json.dumps(key.as_dict(private=True))}
    if access_url:
        env["ACCESS_URL"] = f"{server.oidc}/token"
    with grant_service(server, folder, client_id, "unused", registration, **env) as site:
        yield site


def invalid_client(description: str) -> dict:
    """What grant hands over of santeid's 400 ``invalid_client`` at the code exchange."""
    return {"error": {"error": "invalid_client", "error_description": description}, **NO_PROFILE}


def test_private_key_jwt_signs_for_the_unsubstituted_token_url(server, tmp_path):
    """With the ``subdomain`` alone, grant takes the assertion's ``aud`` from the provider's
    ``access_url`` before it puts the ``subdomain`` in (it does so for the request's URL
    only): ``https://[subdomain]/protocol/openid-connect/token``, which santeid refuses as
    Keycloak does, 400 ``invalid_client`` "Invalid token audience"
    (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    with key_client_service(server, tmp_path, "grant-key-aud", access_url=False) as origin:
        assert response(server, origin) == invalid_client("Invalid token audience")


def test_private_key_jwt_with_the_token_endpoint_written_out(server, tmp_path):
    """With ``access_url`` the realm's token endpoint, the assertion's ``aud`` is a URL
    santeid answers to, and the client is authenticated by its registered public key: the
    login completes. Its ``iat`` two minutes back is within santeid's
    ``client_assertion_max_lifetime`` (300 s)."""
    with key_client_service(server, tmp_path, "grant-key-client", access_url=True) as origin:
        data = response(server, origin)
    assert data["jwt"]["id_token"]["payload"]["aud"] == "grant-key-client"
    assert data["profile"]["SubjectNameID"] == PROFESSIONAL and data["refresh_token"]


@pytest.fixture(scope="module")
def keycloak_lifetime_server(tmp_path_factory):
    """santeid with Keycloak's default "Max expiration" of client assertions, 60 s
    (docs/psc-integration.md §5.1, ``client_assertion_max_lifetime``)."""
    home = tmp_path_factory.mktemp("grant-60s")
    with https_sandbox_process(
        home, SANTEID_STORE_URL="memory://", SANTEID_CLIENT_ASSERTION_MAX_LIFETIME="60"
    ) as process:
        yield process


def test_private_key_jwt_at_keycloaks_default_max_expiration(keycloak_lifetime_server, tmp_path):
    """At Keycloak's default of 60 s, as at a Keycloak client whose "Max expiration" was left
    unset, grant's assertion, issued two minutes back, is refused: 400 ``invalid_client``
    "Token was issued too far in the past to be used now" (Keycloak's
    ``currentTime > iat + maxExp``, docs/reference/keycloak-behaviour.md, "Client
    authentication"). A service using grant's ``private_key_jwt`` at such a Keycloak needs
    the client's "Max expiration" above 120 s."""
    with key_client_service(
        keycloak_lifetime_server, tmp_path, "grant-key-client", access_url=True
    ) as origin:
        refused = response(keycloak_lifetime_server, origin)
    assert refused == invalid_client("Token was issued too far in the past to be used now")

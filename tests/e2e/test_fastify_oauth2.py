"""A Fastify service logging professionals in with @fastify/oauth2 8.3
(https://github.com/fastify/fastify-oauth2, Fastify's login plugin on simple-oauth2 5),
pointed at a real ``santeid serve`` over HTTPS by its realm URL alone and driven over plain
HTTP (tests/support/http_login.py).

The service is ``tests/e2e/fastify_oauth2/app.js``, configured as the plugin's README
configures a provider with discovery: ``discovery: {issuer}`` the realm's URL (the plugin
reads ``<issuer>/.well-known/openid-configuration`` and takes the authorization, token,
revocation and userinfo endpoints from it, and PKCE S256 since the document does not offer
``plain`` alone), the client's id and secret, ``scope: ["openid", "scope_all"]`` and
``callbackUriParams: {acr_values: "eidas1"}``. Its callback is the README's:
``getAccessTokenFromAuthorizationCodeFlow(request, reply)``, which compares the callback's
``state`` with its cookie and exchanges the code with HTTP Basic and the PKCE verifier.

The plugin verifies no token: it hands the token endpoint's answer over as simple-oauth2's
token set (``expires_at`` added). Its locked dependencies are installed with ``npm ci`` into
the folder's git-ignored ``node_modules`` the first time."""

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
from tests.support.node import needs_node_20
from tests.support.node import needs_node_and_npm
from tests.support.oidc_flow import KEYCLOAK_TOKEN_MEMBERS
from tests.support.security import browser as new_browser
from tests.support.servers import https_sandbox_process

APP_DIR = Path(__file__).resolve().parent / "fastify_oauth2"

#: Fastify 5, which @fastify/oauth2 8 registers on, supports Node.js 20 and 22 (Fastify's
#: https://fastify.dev/docs/latest/Reference/LTS/): Debian 12's 18 skips the module.
pytestmark = [pytest.mark.server, needs_node_and_npm, needs_node_20]

CLIENT_ID = "fastify-oauth2-service"
SECRET = "a-long-secret-for-the-fastify-oauth2-001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``santeid serve`` over HTTPS with a development certificate, as PSC answers."""
    home = tmp_path_factory.mktemp("fastify-oauth2")
    with https_sandbox_process(home, SANTEID_STORE_URL="memory://") as process:
        yield process


def fastify_service(server, folder: Path, client_id: str, secret: str = SECRET,
                    issuer: str | None = None):  # fmt: skip
    """The service, registered at santeid (its callback), started with ``issuer`` (the
    realm's URL unless given) as ``discovery.issuer`` and the client secret ``secret``; its
    origin."""
    return https_login_service(
        server, APP_DIR / "app.js", "@fastify/oauth2", folder / f"{client_id}.log",
        client_id=client_id, registered_secret=SECRET, secret=secret,
        callbacks=["/callback"], ISSUER=issuer or server.issuer,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fastify-oauth2-log")
    with fastify_service(server, folder, CLIENT_ID) as origin:
        yield origin


def authorization_request(http: requests.Session, site: str) -> str:
    """The service's ``/login`` in ``http``: the authorization URL it sends the browser to
    (the plugin's state and verifier cookies kept)."""
    sent = http.get(f"{site}/login", allow_redirects=False, timeout=10)
    assert sent.status_code == 302, sent.text
    return sent.headers["Location"]


def callback(server, site: str, **changes: str) -> requests.Response:
    """A whole login over HTTP: the service's ``/login``, the authorization URL with
    ``changes`` made to its query, santeid's login (the sandbox phone approves), the
    callback brought back to the service; the service's answer."""
    http = new_browser(server.ca)
    returned = login_from_service(
        http, f"{site}/login", f"{site}/callback", PROFESSIONAL, **changes
    )
    return http.get(returned, timeout=10)


def logged_in(server, site: str) -> dict:
    answer = callback(server, site)
    assert answer.status_code == 200, answer.text
    return answer.json()


def post(site: str, path: str, **body) -> requests.Response:
    """One of the service's routes that call the plugin, with ``body`` as JSON (the token
    set, the revocation's token type, userinfo's method...); the service's answer."""
    return requests.post(f"{site}{path}", json=body, timeout=10)


def test_the_authorization_request_comes_from_discovery(server, site):
    """The plugin reads the authorization endpoint from the realm's discovery document
    (Keycloak's ``…/protocol/openid-connect/auth``) and sends the code flow with PSC's
    scopes, ``acr_values`` from ``callbackUriParams``, the ``state`` it also keeps in a cookie,
    and PKCE S256 (chosen from ``code_challenge_methods_supported``): the challenge is the
    hash of the verifier it keeps in another cookie. No ``nonce``: the plugin has none."""
    http = new_browser(server.ca)
    url = urlsplit(authorization_request(http, site))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.oidc}/auth"
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    cookies = http.cookies.get_dict()
    verifier = cookies["oauth2-code-verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "acr_values": "eidas1",
        "redirect_uri": f"{site}/callback",
        "scope": "openid scope_all",
        "state": cookies["oauth2-redirect-state"],
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }


def test_discovery_by_pscs_wallet_url(server, tmp_path):
    """``discovery.issuer`` given PSC's wallet discovery URL, as PSC's documentation gives it:
    a path with ``/.well-known/`` is read as given, and its authorization endpoint is PSC's
    wallet path on santeid's host (docs/psc-integration.md §2); the login completes there."""
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    with fastify_service(server, tmp_path, "fastify-wallet", issuer=wallet) as origin:
        url = urlsplit(authorization_request(new_browser(server.ca), origin))
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.base}/auth"
        grant = logged_in(server, origin)
    assert grant["id"]["aud"] == "fastify-wallet" and grant["id"]["acr"] == "eidas1"


def test_the_callback_gets_keycloaks_token_set(server, site):
    """The README's callback: the plugin checks ``state`` and exchanges the code (Basic and
    the verifier); the token set is Keycloak's token answer as it came, with simple-oauth2's
    ``expires_at``: the ID token (PSC's claims, ``acr`` ``eidas1``) and a refresh token of
    the same SSO session."""
    grant = logged_in(server, site)
    token, id_claims, access = grant["token"], grant["id"], grant["access"]
    assert list(token) == [*KEYCLOAK_TOKEN_MEMBERS, "expires_at"]
    assert token["token_type"] == "Bearer" and token["scope"] == "openid scope_all"
    assert id_claims["iss"] == server.issuer and id_claims["aud"] == CLIENT_ID
    assert id_claims["typ"] == "ID" and id_claims["acr"] == "eidas1"
    assert id_claims["SubjectNameID"] == PROFESSIONAL and id_claims["family_name"] == "ARNAUD"
    assert access["preferred_username"] == PROFESSIONAL and access["azp"] == CLIENT_ID
    assert id_claims["sid"] == access["sid"] == token["session_state"]


@pytest.mark.parametrize(
    "options",
    [{}, {"method": "POST", "via": "header"}, {"method": "POST", "via": "body"}],
    ids=["GET", "POST-header", "POST-body"],
)
def test_userinfo_through_the_discovered_endpoint(server, site, options):
    """``userinfo(tokenSet, {method, via})``: the discovery document's ``userinfo_endpoint``
    with the access token as Bearer (GET, the default, or POST) or as the POST form's
    ``access_token`` (RFC 6750 §2.2, which Keycloak's userinfo reads too,
    docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"): PSC's
    claims, the same ``sub`` as the ID token's."""
    grant = logged_in(server, site)
    userinfo = post(site, "/userinfo", token=grant["token"], **options)
    assert userinfo.status_code == 200, userinfo.text
    claims = userinfo.json()
    assert claims["sub"] == grant["id"]["sub"] and claims["SubjectNameID"] == PROFESSIONAL
    assert claims["SubjectRefPro"]["exercices"][0]["nomDexercice"] == "ARNAUD"


def test_the_refresh_token_gives_a_new_token_set(server, site):
    """``getNewAccessTokenUsingRefreshToken(tokenSet, {})``: the refresh grant at the
    discovered token endpoint (Basic): a new access token, a new ID token of the same
    session, a new refresh token; the first refresh token still refreshes (Keycloak's
    default, "Revoke Refresh Token" off)."""
    grant = logged_in(server, site)
    first = post(site, "/refresh", token=grant["token"])
    assert first.status_code == 200, first.text
    refreshed = first.json()
    assert refreshed["access"]["jti"] != grant["access"]["jti"]
    assert refreshed["token"]["refresh_token"] != grant["token"]["refresh_token"]
    assert refreshed["id"]["sid"] == grant["id"]["sid"] and refreshed["id"]["aud"] == CLIENT_ID
    assert refreshed["id"]["SubjectNameID"] == PROFESSIONAL
    again = post(site, "/refresh", token=grant["token"])
    assert again.status_code == 200, again.text


def test_a_refresh_narrowed_by_its_scope_parameter(server, site):
    """``getNewAccessTokenUsingRefreshToken(tokenSet, {scope: "openid"})``, the README's "a
    stricter set of scopes": the access token has the scopes the parameter names, and an ID
    token still comes, as from Keycloak (docs/reference/keycloak-behaviour.md, "Refresh
    tokens": the parameter narrows, the authorization's ``openid`` gives the ID token)."""
    grant = logged_in(server, site)
    answer = post(site, "/refresh", token=grant["token"], params={"scope": "openid"})
    assert answer.status_code == 200, answer.text
    narrowed = answer.json()
    assert narrowed["token"]["scope"] == "openid" and narrowed["access"]["scope"] == "openid"
    assert narrowed["id"]["sid"] == grant["id"]["sid"]


#: What simple-oauth2 makes of Keycloak's successful revocation, an empty 200 without
#: ``Content-Type`` (docs/reference/keycloak-behaviour.md, "Userinfo, introspection,
#: revocation"): it reads every answer with @hapi/wreck's ``json: "strict"``, which refuses a
#: body not labelled JSON with Boom's 406.
NOT_JSON = {"message": "The content-type is not JSON compatible", "status": 406, "payload": None}
#: What the plugin's ``userinfo`` makes of a refusal: it parses the body whatever the status,
#: and Keycloak's userinfo refusals have an empty body.
EMPTY_BODY = {"message": "Unexpected end of JSON input", "status": None, "payload": None}


def test_revoking_the_refresh_token_ends_the_grant_though_the_plugin_fails(server, site):
    """``revokeToken(tokenSet, "refresh_token")`` posts the token to the discovered revocation
    endpoint (Basic, ``token_type_hint``); santeid revokes it as Keycloak does — the client's
    grants in the session end: the refresh is Keycloak's ``invalid_grant`` "Session not
    active", userinfo refuses the access token — and answers Keycloak's empty 200, which the
    library rejects as not JSON: a service has to take that 406 for success."""
    grant = logged_in(server, site)
    revoked = post(site, "/revoke", token=grant["token"], type="refresh_token")
    assert revoked.status_code == 502 and revoked.json() == NOT_JSON
    refused = post(site, "/refresh", token=grant["token"])
    assert refused.json() == {
        "message": "Response Error: 400 Bad Request",
        "status": 400,
        "payload": {"error": "invalid_grant", "error_description": "Session not active"},
    }
    assert post(site, "/userinfo", token=grant["token"]).json() == EMPTY_BODY


def test_revoke_all_stops_after_the_access_token(server, site):
    """``revokeAllToken(tokenSet)`` revokes the access token, then would revoke the refresh
    token: the first empty 200 is its 406, so it never does. The access token is revoked
    (userinfo refuses it), the refresh token still refreshes — an access token's revocation
    ends that token alone, as at Keycloak."""
    grant = logged_in(server, site)
    revoked = post(site, "/revoke-all", token=grant["token"])
    assert revoked.status_code == 502 and revoked.json() == NOT_JSON
    assert post(site, "/userinfo", token=grant["token"]).json() == EMPTY_BODY
    refreshed = post(site, "/refresh", token=grant["token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["id"]["sid"] == grant["id"]["sid"]


def test_a_changed_state_is_the_plugins_invalid_state(server, site):
    """The authorization request's ``state`` changed on its way to santeid: santeid returns
    it as received, and the plugin refuses the callback against its cookie before any token
    request ("Invalid state"); unchanged, the same login succeeds."""
    answer = callback(server, site, state="another-state")
    assert answer.status_code == 502
    assert answer.json() == {"message": "Invalid state", "status": None, "payload": None}
    assert callback(server, site).status_code == 200


def test_a_changed_code_challenge_fails_the_exchange(server, site):
    """The PKCE challenge changed on its way to santeid: the plugin's verifier no longer
    matches it, and the code exchange is Keycloak's ``invalid_grant`` "PKCE verification
    failed: Code mismatch", which simple-oauth2 raises with the server's status and body."""
    answer = callback(server, site, code_challenge="x" * 43)
    assert answer.status_code == 502
    assert answer.json() == {
        "message": "Response Error: 400 Bad Request",
        "status": 400,
        "payload": {
            "error": "invalid_grant",
            "error_description": "PKCE verification failed: Code mismatch",
        },
    }


def test_a_login_refused_on_the_phone_reaches_the_token_endpoint(server, site):
    """The professional refuses on the sandbox phone and gives up: the callback brings
    ``error=access_denied`` with the ``state`` (and RFC 9207's ``iss``). The plugin reads
    neither ``error`` nor ``iss``: the README's callback checks the state, which matches,
    and exchanges a code it does not have — simple-oauth2 sends ``code=`` empty, which
    santeid answers as Keycloak does: ``AuthorizationCodeGrantType`` refuses a missing code
    only (``code == null``), and an empty one is then no code, ``invalid_grant`` "Code not
    valid" (docs/reference/keycloak-behaviour.md, "Token endpoint"). A service reads
    ``request.query.error`` itself before calling the plugin."""
    http = new_browser(server.ca)
    url = authorization_request(http, site)
    returned = login_to_callback(http, url, f"{site}/callback", DENYING, refused=True)
    query = parse_qs(urlsplit(returned).query)
    assert query["error"] == ["access_denied"] and query["iss"] == [server.issuer]
    assert query["state"] == [http.cookies.get_dict()["oauth2-redirect-state"]]
    answer = http.get(returned, timeout=10)
    assert answer.status_code == 502
    assert answer.json() == {
        "message": "Response Error: 400 Bad Request",
        "status": 400,
        "payload": {"error": "invalid_grant", "error_description": "Code not valid"},
    }


def test_a_wrong_client_secret_is_santeids_unauthorized_client(server, tmp_path):
    """A service started with a wrong client secret: the code exchange is Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/psc-integration.md §5.1), raised by simple-oauth2 with the server's body."""
    with fastify_service(server, tmp_path, "fastify-wrong-secret", "not-the-secret") as origin:
        answer = callback(server, origin)
    assert answer.status_code == 502
    assert answer.json() == {
        "message": "Response Error: 401 Unauthorized",
        "status": 401,
        "payload": {
            "error": "unauthorized_client",
            "error_description": "Invalid client or Invalid client credentials",
        },
    }

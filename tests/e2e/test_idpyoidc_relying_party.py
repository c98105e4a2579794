"""A Pro Santé Connect integration written with idpyoidc, the successor of pyoidc and the OIDC
library of SATOSA (https://idpyoidc.readthedocs.io/en/latest/client/index.html), pointed at a
real ``santeid serve`` by its issuer URL alone: its ``RPHandler`` with one statically registered
client (``client_id`` and ``client_secret``, or the service's JWKS, from the operator, no
dynamic registration), the provider metadata from discovery, PKCE S256 through the library's
``pkce`` add-on, ``openid scope_all`` and ``acr_values=eidas1`` as PSC's documentation asks.

Driven here: ``begin`` (the authorization URL with ``state``, ``nonce`` and the PKCE challenge),
``finalize`` (the callback parsed, the code exchanged with ``client_secret_basic``,
``client_secret_post`` or ``private_key_jwt``, the ID token verified against the published JWKS
— signature, ``iss``, ``aud``, ``exp``, ``nonce`` —, userinfo read and its ``sub`` compared with
the ID token's), ``refresh_access_token``, ``get_valid_access_token`` and ``logout`` (the
end-session request with ``id_token_hint``, ``post_logout_redirect_uri`` and ``state``), the
back-channel logout token, a signed userinfo answer and a silent login. Every warning or error
the library logs fails the test (but one it logs for every provider, :func:`library_warnings`).
The browser's part is plain HTTP with a sandbox professional approved at once
(tests/support/http_login.py, docs/sandbox.md), as in tests/e2e/test_pyoidc_relying_party.py."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from cryptojwt.key_jar import build_keyjar
from idpyoidc.client.oauth2.stand_alone_client import backchannel_logout
from idpyoidc.client.rp_handler import RPHandler
from idpyoidc.message.oidc import AccessTokenResponse
from idpyoidc.message.oidc import OpenIDSchema

from tests.support.http_login import login_to_callback
from tests.support.jwt_keys import rotated
from tests.support.logout_receiver import LogoutReceiver
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

SECRET = "a-long-secret-for-the-idpyoidc-relying-party"
BASE_URL = "https://service.example.org"
REDIRECT_URI = f"{BASE_URL}/callback"
LOGGED_OUT_URI = f"{BASE_URL}/logged-out"
#: docs/sandbox.md: Clément ARNAUD, whose sandbox phone approves at once; one who refuses.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The library's service classes a code-flow RP with refresh and logout uses
#: (https://idpyoidc.readthedocs.io/en/latest/client/index.html, "services").
SERVICES = {
    name: {"class": f"idpyoidc.client.oidc.{path}", "kwargs": {}}
    for name, path in {
        "discovery": "provider_info_discovery.ProviderInfoDiscovery",
        "authorization": "authorization.Authorization",
        "accesstoken": "access_token.AccessToken",
        "refresh_token": "refresh_access_token.RefreshAccessToken",
        "userinfo": "userinfo.UserInfo",
        "end_session": "end_session.EndSession",
    }.items()
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("idpyoidc-server"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@pytest.fixture(autouse=True)
def library_warnings(caplog):
    """Every warning or error the library logs about santeid's answers fails the test, but
    the one it logs for every JSON answer of every provider: it compares the whole
    ``Content-Type`` (``application/json``) with its short name (``json``)."""
    caplog.set_level(logging.WARNING, logger="idpyoidc")
    caplog.set_level(logging.WARNING, logger="cryptojwt")
    yield
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("idpyoidc", "cryptojwt"))
        and r.levelno >= logging.WARNING
        and not r.getMessage().startswith("Not the body type I expected: application/json != ")
    ]
    assert not logged, logged


def relying_party(
    server, client_id: str, method: str = "client_secret_basic", **registration
) -> RPHandler:
    """The service's ``RPHandler``, registered at santeid as an operator registers it, and
    configured as the library's documentation shows for a client registered beforehand: the
    issuer, the client's credentials and redirect URIs, its preferences, PKCE (``registration``:
    more of the client's metadata at santeid)."""
    # The service's own signing key, whose public half the operator registers, for
    # private_key_jwt (the library signs with the keys of its key jar's owner "").
    keyjar = build_keyjar([{"type": "RSA", "use": ["sig"]}])
    credentials = (
        {"jwks": keyjar.export_jwks()} if method == "private_key_jwt" else {"client_secret": SECRET}
    )
    server.register(
        client_id,
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[LOGGED_OUT_URI],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method=method,
        **credentials,
        **registration,
    )
    config = {
        "issuer": server.issuer,
        "client_id": client_id,
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [LOGGED_OUT_URI],
        "client_type": "oidc",
        # The refresh service knows only its default (client_secret_post) unless the methods
        # are named for the whole client: it asks for the registered method, then fails.
        "client_authn_methods": [method],
        "preference": {
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "scope_all"],
            "token_endpoint_auth_methods_supported": [method],
        },
        "add_ons": {
            "pkce": {
                "function": "idpyoidc.client.oauth2.add_on.pkce.add_support",
                "kwargs": {"code_challenge_length": 64, "code_challenge_method": "S256"},
            }
        },
        "services": SERVICES,
    }
    return RPHandler(BASE_URL, client_configs={"psc": config}, keyjar=keyjar)


def log_in(rph: RPHandler, browser: requests.Session | None = None) -> dict:
    """``begin``, the professional's login, ``finalize``: what the library returns."""
    url = rph.begin("psc", req_args={"acr_values": "eidas1", "scope": "openid scope_all"})
    callback = login_to_callback(browser or requests.Session(), url, REDIRECT_URI, PROFESSIONAL)
    query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    return rph.finalize(query["iss"], query)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_the_whole_integration_through_the_library(server, method):
    rph = relying_party(server, f"idpyoidc-{method}", method)
    url = rph.begin("psc", req_args={"acr_values": "eidas1", "scope": "openid scope_all"})
    sent = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{server.oidc}/auth?")
    assert sent["code_challenge_method"] == ["S256"] and sent["nonce"]
    assert sent["acr_values"] == ["eidas1"] and sent["scope"] == ["openid scope_all"]

    browser = requests.Session()
    done = log_in(rph, browser)
    assert "error" not in done, done
    id_token, userinfo = done["id_token"], done["userinfo"]
    assert id_token["iss"] == server.issuer and id_token["aud"] == [f"idpyoidc-{method}"]
    assert id_token["acr"] == "eidas1" and id_token["SubjectNameID"] == PROFESSIONAL
    assert isinstance(userinfo, OpenIDSchema) and userinfo["sub"] == id_token["sub"]
    assert userinfo["SubjectRefPro"]["exercices"]
    state = done["state"]
    assert rph.has_active_authentication(state)

    refreshed = rph.refresh_access_token(state)
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["access_token"] != done["token"]
    # The library verified the new ID token (against the JWKS, iss, aud, exp) and keeps it
    # beside the JWT it came as.
    assert refreshed["__verified_id_token"]["sub"] == id_token["sub"]
    token, _ = rph.get_valid_access_token(state)
    assert token == refreshed["access_token"]
    again = rph.get_user_info(state)
    assert again["SubjectNameID"] == PROFESSIONAL

    logout = rph.logout(state)
    query = parse_qs(urlsplit(logout["url"]).query)
    assert logout["url"].startswith(f"{server.oidc}/logout?")
    assert query["id_token_hint"] and query["post_logout_redirect_uri"] == [LOGGED_OUT_URI]
    ended = browser.get(logout["url"], allow_redirects=False, timeout=10)
    assert ended.status_code == 302
    assert ended.headers["Location"] == f"{LOGGED_OUT_URI}?state={query['state'][0]}"
    after = requests.post(
        f"{server.oidc}/userinfo",
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        timeout=10,
    )
    assert after.status_code == 401


def test_a_login_refused_on_the_phone_is_the_librarys_error(server):
    """The professional refuses on the sandbox phone and gives up: ``finalize`` returns
    ``access_denied`` with the ``state``, as for Keycloak's answer (no
    ``error_description``, docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    rph = relying_party(server, "idpyoidc-refused")
    url = rph.begin("psc", req_args={"acr_values": "eidas1", "scope": "openid scope_all"})
    callback = login_to_callback(requests.Session(), url, REDIRECT_URI, DENYING, refused=True)
    query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    assert rph.finalize(query["iss"], query) == {"state": query["state"], "error": "access_denied"}


def test_the_library_follows_a_key_rotation(server):
    """``santeid keys rotate`` while the service runs: the library, holding the JWK Set it
    read at its first login, meets an ID token with an unknown ``kid``, fetches the set again
    (OpenID Connect Core 1.0 §10.1.1, docs/keys.md "Rotation") and verifies it."""
    rph = relying_party(server, "idpyoidc-rotation")
    first = log_in(rph)
    kid = rotated(server)
    deadline = time.monotonic() + 30
    while (done := log_in(rph))["id_token"].jws_header["kid"] != kid:
        assert time.monotonic() < deadline, "no ID token signed by the new key within 30 s"
        time.sleep(0.5)
    assert first["id_token"].jws_header["kid"] != kid
    assert done["id_token"]["SubjectNameID"] == PROFESSIONAL


def test_the_library_verifies_the_back_channel_logout_token(server):
    """OpenID Connect Back-Channel Logout 1.0 §2.6 as the library checks it
    (``idpyoidc.client.oauth2.stand_alone_client.backchannel_logout``: signature against the
    JWKS, ``iss``, ``aud``, ``iat``, ``events``, no ``nonce``) finds the login the token ends:
    the ``state`` bound to the professional's ``sub`` at ``finalize``."""
    with LogoutReceiver() as receiver:
        rph = relying_party(server, "idpyoidc-backchannel", backchannel_logout_uri=receiver.url)
        browser = requests.Session()
        done = log_in(rph, browser)
        logout = rph.logout(done["state"])
        ended = browser.get(logout["url"], allow_redirects=False, timeout=10)
        assert ended.status_code == 302
        (delivery,) = receiver.wait_for(1)
    client = rph.get_client_from_session_key(done["state"])
    assert backchannel_logout(client, request_args=delivery["form"]) == done["state"]


def test_a_signed_userinfo_answer_is_verified_by_the_library(server):
    """``userinfo_signed_response_alg``: santeid answers userinfo with a JWT
    (``application/jwt``, OpenID Connect Core 1.0 §5.3.2), which the library verifies against
    the JWKS before it compares its ``sub`` with the ID token's."""
    rph = relying_party(server, "idpyoidc-signed-userinfo", userinfo_signed_response_alg="RS256")
    done = log_in(rph)
    assert "error" not in done, done
    assert done["userinfo"]["SubjectNameID"] == PROFESSIONAL
    assert done["userinfo"]["sub"] == done["id_token"]["sub"]
    token, _ = rph.get_valid_access_token(done["state"])
    served = requests.get(
        f"{server.oidc}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert served.headers["Content-Type"].startswith("application/jwt")


def test_single_sign_on_and_id_token_hint_through_the_library(server):
    """A second login in the same browser with ``prompt=none`` and the ID token as
    ``id_token_hint`` answers at once, and the library accepts the new ID token (same
    ``sid`` and ``auth_time``, OpenID Connect Core 1.0 §3.1.2.1)."""
    rph = relying_party(server, "idpyoidc-sso")
    browser = requests.Session()
    first = log_in(rph, browser)
    url = rph.begin(
        "psc",
        req_args={
            "acr_values": "eidas1",
            "scope": "openid scope_all",
            "prompt": "none",
            "id_token_hint": first["id_token"].jwt,
        },
    )
    callback = login_to_callback(browser, url, REDIRECT_URI, "not used")
    query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    second = rph.finalize(query["iss"], query)
    assert "error" not in second, second
    assert second["id_token"]["sid"] == first["id_token"]["sid"]
    assert second["id_token"]["auth_time"] == first["id_token"]["auth_time"]

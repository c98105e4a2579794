"""Request shapes of real PSC integrations, replayed against a real ``santeid serve`` process
started as a new user would (sandbox, no issuer configured, ``--port``): each test asserts
the answer PSC's Keycloak gives (status, the headers that matter, body fields).

* a PHP provider's hard-coded ``<wallet host>/auth`` with ``scope=scope_all`` alone, and the
  usual ``openid scope_all``, then the code exchange;
* the secret by Basic, in the body, and both, for a client registered as the README shows;
* ASP.NET's ``response_mode=form_post`` (the page submitting itself in headless Chromium);
  PKCE ``plain``;
* Keycloak's error bodies at the token, revocation and CIBA endpoints;
* ``santeid cps approve`` finding the server the user started."""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from tests.oidc.test_discovery import PSC_RESPONSE_MODES
from tests.support.browser import CHROMIUM
from tests.support.browser import FLAGS
from tests.support.oidc_flow import KEYCLOAK_TOKEN_MEMBERS
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import userinfo_refusal
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CALLBACK = "http://127.0.0.1:8000/callback"
CIBA = "urn:openid:params:grant-type:ciba"
KEYCLOAK_INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}
KEYCLOAK_UNAUTHORIZED_CLIENT = {
    "error": "unauthorized_client",
    "error_description": "Invalid client or Invalid client credentials",
}
KEYCLOAK_AUTHENTICATION_FAILED = {
    "error": "invalid_request",
    "error_description": "Authentication failed.",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``santeid serve --port P`` in sandbox mode, no ``SANTEID_ISSUER``: the issuer follows
    the port, as for a user who picked another port."""
    with santeid_process(
        tmp_path_factory.mktemp("conformance-auth"), args=(), SANTEID_ISSUER=None
    ) as server:
        yield server


def _register(server, client_id: str, **metadata) -> dict:
    """Register a client with the CLI, as the README shows."""
    return server.add_client(
        {
            "client_id": client_id,
            "client_secret": secrets.token_urlsafe(32),
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": ["http://127.0.0.1:8000/"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
            **metadata,
        }
    )


@pytest.fixture(scope="module")
def service(server) -> dict:
    return _register(server, "mon-service")


def _browser() -> requests.Session:
    browser = requests.Session()
    browser.trust_env = False
    return browser


def _login(server, browser: requests.Session, url: str, params: dict) -> requests.Response:
    """The professional's browser: the authorization request, the sandbox login of an
    auto-approved professional, and the response that ends at the service."""
    response = browser.get(url, params=params, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    login_url = urljoin(response.url, response.headers["Location"])
    page = browser.get(login_url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    posted = browser.post(
        login_url,
        data={"national_id": "810000000001", "csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 303, posted.text
    tx = dict(parse_qsl(urlsplit(login_url).query))["tx"]
    return browser.get(
        f"{server.issuer}/login-actions/complete",
        params={"tx": tx},
        allow_redirects=False,
        timeout=10,
    )


def _callback(response: requests.Response) -> list[tuple[str, str]]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return parse_qsl(urlsplit(location).query)


def _auth_params(client: dict, **extra) -> dict:
    return {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "state": secrets.token_hex(8),
        "nonce": secrets.token_hex(8),
        **extra,
    }


def _token(server, data: dict, **kwargs) -> requests.Response:
    return requests.post(
        f"{server.issuer}/protocol/openid-connect/token", data=data, timeout=10, **kwargs
    )


def _wallet_discovery(server) -> dict:
    url = f"{server.issuer}/.well-known/wallet-openid-configuration"
    return requests.get(url, timeout=10).json()


def _code_at_wallet_path(server, client: dict, **extra) -> tuple[str, dict]:
    authorization_endpoint = _wallet_discovery(server)["authorization_endpoint"]
    params = _auth_params(client, **extra)
    callback = dict(_callback(_login(server, _browser(), authorization_endpoint, params)))
    return callback["code"], params


def test_discovery_advertises_the_wallet_path_on_the_served_host(server):
    document = _wallet_discovery(server)
    assert document["issuer"] == server.issuer
    assert document["authorization_endpoint"] == f"{server.base}/auth"
    standard = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert standard["authorization_endpoint"] == (f"{server.issuer}/protocol/openid-connect/auth")
    assert document["response_modes_supported"] == PSC_RESPONSE_MODES
    assert document["code_challenge_methods_supported"] == ["plain", "S256"]
    assert {"offline_access", "eidas2", "phone", "address", "interop", "scope_1"} <= set(
        document["scopes_supported"]
    )


def test_hard_coded_wallet_auth_with_openid_then_code_exchange(server, service):
    params = _auth_params(service)
    callback = _callback(_login(server, _browser(), f"{server.base}/auth", params))
    # Keycloak's callback: state, session_state, iss, code — in this order.
    assert [name for name, _ in callback] == ["state", "session_state", "iss", "code"]
    values = dict(callback)
    assert values["state"] == params["state"] and values["iss"] == server.issuer
    response = _token(
        server,
        {"grant_type": "authorization_code", "code": values["code"], "redirect_uri": CALLBACK},
        auth=(service["client_id"], service["client_secret"]),
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    assert list(response.json()) == KEYCLOAK_TOKEN_MEMBERS


def test_hard_coded_wallet_auth_without_openid_is_plain_oauth2(server, service):
    """A common PHP provider sends ``scope=scope_all`` alone: Keycloak gives a code and an
    access token, no ID token, and its userinfo refuses that token."""
    code, _ = _code_at_wallet_path(server, service, scope="scope_all")
    response = _token(
        server,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(service["client_id"], service["client_secret"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "id_token" not in body and body["scope"] == "scope_all"
    userinfo = requests.get(
        f"{server.issuer}/protocol/openid-connect/userinfo",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert userinfo_refusal(userinfo) == keycloak_refusal(
        403, "insufficient_scope", "Missing openid scope"
    )


@pytest.mark.parametrize("where", ["basic", "body", "both"])
def test_secret_in_basic_in_the_body_and_in_both(server, service, where):
    """The client registered ``client_secret_basic`` (README); PSC integrations also send
    ``client_secret_post`` (skezi, DentalMap) and some send both."""
    code, _ = _code_at_wallet_path(server, service)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    auth = None
    if where in ("basic", "both"):
        auth = (service["client_id"], service["client_secret"])
    if where in ("body", "both"):
        data.update(client_id=service["client_id"], client_secret=service["client_secret"])
    response = _token(server, data, auth=auth)
    assert response.status_code == 200, response.text
    tokens = response.json()
    # Introspection and revocation take the secret the same ways.
    introspection = requests.post(
        f"{server.issuer}/protocol/openid-connect/token/introspect",
        data={"token": tokens["access_token"], **({} if auth else _body_secret(service))},
        auth=auth,
        timeout=10,
    )
    assert introspection.status_code == 200 and introspection.json()["active"] is True
    revocation = requests.post(
        f"{server.issuer}/protocol/openid-connect/revoke",
        data={"token": tokens["refresh_token"], **({} if auth else _body_secret(service))},
        auth=auth,
        timeout=10,
    )
    assert revocation.status_code == 200


def _body_secret(client: dict) -> dict:
    return {"client_id": client["client_id"], "client_secret": client["client_secret"]}


@pytest.mark.parametrize(
    ("client_id", "secret", "expected"),
    [
        ("mon-service", "not-the-secret", KEYCLOAK_UNAUTHORIZED_CLIENT),
        ("mon-service", None, KEYCLOAK_UNAUTHORIZED_CLIENT),
        ("personne", "not-the-secret", KEYCLOAK_INVALID_CLIENT),
    ],
    ids=["wrong-secret", "no-secret", "unknown-client"],
)
def test_failed_client_authentication_as_keycloak(server, service, client_id, secret, expected):
    """Keycloak's "Client Id and Secret" authenticator: a known client's wrong or missing
    secret is 401 ``unauthorized_client``, an unknown client 401 ``invalid_client``, at the
    token, revocation and CIBA endpoints alike; the introspection endpoint answers 401
    ``invalid_request`` "Authentication failed." to both."""
    credentials = {"client_id": client_id} if secret is None else {}
    auth = (client_id, secret) if secret is not None else None
    endpoints = {
        "token": ("/protocol/openid-connect/token", {"grant_type": "authorization_code"}),
        "revoke": ("/protocol/openid-connect/revoke", {"token": "x"}),
        "ciba": ("/protocol/openid-connect/ext/ciba/auth", {"scope": "openid", "login_hint": "x"}),
    }
    for path, form in endpoints.values():
        response = requests.post(
            server.issuer + path, data={**form, **credentials}, auth=auth, timeout=10
        )
        assert response.status_code == 401, path
        assert response.json() == expected, path
        assert "WWW-Authenticate" not in response.headers
    introspection = requests.post(
        f"{server.issuer}/protocol/openid-connect/token/introspect",
        data={"token": "x", **credentials},
        auth=auth,
        timeout=10,
    )
    assert introspection.status_code == 401
    assert introspection.json() == KEYCLOAK_AUTHENTICATION_FAILED
    assert "WWW-Authenticate" not in introspection.headers


def test_form_post_response_mode(server, service):
    """ASP.NET's OIDC handler defaults to ``response_mode=form_post``."""
    params = _auth_params(service, response_mode="form_post")
    page = _login(server, _browser(), f"{server.base}/auth", params)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'Onload="javascript:document.forms[0].submit()"' in page.text
    assert re.search(r'<FORM METHOD="POST" ACTION="([^"]+)">', page.text).group(1) == CALLBACK
    fields = re.findall(r'NAME="([^"]+)" VALUE="([^"]*)"', page.text)
    assert [name for name, _ in fields] == ["state", "session_state", "iss", "code"]
    code = dict(fields)["code"]
    response = _token(
        server,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(service["client_id"], service["client_secret"]),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("response_mode", ["query", "fragment"])
def test_login_required_carries_no_description(server, service, response_mode):
    """``prompt=none`` without a session: Keycloak's ``OIDCLoginProtocol.translateError`` maps
    ``PASSIVE_LOGIN_REQUIRED`` to ``login_required`` with no ``error_description``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"): the redirect carries
    ``error``, ``state`` and ``iss`` only."""
    params = _auth_params(service, prompt="none", response_mode=response_mode)
    response = _browser().get(
        f"{server.base}/auth", params=params, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    answer = location.query if response_mode == "query" else location.fragment
    assert parse_qsl(answer) == [
        ("error", "login_required"),
        ("state", params["state"]),
        ("iss", server.issuer),
    ]


class _RelyingParty:
    """A local service: GET /page relays the authorization server's form_post page (bytes and
    headers as received), POST /callback records what the browser submits."""

    def __init__(self, page: requests.Response):
        self.page = page
        self.received: list[dict] = []
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                for name in ("Content-Type", "Content-Security-Policy"):
                    self.send_header(name, rp.page.headers[name])
                self.send_header("Content-Length", str(len(rp.page.content)))
                self.end_headers()
                self.wfile.write(rp.page.content)

            def do_POST(self):
                length = int(self.headers["Content-Length"])
                rp.received.append(dict(parse_qsl(self.rfile.read(length).decode())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_form_post_page_submits_itself_in_a_browser(server):
    """The page's Content-Security-Policy lets exactly its onload handler run: headless
    Chromium posts the code to the service with no click."""
    rp = _RelyingParty(page=None)
    try:
        client = _register(server, "service-aspnet", redirect_uris=[rp.url + "/callback"])
        params = _auth_params(client, redirect_uri=rp.url + "/callback", response_mode="form_post")
        rp.page = _login(server, _browser(), f"{server.base}/auth", params)
        assert rp.page.status_code == 200
        subprocess.run(
            [CHROMIUM, *FLAGS, "--dump-dom", "--virtual-time-budget=5000", rp.url + "/page"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        [posted] = rp.received
    finally:
        rp.close()
    assert list(posted) == ["state", "session_state", "iss", "code"]
    assert posted["state"] == params["state"]
    response = _token(
        server,
        {
            "grant_type": "authorization_code",
            "code": posted["code"],
            "redirect_uri": rp.url + "/callback",
        },
        auth=(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text


def test_pkce_plain(server, service):
    verifier = secrets.token_urlsafe(48)
    code, _ = _code_at_wallet_path(
        server, service, code_challenge=verifier, code_challenge_method="plain"
    )
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    auth = (service["client_id"], service["client_secret"])
    response = _token(server, {**data, "code_verifier": verifier}, auth=auth)
    assert response.status_code == 200, response.text


def test_missing_or_unsupported_grant_type(server, service):
    auth = (service["client_id"], service["client_secret"])
    response = _token(server, {}, auth=auth)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Missing form parameter: grant_type",
    }
    exchange = _token(
        server, {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"}, auth=auth
    )
    assert exchange.status_code == 400
    assert exchange.json() == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant_type",
    }
    # A grant Keycloak knows and refuses the client (docs/reference/keycloak-behaviour.md,
    # "Grants PSC's clients cannot use").
    password = _token(
        server, {"grant_type": "password", "username": "x", "password": "y"}, auth=auth
    )
    assert password.status_code == 400
    assert password.json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }


def test_revoking_another_clients_token(server, service):
    other = _register(server, "autre-service")
    code, _ = _code_at_wallet_path(server, service)
    tokens = _token(
        server,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(service["client_id"], service["client_secret"]),
    ).json()
    response = requests.post(
        f"{server.issuer}/protocol/openid-connect/revoke",
        data={"token": tokens["refresh_token"]},
        auth=(other["client_id"], other["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Unmatching clients",
    }


def _backchannel(server, client: dict, **params) -> requests.Response:
    return requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/ciba/auth",
        data={
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "binding_message": "00",
            **params,
        },
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )


def _poll(server, client: dict, auth_req_id: str) -> requests.Response:
    """The client's poll of the token endpoint for the CIBA request ``auth_req_id``."""
    return _token(
        server,
        {"grant_type": CIBA, "auth_req_id": auth_req_id},
        auth=(client["client_id"], client["client_secret"]),
    )


def _ciba_client(server, client_id: str, interval: int) -> dict:
    return _register(
        server,
        client_id,
        redirect_uris=[],
        grant_types=[CIBA, "refresh_token"],
        backchannel_token_delivery_mode="poll",
        backchannel_polling_interval=interval,
    )


def test_ciba_keycloak_errors(server, service):
    """ANS's CIBA proxy's request shape (Basic, scope, acr_values, two-digit binding message)."""
    not_ciba = _backchannel(server, service, login_hint="810000000001")
    assert not_ciba.status_code == 401
    assert not_ciba.json() == {
        "error": "invalid_grant",
        "error_description": "Client not allowed OIDC CIBA Grant",
    }
    client = _ciba_client(server, "logiciel-lourd", interval=0)
    for hint in ("899999999999", "810000000024"):  # nobody; an inactive professional
        unknown = _backchannel(server, client, login_hint=hint)
        assert unknown.status_code == 400
        assert unknown.json() == {"error": "invalid_request", "error_description": "invalid_user"}
    no_ecps = _backchannel(server, client, login_hint="810000000004")
    assert no_ecps.status_code == 503
    assert no_ecps.json() == {
        "error": "server_error",
        "error_description": "Failed to send authentication request",
    }


def test_ciba_slow_down_as_keycloak(server):
    client = _ciba_client(server, "logiciel-lent", interval=60)
    # A CARD request stays pending until the workstation proves the card.
    ack = _backchannel(server, client, login_hint="810000000004", channel="CARD")
    assert ack.status_code == 200 and ack.json()["interval"] == 60
    poll = {"grant_type": CIBA, "auth_req_id": ack.json()["auth_req_id"]}
    auth = (client["client_id"], client["client_secret"])
    first = _token(server, poll, auth=auth)
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"
    early = _token(server, poll, auth=auth)
    assert early.status_code == 400
    assert early.json() == {"error": "slow_down", "error_description": "too early to access"}


def test_cps_approve_reaches_the_server_the_user_started(server):
    """No issuer configured and ``serve --port P``: the command finds P, and says so."""
    client = _ciba_client(server, "logiciel-carte", interval=0)
    card_dir = server.home / "card"
    server.cli("cps", "issue-card", "810000000004", "--out", str(card_dir))
    ack = _backchannel(server, client, login_hint="810000000004", channel="CARD").json()
    output = server.cli("cps", "approve", "--card", str(card_dir), ack["auth_req_id"]).stdout
    assert f"server: {server.issuer} (the running santeid serve" in output
    assert "approved" in output
    tokens = _poll(server, client, ack["auth_req_id"])
    assert tokens.status_code == 200, tokens.text


def test_a_grant_without_refresh_token_still_says_refresh_expires_in(server):
    """A client registered without the ``refresh_token`` grant gets no refresh token, from the
    code exchange as from a CIBA poll; Keycloak's answer still has ``refresh_expires_in``, 0
    (``AccessTokenResponse.refreshExpiresIn`` is a ``long``, always written), in its place."""
    members = [name for name in KEYCLOAK_TOKEN_MEMBERS if name != "refresh_token"]
    client = _register(
        server,
        "sans-refresh",
        grant_types=["authorization_code", CIBA],
        backchannel_token_delivery_mode="poll",
        backchannel_polling_interval=0,
    )
    auth = (client["client_id"], client["client_secret"])
    params = _auth_params(client)
    code = dict(_callback(_login(server, _browser(), f"{server.base}/auth", params)))["code"]
    exchanged = _token(
        server,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=auth,
    )
    assert exchanged.status_code == 200, exchanged.text
    assert list(exchanged.json()) == members
    assert exchanged.json()["refresh_expires_in"] == 0

    ack = _backchannel(server, client, login_hint="810000000001")
    assert ack.status_code == 200, ack.text
    poll = {"grant_type": CIBA, "auth_req_id": ack.json()["auth_req_id"]}
    for _ in range(100):
        polled = _token(server, poll, auth=auth)
        if polled.status_code == 200 or polled.json()["error"] != "authorization_pending":
            break
        time.sleep(0.1)
    assert polled.status_code == 200, polled.text
    assert list(polled.json()) == members
    assert polled.json()["refresh_expires_in"] == 0


def test_a_posted_authorization_request_is_read_from_its_form_only(server, service):
    """Keycloak's ``AuthorizationEndpoint.buildPost`` reads the decoded form parameters only:
    a query string on the POST's URL is not part of the request."""
    url = f"{server.issuer}/protocol/openid-connect/auth"
    stranger = _browser()
    posted = stranger.post(
        f"{url}?prompt=none", data=_auth_params(service), allow_redirects=False, timeout=10
    )
    # No prompt=none in the request, no session: the login page, not login_required.
    assert posted.status_code == 302, posted.text
    assert "/login-actions/" in posted.headers["Location"], posted.headers["Location"]

    signed_in = _browser()
    _callback(_login(server, signed_in, url, _auth_params(service)))
    again = signed_in.post(
        f"{url}?client_id={service['client_id']}",
        data=_auth_params(service),
        allow_redirects=False,
        timeout=10,
    )
    # One client_id in the request (the form's), the browser's session: a code.
    assert "code" in dict(_callback(again))


def _repeated(params: dict, *repeats: tuple[str, str]) -> list[tuple[str, str]]:
    return [*params.items(), *repeats]


@pytest.mark.parametrize(
    "repeat",
    [
        ("state", "autre"),
        ("claims", '{"id_token": {}}'),
        ("response_mode", "fragment"),
        ("redirect_uri", "https://ailleurs.example.org/cb"),
        ("kc_idp_hint", "x"),
    ],
    ids=lambda repeat: repeat[0],
)
def test_a_repeated_authorization_parameter_is_keycloaks_duplicated_parameter(
    server, service, repeat
):
    """Keycloak's ``AuthzEndpointQueryStringParser`` reads the first value of each parameter
    and flags a repeated one; once the client, its redirect URI (the first) and the response
    type are checked, the request is sent back ``invalid_request`` "duplicated parameter" —
    the parameters it knows (``claims`` too) and any other one."""
    params = _auth_params(
        service, claims='{"userinfo": {}}', kc_idp_hint="psc", response_mode="query"
    )
    url = f"{server.issuer}/protocol/openid-connect/auth"
    answer = _browser().get(url, params=_repeated(params, repeat), allow_redirects=False)
    answered = dict(_callback(answer))
    assert answered["error"] == "invalid_request"
    assert answered["error_description"] == "duplicated parameter"
    assert answered["state"] == params["state"]  # the first values: state, response_mode

    pushed = requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/par/request",
        data=_repeated({k: v for k, v in params.items() if k != "client_id"}, repeat),
        auth=(service["client_id"], service["client_secret"]),
        timeout=10,
    )
    assert pushed.status_code == 400
    assert pushed.json() == {
        "error": "invalid_request",
        "error_description": "duplicated parameter",
    }


@pytest.mark.parametrize(
    ("body", "basic"),
    [
        ([("client_id", "{id}"), ("client_id", "autre-service")], True),
        ([("client_id", "{id}"), ("client_id", "{id}")], True),
        ([("client_id", "{id}"), ("client_secret", "{secret}"), ("client_secret", "x")], False),
        (
            [("client_id", "{id}"), ("client_secret", "{secret}"), ("client_secret", "{secret}")],
            False,
        ),
    ],
    ids=["client_id", "same-client_id", "client_secret", "same-client_secret"],
)
def test_a_pushed_request_repeating_the_client_or_its_secret_is_duplicated_parameter(
    server, service, body, basic
):
    """Keycloak's PAR endpoint authenticates the client (the first values), then reads the
    whole form with ``AuthzEndpointQueryStringParser``: a repeated ``client_id`` or
    ``client_secret`` is "duplicated parameter" there too, and no ``request_uri`` is issued —
    the second ``client_id`` is not dropped in favour of the authenticated one."""
    named = {"id": service["client_id"], "secret": service["client_secret"]}
    params = {k: v for k, v in _auth_params(service).items() if k != "client_id"}
    credentials = [(name, value.format(**named)) for name, value in body]
    pushed = requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/par/request",
        data=[*params.items(), *credentials],
        auth=(service["client_id"], service["client_secret"]) if basic else None,
        timeout=10,
    )
    assert pushed.status_code == 400, pushed.text
    assert pushed.json() == {
        "error": "invalid_request",
        "error_description": "duplicated parameter",
    }
    # Each sent once, the same request is pushed.
    once = requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/par/request",
        data=[*params.items(), *{name: value for name, value in reversed(credentials)}.items()],
        auth=(service["client_id"], service["client_secret"]) if basic else None,
        timeout=10,
    )
    assert once.status_code == 201, once.text


def test_a_repeated_client_secret_at_authorization_is_duplicated_parameter(server, service):
    """The authorization endpoint reads every query parameter through the same parser: a
    client's secret sent twice is a repeated parameter like any other (Keycloak's
    ``extractAdditionalReqParams``)."""
    params = _repeated(_auth_params(service), ("client_secret", "a"), ("client_secret", "b"))
    url = f"{server.issuer}/protocol/openid-connect/auth"
    answered = dict(_callback(_browser().get(url, params=params, allow_redirects=False)))
    assert answered["error"] == "invalid_request"
    assert answered["error_description"] == "duplicated parameter"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("count", [0, 2])
def test_a_missing_or_repeated_client_id_is_keycloaks_invalid_request_page(
    server, service, method, count
):
    """``AuthorizationEndpointRequestParserProcessor.getClientId`` wants exactly one
    ``client_id``, before any other check: none or two is Keycloak's error page "Invalid
    Request" (400), no redirect — not the "Missing parameter: client_id" of ``checkClient``,
    which that check leaves unreachable."""
    others = [(k, v) for k, v in _auth_params(service).items() if k != "client_id"]
    params = others + [("client_id", service["client_id"])] * count
    url = f"{server.issuer}/protocol/openid-connect/auth"
    if method == "GET":
        answer = _browser().get(url, params=params, allow_redirects=False, timeout=10)
    else:
        answer = _browser().post(url, data=params, allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "Location" not in answer.headers
    detail = re.search(r'id="error-detail">([^<]*)</p>', answer.text)
    assert detail is not None and detail.group(1) == "Requête invalide", answer.text
    assert "Missing parameter" not in answer.text and "is repeated" not in answer.text


def test_a_repeated_backchannel_parameter_is_duplicated_parameter(server):
    client = _ciba_client(server, "logiciel-double", interval=0)
    response = _backchannel(server, client, login_hint=["810000000001", "810000000002"])
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "duplicated parameter",
    }


def _tokens_of(server, client: dict) -> dict:
    code = dict(_callback(_login(server, _browser(), f"{server.base}/auth", _auth_params(client))))
    response = _token(
        server,
        {"grant_type": "authorization_code", "code": code["code"], "redirect_uri": CALLBACK},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_repeated_parameter_at_revocation_and_userinfo(server, service):
    """Keycloak's ``TokenRevocationEndpoint.checkParameterDuplicated`` (after client
    authentication) and ``UserInfoEndpoint.checkAccessTokenDuplicated`` (a form's
    ``access_token``): 400 ``invalid_request``, and nothing revoked, no claims read."""
    tokens = _tokens_of(server, service)
    access = tokens["access_token"]
    auth = (service["client_id"], service["client_secret"])
    revoke = f"{server.issuer}/protocol/openid-connect/revoke"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = f"token=garbage&token={access}"
    repeated = requests.post(revoke, data=body, headers=form, auth=auth, timeout=10)
    assert repeated.status_code == 400
    assert repeated.json() == {
        "error": "invalid_request",
        "error_description": "duplicated parameter",
    }
    wrong = requests.post(revoke, data=body, headers=form, auth=(auth[0], "x"), timeout=10)
    assert wrong.status_code == 401  # the client is authenticated first
    hinted = f"token={access}&token_type_hint=access_token&token_type_hint=refresh_token"
    assert (
        requests.post(revoke, data=hinted, headers=form, auth=auth, timeout=10).status_code == 400
    )

    userinfo = f"{server.issuer}/protocol/openid-connect/userinfo"
    twice = requests.post(userinfo, data=f"access_token={access}&access_token={access}",
                          headers=form, timeout=10)  # fmt: skip
    assert userinfo_refusal(twice) == keycloak_refusal(
        400, "invalid_request", "Duplicate parameter"
    )
    # Nothing was revoked: the token still reads the claims, by the form as by the header.
    once = requests.post(userinfo, data=f"access_token={access}", headers=form, timeout=10)
    assert once.status_code == 200, once.text


#: Scopes whose values are not separated by single spaces (RFC 6749 §3.3: scope-token
#: *( SP scope-token ), SP being %x20; a scope-token holds no tab, line feed or no-break
#: space), and how ``error_description`` shows them (RFC 6749 §5.2's characters only).
BADLY_SEPARATED_SCOPES = {
    "openid\u00a0scope_all": "openid%C2%A0scope_all",
    "openid\tscope_all": "openid%09scope_all",
    "openid\nscope_all": "openid%0Ascope_all",
    "openid  scope_all": "openid  scope_all",
    " openid": " openid",
}


@pytest.mark.parametrize("scope", list(BADLY_SEPARATED_SCOPES))
def test_scope_values_are_separated_by_one_space(server, service, scope):
    """Keycloak splits ``scope`` on " " only (``TokenManager.parseScopeParameter``, Java's
    ``split(" ")``) and refuses a value that is no client scope (``isValidScope``): a value
    holding another white space, or the empty one before a leading space or between two,
    is "Invalid scopes: <raw>" — at the authorization endpoint (a redirect), at PAR (there
    with ``invalid_request``, as Keycloak's ``ParEndpoint`` answers it) and at CIBA's."""
    shown = f"Invalid scopes: {BADLY_SEPARATED_SCOPES[scope]}"
    params = _auth_params(service, scope=scope)
    answer = _browser().get(
        f"{server.issuer}/protocol/openid-connect/auth", params=params, allow_redirects=False
    )
    answered = dict(_callback(answer))
    assert (answered["error"], answered["error_description"]) == ("invalid_scope", shown)
    assert answered["state"] == params["state"]
    pushed = requests.post(
        f"{server.issuer}/protocol/openid-connect/ext/par/request",
        data={k: v for k, v in params.items() if k != "client_id"},
        auth=(service["client_id"], service["client_secret"]),
        timeout=10,
    )
    assert pushed.status_code == 400
    assert pushed.json() == {"error": "invalid_request", "error_description": shown}
    client = _ciba_client(server, "logiciel-portee-" + secrets.token_hex(4), interval=0)
    refused = _backchannel(server, client, login_hint="810000000001", scope=scope)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_scope", "error_description": shown}


def test_a_trailing_space_in_scope_is_ignored_as_keycloak(server):
    """Java's ``split(" ")`` drops the empty values at the end: ``"openid scope_all "`` is
    the two scopes at Keycloak."""
    client = _ciba_client(server, "logiciel-espace-final", interval=0)
    ack = _backchannel(server, client, login_hint="810000000001", scope="openid scope_all ")
    assert ack.status_code == 200, ack.text
    tokens = _poll(server, client, ack.json()["auth_req_id"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid scope_all"


def test_an_empty_scope_is_one_empty_value_as_keycloak(server, service):
    """``scope=`` is present, so not "missing parameter : scope": Java's ``"".split(" ")`` is
    one empty value, which no client scope is named, so Keycloak answers "Invalid scopes: "
    (docs/reference/keycloak-behaviour.md, "Scope values") at CIBA's endpoint, at the
    authorization endpoint and at the refresh grant."""
    client = _ciba_client(server, "logiciel-portee-vide-" + secrets.token_hex(4), interval=0)
    refused = _backchannel(server, client, login_hint="810000000001", scope="")
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_scope", "error_description": "Invalid scopes: "}
    params = _auth_params(service, scope="")
    answer = _browser().get(
        f"{server.issuer}/protocol/openid-connect/auth", params=params, allow_redirects=False
    )
    answered = dict(_callback(answer))
    assert (answered["error"], answered["error_description"]) == (
        "invalid_scope",
        "Invalid scopes: ",
    )
    ack = _backchannel(server, client, login_hint="810000000001", scope="openid scope_all")
    tokens = _poll(server, client, ack.json()["auth_req_id"]).json()
    refreshed = _token(
        server,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": ""},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert refreshed.status_code == 400
    assert refreshed.json() == {"error": "invalid_scope", "error_description": "Invalid scopes: "}


def test_a_scope_of_spaces_only_is_no_scope_as_keycloak(server):
    """Java's ``"   ".split(" ")`` drops every empty value, all being at the end: Keycloak
    accepts the CIBA request as one without any scope (no ``openid``: no ID token,
    "CIBA without openid") where santeid said "missing parameter : scope"."""
    client = _ciba_client(server, "logiciel-espaces-" + secrets.token_hex(4), interval=0)
    ack = _backchannel(server, client, login_hint="810000000001", scope="   ")
    assert ack.status_code == 200, ack.text
    tokens = _poll(server, client, ack.json()["auth_req_id"])
    assert tokens.status_code == 200, tokens.text
    assert "id_token" not in tokens.json()

"""Against a real ``santeid serve`` process, the request shapes PSC integrations send for
logout and the other endpoints Keycloak serves, each checked against Keycloak's answer
(docs/reference/keycloak-behaviour.md: Logout, Realm endpoints, Discovery):

* RP-initiated logout returning to a *login* redirect URI (Keycloak's "+" rule), by GET or by
  the relying party's form POST; when the browser is asked to confirm, and Keycloak's error
  pages;
* the adapters' refresh-token logout (``POST …/logout``, 204), an expired token included;
* userinfo with the access token of a session logged out;
* OIDC Back-Channel Logout 1.0 delivered to a local receiver, the logout token verified
  against the JWKS; Front-Channel Logout 1.0 iframes;
* CORS preflight and actual requests for registered web origins;
* ``GET /auth/realms/esante-wallet`` and an unknown realm; ``x5c`` in the JWKS;
* pushed authorization requests (RFC 9126) and request objects (RFC 9101);
* every discovery value that an authorization request can carry is accepted.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from tests.support.logout_receiver import LogoutReceiver
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import userinfo_refusal
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

SECRET = "a-long-secret-for-the-logout-conformance-test"
REDIRECT_URI = "https://service.example.org/callback"
WEB_ORIGIN = "https://service.example.org"
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
#: In a test's parameters, the ID token of the browser's own login.
ID_TOKEN = object()
#: Keycloak's userinfo answer to an access token whose session was logged out.
USER_SESSION_NOT_FOUND = keycloak_refusal(401, "invalid_token", "user_session_not_found")


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    """``santeid serve --workers 2`` on Redis, as deployed: a login, a pushed request or a
    logout may land on either worker."""
    with santeid_process(
        tmp_path_factory.mktemp("logout-server"),
        args=["--workers", "2"],
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/11",
    ) as process:
        yield described(process)


def described(process) -> dict:
    """What the tests read of a running server: its URLs, discovery document and two sandbox
    professionals approved at once."""
    discovery = requests.get(
        f"{process.issuer}/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    professionals = [
        p["national_id"]
        for p in json.loads(process.cli("directory", "list", "--json").stdout)
        if p["sandbox_auto_approve"] and p.get("status", "active") == "active"
    ]
    return {
        "base": process.base,
        "issuer": process.issuer,
        "process": process,
        "discovery": discovery,
        "professional": professionals[0],
        "other_professional": professionals[1],
    }


def register(server, client_id: str, **metadata) -> dict:
    """``santeid clients add`` with the metadata a PSC integration declares."""
    document = {
        "client_id": client_id,
        "client_name": f"Logiciel {client_id}",
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        **metadata,
    }
    server["process"].cli("clients", "add", "--replace", "-", stdin=json.dumps(document))
    return document


class Browser:
    """One browser (cookie jar) logging a professional in to one registered service."""

    def __init__(self, server, client_id: str):
        self.server = server
        self.client_id = client_id
        self.http = requests.Session()
        self.http.trust_env = False

    def authorize_url(self, **params) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all",
            "state": "st-1",
            "nonce": "n-1",
        }
        query.update(params)
        query = {k: v for k, v in query.items() if v is not None}
        return self.server["discovery"]["authorization_endpoint"] + "?" + urlencode(query)

    def logout(self, tokens: dict, *, state: str) -> requests.Response:
        """RP-initiated logout back to the login redirect URI."""
        params = {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": REDIRECT_URI,
            "state": state,
        }
        return self.get(self.server["discovery"]["end_session_endpoint"], params=params)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=10, **kwargs)

    def login_from(self, response: requests.Response, national_id: str | None = None) -> dict:
        """From the redirect to the login page to the parameters of the callback."""
        assert response.status_code == 302, response.text
        login_url = self.server["base"] + urlsplit(response.headers["Location"]).path
        login_url += "?" + urlsplit(response.headers["Location"]).query
        page = self.get(login_url)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        posted = self.http.post(
            login_url,
            data={"national_id": national_id or self.server["professional"], "csrf_token": csrf},
            allow_redirects=False,
            timeout=10,
        )
        assert posted.status_code == 303, posted.text
        txid = parse_qs(urlsplit(login_url).query)["tx"][0]
        done = self.get(f"{self.server['issuer']}/login-actions/complete?tx={txid}")
        return callback(done)

    def login(self, **params) -> dict:
        """Authorization code flow through the token endpoint; returns the token response."""
        result = self.login_from(self.get(self.authorize_url(**params)))
        return token_request(
            self.server,
            self.client_id,
            {
                "grant_type": "authorization_code",
                "code": result["code"],
                "redirect_uri": REDIRECT_URI,
            },
        ).json()


def callback(response: requests.Response) -> dict:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token_request(server, client_id: str, data: dict, **headers) -> requests.Response:
    return requests.post(
        server["discovery"]["token_endpoint"],
        data=data,
        auth=(client_id, SECRET),
        headers=headers,
        timeout=10,
    )


def refresh_token_logout(server, client_id: str, refresh_token: str) -> requests.Response:
    """Keycloak's refresh-token logout: ``POST …/logout`` with the client's secret (Basic)."""
    return requests.post(
        server["discovery"]["end_session_endpoint"],
        data={"refresh_token": refresh_token},
        auth=(client_id, SECRET),
        timeout=10,
    )


def jwks(server) -> KeySet:
    return KeySet.import_key_set(requests.get(server["discovery"]["jwks_uri"], timeout=5).json())


# -- logout ----------------------------------------------------------------------------------
def test_logout_returns_to_the_login_redirect_uri(server):
    """pmsipilot/oauth2-prosanteconnect and the ANS Keycloak connector: GET logout with the ID
    token and a post_logout_redirect_uri registered only as a redirect URI."""
    register(server, "rp-logout-plus")
    browser = Browser(server, "rp-logout-plus")
    tokens = browser.login()
    response = browser.logout(tokens, state="logout-state")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{REDIRECT_URI}?state=logout-state"
    silent = callback(browser.get(browser.authorize_url(prompt="none")))
    assert silent["error"] == "login_required"


def _page_text(response: requests.Response) -> str:
    return html.unescape(response.text)


def _still_logged_in(browser: Browser) -> bool:
    return "code" in callback(browser.get(browser.authorize_url(prompt="none")))


def test_logout_without_a_browser_session_returns_at_once(server):
    """Keycloak skips the confirmation when a ``client_id`` and its registered
    ``post_logout_redirect_uri`` come without ``id_token_hint`` from a browser without a
    session: there is nothing to log out. The same request as a form POST (RP-Initiated
    Logout 1.0 §2: the OP supports GET and POST) is answered alike."""
    register(server, "rp-logout-nobody")
    params = {
        "client_id": "rp-logout-nobody",
        "post_logout_redirect_uri": REDIRECT_URI,
        "state": "s1",
    }
    endpoint = server["discovery"]["end_session_endpoint"]
    anonymous = Browser(server, "rp-logout-nobody")
    got = anonymous.get(endpoint, params=params)
    assert got.status_code == 302, got.text
    assert got.headers["Location"] == f"{REDIRECT_URI}?state=s1"
    posted = anonymous.http.post(endpoint, data=params, allow_redirects=False, timeout=10)
    assert posted.status_code == 302, posted.text
    assert posted.headers["Location"] == f"{REDIRECT_URI}?state=s1"


def test_a_relying_partys_form_post_logs_out_as_its_get_does(server):
    """A relying party's auto-submitted form carries no CSRF token of santeid's: with a valid
    ``id_token_hint`` of the browser's session it ends that session at once, as the GET."""
    register(server, "rp-logout-post")
    browser = Browser(server, "rp-logout-post")
    tokens = browser.login()
    posted = browser.http.post(
        server["discovery"]["end_session_endpoint"],
        data={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": REDIRECT_URI,
            "state": "by-post",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 302, posted.text
    assert posted.headers["Location"] == f"{REDIRECT_URI}?state=by-post"
    assert not _still_logged_in(browser)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        # An unknown client cannot vouch for the URI.
        (
            {"client_id": "nobody", "post_logout_redirect_uri": REDIRECT_URI},
            "L'URI de redirection est invalide",
        ),
        # The parameter of Keycloak's legacy logout is refused.
        ({"redirect_uri": REDIRECT_URI}, "Paramètre invalide : redirect_uri"),
        # A post_logout_redirect_uri needs a client to check it against.
        ({"post_logout_redirect_uri": REDIRECT_URI}, "Paramètres manquants : id_token_hint"),
        ({"id_token_hint": "not.an.id-token"}, "Paramètre invalide : id_token_hint"),
        # An empty parameter is a parameter, as Keycloak reads it (an empty string, not null).
        ({"id_token_hint": ""}, "Paramètre invalide : id_token_hint"),
        ({"post_logout_redirect_uri": ""}, "Paramètres manquants : id_token_hint"),
        (
            {"id_token_hint": ID_TOKEN, "post_logout_redirect_uri": ""},
            "L'URI de redirection est invalide",
        ),
        (
            {"client_id": "", "post_logout_redirect_uri": REDIRECT_URI},
            "L'URI de redirection est invalide",
        ),
        ({"client_id": "", "id_token_hint": ID_TOKEN}, "Paramètre invalide : id_token_hint"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_logout_refusals_are_keycloaks_pages(server, params, text, method):
    """Keycloak's error pages, by GET or by a relying party's form POST; nothing ends.
    ``ID_TOKEN`` stands for the browser's own ID token."""
    register(server, "rp-logout-refusals")
    browser = Browser(server, "rp-logout-refusals")
    tokens = browser.login()
    params = {k: tokens["id_token"] if v is ID_TOKEN else v for k, v in params.items()}
    endpoint = server["discovery"]["end_session_endpoint"]
    if method == "GET":
        refused = browser.get(endpoint, params=params)
    else:
        refused = browser.http.post(endpoint, data=params, allow_redirects=False, timeout=10)
    assert refused.status_code == 400
    assert "Location" not in refused.headers
    assert text in _page_text(refused)
    assert _still_logged_in(browser)


def test_an_empty_refresh_token_at_logout_is_an_invalid_one(server):
    """Keycloak reads ``refresh_token=`` as a refresh token, an empty one: ``invalid_grant``
    "Invalid refresh token", not the "No refresh token" of a request without it."""
    register(server, "rp-empty-refresh-logout")
    browser = Browser(server, "rp-empty-refresh-logout")
    browser.login()
    empty = refresh_token_logout(server, "rp-empty-refresh-logout", "")
    assert empty.status_code == 400
    assert empty.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    assert _still_logged_in(browser)


def test_a_hint_of_another_session_asks_the_browser_first(server):
    """Keycloak's forced confirmation: the ID token of session 1 sent from a browser that
    holds session 2 ends nothing until that browser confirms; confirmed, session 1 ends and
    the browser is logged out."""
    register(server, "rp-two-browsers")
    first, second = Browser(server, "rp-two-browsers"), Browser(server, "rp-two-browsers")
    tokens = first.login()
    second.login()
    page = second.get(
        server["discovery"]["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": REDIRECT_URI,
            "state": "s2",
        },
    )
    assert page.status_code == 200, page.text
    assert 'id="confirm-logout"' in page.text
    assert _still_logged_in(first) and _still_logged_in(second)
    form = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields = {name: html.unescape(value) for name, value in fields.items()}
    confirmed = second.http.post(
        urljoin(server["base"], html.unescape(form)),
        data=fields,
        allow_redirects=False,
        timeout=10,
    )
    assert confirmed.status_code == 302, confirmed.text
    assert confirmed.headers["Location"] == f"{REDIRECT_URI}?state=s2"
    assert not _still_logged_in(first)
    assert not _still_logged_in(second)


def test_refresh_token_logout_ends_the_session(server):
    """python-keycloak's ``logout(refresh_token)``: POST client_id/secret + refresh_token."""
    register(server, "rp-refresh-logout")
    browser = Browser(server, "rp-refresh-logout")
    tokens = browser.login()
    response = refresh_token_logout(server, "rp-refresh-logout", tokens["refresh_token"])
    assert response.status_code == 204
    assert response.content == b""
    refreshed = token_request(
        server,
        "rp-refresh-logout",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    userinfo = requests.get(
        server["discovery"]["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + tokens["access_token"]},
        timeout=10,
    )
    # The token itself verifies; its session is gone: Keycloak's UserInfoEndpoint words that
    # apart from "Token verification failed".
    assert userinfo_refusal(userinfo) == USER_SESSION_NOT_FOUND
    silent = callback(browser.get(browser.authorize_url(prompt="none")))
    assert silent["error"] == "login_required"


def test_an_expired_refresh_token_still_ends_its_session(tmp_path):
    """Keycloak's refresh-token logout checks the token's signature, not its expiry: the
    session it names ends and the answer is 204 (docs/reference/keycloak-behaviour.md,
    Logout) — a service whose refresh token lapsed can still log its professional out."""
    with santeid_process(
        tmp_path, SANTEID_STORE_URL="memory://", SANTEID_REFRESH_TOKEN_LIFETIME="2"
    ) as process:
        server = described(process)
        register(server, "rp-expired-logout")
        browser = Browser(server, "rp-expired-logout")
        tokens = browser.login()
        time.sleep(tokens["refresh_expires_in"] + 1)
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        expired = token_request(server, "rp-expired-logout", refresh)
        assert expired.json()["error_description"] == "Token is not active"
        response = refresh_token_logout(server, "rp-expired-logout", tokens["refresh_token"])
        assert response.status_code == 204, response.text
        silent = callback(browser.get(browser.authorize_url(prompt="none")))
        assert silent["error"] == "login_required"
        # Once more, its session already over: 204 again, as Keycloak when it finds none.
        again = refresh_token_logout(server, "rp-expired-logout", tokens["refresh_token"])
        assert again.status_code == 204


def test_backchannel_logout_token_reaches_the_receiver(server):
    with LogoutReceiver() as receiver:
        register(server, "rp-backchannel", backchannel_logout_uri=receiver.url)
        browser = Browser(server, "rp-backchannel")
        tokens = browser.login()
        response = refresh_token_logout(server, "rp-backchannel", tokens["refresh_token"])
        assert response.status_code == 204
        assert receiver.event.wait(10), "no logout token delivered"
    (delivery,) = receiver.received
    assert delivery["content_type"] == "application/x-www-form-urlencoded"
    keys = jwks(server)
    logout = jwt.decode(delivery["form"]["logout_token"], keys, algorithms=["RS256"])
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    claims = logout.claims
    assert logout.header["typ"] == "logout+jwt"
    # Keycloak's LogoutToken sets its type claim, as every Keycloak token has one.
    assert claims["typ"] == "Logout"
    assert claims["iss"] == server["issuer"]
    assert claims["aud"] == "rp-backchannel"
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert claims["sid"] == id_token["sid"] == tokens["session_state"]
    assert claims["sub"] == id_token["sub"]
    assert isinstance(claims["iat"], int) and claims["jti"]
    assert "nonce" not in claims


#: Seconds the slow relying party takes to answer a logout token, and the server's bound on
#: a delivery (``backchannel_logout_timeout``).
SLOW_ANSWER = 4
DELIVERY_TIMEOUT = 1
#: Sessions ended one right after the other.
SESSIONS = 12


def _join_by_sso(browser: Browser, client_id: str) -> None:
    """``client_id`` gets tokens in ``browser``'s SSO session (no login page)."""
    other = Browser(browser.server, client_id)
    other.http = browser.http
    code = callback(other.get(other.authorize_url()))["code"]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    assert token_request(browser.server, client_id, data).status_code == 200


def test_a_slow_receiver_delays_no_other_and_no_token_expires_in_transit(tmp_path):
    """A relying party checks a logout token's ``exp`` (Back-Channel Logout 1.0 §2.6).
    Keycloak signs each logout token as it sends it, within the request that ends the session
    (``AuthenticationManager.backchannelLogoutAll``, docs/reference/keycloak-behaviour.md,
    "Logout"). santeid sends them within that request too, to every receiver at once, the
    request waiting for them ``backchannel_logout_timeout`` at most: sessions ended one after
    the other, each with a receiver that hangs, one that answers 500 and one that refuses the
    connection, still reach the prompt receiver before each logout answers, with a token
    signed as it left; the others are tried once each (Keycloak does not retry either)."""
    with (
        LogoutReceiver(delay=SLOW_ANSWER) as slow,
        LogoutReceiver() as prompt,
        LogoutReceiver(status=500) as failing,
        santeid_process(
            tmp_path,
            SANTEID_STORE_URL="memory://",
            SANTEID_BACKCHANNEL_LOGOUT_TIMEOUT=str(DELIVERY_TIMEOUT),
        ) as process,
    ):
        server = described(process)
        register(server, "rp-prompt", backchannel_logout_uri=prompt.url)
        register(server, "rp-slow", backchannel_logout_uri=slow.url)
        register(server, "rp-failing", backchannel_logout_uri=failing.url)
        register(server, "rp-refused", backchannel_logout_uri="http://127.0.0.1:9/logout")
        sessions = []
        for _ in range(SESSIONS):
            browser = Browser(server, "rp-prompt")
            tokens = browser.login()
            for client_id in ("rp-slow", "rp-failing", "rp-refused"):
                _join_by_sso(browser, client_id)
            sessions.append(tokens)
        keys = jwks(server)
        for tokens in sessions:
            started = time.time()
            response = refresh_token_logout(server, "rp-prompt", tokens["refresh_token"])
            answered = time.time()
            assert response.status_code == 204
            assert answered - started < DELIVERY_TIMEOUT + 1.5
            (delivery,) = [
                d
                for d in prompt.received
                if jwt.decode(d["form"]["logout_token"], keys).claims["sid"]
                == tokens["session_state"]
            ]
            assert delivery["at"] <= answered
            claims = jwt.decode(delivery["form"]["logout_token"], keys).claims
            assert int(started) <= claims["iat"] <= delivery["at"]
            assert delivery["at"] < claims["exp"]
        slow.wait_for(SESSIONS)
        failing.wait_for(SESSIONS)
        time.sleep(DELIVERY_TIMEOUT)
    # Once each: nothing is sent again.
    assert len(failing.received) == len(slow.received) == SESSIONS
    log = process.log.read_text()
    assert log.count("back-channel logout to client rp-failing answered 500") == SESSIONS
    assert log.count("back-channel logout to client rp-refused failed") == SESSIONS


def test_the_logout_token_is_signed_as_the_clients_id_tokens(tmp_path):
    """Back-Channel Logout 1.0 §2.6: the relying party validates a logout token as it does an
    ID token — with the algorithm it registered in ``id_token_signed_response_alg``, which
    Keycloak uses for both (``DefaultTokenManager.signatureAlgorithm``: ``LOGOUT`` as ``ID``,
    docs/reference/keycloak-behaviour.md, "Logout")."""
    santeid_home(tmp_path).cli("keys", "generate", "--alg", "ES256")
    with (
        LogoutReceiver() as receiver,
        santeid_process(tmp_path, SANTEID_STORE_URL="memory://") as process,
    ):
        server = described(process)
        register(
            server,
            "rp-es256",
            backchannel_logout_uri=receiver.url,
            id_token_signed_response_alg="ES256",
        )
        tokens = Browser(server, "rp-es256").login()
        response = refresh_token_logout(server, "rp-es256", tokens["refresh_token"])
        assert response.status_code == 204
        (delivery,) = receiver.received
        keys = jwks(server)
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["ES256"])
    logout = jwt.decode(delivery["form"]["logout_token"], keys, algorithms=["ES256"])
    assert id_token.header["alg"] == logout.header["alg"] == "ES256"
    assert logout.claims["sid"] == id_token.claims["sid"]


CIBA = "urn:openid:params:grant-type:ciba"


def _ciba_tokens(server, client_id: str) -> dict:
    """A CIBA grant (poll mode) for the auto-approved sandbox professional."""
    started = requests.post(
        f"{server['issuer']}/protocol/openid-connect/ext/ciba/auth",
        data={"scope": "openid scope_all", "login_hint": server["professional"]},
        auth=(client_id, SECRET),
        timeout=10,
    )
    assert started.status_code == 200, started.text
    poll = {"grant_type": CIBA, "auth_req_id": started.json()["auth_req_id"]}
    for _ in range(100):
        tokens = token_request(server, client_id, poll)
        if tokens.status_code == 200:
            return tokens.json()
        assert tokens.json()["error"] == "authorization_pending", tokens.text
        time.sleep(0.1)
    raise AssertionError("the CIBA request was never approved")


def test_ending_a_ciba_grant_sends_its_client_a_logout_token(server):
    """Keycloak's CIBA login is an ordinary user session (``CibaGrantType.createUserSession``
    → ``AuthenticationProcessor.attachSession``): ending it — a refresh-token logout, or an
    RP-initiated logout with its ID token — logs out its client session, whose client hears it
    by back-channel logout (docs/reference/keycloak-behaviour.md, "Logout"). Once: a second
    logout naming the same grant sends nothing."""
    with LogoutReceiver() as receiver:
        register(
            server,
            "rp-ciba-logout",
            redirect_uris=[],
            grant_types=[CIBA, "refresh_token"],
            backchannel_token_delivery_mode="poll",
            backchannel_polling_interval=0,
            backchannel_logout_uri=receiver.url,
        )
        by_refresh_token = _ciba_tokens(server, "rp-ciba-logout")
        by_id_token = _ciba_tokens(server, "rp-ciba-logout")
        endpoint = server["discovery"]["end_session_endpoint"]
        for _ in range(2):
            ended = refresh_token_logout(
                server, "rp-ciba-logout", by_refresh_token["refresh_token"]
            )
            assert ended.status_code == 204, ended.text
            page = requests.get(
                endpoint, params={"id_token_hint": by_id_token["id_token"]}, timeout=10
            )
            assert page.status_code == 200, page.text
        receiver.wait_for(2)
        time.sleep(0.5)
    keys = jwks(server)
    notified = sorted(
        (jwt.decode(d["form"]["logout_token"], keys).claims for d in receiver.received),
        key=lambda claims: claims["sid"] != by_refresh_token["session_state"],
    )
    assert [claims["sid"] for claims in notified] == [
        by_refresh_token["session_state"],
        by_id_token["session_state"],
    ]
    subject = jwt.decode(by_id_token["id_token"], keys).claims["sub"]
    for claims in notified:
        assert claims["aud"] == "rp-ciba-logout"
        assert claims["sub"] == subject
        assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}


def test_another_professional_logging_in_sends_a_logout_token(server):
    """The browser's previous session ends when another professional logs in on it: its
    clients hear it by back-channel logout."""
    with LogoutReceiver() as receiver:
        register(server, "rp-takeover", backchannel_logout_uri=receiver.url)
        browser = Browser(server, "rp-takeover")
        first = browser.login()
        second = browser.login_from(
            browser.get(browser.authorize_url(prompt="login")), server["other_professional"]
        )
        assert second["session_state"] != first["session_state"]
        assert receiver.event.wait(10), "no logout token delivered"
    (delivery,) = receiver.received
    claims = jwt.decode(delivery["form"]["logout_token"], jwks(server), algorithms=["RS256"])
    assert claims.claims["sid"] == first["session_state"]
    assert claims.claims["aud"] == "rp-takeover"


def test_operator_ends_a_session_from_the_command_line(server):
    """Keycloak's admin "Sign out": ``santeid sessions logout <sid>`` on the server's store."""
    with LogoutReceiver() as receiver:
        register(server, "rp-admin-logout", backchannel_logout_uri=receiver.url)
        browser = Browser(server, "rp-admin-logout")
        tokens = browser.login()
        out = server["process"].cli("sessions", "logout", tokens["session_state"]).stdout
        assert "rp-admin-logout" in out
        assert receiver.event.wait(10), "no logout token delivered"
    claims = jwt.decode(receiver.received[0]["form"]["logout_token"], jwks(server))
    assert claims.claims["sid"] == tokens["session_state"]
    silent = callback(browser.get(browser.authorize_url(prompt="none")))
    assert silent["error"] == "login_required"
    # Its LOGOUT event is the command's (docs/operations.md "Authentication events": events of
    # a command have the source cli), the newest of them.
    listed = server["process"].cli("events", "list", "--type", "LOGOUT", "--limit", "1", "--json")
    (logout,) = json.loads(listed.stdout)
    assert logout["source"] == "cli"
    unknown = server["process"].cli("sessions", "logout", "no-such-session", check=False)
    assert unknown.returncode == 1
    assert "no session" in unknown.stderr


def test_frontchannel_logout_renders_the_iframes(server):
    register(
        server,
        "rp-frontchannel",
        frontchannel_logout_uri="https://service.example.org/frontchannel-logout",
    )
    browser = Browser(server, "rp-frontchannel")
    tokens = browser.login()
    response = browser.logout(tokens, state="s")
    assert response.status_code == 200
    frames = re.findall(r'<iframe[^>]* src="([^"]+)"', response.text)
    assert len(frames) == 1
    frame = urlsplit(frames[0].replace("&amp;", "&"))
    assert f"{frame.scheme}://{frame.netloc}{frame.path}" == (
        "https://service.example.org/frontchannel-logout"
    )
    assert parse_qs(frame.query) == {"iss": [server["issuer"]], "sid": [tokens["session_state"]]}
    assert "frame-src https://service.example.org" in response.headers["Content-Security-Policy"]
    assert f'href="{REDIRECT_URI}?state=s"' in response.text


@pytest.mark.parametrize("excluded", [True, False])
def test_the_issuer_parameter_follows_the_clients_setting_when_the_login_ends(server, excluded):
    """RFC 9207 ``iss`` is in an authorization response unless the client's "Exclude Issuer
    From Authentication Response" is on — the setting as it is when the response is sent, as
    Keycloak's ``OIDCLoginProtocol.authenticated`` and ``sendError`` read the client's
    configuration then (docs/reference/keycloak-behaviour.md, "Authorization endpoint"). An
    operator switches it during a login: the code, and the refusal of a professional who
    cancels, follow the switch; they followed the setting of the login's start."""
    client_id = f"rp-iss-switched-{str(excluded).lower()}"
    register(server, client_id, exclude_issuer_from_auth_response=not excluded)
    browser, cancelling = Browser(server, client_id), Browser(server, client_id)
    started = browser.get(browser.authorize_url())
    login_page = cancelling.get(cancelling.authorize_url())
    assert login_page.status_code == 302, login_page.text
    login_url = server["base"] + urlsplit(login_page.headers["Location"]).path
    login_url += "?" + urlsplit(login_page.headers["Location"]).query
    page = cancelling.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    register(server, client_id, exclude_issuer_from_auth_response=excluded)
    answered = browser.login_from(started)
    assert "code" in answered
    cancelled = callback(cancelling.http.post(
        login_url.replace("/authenticate", "/cancel"), data={"csrf_token": csrf},
        allow_redirects=False, timeout=10))  # fmt: skip
    assert cancelled["error"] == "access_denied"
    for params in (answered, cancelled):
        assert params.get("iss") == (None if excluded else server["issuer"]), params


# -- CORS ------------------------------------------------------------------------------------
def test_cors_preflight_and_actual_requests(server):
    register(server, "rp-spa", web_origins=["+"])
    tokens = Browser(server, "rp-spa").login()
    token_endpoint = server["discovery"]["token_endpoint"]
    preflight = requests.options(
        token_endpoint,
        headers={
            "Origin": WEB_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Max-Age"] == "3600"

    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    allowed = token_request(server, "rp-spa", refresh, Origin=WEB_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    elsewhere = token_request(
        server,
        "rp-spa",
        {"grant_type": "refresh_token", "refresh_token": allowed.json()["refresh_token"]},
        Origin="https://evil.example.net",
    )
    assert "Access-Control-Allow-Origin" not in elsewhere.headers

    userinfo = requests.get(
        server["discovery"]["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + allowed.json()["access_token"], "Origin": WEB_ORIGIN},
        timeout=5,
    )
    assert userinfo.status_code == 200
    assert userinfo.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert userinfo.headers["Access-Control-Expose-Headers"] == "Access-Control-Allow-Methods"
    # Userinfo's refusals: any origin may read them until the token's client is known (no
    # token, one that does not verify), then only the client's; the challenge is exposed, the
    # body being empty (Keycloak's UserInfoEndpoint and OAuth2Error).
    other = "https://any.example.com"
    for authorization in (None, "Bearer not-a-token"):
        headers = {"Origin": other, **({"Authorization": authorization} if authorization else {})}
        refused = requests.get(server["discovery"]["userinfo_endpoint"], headers=headers,
                               timeout=5)  # fmt: skip
        assert refused.status_code == 401 and refused.content == b""
        assert refused.headers["Access-Control-Allow-Origin"] == other
        assert refused.headers["Access-Control-Expose-Headers"] == (
            "Access-Control-Allow-Methods, WWW-Authenticate"
        )
    # Revocation: the authenticated client's web origins, as the token endpoint (Keycloak's
    # TokenRevocationEndpoint: its preflight, then cors.allowedOrigins(session, client)).
    revocation_endpoint = server["discovery"]["revocation_endpoint"]
    preflight = requests.options(revocation_endpoint, timeout=5, headers={
        "Origin": WEB_ORIGIN, "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert preflight.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    unknown = requests.post(revocation_endpoint, data={"token": "unknown"}, timeout=5,
                            auth=("rp-spa", SECRET), headers={"Origin": other})  # fmt: skip
    assert unknown.status_code == 200
    assert "Access-Control-Allow-Origin" not in unknown.headers
    revoked = requests.post(revocation_endpoint, data={"token": allowed.json()["access_token"]},
                            auth=("rp-spa", SECRET), headers={"Origin": WEB_ORIGIN},
                            timeout=5)  # fmt: skip
    assert revoked.status_code == 200
    assert revoked.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert revoked.headers["Access-Control-Allow-Credentials"] == "true"
    assert revoked.headers["Access-Control-Expose-Headers"] == "Access-Control-Allow-Methods"
    # Keycloak's success is an empty 200 without Content-Type (allowEmptyContentType): a
    # library that checks the type of what it reads (oidc-client-ts: application/json or none)
    # must not be told text/html.
    assert revoked.content == b""
    assert "Content-Type" not in revoked.headers
    for origin, readable in ((WEB_ORIGIN, True), (other, False)):
        bearer = {"Authorization": "Bearer " + allowed.json()["access_token"], "Origin": origin}
        refused = requests.get(server["discovery"]["userinfo_endpoint"], headers=bearer,
                               timeout=5)  # fmt: skip
        assert refused.status_code == 401
        assert ("Access-Control-Allow-Origin" in refused.headers) is readable
    # Discovery and the JWKS: Keycloak allows every origin.
    for url in (
        server["discovery"]["jwks_uri"],
        f"{server['issuer']}/.well-known/openid-configuration",
    ):
        public = requests.get(url, headers={"Origin": "https://any.example.com"}, timeout=5)
        assert public.headers["Access-Control-Allow-Origin"] == "https://any.example.com"
        assert "Origin" in public.headers["Vary"]


def test_a_preflight_allows_the_dpop_header_as_keycloaks(server):
    """Keycloak's ``Cors.DEFAULT_ALLOW_HEADERS`` lists ``DPoP`` (docs/reference/
    keycloak-behaviour.md, "Realm endpoints"): a page whose library sends a DPoP proof
    (@axa-fr/oidc-client's ``demonstrating_proof_of_possession``) passes the preflight even
    where the provider offers no DPoP, as PSC, which then ignores the proof."""
    endpoints = ("token_endpoint", "revocation_endpoint", "userinfo_endpoint")
    for endpoint in endpoints:
        preflight = requests.options(server["discovery"][endpoint], timeout=5, headers={
            "Origin": WEB_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,dpop"})  # fmt: skip
        assert preflight.status_code == 200
        allowed = {
            h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"dpop", "content-type", "authorization"} <= allowed, (endpoint, allowed)


def test_a_failed_client_authentication_may_be_read_by_any_origin(server):
    """Keycloak's ``AuthorizeClientUtil.authorizeClient`` allows every origin
    (``cors.allowAllOrigins()``, then ``cors.add()``) when the client does not authenticate,
    at the token and revocation endpoints alike, before any client's web origins are known:
    a browser application is shown the 401 rather than a network error —
    from its web origin as from any other, a wrong secret as an unknown client
    (docs/reference/keycloak-behaviour.md, "Realm endpoints"; Keycloak's
    ``TokenEndpointCorsTest.accessTokenWithConfidentialClientCorsRequest``)."""
    register(server, "rp-spa-refused", web_origins=["+"])
    other = "https://any.example.com"
    endpoints = {
        server["discovery"]["token_endpoint"]: {"grant_type": "client_credentials"},
        server["discovery"]["revocation_endpoint"]: {"token": "unknown"},
    }
    for url, data in endpoints.items():
        for auth in (("rp-spa-refused", "wrong"), ("no-such-client", SECRET)):
            for origin in (WEB_ORIGIN, other):
                refused = requests.post(url, data=data, auth=auth, headers={"Origin": origin},
                                        timeout=5)  # fmt: skip
                assert refused.status_code == 401, (url, auth, refused.text)
                # Keycloak's words: a wrong secret unauthorized_client, no client invalid_client.
                assert refused.json()["error"] in ("unauthorized_client", "invalid_client")
                assert refused.headers.get("Access-Control-Allow-Origin") == origin, (url, auth)
                assert refused.headers["Access-Control-Allow-Credentials"] == "true"
                assert refused.headers["Access-Control-Expose-Headers"] == (
                    "Access-Control-Allow-Methods"
                )
    # A client that authenticates: its web origins again, and no other.
    revoked = requests.post(server["discovery"]["revocation_endpoint"],
                            data={"token": "unknown"}, auth=("rp-spa-refused", SECRET),
                            headers={"Origin": other}, timeout=5)  # fmt: skip
    assert revoked.status_code == 200
    assert "Access-Control-Allow-Origin" not in revoked.headers


def test_the_device_authorization_endpoint_answers_cors_as_keycloaks(server):
    """Keycloak's ``DeviceEndpoint`` (docs/reference/keycloak-behaviour.md, "Grants PSC's
    clients cannot use"): a preflight is answered for any origin with ``POST, OPTIONS``; a
    client that does not authenticate is refused for any origin to read
    (``AuthorizeClientUtil.authorizeClient``), a client without the device flow with no CORS
    header (an ``ErrorResponseException``, not a CORS one). santeid has no device flow, so no
    user-code page: ``GET`` is 405."""
    register(server, "rp-no-device", web_origins=["+"])
    device = server["discovery"]["token_endpoint"].removesuffix("/token") + "/auth/device"
    other = "https://any.example.com"
    preflight = requests.options(device, timeout=5, headers={
        "Origin": other, "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers.get("Access-Control-Allow-Origin") == other
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["Access-Control-Max-Age"] == "3600"

    refused = requests.post(device, data={"scope": "openid"}, auth=("rp-no-device", "wrong"),
                            headers={"Origin": other}, timeout=5)  # fmt: skip
    assert refused.status_code == 401
    assert refused.headers.get("Access-Control-Allow-Origin") == other
    assert refused.headers["Access-Control-Expose-Headers"] == "Access-Control-Allow-Methods"
    for origin in (WEB_ORIGIN, other):
        off = requests.post(device, data={"scope": "openid"}, auth=("rp-no-device", SECRET),
                            headers={"Origin": origin}, timeout=5)  # fmt: skip
        assert (off.status_code, off.json()["error"]) == (400, "unauthorized_client")
        assert "Access-Control-Allow-Origin" not in off.headers

    page = requests.get(device, headers={"Origin": other}, timeout=5)
    assert page.status_code == 405
    assert page.headers["Allow"] == "POST, OPTIONS"


def test_the_pushed_authorization_request_endpoint_answers_cors_as_keycloaks(server):
    """Keycloak's ``ParEndpoint`` (docs/reference/keycloak-behaviour.md, "Realm endpoints"):
    its ``Cors`` exposes ``Access-Control-Allow-Methods``; once the client authenticates, its
    web origins read the answer (``AbstractParEndpoint.authorizeClient``:
    ``cors.allowedOrigins(session, client)``), the 201 and the refusals after it alike
    (``CorsErrorResponseException``); a client that does not authenticate is refused for any
    origin to read. A single-page application pushes its request from the page
    (@axa-fr/oidc-client's ``par``), a simple request: no preflight."""
    register(server, "rp-spa-par", web_origins=["+"])
    par = server["discovery"]["pushed_authorization_request_endpoint"]
    form = {"response_type": "code", "client_id": "rp-spa-par", "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all", "state": "s", "nonce": "n"}  # fmt: skip
    other = "https://any.example.com"

    def push(origin: str, secret: str = SECRET, **changes: str) -> requests.Response:
        return requests.post(par, data={**form, **changes}, auth=("rp-spa-par", secret),
                             headers={"Origin": origin}, timeout=5)  # fmt: skip

    pushed = push(WEB_ORIGIN)
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers.get("Access-Control-Allow-Origin") == WEB_ORIGIN
    assert pushed.headers["Access-Control-Allow-Credentials"] == "true"
    assert pushed.headers["Access-Control-Expose-Headers"] == "Access-Control-Allow-Methods"
    refused = push(WEB_ORIGIN, scope="openid unknown_scope")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")
    assert refused.headers.get("Access-Control-Allow-Origin") == WEB_ORIGIN
    for answer in (push(other), push(other, scope="openid unknown_scope")):
        assert answer.status_code in (201, 400), answer.text
        assert "Access-Control-Allow-Origin" not in answer.headers
    for origin in (WEB_ORIGIN, other):
        unauthenticated = push(origin, secret="wrong")
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers.get("Access-Control-Allow-Origin") == origin
    preflight = requests.options(par, timeout=5, headers={
        "Origin": WEB_ORIGIN, "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_the_uma_grant_answers_cors_for_the_bearer_tokens_client(server):
    """Keycloak's ``PermissionGrantType`` (docs/reference/keycloak-behaviour.md, "Grants PSC's
    clients cannot use"): the ``Authorization: Bearer`` token's client (``azp``) gives the
    web origins of the answer — a live token's, then the refusal of its audience; a token that
    does not verify (revoked, its signature altered) is read unverified for that client, so its
    401 "Invalid bearer token" is readable by the client's pages too; a token that is no JWS
    names no client: no CORS."""
    register(server, "rp-uma", web_origins=["+"])
    tokens = Browser(server, "rp-uma").login()
    other = "https://any.example.com"
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:uma-ticket", "audience": "rp-uma"}

    def uma(token: str, origin: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Origin": origin}
        return requests.post(server["discovery"]["token_endpoint"], data=form, headers=headers,
                             timeout=5)  # fmt: skip

    live = tokens["access_token"]
    forged = live[:-4] + ("AAAA" if not live.endswith("AAAA") else "BBBB")
    for token, status in ((live, 400), (forged, 401)):
        readable = uma(token, WEB_ORIGIN)
        assert readable.status_code == status, readable.text
        assert readable.headers.get("Access-Control-Allow-Origin") == WEB_ORIGIN
        assert readable.headers["Access-Control-Allow-Credentials"] == "true"
        assert readable.headers["Access-Control-Expose-Headers"] == "Access-Control-Allow-Methods"
        assert "Access-Control-Allow-Origin" not in uma(token, other).headers
    revoked = requests.post(server["discovery"]["revocation_endpoint"], data={"token": live},
                            auth=("rp-uma", SECRET), timeout=5)  # fmt: skip
    assert revoked.status_code == 200
    refused = uma(live, WEB_ORIGIN)
    assert refused.json() == {"error": "invalid_grant", "error_description": "Invalid bearer token"}
    assert refused.headers.get("Access-Control-Allow-Origin") == WEB_ORIGIN
    for origin in (WEB_ORIGIN, other):
        opaque = uma("not-a-token", origin)
        assert opaque.status_code == 401
        assert "Access-Control-Allow-Origin" not in opaque.headers


# -- realm endpoints and keys ------------------------------------------------------------------
def test_realm_information_and_unknown_realm(server):
    info = requests.get(server["issuer"], timeout=5)
    assert info.status_code == 200
    body = info.json()
    assert list(body) == [
        "realm",
        "public_key",
        "token-service",
        "account-service",
        "tokens-not-before",
    ]
    assert body["realm"] == "esante-wallet"
    assert body["token-service"] == f"{server['issuer']}/protocol/openid-connect"
    assert body["account-service"] == f"{server['issuer']}/account"
    assert body["tokens-not-before"] == 0
    signing = jwks(server).keys[0]
    assert base64.b64decode(body["public_key"]) == signing.public_key.public_bytes(*SPKI)
    for path in ("/auth/realms/other", "/auth/realms/other/protocol/openid-connect/certs"):
        missing = requests.get(server["base"] + path, timeout=5)
        assert missing.status_code == 404
        assert missing.json() == {"error": "Realm does not exist"}


def test_jwks_x5c_certifies_the_key_that_signs_id_tokens(server):
    register(server, "rp-x5c")
    tokens = Browser(server, "rp-x5c").login()
    published = requests.get(server["discovery"]["jwks_uri"], timeout=5).json()["keys"][0]
    cert = x509.load_der_x509_certificate(base64.b64decode(published["x5c"][0]))
    cert.verify_directly_issued_by(cert)
    # A client that trusts the certificate's key (e.g. a Java adapter reading x5c) verifies
    # the ID token with it.
    from_cert = RSAKey.import_key(cert.public_key().public_bytes(*SPKI))
    claims = jwt.decode(tokens["id_token"], from_cert, algorithms=["RS256"]).claims
    assert claims["aud"] == "rp-x5c"
    assert {"x5t", "x5t#S256"} <= published.keys()


# -- pushed authorization requests and request objects ---------------------------------------
def test_pushed_authorization_request_then_authorization(server):
    register(server, "rp-par")
    pushed = requests.post(
        server["discovery"]["pushed_authorization_request_endpoint"],
        data={
            "response_type": "code",
            "client_id": "rp-par",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all",
            "state": "par-state",
            "nonce": "par-nonce",
        },
        auth=("rp-par", SECRET),
        timeout=10,
    )
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == 60
    # Presented with another client's id: refused, and not used up (RFC 9126 §2.2 binds it
    # to the client that pushed it).
    register(server, "rp-par-other")
    stranger = Browser(server, "rp-par-other")
    stolen = stranger.get(
        server["discovery"]["authorization_endpoint"]
        + "?"
        + urlencode({"client_id": "rp-par-other", "request_uri": body["request_uri"]})
    )
    assert stolen.status_code == 400
    assert "Requête invalide" in stolen.text  # Keycloak's page; the reason is logged
    browser = Browser(server, "rp-par")
    url = (
        server["discovery"]["authorization_endpoint"]
        + "?"
        + urlencode({"client_id": "rp-par", "request_uri": body["request_uri"]})
    )
    result = browser.login_from(browser.get(url))
    assert result["state"] == "par-state"
    token = token_request(
        server,
        "rp-par",
        {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": REDIRECT_URI},
    )
    assert token.status_code == 200
    nonce = jwt.decode(token.json()["id_token"], jwks(server), algorithms=["RS256"]).claims
    assert nonce["nonce"] == "par-nonce"
    # Used once.
    assert browser.get(url).status_code == 400
    # Refused pushes answer 400 with the error (RFC 9126 §2.3).
    bad = requests.post(
        server["discovery"]["pushed_authorization_request_endpoint"],
        data={"response_type": "code", "redirect_uri": "https://evil.example.net/cb"},
        auth=("rp-par", SECRET),
        timeout=10,
    )
    assert bad.status_code == 400
    # Keycloak's ParEndpoint (ParTest.testFailureParIncludesInvalidRedirectUri).
    assert bad.json() == {
        "error": "invalid_request",
        "error_description": "Invalid parameter: redirect_uri",  # the authorization page's text
    }
    unauthenticated = requests.post(
        server["discovery"]["pushed_authorization_request_endpoint"],
        data={"response_type": "code", "client_id": "rp-par"},
        timeout=10,
    )
    assert unauthenticated.status_code == 401
    # Keycloak's AbstractParEndpoint: any failed client authentication.
    assert unauthenticated.json() == {
        "error": "invalid_request",
        "error_description": "Authentication failed.",
    }


def _signing_keys() -> dict:
    return {
        "RS256": RSAKey.generate_key(2048, parameters={"kid": "rs", "alg": "RS256"}, private=True),
        "PS256": RSAKey.generate_key(2048, parameters={"kid": "ps", "alg": "PS256"}, private=True),
        "ES256": ECKey.generate_key(
            "P-256", parameters={"kid": "es", "alg": "ES256"}, private=True
        ),
    }


def _unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def test_request_objects_signed_and_unsigned(server):
    keys = _signing_keys()
    register(
        server,
        "rp-jar",
        jwks={"keys": [key.as_dict(private=False) for key in keys.values()]},
    )
    claims = {
        "iss": "rp-jar",
        "aud": server["issuer"],
        "client_id": "rp-jar",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "from-the-object",
        "nonce": "jar-nonce",
    }
    browser = Browser(server, "rp-jar")
    objects = {"none": _unsigned(claims)}
    for alg, key in keys.items():
        objects[alg] = jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])
    for alg in server["discovery"]["request_object_signing_alg_values_supported"]:
        url = (
            server["discovery"]["authorization_endpoint"]
            + "?"
            + urlencode({"client_id": "rp-jar", "request": objects[alg], "state": "from-the-query"})
        )
        response = browser.get(url)
        assert response.status_code == 302, (alg, response.text)
        assert "/login-actions/authenticate" in response.headers["Location"], alg
    result = browser.login_from(browser.get(url))
    assert result["state"] == "from-the-object"  # the object's parameters win
    # Signed by a key the client did not register: refused on a page, never redirected.
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rs"}, private=True)
    forged = jwt.encode({"alg": "RS256", "kid": "rs"}, claims, stranger, algorithms=["RS256"])
    refused = browser.get(
        server["discovery"]["authorization_endpoint"]
        + "?"
        + urlencode({"client_id": "rp-jar", "request": forged})
    )
    assert refused.status_code == 400
    assert "Location" not in refused.headers
    assert "Requête invalide" in refused.text  # Keycloak's page; the reason is logged


# -- discovery tells the truth -----------------------------------------------------------------
VERIFIER_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _leads_to_login(browser: Browser, params: dict) -> bool:
    response = browser.get(browser.authorize_url(**params))
    location = response.headers.get("Location", "")
    return response.status_code == 302 and "/login-actions/authenticate" in location


def test_every_advertised_authorization_value_is_accepted(server):
    """Each value discovery advertises for an authorization request leads to the login page
    (not to an error): scopes, response modes and types, prompts, ACRs, locales."""
    discovery = server["discovery"]
    register(server, "rp-discovery")
    browser = Browser(server, "rp-discovery")
    cases = (
        [{"scope": f"openid {scope}"} for scope in discovery["scopes_supported"]]
        + [{"response_mode": mode} for mode in discovery["response_modes_supported"]]
        + [{"response_type": kind} for kind in discovery["response_types_supported"]]
        + [{"acr_values": acr} for acr in discovery["acr_values_supported"]]
        + [{"ui_locales": locale} for locale in discovery["ui_locales_supported"]]
        # Without a session, prompt=none answers login_required (tested above).
        + [{"prompt": p} for p in discovery["prompt_values_supported"] if p != "none"]
    )
    assert [case for case in cases if not _leads_to_login(browser, case)] == []
    assert discovery["backchannel_logout_supported"] is True
    assert discovery["frontchannel_logout_supported"] is True
    assert discovery["request_parameter_supported"] is True
    # request_uri is only for this server's PAR URNs (never fetched): not advertised.
    assert discovery["request_uri_parameter_supported"] is False


def test_every_advertised_pkce_method_is_accepted(server):
    register(server, "rp-discovery-pkce")
    browser = Browser(server, "rp-discovery-pkce")
    methods = server["discovery"]["code_challenge_methods_supported"]
    cases = [
        {"code_challenge": VERIFIER_CHALLENGE, "code_challenge_method": method}
        for method in methods
    ]
    assert [case for case in cases if not _leads_to_login(browser, case)] == []

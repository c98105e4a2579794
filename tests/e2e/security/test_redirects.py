"""Open redirects, attempted against a real ``santeid serve``.

* Authorization endpoint: a ``redirect_uri`` is compared with the registered ones as a plain
  string (OIDC Core §3.1.2.1; RFC 9700 §4.1.3): every look-alike of a registered URI is
  refused on an error page, never by a redirect — an error redirect to it would deliver the
  ``state`` and an attacker-made error to the attacker (RFC 6749 §4.1.2.1). So are an unknown
  client, ``prompt=none`` (whose ``login_required`` is a redirect), and an unsigned request
  object (RFC 9101) naming another URI.
* Logout: whatever else logout answers, the browser is never sent to a
  ``post_logout_redirect_uri`` the client did not register (RP-Initiated Logout 1.0 §3), nor
  to the ``redirect_uri`` of older Keycloak adapters — neither when the confirmation page's
  form (``…/logout/logout-confirm``) is posted, as shown or tampered with.

In each case the foreign URI appears in no ``Location``, and nowhere in the page either (no
link, form or script leads there)."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.operations import sandbox_login
from tests.support.security import browser
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-redirect-tests-0123456789"
REDIRECT_URI = "https://rp.example.org/cb"
LOGGED_OUT_URI = "https://rp.example.org/out"
EVIL = "https://evil.com/cb"
#: Registers only login redirect URIs: Keycloak's "+" lets it return to them after logout.
PLUS_CLIENT = "rp-redirects"
#: Registers a logout URI of its own: its login redirect URI is then no logout target.
LOGOUT_CLIENT = "rp-redirects-logout"
CLIENTS = [
    {
        "client_id": PLUS_CLIENT,
        "client_name": PLUS_CLIENT,
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    },
    {
        "client_id": LOGOUT_CLIENT,
        "client_name": LOGOUT_CLIENT,
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [LOGGED_OUT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    },
]
#: A native application's client (RFC 8252 §7.3): loopback redirect URIs registered without a
#: port, which any port then matches (Keycloak's ``RedirectUtils.verifyRedirectUri``); and one
#: registered with its port, which only that port matches.
LOOPBACK_CLIENT = "rp-loopback"
LOOPBACK_URIS = ["http://127.0.0.1/callback", "http://localhost/callback",
                 "http://127.0.0.1:8000/fixed"]  # fmt: skip
LOOPBACK_LOGGED_OUT = "http://127.0.0.1/logged-out"
CLIENTS.append(
    {
        "client_id": LOOPBACK_CLIENT,
        "client_name": LOOPBACK_CLIENT,
        "client_secret": SECRET,
        "redirect_uris": LOOPBACK_URIS,
        "post_logout_redirect_uris": [LOOPBACK_LOGGED_OUT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
)
#: What must still be refused for that client: other hosts dressed as a loopback one (a longer
#: host, user information, a backslash, a fragment), another scheme or address, the scheme or
#: host in other letters (compared as registered), another path,
#: another port where one was registered, a port out of range.
LOOPBACK_LOOK_ALIKES = [
    "http://127.0.0.1.evil.com:53123/callback",
    "http://localhost.evil.com:53123/callback",
    "http://localhost@evil.com/callback",
    "http://localhost:53123@evil.com/callback",
    "http://127.0.0.1:53123@evil.com/callback",
    "http://localhost:53123\\@evil.com/callback",
    "http://localhost:53123#@evil.com/callback",
    "http://127.0.0.1:53123/callback#f",
    "http://127.0.0.1:53123/callback/../evil",
    "http://127.0.0.1:/callback",
    "http://127.0.0.1:99999/callback",
    "https://127.0.0.1:53123/callback",
    "https://localhost:53123/callback",
    "http://[::1]:53123/callback",
    "http://127.0.0.2:53123/callback",
    "http://127.0.0.1:53123/other",
    "http://127.0.0.1:53123/callback?x=1",
    "HTTP://LOCALHOST:1/callback",
    "http://LocalHost:53123/callback",
    "http://127.0.0.1:8001/fixed",
    "https://rp.example.org:8443/cb",
]
#: Strings that differ from ``REDIRECT_URI`` and that a lax comparison (prefix, host only,
#: normalised path or case, decoded escapes, a URL parser's opinion) would take for it.
LOOK_ALIKES = [
    REDIRECT_URI + "?x=1",
    REDIRECT_URI + "/",
    "https://RP.example.org/cb",
    REDIRECT_URI + "/../evil",
    REDIRECT_URI + "#f",
    "https://rp.example.org:443/cb",
    "https://rp.example.org/c%62",
    REDIRECT_URI + "%2F..%2Fevil",
    "https://rp.example.org.evil.com/cb",
    "http://rp.example.org/cb",
    "https://rp.example.org/CB",
    REDIRECT_URI + ";x",
    "https://rp.example.org\\@evil.com/cb",
    "https://rp.example.org@evil.com/cb",
    EVIL,
]


#: The logout confirmation page's form (it posts to ``…/logout/logout-confirm``, Keycloak's
#: path), and its hidden fields.
CONFIRMATION_FORM = re.compile(
    r'<form method="post" action="([^"]*/logout(?:/logout-confirm)?)">(.*?)</form>', re.S
)
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("redirects")
    with santeid_process(home, clients=CLIENTS, SANTEID_STORE_URL="memory://") as server:
        yield server


#: The attributes through which a page sends a browser somewhere: links, forms, frames,
#: scripts, a ``<meta http-equiv="refresh">``, the front-channel logout page's continuation.
URL_ATTRIBUTES = re.compile(r'(?:href|action|src|content|data-continue-url)="([^"]*)"', re.I)


def _no_redirect_to(answer: requests.Response, foreign: str) -> None:
    """``answer`` sends the browser nowhere near ``foreign``: not by ``Location``, not by a
    link, form, frame or script of its page."""
    host = (urlsplit(foreign).hostname or foreign).lower()
    location = answer.headers.get("Location", "")
    assert not location.startswith(foreign) and host not in location.lower(), location
    if answer.is_redirect:
        assert urlsplit(location).netloc in ("", urlsplit(answer.url).netloc), location
    leads = [url for url in URL_ATTRIBUTES.findall(answer.text) if host in url.lower()]
    assert not leads, (foreign, leads)


def _unsigned(claims: dict) -> str:
    """A JWT with ``alg`` ``none``."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _authorize(server, session: requests.Session, **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": PLUS_CLIENT, "redirect_uri": REDIRECT_URI,
             "scope": "openid", "state": "the-state-0123456789", "nonce": "the-nonce"}  # fmt: skip
    query.update(params)
    query = {name: value for name, value in query.items() if value is not None}
    return session.get(f"{server.oidc}/auth", params=query, allow_redirects=False, timeout=10)


def _refused_on_a_page(answer: requests.Response, foreign: str) -> None:
    assert answer.status_code == 400, (foreign, answer.status_code, answer.headers)
    assert "Location" not in answer.headers, (foreign, answer.headers["Location"])
    assert answer.headers["Content-Type"].startswith("text/html")
    _no_redirect_to(answer, foreign)


def test_redirect_uri_variants_are_refused_without_a_redirect(server):
    session = browser()
    # The control: the registered URI itself goes on to the login page.
    accepted = _authorize(server, session)
    assert accepted.status_code == 302, accepted.text
    assert "/login-actions/authenticate" in accepted.headers["Location"]

    for uri in LOOK_ALIKES:
        _refused_on_a_page(_authorize(server, session, redirect_uri=uri), uri)
        # prompt=none answers login_required by redirect: not to this URI.
        _refused_on_a_page(_authorize(server, session, redirect_uri=uri, prompt="none"), uri)
        # The same with response_mode=form_post: no form posts anything to it.
        _refused_on_a_page(_authorize(server, session, redirect_uri=uri,
                                      response_mode="form_post"), uri)  # fmt: skip
    for client_id in ("nobody", ""):
        _refused_on_a_page(_authorize(server, session, client_id=client_id, redirect_uri=EVIL),
                           EVIL)  # fmt: skip

    # An unsigned request object (accepted, as Keycloak accepts it) naming another URI: its
    # redirect_uri overrides the query's, and is refused like any other.
    for query_uri in (REDIRECT_URI, None):
        request_object = _unsigned({"client_id": PLUS_CLIENT, "redirect_uri": EVIL,
                                    "response_type": "code", "scope": "openid",
                                    "state": "the-state-0123456789"})  # fmt: skip
        answer = _authorize(server, session, redirect_uri=query_uri, request=request_object)
        _refused_on_a_page(answer, EVIL)
    # The control: an unsigned request object naming the registered URI is accepted.
    request_object = _unsigned({"client_id": PLUS_CLIENT, "redirect_uri": REDIRECT_URI,
                                "response_type": "code", "scope": "openid"})  # fmt: skip
    accepted = _authorize(server, session, redirect_uri=None, request=request_object)
    assert accepted.status_code == 302, accepted.text
    assert "/login-actions/authenticate" in accepted.headers["Location"]


def _id_token(server, client_id: str) -> str:
    """An ID token of ``client_id`` for a sandbox login (auto-approved)."""
    return _logged_in(server, client_id)[1]


def _logged_in(server, client_id: str) -> tuple[requests.Session, str]:
    """A browser holding the SSO session of a sandbox login (auto-approved) of ``client_id``,
    and that login's ID token."""
    session = browser()
    done = sandbox_login(session, _authorize(server, session, client_id=client_id), server.env)
    code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{server.oidc}/token", auth=(client_id, SECRET), timeout=10,
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": REDIRECT_URI})  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return session, tokens.json()["id_token"]


def test_logout_never_redirects_to_an_unregistered_uri(server):
    hint = _id_token(server, LOGOUT_CLIENT)
    forged_hint = _unsigned({"iss": server.issuer, "aud": PLUS_CLIENT, "sub": "someone",
                             "sid": "a-session", "exp": int(time.time()) + 300})  # fmt: skip
    evil = "https://evil.com/"
    attempts = [
        ({"post_logout_redirect_uri": evil}, evil),
        ({"post_logout_redirect_uri": evil, "client_id": PLUS_CLIENT}, evil),
        ({"post_logout_redirect_uri": evil, "client_id": LOGOUT_CLIENT}, evil),
        ({"post_logout_redirect_uri": evil, "id_token_hint": forged_hint}, evil),
        (
            {
                "post_logout_redirect_uri": evil,
                "id_token_hint": forged_hint,
                "client_id": PLUS_CLIENT,
            },
            evil,
        ),  # fmt: skip
        # A login redirect URI is no logout target for a client that registered logout URIs.
        ({"post_logout_redirect_uri": REDIRECT_URI, "client_id": LOGOUT_CLIENT}, REDIRECT_URI),
        (
            {"post_logout_redirect_uri": LOGGED_OUT_URI + "?x", "client_id": LOGOUT_CLIENT},
            LOGGED_OUT_URI + "?x",
        ),  # fmt: skip
        (
            {"post_logout_redirect_uri": LOGGED_OUT_URI + "/", "client_id": LOGOUT_CLIENT},
            LOGGED_OUT_URI + "/",
        ),  # fmt: skip
        # Older Keycloak adapters' parameter.
        ({"redirect_uri": evil}, evil),
        ({"redirect_uri": evil, "client_id": PLUS_CLIENT}, evil),
    ]
    # With the real ID token last: it ends the session, and the server answers each attempt
    # after the others with no session left.
    attempts += [
        ({"post_logout_redirect_uri": evil, "id_token_hint": hint}, evil),
        ({"post_logout_redirect_uri": REDIRECT_URI, "id_token_hint": hint}, REDIRECT_URI),
        ({"redirect_uri": evil, "id_token_hint": hint}, evil),
    ]
    # Requests answered by the confirmation page (no hint; RP-Initiated Logout 1.0 §2): its
    # form is then posted as shown and tampered with. Logged in: from a browser holding a
    # session (the form ends it).
    confirmed_attempts = [
        ({}, evil, False),
        ({"client_id": PLUS_CLIENT}, evil, False),
        ({"client_id": PLUS_CLIENT}, evil, True),
        ({"client_id": LOGOUT_CLIENT, "post_logout_redirect_uri": LOGGED_OUT_URI}, evil, True),
    ]
    logout = f"{server.oidc}/logout"
    forms_confirmed = 0
    for params, foreign, logged_in in [(*a, False) for a in attempts] + confirmed_attempts:
        for method in ("GET", "POST"):
            session = _logged_in(server, PLUS_CLIENT)[0] if logged_in else browser()
            where = "params" if method == "GET" else "data"
            answer = session.request(method, logout, allow_redirects=False, timeout=10,
                                     **{where: params})  # fmt: skip
            assert answer.status_code < 500, (params, answer.text)
            _no_redirect_to(answer, foreign)
            _no_redirect_to(answer, evil)
            confirmation = CONFIRMATION_FORM.search(answer.text)
            expected = (params, foreign, logged_in) in confirmed_attempts
            assert (confirmation is not None) == expected, (params, answer.text)
            if confirmation:
                forms_confirmed += 1
                action = urljoin(answer.url, html.unescape(confirmation.group(1)))
                fields = HIDDEN_FIELD.findall(confirmation.group(2))
                form = {name: html.unescape(value) for name, value in fields}
                # The form tampered with (its CSRF token kept): the request it carries is
                # checked again, and refused on a page.
                for tampered in ({"post_logout_redirect_uri": evil},
                                 {"post_logout_redirect_uri": evil, "client_id": PLUS_CLIENT},
                                 {"redirect_uri": evil}):  # fmt: skip
                    refused = session.post(action, data={**form, **tampered},
                                           allow_redirects=False, timeout=10)  # fmt: skip
                    assert refused.status_code == 400, (tampered, refused.text)
                    _no_redirect_to(refused, evil)
                # The professional confirms the logout: sent to the registered URI, if any,
                # and nowhere else.
                confirmed = session.post(action, data=form, allow_redirects=False, timeout=10)
                assert confirmed.status_code < 500, (params, confirmed.text)
                target = params.get("post_logout_redirect_uri")
                if target:
                    assert confirmed.status_code == 302, confirmed.text
                    assert confirmed.headers["Location"] == target
                else:
                    assert confirmed.status_code == 200, confirmed.text
                    _no_redirect_to(confirmed, foreign)
                    _no_redirect_to(confirmed, evil)
    # The confirmation leg ran (the form's action moved once and matched nothing).
    assert forms_confirmed == 2 * len(confirmed_attempts)
    # The control: the registered logout URI with the client's own ID token is followed.
    followed = requests.get(logout, allow_redirects=False, timeout=10,
                            params={"post_logout_redirect_uri": LOGGED_OUT_URI,
                                    "id_token_hint": _id_token(server, LOGOUT_CLIENT)})  # fmt: skip
    assert followed.status_code == 302, followed.text
    assert followed.headers["Location"] == LOGGED_OUT_URI


def test_a_loopback_redirect_uri_takes_any_port_and_nothing_else(server):
    """RFC 8252 §7.3: an authorization server MUST allow any port in a loopback IP redirect URI.
    Keycloak's ``RedirectUtils.verifyRedirectUri`` (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint"): failing an exact match, an ``http://localhost``,
    ``http://127.0.0.1`` or ``http://[::1]`` URI is matched again without its port, the rest as
    sent — the registered URI has none — its scheme and host compared as written (https://github.com/keycloak/keycloak/pull/25115:
    ``HTTP://LOCALHOST:1/callback`` is no loopback URI). The answer (``login_required`` here,
    sent by a redirect) goes to the port asked for; every look-alike is refused on a page."""
    session = browser()
    accepted = [
        "http://127.0.0.1:53123/callback",
        "http://localhost:49152/callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:65535/callback",
        "http://127.0.0.1:8000/fixed",
    ]
    for uri in accepted:
        answer = _authorize(server, session, client_id=LOOPBACK_CLIENT, redirect_uri=uri,
                            prompt="none")  # fmt: skip
        assert answer.status_code == 302, (uri, answer.text)
        location = answer.headers["Location"]
        assert location.startswith(uri + "?"), (uri, location)
        assert parse_qs(urlsplit(location).query)["error"] == ["login_required"]
    for uri in LOOPBACK_LOOK_ALIKES:
        for client_id in (LOOPBACK_CLIENT, PLUS_CLIENT):
            answer = _authorize(server, session, client_id=client_id, redirect_uri=uri,
                                prompt="none")  # fmt: skip
            _refused_on_a_page(answer, uri)

    # Logout: the same comparison. Without a session or a hint, a known client's registered
    # URI is followed at once (Keycloak: nothing to log out), on any port.
    logout = f"{server.oidc}/logout"
    for target in ("http://127.0.0.1:53123/logged-out", LOOPBACK_LOGGED_OUT):
        followed = browser().get(logout, allow_redirects=False, timeout=10,
                                 params={"client_id": LOOPBACK_CLIENT,
                                         "post_logout_redirect_uri": target})  # fmt: skip
        assert followed.status_code == 302, (target, followed.text)
        assert followed.headers["Location"] == target
    for target in ("http://127.0.0.1.evil.com:53123/logged-out",
                   "http://localhost:53123@evil.com/logged-out",
                   "http://127.0.0.1:53123/logged-out/../x"):  # fmt: skip
        refused = browser().get(logout, allow_redirects=False, timeout=10,
                                params={"client_id": LOOPBACK_CLIENT,
                                        "post_logout_redirect_uri": target})  # fmt: skip
        assert refused.status_code == 400, (target, refused.text)
        assert "L'URI de redirection est invalide" in html.unescape(refused.text)
        _no_redirect_to(refused, target)

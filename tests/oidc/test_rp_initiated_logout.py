"""RP-initiated and refresh-token logout against the methods of Keycloak's
``RPInitiatedLogoutTest``
(https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/RPInitiatedLogoutTest.java)
and ``LogoutTest``
(https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/LogoutTest.java)
that tests/oidc/test_logout.py, test_sessions.py and tests/e2e/conformance/ do not already
cover; each test names its Keycloak method. The whole list, method by method:
docs/reference/keycloak-behaviour.md, "Logout: `RPInitiatedLogoutTest` and `LogoutTest`,
method by method"."""

from __future__ import annotations

import json

import pytest

from santeid.oidc import session_end
from santeid.oidc.session_end import end_session
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import back_link
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional

TARGET = "https://service.example.org/logged-out"
#: ``RPInitiatedLogoutTest.DUMMY_POST_LOGOUT_URI``: a post-logout URI that is no redirect URI.
DUMMY_POST_LOGOUT_URI = "http://127.0.0.1:4321/thisisatest"
#: Keycloak's test-app "Home URL" (``baseUrl``), which dynamic registration reads from
#: ``client_uri``: the info page's "Back to Application" link.
HOME = "https://service.example.org/app/auth"


def _silent(flow: Flow) -> dict:
    return flow.code_from(flow.authorize(prompt="none"))


def _logout(http, **params):
    return http.get(f"{OIDC}/logout", query_string=params)


def _confirm(flow: Flow, page, **params):
    """The confirmation page's form, sent as the browser sends it."""
    assert 'id="confirm-logout"' in page.get_data(as_text=True)
    csrf = flow.csrf(page.get_data(as_text=True))
    return flow.http.post(f"{OIDC}/logout/logout-confirm", data={**params, "csrf_token": csrf})


@pytest.mark.parametrize(
    ("params", "french", "english"),
    [
        ({"redirect_uri": TARGET},
         "Paramètre invalide : redirect_uri", "Invalid parameter: redirect_uri"),
        ({"post_logout_redirect_uri": TARGET},
         "Paramètres manquants : id_token_hint", "Missing parameters: id_token_hint"),
        ({"id_token_hint": "not.an.id-token"},
         "Paramètre invalide : id_token_hint", "Invalid parameter: id_token_hint"),
        ({"client_id": "nobody", "post_logout_redirect_uri": TARGET},
         "L'URI de redirection est invalide", "Invalid redirect uri"),
    ],
)  # fmt: skip
def test_the_logout_pages_show_keycloaks_message_in_the_pages_language(
    client, params, french, english
):
    """Keycloak's ``LogoutEndpoint`` refuses with its login theme's messages
    (``invalidParameterMessage``, ``missingParameterMessage``, ``invalidRedirectUriMessage``),
    which its error page shows in the page's language: French by default, English with
    ``ui_locales=en`` or ``kc_locale=en`` (docs/reference/keycloak-behaviour.md, "Logout")."""
    assert error_detail(_logout(client, **params)) == french
    assert error_detail(_logout(client, **params, ui_locales="en")) == english
    assert error_detail(_logout(client, **params, kc_locale="en")) == english


def test_the_confirmation_and_logged_out_pages_follow_kc_locale(flow, client):
    """The confirmation a logout without ``id_token_hint`` asks, and the page that ends it, are
    login-theme pages: Keycloak's locale selector takes ``kc_locale`` (the parameter its
    language menu adds to the page's URL) before the client's ``ui_locales``, on every page of
    the theme (``DefaultLocaleSelectorProvider.resolveLocale``, docs/reference/
    keycloak-behaviour.md, "Login page languages: ``LoginPageTest`` and its neighbours"), as
    the error pages of this endpoint already did; the confirmation's form carries it on."""
    flow.full_login()
    asked = _logout(client, client_id="service-test", kc_locale="en")
    assert asked.status_code == 200
    assert '<html lang="en"' in asked.get_data(as_text=True)
    assert "Log out" in asked.get_data(as_text=True)
    chosen = _logout(client, client_id="service-test", kc_locale="en", ui_locales="fr")
    assert '<html lang="en"' in chosen.get_data(as_text=True)
    done = _confirm(flow, asked, client_id="service-test", kc_locale="en")
    assert "You are logged out" in done.get_data(as_text=True)


@pytest.mark.parametrize("damage", ["no signature", "another signature"])
def test_a_hint_without_its_signature_is_refused(flow, client, damage):
    """``logoutWithInvalidIdTokenHint``: the hint without its signature part, then with
    another, is the error page and the session lives on."""
    tokens = flow.full_login()
    hint = tokens["id_token"].rsplit(".", 1)[0]
    if damage == "another signature":
        hint += ".something"
    refused = _logout(client, id_token_hint=hint, post_logout_redirect_uri=TARGET)
    assert refused.status_code == 400
    assert error_detail(refused) == "Paramètre invalide : id_token_hint"
    assert "code" in _silent(flow)


def test_an_access_token_is_no_hint(flow, client):
    """``browserLogoutWithAccessToken``: the access token as ``id_token_hint`` is refused (its
    type is not ``ID``); the session lives on."""
    tokens = flow.full_login()
    refused = _logout(client, id_token_hint=tokens["access_token"], post_logout_redirect_uri=TARGET)
    assert refused.status_code == 400
    assert error_detail(refused) == "Paramètre invalide : id_token_hint"
    assert "code" in _silent(flow)


def test_the_hint_of_an_expired_session_still_returns_to_the_service(clocked_app, clock):
    """``logoutWithExpiredSession`` (the browser that held it) and ``logoutWithExpiredIdToken``
    (another HTTP client, a day later): the session is over, the ID token expired, and the
    logout still redirects to the ``post_logout_redirect_uri`` — no error, no confirmation."""
    http = clocked_app.test_client()
    flow = Flow(clocked_app, http, register_client(clocked_app))
    tokens = flow.full_login()
    clock.advance(60 * 60 * 24)
    for browser in (http, clocked_app.test_client()):
        back = _logout(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=TARGET)
        assert back.status_code == 302
        assert back.headers["Location"] == TARGET
    assert _silent(flow)["error"] == "login_required"


def test_a_logout_after_the_operator_ended_the_session(app, flow, client):
    """``logoutSessionWhenLoggedOutByAdmin``, ``logoutWithValidIdTokenWhenLoggedOutByAdmin``:
    the session ended by the operator (``santeid sessions logout``, Keycloak's admin "Sign
    out"), a logout with its ID token still returns to the service, from the browser and from
    another HTTP client; after a new login, the new ID token ends the new session."""
    tokens = flow.full_login()
    end_session(app.extensions["santeid"], tokens["session_state"])
    for browser in (client, app.test_client()):
        back = _logout(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=TARGET)
        assert back.status_code == 302
        assert back.headers["Location"] == TARGET
    again = flow.full_login()
    assert again["session_state"] != tokens["session_state"]
    back = _logout(client, id_token_hint=again["id_token"], post_logout_redirect_uri=TARGET)
    assert back.headers["Location"] == TARGET
    assert _silent(flow)["error"] == "login_required"


@pytest.mark.parametrize("named_by", ["hint of an ended session", "client_id"])
def test_a_confirmed_logout_returns_with_state(flow, client, named_by):
    """``logoutRedirectWithIdTokenHintPointToDifferentSession``: the ID token of a session
    already logged out, sent from the browser's new session; ``logoutWithClientIdAndWithout
    IdTokenHint``: ``client_id`` without hint. Either asks first, the session living on; once
    confirmed the browser's session ends and the browser returns to the URI with ``state``."""
    first = flow.full_login()
    if named_by == "client_id":
        named = {"client_id": "service-test"}
    else:
        assert _logout(client, id_token_hint=first["id_token"]).status_code == 200
        flow.full_login()
        named = {"id_token_hint": first["id_token"]}
    params = {**named, "post_logout_redirect_uri": TARGET, "state": "something"}
    page = _logout(client, **params)
    assert page.status_code == 200
    assert "code" in _silent(flow)
    confirmed = _confirm(flow, page, **params)
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"] == TARGET + "?state=something"
    assert _silent(flow)["error"] == "login_required"


def test_client_id_with_its_own_hint_logs_out_at_once(app, flow, client):
    """``logoutWithClientIdIdTokenHintAndPostLogoutRedirectUri``: ``client_id``, its own ID
    token and its URI end the session at once, 302 with ``state``; ``logoutWithBadClientId``:
    another registered client's ``client_id`` with that ID token is "Invalid parameter:
    id_token_hint", nothing ends."""
    register_client(
        app,
        client_id="third-party",
        client_secret="other-secret-0123456789",
        redirect_uris=["https://other.example.org/cb"],
    )
    tokens = flow.full_login()
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": TARGET}
    refused = _logout(client, client_id="third-party", **params)
    assert refused.status_code == 400
    assert error_detail(refused) == "Paramètre invalide : id_token_hint"
    assert "code" in _silent(flow)
    done = _logout(client, client_id="service-test", state="somethingg", **params)
    assert done.status_code == 302
    assert done.headers["Location"] == TARGET + "?state=somethingg"
    assert _silent(flow)["error"] == "login_required"


def test_the_hint_of_a_removed_client_cannot_vouch_for_the_uri(app, flow, client):
    """``logoutWithIdTokenAndRemovedClient``: the client removed after the login, its ID token
    with a ``post_logout_redirect_uri`` is the page "Invalid redirect uri" (no client left to
    check the URI against); the session lives on."""
    tokens = flow.full_login()
    app.extensions["santeid"].clients.remove("service-test")
    refused = _logout(client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=TARGET)
    assert refused.status_code == 400
    assert error_detail(refused) == "L'URI de redirection est invalide"
    register_client(app)
    assert "code" in _silent(flow)


@pytest.mark.parametrize(
    ("registered", "target"),
    [
        (["+", DUMMY_POST_LOGOUT_URI], DUMMY_POST_LOGOUT_URI),
        ([DUMMY_POST_LOGOUT_URI, "+"], DUMMY_POST_LOGOUT_URI),
        (["+", DUMMY_POST_LOGOUT_URI, "+"], REDIRECT_URI),
        ([DUMMY_POST_LOGOUT_URI, "+"], REDIRECT_URI),
        (["+"], REDIRECT_URI),
    ],
)
def test_plus_anywhere_among_the_post_logout_uris(app, client, registered, target):
    """``logoutWithClientIdAndPostLogoutRedirectUriWhenUsingPostLogoutRedirectUriAndPlusFirst``,
    ``…AndPlusLast``, ``…UsingAppRedirectUriAndAdditionalPostLogoutUriAndPlusFirstAndLast``,
    ``…UsingAppRedirectUriAndAdditionalPostLogoutUriAndPlusLast``,
    ``…WhenWhenUsingAppRedirectUriAndPlus``: wherever ``+`` stands, the URI is accepted and,
    with ``client_id`` and no hint, the browser is asked to confirm; the session lives on."""
    flow = Flow(app, client, register_client(app, post_logout_redirect_uris=registered))
    flow.full_login()
    page = _logout(client, client_id="service-test", post_logout_redirect_uri=target)
    assert page.status_code == 200
    assert 'id="confirm-logout"' in page.get_data(as_text=True)
    assert "code" in _silent(flow)


def test_a_refresh_token_logout_after_logging_in_again(flow, client):
    """``LogoutTest.postLogoutWithRefreshTokenAfterUserSessionLogoutAndLoginAgain``: logged out
    by its first refresh token, the professional logs in again; the new session's refresh token
    logs it out, 204."""
    auth = basic_auth("service-test", CLIENT_SECRET)
    first = flow.full_login()
    ended = client.post(
        f"{OIDC}/logout", data={"refresh_token": first["refresh_token"]}, headers=auth
    )
    assert ended.status_code == 204
    second = flow.full_login()
    assert "code" in _silent(flow)
    done = client.post(
        f"{OIDC}/logout", data={"refresh_token": second["refresh_token"]}, headers=auth
    )
    assert done.status_code == 204
    assert _silent(flow)["error"] == "login_required"


def test_the_logged_out_page_links_back_to_the_clients_home(app, client):
    """``logoutWithIdTokenHintWithoutPostLogoutRedirectUri``: with a hint and no
    ``post_logout_redirect_uri``, Keycloak's info page "You are logged out" links back to the
    client's "Home URL" (``baseUrl``, which dynamic registration takes from ``client_uri``:
    ``DescriptionConverter.toInternal``); ``logoutWithUiLocalesAndClientIdParameter``: the same
    after a confirmation asked by ``client_id``, whose page links back as well (the theme's
    ``logout-confirm.ftl``)."""
    flow = Flow(app, client, register_client(app, client_uri=HOME))
    tokens = flow.full_login()
    page = _logout(client, id_token_hint=tokens["id_token"])
    assert page.status_code == 200
    assert back_link(page) == HOME
    assert _silent(flow)["error"] == "login_required"
    flow.full_login()
    asked = _logout(client, client_id="service-test", ui_locales="en")
    # The confirmation page links back too: Keycloak's logout-confirm.ftl.
    assert back_link(asked) == HOME
    done = _confirm(flow, asked, client_id="service-test", ui_locales="en")
    assert "You are logged out" in done.get_data(as_text=True)
    assert back_link(done) == HOME


def test_no_link_back_without_a_client_or_its_home(app, client):
    """``logoutWithoutIdTokenHintWithoutPostLogoutRedirectUri`` and ``logoutWithBadClientId``
    (an unknown ``client_id``): neither the confirmation page (``skipLink`` for the realm's
    system client) nor, after it, the info page has a "Back to Application" link; nor for a
    client that registered no ``client_uri`` (Keycloak's ``info.ftl`` shows it only for a
    client with a ``baseUrl``)."""
    flow = Flow(app, client, register_client(app, client_uri=HOME))
    for params in ({}, {"client_id": "nobody"}):
        flow.full_login()
        asked = _logout(client, **params)
        assert back_link(asked) is None
        done = _confirm(flow, asked, **params)
        assert done.status_code == 200
        assert back_link(done) is None
    flow = Flow(app, client, register_client(app))
    tokens = flow.full_login()
    assert back_link(_logout(client, id_token_hint=tokens["id_token"])) is None


def test_the_frontchannel_page_has_no_link_back(app, client):
    """Keycloak's front-channel page (``frontchannel-logout.ftl``) lists the services and, with
    a ``post_logout_redirect_uri``, continues there; it has no "Back to Application" link,
    even without one. A path registered as ``client_uri`` is resolved against the issuer's
    origin, as Keycloak resolves a relative "Home URL": the logged-out page links there."""
    meta = register_client(
        app, client_uri="/app/home", frontchannel_logout_uri="https://service.example.org/fc"
    )
    flow = Flow(app, client, meta)
    tokens = flow.full_login()
    page = _logout(client, id_token_hint=tokens["id_token"])
    assert 'id="frontchannel-logout-apps"' in page.get_data(as_text=True)
    assert back_link(page) is None
    register_client(app, client_uri="/app/home")
    tokens = flow.full_login()
    page = _logout(client, id_token_hint=tokens["id_token"])
    assert back_link(page) == "http://localhost/app/home"


def test_a_client_uri_stored_before_it_was_checked_gives_no_link(app, client):
    """A client registered by an earlier release, whose ``client_uri`` was not checked then
    (stored as it was sent): one that is no ``http(s)`` URL or path makes no link."""
    meta = register_client(app)
    registry = app.extensions["santeid"].clients
    registry.db.execute(
        "UPDATE client SET metadata = ? WHERE client_id = ?",
        (
            json.dumps({**registry.get("service-test").metadata, "client_uri": "javascript:x"}),
            "service-test",
        ),
    )
    flow = Flow(app, client, meta)
    tokens = flow.full_login()
    page = _logout(client, id_token_hint=tokens["id_token"])
    assert page.status_code == 200
    assert back_link(page) is None
    assert "javascript:" not in page.get_data(as_text=True)


def test_the_invalid_redirect_uri_page_links_back_to_the_known_client(app, client):
    """``LogoutEndpoint.logout`` makes the client (``client_id``'s, else the hint's) its
    context's before it checks the ``post_logout_redirect_uri``, and Keycloak's error page
    links to that client's "Home URL" (``error.ftl``; ``logoutWithClientIdAndExpiredCode``
    follows the link): "Invalid redirect uri" for a known client links back to its
    ``client_uri``. The refusals before that point — a hint of another client than
    ``client_id`` ("Invalid parameter: id_token_hint", ``logoutWithBadClientId``) — and an
    unknown ``client_id`` have no link."""
    flow = Flow(app, client, register_client(app, client_uri=HOME))
    tokens = flow.full_login()
    unregistered = "https://elsewhere.example.org/"
    for params in (
        {"id_token_hint": tokens["id_token"]},
        {"client_id": "service-test"},
    ):
        refused = _logout(client, **params, post_logout_redirect_uri=unregistered)
        assert refused.status_code == 400
        assert error_detail(refused) == "L'URI de redirection est invalide"
        assert back_link(refused) == HOME
    register_client(
        app,
        client_id="other",
        client_secret="other-secret-0123456789",
        client_uri="https://other.example.org/",
    )
    for params in (
        {"client_id": "nobody", "post_logout_redirect_uri": unregistered},
        {"client_id": "other", "id_token_hint": tokens["id_token"]},
    ):
        refused = _logout(client, **params)
        assert refused.status_code == 400
        assert back_link(refused) is None
    assert "code" in _silent(flow)


def test_a_client_with_both_logout_uris_gets_both(app, client, monkeypatch):
    """Keycloak's browser logout splits the session's clients on their "Front channel logout"
    switch (``AuthenticationManager.browserLogoutAllClients``): on, the iframe only; off, the
    logout token only. santeid has no switch and keeps both for a client that registered
    both URIs: the iframe runs only in a browser that renders the page (PSC's
    server-to-server logout renders none), the logout token whatever the browser
    (docs/reference/keycloak-behaviour.md, "Logout")."""
    meta = register_client(
        app,
        frontchannel_logout_uri="https://service.example.org/fc",
        backchannel_logout_uri="http://127.0.0.1:9/logout",
    )
    flow = Flow(app, client, meta)
    tokens = flow.full_login()
    told: list[str] = []

    def record(svc, clients, **kwargs):
        told.extend(c.get_client_id() for c in clients if c.backchannel_logout_uri)

    monkeypatch.setattr(session_end.backchannel_logout, "notify", record)
    page = _logout(client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=TARGET)
    assert page.status_code == 200
    assert 'src="https://service.example.org/fc?iss=' in page.get_data(as_text=True)
    assert told == ["service-test"]


@pytest.mark.parametrize("named_by", ["client_id", "hint of an earlier login", "nothing"])
def test_the_session_of_a_response_type_none_login_logs_out_as_any_other(
    app, client, monkeypatch, named_by
):
    """``OIDCBasicResponseTypeNoneTest``: ``response_type=none`` logs in and answers without
    a code, so the client holds no ID token of that login. Its SSO session is logged out as
    any other: by ``client_id``, or with nothing, after the confirmation ("Voulez-vous fermer
    votre session ?", Keycloak's "Do you want to log out?"), to the
    ``post_logout_redirect_uri`` with ``state`` or to the "Session fermée" page; at once by
    the ID token of an earlier code-flow login of the same session (``LogoutEndpoint.logout``:
    no confirmation for a hint of the browser's session). Kept: the client is told of the
    end only if it holds a grant of the session (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint", ``response_type=none``), where Keycloak's client session of
    that login sends it a logout token."""
    meta = register_client(app, backchannel_logout_uri="http://127.0.0.1:9/logout")
    flow = Flow(app, client, meta)
    hint = flow.full_login()["id_token"] if named_by == "hint of an earlier login" else None
    started = flow.authorize(response_type="none", state="n1", prompt="login")
    callback = flow.code_from(flow.login(started, sandbox_professional(app)))
    assert "code" not in callback and callback["session_state"]
    told: list[str] = []

    def record(svc, clients, **kwargs):
        told.extend(c.get_client_id() for c in clients)

    monkeypatch.setattr(session_end.backchannel_logout, "notify", record)
    if named_by == "hint of an earlier login":
        done = _logout(client, id_token_hint=hint, post_logout_redirect_uri=TARGET, state="x")
        assert done.status_code == 302 and done.headers["Location"] == TARGET + "?state=x"
        assert told == ["service-test"]  # its code-flow grant is in the session
    else:
        params = (
            {"client_id": "service-test", "post_logout_redirect_uri": TARGET, "state": "x"}
            if named_by == "client_id"
            else {}
        )
        page = _logout(client, **params)
        assert page.status_code == 200
        assert "Voulez-vous fermer votre session ?" in page.get_data(as_text=True)
        assert "code" in _silent(flow)  # nothing ended before the confirmation
        confirmed = _confirm(flow, page, **params)
        if named_by == "client_id":
            assert confirmed.headers["Location"] == TARGET + "?state=x"
        else:
            assert "Session fermée" in confirmed.get_data(as_text=True)
        assert told == []
    assert _silent(flow)["error"] == "login_required"

"""RP-initiated and refresh-token logout against the methods of Keycloak's
``RPInitiatedLogoutTest``
(https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/RPInitiatedLogoutTest.java)
and ``LogoutTest``
(https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/LogoutTest.java)
that tests/oidc/test_logout.py, test_sessions.py and tests/e2e/conformance/ do not already
cover; each test names its Keycloak method (docs/reference/keycloak-behaviour.md,
"Logout")."""

from __future__ import annotations

import json
import re

from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import register_client

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


def _back_link(page) -> str | None:
    found = re.search(r'<a id="back-to-application" href="([^"]*)"', page.get_data(as_text=True))
    return None if found is None else found.group(1)


def test_the_logged_out_page_links_back_to_the_clients_home(app, client):
    """``logoutWithIdTokenHintWithoutPostLogoutRedirectUri``: with a hint and no
    ``post_logout_redirect_uri``, Keycloak's info page "You are logged out" links back to the
    client's "Home URL" (``baseUrl``, which dynamic registration takes from ``client_uri``:
    ``DescriptionConverter.toInternal``); ``logoutWithUiLocalesAndClientIdParameter``: the same
    after a confirmation asked by ``client_id``."""
    flow = Flow(app, client, register_client(app, client_uri=HOME))
    tokens = flow.full_login()
    page = _logout(client, id_token_hint=tokens["id_token"])
    assert page.status_code == 200
    assert _back_link(page) == HOME
    assert _silent(flow)["error"] == "login_required"
    flow.full_login()
    asked = _logout(client, client_id="service-test", ui_locales="en")
    done = _confirm(flow, asked, client_id="service-test", ui_locales="en")
    assert "You are logged out" in done.get_data(as_text=True)
    assert _back_link(done) == HOME


def test_no_link_back_without_a_client_or_its_home(app, client):
    """``logoutWithoutIdTokenHintWithoutPostLogoutRedirectUri`` and ``logoutWithBadClientId``
    (an unknown ``client_id``): after the confirmation, the info page has no "Back to
    Application" link; nor for a client that registered no ``client_uri`` (Keycloak's
    ``info.ftl`` shows it only for a client with a ``baseUrl``)."""
    flow = Flow(app, client, register_client(app, client_uri=HOME))
    for params in ({}, {"client_id": "nobody"}):
        flow.full_login()
        done = _confirm(flow, _logout(client, **params), **params)
        assert done.status_code == 200
        assert _back_link(done) is None
    flow = Flow(app, client, register_client(app))
    tokens = flow.full_login()
    assert _back_link(_logout(client, id_token_hint=tokens["id_token"])) is None


def test_the_frontchannel_page_without_a_target_links_back_too(app, client):
    """A logout that renders front-channel iframes and has no ``post_logout_redirect_uri``
    ends on the same "Back to Application" link; a path registered as ``client_uri`` is
    resolved against the issuer's origin, as Keycloak resolves a relative "Home URL"."""
    meta = register_client(
        app, client_uri="/app/home", frontchannel_logout_uri="https://service.example.org/fc"
    )
    flow = Flow(app, client, meta)
    tokens = flow.full_login()
    page = _logout(client, id_token_hint=tokens["id_token"])
    assert 'id="frontchannel-logout-apps"' in page.get_data(as_text=True)
    assert _back_link(page) == "http://localhost/app/home"


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
    assert _back_link(page) is None
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
        assert "Invalid redirect uri" in refused.get_data(as_text=True)
        assert _back_link(refused) == HOME
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
        assert _back_link(refused) is None
    assert "code" in _silent(flow)

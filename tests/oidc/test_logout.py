"""Logout as Keycloak answers it (docs/reference/keycloak-behaviour.md, Logout) and the client
metadata of OIDC Back-/Front-Channel Logout 1.0 and Keycloak's web origins, in process. The
same behaviours against a real server process: tests/e2e/conformance/."""

from __future__ import annotations

import re

import pytest

from santeid import create_app
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import validate_metadata
from santeid.storage import MemoryStore
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import MovedIssuer
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import register_client


def _logout_to(client, tokens, target: str):
    return client.get(
        f"{OIDC}/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": target,
            "state": "bye",
        },
    )


def test_default_accepts_a_login_redirect_uri_when_no_logout_uri_is_registered(app, client):
    flow = Flow(app, client, register_client(app, post_logout_redirect_uris=[]))
    response = _logout_to(client, flow.full_login(), REDIRECT_URI)
    assert response.status_code == 302
    assert response.headers["Location"] == REDIRECT_URI + "?state=bye"
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"


def test_registered_logout_uris_still_limit_the_targets(flow, client):
    # "+" applies only when the client registered no post_logout_redirect_uris.
    response = _logout_to(client, flow.full_login(), REDIRECT_URI)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "code" in flow.code_from(flow.authorize(prompt="none"))


def test_plus_entry_adds_the_redirect_uris_to_the_registered_logout_uris(settings):
    # Keycloak's syntax, honoured under both policies: the registration asks for it.
    app = create_app(settings.replace(post_logout_redirect_policy="strict"), store=MemoryStore())
    client = app.test_client()
    meta = register_client(
        app, post_logout_redirect_uris=["+", "https://service.example.org/logged-out"]
    )
    flow = Flow(app, client, meta)
    assert _logout_to(client, flow.full_login(), REDIRECT_URI).status_code == 302
    logged_out = "https://service.example.org/logged-out"
    assert _logout_to(client, flow.full_login(), logged_out).status_code == 302
    assert (
        _logout_to(client, flow.full_login(), "https://elsewhere.example.org/").status_code == 400
    )


def test_strict_setting_refuses_a_login_redirect_uri(settings):
    app = create_app(settings.replace(post_logout_redirect_policy="strict"), store=MemoryStore())
    client = app.test_client()
    flow = Flow(app, client, register_client(app, post_logout_redirect_uris=[]))
    response = _logout_to(client, flow.full_login(), REDIRECT_URI)
    assert response.status_code == 400
    assert error_detail(response) == "L'URI de redirection est invalide"
    assert "code" in flow.code_from(flow.authorize(prompt="none"))


def test_refresh_token_logout_errors_as_keycloak(flow, app, client):
    tokens = flow.full_login()
    auth = basic_auth("service-test", CLIENT_SECRET)
    # An empty refresh_token is one that does not verify, as Keycloak reads it (a POST
    # without refresh_token is an RP-initiated logout).
    empty = client.post(f"{OIDC}/logout", data={"refresh_token": ""}, headers=auth)
    assert empty.status_code == 400
    assert empty.get_json() == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token",
    }
    forged = client.post(
        f"{OIDC}/logout", data={"refresh_token": tokens["refresh_token"][:-4]}, headers=auth
    )
    assert forged.status_code == 400
    assert forged.get_json()["error"] == "invalid_grant"
    unauthenticated = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", "wrong-secret-0123456789"),
    )
    assert unauthenticated.status_code == 401
    # Keycloak's secret authenticator, as at the token endpoint.
    assert unauthenticated.get_json()["error"] == "unauthorized_client"
    register_client(app, client_id="other", client_secret="other-secret-0123456789")
    other = client.post(
        f"{OIDC}/logout",
        data={"refresh_token": tokens["refresh_token"]},
        headers=basic_auth("other", "other-secret-0123456789"),
    )
    assert other.status_code == 400
    assert other.get_json()["error"] == "invalid_grant"
    # None of the refused requests ended anything.
    assert "code" in flow.code_from(flow.authorize(prompt="none"))
    ok = client.post(
        f"{OIDC}/logout", data={"refresh_token": tokens["refresh_token"]}, headers=auth
    )
    assert ok.status_code == 204
    assert flow.code_from(flow.authorize(prompt="none"))["error"] == "login_required"


def _silent(flow: Flow) -> dict:
    return flow.code_from(flow.authorize(prompt="none"))


def test_an_unknown_client_id_is_asked_to_confirm(flow, client):
    """Keycloak forces the confirmation for a client_id it does not know."""
    flow.full_login()
    page = client.get(f"{OIDC}/logout", query_string={"client_id": "nobody"})
    assert page.status_code == 200
    assert 'id="confirm-logout"' in page.get_data(as_text=True)
    assert "code" in _silent(flow)


def test_a_confirmed_hint_of_a_session_already_over_ends_the_browsers_own(app, flow):
    """Keycloak's doBrowserLogout: the hint's session no longer exists, so the session the
    browser holds is the one that ends, once the browser confirmed (its tokens with it)."""
    old = flow.full_login()
    ended = flow.http.get(f"{OIDC}/logout", query_string={"id_token_hint": old["id_token"]})
    assert ended.status_code == 200
    assert _silent(flow)["error"] == "login_required"
    other = Flow(app, app.test_client(), flow.client)
    current = other.full_login()
    page = other.http.get(f"{OIDC}/logout", query_string={"id_token_hint": old["id_token"]})
    assert 'id="confirm-logout"' in page.get_data(as_text=True)
    assert "code" in _silent(other)
    confirmed = other.http.post(
        f"{OIDC}/logout/logout-confirm",
        data={
            "id_token_hint": old["id_token"],
            "csrf_token": other.csrf(page.get_data(as_text=True)),
        },
    )
    assert confirmed.status_code == 200
    assert _silent(other)["error"] == "login_required"
    bearer = {"Authorization": "Bearer " + current["access_token"]}
    assert other.http.get(f"{OIDC}/userinfo", headers=bearer).status_code == 401


def test_a_confirmed_hint_of_another_live_session_ends_the_browsers_too(app, flow):
    """The hint's session ends, and so does the one the browser held, which its professional
    confirmed closing: Keycloak would only forget it in the browser, its services' tokens
    still valid (docs/psc-integration.md §5.1)."""
    first = flow.full_login()
    other = Flow(app, app.test_client(), flow.client)
    second = other.full_login()
    page = other.http.get(f"{OIDC}/logout", query_string={"id_token_hint": first["id_token"]})
    confirmed = other.http.post(
        f"{OIDC}/logout/logout-confirm",
        data={
            "id_token_hint": first["id_token"],
            "csrf_token": other.csrf(page.get_data(as_text=True)),
        },
    )
    assert confirmed.status_code == 200
    assert _silent(flow)["error"] == "login_required"
    assert _silent(other)["error"] == "login_required"

    def userinfo(tokens) -> int:
        bearer = {"Authorization": "Bearer " + tokens["access_token"]}
        return other.http.get(f"{OIDC}/userinfo", headers=bearer).status_code

    assert (userinfo(first), userinfo(second)) == (401, 401)


def _meta(**extra) -> dict:
    return {
        "client_id": "rp",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": ["https://rp.example.org/cb"],
        **extra,
    }


def test_logout_metadata_and_web_origins_are_accepted():
    meta = validate_metadata(
        _meta(
            backchannel_logout_uri="http://127.0.0.1:9/logout",
            backchannel_logout_session_required=True,
            frontchannel_logout_uri="https://rp.example.org/fc",
            frontchannel_logout_session_required=False,
            web_origins=["+", "https://app.example.org"],
        ),
        sandbox=True,
    )
    assert meta["backchannel_logout_uri"] == "http://127.0.0.1:9/logout"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"backchannel_logout_uri": "http://127.0.0.1:9/logout"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "https://10.0.0.1/logout"}, "non-public"),
        ({"backchannel_logout_uri": "https://rp.example.org/lo\x00gout"}, "U+0000"),
        ({"frontchannel_logout_uri": "https://rp.example.org/fc#x"}, "fragment"),
        ({"backchannel_logout_session_required": "yes"}, "true or false"),
        ({"web_origins": "https://app.example.org"}, "web_origins"),
        ({"web_origins": ["https://app.example.org/path"]}, "not an origin"),
        ({"web_origins": ["ftp://app.example.org"]}, "not an origin"),
        ({"client_uri": "javascript:alert(1)"}, "runs script"),
        ({"client_uri": "ftp://rp.example.org/"}, "client_uri must be an http(s) URL"),
        ({"client_uri": "rp.example.org"}, "neither an absolute URI nor a path"),
        ({"client_uri": ["https://rp.example.org/"]}, "client_uri"),
    ],
)
def test_bad_logout_metadata_is_refused_outside_the_sandbox(extra, message):
    with pytest.raises(InvalidClientMetadata) as caught:
        validate_metadata(_meta(**extra), sandbox=False)
    assert message in caught.value.description


def test_web_origins_plus_means_the_redirect_uris_origins(app):
    register_client(app, web_origins=["+", "https://App.example.org"])
    client = app.extensions["santeid"].clients.get("service-test")
    assert client.web_origins == {"https://service.example.org", "https://app.example.org"}


def _returns_with_and_without_state(app, client, target: str, with_state: str) -> None:
    """A logout to ``target``, registered, comes back to ``with_state`` when it sends
    ``state=bye``, and to ``target`` as registered when it sends no ``state``."""
    flow = Flow(app, client, register_client(app, post_logout_redirect_uris=[target]))
    sent = _logout_to(client, flow.full_login(), target)
    assert sent.status_code == 302
    assert sent.headers["Location"] == with_state
    without_state = client.get(
        f"{OIDC}/logout",
        query_string={
            "id_token_hint": flow.full_login()["id_token"],
            "post_logout_redirect_uri": target,
        },
    )
    assert without_state.status_code == 302
    assert without_state.headers["Location"] == target


def test_the_registered_uris_own_query_comes_back_as_registered(app, client):
    """Keycloak returns the ``post_logout_redirect_uri`` as registered, ``state`` appended
    after its own query: ``…?logout`` then ``…?logout&state=something``
    (``RPInitiatedLogoutTest.logoutRedirect`` and ``postLogoutRedirect``,
    https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/RPInitiatedLogoutTest.java).
    A key without a value stays one, an escape stays as written."""
    target = "https://service.example.org/logged-out?logout&from=a%20b"
    _returns_with_and_without_state(app, client, target, target + "&state=bye")


def test_the_logouts_state_replaces_one_in_the_registered_uris_query(app, client):
    """A ``post_logout_redirect_uri`` whose query holds ``state`` gets the logout's ``state``
    in its place, after the rest of its query, not a second one: Keycloak 26.6.7 and 26.7.3
    (``LogoutUtil.getRedirectUriWithAttachedState``, ``KeycloakUriBuilder.replaceQueryParam``,
    https://github.com/keycloak/keycloak/pull/51909, backported to 26.6 by
    https://github.com/keycloak/keycloak/pull/52064; older releases add a second ``state``).
    Without a ``state`` in the logout request, the URI comes back as registered."""
    target = "https://service.example.org/logged-out?state=kept&from=a%20b"
    expected = "https://service.example.org/logged-out?from=a%20b&state=bye"
    _returns_with_and_without_state(app, client, target, expected)


def test_a_confirmation_sent_late_still_logs_out(clocked_app, clock):
    """Keycloak's confirmation expires with its authentication session's action: five minutes
    later it answers "Logout failed" and the session lives on
    (``RPInitiatedLogoutTest.logoutExpiredConfirmationAction``,
    https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/RPInitiatedLogoutTest.java).
    santeid carries the logout out: the professional asked to close the session
    (docs/psc-integration.md §5.1)."""
    http = clocked_app.test_client()
    flow = Flow(clocked_app, http, register_client(clocked_app))
    flow.full_login()
    page = http.get(f"{OIDC}/logout", query_string={"client_id": "service-test"})
    assert 'id="confirm-logout"' in page.get_data(as_text=True)
    clock.advance(310)
    confirmed = http.post(
        f"{OIDC}/logout/logout-confirm",
        data={"client_id": "service-test", "csrf_token": flow.csrf(page.get_data(as_text=True))},
    )
    assert confirmed.status_code == 200
    assert _silent(flow)["error"] == "login_required"


def test_the_frontchannel_page_names_the_services_it_logs_out_of(app, client):
    """Keycloak's front-channel logout page lists the applications it logs out of, each by its
    name ("You are logging out from following apps", then "My Testing App":
    ``RPInitiatedFrontChannelLogoutTest.testFrontChannelLogout``,
    https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/forms/RPInitiatedFrontChannelLogoutTest.java),
    each one's iframe with it; a client without a front-channel URI is not listed."""
    flow = Flow(
        app,
        client,
        register_client(
            app,
            client_name="Mon <Service> de test",
            frontchannel_logout_uri="https://service.example.org/fc",
        ),
    )
    tokens = flow.full_login()
    other = register_client(
        app,
        client_id="other",
        client_name="Sans canal frontal",
        client_secret="other-secret-0123456789",
        redirect_uris=["https://other.example.org/cb"],
    )
    Flow(app, client, other).obtain_code()
    page = _logout_to(client, tokens, "https://service.example.org/logged-out")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Vous vous déconnectez des applications suivantes" in html
    apps = re.search(r'<ul id="frontchannel-logout-apps">(.*?)</ul>', html, re.S).group(1)
    assert re.findall(r"<li>\s*(.*?)\s*<iframe", apps, re.S) == ["Mon &lt;Service&gt; de test"]
    assert 'src="https://service.example.org/fc?iss=' in apps


def _cors(response) -> dict:
    return {k: v for k, v in response.headers.items() if k.startswith("Access-Control-")}


def test_refresh_token_logout_answers_cors_as_keycloak(app, client):
    """Keycloak's refresh-token logout answers CORS for the authenticated client's web origins
    (here ``+``: its redirect URIs' origins), its 204 and its refusals alike, exposing
    ``Access-Control-Allow-Methods``; none for another origin; a failed client authentication
    for any origin (``LogoutCorsTest``,
    https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/LogoutCorsTest.java;
    ``LogoutEndpoint.logoutToken``, docs/reference/keycloak-behaviour.md, "Realm endpoints")."""
    flow = Flow(app, client, register_client(app, web_origins=["+"]))
    auth = basic_auth("service-test", CLIENT_SECRET)
    valid, other = "https://service.example.org", "https://elsewhere.example.org"
    allowed = {
        "Access-Control-Allow-Origin": valid,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "Access-Control-Allow-Methods",
    }
    tokens = flow.full_login()

    def logout(token: str, origin: str, headers=auth):
        return client.post(
            f"{OIDC}/logout", data={"refresh_token": token}, headers={**headers, "Origin": origin}
        )

    refused = logout("invalid-refresh-token", valid)
    assert refused.status_code == 400
    assert _cors(refused) == allowed
    assert _cors(logout("invalid-refresh-token", other)) == {}
    wrong_secret = basic_auth("service-test", "invalid-secret")
    unauthenticated = logout(tokens["refresh_token"], other, wrong_secret)
    assert unauthenticated.status_code == 401
    assert _cors(unauthenticated) == {**allowed, "Access-Control-Allow-Origin": other}
    elsewhere = logout(tokens["refresh_token"], other)
    assert elsewhere.status_code == 204
    assert _cors(elsewhere) == {}
    done = logout(flow.full_login()["refresh_token"], valid)
    assert done.status_code == 204
    assert _cors(done) == allowed
    # The preflight (LogoutEndpoint's OPTIONS: Cors.auth().preflight(), the default methods),
    # for any origin; an RP-initiated logout, a page, gets no CORS header.
    preflight = client.options(
        f"{OIDC}/logout",
        headers={"Origin": other, "Access-Control-Request-Method": "POST"},
    )
    assert _cors(preflight)["Access-Control-Allow-Origin"] == other
    assert _cors(preflight)["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "Authorization" in _cors(preflight)["Access-Control-Allow-Headers"]
    page = client.get(f"{OIDC}/logout", headers={"Origin": valid})
    assert page.status_code == 200
    assert _cors(page) == {}


def _segment(data) -> str:
    import base64
    import json

    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("form", "description"),
    [
        ({}, "No logout token"),
        ({"other": "x"}, "No logout token"),
        # BackchannelLogoutTest.postBackchannelLogoutWithInvalidLogoutToken: Base64Url("{}").
        ({"logout_token": _segment({})}, "The decode of the logoutToken failed"),
        ({"logout_token": ""}, "The decode of the logoutToken failed"),
        ({"logout_token": "a.b.c"}, "The decode of the logoutToken failed"),
        ({"logout_token": "a.b.c.d"}, "The decode of the logoutToken failed"),
        ({"logout_token": _segment([]) + "." + _segment({})},
         "The decode of the logoutToken failed"),
        ({"logout_token": _segment({"alg": "RS256"}) + "." + _segment([1])},
         "The decode of the logoutToken failed"),
        # Decoded, then no identity provider to verify it with: santeid brokers none.
        ({"logout_token": _segment({"alg": "RS256"}) + "." + _segment({"sub": "u"}) + ".c2ln"},
         "No Identity Provider has been found"),
        ({"logout_token": _segment({"alg": "none"}) + "." + _segment({})},
         "No Identity Provider has been found"),
    ],
)  # fmt: skip
def test_the_backchannel_logout_endpoint_refuses_as_keycloaks_without_brokers(
    client, form, description
):
    """Keycloak's ``LogoutEndpoint.backchannelLogout`` (``…/logout/backchannel-logout``, where an
    upstream identity provider posts its logout tokens; ``BackchannelLogoutTest``): no
    ``logout_token`` 400 "No logout token"; one ``JWSInput`` cannot read 400 "The decode of the
    logoutToken failed"; then ``TokenManager.verifyLogoutToken`` looks for the identity
    providers to verify it with, and santeid brokers none: 400 "No Identity Provider has been
    found". All ``invalid_request``."""
    response = client.post(
        f"{OIDC}/logout/backchannel-logout",
        data=form,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": description}


def test_the_backchannel_logout_endpoint_takes_a_form_post_only(client):
    """``@POST @Consumes(APPLICATION_FORM_URLENCODED)``: another method 405, a JSON body 415."""
    assert client.get(f"{OIDC}/logout/backchannel-logout").status_code == 405
    json_body = client.post(f"{OIDC}/logout/backchannel-logout", json={"logout_token": "x"})
    assert json_body.status_code == 415


def test_the_backchannel_logout_endpoint_reads_a_post_without_content_type_as_an_empty_form(
    client,
):
    """RESTEasy Reactive checks ``@Consumes`` only against a ``Content-Type`` the request has
    (``ClassRoutingHandler.handle``: no header, no 415), and Keycloak 26.8's
    ``ContentTypeValidationUtil`` lets a missing one pass too; the endpoint then reads no form
    parameter: 400 "No logout token" (docs/reference/keycloak-behaviour.md, "Logout")."""
    response = client.post(f"{OIDC}/logout/backchannel-logout")
    assert "Content-Type" not in response.request.headers
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "No logout token",
    }


def test_refresh_token_logout_of_a_token_of_another_issuer(settings):
    """``LogoutEndpoint.logoutToken`` verifies the refresh token as a refresh does
    (``TokenManager.verifyRefreshToken``: its type, then its issuer,
    docs/reference/keycloak-behaviour.md, "Refresh tokens"): a refresh token issued before the
    issuer changed (same keys) is ``invalid_grant`` "Invalid token issuer. Expected
    '<issuer>', but was '<its iss>'"; an access token of that issuer "Invalid refresh token".
    Neither ends the session."""
    moved = MovedIssuer(settings)

    def logout(token: str):
        return moved.post("logout", {"refresh_token": token})

    refused = logout(moved.tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_grant",
        "error_description": f"Invalid token issuer. Expected '{moved.issuer}', but was '{ISSUER}'",
    }
    assert logout(moved.tokens["access_token"]).get_json() == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token",
    }
    assert "code" in moved.flow.code_from(moved.flow.authorize(prompt="none"))

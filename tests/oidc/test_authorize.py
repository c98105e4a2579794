"""Authorization endpoint: RFC 6749 §4.1.2.1 error handling, OIDC Core §3.1.2 parameters."""

from __future__ import annotations

import base64
import dataclasses
import html as html_module
import json
import re
import secrets
import time
from urllib.parse import parse_qs
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from santeid import create_app
from santeid.oidc.authorize import AuthorizationRequest
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import validate_metadata
from santeid.storage import MemoryStore
from tests.support.jwt_keys import certificate_chain
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import authorization_query
from tests.support.oidc_flow import back_link
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import kept_for_restart
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import pkce_pair
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional
from tests.support.oidc_flow import set_cookie
from tests.support.oidc_flow import userinfo_refusal


def _query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_unknown_client_gets_an_error_page_and_no_redirect(flow):
    """oidcc-ensure-registered-redirect-uri: never redirect before the client is known. The
    page says what Keycloak's says (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint")."""
    response = flow.authorize(client_id="nobody")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert error_detail(response) == "Client inconnu."


def test_unregistered_redirect_uri_gets_an_error_page(flow):
    response = flow.authorize(redirect_uri="https://evil.example.org/callback")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert error_detail(response) == "Paramètre invalide : redirect_uri"


def test_an_error_page_of_a_known_client_links_to_its_home_page(app, client):
    """Keycloak's error page links "« Back to Application" to the client's Home URL once the
    endpoint knows the client (``AuthorizationEndpoint.checkClient`` sets it in the session's
    context, where ``FreeMarkerLoginFormsProvider`` reads it; ``error.ftl``: ``client.baseUrl``,
    no ``skipLink``): an unregistered ``redirect_uri`` — the link goes to the registered Home
    URL, never to the URI sent —, a request object or a ``request_uri`` refused, a ``max_age``
    that is no number
    (https://github.com/keycloak/keycloak/blob/9d9e92bce482db76415017c6a4a0a2a8ee3aaa46/services/src/main/java/org/keycloak/protocol/oidc/endpoints/AuthorizationEndpoint.java,
    https://github.com/keycloak/keycloak/blob/0cf946888b40c9e71b8a0b4943c991bf1161fb28/themes/src/main/resources/theme/base/login/error.ftl).
    Before the client is known ("Client not found.", two ``client_id``s) and for a client
    without ``client_uri``, no link (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint")."""
    home = "https://service.example.org/home"
    flow = Flow(app, client, register_client(app, client_uri=home))
    unregistered = flow.authorize(redirect_uri="https://evil.example.org/callback")
    assert error_detail(unregistered) == "Paramètre invalide : redirect_uri"
    assert back_link(unregistered) == home
    both = flow.authorize(request="a.b.c", request_uri="urn:x")
    assert error_detail(both) == "Requête invalide"
    assert back_link(both) == home
    unknown_uri = flow.authorize(request_uri="urn:ietf:params:oauth:request_uri:unknown")
    assert error_detail(unknown_uri) == "Requête invalide"
    assert back_link(unknown_uri) == home
    not_a_number = flow.authorize(max_age="soon")
    assert error_detail(not_a_number) == "Requête invalide"
    assert back_link(not_a_number) == home
    unknown = flow.authorize(client_id="nobody")
    assert error_detail(unknown) == "Client inconnu."
    assert back_link(unknown) is None
    query = {"client_id": ["service-test", "service-test"], "response_type": "code"}
    twice = client.get(f"{OIDC}/auth", query_string=query)
    assert error_detail(twice) == "Requête invalide"
    assert back_link(twice) is None
    other = Flow(app, client, register_client(app, client_id="no-home"))
    without_home = other.authorize(redirect_uri="https://evil.example.org/callback")
    assert error_detail(without_home) == "Paramètre invalide : redirect_uri"
    assert back_link(without_home) is None


def test_redirect_uri_must_match_exactly(flow):
    """OIDC Core §3.1.2.1: simple string comparison — a trailing slash is another URI."""
    response = flow.authorize(redirect_uri=REDIRECT_URI + "/")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert error_detail(response) == "Paramètre invalide : redirect_uri"


def test_the_redirect_uris_own_query_is_kept_as_registered(app, client):
    """Keycloak appends the response to the registered URI's query as written
    (``KeycloakUriBuilder.queryParam``,
    https://github.com/keycloak/keycloak/blob/main/common/src/main/java/org/keycloak/common/util/KeycloakUriBuilder.java;
    the same at logout, ``RPInitiatedLogoutTest.logoutRedirect``): a key without a value stays
    one, an escape stays as written."""
    registered = "https://service.example.org/callback?tenant&from=a%20b"
    flow = Flow(app, client, register_client(app, redirect_uris=[registered]))
    response = flow.login(flow.authorize(state="st"), sandbox_professional(app))
    location = response.headers["Location"]
    assert location.startswith(registered + "&")
    assert _query(response)["state"] == "st"
    assert "code" in flow.code_from(response)


@pytest.mark.parametrize(
    "asked",
    [
        "http://wiTh-dAsh.example.local",
        "http://wiTh-dAsh.example.local/foo",
        "HTTP://with-dash.example.local",
        "Http://wiTh-dAsh.example.local",
        "HTTP://LOCALHOST:1/callback",
        "http://LocalHost/callback",
        "HTTPS://service.example.org/callback",
    ],
)
def test_scheme_and_host_are_compared_as_registered(flow, app, asked):
    """Keycloak compares the scheme and host of a redirect URI exactly since release 23
    (https://github.com/keycloak/keycloak/pull/25115): ``OAuthRedirectUriTest``'s
    ``testDifferentCaseInHostname`` and ``testDifferentCaseInScheme``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/OAuthRedirectUriTest.java)
    want ``http://wiTh-dAsh.example.local`` and ``HTTP://with-dash.example.local`` refused
    for a client registered with ``http://with-dash.example.local``. A loopback URI keeps
    its any-port allowance only when written as registered."""
    register_client(
        app,
        redirect_uris=[
            "http://with-dash.example.local",
            "http://with-dash.example.local/foo",
            "http://localhost/callback",
            REDIRECT_URI,
        ],
    )
    for registered in ("http://with-dash.example.local/foo", "http://localhost:1/callback"):
        accepted = flow.authorize(redirect_uri=registered)
        assert accepted.status_code == 302 and "/login-actions/" in accepted.headers["Location"]
    refused = flow.authorize(redirect_uri=asked)
    assert refused.status_code == 400
    assert "Location" not in refused.headers
    assert error_detail(refused) == "Paramètre invalide : redirect_uri"


@pytest.mark.parametrize(
    ("asked", "accepted"),
    [
        # Keycloak 25.0.6 and later drop the port only: the path, the query and the rest are
        # compared as sent (OAuthRedirectUriTest.testLoopback registers http://127.0.0.1,
        # testQueryComponents http://localhost?foo=bar).
        ("http://127.0.0.1:8280", True),
        ("http://127.0.0.1:8280/myapp", True),
        ("http://127.0.0.1:8280?foo=bar", False),
        ("http://localhost:8280?foo=bar", True),
        ("http://localhost?foo=bar", True),
        ("http://127.0.0.1:8280?next=/myapp", False),
        ("http://127.0.0.1:8280/myapp?foo=bar", False),
        # The IPv6 loopback address too.
        ("http://[::1]:8280/cb", True),
        ("http://[::1]/cb", True),
        ("http://[::1]:8280/other", False),
        # No fragment, whatever Keycloak would make of one (RFC 6749 §3.1.2).
        ("http://127.0.0.1:8280#foo", False),
        ("http://127.0.0.1:8280?a#/myapp", False),
    ],
)
def test_a_loopback_uri_is_compared_without_its_port(flow, app, asked, accepted):
    """``RedirectUtils.verifyRedirectUri`` since Keycloak 25.0.6
    (https://github.com/keycloak/keycloak/commit/9f37a83c517f5f5e1664dd9a3b74a4be5ef16b11,
    https://github.com/keycloak/keycloak/issues/33115; docs/reference/keycloak-behaviour.md,
    "Authorization endpoint"): failing an exact match, an ``http`` URI whose host is
    ``localhost``, ``127.0.0.1`` or ``[::1]`` is compared again with its port left out, the
    rest as sent. The answer goes to the URI asked for, its query kept."""
    register_client(
        app,
        redirect_uris=[
            "http://127.0.0.1",
            "http://127.0.0.1/myapp",
            "http://localhost?foo=bar",
            "http://[::1]/cb",
        ],
    )
    response = flow.authorize(redirect_uri=asked)
    if accepted:
        assert response.status_code == 302 and "/login-actions/" in response.headers["Location"]
        answer = flow.login(response, sandbox_professional(app))
        assert answer.headers["Location"].startswith(asked + ("&" if "?" in asked else "?"))
    else:
        assert response.status_code == 400 and "Location" not in response.headers
        assert error_detail(response) == "Paramètre invalide : redirect_uri"


@pytest.mark.parametrize(
    "name",
    [
        "code", "id_token", "access_token", "token_type", "expires_in", "state", "iss", "error",
        "error_description", "session_state", "response", "kc_action", "kc_action_status",
        "STATE", "Iss", "st%61te",
    ],
)  # fmt: skip
def test_a_redirect_uri_carrying_a_response_parameter_is_refused(flow, app, name):
    """Keycloak 26.4.14, 26.6.5 and later refuse a ``redirect_uri`` whose query already holds a
    parameter of the authorization response — the answer would carry it twice
    (CVE-2026-9689, https://github.com/keycloak/keycloak/issues/49430, fixed by
    https://github.com/keycloak/keycloak/pull/49959: ``RedirectUtils.FORBIDDEN_OIDC_PARAMS``,
    the names decoded and compared without case): the error page "Invalid parameter:
    redirect_uri", even for a URI registered as sent (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint")."""
    uri = f"{REDIRECT_URI}?{name}=x"
    register_client(app, redirect_uris=[uri, REDIRECT_URI + "?statement=x&x=state"])
    refused = flow.authorize(redirect_uri=uri)
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert error_detail(refused) == "Paramètre invalide : redirect_uri"
    # A name that only begins like one, or a value, is no response parameter.
    accepted = flow.authorize(redirect_uri=REDIRECT_URI + "?statement=x&x=state")
    assert accepted.status_code == 302 and "/login-actions/" in accepted.headers["Location"]


@pytest.mark.parametrize(
    "registered",
    [
        "android-app://org.keycloak.examples.cordova/https/keycloak-cordova-example.github.io/login",
        "http://localhost:8280/foo/bar%20bar%2092%2F72/3",
    ],
)
def test_a_custom_scheme_or_an_encoded_path_is_answered_as_registered(app, client, registered):
    """``OAuthRedirectUriTest.testWithCustomScheme`` and ``testRedirectUriWithEncodedPath``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/OAuthRedirectUriTest.java):
    the login's answer goes to the URI as registered — its scheme, its escapes (``%20``,
    ``%2F``) unchanged — and the code is exchanged with it."""
    flow = Flow(app, client, register_client(app, redirect_uris=[registered]))
    answer = flow.login(flow.authorize(state="st"), sandbox_professional(app))
    assert answer.headers["Location"].startswith(registered + "?state=st&")
    code = flow.code_from(answer)["code"]
    assert flow.token(code, redirect_uri=registered).status_code == 200


@pytest.mark.parametrize(
    "state",
    [
        "VeryLittleGravitasIndeed",
        '{"csrf_token":+"hlvZNIsWyqdkEhbjlQIia0ty2YY4TXat",+"destination":+"eyJhbGciOiJIUzI1NiJ9'
        '.Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMC9wcml2YXRlIg.T18WeIV29komDl8jav-3bSnUZDlMD8VOfIrd2ikP5zE"}',
    ],
)
def test_the_state_comes_back_encoded_as_keycloak_encodes_it(flow, app, state):
    """``OAuthRedirectUriStateTest.testSimpleStateParameter`` and ``testJsonStateParameter``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/OAuthRedirectUriStateTest.java)
    look for ``state=`` followed by the state as they sent it percent-encoded (``{`` ``%7B``,
    ``"`` ``%22``, ``:`` ``%3A``, ``+`` ``%2B``, ``,`` ``%2C``) in the callback's query."""
    answer = flow.login(flow.authorize(state=state), sandbox_professional(app))
    query = urlsplit(answer.headers["Location"]).query
    assert "state=" + urlencode({"": state})[1:] in query
    assert _query(answer)["state"] == state


def test_a_relative_redirect_uri_is_the_issuers_origin_only(flow, app):
    """A registered path (Keycloak's relative redirect URI) is resolved against the issuer's
    origin, then matched exactly: the path itself, or the path on another host, is refused."""
    register_client(app, redirect_uris=["/own/callback"])
    done = flow.authorize(redirect_uri="http://localhost/own/callback")
    assert done.status_code == 302 and "/login-actions/" in done.headers["Location"]
    for other in ("/own/callback", "https://evil.example.org/own/callback"):
        refused = flow.authorize(redirect_uri=other)
        assert refused.status_code == 400 and "Location" not in refused.headers


@pytest.mark.parametrize("uri", ["//evil.example.org/cb", "/cb#frag", "cb", "own/callback"])
def test_only_absolute_uris_and_paths_are_registered(uri):
    with pytest.raises(InvalidClientMetadata) as refused:
        validate_metadata({"client_id": "c", "client_secret": "s" * 32, "redirect_uris": [uri]})
    assert refused.value.error == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(document.domain)",
        "JavaScript://rp.example.org/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "https://rp.example.org/cb\x1b]0;PWNED\x07",
        "https://rp.example.org/c b",
        "https://rp.example.org/\u202ebc",
    ],
)
@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_script_schemes_and_control_characters_are_not_registered(uri, field):
    """Keycloak refuses ``javascript:`` and ``data:`` ("A redirect URI uses an illegal
    scheme") and any URI ``java.net.URI`` cannot parse (``DefaultClientValidationProvider``,
    https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/validation/DefaultClientValidationProvider.java);
    santeid ``vbscript:`` too, and every character no URI holds (RFC 3986 §2)."""
    metadata = {"client_id": "c", "client_secret": "s" * 32,
                "redirect_uris": ["https://rp.example.org/cb"], field: [uri]}  # fmt: skip
    with pytest.raises(InvalidClientMetadata) as refused:
        validate_metadata(metadata)
    assert refused.value.error == "invalid_redirect_uri"
    assert "\x1b" not in refused.value.description


def test_missing_redirect_uri_is_an_error_page(flow):
    """Keycloak's ``RedirectUtils.verifyRedirectUri`` finds no valid URI either way: the same
    page as for an unregistered one."""
    response = flow.authorize(redirect_uri=None)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert error_detail(response) == "Paramètre invalide : redirect_uri"


def test_missing_client_id_is_keycloaks_invalid_request_page(flow):
    """``AuthorizationEndpointRequestParserProcessor.getClientId``: "Invalid Request", as for a
    repeated one; an empty one is looked up, and found nowhere."""
    response = flow.authorize(client_id=None)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert error_detail(response) == "Requête invalide"
    assert error_detail(flow.authorize(client_id="")) == "Client inconnu."
    # Read before a request object or a pushed request's request_uri is looked at.
    assert error_detail(flow.authorize(client_id=None, request="a.b.c")) == "Requête invalide"
    assert error_detail(flow.authorize(client_id=None, request_uri="urn:x")) == "Requête invalide"


def test_missing_response_type_redirects_with_state_and_iss(flow):
    response = flow.authorize(response_type=None, state="abc")
    assert response.status_code == 302
    params = _query(response)
    assert params == {
        "error": "invalid_request",
        "error_description": "Missing parameter: response_type",
        "state": "abc",
        "iss": ISSUER,
    }
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")


def test_a_client_may_have_iss_left_out_of_its_responses(flow, app):
    """Keycloak's per-client "Exclude Issuer From Authentication Response"
    (``exclude.issuer.from.auth.response``), santeid's ``exclude_issuer_from_auth_response``:
    no RFC 9207 ``iss`` in the client's error responses (a check's, ``prompt=none``'s, the
    login pages') nor in its code responses; other clients keep it."""
    register_client(app, exclude_issuer_from_auth_response=True)
    refused = _query(flow.authorize(response_type=None, state="abc"))
    assert refused == {
        "error": "invalid_request",
        "error_description": "Missing parameter: response_type",
        "state": "abc",
    }
    assert _query(flow.authorize(prompt="none", state="abc")) == {
        "error": "login_required",
        "state": "abc",
    }
    answered = flow.code_from(flow.login(flow.authorize(state="s3"), _auto(app)))
    assert list(answered) == ["state", "session_state", "code"]
    register_client(app, exclude_issuer_from_auth_response=False)
    assert _query(flow.authorize(response_type=None))["iss"] == ISSUER


@pytest.mark.parametrize("value", ["true", 1, None])
@pytest.mark.parametrize(
    "flag", ["exclude_issuer_from_auth_response", "tls_client_certificate_bound_access_tokens"]
)
def test_keycloak_client_switches_are_booleans(flag, value):
    with pytest.raises(InvalidClientMetadata, match=flag):
        validate_metadata(
            {
                "client_id": "c",
                "client_secret": "s" * 20,
                "redirect_uris": [REDIRECT_URI],
                flag: value,
            }
        )


def _fragment(response) -> dict:
    location = urlsplit(response.headers["Location"])
    assert not location.query
    return {k: v[0] for k, v in parse_qs(location.fragment).items()}


def test_a_bad_response_type_is_sent_the_way_asked_if_that_way_is_known(flow):
    """``AuthorizationEndpoint``: an error about ``response_type`` goes back in the requested
    ``response_mode`` when it is one Keycloak knows, else in the query
    (``OIDCResponseMode.parseWhenInvalidResponseType``)."""
    missing = _fragment(flow.authorize(response_type=None, response_mode="fragment"))
    assert missing["error_description"] == "Missing parameter: response_type"
    params = _query(flow.authorize(response_type=None, response_mode="bogus"))
    assert params["error_description"] == "Missing parameter: response_type"


def test_unknown_response_type_is_unsupported_response_type(flow):
    for response_type in ("foo", "code foo", "none code", "code  id_token"):
        params = _query(flow.authorize(response_type=response_type))
        assert params["error"] == "unsupported_response_type", response_type
        assert params["error_description"] == "Unsupported response_type"


IMPLICIT_DISABLED = (
    "Client is not allowed to initiate browser login with given response_type. "
    "Implicit flow is disabled for the client."
)


def test_implicit_and_hybrid_response_types_are_keycloaks_unauthorized_client(flow):
    """``AuthorizationEndpointChecker.checkResponseType``: the implicit flow is off for the
    client; the error is sent in the fragment, the default mode of these types."""
    for response_type in ("token", "id_token", "code id_token", "id_token token"):
        params = _fragment(flow.authorize(response_type=response_type, state="s"))
        assert params["error"] == "unauthorized_client", response_type
        assert params["error_description"] == IMPLICIT_DISABLED
        assert params["state"] == "s"
    as_asked = _query(flow.authorize(response_type="token", response_mode="query"))
    assert as_asked == {
        "error": "invalid_request",
        "error_description": "Response_mode 'query' not allowed for implicit or hybrid flow",
        "state": as_asked["state"],
        "iss": ISSUER,
    }


def test_a_client_without_the_code_flow_is_keycloaks_unauthorized_client(flow, app):
    meta = register_client(app, client_id="services-only", grant_types=["client_credentials"])
    params = _query(flow.authorize(client_id=meta["client_id"]))
    assert params["error"] == "unauthorized_client"
    assert params["error_description"] == (
        "Client is not allowed to initiate browser login with given response_type. "
        "Standard flow is disabled for the client."
    )


def _strict(settings, **changes):
    """An app with the stricter readings (``scope_policy``, PKCE) instead of Keycloak's."""
    app = create_app(settings.replace(**changes), store=MemoryStore())
    return Flow(app, app.test_client(), register_client(app))


def test_strict_scope_policy_requires_openid(settings):
    flow = _strict(settings, scope_policy="strict")
    params = _query(flow.authorize(scope="scope_all"))
    assert params["error"] == "invalid_scope"
    assert params["error_description"] == "scope must contain openid"


def test_scope_without_openid_is_plain_oauth2(flow, client):
    """Keycloak: no openid, no ID token; its userinfo refuses the token (403)."""
    tokens = flow.full_login(scope="scope_all")
    assert "id_token" not in tokens
    assert tokens["scope"] == "scope_all" and tokens["token_type"] == "Bearer"
    userinfo = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo_refusal(userinfo) == keycloak_refusal(
        403, "insufficient_scope", "Missing openid scope"
    )


def test_every_scope_psc_advertises_is_accepted(flow):
    from santeid.oidc.scopes import SCOPES_SUPPORTED

    tokens = flow.full_login(scope=" ".join(SCOPES_SUPPORTED))
    assert tokens["scope"].split() == SCOPES_SUPPORTED
    assert "id_token" in tokens


def test_unknown_scope_is_refused_with_the_raw_scope(flow):
    params = _query(flow.authorize(scope="openid admin"))
    assert params["error"] == "invalid_scope"
    assert params["error_description"] == "Invalid scopes: openid admin"
    # RFC 6749 §4.1.2.1: the description's characters are %x20-21 / %x23-5B / %x5D-7E.
    params = _query(flow.authorize(scope="openid café"))
    assert params["error_description"] == "Invalid scopes: openid caf%C3%A9"


def test_strict_unknown_scope_names_the_refused_ones(settings):
    flow = _strict(settings, scope_policy="strict")
    params = _query(flow.authorize(scope="openid admin"))
    assert params["error_description"] == "Invalid scopes: admin"


def test_scope_outside_the_client_registration_is_refused(flow, app):
    register_client(app, scope="scope_all")
    params = _query(flow.authorize(scope="openid scope_all phone"))
    assert params["error"] == "invalid_scope"


ESSENTIAL_ACR_PAGE = "Paramètre invalide : claims"


@pytest.mark.parametrize(
    "acr",
    [
        {"essential": True, "values": ["eidas1"]},
        {"essential": True, "value": "eidas1"},
        {"essential": True, "values": ["0", "eidas3"]},
        # Jackson reads the string "true" as true.
        {"essential": "true", "values": ["eidas1"]},
        # Integer.parseInt(null) throws NumberFormatException: unmapped.
        {"essential": True, "values": [None]},
        # Past a Java int.
        {"essential": True, "values": ["2147483648"]},
        # Keycloak's String cast fails on a number (a server error): refused as unmapped.
        {"essential": True, "values": [1]},
    ],
)
def test_an_essential_acr_keycloak_cannot_map_is_its_claims_error_page(flow, acr):
    """``AuthorizationEndpoint.updateAuthenticationSession``
    (https://github.com/keycloak/keycloak/blob/9d9e92bce482db76415017c6a4a0a2a8ee3aaa46/services/src/main/java/org/keycloak/protocol/oidc/endpoints/AuthorizationEndpoint.java):
    an essential ``acr`` of the ID token (``AcrUtils.getRequiredAcrValues``) whose value is
    neither mapped to a level of authentication nor a number is the error page "Invalid
    parameter: claims", 400, never a redirect. PSC's realm maps no name (its discovery's
    ``acr_values_supported`` is ``["0","0"]``, the levels of its flows alone), so
    ``eidas1`` asked as essential is refused; ``AcrAuthFlowTest.loginWithAcr`` is the
    request's shape."""
    response = flow.authorize(claims=json.dumps({"id_token": {"acr": acr}}))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert error_detail(response) == ESSENTIAL_ACR_PAGE


@pytest.mark.parametrize(
    "claims",
    [
        # Not essential: AcrAuthFlowTest.testNoMapping, the minimum level, the login's acr.
        json.dumps({"id_token": {"acr": {"values": ["eidas1"]}}}),
        json.dumps({"id_token": {"acr": {"essential": False, "value": "eidas3"}}}),
        # A number is a level: Integer.parseInt reads it.
        json.dumps({"id_token": {"acr": {"essential": True, "values": ["0"]}}}),
        json.dumps({"id_token": {"acr": {"essential": True, "value": "-1"}}}),
        # Only the ID token's acr counts (ClaimContext.ID_TOKEN).
        json.dumps({"userinfo": {"acr": {"essential": True, "values": ["eidas1"]}}}),
        # Jackson cannot read these: AcrUtils logs "Invalid claims parameter" and goes on.
        "{not json",
        # Deeper than any reader goes (Jackson's nesting limit), within the 4000 characters
        # Keycloak reads: unreadable, never a 500.
        '{"id_token": ' + "[" * 3980,
        '{"id_token": {"acr": ' + "[" * 2000 + "]" * 2000 + "}}",
        json.dumps({"id_token": {"acr": {"essential": True, "values": "eidas1"}}}),
        json.dumps({"id_token": {"acr": "eidas1"}}),
        json.dumps(["eidas1"]),
        "null",
        # A member ClaimsRepresentation or ClaimValue does not have (FAIL_ON_UNKNOWN_PROPERTIES).
        json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas1"], "x": 1}}}),
        json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas1"]}}, "x": {}}),
        json.dumps({"id_token": {"acr": {"essential": [True], "values": ["eidas1"]}}}),
        # An empty values array wins over value: nothing asked.
        json.dumps({"id_token": {"acr": {"essential": True, "values": [], "value": "eidas1"}}}),
    ],
)
def test_an_acr_keycloak_does_not_enforce_leads_to_the_login(flow, claims):
    response = flow.authorize(claims=claims)
    assert response.status_code == 302 and "/login-actions/" in response.headers["Location"]


def test_the_essential_acr_is_checked_after_the_redirect_checks(flow):
    """``updateAuthenticationSession`` runs once ``AuthorizationEndpoint.process`` has checked
    the request: an unknown scope is still sent back to the client."""
    essential = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas1"]}}})
    params = _query(flow.authorize(claims=essential, scope="openid admin"))
    assert params["error_description"] == "Invalid scopes: openid admin"


def test_the_sso_session_answers_whatever_acr_is_asked_but_an_unmappable_essential_one(flow, app):
    """PSC's flows set no level above 0 (its discovery's ``["0","0"]``): a non-essential
    ``acr`` never forces a new login, and the session answers ``prompt=none``; an essential
    ``acr`` Keycloak cannot map is refused in ``updateAuthenticationSession``, before the
    passive login's ``login_required`` (``AuthorizationEndpoint.process``,
    https://github.com/keycloak/keycloak/blob/9d9e92bce482db76415017c6a4a0a2a8ee3aaa46/services/src/main/java/org/keycloak/protocol/oidc/endpoints/AuthorizationEndpoint.java)."""
    essential = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas3"]}}})
    refused = flow.authorize(prompt="none", claims=essential)
    assert refused.status_code == 400 and error_detail(refused) == ESSENTIAL_ACR_PAGE
    flow.login(flow.authorize(), sandbox_professional(app))
    wanted = json.dumps({"id_token": {"acr": {"values": ["eidas3"]}}})
    from_sso = flow.authorize(prompt="none", acr_values="eidas3", claims=wanted)
    assert "code=" in from_sso.headers["Location"]
    refused = flow.authorize(prompt="none", claims=essential)
    assert refused.status_code == 400 and error_detail(refused) == ESSENTIAL_ACR_PAGE


def test_acr_values_never_refuse_and_the_token_says_the_logins_acr(flow, app):
    """``acr_values`` is never essential (``AcrUtils.getAcrValues``): a value no login gives,
    ``eidas3`` for an e-CPS login, leads to the login, and the tokens carry the acr of the
    proof (``santeid.psc.proofs``), as ``AcrAuthFlowTest.testNoMapping`` gets its login's
    ``default``."""
    tokens = flow.full_login(acr_values="eidas3 unknown")
    _, id_claims = decode(app, tokens["id_token"])
    _, access_claims = decode(app, tokens["access_token"])
    assert id_claims["acr"] == access_claims["acr"] == "eidas1"


def test_repeated_parameter_is_invalid_request(flow, client):
    query = urlencode(
        [
            ("response_type", "code"),
            ("client_id", "service-test"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", "a"),
            ("state", "b"),
        ]
    )
    response = client.get(f"{OIDC}/auth?{query}")
    assert _query(response)["error"] == "invalid_request"
    assert _query(response)["error_description"] == "duplicated parameter"


def _unsigned_request_object(claims: dict) -> str:
    def segment(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'none'})}.{segment(claims)}."


def test_an_essential_acr_in_a_request_object_is_checked_as_in_the_query(flow):
    """A request object's ``claims`` object replaces the query's and is read the same way
    ("Authorization endpoint: acr" in docs/reference/keycloak-behaviour.md)."""
    request_object = {
        "client_id": "service-test",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "claims": {"id_token": {"acr": {"essential": True, "values": ["eidas1"]}}},
    }
    refused = flow.authorize(request=_unsigned_request_object(request_object))
    assert refused.status_code == 400 and error_detail(refused) == "Paramètre invalide : claims"
    request_object["claims"] = {"id_token": {"acr": {"essential": True, "values": ["0"]}}}
    accepted = flow.authorize(request=_unsigned_request_object(request_object))
    assert accepted.status_code == 302 and "/login-actions/" in accepted.headers["Location"]


def test_a_claims_parameter_with_a_member_twice_is_read_as_keycloak_reads_it(flow):
    """Jackson, which reads ``claims`` for Keycloak, keeps the last of two members of one
    name: the essential ``acr`` checked is the last one (santeid.untrusted_json)."""
    acr = '{"acr": {"essential": true, "values": [%s]}}'
    twice = '{"id_token": %s, "id_token": %s}'
    refused = flow.authorize(claims=twice % (acr % '"0"', acr % '"eidas1"'))
    assert refused.status_code == 400 and error_detail(refused) == "Paramètre invalide : claims"
    accepted = flow.authorize(claims=twice % (acr % '"eidas1"', acr % '"0"'))
    assert accepted.status_code == 302 and "/login-actions/" in accepted.headers["Location"]


def test_an_unusable_request_object_or_request_uri_is_keycloaks_invalid_request_page(flow, caplog):
    """Keycloak's ``AuthorizationEndpointRequestParserProcessor.parseRequest`` turns every
    failure of ``request`` or ``request_uri`` — both at once, a JWT that does not parse or
    verify, a ``client_id`` other than the query's, a ``request_uri`` it cannot use — into its
    error page "Invalid Request" (400), never a redirect; santeid logs the reason."""
    request_object = {"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI}
    cases = {
        "request and request_uri cannot be used together": {
            "request": _unsigned_request_object(request_object),
            "request_uri": "urn:ietf:params:oauth:request_uri:x",
        },
        "the request object is not a JWT": {"request": "eyJ.x"},
        "the request object is malformed": {"request": "eyJhbGciOiJub25lIn0.x."},
        "the request object's client_id is not the client": {
            "request": _unsigned_request_object({**request_object, "client_id": "someone"})
        },
        "the request object holds a request_uri": {
            "request": _unsigned_request_object({**request_object, "request_uri": "urn:x"})
        },
        "request_uri must come from the pushed authorization request endpoint": {
            "request_uri": "https://x"
        },
        "request_uri is unknown or expired": {
            "request_uri": "urn:ietf:params:oauth:request_uri:unknown"
        },
    }
    for reason, params in cases.items():
        caplog.clear()
        response = flow.authorize(**params)
        assert response.status_code == 400, reason
        assert "Location" not in response.headers
        assert error_detail(response) == "Requête invalide", reason
        assert reason in caplog.text
    # The request object's redirect URI is the one checked: Keycloak's page for it.
    wrong = _unsigned_request_object({**request_object, "redirect_uri": "https://evil.example/cb"})
    assert error_detail(flow.authorize(request=wrong)) == "Paramètre invalide : redirect_uri"


def test_claims_in_the_query_or_a_request_object_are_accepted(flow, app):
    """``OIDCAdvancedRequestParamsTest.processClaimsQueryParam`` and
    ``processClaimsRequestParam``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oidc/OIDCAdvancedRequestParamsTest.java):
    ``claims`` (OIDC Core §5.5) as JSON in the query, or as an object in an unsigned request
    object, leads to the login page and a code; Keycloak keeps it for its protocol mappers,
    none of which PSC's clients get by default."""
    claims = {"id_token": {"test_claim": {"essential": True}}}
    in_query = flow.authorize(claims=json.dumps(claims))
    assert in_query.status_code == 302 and "/login-actions/" in in_query.headers["Location"]
    request = _unsigned_request_object(
        {
            "client_id": "service-test",
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "claims": claims,
        }  # fmt: skip
    )
    in_object = flow.authorize(request=request)
    assert in_object.status_code == 302 and "/login-actions/" in in_object.headers["Location"]
    assert "code" in flow.code_from(flow.login(in_object, sandbox_professional(app)))


def test_prompt_none_without_session_is_login_required(flow):
    params = _query(flow.authorize(prompt="none", state="s1"))
    assert params["error"] == "login_required"
    assert params["state"] == "s1"


def test_prompt_none_with_other_values_is_invalid(flow):
    assert _query(flow.authorize(prompt="none login"))["error"] == "invalid_request"


def test_max_age_must_be_a_number(flow):
    response = flow.authorize(max_age="soon")
    assert response.status_code == 400
    assert error_detail(response) == "Requête invalide"


@pytest.mark.parametrize("prompt", ["foo", "select_account foo", "consent unknown"])
def test_prompt_values_keycloak_does_not_know_are_ignored(flow, prompt):
    """Keycloak reads ``none`` and ``login`` out of ``prompt`` (``TokenUtil.hasPrompt``) and
    refuses no value: an unknown one neither stops the login nor an SSO session's answer."""
    response = flow.authorize(prompt=prompt, state="s1")
    assert response.status_code == 302
    assert "login-actions/authenticate" in response.headers["Location"]
    flow.full_login()
    assert "code" in flow.code_from(flow.authorize(prompt=prompt))
    # ``none`` with a value nobody knows is ``none`` alone.
    assert "code" in flow.code_from(flow.authorize(prompt="none foo"))


def test_pkce_plain_refused_unless_enabled_for_the_client_when_so_configured(settings):
    flow = _strict(settings, pkce_plain_for_all_clients=False)
    params = _query(flow.authorize(code_challenge="a" * 43, code_challenge_method="plain"))
    assert params["error"] == "invalid_request"
    assert "plain" in params["error_description"]
    register_client(flow.app, pkce_plain_allowed=True)
    response = flow.authorize(code_challenge="a" * 43, code_challenge_method="plain")
    assert "login-actions/authenticate" in response.headers["Location"]


def test_pkce_plain_is_accepted_and_verified(flow):
    """Keycloak accepts plain for every client (RFC 7636 §4.2: verifier == challenge)."""
    verifier = "v" * 50
    params = flow.obtain_code(code_challenge=verifier, code_challenge_method="plain")
    wrong = flow.token(params["code"], code_verifier="w" * 50)
    assert wrong.status_code == 400
    assert wrong.get_json()["error_description"] == "PKCE verification failed: Code mismatch"
    params = flow.obtain_code(code_challenge=verifier, code_challenge_method="plain")
    assert flow.token(params["code"], code_verifier=verifier).status_code == 200


def test_form_post_response_mode(flow, app):
    """OAuth 2.0 Form Post Response Mode: Keycloak's auto-submitting form."""
    response = flow.login(flow.authorize(response_mode="form_post", state="s1"), _auto(app))
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f'ACTION="{REDIRECT_URI}"' in html
    assert 'Onload="javascript:document.forms[0].submit()"' in html
    fields = dict(re.findall(r'NAME="([^"]+)" VALUE="([^"]*)"', html))
    assert list(fields) == ["state", "session_state", "iss", "code"]
    assert fields["state"] == "s1" and fields["iss"] == ISSUER
    # The page's policy lets exactly the onload handler run: the default one is not added.
    (policy,) = response.headers.getlist("Content-Security-Policy")
    assert "'unsafe-hashes'" in policy
    assert flow.token(fields["code"]).status_code == 200


@pytest.mark.parametrize("response_mode", ["form_post", "form_post.jwt"])
def test_form_post_keeps_an_html_entity_of_the_redirect_uri(app, client, response_mode):
    """``AuthorizationCodeTest.authorizationRequestFormPostResponseModeHTMLEntitiesRedirectUri``
    and ``…FormPostJwtResponseModeHTMLEntitiesRedirectUri``
    (https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/AuthorizationCodeTest.java):
    a redirect URI holding the text ``&gt;`` is posted to as it is, not to ``>``: the page's
    ``ACTION`` writes its ``&`` as ``&amp;``, so that the browser reads the URI back."""
    redirect_uri = REDIRECT_URI + "?p=&gt;"
    flow = Flow(app, client, register_client(app, redirect_uris=[redirect_uri]))
    response = flow.login(flow.authorize(response_mode=response_mode), _auto(app))
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert f'ACTION="{REDIRECT_URI}?p=&amp;gt;"' in html
    action = re.search(r'ACTION="([^"]*)"', html).group(1)
    assert html_module.unescape(action) == redirect_uri


def test_fragment_response_mode_for_success_and_errors(flow, app):
    response = flow.login(flow.authorize(response_mode="fragment", state="s2"), _auto(app))
    location = urlsplit(response.headers["Location"])
    assert not location.query
    params = {k: v[0] for k, v in parse_qs(location.fragment).items()}
    assert params["state"] == "s2" and flow.token(params["code"]).status_code == 200
    error = urlsplit(
        flow.authorize(response_mode="fragment", scope="openid admin").headers["Location"]
    )
    assert parse_qs(error.fragment)["error"] == ["invalid_scope"]


@pytest.mark.parametrize("response_mode", ["query.JWT", "", "QUERY", "form.post", " query", "JWT"])
def test_unknown_response_mode_is_invalid_request(flow, response_mode):
    """``OIDCResponseMode.parse`` compares the value as sent with its names, an empty one too
    (only a missing one takes the default): anything else is refused, in the query."""
    response = flow.authorize(response_mode=response_mode, state="s")
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert _query(response) == {
        "error": "invalid_request",
        "error_description": "Invalid parameter: response_mode",
        "state": "s",
        "iss": ISSUER,
    }


def _auto(app) -> str:
    return sandbox_professional(app)


def _assert_invalid_requests(flow, cases: list[tuple[dict, str]]) -> None:
    """Each authorization request of ``cases`` (its extra parameters) is sent back to the
    client ``invalid_request`` with the description given beside it."""
    for extra, description in cases:
        params = _query(flow.authorize(**extra))
        assert (params["error"], params["error_description"]) == (
            "invalid_request",
            description,
        ), extra


def test_pkce_refusals_are_keycloaks(flow):
    """``AuthorizationEndpointChecker.checkParamsForPkceNotEnforcedClient``: the method
    without a challenge, then the method, then the challenge (43 to 128 unreserved
    characters, RFC 7636 §4.2)."""
    cases = [
        ({"code_challenge_method": "S256"}, "Missing parameter: code_challenge"),
        ({"code_challenge": "a" * 43, "code_challenge_method": "S512"},
         "Invalid parameter: code_challenge_method"),
        ({"code_challenge": "short", "code_challenge_method": "S256"},
         "Invalid parameter: code_challenge"),
        ({"code_challenge": "abc"}, "Invalid parameter: code_challenge"),
        ({"code_challenge": "a" * 129, "code_challenge_method": "plain"},
         "Invalid parameter: code_challenge"),
        # Only a missing method is plain: an empty one is a method, unknown.
        ({"code_challenge": "a" * 43, "code_challenge_method": ""},
         "Invalid parameter: code_challenge_method"),
        ({"code_challenge": "", "code_challenge_method": ""},
         "Invalid parameter: code_challenge_method"),
        ({"code_challenge": ""}, "Invalid parameter: code_challenge"),
    ]  # fmt: skip
    _assert_invalid_requests(flow, cases)


def test_client_requiring_pkce_refuses_requests_without_it(flow, app):
    register_client(app, require_pkce=True)
    params = _query(flow.authorize())
    assert params["error"] == "invalid_request"
    assert params["error_description"] == "Missing parameter: code_challenge"
    _, challenge = pkce_pair()
    response = flow.authorize(code_challenge=challenge, code_challenge_method="S256")
    assert "login-actions/authenticate" in response.headers["Location"]


@pytest.mark.parametrize("enforced", ["S256", "plain"])
def test_client_with_an_enforced_pkce_method_gets_keycloaks_refusals(flow, app, enforced):
    """Keycloak's per-client "Proof Key for Code Exchange Code Challenge Method"
    (``pkce.code.challenge.method``, ``AuthorizationEndpointChecker
    .checkParamsForPkceEnforcedClient``): the method first, then its match with the
    configured one, then the challenge (``OAuthProofKeyForCodeExchangeTest``, methods
    ``…PkceEnforced``, https://github.com/keycloak/keycloak/blob/5ffdbd9bc6373efa2c52cd4eb6d5b54515fe22e0/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/OAuthProofKeyForCodeExchangeTest.java)."""
    register_client(app, pkce_code_challenge_method=enforced, pkce_plain_allowed=True)
    other = "plain" if enforced == "S256" else "S256"
    mismatch = "Invalid parameter: code challenge method is not matching the configured one"
    cases = [
        ({}, "Missing parameter: code_challenge_method"),
        # Without its method, a challenge is not taken as plain: the method is required.
        ({"code_challenge": "a" * 43}, "Missing parameter: code_challenge_method"),
        ({"code_challenge": "a" * 43, "code_challenge_method": other}, mismatch),
        ({"code_challenge": "a" * 43, "code_challenge_method": "S512"}, mismatch),
        ({"code_challenge_method": enforced}, "Missing parameter: code_challenge"),
        ({"code_challenge": "invalid", "code_challenge_method": enforced},
         "Invalid parameter: code_challenge"),
    ]  # fmt: skip
    _assert_invalid_requests(flow, cases)
    verifier, challenge = pkce_pair()
    if enforced == "plain":
        challenge = verifier
    response = flow.authorize(code_challenge=challenge, code_challenge_method=enforced)
    assert "login-actions/authenticate" in response.headers["Location"]


def test_an_enforced_pkce_method_is_one_keycloak_knows(app):
    """The setting takes Keycloak's two values only, as its admin console offers them."""
    with pytest.raises(InvalidClientMetadata, match="pkce_code_challenge_method"):
        register_client(app, pkce_code_challenge_method="s256")


def test_post_to_the_authorization_endpoint(flow, client):
    """oidcc-ensure-post-request-succeeds. Over HTTPS the POST is answered as it is; over plain
    HTTP, a browser's cross-site navigation (Fetch Metadata: ``Sec-Fetch-Site: cross-site``,
    ``Sec-Fetch-Mode: navigate``) without ``santeid_auth_session`` (a ``SameSite=Lax`` cookie,
    which such a POST does not carry) is sent back by GET with the same parameters, and writes
    no cookie (docs/security.md, "Browser"); any other POST is answered as it is, as Keycloak
    answers it."""
    form = {"response_type": "code", "client_id": "service-test", "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all"}  # fmt: skip
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    over_https = client.post(
        f"{OIDC}/auth", data=form, headers=cross_site, base_url="https://localhost"
    )
    assert over_https.status_code == 302
    assert "login-actions/authenticate" in over_https.headers["Location"]

    client.delete_cookie("santeid_auth_session", domain="localhost")
    response = client.post(f"{OIDC}/auth", data=form, headers=cross_site)
    assert response.status_code == 303 and "Set-Cookie" not in response.headers
    location = urlsplit(response.headers["Location"])
    assert location.path == f"{OIDC}/auth"
    assert dict(parse_qsl(location.query)) == form
    again = client.get(response.headers["Location"])
    assert again.status_code == 302
    assert "login-actions/authenticate" in again.headers["Location"]
    with_cookie = client.post(f"{OIDC}/auth", data=form, headers=cross_site)
    assert with_cookie.status_code == 302
    assert "login-actions/authenticate" in with_cookie.headers["Location"]

    # Not a browser's cross-site navigation (no Fetch Metadata, a same-site one, a fetch()):
    # answered as it came, without the extra round trip a Keycloak client does not expect.
    for headers in ({}, {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"},
                    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}):  # fmt: skip
        client.delete_cookie("santeid_auth_session", domain="localhost")
        direct = client.post(f"{OIDC}/auth", data=form, headers=headers)
        assert direct.status_code == 302, headers
        assert "login-actions/authenticate" in direct.headers["Location"]


def test_unknown_parameters_are_ignored(flow):
    """oidcc-ensure-request-with-unknown-parameter-succeeds."""
    response = flow.authorize(extra="foobar", display="popup", claims_locales="fr")
    assert "login-actions/authenticate" in response.headers["Location"]


def test_parameter_over_4kb_is_refused(flow):
    response = flow.authorize(state="x" * 5000)
    assert response.status_code == 400
    assert "Location" not in response.headers


def _unknown_scopes(length: int) -> str:
    """``OIDCScopeTest.getLongScopeParameter``'s kind of ``scope``: ``openid`` and unknown
    scopes, ``length`` characters in all."""
    scope = ("openid " + " ".join(f"unknown-scope-{i}" for i in range(length // 16)))[:length]
    assert len(scope) == length
    return scope


def test_a_scope_over_4000_characters_is_ignored(flow, app):
    """``OIDCScopeTest.testLengthyScopeParameter`` at the authorization endpoint: Keycloak's
    request parser ignores a known parameter longer than 4000 characters
    (``AuthzEndpointRequestParser.getAndValidateParameter``), so such a ``scope`` is no
    scope — a plain OAuth 2.0 request, its code exchanged for tokens without an ID token —;
    one of 4000 characters is read, and its unknown scopes refused."""
    read = _query(flow.authorize(scope=_unknown_scopes(4000), state="s1"))
    assert read["error"] == "invalid_scope" and read["state"] == "s1"
    assert read["error_description"] == "Invalid scopes: " + _unknown_scopes(4000)
    ignored = flow.authorize(scope=_unknown_scopes(4001), state="s2")
    assert "/login-actions/" in ignored.headers["Location"]
    callback = flow.code_from(flow.login(ignored, sandbox_professional(app)))
    assert callback["state"] == "s2"
    tokens = flow.token(callback["code"]).get_json()
    assert "access_token" in tokens and "id_token" not in tokens


def test_a_state_over_4000_characters_is_not_sent_back(flow, app):
    """``AuthzEndpointRequestParserTest.testParamsLength``: a ``state`` over 4000 characters
    is ignored — the callback carries none —, one of 500 comes back. Characters as Java
    counts them (``String.length``): one outside the BMP is two."""
    for long_state in ("x" * 4001, "x" * 3996 + "\U0001f600" * 3):
        started = flow.authorize(state=long_state, prompt="login")
        callback = flow.code_from(flow.login(started, sandbox_professional(app)))
        assert "state" not in callback and callback["code"]
    assert flow.code_from(flow.authorize(state="s" * 500))["state"] == "s" * 500
    within = "x" * 3994 + "\U0001f600" * 3  # 4000 code units
    assert flow.code_from(flow.authorize(state=within))["state"] == within


def test_a_login_hint_over_255_characters_is_ignored(flow, app):
    """``AuthzEndpointRequestParserTest.testParamsLength``: Keycloak caps ``login_hint`` at 255
    characters (``OIDCProviderConfig``, as its user profile caps a username) and ignores a
    longer one. santeid does not let the SSO session answer a ``login_hint`` naming another
    professional (docs/endpoints.md, "SSO"); one over 255 characters names nobody."""
    flow.obtain_code(sandbox_professional(app))
    other = "8" * 255
    assert "/login-actions/" in flow.authorize(login_hint=other).headers["Location"]
    assert flow.code_from(flow.authorize(login_hint=other + "8"))["code"]


def test_a_request_object_carrying_a_certificate_chain_is_accepted(app, client):
    """A request object whose header carries an ``x5c`` chain of three certificates
    (RFC 7515 §4.1.6) is over 4096 bytes: Keycloak's authorization endpoint reads ``request``
    whatever its length (``AuthorizationEndpointRequestParserProcessor.parseRequest``,
    docs/reference/keycloak-behaviour.md, "Parameter sizes"); santeid bounds it by
    ``max_jwt_parameter_length`` (20000). What is kept for a restart (``santeid_restart``)
    is the request it stands for, not the JWT: it fits in the cookie."""

    key = ECKey.generate_key("P-256", private=True)
    meta = register_client(app, jwks={"keys": [{**key.as_dict(private=False), "kid": "k1"}]})
    now = int(time.time())
    request_object = jwt.encode(
        {"alg": "ES256", "kid": "k1", "x5c": certificate_chain()},
        {"iss": "service-test", "client_id": "service-test", "aud": ISSUER, "iat": now,
         "exp": now + 60, "response_type": "code", "scope": "openid scope_all",
         "redirect_uri": REDIRECT_URI, "nonce": "nonce-de-l-objet"},
        key,
    )  # fmt: skip
    assert len(request_object) > 4096
    response = Flow(app, client, meta).authorize(request=request_object)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/login-actions/authenticate" in response.headers["Location"]
    kept = kept_for_restart(app, response)["areq"]
    assert kept["nonce"] == "nonce-de-l-objet" and "request" not in kept
    # In a form POST too, the way to send one that long (docs/endpoints.md).
    form = authorization_query("service-test", REDIRECT_URI, request=request_object)
    posted = client.post(f"{OIDC}/auth", data=form)
    assert posted.status_code == 302, posted.get_data(as_text=True)
    assert "/login-actions/authenticate" in posted.headers["Location"]


def test_a_request_too_large_for_the_restart_cookie_still_reaches_the_login_page(flow, client):
    """Parameters up to max_parameter_length each are accepted; the login they start is kept
    for a restart (``santeid_restart``) only when it fits in a cookie a browser keeps, never as
    an oversized cookie (RFC 6265 §6.1)."""
    # Random text, which the cookie's compression cannot shrink.
    response = flow.authorize(state=secrets.token_urlsafe(3000), nonce=secrets.token_urlsafe(3000))
    assert response.status_code == 302
    assert "santeid_restart=" not in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get(response.headers["Location"]).status_code == 200


def test_the_restart_cookie_shows_nothing_of_the_request(flow):
    """``santeid_restart`` keeps the authorization request in the browser, a pushed one (PAR)
    included, whose parameters never went through the browser: encrypted, as Keycloak
    encrypts ``KC_RESTART``, so that neither the hint (a national identifier) nor the nonce
    can be read from it; and one changed by the browser is no restart."""
    import base64
    import zlib

    response = flow.authorize(login_hint="810000000030", nonce="nonce-a-lire-dans-le-cookie")
    cookie = set_cookie(response, "santeid_restart")
    readable = [cookie.encode()]
    for part in cookie.lstrip(".").split("."):
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except ValueError:
            continue
        readable.append(raw)
        try:
            readable.append(zlib.decompress(raw))
        except zlib.error:
            pass
    for text in readable:
        assert b"810000000030" not in text and b"nonce-a-lire" not in text


def test_a_restart_cookie_changed_by_the_browser_is_none(app):
    from itsdangerous import BadSignature

    from santeid.security import RESTART

    with app.test_request_context():
        sealed = RESTART.signed({"tx": "t1"})
        serializer = RESTART._serializer(app)
        assert serializer.loads(sealed) == {"tx": "t1"}
        changed = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
        for value in (changed, "not-a-token", "é"):
            with pytest.raises(BadSignature):
                serializer.loads(value)


def test_login_page_is_french_with_the_hint_prefilled(flow, client):
    response = flow.authorize(login_hint="810000000001")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert 'value="810000000001"' in page
    assert "Identifiant national" in page
    assert 'for="national_id"' in page
    assert "Bac à sable" in page  # sandbox mode is visible on every page


def test_login_page_in_english_with_ui_locales(flow, client):
    response = flow.authorize(ui_locales="en-GB fr")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "National identifier" in page


@pytest.mark.parametrize(
    ("ui_locales", "title", "detail"),
    [
        ("fr", "<h1>Erreur : invalid_client</h1>", "Client inconnu."),
        ("en", "<h1>Error: invalid_client</h1>", "Client not found."),
    ],
)
def test_the_error_pages_title_names_the_error_in_each_languages_typography(
    client, ui_locales, title, detail
):
    """An unknown client's error page: French puts a space before the colon, English none
    ("Error : …" was French typography in an English title); its detail is Keycloak's
    ``clientNotFoundMessage`` in the page's language, as Keycloak's login theme writes it
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    query = {"client_id": "no-such-service", "response_type": "code", "scope": "openid",
             "redirect_uri": "https://service.example.org/cb",
             "ui_locales": ui_locales}  # fmt: skip
    page = client.get(f"{OIDC}/auth", query_string=query)
    assert page.status_code == 400
    assert title in page.get_data(as_text=True)
    assert error_detail(page) == detail


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ({}, "Paramètre invalide : redirect_uri"),
        ({"ui_locales": "en"}, "Invalid parameter: redirect_uri"),
        ({"kc_locale": "en"}, "Invalid parameter: redirect_uri"),
        ({"kc_locale": "fr", "ui_locales": "en"}, "Paramètre invalide : redirect_uri"),
    ],
)
def test_the_error_pages_detail_is_keycloaks_message_in_the_pages_language(
    app, client, language, detail
):
    """Keycloak's login theme shows the message of its page in the page's language, its
    parameter where that language puts it (``invalidParameterMessage``: "Paramètre invalide :
    {0}" in French); the same refusal pushed is JSON, whose ``error_description`` stays
    Keycloak's English whatever the language asked (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint")."""
    register_client(app)
    query = {"client_id": "service-test", "response_type": "code", "scope": "openid",
             "redirect_uri": "https://evil.example.org/callback", **language}  # fmt: skip
    page = client.get(f"{OIDC}/auth", query_string=query)
    assert page.status_code == 400
    assert error_detail(page) == detail
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data=query,
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert pushed.get_json() == {
        "error": "invalid_request",
        "error_description": "Invalid parameter: redirect_uri",
    }


@pytest.mark.parametrize(
    ("params", "lang"),
    [
        ({"kc_locale": "en", "ui_locales": "fr"}, "en"),
        ({"kc_locale": "fr", "ui_locales": "en"}, "fr"),
        ({"kc_locale": "en-GB"}, "en"),
        ({"kc_locale": "de", "ui_locales": "en fr"}, "en"),  # unsupported: ui_locales decides
        ({"kc_locale": "", "ui_locales": "en"}, "en"),
    ],
)
def test_kc_locale_picks_the_login_pages_language_before_ui_locales(flow, client, params, lang):
    """Keycloak's locale selector (``DefaultLocaleSelectorProvider``): the user's choice
    (``kc_locale``, kept by the authorization endpoint) comes before the client's
    ``ui_locales``; a language it does not offer is no choice
    (docs/reference/keycloak-behaviour.md, "Login pages")."""
    response = flow.authorize(**params)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page


def _post_identifier(flow, client, typed: str):
    login_url = flow.authorize().headers["Location"]
    page = client.get(login_url).get_data(as_text=True)
    return client.post(login_url, data={"national_id": typed, "csrf_token": flow.csrf(page)})


def test_malformed_identifier_gets_a_precise_message(flow, client):
    response = _post_identifier(flow, client, "10000000001")  # RPPS typed without the 8
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'role="alert"' in body
    assert 'aria-invalid="true"' in body
    assert "8" in body


def test_unknown_identifier_is_named(flow, client):
    response = _post_identifier(flow, client, "899999999999")
    assert response.status_code == 400
    assert "899999999999" in response.get_data(as_text=True)


def test_back_and_refresh_after_refused_identifiers_keep_the_login_page(flow, client, app):
    """Keycloak's ``BrowserButtonsTest.invalidLoginAndBackButton``: after identifiers refused
    twice, the browser's Back (the page before) and Refresh (the form sent again) are still
    the login page, and the login still goes on to the service."""
    authorized = flow.authorize(state="buttons")
    login_url = authorized.headers["Location"]
    page = client.get(login_url).get_data(as_text=True)
    refused = {"national_id": "899999999999", "csrf_token": flow.csrf(page)}
    assert client.post(login_url, data=refused).status_code == 400
    assert client.post(login_url, data=refused).status_code == 400
    back = client.get(login_url)
    assert back.status_code == 200 and 'id="national_id"' in back.get_data(as_text=True)
    refreshed = client.post(login_url, data=refused)
    assert refreshed.status_code == 400 and 'id="national_id"' in refreshed.get_data(as_text=True)
    answer = flow.code_from(flow.login(authorized, sandbox_professional(app)))
    assert answer["state"] == "buttons"


def test_a_refused_identifier_stays_typed_and_the_next_one_logs_in(flow, client, app):
    """Keycloak's ``LoginTest.loginInvalidUsername`` and ``loginChangeUserAfterInvalidPassword``:
    the form comes back with what was typed in its field and the error, and the same login
    then ends with another identifier, its ``state`` kept (docs/reference/keycloak-behaviour.md,
    "Login forms: `LoginTest`, `LogoutTest` and `ReAuthenticationTest`, method by method")."""
    authorized = flow.authorize(state="after-refusal")
    login_url = authorized.headers["Location"]
    page = client.get(login_url).get_data(as_text=True)
    refused = client.post(
        login_url, data={"national_id": "899999999999", "csrf_token": flow.csrf(page)}
    )
    assert refused.status_code == 400
    form = refused.get_data(as_text=True)
    assert re.search(r'id="national_id"[^>]*value="899999999999"', form) or re.search(
        r'value="899999999999"[^>]*id="national_id"', form
    ), form
    assert 'role="alert"' in form
    answer = flow.code_from(flow.login(authorized, sandbox_professional(app)))
    assert answer["state"] == "after-refusal" and answer["code"]


def test_an_empty_identifier_is_refused_on_the_form(flow, client):
    """``LoginTest.loginMissingUsername``: nothing typed is an error on the login form, not an
    error page, and no login starts."""
    for typed in ("", "   "):
        response = _post_identifier(flow, client, typed)
        assert response.status_code == 400
        body = response.get_data(as_text=True)
        assert 'id="national_id"' in body and 'role="alert"' in body


def test_spaces_around_the_identifier_log_the_same_professional_in(app):
    """``LoginTest.loginWithWhitespaceSuccess``: spaces and a tab around the identifier (and
    between its groups of digits) are no obstacle, and the professional is the same as without
    them: the ID tokens' ``sub`` agree."""
    national_id = sandbox_professional(app)
    meta = register_client(app)
    typed = f" {national_id[:3]} {national_id[3:]} \t "
    spaced = Flow(app, app.test_client(), meta).full_login(typed)
    plain = Flow(app, app.test_client(), meta).full_login(national_id)
    assert decode(app, spaced["id_token"])[1]["sub"] == decode(app, plain["id_token"])[1]["sub"]


def test_professional_without_authenticator_cannot_log_in(flow, client, app):
    svc = app.extensions["santeid"]
    others = [
        p for p in svc.directory.list() if p.is_active and svc.sandbox.scenario_for(p) is None
    ]
    response = _post_identifier(flow, client, others[0].national_id)
    assert response.status_code == 400
    assert others[0].national_id in response.get_data(as_text=True)


def test_login_form_requires_the_csrf_token(flow, client):
    login_url = flow.authorize().headers["Location"]
    client.get(login_url)
    response = client.post(login_url, data={"national_id": "810000000001", "csrf_token": "forged"})
    assert response.status_code == 400
    assert "csrf" not in response.headers.get("Location", "")


def test_an_expired_login_form_links_back_to_the_form(flow, client):
    """A form posted without this browser's token (its session cookie lost) is answered with
    a link to the form page by GET: "reload the page" re-posted the same stale form, again and
    again."""
    import re

    login_url = flow.authorize().headers["Location"]
    client.get(login_url)
    response = client.post(login_url, data={"national_id": "810000000001", "csrf_token": "x"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    link = re.search(r'<a id="csrf-retry" href="([^"]+)"', page)
    assert link is not None, page
    assert (
        link.group(1).replace("&amp;", "&")
        == urlsplit(login_url)._replace(scheme="", netloc="").geturl()
    )
    assert client.get(link.group(1).replace("&amp;", "&")).status_code == 200
    assert "Rechargez" not in page


def test_an_expired_form_of_a_post_only_url_sends_back_to_the_previous_page(flow, client):
    login_url = flow.authorize().headers["Location"]
    client.get(login_url)
    cancel_url = login_url.replace("/authenticate", "/cancel")
    response = client.post(cancel_url, data={"csrf_token": "x"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="csrf-retry"' not in page
    assert "page précédente" in page


def test_login_transaction_is_bound_to_its_browser(flow, app):
    login_url = flow.authorize().headers["Location"]
    stranger = app.test_client()
    assert stranger.get(login_url).status_code == 403


def test_cancel_returns_access_denied(flow, client):
    """Keycloak's ``CANCELLED_BY_USER``: ``access_denied`` with no ``error_description``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"), then ``state`` and
    ``iss``."""
    login_url = flow.authorize(state="keep").headers["Location"]
    page = client.get(login_url).get_data(as_text=True)
    cancel_url = login_url.replace("/authenticate", "/cancel")
    response = client.post(cancel_url, data={"csrf_token": flow.csrf(page)})
    query = urlsplit(response.headers["Location"]).query
    assert parse_qsl(query) == [("error", "access_denied"), ("state", "keep"), ("iss", ISSUER)]


def test_successful_login_redirects_with_code_state_and_iss(flow, app):
    response = flow.login(flow.authorize(state="xyz"), sandbox_professional(app))
    params = flow.code_from(response)
    assert params["state"] == "xyz"
    assert params["iss"] == ISSUER
    assert len(params["code"]) >= 32
    assert params["session_state"]


def test_sandbox_authenticator_waits_for_the_configured_delay(settings):
    from santeid import create_app
    from santeid.storage import MemoryStore

    app = create_app(settings.replace(sandbox_approval_delay=30), store=MemoryStore())
    http = app.test_client()
    from tests.support.oidc_flow import Flow

    flow = Flow(app, http, register_client(app))
    response = flow.login(flow.authorize(), sandbox_professional(app))
    # Not approved yet: back to the waiting page, no code.
    assert response.status_code == 302
    assert "login-actions/authenticate" in response.headers["Location"]
    txid = parse_qs(urlsplit(response.headers["Location"]).query)["tx"][0]
    status = http.get(f"/auth/realms/esante-wallet/login-actions/status?tx={txid}")
    assert status.get_json() == {"state": "waiting"}


def test_status_of_an_unknown_or_foreign_transaction_is_a_json_error(flow, app):
    """docs/endpoints.md: the polled status URL answers the OAuth JSON error object; the
    browser pages keep their HTML error page (wait.js reloads the page on any non-200)."""
    base = "/auth/realms/esante-wallet/login-actions"
    unknown = flow.http.get(f"{base}/status?tx=no-such-transaction")
    assert unknown.status_code == 400
    assert unknown.mimetype == "application/json"
    assert unknown.headers["Cache-Control"] == "no-store"
    assert unknown.get_json() == {
        "error": "invalid_request",
        "error_description": "Unknown or expired login transaction",
    }
    page = flow.http.get(f"{base}/authenticate?tx=no-such-transaction")
    assert page.status_code == 400 and page.mimetype == "text/html"

    login_url = flow.authorize().headers["Location"]
    txid = parse_qs(urlsplit(login_url).query)["tx"][0]
    other_browser = app.test_client()
    foreign = other_browser.get(f"{base}/status?tx={txid}")
    assert foreign.status_code == 403
    assert foreign.get_json() == {
        "error": "access_denied",
        "error_description": "The login transaction belongs to another browser",
    }
    assert other_browser.get(f"{base}/authenticate?tx={txid}").mimetype == "text/html"


def test_sandbox_authenticator_does_not_exist_outside_sandbox_mode(settings, tmp_path):
    from santeid import create_app
    from santeid.storage import MemoryStore
    from tests.support.oidc_flow import Flow

    sandbox_app = create_app(settings, store=MemoryStore())  # creates keys and demo data
    national_id = sandbox_professional(sandbox_app)
    app = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = app.test_client()
    flow = Flow(app, http, register_client(app))
    login_url = flow.authorize().headers["Location"]
    page = http.get(login_url).get_data(as_text=True)
    assert "Bac à sable" not in page
    response = http.post(
        login_url, data={"national_id": national_id, "csrf_token": flow.csrf(page)}
    )
    assert response.status_code == 400
    assert national_id in response.get_data(as_text=True)
    assert "X-Santeid-Sandbox" not in response.headers


def test_inactive_professional_is_refused_even_when_auto_approved(flow, client, app):
    import dataclasses

    directory = app.extensions["santeid"].directory
    inactive = next(p for p in directory.list() if not p.is_active)
    directory.upsert(
        dataclasses.replace(directory.get(inactive.national_id), sandbox_auto_approve=True)
    )
    response = _post_identifier(flow, client, inactive.national_id)
    assert response.status_code == 400
    assert "plus actif" in response.get_data(as_text=True)


def test_a_validated_request_is_stored_as_every_field_and_read_back_unchanged():
    """``to_dict`` is written out field by field: it must keep giving what
    ``dataclasses.asdict`` gives (a field added to the class and forgotten there would be lost
    in the login transaction), with its own copies of the lists — every field set here, as
    ``exclude_issuer``, ``response_type`` and ``redirect_uri_given`` are stored only when not
    their default."""
    areq = AuthorizationRequest(
        client_id="c", redirect_uri=REDIRECT_URI, scope="openid scope_all", state="s",
        nonce="n", prompt=["login"], max_age=0, code_challenge="x" * 43,
        code_challenge_method="S256", login_hint="810000000030", acr_values=["eidas1"],
        locale="en", id_token_hint_sub="810000000030", response_mode="form_post",
        response_type="none", redirect_uri_given=False, exclude_issuer=True,
    )  # fmt: skip
    stored = areq.to_dict()
    assert stored == dataclasses.asdict(areq)
    assert AuthorizationRequest.from_dict(stored) == areq
    stored["prompt"].append("consent")
    stored["acr_values"].append("eidas2")
    assert areq.prompt == ["login"] and areq.acr_values == ["eidas1"]


def test_a_stored_request_reads_across_releases_during_a_roll_out():
    """Hosts of two releases share the store while they are upgraded one after the other
    (docs/deployment.md, "Upgrading several hosts"): a login begun on one may be completed on
    the other. A field a later release adds is ignored by this one, and ``exclude_issuer``,
    which this release added, is stored only when set, so that the release before it, whose
    ``from_dict`` takes no key it does not know, reads every login of a client without it."""
    areq = AuthorizationRequest(client_id="c", redirect_uri=REDIRECT_URI, scope="openid")
    assert "exclude_issuer" not in areq.to_dict()
    stored = {**areq.to_dict(), "a_later_release_field": "x"}
    assert AuthorizationRequest.from_dict(stored) == areq
    excluded = dataclasses.replace(areq, exclude_issuer=True)
    assert AuthorizationRequest.from_dict(excluded.to_dict()) == excluded


def test_pages_and_redirects_carry_each_security_header_once(flow, client):
    """``security.add_security_headers``: the defaults of every response and of HTML ones (the
    redirect to the login page is HTML too), each once, and nothing HTML-only on JSON."""
    redirect_to_login = flow.authorize()
    page = client.get(redirect_to_login.headers["Location"])
    discovery = client.get(f"{ISSUER}/.well-known/openid-configuration")
    for response in (redirect_to_login, page):
        assert response.mimetype == "text/html"
        for name, value in [
            ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"), ("Cache-Control", "no-store"),
            ("X-Santeid-Sandbox", "true"),
        ]:  # fmt: skip
            assert response.headers.getlist(name) == [value]
        (policy,) = response.headers.getlist("Content-Security-Policy")
        assert "frame-ancestors 'none'" in policy
    assert discovery.status_code == 200 and discovery.mimetype == "application/json"
    assert discovery.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert "X-Frame-Options" not in discovery.headers
    assert "Content-Security-Policy" not in discovery.headers


def test_the_identifier_field_takes_letters_and_slashes_on_a_phone(flow, client):
    """ADELI numbers may hold letters, test identities start with ``ANS``, structure staff's
    ids hold a ``/`` (santeid.psc.national_id): ``inputmode="numeric"`` gave phones a keypad
    on which none of them can be typed."""
    import re

    page = client.get(flow.authorize().headers["Location"]).get_data(as_text=True)
    field = re.search(r'<input id="national_id"[^>]*>', page, re.S)
    assert field is not None and "inputmode" not in field.group(0)


def test_authorization_responses_are_keycloaks_no_back_button_answers(flow, app):
    """Keycloak's ``AuthorizationEndpoint`` and ``LoginActionsService`` answer with
    ``CacheControlUtil.noBackButtonCacheControlHeader`` — ``no-store, must-revalidate,
    max-age=0`` — errors included (``AuthorizationCodeTest
    .authorizationRequestInvalidResponseType_testHeaders``, https://github.com/keycloak/keycloak/issues/29866)."""
    header = "no-store, must-revalidate, max-age=0"
    refused = flow.authorize(response_type="tokenn")
    assert refused.status_code == 302 and refused.headers.getlist("Cache-Control") == [header]
    answered = flow.login(flow.authorize(), sandbox_professional(app))
    assert answered.status_code == 302 and answered.headers.getlist("Cache-Control") == [header]
    from_sso = flow.authorize(prompt="none")
    assert "code=" in from_sso.headers["Location"]
    assert from_sso.headers.getlist("Cache-Control") == [header]
    page = flow.authorize(response_mode="form_post")
    assert page.status_code == 200 and page.headers.getlist("Cache-Control") == [header]

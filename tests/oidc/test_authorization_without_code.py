"""Authorization requests Keycloak answers that a web service's code flow rarely sends:
``response_type=none`` (a login that ends without a code), a plain OAuth 2.0 request (no
``openid``) without ``redirect_uri``, which goes to the client's only registered URI, and an
installed application's ``urn:ietf:wg:oauth:2.0:oob``, answered on the realm's code page
(docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from santeid.oidc.authorize import AuthorizationRequest
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional


def _callback(response) -> list[tuple[str, str]]:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return parse_qsl(urlsplit(location).query)


def _exchange(http, code: str, **extra: str):
    return http.post(
        f"{OIDC}/token",
        data={"grant_type": "authorization_code", "code": code, **extra},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )


# -- response_type=none --------------------------------------------------------------------
def test_response_type_none_logs_in_and_sends_no_code(flow, app):
    """``OIDCBasicResponseTypeNoneTest``: the login runs and the callback carries no code;
    ``OIDCLoginProtocol.authenticated`` adds ``state``, ``session_state`` and ``iss``, and a
    code only for ``code``."""
    started = flow.authorize(response_type="none", state="s1")
    params = _callback(flow.login(started, sandbox_professional(app)))
    assert [name for name, _ in params] == ["state", "session_state", "iss"]
    assert dict(params)["state"] == "s1" and dict(params)["iss"] == ISSUER
    # The login opened the SSO session: a code-flow request now gets a code without a login.
    assert "code" in flow.code_from(flow.authorize(prompt="none"))


def test_response_type_none_answered_by_the_sso_session(flow, app):
    flow.obtain_code(sandbox_professional(app))
    for extra in ({}, {"prompt": "none"}):
        params = _callback(flow.authorize(response_type="none", state="s2", **extra))
        assert [name for name, _ in params] == ["state", "session_state", "iss"]


def test_response_type_none_without_a_session_and_prompt_none_is_login_required(flow):
    params = dict(_callback(flow.authorize(response_type="none", prompt="none", state="s3")))
    assert params == {"error": "login_required", "state": "s3", "iss": ISSUER}


def test_response_type_none_in_form_post(flow, app):
    page = flow.login(
        flow.authorize(response_type="none", response_mode="form_post", state="s4"),
        sandbox_professional(app),
    )
    assert page.status_code == 200 and page.mimetype == "text/html"
    fields = re.findall(r'NAME="([^"]+)" VALUE="[^"]*"', page.get_data(as_text=True))
    assert fields == ["state", "session_state", "iss"]


def test_response_type_none_needs_the_code_flow(flow, app):
    """``checkResponseType``: ``none`` needs the standard flow, as ``code``."""
    meta = register_client(app, client_id="services-only", grant_types=["client_credentials"])
    params = dict(_callback(flow.authorize(client_id=meta["client_id"], response_type="none")))
    assert params["error"] == "unauthorized_client"
    assert params["error_description"].endswith("Standard flow is disabled for the client.")


def test_response_type_none_is_pushed_as_any_other(app, client):
    register_client(app)
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "none", "scope": "openid", "redirect_uri": REDIRECT_URI},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert pushed.status_code == 201, pushed.get_json()


# -- plain OAuth 2.0 without redirect_uri ------------------------------------------------
def test_plain_oauth2_without_redirect_uri_goes_to_the_only_registered_one(flow, app, client):
    """``AuthorizationEndpointChecker.checkRedirectUri``: ``redirect_uri`` is required for an
    OpenID request only; ``RedirectUtils.verifyRedirectUri`` gives a request without one the
    client's only registered URI. The code's redirect URI is the parameter as sent, none: the
    token request needs none (``AuthorizationCodeGrantType``, RFC 6749 §4.1.3)."""
    started = flow.authorize(redirect_uri=None, scope="scope_all", state="p1")
    params = dict(_callback(flow.login(started, sandbox_professional(app))))
    assert params["state"] == "p1" and params["code"]
    exchanged = _exchange(client, params["code"])
    assert exchanged.status_code == 200, exchanged.get_json()
    assert "id_token" not in exchanged.get_json()
    # Any redirect_uri then passes too, as Keycloak compares only with one sent.
    again = dict(_callback(flow.authorize(redirect_uri=None, scope="scope_all")))
    other = _exchange(client, again["code"], redirect_uri="https://elsewhere.example.org/cb")
    assert other.status_code == 200, other.get_json()


def test_plain_oauth2_errors_go_to_the_only_registered_uri(flow):
    params = dict(_callback(flow.authorize(redirect_uri=None, scope="", response_type=None)))
    assert params["error_description"] == "Missing parameter: response_type"


def test_an_openid_request_without_redirect_uri_is_still_refused(flow):
    for scope in ("openid", "scope_all openid"):
        response = flow.authorize(redirect_uri=None, scope=scope)
        assert response.status_code == 400 and "Location" not in response.headers
        assert error_detail(response) == "Paramètre invalide : redirect_uri"


def test_no_single_registered_uri_or_an_empty_one_is_refused(flow, app):
    register_client(app, redirect_uris=[REDIRECT_URI, "https://service.example.org/other"])
    response = flow.authorize(redirect_uri=None, scope="scope_all")
    assert response.status_code == 400
    assert error_detail(response) == "Paramètre invalide : redirect_uri"
    register_client(app)
    # An empty redirect_uri= is sent, and registered nowhere.
    assert error_detail(flow.authorize(redirect_uri="", scope="scope_all")) == (
        "Paramètre invalide : redirect_uri"
    )


def test_a_pushed_plain_oauth2_request_without_redirect_uri(app, client):
    register_client(app)
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "scope_all"},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert pushed.status_code == 201, pushed.get_json()
    used = client.get(
        f"{OIDC}/auth",
        query_string={"client_id": "service-test", "request_uri": pushed.get_json()["request_uri"]},
    )
    assert used.status_code == 302 and "/login-actions/" in used.headers["Location"]


def test_the_new_fields_are_stored_only_when_set():
    """A host of the previous release, whose ``from_dict`` takes no key it does not know,
    completes every login of a code-flow request that names its redirect URI."""
    areq = AuthorizationRequest(client_id="c", redirect_uri=REDIRECT_URI, scope="openid")
    stored = areq.to_dict()
    assert "response_type" not in stored and "redirect_uri_given" not in stored
    changed = dataclasses.replace(areq, response_type="none", redirect_uri_given=False)
    assert changed.to_dict()["response_type"] == "none"
    assert changed.to_dict()["redirect_uri_given"] is False
    assert AuthorizationRequest.from_dict(changed.to_dict()) == changed


def test_code_written_twice_is_code_and_none_twice_is_refused(flow):
    """``OIDCResponseType.parse`` keeps each known value and refuses ``none`` beside any
    other, itself included."""
    started = flow.authorize(response_type="code code")
    assert started.status_code == 302 and "/login-actions/" in started.headers["Location"]
    params = dict(_callback(flow.authorize(response_type="none none")))
    assert params["error"] == "unsupported_response_type"


# -- installed applications: urn:ietf:wg:oauth:2.0:oob ------------------------------------
OOB = "urn:ietf:wg:oauth:2.0:oob"
OOB_PAGE = f"{ISSUER}/protocol/openid-connect/oauth/oob"


def test_an_installed_application_reads_its_code_on_keycloaks_page(flow, app, client):
    """``AuthorizationCodeTest.authorizationRequestInstalledApp``: a client registered with
    ``urn:ietf:wg:oauth:2.0:oob`` (``Constants.INSTALLED_APP_URN``) is answered on the realm's
    ``…/protocol/openid-connect/oauth/oob`` page, "Success code" and the code in ``#code``; the
    token request names the URN, the redirect URI the request sent."""
    register_client(app, redirect_uris=[OOB])
    done = flow.login(flow.authorize(redirect_uri=OOB, state="o1"), sandbox_professional(app))
    assert done.status_code == 302
    location = done.headers["Location"]
    assert location.startswith(OOB_PAGE + "?"), location
    assert dict(parse_qsl(urlsplit(location).query))["state"] == "o1"
    page = client.get(location + "&kc_locale=en")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<h1>Success code</h1>" in html
    assert "Please copy this code and paste it into your application:" in html
    (code,) = re.findall(r'<input id="code"[^>]* value="([^"]+)"', html)
    assert code == dict(parse_qsl(urlsplit(location).query))["code"]
    exchanged = _exchange(client, code, redirect_uri=OOB)
    assert exchanged.status_code == 200, exchanged.get_json()
    assert "Code succès" in client.get(location).get_data(as_text=True)
    # installedAppUrnCallback reads the error only without a code.
    both = client.get(f"{OOB_PAGE}?code=c1&error=e1&kc_locale=en").get_data(as_text=True)
    assert "<h1>Success code</h1>" in both and "e1" not in both


def test_an_installed_application_reads_its_error_on_that_page(flow, app, client):
    """Errors too go to the page (``RedirectUtils`` returns its URL as the redirect URI), which
    shows "Error code: <error>" (``code.ftl``, ``CodeBean``)."""
    register_client(app, redirect_uris=[OOB])
    refused = flow.authorize(redirect_uri=OOB, response_type=None)
    location = refused.headers["Location"]
    assert location.startswith(OOB_PAGE + "?"), location
    html = client.get(location + "&kc_locale=en").get_data(as_text=True)
    assert "<h1>Error code: invalid_request</h1>" in html
    assert '<p id="error">invalid_request</p>' in html
    assert "Code d&#39;erreur : invalid_request" in client.get(location).get_data(as_text=True)

"""JWT Secured Authorization Response Mode (JARM, https://openid.net/specs/oauth-v2-jarm.html):
``query.jwt``, ``fragment.jwt``, ``form_post.jwt`` and ``jwt``, as Keycloak answers them
(``OIDCResponseMode``, ``OIDCRedirectUriBuilder.JWTRedirectUriBuilder``; its test class
``AuthorizationTokenResponseModeTest``,
https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oidc/AuthorizationTokenResponseModeTest.java;
docs/reference/keycloak-behaviour.md, "Authorization endpoint: JARM").

Every response JWT is checked as a relying party checks it: with the published JWKS only
(:func:`tests.support.oidc_flow.decode`)."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from santeid.oidc.clients import InvalidClientMetadata
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional

STATE = "OpenIdConnect.AuthenticationProperties=2302984sdlk"
IMPLICIT_DISABLED = (
    "Client is not allowed to initiate browser login with given response_type. "
    "Implicit flow is disabled for the client."
)


def _only(params: dict) -> str:
    """The one parameter of a JARM response, ``response`` (JARM §2.3.1–§2.3.3)."""
    assert list(params) == ["response"], params
    (value,) = params["response"]
    return value


def _from_query(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert not location.fragment
    return _only(parse_qs(location.query))


def _from_fragment(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    assert not location.query
    return _only(parse_qs(location.fragment))


def _claims(app, token: str, *, aud: str = "service-test") -> dict:
    """The response JWT's claims after the checks of JARM §2.4: signature by a published key,
    ``iss``, ``aud``, ``exp`` (Keycloak's lifespan for it: the realm's access-code lifespan,
    santeid's ``authorization_code_lifetime``, 60 s)."""
    header, claims = decode(app, token)
    assert header["typ"] == "JWT" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == ISSUER
    assert claims["aud"] == aud
    now = int(time.time())
    assert now + 55 <= claims["exp"] <= now + 61
    assert list(claims)[:3] == ["exp", "iss", "aud"]
    return claims


def _login(flow, **params):
    return flow.login(flow.authorize(**params), sandbox_professional(flow.app))


def test_query_jwt_carries_the_code_and_the_state_then_the_code_is_exchanged(flow, app):
    """``authorizationRequestQueryJWTResponseMode``: the code, the state as sent, no error;
    Keycloak's other parameters (``session_state``, RFC 9207 ``iss``) in the JWT as well.
    The code is then exchanged as any other; sent back again, the same response's code is
    refused as any code used twice (nothing special about a replayed response)."""
    claims = _claims(app, _from_query(_login(flow, response_mode="query.jwt", state=STATE)))
    assert set(claims) == {"exp", "iss", "aud", "state", "session_state", "code"}
    assert claims["state"] == STATE and "error" not in claims
    tokens = flow.token(claims["code"])
    assert tokens.status_code == 200, tokens.get_json()
    assert decode(app, tokens.get_json()["id_token"])[1]["sid"] == claims["session_state"]
    again = flow.token(claims["code"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_jwt_is_query_jwt_for_the_code(flow, app):
    """``authorizationRequestJWTResponseMode`` (JARM §2.3.4): ``jwt`` for ``code`` is
    ``query.jwt``: a query, no fragment, and no ``scope`` claim (Keycloak adds one for
    ``response_type=token`` only)."""
    claims = _claims(app, _from_query(_login(flow, response_mode="jwt", state=STATE)))
    assert claims["state"] == STATE and "code" in claims and "scope" not in claims
    assert flow.token(claims["code"]).status_code == 200


def test_fragment_jwt(flow, app):
    """``authorizationRequestFragmentJWTResponseMode``: the JWT in the fragment, no query."""
    claims = _claims(app, _from_fragment(_login(flow, response_mode="fragment.jwt", state=STATE)))
    assert claims["state"] == STATE and "error" not in claims
    assert flow.token(claims["code"]).status_code == 200


def test_form_post_jwt_posts_one_response_field(flow, app):
    """``authorizationRequestFormPostJWTResponseMode`` (JARM §2.3.3): the auto-submitting page
    posts a single field, ``response``, to the redirect URI."""
    page = _login(flow, response_mode="form_post.jwt", state=STATE)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert f'ACTION="{REDIRECT_URI}"' in html
    fields = re.findall(r'NAME="([^"]+)" VALUE="([^"]*)"', html)
    assert [name for name, _ in fields] == ["response"]
    claims = _claims(app, fields[0][1])
    assert claims["state"] == STATE
    assert flow.token(claims["code"]).status_code == 200


def test_an_sso_answer_is_a_jwt_too(flow, app):
    """A code the browser's SSO session answers at once, without a login page, comes in the
    requested mode as well; ``response_type=none`` gets no code."""
    _login(flow)
    claims = _claims(app, _from_fragment(flow.authorize(response_mode="fragment.jwt")))
    assert "code" in claims and "session_state" in claims
    none = _claims(app, _from_query(flow.authorize(response_type="none", response_mode="jwt")))
    assert "code" not in none and none["session_state"] == claims["session_state"]


@pytest.mark.parametrize(
    ("mode", "extract"), [("query.jwt", _from_query), ("jwt", _from_query),
                          ("fragment.jwt", _from_fragment)]
)  # fmt: skip
def test_an_error_sent_to_the_client_is_a_jwt(flow, app, mode, extract):
    """JARM §2.2 / ``testErrorObjectExpectedClaims``: an error response is a JWT too, with
    ``iss``, ``aud`` and ``exp``, ``error``, ``error_description`` and the state."""
    claims = _claims(app, extract(flow.authorize(response_mode=mode, scope="openid admin")))
    assert claims["error"] == "invalid_scope"
    assert claims["error_description"] == "Invalid scopes: openid admin"
    assert claims["state"].startswith("st-") and "code" not in claims


def test_login_required_is_a_jwt_without_description(flow, app):
    """``prompt=none`` without a session: ``login_required`` and no ``error_description``, as
    in the other modes (``OIDCLoginProtocol.translateError``)."""
    claims = _claims(app, _from_fragment(flow.authorize(response_mode="fragment.jwt",
                                                        prompt="none", state="s")))  # fmt: skip
    assert {k: claims[k] for k in ("error", "state", "iss")} == {
        "error": "login_required",
        "state": "s",
        "iss": ISSUER,
    }
    assert "error_description" not in claims


def test_a_bad_response_type_is_sent_in_the_jwt_mode_asked(flow, app):
    """``OIDCResponseMode.parseWhenInvalidResponseType``: ``jwt`` is ``query.jwt`` there."""
    claims = _claims(app, _from_query(flow.authorize(response_type=None, response_mode="jwt")))
    assert claims["error"] == "invalid_request"
    assert claims["error_description"] == "Missing parameter: response_type"
    claims = _claims(app, _from_fragment(flow.authorize(response_type="foo",
                                                        response_mode="fragment.jwt")))  # fmt: skip
    assert claims["error"] == "unsupported_response_type"


def test_implicit_types_in_jwt_modes(flow, app):
    """``authorizationRequestFailInvalidResponseModeQueryJWT``: ``query.jwt`` with a type that
    puts tokens in the response needs an encrypted response JWT, which santeid never makes:
    ``invalid_request``, in ``query.jwt``, before the implicit flow's own refusal; ``jwt`` for
    such a type is ``fragment.jwt`` (JARM §2.3.4), where that refusal is sent."""
    claims = _claims(app, _from_query(flow.authorize(response_type="code id_token",
                                                     response_mode="query.jwt")))  # fmt: skip
    assert claims["error"] == "invalid_request"
    assert claims["error_description"] == (
        "Response_mode 'query.jwt' is allowed only when the authorization response token is "
        "encrypted"
    )
    claims = _claims(app, _from_fragment(flow.authorize(response_type="id_token token",
                                                        response_mode="jwt")))  # fmt: skip
    assert claims["error"] == "unauthorized_client"
    assert claims["error_description"] == IMPLICIT_DISABLED


def test_a_client_without_rfc9207_iss_still_gets_the_jwt_issuer(flow, app):
    """``exclude_issuer_from_auth_response`` leaves out RFC 9207's parameter, never the JWT's
    own ``iss`` (JARM §2.1; Keycloak's builder sets the issuer whatever the client's switch)."""
    register_client(app, exclude_issuer_from_auth_response=True)
    claims = _claims(app, _from_query(_login(flow, response_mode="query.jwt")))
    assert set(claims) == {"exp", "iss", "aud", "state", "session_state", "code"}


def test_the_client_chooses_the_algorithm(flow, app):
    """``authorization_signed_response_alg`` (JARM §3; Keycloak's client attribute
    ``authorization.signed.response.alg``), else the realm's default, RS256."""
    app.extensions["santeid"].keys.generate("PS256")
    register_client(app, authorization_signed_response_alg="PS256")
    header, claims = decode(app, _from_query(_login(flow, response_mode="jwt")))
    assert header["alg"] == "PS256" and claims["iss"] == ISSUER
    assert flow.token(claims["code"]).status_code == 200


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"authorization_signed_response_alg": "PS256"}, "no active PS256 signing key"),
        ({"authorization_signed_response_alg": "none"}, "unsupported"),
        ({"authorization_signed_response_alg": "HS256"}, "unsupported"),
        ({"authorization_encrypted_response_alg": "RSA-OAEP"}, "not supported"),
        ({"authorization_encrypted_response_enc": "A128GCM"}, "not supported"),
    ],
)
def test_registration_refuses_what_cannot_be_signed_or_encrypted(app, metadata, reason):
    """The algorithm is checked as ``id_token_signed_response_alg``: one santeid signs with
    now (docs/keys.md, "Algorithms"). Encrypted responses are refused: santeid encrypts no
    response JWT (docs/reference/keycloak-behaviour.md, "Authorization endpoint: JARM")."""
    with pytest.raises(InvalidClientMetadata, match=reason):
        register_client(app, **metadata)


@pytest.mark.parametrize("mode", ["query.jwt", "form_post.jwt"])
def test_the_sandbox_debugger_reads_a_jarm_response(app, client, mode):
    """The debugger (``/sandbox/debugger``) offers the JWT modes; its callback checks the
    response JWT as a relying party (signature, ``iss``, ``aud``, ``exp``) and shows its
    parameters, the code ready to exchange. A JWT that does not verify shows nothing more."""
    form = client.get("/sandbox/debugger").get_data(as_text=True)
    assert f'<option value="{mode}">' in form
    built = client.get("/sandbox/debugger/authorize", query_string={"response_mode": mode})
    url = html.unescape(re.search(r'id="run" href="([^"]+)"|href="([^"]+)" id="run"',
                                  built.get_data(as_text=True)).group(2))  # fmt: skip
    flow = Flow(app, client, {"redirect_uris": ["http://localhost/sandbox/debugger/callback"]})
    answer = flow.login(client.get(url.removeprefix("http://localhost")),
                        sandbox_professional(app))  # fmt: skip
    if mode == "query.jwt":
        location = answer.headers["Location"]
        page = client.get(location.removeprefix("http://localhost"))
    else:
        fields = dict(re.findall(r'NAME="([^"]+)" VALUE="([^"]*)"', answer.get_data(as_text=True)))
        page = client.post("/sandbox/debugger/callback", data=fields)
    text = page.get_data(as_text=True)
    assert 'id="callback-response"' in text and 'id="callback-code"' in text
    assert 'id="exchange"' in text
    forged = client.get("/sandbox/debugger/callback", query_string={"response": "a.b.c"})
    assert 'id="callback-code"' not in forged.get_data(as_text=True)


OOB = "urn:ietf:wg:oauth:2.0:oob"
OOB_PAGE = f"{ISSUER}/protocol/openid-connect/oauth/oob"


def test_a_jwt_mode_to_the_oob_page_shows_no_code(app, client):
    """JARM with ``urn:ietf:wg:oauth:2.0:oob``: the answer goes to the realm's page, as in any
    mode (``RedirectUtils.verifyRedirectUri``), in the JWT mode asked — ``query.jwt``: the
    page's query holds ``response`` alone. The page reads ``code`` and ``error`` only
    (``OIDCLoginProtocolService.installedAppUrnCallback``) and finds neither: "Error code:"
    followed by nothing, 200, the code the JWT carries nowhere on it. Keycloak's page fails
    there instead (``setError(null)``: its message bundle's ``containsKey(null)`` throws, an
    internal server error); kept: never a 500 (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint: the preferred error redirect, ``response_type=none`` and JARM out
    of band, method by method"). ``form_post.jwt`` posts to that page, which answers GET
    only, as Keycloak's ``@GET`` resource: 405."""
    flow = Flow(app, client, register_client(app, redirect_uris=[OOB]))
    done = _login(flow, response_mode="query.jwt", state=STATE)
    assert done.status_code == 302
    location = urlsplit(done.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == OOB_PAGE
    claims = _claims(app, _only(parse_qs(location.query)))
    assert claims["state"] == STATE and claims["code"]
    page = client.get(done.headers["Location"] + "&kc_locale=en")
    assert page.status_code == 200 and page.mimetype == "text/html"
    shown = page.get_data(as_text=True)
    assert "<h1>Error code: </h1>" in shown and '<p id="error"></p>' in shown
    assert claims["code"] not in shown
    posted = flow.authorize(response_mode="form_post.jwt")  # the SSO session answers
    assert f'ACTION="{OOB_PAGE}"' in posted.get_data(as_text=True)
    fields = re.findall(r'NAME="([^"]+)" VALUE="([^"]*)"', posted.get_data(as_text=True))
    assert [name for name, _ in fields] == ["response"]
    refused = client.post(OOB_PAGE.removeprefix("http://localhost"), data=dict(fields))
    assert refused.status_code == 405

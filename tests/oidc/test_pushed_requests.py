"""Pushed authorization requests (RFC 9126) are used once, and only by the client that pushed
them: a ``request_uri`` presented with another ``client_id`` is refused *without* being used up
(``docs/security.md``, "Pushed authorization requests")."""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from santeid.oidc import keycloak_errors
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.request_objects import PAR_URN_PREFIX
from tests.support.concurrency import race
from tests.support.jwt_keys import certificate_chain
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import kept_for_restart
from tests.support.oidc_flow import pkce_pair
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional


def _push(http) -> str:
    pushed = http.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert pushed.status_code == 201, pushed.get_json()
    return pushed.get_json()["request_uri"]


def _use(http, request_uri: str, client_id: str = "service-test"):
    query = {"client_id": client_id, "request_uri": request_uri}
    return http.get(f"{OIDC}/auth", query_string=query)


def test_another_client_id_does_not_use_up_the_request_uri(app, client, caplog):
    """Another registered client: Keycloak's page "Invalid Request", the reason logged; a
    client_id that names no client, an empty one too: "Client not found.", as Keycloak's
    ``AuthorizationEndpoint.process`` runs ``checkClient`` on the query's ``client_id`` before
    it parses the ``request_uri`` (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint")."""
    register_client(app)
    register_client(app, client_id="service-other")
    request_uri = _push(client)
    answers = [
        ("service-other", "Requête invalide"),
        ("unknown-client", "Client inconnu."),
        ("", "Client inconnu."),
    ]
    for other, page in answers:
        caplog.clear()
        refused = _use(client, request_uri, other)
        assert refused.status_code == 400
        assert error_detail(refused) == page
        if other == "service-other":
            assert "request_uri was pushed by another client" in caplog.text
    # Still there for the client that pushed it, then used.
    record = app.extensions["santeid"].store.get("par:" + request_uri[len(PAR_URN_PREFIX) :])
    assert record is not None and record["state"] == "pushed"
    used = _use(client, request_uri)
    assert used.status_code == 302 and "/login-actions/" in used.headers["Location"]
    caplog.clear()
    again = _use(client, request_uri)
    assert again.status_code == 400
    assert "request_uri is unknown or expired" in caplog.text


def test_racing_uses_of_one_request_uri_let_one_through(app, client):
    register_client(app)
    request_uri = _push(client)

    def use(_: int) -> int:
        return _use(app.test_client(), request_uri).status_code

    statuses = race(use, threads=8)
    assert sorted(statuses) == [302] + [400] * 7


def _unsigned(claims: dict) -> str:
    """A request object with ``alg`` ``none`` (RFC 9101 §6.1; Keycloak accepts it)."""

    def segment(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'none'})}.{segment(claims)}."


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({"exp": -29}, None),
        ({"exp": -30}, "the request object has expired"),
        ({"nbf": 30}, None),
        ({"nbf": 31}, "the request object is not valid yet (nbf)"),
        ({"exp": 3631}, "request object: exp is more than 3600 seconds ahead"),
        ({"iat": 1.5}, "request object: the claim iat must be a whole number of seconds"),
    ],
)
def test_request_object_times_allow_30_seconds_of_skew(clocked_app, clock, claims, refusal):
    """The skew of every JWT a client signs (``client_auth.LEEWAY``): an ``exp`` is past from
    30 s on (RFC 7519 §4.1.4: not accepted *on or after* it), as for a CIBA signed request."""
    register_client(clocked_app)
    now = int(clock()) + 1
    clock.set(now)
    claims = {name: now + offset for name, offset in claims.items()}
    request_object = {"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI}
    pushed = clocked_app.test_client().post(
        f"{OIDC}/ext/par/request",
        data={"request": _unsigned({**request_object, **claims})},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    if refusal is None:
        assert pushed.status_code == 201, pushed.get_json()
    else:
        assert pushed.status_code == 400
        assert pushed.get_json()["error"] == "invalid_request_object"
        assert pushed.get_json()["error_description"].startswith(refusal)


def test_failed_client_authentication_is_keycloaks_authentication_failed(app, client):
    """Keycloak's ``AbstractParEndpoint.authorizeClient`` turns every failed client
    authentication into 401 ``invalid_request`` "Authentication failed."
    (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    register_client(app)
    form = {"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI}
    for headers in ({}, basic_auth("service-test", "wrong-secret"), basic_auth("nobody", "x")):
        refused = client.post(f"{OIDC}/ext/par/request", data=form, headers=headers)
        assert refused.status_code == 401
        assert refused.get_json() == {
            "error": "invalid_request",
            "error_description": "Authentication failed.",
        }
        assert "WWW-Authenticate" not in refused.headers


def _push_form(http, pairs: list[tuple[str, str]]):
    from urllib.parse import urlencode

    headers = {**basic_auth("service-test", CLIENT_SECRET),
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    return http.post(f"{OIDC}/ext/par/request", data=urlencode(pairs), headers=headers)


@pytest.mark.parametrize(
    ("pairs", "answer"),
    [
        # Keycloak's ParEndpoint checks the scope (its first value) before the parser's
        # "duplicated parameter" note, and answers it invalid_request.
        ([("scope", "openid inconnu")], ("invalid_request", "Invalid scopes: openid inconnu")),
        ([("scope", "openid inconnu"), ("state", "a"), ("state", "b")],
         ("invalid_request", "Invalid scopes: openid inconnu")),
        ([("scope", "openid inconnu"), ("scope", "openid")],
         ("invalid_request", "Invalid scopes: openid inconnu")),
        ([("scope", "openid"), ("scope", "openid inconnu")],
         ("invalid_request", "duplicated parameter")),
        ([("scope", "openid"), ("state", "a"), ("state", "b")],
         ("invalid_request", "duplicated parameter")),
    ],
)  # fmt: skip
def test_an_unknown_scope_is_refused_before_a_repeated_parameter_as_keycloaks_par(
    app, client, pairs, answer
):
    """docs/reference/keycloak-behaviour.md, "Authorization endpoint": at PAR, the redirect URI,
    the response type, the scope, then the repetition."""
    register_client(app)
    base = [("response_type", "code"), ("redirect_uri", REDIRECT_URI)]
    refused = _push_form(client, base + pairs)
    assert refused.status_code == 400
    body = refused.get_json()
    assert (body["error"], body["error_description"]) == answer


def test_a_scope_over_4000_characters_is_ignored_at_par_too(app, client):
    """Keycloak's PAR endpoint reads the form with the same parser, which ignores a known
    parameter over 4000 characters (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint"): such a scope of unknown values is no scope, and the request is pushed; its
    repetition is still "duplicated parameter"."""
    register_client(app)
    base = [("response_type", "code"), ("redirect_uri", REDIRECT_URI)]
    too_long = "openid " + "inconnu " * 500
    assert _push_form(client, [*base, ("scope", too_long[:4000])]).status_code == 400
    pushed = _push_form(client, [*base, ("scope", too_long[:4001])])
    assert pushed.status_code == 201, pushed.get_json()
    repeated = _push_form(client, [*base, ("scope", too_long[:4001]), ("scope", "openid")])
    assert repeated.get_json()["error_description"] == "duplicated parameter"


def test_an_unknown_scope_at_par_under_the_strict_error_style(app, client):
    """``error_style = "strict"``: RFC 9126 §2.3's error of the authorization endpoint,
    ``invalid_scope``."""
    register_client(app)
    app.extensions["santeid"].settings.keycloak.error_style = "strict"
    refused = _push_form(client, [("response_type", "code"), ("redirect_uri", REDIRECT_URI),
                                  ("scope", "openid inconnu")])  # fmt: skip
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("response_type", "status", "answer"),
    [
        ("foo", 400, ("invalid_request", "Unsupported response type")),
        ("", 400, ("invalid_request", "Unsupported response type")),
        (None, 400, ("invalid_request", "Missing parameter: response_type")),
        ("token", 401, ("unauthorized_client", keycloak_errors.IMPLICIT_FLOW_DISABLED)),
        ("code id_token", 401, ("unauthorized_client", keycloak_errors.IMPLICIT_FLOW_DISABLED)),
    ],
)
def test_a_response_type_refused_as_keycloaks_par(app, client, response_type, status, answer):
    """Keycloak's ``ParEndpoint``: a response type it cannot parse is ``invalid_request``
    "Unsupported response type"; a flow the client may not use keeps the authorization
    endpoint's ``unauthorized_client`` with that exception's status, 401
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    register_client(app)
    pairs = [("redirect_uri", REDIRECT_URI), ("scope", "openid")]
    if response_type is not None:
        pairs.append(("response_type", response_type))
    refused = _push_form(client, pairs)
    assert refused.status_code == status
    body = refused.get_json()
    assert (body["error"], body["error_description"]) == answer


def test_a_request_uri_in_a_pushed_request_is_keycloaks_refusal(app, client):
    """A pushed request holding ``request_uri`` (RFC 9126 §2.1 forbids it): Keycloak's
    ``ParTest.testFailureParIncludesRequestUri``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/par/ParTest.java)
    asserts 400 ``invalid_request`` "It is not allowed to include request_uri to PAR."
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint")."""
    register_client(app)
    imaginary = PAR_URN_PREFIX + "A" * 86
    pairs = [("response_type", "code"), ("scope", "openid"), ("redirect_uri", REDIRECT_URI)]
    refused = _push_form(client, [*pairs, ("request_uri", imaginary)])
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_request",
        "error_description": "It is not allowed to include request_uri to PAR.",
    }


@pytest.mark.parametrize("error_style", ["keycloak", "strict"])
@pytest.mark.parametrize("redirect_uri", ["http://invalid.localtest.me:8180", None])
def test_a_redirect_uri_refused_at_par_is_invalid_request(app, client, redirect_uri, error_style):
    """An unregistered (or missing) ``redirect_uri`` in a pushed request: Keycloak's
    ``ParTest.testFailureParIncludesInvalidRedirectUri``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/par/ParTest.java)
    asserts 400 ``invalid_request`` "Invalid parameter: redirect_uri" (``ParEndpoint`` answers
    every failure of ``checkRedirectUri`` so). RFC 9126 §2.3 takes its error codes from RFC 6749
    §5.2 and §4.1.2.1, which have no ``invalid_redirect_uri`` (RFC 7591's, for registration):
    the same answer under both error styles."""
    register_client(app)
    app.extensions["santeid"].settings.keycloak.error_style = error_style
    pairs = [("response_type", "code"), ("scope", "openid")]
    if redirect_uri is not None:
        pairs.append(("redirect_uri", redirect_uri))
    refused = _push_form(client, pairs)
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_request",
        "error_description": "Invalid parameter: redirect_uri",
    }


def test_a_redirect_uri_carrying_a_response_parameter_is_refused_at_par(app, client):
    """The pushed request's ``redirect_uri`` goes through the same ``RedirectUtils`` check
    (``ParEndpoint`` calls ``AuthorizationEndpointChecker.checkRedirectUri``): one whose query
    holds ``state``, ``code`` or ``iss`` is refused by Keycloak 26.4.14, 26.6.5 and later
    (https://github.com/keycloak/keycloak/pull/49959), which PAR answers 400 ``invalid_request``
    "Invalid parameter: redirect_uri" (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint")."""
    polluted = REDIRECT_URI + "?iss=https%3A%2F%2Fevil.example"
    register_client(app, redirect_uris=[REDIRECT_URI, polluted])
    pairs = [("response_type", "code"), ("scope", "openid"), ("redirect_uri", polluted)]
    refused = _push_form(client, pairs)
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_request",
        "error_description": "Invalid parameter: redirect_uri",
    }


def test_a_client_that_requires_pushed_requests_is_refused_without_one(app, client):
    """RFC 9126 §6's ``require_pushed_authorization_requests`` client metadata (Keycloak's
    "Pushed authorization request required"): an authorization request without a pushed
    ``request_uri`` is sent back ``invalid_request`` "Pushed Authorization Request is only
    allowed." — ``ParTest.testFailureNotParByParRequiredCilent``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/par/ParTest.java),
    ``AuthorizationEndpointChecker.checkParRequired``, after the response type and before a
    repeated parameter. The same request through the PAR endpoint goes on to the login."""
    register_client(app, require_pushed_authorization_requests=True)
    query = {"client_id": "service-test", "response_type": "code", "scope": "openid",
             "redirect_uri": REDIRECT_URI, "state": "s1"}  # fmt: skip
    refused = client.get(f"{OIDC}/auth", query_string=query)
    assert refused.status_code == 302
    location = urlsplit(refused.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    answer = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert answer["error"] == "invalid_request"
    assert answer["error_description"] == "Pushed Authorization Request is only allowed."
    assert answer["state"] == "s1"
    # Before a repeated parameter, as Keycloak's checks run.
    repeated = client.get(f"{OIDC}/auth?" + urlencode([*query.items(), ("state", "s2")]))
    assert "Pushed+Authorization+Request" in repeated.headers["Location"]
    used = _use(client, _push(client))
    assert used.status_code == 302 and "/login-actions/" in used.headers["Location"]


def test_require_pushed_authorization_requests_is_a_boolean(app):
    with pytest.raises(InvalidClientMetadata):
        register_client(app, require_pushed_authorization_requests="yes")


def test_a_client_with_an_enforced_pkce_method_pushes_with_it(app, client):
    """Keycloak's ``ParEndpoint`` runs the same ``AuthorizationEndpointChecker.checkPKCEParams``
    as the authorization endpoint, answered as a 400 JSON error: a client whose PKCE method is
    enforced (``pkce_code_challenge_method``) cannot push a request without it."""
    register_client(app, pkce_code_challenge_method="S256")
    base = [("response_type", "code"), ("redirect_uri", REDIRECT_URI), ("scope", "openid")]
    refused = _push_form(client, base)
    assert refused.status_code == 400
    assert refused.get_json() == {
        "error": "invalid_request",
        "error_description": "Missing parameter: code_challenge_method",
    }
    challenge = [("code_challenge", "a" * 43), ("code_challenge_method", "S256")]
    assert _push_form(client, base + challenge).status_code == 201


def test_a_request_uri_is_no_code(app, client):
    """``ParTest.testParDoNotClashWithAuthorizationCode``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oauth/par/ParTest.java):
    a pushed request carrying a code's own fields (an id, a session, an expiry) is accepted,
    and what its ``request_uri`` names, presented as a code, is ``invalid_grant``."""
    register_client(app)
    pairs = [("response_type", "code"), ("scope", "openid"), ("redirect_uri", REDIRECT_URI),
             ("id", "some-id"), ("uss", "session"), ("exp", "9999999999")]  # fmt: skip
    pushed = _push_form(client, pairs)
    assert pushed.status_code == 201, pushed.get_json()
    key = pushed.get_json()["request_uri"][len(PAR_URN_PREFIX) :]
    for code in (key, pushed.get_json()["request_uri"]):
        refused = client.post(
            f"{OIDC}/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            headers=basic_auth("service-test", CLIENT_SECRET),
        )
        assert refused.status_code == 400
        assert refused.get_json()["error"] == "invalid_grant"


def test_an_essential_acr_is_checked_when_the_pushed_request_is_used(app, client):
    """Keycloak's ``ParEndpoint`` keeps the ``claims`` as pushed; the authorization endpoint
    checks them when the ``request_uri`` is used
    (``AuthorizationEndpoint.updateAuthenticationSession``,
    https://github.com/keycloak/keycloak/blob/9d9e92bce482db76415017c6a4a0a2a8ee3aaa46/services/src/main/java/org/keycloak/protocol/oidc/endpoints/AuthorizationEndpoint.java):
    an essential ``acr`` it cannot map is the error page "Invalid parameter: claims"."""
    register_client(app)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas1"]}}})
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI,
              "claims": claims},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )  # fmt: skip
    assert pushed.status_code == 201, pushed.get_json()
    used = _use(client, pushed.get_json()["request_uri"])
    assert used.status_code == 400 and "Location" not in used.headers
    assert error_detail(used) == "Paramètre invalide : claims"


def test_request_and_request_uri_of_an_unknown_client_is_client_not_found(app, client):
    """Both ``request`` and ``request_uri``: "Invalid Request" for a known client, but the
    client is checked first, as Keycloak's ``checkClient`` before ``parseRequest``."""
    register_client(app)
    both = {"request": "a.b.c", "request_uri": PAR_URN_PREFIX + "x"}
    unknown = client.get(f"{OIDC}/auth", query_string={"client_id": "unknown-client", **both})
    assert unknown.status_code == 400
    assert error_detail(unknown) == "Client inconnu."
    known = client.get(f"{OIDC}/auth", query_string={"client_id": "service-test", **both})
    assert known.status_code == 400
    assert error_detail(known) == "Requête invalide"


def test_a_login_may_outlast_the_request_uri_it_began_with(clocked_app, clock):
    """``ParTest.requestUriLifetimeDoesNotLimitAuthenticationSessionLength``
    (https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/par/ParTest.java,
    https://github.com/keycloak/keycloak/issues/48072): ``expires_in`` bounds the use of the
    ``request_uri``, not the login it opens — a login finished after twice that time still
    gets its code, with the pushed ``state``, and the code its tokens."""
    meta = register_client(clocked_app)
    http = clocked_app.test_client()
    verifier, challenge = pkce_pair()
    pushed = http.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI,
              "state": "pushed-state", "code_challenge": challenge,
              "code_challenge_method": "S256"},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )  # fmt: skip
    assert pushed.status_code == 201 and pushed.get_json()["expires_in"] == 60
    flow = Flow(clocked_app, http, meta)
    opened = _use(http, pushed.get_json()["request_uri"])
    clock.advance(2 * 60)
    answer = flow.code_from(flow.login(opened, sandbox_professional(clocked_app)))
    assert answer["state"] == "pushed-state"
    tokens = flow.token(answer["code"], code_verifier=verifier)
    assert tokens.status_code == 200, tokens.get_json()


def test_the_restart_cookie_of_a_pushed_request_holds_no_client_credentials(app, client):
    """Keycloak's ``RestartCookieTest.testRestartCookieWithPar``: the request kept for a restart
    (``santeid_restart``, Keycloak's ``KC_RESTART``) holds none of the client's credentials
    sent with the pushed request — here its secret in the form."""

    register_client(app, token_endpoint_auth_method="client_secret_post")
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI,
              "client_id": "service-test", "client_secret": CLIENT_SECRET},
    )  # fmt: skip
    assert pushed.status_code == 201, pushed.get_json()
    response = _use(client, pushed.get_json()["request_uri"])
    assert "/login-actions/authenticate" in response.headers["Location"]
    kept = kept_for_restart(app, response)
    assert kept["areq"]["redirect_uri"] == REDIRECT_URI  # the cookie was read
    text = json.dumps(kept)
    assert CLIENT_SECRET not in text
    assert "client_secret" not in text and "client_assertion" not in text


def test_a_client_signing_with_a_certificate_chain_pushes_its_request(app, client):
    """A ``private_key_jwt`` client whose client assertion and request object each carry an
    ``x5c`` chain of three certificates in their header (RFC 7515 §4.1.6), more than 4096
    bytes each: Keycloak's ``ParEndpoint`` authenticates the client and reads ``request``
    whatever their length (docs/reference/keycloak-behaviour.md, "Parameter sizes"); santeid
    bounds them by ``max_jwt_parameter_length`` (20000)."""
    key = ECKey.generate_key("P-256", private=True)
    register_client(
        app,
        client_secret=None,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [{**key.as_dict(private=False), "kid": "k1"}]},
    )
    header = {"alg": "ES256", "kid": "k1", "x5c": certificate_chain()}
    now = int(time.time())
    assertion = jwt.encode(
        header,
        {"iss": "service-test", "sub": "service-test", "aud": ISSUER, "iat": now,
         "exp": now + 60, "jti": uuid.uuid4().hex},
        key,
    )  # fmt: skip
    request_object = jwt.encode(
        header,
        {"iss": "service-test", "client_id": "service-test", "aud": ISSUER, "iat": now,
         "exp": now + 60, "response_type": "code", "scope": "openid",
         "redirect_uri": REDIRECT_URI, "state": "etat-du-service"},
        key,
    )  # fmt: skip
    assert len(assertion) > 4096 and len(request_object) > 4096
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={
            "client_id": "service-test",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "request": request_object,
        },
    )
    assert pushed.status_code == 201, pushed.get_json()
    response = _use(client, pushed.get_json()["request_uri"])
    assert "/login-actions/authenticate" in response.headers["Location"]

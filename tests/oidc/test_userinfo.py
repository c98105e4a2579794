"""UserInfo (OIDC Core §5.3, PSC's claim set), introspection (RFC 7662) and revocation
(RFC 7009)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.app import create_app
from santeid.oidc.clients import InvalidClientMetadata
from santeid.storage import MemoryStore
from tests.support.ciba import auth_headers
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import keycloak_refusal
from tests.support.oidc_flow import register_client
from tests.support.oidc_flow import sandbox_professional
from tests.support.oidc_flow import userinfo_refusal

SECRET = "s3cr3t-of-the-test-client-0123456789"
#: Keycloak's userinfo answer to an access token whose session or grant has ended.
USER_SESSION_NOT_FOUND = keycloak_refusal(401, "invalid_token", "user_session_not_found")
TOKEN_VERIFICATION_FAILED = keycloak_refusal(401, "invalid_token", "Token verification failed")
#: Keycloak's userinfo answer to an access token whose user session is still stored but past
#: its timeouts.
SESSION_EXPIRED = keycloak_refusal(401, "invalid_token", "session_expired")


def _bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def test_userinfo_returns_psc_claims_in_psc_order(flow, client, app):
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = json.loads(response.data)  # keeps the document's key order
    assert list(body)[:3] == ["Secteur_Activite", "sub", "SubjectOrganization"]
    assert body["SubjectNameID"] == national_id
    assert body["preferred_username"] == national_id
    assert body["sub"].endswith(":" + national_id)
    assert body["SubjectRole"] and body["SubjectRole"][0].endswith("^1.2.250.1.213.1.1.5.5")
    assert body["authMode"] == "MOBILE"  # the sandbox stands in for e-CPS
    exercice = body["SubjectRefPro"]["exercices"][0]
    assert exercice["codeProfession"]
    activity = exercice["activities"][0]
    assert len(activity) == 30
    assert all(value is not None for value in activity.values())


def test_userinfo_with_post_header_and_post_body(flow, client):
    tokens = flow.full_login()
    by_header = client.post(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    by_body = client.post(f"{OIDC}/userinfo", data={"access_token": tokens["access_token"]})
    assert by_header.status_code == by_body.status_code == 200
    assert json.loads(by_header.data) == json.loads(by_body.data)


@pytest.mark.parametrize("style", ["keycloak", "rfc6750"])
def test_userinfo_refuses_a_token_sent_two_ways(app, flow, client, style):
    """Keycloak's userinfo POST (RFC 6750 §2: one method only): a Bearer header and a form
    token is 400 ``invalid_request``, whichever is valid; a header of another scheme is no
    token (with the ``rfc6750`` style, an ``invalid_request`` of its own)."""
    app.extensions["santeid"].settings.keycloak.userinfo_errors = style
    tokens = flow.full_login()

    def post(authorization: str, form_token: str):
        headers = {"Authorization": authorization}
        data = {"access_token": form_token}
        return userinfo_refusal(client.post(f"{OIDC}/userinfo", headers=headers, data=data))

    access = tokens["access_token"]
    two_ways = keycloak_refusal(
        400, "invalid_request", "More than one method used for including an access token"
    )
    assert post(f"Bearer {access}", access) == two_ways
    assert post(f"Bearer {access}", "not-a-token") == two_ways
    assert post("Bearer not-a-token", access) == two_ways
    other_scheme = post("Basic eDp5", access)
    if style == "keycloak":
        assert other_scheme[0] == 200
    else:
        assert other_scheme == keycloak_refusal(
            400, "invalid_request", "the Authorization header must be 'Bearer <token>'"
        )


@pytest.mark.parametrize("authorization", [None, "Basic c2VydmljZTpzZWNyZXQ=", "Bearer "])
def test_userinfo_without_token_is_401_with_a_bare_challenge(client, authorization):
    """Keycloak (RFC 6750 §3.1): 401, a challenge without error code, no body, whether the
    header is absent or not a Bearer token."""
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get(f"{OIDC}/userinfo", headers=headers)
    assert userinfo_refusal(response) == keycloak_refusal(401)


def test_userinfo_refuses_a_token_in_the_query_string(flow, client):
    """Keycloak reads the token from the header or a POSTed form, never from the URL
    (docs/reference/keycloak-behaviour.md, "Userinfo"): a URL ends up in logs."""
    tokens = flow.full_login()
    response = client.get(f"{OIDC}/userinfo?access_token={tokens['access_token']}")
    assert userinfo_refusal(response) == keycloak_refusal(401)


def test_userinfo_with_forged_token_is_invalid_token(flow, client):
    tokens = flow.full_login()
    header, payload, signature = tokens["access_token"].split(".")
    forged = ".".join([header, payload, signature[::-1]])
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(forged))
    assert userinfo_refusal(response) == TOKEN_VERIFICATION_FAILED


def _b64url(document: dict) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_without_a_signing_algorithm_is_refused(flow, client):
    """Keycloak's ``TokenInputValidationTest`` (``userInfoRejectsAlgNoneToken``,
    ``userInfoRejectsTokensWithoutAlgorithmHeader``, ``introspectionRejectsAlgNoneToken``;
    https://github.com/keycloak/keycloak/pull/50020): a live access token's own claims under
    a header of ``alg`` ``none``, ``null``, none at all or no member, unsigned or with the
    token's own signature, is 401 ``invalid_token`` "Token verification failed" at userinfo
    and inactive at introspection — never a 500, never the token's claims."""
    tokens = flow.full_login()
    _, payload, signature = tokens["access_token"].split(".")
    headers = [{"alg": "none", "typ": "JWT"}, {"alg": None}, {"typ": "JWT"}, {}]
    for header in headers:
        for tail in ("", signature):
            forged = f"{_b64url(header)}.{payload}.{tail}"
            refused = client.get(f"{OIDC}/userinfo", headers=_bearer(forged))
            assert userinfo_refusal(refused) == TOKEN_VERIFICATION_FAILED, header
            assert _introspect(client, forged).get_json() == {"active": False}, header
    # The same claims, signed, are the professional's.
    assert (
        client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200
    )


#: Keycloak's ``MalformedContentTypeTest`` values: none is a media type (RFC 9110 §8.3.1).
NO_MEDIA = "The content-type header value did not correspond to a valid media type"
MALFORMED_CONTENT_TYPES = ["invalid/@@##", "</><script>alert(1)</script>", "text", "text/[html]"]


@pytest.mark.parametrize("content_type", MALFORMED_CONTENT_TYPES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_refuses_a_content_type_that_is_no_media_type(flow, client, content_type, method):
    """``MalformedContentTypeTest.userInfoEndpoint``: Keycloak 26.8 answers 400
    ``invalid_request`` as a JSON object (``ContentTypeValidationUtil.requireValidOrNoContentType``,
    https://github.com/keycloak/keycloak/pull/51737; 25 to 26.6 a 500,
    https://github.com/keycloak/keycloak/issues/49785), before the token is looked at: a
    valid token gets no claims, a forged one no ``invalid_token``."""
    tokens = flow.full_login()
    for token in (tokens["access_token"], "forged"):
        headers = {**_bearer(token), "Content-Type": content_type}
        response = client.open(f"{OIDC}/userinfo", method=method, headers=headers)
        assert response.status_code == 400
        assert response.get_json() == {"error": "invalid_request", "error_description": NO_MEDIA}
        assert "WWW-Authenticate" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "content_type", ["", "text/html", "application/x-www-form-urlencoded; charset=UTF-8", "*/*"]
)
def test_userinfo_answers_whatever_media_type_is_sent(flow, client, content_type):
    """Any media type, of a body userinfo does not read, is no reason to refuse
    (``requireValidOrNoContentType`` checks the syntax only); an empty value is none: a WSGI
    server may give an absent header as an empty one (PEP 3333, ``CONTENT_TYPE``)."""
    tokens = flow.full_login()
    headers = {**_bearer(tokens["access_token"]), "Content-Type": content_type}
    assert client.get(f"{OIDC}/userinfo", headers=headers).status_code == 200


@pytest.mark.parametrize("content_type", MALFORMED_CONTENT_TYPES)
def test_introspection_refuses_a_content_type_that_is_no_media_type(flow, client, content_type):
    """``MalformedContentTypeTest.tokenIntrospection``: 400 ``invalid_request``. santeid reads
    no form from such a body, so the request has no ``token`` — the status and code of Keycloak
    26.8, in the words of that check (docs/reference/keycloak-behaviour.md, "Token endpoint",
    the same choice as for the token endpoint's form)."""
    tokens = flow.full_login()
    response = client.post(
        f"{OIDC}/token/introspect",
        data=f"token={tokens['access_token']}",
        headers={**basic_auth("service-test", SECRET), "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Token not provided.",
    }


def test_userinfo_refuses_a_token_of_another_realm_signed_with_the_right_key(app, flow, client):
    """``UserInfoEndpoint``: ``TokenVerifier.realmUrl`` — a token whose ``iss`` is another
    realm's is "Token verification failed", its signature good or not; so is one without
    ``iss``."""
    tokens = flow.full_login()
    header, claims = decode(app, tokens["access_token"])
    keys = app.extensions["santeid"].keys
    for issuer in (claims["iss"].replace("esante-wallet", "other-realm"), None):
        moved = {k: v for k, v in claims.items() if k != "iss"}
        if issuer is not None:
            moved = {"iss": issuer, **moved}
        token = keys.sign(moved, alg=header["alg"], typ=header["typ"])
        response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
        assert userinfo_refusal(response) == TOKEN_VERIFICATION_FAILED, issuer
    # The same claims signed again, their own iss kept: answered (the refusal is the issuer's).
    token = keys.sign(claims, alg=header["alg"], typ=header["typ"])
    assert client.get(f"{OIDC}/userinfo", headers=_bearer(token)).status_code == 200


def test_userinfo_with_an_expired_token_is_token_verification_failed(clocked_app, clock):
    """``UserInfoBearerChallengeTest.expiredToken``: ten minutes later, 401 with
    ``Bearer realm="…", error="invalid_token", error_description="Token verification failed"``
    and an empty body — the one description of every token that does not verify."""
    client = clocked_app.test_client()
    tokens = Flow(clocked_app, client, register_client(clocked_app)).full_login()
    clock.advance(600)
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert userinfo_refusal(response) == TOKEN_VERIFICATION_FAILED


def test_userinfo_in_the_late_2023_layout(app, flow, client):
    app.extensions["santeid"].settings.keycloak.userinfo_layout = "late-2023"
    professional = sandbox_professional(app)
    tokens = flow.full_login(professional)
    body = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"])).get_json()
    keys = list(body)
    assert keys.index("sub") + 1 == keys.index("codeGenreActivite")
    assert keys.index("preferred_username") + 1 == keys.index("codeCivilite")
    assert "codeCivilite" not in body["SubjectRefPro"]
    assert "authMode" not in body  # the sample has none; the tokens keep it
    first = body["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert body["codeGenreActivite"] == first["codeGenreActivite"]


def test_id_and_refresh_tokens_are_not_access_tokens(flow, client):
    tokens = flow.full_login()
    for token in (tokens["id_token"], tokens["refresh_token"]):
        response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
        assert userinfo_refusal(response) == TOKEN_VERIFICATION_FAILED


@pytest.mark.parametrize("scope", ["openid profile", "openid", "openid email identity"])
def test_userinfo_without_scope_all_is_the_identity_with_the_profile_names(
    flow, client, app, scope
):
    """Without ``scope_all`` no sectoral claim, but the ``profile`` names (OIDC Core §5.4) that
    the ID token carries too: ``profile`` is one of the default client scopes PSC's Keycloak
    applies to every token (docs/reference/keycloak-behaviour.md, "Tokens"), in PSC's order."""
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id, scope=scope)
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    body = json.loads(response.data)  # keeps the document's key order
    assert list(body) == [
        "sub",
        "preferred_username",
        "given_name",
        "SubjectNameID",
        "family_name",
    ]
    professional = app.extensions["santeid"].directory.get(national_id)
    assert (body["given_name"], body["family_name"]) == (
        professional.given_name,
        professional.family_name,
    )
    _, id_token = decode(app, tokens["id_token"])
    assert (body["given_name"], body["family_name"]) == (
        id_token["given_name"],
        id_token["family_name"],
    )


def test_structure_staff_without_scope_all_get_the_same_identity_claims():
    """The short claim set of a person without exercice (docs/claims.md) narrows to the same
    five claims: its ``codeCivilite`` belongs to the sectoral data."""
    from santeid.directory.demo import demo_professionals
    from santeid.oidc.scopes import released_userinfo
    from santeid.psc.claims import build_userinfo

    staff = next(p for p in demo_professionals() if p.national_id == "30B6900011/ADM0107")
    full = build_userinfo(staff, sub="f:x:" + staff.national_id, auth_mode="CARD")
    assert "codeCivilite" in full
    released = released_userinfo("openid profile", full)
    assert list(released) == ["sub", "preferred_username", "given_name", "SubjectNameID",
                              "family_name"]  # fmt: skip
    assert released_userinfo("openid scope_all", full) == full


@pytest.mark.parametrize(
    ("alg", "accept"),
    [("RS256", None), ("RS256", "application/jwt"), ("RS256", "application/json"),
     ("ES256", None), ("PS256", None)],
)  # fmt: skip
def test_signed_userinfo_when_the_client_registered_an_alg(app, client, alg, accept):
    """Keycloak's ``UserInfoEndpoint``: ``Content-Type: application/jwt`` whatever the
    ``Accept`` (``UserInfoTest.testSuccessSignedResponse``, ``…RS256AcceptJWT``), a JWS whose
    header is ``JWSBuilder().type("JWT")``'s — ``alg``, ``typ`` ``JWT``, ``kid`` — and whose
    claims hold ``iss`` and ``aud`` (OIDC Core §5.3.2): santeid's JSON answer, then those two
    (Keycloak's order is a ``HashMap``'s)."""
    if alg != "RS256":
        app.extensions["santeid"].keys.generate(alg)
    meta = register_client(app, userinfo_signed_response_alg=alg)
    tokens = Flow(app, client, meta).full_login()
    headers = _bearer(tokens["access_token"]) | ({"Accept": accept} if accept else {})
    response = client.get(f"{OIDC}/userinfo", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/jwt"
    jwks = KeySet.import_key_set(client.get(f"{OIDC}/certs").get_json())
    token = jwt.decode(response.get_data(as_text=True), jwks, algorithms=[alg])
    assert list(token.header) == ["alg", "typ", "kid"]
    assert token.header["alg"] == alg and token.header["typ"] == "JWT"
    claims = token.claims
    assert list(claims)[-2:] == ["iss", "aud"]
    assert claims["aud"] == meta["client_id"]
    assert claims["iss"].endswith("/auth/realms/esante-wallet")
    assert "SubjectRefPro" in claims


@pytest.mark.parametrize(
    "field", ["userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc"]
)
def test_registration_refuses_encrypted_userinfo(app, field):
    """OIDC Dynamic Client Registration 1.0 §2's ``userinfo_encrypted_response_alg`` and
    ``…_enc``: Keycloak encrypts the answer with the client's encryption key, and without one
    fails at every userinfo request (``UserInfoEndpoint.jweFromContent``: "can not get
    encryption KEK", 500). santeid encrypts nothing: refused at registration, rather than a
    client expecting a JWE being sent JSON (docs/reference/keycloak-behaviour.md, "Userinfo,
    introspection, revocation")."""
    value = "RSA-OAEP" if field.endswith("_alg") else "A128GCM"
    with pytest.raises(InvalidClientMetadata, match=f"{field}: encrypted userinfo responses"):
        register_client(app, **{field: value})
    assert app.extensions["santeid"].clients.get("service-test") is None


@pytest.mark.parametrize(
    "field", ["id_token_encrypted_response_alg", "id_token_encrypted_response_enc"]
)
def test_registration_refuses_encrypted_id_tokens(app, field):
    """The same for OIDC Dynamic Client Registration 1.0 §2's ``id_token_encrypted_response_alg``
    and ``…_enc``: Keycloak encrypts the ID token with the client's encryption key
    (``TokenManager``, Keycloak's ``IdTokenEncryptionTest``) and fails the token request of a
    client without one; santeid signs its ID tokens and encrypts none, so a client expecting a
    JWE is refused at registration rather than sent a JWS it would not read."""
    value = "RSA-OAEP" if field.endswith("_alg") else "A128GCM"
    with pytest.raises(InvalidClientMetadata, match=f"{field}: encrypted ID tokens"):
        register_client(app, **{field: value})
    assert app.extensions["santeid"].clients.get("service-test") is None


#: Keycloak's answer to an ``Accept`` its ``@Produces({APPLICATION_JSON, APPLICATION_JWT})``
#: does not meet (RESTEasy Reactive's ``NotAcceptableException``, written by
#: ``KeycloakErrorHandler``).
NOT_ACCEPTABLE = {"error": "The accept header value did not match the value in @Produces"}
#: ``Accept`` values neither JSON nor JWT: an RFC 9701 client's among them, and a list one of
#: whose media types does not parse (RESTEasy then matches nothing of it).
REFUSED_ACCEPTS = [
    "text/plain",
    "application/xml, image/png",
    "application/token-introspection+jwt",
    "application/json-patch+json",
    "garbage",
    "application/json, garbage",
]
#: What RESTEasy lets through: ``*/*``, a wildcard in the type or subtype, the types in any
#: case, quality values and parameters not looked at, ``*`` alone (Java's HttpURLConnection
#: default), a browser's list.
ACCEPTED_ACCEPTS = [
    "*/*",
    "application/json",
    "APPLICATION/JSON; charset=utf-8",
    "application/jwt",
    "application/*",
    "*/json",
    "application/json;q=0",
    "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
]


@pytest.mark.parametrize("accept", REFUSED_ACCEPTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_refuses_an_accept_of_neither_json_nor_jwt(flow, client, accept, method):
    """Keycloak's ``UserInfoEndpoint`` produces ``application/json`` or ``application/jwt``
    only: RESTEasy refuses another ``Accept`` with 406 before the endpoint runs — a valid token
    read by nobody, no CORS (docs/reference/keycloak-behaviour.md, "Userinfo and
    introspection: ``UserInfoTest`` and ``TokenIntrospectionTest``, method by method")."""
    tokens = flow.full_login()
    headers = {**_bearer(tokens["access_token"]), "Accept": accept,
               "Origin": "https://service.example.org"}  # fmt: skip
    response = client.open(f"{OIDC}/userinfo", method=method, headers=headers)
    assert response.status_code == 406
    assert response.mimetype == "application/json"
    assert response.get_json() == NOT_ACCEPTABLE
    assert "WWW-Authenticate" not in response.headers
    assert "Access-Control-Allow-Origin" not in response.headers


def test_userinfo_and_introspection_refuse_an_html_accept_with_a_page(flow, client):
    """``KeycloakErrorHandler`` writes the 406 as its error page to an ``Accept`` naming an
    HTML type (``MediaTypeMatcher.isHtmlRequest``)."""
    tokens = flow.full_login()
    for accept in ("text/html", "text/*"):
        headers = {**_bearer(tokens["access_token"]), "Accept": accept}
        page = client.get(f"{OIDC}/userinfo", headers=headers)
        assert page.status_code == 406 and page.mimetype == "text/html", accept
        page = client.post(
            f"{OIDC}/token/introspect",
            data={"token": tokens["access_token"]},
            headers={**basic_auth("service-test", SECRET), "Accept": accept},
        )
        assert page.status_code == 406 and page.mimetype == "text/html", accept


@pytest.mark.parametrize("accept", ACCEPTED_ACCEPTS)
def test_userinfo_answers_json_whatever_the_accept_that_passes(flow, client, accept):
    """The ``Accept`` does not choose the answer (https://github.com/keycloak/keycloak/pull/19377:
    JSON, or a JWT when the client registered ``userinfo_signed_response_alg``):
    ``application/jwt`` gets JSON from a client that signs nothing, as at Keycloak."""
    tokens = flow.full_login()
    headers = {**_bearer(tokens["access_token"]), "Accept": accept}
    response = client.get(f"{OIDC}/userinfo", headers=headers)
    assert response.status_code == 200, accept
    assert response.headers["Content-Type"] == "application/json"
    assert "sub" in response.get_json()


def test_userinfo_post_bodies_keycloaks_test_sends(flow, client):
    """``UserInfoTest``: the header with an empty form (``testSuccess_postMethod_header``), an
    empty ``text/plain`` body (``…_header_textEntity``) or no body and no ``Content-Type``
    (``test_noContentType``); the form token with ``charset=utf-8``
    (``…_charset_body``); a GET with ``Accept: application/json`` (``…_accept_json``)."""
    access = flow.full_login()["access_token"]
    bearer = {"Authorization": "bearer " + access}  # Keycloak's test writes it in lower case
    answers = [
        client.post(f"{OIDC}/userinfo", headers=bearer, data={}),
        client.post(f"{OIDC}/userinfo", headers=bearer, data="", content_type="text/plain"),
        client.post(f"{OIDC}/userinfo", headers=bearer),
        client.post(
            f"{OIDC}/userinfo",
            data=f"access_token={access}",
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        ),
        client.get(f"{OIDC}/userinfo", headers={**bearer, "Accept": "application/json"}),
    ]
    expected = answers[0].get_json()
    assert expected and expected["sub"]
    for answer in answers:
        assert answer.status_code == 200
        assert answer.get_json() == expected


#: ``MalformedContentTypeTest.malformedContentTypes``.
def test_userinfo_of_a_client_id_with_dots_and_backslashes(app, client):
    """``UserInfoTest.testSuccess_dotsInClientId``: a ``client_id`` such as
    ``my.foo.$\\client\\$`` (KEYCLOAK-8838) gets its userinfo as any other; its roles part has
    no counterpart (PSC's tokens carry none)."""
    meta = register_client(app, client_id="my.foo.$\\client\\$")
    tokens = Flow(app, client, meta).full_login()
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200 and response.get_json()["sub"]


def _introspect(client, token: str, **extra):
    return client.post(
        f"{OIDC}/token/introspect",
        data={"token": token, **extra},
        headers=basic_auth("service-test", SECRET),
    )


def test_introspection_of_an_access_token_has_subject_name_id(flow, client, app):
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    body = _introspect(client, tokens["access_token"]).get_json()
    assert body["active"] is True
    assert body["SubjectNameID"] == national_id
    assert body["client_id"] == "service-test"
    assert body["username"] == national_id
    assert body["authMode"] == "MOBILE"  # the sandbox stands in for e-CPS


def test_introspection_of_an_access_token_has_keycloaks_members_in_order(flow, client):
    """docs/reference/pro-sante-connect.md §8: the access token's claims with
    ``preferred_username`` right after ``session_state``, then ``client_id``, ``username`` and
    ``active``; ``SubjectNameID`` (ANS, same section) with the claims; ``token_type`` before
    ``active`` as Keycloak adds it (docs/reference/keycloak-behaviour.md, "Userinfo,
    introspection, revocation")."""
    tokens = flow.full_login()
    body = _introspect(client, tokens["access_token"]).get_json()
    assert list(body) == [
        "exp", "iat", "auth_time", "jti", "iss", "sub", "typ", "azp", "nonce", "session_state",
        "preferred_username", "acr", "scope", "sid", "authMode", "otherIds", "SubjectNameID",
        "client_id", "username", "token_type", "active",
    ]  # fmt: skip
    assert body["token_type"] == "Bearer"


def test_introspection_of_a_refresh_token_has_no_subject_name_id(flow, client, app):
    """docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation": a refresh
    token's answer has ``client_id``, ``username``, ``token_type`` and ``active`` too."""
    national_id = sandbox_professional(app)
    tokens = flow.full_login(national_id)
    body = _introspect(client, tokens["refresh_token"], token_type_hint="refresh_token").get_json()
    assert body["active"] is True
    assert "SubjectNameID" not in body
    assert list(body)[-4:] == ["client_id", "username", "token_type", "active"]
    assert body["username"] == national_id
    assert body["token_type"] == "Refresh"


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_the_issuing_client_introspects_its_refresh_token_whatever_the_hint(flow, client, hint):
    """``RefreshTokenIntrospectionTest.issuingClientCanIntrospectRefreshTokenWith…``: with the
    hint ``refresh_token``, ``access_token`` or none, the refresh token is active for the client
    it was issued to, its ``client_id`` that client (``AccessTokenIntrospectionProvider``, which
    every hint reaches for a refresh token, never checks ``typ``)."""
    tokens = flow.full_login()
    extra = {"token_type_hint": hint} if hint else {}
    body = _introspect(client, tokens["refresh_token"], **extra).get_json()
    assert (body["active"], body["client_id"], body["typ"]) == (True, "service-test", "Refresh")


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_introspection_of_a_token_whose_client_is_removed_is_inactive(app, client, kind):
    """Keycloak's ``AccessTokenIntrospectionProvider.verifyClient`` finds no client for the
    token's ``azp``: ``{"active": false}``, as userinfo answers "Client not found"."""
    register_client(app, client_id="resource-server", grant_types=["client_credentials"],
                    redirect_uris=[], client_secret=SECRET)  # fmt: skip
    meta = register_client(app, client_id="removed-service")
    tokens = Flow(app, client, meta).full_login()

    def introspect():
        return client.post(
            f"{OIDC}/token/introspect",
            data={"token": tokens[kind], "token_type_hint": kind},
            headers=basic_auth("resource-server", SECRET),
        ).get_json()

    assert introspect()["active"] is True
    app.extensions["santeid"].clients.remove("removed-service")
    assert introspect() == {"active": False}


def test_userinfo_and_introspection_answers_are_not_stored(flow, client):
    """Keycloak marks both endpoints ``@NoCache`` (``Cache-Control: no-cache``: a cache may
    keep the answer and revalidate it); santeid answers ``no-store``, a difference kept on
    purpose (docs/psc-integration.md §5.3): the answers hold a professional's personal data
    and a token's claims. Introspection answers JSON, as Keycloak's ``application/json``."""
    tokens = flow.full_login()
    userinfo = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    introspection = _introspect(client, tokens["access_token"])
    for answer in (userinfo, introspection, _introspect(client, "not-a-token")):
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.mimetype == "application/json"


def test_introspection_with_the_requesting_party_token_hint(flow, client, app):
    """Keycloak's UMA provider (``RPTIntrospectionProvider``, the hint
    ``requesting_party_token`` that Keycloak's authorization client sends) makes the same
    checks as for an access token and answers the token's ``jti``, ``acr``, ``typ``, ``exp``,
    ``iat``, ``aud`` and ``nbf`` it has, in the token's order, then ``active``: no
    ``permissions`` for a token without authorization."""
    tokens = flow.full_login()
    body = json.loads(_introspect(client, tokens["access_token"],
                                  token_type_hint="requesting_party_token").data)  # fmt: skip
    claims = decode(app, tokens["access_token"])[1]
    assert body == {
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
        "typ": "Bearer",
        "acr": claims["acr"],
        "active": True,
    }
    assert list(body) == ["exp", "iat", "jti", "typ", "acr", "active"]
    assert _introspect(
        client, "not-a-token", token_type_hint="requesting_party_token"
    ).get_json() == {"active": False}


def test_introspection_of_garbage_is_inactive(flow, client):
    assert _introspect(client, "not-a-token").get_json() == {"active": False}


@pytest.mark.parametrize("accept", REFUSED_ACCEPTS)
def test_introspection_refuses_an_accept_of_neither_json_nor_jwt(flow, client, accept):
    """Keycloak's ``TokenIntrospectionEndpoint.introspect`` is ``@Produces({APPLICATION_JSON,
    APPLICATION_JWT})``: another ``Accept`` — RFC 9701's ``application/token-introspection+jwt``
    among them, which Keycloak does not implement — is 406 before the client is authenticated,
    a wrong secret too."""
    tokens = flow.full_login()
    for secret in (SECRET, "not-the-secret"):
        response = client.post(
            f"{OIDC}/token/introspect",
            data={"token": tokens["access_token"]},
            headers={**basic_auth("service-test", secret), "Accept": accept},
        )
        assert response.status_code == 406, (accept, secret)
        assert response.mimetype == "application/json"
        assert response.get_json() == NOT_ACCEPTABLE


@pytest.mark.parametrize("accept", [*ACCEPTED_ACCEPTS, None])
def test_introspection_answers_json_whatever_the_accept_that_passes(flow, client, accept):
    """``Accept: application/jwt``
    (``TokenIntrospectionTest.testIntrospectAccessTokenReturnedAsJwt``) adds a ``jwt`` member
    only for an introspecting client with Keycloak's attribute
    ``client.introspection.response.allow.jwt.claim.enabled``, off by default
    (https://github.com/keycloak/keycloak/pull/29842): the same JSON as without it, never a
    JWT answer."""
    tokens = flow.full_login()
    headers = {**basic_auth("service-test", SECRET)} | ({"Accept": accept} if accept else {})
    response = client.post(
        f"{OIDC}/token/introspect", data={"token": tokens["access_token"]}, headers=headers
    )
    assert response.status_code == 200, accept
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body["active"] is True and "jwt" not in body
    assert body == _introspect(client, tokens["access_token"]).get_json()


def test_introspection_needs_client_authentication(client):
    """Keycloak's ``TokenIntrospectionEndpoint`` turns every failed client authentication into
    401 ``invalid_request`` "Authentication failed." (docs/reference/keycloak-behaviour.md,
    "Client authentication")."""
    authentication_failed = {
        "error": "invalid_request",
        "error_description": "Authentication failed.",
    }
    for headers in ({}, basic_auth("service-test", "wrong-secret"), basic_auth("nobody", "x")):
        response = client.post(f"{OIDC}/token/introspect", data={"token": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.get_json() == authentication_failed
        assert "WWW-Authenticate" not in response.headers


def test_introspection_refused_to_a_client_not_allowed(app, client):
    meta = register_client(app, introspection_allowed=False)
    tokens = Flow(app, client, meta).full_login()
    response = _introspect(client, tokens["access_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_revoking_an_access_token(flow, client):
    tokens = flow.full_login()
    response = client.post(
        f"{OIDC}/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        headers=basic_auth("service-test", SECRET),
    )
    assert response.status_code == 200
    assert response.data == b""  # Keycloak: an empty 200
    # Keycloak's revoked-token check is part of the token's verification.
    refused = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert userinfo_refusal(refused) == TOKEN_VERIFICATION_FAILED
    assert _introspect(client, tokens["access_token"]).get_json() == {"active": False}
    # That token alone (TokenRevocationTest.testRevokeAccessToken): its grant refreshes.
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", SECRET),
    )
    assert refreshed.status_code == 200


def test_revoking_a_refresh_token_ends_the_grant(flow, client):
    tokens = flow.full_login()
    client.post(
        f"{OIDC}/revoke",
        data={"token": tokens["refresh_token"]},
        headers=basic_auth("service-test", SECRET),
    )
    refresh = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", SECRET),
    )
    assert refresh.get_json()["error"] == "invalid_grant"
    # Keycloak detaches the grant from the user session: its access token still verifies, and
    # userinfo finds no session for it (docs/reference/keycloak-behaviour.md, "Userinfo").
    refused = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert userinfo_refusal(refused) == USER_SESSION_NOT_FOUND


def test_userinfo_after_logout_finds_no_session(flow, client):
    tokens = flow.full_login()
    logout = client.get(f"{OIDC}/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert logout.status_code == 200
    refused = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert userinfo_refusal(refused) == USER_SESSION_NOT_FOUND


def test_userinfo_of_a_session_stored_but_over_is_session_expired(settings, clock):
    """Keycloak's ``UserSessionUtil.findValidSession`` tells apart a user session not found
    ("user_session_not_found") and one found but no longer valid
    (``AuthenticationManager.isSessionValid`` false: "session_expired"), both 401
    ``invalid_token`` at userinfo (docs/reference/keycloak-behaviour.md, "An SSO session found
    over"). A restart with a shorter ``sso_idle_timeout`` leaves such a session stored;
    introspection calls the token inactive either way. Once a refresh has ended the session,
    nothing is found any more."""
    store = MemoryStore(clock=clock)
    first = create_app(settings.replace(sso_idle_timeout=1800), store=store, clock=clock)
    flow = Flow(first, first.test_client(), register_client(first))
    tokens = flow.full_login()
    clock.advance(61)  # the access token still verifies
    host = create_app(
        settings.replace(sso_idle_timeout=60), store=store, clock=clock, first_start=False
    )
    http = host.test_client()
    assert host.extensions["santeid"].sessions.over(tokens["session_state"])
    bearer = _bearer(tokens["access_token"])

    assert userinfo_refusal(http.get(f"{OIDC}/userinfo", headers=bearer)) == SESSION_EXPIRED
    introspected = http.post(
        f"{OIDC}/token/introspect",
        data={"token": tokens["access_token"]},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    assert introspected.get_json() == {"active": False}

    refused = http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    )
    assert refused.get_json()["error_description"] == "Session not active"
    assert userinfo_refusal(http.get(f"{OIDC}/userinfo", headers=bearer)) == USER_SESSION_NOT_FOUND


def test_userinfo_of_a_ciba_grant_past_its_maximum_is_session_expired(settings, clock):
    """A CIBA login is a user session of its own in Keycloak (``CibaGrantType.createUserSession``):
    after a restart with a lower ``sso_max_lifetime``, userinfo finds it but no longer valid,
    "session_expired", as an SSO session stored but over; introspection calls the token
    inactive. Once a refresh has ended the grant, nothing is found any more."""
    store = MemoryStore(clock=clock)
    first = create_app(settings, store=store, clock=clock)
    meta = register_ciba_client(first)
    http = first.test_client()
    started = start(http, meta, sandbox_professional(first))
    tokens = poll(http, meta, started["auth_req_id"]).get_json()
    bearer = _bearer(tokens["access_token"])
    clock.advance(61)  # the access token still verifies
    assert http.get(f"{OIDC}/userinfo", headers=bearer).status_code == 200
    host = create_app(
        settings.replace(sso_max_lifetime=60), store=store, clock=clock, first_start=False
    )
    http = host.test_client()

    assert userinfo_refusal(http.get(f"{OIDC}/userinfo", headers=bearer)) == SESSION_EXPIRED
    introspected = http.post(
        f"{OIDC}/token/introspect",
        data={"token": tokens["access_token"]},
        headers=auth_headers(meta),
    )
    assert introspected.get_json() == {"active": False}

    refused = http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=auth_headers(meta),
    )
    assert refused.get_json()["error_description"] == "Session not active"
    assert userinfo_refusal(http.get(f"{OIDC}/userinfo", headers=bearer)) == USER_SESSION_NOT_FOUND


def test_revoking_an_unknown_token_is_200(client, flow, app):
    """RFC 7009 §2.2: invalid tokens do not cause an error response; Keycloak says so in
    the body of its 200."""
    response = client.post(
        f"{OIDC}/revoke", data={"token": "garbage"}, headers=basic_auth("service-test", SECRET)
    )
    assert response.status_code == 200
    assert response.get_json() == {"error": "invalid_token", "error_description": "Invalid token"}
    app.extensions["santeid"].settings.keycloak.error_style = "strict"
    response = client.post(
        f"{OIDC}/revoke", data={"token": "garbage"}, headers=basic_auth("service-test", SECRET)
    )
    assert response.status_code == 200 and response.get_json() == {}


def test_revoking_another_clients_token_is_refused(flow, client, app):
    other = register_client(app, client_id="other", client_secret="another-secret-0123456789")
    tokens = flow.full_login()
    response = client.post(
        f"{OIDC}/revoke",
        data={"token": tokens["access_token"]},
        headers=basic_auth(other["client_id"], other["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Unmatching clients",
    }
    assert (
        client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200
    )
    app.extensions["santeid"].settings.keycloak.error_style = "strict"
    response = client.post(
        f"{OIDC}/revoke",
        data={"token": tokens["access_token"]},
        headers=basic_auth(other["client_id"], other["client_secret"]),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_introspection_takes_the_secret_in_the_body_too(flow, client):
    """Keycloak's client-secret authenticator at every endpoint (Basic or body)."""
    tokens = flow.full_login()
    response = client.post(
        f"{OIDC}/token/introspect",
        data={
            "token": tokens["access_token"],
            "client_id": "service-test",
            "client_secret": SECRET,
        },
    )
    assert response.status_code == 200 and response.get_json()["active"] is True


def test_client_authentication_entry_point_for_other_endpoints(flow, app):
    """``client_auth.authenticate``: the same methods and policy for endpoints that are not
    Authlib's (logout with a refresh token)."""
    from authlib.oauth2.rfc6749.errors import InvalidClientError

    from santeid.oidc import client_auth

    body = {"client_id": "service-test", "client_secret": SECRET}
    with app.test_request_context("/logout", method="POST", data=body):
        assert client_auth.authenticate("end_session").get_client_id() == "service-test"
    with app.test_request_context("/logout", method="POST", data=dict(body, client_secret="x")):
        with pytest.raises(InvalidClientError) as refused:
            client_auth.authenticate("end_session")
    assert refused.value.status_code == 401
    assert refused.value.description == "Invalid client or Invalid client credentials"


def test_userinfo_errors_rfc6750_setting(app, flow, client):
    """The strict reading: a header of another scheme is a malformed request (RFC 6750 §3.1
    ``invalid_request``), and a refused token's description says why; no token is Keycloak's
    bare challenge."""
    app.extensions["santeid"].settings.keycloak.userinfo_errors = "rfc6750"
    missing = client.get(f"{OIDC}/userinfo")
    assert userinfo_refusal(missing) == keycloak_refusal(401)
    not_bearer = client.get(f"{OIDC}/userinfo", headers={"Authorization": "Basic eDp5"})
    assert userinfo_refusal(not_bearer) == keycloak_refusal(
        400, "invalid_request", "the Authorization header must be 'Bearer <token>'"
    )
    tokens = flow.full_login()
    forged = tokens["access_token"][:-4] + "AAAA"
    refused = client.get(f"{OIDC}/userinfo", headers=_bearer(forged))
    assert userinfo_refusal(refused) == keycloak_refusal(
        401, "invalid_token", "Token verification failed: invalid signature"
    )
    logout = client.get(f"{OIDC}/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert logout.status_code == 200
    ended = client.get(f"{OIDC}/userinfo", headers=_bearer(tokens["access_token"]))
    assert userinfo_refusal(ended) == keycloak_refusal(
        401,
        "invalid_token",
        "Token verification failed: the session or grant of the token has ended",
    )


def _service_token(app, client, scope: str | None, **metadata) -> tuple[dict, str]:
    """A ``client_credentials`` token of the client ``service-cc``, and its registration."""
    meta = register_client(
        app,
        client_id="service-cc",
        grant_types=["client_credentials"],
        redirect_uris=[],
        **metadata,
    )
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    issued = client.post(
        f"{OIDC}/token", data=form, headers=basic_auth(meta["client_id"], meta["client_secret"])
    )
    assert issued.status_code == 200, issued.get_json()
    return meta, issued.get_json()["access_token"]


@pytest.mark.parametrize("scope", ["openid", "openid scope_all"])
def test_a_service_token_with_openid_describes_the_service_account(app, client, scope):
    """Keycloak's userinfo answers a service account's token — without a session, it makes a
    transient one for the service-account user (docs/reference/keycloak-behaviour.md,
    "Userinfo, introspection, revocation"): its ``sub`` and ``preferred_username``, those of
    the token and of its ID token, whatever the scope; no professional's claim."""
    _, token = _service_token(app, client, scope)
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
    assert response.status_code == 200, response.headers.get("WWW-Authenticate")
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.data) == {
        "sub": "service-account-service-cc",
        "preferred_username": "service-account-service-cc",
    }
    by_form = client.post(f"{OIDC}/userinfo", data={"access_token": token})
    assert json.loads(by_form.data) == json.loads(response.data)


def test_introspection_leaves_out_an_empty_scope(app, client):
    """Keycloak's ``AccessTokenIntrospectionProvider.introspect`` removes ``scope`` from the
    answer when it is empty (RFC 7662 §2.2 with RFC 6749 §3.3: a scope is one value or more;
    https://github.com/keycloak/keycloak/issues/16526): the ``client_credentials`` token asked
    without a scope, whose own ``scope`` claim is ``""``, is described without one."""
    meta, token = _service_token(app, client, None)
    assert decode(app, token)[1]["scope"] == ""
    body = client.post(
        f"{OIDC}/token/introspect",
        data={"token": token},
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    ).get_json()
    assert body["active"] is True
    assert "scope" not in body
    assert list(body)[-4:] == ["client_id", "username", "token_type", "active"]


def test_a_service_token_without_openid_is_refused_as_any_other(app, client):
    _, token = _service_token(app, client, None)
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
    assert userinfo_refusal(response) == keycloak_refusal(
        403, "insufficient_scope", "Missing openid scope"
    )


def test_a_signed_userinfo_of_the_service_account(app, client):
    """``userinfo_signed_response_alg``: the service account's answer is signed as any other
    (OIDC Core §5.3.2: ``iss`` and ``aud`` added)."""
    _, token = _service_token(app, client, "openid", userinfo_signed_response_alg="RS256")
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
    assert response.status_code == 200 and response.mimetype == "application/jwt"
    _, claims = decode(app, response.get_data(as_text=True))
    assert claims["sub"] == "service-account-service-cc"
    assert claims["aud"] == "service-cc" and claims["iss"].endswith("/realms/esante-wallet")


def test_a_revoked_service_token_or_one_of_a_removed_client_is_refused(app, client):
    meta, token = _service_token(app, client, "openid")
    revoked = client.post(
        f"{OIDC}/revoke",
        data={"token": token},
        headers=basic_auth(meta["client_id"], meta["client_secret"]),
    )
    assert revoked.status_code == 200
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
    assert userinfo_refusal(response) == TOKEN_VERIFICATION_FAILED
    _, token = _service_token(app, client, "openid")
    app.extensions["santeid"].clients.remove("service-cc")
    response = client.get(f"{OIDC}/userinfo", headers=_bearer(token))
    assert userinfo_refusal(response) == keycloak_refusal(401, "invalid_token", "Client not found")


#: RFC 7235 §2.1 auth-params; RFC 6750 §3: ``error_description`` holds only
#: %x20-21 / %x23-5B / %x5D-7E, so neither ``"`` nor ``\`` may stand in it.
_AUTH_PARAM = r'[A-Za-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_CHALLENGE = re.compile(rf"Bearer {_AUTH_PARAM}(?:, {_AUTH_PARAM})*")


def test_a_description_with_quotes_keeps_the_challenge_well_formed(app):
    """https://www.rfc-editor.org/rfc/rfc6750#section-3: the description of a refusal goes
    into ``WWW-Authenticate`` only as characters a quoted-string there may hold."""
    from santeid.oidc import userinfo

    description = 'not a "Bearer" token \\ here'
    with app.test_request_context():
        refused = userinfo._refused("invalid_token", description)
    assert refused.status_code == 401 and refused.get_data() == b""
    challenge = refused.headers["WWW-Authenticate"]
    assert _CHALLENGE.fullmatch(challenge), challenge
    assert challenge == (
        'Bearer realm="esante-wallet", error="invalid_token", '
        "error_description=\"not a 'Bearer' token ? here\""
    )

"""Parameters that once gave a 500 or were read loosely, answered as Keycloak answers them
(docs/reference/keycloak-behaviour.md): a non-ASCII ``redirect_uri`` or
``post_logout_redirect_uri`` is an unregistered one, ``max_age`` is a Java ``int``, a repeated
parameter at the token and introspection endpoints is ``invalid_request`` "duplicated
parameter", and ``token_type_hint`` at revocation is ignored."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from santeid.security import JWT_PARAMETERS
from santeid.security import ParameterTooLarge
from santeid.security import check_parameter_size
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail

AUTH = basic_auth("service-test", CLIENT_SECRET)
DUPLICATED = {"error": "invalid_request", "error_description": "duplicated parameter"}


@pytest.mark.parametrize("uri", [REDIRECT_URI + "é", "https://sérvice.example.org/callback"])
def test_non_ascii_redirect_uri_is_an_unregistered_one(flow, client, uri):
    response = flow.authorize(redirect_uri=uri)
    assert response.status_code == 400
    assert error_detail(response) == "Paramètre invalide : redirect_uri"

    def push(redirect_uri):
        data = {"response_type": "code", "scope": "openid", "redirect_uri": redirect_uri}
        return client.post(f"{OIDC}/ext/par/request", data=data, headers=AUTH)

    pushed, unregistered = push(uri), push("https://evil.example.org/callback")
    assert pushed.status_code == unregistered.status_code == 400
    assert pushed.get_json() == unregistered.get_json()


def test_non_ascii_post_logout_redirect_uri_is_an_unregistered_one(flow, client):
    tokens = flow.full_login()
    response = client.get(
        f"{OIDC}/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://service.example.org/déconnecté",
        },
    )
    assert response.status_code == 400
    assert error_detail(response) == "L'URI de redirection est invalide"


@pytest.mark.parametrize(
    "max_age",
    [
        "soon",
        "",
        "²",
        "1²",
        " 1",
        "1_0",
        "1.5",
        "2147483648",
        "-2147483649",
        "1" + "0" * 18,
        "9" * 5000,
    ],
)
def test_a_max_age_java_cannot_read_is_keycloaks_invalid_request_page(flow, client, max_age):
    """Keycloak reads ``max_age`` with ``Integer.valueOf`` while it parses the request, before
    it checks the redirect URI: what is no Java ``int`` (an empty value too) is the error page
    "Invalid Request", never a redirect (docs/reference/keycloak-behaviour.md, "Authorization
    endpoint")."""
    if len(max_age) < 100:  # a query string that long is refused before (URI too long)
        for redirect_uri in (REDIRECT_URI, "https://evil.example.org/callback"):
            response = flow.authorize(max_age=max_age, redirect_uri=redirect_uri)
            assert response.status_code == 400
            assert "Location" not in response.headers
            assert error_detail(response) == "Requête invalide"
    pushed = client.post(
        f"{OIDC}/ext/par/request",
        data={
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            "max_age": max_age,
        },
        headers=AUTH,
    )
    assert pushed.status_code == 400
    assert pushed.get_json()["error"] == "invalid_request"
    if len(max_age) < 100:  # a longer one is over the size any parameter may have
        assert pushed.get_json()["error_description"] == "Invalid Request"


@pytest.mark.parametrize(
    ("max_age", "asks_again"),
    [("+3600", False), ("0003600", False), ("-1", True), ("-2147483648", True)],
)
def test_a_signed_max_age_is_read_without_key_ops_it(flow, max_age, asks_again):
    """A sign is part of a Java ``int``: ``+3600`` is 3600, and a negative age is always
    exceeded (Keycloak's ``authTime + maxAge < now``): a new login."""
    flow.full_login()
    location = flow.authorize(max_age=max_age).headers["Location"]
    assert ("login-actions/authenticate" in location) is asks_again
    assert ("code=" in location) is not asks_again


def test_a_repeated_parameter_at_the_token_endpoint_is_refused(flow, client):
    tokens = flow.full_login()
    body = (
        "grant_type=refresh_token&grant_type=authorization_code&refresh_token="
        + tokens["refresh_token"]
    )
    response = client.post(
        f"{OIDC}/token",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=AUTH,
    )
    assert response.status_code == 400
    assert response.get_json() == DUPLICATED
    code = flow.obtain_code(prompt="none")["code"]
    twice = flow.token(code, scope=["openid", "openid"])
    assert twice.get_json() == DUPLICATED
    # Keycloak authenticates the client first: a wrong secret is still refused for it.
    wrong = client.post(
        f"{OIDC}/token",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=basic_auth("service-test", "wrong-secret"),
    )
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "unauthorized_client"


def test_introspection_refuses_repeats_a_missing_token_and_an_unknown_hint(flow, client):
    tokens = flow.full_login()
    url = f"{OIDC}/token/introspect"
    repeated = client.post(url, data={"token": [tokens["access_token"]] * 2}, headers=AUTH)
    assert repeated.status_code == 400 and repeated.get_json() == DUPLICATED
    missing = client.post(url, data={}, headers=AUTH)
    assert missing.status_code == 400
    assert missing.get_json() == {
        "error": "invalid_request",
        "error_description": "Token not provided.",
    }
    hint = client.post(
        url, data={"token": tokens["access_token"], "token_type_hint": "id_token"}, headers=AUTH
    )
    assert hint.status_code == 400
    assert hint.get_json() == {
        "error": "invalid_request",
        "error_description": "Unsupported token type.",
    }


def test_revocation_ignores_the_hint_and_needs_a_token(flow, client):
    tokens = flow.full_login()
    url = f"{OIDC}/revoke"
    missing = client.post(url, data={}, headers=AUTH)
    assert missing.status_code == 400
    assert missing.get_json() == {
        "error": "invalid_request",
        "error_description": "Token not provided",
    }
    revoked = client.post(
        url, data={"token": tokens["refresh_token"], "token_type_hint": "whatever"}, headers=AUTH
    )
    assert revoked.status_code == 200 and revoked.get_data() == b""
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=AUTH,
    )
    assert refreshed.get_json()["error"] == "invalid_grant"


class TestStrictIntrospection:
    """``error_style = "strict"``: an unknown hint is ignored, every type searched (RFC 7662
    §2.1)."""

    @pytest.fixture
    def settings(self, settings):
        return settings.replace(error_style="strict")

    def test_unknown_hint_is_ignored(self, flow, client):
        tokens = flow.full_login()
        response = client.post(
            f"{OIDC}/token/introspect",
            data={"token": tokens["refresh_token"], "token_type_hint": "id_token"},
            headers=AUTH,
        )
        assert response.status_code == 200
        assert response.get_json()["active"] is True


@pytest.mark.parametrize("name", sorted(JWT_PARAMETERS))
def test_a_parameter_carrying_a_jwt_is_bounded_by_max_jwt_parameter_length(app, name):
    """``client_assertion``, ``request``, ``login_hint_token``, ``id_token_hint`` and
    ``logout_token`` may be up to ``max_jwt_parameter_length`` bytes (20000), which Keycloak
    reads whatever their length (docs/reference/keycloak-behaviour.md, "Parameter sizes");
    any other parameter, ``max_parameter_length`` (4096)."""
    with app.test_request_context():
        check_parameter_size(MultiDict({name: "x" * 20000}))
        with pytest.raises(ParameterTooLarge, match=f"parameter '{name}' exceeds 20000 bytes"):
            check_parameter_size(MultiDict({name: "x" * 20001}))
        with pytest.raises(ParameterTooLarge, match="parameter 'state' exceeds 4096 bytes"):
            check_parameter_size(MultiDict({name: "x", "state": "x" * 4097}))

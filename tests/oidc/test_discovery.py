"""Discovery (OIDC Discovery §3, PSC's wallet path), JWKS, health, and error behaviour:
clean 503 when Redis goes away, recovery when it returns, never a 500 on bad input."""

from __future__ import annotations

import json

import pytest

from santeid import create_app
from santeid.storage import store_from_url
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import register_client

WELL_KNOWN = "/auth/realms/esante-wallet/.well-known"

#: The members of PSC's BAS discovery document, in that document's order
#: (docs/reference/pro-sante-connect.md §2).
PSC_MEMBERS = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "end_session_endpoint",
    "frontchannel_logout_session_supported",
    "frontchannel_logout_supported",
    "jwks_uri",
    "check_session_iframe",
    "grant_types_supported",
    "acr_values_supported",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "id_token_encryption_alg_values_supported",
    "id_token_encryption_enc_values_supported",
    "userinfo_signing_alg_values_supported",
    "userinfo_encryption_alg_values_supported",
    "userinfo_encryption_enc_values_supported",
    "request_object_signing_alg_values_supported",
    "request_object_encryption_alg_values_supported",
    "request_object_encryption_enc_values_supported",
    "response_modes_supported",
    "registration_endpoint",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "authorization_signing_alg_values_supported",
    "authorization_encryption_alg_values_supported",
    "authorization_encryption_enc_values_supported",
    "claims_supported",
    "claim_types_supported",
    "claims_parameter_supported",
    "scopes_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_request_uri_registration",
    "code_challenge_methods_supported",
    "tls_client_certificate_bound_access_tokens",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    "backchannel_logout_supported",
    "backchannel_logout_session_supported",
    "device_authorization_endpoint",
    "backchannel_token_delivery_modes_supported",
    "backchannel_authentication_endpoint",
    "backchannel_authentication_request_signing_alg_values_supported",
    "require_pushed_authorization_requests",
    "pushed_authorization_request_endpoint",
    "mtls_endpoint_aliases",
    "authorization_response_iss_parameter_supported",
]
#: The members of its ``mtls_endpoint_aliases``, in its order (same table, row 53).
PSC_ALIASES = [
    "token_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "device_authorization_endpoint",
    "registration_endpoint",
    "userinfo_endpoint",
    "pushed_authorization_request_endpoint",
    "backchannel_authentication_endpoint",
]
#: Its ``response_modes_supported`` (same table, row 24): JARM's four after the three plain
#: ones (tests/oidc/test_jarm.py).
PSC_RESPONSE_MODES = ["query", "fragment", "form_post", "query.jwt", "fragment.jwt",
                      "form_post.jwt", "jwt"]  # fmt: skip
#: What santeid advertises beyond PSC's document (each placed as discovery.py says).
SANTEID_ONLY = {
    "prompt_values_supported",
    "ui_locales_supported",
    "backchannel_user_code_parameter_supported",
}


def assert_in_psc_order(members, reference):
    """The members ``members`` shares with ``reference`` come in ``reference``'s order."""
    shared = [name for name in members if name in reference]
    assert shared == [name for name in reference if name in members]


def test_the_two_discovery_documents_differ_only_by_the_authorization_endpoint(client):
    """PSC: the wallet document points at the wallet host's /auth; Keycloak's standard one at
    the realm's own endpoint. Both URLs answer."""
    standard = client.get(f"{WELL_KNOWN}/openid-configuration").get_json()
    wallet = client.get(f"{WELL_KNOWN}/wallet-openid-configuration").get_json()
    assert wallet["authorization_endpoint"] == "http://localhost/auth"
    assert standard["authorization_endpoint"] == f"{ISSUER}/protocol/openid-connect/auth"
    assert {k: v for k, v in standard.items() if k != "authorization_endpoint"} == {
        k: v for k, v in wallet.items() if k != "authorization_endpoint"
    }
    for url in (wallet["authorization_endpoint"], standard["authorization_endpoint"]):
        response = client.get(url.replace("http://localhost", ""), query_string={"client_id": "x"})
        assert response.status_code == 400  # the authorization endpoint's error page, not 404
        assert error_detail(response) == "Client inconnu."


def test_the_oauth_authorization_server_metadata_is_keycloak_s_standard_document(client):
    """RFC 8414 §3 at the realm: Keycloak 25 and later serve
    ``{realm}/.well-known/oauth-authorization-server`` (``OAuth2WellKnownProviderFactory``,
    which extends ``OIDCWellKnownProviderFactory``: the same document as
    ``openid-configuration``; docs/reference/keycloak-behaviour.md, "Discovery"), where
    mod_auth_openidc's ``OIDCOAuthServerMetadataURL`` and other resource servers look. Any
    origin may read it, as every well-known document Keycloak serves (``allowAllOrigins``)."""
    origin = {"Origin": "https://app.example.org"}
    standard = client.get(f"{WELL_KNOWN}/openid-configuration", headers=origin)
    oauth = client.get(f"{WELL_KNOWN}/oauth-authorization-server", headers=origin)
    assert oauth.status_code == 200
    assert oauth.mimetype == "application/json"
    assert oauth.data == standard.data
    assert oauth.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    preflight = {**origin, "Access-Control-Request-Method": "GET"}
    answers = [client.options(f"{WELL_KNOWN}/{name}", headers=preflight)
               for name in ("openid-configuration", "oauth-authorization-server")]  # fmt: skip
    assert answers[1].status_code == answers[0].status_code == 200
    cors = [{k: v for k, v in a.headers.items() if k.startswith("Access-Control-")}
            for a in answers]  # fmt: skip
    assert cors[1] == cors[0] and cors[0]["Access-Control-Allow-Methods"] == "GET"


def test_discovery_advertises_what_is_implemented_in_psc_order(client):
    document = json.loads(client.get(f"{WELL_KNOWN}/wallet-openid-configuration").data)
    assert_in_psc_order(list(document), PSC_MEMBERS)
    assert set(document) - set(PSC_MEMBERS) == SANTEID_ONLY
    assert "mtls_endpoint_aliases" not in document  # no certificate listener here
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == "http://localhost/auth"
    assert document["jwks_uri"] == f"{ISSUER}/protocol/openid-connect/certs"
    assert document["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:openid:params:grant-type:ciba",
    ]
    # PSC's first two, in its order: the implicit and hybrid types are never allowed.
    assert document["response_types_supported"] == ["code", "none"]
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    assert document["acr_values_supported"] == ["eidas1"]
    assert {"openid", "scope_all"} <= set(document["scopes_supported"])
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["response_modes_supported"] == PSC_RESPONSE_MODES
    signing_algs = document["id_token_signing_alg_values_supported"]
    assert document["authorization_signing_alg_values_supported"] == signing_algs
    assert document["code_challenge_methods_supported"] == ["plain", "S256"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "private_key_jwt",
        "client_secret_basic",
        "client_secret_post",
        "tls_client_auth",
        "client_secret_jwt",
    ]
    # Every advertised endpoint answers (none is a 404).
    for name in (
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "backchannel_authentication_endpoint",
    ):
        path = document[name].replace("http://localhost", "")
        assert client.post(path).status_code in (400, 401), name
    for name in ("userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        path = document[name].replace("http://localhost", "")
        assert client.get(path).status_code in (200, 400, 401), name


@pytest.mark.parametrize("path", ["openid-configuration", "wallet-openid-configuration"])
def test_discovery_with_a_tls_listener_keeps_psc_order(settings, path):
    """With a certificate listener, ``mtls_endpoint_aliases`` takes its place in PSC's order,
    and so do its members (RFC 8705 §5)."""
    from santeid.storage import MemoryStore

    app = create_app(settings.replace(mtls_base_url="https://localhost:5443"), store=MemoryStore())
    document = json.loads(app.test_client().get(f"{WELL_KNOWN}/{path}").data)
    assert_in_psc_order(list(document), PSC_MEMBERS)
    aliases = document["mtls_endpoint_aliases"]
    assert_in_psc_order(list(aliases), PSC_ALIASES)
    assert aliases["pushed_authorization_request_endpoint"] == (
        "https://localhost:5443/auth/realms/esante-wallet/protocol/openid-connect/ext/par/request"
    )


def test_separate_authorization_host_is_advertised_and_served(settings):
    from santeid.storage import MemoryStore

    app = create_app(
        settings.replace(authorization_endpoint="http://localhost/wallet/auth"), store=MemoryStore()
    )
    http = app.test_client()
    document = http.get(f"{WELL_KNOWN}/wallet-openid-configuration").get_json()
    assert document["authorization_endpoint"] == "http://localhost/wallet/auth"
    flow = Flow(app, http, register_client(app))
    response = http.get(
        "/wallet/auth",
        query_string={
            "response_type": "code",
            "client_id": flow.client["client_id"],
            "redirect_uri": flow.client["redirect_uris"][0],
            "scope": "openid",
        },
    )
    assert "login-actions/authenticate" in response.headers["Location"]


def test_jwks_has_kid_and_no_private_material(client):
    keys = client.get(f"{OIDC}/certs").get_json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"] and key["use"] == "sig" and key["alg"] == "RS256"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_sandbox_is_visible_on_every_response(client):
    assert client.get(f"{OIDC}/certs").headers["X-Santeid-Sandbox"] == "true"
    assert "Bac à sable" in client.get("/").get_data(as_text=True)


def test_security_headers_on_pages(client):
    response = client.get("/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


GARBAGE = [
    ("get", f"{OIDC}/auth", {"client_id": "\x00\x01"}),
    ("get", f"{OIDC}/auth", {"client_id": "service-test", "redirect_uri": "%%%"}),
    ("post", f"{OIDC}/token", b"grant_type=authorization_code&code=%ff%fe%00"),
    ("post", f"{OIDC}/userinfo", b"access_token=%ff%fe"),
    ("post", f"{OIDC}/token", {"grant_type": ""}),
    ("post", f"{OIDC}/token/introspect", {"token": "a.b.c"}),
    ("post", f"{OIDC}/revoke", {"token": "...."}),
    ("get", f"{OIDC}/userinfo", None),
    ("get", f"{OIDC}/logout", {"id_token_hint": "a.b.c", "post_logout_redirect_uri": "x"}),
    ("get", "/auth/realms/esante-wallet/login-actions/authenticate", {"tx": "x" * 70}),
    ("get", "/auth/realms/esante-wallet/login-actions/status", {"tx": "nope"}),
    ("post", "/auth/realms/esante-wallet/login-actions/cancel", {"tx": ""}),
    ("get", "/auth/realms/other-realm/.well-known/openid-configuration", None),
]


@pytest.mark.parametrize(("method", "path", "params"), GARBAGE)
def test_bad_input_never_gives_a_500(flow, client, method, path, params):
    headers = basic_auth("service-test", flow.client["client_secret"])
    if method == "get":
        response = client.get(path, query_string=params, headers=headers)
    elif isinstance(params, bytes):
        # Raw body: invalid UTF-8 as a hostile client would send it.
        response = client.post(
            path, data=params, headers=headers, content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.post(path, data=params or {}, headers=headers)
    # 200 is right for some (RFC 7662 answers {"active": false}, RFC 7009 ignores unknown
    # tokens); what must never happen is a server error or a leaked stack trace.
    assert response.status_code < 500
    assert b"Traceback" not in response.data


def test_oversized_token_request_parameter_is_400_json(flow, client):
    response = client.post(
        f"{OIDC}/token",
        data={"grant_type": "authorization_code", "code": "c" * 5000},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.redis
def test_redis_outage_is_a_clean_503_and_recovers(settings, disposable_redis):
    app = create_app(
        settings.replace(store_url=disposable_redis.url), store=store_from_url(disposable_redis.url)
    )
    http = app.test_client()
    flow = Flow(app, http, register_client(app))
    tokens = flow.full_login()

    disposable_redis.stop()
    health = http.get("/health")
    assert health.status_code == 503 and health.get_json()["store"] == "unavailable"
    token = http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth("service-test", flow.client["client_secret"]),
    )
    assert token.status_code == 503
    assert token.get_json()["error"] == "temporarily_unavailable"
    page = flow.authorize()
    assert page.status_code == 503
    assert b"Traceback" not in page.data

    disposable_redis.start()
    assert http.get("/health").status_code == 200
    # Redis kept nothing on disk, so the old grant is gone; a fresh login works again.
    assert "access_token" in flow.full_login()


def test_login_flow_on_both_stores(any_store_app):
    """The whole flow behaves the same on memory:// and on a real Redis."""
    http = any_store_app.test_client()
    flow = Flow(any_store_app, http, register_client(any_store_app))
    assert "access_token" in flow.full_login()
    # Silent SSO login, then a replayed code: same answers from both stores.
    params = flow.code_from(flow.authorize(prompt="none"))
    assert flow.token(params["code"]).status_code == 200
    assert flow.token(params["code"]).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "name", ["openid-configuration", "wallet-openid-configuration", "oauth-authorization-server"]
)
def test_discovery_documents_are_not_cached_as_keycloak_s(client, name):
    """Keycloak's ``OIDCWellKnownProviderTest.getOIDCDiscoveryConfiguration``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oidc/OIDCWellKnownProviderTest.java)
    asserts ``Cache-Control: no-cache, must-revalidate, no-transform, no-store`` on the realm's
    discovery document (``RealmsResource.getWellKnown``, ``CacheControlUtil.noCache()``;
    docs/reference/keycloak-behaviour.md, "Discovery"), and its ``corsTest`` the request's
    origin echoed."""
    response = client.get(f"{WELL_KNOWN}/{name}", headers={"Origin": "http://somehost"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache, must-revalidate, no-transform, no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "http://somehost"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("application/jwk-set+json", "application/jwk-set+json"),
        (None, "application/json"),
        ("application/json", "application/json"),
        ("application/json, application/jwk-set+json", "application/json"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_jwk_set_media_type_when_asked_for_alone(client, accept, media_type, method):
    """Keycloak's ``OIDCWellKnownProviderTest.certsWithJwks``
    (https://github.com/keycloak/keycloak/blob/main/testsuite/integration-arquillian/tests/base/src/test/java/org/keycloak/testsuite/oidc/OIDCWellKnownProviderTest.java):
    ``Accept: application/jwk-set+json`` gets that media type (RFC 7517 §8.5.1), by GET and
    HEAD; any other ``Accept`` ``application/json`` (docs/reference/keycloak-behaviour.md,
    "Realm endpoints")."""
    headers = {"Accept": accept} if accept else {}
    response = client.open(f"{OIDC}/certs", method=method, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == media_type
    assert response.headers["Cache-Control"] == "no-cache"

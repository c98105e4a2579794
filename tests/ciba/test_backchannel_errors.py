"""Back-channel authentication endpoint: acknowledgement and every CIBA Core §13 error."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from santeid.ciba import errors
from santeid.ciba import validators
from santeid.ciba.endpoint import SanteidBackchannelAuthenticationEndpoint
from tests.support.ciba import BACKCHANNEL
from tests.support.ciba import CIBA_GRANT
from tests.support.ciba import SECRET
from tests.support.ciba import backchannel
from tests.support.ciba import error_of
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client


@pytest.fixture
def meta(app):
    return register_ciba_client(app)


def test_acknowledgement_has_psc_defaults_and_an_unguessable_id(client, app, auto_id):
    meta = register_ciba_client(app, backchannel_polling_interval=None)
    response = backchannel(client, meta, login_hint=auto_id)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert list(body) == ["auth_req_id", "expires_in", "interval"]
    # docs/reference/pro-sante-connect.md §14: Keycloak's defaults, 120 s and 5 s.
    assert body["expires_in"] == 120 and body["interval"] == 5
    # 32 random bytes in URL-safe base64: 256 bits (CIBA Core §7.3 asks at least 128).
    assert len(body["auth_req_id"]) >= 43
    other = backchannel(client, meta, login_hint=auto_id).get_json()
    assert other["auth_req_id"] != body["auth_req_id"]


def test_expiry_and_interval_come_from_the_client_metadata(client, app, auto_id):
    meta = register_ciba_client(app, backchannel_request_expiry=60, backchannel_polling_interval=2)
    assert start(client, meta, auto_id)["expires_in"] == 60
    assert start(client, meta, auto_id)["interval"] == 2


def test_requested_expiry_is_honoured_and_capped(client, meta, auto_id):
    assert start(client, meta, auto_id, requested_expiry="30")["expires_in"] == 30
    assert start(client, meta, auto_id, requested_expiry="100000")["expires_in"] == 600
    for bad in ("0", "-5", "abc", "1.5", "٣"):
        response = backchannel(client, meta, login_hint=auto_id, requested_expiry=bad)
        assert error_of(response) == "invalid_request", bad


def test_psc_two_digit_binding_message_and_channel_pass(client, meta, auto_id):
    assert start(client, meta, auto_id, binding_message="00", channel="MOBILE")
    assert start(client, meta, auto_id, binding_message="W4SCT-1234")


@pytest.mark.parametrize("message", ["0 7", "x" * 51, "café", "a\nb", ""])
def test_invalid_binding_message(client, meta, auto_id, message):
    response = backchannel(client, meta, login_hint=auto_id, binding_message=message)
    assert response.status_code == 400
    assert error_of(response) == "invalid_binding_message"


def _strict(app, **changes):
    """The specifications' readings instead of Keycloak's (settings are read per request)."""
    behaviour = app.extensions["santeid"].settings.keycloak
    for name, value in (changes or {"error_style": "strict"}).items():
        setattr(behaviour, name, value)


def test_failed_client_authentication_is_keycloak_401(client, meta, auto_id):
    """Keycloak's back-channel endpoint answers the client authenticator's own error with 401
    (``BackchannelAuthenticationEndpoint.authorizeClient``): ``unauthorized_client`` for a
    wrong secret, ``invalid_client`` for an unknown client
    (docs/reference/keycloak-behaviour.md, "Client authentication")."""
    wrong = backchannel(client, meta, login_hint=auto_id, headers=basic_auth("ciba-rp", "nope" * 5))
    assert wrong.status_code == 401
    assert wrong.get_json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }
    assert "WWW-Authenticate" not in wrong.headers
    unknown = backchannel(client, meta, login_hint=auto_id, headers=basic_auth("nobody", SECRET))
    assert unknown.status_code == 401
    assert unknown.get_json() == {
        "error": "invalid_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


def test_invalid_client_is_401(client, app, meta, auto_id):
    _strict(app, client_authentication="strict")
    wrong = backchannel(client, meta, login_hint=auto_id, headers=basic_auth("ciba-rp", "nope" * 5))
    assert wrong.status_code == 401 and error_of(wrong) == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    nobody = backchannel(client, meta, login_hint=auto_id, headers={})
    assert nobody.status_code == 401 and error_of(nobody) == "invalid_client"
    # An unknown client through client_secret_post: Authlib says 400, CIBA §13 says 401.
    unknown = client.post(
        BACKCHANNEL,
        data={
            "client_id": "nobody",
            "client_secret": SECRET,
            "scope": "openid",
            "login_hint": auto_id,
        },
    )
    assert unknown.status_code == 401 and error_of(unknown) == "invalid_client"


@pytest.mark.parametrize("registered", ["client_secret_basic", "client_secret_post"])
def test_the_secret_in_the_body_is_accepted(client, app, auto_id, registered):
    """Keycloak: whatever the client registered (docs/reference/keycloak-behaviour.md)."""
    meta = register_ciba_client(app, token_endpoint_auth_method=registered)
    response = client.post(
        BACKCHANNEL,
        data={
            "client_id": meta["client_id"],
            "client_secret": SECRET,
            "scope": "openid",
            "login_hint": auto_id,
        },
    )
    assert response.status_code == 200, response.get_json()


def test_only_ciba_clients_may_call(client, app, auto_id):
    flow_client = register_client(app)
    headers = basic_auth("service-test", flow_client["client_secret"])
    response = backchannel(client, flow_client, login_hint=auto_id, headers=headers)
    # Keycloak (recent releases): 401 invalid_grant.
    assert response.status_code == 401
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "Client not allowed OIDC CIBA Grant",
    }
    _strict(app)
    response = backchannel(client, flow_client, login_hint=auto_id, headers=headers)
    assert response.status_code == 400
    assert error_of(response) == "unauthorized_client"


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({}, "missing parameter : login_hint"),
        ({"login_hint": "AUTO", "id_token_hint": "x.y.z"}, "exactly one"),
        ({"login_hint": "AUTO", "scope": None}, "missing parameter : scope"),
        ({"login_hint": "AUTO", "user_code": "1234"}, "User code not supported"),
        ({"login_hint": "AUTO", "channel": "SMS"}, "channel"),
        ({"id_token_hint": "not-a-token"}, "id_token_hint"),
        ({"login_hint_token": "a.b.c"}, "login_hint_token"),
    ],
)
def test_invalid_request(client, meta, auto_id, params, description):
    params = {k: (auto_id if v == "AUTO" else v) for k, v in params.items()}
    response = backchannel(client, meta, **params)
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"
    assert description in response.get_json()["error_description"]


@pytest.mark.parametrize(
    ("params", "flow_client", "answer"),
    [
        # rows 3 and 4 at once: row 3 answers
        ({"scope": None}, False, (400, "invalid_request", "missing parameter : login_hint")),
        # rows 5 and 6 at once: row 5 answers
        (
            {"login_hint": "899999999999", "scope": "openid admin"},
            False,
            (400, "invalid_request", "invalid_user"),
        ),
        # rows 2 and 3 at once: row 2 answers
        ({}, True, (401, "invalid_grant", "Client not allowed OIDC CIBA Grant")),
    ],
)
def test_two_faults_get_the_first_in_keycloaks_order(
    client, app, meta, params, flow_client, answer
):
    """Keycloak evaluates the back-channel request's faults in a fixed order
    (docs/reference/pro-sante-connect.md §14, "Errors of Keycloak at ext/ciba/auth", rows 1–6):
    with two at once, the earlier row answers."""
    if flow_client:
        caller = register_client(app)
        headers = basic_auth("service-test", caller["client_secret"])
        response = backchannel(client, caller, headers=headers, **params)
    else:
        response = backchannel(client, meta, **params)
    status, error, description = answer
    assert response.status_code == status
    assert response.get_json() == {"error": error, "error_description": description}


@pytest.mark.parametrize("token", ["client-notification-token-1", ""])
def test_poll_client_sending_a_notification_token_is_invalid_request(client, meta, auto_id, token):
    """Keycloak takes ``client_notification_token`` from ping clients only: a poll client that
    sends one, even empty, is refused before its request reaches the authentication channel
    (``BackchannelAuthenticationEndpoint.authorizeClient``,
    https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/grants/ciba/endpoints/BackchannelAuthenticationEndpoint.java;
    the ping-mode side in ``CIBATest.testPingMode_requestWithInvalidClientNotificationShouldFail``,
    https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/client/CIBATest.java).
    """
    response = backchannel(client, meta, login_hint=auto_id, client_notification_token=token)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Client Notification token supported only for the ping mode",
    }


@pytest.mark.parametrize(
    ("params", "answer"),
    [
        # the scope's values before the binding message
        (
            {"login_hint": "AUTO", "scope": "openid nope", "binding_message": "a b"},
            ("invalid_scope", "Invalid scopes: openid nope"),
        ),
        # the professional before the binding message
        (
            {"login_hint": "899999999999", "binding_message": "a b"},
            ("invalid_request", "invalid_user"),
        ),
        # the binding message before user_code
        (
            {"login_hint": "AUTO", "binding_message": "a b", "user_code": "1234"},
            ("invalid_binding_message", validators.BINDING_MESSAGE_ERROR),
        ),
        # a poll client's notification token before user_code
        (
            {"login_hint": "AUTO", "client_notification_token": "t", "user_code": "1234"},
            ("invalid_request", validators.POLL_NOTIFICATION_TOKEN),
        ),
        # requested_expiry is read with the other parameters, before the hint
        (
            {"login_hint": None, "requested_expiry": "abc"},
            ("invalid_request", "requested_expiry must be a positive integer"),
        ),
    ],
)
def test_two_faults_in_the_order_of_keycloaks_endpoint(client, meta, auto_id, params, answer):
    """Keycloak's ``BackchannelAuthenticationEndpoint.authorizeClient`` parses the parameters
    (``requested_expiry`` with them), then resolves the user, then checks the scope, the
    binding message, the notification token and ``user_code``, in that order
    (https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/grants/ciba/endpoints/BackchannelAuthenticationEndpoint.java;
    the single faults in ``CIBATest``,
    https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/client/CIBATest.java:
    ``testBadBindingMessage``, ``testBackchannelAuthenticationFlowWithInvalidScope``,
    ``testBackchannelAuthnReqWithUnknownUser``)."""
    params = {k: (auto_id if v == "AUTO" else v) for k, v in params.items()}
    response = backchannel(client, meta, **params)
    error, description = answer
    assert response.status_code == 400
    assert response.get_json() == {"error": error, "error_description": description}


def test_repeated_parameter_is_invalid_request(client, meta, auto_id):
    response = client.post(
        BACKCHANNEL,
        data={"scope": "openid", "login_hint": [auto_id, auto_id]},
        headers=basic_auth(meta["client_id"], SECRET),
    )
    assert error_of(response) == "invalid_request"
    assert response.get_json()["error_description"] == "duplicated parameter"


def test_invalid_scope(client, app, meta, auto_id):
    # Keycloak: openid is optional (tokens without an ID token); unknown scopes are refused
    # with the raw scope parameter.
    assert backchannel(client, meta, login_hint=auto_id, scope="scope_all").status_code == 200
    unknown = backchannel(client, meta, login_hint=auto_id, scope="openid admin")
    assert error_of(unknown) == "invalid_scope"
    assert unknown.get_json()["error_description"] == "Invalid scopes: openid admin"
    narrow = register_ciba_client(app, "ciba-narrow", scope="openid")
    assert error_of(backchannel(client, narrow, login_hint=auto_id)) == "invalid_scope"


@pytest.mark.parametrize(
    ("scope", "shown"),
    [("openid café", "openid caf%C3%A9"), ('a"b', "a%22b"), ("a\\b", "a%5Cb"), ("x\x7f", "x%7F")],
)
def test_scope_outside_the_error_description_charset_is_invalid_scope(
    client, meta, auto_id, scope, shown
):
    # RFC 6749 §5.2: error_description holds %x20-21 / %x23-5B / %x5D-7E only.
    response = backchannel(client, meta, login_hint=auto_id, scope=scope)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_scope",
        "error_description": f"Invalid scopes: {shown}",
    }


def test_strict_scope_policy(client, app, meta, auto_id):
    _strict(app, scope_policy="strict")
    without_openid = backchannel(client, meta, login_hint=auto_id, scope="scope_all")
    assert error_of(without_openid) == "invalid_scope"
    unknown = backchannel(client, meta, login_hint=auto_id, scope="openid admin")
    assert unknown.get_json()["error_description"] == "Invalid scopes: admin"
    # An empty value (two spaces) has no name to show: the raw scope is.
    doubled = backchannel(client, meta, login_hint=auto_id, scope="openid  scope_all")
    assert doubled.get_json()["error_description"] == "Invalid scopes: openid  scope_all"


@pytest.mark.parametrize("who", ["unknown", "inactive"])
def test_unknown_or_inactive_user_is_keycloak_invalid_user(client, app, meta, who):
    directory = app.extensions["santeid"].directory
    hint = "899999999999"
    if who == "inactive":
        hint = next(p.national_id for p in directory.list() if not p.is_active)
    response = backchannel(client, meta, login_hint=hint)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": "invalid_user"}


@pytest.mark.parametrize("hint", ["10000000001", "dr.martin@example.org", "8 1 2"])
def test_hint_that_is_no_national_identifier_is_keycloak_invalid_user(client, meta, hint):
    """A hint that cannot name anybody (an RPPS without its leading 8, an e-mail address)
    matches no user: Keycloak's row 5 (docs/reference/pro-sante-connect.md §14), in the
    table's order (row 4, no scope, before it; row 6, invalid scope, after it)."""
    response = backchannel(client, meta, login_hint=hint)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": "invalid_user"}
    no_scope = backchannel(client, meta, login_hint=hint, scope=None)
    assert no_scope.get_json()["error_description"] == "missing parameter : scope"
    bad_scope = backchannel(client, meta, login_hint=hint, scope="openid admin")
    assert bad_scope.get_json() == {"error": "invalid_request", "error_description": "invalid_user"}


def test_an_empty_login_hint_names_nobody(client, meta):
    """``login_hint=`` is present, not missing: Keycloak's form parser gives ``""``, which its
    resolver matches to no user (``BackchannelAuthenticationEndpoint.resolveUser``,
    https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/grants/ciba/endpoints/BackchannelAuthenticationEndpoint.java;
    ``CIBATest.testBackchannelAuthnReqWithUnknownUser``,
    https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/client/CIBATest.java)."""
    response = backchannel(client, meta, login_hint="")
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request", "error_description": "invalid_user"}


def test_hint_that_is_no_national_identifier_strict(client, app, meta):
    """``error_style = "strict"`` keeps its own answer: the hint's syntax is wrong."""
    _strict(app)
    response = backchannel(client, meta, login_hint="10000000001")
    assert response.status_code == 400 and error_of(response) == "invalid_request"
    assert response.get_json()["error_description"] == "login_hint must be a national identifier"


def test_unknown_user_id(client, app, meta):
    _strict(app)
    response = backchannel(client, meta, login_hint="899999999999")
    assert response.status_code == 400 and error_of(response) == "unknown_user_id"


def test_professional_without_ecps_gets_keycloak_channel_failure(client, meta, plain_id):
    response = backchannel(client, meta, login_hint=plain_id)
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "server_error",
        "error_description": "Failed to send authentication request",
    }


def test_professional_without_usable_device_gets_access_denied_403(client, app, meta, plain_id):
    _strict(app)
    response = backchannel(client, meta, login_hint=plain_id)
    assert response.status_code == 403
    assert error_of(response) == "access_denied"


def test_auto_approve_is_sandbox_only(settings, auto_id):
    from santeid import create_app
    from santeid.keystore import ensure_dev_keys
    from santeid.storage import MemoryStore

    ensure_dev_keys(settings)
    app = create_app(settings.replace(sandbox=False), store=MemoryStore())
    app.extensions["santeid"].directory.seed_demo()
    meta = register_ciba_client(app)
    response = backchannel(app.test_client(), meta, login_hint=auto_id)
    assert response.status_code == 503 and error_of(response) == "server_error"


def test_user_code_hooks_give_missing_and_invalid_user_code(client, meta, auto_id, monkeypatch):
    def verify_user_code(self, account, user_code, req):
        if user_code is None:
            raise errors.MissingUserCodeError("user code required")
        raise errors.InvalidUserCodeError("wrong user code")

    monkeypatch.setattr(
        SanteidBackchannelAuthenticationEndpoint, "verify_user_code", verify_user_code
    )
    assert error_of(backchannel(client, meta, login_hint=auto_id)) == "missing_user_code"


def test_invalid_user_code_hook(client, meta, auto_id, monkeypatch):
    def verify_user_code(self, account, user_code, req):
        raise errors.InvalidUserCodeError("wrong user code")

    monkeypatch.setattr(
        SanteidBackchannelAuthenticationEndpoint, "verify_user_code", verify_user_code
    )
    assert error_of(backchannel(client, meta, login_hint=auto_id)) == "invalid_user_code"


def test_request_context_hook_can_refuse(client, meta, auto_id, monkeypatch):
    def validate_request_context(self, context, req):
        if context is None:
            raise errors.InvalidRequestError("request_context required")

    monkeypatch.setattr(
        SanteidBackchannelAuthenticationEndpoint,
        "validate_request_context",
        validate_request_context,
    )
    assert error_of(backchannel(client, meta, login_hint=auto_id)) == "invalid_request"


@pytest.fixture
def rsa_key():
    return RSAKey.generate_key(2048, private=True, parameters={"kid": "rp-key"})


def _hint_token(key, **claims):
    values = {"iss": "ciba-jwks", "login_hint": None, "exp": int(time.time()) + 60}
    values.update(claims)
    claims = {k: v for k, v in values.items() if v is not None}
    return jwt.encode({"alg": "PS256", "kid": "rp-key"}, claims, key, algorithms=["PS256"])


def test_login_hint_token(client, app, auto_id, rsa_key):
    meta = register_ciba_client(app, "ciba-jwks", jwks={"keys": [rsa_key.as_dict(private=False)]})
    ok = backchannel(client, meta, login_hint_token=_hint_token(rsa_key, login_hint=auto_id))
    assert ok.status_code == 200, ok.get_json()
    expired = backchannel(
        client,
        meta,
        login_hint_token=_hint_token(rsa_key, login_hint=auto_id, exp=int(time.time()) - 60),
    )
    assert expired.status_code == 400 and error_of(expired) == "expired_login_hint_token"
    # 30 s of clock skew, as for every JWT a client signs (docs/ciba.md "Signed requests").
    skewed = _hint_token(rsa_key, login_hint=auto_id, exp=int(time.time()) - 15)
    assert backchannel(client, meta, login_hint_token=skewed).status_code == 200
    unknown = backchannel(
        client, meta, login_hint_token=_hint_token(rsa_key, login_hint="899999999999")
    )
    assert unknown.get_json()["error_description"] == "invalid_user"
    not_an_id = _hint_token(rsa_key, login_hint="x@y.fr")  # no national identifier at all
    malformed = backchannel(client, meta, login_hint_token=not_an_id)
    assert malformed.get_json() == {"error": "invalid_request", "error_description": "invalid_user"}
    _strict(app)
    malformed = backchannel(client, meta, login_hint_token=not_an_id)
    assert malformed.get_json()["error_description"] == "login_hint must be a national identifier"
    unknown = backchannel(
        client, meta, login_hint_token=_hint_token(rsa_key, login_hint="899999999999")
    )
    assert error_of(unknown) == "unknown_user_id"
    other_key = RSAKey.generate_key(2048, private=True, parameters={"kid": "rp-key"})
    forged = backchannel(client, meta, login_hint_token=_hint_token(other_key, login_hint=auto_id))
    assert error_of(forged) == "invalid_request"


def test_id_token_hint_names_the_professional_of_an_earlier_login(client, app, meta, auto_id):
    first = start(client, meta, auto_id)
    id_token = poll(client, meta, first["auth_req_id"]).get_json()["id_token"]
    again = backchannel(client, meta, id_token_hint=id_token)
    assert again.status_code == 200, again.get_json()
    tokens = poll(client, meta, again.get_json()["auth_req_id"]).get_json()
    assert tokens["token_type"] == "Bearer"
    # Only an ID token issued to this client (CIBA Core §7.1).
    other = register_ciba_client(app, "ciba-other")
    refused = backchannel(client, other, id_token_hint=id_token)
    assert error_of(refused) == "invalid_request"
    assert "another client" in refused.get_json()["error_description"]


def test_discovery_advertises_ciba(client):
    from tests.support.oidc_flow import ISSUER

    document = client.get("/auth/realms/esante-wallet/.well-known/openid-configuration").get_json()
    assert document["backchannel_authentication_endpoint"] == (
        f"{ISSUER}/protocol/openid-connect/ext/ciba/auth"
    )
    # PSC's modes; push only with ciba_push_enabled (tests/ciba/test_delivery_modes.py).
    assert document["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert document["backchannel_user_code_parameter_supported"] is False
    assert document["backchannel_authentication_request_signing_alg_values_supported"] == [
        "PS256",
        "ES256",
    ]
    assert CIBA_GRANT in document["grant_types_supported"]
    assert "tls_client_auth" in document["token_endpoint_auth_methods_supported"]


def test_get_is_refused(client):
    response = client.get(BACKCHANNEL)
    assert response.status_code == 405 and error_of(response) == "invalid_request"


def test_redirect_uri_unused(app):
    # CIBA clients need no redirect_uris; a mixed client keeps them.
    meta = register_ciba_client(
        app, "mixed", grant_types=[CIBA_GRANT, "authorization_code"], redirect_uris=[REDIRECT_URI]
    )
    assert meta["redirect_uris"] == [REDIRECT_URI]

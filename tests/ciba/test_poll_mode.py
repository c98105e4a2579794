"""Poll mode at the token endpoint (CIBA Core §10.1, §11): pending, slow_down, expiry,
denial, e-CPS and sandbox approval, replayed or stolen auth_req_id."""

from __future__ import annotations

import dataclasses
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import OctKey

from tests.support.ciba import SECRET
from tests.support.ciba import backchannel
from tests.support.ciba import error_of
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ciba import start
from tests.support.ecps_phone import CHEAP_PINS
from tests.support.ecps_phone import PIN
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client


@pytest.fixture
def app(clocked_app):
    """Every test here runs on ``clock`` (a ManualClock): intervals and expiry without sleeping."""
    return clocked_app


@pytest.fixture
def meta(app):
    return register_ciba_client(app)


def _record(app, auth_req_id: str) -> dict:
    ciba = app.extensions["santeid"].ciba
    return ciba.store.get(ciba.book.records.key(auth_req_id))


def test_sandbox_auto_approve_gives_psc_tokens_once(any_store_app, auto_id):
    app = any_store_app
    http = app.test_client()
    meta = register_ciba_client(app)
    auth_req_id = start(http, meta, auto_id)["auth_req_id"]
    response = poll(http, meta, auth_req_id)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= set(tokens)
    _, claims = decode(app, tokens["id_token"])
    assert claims["iss"] == ISSUER and claims["aud"] == "ciba-rp"
    assert claims["SubjectNameID"] == auto_id
    assert claims["authMode"] == "MOBILE" and claims["acr"] == "eidas1"
    assert claims["amr"] == ["sandbox"] and abs(claims["auth_time"] - time.time()) < 30
    # Consumed once: a replay is invalid_grant and revokes what the first poll gave.
    replay = poll(http, meta, auth_req_id)
    assert replay.status_code == 400 and error_of(replay) == "invalid_grant"
    refreshed = http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth("ciba-rp", SECRET),
    )
    assert error_of(refreshed) == "invalid_grant"


def test_refresh_token_of_a_ciba_login_works(client, meta, auto_id):
    tokens = poll(client, meta, start(client, meta, auto_id)["auth_req_id"]).get_json()
    refreshed = client.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic_auth("ciba-rp", SECRET),
    )
    assert refreshed.status_code == 200, refreshed.get_json()


def test_phone_approves_a_mobile_request(app, client, meta, phone, plain_id):
    auth_req_id = start(client, meta, plain_id, binding_message="07")["auth_req_id"]
    pending = poll(client, meta, auth_req_id)
    # The sentence PSC's answers carry (docs/reference/pro-sante-connect.md §14, "Answers").
    assert pending.status_code == 400 and pending.get_json() == {
        "error": "authorization_pending",
        "error_description": "The authorization request is still pending as the end-user "
        "hasn't yet been authenticated.",
    }
    [item] = phone.pending().get_json()["requests"]
    # The phone shows the service and the binding message, and no code to pick.
    assert item["kind"] == "ciba" and item["binding_message"] == "07"
    assert item["client_name"] == "Logiciel lourd de test"
    assert phone.decide(item["request_id"], "approve").status_code == 200
    response = poll(client, meta, auth_req_id)
    assert response.status_code == 200, response.get_json()
    _, claims = decode(app, response.get_json()["id_token"])
    assert claims["authMode"] == "MOBILE" and claims["acr"] == "eidas1"
    assert claims["amr"] == ["swk", "pin", "mfa"] and claims["SubjectNameID"] == plain_id
    access = decode(app, response.get_json()["access_token"])[1]
    assert access["authMode"] == "MOBILE" and access["auth_time"] == claims["auth_time"]


def test_phone_denial_is_access_denied(any_store_app, plain_id):
    from tests.support.ecps_phone import Phone

    app = any_store_app
    http = app.test_client()
    meta = register_ciba_client(app)
    phone = Phone.register(app, http, plain_id, pin=PIN)
    auth_req_id = start(http, meta, plain_id)["auth_req_id"]
    [item] = phone.pending().get_json()["requests"]
    assert phone.decide(item["request_id"], "deny").status_code == 200
    response = poll(http, meta, auth_req_id)
    # Keycloak's CibaGrantType (docs/reference/keycloak-behaviour.md).
    assert response.status_code == 400
    assert response.get_json() == {"error": "access_denied", "error_description": "not authorized"}
    # Stays denied.
    assert error_of(poll(http, meta, auth_req_id)) == "access_denied"


def test_locked_device_fails_the_request(client, meta, phone, plain_id):
    auth_req_id = start(client, meta, plain_id)["auth_req_id"]
    [item] = phone.pending().get_json()["requests"]
    for _ in range(3):
        phone.decide(item["request_id"], "approve", pin="000000")
    assert error_of(poll(client, meta, auth_req_id)) == "access_denied"


def test_slow_down_as_keycloak_does_it(app, client, phone, plain_id, clock):
    """Keycloak: one accepted poll per interval; an early poll is slow_down whatever the
    request's state (even approved) and does not move the window or lengthen the interval."""
    meta = register_ciba_client(app, backchannel_polling_interval=5)
    auth_req_id = start(client, meta, plain_id)["auth_req_id"]
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"
    clock.advance(2)
    early = poll(client, meta, auth_req_id)
    assert early.status_code == 400
    assert early.get_json() == {"error": "slow_down", "error_description": "too early to access"}
    clock.advance(2)
    assert error_of(poll(client, meta, auth_req_id)) == "slow_down"
    assert _record(app, auth_req_id)["interval"] == 5
    clock.advance(1.5)  # 5.5 s after the accepted poll
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"
    [item] = phone.pending().get_json()["requests"]
    phone.decide(item["request_id"], "approve", pin=PIN)
    assert error_of(poll(client, meta, auth_req_id)) == "slow_down"
    clock.advance(5)
    assert poll(client, meta, auth_req_id).status_code == 200


def test_slow_down_grows_the_interval_of_that_request(app, client, phone, plain_id, clock):
    app.extensions["santeid"].settings.keycloak.error_style = "strict"
    meta = register_ciba_client(app, backchannel_polling_interval=5)
    auth_req_id = start(client, meta, plain_id)["auth_req_id"]
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"
    clock.advance(2)
    assert error_of(poll(client, meta, auth_req_id)) == "slow_down"
    assert _record(app, auth_req_id)["interval"] == 10
    clock.advance(6)  # enough for 5 s, not for the new 10 s
    assert error_of(poll(client, meta, auth_req_id)) == "slow_down"
    assert _record(app, auth_req_id)["interval"] == 15
    clock.advance(16)
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"
    assert _record(app, auth_req_id)["interval"] == 15
    # Another request of the same client starts again from the registered interval.
    other = start(client, meta, plain_id)
    assert other["interval"] == 5


def test_interval_zero_never_slows_down(client, meta, phone, plain_id):
    auth_req_id = start(client, meta, plain_id)["auth_req_id"]
    for _ in range(5):
        assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"


def test_expired_token_after_requested_expiry(app, client, meta, phone, plain_id, clock):
    auth_req_id = start(client, meta, plain_id, requested_expiry="10")["auth_req_id"]
    assert error_of(poll(client, meta, auth_req_id)) == "authorization_pending"
    clock.advance(11)
    response = poll(client, meta, auth_req_id)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "expired_token",
        "error_description": "authentication timed out",
    }


def test_approved_but_expired_is_expired(app, client, meta, auto_id, clock):
    auth_req_id = start(client, meta, auto_id, requested_expiry=5)["auth_req_id"]
    clock.advance(6)
    assert error_of(poll(client, meta, auth_req_id)) == "expired_token"


@pytest.mark.redis
def test_expired_token_on_redis_too(settings, redis_url, clock, plain_id):
    from santeid import create_app
    from santeid.storage import store_from_url
    from tests.support.ecps_phone import Phone

    store = store_from_url(redis_url)
    app = create_app(settings.replace(store_url=redis_url), store=store, clock=clock)
    app.extensions["santeid"].ecps.pins = CHEAP_PINS
    http = app.test_client()
    meta = register_ciba_client(app)
    Phone.register(app, http, plain_id, pin=PIN)
    auth_req_id = start(http, meta, plain_id, requested_expiry="1")["auth_req_id"]
    clock.advance(2)
    assert error_of(poll(http, meta, auth_req_id)) == "expired_token"
    store.close()


def test_an_approved_request_of_a_professional_made_inactive_is_user_disabled(
    app, client, meta, auto_id
):
    """Keycloak's CibaGrantType: ``invalid_grant`` "User disabled", the request not removed
    (docs/reference/keycloak-behaviour.md, "Disabled users"): active again, it gives tokens."""
    directory = app.extensions["santeid"].directory
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    directory.upsert(dataclasses.replace(directory.get(auto_id), status="inactive"))
    refused = poll(client, meta, auth_req_id)
    assert refused.status_code == 400
    assert refused.get_json() == {"error": "invalid_grant", "error_description": "User disabled"}
    directory.upsert(dataclasses.replace(directory.get(auto_id), status="active"))
    assert poll(client, meta, auth_req_id).status_code == 200


def test_stolen_auth_req_id_is_invalid_grant(app, client, meta, auto_id):
    thief = register_ciba_client(app, "ciba-thief")
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    stolen = poll(client, thief, auth_req_id)
    assert stolen.status_code == 400
    # Keycloak's DeviceGrantType.getDeviceByDeviceCode.
    assert stolen.get_json() == {
        "error": "invalid_grant",
        "error_description": "unauthorized client",
    }
    # The owner is not harmed.
    assert poll(client, meta, auth_req_id).status_code == 200
    # Used: Keycloak has forgotten it, whoever asks.
    for who in (thief, meta):
        assert poll(client, who, auth_req_id).get_json() == {
            "error": "invalid_grant",
            "error_description": "Invalid auth_req_id",
        }


def test_unknown_or_missing_auth_req_id(client, meta):
    assert poll(client, meta, "x" * 43).get_json() == {
        "error": "invalid_grant",
        "error_description": "Invalid Auth Req ID",
    }
    assert error_of(poll(client, meta, "x" * 5000)) == "invalid_request"  # over the size limit
    missing = client.post(
        f"{OIDC}/token",
        data={"grant_type": "urn:openid:params:grant-type:ciba"},
        headers=basic_auth("ciba-rp", SECRET),
    )
    assert missing.get_json() == {
        "error": "invalid_request",
        "error_description": "Missing parameter: auth_req_id",
    }


def test_an_empty_auth_req_id_is_an_unknown_one(client, meta):
    """``auth_req_id=`` is present: Keycloak's ``CibaGrantType`` says "Missing parameter" only
    for an absent one (``formParams.getFirst`` gives ``""``), and cannot decrypt the empty
    string (https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/protocol/oidc/grants/ciba/CibaGrantType.java;
    the unknown one in ``CIBATest.testAuthenticationChannelUnexpectedError``,
    https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/client/CIBATest.java)."""
    response = poll(client, meta, "")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "Invalid Auth Req ID",
    }


def test_client_authentication_and_the_grant_come_before_a_missing_auth_req_id(app, client):
    """Keycloak's order: TokenEndpoint.checkClient, then CibaGrantType checks the client's
    grant, then auth_req_id (docs/reference/keycloak-behaviour.md)."""
    form = {"grant_type": "urn:openid:params:grant-type:ciba"}
    nobody = client.post(f"{OIDC}/token", data=form)
    assert nobody.status_code == 401 and error_of(nobody) == "invalid_client"
    unknown = client.post(f"{OIDC}/token", data=form, headers=basic_auth("ciba-rp", "x" * 20))
    assert unknown.status_code == 401 and error_of(unknown) == "invalid_client"
    other = register_client(app)
    code_flow = client.post(
        f"{OIDC}/token", data=form, headers=basic_auth("service-test", other["client_secret"])
    )
    assert code_flow.status_code == 400
    assert code_flow.get_json() == {
        "error": "invalid_grant",
        "error_description": "Client not allowed OIDC CIBA Grant",
    }


def test_non_ciba_client_cannot_poll(app, client, meta, auto_id):
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    other = register_client(app)
    headers = basic_auth("service-test", other["client_secret"])
    response = poll(client, other, auth_req_id, headers=headers)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_grant",
        "error_description": "Client not allowed OIDC CIBA Grant",
    }
    app.extensions["santeid"].settings.keycloak.error_style = "strict"
    response = poll(client, other, auth_req_id, headers=headers)
    assert error_of(response) == "unauthorized_client"


def test_wrong_secret_at_the_token_endpoint(client, meta, auto_id):
    """Keycloak's secret authenticator: ``unauthorized_client`` (401) for a known client."""
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    response = poll(client, meta, auth_req_id, headers=basic_auth("ciba-rp", "wrong-secret-000000"))
    assert response.status_code == 401 and error_of(response) == "unauthorized_client"


def test_concurrent_polls_give_tokens_once(any_store_app, auto_id):
    """On memory and on a real Redis: the request is consumed once."""
    from concurrent.futures import ThreadPoolExecutor

    app = any_store_app
    meta = register_ciba_client(app)
    http = app.test_client()
    auth_req_id = start(http, meta, auto_id)["auth_req_id"]

    def one(_):
        return poll(app.test_client(), meta, auth_req_id).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(8)))
    assert statuses.count(200) == 1 and statuses.count(400) == 7


def _client_assertion(key, client_id: str, audience: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": f"jti-{time.monotonic_ns()}",
    }
    return jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key, algorithms=["ES256"])


def test_private_key_jwt_at_both_endpoints(any_store_app, auto_id):
    app = any_store_app
    http = app.test_client()
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "k1"})
    meta = register_ciba_client(
        app,
        "ciba-pkjwt",
        client_secret=None,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    response = backchannel(
        http,
        meta,
        headers={},
        login_hint=auto_id,
        client_id="ciba-pkjwt",
        client_assertion_type=assertion_type,
        client_assertion=_client_assertion(key, "ciba-pkjwt", ISSUER),
    )
    assert response.status_code == 200, response.get_json()
    auth_req_id = response.get_json()["auth_req_id"]
    tokens = poll(
        http,
        meta,
        auth_req_id,
        headers={},
        client_id="ciba-pkjwt",
        client_assertion_type=assertion_type,
        client_assertion=_client_assertion(
            key, "ciba-pkjwt", f"{ISSUER}/protocol/openid-connect/token"
        ),
    )
    assert tokens.status_code == 200, tokens.get_json()
    # A replayed client assertion is refused (jti).
    again = backchannel(
        http,
        meta,
        headers={},
        login_hint=auto_id,
        client_id="ciba-pkjwt",
        client_assertion_type=assertion_type,
        client_assertion=(assertion := _client_assertion(key, "ciba-pkjwt", ISSUER)),
    )
    assert again.status_code == 200
    replayed = backchannel(
        http,
        meta,
        headers={},
        login_hint=auto_id,
        client_id="ciba-pkjwt",
        client_assertion_type=assertion_type,
        client_assertion=assertion,
    )
    assert replayed.status_code == 401 and error_of(replayed) == "invalid_client"


def test_client_secret_jwt_at_both_endpoints(any_store_app, auto_id):
    """Keycloak's "Signed JWT with Client Secret" at the back-channel and token endpoints; a
    wrong secret is its 400 ``unauthorized_client`` resent with 401 (CIBA Core §13)."""
    app = any_store_app
    http = app.test_client()
    # An HMAC key as long as HS256's hash (RFC 7518 §3.2), as santeid asks of such a client.
    shared = f"{SECRET}-as-long-as-an-hs256-key"
    meta = register_ciba_client(
        app, "ciba-csjwt", token_endpoint_auth_method="client_secret_jwt", client_secret=shared
    )
    key = OctKey.import_key(shared.encode())

    def assertion(audience: str, signing_key=key) -> dict:
        now = int(time.time())
        claims = {"iss": "ciba-csjwt", "sub": "ciba-csjwt", "aud": audience, "iat": now,
                  "exp": now + 60, "jti": f"jti-{time.monotonic_ns()}"}  # fmt: skip
        return {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode({"alg": "HS256"}, claims, signing_key),
        }

    response = backchannel(http, meta, headers={}, login_hint=auto_id, **assertion(ISSUER))
    assert response.status_code == 200, response.get_json()
    auth_req_id = response.get_json()["auth_req_id"]
    token_url = f"{ISSUER}/protocol/openid-connect/token"
    tokens = poll(http, meta, auth_req_id, headers={}, **assertion(token_url))
    assert tokens.status_code == 200, tokens.get_json()
    wrong = OctKey.import_key(b"not-the-secret-of-the-ciba-client")
    refused = backchannel(http, meta, headers={}, login_hint=auto_id, **assertion(ISSUER, wrong))
    assert refused.status_code == 401 and error_of(refused) == "unauthorized_client"


def test_record_holds_no_usable_identifier(app, client, meta, auto_id):
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]
    record = _record(app, auth_req_id)
    assert auth_req_id not in repr(record)
    assert record["state"] == "approved"


def test_ciba_tokens_end_with_the_session_their_approval_opened(client, meta, auto_id, clock):
    """A CIBA login opens a session at its approval (``auth_time``), bounded by
    ``sso_max_lifetime`` like a browser's: its refreshes end there (Keycloak's refresh token
    expiry, docs/reference/keycloak-behaviour.md "Refresh tokens")."""
    app = client.application
    max_lifetime = app.extensions["santeid"].settings.login.sso_max_lifetime
    tokens = poll(client, meta, start(client, meta, auto_id)["auth_req_id"]).get_json()
    started = decode(app, tokens["id_token"])[1]["auth_time"]

    def refresh(refresh_token):
        return client.post(
            f"{OIDC}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            headers=basic_auth("ciba-rp", SECRET),
        )

    while clock() + 1500 < started + max_lifetime:
        clock.advance(1500)
        response = refresh(tokens["refresh_token"])
        assert response.status_code == 200, response.get_json()
        tokens = response.get_json()
    assert tokens["refresh_expires_in"] == started + max_lifetime - int(clock()) < 1500
    clock.advance(tokens["refresh_expires_in"])
    assert error_of(refresh(tokens["refresh_token"])) == "invalid_grant"


def test_auth_time_is_the_approval_not_the_poll_that_redeems(client, meta, auto_id, clock):
    """OIDC Core §2: ``auth_time`` is when the professional authenticated — the approval —
    however late the client polls (Keycloak's ``CibaGrantType`` writes the redeeming poll's
    time, a kept difference, docs/reference/keycloak-behaviour.md "CIBA: auth_time")."""
    approved_at = int(clock())
    auth_req_id = start(client, meta, auto_id)["auth_req_id"]  # approved at once (sandbox)
    clock.advance(90)
    tokens = poll(client, meta, auth_req_id).get_json()
    id_claims = decode(client.application, tokens["id_token"])[1]
    access_claims = decode(client.application, tokens["access_token"])[1]
    assert id_claims["auth_time"] == access_claims["auth_time"] == approved_at
    assert id_claims["iat"] == approved_at + 90

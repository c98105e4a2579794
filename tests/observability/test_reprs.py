"""What a debug log could print of santeid's objects holds no secret: Authlib logs the client
at DEBUG on every refresh and client-credentials request (``Validate token request of
Client(…)``), and a client's ``repr`` carried its secret's unsalted SHA-256, which an offline
search turns back into a guessable secret. The objects holding other secrets — an e-CPS
device's PIN hash and TOTP seed, a push subscription's auth secret, an activation code — keep
them out of their ``repr`` too (docs/security.md, "Logs")."""

from __future__ import annotations

import logging

from santeid.ecps.devices import Device
from santeid.ecps.push import PushSubscription
from santeid.ecps.service import Activation
from santeid.oidc.clients import Client
from santeid.oidc.clients import _secret_digest
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client

PIN_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PUSH_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
ACTIVATION_CODE = "K7Q2-M9XW-4RTP"


def test_reprs_hold_no_secret():
    digest = _secret_digest(CLIENT_SECRET)
    client = Client("rp", {"client_id": "rp"}, digest)
    assert digest not in repr(client) and "rp" in repr(client)
    device = Device(
        device_id="dev-1", national_id="810000000001", name="phone", public_jwk={},
        jwk_thumbprint="tp", pin_hash=PIN_HASH, totp_secret=TOTP_SEED, status="active",
        consecutive_failed_pins=0, sandbox_enrolled=False, webhook_url=None, created_at=0,
        last_used_at=None,
    )  # fmt: skip
    assert PIN_HASH not in repr(device) and TOTP_SEED not in repr(device)
    subscription = PushSubscription("dev-1", "https://push.example/x", "p256dh", PUSH_AUTH)
    assert PUSH_AUTH not in repr(subscription)
    activation = Activation(
        ACTIVATION_CODE, 0, f"santeid-ecps://activate?code={ACTIVATION_CODE}",
        app_link=f"https://id.example/ecps/app/#activation={ACTIVATION_CODE}",
    )  # fmt: skip
    assert ACTIVATION_CODE not in repr(activation)


def test_a_debug_log_of_the_token_endpoint_holds_no_secret_digest(app, flow, caplog):
    register_client(app, grant_types=["authorization_code", "refresh_token", "client_credentials"])
    caplog.set_level(logging.DEBUG)
    tokens = flow.full_login()
    headers = basic_auth("service-test", CLIENT_SECRET)
    refreshed = flow.http.post(
        f"{OIDC}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=headers,
    )
    service = flow.http.post(
        f"{OIDC}/token", data={"grant_type": "client_credentials"}, headers=headers
    )
    assert (refreshed.status_code, service.status_code) == (200, 200)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Validate token request of Client(client_id='service-test'" in logged  # Authlib's
    assert _secret_digest(CLIENT_SECRET) not in logged
    assert "secret_digest" not in logged

"""Activation codes and device registration (``POST /ecps/device/register``)."""

from __future__ import annotations

import dataclasses
import stat
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pyotp
import pytest
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from santeid.db.backends import PostgresUnavailable
from santeid.directory.models import STATUS_INACTIVE
from santeid.ecps.pin import PinHasher
from santeid.ecps.pin import is_valid_pin
from santeid.ecps.service import ActivationError
from tests.support.ecps_phone import API
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone


def _body(code: str, **changes):
    key = ECKey.generate_key("P-256", private=True)
    body = {"activation_code": code, "public_jwk": key.as_dict(private=False), "pin": PIN}
    body.update(changes)
    return body


def test_activation_code_and_uri(ecps, national_id):
    activation = ecps.start_activation(national_id)
    assert len(activation.code) >= 22  # token_urlsafe(16): 128 bits
    parts = urlsplit(activation.uri)
    assert (parts.scheme, parts.netloc) == ("santeid-ecps", "activate")
    query = parse_qs(parts.query)
    assert query == {"server": ["http://localhost"], "code": [activation.code]}
    assert activation.expires_at - ecps.clock() == pytest.approx(90, abs=2)
    assert ecps.start_activation(national_id).code != activation.code
    # Only a digest of the code is in the store.
    assert ecps.activation_codes.get(activation.code)["national_id"] == national_id
    assert activation.code not in str(ecps.store._values)


def test_activation_refused_for_unknown_or_inactive_professional(app, ecps, national_id):
    with pytest.raises(ActivationError) as unknown:
        ecps.start_activation("899999999999")
    assert unknown.value.code == "unknown_professional"
    directory = app.extensions["santeid"].directory
    professional = directory.get(national_id)
    directory.upsert(dataclasses.replace(professional, status=STATUS_INACTIVE))
    with pytest.raises(ecps.ActivationError) as inactive:
        ecps.start_activation(national_id)
    assert inactive.value.code == "inactive_professional"


def test_register_good_code(any_store_app, national_id):
    client = any_store_app.test_client()
    ecps = any_store_app.extensions["santeid"].ecps
    activation = ecps.start_activation(national_id)
    body = _body(activation.code, name="Pixel de test")
    response = client.post(f"{API}/register", json=body)
    assert response.status_code == 201
    data = response.get_json()
    assert data["national_id"] == national_id
    assert data["server"] == "http://localhost"
    assert data["name"] == "Pixel de test"
    assert data["sandbox_enrolled"] is True
    assert pyotp.parse_uri(data["totp_uri"]).secret == data["totp_secret"]
    assert len(data["totp_secret"]) >= 32  # 160 bits of base32
    device = ecps.devices.get(data["device_id"])
    assert device.status == "active" and device.national_id == national_id
    assert device.public_jwk == body["public_jwk"]
    assert device.pin_hash.startswith("$argon2id$") and PIN not in device.pin_hash
    assert [d.device_id for d in ecps.devices.active_for(national_id)] == [device.device_id]

    # Single use: the same code again is recognised as used.
    again = client.post(f"{API}/register", json=_body(activation.code))
    assert again.status_code == 400
    assert again.mimetype == "application/problem+json"
    problem = again.get_json()
    assert problem["code"] == "activation_code_used"
    assert problem["type"] == "http://localhost/problems/activation_code_used"
    # The type resolves to the catalogue's description of the problem (RFC 9457 §3.1.1).
    described = client.get("/problems/activation_code_used").get_json()
    assert (described["status"], described["title"]) == (400, problem["title"])
    assert problem["status"] == 400 and problem["title"] and problem["detail"]


def test_register_expired_or_unknown_code(app, client, ecps, national_id):
    activation = ecps.start_activation(national_id)
    # Removed as the store's TTL would.
    assert ecps.activation_codes.delete(ecps.activation_codes.key(activation.code))
    expired = client.post(f"{API}/register", json=_body(activation.code))
    assert expired.status_code == 400
    assert expired.get_json()["code"] == "invalid_activation_code"
    unknown = client.post(f"{API}/register", json=_body("x" * 22))
    assert unknown.get_json()["code"] == "invalid_activation_code"


def test_activation_code_expires_with_its_ttl(settings, national_id):
    from santeid import create_app
    from santeid.storage import MemoryStore
    from tests.support.oidc_flow import sandbox_professional

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    app = create_app(settings, store=store)
    ecps = app.extensions["santeid"].ecps
    activation = ecps.start_activation(sandbox_professional(app))
    now[0] += settings.ecps.activation_code_lifetime + 1
    response = app.test_client().post(f"{API}/register", json=_body(activation.code))
    assert response.get_json()["code"] == "invalid_activation_code"


def test_pin_rules(client, ecps, national_id):
    activation = ecps.start_activation(national_id)
    for pin in ["123", "123456789", "12a4", " 1234", "1234 ", "", "١٢٣٤", 1234, None, "12.4"]:
        response = client.post(f"{API}/register", json=_body(activation.code, pin=pin))
        assert response.status_code == 400, pin
        assert response.get_json()["code"] == "invalid_pin"
    # A refused body does not burn the code.
    assert client.post(f"{API}/register", json=_body(activation.code)).status_code == 201
    for pin in ["0000", "0123", "12345678"]:
        assert is_valid_pin(pin)
        activation = ecps.start_activation(national_id)
        response = client.post(f"{API}/register", json=_body(activation.code, pin=pin))
        assert response.status_code == 201


def test_public_key_must_be_p256_public(client, ecps, national_id):
    refused = {
        "private-d": ECKey.generate_key("P-256", private=True).as_dict(private=True),
        "p384": ECKey.generate_key("P-384").as_dict(private=False),
        "rsa": RSAKey.generate_key(2048).as_dict(private=False),
        "bad-xy": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        "string": "not a jwk",
        "use-enc": {**ECKey.generate_key("P-256").as_dict(private=False), "use": "enc"},
        "alg-es384": {**ECKey.generate_key("P-256").as_dict(private=False), "alg": "ES384"},
    }
    activation = ecps.start_activation(national_id)
    for name, jwk in refused.items():
        response = client.post(f"{API}/register", json=_body(activation.code, public_jwk=jwk))
        assert response.status_code == 400, name
        assert response.get_json()["code"] == "invalid_public_key", name


def test_same_public_key_cannot_register_twice(client, ecps, national_id):
    key = ECKey.generate_key("P-256", private=True).as_dict(private=False)
    first = ecps.start_activation(national_id)
    assert client.post(f"{API}/register", json=_body(first.code, public_jwk=key)).status_code == 201
    second = ecps.start_activation(national_id)
    response = client.post(f"{API}/register", json=_body(second.code, public_jwk=key))
    assert response.status_code == 409
    assert response.get_json()["code"] == "public_key_in_use"


class _DownDevices:
    """The device repository with its database down for writes while ``down`` is true."""

    def __init__(self, devices) -> None:
        self._devices = devices
        self.down = True

    def create(self, **fields):
        if self.down:
            raise PostgresUnavailable("connection to server failed: Connection refused")
        return self._devices.create(**fields)

    def __getattr__(self, name):
        return getattr(self._devices, name)


def test_database_outage_while_registering_does_not_burn_the_code(
    client, ecps, national_id, monkeypatch
):
    activation = ecps.start_activation(national_id)
    devices = _DownDevices(ecps.devices)
    monkeypatch.setattr(ecps, "devices", devices)
    body = _body(activation.code)
    response = client.post(f"{API}/register", json=body)
    assert response.status_code == 503
    assert response.get_json()["code"] == "temporarily_unavailable"
    assert ecps.activation_codes.get(activation.code).state == "issued"
    devices.down = False
    again = client.post(f"{API}/register", json=body)
    assert again.status_code == 201
    assert again.get_json()["national_id"] == national_id
    used = client.post(f"{API}/register", json=_body(activation.code))
    assert used.get_json()["code"] == "activation_code_used"


def test_professional_deactivated_before_registration(app, client, ecps, national_id):
    activation = ecps.start_activation(national_id)
    directory = app.extensions["santeid"].directory
    directory.upsert(dataclasses.replace(directory.get(national_id), status=STATUS_INACTIVE))
    response = client.post(f"{API}/register", json=_body(activation.code))
    assert response.status_code == 403
    assert response.get_json()["code"] == "professional_inactive"


def test_register_malformed_body(client):
    for body in (None, [], "text", {"pin": PIN}):
        response = client.post(f"{API}/register", json=body)
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "invalid_request"


def test_register_refuses_unsafe_webhook(client, ecps, national_id):
    activation = ecps.start_activation(national_id)
    response = client.post(
        f"{API}/register",
        json=_body(activation.code, webhook_url="https://169.254.169.254/latest/meta-data"),
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_webhook_url"


def test_no_webhook_host_is_resolved_without_a_live_activation_code(
    app, client, ecps, national_id, monkeypatch
):
    """Only a code that can still be redeemed lets the server look the webhook's host up: an
    unknown, used or expired code is answered before any DNS lookup."""
    import socket

    from santeid.ecps import webhooks

    looked_up: list[str] = []

    def resolve(host, *args, **kwargs):
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
    hook = "https://chosen-by-the-caller.example/hook"
    unknown = client.post(f"{API}/register", json=_body("x" * 22, webhook_url=hook))
    assert unknown.get_json()["code"] == "invalid_activation_code"
    used = ecps.start_activation(national_id)
    assert client.post(f"{API}/register", json=_body(used.code)).status_code == 201
    again = client.post(f"{API}/register", json=_body(used.code, webhook_url=hook))
    assert again.get_json()["code"] == "activation_code_used"
    expired = ecps.start_activation(national_id)
    assert ecps.activation_codes.delete(ecps.activation_codes.key(expired.code))
    gone = client.post(f"{API}/register", json=_body(expired.code, webhook_url=hook))
    assert gone.get_json()["code"] == "invalid_activation_code"
    assert looked_up == []
    # A live code: the host is resolved (and the code is not burnt by a refused webhook).
    live = ecps.start_activation(national_id)
    registered = client.post(f"{API}/register", json=_body(live.code, webhook_url=hook))
    assert registered.status_code == 201, registered.get_json()
    assert looked_up == ["chosen-by-the-caller.example"]


def test_real_pin_hash_parameters():
    hasher = PinHasher()
    stored = hasher.hash("4321")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(stored, "4321")
    assert not hasher.verify(stored, "4322")
    assert not hasher.verify("garbage", "4321")
    assert not hasher.needs_rehash(stored)
    assert PinHasher(time_cost=1, memory_cost=8).needs_rehash(stored)


def test_device_database_is_sqlite_wal(app, phone, settings):
    import sqlite3

    path = settings.data_path / "ecps.sqlite3"
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM devices").fetchone()[0] == 1
    assert not stat.S_ISDIR(path.stat().st_mode)


def test_two_phones_for_one_professional(app, client, national_id, phone):
    second = Phone.register(app, client, national_id)
    ecps = app.extensions["santeid"].ecps
    assert {d.device_id for d in ecps.devices.active_for(national_id)} == {
        phone.device_id,
        second.device_id,
    }

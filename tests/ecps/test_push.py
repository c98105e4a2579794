"""Web Push to the e-CPS app (``santeid.ecps.push``) against a local receiver standing in for
the browser's push service: it checks the VAPID signature (RFC 8292) with the key the app
subscribed with, and decrypts the message (RFC 8291, ``aes128gcm``) with the subscription's
keys, as the browser would. The subscription goes when the device is revoked, or when the push
service says it is gone (RFC 8030 §7.3)."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import os
import threading
import time
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from santeid.ecps.push import PushNotifier
from tests.support.ecps_phone import API


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushService:
    """A push service on 127.0.0.1 recording each message (RFC 8030 §5), answering
    ``status``."""

    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.received
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """The browser side of a subscription: its P-256 key and auth secret (RFC 8291 §3)."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": _b64(public), "auth": _b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


def _subscribe(phone, subscription: dict, lang: str = "fr"):
    return phone.client.post(
        f"{API}/push", json={"subscription": subscription, "lang": lang}, headers=phone.auth()
    )


def _vapid_claims(authorization: str, public_key: str) -> dict:
    """Check ``Authorization: vapid t=<JWT>, k=<key>`` (RFC 8292 §3) and return the claims."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    point = _unb64(fields["k"])
    assert len(point) == 65 and point[0] == 4
    key = ECKey.import_key(
        {"kty": "EC", "crv": "P-256", "x": _b64(point[1:33]), "y": _b64(point[33:])}
    )
    token = jwt.decode(fields["t"], key, algorithms=["ES256"])  # raises on a bad signature
    assert token.header["alg"] == "ES256"
    return token.claims


def test_a_new_request_is_pushed_signed_and_encrypted(phone, ecps, national_id, push_service):
    config = phone.client.get(f"{API}/push", headers=phone.auth()).get_json()
    assert config["subscribed"] is False
    browser = Browser(f"{push_service.origin}/wpush/v2/abc?relay=1")
    answer = _subscribe(phone, browser.subscription)
    assert answer.status_code == 200 and answer.get_json()["subscribed"] is True

    request = ecps.create_browser_request(national_id, client_name="Service de test")
    (message,) = push_service.wait_for(1)
    assert message["path"] == "/wpush/v2/abc?relay=1"
    headers = message["headers"]
    assert headers["Content-Encoding"] == "aes128gcm"
    assert headers["Urgency"] == "high"
    assert 0 < int(headers["TTL"]) <= ecps.settings.ecps.request_lifetime
    claims = _vapid_claims(headers["Authorization"], config["vapid_public_key"])
    assert claims["aud"] == push_service.origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith("mailto:")

    payload = browser.decrypt(message["body"])
    assert payload == {
        "request_id": request.request_id,
        "title": "Demande de connexion e-CPS",
        "body": "Service de test demande votre validation.",
    }
    # Only this browser can read it: another subscription's keys cannot.
    with pytest.raises(Exception):  # noqa: B017, PT011 — http_ece raises several kinds
        Browser(push_service.origin).decrypt(message["body"])


def test_revoking_the_device_removes_its_subscription(phone, ecps, national_id, push_service):
    assert _subscribe(phone, Browser(f"{push_service.origin}/s").subscription).status_code == 200
    assert ecps.push_subscriptions.get(phone.device_id) is not None
    ecps.revoke_device(phone.device_id)
    assert ecps.push_subscriptions.get(phone.device_id) is None
    ecps.create_browser_request(national_id, client_name="Service de test")
    ecps.push.shutdown(wait=True)  # everything submitted has been sent
    assert push_service.received == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_forgotten_and_logged(
    phone, ecps, national_id, push_service, caplog, status
):
    """RFC 8030 §7.3: the push service says the subscription is gone; it is deleted, and the
    log says so, naming the device but not the endpoint (a capability URL)."""
    push_service.status = status
    secret_path = "/wpush/v2/gAAAAABsecretcapability"
    _subscribe(phone, Browser(f"{push_service.origin}{secret_path}").subscription, lang="en")
    with caplog.at_level(logging.INFO, logger="santeid.ecps.push"):
        ecps.create_ciba_request(
            national_id, client_name="Logiciel", binding_message="12", expires_in=60
        )
        push_service.wait_for(1)
        ecps.push.shutdown(wait=True)
    assert ecps.push_subscriptions.get(phone.device_id) is None
    [line] = [r.getMessage() for r in caplog.records if r.name == "santeid.ecps.push"]
    assert phone.device_id in line and str(status) in line and "removed" in line
    assert secret_path not in caplog.text and "gAAAAABsecret" not in caplog.text


def test_english_subscription_gets_english_text(phone, ecps, national_id, push_service):
    browser = Browser(f"{push_service.origin}/s")
    _subscribe(phone, browser.subscription, lang="en")
    ecps.create_browser_request(national_id, client_name="RP")
    (message,) = push_service.wait_for(1)
    assert browser.decrypt(message["body"])["title"] == "e-CPS login request"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"endpoint": "https://10.0.0.1/push"}, "not allowed"),
        ({"endpoint": "ftp://127.0.0.1/push"}, "not allowed"),
        ({"endpoint": "http://127.0.0.1:9/s\x00t"}, "U+0000 cannot appear in a URL"),
        ({"endpoint": "http://127.0.0.1:9/s t"}, "U+0020 cannot appear in a URL"),
        ({"keys": {"p256dh": "AAAA", "auth": _b64(os.urandom(16))}}, "p256dh"),
        ({"keys": None}, "keys"),
    ],
)
def test_bad_subscriptions_are_refused(phone, ecps, change, detail):
    subscription = {**Browser("http://127.0.0.1:9/s").subscription, **change}
    response = _subscribe(phone, subscription)
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["code"] == "invalid_request" and detail in problem["detail"]
    assert ecps.push_subscriptions.get(phone.device_id) is None


def test_short_auth_secret_is_refused(phone):
    subscription = Browser("http://127.0.0.1:9/s").subscription
    subscription["keys"]["auth"] = _b64(os.urandom(8))
    response = _subscribe(phone, subscription)
    assert response.status_code == 400 and "auth" in response.get_json()["detail"]


def test_unsubscribe_and_the_vapid_key_is_stable(phone, ecps, settings):
    _subscribe(phone, Browser("http://127.0.0.1:9/s").subscription)
    first = phone.client.get(f"{API}/push", headers=phone.auth()).get_json()
    gone = phone.client.delete(f"{API}/push", headers=phone.auth()).get_json()
    assert gone["subscribed"] is False and gone["vapid_public_key"] == first["vapid_public_key"]
    path = settings.keys_path / "vapid-private.pem"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_without_a_place_for_the_vapid_key_push_is_off(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    notifier = PushNotifier(blocker / "keys", contact="mailto:x@example.org", sandbox=True)
    assert notifier.prepare() is False
    assert notifier.public_key is None
    assert "Web Push disabled" in caplog.text
    notifier.notify([object()], object())  # nothing sent, nothing raised
    notifier.shutdown(wait=True)

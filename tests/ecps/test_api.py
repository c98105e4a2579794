"""Device authentication (Bearer device JWT), listing and waiting for requests, ``/me``,
``/webhook`` and the error format of the device API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time

import pytest
from joserfc.jwk import ECKey

from tests.support.ecps_phone import API
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import DownStore
from tests.support.ecps_phone import Phone


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code
    # The one catalogue's scheme: {issuer origin}/problems/{code}, served by santeid.
    assert problem["type"].endswith("://localhost/problems/" + code), problem["type"]
    return problem


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- device token -------------------------------------------------------------------------
def test_me(phone, national_id):
    response = phone.me()
    assert response.status_code == 200
    info = response.get_json()
    assert info["device_id"] == phone.device_id
    assert info["national_id"] == national_id
    assert info["status"] == "active"
    assert info["remaining_pin_attempts"] == 3
    assert "pin_hash" not in info and "totp_secret" not in info
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_token(client):
    response = client.get(f"{API}/me")
    _problem(response, 401, "missing_token")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="santeid-ecps"'
    _problem(client.get(f"{API}/me", headers={"Authorization": "Basic abc"}), 401, "missing_token")


def test_malformed_token(client, phone):
    response = client.get(f"{API}/me", headers={"Authorization": "Bearer not-a-jwt"})
    _problem(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        # docs/ecps-device-protocol.md §2: the order the refusals are checked in.
        ({"aud": "http://elsewhere", "iat": None}, "invalid_audience"),
        ({"iss": "someone-else", "aud": "http://elsewhere"}, "invalid_issuer"),
        ({"iat": 1, "exp": 2, "jti": None}, "token_expired"),
        ({"exp": None, "jti": None}, "invalid_token"),
    ],
)
def test_device_token_refusals_come_in_the_documented_order(client, phone, claims, code):
    headers = {"Authorization": f"Bearer {phone.token(**claims)}"}
    _problem(client.get(f"{API}/me", headers=headers), 401, code)


def test_alg_none_and_hs256_refused(client, phone):
    claims = json.loads(base64.urlsafe_b64decode(phone.token().split(".")[1] + "==").decode())
    header = {"alg": "none", "kid": phone.device_id}
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
    response = client.get(f"{API}/me", headers={"Authorization": f"Bearer {unsigned}"})
    _problem(response, 401, "invalid_token")
    # HS256 with the public key as the secret (the classic algorithm confusion).
    header = {"alg": "HS256", "kid": phone.device_id}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    secret = json.dumps(phone.registered).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(mac)}"
    _problem(
        client.get(f"{API}/me", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token"
    )


def test_unknown_device(client, phone):
    _problem(phone.me(kid="00000000-0000-4000-8000-000000000000"), 401, "unknown_device")


def test_other_devices_key_is_a_bad_signature(app, client, phone, national_id):
    other = Phone.register(app, client, national_id)
    _problem(phone.me(key=other.key), 401, "bad_signature")
    _problem(phone.me(key=ECKey.generate_key("P-256", private=True)), 401, "bad_signature")


def test_claims_checked(phone):
    now = int(time.time())
    _problem(phone.me(aud="https://elsewhere.example"), 401, "invalid_audience")
    _problem(phone.me(iss="someone-else"), 401, "invalid_issuer")
    _problem(phone.me(iat=now - 120, exp=now - 60), 401, "token_expired")
    _problem(phone.me(iat=now + 60, exp=now + 90), 401, "token_not_yet_valid")
    _problem(phone.me(iat=now, exp=now + 61), 401, "token_lifetime_too_long")
    _problem(phone.me(iat="yesterday"), 401, "invalid_token")
    assert phone.me(aud=["http://localhost", "other"]).status_code == 200
    # Small clock skew is tolerated.
    assert phone.me(iat=now + 3, exp=now + 30).status_code == 200


def test_replayed_token(client, phone):
    headers = phone.auth()
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    _problem(client.get(f"{API}/me", headers=headers), 401, "replayed_token")
    _problem(phone.me(jti=""), 401, "invalid_token")


def test_revoked_device(ecps, phone):
    assert ecps.revoke_device(phone.device_id)
    _problem(phone.pending(), 403, "device_revoked")
    # /me still answers, so the app can explain.
    assert phone.me().get_json()["status"] == "revoked"
    assert not ecps.revoke_device(phone.device_id)


def test_locked_device(ecps, phone):
    for _ in range(3):
        ecps.devices.record_wrong_pin(phone.device_id, 3)
    _problem(phone.pending(), 403, "device_locked")
    info = phone.me().get_json()
    assert info["status"] == "locked" and info["remaining_pin_attempts"] == 0


# -- listing ------------------------------------------------------------------------------
def test_pending_lists_browser_and_ciba_requests(
    ecps, phone, national_id, other_national_id, monkeypatch
):
    # Two pending at once (the default keeps one, as the PSC application shows).
    monkeypatch.setattr(ecps.settings.ecps, "max_pending_requests", 2)
    browser = ecps.create_browser_request(
        national_id, client_name="Service A", client_id="svc-a", requested_from="192.0.2.7"
    )
    ciba = ecps.create_ciba_request(
        national_id, client_name="Service B", binding_message="42", expires_in=60
    )
    ecps.create_browser_request(other_national_id, client_name="Not mine")
    response = phone.pending()
    assert response.status_code == 200
    items = response.get_json()["requests"]
    assert {i["request_id"] for i in items} == {browser.request_id, ciba.request_id}
    by_id = {i["request_id"]: i for i in items}
    shown = by_id[browser.request_id]
    assert shown["kind"] == "browser" and shown["client_name"] == "Service A"
    assert shown["client_id"] == "svc-a" and shown["requested_from"] == "192.0.2.7"
    assert len(shown["candidates"]) == 3 and len(set(shown["candidates"])) == 3
    assert browser.code in shown["candidates"]
    assert all(len(c) == 2 and c.isdigit() for c in shown["candidates"])
    assert "code" not in shown
    # Sandbox server, device enrolled in sandbox: the hint is there.
    assert shown["sandbox_expected_code"] == browser.code
    assert shown["expires_at"] == browser.expires_at
    assert by_id[ciba.request_id]["binding_message"] == "42"
    assert "candidates" not in by_id[ciba.request_id]
    assert "sandbox_expected_code" not in by_id[ciba.request_id]


def test_no_sandbox_hint_for_a_device_enrolled_outside_sandbox(ecps, phone, national_id):
    ecps.devices._run(
        "UPDATE devices SET sandbox_enrolled = 0 WHERE device_id = ?", (phone.device_id,)
    )
    ecps.create_browser_request(national_id, client_name="Service A")
    (item,) = phone.pending().get_json()["requests"]
    assert "sandbox_expected_code" not in item


def test_no_sandbox_hint_when_server_is_not_in_sandbox(ecps, phone, national_id):
    ecps.settings = ecps.settings.replace(sandbox=False)
    ecps.create_browser_request(national_id, client_name="Service A")
    (item,) = phone.pending().get_json()["requests"]
    assert "sandbox_expected_code" not in item


def test_decided_cancelled_and_expired_requests_are_not_listed(ecps, phone, national_id):
    cancelled = ecps.create_browser_request(national_id, client_name="A")
    ecps.cancel_request(cancelled.request_id)
    assert ecps.get_request(cancelled.request_id).status == "failed"
    assert ecps.get_request(cancelled.request_id).failure == "cancelled"
    expired = ecps.create_browser_request(national_id, client_name="B")
    ecps.store.update(f"ecps:req:{expired.request_id}", {"expires_at": int(time.time()) - 1})
    assert ecps.get_request(expired.request_id).status == "expired"
    live = ecps.create_browser_request(national_id, client_name="C")
    items = phone.pending().get_json()["requests"]
    assert [i["request_id"] for i in items] == [live.request_id]


def test_long_poll_returns_when_a_request_appears(app, ecps, phone, national_id):
    created = {}

    def later():
        time.sleep(0.6)
        created["request"] = ecps.create_browser_request(national_id, client_name="Later")

    thread = threading.Thread(target=later)
    started = time.monotonic()
    thread.start()
    response = phone.pending(wait=10)  # capped at ecps_long_poll (2 s in these tests)
    elapsed = time.monotonic() - started
    thread.join()
    items = response.get_json()["requests"]
    assert [i["request_id"] for i in items] == [created["request"].request_id]
    assert 0.5 < elapsed < 1.8


def test_long_poll_times_out_empty(phone):
    started = time.monotonic()
    response = phone.pending(wait=1)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.get_json()["requests"] == []
    assert 0.9 < elapsed < 1.8
    started = time.monotonic()
    assert phone.pending(wait=30).get_json()["requests"] == []
    assert time.monotonic() - started < 2.8  # capped at ecps_long_poll = 2


def test_long_poll_bad_wait(phone):
    for wait in ("abc", "-1", "nan"):
        _problem(phone.pending(wait=wait), 400, "invalid_request")


def test_long_poll_on_both_stores(any_store_app):
    from tests.support.oidc_flow import sandbox_professional

    client = any_store_app.test_client()
    national_id = sandbox_professional(any_store_app)
    device = Phone.register(any_store_app, client, national_id)
    ecps = any_store_app.extensions["santeid"].ecps
    timer = threading.Timer(
        0.4, lambda: ecps.create_browser_request(national_id, client_name="Later")
    )
    timer.start()
    try:
        items = device.pending(wait=2).get_json()["requests"]
    finally:
        timer.join()
    assert len(items) == 1


def _events(response, limit: float = 5.0):
    """Parse an SSE body as it arrives: yields (event, data) pairs."""
    buffer = ""
    deadline = time.monotonic() + limit
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
            )
            if "event" in fields:
                yield fields["event"], json.loads(fields["data"]), fields.get("id")
        if time.monotonic() > deadline:
            return


def test_stream_yields_requests_and_withdrawals(ecps, phone, national_id):
    first = ecps.create_browser_request(national_id, client_name="Already there")
    response = phone.client.get(f"{API}/requests/stream", headers=phone.auth(), buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = _events(response)
    event, data, event_id = next(events)
    assert (event, data["request_id"], event_id) == ("request", first.request_id, first.request_id)
    assert data["candidates"] and "code" not in data
    second = ecps.create_ciba_request(
        national_id, client_name="CIBA", binding_message="07", expires_in=30
    )
    event, data, _ = next(events)
    assert (event, data["request_id"], data["binding_message"]) == (
        "request",
        second.request_id,
        "07",
    )
    ecps.cancel_request(first.request_id)
    event, data, _ = next(events)
    assert (event, data) == ("withdrawn", {"request_id": first.request_id})
    response.close()


def _end_device(ecps, device_id: str, ending: str) -> None:
    """Revoke the device, or lock it the way wrong PINs do."""
    if ending == "revoked":
        ecps.revoke_device(device_id)
    else:
        attempts = ecps.settings.ecps.pin_attempts
        for _ in range(attempts):
            ecps.devices.record_wrong_pin(device_id, attempts)
    assert ecps.devices.get(device_id).status == ending


@pytest.mark.parametrize("ending", ["revoked", "locked"])
def test_stream_ends(ecps, phone, national_id, ending):
    response = phone.client.get(f"{API}/requests/stream", headers=phone.auth(), buffered=False)
    _end_device(ecps, phone.device_id, ending)
    ecps.create_browser_request(national_id, client_name="After the end")
    events = list(_events(response))
    assert events == [("end", {"reason": "device_inactive"}, None)]


@pytest.mark.parametrize("ending", ["revoked", "locked"])
def test_a_long_poll_ends_when_its_device_is_revoked_or_locked(ecps, phone, national_id, ending):
    """The stream's rule for the long poll too (docs/ecps-device-protocol.md §3): the device
    is read again at each look, and a device no longer active gets its problem, never the
    request that arrives next."""

    def later():
        time.sleep(0.5)
        _end_device(ecps, phone.device_id, ending)
        ecps.create_browser_request(national_id, client_name="After the end")

    thread = threading.Thread(target=later)
    thread.start()
    response = phone.pending(wait=2)
    thread.join()
    _problem(response, 403, f"device_{ending}")
    assert b"After the end" not in response.get_data()


@pytest.mark.parametrize("method", ["head", "get"])
def test_a_stream_closed_before_its_first_event_frees_its_wait_slot(phone, method):
    """The server closes the response without reading its body (a HEAD request, or a client
    gone before the first event): the device's wait slots are free again at once."""
    for _ in range(2):  # ecps_waits_per_device
        answer = getattr(phone.client, method)(
            f"{API}/requests/stream", headers=phone.auth(), buffered=False
        )
        assert answer.status_code == 200
        answer.close()  # what the WSGI server does once the answer is sent
    assert phone.pending(wait=0.1).status_code == 200


def test_stream_needs_a_device(client):
    _problem(client.get(f"{API}/requests/stream"), 401, "missing_token")


# -- webhook setting ------------------------------------------------------------------------
def test_set_and_clear_webhook(client, phone):
    url = f"{API}/webhook"
    response = client.post(
        url, json={"webhook_url": "http://127.0.0.1:9/hook"}, headers=phone.auth()
    )
    assert response.status_code == 200
    assert response.get_json()["webhook_url"] == "http://127.0.0.1:9/hook"
    refused = client.post(url, json={"webhook_url": "http://10.0.0.1/"}, headers=phone.auth())
    _problem(refused, 400, "invalid_webhook_url")
    cleared = client.post(url, json={"webhook_url": None}, headers=phone.auth())
    assert cleared.get_json()["webhook_url"] is None
    _problem(client.post(url, json={}, headers=phone.auth()), 400, "invalid_request")


# -- errors are problems, never HTML ---------------------------------------------------------
def test_unknown_path_and_wrong_method_are_problems(client):
    _problem(client.get(f"{API}/nothing-here"), 404, "not_found")
    response = client.get(f"{API}/register")
    _problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_body_too_large_is_a_problem(client):
    response = client.post(
        f"{API}/register", data=b"x" * (300 * 1024), content_type="application/json"
    )
    _problem(response, 413, "payload_too_large")


def test_store_outage_is_a_problem(app, phone):

    ecps = app.extensions["santeid"].ecps

    ecps.store = DownStore()
    response = phone.me()
    _problem(response, 503, "temporarily_unavailable")
    assert response.headers["Retry-After"] == "5"


def test_pin_never_in_responses(client, phone, ecps, national_id):
    request = ecps.create_browser_request(national_id, client_name="A")
    response = phone.decide(request.request_id, code=request.code)
    assert PIN not in response.get_data(as_text=True)


def test_stream_ends_after_its_lifetime(monkeypatch, phone):
    import santeid.ecps.api as api

    monkeypatch.setattr(api, "STREAM_LIFETIME_FACTOR", 0.5)  # 1 s with ecps_long_poll = 2
    started = time.monotonic()
    response = phone.client.get(f"{API}/requests/stream", headers=phone.auth(), buffered=False)
    events = list(_events(response))
    assert events == [("end", {"reason": "timeout"}, None)]
    assert time.monotonic() - started < 3


# -- the server's time in every answer (protocol §2) ---------------------------------------
def test_registration_and_every_problem_carry_the_server_time(client, phone, ecps):
    """A phone whose clock is ahead or behind learns the server's time from any answer, the
    registration and the refusal of its device token included, and corrects its clock."""
    # Bounds read from the server's clock around the answers, not a second taken once: an
    # answer may fall on either side of a second boundary.
    before = int(ecps.clock())
    # The registration answered during this test's set-up, a moment ago.
    assert before - 60 <= phone.registered["server_time"] <= before
    now = int(time.time())
    answers = (
        (phone.me(iat=now + 60, exp=now + 90), 401, "token_not_yet_valid"),
        (phone.me(iat=now - 120, exp=now - 60), 401, "token_expired"),
        (client.get(f"{API}/me"), 401, "missing_token"),
        (client.get(f"{API}/nothing-here"), 404, "not_found"),
        (client.post(f"{API}/register", json={"activation_code": "x"}), 400, None),
    )
    after = int(ecps.clock())
    for response, status, code in answers:
        problem = response.get_json()
        assert response.status_code == status, problem
        assert code is None or problem["code"] == code
        assert before <= problem["server_time"] <= after, problem


def test_the_sandbox_control_api_problems_keep_their_members(client):
    problem = client.get("/sandbox/api/nothing-here").get_json()
    assert problem["code"] == "not_found"
    assert "server_time" not in problem

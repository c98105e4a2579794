"""The decision JWT: approvals, denials and every distinct refusal."""

from __future__ import annotations

import threading
import time

import pytest
from joserfc.jwk import ECKey

from santeid import create_app
from santeid.settings.base import MAX_COUNT
from santeid.storage import MemoryStore
from tests.support.ecps_phone import CHEAP_PINS
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone
from tests.support.oidc_flow import sandbox_professional


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code
    return problem


@pytest.fixture
def browser(ecps, national_id):
    return ecps.create_browser_request(national_id, client_name="Service de test")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 100:02d}"


def test_approve_on_both_stores(any_store_app):
    client = any_store_app.test_client()
    national_id = sandbox_professional(any_store_app)
    device = Phone.register(any_store_app, client, national_id)
    ecps = any_store_app.extensions["santeid"].ecps
    request = ecps.create_browser_request(national_id, client_name="RP")
    response = device.decide(request.request_id, code=request.code)
    assert response.status_code == 200
    assert response.get_json() == {"request_id": request.request_id, "status": "approved"}
    decided = ecps.get_request(request.request_id)
    assert decided.status == "approved"
    assert decided.device_id == device.device_id
    assert decided.amr == ["swk", "pin", "mfa"]
    assert ecps.devices.get(device.device_id).last_used_at is not None
    # Decided once.
    again = device.decide(request.request_id, code=request.code)
    _problem(again, 409, "request_not_pending")


def test_deny_on_both_stores(any_store_app):
    client = any_store_app.test_client()
    national_id = sandbox_professional(any_store_app)
    device = Phone.register(any_store_app, client, national_id)
    ecps = any_store_app.extensions["santeid"].ecps
    request = ecps.create_browser_request(national_id, client_name="RP")
    response = device.decide(request.request_id, "deny")
    assert response.get_json() == {"request_id": request.request_id, "status": "denied"}
    assert ecps.get_request(request.request_id).status == "denied"


def test_deny_needs_the_pin_too(phone, ecps, browser):
    _problem(phone.decide(browser.request_id, "deny", pin="0000"), 403, "wrong_pin")
    assert ecps.get_request(browser.request_id).status == "pending"


def test_decision_as_json_body(phone, ecps, browser):
    token = phone.decision(browser.request_id, code=browser.code)
    response = phone.post_decision(browser.request_id, token, as_json=True)
    assert response.get_json()["status"] == "approved"


def test_decision_body_formats_refused(client, phone, browser):
    url = f"/ecps/device/requests/{browser.request_id}/decision"
    _problem(client.post(url, data="x", content_type="application/xml"), 400, "invalid_request")
    _problem(client.post(url, json={"decision": 3}), 400, "invalid_request")


def test_a_decision_body_with_a_member_twice_is_refused_naming_it(client, phone, ecps, browser):
    token = phone.decision(browser.request_id, code=browser.code)
    url = f"/ecps/device/requests/{browser.request_id}/decision"
    raw = f'{{"decision": "{token}", "decision": "{token}"}}'
    response = client.post(url, data=raw, content_type="application/json")
    problem = _problem(response, 400, "invalid_request")
    assert "'decision' appears more than once" in problem["detail"]
    assert ecps.get_request(browser.request_id).status == "pending"


def test_ciba_approval_needs_no_code(phone, ecps, national_id):
    request = ecps.create_ciba_request(
        national_id, client_name="CIBA RP", binding_message="12", expires_in=60
    )
    response = phone.decide(request.request_id)
    assert response.get_json()["status"] == "approved"
    assert ecps.get_request(request.request_id).amr == ["swk", "pin", "mfa"]


def test_malformed_and_bad_signature(app, client, phone, browser, national_id):
    _problem(phone.post_decision(browser.request_id, "garbage"), 401, "invalid_token")
    other = Phone.register(app, client, national_id)
    forged = phone.decision(browser.request_id, code=browser.code, key=other.key)
    _problem(phone.post_decision(browser.request_id, forged), 401, "bad_signature")
    stranger = phone.decision(browser.request_id, key=ECKey.generate_key("P-256", private=True))
    _problem(phone.post_decision(browser.request_id, stranger), 401, "bad_signature")


def test_unknown_device(phone, browser):
    token = phone.decision(browser.request_id, kid="1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b")
    _problem(phone.post_decision(browser.request_id, token), 401, "unknown_device")


def test_revoked_and_locked_devices(ecps, phone, browser):
    ecps.revoke_device(phone.device_id)
    _problem(phone.decide(browser.request_id, code=browser.code), 403, "device_revoked")


def test_locked_device_refused(ecps, phone, browser):
    for _ in range(3):
        ecps.devices.record_wrong_pin(phone.device_id, 3)
    _problem(phone.decide(browser.request_id, code=browser.code), 403, "device_locked")


def test_bad_claims(phone, browser):
    cases = [
        ({"decision": "maybe"}, 400, "invalid_decision"),
        ({"pin": 1234}, 400, "invalid_decision"),
        ({"code": 7}, 400, "invalid_decision"),
        ({"iat": "now"}, 400, "invalid_decision"),
        ({"jti": 5}, 400, "invalid_decision"),
        ({"aud": "https://other.example"}, 401, "invalid_audience"),
        ({"iss": "someone"}, 401, "invalid_issuer"),
    ]
    for claims, status, code in cases:
        token = phone.decision(browser.request_id, **{"code": browser.code, **claims})
        _problem(phone.post_decision(browser.request_id, token), status, code)


def test_missing_pin_claim(phone, browser):
    token = phone.decision(browser.request_id, code=browser.code, pin=None)
    _problem(phone.post_decision(browser.request_id, token), 400, "invalid_decision")


def test_request_mismatch(phone, ecps, browser, national_id):
    other = ecps.create_browser_request(national_id, client_name="B")
    token = phone.decision(other.request_id, code=other.code)
    _problem(phone.post_decision(browser.request_id, token), 400, "request_mismatch")


def test_stale_and_future_decisions(phone, browser):
    now = int(time.time())
    old = phone.decision(browser.request_id, code=browser.code, iat=now - 61)
    _problem(phone.post_decision(browser.request_id, old), 400, "stale_decision")
    future = phone.decision(browser.request_id, code=browser.code, iat=now + 30)
    _problem(phone.post_decision(browser.request_id, future), 400, "stale_decision")
    recent = phone.decision(browser.request_id, code=browser.code, iat=now - 50)
    assert phone.post_decision(browser.request_id, recent).status_code == 200


def test_replayed_jti(phone, ecps, browser, national_id):
    token = phone.decision(browser.request_id, "deny", pin="9999", jti="same")
    _problem(phone.post_decision(browser.request_id, token), 403, "wrong_pin")
    _problem(phone.post_decision(browser.request_id, token), 409, "replayed_decision")


def test_unknown_request(phone):
    request_id = "A" * 32
    _problem(phone.decide(request_id, code="00"), 404, "unknown_request")
    _problem(phone.decide("short", code="00"), 404, "unknown_request")


def test_decided_request(phone, ecps, browser):
    ecps.cancel_request(browser.request_id)
    problem = _problem(
        phone.decide(browser.request_id, code=browser.code), 409, "request_not_pending"
    )
    assert "failed" in problem["detail"]


def test_expired_request(phone, ecps, browser):
    ecps.store.update(f"ecps:req:{browser.request_id}", {"expires_at": int(time.time()) - 1})
    _problem(phone.decide(browser.request_id, code=browser.code), 410, "request_expired")
    assert ecps.get_request(browser.request_id).status == "expired"


@pytest.mark.parametrize("decision", ["approve", "deny", "wrong code"])
def test_a_request_expiring_during_the_pin_check_is_not_decided(phone, ecps, browser, decision):
    """The expiry is checked before the PIN, and the PIN check takes a while (Argon2): the
    request expires meanwhile, and the compare-and-set that would decide it refuses."""
    ahead = [0.0]

    def clock() -> float:
        return time.time() + ahead[0]

    ecps.requests.clock = ecps.requests.records.clock = clock
    real = ecps.pins

    class SlowPins:
        def verify(self, stored, pin):
            ahead[0] = browser.expires_at - time.time() + 1  # the expiry passes
            return real.verify(stored, pin)

        def __getattr__(self, name):
            return getattr(real, name)

    ecps.pins = SlowPins()
    decided = []
    ecps.on_request_decided(decided.append)
    code = _wrong(browser.code) if decision == "wrong code" else browser.code
    verb = "deny" if decision == "deny" else "approve"
    _problem(phone.decide(browser.request_id, verb, code=code), 410, "request_expired")
    request = ecps.get_request(browser.request_id)
    assert (request.status, request.device_id, request.amr) == ("expired", None, None)
    assert request.raw["status"] == "pending" and decided == []


def test_a_request_made_to_expire_after_it_was_read_is_not_decided(ecps, browser):
    """``expire_now`` (the sandbox) between the read and the compare-and-set: the decision
    made with the request as read before does not win."""
    assert ecps.requests.expire_now(browser.request_id) is not None
    decided = ecps.requests.decide(
        browser.request_id, {"status": "approved", "amr": ["swk"]}, current=browser
    )
    assert decided is None
    assert ecps.get_request(browser.request_id).status == "expired"


def test_other_professionals_request(phone, ecps, other_national_id):
    request = ecps.create_browser_request(other_national_id, client_name="Not yours")
    _problem(phone.decide(request.request_id, code=request.code), 403, "foreign_request")
    assert ecps.get_request(request.request_id).status == "pending"


def test_wrong_pin_three_times_locks(phone, ecps, browser):
    first = _problem(
        phone.decide(browser.request_id, pin="1111", code=browser.code), 403, "wrong_pin"
    )
    assert first["remaining_attempts"] == 2
    second = _problem(
        phone.decide(browser.request_id, pin="2222", code=browser.code), 403, "wrong_pin"
    )
    assert second["remaining_attempts"] == 1
    assert ecps.get_request(browser.request_id).status == "pending"
    third = _problem(
        phone.decide(browser.request_id, pin="3333", code=browser.code), 403, "pin_locked"
    )
    assert third["remaining_attempts"] == 0
    device = ecps.devices.get(phone.device_id)
    assert device.status == "locked"
    request = ecps.get_request(browser.request_id)
    assert (request.status, request.failure) == ("failed", "pin_locked")
    # Locked for good: even the right PIN is refused, and the device is not offered logins.
    later = ecps.create_browser_request(phone.national_id, client_name="Later")
    _problem(phone.decide(later.request_id, code=later.code), 403, "device_locked")
    assert ecps.devices.active_for(phone.national_id) == []


def _wrong_pin_under_the_most_attempts(settings) -> None:
    app = create_app(settings.replace(ecps_pin_attempts=MAX_COUNT), store=MemoryStore())
    ecps = app.extensions["santeid"].ecps
    ecps.pins = CHEAP_PINS
    national_id = sandbox_professional(app)
    phone = Phone.register(app, app.test_client(), national_id)
    request = ecps.create_browser_request(national_id, client_name="RP")
    wrong = phone.decide(request.request_id, pin="1111", code=request.code)
    assert _problem(wrong, 403, "wrong_pin")["remaining_attempts"] == MAX_COUNT - 1
    assert ecps.devices.get(phone.device_id).consecutive_failed_pins == 1


def test_a_wrong_pin_counts_under_the_largest_pin_attempts(settings):
    """The largest ``ecps_pin_attempts`` accepted reaches the database as a number it holds:
    10^20, accepted before, made every wrong PIN a 500 (SQLite holds no such integer)."""
    _wrong_pin_under_the_most_attempts(settings)


@pytest.mark.postgres
def test_a_wrong_pin_counts_under_the_largest_pin_attempts_on_postgresql(settings, postgres_url):
    """The same against PostgreSQL's ``integer`` column of the wrong PINs."""
    from santeid import db

    try:
        _wrong_pin_under_the_most_attempts(settings.replace(database_url=postgres_url))
    finally:
        db.close_shared(postgres_url)


def test_right_pin_resets_the_count(phone, ecps, national_id):
    for _ in range(2):
        request = ecps.create_browser_request(national_id, client_name="A")
        _problem(phone.decide(request.request_id, pin="1111", code=request.code), 403, "wrong_pin")
        assert phone.decide(request.request_id, code=request.code).status_code == 200
    assert ecps.devices.get(phone.device_id).consecutive_failed_pins == 0


def test_wrong_code_fails_the_request(phone, ecps, browser):
    response = phone.decide(browser.request_id, code=_wrong(browser.code))
    _problem(response, 403, "wrong_code")
    request = ecps.get_request(browser.request_id)
    assert (request.status, request.failure) == ("failed", "wrong_code")
    # The PIN was right: no strike against the device.
    assert ecps.devices.get(phone.device_id).consecutive_failed_pins == 0


def test_code_required_for_browser_approval(phone, ecps, browser):
    _problem(phone.decide(browser.request_id), 400, "code_required")
    assert ecps.get_request(browser.request_id).status == "pending"


def test_wrong_pin_is_checked_before_the_code(phone, ecps, browser):
    _problem(
        phone.decide(browser.request_id, pin="1111", code=_wrong(browser.code)), 403, "wrong_pin"
    )
    assert ecps.get_request(browser.request_id).status == "pending"


def test_two_devices_racing_decide_once(app, client, ecps, phone, national_id, browser):
    other = Phone.register(app, client, national_id)
    tokens = [
        (phone, phone.decision(browser.request_id, code=browser.code)),
        (other, other.decision(browser.request_id, "deny")),
    ]
    results = []

    def post(device, token):
        with app.test_client() as http:
            url = f"/ecps/device/requests/{browser.request_id}/decision"
            results.append(http.post(url, data=token, content_type="application/jwt").status_code)

    threads = [threading.Thread(target=post, args=pair) for pair in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409]
    assert ecps.get_request(browser.request_id).status in ("approved", "denied")


def test_concurrent_wrong_pins_count_atomically(ecps, phone):
    results = []
    barrier = threading.Barrier(8)

    def strike():
        barrier.wait()
        results.append(ecps.devices.record_wrong_pin(phone.device_id, 3))

    threads = [threading.Thread(target=strike) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counted = sorted(r for r in results if r is not None)
    assert counted == [(1, "active"), (2, "active"), (3, "locked")]
    assert ecps.devices.get(phone.device_id).consecutive_failed_pins == 3


def test_amr_and_pin_in_claims_documented(phone, ecps, browser):
    # A decision JWT carries the PIN: it must never be logged or echoed.
    response = phone.decide(browser.request_id, code=browser.code)
    assert PIN not in response.get_data(as_text=True)


def test_a_decided_request_leaves_the_pending_index(app, ecps, national_id):
    """``pending_for`` reads only requests that may still be pending: the work of listing a
    professional's requests does not grow with the logins they already approved or denied."""
    from santeid.storage import keys

    store = app.extensions["santeid"].store
    index = keys.ECPS_PENDING.key(national_id)
    for _ in range(3):
        request = ecps.create_browser_request(national_id, client_name="S")
        assert ecps.requests.decide(request.request_id, {"status": "denied"}) is not None
        # Left by the decision itself, not by the next listing.
        assert store.members(index) == set()
    waiting = ecps.create_browser_request(national_id, client_name="S")
    assert [m.rsplit(":", 1)[1] for m in store.members(index)] == [waiting.request_id]
    assert [r.request_id for r in ecps.requests.pending_for(national_id)] == [waiting.request_id]

"""The e-CPS browser login (docs/reference/pro-sante-connect.md §13): the page shows a 2-digit
dynamic code, the phone shows
three candidates, the professional enters the PIN and picks the code. Good path, denial, wrong
code and retry, wrong PINs and lock, expiry, the offline TOTP fallback and its lock.

The phone signs with the simulator's own helpers and calls the documented device API
through Flask's client, so these tests exercise the same protocol a real app uses."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pyotp
import pytest
from joserfc.jwk import ECKey

from santeid import create_app
from santeid.ecps.simulator import DeviceFile
from santeid.ecps.simulator import make_decision
from santeid.ecps.simulator import make_device_token
from santeid.ecps.simulator import parse_activation_uri
from santeid.storage import MemoryStore
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client

#: A demo professional who is not flagged sandbox_auto_approve: only e-CPS can log him in.
NATIONAL_ID = "810000000004"
PIN = "246810"


class Phone:
    """One enrolled e-CPS device."""

    def __init__(self, app, national_id: str = NATIONAL_ID, pin: str = PIN):
        self.http = app.test_client()
        activation = app.extensions["santeid"].ecps.start_activation(national_id)
        server, code = parse_activation_uri(activation.uri)
        key = ECKey.generate_key("P-256", private=True)
        response = self.http.post(
            "/ecps/device/register",
            json={
                "activation_code": code,
                "public_jwk": key.as_dict(private=False),
                "pin": pin,
                "name": "test phone",
            },
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        self.device = DeviceFile(
            server=server,
            device_id=body["device_id"],
            national_id=national_id,
            private_jwk=dict(key.as_dict(private=True)),
            totp_secret=body["totp_secret"],
        )

    def pending(self) -> list[dict]:
        response = self.http.get(
            "/ecps/device/requests",
            headers={"Authorization": "Bearer " + make_device_token(self.device)},
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["requests"]

    def decide(self, request_id: str, decision: str, *, pin: str = PIN, code: str | None = None):
        token = make_decision(self.device, request_id, decision, pin, code)
        return self.http.post(
            f"/ecps/device/requests/{request_id}/decision",
            data=token,
            content_type="application/jwt",
            headers={"Authorization": "Bearer " + make_device_token(self.device)},
        )

    def totp(self, offset_steps: int = 0) -> str:
        return pyotp.TOTP(self.device.totp_secret).at(time.time() + 30 * offset_steps)


@pytest.fixture
def phone(app):
    return Phone(app)


def _identify(flow: Flow, national_id: str = NATIONAL_ID):
    """Authorization request, then the identifier: returns (login URL, waiting page HTML)."""
    login_url = flow.authorize().headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    posted = flow.http.post(
        login_url, data={"national_id": national_id, "csrf_token": flow.csrf(page)}
    )
    assert posted.status_code == 303
    return login_url, flow.http.get(login_url).get_data(as_text=True)


def _dynamic_code(html: str) -> str:
    return re.search(r'id="dynamic-code"[^>]*>(\d\d)<', html).group(1)


def _complete(flow: Flow, login_url: str):
    txid = parse_qs(urlsplit(login_url).query)["tx"][0]
    return flow.http.get(f"/auth/realms/esante-wallet/login-actions/complete?tx={txid}")


def _status(flow: Flow, login_url: str) -> str:
    txid = parse_qs(urlsplit(login_url).query)["tx"][0]
    return flow.http.get(f"/auth/realms/esante-wallet/login-actions/status?tx={txid}").get_json()[
        "state"
    ]


def test_approval_on_the_phone_with_the_shown_code(flow, phone, app):
    login_url, page = _identify(flow)
    code = _dynamic_code(page)
    assert "Pas de réseau sur le téléphone ?" in page
    [request] = phone.pending()
    assert request["client_name"] == "Service de test"
    assert len(set(request["candidates"])) == 3 and code in request["candidates"]
    assert _status(flow, login_url) == "waiting"

    assert phone.decide(request["request_id"], "approve", code=code).status_code == 200
    assert _status(flow, login_url) == "approved"
    params = flow.code_from(_complete(flow, login_url))
    tokens = flow.token(params["code"]).get_json()
    _, access = decode(app, tokens["access_token"])
    _, id_token = decode(app, tokens["id_token"])
    assert access["authMode"] == "MOBILE"
    assert access["acr"] == app.extensions["santeid"].settings.login.ecps_acr == "eidas1"
    assert id_token["amr"] == ["swk", "pin", "mfa"]
    assert id_token["SubjectNameID"] == NATIONAL_ID


def test_denial_is_explained_and_can_be_retried(flow, phone):
    login_url, page = _identify(flow)
    [request] = phone.pending()
    assert phone.decide(request["request_id"], "deny").status_code == 200
    failed = html.unescape(flow.http.get(login_url).get_data(as_text=True))
    assert "refusée sur le téléphone" in failed
    assert 'id="retry"' in failed


def test_wrong_code_fails_then_a_retry_succeeds(flow, phone):
    login_url, page = _identify(flow)
    code = _dynamic_code(page)
    [request] = phone.pending()
    wrong = next(c for c in request["candidates"] if c != code)
    refused = phone.decide(request["request_id"], "approve", code=wrong)
    assert refused.status_code >= 400
    failed = html.unescape(flow.http.get(login_url).get_data(as_text=True))
    assert "n'est pas celui affiché" in failed

    csrf = flow.csrf(failed)
    retry_url = login_url.replace("/authenticate", "/retry")
    assert flow.http.post(retry_url, data={"csrf_token": csrf}).status_code == 303
    page = flow.http.get(login_url).get_data(as_text=True)
    new_code = _dynamic_code(page)
    [request] = phone.pending()  # the failed request is gone, a new one waits
    assert phone.decide(request["request_id"], "approve", code=new_code).status_code == 200
    assert "code" in flow.code_from(_complete(flow, login_url))


def test_three_wrong_pins_lock_the_device(flow, phone):
    login_url, page = _identify(flow)
    code = _dynamic_code(page)
    [request] = phone.pending()
    for _ in range(3):
        answer = phone.decide(request["request_id"], "approve", pin="000000", code=code)
        assert answer.status_code >= 400
    failed = html.unescape(flow.http.get(login_url).get_data(as_text=True))
    assert "bloquée" in failed
    assert 'id="retry"' not in failed
    # The locked device no longer counts: a new login finds no usable authenticator.
    second = Flow(flow.app, flow.app.test_client(), flow.client)
    login_url = second.authorize().headers["Location"]
    form = second.http.get(login_url).get_data(as_text=True)
    response = second.http.post(
        login_url, data={"national_id": NATIONAL_ID, "csrf_token": second.csrf(form)}
    )
    assert response.status_code == 400
    assert "Aucune e-CPS" in html.unescape(response.get_data(as_text=True))


def test_request_expiry(clocked_app, clock):
    app = clocked_app
    flow = Flow(app, app.test_client(), register_client(app))
    Phone(app)
    login_url, _ = _identify(flow)
    clock.advance(app.extensions["santeid"].settings.ecps.request_lifetime + 1)
    assert _status(flow, login_url) == "failed"
    assert "Délai dépassé" in html.unescape(flow.http.get(login_url).get_data(as_text=True))


def test_offline_code_logs_in_once(flow, phone, app):
    login_url, _ = _identify(flow)
    otp_url = login_url.replace("/authenticate", "/otp")
    form = flow.http.get(otp_url).get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in form
    code = phone.totp()
    response = flow.http.post(otp_url, data={"otp": code, "csrf_token": flow.csrf(form)})
    assert response.status_code == 302
    params = flow.code_from(flow.http.get(response.headers["Location"]))
    _, id_token = decode(app, flow.token(params["code"]).get_json()["id_token"])
    assert id_token["authMode"] == "MOBILE" and id_token["amr"] == ["otp"]
    # The phone no longer shows the request answered by the offline code.
    assert phone.pending() == []

    # The same code cannot serve twice.
    again = Flow(app, app.test_client(), flow.client)
    login_url, _ = _identify(again)
    otp_url = login_url.replace("/authenticate", "/otp")
    form = again.http.get(otp_url).get_data(as_text=True)
    replay = again.http.post(otp_url, data={"otp": code, "csrf_token": again.csrf(form)})
    assert replay.status_code == 400
    assert "déjà servi" in html.unescape(replay.get_data(as_text=True))


def test_offline_code_locks_after_five_failures(flow, phone):
    login_url, _ = _identify(flow)
    otp_url = login_url.replace("/authenticate", "/otp")
    form = flow.http.get(otp_url).get_data(as_text=True)
    csrf = flow.csrf(form)
    wrong = f"{(int(phone.totp()) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert flow.http.post(otp_url, data={"otp": wrong, "csrf_token": csrf}).status_code == 400
    locked = flow.http.post(otp_url, data={"otp": phone.totp(), "csrf_token": csrf})
    assert locked.status_code == 400
    assert "bloqué 15 minutes" in html.unescape(locked.get_data(as_text=True))


def test_the_offline_code_page_says_how_long_it_is_locked(settings):
    """The lock of an address lasts ``ecps_totp_lock``, which the page states; the day's
    budget spent (``ecps_totp_failures_per_day``) locks it for the rest of the 24 h, which the
    page says instead of the short lock's minutes."""
    app = create_app(
        settings.replace(ecps_totp_lock=300, ecps_totp_failures_per_day=6),
        store=MemoryStore(),
    )
    flow = Flow(app, app.test_client(), register_client(app))
    phone = Phone(app)
    login_url, _ = _identify(flow)
    otp_url = login_url.replace("/authenticate", "/otp")
    csrf = flow.csrf(flow.http.get(otp_url).get_data(as_text=True))
    wrong = f"{(int(phone.totp()) + 1) % 1_000_000:06d}"

    def attempt(code: str, address: str) -> str:
        answer = flow.http.post(
            otp_url,
            data={"otp": code, "csrf_token": csrf},
            environ_base={"REMOTE_ADDR": address},
        )
        assert answer.status_code == 400
        return html.unescape(answer.get_data(as_text=True))

    for _ in range(5):  # ecps_totp_failures from one address
        attempt(wrong, "198.51.100.1")
    assert "bloqué 5 minutes" in attempt(phone.totp(), "198.51.100.1")
    attempt(wrong, "198.51.100.2")  # the 6th of the day
    refused = attempt(phone.totp(), "198.51.100.3")
    assert "bloqué jusqu'à la fin de cette période" in refused
    assert "minutes" not in refused


def test_revoked_device_cannot_log_in(flow, phone, app):
    app.extensions["santeid"].ecps.revoke_device(phone.device.device_id)
    login_url = flow.authorize().headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    response = flow.http.post(
        login_url, data={"national_id": NATIONAL_ID, "csrf_token": flow.csrf(page)}
    )
    assert response.status_code == 400
    assert "Aucune e-CPS" in html.unescape(response.get_data(as_text=True))


def test_e_cps_takes_precedence_over_the_sandbox_shortcut(flow, app):
    auto = app.extensions["santeid"].directory.list(sandbox_only=True)[0].national_id
    phone = Phone(app, auto)
    _, page = _identify(flow, auto)
    assert _dynamic_code(page)
    assert len(phone.pending()) == 1


def test_login_page_offers_the_card_and_activation(flow):
    login_url = flow.authorize().headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    assert 'id="card-login"' in page
    assert "/login-actions/card?tx=" in page


def test_cancel_withdraws_the_phone_request(flow, phone):
    login_url, page = _identify(flow)
    assert len(phone.pending()) == 1
    cancel_url = login_url.replace("/authenticate", "/cancel")
    response = flow.http.post(cancel_url, data={"csrf_token": flow.csrf(page)})
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["access_denied"]
    assert phone.pending() == []


def test_userinfo_of_a_mobile_login_says_mobile(flow, phone, client):
    login_url, page = _identify(flow)
    [request] = phone.pending()
    phone.decide(request["request_id"], "approve", code=_dynamic_code(page))
    params = flow.code_from(_complete(flow, login_url))
    access_token = flow.token(params["code"]).get_json()["access_token"]
    body = client.get(f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert body.get_json()["authMode"] == "MOBILE"


def test_status_counts_down_and_reports_a_wrong_pin(flow, phone):
    login_url, page = _identify(flow)
    assert 'id="wait-countdown"' in page and 'id="phone-status"' in page
    txid = parse_qs(urlsplit(login_url).query)["tx"][0]
    status_url = f"/auth/realms/esante-wallet/login-actions/status?tx={txid}"
    body = flow.http.get(status_url).get_json()
    assert body["state"] == "waiting" and 0 < body["expires_in"] <= 120
    assert "phone" not in body
    [request] = phone.pending()
    assert phone.decide(request["request_id"], "approve", pin="000000").status_code == 403
    body = flow.http.get(status_url).get_json()
    assert body["phone"] == "wrong_pin" and body["remaining_attempts"] == 2
    # The right PIN afterwards approves as usual.
    code = _dynamic_code(page)
    assert phone.decide(request["request_id"], "approve", code=code).status_code == 200
    assert flow.http.get(status_url).get_json() == {"state": "approved"}

"""The e-CPS service as the login page uses it: a professional with an active device is asked
on the phone, and the approval ends the login with ``authMode`` MOBILE and e-CPS ``amr``."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from tests.support.oidc_flow import decode

LOGIN = "/auth/realms/esante-wallet/login-actions"


def _start(flow, national_id):
    response = flow.authorize()
    login_url = response.headers["Location"]
    page = flow.http.get(login_url)
    posted = flow.http.post(
        login_url,
        data={"national_id": national_id, "csrf_token": flow.csrf(page.get_data(as_text=True))},
    )
    assert posted.status_code == 303
    txid = parse_qs(urlsplit(login_url).query)["tx"][0]
    return txid


def test_phone_approval_completes_the_login(app, flow, ecps, phone, national_id):
    txid = _start(flow, national_id)
    waiting = flow.http.get(f"{LOGIN}/authenticate?tx={txid}").get_data(as_text=True)
    shown = re.search(r'id="dynamic-code"[^>]*>(\d\d)<', waiting).group(1)
    (item,) = phone.pending().get_json()["requests"]
    assert shown in item["candidates"]
    assert phone.decide(item["request_id"], code=shown).get_json()["status"] == "approved"
    assert flow.http.get(f"{LOGIN}/status?tx={txid}").get_json()["state"] == "approved"
    result = flow.code_from(flow.http.get(f"{LOGIN}/complete?tx={txid}"))
    tokens = flow.token(result["code"]).get_json()
    _, claims = decode(app, tokens["id_token"])
    assert claims["authMode"] == "MOBILE"
    assert claims["amr"] == ["swk", "pin", "mfa"]
    assert claims["acr"] == app.extensions["santeid"].settings.login.ecps_acr


def test_wrong_code_fails_the_login_page(flow, phone, national_id):
    txid = _start(flow, national_id)
    (item,) = phone.pending().get_json()["requests"]
    wrong = next(c for c in item["candidates"] if c != item["sandbox_expected_code"])
    assert phone.decide(item["request_id"], code=wrong).status_code == 403
    assert flow.http.get(f"{LOGIN}/status?tx={txid}").get_json()["state"] == "failed"


def test_a_login_approved_on_the_phone_whose_service_was_removed_sends_no_code(
    app, flow, phone, national_id
):
    """The phone approved, the service was removed before the page completed the login: the
    completion is the error page of a login no longer there (400), nothing is sent to the
    removed service, the transaction is used up (docs/reference/keycloak-behaviour.md, "Login
    pages")."""
    txid = _start(flow, national_id)
    (item,) = phone.pending().get_json()["requests"]
    assert phone.decide(item["request_id"], code=item["sandbox_expected_code"]).status_code == 200
    svc = app.extensions["santeid"]
    svc.clients.remove(flow.client["client_id"])

    completed = flow.http.get(f"{LOGIN}/complete?tx={txid}")
    assert completed.status_code == 400
    assert "Location" not in completed.headers
    assert svc.transactions.get(txid) is None


def test_a_request_on_the_phone_is_withdrawn_when_the_service_is_removed(
    app, flow, ecps, phone, national_id
):
    """The waiting page, seen again after the service was removed: the login ends there and
    the request the phone still shows is withdrawn."""
    txid = _start(flow, national_id)
    (item,) = phone.pending().get_json()["requests"]
    app.extensions["santeid"].clients.remove(flow.client["client_id"])

    page = flow.http.get(f"{LOGIN}/authenticate?tx={txid}")
    assert page.status_code == 400
    assert ecps.get_request(item["request_id"]).status != "pending"
    assert phone.pending().get_json()["requests"] == []

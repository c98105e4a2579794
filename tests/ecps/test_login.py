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

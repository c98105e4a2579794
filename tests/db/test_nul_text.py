"""Text with a NUL character, which PostgreSQL cannot hold, from a client: the same answer on
both backends (a lookup finds nothing, free text is refused before anything single-use is
spent) — never a 500."""

from __future__ import annotations

import base64

import pytest
from joserfc.jwk import ECKey

from santeid import create_app
from santeid import db
from santeid.storage import MemoryStore
from tests.support.ecps_phone import API
from tests.support.ecps_phone import CHEAP_PINS
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone
from tests.support.oidc_flow import sandbox_professional

AUTH = "/auth/realms/esante-wallet/protocol/openid-connect/auth"
TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, settings):
    if request.param == "postgresql":
        settings = settings.replace(database_url=request.getfixturevalue("postgres_url"))
    app = create_app(settings, store=MemoryStore())
    app.extensions["santeid"].ecps.pins = CHEAP_PINS
    yield app
    db.close_shared(settings.database.url or None)


def test_a_client_id_with_a_nul_is_an_unknown_client(app, client):
    answer = client.get(
        AUTH, query_string={"client_id": "a\x00b", "response_type": "code", "scope": "openid",
                            "redirect_uri": "https://rp.example/cb"}
    )  # fmt: skip
    assert answer.status_code == 400
    answer = client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
    )
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_client"
    basic = base64.b64encode(b"a\x00b:secret").decode()
    answer = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 401


def test_a_device_kid_with_a_nul_is_an_unknown_device(app, client):
    phone = Phone.register(app, client, sandbox_professional(app))
    answer = phone.me(kid="a\x00b")
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "unknown_device"
    assert phone.me().status_code == 200


@pytest.mark.parametrize(
    ("member", "nul", "fixed", "code"),
    [
        ("name", "ph\x00one", "phone", "invalid_request"),
        ("name", "ph\ud800one", "phone", "invalid_request"),  # a lone surrogate: no UTF-8
        ("webhook_url", "http://127.0.0.1:34501/a\x00b", None, "invalid_webhook_url"),
    ],
)
def test_a_device_member_with_a_nul_is_refused_and_the_code_stays_usable(
    app, client, member, nul, fixed, code
):
    activation = app.extensions["santeid"].ecps.start_activation(sandbox_professional(app))
    key = ECKey.generate_key("P-256", private=True)
    body = {"activation_code": activation.code, "public_jwk": key.as_dict(private=False),
            "pin": PIN, member: nul}  # fmt: skip
    answer = client.post(f"{API}/register", json=body)
    assert answer.status_code == 400
    assert answer.get_json()["code"] == code
    answer = client.post(f"{API}/register", json={**body, member: fixed})
    assert answer.status_code == 201, answer.get_json()


def test_a_webhook_url_with_a_nul_is_refused(app, client):
    phone = Phone.register(app, client, sandbox_professional(app))
    answer = client.post(
        f"{API}/webhook",
        json={"webhook_url": "http://127.0.0.1:34501/a\x00b"},
        headers=phone.auth(),
    )
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "invalid_webhook_url"
    assert "U+0000" in answer.get_json()["detail"]
    assert phone.me().get_json()["webhook_url"] is None

"""The device API endpoints the e-CPS app adds (``app_api.py``): the professional's name for
"My e-CPS" and revoking the device from the phone; and the activation's app link, which the
simulator reads as well as the older ``santeid-ecps://`` URI."""

from __future__ import annotations

import pytest

from santeid.ecps.service import app_link
from santeid.ecps.simulator import SimulatorError
from santeid.ecps.simulator import parse_activation_uri
from tests.support.ecps_phone import API


def test_profile_names_the_professional(phone, national_id, app):
    response = phone.client.get(f"{API}/profile", headers=phone.auth())
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    profile = response.get_json()
    professional = app.extensions["santeid"].directory.get(national_id)
    assert profile["national_id"] == national_id
    assert profile["given_name"] == professional.given_name
    assert profile["family_name"] == professional.family_name


def test_profile_needs_a_device_token(client):
    response = client.get(f"{API}/profile")
    assert response.status_code == 401
    assert response.get_json()["code"] == "missing_token"


def test_the_device_revokes_itself(phone, ecps):
    response = phone.client.post(f"{API}/revoke", headers=phone.auth())
    assert response.status_code == 200
    assert response.get_json()["status"] == "revoked"
    assert ecps.devices.get(phone.device_id).status == "revoked"
    # Revoked: requests are refused, /me still answers (the app explains), revoking again too.
    assert phone.pending().get_json()["code"] == "device_revoked"
    assert phone.me().get_json()["status"] == "revoked"
    assert phone.client.post(f"{API}/revoke", headers=phone.auth()).status_code == 200


def test_revoke_is_post_only(phone):
    response = phone.client.get(f"{API}/revoke", headers=phone.auth())
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"


def test_activation_carries_the_app_link(ecps, national_id, settings):
    activation = ecps.start_activation(national_id)
    assert activation.app_link == f"http://localhost/ecps/app/#activation={activation.code}"
    configured = settings.replace(ecps_app_url="https://192.168.1.20:5443/ecps/app/")
    assert app_link(configured, "abc") == "https://192.168.1.20:5443/ecps/app/#activation=abc"


def test_simulator_reads_the_app_link_and_the_old_uri():
    assert parse_activation_uri("https://192.168.1.20:5443/ecps/app/#activation=Yk3_-x") == (
        "https://192.168.1.20:5443",
        "Yk3_-x",
    )
    assert parse_activation_uri("santeid-ecps://activate?server=http%3A%2F%2Fh%3A1&code=c") == (
        "http://h:1",
        "c",
    )
    for wrong in (
        "https://h/ecps/app/",
        "https://h/ecps/app/?activation=x",
        "ftp://h/#activation=x",
    ):
        with pytest.raises(SimulatorError):
            parse_activation_uri(wrong)

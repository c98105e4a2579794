"""A professional created through the control API (``POST /sandbox/api/professionals``) on a
real ``santeid serve --sandbox`` process: its scenario lasts as long as the professional (a
restart of a server on the embedded store keeps both), and a store outage while it is created
leaves nothing half-written (docs/sandbox.md, "Your own professionals")."""

from __future__ import annotations

import pytest
import requests

from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

REDIRECT_URI = "http://127.0.0.1/callback"
CLIENT = {
    "client_id": "created-pros",
    "client_secret": "created-pros-secret-0123456789-abcdefgh",
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code"],
    "token_endpoint_auth_method": "client_secret_basic",
}
CREATED = "810000000401"


def professional(scenario) -> dict:
    return {"national_id": CREATED, "family_name": "DURABLE", "given_names": ["ANNE"],
            "scenario": scenario}  # fmt: skip


def scripted_login(server) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": CLIENT["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "s",
        "nonce": "n",
    }
    url = requests.Request("GET", f"{server.oidc}/auth", params=query).prepare().url
    return requests.post(
        f"{server.base}/sandbox/api/logins",
        json={"authorization_url": url, "national_id": CREATED},
        timeout=30,
    )


def test_a_created_professional_keeps_its_scenario_after_a_restart(tmp_path):
    """``make run``'s embedded store forgets everything at a restart; the professional and
    its scenario are in the directory, and the sandbox phone still answers by it."""
    with santeid_process(tmp_path, clients=[CLIENT], log_name="first.log") as server:
        created = requests.post(
            f"{server.base}/sandbox/api/professionals", json=professional("deny"), timeout=5
        )
        assert created.status_code == 201, created.text
    with santeid_process(tmp_path, log_name="second.log") as server:
        read = requests.get(f"{server.base}/sandbox/api/professionals/{CREATED}", timeout=5)
        assert read.json()["scenario"] == {"outcome": "deny", "delay": None}, read.text
        login = scripted_login(server)
        assert login.status_code == 200, login.text
        assert (login.json()["state"], login.json()["reason"]) == ("failed", "denied")


@pytest.mark.redis
def test_a_store_outage_while_a_professional_is_created_writes_nothing(tmp_path, disposable_redis):
    """Redis down: ``POST /professionals`` answers 503 and the professional is not written
    (nor, when it existed, changed); once Redis is back, creating it works. (This Redis keeps
    nothing across its restart: a scenario set through ``PUT`` goes with it, the creation's
    stays with the professional.)"""
    with santeid_process(
        tmp_path, clients=[CLIENT], SANTEID_STORE_URL=disposable_redis.url
    ) as server:
        api = f"{server.base}/sandbox/api"
        disposable_redis.stop()
        refused = requests.post(f"{api}/professionals", json=professional("deny"), timeout=10)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "temporarily_unavailable"
        disposable_redis.start()
        absent = requests.get(f"{api}/professionals/{CREATED}", timeout=5)
        assert absent.status_code == 404, absent.text

        assert requests.post(f"{api}/professionals", json=professional("deny"), timeout=5).ok
        disposable_redis.stop()
        replaced = {**professional("approve"), "family_name": "REPLACED"}
        refused = requests.post(f"{api}/professionals", json=replaced, timeout=10)
        assert refused.status_code == 503, refused.text
        disposable_redis.start()
        kept = requests.get(f"{api}/professionals/{CREATED}", timeout=5).json()
        assert kept["name"] == "ANNE DURABLE"
        assert kept["scenario"] == {"outcome": "deny", "delay": None}

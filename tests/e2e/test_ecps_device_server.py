"""The e-CPS device protocol (docs/ecps-device-protocol.md) against a REAL server process
(``santeid serve --sandbox``) on a real Redis and a real PostgreSQL, over HTTP: phones
registered with ``santeid ecps activate`` codes, logins started through the sandbox control
API (``POST /sandbox/api/logins``, docs/sandbox.md), what a device is answered while it waits
and when its registrations race."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
import requests
from joserfc.jwk import ECKey

from tests.support.concurrency import race_http
from tests.support.ecps_phone import PIN
from tests.support.ecps_phone import Phone
from tests.support.ecps_phone import registration
from tests.support.oidc_flow import authorization_query
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.postgres]

CLIENT_ID = "rp-device-protocol"
REDIRECT_URI = "https://rp.example.org/callback"
#: A demo professional the sandbox phone never answers for (docs/sandbox.md): only the
#: test's phones answer, and a request stays pending.
NEVER = "810000000034"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server, postgres_module_url):
    store_url = redis_server.url.rsplit("/", 1)[0] + "/13"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    client = {
        "client_id": CLIENT_ID,
        "client_name": CLIENT_ID,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code"],
        "client_secret": "a-long-secret-for-the-device-protocol-test-0123",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with santeid_process(
        tmp_path_factory.mktemp("ecps-device-server"),
        clients=[client],
        SANTEID_STORE_URL=store_url,
        SANTEID_DATABASE_URL=postgres_module_url,
        SANTEID_ECPS_LONG_POLL="5",
        # Several logins pending at once (the default keeps one: the newest replaces it).
        SANTEID_ECPS_MAX_PENDING_REQUESTS="3",
    ) as process:
        yield process


def activation_code(server, national_id: str) -> str:
    """A new activation code, as an operator makes it (``santeid ecps activate``)."""
    return json.loads(server.cli("ecps", "activate", national_id, "--json").stdout)["code"]


def enrolled(server, national_id: str) -> Phone:
    return Phone.register_over_http(server.base, activation_code(server, national_id))


def start_login(server, national_id: str) -> dict:
    """A login for ``national_id`` waiting for the phone (a scripted login, ``wait: 0``):
    the e-CPS request it made is ``["request"]``."""
    query = authorization_query(CLIENT_ID, REDIRECT_URI)
    url = requests.Request("GET", f"{server.oidc}/auth", params=query).prepare().url
    answer = requests.post(
        f"{server.base}/sandbox/api/logins",
        json={"authorization_url": url, "national_id": national_id, "wait": 0},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    login = answer.json()
    assert login["state"] == "waiting", login
    return login


def test_a_long_poll_ends_when_its_device_is_revoked_and_hands_out_no_request(server):
    """§3: the long poll follows the stream's rule — a device revoked while it waits is
    answered its problem at the next look, never the professional's next login request
    (the service, the browser's address, the candidates)."""
    revoked, other = enrolled(server, NEVER), enrolled(server, NEVER)
    answers: dict[str, requests.Response] = {}
    poll = threading.Thread(target=lambda: answers.update(poll=revoked.pending(wait=5)))
    poll.start()
    time.sleep(1)  # the poll is waiting
    gone = revoked.client.post("/ecps/device/revoke", headers=revoked.auth())
    assert gone.json()["status"] == "revoked"
    login = start_login(server, NEVER)
    poll.join()
    answer = answers["poll"]
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "device_revoked"
    assert login["request"]["request_id"] not in answer.text
    # The professional's other phone gets it.
    listed = other.pending().json()["requests"]
    assert [item["request_id"] for item in listed] == [login["request"]["request_id"]]


def test_numeric_dates_beyond_the_range_of_a_double_are_refused_not_a_server_error(server):
    """§2 and §4: an ``iat`` or ``exp`` is a NumericDate; an integer JSON allows but no double
    holds (10⁴⁰⁰), signed with the device's own key, is refused as a claim of the wrong kind
    (``invalid_token``, ``invalid_decision``), never answered 500."""
    phone = enrolled(server, NEVER)
    now = int(time.time())
    for claims in ({"iat": 10**400}, {"exp": 10**400}, {"iat": -(10**400), "exp": now}):
        answer = phone.me(**claims)
        assert answer.status_code == 401, (claims, answer.text)
        assert answer.json()["code"] == "invalid_token"
    request_id = "unknown-request-0123456789abcdef"
    for issued_at in (10**400, -(10**400)):
        answer = phone.decide(request_id, iat=issued_at)
        assert answer.status_code == 400, (issued_at, answer.text)
        assert answer.json()["code"] == "invalid_decision"
    assert "OverflowError" not in server.log.read_text()


def test_one_key_registered_with_two_codes_at_once_leaves_the_losing_code_usable(server):
    """§1: everything is checked before an activation code is consumed. Two registrations
    of one public key with two codes, arriving together, both pass the key check before
    either device is written: the database's unique key decides (one device, 409
    ``public_key_in_use``), and the losing code is given back — it still registers a phone."""
    national_id = "810000000002"
    for _ in range(2):
        codes = [activation_code(server, national_id) for _ in range(2)]
        key = ECKey.generate_key("P-256", private=True)
        answers = race_http(
            f"{server.base}/ecps/device/register",
            [json.dumps(registration(code, key, PIN)).encode() for code in codes],
            headers={"Content-Type": "application/json"},
        )
        assert sorted(status for status, _ in answers) == [201, 409], answers
        [(losing_code, refusal)] = [
            (code, json.loads(body))
            for code, (status, body) in zip(codes, answers, strict=True)
            if status == 409
        ]
        assert refusal["code"] == "public_key_in_use"
        phone = Phone.register_over_http(server.base, losing_code)
        assert phone.national_id == national_id

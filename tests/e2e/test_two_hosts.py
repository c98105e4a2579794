"""Two ``santeid serve`` processes on different ports sharing one Redis and one PostgreSQL
(docs/deployment.md, "Several hosts"), as behind a load balancer: whichever host a request
reaches, it sees the same clients, devices, revocations, statistics and signing keys.

Host A is one process, host B two worker processes. Both hosts have the same issuer — the
address relying parties know (here host A's) — the same session secret and the same keys
directory; each has its own data directory (directory and civil-status files, replicated per
host).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC
from datetime import date
from datetime import datetime
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import redis
import requests
from joserfc import jws
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.civil_status.generate import generate
from santeid.ecps.simulator import DeviceSimulator
from santeid.ecps.simulator import ProtocolError
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.postgres]

REALM = "/auth/realms/esante-wallet"
NATIONAL_ID = "810000000001"
PIN = "135790"
REDIRECT_URI = "https://rp.example.org/callback"
CLIENT_ID = "rp-two-hosts"
SECRET = "a-long-secret-for-the-two-hosts-test-0123456"
ADRTROIS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
            "birthDate": "1997-02-26"}  # fmt: skip


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, redis_server, postgres_module_url):
    home = tmp_path_factory.mktemp("two-hosts")
    store_url = redis_server.url.rsplit("/", 1)[0] + "/9"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    civil_status = home / "civil-status.sqlite3"  # the same import on each host
    generate(civil_status, 300, 3, as_of=date(2026, 1, 1), chunk_size=300)
    common = dict(
        SANTEID_STORE_URL=store_url,
        SANTEID_DATABASE_URL=postgres_module_url,
        SANTEID_SECRET_KEY="the-session-secret-every-host-shares-0123456789",
        SANTEID_INSI_BASE=str(civil_status),
        SANTEID_ECPS_LONG_POLL="5",
        SANTEID_SANDBOX_APPROVAL_DELAY=None,
    )
    with (
        santeid_process(home / "a", **common) as host_a,
        # Host B: host A's issuer and keys folder, its own data folder; two Granian worker
        # processes, each opening its own pool after the fork.
        santeid_process(
            home / "b",
            args=["--sandbox", "--workers", "2"],
            SANTEID_ISSUER=host_a.issuer,
            SANTEID_KEYS_DIR=host_a.env["SANTEID_KEYS_DIR"],
            **common,
        ) as host_b,
    ):
        yield {
            "host": {"a": host_a, "b": host_b},
            "base": {"a": host_a.base, "b": host_b.base},
            "home": home,
            "issuer": host_a.issuer,
        }


def _cli(hosts, host: str, *args: str) -> str:
    """``santeid …`` run with the configuration of ``host``."""
    return hosts["host"][host].cli(*args).stdout


def _enroll(hosts, name: str) -> DeviceSimulator:
    """An e-CPS activated through host A (``santeid ecps activate`` there; the phone talks to
    the address in the QR code, host A's)."""
    activation = json.loads(_cli(hosts, "a", "ecps", "activate", NATIONAL_ID, "--json"))
    phone = DeviceSimulator.enroll(activation["uri"], PIN, name=name)
    phone.device.save(hosts["home"] / f"{name}.json")
    return phone


@pytest.fixture(scope="module")
def client_on_a(hosts) -> str:
    """A relying party registered through host A."""
    path = hosts["home"] / "client.json"
    path.write_text(
        json.dumps(
            {
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_method": "client_secret_basic",
            }
        )
    )
    _cli(hosts, "a", "clients", "add", str(path))
    return CLIENT_ID


@pytest.fixture(scope="module")
def phone(hosts) -> DeviceSimulator:
    return _enroll(hosts, "phone-a")


def _login_through(hosts, host: str, phone: DeviceSimulator) -> dict:
    """A browser logs in through ``host``; the phone approves through its own server."""
    browser = requests.Session()
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "st",
        "nonce": "n",
        "acr_values": "eidas1",
    }
    authorize = f"{hosts['base'][host]}{REALM}/protocol/openid-connect/auth?{urlencode(query)}"
    response = browser.get(authorize, allow_redirects=False)
    assert response.status_code == 302, response.text
    login_url = urljoin(authorize, response.headers["Location"])
    assert login_url.startswith(hosts["base"][host])  # the browser stays on this host
    page = browser.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    waiting = browser.post(login_url, data={"national_id": NATIONAL_ID, "csrf_token": csrf})
    shown = re.search(r'id="dynamic-code"[^>]*>(\d\d)<', waiting.text).group(1)
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    actions = f"{hosts['base'][host]}{REALM}/login-actions"

    (item,) = phone.pending(wait=5)
    assert phone.approve(item["request_id"], PIN, code=shown)["status"] == "approved"
    state = None
    for _ in range(100):
        state = browser.get(f"{actions}/status", params={"tx": tx}).json()["state"]
        if state == "approved":
            break
        time.sleep(0.1)
    assert state == "approved"
    done = browser.get(f"{actions}/complete", params={"tx": tx}, allow_redirects=False)
    assert done.status_code == 302
    code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{hosts['base'][host]}{REALM}/protocol/openid-connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, SECRET),
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def _jwks(hosts, host: str) -> KeySet:
    answer = requests.get(f"{hosts['base'][host]}{REALM}/protocol/openid-connect/certs", timeout=5)
    return KeySet.import_key_set(answer.json())


def test_a_client_registered_on_a_logs_in_on_b_with_an_ecps_activated_on_a(
    hosts, client_on_a, phone
):
    assert phone.device.server == hosts["base"]["a"]
    tokens = _login_through(hosts, "b", phone)
    claims = jwt.decode(tokens["id_token"], _jwks(hosts, "a")).claims
    assert claims["SubjectNameID"] == NATIONAL_ID and claims["authMode"] == "MOBILE"
    assert claims["aud"] == CLIENT_ID and claims["iss"] == hosts["issuer"]


def test_a_device_revoked_on_b_is_refused_on_a_at_once(hosts, client_on_a):
    spare = _enroll(hosts, "phone-revoked")
    assert spare.me()["status"] == "active"
    assert "revoked" in _cli(hosts, "b", "ecps", "revoke", spare.device.device_id)
    # Host A serves the phone: it refuses the revoked device at the next call.
    with pytest.raises(ProtocolError) as refused:
        spare.pending()
    assert refused.value.code == "device_revoked"
    assert spare.me()["status"] == "revoked"
    listed = json.loads(_cli(hosts, "a", "ecps", "devices", "--national-id", NATIONAL_ID, "--json"))
    assert {d["device_id"]: d["status"] for d in listed}[spare.device.device_id] == "revoked"


def test_insi_statistics_count_calls_made_on_both_hosts(hosts, client_on_a, phone):
    token = _login_through(hosts, "b", phone)["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    month = datetime.now(UTC).strftime("%Y-%m")

    def total(host: str) -> int:
        answer = requests.get(
            f"{hosts['base'][host]}/insi/v1/stats", params={"month": month}, headers=bearer,
            timeout=5,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["total"]

    before = total("a")
    for host, calls in (("a", 2), ("b", 3)):
        for _ in range(calls):
            answer = requests.post(
                f"{hosts['base'][host]}/insi/v1/ins/search-by-traits",
                json=ADRTROIS, headers=bearer, timeout=5,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
    # Each host commits its batch within the audit writer's flush period (50 ms).
    seen = {}
    for _ in range(100):
        seen = {host: total(host) for host in ("a", "b")}
        if seen == {"a": before + 5, "b": before + 5}:
            break
        time.sleep(0.1)
    assert seen == {"a": before + 5, "b": before + 5}


def test_a_key_rotated_on_a_is_used_and_published_by_b(hosts, client_on_a):
    old = {key.kid for key in _jwks(hosts, "b").keys}
    _cli(hosts, "a", "keys", "rotate")
    new_kid = None
    # Every host re-reads the shared keys file within its reload interval (5 s).
    for _ in range(100):
        new = {key.kid for key in _jwks(hosts, "b").keys} - old
        if new:
            (new_kid,) = new
            break
        time.sleep(0.1)
    assert new_kid is not None
    # Host A re-reads the file on its own schedule: wait until it publishes the key too.
    for _ in range(100):
        if new_kid in {key.kid for key in _jwks(hosts, "a").keys}:
            break
        time.sleep(0.1)
    # Each worker of B signs with the new key once it has re-read the file (within the same
    # interval): a request may reach a worker that has not yet, so ask again until then.
    signed_with = None
    for _ in range(100):
        answer = requests.post(
            f"{hosts['base']['b']}{REALM}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, SECRET),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        signed_with = jws.extract_compact(token.encode()).protected["kid"]
        if signed_with == new_kid:
            break
        time.sleep(0.1)
    assert signed_with == new_kid
    assert jwt.decode(token, _jwks(hosts, "a")).claims["azp"] == CLIENT_ID

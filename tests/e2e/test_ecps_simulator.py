"""The device simulator against a REAL server process (``santeid serve --sandbox``), over
HTTP only: ``santeid ecps activate`` → ``santeid device enroll`` → ``santeid device watch
--auto-approve`` while a browser logs in, then the ID token says e-CPS."""

from __future__ import annotations

import json
import re
import shlex
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import redis
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.ecps.simulator import DeviceFile
from santeid.ecps.simulator import DeviceSimulator
from santeid.ecps.simulator import ProtocolError
from santeid.ecps.simulator import SimulatorError
from santeid.ecps.simulator import make_device_token
from santeid.ecps.simulator import parse_activation_uri
from tests.support.servers import SANTEID
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

NATIONAL_ID = "810000000001"
PIN = "135790"
REDIRECT_URI = "https://rp.example.org/callback"
SECRET = "a-long-secret-for-the-ecps-simulator-test-0123"
CLIENT = {
    "client_id": "rp-ecps",
    "client_name": "RP e-CPS",
    "client_secret": SECRET,
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code"],
    "token_endpoint_auth_method": "client_secret_basic",
}
RECIPES = Path(__file__).resolve().parents[2] / "docs" / "ecps-simulator.md"


def redis_database(redis_server, number: int) -> str:
    """The URL of database ``number`` of the test Redis, emptied."""
    store_url = redis_server.url.rsplit("/", 1)[0] + f"/{number}"
    with redis.Redis.from_url(store_url) as connection:
        connection.flushdb()
    return store_url


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    # HOME is the server's folder: the simulator's default device file stays inside the test.
    with santeid_process(
        tmp_path_factory.mktemp("ecps-server"),
        clients=[CLIENT],
        SANTEID_STORE_URL=redis_database(redis_server, 7),
        SANTEID_ECPS_LONG_POLL="5",
        # Several logins pending at once (the default keeps one: the newest replaces it).
        SANTEID_ECPS_MAX_PENDING_REQUESTS="3",
        SANTEID_SANDBOX_APPROVAL_DELAY=None,
    ) as server:
        yield server


def _activation_uri(server) -> str:
    return json.loads(server.cli("ecps", "activate", NATIONAL_ID, "--json").stdout)["uri"]


def _start_login(server) -> tuple[requests.Session, str, str, str]:
    """A browser at the login page: submit the identifier; return (session, tx, page, realm),
    the page the waiting page (empty when the login was approved before it was fetched)."""
    browser = requests.Session()
    query = {
        "response_type": "code",
        "client_id": "rp-ecps",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": "st-1",
        "nonce": "n-1",
        "acr_values": "eidas1",
    }
    authorize = f"{server.issuer}/protocol/openid-connect/auth?{urlencode(query)}"
    response = browser.get(authorize, allow_redirects=False)
    assert response.status_code == 302
    login_url = urljoin(authorize, response.headers["Location"])
    page = browser.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    submitted = browser.post(
        login_url, data={"national_id": NATIONAL_ID, "csrf_token": csrf}, allow_redirects=False
    )
    # The identifier accepted, the login started: a refusal (too_many_logins among them)
    # answers the login page again.
    assert submitted.status_code == 303, submitted.text[-2000:]
    # Not followed further: a login approved before its waiting page is fetched (a device
    # that approves at once) sends the browser on to the service, which these tests have not.
    waiting = browser.get(urljoin(login_url, submitted.headers["Location"]), allow_redirects=False)
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    realm = urlsplit(login_url).path.split("/login-actions/")[0]
    return browser, tx, waiting.text, f"{server.base}{realm}"


def _wait_state(browser, realm: str, tx: str, wanted: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = browser.get(f"{realm}/login-actions/status", params={"tx": tx}).json()["state"]
        if state == wanted:
            return state
        time.sleep(0.2)
    return state


@pytest.fixture(scope="module")
def device_file(server) -> Path:
    path = server.home / "phone" / "device.json"
    result = server.cli(
        "device",
        "enroll",
        "--activation-uri",
        _activation_uri(server),
        "--pin",
        PIN,
        "--file",
        str(path),
    )
    assert "enrolled for 810000000001" in result.stdout
    return path


def test_enrolled_device_file(server, device_file):
    assert stat.S_IMODE(device_file.stat().st_mode) == 0o600
    saved = json.loads(device_file.read_text())
    assert saved["server"] == server.base
    assert saved["national_id"] == NATIONAL_ID
    assert saved["private_jwk"]["d"] and saved["private_jwk"]["crv"] == "P-256"
    info = json.loads(server.cli("device", "info", "--file", str(device_file)).stdout)
    assert info["status"] == "active" and info["sandbox_enrolled"] is True
    assert re.fullmatch(
        r"\d{6}", server.cli("device", "totp", "--file", str(device_file)).stdout.strip()
    )
    assert (
        "no pending request" in server.cli("device", "pending", "--file", str(device_file)).stdout
    )
    # Enrolling again onto an existing file needs --force.
    again = server.cli(
        "device",
        "enroll",
        "--activation-uri",
        "santeid-ecps://activate?server=http://x&code=y",
        "--pin",
        PIN,
        "--file",
        str(device_file),
        check=False,
    )
    assert again.returncode == 1 and "--force" in again.stderr


def test_watch_auto_approves_a_browser_login(server, device_file):
    watcher = subprocess.Popen(
        [SANTEID, "device", "watch", "--pin", PIN, "--auto-approve", "--once", "--timeout", "60",
         "--file", str(device_file)],
        env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        browser, tx, waiting, realm = _start_login(server)
        code = re.search(r'id="dynamic-code"[^>]*>(\d\d)<', waiting).group(1)
        assert _wait_state(browser, realm, tx, "approved") == "approved"
        output, _ = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, output
    assert "approving" in output and f"with code {code}" in output and "approved" in output

    done = browser.get(f"{realm}/login-actions/complete", params={"tx": tx}, allow_redirects=False)
    assert done.status_code == 302
    callback = parse_qs(urlsplit(done.headers["Location"]).query)
    tokens = requests.post(
        f"{server.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"][0],
            "redirect_uri": REDIRECT_URI,
        },
        auth=("rp-ecps", SECRET),
        timeout=10,
    ).json()
    jwks = KeySet.import_key_set(
        requests.get(f"{server.issuer}/protocol/openid-connect/certs", timeout=5).json()
    )
    claims = jwt.decode(tokens["id_token"], jwks).claims
    assert claims["SubjectNameID"] == NATIONAL_ID
    assert claims["authMode"] == "MOBILE"
    assert claims["amr"] == ["swk", "pin", "mfa"]


def test_simulator_library_deny_and_wrong_pin(server, device_file):
    phone = DeviceSimulator(DeviceFile.load(device_file))
    browser, tx, _, realm = _start_login(server)
    (item,) = phone.pending(wait=5)
    assert item["kind"] == "browser" and item["client_name"] == "RP e-CPS"
    with pytest.raises(ProtocolError) as wrong:
        phone.deny(item["request_id"], "000000")
    assert wrong.value.code == "wrong_pin" and wrong.value.problem["remaining_attempts"] == 2
    assert phone.deny(item["request_id"], PIN) == {
        "request_id": item["request_id"],
        "status": "denied",
    }
    assert _wait_state(browser, realm, tx, "failed") == "failed"
    assert phone.me()["remaining_pin_attempts"] == 3  # the right PIN reset the count


def test_simulator_cli_approve_with_code_and_wrong_code(server, device_file):
    phone = DeviceSimulator(DeviceFile.load(device_file))
    browser, tx, waiting, realm = _start_login(server)
    shown = re.search(r'id="dynamic-code"[^>]*>(\d\d)<', waiting).group(1)
    (item,) = phone.pending(wait=5)
    wrong = next(c for c in item["candidates"] if c != shown)
    result = server.cli(
        "device",
        "approve",
        "--pin",
        PIN,
        "--code",
        wrong,
        "--file",
        str(device_file),
        check=False,
    )
    assert result.returncode == 1 and "wrong_code" in result.stderr
    assert _wait_state(browser, realm, tx, "failed") == "failed"

    browser, tx, waiting, realm = _start_login(server)
    shown = re.search(r'id="dynamic-code"[^>]*>(\d\d)<', waiting).group(1)
    phone.pending(wait=5)
    result = server.cli(
        "device", "approve", "--pin", PIN, "--code", shown, "--file", str(device_file)
    )
    # The command says which server it talked to: the one of the activation URI.
    assert f"approved on {phone.device.server}" in result.stdout
    assert _wait_state(browser, realm, tx, "approved") == "approved"


def test_simulator_stream_and_ciba_free_watch(server, device_file):
    """The SSE stream delivers a request created while it is open."""
    phone = DeviceSimulator(DeviceFile.load(device_file))
    events = phone.stream(timeout=30)
    browser, tx, _, realm = _start_login(server)
    event, data = next(events)
    assert event == "request" and data["kind"] == "browser"
    assert data["sandbox_expected_code"] in data["candidates"]
    assert (
        phone.approve(data["request_id"], PIN, data["sandbox_expected_code"])["status"]
        == "approved"
    )
    event, data = next(events)
    assert event == "withdrawn"
    events.close()
    assert _wait_state(browser, realm, tx, "approved") == "approved"


def test_watch_times_out_with_nothing_to_do(server, device_file):
    result = server.cli(
        "device",
        "watch",
        "--pin",
        PIN,
        "--once",
        "--timeout",
        "1",
        "--file",
        str(device_file),
        check=False,
    )
    assert result.returncode == 1
    assert "0 request(s) decided" in result.stdout


def test_simulator_refusals_and_tokens(server, device_file):
    device = DeviceFile.load(device_file)
    token = make_device_token(device)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.base}/ecps/device/me", headers=headers, timeout=5).ok
    replay = requests.get(f"{server.base}/ecps/device/me", headers=headers, timeout=5)
    assert replay.status_code == 401
    assert replay.headers["Content-Type"] == "application/problem+json"
    assert replay.json()["code"] == "replayed_token"
    with pytest.raises(SimulatorError):
        parse_activation_uri("https://example.org/?code=x")
    assert parse_activation_uri("santeid-ecps://activate?server=http%3A%2F%2Fh%3A1&code=c") == (
        "http://h:1",
        "c",
    )
    # A used activation code is refused through the simulator too.
    uri = _activation_uri(server)
    DeviceSimulator.enroll(uri, PIN)
    with pytest.raises(ProtocolError) as used:
        DeviceSimulator.enroll(uri, PIN)
    assert used.value.code == "activation_code_used"


def test_cli_approve_with_code_picks_the_login_showing_it(server, device_file):
    """Two logins pending: ``approve --code NN`` approves the one whose page shows NN."""
    phone = DeviceSimulator(DeviceFile.load(device_file))
    for _ in range(10):
        first, first_tx, _, realm = _start_login(server)
        second, second_tx, waiting, _ = _start_login(server)
        shown = re.search(r'id="dynamic-code"[^>]*>(\d\d)<', waiting).group(1)
        pending = phone.pending(wait=5)
        assert len(pending) == 2
        if sum(shown in item["candidates"] for item in pending) == 1:
            break
        # The first request offers the code shown too (three candidates out of 100: about one
        # run in 30), which the command rightly refuses as ambiguous: start both again.
        for item in pending:
            phone.deny(item["request_id"], PIN)
    else:
        pytest.fail("every pair of logins offered the code shown on both")
    result = server.cli(
        "device", "approve", "--pin", PIN, "--code", shown, "--file", str(device_file)
    )
    assert "approved" in result.stdout
    assert _wait_state(second, realm, second_tx, "approved") == "approved"
    assert (
        first.get(f"{realm}/login-actions/status", params={"tx": first_tx}).json()["state"]
        == "waiting"
    )
    (left,) = phone.pending()
    phone.deny(left["request_id"], PIN)
    _start_login(server)
    (item,) = phone.pending(wait=5)
    missing = next(f"{n:02d}" for n in range(100) if f"{n:02d}" not in item["candidates"])
    refused = server.cli(
        "device",
        "approve",
        "--pin",
        PIN,
        "--code",
        missing,
        "--file",
        str(device_file),
        check=False,
    )
    assert refused.returncode == 1 and f"offers the code {missing}" in refused.stderr
    phone.deny(item["request_id"], PIN)


def test_simulator_enrols_from_the_app_link(server):
    """What the activation QR code holds now: the e-CPS app link."""
    link = json.loads(server.cli("ecps", "activate", NATIONAL_ID, "--json").stdout)["app_link"]
    assert link.startswith(f"{server.base}/ecps/app/#activation=")
    phone = DeviceSimulator.enroll(link, PIN, name="from the link")
    assert phone.device.server == server.base and phone.device.audience == ""
    info = phone.me()
    assert info["name"] == "from the link" and info["status"] == "active"
    phone.http.post(  # leave the professional with the module's device only
        f"{server.base}/ecps/device/revoke",
        headers={"Authorization": f"Bearer {make_device_token(phone.device)}"},
        timeout=5,
    ).raise_for_status()


# -- docs/ecps-simulator.md, "In CI" -----------------------------------------------------------
#: More logins than the production limits let the login page start in ``ecps_push_window``:
#: 10 per professional, 30 per address.
CI_LOGINS = 31


def in_ci_recipe_settings() -> dict[str, str]:
    """The ``SANTEID_*`` settings the "In CI" recipe exports, but for those naming its own
    store, issuer and device file (this test's are its own)."""
    section = RECIPES.read_text(encoding="utf-8").split("## In CI", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    exported = {}
    for line in block.splitlines():
        if line.startswith("export "):
            for word in shlex.split(line, comments=True)[1:]:
                name, _, value = word.partition("=")
                exported[name] = value
    own = ("SANTEID_STORE_URL", "SANTEID_ISSUER", "SANTEID_DEVICE_FILE")
    return {name: value for name, value in exported.items() if name not in own}


@pytest.mark.timeout(300)
def test_the_in_ci_recipe_approves_more_logins_than_the_production_limits(tmp_path, redis_server):
    """A CI run logs in hundreds of times through the simulated device: the recipe's settings
    let the login page start them all (never ``too_many_logins``), each approved by ``device
    watch --auto-approve``."""
    settings = in_ci_recipe_settings()
    with santeid_process(
        tmp_path,
        clients=[CLIENT],
        SANTEID_STORE_URL=redis_database(redis_server, 8),
        **settings,
    ) as server:
        device = tmp_path / "device.json"
        uri = _activation_uri(server)
        server.cli("device", "enroll", "--activation-uri", uri, "--pin", PIN, "--file", str(device))
        watcher = subprocess.Popen(
            [SANTEID, "device", "watch", "--pin", PIN, "--auto-approve", "--timeout", "240",
             "--file", str(device)],
            env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for login in range(CI_LOGINS):
                # Started (the identifier's 303, which _start_login asserts): the watcher may
                # approve it before its waiting page is fetched.
                browser, tx, _, realm = _start_login(server)
                assert _wait_state(browser, realm, tx, "approved") == "approved", login
        finally:
            watcher.kill()
            watcher.wait()

"""Metrics and JSON logs of a real ``santeid serve --workers 2`` (Granian) on a real Redis:
every worker's counts add up in ``/metrics``; the JSON log lines parse, carry the request id,
and hold none of the secrets, codes, PINs, tokens or identity traits the flows used."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path

import pytest
import requests

from santeid.civil_status.generate import generate
from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import REDIRECT_URI
from tests.support.operations import SECRET
from tests.support.operations import UNKNOWN_NATIONAL_ID
from tests.support.operations import full_login
from tests.support.operations import metric_sum
from tests.support.operations import parse_metrics
from tests.support.operations import run
from tests.support.operations import sandbox_professional
from tests.support.operations import start_login
from tests.support.operations import submit_identifier
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

SEARCH = "/insi/v1/ins/search-by-traits"
ADRTROIS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
            "birthDate": "1997-02-26"}  # fmt: skip
PIN = "135792"
ECPS_PROFESSIONAL = "810000000004"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("operations")
    base_path = home / "civil-status.sqlite3"
    generate(base_path, 300, 3, as_of=date(2026, 1, 1), chunk_size=300)
    with santeid_process(
        home,
        args=["--workers", "2"],
        clients=[CLIENT],
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/9",
        SANTEID_INSI_BASE=str(base_path),
        SANTEID_LOG_FORMAT="json",
    ) as process:
        yield {
            "base": process.base,
            "issuer": process.issuer,
            "env": process.env,
            "log": process.log,
            "pid": process.process.pid,
        }


def _metrics(base: str) -> dict:
    response = requests.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse_metrics(response.text)


def _worker_metric_files(log_path: Path) -> dict[str, list[str]]:
    """The files of each process in the metrics directory ``santeid serve`` made (its path is
    logged at start)."""
    directory = Path(re.search(r"/\S*santeid-metrics-\w+", log_path.read_text()).group(0))
    files: dict[str, list[str]] = {}
    for path in directory.glob("*.db"):
        files.setdefault(path.stem.rsplit("_", 1)[1], []).append(path.name)
    return files


def test_metrics_add_up_across_two_workers(server):
    before = _metrics(server["base"])
    national_id = sandbox_professional(server["env"])
    logins = 4
    for _ in range(logins):
        token = full_login(server["issuer"], national_id)
    for _ in range(2):
        _, _, browser, login_url = start_login(server["issuer"])
        refused = submit_identifier(browser, login_url, UNKNOWN_NATIONAL_ID)
        assert refused.status_code == 400
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    for _ in range(3):
        found = requests.post(
            f"{server['base']}{SEARCH}", json=ADRTROIS, headers=bearer, timeout=10
        )
        assert found.status_code == 200, found.text
    after = _metrics(server["base"])

    def added(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    assert added("santeid_logins_started_total", client=CLIENT_ID) == logins + 2
    assert added("santeid_logins_completed_total", client=CLIENT_ID, auth_mode="MOBILE") == logins
    assert added("santeid_logins_failed_total", client=CLIENT_ID, reason="unknown_id") == 2
    assert (
        added("santeid_tokens_issued_total", client=CLIENT_ID, grant="authorization_code") == logins
    )
    assert (
        added(
            "santeid_insi_calls_total",
            operation="rechercherInsAvecTraitsIdentite",
            cr="00",
            fault="",
            software="unknown",  # the client is not a registered INSi software (IDAM)
        )
        == 3
    )
    assert (
        added("santeid_http_request_duration_seconds_count", family="token", status="2xx") == logins
    )
    assert added("santeid_http_request_duration_seconds_count", family="insi", status="2xx") == 3
    # No national identifier, token or client-chosen string became a label.
    labels = {value for (_, ls) in after for _, value in ls}
    assert national_id not in labels and UNKNOWN_NATIONAL_ID not in labels
    # The counts came from both workers' files, summed by /metrics.
    # The counts came from both workers' files, summed by /metrics (the server process may
    # have files of its own, made while checking the configuration).
    files = _worker_metric_files(server["log"])
    writers = [pid for pid, names in files.items() if "histogram_" + pid + ".db" in names]
    assert len(writers) == 2, files


def test_json_logs_parse_and_hold_no_secret(server, tmp_path):
    env = dict(server["env"], SANTEID_DEVICE_FILE=str(tmp_path / "device.json"))
    national_id = sandbox_professional(env)
    # Code flow: code, tokens, client secret.
    token = full_login(server["issuer"], national_id)
    refreshed = requests.post(
        f"{server['issuer']}/protocol/openid-connect/token",
        auth=(CLIENT_ID, SECRET),
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        timeout=10,
    ).json()
    # CIBA (sandbox professional: approved at once), then the tokens.
    ciba = requests.post(
        f"{server['issuer']}/protocol/openid-connect/ext/ciba/auth",
        auth=(CLIENT_ID, SECRET),
        data={"scope": "openid", "login_hint": national_id, "binding_message": "77"},
        timeout=10,
    ).json()
    ciba_tokens = {}
    for _ in range(50):
        answer = requests.post(
            f"{server['issuer']}/protocol/openid-connect/token",
            auth=(CLIENT_ID, SECRET),
            data={
                "grant_type": "urn:openid:params:grant-type:ciba",
                "auth_req_id": ciba["auth_req_id"],
            },
            timeout=10,
        )
        if answer.status_code == 200:
            ciba_tokens = answer.json()
            break
        time.sleep(0.3)
    assert ciba_tokens, "the CIBA request was not approved"
    # INSi search: identity traits in, an INS out.
    found = requests.post(
        f"{server['base']}{SEARCH}",
        json=ADRTROIS,
        headers={
            "Authorization": f"Bearer {token['access_token']}",
            "X-Request-Id": "ops-trace-000042",
        },
        timeout=10,
    )
    assert found.status_code == 200
    assert found.headers["X-Request-Id"] == "ops-trace-000042"
    # e-CPS activation with a PIN, then a wrong PIN on a CIBA request.
    activation = json.loads(run(env, "ecps", "activate", ECPS_PROFESSIONAL, "--json"))
    run(env, "device", "enroll", "--activation-uri", activation["uri"], "--pin", PIN)
    time.sleep(1.0)  # let the workers' log lines reach the file

    log_text = server["log"].read_text()
    secrets = {
        "client secret": SECRET,
        "access token": token["access_token"],
        "refresh token": token["refresh_token"],
        "id token": token["id_token"],
        "refreshed access token": refreshed["access_token"],
        "CIBA auth_req_id": ciba["auth_req_id"],
        "CIBA access token": ciba_tokens["access_token"],
        "PIN": PIN,
        "activation uri": activation["uri"],
        "INS": found.json()["identity"]["ins"]["value"] if "identity" in found.json() else "",
        "birth name": ADRTROIS["birthName"],
        "given name": ADRTROIS["givenNames"][0],
        "birth date": ADRTROIS["birthDate"],
    }
    for what, value in secrets.items():
        if value:
            assert value not in log_text, f"the {what} is in the log"
    records = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "santeid.access"]
    assert access, "no JSON access record"
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
    for record in access:
        assert {"request_id", "endpoint", "status", "duration_ms"} <= record.keys()
    traced = [r for r in access if r["request_id"] == "ops-trace-000042"]
    assert len(traced) == 1 and traced[0]["status"] == 200
    assert any(r.get("client_id") == CLIENT_ID for r in access)
    # The message of docs/operations.md: method, endpoint name, status, duration.
    tokens = [r for r in access if r["endpoint"] == "oidc.token" and r["status"] == 200]
    assert tokens, "no access record of a token answered"
    for record in tokens:
        assert re.fullmatch(r"POST oidc\.token 200 \d+\.\d ms", record["message"]), record


def test_a_query_of_many_fields_is_answered_and_logged(server):
    """The JSON access record reads the client id of the query with a cap on its fields: an
    authorization request over that cap is answered as any other (Keycloak ignores parameters
    it does not know) and logged, never a 500 from the record written after the answer."""
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": REDIRECT_URI,
        **{f"extra{number}": "1" for number in range(60)},
    }
    answer = requests.get(
        f"{server['issuer']}/protocol/openid-connect/auth",
        params=params,
        headers={"X-Request-Id": "ops-long-query-000001"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    logged = []
    for _ in range(50):  # until the worker's log line reaches the file
        records = [json.loads(line) for line in server["log"].read_text().splitlines()
                   if line.startswith("{")]  # fmt: skip
        logged = [r for r in records if r.get("request_id") == "ops-long-query-000001"]
        if logged:
            break
        time.sleep(0.1)
    assert [(r["logger"], r["status"]) for r in logged] == [("santeid.access", 302)]


def test_one_process_exports_the_metrics_several_workers_export(server, tmp_path):
    """A server of one process exports santeid's counters and histograms and nothing else, as
    several workers' summed files do: no ``process_*``/``python_*`` metrics of the client
    library's default collectors and no ``*_created`` series, which a dashboard built on one
    layout would find, or miss, on the other."""
    with santeid_process(tmp_path, clients=[CLIENT]) as single:
        requests.get(f"{single.base}/health", timeout=10)
        one = {name for name, _ in _metrics(single.base)}
    several = {name for name, _ in _metrics(server["base"])}
    assert "santeid_http_request_duration_seconds_count" in one
    foreign = sorted(n for n in one if not n.startswith("santeid_") or n.endswith("_created"))
    assert foreign == []
    assert not any(n.endswith("_created") or not n.startswith("santeid_") for n in several)

"""One sandbox server shared by several CI jobs at once (docs/sandbox.md): a real ``santeid
serve --sandbox`` process, plain HTTP, jobs that run in parallel and share professionals. Each
job gets its own login's outcome, whatever the other jobs start or set meanwhile."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from santeid.ecps.simulator import DeviceSimulator
from tests.support.ciba import poll_over_http
from tests.support.ciba import start_over_http
from tests.support.concurrency import race_http
from tests.support.oidc_flow import authorization_url as code_flow_url
from tests.support.servers import SANTEID
from tests.support.servers import santeid_process
from tests.support.servers import stop_process_group

pytestmark = pytest.mark.server

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
#: Approved after ``sandbox_approval_delay`` (1 s here): the jobs' logins overlap.
AUTO_APPROVE, DENY = "810000000001", "810000000032"
PIN = "135790"
SANDBOX_DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
#: The README's client, which the jobs and docs/sandbox.md's recipes log in with.
README_CLIENT = {
    "client_id": "mon-service",
    "client_secret": "mon-service-secret-0123456789-abcdefgh",
    "redirect_uris": ["http://127.0.0.1:8000/callback"],
    "grant_types": ["authorization_code", "refresh_token", CIBA_GRANT],
    "backchannel_token_delivery_mode": "poll",
    "token_endpoint_auth_method": "client_secret_basic",
}
CREDENTIALS = (README_CLIENT["client_id"], README_CLIENT["client_secret"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("shared-sandbox"),
        clients=[README_CLIENT],
        SANTEID_SANDBOX_APPROVAL_DELAY="1.0",
        # Every job activates from the runner's address (docs/sandbox.md: raise it in CI).
        SANTEID_ECPS_ACTIVATION_SENDS_PER_ADDRESS="20",
    ) as process:
        discovery = requests.get(
            f"{process.issuer}/.well-known/wallet-openid-configuration", timeout=5
        ).json()
        yield {
            "base": process.base,
            "api": f"{process.base}/sandbox/api",
            "discovery": discovery,
        }


def authorization_url(server) -> str:
    endpoint = server["discovery"]["authorization_endpoint"]
    return code_flow_url(
        endpoint,
        client_id=README_CLIENT["client_id"],
        redirect_uri=README_CLIENT["redirect_uris"][0],
    )


def scripted_login(server, national_id: str, **body) -> dict:
    """One job's scripted login (``body``: ``wait``…), its answer."""
    answer = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": authorization_url(server), "national_id": national_id, **body},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def scripted_logins_together(server, national_id: str, jobs: int) -> list[dict]:
    """``jobs`` scripted logins of ``national_id`` reaching the server at the same instant."""
    body = {"authorization_url": authorization_url(server), "national_id": national_id}
    answers = race_http(
        f"{server['api']}/logins",
        json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        copies=jobs,
    )
    assert {status for status, _ in answers} == {200}, answers
    return [json.loads(text) for _, text in answers]


def create_professional(server, national_id: str, scenario) -> None:
    created = requests.post(
        f"{server['api']}/professionals",
        json={"national_id": national_id, "family_name": "JOB", "scenario": scenario},
        timeout=5,
    )
    assert created.status_code in (200, 201), created.text


def ciba_start(server, national_id: str) -> str:
    return start_over_http(server["discovery"], CREDENTIALS, national_id)


def ciba_outcome(server, auth_req_id: str, seconds: float = 10) -> dict:
    """Poll until the request is answered: the token response or its error."""
    deadline = time.monotonic() + seconds
    while True:
        answer = poll_over_http(server["discovery"], CREDENTIALS, auth_req_id).json()
        if answer.get("error") not in ("authorization_pending", "slow_down"):
            return answer
        assert time.monotonic() < deadline, answer
        time.sleep(0.3)


# -- the sandbox phone answers each login on its own --------------------------------------------
def test_parallel_scripted_logins_of_one_professional_are_all_approved(server):
    """Four jobs log the same auto-approve professional in at once: the sandbox phone approves
    each login, none is withdrawn for another's (``ecps_max_pending_requests`` is a real
    phone's rule)."""
    logins = scripted_logins_together(server, AUTO_APPROVE, 4)
    assert [login["state"] for login in logins] == ["done"] * 4, logins
    codes = {login["callback_params"]["code"] for login in logins}
    assert len(codes) == 4


def test_parallel_scripted_logins_of_a_denying_professional_are_all_denied(server):
    logins = scripted_logins_together(server, DENY, 3)
    assert [(login["state"], login.get("reason")) for login in logins] == [
        ("failed", "denied")
    ] * 3, logins


def test_two_ciba_requests_for_one_scenario_professional_both_get_tokens(server):
    """Two jobs' CIBA requests for a professional whose phone approves after 1 s: the first
    is not denied because the second was made."""
    create_professional(server, "810000000201", {"outcome": "approve", "delay": 1})
    first = ciba_start(server, "810000000201")
    second = ciba_start(server, "810000000201")
    outcomes = [ciba_outcome(server, first), ciba_outcome(server, second)]
    assert all("id_token" in outcome for outcome in outcomes), outcomes


# -- a real (simulated) device keeps the e-CPS's one pending request ------------------------------
def start_activation(server, national_id: str) -> str:
    api = server["api"]
    started = requests.post(f"{api}/activations", json={"national_id": national_id}, timeout=5)
    assert started.status_code == 201, started.text
    return started.json()["activation_id"]


def verify_activation(server, activation_id: str) -> requests.Response:
    """The activation's two codes, read from the outbox by its ``activation_id`` (as
    docs/sandbox.md's recipe reads them), sent back."""
    api = server["api"]
    messages = requests.get(
        f"{api}/outbox", params={"activation_id": activation_id}, timeout=5
    ).json()["messages"]
    assert {m["activation_id"] for m in messages} == {activation_id}, messages
    codes = {f"{m['channel']}_code": m["code"] for m in messages}
    return requests.post(f"{api}/activations/{activation_id}/verify", json=codes, timeout=5)


def activate_device(server, national_id: str) -> DeviceSimulator:
    activation = verify_activation(server, start_activation(server, national_id))
    assert activation.status_code == 200, activation.text
    return DeviceSimulator.enroll(activation.json()["app_link"], PIN)


def test_two_jobs_activating_one_professional_each_read_their_own_codes(server):
    """Job A starts an activation, job B another for the same professional, then each reads
    its codes from the outbox: by ``activation_id``, neither gets the other's."""
    first = start_activation(server, "810000000007")
    second = start_activation(server, "810000000007")
    assert verify_activation(server, first).status_code == 200
    assert verify_activation(server, second).status_code == 200


def test_a_device_login_replaced_by_a_newer_one_says_so(server):
    """With an e-CPS device, a newer login withdraws the older one, as the e-CPS does: the
    older scripted login ends ``failed``, reason ``replaced``, a reason the contract lists."""
    activate_device(server, "810000000008")

    older = scripted_login(server, "810000000008", wait=0)
    newer = scripted_login(server, "810000000008", wait=0)
    assert (older["state"], newer["state"]) == ("waiting", "waiting"), (older, newer)
    read = requests.get(f"{server['api']}/logins/{older['login_id']}", timeout=5).json()
    assert (read["state"], read["reason"]) == ("failed", "replaced")
    document = requests.get(f"{server['api']}/openapi.json", timeout=5).json()
    reasons = document["components"]["schemas"]["ScriptedLogin"]["properties"]["reason"]["enum"]
    assert "replaced" in reasons


# -- a login keeps the scenario in force when it started ------------------------------------------
def test_a_scenario_set_by_another_job_leaves_a_started_login_alone(server):
    """Job A starts a login of a professional whose phone denies after 1 s; job B then sets
    ``approve`` for the same professional: A's login is still denied, B's next one approved."""
    create_professional(server, "810000000202", {"outcome": "deny", "delay": 1})
    started = scripted_login(server, "810000000202", wait=0)
    assert started["state"] == "waiting", started
    changed = requests.put(
        f"{server['api']}/professionals/810000000202/scenario",
        json={"outcome": "approve", "delay": 0},
        timeout=5,
    )
    assert changed.status_code == 200, changed.text
    ended = requests.post(
        f"{server['api']}/logins/{started['login_id']}/complete", json={"wait": 10}, timeout=30
    ).json()
    assert (ended["state"], ended.get("reason")) == ("failed", "denied"), ended
    later = scripted_login(server, "810000000202")
    assert later["state"] == "done", later


def test_a_scenario_set_by_another_job_leaves_a_started_ciba_request_alone(server):
    create_professional(server, "810000000203", {"outcome": "deny", "delay": 1})
    auth_req_id = ciba_start(server, "810000000203")
    changed = requests.put(
        f"{server['api']}/professionals/810000000203/scenario",
        json={"outcome": "approve"},
        timeout=5,
    )
    assert changed.status_code == 200, changed.text
    assert ciba_outcome(server, auth_req_id)["error"] == "access_denied"


# -- an empty variable in a job's script -----------------------------------------------------
@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/sandbox/api/requests//deny", "application/problem+json"),
        ("/sandbox/api//scenarios", "application/problem+json"),
        ("/ecps/device//me", "application/problem+json"),
        ("/insi/v1//ins/verify", "application/problem+json"),
        ("/insi/fhir//Patient", "application/fhir+json"),
        ("/fhir/v1//Practitioner", "application/fhir+json"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_path_with_an_empty_segment_is_a_404_in_the_apis_format(server, method, path, media_type):
    """``curl -X POST "$API/requests/$REQUEST_ID/deny"`` with ``REQUEST_ID`` empty: not found,
    in the API's format — no redirect to the path with its slashes merged (another resource),
    no HTML page."""
    answer = requests.request(method, server["base"] + path, allow_redirects=False, timeout=5)
    assert answer.status_code == 404, (answer.status_code, answer.text[:200])
    assert answer.headers["Content-Type"].split(";")[0] == media_type
    assert answer.json()


# -- docs/sandbox.md's recipes, run in order on one server -------------------------------------
def recipe(section: str) -> str:
    """The ``sh`` block of docs/sandbox.md's section ``section``."""
    text = SANDBOX_DOC.read_text(encoding="utf-8").split(f"### {section}\n", 1)[1]
    return re.search(r"```sh\n(.*?)```", text, re.S).group(1)


def test_the_recipes_run_one_after_the_other_on_one_server(server, tmp_path):
    """ "An e-CPS without a browser" (which leaves a device and its watcher behind), then "A
    deny and a timeout from curl", as a job pastes them, on the same server: the second's
    professional waits for the control API, whose deny fails its login."""
    script = "\n".join(
        recipe(section)
        .replace("BASE=http://127.0.0.1:5000", f"BASE={server['base']}")
        .replace("/tmp/device.json", str(tmp_path / "device.json"))  # noqa: S108 - the doc's
        for section in ("An e-CPS without a browser", "A deny and a timeout from curl")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    env.update(HOME=str(tmp_path), PATH=f"{Path(SANTEID).parent}{os.pathsep}{env['PATH']}")
    output = tmp_path / "output.txt"
    with output.open("w") as out:
        # A session of its own: the recipe's background watcher goes with it.
        shell = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            assert shell.wait(timeout=60) == 0, output.read_text()
        finally:
            stop_process_group(shell)
    answers = [json.loads(line) for line in output.read_text().splitlines() if line[:1] == "{"]
    denied, login = answers[-3], answers[-2]
    assert denied["status"] == "denied", answers
    assert (login["state"], login["reason"]) == ("failed", "denied"), answers

"""The control API as a Java, PHP or JS test suite uses it: plain HTTP (``requests`` only; the
e-CPS device simulator, a client of the device protocol, plays the phone) against a real
``santeid serve --sandbox`` process, driving a whole code-flow login and CIBA flows without any
phone, and an e-CPS activation without a browser."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.ecps.simulator import DeviceSimulator
from tests.support.ciba import poll_over_http
from tests.support.ciba import start_over_http
from tests.support.concurrency import race_http
from tests.support.oidc_flow import authorization_query
from tests.support.oidc_flow import authorization_url as code_flow_url
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

REDIRECT_URI = "http://127.0.0.1/callback"
CLIENT_ID, SECRET = "integrator", "integrator-secret-0123456789-abcdef"
NEVER, DENY = "810000000034", "810000000032"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    client = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    # The default approval delay: the control API answers before the sandbox phone would.
    with santeid_process(
        tmp_path_factory.mktemp("control-api"),
        clients=[client],
        SANTEID_SANDBOX_APPROVAL_DELAY="1.0",
    ) as process:
        discovery = requests.get(
            f"{process.issuer}/.well-known/wallet-openid-configuration", timeout=5
        ).json()
        yield {"base": process.base, "api": f"{process.base}/sandbox/api", "discovery": discovery}


def redeem_code(server, code: str) -> requests.Response:
    """The integrator's token request for an authorization ``code``."""
    return requests.post(
        server["discovery"]["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )


def userinfo_of_code(server, code: str) -> dict:
    """The claims userinfo gives for the access token ``code`` is redeemed for."""
    tokens = redeem_code(server, code).json()
    return requests.get(
        server["discovery"]["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    ).json()


def start_login(server, national_id: str) -> tuple[requests.Session, str, str]:
    """A browser types ``national_id`` on the login page: ``(browser, login_url, txid)``."""
    browser = requests.Session()
    response = browser.get(
        server["discovery"]["authorization_endpoint"],
        params=authorization_query(CLIENT_ID, REDIRECT_URI, state="s1", nonce="n1"),
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    login_url = urljoin(response.url, response.headers["Location"])
    page = browser.get(login_url, timeout=5)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    browser.post(login_url, data={"national_id": national_id, "csrf_token": csrf}, timeout=5)
    return browser, login_url, parse_qs(urlsplit(login_url).query)["tx"][0]


def login_state(browser, login_url: str, txid: str) -> str:
    status_url = login_url.replace("/authenticate", "/status")
    return browser.get(status_url, params={"tx": txid}, timeout=5).json()["state"]


def pending(server, national_id: str) -> list[dict]:
    response = requests.get(f"{server['api']}/professionals/{national_id}/requests", timeout=5)
    assert response.status_code == 200
    return response.json()["requests"]


def test_a_whole_code_flow_login_approved_through_the_api(server):
    browser, login_url, txid = start_login(server, NEVER)
    [item] = [r for r in pending(server, NEVER) if r["kind"] == "browser"]
    approved = requests.post(
        f"{server['api']}/requests/{item['request_id']}/approve",
        json={"code": item["code"]},
        timeout=5,
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert login_state(browser, login_url, txid) == "approved"
    done = browser.get(
        login_url.replace("/authenticate", "/complete"),
        params={"tx": txid},
        allow_redirects=False,
        timeout=5,
    )
    callback = parse_qs(urlsplit(done.headers["Location"]).query)
    assert callback["state"] == ["s1"]
    info = userinfo_of_code(server, callback["code"][0])
    assert info["SubjectNameID"] == NEVER


def test_deny_and_expire_through_the_api_fail_the_login(server):
    for action, failure_text in (("deny", "refusée"), ("expire", "délai dépassé")):
        browser, login_url, txid = start_login(server, NEVER)
        item = pending(server, NEVER)[-1]
        assert requests.post(
            f"{server['api']}/requests/{item['request_id']}/{action}", timeout=5
        ).ok
        assert login_state(browser, login_url, txid) == "failed"
        page = browser.get(login_url, timeout=5).text
        assert failure_text in page.lower()


def test_scenario_professional_denies_by_itself(server):
    browser, login_url, txid = start_login(server, DENY)
    deadline = time.monotonic() + 10
    while login_state(browser, login_url, txid) == "waiting" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert login_state(browser, login_url, txid) == "failed"


def ciba_start(server, national_id: str) -> str:
    return start_over_http(server["discovery"], (CLIENT_ID, SECRET), national_id)


def ciba_poll(server, auth_req_id: str) -> requests.Response:
    return poll_over_http(server["discovery"], (CLIENT_ID, SECRET), auth_req_id)


@pytest.mark.parametrize(
    ("action", "outcome"),
    [("approve", 200), ("deny", "access_denied"), ("expire", "expired_token")],
)
def test_ciba_flow_answered_through_the_api(server, action, outcome):
    auth_req_id = ciba_start(server, NEVER)
    [item] = [r for r in pending(server, NEVER) if r["kind"] == "ciba"]
    assert item["binding_message"] == "A1"
    assert requests.post(f"{server['api']}/requests/{item['request_id']}/{action}", timeout=5).ok
    response = ciba_poll(server, auth_req_id)
    if outcome == 200:
        assert response.status_code == 200 and response.json()["id_token"]
    else:
        assert response.json()["error"] == outcome


def test_openapi_outbox_and_cards_over_http(server):
    document = requests.get(f"{server['api']}/openapi.json", timeout=5).json()
    assert document["servers"] == [{"url": server["api"]}]
    assert "/requests/{request_id}/approve" in document["paths"]
    assert requests.get(f"{server['api']}/outbox", timeout=5).json()["messages"] == []
    card = requests.post(f"{server['api']}/cards", json={"national_id": DENY}, timeout=5)
    assert card.status_code == 201 and "BEGIN CERTIFICATE" in card.json()["certificate_pem"]
    unknown = requests.get(f"{server['api']}/professionals/810000000098", timeout=5)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/problem+json"


# -- scripted logins: the whole browser part in one call --------------------------------------
def authorization_url(server, **params) -> str:
    endpoint = server["discovery"]["authorization_endpoint"]
    return code_flow_url(
        endpoint,
        **{
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "state": "s2",
            "nonce": "n2",
            **params,
        },
    )


def test_a_scripted_login_is_one_call_then_the_token_request(server):
    """What a CI job without a browser does: one control-API call plays the browser on the
    service's authorization URL, then the service exchanges the code as usual."""
    started = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": authorization_url(server), "national_id": "810000000030"},
        timeout=30,
    )
    assert started.status_code == 200, started.text
    login = started.json()
    assert login["state"] == "done"
    assert login["callback_url"].startswith(REDIRECT_URI + "?")
    callback = parse_qs(urlsplit(login["callback_url"]).query)
    assert callback["state"] == ["s2"]
    assert login["callback_params"]["code"] == callback["code"][0]
    info = userinfo_of_code(server, callback["code"][0])
    assert info["SubjectNameID"] == "810000000030"


def test_a_scripted_login_that_fails_says_why(server):
    answer = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": authorization_url(server), "national_id": DENY},
        timeout=30,
    ).json()
    assert answer["state"] == "failed" and answer["reason"] == "denied"
    assert "callback_url" not in answer


def test_a_scripted_login_answered_by_hand(server):
    """``wait: 0``: the call returns while the phone waits, with the code of the page; the
    control API approves, and ``…/complete`` ends the login."""
    answer = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": authorization_url(server), "national_id": NEVER, "wait": 0},
        timeout=30,
    ).json()
    assert answer["state"] == "waiting"
    request_id, code = answer["request"]["request_id"], answer["request"]["code"]
    login_url = f"{server['api']}/logins/{answer['login_id']}"
    assert requests.get(login_url, timeout=5).json()["state"] == "waiting"
    approved = requests.post(
        f"{server['api']}/requests/{request_id}/approve", json={"code": code}, timeout=5
    )
    assert approved.ok
    done = requests.post(f"{login_url}/complete", json={}, timeout=30).json()
    assert done["state"] == "done" and "code" in done["callback_params"]
    # Ended: read back, or completed again, it answers the same (one code, issued once).
    assert requests.get(login_url, timeout=5).json() == done
    assert requests.post(f"{login_url}/complete", json={}, timeout=30).json() == done


def test_completions_arriving_together_all_answer_the_one_code(server):
    """Ten ``…/complete`` of one approved login reach the server at the same instant: one
    ends it, every other waits for its answer — the same callback, one code — and none finds
    the login gone between its transaction and its recorded answer (``unknown_login``)."""
    for _ in range(5):
        answer = requests.post(
            f"{server['api']}/logins",
            json={"authorization_url": authorization_url(server), "national_id": NEVER, "wait": 0},
            timeout=30,
        ).json()
        request_ = answer["request"]
        approved = requests.post(
            f"{server['api']}/requests/{request_['request_id']}/approve",
            json={"code": request_["code"]},
            timeout=5,
        )
        assert approved.ok
        answers = race_http(
            f"{server['api']}/logins/{answer['login_id']}/complete",
            json.dumps({"wait": 0}).encode(),
            headers={"Content-Type": "application/json"},
            copies=10,
        )
        assert {status for status, _ in answers} == {200}, answers
        bodies = [json.loads(body) for _, body in answers]
        assert bodies[0]["state"] == "done" and "code" in bodies[0]["callback_params"]
        assert all(body == bodies[0] for body in bodies)


@pytest.mark.parametrize(
    ("params", "national_id", "state", "outcome"),
    [
        ({}, "810000000030", "done", "code"),
        ({"prompt": "none"}, "810000000030", "done", "login_required"),
        ({"scope": "openid unknown_scope"}, "810000000030", "done", "invalid_scope"),
        ({}, DENY, "failed", "denied"),
    ],
)
def test_every_scripted_login_answer_can_be_read_back(server, params, national_id, state, outcome):
    """Whatever the path — approved, answered at once by the authorization endpoint (an error
    redirect), failed on the phone — the answer has a ``login_id``, and ``GET`` of it gives the
    same answer back."""
    answer = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": authorization_url(server, **params), "national_id": national_id},
        timeout=30,
    ).json()
    assert answer["state"] == state and answer["login_id"], answer
    if state == "failed":
        assert answer["reason"] == outcome
    elif outcome == "code":
        assert "code" in answer["callback_params"] and "error" not in answer["callback_params"]
    else:
        assert answer["callback_params"]["error"] == outcome
    read = requests.get(f"{server['api']}/logins/{answer['login_id']}", timeout=5)
    assert read.status_code == 200 and read.json() == answer


def test_a_scripted_login_refused_before_the_login_page(server):
    refused = requests.post(
        f"{server['api']}/logins",
        json={
            "authorization_url": authorization_url(server, redirect_uri="https://evil.example/"),
            "national_id": "810000000030",
        },
        timeout=30,
    )
    assert refused.status_code == 400
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "authorization_refused"
    assert refused.json()["error"] == "invalid_redirect_uri"
    unknown = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": authorization_url(server), "national_id": "810000000098"},
        timeout=30,
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_professional"


def test_a_scripted_login_keeps_the_parameter_size_limit(server):
    """A 5 000-byte ``state`` (over ``max_parameter_length``): the browser's GET is refused
    400, and so is the scripted login of the same URL — no code comes back."""
    oversized = authorization_url(server, state="s" * 5000)
    assert requests.get(oversized, allow_redirects=False, timeout=5).status_code == 400
    refused = requests.post(
        f"{server['api']}/logins",
        json={"authorization_url": oversized, "national_id": "810000000030"},
        timeout=30,
    )
    assert refused.status_code == 400, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "authorization_refused"
    assert "callback_params" not in refused.json()


# -- e-CPS activation without a browser ---------------------------------------------------------
WITH_DEVICE, PIN = "810000000004", "135790"


def id_token_claims(server, id_token: str) -> dict:
    jwks = KeySet.import_key_set(requests.get(server["discovery"]["jwks_uri"], timeout=5).json())
    return jwt.decode(id_token, jwks).claims


def test_an_ecps_activated_through_the_api_approves_ciba_and_code_flow_logins(server):
    """A CI job with curl and the device simulator, no browser, on the embedded store (where
    ``santeid ecps activate`` cannot reach the server's codes): the two codes are read from the
    outbox, the activation code enrols the simulator over the device protocol, and the device
    then approves a CIBA login and a scripted code-flow login — tokens of an e-CPS login."""
    api = server["api"]
    started = requests.post(f"{api}/activations", json={"national_id": WITH_DEVICE}, timeout=5)
    assert started.status_code == 201, started.text
    messages = requests.get(
        f"{api}/outbox", params={"national_id": WITH_DEVICE, "limit": 2}, timeout=5
    ).json()["messages"]
    codes = {f"{m['channel']}_code": m["code"] for m in messages}
    activation = requests.post(
        f"{api}/activations/{started.json()['activation_id']}/verify", json=codes, timeout=5
    )
    assert activation.status_code == 200, activation.text
    phone = DeviceSimulator.enroll(activation.json()["app_link"], PIN)
    assert phone.device.national_id == WITH_DEVICE
    assert (
        requests.get(f"{api}/professionals/{WITH_DEVICE}", timeout=5).json()["active_ecps_devices"]
        == 1
    )

    # CIBA: the request reaches the device, which approves it.
    auth_req_id = ciba_start(server, WITH_DEVICE)
    (item,) = phone.pending(wait=5)
    assert (item["kind"], item["binding_message"]) == ("ciba", "A1")
    assert phone.approve(item["request_id"], PIN)["status"] == "approved"
    tokens = ciba_poll(server, auth_req_id)
    assert tokens.status_code == 200, tokens.text
    claims = id_token_claims(server, tokens.json()["id_token"])
    assert claims["SubjectNameID"] == WITH_DEVICE and claims["amr"] == ["swk", "pin", "mfa"]

    # Code flow: a scripted login waits for the device, which picks the page's code.
    login = requests.post(
        f"{api}/logins",
        json={"authorization_url": authorization_url(server), "national_id": WITH_DEVICE,
              "wait": 0},
        timeout=30,
    ).json()  # fmt: skip
    assert login["state"] == "waiting", login
    (item,) = phone.pending(wait=5)
    assert item["request_id"] == login["request"]["request_id"]
    assert phone.approve(item["request_id"], PIN, login["request"]["code"])["status"] == (
        "approved"
    )
    done = requests.post(f"{api}/logins/{login['login_id']}/complete", json={}, timeout=30).json()
    assert done["state"] == "done", done
    tokens = redeem_code(server, done["callback_params"]["code"])
    assert tokens.status_code == 200, tokens.text
    claims = id_token_claims(server, tokens.json()["id_token"])
    assert claims["SubjectNameID"] == WITH_DEVICE and claims["amr"] == ["swk", "pin", "mfa"]


#: Path parameters of the control document, as a test suite fills them in (a structure staff
#: id holds a slash, sent as it is).
OTHER_IDS = {"request_id": "r-none", "login_id": "l-none", "activation_id": "a-none"}
PATH_VALUES = [
    {"national_id": DENY, **OTHER_IDS},
    {"national_id": "500000010900017/SEC0042", **OTHER_IDS},
]


@pytest.mark.parametrize("values", PATH_VALUES, ids=["rpps", "staff"])
def test_every_method_the_document_does_not_name_is_a_405_with_its_allow(server, values):
    """Each path of the control document answers the methods it names; any other is 405, its
    ``Allow`` the document's methods (HEAD with GET, and OPTIONS, which every path answers),
    as OPTIONS lists them — whatever the professional's id, slash or not."""
    document = requests.get(f"{server['api']}/openapi.json", timeout=5).json()
    for template, operations in document["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        named = {method.upper() for method in operations if method != "parameters"}
        allowed = named | {"OPTIONS"} | ({"HEAD"} if "GET" in named else set())
        options = requests.options(server["api"] + path, timeout=5)
        assert options.status_code == 200, (path, options.text)
        assert set(options.headers["Allow"].split(", ")) == allowed, path
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - named:
            answer = requests.request(method, server["api"] + path, json={}, timeout=5)
            assert answer.status_code == 405, (method, path, answer.text)
            assert answer.json()["code"] == "method_not_allowed"
            assert set(answer.headers["Allow"].split(", ")) == allowed, (method, path)

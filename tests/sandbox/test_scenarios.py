"""Scenarios by identity, in-process: each demo scenario's browser login and CIBA outcome,
the control API's answers, and its absence outside sandbox mode."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from santeid import create_app
from santeid.observability.events import LOGIN_ERROR
from santeid.psc import proofs
from santeid.storage import MemoryStore
from tests.support.ciba import backchannel
from tests.support.ciba import poll
from tests.support.ciba import register_ciba_client
from tests.support.ecps_phone import CHEAP_PINS
from tests.support.ecps_phone import Phone
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import decode

API = "/sandbox/api"
AT_ONCE, SLOW, DENY, NEVER, WRONG_CODE, LOCKED = (
    "810000000030",
    "810000000031",
    "810000000032",
    "810000000034",
    "810000000035",
    "810000000036",
)
CARD_ONLY = "810000000005"
LOGIN = "/auth/realms/esante-wallet/login-actions"


def start_login(flow, national_id: str) -> str:
    """Type the identifier on the login page; return the transaction id."""
    response = flow.authorize()
    login_url = response.headers["Location"]
    page = flow.http.get(login_url)
    posted = flow.http.post(
        login_url,
        data={"national_id": national_id, "csrf_token": flow.csrf(page.get_data(as_text=True))},
    )
    assert posted.status_code == 303, posted.get_data(as_text=True)
    return parse_qs(urlsplit(login_url).query)["tx"][0]


def state(flow, txid: str) -> str:
    return flow.http.get(f"{LOGIN}/status?tx={txid}").get_json()["state"]


@pytest.fixture
def app(clocked_app):
    """Every test here runs on ``clock``: a scenario's delay passes with ``clock.advance``."""
    return clocked_app


def test_approved_at_once_gives_sandbox_tokens(app, flow):
    tokens = flow.full_login(AT_ONCE)
    _, claims = decode(app, tokens["id_token"])
    assert claims["SubjectNameID"] == AT_ONCE
    assert claims["acr"] == "eidas1"


def test_approved_after_its_delay_only(app, flow, clock):
    txid = start_login(flow, SLOW)
    assert state(flow, txid) == "waiting"
    clock.advance(11)
    assert state(flow, txid) == "approved"


@pytest.mark.parametrize(
    ("national_id", "failure", "message", "retry"),
    [
        (DENY, "denied", "refusée", True),
        (WRONG_CODE, "wrong_code", "code", True),
        (LOCKED, "pin_locked", "bloqué", False),
    ],
)
def test_failing_scenarios_are_explained_on_the_page(
    app, flow, national_id, failure, message, retry, clock
):
    txid = start_login(flow, national_id)
    clock.advance(5)
    assert state(flow, txid) == "failed"
    tx = app.extensions["santeid"].transactions.get(txid)
    assert tx["failure"] == failure
    # The waiting page's poll says why, as the page does (a script or CI reads it).
    status = flow.http.get(f"{LOGIN}/status?tx={txid}").get_json()
    assert status == {"state": "failed", "reason": failure}
    # Its LOGIN_ERROR event names the e-CPS mode, as the LOGIN of an approval does.
    (event,) = app.extensions["santeid"].events.list(types=(LOGIN_ERROR,))
    assert (event.auth_mode, event.professional) == (proofs.AUTH_MODE_MOBILE, national_id)
    page = flow.http.get(f"{LOGIN}/authenticate?tx={txid}").get_data(as_text=True)
    assert message in page.lower()
    assert ('action="' + f"{LOGIN}/retry") in page if retry else f"{LOGIN}/retry" not in page


def test_never_answered_waits_and_the_control_api_answers_it(app, flow, client, clock):
    txid = start_login(flow, NEVER)
    clock.advance(60)
    assert state(flow, txid) == "waiting"
    listed = client.get(f"{API}/professionals/{NEVER}/requests").get_json()["requests"]
    assert len(listed) == 1
    item = listed[0]
    assert item["kind"] == "browser" and item["code"] in item["candidates"]
    # The page shows the same code a test (or a person) reads before approving.
    page = flow.http.get(f"{LOGIN}/authenticate?tx={txid}").get_data(as_text=True)
    assert f'id="dynamic-code" aria-labelledby="dynamic-code-label">{item["code"]}<' in page

    missing = client.post(f"{API}/requests/{item['request_id']}/approve", json={})
    assert missing.status_code == 400 and missing.get_json()["code"] == "code_required"
    approved = client.post(
        f"{API}/requests/{item['request_id']}/approve", json={"code": item["code"]}
    )
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert state(flow, txid) == "approved"
    again = client.post(f"{API}/requests/{item['request_id']}/deny")
    assert again.status_code == 409 and again.get_json()["code"] == "request_not_pending"


def test_control_api_wrong_code_fails_the_login_as_the_phone_would(app, flow, client):
    txid = start_login(flow, NEVER)
    item = client.get(f"{API}/professionals/{NEVER}/requests").get_json()["requests"][0]
    wrong = next(c for c in item["candidates"] if c != item["code"])
    response = client.post(f"{API}/requests/{item['request_id']}/approve", json={"code": wrong})
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert state(flow, txid) == "failed"


def test_control_api_expire_ends_the_login(app, flow, client):
    txid = start_login(flow, NEVER)
    item = client.get(f"{API}/professionals/{NEVER}/requests").get_json()["requests"][0]
    assert client.post(f"{API}/requests/{item['request_id']}/expire").status_code == 200
    assert state(flow, txid) == "failed"
    assert app.extensions["santeid"].transactions.get(txid)["failure"] == "expired"
    assert flow.http.get(f"{LOGIN}/status?tx={txid}").get_json()["reason"] == "expired"


def test_set_scenario_changes_the_next_login_and_reset_restores_it(app, flow, client):
    put = client.put(f"{API}/professionals/{AT_ONCE}/scenario", json={"outcome": "deny"})
    assert put.status_code == 200 and put.get_json()["scenario"]["outcome"] == "deny"
    txid = start_login(flow, AT_ONCE)
    assert state(flow, txid) == "failed"
    reset = client.delete(f"{API}/professionals/{AT_ONCE}/scenario")
    assert reset.get_json()["scenario"] == {"outcome": "approve", "delay": 0.0}


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "explode"},
        {"outcome": "approve", "delay": -1},
        {"delay": 3},
        ["deny"],
        # An integer beyond a double's range: math.isfinite raised OverflowError, a 500.
        {"outcome": "approve", "delay": 10**400},
    ],
)
def test_bad_scenario_is_refused_and_changes_nothing(client, body):
    response = client.put(f"{API}/professionals/{AT_ONCE}/scenario", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] in ("invalid_scenario", "invalid_request")
    assert client.get(f"{API}/professionals/{AT_ONCE}").get_json()["scenario"]["delay"] == 0.0


def test_json_object_sent_as_a_form_is_refused_naming_the_media_type(client):
    """``curl -d '{"outcome": "deny"}'`` without ``-H 'Content-Type: application/json'`` sends
    the object as a form: the refusal says which media type the API reads (it said "the body
    must be a JSON object" of a JSON object), and the scenario is left as it was."""
    response = client.put(
        f"{API}/professionals/{AT_ONCE}/scenario",
        data='{"outcome": "deny"}',
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["code"] == "invalid_request"
    assert problem["detail"] == "the body must be a JSON object (application/json)"
    scenario = client.get(f"{API}/professionals/{AT_ONCE}").get_json()["scenario"]
    assert scenario["outcome"] == "approve"


def test_a_scenario_with_a_member_twice_is_refused_naming_it_and_changes_nothing(client):
    response = client.put(
        f"{API}/professionals/{AT_ONCE}/scenario",
        data='{"outcome": "approve", "outcome": "deny"}',
        content_type="application/json",
    )
    problem = response.get_json()
    assert response.status_code == 400, problem
    assert problem["code"] == "invalid_request"
    assert "'outcome' appears more than once" in problem["detail"]
    scenario = client.get(f"{API}/professionals/{AT_ONCE}").get_json()["scenario"]
    assert scenario["outcome"] == "approve"


def test_card_only_professional_has_no_sandbox_phone(flow):
    response = flow.authorize()
    login_url = response.headers["Location"]
    page = flow.http.get(login_url)
    posted = flow.http.post(
        login_url,
        data={"national_id": CARD_ONLY, "csrf_token": flow.csrf(page.get_data(as_text=True))},
    )
    assert posted.status_code == 400


def test_created_professional_logs_in_with_its_claims(app, flow, client, clock):
    body = {
        "national_id": "810000000099",
        "family_name": "TESTEUR",
        "given_names": ["ALICE"],
        "scenario": "approve",
        "exercices": [
            {
                "code_profession": "21",
                "activities": [
                    {
                        "code_mode_exercice": "L",
                        "structure": {
                            "identifiant_technique": "R9000000000099",
                            "raison_sociale": "PHARMACIE DE TEST",
                        },
                    }
                ],
            }
        ],
    }
    created = client.post(f"{API}/professionals", json=body)
    assert created.status_code == 201, created.get_json()
    clock.advance(5)
    tokens = flow.full_login("810000000099")
    info = client.get(
        f"{OIDC}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    claims = info.get_json()
    assert claims["family_name"] == "TESTEUR"
    activity = claims["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert activity["raisonSocialeSite"] == "PHARMACIE DE TEST"
    # Created without other_ids, listed with its own id as every PSC answer
    # (docs/reference/pro-sante-connect.md §6, §10): OpenXtrem's "is RPPS" rule holds.
    own = [{"identifiant": "810000000099", "origine": "RPPS", "qualite": 1}]
    assert claims["otherIds"] == own
    _, access = decode(app, tokens["access_token"])
    assert access["otherIds"] == own


def test_created_structure_staff_has_no_other_ids_anywhere(app, flow, client, clock):
    """A person of a structure (id type 5) has no RPPS, ADELI or EDIT id: the userinfo of such
    a person (docs/reference/pro-sante-connect.md §9.5) has no ``otherIds``, and neither have
    the access token nor its introspection."""
    staff = "500000010900017/ACC0001"
    body = {"national_id": staff, "family_name": "ACCUEIL", "scenario": "approve"}
    assert client.post(f"{API}/professionals", json=body).status_code == 201
    clock.advance(5)
    tokens = flow.full_login(staff)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = client.get(f"{OIDC}/userinfo", headers=bearer).get_json()
    assert userinfo["SubjectNameID"] == staff and "otherIds" not in userinfo
    _, access = decode(app, tokens["access_token"])
    assert access["preferred_username"] == staff and "otherIds" not in access
    introspection = client.post(
        f"{OIDC}/token/introspect",
        data={"token": tokens["access_token"]},
        headers=basic_auth(flow.client["client_id"], flow.client["client_secret"]),
    ).get_json()
    assert introspection["active"] is True and "otherIds" not in introspection


def test_invalid_professional_is_refused_with_every_error(client):
    response = client.post(
        f"{API}/professionals",
        json={"national_id": "12", "exercices": [{"activities": [], "colour": "blue"}]},
    )
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert any("national_id" in e for e in errors)
    assert any("family_name" in e for e in errors)
    assert any("colour" in e and "unknown field" in e for e in errors)
    assert client.get(f"{API}/professionals/12").status_code == 400


def test_invalid_professional_detail_locates_each_error_in_the_body(client):
    """The detail names each field as the body holds it (``errors`` keeps the file's form); it
    read ": 'family_name' is required; .given_names: …", the file's location cut off."""
    response = client.post(
        f"{API}/professionals", json={"national_id": "810000000102", "given_names": "JEAN"}
    )
    assert response.status_code == 400
    problem = response.get_json()
    assert problem["detail"] == (
        "'family_name' is required; given_names: expected a list of strings"
    )
    assert problem["errors"] == [
        "professionals[0]: 'family_name' is required",
        "professionals[0].given_names: expected a list of strings",
    ]


def test_issued_card_is_a_pem_certificate_for_the_professional(client):
    response = client.post(f"{API}/cards", json={"national_id": AT_ONCE})
    assert response.status_code == 201
    card = response.get_json()
    assert card["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in card["private_key_pem"]
    expired = client.post(f"{API}/cards", json={"national_id": AT_ONCE, "validity": "expired"})
    assert expired.get_json()["not_after"] < card["not_before"]


def test_openapi_document_lists_every_route(app, client):
    from openapi_spec_validator import validate

    document = client.get(f"{API}/openapi.json").get_json()
    validate(document)
    served = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/") and not rule.rule.endswith("openapi.json")
    }
    assert served == set(document["paths"])
    # And each path's methods.
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API))
        if path in document["paths"]:
            methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
            assert methods <= set(document["paths"][path]), (path, methods)


def test_control_api_does_not_exist_outside_sandbox_mode(settings, app):
    # ``app`` (sandbox) made the dev keys the production app needs to start.
    production = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = production.test_client()
    for path in ("/openapi.json", "/scenarios", f"/professionals/{AT_ONCE}/requests"):
        assert http.get(API + path).status_code == 404
    assert http.post(f"{API}/professionals", json={}).status_code == 404
    assert http.post(f"{API}/cards", json={"national_id": AT_ONCE}).status_code == 404
    assert http.get(f"{API}/outbox", query_string={"national_id": AT_ONCE}).status_code == 404


# -- CIBA follows the same scenarios --------------------------------------------------------
@pytest.fixture
def ciba(app):
    return register_ciba_client(app, backchannel_polling_interval=5)


def test_ciba_deny_is_access_denied(app, client, ciba, clock):
    auth_req_id = backchannel(client, ciba, login_hint=DENY).get_json()["auth_req_id"]
    clock.advance(5)
    response = poll(client, ciba, auth_req_id)
    assert response.status_code == 400 and response.get_json()["error"] == "access_denied"


def test_ciba_never_is_expired_token_once_expired_through_the_api(app, client, ciba):
    auth_req_id = backchannel(client, ciba, login_hint=NEVER).get_json()["auth_req_id"]
    assert poll(client, ciba, auth_req_id).get_json()["error"] == "authorization_pending"
    item = client.get(f"{API}/professionals/{NEVER}/requests").get_json()["requests"][0]
    assert item["kind"] == "ciba" and item["binding_message"] == "42"
    client.post(f"{API}/requests/{item['request_id']}/expire")
    assert poll(client, ciba, auth_req_id).get_json()["error"] == "expired_token"


def test_ciba_slow_professional_polled_too_fast_is_slow_down_then_tokens(app, client, ciba, clock):
    auth_req_id = backchannel(client, ciba, login_hint=SLOW).get_json()["auth_req_id"]
    assert poll(client, ciba, auth_req_id).get_json()["error"] == "authorization_pending"
    assert poll(client, ciba, auth_req_id).get_json()["error"] == "slow_down"
    # Past the scenario's delay and the request's polling interval.
    clock.advance(30)
    tokens = poll(client, ciba, auth_req_id)
    assert tokens.status_code == 200, tokens.get_json()
    _, claims = decode(app, tokens.get_json()["id_token"])
    assert claims["SubjectNameID"] == SLOW


def test_ciba_approved_through_the_control_api(app, client, ciba):
    auth_req_id = backchannel(client, ciba, login_hint=NEVER).get_json()["auth_req_id"]
    item = client.get(f"{API}/professionals/{NEVER}/requests").get_json()["requests"][0]
    assert client.post(f"{API}/requests/{item['request_id']}/approve").status_code == 200
    response = poll(client, ciba, auth_req_id)
    assert response.status_code == 200, response.get_json()


def test_ciba_card_only_and_inactive_professionals_get_keycloaks_errors(client, ciba):
    """The scenarios table: no phone to push to is Keycloak's 503; an inactive professional is
    ``invalid_user`` (error_style = "keycloak", the default)."""
    card_only = backchannel(client, ciba, login_hint=CARD_ONLY)
    assert card_only.status_code == 503
    assert card_only.get_json() == {
        "error": "server_error",
        "error_description": "Failed to send authentication request",
    }
    inactive = backchannel(client, ciba, login_hint="810000000024")
    assert inactive.status_code == 400
    assert inactive.get_json()["error"] == "invalid_request"
    assert inactive.get_json()["error_description"] == "invalid_user"


# -- a professional with an e-CPS device uses it first, whatever the scenario ---------------
@pytest.fixture
def device(app, client):
    """A device for ``AT_ONCE`` (scenario ``approve``, no delay): the device, not the
    scenario, answers this professional's logins."""
    app.extensions["santeid"].ecps.pins = CHEAP_PINS
    return Phone.register(app, client, AT_ONCE)


def test_control_api_reads_never_answer_a_device_request(app, flow, client, device, clock):
    txid = start_login(flow, AT_ONCE)
    assert app.extensions["santeid"].transactions.get(txid)["authenticator"] == "ecps"
    clock.advance(5)
    listed = client.get(f"{API}/professionals/{AT_ONCE}/requests").get_json()["requests"]
    assert [item["status"] for item in listed] == ["pending"]
    one = client.get(f"{API}/requests/{listed[0]['request_id']}").get_json()
    assert one["status"] == "pending"
    assert state(flow, txid) == "waiting"
    (item,) = device.pending().get_json()["requests"]
    decided = device.decide(item["request_id"], "deny")
    assert decided.get_json()["status"] == "denied"
    assert state(flow, txid) == "failed"


def test_control_api_still_answers_a_device_request_by_hand(app, flow, client, device):
    txid = start_login(flow, AT_ONCE)
    item = client.get(f"{API}/professionals/{AT_ONCE}/requests").get_json()["requests"][0]
    approved = client.post(
        f"{API}/requests/{item['request_id']}/approve", json={"code": item["code"]}
    )
    assert approved.get_json()["status"] == "approved"
    assert state(flow, txid) == "approved"
    # docs/sandbox.md: "the tokens are then the e-CPS's, with amr ["sandbox"]".
    tokens = flow.token(flow.code_from(flow.http.get(f"{LOGIN}/complete?tx={txid}"))["code"])
    _, claims = decode(app, tokens.get_json()["id_token"])
    assert claims["authMode"] == "MOBILE" and claims["amr"] == ["sandbox"]


def test_control_api_reads_never_answer_a_device_ciba_request(app, client, ciba, device):
    auth_req_id = backchannel(client, ciba, login_hint=AT_ONCE).get_json()["auth_req_id"]
    listed = client.get(f"{API}/professionals/{AT_ONCE}/requests").get_json()["requests"]
    assert [(item["kind"], item["status"]) for item in listed] == [("ciba", "pending")]
    assert poll(client, ciba, auth_req_id).get_json()["error"] == "authorization_pending"
    (item,) = device.pending().get_json()["requests"]
    assert device.decide(item["request_id"]).get_json()["status"] == "approved"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no-such-thing", 404, "not_found"),
        ("GET", f"/requests/{'x' * 32}/approve", 405, "method_not_allowed"),
        ("POST", "/scenarios", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_problems_with_a_code(client, method, path, status, code):
    """docs/sandbox.md: every error has a stable ``code`` and a ``{origin}/problems/<code>``
    type, an unknown path or a wrong method too."""
    response = client.open(API + path, method=method)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code and problem["status"] == status
    assert problem["type"] == f"http://localhost/problems/{code}"


def test_reset_returns_a_created_professional_to_its_creation_scenario(app, client):
    """docs/sandbox.md: DELETE …/scenario goes "back to the file's or the default scenario";
    for a professional made by POST /professionals, its creation scenario is that base."""
    body = {"national_id": "810000000098", "family_name": "BASE", "given_names": ["PAUL"]}
    created = client.post(f"{API}/professionals", json={**body, "scenario": "deny"})
    assert created.get_json()["scenario"]["outcome"] == "deny"
    client.put(f"{API}/professionals/810000000098/scenario", json={"outcome": "approve"})
    reset = client.delete(f"{API}/professionals/810000000098/scenario").get_json()
    assert reset["scenario"] == {"outcome": "deny", "delay": None}
    # Replaced without a scenario: no sandbox phone, and a reset keeps it so.
    replaced = client.post(f"{API}/professionals", json=body)
    assert replaced.status_code == 200 and replaced.get_json()["scenario"] is None
    reset = client.delete(f"{API}/professionals/810000000098/scenario").get_json()
    assert reset["scenario"] is None


def test_a_scenario_record_holds_the_choice_over_the_creation_scenario():
    """One record per professional (one store read per lookup): the control API's choice
    wins over the creation's scenario (kept with the professional), a reset returns to it, a
    new creation forgets the choice (and can put it back); records written by earlier
    santeids are still read: the chosen scenario alone as the choice, a ``base`` as the
    creation's."""
    from santeid.directory.models import Professional
    from santeid.sandbox.scenarios import APPROVE
    from santeid.sandbox.scenarios import DENY
    from santeid.sandbox.scenarios import NEVER
    from santeid.sandbox.scenarios import Scenario
    from santeid.sandbox.scenarios import ScenarioBook
    from santeid.sandbox.scenarios import with_scenario
    from santeid.storage import keys

    store = MemoryStore()
    book = ScenarioBook(store)
    key = keys.SANDBOX_SCENARIO.key("899999999901")
    nobody = Professional("899999999901", "8", "99999999901", "NOBODY")
    assert book.get(nobody) is None
    someone = with_scenario(nobody, Scenario(NEVER))
    assert book.get(someone) == Scenario(NEVER)
    book.set(someone.national_id, Scenario(DENY, 2.0))
    assert book.get(someone) == Scenario(DENY, 2.0)
    book.reset(someone.national_id)
    assert book.get(someone) == Scenario(NEVER)
    book.set(someone.national_id, Scenario(DENY, 2.0))
    put_back = book.forget_choice(someone.national_id)
    assert book.get(someone) == Scenario(NEVER) and store.get(key) is None
    put_back()
    assert book.get(someone) == Scenario(DENY, 2.0)
    store.put(key, {"outcome": DENY, "delay": None}, 60)
    assert book.get(nobody) == Scenario(DENY)
    store.put(key, {"chosen": None, "base": {"outcome": APPROVE, "delay": None}}, 60)
    assert book.get(nobody) == Scenario(APPROVE)


def test_a_request_reads_a_scenario_once_and_sees_its_own_writes(app):
    """Within one HTTP request the scenario is read from the store once (the check that the
    sandbox phone answers and the request it makes see the same one); the request's own
    changes are seen at once, another worker's from the next request on."""
    from santeid.directory.models import Professional
    from santeid.sandbox.scenarios import DENY
    from santeid.sandbox.scenarios import NEVER
    from santeid.sandbox.scenarios import Scenario
    from santeid.sandbox.scenarios import ScenarioBook
    from santeid.sandbox.scenarios import with_scenario
    from santeid.storage import keys

    store = MemoryStore()
    book = ScenarioBook(store)
    key = keys.SANDBOX_SCENARIO.key("899999999901")
    someone = with_scenario(Professional("899999999901", "8", "99999999901", "X"), Scenario(NEVER))
    another_worker = {"chosen": {"outcome": DENY, "delay": None}, "base": None}
    with app.test_request_context("/"):
        assert book.get(someone) == Scenario(NEVER)
        store.put(key, another_worker, 60)
        assert book.get(someone) == Scenario(NEVER)  # read once in this request
        book.set(someone.national_id, Scenario(DENY, 2.0))
        assert book.get(someone) == Scenario(DENY, 2.0)  # its own write
        book.reset(someone.national_id)
        assert book.get(someone) == Scenario(NEVER)
        put_back = book.forget_choice(someone.national_id)
        put_back()
        assert book.get(someone) == Scenario(NEVER)
    store.put(key, another_worker, 60)
    with app.test_request_context("/"):
        assert book.get(someone) == Scenario(DENY)  # the next request reads it


def test_scenario_descriptions_say_when_the_phone_answers(settings):
    """docs/sandbox.md, "Scenarios by identity": a delay of 0 is at once; no delay waits
    ``sandbox_approval_delay`` for a browser login and answers a CIBA request at once."""
    slow_browser = settings.replace(sandbox_approval_delay=1.5)
    client = create_app(slow_browser, store=MemoryStore()).test_client()

    def description(national_id: str) -> str:
        return client.get(f"{API}/professionals/{national_id}").get_json()["scenario_description"]

    assert description(AT_ONCE) == "approved at once"
    assert description(SLOW) == "approved after 10 s"
    assert description("810000000001") == (
        "approved after sandbox_approval_delay (1.5 s) for a browser login, at once for CIBA"
    )
    assert description(DENY) == (
        "denied on the phone after sandbox_approval_delay (1.5 s) for a browser login,"
        " at once for CIBA"
    )
    assert description(CARD_ONLY) == "no phone: CPS card (or an activated e-CPS) only"


def test_the_french_home_page_describes_the_scenarios_in_french(settings):
    # The page is French; its table read "approved at once" beside French headings.
    slow_browser = settings.replace(sandbox_approval_delay=1.5)
    client = create_app(slow_browser, store=MemoryStore()).test_client()
    page = client.get("/").get_data(as_text=True)
    table = page[page.index('id="scenario-table"') : page.index("</table>")]

    def row(national_id: str) -> str:
        start = table.index(f"<code>{national_id}</code>")
        return table[start : table.index("</tr>", start)]

    assert "<td>validée immédiatement</td>" in row(AT_ONCE)
    assert "<td>validée après 10 s</td>" in row(SLOW)
    assert (
        "<td>refusée sur le téléphone après sandbox_approval_delay (1.5 s) pour une connexion "
        "navigateur, immédiatement pour CIBA</td>"
    ) in row(DENY)
    assert "<td>pas de téléphone : carte CPS (ou e-CPS activée) seulement</td>" in row(CARD_ONLY)
    assert "approved" not in table and "at once" not in table


def test_a_professional_not_written_keeps_the_scenario_chosen_before(app, client, monkeypatch):
    """``POST /professionals`` forgets the choice set before, then writes the professional and
    its scenario in one directory write; should that write fail, the choice is put back:
    nothing half-done is left."""
    from santeid.db.backends import SqliteUnavailable

    body = {"national_id": "810000000097", "family_name": "KEPT", "scenario": "deny"}
    assert client.post(f"{API}/professionals", json=body).status_code == 201
    client.put(f"{API}/professionals/810000000097/scenario", json={"outcome": "never"})
    directory = app.extensions["santeid"].directory

    def fail(professional):
        raise SqliteUnavailable("database is locked")

    monkeypatch.setattr(directory, "upsert", fail)
    refused = client.post(f"{API}/professionals", json={**body, "family_name": "NEW"})
    assert refused.status_code == 503
    monkeypatch.undo()
    kept = client.get(f"{API}/professionals/810000000097").get_json()
    assert kept["name"] == "KEPT" and kept["scenario"]["outcome"] == "never"

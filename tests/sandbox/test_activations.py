"""e-CPS activation through the control API (``POST /sandbox/api/activations``), in-process:
the activation pages' two steps and rules (``santeid.web_ecps.activation``), answered as
problems; an API activation and a page's never cross; absent outside sandbox mode. The whole
path to an approved login against a served sandbox: ``tests/e2e/test_sandbox_control_api.py``.
"""

from __future__ import annotations

import dataclasses

import pytest
from openapi_schema_validator import OAS31Validator

from santeid import create_app
from santeid.ecps.code_pairs import MAX_ATTEMPTS
from santeid.storage import MemoryStore
from tests.support.web_ecps import EMAIL
from tests.support.web_ecps import PHONE
from tests.support.web_ecps import PROFESSIONAL
from tests.support.web_ecps import codes_from_outbox
from tests.support.web_ecps import enrol_over_protocol
from tests.support.web_ecps import post_codes
from tests.support.web_ecps import request_codes
from tests.support.web_ecps import set_contact_details

API = "/sandbox/api"
INACTIVE = "810000000024"


def start(client, national_id: str = PROFESSIONAL):
    return client.post(f"{API}/activations", json={"national_id": national_id})


def codes(client, national_id: str = PROFESSIONAL) -> dict[str, str]:
    """The latest pair's codes, by channel, as a CI job reads them: the outbox's fields."""
    messages = client.get(
        f"{API}/outbox", query_string={"national_id": national_id, "limit": 2}
    ).get_json()["messages"]
    return {f"{m['channel']}_code": m["code"] for m in messages}


def verify(client, activation_id: str, email_code: str, sms_code: str):
    return client.post(
        f"{API}/activations/{activation_id}/verify",
        json={"email_code": email_code, "sms_code": sms_code},
    )


def problem(answer, status: int, code: str) -> dict:
    assert (answer.status_code, answer.mimetype) == (status, "application/problem+json"), (
        answer.get_data(as_text=True)
    )
    body = answer.get_json()
    assert body["code"] == code, body
    return body


def matches(client, schema_ref: str, value) -> None:
    document = client.get(f"{API}/openapi.json").get_json()
    OAS31Validator({"$ref": schema_ref, "components": document["components"]}).validate(value)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_two_codes_from_the_outbox_give_an_activation_code_that_enrols_a_device(client):
    started = start(client)
    assert started.status_code == 201, started.get_json()
    sent = started.get_json()
    assert sent["national_id"] == PROFESSIONAL and sent["expires_in"] == 600
    assert (sent["email"], sent["phone"]) == ("a***@example.org", "06 •• •• •• 04")
    document = client.get(f"{API}/openapi.json").get_json()
    created = document["paths"]["/activations"]["post"]["responses"]["201"]
    OAS31Validator(created["content"]["application/json"]["schema"]).validate(sent)
    # The messages the page sends, to the directory's addresses.
    messages = client.get(f"{API}/outbox", query_string={"national_id": PROFESSIONAL}).get_json()
    assert [(m["channel"], m["to"]) for m in messages["messages"]] == [
        ("sms", PHONE),
        ("email", EMAIL),
    ]

    answer = verify(client, sent["activation_id"], **codes(client))
    assert answer.status_code == 200, answer.get_json()
    activation = answer.get_json()
    matches(client, "#/components/schemas/ActivationCode", activation)
    assert activation["national_id"] == PROFESSIONAL
    assert activation["app_link"] == f"http://localhost/ecps/app/#activation={activation['code']}"
    device = enrol_over_protocol(client, activation["uri"])
    assert (device["national_id"], device["status"]) == (PROFESSIONAL, "active")
    described = client.get(f"{API}/professionals/{PROFESSIONAL}").get_json()
    assert described["active_ecps_devices"] == 1


@pytest.mark.parametrize(
    ("national_id", "status", "code"),
    [
        ("12AB", 400, "invalid_national_id"),
        ("810000009999", 404, "unknown_professional"),
        (INACTIVE, 403, "professional_inactive"),
    ],
)
def test_the_pages_identifier_refusals_are_problems(client, national_id, status, code):
    problem(start(client, national_id), status, code)
    assert client.get(f"{API}/outbox").get_json()["messages"] == []


@pytest.mark.parametrize(
    ("email", "phone", "says"),
    [
        ("", PHONE, "No correspondence e-mail address is recorded"),
        (EMAIL, " ", "No correspondence mobile phone is recorded"),
        ("", "", "No correspondence e-mail address or mobile phone is recorded"),
    ],
)
def test_no_codes_without_both_contact_details(app, client, email, phone, says):
    set_contact_details(app, email, phone)
    refused = problem(start(client), 409, "no_contact_details")
    assert refused["detail"].startswith(says) and PROFESSIONAL in refused["detail"]
    assert client.get(f"{API}/outbox").get_json()["messages"] == []


def test_the_send_limits_are_the_pages(client):
    """The page and the API spend the same budget: 3 pairs per address per window."""
    request_codes(client)
    assert start(client).status_code == 201
    assert start(client).status_code == 201
    refused = start(client)
    problem(refused, 429, "too_many_code_sends")
    assert 590 < int(refused.headers["Retry-After"]) <= 600
    assert refused.get_json()["detail"].endswith("Please try again in 10 min.")


def test_wrong_codes_count_down_then_the_pair_is_cancelled(client):
    activation_id = start(client).get_json()["activation_id"]
    right = codes(client)
    for attempt in range(1, MAX_ATTEMPTS):
        answer = verify(client, activation_id, right["email_code"], wrong(right["sms_code"]))
        assert problem(answer, 403, "wrong_activation_codes")["remaining"] == (
            MAX_ATTEMPTS - attempt
        )
    locked = verify(client, activation_id, wrong(right["email_code"]), right["sms_code"])
    problem(locked, 403, "activation_codes_locked")
    problem(verify(client, activation_id, **right), 404, "unknown_activation")


def test_malformed_codes_cost_no_attempt(client):
    activation_id = start(client).get_json()["activation_id"]
    for _ in range(MAX_ATTEMPTS + 2):
        answer = verify(client, activation_id, "12a456", "")
        assert problem(answer, 400, "invalid_request")["fields"] == ["email_code", "sms_code"]
    right = codes(client)
    spaced = f"{right['email_code'][:3]} {right['email_code'][3:]}"
    assert verify(client, activation_id, spaced, right["sms_code"]).status_code == 200


def test_codes_are_single_use_and_expire(clocked_app, clock):
    client = clocked_app.test_client()
    used = start(client).get_json()["activation_id"]
    right = codes(client)
    assert verify(client, used, **right).status_code == 200
    problem(verify(client, used, **right), 404, "unknown_activation")
    late = start(client).get_json()["activation_id"]
    clock.advance(601)
    problem(verify(client, late, **codes(client)), 404, "unknown_activation")


def test_a_page_flow_and_an_api_activation_never_cross(app, client):
    """A flow started on the page stays with its browser; one started here with the API."""
    flow = request_codes(client)
    page_codes = codes_from_outbox(client)
    problem(verify(client, flow, *page_codes), 404, "unknown_activation")
    assert post_codes(client, flow, *page_codes).status_code == 200  # untouched

    activation_id = start(client).get_json()["activation_id"]
    api_codes = codes(client)
    stolen = post_codes(client, activation_id, api_codes["email_code"], api_codes["sms_code"])
    assert stolen.status_code == 403
    assert verify(client, activation_id, **api_codes).status_code == 200  # untouched


def test_a_professional_inactive_since_the_codes_were_sent(app, client):
    activation_id = start(client).get_json()["activation_id"]
    directory = app.extensions["santeid"].directory
    directory.upsert(dataclasses.replace(directory.get(PROFESSIONAL), status="inactive"))
    problem(verify(client, activation_id, **codes(client)), 403, "professional_inactive")


@pytest.mark.parametrize(
    "body",
    [{}, {"national_id": 810000000004}, {"national_id": ""}],
)
def test_a_bad_start_body_is_invalid_request(client, body):
    problem(client.post(f"{API}/activations", json=body), 400, "invalid_request")


@pytest.mark.parametrize("body", [{}, {"email_code": "123456"}, {"email_code": 1, "sms_code": 2}])
def test_a_bad_verify_body_is_invalid_request(client, body):
    activation_id = start(client).get_json()["activation_id"]
    answer = client.post(f"{API}/activations/{activation_id}/verify", json=body)
    problem(answer, 400, "invalid_request")


def test_activations_do_not_exist_outside_sandbox_mode(settings, app):
    production = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = production.test_client()
    assert http.post(f"{API}/activations", json={"national_id": PROFESSIONAL}).status_code == 404
    body = {"email_code": "123456", "sms_code": "123456"}
    assert http.post(f"{API}/activations/abcdefghijklmnop/verify", json=body).status_code == 404


@pytest.mark.parametrize("limit", [201, 1000, 10**40])
def test_an_outbox_limit_past_200_is_in_the_document(client, limit):
    """``GET /outbox?limit=`` answers at most 200 messages, a larger limit read as 200 — the
    document's ``maximum: 200`` refused a limit the API answers, so a client generated from it
    could not send it."""
    document = client.get(f"{API}/openapi.json").get_json()
    (parameter,) = [p for p in document["paths"]["/outbox"]["get"]["parameters"]
                    if p["name"] == "limit"]  # fmt: skip
    OAS31Validator(parameter["schema"]).validate(limit)
    answer = client.get(f"{API}/outbox", query_string={"limit": limit})
    assert answer.status_code == 200
    assert answer.get_json() == client.get(f"{API}/outbox?limit=200").get_json()


@pytest.mark.parametrize("limit", ["abc", "-1", "1.5", " 2", "\u0663"])
def test_an_outbox_limit_that_is_no_whole_number_is_refused(client, limit):
    # Read as no limit given (50 messages), it hid the client's mistake.
    answer = client.get(f"{API}/outbox", query_string={"limit": limit})
    problem(answer, 400, "invalid_request")
    assert answer.get_json()["detail"] == f"limit must be a whole number, got {limit!r}"

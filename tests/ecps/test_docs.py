"""The device API's documents stay true: a valid OpenAPI 3.1 description that lists every
route and problem code, real answers that match its schemas, and the prose table of codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from santeid import error_formats
from santeid.ecps.problems import CATALOGUE
from santeid.ecps.problems import problem_type

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load((DOCS / "ecps-device-openapi.yaml").read_text())


def _validator(spec: dict, name: str) -> OAS31Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return OAS31Validator(schema)


def test_openapi_is_valid(spec):
    validate(spec)  # raises on any OpenAPI 3.1 violation
    assert spec["openapi"] == "3.1.0"


def test_openapi_lists_every_route(app, spec):
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("ecps_device.", "ecps_device_app.")):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/ecps/device"))
        methods.setdefault(path, set()).update(
            m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}
        )
        assert error_formats.for_endpoint(rule.endpoint).name == error_formats.PROBLEM_JSON
    assert set(methods) == set(spec["paths"])
    for path, allowed in methods.items():
        assert set(spec["paths"][path]) == allowed


def test_problem_codes_documented(spec, app):
    assert spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"] == list(CATALOGUE)
    prose = (DOCS / "ecps-device-protocol.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)` \| (\d{3}) \|", prose, re.MULTILINE))
    assert table == {code: str(status) for code, (status, _) in CATALOGUE.items()}
    with app.test_request_context():
        assert problem_type("wrong_pin") == "http://localhost/problems/wrong_pin"


def test_real_answers_match_the_schemas(spec, client, ecps, national_id):
    from tests.support.ecps_phone import Phone

    phone = Phone.register(client.application, client, national_id)
    _validator(spec, "Registered").validate(phone.registered)
    _validator(spec, "DeviceInfo").validate(phone.me().get_json())
    _validator(spec, "Profile").validate(
        client.get("/ecps/device/profile", headers=phone.auth()).get_json()
    )
    _validator(spec, "PushState").validate(
        client.get("/ecps/device/push", headers=phone.auth()).get_json()
    )
    ecps.create_browser_request(national_id, client_name="RP")
    ecps.create_ciba_request(national_id, client_name="RP", binding_message=None, expires_in=30)
    for item in phone.pending().get_json()["requests"]:
        _validator(spec, "RequestItem").validate(item)
    problem = phone.decide("A" * 32, code="00").get_json()
    _validator(spec, "Problem").validate(problem)
    wrong_pin = phone.decide(
        ecps.create_browser_request(national_id, client_name="RP").request_id, pin="0000"
    ).get_json()
    _validator(spec, "Problem").validate(wrong_pin)
    assert wrong_pin["remaining_attempts"] == 2


def test_waits_beyond_the_limit_are_documented_429s(spec, app, client, ecps, national_id):
    from santeid.ecps.api import _take_wait_slot
    from tests.support.ecps_phone import Phone

    for path in ("/requests", "/requests/stream"):
        assert {"429", "503"} <= set(spec["paths"][path]["get"]["responses"])
    phone = Phone.register(app, client, national_id)
    with app.test_request_context():
        for _ in range(app.extensions["santeid"].settings.ecps.waits_per_device):
            _take_wait_slot(phone.device_id, 30)
    for refused in (
        phone.pending(wait=1),
        client.get("/ecps/device/requests/stream", headers=phone.auth()),
    ):
        assert refused.status_code == 429
        problem = refused.get_json()
        _validator(spec, "Problem").validate(problem)
        assert problem["code"] == "too_many_waits" and problem["limit"] == 2


def _operations(spec: dict):
    """``(path, method, operation)`` of every documented call, the path with a sample id."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path.replace("{request_id}", "A" * 32), method, operation


def test_every_body_too_large_is_a_documented_413(spec, app, client, national_id):
    """Every call with a body lists 413, and a body over the limit gets it."""
    from tests.support.ecps_phone import Phone

    phone = Phone.register(app, client, national_id)
    with_body = [(p, m, o) for p, m, o in _operations(spec) if "requestBody" in o]
    assert len(with_body) == 4  # register, decision, webhook, push
    for path, method, operation in with_body:
        assert "413" in operation["responses"], (path, method)
        response = getattr(client, method)(
            f"/ecps/device{path}",
            data=b"x" * (300 * 1024),
            content_type="application/json",
            headers=phone.auth(),
        )
        assert response.status_code == 413, (path, method, response.get_data(as_text=True))
        problem = response.get_json()
        _validator(spec, "Problem").validate(problem)
        assert problem["code"] == "payload_too_large"


def test_every_store_outage_of_a_device_call_is_a_documented_503(spec, app, client, national_id):
    """Every call authenticated by a device token lists 503, and gets it while the store is
    down (the token's ``jti`` is checked there first)."""
    from tests.support.ecps_phone import DownStore
    from tests.support.ecps_phone import Phone

    phone = Phone.register(app, client, national_id)
    ecps = app.extensions["santeid"].ecps
    ecps.store = DownStore()
    with_token = [(p, m, o) for p, m, o in _operations(spec) if o.get("security") != []]
    assert len(with_token) == 9
    for path, method, operation in with_token:
        assert "503" in operation["responses"], (path, method)
        response = getattr(client, method)(f"/ecps/device{path}", headers=phone.auth(), json={})
        assert response.status_code == 503, (path, method, response.get_data(as_text=True))
        problem = response.get_json()
        _validator(spec, "Problem").validate(problem)
        assert problem["code"] == "temporarily_unavailable"


def test_every_event_of_the_stream_matches_the_documented_event(spec, client, ecps, national_id):
    """OpenAPI 3.1 has no item schema for ``text/event-stream`` (3.2 adds ``itemSchema``): the
    tools that check or generate clients from a 3.1 document read its ``schema`` as one event's
    (schemathesis among them). Each event the stream sends — its fields, HTML Living Standard
    §9.2.6 — matches it: ``request``, ``withdrawn`` and ``end``. It was ``type: string``, which
    no event is."""
    from tests.support.ecps_phone import Phone

    content = spec["paths"]["/requests/stream"]["get"]["responses"]["200"]["content"]
    validator = OAS31Validator({**content["text/event-stream"]["schema"], **spec})
    phone = Phone.register(client.application, client, national_id)
    request = ecps.create_browser_request(national_id, client_name="RP")
    stream = client.get("/ecps/device/requests/stream", headers=phone.auth(), buffered=False)
    # Each event once the one before it is out: the request, its withdrawal, the end.
    next_step = iter([lambda: ecps.cancel_request(request.request_id),
                      lambda: ecps.revoke_device(phone.device_id)])  # fmt: skip
    events, buffer = [], ""
    for chunk in stream.response:
        buffer += chunk.decode()
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = [line.split(": ", 1) for line in block.splitlines() if line[:1] != ":"]
            if any(name == "data" for name, _ in fields):  # a block without data is no event
                events.append(dict(fields))
                next(next_step, lambda: None)()
    assert [event["event"] for event in events] == ["request", "withdrawn", "end"]
    for event in events:
        validator.validate(event)

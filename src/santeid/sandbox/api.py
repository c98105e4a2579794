"""The control API, ``/sandbox/api/`` (sandbox mode only; it is not even registered
otherwise, so every path answers 404): what a test suite in any language needs to drive a
login without a phone. The contract is ``control-openapi.yaml`` next to this module, served
as ``/sandbox/api/openapi.json``; ``docs/sandbox.md`` walks through it.

Refusals are RFC 9457 problem details (``application/problem+json``) with a stable ``code``.
"""

from __future__ import annotations

import datetime
import functools
import secrets
from importlib import resources

import yaml
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from flask import url_for
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from santeid import error_formats
from santeid import problem_pages
from santeid import problems
from santeid.cache_control import no_store
from santeid.clock import utc_datetime
from santeid.ecps import api as ecps_api
from santeid.i18n import Translator
from santeid.insi.problems import served_origin
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.sandbox.phone import AnswerError
from santeid.sandbox.phone import SandboxPhone
from santeid.sandbox.professionals import ProfessionalsError
from santeid.sandbox.professionals import read_one
from santeid.sandbox.scenarios import DEFAULT_SCENARIOS
from santeid.sandbox.scenarios import ScenarioError
from santeid.sandbox.scenarios import parse_scenario
from santeid.sandbox.scenarios import with_scenario
from santeid.services import services

PREFIX = "/sandbox/api"
bp = Blueprint("sandbox_api", __name__, url_prefix=PREFIX)

#: What follows a professional's id in the paths under ``/professionals/{national_id}``.
SUB_RESOURCES = ("scenario", "requests")


class NationalIdConverter(BaseConverter):
    """A professional's national id in a path: one segment, or two for a structure's staff
    (``500000010900017/SEC0042``: the structure, a slash, its internal id, which holds none —
    santeid.psc.national_id), sent as they are or with the slash encoded (santeid.raw_paths).
    A second segment naming a sub-resource (:data:`SUB_RESOURCES`) is that sub-resource, so
    ``GET /professionals/{id}/scenario`` is the scenario's 405, never the professional
    ``{id}/scenario`` (docs/sandbox.md)."""

    part_isolating = False
    regex = rf"[^/]+(?:/(?!(?:{'|'.join(SUB_RESOURCES)})(?:/|$))[^/]+)?"


bp.record_once(lambda state: state.app.url_map.converters.update(national_id=NationalIdConverter))

#: Longest validity a test card may be given through the API (days).
MAX_CARD_DAYS = 3 * 365

#: The detail of a body that is no JSON object, or not sent as one.
JSON_OBJECT = "the body must be a JSON object (application/json)"


class ControlProblem(Exception):
    """A refusal of the control API: ``code`` is an entry of the one catalogue
    (``santeid.problems``), which gives its HTTP status."""

    def __init__(self, code: str, detail: str, *, headers: dict | None = None, **extra) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra
        self.headers = headers or {}
        self.status = problems.CATALOGUE[code].status  # an unknown code: a programming error


def render_error(exc: Exception) -> Response:
    """Every error under ``/sandbox/api/`` as a problem of the one catalogue
    (``santeid.problems``) with its ``code`` (docs/sandbox.md): the control API's refusals,
    and routing errors (``not_found``, ``method_not_allowed``), outages and bugs, answered as
    the e-CPS device API answers them."""
    if not isinstance(exc, ControlProblem):
        return ecps_api.render_error(exc, with_server_time=False)
    body = problem_pages.problem_body(exc.code, exc.detail, exc.status, exc.extra)
    response = problem_pages.problem_response(body, exc.status)
    response.headers.update(exc.headers)
    return response


error_formats.declare(bp, error_formats.PROBLEM_JSON, render=render_error, prefixes=[PREFIX])


bp.after_request(no_store)


def _phone() -> SandboxPhone:
    """The sandbox phone. This blueprint is registered only when there is one (sandbox mode),
    so a request here always finds it; were it mounted without one, the API would not exist."""
    phone = services().sandbox
    if phone is None:
        raise NotFound()
    return phone


def _body() -> dict:
    """The request's JSON object, ``{}`` without a body. The refusal names the media type, as
    the e-CPS device API's does: ``curl -d '{…}'`` without ``-H 'Content-Type:
    application/json'`` sends a JSON object as a form, which Flask does not read as JSON."""
    data = request.get_json(silent=True)
    if request.content_length and data is None:
        raise ControlProblem("invalid_request", JSON_OBJECT)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ControlProblem("invalid_request", JSON_OBJECT)
    return data


def _professional(raw_id: str):
    try:
        national_id = parse_national_id(raw_id).value
    except NationalIdError as exc:
        raise ControlProblem("invalid_national_id", exc.message_en) from None
    professional = services().directory.get(national_id)
    if professional is None:
        raise ControlProblem("unknown_professional", f"{national_id} is not in the directory")
    return professional


def _describe(professional, t: Translator | None = None) -> dict:
    """The professional's sandbox view; its ``scenario_description`` in ``t``'s language (the
    API's: English)."""
    svc = services()
    t = t or Translator("en")
    scenario = _phone().scenarios.get(professional)
    devices = svc.ecps.devices.active_for(professional.national_id)
    return {
        "national_id": professional.national_id,
        "name": f"{professional.given_name} {professional.family_name}".strip(),
        "status": professional.status,
        "professions": list(professional.professions),
        "scenario": scenario.to_dict() if scenario else None,
        "scenario_description": (
            scenario.describe(svc.settings.sandbox.approval_delay, t)
            if scenario
            else t("sandbox_scenario.none")
        ),
        "active_ecps_devices": len(devices),
    }


def _request_view(item) -> dict:
    view = {
        "request_id": item.request_id,
        "national_id": item.national_id,
        "kind": item.kind,
        "client_name": item.client_name,
        "status": item.status,
        "created_at": item.created_at,
        "expires_at": item.expires_at,
    }
    if item.kind == "browser":
        # Sandbox only: the code the login page shows, so a test can "read the screen".
        view["code"] = item.code
        view["candidates"] = list(item.candidates)
    else:
        view["binding_message"] = item.binding_message
    if item.failure:
        view["failure"] = item.failure
    return view


def scenario_listing(t: Translator | None = None) -> list[dict]:
    """Every professional with a scenario known without a store scan: the defaults, the
    integrator's file and the directory's auto-approve flag (home page, in French, and ``GET
    /scenarios``, in English)."""
    svc = services()
    ids = dict.fromkeys(p.national_id for p in svc.directory.list(sandbox_only=True))
    ids.update(dict.fromkeys(DEFAULT_SCENARIOS))
    ids.update(dict.fromkeys(_phone().scenarios.from_file))
    rows = []
    for national_id in ids:
        professional = svc.directory.get(national_id)
        if professional is not None:
            rows.append(_describe(professional, t))
    return rows


# -- routes ------------------------------------------------------------------------------------
@bp.get("/openapi.json")
def openapi():
    document = dict(_openapi_document())
    # The origin it is served from, never the request's Host (served_origin's rule).
    document["servers"] = [{"url": served_origin(services().settings) + PREFIX}]
    return jsonify(document)


@functools.cache
def _openapi_document() -> dict:
    text = resources.files(__package__).joinpath("control-openapi.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@bp.get("/scenarios")
def scenarios():
    return jsonify(professionals=scenario_listing())


def _in_body(error: str) -> str:
    """An error of :func:`read_one`, located in a file's first professional
    (``professionals[0].given_names: …``), located in the body instead (``given_names: …``)."""
    return error.removeprefix("professionals[0]").removeprefix(": ").removeprefix(".")


@bp.post("/professionals")
def create_professional():
    try:
        defined = read_one(_body())
    except ProfessionalsError as exc:
        detail = "; ".join(_in_body(e) for e in exc.errors)
        raise ControlProblem("invalid_professional", detail, errors=exc.errors) from None
    svc = services()
    national_id = defined.professional.national_id
    existed = svc.directory.get(national_id) is not None
    scenarios = _phone().scenarios
    # The store first (a choice set before is forgotten): an outage there changes nothing.
    # Then the directory, the professional and its scenario in one write; should it fail, the
    # forgotten choice is put back, so that nothing is left half-written.
    undo = scenarios.forget_choice(national_id)
    try:
        svc.directory.upsert(with_scenario(defined.professional, defined.scenario))
    except BaseException:
        undo()
        raise
    professional = svc.directory.get(national_id)
    response = jsonify(_describe(professional))
    response.status_code = 200 if existed else 201
    response.headers["Location"] = url_for(
        "sandbox_api.professional", national_id=professional.national_id
    )
    return response


@bp.get("/professionals/<national_id:national_id>/requests")
def pending_requests(national_id: str):
    professional = _professional(national_id)
    pending = _phone().pending(professional.national_id)
    return jsonify(requests=[_request_view(r) for r in pending])


@bp.route("/professionals/<national_id:national_id>/scenario", methods=["PUT", "DELETE"])
def set_scenario(national_id: str):
    professional = _professional(national_id)
    book = _phone().scenarios
    if request.method == "DELETE":
        book.reset(professional.national_id)
    else:
        try:
            book.set(professional.national_id, parse_scenario(_body()))
        except ScenarioError as exc:
            raise ControlProblem("invalid_scenario", str(exc)) from None
    return jsonify(_describe(professional))


@bp.get("/professionals/<national_id:national_id>")
def professional(national_id: str):
    return jsonify(_describe(_professional(national_id)))


def _answer(request_id: str, action):
    try:
        answered = action(request_id)
    except AnswerError as exc:
        raise ControlProblem(exc.code, str(exc)) from None
    return jsonify(_request_view(answered))


@bp.post("/requests/<request_id>/approve")
def approve(request_id: str):
    code = _body().get("code")
    return _answer(request_id, lambda rid: _phone().answer(rid, "approve", code))


@bp.post("/requests/<request_id>/deny")
def deny(request_id: str):
    return _answer(request_id, lambda rid: _phone().answer(rid, "deny"))


@bp.post("/requests/<request_id>/expire")
def expire(request_id: str):
    return _answer(request_id, _phone().expire)


@bp.get("/requests/<request_id>")
def get_request(request_id: str):
    found = _phone().settle(request_id)
    if found is None:
        raise ControlProblem("unknown_request", "no request has this identifier")
    return jsonify(_request_view(found))


def _login_view(login) -> dict:
    view: dict = {"login_id": login.login_id, "state": login.state}
    if login.national_id:
        view["national_id"] = login.national_id
    if login.request_id:
        request_ = _phone().settle(login.request_id)
        if request_ is not None:
            view["request"] = _request_view(request_)
    if login.reason:
        view["reason"] = login.reason
    view.update(login.callback)
    return view


def _wait(body: dict) -> float:
    from santeid.sandbox.logins import DEFAULT_WAIT
    from santeid.sandbox.logins import MAX_WAIT

    wait = body.get("wait", DEFAULT_WAIT)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_WAIT:
        raise ControlProblem("invalid_request", f"'wait' is a number of seconds, 0 to {MAX_WAIT:g}")
    return float(wait)


def _scripted(action):
    from santeid.sandbox.logins import ScriptedLoginError

    try:
        return jsonify(_login_view(action()))
    except ScriptedLoginError as exc:
        raise ControlProblem(exc.code, str(exc), **exc.extra) from None


@bp.post("/logins")
def start_login():
    """A scripted login (``santeid.sandbox.logins``): the browser's part of a code flow."""
    from santeid.sandbox import logins

    body = _body()
    url, national_id = body.get("authorization_url"), body.get("national_id")
    if not isinstance(url, str) or not url:
        raise ControlProblem("invalid_request", "'authorization_url' is required (a string)")
    if not isinstance(national_id, str) or not national_id:
        raise ControlProblem("invalid_request", "'national_id' is required (a string)")
    wait = _wait(body)
    return _scripted(lambda: logins.start(url, national_id, wait))


@bp.get("/logins/<login_id>")
def read_login(login_id: str):
    from santeid.sandbox import logins

    return _scripted(lambda: logins.settle(login_id, 0, complete=False))


@bp.post("/logins/<login_id>/complete")
def complete_login(login_id: str):
    from santeid.sandbox import logins

    wait = _wait(_body())
    return _scripted(lambda: logins.settle(login_id, wait, complete=True))


def _activation_refused(refusal) -> ControlProblem:
    """A refusal of the activation pages' rules (``santeid.web_ecps.activation``), as the
    problem of the same code, said in English."""
    from santeid.i18n import Translator

    extra = {} if refusal.remaining is None else {"remaining": refusal.remaining}
    if refusal.fields:
        extra["fields"] = list(refusal.fields)
    headers = {} if refusal.retry_after is None else {"Retry-After": str(refusal.retry_after)}
    return ControlProblem(refusal.code, refusal.message(Translator("en")), headers=headers, **extra)


def _activation_browser() -> str:
    """The browser an activation started here belongs to: one of the control API's own
    (never a page's), so that its flow id alone carries it to ``…/verify``."""
    from santeid.sandbox.logins import SCRIPTED_BROWSER

    return SCRIPTED_BROWSER + secrets.token_urlsafe(24)


@bp.post("/activations")
def start_activation():
    """Step 1 of self-service e-CPS activation, as the page ``/ecps/activation`` takes it:
    the two codes are sent (to the outbox)."""
    from santeid.ecps.code_pairs import CODE_LIFETIME
    from santeid.i18n import Translator
    from santeid.proxies import client_address
    from santeid.web_ecps.activation import ActivationRefused
    from santeid.web_ecps.activation import send_codes

    national_id = _body().get("national_id")
    if not isinstance(national_id, str) or not national_id:
        raise ControlProblem("invalid_request", "'national_id' is required (a string)")
    try:
        sent = send_codes(
            national_id,
            Translator("fr"),  # the messages, as the page sends them by default
            bid=_activation_browser(),
            address=client_address(request.environ) or "",
        )
    except ActivationRefused as refusal:
        raise _activation_refused(refusal) from None
    response = jsonify(
        activation_id=sent.flow,
        national_id=sent.national_id,
        email=sent.email_masked,
        phone=sent.phone_masked,
        expires_in=CODE_LIFETIME,
    )
    response.status_code = 201
    return response


@bp.post("/activations/<activation_id>/verify")
def verify_activation(activation_id: str):
    """Step 2, as the page ``/ecps/activation/verify`` takes it: both codes → the
    activation code the QR code holds, for the simulator or the device API to redeem."""
    from santeid.sandbox.logins import SCRIPTED_BROWSER
    from santeid.web_ecps.activation import ActivationRefused
    from santeid.web_ecps.activation import code_pairs
    from santeid.web_ecps.activation import redeem_codes

    body = _body()
    email_code, sms_code = body.get("email_code"), body.get("sms_code")
    if not isinstance(email_code, str) or not isinstance(sms_code, str):
        raise ControlProblem("invalid_request", "'email_code' and 'sms_code' are required")
    pair = code_pairs().get(activation_id)
    if pair is None or not str(pair.get("bid", "")).startswith(SCRIPTED_BROWSER):
        # A page's flow stays with its browser, as the pages keep this API's to it.
        raise ControlProblem(
            "unknown_activation", "no activation started here waits under this identifier"
        )
    try:
        activation = redeem_codes(activation_id, email_code, sms_code)
    except ActivationRefused as refusal:
        raise _activation_refused(refusal) from None
    return jsonify(activation.to_dict())


def _outbox_limit(written: str | None) -> int:
    """``limit`` of ``GET /outbox`` (:func:`santeid.web_ecps.outbox.read_limit`): one that is
    no whole number is refused, where it was read as no limit given."""
    from santeid.web_ecps.outbox import read_limit

    limit = read_limit(written)
    if limit is None:
        raise ControlProblem("invalid_request", f"limit must be a whole number, got {written!r}")
    return limit


@bp.get("/outbox")
def outbox():
    from santeid.web_ecps.common import senders

    sender = senders().outbox
    if sender is None:
        raise ControlProblem("no_outbox", "this server sends its messages for real")
    limit = _outbox_limit(request.args.get("limit"))
    national_id = None
    if request.args.get("national_id"):
        try:
            national_id = parse_national_id(request.args["national_id"]).value
        except NationalIdError as exc:
            raise ControlProblem("invalid_national_id", exc.message_en) from None
    entries = sender.latest(
        limit,
        to=request.args.get("to") or None,
        national_id=national_id,
        activation_id=request.args.get("activation_id") or None,
    )
    return jsonify(messages=[e.to_dict() for e in entries])


@bp.post("/cards")
def issue_card():
    """A test CPS card (certificate and key, PEM) for a professional of the directory."""
    from santeid.cps.cards import CARD_VALIDITY_DAYS
    from santeid.cps.cards import issue_test_card
    from santeid.cps.registry import CardRegistry
    from santeid.pki import certificate_pem
    from santeid.pki import private_key_pem
    from santeid.pki import serial_hex

    body = _body()
    professional = _professional(str(body.get("national_id", "")))
    validity = body.get("validity", "valid")
    days = body.get("days", CARD_VALIDITY_DAYS)
    if validity not in ("valid", "expired", "not_yet_valid"):
        raise ControlProblem("invalid_request", "'validity' is valid, expired or not_yet_valid")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_CARD_DAYS:
        raise ControlProblem("invalid_request", f"'days' is from 1 to {MAX_CARD_DAYS}")
    now = utc_datetime(services().clock)
    not_before = not_after = None
    if validity == "expired":
        not_before = now - datetime.timedelta(days=days + 1)
        not_after = now - datetime.timedelta(days=1)
    elif validity == "not_yet_valid":
        not_before = now + datetime.timedelta(days=1)
        not_after = not_before + datetime.timedelta(days=days)
    settings = services().settings
    card = issue_test_card(
        settings,
        professional,
        days=days,
        not_before=not_before,
        not_after=not_after,
        registry=CardRegistry.for_settings(settings, clock=services().clock),
    )
    response = jsonify(
        national_id=card.national_id,
        serial=serial_hex(card.certificate),
        not_before=card.certificate.not_valid_before_utc.isoformat(),
        not_after=card.certificate.not_valid_after_utc.isoformat(),
        certificate_pem=_text(certificate_pem(card.certificate)),
        private_key_pem=_text(private_key_pem(card.private_key)),
        ca_pem=_text(certificate_pem(card.authority.certificate)),
    )
    response.status_code = 201
    return response


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value

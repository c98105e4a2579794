"""The device API, ``/ecps/device/…``: what the e-CPS phone app (or the simulator) calls.

The contract is ``docs/ecps-device-protocol.md`` (prose) and ``docs/ecps-device-openapi.yaml``
(OpenAPI 3.1). JSON in, JSON out; every refusal is an RFC 9457 problem
(``application/problem+json``) with a stable ``code`` (``problems.py``).

* ``POST /register`` — redeem an activation code (no device token yet);
* ``GET /requests?wait=N`` — the professional's pending requests, long-polled up to
  ``min(N, ecps_long_poll)`` seconds; ``GET /requests/stream`` — the same as Server-Sent
  Events;
* ``POST /requests/<id>/decision`` — the decision JWT (it authenticates itself);
* ``GET /me``, ``POST /webhook``.

Long polls and streams hold a server thread while they wait (Werkzeug: one thread per
connection; Granian and gunicorn: one of ``--threads`` per worker), so size the threads for
the number of phones waiting at once. One device holds at most ``ecps_waits_per_device`` of
them at once (``429 too_many_waits`` beyond), and a wait whose client has gone away ends at
the next look at the store (:func:`santeid.serving.client_gone`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint
from flask import Response
from flask import json
from flask import jsonify
from flask import request
from flask import stream_with_context
from werkzeug.exceptions import HTTPException

from santeid import error_formats
from santeid import outages
from santeid.cache_control import no_store
from santeid.ecps.auth import check_active
from santeid.ecps.problems import Problem
from santeid.oidc.protector import BearerProtector
from santeid.oidc.protector import ProtectedRequest
from santeid.oidc.protector import bearer_challenge
from santeid.problem_pages import problem_body
from santeid.problem_pages import problem_response
from santeid.security import ParameterTooLarge
from santeid.services import services
from santeid.serving import client_gone
from santeid.storage import StoreUnavailable
from santeid.storage import keys

log = logging.getLogger(__name__)

bp = Blueprint("ecps_device", __name__)

#: URL prefix of the blueprint.
PREFIX = "/ecps/device"
#: Seconds between two looks at the store while a long poll or a stream waits.
POLL_INTERVAL = 0.3
#: A stream lives this many times ``ecps_long_poll`` before the server closes it (the
#: client reconnects; ``EventSource`` does so by itself after ``retry`` ms).
STREAM_LIFETIME_FACTOR = 4
#: Seconds between keep-alive comments on a quiet stream (proxies close idle connections).
KEEPALIVE_INTERVAL = 15.0
#: ``retry`` sent to SSE clients, in milliseconds (HTML Living Standard §9.2.6).
STREAM_RETRY_MS = 1000
#: Seconds a wait slot outlives the longest wait it may cover (a crashed worker's slot frees
#: itself after that; beside its key).
WAIT_SLOT_MARGIN = keys.WAIT_SLOT_MARGIN


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return no_store(response)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Problem("invalid_request", "the body must be a JSON object (application/json)")
    return data


class DeviceTokenValidator(BearerTokenValidator):
    """Device JWTs (``santeid.ecps.auth``) for the Bearer protector every API shares
    (``santeid.oidc.protector``); each refusal is the e-CPS ``Problem`` that names it."""

    def __init__(self, allow_inactive: bool) -> None:
        super().__init__(realm="santeid-ecps")
        self.allow_inactive = allow_inactive

    def authenticate_token(self, token_string: str):
        return services().ecps.authenticate_device(
            token_string.strip(), allow_inactive=self.allow_inactive
        )

    def validate_token(self, token, scopes, request, **kwargs) -> None:
        """Everything was checked by ``authenticate_token`` (it raises on any refusal)."""


def _device(*, allow_inactive: bool = False):
    guard = BearerProtector(DeviceTokenValidator(allow_inactive))
    try:
        return guard.token(ProtectedRequest.from_flask())
    except OAuth2Error:
        raise Problem("missing_token", "send 'Authorization: Bearer <device JWT>'") from None


def server_time() -> int:
    """The server's time in every answer of the device API, problems included, so that a
    phone whose clock is off corrects it (docs/ecps-device-protocol.md §2). The service's
    clock is a plain attribute: it is there while the store or the database fails too."""
    return int(services().ecps.clock())


def _device_info(device) -> dict[str, Any]:
    ecps = services().ecps
    attempts = ecps.settings.ecps.pin_attempts
    info = device.public_info()
    info["remaining_pin_attempts"] = (
        max(0, attempts - device.consecutive_failed_pins) if device.is_active else 0
    )
    info["server_time"] = server_time()
    return info


def to_response(problem: Problem, *, with_server_time: bool = True) -> Response:
    """``application/problem+json`` (RFC 9457 §3), never cached; with the extension member
    ``server_time`` (RFC 9457 §3.2) unless ``with_server_time`` is false."""
    body = problem_body(problem.code, problem.detail, problem.status, problem.extra)
    if with_server_time:
        body["server_time"] = server_time()
    response = problem_response(body, problem.status)
    if problem.status == 401:
        # RFC 6750 §3: a 401 on a Bearer-protected resource names the scheme; without any
        # credentials the challenge carries no error code (§3.1).
        realm = "santeid-ecps"
        if problem.code == "missing_token":
            challenge = bearer_challenge(realm)
        else:
            challenge = bearer_challenge(realm, "invalid_token", problem.code)
        response.headers["WWW-Authenticate"] = challenge
    return response


def render_error(exc: Exception, *, with_server_time: bool = True) -> Response:
    """Every error under ``/ecps/device/`` as a problem (``santeid.error_formats``): the
    refusals the API raises, routing errors (unknown path, wrong method), outages and bugs.
    The sandbox control API answers its own routing errors, outages and bugs here too
    (``santeid.sandbox.api``), so both APIs give them the same codes; its problems carry no
    ``server_time`` (``with_server_time=False``)."""

    def answer(problem: Problem) -> Response:
        return to_response(problem, with_server_time=with_server_time)

    if isinstance(exc, Problem):
        return answer(exc)
    if isinstance(exc, outages.OUTAGES):
        log.error("unavailable during %s %s: %s", request.method, request.path, exc)
        response = answer(Problem("temporarily_unavailable"))
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, ParameterTooLarge):
        return answer(Problem("invalid_request", str(exc)))
    if isinstance(exc, HTTPException) and (exc.code or 500) < 500:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
        }.get(exc.code or 0, "invalid_request")
        detail = None if code in ("not_found", "method_not_allowed") else exc.description
        return answer(Problem(code, detail))
    log.exception("unhandled error on %s %s", request.method, request.path)
    return answer(Problem("internal_error"))


error_formats.declare(bp, error_formats.PROBLEM_JSON, render=render_error, prefixes=[PREFIX])


@bp.post("/register")
def register():
    body = _body()
    ecps = services().ecps
    device = ecps.register_device(
        activation_code=body.get("activation_code"),
        public_jwk=body.get("public_jwk"),
        pin=body.get("pin"),
        name=body.get("name"),
        webhook_url=body.get("webhook_url"),
    )
    payload = {
        "device_id": device.device_id,
        "national_id": device.national_id,
        "name": device.name,
        "status": device.status,
        "totp_secret": device.totp_secret,
        "totp_uri": ecps.totp_uri(device),
        "server": ecps.origin,
        "sandbox_enrolled": device.sandbox_enrolled,
        "server_time": server_time(),
    }
    return _json(payload, 201)


def _wait_seconds() -> float:
    raw = request.args.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise Problem("invalid_request", "'wait' must be a number of seconds") from None
    if not wait >= 0:  # also refuses NaN
        raise Problem("invalid_request", "'wait' must be a number of seconds >= 0")
    return min(wait, float(services().ecps.settings.ecps.long_poll))


def _take_wait_slot(device_id: str, seconds: float) -> str:
    """One of the device's ``ecps_waits_per_device`` slots, for a wait of up to ``seconds``;
    :class:`Problem` ``too_many_waits`` when all are taken. A slot is a store key added only
    if absent (atomic), so the bound holds across worker processes."""
    store = services().store
    limit = services().settings.ecps.waits_per_device
    ttl = int(seconds) + WAIT_SLOT_MARGIN
    for index in range(limit):
        key = keys.ECPS_WAIT_SLOT.key(device_id, str(index))
        if store.add(key, {"holder": secrets.token_hex(8)}, ttl):
            return key
    raise Problem(
        "too_many_waits",
        f"this device already has {limit} long polls or streams open; close one first",
        limit=limit,
    )


def _free_wait_slot(key: str, store: Any = None) -> None:
    """``store``: the application's, taken beforehand where this runs outside a request."""
    with contextlib.suppress(StoreUnavailable):
        (store or services().store).delete(key)


def _look(ecps: Any, device: Any) -> list[dict[str, Any]]:
    """One look of a waiting long poll or stream: the professional's pending requests, then
    the device read again. The device token was checked once, when the wait began: a device
    revoked or locked since ends the wait with its problem (``device_revoked``,
    ``device_locked``; ``unknown_device`` if it is gone) rather than with the requests read,
    which only an active device may see (docs/ecps-device-protocol.md §3)."""
    items = ecps.pending_for_device(device)
    current = ecps.devices.get(device.device_id)
    if current is None:
        raise Problem("unknown_device", "this device no longer exists")
    check_active(current)
    return items


@bp.get("/requests")
def list_requests():
    """Long poll: answer at once if a request is pending, else as soon as one appears or
    after ``wait`` seconds (with an empty list); at once too if the client has gone, and with
    the device's problem if it is revoked or locked meanwhile (:func:`_look`)."""
    device = _device()
    ecps = services().ecps
    wait = _wait_seconds()
    items = ecps.pending_for_device(device)
    if items or wait <= 0:
        return _json({"requests": items, "server_time": server_time()})
    slot = _take_wait_slot(device.device_id, wait)
    environ = request.environ
    try:
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or client_gone(environ):
                break
            time.sleep(min(POLL_INTERVAL, remaining))
            items = _look(ecps, device)
            if items:
                break
    finally:
        _free_wait_slot(slot)
    return _json({"requests": items, "server_time": server_time()})


def _sse(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


@bp.get("/requests/stream")
def stream_requests():
    """Server-Sent Events (HTML Living Standard §9.2): ``event: request`` for each pending
    request (those already pending first), ``event: withdrawn`` when one sent earlier is no
    longer pending (decided, cancelled, expired), ``: keep-alive`` comments every 15 s, and
    ``event: end`` before the server closes the stream after ``4 × ecps_long_poll`` s, or at
    once if the device is revoked or locked meanwhile."""
    device = _device()
    ecps = services().ecps
    lifetime = STREAM_LIFETIME_FACTOR * ecps.settings.ecps.long_poll
    slot = _take_wait_slot(device.device_id, lifetime)
    environ = request.environ
    store = services().store
    freed = threading.Lock()

    def free() -> None:
        # Once only (the slot may be someone else's after it was freed), and maybe after the
        # request's context is gone: the store is the one taken above.
        if freed.acquire(blocking=False):
            _free_wait_slot(slot, store)

    def events() -> Iterator[str]:
        try:
            yield from _events()
        finally:
            free()

    def _events() -> Iterator[str]:
        yield f"retry: {STREAM_RETRY_MS}\n\n"
        started = last_output = time.monotonic()
        sent: set[str] = set()
        while True:
            if client_gone(environ):
                return
            now = time.monotonic()
            try:
                items = _look(ecps, device)
            except Problem:
                yield _sse("end", json.dumps({"reason": "device_inactive"}))
                return
            ids = {item["request_id"] for item in items}
            for item in items:
                if item["request_id"] not in sent:
                    sent.add(item["request_id"])
                    last_output = now
                    yield _sse("request", json.dumps(item), item["request_id"])
            for gone in sorted(sent - ids):
                sent.discard(gone)
                last_output = now
                yield _sse("withdrawn", json.dumps({"request_id": gone}))
            if now - started >= lifetime:
                yield _sse("end", json.dumps({"reason": "timeout"}))
                return
            if now - last_output >= KEEPALIVE_INTERVAL:
                last_output = now
                yield ": keep-alive\n\n"
            time.sleep(POLL_INTERVAL)

    try:
        response = Response(stream_with_context(events()), mimetype="text/event-stream")
        # Freed when the server closes the response too: a generator closed before its first
        # step (a HEAD request, a client gone before the body) never runs its ``finally``.
        response.call_on_close(free)
    except BaseException:
        free()
        raise
    no_store(response)
    # Nginx buffers proxied responses by default, which would hold the events back.
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.post("/requests/<request_id>/decision")
def decision(request_id: str):
    """The body is the decision JWT: raw (``application/jwt``, RFC 7519 §10.3.1) or JSON
    ``{"decision": "<JWT>"}``."""
    if request.mimetype == "application/json":
        token = _body().get("decision")
        if not isinstance(token, str):
            raise Problem("invalid_request", 'the JSON body must be {"decision": "<JWT>"}')
    elif request.mimetype in ("application/jwt", "application/jose", "text/plain"):
        token = request.get_data(as_text=True)
    else:
        raise Problem("invalid_request", "send the decision as application/jwt or JSON")
    outcome = services().ecps.decide(request_id, token)
    return _json(outcome.as_json())


@bp.get("/me")
def me():
    """The device as the server sees it, also for a locked or revoked device (so the app can
    tell the professional to activate a new one)."""
    device = _device(allow_inactive=True)
    return _json(_device_info(device))


@bp.post("/webhook")
def webhook():
    """Set (``{"webhook_url": "https://…"}``) or clear (``{"webhook_url": null}``)."""
    device = _device()
    body = _body()
    if "webhook_url" not in body:
        raise Problem("invalid_request", 'the body must be {"webhook_url": "https://…" | null}')
    updated = services().ecps.set_webhook(device, body["webhook_url"])
    return _json(_device_info(updated))

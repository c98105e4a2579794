"""Refusals of the e-CPS device API as RFC 9457 problem details.

Every refusal has a stable ``code`` (what a phone app switches on) and a ``type`` URI made of
:data:`PROBLEM_BASE` and the code with dashes (``wrong_pin`` →
``https://santeid.dev/problems/ecps/wrong-pin``). RFC 9457 §3.1.1 lets ``type`` be any URI
that identifies the problem; it need not resolve (§4: "the type URI … is not required to be
dereferenceable"), and santeid does not serve it. The catalogue below is the single source of
the codes, their HTTP status and their title; ``docs/ecps-device-protocol.md`` lists it and a
test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import json

#: Prefix of every problem ``type`` (RFC 9457 §3.1.1).
PROBLEM_BASE = "https://santeid.dev/problems/ecps/"

#: ``code`` → (HTTP status, title). Titles are short and never change for a code
#: (RFC 9457 §3.1.3: "SHOULD NOT change from occurrence to occurrence").
CATALOGUE: dict[str, tuple[int, str]] = {
    # -- request shape ------------------------------------------------------------------
    "invalid_request": (400, "The request is not what this endpoint accepts"),
    "not_found": (404, "No such endpoint of the device API"),
    "method_not_allowed": (405, "This endpoint does not accept this method"),
    "payload_too_large": (413, "The request body is too large"),
    "temporarily_unavailable": (503, "The service is temporarily unavailable; retry later"),
    "too_many_waits": (429, "This device already has as many waiting requests open as allowed"),
    # -- registration -----------------------------------------------------------------
    "invalid_activation_code": (400, "Unknown or expired activation code"),
    "activation_code_used": (400, "This activation code has already been used"),
    "invalid_pin": (400, "The PIN must be 4 to 8 digits"),
    "invalid_public_key": (400, "The public key is not an EC P-256 public JWK"),
    "public_key_in_use": (409, "This public key is already registered"),
    "invalid_webhook_url": (400, "The webhook URL is not allowed"),
    "professional_inactive": (403, "The professional is not active in the directory"),
    # -- device authentication (Bearer device JWT, decision JWT) -----------------------
    "missing_token": (401, "A device token is required"),
    "invalid_token": (401, "The JWT is malformed, or not ES256 with a kid"),
    "unknown_device": (401, "No device has this identifier"),
    "bad_signature": (401, "The signature does not verify with the device key"),
    "invalid_audience": (401, "The token is not meant for this server"),
    "invalid_issuer": (401, "The token issuer is not the device"),
    "token_expired": (401, "The device token has expired"),
    "token_not_yet_valid": (401, "The device token is issued in the future"),
    "token_lifetime_too_long": (401, "The device token lives longer than 60 seconds"),
    "replayed_token": (401, "This device token (jti) has already been used"),
    "device_revoked": (403, "The device has been revoked"),
    "device_locked": (403, "The device is locked; activate a new one"),
    # -- decisions ----------------------------------------------------------------------
    "invalid_decision": (400, "The decision JWT lacks a claim or has a bad value"),
    "request_mismatch": (400, "The decision is for another request"),
    "stale_decision": (400, "The decision was signed too long ago or in the future"),
    "replayed_decision": (409, "This decision (jti) has already been received"),
    "unknown_request": (404, "No authentication request has this identifier"),
    "request_expired": (410, "The authentication request has expired"),
    "request_not_pending": (409, "The authentication request has already been decided"),
    "foreign_request": (403, "The request is for another professional"),
    "wrong_pin": (403, "Wrong PIN"),
    "pin_locked": (403, "Wrong PIN; no attempt left, the device is now locked"),
    "code_required": (400, "Approving a browser login needs the chosen code"),
    "wrong_code": (403, "The chosen code is not the one shown on the login page"),
}


def problem_type(code: str) -> str:
    return PROBLEM_BASE + code.replace("_", "-")


class Problem(Exception):
    """A refusal, raised anywhere under the device API and answered by :func:`to_response`.

    ``extra`` members are added to the problem object (RFC 9457 §3.2 extension members),
    e.g. ``remaining_attempts``.
    """

    def __init__(self, code: str, detail: str | None = None, **extra: Any) -> None:
        if code not in CATALOGUE:  # a programming error, caught by the tests
            raise KeyError(f"unknown e-CPS problem code {code!r}")
        self.code = code
        self.status, self.title = CATALOGUE[code]
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(f"{code}: {self.detail}")

    def as_json(self) -> dict[str, Any]:
        return {
            "type": problem_type(self.code),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }


def to_response(problem: Problem) -> Response:
    """``application/problem+json`` (RFC 9457 §3), never cached."""
    response = Response(
        json.dumps(problem.as_json()), status=problem.status, mimetype="application/problem+json"
    )
    response.headers["Cache-Control"] = "no-store"
    if problem.status == 401:
        # RFC 6750 §3: a 401 on a Bearer-protected resource names the scheme; without any
        # credentials the challenge carries no error code (§3.1).
        challenge = 'Bearer realm="santeid-ecps"'
        if problem.code != "missing_token":
            challenge += f', error="invalid_token", error_description="{problem.code}"'
        response.headers["WWW-Authenticate"] = challenge
    return response

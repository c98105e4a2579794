"""The decision JWT: the professional's answer to a request, signed by the phone.

``POST /ecps/device/requests/<id>/decision`` carries a JWS (RFC 7515) signed ES256 by the
device key, header ``kid`` = device_id, with the claims

=============  ==============================================================================
``request_id`` the request decided (must equal the one in the URL)
``decision``   ``approve`` or ``deny``
``code``       the candidate the professional picked (browser approvals only)
``pin``        the PIN typed on the phone (PSC asks it first, for an approval and a denial)
``iat``        when it was signed; refused if older than 60 s or more than 5 s ahead
``jti``        unique; a second decision with the same ``jti`` is refused
``aud``        the server origin
``iss``        optional; if present, the device_id
=============  ==============================================================================

The checks run in this order (each failure has its own problem code, see ``problems.py``):
JWS structure → device → signature → device status (``auth.verify_device_jws``); claims
(``invalid_decision``), ``aud``, ``request_id`` matches the URL, freshness (``stale_decision``),
``jti`` (``replayed_decision``); the request exists (``unknown_request``), belongs to the
device's professional (``foreign_request`` — checked before its status, so a device learns
nothing about other professionals' requests), is pending (``request_not_pending``) and not
expired (``request_expired``); the PIN (``wrong_pin`` with ``remaining_attempts``, or
``pin_locked`` on the last attempt, which locks the device and fails the request with
``pin_locked``); for a browser approval the code (``code_required``, ``wrong_code`` — which
fails the request with ``wrong_code``: the login page says so and offers a retry). Then the
request becomes ``approved`` (``amr`` = ``["swk", "pin", "mfa"]``, RFC 8176 §2: proof of
possession of a software-secured key, a PIN, and both together) or ``denied``, by a
compare-and-set that also refuses a request expired meanwhile (``request_expired``: the PIN
check takes tens of milliseconds, the expiry may pass during it).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from santeid.ecps.auth import CLOCK_SKEW
from santeid.ecps.auth import MAX_TOKEN_LIFETIME
from santeid.ecps.auth import check_audience
from santeid.ecps.auth import jti_digest
from santeid.ecps.auth import numeric_date
from santeid.ecps.auth import verify_device_jws
from santeid.ecps.devices import STATUS_LOCKED
from santeid.ecps.problems import Problem
from santeid.ecps.requests import APPROVED
from santeid.ecps.requests import DENIED
from santeid.ecps.requests import EXPIRED
from santeid.ecps.requests import FAILED
from santeid.ecps.requests import KIND_BROWSER
from santeid.ecps.requests import PENDING
from santeid.ecps.requests import AuthRequest
from santeid.observability import record as observe
from santeid.psc import proofs
from santeid.storage import keys

if TYPE_CHECKING:
    from santeid.ecps.service import EcpsService

#: RFC 8176 authentication method references of an e-CPS approval.
ECPS_AMR = list(proofs.ECPS_AMR)

APPROVE = "approve"
DENY = "deny"


@dataclass(frozen=True)
class DecisionOutcome:
    request: AuthRequest
    device_id: str

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request.request_id, "status": self.request.status}


def _claims(claims: dict[str, Any]) -> tuple[str, str, str, str | None]:
    request_id = claims.get("request_id")
    decision = claims.get("decision")
    pin = claims.get("pin")
    code = claims.get("code")
    if not isinstance(request_id, str) or not request_id:
        raise Problem("invalid_decision", "the claim 'request_id' is required")
    if decision not in (APPROVE, DENY):
        raise Problem("invalid_decision", "the claim 'decision' must be 'approve' or 'deny'")
    if not isinstance(pin, str):
        raise Problem("invalid_decision", "the claim 'pin' (a string of digits) is required")
    if code is not None and not isinstance(code, str):
        raise Problem("invalid_decision", "the claim 'code' must be a string such as \"07\"")
    return request_id, decision, pin, code


def process_decision(service: EcpsService, url_request_id: str, token: Any) -> DecisionOutcome:
    """Check a decision JWT and apply it; raise :class:`Problem` on any refusal."""
    device, claims = verify_device_jws(token, service.devices)
    request_id, decision, pin, code = _claims(claims)
    if "iss" in claims and claims["iss"] != device.device_id:
        raise Problem("invalid_issuer", "'iss', when present, must be the device_id")
    check_audience(claims, service.origin)
    if request_id != url_request_id:
        raise Problem("request_mismatch", "'request_id' differs from the request in the URL")

    now = service.clock()
    issued_at = numeric_date(claims, "iat", "invalid_decision")
    if now - issued_at > MAX_TOKEN_LIFETIME:
        raise Problem("stale_decision", "the decision was signed more than 60 s ago")
    if issued_at - now > CLOCK_SKEW:
        raise Problem("stale_decision", "the decision is signed in the future; check the clock")
    digest = jti_digest(claims.get("jti"), "invalid_decision")
    ttl = MAX_TOKEN_LIFETIME + 2 * CLOCK_SKEW
    seen = keys.ECPS_DECISION_JTI.key(device.device_id, digest)
    if not service.store.add(seen, {}, ttl):
        raise Problem("replayed_decision", "this decision (jti) has already been received")

    request = service.requests.get(request_id)
    if request is None:
        raise Problem("unknown_request", "no request has this identifier (or it is long gone)")
    if request.national_id != device.national_id:
        raise Problem("foreign_request", "this request is for another professional")
    if request.status == EXPIRED:
        raise Problem("request_expired", "the request expired before the decision")
    if request.status != PENDING:
        raise Problem("request_not_pending", f"the request is already {request.status}")

    _check_pin(service, device, request, pin)

    if decision == DENY:
        decided = _commit(service, request, {"status": DENIED, "device_id": device.device_id})
    else:
        if request.kind == KIND_BROWSER:
            if code is None:
                raise Problem("code_required", "pick the code shown on the login page")
            if not hmac.compare_digest(code.encode(), (request.code or "").encode()):
                _commit(
                    service,
                    request,
                    {"status": FAILED, "failure": "wrong_code", "device_id": device.device_id},
                )
                raise Problem(
                    "wrong_code", "this is not the code shown on the login page; it has failed"
                )
        decided = _commit(
            service,
            request,
            {"status": APPROVED, "device_id": device.device_id, "amr": ECPS_AMR},
        )
    return DecisionOutcome(request=decided, device_id=device.device_id)


def _commit(service: EcpsService, request: AuthRequest, changes: dict[str, Any]) -> AuthRequest:
    """Decide ``request`` (compare-and-set, ``RequestBook.decide``), or raise the problem of
    why it could not be: it expired meanwhile — during the PIN check, say — or another
    decision won."""
    decided = service.requests.decide(request.request_id, changes, current=request)
    if decided is not None:
        return decided
    now = service.requests.get(request.request_id)
    if now is None or now.status == EXPIRED:
        raise Problem("request_expired", "the request expired before the decision")
    raise Problem("request_not_pending", "the request was decided meanwhile")


def _check_pin(service: EcpsService, device, request: AuthRequest, pin: str) -> None:
    attempts = service.settings.ecps.pin_attempts
    if service.pins.verify(device.pin_hash, pin):
        rehash = service.pins.hash(pin) if service.pins.needs_rehash(device.pin_hash) else None
        if not service.devices.record_right_pin(device.device_id, rehash):
            # A concurrent wrong PIN locked the device between our read and now.
            raise Problem("device_locked", "this device is locked after wrong PINs")
        return
    counted = service.devices.record_wrong_pin(device.device_id, attempts)
    if counted is None:
        raise Problem("device_locked", "this device is locked after wrong PINs")
    failures, status = counted
    observe.ecps_wrong_pin(device, locked=status == STATUS_LOCKED)
    if status == STATUS_LOCKED:
        service.requests.decide(
            request.request_id,
            {"status": FAILED, "failure": "pin_locked", "device_id": device.device_id},
        )
        raise Problem(
            "pin_locked",
            "wrong PIN, no attempt left: this device is now locked; activate a new one",
            remaining_attempts=0,
        )
    service.requests.note_wrong_pin(request.request_id, attempts - failures)
    raise Problem(
        "wrong_pin",
        f"wrong PIN; {attempts - failures} attempt(s) left before the device locks",
        remaining_attempts=attempts - failures,
    )

"""The sandbox phone: a stand-in for a professional's e-CPS that answers by scenario.

Sandbox mode only. A login (browser or CIBA) of a professional with a phone scenario
(``scenarios.py``) makes a real e-CPS authentication request (``santeid.ecps.requests``: same
record, same two-digit code, same lifetime, same statuses), which carries the scenario in force
when it was made; nobody holds a device, so the request is answered here, *lazily*: whoever
next reads it (the login page's poll, the CIBA token endpoint, the control API) calls
:meth:`SandboxPhone.settle`, which applies that scenario once its delay has passed. A scenario
set meanwhile (another test job's) applies to the next logins only. Only requests the sandbox
phone made are settled so: a professional with an active e-CPS device uses it first, whatever
the scenario (docs/sandbox.md), and the device's requests wait for the device. A decision is
the e-CPS request book's compare-and-set, so it is taken exactly once, whichever worker reads
first.

Each request the sandbox phone makes is answered on its own: it withdraws no other request of
the professional and none withdraws it (``EcpsService._withdraw_older``), so that test jobs
logging one professional in at the same time each get their scenario's answer.

The one exception to *lazily*: a CIBA request of a ping or push client, whose client need not
poll, is also settled by a timer of the serving process when the scenario's delay has passed
(:meth:`settle_later`), so that the decision is notified.

The control API answers the same requests by hand (:meth:`answer`, :meth:`expire`).
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import TYPE_CHECKING
from typing import Any

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.ecps.requests import APPROVED
from santeid.ecps.requests import DENIED
from santeid.ecps.requests import FAILED
from santeid.ecps.requests import KIND_BROWSER
from santeid.ecps.requests import KIND_CIBA
from santeid.ecps.requests import PENDING
from santeid.ecps.requests import AuthRequest
from santeid.psc import proofs
from santeid.sandbox import scenarios as sc

if TYPE_CHECKING:
    from santeid.ciba.requests import CibaRequestBook

log = logging.getLogger(__name__)

#: ``device_id`` of every decision the sandbox phone (or the control API) takes.
SANDBOX_DEVICE_ID = "sandbox-phone"
#: RFC 8176 has no method for "nobody proved anything": a private value, as before.
SANDBOX_AMR = list(proofs.PROOFS[proofs.SANDBOX].amr)
#: In the mark of a request the sandbox phone made (``santeid.ecps.requests.SANDBOX_PHONE``):
#: when it was made (the record's ``created_at`` is in whole seconds; a delay of 0.3 s needs
#: better), and the scenario in force then (``Scenario.to_dict``; ``None``: none any more, the
#: request waits for the control API or expires).
STARTED_AT = "started_at"
SCENARIO = "scenario"


class AnswerError(ValueError):
    """The control API's answer was refused: ``code`` is the problem type (its HTTP status is
    the catalogue's, ``santeid.problems``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SandboxPhone:
    def __init__(
        self,
        *,
        settings: Any,
        ecps: Any,
        directory: Any,
        scenarios: sc.ScenarioBook,
        ciba_requests: CibaRequestBook,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.ecps = ecps
        self.directory = directory
        self.scenarios = scenarios
        #: "Let expire" expires the CIBA request waiting for the e-CPS request too.
        self.ciba_requests = ciba_requests
        self.clock = clock

    # -- who has a sandbox phone ------------------------------------------------------------
    def scenario_for(self, professional: Any) -> sc.Scenario | None:
        return self.scenarios.phone_scenario(professional)

    def approves_ciba_at_once(self, professional: Any) -> bool:
        """An ``approve`` scenario without a delay approves a CIBA request when it is made."""
        scenario = self.scenario_for(professional)
        return (
            scenario is not None
            and scenario.outcome == sc.APPROVE
            and scenario.delay_for(KIND_CIBA, self.settings.sandbox.approval_delay) == 0
        )

    # -- requests ----------------------------------------------------------------------------
    def create_browser_request(self, professional: Any, *, client_name: str) -> AuthRequest:
        return self.ecps.create_browser_request(
            professional.national_id,
            client_name=client_name,
            sandbox_phone=self._mark(professional),
        )

    def create_ciba_request(self, national_id: str, **kwargs: Any) -> AuthRequest:
        """A CIBA request for the sandbox phone (``EcpsService.create_ciba_request``'s
        arguments)."""
        professional = self.directory.get(national_id)
        return self.ecps.create_ciba_request(
            national_id, **kwargs, sandbox_phone=self._mark(professional)
        )

    def _mark(self, professional: Any) -> dict[str, Any]:
        """What a request of the sandbox phone carries from its creation: when, and the
        professional's scenario then."""
        scenario = self.scenario_for(professional) if professional is not None else None
        return {STARTED_AT: self.clock(), SCENARIO: scenario.to_dict() if scenario else None}

    def settle(self, request_id: str) -> AuthRequest | None:
        """The request, answered first if the scenario in force when it was made says it is
        time; a request the sandbox phone did not make (an e-CPS device's) is left to its
        device."""
        request = self.ecps.get_request(request_id)
        if request is None or request.status != PENDING:
            return request
        mark = request.sandbox_phone
        if mark is None:
            return request
        started = mark[STARTED_AT]
        scenario = self._scenario_of(request)
        if scenario is None or scenario.outcome == sc.NEVER:
            return request
        if self.clock() < started + self._delay(request, scenario):
            return request
        changes_by_outcome: dict[str, dict] = {
            sc.APPROVE: {"status": APPROVED, "amr": SANDBOX_AMR},
            sc.DENY: {"status": DENIED},
            sc.WRONG_CODE: {"status": FAILED, "failure": "wrong_code"},
            sc.DEVICE_LOCKED: {"status": FAILED, "failure": "pin_locked"},
        }
        return self._decide(request_id, changes_by_outcome[scenario.outcome], current=request)

    def settle_later(self, request_id: str) -> None:
        """Settle the request by itself once its scenario's delay has passed (a daemon timer in
        this process), for a client that is not going to read it (CIBA ping and push). No timer
        when the scenario would answer after the request's expiry (it just expires); none
        either when no thread can be started: the request then waits for a poll (ping) or
        expires (push), as when the worker stops first (docs/sandbox.md)."""
        request = self.ecps.get_request(request_id)
        scenario = self._scenario_of(request) if request is not None else None
        if request is None or scenario is None or scenario.outcome == sc.NEVER:
            return
        started = (request.sandbox_phone or {}).get(STARTED_AT, self.clock())
        due_at = started + self._delay(request, scenario)
        if due_at >= request.expires_at:
            return
        timer = threading.Timer(
            max(0.0, due_at - self.clock()), self._settle_quietly, args=(request_id,)
        )
        timer.daemon = True
        try:
            timer.start()
        except RuntimeError as exc:  # "can't start new thread"
            log.warning("sandbox phone: request %s left to a poll or expiry: %s", request_id, exc)

    def _settle_quietly(self, request_id: str) -> None:
        try:
            self.settle(request_id)
        except Exception:  # noqa: BLE001 — a timer thread has nobody to tell
            log.exception("sandbox phone: request %s not settled", request_id)

    @staticmethod
    def _scenario_of(request: AuthRequest) -> sc.Scenario | None:
        """The scenario in force when the sandbox phone made ``request``."""
        chosen = (request.sandbox_phone or {}).get(SCENARIO)
        return sc.parse_scenario(chosen) if chosen is not None else None

    def _delay(self, request: AuthRequest, scenario: sc.Scenario) -> float:
        """Seconds after its start when the scenario answers the request."""
        return scenario.delay_for(request.kind, self.settings.sandbox.approval_delay)

    def _decide(
        self, request_id: str, changes: dict, *, current: AuthRequest | None = None
    ) -> AuthRequest | None:
        decided = self.ecps.requests.decide(
            request_id, {**changes, "device_id": SANDBOX_DEVICE_ID}, current=current
        )
        return decided or self.ecps.get_request(request_id)

    # -- the control API ---------------------------------------------------------------------
    def pending(self, national_id: str) -> list[AuthRequest]:
        """The professional's pending requests (any, e-CPS devices' included), oldest first;
        the sandbox phone's requests whose scenario is due are answered first."""
        found = []
        for request in self.ecps.requests.pending_for(national_id):
            settled = self.settle(request.request_id)
            if settled is not None and settled.status == PENDING:
                found.append(settled)
        return found

    def answer(self, request_id: str, decision: str, code: Any = None) -> AuthRequest:
        """Approve or deny a pending request as the phone would: a browser approval needs
        the code shown on the login page, and a wrong one fails the request (as on the
        phone). Raises :class:`AnswerError`."""
        request = self._pending(request_id)
        if decision == "deny":
            changes: dict = {"status": DENIED}
        elif decision == "approve":
            if request.kind == KIND_BROWSER:
                if not isinstance(code, str) or not code:
                    raise AnswerError("code_required", "give the 'code' shown on the login page")
                if not hmac.compare_digest(code.encode(), (request.code or "").encode()):
                    self._decide(request_id, {"status": FAILED, "failure": "wrong_code"})
                    raise AnswerError(
                        "wrong_code", "this is not the code of the login page: the login failed"
                    )
            changes = {"status": APPROVED, "amr": SANDBOX_AMR}
        else:
            raise AnswerError("invalid_request", "'decision' is 'approve' or 'deny'")
        decided = self.ecps.requests.decide(request_id, {**changes, "device_id": SANDBOX_DEVICE_ID})
        if decided is None:
            raise AnswerError("request_not_pending", "the request was answered meanwhile")
        return decided

    def expire(self, request_id: str) -> AuthRequest:
        """Let a pending request expire now (and the CIBA request waiting for it)."""
        self._pending(request_id)
        moved = self.ecps.requests.expire_now(request_id)
        if moved is None:
            raise AnswerError("request_not_pending", "the request was answered meanwhile")
        key = self.ciba_requests.key_for_ecps(request_id)
        if key is not None:
            self.ciba_requests.transition(
                key, "pending", "pending", {"expires_at": moved.expires_at}
            )
        return self.ecps.get_request(request_id)

    def _pending(self, request_id: str) -> AuthRequest:
        request = self.settle(request_id)
        if request is None:
            raise AnswerError("unknown_request", "no request has this identifier")
        if request.status != PENDING:
            raise AnswerError("request_not_pending", f"the request is already {request.status}")
        return request

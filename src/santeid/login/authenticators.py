"""How a professional proves the identifier typed on the login page.

Each authenticator starts a proof for a login transaction and, when polled, turns the state of
that proof into the transaction's state: ``waiting`` → ``approved`` (through
``LoginTransactions.approve``) or ``failed`` (with a reason the page explains, and a retry).

* **e-CPS** (docs/reference/pro-sante-connect.md §13): a request reaches the professional's phone,
which shows three
  2-digit codes; the professional enters the PIN and picks the code shown on the login page.
  Used whenever the professional has an active device.
* **Sandbox** (sandbox mode only): professionals with a sandbox scenario (``santeid.sandbox``:
  approved, denied, never answered, wrong code, device locked — at once or after a delay) and
  without an e-CPS device; the sandbox phone answers an e-CPS request as the scenario says.

The CPS card (``login/card.py``) and the offline code (``views.otp``) approve directly.
"""

from __future__ import annotations

from flask import has_request_context
from flask import request as flask_request

from santeid import rate_limits
from santeid.observability import record as observe
from santeid.proxies import client_address
from santeid.psc import proofs
from santeid.services import services


class SandboxAuthenticator:
    """Sandbox mode only: the sandbox phone (``santeid.sandbox.phone``) answers an e-CPS
    request by the professional's scenario; the page shows the request's code, so the control
    API can approve it "with the right code" as a phone would."""

    name = "sandbox"

    def applies(self, professional) -> bool:
        phone = _sandbox_phone()
        return phone is not None and phone.scenario_for(professional) is not None

    def start(self, txid: str, tx: dict, professional) -> dict | None:
        request = _sandbox_phone().create_browser_request(
            professional, client_name=tx["client_name"]
        )
        return _wait_for(txid, tx, professional, self.name, request)

    def advance(self, txid: str, tx: dict) -> dict:
        request = _sandbox_phone().settle(tx["ecps_request"])
        return _follow(txid, tx, request, proof=proofs.SANDBOX)


class EcpsAuthenticator:
    name = "ecps"

    def applies(self, professional) -> bool:
        return bool(services().ecps.devices.active_for(professional.national_id))

    def throttled(self, professional) -> bool:
        """Count one e-CPS request for this professional and for the browser's address; True
        when either is beyond its limit (``ecps_push_limit_*`` in ``ecps_push_window``): starting
        logins must not let anyone flood a professional's phone (``docs/security.md``)."""
        svc = services()
        if rate_limits.ECPS_PUSH_ADDRESS.of(svc.settings).hit(svc.store, _client_address()):
            # Refused for this requester: the professional's budget is not spent.
            return True
        per_professional = rate_limits.ECPS_PUSH_PROFESSIONAL.of(svc.settings)
        return per_professional.hit(svc.store, professional.national_id)

    def start(self, txid: str, tx: dict, professional) -> dict | None:
        request = services().ecps.create_browser_request(
            professional.national_id,
            client_name=tx["client_name"],
            client_id=tx.get("client_id"),
            requested_from=_client_address() or None,
        )
        return _wait_for(txid, tx, professional, self.name, request)

    def advance(self, txid: str, tx: dict) -> dict:
        svc = services()
        request = svc.ecps.get_request(tx["ecps_request"])
        return _follow(txid, tx, request, proof=proofs.ECPS)


def _sandbox_phone():
    """The sandbox phone, in sandbox mode only (``None`` otherwise)."""
    return services().sandbox


def _wait_for(txid: str, tx: dict, professional, authenticator: str, request) -> dict | None:
    """Move the transaction ``tx`` (as read in this request) to ``waiting`` on e-CPS request
    ``request`` (withdrawn if the transaction moved meanwhile)."""
    changes = {
        "state": "waiting",
        "national_id": professional.national_id,
        "authenticator": authenticator,
        "ecps_request": request.request_id,
        "dynamic_code": request.code,
        "request_expires_at": request.expires_at,
        "failure": None,
    }
    moved = _move_to_waiting(txid, changes, tx)
    if moved is None:
        services().ecps.cancel_request(request.request_id)
    return moved


def _follow(txid: str, tx: dict, request, *, proof: str) -> dict:
    """The transaction brought up to date with its e-CPS request: approved with what
    ``proof`` establishes (``psc.proofs``; ``amr``: the request's, else the proof's), or
    failed with the reason the page explains."""
    svc = services()
    status = request.status if request is not None else "expired"
    if status == "pending":
        return tx
    if status == "approved":
        return svc.transactions.approve(
            txid,
            from_states=("waiting",),
            national_id=tx["national_id"],
            **proofs.proof_claims(proof, svc.settings, request.amr),
            current=tx,
        ) or _as_stored(txid, tx)
    reason = status if status in ("denied", "expired") else (request.failure or "failed")
    failed = svc.transactions.move(
        txid, "waiting", {"state": "failed", "failure": reason}, current=tx
    )
    if failed is not None:  # once: only the poll that moved the transaction reports it
        observe.login_failed(
            tx["client_id"],
            reason,
            professional=tx["national_id"],
            auth_mode=proofs.PROOFS[proof].auth_mode,
        )
    return failed or _as_stored(txid, tx)


def _as_stored(txid: str, tx: dict) -> dict:
    """Transaction ``txid`` as another request left it, once ``tx`` (read earlier in this
    one) could not be moved: used up meanwhile — its login ended and the transaction
    discarded — it reads ``done``, never as the stale ``tx`` still ``waiting``."""
    return services().transactions.get(txid) or {**tx, "state": "done"}


def _client_address() -> str:
    """The browser's address: the forwarded one through a trusted proxy, else the peer's."""
    return (client_address(flask_request.environ) or "") if has_request_context() else ""


def _move_to_waiting(txid: str, changes: dict, tx: dict) -> dict | None:
    transactions = services().transactions
    # A first attempt starts from "identify", a retry from "failed".
    first = transactions.move(txid, "identify", changes, current=tx)
    return first or transactions.move(txid, "failed", changes, current=tx)


AUTHENTICATORS = {a.name: a for a in (EcpsAuthenticator(), SandboxAuthenticator())}


def choose(professional):
    """The first authenticator usable by this professional (e-CPS before the sandbox)."""
    for authenticator in AUTHENTICATORS.values():
        if authenticator.applies(professional):
            return authenticator
    return None


def advance(txid: str, tx: dict) -> dict:
    """Bring a waiting transaction up to date with its proof."""
    if tx["state"] != "waiting":
        return tx
    authenticator = AUTHENTICATORS.get(tx.get("authenticator", ""))
    return authenticator.advance(txid, tx) if authenticator else tx

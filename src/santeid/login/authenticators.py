"""How a professional proves the identifier typed on the login page.

Each authenticator starts a proof for a login transaction and, when polled, turns the state of
that proof into the transaction's state: ``waiting`` → ``approved`` (through
``LoginTransactions.approve``) or ``failed`` (with a reason the page explains, and a retry).

* **e-CPS** (psc.md §13): a request reaches the professional's phone, which shows three
  2-digit codes; the professional enters the PIN and picks the code shown on the login page.
  Used whenever the professional has an active device.
* **Sandbox** (sandbox mode only): professionals flagged ``sandbox_auto_approve`` and without
  an e-CPS device are approved after ``sandbox_approval_delay`` seconds.

The CPS card (``login/card.py``) and the offline code (``views.otp``) approve directly.
"""

from __future__ import annotations

import time

from flask import has_request_context
from flask import request as flask_request

from santeid import rate_limits
from santeid.psc import proofs
from santeid.services import services


class SandboxAuthenticator:
    name = "sandbox"

    def applies(self, professional) -> bool:
        return bool(services().settings.sandbox and professional.sandbox_auto_approve)

    def start(self, txid: str, professional, *, client_name: str) -> dict | None:
        svc = services()
        changes = {
            "state": "waiting",
            "national_id": professional.national_id,
            "authenticator": self.name,
            "approve_at": time.time() + svc.settings.sandbox_approval_delay,
        }
        return _move_to_waiting(txid, changes)

    def advance(self, txid: str, tx: dict) -> dict:
        if time.time() < tx["approve_at"]:
            return tx
        svc = services()
        return svc.transactions.approve(
            txid,
            from_states=("waiting",),
            national_id=tx["national_id"],
            **proofs.proof_claims(proofs.SANDBOX, svc.settings),
        ) or (svc.transactions.get(txid) or tx)


class EcpsAuthenticator:
    name = "ecps"

    def applies(self, professional) -> bool:
        ecps = services().ecps
        return ecps is not None and bool(ecps.devices.active_for(professional.national_id))

    def throttled(self, professional) -> bool:
        """Count one e-CPS request for this professional and for the browser's address; True
        when either is beyond its limit (``ecps_push_limit_*`` in ``ecps_push_window``): starting
        logins must not let anyone flood a professional's phone (``docs/security.md``)."""
        svc = services()
        settings = svc.settings
        window = settings.ecps_push_window
        if rate_limits.hit(
            svc.store,
            "ecps-push-address",
            _client_address(),
            limit=settings.ecps_push_limit_per_address,
            window=window,
        ):
            # Refused for this requester: the professional's budget is not spent.
            return True
        return rate_limits.hit(
            svc.store,
            "ecps-push-professional",
            professional.national_id,
            limit=settings.ecps_push_limit_per_professional,
            window=window,
        )

    def start(self, txid: str, professional, *, client_name: str) -> dict | None:
        tx = services().transactions.get(txid) or {}
        request = services().ecps.create_browser_request(
            professional.national_id,
            client_name=client_name,
            client_id=tx.get("client_id"),
            requested_from=_client_address() or None,
        )
        changes = {
            "state": "waiting",
            "national_id": professional.national_id,
            "authenticator": self.name,
            "ecps_request": request.request_id,
            "dynamic_code": request.code,
            "expires_at": request.expires_at,
            "failure": None,
        }
        moved = _move_to_waiting(txid, changes)
        if moved is None:
            services().ecps.cancel_request(request.request_id)
        return moved

    def advance(self, txid: str, tx: dict) -> dict:
        svc = services()
        request = svc.ecps.get_request(tx["ecps_request"])
        status = request.status if request is not None else "expired"
        if status == "pending":
            return tx
        if status == "approved":
            return svc.transactions.approve(
                txid,
                from_states=("waiting",),
                national_id=tx["national_id"],
                **proofs.proof_claims(proofs.ECPS, svc.settings, request.amr),
            ) or (svc.transactions.get(txid) or tx)
        reason = status if status in ("denied", "expired") else (request.failure or "failed")
        failed = svc.transactions.move(txid, "waiting", {"state": "failed", "failure": reason})
        return failed or (svc.transactions.get(txid) or tx)


def _client_address() -> str:
    """The browser's address as the WSGI server (or a trusted proxy's fix-up) reports it."""
    return (flask_request.remote_addr or "") if has_request_context() else ""


def _move_to_waiting(txid: str, changes: dict) -> dict | None:
    transactions = services().transactions
    # A first attempt starts from "identify", a retry from "failed".
    first = transactions.move(txid, "identify", changes)
    return first or transactions.move(txid, "failed", changes)


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
    authenticator = AUTHENTICATORS.get(tx.get("authenticator"))
    return authenticator.advance(txid, tx) if authenticator else tx

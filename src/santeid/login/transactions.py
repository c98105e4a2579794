"""Login transactions: the state of one browser login, shared by every worker through the store.

``login:<txid>`` holds the validated authorization request, the browser it belongs to and
where the login stands: ``identify`` → ``waiting`` → ``approved`` → ``done``. Each step is a
compare-and-set, so a transaction completes once even if two tabs or workers race.
"""

from __future__ import annotations

import secrets
import time

from flask import redirect
from flask import url_for

from santeid.interaction import PendingLogin
from santeid.observability import record as observe
from santeid.services import services


class LoginTransactions:
    def __init__(self, store, *, lifetime: int, clock=time.time):
        self.store = store
        self.lifetime = lifetime
        self.clock = clock

    def create(self, *, client_id: str, client_name: str, areq: dict, bid: str) -> str:
        txid = secrets.token_urlsafe(24)
        record = {
            "bid": bid,
            "client_id": client_id,
            "client_name": client_name,
            "areq": areq,
            "state": "identify",
            "national_id": None,
            "approve_at": None,
            "created_at": int(self.clock()),
        }
        self.store.put(f"login:{txid}", record, self.lifetime)
        observe.login_started(client_id)
        return txid

    def get(self, txid: str | None) -> dict | None:
        if not txid or not isinstance(txid, str) or len(txid) > 64:
            return None
        return self.store.get(f"login:{txid}")

    def move(self, txid: str, expected_state: str, changes: dict) -> dict | None:
        return self.store.transition(f"login:{txid}", {"state": expected_state}, changes)

    def approve(
        self,
        txid: str,
        *,
        from_states: tuple[str, ...] = ("identify", "waiting"),
        national_id: str,
        auth_mode: str,
        acr: str,
        amr: list[str],
    ) -> dict | None:
        """The one way an authenticator (sandbox, e-CPS, TOTP, CPS card) completes the proof:
        the transaction becomes ``approved`` with what the proof establishes (OIDC Core §2
        ``acr``/``amr``, PSC's ``authMode``). Returns None if it was not in ``from_states``."""
        changes = {
            "state": "approved",
            "national_id": national_id,
            "auth": {"auth_mode": auth_mode, "acr": acr, "amr": list(amr)},
        }
        for state in from_states:
            moved = self.move(txid, state, changes)
            if moved is not None:
                return moved
        return None

    def discard(self, txid: str) -> None:
        self.store.delete(f"login:{txid}")


class LoginPagesEntry:
    """The login pages' half of ``santeid.interaction``: open a login transaction for this
    browser and send it to the login page."""

    def begin(self, pending: PendingLogin):
        txid = services().transactions.create(
            client_id=pending.client_id,
            client_name=pending.client_name,
            areq=pending.request,
            bid=pending.browser_id,
        )
        return redirect(url_for("login.authenticate", tx=txid), code=302)

"""Login transactions: the state of one browser login, shared by every worker through the store.

A record of kind :data:`~santeid.storage.records.LOGIN_TRANSACTION` holds the validated
authorization request, the browser it belongs to and where the login stands: ``identify`` →
``waiting`` → ``approved`` → ``done`` (or ``failed``, and a retry). Each step is a
compare-and-set, so a transaction completes once even if two tabs or workers race; a
transaction past its ``login_transaction_lifetime`` reads as gone.
"""

from __future__ import annotations

import secrets

from flask import redirect
from flask import url_for

from santeid.clock import system_clock
from santeid.interaction import PendingLogin
from santeid.observability import record as observe
from santeid.services import services
from santeid.storage.records import LOGIN_TRANSACTION
from santeid.storage.records import RecordBook

#: Longest transaction id looked up (ours are 32 characters).
MAX_TXID_LENGTH = 64


class LoginTransactions:
    def __init__(self, store, *, lifetime: int, clock=system_clock):
        self.book = RecordBook(store, LOGIN_TRANSACTION, clock=clock)
        self.lifetime = lifetime
        self.clock = clock

    def create(self, *, client_id: str, client_name: str, areq: dict, bid: str) -> str:
        txid = secrets.token_urlsafe(24)
        record = {
            "bid": bid,
            "client_id": client_id,
            "client_name": client_name,
            "areq": areq,
            "national_id": None,
            "approve_at": None,
            "created_at": int(self.clock()),
        }
        self.book.create(txid, record, lifetime=self.lifetime)
        observe.login_started(client_id)
        return txid

    def get(self, txid: str | None) -> dict | None:
        if not isinstance(txid, str) or len(txid) > MAX_TXID_LENGTH:
            return None
        record = self.book.get(txid)
        return None if record is None else record.data

    def move(
        self, txid: str, expected_state: str, changes: dict, *, current: dict | None = None
    ) -> dict | None:
        """Compare-and-set from ``expected_state`` to ``changes["state"]``, merging the other
        changes; the record, or None if the transaction was not in ``expected_state``.
        ``current``: the transaction as read in this request (:meth:`get`), if it was."""
        changes = dict(changes)
        to_state = changes.pop("state")
        record = self.book.transition(
            self.book.key(txid), expected_state, to_state, changes, current=current
        )
        return None if record is None else record.data

    def approve(
        self,
        txid: str,
        *,
        from_states: tuple[str, ...] = ("identify", "waiting"),
        national_id: str,
        auth_mode: str,
        acr: str,
        amr: list[str],
        current: dict | None = None,
    ) -> dict | None:
        """The one way an authenticator (sandbox, e-CPS, TOTP, CPS card) completes the proof:
        the transaction becomes ``approved`` with what the proof establishes (OIDC Core §2
        ``acr``/``amr``, PSC's ``authMode``). Returns None if it was not in ``from_states``.
        ``current`` as in :meth:`move`."""
        changes = {
            "state": "approved",
            "national_id": national_id,
            "auth": {"auth_mode": auth_mode, "acr": acr, "amr": list(amr)},
        }
        for state in from_states:
            moved = self.move(txid, state, changes, current=current)
            if moved is not None:
                return moved
        return None

    def discard(self, txid: str) -> None:
        self.book.delete(self.book.key(txid))


class LoginPagesEntry:
    """The login pages' half of ``santeid.interaction``: open a login transaction for this
    browser and send it to the login page."""

    def begin(self, pending: PendingLogin):
        return redirect(url_for("login.authenticate", tx=self.open(pending)), code=302)

    def open(self, pending: PendingLogin) -> str:
        """The login transaction of ``pending`` (its id), where the login page starts."""
        return services().transactions.create(
            client_id=pending.client_id,
            client_name=pending.client_name,
            areq=pending.request,
            bid=pending.browser_id,
        )

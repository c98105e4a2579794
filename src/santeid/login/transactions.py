"""Login transactions: the state of one browser login, shared by every worker through the store.

A record of kind :data:`~santeid.storage.records.LOGIN_TRANSACTION` holds the validated
authorization request, the browser it belongs to and where the login stands: ``identify`` →
``waiting`` → ``approved`` → ``done`` (or ``failed``, and a retry). Each step is a
compare-and-set, so a transaction completes once even if two tabs or workers race; a
transaction past its ``login_transaction_lifetime`` reads as gone.

A login page left open past that lifetime starts its login again, as Keycloak restarts an
expired login from its ``KC_RESTART`` cookie (``SessionCodeChecks.restartAuthenticationSession
FromCookie``, docs/reference/keycloak-behaviour.md, "Login pages"): the browser keeps its latest
login not yet ended in ``santeid_restart`` (:func:`restart`).
"""

from __future__ import annotations

import secrets

from flask import redirect
from flask import url_for

from santeid.clock import system_clock
from santeid.interaction import PendingLogin
from santeid.interaction import authorization
from santeid.observability import record as observe
from santeid.security import RESTART
from santeid.security import browser_id
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

    def create(
        self, *, client_id: str, client_name: str, areq: dict, bid: str, restarted: bool = False
    ) -> str:
        """A new transaction in ``identify``; ``restarted``: it starts again a login whose
        transaction expired (:func:`restart`), and the login page says so."""
        txid = secrets.token_urlsafe(24)
        record = {
            "bid": bid,
            "client_id": client_id,
            "client_name": client_name,
            "areq": areq,
            "national_id": None,
            "approve_at": None,
            "created_at": int(self.clock()),
            "restarted": restarted,
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
        txid = self.open(pending)
        _remember_for_restart(txid, pending)
        return redirect(url_for("login.authenticate", tx=txid), code=302)

    def open(self, pending: PendingLogin) -> str:
        """The login transaction of ``pending`` (its id), where the login page starts."""
        return services().transactions.create(
            client_id=pending.client_id,
            client_name=pending.client_name,
            areq=pending.request,
            bid=pending.browser_id,
        )


def _remember_for_restart(txid: str, pending: PendingLogin) -> None:
    login = {
        "tx": txid,
        "client_id": pending.client_id,
        "client_name": pending.client_name,
        "areq": pending.request,
    }
    # A request too large for a cookie (parameters up to max_parameter_length each) cannot
    # be started again: its page then expires as it did before. A request object is kept as
    # the parameters it stands for, never as its JWT (request_objects: the ``request``
    # parameter is dropped once read), so max_jwt_parameter_length does not enter here.
    RESTART.set_if_fits(login)


def login_to_restart(txid: str | None) -> PendingLogin | None:
    """The login of the expired transaction ``txid``, when it is this browser's latest login
    not yet ended (``santeid_restart`` names it) and its client may still be answered, else
    None. Whether the browser has an SSO session meanwhile does not matter: Keycloak 25 restarts
    from ``KC_RESTART`` before it looks at the identity cookie, and the SSO session then
    answers the login started again if it can (docs/reference/keycloak-behaviour.md, "Login
    pages: two tabs, browser buttons, KC_RESTART")."""
    saved = RESTART.get()
    if not txid or saved.get("tx") != txid:
        return None
    client_id, client_name, areq = (saved.get(k) for k in ("client_id", "client_name", "areq"))
    if not (isinstance(client_id, str) and isinstance(client_name, str)):
        return None
    if not isinstance(areq, dict) or authorization().still_answerable(areq) is None:
        return None
    return PendingLogin(client_id, client_name, areq, browser_id())


def remembered_client_id(txid: str | None) -> str | None:
    """The client of login ``txid`` when ``santeid_restart`` names that login (its
    transaction gone), else None: what santeid knows of the client of a login page whose
    transaction is no longer there, as Keycloak reads it from its login-actions URL's
    ``client_id``. Another login's client, which the cookie may name, is not this page's."""
    saved = RESTART.get()
    if not txid or saved.get("tx") != txid:
        return None
    client_id = saved.get("client_id")
    return client_id if isinstance(client_id, str) else None


def restart(pending: PendingLogin) -> str:
    """Start the expired login ``pending`` again (:func:`login_to_restart`): a new transaction
    of this browser, marked ``restarted`` so that the login page says why it is back, and
    remembered in its place. Keycloak redirects to its login form with "loginTimeout"."""
    txid = services().transactions.create(
        client_id=pending.client_id,
        client_name=pending.client_name,
        areq=pending.request,
        bid=pending.browser_id,
        restarted=True,
    )
    _remember_for_restart(txid, pending)
    return txid


def forget_restart(txid: str | None) -> None:
    """The login of ``txid`` ended (a code, or a refusal sent to the client): it is no longer
    started again."""
    if RESTART.get().get("tx") == txid:
        RESTART.expire()

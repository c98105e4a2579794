"""Scripted logins (sandbox mode only): the browser's part of a code-flow login in one call of
the control API, ``POST /sandbox/api/logins`` (docs/sandbox.md, "Scripted logins"), for a test
suite that has no browser.

The call plays a browser of its own — the API request without its cookies, so that no SSO
session of the caller answers it and none is handed to the caller — through the steps a browser
takes, on the same code: the authorization endpoint's
(:func:`santeid.oidc.authorize.authorization_outcome`), the login transaction
(:meth:`santeid.login.transactions.LoginPagesEntry.open`), the login page's rules for the
identifier typed (:func:`santeid.login.views.identify`), the authenticators' answer
(:func:`santeid.login.authenticators.advance`, what the waiting page's poll reads) and the end
of the login (:func:`santeid.login.views.finish`). Nothing here decides who may log in; a
login whose client is gone meanwhile ends without a code by the login pages' rule
(:func:`santeid.login.views.still_answerable`), refused ``client_gone``.

Every answer names the login (``login_id``), readable with ``GET /sandbox/api/logins/{login_id}``
for at least ``login_transaction_lifetime`` after the start: while it runs, its login
transaction says where it stands; once it has ended (``done``: the code or the error sent back
to the service, at once or after the phone's answer), a record of the answer
(:data:`santeid.storage.keys.SANDBOX_LOGIN`) does. In between — the transaction used up, the
code not issued yet — that record is the mark :data:`ENDING`, written before the transaction
is used up, so that a read never finds neither: it waits for the answer.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from flask import current_app
from flask import request
from flask import url_for
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError

from santeid.i18n import Translator
from santeid.interaction import PendingLogin
from santeid.login import authenticators
from santeid.login import views
from santeid.login.transactions import MAX_TXID_LENGTH
from santeid.login.transactions import LoginPagesEntry
from santeid.oidc.authorize import ErrorPage
from santeid.oidc.authorize import FormPostResponse
from santeid.oidc.authorize import authorization_outcome
from santeid.security import ParameterTooLarge
from santeid.security import bind_browser
from santeid.security import check_parameter_size
from santeid.services import services
from santeid.storage import StoreUnavailable
from santeid.storage import keys

#: The browser id (``bid``) of the control API's own browsers starts so: only the login
#: transactions of those are read and completed through ``/sandbox/api/logins/{login_id}``,
#: and only the activation flows of those through ``/sandbox/api/activations/…`` (no page
#: takes them: they belong to no cookie).
SCRIPTED_BROWSER = "sandbox-api-"
#: Seconds a call waits for the phone: by default, and at most.
DEFAULT_WAIT = 30.0
MAX_WAIT = 300.0
#: How often a waiting call reads the transaction, as the waiting page polls it.
POLL_SECONDS = 0.1
#: Seconds a call waits for the answer of a login that another call is ending (its
#: transaction is used up before the code is issued and the answer recorded); still being
#: ended then, the call answers ``temporarily_unavailable`` (503: retry).
ENDING_WAIT = 5.0
#: The state of the record of a login that a call is ending (:func:`_end`).
ENDING = "ending"

#: The login page's refusal (``views.Refusal.reason``) → the control API's problem code.
REFUSAL_CODES = {
    "invalid_national_id": "invalid_national_id",
    "unknown_id": "unknown_professional",
    "inactive": "professional_inactive",
    "no_authenticator": "no_authenticator",
    "too_many_logins": "too_many_logins",
}


class ScriptedLoginError(ValueError):
    """A scripted login refused: ``code`` is the problem type (``santeid.problems``),
    ``extra`` its extension members."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.extra = code, extra


@dataclass
class ScriptedLogin:
    """Where a scripted login stands: ``waiting`` (for the phone: ``request_id``),
    ``approved`` (not ended yet), ``failed`` (``reason``, as the status poll gives it) or
    ``done`` (``callback``: where the browser is sent back to the client, with the code or
    the error)."""

    login_id: str
    state: str
    national_id: str | None = None
    reason: str | None = None
    request_id: str | None = None
    callback: dict = field(default_factory=dict)


@contextlib.contextmanager
def _own_browser(*, new: bool = False) -> Iterator[None]:
    """The scripted login's browser: this request without its cookies (an empty session,
    written nowhere). ``new``: a browser id is made for it, marked :data:`SCRIPTED_BROWSER`."""
    environ = {k: v for k, v in request.environ.items() if k != "HTTP_COOKIE"}
    with current_app.request_context(environ):
        if new:
            bind_browser(SCRIPTED_BROWSER + secrets.token_urlsafe(24))
        yield


def _authorization_paths() -> set[str]:
    paths = {url_for("oidc.authorize")}
    with contextlib.suppress(BuildError):
        paths.add(url_for("authorize_alias"))
    return paths


def start(authorization_url: str, national_id: str, wait: float) -> ScriptedLogin:
    """Follow ``authorization_url`` (built by the service under test), type ``national_id``
    on the login page, then :func:`settle` for up to ``wait`` seconds."""
    from santeid.oidc.request_objects import resolve

    parts = urlsplit(authorization_url)
    if parts.scheme not in ("http", "https") or parts.path not in _authorization_paths():
        raise ScriptedLoginError(
            "invalid_request",
            "'authorization_url' is not this server's authorization endpoint: "
            + " or ".join(sorted(_authorization_paths())),
        )
    params = MultiDict(parse_qsl(parts.query, keep_blank_values=True))
    try:
        check_parameter_size(params)
    except ParameterTooLarge as exc:
        # What the browser's GET of this URL meets first (limit_parameter_size): a 400.
        raise ScriptedLoginError(
            "authorization_refused", str(exc), error="invalid_request"
        ) from None
    with _own_browser(new=True):
        try:
            outcome = authorization_outcome(resolve(params))
        except ErrorPage as exc:
            # The browser would see an error page: nothing reaches the client.
            raise ScriptedLoginError(
                "authorization_refused", exc.description, error=exc.error
            ) from None
        if not isinstance(outcome, PendingLogin):
            # Answered at once (an error redirect: a fresh browser has no SSO session).
            login_id = secrets.token_urlsafe(24)
            return _ended(ScriptedLogin(login_id, "done", callback=callback_of(outcome)))
        txid = LoginPagesEntry().open(outcome)
        tx = services().transactions.get(txid) or {}
        refusal = views.identify(txid, tx, national_id, Translator("en"))
        if refusal is not None:
            services().transactions.discard(txid)
            raise ScriptedLoginError(REFUSAL_CODES[refusal.reason], refusal.message)
        return _settle(txid, wait)


def settle(login_id: str, wait: float, *, complete: bool) -> ScriptedLogin:
    """Where scripted login ``login_id`` stands once answered or after ``wait`` seconds;
    ``complete``: an approved login is ended (its code issued, ``done``). A login that has
    ended answers what it answered then."""
    with _own_browser():
        return _recorded(login_id) or _settle(login_id, wait, complete=complete)


def _key(login_id: str) -> str:
    return keys.SANDBOX_LOGIN.key(login_id)


def _ended(login: ScriptedLogin) -> ScriptedLogin:
    """Record the answer of ``login``, which has ended, for ``login_transaction_lifetime``."""
    record = {"state": login.state, "national_id": login.national_id, "callback": login.callback}
    svc = services()
    svc.store.put(_key(login.login_id), record, svc.transactions.lifetime)
    return login


def _end(txid: str, tx: dict, answerable: Any) -> ScriptedLogin | None:
    """End approved login ``txid`` (:func:`santeid.login.views.finish`, with ``answerable``
    from :func:`_check_answerable` in this call) and record its answer;
    ``None`` if another call ended it first. From the moment this call alone ends it until
    the answer is recorded, the record is the mark :data:`ENDING`, put before the transaction
    is used up; a completion that fails midway removes it (the store failing too, it expires
    after :data:`~santeid.storage.keys.SANDBOX_LOGIN_ENDING_LIFETIME`), so that it never
    stays ``ending``: the login is then unknown, as the browser's would be lost."""
    store = services().store
    marked = False

    def mark() -> None:
        nonlocal marked
        store.put(_key(txid), {"state": ENDING}, keys.SANDBOX_LOGIN_ENDING_LIFETIME)
        marked = True

    try:
        response = views.finish(txid, tx, answerable, claimed=mark)
        if response is None:
            return None
        return _ended(
            ScriptedLogin(txid, "done", tx["national_id"], callback=callback_of(response))
        )
    except BaseException:
        if marked:
            with contextlib.suppress(StoreUnavailable):
                store.delete(_key(txid))
        raise


def _recorded(login_id: str, patience: float = 0.0) -> ScriptedLogin | None:
    """The recorded answer of ended login ``login_id``, waiting up to ``patience`` seconds
    for it (another call is ending the login), and up to :data:`ENDING_WAIT` while the
    record says :data:`ENDING`."""
    if len(login_id) > MAX_TXID_LENGTH:
        return None
    started = time.monotonic()
    while True:
        record = services().store.get(_key(login_id))
        if record is not None and record["state"] != ENDING:
            return ScriptedLogin(
                login_id,
                record["state"],
                record.get("national_id"),
                callback=dict(record.get("callback") or {}),
            )
        if time.monotonic() - started >= (patience if record is None else ENDING_WAIT):
            if record is None:
                return None
            raise ScriptedLoginError(
                "temporarily_unavailable", "the login is still being ended: retry later"
            )
        time.sleep(POLL_SECONDS)


def _unknown() -> ScriptedLoginError:
    return ScriptedLoginError("unknown_login", "no scripted login has this identifier")


def _transaction(login_id: str) -> dict | None:
    """The login transaction of scripted login ``login_id`` (``None`` once used up)."""
    tx = services().transactions.get(login_id)
    if tx is not None and not str(tx.get("bid", "")).startswith(SCRIPTED_BROWSER):
        raise _unknown()  # a browser's login
    return tx


def _check_answerable(txid: str, tx: dict | None) -> Any:
    """Refuse (``client_gone``) login ``tx`` not ended yet whose client can no longer be
    answered — removed, or its ``redirect_uri`` no longer registered — once ended without a
    code, by the login pages' rule (:func:`santeid.login.views.still_answerable`); else what
    that rule answered (None for a login ended or gone), for :func:`_end`."""
    if tx is None or tx["state"] == "done":
        return None
    answerable = views.still_answerable(txid, tx)
    if answerable is None:
        raise ScriptedLoginError(
            "client_gone",
            "the service's client was removed, or no longer registers the login's "
            "redirect_uri: the login ended without a code",
        )
    return answerable


def _settle(txid: str, wait: float, *, complete: bool = True) -> ScriptedLogin:
    deadline = time.monotonic() + wait
    tx = _transaction(txid)
    seen = tx is not None
    while tx is not None and tx["state"] != "done":
        tx = authenticators.advance(txid, tx)
        if tx["state"] != "waiting" or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
        tx = _transaction(txid)
    # Checked once the wait is over (the client may have gone during it), before the login
    # ends or is read as it stands.
    answerable = _check_answerable(txid, tx)
    if tx is not None and tx["state"] == "approved" and complete:
        ended = _end(txid, tx, answerable)
        if ended is not None:
            return ended
        tx = None  # another call ended it first
    if tx is None or tx["state"] == "done":
        # Used up: another call has ended the login (its answer or the mark ENDING is
        # recorded, or is about to be if this call saw the transaction), or there never was
        # such a login.
        ended = _recorded(txid, ENDING_WAIT if seen else 0.0)
        if ended is None:
            raise _unknown()
        return ended
    login = ScriptedLogin(txid, tx["state"], tx.get("national_id"))
    if tx["state"] == "waiting":
        login.request_id = tx.get("ecps_request")
    elif tx["state"] == "failed":
        login.reason = views.failure_reason(tx)
    return login


def callback_of(response) -> dict:
    """Where the authorization response sends the browser: ``callback_url`` and
    ``callback_params`` (query or fragment of a redirect; the fields of a form_post page,
    ``callback_method`` ``POST``)."""
    if isinstance(response, FormPostResponse):
        return {
            "callback_url": response.action,
            "callback_method": "POST",
            "callback_params": dict(response.fields),
        }
    location = response.headers["Location"]
    parts = urlsplit(location)
    return {
        "callback_url": location,
        "callback_method": "GET",
        "callback_params": dict(parse_qsl(parts.fragment or parts.query)),
    }

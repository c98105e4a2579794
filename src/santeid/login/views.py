"""Login pages under ``{issuer}/login-actions/`` (Keycloak's path for its login forms).

The professional types a national identifier; an authenticator (``authenticators.py``:
e-CPS, or the sandbox authenticator in sandbox mode) then proves possession while the page
waits; the offline e-CPS code and the CPS card (``card.py``) are the alternatives. A failed
proof (denied, wrong code, locked device, expiry) is explained and can be retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import ceil
from typing import Any

from flask import Blueprint
from flask import abort
from flask import jsonify
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.routing import BuildError

from santeid import error_formats
from santeid.cache_control import no_store
from santeid.ecps.requests import FAILURE_REPLACED
from santeid.ecps.totp import TotpError
from santeid.errors import back_link
from santeid.errors import error_page
from santeid.errors import lead_back_to_service
from santeid.errors import oauth_error
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.interaction import authorization
from santeid.login import authenticators
from santeid.login.transactions import forget_restart
from santeid.login.transactions import login_to_restart
from santeid.login.transactions import remembered_client_id
from santeid.login.transactions import restart
from santeid.observability import record as observe
from santeid.oidc.authentication import Authentication
from santeid.oidc.authorize import browser_sid
from santeid.proxies import client_address
from santeid.psc import proofs
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.security import check_csrf
from santeid.security import is_this_browser
from santeid.services import services

bp = Blueprint("login", __name__)
# The login pages answer HTML errors; the status poll of the waiting page reads JSON.
error_formats.declare(bp, error_formats.JSON_OAUTH, endpoints=["login.status"])
# Every login page is of a login a service started: its error pages say to go back to that
# service, and link to its client once the login is found (_find_transaction).
bp.before_request(lead_back_to_service)

#: Endpoint of the CPS-card login (``login/card.py``), when that authenticator is installed.
CARD_ENDPOINT = "login_card.card"

#: Why a proof failed → the message shown (i18n keys).
FAILURE_MESSAGES = {
    "denied": "failure_denied",
    "wrong_code": "failure_wrong_code",
    "pin_locked": "failure_locked",
    "device_locked": "failure_locked",
    "expired": "failure_expired",
    FAILURE_REPLACED: "failure_replaced",
}
#: Failures after which retrying with the same device cannot work.
FINAL_FAILURES = ("pin_locked", "device_locked")


def failure_reason(tx: dict) -> str:
    """Why the proof of a failed transaction failed: a key of :data:`FAILURE_MESSAGES`
    (``denied``, ``wrong_code``, ``pin_locked``, ``device_locked``, ``expired``,
    ``replaced``), else ``failed``."""
    return tx.get("failure") or "failed"


#: Why the transaction named in ``tx`` cannot be used: status, the error page's title and
#: detail (i18n keys), and the ``json-oauth`` error and description of the status poll.
_UNKNOWN_TX = (400, "expired_title", "expired_detail", "invalid_request",
               "Unknown or expired login transaction")  # fmt: skip
_FOREIGN_TX = (403, "error_title", "foreign_tx", "access_denied",
               "The login transaction belongs to another browser")  # fmt: skip


def _find_transaction() -> tuple[str | None, dict, str, tuple | None]:
    """``(txid, tx, locale, refusal)`` for the transaction named in ``tx``; ``refusal``
    (:data:`_UNKNOWN_TX`, :data:`_FOREIGN_TX`) unless it exists and belongs to this browser.
    ``locale``: the login's; without one, this request's, as Keycloak's pages of a login no
    longer found pick it with no authentication session — the ``kc_locale`` its language menu
    adds (``InfoPageTest.changeLanguage``, docs/reference/keycloak-behaviour.md, "Login page
    languages: ``LoginPageTest`` and its neighbours, method by method"). The login's client,
    when santeid knows it — the transaction's, else the one ``santeid_restart`` names for it —
    is the one this request's error pages link back to
    (:func:`santeid.errors.lead_back_to_service`)."""
    txid = request.args.get("tx")
    tx = services().transactions.get(txid)
    if tx is None:
        lead_back_to_service(remembered_client_id(txid))
        return txid, {}, pick_locale(None, request.args.get("kc_locale")), _UNKNOWN_TX
    lead_back_to_service(tx["client_id"])
    locale = tx["areq"].get("locale", "fr")
    if not is_this_browser(tx["bid"]):
        # Binding to the browser stops a login started elsewhere from being finished here
        # (login CSRF and session fixation).
        return txid, tx, locale, _FOREIGN_TX
    return txid, tx, locale, None


def load_transaction(*, sso: bool = True):
    """``(txid, tx, translator, answerable)`` for the transaction named in ``tx``, checked to
    belong to this browser; aborts otherwise: to the login page of the same login started again when
    it expired (:func:`santeid.login.transactions.restart`), with the "already logged in" page
    when the login is over and the browser's SSO session lasts, else with an error page.
    ``sso``: a login not yet proved that the browser's SSO session now answers (another tab
    logged in) ends here, its service answered (:func:`_answered_by_sso`). A login whose
    client was removed meanwhile, or no longer registers its ``redirect_uri``, ends here too,
    answered as a login no longer found (:func:`still_answerable`); ``answerable`` is what
    the authorization side answered there, for :func:`finish` in this request (the client is
    read once). Authenticators' views start here."""
    txid, tx, locale, refusal = _find_transaction()
    answerable = None
    if refusal is None and txid:
        answerable = still_answerable(txid, tx)
        if answerable is None:
            refusal = _UNKNOWN_TX
    if refusal is _UNKNOWN_TX:
        pending = login_to_restart(txid)
        if pending is not None:
            restarted = restart(pending)
            abort(redirect(url_for("login.authenticate", tx=restarted), code=303))
        if services().sessions.exists(browser_sid()):
            # The page of a login that ended (browser Back after it, the same page in another
            # tab), or that expired while another tab logged in, and that cannot be started
            # again: Keycloak's info page "alreadyLoggedIn" when the browser has a user session
            # (docs/reference/keycloak-behaviour.md, "Login pages"), not an expiry.
            t = Translator(locale)
            # Keycloak's info page links back to the client its URL names (``info.ftl``).
            page = render_template("already_logged_in.html", t=t, home=back_link())
            abort(make_response(page))
    if refusal is not None:
        status, title, detail, _, _ = refusal
        t = Translator(locale)
        abort(error_page(t, t(title), t(detail), status))
    if sso and txid is not None:
        answer = _answered_by_sso(txid, tx, answerable)
        if answer is not None:
            abort(make_response(answer))
    return txid, tx, Translator(locale), answerable


def still_answerable(txid: str, tx: dict) -> Any:
    """What answers login ``tx`` (:meth:`~santeid.interaction.AuthorizationSide.
    still_answerable`, handed to :func:`finish` in the same request), or None: the login has
    just ended because its client can no longer be answered (removed, or its
    ``redirect_uri`` no longer registered), by :func:`_end_for_client_gone`. The login pages
    check here at every request (:func:`load_transaction`), the sandbox's scripted logins at
    every call, once its wait is over (``santeid.sandbox.logins``)."""
    answerable = authorization().still_answerable(tx["areq"])
    if answerable is None:
        _end_for_client_gone(txid, tx)
    return answerable


def _end_for_client_gone(txid: str, tx: dict) -> None:
    """End login ``tx``, whose client is gone (:meth:`~santeid.interaction.AuthorizationSide.
    still_answerable`): its transaction used up, never started again, a request on the phone
    withdrawn; nothing is sent to the client. Keycloak finds no authentication session for a
    client removed (``RootAuthenticationSessionModel.getAuthenticationSession`` looks one up by
    its client) nor restarts its login (``RestartLoginCookie.restartSession``), and removes the
    authentication session of a client found gone (``SessionCodeChecks.initialVerify``):
    docs/reference/keycloak-behaviour.md, "Login pages"."""
    _use_up_without_code(txid, tx)
    observe.login_failed(tx["client_id"], "client_not_found", professional=tx.get("national_id"))


def _use_up_without_code(txid: str, tx: dict) -> None:
    """Use up login ``tx``, ended without a code: its transaction gone, never started again,
    a request on the phone withdrawn."""
    svc = services()
    svc.transactions.discard(txid)
    forget_restart(txid)
    if tx.get("ecps_request") and svc.ecps:
        svc.ecps.cancel_request(tx["ecps_request"])


#: States of a login not yet proved, which the browser's SSO session may answer instead.
_UNPROVED = ("identify", "waiting", "failed")


def _answered_by_sso(txid: str, tx: dict, answerable: Any):
    """The service's answer when the browser's SSO session answers the unproved login ``tx``
    (another tab logged in while this page was open): the login ends — its transaction used
    up, a request on the phone withdrawn — as Keycloak's login pages restart their flow once
    the browser has a session (``authChecker.js``) and its cookie authenticator answers
    (docs/reference/keycloak-behaviour.md, "Login pages: two tabs, browser buttons,
    KC_RESTART"); else None. A proof approved meanwhile ends the login its own way."""
    if tx["state"] not in _UNPROVED:
        return None

    def end_this_login() -> bool:
        # Before the code is written and the LOGIN recorded: a proof approved meanwhile ends
        # the login its own way, and the session then writes no code and records nothing.
        moved = services().transactions.move(txid, tx["state"], {"state": "done"}, current=tx)
        return moved is not None

    answer = authorization().answer_by_sso(tx["areq"], answerable, claim=end_this_login)
    if answer is None:
        return None
    _use_up_without_code(txid, tx)
    return answer


def _optional_url(endpoint: str, **values) -> str | None:
    """URL of an endpoint that only exists when its feature is installed."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _render_login(txid: str, tx: dict, t, *, error=None, value=None, status=200):
    return (
        render_template(
            "login.html",
            t=t,
            txid=txid,
            service=tx["client_name"],
            value=value if value is not None else (tx["areq"].get("login_hint") or ""),
            error=error,
            # Why the login page is back: its previous transaction expired.
            restarted=bool(tx.get("restarted")) and error is None,
            card_url=_optional_url(CARD_ENDPOINT, tx=txid),
            activation_url=_optional_url("web_ecps.activation"),
        ),
        status,
    )


def _professional_name(national_id: str) -> str:
    professional = services().directory.get(national_id)
    if professional is None:
        return national_id
    return f"{professional.given_name} {professional.family_name}"


def _render_wait(txid: str, tx: dict, t):
    return render_template(
        "wait.html",
        t=t,
        txid=txid,
        tx=tx,
        service=tx["client_name"],
        name=_professional_name(tx["national_id"]),
        remaining=max(0, int(tx.get("request_expires_at") or 0) - int(services().clock())),
    )


def _offline_code_possible(tx: dict) -> bool:
    """Whether the e-CPS offline code may end this login: while the phone is asked, and after
    a failed push (no network on the phone: the request expired unseen)."""
    return tx["state"] in ("waiting", "failed") and tx.get("authenticator") == "ecps"


def _render_failed(txid: str, tx: dict, t):
    key = FAILURE_MESSAGES.get(failure_reason(tx), "failure_other")
    can_retry = tx.get("failure") not in FINAL_FAILURES
    return render_template(
        "failed.html",
        t=t,
        txid=txid,
        service=tx["client_name"],
        message=t(key),
        can_retry=can_retry,
        otp_url=url_for("login.otp", tx=txid) if can_retry and _offline_code_possible(tx) else None,
        activation_url=_optional_url("web_ecps.activation"),
    )


def _throttled(authenticator, professional) -> bool:
    """Whether this proof may not start now (the e-CPS push limits)."""
    throttled = getattr(authenticator, "throttled", None)
    return bool(throttled and throttled(professional))


@dataclass(frozen=True)
class Refusal:
    """Why the login page refuses the identifier typed: ``reason`` (``invalid_national_id``,
    ``unknown_id``, ``inactive``, ``no_authenticator``, ``too_many_logins``), the page's
    ``message`` and the HTTP ``status``."""

    reason: str
    message: str
    status: int


def identify(txid: str, tx: dict, typed: str, t: Translator) -> Refusal | None:
    """The login page's rules for an identifier typed in transaction ``tx`` (in state
    ``identify``): refused, or the proof started (the transaction then waits). The one place
    these rules live: the sandbox's scripted logins (``santeid.sandbox.logins``) type through
    here too."""
    try:
        national_id = parse_national_id(typed)
    except NationalIdError as exc:
        return Refusal("invalid_national_id", exc.message(t.locale), 400)
    professional = services().directory.get(national_id.value)
    if professional is None:
        observe.login_failed(tx["client_id"], "unknown_id", professional=national_id.value)
        return Refusal("unknown_id", t("unknown_professional", national_id=national_id.value), 400)
    if not professional.is_active:
        observe.login_failed(tx["client_id"], "inactive", professional=national_id.value)
        return Refusal("inactive", t("inactive_professional", national_id=national_id.value), 400)
    authenticator = authenticators.choose(professional)
    if authenticator is None:
        observe.login_failed(tx["client_id"], "no_authenticator", professional=national_id.value)
        message = t("no_authenticator", national_id=national_id.value)
        return Refusal("no_authenticator", message, 400)
    if _throttled(authenticator, professional):
        return Refusal("too_many_logins", t("too_many_logins"), 429)
    authenticator.start(txid, tx, professional)
    return None


@bp.route("/authenticate", methods=["GET", "POST"])
def authenticate():
    txid, tx, t, _ = load_transaction()
    tx = authenticators.advance(txid, tx)
    if tx["state"] == "waiting":
        return _render_wait(txid, tx, t)
    if tx["state"] == "failed":
        return _render_failed(txid, tx, t)
    if tx["state"] != "identify":
        return redirect(url_for("login.complete", tx=txid))
    if request.method == "GET":
        return _render_login(txid, tx, t)

    check_csrf()
    typed = request.form.get("national_id", "")
    refusal = identify(txid, tx, typed, t)
    if refusal is not None:
        return _render_login(txid, tx, t, error=refusal.message, value=typed, status=refusal.status)
    return redirect(url_for("login.authenticate", tx=txid), code=303)


@bp.route("/retry", methods=["POST"])
def retry():
    """Start a new proof after a failed one, with the same identifier."""
    txid, tx, _, _ = load_transaction()
    check_csrf()
    if tx["state"] == "failed" and tx.get("failure") not in FINAL_FAILURES:
        professional = services().directory.get(tx["national_id"])
        authenticator = authenticators.choose(professional) if professional else None
        if authenticator is None:
            services().transactions.move(txid, "failed", {"state": "identify", "failure": None})
        elif _throttled(authenticator, professional):
            t = Translator(tx["areq"].get("locale", "fr"))
            return _render_login(txid, tx, t, error=t("too_many_logins"), status=429)
        else:
            authenticator.start(txid, tx, professional)
    return redirect(url_for("login.authenticate", tx=txid), code=303)


@bp.route("/otp", methods=["GET", "POST"])
def otp():
    """e-CPS offline fallback ("Pas de réseau sur le téléphone ?"): the device's TOTP code
    (RFC 6238), checked by the e-CPS service (±1 step, single use, lock after failures)."""
    txid, tx, t, _ = load_transaction()
    ecps = services().ecps
    if not _offline_code_possible(tx):
        return redirect(url_for("login.authenticate", tx=txid))
    error = None
    if request.method == "POST":
        check_csrf()
        try:
            ecps.verify_totp(
                tx["national_id"],
                request.form.get("otp", "").strip(),
                origin=client_address(request.environ) or "",
            )
        except TotpError as exc:
            # A lock lasts ecps_totp_lock at most (its window), the day's lock far longer.
            error = t("otp_" + exc.code, minutes=ceil(services().settings.ecps.totp_lock / 60))
        else:
            approved = services().transactions.approve(
                txid,
                from_states=("waiting", "failed"),
                national_id=tx["national_id"],
                **proofs.proof_claims(proofs.ECPS_OFFLINE, services().settings),
            )
            if approved is not None and tx.get("ecps_request"):
                # The phone may still show the request: withdraw it.
                ecps.cancel_request(tx["ecps_request"])
            return redirect(url_for("login.complete", tx=txid))
    page = render_template("otp.html", t=t, txid=txid, service=tx["client_name"], error=error)
    return page, (400 if error else 200)


@bp.route("/status")
def status():
    """Polled by the waiting page (JSON): ``state`` — ``identify``, ``waiting``, ``approved``,
    ``failed`` or ``done``; while an e-CPS request waits, ``expires_in`` (seconds) and, after a
    wrong PIN on the phone, ``phone: "wrong_pin"`` with ``remaining_attempts``; once failed,
    ``reason`` (:func:`failure_reason`: what the page explains, to this browser only)."""
    txid, tx, _, refusal = _find_transaction()
    if refusal is not None:
        # JSON, as this endpoint's other answers (docs/endpoints.md); the page's script
        # reloads the page on any refusal, and the page explains.
        status, _, _, error, description = refusal
        abort(oauth_error(status, error, description))
    tx = authenticators.advance(txid, tx)
    body = {"state": tx["state"]}
    if tx["state"] == "failed":
        body["reason"] = failure_reason(tx)
    if tx["state"] == "waiting" and tx.get("authenticator") == "ecps":
        # The waiting page counts down and says when the phone reported a wrong PIN.
        body["expires_in"] = max(
            0, int(tx.get("request_expires_at") or 0) - int(services().clock())
        )
        remaining = services().ecps.requests.wrong_pin(tx["ecps_request"])
        if remaining is not None:
            body["phone"] = "wrong_pin"
            body["remaining_attempts"] = remaining
    response = jsonify(body)
    return no_store(response)


@bp.route("/complete")
def complete():
    txid, tx, t, answerable = load_transaction()
    tx = authenticators.advance(txid, tx)
    if tx["state"] != "approved":
        return redirect(url_for("login.authenticate", tx=txid))
    response = finish(txid, tx, answerable)
    if response is None:
        return error_page(t, t("expired_title"), t("expired_detail"), 400)
    return response


def finish(txid: str, tx: dict, answerable: Any, *, claimed: Callable[[], None] | None = None):
    """End the approved login ``tx``: the transaction is used up and the proof handed to the
    authorization side (``santeid.interaction``) with ``answerable``, what
    :func:`still_answerable` gave for it in this request; the side's response (the code sent
    to the client) is returned; ``None`` if another request ended it first. The sandbox's
    scripted logins (``santeid.sandbox.logins``) end here too: ``claimed`` is called once this
    request, and no other, ends the login (the transaction is ``done``), before the
    transaction is used up."""
    svc = services()
    if svc.transactions.move(txid, "approved", {"state": "done"}, current=tx) is None:
        return None
    if claimed is not None:
        claimed()
    svc.transactions.discard(txid)
    forget_restart(txid)
    proof = tx["auth"]
    observe.login_completed(tx["client_id"], proof["auth_mode"], professional=tx["national_id"])
    authentication = Authentication(
        national_id=tx["national_id"],
        auth_time=int(svc.clock()),
        acr=proof["acr"],
        auth_mode=proof["auth_mode"],
        amr=list(proof["amr"]),
    )
    return authorization().complete(tx["areq"], authentication, answerable)


@bp.route("/cancel", methods=["POST"])
def cancel():
    """The professional gives up: the client gets ``access_denied`` with no
    ``error_description``, as Keycloak sends its ``CANCELLED_BY_USER``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint") — also from a page left
    open past the transaction's lifetime, whose login this browser still remembers
    (:func:`santeid.login.transactions.login_to_restart`), and once another tab logged in:
    the SSO session does not answer a login the professional cancels."""
    txid, _, _, refusal = _find_transaction()
    expired = login_to_restart(txid) if refusal is _UNKNOWN_TX else None
    if expired is not None:
        check_csrf()
        client_id, areq, national_id = expired.client_id, expired.request, None
    else:
        txid, tx, _, _ = load_transaction(sso=False)
        check_csrf()
        services().transactions.discard(txid)
        client_id, areq, national_id = tx["client_id"], tx["areq"], tx.get("national_id")
        if tx.get("ecps_request") and services().ecps:
            services().ecps.cancel_request(tx["ecps_request"])
    forget_restart(txid)
    observe.login_failed(client_id, "cancelled", professional=national_id)
    return authorization().refuse(areq, "access_denied", None)

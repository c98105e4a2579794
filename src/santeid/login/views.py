"""Login pages under ``{issuer}/login-actions/`` (Keycloak's path for its login forms).

The professional types a national identifier; an authenticator then proves possession.
Until the e-CPS authenticator exists, the only one is the *sandbox authenticator*: in
sandbox mode, professionals flagged ``sandbox_auto_approve`` are approved after
``sandbox_approval_delay`` seconds while the page waits.
"""

from __future__ import annotations

import time

from flask import Blueprint
from flask import abort
from flask import jsonify
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from santeid.i18n import Translator
from santeid.oidc.authentication import Authentication
from santeid.oidc.authorize import AuthorizationRequest
from santeid.oidc.authorize import error_redirect
from santeid.oidc.authorize import issue_code
from santeid.oidc.logout import end_session
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.security import check_csrf
from santeid.services import services

bp = Blueprint("login", __name__)


def load_transaction():
    """``(txid, tx, translator)`` for the transaction named in ``tx``, checked to belong to
    this browser; aborts with an error page otherwise. Authenticators' views start here."""
    txid = request.args.get("tx")
    tx = services().transactions.get(txid)
    if tx is None:
        page = _error_page(Translator("fr"), "expired_title", "expired_detail", 400)
        abort(page)
    locale = tx["areq"].get("locale", "fr")
    if tx["bid"] != session.get("bid"):
        # Binding to the browser stops a login started elsewhere from being finished here
        # (login CSRF and session fixation).
        page = _error_page(Translator(locale), "error_title", "foreign_tx", 403)
        abort(page)
    return txid, tx, Translator(locale)


def _error_page(t, title_key: str, detail_key: str, status: int):
    body = render_template("error.html", t=t, title=t(title_key), detail=t(detail_key))
    return make_response(body, status)


def _render_login(
    txid: str, tx: dict, t, *, error: str | None = None, value: str | None = None, status=200
):
    areq = tx["areq"]
    return (
        render_template(
            "login.html",
            t=t,
            txid=txid,
            service=tx["client_name"],
            value=value if value is not None else (areq.get("login_hint") or ""),
            error=error,
        ),
        status,
    )


@bp.route("/authenticate", methods=["GET", "POST"])
def authenticate():
    txid, tx, t = load_transaction()
    if tx["state"] in ("waiting", "approved"):
        return _render_wait(txid, tx, t)
    if tx["state"] != "identify":
        return redirect(url_for("login.complete", tx=txid))
    if request.method == "GET":
        return _render_login(txid, tx, t)

    check_csrf()
    typed = request.form.get("national_id", "")
    try:
        national_id = parse_national_id(typed)
    except NationalIdError as exc:
        message = exc.message_en if t.locale == "en" else exc.message_fr
        return _render_login(txid, tx, t, error=message, value=typed, status=400)
    svc = services()
    professional = svc.directory.get(national_id.value)
    if professional is None:
        error = t("unknown_professional", national_id=national_id.value)
        return _render_login(txid, tx, t, error=error, value=typed, status=400)
    if not professional.is_active:
        error = t("inactive_professional", national_id=national_id.value)
        return _render_login(txid, tx, t, error=error, value=typed, status=400)
    if not (svc.settings.sandbox and professional.sandbox_auto_approve):
        error = t("no_authenticator", national_id=national_id.value)
        return _render_login(txid, tx, t, error=error, value=typed, status=400)

    approve_at = time.time() + svc.settings.sandbox_approval_delay
    changes = {
        "state": "waiting",
        "national_id": national_id.value,
        "approve_at": approve_at,
        "authenticator": "sandbox",
    }
    if svc.transactions.move(txid, "identify", changes) is None:
        return redirect(url_for("login.authenticate", tx=txid))
    return redirect(url_for("login.authenticate", tx=txid), code=303)


def _render_wait(txid: str, tx: dict, t):
    professional = services().directory.get(tx["national_id"])
    name = (
        f"{professional.given_name} {professional.family_name}"
        if professional
        else tx["national_id"]
    )
    return render_template("wait.html", t=t, txid=txid, service=tx["client_name"], name=name)


def _advance(txid: str, tx: dict) -> dict:
    """The sandbox authenticator: approve once the configured delay has passed."""
    if tx["state"] == "waiting" and tx.get("authenticator") == "sandbox":
        if time.time() >= tx["approve_at"]:
            moved = services().transactions.approve(
                txid,
                from_states=("waiting",),
                national_id=tx["national_id"],
                auth_mode="SANDBOX",
                acr=services().settings.default_acr,
                amr=["sandbox"],
            )
            return moved or services().transactions.get(txid) or tx
    return tx


@bp.route("/status")
def status():
    """Polled by the waiting page (JSON): ``identify``, ``waiting``, ``approved`` or ``done``."""
    txid, tx, _ = load_transaction()
    tx = _advance(txid, tx)
    response = jsonify(state=tx["state"])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/complete")
def complete():
    txid, tx, t = load_transaction()
    tx = _advance(txid, tx)
    if tx["state"] != "approved":
        return redirect(url_for("login.authenticate", tx=txid))
    svc = services()
    if svc.transactions.move(txid, "approved", {"state": "done"}) is None:
        page = _error_page(t, "expired_title", "expired_detail", 400)
        return page
    svc.transactions.discard(txid)
    proof = tx["auth"]
    authentication = Authentication(
        national_id=tx["national_id"],
        auth_time=int(time.time()),
        acr=proof["acr"],
        auth_mode=proof["auth_mode"],
        amr=list(proof["amr"]),
    )
    previous = session.get("sid")
    renewed = svc.sessions.renew(previous, authentication)
    if renewed is None:
        # Another professional takes over this browser: the previous one is logged out.
        end_session(previous)
        renewed = svc.sessions.open(authentication)
    session["sid"] = renewed.sid
    authentication = renewed
    return issue_code(AuthorizationRequest.from_dict(tx["areq"]), authentication)


@bp.route("/cancel", methods=["POST"])
def cancel():
    txid, tx, _ = load_transaction()
    check_csrf()
    services().transactions.discard(txid)
    areq = AuthorizationRequest.from_dict(tx["areq"])
    return error_redirect(areq, areq.state, "access_denied", "the professional cancelled the login")

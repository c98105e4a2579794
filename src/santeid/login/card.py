"""CPS-card login: ``GET {issuer}/login-actions/card?tx=…`` (endpoint ``login_card.card``).

The login page links here ("Se connecter avec une carte CPS"). The browser reaches this URL
over mutual TLS, presenting the card's authentication certificate
(docs/reference/pro-sante-connect.md §13: card +
PC/SC reader + the CPS middleware, which asks for the PIN); a TLS-terminating proxy may
present it on the browser's behalf (``santeid.tls``). The certificate is verified
(``santeid.cps.cards.verify_card_certificate``) and the login transaction approved with
``authMode`` ``CARD``, ``acr`` = ``card_acr`` (``eidas3`` as PSC,
docs/reference/pro-sante-connect.md §11) and ``amr``
``["sc", "pin", "hwk", "mfa"]`` (RFC 8176 §2), then the browser goes on to
``login.complete``. Any failure is a page saying what is wrong, in the transaction's
language, with a link back to the login page.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import url_for

from santeid.clock import utc_datetime
from santeid.cps.cards import CardError
from santeid.cps.cards import national_id_from_subject
from santeid.cps.cards import trusted_authorities
from santeid.cps.cards import trusted_authorities_file
from santeid.cps.cards import verify_card_certificate
from santeid.errors import lead_back_to_service
from santeid.login.views import load_transaction
from santeid.observability import record as observe
from santeid.pki import certificate_name
from santeid.pki import serial_hex
from santeid.psc import proofs
from santeid.services import services
from santeid.tls import client_certificate
from santeid.tls import parse_trusted_proxies

log = logging.getLogger(__name__)

bp = Blueprint("login_card", __name__)
# A step of a login a service started, as the login pages (santeid.login.views).
bp.before_request(lead_back_to_service)


@bp.route("/card")
def card():
    """Log in with the CPS card certificate presented on this connection."""
    txid, tx, t, _ = load_transaction()
    if tx["state"] == "approved":
        return redirect(url_for("login.complete", tx=txid))
    svc = services()
    settings = svc.settings
    certificate = client_certificate(settings)
    try:
        national_id = verify_card_certificate(
            certificate, settings, directory=svc.directory, now=utc_datetime(svc.clock)
        )
    except CardError as exc:
        serial = serial_hex(certificate) if certificate is not None else "-"
        log.info("card login refused: %s (certificate serial %s)", exc.code, serial)
        observe.card_login_failed(tx["client_id"], exc.code, professional=_named(certificate))
        page = render_template(
            "card_error.html",
            t=t,
            title=t("card_error_title"),
            detail=exc.message(t.locale),
            code=exc.code,
            back_url=url_for("login.authenticate", tx=txid),
            back_label=t("card_error_back"),
        )
        return page, exc.status
    approved = svc.transactions.approve(
        txid,
        from_states=("identify", "waiting", "failed"),
        national_id=national_id,
        **proofs.proof_claims(proofs.CARD, settings),
    )
    if approved is None:
        # Finished or cancelled meanwhile (another tab): the login page knows what to show.
        return redirect(url_for("login.authenticate", tx=txid))
    if tx.get("ecps_request"):
        # An e-CPS request may still be shown on the phone: withdraw it.
        svc.ecps.cancel_request(tx["ecps_request"])
    log.info("card login: %s (certificate serial %s)", national_id, serial_hex(certificate))
    return redirect(url_for("login.complete", tx=txid))


def _named(certificate) -> str | None:
    """The national identifier a refused card names, if it names one (for the event)."""
    if certificate is None:
        return None
    try:
        return national_id_from_subject(certificate_name(certificate, "subject"))
    except CardError:
        return None


def init_app(app, url_prefix: str) -> None:
    """Mount the card route under ``url_prefix`` (the login pages' prefix) and check the
    TLS-related settings now rather than at the first card login."""
    settings = app.extensions["santeid"].settings
    parse_trusted_proxies(settings.http.trusted_proxies)  # ConfigurationError if malformed
    trusted_authorities(settings)  # ConfigurationError if cps_ca_file is unusable
    if settings.http.tls_client_cert_header and not settings.http.trusted_proxies:
        log.warning(
            "tls_client_cert_header is set but trusted_proxies is empty: the header will be "
            "ignored from every address"
        )
    if not settings.cps.ca_file and not settings.sandbox.enabled:
        log.warning(
            "cps_ca_file is empty: every card login is refused (untrusted_issuer); set it to "
            "the IGC-Santé authorities that issue cards (the test CPS authority is trusted in "
            "sandbox mode only)"
        )
    elif trusted_authorities_file(settings) is None:
        log.info("no test CPS authority created yet (santeid cps issue-card): card logins fail")
    app.register_blueprint(bp, url_prefix=url_prefix)

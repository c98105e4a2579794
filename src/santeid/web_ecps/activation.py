"""Self-service e-CPS activation with the correspondence data of the directory
(docs/reference/pro-sante-connect.md §13).

The arrêté du 4 avril 2022 allows activating an e-CPS "en saisissant deux codes de
validation … envoyés respectivement au téléphone et à l'adresse e-mail enregistrés dans
l'annuaire". The pages:

1. ``GET/POST /ecps/activation`` — the professional types the national identifier. If the
   directory holds an active professional with both a correspondence e-mail and phone, two
   independent 6-digit codes are drawn (``secrets``) and sent, one per channel.
2. ``GET/POST /ecps/activation/verify?flow=…`` — both codes typed → the e-CPS core starts an
   activation → a redirect (303) to
3. ``GET /ecps/activation/qr`` — the activation code, its URI and the QR code (valid
   ``ecps_activation_code_lifetime`` seconds, 90 s at PSC) that the e-CPS application scans.

The rules of both steps are :func:`send_codes` and :func:`redeem_codes`, which raise
:class:`ActivationRefused`; the pages and the sandbox control API (``POST
/sandbox/api/activations``, docs/sandbox.md) are views over them.

Security choices (those of the codes, their digests, attempts and send limits, are in
:mod:`santeid.ecps.code_pairs`):

* The flow is bound to the browser that started it (its id, ``santeid.security.browser_id``,
  as login transactions are), so a flow id seen elsewhere is useless. The control API's flows
  are bound to a browser of its own (``santeid.sandbox.logins.SCRIPTED_BROWSER``): no page
  takes them, and the API takes no page's flow.
* The QR page is the answer to a GET (Post/Redirect/Get): reloading it shows the same
  activation code rather than submitting the used codes again. The code it shows is kept in
  the signed session cookie of the browser that typed the codes — no URL names it — and
  shown while a phone may redeem it (issued, unexpired, unused).
* Whether an identifier exists in the directory is said plainly, as the PSC login and
  activation pages do (docs/reference/pro-sante-connect.md §13 lists "vous n'apparaissez pas … sur
  l'Annuaire Santé"
  among the error causes): the santeid login page says so already, so hiding it here would
  protect nothing. The contact data itself is only ever shown masked.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import shlex
import xml.etree.ElementTree as ET  # noqa: S405 - builds our own SVG, parses nothing
from collections.abc import Callable
from dataclasses import dataclass

import qrcode
import qrcode.constants
import qrcode.image.pure
import qrcode.image.svg
from flask import current_app
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from markupsafe import Markup

from santeid import rate_limits
from santeid.ecps.code_pairs import CODE_DIGITS
from santeid.ecps.code_pairs import CODE_LIFETIME
from santeid.ecps.code_pairs import CodePairs
from santeid.ecps.service import Activation
from santeid.errors import error_page
from santeid.i18n import Translator
from santeid.messaging import DeliveryError
from santeid.messaging import Message
from santeid.messaging import mask_email
from santeid.messaging import mask_phone
from santeid.proxies import client_address
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.security import browser_id
from santeid.security import check_csrf
from santeid.security import is_this_browser
from santeid.services import services
from santeid.web_ecps.common import bp
from santeid.web_ecps.common import ecps_service
from santeid.web_ecps.common import locale_args
from santeid.web_ecps.common import page
from santeid.web_ecps.common import senders
from santeid.web_ecps.common import translator

log = logging.getLogger(__name__)

_CODE_RE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
#: The session member holding the activation code this browser verified, for its QR page.
QR_SESSION_KEY = "ecps_activation"


# -- the pair of codes ------------------------------------------------------------------------


def code_pairs() -> CodePairs:
    secret = str(current_app.secret_key).encode()
    return CodePairs(services().store, secret, clock=services().clock)


# -- QR code ------------------------------------------------------------------------------------


def qr_images(data: str, label: str) -> tuple[str, int, Markup]:
    """The QR code of ``data`` as a PNG ``data:`` URI (and its side in pixels, so the page
    shows it unscaled) and as inline SVG (``role="img"``, ``aria-label``). Error correction
    M (15 %), 4-module quiet zone (ISO/IEC 18004)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    png = io.BytesIO()
    qr.make_image(image_factory=qrcode.image.pure.PyPNGImage).save(png)
    png_uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    png_size = (qr.modules_count + 2 * qr.border) * qr.box_size
    # Path with a white background: scannable on dark themes too.
    svg = qr.make_image(image_factory=qrcode.image.svg.SvgPathFillImage).get_image()
    svg.set("width", "240")
    svg.set("height", "240")
    svg.set("role", "img")
    svg.set("aria-label", label)  # ElementTree escapes it
    svg.set("class", "qr")
    # Our own element tree, serialised by ElementTree: safe to insert as markup.
    return png_uri, png_size, Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704


# -- the rules of both steps ----------------------------------------------------------------


class ActivationRefused(Exception):
    """A step of self-service activation refused. ``code`` names the refusal (the control
    API's problem code, ``santeid.problems``); ``message(t)`` says why in ``t``'s language;
    ``remaining``: attempts left after wrong codes; ``fields``: the malformed codes;
    ``retry_after``: seconds before a sending refused by a limit may be asked again."""

    def __init__(
        self,
        code: str,
        message: Callable[[Translator], str],
        *,
        remaining: int | None = None,
        fields: tuple[str, ...] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code)
        self.code, self.message, self.remaining, self.fields = code, message, remaining, fields
        self.retry_after = retry_after


def _refused(code: str, key: str, **params) -> ActivationRefused:
    """A refusal whose message is the page's text ``key`` (``remaining`` is kept too)."""
    return ActivationRefused(code, lambda t: t(key, **params), remaining=params.get("remaining"))


@dataclass(frozen=True)
class CodesSent:
    """Step 1 done: the pair ``flow`` waits for its two codes (valid
    :data:`~santeid.ecps.code_pairs.CODE_LIFETIME` seconds), sent to the masked
    destinations."""

    flow: str
    national_id: str
    email_masked: str
    phone_masked: str


def send_codes(typed: str, t: Translator, *, bid: str, address: str) -> CodesSent:
    """Step 1: the identifier ``typed`` → two codes drawn and sent (the messages in ``t``'s
    language) for a pair bound to browser ``bid``; ``address`` is the requester's, for the
    send limits.

    :raises ActivationRefused: ``invalid_national_id``, ``unknown_professional``,
        ``professional_inactive``, ``no_contact_details``, ``temporarily_unavailable`` (not
        configured, or the sending failed: nothing is left behind), ``too_many_code_sends``."""
    try:
        national_id = parse_national_id(typed).value
    except NationalIdError as exc:
        error = exc  # ``exc`` is unbound after the except clause
        raise ActivationRefused("invalid_national_id", lambda t: error.message(t.locale)) from None
    professional = services().directory.get(national_id)
    if professional is None:
        raise _refused("unknown_professional", "unknown_professional", national_id=national_id)
    if not professional.is_active:
        raise _refused(
            "professional_inactive", "ecps_inactive_professional", national_id=national_id
        )
    has_email = bool(professional.correspondence_email.strip())
    has_phone = bool(professional.correspondence_phone.strip())
    if not (has_email and has_phone):
        # Naming what is missing tells the professional what to have updated in the
        # directory (RPPS: the Ordre; ADELI: the ARS) or to use the CPS card instead.
        if not has_email and not has_phone:
            key = "ecps_missing_contact"
        else:
            key = "ecps_missing_email" if not has_email else "ecps_missing_phone"
        raise _refused("no_contact_details", key, national_id=national_id)

    unconfigured = senders().missing()
    if unconfigured:
        log.error("e-CPS activation codes cannot be sent: %s", "; ".join(unconfigured))
        raise _refused("temporarily_unavailable", "ecps_messages_unconfigured")
    pairs = code_pairs()
    beyond = pairs.throttled(national_id, address, services().settings)
    if beyond is not None:
        # Said as it is: a requester refused for the address never sent this professional
        # anything, and asking from elsewhere (or later) may work.
        per_address = beyond.rule is rate_limits.ECPS_ACTIVATION_ADDRESS
        key = "ecps_too_many_sends_address" if per_address else "ecps_too_many_sends"
        # The wait the window has left, said in whole minutes (the setting may be any window).
        seconds = beyond.retry_after(pairs.store, address if per_address else national_id)
        minutes = -(-seconds // 60)
        raise ActivationRefused(
            "too_many_code_sends", lambda t: t(key, minutes=minutes), retry_after=seconds
        )

    email_masked = mask_email(professional.correspondence_email)
    phone_masked = mask_phone(professional.correspondence_phone)
    flow, email_code, sms_code = pairs.create(
        national_id,
        bid=bid,
        locale=t.locale,
        email_masked=email_masked,
        phone_masked=phone_masked,
    )
    try:
        for message in _messages(t, professional, email_code, sms_code, flow):
            senders().send(message)
    except DeliveryError as exc:
        # Both codes are needed: without one of them the pair is useless.
        pairs.discard(flow)
        log.error("e-CPS activation codes for %s not sent: %s", national_id, exc)
        raise _refused("temporarily_unavailable", "ecps_messages_failed") from None
    log.info("e-CPS activation codes sent for %s", national_id)
    return CodesSent(flow, national_id, email_masked, phone_masked)


def redeem_codes(flow: str, email_code: str, sms_code: str) -> Activation:
    """Step 2: both codes of pair ``flow`` (whose browser the caller has checked) → the
    e-CPS core starts an activation (docs/reference/pro-sante-connect.md §13). Spaces in a
    code are ignored.

    :raises ActivationRefused: ``invalid_request`` (a code not 6 digits, named in
        ``fields``: no attempt spent), ``wrong_activation_codes`` (``remaining``),
        ``activation_codes_locked`` (the attempt that cancelled the pair),
        ``unknown_activation`` (expired, used or cancelled), ``professional_inactive`` (left
        the directory or inactive since)."""
    email_code = re.sub(r"\s", "", email_code)
    sms_code = re.sub(r"\s", "", sms_code)
    malformed = [
        name
        for name, value in (("email_code", email_code), ("sms_code", sms_code))
        if not _CODE_RE.match(value)
    ]
    if malformed:
        # A malformed entry cannot be right: it costs no attempt.
        raise ActivationRefused(
            "invalid_request",
            lambda t: f"{', '.join(malformed)}: {t('ecps_code_format')}",
            fields=tuple(malformed),
        )
    pairs = code_pairs()
    pair = pairs.get(flow)
    if pair is None:
        raise _refused("unknown_activation", "ecps_codes_expired")
    result = pairs.verify(flow, email_code, sms_code)
    if result.outcome == "expired":
        raise _refused("unknown_activation", "ecps_codes_expired")
    if result.outcome == "locked":
        log.warning("e-CPS activation codes for %s: too many wrong attempts", pair["national_id"])
        raise _refused("activation_codes_locked", "ecps_codes_locked")
    if result.outcome == "wrong":
        raise _refused("wrong_activation_codes", "ecps_codes_wrong", remaining=result.remaining)
    national_id = pair["national_id"]
    ecps = ecps_service()
    try:
        activation_ = ecps.start_activation(national_id)
    except ecps.ActivationError:
        raise _refused(
            "professional_inactive", "ecps_inactive_professional", national_id=national_id
        ) from None
    log.info("e-CPS activation started for %s (self-service, two codes)", national_id)
    return activation_


# -- views --------------------------------------------------------------------------------------


def _render_form(t: Translator, *, error: str | None = None, value: str = "", status: int = 200):
    return page("ecps/activation.html", t, status, error=error, value=value)


def _render_codes(t: Translator, flow: str, record: dict, *, errors=None, status: int = 200):
    return page(
        "ecps/activation_codes.html",
        t,
        status,
        flow=flow,
        email=record["email_masked"],
        phone=record["phone_masked"],
        errors=errors or {},
        minutes=CODE_LIFETIME // 60,
    )


def _messages(
    t: Translator, professional, email_code: str, sms_code: str, flow: str
) -> list[Message]:
    """The two messages of activation ``flow`` (the sandbox outbox keeps it with each)."""
    minutes = CODE_LIFETIME // 60
    return [
        Message(
            channel="email",
            to=professional.correspondence_email,
            subject=t("ecps_email_subject"),
            body=t("ecps_email_body", code=email_code, minutes=minutes),
            national_id=professional.national_id,
            code=email_code,
            activation_id=flow,
        ),
        Message(
            channel="sms",
            to=professional.correspondence_phone,
            subject="",
            body=t("ecps_sms_body", code=sms_code, minutes=minutes),
            national_id=professional.national_id,
            code=sms_code,
            activation_id=flow,
        ),
    ]


@bp.route("/ecps/activation", methods=["GET", "POST"])
def activation():
    """Step 1: the national identifier, then the two codes are sent."""
    t = translator()
    if request.method == "GET":
        return _render_form(t, value=request.args.get("national_id", "")[:64])

    check_csrf()
    typed = request.form.get("national_id", "")
    try:
        sent = send_codes(typed, t, bid=browser_id(), address=client_address(request.environ) or "")
    except ActivationRefused as refusal:
        if refusal.code == "temporarily_unavailable":
            return error_page(t, t("ecps_activation_title"), refusal.message(t), 503)
        status = 429 if refusal.code == "too_many_code_sends" else 400
        page = _render_form(t, error=refusal.message(t), value=typed, status=status)
        if refusal.retry_after is not None:
            page.headers["Retry-After"] = str(refusal.retry_after)
        return page
    # Post/Redirect/Get: reloading the next page must not send new codes.
    return redirect(url_for("web_ecps.verify", flow=sent.flow, **locale_args(t)), code=303)


@bp.route("/ecps/activation/verify", methods=["GET", "POST"])
def verify():
    """Step 2: both codes → an activation code and its QR code (docs/reference/pro-sante-connect.md
    §13)."""
    t = translator()
    flow = request.values.get("flow", "")
    record = code_pairs().get(flow)
    if record is None:
        return _render_form(t, error=t("ecps_codes_expired"), status=400)
    if not is_this_browser(record["bid"]):
        # Same rule as login transactions: a flow started in another browser stays there.
        return error_page(t, t("error_title"), t("ecps_foreign_flow"), 403)
    if "ui_locales" not in request.values:
        # A link without the language (e.g. typed again): keep the one of step 1.
        t = Translator(record.get("locale", "fr"))
    if request.method == "GET":
        return _render_codes(t, flow, record)

    check_csrf()
    try:
        activation_ = redeem_codes(
            flow, request.form.get("email_code", ""), request.form.get("sms_code", "")
        )
    except ActivationRefused as refusal:
        if refusal.code == "invalid_request":
            errors = {name: t("ecps_code_format") for name in refusal.fields}
            return _render_codes(t, flow, record, errors=errors, status=400)
        if refusal.code == "wrong_activation_codes":
            errors = {"codes": refusal.message(t)}
            return _render_codes(t, flow, record, errors=errors, status=400)
        return _render_form(t, error=refusal.message(t), status=400)
    # Post/Redirect/Get: the codes served once; a reload of the QR page is a GET that shows
    # the same activation code again (:func:`qr`), never a second submission of used codes.
    session[QR_SESSION_KEY] = activation_.code
    return redirect(url_for("web_ecps.qr", **locale_args(t)), code=303)


@bp.get("/ecps/activation/qr")
def qr():
    """The QR code of the activation this browser verified (its code in the signed session
    cookie), for as long as a phone may redeem it; after that, or in another browser, the
    first page again, saying the QR code has expired."""
    t = translator()
    activation_ = ecps_service().issued_activation(session.get(QR_SESSION_KEY))
    if activation_ is None:
        session.pop(QR_SESSION_KEY, None)
        return _render_form(t, error=t("ecps_qr_expired"), status=400)
    return _render_qr(t, activation_.national_id, activation_)


def _render_qr(t: Translator, national_id: str, activation_):
    # The app link: the phone's camera opens the e-CPS app, the code stays in the fragment.
    png_uri, png_size, svg = qr_images(activation_.app_link, t("ecps_qr_alt"))
    remaining = max(0, int(activation_.expires_at - services().clock()))
    professional = services().directory.get(national_id)
    name = f"{professional.given_name} {professional.family_name}" if professional else ""
    return page(
        "ecps/activation_qr.html",
        t,
        name=name,
        national_id=national_id,
        code=activation_.code,
        uri=activation_.app_link,
        png_uri=png_uri,
        png_size=png_size,
        svg=svg,
        remaining=remaining,
        command=(
            f"santeid device enroll --activation-uri {shlex.quote(activation_.app_link)} --pin PIN"
        ),
    )

"""Self-service e-CPS activation with the correspondence data of the directory
(docs/reference/pro-sante-connect.md §13).

The arrêté du 4 avril 2022 allows activating an e-CPS "en saisissant deux codes de
validation … envoyés respectivement au téléphone et à l'adresse e-mail enregistrés dans
l'annuaire". The pages:

1. ``GET/POST /ecps/activation`` — the professional types the national identifier. If the
   directory holds an active professional with both a correspondence e-mail and phone, two
   independent 6-digit codes are drawn (``secrets``) and sent, one per channel.
2. ``GET/POST /ecps/activation/verify?flow=…`` — both codes typed → the e-CPS core starts an
   activation → the page shows the activation code, its URI and the QR code (valid
   ``ecps_activation_code_lifetime`` seconds, 90 s at PSC) that the e-CPS application scans.

Security choices (those of the codes, their digests, attempts and send limits, are in
:mod:`santeid.ecps.code_pairs`):

* The flow is bound to the browser that started it (``bid`` in the signed session cookie,
  as login transactions are), so a flow id seen elsewhere is useless.
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

import qrcode
import qrcode.constants
import qrcode.image.pure
import qrcode.image.svg
from flask import current_app
from flask import redirect
from flask import request
from flask import url_for
from markupsafe import Markup

from santeid.ecps.code_pairs import CODE_DIGITS
from santeid.ecps.code_pairs import CODE_LIFETIME
from santeid.ecps.code_pairs import CodePairs
from santeid.errors import error_page
from santeid.i18n import Translator
from santeid.messaging import DeliveryError
from santeid.messaging import Message
from santeid.oidc.authorize import browser_id
from santeid.proxies import client_address
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id
from santeid.security import check_csrf
from santeid.services import services
from santeid.web_ecps.common import bp
from santeid.web_ecps.common import ecps_service
from santeid.web_ecps.common import locale_args
from santeid.web_ecps.common import page
from santeid.web_ecps.common import senders
from santeid.web_ecps.common import translator

log = logging.getLogger(__name__)

_CODE_RE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")


# -- masking --------------------------------------------------------------------------------


def mask_email(address: str) -> str:
    """``helene.fauvel@example.org`` → ``h***@example.org``: enough to recognise one's own
    address, not enough to learn someone else's."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    """``0639980012`` → ``06 •• •• •• 12``; international numbers keep their prefix and
    the last two digits."""
    raw = number.strip()
    digits = re.sub(r"[^0-9]", "", raw)
    if len(digits) == 10 and digits.startswith("0"):
        return f"{digits[:2]} •• •• •• {digits[-2:]}"
    if len(digits) < 4:
        return "••"
    prefix = "+" if raw.startswith("+") else ""
    return f"{prefix}{digits[:2]} {'•' * (len(digits) - 4)} {digits[-2:]}"


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


def _messages(t: Translator, professional, email_code: str, sms_code: str) -> list[Message]:
    minutes = CODE_LIFETIME // 60
    return [
        Message(
            channel="email",
            to=professional.correspondence_email,
            subject=t("ecps_email_subject"),
            body=t("ecps_email_body", code=email_code, minutes=minutes),
            national_id=professional.national_id,
            code=email_code,
        ),
        Message(
            channel="sms",
            to=professional.correspondence_phone,
            subject="",
            body=t("ecps_sms_body", code=sms_code, minutes=minutes),
            national_id=professional.national_id,
            code=sms_code,
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
        national_id = parse_national_id(typed).value
    except NationalIdError as exc:
        return _render_form(t, error=exc.message(t.locale), value=typed, status=400)
    professional = services().directory.get(national_id)
    if professional is None:
        error = t("unknown_professional", national_id=national_id)
        return _render_form(t, error=error, value=typed, status=400)
    if not professional.is_active:
        error = t("ecps_inactive_professional", national_id=national_id)
        return _render_form(t, error=error, value=typed, status=400)
    has_email = bool(professional.correspondence_email.strip())
    has_phone = bool(professional.correspondence_phone.strip())
    if not (has_email and has_phone):
        # Naming what is missing tells the professional what to have updated in the
        # directory (RPPS: the Ordre; ADELI: the ARS) or to use the CPS card instead.
        if not has_email and not has_phone:
            key = "ecps_missing_contact"
        else:
            key = "ecps_missing_email" if not has_email else "ecps_missing_phone"
        return _render_form(t, error=t(key, national_id=national_id), value=typed, status=400)

    unconfigured = senders().missing()
    if unconfigured:
        log.error("e-CPS activation codes cannot be sent: %s", "; ".join(unconfigured))
        return error_page(t, t("ecps_activation_title"), t("ecps_messages_unconfigured"), 503)
    pairs = code_pairs()
    if pairs.throttled(national_id, client_address(request.environ) or "", services().settings):
        return _render_form(t, error=t("ecps_too_many_sends"), value=typed, status=429)

    flow, email_code, sms_code = pairs.create(
        national_id,
        bid=browser_id(),
        locale=t.locale,
        email_masked=mask_email(professional.correspondence_email),
        phone_masked=mask_phone(professional.correspondence_phone),
    )
    try:
        for message in _messages(t, professional, email_code, sms_code):
            senders().send(message)
    except DeliveryError as exc:
        # Both codes are needed: without one of them the pair is useless.
        pairs.discard(flow)
        log.error("e-CPS activation codes for %s not sent: %s", national_id, exc)
        return error_page(t, t("ecps_activation_title"), t("ecps_messages_failed"), 503)
    log.info("e-CPS activation codes sent for %s", national_id)
    # Post/Redirect/Get: reloading the next page must not send new codes.
    return redirect(url_for("web_ecps.verify", flow=flow, **locale_args(t)), code=303)


@bp.route("/ecps/activation/verify", methods=["GET", "POST"])
def verify():
    """Step 2: both codes → an activation code and its QR code (docs/reference/pro-sante-connect.md
    §13)."""
    t = translator()
    ecps = ecps_service()
    flow = request.values.get("flow", "")
    pairs = code_pairs()
    record = pairs.get(flow)
    if record is None:
        return _render_form(t, error=t("ecps_codes_expired"), status=400)
    if record["bid"] != browser_id():
        # Same rule as login transactions: a flow started in another browser stays there.
        return error_page(t, t("error_title"), t("ecps_foreign_flow"), 403)
    if "ui_locales" not in request.values:
        # A link without the language (e.g. typed again): keep the one of step 1.
        t = Translator(record.get("locale", "fr"))
    if request.method == "GET":
        return _render_codes(t, flow, record)

    check_csrf()
    email_code = re.sub(r"\s", "", request.form.get("email_code", ""))
    sms_code = re.sub(r"\s", "", request.form.get("sms_code", ""))
    errors = {
        name: t("ecps_code_format")
        for name, value in (("email_code", email_code), ("sms_code", sms_code))
        if not _CODE_RE.match(value)
    }
    if errors:
        # A malformed entry cannot be right: it costs no attempt.
        return _render_codes(t, flow, record, errors=errors, status=400)

    result = pairs.verify(flow, email_code, sms_code)
    if result.outcome == "expired":
        return _render_form(t, error=t("ecps_codes_expired"), status=400)
    if result.outcome == "locked":
        log.warning("e-CPS activation codes for %s: too many wrong attempts", record["national_id"])
        return _render_form(t, error=t("ecps_codes_locked"), status=400)
    if result.outcome == "wrong":
        message = t("ecps_codes_wrong", remaining=result.remaining)
        return _render_codes(t, flow, record, errors={"codes": message}, status=400)

    national_id = result.record["national_id"]
    try:
        activation_ = ecps.start_activation(national_id)
    except ecps.ActivationError:
        # Left the directory or became inactive since the codes were sent.
        error = t("ecps_inactive_professional", national_id=national_id)
        return _render_form(t, error=error, status=400)
    log.info("e-CPS activation started for %s (self-service, two codes)", national_id)
    return _render_qr(t, national_id, activation_)


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

"""What the e-CPS self-service pages share: the blueprint, the page language, the e-CPS
service and the message senders."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import make_response
from flask import render_template
from flask import request

from santeid import error_formats
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.messaging import Senders
from santeid.services import services

if TYPE_CHECKING:
    from santeid.ecps.service import EcpsService

#: Endpoints are ``web_ecps.<view>``; the login pages link to ``web_ecps.activation``.
bp = Blueprint("web_ecps", __name__)
# Pages, except the sandbox outbox's JSON view.
error_formats.declare(bp, error_formats.JSON_OAUTH, endpoints=["web_ecps.outbox_json"])


def translator() -> Translator:
    """French by default, English with ``ui_locales=en`` (query string or form field), the
    same rule as the login page (OIDC Core §3.1.2.1)."""
    return Translator(pick_locale(request.values.get("ui_locales")))


def locale_args(t: Translator) -> dict[str, Any]:
    """Query parameters that keep the page language across links and redirects."""
    return {"ui_locales": t.locale} if t.locale != "fr" else {}


def senders() -> Senders:
    return services().senders


def page(template: str, t: Translator, status: int = 200, **context: Any):
    """A page of this blueprint; every template gets ``t`` and ``lang`` (the query to keep)."""
    body = render_template(template, t=t, lang=locale_args(t), **context)
    return make_response(body, status)


def ecps_service() -> EcpsService:
    """The e-CPS core (``santeid.ecps``)."""
    return services().ecps

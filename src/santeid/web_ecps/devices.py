"""``/ecps/devices``: the logged-in professional's e-CPS devices, with a revoke button.

The page is a relying party of santeid itself: without an SSO session it sends the browser
through the authorization endpoint (OIDC Core §3.1.2) as the internal client
``santeid-account``, registered at start-up. Only the SSO session that the login opens
matters here, so the authorization code that comes back is not redeemed (it expires
unused after ``authorization_code_lifetime``); the ``state`` is checked against the value
kept in the signed session cookie (RFC 6749 §10.12, CSRF on the redirect URI).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import flash
from flask import get_flashed_messages
from flask import redirect
from flask import request
from flask import session
from flask import url_for

from santeid.errors import error_page
from santeid.errors import lead_back_to_own_page
from santeid.i18n import Translator
from santeid.oidc import client_auth
from santeid.oidc import clients
from santeid.oidc import grant_types
from santeid.oidc.authorize import current_sso
from santeid.security import check_csrf
from santeid.services import services
from santeid.web_ecps.common import bp
from santeid.web_ecps.common import ecps_service
from santeid.web_ecps.common import locale_args
from santeid.web_ecps.common import page
from santeid.web_ecps.common import translator

log = logging.getLogger(__name__)

#: The internal relying party through which the devices page logs professionals in.
ACCOUNT_CLIENT_ID = clients.ACCOUNT_CLIENT_ID
#: Session-cookie entry holding the ``state`` of the login in progress and the page language.
_STATE_KEY = "ecps_account_login"


#: The redirect URI ``santeid-account`` registers: a path, resolved against each server's
#: issuer origin (``santeid.oidc.clients``), so that every server of one data folder keeps it.
DEVICES_PATH = "/ecps/devices"


def devices_url(settings) -> str:
    """``<issuer origin>/ecps/devices``: the redirect URI of ``santeid-account``."""
    parts = urlsplit(settings.issuer)
    return f"{parts.scheme}://{parts.netloc}{DEVICES_PATH}"


def register_account_client(svc) -> None:
    """Register ``santeid-account`` if it is missing or registered otherwise (another
    server's absolute URI, or only one of the two forms). Its redirect URIs are the path
    and this server's absolute URI (:func:`santeid.oidc.clients.internal_uris`: the previous
    release compares the absolute one). Its secret is random and never used (the code is not
    redeemed): it only satisfies the client rules."""
    redirect_uris = clients.internal_uris(DEVICES_PATH, svc.clients.origin)
    existing = svc.clients.get(ACCOUNT_CLIENT_ID)
    if existing is not None and existing.metadata.get("redirect_uris") == redirect_uris:
        return
    svc.clients.add(
        {
            "client_id": ACCOUNT_CLIENT_ID,
            "client_name": "Mes e-CPS (santeid)",
            "client_secret": secrets.token_urlsafe(32),
            "redirect_uris": redirect_uris,
            "grant_types": [grant_types.AUTHORIZATION_CODE],
            "response_types": ["code"],
            "token_endpoint_auth_method": client_auth.CLIENT_SECRET_BASIC,
            "scope": "openid",
        },
        replace=True,
    )


def _format_time(epoch: float | None, t: Translator) -> str:
    if not epoch:
        return t("ecps_device_never")
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _start_login(t: Translator):
    """Send the browser to the authorization endpoint; it comes back to this page."""
    settings = services().settings
    state = secrets.token_urlsafe(24)
    session[_STATE_KEY] = {"state": state, "locale": t.locale}
    params = {
        "response_type": "code",
        "client_id": ACCOUNT_CLIENT_ID,
        "redirect_uri": devices_url(settings),
        "scope": "openid",
        "state": state,
        **locale_args(t),
    }
    # The issuer's own endpoint (not a separately advertised "wallet" host): the SSO
    # session cookie must be set on the host that serves this page.
    return redirect(f"{settings.oidc_base}/auth?{urlencode(params)}", code=302)


def _back_from_login():
    """The authorization endpoint's answer (``code`` or ``error``, with ``state``)."""
    expected = session.pop(_STATE_KEY, None) or {}
    t = Translator(expected.get("locale", "fr"))
    given = request.args.get("state", "")
    if not expected.get("state") or not hmac.compare_digest(
        expected["state"].encode(), given.encode()
    ):
        return error_page(t, t("error_title"), t("ecps_login_state"), 400)
    if request.args.get("error") or current_sso() is None:
        # Cancelled on the login page, or no session came out of it: no loop, a link.
        return page("ecps/devices.html", t, 401, devices=None, login_failed=True)
    # Drop code and state from the address bar and the history.
    return redirect(url_for("web_ecps.devices", **locale_args(t)), code=303)


@bp.route("/ecps/devices")
def devices():
    if "state" in request.args or "code" in request.args or "error" in request.args:
        return _back_from_login()
    t = translator()
    ecps = ecps_service()
    authentication = current_sso()
    if authentication is None:
        return _start_login(t)
    professional = services().directory.get(authentication.national_id)
    rows = [
        {
            "id": device.device_id,
            "name": device.name or t("ecps_device_unnamed"),
            "status": device.status,
            "status_label": t(f"ecps_status_{device.status}"),
            "created": _format_time(device.created_at, t),
            "last_used": _format_time(device.last_used_at, t),
            "revocable": device.status != "revoked",
        }
        for device in ecps.devices.list_for(authentication.national_id)
    ]
    return page(
        "ecps/devices.html",
        t,
        devices=rows,
        login_failed=False,
        national_id=authentication.national_id,
        name=f"{professional.given_name} {professional.family_name}" if professional else "",
        notices=get_flashed_messages(),
    )


def _own_device(ecps, t: Translator, national_id: str, device_id: str):
    """``(device, None)`` for one of the professional's own devices, else ``(None, error
    page)``: 403 for another professional's, 404 for an unknown one."""
    own = {d.device_id: d for d in ecps.devices.list_for(national_id)}
    device = own.get(device_id)
    if device is not None:
        return device, None
    # The page's way back is the devices list the professional came from, not a service.
    lead_back_to_own_page(url_for("web_ecps.devices", **locale_args(t)))
    if ecps.devices.get(device_id) is not None:
        log.warning(
            "%s tried to revoke e-CPS device %s of another professional", national_id, device_id
        )
        return None, error_page(t, t("error_title"), t("ecps_device_forbidden"), 403)
    return None, error_page(t, t("error_title"), t("ecps_device_unknown"), 404)


@bp.route("/ecps/devices/<device_id>/revoke", methods=["GET"])
def confirm_revoke(device_id: str):
    """Revoking cannot be undone (a new activation is needed): the list links here, a page
    that names the device and asks for confirmation (it works without JavaScript)."""
    t = translator()
    ecps = ecps_service()
    authentication = current_sso()
    if authentication is None:
        return redirect(url_for("web_ecps.devices", **locale_args(t)), code=303)
    device, refused = _own_device(ecps, t, authentication.national_id, device_id)
    if refused is not None:
        return refused
    if device.status == "revoked":
        return redirect(url_for("web_ecps.devices", **locale_args(t)), code=303)
    return page(
        "ecps/revoke_confirm.html",
        t,
        device_id=device.device_id,
        name=device.name or t("ecps_device_unnamed"),
    )


@bp.route("/ecps/devices/<device_id>/revoke", methods=["POST"])
def revoke(device_id: str):
    """Revoke one of the logged-in professional's own devices (403 for anyone else's)."""
    t = translator()
    ecps = ecps_service()
    check_csrf()
    authentication = current_sso()
    if authentication is None:
        return redirect(url_for("web_ecps.devices", **locale_args(t)), code=303)
    device, refused = _own_device(ecps, t, authentication.national_id, device_id)
    if refused is not None:
        return refused
    name = device.name or t("ecps_device_unnamed")
    if ecps.revoke_device(device_id):
        log.info(
            "e-CPS device %s revoked by its professional %s", device_id, authentication.national_id
        )
        flash(t("ecps_device_revoked", name=name))
    else:
        flash(t("ecps_device_already_revoked", name=name))
    return redirect(url_for("web_ecps.devices", **locale_args(t)), code=303)

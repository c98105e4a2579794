"""Device API endpoints that the e-CPS app needs beyond the simulator's: the professional's
name for the "My e-CPS" screen and revoking the device from the phone itself
(``docs/ecps-device-protocol.md`` §5). Same rules as ``api.py``: a device token on each call,
JSON answers with ``Cache-Control: no-store``, RFC 9457 problems on refusal.

* ``GET /ecps/device/profile`` — the professional the device belongs to (name, national id);
* ``POST /ecps/device/revoke`` — the device revokes itself (also from a locked device, so the
  professional can clean up a phone that can no longer approve anything);
* ``GET /ecps/device/push`` — the server's VAPID public key (RFC 8292) and whether this device
  has a push subscription; ``POST /ecps/device/push`` — keep the app's Web Push subscription
  (``{"subscription": PushSubscription.toJSON(), "lang": "fr"|"en"}``); ``DELETE`` — drop it
  (``push.py``).
"""

from __future__ import annotations

from flask import Blueprint

from santeid import error_formats
from santeid.ecps import api
from santeid.ecps.problems import Problem
from santeid.ecps.push import InvalidSubscription
from santeid.ecps.push import PushSubscription
from santeid.services import services

bp = Blueprint("ecps_device_app", __name__)

# The same problem answers as the rest of the device API (mounted under its prefix).
error_formats.declare(bp, error_formats.PROBLEM_JSON, render=api.render_error)


@bp.get("/profile")
def profile():
    """``{national_id, given_name, family_name, profession}`` of the device's professional."""
    device = api._device(allow_inactive=True)
    professional = services().directory.get(device.national_id)
    return api._json(
        {
            "national_id": device.national_id,
            "given_name": professional.given_name if professional else "",
            "family_name": professional.family_name if professional else "",
            "server_time": api.server_time(),
        }
    )


@bp.post("/revoke")
def revoke():
    """Revoke the calling device; answers like ``/me`` (``status``: ``revoked``)."""
    device = api._device(allow_inactive=True)
    services().ecps.revoke_device(device.device_id)
    current = services().ecps.devices.get(device.device_id)
    return api._json(api._device_info(current or device))


def _push_state(device) -> dict:
    ecps = services().ecps
    return {
        "vapid_public_key": ecps.push.public_key,
        "subscribed": ecps.push_subscriptions.get(device.device_id) is not None,
        "server_time": api.server_time(),
    }


@bp.get("/push")
def push_config():
    """``{vapid_public_key, subscribed}``: the ``applicationServerKey`` to subscribe with."""
    return api._json(_push_state(api._device()))


@bp.post("/push")
def push_subscribe():
    device = api._device()
    body = api._body()
    try:
        subscription = PushSubscription.parse(
            device.device_id,
            body.get("subscription"),
            body.get("lang"),
            sandbox=services().settings.sandbox.enabled,
        )
    except InvalidSubscription as exc:
        raise Problem("invalid_request", str(exc)) from None
    services().ecps.push_subscriptions.put(subscription)
    return api._json(_push_state(device))


@bp.delete("/push")
def push_unsubscribe():
    device = api._device(allow_inactive=True)
    services().ecps.push_subscriptions.delete(device.device_id)
    return api._json(_push_state(device))

"""Web side of the e-CPS mobile authenticator (docs/reference/pro-sante-connect.md §13):
self-service activation with two
codes sent to the directory's correspondence e-mail and phone, the professional's devices
page, and the sandbox outbox where those codes land in sandbox mode.

Routes (at the root of the site, like PSC's activation portal, not under the realm path):

=============================================  ================================================
``GET/POST /ecps/activation``                   identifier → two codes sent (``activation.py``)
``GET/POST /ecps/activation/verify?flow=…``     both codes → a redirect to the QR page
``GET /ecps/activation/qr``                     activation code, URI and QR code (this browser's)
``GET /ecps/devices``                           the logged-in professional's devices
``POST /ecps/devices/<id>/revoke``              revoke one of them (CSRF token required)
``GET /sandbox/outbox`` (``.json``)             sandbox messages (404 outside sandbox mode)
=============================================  ================================================

The e-CPS core (``santeid.ecps``, built with every other service by ``create_services``)
provides activations and devices.
"""

from __future__ import annotations

from santeid.web_ecps.common import bp

__all__ = ["init_app"]


def init_app(app) -> None:
    # The view modules attach their routes to ``bp`` when imported.
    from santeid.web_ecps import activation  # noqa: F401
    from santeid.web_ecps import devices
    from santeid.web_ecps import outbox  # noqa: F401

    svc = app.extensions["santeid"]
    svc.start.needing(
        "database",
        f"registering {devices.ACCOUNT_CLIENT_ID}",
        lambda: devices.register_account_client(svc),
    )
    app.register_blueprint(bp)

"""e-CPS mobile authenticator (docs/reference/pro-sante-connect.md §13): devices, activation codes,
authentication
requests, the device protocol (``/ecps/device/…``), the decision JWT and the offline code.

``init_app`` mounts the device API on the :class:`~santeid.ecps.service.EcpsService` that
``create_services`` built (``app.extensions["santeid"].ecps``). Documentation:
``docs/ecps-device-protocol.md`` (the phone app's contract), ``docs/ecps-device-openapi.yaml``
and ``docs/ecps-simulator.md``.

Each name is imported from the module that defines it (``santeid.ecps.service``…): this package
imports none of them, so that a module needing one (client registration reads
:mod:`santeid.ecps.webhooks`) does not load the device API and its web layer with it.
"""

from __future__ import annotations


def init_app(app) -> None:
    from santeid.ecps import api
    from santeid.ecps import app_api

    app.register_blueprint(api.bp, url_prefix=api.PREFIX)
    app.register_blueprint(app_api.bp, url_prefix=api.PREFIX)

"""e-CPS mobile authenticator (docs/reference/pro-sante-connect.md §13): devices, activation codes,
authentication
requests, the device protocol (``/ecps/device/…``), the decision JWT and the offline code.

``init_app`` mounts the device API on the :class:`~santeid.ecps.service.EcpsService` that
``create_services`` built (``app.extensions["santeid"].ecps``). Documentation:
``docs/ecps-device-protocol.md`` (the phone app's contract), ``docs/ecps-device-openapi.yaml``
and ``docs/ecps-simulator.md``.
"""

from __future__ import annotations

from santeid.ecps.decisions import ECPS_AMR
from santeid.ecps.devices import Device
from santeid.ecps.devices import DeviceRepository
from santeid.ecps.problems import Problem
from santeid.ecps.requests import AuthRequest
from santeid.ecps.service import Activation
from santeid.ecps.service import ActivationError
from santeid.ecps.service import EcpsService
from santeid.ecps.totp import TotpError

__all__ = [
    "ECPS_AMR",
    "Activation",
    "ActivationError",
    "AuthRequest",
    "Device",
    "DeviceRepository",
    "EcpsService",
    "Problem",
    "TotpError",
    "init_app",
]


def init_app(app) -> None:
    from santeid.ecps import api
    from santeid.ecps import app_api

    app.register_blueprint(api.bp, url_prefix=api.PREFIX)
    app.register_blueprint(app_api.bp, url_prefix=api.PREFIX)

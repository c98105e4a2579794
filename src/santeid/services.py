"""The per-application service objects, kept in ``app.extensions["santeid"]`` (Flask's
extension rule: never store the app on a module, look services up through ``current_app``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app


@dataclass
class Services:
    settings: Any
    store: Any
    keys: Any
    directory: Any
    clients: Any
    sessions: Any
    tokens: Any
    transactions: Any = None
    authorization_server: Any = None
    ecps: Any = None
    #: CIBA requests, decisions and notifications (``santeid.ciba.service.CibaService``).
    ciba: Any = None
    #: The INSi teleservice core (``santeid.insi.service.InsiService``).
    insi: Any = None
    #: Sandbox mode only: the sandbox phone (``santeid.sandbox.phone.SandboxPhone``).
    sandbox: Any = None


def services() -> Services:
    return current_app.extensions["santeid"]

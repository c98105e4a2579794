"""The per-application service objects, kept in ``app.extensions["santeid"]`` (Flask's
extension rule: never store the app on a module, look services up through ``current_app``).

:func:`santeid.create_services` builds every field, in dependency order, before any blueprint
is registered: a service never finds another one missing, and the web layers only mount routes
on what is already here (docs/architecture.md, "Composition root").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import cast

if TYPE_CHECKING:  # the services import santeid.services to find each other at request time
    from santeid.ciba.service import CibaService
    from santeid.clock import Clock
    from santeid.directory.repository import Directory
    from santeid.ecps.service import EcpsService
    from santeid.insi.service import InsiService
    from santeid.keystore import KeyStore
    from santeid.login.transactions import LoginTransactions
    from santeid.messaging import Senders
    from santeid.observability.events import EventStore
    from santeid.oidc.clients import ClientRegistry
    from santeid.oidc.provider import SanteidAuthorizationServer
    from santeid.oidc.sessions import SessionStore
    from santeid.oidc.tokens import TokenService
    from santeid.sandbox.phone import SandboxPhone
    from santeid.settings import Settings
    from santeid.startup import Start
    from santeid.storage.base import EphemeralStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    #: This build's start: what needs a backing service at start-up goes through it
    #: (:mod:`santeid.startup`: an outage stops a first start, a worker goes on).
    start: Start
    #: The one source of wall-clock time (``santeid.clock``); every service below reads it.
    clock: Clock
    #: Signs Flask's session cookie and seals CIBA notification secrets.
    secret_key: str
    store: EphemeralStore
    keys: KeyStore
    directory: Directory
    clients: ClientRegistry
    sessions: SessionStore
    tokens: TokenService
    transactions: LoginTransactions
    authorization_server: SanteidAuthorizationServer
    ecps: EcpsService
    #: CIBA requests, decisions and notifications.
    ciba: CibaService
    #: The INSi teleservice core.
    insi: InsiService
    #: Authentication and admin events (the admin console's journal).
    events: EventStore
    #: E-mail and SMS senders of the e-CPS pages (the outbox in sandbox mode).
    senders: Senders
    #: The sandbox phone: sandbox mode only, ``None`` otherwise (the one decision is in
    #: ``create_services``; see docs/architecture.md, "Composition root").
    sandbox: SandboxPhone | None


def services() -> Services:
    """The current application's services (in an application context)."""
    # Flask is imported here, not with this module, and this is no import cycle (this module
    # imports nothing at run time): the services' modules and the modules the commands load
    # (``santeid clients``: client_auth, tls_client_auth…) import this one, and the commands
    # run without Flask (docs/performance.md, "The CLI imports only what a command needs";
    # tests/test_module_imports.py). Once Flask is loaded, the import is a lookup in
    # ``sys.modules`` (≈ 0.3 µs a call).
    from flask import current_app

    return cast("Services", current_app.extensions["santeid"])


def services_if_any() -> Services | None:
    """The current application's services, or ``None`` outside an application context (a
    command, a module used on its own)."""
    from flask import current_app
    from flask import has_app_context

    if not has_app_context():
        return None
    return cast("Services", current_app.extensions["santeid"])

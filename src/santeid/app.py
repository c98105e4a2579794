"""The composition root: :func:`create_services` builds every service, then :func:`create_app`
mounts every web layer on them (docs/architecture.md, "Composition root")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.settings import Settings
from santeid.settings import load_settings

if TYPE_CHECKING:
    from santeid.services import Services
    from santeid.storage.base import EphemeralStore


def _resource_dir(name: str) -> Path:
    """``templates/`` of the repository, or its copy inside an installed wheel."""
    packaged = Path(__file__).parent / "_templates"
    if packaged.is_dir():
        return packaged if name == "templates" else packaged / "static"
    root = Path(__file__).resolve().parents[2] / "templates"
    return root if name == "templates" else root / "static"


def create_services(
    settings: Settings,
    *,
    store: EphemeralStore | None = None,
    clock: Clock = system_clock,
    first_start: bool = True,
) -> Services:
    """Open every backing service the settings describe, in dependency order, each on
    ``clock``; refuse unsafe configurations. Nothing here needs the Flask app: the web layers
    are mounted afterwards, on services that already exist (docs/architecture.md).

    ``first_start``: a server's first start, where an outage of the database stops the start;
    ``False`` for a worker of ``santeid serve --workers``, which starts through an outage
    (:mod:`santeid.startup`, the one place of that rule)."""
    from santeid.ciba.metadata import check_registered_clients as check_ciba_clients
    from santeid.ciba.service import CibaService
    from santeid.db.schemas import prepare as prepare_databases
    from santeid.directory import Directory
    from santeid.ecps.service import EcpsService
    from santeid.insi.service import InsiService
    from santeid.keystore import KeyStore
    from santeid.keystore import check_keys_for_startup
    from santeid.keystore import ensure_dev_keys
    from santeid.login.transactions import LoginTransactions
    from santeid.messaging import senders_for
    from santeid.observability.events import EventStore
    from santeid.oidc.clients import ClientRegistry
    from santeid.oidc.provider import create_authorization_server
    from santeid.oidc.tokens import TokenService
    from santeid.sandbox import phone_for
    from santeid.security import check_secret_key
    from santeid.security import load_secret_key
    from santeid.services import Services
    from santeid.startup import Start
    from santeid.storage import check_persistence
    from santeid.storage import store_from_url

    start = Start(first=first_start)
    check_secret_key(settings)  # before anything is created
    if settings.sandbox.enabled:
        # Sandbox convenience: a fresh checkout serves at once, with generated dev keys. One
        # store: each reading of the key file imports (and validates) its RSA keys.
        keys = KeyStore.from_settings(settings, clock=clock)
        ensure_dev_keys(settings, keys)
    else:
        keys = check_keys_for_startup(settings, clock=clock)
    # Durable data: schemas upgraded (or checked, database_auto_upgrade = false) before any
    # request; a database newer than this santeid stops the start with what to do.
    start.needing(
        "database",
        "checking the schemas",
        lambda: prepare_databases(settings, first_start=start.first),
    )
    directory = Directory.for_settings(settings)
    directory.initialize()
    if settings.sandbox.enabled and directory.count() == 0:
        directory.seed_demo()
    if store is None:
        store = store_from_url(settings.store.url)
        if settings.store.persistence_check:
            check_persistence(store)
    secret_key = load_secret_key(settings)
    # A client may name only an algorithm with an active key (docs/keys.md, "Algorithms").
    clients = ClientRegistry.for_settings(
        settings, clock=clock, signing_algs=keys.signing_algorithms
    )
    # A registered client in a CIBA mode this configuration does not offer (push while
    # ciba_push_enabled is off) stops the start, named (docs/ciba.md, "Push mode").
    start.needing(
        "database",
        "checking the registered CIBA clients",
        lambda: check_ciba_clients(clients.list(), settings),
    )
    tokens = TokenService(settings, store, keys, directory, clock=clock)
    ecps = EcpsService(settings, store, directory, clock=clock)
    # The Web Push (VAPID) key, made now if missing, beside the other keys.
    ecps.push.prepare()
    sandbox_phone = phone_for(settings, store=store, ecps=ecps, directory=directory, clock=clock)
    events = EventStore.for_settings(settings, clock=clock)
    ciba = CibaService(
        settings=settings,
        store=store,
        tokens=tokens,
        clients=clients,
        directory=directory,
        ecps=ecps,
        sandbox_phone=sandbox_phone,
        secret_key=secret_key,
        events=events,
        clock=clock,
    )
    # A decision on the phone completes the CIBA request (and starts ping/push) in the
    # worker that received it.
    ecps.on_request_decided(ciba.on_ecps_decided)
    return Services(
        settings=settings,
        start=start,
        clock=clock,
        secret_key=secret_key,
        store=store,
        keys=keys,
        directory=directory,
        clients=clients,
        sessions=tokens.sessions,
        tokens=tokens,
        transactions=LoginTransactions(
            store, lifetime=settings.login.transaction_lifetime, clock=clock
        ),
        authorization_server=create_authorization_server(clients),
        ecps=ecps,
        ciba=ciba,
        # Nothing is opened here: the civil-status base is opened on the first call of each
        # thread (a missing base answers 503, it does not stop the server).
        insi=InsiService.for_settings(settings, clock=clock),
        events=events,
        senders=senders_for(settings, clock=clock),
        sandbox=sandbox_phone,
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: EphemeralStore | None = None,
    clock: Clock = system_clock,
    first_start: bool = True,
) -> Flask:
    """The WSGI application: the services first, then each web layer, in dependency order.
    ``first_start``: :func:`create_services`'s."""
    from santeid.proxies import Application  # Flask, with the proxy layer in front
    from santeid.security import JSONProvider

    settings = settings or load_settings()
    services = create_services(settings, store=store, clock=clock, first_start=first_start)
    from santeid.messaging import warn_unconfigured

    warn_unconfigured(services.senders)
    app = Application(
        # The package's name, not this module's: Flask names the app and its logger after it.
        "santeid",
        template_folder=str(_resource_dir("templates")),
        static_folder=str(_resource_dir("static")),
        static_url_path="/static",
    )
    app.config["SECRET_KEY"] = services.secret_key
    # Flask's JSON, key order kept, request bodies read as untrusted JSON.
    app.json = JSONProvider(app)
    app.extensions["santeid"] = services

    from santeid import admin
    from santeid import ciba
    from santeid import ecps
    from santeid import ecps_app
    from santeid import errors
    from santeid import fhir_directory
    from santeid import health
    from santeid import i18n
    from santeid import insi
    from santeid import login
    from santeid import problem_pages
    from santeid import raw_paths
    from santeid import sandbox
    from santeid import security
    from santeid import web_ecps
    from santeid.observability import web as observability
    from santeid.oidc import routes as oidc

    # First: the request id is known to everything the other subsystems do.
    observability.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    raw_paths.init_app(app)
    errors.init_app(app)
    problem_pages.init_app(app)
    oidc.init_app(app)
    login.init_app(app)
    ecps.init_app(app)
    ciba.init_app(app)
    web_ecps.init_app(app)
    ecps_app.init_app(app)
    sandbox.init_app(app)
    insi.init_app(app)
    fhir_directory.init_app(app)
    health.init_app(app)
    admin.init_app(app)
    # Around every WSGI layer of the app: each request is timed and carries its id (INSi fast
    # path included).
    observability.wrap(app)
    # In front of all that, at the application's entry point: X-Forwarded-* from trusted
    # proxies, HTTPS required, malformed requests refused.
    from santeid import proxies

    proxies.init_app(app)
    return app

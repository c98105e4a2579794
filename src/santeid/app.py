"""The composition root: :func:`create_services` builds every service, then :func:`create_app`
mounts every web layer on them (docs/architecture.md, "Composition root")."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import load_settings

if TYPE_CHECKING:
    from santeid.services import Services
    from santeid.storage.base import EphemeralStore

log = logging.getLogger("santeid")


def _resource_dir(name: str) -> Path:
    """``templates/`` of the repository, or its copy inside an installed wheel."""
    packaged = Path(__file__).parent / "_templates"
    if packaged.is_dir():
        return packaged if name == "templates" else packaged / "static"
    root = Path(__file__).resolve().parents[2] / "templates"
    return root if name == "templates" else root / "static"


#: How the secrets of example configurations begin (``SANTEID_SECRET_KEY: change-me-…``).
PLACEHOLDER_PREFIX = "change-me"
#: Fewest bytes of a configured ``secret_key`` outside sandbox mode: 256 bits, the size of the
#: HMAC-SHA256 key it becomes (RFC 2104 §3 recommends at least the hash's output length).
MIN_SECRET_KEY_BYTES = 32


def check_secret_key(settings: Settings) -> None:
    """Refuse (:class:`ConfigurationError`) a configured ``secret_key`` anyone could know
    outside sandbox mode: an example's placeholder, or fewer than
    :data:`MIN_SECRET_KEY_BYTES` bytes. Whoever knows it signs session cookies, the admin
    console's included (docs/security.md, "Browser"). Checked when the application is built,
    not when the settings are read: ``santeid serve --sandbox`` turns sandbox mode on after
    reading them, and the commands that never use the secret need not refuse it."""
    value = settings.secret_key
    if not value or settings.sandbox.enabled:
        return
    if value.strip().lower().startswith(PLACEHOLDER_PREFIX):
        problem = f"is the placeholder of an example configuration ({PLACEHOLDER_PREFIX}…)"
    elif len(value.encode()) < MIN_SECRET_KEY_BYTES:
        problem = f"is shorter than {MIN_SECRET_KEY_BYTES} bytes"
    else:
        return
    raise ConfigurationError(
        f"secret_key (SANTEID_SECRET_KEY) {problem}: anyone who can guess it signs session "
        "cookies, the admin console's included. Set a random value of "
        f"{MIN_SECRET_KEY_BYTES} bytes or more, the same on every host (python3 -c 'import "
        "secrets; print(secrets.token_urlsafe(48))'), or leave it empty for one host: a random "
        "secret is then kept in {data_dir}/secret_key. Sandbox mode accepts any value."
    )


def _secret_key(settings: Settings) -> str:
    """The session-signing secret: configured, or random and kept in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _check_store_persistence(store: EphemeralStore) -> None:
    """Warn when the Redis store would forget revoked tokens on a restart (docs/deployment.md,
    "Redis persistence"): a revoked access token would be accepted again until it expires."""
    persistence = getattr(store, "persistence", None)
    if persistence is None:
        return  # memory://: one process, gone with it anyway
    kind = persistence()
    if kind is None:
        log.info(
            "store persistence not checked (CONFIG GET refused or Redis unreachable): make sure "
            "Redis persists its data (AOF or RDB), or revoked tokens come back after a restart"
        )
    elif not kind:
        log.warning(
            'the Redis store does not persist its data (appendonly no, save ""): after a Redis '
            "restart, revoked access tokens are accepted again until they expire and jti replay "
            "caches are empty. Turn on AOF (appendonly yes) in production (docs/deployment.md)"
        )


def create_services(
    settings: Settings, *, store: EphemeralStore | None = None, clock: Clock = system_clock
) -> Services:
    """Open every backing service the settings describe, in dependency order, each on
    ``clock``; refuse unsafe configurations. Nothing here needs the Flask app: the web layers
    are mounted afterwards, on services that already exist (docs/architecture.md)."""
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
    from santeid.oidc.sessions import SessionStore
    from santeid.oidc.tokens import TokenService
    from santeid.sandbox import phone_for
    from santeid.services import Services
    from santeid.storage import store_from_url

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
    prepare_databases(settings)
    directory = Directory.for_settings(settings)
    directory.initialize()
    if settings.sandbox.enabled and directory.count() == 0:
        directory.seed_demo()
    if store is None:
        store = store_from_url(settings.store.url)
        if settings.store.persistence_check:
            _check_store_persistence(store)
    secret_key = _secret_key(settings)
    # A client may name only an algorithm with an active key (docs/keys.md, "Algorithms").
    clients = ClientRegistry.for_settings(
        settings, clock=clock, signing_algs=keys.signing_algorithms
    )
    tokens = TokenService(settings, store, keys, directory, clock=clock)
    ecps = EcpsService(settings, store, directory, clock=clock)
    # The Web Push (VAPID) key, made now if missing, beside the other keys.
    ecps.push.prepare()
    sandbox_phone = phone_for(settings, store=store, ecps=ecps, directory=directory, clock=clock)
    ciba = CibaService(
        settings=settings,
        store=store,
        tokens=tokens,
        clients=clients,
        directory=directory,
        ecps=ecps,
        sandbox_phone=sandbox_phone,
        secret_key=secret_key,
        clock=clock,
    )
    # A decision on the phone completes the CIBA request (and starts ping/push) in the
    # worker that received it.
    ecps.on_request_decided(ciba.on_ecps_decided)
    return Services(
        settings=settings,
        clock=clock,
        secret_key=secret_key,
        store=store,
        keys=keys,
        directory=directory,
        clients=clients,
        sessions=SessionStore(
            store,
            max_lifetime=settings.login.sso_max_lifetime,
            idle_timeout=settings.login.sso_idle_timeout,
            clock=clock,
        ),
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
        events=EventStore.for_settings(settings, clock=clock),
        senders=senders_for(settings, clock=clock),
        sandbox=sandbox_phone,
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: EphemeralStore | None = None,
    clock: Clock = system_clock,
) -> Flask:
    """The WSGI application: the services first, then each web layer, in dependency order."""
    from santeid.proxies import Application  # Flask, with the proxy layer in front

    settings = settings or load_settings()
    services = create_services(settings, store=store, clock=clock)
    app = Application(
        # The package's name, not this module's: Flask names the app and its logger after it.
        "santeid",
        template_folder=str(_resource_dir("templates")),
        static_folder=str(_resource_dir("static")),
        static_url_path="/static",
    )
    app.config["SECRET_KEY"] = services.secret_key
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own, unless replaced
        app.json.sort_keys = False
    app.extensions["santeid"] = services

    from santeid import admin
    from santeid import ciba
    from santeid import ecps
    from santeid import ecps_app
    from santeid import errors
    from santeid import fhir_directory
    from santeid import health
    from santeid import insi
    from santeid import login
    from santeid import problem_pages
    from santeid import sandbox
    from santeid import security
    from santeid import web_ecps
    from santeid.observability import web as observability
    from santeid.oidc import routes as oidc

    # First: the request id is known to everything the other subsystems do.
    observability.init_app(app)
    security.init_app(app)
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

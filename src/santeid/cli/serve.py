"""``santeid serve``: one process with Werkzeug's threaded server, or gunicorn workers; HTTP,
or HTTPS with optional client certificates (CPS cards, docs/cps-card.md)."""

from __future__ import annotations

import logging
import ssl

import click

from santeid.cli import get_settings
from santeid.settings import DEFAULT_REALM_PATH
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import validate


def _effective_settings(
    settings: Settings,
    host: str,
    port: int,
    workers: int | None,
    sandbox: bool,
    tls: bool = False,
):
    changes: dict = {}
    if sandbox:
        changes["sandbox"] = True
    if workers is not None:
        changes["workers"] = workers
    if settings.issuer == Settings().issuer and (tls or (host, port) != ("127.0.0.1", 5000)):
        # No issuer configured: follow the address we serve on so that discovery is right.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        scheme = "https" if tls else "http"
        changes["issuer"] = f"{scheme}://{shown}:{port}{DEFAULT_REALM_PATH}"
    effective = settings.replace(**changes)
    try:
        validate(effective)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    return effective


def _client_ca(settings: Settings, client_ca: str | None) -> str | None:
    """The authorities whose client certificates the TLS layer accepts: ``--client-ca``, else
    ``cps_ca_file``, else the test CPS authority under ``keys_dir`` (created in sandbox mode,
    so that test cards work at once)."""
    if client_ca:
        return client_ca
    if settings.cps_ca_file:
        return settings.cps_ca_file
    from santeid.cps.cards import CPS_TEST_CA_NAME
    from santeid.cps.cards import card_authority
    from santeid.pki import TestAuthority

    if settings.sandbox:
        return str(card_authority(settings).cert_path)
    cert_path, _ = TestAuthority.paths(settings.keys_path, CPS_TEST_CA_NAME)
    return str(cert_path) if cert_path.exists() else None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", type=click.IntRange(1, 64), help="Processes (gunicorn when > 1).")
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per gunicorn worker.",
)
@click.option("--sandbox", is_flag=True, help="Sandbox mode (test conveniences, visibly marked).")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this PEM certificate (chain) — e.g. from `santeid tls dev-cert`.",
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Its private key.")
@click.option(
    "--client-ca",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM authorities of the client certificates (CPS cards) the TLS layer accepts; "
    "requested, never required. Default: cps_ca_file, else the test CPS authority.",
)
def serve(
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    sandbox: bool,
    tls_cert: str | None,
    tls_key: str | None,
    client_ca: str | None,
) -> None:
    """Serve the provider (HTTPS with optional client certificates given --tls-cert/--tls-key)."""
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if client_ca and not tls_cert:
        raise click.UsageError("--client-ca needs --tls-cert and --tls-key")
    tls = bool(tls_cert)
    settings = _effective_settings(get_settings(), host, port, workers, sandbox, tls)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from santeid import create_app
    from santeid.tls import server_ssl_context

    ssl_context = None
    scheme = "http"
    if tls:
        scheme = "https"
        try:
            client_ca = _client_ca(settings, client_ca)
            ssl_context = server_ssl_context(tls_cert, tls_key, client_ca)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        if client_ca:
            click.echo(f"TLS: client certificates requested (optional), authorities {client_ca}")
        else:
            click.echo("TLS: no client authority configured, client certificates not requested")

    if settings.workers == 1:
        try:
            app = create_app(settings)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"santeid serving {settings.issuer} on {scheme}://{host}:{port}/ "
            f"(store {settings.store_url})"
        )
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False, ssl_context=ssl_context)
        return

    try:
        # Fail here, once, rather than in every worker.
        create_app(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    from gunicorn.app.base import BaseApplication

    class SanteidGunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("accesslog", "-")
            if ssl_context is not None:
                self.cfg.set("certfile", tls_cert)
                self.cfg.set("keyfile", tls_key)
                if client_ca:
                    self.cfg.set("ca_certs", client_ca)
                    self.cfg.set("cert_reqs", ssl.CERT_OPTIONAL)
                # The same context as the one-process server (TLS >= 1.2), built once instead
                # of gunicorn's default of one per connection.
                self.cfg.set("ssl_context", _reuse_context)

        def load(self):
            return create_app(settings)

    def _reuse_context(config, default_ssl_context_factory):
        return ssl_context

    click.echo(
        f"santeid serving {settings.issuer} on {scheme}://{host}:{port}/ "
        f"with {settings.workers} gunicorn workers (store {settings.store_url})"
    )
    SanteidGunicorn().run()

"""``santeid serve``: one process with Werkzeug's threaded server, or gunicorn workers."""

from __future__ import annotations

import logging

import click

from santeid.cli import get_settings
from santeid.settings import DEFAULT_REALM_PATH
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import validate


def _effective_settings(
    settings: Settings, host: str, port: int, workers: int | None, sandbox: bool
):
    changes: dict = {}
    if sandbox:
        changes["sandbox"] = True
    if workers is not None:
        changes["workers"] = workers
    if settings.issuer == Settings().issuer and (host, port) != ("127.0.0.1", 5000):
        # No issuer configured: follow the address we serve on so that discovery is right.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        changes["issuer"] = f"http://{shown}:{port}{DEFAULT_REALM_PATH}"
    effective = settings.replace(**changes)
    try:
        validate(effective)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    return effective


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
def serve(host: str, port: int, workers: int | None, threads: int, sandbox: bool) -> None:
    """Serve the provider."""
    settings = _effective_settings(get_settings(), host, port, workers, sandbox)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from santeid import create_app

    if settings.workers == 1:
        try:
            app = create_app(settings)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"santeid serving {settings.issuer} on http://{host}:{port}/ "
            f"(store {settings.store_url})"
        )
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False)
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

        def load(self):
            return create_app(settings)

    click.echo(
        f"santeid serving {settings.issuer} on http://{host}:{port}/ "
        f"with {settings.workers} gunicorn workers (store {settings.store_url})"
    )
    SanteidGunicorn().run()

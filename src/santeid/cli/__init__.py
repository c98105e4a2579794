"""The ``santeid`` command line: one module per command group."""

from __future__ import annotations

import click

from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings import load_settings

#: ``context_settings`` of a command whose argument is an identifier the server drew at random
#: (``auth_req_id``, e-CPS request id): base64url text may begin with ``-``, which click would
#: otherwise read as an unknown option and refuse (exit status 2).
TAKES_RANDOM_ID = {"ignore_unknown_options": True}


def get_settings(ctx: click.Context | None = None) -> Settings:
    """Settings for this invocation, loaded once (defaults < SANTEID_CONFIG < SANTEID_*)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        try:
            root.obj = load_settings()
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
    return root.obj


@click.group()
@click.version_option(package_name="santeid")
def main() -> None:
    """santeid: Pro Santé Connect–compatible OpenID Connect provider and INSi teleservice."""


def _register() -> None:
    from santeid.cli import admin
    from santeid.cli import civil
    from santeid.cli import clients
    from santeid.cli import cps
    from santeid.cli import db
    from santeid.cli import device
    from santeid.cli import directory
    from santeid.cli import ecps
    from santeid.cli import events
    from santeid.cli import insi
    from santeid.cli import keys
    from santeid.cli import serve
    from santeid.cli import sessions
    from santeid.cli import tls

    main.add_command(serve.serve)
    main.add_command(keys.keys)
    main.add_command(clients.clients)
    main.add_command(directory.directory)
    main.add_command(civil.civil)
    main.add_command(ecps.ecps)
    main.add_command(device.device)
    main.add_command(cps.cps)
    main.add_command(tls.tls)
    main.add_command(insi.insi)
    main.add_command(sessions.sessions)
    main.add_command(db.db)
    main.add_command(events.events)
    main.add_command(admin.admin)


_register()

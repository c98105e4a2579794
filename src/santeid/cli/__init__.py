"""The ``santeid`` command line: one module per command group."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from santeid.settings import Settings

#: ``context_settings`` of a command whose argument is an identifier the server drew at random
#: (``auth_req_id``, e-CPS request id): base64url text may begin with ``-``, which click would
#: otherwise read as an unknown option and refuse (exit status 2).
TAKES_RANDOM_ID = {"ignore_unknown_options": True}


def get_settings(ctx: click.Context | None = None) -> Settings:
    """Settings for this invocation, loaded once (defaults < SANTEID_CONFIG < SANTEID_*)."""
    # Imported on first use: pydantic's models cost a tenth of a second of CPU, which
    # `santeid --help` and the simulated phone (`santeid device`) do not need.
    from santeid.settings import ConfigurationError
    from santeid.settings import Settings
    from santeid.settings import load_settings

    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        try:
            root.obj = load_settings()
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
    return root.obj


#: Each command group, defined in the module of the same name (an attribute of that name too),
#: and its help, which the group takes from here. A group's module is imported only when the
#: group runs: every command would otherwise import the whole application — half a second of
#: CPU for ``santeid clients add``, and a ``santeid serve`` master that holds every module
#: without serving a request (docs/performance.md, "At national scale"). ``santeid --help``
#: lists them all from this table, without importing any.
COMMANDS = {
    "serve": "Serve the provider (HTTPS with optional client certificates given "
    "--tls-cert/--tls-key).",
    "keys": "JWT signing keys, kept in the keys directory (SANTEID_KEYS_DIR).",
    "clients": "Manage registered relying parties.",
    "directory": "The professionals directory (RPPS-like) the provider logs people in from.",
    "civil": "Synthetic civil-status base (persons, NIR/NIA, carte Vitale) for the INSi "
    "teleservice.",
    "ecps": "e-CPS mobile authenticator: activation codes and devices.",
    "device": "A simulated e-CPS phone (enrol, list requests, approve, deny, offline code).",
    "cps": "Test CPS cards: certificates a browser (or a test) presents to log in by card.",
    "tls": "TLS certificates for development servers (never for production).",
    "insi": "INSi teleservice: software authorisation numbers (IDAM) and statistics.",
    "sessions": "SSO sessions (their id is the session_state / sid the services see).",
    "db": "Schema versions and migrations of the durable data (database_url).",
    "events": "Authentication and admin events: list, purge.",
    "admin": "The admin console (/admin).",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (the pattern of click's
    documentation, https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"santeid.cli.{cmd_name}")
        command = getattr(module, cmd_name)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Click's own listing, of stand-ins that carry each group's help: the same lines as
        # the groups themselves would give, without importing their modules.
        stand_ins = [click.Command(name, help=text) for name, text in COMMANDS.items()]
        click.Group(commands=stand_ins).format_commands(ctx, formatter)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="santeid")
def main() -> None:
    """santeid: Pro Santé Connect–compatible OpenID Connect provider and INSi teleservice."""

"""The ``santeid`` command line: one module per command group."""

from __future__ import annotations

import importlib

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


#: Each command group and the module that defines it (an attribute of the same name). A
#: group's module is imported only when the group runs (or ``--help`` lists them all): every
#: command would otherwise import the whole application — half a second of CPU for
#: ``santeid clients add``, and a ``santeid serve`` master that holds every module without
#: serving a request (docs/performance.md, "At national scale").
COMMANDS = (
    "serve",
    "keys",
    "clients",
    "directory",
    "civil",
    "ecps",
    "device",
    "cps",
    "tls",
    "insi",
    "sessions",
    "db",
    "events",
    "admin",
)


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


@click.group(cls=_LazyGroup)
@click.version_option(package_name="santeid")
def main() -> None:
    """santeid: Pro Santé Connect–compatible OpenID Connect provider and INSi teleservice."""

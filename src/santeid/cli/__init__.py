"""The ``santeid`` command line: one module per command group."""

from __future__ import annotations

import errno
import importlib
import os
import pathlib
import re
from typing import TYPE_CHECKING
from typing import Any

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


class NationalIdType(click.ParamType):
    """A professional's national identifier (``santeid.psc.national_id``), given as an argument
    or option: a malformed one is a usage error (exit status 2), whichever command takes it.
    The value the command receives is the parsed :class:`~santeid.psc.national_id.NationalId`."""

    name = "national_id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        from santeid.psc.national_id import NationalId
        from santeid.psc.national_id import NationalIdError
        from santeid.psc.national_id import parse_national_id

        if isinstance(value, NationalId):
            return value
        try:
            return parse_national_id(value)
        except NationalIdError as exc:
            self.fail(exc.message("en"), param, ctx)


#: The type of every parameter that is a national identifier.
NATIONAL_ID = NationalIdType()


#: A number as an operator types it: ASCII digits, an optional sign and (for a decimal) one
#: point. Python's ``int``/``float``, which click's number types call, also take the digits of
#: every script (``٣`` is 3, ``３`` is 3) and underscores (``1_0`` is 10).
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")
_ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class Integer(click.IntRange):
    """click's ``IntRange`` (``min``/``max`` as there; unbounded by default) for a number
    written in ASCII digits only: another script's digits are a usage error, not a number."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, str) and not _ASCII_INTEGER.fullmatch(value.strip()):
            self.fail(f"{value!r} is not a whole number in ASCII digits (0-9).", param, ctx)
        return super().convert(value, param, ctx)

    def _describe_range(self) -> str:
        # click describes a range with no bound as "x<=None" in the help: say nothing instead.
        if self.min is None and self.max is None:
            return ""
        return super()._describe_range()


class Decimal(click.FloatRange):
    """click's ``FloatRange`` for a number written in ASCII digits, with an optional point."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, str) and not _ASCII_DECIMAL.fullmatch(value.strip()):
            self.fail(f"{value!r} is not a number in ASCII digits (0-9).", param, ctx)
        return super().convert(value, param, ctx)


#: ``--out DIR`` of the commands that write a certificate, its key and its authority
#: (``santeid.pki.write_credentials``).
CREDENTIALS_OUT = click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    help="Directory receiving cert.pem, key.pem (0600) and ca.pem.",
)


def test_authority_option(issued: str, setting: str):
    """``--test-authority`` of the commands that issue with a test authority (``issued``: what
    they issue), which a server outside sandbox mode trusts only if ``setting`` lists it."""
    return click.option(
        "--test-authority",
        "outside_sandbox",
        is_flag=True,
        help=f"Outside sandbox mode, issue anyway ({issued} of the test authority are then "
        f"refused unless {setting} lists it).",
    )


def refuse_test_authority(settings: Settings, outside_sandbox: bool, refusal: str) -> None:
    """Outside sandbox mode and without ``--test-authority``, the command refuses: the server
    would refuse what it issues (``refusal`` says how), and the test authority's key lies
    unencrypted in the keys directory (docs/security.md, "CPS cards", "INSi establishment
    certificates")."""
    if not settings.sandbox.enabled and not outside_sandbox:
        raise click.ClickException(
            f"not in sandbox mode: {refusal}, and the test authority's key is unencrypted in "
            f"{settings.keys_path}. Set sandbox = true (SANTEID_SANDBOX=true) for a test "
            "server, or pass --test-authority to issue one anyway"
        )


def stop_on_sigterm(signum, frame) -> None:
    """A ``SIGTERM`` handler (systemd, ``docker stop``, ``kill``, ``timeout``) that stops like
    Ctrl-C: ``finally`` blocks and context managers run, instead of Python's default of
    ending at once with nothing cleaned up."""
    raise KeyboardInterrupt


#: Unicode categories a terminal obeys rather than shows: controls (escape sequences, bell),
#: format characters (bidirectional overrides, zero-width), lone surrogates, line and
#: paragraph separators.
UNPRINTABLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def printable(text: str) -> str:
    """``text`` as a command prints stored data on a terminal: each character of
    :data:`UNPRINTABLE_CATEGORIES` written as its Python escape (``\\x1b``, ``\\u202e``), so
    that nothing stored can retitle the window, move the cursor or reorder the line."""
    import unicodedata

    return "".join(
        ascii(ch)[1:-1] if unicodedata.category(ch) in UNPRINTABLE_CATEGORIES else ch for ch in text
    )


def _not_utf8(args: list[str]) -> tuple[int, str] | None:
    """The first argument that is not UTF-8 text (the operating system hands such bytes to
    Python as lone surrogates, https://peps.python.org/pep-0383/), with its position."""
    for position, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return position, arg
    return None


def _refuse_non_utf8(ctx: click.Context, args: list[str]) -> None:
    """A usage error naming the first argument that is not UTF-8 text: no command can store,
    print or look up such bytes."""
    found = _not_utf8(args)
    if found is None:
        return
    position, arg = found
    name, shown = f"argument {position + 1}", repr(os.fsencode(arg))
    if arg.startswith("--") and "=" in arg:
        option, _, value = arg.partition("=")
        if _not_utf8([option]) is None:
            name, shown = option, repr(os.fsencode(value))
    elif position and args[position - 1].startswith("-") and not arg.startswith("-"):
        name = args[position - 1]
    raise click.UsageError(f"{name}: {shown} is not UTF-8 text", ctx)


def _operational_errors() -> tuple[type[BaseException], ...]:
    """What the machine or a service may raise under any command, bug-free: files and
    directories that cannot be read or written, a database or store that cannot be reached,
    text that is not UTF-8, settings or keys that cannot be used."""
    from santeid.db.backends import DatabaseError  # SQLite's and PostgreSQL's
    from santeid.settings.base import ConfigurationError
    from santeid.storage.base import StoreUnavailable

    return (
        OSError,
        *DatabaseError,
        StoreUnavailable,
        ConfigurationError,
        UnicodeError,
    )


def _one_line(exc: BaseException, ctx: click.Context) -> str:
    """``exc`` as the line after ``Error:``; SQLite's own messages name no file, so the data
    directory is named beside them; a data directory that is a file is named as the setting
    (making it, every command met "[Errno 17] File exists")."""
    import sqlite3

    from santeid.settings import Settings

    settings = ctx.find_root().obj
    text = " ".join(str(exc).split()) or type(exc).__name__
    # A file name that is not UTF-8 (PEP 383) shown escaped, as the terminal could not.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(exc, sqlite3.Error):
        if isinstance(settings, Settings):
            return f"SQLite: {text} (data_dir {settings.data_path})"
        return f"SQLite: {text}"
    if (
        isinstance(exc, FileExistsError)
        and isinstance(settings, Settings)
        and exc.filename == str(settings.data_path)
        and not settings.data_path.is_dir()
    ):
        return f"data_dir {settings.data_path} is a file, not a directory: {text}"
    return text


#: Each command group, defined in the module of the same name (an attribute of that name too),
#: and its help, which the group takes from here. A group's module is imported only when the
#: group runs: every command would otherwise import the whole application — half a second of
#: CPU for ``santeid clients add``, and a ``santeid serve`` master that holds every module
#: without serving a request (docs/performance.md, "At national scale"). ``santeid --help``
#: lists them all from this table, without importing any.
COMMANDS = {
    "serve": "Serve the provider (HTTPS with optional client certificates given "
    "--tls-cert/--tls-key).",
    "keys": "Signing keys, refresh-token secret and Web Push key, in the keys directory "
    "(SANTEID_KEYS_DIR).",
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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _refuse_non_utf8(ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; what the machine or a service refuses (:func:`_operational_errors`)
        ends it with one line, ``Error: …``, and exit status 1. Any other exception is a bug,
        and keeps its traceback."""
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # click's own: the reader of the output went away
            if isinstance(exc, _operational_errors()):
                raise click.ClickException(_one_line(exc, ctx)) from exc
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Click's own listing, of stand-ins that carry each group's help: the same lines as
        # the groups themselves would give, without importing their modules.
        stand_ins = [click.Command(name, help=text) for name, text in COMMANDS.items()]
        click.Group(commands=stand_ins).format_commands(ctx, formatter)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="santeid")
def main() -> None:
    """santeid: Pro Santé Connect–compatible OpenID Connect provider and INSi teleservice."""

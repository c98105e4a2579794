"""The ``santeid`` command group loads a command's module only when that command runs."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from santeid.cli import COMMANDS
from santeid.cli import main


def test_every_listed_command_resolves_to_its_group() -> None:
    context = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert command is not None and command.name == name
    assert main.list_commands(context) == sorted(COMMANDS)


def test_help_lists_every_command_and_an_unknown_one_is_refused() -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["--help"])
    assert listed.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in listed.output
    unknown = runner.invoke(main, ["nosuchcommand"])
    assert unknown.exit_code == 2
    assert "No such command 'nosuchcommand'" in unknown.output


def test_a_command_does_not_import_the_others_nor_the_application() -> None:
    probe = (
        "import sys\n"
        "from santeid.cli import main\n"
        "try:\n"
        "    main(['tls', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('santeid.cli.tls', 'santeid.cli.insi', 'santeid.oidc.provider',"
        " 'santeid.insi.service') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "['santeid.cli.tls']"

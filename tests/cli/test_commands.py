"""The ``santeid`` command group loads a command's module only when that command runs, and a
command loads only what it uses: ``santeid --help`` no command module, the commands that need
no web application no Flask (the cores they use, their problem catalogue included, import
none)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from santeid.cli import COMMANDS
from santeid.cli import main
from tests.support.paths import ROOT
from tests.support.servers import santeid_env

#: Runs ``santeid`` with its arguments in a fresh interpreter, then prints the names of the
#: modules it loaded, one a line.
RUN_AND_LIST_MODULES = """
import sys
from santeid.cli import main
try:
    main(sys.argv[1:], prog_name="santeid")
except SystemExit as exit:
    assert not exit.code, exit.code
print("\\n".join(sys.modules))
"""


def _modules_loaded_by(env: dict[str, str], *args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.splitlines())


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


@pytest.mark.parametrize("width", [60, 80, 160])
def test_help_lists_each_command_with_the_help_the_command_itself_shows(width: int) -> None:
    context = click.Context(main, info_name="santeid", terminal_width=width)
    listed = context.make_formatter()
    main.format_commands(context, listed)
    # Click's own listing, from the commands themselves (it imports every module).
    own = context.make_formatter()
    click.Group.format_commands(main, context, own)
    assert listed.getvalue() == own.getvalue()


def test_help_imports_no_command_module_nor_the_settings(tmp_path: Path) -> None:
    loaded = _modules_loaded_by(santeid_env(tmp_path), "--help")
    assert {"santeid.cli"} <= loaded
    assert {f"santeid.cli.{name}" for name in COMMANDS} & loaded == set()
    assert {"santeid.settings", "pydantic", "flask"} & loaded == set()


def test_commands_without_the_web_application_do_not_import_flask(tmp_path: Path) -> None:
    env = santeid_env(tmp_path)
    client = tmp_path / "client.json"
    client.write_text(
        json.dumps(
            {
                "client_id": "svc",
                "client_secret": "a-secret-of-at-least-16-characters",
                "redirect_uris": ["https://svc.example/cb"],
            }
        )
    )
    for args in (
        ("clients", "add", str(client)),
        ("directory", "list"),
        ("insi", "software", "list"),
        ("tls", "dev-cert", "--out", str(tmp_path / "tls")),
    ):
        loaded = _modules_loaded_by(env, *args)
        assert f"santeid.cli.{args[0]}" in loaded, args
        assert "flask" not in loaded, args
        # An embedded installation's data is SQLite: PostgreSQL's driver stays unloaded.
        assert "psycopg" not in loaded, args


def _readme_command_cells() -> list[list[str]]:
    """The words of each command written in the first column of README.md's "Command line"
    table (``santeid keys generate\\|rotate\\|list`` → santeid, keys, generate, rotate, list)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| `(santeid [^`]*)`", table, re.M)
    return [[w.strip("[]") for w in re.split(r"\\\||[\s|]", cell) if w] for cell in cells]


def _options(command: click.Command) -> set[str]:
    """Every ``--option`` of ``command`` and of the commands under it."""
    flags = {f for p in command.params for f in (*p.opts, *p.secondary_opts)}
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            flags |= _options(command.get_command(context, name))
    return flags


def test_the_readme_table_names_every_command_and_only_options_that_exist() -> None:
    """README.md's "Command line" table is where a reader looks for a command: each command of
    every group is in it, and each ``--option`` it writes is one of that group's commands."""
    cells = _readme_command_cells()
    context = click.Context(main)
    missing, unknown = [], []
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        rows = [words[2:] for words in cells if words[1] == name]
        if isinstance(command, click.Group):
            subcontext = click.Context(command)
            for sub in command.list_commands(subcontext):
                if not any(sub in row for row in rows):
                    missing.append(f"{name} {sub}")
        elif not rows:
            missing.append(name)
        options = _options(command)
        unknown += [
            f"{name} {word}"
            for row in rows
            for word in row
            if word.startswith("--") and word != "--" and word not in options
        ]
    assert (missing, unknown) == ([], [])

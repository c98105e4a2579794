"""docs/deployment.md's one-host recipe, run as written outside sandbox mode: its commands in
order on empty data and keys folders, then the server it starts answers."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import requests

from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.servers import REALM
from tests.support.servers import SANTEID
from tests.support.servers import running_server
from tests.support.servers import santeid_env

pytestmark = pytest.mark.server


def one_host_commands() -> list[list[str]]:
    """The commands of the first ``sh`` block under "One host (embedded)", without comments."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("## One host (embedded)")[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "docs/deployment.md: the one-host recipe"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines()]


def test_the_one_host_recipe_starts_a_server(tmp_path):
    commands = one_host_commands()
    *setup, serve = commands
    assert serve[:2] == ["santeid", "serve"], serve
    # Outside sandbox mode, empty folders: what an operator starts from.
    env = santeid_env(tmp_path, SANTEID_SANDBOX=None, SANTEID_SANDBOX_APPROVAL_DELAY=None,
                      SANTEID_CONFIG="")  # fmt: skip
    for command in setup:
        assert command[0] == "santeid", command
        # The same commands, on a smaller civil-status base.
        previous = ["", *command[:-1]]
        command = [
            "2000" if before == "--persons" else arg
            for before, arg in zip(previous, command, strict=True)
        ]
        result = subprocess.run(
            [SANTEID, *command[1:]], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, (command, result.stdout + result.stderr)

    port = free_port()
    args = [str(port) if arg == "5000" else arg for arg in serve[1:]]
    assert str(port) in args, serve
    base = f"http://127.0.0.1:{port}"
    with running_server([SANTEID, *args], env, tmp_path / "server.log", f"{base}/health"):
        discovery = requests.get(f"{base}{REALM}/.well-known/openid-configuration", timeout=5)
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == f"{base}{REALM}"

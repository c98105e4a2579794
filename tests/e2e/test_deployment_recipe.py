"""docs/deployment.md's one-host recipe, run as written outside sandbox mode: its commands in
order on empty data and keys folders, then the server it starts answers, with the keys the
commands made and none of its own. keys/README.md's production recipe the same way, its keys
folder copied to two hosts as a secret volume would be: both start and sign with the same
keys."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.servers import REALM
from tests.support.servers import SANTEID
from tests.support.servers import production_process
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

    made = _files(tmp_path / "keys")
    port = free_port()
    args = [str(port) if arg == "5000" else arg for arg in serve[1:]]
    assert str(port) in args, serve
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with running_server([SANTEID, *args], env, log, f"{base}/health"):
        discovery = requests.get(f"{base}{REALM}/.well-known/openid-configuration", timeout=5)
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == f"{base}{REALM}"
    _no_key_of_its_own(tmp_path / "keys", made, log)


def _files(folder: Path) -> dict[str, bytes]:
    """The files of a keys folder and their bytes (lock files aside)."""
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.endswith(".lock")
    }


def _no_key_of_its_own(keys: Path, made: dict[str, bytes], log: Path) -> None:
    """The server started with the keys the commands made, and made or changed none: a keys
    folder on a read-only secret volume would do, and hosts sharing copies of it sign, and
    push (VAPID), with the same keys."""
    assert _files(keys) == made, sorted(set(_files(keys)) ^ set(made))
    assert "Web Push disabled" not in log.read_text()


def production_key_commands() -> list[list[str]]:
    """keys/README.md, "Production": the commands of its ``sh`` block, without comments."""
    section = (ROOT / "keys" / "README.md").read_text().split("## Production")[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "keys/README.md: the production recipe"
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    return [command for command in commands if command]


def test_the_production_keys_recipe_gives_every_host_the_same_keys(tmp_path):
    secure = tmp_path / "secure" / "santeid-keys"
    env = santeid_env(tmp_path / "trusted", sandbox=False, SANTEID_CONFIG="")
    for command in production_key_commands():
        assert command[0] == "SANTEID_KEYS_DIR=/secure/santeid-keys", command
        assert command[1:3] == ["santeid", "keys"], command
        result = subprocess.run(
            [SANTEID, *command[2:]],
            env={**env, "SANTEID_KEYS_DIR": str(secure)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stdout + result.stderr)
    made = _files(secure)
    jwks = []
    for host in ("a", "b"):
        # The folder as a secret volume holds it on each host, read-only.
        keys = tmp_path / host / "keys"
        shutil.copytree(secure, keys)
        for path in keys.iterdir():
            path.chmod(0o400)
        keys.chmod(0o500)
        with production_process(
            tmp_path / host, behind_proxy=False, fresh_keys=True, log_name="server.log"
        ) as server:
            jwks.append(requests.get(f"{server.oidc}/certs", timeout=5).json())
        keys.chmod(0o700)
        _no_key_of_its_own(keys, made, server.log)
    assert jwks[0] == jwks[1] and jwks[0]["keys"]

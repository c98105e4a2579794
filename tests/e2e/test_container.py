"""The container image: built from the Dockerfile, its default command serves the sandbox with
demo data on one port. Needs a working container engine (Debian's podman, or docker with its
daemon); skipped with the reason otherwise."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.redis_server import free_port

pytestmark = [pytest.mark.server, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]


def _engine() -> tuple[str | None, str]:
    """The first usable engine, or None and why none is."""
    reasons = []
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name} is not installed")
            continue
        probe = subprocess.run([path, "info"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return path, ""
        last = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
        reasons.append(f"`{name} info` fails: {last[0]}")
    return None, "; ".join(reasons)


ENGINE, WHY_NOT = _engine()
if ENGINE is None:
    pytest.skip(f"no container engine: {WHY_NOT}", allow_module_level=True)


@pytest.fixture(scope="module")
def container():
    tag = f"santeid-test:{secrets.token_hex(4)}"
    subprocess.run([ENGINE, "build", "-t", tag, str(ROOT)], check=True, timeout=1500)
    port = free_port()
    name = f"santeid-test-{secrets.token_hex(4)}"
    subprocess.run(
        [
            ENGINE,
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:5000",
            "-e",
            f"SANTEID_ISSUER=http://127.0.0.1:{port}/auth/realms/esante-wallet",
            tag,
        ],  # fmt: skip
        check=True,
        timeout=120,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run([ENGINE, "logs", name], capture_output=True, text=True)
                raise RuntimeError("the container did not start:\n" + logs.stdout + logs.stderr)
            time.sleep(1)
        yield base
    finally:
        subprocess.run([ENGINE, "stop", name], check=False, timeout=60)
        subprocess.run([ENGINE, "rmi", "-f", tag], check=False, timeout=120)


def test_default_command_serves_the_sandbox_with_demo_data(container):
    home = requests.get(container + "/", timeout=5)
    assert home.headers["X-Santeid-Sandbox"] == "true"
    assert "810000000032" in home.text  # the scenarios table
    answer = requests.get(f"{container}/sandbox/api/professionals/810000000030", timeout=5)
    assert answer.json()["scenario"]["outcome"] == "approve"
    assert requests.get(container + "/api-docs/insi", timeout=5).status_code == 200

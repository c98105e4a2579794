"""examples/psc-service keeps working: its own tests (which use the santeid_server fixture of
the installed plugin) run in a pytest subprocess, as its developers run them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "psc-service"
#: What building santeid from a checkout reads (pyproject.toml's wheel target).
SOURCES = ("pyproject.toml", "README.md", "src", "templates", "docs/ecps-device-openapi.yaml")


def test_example_service_tests_pass():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


@pytest.mark.timeout(900)
def test_the_example_readme_commands_run_as_written(tmp_path):
    """The README's commands, run as a newcomer pastes them, in a copy of the checkout: a new
    virtual environment, santeid installed from the checkout (it is not on PyPI), the
    service's tests passing. Packages come from the configured package index."""
    checkout = tmp_path / "santeid"
    ignore = shutil.ignore_patterns("__pycache__", ".venv", "*.pyc")
    for name in SOURCES:
        source, target = ROOT / name, checkout / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    example = checkout / "examples" / "psc-service"
    shutil.copytree(EXAMPLE, example, ignore=ignore)
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        ["bash", "-ec", commands],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout


def test_the_readme_virtual_environment_is_not_a_change_to_commit():
    """The README makes ``.venv`` in the example's folder, inside the checkout: git ignores it,
    so ``git status`` does not list thousands of installed files to commit."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", "examples/psc-service/.venv/bin/python"],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr

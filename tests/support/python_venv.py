"""A Python program the suite cannot import — its pins clash with the project's own (Synapse's
Twisted and pyOpenSSL with ``cryptography``) — installed at test time in a virtual environment
of its own from a locked requirements file committed in the test's folder
(``requirements.txt``: every version pinned, every file's ``--hash``), as
:func:`tests.support.node.install_locked` installs a Node.js folder with ``npm ci``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.node import folder_lock

#: What pip says when it reaches no package index: the test is then skipped, not failed.
UNREACHABLE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
    "Max retries exceeded",
)


def install_locked_venv(folder: Path, module: str) -> Path:
    """``folder/.venv`` (git-ignored) with ``folder/requirements.txt`` installed by
    ``pip install --require-hashes``, unless ``module`` already imports there; its Python.
    Test workers that need it at the same time install it once: the others wait on a lock.
    Skips the test when pip reaches no package index (the registry is out of reach);
    any other failure fails it."""
    venv = folder / ".venv"
    python = venv / "bin" / "python"
    stamp = venv / "santeid-requirements.txt"
    requirements = (folder / "requirements.txt").read_text()

    def installed() -> bool:
        return stamp.exists() and stamp.read_text() == requirements

    if installed():
        return python
    with folder_lock(folder, "venv"):
        if not installed():
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(venv)],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
            result = subprocess.run(
                [str(python), "-m", "pip", "install", "--no-input",
                 "--disable-pip-version-check", "--require-hashes", "--no-deps",
                 "-r", str(folder / "requirements.txt")],
                capture_output=True, text=True, timeout=900, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                output = result.stdout + result.stderr
                if any(sign in output for sign in UNREACHABLE):
                    pytest.skip(f"the package index is out of reach: {output[-500:]}")
                raise AssertionError(output[-3000:])
            check = subprocess.run(
                [str(python), "-c", f"import {module}"], capture_output=True, text=True,
                timeout=120, check=False,
            )  # fmt: skip
            assert check.returncode == 0, check.stderr
            stamp.write_text(requirements)
    return python

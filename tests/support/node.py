"""Node.js for the tests that drive real JavaScript clients (keycloak-js, openid-client, the
INSi SOAP example): where ``node`` and ``npm`` are, the mark that skips such a test without
them, and a folder's locked dependencies installed with ``npm ci`` (``.ci/run`` installs
Debian's nodejs and npm when they are missing)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

NODE = shutil.which("node")
NPM = shutil.which("npm")

#: Skips a test (or module, in ``pytestmark``) on a machine without ``node`` and ``npm``.
needs_node_and_npm = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="node and npm are not installed (Debian: apt-get install nodejs npm; .ci/run "
    "installs them)",
)


def npm_installed(folder: Path, package: str) -> Path:
    """``folder``'s ``node_modules`` installed from its lock file (``npm ci``) when ``package``
    is missing from it — one installation at a time when the tests run on several workers, each
    of which needs it — and ``folder``'s ``client.js``."""
    installed = folder / "node_modules" / package / "package.json"
    lock_path = Path(tempfile.gettempdir()) / f"santeid-npm-{folder.name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed.exists():
            result = subprocess.run(
                [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
    return folder / "client.js"

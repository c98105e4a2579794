"""Locked npm packages the tests drive: a folder's ``package.json`` and ``package-lock.json``
installed with ``npm ci`` into its git-ignored ``node_modules`` the first time (``.ci/run``
installs Debian's nodejs and npm when they are missing)."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path


def install_locked(folder: Path, package: str) -> Path:
    """``folder``'s locked dependencies, installed with ``npm ci`` unless ``package`` already
    is; the installed package's folder. Test workers that need it at the same time install it
    once: the others wait on a lock (``npm ci`` starts by removing ``node_modules``)."""
    installed = folder / "node_modules" / package
    if (installed / "package.json").exists():
        return installed
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"santeid-npm-ci-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (installed / "package.json").exists():
            npm = shutil.which("npm")
            assert npm is not None, "npm missing: apt-get install nodejs npm (.ci/run installs it)"
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
    return installed

"""Locked npm packages the tests drive: a folder's ``package.json`` and ``package-lock.json``
installed with ``npm ci`` into its git-ignored ``node_modules`` the first time (``.ci/run``
installs Debian's nodejs and npm when they are missing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def install_locked(folder: Path, package: str) -> Path:
    """``folder``'s locked dependencies, installed with ``npm ci`` unless ``package`` already
    is; the installed package's folder."""
    installed = folder / "node_modules" / package
    if not (installed / "package.json").exists():
        npm = shutil.which("npm")
        assert npm is not None, "npm missing: apt-get install nodejs npm (.ci/run installs it)"
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    return installed

"""A pytest run inside a test, for the tests of the suite's own plugins (tests/support)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUPPORT_DIR = Path(__file__).resolve().parent


def run_pytest(
    directory: Path, plugins: tuple[str, ...], *args: str, timeout: float = 240, **env: str
) -> subprocess.CompletedProcess:
    """pytest run on ``directory`` with ``plugins`` as its only plugins (tests/support on its
    path). Not the plugins installed (hypothesis, schemathesis, cov…: loading them is most of a
    short run's time, which a loaded machine once stretched past two minutes), nor the calling
    run's coverage measurement, worker identity or standard input (an xdist worker's channel to
    its controller)."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("COV_CORE_", "COVERAGE_", "PYTEST_"))
    }
    environment = dict(
        inherited, PYTHONPATH=str(SUPPORT_DIR), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env
    )
    loaded = [word for plugin in plugins for word in ("-p", plugin)]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *loaded,
         "--rootdir", str(directory), *args, str(directory)],
        env=environment, cwd=directory, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip

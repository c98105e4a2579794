"""Every module of santeid imports when it is the first of santeid to be imported: an import
cycle between packages (``santeid.psc`` → ``santeid.oidc`` → ``santeid.ecps`` → ``santeid.psc``)
breaks only the code that happens to import the wrong module first — a command, a worker, a
test helper — never the app factory, which imports everything in one order."""

from __future__ import annotations

import subprocess
import sys

# Run in a child interpreter: the test empties santeid from ``sys.modules`` (and its metrics
# from Prometheus's registry) before each import; third-party packages stay loaded, so a
# module costs only santeid's own import.
SCRIPT = """
import importlib, pkgutil, sys
import prometheus_client
import santeid
names = sorted(i.name for i in pkgutil.walk_packages(santeid.__path__, prefix="santeid."))
failed = {}
for name in names:
    for loaded in [m for m in sys.modules if m == "santeid" or m.startswith("santeid.")]:
        del sys.modules[loaded]
    # Metrics register in the process-wide registry when their module loads: forget them too.
    for collector in list(prometheus_client.REGISTRY._collector_to_names):
        prometheus_client.REGISTRY.unregister(collector)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)[:300]
print(len(names), failed)
"""


def test_every_module_imports_when_it_is_imported_first():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    count, failed = result.stdout.split(" ", 1)
    assert int(count) > 100
    assert failed.strip() == "{}", failed

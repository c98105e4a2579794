"""Every module of santeid imports when it is the first of santeid to be imported: an import
cycle between packages (``santeid.psc`` → ``santeid.oidc`` → ``santeid.ecps`` → ``santeid.psc``)
breaks only the code that happens to import the wrong module first — a command, a worker, a
test helper — never the app factory, which imports everything in one order."""

from __future__ import annotations

import subprocess
import sys

# Run in a child interpreter. It imports every module once, so that the third-party packages
# are loaded, then forgets santeid (``sys.modules``, and its metrics in Prometheus's registry).
# Importing ``a.b.c`` first imports ``a``, then ``a.b``, each whole, before ``a.b.c`` itself
# (https://docs.python.org/3/reference/import.html#searching): so the package ``santeid`` is
# imported once, and every module is imported in a process forked from the one where its
# package was just imported first. No module sees what a sibling loaded, and each costs only
# its own part of santeid. Every process writes one line, ``name``, a tab and the failure.
SCRIPT = """
import contextlib, importlib, os, pkgutil, sys, tempfile
import prometheus_client
import santeid
names = sorted(i.name for i in pkgutil.walk_packages(santeid.__path__, prefix="santeid."))
for name in names:
    with contextlib.suppress(Exception):  # a failure here is found again below, alone
        importlib.import_module(name)
for loaded in [m for m in sys.modules if m == "santeid" or m.startswith("santeid.")]:
    del sys.modules[loaded]
for collector in list(prometheus_client.REGISTRY._collector_to_names):
    prometheus_client.REGISTRY.unregister(collector)
report = tempfile.NamedTemporaryFile("r", suffix=".txt")

def each_module_of(package):
    for info in pkgutil.iter_modules(package.__path__, prefix=package.__name__ + "."):
        pid = os.fork()
        if pid == 0:
            failure = ""
            try:
                module = importlib.import_module(info.name)
            except BaseException as exc:
                failure = repr(exc)[:300].replace("\\n", " ")
            line = f"{info.name}\\t{failure}\\n".encode()
            fd = os.open(report.name, os.O_WRONLY | os.O_APPEND)
            os.write(fd, line)
            os.close(fd)
            if info.ispkg and not failure:
                each_module_of(module)
            os._exit(0)
        os.waitpid(pid, 0)

import santeid
each_module_of(santeid)
seen = dict(line.rstrip("\\n").split("\\t", 1) for line in report)
failed = {name: failure for name, failure in seen.items() if failure}
failed.update({name: "not reached" for name in names if name not in seen})
print(len(seen), failed)
"""


def test_every_module_imports_when_it_is_imported_first():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    count, failed = result.stdout.split(" ", 1)
    assert int(count) > 100
    assert failed.strip() == "{}", failed


#: Every command's module, then what each loads, and whether Flask came with them.
COMMANDS_SCRIPT = """
import importlib, pkgutil, sys
import santeid.cli
for info in pkgutil.iter_modules(santeid.cli.__path__, prefix="santeid.cli."):
    importlib.import_module(info.name)
print("flask" in sys.modules, "santeid.services" in sys.modules)
"""


def test_the_commands_load_without_flask():
    """The commands' modules load ``santeid.services`` (``santeid clients``: client_auth,
    tls_client_auth) but not Flask, which ``services()`` imports when called
    (docs/performance.md, "The CLI imports only what a command needs")."""
    result = subprocess.run(
        [sys.executable, "-c", COMMANDS_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]

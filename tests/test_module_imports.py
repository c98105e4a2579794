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


#: The imports made inside functions of the OIDC, CIBA and login packages, each with its
#: reason: none is in a request path but Flask's (santeid.tls) of certificate checks, which
#: client registration must not load. Anything else imports at module level; an import cycle
#: is broken by moving code, not hidden in a function (docs/architecture.md).
CALL_TIME_IMPORTS = {
    # Flask, through santeid.tls: tls_client_auth is loaded by ``santeid clients``.
    ("oidc/tls_client_auth.py", "_presented_thumbprint"): {"santeid.oidc.protector",
                                                            "santeid.tls"},
    ("oidc/tls_client_auth.py", "__call__"): {"santeid.tls"},
    # Once, at start-up, or at client registration: never in a request.
    ("oidc/client_auth.py", "register_methods"): {"authlib.oauth2.rfc6749"},
    ("oidc/clients.py", "_check_uri"): {"santeid.ecps.webhooks"},
    ("oidc/clients.py", "_validate_logout_and_origins"): {"santeid.ecps.webhooks"},
    ("ciba/__init__.py", "register_client_checks"): {"santeid.ciba.metadata",
                                                     "santeid.oidc.clients"},
    ("ciba/__init__.py", "_register_routes"): {"flask", "santeid", "santeid.ciba"},
    ("ciba/__init__.py", "init_app"): {"santeid.ciba.endpoint", "santeid.ciba.grant"},
    ("ciba/metadata.py", "push_is_off"): {"santeid.settings.base"},
    ("ciba/metadata.py", "validate_ciba_metadata"): {"santeid.ecps.webhooks"},
    ("ciba/metadata.py", "check_registered_clients"): {"santeid.settings"},
    ("login/__init__.py", "init_app"): {"santeid.login", "santeid.login.transactions",
                                        "santeid.login.views"},
}  # fmt: skip


def _call_time_imports() -> dict[tuple[str, str], set[str]]:
    import ast

    from tests.support.paths import ROOT

    source = ROOT / "src" / "santeid"
    found: dict[tuple[str, str], set[str]] = {}
    for package in ("oidc", "ciba", "login"):
        for path in sorted((source / package).rglob("*.py")):
            for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import):
                        modules = {alias.name for alias in node.names}
                    elif isinstance(node, ast.ImportFrom):
                        modules = {node.module or ""}
                    else:
                        continue
                    where = (str(path.relative_to(source)), function.name)
                    found.setdefault(where, set()).update(modules)
    return found


def test_request_paths_import_at_module_level():
    assert _call_time_imports() == CALL_TIME_IMPORTS

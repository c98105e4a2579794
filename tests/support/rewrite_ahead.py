"""pytest plugin: the test modules' assertions rewritten once, on every core, before the xdist
workers start.

To collect the suite, each worker imports every test module, and pytest rewrites a test
module's ``assert`` statements as it imports it, caching the result in ``__pycache__`` when
bytecode may be written
(https://docs.pytest.org/en/stable/how-to/assert.html#assertion-introspection-details). The
workers start together, so each of them rewrote every module, under coverage. Here the
controller rewrites them first, split over the cores, and the workers read the cache:
collecting the suite on four workers with coverage took 47–48 s of CPU, 26–32 s after
(docs/performance.md, "The test suite"). It calls pytest's own
rewriting functions, which are not public: when they are missing (another pytest), it does
nothing and the workers rewrite as before. With ``PYTHONDONTWRITEBYTECODE`` set there is no
cache to fill (``make test`` empties it).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path


def pytest_configure(config) -> None:
    if sys.dont_write_bytecode or hasattr(config, "workerinput"):
        return
    if not config.getoption("numprocesses", None):
        return  # no workers: the one process rewrites each module as it imports it
    try:
        from _pytest.assertion.rewrite import PYC_TAIL
        from _pytest.assertion.rewrite import _read_pyc
        from _pytest.assertion.rewrite import _rewrite_test
        from _pytest.assertion.rewrite import _write_pyc
        from _pytest.assertion.rewrite import assertstate_key
        from _pytest.assertion.rewrite import get_cache_dir
        from _pytest.assertion.rewrite import try_makedirs
    except ImportError:
        return
    if assertstate_key not in config.stash:
        return  # assertions are not rewritten in this run (--assert=plain)
    state = config.stash[assertstate_key]

    def rewrite(modules: list[Path]) -> None:
        for module in modules:
            try:
                cache = get_cache_dir(module)
                pyc = cache / (module.name[:-3] + PYC_TAIL)
                if _read_pyc(module, pyc) is not None or not try_makedirs(cache):
                    continue
                source_hash, code = _rewrite_test(module, config)
                _write_pyc(state, code, source_hash, pyc)
            except Exception:  # noqa: BLE001, S112 - pytest's internals changed, or a syntax
                continue  # error: the worker that imports the module rewrites it, or reports it

    modules = _test_modules(config)
    cores = max(1, len(os.sched_getaffinity(0)))
    children = []
    for share in range(1, cores):
        pid = os.fork()
        if pid == 0:
            try:
                rewrite(modules[share::cores])
            finally:
                os._exit(0)  # no atexit handler of the parent's (coverage) runs here
        children.append(pid)
    rewrite(modules[::cores])
    for pid in children:
        os.waitpid(pid, 0)


def _test_modules(config) -> list[Path]:
    """The files pytest rewrites when it imports them: test modules (``python_files``) and
    ``conftest.py`` files, under the paths the run was given."""
    patterns = [*config.getini("python_files"), "conftest.py"]
    roots = [Path(arg.split("::", 1)[0]) for arg in config.args] or [config.rootpath]
    found: set[Path] = set()
    for root in roots:
        root = root if root.is_absolute() else config.invocation_params.dir / root
        candidates = [root] if root.is_file() else root.rglob("*.py")
        for path in candidates:
            # Installed third-party code (tests.support.paths.INSTALLED; this plugin also
            # loads alone, outside the tests package): Node.js packages, a program's venv.
            if {"__pycache__", "node_modules", ".venv"} & set(path.parts):
                continue
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
                found.add(path.resolve())
    return sorted(found)

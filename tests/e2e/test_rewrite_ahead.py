"""The test modules rewritten ahead of the xdist workers (tests/support/rewrite_ahead.py): the
cache is written by the controller, and what a worker reads from it is pytest's rewritten module
(a failing ``assert`` still explains itself)."""

from __future__ import annotations

from pathlib import Path

from tests.support import nested_pytest

FAILING = "def test_compares():\n    left, right = 1, 2\n    assert left == right\n"
#: A worker lists the rewritten modules cached when it starts, before it imports any test module.
LIST_CACHE_IN_WORKER = """
from pathlib import Path

def pytest_configure(config):
    if hasattr(config, "workerinput"):
        here = Path(__file__).parent
        cached = sorted(p.name.split(".")[0] for p in here.glob("__pycache__/*-pytest-*.pyc"))
        (here / "seen-by-worker.txt").write_text(" ".join(cached))
"""


def _run_pytest(tmp_path: Path, *args: str, write_bytecode: bool = True):
    return nested_pytest.run_pytest(
        tmp_path, ("xdist.plugin", "rewrite_ahead"), *args, timeout=120,
        PYTHONDONTWRITEBYTECODE="" if write_bytecode else "1",
    )  # fmt: skip


def test_the_controller_rewrites_every_test_module_and_the_workers_read_it(tmp_path):
    (tmp_path / "conftest.py").write_text(LIST_CACHE_IN_WORKER)
    (tmp_path / "test_failing.py").write_text(FAILING)
    (tmp_path / "helper.py").write_text("VALUE = 1\n")  # not a test module: never rewritten
    result = _run_pytest(tmp_path, "-n", "1")
    assert (tmp_path / "seen-by-worker.txt").read_text() == "conftest test_failing"
    # The worker ran the cached module: pytest's explanation of the failed comparison.
    assert result.returncode == 1
    assert "assert 1 == 2" in result.stdout, result.stdout + result.stderr


def test_nothing_is_written_where_bytecode_must_not_be(tmp_path):
    (tmp_path / "test_failing.py").write_text(FAILING)
    result = _run_pytest(tmp_path, "-n", "1", write_bytecode=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (tmp_path / "__pycache__").exists()

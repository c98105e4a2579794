"""What happens to INSi audit rows still queued when a process stops (santeid.insi.audit):
written on a clean stop — interpreter exit, or the end of a multiprocessing worker such as
Granian's — lost on a crash (the documented window). The writer is made to wait a minute, so
every row is still queued when the process ends."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from santeid import db
from santeid.insi.audit import AuditLog
from tests.support.paths import ROOT

ROWS = 7


def _queue_rows(url: str, key: str, ready=None) -> None:
    from santeid.insi.audit import AuditLog
    from santeid.insi.model import CallContext

    audit = AuditLog(db.open_url(url), key_path=key)
    audit.FLUSH_SECONDS = 60  # the writer would wait a minute: only the exit writes
    audit.FLUSH_ROWS = 10_000
    ctx = CallContext("LOGICIEL-A", None, None, "rest", "bearer")
    for _ in range(ROWS):
        audit.record(ctx, "rechercherInsAvecTraitsIdentite", "00")
    if ready is not None:
        ready.set()
        signal.pause()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/insi.sqlite3"
    return request.getfixturevalue("postgres_url")


def _written(url: str, tmp_path) -> int:
    database = db.open_url(url)
    try:
        return len(AuditLog(database, key_path=tmp_path / "k").rows(limit=100))
    finally:
        database.close()


def test_a_multiprocessing_worker_writes_its_queue_when_it_ends(url, tmp_path):
    child = multiprocessing.get_context("fork").Process(
        target=_queue_rows, args=(url, str(tmp_path / "k"))
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert _written(url, tmp_path) == ROWS


def test_a_process_that_exits_writes_its_queue(url, tmp_path):
    script = textwrap.dedent(
        f"""
        from tests.db.test_audit_shutdown import _queue_rows
        _queue_rows({url!r}, {str(tmp_path / "k")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, cwd=ROOT)
    assert _written(url, tmp_path) == ROWS


def test_a_crash_loses_only_what_was_queued(url, tmp_path):
    """kill -9: the rows of the last flush period are lost (here all of them, as the writer
    was made to wait); what was committed before stays."""
    ready = multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(
        target=_queue_rows, args=(url, str(tmp_path / "k"), ready)
    )
    child.start()
    assert ready.wait(30)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert _written(url, tmp_path) == 0

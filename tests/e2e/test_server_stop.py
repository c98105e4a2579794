"""A SIGTERM stops ``santeid serve --workers 2`` at any moment of its start: while the
application is built once before the workers, and while the workers build theirs — to the
whole process group (``docker stop``, systemd's ``KillMode=control-group``, Ctrl-C in a
terminal) or to the main process alone (``kill PID``). The server is gone within the bound
docs/deployment.md states (:data:`santeid.serving.STOP_SECONDS`), and a clean stop leaves
nothing behind: no metrics directory, no entry in ``serving.json``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from santeid.serving import STOP_SECONDS
from tests.support.redis_server import free_port
from tests.support.servers import SANTEID
from tests.support.servers import child_pids
from tests.support.servers import group_pids
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process
from tests.support.servers import stop_process_group

pytestmark = [pytest.mark.server, pytest.mark.redis]

#: A line each layout writes as it reaches a moment of its start.
FIRST_BUILD = "workers' metrics in"
GRANIAN_WORKERS = "Spawning worker-2"
GUNICORN_WORKERS = "Booting worker"
#: Past the bound, what a loaded machine may add to a process's exit.
MARGIN_SECONDS = 5


def _wait_for_line(log: Path, line: str, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if line in text:
            return text
        assert process.poll() is None, text[-3000:]
        time.sleep(0.01)
    raise AssertionError(f"no {line!r} in {log.read_text()[-3000:]}")


@pytest.mark.parametrize("to", ["group", "main process"])
@pytest.mark.parametrize(
    ("layout", "moment"),
    [
        ("granian", FIRST_BUILD),
        ("granian", GRANIAN_WORKERS),
        ("gunicorn", FIRST_BUILD),
        ("gunicorn", GUNICORN_WORKERS),
    ],
)
def test_a_sigterm_at_any_moment_of_a_start_stops_the_server(
    tmp_path, redis_url, layout, moment, to
):
    home = santeid_home(tmp_path / "home", SANTEID_STORE_URL=redis_url, SANTEID_ISSUER=None)
    args = ["--workers", "2"]
    if layout == "gunicorn":
        tls, _ = home.dev_tls()
        args += tls
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SANTEID, "serve", "--port", str(free_port()), *args],
            env=home.env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        text = _wait_for_line(log, moment, process)
        metrics = Path(re.search(r"workers' metrics in (\S+)", text).group(1))
        signalled = time.monotonic()
        if to == "group":
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.send_signal(signal.SIGTERM)
        while group_pids(process.pid) and time.monotonic() - signalled < 3 * STOP_SECONDS:
            time.sleep(0.1)
        took = time.monotonic() - signalled
        left = group_pids(process.pid)
        assert not left, f"still running {took:.0f} s after SIGTERM: {left}\n{log.read_text()}"
        assert took < STOP_SECONDS + MARGIN_SECONDS, log.read_text()
        assert process.wait(5) == 0, log.read_text()
        assert not metrics.exists(), log.read_text()
        record = Path(home.env["SANTEID_DATA_DIR"]) / "serving.json"
        if record.exists():
            entries = json.loads(record.read_text()).get("servers", [])
            assert all(entry.get("pid") != process.pid for entry in entries), entries
        assert "Traceback" not in log.read_text()
    finally:
        stop_process_group(process)


@pytest.mark.parametrize("layout", ["granian", "gunicorn"])
def test_a_worker_that_does_not_stop_is_killed_within_the_bound(tmp_path, redis_url, layout):
    """A worker that cannot finish in time — frozen here (SIGSTOP), busy past the bound in
    life — is killed :data:`~santeid.serving.WORKER_STOP_SECONDS` after the SIGTERM: the
    server does not wait for it for ever."""
    args = ["--workers", "2"]
    ca: str | bool = True
    if layout == "gunicorn":
        tls, ca = santeid_home(tmp_path / "home").dev_tls()
        args += tls
    with santeid_process(
        tmp_path / "home", sandbox=True, args=args, ca=ca, SANTEID_STORE_URL=redis_url
    ) as server:
        workers = child_pids(server.process.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGSTOP)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        while group_pids(server.process.pid) and time.monotonic() - signalled < 3 * STOP_SECONDS:
            time.sleep(0.1)
        took = time.monotonic() - signalled
        left = group_pids(server.process.pid)
        assert not left, f"still running {took:.0f} s after SIGTERM: {left}"
        assert took < STOP_SECONDS + MARGIN_SECONDS, server.log.read_text()

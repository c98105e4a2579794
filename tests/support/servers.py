"""A real ``santeid serve`` process for the tests that need one: started with its output in a
log file, waited for until ``/health`` answers 200, stopped at the end (terminate, then kill)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests


@contextlib.contextmanager
def running_server(
    command: list[str],
    env: dict,
    log_path: Path,
    health_url: str,
    *,
    verify: str | bool = True,
    seconds: float = 30,
) -> Iterator[subprocess.Popen]:
    """Start ``command``; its output goes to ``log_path``, whose tail a failed start shows.

    ``verify``: the authority of an HTTPS ``health_url`` (a session that ignores
    ``REQUESTS_CA_BUNDLE``, which would override it)."""
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    probe = requests.Session()
    probe.trust_env = False
    probe.verify = verify
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if probe.get(health_url, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        probe.close()
        log.close()

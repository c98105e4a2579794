"""A real ``santeid serve`` process for the tests that need one: started with its output in a
log file, waited for until ``/health`` answers 200, stopped at the end (terminate, then kill).

:func:`santeid_process` is the one factory: free port, ``SANTEID_*`` environment of its own
folder, clients registered with the CLI before the start, readiness probe, log, teardown.
:func:`running_server` is its lower half, for commands it does not build (TLS listeners,
several hosts)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.redis_server import free_port

#: The ``santeid`` command of this interpreter's environment.
SANTEID = str(Path(sys.executable).with_name("santeid"))
REALM = "/auth/realms/esante-wallet"
#: How often a starting server is asked whether it is ready.
READINESS_POLL_SECONDS = 0.05


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
    # A session of its own: the teardown signals the whole process group, so the workers a
    # multi-worker server forks never outlive it, even when the parent has to be killed.
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    probe = requests.Session()
    probe.trust_env = False
    probe.verify = verify
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if probe.get(health_url, timeout=2).status_code == 200:
                    break
            # Not listening yet, or listening while its workers still build the application
            # (the TLS handshake or the answer then waits): both are "not ready yet".
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + log_path.read_text()[-3000:])
            time.sleep(READINESS_POLL_SECONDS)
        yield process
    finally:
        stop_process_group(process)
        probe.close()
        log.close()


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to the process group ``process`` leads (started with ``start_new_session``),
    SIGKILL to whatever is left of it after ``timeout`` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:  # workers that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class SanteidProcess:
    """A running ``santeid serve``: where it answers, its environment (for the CLI) and log."""

    base: str
    issuer: str
    env: dict[str, str]
    home: Path
    log: Path
    process: subprocess.Popen

    @property
    def oidc(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    @property
    def store_url(self) -> str:
        return self.env.get("SANTEID_STORE_URL", "")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``santeid …`` with this server's configuration."""
        result = subprocess.run(
            [SANTEID, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def register(self, client_id: str, **metadata) -> dict:
        """Register a client with ``santeid clients add`` (the server reads it from the store
        or data folder it shares with the CLI)."""
        document = {"client_id": client_id, "client_name": client_id, **metadata}
        path = self.home / f"{client_id}.json"
        path.write_text(json.dumps(document))
        self.cli("clients", "add", str(path))
        return document


def santeid_env(home: Path, issuer: str, **settings: str) -> dict[str, str]:
    """This process's environment without its ``SANTEID_*`` variables, then the server's own
    folders under ``home``, sandbox mode with no approval delay, and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    env.update(
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_ISSUER=issuer,
        SANTEID_SANDBOX="true",
        SANTEID_SANDBOX_APPROVAL_DELAY="0",
        HOME=str(home),
    )
    env.update(settings)
    return env


@contextlib.contextmanager
def santeid_process(
    home: Path,
    *,
    args: Iterable[str] = ("--sandbox",),
    clients: Iterable[dict] = (),
    log_name: str = "server.log",
    **settings: str,
) -> Iterator[SanteidProcess]:
    """``santeid serve`` on a free port with its data and keys under ``home``: ``settings`` as
    ``SANTEID_*`` variables (``SANTEID_STORE_URL=…``), ``args`` after ``--port``, ``clients``
    registered with the CLI before the start. Yields once ``/health`` answers 200."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = santeid_env(home, base + REALM, **settings)
    for client in clients:
        path = home / f"{client['client_id']}.json"
        path.write_text(json.dumps(client))
        subprocess.run(
            [SANTEID, "clients", "add", str(path)], env=env, check=True, capture_output=True
        )
    log = home / log_name
    command = [SANTEID, "serve", "--port", str(port), *args]
    with running_server(command, env, log, f"{base}/health") as process:
        yield SanteidProcess(base, base + REALM, env, home, log, process)

"""Pytest plugin: real ``redis-server`` processes and the ``store`` fixture.

Loaded by ``tests/conftest.py`` with ``pytest_plugins = ["fixtures_redis"]``.

* :class:`RedisServer` runs a throw-away ``redis-server`` on a free port (never 6379, so a
  developer's own Redis is never touched or flushed).
* ``redis_server`` (session): one server for the run; ``redis_url``: its db 0, flushed
  before each test.
* ``disposable_redis``: a server of the test's own, which it may stop, restart or freeze.
* ``store``: a fresh store per test, once per implementation (ids ``memory`` and
  ``redis``; the latter marked ``redis``); ``advance_time`` moves that store's clock.

Memory-only runs (``-m "not redis"``) never start a server.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import pytest
import redis

from santeid.storage import EphemeralStore
from santeid.storage import MemoryStore
from santeid.storage.redis import RedisStore

REDIS_SERVER_MISSING = (
    "redis-server not found: install it with `apt-get install redis-server` (Debian) "
    "— the Redis tests need a real server"
)
START_TIMEOUT = 10.0


#: A cluster node also listens on its port + 10 000 (the cluster bus), so its port must be at
#: most 55 535; the kernel's picks go up to 60 999 on Linux.
CLUSTER_BUS_OFFSET = 10_000


#: Where :func:`free_port` draws from: above the services of this machine kind (PostgreSQL,
#: Redis, MariaDB, RabbitMQ…), below the kernel's ephemeral ports.
LOWEST_FREE_PORT = 15_000


def _ephemeral_start() -> int:
    """The first port the kernel gives to outgoing connections (``ip_local_port_range``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


_PICKER = random.SystemRandom()


def free_port(highest: int = 65_535) -> int:
    """A TCP port nothing listens on right now, at most ``highest``, drawn at random below the
    kernel's ephemeral range: a port the kernel picked (``bind(("127.0.0.1", 0))``) is one it
    may also give to another test's outgoing connection before the server binds it ("Address
    already in use"); a port below that range it never gives away."""
    top = min(highest, _ephemeral_start() - 1)
    while True:
        port = _PICKER.randint(LOWEST_FREE_PORT, top)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or lingering): draw again
        return port


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A TCP port of 127.0.0.1 that refuses connections for as long as the block runs: bound,
    never listening. Linux answers a connection to a port bound without ``listen()`` with a
    reset (``ECONNREFUSED``), and while it stays bound the kernel gives the port to no one
    else — neither to another test's server (``bind`` fails: "Address already in use") nor to
    an outgoing connection. A port bound and closed at once (``bind(("127.0.0.1", 0))``) is
    free again: another test run in parallel may listen there, and the probe then reaches it
    instead of being refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class RedisServer:
    """A ``redis-server`` subprocess without persistence, for tests.

    ``port=None`` picks a free port on the first :meth:`start`; later starts reuse it, so a
    test can stop and restart "the same Redis" and check clients reconnect. ``extra_args``
    are appended to the command line (e.g. ``["--cluster-enabled", "yes"]``); ``config`` is
    written to a ``redis.conf`` passed first (needed by ``--sentinel``, which rewrites it).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        extra_args: Sequence[str] = (),
        config: str | None = None,
    ) -> None:
        self.port: int = port or 0
        self._fixed_port = port is not None
        self.extra_args = list(extra_args)
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def dir(self) -> Path:
        """Working directory of the running server (for unix sockets, node files…)."""
        if self._tmp is None:
            raise RuntimeError("the server is not started")
        return Path(self._tmp.name)

    def start(self) -> RedisServer:
        if self.process is not None:
            raise RuntimeError(f"redis-server already running on port {self.port}")
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail(REDIS_SERVER_MISSING, pytrace=False)
        # The port is free when picked but someone may grab it before redis binds it;
        # a fresh pick on the next attempt settles that race.
        retry_on_new_port = not (self._fixed_port or self.port)
        highest = 65_535
        if "--cluster-enabled" in self.extra_args:
            highest -= CLUSTER_BUS_OFFSET
        for _ in range(3 if retry_on_new_port else 1):
            if retry_on_new_port:
                self.port = free_port(highest)
            error = self._start_once(executable)
            if error is None:
                return self
        pytest.fail(error, pytrace=False)

    def _start_once(self, executable: str) -> str | None:
        self._tmp = tempfile.TemporaryDirectory(prefix="santeid-redis-")
        workdir = self.dir
        command = [executable]
        if self.config is not None:
            (workdir / "redis.conf").write_text(self.config)
            command.append(str(workdir / "redis.conf"))
        command += [
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(workdir),
            *self.extra_args,
        ]  # fmt: skip
        self._log = open(workdir / "redis.log", "wb")  # closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._answers_ping():
                return None
            time.sleep(0.02)
        log = (workdir / "redis.log").read_text(errors="replace")[-2000:]
        self.stop()
        return f"redis-server on port {self.port} did not answer PING:\n{log}"

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # A replica cut from its master answers -MASTERDOWN to PING, and is up all the same;
        # -LOADING means still reading its dataset.
        return reply.startswith((b"+PONG", b"-MASTERDOWN"))

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open but nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self._paused = False

    def stop(self) -> None:
        """Terminate the server and wait for it; data is gone (no persistence)."""
        if self.process is not None:
            if self._paused:
                # A stopped process would sit on SIGTERM until continued.
                self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None else "stopped"
        return f"<RedisServer port={self.port} {state}>"


class FakeClock:
    """Injectable ``clock`` for :class:`MemoryStore`: time moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session server's db 0, emptied (FLUSHDB) before the test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushdb()
    return redis_server.url


@pytest.fixture
def disposable_redis() -> Iterator[RedisServer]:
    """A running server of the test's own; stopped at teardown whatever the test did to it."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.redis)],
    ids=["memory", "redis"],
)
def store(request: pytest.FixtureRequest, fake_clock: FakeClock) -> Iterator[EphemeralStore]:
    """A fresh, empty store; the memory one runs on ``fake_clock``."""
    if request.param == "memory":
        instance: EphemeralStore = MemoryStore(clock=fake_clock)
    else:
        # Looked up only for this param so memory-only runs need no redis-server.
        instance = RedisStore.from_url(request.getfixturevalue("redis_url"))
    yield instance
    instance.close()


@pytest.fixture
def advance_time(store: EphemeralStore, fake_clock: FakeClock) -> Callable[[float], None]:
    """Let ``seconds`` pass for ``store``: instantly for memory, really for Redis.

    Keep Redis expiry tests few: each costs its full wait.
    """
    if isinstance(store, MemoryStore):
        return fake_clock.advance
    return time.sleep

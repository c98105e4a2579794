"""Pytest plugin: a real PostgreSQL server and a fresh database per run.

Loaded by ``tests/conftest.py`` (``pytest_plugins``). No mock and no SQLite standing in:

* ``postgres_admin_url`` (session): the server at ``127.0.0.1:5432`` (trust authentication,
  user ``postgres``, else ``root``) when one answers; otherwise a server of the suite's own,
  made with Debian's ``initdb`` and ``pg_ctl`` in a temporary directory on a free port, and
  stopped at the end. Without either, the PostgreSQL tests are skipped with the command that
  installs it (``.ci/run`` installs it where missing).
* ``postgres_database_url`` (session): a uniquely named database created for this run (and
  this xdist worker), dropped at the end — parallel and repeated runs never see each other.
* ``postgres_url``: a fresh schema of that database for one test (``search_path`` in the URL's
  ``options``), dropped after it: each test starts from empty tables, cheaply;
  ``postgres_module_url``: the same for a whole module.

Tests that use them are marked ``postgres``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.support.redis_server import free_port

SHARED_SERVER = ("127.0.0.1", 5432)
POSTGRES_MISSING = (
    "no PostgreSQL server at 127.0.0.1:5432 and no initdb to start one: install it with "
    "`apt-get install postgresql` (Debian)"
)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a free port, trust
    authentication on 127.0.0.1 only. As root it runs as the ``postgres`` user (PostgreSQL
    refuses to run as root)."""

    def __init__(self, bin_dir: Path, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="santeid-pg-"))
        self.data = self.root / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)
            self.prefix = ["runuser", "-u", "postgres", "--"]

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.start_again()

    def _processes(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer…)."""
        # Imported here: this plugin loads before pytest could rewrite that module's asserts.
        from tests.support.servers import child_pids

        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *child_pids(postmaster)]

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to each of its processes): connections stay open, the
        kernel still accepts and acknowledges, nothing answers."""
        self._paused = []
        for pid in self._processes():
            # A backend may end between the listing and the signal (a connection closing).
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self._paused.append(pid)

    def resume(self) -> None:
        for pid in getattr(self, "_paused", []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._paused = []

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is ended, the server comes back."""
        subprocess.run(
            [*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
             "-l", str(self.root / "log"), "-w", "-t", "30", "restart"],
            check=True, capture_output=True,
        )  # fmt: skip

    def shut_down(self) -> None:
        """``pg_ctl stop -m fast``, the cluster kept for :meth:`start_again`: connections are
        refused until then (an outage, as opposed to :meth:`pause`'s frozen server)."""
        subprocess.run(
            [*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
             "-w", "stop"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start_again(self) -> None:
        """Start the cluster :meth:`shut_down` stopped; returns once it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
             "-l", str(self.root / "log"), "-w", "-t", "30", "start"],
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        self.resume()
        subprocess.run(
            [*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
             "-w", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    host, port = SHARED_SERVER
    for user in ("postgres", "root"):
        url = f"postgresql://{user}@{host}:{port}/postgres"
        if _answers(url):
            yield url
            return
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip(POSTGRES_MISSING)
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server.admin_url
    finally:
        server.stop()


def _with_database(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of this run's own (``santeid_test_<pid>_<random>``), dropped at the end."""
    name = f"santeid_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres_admin_url, name)
    finally:
        from santeid import db

        db.close_shared()
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """The database seen through a new, empty schema (``search_path`` in the URL's
    ``options``), dropped at the end with everything in it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        from santeid import db

        db.close_shared(url)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_url(postgres_database_url: str) -> Iterator[str]:
    """A fresh schema of the run's database for one test: it starts from empty tables."""
    with fresh_schema(postgres_database_url) as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_url(postgres_database_url: str) -> Iterator[str]:
    """A fresh schema shared by the tests of one module (e.g. servers started once)."""
    with fresh_schema(postgres_database_url) as url:
        yield url

"""A real PgBouncer in front of the suite's PostgreSQL (``postgres_admin_url``), for the tests of
santeid behind one (docs/deployment.md, "PgBouncer"). Debian's ``pgbouncer`` package
(``.ci/run`` installs it where missing); Debian 12's is 1.18, which does not track
protocol-level prepared statements in transaction pooling mode (they came with 1.21,
https://www.pgbouncer.org/config.html#max_prepared_statements)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from tests.support.redis_server import free_port
from tests.support.servers import stop_process_group

PGBOUNCER_MISSING = "no pgbouncer here: install it with `apt-get install pgbouncer` (Debian)"


def pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    return "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None


def pgbouncer_version(binary: str) -> tuple[int, ...]:
    """``(1, 18, 0)`` from ``pgbouncer --version``'s first line (``PgBouncer 1.18.0``)."""
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"PgBouncer (\d+)\.(\d+)\.(\d+)", output.stdout)
    assert match is not None, output.stdout
    return tuple(int(part) for part in match.groups())


@contextlib.contextmanager
def pgbouncer(
    binary: str, database_url: str, *, pool_mode: str = "transaction", pool_size: int = 4
) -> Iterator[str]:
    """PgBouncer on a free port of 127.0.0.1 in front of the server of ``database_url`` (trust
    authentication, as the suite's server), ``pool_size`` server connections per database and
    user; yields ``database_url`` through it. As root it runs as the ``postgres`` user
    (PgBouncer refuses to run as root)."""
    parts = urlsplit(database_url)
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="santeid-pgbouncer-"))
    user = parts.username or "postgres"
    (root / "userlist.txt").write_text(f'"{user}" ""\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={parts.hostname} port={parts.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root / 'userlist.txt'}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\n"
        f"logfile = {root / 'log'}\n"
    )
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        for name in ("userlist.txt", "pgbouncer.ini"):
            shutil.chown(root / name, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    # A session of its own: stop_process_group ends runuser and PgBouncer together.
    process = subprocess.Popen(
        [*prefix, binary, str(root / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bounced = parts._replace(netloc=f"{user}@127.0.0.1:{port}").geturl()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(bounced, connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.Error:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = root / "log"
                    raise RuntimeError(
                        "pgbouncer did not start: " + (log.read_text() if log.exists() else "")
                    ) from None
                time.sleep(0.1)
        yield bounced
    finally:
        stop_process_group(process)
        shutil.rmtree(root, ignore_errors=True)

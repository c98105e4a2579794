"""A small pool of SQLite connections shared by threads, safe across ``fork``.

Servers start a thread per request (Werkzeug, gunicorn gthread): opening a connection per
thread would leak one per request, sharing one would serialise them. A thread takes a
connection for one unit of work and gives it back; a connection is never used by two
threads at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path


class ConnectionPool:
    """Connections to one SQLite file, opened in autocommit mode (``isolation_level=None``:
    callers say ``BEGIN`` themselves when they need a transaction).

    :param pragmas: statements run on every new connection (e.g. ``PRAGMA foreign_keys = ON``).
    :param busy_timeout: seconds a statement waits for another process's write lock.
    :param max_idle: idle connections kept for reuse; extra ones are closed when handed back.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        pragmas: tuple[str, ...] = (),
        busy_timeout: float = 5.0,
        max_idle: int = 8,
    ) -> None:
        self.path = Path(path)
        self.pragmas = pragmas
        self.busy_timeout = busy_timeout
        self.max_idle = max_idle
        self._lock = threading.Lock()  # guards the pool; never held during I/O
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()

    def open(self) -> sqlite3.Connection:
        """A new connection, outside the pool."""
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        for pragma in self.pragmas:
            conn.execute(pragma)
        return conn

    def take(self) -> sqlite3.Connection:
        with self._lock:
            if os.getpid() != self._pid:
                # SQLite forbids using, in a child process, a connection opened before the
                # fork (gunicorn --preload): forget the inherited ones without touching them.
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self.open()

    def give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle and os.getpid() == self._pid:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; the pool reopens on demand."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

"""Read-only access to the civil-status base (``docs/civil-status.md``) for the INSi service.

The base is a SQLite file written once by ``santeid civil generate`` and never modified in place
(the generator writes ``FILE.tmp`` and renames it).  The service therefore opens it with the
``immutable=1`` URI parameter: SQLite takes no lock and reads no journal, so any number of
threads and processes read it at full speed.

Memory stays flat whatever the base size (the INSi server's 300 MB memory budget,
``docs/performance.md``): one connection per thread, each with a small page cache
(:data:`CACHE_KIB`), no ``mmap`` (mapped pages would count in the workers' RSS). The operating
system's page cache, shared by all processes and not counted in their RSS, keeps the hot pages
of the indexes.

If the file is regenerated while the server runs, the rename gives it a new inode: connections
notice within :data:`RECHECK_SECONDS` and reopen it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from santeid.civil_status import schema
from santeid.insi.model import service_unavailable

#: Page cache of each connection, in KiB (SQLite ``cache_size`` negative = KiB).
CACHE_KIB = 2048
#: How often a connection checks whether the file was replaced.
RECHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class FaultCase:
    """A published query whose recorded answer is a SOAP fault (``published_cases``,
    ``expected = 'fault'``): D'AEION / COEUR → ``siram_40`` / ``insi_102``
    (docs/reference/insi-teleservice.md §9)."""

    birth_name: str
    given_names: tuple[str, ...]
    sex: str
    birth_date: str
    birthplace: str | None
    fault: str


class _Handle:
    __slots__ = ("conn", "inode", "checked", "faults")

    def __init__(self, conn: sqlite3.Connection, inode: int, faults: tuple[FaultCase, ...]) -> None:
        self.conn = conn
        self.inode = inode
        self.checked = time.monotonic()
        self.faults = faults


class CivilBase:
    """The civil-status base of one process: a connection per thread, opened on first use."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _open(self) -> _Handle:
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            raise service_unavailable(
                f"no civil-status base at {self.path}: generate one with "
                "'santeid civil generate --persons N' (or set insi_base)"
            ) from None
        try:
            conn = schema.connect_read_only(self.path, immutable=True)
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            # Explicit, whatever the SQLite build's default: mapped pages would count in RSS.
            conn.execute("PRAGMA mmap_size = 0")
        except schema.NotACivilBase:
            raise service_unavailable(
                f"{self.path} is not a santeid civil-status base of schema version "
                f"{schema.SCHEMA_VERSION}: regenerate it with 'santeid civil generate'"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise service_unavailable(f"{self.path} cannot be read as SQLite: {exc}") from None
        faults = tuple(
            FaultCase(
                birth_name=row[0],
                given_names=tuple(row[1].split()),
                sex=row[2],
                birth_date=row[3],
                birthplace=row[4],
                fault=row[5] or "",
            )
            for row in conn.execute(schema.SQL_FAULT_CASES)
        )
        return _Handle(conn, inode, faults)

    def _handle(self) -> _Handle:
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None:
            now = time.monotonic()
            if now - handle.checked < RECHECK_SECONDS:
                return handle
            handle.checked = now
            try:
                same = os.stat(self.path).st_ino == handle.inode
            except FileNotFoundError:
                same = True  # keep serving the file we have open
            if same:
                return handle
            handle.conn.close()
            self._local.handle = None
        handle = self._open()
        self._local.handle = handle
        return handle

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (raises :class:`InsiError` 503 if the base is missing)."""
        return self._handle().conn

    def fault_cases(self) -> tuple[FaultCase, ...]:
        return self._handle().faults

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        handle = getattr(self._local, "handle", None)
        if handle is not None:
            handle.conn.close()
            self._local.handle = None

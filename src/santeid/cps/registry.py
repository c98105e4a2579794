"""The card registry: test cards issued here, and revoked card certificates.

One SQLite file, ``{data_dir}/cps-cards.sqlite3``, shared by the command line and every server
process, so ``santeid cps revoke-card`` takes effect on the next login without a restart.
A revocation is keyed by the certificate serial number alone (RFC 5280 §4.1.2.2: unique per
issuing authority; the 159-bit random serials of santeid's test authority, and IGC-Santé's,
do not collide across authorities in practice). Any serial may be revoked, including a card
this registry never issued (e.g. a real IGC-Santé test card trusted through ``cps_ca_file``).

This stands in for the certificate revocation lists (RFC 5280 §5) a production deployment
would check; see docs/cps-card.md.
"""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from santeid.pki import name_text
from santeid.pki import serial_hex
from santeid.settings import Settings

FILE_NAME = "cps-cards.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    serial TEXT PRIMARY KEY,          -- upper-case hexadecimal, no leading zeros
    national_id TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',  -- RFC 4514 string
    issuer TEXT NOT NULL DEFAULT '',
    not_before INTEGER,
    not_after INTEGER,
    issued_at INTEGER,                 -- NULL: a card this registry did not issue
    revoked_at INTEGER,
    revocation_reason TEXT NOT NULL DEFAULT ''
)
"""


def normalize_serial(text: str) -> str:
    """A serial number as typed (``3A:4F:…``, ``0x3a4f…``, ``3a4f…``) → ``3A4F…``.

    Serials are always read as hexadecimal, as ``openssl x509 -serial`` and ``santeid cps
    list`` print them. Raises ``ValueError`` if the text is not hexadecimal.
    """
    value = "".join(text.split()).replace(":", "")
    if value[:2].lower() == "0x":
        value = value[2:]
    if not value or len(value) > 40:
        raise ValueError(f"not a certificate serial number: {text!r}")
    try:
        return format(int(value, 16), "X")
    except ValueError:
        raise ValueError(f"not a hexadecimal serial number: {text!r}") from None


@dataclass(frozen=True)
class CardRecord:
    serial: str
    national_id: str
    subject: str
    issuer: str
    not_before: int | None
    not_after: int | None
    issued_at: int | None
    revoked_at: int | None
    revocation_reason: str

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def status(self, now: float | None = None) -> str:
        """``revoked``, ``expired``, ``not_yet_valid`` or ``valid``."""
        now = time.time() if now is None else now
        if self.revoked:
            return "revoked"
        if self.not_after is not None and now > self.not_after:
            return "expired"
        if self.not_before is not None and now < self.not_before:
            return "not_yet_valid"
        return "valid"

    def as_json(self) -> dict:
        def iso(value: int | None) -> str | None:
            if value is None:
                return None
            return datetime.datetime.fromtimestamp(value, datetime.UTC).isoformat()

        return {
            "serial": self.serial,
            "national_id": self.national_id,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "issued_at": iso(self.issued_at),
            "revoked_at": iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "status": self.status(),
        }


class CardRegistry:
    """Reads and writes ``cps-cards.sqlite3``; a connection per call (cheap, fork-safe)."""

    BUSY_TIMEOUT = 5.0

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @classmethod
    def for_settings(cls, settings: Settings) -> CardRegistry:
        return cls(settings.data_path / FILE_NAME)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.BUSY_TIMEOUT, isolation_level=None)
        try:
            conn.execute(_SCHEMA)
            yield conn
        finally:
            conn.close()

    def record_issued(self, certificate: x509.Certificate, national_id: str) -> CardRecord:
        serial = serial_hex(certificate)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO cards (serial, national_id, subject, issuer, not_before, not_after,"
                " issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(serial) DO UPDATE SET national_id = excluded.national_id,"
                " subject = excluded.subject, issuer = excluded.issuer,"
                " not_before = excluded.not_before, not_after = excluded.not_after,"
                " issued_at = excluded.issued_at",
                (
                    serial,
                    national_id,
                    name_text(certificate.subject),
                    name_text(certificate.issuer),
                    int(certificate.not_valid_before_utc.timestamp()),
                    int(certificate.not_valid_after_utc.timestamp()),
                    int(time.time()),
                ),
            )
        record = self.get(serial)
        assert record is not None
        return record

    def revoke(self, serial: str, reason: str = "") -> tuple[CardRecord, bool]:
        """Revoke ``serial`` (any hexadecimal form); returns the record and whether it was
        revoked by this call (``False``: it already was)."""
        serial = normalize_serial(serial)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT revoked_at FROM cards WHERE serial = ?", (serial,)
            ).fetchone()
            newly = row is None or row[0] is None
            if row is None:
                conn.execute(
                    "INSERT INTO cards (serial, revoked_at, revocation_reason) VALUES (?, ?, ?)",
                    (serial, int(time.time()), reason),
                )
            elif newly:
                conn.execute(
                    "UPDATE cards SET revoked_at = ?, revocation_reason = ? WHERE serial = ?",
                    (int(time.time()), reason, serial),
                )
            conn.execute("COMMIT")
        record = self.get(serial)
        assert record is not None
        return record, newly

    def is_revoked(self, certificate: x509.Certificate) -> bool:
        if not self.path.exists():
            return False
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM cards WHERE serial = ? AND revoked_at IS NOT NULL",
                (serial_hex(certificate),),
            ).fetchone()
        return row is not None

    def get(self, serial: str) -> CardRecord | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM cards WHERE serial = ?",  # noqa: S608 (constant)
                (normalize_serial(serial),),
            ).fetchone()
        return CardRecord(*row) if row else None

    def list(self) -> list[CardRecord]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM cards ORDER BY issued_at IS NULL, issued_at, serial"  # noqa: S608
            ).fetchall()
        return [CardRecord(*row) for row in rows]


_COLUMNS = (
    "serial, national_id, subject, issuer, not_before, not_after, issued_at, revoked_at,"
    " revocation_reason"
)

"""The card registry: test cards issued here, and revoked card certificates.

Kept through :mod:`santeid.db` (embedded: ``{data_dir}/cps-cards.sqlite3``; several hosts:
PostgreSQL), shared by the command line and every server process and host, so
``santeid cps revoke-card`` takes effect on the next login without a restart.
A revocation is keyed by the certificate serial number alone (RFC 5280 §4.1.2.2: unique per
issuing authority; the 159-bit random serials of santeid's test authority, and IGC-Santé's,
do not collide across authorities in practice). Any serial may be revoked, including a card
this registry never issued (e.g. a real IGC-Santé test card trusted through ``cps_ca_file``).

This stands in for the certificate revocation lists (RFC 5280 §5) a production deployment
would check; see docs/cps-card.md.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from santeid import db
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.pki import name_text
from santeid.pki import serial_hex
from santeid.settings import Settings

FILE_NAME = "cps-cards.sqlite3"

SCHEMA = db.Schema(
    db.CPS,
    (
        db.Step(
            (
                "CREATE TABLE IF NOT EXISTS cards ("
                # upper-case hexadecimal, no leading zeros
                " serial TEXT PRIMARY KEY,"
                " national_id TEXT NOT NULL DEFAULT '',"
                # RFC 4514 strings
                " subject TEXT NOT NULL DEFAULT '',"
                " issuer TEXT NOT NULL DEFAULT '',"
                " not_before BIGINT,"
                " not_after BIGINT,"
                # NULL: a card this registry did not issue
                " issued_at BIGINT,"
                " revoked_at BIGINT,"
                " revocation_reason TEXT NOT NULL DEFAULT '')",
            )
        ),
    ),
)


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
        # Without ``now`` (``santeid cps list``): the machine's clock.
        now = system_clock() if now is None else now
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
    """Reads and writes the ``cards`` table through :mod:`santeid.db` (embedded:
    ``cps-cards.sqlite3``; several hosts: PostgreSQL). A revocation is committed before
    :meth:`revoke` returns, and every login reads it: it takes effect on every host at once.

    ``path``: the embedded SQLite file, or a :class:`~santeid.db.Database`."""

    def __init__(self, path: Path | str | db.Database, *, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.db = path if isinstance(path, db.Database) else db.SqliteDatabase(path, durable=True)

    @property
    def path(self) -> Path | None:
        return getattr(self.db, "path", None)

    @classmethod
    def for_settings(cls, settings: Settings, *, clock: Clock = system_clock) -> CardRegistry:
        return cls(db.database_for(settings, db.CPS), clock=clock)

    def _never_written(self) -> bool:
        """An embedded registry whose file does not exist yet: nothing issued or revoked
        (reading it would create the file)."""
        path = self.path
        return path is not None and not path.exists()

    def _execute(self, sql: str, params: tuple = ()) -> db.Result:
        db.ensure(self.db, SCHEMA)
        return self.db.execute(sql, params)

    def record_issued(self, certificate: x509.Certificate, national_id: str) -> CardRecord:
        serial = serial_hex(certificate)
        self._execute(
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
                int(self.clock()),
            ),
        )
        record = self.get(serial)
        assert record is not None
        return record

    def revoke(self, serial: str, reason: str = "") -> tuple[CardRecord, bool]:
        """Revoke ``serial`` (any hexadecimal form); returns the record and whether it was
        revoked by this call (``False``: it already was)."""
        serial = normalize_serial(serial)
        # One statement: a card never seen is inserted revoked, a known one is marked revoked
        # unless it already was (then nothing changes, rowcount 0) — atomic on both backends.
        newly = (
            self._execute(
                "INSERT INTO cards (serial, revoked_at, revocation_reason) VALUES (?, ?, ?)"
                " ON CONFLICT (serial) DO UPDATE SET revoked_at = excluded.revoked_at,"
                " revocation_reason = excluded.revocation_reason"
                " WHERE cards.revoked_at IS NULL",
                (serial, int(self.clock()), reason),
            ).rowcount
            == 1
        )
        record = self.get(serial)
        assert record is not None
        return record, newly

    def is_revoked(self, certificate: x509.Certificate) -> bool:
        if self._never_written():
            return False
        row = self._execute(
            "SELECT 1 FROM cards WHERE serial = ? AND revoked_at IS NOT NULL",
            (serial_hex(certificate),),
        ).fetchone()
        return row is not None

    def get(self, serial: str) -> CardRecord | None:
        row = self._execute(
            f"SELECT {_COLUMNS} FROM cards WHERE serial = ?",  # noqa: S608 (constant)
            (normalize_serial(serial),),
        ).fetchone()
        return CardRecord(*row) if row else None

    def list(self) -> list[CardRecord]:
        if self._never_written():
            return []
        rows = self._execute(
            f"SELECT {_COLUMNS} FROM cards ORDER BY issued_at IS NULL, issued_at, serial"  # noqa: S608
        ).fetchall()
        return [CardRecord(*row) for row in rows]


_COLUMNS = (
    "serial, national_id, subject, issuer, not_before, not_after, issued_at, revoked_at,"
    " revocation_reason"
)

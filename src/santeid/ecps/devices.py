"""Registered e-CPS devices, kept through :mod:`santeid.db` (embedded:
``{data_dir}/ecps.sqlite3``; several hosts: PostgreSQL).

A device is one phone holding one professional's e-CPS (docs/reference/pro-sante-connect.md §13): a
P-256 key pair made
on the phone (only the public JWK is here), an Argon2id hash of the PIN, a TOTP secret for the
offline code (RFC 6238) and a status:

* ``active`` — can approve logins;
* ``locked`` — ``ecps_pin_attempts`` wrong PINs in a row. Like a blocked CPS card it never
  unlocks: the professional activates a new device (docs/reference/pro-sante-connect.md §13,
  "Activation … même procédure
  en cas de renouvellement");
* ``revoked`` — withdrawn by an operator or by the professional.

Devices are durable (they outlive a Redis restart), unlike authentication requests, which
live in the ephemeral store. Connections are pooled per process (a connection opened before a
fork is never used in the child) and a connection serves one thread at a time.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from santeid import db
from santeid.clock import Clock
from santeid.clock import system_clock

FILE_NAME = "ecps.sqlite3"

STATUS_ACTIVE = "active"
STATUS_LOCKED = "locked"
STATUS_REVOKED = "revoked"
STATUSES = (STATUS_ACTIVE, STATUS_LOCKED, STATUS_REVOKED)

_DEVICES_V1 = (
    "CREATE TABLE IF NOT EXISTS devices ("
    " device_id               TEXT PRIMARY KEY,"
    " national_id             TEXT NOT NULL,"
    " name                    TEXT NOT NULL DEFAULT '',"
    " public_jwk              TEXT NOT NULL,"
    " jwk_thumbprint          TEXT NOT NULL UNIQUE,"
    " pin_hash                TEXT NOT NULL,"
    " totp_secret             TEXT NOT NULL,"
    " status                  TEXT NOT NULL DEFAULT 'active'"
    "                         CHECK (status IN ('active', 'locked', 'revoked')),"
    " consecutive_failed_pins INTEGER NOT NULL DEFAULT 0,"
    " sandbox_enrolled        INTEGER NOT NULL DEFAULT 0,"
    " webhook_url             TEXT,"
    " created_at              BIGINT NOT NULL,"
    " last_used_at            BIGINT)",
    "CREATE INDEX IF NOT EXISTS devices_by_professional ON devices (national_id, status)",
)
#: The e-CPS app's Web Push subscription of a device (``santeid.ecps.push``), one per device.
_PUSH_SUBSCRIPTIONS_V2 = (
    "CREATE TABLE IF NOT EXISTS push_subscriptions ("
    " device_id  TEXT PRIMARY KEY,"
    " endpoint   TEXT NOT NULL,"
    " p256dh     TEXT NOT NULL,"
    " auth       TEXT NOT NULL,"
    " lang       TEXT NOT NULL DEFAULT 'fr',"
    " created_at BIGINT NOT NULL)",
)
SCHEMA = db.Schema(db.ECPS, (db.Step(_DEVICES_V1), db.Step(_PUSH_SUBSCRIPTIONS_V2)))

_COLUMNS = (
    "device_id, national_id, name, public_jwk, jwk_thumbprint, pin_hash, totp_secret, status, "
    "consecutive_failed_pins, sandbox_enrolled, webhook_url, created_at, last_used_at"
)


class DuplicateKey(Exception):
    """Another device already registered this public key."""


@dataclass(frozen=True)
class Device:
    device_id: str
    national_id: str
    name: str
    public_jwk: dict[str, Any]
    jwk_thumbprint: str
    #: Secrets, kept out of the ``repr`` (what a log would print of a device).
    pin_hash: str = field(repr=False)
    totp_secret: str = field(repr=False)
    status: str
    consecutive_failed_pins: int
    sandbox_enrolled: bool
    webhook_url: str | None
    created_at: int
    last_used_at: int | None

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def public_info(self) -> dict[str, Any]:
        """What the device itself, the professional and operators may see (no secrets)."""
        return {
            "device_id": self.device_id,
            "national_id": self.national_id,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "webhook_url": self.webhook_url,
            "sandbox_enrolled": self.sandbox_enrolled,
            "jwk_thumbprint": self.jwk_thumbprint,
        }


def _device(row: tuple) -> Device:
    return Device(
        device_id=row[0],
        national_id=row[1],
        name=row[2],
        public_jwk=json.loads(row[3]),
        jwk_thumbprint=row[4],
        pin_hash=row[5],
        totp_secret=row[6],
        status=row[7],
        consecutive_failed_pins=row[8],
        sandbox_enrolled=bool(row[9]),
        webhook_url=row[10],
        created_at=row[11],
        last_used_at=row[12],
    )


class DeviceRepository:
    """The devices table, through :mod:`santeid.db` (an SQLite file or PostgreSQL).
    Thread- and process-safe; every method is one SQL statement, so each is atomic on its
    own (autocommit) and holds the write lock only for an instant. A write is committed —
    on SQLite with ``synchronous = FULL``, on PostgreSQL with ``synchronous_commit`` — before
    the method returns, so an enrolment or a revocation that was acknowledged survives a crash.

    :param path: the embedded SQLite file, or a :class:`~santeid.db.Database`.
    :param clock: epoch seconds; tests inject a fake one.
    """

    def __init__(self, path: Path | str | db.Database, *, clock: Clock = system_clock) -> None:
        self.db = path if isinstance(path, db.Database) else db.SqliteDatabase(path, durable=True)
        self.clock = clock

    @classmethod
    def for_data_dir(cls, data_path: Path, **kwargs: Any) -> DeviceRepository:
        """The embedded file of a data directory (``{data_dir}/ecps.sqlite3``)."""
        return cls(Path(data_path) / FILE_NAME, **kwargs)

    @classmethod
    def for_settings(cls, settings: Any, **kwargs: Any) -> DeviceRepository:
        """The devices of this installation (``database_url``, else the embedded file)."""
        return cls(db.database_for(settings, db.ECPS), **kwargs)

    @property
    def path(self) -> Path | None:
        return getattr(self.db, "path", None)

    def __repr__(self) -> str:
        return f"DeviceRepository({self.db!r})"

    # -- connections --------------------------------------------------------------------
    def _run(self, sql: str, params: tuple = ()) -> tuple[list[tuple], int]:
        """Execute one statement; return ``(rows, rowcount)``."""
        db.ensure(self.db, SCHEMA)
        result = self.db.execute(sql, params)
        return result.rows, result.rowcount

    def initialize(self) -> None:
        """Create or upgrade the tables if needed; idempotent, called on first use."""
        db.ensure(self.db, SCHEMA)

    def close(self) -> None:
        """Close the pooled connections; the repository reopens on demand."""
        self.db.close()

    # -- writes ---------------------------------------------------------------------------
    def create(
        self,
        *,
        national_id: str,
        public_jwk: dict[str, Any],
        jwk_thumbprint: str,
        pin_hash: str,
        totp_secret: str,
        name: str = "",
        sandbox_enrolled: bool = False,
        webhook_url: str | None = None,
    ) -> Device:
        device_id = str(uuid.uuid4())
        now = int(self.clock())
        values = (
            device_id,
            national_id,
            name,
            json.dumps(public_jwk, separators=(",", ":"), sort_keys=True),
            jwk_thumbprint,
            pin_hash,
            totp_secret,
            STATUS_ACTIVE,
            0,
            int(sandbox_enrolled),
            webhook_url,
            now,
            None,
        )
        try:
            self._run(f"INSERT INTO devices ({_COLUMNS}) VALUES ({','.join('?' * 13)})", values)  # noqa: S608
        except db.IntegrityError as exc:
            if "jwk_thumbprint" in str(exc):
                raise DuplicateKey(jwk_thumbprint) from None
            raise
        device = self.get(device_id)
        assert device is not None
        return device

    def revoke(self, device_id: str) -> bool:
        """Revoke the device (any status); ``True`` if it existed and was not revoked yet."""
        _, count = self._run(
            "UPDATE devices SET status = 'revoked' WHERE device_id = ? AND status != 'revoked'",
            (device_id,),
        )
        return count == 1

    def record_wrong_pin(self, device_id: str, max_attempts: int) -> tuple[int, str] | None:
        """Count one wrong PIN; lock the device when ``max_attempts`` is reached.

        One ``UPDATE … RETURNING`` statement, so two workers checking wrong PINs at the same
        instant count two failures (SQLite serialises writers; PostgreSQL locks the row and
        re-reads it before updating): the lock cannot be dodged by
        racing. Column references in ``SET`` read the row before the update, hence the
        ``+ 1`` in the ``CASE``. Returns ``(failures, status)``, or ``None`` if the device is
        no longer active (a concurrent failure locked it, or it was revoked).
        """
        rows, _ = self._run(
            "UPDATE devices SET consecutive_failed_pins = consecutive_failed_pins + 1, "
            "status = CASE WHEN consecutive_failed_pins + 1 >= ? THEN 'locked' ELSE status END "
            "WHERE device_id = ? AND status = 'active' "
            "RETURNING consecutive_failed_pins, status",
            (max_attempts, device_id),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def record_right_pin(self, device_id: str, pin_hash: str | None = None) -> bool:
        """Reset the wrong-PIN count (they must be consecutive) and note the use.

        ``pin_hash`` replaces the stored hash (re-hash with newer parameters). ``False`` if
        the device is no longer active: a concurrent wrong PIN locked it in between.
        """
        _, count = self._run(
            "UPDATE devices SET consecutive_failed_pins = 0, last_used_at = ?, "
            "pin_hash = coalesce(?, pin_hash) WHERE device_id = ? AND status = 'active'",
            (int(self.clock()), pin_hash, device_id),
        )
        return count == 1

    def touch(self, device_id: str) -> None:
        self._run(
            "UPDATE devices SET last_used_at = ? WHERE device_id = ?",
            (int(self.clock()), device_id),
        )

    def set_webhook(self, device_id: str, url: str | None) -> bool:
        _, count = self._run(
            "UPDATE devices SET webhook_url = ? WHERE device_id = ?", (url, device_id)
        )
        return count == 1

    # -- reads ------------------------------------------------------------------------------
    def _select(self, where: str, params: tuple, order: str = "") -> list[Device]:
        rows, _ = self._run(f"SELECT {_COLUMNS} FROM devices WHERE {where} {order}", params)  # noqa: S608
        return [_device(row) for row in rows]

    def get(self, device_id: str) -> Device | None:
        if not isinstance(device_id, str) or len(device_id) > 64:
            return None
        found = self._select("device_id = ?", (device_id,))
        return found[0] if found else None

    def get_by_thumbprint(self, thumbprint: str) -> Device | None:
        found = self._select("jwk_thumbprint = ?", (thumbprint,))
        return found[0] if found else None

    def list_for(self, national_id: str) -> list[Device]:
        """Every device of a professional, whatever its status, oldest first."""
        return self._select("national_id = ?", (national_id,), "ORDER BY created_at, device_id")

    def active_for(self, national_id: str) -> list[Device]:
        """The professional's active devices, oldest first (empty: no e-CPS to log in with)."""
        return self._select(
            "national_id = ? AND status = 'active'",
            (national_id,),
            "ORDER BY created_at, device_id",
        )

    def list_all(self, limit: int | None = None) -> list[Device]:
        """Every device, newest first (``santeid ecps devices``)."""
        order = "ORDER BY created_at DESC, device_id"
        if limit is not None:
            return self._select("1 = 1", (int(limit),), order + " LIMIT ?")
        return self._select("1 = 1", (), order)

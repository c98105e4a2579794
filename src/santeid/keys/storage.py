"""Key file storage: the one JSON document ``<keys_dir>/signing-keys.json`` (mode 0600 in a
0700 directory), read when it changed on disk, written atomically (temporary file +
``os.replace``) under a cross-process lock, so a reader never sees a half-written file and
every process (workers, the ``santeid keys`` command) shares the same keys. Part of the key
store (:mod:`santeid.keystore`; ``docs/keys.md`` describes the format).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey

from santeid.keys.lifecycle import _FORMAT
from santeid.keys.lifecycle import _LOCK_FILENAME
from santeid.keys.lifecycle import _VERSION
from santeid.keys.lifecycle import HMAC_ALGORITHM
from santeid.keys.lifecycle import HMAC_KEY_BITS
from santeid.keys.lifecycle import STORED_ALGORITHMS
from santeid.keys.lifecycle import CorruptKeyStore
from santeid.keys.lifecycle import KeysNotWritable
from santeid.keys.lifecycle import KeyStoreError
from santeid.keys.lifecycle import _alg_message
from santeid.keys.lifecycle import _Entry
from santeid.keys.lifecycle import _iso
from santeid.keys.lifecycle import _to_datetime
from santeid.keys.lifecycle import self_signed_certificate
from santeid.keys.state import KeyStoreState

logger = logging.getLogger("santeid.keystore")
#: Seconds between two checks of the key file prompted by an unknown ``kid`` (a token any
#: client can send: never more than one ``stat()`` per this delay for them all).
RECHECK_INTERVAL = 0.5


class KeyFileStorage(KeyStoreState):
    """Reading and writing the key file. Mixed into :class:`santeid.keystore.KeyStore`, which
    holds ``path``, ``file``, ``reload_interval`` and the loaded ``_entries``."""

    # -- reading ---------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the file now if it changed on disk, ignoring ``reload_interval``."""
        with self._lock:
            self._load(force=True, strict=False)

    def _refresh(self) -> None:
        # Called at the top of every public method: at most one stat() per reload_interval.
        now = time.monotonic()
        if now - self._checked_at < self.reload_interval:
            return
        self._load(force=False, strict=False)

    def _recheck(self) -> bool:
        """Check the file now, ``reload_interval`` or not, unless it was checked less than
        :data:`RECHECK_INTERVAL` ago; ``True`` if new keys were read. For a token whose ``kid``
        is unknown here: another process may have just rotated and signed with the new key."""
        if time.monotonic() - self._checked_at < RECHECK_INTERVAL:
            return False
        before = self._signature
        self._load(force=False, strict=False)
        return self._signature != before

    def _check_now(self) -> None:
        """Check the file now, ``reload_interval`` or not: one ``stat()``, and a read only when
        it was replaced. For the JWK Set, which must never lag behind a process that already
        signs with a new key (another worker or host that checked the file first)."""
        self._load(force=False, strict=False)

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.file)  # follows symlinks: Kubernetes secret volumes use them
        except FileNotFoundError:
            return None
        # os.replace gives a new inode, so this changes even when mtime granularity is coarse.
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self, *, force: bool, strict: bool) -> None:
        self._checked_at = time.monotonic()
        try:
            signature = self._stat()
        except OSError as exc:  # e.g. the directory is not readable by this user
            if strict:
                raise KeyStoreError(f"cannot read {self.file}: {exc}") from exc
            logger.error("keeping the previous signing keys: cannot read %s: %s", self.file, exc)
            return
        if not force and signature == self._signature:
            return
        if signature is None:
            if self._entries:
                logger.warning("%s disappeared: no signing keys any more", self.file)
            self._entries, self._signature = [], None
            return
        try:
            with open(self.file, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
            entries = _parse_document(raw, self.file)
        except (OSError, CorruptKeyStore) as exc:
            if strict:
                if isinstance(exc, OSError):
                    raise KeyStoreError(f"cannot read {self.file}: {exc}") from exc
                raise
            # A running server keeps its last good keys rather than failing every request;
            # the error is logged at each check until the file is fixed.
            logger.error("keeping the previous signing keys: %s", exc)
            return
        if st.st_mode & 0o077:
            logger.warning(
                "%s is readable by other users (mode %s); it holds private keys: chmod 600 it "
                "(Kubernetes: defaultMode 0400 on the secret volume)",
                self.file,
                oct(stat.S_IMODE(st.st_mode)),
            )
        if self._signature is not None and signature != self._signature:
            logger.info("signing keys reloaded from %s", self.file)
        self._entries = entries
        self._signature = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Exclusive, cross-process section for read-modify-write: two concurrent
        ``generate`` calls (e.g. sandbox workers starting together) must not both add a
        key and lose one.

        :raises KeysNotWritable: the directory, its lock or the new file cannot be written.
        """
        try:
            self._ensure_dir()
            fd = os.open(self.path / _LOCK_FILENAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise KeysNotWritable.because(self.path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Re-read under the lock: another process may have written since our last check.
            # Strict: never overwrite a file we could not parse.
            self._load(force=True, strict=True)
            try:
                yield
            except BaseException as exc:
                # The change may be half-applied in memory but not on disk (read-only
                # volume, full disk): go back to what the file says.
                with contextlib.suppress(Exception):
                    self._load(force=True, strict=False)
                if isinstance(exc, OSError):
                    raise KeysNotWritable.because(self.path, exc) from exc
                raise
        finally:
            os.close(fd)  # closing releases the flock

    def _ensure_dir(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = self.path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            # A directory created by git or a previous tool: tighten it, private keys live here.
            with contextlib.suppress(OSError):
                self.path.chmod(0o700)

    def _save(self, now: float) -> None:
        # Keys whose publication window has closed are of no use any more: drop them.
        self._entries = [e for e in self._entries if self._is_published(e, now)]
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "keys": [_entry_to_json(e) for e in self._entries],
        }
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
        fd, tmp = tempfile.mkstemp(prefix=".signing-keys.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)  # mkstemp already does; be explicit
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # Make the rename itself durable before reporting success.
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._signature = self._stat()
        self._checked_at = time.monotonic()


# -- (de)serialisation ----------------------------------------------------------------------
def _entry_to_json(entry: _Entry) -> dict[str, Any]:
    jwk = entry.key.as_dict(private=True)
    if entry.alg == HMAC_ALGORITHM:
        jwk["kid"] = entry.kid
    return {
        "kid": entry.kid,
        "alg": entry.alg,
        "status": entry.status,
        "created_at": _iso(_to_datetime(entry.created_at)),
        "retired_at": None if entry.retired_at is None else _iso(_to_datetime(entry.retired_at)),
        "jwk": _ordered_jwk(jwk),
        **(
            {"certificate": base64.b64encode(entry.certificate).decode()}
            if entry.certificate
            else {}
        ),
    }


def _ordered_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    # Identification members first so a human reading the file sees them before the numbers.
    head = ("kty", "kid", "use", "alg", "crv")
    return {**{k: jwk[k] for k in head if k in jwk}, **jwk}


def _parse_time(value: object, where: str) -> int:
    if not isinstance(value, str):
        raise CorruptKeyStore(f"{where}: expected an ISO 8601 UTC time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CorruptKeyStore(f"{where}: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise CorruptKeyStore(f"{where}: time without a time zone: {value!r} (add Z for UTC)")
    return math.floor(parsed.timestamp())


@functools.lru_cache(maxsize=16)
def _import_private_key(alg: str, jwk_json: str) -> RSAKey | ECKey:
    """The key of a stored JWK (its JSON, keys sorted), imported once per process: importing
    an RSA private key checks it, which takes tens of milliseconds (``private_key()``,
    https://cryptography.io/en/latest/hazmat/primitives/asymmetric/rsa/), and the same file
    is read by every store opened on it and again after each change."""
    jwk = json.loads(jwk_json)
    return ECKey.import_key(jwk) if alg == "ES256" else RSAKey.import_key(jwk)


def _parse_entry(item: object, where: str) -> _Entry:
    if not isinstance(item, dict):
        raise CorruptKeyStore(f"{where}: expected an object")
    alg = item.get("alg")
    if alg not in STORED_ALGORITHMS:
        raise CorruptKeyStore(f"{where}: {_alg_message(alg)}")
    status = item.get("status")
    if status not in ("active", "next", "retired"):
        raise CorruptKeyStore(
            f"{where}: status must be 'active', 'next' or 'retired', got {status!r}"
        )
    created_at = _parse_time(item.get("created_at"), f"{where}.created_at")
    retired_at = None
    if status == "retired":
        retired_at = _parse_time(item.get("retired_at"), f"{where}.retired_at")
    elif item.get("retired_at") is not None:
        raise CorruptKeyStore(f"{where}: an {status} key has no retired_at")
    jwk = item.get("jwk")
    if not isinstance(jwk, dict):
        raise CorruptKeyStore(f"{where}: missing private JWK ('jwk' object)")
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        raise CorruptKeyStore(f"{where}: the JWK is not a {alg} signing key (see its use/alg)")
    # Hand-written entries may omit them; joserfc then enforces them (see _new_entry).
    jwk = {**jwk, "alg": alg, "use": "sig"}
    if alg == HMAC_ALGORITHM:
        return _parse_hmac_entry(item, jwk, where, status, created_at, retired_at)
    try:
        key = _import_private_key(alg, json.dumps(jwk, sort_keys=True))
        if isinstance(key, ECKey):
            if key.curve_name != "P-256":
                raise ValueError(f"ES256 needs a P-256 key, not {key.curve_name}")
        elif key.raw_value.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
        if not key.is_private:
            raise ValueError("the JWK has no private part")
        thumbprint = key.thumbprint()
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise CorruptKeyStore(f"{where}: unusable {alg} key: {exc}") from None
    if item.get("kid") != thumbprint or jwk.get("kid", thumbprint) != thumbprint:
        raise CorruptKeyStore(
            f"{where}: kid {item.get('kid')!r} is not the key's RFC 7638 thumbprint {thumbprint}"
        )
    return _Entry(
        kid=thumbprint,
        alg=alg,
        status=status,
        created_at=created_at,
        retired_at=retired_at,
        key=key,
        certificate=_parse_certificate(item.get("certificate"), key, thumbprint, created_at, where),
    )


def _parse_certificate(
    value: object, key: RSAKey | ECKey, kid: str, created_at: int, where: str
) -> bytes:
    """The stored certificate, checked to certify this very key; derived (the same way in
    every process) when the entry has none."""
    if value is None:
        return self_signed_certificate(key, kid, created_at)
    try:
        der = base64.b64decode(str(value), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CorruptKeyStore(f"{where}: certificate is not base64 DER X.509: {exc}") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = key.public_key.public_bytes(serialization.Encoding.DER, spki)
    if cert.public_key().public_bytes(serialization.Encoding.DER, spki) != mine:
        raise CorruptKeyStore(f"{where}: the certificate is for another key")
    return der


def _parse_hmac_entry(
    item: dict, jwk: dict, where: str, status: str, created_at: int, retired_at: int | None
) -> _Entry:
    kid = item.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 128 or jwk.get("kid", kid) != kid:
        raise CorruptKeyStore(f"{where}: an {HMAC_ALGORITHM} secret needs a kid (1-128 chars)")
    try:
        key = OctKey.import_key({k: v for k, v in jwk.items() if k != "kid"})
        if len(key.raw_value) * 8 < HMAC_KEY_BITS:
            raise ValueError(f"an {HMAC_ALGORITHM} secret has at least {HMAC_KEY_BITS} bits")
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise CorruptKeyStore(f"{where}: unusable {HMAC_ALGORITHM} secret: {exc}") from None
    return _Entry(
        kid=kid,
        alg=HMAC_ALGORITHM,
        status=status,
        created_at=created_at,
        retired_at=retired_at,
        key=key,
    )


def _parse_document(raw: bytes, file: Path) -> builtins.list[_Entry]:
    hint = (
        "restore it from a backup, or move it aside and run `santeid keys generate` "
        "(tokens signed by the old keys will stop verifying)"
    )
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptKeyStore(f"{file} is not valid JSON ({exc}): {hint}") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != _FORMAT
        or not isinstance(document.get("keys"), builtins.list)
    ):
        raise CorruptKeyStore(
            f'{file} is not a santeid key file (expected {{"format": "{_FORMAT}", '
            f'"version": {_VERSION}, "keys": [...]}}): {hint}'
        )
    if document.get("version") != _VERSION:
        raise CorruptKeyStore(
            f"{file} has format version {document.get('version')!r}; this santeid reads "
            f"version {_VERSION}"
        )
    entries = [_parse_entry(item, f"{file}: keys[{i}]") for i, item in enumerate(document["keys"])]
    seen: set[str] = set()
    current: set[tuple[str, str]] = set()  # (status, alg) of the active and next keys
    for entry in entries:
        if entry.kid in seen:
            raise CorruptKeyStore(f"{file}: key {entry.kid} appears twice")
        seen.add(entry.kid)
        if entry.status != "retired":
            if (entry.status, entry.alg) in current:
                raise CorruptKeyStore(
                    f"{file}: more than one {entry.status} {entry.alg} key; mark all but one "
                    "'retired'"
                )
            current.add((entry.status, entry.alg))
    return entries

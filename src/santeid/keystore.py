"""Signing key store: the keys that sign santeid's JWTs and the JWK Set that publishes them.

Specifications:

- RFC 7515 (JWS) §3.1 / §7.1: compact serialization; §4.1.4: the ``kid`` header parameter.
- RFC 7517 (JWK) §4: key members (``kty``, ``use``, ``alg``, ``kid``); §5: the JWK Set.
- RFC 7518 (JWA) §3.3 RS256, §3.4 ES256, §3.5 PS256; §6.2.1 / §6.3.1: public members of
  EC and RSA keys (only those are ever published).
- RFC 7638 (JWK Thumbprint): ``kid`` = base64url(SHA-256(canonical required members)), the
  scheme Keycloak — hence Pro Santé Connect — uses.
- OpenID Connect Core 1.0 §10.1.1: rotation by publishing the new key in ``jwks_uri`` and
  keeping the old one there while tokens it signed are still valid.

On disk (``docs/keys.md`` has the full description): one JSON document,
``<keys_dir>/signing-keys.json``, mode 0600 in a 0700 directory, always replaced atomically
(temporary file + ``os.replace``) so a reader never sees a half-written file. Every process
(gunicorn workers, the ``santeid keys`` command) reads the same file; a running
:class:`KeyStore` notices a replacement within ``reload_interval`` seconds, so
``santeid keys rotate`` takes effect without a restart.

The store also holds the realm's **HMAC secret** (``HS512``, RFC 7518 §3.2) that signs refresh
tokens, as Keycloak signs them with its realm HMAC key (docs/reference/keycloak-behaviour.md,
"Refresh tokens"): clients only decode refresh tokens, santeid alone verifies them. It is
generated, rotated, shared between workers and retired like the signing keys, but it is never
published: the JWK Set lists asymmetric public keys only, and :meth:`KeyStore.verify` accepts
it only when the caller asks for ``HS512``.

Lifecycle of a key: *active* (signs, published) → *retired* by a rotation (no longer signs,
still published so tokens it signed keep verifying) → *unpublished* once
``retired_at + retired_key_lifetime + publication_margin`` has passed (every token it signed
has expired) → deleted from the file at the next write.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from santeid.settings import ConfigurationError

if TYPE_CHECKING:
    from santeid.settings import Settings

__all__ = [
    "ALGORITHMS",
    "DEFAULT_RSA_KEY_SIZE",
    "HMAC_ALGORITHM",
    "STORED_ALGORITHMS",
    "KEYS_FILENAME",
    "RSA_KEY_SIZES",
    "CorruptKeyStore",
    "InvalidSignature",
    "KeyInfo",
    "KeyStore",
    "KeyStoreError",
    "MissingKeys",
    "NoSigningKey",
    "SigningKey",
    "UnsupportedAlgorithm",
    "check_keys_for_startup",
    "ensure_dev_keys",
    "open_keystore",
]

logger = logging.getLogger(__name__)

#: JWS algorithms santeid signs with (RFC 7518 §3.1), in the order a default is picked when
#: the configured one has no active key. RS256 first: it is what PSC uses.
ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "PS256")
#: The realm's HMAC secret for refresh tokens (Keycloak: ``HS512``, its internal signature
#: algorithm); 512 random bits, the size RFC 7518 §3.2 requires of an HS512 key.
HMAC_ALGORITHM = "HS512"
HMAC_KEY_BITS = 512
#: Every algorithm a key of the store may have: the signing algorithms and the HMAC secret.
STORED_ALGORITHMS: tuple[str, ...] = (*ALGORITHMS, HMAC_ALGORITHM)

#: RSA modulus size of new keys. 2048 bits is what Keycloak (hence PSC) generates, gives
#: 112-bit security (NIST SP 800-57 Pt 1 Table 2), and is accepted by ANSSI (RGS B1) until
#: 2030; a signature costs ~0.8 ms against ~2.6 ms at 3072 bits, and a token response signs
#: up to three JWTs. Keys are short-lived (rotated, published for minutes after retirement),
#: so the usual "long-term confidentiality" argument for 3072 does not apply. Operators who
#: want more pass ``--bits 3072`` (kept across rotations).
DEFAULT_RSA_KEY_SIZE = 2048
#: Accepted RSA sizes. Below 2048 is weak; above 4096 the signature would exceed joserfc's
#: 1024-character signature limit when verifying.
RSA_KEY_SIZES: tuple[int, ...] = (2048, 3072, 4096)

#: The one file holding every key of the store, inside ``keys_dir``.
KEYS_FILENAME = "signing-keys.json"
_LOCK_FILENAME = ".signing-keys.lock"
_FORMAT = "santeid-signing-keys"
_VERSION = 1

#: Public members per key type (RFC 7518 §6.2.1, §6.3.1). The JWK Set is built from this
#: allow-list rather than by removing private members, so a key type with unexpected
#: members can never leak them.
_PUBLIC_MEMBERS: dict[str, tuple[str, ...]] = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}

#: One registry per algorithm, allowing exactly that algorithm: joserfc otherwise refuses
#: PS256 (not in its "recommended" list) and, worse, would accept any recommended one.
#: ``strict_check_header=False`` lets callers add non-registered header parameters.
_REGISTRIES: dict[str, JWSRegistry] = {
    alg: JWSRegistry(algorithms=[alg], strict_check_header=False) for alg in STORED_ALGORITHMS
}
#: Registry used to split a token before its ``kid`` is known (no algorithm is run with it).
_PARSER = JWSRegistry(algorithms=STORED_ALGORITHMS, strict_check_header=False)
for _registry in (*_REGISTRIES.values(), _PARSER):
    # joserfc's default (512 bytes of base64 header) would reject our own tokens once a
    # caller adds a few extra_headers; the payload and signature limits are kept.
    _registry.max_header_length = 2048


# -- errors -------------------------------------------------------------------------------
class KeyStoreError(ConfigurationError):
    """The key store cannot be used as it is; the message says what to do."""


class CorruptKeyStore(KeyStoreError):
    """``signing-keys.json`` cannot be read (bad JSON, unknown format, inconsistent key)."""


class NoSigningKey(KeyStoreError):
    """No active key can sign (for the requested algorithm)."""


class MissingKeys(KeyStoreError):
    """Start-up check: the configured algorithm has no active key outside sandbox mode."""


class UnsupportedAlgorithm(KeyStoreError, ValueError):
    """An algorithm (or RSA size) santeid does not sign with."""


class InvalidSignature(Exception):
    """A token was not signed by a published key of this store: malformed, unknown ``kid``,
    algorithm not allowed, or bad signature. The message is for logs, not for clients."""


# -- data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyInfo:
    """What ``santeid keys list`` shows about one key. Times are aware UTC datetimes."""

    kid: str
    alg: str
    status: str  # "active" | "retired"
    created_at: datetime
    retired_at: datetime | None
    #: When a retired key leaves the JWK Set; ``None`` while active.
    published_until: datetime | None
    #: In the JWK Set right now (active, or retired and still within ``published_until``).
    published: bool
    #: RSA modulus size, or the curve size for EC keys.
    key_size: int

    def as_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "alg": self.alg,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "retired_at": _iso(self.retired_at),
            "published_until": _iso(self.published_until),
            "published": self.published,
            "key_size": self.key_size,
        }


class SigningKey(NamedTuple):
    """The active key for an algorithm: ``key, kid = store.signing_key()``."""

    key: RSAKey | ECKey | OctKey
    kid: str


@dataclass
class _Entry:
    kid: str
    alg: str
    status: str
    created_at: int  # epoch seconds
    retired_at: int | None
    key: RSAKey | ECKey | OctKey
    #: DER of the key's self-signed X.509 certificate, published as ``x5c`` (see
    #: :func:`self_signed_certificate`); empty for the HMAC secret, which is never published.
    certificate: bytes = b""

    @property
    def key_size(self) -> int:
        if isinstance(self.key, RSAKey):
            return self.key.raw_value.key_size
        if isinstance(self.key, OctKey):
            return len(self.key.raw_value) * 8
        return self.key.curve_key_size


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# -- the store ----------------------------------------------------------------------------
class KeyStore:
    """Signing keys kept in ``<path>/signing-keys.json``.

    :param path: the keys directory (``settings.keys_path``).
    :param retired_key_lifetime: seconds a retired key stays published; the longest lifetime
        of any token it may have signed (``settings.longest_token_lifetime``).
    :param default_alg: algorithm used when none is given (``settings.signing_alg``).
    :param clock: current time as epoch seconds; tests inject a fake one.
    :param reload_interval: at most this often (seconds, monotonic) a call checks whether the
        file was replaced on disk; 0 checks at every call.
    :param publication_margin: seconds added to ``retired_key_lifetime`` before a retired key
        is unpublished. It covers workers that signed with the old key before they noticed the
        rotation (up to ``reload_interval``) and relying parties' clock-skew leeway on ``exp``.
    """

    #: Default of ``reload_interval``: one ``stat()`` per worker every 5 s is free, and a
    #: rotation is picked up by every worker within that delay.
    RELOAD_INTERVAL: float = 5.0
    #: Default of ``publication_margin``.
    PUBLICATION_MARGIN: int = 60

    def __init__(
        self,
        path: Path | str,
        *,
        retired_key_lifetime: int,
        default_alg: str = "RS256",
        clock: Callable[[], float] = time.time,
        reload_interval: float | None = None,
        publication_margin: int | None = None,
    ) -> None:
        if default_alg not in ALGORITHMS:
            raise UnsupportedAlgorithm(_alg_message(default_alg))
        if retired_key_lifetime < 0:
            raise ValueError("retired_key_lifetime must not be negative")
        self.path = Path(path)
        self.file = self.path / KEYS_FILENAME
        self.retired_key_lifetime = int(retired_key_lifetime)
        self.default_alg = default_alg
        self.clock = clock
        self.reload_interval = self.RELOAD_INTERVAL if reload_interval is None else reload_interval
        self.publication_margin = (
            self.PUBLICATION_MARGIN if publication_margin is None else publication_margin
        )
        self._lock = threading.RLock()
        self._entries: list[_Entry] = []
        self._signature: tuple[int, int, int, int] | None = None
        self._checked_at = -math.inf
        with self._lock:
            # The first load raises on a corrupt file: better to refuse to start than to
            # serve without keys.
            self._load(force=True, strict=True)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> KeyStore:
        """The store ``settings`` describe (keys dir, signing alg, longest token lifetime)."""
        return cls(
            settings.keys_path,
            retired_key_lifetime=settings.longest_token_lifetime,
            default_alg=settings.signing_alg,
            **kwargs,
        )

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

    def _published_until(self, entry: _Entry) -> int | None:
        if entry.retired_at is None:
            return None
        return entry.retired_at + self.retired_key_lifetime + self.publication_margin

    def _is_published(self, entry: _Entry, now: float) -> bool:
        until = self._published_until(entry)
        return until is None or now < until

    def _info(self, entry: _Entry, now: float) -> KeyInfo:
        until = self._published_until(entry)
        return KeyInfo(
            kid=entry.kid,
            alg=entry.alg,
            status=entry.status,
            created_at=_to_datetime(entry.created_at),
            retired_at=None if entry.retired_at is None else _to_datetime(entry.retired_at),
            published_until=None if until is None else _to_datetime(until),
            published=self._is_published(entry, now),
            key_size=entry.key_size,
        )

    def _active(self, alg: str) -> _Entry | None:
        for entry in self._entries:
            if entry.status == "active" and entry.alg == alg:
                return entry
        return None

    def _default_active(self) -> _Entry | None:
        for alg in (self.default_alg, *ALGORITHMS):
            entry = self._active(alg)
            if entry is not None:
                return entry
        return None

    def _ordered(self, now: float) -> builtins.list[_Entry]:
        """Active keys (default algorithm first), then retired ones, most recently retired
        first. Naive clients take ``keys[0]`` of a JWK Set: make it the key that signs."""
        default = self._default_active()
        active = [e for e in self._entries if e.status == "active"]
        active.sort(key=lambda e: (e is not default, STORED_ALGORITHMS.index(e.alg)))
        retired = [e for e in self._entries if e.status == "retired"]
        retired.sort(key=lambda e: -(e.retired_at or 0))
        return active + retired

    def is_empty(self) -> bool:
        """True when the store holds no key at all (``santeid keys generate`` never ran)."""
        with self._lock:
            self._refresh()
            return not self._entries

    def list(self) -> builtins.list[KeyInfo]:
        """Every key in the file, active first, including retired keys no longer published
        that the next write will delete."""
        with self._lock:
            self._refresh()
            now = self.clock()
            return [self._info(e, now) for e in self._ordered(now)]

    def signing_key(self, alg: str | None = None) -> SigningKey:
        """The active private key for ``alg`` (default: ``default_alg`` if it has an active
        key, else the first algorithm of :data:`ALGORITHMS` that has one).

        :raises NoSigningKey: no active key (for ``alg``).
        """
        entry = self._signing_entry(alg)
        return SigningKey(entry.key, entry.kid)

    def _signing_entry(self, alg: str | None) -> _Entry:
        if alg is not None and alg not in STORED_ALGORITHMS:
            raise UnsupportedAlgorithm(_alg_message(alg))
        with self._lock:
            self._refresh()
            entry = self._active(alg) if alg is not None else self._default_active()
        if entry is None:
            which = f"{alg} " if alg else ""
            flag = f" --alg {alg}" if alg else ""
            raise NoSigningKey(
                f"no active {which}signing key in {self.file}: run `santeid keys generate{flag}`"
                " (SANTEID_KEYS_DIR selects the keys directory)"
            )
        return entry

    def sign(
        self,
        claims: dict[str, Any],
        *,
        alg: str | None = None,
        typ: str = "JWT",
        extra_headers: dict[str, Any] | None = None,
    ) -> str:
        """Sign ``claims`` as a compact JWS (RFC 7515 §7.1) with the active key for ``alg``.

        The protected header is ``{"alg", "typ", "kid"}`` in that order (as PSC's), then
        ``extra_headers``, which may not override those three.
        """
        entry = self._signing_entry(alg)
        header: dict[str, Any] = {"alg": entry.alg, "typ": typ, "kid": entry.kid}
        if extra_headers:
            clash = {"alg", "typ", "kid"} & extra_headers.keys()
            if clash:
                raise ValueError(f"extra_headers may not set {sorted(clash)}")
            header.update(extra_headers)
        # Compact JSON, UTF-8 (RFC 7519 §7.1); ensure_ascii=False keeps accented names short.
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        return jws.serialize_compact(header, payload, entry.key, registry=_REGISTRIES[entry.alg])

    def verify(
        self, token: str | bytes, *, algs: builtins.list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Check ``token``'s signature with the published key its ``kid`` names.

        Returns ``{"header": {...}, "claims": {...}}``. Only the signature is checked:
        ``exp``, ``nbf``, ``iss``, ``aud`` and ``typ`` are the caller's job.

        :param algs: accepted algorithms (default: any of :data:`ALGORITHMS`, never the HMAC
            secret unless asked for with :data:`HMAC_ALGORITHM`); the token's
            ``alg`` must also be the algorithm its key was generated for, so an RSA key made
            for RS256 never verifies a PS256 signature (RFC 7517 §4.4).
        :raises InvalidSignature: malformed token, no or unknown ``kid``, key no longer
            published, algorithm not allowed, bad signature, or claims not a JSON object.
        """
        value = token.encode("ascii", "replace") if isinstance(token, str) else token
        try:
            obj = jws.extract_compact(value, registry=_PARSER)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidSignature(f"malformed JWS: {exc}") from None
        header = obj.headers()
        kid = header.get("kid")
        alg = header.get("alg")
        if not isinstance(kid, str):
            raise InvalidSignature("JWS header has no kid")
        with self._lock:
            self._refresh()
            now = self.clock()
            entry = next(
                (e for e in self._entries if e.kid == kid and self._is_published(e, now)), None
            )
        if entry is None:
            raise InvalidSignature(f"unknown or unpublished kid {kid!r}")
        if alg != entry.alg:
            raise InvalidSignature(f"alg {alg!r} does not match key {kid} ({entry.alg})")
        if alg not in (ALGORITHMS if algs is None else algs):
            raise InvalidSignature(f"alg {alg!r} not allowed here")
        try:
            valid = jws.validate_compact(obj, entry.key, registry=_REGISTRIES[entry.alg])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidSignature(f"cannot verify: {exc}") from None
        if not valid:
            raise InvalidSignature(f"bad signature for kid {kid}")
        try:
            claims = json.loads(obj.payload)
        except (ValueError, UnicodeDecodeError):
            raise InvalidSignature("payload is not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidSignature("payload is not a JSON object")
        return {"header": dict(header), "claims": claims}

    def jwks(self) -> dict[str, builtins.list[dict[str, str]]]:
        """The public JWK Set (RFC 7517 §5): active keys first, then retired keys still
        published. Members: ``kty, kid, use, alg``, the public parameters only, then the key's
        self-signed certificate as Keycloak publishes it: ``x5c``, ``x5t``, ``x5t#S256``
        (RFC 7517 §4.7–§4.9)."""
        with self._lock:
            self._refresh()
            now = self.clock()
            keys = []
            for entry in self._ordered(now):
                if entry.alg == HMAC_ALGORITHM or not self._is_published(entry, now):
                    continue  # the HMAC secret is never published
                full = entry.key.as_dict(private=False)
                jwk = {"kty": full["kty"], "kid": entry.kid, "use": "sig", "alg": entry.alg}
                for member in _PUBLIC_MEMBERS[full["kty"]]:
                    jwk[member] = full[member]
                jwk.update(_certificate_members(entry.certificate))
                keys.append(jwk)
            return {"keys": keys}

    # -- writing ---------------------------------------------------------------------------
    def generate(self, alg: str = "RS256", *, key_size: int | None = None) -> KeyInfo:
        """Add an active key for ``alg`` unless one exists (then return that one: idempotent,
        so ``make run`` and concurrent sandbox workers can all call it)."""
        _check_alg(alg, key_size)
        with self._lock, self._writing():
            existing = self._active(alg)
            now = self.clock()
            if existing is not None:
                return self._info(existing, now)
            entry = _new_entry(alg, key_size or DEFAULT_RSA_KEY_SIZE, now)
            self._entries.append(entry)
            self._save(now)
            logger.info("generated %s signing key %s in %s", alg, entry.kid, self.path)
            return self._info(entry, now)

    def rotate(self, alg: str | None = None, *, key_size: int | None = None) -> KeyInfo:
        """Make a new active key for ``alg`` (default: the algorithm of the current default
        key) and retire the previous one (``retired_at`` = now). The retired key stays in
        the JWK Set until :attr:`KeyInfo.published_until` (OIDC Core §10.1.1). A new RSA key
        has the size of the one it replaces unless ``key_size`` is given.
        """
        if alg is not None:
            _check_alg(alg, key_size)
        with self._lock, self._writing():
            if alg is None:
                current = self._default_active()
                alg = current.alg if current is not None else self.default_alg
                _check_alg(alg, key_size)
            previous = self._active(alg)
            now = self.clock()
            if key_size is None:
                key_size = previous.key_size if previous and alg.startswith(("RS", "PS")) else None
            entry = _new_entry(alg, key_size or DEFAULT_RSA_KEY_SIZE, now)
            if entry.kid in {e.kid for e in self._entries}:  # pragma: no cover - 2^-256
                raise KeyStoreError("generated a key identical to an existing one")
            if previous is not None:
                previous.status = "retired"
                # Rounded up: retiring "later" can only lengthen the publication window.
                previous.retired_at = math.ceil(now)
            self._entries.append(entry)
            self._save(now)
            logger.info(
                "rotated %s signing key: %s active, %s retired",
                alg,
                entry.kid,
                previous.kid if previous else "none",
            )
            return self._info(entry, now)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Exclusive, cross-process section for read-modify-write: two concurrent
        ``generate`` calls (e.g. sandbox workers starting together) must not both add a
        key and lose one."""
        self._ensure_dir()
        lock_path = self.path / _LOCK_FILENAME
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Re-read under the lock: another process may have written since our last check.
            # Strict: never overwrite a file we could not parse.
            self._load(force=True, strict=True)
            try:
                yield
            except BaseException:
                # The change may be half-applied in memory but not on disk (read-only
                # volume, full disk): go back to what the file says.
                with contextlib.suppress(Exception):
                    self._load(force=True, strict=False)
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
def _alg_message(alg: object) -> str:
    return (
        f"unsupported signing algorithm {alg!r}: choose one of {', '.join(ALGORITHMS)} "
        f"({HMAC_ALGORITHM} for the refresh-token secret)"
    )


def _check_alg(alg: str, key_size: int | None) -> None:
    if alg not in STORED_ALGORITHMS:
        raise UnsupportedAlgorithm(_alg_message(alg))
    if key_size is None:
        return
    if alg == "ES256":
        raise UnsupportedAlgorithm("ES256 keys are P-256 (RFC 7518 §3.4): no key size to choose")
    if alg == HMAC_ALGORITHM:
        raise UnsupportedAlgorithm(f"{HMAC_ALGORITHM} secrets have {HMAC_KEY_BITS} bits")
    if key_size not in RSA_KEY_SIZES:
        sizes = ", ".join(map(str, RSA_KEY_SIZES))
        raise UnsupportedAlgorithm(f"RSA key size must be one of {sizes}, not {key_size}")


def _new_entry(alg: str, rsa_key_size: int, now: float) -> _Entry:
    # "alg" and "use" are part of the stored JWK (RFC 7517 §4.2, §4.4) so that joserfc itself
    # refuses to use the key for another algorithm or for encryption.
    parameters = {"alg": alg, "use": "sig"}
    key: RSAKey | ECKey | OctKey
    if alg == HMAC_ALGORITHM:
        # A random kid, as Keycloak gives its HMAC keys: the RFC 7638 thumbprint of a secret
        # key is a digest of the secret, which has no business in every token header.
        key = OctKey.generate_key(HMAC_KEY_BITS, parameters=parameters, private=True)
        return _Entry(
            kid=str(uuid.uuid4()),
            alg=alg,
            status="active",
            created_at=math.floor(now),
            retired_at=None,
            key=key,
        )
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=parameters, private=True)
    else:
        key = RSAKey.generate_key(rsa_key_size, parameters=parameters, private=True)
    key.ensure_kid()  # kid = RFC 7638 thumbprint (required members only, SHA-256)
    created_at = math.floor(now)
    return _Entry(
        kid=str(key.kid),
        alg=alg,
        status="active",
        created_at=created_at,
        retired_at=None,
        key=key,
        certificate=self_signed_certificate(key, str(key.kid), created_at),
    )


#: Validity of a key's certificate from its creation (Keycloak generates 10-year ones); the
#: key is retired long before, and nothing relies on the dates.
CERTIFICATE_VALIDITY_DAYS = 3650


def self_signed_certificate(key: RSAKey | ECKey, kid: str, created_at: int) -> bytes:
    """DER of a self-signed X.509 certificate for ``key`` (subject and issuer ``CN=<kid>``,
    valid from ``created_at``), as Keycloak publishes one per realm key in ``x5c``.

    Deterministic — serial from the ``kid``, dates from ``created_at``, RSA PKCS#1 v1.5 and
    RFC 6979 deterministic ECDSA signatures — so every worker, and a restart, derives the same
    certificate for a key file that does not hold one (written before certificates existed).
    """
    private = key.private_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kid)])
    not_before = _to_datetime(created_at)
    serial = int.from_bytes(hashlib.sha256(kid.encode()).digest()[:16], "big") >> 1 or 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=CERTIFICATE_VALIDITY_DAYS))
    )
    if isinstance(key, ECKey):
        cert = builder.sign(private, hashes.SHA256(), ecdsa_deterministic=True)
    else:
        cert = builder.sign(private, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


def _certificate_members(der: bytes) -> dict[str, Any]:
    """RFC 7517 §4.7 ``x5c`` (standard base64 DER), §4.8 ``x5t`` (SHA-1, base64url) and §4.9
    ``x5t#S256`` (SHA-256, base64url)."""

    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {
        "x5c": [base64.b64encode(der).decode()],
        "x5t": b64url(hashlib.sha1(der, usedforsecurity=False).digest()),
        "x5t#S256": b64url(hashlib.sha256(der).digest()),
    }


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


def _parse_entry(item: object, where: str) -> _Entry:
    if not isinstance(item, dict):
        raise CorruptKeyStore(f"{where}: expected an object")
    alg = item.get("alg")
    if alg not in STORED_ALGORITHMS:
        raise CorruptKeyStore(f"{where}: {_alg_message(alg)}")
    status = item.get("status")
    if status not in ("active", "retired"):
        raise CorruptKeyStore(f"{where}: status must be 'active' or 'retired', got {status!r}")
    created_at = _parse_time(item.get("created_at"), f"{where}.created_at")
    retired_at = None
    if status == "retired":
        retired_at = _parse_time(item.get("retired_at"), f"{where}.retired_at")
    elif item.get("retired_at") is not None:
        raise CorruptKeyStore(f"{where}: an active key has no retired_at")
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
        key: RSAKey | ECKey
        if alg == "ES256":
            key = ECKey.import_key(jwk)
            if key.curve_name != "P-256":
                raise ValueError(f"ES256 needs a P-256 key, not {key.curve_name}")
        else:
            key = RSAKey.import_key(jwk)
            if key.raw_value.key_size < 2048:
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
    mine = key.private_key.public_key().public_bytes(serialization.Encoding.DER, spki)
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
    active: set[str] = set()
    for entry in entries:
        if entry.kid in seen:
            raise CorruptKeyStore(f"{file}: key {entry.kid} appears twice")
        seen.add(entry.kid)
        if entry.status == "active":
            if entry.alg in active:
                raise CorruptKeyStore(
                    f"{file}: more than one active {entry.alg} key; mark all but one 'retired'"
                )
            active.add(entry.alg)
    return entries


# -- application helpers -------------------------------------------------------------------
def open_keystore(settings: Settings, **kwargs: Any) -> KeyStore:
    """``KeyStore.from_settings``: the store the application and the CLI use."""
    return KeyStore.from_settings(settings, **kwargs)


def ensure_dev_keys(settings: Settings) -> KeyInfo:
    """Sandbox / ``make run``: make sure a key exists for ``settings.signing_alg`` (RS256 by
    default) and a refresh-token HMAC secret, generating them if needed. Idempotent and safe
    to call from several workers. Returns the signing key."""
    store = open_keystore(settings)
    store.generate(HMAC_ALGORITHM)
    info = store.generate(settings.signing_alg)
    logger.info("development signing key %s (%s) in %s", info.kid, info.alg, store.path)
    return info


def check_keys_for_startup(settings: Settings) -> KeyStore:
    """Start-up check outside sandbox mode: the configured ``signing_alg`` must have an active
    key. Returns the opened store.

    :raises MissingKeys: no active key for ``signing_alg``, or no refresh-token HMAC secret;
        the message says how to fix it.
    :raises CorruptKeyStore: the key file exists but cannot be used.
    """
    store = open_keystore(settings)
    try:
        store.signing_key(settings.signing_alg)
    except NoSigningKey:
        raise MissingKeys(
            f"no active {settings.signing_alg} signing key in {store.file}. santeid does not "
            "generate keys outside sandbox mode: run `santeid keys generate --alg "
            f"{settings.signing_alg}` with SANTEID_KEYS_DIR={settings.keys_dir}, or point "
            "SANTEID_KEYS_DIR at the directory holding your signing-keys.json "
            "(see keys/README.md)"
        ) from None
    try:
        store.signing_key(HMAC_ALGORITHM)
    except NoSigningKey:
        raise MissingKeys(
            f"no active {HMAC_ALGORITHM} secret in {store.file}: refresh tokens are signed with "
            f"it (docs/keys.md). Run `santeid keys generate --alg {HMAC_ALGORITHM}` with "
            f"SANTEID_KEYS_DIR={settings.keys_dir}"
        ) from None
    return store

"""Key lifecycle: what a key of the store is (algorithms, sizes, the entry and its public
view), how a new one is made (with its self-signed certificate), which key is active,
published or retired, and generation and rotation. Part of the key store
(:mod:`santeid.keystore`; ``docs/keys.md``).

Lifecycle of a key: *active* (signs, published) → *retired* by a rotation (no longer signs,
still published so tokens it signed keep verifying) → *unpublished* once
``retired_at + retired_key_lifetime + publication_margin`` has passed (every token it signed
has expired) → deleted from the file at the next write. OpenID Connect Core 1.0 §10.1.1:
rotation by publishing the new key in ``jwks_uri`` and keeping the old one there while tokens
it signed are still valid.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey
from joserfc.jwk import KeyParameters
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from santeid.keys.state import KeyStoreState
from santeid.settings import ConfigurationError

logger = logging.getLogger("santeid.keystore")


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


class KeysNotWritable(KeyStoreError):
    """The keys directory cannot be written: a read-only volume, permissions, a full disk."""

    @classmethod
    def because(cls, directory: object, exc: OSError) -> KeysNotWritable:
        return cls(
            f"cannot write in {directory}: {exc.strerror or exc} ({exc.filename or directory}). "
            "A read-only secret volume cannot be rotated in place: rotate a writable copy, "
            "then update the secret (keys/README.md)."
        )


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
    status: str  # "active" | "next" (prepared: published, signs from the next rotation) | "retired"
    created_at: datetime
    retired_at: datetime | None
    #: When a retired key leaves the JWK Set; ``None`` while active.
    published_until: datetime | None
    #: In the JWK Set right now (active, next, or retired and still within ``published_until``);
    #: never the HMAC secret, which the JWK Set never lists.
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


class KeyLifecycle(KeyStoreState):
    """Which key is active, published or retired; generation and rotation. Mixed into
    :class:`santeid.keystore.KeyStore`, which holds the state (``_entries``, ``clock``,
    ``retired_key_lifetime``, ``publication_margin``, ``default_alg``)."""

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
            published=entry.alg != HMAC_ALGORITHM and self._is_published(entry, now),
            key_size=entry.key_size,
        )

    def _active(self, alg: str) -> _Entry | None:
        return self._with_status("active", alg)

    def _with_status(self, status: str, alg: str) -> _Entry | None:
        for entry in self._entries:
            if entry.status == status and entry.alg == alg:
                return entry
        return None

    def _default_active(self) -> _Entry | None:
        for alg in (self.default_alg, *ALGORITHMS):
            entry = self._active(alg)
            if entry is not None:
                return entry
        return None

    def _ordered(self, now: float) -> builtins.list[_Entry]:
        """Active keys (default algorithm first), then next ones, then retired ones, most
        recently retired first. Naive clients take ``keys[0]`` of a JWK Set: make it the key
        that signs."""
        default = self._default_active()
        active = [e for e in self._entries if e.status == "active"]
        active.sort(key=lambda e: (e is not default, STORED_ALGORITHMS.index(e.alg)))
        prepared = [e for e in self._entries if e.status == "next"]
        prepared.sort(key=lambda e: STORED_ALGORITHMS.index(e.alg))
        retired = [e for e in self._entries if e.status == "retired"]
        retired.sort(key=lambda e: -(e.retired_at or 0))
        return active + prepared + retired

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

    # -- writing ---------------------------------------------------------------------------
    def generate(self, alg: str = "RS256", *, key_size: int | None = None) -> KeyInfo:
        """Add an active key for ``alg`` unless one exists (then return that one: idempotent,
        so ``make run`` and concurrent sandbox workers can all call it)."""
        _check_alg(alg, key_size)
        with self._lock:
            # The usual case (every start after the first): the key is there, and reading the
            # file again under the file lock would import (and so validate) every RSA key
            # once more, which costs more CPU than generating one.
            self._refresh()
            existing = self._active(alg)
            if existing is not None:
                return self._info(existing, self.clock())
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

    def prepare(self, alg: str | None = None, *, key_size: int | None = None) -> KeyInfo:
        """Add the *next* key for ``alg`` (default: the algorithm of the current default key)
        unless there is one (then return it): published at once, and signing only from the
        next :meth:`rotate`, which promotes it. So every host (a copied keys folder, a
        Kubernetes Secret reaching each node in its own time) and every relying party's cached
        JWK Set can know the key before any token is signed with it (OIDC Core §10.1.1). A new
        RSA key has the size of the active one unless ``key_size`` is given."""
        if alg is not None:
            _check_alg(alg, key_size)
        with self._lock, self._writing():
            alg = self._rotated_alg(alg, key_size)
            now = self.clock()
            existing = self._with_status("next", alg)
            if existing is not None:
                return self._info(existing, now)
            entry = self._new_key(alg, key_size, self._active(alg), now)
            entry.status = "next"
            self._entries.append(entry)
            self._save(now)
            logger.info("prepared %s signing key %s (signs from the next rotation)", alg, entry.kid)
            return self._info(entry, now)

    def _rotated_alg(self, alg: str | None, key_size: int | None) -> str:
        if alg is None:
            current = self._default_active()
            alg = current.alg if current is not None else self.default_alg
            _check_alg(alg, key_size)
        return alg

    def _new_key(
        self, alg: str, key_size: int | None, previous: _Entry | None, now: float
    ) -> _Entry:
        if key_size is None:
            key_size = previous.key_size if previous and alg.startswith(("RS", "PS")) else None
        entry = _new_entry(alg, key_size or DEFAULT_RSA_KEY_SIZE, now)
        if entry.kid in {e.kid for e in self._entries}:  # pragma: no cover - 2^-256
            raise KeyStoreError("generated a key identical to an existing one")
        return entry

    def rotate(self, alg: str | None = None, *, key_size: int | None = None) -> KeyInfo:
        """Make a new active key for ``alg`` (default: the algorithm of the current default
        key) and retire the previous one (``retired_at`` = now). The new key is the one
        :meth:`prepare` made, if any (already published everywhere); else a new one. The
        retired key stays in the JWK Set until :attr:`KeyInfo.published_until` (OIDC Core
        §10.1.1). A new RSA key has the size of the one it replaces unless ``key_size`` is
        given.
        """
        if alg is not None:
            _check_alg(alg, key_size)
        with self._lock, self._writing():
            alg = self._rotated_alg(alg, key_size)
            previous = self._active(alg)
            now = self.clock()
            entry = self._with_status("next", alg)
            if entry is None:
                entry = self._new_key(alg, key_size, previous, now)
                self._entries.append(entry)
            elif key_size is not None and key_size != entry.key_size:
                raise UnsupportedAlgorithm(
                    f"the prepared {alg} key {entry.kid} has {entry.key_size} bits, not "
                    f"{key_size}: rotate without a size to make it the active key"
                )
            entry.status = "active"
            if previous is not None:
                previous.status = "retired"
                # Rounded up: retiring "later" can only lengthen the publication window.
                previous.retired_at = math.ceil(now)
            self._save(now)
            logger.info(
                "rotated %s signing key: %s active, %s retired",
                alg,
                entry.kid,
                previous.kid if previous else "none",
            )
            return self._info(entry, now)


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
    parameters: KeyParameters = {"alg": alg, "use": "sig"}
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
    if private is None:
        raise ValueError(f"key {kid} has no private part: it cannot sign its certificate")
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

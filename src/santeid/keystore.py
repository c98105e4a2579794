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

The store is split by concern: :mod:`santeid.keys.lifecycle` (the key model, generation,
rotation, retirement), :mod:`santeid.keys.storage` (the file) and :mod:`santeid.keys.signing`
(sign, verify, JWK Set). This module assembles :class:`KeyStore` from them, adds the
application helpers, and keeps every public name importable from ``santeid.keystore``.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from santeid.settings import Settings

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.keys.lifecycle import ALGORITHMS
from santeid.keys.lifecycle import DEFAULT_RSA_KEY_SIZE
from santeid.keys.lifecycle import HMAC_ALGORITHM
from santeid.keys.lifecycle import KEYS_FILENAME
from santeid.keys.lifecycle import RSA_KEY_SIZES
from santeid.keys.lifecycle import STORED_ALGORITHMS
from santeid.keys.lifecycle import CorruptKeyStore
from santeid.keys.lifecycle import InvalidSignature
from santeid.keys.lifecycle import KeyInfo
from santeid.keys.lifecycle import KeyLifecycle
from santeid.keys.lifecycle import KeysNotWritable
from santeid.keys.lifecycle import KeyStoreError
from santeid.keys.lifecycle import MissingKeys
from santeid.keys.lifecycle import NoSigningKey
from santeid.keys.lifecycle import SigningKey
from santeid.keys.lifecycle import UnsupportedAlgorithm
from santeid.keys.lifecycle import _alg_message
from santeid.keys.lifecycle import _Entry
from santeid.keys.signing import KeySigning
from santeid.keys.storage import KeyFileStorage

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
    "KeysNotWritable",
    "MissingKeys",
    "NoSigningKey",
    "SigningKey",
    "UnsupportedAlgorithm",
    "check_keys_for_startup",
    "ensure_dev_keys",
    "open_keystore",
    "server_algorithms",
]

logger = logging.getLogger(__name__)


class KeyStore(KeyLifecycle, KeyFileStorage, KeySigning):
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
        clock: Clock = system_clock,
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
            retired_key_lifetime=settings.oidc.longest_token_lifetime,
            default_alg=settings.oidc.signing_alg,
            **kwargs,
        )


# -- application helpers -------------------------------------------------------------------
def open_keystore(settings: Settings, **kwargs: Any) -> KeyStore:
    """``KeyStore.from_settings``: the store the application and the CLI use."""
    return KeyStore.from_settings(settings, **kwargs)


def server_algorithms(settings: Settings) -> tuple[str, str]:
    """The algorithms of the keys every server needs in its store: ``signing_alg``'s (tokens)
    and the refresh-token secret's (``HS512``). ``santeid keys generate`` makes them, with the
    Web Push key (:mod:`santeid.keys.vapid`); a start outside sandbox mode requires them."""
    return settings.oidc.signing_alg, HMAC_ALGORITHM


def ensure_dev_keys(settings: Settings, store: KeyStore | None = None) -> KeyInfo:
    """Sandbox / ``make run``: make sure the keys of :func:`server_algorithms` exist, generating
    them if needed, in ``store`` (default: the configured one). Idempotent and safe to call
    from several workers. Returns the signing key."""
    if store is None:
        store = open_keystore(settings)
    # The secret first: the signing key's generation is the last write, so that the file is
    # not read again after it (importing an RSA key costs as much as making one).
    signing_alg, secret_alg = server_algorithms(settings)
    store.generate(secret_alg)
    info = store.generate(signing_alg)
    logger.info("development signing key %s (%s) in %s", info.kid, info.alg, store.path)
    return info


def check_keys_for_startup(settings: Settings, **kwargs: Any) -> KeyStore:
    """Start-up check outside sandbox mode: every algorithm of :func:`server_algorithms` must
    have an active key. Returns the opened store.

    :raises MissingKeys: no active key for ``signing_alg``, or no refresh-token HMAC secret;
        the message says how to fix it.
    :raises CorruptKeyStore: the key file exists but cannot be used.
    """
    store = open_keystore(settings, **kwargs)
    for alg in server_algorithms(settings):
        try:
            store.signing_key(alg)
        except NoSigningKey:
            what = (
                "secret: refresh tokens are signed with it"
                if alg == HMAC_ALGORITHM
                else "signing key"
            )
            raise MissingKeys(
                f"no active {alg} {what} in {store.file}. santeid does not generate keys "
                f"outside sandbox mode: run `santeid keys generate` with "
                f"SANTEID_KEYS_DIR={settings.keys_dir}, which makes the keys a server needs "
                "(docs/keys.md), or point SANTEID_KEYS_DIR at the directory holding your "
                "signing-keys.json (keys/README.md)"
            ) from None
    return store

"""The Web Push key (VAPID, RFC 8292): a P-256 private key in ``{keys_dir}/vapid-private.pem``
(PKCS#8 PEM, mode 0600), beside the signing keys and shared with them: every host must push
with the key the phones subscribed with (RFC 8292 §4.2: a push service refuses a message signed
by another key than the subscription's). ``santeid keys generate`` makes it with the others
(docs/keys.md, "A new server's keys"); ``santeid.ecps.push`` signs with it."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

#: File of the VAPID private key under ``keys_dir``.
VAPID_KEY_FILE = "vapid-private.pem"


def vapid_key_path(keys_dir: Path | str) -> Path:
    return Path(keys_dir) / VAPID_KEY_FILE


def make_vapid_key(keys_dir: Path | str) -> bool:
    """Write a new key in ``keys_dir`` unless one is there; ``True`` when this call wrote it
    (``O_EXCL``: of two processes making it at once, one writes it and both use it)."""
    path = vapid_key_path(keys_dir)
    if path.exists():
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return True

"""The e-CPS PIN: its rules and how it is kept (an Argon2id hash, RFC 9106).

The PIN is the knowledge factor of the e-CPS (docs/reference/pro-sante-connect.md §13: "saisie du
mot de passe e-CPS").
It is chosen on the phone at registration, sent once in the registration body and then in each
decision JWT (over TLS only), and stored only as an Argon2id hash.

Why Argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1, "Password Storage Cheat
Sheet") rather than RFC 9106's 64 MiB / t = 3 profile: a PIN has 10^4 to 10^8 values, so no
hash makes a stolen database safe on its own; what protects a PIN is the lock after
``ecps_pin_attempts`` wrong tries. The hash only has to make an offline search of a leaked
file slow (about 40 ms a guess here, i.e. days for 8 digits on one core) while keeping the
cost of a legitimate decision modest: a gunicorn worker with 8 threads verifying at once
needs 8 × 19 MiB, not 8 × 64 MiB. The parameters are stored in each hash (PHC string), so
they can be raised later; :meth:`PinHasher.needs_rehash` tells when a stored hash is older.
"""

from __future__ import annotations

import base64
import binascii
import re

from argon2 import PasswordHasher
from argon2 import Type
from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

#: 4 to 8 ASCII digits. ``\d`` would also accept other scripts' digits (e.g. "١٢٣٤").
PIN_PATTERN = re.compile(r"[0-9]{4,8}")


def is_valid_pin(pin: object) -> bool:
    """The PIN rule of santeid: a string of 4 to 8 digits (a number is refused: "0123" ≠ 123)."""
    return isinstance(pin, str) and PIN_PATTERN.fullmatch(pin) is not None


#: Bytes of salt and of hash :class:`PinHasher` writes (``salt_len``, ``hash_len``).
SALT_BYTES = 16
HASH_BYTES = 32
#: Argon2's smallest salt and tag (RFC 9106 §3.1).
MIN_SALT_BYTES = 8
MIN_HASH_BYTES = 4


def is_hash(text: str) -> bool:
    """Whether ``text`` is an Argon2 hash a secret could be verified against: a PHC string
    ``$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`` (https://github.com/P-H-C/phc-string-format)
    whose salt and hash are base64 of at least Argon2's minimum lengths (RFC 9106 §3.1: a salt
    of 8 bytes, a tag of 4) — what any Argon2 tool writes, whatever lengths it chose. A copy
    emptied, or cut short where its base64 no longer decodes, is refused."""
    try:
        extract_parameters(text)
    except InvalidHashError:
        return False
    *_, salt, digest = text.split("$")
    salt_bytes, digest_bytes = _unpadded_length(salt), _unpadded_length(digest)
    return (
        salt_bytes is not None
        and digest_bytes is not None
        and salt_bytes >= MIN_SALT_BYTES
        and digest_bytes >= MIN_HASH_BYTES
    )


def _unpadded_length(field: str) -> int | None:
    """Bytes of a PHC field (base64 without padding), ``None`` when it is not one."""
    try:
        return len(base64.b64decode(field + "=" * (-len(field) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


class PinHasher:
    """Argon2id hashing and verification of PINs (argon2-cffi, RFC 9106)."""

    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19 * 1024, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=HASH_BYTES,
            salt_len=SALT_BYTES,
            type=Type.ID,
        )

    def hash(self, pin: str) -> str:
        return self._hasher.hash(pin)

    def verify(self, stored: str, pin: str) -> bool:
        """``True`` if ``pin`` matches ``stored``. Argon2 compares in constant time."""
        try:
            return self._hasher.verify(stored, pin)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return False

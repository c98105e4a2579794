"""Fixed-window rate limits kept in the ephemeral store, so every worker and host counts
together (``store.incr`` is atomic and sets the window's lifetime on the first hit only).

A limit is a name, a subject (a national identifier, a client address…), a number of hits and
a window in seconds: :func:`hit` counts one hit and says whether the limit is passed. The
subject is hashed into the key, so an address or identifier never becomes part of a key
verbatim (no key injection, fixed length). What each limit protects is in ``docs/security.md``.
"""

from __future__ import annotations

from santeid.observability import metrics
from santeid.storage import EphemeralStore
from santeid.storage import keys


def _key(name: str, subject: str) -> str:
    return keys.RATE.key(name, keys.digest(subject, 32))


def hit(store: EphemeralStore, name: str, subject: str, *, limit: int, window: int) -> bool:
    """Count one hit of ``subject`` under the limit ``name``; ``True`` when this hit is beyond
    ``limit`` hits in the current window (the caller refuses it)."""
    beyond = store.incr(_key(name, subject), window) > limit
    if beyond:
        metrics.refused(f"rate_limit:{name}")
    return beyond

"""Short-lived state (login transactions, codes, sessions, token families, jti cache).

Pick the implementation with :func:`store_from_url`; the contract is
:class:`EphemeralStore`, documented in ``docs/storage.md``. The Redis store
(:mod:`santeid.storage.redis`) is imported only for a Redis URL: the redis client library
costs a process that keeps its state in memory (``memory://``) about 50 ms of CPU.
"""

from __future__ import annotations

from santeid.storage.base import EphemeralStore
from santeid.storage.base import StoreUnavailable
from santeid.storage.memory import MemoryStore

__all__ = [
    "ACCEPTED_URLS",
    "EphemeralStore",
    "MemoryStore",
    "StoreUnavailable",
    "store_from_url",
]

#: Shapes of URL :func:`store_from_url` accepts, as shown in its error message.
ACCEPTED_URLS = (
    "memory://",
    "redis://[[user]:password@]host:port/db",
    "rediss://[[user]:password@]host:port/db",
    "unix:///path/to/redis.sock?db=0",
    "redis+sentinel://[[user]:password@]host1:port1,host2:port2/service_name/db",
)

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")


def store_from_url(url: str, *, key_prefix: str = "santeid:") -> EphemeralStore:
    """Return the store ``url`` designates; no connection is made yet.

    ``key_prefix`` namespaces every key in a shared Redis (several deployments on one
    server); a :class:`MemoryStore` is private to the process and ignores it.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "memory":
        if rest:
            raise ValueError("a memory store URL is exactly memory:// (it takes no options)")
        return MemoryStore()
    if sep and scheme in _REDIS_SCHEMES:
        from santeid.storage.redis import RedisStore

        return RedisStore.from_url(url, key_prefix=key_prefix)
    # Name only the scheme: the URL itself may carry a password.
    shown = f"scheme {scheme!r}" if sep else "URL without a scheme"
    raise ValueError(f"unsupported store URL ({shown}); accepted: " + ", ".join(ACCEPTED_URLS))

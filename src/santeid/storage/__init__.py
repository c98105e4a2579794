"""Short-lived state (login transactions, codes, sessions, token families, jti cache).

Pick the implementation with :func:`store_from_url`; the contract is
:class:`EphemeralStore`, documented in ``docs/storage.md``. The Redis store
(:mod:`santeid.storage.redis`) is imported only for a Redis URL: the redis client library
costs a process that keeps its state in memory (``memory://``) about 50 ms of CPU.
"""

from __future__ import annotations

import logging

from santeid.storage.base import EphemeralStore
from santeid.storage.base import StoreUnavailable
from santeid.storage.memory import MemoryStore

__all__ = [
    "ACCEPTED_URLS",
    "EphemeralStore",
    "MemoryStore",
    "StoreUnavailable",
    "check_persistence",
    "store_from_url",
    "store_url_problem",
]

#: The server's start-up logger: what the store check finds is said with the other start-up
#: messages.
log = logging.getLogger("santeid")

#: Shapes of URL :func:`store_from_url` accepts, as shown in its error message.
ACCEPTED_URLS = (
    "memory://",
    "redis://[[user]:password@]host:port/db",
    "rediss://[[user]:password@]host:port/db",
    "unix:///path/to/redis.sock?db=0",
    "redis+sentinel://[[user]:password@]host1:port1,host2:port2/service_name/db",
)

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")


def store_url_problem(url: str) -> str | None:
    """What is wrong with the form of ``url`` for :func:`store_from_url` (the words that follow
    "the store URL"), or None: its scheme, or a Redis URL the Redis store could not parse (a
    port that is no number or out of range, a broken IPv6 address, a db that is no number),
    told with the URL's password masked, as a malformed ``database_url`` is."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "memory":
        return "memory:// takes no options: write exactly memory://" if rest else None
    if sep and scheme in _REDIS_SCHEMES:
        from santeid.db.backends import redact
        from santeid.storage.redis import check_redis_url

        try:
            check_redis_url(url)
        except ValueError as exc:
            return f"{redact(url)!r} is not a valid URL: {exc}"
        return None
    shown = f"has the unsupported scheme {scheme!r}" if sep else "has no scheme"
    return f"{shown}; accepted: " + ", ".join(ACCEPTED_URLS)


def store_from_url(url: str, *, key_prefix: str = "santeid:") -> EphemeralStore:
    """Return the store ``url`` designates; no connection is made yet.

    ``key_prefix`` namespaces every key in a shared Redis (several deployments on one
    server); a :class:`MemoryStore` is private to the process and ignores it.
    """
    problem = store_url_problem(url)
    if problem:
        raise ValueError(f"the store URL {problem}")
    if url.partition("://")[0].lower() == "memory":
        return MemoryStore()
    from santeid.storage.redis import RedisStore

    return RedisStore.from_url(url, key_prefix=key_prefix)


def check_persistence(store: EphemeralStore) -> None:
    """Warn when the Redis store would forget revoked tokens on a restart (docs/deployment.md,
    "Redis persistence"): a revoked access token would be accepted again until it expires."""
    persistence = getattr(store, "persistence", None)
    if persistence is None:
        return  # memory://: one process, gone with it anyway
    kind = persistence()
    if kind is None:
        log.info(
            "store persistence not checked (CONFIG GET refused or Redis unreachable): make sure "
            "Redis persists its data (AOF or RDB), or revoked tokens come back after a restart"
        )
    elif not kind:
        log.warning(
            'the Redis store does not persist its data (appendonly no, save ""): after a Redis '
            "restart, revoked access tokens are accepted again until they expire and jti replay "
            "caches are empty. Turn on AOF (appendonly yes) in production (docs/deployment.md)"
        )

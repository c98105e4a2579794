"""Redis-backed :class:`EphemeralStore`, shared by every worker and host (``redis://``).

Needs Redis ≥ 6.2 (``GETDEL``; ``SET … KEEPTTL``). Every command and script touches one
key, so the layout works unchanged behind Sentinel and is Cluster-safe (no cross-slot
command). See ``docs/storage.md`` for the key layout and deployment notes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import cast
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.connection import URL_QUERY_ARGUMENT_PARSERS
from redis.connection import parse_url as redis_parse_url
from redis.exceptions import AuthenticationError
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError
from redis.exceptions import NoScriptError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import ReadOnlyError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError
from redis.sentinel import Sentinel

from santeid.storage.base import BatchedOperation
from santeid.storage.base import EphemeralStore
from santeid.storage.base import StoreUnavailable
from santeid.storage.base import check_amount
from santeid.storage.base import check_key
from santeid.storage.base import check_member
from santeid.storage.base import check_optional_ttl
from santeid.storage.base import check_ttl
from santeid.storage.base import decode_record
from santeid.storage.base import encode_record
from santeid.storage.base import json_image
from santeid.storage.base import matches

log = logging.getLogger(__name__)

DEFAULT_SENTINEL_PORT = 26379

# Errors that say "Redis cannot serve us right now" rather than "we sent something wrong".
# BusyLoadingError: restarting and still loading its dataset; ReadOnlyError: we reached a
# replica (e.g. the old master after a failover); MasterDownError: a replica lost its
# master; OutOfMemoryError: maxmemory reached with noeviction, writes refused until keys
# expire. All are transient: 503, and the next request may succeed.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    MasterDownError,
    OutOfMemoryError,
)

# A lost compare-and-swap means another writer changed the record in between; each retry
# re-reads, so this only bounds pathological contention on one key.
_CAS_ATTEMPTS = 100

# Compare-and-swap on the exact JSON text. Merging is done in Python, not with cjson:
# Redis' cjson turns [] into {} and rounds numbers to 14 significant digits, which would
# silently corrupt records. A lost swap answers with the text it found (nil if the key is
# gone), so the caller checks again without another round trip to read it.
_CAS_LUA = """
local found = redis.call('GET', KEYS[1])
if found ~= ARGV[1] then
  return found
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""

# As limits' incr_expire.lua, but tests existence instead of "value == amount", which
# would re-arm the TTL whenever the counter comes back to `amount`.
_INCR_LUA = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[2])
if created then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return value
"""

# PTTL is -1 on a set SADD just created, so the first member always sets the lifetime.
# (EXPIRE … GT cannot do this: it treats "no TTL" as infinite.)
_ADD_MEMBER_LUA = """
redis.call('SADD', KEYS[1], ARGV[1])
local wanted = tonumber(ARGV[2]) * 1000
if redis.call('PTTL', KEYS[1]) < wanted then
  redis.call('PEXPIRE', KEYS[1], wanted)
end
return 1
"""


def _merged(raw: str, key: str, expected: dict, changes: dict) -> dict | None:
    """The record of JSON text ``raw`` with ``changes``, or ``None`` if it does not match."""
    record = decode_record(raw, key)
    if not matches(record, expected):
        return None
    record.update(changes)
    return record


def _ttl_arg(ttl: int | None) -> str:
    return "" if ttl is None else str(ttl)


def _swap_arguments(operation: BatchedOperation) -> tuple[dict, dict, int | None]:
    """``(expected, changes, ttl)`` of a batched transition or update."""
    if operation.name == "update":
        changes, ttl = operation.args
        return {}, changes, ttl
    expected, changes, ttl = operation.args
    return expected, changes, ttl


def _connection_options(*, tcp: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        # Fail fast: a request waiting on a dead Redis holds a worker; 503 is better.
        "socket_connect_timeout": 2.0,
        "socket_timeout": 2.0,
        # PING a connection idle this long before reusing it, so connections broken by a
        # Redis restart or a failover are replaced before a request trips on them.
        "health_check_interval": 15,
        # One immediate retry on a *connection* error, on a fresh connection: this is what
        # makes the first request after a Redis restart succeed instead of getting the dead
        # pooled socket. Timeouts are not retried (the command may have run, and waiting
        # twice doubles the stall); a retried write that had in fact run fails closed
        # (add() → False, pop() → None, transition() → None), never open.
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "decode_responses": True,
        "client_name": "santeid",
    }
    if tcp:
        # Unix sockets do not take this option.
        options["socket_keepalive"] = True
    return options


class RedisStore(EphemeralStore):
    """:class:`EphemeralStore` on Redis; safe to share between threads.

    ``client`` is owned by the store (closed by :meth:`close`). Build one with
    :meth:`from_url` (or :func:`santeid.storage.store_from_url`) to get the timeouts and
    retry policy described in ``docs/storage.md``. A ``redis.RedisCluster`` client works
    too, since every command and script touches a single key.

    Layout: ``{prefix}{key}`` holds a record as JSON text (string), a counter (string
    integer) or a set (Redis SET); nothing else is written.
    """

    backend = "redis"

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster,
        *,
        key_prefix: str = "santeid:",
        sentinel: Sentinel | None = None,
    ) -> None:
        self._client = client
        self._sentinel = sentinel
        self.key_prefix = key_prefix
        self._closed = False
        # register_script: EVALSHA, falling back to loading the script on NOSCRIPT (e.g.
        # after a Redis restart emptied the script cache).
        self._cas = client.register_script(_CAS_LUA)
        self._incr = client.register_script(_INCR_LUA)
        self._add_member = client.register_script(_ADD_MEMBER_LUA)

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str = "santeid:") -> RedisStore:
        """Build from ``redis://``, ``rediss://``, ``unix://`` or ``redis+sentinel://``.

        No connection is made here: a Redis that is down at start-up makes requests fail
        with :class:`StoreUnavailable` until it comes up, it does not stop the provider.
        Query parameters redis-py understands (``?socket_timeout=5``, ``?max_connections=50``)
        override the defaults.
        """
        scheme = url.partition("://")[0].lower()
        if scheme == "redis+sentinel":
            return cls._from_sentinel_url(url, key_prefix=key_prefix)
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL scheme: {scheme!r}")
        client = redis.Redis.from_url(url, **_connection_options(tcp=scheme != "unix"))
        return cls(client, key_prefix=key_prefix)

    @classmethod
    def _from_sentinel_url(cls, url: str, *, key_prefix: str) -> RedisStore:
        sentinels, service, options, sentinel_auth = parse_sentinel_url(url)
        base = _connection_options(tcp=True)
        # Explicit, or the sentinel clients get redis-py's default retry policy, which
        # backs off for seconds when no sentinel answers: requests would stall, not 503.
        sentinel_options = {
            "socket_connect_timeout": base["socket_connect_timeout"],
            "socket_timeout": base["socket_timeout"],
            "retry": base["retry"],
            **sentinel_auth,
        }
        sentinel = _Sentinel(sentinels, sentinel_kwargs=sentinel_options)
        client = sentinel.master_for(service, redis_class=redis.Redis, **(base | options))
        return cls(client, key_prefix=key_prefix, sentinel=sentinel)

    def persistence(self) -> str | None:
        """How the Redis server persists its data: ``"aof"``, ``"rdb"``, ``"aof+rdb"``, ``""``
        (it does not: a restart forgets every key, revocations included), or ``None`` when
        it cannot be told (``CONFIG`` disabled or not permitted, as on many managed services,
        or Redis unreachable). Never raises: a start-up check (``docs/deployment.md``)."""
        try:
            appendonly = self._client.config_get("appendonly").get("appendonly", "")
            save = self._client.config_get("save").get("save", "")
        except Exception:  # noqa: BLE001 - any failure means "cannot tell"
            return None
        kinds = []
        if str(appendonly).lower() == "yes":
            kinds.append("aof")
        if str(save).strip():
            kinds.append("rdb")
        return "+".join(kinds)

    # -- internals -----------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.key_prefix + check_key(key)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        if self._closed:
            raise StoreUnavailable("the redis store is closed")
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"redis unavailable: {exc}") from exc
        except ResponseError as exc:
            # Same exception as MemoryStore for a key used with the wrong kind of operation.
            message = str(exc)
            if "WRONGTYPE" in message or "not an integer" in message:
                raise TypeError(f"key used with the wrong kind of operation: {message}") from exc
            raise

    # -- records -------------------------------------------------------------------------

    def put(self, key: str, value: dict, ttl: int) -> None:
        """Atomic: ``SET key json EX ttl``."""
        k = self._key(key)
        raw = encode_record(value)
        check_ttl(ttl)
        with self._errors():
            self._client.set(k, raw, ex=ttl)

    def get(self, key: str) -> dict | None:
        """``GET``."""
        k = self._key(key)
        with self._errors():
            raw = self._client.get(k)
        return None if raw is None else decode_record(raw, key)

    def get_many(self, *keys: str) -> list[dict | None]:
        """One ``GET`` per key, pipelined (no ``MULTI``, no cross-slot ``MGET``)."""
        ks = [self._key(key) for key in keys]
        if not ks:
            return []
        with self._errors(), self._client.pipeline(transaction=False) as pipe:
            for k in ks:
                pipe.get(k)
            replies = pipe.execute()
        return [
            None if raw is None else decode_record(raw, key)
            for key, raw in zip(keys, replies, strict=True)
        ]

    def add(self, key: str, value: dict, ttl: int) -> bool:
        """Atomic: ``SET key json NX EX ttl``."""
        k = self._key(key)
        raw = encode_record(value)
        check_ttl(ttl)
        with self._errors():
            return bool(self._client.set(k, raw, ex=ttl, nx=True))

    def pop(self, key: str) -> dict | None:
        """Atomic: ``GETDEL`` (Redis ≥ 6.2)."""
        k = self._key(key)
        with self._errors():
            raw = self._client.getdel(k)
        return None if raw is None else decode_record(raw, key)

    def transition(
        self,
        key: str,
        expected: dict,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """Atomic: check and merge here, then Lua compare-and-swap on the JSON text.

        The record checked is ``current`` (no round trip to read it) or, without it or when
        it does not match ``expected``, the one ``GET`` returns. The swap (``SET … KEEPTTL``,
        or ``EX ttl``) only happens if the record is still the exact text that was checked;
        otherwise the script hands back the text it found, which is checked again, so the
        outcome is as if the whole operation ran at the instant of the swap.
        """
        k = self._key(key)
        expected_image = json_image(expected)
        changes_image = json_image(changes)
        check_optional_ttl(ttl)
        return self._merge(k, key, expected_image, changes_image, ttl, current)

    def update(
        self,
        key: str,
        changes: dict,
        ttl: int | None = None,
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict | None:
        """Atomic: as :meth:`transition` with nothing expected (no update is ever lost)."""
        k = self._key(key)
        changes_image = json_image(changes)
        check_optional_ttl(ttl)
        return self._merge(k, key, {}, changes_image, ttl, current)

    def _merge(
        self,
        k: str,
        key: str,
        expected: dict,
        changes: dict,
        ttl: int | None,
        current: Mapping[str, Any] | None,
    ) -> dict | None:
        raw = None if current is None else encode_record(current)
        return self._swap(k, key, expected, changes, ttl, raw, stored=False)

    def _swap(
        self,
        k: str,
        key: str,
        expected: dict,
        changes: dict,
        ttl: int | None,
        raw: str | None,
        *,
        stored: bool,
    ) -> dict | None:
        """The compare-and-swap loop, from the text ``raw``: ``stored`` when it came from
        Redis (a ``GET`` or a lost swap), else the caller's copy, which may be stale."""
        for _ in range(_CAS_ATTEMPTS):
            if raw is None:
                with self._errors():
                    # decode_responses: text, never bytes.
                    raw = cast(str | None, self._client.get(k))
                if raw is None:
                    return None
                stored = True
            record = _merged(raw, key, expected, changes)
            if record is None:
                if stored:
                    return None
                raw = None  # the caller's copy does not match: what does Redis hold?
                continue
            with self._errors():
                found = self._cas(keys=[k], args=[raw, encode_record(record), _ttl_arg(ttl)])
            if found == 1:
                return record
            if found is None:
                return None
            raw, stored = found, True
        raise StoreUnavailable(f"too many concurrent writers on {key!r}, try again")

    def _run_batch(self, operations: list[BatchedOperation]) -> list[Any]:
        """One pipeline (no ``MULTI``: each command and script touches one key, so a Cluster
        splits it by node). A compare-and-set goes into it when its ``current`` copy matches
        what it expects; the others, and those whose swap found another text, are finished
        after it by the usual loop, from the text the script handed back."""
        swaps: dict[int, tuple[str, dict]] = {}
        with self._errors(), self._client.pipeline(transaction=False) as pipe:
            for i, operation in enumerate(operations):
                k = self._key(operation.key)
                if operation.name == "put":
                    value, ttl = operation.args
                    pipe.set(k, encode_record(value), ex=ttl)
                elif operation.name == "add_member":
                    member, ttl = operation.args
                    pipe.evalsha(self._add_member.sha, 1, k, member, ttl)
                elif operation.name == "remove_member":
                    pipe.srem(k, *operation.args)
                else:
                    expected, changes, ttl = _swap_arguments(operation)
                    if operation.current is None:
                        continue
                    raw = encode_record(operation.current)
                    record = _merged(raw, operation.key, expected, changes)
                    if record is None:
                        continue
                    swaps[i] = (raw, record)
                    pipe.evalsha(self._cas.sha, 1, k, raw, encode_record(record), _ttl_arg(ttl))
            replies = iter(pipe.execute(raise_on_error=False))
        results: list[Any] = []
        for i, operation in enumerate(operations):
            if operation.name == "remove_member":
                reply = next(replies)
                if isinstance(reply, Exception):
                    with self._errors():
                        raise reply
                results.append(bool(reply))
                continue
            if operation.name in ("put", "add_member"):
                reply = next(replies)
                if isinstance(reply, NoScriptError) and operation.name == "add_member":
                    # A Redis restart emptied its script cache: done alone, it is loaded.
                    self.add_member(operation.key, *operation.args)
                elif isinstance(reply, Exception):
                    with self._errors():
                        raise reply
                results.append(None)
                continue
            k = self._key(operation.key)
            expected, changes, ttl = _swap_arguments(operation)
            reply = next(replies) if i in swaps else None
            if i not in swaps or isinstance(reply, NoScriptError):
                results.append(self._merge(k, operation.key, expected, changes, ttl, None))
            elif isinstance(reply, Exception):
                with self._errors():
                    raise reply
            elif reply == 1:
                results.append(swaps[i][1])
            elif reply is None:
                results.append(None)
            else:
                found = self._swap(k, operation.key, expected, changes, ttl, reply, stored=True)
                results.append(found)
        return results

    # -- counters and sets -----------------------------------------------------------------

    def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """Atomic: Lua ``EXISTS`` + ``INCRBY`` + ``EXPIRE`` (only when created)."""
        k = self._key(key)
        check_ttl(ttl)
        check_amount(amount)
        with self._errors():
            return int(self._incr(keys=[k], args=[ttl, amount]))

    def counter(self, key: str) -> int:
        """``GET``."""
        k = self._key(key)
        with self._errors():
            raw = self._client.get(k)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError:
            raise TypeError(f"key {key!r} does not hold a counter") from None

    def add_member(self, key: str, member: str, ttl: int) -> None:
        """Atomic: Lua ``SADD`` + ``PTTL`` + ``PEXPIRE`` (lifetime = max(remaining, ttl))."""
        k = self._key(key)
        check_member(member)
        check_ttl(ttl)
        with self._errors():
            self._add_member(keys=[k], args=[member, ttl])

    def remove_member(self, key: str, member: str) -> bool:
        """``SREM``."""
        k = self._key(key)
        check_member(member)
        with self._errors():
            return bool(self._client.srem(k, member))

    def members(self, key: str) -> set[str]:
        """``SMEMBERS``."""
        k = self._key(key)
        with self._errors():
            found = self._client.smembers(k)
        return {m.decode() if isinstance(m, bytes) else m for m in found}

    # -- any kind --------------------------------------------------------------------------

    def ttl(self, key: str) -> int | None:
        """``PTTL``, rounded up to whole seconds."""
        k = self._key(key)
        with self._errors():
            ms = self._client.pttl(k)
        # -2: absent. -1 (no lifetime) cannot come from this store, whose every write sets
        # one; a key like that was written by someone else and is reported as absent.
        if ms < 0:
            return None
        return -(-ms // 1000)

    def delete(self, *keys: str) -> int:
        """One ``DEL`` per key, pipelined: a multi-key DEL would be cross-slot on a Cluster."""
        ks = [self._key(key) for key in keys]
        if not ks:
            return 0
        with self._errors():
            if len(ks) == 1:
                return int(self._client.delete(ks[0]))
            with self._client.pipeline(transaction=False) as pipe:
                for k in ks:
                    pipe.delete(k)
                return sum(pipe.execute())

    def ping(self) -> bool:
        """``PING``; any failure (down, wrong password, no master known) is ``False``, its
        reason logged (redis-py's messages name the host and port, never the password)."""
        if self._closed:
            return False
        try:
            return bool(self._client.ping())
        except Exception as exc:
            log.warning("Redis store does not answer PING: %s: %s", type(exc).__name__, exc)
            return False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.close()
        if self._sentinel is not None:
            for client in self._sentinel.sentinels:
                client.close()

    def __repr__(self) -> str:
        if isinstance(self._client, redis.RedisCluster):
            # A cluster client has no single connection pool: name the node it starts from.
            where = f"cluster {self._client.get_default_node()!r}"
        else:
            where = repr(self._client.connection_pool)
        return f"<RedisStore {where} prefix={self.key_prefix!r}>"


def _address(client: redis.Redis) -> str:
    """``host:port`` of a sentinel client (``[::1]:26379`` for an IPv6 host)."""
    kwargs = client.connection_pool.connection_kwargs
    host = str(kwargs.get("host", "?"))
    return f"[{host}]:{kwargs.get('port')}" if ":" in host else f"{host}:{kwargs.get('port')}"


def _first_line(exc: Exception, limit: int = 80) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Sentinel(Sentinel):
    """redis-py's :class:`~redis.sentinel.Sentinel` whose "no master" error is one short line.

    redis-py's :meth:`~redis.sentinel.Sentinel.discover_master` puts the ``repr`` of every
    sentinel client it could not reach in :class:`~redis.sentinel.MasterNotFoundError` — some
    two thousand characters each (its connection pool, options and retry object), in the log
    line of every failed ``PING`` and every 503. This one asks the sentinels in the same order
    and picks the master by the same rule (``check_master_state``, the sentinel that answered
    moved first: https://github.com/redis/redis-py/blob/master/redis/sentinel.py), and says
    which addresses were tried: ``no sentinel answered for master 'mymaster' (tried
    10.0.0.1:26379, 10.0.0.2:26379)``. ``force_master_ip`` is not supported (never passed).
    """

    def discover_master(self, service_name: str) -> tuple[str, int]:
        silent: list[str] = []  # not reached, or timed out
        refused: list[str] = []  # answered with an error (a password refused)
        without: list[str] = []  # answered, with no master of that name up
        for number, sentinel in enumerate(self.sentinels):
            try:
                # RESP2 (the protocol the store speaks): a dict by master name.
                masters = cast(dict, sentinel.sentinel_masters())
            except (AuthenticationError, ResponseError) as exc:
                refused.append(f"{_address(sentinel)} ({_first_line(exc)})")
                continue
            except (RedisConnectionError, RedisTimeoutError):
                silent.append(_address(sentinel))
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                self.sentinels[0], self.sentinels[number] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
            without.append(_address(sentinel))
        if not refused and not without:
            raise MasterNotFoundError(
                f"no sentinel answered for master {service_name!r} (tried {', '.join(silent)})"
            )
        parts = []
        if without:
            parts.append("asked " + ", ".join(without))
        if refused:
            parts.append("refused by " + ", ".join(refused))
        if silent:
            parts.append("no answer from " + ", ".join(silent))
        raise MasterNotFoundError(
            f"no sentinel knows master {service_name!r} as up ({'; '.join(parts)})"
        )


def check_redis_url(url: str) -> None:
    """Parse ``url`` as :meth:`RedisStore.from_url` will (redis-py's ``parse_url``, or
    :func:`parse_sentinel_url`), without connecting: ``ValueError`` says what is wrong. A db
    (the path of a ``redis://`` or ``rediss://`` URL) that is no number is refused too, as a
    Sentinel URL's is: redis-py ignores it, and the store would use db 0 — perhaps another
    deployment's."""
    scheme = url.partition("://")[0].lower()
    if scheme == "redis+sentinel":
        parse_sentinel_url(url)
        return
    redis_parse_url(url)
    db = unquote(urlsplit(url).path).replace("/", "")
    if scheme != "unix" and db and not db.isdigit():
        raise ValueError(f"the db (the URL's path) must be a number, got {db!r}")


def parse_sentinel_url(
    url: str,
) -> tuple[list[tuple[str, int]], str, dict[str, Any], dict[str, str]]:
    """Split ``redis+sentinel://[user:pass@]h1:p1,h2:p2/service[/db][?options]``.

    Returns ``(sentinels, service_name, master_options, sentinel_auth)``. The credentials
    in the URL are the master's; ``?sentinel_username=…&sentinel_password=…`` authenticate
    to the sentinels themselves. Other query options are the redis-py ones (``socket_timeout``…).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "redis+sentinel":
        raise ValueError("a Sentinel URL starts with redis+sentinel://")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    options: dict[str, Any] = {}
    if userinfo:
        username, has_password, password = userinfo.partition(":")
        if username:
            options["username"] = unquote(username)
        if has_password:
            options["password"] = unquote(password)
    sentinels = [_host_port(item) for item in hostlist.split(",") if item]
    if not sentinels:
        raise ValueError("a Sentinel URL names at least one sentinel host:port")
    path = [unquote(p) for p in parts.path.split("/")[1:]]
    if not path or not path[0] or len(path) > 2:
        raise ValueError("a Sentinel URL path is /service_name or /service_name/db")
    service = path[0]
    if len(path) == 2 and path[1]:
        if not path[1].isdigit():
            raise ValueError(f"Sentinel URL: db must be a number, got {path[1]!r}")
        options["db"] = int(path[1])
    sentinel_auth: dict[str, str] = {}
    for name, values in parse_qs(parts.query).items():
        value = values[-1]
        if name in ("sentinel_username", "sentinel_password"):
            sentinel_auth[name.removeprefix("sentinel_")] = value
        elif name in URL_QUERY_ARGUMENT_PARSERS:
            try:
                # redis-py leaves the table unannotated (inferred dict[str, object]).
                parse = cast(Callable[[str], Any], URL_QUERY_ARGUMENT_PARSERS[name])
                options[name] = parse(value)
            except (TypeError, ValueError):
                raise ValueError(f"Sentinel URL: invalid value for {name!r}") from None
        else:
            raise ValueError(f"Sentinel URL: unknown option {name!r}")
    return sentinels, service, options, sentinel_auth


def _host_port(item: str) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise ValueError(f"Sentinel URL: bad sentinel address {item!r}")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"Sentinel URL: bad port in {item!r}")
    return host, int(port)

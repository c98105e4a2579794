"""What only the Redis store has: URLs, key layout, Cluster safety, outages and recovery."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Iterator

import pytest
import redis
from redis.connection import SSLConnection
from redis.connection import UnixDomainSocketConnection

from santeid.storage import MemoryStore
from santeid.storage import StoreUnavailable
from santeid.storage import store_from_url
from santeid.storage.redis import RedisStore
from santeid.storage.redis import parse_sentinel_url
from tests.support.redis_server import REDIS_SERVER_MISSING
from tests.support.redis_server import RedisServer
from tests.support.redis_server import closed_port
from tests.support.redis_server import free_port


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the same db, to look at what the store really wrote."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        yield client


def every_operation(store: RedisStore) -> None:
    """Each public operation once, including a multi-key delete over several slots and a
    batch over several slots (first, so that after a restart its scripts are not loaded)."""
    batch = store.batch()
    batch.put("code:z", {"state": "issued"}, ttl=60)
    batch.add_member("family:z", "at", ttl=60)
    batch.run()
    batch = store.batch()
    swapped = batch.transition(
        "code:z", {"state": "issued"}, {"state": "used"}, current={"state": "issued"}
    )
    batch.put("jti:z", {}, ttl=60)
    batch.run()
    assert swapped.value == {"state": "used"}
    assert store.members("family:z") == {"at"}
    assert store.delete("code:z", "family:z", "jti:z") == 3
    store.put("code:a", {"state": "issued"}, ttl=60)
    assert store.get("code:a") == {"state": "issued"}
    assert store.add("jti:b", {}, ttl=60) is True
    assert store.transition("code:a", {"state": "issued"}, {"state": "used"}) is not None
    assert store.update("code:a", {"n": 1}, ttl=30) is not None
    assert store.incr("rate:c", ttl=60) == 1
    store.add_member("family:d", "rt1", ttl=60)
    assert store.members("family:d") == {"rt1"}
    assert store.ttl("family:d") == 60
    store.put("code:e", {}, ttl=60)
    assert store.pop("code:e") == {}
    assert store.delete("code:a", "jti:b", "rate:c", "family:d") == 4
    assert store.ping() is True


class CountingConnection(redis.Connection):
    """Counts what is sent: one call per round trip (a command, a script or a pipeline)."""

    sent = 0

    def send_packed_command(self, command, check_health=True):  # type: ignore[no-untyped-def]
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counted(redis_url: str) -> Iterator[tuple[RedisStore, Callable[[], int]]]:
    """A store whose round trips are counted, and how many were sent since the last call."""
    store = RedisStore.from_url(redis_url)
    store._client.connection_pool.connection_class = CountingConnection  # type: ignore[attr-defined]
    store.ping()  # the connection's own handshake is not counted below
    seen = CountingConnection.sent

    def trips() -> int:
        nonlocal seen
        count, seen = CountingConnection.sent - seen, CountingConnection.sent
        return count

    yield store, trips
    store.close()


def _load_scripts(store: RedisStore) -> None:
    """Run each Lua operation once, as a running server has: on a Redis that does not know a
    script yet (fresh, or restarted) its first call costs three trips (NOSCRIPT, SCRIPT LOAD,
    EVALSHA), which depends on which test ran first on this worker's Redis."""
    store.put("code:warm", {"state": "issued"}, ttl=60)
    store.transition("code:warm", {"state": "issued"}, {"n": 1})
    store.update("code:warm", {"n": 2})
    store.add_member("fam:warm", "m", ttl=60)


@pytest.mark.redis
def test_round_trips_of_a_compare_and_set(counted: tuple[RedisStore, Callable[[], int]]) -> None:
    """docs/storage.md: from an up-to-date copy one trip, else a read first; a lost swap
    brings back what it found, so it costs no extra read."""
    store, trips = counted
    _load_scripts(store)
    store.put("code:x", {"state": "issued"}, ttl=60)
    read = store.get("code:x")
    trips()
    assert store.transition("code:x", {"state": "issued"}, {"n": 1}, current=read) is not None
    assert trips() == 1
    assert store.transition("code:x", {"state": "issued"}, {"n": 2}) is not None
    assert trips() == 2
    assert store.update("code:x", {"n": 3}, current=read) == {"state": "issued", "n": 3}
    assert trips() == 2  # the stale copy's swap fails and answers with the record


@pytest.mark.redis
def test_a_batch_is_one_round_trip(counted: tuple[RedisStore, Callable[[], int]]) -> None:
    store, trips = counted
    store.put("code:x", {"state": "issued"}, ttl=60)
    read = store.get("code:x")
    _load_scripts(store)
    trips()
    batch = store.batch()
    batch.put("fam:f", {"state": "active"}, ttl=60)
    batch.add_member("sidfams:s", "f", ttl=60)
    taken = batch.transition("code:x", {"state": "issued"}, {"state": "consumed"}, current=read)
    batch.add_member("fam:f:at", "at1", ttl=60)
    batch.put("rt:r", {"fid": "f"}, ttl=60)
    batch.run()
    assert trips() == 1
    assert taken.value == {"state": "consumed"}
    assert store.members("fam:f:at") == {"at1"}


# -- URLs ------------------------------------------------------------------------------------


def test_store_from_url_schemes() -> None:
    """Each accepted URL shape builds the right store without connecting anywhere."""
    memory = store_from_url("memory://")
    assert isinstance(memory, MemoryStore)
    port = free_port()
    stores = {
        "redis": store_from_url(f"redis://:pw@127.0.0.1:{port}/3", key_prefix="x:"),
        "rediss": store_from_url(f"rediss://127.0.0.1:{port}/0"),
        "unix": store_from_url("unix:///run/redis/redis.sock?db=2"),
    }
    try:
        pools = {name: s._client.connection_pool for name, s in stores.items()}  # type: ignore[attr-defined]
        assert all(isinstance(s, RedisStore) for s in stores.values())
        assert stores["redis"].key_prefix == "x:"  # type: ignore[attr-defined]
        assert pools["redis"].connection_kwargs["db"] == 3
        assert pools["redis"].connection_kwargs["password"] == "pw"
        assert pools["redis"].connection_kwargs["socket_timeout"] == 2.0
        assert pools["rediss"].connection_class is SSLConnection
        assert pools["unix"].connection_class is UnixDomainSocketConnection
        assert pools["unix"].connection_kwargs["db"] == 2
        # Nothing listens there: building did not connect, using does not crash.
        assert stores["redis"].ping() is False
    finally:
        for s in stores.values():
            s.close()


def test_url_query_overrides_defaults() -> None:
    """Operators tune timeouts and pool size in the URL, without a code change."""
    s = store_from_url("redis://127.0.0.1:1/0?socket_timeout=5&max_connections=7")
    try:
        pool = s._client.connection_pool  # type: ignore[attr-defined]
        assert pool.connection_kwargs["socket_timeout"] == 5.0
        assert pool.max_connections == 7
    finally:
        s.close()


@pytest.mark.parametrize(
    "url", ["ftp://user:s3cret@host/0", "redis:/host", "127.0.0.1:6379", "memcached://h:1"]
)
def test_unknown_scheme_lists_accepted_ones_without_leaking_secrets(url: str) -> None:
    """A misconfiguration names what would work, and never echoes a password to the logs."""
    with pytest.raises(ValueError) as excinfo:
        store_from_url(url)
    message = str(excinfo.value)
    assert "s3cret" not in message
    for accepted in ("memory://", "redis://", "rediss://", "unix://", "redis+sentinel://"):
        assert accepted in message


def test_memory_url_takes_no_options() -> None:
    """``memory://localhost`` is a typo for a Redis URL, not a memory store."""
    with pytest.raises(ValueError, match="memory://"):
        store_from_url("memory://localhost")


def test_sentinel_url_builds_without_a_sentinel_running() -> None:
    """The Sentinel URL is parsed into sentinels/service/db; a missing Sentinel is a 503."""
    p1, p2 = free_port(), free_port()
    url = (
        f"redis+sentinel://:m%40ster@127.0.0.1:{p1},[::1]:{p2},sentinel-3/mymaster/4"
        "?sentinel_password=spw&socket_timeout=1.5"
    )
    sentinels, service, options, auth = parse_sentinel_url(url)
    assert sentinels == [("127.0.0.1", p1), ("::1", p2), ("sentinel-3", 26379)]
    assert service == "mymaster"
    assert options == {"password": "m@ster", "db": 4, "socket_timeout": 1.5}
    assert auth == {"password": "spw"}

    store = store_from_url(f"redis+sentinel://127.0.0.1:{p1}/mymaster/4")
    try:
        assert isinstance(store, RedisStore)
        pool = store._client.connection_pool
        assert pool.service_name == "mymaster"
        assert pool.connection_kwargs["db"] == 4
        assert [c.connection_pool.connection_kwargs["port"] for c in store._sentinel.sentinels] == [
            p1
        ]
        # No sentinel answers: a prompt 503, not seconds of redis-py's default backoff.
        started = time.monotonic()
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.get("k")
        assert time.monotonic() - started < 1.0
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel:///mymaster/0",  # no sentinel
        "redis+sentinel://h:26379/",  # no service name
        "redis+sentinel://h:26379/mymaster/zero",
        "redis+sentinel://h:26379/mymaster/0/extra",
        "redis+sentinel://h:port/mymaster",
        "redis+sentinel://h:26379/mymaster?colour=blue",
    ],
)
def test_bad_sentinel_urls_are_refused(url: str) -> None:
    """A wrong Sentinel URL fails at start-up with a message, not at the first login."""
    with pytest.raises(ValueError):
        store_from_url(url)


# -- the test fixture itself -------------------------------------------------------------------


def test_missing_redis_server_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Silently skipping would let the Redis half of the contract go untested in CI."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception) as excinfo:
        RedisServer().start()
    assert str(excinfo.value) == REDIS_SERVER_MISSING


# -- key layout ------------------------------------------------------------------------------


@pytest.mark.redis
def test_key_layout_seen_with_a_raw_client(redis_url: str, raw: redis.Redis) -> None:
    """Operators debugging with redis-cli find ``santeid:<key>`` as documented."""
    store = RedisStore.from_url(redis_url)
    try:
        store.put("code:abc", {"state": "issued", "name": "Zoé"}, ttl=60)
        store.incr("rate:1.2.3.4", ttl=60)
        store.add_member("family:f", "rt1", ttl=60)
        assert sorted(raw.keys("*")) == [
            "santeid:code:abc",
            "santeid:family:f",
            "santeid:rate:1.2.3.4",
        ]
        assert raw.type("santeid:code:abc") == "string"
        assert json.loads(raw.get("santeid:code:abc")) == {"state": "issued", "name": "Zoé"}
        assert raw.get("santeid:rate:1.2.3.4") == "1"
        assert raw.type("santeid:family:f") == "set"
        assert all(0 < raw.ttl(k) <= 60 for k in raw.keys("*"))
    finally:
        store.close()


@pytest.mark.redis
def test_two_prefixes_on_one_redis_do_not_collide(redis_url: str, raw: redis.Redis) -> None:
    """Two deployments sharing a Redis (e.g. sandbox and staging) never see each other's state."""
    a = store_from_url(redis_url, key_prefix="santeid-a:")
    b = store_from_url(redis_url, key_prefix="santeid-b:")
    try:
        a.put("code:x", {"by": "a"}, ttl=60)
        assert b.get("code:x") is None
        assert b.add("code:x", {"by": "b"}, ttl=60) is True
        assert b.pop("code:x") == {"by": "b"}
        assert b.delete("code:x") == 0
        assert a.get("code:x") == {"by": "a"}
        assert raw.keys("*") == ["santeid-a:code:x"]
    finally:
        a.close()
        b.close()


@pytest.mark.redis
def test_every_operation_touches_one_slot_on_a_cluster_node() -> None:
    """In cluster mode Redis refuses cross-slot commands and scripts touching undeclared keys.

    A one-node cluster owning every slot runs the whole API through a plain client: any
    multi-key command across slots, or script key not passed in KEYS, would fail here.
    """
    with RedisServer(extra_args=["--cluster-enabled", "yes"]) as server:
        with redis.Redis.from_url(server.url, decode_responses=True) as admin:
            admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + 10
            while "cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
                assert time.monotonic() < deadline, "cluster never became ok"
                time.sleep(0.05)
            # The check is real: keys in two slots in one command are refused.
            with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
                admin.delete("santeid:code:a", "santeid:jti:b")
        store = RedisStore.from_url(server.url)
        try:
            every_operation(store)
        finally:
            store.close()
        # And through redis-py's cluster client, which routes each command by its key.
        cluster = RedisStore(redis.RedisCluster.from_url(server.url, decode_responses=True))
        try:
            every_operation(cluster)
            # A cluster client has no single connection pool; the store still describes itself.
            assert repr(cluster).startswith("<RedisStore cluster [host=127.0.0.1,")
            assert repr(cluster).endswith(" prefix='santeid:'>")
        finally:
            cluster.close()


# -- connection options --------------------------------------------------------------------


@pytest.mark.redis
def test_unix_socket_url() -> None:
    """Same-host deployments use a unix socket (no TCP stack, filesystem permissions)."""
    with RedisServer(extra_args=["--unixsocket", "redis.sock", "--unixsocketperm", "700"]) as srv:
        store = store_from_url(f"unix://{srv.dir / 'redis.sock'}?db=1")
        try:
            every_operation(store)
        finally:
            store.close()


@pytest.mark.redis
def test_sentinel_url_end_to_end(redis_server: RedisServer) -> None:
    """With a real Sentinel, the store finds the master by service name and works."""
    with redis.Redis.from_url(redis_server.url) as admin:
        admin.flushdb()
    config = f"sentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n"
    with RedisServer(config=config, extra_args=["--sentinel"]) as sentinel:
        store = store_from_url(f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0")
        try:
            every_operation(store)
            store.put("via:sentinel", {"ok": True}, ttl=60)
        finally:
            store.close()
    with redis.Redis.from_url(redis_server.url, decode_responses=True) as admin:
        assert admin.get("santeid:via:sentinel") == '{"ok":true}'


# -- outages ---------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_down_raises_store_unavailable_quickly(disposable_redis: RedisServer) -> None:
    """With Redis down, every operation says "unavailable" (503) at once, none hangs or 500s."""
    store = RedisStore.from_url(disposable_redis.url)
    try:
        store.put("k", {"v": 1}, ttl=60)
        disposable_redis.stop()
        assert store.ping() is False
        operations = [
            lambda: store.put("k", {}, ttl=1),
            lambda: store.get("k"),
            lambda: store.add("k", {}, ttl=1),
            lambda: store.pop("k"),
            lambda: store.transition("k", {}, {}),
            lambda: store.update("k", {}),
            lambda: store.incr("n", ttl=1),
            lambda: store.counter("n"),
            lambda: store.add_member("s", "m", ttl=1),
            lambda: store.members("s"),
            lambda: store.ttl("k"),
            lambda: store.delete("k", "n"),
        ]
        for operation in operations:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                operation()
            assert time.monotonic() - started < 1.0
    finally:
        store.close()


@pytest.mark.redis
def test_recovers_by_itself_after_a_restart(disposable_redis: RedisServer) -> None:
    """No worker restart needed after a Redis restart: pooled connections are replaced.

    Without persistence the restarted Redis is empty (hence the AOF advice in the docs),
    and its script cache too: the Lua operations must reload their scripts.
    """
    store = RedisStore.from_url(disposable_redis.url)
    try:
        store.put("k", {"v": 1}, ttl=60)
        assert store.incr("n", ttl=60) == 1
        disposable_redis.stop()
        with pytest.raises(StoreUnavailable):
            store.get("k")
        disposable_redis.start()  # same port
        assert store.ping() is True
        assert store.get("k") is None  # state lost: no AOF in tests
        every_operation(store)
        assert store.incr("n", ttl=60) == 1
    finally:
        store.close()


@pytest.mark.redis
def test_restart_between_requests_is_invisible(disposable_redis: RedisServer) -> None:
    """A pooled connection killed by a restart is retried once on a fresh one: no 503."""
    store = RedisStore.from_url(disposable_redis.url)
    try:
        store.put("k", {"v": 1}, ttl=60)  # leaves a connection in the pool
        disposable_redis.stop()
        disposable_redis.start()
        assert store.add("k", {"v": 2}, ttl=60) is True
        assert store.get("k") == {"v": 2}
    finally:
        store.close()


@pytest.mark.redis
def test_frozen_redis_times_out_and_never_returns_a_stale_reply(
    disposable_redis: RedisServer,
) -> None:
    """A hung Redis gives 503 after the socket timeout, and after it thaws no late reply is
    ever read as the answer to a later command (one user's record for another's key)."""
    store = RedisStore.from_url(disposable_redis.url + "?socket_timeout=0.5")
    try:
        store.put("alice", {"who": "alice"}, ttl=60)
        store.put("bob", {"who": "bob"}, ttl=60)
        disposable_redis.pause()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.get("alice")
        assert time.monotonic() - started < 1.5
        disposable_redis.resume()
        assert store.get("bob") == {"who": "bob"}
        assert store.get("alice") == {"who": "alice"}
    finally:
        store.close()


@pytest.mark.redis
def test_writes_to_a_replica_are_unavailable() -> None:
    """After a failover a worker may still talk to the old master, now a read-only replica:
    that is a transient 503, not a 500."""
    with RedisServer(extra_args=["--replicaof", "127.0.0.1", str(free_port())]) as replica:
        store = RedisStore.from_url(replica.url)
        try:
            assert store.get("k") is None  # stale reads are served by default
            with pytest.raises(StoreUnavailable, match="read only replica"):
                store.put("k", {}, ttl=60)
        finally:
            store.close()


@pytest.mark.redis
def test_replica_without_master_is_unavailable() -> None:
    """A replica refusing stale reads (MASTERDOWN) is unavailable too."""
    args = ["--replicaof", "127.0.0.1", str(free_port()), "--replica-serve-stale-data", "no"]
    with RedisServer(extra_args=args) as replica:
        store = RedisStore.from_url(replica.url)
        try:
            with pytest.raises(StoreUnavailable, match="(?i)master is down"):
                store.get("k")
        finally:
            store.close()


@pytest.mark.redis
def test_a_master_no_sentinel_knows_is_one_line_saying_who_answered(
    redis_server: RedisServer,
) -> None:
    """A sentinel that answers without the master asked for, a Redis named as a sentinel (its
    port given for the sentinel's, which refuses ``SENTINEL MASTERS``) and an address that
    does not answer: the error says which was asked, which refused and why, and which was
    silent, in one line (redis-py's gives the ``repr`` of each sentinel client it could not
    use, some two thousand characters each)."""
    config = f"sentinel monitor mymaster 127.0.0.1 {redis_server.port} 1\n"
    with closed_port() as never, RedisServer(config=config, extra_args=["--sentinel"]) as one:
        hosts = f"127.0.0.1:{never},127.0.0.1:{one.port},127.0.0.1:{redis_server.port}"
        store = store_from_url(f"redis+sentinel://{hosts}/othermaster/0")
        try:
            with pytest.raises(StoreUnavailable) as refused:
                store.get("k")
        finally:
            store.close()
    message = str(refused.value)
    assert "\n" not in message and len(message) < 250, message
    assert message.startswith(
        "redis unavailable: no sentinel knows master 'othermaster' as up "
        f"(asked 127.0.0.1:{one.port}; refused by 127.0.0.1:{redis_server.port} (unknown command "
    )
    assert message.endswith(f"; no answer from 127.0.0.1:{never})")

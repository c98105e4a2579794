"""What one store round trip costs santeid's process in redis-py alone: client CPU per command.

A login's store round trips (``bench/login_cpu.py --store redis --trace``) each pay redis-py's
command path before and after the socket. This prints, for the redis-py that is importable, the
process CPU time of a ``GET``, of a registered Lua script (``EVALSHA``, as the store's
compare-and-set) and of a three-command pipeline without a transaction (as the token
endpoint's writes), each on the client santeid itself builds (``RedisStore.from_url``: its
timeouts, health checks and retry policy), against a private ``redis-server``. Two more rows
split a ``GET``: the same command on a client that keeps one connection of that pool for
itself (redis-py's ``single_connection_client``: no checkout from the pool), and the bytes
of the command written to a plain socket and its reply read back (the floor under any client:
the kernel's loopback, the system calls and ``redis-server`` waking up). Compare redis-py
releases by putting another one first on the path, alternated::

    .venv/bin/python bench/redis_client.py
    .venv/bin/pip install --target /tmp/redis-7.0.1 redis==7.0.1
    PYTHONPATH=/tmp/redis-7.0.1 .venv/bin/python bench/redis_client.py

Best of five runs of ``--calls`` each, in µs of process CPU (``time.process_time``), so that
other work on a shared machine weighs less than in wall time. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from harness import start_redis
from harness import stop
from hostspeed import report

from santeid.storage.redis import RedisStore


def best_cpu_us(call: Callable[[], object], calls: int, runs: int = 5) -> float:
    """Least process CPU per call over ``runs`` runs of ``calls`` calls, in µs."""
    for _ in range(min(calls, 300)):
        call()
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - started) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per run")
    args = parser.parse_args()
    processes = []
    with tempfile.TemporaryDirectory() as home:
        try:
            port = start_redis(Path(home), processes)
            store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
            for _ in range(100):  # until redis-server accepts connections
                if store.ping():
                    break
                time.sleep(0.05)
            client = store._client
            client.set("bench:record", "x" * 200)
            script = client.register_script("return redis.call('GET', KEYS[1])")
            held = redis.Redis(
                connection_pool=client.connection_pool, single_connection_client=True
            )
            plain = socket.create_connection(("127.0.0.1", port))
            get_bytes = b"*2\r\n$3\r\nGET\r\n$12\r\nbench:record\r\n"

            def plain_get() -> None:
                plain.sendall(get_bytes)
                plain.recv(65536)  # the reply (≈ 210 bytes) comes in one segment on loopback

            def pipeline() -> None:
                with client.pipeline(transaction=False) as pipe:
                    pipe.set("bench:other", "1", ex=60)
                    pipe.get("bench:record")
                    pipe.expire("bench:other", 5)
                    pipe.execute()

            report("before")
            print(f"redis-py {redis.__version__}, {args.calls} calls a run, best of 5 runs:")
            for name, call in (
                ("GET", lambda: client.get("bench:record")),
                ("EVALSHA", lambda: script(keys=["bench:record"])),
                ("pipeline of 3", pipeline),
                ("GET, single-connection client", lambda: held.get("bench:record")),
                ("GET, plain socket", plain_get),
            ):
                print(f"  {name}: {best_cpu_us(call, args.calls):.1f} µs CPU per call")
            report("after")
            held.close()
            plain.close()
        finally:
            stop(processes)


if __name__ == "__main__":
    main()

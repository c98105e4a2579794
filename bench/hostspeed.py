"""How fast this host runs Python right now, to read the other figures against.

The machines these benchmarks run on are virtual: the same single-threaded workload took
1.7 s and 2.8 s of CPU a few seconds apart on an idle 2-core machine (docs/performance.md).
A throughput figure means little without the host's speed at that moment, so the benchmark
scripts print this check before and after their runs: a fixed pure-Python workload (integer
arithmetic and JSON round trips, like a request's own work), in milliseconds of process CPU
time. Lower is faster; compare runs only at similar values.
"""

from __future__ import annotations

import json
import time


def host_speed_ms() -> int:
    """CPU milliseconds of a fixed workload (≈ 2 s on an unloaded host of this kind)."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    document = {"a": [1, 2, 3], "b": "x" * 50}
    for _ in range(200_000):
        json.loads(json.dumps(document))
    return round((time.process_time() - started) * 1000)


def report(label: str) -> int:
    value = host_speed_ms()
    print(f"host speed check ({label}): {value} ms CPU for the fixed workload (lower is faster)")
    return value


if __name__ == "__main__":
    report("now")

#!/usr/bin/env python3
"""INSi at national scale: generation time, size on disk, REST and SOAP searches on one base.

    .venv/bin/python bench/insi_scale.py --persons 5000000
    .venv/bin/python bench/insi_scale.py --persons 68000000 --base /data/civil-68M.sqlite3

1. The base: generated here with ``--jobs`` drawing processes (default: one per CPU) unless it
   exists; the generation's figures (wall time, CPU time, host speed) are kept next to it in
   ``BASE.generation.json`` and printed again when the base is reused.
2. Its size on disk, in all and per person.
3. ``bench/insi.py`` against it: ``santeid serve --workers 2`` (Granian) behind ``wrk``, the
   REST traits scenario then the SOAP one, server RSS and PSS before and after.  Targets (the
   1,000,000-person figures, docs/performance.md): REST >= 2,000 requests/s with p99 <= 20 ms,
   SOAP >= 1,000 requests/s, server memory < 300 MB.

The server reads the base through SQLite with a 2 MiB page cache per connection and no mmap
(``santeid.insi.base``): the base's pages live in the kernel's page cache, shared and not
counted in the workers' RSS, whatever the base's size.  A first run on a base bigger than the
free memory reads from disk; run twice, on a quiet machine, before believing a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from hostspeed import report as host_speed

import insi
from santeid.civil_status.generate import generate

ROOT = Path(__file__).resolve().parents[1]


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def ensure_base(persons: int, seed: int, path: Path, jobs: int) -> dict:
    """The base at ``path`` (generated if missing) and the figures of its generation."""
    record = path.with_name(path.name + ".generation.json")
    if path.exists() and record.exists():
        figures = json.loads(record.read_text())
        print(f"base: {path} (reused; generated earlier, figures below are that run's)")
        return figures
    if path.exists():
        print(f"base: {path} (reused; no record of its generation)")
        return {}
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"base: generating {persons:,} persons (seed {seed}, {jobs} jobs) into {path} …")
    speed_before = host_speed("before generation")
    started = time.perf_counter()
    summary = generate(path, persons, seed, jobs=jobs)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(resource.RUSAGE_SELF) + _cpu_seconds(resource.RUSAGE_CHILDREN)
    figures = {
        "persons": summary.persons,
        "seed": seed,
        "jobs": jobs,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average_after": round(os.getloadavg()[0], 2),
        "host_speed_ms": [speed_before, host_speed("after generation")],
        "peak_rss_mib_writer": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    record.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base", type=Path, help="default: var/bench/civil-status-N-seedS")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--connections", type=int, action="append", help="default: 16")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)

    path = args.base or ROOT / "var" / "bench" / (
        f"civil-status-{args.persons}-seed{args.seed}.sqlite3"
    )
    figures = ensure_base(args.persons, args.seed, path, args.jobs)
    if figures:
        rate = figures["persons"] / figures["wall_seconds"]
        print(
            f"generation: {figures['persons']:,} persons, {figures['jobs']} jobs, "
            f"{figures['wall_seconds']:,.1f} s wall ({rate:,.0f} persons/s), "
            f"{figures['cpu_seconds']:,.1f} s CPU, host speed {figures['host_speed_ms']} ms, "
            f"load average after {figures['load_average_after']}, writer peak RSS "
            f"{figures['peak_rss_mib_writer']:,} MiB"
        )
    size = path.stat().st_size
    persons = figures.get("persons") or args.persons
    print(f"size on disk: {size / 1e9:,.2f} GB ({size / max(persons, 1):,.0f} bytes/person)")
    connections = args.connections or [16]
    command = ["--base", str(path), "--scenario", "rest-traits", "--scenario", "soap-traits"]
    command += ["--seconds", str(args.seconds), "--no-core"]
    for c in connections:
        command += ["--connections", str(c)]
    return insi.main(command)


if __name__ == "__main__":
    sys.exit(main())

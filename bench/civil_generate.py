"""Benchmark of the civil-status generator: persons/s, wall time, file size, peak RSS.

    .venv/bin/python bench/civil_generate.py                               # 1,000,000 persons
    .venv/bin/python bench/civil_generate.py --persons 5000000 --jobs 2    # scale check
    .venv/bin/python bench/civil_generate.py --persons 68000000 --jobs 2 --out /data/civil.sqlite3

The targets: 1,000,000 persons in under 2 minutes, 68,000,000 (France) in under 30 minutes
(38,000 persons/s) on a 2-core machine.  The host's speed is checked before and after
(bench/hostspeed.py).  The base is written to a
temporary directory and deleted afterwards unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from hostspeed import report as host_speed

from santeid.civil_status.generate import generate


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="processes drawing persons")
    parser.add_argument("--out", type=Path, help="keep the base at this path")
    args = parser.parse_args(argv)

    print(
        f"machine: {os.cpu_count()} cores, {_cpu()}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {platform.platform()}"
    )
    host_speed("before")
    with tempfile.TemporaryDirectory(prefix="civil-bench-") as tmp:
        out = args.out or Path(tmp) / "civil-status.sqlite3"
        marks: list[tuple[int, float]] = []
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            marks.append((done, time.perf_counter() - started))
            if done == total:
                load_cpu.append(_cpu_seconds(resource.RUSAGE_SELF))

        load_cpu: list[float] = []

        summary = generate(out, args.persons, args.seed, progress=progress, jobs=args.jobs)
        wall = time.perf_counter() - started
        load = marks[-1][1] if marks else 0.0
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        workers_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        writer_cpu = _cpu_seconds(resource.RUSAGE_SELF)
        workers_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
        writer_load_cpu = load_cpu[0] if load_cpu else 0.0
        print(f"persons:        {summary.persons:,} (+{summary.test_persons} test identities), "
              f"{args.jobs} drawing process(es)")  # fmt: skip
        print(f"wall time:      {wall:,.1f} s (drawing + insert {load:,.1f} s, "
              f"indexes + counts {wall - load:,.1f} s)")  # fmt: skip
        print(f"throughput:     {summary.persons / wall:,.0f} persons/s")
        # Other jobs share this machine: the CPU time used says what an idle machine would do.
        # While loading, workers and writer run in parallel on ``cores``; the index build that
        # follows is the writer's alone (SQLite's sorter may use a second thread).
        cores = os.cpu_count() or 1
        idle_wall = max((workers_cpu + writer_load_cpu) / cores, writer_load_cpu) + (
            writer_cpu - writer_load_cpu
        )
        print(f"CPU time:       workers {workers_cpu:,.1f} s, writer {writer_cpu:,.1f} s "
              f"(loading {writer_load_cpu:,.1f} s, indexes + counts "
              f"{writer_cpu - writer_load_cpu:,.1f} s)")  # fmt: skip
        print(f"idle-machine estimate: {idle_wall:,.1f} s on {cores} cores "
              f"({summary.persons / max(idle_wall, 1e-9):,.0f} persons/s; "
              f"{summary.persons / max(workers_cpu + writer_cpu, 1e-9):,.0f} persons "
              f"per CPU-second)")  # fmt: skip
        print(f"file size:      {summary.size_bytes / 2**20:,.1f} MiB "
              f"({summary.size_bytes / max(summary.total, 1):,.0f} bytes/person)")  # fmt: skip
        print(f"peak RSS:       {peak_mib:,.0f} MiB (writer), "
              f"{workers_mib:,.0f} MiB (largest worker)")  # fmt: skip
        print(
            f"content:        NIA {summary.nia:,}, deceased {summary.deceased:,}, "
            f"homonym groups {summary.homonym_groups:,}, twin pairs {summary.twin_pairs:,}, "
            f"on a parent's card {summary.minors_on_parent_card:,}, "
            f"history {summary.history_entries:,}, births moved a month {summary.moved_births:,}"
        )
    host_speed("after")
    return 0


if __name__ == "__main__":
    sys.exit(main())

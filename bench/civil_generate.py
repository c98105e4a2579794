"""Benchmark of the civil-status generator: persons/s, wall time, file size, peak RSS.

    .venv/bin/python bench/civil_generate.py                      # 1,000,000 persons
    .venv/bin/python bench/civil_generate.py --persons 10000000   # scale check

The target is 1,000,000 persons in under 2 minutes on a 2-core machine.  The base is written to a
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

from santeid.civil_status.generate import generate


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="keep the base at this path")
    args = parser.parse_args(argv)

    print(
        f"machine: {os.cpu_count()} cores, {_cpu()}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {platform.platform()}"
    )
    with tempfile.TemporaryDirectory(prefix="civil-bench-") as tmp:
        out = args.out or Path(tmp) / "civil-status.sqlite3"
        marks: list[tuple[int, float]] = []
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            marks.append((done, time.perf_counter() - started))

        summary = generate(out, args.persons, args.seed, progress=progress)
        wall = time.perf_counter() - started
        load = marks[-1][1] if marks else 0.0
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        print(f"persons:        {summary.persons:,} (+{summary.test_persons} test identities)")
        print(f"wall time:      {wall:,.1f} s (drawing + insert {load:,.1f} s, "
              f"indexes + counts {wall - load:,.1f} s)")  # fmt: skip
        print(f"throughput:     {summary.persons / wall:,.0f} persons/s")
        print(f"file size:      {summary.size_bytes / 2**20:,.1f} MiB "
              f"({summary.size_bytes / max(summary.total, 1):,.0f} bytes/person)")  # fmt: skip
        print(f"peak RSS:       {peak_mib:,.0f} MiB")
        print(
            f"content:        NIA {summary.nia:,}, deceased {summary.deceased:,}, "
            f"homonym groups {summary.homonym_groups:,}, twin pairs {summary.twin_pairs:,}, "
            f"on a parent's card {summary.minors_on_parent_card:,}, "
            f"history {summary.history_entries:,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

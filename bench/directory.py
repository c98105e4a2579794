"""Directory at national scale: generation time and server-side userinfo time.

Generates (or reuses) a synthetic directory of ``--professionals`` people, then times, in this
process, what the userinfo endpoint does after verifying the token: ``Directory.get`` (five
indexed queries) plus ``build_userinfo``, for a professional with five activities, many times;
and the same for random professionals (other pages of the file). Prints the figures; asserts
nothing. Targets (docs/performance.md): generation of 1,200,000 people < 5 min; userinfo < 5 ms.

    .venv/bin/python bench/directory.py --professionals 1200000 --seed 1
    .venv/bin/python bench/directory.py --reuse          # time reads on the existing file
    .venv/bin/python bench/directory.py --import-extract --professionals 1200000

``--search`` times, on the same file, the searches of the FHIR directory API that ``active``,
names and ``qualification-code`` make (``DirectorySearch.by_names`` with the API's name
columns, one page of 50), and the counts of ``_total=accurate`` (``DirectorySearch.count``):
the best of ``--rounds`` calls each, in milliseconds, with how many ids each found.

    .venv/bin/python bench/directory.py --reuse --search

``--import-extract`` times ``santeid directory import`` instead: it writes (or reuses) a
synthetic extract of ``--professionals`` people, imports it into an empty directory, then
imports it again (idempotence: no change), and prints for each import the wall time, the CPU
time of the importing process and of its second process (``--no-worker``: none), their peak
resident memory and the load average (the host's speed is printed before and after).
Target: a full RASS extract (1,200,000 professionals) in under 2 minutes, i.e. 10,000
professionals/s of wall time.

The database goes to ``var/bench/directory-<N>-<seed>.sqlite3`` (about 1.5 GB at full size).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "bench"))

from hostspeed import report as host_speed  # noqa: E402

from santeid.directory import Directory  # noqa: E402
from santeid.directory.extract_writer import write_extract  # noqa: E402
from santeid.directory.importer import import_extraction  # noqa: E402
from santeid.directory.search import FHIR_NAME_COLUMNS  # noqa: E402
from santeid.directory.search import DirectorySearch  # noqa: E402
from santeid.directory.synthetic import generate  # noqa: E402
from santeid.directory.synthetic import professionals  # noqa: E402
from santeid.psc.claims import build_userinfo  # noqa: E402
from santeid.psc.claims import sub_for  # noqa: E402

FEDERATION_ID = "3c1e9a70-5b2d-4e8f-a6c4-0d9b8e7f6a51"


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} cores{memory}, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def with_activities(path: Path, count: int) -> str:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT e.national_id FROM exercice e JOIN activity a ON a.exercice_id = e.id "
            "GROUP BY e.national_id HAVING count(*) = ? AND count(DISTINCT e.id) = 1 LIMIT 1",
            (count,),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise SystemExit(f"no professional with {count} activities in {path}")
    return row[0]


def percentiles(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return (
        f"p50 {at(0.50):.3f} ms, p99 {at(0.99):.3f} ms, max {ordered[-1] / 1e6:.3f} ms, "
        f"mean {statistics.fmean(ordered) / 1e6:.3f} ms over {len(ordered)} calls"
    )


def time_userinfo(
    directory: Directory, national_ids: list[str], iterations: int
) -> tuple[list[int], list[int]]:
    """Wall-clock and thread-CPU nanoseconds per call. On a shared machine the wall clock also
    counts the time the scheduler gives to other processes; the CPU time does not."""
    wall, cpu = [], []
    for i in range(iterations):
        national_id = national_ids[i % len(national_ids)]
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        professional = directory.get(national_id)
        build_userinfo(professional, sub=sub_for(national_id, FEDERATION_ID), auth_mode="CARD")
        cpu.append(time.thread_time_ns() - start_cpu)
        wall.append(time.perf_counter_ns() - start)
    return wall, cpu


def show(label: str, timings: tuple[list[int], list[int]]) -> None:
    wall, cpu = timings
    print(f"{label}:\n  wall {percentiles(wall)}\n  cpu  {percentiles(cpu)}")


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def time_import(count: int, seed: int, worker: bool | None, passes: int) -> None:
    """Import a synthetic extract of ``count`` people into an empty directory, then again.

    For each import: wall time, CPU (user + system) of this process and of the second process
    the importer forks (the children's times, read when they have been waited for), and peak
    resident memory of each (``ru_maxrss``: this process's peak since it started, the largest
    child's)."""
    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    extract = work / f"extract-{count}-{seed}.txt"
    if not extract.exists():
        started = time.perf_counter()
        write_extract(extract, professionals(count, seed))
        print(f"wrote {extract} ({extract.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - started:,.1f} s")  # fmt: skip
    target = work / f"import-{count}-{seed}.sqlite3"
    print(f"second process: {'default' if worker is None else worker}")
    for _ in range(passes):
        for leftover in work.glob(target.name + "*"):
            leftover.unlink()
        directory = Directory(target)
        try:
            host_speed("before")
            for label in ("first import (empty directory)", "same file again"):
                print(f"{label}: starting, {_load()}")
                before, started = os.times(), time.perf_counter()
                report = import_extraction(directory, extract, worker=worker)
                wall, after = time.perf_counter() - started, os.times()
                cpu = after.user - before.user + after.system - before.system
                child = (
                    after.children_user
                    - before.children_user
                    + after.children_system
                    - before.children_system
                )
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                print(
                    f"{label}: {report.persons:,} professionals, {report.added:,} added, "
                    f"{report.changed:,} changed, {report.unchanged:,} unchanged\n"
                    f"  wall {wall:,.1f} s ({report.persons / wall:,.0f}/s); CPU: importing "
                    f"process {cpu:,.1f} s (system {after.system - before.system:,.1f} s), "
                    f"second process {child:,.1f} s, total {cpu + child:,.1f} s "
                    f"({report.persons / (cpu + child):,.0f}/s per CPU-second)\n"
                    f"  peak RSS: importing process {rss:,.0f} MiB, second process "
                    f"{child_rss:,.0f} MiB; {_load()}"
                )
            host_speed("after")
            print(f"directory: {target.stat().st_size / 1e9:.2f} GB")
        finally:
            directory.close()
            for leftover in work.glob(target.name + "*"):
                leftover.unlink()


#: The searches ``--search`` times: FHIR ``Practitioner`` parameters → ``by_names`` arguments.
SEARCHES: tuple[tuple[str, dict], ...] = (
    ("active=true", {"active": True}),
    ("active=false", {"active": False}),
    ("family=MAR", {"family": ["MAR"]}),
    ("family=MAR&active=true", {"family": ["MAR"], "active": True}),
    ("name=JEAN&active=true", {"name": ["JEAN"], "active": True}),
    ("name=MME", {"name": ["MME"]}),
    ("qualification-code=10&active=true", {"professions": [["10"]], "active": True}),
    ("qualification-code=60,69", {"professions": [["60", "69"]]}),
    ("qualification-code=10&family=MAR", {"professions": [["10"]], "family": ["MAR"]}),
)
#: The counts ``--search`` times (``_total=accurate``).
COUNTS: tuple[tuple[str, dict], ...] = (
    ("active=true", {"active": True}),
    ("family=MAR", {"family": ["MAR"]}),
    ("qualification-code=10", {"professions": [["10"]]}),
)


def time_searches(directory: Directory, rounds: int) -> None:
    search = DirectorySearch(directory)
    print(f"{directory.count()} people; best of {rounds} calls, one page (51 ids asked)")
    for label, arguments in SEARCHES:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            found = search.by_names(limit=51, columns=FHIR_NAME_COLUMNS, **arguments)
            times.append(time.perf_counter() - started)
        print(f"  {label:<36} {min(times) * 1000:8.2f} ms   {len(found)} ids")
    for label, arguments in COUNTS:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            total = search.count(columns=FHIR_NAME_COLUMNS, **arguments)
            times.append(time.perf_counter() - started)
        print(f"  {label + '&_total=accurate':<36} {min(times) * 1000:8.2f} ms   total {total}")
    for codes in (["10"], ["60"]):
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            total = search.count_roles(codes)
            times.append(time.perf_counter() - started)
        label = f"PractitionerRole?role={codes[0]}&_total=accurate"
        print(f"  {label:<36} {min(times) * 1000:8.2f} ms   total {total}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--professionals", type=int, default=1_200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep an existing file")
    parser.add_argument("--iterations", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--import-extract", action="store_true", help="time the extract import")
    parser.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --import-extract: force the importer's second process on or off",
    )
    parser.add_argument("--passes", type=int, default=1, help="with --import-extract: repeat")
    parser.add_argument("--search", action="store_true", help="time FHIR search queries")
    parser.add_argument("--rounds", type=int, default=5, help="with --search: calls per query")
    args = parser.parse_args()
    if args.import_extract:
        print(f"machine: {machine()}")
        time_import(args.professionals, args.seed, args.worker, args.passes)
        return
    path = args.out or ROOT / "var" / "bench" / (
        f"directory-{args.professionals}-{args.seed}.sqlite3"
    )
    print(f"machine: {machine()}")
    if args.reuse and path.exists():
        print(f"reusing {path} ({path.stat().st_size / 1e9:.2f} GB)")
    else:
        report = generate(path, args.professionals, args.seed, jobs=args.jobs)
        print(
            f"generated {report.professionals} professionals ({report.exercices} exercices, "
            f"{report.activities} activities, {report.structures} structures, "
            f"{report.other_ids} other ids) in {report.seconds:.1f} s "
            f"-> {path} ({path.stat().st_size / 1e9:.2f} GB)"
        )
    directory = Directory(path)
    if args.search:
        try:
            time_searches(directory, args.rounds)
        finally:
            directory.close()
        return
    try:
        five = with_activities(path, 5)
        professional = directory.get(five)
        activities = sum(len(e.activities) for e in professional.exercices)
        print(f"userinfo target: {five} ({activities} activities), {directory.count()} people")
        time_userinfo(directory, [five], 200)  # warm-up: connection pool, page cache
        show(
            "userinfo, one professional with 5 activities",
            time_userinfo(directory, [five], args.iterations),
        )
        conn = sqlite3.connect(path)
        ids = [row[0] for row in conn.execute("SELECT national_id FROM person")]
        conn.close()
        sample = random.Random(args.seed).sample(ids, min(len(ids), args.iterations))
        show("userinfo, random professionals", time_userinfo(directory, sample, len(sample)))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        directory.close()


if __name__ == "__main__":
    main()

"""Where the read-mostly national bases live: an SQLite file on each host, or PostgreSQL?

Measures, on this machine, the reads INSi and the OIDC provider make on every call, against the
same rows in both places:

* INSi search by traits: the one ``SQL_TRAITS`` statement of ``santeid.insi.service`` on a
  generated civil-status base (SQLite read-only, as ``CivilBase`` opens it) and on a copy of its
  ``persons`` and ``history`` tables in PostgreSQL with the same indexes;
* directory ``get``: the five statements of ``santeid.directory.repository.Directory.get`` in one
  read transaction, on a generated directory and on its copy in PostgreSQL.

For each: wall time per read (p50, p99, one thread, queries drawn from real rows) and CPU per
read — this process's, plus the PostgreSQL backend's (``/proc/<pid>/stat`` of
``pg_backend_pid()``: on a shared 2-core host every CPU microsecond of the database server is
one the web workers do not get). Figures and the decision: docs/decisions/persistence.md.

    .venv/bin/python bench/persistence.py [--persons 100000] [--professionals 20000] \
        [--reads 20000] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import cpu_seconds  # noqa: E402
from hostspeed import report as host_speed  # noqa: E402

from santeid.db.backends import postgres_sql  # noqa: E402


def _pg_ddl(sqlite_sql: str) -> str:
    """An SQLite ``CREATE`` statement of these bases in PostgreSQL's dialect."""
    return (
        sqlite_sql.replace("WITHOUT ROWID", "")
        .replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
        .replace(" BLOB", " BYTEA")
    )


def copy_tables(source: sqlite3.Connection, target: psycopg.Connection, tables: list[str]) -> None:
    for table in tables:
        (create,) = source.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        # Foreign keys are left out of the copy (bulk load order); they cost nothing on reads.
        ddl = re.sub(r"REFERENCES \w+ \([^)]*\)( ON DELETE CASCADE)?", "", create)
        target.execute(_pg_ddl(ddl))
        cursor = source.execute(f"SELECT * FROM {table}")  # noqa: S608 (table names above)
        columns = [d[0] for d in cursor.description]
        with target.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in cursor:
                copy.write_row(row)
    for table in tables:
        for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        ):
            target.execute(sql)
    for table in tables:
        target.execute(f"ANALYZE {table}")


def measure(label: str, run, queries: list, backend_pid: int | None) -> None:
    for q in queries[:500]:  # warm caches, prepared statements
        run(q)
    walls = []
    cpu = time.process_time()
    server = cpu_seconds([backend_pid]) if backend_pid else 0.0
    for q in queries:
        started = time.perf_counter()
        run(q)
        walls.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu) / len(queries) * 1e6
    server = (cpu_seconds([backend_pid]) - server) / len(queries) * 1e6 if backend_pid else 0.0
    walls.sort()
    p50 = statistics.median(walls) * 1e6
    p99 = walls[int(len(walls) * 0.99)] * 1e6
    print(
        f"  {label:<40} wall p50 {p50:7.1f} µs  p99 {p99:7.1f} µs  "
        f"CPU {cpu:6.1f} µs here + {server:6.1f} µs in PostgreSQL"
    )


def civil_status(args, tmp: Path, pg: psycopg.Connection) -> None:
    from santeid.civil_status.generate import generate
    from santeid.civil_status.schema import SQL_TRAITS

    base = tmp / "civil-status.sqlite3"
    generate(base, args.persons, 1, as_of=date(2026, 1, 1))
    source = sqlite3.connect(f"{base.as_uri()}?mode=ro&immutable=1", uri=True)
    copy_tables(source, pg, ["persons", "history"])
    rng = random.Random(7)
    rows = source.execute("SELECT birth_date, sex, birth_name FROM persons").fetchall()
    queries = [rng.choice(rows) for _ in range(args.reads)]
    pg_sql = postgres_sql(SQL_TRAITS)
    print(f"INSi search by traits ({args.persons:,} persons, one statement per call):")
    measure("SQLite file (read-only, as CivilBase)", lambda q: source.execute(
        SQL_TRAITS, q).fetchall(), queries, None)  # fmt: skip
    pid = pg.execute("SELECT pg_backend_pid()").fetchone()[0]
    measure("PostgreSQL (127.0.0.1, prepared)", lambda q: pg.execute(
        pg_sql, q, prepare=True).fetchall(), queries, pid)  # fmt: skip
    source.close()


def directory(args, tmp: Path, pg: psycopg.Connection) -> None:
    from santeid.directory import repository as r
    from santeid.directory.synthetic import generate

    path = tmp / "directory.sqlite3"
    generate(path, args.professionals, 1)
    source = sqlite3.connect(path, isolation_level=None)
    copy_tables(source, pg, ["person", "exercice", "structure", "activity", "other_id",
                             "savoir_faire"])  # fmt: skip
    ids = [row[0] for row in source.execute("SELECT national_id FROM person")]
    rng = random.Random(8)
    queries = [(rng.choice(ids),) for _ in range(args.reads)]
    statements = [r.SQL_PERSON, r.SQL_EXERCICES, r.SQL_ACTIVITIES, r.SQL_OTHER_IDS,
                  r.SQL_SAVOIR_FAIRE]  # fmt: skip

    def sqlite_get(q):
        source.execute("BEGIN")
        for sql in statements:
            source.execute(sql, q).fetchall()
        source.execute("COMMIT")

    pg_statements = [postgres_sql(sql) for sql in statements]

    def pg_get(q):
        with pg.transaction():
            for sql in pg_statements:
                pg.execute(sql, q, prepare=True).fetchall()

    print(f"Directory get ({args.professionals:,} professionals, five statements per call):")
    measure("SQLite file (WAL, as Directory)", sqlite_get, queries, None)
    pid = pg.execute("SELECT pg_backend_pid()").fetchone()[0]
    measure("PostgreSQL (127.0.0.1, prepared)", pg_get, queries, pid)
    source.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--professionals", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"santeid_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = args.postgres.rsplit("/", 1)[0] + "/" + name
        host_speed("before")
        with (
            tempfile.TemporaryDirectory(prefix="santeid-bench-") as tmp,
            psycopg.connect(url, autocommit=True) as pg,
        ):
            civil_status(args, Path(tmp), pg)
            directory(args, Path(tmp), pg)
        host_speed("after")
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

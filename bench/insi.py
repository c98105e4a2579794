#!/usr/bin/env python3
"""INSi benchmark: requests/s and latency of a real ``santeid serve`` under ``wrk``, server
memory, audit-write cost and profiles.  Prints figures; asserts nothing.

    .venv/bin/python bench/insi.py                              # 1 000 000 persons, REST
    .venv/bin/python bench/insi.py --scenario rest-traits --scenario fhir-traits
    .venv/bin/python bench/insi.py --scenario soap-traits       # the SOAP layer's scenario
    .venv/bin/python bench/insi.py --persons 10000000 --seconds 10   # memory scale check
    .venv/bin/python bench/insi.py --py-spy                    # + where a worker's CPU goes
    .venv/bin/python bench/insi.py --profile                   # + in-process cProfile

What it does:

1. a civil-status base of ``--persons`` (generated once into ``var/bench/``, then reused);
2. a private ``redis-server`` (two workers need a shared store) and ``santeid serve --workers 2``
   (Granian, no access log) on a free port, sandbox mode, access tokens valid one hour
   (``--server santeid-serve-access-log``: the same with ``--access-log``; ``--server
   gunicorn``: the same app under gunicorn gthread with its access log, what ``santeid serve``
   ran before, for comparison);
3. one sandbox login through the real OpenID Connect flow for a Bearer token;
4. per scenario, ``wrk`` (Lua script generated here, request bodies drawn from the base: existing
   persons — CR 00 or 02 — with their first given name, with the birthplace, and perturbed
   traits — CR 01) for ``--warmup`` then ``--seconds`` seconds at each ``--connections``;
   throughput, latency percentiles, errors; CPU used by each server process during the run and
   per request; server RSS and PSS (master + workers) before and after;
5. in-process: the core's CPU per call with and without its audit row, and the cost of an audit
   row committed alone or in batches (WAL, synchronous=NORMAL);
6. ``--py-spy`` (``pip install py-spy``): samples one worker (``--gil``) during the first run and
   prints the share of the HTTP server, its access log, the INSi fast path, the token check,
   Redis, the core; ``--profile``: cProfile of the app answering in-process.

Scenarios are data (:data:`SCENARIOS`): a name, an HTTP method, a function turning sample
persons into ``(path, body)`` pairs, headers and an optional ``prepare`` step.  The server
trusts ``X-SSL-Client-Cert`` from 127.0.0.1, so a scenario can authenticate with a certificate
(wrk cannot present one in TLS).

``wrk`` is a Debian package: ``apt-get install wrk`` (the script stops with that hint when it is
missing).  The load generator runs on the same machine as the server and takes its share of the
CPU; run it twice, on a machine nothing else is using, before believing a figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import requests
from harness import REALM
from harness import Browser
from harness import code_flow_tokens
from harness import cpu_seconds
from harness import free_port
from harness import process_tree
from harness import start_redis
from harness import stop
from harness import wait_for
from harness import workers_of
from hostspeed import host_speed_ms

ROOT = Path(__file__).resolve().parents[1]
SANTEID = str(Path(sys.executable).with_name("santeid"))
SECRET = "bench-secret-" + secrets.token_hex(16)
REDIRECT_URI = "https://bench.example.org/cb"
CERT_HEADER = "X-SSL-Client-Cert"


# -- scenarios --------------------------------------------------------------------------------
@dataclass
class Scenario:
    """One kind of request for wrk.  ``requests`` turns sample persons into ``(path, body)``
    pairs (body None for GET); ``headers`` may use ``{token}``."""

    name: str
    method: str
    requests: Callable[[list[dict]], list[tuple[str, str | None]]]
    headers: dict[str, str] = field(default_factory=dict)
    #: Run once against the started server's settings (``env``, ``home``); returns extra values
    #: for ``headers`` (the SOAP scenario's client certificate ``{cert}``).
    prepare: Callable[[dict[str, str], Path], dict[str, str]] | None = None


def _traits_body(p: dict) -> dict:
    body = {
        "birthName": p["birth_name"],
        "givenNames": [p["given"]],
        "sex": p["sex"],
        "birthDate": p["birth_date"],
    }
    if p.get("birthplace"):
        body["birthplace"] = p["birthplace"]
    return body


def rest_traits(sample: list[dict]) -> list[tuple[str, str | None]]:
    path = "/insi/v1/ins/search-by-traits"
    return [(path, json.dumps(_traits_body(p), ensure_ascii=False)) for p in sample]


def fhir_traits(sample: list[dict]) -> list[tuple[str, str | None]]:
    pairs = []
    for p in sample:
        params = [
            ("family", p["birth_name"]),
            ("given", p["given"]),
            ("gender", {"M": "male", "F": "female"}[p["sex"]]),
            ("birthdate", p["birth_date"]),
        ]
        if p.get("birthplace"):
            params.append(("birthplace", p["birthplace"]))
        pairs.append((f"/insi/fhir/Patient?{urlencode(params)}", None))
    return pairs


BEARER = {"Authorization": "Bearer {token}"}
SCENARIOS: dict[str, Scenario] = {
    "rest-traits": Scenario(
        "rest-traits", "POST", rest_traits, {**BEARER, "Content-Type": "application/json"}
    ),
    "fhir-traits": Scenario("fhir-traits", "GET", fhir_traits, BEARER),
}


# -- SOAP (santeid.insi.soap, docs/insi-soap.md) ------------------------------------------------
SOAP_IDAM = "BENCHSOAP001"
SOAP_ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"


def soap_envelope(p: dict) -> str:
    """A RECSANSVITALE request shaped like the real clients'
    (docs/reference/insi-teleservice.md §8.1): ContexteBAM, ContexteLPS with the bench IDAM,
    wsa:Action, wsa:MessageID."""
    from xml.sax.saxutils import escape

    place = f"<r:LieuNaissance>{p['birthplace']}</r:LieuNaissance>" if p.get("birthplace") else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:ctxbam="urn:siram:bam:ctxbam" xmlns:ctxlps="urn:siram:lps:ctxlps" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
        '<ctxbam:ContexteBAM Version="01_02"><ctxbam:Id>1</ctxbam:Id>'
        "<ctxbam:Temps>2026-01-15T08:51:16.840Z</ctxbam:Temps><ctxbam:COUVERTURE/>"
        '</ctxbam:ContexteBAM><ctxlps:ContexteLPS Nature="CTXLPS" Version="01_00">'
        "<ctxlps:Id>2</ctxlps:Id><ctxlps:Temps>2026-01-15T08:51:16.840Z</ctxlps:Temps>"
        f'<ctxlps:LPS><ctxlps:IDAM R="4">{SOAP_IDAM}</ctxlps:IDAM>'
        "<ctxlps:Nom>urn:lps:bench:1</ctxlps:Nom></ctxlps:LPS></ctxlps:ContexteLPS>"
        f"<wsa:Action>{SOAP_ACTION}</wsa:Action>"
        f"<wsa:MessageID>uuid:{secrets.token_hex(16)}</wsa:MessageID></soap:Header>"
        '<soap:Body><r:RECSANSVITALE xmlns:r="http://www.cnamts.fr/INSiRecSans">'
        f"<r:NomNaissance>{escape(p['birth_name'])}</r:NomNaissance>"
        f"<r:Prenom>{escape(p['given'])}</r:Prenom><r:Sexe>{p['sex']}</r:Sexe>"
        f"<r:DateNaissance>{p['birth_date']}</r:DateNaissance>{place}"
        "</r:RECSANSVITALE></soap:Body></soap:Envelope>"
    )


def soap_traits(sample: list[dict]) -> list[tuple[str, str | None]]:
    return [("/insi/soap", soap_envelope(p)) for p in sample]


def soap_prepare(env: dict[str, str], home: Path) -> dict[str, str]:
    """Register the bench IDAM and issue an INSI-AUTO certificate with the server's INSi test CA
    (``santeid insi issue-cert``); wrk forwards it in ``X-SSL-Client-Cert`` from 127.0.0.1, as
    a TLS-terminating proxy would (wrk cannot present client certificates itself)."""
    from urllib.parse import quote

    out = home / "insi-client"
    for command in (
        ["insi", "software", "add", SOAP_IDAM, "--name", "bench/insi.py", "--replace"],
        ["insi", "issue-cert", "--structure", "10B0152872", "--cn", "INSI-AUTO", "--out", str(out)],
    ):
        subprocess.run([SANTEID, *command], env=env, check=True, capture_output=True)
    return {"cert": quote((out / "cert.pem").read_text())}


SCENARIOS["soap-traits"] = Scenario(
    "soap-traits",
    "POST",
    soap_traits,
    {
        "Content-Type": f'application/soap+xml; charset=utf-8; action="{SOAP_ACTION}"',
        CERT_HEADER: "{cert}",
    },
    prepare=soap_prepare,
)


# -- helpers ------------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )


def ensure_base(persons: int, seed: int, path: Path | None) -> Path:
    target = path or ROOT / "var" / "bench" / f"civil-status-{persons}-seed{seed}.sqlite3"
    if target.exists():
        print(f"base: {target} (reused, {target.stat().st_size / 2**20:,.0f} MiB)")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"base: generating {persons:,} persons into {target} …", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [SANTEID, "civil", "generate", "--persons", str(persons), "--seed", str(seed),
         "--out", str(target)],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    print(f"base: generated in {time.perf_counter() - started:,.0f} s")
    return target


SAMPLE_SQL = (
    "SELECT birth_name, first_given_name, sex, birth_date, birthplace FROM persons "
    "WHERE id IN ({marks})"  # only "?" placeholders are formatted in
)


def sample_persons(base: Path, count: int, seed: int = 1) -> list[dict]:
    """Query traits: 80 % existing persons by first given name, 10 % with their birthplace,
    10 % perturbed (birth date + 1 day: nobody, CR 01)."""
    rng = random.Random(seed)  # noqa: S311 - load data, not secrets
    conn = sqlite3.connect(f"{base.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        top = conn.execute("SELECT max(id) FROM persons").fetchone()[0]
        ids = rng.sample(range(1, top + 1), min(count, top))
        rows = []
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            marks = ",".join("?" * len(part))
            rows += conn.execute(SAMPLE_SQL.format(marks=marks), part).fetchall()
    finally:
        conn.close()
    sample = []
    for i, (name, given, sex, day, place) in enumerate(rows):
        p = {"birth_name": name, "given": given, "sex": sex, "birth_date": day}
        if i % 10 == 8:
            p["birthplace"] = place
        elif i % 10 == 9:
            p["birth_date"] = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        sample.append(p)
    return sample


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (copy-on-write after fork) divided among sharers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_memory(pid: int) -> str:
    """RSS of the server's processes (what the 300 MB budget is about; shared pages count in
    every process) and their PSS (shared pages counted once)."""
    tree = process_tree(pid)
    sizes = [rss_kib(p) / 1024 for p in tree]
    parts = " + ".join(f"{s:.0f}" for s in sizes)
    pss = sum(pss_kib(p) for p in tree) / 1024
    return f"RSS {sum(sizes):.0f} MiB ({len(tree)} processes: {parts}), PSS {pss:.0f} MiB"


def login(base: str, national_id: str) -> str:
    """One sandbox login through the real code flow; returns the access token."""
    browser = Browser.at(base)
    tokens = code_flow_tokens(
        browser,
        national_id,
        client_id="bench",
        secret=SECRET,
        redirect_uri=REDIRECT_URI,
    )
    browser.close()
    return tokens["access_token"]


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def lua_script(method: str, pairs: list[tuple[str, str | None]], headers: dict[str, str]) -> str:
    rows = ",\n".join(
        "{" + _lua_string(path) + ("," + _lua_string(body) if body is not None else "") + "}"
        for path, body in pairs
    )
    header_lines = "\n".join(
        f"headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()
    )
    return f"""
local requests = {{
{rows}
}}
local headers = {{}}
{header_lines}
local counter = 0
function init(args)
  counter = math.random(0, #requests - 1)
end
function request()
  counter = counter % #requests + 1
  local r = requests[counter]
  return wrk.format("{method}", r[1], headers, r[2])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d," ..
    "\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50\\":%d,\\"p90\\":%d,\\"p99\\":%d," ..
    "\\"p999\\":%d,\\"mean\\":%.1f,\\"max\\":%d}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def run_wrk(url: str, script: Path, seconds: float, threads: int, connections: int) -> dict:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(script), url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    output = done.stdout
    line = next(x for x in output.splitlines() if x.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def report(name: str, result: dict, connections: int) -> None:
    seconds = result["duration_us"] / 1e6
    errors = {k: result[k] for k in ("connect", "read", "write", "status", "timeout") if result[k]}
    print(
        f"  {name:<12} c={connections:<3} {result['requests'] / seconds:8,.0f} req/s  "
        f"p50 {result['p50'] / 1000:6.2f} ms  p90 {result['p90'] / 1000:6.2f} ms  "
        f"p99 {result['p99'] / 1000:6.2f} ms  p99.9 {result['p999'] / 1000:6.2f} ms  "
        f"max {result['max'] / 1000:6.1f} ms  "
        f"({result['requests']:,} requests{', errors ' + str(errors) if errors else ''})",
        flush=True,
    )


# -- in-process measurements ----------------------------------------------------------------
def core_costs(base: Path, sample: list[dict], rounds: int = 20000) -> None:
    """CPU µs per core call with and without its audit row, and per audit row written one
    commit each or in batches (``time.process_time``: CPU of this process, less sensitive to
    other work on the machine than wall time; SQLite's commits and fsyncs included)."""
    from santeid.insi.audit import INSERT_AUDIT
    from santeid.insi.audit import timestamp
    from santeid.insi.audit import utc_now
    from santeid.insi.model import CallContext
    from santeid.insi.model import TraitsQuery
    from santeid.insi.service import InsiService

    ctx = CallContext("BENCH", None, "899900063480", "rest", "bearer")
    queries = [
        TraitsQuery(p["birth_name"], (p["given"],), p["sex"], p["birth_date"], p.get("birthplace"))
        for p in sample
    ]
    with tempfile.TemporaryDirectory(prefix="insi-audit-", dir=ROOT / "var") as tmp:
        service = InsiService(base, Path(tmp) / "insi.sqlite3")

        def timed(label: str) -> float:
            for q in queries[:500]:  # warm the page cache and the connections
                service.search_by_traits(q, ctx)
            started = time.process_time()
            for i in range(rounds):
                service.search_by_traits(queries[i % len(queries)], ctx)
            service.audit.flush()
            per_call = (time.process_time() - started) / rounds * 1e6
            print(f"  core search_by_traits {label:<30} {per_call:7.1f} µs CPU/call")
            return per_call

        service.audit.record = lambda *a, **k: None  # type: ignore[method-assign]
        timed("(audit disabled)")
        del service.audit.record  # back to the method
        service.audit._writer = object()  # type: ignore[assignment]  # no thread: measured alone
        started = time.process_time()
        for i in range(rounds):
            p = sample[i % len(sample)]
            digest = service.audit.query_hash(
                "rechercherInsAvecTraitsIdentite", p["birth_name"], p["given"], p["sex"],
                p["birth_date"], p.get("birthplace"),
            )  # fmt: skip
            service.audit.record(ctx, "rechercherInsAvecTraitsIdentite", "00",
                                 query_hash=digest, duration_us=50)  # fmt: skip
        queued = (time.process_time() - started) / rounds * 1e6
        started = time.process_time()
        service.audit.flush()
        flushed = (time.process_time() - started) / rounds * 1e6
        print(
            f"  audit row: keyed hash + queue {queued:5.1f} µs CPU; "
            f"its share of one batched commit ({rounds:,} rows) {flushed:5.1f} µs CPU"
        )
        operation = "rechercherInsAvecTraitsIdentite"
        row = (timestamp(utc_now()), "BENCH", None, "8999", operation, "rest", "bearer", "00",
               "0" * 32, 100)  # fmt: skip
        for batch in (1, 64, 512):
            count = rounds // batch * batch
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(rounds // batch):
                with service.audit.db.transaction() as conn:
                    conn.executemany(INSERT_AUDIT, [row] * batch)
            cpu = (time.process_time() - cpu) / count * 1e6
            wall = (time.perf_counter() - wall) / count * 1e6
            what = "one row per commit" if batch == 1 else f"batches of {batch}"
            print(
                f"  audit rows, {what:<19} (WAL, synchronous=NORMAL) "
                f"{cpu:6.1f} µs CPU/row, {wall:6.1f} µs wall/row"
            )


def profile(env: dict[str, str], token: str, sample: list[dict], rounds: int = 3000) -> None:
    """cProfile of the app answering search-by-traits in-process (Werkzeug test client, whose
    own request building is part of the figures)."""
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("SANTEID_")})
    os.environ["SANTEID_WORKERS"] = "1"
    os.environ["SANTEID_STORE_URL"] = env["SANTEID_STORE_URL"]
    try:
        from santeid import create_app

        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [_traits_body(p) for p in sample]
    for body in bodies[:200]:
        client.post("/insi/v1/ins/search-by-traits", json=body, headers=headers)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(rounds):
        client.post("/insi/v1/ins/search-by-traits", json=bodies[i % len(bodies)], headers=headers)
    profiler.disable()
    per_request = (time.perf_counter() - started) / rounds * 1e6
    print(f"\nprofile: {rounds} in-process requests, {per_request:.0f} µs/request (with cProfile)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(30)
    print(out.getvalue())


# -- py-spy --------------------------------------------------------------------------------------
#: Frames whose inclusive share the py-spy summary prints (function name, file fragment).
SPY_FRAMES = [
    ("handle", "gunicorn/workers/gthread.py"),
    ("handle_request", "gunicorn/workers/gthread.py"),
    ("access", "gunicorn/glogging.py"),
    ("_runner", "granian/wsgi.py"),
    ("log_request", "granian/log.py"),
    ("wsgi_app", "flask/app.py"),
    ("push", "flask/ctx.py"),
    ("open_session", "flask/sessions.py"),
    ("preprocess_request", "flask/app.py"),
    ("process_response", "flask/app.py"),
    ("search_by_traits", "santeid/insi/rest.py"),
    ("__call__", "santeid/insi/rest.py"),
    ("bearer_context", "santeid/insi/auth.py"),
    ("request_context", "santeid/insi/auth.py"),
    ("get", "redis/commands/core.py"),
    ("search_by_traits", "santeid/insi/service.py"),
    ("_search_traits", "santeid/insi/service.py"),
    ("_traits", "santeid/insi/service.py"),
    ("_record", "santeid/insi/service.py"),
    ("_body", "santeid/insi/rest.py"),
    ("_json", "santeid/insi/rest.py"),
    ("search_by_traits", "santeid/insi/fhir.py"),
]


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """Start sampling ``pid`` (a worker process) with py-spy, if installed.  ``--gil``: only
    the thread holding the GIL is sampled, so the profile is Python CPU time, not threads
    waiting on sockets (Redis, clients)."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(binary).exists():
        print("  (py-spy not installed: pip install py-spy)")
        return None
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
         "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def py_spy_summary(path: Path, top: int = 15) -> None:
    """Inclusive shares of the frames of :data:`SPY_FRAMES` and the top self-time functions,
    from py-spy's collapsed stacks (``frame;frame;… count``)."""
    if not path.exists():
        print("  (py-spy wrote nothing)")
        return
    total = 0
    inclusive: dict[tuple[str, str], int] = {}
    own: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        seen = set()
        for frame in frames:
            function = frame.split(" (", 1)[0].rsplit(".", 1)[-1]  # "Class.method" → "method"
            for name, file in SPY_FRAMES:
                if function == name and file in frame:
                    seen.add((name, file))
        for key in seen:
            inclusive[key] = inclusive.get(key, 0) + count
        leaf = re.sub(r":\d+\)$", ")", frames[-1])
        own[leaf] = own.get(leaf, 0) + count
    if not total:
        print("  (no samples)")
        return
    print(f"  py-spy --gil, one worker, {total:,} samples of the thread holding the GIL:")
    for name, file in SPY_FRAMES:
        if (name, file) in inclusive:
            share = 100 * inclusive[(name, file)] / total
            print(f"    {share:5.1f} %  {name} ({file})")
    print("  self time (top functions):")
    for leaf, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {100 * count / total:5.1f} %  {leaf[:110]}")


# -- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base", type=Path, help="use this civil-status base")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="default: rest-traits"
    )
    parser.add_argument(
        "--server",
        choices=["santeid-serve", "santeid-serve-access-log", "gunicorn"],
        default="santeid-serve",
        help="santeid serve (as shipped: Granian, no access log), the same with --access-log, "
        "or the same app under gunicorn gthread with its access log, for comparison",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--connections", type=int, action="append", help="default: 4, 16 and 64")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--queries", type=int, default=5000, help="distinct request bodies")
    parser.add_argument("--profile", action="store_true", help="in-process cProfile as well")
    parser.add_argument(
        "--py-spy", action="store_true", help="sample one worker with py-spy during the first run"
    )
    parser.add_argument("--no-core", action="store_true", help="skip in-process core costs")
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: apt-get install wrk (Debian/Ubuntu), or build it from "
            "https://github.com/wg/wrk"
        )
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is needed for --workers > 1: apt-get install redis-server")
    scenarios = [SCENARIOS[name] for name in (args.scenario or ["rest-traits"])]
    connections = args.connections or [4, 16, 64]

    print(f"machine: {machine()}")
    base = ensure_base(args.persons, args.seed, args.base)
    sample = sample_persons(base, args.queries)
    home = Path(tempfile.mkdtemp(prefix="santeid-insi-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        redis_port = start_redis(home, processes)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(
            os.environ,
            SANTEID_DATA_DIR=str(home / "var"),
            SANTEID_KEYS_DIR=str(home / "keys"),
            SANTEID_SANDBOX="true",
            SANTEID_SANDBOX_APPROVAL_DELAY="0",
            SANTEID_LOG_LEVEL="WARNING",
            SANTEID_ISSUER=url + REALM,
            SANTEID_STORE_URL=f"redis://127.0.0.1:{redis_port}/0",
            # One token for the whole run (PSC's default is 2 minutes).
            SANTEID_ACCESS_TOKEN_LIFETIME=str(3600),
            SANTEID_INSI_BASE=str(base),
            SANTEID_TLS_CLIENT_CERT_HEADER=CERT_HEADER,
            SANTEID_TRUSTED_PROXIES="127.0.0.1",
        )
        client_file = home / "client.json"
        client_file.write_text(
            json.dumps(
                {
                    "client_id": "bench",
                    "client_secret": SECRET,
                    "redirect_uris": [REDIRECT_URI],
                    "token_endpoint_auth_method": "client_secret_basic",
                }
            )
        )
        subprocess.run(
            [SANTEID, "clients", "add", str(client_file)], env=env, check=True, capture_output=True
        )
        command = [
            SANTEID, "serve", "--port", str(port), "--workers", str(args.workers),
            "--threads", str(args.threads),
        ]  # fmt: skip
        if args.server == "santeid-serve-access-log":
            command.append("--access-log")
        if args.server == "gunicorn":
            env["SANTEID_WORKERS"] = str(args.workers)
            command = [
                str(Path(sys.executable).with_name("gunicorn")), "santeid:create_app()",
                "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                "--worker-class", "gthread", "--threads", str(args.threads),
                "--access-logfile", "-",
            ]  # fmt: skip
        log = (home / "server.log").open("wb")  # the access log goes here
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(server)
        wait_for(f"{url}/health", server)
        listing = subprocess.run(
            [SANTEID, "directory", "list", "--sandbox", "--json"],
            env=env,
            check=True,
            capture_output=True,
        )
        national_id = json.loads(listing.stdout)[0]["national_id"]
        token = login(url, national_id)
        print(
            f"server: {args.server} --workers {args.workers} --threads {args.threads}, "
            f"redis store; load: wrk -t{args.wrk_threads}, "
            f"{len(sample):,} distinct queries"
        )
        print(f"server memory at start: {server_memory(server.pid)}")
        for scenario in scenarios:
            pairs = scenario.requests(sample)
            extra = scenario.prepare(env, home) if scenario.prepare else {}
            headers = {k: v.format(token=token, **extra) for k, v in scenario.headers.items()}
            script = home / f"{scenario.name}.lua"
            script.write_text(lua_script(scenario.method, pairs, headers))
            # Check one request by hand first: a misconfigured scenario must not look fast.
            path, body = pairs[0]
            check = requests.request(
                scenario.method, url + path, data=body, headers=headers, timeout=10
            )
            if check.status_code != 200:
                raise SystemExit(f"{scenario.name}: {check.status_code} {check.text[:300]}")
            run_wrk(url, script, args.warmup, args.wrk_threads, max(connections))
            for index, c in enumerate(connections):
                spy = None
                if args.py_spy and index == 0:
                    workers = workers_of(server.pid)
                    spy = py_spy(workers[-1], args.seconds - 2, home / f"{scenario.name}.spy")
                speed = host_speed_ms()
                tree = process_tree(server.pid)
                before = {p: cpu_seconds([p]) for p in tree}
                result = run_wrk(url, script, args.seconds, args.wrk_threads, c)
                report(scenario.name, result, c)
                print(
                    f"    host speed check: {speed} ms before, {host_speed_ms()} ms after "
                    "(bench/hostspeed.py; lower is faster)"
                )
                used = [cpu_seconds([p]) - before[p] for p in tree]
                wall = result["duration_us"] / 1e6
                print(
                    "    server CPU per process (cores): "
                    + " + ".join(f"{u / wall:.2f}" for u in used)
                    + f" = {sum(used) / wall:.2f}; "
                    f"{sum(used) / max(1, result['requests']) * 1e6:.0f} µs CPU per request"
                )
                if spy is not None:
                    spy.wait(timeout=60)
                    py_spy_summary(home / f"{scenario.name}.spy")
            print(f"  server memory after {scenario.name}: {server_memory(server.pid)}")
        if not args.no_core:
            print("\nin-process (one thread, no HTTP):")
            core_costs(base, sample)
        if args.profile:
            profile(env, token, sample)
    finally:
        stop(processes)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

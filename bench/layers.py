"""CPU between the socket and Flask: the worker CPU per request of each layer that stands
between Granian and santeid's views under ``santeid serve --workers 2`` (docs/performance.md,
"Server layout: CPU between the socket and Flask").

One server per variant and round: ``santeid serve --workers 2`` itself (Granian, RSGI,
:class:`santeid.serving.BufferedRSGI`, 4 threads per worker), on a private Redis, whose workers
also answer a few bench-only paths, each adding one layer to the one before:

* ``rsgi``: an RSGI answer from the event loop (Granian and asyncio alone);
* ``pool``: + a no-op call handed to santeid's thread pool and back;
* ``wsgi``: + santeid's adapter around a WSGI application answering fixed bytes (environ,
  ``start_response``, response hand-off);
* ``post``: the same with a 40-byte ``POST`` body (+ the body awaited under its deadline);
* ``flask``: + Flask, a one-line view returning ``{"ok": true}`` (``bench/floor.py``'s);
* ``discovery``: santeid's ``GET`` of the OpenID discovery document;
* ``token``: santeid's token endpoint refusing a CIBA poll with ``invalid_grant`` (client
  authentication, one Redis read).

Each target is loaded by ``wrk -t2 -c16`` for ``--seconds`` after a one-second warm-up; the
figure is the user + system CPU time of the two worker processes over the run divided by the
requests wrk completed. CPU time, unlike throughput, can be read on a shared machine;
variants are alternated run by run because the host's speed drifts (``bench/hostspeed.py``).

A variant is ``NAME=SPEC``: ``src=PATH`` puts PATH first on the servers' ``PYTHONPATH`` (an
export of another commit's ``src``, to compare code), ``threads=N`` is ``--threads``, and any
other ``KEY=VALUE`` is a Granian option (``task_impl=rust``, ``runtime_mode=mt``,
``runtime_threads=2``, ``backpressure=8``...). ``--in-process`` prints instead what the
adapter's own steps cost, called directly.

    .venv/bin/python bench/layers.py [--rounds 3] [--seconds 6] [--target flask ...]
        [--variant shipped=] [--variant rust-tasks=task_impl=rust] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import REALM
from harness import basic_auth
from harness import cpu_seconds
from harness import free_port
from harness import start_redis
from harness import stop
from harness import wait_for
from harness import workers_of
from hostspeed import report

SANTEID = str(Path(sys.executable).with_name("santeid"))
HERE = Path(__file__).resolve().parent
CIBA = "urn:openid:params:grant-type:ciba"
SECRET = "bench-layers-secret-0123456789abcdef"  # noqa: S105 — a throwaway client
TARGETS = {
    "rsgi": "/bench/rsgi",
    "pool": "/bench/pool",
    "wsgi": "/bench/wsgi",
    "post": "/bench/wsgi",
    "flask": "/bench/flask",
    "discovery": REALM + "/.well-known/openid-configuration",
    "token": REALM + "/protocol/openid-connect/token",
}
FIXED = b'{"ok": true}\n'


# -- inside the server: santeid serve, its workers answering the bench paths too -------------
def bench_app():
    """Granian's factory in each worker: santeid's own RSGI application (as ``santeid serve``
    builds it), and the bench paths in front of it."""
    from flask import Flask
    from flask import jsonify

    from santeid import serving

    santeid = serving.rsgi_app()
    flask = Flask("layers")
    flask.add_url_rule("/bench/flask", "index", lambda: jsonify(ok=True))
    adapters = {
        "/bench/wsgi": serving.BufferedRSGI(_fixed_wsgi, santeid.settings, 1),
        "/bench/flask": serving.BufferedRSGI(flask.wsgi_app, santeid.settings, 1),
    }
    for adapter in adapters.values():
        adapter.pool = santeid.pool  # the same threads as santeid's own requests
    headers = [("content-type", "application/json")]

    async def app(scope, protocol):
        path = scope.path
        if path == "/bench/rsgi":
            protocol.response_bytes(200, headers, FIXED)
        elif path == "/bench/pool":
            await santeid.pool.run(asyncio.get_running_loop(), _noop)
            protocol.response_bytes(200, headers, FIXED)
        elif path in adapters:
            await adapters[path].__rsgi__(scope, protocol)
        else:
            await santeid.__rsgi__(scope, protocol)

    return app


def _noop() -> None:
    return None


def _fixed_wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(FIXED)))])  # fmt: skip
    return [FIXED]


def serve_here(port: int, options: dict, threads: int | None) -> None:
    """``santeid serve --workers 2`` in this process, Granian told to load :func:`bench_app`
    with ``options`` changed."""
    import granian
    from granian import constants

    enums = {"task_impl": constants.TaskImpl, "runtime_mode": constants.RuntimeModes,
             "loop": constants.Loops, "http": constants.HTTPModes}  # fmt: skip
    options = {key: enums[key](value) if key in enums else value for key, value in options.items()}
    shipped = granian.Granian

    class Changed(shipped):  # type: ignore[misc, valid-type]
        def __init__(self, target, **kwargs):
            kwargs.update(options, factory=True)
            super().__init__("layers:bench_app", **kwargs)

    granian.Granian = Changed
    from santeid.cli import main

    extra = ["--threads", str(threads)] if threads else []
    main(["serve", "--workers", "2", "--port", str(port), *extra], standalone_mode=True)


# -- the load ---------------------------------------------------------------------------------
def parse_variant(text: str) -> tuple[str, dict]:
    name, _, spec = text.partition("=")
    variant: dict = {"src": None, "threads": None, "options": {}}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key == "src":
            variant["src"] = str(Path(value).resolve())
        elif key == "threads":
            variant["threads"] = int(value)
        else:
            variant["options"][key] = int(value) if value.isdigit() else value
    return name, variant


def start_server(home: Path, variant: dict, env: dict, processes: list) -> tuple[int, list[int]]:
    port = free_port()
    env = dict(env, SANTEID_ISSUER=f"http://127.0.0.1:{port}{REALM}")
    paths = [p for p in (variant["src"], str(HERE)) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, str(HERE / "layers.py"), "--serve-port", str(port),
               "--serve-options", json.dumps(variant["options"])]  # fmt: skip
    if variant["threads"]:
        command += ["--serve-threads", str(variant["threads"])]
    log = (home / "server.log").open("ab")
    processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    wait_for(f"http://127.0.0.1:{port}/health", processes[-1])
    return port, workers_of(processes[-1].pid)


def load(port: int, target: str, seconds: float, scripts: dict) -> tuple[int, float, int]:
    """Requests completed, requests/s and non-2xx answers of one wrk run."""
    command = ["wrk", "-t2", "-c16", f"-d{int(seconds)}s"]
    if target in scripts:
        command += ["-s", str(scripts[target])]
    out = subprocess.run([*command, f"http://127.0.0.1:{port}{TARGETS[target]}"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (int(re.search(r"(\d+) requests in", out).group(1)),
            float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            int(refused.group(1)) if refused else 0)  # fmt: skip


def check_token_refusal(port: int, auth: str) -> None:
    import requests

    answer = requests.post(f"http://127.0.0.1:{port}{TARGETS['token']}",
                           data={"grant_type": CIBA, "auth_req_id": "none"},
                           headers={"Authorization": auth}, timeout=10)  # fmt: skip
    if answer.status_code != 400 or answer.json().get("error") != "invalid_grant":
        raise SystemExit(f"token target answered {answer.status_code} {answer.text[:200]}")


def run(args) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk missing (apt-get install wrk)")
    variants = dict(parse_variant(v) for v in args.variant or ["shipped="])
    home = Path(tempfile.mkdtemp(prefix="santeid-layers-"))
    processes: list[subprocess.Popen] = []
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        redis_port = start_redis(home, processes)
        env = dict(os.environ, SANTEID_DATA_DIR=str(home / "var"),
                   SANTEID_KEYS_DIR=str(home / "keys"), SANTEID_SANDBOX="true",
                   SANTEID_LOG_LEVEL="WARNING",
                   SANTEID_STORE_URL=f"redis://127.0.0.1:{redis_port}/0")  # fmt: skip
        client = home / "client.json"
        client.write_text(json.dumps({
            "client_id": "bench-layers", "client_secret": SECRET, "grant_types": [CIBA],
            "token_endpoint_auth_method": "client_secret_basic",
            "backchannel_token_delivery_mode": "poll", "backchannel_polling_interval": 0,
        }))  # fmt: skip
        subprocess.run([SANTEID, "clients", "add", str(client)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        auth = basic_auth("bench-layers", SECRET)
        scripts = {"token": home / "token.lua", "post": home / "post.lua"}
        for target, body, headers in (
            ("token", f"grant_type={CIBA}&auth_req_id=none", {"Authorization": auth}),
            ("post", "x" * 40, {}),
        ):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            scripts[target].write_text(
                f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
            )
        for round_number in range(1, args.rounds + 1):
            for name, variant in variants.items():
                port, workers = start_server(home, variant, env, processes)
                try:
                    if "token" in args.target:
                        check_token_refusal(port, auth)
                    for target in args.target:
                        load(port, target, 1, scripts)  # warm-up
                        before = cpu_seconds(workers)
                        done, rate, refused = load(port, target, args.seconds, scripts)
                        per_request = (cpu_seconds(workers) - before) / done * 1e6
                        results.setdefault((target, name), []).append((per_request, rate))
                        note = f", {refused} non-2xx" if refused else ""
                        print(f"round {round_number} {name:>12} {target:>9}: "
                              f"{per_request:6.0f} µs/request, {rate:8,.0f} requests/s{note}",
                              flush=True)  # fmt: skip
                finally:
                    stop(processes[-1:])
                    processes.pop()
        print("\nworker CPU per request (µs), each run:")
        for target in args.target:
            for name in variants:
                runs = results[(target, name)]
                print(f"  {target:>9} {name:>12}: " + " / ".join(f"{cpu:.0f}" for cpu, _ in runs))
    finally:
        stop(processes)
        shutil.rmtree(home, ignore_errors=True)


# -- the adapter's steps, called directly -----------------------------------------------------
class _Headers(dict):
    """Granian's ``RSGIHeaders`` as the adapter uses it (``in``, ``items``, ``get``)."""


class _Scope:
    proto, http_version, scheme, method = "http", "1.1", "http", "GET"
    server, client, query_string = "127.0.0.1:8000", "127.0.0.1:51234", ""
    path = REALM + "/.well-known/openid-configuration"
    headers = _Headers({"host": "127.0.0.1:8000", "user-agent": "python-requests/2.32",
                        "accept-encoding": "gzip, deflate", "accept": "*/*",
                        "connection": "keep-alive"})  # fmt: skip


def in_process(calls: int) -> None:
    from flask import Flask
    from flask import jsonify

    from santeid import serving

    def cpu_per_call(function, *args) -> float:
        started = time.process_time()
        for _ in range(calls):
            function(*args)
        return (time.process_time() - started) / calls * 1e6

    scope = _Scope()
    per_environ = cpu_per_call(serving._environ, scope, b"", bool)
    print(f"environ from a scope of 5 headers: {per_environ:.1f} µs")
    flask = Flask("layers")
    flask.add_url_rule("/", "index", lambda: jsonify(ok=True))
    environ = serving._environ(scope, b"", bool)

    def one_flask_call():
        serving._start(flask.wsgi_app, dict(environ, PATH_INFO="/"))

    def one_fixed_call():
        serving._start(_fixed_wsgi, dict(environ))

    print(f"_start, fixed WSGI answer: {cpu_per_call(one_fixed_call):.1f} µs")
    print(f"_start, one-line Flask view: {cpu_per_call(one_flask_call):.1f} µs")
    limiter = serving.AddressLimiter(32)

    def one_admission():
        limiter.acquire("127.0.0.1")
        limiter.release("127.0.0.1")

    print(f"limit per address, taken and given back: {cpu_per_call(one_admission):.1f} µs")
    print(f"departure flag (threading.Event): {cpu_per_call(threading.Event):.1f} µs")
    pool = serving._Pool(4)

    async def round_trips() -> float:
        loop = asyncio.get_running_loop()
        started = time.process_time()
        for _ in range(calls):
            await pool.run(loop, _noop)
        return (time.process_time() - started) / calls * 1e6

    print(f"pool round trip (no-op, one at a time, all threads' CPU): "
          f"{asyncio.run(round_trips()):.1f} µs")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--target", action="append", choices=list(TARGETS))
    parser.add_argument("--variant", action="append", help="NAME=SPEC, see the docstring")
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--serve-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_port:
        serve_here(args.serve_port, json.loads(args.serve_options), args.serve_threads)
        return
    if args.in_process:
        report("start")
        in_process(args.calls)
        report("end")
        return
    args.target = args.target or list(TARGETS)
    report("start")
    run(args)
    report("end")


if __name__ == "__main__":
    main()

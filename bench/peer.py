"""Logins against santeid and node-oidc-provider, same workload, in one run: what
``bench/ciba.py`` and ``bench/oidc_login.py`` share.

* the peer: npm ``oidc-provider`` installed into a temporary folder, one Node process (its
  standard shape: an in-memory adapter cannot be shared by several), RSA-2048 RS256 keys like
  santeid's (``--signing-alg ES256``: both sides sign with P-256). Each script gives the
  provider's configuration for its flow after :data:`NODE_PRELUDE`. ``--oidc-provider-version``
  picks the version; the default, 8.8.1, is the newest whose runtime check accepts this
  machine's Node 20 (9.x warns "Unsupported runtime. Use Node.js v22.x LTS");
* the load: ``--clients`` threads spread over ``--load-processes`` processes (so the generator
  is not serialised by one GIL), each thread one :class:`harness.Browser` (one keep-alive
  HTTP/1.1 connection);
* the figures, per side: logins, errors, logins/s, server CPU per login (user + system time of
  the provider's processes over the measured seconds, which other work on the machine does not
  distort), p50 and p99 of a whole login, the host's speed before and after
  (``bench/hostspeed.py``); then the ratio santeid/peer. ``--profile`` runs py-spy on the
  santeid workers during their run (if installed) and prints where their Python time goes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness import Browser
from harness import cpu_seconds
from harness import free_port
from harness import start_santeid
from harness import stop
from harness import wait_for
from hostspeed import host_speed_ms

PY_SPY = str(Path(sys.executable).with_name("py-spy"))
NODE_VERSION = "8.8.1"

#: The start of both peers' ``server.mjs``: what they configure alike. The script's own part
#: builds ``provider`` from ``common`` and ``client`` and listens on ``port``.
NODE_PRELUDE = r"""
import * as http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const common = {
  jwks: JSON.parse(process.env.JWKS),
  cookies: { keys: [process.env.SECRET] },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  // Refresh tokens, as santeid issues (oidc-provider's default wants offline_access).
  issueRefreshToken: async () => true,
};
const client = {
  client_id: 'bench',
  client_secret: process.env.SECRET,
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: process.env.ALG,
};
"""

#: One whole login by one browser against one target: returns a count to average per login
#: (CIBA: token polls; code flow: HTTP requests). Module-level, so the load processes can
#: receive it.
Login = Callable[[Browser, dict, str], int]


# -- the peer ----------------------------------------------------------------------------------


def _jwks() -> str:
    """An RSA-2048 RS256 key (as santeid's) and a P-256 ES256 key (for ``--signing-alg``)."""
    from joserfc.jwk import ECKey
    from joserfc.jwk import RSAKey

    rsa = RSAKey.generate_key(2048, private=True, parameters={"kid": "rs", "alg": "RS256"})
    ec = ECKey.generate_key("P-256", private=True, parameters={"kid": "es", "alg": "ES256"})
    keys = [{**k.as_dict(private=True), "use": "sig"} for k in (rsa, ec)]
    return json.dumps({"keys": keys})


def _node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


def start_node(
    home: Path,
    processes: list[subprocess.Popen],
    server: str,
    *,
    version: str,
    alg: str,
    secret: str,
    env: dict[str, str] | None = None,
) -> dict | None:
    """node-oidc-provider ``version`` running :data:`NODE_PRELUDE` + ``server`` (``env``
    added to its environment); a target for :func:`run_load`, or ``None`` (said why) when
    Node or the package cannot be had."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("node or npm missing: the peer is skipped")
        return None
    folder = home / "node"
    folder.mkdir()
    (folder / "package.json").write_text(
        json.dumps({"name": "santeid-bench-peer", "private": True, "type": "module"})
    )
    (folder / "server.mjs").write_text(NODE_PRELUDE + server)
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
         f"oidc-provider@{version}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    if installed.returncode != 0:
        print("npm install failed: the peer is skipped\n" + installed.stderr[-2000:])
        return None
    port = free_port()
    environment = dict(
        os.environ,
        PORT=str(port),
        SECRET=secret,
        JWKS=_jwks(),
        ALG=alg,
        NODE_ENV="production",
        **(env or {}),
    )
    log = (home / "node.log").open("wb")
    processes.append(
        subprocess.Popen(
            ["node", "server.mjs"],
            cwd=folder,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    wait_for(f"http://127.0.0.1:{port}/.well-known/openid-configuration", processes[-1])
    return {
        "name": (
            f"node-oidc-provider {version} (node {_node_version()}, one process, memory adapter, "
            f"{alg})"
        ),
        "host": "127.0.0.1",
        "port": port,
        "hints": ["alice", "bob", "carol", "dave"],
        "cpu_parts": {"node": [processes[-1].pid]},
    }


# -- load ----------------------------------------------------------------------------------------


def load_process(target: dict, threads: int, offset: int, start_at: float, stop_at: float):
    """Runs in a child process: ``threads`` browsers logging in with ``target["login"]`` from
    ``start_at`` to ``stop_at``; returns (durations, counts, errors)."""
    login: Login = target["login"]
    durations: list[float] = []
    counts: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    host, port = target["host"], target["port"]
    hints = target["hints"]

    def client(index: int) -> None:
        browser = Browser(host, port)
        hint = hints[(offset + index) % len(hints)]
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            started = time.perf_counter()
            try:
                count = login(browser, target, hint)
            except Exception as exc:  # counted and reported, never hidden
                with lock:
                    errors.append(repr(exc)[:200])
                browser.close()
                browser = Browser(host, port)
                continue
            elapsed = time.perf_counter() - started
            with lock:
                durations.append(elapsed)
                counts.append(count)
        browser.close()

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return durations, counts, errors


def run_load(target: dict, clients: int, processes: int, seconds: float) -> dict:
    # Warm-up: a few logins outside the measurement (JIT, caches, connection pools).
    browser = Browser(target["host"], target["port"])
    for _ in range(20):
        target["login"](browser, target, target["hints"][0])
    browser.close()
    start_at = time.time() + 1.0
    stop_at = start_at + seconds
    shares = [
        clients // processes + (1 if i < clients % processes else 0) for i in range(processes)
    ]
    offsets = [sum(shares[:i]) for i in range(processes)]
    context = multiprocessing.get_context("fork")
    with context.Pool(processes) as pool:
        pending = pool.starmap_async(
            load_process,
            [(target, shares[i], offsets[i], start_at, stop_at) for i in range(processes)],
        )
        time.sleep(max(0.0, start_at - time.time()))
        parts = target["cpu_parts"]
        before = {name: cpu_seconds(pids) for name, pids in parts.items()}
        time.sleep(max(0.0, stop_at - time.time()))
        used = {name: cpu_seconds(pids) - before[name] for name, pids in parts.items()}
        results = pending.get()
    durations = sorted(d for r in results for d in r[0])
    counts = [c for r in results for c in r[1]]
    errors = [e for r in results for e in r[2]]
    count = len(durations)
    return {
        "logins": count,
        "seconds": seconds,
        "rate": count / seconds,
        "p50": statistics.median(durations) * 1000 if count else float("nan"),
        "p99": durations[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
        "per_login": statistics.mean(counts) if counts else float("nan"),
        # Server CPU per login: what the provider costs, whatever else runs on the machine.
        "cpu_ms": {name: (u * 1000 / count if count else float("nan")) for name, u in used.items()},
        "errors": errors,
    }


# -- profile ---------------------------------------------------------------------------------


def _profile_start(target: dict, seconds: float, home: Path) -> list[subprocess.Popen]:
    if not Path(PY_SPY).exists():
        print("py-spy missing: no profile")
        return []
    spies = []
    for pid in target.get("workers", []):
        spies.append(
            subprocess.Popen(
                [PY_SPY, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format",
                 "raw", "--output", str(home / f"profile-{pid}.txt"), "--nonblocking", "--gil"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    return spies


#: Where a sample's innermost Python frame lives → what it is spending on.
_CATEGORIES = (
    ("joserfc/", "JWS signing (RSA/ECDSA in OpenSSL, called from joserfc)"),
    ("cryptography/", "JWS signing (RSA/ECDSA in OpenSSL, called from joserfc)"),
    ("redis/", "redis-py (encode, socket, parse replies)"),
    ("gunicorn/", "gunicorn (HTTP parsing, gthread scheduling, access log)"),
    ("granian/", "Granian (WSGI call, response hand-off to Rust, access log)"),
    ("werkzeug/", "Flask + Werkzeug (routing, request/response objects)"),
    ("flask/", "Flask + Werkzeug (routing, request/response objects)"),
    ("jinja2/", "Jinja (login page)"),
    ("authlib/", "Authlib (client authentication, grant/endpoint plumbing)"),
    ("santeid/directory/", "SQLite lookups (directory, clients, devices)"),
    ("santeid/oidc/clients.py", "SQLite lookups (directory, clients, devices)"),
    ("santeid/ecps/devices.py", "SQLite lookups (directory, clients, devices)"),
    ("santeid/storage/", "santeid store layer (JSON, compare-and-set)"),
    ("santeid/", "santeid (CIBA, tokens, hooks)"),
    ("json/", "json (stdlib)"),
    ("logging/", "logging (stdlib)"),
)


def _profile_report(home: Path, top: int = 12) -> None:
    """Where the workers hold the GIL (``py-spy --gil``: their Python CPU), by the package of
    the innermost frame, then the heaviest frames inclusive."""
    by_category: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for path in home.glob("profile-*.txt"):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            frames = stack.split(";")
            total += samples
            leaf = frames[-1]
            category = next((name for key, name in _CATEGORIES if key in leaf), "other stdlib")
            by_category[category] = by_category.get(category, 0) + samples
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + samples
    if not total:
        print("profile: no samples")
        return
    print(f"profile (py-spy --gil, {total} samples), self time by package:")
    for name, samples in sorted(by_category.items(), key=lambda kv: -kv[1]):
        print(f"  {samples / total:6.1%}  {name}")
    print("heaviest frames, inclusive:")
    for frame, samples in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        if "threading.py" in frame or "concurrent/futures" in frame:
            continue
        print(f"  {samples / total:6.1%}  {frame[:110]}")


# -- the run -------------------------------------------------------------------------------------


def arguments(description: str) -> argparse.ArgumentParser:
    """The options both scripts take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--serve-args",
        default="",
        help="more options for santeid serve, e.g. '--threads 2 --no-access-log'",
    )
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--only", choices=["santeid", "peer"])
    parser.add_argument("--oidc-provider-version", default=NODE_VERSION)
    parser.add_argument("--profile", action="store_true", help="py-spy the santeid workers")
    parser.add_argument(
        "--signing-alg",
        choices=["RS256", "ES256"],
        default="RS256",
        help="Token signatures on both sides (RS256 is PSC's; ES256 shows the cost of RSA).",
    )
    parser.add_argument(
        "--redis-unix",
        action="store_true",
        help="santeid reaches its redis-server by a Unix socket (unix://) instead of TCP",
    )
    return parser


def print_machine() -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.2f}"
    )


def compare(
    targets: list[tuple[str, dict]],
    args: argparse.Namespace,
    home: Path,
    *,
    per_login: str,
    p99_target: float | None = None,
) -> None:
    """Loads each target in turn (``("santeid" | "peer", target)``) and prints its figures,
    then the ratio of their logins/s. ``per_login``: what the count ``target["login"]``
    returns is, averaged per login."""
    results: dict[str, dict] = {}
    for key, target in targets:
        spies = (
            _profile_start(target, args.seconds + 1, home)
            if args.profile and key == "santeid"
            else []
        )
        speed = host_speed_ms()
        result = run_load(target, args.clients, args.load_processes, args.seconds)
        speed_after = host_speed_ms()
        for spy in spies:
            spy.wait(timeout=60)
        results[key] = result
        print(f"\n{target['name']}: {args.clients} concurrent clients, {args.seconds:.0f} s")
        print(
            f"  logins: {result['logins']}, errors: {len(result['errors'])}, "
            f"{per_login} {result['per_login']:.2f}"
        )
        print(f"  logins/s: {result['rate']:.1f}")
        cpu = result["cpu_ms"]
        detail = ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())
        print(f"  server CPU per login: {sum(cpu.values()):.2f} ms ({detail})")
        print(f"  login latency p50: {result['p50']:.1f} ms, p99: {result['p99']:.1f} ms")
        print(
            f"  host speed check: {speed} ms before, {speed_after} ms after "
            "(bench/hostspeed.py; lower is faster)"
        )
        if result["errors"]:
            print("  first errors:", *result["errors"][:3], sep="\n    ")
        if spies:
            _profile_report(home)
    if "santeid" in results and "peer" in results and results["peer"]["rate"]:
        ratio = results["santeid"]["rate"] / results["peer"]["rate"]
        print(f"\nratio santeid/peer (logins/s): {ratio:.2f}  (target >= 1.0)")
    if "santeid" in results and p99_target is not None:
        print(f"santeid p99: {results['santeid']['p99']:.1f} ms  (target <= {p99_target:.0f} ms)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def run(
    args: argparse.Namespace,
    *,
    secret: str,
    client: dict,
    node_server: str,
    santeid: dict,
    peer: dict,
    per_login: str,
    node_env: dict[str, str] | None = None,
    p99_target: float | None = None,
) -> None:
    """Starts santeid with the client ``bench`` registered (client_secret_basic with
    ``secret``, and ``client``'s metadata) and the peer running ``node_server`` (as ``--only``
    says), adds ``santeid`` and ``peer`` to their targets (``login`` and what it
    reads), runs :func:`compare`, and stops everything it started."""
    home = Path(tempfile.mkdtemp(prefix="santeid-bench-peer-"))
    processes: list[subprocess.Popen] = []
    try:
        print_machine()
        targets = []
        if args.only in (None, "santeid"):
            registered = {
                "client_id": "bench",
                "client_secret": secret,
                "token_endpoint_auth_method": "client_secret_basic",
                **client,
            }
            started = start_santeid(
                home,
                processes,
                registered,
                professionals=args.clients,
                workers=args.workers,
                alg=args.signing_alg,
                serve_args=tuple(args.serve_args.split()),
                redis_unix=args.redis_unix,
            )
            targets.append(("santeid", {**started, **santeid}))
        if args.only in (None, "peer"):
            node = start_node(
                home,
                processes,
                node_server,
                version=args.oidc_provider_version,
                alg=args.signing_alg,
                secret=secret,
                env=node_env,
            )
            if node:
                targets.append(("peer", {**node, **peer}))
        compare(targets, args, home, per_login=per_login, p99_target=p99_target)
    finally:
        stop(processes)
        shutil.rmtree(home, ignore_errors=True)

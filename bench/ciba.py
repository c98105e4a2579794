#!/usr/bin/env python3
"""Measure whole CIBA poll-mode logins: santeid against node-oidc-provider, same workload.

One login = back-channel authentication request (client_secret_basic, ``scope=openid``,
``login_hint``, ``binding_message``) → approval at once (santeid: a sandbox auto-approving
professional; node-oidc-provider: ``provider.backchannelResult`` inside
``triggerAuthenticationDevice``) → token-endpoint polls with no wait (the santeid client is
registered with ``backchannel_polling_interval`` 0; oidc-provider has no interval) until the
tokens arrive. Both answer the first poll with access, refresh and ID tokens.

    .venv/bin/python bench/ciba.py                     # 16 clients, 20 s each, both servers
    .venv/bin/python bench/ciba.py --only santeid --profile

* santeid: ``santeid serve --workers 2`` (Granian, 4 threads per worker, no access log; change
  with ``--serve-args``) on a private ``redis-server``.
* peer: npm ``oidc-provider`` installed by this script into a temporary folder, one Node
  process (its standard shape: an in-memory adapter cannot be shared by several), RSA-2048
  RS256 keys like santeid's (``--signing-alg ES256``: both sides sign with P-256).
  ``--oidc-provider-version`` picks the version; the default, 8.8.1, is the newest whose
  runtime check accepts this machine's Node 20 (9.x warns "Unsupported runtime. Use Node.js
  v22.x LTS").
* load: ``--clients`` threads spread over ``--load-processes`` processes (so the generator is
  not serialised by one GIL), each thread one keep-alive HTTP/1.1 connection.

Prints logins/s, p50 and p99 of a whole login for each, and the ratio santeid/peer. Asserts
nothing; traffic goes to 127.0.0.1 only and stops by itself. ``--profile`` runs py-spy on the
santeid workers during the run (if installed) and prints the top frames.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

from harness import REALM
from harness import cpu_seconds
from harness import free_port
from harness import start_redis
from harness import stop
from harness import wait_for
from harness import workers_of
from hostspeed import host_speed_ms

SANTEID = str(Path(sys.executable).with_name("santeid"))
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
SECRET = "bench-secret-" + secrets.token_hex(16)
CIBA = "urn:openid:params:grant-type:ciba"
NODE_VERSION = "8.8.1"

NODE_SERVER = r"""
import * as http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: process.env.SECRET,
    grant_types: ['urn:openid:params:grant-type:ciba', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    backchannel_token_delivery_mode: 'poll',
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: process.env.ALG,
  }],
  jwks: JSON.parse(process.env.JWKS),
  cookies: { keys: [process.env.SECRET] },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  // Refresh tokens, as santeid issues (oidc-provider's default wants offline_access).
  issueRefreshToken: async () => true,
  features: {
    devInteractions: { enabled: false },
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      processLoginHint: async (ctx, loginHint) => loginHint,
      processLoginHintToken: async () => undefined,
      validateBindingMessage: async () => {},
      validateRequestContext: async () => {},
      verifyUserCode: async () => {},
      // Approve at once, as santeid's sandbox auto-approval does.
      triggerAuthenticationDevice: async (ctx, request, account, client) => {
        const grant = new provider.Grant({
          clientId: client.clientId, accountId: account.accountId,
        });
        grant.addOIDCScope('openid');
        await grant.save();
        await provider.backchannelResult(request, grant, {
          acr: 'eidas1', amr: ['sandbox'], authTime: Math.floor(Date.now() / 1000),
        });
      },
    },
  },
});
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => console.log('ready'));
"""


# -- load ---------------------------------------------------------------------------------------


def _post(conn: HTTPConnection, path: str, form: dict, auth: str) -> tuple[int, dict]:
    body = urlencode(form)
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "Authorization": auth,
            "Content-Type": "application/x-www-form-urlencoded",
            "Connection": "keep-alive",
        },
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def one_login(conn: HTTPConnection, target: dict, login_hint: str) -> int:
    """A whole login; the number of polls it took."""
    status, ack = _post(
        conn,
        target["backchannel"],
        {"scope": "openid", "login_hint": login_hint, "binding_message": "42"},
        target["auth"],
    )
    if status != 200:
        raise RuntimeError(f"backchannel {status} {ack}")
    polls = 0
    while True:
        polls += 1
        status, token = _post(
            conn,
            target["token"],
            {"grant_type": CIBA, "auth_req_id": ack["auth_req_id"]},
            target["auth"],
        )
        if status == 200 and "id_token" in token and "access_token" in token:
            return polls
        if token.get("error") not in ("authorization_pending", "slow_down"):
            raise RuntimeError(f"token {status} {token}")
        if polls > 1000:
            raise RuntimeError("never approved")


def load_process(target: dict, threads: int, offset: int, start_at: float, stop_at: float):
    """Runs in a child process: ``threads`` clients; returns (durations, polls, errors)."""
    durations: list[float] = []
    polls: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    host, port = target["host"], target["port"]
    hints = target["hints"]

    def client(index: int) -> None:
        conn = HTTPConnection(host, port, timeout=30)
        hint = hints[(offset + index) % len(hints)]
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            started = time.perf_counter()
            try:
                count = one_login(conn, target, hint)
            except Exception as exc:  # counted and reported, never hidden
                with lock:
                    errors.append(repr(exc)[:200])
                conn.close()
                conn = HTTPConnection(host, port, timeout=30)
                continue
            elapsed = time.perf_counter() - started
            with lock:
                durations.append(elapsed)
                polls.append(count)
        conn.close()

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return durations, polls, errors


def run_load(target: dict, clients: int, processes: int, seconds: float) -> dict:
    # Warm-up: a few logins outside the measurement (JIT, caches, connection pools).
    conn = HTTPConnection(target["host"], target["port"], timeout=30)
    for _ in range(20):
        one_login(conn, target, target["hints"][0])
    conn.close()
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
    polls = [p for r in results for p in r[1]]
    errors = [e for r in results for e in r[2]]
    count = len(durations)
    return {
        "logins": count,
        "seconds": seconds,
        "rate": count / seconds,
        "p50": statistics.median(durations) * 1000 if count else float("nan"),
        "p99": durations[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
        "polls": statistics.mean(polls) if polls else float("nan"),
        # Server CPU per login: what the provider costs, whatever else runs on the machine.
        "cpu_ms": {name: (u * 1000 / count if count else float("nan")) for name, u in used.items()},
        "errors": errors,
    }


# -- servers ---------------------------------------------------------------------------------


def start_santeid(
    home: Path, workers: int, alg: str, processes: list, serve_args: tuple[str, ...] = ()
) -> dict:
    redis_port = start_redis(home, processes)
    port = free_port()
    realm = REALM
    env = dict(
        os.environ,
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_SANDBOX="true",
        SANTEID_LOG_LEVEL="WARNING",
        SANTEID_SIGNING_ALG=alg,
        SANTEID_STORE_URL=f"redis://127.0.0.1:{redis_port}/0",
        SANTEID_ISSUER=f"http://127.0.0.1:{port}{realm}",
    )
    client = home / "client.json"
    client.write_text(
        json.dumps(
            {
                "client_id": "bench",
                "client_secret": SECRET,
                "grant_types": [CIBA, "refresh_token"],
                "token_endpoint_auth_method": "client_secret_basic",
                "backchannel_token_delivery_mode": "poll",
                "backchannel_polling_interval": 0,
            }
        )
    )
    subprocess.run(
        [SANTEID, "clients", "add", str(client)], env=env, check=True, capture_output=True
    )
    log = (home / "santeid.log").open("wb")
    processes.append(
        subprocess.Popen(
            [SANTEID, "serve", "--port", str(port), "--workers", str(workers), *serve_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    wait_for(f"http://127.0.0.1:{port}/health", processes[-1])
    listing = subprocess.run(
        [SANTEID, "directory", "list", "--sandbox", "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    hints = [p["national_id"] for p in json.loads(listing.stdout)]
    base = f"{realm}/protocol/openid-connect"
    return {
        "name": " ".join(["santeid serve --workers", str(workers), *serve_args, f"(redis, {alg})"]),
        "host": "127.0.0.1",
        "port": port,
        "backchannel": f"{base}/ext/ciba/auth",
        "token": f"{base}/token",
        "auth": "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode(),
        "hints": hints,
        "workers": (workers_pids := workers_of(processes[-1].pid)),
        # The provider's CPU: the worker processes and Redis.
        "cpu_parts": {"workers": workers_pids, "redis-server": [processes[0].pid]},
    }


def _jwks() -> str:
    """An RSA-2048 RS256 key (as santeid's) and a P-256 ES256 key (for ``--signing-alg``)."""
    from joserfc.jwk import ECKey
    from joserfc.jwk import RSAKey

    rsa = RSAKey.generate_key(2048, private=True, parameters={"kid": "rs", "alg": "RS256"})
    ec = ECKey.generate_key("P-256", private=True, parameters={"kid": "es", "alg": "ES256"})
    keys = [{**k.as_dict(private=True), "use": "sig"} for k in (rsa, ec)]
    return json.dumps({"keys": keys})


def start_node(home: Path, version: str, alg: str, processes: list) -> dict | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("node or npm missing: the peer is skipped")
        return None
    folder = home / "node"
    folder.mkdir()
    (folder / "package.json").write_text(
        json.dumps({"name": "ciba-peer", "private": True, "type": "module"})
    )
    (folder / "server.mjs").write_text(NODE_SERVER)
    installed = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"oidc-provider@{version}",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if installed.returncode != 0:
        print("npm install failed: the peer is skipped\n" + installed.stderr[-2000:])
        return None
    port = free_port()
    env = dict(
        os.environ, PORT=str(port), SECRET=SECRET, JWKS=_jwks(), ALG=alg, NODE_ENV="production"
    )
    log = (home / "node.log").open("wb")
    processes.append(
        subprocess.Popen(
            ["node", "server.mjs"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
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
        "backchannel": "/backchannel",
        "token": "/token",
        "auth": "Basic " + base64.b64encode(f"bench:{SECRET}".encode()).decode(),
        "hints": ["alice", "bob", "carol", "dave"],
        "cpu_parts": {"node": [processes[-1].pid]},
    }


def _node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="santeid-bench-ciba-"))
    processes: list[subprocess.Popen] = []
    results: dict[str, dict] = {}
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.2f}"
        )
        targets = []
        if args.only in (None, "santeid"):
            targets.append(
                (
                    "santeid",
                    start_santeid(
                        home,
                        args.workers,
                        args.signing_alg,
                        processes,
                        tuple(args.serve_args.split()),
                    ),
                )
            )
        if args.only in (None, "peer"):
            peer = start_node(home, args.oidc_provider_version, args.signing_alg, processes)
            if peer:
                targets.append(("peer", peer))
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
                f"polls/login {result['polls']:.2f}"
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
        if "santeid" in results:
            print(f"santeid p99: {results['santeid']['p99']:.1f} ms  (target <= 150 ms)")
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        stop(processes)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Slow clients against ``santeid serve``: a normal load's success rate and latency without,
then with, an attack of slow-body connections and e-CPS long polls from one device
(docs/performance.md, docs/decisions/slow-clients.md).

The normal load: ``--clients`` threads, each in a loop of discovery (GET), a client-credentials
token (POST, an RS256 signature) and ``/health``. The attack, in a process of its own so that
it does not slow the load generator down: ``--slow`` connections, each from a loopback address
of its own (so that the limit per address does not help), sending a token request's body one
byte every 0.5 s and reconnecting whenever the server cuts it off; and ``--polls`` long polls
of one registered e-CPS device, each re-opened 0.5 s after its answer (a refusal comes at
once). Phases alternate (quiet, attack, quiet, attack, …) because this host's speed drifts;
the host speed check is printed around.

    .venv/bin/python bench/slowclients.py [--layout granian|werkzeug|gunicorn-tls]
        [--seconds 20] [--rounds 2] [--clients 8] [--slow 64] [--polls 16]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from harness import REALM
from harness import free_port
from harness import start_redis
from harness import stop
from harness import wait_for
from hostspeed import report

SANTEID = str(Path(sys.executable).with_name("santeid"))
CLIENT_ID, SECRET = "bench-service", "bench-service-secret-0123456789abcdef"
TOKEN_PATH = REALM + "/protocol/openid-connect/token"


def _santeid(env: dict, *args: str) -> str:
    return subprocess.run([SANTEID, *args], env=env, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def _connect(port: int, source: str, ca: str | None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), 10, (source, 0))
    if ca:
        sock = ssl.create_default_context(cafile=ca).wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def _slow_body(port: int, source: str, ca: str | None) -> None:
    head = (f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 100000\r\n\r\n").encode()  # fmt: skip
    while True:
        try:
            with _connect(port, source, ca) as sock:
                sock.sendall(head)
                while True:
                    sock.sendall(b"a")
                    time.sleep(0.5)
        except OSError:
            time.sleep(0.1)


def _long_poll(port: int, source: str, ca: str | None, device_file: str) -> None:
    from santeid.ecps.simulator import DeviceFile
    from santeid.ecps.simulator import make_device_token

    device = DeviceFile.load(Path(device_file))
    while True:
        try:
            with _connect(port, source, ca) as sock:
                sock.settimeout(90)
                sock.sendall(
                    f"GET /ecps/device/requests?wait=25 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {make_device_token(device)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                while sock.recv(65536):
                    pass
        except OSError:
            pass
        # Reopened half a second after each answer (a refusal, 429, comes at once): the figure
        # is about waits held open, not about a flood of refused requests.
        time.sleep(0.5)


def attacker(port: int, ca: str | None, slow: int, polls: int, device_file: str) -> None:
    # Each slow connection from an address of its own, the long polls from others.
    sources = [f"127.0.{10 + n // 250}.{1 + n % 250}" for n in range(slow)]
    threads = [
        threading.Thread(target=_slow_body, args=(port, source, ca), daemon=True)
        for source in sources
    ]
    threads += [
        threading.Thread(target=_long_poll, args=(port, f"127.0.9.{1 + n}", ca, device_file),
                         daemon=True)
        for n in range(polls)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    while True:
        time.sleep(3600)


def normal_load(base: str, ca: str | None, clients: int, seconds: float) -> tuple[int, int, list]:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        session.verify = ca or True
        session.trust_env = False
        calls = [
            lambda: session.get(f"{base}{REALM}/.well-known/openid-configuration", timeout=10),
            lambda: session.post(f"{base}{TOKEN_PATH}", auth=(CLIENT_ID, SECRET), timeout=10,
                                 data={"grant_type": "client_credentials", "scope": "rpps"}),
            lambda: session.get(f"{base}/health", timeout=10),
        ]  # fmt: skip
        index = 0
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                ok = calls[index % len(calls)]().status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = time.monotonic() - started
            index += 1
            with lock:
                latencies.append(elapsed)
                failures[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), failures[0], sorted(latencies)


def _p(values: list, q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=["granian", "werkzeug", "gunicorn-tls"],
                        default="granian")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slow", type=int, default=64)
    parser.add_argument("--polls", type=int, default=16)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="santeid-slow-"))
    processes: list[subprocess.Popen] = []
    port = free_port()
    env = dict(os.environ, SANTEID_DATA_DIR=str(home / "var"), SANTEID_KEYS_DIR=str(home / "keys"),
               SANTEID_SANDBOX="true", SANTEID_DEVICE_FILE=str(home / "device.json"))  # fmt: skip
    ca = None
    command = [SANTEID, "serve", "--port", str(port)]
    # Redis even for the one-process server: `santeid ecps activate` must reach its store.
    env["SANTEID_STORE_URL"] = f"redis://127.0.0.1:{start_redis(home, processes)}/0"
    if args.layout != "werkzeug":
        command += ["--workers", "2"]
    if args.layout == "gunicorn-tls":
        _santeid(env, "tls", "dev-cert", "--out", str(home / "tls"))
        ca = str(home / "tls" / "ca.pem")
        command += [
            "--tls-cert",
            str(home / "tls/cert.pem"),
            "--tls-key",
            str(home / "tls/key.pem"),
        ]
        env["REQUESTS_CA_BUNDLE"] = ca
    base = f"{'https' if ca else 'http'}://127.0.0.1:{port}"
    env["SANTEID_ISSUER"] = base + REALM  # for the CLI's activation code too
    client = {"client_id": CLIENT_ID, "client_secret": SECRET, "client_name": "bench",
              "grant_types": ["client_credentials"], "redirect_uris": [],
              "token_endpoint_auth_method": "client_secret_basic"}  # fmt: skip
    (home / "client.json").write_text(json.dumps(client))
    _santeid(env, "clients", "add", str(home / "client.json"))
    _santeid(env, "directory", "seed-demo")
    try:
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))  # fmt: skip
        os.environ.update(REQUESTS_CA_BUNDLE=ca or "")
        wait_for(f"{base}/health", processes[-1]) if not ca else _wait_tls(base, ca, processes[-1])
        uri = json.loads(_santeid(env, "ecps", "activate", "810000000004", "--json"))["uri"]
        _santeid(env, "device", "enroll", "--activation-uri", uri, "--pin", "123456")
        report("before")
        print(
            f"layout {args.layout}: {args.clients} clients, {args.seconds:g} s per phase; "
            f"attack = {args.slow} slow-body connections + {args.polls} long polls of one device"
        )
        for round_number in range(args.rounds):
            for attacked in (False, True):
                attack = None
                if attacked:
                    attack = multiprocessing.Process(
                        target=attacker,
                        args=(port, ca, args.slow, args.polls, env["SANTEID_DEVICE_FILE"]),
                        daemon=True,
                    )
                    attack.start()
                    time.sleep(2)  # the attack in place before measuring
                total, failed, latencies = normal_load(base, ca, args.clients, args.seconds)
                if attack is not None:
                    attack.terminate()
                    attack.join()
                    time.sleep(2)
                print(f"round {round_number + 1} {'attack' if attacked else 'quiet '}: "
                      f"{total} requests, success {100 * (total - failed) / max(total, 1):.2f} %, "
                      f"{total / args.seconds:.0f}/s, p50 {_p(latencies, 0.5):.1f} ms, "
                      f"p99 {_p(latencies, 0.99):.1f} ms", flush=True)  # fmt: skip
        report("after")
    finally:
        stop(processes)


def _wait_tls(base: str, ca: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/health", timeout=2, verify=ca).status_code == 200:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise SystemExit("server exited")
        time.sleep(0.2)
    raise SystemExit("server did not answer")


if __name__ == "__main__":
    main()

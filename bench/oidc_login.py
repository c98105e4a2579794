#!/usr/bin/env python3
"""Measure whole authorization-code logins against a real ``santeid serve`` process.

One login = authorization request → login page → identifier posted → sandbox approval
(delay 0) → code → token exchange (client_secret_basic) → userinfo. Each client thread is one
browser that never logs out; ``prompt=login`` forces a full login every time, so no login is
answered by SSO.

    .venv/bin/python bench/oidc_login.py --store redis --workers 2 --clients 16 --seconds 20

``--store redis`` starts a private redis-server on a free port (Debian's binary). Prints the
figures; it asserts nothing. Traffic goes to 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

SANTEID = str(Path(sys.executable).with_name("santeid"))
SECRET = "bench-secret-" + secrets.token_hex(16)
REDIRECT_URI = "https://bench.example.org/cb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process exited early with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def one_login(session: requests.Session, base: str, realm: str, national_id: str) -> None:
    auth = base + realm + "/protocol/openid-connect"
    params = {
        "response_type": "code",
        "client_id": "bench",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "state": secrets.token_hex(8),
        "nonce": secrets.token_hex(8),
        "prompt": "login",
    }
    response = session.get(f"{auth}/auth", params=params, allow_redirects=False)
    login_url = base + response.headers["Location"]
    page = session.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    session.post(
        login_url, data={"national_id": national_id, "csrf_token": csrf}, allow_redirects=False
    )
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    done = session.get(
        f"{base}{realm}/login-actions/complete", params={"tx": tx}, allow_redirects=False
    )
    code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"bench:{SECRET}".encode()).decode()
    token = session.post(
        f"{auth}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": f"Basic {basic}"},
    )
    token.raise_for_status()
    userinfo = session.get(
        f"{auth}/userinfo", headers={"Authorization": "Bearer " + token.json()["access_token"]}
    )
    userinfo.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["memory", "redis"], default="redis")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    if args.store == "memory" and args.workers != 1:
        raise SystemExit("memory:// serves one process: use --workers 1")

    home = Path(tempfile.mkdtemp(prefix="santeid-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        env = dict(
            os.environ,
            SANTEID_DATA_DIR=str(home / "var"),
            SANTEID_KEYS_DIR=str(home / "keys"),
            SANTEID_SANDBOX="true",
            SANTEID_SANDBOX_APPROVAL_DELAY="0",
            SANTEID_LOG_LEVEL="WARNING",
        )
        if args.store == "redis":
            redis_port = free_port()
            processes.append(
                subprocess.Popen(
                    ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(home)],
                    stdout=subprocess.DEVNULL,
                )
            )  # fmt: skip
            env["SANTEID_STORE_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        realm = "/auth/realms/esante-wallet"
        env["SANTEID_ISSUER"] = base + realm
        client = home / "client.json"
        client.write_text(
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
            [SANTEID, "clients", "add", str(client)], env=env, check=True, capture_output=True
        )
        command = [SANTEID, "serve", "--port", str(port), "--workers", str(args.workers)]
        server_log = (home / "server.log").open("wb")
        processes.append(
            subprocess.Popen(command, env=env, stdout=server_log, stderr=subprocess.STDOUT)
        )
        wait_for(f"{base}/health", processes[-1])
        listing = subprocess.run(
            [SANTEID, "directory", "list", "--sandbox", "--json"],
            env=env,
            check=True,
            capture_output=True,
        )
        national_ids = [p["national_id"] for p in json.loads(listing.stdout)]

        durations: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def worker(index: int) -> None:
            session = requests.Session()
            national_id = national_ids[index % len(national_ids)]
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    one_login(session, base, realm, national_id)
                except Exception as exc:  # counted and reported, never hidden
                    with lock:
                        errors.append(repr(exc)[:200])
                    continue
                with lock:
                    durations.append(time.perf_counter() - started)

        one_login(requests.Session(), base, realm, national_ids[0])  # warm-up
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began

        durations.sort()
        count = len(durations)
        print(
            f"machine: {platform.machine()} {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        print(
            f"santeid serve --workers {args.workers}, store {args.store}, "
            f"{args.clients} concurrent clients, {elapsed:.1f} s"
        )
        print(f"logins completed: {count}, errors: {len(errors)}")
        if count:
            p99 = durations[min(count - 1, int(count * 0.99))]
            print(f"logins/s: {count / elapsed:.1f}")
            print(
                f"login latency p50: {statistics.median(durations) * 1000:.1f} ms, "
                f"p99: {p99 * 1000:.1f} ms"
            )
        if errors:
            print("first errors:", *errors[:3], sep="\n  ")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

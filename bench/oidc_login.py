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
import json
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
from pathlib import Path

from harness import REALM
from harness import Browser
from harness import code_flow_tokens
from harness import free_port
from harness import start_redis
from harness import stop
from harness import wait_for

SANTEID = str(Path(sys.executable).with_name("santeid"))
SECRET = "bench-secret-" + secrets.token_hex(16)
REDIRECT_URI = "https://bench.example.org/cb"


def one_login(browser: Browser, national_id: str) -> None:
    """One whole login (``prompt=login``: SSO never short-cuts it), then userinfo."""
    tokens = code_flow_tokens(
        browser,
        national_id,
        client_id="bench",
        secret=SECRET,
        redirect_uri=REDIRECT_URI,
        prompt="login",
    )
    userinfo = browser.get(
        f"{REALM}/protocol/openid-connect/userinfo",
        headers={"Authorization": "Bearer " + tokens["access_token"]},
        cookies=False,
    )
    if userinfo.status != 200:
        raise RuntimeError(f"userinfo {userinfo.status}")


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
            redis_port = start_redis(home, processes)
            env["SANTEID_STORE_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env["SANTEID_ISSUER"] = base + REALM
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
            browser = Browser.at(base)
            national_id = national_ids[index % len(national_ids)]
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    one_login(browser, national_id)
                except Exception as exc:  # counted and reported, never hidden
                    with lock:
                        errors.append(repr(exc)[:200])
                    browser.close()
                    browser = Browser.at(base)
                    continue
                with lock:
                    durations.append(time.perf_counter() - started)

        one_login(Browser.at(base), national_ids[0])  # warm-up
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
        stop(processes)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

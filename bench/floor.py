"""The cost floor of a login before any santeid code runs: what parity with
node-oidc-provider would have to fit under (docs/performance.md, CIBA verdict).

Prints, on this machine:

1. the worker CPU of one request to a one-line Flask view (``{"ok": true}``) under Granian
   with two workers and four threads each, as ``santeid serve --workers 2`` runs, loaded by
   ``wrk`` at 16 connections for ``--seconds``;
2. the CPU of one RSA-2048 PKCS#1 v1.5 / SHA-256 signature (the RS256 of PSC's JWTs) with
   ``cryptography``, over 500 signatures;
3. whether ``cryptography`` releases the GIL while signing: 600 signatures in one thread
   against 2 × 300 in two threads (wall time).

    .venv/bin/python bench/floor.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import cpu_seconds
from harness import free_port
from harness import stop
from harness import wait_for
from harness import workers_of
from hostspeed import report

APP = """
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(ok=True)
"""


def flask_floor(seconds: float) -> None:
    if shutil.which("wrk") is None:
        print("1. wrk missing (apt-get install wrk): no HTTP floor")
        return
    home = Path(tempfile.mkdtemp(prefix="santeid-floor-"))
    (home / "floorapp.py").write_text(APP)
    port = free_port()
    processes = [
        subprocess.Popen(
            [str(Path(sys.executable).with_name("granian")), "--interface", "wsgi",
             "--workers", "2", "--blocking-threads", "4", "--port", str(port), "floorapp:app"],
            cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/", processes[0])
        workers = workers_of(processes[0].pid)
        before = cpu_seconds(workers)
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        used = cpu_seconds(workers) - before
        requests_done = int(re.search(r"(\d+) requests in", out).group(1))
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        print(
            f"1. one-line Flask view under Granian (2 workers × 4 threads), wrk -c16: "
            f"{rate:,.0f} requests/s, {used / requests_done * 1e6:.0f} µs of worker CPU per request"
        )
    finally:
        stop(processes)
        shutil.rmtree(home, ignore_errors=True)


def rsa_costs() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"x" * 600  # about a JWT's signing input

    def sign(count: int) -> None:
        for _ in range(count):
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    started = time.process_time()
    sign(500)
    per_signature = (time.process_time() - started) / 500
    print(f"2. RSA-2048 RS256 signature: {per_signature * 1000:.2f} ms of CPU")

    started = time.perf_counter()
    sign(600)
    alone = time.perf_counter() - started
    threads = [threading.Thread(target=sign, args=(300,)) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    split = time.perf_counter() - started
    print(
        f"3. 600 signatures: {alone:.2f} s in one thread, {split:.2f} s split over two "
        f"({split / alone:.0%} of the one-thread time; 100 % would mean the GIL is held)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    report("start")
    flask_floor(args.seconds)
    rsa_costs()
    report("end")


if __name__ == "__main__":
    main()

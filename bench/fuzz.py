"""The long fuzz run: random and malformed requests to every route of a real ``santeid
serve`` (tests/support/fuzzing.py, the generator the test suite runs briefly), counted by
status class; prints the 5xx, which must be none, with the requests that caused them.

    .venv/bin/python bench/fuzz.py [--examples 20000] [--seed 1] [--layout werkzeug|granian]
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REALM
from harness import free_port
from harness import start_redis
from harness import stop
from harness import wait_for
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import seed
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.fuzzing import application_rules  # noqa: E402
from tests.support.fuzzing import requests_for  # noqa: E402
from tests.support.fuzzing import send  # noqa: E402

SANTEID = str(Path(sys.executable).with_name("santeid"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--layout", choices=["werkzeug", "granian"], default="werkzeug")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from santeid import create_app
    from santeid.settings import Settings
    from santeid.storage import MemoryStore

    home = Path(tempfile.mkdtemp(prefix="santeid-fuzz-"))
    port = free_port()
    issuer = f"http://127.0.0.1:{port}{REALM}"
    env = dict(os.environ, SANTEID_DATA_DIR=str(home / "var"), SANTEID_KEYS_DIR=str(home / "keys"),
               SANTEID_SANDBOX="true", SANTEID_ISSUER=issuer)  # fmt: skip
    processes: list[subprocess.Popen] = []
    command = [SANTEID, "serve", "--port", str(port)]
    if args.layout == "granian":
        env["SANTEID_STORE_URL"] = f"redis://127.0.0.1:{start_redis(home, processes)}/0"
        command += ["--workers", "2"]
    else:
        env["SANTEID_STORE_URL"] = "memory://"
    log = (home / "server.log").open("wb")
    try:
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_for(f"http://127.0.0.1:{port}/health", processes[-1])
        same = Settings(issuer=issuer, sandbox=True, data_dir=str(home / "rules-var"),
                        keys_dir=str(home / "rules-keys"))  # fmt: skip
        app = create_app(same, store=MemoryStore())
        rules = application_rules(app)
        counts: collections.Counter[str] = collections.Counter()
        server_errors = []

        @seed(args.seed)
        @settings(max_examples=args.examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(requests_for(rules))
        def one(request):
            try:
                status = send(port, *request)
            except OSError as exc:  # the server closed without answering
                counts[type(exc).__name__] += 1
                return
            counts[f"{status // 100}xx"] += 1
            if status >= 500:
                server_errors.append((status, request))

        started = time.monotonic()
        one()
        elapsed = time.monotonic() - started
        total = sum(counts.values())
        classes = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        print(f"{args.layout}: {total} requests over {len(rules)} routes in {elapsed:.0f} s, "
              f"seed {args.seed}: {classes}")  # fmt: skip
        print(f"5xx: {len(server_errors)}")
        for status, request in server_errors[:20]:
            print(f"  {status} {request[0]} {request[1][:120]} {request[2]}")
        tracebacks = (home / "server.log").read_text(errors="replace").count("Traceback")
        print(f"tracebacks in the server log: {tracebacks}")
    finally:
        stop(processes)
        log.close()


if __name__ == "__main__":
    main()

"""The long schemathesis run over every OpenAPI document santeid publishes (INSi REST, the e-CPS
device protocol, the sandbox control API), against a real ``santeid serve --sandbox`` on a
Redis store: the run tests/e2e/test_openapi_contracts.py holds briefly, seeded rather than
derandomized and with more requests per operation; prints every failure with the request that
reproduces it, and the tracebacks of the server log.

    .venv/bin/python bench/openapi_contracts.py [--examples 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import REALM
from harness import free_port
from harness import start_redis
from harness import stop
from harness import wait_for
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.ecps_phone import Phone  # noqa: E402
from tests.support.openapi_contracts import BASE_RUN  # noqa: E402
from tests.support.openapi_contracts import ciba_access_token  # noqa: E402
from tests.support.openapi_contracts import contract_failures  # noqa: E402

SANTEID = str(Path(sys.executable).with_name("santeid"))
CLIENT_ID, SECRET = "openapi-contracts", "openapi-contracts-secret-0123456789-abcdef"
#: Sandbox professionals (docs/sandbox.md): approved at once (the INSi caller); never
#: answered by the sandbox phone (the phones enrolled here are its devices).
APPROVED, NEVER = "810000000030", "810000000034"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="requests per operation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="santeid-openapi-"))
    processes: list[subprocess.Popen] = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        env = dict(os.environ, SANTEID_DATA_DIR=str(home / "var"),
                   SANTEID_KEYS_DIR=str(home / "keys"), SANTEID_SANDBOX="true",
                   SANTEID_SANDBOX_APPROVAL_DELAY="0", SANTEID_ISSUER=base + REALM,
                   SANTEID_INSI_BASE=str(home / "civil-status.sqlite3"),
                   SANTEID_ECPS_LONG_POLL="1",
                   SANTEID_STORE_URL=f"redis://127.0.0.1:{start_redis(home, processes)}/0",
                   )  # fmt: skip

        def cli(*command: str) -> str:
            return subprocess.run([SANTEID, *command], env=env, check=True, text=True,
                                  capture_output=True).stdout  # fmt: skip

        cli("civil", "generate", "--persons", "20", "--out", env["SANTEID_INSI_BASE"])
        client = home / "client.json"
        client.write_text(json.dumps({
            "client_id": CLIENT_ID, "client_secret": SECRET, "grant_types": [
                "urn:openid:params:grant-type:ciba"], "backchannel_token_delivery_mode": "poll",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))  # fmt: skip
        cli("clients", "add", str(client))
        log = (home / "server.log").open("wb")
        command = [SANTEID, "serve", "--sandbox", "--port", str(port)]
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_for(f"{base}/health", processes[-1])

        def insi_headers():
            token = ciba_access_token(base + REALM, (CLIENT_ID, SECRET), APPROVED)
            return lambda: {"Authorization": f"Bearer {token}"}

        def device_headers():
            code = json.loads(cli("ecps", "activate", NEVER, "--json"))["code"]
            return Phone.register_over_http(base, code).auth

        run = settings(BASE_RUN, max_examples=args.examples, derandomize=False)
        documents = [("/insi/openapi.json", insi_headers),
                     ("/api-docs/ecps-device.json", device_headers),
                     ("/sandbox/api/openapi.json", lambda: dict)]  # fmt: skip
        total = 0
        for path, headers_of in documents:
            failures = contract_failures(base + path, headers_of, run=run, seed=args.seed,
                                         stream_examples=max(1, args.examples // 50))  # fmt: skip
            total += len(failures)
            print(f"{path}: {len(failures)} failing operation(s)")
            for label, error in failures:
                print(f"--- {label}\n{error}")
        tracebacks = (home / "server.log").read_text(errors="replace").count("Traceback")
        print(f"failures: {total}; tracebacks in the server log: {tracebacks}")
    finally:
        stop(processes)


if __name__ == "__main__":
    main()

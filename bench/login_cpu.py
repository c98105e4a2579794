"""CPU per login, in process: what one CIBA login and one code-flow login cost santeid's own
code, without an HTTP server, a load generator or Redis.

The app runs on the memory store behind Flask's test client (the whole WSGI middleware chain
is there, as ``santeid serve`` mounts it). Figures are process CPU time
(``time.process_time``), not wall time, so that other work on a shared machine does not
count — it still slows the caches, so compare only runs made side by side, alternated.

- CIBA: back-channel request (client_secret_basic, ``login_hint`` of a sandbox
  auto-approving professional) → token request (the first poll gets the tokens).
- Code flow: authorization request (``prompt=login``) → login page → identifier →
  completion → token request (client_secret_basic).

    .venv/bin/python bench/login_cpu.py [--logins 300] [--rounds 3] [--flow ciba|code|both]
    .venv/bin/python bench/login_cpu.py --flow ciba --profile      # cProfile, top functions

To compare two versions of the code, run this script with ``PYTHONPATH`` pointing at the
other version's ``src`` (e.g. ``git archive main src | tar -x -C /tmp/base``), alternating.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import pstats
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from hostspeed import report

REALM = "/auth/realms/esante-wallet"
OIDC = REALM + "/protocol/openid-connect"
SECRET = "login-cpu-bench-secret-0123456789abcdef"  # noqa: S105 - a bench client's
REDIRECT_URI = "https://service.example.org/callback"
CIBA_HINT = "810000000030"  # a sandbox professional who approves at once


def build_app(*, home: Path | None = None, store=None):
    """The sandbox app with the two bench clients, its keys and data under ``home`` (a new
    temporary folder by default), on ``store`` (a new memory store by default)."""
    from santeid import create_app
    from santeid.keystore import ensure_dev_keys
    from santeid.settings import Settings
    from santeid.storage import MemoryStore

    home = home or Path(tempfile.mkdtemp(prefix="santeid-login-cpu-"))
    settings = Settings(
        keys_dir=str(home / "keys"), data_dir=str(home / "var"), sandbox=True,
        sandbox_approval_delay=0,
    )  # fmt: skip
    ensure_dev_keys(settings)
    app = create_app(settings, store=MemoryStore() if store is None else store)
    clients = app.extensions["santeid"].clients
    clients.add(
        {"client_id": "bench-ciba", "client_secret": SECRET,
         "grant_types": ["urn:openid:params:grant-type:ciba"],
         "token_endpoint_auth_method": "client_secret_basic",
         "backchannel_token_delivery_mode": "poll", "backchannel_polling_interval": 0},
        replace=True,
    )  # fmt: skip
    clients.add(
        {"client_id": "bench-code", "client_secret": SECRET, "redirect_uris": [REDIRECT_URI],
         "grant_types": ["authorization_code", "refresh_token"],
         "token_endpoint_auth_method": "client_secret_basic"},
        replace=True,
    )  # fmt: skip
    return app


def basic(client_id: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    return {"Authorization": "Basic " + raw}


def ciba_login(app) -> Callable[[], None]:
    http = app.test_client()
    headers = basic("bench-ciba")
    data = {"scope": "openid", "login_hint": CIBA_HINT, "binding_message": "A1"}

    def login() -> None:
        started = http.post(OIDC + "/ext/ciba/auth", data=data, headers=headers)
        assert started.status_code == 200, started.get_data(as_text=True)
        grant = {
            "grant_type": "urn:openid:params:grant-type:ciba",
            "auth_req_id": started.get_json()["auth_req_id"],
        }
        tokens = http.post(OIDC + "/token", data=grant, headers=headers)
        assert tokens.status_code == 200, tokens.get_data(as_text=True)

    return login


def code_login(app) -> Callable[[], None]:
    http = app.test_client()
    headers = basic("bench-code")
    national_id = app.extensions["santeid"].directory.list(sandbox_only=True)[0].national_id

    def login() -> None:
        query = {
            "response_type": "code", "client_id": "bench-code", "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all", "acr_values": "eidas1", "prompt": "login",
            "state": secrets.token_hex(8), "nonce": secrets.token_hex(8),
        }  # fmt: skip
        login_url = http.get(f"{OIDC}/auth?" + urlencode(query)).headers["Location"]
        page = http.get(login_url).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        posted = http.post(login_url, data={"national_id": national_id, "csrf_token": csrf})
        assert posted.status_code == 303, posted.get_data(as_text=True)
        tx = parse_qs(urlsplit(login_url).query)["tx"][0]
        done = http.get(f"{REALM}/login-actions/complete?tx={tx}")
        code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        tokens = http.post(OIDC + "/token", data=grant, headers=headers)
        assert tokens.status_code == 200, tokens.get_data(as_text=True)

    return login


def cpu_ms_per_login(login: Callable[[], None], logins: int) -> float:
    started = time.process_time()
    for _ in range(logins):
        login()
    return (time.process_time() - started) * 1000 / logins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=300, help="logins per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flow", choices=["ciba", "code", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile one round, print top 45")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    args = parser.parse_args()

    app = build_app()
    flows = {"ciba": ciba_login, "code": code_login}
    chosen = list(flows) if args.flow == "both" else [args.flow]
    report("before")
    for name in chosen:
        login = flows[name](app)
        for _ in range(30):  # warm caches, imports and the key store
            login()
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall: shared machines
            profiler.enable()
            cpu_ms_per_login(login, args.logins)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(45)
        figures = [cpu_ms_per_login(login, args.logins) for _ in range(args.rounds)]
        print(f"{name}: CPU ms per login, in process: " + ", ".join(f"{f:.2f}" for f in figures))
    report("after")


if __name__ == "__main__":
    main()

"""CPU per login, in process: what one CIBA login and one code-flow login cost santeid's own
code, without an HTTP server or a load generator.

The app runs behind Flask's test client (the whole WSGI middleware chain is there, as
``santeid serve`` mounts it), on the memory store or, with ``--store redis``, on a private
``redis-server`` the script starts on a free port and stops. Figures are process CPU time
(``time.process_time``) of this process — santeid's side, redis-py included — not wall time,
so that other work on a shared machine does not count (it still slows the caches, so compare
only runs made side by side, alternated); on Redis the server's own CPU per login is printed
beside it. On Redis the script also counts the store round trips on the client side — each
command sent, a pipeline or a script being one trip — per login and per HTTP request, and
``--trace`` lists, for one login, the commands of every trip and the keys they touch.

- CIBA: back-channel request (client_secret_basic, ``login_hint`` of a sandbox
  auto-approving professional) → token request (the first poll gets the tokens).
- Code flow: authorization request (``prompt=login``) → login page → identifier →
  completion → token request (client_secret_basic) → userinfo.

    .venv/bin/python bench/login_cpu.py [--logins 300] [--rounds 3] [--flow ciba|code|both]
    .venv/bin/python bench/login_cpu.py --store redis [--trace]  # round trips per request
    .venv/bin/python bench/login_cpu.py --flow ciba --profile      # cProfile, top functions
    .venv/bin/python bench/login_cpu.py --flow code --per-request  # CPU of each HTTP request
    .venv/bin/python bench/login_cpu.py --gc                       # the garbage collector's share
    .venv/bin/python bench/login_cpu.py --store redis --in-store   # the CPU inside store calls

To compare two versions of the code, run this script with ``PYTHONPATH`` pointing at the
other version's ``src`` (e.g. ``git archive main src | tar -x -C /tmp/base``), alternating.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import pstats
import re
import secrets
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from harness import cpu_seconds
from harness import start_redis
from harness import stop
from hostspeed import report

REALM = "/auth/realms/esante-wallet"
OIDC = REALM + "/protocol/openid-connect"
SECRET = "login-cpu-bench-secret-0123456789abcdef"  # noqa: S105 - a bench client's
REDIRECT_URI = "https://service.example.org/callback"
CIBA_HINT = "810000000030"  # a sandbox professional who approves at once


class Collections:
    """The cyclic garbage collector's passes while counted (``gc.callbacks``): how many of each
    generation, and the process CPU time they took."""

    def __init__(self) -> None:
        self.passes = [0, 0, 0]
        self.cpu = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.passes[info["generation"]] += 1
            self.cpu += time.process_time() - self._started


class InStore:
    """Process CPU time spent inside the store's operations (``--in-store``): each public
    operation of the store instance the app is given, and the batch's run, is timed from its
    call to its return; a call inside another is part of the outer one."""

    OPERATIONS = (
        "put", "get", "get_many", "add", "pop", "transition", "update", "incr", "add_member",
        "remove_member", "members", "ttl", "delete", "_run_batch",
    )  # fmt: skip

    def __init__(self, store) -> None:
        self.cpu = 0.0
        self._depth = 0
        for name in self.OPERATIONS:
            setattr(store, name, self._timed(getattr(store, name)))

    def _timed(self, operation: Callable) -> Callable:
        def timed(*args, **kwargs):
            if self._depth:
                return operation(*args, **kwargs)
            self._depth += 1
            started = time.process_time()
            try:
                return operation(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - started
                self._depth -= 1

        return timed


class Trips:
    """Store round trips seen by redis-py, and for ``--trace`` what each of them carried."""

    def __init__(self) -> None:
        self.count = 0
        self.by_request: Counter[str] = Counter()
        self.trace: list[str] | None = None
        self._pending: list[str] = []

    def sent(self) -> None:
        self.count += 1
        if self.trace is not None:
            self.trace.append(" + ".join(self._pending) or "?")
        self._pending = []

    def carried(self, args: tuple) -> None:
        if self.trace is None:
            return
        name = str(args[0]).upper()
        # A key is the first argument, or the fourth of EVALSHA sha numkeys key.
        key = str(
            args[3] if name == "EVALSHA" and len(args) > 3 else args[1] if len(args) > 1 else ""
        )
        self._pending.append(f"{name} {pattern_of(key)}".strip())


def pattern_of(key: str) -> str:
    """``santeid:code:abc…`` → ``code:<sha256(code)>``: which namespace a traced key is in."""
    from santeid.storage import keys

    key = key.removeprefix("santeid:")
    segments = key.count(keys.SEPARATOR) + 1
    for namespace in sorted(keys.NAMESPACES, key=lambda n: -len(n.prefix)):
        if (
            key.startswith(namespace.prefix)
            and namespace.pattern.count(keys.SEPARATOR) + 1 == segments
        ):
            return namespace.pattern
    return key


def counted_redis_store(port: int, trips: Trips):
    """A RedisStore built as ``store_url`` builds it, whose connections count their trips."""
    import redis

    from santeid.storage.redis import RedisStore

    class CountingConnection(redis.Connection):
        def send_command(self, *args, **kwargs):
            trips.carried(args)
            super().send_command(*args, **kwargs)

        def pack_commands(self, commands):
            for command in commands:
                trips.carried(command)
            return super().pack_commands(commands)

        def send_packed_command(self, command, check_health=True):
            trips.sent()
            super().send_packed_command(command, check_health)

    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
    # Before any connection exists: every connection of the pool is a counting one.
    store._client.connection_pool.connection_class = CountingConnection
    return store


def build_app(store=None, *, home: Path | None = None):
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


class Steps:
    """Runs a login's HTTP requests, noting the store trips of each (``Trips``, on Redis) and,
    with ``cpu``, the process CPU time each took (test client included)."""

    def __init__(self, trips: Trips | None, cpu: Counter[str] | None = None) -> None:
        self.trips = trips
        self.cpu = cpu

    def __call__(self, label: str, send: Callable[[], object]):
        if self.cpu is not None:
            started = time.process_time()
            response = self._send(label, send)
            self.cpu[label] += time.process_time() - started
            return response
        return self._send(label, send)

    def _send(self, label: str, send: Callable[[], object]):
        if self.trips is None:
            return send()
        before = self.trips.count
        if self.trips.trace is not None:
            self.trips.trace.append(f"-- {label}")
        response = send()
        self.trips.by_request[label] += self.trips.count - before
        return response


#: Steps that count nothing (the memory store, or a caller that does not count trips).
UNCOUNTED = Steps(None)


def ciba_login(app, step: Steps = UNCOUNTED) -> Callable[[], None]:
    http = app.test_client()
    headers = basic("bench-ciba")
    data = {"scope": "openid", "login_hint": CIBA_HINT, "binding_message": "A1"}

    def login() -> None:
        started = step(
            "back-channel request",
            lambda: http.post(OIDC + "/ext/ciba/auth", data=data, headers=headers),
        )
        assert started.status_code == 200, started.get_data(as_text=True)
        grant = {
            "grant_type": "urn:openid:params:grant-type:ciba",
            "auth_req_id": started.get_json()["auth_req_id"],
        }
        tokens = step("token poll", lambda: http.post(OIDC + "/token", data=grant, headers=headers))
        assert tokens.status_code == 200, tokens.get_data(as_text=True)

    return login


def code_login(app, step: Steps = UNCOUNTED) -> Callable[[], None]:
    http = app.test_client()
    headers = basic("bench-code")
    national_id = app.extensions["santeid"].directory.list(sandbox_only=True)[0].national_id

    def login() -> None:
        query = {
            "response_type": "code", "client_id": "bench-code", "redirect_uri": REDIRECT_URI,
            "scope": "openid scope_all", "acr_values": "eidas1", "prompt": "login",
            "state": secrets.token_hex(8), "nonce": secrets.token_hex(8),
        }  # fmt: skip
        authorized = step("authorize", lambda: http.get(f"{OIDC}/auth?" + urlencode(query)))
        login_url = authorized.headers["Location"]
        page = step("login page", lambda: http.get(login_url)).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"national_id": national_id, "csrf_token": csrf}
        posted = step("identifier", lambda: http.post(login_url, data=form))
        assert posted.status_code == 303, posted.get_data(as_text=True)
        tx = parse_qs(urlsplit(login_url).query)["tx"][0]
        done = step("completion", lambda: http.get(f"{REALM}/login-actions/complete?tx={tx}"))
        code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        tokens = step("token", lambda: http.post(OIDC + "/token", data=grant, headers=headers))
        assert tokens.status_code == 200, tokens.get_data(as_text=True)
        bearer = {"Authorization": "Bearer " + tokens.get_json()["access_token"]}
        userinfo = step("userinfo", lambda: http.get(OIDC + "/userinfo", headers=bearer))
        assert userinfo.status_code == 200, userinfo.get_data(as_text=True)

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
    parser.add_argument("--store", choices=["memory", "redis"], default="memory")
    parser.add_argument("--trace", action="store_true", help="redis: list one login's trips")
    parser.add_argument("--profile", action="store_true", help="cProfile one round, print top 45")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    parser.add_argument(
        "--per-request", action="store_true", help="CPU µs of each HTTP request of a login"
    )
    parser.add_argument(
        "--gc", action="store_true", help="the garbage collector's passes and CPU per login"
    )
    parser.add_argument(
        "--in-store", action="store_true", help="the CPU per login spent inside store operations"
    )
    args = parser.parse_args()

    processes: list[subprocess.Popen] = []
    trips: Trips | None = None
    try:
        if args.store == "redis":
            trips = Trips()
            home = Path(tempfile.mkdtemp(prefix="santeid-login-cpu-redis-"))
            store = counted_redis_store(start_redis(home, processes), trips)
            for _ in range(100):  # until redis-server accepts connections
                if store.ping():
                    break
                time.sleep(0.05)
        else:
            from santeid.storage import MemoryStore

            store = MemoryStore()
        cpu: Counter[str] | None = Counter() if args.per_request else None
        in_store = InStore(store) if args.in_store else None
        run(args, build_app(store), Steps(trips, cpu), trips, processes, in_store)
    finally:
        stop(processes)


def run(
    args,
    app,
    step: Steps,
    trips: Trips | None,
    processes: list[subprocess.Popen],
    in_store: InStore | None = None,
) -> None:
    flows = {"ciba": ciba_login, "code": code_login}
    chosen = list(flows) if args.flow == "both" else [args.flow]
    server = [p.pid for p in processes]
    report("before")
    for name in chosen:
        login = flows[name](app, step)
        for _ in range(30):  # warm caches, imports and the key store
            login()
        if trips is not None and args.trace:
            trips.trace = []
            login()
            print(f"{name}: the store round trips of one login")
            print(
                "\n".join(line if line.startswith("--") else "   " + line for line in trips.trace)
            )
            trips.trace = None
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall: shared machines
            profiler.enable()
            cpu_ms_per_login(login, args.logins)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(45)
        figures, server_figures = [], []
        if trips is not None:
            trips.by_request.clear()
            counted_from = trips.count
        if step.cpu is not None:
            step.cpu.clear()
        collections = Collections()
        if args.gc:
            gc.callbacks.append(collections)
        in_store_figures = []
        for _ in range(args.rounds):
            server_cpu = cpu_seconds(server)
            store_cpu = in_store.cpu if in_store is not None else 0.0
            figures.append(cpu_ms_per_login(login, args.logins))
            server_figures.append((cpu_seconds(server) - server_cpu) * 1000 / args.logins)
            if in_store is not None:
                in_store_figures.append((in_store.cpu - store_cpu) * 1000 / args.logins)
        if args.gc:
            gc.callbacks.remove(collections)
            logins = args.logins * args.rounds
            print(
                f"{name}: garbage collector per login: "
                + ", ".join(f"{n / logins:.3f}" for n in collections.passes)
                + f" passes of generations 0, 1, 2; {collections.cpu * 1e6 / logins:.0f} µs CPU"
            )
        print(f"{name}: CPU ms per login, in process: " + ", ".join(f"{f:.2f}" for f in figures))
        if in_store is not None:
            print(
                f"{name}: of which inside store operations: "
                + ", ".join(f"{f:.2f}" for f in in_store_figures)
            )
        if step.cpu is not None:
            logins = args.logins * args.rounds
            print(
                f"{name}: CPU µs per request: "
                + ", ".join(f"{label} {cpu * 1e6 / logins:.0f}" for label, cpu in step.cpu.items())
            )
        if trips is not None:
            logins = args.logins * args.rounds
            print(
                f"{name}: redis-server CPU ms per login: "
                + ", ".join(f"{f:.2f}" for f in server_figures)
            )
            per_request = ", ".join(
                f"{label} {count / logins:.2f}" for label, count in trips.by_request.items()
            )
            total = (trips.count - counted_from) / logins
            print(f"{name}: store round trips per login: {total:.2f} ({per_request})")
    report("after")


if __name__ == "__main__":
    main()

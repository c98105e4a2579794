"""CPU per login against the size of the store, the client registry and the directory.

The requirement: the CPU one login costs does not grow with the number of active SSO sessions
in the store, of registered clients or of professionals in the directory. This script measures
one CIBA login and one code-flow login (``login_cpu.py``'s, in process, through Flask's test
client) while those three grow:

- store: N active SSO sessions, each with the records a code-flow login leaves behind (the
  session, the consumed code's tombstone, the refresh-token family, its access-token set, the
  refresh token, the session's family set). 500 of them are written by the services themselves
  (``SessionStore.open``, ``TokenService.open_family`` and ``issue``, the code book) into a
  scratch memory store; the others are clones of those, under fresh identifiers, with the
  lifetimes the services gave (half the CPU of running the services for each). They go into
  the measured memory store and, by pipelines, into a private ``redis-server``;
- clients: 10, or 100 000, registered in the client registry (``ClientRegistry.add_many``);
- directory: the demo directory, or a synthetic one of P professionals
  (``santeid.directory.synthetic.generate``, demo professionals included), kept in
  ``var/bench/directory-<P>-<seed>.sqlite3`` as ``bench/directory.py`` keeps it, so either
  script reuses the other's file.

Every combination of store, client count and directory is an app of its own (``login_cpu.py``'s
``build_app``); the apps of one store share it. The session count grows step by step; at each
step the apps are measured in turn, round after round (so that the machine's drift falls on
all of them alike), and the median of the rounds is printed. Figures are process CPU time
(``time.process_time``); on Redis, the CPU of ``redis-server`` per login is printed too.

    PYTHONPATH=src .venv/bin/python bench/login_growth.py [--logins 200] [--rounds 3]
    PYTHONPATH=src .venv/bin/python bench/login_growth.py --sessions 10,10000 \\
        --clients 10,1000 --professionals 0 --logins 100     # a quick look, demo directory only

Memory: a million sessions (six million keys) took about 3.2 GB in the memory store and 2.5 GB
in Redis (docs/performance.md); both are freed when the script ends (the Redis server is
stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import redis
from harness import cpu_seconds
from harness import start_redis
from harness import stop
from hostspeed import report
from login_cpu import REDIRECT_URI
from login_cpu import SECRET
from login_cpu import build_app
from login_cpu import ciba_login
from login_cpu import code_login
from login_cpu import cpu_ms_per_login

from santeid.directory.repository import FILE_NAME
from santeid.directory.synthetic import generate
from santeid.oidc.sessions import SessionStore
from santeid.oidc.tokens import TokenService
from santeid.psc.proofs import ECPS
from santeid.psc.proofs import authentication_for
from santeid.storage import MemoryStore
from santeid.storage.base import encode_record
from santeid.storage.redis import RedisStore

ROOT = Path(__file__).resolve().parents[1]
SCOPE = "openid scope_all"
#: Clients every app has besides ``login_cpu.py``'s two; the sessions are spread over them.
COMMON_CLIENTS = 8
#: Sessions written by the services, then cloned.
TEMPLATES = 500


# -- the store ----------------------------------------------------------------------------


class ScratchStore(MemoryStore):
    """A memory store that notes which keys were written, and as what, so that they can be
    copied into the measured stores with the lifetimes the services gave them."""

    def __init__(self) -> None:
        super().__init__()
        self.written: dict[str, str] = {}

    def put(self, key, value, ttl):
        self.written[key] = "record"
        super().put(key, value, ttl)

    def add(self, key, value, ttl):
        self.written[key] = "record"
        return super().add(key, value, ttl)

    def transition(self, key, expected, changes, ttl=None):
        self.written[key] = "record"
        return super().transition(key, expected, changes, ttl)

    def update(self, key, changes, ttl=None):
        self.written[key] = "record"
        return super().update(key, changes, ttl)

    def add_member(self, key, member, ttl):
        self.written[key] = "set"
        super().add_member(key, member, ttl)


class Unsigned:
    """Stands in for the key store while filling: the tokens are thrown away, only the records
    stay, and three signatures per session would make a million sessions take many minutes."""

    def sign(self, claims: dict, *, alg: str) -> str:
        return "unsigned." + claims["jti"]


def write_sessions(services, scratch: ScratchStore, count: int, national_ids, clients) -> None:
    """``count`` sessions of a code-flow login, as its requests write them."""
    settings = services.settings
    sessions = SessionStore(
        scratch,
        max_lifetime=settings.login.sso_max_lifetime,
        idle_timeout=settings.login.sso_idle_timeout,
    )
    tokens = TokenService(settings, scratch, Unsigned(), services.directory)
    now = int(time.time())
    for n in range(count):
        client = clients[n % len(clients)]
        authentication = sessions.open(
            authentication_for(
                ECPS, national_id=national_ids[n % len(national_ids)], auth_time=now,
                settings=settings,
            )
        )  # fmt: skip
        nonce = secrets.token_hex(8)
        code = secrets.token_urlsafe(32)
        tokens.codes.create(
            code,
            {"client_id": client.client_id, "redirect_uri": REDIRECT_URI, "scope": SCOPE,
             "nonce": nonce, "code_challenge": None, "code_challenge_method": None,
             "auth": authentication.to_dict()},
            lifetime=settings.oidc.authorization_code_lifetime,
        )  # fmt: skip
        family = tokens.open_family(
            client=client, authentication=authentication, scope=SCOPE, nonce=nonce
        )
        tokens.codes.consume(
            tokens.codes.key(code), "issued", {"fid": family.id},
            tombstone_lifetime=settings.oidc.refresh_token_lifetime,
        )  # fmt: skip
        tokens.issue(
            client=client, authentication=authentication, scope=SCOPE, family_id=family.id,
            nonce=nonce, opened=family,
        )  # fmt: skip


#: The identifiers a session's keys and records are made of: uuid4s (sid, family, token ids)
#: and SHA-256 digests (the code's key).
IDENTIFIER = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    r"|(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])"
)

#: One key as the services wrote it: key, lifetime, and a record's JSON text or a set's members.
Entry = tuple[str, int, str | list[str]]


def session_templates(services, count: int, national_ids, clients) -> list[list[Entry]]:
    """``count`` sessions written by the services, each as the list of its keys."""
    templates = []
    for n in range(count):
        scratch = ScratchStore()
        who = [national_ids[n % len(national_ids)]]
        write_sessions(services, scratch, 1, who, [clients[n % len(clients)]])
        entries: list[Entry] = []
        for key, holds in scratch.written.items():
            ttl = scratch.ttl(key)
            assert ttl is not None
            if holds == "record":
                entries.append((key, ttl, encode_record(scratch.get(key) or {})))
            else:
                entries.append((key, ttl, sorted(scratch.members(key))))
        templates.append(entries)
    return templates


def clone(entries: list[Entry]) -> Iterator[Entry]:
    """The same session under new identifiers (the same ones wherever an old one appeared),
    so a million sessions cost string substitutions, not a million runs of the services."""
    fresh: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        old = match.group(0)
        if old not in fresh:
            fresh[old] = str(uuid.uuid4()) if "-" in old else secrets.token_hex(32)
        return fresh[old]

    for key, ttl, payload in entries:
        if isinstance(payload, str):
            yield IDENTIFIER.sub(swap, key), ttl, IDENTIFIER.sub(swap, payload)
        else:
            yield IDENTIFIER.sub(swap, key), ttl, [IDENTIFIER.sub(swap, m) for m in payload]


@dataclass
class Stores:
    memory: MemoryStore | None
    redis_store: RedisStore | None
    redis_client: redis.Redis | None
    templates: list[list[Entry]]
    sessions: int = 0

    def grow_to(self, target: int) -> None:
        """Sessions cloned from the templates into each measured store until it holds
        ``target``; Redis is written by pipelines."""
        pipe = self.redis_client.pipeline(transaction=False) if self.redis_client else None
        prefix = self.redis_store.key_prefix if self.redis_store else ""
        while self.sessions < target:
            for key, ttl, payload in clone(self.templates[self.sessions % len(self.templates)]):
                if isinstance(payload, str):
                    if self.memory is not None:
                        self.memory.put(key, json.loads(payload), ttl)
                    if pipe is not None:
                        pipe.set(prefix + key, payload, ex=ttl)
                else:
                    if self.memory is not None:
                        for member in payload:
                            self.memory.add_member(key, member, ttl)
                    if pipe is not None:
                        pipe.sadd(prefix + key, *payload)
                        pipe.expire(prefix + key, ttl)
            self.sessions += 1
            if pipe is not None and self.sessions % 2_000 == 0:
                pipe.execute()
        if pipe is not None:
            pipe.execute()

    def redis_memory(self) -> str:
        if self.redis_client is None:
            return ""
        info = self.redis_client.info("memory")
        keys = self.redis_client.dbsize()
        return f"redis: {keys:,} keys, used_memory {info['used_memory'] / 2**20:,.0f} MiB"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- clients and directories ----------------------------------------------------------------


def client_metadata(n: int) -> dict:
    return {
        "client_id": f"growth-{n:06d}", "client_secret": SECRET,
        "redirect_uris": [f"https://rp{n}.example.org/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    }  # fmt: skip


def growth_clients(first: int, last: int) -> Iterator[dict]:
    return (client_metadata(n) for n in range(first, last))


def synthetic_directory(professionals: int, seed: int) -> Path:
    path = ROOT / "var" / "bench" / f"directory-{professionals}-{seed}.sqlite3"
    if path.exists():
        print(f"reusing {path} ({path.stat().st_size / 1e9:.2f} GB)")
    else:
        done = generate(path, professionals, seed)
        print(f"generated {done.professionals:,} professionals in {done.seconds:,.0f} s -> {path}")
    return path


@dataclass
class Setup:
    """One home (data folder): a directory and a number of registered clients."""

    label: str
    home: Path
    clients: int
    #: "demo", or the synthetic directory's size.
    directory: str


def make_home(root: Path, name: str, directory: Path | None, clients: int) -> Setup:
    label = f"{name}-{clients}"
    home = root / label
    (home / "var").mkdir(parents=True)
    if directory is not None:
        (home / "var" / FILE_NAME).symlink_to(directory)
    return Setup(label, home, clients, name)


def register_clients(app, count: int) -> None:
    registry = app.extensions["santeid"].clients
    started = time.process_time()
    registry.add_many(growth_clients(0, count - 2))  # with login_cpu.py's two bench clients
    print(f"  {count:,} clients registered in {time.process_time() - started:,.1f} s CPU")


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Measured:
    store: str
    setup: Setup
    logins: dict[str, Callable[[], None]]
    redis_pid: int | None
    figures: dict[str, list[float]] = field(default_factory=dict)
    server: dict[str, list[float]] = field(default_factory=dict)

    def round(self, logins: int) -> None:
        for flow, login in self.logins.items():
            before = cpu_seconds([self.redis_pid]) if self.redis_pid else 0.0
            self.figures.setdefault(flow, []).append(cpu_ms_per_login(login, logins))
            if self.redis_pid:
                spent = cpu_seconds([self.redis_pid]) - before
                self.server.setdefault(flow, []).append(spent * 1000 / logins)

    def row(self, sessions: int) -> str:
        setup = self.setup
        cells = [self.store, f"{sessions:,}", f"{setup.clients:,}", setup.directory]
        for flow in self.logins:
            rounds = self.figures[flow]
            text = f"{statistics.median(rounds):.2f} ({', '.join(f'{f:.2f}' for f in rounds)})"
            if flow in self.server:
                text += f" +redis {statistics.median(self.server[flow]):.2f}"
            cells.append(text)
        return "| " + " | ".join(cells) + " |"


def parse_sizes(text: str) -> list[int]:
    return sorted(int(part.replace("_", "")) for part in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="10,10000,1000000", help="session counts, grown")
    parser.add_argument("--clients", default="10,100000", help="registered client counts")
    parser.add_argument("--professionals", type=int, default=1_200_000,
                        help="synthetic directory size (0: the demo directory only)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stores", default="memory,redis")
    parser.add_argument("--logins", type=int, default=200, help="logins per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes, client_counts = parse_sizes(args.sessions), parse_sizes(args.clients)
    wanted = args.stores.split(",")
    if min(client_counts) < 2 + COMMON_CLIENTS:
        raise SystemExit(f"at least {2 + COMMON_CLIENTS} clients (the bench's own and common ones)")

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    directories: list[tuple[str, Path | None]] = [("demo", None)]
    if args.professionals:
        path = synthetic_directory(args.professionals, args.seed)
        directories.append((f"{args.professionals:,}", path))

    root = Path(tempfile.mkdtemp(prefix="santeid-login-growth-"))
    processes: list[subprocess.Popen] = []
    try:
        memory = MemoryStore() if "memory" in wanted else None
        redis_store = redis_client = redis_pid = None
        if "redis" in wanted:
            port = start_redis(root, processes)
            redis_pid = processes[-1].pid
            redis_client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    redis_client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            redis_store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")

        measured: list[Measured] = []
        for name, path in directories:
            for count in client_counts:
                setup = make_home(root, name, path, count)
                print(f"setting up {setup.label}")
                for store_name, store in (("memory", memory), ("redis", redis_store)):
                    if store is None:
                        continue
                    app = build_app(home=setup.home, store=store)
                    if not any(m.setup is setup for m in measured):
                        register_clients(app, count)
                    logins = {"ciba": ciba_login(app), "code": code_login(app)}
                    pid = redis_pid if store_name == "redis" else None
                    measured.append(Measured(store_name, setup, logins, pid))
        services = build_app(home=root / "filler").extensions["santeid"]
        national_ids = [p.national_id for p in services.directory.list()]
        registry = services.clients
        registry.add_many(growth_clients(0, COMMON_CLIENTS))
        clients = [registry.get(f"growth-{n:06d}") for n in range(COMMON_CLIENTS)]
        templates = session_templates(services, TEMPLATES, national_ids, clients)
        stores = Stores(memory, redis_store, redis_client, templates)

        report("before")
        print("| Store | Sessions | Clients | Directory | CIBA CPU ms | Code flow CPU ms |")
        print("|---|---|---|---|---|---|")
        for size in sizes:
            rss = rss_mib()
            started = time.monotonic()
            stores.grow_to(size)
            print(f"<!-- {size:,} sessions written in {time.monotonic() - started:,.0f} s; "
                  f"this process {rss:,.0f} -> {rss_mib():,.0f} MiB RSS; "
                  f"{stores.redis_memory()} -->")  # fmt: skip
            for m in measured:
                m.figures.clear()
                m.server.clear()
                for login in m.logins.values():
                    for _ in range(30):  # warm caches at this size
                        login()
            for _ in range(args.rounds):
                for m in measured:
                    m.round(args.logins)
            for m in measured:
                print(m.row(size), flush=True)
        report("after")
    finally:
        stop(processes)


if __name__ == "__main__":
    main()

"""What the benchmark scripts share: free ports, a private ``redis-server``, ``santeid serve``
on it, waiting for a server to answer, stopping what they started, CPU time of processes, a
light keep-alive browser, and one sandbox login through santeid's code flow.

The scripts run as ``python bench/NAME.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.client import HTTPConnection
from http.client import HTTPMessage
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import requests

REALM = "/auth/realms/esante-wallet"
SANTEID = str(Path(sys.executable).with_name("santeid"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(home: Path, processes: list[subprocess.Popen]) -> int:
    """A private, non-persistent ``redis-server`` on a free port (added to ``processes``),
    also listening on the Unix socket :func:`redis_socket` names in ``home``."""
    port = free_port()
    processes.append(
        subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(home),
             "--unixsocket", str(redis_socket(home)), "--unixsocketperm", "700"],
            stdout=subprocess.DEVNULL,
        )
    )  # fmt: skip
    return port


def redis_socket(home: Path) -> Path:
    """The Unix socket of :func:`start_redis`'s server in ``home``."""
    return home / "redis.sock"


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60, ok=(200,)) -> None:
    """Until ``url`` answers one of ``ok``; exits the script if ``process`` dies or time runs
    out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process exited early with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code in ok:
                return
        except requests.RequestException:  # not listening yet, or still starting its workers
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def stop(processes: list[subprocess.Popen]) -> None:
    """Terminate in reverse order of start (servers before the Redis they use)."""
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's master process and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def workers_of(pid: int) -> list[int]:
    """The descendants of ``pid`` (a server's worker processes)."""
    return [p for p in process_tree(pid) if p != pid]


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time consumed so far by ``pids`` (Linux ``/proc/<pid>/stat``); a
    process that has gone counts for nothing."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def basic_auth(client_id: str, secret: str) -> str:
    """The ``Authorization`` header of client_secret_basic (RFC 6749 §2.3.1)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Reply:
    status: int
    headers: HTTPMessage
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


class Browser:
    """One browser talking to one server over one keep-alive HTTP/1.1 connection, as light as
    the load generator must be (``http.client``: a fraction of what ``requests`` costs per
    request, and the generator shares the server's cores).

    It keeps the cookies the server sets, by name: the servers measured here set each cookie
    name on one path at a time, so sending every cookie on every request (paths ignored) sends
    what a browser would plus, at most, a cookie the server does not read there. A cookie set
    empty, with ``Max-Age`` 0 or with an ``Expires`` in the past is forgotten (RFC 6265 §5.3).
    """

    def __init__(self, host: str, port: int, timeout: float = 30):
        self.cookies: dict[str, str] = {}
        self.connection = HTTPConnection(host, port, timeout=timeout)
        self.requests = 0  # how many this browser sent

    @classmethod
    def at(cls, url: str) -> Browser:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80)

    def close(self) -> None:
        self.connection.close()

    def request(
        self,
        method: str,
        target: str,
        *,
        form: dict | None = None,
        headers: dict | None = None,
        cookies: bool = True,
    ) -> Reply:
        """``target``: a path with its query, or an absolute URL of this server (a
        ``Location``). ``cookies=False``: a request from the client's back end (token,
        userinfo), which has none of the browser's cookies."""
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = {"Connection": "keep-alive", **(headers or {})}
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, target, body=body, headers=sent)
        response = self.connection.getresponse()
        reply = Reply(response.status, response.headers, response.read())
        self.requests += 1
        if cookies:
            for line in response.headers.get_all("Set-Cookie") or ():
                self._keep(line)
        return reply

    def get(self, target: str, **options) -> Reply:
        return self.request("GET", target, **options)

    def post(self, target: str, form: dict, **options) -> Reply:
        return self.request("POST", target, form=form, **options)

    def _keep(self, line: str) -> None:
        pair, *attributes = line.split(";")
        name, _, value = pair.strip().partition("=")
        gone = not value
        for attribute in attributes:
            key, _, given = attribute.strip().partition("=")
            if key.lower() == "max-age" and given.strip().lstrip("-").isdigit():
                gone = gone or int(given) <= 0
            elif key.lower() == "expires":
                try:
                    gone = gone or parsedate_to_datetime(given).timestamp() <= time.time()
                except (TypeError, ValueError):
                    pass
        if gone:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value


def query_value(url: str, name: str) -> str:
    """One parameter of a URL's query; ``KeyError`` names what is missing (an error answer
    redirected to the client, for instance)."""
    values = parse_qs(urlsplit(url).query).get(name)
    if not values:
        raise KeyError(f"no {name} in {url[:200]!r}")
    return values[0]


def authorization_params(client_id: str, redirect_uri: str, *, prompt: str | None = None) -> dict:
    """An authorization request's parameters as a PSC client sends them (``scope_all`` for
    the professional's data, ``eidas1``), with a fresh state and nonce."""
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid scope_all", "acr_values": "eidas1",
        "state": secrets.token_hex(8), "nonce": secrets.token_hex(8),
    }  # fmt: skip
    if prompt:
        params["prompt"] = prompt
    return params


def redeem_code(
    browser: Browser,
    token_path: str,
    callback: str,
    *,
    client_id: str,
    secret: str,
    redirect_uri: str,
) -> dict:
    """The client's back end: the code of the ``callback`` URL exchanged at the token endpoint
    (client_secret_basic); the token response, which must hold an ID token and a refresh
    token, as santeid issues them."""
    code = query_value(callback, "code")
    token = browser.post(
        token_path,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers={"Authorization": basic_auth(client_id, secret)},
        cookies=False,
    )
    tokens = token.json() if token.status == 200 else {}
    if not {"access_token", "id_token", "refresh_token"} <= set(tokens):
        raise RuntimeError(f"token {token.status} {token.body[:200]!r}")
    return tokens


def code_flow_tokens(
    browser: Browser,
    national_id: str,
    *,
    client_id: str,
    secret: str,
    redirect_uri: str,
    prompt: str | None = None,
) -> dict:
    """One login of a sandbox auto-approving professional through santeid's code flow:
    authorization request → login page → identifier posted → completion (the redirect the
    waiting page would follow once the sandbox has approved; with approval delay 0 it has) →
    token request (client_secret_basic). Four requests from the browser, one from the
    client's back end. Returns the token response."""
    oidc = REALM + "/protocol/openid-connect"
    params = authorization_params(client_id, redirect_uri, prompt=prompt)
    login_url = browser.get(f"{oidc}/auth?{urlencode(params)}").location
    page = browser.get(login_url)
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
    if page.status != 200 or found is None:
        raise RuntimeError(f"login page {page.status} {page.body[:200]!r}")
    posted = browser.post(
        login_url, {"national_id": national_id, "csrf_token": found.group(1).decode()}
    )
    if posted.status != 303:
        raise RuntimeError(f"identifier {posted.status} {posted.body[:200]!r}")
    tx = query_value(login_url, "tx")
    done = browser.get(f"{REALM}/login-actions/complete?{urlencode({'tx': tx})}")
    return redeem_code(
        browser,
        f"{oidc}/token",
        done.location,
        client_id=client_id,
        secret=secret,
        redirect_uri=redirect_uri,
    )


def bench_professionals(count: int) -> list[dict]:
    """``count`` sandbox professionals whose phone approves a login at once, for a sandbox
    professionals file (docs/sandbox.md, "Your own professionals"): one per load client, as a
    professional approves one login at a time (a second pending login of the same professional
    withdraws the first). Each is a copy of the demo directory's first professional — its
    exercices and activities, so tokens and userinfo carry what a real one's do — under an
    identifier of its own."""
    demo = json.loads(
        (resources.files("santeid.directory") / "demo_professionals.json").read_text("utf-8")
    )
    model = {k: v for k, v in demo["professionals"][0].items() if k != "sandbox_auto_approve"}
    for exercice in model["exercices"]:
        for activity in exercice["activities"]:
            found = activity["structure"]
            activity["structure"] = {"identifiant_technique": found, **demo["structures"][found]}
    professionals = []
    for index in range(count):
        national_id = f"8109{index:08d}"  # RPPS, 8 + 11 digits
        professionals.append(
            {
                **model,
                "national_id": national_id,
                "other_ids": [{"identifiant": national_id, "origine": "RPPS", "qualite": 1}],
                "scenario": {"outcome": "approve", "delay": 0},
            }
        )
    return professionals


def start_santeid(
    home: Path,
    processes: list[subprocess.Popen],
    client: dict,
    *,
    professionals: int,
    workers: int = 2,
    alg: str = "RS256",
    serve_args: tuple[str, ...] = (),
    redis_unix: bool = False,
) -> dict:
    """``santeid serve`` in sandbox mode on a private ``redis-server``, with ``client``
    registered and ``professionals`` of :func:`bench_professionals`; a target for
    :func:`peer.run_load`: its name, address, the professionals' identifiers (``hints``), its
    worker processes and the processes whose CPU is the provider's (``cpu_parts``).
    ``redis_unix``: the store reached by its Unix socket rather than TCP."""
    listed = bench_professionals(professionals)
    (home / "professionals.json").write_text(json.dumps({"professionals": listed}))
    redis_port = start_redis(home, processes)
    redis = processes[-1]
    port = free_port()
    env = dict(
        os.environ,
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_SANDBOX="true",
        SANTEID_SANDBOX_PROFESSIONALS=str(home / "professionals.json"),
        SANTEID_LOG_LEVEL="WARNING",
        SANTEID_SIGNING_ALG=alg,
        SANTEID_STORE_URL=(
            f"unix://{redis_socket(home)}?db=0"
            if redis_unix
            else f"redis://127.0.0.1:{redis_port}/0"
        ),
        SANTEID_ISSUER=f"http://127.0.0.1:{port}{REALM}",
    )
    client_file = home / "client.json"
    client_file.write_text(json.dumps(client))
    subprocess.run(
        [SANTEID, "clients", "add", str(client_file)], env=env, check=True, capture_output=True
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
    workers_pids = workers_of(processes[-1].pid)
    return {
        "name": " ".join(
            [
                "santeid serve --workers",
                str(workers),
                *serve_args,
                f"(redis{' by Unix socket' if redis_unix else ''}, {alg})",
            ]
        ),  # fmt: skip
        "host": "127.0.0.1",
        "port": port,
        "hints": [p["national_id"] for p in listed],
        "workers": workers_pids,
        # The provider's CPU: the worker processes and Redis.
        "cpu_parts": {"workers": workers_pids, "redis-server": [redis.pid]},
    }

"""What the benchmark scripts share: free ports, a private ``redis-server``, waiting for a
server to answer, stopping what they started, and one sandbox login through the code flow.

The scripts run as ``python bench/NAME.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

REALM = "/auth/realms/esante-wallet"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(home: Path, processes: list[subprocess.Popen]) -> int:
    """A private, non-persistent ``redis-server`` on a free port (added to ``processes``)."""
    port = free_port()
    processes.append(
        subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(home)],
            stdout=subprocess.DEVNULL,
        )
    )  # fmt: skip
    return port


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


def code_flow_tokens(
    session: requests.Session,
    base: str,
    national_id: str,
    *,
    client_id: str,
    secret: str,
    redirect_uri: str,
    prompt: str | None = None,
) -> dict:
    """One login of a sandbox auto-approving professional through the real code flow:
    authorization request → login page → identifier → completion → token request
    (client_secret_basic). Returns the token response."""
    oidc = base + REALM + "/protocol/openid-connect"
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid scope_all", "acr_values": "eidas1",
        "state": secrets.token_hex(8), "nonce": secrets.token_hex(8),
    }  # fmt: skip
    if prompt:
        params["prompt"] = prompt
    response = session.get(f"{oidc}/auth", params=params, allow_redirects=False)
    login_url = base + response.headers["Location"]
    page = session.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    session.post(
        login_url, data={"national_id": national_id, "csrf_token": csrf}, allow_redirects=False
    )
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    done = session.get(
        f"{base}{REALM}/login-actions/complete", params={"tx": tx}, allow_redirects=False
    )
    code = parse_qs(urlsplit(done.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = session.post(
        f"{oidc}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers={"Authorization": f"Basic {basic}"},
    )
    token.raise_for_status()
    return token.json()

"""A real Apache httpd for the tests of relying parties that run inside it (mod_auth_openidc,
https://github.com/OpenIDC/mod_auth_openidc): Debian's ``apache2`` binary with a ServerRoot,
configuration, logs and lock files of its own in a temporary folder, on ports the test picks,
in the foreground, stopped at the end. Nothing of ``/etc/apache2`` is read.

Apache refuses to serve as root (its children switch to ``User``/``Group``): run as root, the
children are ``nobody``, and the folder, which they read (the client certificate and key
mod_auth_openidc presents), is theirs.

Also :class:`EchoApp`, the application behind the proxy: it answers every request with the
request's method, path, headers and body as JSON."""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.support.servers import stop_process_group

MODULES = Path("/usr/lib/apache2/modules")
MOD_AUTH_OPENIDC = MODULES / "mod_auth_openidc.so"
#: The modules every Apache of the tests loads: the event MPM, what ``Require`` needs, the
#: reverse proxy, and mod_auth_openidc (Debian's ``apache2`` has ``mod_unixd`` built in).
LOADED = (
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("headers_module", "mod_headers.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("auth_openidc_module", "mod_auth_openidc.so"),
)


def apache_binary() -> str | None:
    """Debian's ``apache2`` (``httpd`` elsewhere), or None."""
    return next(
        (p for p in (shutil.which("apache2"), "/usr/sbin/apache2", shutil.which("httpd"))
         if p and Path(p).exists()),
        None,
    )  # fmt: skip


def _absent() -> str | None:
    if apache_binary() is None:
        return "Apache httpd is missing: apt-get install apache2 (.ci/run installs it)"
    if not MOD_AUTH_OPENIDC.exists():
        return (
            "mod_auth_openidc is missing: apt-get install libapache2-mod-auth-openidc "
            "(.ci/run installs it)"
        )
    return None


#: Skips a test where Apache or mod_auth_openidc is not installed (CI installs both).
needs_mod_auth_openidc = pytest.mark.skipif(_absent() is not None, reason=_absent() or "")

MOD_OAUTH2 = MODULES / "mod_oauth2.so"
#: :data:`LOADED` with mod_oauth2 (https://github.com/OpenIDC/mod_oauth2, the same authors'
#: resource-server module) in place of mod_auth_openidc.
OAUTH2_LOADED = (*LOADED[:-1], ("oauth2_module", "mod_oauth2.so"))


def _oauth2_absent() -> str | None:
    if apache_binary() is None:
        return "Apache httpd is missing: apt-get install apache2 (.ci/run installs it)"
    if not MOD_OAUTH2.exists():
        return "mod_oauth2 is missing: apt-get install libapache2-mod-oauth2 (.ci/run installs it)"
    return None


#: Skips a test where Apache or mod_oauth2 is not installed (CI installs both).
needs_mod_oauth2 = pytest.mark.skipif(_oauth2_absent() is not None, reason=_oauth2_absent() or "")


FRAME = """\
ServerRoot {root}
ServerName 127.0.0.1
PidFile {root}/httpd.pid
DefaultRuntimeDir {root}
Mutex file:{root} default
ErrorLog {root}/error.log
LogLevel {log_level}
{modules}
{user}
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
{listen}
{body}
"""


@dataclass
class Apache:
    """A running Apache: its folder (``error.log`` there) and process."""

    root: Path
    process: subprocess.Popen

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def apache_folder() -> Path:
    """A new folder for an Apache, readable by its children (``nobody`` when run as root): its
    configuration, logs and the files mod_auth_openidc reads. Removed by the caller."""
    folder = Path(tempfile.mkdtemp(prefix="santeid-apache-"))
    folder.chmod(0o755)
    return folder


def _child_user() -> tuple[str, str] | None:
    """``(user, group)`` of Apache's children when this process is root, else None."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_name, grp.getgrgid(nobody.pw_gid).gr_name


@contextlib.contextmanager
def running_apache(
    root: Path,
    ports: Iterable[int],
    body: str,
    *,
    log_level: str = "warn auth_openidc:info",
    modules: Iterable[tuple[str, str]] = LOADED,
) -> Iterator[Apache]:
    """Apache in the foreground with ``body`` (its virtual hosts, ``Define``s, ``Include``s)
    in the frame :data:`FRAME` under ``root`` (:func:`apache_folder`), listening on
    ``127.0.0.1`` at each of ``ports``, with ``modules`` (name, file under :data:`MODULES`)
    loaded; ready once every port accepts connections and the configuration was accepted
    (``apache2 -t`` first, whose complaint fails the test)."""
    binary = apache_binary()
    assert binary, _absent()
    ports = list(ports)
    child = _child_user()
    user = f"User {child[0]}\nGroup {child[1]}" if child else ""
    loads = "\n".join(f"LoadModule {name} {MODULES / file}" for name, file in modules)
    listen = "\n".join(f"Listen 127.0.0.1:{port}" for port in ports)
    conf = root / "httpd.conf"
    conf.write_text(FRAME.format(root=root, log_level=log_level, modules=loads, user=user,
                                 listen=listen, body=body))  # fmt: skip
    if child:
        uid, gid = pwd.getpwnam(child[0]).pw_uid, grp.getgrnam(child[1]).gr_gid
        for path in (root, *root.rglob("*")):
            os.chown(path, uid, gid)
    command = [binary, "-d", str(root), "-f", str(conf)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = (root / "apache.out").open("wb")
    process = subprocess.Popen([*command, "-DFOREGROUND"], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        waiting = set(ports)
        while waiting:
            for port in list(waiting):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    waiting.discard(port)
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "Apache did not start: "
                    + (root / "apache.out").read_text()
                    + (root / "error.log").read_text(errors="replace")[-3000:]
                )
            time.sleep(0.05)
        yield Apache(root, process)
    finally:
        stop_process_group(process)
        log.close()


class EchoApp:
    """The application behind the proxy: every request (any method) is answered 200 with a
    JSON object of its ``method``, ``path``, ``headers`` and ``body``; :attr:`requests` keeps
    them. A context manager serving in a thread of its own on ``127.0.0.1``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": self.rfile.read(length).decode(errors="replace"),
                }
                app.requests.append(seen)
                raw = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = answer  # noqa: N815 - http.server's naming

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> EchoApp:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class ApacheApi:
    """A running Apache whose virtual hosts protect an API behind :class:`EchoApp`, and the
    origin of each virtual host, by name."""

    apache: Apache
    origins: dict[str, str]

    def call(self, host: str, path: str, token: str | None) -> requests.Response:
        """``GET`` ``path`` of the virtual host ``host`` with ``token`` as a Bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.origins[host] + path, headers=headers, timeout=10)

    def status(self, host: str, path: str, token: str | None) -> int:
        return self.call(host, path, token).status_code

    def seen(self, host: str, path: str, token: str) -> dict:
        """The headers the API received of an accepted call."""
        answer = self.call(host, path, token)
        assert answer.status_code == 200, (host, answer.status_code, answer.headers,
                                           self.apache.error_log()[-3000:])  # fmt: skip
        return answer.json()["headers"]

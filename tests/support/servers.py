"""A real ``santeid serve`` process for the tests that need one: started with its output in a
log file, waited for until ``/health`` answers 200, stopped at the end (terminate, then kill).

:func:`santeid_process` is the one factory: free port(s), ``SANTEID_*`` environment of its own
folder, a copy of this test process's signing keys, clients registered with the CLI before the
start, readiness probe, log, teardown; :func:`production_process` is it outside sandbox mode,
by default behind the certificate-forwarding proxy. :func:`santeid_home` is the same folder and
environment without a server, for the CLI commands a test runs before the start (certificates,
cards).
:func:`running_server` is its lower half, for a command it does not build; :func:`layout_process`
is :func:`santeid_process` in one of the server layouts ``santeid serve`` runs (:data:`LAYOUTS`)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from click.testing import CliRunner

from santeid.cli import main as santeid_command
from santeid.keys.lifecycle import KEYS_FILENAME
from santeid.keystore import ensure_dev_keys
from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.pki import write_credentials
from santeid.settings import Settings
from tests.support.redis_server import free_port

#: The ``santeid`` command of this interpreter's environment.
SANTEID = str(Path(sys.executable).with_name("santeid"))
REALM = "/auth/realms/esante-wallet"
#: The header in which docs/cps-card.md's nginx block sends the client certificate
#: (``tls_client_cert_header``), and that proxy's address on the test host.
CERT_HEADER = "X-SSL-Client-Cert"
PROXY = "127.0.0.1"
#: The settings of a server behind that proxy: it believes the header from the proxy only.
BEHIND_PROXY = {"SANTEID_TLS_CLIENT_CERT_HEADER": CERT_HEADER, "SANTEID_TRUSTED_PROXIES": PROXY}


def establishment_certificates(
    home: Path, certificates: dict[str, tuple[str, str]], *, authority: str = "establishments"
) -> TestAuthority:
    """An establishments' authority, what ``tls_client_auth_ca_file`` names (``TEST AC
    ETABLISSEMENTS``, P-256, in ``home/<authority>``, its certificate ``<authority>.pem``), and
    for each folder of ``certificates`` a client certificate it issued to ``(common name,
    organisation)``, country FR, written with its key and the authority under
    ``home/<folder>`` (``santeid.pki.write_credentials``)."""
    issuer = TestAuthority.load_or_create(
        home / authority, authority, common_name="TEST AC ETABLISSEMENTS", key_type="ec-p256"
    )
    for folder, (common_name, organization) in certificates.items():
        subject = subject_name(common_name=common_name, organization=organization, country="FR")
        certificate, key = issue_certificate(issuer, subject=subject, key_type="ec-p256")
        write_credentials(home / folder, certificate, key, issuer)
    return issuer


def behind_proxy(settings: Settings, **changes: Any) -> Settings:
    """``settings`` of an application behind that proxy, as :data:`BEHIND_PROXY` (Flask's test
    client connects from its address), with ``changes``."""
    return settings.replace(tls_client_cert_header=CERT_HEADER, trusted_proxies=PROXY, **changes)


#: How often a starting server is asked whether it is ready.
READINESS_POLL_SECONDS = 0.05


@contextlib.contextmanager
def running_server(
    command: list[str],
    env: dict,
    log_path: Path,
    health_url: str,
    *,
    verify: str | bool = True,
    seconds: float = 30,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start ``command`` (in ``cwd``, else this process's working directory); its output goes
    to ``log_path``, whose tail a failed start shows.

    ``verify``: the authority of an HTTPS ``health_url`` (a session that ignores
    ``REQUESTS_CA_BUNDLE``, which would override it)."""
    log = log_path.open("wb")
    # A session of its own: the teardown signals the whole process group, so the workers a
    # multi-worker server forks never outlive it, even when the parent has to be killed.
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
    )
    probe = requests.Session()
    probe.trust_env = False
    probe.verify = verify
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if probe.get(health_url, timeout=2).status_code == 200:
                    break
            # Not listening yet, or listening while its workers still build the application
            # (the TLS handshake or the answer then waits): both are "not ready yet".
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + log_path.read_text()[-3000:])
            time.sleep(READINESS_POLL_SECONDS)
        yield process
    finally:
        stop_process_group(process)
        probe.close()
        log.close()


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to the process group ``process`` leads (started with ``start_new_session``),
    SIGKILL to whatever is left of it after ``timeout`` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:  # workers that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``): the workers of a ``santeid
    serve --workers`` process, the backends of a PostgreSQL server."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Field 4 is the parent's pid; the name in field 2 may contain spaces.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return sorted(children)


def group_pids(pgid: int) -> list[int]:
    """The living processes of the process group ``pgid`` (Linux ``/proc``; zombies, already
    ended, left out): a server and its workers, started with ``start_new_session``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields 3 and 5: the state and the process group (the name in 2 may hold spaces).
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return sorted(members)


#: The state of a listening socket in ``/proc/net/tcp`` (``TCP_LISTEN``).
LISTENING = "0A"


def tcp_sockets(pid: int) -> set[tuple[int, int, str]]:
    """The TCP sockets process ``pid`` holds, as (local port, remote port, state) — Linux
    ``/proc``: its sockets' inodes looked up in the IPv4 and IPv6 tables. Which worker is
    connected to a database (the remote port), which listens (:data:`LISTENING`)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
                    found.add((local, remote, fields[3]))
    return found


@functools.cache
def session_keys() -> Path:
    """The sandbox's signing keys (an RS256 key and the refresh-token HMAC secret, as a first
    sandbox start makes them), generated once per test process: every server and app of the
    process starts from the same key set rather than generating its own. Never used in place:
    they get a copy (they rotate or add keys), which is why the folder is not a fixture's."""
    folder = Path(tempfile.mkdtemp(prefix="santeid-session-keys-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    keys = folder / "keys"
    ensure_dev_keys(Settings(keys_dir=str(keys), sandbox=True))
    return keys


def copy_session_keys(keys: Path) -> None:
    """:func:`session_keys` into the keys folder ``keys`` unless it holds signing keys already
    (another host's, or the ones a test made itself); the other files there are kept."""
    if not (keys / KEYS_FILENAME).exists():
        shutil.copytree(session_keys(), keys, dirs_exist_ok=True)


def santeid_env(home: Path, *, sandbox: bool = True, **settings: str | None) -> dict[str, str]:
    """This process's environment without its ``SANTEID_*`` variables, then the server's own
    folders under ``home``, sandbox mode with no approval delay (``sandbox=False``: sandbox
    mode off, as in production), and ``settings``: a value of ``None`` leaves the variable
    unset (``SANTEID_ISSUER=None``: the issuer follows the port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    env.update(
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_SANDBOX="true" if sandbox else "false",
        HOME=str(home),
    )
    if sandbox:
        env["SANTEID_SANDBOX_APPROVAL_DELAY"] = "0"
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@dataclass
class SanteidHome:
    """A santeid folder (``var`` for data, ``keys``) and the environment that points the CLI
    and the server at it."""

    home: Path
    env: dict[str, str]

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        """``santeid …`` with this configuration (``stdin``: its input); ``check``: it must
        succeed."""
        result = subprocess.run(
            [SANTEID, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            input=stdin,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def add_client(self, document: dict) -> dict:
        """Register ``document`` (client metadata) with ``santeid clients add``: a server reads
        it from the store or data folder it shares with the CLI. The command runs in this
        process (click's runner, this configuration's ``SANTEID_*`` variables): the same
        command without a new interpreter's ≈ 0.5 s of imports, for every server a test starts
        with its clients."""
        path = self.home / f"{document['client_id']}.json"
        path.write_text(json.dumps(document))
        settings = {name: None for name in os.environ if name.startswith("SANTEID_")}
        settings.update((k, v) for k, v in self.env.items() if k.startswith("SANTEID_"))
        result = CliRunner().invoke(santeid_command, ["clients", "add", str(path)], env=settings)
        assert result.exit_code == 0, (result.output, result.exception)
        return document

    def register(self, client_id: str, **metadata) -> dict:
        """:meth:`add_client` of ``metadata``, named after its identifier unless it has a name."""
        return self.add_client({"client_id": client_id, "client_name": client_id, **metadata})

    def dev_tls(self) -> tuple[tuple[str, ...], str]:
        """A development server certificate in ``home/tls`` (``santeid tls dev-cert``): the
        ``--tls-cert``/``--tls-key`` arguments of ``santeid serve`` and the authority (a file)
        that checks the certificate."""
        tls = self.home / "tls"
        self.cli("tls", "dev-cert", "--out", str(tls))
        args = ("--tls-cert", str(tls / "cert.pem"), "--tls-key", str(tls / "key.pem"))
        return args, str(tls / "ca.pem")

    def with_settings(self, **settings: str) -> SanteidHome:
        """The same folder, ``settings`` added to the environment (a device file of its own,
        another store) for the commands run with it."""
        return SanteidHome(self.home, {**self.env, **settings})


def santeid_home(
    home: Path, *, fresh_keys: bool = False, sandbox: bool = True, **settings: str | None
) -> SanteidHome:
    """``home`` made ready for the CLI and a server (:func:`santeid_env`, in sandbox mode
    unless ``sandbox=False``): a copy of :func:`session_keys` unless ``fresh_keys`` (tests of
    key generation and first starts)."""
    prepared = SanteidHome(home, santeid_env(home, sandbox=sandbox, **settings))
    home.mkdir(parents=True, exist_ok=True)
    if not fresh_keys:
        copy_session_keys(Path(prepared.env["SANTEID_KEYS_DIR"]))
    return prepared


def refused_start(
    home: Path,
    *args: str,
    cwd: Path | None = None,
    port: int | None = None,
    **settings: str | None,
) -> subprocess.CompletedProcess:
    """``santeid serve --port <port, else a free one> *args`` with ``home``'s environment
    (:func:`santeid_env`), run in ``cwd`` if given, for a configuration it must refuse: its
    exit status and output. A server that starts anyway is stopped after 30 s, its workers
    with it (its process group), and the test fails."""
    process = subprocess.Popen(
        [SANTEID, "serve", "--port", str(port or free_port()), *args],
        env=santeid_env(home, **settings),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop_process_group(process)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"santeid serve started instead of refusing: {stderr[-3000:]}"
        ) from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@dataclass
class SanteidProcess(SanteidHome):
    """A running ``santeid serve``: where it answers, its environment (for the CLI) and log.
    ``https``: the origin of its ``--tls-port`` listener; ``ca``: the authority its HTTPS
    certificate is checked against."""

    base: str
    issuer: str
    port: int
    log: Path
    process: subprocess.Popen
    https: str | None = None
    ca: str | None = None

    @property
    def oidc(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    @property
    def store_url(self) -> str:
        return self.env.get("SANTEID_STORE_URL", "")


def code_flow_client(client_id: str, secret: str, redirect_uri: str) -> dict:
    """The metadata of a confidential code-flow client (``client_secret_basic``, refresh
    tokens), as ``santeid_process(clients=[...])`` registers it."""
    return {
        "client_id": client_id,
        "client_name": client_id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


def service_client(client_id: str, secret: str) -> dict:
    """The metadata of a service that calls APIs with its own token (``client_credentials``,
    RFC 6749 §4.4, ``client_secret_basic``), as ``santeid_process(clients=[...])`` registers
    it."""
    return {
        "client_id": client_id,
        "client_name": client_id,
        "client_secret": secret,
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


@contextlib.contextmanager
def santeid_process(
    home: Path,
    *,
    sandbox: bool = True,
    args: Iterable[str] | None = None,
    clients: Iterable[dict] = (),
    log_name: str = "server.log",
    tls_port: bool = False,
    ca: str | None = None,
    fresh_keys: bool = False,
    **settings: str | None,
) -> Iterator[SanteidProcess]:
    """``santeid serve`` on a free port with its data and keys under ``home``
    (:func:`santeid_home`): ``settings`` as ``SANTEID_*`` variables (``SANTEID_STORE_URL=…``;
    the issuer is the server's address unless given), ``args`` after ``--port`` (by default
    ``--sandbox``), ``clients`` registered with the CLI before the start. ``sandbox=False``:
    sandbox mode off for the CLI and the server, no ``--sandbox``, as production runs it.
    ``tls_port``: ``--tls-port`` on a second free port (its ``--tls-cert``/``--tls-key``
    in ``args``); ``--tls-cert`` without it makes the main port HTTPS, probed with ``ca``.
    Several servers may share ``home`` (``log_name`` tells their logs apart). Yields once
    ``/health`` answers 200."""
    args = list(("--sandbox",) if sandbox else ()) if args is None else list(args)
    if not sandbox and "--sandbox" in args:
        raise ValueError("--sandbox turns sandbox mode on: not with sandbox=False")
    port = free_port()
    scheme = "https" if "--tls-cert" in args and not tls_port else "http"
    base = f"{scheme}://127.0.0.1:{port}"
    prepared = santeid_home(
        home,
        fresh_keys=fresh_keys,
        sandbox=sandbox,
        **{"SANTEID_ISSUER": base + REALM, **settings},
    )
    for client in clients:
        prepared.add_client(client)
    command = [SANTEID, "serve", "--port", str(port)]
    https = None
    if tls_port:
        second = free_port()
        command += ["--tls-port", str(second)]
        https = f"https://127.0.0.1:{second}"
    log = home / log_name
    with running_server(
        [*command, *args], prepared.env, log, f"{base}/health", verify=ca or True
    ) as process:
        yield SanteidProcess(
            home,
            prepared.env,
            base=base,
            issuer=prepared.env.get("SANTEID_ISSUER", base + REALM),
            port=port,
            log=log,
            process=process,
            https=https,
            ca=ca,
        )


@contextlib.contextmanager
def https_sandbox_process(home: Path, **settings: str | None) -> Iterator[SanteidProcess]:
    """:func:`santeid_process` in sandbox mode over HTTPS, as PSC answers: its main port
    with a development certificate (:meth:`SanteidHome.dev_tls`), whose authority is the
    process's ``ca``; ``settings`` as there."""
    args, ca = santeid_home(home).dev_tls()
    with santeid_process(home, args=["--sandbox", *args], ca=ca, **settings) as process:
        assert process.issuer.startswith("https://")
        yield process


#: The server layouts ``santeid serve`` runs (santeid.serving), by the name tests give them:
#: the arguments each adds, and whether it listens on a second port (``--tls-port``).
LAYOUTS: dict[str, tuple[tuple[str, ...], bool]] = {
    # One Werkzeug process over HTTP (``make run``).
    "werkzeug": ((), False),
    # The same, with its extra TLS listener.
    "werkzeug-and-tls-port": (("--tls-cert", "{cert}", "--tls-key", "{key}"), True),
    # Granian with several workers over HTTP.
    "granian": (("--workers", "2"), False),
    # gunicorn with several workers over direct TLS.
    "gunicorn-tls": (("--workers", "2", "--tls-cert", "{cert}", "--tls-key", "{key}"), False),
}
#: The layouts of several processes: their workers share a store (Redis).
SHARED_STORE_LAYOUTS = ("granian", "gunicorn-tls")


@contextlib.contextmanager
def layout_process(
    layout: str,
    home: Path,
    *,
    tls: dict[str, str],
    store_url: str | None = None,
    args: Iterable[str] = ("--sandbox",),
    **options: Any,
) -> Iterator[SanteidProcess]:
    """:func:`santeid_process` in the server layout named ``layout`` (:data:`LAYOUTS`): its
    arguments after ``args``, its certificate and key from ``tls`` (the ``cert``, ``key`` and
    ``ca`` files of ``santeid tls dev-cert``), the main port's HTTPS checked with ``tls["ca"]``.
    ``store_url``: ``SANTEID_STORE_URL``, which the :data:`SHARED_STORE_LAYOUTS` need; given,
    it wins over a ``SANTEID_STORE_URL`` of ``options``, :func:`santeid_process`'s
    (``clients``…) and ``SANTEID_*`` settings."""
    own, tls_port = LAYOUTS[layout]
    if layout in SHARED_STORE_LAYOUTS and store_url is None:
        raise ValueError(f"the {layout} layout's workers share a store: give its store_url")
    command = [*args, *(argument.format(**tls) for argument in own)]
    if store_url is not None:
        options["SANTEID_STORE_URL"] = store_url
    https_main_port = "--tls-cert" in own and not tls_port
    with santeid_process(
        home,
        args=command,
        tls_port=tls_port,
        ca=tls["ca"] if https_main_port else None,
        **options,
    ) as process:
        yield process


@contextlib.contextmanager
def production_process(
    home: Path, *, behind_proxy: bool = True, **options: Any
) -> Iterator[SanteidProcess]:
    """:func:`santeid_process` outside sandbox mode, as production runs it (no ``--sandbox``,
    ``SANTEID_SANDBOX=false`` for the server and the CLI), on the embedded store;
    ``behind_proxy``: behind docs/cps-card.md's nginx on this host (:data:`BEHIND_PROXY`).
    ``options``: :func:`santeid_process`'s (``log_name``, ``args``, ``clients``, ``ca``…) and
    ``SANTEID_*`` settings, which win over these."""
    settings = {"SANTEID_STORE_URL": "memory://", **(BEHIND_PROXY if behind_proxy else {})}
    with santeid_process(home, sandbox=False, **{**settings, **options}) as server:
        yield server


def forwarded_certificate(certificate) -> dict[str, str]:
    """The certificate header the documented nginx block sends from :data:`PROXY`
    (``$ssl_client_escaped_cert``: the PEM, every reserved character percent-encoded)."""
    return {CERT_HEADER: quote(certificate_pem(certificate).decode(), safe="")}

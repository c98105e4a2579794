"""pytest plugin: a real santeid sandbox server for a service's own tests.

Installed with the package (entry point ``pytest11``), so a service that adds ``santeid`` to
its test dependencies gets the ``santeid_server`` fixture without any import::

    def test_login(santeid_server):
        tokens = santeid_server.login("810000000030")       # approved at once
        info = santeid_server.userinfo(tokens["access_token"])
        assert info["SubjectNameID"] == "810000000030"

``santeid_server`` (one per test session) starts ``santeid serve --sandbox`` on free ports
(HTTP, and HTTPS for client certificates) with the embedded store and a temporary data
directory, registers a confidential client (:attr:`SandboxServer.client`) and stops the
server at the end. Everything goes over HTTP, as the service's own code would: discovery,
the login pages, the token endpoint, the control API (``docs/sandbox.md``).

Override the ``santeid_server_env`` fixture to pass settings (``SANTEID_*`` variables), e.g.
``{"SANTEID_SANDBOX_PROFESSIONALS": "tests/professionals.yaml"}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

__all__ = ["LoginFailed", "PendingLogin", "SandboxServer", "start_sandbox_server"]

REALM_PATH = "/auth/realms/esante-wallet"
#: The registered client's redirect URI: nothing needs to listen there, the helpers read the
#: code from the redirect itself.
REDIRECT_URI = "http://127.0.0.1/santeid-test/callback"
#: Seconds to wait for the server to answer ``/health``, and for a login to be answered.
START_TIMEOUT = 60.0
LOGIN_TIMEOUT = 30.0
#: Persons of the synthetic civil-status base (plus INSi's published test identities).
CIVIL_PERSONS = 200


class LoginFailed(AssertionError):
    """The login did not end with a code; ``state`` says how (the login page's status), and
    ``reason`` why a failed one failed: ``denied``, ``wrong_code``, ``pin_locked``,
    ``expired``, ``replaced`` (a professional with an e-CPS device only; docs/sandbox.md,
    "pytest plugin"), else ``None``."""

    def __init__(self, message: str, state: dict | None = None) -> None:
        super().__init__(message)
        self.state = state or {}
        self.reason: str | None = self.state.get("reason")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _santeid(*args: str, env: dict) -> str:
    command = [sys.executable, "-c", "from santeid.cli import main; main()", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"santeid {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


#: ``santeid`` commands run one after the other in one interpreter, which imports santeid once
#: instead of once per command; the first that fails ends the run with its message.
_COMMANDS = """
import json, sys
import click
from santeid.cli import main
for args in json.loads(sys.argv[1]):
    try:
        main(args, standalone_mode=False)
    except click.ClickException as exc:
        sys.exit(f"santeid {' '.join(args)}: {exc.format_message()}")
"""


def _santeid_commands(*commands: list[str], env: dict) -> None:
    """Run ``santeid`` ``commands`` in order, in one process (see ``_COMMANDS``)."""
    command = [sys.executable, "-c", _COMMANDS, json.dumps(commands)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"preparing the sandbox failed:\n{done.stdout}{done.stderr}")


@dataclass
class PendingLogin:
    """A browser login waiting for the professional's phone
    (:meth:`SandboxServer.begin_login`)."""

    server: SandboxServer
    browser: requests.Session
    txid: str
    national_id: str
    code_verifier: str
    #: The pending e-CPS request, as the control API lists it (``request_id``, ``code``…).
    request: dict = field(default_factory=dict)

    def status(self) -> str:
        return self._status()["state"]

    def _status(self) -> dict:
        """The login page's status poll: ``state``, and ``reason`` once failed."""
        url = f"{self.server.issuer}/login-actions/status"
        return self.browser.get(url, params={"tx": self.txid}, timeout=10).json()

    def approve(self, code: str | None = None) -> dict:
        """Approve through the control API with the page's code (or ``code``)."""
        return self.server.answer(
            self.request["request_id"], "approve", code or self.request["code"]
        )

    def deny(self) -> dict:
        return self.server.answer(self.request["request_id"], "deny")

    def expire(self) -> dict:
        return self.server.answer(self.request["request_id"], "expire")

    def callback(self, timeout: float = LOGIN_TIMEOUT) -> str:
        """Wait for the answer; the URL the browser is then sent back to (the client's
        ``redirect_uri`` with ``code``, ``state``…). Raises :class:`LoginFailed` if the
        login failed."""
        deadline = time.monotonic() + timeout
        status = self._status()
        while status["state"] == "waiting" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = self._status()
        if status["state"] not in ("approved", "done"):
            why = f" ({status['reason']})" if status.get("reason") else ""
            raise LoginFailed(
                f"the login of {self.national_id} ended {status['state']}{why}", status
            )
        done = self.browser.get(
            f"{self.server.issuer}/login-actions/complete",
            params={"tx": self.txid},
            allow_redirects=False,
            timeout=10,
        )
        return done.headers.get("Location", "")

    def finish(self, timeout: float = LOGIN_TIMEOUT) -> dict:
        """Wait for the answer and exchange the code (with the fixture's client): the token
        response. Raises :class:`LoginFailed` if the login failed."""
        location = self.callback(timeout)
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if "code" not in query:
            raise LoginFailed(f"no code in the redirect {location!r}", query)
        return self.server.exchange_code(query["code"], self.code_verifier)


@dataclass
class SandboxServer:
    """A running sandbox server and helpers that talk to it over HTTP."""

    base_url: str
    https_url: str
    data_dir: Path
    env: dict
    client: dict
    process: subprocess.Popen | None = None
    http: requests.Session = field(default_factory=requests.Session)
    #: The server's output (``server.log`` in the temporary directory).
    log_path: Path | None = None
    _log: Any = None

    @property
    def issuer(self) -> str:
        return self.base_url + REALM_PATH

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/wallet-openid-configuration"

    @property
    def oidc(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    @property
    def ca_file(self) -> Path:
        """The test authority of the HTTPS listener (trust it to call ``https_url``)."""
        return self.data_dir.parent / "tls" / "ca.pem"

    # -- control API -------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> Any:
        response = self.http.request(
            method, f"{self.base_url}/sandbox/api{path}", timeout=10, **kwargs
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def set_scenario(self, national_id: str, outcome: str, delay: float | None = None) -> dict:
        return self.api(
            "PUT",
            f"/professionals/{national_id}/scenario",
            json={"outcome": outcome, "delay": delay},
        )

    def reset_scenario(self, national_id: str) -> dict:
        return self.api("DELETE", f"/professionals/{national_id}/scenario")

    def create_professional(self, professional: dict) -> dict:
        return self.api("POST", "/professionals", json=professional)

    def pending(self, national_id: str) -> list[dict]:
        return self.api("GET", f"/professionals/{national_id}/requests")["requests"]

    def next_request(self, national_id: str, timeout: float = LOGIN_TIMEOUT) -> dict:
        """The professional's oldest pending request, waiting for one to appear."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.pending(national_id)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no pending request for {national_id}")
            time.sleep(0.1)

    def answer(self, request_id: str, decision: str, code: str | None = None) -> dict:
        body = {"code": code} if code else {}
        return self.api("POST", f"/requests/{request_id}/{decision}", json=body)

    def approve_next(self, national_id: str) -> dict:
        """Approve the professional's next request (with the right code for a browser login)."""
        request = self.next_request(national_id)
        return self.answer(request["request_id"], "approve", request.get("code"))

    def deny_next(self, national_id: str) -> dict:
        return self.answer(self.next_request(national_id)["request_id"], "deny")

    def outbox(self, to: str | None = None) -> list[dict]:
        return self.api("GET", "/outbox", params={"to": to} if to else {})["messages"]

    # -- OpenID Connect ------------------------------------------------------------------------
    def begin_login(
        self, national_id: str, *, scope: str = "openid scope_all", **params
    ) -> PendingLogin:
        """Start a browser login (authorization request with PKCE, identifier typed on the
        login page); the returned :class:`PendingLogin` is waiting for the phone."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
            b"="
        )
        query = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "acr_values": "eidas1",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            **params,
        }
        url = f"{self.oidc}/auth?" + urlencode(query)
        return self.begin_login_at(url, national_id, code_verifier=verifier)

    def begin_login_at(
        self, authorization_url: str, national_id: str, *, code_verifier: str | None = None
    ) -> PendingLogin:
        """Play the browser for an authorization URL built by the service under test: follow
        it to the login page and type ``national_id``. ``.callback()`` of the result is the
        URL the browser is sent back to, for the service to handle."""
        browser = requests.Session()
        response = browser.get(authorization_url, allow_redirects=False, timeout=10)
        if response.status_code != 302 or "/login-actions/" not in response.headers.get(
            "Location", ""
        ):
            raise LoginFailed(
                "the authorization request was refused: "
                f"{response.status_code} {response.text[:300]}"
            )
        login_url = urljoin(response.url, response.headers["Location"])
        page = browser.get(login_url, timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        posted = browser.post(
            login_url,
            data={"national_id": national_id, "csrf_token": csrf.group(1) if csrf else ""},
            allow_redirects=False,
            timeout=10,
        )
        if posted.status_code != 303:
            raise LoginFailed(f"the login page refused {national_id}: {posted.status_code}")
        txid = parse_qs(urlsplit(login_url).query)["tx"][0]
        pending = PendingLogin(self, browser, txid, national_id, code_verifier or "")
        listed = [r for r in self.pending(national_id) if r["kind"] == "browser"]
        if listed:
            pending.request = listed[-1]
        return pending

    def login(self, national_id: str, **params) -> dict:
        """Log ``national_id`` in and return the token response; the professional's scenario
        answers (``approve`` for the demo and auto-approve professionals). Raises
        :class:`LoginFailed` otherwise."""
        return self.begin_login(national_id, **params).finish()

    def exchange_code(self, code: str, code_verifier: str | None = None) -> dict:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        if code_verifier:
            data["code_verifier"] = code_verifier
        response = self.http.post(
            f"{self.oidc}/token",
            data=data,
            auth=(self.client["client_id"], self.client["client_secret"]),
            timeout=10,
        )
        if response.status_code != 200:
            raise LoginFailed(f"token endpoint: {response.status_code} {response.text}")
        return response.json()

    def userinfo(self, access_token: str) -> dict:
        response = self.http.get(
            f"{self.oidc}/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    # -- INSi ----------------------------------------------------------------------------------
    def insi_certificate(
        self, structure: str = "10B0152872", cn: str = "INSI-AUTO"
    ) -> tuple[str, str]:
        """A test INSi establishment certificate: ``(cert.pem, key.pem)`` paths."""
        out = self.data_dir.parent / "insi-certs" / f"{structure}-{cn}"
        if not (out / "cert.pem").exists():
            _santeid(
                "insi",
                "issue-cert",
                "--structure",
                structure,
                "--cn",
                cn,
                "--out",
                str(out),
                env=self.env,
            )
        return str(out / "cert.pem"), str(out / "key.pem")

    def insi_session(
        self, structure: str = "10B0152872", cn: str = "INSI-AUTO"
    ) -> requests.Session:
        """A ``requests`` session presenting a test INSi certificate to :attr:`https_url`."""
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
        session.verify = str(self.ca_file)
        session.cert = self.insi_certificate(structure, cn)
        return session

    def insi_search_by_traits(self, traits: dict, **kwargs) -> requests.Response:
        """``POST /insi/v1/ins/search-by-traits`` over mTLS with a test certificate."""
        return self.insi_session(**kwargs).post(
            f"{self.https_url}/insi/v1/ins/search-by-traits", json=traits, timeout=10
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.http.close()
        if self._log is not None:
            self._log.close()


def start_sandbox_server(home: Path, extra_env: dict | None = None) -> SandboxServer:
    """Prepare ``home`` (keys, data, TLS, civil-status base, a client) and start the server."""
    port, tls_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    env.update(
        SANTEID_SANDBOX="true",
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_ISSUER=base + REALM_PATH,
        SANTEID_STORE_URL="memory://",
        SANTEID_SANDBOX_APPROVAL_DELAY="0",
    )
    env.update(extra_env or {})
    client = {
        "client_id": "santeid-test-client",
        "client_name": "Service under test",
        "client_secret": secrets.token_urlsafe(32),
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": ["+"],
        "grant_types": ["authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"],
        "backchannel_token_delivery_mode": "poll",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    (home / "client.json").write_text(json.dumps(client))
    _santeid_commands(
        ["keys", "generate"],
        ["directory", "seed-demo"],
        ["clients", "add", str(home / "client.json")],
        ["tls", "dev-cert", "--out", str(home / "tls")],
        ["civil", "generate", "--persons", str(CIVIL_PERSONS), "--seed", "1"],
        env=env,
    )
    log_path = home / "server.log"
    log = log_path.open("wb")
    command = [
        sys.executable, "-c", "from santeid.cli import main; main()",
        "serve", "--sandbox", "--host", "127.0.0.1", "--port", str(port),
        "--tls-port", str(tls_port),
        "--tls-cert", str(home / "tls" / "cert.pem"), "--tls-key", str(home / "tls" / "key.pem"),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = SandboxServer(
        base_url=base,
        https_url=f"https://127.0.0.1:{tls_port}",
        data_dir=home / "var",
        env=env,
        client=client,
        process=process,
        log_path=log_path,
        _log=log,
    )
    server.http.trust_env = False
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if server.http.get(f"{base}/health", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("santeid did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.2)


@pytest.fixture(scope="session")
def santeid_server_env() -> dict:
    """Extra ``SANTEID_*`` settings for :func:`santeid_server` (override it to change them)."""
    return {}


@pytest.fixture(scope="session")
def santeid_server(santeid_server_env):
    """A sandbox santeid server for the test session (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="santeid-") as home:
        server = start_sandbox_server(Path(home), santeid_server_env)
        try:
            yield server
        finally:
            server.stop()

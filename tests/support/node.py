"""Node.js for the tests that drive real JavaScript (keycloak-js, openid-client, the INSi SOAP
example, axe-core): where ``node`` and ``npm`` are, the mark that skips such a test without
them, a folder's locked dependencies installed with ``npm ci`` — the one installer of the
suite (``.ci/run`` installs Debian's nodejs and npm when they are missing) — and its
``npm run build`` kept until its sources change."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import free_port
from tests.support.servers import SanteidProcess
from tests.support.servers import running_server

NODE = shutil.which("node")
NPM = shutil.which("npm")

#: Skips a test (or module, in ``pytestmark``) on a machine without ``node`` and ``npm``.
needs_node_and_npm = pytest.mark.skipif(
    NODE is None or NPM is None,
    reason="node and npm are not installed (Debian: apt-get install nodejs npm; .ci/run "
    "installs them)",
)


def node_version() -> tuple[int, int]:
    """The major and minor version of ``node`` ((0, 0) without one)."""
    if NODE is None:
        return (0, 0)
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=False)
    major, minor = (version.stdout.strip().lstrip("v").split(".") + ["0", "0"])[:2]
    return (int(major or 0), int(minor or 0))


#: Skips a test on a Node.js older than 20, which openid-client 6 and what is built on it need
#: (its README, "Supported Versions"; their ``engines``): Debian 12 ships 18.
needs_node_20 = pytest.mark.skipif(
    NODE is not None and node_version() < (20, 0),
    reason="openid-client 6 needs Node.js 20 or later",
)


def can_require_es_modules(version: tuple[int, int]) -> bool:
    """Whether a Node.js of ``version`` loads an ES module with ``require()`` unflagged, as
    jwks-rsa 4 does with jose 6: 20.19 and later 20s, 22.12 and later 22s, 23 on (jwks-rsa's
    ``engines``: ``^20.19.0 || ^22.12.0 || >= 23.0.0``)."""
    return (20, 19) <= version < (21, 0) or (22, 12) <= version < (23, 0) or version >= (23, 0)


#: Skips a test on a Node.js that cannot ``require()`` an ES module
#: (:func:`can_require_es_modules`).
needs_require_of_es_modules = pytest.mark.skipif(
    NODE is not None and not can_require_es_modules(node_version()),
    reason="jwks-rsa 4 needs Node.js 20.19, 22.12 or later",
)


@contextlib.contextmanager
def folder_lock(folder: Path, what: str) -> Iterator[None]:
    """An exclusive lock on ``what`` done in ``folder``, which test workers doing it at the
    same time wait on."""
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"santeid-{what}-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def install_locked(folder: Path, package: str) -> Path:
    """``folder``'s locked dependencies, installed with ``npm ci`` unless ``package`` already
    is; the installed package's folder. Test workers that need it at the same time install it
    once: the others wait on a lock (``npm ci`` starts by removing ``node_modules``)."""
    installed = folder / "node_modules" / package
    if (installed / "package.json").exists():
        return installed
    with folder_lock(folder, "npm-ci"):
        if not (installed / "package.json").exists():
            npm = shutil.which("npm")
            assert npm is not None, "npm missing: apt-get install nodejs npm (.ci/run installs it)"
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
    return installed


class JsonCommands:
    """A Node.js script whose commands each print one JSON document and exit 0 with a result
    or ``error_status`` with an error the library it drives raised (as the script printed
    it); any other end — the library refusing an answer it was not expected to — fails the
    test. Run in the script's folder with ``env`` over this process's environment, the
    variables starting with ``prefix`` left out (the script's own)."""

    def __init__(self, script: Path, env: dict[str, str], *, prefix: str, error_status: int):
        self.script = script
        self.error_status = error_status
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(prefix)},
            **env,
        }

    def command(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        assert NODE is not None, "node missing: apt-get install nodejs (.ci/run installs it)"
        return subprocess.run(
            [NODE, str(self.script), *args], env={**self.env, **env}, cwd=self.script.parent,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def run(self, *args: str, **env: str) -> tuple[int, dict]:
        """The command's exit status and its JSON: the result (0) or the error."""
        done = self.command(*args, **env)
        assert done.returncode in (0, self.error_status), done.stdout + done.stderr
        return done.returncode, json.loads(done.stdout)

    def ok(self, *args: str, **env: str) -> dict:
        status, answer = self.run(*args, **env)
        assert status == 0, answer
        return answer

    def error(self, *args: str, **env: str) -> dict:
        status, answer = self.run(*args, **env)
        assert status == self.error_status, answer
        return answer


def built_once(folder: Path, sources: list[Path], output: Path, env: dict[str, str]) -> Path:
    """``npm run build`` in ``folder`` (its dependencies installed), unless ``output``
    holds a build of the same ``sources`` (files and folders, hashed with the lock file): a
    build kept between runs on one machine, redone when the sources change; ``output``."""
    digest = hashlib.sha256()
    for source in sorted([folder / "package-lock.json", *sources]):
        for path in sorted(source.rglob("*")) if source.is_dir() else [source]:
            if path.is_file():
                digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    stamp = output / "santeid-sources.sha256"
    with folder_lock(folder, "npm-build"):
        if not stamp.exists() or stamp.read_text() != digest.hexdigest():
            assert NPM is not None, "npm missing: apt-get install nodejs npm"
            result = subprocess.run(
                [NPM, "run", "build"],
                cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
            stamp.write_text(digest.hexdigest())
    return output


@contextlib.contextmanager
def https_login_service(
    server: SanteidProcess,
    script: Path,
    package: str,
    log: Path,
    *,
    client_id: str,
    registered_secret: str,
    secret: str,
    callbacks: list[str],
    metadata: dict | None = None,
    **env: str,
) -> Iterator[str]:
    """A Node.js login service — ``script``, its folder's locked dependencies installed
    (:func:`install_locked`, ``package``) — in front of ``server`` over HTTPS: registered
    there as an operator registers a confidential client (``client_id`` with
    ``registered_secret``, the ``callbacks`` paths under the service's origin, Basic; other
    ``metadata`` over these), then
    started on a free port of ``localhost`` (another site than santeid's ``127.0.0.1``) with
    ``PORT``, ``BASE_URL`` (its origin), ``CLIENT_ID``, ``CLIENT_SECRET`` (``secret``), ``env``
    and ``NODE_EXTRA_CA_CERTS`` (santeid's authority), its output in ``log``; its origin once
    its ``/health`` answers."""
    assert NODE is not None, "node missing: apt-get install nodejs (.ci/run installs it)"
    install_locked(script.parent, package)
    port = free_port()
    origin = f"http://localhost:{port}"
    registration = dict(
        client_secret=registered_secret,
        redirect_uris=[origin + path for path in callbacks],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    ) | (metadata or {})
    server.register(client_id, **registration)
    variables = {
        **os.environ,
        "PORT": str(port),
        "BASE_URL": origin,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
        "NODE_EXTRA_CA_CERTS": str(server.ca),
        **env,
    }
    health = f"http://127.0.0.1:{port}/health"
    with running_server([NODE, str(script)], variables, log, health):
        yield origin

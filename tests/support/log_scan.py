"""A pytest plugin that reads everything the test run logs and fails the run if a secret is in it.

Rule (docs/security.md, "Logs"): never a token, secret, PIN, code or identity trait in a log
line. This plugin checks it on every run of the suite instead of on one representative flow:

* **What is read.** Every logging record of the test process (the in-process apps), formatted
  as santeid's JSON log lines are, through a handler on the root logger, which is set to
  ``INFO`` (santeid's default ``log_level``) when it is higher; and the output of every real
  ``santeid serve`` process the tests start (``subprocess.Popen``, with ``subprocess.run``):
  the log file its standard output or error is written to, or what ``communicate()`` returns.
* **What is looked for.** Any JWT (``eyJ….….``); every value the suite saw the server issue or
  sent it as a credential — ``access_token``, ``refresh_token``, ``id_token``, ``code``,
  ``auth_req_id``, ``client_secret``, PINs, passwords, activation codes — read from the JSON
  bodies, redirect ``Location`` and ``Authorization`` headers of the requests made through the
  Flask/Werkzeug test client and ``requests`` (whose sessions authlib's clients are); the
  module-level ``…SECRET``/``…PIN``/``…PASSWORD`` constants of the test modules; the demo admin
  password; and the INS (matricule with and without its key) and birth names of the published
  INSi test identities (``santeid.civil_status.test_identities``).
* **When.** At the end of the session (each xdist worker scans what it ran): a session fixture's
  teardown, so a finding is an error of the last test, with where each value was found.

Fast on purpose: each log text is cut once into words (runs of letters, digits and ``_~.-``, and
their dot-separated parts) which are looked up in a set; only the few values with other
characters are searched as substrings.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest

#: Fields whose values are credentials, in a JSON body, a form or a URL's query.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "id_token_hint",
        "login_hint_token",
        "logout_token",
        "code",
        "auth_req_id",
        "client_secret",
        "registration_access_token",
        "password",
        "pin",
        "new_pin",
        "current_pin",
        "activation_code",
        "otp",
        "sms_code",
        "email_code",
        "client_assertion",
        # PKCE's proof (RFC 7636 §4.1), an e-CPS device's TOTP seed and the ``secret`` of its
        # ``otpauth://`` URI (docs/ecps-app.md): each lets its holder act as the client or device.
        "code_verifier",
        "totp_secret",
        "secret",
    }
)
#: Module constants of the tests holding secrets (``SECRET``, ``CLIENT_SECRET``, ``WRONG_PIN``…).
SECRET_CONSTANT = re.compile(r"(?:^|_)(?:SECRET|PIN|PASSWORD)S?$")
#: Shorter values are not looked for: they would match ordinary numbers and words.
MIN_LENGTH = 6
JWT = re.compile(r"eyJ[\w-]{2,}\.[\w-]{2,}\.")
#: Bytes that cannot be part of a word become spaces: ``bytes.translate`` then ``split`` cut
#: the logs into words several times faster than a regular expression would. Non-ASCII bytes
#: (UTF-8 letters) stay in words.
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-")
_WORDS_ONLY = bytes(b if b in _WORD_BYTES or b >= 128 else 32 for b in range(256))
PLUGIN_NAME = "log_scan_plugin"
WORD_ONLY = re.compile(r"[\w~-]+(?:\.[\w~-]+)*\Z")


@dataclass
class Finding:
    what: str
    origin: str
    context: str

    def __str__(self) -> str:
        return f"{self.what} in {self.origin}: …{self.context}…"


@dataclass
class LogScan:
    """The secrets known so far and the log texts to search for them."""

    #: value → what it is (the first description given)
    secrets: dict[str, str] = field(default_factory=dict)
    #: values with characters a word cannot hold: searched as substrings
    odd_secrets: dict[str, str] = field(default_factory=dict)
    #: origin (a test id or a log file) → its texts
    texts: dict[str, list[str]] = field(default_factory=dict)
    #: log file → (origin, bytes already read)
    files: dict[Path, tuple[str, int]] = field(default_factory=dict)

    def add_secret(self, value: object, what: str) -> None:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        value = value.strip()
        target = self.secrets if WORD_ONLY.match(value) else self.odd_secrets
        target.setdefault(value, what)

    def add_text(self, origin: str, text: str) -> None:
        self.texts.setdefault(origin, []).append(text)

    def add_file(self, path: Path, origin: str) -> None:
        self.files.setdefault(Path(path), (origin, 0))

    def read_files(self) -> None:
        """Take what the log files gained since last read (a file may be gone with its test's
        temporary folder: what was read before stays)."""
        for path, (origin, offset) in list(self.files.items()):
            try:
                with path.open("rb") as file:
                    file.seek(offset)
                    data = file.read()
            except OSError:
                continue
            if data:
                self.add_text(f"{origin} ({path})", data.decode("utf-8", "replace"))
                self.files[path] = (origin, offset + len(data))

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        secrets = {value.encode(): what for value, what in self.secrets.items()}
        for origin, parts in self.texts.items():
            text = "\n".join(parts)
            for match in JWT.finditer(text):
                found.append(Finding("a JWT", origin, _around(text, match.start(), match.end())))
            hits: set[bytes] = set()
            for word in set(text.encode("utf-8", "replace").translate(_WORDS_ONLY).split()):
                if word in secrets:
                    hits.add(word)
                if b"." in word:
                    hits.update(part for part in word.split(b".") if part in secrets)
            for value in sorted(hits):
                start = text.find(value.decode())
                found.append(
                    Finding(secrets[value], origin, _around(text, start, start + len(value)))
                )
            for odd, what in self.odd_secrets.items():
                start = text.find(odd)
                if start >= 0:
                    found.append(Finding(what, origin, _around(text, start, start + len(odd))))
        return found


def _around(text: str, start: int, end: int, margin: int = 60) -> str:
    return text[max(0, start - margin) : end + margin].replace("\n", " ")


# -- what the suite saw: harvesting credentials from requests and responses ---------------------


def harvest_json(scan: LogScan, body: object, where: str) -> None:
    if isinstance(body, dict):
        for key, value in body.items():
            if key in SECRET_FIELDS and isinstance(value, str) and _secret_like(key, value):
                scan.add_secret(value, f"the {key} of {where}")
            else:
                harvest_json(scan, value, where)
    elif isinstance(body, list):
        for value in body:
            harvest_json(scan, value, where)
    elif isinstance(body, str) and "?" in body and "=" in body:
        harvest_url(scan, body, where)


def harvest_url(scan: LogScan, url: str, where: str) -> None:
    parts = urlsplit(url)
    harvest_pairs(scan, parse_qsl(parts.query), where)
    harvest_pairs(scan, parse_qsl(parts.fragment), where)


def harvest_pairs(scan: LogScan, pairs: Iterable[tuple[str, str]], where: str) -> None:
    for key, value in pairs:
        if key in SECRET_FIELDS and _secret_like(key, value):
            scan.add_secret(value, f"the {key} of {where}")


def harvest_authorization(scan: LogScan, header: str | None, where: str) -> None:
    if not header:
        return
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        scan.add_secret(credentials.strip(), f"a bearer token of {where}")
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip()).decode()
        except ValueError:
            return
        password = decoded.partition(":")[2]
        if _secret_like("client_secret", password):
            scan.add_secret(password, f"an HTTP Basic password of {where}")


def harvest_body(scan: LogScan, body: bytes | str | None, content_type: str, where: str) -> None:
    if not body:
        return
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            harvest_json(scan, json.loads(body), where)
        except (ValueError, RecursionError):  # what a test sends to see it refused
            pass
    elif "x-www-form-urlencoded" in content_type or (not content_type and "=" in body):
        harvest_pairs(scan, parse_qsl(body), where)


def _secret_like(key: str, value: str) -> bool:
    """Error codes and enumerated values (``"code": "invalid_request"``, INSi's
    ``"code": "DESIR_560"``, docs/reference/insi-teleservice.md §6) are not secrets."""
    if key in ("pin", "new_pin", "current_pin", "password"):
        return True
    if re.fullmatch(r"[A-Z]+_\d{3}", value):
        return False
    return len(value) >= 8 and not re.fullmatch(r"[a-z_:.\s-]+", value)


def _harvest_werkzeug(scan: LogScan, response) -> None:
    where = "a test-client request"
    request = response.request
    if request is not None:
        environ = request.environ
        harvest_authorization(scan, environ.get("HTTP_AUTHORIZATION"), where)
        harvest_url(scan, "?" + environ.get("QUERY_STRING", ""), where)
        stream = environ.get("wsgi.input")
        try:
            if stream is not None and not stream.closed and stream.seekable():
                stream.seek(0)
                harvest_body(scan, stream.read(), environ.get("CONTENT_TYPE", ""), where)
        except (OSError, ValueError):
            pass
    location = response.headers.get("Location")
    if location:
        harvest_url(scan, location, "a test-client redirect")
    if response.is_sequence and "json" in (response.mimetype or ""):
        harvest_body(scan, response.get_data(), "application/json", "a test-client response")


def _harvest_requests(scan: LogScan, response, streamed: bool) -> None:
    for one in (*response.history, response):
        request = one.request
        harvest_authorization(scan, request.headers.get("Authorization"), "a requests call")
        harvest_url(scan, request.url, "a requests call")
        harvest_body(scan, request.body, request.headers.get("Content-Type", ""), "a requests call")
        location = one.headers.get("Location")
        if location:
            harvest_url(scan, location, "a redirect")
    if not streamed and "json" in response.headers.get("Content-Type", ""):
        try:
            harvest_json(scan, response.json(), "a response")
        except (ValueError, RecursionError):
            pass


def harvest_constants(scan: LogScan, test_dirs: Iterable[Path]) -> None:
    """The ``…SECRET``/``…PIN``/``…PASSWORD`` constants of every test module imported (a module
    under one of ``test_dirs``)."""
    test_dirs = tuple(test_dirs)
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not any(Path(path).is_relative_to(d) for d in test_dirs):
            continue
        for name, value in list(vars(module).items()):
            if not SECRET_CONSTANT.search(name):
                continue
            values = value if isinstance(value, tuple | list | frozenset | set) else (value,)
            for one in values:
                scan.add_secret(one, f"{module.__name__}.{name}")


def harvest_known(scan: LogScan) -> None:
    from santeid.admin.views import SANDBOX_DEMO_PASSWORD
    from santeid.civil_status.test_identities import TEST_IDENTITIES

    scan.add_secret(SANDBOX_DEMO_PASSWORD, "the demo admin password")
    for person in TEST_IDENTITIES:
        who = f"INSi test identity {person.birth_name}"
        scan.add_secret(person.birth_name, f"the birth name of the {who}")
        scan.add_secret(person.birth_name.title(), f"the birth name of the {who}")
        scan.add_secret(person.matricule, f"the INS of the {who}")
        scan.add_secret(f"{person.matricule}{person.key:02d}", f"the INS of the {who}")
        for old in person.history:
            scan.add_secret(old.matricule, f"an earlier INS of the {who}")


# -- santeid serve processes ------------------------------------------------------------------


def is_santeid_serve(args: object) -> bool:
    if isinstance(args, str | bytes) or not isinstance(args, list | tuple):
        return False
    words = [str(a) for a in args]
    for index, word in enumerate(words[:-1]):
        name = Path(word).name
        is_santeid = name == "santeid" or (
            name == "-m" and index > 0 and words[index + 1] == "santeid"
        )
        if is_santeid and "serve" in words[index + 1 :]:
            return True
    return False


# -- the plugin -------------------------------------------------------------------------------


class _Handler(logging.Handler):
    def __init__(self, plugin: LogScanPlugin) -> None:
        super().__init__(logging.DEBUG)
        from santeid.observability.logs import JsonFormatter

        self.setFormatter(JsonFormatter())
        self.plugin = plugin

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is not ours to fail on
            text = str(record.msg)
        self.plugin.scan.add_text(self.plugin.current, text)


class LogScanPlugin:
    def __init__(self, tests_dir: Path) -> None:
        self.scan = LogScan()
        self.test_dirs = {tests_dir}
        self.current = "the session's set-up"
        self.handler = _Handler(self)
        self._restore: list = []
        self._root_level: int | None = None

    # set-up and tear-down of the hooks ----------------------------------------------------------

    def install(self) -> None:
        root = logging.getLogger()
        self._root_level = root.level
        if root.getEffectiveLevel() > logging.INFO:
            root.setLevel(logging.INFO)
        root.addHandler(self.handler)
        self._patch_werkzeug()
        self._patch_requests()
        self._patch_popen()

    def uninstall(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        if self._root_level is not None:
            root.setLevel(self._root_level)
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()

    def _replace(self, owner, name: str, wrapper) -> None:
        self._restore.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrapper)

    def _patch_werkzeug(self) -> None:
        from werkzeug.test import Client

        original = Client.open
        scan = self.scan

        def open(client, *args, **kwargs):  # noqa: A001 - the method it wraps
            response = original(client, *args, **kwargs)
            _harvest_werkzeug(scan, response)
            return response

        self._replace(Client, "open", open)

    def _patch_requests(self) -> None:
        import requests

        original = requests.Session.send
        scan = self.scan

        def send(session, request, **kwargs):
            response = original(session, request, **kwargs)
            _harvest_requests(scan, response, bool(kwargs.get("stream")))
            return response

        self._replace(requests.Session, "send", send)

    def _patch_popen(self) -> None:
        original_init = subprocess.Popen.__init__
        original_communicate = subprocess.Popen.communicate
        plugin = self

        def init(process, args, *rest, **kwargs):
            original_init(process, args, *rest, **kwargs)
            if is_santeid_serve(args):
                process._log_scan_origin = f"santeid serve started by {plugin.current}"
                for stream in (kwargs.get("stdout"), kwargs.get("stderr")):
                    name = getattr(stream, "name", None)
                    if isinstance(name, str):
                        plugin.scan.add_file(Path(name), process._log_scan_origin)

        def communicate(process, *args, **kwargs):
            outputs = original_communicate(process, *args, **kwargs)
            origin = getattr(process, "_log_scan_origin", None)
            if origin is not None:
                for output in outputs:
                    if isinstance(output, bytes):
                        output = output.decode("utf-8", "replace")
                    if output:
                        plugin.scan.add_text(origin, output)
            return outputs

        self._replace(subprocess.Popen, "__init__", init)
        self._replace(subprocess.Popen, "communicate", communicate)

    # pytest hooks -------------------------------------------------------------------------------

    def pytest_collection_finish(self, session) -> None:
        self.test_dirs.update(Path(item.path).parent for item in session.items)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item) -> None:
        self.current = item.nodeid
        root = logging.getLogger()
        if self.handler not in root.handlers:  # an app set up JSON logging and replaced them
            root.addHandler(self.handler)
        if root.getEffectiveLevel() > logging.INFO:
            root.setLevel(logging.INFO)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item) -> None:
        self.scan.read_files()

    def scan_now(self) -> None:
        self.scan.read_files()
        harvest_constants(self.scan, self.test_dirs)
        harvest_known(self.scan)
        findings = self.scan.findings()
        if findings:
            shown = "\n".join(f"  {f}" for f in findings[:40])
            more = f"\n  … and {len(findings) - 40} more" if len(findings) > 40 else ""
            pytest.fail(
                f"{len(findings)} secret(s) found in the logs of this test run "
                f"(see tests/support/log_scan.py):\n{shown}{more}",
                pytrace=False,
            )


@pytest.fixture(scope="session", autouse=True)
def _scan_the_logs(request):
    """Set up before every other session fixture, so torn down after them: the logs of the
    servers they stop are read."""
    yield
    request.config.pluginmanager.get_plugin(PLUGIN_NAME).scan_now()


def pytest_configure(config) -> None:
    plugin = LogScanPlugin(Path(__file__).resolve().parent)
    plugin.install()
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    config.add_cleanup(plugin.uninstall)

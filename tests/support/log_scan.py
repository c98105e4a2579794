"""A pytest plugin that reads everything the test run logs and fails the run if a secret is in it.

Rule (docs/security.md, "Logs"): never a token, secret, PIN, code or identity trait in a log
line. This plugin checks it on every run of the suite instead of on one representative flow:

* **What is read.** Every logging record of the test process (the in-process apps), formatted
  as santeid's JSON log lines are, through a handler on the root logger, which is set to
  ``DEBUG`` (as ``log_level = "DEBUG"`` would) before each test — but the records of the
  tests' own clients and servers (``urllib3``, ``zeep``, ``selenium``, aiosmtpd's ``mail.log``:
  what they send and read); and the
  output of every real ``santeid serve`` process the tests start (``subprocess.Popen``, with
  ``subprocess.run``): the log file its standard output or error is written to, or what
  ``communicate()`` returns.
* **What is looked for.** Any JWT (``eyJ….….``); any NIR or NIA whose key verifies, with or
  without spaces; every value the suite saw the server issue or sent it as a credential —
  ``access_token``, ``refresh_token``, ``id_token``, ``code``, ``auth_req_id``,
  ``client_secret``, PINs, passwords, activation codes — read from the JSON bodies, redirect
  ``Location`` and ``Authorization`` headers of the requests made through the Flask/Werkzeug
  test client and ``requests`` (whose sessions authlib's clients are); the module-level
  ``…SECRET``/``…PIN``/``…PASSWORD`` constants of the test modules and the ``--pin`` of the
  commands they run (a PIN shorter than 6 digits only where it is named a PIN: ``pin=1234``);
  the demo admin password; the INS (matricule with and without its key) and birth names of the
  published INSi test identities (``santeid.civil_status.test_identities``); and the birth
  name, given names, birth date and INS of every identity sent to INSi or received from it
  (SOAP, REST and FHIR bodies, and every call of its core, ``InsiService``) — but a name that
  is an upper-case word of santeid's own log messages (``CPS``: ``santeid_log_words``).
* **When.** At the end of the session (each xdist worker scans what it ran): a session fixture's
  teardown, so a finding is an error of the last test, with where each value was found.

Fast on purpose: each log text is cut once into words (runs of letters, digits and ``_~.-``, and
their dot-separated parts) which are looked up in a set; only the few values with other
characters are searched as substrings.
"""

from __future__ import annotations

import ast
import base64
import functools
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
#: Members of INSi's REST and FHIR bodies (and FHIR search parameters) that hold a patient's
#: identity (docs/insi-rest.md, docs/insi-fhir.md): what each is.
IDENTITY_FIELDS = {
    "birthName": "birth name",
    "family": "birth name",
    "givenNames": "given name",
    "firstGivenName": "given name",
    "given": "given name",
    "birthDate": "birth date",
    "birthdate": "birth date",
    "matricule": "INS",
    "odMatricule": "INS",
    "individualMatricule": "INS",
    "value": "INS",
    "identifier": "INS",
}
#: The same traits in INSi's SOAP bodies, requests and answers (docs/reference/insi-teleservice.md
#: §4, §5): ``<NomNaissance>ADRTROIS</NomNaissance>``…
SOAP_IDENTITY = re.compile(
    r"<(?:[\w.-]+:)?(NomNaissance|Prenom|ListePrenom|DateNaissance|NumIdentifiant|MatriculeOD"
    r"|MatriculeIndividu)(?:\s[^>]*)?>([^<]+)</"
)
_SOAP_KINDS = {
    "NomNaissance": "birth name",
    "Prenom": "given name",
    "ListePrenom": "given name",
    "DateNaissance": "birth date",
}
#: Names are upper case in INSi's form; shorter ones (``BA``, ``SY``) would match ordinary words.
MIN_NAME_LENGTH = 3
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
#: Birth dates this recent are not looked for: the logs' own timestamps are dates of these days.
RECENT_DAYS = 2 * 366
#: A NIR or NIA (docs/reference/insi-teleservice.md §11): 13 characters and a 2-digit key, with
#: or without the spaces of its printed form (``2 97 02 2A 020 778 78``), not inside a longer
#: word or number; whether its key verifies decides (santeid.civil_status.nir.parse_matricule).
#: Written whole, it is one of the words the logs are cut into; with spaces, it is searched as
#: the shapes below once every digit is ``0`` and ``B`` is ``A`` (``bytes.find`` is many times
#: faster than a regular expression over the logs).
NIR_WORD = re.compile(rb"(?<![0-9A-Za-z])(?<!\d\.)\d{5}(?:\d\d|2[AB])\d{8}(?![0-9A-Za-z])(?!\.\d)")
_NIR_SHAPE = bytes.maketrans(b"0123456789B", b"0000000000A")
NIR_SHAPES = tuple(
    shape.replace(b"#", department)
    for shape in (b"0 00 00 # 000 000 00", b"00000#000000 00")
    for department in (b"00", b"0A")
)
_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
#: A value in a PIN's context, once lowered: ``pin=1234``, ``"pin": "1234"``, ``PIN 1234``,
#: ``--pin 1234``, ``new_pin=1234`` (not preceded by a letter: ``spin``).
PIN_CONTEXT = re.compile(r"pin[\"']?\s*[:=]?\s*[\"']?(\d{4,8})(?!\d)")
#: The loggers of the suite's own clients, which run at DEBUG in the test process too: what they
#: log is what the tests send and read (a callback's ``?code=``, the PIN typed in a page, the
#: cookies and page text a browser test reads through WebDriver), not what santeid logs; and
#: of the suite's own SMTP server (aiosmtpd's ``mail.log``: the messages santeid sends it, an
#: activation code among them, are what the tests receive). requests-oauthlib and oauthlib, a
#: relying party's library the tests drive (santeid imports neither), log at ``DEBUG`` the
#: tokens and the PKCE verifier they send and receive.
CLIENT_LOGGERS = ("urllib3", "zeep", "selenium", "mail", "requests_oauthlib", "oauthlib")
#: Fields whose values are PINs: looked for even when short, in a PIN's context.
PIN_FIELDS = frozenset({"pin", "new_pin", "current_pin"})
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
    #: PINs shorter than MIN_LENGTH: looked for in a PIN's context only
    short_pins: dict[str, str] = field(default_factory=dict)

    def add_secret(self, value: object, what: str) -> None:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        value = value.strip()
        target = self.secrets if WORD_ONLY.match(value) else self.odd_secrets
        target.setdefault(value, what)

    def add_pin(self, value: object, what: str) -> None:
        """A PIN: shorter than MIN_LENGTH, it is looked for in a PIN's context only."""
        if isinstance(value, str) and value.isdigit() and len(value) < MIN_LENGTH:
            self.short_pins.setdefault(value, what)
        else:
            self.add_secret(value, what)

    def add_identity(self, value: object, kind: str, where: str) -> None:
        """A patient's birth name, given name(s), birth date or INS seen in INSi's traffic."""
        if not isinstance(value, str):
            return
        value = value.strip()
        what = f"a {kind} of {where}"
        if kind == "birth date":
            if _old_enough(value):
                self.secrets.setdefault(value, what)
        elif kind == "INS":
            compact = value.replace(" ", "").rpartition("|")[2]
            if re.fullmatch(r"\d{5}(?:\d{2}|2[AB])\d{6}(?:\d{2})?", compact, re.I):
                self.secrets.setdefault(compact.upper(), what)
                self.secrets.setdefault(compact[:13].upper(), what)
        else:
            names = (value, *value.split()) if kind == "given name" else (value,)
            for name in names:
                # A name has a letter: digits alone (a fuzzer's given name "976") are in
                # every timestamp's milliseconds, no patient's name.
                if (
                    len(name) >= MIN_NAME_LENGTH
                    and name.upper() == name
                    and any(character.isalpha() for character in name)
                    and name not in santeid_log_words()
                ):
                    target = self.secrets if WORD_ONLY.match(name) else self.odd_secrets
                    target.setdefault(name, what)

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
            data = text.encode("utf-8", "replace")
            nirs = _spaced_nirs(data)
            for word in set(data.translate(_WORDS_ONLY).split()):
                if word in secrets:
                    hits.add(word)
                if b"." in word:
                    hits.update(part for part in word.split(b".") if part in secrets)
                if len(word) >= 15:
                    nirs.update(m.group() for m in NIR_WORD.finditer(word))
            for nir in sorted(nirs):
                if _valid_nir(nir.decode()):
                    start = data.find(nir)
                    around = data[max(0, start - 60) : start + len(nir) + 60]
                    around_text = around.decode("utf-8", "replace").replace("\n", " ")
                    found.append(Finding("a NIR or NIA", origin, around_text))
            for value in sorted(hits):
                start = text.find(value.decode())
                found.append(
                    Finding(secrets[value], origin, _around(text, start, start + len(value)))
                )
            for odd, what in self.odd_secrets.items():
                start = text.find(odd)
                if start >= 0:
                    found.append(Finding(what, origin, _around(text, start, start + len(odd))))
            if self.short_pins:
                lowered = text.lower()
                for match in PIN_CONTEXT.finditer(lowered):
                    what = self.short_pins.get(match.group(1))
                    start = match.start()
                    if what is not None and not (start and lowered[start - 1].isalpha()):
                        found.append(Finding(what, origin, _around(text, start, match.end())))
        return found


#: What santeid's logging calls are named (``log.info(message, …)``); ``log`` takes the level first.
_LOGGING_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
#: The upper-case words of a request line, which access records carry (``POST /token HTTP/1.1``).
REQUEST_LINE_WORDS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "HTTP"}
)
_UPPER_WORD = re.compile(r"(?<![\w-])[A-Z][A-Z'-]*[A-Z](?![\w-])")


@functools.cache
def santeid_log_words() -> frozenset[str]:
    """The upper-case words santeid writes in its own log messages (``CPS``, ``SANDBOX``…), the
    level names every log line carries and a request line's words: a "name" among them is not
    looked for. An INSi request drawn at random (tests/support/openapi_contracts.py) can send
    any upper-case word as a given name, and ``CPS`` is in every sandbox server's "no test CPS
    authority created yet"; no patient of the civil-status base is named by one of these words.
    The messages are read from their templates in ``src/santeid`` (the string constants of the
    first argument of every logging call), with the enumerated values santeid fills them with:
    PSC's ``authMode`` values, which are also the CIBA channels ("CIBA request for … (CARD,
    poll mode)"), and the reasons santeid raises its exceptions with, which a log line may
    carry ("authorization request refused (invalid_request_object): the request object is not
    a JWT" — a drawn given name "JWT" is no patient's): the string constants of the arguments
    of every ``raise``, technical words only (no name of a person is among them)."""
    import santeid
    from santeid.psc.proofs import AUTH_MODES

    words = set(logging.getLevelNamesMapping()) | REQUEST_LINE_WORDS | set(AUTH_MODES)
    for path in Path(santeid.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                reasons = [*node.exc.args, *(keyword.value for keyword in node.exc.keywords)]
                for reason in reasons:
                    for constant in ast.walk(reason):
                        if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                            words.update(_UPPER_WORD.findall(constant.value))
                continue
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            arguments = node.args[1:] if method == "log" else node.args
            if (method in _LOGGING_METHODS or method == "log") and arguments:
                for constant in ast.walk(arguments[0]):
                    if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                        words.update(_UPPER_WORD.findall(constant.value))
    return frozenset(word for word in words if len(word) >= MIN_NAME_LENGTH)


def _spaced_nirs(data: bytes) -> set[bytes]:
    """The NIRs or NIAs ``data`` holds with spaces, key not checked yet."""
    shapes = data.translate(_NIR_SHAPE)
    found = set()
    for shape in NIR_SHAPES:
        start = shapes.find(shape)
        while start >= 0:
            end = start + len(shape)
            if not _ALNUM.intersection(data[max(0, start - 1) : start] + data[end : end + 1]):
                found.add(data[start:end])
            start = shapes.find(shape, start + 1)
    return found


def _valid_nir(text: str) -> bool:
    """A NIR or NIA whose key verifies (or the published key of a test identity whose does not:
    docs/reference/insi-teleservice.md §9), the unconfirmed pseudo-months included."""
    from santeid.civil_status.nir import MatriculeError
    from santeid.civil_status.nir import parse_matricule
    from santeid.civil_status.test_identities import UNVERIFIED_KEYS

    try:
        parse_matricule(text, strict=False, published_keys=UNVERIFIED_KEYS)
    except MatriculeError:
        return False
    return True


def _old_enough(value: str) -> bool:
    from datetime import date
    from datetime import timedelta

    match = ISO_DATE.fullmatch(value)
    if not match:
        return False
    try:
        born = date(*map(int, match.groups()))
    except ValueError:
        return False
    return born < date.today() - timedelta(days=RECENT_DAYS)


def _around(text: str, start: int, end: int, margin: int = 60) -> str:
    return text[max(0, start - margin) : end + margin].replace("\n", " ")


# -- what the suite saw: harvesting credentials from requests and responses ---------------------


def harvest_json(scan: LogScan, body: object, where: str) -> None:
    if isinstance(body, dict):
        for key, value in body.items():
            if key in PIN_FIELDS:
                scan.add_pin(value, f"the {key} of {where}")
            elif key in SECRET_FIELDS and isinstance(value, str) and _secret_like(key, value):
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
    if is_insi(url):
        for key, value in parse_qsl(parts.query):
            if key in IDENTITY_FIELDS:
                scan.add_identity(value.removeprefix("eq"), IDENTITY_FIELDS[key], where)


def is_insi(url: str) -> bool:
    """A request to one of INSi's channels (``/insi/soap``, ``/insi/v1``, ``/insi/fhir``)."""
    return urlsplit(url).path.startswith("/insi/")


def harvest_identities(scan: LogScan, body: object, where: str) -> None:
    """The patients' traits and INS of an INSi REST or FHIR body, a request or an answer."""
    if isinstance(body, dict):
        name = body.get("name")
        if isinstance(name, str) and name in IDENTITY_FIELDS:  # a FHIR Parameters' parameter
            for key, value in body.items():
                if key.startswith("value"):
                    scan.add_identity(value, IDENTITY_FIELDS[name], where)
        if "given-name" in str(body.get("url", "")):  # FR Core's birth list of given names
            scan.add_identity(body.get("valueString"), "given name", where)
        for key, value in body.items():
            kind = IDENTITY_FIELDS.get(key)
            values = value if isinstance(value, list) else [value]
            if kind is not None and all(isinstance(one, str) for one in values):
                for one in values:
                    scan.add_identity(one, kind, where)
            else:
                harvest_identities(scan, value, where)
    elif isinstance(body, list):
        for value in body:
            harvest_identities(scan, value, where)


def harvest_insi_body(scan: LogScan, body: bytes | str | None, content_type: str, where: str):
    """The identities of an INSi body: SOAP's elements, REST's and FHIR's JSON members."""
    if not body:
        return
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if "xml" in content_type or body.lstrip().startswith("<"):
        for element, value in SOAP_IDENTITY.findall(body):
            scan.add_identity(value, _SOAP_KINDS.get(element, "INS"), where)
    elif "json" in content_type:
        try:
            harvest_identities(scan, json.loads(body), where)
        except (ValueError, RecursionError):
            pass
    elif "x-www-form-urlencoded" in content_type:
        harvest_url(scan, "/insi/?" + body, where)


def harvest_insi_call(scan: LogScan, query, result) -> None:
    """What santeid's INSi core was asked (``TraitsQuery``, ``VitaleQuery``, ``VerifyQuery``) and
    answered (an ``Identity``): the calls of every channel, and the tests' own calls of the core
    with persons of the civil-status base."""
    where = "an INSi call"
    traits = getattr(query, "traits", query)
    for source in (query, traits, getattr(result, "identity", None)):
        if source is None:
            continue
        scan.add_identity(getattr(source, "birth_name", None), "birth name", where)
        scan.add_identity(getattr(source, "birth_date", None), "birth date", where)
        for name in getattr(source, "given_names", None) or ():
            scan.add_identity(name, "given name", where)
        for attribute in ("matricule", "od_matricule", "individual_matricule", "value"):
            scan.add_identity(getattr(source, attribute, None), "INS", where)
        for entry in getattr(source, "history", ()):
            scan.add_identity(entry.value, "INS", where)


def harvest_pairs(scan: LogScan, pairs: Iterable[tuple[str, str]], where: str) -> None:
    for key, value in pairs:
        if key in PIN_FIELDS:
            scan.add_pin(value, f"the {key} of {where}")
        elif key in SECRET_FIELDS and _secret_like(key, value):
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
        path = environ.get("PATH_INFO", "")
        harvest_url(scan, f"{path}?{environ.get('QUERY_STRING', '')}", where)
        stream = environ.get("wsgi.input")
        try:
            if stream is not None and not stream.closed and stream.seekable():
                stream.seek(0)
                body, content_type = stream.read(), environ.get("CONTENT_TYPE", "")
                harvest_body(scan, body, content_type, where)
                if is_insi(path):
                    harvest_insi_body(scan, body, content_type, where)
        except (OSError, ValueError):
            pass
        if is_insi(path) and response.is_sequence:
            harvest_insi_body(scan, response.get_data(), response.mimetype or "", where)
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
        content_type = request.headers.get("Content-Type", "")
        harvest_body(scan, request.body, content_type, "a requests call")
        if is_insi(request.url):
            harvest_insi_body(scan, request.body, content_type, "a requests call")
        location = one.headers.get("Location")
        if location:
            harvest_url(scan, location, "a redirect")
    if not streamed and "json" in response.headers.get("Content-Type", ""):
        try:
            harvest_json(scan, response.json(), "a response")
        except (ValueError, RecursionError):
            pass
    if not streamed and is_insi(response.request.url):
        content_type = response.headers.get("Content-Type", "")
        harvest_insi_body(scan, response.content, content_type, "an INSi response")


def harvest_args(scan: LogScan, args: object, where: str) -> None:
    """The PIN of a command's ``--pin`` (``santeid device enroll --pin 1234``)."""
    if not isinstance(args, list | tuple):
        return
    words = [str(a) for a in args]
    for name, value in zip(words, words[1:], strict=False):
        if name in ("--pin", "--new-pin"):
            scan.add_pin(value, f"the {name} of {where}")
    for word in words:
        if word.startswith(("--pin=", "--new-pin=")):
            name, _, value = word.partition("=")
            scan.add_pin(value, f"the {name} of {where}")


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
                if re.search(r"PINS?$", name):
                    scan.add_pin(one, f"{module.__name__}.{name}")
                else:
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
        if record.name.partition(".")[0] in CLIENT_LOGGERS:
            return
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
        root.setLevel(logging.DEBUG)
        root.addHandler(self.handler)
        self._patch_werkzeug()
        self._patch_requests()
        self._patch_popen()
        self._patch_insi()
        self._patch_cli()

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

    def _patch_insi(self) -> None:
        from santeid.insi.service import InsiService

        scan = self.scan

        def wrap(name: str):
            original = getattr(InsiService, name)

            def call(service, query, *args, **kwargs):
                result = None
                try:
                    result = original(service, query, *args, **kwargs)
                    return result
                finally:
                    harvest_insi_call(scan, query, result)

            return call

        for name in ("search_by_traits", "search_by_vitale", "verify"):
            self._replace(InsiService, name, wrap(name))

    def _patch_cli(self) -> None:
        from click.testing import CliRunner

        original = CliRunner.invoke
        scan = self.scan

        def invoke(runner, cli, args=None, *rest, **kwargs):
            harvest_args(scan, args, "a command")
            return original(runner, cli, args, *rest, **kwargs)

        self._replace(CliRunner, "invoke", invoke)

    def _patch_popen(self) -> None:
        original_init = subprocess.Popen.__init__
        original_communicate = subprocess.Popen.communicate
        plugin = self

        def init(process, args, *rest, **kwargs):
            original_init(process, args, *rest, **kwargs)
            harvest_args(plugin.scan, args, "a command")
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
        root.setLevel(logging.DEBUG)  # an app set up its log_level

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

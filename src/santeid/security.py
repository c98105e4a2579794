"""Request hygiene shared by every page and endpoint: CSRF tokens, parameter size limits,
security headers, the cookie policy, and malformed requests refused before any endpoint (a
``Host`` that is not a host name, undecodable ``Basic`` credentials, JSON nested beyond reason)
so that they get a clear error, never a 500. And the secret that signs the session cookie:
refused when anyone could know it (:func:`check_secret_key`), or made and kept in the data
directory (:func:`load_secret_key`)."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import os
import re
import secrets
from typing import TYPE_CHECKING

from flask import Request
from flask import has_request_context
from flask import request
from flask import session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import BadRequest

from santeid.observability import metrics
from santeid.services import services
from santeid.serving import MAX_BUFFERED_BODY
from santeid.settings import ConfigurationError

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

    from santeid.settings import Settings

#: Endpoint names added here answer ``json-oauth`` errors. Kept for code that registers
#: endpoints this way; a blueprint declares its format with ``santeid.error_formats.declare``.
API_ENDPOINTS: set[str] = set()


def wants_json() -> bool:
    """Whether the API being called answers errors in JSON (``santeid.error_formats``)."""
    from santeid import error_formats

    return error_formats.for_request().is_json


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


class CsrfError(Exception):
    """A form was posted without the token of this browser's session."""


def check_csrf() -> None:
    expected = session.get("csrf")
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfError()


class ParameterTooLarge(Exception):
    """A request parameter over a limit: by default ``max_parameter_length`` bytes; ``message``
    says which other limit (the values of a FHIR search parameter, ``santeid.fhir``)."""

    def __init__(self, name: str, limit: int, message: str | None = None):
        super().__init__(message or f"parameter {name!r} exceeds {limit} bytes")
        self.name = name
        self.limit = limit


def check_parameter_size(params: MultiDict) -> None:
    """Raise :class:`ParameterTooLarge` for a parameter name or value over
    ``max_parameter_length`` bytes: the rule of every request's query and form
    (:func:`limit_parameter_size`) and of the authorization requests a scripted login follows
    (``santeid.sandbox.logins``, docs/sandbox.md: the same rules as a browser)."""
    limit = services().settings.http.max_parameter_length
    for name, value in params.items(multi=True):
        if len(name) > limit or len(value.encode("utf-8", "surrogatepass")) > limit:
            raise ParameterTooLarge(name[:64], limit)


def limit_parameter_size() -> None:
    """Refuse any query or form parameter over ``max_parameter_length`` bytes (400)."""
    check_parameter_size(request.args)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        check_parameter_size(request.form)


#: Headers every response carries unless its view set its own.
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
#: And every HTML page.
HTML_SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self' *",
    ),
    ("Cache-Control", "no-store"),
)


def add_security_headers(response):
    headers = response.headers
    # The names the view set, read once: Werkzeug's ``setdefault`` searched the list three
    # times and raised a KeyError for each header missing (docs/performance.md, "Levers of the
    # code flow"). Absent names are appended, in this order, as ``setdefault`` appended them.
    present = {name.lower() for name in headers.keys()}
    defaults = SECURITY_HEADERS
    if response.mimetype == "text/html":
        defaults += HTML_SECURITY_HEADERS
    # (The INSi fast path adds these headers outside any request context: API clients, which
    # HSTS does not concern.)
    if has_request_context() and request.scheme == "https" and not _is_loopback(request.host):
        # RFC 6797: browsers keep to HTTPS for this host. Not on loopback names, where it
        # would also bind the plain-HTTP listener of a development server (HSTS ignores ports).
        max_age = services().settings.http.hsts_max_age
        if max_age > 0:
            defaults += (("Strict-Transport-Security", f"max-age={max_age}"),)
    for name, value in defaults:
        if name.lower() not in present:
            headers.add(name, value)
    if services().settings.sandbox.enabled:
        # Visible to programs too: a sandbox must never be mistaken for production.
        headers["X-Santeid-Sandbox"] = "true"
    return response


#: Significant digits a whole number read from a request may have: every count, rank, limit
#: or duration santeid reads fits, and so does every value in a 64-bit SQL ``INTEGER``.
MAX_WHOLE_NUMBER_DIGITS = 18


def whole_number(text: str | None, *, max_digits: int = MAX_WHOLE_NUMBER_DIGITS) -> int | None:
    """The one reading of a whole number a client wrote (a query parameter, a path segment, an
    XML element): ASCII digits only, at most ``max_digits`` of them after the leading zeros;
    ``None`` for anything else, which the caller refuses in its own protocol's words.

    ``int()`` alone would accept a sign, spaces, ``_`` and the digits of other scripts
    (``"١٢"``), raise ``ValueError`` on some characters that ``str.isdigit()`` accepts (``"²"``)
    and on more than ``sys.get_int_max_str_digits()`` digits (4300): an unplanned 500 for the
    caller who checked ``isdigit()`` first."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    significant = text.lstrip("0")
    if len(significant) > max_digits:
        return None
    return int(significant or "0")


#: Deepest JSON nesting a request body may have (none of santeid's APIs goes past 10).
MAX_JSON_DEPTH = 64


def loads_untrusted_json(raw: bytes | str):
    """``json.loads`` of bytes a client chose (a body, a JWT segment read before its signature
    is checked): JSON nested deeper than Python can parse is a ``ValueError`` like any other
    malformed JSON, never a ``RecursionError`` that would escape as a 500."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class HygienicRequest(Request):
    """Flask's request, where JSON nested deeper than Python can parse is a malformed body
    (400, or ``None`` with ``silent=True``) rather than a ``RecursionError``."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BadRequest("the JSON body is nested too deeply") from None


#: A host name as HTTP carries it (RFC 9110 §7.2, RFC 3986 §3.2.2 ``reg-name``, ASCII: an
#: internationalised name travels as its ``xn--`` form).
_HOST_NAME = re.compile(r"[A-Za-z0-9._~-]*")


def _host_is_valid(host: str) -> bool:
    """Whether a ``Host`` value is a host name or address (with an optional port) that URL
    building can use: IDNA-encodable, labels of 63 characters at most (RFC 1035 §2.3.4)."""
    if host.startswith("["):
        address, _, rest = host[1:].partition("]")
        return bool(address) and (rest == "" or (rest[:1] == ":" and rest[1:].isdigit()))
    name, _, port = host.partition(":")
    if (port and not port.isdigit()) or not _HOST_NAME.fullmatch(name):
        return False
    try:
        name.encode("idna").decode("idna")  # also a valid xn-- (punycode) label
    except UnicodeError:
        return False
    return True


def _basic_is_decodable(authorization: str) -> bool:
    """False only for ``Basic`` credentials that are base64 but not UTF-8 text, on which
    Authlib's client authentication fails; anything else malformed the endpoints refuse
    themselves."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return True
    try:
        raw = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class MalformedRequests:
    """WSGI middleware: a ``Host`` header URL building would choke on is refused (400 JSON);
    ``Authorization`` loses surrounding blanks, and ``Basic`` credentials that are base64 but
    not UTF-8 are no credentials (the endpoint then answers as without any: ``401
    invalid_client``)."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if host is not None and not _host_is_valid(host):
            metrics.refused("malformed_host")
            body = json.dumps(
                {"error": "invalid_request", "error_description": "malformed Host header"}
            ).encode()
            start_response("400 Bad Request", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            ])  # fmt: skip
            return [body]
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization is not None:
            # A scheme alone ("Bearer ") is one word: Authlib would split it in two and fail.
            authorization = authorization.strip()
            if not authorization or not _basic_is_decodable(authorization):
                del environ["HTTP_AUTHORIZATION"]
            else:
                environ["HTTP_AUTHORIZATION"] = authorization
        return self.app(environ, start_response)


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class SessionOverHttps(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` whenever the request came over HTTPS, whatever
    ``cookie_secure`` says for the issuer (the HTTPS listener of a server whose issuer is
    plain HTTP, as ``make run``'s)."""

    def __init__(self) -> None:
        #: ``(keys, serializer)``: the serializer Flask builds for these keys, kept.
        self._signing: tuple[tuple, URLSafeTimedSerializer] | None = None

    def get_cookie_secure(self, app) -> bool:
        return bool(super().get_cookie_secure(app)) or (
            has_request_context() and request.scheme == "https"
        )

    def get_signing_serializer(self, app) -> URLSafeTimedSerializer | None:
        """Flask's serializer, built once per secret key (and its fallbacks) instead of for
        every request that carries or sets the cookie: building it serialises an empty dict to
        learn that the format is text, about a third of reading a cookie (docs/performance.md,
        "Levers of the code flow"). It holds no per-request state, so threads share it."""
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        signing = self._signing
        if signing is None or signing[0] != keys:
            serializer = super().get_signing_serializer(app)
            assert serializer is not None  # a secret key is set
            signing = self._signing = (keys, serializer)
        return signing[1]

    def open_session(self, app, request):
        """Flask's, without building the cookie's signing serializer when the request carries
        no session cookie — an empty session either way. API requests (token, CIBA, userinfo)
        carry none, and building the serializer was about a tenth of Flask's own cost per
        request (docs/performance.md, "Levers"). Saving an empty session needs no serializer
        either (Flask's ``save_session`` returns first)."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    app.request_class = HygienicRequest
    app.session_interface = SessionOverHttps()
    app.config.update(
        SESSION_COOKIE_NAME="santeid_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # Bodies beyond this are refused by Werkzeug with 413 before any parsing; the server
        # layouts never receive them (santeid.serving).
        MAX_CONTENT_LENGTH=MAX_BUFFERED_BODY,
    )
    app.before_request(limit_parameter_size)
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token


# -- the session-signing secret -------------------------------------------------------------

#: How the secrets of example configurations begin (``SANTEID_SECRET_KEY: change-me-…``).
PLACEHOLDER_PREFIX = "change-me"
#: Fewest bytes of a configured ``secret_key`` outside sandbox mode: 256 bits, the size of the
#: HMAC-SHA256 key it becomes (RFC 2104 §3 recommends at least the hash's output length).
MIN_SECRET_KEY_BYTES = 32


def check_secret_key(settings: Settings) -> None:
    """Refuse (:class:`ConfigurationError`) a configured ``secret_key`` anyone could know
    outside sandbox mode: an example's placeholder, or fewer than
    :data:`MIN_SECRET_KEY_BYTES` bytes. Whoever knows it signs session cookies, the admin
    console's included (docs/security.md, "Browser"). Checked when the application is built,
    not when the settings are read: ``santeid serve --sandbox`` turns sandbox mode on after
    reading them, and the commands that never use the secret need not refuse it."""
    value = settings.secret_key
    if not value or settings.sandbox.enabled:
        return
    if value.strip().lower().startswith(PLACEHOLDER_PREFIX):
        problem = f"is the placeholder of an example configuration ({PLACEHOLDER_PREFIX}…)"
    elif len(value.encode()) < MIN_SECRET_KEY_BYTES:
        problem = f"is shorter than {MIN_SECRET_KEY_BYTES} bytes"
    else:
        return
    raise ConfigurationError(
        f"secret_key (SANTEID_SECRET_KEY) {problem}: anyone who can guess it signs session "
        "cookies, the admin console's included. Set a random value of "
        f"{MIN_SECRET_KEY_BYTES} bytes or more, the same on every host (python3 -c 'import "
        "secrets; print(secrets.token_urlsafe(48))'), or leave it empty for one host: a random "
        "secret is then kept in {data_dir}/secret_key. Sandbox mode accepts any value."
    )


def load_secret_key(settings: Settings) -> str:
    """The session-signing secret: configured, or random and kept in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value

"""Request hygiene shared by every page and endpoint: CSRF tokens, parameter size limits,
security headers, the cookies and their policy, and malformed requests refused before any
endpoint (a ``Host`` that is not a host name, undecodable ``Basic`` credentials, JSON nested
beyond reason) so that they get a clear error, never a 500. And the secret that signs the
cookies: refused when anyone could know it (:func:`check_secret_key`), or made and kept in the
data directory (:func:`load_secret_key`).

The browser holds four cookies of santeid's, each signed with that secret (``santeid_restart``
encrypted under it), ``HttpOnly``, on
``/``, kept until the browser closes (docs/configuration.md, "Cookies"):

* ``santeid_identity`` (:data:`IDENTITY`): the SSO session, Keycloak's ``KEYCLOAK_IDENTITY``;
* ``santeid_auth_session`` (:data:`AUTH_SESSION`): the browser's id, to which login
  transactions are bound, and the logout confirmation's CSRF token, Keycloak's
  ``AUTH_SESSION_ID``;
* ``santeid_restart`` (:data:`RESTART`): the browser's latest login not yet ended, to start it
  again once its transaction has expired, Keycloak's ``KC_RESTART``;
* ``santeid_session`` (Flask's session): the CSRF token of every other form (the login pages,
  the admin console, the e-CPS pages, the sandbox debugger), the admin console's session and
  the e-CPS devices page's own login.

The first three are ``SameSite=None`` whenever they are ``Secure``, as Keycloak's
``CookieScope.FEDERATION`` cookies: a relying party may send the authorization and logout
requests as cross-site form POSTs (OIDC Core §3.1.2.1,
https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest; RP-Initiated Logout 1.0 §2,
https://openid.net/specs/openid-connect-rpinitiated-1_0.html), which must see the SSO session.
A cookie that is not ``Secure`` cannot be ``None`` (browsers drop it): they are then ``Lax``,
as Keycloak makes them in a non-secure context (``DefaultCookieProvider.set``,
docs/reference/keycloak-behaviour.md, "Cookies").
``santeid_session`` is always ``Lax``: no cross-site POST carries the admin console's session
or the token of santeid's own forms, and the answers to a relying party's POST (authorization,
logout) do not write it: they would replace the cookie the browser did not send.

A fifth one, ``santeid_session_state`` (:data:`SESSION_STATE`), is neither signed nor
``HttpOnly``, on purpose: the session-status iframe's script reads it (OpenID Connect Session
Management 1.0 §3.2, https://openid.net/specs/openid-connect-session-1_0.html#OPiframe), as
Keycloak's ``KEYCLOAK_SESSION``. It holds the SHA-256 of the ``session_state`` the relying
parties already know (:func:`session_state_digest`), never the signed ``santeid_identity``:
a script that reads it learns nothing it could act on the session with. Same ``Secure`` and
``SameSite`` as the first two; it lasts as long as the SSO session may
(docs/reference/keycloak-behaviour.md, "Session status iframe").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlencode

from flask import Request
from flask import current_app
from flask import has_request_context
from flask import redirect
from flask import request
from flask import session
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.sansio.utils import get_host

from santeid.cache_control import NO_STORE
from santeid.observability import metrics
from santeid.services import services
from santeid.serving import MAX_BUFFERED_BODY
from santeid.settings import ConfigurationError
from santeid.untrusted_json import DuplicateMember
from santeid.untrusted_json import loads_untrusted_json

if TYPE_CHECKING:
    from collections.abc import Iterable

    from werkzeug.datastructures import MultiDict

    from santeid.settings import Settings

#: Endpoint names added here answer ``json-oauth`` errors. Kept for code that registers
#: endpoints this way; a blueprint declares its format with ``santeid.error_formats.declare``.
API_ENDPOINTS: set[str] = set()


def csrf_token() -> str:
    """The CSRF token of santeid's forms, kept in ``santeid_session`` (``SameSite=Lax``)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def cross_site_csrf_token() -> str:
    """The CSRF token of a form on a page shown to a cross-site POST — the logout
    confirmation, which a relying party's form POST brings up —, kept in
    ``santeid_auth_session``: that request carried it, so the page replaces no cookie the
    browser holds. Keycloak's confirmation carries a code of its authentication session in the
    same way (``LogoutEndpoint.logoutConfirmAction``)."""
    return AUTH_SESSION.token(_CSRF)


class CsrfError(Exception):
    """A form was posted without the token of this browser's session."""


def check_csrf(*, cross_site: bool = False) -> None:
    """The form's ``csrf_token`` is this browser's (:func:`csrf_token`, or with ``cross_site``
    :func:`cross_site_csrf_token`), compared in constant time; else :class:`CsrfError`."""
    expected = AUTH_SESSION.get().get(_CSRF) if cross_site else session.get("csrf")
    given = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not expected:
        raise CsrfError()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfError()


# -- the cross-site cookies -------------------------------------------------------------------


#: Room kept in a cookie's header for its attributes (``Path``, ``Domain``, ``Secure``,
#: ``HttpOnly``, ``SameSite``) by :meth:`CrossSiteCookie.fits`.
_ATTRIBUTES_ROOM = 200


#: How many cookies of one name a request is read for, at most: Keycloak's
#: ``AuthenticationSessionManager.AUTH_SESSION_COOKIE_LIMIT`` (:func:`carried_values`).
COOKIE_VALUES_READ = 3


def carried_values(cookies: MultiDict, name: str) -> list[str]:
    """The non-empty values of the cookies named ``name`` a request carries (``cookies``), in
    the order the browser sent them, at most :data:`COOKIE_VALUES_READ`. A browser sends one
    cookie per path and domain it holds under a name, the longest path first (RFC 6265 §5.4,
    https://datatracker.ietf.org/doc/html/rfc6265#section-5.4): one that is not santeid's — of
    another application on the same host or a parent domain, on a longer path — comes before
    santeid's own, on ``/``. Reading only the first, santeid took the browser for one without
    the cookie at every request and wrote it a new one, which the other still hid: a login
    begun was then "ouverte dans un autre navigateur". Keycloak's
    ``AuthenticationSessionManager.getAuthSessionCookies`` read each ``AUTH_SESSION_ID`` it was
    sent and kept the first that named a session, and ``CookiesPathTest`` logs a browser in
    past one of another path (docs/reference/keycloak-behaviour.md, "Cookies: ``CookieTest``
    and ``CookiesPathTest``, method by method")."""
    values = [value for value in cookies.getlist(name) if value]
    return values[:COOKIE_VALUES_READ]


def first_signed(values: list[str], loads: Callable[[str], object]) -> dict | None:
    """The first of a request's cookie ``values`` (:func:`carried_values`) that ``loads``
    verifies (a signature of santeid's, within its age) and that holds a JSON object; None
    when none does."""
    for raw in values:
        try:
            loaded = loads(raw)
        except BadSignature:
            continue
        if isinstance(loaded, dict):
            return loaded
    return None


class CrossSiteCookie:
    """A signed cookie of santeid's (a JSON object) that goes with cross-site requests when it
    can: ``SameSite=None`` when ``Secure``, else ``Lax`` — Keycloak's ``CookieScope.FEDERATION``
    and its fallback in a non-secure context. ``Secure`` as ``santeid_session``
    (:class:`SessionOverHttps`: ``cookie_secure``, and always on a response over HTTPS).
    Read once per request; what a request sets or expires is written on its response
    (:func:`write_cross_site_cookies`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._salt = f"santeid.{name}"
        #: ``(keys, serializer)``: the serializer for these keys, kept (one HMAC per read).
        self._signing: tuple[tuple, Any] | None = None

    def _make_serializer(self, keys: tuple) -> Any:
        """What signs and checks the value (``dumps``/``loads``) under ``keys``, the current
        secret last."""
        return URLSafeSerializer(
            list(keys),
            salt=self._salt,
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
        )

    def _serializer(self, app) -> Any:
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        signing = self._signing
        if signing is None or signing[0] != keys:
            signing = self._signing = (keys, self._make_serializer(keys))
        return signing[1]

    def signed(self, value: dict) -> str:
        return self._serializer(current_app).dumps(value)

    def set_if_fits(self, value: dict) -> bool:
        """:meth:`set` ``value`` if, signed, it fits in one cookie a browser keeps: RFC 6265
        §6.1 asks browsers for at least 4096 bytes per cookie, name, value and attributes
        together — Flask's ``MAX_COOKIE_SIZE``, past which Werkzeug warns and browsers may
        drop it (https://datatracker.ietf.org/doc/html/rfc6265#section-6.1). The text signed to
        measure it is the one written, unless the value changes again."""
        text = self.signed(value)
        limit: int = current_app.config["MAX_COOKIE_SIZE"]
        if len(self.name) + 1 + len(text) + _ATTRIBUTES_ROOM > limit:
            return False
        self.set(value)
        _cookie_state().signed[self] = (dict(value), text)
        return True

    def get(self) -> dict:
        """The value this request carries (or set), ``{}`` without one or with one that is not
        santeid's (bad signature, another secret). Of several cookies of this name, the first
        that is santeid's (:func:`carried_values`)."""
        state = _cookie_state()
        if self.name not in state.values:
            value: dict | None = None
            if current_app.secret_key:
                values = carried_values(request.cookies, self.name)
                value = first_signed(values, lambda raw: self._serializer(current_app).loads(raw))
            state.values[self.name] = value or {}
        return dict(state.values[self.name])

    def set(self, value: dict) -> None:
        state = _cookie_state()
        state.values[self.name] = dict(value)
        state.changes[self] = dict(value)

    def token(self, key: str) -> str:
        """The random value kept under ``key``, made at first use."""
        value = self.get()
        token = value.get(key)
        if not isinstance(token, str) or not token:
            token = secrets.token_urlsafe(32)
            self.set({**value, key: token})
        return token

    def expire(self) -> None:
        """The browser forgets the cookie — if the request carried it: a cookie the browser did
        not send is left alone, as Keycloak's ``DefaultCookieProvider.expire`` does."""
        state = _cookie_state()
        state.values[self.name] = {}
        if self.name in request.cookies:
            state.changes[self] = None
        else:
            state.changes.pop(self, None)


class _CookieState:
    """What one request read of the cross-site cookies, and what it changed."""

    def __init__(self) -> None:
        #: Cookie name → its value in this request.
        self.values: dict[str, dict] = {}
        #: Cookie → the value to write, or None to expire it.
        self.changes: dict[CrossSiteCookie, dict | None] = {}
        #: Cookie → ``(value, text)``: the value already signed (:meth:`CrossSiteCookie.
        #: set_if_fits`), written as it is while the value to write is still that one.
        self.signed: dict[CrossSiteCookie, tuple[dict, str]] = {}
        #: :data:`SESSION_STATE`'s ``(value, max_age)`` to write, or None to expire it.
        self.session_state: tuple[str, int] | None = None
        self.session_state_changed = False


def _request_attributes() -> dict:
    # The request object's own, not ``g``: a request context pushed inside another one (the
    # sandbox's scripted logins, a browser of their own) shares the outer one's ``g``.
    current: Request = request._get_current_object()  # type: ignore[attr-defined]
    return current.__dict__


def _cookie_state() -> _CookieState:
    state = _request_attributes().setdefault("santeid_cookies", _CookieState())
    assert isinstance(state, _CookieState)
    return state


class _Sealing:
    """``dumps``/``loads`` of an encrypted and authenticated JSON object: zlib-compressed (as
    itsdangerous compresses), then Fernet (AES-128-CBC and HMAC-SHA256,
    https://github.com/fernet/spec/blob/master/Spec.md) under a key derived from each secret
    by HKDF-SHA256 (RFC 5869) bound to the cookie's name; the current secret seals, the
    fallbacks still open. A value that does not open raises ``BadSignature``."""

    def __init__(self, keys: tuple, info: bytes) -> None:
        from cryptography.fernet import Fernet
        from cryptography.fernet import MultiFernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        def fernet(secret) -> Fernet:
            material = secret.encode() if isinstance(secret, str) else bytes(secret)
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
            return Fernet(base64.urlsafe_b64encode(derived.derive(material)))

        # The current secret (last of ``keys``) first: MultiFernet seals with the first.
        self._fernet = MultiFernet([fernet(key) for key in reversed(keys)])

    def dumps(self, value: dict) -> str:
        packed = zlib.compress(json.dumps(value, separators=(",", ":")).encode())
        return self._fernet.encrypt(packed).decode("ascii")

    def loads(self, raw: str):
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(zlib.decompress(self._fernet.decrypt(raw.encode("ascii"))))
        except (InvalidToken, UnicodeEncodeError, zlib.error, ValueError) as exc:
            raise BadSignature("not a sealed santeid value") from exc


class SealedCrossSiteCookie(CrossSiteCookie):
    """A :class:`CrossSiteCookie` whose content the browser cannot read: for what did not come
    from the browser (a pushed authorization request's parameters, its ``login_hint``)."""

    def _make_serializer(self, keys: tuple) -> _Sealing:
        return _Sealing(keys, self._salt.encode())


#: The SSO session the browser is logged in to (``sid``): Keycloak's ``KEYCLOAK_IDENTITY``.
IDENTITY = CrossSiteCookie("santeid_identity")
#: The browser's id (``bid``) and the logout confirmation's CSRF token: Keycloak's
#: ``AUTH_SESSION_ID``.
AUTH_SESSION = CrossSiteCookie("santeid_auth_session")
#: The browser's latest login not yet ended (its transaction id and authorization request),
#: to start it again after its transaction expired: Keycloak's ``KC_RESTART``
#: (``santeid.login.transactions``). A cookie of its own: a request too large for a cookie
#: loses only the restart, never the browser's id. Encrypted, as Keycloak encrypts
#: ``KC_RESTART``: a pushed request's parameters never went through the browser.
RESTART = SealedCrossSiteCookie("santeid_restart")
#: Their keys.
_BROWSER_ID = "bid"
_CSRF = "csrf"
#: The SSO session as the session-status iframe's script sees it: Keycloak's
#: ``KEYCLOAK_SESSION`` (the module docstring).
SESSION_STATE = "santeid_session_state"


def session_state_digest(session_state: str) -> str:
    """What :data:`SESSION_STATE` holds for the SSO session ``session_state``: its SHA-256,
    base64url without padding — Keycloak's ``sha256UrlEncodedHash(session.getId())``
    (docs/reference/keycloak-behaviour.md, "Session status iframe"), which the iframe's script
    computes again from what the relying party posts it."""
    digest = hashlib.sha256(session_state.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def show_session_state(session_state: str, max_age: int) -> None:
    """The browser's :data:`SESSION_STATE` names ``session_state`` for ``max_age`` seconds."""
    state = _cookie_state()
    state.session_state = (session_state_digest(session_state), max(1, int(max_age)))
    state.session_state_changed = True


def hide_session_state() -> None:
    """The browser forgets :data:`SESSION_STATE` — if the request carried it, as
    :meth:`CrossSiteCookie.expire`."""
    state = _cookie_state()
    state.session_state = None
    state.session_state_changed = SESSION_STATE in request.cookies


def write_cross_site_cookies(response):
    """``after_request``: the cross-site cookies this request set or expired, on its
    response."""
    state = _request_attributes().get("santeid_cookies") if has_request_context() else None
    if not isinstance(state, _CookieState):
        return response
    if state.values:
        response.vary.add("Cookie")
    app = current_app
    interface = app.session_interface
    secure = bool(interface.get_cookie_secure(app))
    attributes = {
        "path": interface.get_cookie_path(app),
        "domain": interface.get_cookie_domain(app),
        "secure": secure,
        "httponly": True,
        "samesite": "None" if secure else "Lax",
    }
    for cookie, value in state.changes.items():
        if value is None:
            response.delete_cookie(cookie.name, **attributes)
        else:
            done = state.signed.get(cookie)
            text = done[1] if done is not None and done[0] == value else cookie.signed(value)
            response.set_cookie(cookie.name, text, **attributes)
    if state.session_state_changed:
        # Not HttpOnly: the session-status iframe's script reads it (the module docstring).
        readable = {**attributes, "httponly": False}
        if state.session_state is None:
            response.delete_cookie(SESSION_STATE, **readable)
        else:
            value, max_age = state.session_state
            response.set_cookie(SESSION_STATE, value, max_age=max_age, **readable)
    return response


def browser_id() -> str:
    """This browser's id, kept in ``santeid_auth_session`` (made at first use): login
    transactions and self-service activations are bound to it (login CSRF, session fixation).
    A relying party's cross-site POST to the authorization endpoint carries it too, so that
    the login it starts belongs to the browser's id rather than to a new one."""
    return AUTH_SESSION.token(_BROWSER_ID)


def again_by_get_with_cookies():
    """For a relying party's form POST to a page of the browser (the authorization endpoint, the
    end-session endpoint) that came without ``santeid_auth_session``: the same request again,
    by GET (303, its form in the query string), else None. Over plain HTTP the cookie is
    ``SameSite=Lax`` (:class:`CrossSiteCookie`), which a cross-site POST does not carry but the
    top-level GET of its redirect does; answered as it came, the POST would write the browser a
    new id in place of the one its other tabs' logins and activations are bound to. A POST
    that does carry it, that comes over HTTPS (``SameSite=None``), or that is no cross-site
    navigation of a browser, is answered as it is.
    https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Set-Cookie#samesitesamesite-value"""
    app = current_app
    if request.method != "POST" or AUTH_SESSION.name in request.cookies:
        return None
    if app.session_interface.get_cookie_secure(app):
        return None
    # Only a browser's cross-site navigation (Fetch Metadata, https://www.w3.org/TR/fetch-metadata/)
    # is a POST that could not carry the cookie: any other (a back end, a same-site page, a
    # browser without these headers) is answered as it came, as Keycloak answers it.
    headers = request.headers
    if headers.get("Sec-Fetch-Site") != "cross-site" or headers.get("Sec-Fetch-Mode") != "navigate":
        return None
    query = urlencode(list(request.form.items(multi=True)))
    return redirect(f"{request.script_root}{request.path}?{query}", 303)


def is_this_browser(bid: object) -> bool:
    """Whether ``bid`` is this browser's id (a browser without one has no transaction)."""
    own = AUTH_SESSION.get().get(_BROWSER_ID)
    if not isinstance(own, str) or not own or not isinstance(bid, str):
        return False
    return hmac.compare_digest(own.encode(), bid.encode())


def bind_browser(bid: str) -> None:
    """This request's browser is ``bid`` (a browser of its own, for the sandbox's scripted
    logins: a request whose cookies were set aside)."""
    AUTH_SESSION.set({_BROWSER_ID: bid})


class ParameterTooLarge(Exception):
    """A request parameter over a limit: by default ``max_parameter_length`` bytes; ``message``
    says which other limit (the values of a FHIR search parameter, ``santeid.fhir``)."""

    def __init__(self, name: str, limit: int, message: str | None = None):
        super().__init__(message or f"parameter {name!r} exceeds {limit} bytes")
        self.name = name
        self.limit = limit


#: The parameters whose value is a JWT another party signs, bounded by
#: ``max_jwt_parameter_length`` instead of ``max_parameter_length``: a client's own
#: ``client_assertion`` (RFC 7523 §2.2) and request object (``request``, OIDC Core §6.1, at the
#: authorization endpoint, PAR and CIBA) and ``login_hint_token`` (CIBA Core §7.1), an
#: ``id_token_hint`` (an ID token, which grows with its claims and its encryption), an
#: identity provider's ``logout_token``. A JWS header may carry an ``x5c`` certificate chain
#: (RFC 7515 §4.1.6): two or three certificates are 5 to 8 KB. Keycloak reads each of them
#: whatever its length — it authenticates the client before its token endpoint's
#: ``checkParameters``, and the authorization endpoint, PAR and CIBA bound none of them
#: (docs/reference/keycloak-behaviour.md, "Parameter sizes"). The whole body stays bounded
#: (``santeid.serving.MAX_BUFFERED_BODY``).
JWT_PARAMETERS = frozenset(
    {"client_assertion", "request", "login_hint_token", "id_token_hint", "logout_token"}
)


def check_parameter_size(params: MultiDict) -> None:
    """Raise :class:`ParameterTooLarge` for a parameter name over ``max_parameter_length``
    bytes, or a value over its limit: ``max_jwt_parameter_length`` for
    :data:`JWT_PARAMETERS` (never below ``max_parameter_length``), ``max_parameter_length``
    for any other. The rule of every request's query and form (:func:`limit_parameter_size`)
    and of the authorization requests a scripted login follows (``santeid.sandbox.logins``,
    docs/sandbox.md: the same rules as a browser)."""
    http = services().settings.http
    limit = http.max_parameter_length
    jwt_limit = max(http.max_jwt_parameter_length, limit)
    for name, value in params.items(multi=True):
        if len(name) > limit:
            raise ParameterTooLarge(name[:64], limit)
        value_limit = jwt_limit if name in JWT_PARAMETERS else limit
        if len(value.encode("utf-8", "surrogatepass")) > value_limit:
            raise ParameterTooLarge(name[:64], value_limit)


def limit_parameter_size() -> None:
    """Refuse any query or form parameter over its limit (400, :func:`check_parameter_size`)."""
    check_parameter_size(request.args)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        check_parameter_size(request.form)


def page_policy(frame_ancestors: str = "'none'") -> str:
    """The ``Content-Security-Policy`` of santeid's HTML pages; ``frame_ancestors``: who may
    frame the page (CSP Level 3 §7.7.1, https://www.w3.org/TR/CSP3/#directive-frame-ancestors):
    nobody but on the pages of :func:`allow_framing_by`."""
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"script-src 'self'; frame-ancestors {frame_ancestors}; form-action 'self' *"
    )


#: Headers every response carries unless its view set its own.
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
#: Every HTML page, framed or not: no search engine indexes or follows it, as Keycloak's
#: default ``X-Robots-Tag: none`` on its pages (docs/reference/keycloak-behaviour.md, "Login
#: forms", ``testBrowserSecurityHeaders``).
NOT_INDEXED = ("X-Robots-Tag", "none")
#: And every HTML page not framed.
HTML_SECURITY_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", page_policy()),
    NO_STORE,
)
#: An origin as a CSP source (CSP Level 3 §2.3.1 ``host-source``): a registered web origin
#: that is not one (``web_origins`` checks the URL's parts, not each character) is left out
#: rather than written into the header, where a ``;`` would start another directive.
_CSP_ORIGIN = re.compile(
    r"https?://[a-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?"
)
#: The request attribute of :func:`allow_framing_by`.
_FRAME_ANCESTORS = "santeid_frame_ancestors"


def allow_framing_by(origins: Iterable[str]) -> None:
    """This request's page may be framed by santeid's own origin and ``origins`` (``*``: any),
    with no ``X-Frame-Options`` (which cannot name an origin): the pages a relying party embeds
    in a hidden iframe, which Keycloak serves without ``X-Frame-Options`` or
    ``frame-ancestors`` (docs/reference/keycloak-behaviour.md, "Session status iframe")."""
    allowed = sorted(
        {origin for origin in origins if origin == "*" or _CSP_ORIGIN.fullmatch(origin)}
    )
    sources = "*" if "*" in allowed else " ".join(["'self'", *allowed])
    _request_attributes()[_FRAME_ANCESTORS] = sources


def add_security_headers(response):
    headers = response.headers
    # The names the view set, read once: Werkzeug's ``setdefault`` searched the list three
    # times and raised a KeyError for each header missing (docs/performance.md, "Levers of the
    # code flow"). Absent names are appended, in this order, as ``setdefault`` appended them.
    present = {name.lower() for name in headers.keys()}
    defaults = SECURITY_HEADERS
    if response.mimetype == "text/html":
        ancestors = _request_attributes().get(_FRAME_ANCESTORS) if has_request_context() else None
        if ancestors is None:
            defaults += HTML_SECURITY_HEADERS
        else:
            defaults += (("Content-Security-Policy", page_policy(ancestors)), NO_STORE)
        defaults += (NOT_INDEXED,)
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


class DuplicateMemberRefused(BadRequest):
    """A JSON request body with a member name twice in an object (RFC 7493 §2.3): a 400 in the
    format of the API called (``santeid.error_formats``: its ``invalid_request``), naming the
    member — whether the endpoint asked for the body ``silent`` or not, as it is JSON, not
    something else to ignore."""


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, key order kept, and request bodies (``request.get_json``: Flask gives each
    request the app's provider as its ``json_module``) read by
    :func:`santeid.untrusted_json.loads_untrusted_json`, the one reading of untrusted JSON."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return loads_untrusted_json(s)
        except DuplicateMember as exc:
            raise DuplicateMemberRefused(
                f"the JSON body is not I-JSON (RFC 7493 §2.3): {exc}"
            ) from None


class HygienicRequest(Request):
    """Flask's request, whose JSON body is read by :class:`JSONProvider`: JSON nested deeper
    than Python can parse is a malformed body (400, or ``None`` with ``silent=True``) rather
    than a ``RecursionError``, and a member name twice is a 400 naming it
    (:class:`DuplicateMemberRefused`); a URL-encoded form is parsed from its body kept
    (``get_data(cache=True)``, at most ``MAX_CONTENT_LENGTH``), whoever reads the form first."""

    def _load_form_data(self) -> None:
        # werkzeug drops a whole form that is not UTF-8 (raw Latin-1 bytes, say) without a word:
        # the bytes kept tell it (santeid.fhir.search_parameters refuses such a search).
        if self.mimetype == "application/x-www-form-urlencoded":
            self.get_data(cache=True)
        super()._load_form_data()

    @property
    def host(self) -> str:
        """Werkzeug's ``host`` (``werkzeug.sansio.utils.get_host``: the ``Host`` header, else
        the server's address, its default port dropped), a name with underscores included.
        Werkzeug 3.1 empties a ``Host`` holding one, and with it every absolute URL built from
        the request (``url_root``, ``host_url``, ``url``: a FHIR searchset's links read
        ``http:///…``); :func:`_host_is_valid` takes it, as Docker names containers and
        services so. The name is read with hyphens for its underscores — the same length, so
        the answer is the header's beginning."""
        header = self.headers.get("host")
        seen = header.replace("_", "-") if header else header
        host = get_host(self.scheme, seen, self.server, self.trusted_hosts)
        return header[: len(host)] if header and host else host

    @host.setter
    def host(self, value: str) -> None:
        """Flask sets ``host`` to Werkzeug's reading when it binds its URL adapter
        (``Flask.create_url_adapter``); the reading above stands."""


#: A ``Host`` as Werkzeug 3.1 takes it (``werkzeug.sansio.utils.host_is_trusted``, which
#: ``request.host`` and Flask's URL adapter go through): a name of ASCII letters, digits, dots
#: and hyphens — here underscores too — or an IPv6 literal in brackets without a zone (RFC 3986
#: §3.2.2), then a port of one to five digits, the first not 0. An internationalised name
#: travels as its ``xn--`` form (RFC 9110 §7.2).
_HOST = re.compile(
    r"(?:(?P<name>[A-Za-z0-9._-]+)|\[(?P<address>[0-9A-Fa-f:.]+)\])(?::(?P<port>[1-9][0-9]{0,4}))?"
)


def _host_is_valid(host: str) -> bool:
    """Whether a ``Host`` value is one URL building can use: what Werkzeug 3.1 accepts — a
    ``Host`` it refuses becomes an empty ``request.host`` and every absolute URL built from it
    (a FHIR searchset's links) reads ``http:///…`` — with a valid IPv6 address, a port up to
    65535, and a name that is IDNA-encodable with labels of 63 characters at most (RFC 1035
    §2.3.4). Unlike Werkzeug, a name may hold an underscore: Docker names containers and
    services so (``santeid_app``), and other containers reach santeid by them
    (:attr:`HygienicRequest.host` reads such a name). An empty value is no host, as without
    the header (RFC 9110 §7.2)."""
    if not host:
        return True
    match = _HOST.fullmatch(host)
    if match is None or int(match["port"] or 1) > 65535:
        return False
    if match["address"] is not None:
        try:
            ipaddress.IPv6Address(match["address"])
        except ValueError:
            return False
        return True
    try:
        match["name"].encode("idna").decode("idna")  # also a valid xn-- (punycode) label
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
                NO_STORE, ("X-Content-Type-Options", "nosniff"),
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
        either (Flask's ``save_session`` returns first). Of several cookies of that name, the
        first santeid signed (:func:`carried_values`), as :meth:`CrossSiteCookie.get`."""
        values = carried_values(request.cookies, self.get_cookie_name(app))
        if app.secret_key and not values:
            return self.session_class()
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        loaded = first_signed(values, lambda raw: serializer.loads(raw, max_age=max_age))
        return self.session_class(loaded or {})


def refuse_content_coding() -> None:
    """A body in a content coding (``Content-Encoding: gzip``…) is refused with 415 in the
    API's own error format: santeid decodes none (RFC 9110 §8.4,
    https://www.rfc-editor.org/rfc/rfc9110#section-8.4), and read as it came the body was
    "malformed XML" or "not valid JSON" — the client then looked for a fault in its document.
    RFC 9110 §15.5.16: 415 for a content coding the server does not accept. ``identity`` (or
    an empty value) is no coding; so is any on a request without a body (a client that sets
    the header on every request still reads discovery)."""
    coding = request.headers.get("Content-Encoding")
    if coding is None:
        return
    if not request.content_length and "Transfer-Encoding" not in request.headers:
        return
    codings = [part.strip().lower() for part in coding.split(",")]
    if all(part in ("", "identity") for part in codings):
        return
    _request_attributes()[_CODING_REFUSED] = True
    raise UnsupportedMediaType(
        f"Content-Encoding {coding.strip()!r} is not accepted: send the body unencoded"
    )


#: Set on a request whose body :func:`refuse_content_coding` refused.
_CODING_REFUSED = "santeid_content_coding_refused"


def name_accepted_codings(response):
    """The 415 of a refused content coding says which coding is accepted: RFC 9110 §12.5.3
    (https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3), "Servers that fail a request due
    to an unsupported content coding ought to respond with a 415 (Unsupported Media Type)
    status and include an Accept-Encoding header field in that response, allowing clients to
    distinguish between issues related to content codings and media types" — and a 415 for a
    media type MUST NOT carry it. Set after each API's error handler wrote its own answer."""
    if _request_attributes().get(_CODING_REFUSED) and response.status_code == 415:
        response.headers["Accept-Encoding"] = "identity"
    return response


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
    app.before_request(refuse_content_coding)
    app.after_request(add_security_headers)
    app.after_request(name_accepted_codings)
    app.after_request(write_cross_site_cookies)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["cross_site_csrf_token"] = cross_site_csrf_token


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
        value = path.read_text().strip()
        # The file is santeid's own, but restored or written by hand it may be empty (Flask
        # would then sign nothing) or short: held to the rule of a configured secret.
        if not value or (
            not settings.sandbox.enabled and len(value.encode()) < MIN_SECRET_KEY_BYTES
        ):
            raise ConfigurationError(
                f"{path} holds {'no' if not value else 'a too short'} session secret (32 bytes "
                "or more are needed): restore it from the backup of the data directory, or "
                "delete it and a new random one is made at the next start (every browser and "
                "admin console session is then lost)"
            )
        return value
    settings.data_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value

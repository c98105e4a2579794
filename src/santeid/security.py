"""Request hygiene shared by every page and endpoint: CSRF tokens, parameter size limits,
security headers and the cookie policy."""

from __future__ import annotations

import hmac
import secrets

from flask import request
from flask import session

from santeid.services import services

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
    def __init__(self, name: str, limit: int):
        super().__init__(f"parameter {name!r} exceeds {limit} bytes")
        self.name = name
        self.limit = limit


def limit_parameter_size() -> None:
    """Refuse any query or form parameter over ``max_parameter_length`` bytes (400)."""
    limit = services().settings.max_parameter_length
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for name, value in source.items(multi=True):
            if len(name) > limit or len(value.encode("utf-8", "surrogatepass")) > limit:
                raise ParameterTooLarge(name[:64], limit)


def add_security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self' *",
        )
        response.headers.setdefault("Cache-Control", "no-store")
    if services().settings.sandbox:
        # Visible to programs too: a sandbox must never be mistaken for production.
        response.headers["X-Santeid-Sandbox"] = "true"
    return response


def init_app(app) -> None:
    settings = app.extensions["santeid"].settings
    app.config.update(
        SESSION_COOKIE_NAME="santeid_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # Bodies beyond this are refused by Werkzeug with 413 before any parsing.
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.before_request(limit_parameter_size)
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token

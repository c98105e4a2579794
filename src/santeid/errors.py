"""Error responses: the status and code the specs prescribe, JSON for programs and a page
for people, never a stack trace. A store or database outage is a clean 503
(``temporarily_unavailable``)."""

from __future__ import annotations

import logging

from flask import jsonify
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from santeid.db import DatabaseUnavailable
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.oidc.authorize import ErrorPage
from santeid.security import CsrfError
from santeid.security import ParameterTooLarge
from santeid.security import wants_json
from santeid.storage import StoreUnavailable

log = logging.getLogger(__name__)


def _translator() -> Translator:
    return Translator(pick_locale(request.args.get("ui_locales")))


def _page(status: int, title: str, detail: str):
    t = _translator()
    return render_template("error.html", t=t, title=title, detail=detail), status


def _json(status: int, error: str, description: str, headers: dict | None = None):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_store_unavailable(exc):
    log.error("store unavailable: %s", exc)
    if wants_json():
        return _json(
            503, "temporarily_unavailable", "the session store is unavailable", {"Retry-After": "5"}
        )
    t = _translator()
    body, status = _page(503, t("error_title"), t("unavailable"))
    return body, status, {"Retry-After": "5"}


def handle_database_unavailable(exc):
    """The durable database cannot be reached or used right now: 503, as for the store."""
    log.error("database unavailable: %s", exc)
    if wants_json():
        return _json(
            503, "temporarily_unavailable", "the database is unavailable", {"Retry-After": "5"}
        )
    t = _translator()
    body, status = _page(503, t("error_title"), t("unavailable"))
    return body, status, {"Retry-After": "5"}


def handle_parameter_too_large(exc):
    if wants_json():
        return _json(400, "invalid_request", str(exc))
    t = _translator()
    return _page(400, t("error_title"), t("too_large"))


def handle_csrf(exc):
    t = _translator()
    return _page(400, t("error_title"), t("csrf"))


def handle_error_page(exc: ErrorPage):
    t = _translator()
    return _page(exc.status, f"{t('error_title')} : {exc.error}", exc.description)


def handle_http_exception(exc: HTTPException):
    if exc.response is not None:
        return exc.response
    if wants_json():
        error = {413: "invalid_request", 405: "invalid_request"}.get(exc.code, "invalid_request")
        if exc.code == 404:
            error = "not_found"
        return _json(exc.code or 500, error, exc.description or exc.name)
    t = _translator()
    detail = t("not_found") if exc.code == 404 else (exc.description or exc.name)
    return _page(exc.code or 500, f"{exc.code} {exc.name}", detail)


def handle_unexpected(exc: Exception):
    # A bug: log it whole for operators, show nothing of it to the caller.
    log.exception("unhandled error on %s %s", request.method, request.path)
    if wants_json():
        return _json(500, "server_error", "internal error")
    t = _translator()
    return _page(500, t("error_title"), "Erreur interne / internal error")


def init_app(app) -> None:
    app.register_error_handler(StoreUnavailable, handle_store_unavailable)
    for unavailable in DatabaseUnavailable:
        app.register_error_handler(unavailable, handle_database_unavailable)
    app.register_error_handler(ParameterTooLarge, handle_parameter_too_large)
    app.register_error_handler(CsrfError, handle_csrf)
    app.register_error_handler(ErrorPage, handle_error_page)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

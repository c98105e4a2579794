"""The pages that make each problem ``type`` of the catalogue (:mod:`santeid.problems`)
resolvable — ``{origin}/problems/{code}`` and the list ``{origin}/problems/`` — and the
``application/problem+json`` response every API of santeid answers a problem with
(RFC 9457 §3, §4)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from html import escape
from typing import Any

from flask import Blueprint
from flask import Response
from flask import json
from flask import request
from flask import url_for
from markupsafe import Markup

from santeid.cache_control import no_store
from santeid.problems import CATALOGUE
from santeid.problems import PROBLEM_JSON
from santeid.problems import PROBLEMS_PATH
from santeid.problems import ProblemType
from santeid.problems import problem_type
from santeid.problems import problem_uri


def problem_body(
    code: str, detail: str, status: int | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The problem object of catalogue code ``code`` (RFC 9457 §3.1), members in this order:
    ``type``, ``title``, ``status``, ``detail``, ``code``, then the API's extension members
    ``extra`` (§3.2). ``status``: the catalogue's, unless the occurrence answers another."""
    from santeid.services import services

    kind = problem_type(code)
    return {
        "type": problem_uri(services().settings, code),
        "title": kind.title,
        "status": kind.status if status is None else status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }


def problem_response(body: dict, status: int, *, compact: bool = False) -> Response:
    """``application/problem+json`` (RFC 9457 §3), never cached. ``compact``: no blank after
    ``,`` and ``:``, as the INSi adapters write all their JSON."""
    separators = (",", ":") if compact else None
    text = json.dumps(body, ensure_ascii=False, separators=separators)
    response = Response(text, status=status, mimetype=PROBLEM_JSON)
    return no_store(response)


bp = Blueprint("problems", __name__)


def wants_html() -> bool:
    """Whether the request prefers an HTML page to JSON (a browser)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html"
        and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    )


def _description(settings, p: ProblemType) -> dict:
    return {
        "type": problem_uri(settings, p.code),
        "code": p.code,
        "title": p.title,
        "status": p.status,
        "description": p.description,
        "api": p.family,
    }


def table_page(
    title: str,
    columns: Sequence[str],
    rows: Iterable[tuple[str, Sequence[str]]],
    *,
    intro: str = "",
) -> Response:
    """The HTML page of a list of codes (the problem types here, the INSi ``CodeCR`` values of
    ``santeid.insi.fhir``): the sandbox banner in sandbox mode, then, in ``<main>``, ``title``
    as heading, ``intro`` and a table of ``columns`` whose ``rows`` are ``(id, cells)``. Cells
    and ``intro`` are text, escaped here, unless they are :class:`~markupsafe.Markup`."""
    from santeid.sandbox import banner_html

    def html(text: str) -> str:
        return str(text) if isinstance(text, Markup) else escape(text)

    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = "".join(
        f'<tr id="{escape(row_id)}">'
        + "".join(f"<td>{html(cell)}</td>" for cell in cells)
        + "</tr>"
        for row_id, cells in rows
    )
    banner = banner_html("en")
    # The banner's style, in sandbox mode only: the pages stay bare otherwise.
    style = f'<link rel="stylesheet" href="{url_for("static", filename="santeid.css")}">'
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{style if banner else ''}</head>"
        f"<body>{banner}<main><h1>{escape(title)}</h1>{html(intro)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></main></body></html>"
    )
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _html(title: str, rows: list[ProblemType], settings) -> Response:
    return table_page(
        title,
        ("code", "status", "API", "title", "description"),
        (
            (
                p.code,
                (
                    Markup('<a href="%s"><code>%s</code></a>')
                    % (problem_uri(settings, p.code), p.code),
                    str(p.status),
                    p.family,
                    p.title,
                    p.description,
                ),
            )
            for p in rows
        ),
    )


@bp.get(PROBLEMS_PATH + "/")
def index():
    """Every problem type santeid answers with."""
    from santeid.services import services

    settings = services().settings
    if wants_html():
        return _html("santeid problem types", list(CATALOGUE.values()), settings)
    response = Response(
        json.dumps([_description(settings, p) for p in CATALOGUE.values()], ensure_ascii=False),
        mimetype="application/json",
    )
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get(PROBLEMS_PATH + "/<code>")
def describe(code: str):
    """What problem ``code`` means: the resource a problem's ``type`` names."""
    from santeid.services import services

    settings = services().settings
    kind = CATALOGUE.get(code)
    if kind is None:
        body = {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": f"no problem type {code!r}",
        }
        return problem_response(body, 404)
    if wants_html():
        return _html(f"Problem type {code}", [kind], settings)
    response = Response(
        json.dumps(_description(settings, kind), ensure_ascii=False), mimetype="application/json"
    )
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def render_error(exc: Exception) -> Response:
    """Errors of these pages themselves: an ``about:blank`` problem (RFC 9457 §4.2.1)."""
    from werkzeug.exceptions import BadRequest
    from werkzeug.exceptions import HTTPException
    from werkzeug.exceptions import InternalServerError

    from santeid.security import ParameterTooLarge

    if isinstance(exc, ParameterTooLarge):
        exc = BadRequest(str(exc))
    if not isinstance(exc, HTTPException) or (exc.code or 500) >= 500:
        if not isinstance(exc, HTTPException):
            import logging

            logging.getLogger(__name__).exception("unhandled error on %s", request.path)
        exc = InternalServerError()
    status = exc.code or 500
    body = {"type": "about:blank", "title": exc.name, "status": status, "detail": exc.description}
    return problem_response(body, status)


def init_app(app) -> None:
    from santeid import error_formats

    error_formats.declare(
        bp, error_formats.PROBLEM_JSON, render=render_error, prefixes=[PROBLEMS_PATH]
    )
    app.register_blueprint(bp)

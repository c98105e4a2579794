"""INSi over REST/JSON: ``/insi/v1/`` (``docs/insi-rest.md``, OpenAPI 3.1 at
``/insi/openapi.json``).

========================================  =========================================
``POST /insi/v1/ins/search-by-traits``    ``rechercherInsAvecTraitsIdentite``
``POST /insi/v1/ins/search-by-vitale``    ``rechercherInsAvecCarteVitale``
``POST /insi/v1/ins/verify``              ``verifierInsAvecTraitsIdentite``
``GET  /insi/v1/stats?month=YYYY-MM``     the caller's monthly statistics
``GET  /insi/openapi.json``               the OpenAPI 3.1 description
``GET  /insi/problems/{code}``            308 to ``/problems/{code}`` (``santeid.problems``)
========================================  =========================================

No official INSi REST contract exists (docs/reference/insi-teleservice.md §7): the JSON mirrors
``RECSANSVITALE``,
``RECVITALE`` and ``RESULTAT`` with plain English camelCase names.  A search answers 200 with
its ``cr`` whatever it is (00, 01, 02 are results, not errors, as in INSi).  Errors are RFC 9457
problem details (``application/problem+json``) with the members ``type``, ``title``,
``status``, ``detail`` and the extensions ``code`` (the INSi or santeid code), ``element`` (INSi
element), ``field`` (JSON member) and ``rule``.

Authentication (:func:`santeid.insi.auth.request_context`): a Bearer access token of santeid
(``authMode`` CARD or MOBILE) or an INSi client certificate.
"""

from __future__ import annotations

import json

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from santeid import error_formats
from santeid.cache_control import no_store
from santeid.insi import problems
from santeid.insi.auth import bearer_context
from santeid.insi.auth import request_context
from santeid.insi.model import CODE_INVALID_REQUEST
from santeid.insi.model import DEFAULT_BIRTH_RANK
from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import OP_SEARCH_VITALE
from santeid.insi.model import OP_VERIFY
from santeid.insi.model import CallContext
from santeid.insi.model import Identity
from santeid.insi.model import InsiError
from santeid.insi.model import SearchResult
from santeid.insi.model import TraitsQuery
from santeid.insi.model import VerifyQuery
from santeid.insi.model import VerifyResult
from santeid.insi.model import VitaleQuery
from santeid.insi.service import MATRICULE_ELEMENTS
from santeid.insi.service import TRAITS_ELEMENTS
from santeid.insi.service import VITALE_ELEMENTS
from santeid.insi.service import invalid
from santeid.oidc.protector import bearer_challenge
from santeid.problem_pages import problem_body
from santeid.problem_pages import problem_response
from santeid.services import services
from santeid.untrusted_json import DuplicateMember
from santeid.untrusted_json import loads_untrusted_json

bp = Blueprint("insi_rest", __name__)

PREFIX = "/insi/v1"

#: JSON member ↔ model field (problem details name the member the client sent).
JSON_FIELDS: dict[str, str] = {
    "birth_name": "birthName",
    "given_names": "givenNames",
    "first_given_name": "givenNames",
    "sex": "sex",
    "birth_date": "birthDate",
    "birthplace": "birthplace",
    "od_matricule": "odMatricule",
    "individual_matricule": "individualMatricule",
    "birth_rank": "birthRank",
    "matricule": "matricule",
    "key": "key",
    "month": "month",
}

#: Members of each request body: name → (type, required).
TRAITS_MEMBERS = {
    "birthName": ("string", True),
    "givenNames": ("strings", True),
    "sex": ("string", True),
    "birthDate": ("string", True),
    "birthplace": ("string?", False),
}
VITALE_MEMBERS = {
    "odMatricule": ("string", True),
    "individualMatricule": ("string?", False),
    "birthName": ("string", True),
    "birthDate": ("string", True),
    "birthRank": ("integer?", False),
}
VERIFY_MEMBERS = {
    "matricule": ("string", True),
    "key": ("string", True),
    **{k: v for k, v in TRAITS_MEMBERS.items() if k != "birthplace"},
    "birthplace": ("string", True),
}


# -- rendering ------------------------------------------------------------------------------
def _json(payload: dict, status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    response = current_app.response_class(body, status=status, mimetype="application/json")
    # INSi answers are personal data: never kept by a cache (RFC 9111 §5.2.2.5).
    return no_store(response)


def identity_json(identity: Identity) -> dict:
    """``INDIVIDU``: ``INSACTIF`` as ``ins``, ``INSHISTO`` as ``history``, the ``TIQ`` traits."""
    return {
        "ins": {
            "matricule": identity.matricule,
            "key": identity.key,
            "value": identity.value,
            "oid": identity.oid,
            "kind": identity.kind,
        },
        "history": [
            {
                "matricule": h.matricule,
                "key": h.key,
                "value": h.value,
                "oid": h.oid,
                "start": h.start,
                "end": h.end,
            }
            for h in identity.history
        ],
        "birthName": identity.birth_name,
        "givenNames": list(identity.given_names),
        "firstGivenName": identity.first_given_name,
        "sex": identity.sex,
        "birthDate": identity.birth_date,
        "birthplace": identity.birthplace,
    }


def search_json(result: SearchResult) -> dict:
    return {
        "cr": result.cr,
        "label": result.label,
        "identity": identity_json(result.identity) if result.identity else None,
    }


def verify_json(result: VerifyResult) -> dict:
    return {
        "conform": result.conform,
        "differing": [JSON_FIELDS.get(name, name) for name in result.differing],
        "identity": identity_json(result.identity) if result.identity else None,
    }


def problem(error: InsiError) -> Response:
    """RFC 9457 problem details of ``error`` (``application/problem+json``)."""
    extra: dict = {}
    if error.element:
        extra["element"] = error.element
    if error.field:
        extra["field"] = JSON_FIELDS.get(error.field, error.field)
    if error.rule and error.http_status != 401:
        extra["rule"] = str(error.rule)
    body = problem_body(error.code, error.detail or error.message, error.http_status, extra)
    response = problem_response(body, error.http_status, compact=True)
    if error.http_status == 401:
        # RFC 6750 §3: a challenge; the error code only when a token was actually sent.
        response.headers["WWW-Authenticate"] = bearer_challenge(
            "insi", error.rule, error.message if error.rule else None
        )
    if error.http_status == 503 and error.code == "desir_1020":
        response.headers["Retry-After"] = "30"
    return response


def request_error(
    member: str | None, rule: str, message: str, code: str = CODE_INVALID_REQUEST
) -> InsiError:
    return invalid(member or "", rule, message, None, code=code)


# -- request parsing ------------------------------------------------------------------------
def parse_body(raw: bytes, mimetype: str, members: dict[str, tuple[str, bool]]) -> dict:
    """The JSON object of a request body, checked against ``members`` (type and presence of
    the members; the values themselves are the core's business)."""
    if mimetype != "application/json":
        raise InsiError(
            problems.CODE_UNSUPPORTED_MEDIA_TYPE,
            f"send the body as application/json, not {mimetype or 'nothing'!r}",
        )
    try:
        body = loads_untrusted_json(raw)
    except DuplicateMember as exc:
        # I-JSON (RFC 7493 §2.3): which of the two would the core search? Neither.
        shown = exc.member.encode("utf-8", "backslashreplace").decode("utf-8")
        raise _member_error(shown, "duplicate-member", str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise request_error(None, "json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise request_error(None, "type", "the body must be a JSON object")
    for name in body:
        if name not in members:
            # Named as sent, a lone surrogate (RFC 8259 §8.2) written as its escape: the
            # answer is UTF-8 text.
            shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
            raise _member_error(shown, "unknown-member", f"unknown member {name!r}")
    for name, (kind, required) in members.items():
        value = body.get(name)
        if value is None:
            if required:
                # Missing trait: the core's "required" rule, naming the INSi element.
                raise invalid(_model(name), "required", f"{name} is required", _element(name))
            continue
        if kind in ("string", "string?") and not isinstance(value, str):
            raise _member_error(name, "type", f"{name} must be a string")
        if kind == "strings" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise _member_error(name, "type", f"{name} must be an array of strings")
        if kind in ("integer", "integer?") and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise _member_error(name, "type", f"{name} must be an integer")
    return body


_MODEL = {v: k for k, v in JSON_FIELDS.items() if k != "first_given_name"}


def _model(member: str) -> str:
    return _MODEL.get(member, member)


def _element(member: str) -> str | None:
    field = _model(member)
    for table in (TRAITS_ELEMENTS, VITALE_ELEMENTS, MATRICULE_ELEMENTS):
        if field in table:
            return table[field]
    return None


def _member_error(member: str, rule: str, message: str) -> InsiError:
    error = request_error(_model(member), rule, message)
    error.element = _element(member)
    return error


def _traits(body: dict) -> TraitsQuery:
    return TraitsQuery(
        birth_name=body["birthName"],
        given_names=tuple(body["givenNames"]),
        sex=body["sex"],
        birth_date=body["birthDate"],
        birthplace=body.get("birthplace"),
    )


def _context() -> CallContext:
    ctx = request_context("rest")
    if isinstance(ctx, InsiError):
        raise ctx
    return ctx


def _insi():
    return services().insi


# -- the three operations: JSON body in, JSON document out (shared by the routes and FastPath)
def op_search_by_traits(body: dict, ctx: CallContext) -> dict:
    return search_json(_insi().search_by_traits(_traits(body), ctx))


def op_search_by_vitale(body: dict, ctx: CallContext) -> dict:
    rank = body.get("birthRank")
    query = VitaleQuery(
        od_matricule=body["odMatricule"],
        individual_matricule=body.get("individualMatricule"),
        birth_name=body["birthName"],
        birth_date=body["birthDate"],
        # null is "not given": JSON serialisers write an unset optional member so.
        birth_rank=DEFAULT_BIRTH_RANK if rank is None else rank,
    )
    return search_json(_insi().search_by_vitale(query, ctx))


def op_verify(body: dict, ctx: CallContext) -> dict:
    query = VerifyQuery(matricule=body["matricule"], key=body["key"], traits=_traits(body))
    return verify_json(_insi().verify(query, ctx))


#: Path → (members of the body, operation, INSi operation name).
OPERATIONS = {
    f"{PREFIX}/ins/search-by-traits": (TRAITS_MEMBERS, op_search_by_traits, OP_SEARCH_TRAITS),
    f"{PREFIX}/ins/search-by-vitale": (VITALE_MEMBERS, op_search_by_vitale, OP_SEARCH_VITALE),
    f"{PREFIX}/ins/verify": (VERIFY_MEMBERS, op_verify, OP_VERIFY),
}


def check_parameters(arguments, allowed: tuple[str, ...] = ()) -> None:
    """Refuse a query parameter outside ``allowed``: a typo never goes unnoticed."""
    unknown = sorted(set(arguments) - set(allowed))
    if unknown:
        raise _member_error(unknown[0], "unknown-parameter", f"unknown parameter {unknown[0]!r}")


def audited_body(
    ctx: CallContext, name: str, raw: bytes, mimetype: str, members: dict, arguments=()
) -> dict:
    """The request body (:func:`parse_body`, no query parameter allowed); a refusal of the
    request itself, made here once the caller is authenticated, is audited
    (:meth:`~santeid.insi.service.InsiService.refusal_recorded`), as the core audits its own."""
    with _insi().refusal_recorded(ctx, name):
        check_parameters(arguments)
        return parse_body(raw, mimetype, members)


def _operation() -> Response:
    members, operation, name = OPERATIONS[request.path]
    ctx = _context()
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413, as problem details
    return _json(
        operation(audited_body(ctx, name, raw, request.mimetype, members, request.args), ctx)
    )


# -- routes ---------------------------------------------------------------------------------
@bp.post(f"{PREFIX}/ins/search-by-traits")
def search_by_traits():
    return _operation()


@bp.post(f"{PREFIX}/ins/search-by-vitale")
def search_by_vitale():
    return _operation()


@bp.post(f"{PREFIX}/ins/verify")
def verify():
    return _operation()


@bp.get(f"{PREFIX}/stats")
def stats():
    """The caller's own statistics (``software_id`` of its credentials)."""
    ctx = _context()
    check_parameters(request.args, ("month",))
    if len(request.args.getlist("month")) > 1:  # two months asked: answer neither
        raise _member_error("month", "repeated", "month can be given once")
    return _json(_insi().stats(ctx.software_id, request.args.get("month") or None))


@bp.get("/insi/openapi.json")
def openapi():
    from santeid.insi.openapi import document

    settings = services().settings
    response = _json(document(settings, problems.served_origin(settings)))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/insi/problems/<code>")
def problem_description(code: str):
    """Where INSi problem types used to be described: a permanent redirect to the one
    catalogue's page (``santeid.problems``), so ``type`` URIs logged before still resolve."""
    from urllib.parse import quote

    from flask import redirect

    from santeid.problems import PROBLEMS_PATH

    # Quoted: the segment came from the URL, and may hold what a Location header cannot.
    return redirect(f"{PROBLEMS_PATH}/{quote(code, safe='')}", code=308)


# -- errors ---------------------------------------------------------------------------------
def handle_error(exc: Exception) -> Response:
    """Every error raised in this blueprint, as problem details (RFC 9457)."""
    return problem(problems.error_for(exc))


# Problem details for every error of these URLs, routing errors included.
error_formats.declare(
    bp, error_formats.PROBLEM_JSON, render=handle_error, prefixes=[PREFIX, "/insi/problems"]
)


class FastPath:
    """WSGI middleware serving the three JSON operations ahead of Flask (``insi_fast_path``).

    Flask's request machinery (request and session contexts, URL matching, request and
    response objects) costs more than the INSi work itself on a search by traits (profile in
    ``docs/performance.md``).  For the common request — ``POST`` of ``application/json`` to one
    of the three operation paths, with ``Authorization: Bearer``, no query string, a body of
    known length within the app's limit, in no content coding — this layer does the same work
    with the same functions (:func:`parse_body`, :func:`santeid.insi.auth.bearer_context`, the
    ``op_*`` functions, :func:`problem`, ``santeid.security.add_security_headers``) inside an
    app context only.  Anything else (certificates, other methods, odd requests) goes to Flask and
    the blueprint above, unchanged.  The test suite runs both ways and compares the answers.
    """

    def __init__(self, app, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.max_length = app.config["MAX_CONTENT_LENGTH"]  # santeid.security

    def _certificate(self, environ):
        """The client certificate, for a certificate-bound token only (RFC 8705 §3): read as
        the Flask routes read it (``santeid.tls``), through a request context made then."""
        from santeid.tls import client_certificate

        with self.app.request_context(environ):
            return client_certificate()

    def __call__(self, environ, start_response):
        entry = OPERATIONS.get(environ.get("PATH_INFO", ""))
        if (
            entry is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("QUERY_STRING")
            or not environ.get("HTTP_AUTHORIZATION")
            or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
            != "application/json"
            # A content coding is Flask's to refuse (santeid.security.refuse_content_coding):
            # read here, the compressed bytes were "not valid JSON".
            or "HTTP_CONTENT_ENCODING" in environ
        ):
            return self.wsgi_app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return self.wsgi_app(environ, start_response)
        if not 0 < length <= self.max_length:
            return self.wsgi_app(environ, start_response)
        raw = environ["wsgi.input"].read(length)
        members, operation, name = entry
        with self.app.app_context():
            from santeid.security import add_security_headers

            try:
                ctx = bearer_context(
                    environ["HTTP_AUTHORIZATION"],
                    channel="rest",
                    certificate=lambda: self._certificate(environ),
                )
                if isinstance(ctx, InsiError):
                    raise ctx
                body = audited_body(ctx, name, raw, "application/json", members)
                response = _json(operation(body, ctx))
            except InsiError as exc:
                response = problem(exc)
            except Exception as exc:
                # As the blueprint's routes answer it (santeid.errors.handle_error).
                with self.app.request_context(environ):
                    from santeid.errors import count_error

                    count_error(exc)
                    response = problem(problems.error_for(exc))
            response = add_security_headers(response)
            return response(environ, start_response)


def init_app(app) -> None:
    app.register_blueprint(bp)
    if app.extensions["santeid"].settings.insi.fast_path:
        app.wsgi_app = FastPath(app, app.wsgi_app)

"""Read-only FHIR R4 directory API, shaped like the national Annuaire Santé (``/fhir/v1``).

Services that must "check that a user belongs to the profession they declare"
(docs/reference/pro-sante-connect.md §15)
look professionals up here instead of downloading the RASS. Routes (``docs/directory.md``):

- ``GET /fhir/v1/metadata`` — CapabilityStatement (no token needed);
- ``GET /fhir/v1/Practitioner`` — search: ``identifier``, ``name``, ``family``, ``given``,
  ``_id``, ``active``, ``_count``;
- ``GET /fhir/v1/Practitioner/<id>`` — read;
- ``GET /fhir/v1/PractitionerRole`` — search: ``practitioner``, ``role`` (TRE_G15 profession,
  or ``system|code`` of TRE_R23/R22/R21/R06/R09 together with ``practitioner``), ``_count``;
- ``GET /fhir/v1/PractitionerRole/<id>`` — read.

Every resource route needs ``Authorization: Bearer <access token>``: a token of a logged-in
professional or one obtained by a service with the ``client_credentials`` grant (RFC 6749
§4.4), both checked by the shared resource protector (``santeid.oidc.protector``: signature,
expiry, revocation, certificate binding). Errors are ``OperationOutcome``
resources (FHIR R4 §3.1.0.4.1 "http"). Responses are ``application/fhir+json``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from flask import Blueprint
from flask import Response
from flask import request

from santeid import error_formats
from santeid.directory import nomenclatures
from santeid.directory.search import DirectorySearch
from santeid.directory.search import SearchError
from santeid.fhir import JSON_FORMATS
from santeid.fhir import capability_statement
from santeid.fhir import fhir_response
from santeid.fhir import operation_outcome
from santeid.fhir_directory import resources
from santeid.oidc import protector
from santeid.services import services

PREFIX = "/fhir/v1"
DEFAULT_COUNT = 50
MAX_COUNT = 500
#: Search parameters handled; others are ignored (FHIR R4 §3.1.1.5.7, lenient handling)
#: unless the client sends ``Prefer: handling=strict``.
PRACTITIONER_PARAMS = {"identifier", "name", "family", "given", "_id", "active", "_count"}
ROLE_PARAMS = {"practitioner", "role", "_count"}
COMMON_PARAMS = {"_cursor", "_format"}

log = logging.getLogger(__name__)

bp = Blueprint("fhir_directory", __name__, url_prefix=PREFIX)


class FhirError(Exception):
    def __init__(self, status: int, code: str, diagnostics: str, headers: dict | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers or {}


def render_error(exc: Exception) -> Response:
    """Every error under ``/fhir/v1`` as an OperationOutcome (``santeid.error_formats``),
    routing errors, outages and bugs included (FHIR R4 §3.1.0.4.1 "http")."""
    if not isinstance(exc, FhirError):
        exc = _as_fhir_error(exc)
    # ``diagnostics`` repeats the text: the member this API's clients have always read.
    outcome = operation_outcome(exc.code, exc.diagnostics, diagnostics=exc.diagnostics)
    if exc.status >= 500:
        outcome["issue"][0]["severity"] = "fatal"
    return fhir_response(outcome, exc.status, exc.headers)


def _as_fhir_error(exc: Exception) -> FhirError:
    from werkzeug.exceptions import HTTPException

    from santeid import outages
    from santeid.security import ParameterTooLarge

    if isinstance(exc, HTTPException) and (exc.code or 500) < 500:
        if exc.code == 404:
            return FhirError(
                404, "not-supported", f"{request.method} {request.path} is not served here"
            )
        issue = "not-supported" if exc.code in (405, 406, 415) else "invalid"
        return FhirError(exc.code or 400, issue, exc.description or exc.name)
    if isinstance(exc, ParameterTooLarge):
        return FhirError(400, "too-costly", str(exc))
    if isinstance(exc, outages.OUTAGES):
        log.error("unavailable during a directory call: %s", exc)
        return FhirError(503, "transient", "temporarily unavailable", {"Retry-After": "5"})
    log.exception("unhandled error on %s %s", request.method, request.path)
    return FhirError(500, "exception", "internal error")


error_formats.declare(bp, error_formats.FHIR, render=render_error, prefixes=[PREFIX])


def _authenticate() -> dict:
    """Claims of the Bearer access token (RFC 6750 §2.1), read by the resource protector every
    Bearer API shares (``santeid.oidc.protector``), or its refusal as an OperationOutcome."""
    guard = protector.access_token_protector(services().tokens)
    try:
        return guard.token(protector.ProtectedRequest.from_flask())
    except OAuth2Error as exc:
        if exc.error == protector.MISSING:
            raise FhirError(
                401,
                "login",
                protector.TOKEN_REQUIRED,
                {"WWW-Authenticate": protector.bearer_challenge("fhir")},
            ) from None
        if exc.error == protector.UNSUPPORTED:
            raise FhirError(400, "invalid", protector.BEARER_REQUIRED) from None
        raise FhirError(
            401,
            "login",
            f"invalid access token: {exc.description}",
            {"WWW-Authenticate": protector.bearer_challenge("fhir", "invalid_token")},
        ) from None


def _check_params(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed - COMMON_PARAMS)
    if unknown and "handling=strict" in request.headers.get("Prefer", ""):
        raise FhirError(400, "not-supported", f"unsupported search parameter(s): {unknown}")
    fmt = request.args.get("_format")
    if fmt and fmt not in JSON_FORMATS:
        raise FhirError(406, "not-supported", "only JSON is served (_format=json)")


def _count() -> int:
    raw = request.args.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or not 0 < int(raw) <= MAX_COUNT:
        raise FhirError(400, "invalid", f"_count must be an integer from 1 to {MAX_COUNT}")
    return int(raw)


def _values(name: str) -> list[list[str]]:
    """A parameter's values: one list per repetition (repetitions AND), of its comma-separated
    alternatives (OR): https://hl7.org/fhir/R4/search.html#combining. An empty repetition is
    ignored. A comma always separates: no ``\\,`` escape (docs/directory.md; directory names
    and ids hold no comma)."""
    return [raw.split(",") for raw in request.args.getlist(name) if raw != ""]


def _any_of(name: str) -> list[str]:
    """Every value of a parameter whose repetitions and alternatives all OR (ids, tokens)."""
    return [item for alternatives in _values(name) for item in alternatives]


def _names(name: str) -> list[list[str]]:
    """A name parameter's values (:func:`_values`) without empty alternatives: ``family=A,``
    is ``family=A``, and ``family=,`` no condition, as ``family=``."""
    return [[a for a in alternatives if a] for alternatives in _values(name) if any(alternatives)]


def _tokens(name: str) -> list[tuple[str | None, str]]:
    tokens = []
    for item in _any_of(name):
        system, bar, value = item.rpartition("|")
        tokens.append((system if bar else None, value))
    return tokens


def _url(path: str, params: dict | list) -> str:
    query = urlencode(params, doseq=True)
    return f"{request.host_url.rstrip('/')}{PREFIX}{path}" + (f"?{query}" if query else "")


def _self_and_next(path: str, last: str | None) -> tuple[str, str | None]:
    params = [(k, v) for k, v in request.args.items(multi=True)]
    self_url = _url(path, params)
    if last is None:
        return self_url, None
    following = [(k, v) for k, v in params if k != "_cursor"] + [("_cursor", last)]
    return self_url, _url(path, following)


def _search() -> DirectorySearch:
    return DirectorySearch(services().directory)


@bp.get("/metadata")
def metadata() -> Response:
    """CapabilityStatement (FHIR R4 §3.1.0.10): what this server answers."""
    statement = capability_statement(
        software="santeid",
        description="santeid professionals directory (Annuaire Santé-shaped)",
        url=_url("", []),
        date="2026-01-01",
        rest={
            "security": {
                "description": "Bearer access token from the santeid token endpoint "
                "(authorization code or client_credentials)"
            },
            "resource": [
                {
                    "type": "Practitioner",
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [
                        {"name": n, "type": t}
                        for n, t in (
                            ("_id", "token"),
                            ("identifier", "token"),
                            ("name", "string"),
                            ("family", "string"),
                            ("given", "string"),
                            ("active", "token"),
                        )
                    ],
                },
                {
                    "type": "PractitionerRole",
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [
                        {"name": "practitioner", "type": "reference"},
                        {"name": "role", "type": "token"},
                    ],
                },
            ],
        },
    )
    return fhir_response(statement)


@bp.get("/Practitioner/<path:resource>")
def practitioner_read(resource: str) -> Response:
    _authenticate()
    professional = services().directory.get(resources.national_id_of(resource))
    if professional is None:
        raise FhirError(404, "not-found", f"Practitioner/{resource} is not in the directory")
    return fhir_response(resources.practitioner(professional))


@bp.get("/Practitioner")
def practitioner_search() -> Response:
    _authenticate()
    _check_params(PRACTITIONER_PARAMS)
    count = _count()
    after = request.args.get("_cursor", "")
    search = _search()
    identifiers = _tokens("identifier") + [(None, v) for v in _any_of("_id")]
    active = None
    if request.args.get("active") is not None:
        value = request.args["active"].rpartition("|")[2]
        if value not in ("true", "false"):
            raise FhirError(400, "invalid", "active must be true or false")
        active = value == "true"
    try:
        # With an identifier: the people it designates, each checked against the other
        # conditions (parameters AND, docs/directory.md) — never a capped list of matches.
        among = (
            search.by_identifiers(
                (system, resources.national_id_of(value) if system is None else value)
                for system, value in identifiers
            )
            if identifiers
            else None
        )
        ids = search.by_names(
            name=_names("name"),
            family=_names("family"),
            given=_names("given"),
            active=active,
            among=among,
            after=after,
            limit=count + 1,
        )
    except SearchError as exc:
        raise FhirError(400, "invalid", str(exc)) from None
    more = len(ids) > count
    ids = ids[:count]
    directory = services().directory
    entries = []
    for national_id in ids:
        professional = directory.get(national_id)
        if professional is not None:
            resource = resources.practitioner(professional)
            entries.append((_url(f"/Practitioner/{resource['id']}", []), resource))
    self_url, next_url = _self_and_next("/Practitioner", ids[-1] if more else None)
    total = None if more or after else len(entries)
    return fhir_response(
        resources.searchset(entries, self_url=self_url, next_url=next_url, total=total)
    )


@bp.get("/PractitionerRole/<path:resource>")
def practitioner_role_read(resource: str) -> Response:
    _authenticate()
    parsed = resources.parse_role_id(resource)
    professional = services().directory.get(parsed[0]) if parsed else None
    if professional is not None:
        for role in resources.practitioner_roles(professional):
            if role["id"] == resource:
                return fhir_response(role)
    raise FhirError(404, "not-found", f"PractitionerRole/{resource} is not in the directory")


#: ``role`` systems other than the profession's, with the role code they test.
ROLE_SYSTEMS = {
    nomenclatures.fhir_system("TRE_R23-ModeExercice"): "code_mode_exercice",
    nomenclatures.fhir_system("TRE_R22-GenreActivite"): "code_genre_activite",
    nomenclatures.fhir_system("TRE_R21-Fonction"): "code_role",
    nomenclatures.fhir_system("TRE_R06-SectionTableauCNOP"): "code_section_pharmacien",
    nomenclatures.fhir_system("TRE_R09-CategorieProfessionnelle"): "code_categorie_professionnelle",
}
PROFESSION_SYSTEM = nomenclatures.fhir_system("TRE_G15-ProfessionSante")


def _role_matches(role: dict, tokens: list[tuple[str | None, str]]) -> bool:
    codings = [c for concept in role.get("code", []) for c in concept["coding"]]
    for system, code in tokens:
        wanted = PROFESSION_SYSTEM if system is None else system
        if any(c["system"] == wanted and c["code"] == code for c in codings):
            return True
    return False


@bp.get("/PractitionerRole")
def practitioner_role_search() -> Response:
    _authenticate()
    _check_params(ROLE_PARAMS)
    count = _count()
    after = request.args.get("_cursor", "")
    references = [
        resources.national_id_of(item.rpartition("/")[2]) for item in _any_of("practitioner")
    ]
    roles_wanted = _tokens("role")
    for system, _ in roles_wanted:
        if system not in (None, PROFESSION_SYSTEM) and system not in ROLE_SYSTEMS:
            raise FhirError(400, "not-supported", f"role system {system!r} is not supported")
    professions = [code for system, code in roles_wanted if system in (None, PROFESSION_SYSTEM)]
    if not references and not roles_wanted:
        raise FhirError(400, "invalid", "search PractitionerRole by practitioner or role")
    if not references and len(professions) != len(roles_wanted):
        raise FhirError(
            400,
            "not-supported",
            "a role other than a profession (TRE_G15) needs a practitioner parameter",
        )
    directory = services().directory
    if references:
        ids = sorted({i for i in references if i > after})
    else:
        ids = _search().by_profession(professions, after=after, limit=count + 1)
    # A page holds the roles of whole practitioners, at most _count roles unless a single
    # practitioner has more; the cursor is the last practitioner shown.
    entries: list[tuple[str, dict]] = []
    last: str | None = None
    more = False
    for national_id in ids:
        professional = directory.get(national_id)
        roles = []
        if professional is not None:
            roles = [
                role
                for role in resources.practitioner_roles(professional)
                if not roles_wanted or _role_matches(role, roles_wanted)
            ]
        if entries and len(entries) + len(roles) > count:
            more = True
            break
        entries.extend((_url(f"/PractitionerRole/{role['id']}", []), role) for role in roles)
        last = national_id
    else:
        more = not references and len(ids) > count
    self_url, next_url = _self_and_next("/PractitionerRole", last if more else None)
    total = None if more or after else len(entries)
    return fhir_response(
        resources.searchset(entries, self_url=self_url, next_url=next_url, total=total)
    )


def init_app(app) -> None:
    """Register the ``/fhir/v1`` routes."""
    app.register_blueprint(bp)

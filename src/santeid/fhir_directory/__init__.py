"""Read-only FHIR R4 directory API, shaped like the national Annuaire Santé (``/fhir/v1``).

Services that must "check that a user belongs to the profession they declare"
(docs/reference/pro-sante-connect.md §15)
look professionals up here instead of downloading the RASS. Routes (``docs/directory.md``):

- ``GET /fhir/v1/metadata`` — CapabilityStatement (no token needed);
- ``GET /fhir/v1/Practitioner`` — search: ``identifier``, ``name``, ``family``, ``given``,
  ``_id``, ``active``, ``qualification-code``; ``_revinclude=PractitionerRole:practitioner``;
- ``GET /fhir/v1/Practitioner/<id>`` — read;
- ``GET /fhir/v1/PractitionerRole`` — search: ``practitioner``, the chained
  ``practitioner.identifier``, ``role`` (TRE_G15 profession, or ``system|code`` of
  TRE_R23/R22/R21/R06/R09 together with ``practitioner``);
  ``_include=PractitionerRole:practitioner``;
- ``GET /fhir/v1/PractitionerRole/<id>`` — read;
- both searches: ``_count``, ``_total``, ``_summary``, ``_elements`` (reads too:
  :func:`santeid.fhir.subsetting`), and the ``_cursor`` of their ``next`` links; both also
  as ``POST /fhir/v1/<type>/_search`` with a form body (:func:`santeid.fhir.search_parameters`).

Search parameters (https://hl7.org/fhir/R4/search.html): a parameter with a modifier is refused
(400 ``not-supported``: none is supported but ``practitioner:Practitioner``, the type it
references, also in the chain ``practitioner:Practitioner.identifier``), and so is a filter
that FHIR R4 or the Annuaire Santé defines on the resource and santeid does not apply, or an
``_include``/``_revinclude`` not served, or a chain on one of the resource's parameters other
than ``practitioner.identifier``; any other unknown parameter is ignored (lenient handling) unless
the client sends ``Prefer: handling=strict``. The ``self`` link lists only the parameters applied.

Every resource route needs ``Authorization: Bearer <access token>``: a token of a logged-in
professional or one obtained by a service with the ``client_credentials`` grant (RFC 6749
§4.4), both checked by the shared resource protector (``santeid.oidc.protector``: signature,
expiry, revocation, certificate binding). Errors are ``OperationOutcome``
resources (FHIR R4 §3.1.0.4.1 "http"). Responses are ``application/fhir+json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from urllib.parse import SplitResult
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Response
from flask import request

from santeid import error_formats
from santeid.directory import nomenclatures
from santeid.directory.search import FHIR_NAME_COLUMNS
from santeid.directory.search import DirectorySearch
from santeid.directory.search import Professions
from santeid.directory.search import SearchError
from santeid.directory.search import identifier_type
from santeid.directory.search import system_matches
from santeid.fhir import FhirBlueprint
from santeid.fhir import Token
from santeid.fhir import capability_statement
from santeid.fhir import check_format
from santeid.fhir import count_only
from santeid.fhir import fhir_response
from santeid.fhir import operation_outcome
from santeid.fhir import search_count
from santeid.fhir import search_parameters
from santeid.fhir import search_token
from santeid.fhir import served_url
from santeid.fhir import strict_handling
from santeid.fhir import subsetting
from santeid.fhir import subsetting_applied
from santeid.fhir_directory import resources
from santeid.oidc import protector
from santeid.services import services

PREFIX = "/fhir/v1"
#: Search parameters applied, by resource type; the CapabilityStatement lists them.
SEARCH_PARAMS: dict[str, dict[str, str]] = {
    "Practitioner": {
        "_id": "token",
        "identifier": "token",
        "name": "string",
        "family": "string",
        "given": "string",
        "active": "token",
        "qualification-code": "token",
    },
    "PractitionerRole": {"practitioner": "reference", "role": "token"},
}
#: Chained parameters followed (https://hl7.org/fhir/R4/search.html#chaining), by resource type:
#: reference parameter → the target's parameters. ``practitioner.identifier`` designates
#: practitioners as ``Practitioner?identifier=`` does. Any other chain on a parameter of the
#: resource is refused (:func:`_check_params`).
CHAINS: dict[str, dict[str, tuple[str, ...]]] = {
    "Practitioner": {},
    "PractitionerRole": {"practitioner": ("identifier",)},
}
#: Result parameters of every search (``_cursor``: the keyset position of a ``next`` link).
RESULT_PARAMS = frozenset({"_count", "_total", "_cursor", "_format", "_summary", "_elements"})
#: ``_include`` / ``_revinclude`` values served, by resource type
#: (https://hl7.org/fhir/R4/search.html#include); any other is refused.
INCLUDES: dict[str, dict[str, str]] = {
    "Practitioner": {"_revinclude": "PractitionerRole:practitioner"},
    "PractitionerRole": {"_include": "PractitionerRole:practitioner"},
}
INCLUDE_PARAMS = ("_include", "_revinclude")
#: What the count alone (:func:`~santeid.fhir.count_only`) does not apply, left out of its
#: ``self`` link: it includes nothing, pages nothing and always counts (``_elements``:
#: :func:`~santeid.fhir.subsetting_applied`).
COUNT_ALONE_IGNORES = frozenset({*INCLUDE_PARAMS, "_cursor", "_total"})
#: The resource type each included reference designates: an include may also be written
#: ``[source]:[parameter]:[target]`` (https://hl7.org/fhir/R4/search.html#include).
INCLUDE_TARGETS = {"PractitionerRole:practitioner": "Practitioner"}


def _include_values(resource_type: str, key: str) -> list[str]:
    """The values of ``key`` (``_include``/``_revinclude``) served on ``resource_type``: the
    include, then the same with its target type."""
    include = INCLUDES[resource_type].get(key)
    if include is None:
        return []
    return [include, f"{include}:{INCLUDE_TARGETS[include]}"]


#: Filters defined on every resource (https://hl7.org/fhir/R4/search.html#all), on the
#: resource by FHIR R4 (practitioner.html#search, practitionerrole.html#search) or by the
#: Annuaire Santé API (docs/directory.md, "Differences from the Annuaire Santé") that santeid
#: does not apply: refused, since ignoring one would answer a wider search as the one asked.
FILTERS_NOT_SERVED: dict[str, frozenset[str]] = {
    resource: frozenset(names) - frozenset(SEARCH_PARAMS[resource])
    | frozenset(
        {
            "_content",
            "_filter",
            "_has",
            "_lastUpdated",
            "_list",
            "_profile",
            "_query",
            "_security",
            "_since",
            "_source",
            "_tag",
            "_text",
            "_type",
        }
    )
    for resource, names in {
        "Practitioner": {
            "address",
            "address-city",
            "address-country",
            "address-postalcode",
            "address-state",
            "address-use",
            "communication",
            "email",
            "gender",
            "phone",
            "phonetic",
            "telecom",
            # Annuaire Santé v1 and v2
            "as-sp-data-information-system",
            "as-sp-data-registration-authority",
            "data-information-system",
            "data-registration-authority",
            "identifier-type",
            "mailbox-mss",
            "number-smartcard",
        },
        "PractitionerRole": {
            "_id",
            "active",
            "date",
            "email",
            "endpoint",
            "identifier",
            "location",
            "organization",
            "phone",
            "service",
            "specialty",
            "telecom",
            # Annuaire Santé v1
            "family",
            "given",
            "mailbox-mss",
            "name",
            "number-smartcard",
            "speciality",
            "type-smartcard",
        },
    }.items()
}
#: Parameters whose empty alternatives are no condition (:func:`_names`).
NAME_PARAMS = frozenset({"name", "family", "given"})
TOTAL_MODES = ("none", "estimate", "accurate")

log = logging.getLogger(__name__)

bp = FhirBlueprint("fhir_directory", __name__, url_prefix=PREFIX)


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


def _chains(resource_type: str) -> frozenset[str]:
    """The chained parameters served on ``resource_type`` (``practitioner.identifier``)."""
    return frozenset(
        f"{head}.{target}" for head, targets in CHAINS[resource_type].items() for target in targets
    )


def _served(resource_type: str) -> frozenset[str]:
    return (
        frozenset(SEARCH_PARAMS[resource_type])
        | _chains(resource_type)
        | RESULT_PARAMS
        | frozenset(INCLUDES[resource_type])
    )


def _typed_references(resource_type: str) -> None:
    """Read a reference parameter that names the type it references as the parameter itself:
    ``practitioner:Practitioner`` (https://hl7.org/fhir/R4/search.html#reference), also before
    a chain, ``practitioner:Practitioner.identifier``
    (https://hl7.org/fhir/R4/search.html#chaining) — ``practitioner`` references nothing else
    (:data:`INCLUDE_TARGETS`). FHIR clients write chains so (fhirpy's
    ``practitioner__Practitioner__identifier``). In place, in the parameters' order; another
    type stays a modifier, refused."""
    params = search_parameters()
    renamed = []
    for key, value in params.items(multi=True):
        name, colon, rest = key.partition(":")
        target = INCLUDE_TARGETS.get(f"{resource_type}:{name}")
        if colon and SEARCH_PARAMS[resource_type].get(name) == "reference" and target:
            typed, dot, chained = rest.partition(".")
            if typed == target:
                key = f"{name}{dot}{chained}"
        renamed.append((key, value))
    params.clear()
    for key, value in renamed:
        params.add(key, value)


def _check_params(resource_type: str) -> None:
    """Refuse what this search cannot apply as asked (https://hl7.org/fhir/R4/search.html):
    any modifier but a reference's type (:func:`_typed_references`) ("a server SHALL reject any
    search request that contains a search parameter with an unsupported modifier"), a filter
    not served (:data:`FILTERS_NOT_SERVED`), an include not served, a chain not served on a
    parameter of the resource (``organization.identifier``: :data:`CHAINS`); unknown
    parameters only with ``Prefer: handling=strict``."""
    _typed_references(resource_type)
    served = _served(resource_type)
    parameters = frozenset(SEARCH_PARAMS[resource_type]) | FILTERS_NOT_SERVED[resource_type]
    for key in search_parameters():
        name, colon, modifier = key.partition(":")
        if colon:
            raise FhirError(
                400,
                "not-supported",
                f"search parameter {name!r}: modifier :{modifier} is not supported",
            )
        if key in FILTERS_NOT_SERVED[resource_type]:
            raise FhirError(
                400,
                "not-supported",
                f"search parameter {key!r} is not supported on {resource_type}",
            )
        head, dot, _ = key.partition(".")
        if dot and head in parameters and key not in served:
            raise FhirError(
                400,
                "not-supported",
                f"chained parameter {key!r} is not supported on {resource_type}",
            )
    for key in INCLUDE_PARAMS:
        for value in search_parameters().getlist(key):
            if value and value not in _include_values(resource_type, key):
                raise FhirError(
                    400, "not-supported", f"{key}={value} is not supported on {resource_type}"
                )
    subsetting(resource_type)  # _summary and _elements checked
    unknown = sorted(set(search_parameters()) - served)
    if unknown and strict_handling():
        raise FhirError(400, "not-supported", f"unsupported search parameter(s): {unknown}")
    total = search_parameters().get("_total")
    if total and total not in TOTAL_MODES:
        raise FhirError(400, "invalid", f"_total must be one of {', '.join(TOTAL_MODES)}")


def _applied(resource_type: str) -> list[tuple[str, str]]:
    """The parameters this search applies, in the request's order: served, and not empty
    (an empty value, or a name of only empty alternatives, is no condition); ``_count`` once,
    as served (at most :data:`~santeid.fhir.MAX_COUNT`); ``_summary`` and ``_elements`` as
    :func:`~santeid.fhir.subsetting_applied` says."""
    served = _served(resource_type)
    # The count alone includes, pages and subsets nothing, and always counts.
    not_applied = COUNT_ALONE_IGNORES if count_only() else frozenset()
    applied = []
    for key, value in search_parameters().items(multi=True):
        if key in not_applied:
            continue
        if key in ("_summary", "_elements"):
            pair = subsetting_applied(key, value)
            if pair is not None and pair not in applied:
                applied.append(pair)
        elif key == "_count":
            if ("_count", str(search_count())) not in applied:
                applied.append(("_count", str(search_count())))
        elif key in served and value != "" and (key not in NAME_PARAMS or any(value.split(","))):
            applied.append((key, value))
    return applied


def _includes(resource_type: str, key: str) -> bool:
    """Whether the served ``key`` (``_include`` or ``_revinclude``) is asked."""
    served = _include_values(resource_type, key)
    return any(value in served for value in search_parameters().getlist(key))


def _total(count_all: Callable[[], int], matches: int, more: bool) -> int | None:
    """``Bundle.total`` (https://hl7.org/fhir/R4/search.html#total): with ``_total=accurate``
    every match counted (``count_all()``, a walk of them all), with ``none`` never; else when
    the whole result is on this first page, where it costs nothing."""
    mode = search_parameters().get("_total") or "estimate"
    if mode == "accurate":
        return count_all()
    if mode == "none" or more or search_parameters().get("_cursor"):
        return None
    return matches


def _values(name: str) -> list[list[str]]:
    """A parameter's values: one list per repetition (repetitions AND), of its comma-separated
    alternatives (OR): https://hl7.org/fhir/R4/search.html#combining. An empty repetition is
    ignored. A comma always separates: no ``\\,`` escape (docs/directory.md; directory names
    and ids hold no comma)."""
    return [raw.split(",") for raw in search_parameters().getlist(name) if raw != ""]


def _all_of(repetitions: Iterable[Iterable[str]]) -> list[str] | None:
    """The ids in every repetition's set (repetitions AND, each the OR of its alternatives),
    in order; ``None`` without repetitions (no condition)."""
    found: set[str] | None = None
    for ids in repetitions:
        found = set(ids) if found is None else found & set(ids)
    return None if found is None else sorted(found)


def _names(name: str) -> list[list[str]]:
    """A name parameter's values (:func:`_values`) without empty alternatives: ``family=A,``
    is ``family=A``, and ``family=,`` no condition, as ``family=``."""
    return [[a for a in alternatives if a] for alternatives in _values(name) if any(alternatives)]


def _url(path: str, params: list[tuple[str, str]]) -> str:
    return served_url(f"{PREFIX}{path}", params)


def _self_and_next(resource_type: str, last: str | None) -> tuple[str, str | None]:
    """The ``self`` link (the parameters applied, https://hl7.org/fhir/R4/search.html#conformance)
    and, with ``last``, the ``next`` link: the same parameters, ``_cursor=last``."""
    path = f"/{resource_type}"
    params = _applied(resource_type)
    self_url = _url(path, params)
    if last is None:
        return self_url, None
    following = [(k, v) for k, v in params if k != "_cursor"] + [("_cursor", last)]
    return self_url, _url(path, following)


def _count_alone(resource_type: str, count_all: Callable[[], int]) -> Response:
    """The answer of a search asking for its number of matches alone
    (:func:`~santeid.fhir.count_only`): ``total``, the ``self`` link, no entry."""
    self_url, _ = _self_and_next(resource_type, None)
    return fhir_response(
        resources.searchset([], self_url=self_url, next_url=None, total=count_all())
    )


def _searchset(
    resource_type: str,
    matches: list[tuple[str, dict]],
    included: list[tuple[str, dict]],
    self_url: str,
    next_url: str | None,
    total: int | None,
) -> Response:
    """The searchset Bundle of a search, its resources as ``_summary`` and ``_elements`` keep
    them (:func:`~santeid.fhir.subsetting`)."""
    subset = subsetting(resource_type)
    return fhir_response(
        resources.searchset(
            [(url, subset.apply(resource)) for url, resource in matches],
            included=[(url, subset.apply(resource)) for url, resource in included],
            self_url=self_url,
            next_url=next_url,
            total=total,
        )
    )


def _search() -> DirectorySearch:
    return DirectorySearch(services().directory)


@bp.get("/metadata")
def metadata() -> Response:
    """CapabilityStatement (FHIR R4 §3.1.0.10): what this server answers, exactly."""
    check_format()
    served = []
    for resource_type, params in SEARCH_PARAMS.items():
        entry: dict = {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
        }
        if _include_values(resource_type, "_include"):
            entry["searchInclude"] = _include_values(resource_type, "_include")
        if _include_values(resource_type, "_revinclude"):
            entry["searchRevInclude"] = _include_values(resource_type, "_revinclude")
        entry["searchParam"] = []
        for name, kind in params.items():
            param = {"name": name, "type": kind}
            chained = CHAINS[resource_type].get(name)
            if chained:
                param["documentation"] = "Chained: " + ", ".join(f"{name}.{t}" for t in chained)
            entry["searchParam"].append(param)
        served.append(entry)
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
            "resource": served,
        },
    )
    return fhir_response(statement)


@bp.get("/Practitioner/<resource>")
def practitioner_read(resource: str) -> Response:
    """A practitioner; the request checked before it is looked up, so that a wrong one is its
    400 whatever the id, as HAPI FHIR binds a read's parameters (``_summary``:
    ``SummaryEnumParameter``, hapi-fhir-server) before calling the read (docs/directory.md)."""
    _authenticate()
    check_format()
    subset = subsetting("Practitioner", search=False)
    professional = services().directory.get(resources.national_id_of(resource))
    if professional is None:
        raise FhirError(404, "not-found", f"Practitioner/{resource} is not in the directory")
    return fhir_response(subset.apply(resources.practitioner(professional)))


PROFESSION_SYSTEM = nomenclatures.fhir_system("TRE_G15-ProfessionSante")
#: Fields written in ``Practitioner.qualification`` other than the profession.
OTHER_QUALIFICATIONS = (
    "code_categorie_professionnelle",
    "code_savoir_faire",
    "code_type_savoir_faire",
)


def _coding_matches(codings: Iterable[dict], token: Token) -> bool:
    """Whether a coding matches the token: its code and system, or, for ``system|``, any code
    of that system (https://hl7.org/fhir/R4/search.html#token)."""
    system, code = token
    return any(
        (c["code"] == code or (not code and system is not None))
        and system_matches(system, c.get("system"))
        for c in codings
    )


def _qualification_professions(repetitions: list[list[Token]]) -> Professions:
    """``qualification-code`` over the whole directory: the TRE_G15 codes of each repetition
    (its alternatives OR, repetitions AND), searched through the professions' index; ``None``
    for a repetition with the TRE_G15 system alone (``<system>|``: any profession).

    A code of another qualification list (category, savoir-faire, its type) is not indexed:
    asked with its system (alone too), or bare while it is also a code of such a list (``80``
    is a profession and a TRE_G13 orientation), the search is refused unless ``identifier``
    values or ``_id`` narrow it. A system no qualification is written in matches nothing
    (:func:`~santeid.directory.search.system_matches`)."""
    professions: list[list[str] | None] = []
    for alternatives in repetitions:
        codes: list[str] = []
        any_profession = False
        for system, code in alternatives:
            if not code and system is None:
                continue
            if system_matches(system, PROFESSION_SYSTEM) and (
                system is not None
                or not any(nomenclatures.is_known(f, code) for f in OTHER_QUALIFICATIONS)
            ):
                if code:
                    codes.append(code)
                else:
                    any_profession = True
            elif system is None or any(
                system in nomenclatures.systems_of(f) for f in OTHER_QUALIFICATIONS
            ):
                shown = code if system is None else f"{system}|{code}"
                raise FhirError(
                    400,
                    "not-supported",
                    f"qualification-code={shown}: over the whole directory only TRE_G15 "
                    "professions are searched (give their system for a code that is also "
                    "another list's); other qualifications need identifier values or _id",
                )
        professions.append(None if any_profession else codes)
    return professions


def _active() -> tuple[bool | None, bool]:
    """``active``, a token of a boolean written without a system — repetitions AND, commas
    OR (https://hl7.org/fhir/R4/search.html#combining) — as ``(value, nobody)``: ``value``
    ``True``, ``False`` or ``None`` for either (no condition, also ``true,false``); ``nobody``
    when no value is wanted (``true&active=false``, another system's value: docs/directory.md,
    "Token systems"). A value other than ``true``/``false`` (but ``<system>|``, any value of
    that system) is a 400."""
    wanted = {True, False}
    for values in _values("active"):
        allowed: set[bool] = set()
        for raw in values:
            system, value = search_token(raw)
            if value not in ("true", "false") and not (system and not value):
                raise FhirError(400, "invalid", "active must be true or false")
            if system_matches(system, None):
                allowed |= {value == "true"} if value else {True, False}
        wanted &= allowed
    active = next(iter(wanted)) if len(wanted) == 1 else None
    return active, not wanted


@bp.post("/Practitioner/_search")
def practitioner_search_post() -> Response:
    """The search posted (https://hl7.org/fhir/R4/http.html#search)."""
    return practitioner_search()


@bp.get("/Practitioner")
def practitioner_search() -> Response:
    _authenticate()
    check_format()
    _check_params("Practitioner")
    count = search_count()
    after = search_parameters().get("_cursor", "")
    search = _search()
    directory = services().directory
    # Each repetition of identifier or _id designates people (its alternatives OR), and every
    # repetition must designate them (AND, https://hl7.org/fhir/R4/search.html#combining);
    # _id by the logical id alone, the id a read answers. A repetition naming a whole system
    # (http://rpps.fr|: any RPPS number) designates too many people to list: it is a condition
    # of the query (search.Designated).
    designated_ids: list[list[str]] = [search.existing(ids) for ids in _logical_ids()]
    designated: list[tuple[list[str], list[str]]] = []
    for values in _values("identifier"):
        tokens = [search_token(raw) for raw in values]
        types = {
            t
            for system, value in tokens
            if not value.strip() and (t := identifier_type(system)) is not None
        }
        if "" in types:
            continue  # every person has an idNat_PS: no condition
        if types:
            designated.append((_identified(search, tokens), sorted(types)))
        else:
            designated_ids.append(_identified(search, tokens))
    active, nobody_active = _active()
    qualifications = [
        [search_token(raw) for raw in values] for values in _values("qualification-code")
    ]
    professions: Professions = []
    among = _all_of(designated_ids)
    if among is not None:
        # With an identifier: the people it designates, each checked against the other
        # conditions (parameters AND, docs/directory.md) — never a capped list of matches.
        # Their qualifications are read from their resources: every system is searched.
        if qualifications:
            among = [
                national_id
                for national_id in among
                if (professional := directory.get(national_id)) is not None
                and _qualified(resources.practitioner(professional), qualifications)
            ]
    elif qualifications:
        professions = _qualification_professions(qualifications)
    if nobody_active:
        among = []  # true and false, or another system's boolean: nobody
    name, family, given = _names("name"), _names("family"), _names("given")
    # One statement of the conditions, for the page and for its total (``_total=accurate``).
    conditions: dict[str, Any] = {
        "name": name,
        "family": family,
        "given": given,
        "professions": professions,
        "active": active,
        "among": among,
        "designated": designated,
        "columns": FHIR_NAME_COLUMNS,
    }
    try:
        if count_only():
            return _count_alone("Practitioner", lambda: search.count(**conditions))
        ids = search.by_names(**conditions, after=after, limit=count + 1)
    except SearchError as exc:
        raise FhirError(400, "invalid", str(exc)) from None
    more = len(ids) > count
    ids = ids[:count]
    matches: list[tuple[str, dict]] = []
    included: list[tuple[str, dict]] = []
    revinclude = _includes("Practitioner", "_revinclude")
    for national_id in ids:
        professional = directory.get(national_id)
        if professional is not None:
            resource = resources.practitioner(professional)
            matches.append((_url(f"/Practitioner/{resource['id']}", []), resource))
            if revinclude:
                included.extend(_role_entries(resources.practitioner_roles(professional)))
    self_url, next_url = _self_and_next("Practitioner", ids[-1] if more else None)

    def count_all() -> int:
        return search.count(**conditions)

    total = _total(count_all, len(matches), more)
    return _searchset("Practitioner", matches, included, self_url, next_url, total)


def _chained_identifier(values: list[str]) -> list[Token]:
    """The tokens of a repetition of ``practitioner.identifier``; a system alone (any value of
    it) is refused: it designates too many practitioners to follow their roles."""
    tokens = [search_token(raw) for raw in values]
    for system, value in tokens:
        if system is not None and not value.strip():
            raise FhirError(
                400,
                "not-supported",
                f"practitioner.identifier={system}|: a system alone is searched on Practitioner "
                "only (identifier)",
            )
    return tokens


def _logical_ids() -> list[list[str]]:
    """``_id``'s repetitions: the national ids of their resource ids. A value holding a ``/``
    (a structure staff member's national id as written, ``3…/X``) is no resource id
    (https://hl7.org/fhir/R4/datatypes.html#id) and designates nobody, as its read is no
    read: the resource id writes it ``3…-X``."""
    return [
        [resources.national_id_of(value) for value in values if "/" not in value]
        for values in _values("_id")
    ]


def _identified(search: DirectorySearch, tokens: list[Token]) -> list[str]:
    """The national ids one repetition of ``identifier`` designates (its tokens OR); a bare
    value may be a resource id (``/`` written ``-``)."""
    return search.by_identifiers(
        (system, resources.national_id_of(value) if system is None else value)
        for system, value in tokens
    )


def _qualified(practitioner: dict, repetitions: list[list[Token]]) -> bool:
    """Whether a Practitioner's qualifications match every repetition of the tokens."""
    codings = [c for q in practitioner.get("qualification", []) for c in q["code"]["coding"]]
    return all(any(_coding_matches(codings, t) for t in tokens) for tokens in repetitions)


def _role_entries(roles: Iterable[dict]) -> list[tuple[str, dict]]:
    return [(_url(f"/PractitionerRole/{role['id']}", []), role) for role in roles]


@bp.get("/PractitionerRole/<resource>")
def practitioner_role_read(resource: str) -> Response:
    """A role; the request checked first, as :func:`practitioner_read`."""
    _authenticate()
    check_format()
    subset = subsetting("PractitionerRole", search=False)
    parsed = resources.parse_role_id(resource)
    professional = services().directory.get(parsed[0]) if parsed else None
    if professional is not None:
        for role in resources.practitioner_roles(professional):
            if role["id"] == resource:
                return fhir_response(subset.apply(role))
    raise FhirError(404, "not-found", f"PractitionerRole/{resource} is not in the directory")


#: ``role`` systems other than the profession's, with the role code they test.
ROLE_SYSTEMS = {
    nomenclatures.fhir_system("TRE_R23-ModeExercice"): "code_mode_exercice",
    nomenclatures.fhir_system("TRE_R22-GenreActivite"): "code_genre_activite",
    nomenclatures.fhir_system("TRE_R21-Fonction"): "code_role",
    nomenclatures.fhir_system("TRE_R06-SectionTableauCNOP"): "code_section_pharmacien",
    nomenclatures.fhir_system("TRE_R09-CategorieProfessionnelle"): "code_categorie_professionnelle",
}


def _role_ranks(role: dict) -> tuple[int, int]:
    """The exercice and activity ranks of a role, its order among the practitioner's roles."""
    parsed = resources.parse_role_id(role["id"])
    assert parsed is not None  # role ids are written by resources.role_id
    return parsed[1], parsed[2]


def _role_matches(role: dict, repetitions: list[list[Token]]) -> bool:
    """Whether a role's codes match every repetition of ``role`` (one of its alternatives)."""
    codings = [c for concept in role.get("code", []) for c in concept["coding"]]
    return all(any(_coding_matches(codings, t) for t in tokens) for tokens in repetitions)


def _role_professions(repetitions: list[list[Token]]) -> list[str] | None:
    """``role`` over the whole directory: the TRE_G15 codes a role must have, through the
    professions' index — every repetition's alternatives, intersected (a role has one
    profession); ``None``: any profession (the TRE_G15 system alone, ``<system>|``, in every
    repetition). A code of another role list (with its system, alone too, or bare: ``E``,
    ``S``…) is not indexed: refused without ``practitioner``. A system no role code is written
    in matches nothing (:func:`~santeid.directory.search.system_matches`)."""
    wanted: set[str] | None = None
    for tokens in repetitions:
        codes: set[str] = set()
        any_profession = False
        for system, code in tokens:
            if not code and system is None:
                continue
            if system_matches(system, PROFESSION_SYSTEM) and (
                system is not None
                or not any(nomenclatures.is_known(f, code) for f in ROLE_SYSTEMS.values())
            ):
                if code:
                    codes.add(code)
                else:
                    any_profession = True
            elif system is None or system in ROLE_SYSTEMS:
                raise FhirError(
                    400,
                    "not-supported",
                    "a role other than a profession (TRE_G15) needs a practitioner parameter",
                )
        if not any_profession:
            wanted = codes if wanted is None else wanted & codes
    return None if wanted is None else sorted(wanted)


#: The port a URL without one names (RFC 9110 §4.2.1, §4.2.2).
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: SplitResult) -> tuple[str, str, int | None, bool]:
    """What of ``url`` names a server, as RFC 3986 §6.2.2.1 and §6.2.3 compare it: scheme and
    host in any case, the scheme's default port written or not; and whether it has user
    information (which no URL of this server has). Raises :class:`ValueError` for a port
    that is no number."""
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else DEFAULT_PORTS.get(scheme)
    return scheme, (url.hostname or "").lower(), port, "@" in url.netloc


def _referenced_practitioner(reference: str) -> str | None:
    """The national id a ``practitioner`` value names: ``<id>``, ``Practitioner/<id>`` or this
    server's URL of it (https://hl7.org/fhir/R4/search.html#reference); ``None`` for a
    reference to another type (``Organization/<id>``), which is no role's practitioner, and
    for another server's URL (an absolute reference names its server:
    https://hl7.org/fhir/R4/references.html#literal), whatever id it ends with — and for a
    value that is no URL (``http://[::1/…``, whose host urlsplit refuses), no server's."""
    if "://" in reference:
        try:
            url = urlsplit(reference)
            origin = _origin(url)
        except ValueError:  # an unclosed or non-IPv6 bracketed host (RFC 3986 §3.2.2), a port
            return None  # that is no number
        base = urlsplit(_url("", []))
        if origin != _origin(base) or not url.path.startswith(f"{base.path}/"):
            return None
        reference = url.path[len(base.path) + 1 :]
    kind, slash, resource = reference.rpartition("/")
    if slash and kind != "Practitioner":
        return None
    return resources.national_id_of(resource)


@bp.post("/PractitionerRole/_search")
def practitioner_role_search_post() -> Response:
    """The search posted (https://hl7.org/fhir/R4/http.html#search)."""
    return practitioner_role_search()


@bp.get("/PractitionerRole")
def practitioner_role_search() -> Response:
    _authenticate()
    check_format()
    _check_params("PractitionerRole")
    count = search_count()
    after = search_parameters().get("_cursor", "")
    search = _search()
    # A role has one practitioner: repetitions AND, alternatives OR (as identifier), those of
    # practitioner.identifier too.
    references = _all_of(
        [
            *(
                [i for i in map(_referenced_practitioner, values) if i is not None]
                for values in _values("practitioner")
            ),
            *(
                _identified(search, _chained_identifier(values))
                for values in _values("practitioner.identifier")
            ),
        ]
    )
    # Repetitions AND, comma-separated alternatives OR; a bare code is any system's, a system
    # no role code is written in matches nothing (search.system_matches).
    roles_wanted = [[search_token(raw) for raw in values] for values in _values("role")]
    if references is None and not roles_wanted:
        raise FhirError(
            400,
            "invalid",
            "search PractitionerRole by practitioner, practitioner.identifier or role",
        )
    professions = [] if references is not None else _role_professions(roles_wanted)
    directory = services().directory

    def roles_of(national_id: str) -> list[dict]:
        professional = directory.get(national_id)
        if professional is None:
            return []
        return [
            role
            for role in resources.practitioner_roles(professional)
            if not roles_wanted or _role_matches(role, roles_wanted)
        ]

    def count_all() -> int:
        if references is not None:
            return sum(len(roles_of(i)) for i in references)
        return search.count_roles(professions)

    if count_only():
        return _count_alone("PractitionerRole", count_all)
    # The cursor is the last role shown: that practitioner's roles, if any are left, go on.
    # (A bare national id, the cursor of links handed out by earlier releases, resumes after
    # that practitioner.)
    resumed = resources.parse_role_id(after)
    if resumed is not None:
        after = resumed[0]
    if references is not None:
        fetched = [i for i in references if i > after]
    else:
        fetched = search.by_profession(professions, after=after, limit=count + 1)
    ids = fetched
    if resumed is not None and (references is None or after in references):
        ids = [after, *fetched]
    # At most _count roles: "servers SHALL NOT return more resources than requested"
    # (https://hl7.org/fhir/R4/search.html#count).
    matches: list[tuple[str, dict]] = []
    shown: list[str] = []
    last: str | None = None
    more = False
    for national_id in ids:
        roles = roles_of(national_id)
        if resumed is not None and national_id == resumed[0]:
            roles = [r for r in roles if _role_ranks(r) > resumed[1:]]
        if roles and len(matches) == count:
            more = True
            break
        room = count - len(matches)
        matches.extend(_role_entries(roles[:room]))
        if roles:
            shown.append(national_id)
        if len(roles) > room:
            more = True
            last = roles[room - 1]["id"]
            break
        # The last role shown (or the practitioner's first rank when none was), never the bare
        # national id: a structure staff member's may end like ranks ("3…/X-1-2") and would be
        # read back as a role of "3…/X", the next page showing this practitioner again.
        last = roles[-1]["id"] if roles else resources.role_id(national_id, 0, 0)
    else:
        more = references is None and len(fetched) > count
    included: list[tuple[str, dict]] = []
    if _includes("PractitionerRole", "_include"):
        for national_id in shown:
            professional = directory.get(national_id)
            if professional is not None:
                resource = resources.practitioner(professional)
                included.append((_url(f"/Practitioner/{resource['id']}", []), resource))

    self_url, next_url = _self_and_next("PractitionerRole", last if more else None)
    total = _total(count_all, len(matches), more)
    return _searchset("PractitionerRole", matches, included, self_url, next_url, total)


def init_app(app) -> None:
    """Register the ``/fhir/v1`` routes."""
    app.register_blueprint(bp)

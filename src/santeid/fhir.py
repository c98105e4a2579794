"""What every FHIR R4 API of santeid shares: its routes (:class:`FhirBlueprint`), the media
type, the ``OperationOutcome`` of an error, the response that carries a resource, the URL of a
search as performed, the common part of a ``CapabilityStatement``, and the reading of a search:
its parameters from the query and a posted form (:func:`search_parameters`, with the cap of
:data:`MAX_SEARCH_VALUES`), the format asked (:func:`check_format`), ``_count``
(:func:`search_count`), a count alone (:func:`count_only`), the parts of resources
``_summary`` and ``_elements`` keep (:func:`subsetting`), ``Prefer: handling=strict``
(:func:`strict_handling`) and tokens (:func:`search_token`).

Used by the INSi FHIR adapter (``santeid.insi.fhir``, ``/insi/fhir``) and the directory API
(``santeid.fhir_directory``, ``/fhir/v1``), so both answer errors in one shape:

.. code-block:: json

    {"resourceType": "OperationOutcome",
     "issue": [{"severity": "error", "code": "invalid",
                "details": {"text": "…", "coding": [{"system": "…/problems", "code": "…"}]},
                "diagnostics": "…"}]}

``details.text`` is always present (the message for people), ``details.coding`` when santeid
has a problem code for the error (the one catalogue, ``santeid.problems``), ``diagnostics`` when
there is more to say. FHIR R4 OperationOutcome: https://hl7.org/fhir/R4/operationoutcome.html;
errors over HTTP: https://hl7.org/fhir/R4/http.html#2.21.0.19.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import g
from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import NotAcceptable
from werkzeug.exceptions import UnsupportedMediaType

from santeid.cache_control import no_store
from santeid.security import ParameterTooLarge
from santeid.security import whole_number

#: The FHIR JSON media type (https://hl7.org/fhir/R4/http.html#mime-type).
FHIR_JSON = "application/fhir+json"
#: The FHIR version served.
FHIR_VERSION = "4.0.1"
#: ``Content-Type`` of every FHIR answer: the ``fhirVersion`` parameter names R4
#: (https://hl7.org/fhir/R4/http.html#version-parameter).
FHIR_CONTENT_TYPE = f"{FHIR_JSON}; fhirVersion=4.0; charset=utf-8"
#: ``_format`` values and ``Accept`` media types that mean FHIR JSON
#: (https://hl7.org/fhir/R4/http.html#mime-type): ``json``, ``application/json``,
#: ``application/fhir+json``, and DSTU2's ``application/json+fhir``, which servers "MAY also
#: support". Any of them may carry parameters (:func:`check_format`).
JSON_FORMATS = ("json", "application/json", FHIR_JSON, "application/json+fhir")
#: Values of the ``fhirVersion`` parameter of a media type that name the version served
#: (https://hl7.org/fhir/R4/http.html#version-parameter).
FHIR_VERSIONS = ("4.0", FHIR_VERSION)
#: ``Accept`` ranges that take JSON among others.
_ANY_MEDIA = ("*/*", "application/*")
#: Values one search parameter may have — its comma-separated alternatives (OR) over all its
#: repetitions (AND), https://hl7.org/fhir/R4/search.html#combining — in every search of
#: santeid's FHIR APIs; more is a 400 ``too-costly`` (:func:`check_search_values`). The
#: directory's name searches turn each value into index range walks joined in one SQLite
#: statement, whose compound ``SELECT`` holds at most 500 terms
#: (https://www.sqlite.org/limits.html#max_compound_select): every parameter at this cap at
#: once stays within it (tests/directory/test_fhir_search_protocol.py).
MAX_SEARCH_VALUES = 100
#: ``_count`` of a search that does not ask (a page's size), and the most a page holds: a
#: larger ``_count`` is served as this one — R4 lets a server return fewer resources than
#: asked (https://hl7.org/fhir/R4/search.html#count) — and its links carry it.
DEFAULT_COUNT = 50
MAX_COUNT = 500
#: The media type of a posted search's body (https://hl7.org/fhir/R4/http.html#search).
FORM = "application/x-www-form-urlencoded"


class FhirBlueprint(Blueprint):
    """A FHIR API's blueprint: each of its URLs is also served with one trailing slash
    (``[base]/Patient/``, ``[base]/metadata/``, ``[base]/Practitioner/<id>/``), the same
    interaction, as HAPI FHIR's ``RestfulServer`` reads a path: its segments without the empty
    ones (``UrlPathTokenizer``), so ``[base]/Patient/`` is the type-level search
    (https://hl7.org/fhir/R4/http.html#search) — not a read of an empty id, which R4's id type
    (``[A-Za-z0-9\\-\\.]{1,64}``) cannot be. Links and ``self`` URLs stay without the slash. An
    empty segment elsewhere (``Patient//``) still names nothing (``santeid.error_formats``)."""

    def add_url_rule(self, rule: str, *args: Any, **options: Any) -> None:
        options.setdefault("strict_slashes", False)
        super().add_url_rule(rule, *args, **options)


def operation_outcome(
    issue_code: str,
    text: str,
    *,
    severity: str = "error",
    code: str | None = None,
    system: str | None = None,
    diagnostics: str | None = None,
) -> dict:
    """An ``OperationOutcome`` with one issue. ``issue_code`` is from the R4 ``issue-type``
    value set (``invalid``, ``not-found``, ``login``, ``forbidden``, ``not-supported``,
    ``exception``…); ``code``/``system`` add a coding of santeid's own code."""
    details: dict = {"text": text}
    if code:
        details["coding"] = [{"system": system, "code": code}]
    issue: dict = {"severity": severity, "code": issue_code, "details": details}
    if diagnostics:
        issue["diagnostics"] = diagnostics
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def search_parameters() -> MultiDict:
    """The parameters of this search, for ``GET [base]/[type]?…`` and
    ``POST [base]/[type]/_search`` alike (https://hl7.org/fhir/R4/http.html#search): the query
    string's, then those of a posted form. A parameter in both is the same parameter repeated:
    R4 gives a parameter the same meaning in the URL and the body of a posted search
    (https://hl7.org/fhir/R4/search.html).
    A posted body of another media type is a 415; a parameter of more values than
    :data:`MAX_SEARCH_VALUES`, a 400 (:func:`check_search_values`). Read once per request."""
    cached = g.get("fhir_search_parameters")
    if cached is not None:
        return cached
    params = MultiDict(request.args.items(multi=True))
    if request.method == "POST":
        if request.mimetype != FORM and (
            request.content_length or "Transfer-Encoding" in request.headers
        ):
            raise UnsupportedMediaType(f"post a search as {FORM}")
        # werkzeug drops a whole form whose bytes are not UTF-8 (raw Latin-1, say): the search
        # would then say a parameter that was sent is missing. The body is the one
        # santeid.security.HygienicRequest kept (the form was parsed from it).
        try:
            request.get_data(cache=True).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                "the form is not UTF-8: percent-encode the UTF-8 bytes of its values"
            ) from None
        for key, value in request.form.items(multi=True):
            params.add(key, value)
    check_search_values(params)
    g.fhir_search_parameters = params
    return params


def _means_json(media_type: str) -> bool:
    """Whether ``media_type`` (``application/fhir+json; fhirVersion=4.0``, ``json``…) is FHIR
    R4 JSON: one of :data:`JSON_FORMATS`, its ``fhirVersion`` parameter, if any, R4's."""
    name, *parameters = media_type.split(";")
    if name.strip().lower() not in JSON_FORMATS:
        return False
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "fhirversion" and value.strip().strip('"') not in FHIR_VERSIONS:
            return False
    return True


def check_format() -> None:
    """The one check of the format asked, for every endpoint of santeid's FHIR APIs (read,
    search — parameters of a posted search included —, ``metadata``): a 406 (werkzeug's
    ``NotAcceptable``) unless FHIR R4 JSON is acceptable. ``_format`` overrides ``Accept``
    (https://hl7.org/fhir/R4/http.html#mime-type); in a query, an unencoded ``+`` reads as a
    space, which is read back as ``+``. Without either, the answer is JSON."""
    formats = [value for value in search_parameters().getlist("_format") if value]
    if formats:
        if not all(_means_json(value.replace(" ", "+")) for value in formats):
            raise NotAcceptable("only FHIR JSON is served (_format=json)")
        return
    accepted = request.accept_mimetypes
    if not accepted:
        return
    for media_type, quality in accepted:
        if quality > 0 and (media_type in _ANY_MEDIA or _means_json(media_type)):
            return
    raise NotAcceptable("only FHIR JSON is served (Accept: application/fhir+json)")


def search_count() -> int:
    """The page size of this search: ``_count`` (its last value) up to :data:`MAX_COUNT`,
    :data:`DEFAULT_COUNT` without it; ``0`` for ``_count=0``, the count alone
    (:func:`count_only`); a 400 (werkzeug's ``BadRequest``) for a ``_count`` that is not a
    whole number (``-1``, ``1.5``, ``abc``). A number of more digits than
    :func:`~santeid.security.whole_number` reads is above the maximum too."""
    values = search_parameters().getlist("_count")
    if not values:
        return DEFAULT_COUNT
    raw = values[-1]
    count = whole_number(raw)
    if count is None and raw.isascii() and raw.isdigit():
        count = MAX_COUNT  # more digits than any count santeid reads: above the maximum
    if count is None:
        raise BadRequest(f"_count must be a whole number (at most {MAX_COUNT} served)")
    return min(count, MAX_COUNT)


def count_only() -> bool:
    """Whether this search asks for the number of its matches alone: ``_summary=count``, or
    ``_count=0``, which R4 "shall" treat the same — a Bundle with ``total`` and no entries, no
    ``next`` link (https://hl7.org/fhir/R4/search.html#count,
    https://hl7.org/fhir/R4/search.html#summary). FHIR clients count this way (fhirpy's
    ``count()`` sends ``_count=0``)."""
    return search_count() == 0 or summary_values() == {"count"}


#: ``_summary`` values (https://hl7.org/fhir/R4/search.html#summary), read case-insensitively
#: as HAPI FHIR (the Annuaire Santé's server) reads them.
SUMMARY_VALUES = ("true", "text", "data", "count", "false")
#: The tag of a resource answered in part — ``_summary`` or ``_elements``
#: (https://hl7.org/fhir/R4/search.html#summary): "the server SHOULD mark it with the tag
#: SUBSETTED". The display is HAPI FHIR's, as the Annuaire Santé writes it.
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
#: The elements R4 marks as summary (isSummary, "Σ") on each resource type santeid serves:
#: https://hl7.org/fhir/R4/practitioner.html, https://hl7.org/fhir/R4/practitionerrole.html,
#: https://hl7.org/fhir/R4/patient.html (with Resource's ``id``, ``meta``, ``implicitRules``).
SUMMARY_ELEMENTS: dict[str, frozenset[str]] = {
    resource_type: frozenset({"id", "meta", "implicitRules", *names})
    for resource_type, names in {
        "Practitioner": {
            "identifier", "active", "name", "telecom", "address", "gender", "birthDate",
        },
        "PractitionerRole": {
            "identifier", "active", "period", "practitioner", "organization", "code",
            "specialty", "location", "telecom",
        },
        "Patient": {
            "identifier", "active", "name", "telecom", "gender", "birthDate", "deceasedBoolean",
            "deceasedDateTime", "address", "managingOrganization", "link",
        },
    }.items()
}  # fmt: skip
#: Inside a summary element, what R4 does not mark as summary in the data types santeid writes
#: (Identifier, HumanName, CodeableConcept, Coding, Reference, Period, Meta, Address): their
#: ``extension`` (Element.extension, https://hl7.org/fhir/R4/element.html), left out at every
#: depth of a ``_summary=true`` resource, as HAPI FHIR does.
NOT_SUMMARY_INSIDE = frozenset({"extension"})
#: Top-level elements R4 makes mandatory (minimum cardinality 1), kept whatever ``_elements``
#: or ``_summary=text`` asks ("Servers SHOULD always return mandatory elements",
#: https://hl7.org/fhir/R4/search.html#elements): none on the resource types served.
MANDATORY_ELEMENTS: dict[str, frozenset[str]] = {
    resource_type: frozenset() for resource_type in SUMMARY_ELEMENTS
}
#: What every subsetted resource keeps (https://hl7.org/fhir/R4/search.html#summary).
ALWAYS_KEPT = frozenset({"id", "meta"})


def summary_values() -> frozenset[str]:
    """The ``_summary`` values of this request, lower-cased, blanks left out; a value not of
    :data:`SUMMARY_VALUES` is a 400 (werkzeug's ``BadRequest``), and so is ``text`` with
    another value (HAPI FHIR's "Can not combine _summary=text with other values")."""
    values = {v.strip().lower() for v in search_parameters().getlist("_summary") if v.strip()}
    wrong = sorted(values - set(SUMMARY_VALUES))
    if wrong:
        raise BadRequest(
            f"_summary must be one of {', '.join(SUMMARY_VALUES)}, not {wrong[0][:64]!r}"
        )
    if "text" in values and len(values) > 1:
        raise BadRequest("_summary=text cannot be combined with another _summary value")
    return frozenset(values)


def _element_names() -> list[str]:
    """The names of ``_elements`` (its comma-separated names over its repetitions), blanks
    left out."""
    return [
        name.strip()
        for raw in search_parameters().getlist("_elements")
        for name in raw.split(",")
        if name.strip()
    ]


class Subsetting:
    """What ``_summary`` and ``_elements`` keep of the resources of this answer
    (https://hl7.org/fhir/R4/search.html#summary, #elements), read from the request
    (:func:`subsetting`): :meth:`apply` to each resource answered.

    ``_summary`` ``true`` keeps the summary elements (:data:`SUMMARY_ELEMENTS`), ``text`` the
    ``text``, ``id``, ``meta`` and mandatory elements, ``data`` all but ``text``; every
    resource of the answer, included ones too, as HAPI FHIR encodes them. ``_elements`` keeps
    the elements named, with ``id``, ``meta`` and the mandatory ones: a bare name (``name``)
    on the resource type read or searched only — "the list of elements does not apply to
    included resources" (R4) —, a name after a type (``PractitionerRole.code``) on that type's
    resources, included ones too (HAPI FHIR's reading); below a top-level element
    (``name.family``) the whole top-level element is kept (R4 subsets "base elements" only).
    An unknown name keeps nothing more (HAPI FHIR ignores it). A subsetted resource carries
    the :data:`SUBSETTED` tag."""

    def __init__(self, summary: str | None, elements: dict[str, frozenset[str]]):
        self.summary = summary
        self.elements = elements

    def __bool__(self) -> bool:
        return self.summary is not None or bool(self.elements)

    def _kept(self, resource_type: str) -> frozenset[str] | None:
        mandatory = MANDATORY_ELEMENTS.get(resource_type, frozenset())
        if self.summary == "true":
            return SUMMARY_ELEMENTS.get(resource_type, ALWAYS_KEPT) | mandatory
        if self.summary == "text":
            return ALWAYS_KEPT | {"text"} | mandatory
        if resource_type in self.elements:
            return ALWAYS_KEPT | mandatory | self.elements[resource_type]
        return None

    def apply(self, resource: dict) -> dict:
        """``resource`` as this answer subsets it (a new dict), or as it is."""
        resource_type = resource["resourceType"]
        kept = self._kept(resource_type)
        if kept is None and self.summary != "data":
            return resource
        subset: dict = {"resourceType": resource_type}
        if "id" in resource:
            subset["id"] = resource["id"]
        meta = dict(resource.get("meta", {}))
        meta["tag"] = [*meta.get("tag", []), SUBSETTED]
        subset["meta"] = meta
        for name, value in resource.items():
            if name in subset or (name == "text" and self.summary == "data"):
                continue
            if kept is None or name in kept:
                subset[name] = _summary_only(value) if self.summary == "true" else value
        return subset


def _summary_only(value: Any) -> Any:
    """A summary element's value without what R4 does not mark as summary inside it
    (:data:`NOT_SUMMARY_INSIDE`)."""
    if isinstance(value, list):
        return [_summary_only(item) for item in value]
    if isinstance(value, dict):
        return {k: _summary_only(v) for k, v in value.items() if k not in NOT_SUMMARY_INSIDE}
    return value


def subsetting(resource_type: str, *, search: bool = True) -> Subsetting:
    """The :class:`Subsetting` this request asks for ``resource_type``'s read or search.

    A 400 (werkzeug's ``BadRequest``) for a wrong ``_summary`` (:func:`summary_values`),
    ``_summary=count`` on a read ("search only", R4), and ``_elements`` with a ``_summary``
    other than ``false`` (HAPI FHIR's "Cannot combine the _summary and _elements
    parameters"); ``data`` with ``true`` is ``true``, as HAPI FHIR reads them."""
    values = summary_values()
    if not search and "count" in values:
        raise BadRequest("_summary=count is for searches only")
    names = _element_names()
    if names and values - {"false"}:
        raise BadRequest("Cannot combine the _summary and _elements parameters")
    summary = next((v for v in ("true", "text", "data") if v in values), None)
    elements: dict[str, set[str]] = {}
    for name in names:
        head, dot, rest = name.partition(".")
        if head[:1].isupper():
            if not dot:
                continue  # a type without an element: nothing asked of it
            target, head = head, rest.partition(".")[0]
        else:
            target = resource_type
        elements.setdefault(target, set()).add(head)
    return Subsetting(summary, {k: frozenset(v) for k, v in elements.items()})


def subsetting_applied(key: str, value: str) -> tuple[str, str] | None:
    """How a ``_summary`` or ``_elements`` pair of this search reads in its ``self`` and
    ``next`` links (https://hl7.org/fhir/R4/search.html#selfidentify), once it was checked
    (:func:`subsetting`); ``None`` for another parameter, or one that is no condition (blank).
    A search answering its count alone (:func:`count_only`) applies ``_summary=count`` only."""
    if key == "_summary" and value.strip():
        applied = value.strip().lower()
        if count_only() and applied != "count":
            return None
        return key, applied
    if key == "_elements" and any(n.strip() for n in value.split(",")) and not count_only():
        return key, value
    return None


#: A token search value (https://hl7.org/fhir/R4/search.html#token): ``(system, code)``.
Token = tuple[str | None, str]


def search_token(raw: str) -> Token:
    """``system|code`` → ``(system, code)``; a bare code → ``(None, code)`` (any system);
    ``|code`` → ``("", code)`` (no system); ``system|`` → ``(system, "")`` (any code of it) —
    https://hl7.org/fhir/R4/search.html#token. The directory matches systems with
    :func:`~santeid.directory.search.system_matches`."""
    system, bar, code = raw.rpartition("|")
    return (system if bar else None), code


def check_search_values(params: MultiDict) -> None:
    """Raise :class:`~santeid.security.ParameterTooLarge` (400 ``too-costly`` in every API) for
    a search parameter of more than :data:`MAX_SEARCH_VALUES` values; a parameter with a
    modifier (``family:exact``) counts with the parameter."""
    counts: dict[str, int] = {}
    for key, value in params.items(multi=True):
        name = key.partition(":")[0]
        counts[name] = counts.get(name, 0) + value.count(",") + 1
        if counts[name] > MAX_SEARCH_VALUES:
            raise ParameterTooLarge(
                name[:64],
                MAX_SEARCH_VALUES,
                f"search parameter {name[:64]!r} has more than {MAX_SEARCH_VALUES} values "
                "(comma-separated alternatives over all its repetitions)",
            )


def served_url(path: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """``path`` on this server, with ``params`` (name and value pairs, in order) as its query.

    For a searchset's ``self`` link, ``params`` are the parameters the search used, and only
    them, however they were sent (query string or ``_search`` form): "the server SHALL
    indicate which parameters were actually used" by that link
    (https://hl7.org/fhir/R4/search.html#selfidentify)."""
    query = urlencode(list(params))
    return f"{request.url_root.rstrip('/')}{path}" + (f"?{query}" if query else "")


def fhir_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    """A FHIR resource as ``application/fhir+json``, never cached."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, content_type=FHIR_CONTENT_TYPE)
    no_store(response)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def software_version() -> str:
    try:
        return version("santeid")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def capability_statement(
    *,
    software: str,
    description: str,
    url: str,
    date: str,
    rest: dict,
    implementation_guides: list[str] | None = None,
) -> dict:
    """A server's ``CapabilityStatement`` (kind ``instance``,
    https://hl7.org/fhir/R4/capabilitystatement.html): ``rest`` is its one ``rest`` entry
    (``mode``, ``security``, ``resource``…), the rest is common to santeid's FHIR APIs."""
    statement: dict = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "santeid",
        "kind": "instance",
        "software": {"name": software, "version": software_version()},
        "implementation": {"description": description, "url": url},
        "fhirVersion": FHIR_VERSION,
        "format": list(JSON_FORMATS),
    }
    if implementation_guides:
        statement["implementationGuide"] = implementation_guides
    statement["rest"] = [{"mode": "server", **rest}]
    return statement


def preferences() -> dict[str, str]:
    """The preferences of this request's ``Prefer`` headers (RFC 7240 §2,
    https://www.rfc-editor.org/rfc/rfc7240#section-2): ``1#preference``, each
    ``token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )``, over every ``Prefer``
    header in order. A name is compared without case, a value with case (a ``quoted-string``
    unquoted); "if any preference is specified more than once, only the first instance is to
    be considered"; parameters are read past."""
    found: dict[str, str] = {}
    for header in request.headers.getlist("Prefer"):
        for preference in _split_outside_quotes(header, ","):
            head = _split_outside_quotes(preference, ";")[0]
            name, _, value = head.partition("=")
            name, value = name.strip().lower(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            if name and name not in found:
                found[name] = value
    return found


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside a quoted-string (RFC 9110
    §5.6.4, with its ``\\`` quoted-pairs)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def strict_handling() -> bool:
    """Whether the client asks ``Prefer: handling=strict``: an unknown search parameter is
    then refused, not ignored (https://hl7.org/fhir/R4/search.html#errors); read as RFC 7240
    writes preferences (:func:`preferences`) — ``handling = strict``, among others, in one
    header or several."""
    return preferences().get("handling") == "strict"

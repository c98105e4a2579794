"""INSi over FHIR R4: ``GET /insi/fhir/Patient?…`` answers a searchset ``Bundle`` of FR Core
"Patient INS" resources (``docs/insi-fhir.md``; docs/reference/insi-teleservice.md §13).

=======================================  ============================================
``GET  /insi/fhir/Patient``              search by traits (``rechercherInsAvecTraitsIdentite``)
``POST /insi/fhir/Patient/_search``      the same, parameters form-encoded (FHIR R4 §3.1.0.8.1)
``GET  /insi/fhir/metadata``             ``CapabilityStatement`` (no authentication)
=======================================  ============================================

Search parameters: ``family`` (birth name), ``given`` (repeat it for several given names — FHIR
AND semantics, which is exactly INSi's rule: every given name sent must be one of the
person's), ``gender`` (``male`` / ``female``, a token: with its system too), ``birthdate``
(a day, ``eq`` prefix allowed) and the custom ``birthplace`` (COG code; FHIR's
``address-city`` is about the current address, not the birthplace).  Matching is INSi's —
exact on the normalised INSi form — not FHIR's default "starts with" string search;
``:exact`` is accepted and means the same.

Answers: CR 00 → one ``Patient`` (``search.mode = match``, ``total`` 1); CR 01 → an empty
searchset (``total`` 0); CR 02 → ``total`` 0 and an ``OperationOutcome`` entry
(``search.mode = outcome``) with issue code ``multiple-matches``: INSi gives no identity when
several persons match, and FHIR's way to say why a search returned nothing is such an outcome
entry (R4 Bundle ``search.mode``; issue-type ``multiple-matches``).  Errors → an
``OperationOutcome`` with the HTTP status of the error (400, 401, 403, 503…).

Profile targeted: FR Core **2.2.0-ballot-2** (``fr-core-patient-ins``; the identity status
``RECUP`` belongs to its ``fr-core-cs-identity-status`` code system).
"""

from __future__ import annotations

import uuid
from datetime import date

from flask import Response
from werkzeug.exceptions import HTTPException

from santeid import error_formats
from santeid.civil_status import traits as tr
from santeid.clock import utc_datetime
from santeid.fhir import FhirBlueprint
from santeid.fhir import Subsetting
from santeid.fhir import capability_statement as base_capability_statement
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
from santeid.insi import problems
from santeid.insi.auth import request_context
from santeid.insi.model import CODE_INVALID_REQUEST
from santeid.insi.model import CR_FOUND
from santeid.insi.model import CR_LABELS
from santeid.insi.model import CR_NOT_FOUND
from santeid.insi.model import CR_SEVERAL
from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import Identity
from santeid.insi.model import InsiError
from santeid.insi.model import SearchResult
from santeid.insi.model import TraitsQuery
from santeid.insi.problems import origin
from santeid.insi.problems import problem_type
from santeid.insi.service import TRAITS_ELEMENTS
from santeid.insi.service import invalid
from santeid.oidc.protector import bearer_challenge
from santeid.security import ParameterTooLarge
from santeid.services import services

bp = FhirBlueprint("insi_fhir", __name__)

PREFIX = "/insi/fhir"
FR_CORE_VERSION = "2.2.0-ballot-2"

# -- FR Core canonical URLs (docs/reference/insi-teleservice.md §13)
# -----------------------------------------------------
FR_CORE = "https://hl7.fr/ig/fhir/core"
PROFILE_PATIENT_INS = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
PROFILE_PATIENT = f"{FR_CORE}/StructureDefinition/fr-core-patient"
FR_CORE_IG = f"{FR_CORE}/ImplementationGuide/hl7.fhir.fr.core"
EXT_IDENTITY_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
CS_IDENTITY_STATUS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
CS_METHOD_COLLECTION = f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection"
CS_IDENTIFIER_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
#: INSEE commune codes (TRE_R13), for a birthplace in France (docs/reference/insi-teleservice.md
#: §13).
CS_INSEE_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
#: INSEE country codes (TRE_R20), for a birthplace abroad: the ``99xxx`` COG
#: (docs/reference/insi-teleservice.md §12, §13).
CS_INSEE_COUNTRY = "https://mos.esante.gouv.fr/NOS/TRE_R20-Pays/FHIR/TRE-R20-Pays"


def birthplace_system(cog: str) -> str:
    """The code system of a birthplace COG: countries (``99xxx``) or communes."""
    return CS_INSEE_COUNTRY if cog.startswith("99") else CS_INSEE_COMMUNE


#: OID → (FR Core identifier type / slice, ``Identifier.use`` of the active INS)
#: (docs/reference/insi-teleservice.md §10).
INS_IDENTIFIERS: dict[str, tuple[str, str]] = {
    "1.2.250.1.213.1.4.8": ("INS-NIR", "official"),
    "1.2.250.1.213.1.4.9": ("INS-NIA", "temp"),
    "1.2.250.1.213.1.4.10": ("INS-NIR-TEST", "official"),
    "1.2.250.1.213.1.4.11": ("INS-NIR-DEMO", "official"),
}
#: Only the INS-NIR slice allows ``use = old`` (FRCoreValueSetPatientIdentifierUseINS); the
#: other slices fix their ``use``, so earlier NIA/TEST/DEMO matricules cannot be told from
#: active ones and are left out of the resource.
HISTORY_OIDS = ("1.2.250.1.213.1.4.8",)

#: ``OperationOutcome.issue.details.coding.system`` of the INSi ``CodeCR`` values, under the
#: issuer's origin; served (:func:`cr_codes`), as the problem types are (``santeid.problems``).
CR_PATH = "/insi/cr"
#: What each ``CodeCR`` means for a search (docs/reference/insi-teleservice.md §5).
CR_DEFINITIONS = {
    CR_FOUND: "One person matches: the identity is answered.",
    CR_NOT_FOUND: "No person matches.",
    CR_SEVERAL: "Several persons match: no identity is answered; add the other given names, "
    "then the birthplace.",
}

GENDERS = {"male": "M", "female": "F"}
#: The code system of ``Patient.gender`` (https://hl7.org/fhir/R4/valueset-administrative-gender.html).
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
SEXES = {"M": "male", "F": "female"}

#: Search parameter of each model field (errors name what the client sent).
PARAMETERS = {
    "birth_name": "family",
    "given_names": "given",
    "first_given_name": "given",
    "sex": "gender",
    "birth_date": "birthdate",
    "birthplace": "birthplace",
}
SUPPORTED_PARAMETERS = ("family", "given", "gender", "birthdate", "birthplace")
#: Result parameters and the like: accepted and ignored (results are at most one Patient).
IGNORED_PARAMETERS = ("_format", "_count", "_total", "_pretty")
#: Parameters that subset the Patient (:func:`santeid.fhir.subsetting`).
SUBSETTING_PARAMETERS = ("_summary", "_elements")
_DATE_PREFIXES = ("ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

#: Namespace of the Patient ``fullUrl`` UUIDs (UUID v5 of the INS value: stable per person).
_UUID_NAMESPACE = uuid.UUID("5f0c8f49-2c39-4c8e-a0b7-4b7c3e0f2a11")


# -- resources ------------------------------------------------------------------------------
def _identifier(oid: str, value: str, use: str | None = None) -> dict:
    type_code, default_use = INS_IDENTIFIERS.get(oid, ("INS-NIR", "official"))
    return {
        "use": use or default_use,
        "type": {"coding": [{"system": CS_IDENTIFIER_TYPE, "code": type_code}]},
        "system": f"urn:oid:{oid}",
        "value": value,
    }


def patient_resource(identity: Identity, query_date: date) -> dict:
    """A FR Core Patient INS of an INSi answer (docs/reference/insi-teleservice.md §13).

    Identity status ``RECUP`` (retrieved from INSi, not yet checked against a document), method
    ``INSI``, ``dateInterrogationINSi`` = ``query_date``; the active INS as the INS-NIR /
    INS-NIA identifier, earlier NIRs (``INSHISTO``) with ``use = old``; ``name.given`` = the
    first given name, the whole ``ListePrenom`` in ``birth-list-given-name``; birthplace COG in
    ``patient-birthPlace`` / ``fr-core-address-insee-code``, coded in TRE_R13 (communes) or, for a
    birth abroad (``99xxx``), TRE_R20 (countries).
    """
    identifiers = [_identifier(identity.oid, identity.value)]
    seen = {identity.value}
    for entry in identity.history:
        if entry.oid not in HISTORY_OIDS or entry.value in seen:
            continue
        seen.add(entry.value)
        old = _identifier(entry.oid, entry.value, "old")
        period = {k: v for k, v in (("start", entry.start), ("end", entry.end)) if v}
        # FHIR per-1: start <= end.  A recorded inverted interval (ECETINSI,
        # docs/reference/insi-teleservice.md §5) is left
        # out of the resource; REST and SOAP carry it as recorded.
        if period and not (entry.start and entry.end and entry.start > entry.end):
            old["period"] = period
        identifiers.append(old)
    return {
        "resourceType": "Patient",
        "meta": {"profile": [PROFILE_PATIENT_INS]},
        "extension": [
            {
                "url": EXT_IDENTITY_RELIABILITY,
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": {"system": CS_IDENTITY_STATUS, "code": "RECUP"},
                    },
                    {
                        "url": "methodCollection",
                        "valueCoding": {"system": CS_METHOD_COLLECTION, "code": "INSI"},
                    },
                    {"url": "dateInterrogationINSi", "valueDate": query_date.isoformat()},
                ],
            },
            {
                "url": EXT_BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": EXT_INSEE_CODE,
                            "valueCoding": {
                                "system": birthplace_system(identity.birthplace),
                                "code": identity.birthplace,
                            },
                        }
                    ]
                },
            },
        ],
        "identifier": identifiers,
        "name": [
            {
                "extension": [
                    {"url": EXT_BIRTH_LIST_GIVEN_NAME, "valueString": identity.given_names_text}
                ],
                "use": "official",
                "family": identity.birth_name,
                "given": [identity.first_given_name],
            }
        ],
        "gender": SEXES.get(identity.sex, "unknown"),
        "birthDate": identity.birth_date,
    }


def full_url(identity: Identity) -> str:
    return f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, identity.value)}"


def searchset(
    result: SearchResult,
    self_url: str,
    query_date: date,
    *,
    total_only: bool = False,
    subset: Subsetting | None = None,
) -> dict:
    """The searchset ``Bundle`` of a traits search (see the module docstring for 01/02);
    ``total_only``: ``total`` without the Patient (``_summary=count``, ``_count=0``:
    https://hl7.org/fhir/R4/search.html#count) — the outcome of a 02 still says why it is 0;
    ``subset``: what ``_summary`` and ``_elements`` keep of the Patient (the outcome of a 02,
    the server's message, every element of which is summary or mandatory, stays whole)."""
    entries: list[dict] = []
    total = 0
    if result.cr == CR_FOUND and result.identity is not None:
        total = 1
        if not total_only:
            entries.append(
                {
                    "fullUrl": full_url(result.identity),
                    "resource": (subset or Subsetting(None, {})).apply(
                        patient_resource(result.identity, query_date)
                    ),
                    "search": {"mode": "match"},
                }
            )
    elif result.cr == CR_SEVERAL:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": operation_outcome(
                    "multiple-matches",
                    f"CR 02 : {CR_LABELS[CR_SEVERAL]}. Ajoutez les autres prénoms, puis le lieu "
                    "de naissance (birthplace).",
                    severity="information",
                    code="02",
                    system=f"{origin(services().settings)}{CR_PATH}",
                ),
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": _instant()},
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": self_url}],
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def _instant() -> str:
    moment = utc_datetime(services().clock)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_outcome(error: InsiError) -> Response:
    """An ``OperationOutcome`` for ``error``, with its HTTP status."""
    kind = problem_type(error.code)
    parts = [f"code {error.code}"]
    if error.field:
        parts.append(f"parameter {PARAMETERS.get(error.field, error.field)}")
    if error.element:
        parts.append(f"INSi element {error.element}")
    if error.rule and error.http_status != 401:
        parts.append(f"rule {error.rule}")
    outcome = operation_outcome(
        kind.fhir_issue,
        error.detail or error.message,
        severity="fatal" if error.http_status >= 500 else "error",
        code=error.code,
        system=problems.coding_system(services().settings),
        diagnostics="; ".join(parts),
    )
    response = fhir_response(outcome, error.http_status)
    if error.http_status == 401:
        response.headers["WWW-Authenticate"] = bearer_challenge("insi", error.rule)
    return response


# -- search ---------------------------------------------------------------------------------
def _parameters() -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Search parameters from the query string and the form of ``_search``
    (:func:`santeid.fhir.search_parameters`), modifiers checked; unknown parameters are
    ignored unless ``Prefer: handling=strict`` (:func:`~santeid.fhir.strict_handling`). And
    the parameters used, as sent and in order, for the ``self`` link: the supported ones that
    are not empty (an empty value is no condition)."""
    strict = strict_handling()
    found: dict[str, list[str]] = {}
    used: list[tuple[str, str]] = []
    try:
        check_format()
        parameters = search_parameters()
        search_count()  # checked as every search's; at most one patient is answered
        counting = count_only()
        subsetting("Patient")  # _summary and _elements checked
    except (HTTPException, ParameterTooLarge) as exc:
        raise problems.error_for(exc) from None  # an InsiError, audited by _search
    for raw_name, values in parameters.lists():
        name, _, modifier = raw_name.partition(":")
        if name in SUPPORTED_PARAMETERS:
            if modifier and not (modifier == "exact" and name in ("family", "given")):
                raise _param_error(name, "modifier", f"modifier :{modifier} not supported")
            found.setdefault(name, []).extend(values)
            used.extend((raw_name, value) for value in values if value.strip())
        elif name in SUBSETTING_PARAMETERS:
            if modifier:  # applied as the directory API applies them: no modifier
                raise _param_error(name, "modifier", f"modifier :{modifier} not supported")
            for value in values:
                pair = subsetting_applied(raw_name, value)
                if pair is not None and pair not in used:
                    used.append(pair)
        elif name in IGNORED_PARAMETERS:
            # but the count alone (santeid.fhir.count_only), which the self link says
            if counting and name == "_count" and search_count() == 0:
                used.append((raw_name, "0"))
        elif strict:
            raise _param_error(name, "unknown-parameter", f"unknown parameter {raw_name!r}")
    return found, used


def _param_error(name: str, rule: str, message: str) -> InsiError:
    field = {v: k for k, v in PARAMETERS.items() if k != "first_given_name"}.get(name, name)
    error = invalid(field, rule, message, TRAITS_ELEMENTS.get(field), code=CODE_INVALID_REQUEST)
    return error


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise _param_error(name, "repeated", f"{name} can be given once")
    if values and "," in values[0]:
        raise _param_error(name, "or-values", f"{name}: alternatives (',') are not supported")
    return values[0] if values else None


def query_from_parameters(params: dict[str, list[str]]) -> TraitsQuery:
    given: list[str] = []
    for value in params.get("given", []):
        if "," in value:
            raise _param_error("given", "or-values", "given: alternatives (',') not supported")
        given.extend(value.split())
    gender = _single(params, "gender")
    if gender and "|" in gender:
        # A token (https://hl7.org/fhir/R4/search.html#token): the codes are those of FHIR's
        # administrative-gender (Patient.gender's binding), with that system or none given.
        system, gender = search_token(gender)
        if system != GENDER_SYSTEM:
            raise _param_error(
                "gender",
                "gender-system",
                f"gender: codes of {GENDER_SYSTEM} only, not of {system or 'no system'!r}",
            )
    if gender and gender not in GENDERS:
        raise invalid(
            tr.SEX, tr.Rule.SEX, f"gender must be 'male' or 'female', not {gender!r}",
            TRAITS_ELEMENTS[tr.SEX],
        )  # fmt: skip
    birthdate = _single(params, "birthdate")
    if birthdate and birthdate[:2] in _DATE_PREFIXES:
        raise _param_error("birthdate", "date-prefix", "only an exact day (eq) can be searched")
    if birthdate and birthdate.startswith("eq"):
        birthdate = birthdate[2:]
    return TraitsQuery(
        birth_name=_single(params, "family") or "",
        given_names=tuple(given),
        sex=GENDERS.get(gender or "", ""),
        birth_date=birthdate or "",
        birthplace=_single(params, "birthplace"),
    )


def _search() -> Response:
    ctx = request_context("fhir")
    if isinstance(ctx, InsiError):
        raise ctx
    with services().insi.refusal_recorded(ctx, OP_SEARCH_TRAITS):  # refused here, not by the core
        params, used = _parameters()
        query = query_from_parameters(params)
    result = services().insi.search_by_traits(query, ctx)
    # GET or POST _search alike: the GET URL of the search performed.
    self_url = served_url(f"{PREFIX}/Patient", used)
    return fhir_response(
        searchset(
            result,
            self_url,
            services().insi.today(),
            total_only=count_only(),
            subset=subsetting("Patient"),
        )
    )


@bp.get(f"{PREFIX}/Patient")
def patient_search():
    return _search()


@bp.post(f"{PREFIX}/Patient/_search")
def patient_search_post():
    return _search()


@bp.get(CR_PATH)
@bp.get(f"{CR_PATH}/<code>")
def cr_codes(code: str | None = None) -> Response:
    """The code system of the ``CodeCR`` coding (``{origin}/insi/cr``): its values, or one
    (``/insi/cr/02``); JSON, or an HTML page for a browser, like ``/problems/``."""
    from flask import json
    from markupsafe import Markup

    from santeid.problem_pages import problem_response
    from santeid.problem_pages import table_page
    from santeid.problem_pages import wants_html

    system = f"{origin(services().settings)}{CR_PATH}"
    if code is not None and code not in CR_LABELS:
        body = {"type": "about:blank", "title": "Not Found", "status": 404,
                "detail": f"no INSi CodeCR {code!r}"}  # fmt: skip
        return problem_response(body, 404)
    codes = [
        {"code": cr, "display": CR_LABELS[cr], "definition": CR_DEFINITIONS[cr]}
        for cr in CR_LABELS
        if code in (None, cr)
    ]
    if wants_html():
        # The problem types' page layout, sandbox banner included (santeid.problem_pages).
        return table_page(
            "INSi CodeCR" + (f" {code}" if code else ""),
            ("code", "label", "definition"),
            (
                (c["code"], (Markup("<code>%s</code>") % c["code"], c["display"], c["definition"]))
                for c in codes
            ),
            intro=Markup("<p><code>%s</code></p>") % system,
        )
    payload = {"system": system, "codes": codes} if code is None else codes[0]
    response = Response(json.dumps(payload, ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get(f"{PREFIX}/metadata")
def metadata():
    check_format()
    return fhir_response(capability_statement())


def capability_statement() -> dict:
    """What this FHIR endpoint does (R4 ``CapabilityStatement``, kind ``instance``)."""
    base = f"{origin(services().settings)}{PREFIX}"
    return base_capability_statement(
        software="santeid INSi",
        description="INSi teleservice simulator: INS search by identity traits",
        url=base,
        date=_instant()[:10],
        implementation_guides=[f"{FR_CORE_IG}|{FR_CORE_VERSION}"],
        rest={
            "documentation": "Traits search only (INSi rechercherInsAvecTraitsIdentite). "
            "Exact matching on the INSi form of the traits; every given name sent must be "
            "one of the person's. CR 02 (several persons) is an empty searchset with an "
            "OperationOutcome entry (multiple-matches).",
            "security": {
                "service": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "restful-security-service",
                                "code": "OAuth",
                            }
                        ]
                    }
                ],
                "description": "Authorization: Bearer <santeid access token> (authMode "
                "CARD or MOBILE), or an INSi client certificate (CN INSI-AUTO/INSI-MANU).",
            },
            "resource": [
                {
                    "type": "Patient",
                    "profile": PROFILE_PATIENT,
                    "supportedProfile": [PROFILE_PATIENT_INS],
                    "interaction": [{"code": "search-type"}],
                    "searchParam": [
                        {
                            "name": "family",
                            "definition": "http://hl7.org/fhir/SearchParameter/individual-family",
                            "type": "string",
                            "documentation": "Birth name (NomNaissance), exact.",
                        },
                        {
                            "name": "given",
                            "definition": "http://hl7.org/fhir/SearchParameter/individual-given",
                            "type": "string",
                            "documentation": "A given name; repeat for several (AND).",
                        },
                        {
                            "name": "gender",
                            "definition": "http://hl7.org/fhir/SearchParameter/individual-gender",
                            "type": "token",
                            "documentation": "male or female, bare or with the system "
                            "http://hl7.org/fhir/administrative-gender.",
                        },
                        {
                            "name": "birthdate",
                            "definition": "http://hl7.org/fhir/SearchParameter/"
                            "individual-birthdate",
                            "type": "date",
                            "documentation": "A day, YYYY-MM-DD (prefix eq allowed).",
                        },
                        {
                            "name": "birthplace",
                            "type": "token",
                            "documentation": "santeid custom parameter: COG code of the "
                            "birthplace (LieuNaissance), e.g. 2A020 or 99350.",
                        },
                    ],
                }
            ],
        },
    )


def handle_error(exc: Exception) -> Response:
    """Every error raised in this blueprint, as an ``OperationOutcome``."""
    return error_outcome(problems.error_for(exc))


# OperationOutcomes for every error of these URLs, routing errors included.
error_formats.declare(bp, error_formats.FHIR, render=handle_error, prefixes=[PREFIX])


def init_app(app) -> None:
    app.register_blueprint(bp)

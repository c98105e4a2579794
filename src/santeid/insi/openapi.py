"""The OpenAPI 3.1 description of the INSi REST API, written by hand (served at
``/insi/openapi.json``; ``docs/insi-rest.md`` explains the design).

The schemas are JSON Schema 2020-12 (OpenAPI 3.1 §4.8.24); the test suite validates the document
with ``openapi-spec-validator`` and every request and response it makes against these schemas.
"""

from __future__ import annotations

from typing import Any

from santeid.insi.model import CR_LABELS
from santeid.insi.model import DEFAULT_BIRTH_RANK
from santeid.insi.model import OPERATIONS
from santeid.insi.problems import PROBLEM_TYPES
from santeid.insi.problems import origin

NAME_PATTERN = "^[^\\x00-\\x1f]{1,100}$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


_ERRORS = {
    "400": _problem_response(
        "Invalid request or identity trait (`code` santeid_invalid_request / "
        "santeid_invalid_trait; `element`, `field` and `rule` say what and why)."
    ),
    "401": {
        **_problem_response(
            "No credentials, or an access token that is invalid, expired or revoked."
        ),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "403": _problem_response("DESIR_560: credentials that do not grant access to INSi."),
    "405": {
        **_problem_response(
            "Method not allowed: this path answers only the method documented here (problem "
            "details, with the methods it answers in Allow)."
        ),
        "headers": {"Allow": {"schema": {"type": "string"}}},
    },
    "413": _problem_response("Body too large."),
    "415": _problem_response("Body not sent as application/json."),
    "500": _problem_response("Internal error (a bug): nothing of the cause is shown."),
    "503": _problem_response(
        "insi_102 (the published technical-error case) or desir_1020 (service unavailable)."
    ),
}
#: What GET /insi/v1/stats can answer besides 200 (no body, so neither 413 nor 415).
_STATS_ERRORS = ("400", "401", "403", "405", "500", "503")


def _operation(summary: str, description: str, op_id: str, request: str, response: str) -> dict:
    return {
        "post": {
            "operationId": op_id,
            "summary": summary,
            "description": description,
            "tags": ["INS"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            },
            "responses": {
                "200": {
                    "description": "The answer (a CR 01 or 02 is an answer, not an error).",
                    "content": {"application/json": {"schema": _ref(response)}},
                },
                **_ERRORS,
            },
        }
    }


def _schemas() -> dict:
    name = {"type": "string", "minLength": 1, "maxLength": 200}
    date = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "examples": ["1997-02-26"]}
    cog = {"type": "string", "pattern": "^[0-9A-Za-z]{5}$", "examples": ["2A020", "99350"]}
    matricule = {
        "type": "string",
        "description": "13 characters (NIR or NIA layout, 2A/2B allowed); spaces ignored.",
        "examples": ["297022A020778"],
    }
    traits: dict[str, dict[str, Any]] = {
        "birthName": {
            **name,
            "description": "Nom de naissance. REST normalises civil-status spellings "
            "(accents, ligatures, typographic apostrophes, case) to the INSi form.",
            "examples": ["ADRTROIS", "N’Diaye"],
        },
        "givenNames": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": name,
            "description": "Given names; an item may hold several, space-separated. Every "
            "given name sent must be one of the person's (order free).",
            "examples": [["DOMINIQUE"], ["PIERRE-ALAIN", "MURIEL"]],
        },
        "sex": {"type": "string", "description": "M or F (m, f, H accepted).", "examples": ["F"]},
        "birthDate": {**date, "description": "AAAA-MM-JJ."},
        "birthplace": {**cog, "description": "COG of the birthplace (commune or 99xxx country)."},
    }
    ins_properties: dict[str, dict[str, Any]] = {
        "matricule": {"type": "string", "pattern": "^[0-9]{5}([0-9]{2}|2[AB])[0-9]{6}$"},
        "key": {"type": "string", "pattern": "^[0-9]{2}$"},
        "value": {"type": "string", "description": "matricule + key (15 characters)"},
        "oid": {"type": "string", "enum": [f"1.2.250.1.213.1.4.{n}" for n in (8, 9, 10, 11)]},
        "kind": {"type": "string", "enum": ["NIR", "NIA"]},
    }
    ins = {
        "type": "object",
        "required": ["matricule", "key", "value", "oid", "kind"],
        "additionalProperties": False,
        "properties": ins_properties,
    }
    nullable_date = {"type": ["string", "null"], "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    return {
        "TraitsSearch": {
            "type": "object",
            "description": "RECSANSVITALE (rechercherInsAvecTraitsIdentite).",
            "required": ["birthName", "givenNames", "sex", "birthDate"],
            "additionalProperties": False,
            "properties": {
                **traits,
                # null, empty or blank: not given (a verification needs one: traits' own).
                "birthplace": {
                    **traits["birthplace"],
                    "type": ["string", "null"],
                    "pattern": "^([0-9A-Za-z]{5}|\\s*)$",
                    "description": "COG of the birthplace (commune or 99xxx country); null, "
                    "empty or blank: not given.",
                },
            },
        },
        "VitaleSearch": {
            "type": "object",
            "description": "RECVITALE (rechercherInsAvecCarteVitale): the beneficiary of a card.",
            "required": ["odMatricule", "birthName", "birthDate"],
            "additionalProperties": False,
            "properties": {
                "odMatricule": {**matricule, "description": "Ouvrant droit (MatriculeOD)."},
                "individualMatricule": {
                    **matricule,
                    "type": ["string", "null"],
                    "description": "The beneficiary's own matricule, when the card carries it.",
                },
                "birthName": traits["birthName"],
                "birthDate": traits["birthDate"],
                "birthRank": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": 9,
                    "default": DEFAULT_BIRTH_RANK,
                    "description": "Rang de naissance (twins: 1 and 2); absent or null: 1.",
                },
            },
        },
        "Verification": {
            "type": "object",
            "description": "An INS and the five traits (verifierInsAvecTraitsIdentite).",
            "required": [
                "matricule",
                "key",
                "birthName",
                "givenNames",
                "sex",
                "birthDate",
                "birthplace",
            ],
            "additionalProperties": False,
            "properties": {
                "matricule": matricule,
                "key": {"type": "string", "pattern": "^[0-9]{2}$"},
                **traits,
                "givenNames": {
                    **traits["givenNames"],
                    "description": "The whole list of birth given names, in order.",
                },
            },
        },
        "Ins": ins,
        "History": {
            "type": "object",
            "required": ["matricule", "key", "value", "oid", "start", "end"],
            "additionalProperties": False,
            "properties": {
                **{k: v for k, v in ins_properties.items() if k != "kind"},
                "start": nullable_date,
                "end": nullable_date,
            },
        },
        "Identity": {
            "type": "object",
            "description": "INDIVIDU: INSACTIF (ins), INSHISTO (history), TIQ traits.",
            "required": [
                "ins",
                "history",
                "birthName",
                "givenNames",
                "firstGivenName",
                "sex",
                "birthDate",
                "birthplace",
            ],
            "additionalProperties": False,
            "properties": {
                "ins": _ref("Ins"),
                "history": {"type": "array", "items": _ref("History")},
                "birthName": {"type": "string"},
                "givenNames": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "firstGivenName": {"type": "string"},
                "sex": {"type": "string", "enum": ["M", "F"]},
                "birthDate": date,
                "birthplace": cog,
            },
        },
        "SearchResult": {
            "type": "object",
            "required": ["cr", "label", "identity"],
            "additionalProperties": False,
            "properties": {
                "cr": {"type": "string", "enum": list(CR_LABELS)},
                "label": {"type": "string", "enum": list(CR_LABELS.values())},
                "identity": {"oneOf": [_ref("Identity"), {"type": "null"}]},
            },
        },
        "VerifyResult": {
            "type": "object",
            "required": ["conform", "differing", "identity"],
            "additionalProperties": False,
            "properties": {
                "conform": {"type": "boolean"},
                "differing": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": [
                            "matricule",
                            "birthName",
                            "givenNames",
                            "sex",
                            "birthDate",
                            "birthplace",
                        ],
                    },
                },
                "identity": {"oneOf": [_ref("Identity"), {"type": "null"}]},
            },
        },
        "Stats": {
            "type": "object",
            "required": ["month", "softwareId", "total", "software"],
            "properties": {
                "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                "softwareId": {"type": ["string", "null"]},
                "total": {"type": "integer", "minimum": 0},
                "software": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["softwareId", "name", "total", "operations"],
                        "properties": {
                            "softwareId": {"type": "string"},
                            "name": {"type": ["string", "null"]},
                            "total": {"type": "integer", "minimum": 0},
                            "operations": {
                                "type": "object",
                                "propertyNames": {"enum": list(OPERATIONS)},
                                "additionalProperties": {
                                    "type": "object",
                                    "required": ["total", "results"],
                                    "properties": {
                                        "total": {"type": "integer", "minimum": 0},
                                        "results": {
                                            "type": "object",
                                            "additionalProperties": {"type": "integer"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details with santeid's extension members.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "code": {"type": "string", "enum": sorted(PROBLEM_TYPES)},
                "element": {"type": "string", "description": "INSi element (NomNaissance…)."},
                "field": {"type": "string", "description": "JSON member of the request."},
                "rule": {"type": "string", "description": "Rule broken (docs/civil-status.md)."},
            },
        },
    }


def document(settings, server: str | None = None) -> dict:
    """The OpenAPI 3.1 document; ``server``: the origin it is served from (default: the
    issuer's, :func:`santeid.insi.problems.served_origin` when serving a request)."""
    server = server or origin(settings)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "santeid INSi REST API",
            "version": "1.0.0",
            "summary": "INS search by traits or carte Vitale, and verification (simulator).",
            "description": (
                "JSON flavour of the INSi teleservice operations rechercherInsAvecTraitsIdentite, "
                "rechercherInsAvecCarteVitale and verifierInsAvecTraitsIdentite, answered from "
                "santeid's synthetic civil-status base. There is no official INSi REST contract: "
                "this design is santeid's (docs/insi-rest.md). CodeCR 00/01/02 are answers "
                "(HTTP 200); errors are RFC 9457 problem details."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": server}],
        "security": [{"bearer": []}, {"insiCertificate": []}],
        "tags": [{"name": "INS"}, {"name": "Statistics"}],
        "paths": {
            "/insi/v1/ins/search-by-traits": _operation(
                "Search an INS by identity traits",
                "CR 00 with the identity when exactly one person matches, 01 when none, 02 when "
                "several (add the other given names, then the birthplace).",
                "searchByTraits",
                "TraitsSearch",
                "SearchResult",
            ),
            "/insi/v1/ins/search-by-vitale": _operation(
                "Search an INS with a carte Vitale",
                "The beneficiary of the ouvrant droit's card with this birth date and rang.",
                "searchByVitale",
                "VitaleSearch",
                "SearchResult",
            ),
            "/insi/v1/ins/verify": _operation(
                "Verify an INS against identity traits",
                "conform when the INS is the person's active one and the five traits are the "
                "reference ones; differing names the traits that are not.",
                "verify",
                "Verification",
                "VerifyResult",
            ),
            "/insi/v1/stats": {
                "get": {
                    "operationId": "stats",
                    "summary": "The caller's monthly statistics",
                    "tags": ["Statistics"],
                    "parameters": [
                        {
                            "name": "month",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^([0-9]{4}-[0-9]{2})?$"},
                            "description": "YYYY-MM (UTC); absent or empty: the current month.",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "Calls by operation and result.",
                            "content": {"application/json": {"schema": _ref("Stats")}},
                        },
                        **{k: v for k, v in _ERRORS.items() if k in _STATS_ERRORS},
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Access token of santeid's OpenID Connect provider, from a "
                    "CPS card (authMode CARD) or e-CPS (MOBILE) login.",
                },
                "insiCertificate": {
                    "type": "mutualTLS",
                    "description": "INSi establishment certificate, CN INSI-AUTO or INSI-MANU, "
                    "issued by the configured INSi authority (insi_ca_file).",
                },
            },
        },
    }

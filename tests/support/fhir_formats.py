"""What a client of santeid's FHIR APIs may ask an answer in, and what it is answered: FHIR R4
JSON (200) for every spelling R4 gives it, 406 ``not-supported`` for any other format
(https://hl7.org/fhir/R4/http.html#mime-type; docs/directory.md, docs/insi-fhir.md). Each case
is ``(query, headers)``: ``query`` appended to the request's own (already encoded), ``headers``
added to its own. The same cases for every endpoint of both APIs."""

from __future__ import annotations

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

ANSWERED_IN_JSON: list[tuple[str, dict[str, str]]] = [
    ("", {}),
    ("_format=json", {}),
    ("_format=application/json", {}),
    ("_format=application/fhir%2Bjson", {}),
    ("_format=application/fhir+json", {}),  # an unencoded + reads as a space
    ("_format=application/fhir%2Bjson%3B%20fhirVersion%3D4.0", {}),
    ("_format=application/fhir%2Bjson;fhirVersion=4.0", {}),
    ("_format=application/json%2Bfhir", {}),  # DSTU2's type, which R4 servers MAY take
    ("", {"Accept": "application/fhir+json"}),
    ("", {"Accept": "application/fhir+json; fhirVersion=4.0"}),
    ("", {"Accept": "application/json+fhir"}),
    ("", {"Accept": "application/json"}),
    ("", {"Accept": BROWSER}),  # */* among them
    ("", {"Accept": "application/fhir+xml;q=0.9, application/fhir+json;q=0.5"}),
    ("_format=json", {"Accept": "application/fhir+xml"}),  # _format overrides Accept
]

NOT_ACCEPTABLE: list[tuple[str, dict[str, str]]] = [
    ("_format=xml", {}),
    ("_format=application/fhir%2Bxml", {}),
    ("_format=text/xml", {}),
    ("_format=html", {}),
    ("_format=text/html", {}),
    ("_format=ttl", {}),
    ("_format=application/fhir%2Bjson%3BfhirVersion%3D3.0", {}),  # STU3
    ("", {"Accept": "application/fhir+xml"}),
    ("", {"Accept": "text/html"}),
    ("", {"Accept": "application/fhir+json; fhirVersion=3.0"}),
    ("", {"Accept": "application/fhir+json;q=0, application/fhir+xml"}),
    ("_format=xml", {"Accept": "application/fhir+json"}),
]


def case_id(case: tuple[str, dict[str, str]]) -> str:
    query, headers = case
    return "&".join(filter(None, [query, *(f"{k}: {v}" for k, v in headers.items())])) or "none"

"""Both FHIR APIs (INSi ``/insi/fhir``, directory ``/fhir/v1``) answer errors in the one
``OperationOutcome`` shape of ``santeid.fhir``, valid FHIR (fhir.resources' R4B models, whose
OperationOutcome and CapabilityStatement match R4 4.0.1 for what is used here)."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

ERRORS = [
    ("/insi/fhir/Patient?family=X", 401, "login"),  # no token
    ("/fhir/v1/Practitioner", 401, "login"),
    # A path not served — another type, a read, an operation — is an interaction not supported
    # (R4 issue-type not-supported), not a reference not found, on both APIs.
    ("/insi/fhir/Nothing", 404, "not-supported"),
    ("/insi/fhir/Patient/275126322074974", 404, "not-supported"),
    ("/insi/fhir/Patient/$match", 404, "not-supported"),
    ("/fhir/v1/Nothing", 404, "not-supported"),
    # A trailing slash names the same interaction (HAPI FHIR): here the search, refused for
    # its missing token.
    ("/insi/fhir/Patient/?family=X", 401, "login"),
    ("/fhir/v1/Practitioner/", 401, "login"),
    ("/fhir/v1/PractitionerRole/", 401, "login"),
]


@pytest.mark.parametrize(("path", "status", "issue_code"), ERRORS)
def test_errors_are_one_valid_operation_outcome_shape(client, path, status, issue_code):
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "application/fhir+json"
    assert response.headers["Content-Type"].endswith("fhirVersion=4.0; charset=utf-8")
    body = response.get_json()
    OperationOutcome.model_validate(body)
    (issue,) = body["issue"]
    assert issue["code"] == issue_code
    assert issue["severity"] == "error"
    assert issue["details"]["text"]
    assert set(issue) <= {"severity", "code", "details", "diagnostics"}


@pytest.mark.parametrize(
    "path",
    ["/insi/fhir/metadata", "/fhir/v1/metadata", "/insi/fhir/metadata/", "/fhir/v1/metadata/"],
)
def test_capability_statements_share_the_common_part(client, path):
    body = client.get(path).get_json()
    CapabilityStatement.model_validate(body)
    assert (body["fhirVersion"], body["kind"], body["publisher"]) == (
        "4.0.1",
        "instance",
        "santeid",
    )
    assert body["rest"][0]["mode"] == "server"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["handling=strict"], True),
        (["handling = strict"], True),  # BWS around "=" (RFC 7240 §2)
        (["HANDLING=strict"], True),  # names compared without case
        (['handling="strict"'], True),  # a quoted-string value
        (["return=minimal, handling=strict"], True),
        (["respond-async; wait=10, handling=strict; foo=bar"], True),
        (["return=minimal", "handling=strict"], True),  # one header per preference
        (["handling=lenient, handling=strict"], False),  # the first instance counts
        (["handling=lenient", "handling=strict"], False),
        (['x="a, handling=strict"'], False),  # inside a quoted-string
        (["handling=Strict"], False),  # values compared with case
        (["handling=strictly"], False),
        (["handling=lenient"], False),
        ([], False),
    ],
)
def test_prefer_handling_is_read_as_rfc_7240_writes_it(app, headers, expected):
    """One reading of ``Prefer: handling=strict`` for both FHIR APIs
    (https://hl7.org/fhir/R4/search.html#errors), in RFC 7240's syntax
    (https://www.rfc-editor.org/rfc/rfc7240#section-2)."""
    from santeid.fhir import strict_handling

    with app.test_request_context("/", headers=[("Prefer", h) for h in headers]):
        assert strict_handling() is expected


@pytest.mark.parametrize("resource_type", ["Practitioner", "PractitionerRole", "Patient"])
def test_summary_and_mandatory_elements_are_r4s(resource_type):
    """The isSummary elements and the mandatory ones of each resource type served, as
    fhir.resources' models carry R4's flags (R4B's are the same for these types):
    https://hl7.org/fhir/R4/practitioner.html, practitionerrole.html, patient.html."""
    from fhir.resources.R4B import get_fhir_model_class

    from santeid.fhir import MANDATORY_ELEMENTS
    from santeid.fhir import SUMMARY_ELEMENTS

    flags = {
        name: field.json_schema_extra or {}
        for name, field in get_fhir_model_class(resource_type).model_fields.items()
    }
    assert SUMMARY_ELEMENTS[resource_type] == {
        name for name, flag in flags.items() if flag.get("summary_element_property")
    }
    assert MANDATORY_ELEMENTS[resource_type] == {
        name for name, flag in flags.items() if flag.get("element_required")
    }

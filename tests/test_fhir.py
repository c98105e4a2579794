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
    ("/insi/fhir/Nothing", 404, "not-found"),
    ("/fhir/v1/Nothing", 404, "not-supported"),
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


@pytest.mark.parametrize("path", ["/insi/fhir/metadata", "/fhir/v1/metadata"])
def test_capability_statements_share_the_common_part(client, path):
    body = client.get(path).get_json()
    CapabilityStatement.model_validate(body)
    assert (body["fhirVersion"], body["kind"], body["publisher"]) == (
        "4.0.1",
        "instance",
        "santeid",
    )
    assert body["rest"][0]["mode"] == "server"

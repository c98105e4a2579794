"""REST and FHIR audit the refusals they make themselves once the caller is authenticated (as
SOAP does from authentication on, ``docs/insi-overview.md``): one row, the error code, no query
hash. Refusals of the core are audited by the core, once."""

from __future__ import annotations

import pytest

from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import OP_SEARCH_VITALE
from santeid.insi.model import OP_VERIFY
from tests.insi import test_fast_path

pair = test_fast_path.pair

SEARCH = "/insi/v1/ins/search-by-traits"
VERIFY = "/insi/v1/ins/verify"
VITALE = "/insi/v1/ins/search-by-vitale"
TRAITS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
          "birthDate": "1997-02-26"}  # fmt: skip
PATIENT = "/insi/fhir/Patient"
FHIR_TRAITS = [("family", "ADRTROIS"), ("given", "DOMINIQUE"), ("gender", "female"),
               ("birthdate", "1997-02-26")]  # fmt: skip


def _rows(client) -> list[dict]:
    return client.application.extensions["santeid"].insi.audit.rows(limit=10_000)


#: (path, request, operation audited, result audited)
REST_REFUSALS = [
    (SEARCH, {"json": {**TRAITS, "extra": 1}}, OP_SEARCH_TRAITS, "santeid_invalid_request"),
    (SEARCH, {"json": {k: v for k, v in TRAITS.items() if k != "sex"}}, OP_SEARCH_TRAITS,
     "santeid_invalid_trait"),
    (SEARCH, {"json": {**TRAITS, "sex": 1}}, OP_SEARCH_TRAITS, "santeid_invalid_request"),
    (SEARCH, {"json": [1]}, OP_SEARCH_TRAITS, "santeid_invalid_request"),
    (SEARCH, {"data": "{", "content_type": "application/json"}, OP_SEARCH_TRAITS,
     "santeid_invalid_request"),
    (SEARCH, {"data": "x", "content_type": "text/plain"}, OP_SEARCH_TRAITS,
     "santeid_unsupported_media_type"),
    (VERIFY, {"json": {**TRAITS, "birthplace": "2A020"}}, OP_VERIFY, "santeid_invalid_trait"),
    (VITALE, {"json": {"odMatricule": "297022A020778", "birthName": "ADRTROIS",
                       "birthDate": "1997-02-26", "birthRank": "1"}}, OP_SEARCH_VITALE,
     "santeid_invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "kwargs", "operation", "result"), REST_REFUSALS)
def test_rest_refusals_of_an_authenticated_caller_are_audited_once(
    pair,
    path,
    kwargs,
    operation,
    result,
):
    fast, slow, bearer = pair
    for client in (fast, slow):
        before = len(_rows(client))
        response = client.post(path, headers=bearer, **kwargs)
        assert response.status_code in (400, 415)
        assert response.get_json()["code"] == result
        rows = _rows(client)
        assert len(rows) == before + 1
        assert (rows[0]["operation"], rows[0]["result"], rows[0]["channel"]) == (
            operation, result, "rest",
        )  # fmt: skip
        assert rows[0]["query_hash"] is None


def test_rest_refusals_of_the_core_are_audited_once(pair):
    fast, slow, bearer = pair
    for client in (fast, slow):
        before = len(_rows(client))
        response = client.post(SEARCH, json={**TRAITS, "birthName": "ADR3"}, headers=bearer)
        assert response.get_json()["code"] == "santeid_invalid_trait"
        rows = _rows(client)
        assert len(rows) == before + 1
        assert rows[0]["query_hash"] is not None


def test_rest_refusals_without_credentials_are_not_audited(pair):
    fast, slow, _ = pair
    for client in (fast, slow):
        before = len(_rows(client))
        headers = {"Authorization": "Bearer x.y.z"}
        assert client.post(SEARCH, json={**TRAITS, "extra": 1}, headers=headers).status_code == 401
        assert client.post(SEARCH, json=TRAITS).status_code == 401
        assert len(_rows(client)) == before


@pytest.mark.parametrize("path", [SEARCH, VERIFY, VITALE])
def test_rest_operations_refuse_unknown_query_parameters(pair, path):
    fast, slow, bearer = pair
    for client in (fast, slow):
        before = len(_rows(client))
        response = client.post(f"{path}?foo=1", json=TRAITS, headers=bearer)
        assert response.status_code == 400
        problem = response.get_json()
        assert (problem["code"], problem["rule"], problem["field"]) == (
            "santeid_invalid_request", "unknown-parameter", "foo",
        )  # fmt: skip
        assert len(_rows(client)) == before + 1


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ([("family:contains", "ADR"), *FHIR_TRAITS[1:]], {}, 400),
        ([*FHIR_TRAITS, ("family", "OTHER")], {}, 400),
        ([*FHIR_TRAITS, ("foo", "1")], {"Prefer": "handling=strict"}, 400),
        ([*FHIR_TRAITS, ("_format", "xml")], {}, 406),
    ],
)
def test_fhir_refusals_of_an_authenticated_caller_are_audited_once(
    client, bearer, params, headers, status
):
    before = len(_rows(client))
    response = client.get(PATIENT, query_string=params, headers={**bearer, **headers})
    assert response.status_code == status
    code = response.get_json()["issue"][0]["details"]["coding"][0]["code"]
    rows = _rows(client)
    assert len(rows) == before + 1
    assert (rows[0]["operation"], rows[0]["result"], rows[0]["channel"]) == (
        OP_SEARCH_TRAITS, code, "fhir",
    )  # fmt: skip
    assert rows[0]["query_hash"] is None


def test_fhir_refusals_of_the_core_are_audited_once(client, bearer):
    before = len(_rows(client))
    params = [("family", "ADR3"), *FHIR_TRAITS[1:]]
    assert client.get(PATIENT, query_string=params, headers=bearer).status_code == 400
    rows = _rows(client)
    assert len(rows) == before + 1
    assert rows[0]["query_hash"] is not None
    unauthenticated = client.get(PATIENT, query_string=[("family:contains", "A")])
    assert unauthenticated.status_code == 401
    assert len(_rows(client)) == before + 1

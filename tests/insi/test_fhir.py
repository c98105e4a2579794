"""FHIR adapter: FR Core Patient INS resources, searchset Bundles, OperationOutcome, metadata.

Resources are validated with fhir.resources (its ``R4B`` models: the package ships R5, R4B and
STU3; R4B (4.3) has the same Patient, Bundle, OperationOutcome and CapabilityStatement
structure as R4 4.0.1 for everything used here)."""

from __future__ import annotations

from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from werkzeug.datastructures import MultiDict

from santeid.insi.fhir import PROFILE_PATIENT_INS
from santeid.insi.fhir import _identifier
from santeid.insi.fhir import patient_resource
from santeid.insi.model import Identity
from tests.support.fhir_formats import ANSWERED_IN_JSON
from tests.support.fhir_formats import NOT_ACCEPTABLE
from tests.support.fhir_formats import case_id
from tests.support.fhir_subsetting import is_subsetted
from tests.support.fhir_subsetting import summary_of
from tests.support.fhir_subsetting import without_subsetted_tag

PATIENT = "/insi/fhir/Patient"
ADRTROIS = [("family", "ADRTROIS"), ("given", "DOMINIQUE"), ("gender", "female"),
            ("birthdate", "1997-02-26")]  # fmt: skip


def _search(client, bearer, params):
    response = client.get(PATIENT, query_string=params, headers=bearer)
    assert response.mimetype == "application/fhir+json"
    assert response.headers["Cache-Control"] == "no-store"
    return response


def _bundle(response) -> dict:
    assert response.status_code == 200
    data = response.get_json()
    Bundle.model_validate(data)  # raises on any structural error
    assert data["type"] == "searchset"
    return data


def _ext(resource: dict, suffix: str) -> dict:
    return next(e for e in resource["extension"] if e["url"].endswith(suffix))


def test_found_patient_is_a_fr_core_patient_ins(client, bearer):
    bundle = _bundle(_search(client, bearer, ADRTROIS))
    assert bundle["total"] == 1
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "match"}
    assert entry["fullUrl"].startswith("urn:uuid:")
    patient = entry["resource"]
    Patient.model_validate(patient)
    assert patient["meta"]["profile"] == [PROFILE_PATIENT_INS]
    assert patient["identifier"] == [
        {
            "use": "official",
            "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                 "code": "INS-NIR"}]},
            "system": "urn:oid:1.2.250.1.213.1.4.8",
            "value": "297022A02077878",
        }
    ]  # fmt: skip
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1997-02-26"
    name = patient["name"][0]
    assert (name["use"], name["family"], name["given"]) == ("official", "ADRTROIS", ["DOMINIQUE"])
    assert name["extension"] == [
        {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name",
         "valueString": "DOMINIQUE"}
    ]  # fmt: skip
    reliability = _ext(patient, "fr-core-identity-reliability")["extension"]
    by_url = {e["url"]: e for e in reliability}
    assert by_url["identityStatus"]["valueCoding"] == {
        "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status",
        "code": "RECUP",
    }
    assert by_url["methodCollection"]["valueCoding"]["code"] == "INSI"
    assert len(by_url["dateInterrogationINSi"]["valueDate"]) == 10
    place = _ext(patient, "patient-birthPlace")["valueAddress"]["extension"][0]
    assert (
        place["url"] == "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
    )
    assert place["valueCoding"] == {
        "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
        "code": "2A020",
    }


def test_birthplace_abroad_is_coded_in_the_countries_code_system(client, bearer, base_db):
    row = base_db.execute(
        "SELECT birth_name, given_names, sex, birth_date, birthplace FROM persons "
        "WHERE birthplace LIKE '99%' ORDER BY id LIMIT 1"
    ).fetchone()
    params = [
        ("family", row["birth_name"]), ("given", row["given_names"].split(" ")[0]),
        ("gender", {"M": "male", "F": "female"}[row["sex"]]),
        ("birthdate", f"eq{row['birth_date']}"), ("birthplace", row["birthplace"]),
    ]  # fmt: skip
    entries = _bundle(_search(client, bearer, params))["entry"]
    place = _ext(entries[0]["resource"], "patient-birthPlace")["valueAddress"]["extension"][0]
    assert place["valueCoding"] == {
        "system": "https://mos.esante.gouv.fr/NOS/TRE_R20-Pays/FHIR/TRE-R20-Pays",
        "code": row["birthplace"],
    }


def test_history_and_first_given_name(client, bearer):
    params = [("family", "ECETINSI"), ("given", "PIERRE-ALAIN"), ("gender", "male"),
              ("birthdate", "eq2009-07-14")]  # fmt: skip
    patient = _bundle(_search(client, bearer, params))["entry"][0]["resource"]
    Patient.model_validate(patient)
    assert patient["name"][0]["given"] == ["PIERRE-ALAIN"]
    assert patient["name"][0]["extension"][0]["valueString"] == "PIERRE-ALAIN MURIEL FLORIANT"
    values = [(i["use"], i["value"], i.get("period")) for i in patient["identifier"]]
    # The inverted captured interval (DateDeb > DateFin) is left out (FHIR per-1).
    assert values == [
        ("official", "109076322083489", None),
        ("old", "209076322083439", None),
    ]


def test_nia_identifier(client, bearer):
    params = [("family", "PROVISOIRE"), ("given", "MATRICULE"), ("gender", "male"),
              ("birthdate", "2009-07-01")]  # fmt: skip
    patient = _bundle(_search(client, bearer, params))["entry"][0]["resource"]
    (identifier,) = patient["identifier"]
    assert identifier["use"] == "temp"
    assert identifier["system"] == "urn:oid:1.2.250.1.213.1.4.9"
    assert identifier["type"]["coding"][0]["code"] == "INS-NIA"


@pytest.mark.parametrize(
    ("oid", "code"),
    [("1.2.250.1.213.1.4.10", "INS-NIR-TEST"), ("1.2.250.1.213.1.4.11", "INS-NIR-DEMO")],
)
def test_test_and_demo_identifiers(oid, code):
    """FR Core's INS-NIR-TEST and INS-NIR-DEMO slices: ``use = official``, systems ``.10`` and
    ``.11`` (docs/reference/insi-teleservice.md §10, §13). The value is PAT-TROIS's, the ANS
    HL7 v2 example given with OID ``.10`` (§9)."""
    expected = {
        "use": "official",
        "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                             "code": code}]},
        "system": f"urn:oid:{oid}",
        "value": "279035121518989",
    }  # fmt: skip
    assert _identifier(oid, "279035121518989") == expected
    identity = Identity(
        "2790351215189", "89", oid, "PAT-TROIS", ("DOMINIQUE",), "F", "1979-03-28", "63220", ()
    )
    patient = patient_resource(identity, date(2026, 1, 15))
    Patient.model_validate(patient)
    assert patient["identifier"] == [expected]


def test_cr_01_is_an_empty_searchset(client, bearer):
    params = [("family", "HOUILLES"), ("given", "PIERRE"), ("gender", "male"),
              ("birthdate", "1993-01-27")]  # fmt: skip
    bundle = _bundle(_search(client, bearer, params))
    assert bundle["total"] == 0
    assert "entry" not in bundle


def test_cr_02_is_an_empty_searchset_with_an_outcome(client, bearer):
    params = [("family", "DE VINCI"), ("given", "LEONARDO"), ("gender", "male"),
              ("birthdate", "2014-02-01")]  # fmt: skip
    bundle = _bundle(_search(client, bearer, params))
    assert bundle["total"] == 0
    (entry,) = bundle["entry"]
    assert entry["search"] == {"mode": "outcome"}
    outcome = entry["resource"]
    OperationOutcome.model_validate(outcome)
    issue = outcome["issue"][0]
    assert (issue["severity"], issue["code"]) == ("information", "multiple-matches")
    assert issue["details"]["coding"][0]["code"] == "02"
    # The custom birthplace parameter tells them apart.
    bundle = _bundle(_search(client, bearer, [*params, ("birthplace", "13201")]))
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == "114021320141764"


def test_repeated_given_is_and_and_spellings_are_normalised(client, bearer):
    params = [("family", "ecetinsi"), ("given", "Floriant"), ("given:exact", "muriel"),
              ("gender", "male"), ("birthdate", "2009-07-14")]  # fmt: skip
    assert _bundle(_search(client, bearer, params))["total"] == 1
    params.append(("given", "OLA"))
    assert _bundle(_search(client, bearer, params))["total"] == 0


def test_post_search(client, bearer):
    response = client.post(f"{PATIENT}/_search", data=dict(ADRTROIS), headers=bearer)
    assert _bundle(response)["total"] == 1


def test_a_trailing_slash_names_the_same_search(client, bearer):
    """``Patient/`` is the type-level search, as on HAPI FHIR (``RestfulServer`` reads the
    path's segments without the empty ones): the same Bundle, its ``self`` link the canonical
    ``Patient?…``, and ``Patient/_search/`` the same posted search."""
    expected = _bundle(_search(client, bearer, ADRTROIS))
    got = _bundle(client.get(f"{PATIENT}/", query_string=ADRTROIS, headers=bearer))
    for bundle in (expected, got):
        bundle.pop("id"), bundle["meta"].pop("lastUpdated")
    assert got == expected
    assert _self_link(got) == f"http://localhost{PATIENT}?" + "&".join(
        f"{name}={value}" for name, value in ADRTROIS
    )
    posted = client.post(f"{PATIENT}/_search/", data=dict(ADRTROIS), headers=bearer)
    assert _bundle(posted)["total"] == 1
    # One empty segment more names nothing (docs/endpoints.md): still a 404.
    assert client.get(f"{PATIENT}//", query_string=ADRTROIS, headers=bearer).status_code == 404


def test_a_search_posted_in_another_media_type_is_refused(client, bearer):
    """A posted search's body is a form (https://hl7.org/fhir/R4/http.html#search): a JSON one
    was ignored, the search run on the query string alone; now a 415."""
    query = "&".join(f"{k}={v}" for k, v in ADRTROIS)
    response = client.post(f"{PATIENT}/_search?{query}", json={"given": "OTHER"}, headers=bearer)
    issue = _outcome(response, 415)
    assert issue["details"]["coding"][0]["code"] == "santeid_unsupported_media_type"


def test_a_posted_form_that_is_not_utf8_is_refused_as_such(client, bearer):
    """A form's values are percent-encoded UTF-8 (https://url.spec.whatwg.org/#urlencoded-parsing):
    raw Latin-1 bytes made werkzeug drop the whole form, and the search said the family name,
    which was sent, was missing ("required")."""
    body = "family=ADRTRÖIS&given=DOMINIQUE&gender=female&birthdate=1997-02-26".encode("latin-1")
    response = client.post(
        f"{PATIENT}/_search",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=bearer,
    )
    issue = _outcome(response, 400)
    assert issue["details"]["coding"][0]["code"] == "santeid_invalid_request"
    assert "UTF-8" in issue["details"]["text"]
    # Percent-encoded, the same UTF-8 is read (and normalised, as a query's).
    encoded = "family=ADRTR%C3%96IS&given=DOMINIQUE&gender=female&birthdate=1997-02-26"
    posted = client.post(
        f"{PATIENT}/_search",
        data=encoded,
        content_type="application/x-www-form-urlencoded",
        headers=bearer,
    )
    assert _bundle(posted)["total"] == 1  # ADRTRÖIS normalised: ADRTROIS


def _self_link(bundle: dict) -> str:
    (link,) = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
    return link


def test_the_self_link_carries_the_parameters_used_and_only_them(client, bearer):
    """https://hl7.org/fhir/R4/search.html#selfidentify: the parameters the search used, as
    sent, whichever way they came; none it ignored."""
    used = "family=ADRTROIS&given=DOMINIQUE&gender=female&birthdate=1997-02-26"
    expected = f"http://localhost{PATIENT}?{used}"
    ignored = [("address-city", "PARIS"), ("_count", "5"), ("_format", "json"), ("foo", "1")]
    bundle = _bundle(_search(client, bearer, [*ADRTROIS, *ignored, ("birthplace", "")]))
    assert (_self_link(bundle), bundle["total"]) == (expected, 1)
    form = MultiDict([*ADRTROIS, *ignored])
    posted = client.post(f"{PATIENT}/_search", data=form, headers=bearer)
    assert _self_link(_bundle(posted)) == expected
    # Split between the query and the form, a modifier applied (:exact), given repeated.
    params = [("family:exact", "ECETINSI"), ("given", "FLORIANT"), ("given", "MURIEL")]
    posted = client.post(
        f"{PATIENT}/_search?gender=male",
        data=MultiDict([*params, ("birthdate", "2009-07-14"), ("_count", "1")]),
        headers=bearer,
    )
    bundle = _bundle(posted)
    assert bundle["total"] == 1
    assert _self_link(bundle) == (
        f"http://localhost{PATIENT}?gender=male&family%3Aexact=ECETINSI&given=FLORIANT"
        "&given=MURIEL&birthdate=2009-07-14"
    )


def _outcome(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/fhir+json"
    data = response.get_json()
    OperationOutcome.model_validate(data)
    return data["issue"][0]


@pytest.mark.parametrize(
    ("params", "code", "diagnostic"),
    [
        ([("family", "ADR3"), *ADRTROIS[1:]], "santeid_invalid_trait", "rule charset"),
        (ADRTROIS[:2] + [("gender", "other"), ADRTROIS[3]], "santeid_invalid_trait", "rule sex"),
        (ADRTROIS[:3], "santeid_invalid_trait", "parameter birthdate"),
        (ADRTROIS[:3] + [("birthdate", "ge1997-02-26")], "santeid_invalid_request",
         "rule date-prefix"),
        (ADRTROIS[:3] + [("birthdate", "1997")], "santeid_invalid_trait", "rule date-format"),
        ([*ADRTROIS, ("birthplace", "2A0")], "santeid_invalid_trait", "rule cog-format"),
        ([("family:contains", "ADR"), *ADRTROIS[1:]], "santeid_invalid_request", "modifier"),
        # As on the directory API: the parameters that subset the Patient take no modifier
        # (HAPI FHIR's _elements:exclude is not R4's); they were ignored, the whole Patient.
        ([*ADRTROIS, ("_elements:exclude", "extension")], "santeid_invalid_request", "modifier"),
        ([*ADRTROIS, ("_summary:exact", "true")], "santeid_invalid_request", "modifier"),
        ([*ADRTROIS, ("family", "OTHER")], "santeid_invalid_request", "rule repeated"),
        ([("given", "DOMINIQUE,ANNE"), *ADRTROIS[:1], *ADRTROIS[2:]], "santeid_invalid_request",
         "rule or-values"),
    ],
)  # fmt: skip
def test_invalid_searches_are_operation_outcomes(client, bearer, params, code, diagnostic):
    issue = _outcome(_search(client, bearer, params), 400)
    assert issue["severity"] == "error"
    assert issue["code"] == "invalid"
    assert issue["details"]["coding"][0]["code"] == code
    assert diagnostic in issue["diagnostics"]


def test_unknown_parameters_are_ignored_unless_strict(client, bearer):
    assert _bundle(_search(client, bearer, [*ADRTROIS, ("_count", "5"), ("foo", "1")]))["total"]
    response = client.get(PATIENT, query_string=[*ADRTROIS, ("foo", "1")],
                          headers={**bearer, "Prefer": "handling=strict"})  # fmt: skip
    assert "unknown-parameter" in _outcome(response, 400)["diagnostics"]
    response = client.get(PATIENT, query_string=[*ADRTROIS, ("_format", "xml")], headers=bearer)
    _outcome(response, 406)


@pytest.mark.parametrize(
    ("prefer", "status"),
    [
        ("handling = strict", 400),
        ("return=minimal, handling=strict", 400),
        ("handling=lenient, handling=strict", 200),  # the first instance counts
        ('x="handling=strict"', 200),  # a quoted value, not a preference
    ],
)
def test_prefer_handling_as_rfc_7240_writes_it(client, bearer, prefer, status):
    """The directory API's reading of ``Prefer`` (``santeid.fhir.strict_handling``,
    https://www.rfc-editor.org/rfc/rfc7240#section-2): a later ``handling=strict`` after
    ``handling=lenient``, or one inside another preference's quoted value, was read as
    strict here."""
    response = client.get(PATIENT, query_string=[*ADRTROIS, ("foo", "1")],
                          headers={**bearer, "Prefer": prefer})  # fmt: skip
    assert response.status_code == status, response.get_json()


def test_technical_error_and_authentication(client, bearer):
    params = [("family", "D'AEION"), ("given", "COEUR"), ("gender", "male"),
              ("birthdate", "1987-01-25")]  # fmt: skip
    issue = _outcome(_search(client, bearer, params), 503)
    assert (issue["severity"], issue["code"]) == ("fatal", "transient")
    assert issue["details"]["coding"][0]["code"] == "insi_102"
    response = client.get(PATIENT, query_string=ADRTROIS)
    assert _outcome(response, 401)["code"] == "login"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_routes_are_operation_outcomes(client, bearer):
    _outcome(client.get("/insi/fhir/Patient/123", headers=bearer), 404)
    response = client.delete(PATIENT, headers=bearer)
    _outcome(response, 405)
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_an_unsupported_media_type_is_not_supported_with_the_rest_code(app, client, bearer):
    """A 415 (docs/insi-fhir.md, "Errors"): issue code ``not-supported`` and the code INSi
    REST answers it with, ``santeid_unsupported_media_type``."""
    from werkzeug.exceptions import UnsupportedMediaType

    def refuse():
        raise UnsupportedMediaType("send the search as a form")

    app.view_functions["insi_fhir.patient_search_post"] = refuse
    issue = _outcome(client.post(f"{PATIENT}/_search", headers=bearer), 415)
    assert issue["code"] == "not-supported"
    assert issue["details"]["coding"][0]["code"] == "santeid_unsupported_media_type"
    assert issue["details"]["text"] == "send the search as a form"


def test_capability_statement(client):
    response = client.get("/insi/fhir/metadata")
    assert response.status_code == 200
    data = response.get_json()
    CapabilityStatement.model_validate(data)
    assert data["fhirVersion"] == "4.0.1"
    (resource,) = data["rest"][0]["resource"]
    assert resource["type"] == "Patient"
    assert resource["supportedProfile"] == [PROFILE_PATIENT_INS]
    assert {p["name"] for p in resource["searchParam"]} == {
        "family", "given", "gender", "birthdate", "birthplace"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("given", "status", "code"),
    [("INDISPONIBLE", 503, "desir_1020"), ("TECHNIQUE", 503, "insi_102"),
     ("ACCES", 403, "DESIR_560")],
)  # fmt: skip
def test_the_sandbox_fault_scenarios_statuses(client, bearer, given, status, code):
    """``SANTEID-FAUTE`` in sandbox mode over FHIR (docs/sandbox.md's table)."""
    params = [("family", "SANTEID-FAUTE"), ("given", given), ("gender", "female"),
              ("birthdate", "1990-01-01")]  # fmt: skip
    response = _search(client, bearer, params)
    assert response.status_code == status
    (issue,) = response.get_json()["issue"]
    assert issue["details"]["coding"][0]["code"] == code


@pytest.mark.parametrize("gender", ["F", "M", "H", "f", "Female", "other", "unknown"])
def test_gender_is_male_or_female_only(client, bearer, gender):
    params = [*ADRTROIS[:2], ("gender", gender), ADRTROIS[3]]
    issue = _outcome(_search(client, bearer, params), 400)
    assert issue["details"]["coding"][0]["code"] == "santeid_invalid_trait"
    assert "'male' or 'female'" in issue["details"]["text"]
    assert "parameter gender" in issue["diagnostics"]
    assert "rule sex" in issue["diagnostics"]


GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"


def test_gender_in_its_token_form(client, bearer):
    """``gender`` is a token (https://hl7.org/fhir/R4/search.html#token): its code with the
    administrative-gender system is the same search, echoed as sent."""
    params = [*ADRTROIS[:2], ("gender", f"{GENDER_SYSTEM}|female"), ADRTROIS[3]]
    bundle = _bundle(_search(client, bearer, params))
    assert bundle["total"] == 1
    assert f"gender={GENDER_SYSTEM.replace(':', '%3A').replace('/', '%2F')}%7Cfemale" in _self_link(
        bundle
    )


@pytest.mark.parametrize(
    "gender", ["urn:example:sexe|female", "|female", "http://hl7.org/fhir/gender|F"]
)
def test_gender_of_another_system_is_refused(client, bearer, gender):
    params = [*ADRTROIS[:2], ("gender", gender), ADRTROIS[3]]
    issue = _outcome(_search(client, bearer, params), 400)
    assert issue["details"]["coding"][0]["code"] == "santeid_invalid_request"
    assert GENDER_SYSTEM in issue["details"]["text"]
    assert "parameter gender" in issue["diagnostics"]


def test_gender_of_the_system_is_still_male_or_female(client, bearer):
    params = [*ADRTROIS[:2], ("gender", f"{GENDER_SYSTEM}|other"), ADRTROIS[3]]
    issue = _outcome(_search(client, bearer, params), 400)
    assert issue["details"]["coding"][0]["code"] == "santeid_invalid_trait"
    assert "rule sex" in issue["diagnostics"]


def test_the_cr_coding_system_resolves(client, bearer):
    params = [("family", "DE VINCI"), ("given", "LEONARDO"), ("gender", "male"),
              ("birthdate", "2014-02-01")]  # fmt: skip
    (entry,) = _bundle(_search(client, bearer, params))["entry"]
    coding = entry["resource"]["issue"][0]["details"]["coding"][0]
    assert coding == {"system": "http://localhost/insi/cr", "code": "02"}
    system = client.get("/insi/cr")
    assert system.status_code == 200
    listed = system.get_json()
    assert listed["system"] == coding["system"]
    assert [c["code"] for c in listed["codes"]] == ["00", "01", "02"]
    one = client.get("/insi/cr/02")
    assert one.status_code == 200
    assert one.get_json()["display"] == "Plusieurs identites trouvees"
    page = client.get("/insi/cr/02", headers={"Accept": "text/html"})
    assert page.mimetype == "text/html"
    assert "Plusieurs identites trouvees" in page.get_data(as_text=True)
    missing = client.get("/insi/cr/99")
    assert (missing.status_code, missing.mimetype) == (404, "application/problem+json")


def test_more_values_than_the_cap_of_every_fhir_search_is_too_costly(client, bearer):
    """The one cap of every FHIR search parameter (``santeid.fhir.MAX_SEARCH_VALUES``): the
    values of a parameter over all its repetitions, whichever way they are sent."""
    from santeid.fhir import MAX_SEARCH_VALUES

    given = [("given", "DOMINIQUE")] * (MAX_SEARCH_VALUES + 1)
    params = [ADRTROIS[0], *given, *ADRTROIS[2:]]
    issue = _outcome(_search(client, bearer, params), 400)
    assert issue["code"] == "too-costly"
    assert issue["details"]["coding"][0]["code"] == "santeid_too_large"
    assert (
        "'given'" in issue["details"]["text"] and str(MAX_SEARCH_VALUES) in issue["details"]["text"]
    )
    posted = client.post(
        f"{PATIENT}/_search?given=DOMINIQUE",
        data=MultiDict([ADRTROIS[0], *given[1:], *ADRTROIS[2:], ("given", "DOMINIQUE")]),
        headers=bearer,
    )
    assert _outcome(posted, 400)["code"] == "too-costly"
    # At the cap, INSi's own rules of the traits apply (the given names' length).
    at_the_cap = _search(client, bearer, [ADRTROIS[0], *given[1:], *ADRTROIS[2:]])
    assert _outcome(at_the_cap, 400)["details"]["coding"][0]["code"] == "santeid_invalid_trait"


def _ask(client, bearer, endpoint: str, case) -> object:
    extra, headers = case
    query = "&".join(f"{k}={v}" for k, v in ADRTROIS)
    if endpoint == "metadata":
        return client.get(f"/insi/fhir/metadata?{extra}", headers=headers)
    if endpoint == "search":
        return client.get(f"{PATIENT}?{query}&{extra}", headers={**bearer, **headers})
    return client.post(
        f"{PATIENT}/_search?{extra}", data=dict(ADRTROIS), headers={**bearer, **headers}
    )


@pytest.mark.parametrize("endpoint", ["metadata", "search", "posted search"])
@pytest.mark.parametrize("case", ANSWERED_IN_JSON, ids=case_id)
def test_every_json_spelling_is_answered_in_fhir_json(client, bearer, endpoint, case):
    """The one check of the format of every FHIR endpoint, the directory's too
    (``santeid.fhir.check_format``, https://hl7.org/fhir/R4/http.html#mime-type)."""
    response = _ask(client, bearer, endpoint, case)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"


@pytest.mark.parametrize("endpoint", ["metadata", "search", "posted search"])
@pytest.mark.parametrize("case", NOT_ACCEPTABLE, ids=case_id)
def test_another_format_is_not_acceptable(client, bearer, endpoint, case):
    issue = _outcome(_ask(client, bearer, endpoint, case), 406)
    assert issue["code"] == "not-supported"
    assert issue["details"]["coding"][0]["code"] == "santeid_unsupported_media_type"


@pytest.mark.parametrize(("count", "status"), [("1", 200), ("100000", 200), ("9" * 40, 200),
                                               ("-1", 400), ("1.5", 400), ("x", 400)])  # fmt: skip
def test_count_follows_the_rule_of_every_fhir_search(client, bearer, count, status):
    """``_count`` read by the code the directory API reads it with
    (``santeid.fhir.search_count``): a whole number, above the maximum served as it."""
    response = _search(client, bearer, [*ADRTROIS, ("_count", count)])
    if status == 200:
        assert _bundle(response)["total"] == 1
    else:
        issue = _outcome(response, 400)
        assert issue["details"]["coding"][0]["code"] == "santeid_invalid_request"
        assert "_count" in issue["details"]["text"]


@pytest.mark.parametrize(
    "count_only",
    [[("_count", "0")], [("_summary", "count")], [("_summary", "count"), ("_count", "3")]],
)
def test_a_count_alone_is_the_total_without_the_patient(client, bearer, count_only):
    """``_summary=count``, and ``_count=0``, which R4 treats the same
    (https://hl7.org/fhir/R4/search.html#count): ``total`` and no Patient; the self link says
    so. A 02's outcome entry still tells why the total is 0."""
    bundle = _bundle(_search(client, bearer, [*ADRTROIS, *count_only]))
    assert (bundle["total"], "entry" in bundle) == (1, False)
    asked = "_count=0" if ("_count", "0") in count_only else "_summary=count"
    assert _self_link(bundle).endswith(f"birthdate=1997-02-26&{asked}")
    several = [("family", "DE VINCI"), ("given", "LEONARDO"), ("gender", "male"),
               ("birthdate", "2014-02-01")]  # fmt: skip
    bundle = _bundle(_search(client, bearer, [*several, *count_only]))
    assert bundle["total"] == 0
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["outcome"]


def _patient(bundle: dict) -> dict:
    (entry,) = bundle["entry"]
    Patient.model_validate(entry["resource"])
    return entry["resource"]


def test_elements_keep_the_elements_named(client, bearer):
    """``_elements`` (https://hl7.org/fhir/R4/search.html#elements): the elements named and
    ``meta`` (its profile, and the SUBSETTED tag), as the directory API; the self link says
    it. The whole Patient was answered, the parameter ignored."""
    whole = _patient(_bundle(_search(client, bearer, ADRTROIS)))
    bundle = _bundle(_search(client, bearer, [*ADRTROIS, ("_elements", "identifier,name,foo")]))
    patient = _patient(bundle)
    assert set(patient) == {"resourceType", "meta", "identifier", "name"}
    assert (patient["identifier"], patient["name"]) == (whole["identifier"], whole["name"])
    assert patient["meta"]["profile"] == [PROFILE_PATIENT_INS] and is_subsetted(patient)
    assert _self_link(bundle).endswith("birthdate=1997-02-26&_elements=identifier%2Cname%2Cfoo")


@pytest.mark.parametrize("summary", ["true", "text", "data", "false"])
def test_summary_values(client, bearer, summary):
    """``_summary`` (https://hl7.org/fhir/R4/search.html#summary): ``true`` the summary
    elements (fhir.resources' isSummary flags: no extension, at any depth), ``text`` ``meta``
    alone (no narrative, no id, no mandatory element), ``data`` the whole Patient (no
    narrative to remove), tagged; ``false`` the whole Patient."""
    whole = _patient(_bundle(_search(client, bearer, ADRTROIS)))
    bundle = _bundle(_search(client, bearer, [*ADRTROIS, ("_summary", summary)]))
    patient = _patient(bundle)
    assert is_subsetted(patient) is (summary != "false")
    expected = {
        "true": summary_of(whole, "Patient"),
        "text": {"resourceType": "Patient", "meta": whole["meta"]},
        "data": whole,
        "false": whole,
    }[summary]
    assert without_subsetted_tag(patient) == expected
    assert _self_link(bundle).endswith(f"&_summary={summary}")


def test_summary_leaves_the_outcome_of_a_02_whole(client, bearer):
    """A 02's ``OperationOutcome`` entry is the server's message, not a resource searched:
    every element it has is summary (or mandatory), and it is kept whole."""
    several = [("family", "DE VINCI"), ("given", "LEONARDO"), ("gender", "male"),
               ("birthdate", "2014-02-01")]  # fmt: skip
    plain = _bundle(_search(client, bearer, several))["entry"]
    for summary in ("true", "text"):
        entries = _bundle(_search(client, bearer, [*several, ("_summary", summary)]))["entry"]
        assert [e["resource"]["issue"] for e in entries] == [e["resource"]["issue"] for e in plain]
        assert not is_subsetted(entries[0]["resource"])


@pytest.mark.parametrize(
    ("params", "diagnostic"),
    [
        ([("_summary", "yes")], "_summary must be one of"),
        ([("_summary", "text"), ("_summary", "data")], "_summary=text"),
        ([("_summary", "true"), ("_elements", "name")], "Cannot combine"),
    ],
)
def test_a_wrong_summary_is_refused(client, bearer, params, diagnostic):
    """400 ``santeid_invalid_request``, as every refused parameter here — never the whole
    Patient."""
    issue = _outcome(_search(client, bearer, [*ADRTROIS, *params]), 400)
    assert issue["details"]["coding"][0]["code"] == "santeid_invalid_request"
    assert diagnostic in issue["details"]["text"]

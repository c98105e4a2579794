"""The FHIR R4 directory API (``/fhir/v1``), checked with a FHIR model library."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest

from santeid.directory import synthetic
from santeid.directory.demo import demo_professionals
from tests.support.fhir_subsetting import SUBSETTED_SYSTEM
from tests.support.fhir_subsetting import is_subsetted
from tests.support.fhir_subsetting import summary_of
from tests.support.fhir_subsetting import without_subsetted_tag
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client

fhir = pytest.importorskip("fhir.resources.R4B.bundle", reason="pip install 'fhir.resources>=8'")
from fhir.resources.R4B.bundle import Bundle  # noqa: E402
from fhir.resources.R4B.capabilitystatement import CapabilityStatement  # noqa: E402
from fhir.resources.R4B.operationoutcome import OperationOutcome  # noqa: E402
from fhir.resources.R4B.practitioner import Practitioner  # noqa: E402
from fhir.resources.R4B.practitionerrole import PractitionerRole  # noqa: E402

SECRET = "fhir-service-secret-0123456789"
FAUVEL = "810000000001"  # demo: médecin SM54, three activities
ROLEFILE = "810000000012"  # demo: two exercices (10 and 40)


@pytest.fixture
def api(app, client):
    """GET under /fhir/v1 with a client-credentials token; returns (status, json, response)."""
    register_client(
        app,
        client_id="fhir-reader",
        client_secret=SECRET,
        grant_types=["client_credentials"],
        redirect_uris=[],
        post_logout_redirect_uris=[],
    )
    token = client.post(
        f"{OIDC}/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("fhir-reader", SECRET),
    ).get_json()["access_token"]

    def get(path: str, token_override: str | None = None, **headers):
        auth = {"Authorization": f"Bearer {token_override or token}"}
        response = client.get(f"/fhir/v1{path}", headers={**auth, **headers})
        return response.status_code, response.get_json(force=True), response

    return get


def entries(bundle: dict) -> list[dict]:
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    return [entry["resource"] for entry in bundle.get("entry", [])]


def test_read_a_practitioner(api):
    status, body, response = api(f"/Practitioner/{FAUVEL}")
    assert status == 200 and response.mimetype == "application/fhir+json"
    Practitioner.model_validate(body)
    idnps = body["identifier"][0]
    assert idnps["system"] == "urn:oid:1.2.250.1.71.4.2.1" and idnps["value"] == FAUVEL
    assert idnps["type"]["coding"][0]["code"] == "IDNPS"
    assert body["identifier"][1] == {
        "use": "official",
        "type": {
            "coding": [
                {
                    "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                    "code": "RPPS",
                    "display": "N° RPPS",
                }
            ]
        },
        "system": "http://rpps.fr",
        "value": FAUVEL[1:],
    }
    # The civility only, as the Annuaire Santé v1: the exercice names are on PractitionerRole.
    assert body["name"] == [{"use": "official", "prefix": ["MME"]}]
    profession = body["qualification"][0]["code"]["coding"][0]
    assert profession == {
        "system": "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
        "code": "10",
        "display": "Médecin",
    }
    assert body["qualification"][1]["code"]["coding"][0]["code"] == "SM54"
    assert "birthDate" not in body and "telecom" not in body  # private, as in userinfo


def test_unknown_practitioner_is_an_operation_outcome(api):
    status, body, _ = api("/Practitioner/810000000999")
    assert status == 404
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    "query",
    [
        f"identifier={FAUVEL}",
        f"identifier=urn:oid:1.2.250.1.71.4.2.1|{FAUVEL}",
        f"identifier=http://rpps.fr|{FAUVEL[1:]}",
        f"identifier=https://rpps.esante.gouv.fr|{FAUVEL[1:]}",
        f"identifier={FAUVEL[1:]}",
        f"_id={FAUVEL}",
        "identifier=810000000998,810000000001",
    ],
)
def test_search_by_identifier(api, query):
    status, body, _ = api(f"/Practitioner?{query}")
    assert status == 200
    assert [r["id"] for r in entries(body)] == [FAUVEL]
    assert body["total"] == 1


def test_search_by_former_adeli_number(api):
    bouvier = next(p for p in demo_professionals() if p.national_id == "810000000003")
    former = next(o.identifiant for o in bouvier.other_ids if o.origine == "ADELI")
    status, body, _ = api(f"/Practitioner?identifier={former}")
    found = entries(body)
    assert [r["id"] for r in found] == ["810000000003"]
    assert {"use": "old", "type": {"text": "ADELI"}}.items() <= found[0]["identifier"][-1].items()
    assert api("/Practitioner?identifier=http://adeli.fr|" + former[1:])[1]["total"] == 1
    # A bare value matches any identifier system (docs/directory.md), former ones included.
    assert [r["id"] for r in entries(api(f"/Practitioner?identifier={former[1:]}")[1])] == [
        "810000000003"
    ]


def test_id_is_the_logical_id_only(api):
    """``_id`` is the resource's logical id (https://hl7.org/fhir/R4/search.html#id): the id a
    read answers, not the RPPS number or a former identifier ``identifier`` matches."""
    bouvier = next(p for p in demo_professionals() if p.national_id == "810000000003")
    former = next(o.identifiant for o in bouvier.other_ids if o.origine == "ADELI")
    for value in (FAUVEL[1:], former, former[1:]):
        assert api(f"/Practitioner/{value}")[0] == 404
        status, body, _ = api(f"/Practitioner?_id={value}")
        assert status == 200 and entries(body) == [], value
        assert api(f"/Practitioner?identifier={value}")[1]["total"] == 1, value
    staff = next(p for p in demo_professionals() if "/" in p.national_id)
    resource_id = staff.national_id.replace("/", "-")
    status, body, _ = api(f"/Practitioner?_id={resource_id},{FAUVEL}")
    assert [r["id"] for r in entries(body)] == sorted([FAUVEL, resource_id])
    # The national id as written, with its "/", is no resource id: no read, no _id match.
    assert api(f"/Practitioner/{staff.national_id}")[0] == 404
    status, body, _ = api(f"/Practitioner?_id={staff.national_id}")
    assert status == 200 and entries(body) == []
    assert [
        r["id"] for r in entries(api(f"/Practitioner?_id={staff.national_id},{FAUVEL}")[1])
    ] == [FAUVEL]


def test_unknown_identifier_system_finds_nothing(api):
    status, body, _ = api(f"/Practitioner?identifier=urn:other|{FAUVEL}")
    assert status == 200 and body["total"] == 0 and "entry" not in body


def test_search_by_names_is_prefix_case_and_accent_insensitive(api):
    for query in ("family=fauv", "given=Hélène", "name=FAUVEL", "family=Fauvel&given=hel"):
        status, body, _ = api(f"/Practitioner?{query}")
        assert status == 200, body
        assert FAUVEL in [r["id"] for r in entries(body)], query
    # The exercice name counts as a family name (LEMAIRE practises as LEMAIRE-VIDAL).
    assert "810000000020" in [r["id"] for r in entries(api("/Practitioner?family=lemaire-vid")[1])]
    assert api("/Practitioner?family=fauvel&given=zzz")[1]["total"] == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("family=FAUVEL,ROCHEFORT", ["810000000001", "810000000002"]),
        ("family=rochefort,fauvel", ["810000000001", "810000000002"]),
        ("name=zzz,fauv", [FAUVEL]),
        ("given=julien,helene", ["810000000001", "810000000002"]),
        # Repeated parameters AND, each an OR of its comma-separated values.
        ("family=fauvel,rochefort&given=jul,zzz", ["810000000002"]),
        ("family=fauvel,rochefort&family=zzz", []),
        (f"identifier={FAUVEL}&family=zzz,fauv", [FAUVEL]),
        (f"identifier={FAUVEL}&family=zzz,roche", []),
        # Empty alternatives: no name; an identifier list of nothing designates nobody.
        ("family=FAUVEL,", [FAUVEL]),
        (f"identifier={FAUVEL}&family=,", [FAUVEL]),
        ("identifier=,", []),
    ],
)
def test_comma_separated_name_values_are_alternatives(api, query, expected):
    """https://hl7.org/fhir/R4/search.html#combining: comma-separated values are OR'd."""
    status, body, _ = api(f"/Practitioner?{query}")
    assert status == 200, body
    assert [r["id"] for r in entries(body)] == expected
    assert body["total"] == len(expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # https://hl7.org/fhir/R4/search.html#combining: repetitions AND, commas OR.
        ("identifier=810000000001&identifier=810000000002", []),
        (f"identifier={FAUVEL}&identifier={FAUVEL[1:]}", [FAUVEL]),  # her RPPS number
        (f"identifier={FAUVEL},810000000002&identifier={FAUVEL}", [FAUVEL]),
        (f"identifier={FAUVEL}&_id=810000000002", []),
        (f"identifier={FAUVEL}&_id={FAUVEL}", [FAUVEL]),
        (f"_id={FAUVEL}&_id=810000000002", []),
        (f"_id={FAUVEL},810000000002&_id=810000000002", ["810000000002"]),
    ],
)
def test_repeated_identifiers_and(api, query, expected):
    status, body, _ = api(f"/Practitioner?{query}")
    assert status == 200, body
    assert [r["id"] for r in entries(body)] == expected
    assert body["total"] == len(expected)


@pytest.fixture
def big_directory(settings):
    """The app's directory replaced by 12,000 generated people plus the demo set: more than a
    search would have read had it capped the people matched by the other conditions."""
    from santeid.directory.repository import Directory

    synthetic.generate(Directory.for_settings(settings).path, 12_000, 1)
    return "820000119999"  # the last generated id: after 12,000 others in id order


def test_identifier_with_other_conditions_at_scale(big_directory, api):
    last = big_directory
    assert api(f"/Practitioner?identifier={last}")[1]["total"] == 1
    found = api(f"/Practitioner?identifier={last}&_revinclude=PractitionerRole:practitioner")[1]
    role = next(e["resource"] for e in found["entry"] if e["search"]["mode"] == "include")
    family = role["extension"][0]["valueHumanName"]["family"]
    for query, total in (
        (f"identifier={last}&active=true", 1),
        (f"_id={last}&active=true", 1),
        (f"identifier={last},{FAUVEL}&active=true&_count=1", None),
        (f"identifier={last}&active=false", 0),
        (f"identifier={last}&family={family}", 1),
        (f"identifier={last}&family=zzz,{family}&active=true", 1),
        (f"identifier={last}&name={family}&given=zzz", 0),
    ):
        status, body, _ = api(f"/Practitioner?{query}")
        assert status == 200, (query, body)
        assert body.get("total") == total, query
    # Paged: FAUVEL first, then the last generated person on the next page.
    status, body, _ = api(f"/Practitioner?identifier={last},{FAUVEL}&active=true&_count=1")
    assert [r["id"] for r in entries(body)] == [FAUVEL]
    following = {link["relation"]: link["url"] for link in body["link"]}["next"]
    status, body, _ = api(f"/Practitioner?{urlsplit(following).query}")
    assert [r["id"] for r in entries(body)] == [last] and "next" not in {
        link["relation"] for link in body["link"]
    }


def test_search_pages_with_count_and_next_link(api):
    seen: list[str] = []
    status, body, _ = api("/Practitioner?_count=10")
    while True:
        assert status == 200
        seen.extend(r["id"] for r in entries(body))
        links = {link["relation"]: link["url"] for link in body["link"]}
        if "next" not in links:
            break
        assert "total" not in body
        parts = urlsplit(links["next"])
        assert parse_qs(parts.query)["_count"] == ["10"]
        status, body, _ = api(f"/Practitioner?{parts.query}")
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == len(demo_professionals())


@pytest.mark.parametrize("asked", ["501", "100000", "9" * 4000])
def test_a_count_above_the_maximum_is_served_as_the_maximum(big_directory, api, asked):
    """https://hl7.org/fhir/R4/search.html#count: the server may return fewer than ``_count``
    asks. Above 500, a page of 500 and a ``next`` link, the ``_count`` applied in both links."""
    for path, key in (
        ("/Practitioner?active=true", "Practitioner"),
        ("/PractitionerRole?role=60", "PractitionerRole"),
    ):
        status, body, _ = api(f"{path}&_count={asked}")
        assert status == 200, body
        matches = [r for r in entries(body) if r["resourceType"] == key]
        assert 450 <= len(matches) <= 500 if key == "PractitionerRole" else len(matches) == 500
        assert self_query(body)["_count"] == ["500"]
        following = urlsplit(links(body)["next"]).query
        assert parse_qs(following)["_count"] == ["500"]
        assert len(entries(api(f"/{key}?{following}")[1])) > 0


def test_inactive_filter(api):
    status, body, _ = api("/Practitioner?active=false")
    assert [r["id"] for r in entries(body)] == ["810000000024"]
    assert entries(body)[0]["active"] is False


def test_practitioner_roles_of_a_practitioner(api):
    status, body, _ = api(f"/PractitionerRole?practitioner=Practitioner/{FAUVEL}")
    roles = entries(body)
    assert len(roles) == 3
    for role in roles:
        PractitionerRole.model_validate(role)
        assert role["practitioner"] == {"reference": f"Practitioner/{FAUVEL}"}
    first = roles[0]
    assert first["id"] == f"{FAUVEL}-1-1"
    systems = {
        c["coding"][0]["system"].split("/NOS/")[1].split("/")[0]: c["coding"][0]["code"]
        for c in first["code"]
    }
    assert systems == {
        "TRE_G15-ProfessionSante": "10",
        "TRE_R09-CategorieProfessionnelle": "C",
        "TRE_R23-ModeExercice": "L",
        "TRE_R22-GenreActivite": "GENR01",
    }
    assert first["organization"]["display"] == "CABINET MEDICAL FAUVEL"
    assert first["organization"]["identifier"]["value"] == "410000000001001"
    assert first["extension"][0]["valueHumanName"] == {
        "family": "FAUVEL",
        "given": ["HELENE"],
        "suffix": ["DR"],
    }
    assert first["specialty"][0]["coding"][0]["code"] == "SM54"
    status, read, _ = api(f"/PractitionerRole/{FAUVEL}-1-2")
    assert status == 200 and read == roles[1]


def test_roles_filtered_by_profession_and_by_mode(api):
    status, body, _ = api(f"/PractitionerRole?practitioner={ROLEFILE}&role=40")
    roles = entries(body)
    assert [r["code"][0]["coding"][0]["code"] for r in roles] == ["40"]
    mode = "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"
    status, body, _ = api(f"/PractitionerRole?practitioner={FAUVEL}&role={mode}|S")
    assert len(entries(body)) == 2


def test_roles_by_profession_across_the_directory(api):
    status, body, _ = api("/PractitionerRole?role=60&_count=2")
    roles = entries(body)
    assert roles and all(r["code"][0]["coding"][0]["code"] == "60" for r in roles)
    nurses = {p.national_id for p in demo_professionals() if "60" in p.professions}
    assert {r["practitioner"]["reference"].split("/")[1] for r in roles} <= nurses


def test_errors_are_operation_outcomes(api):
    # A trailing slash is the same interaction, as on HAPI FHIR: the type-level search, the
    # read, the CapabilityStatement.
    for path in ("/Practitioner?_count=2", "/PractitionerRole?role=60&_count=2", "/metadata"):
        plain, slashed = api(path), api(path.replace("?", "/?") if "?" in path else path + "/")
        assert (slashed[0], plain[0]) == (200, 200), (path, slashed[1])
        for body in (plain[1], slashed[1]):
            body.pop("id", None), body.get("meta", {}).pop("lastUpdated", None)
            body.pop("date", None)
        assert slashed[1] == plain[1], path
    first = entries(api("/Practitioner?_count=1")[1])[0]
    assert api(f"/Practitioner/{first['id']}/")[1] == api(f"/Practitioner/{first['id']}")[1]
    for path, status_expected, code in (
        ("/Practitioner?_count=abc", 400, "invalid"),
        # Characters int() refuses although str.isdigit() accepts them, too many digits.
        ("/Practitioner?_count=%C2%B2", 400, "invalid"),
        ("/Practitioner?_count=-1", 400, "invalid"),
        ("/Practitioner?_count=1.5", 400, "invalid"),
        ("/PractitionerRole?role=10&_count=-5", 400, "invalid"),
        (f"/PractitionerRole/{FAUVEL}-%C2%B2-1", 404, "not-found"),
        (f"/PractitionerRole/{FAUVEL}-1-" + "9" * 5000, 404, "not-found"),
        ("/Practitioner?active=maybe", 400, "invalid"),
        ("/PractitionerRole", 400, "invalid"),
        (
            "/PractitionerRole?role=https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice|L",
            400,
            "not-supported",
        ),
        ("/PractitionerRole/nope", 404, "not-found"),
        ("/Patient", 404, "not-supported"),
    ):
        status, body, _ = api(path)
        assert status == status_expected, (path, body)
        OperationOutcome.model_validate(body)
        assert body["issue"][0]["code"] == code, path
    status, body, _ = api("/Practitioner?foo=bar", Prefer="handling=strict")
    assert status == 400
    assert api("/Practitioner?foo=bar")[0] == 200  # lenient by default


@pytest.mark.parametrize(
    ("prefer", "status"),
    [
        ("handling = strict", 400),  # RFC 7240's BWS around "="
        ("return=minimal, handling=strict", 400),
        ("respond-async; wait=5, handling = strict", 400),
        ("handling=lenient, handling=strict", 200),  # the first instance counts
    ],
)
def test_prefer_handling_as_rfc_7240_writes_it(api, prefer, status):
    """``Prefer`` is read by the one function both FHIR APIs share
    (``santeid.fhir.strict_handling``): spaces around ``=`` and several preferences in one
    header (https://www.rfc-editor.org/rfc/rfc7240#section-2) — ``handling = strict`` was
    not read as strict here, and a first ``handling=lenient`` was overridden."""
    got, body, _ = api("/Practitioner?foo=bar", Prefer=prefer)
    assert got == status, body


def test_a_token_is_required(app, client, api):
    response = client.get(f"/fhir/v1/Practitioner/{FAUVEL}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    OperationOutcome.model_validate(response.get_json(force=True))
    status, body, response = api(f"/Practitioner/{FAUVEL}", token_override="not.a.token")
    assert status == 401 and "invalid_token" in response.headers["WWW-Authenticate"]
    assert body["issue"][0]["code"] == "login"  # docs/directory.md, "Access"
    bad = client.get(f"/fhir/v1/Practitioner/{FAUVEL}", headers={"Authorization": "Basic x"})
    assert bad.status_code == 400 and "WWW-Authenticate" not in bad.headers
    assert bad.get_json(force=True)["issue"][0]["code"] == "invalid"


def test_a_logged_in_professionals_token_works_too(flow, client):
    token = flow.full_login()["access_token"]
    response = client.get(
        f"/fhir/v1/Practitioner/{FAUVEL}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


def test_capability_statement_is_public(client):
    response = client.get("/fhir/v1/metadata")
    assert response.status_code == 200
    body = response.get_json(force=True)
    CapabilityStatement.model_validate(body)
    assert body["fhirVersion"] == "4.0.1"


def test_structure_staff_ids_get_fhir_safe_resource_ids(api, app):
    staff = next(p for p in demo_professionals() if "/" in p.national_id)
    resource_id = staff.national_id.replace("/", "-")
    status, body, _ = api(f"/Practitioner/{resource_id}")
    assert status == 200 and body["id"] == resource_id
    Practitioner.model_validate(body)


@pytest.mark.parametrize(
    "path",
    [
        "/Practitioner/{staff}",  # the national id's "/", not the resource id
        f"/Practitioner/{FAUVEL}/x",
        f"/Practitioner/x/{FAUVEL}",
        f"/PractitionerRole/{FAUVEL}-1-1/x",
    ],
)
def test_a_read_is_of_one_id(api, path):
    """A read is ``[type]/[id]`` (https://hl7.org/fhir/R4/http.html#read), an id has no ``/``
    (https://hl7.org/fhir/R4/datatypes.html#id): any longer path is one this API does not serve,
    404 ``not-supported`` — ``Practitioner/<structure staff national id>`` and
    ``Practitioner/a/<id>`` read a practitioner."""
    staff = next(p for p in demo_professionals() if "/" in p.national_id).national_id
    status, body, _ = api(path.format(staff=staff))
    assert status == 404, body
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == "not-supported"


def test_a_read_with_an_encoded_slash_is_a_400(api):
    """``Practitioner/<national id with its / encoded>``: a path holding ``%2F`` is refused
    before any endpoint (docs/security.md, "Paths"), 400 ``invalid`` in this API's format."""
    staff = next(p for p in demo_professionals() if "/" in p.national_id).national_id
    status, body, _ = api(f"/Practitioner/{quote(staff, safe='')}")
    assert status == 400, body
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == "invalid"


def test_synthetic_people_validate_as_fhir(app):
    from santeid.fhir_directory import resources

    for professional in synthetic.professionals(150, 4):
        Practitioner.model_validate(resources.practitioner(professional))
        for role in resources.practitioner_roles(professional):
            PractitionerRole.model_validate(role)
    inactive = dataclasses.replace(professional, status="inactive")
    assert resources.practitioner(inactive)["active"] is False


NURSE = "810000000003"  # demo: BOUVIER-SALLES, infirmière (60)
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R38 = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
R09 = (
    "https://mos.esante.gouv.fr/NOS/TRE_R09-CategorieProfessionnelle/FHIR/"
    "TRE-R09-CategorieProfessionnelle"
)


def links(body: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in body["link"]}


def self_query(body: dict) -> dict[str, list[str]]:
    """The parameters the ``self`` link says were applied (FHIR R4 §3.1.1.4.2)."""
    return parse_qs(urlsplit(links(body)["self"]).query, keep_blank_values=True)


def test_a_nurse_is_never_confirmed_as_a_doctor(api):
    """``qualification-code`` is applied, never dropped while the self link claims it was."""
    status, body, _ = api(f"/Practitioner?identifier={NURSE}&qualification-code=10")
    assert status == 200, body
    assert entries(body) == [] and body["total"] == 0
    assert self_query(body) == {"identifier": [NURSE], "qualification-code": ["10"]}
    status, body, _ = api(f"/Practitioner?identifier={NURSE}&qualification-code={G15}|60")
    assert [r["id"] for r in entries(body)] == [NURSE]


def test_self_link_lists_only_the_parameters_applied(api):
    """https://hl7.org/fhir/R4/search.html#conformance: the server returns the parameters it
    actually used; unknown ones are ignored (lenient handling) and left out."""
    status, body, _ = api(f"/Practitioner?identifier={FAUVEL}&foo=bar&_elements=id&_count=5")
    assert status == 200 and [r["id"] for r in entries(body)] == [FAUVEL]
    assert self_query(body) == {"identifier": [FAUVEL], "_elements": ["id"], "_count": ["5"]}
    # An empty value is no condition: not applied, not echoed.
    status, body, _ = api("/Practitioner?family=&given=hel&_sort=family")
    assert status == 200 and FAUVEL in [r["id"] for r in entries(body)]
    assert self_query(body) == {"given": ["hel"]}
    status, body, _ = api(f"/PractitionerRole?practitioner={FAUVEL}&speciality_x=1")
    assert self_query(body) == {"practitioner": [FAUVEL]}


def test_next_link_carries_only_the_parameters_applied(api):
    status, body, _ = api("/Practitioner?_count=2&foo=bar&active=true")
    following = parse_qs(urlsplit(links(body)["next"]).query)
    assert following == {"_count": ["2"], "active": ["true"], "_cursor": [following["_cursor"][0]]}


@pytest.mark.parametrize(
    "query",
    [
        "family:exact=FAUVEL",
        "name:family=FAUVEL&name:given=HELENE",
        "given:contains=ELE",
        f"identifier:not={FAUVEL}",
        "active:missing=false",
        "qualification-code:text=medecin",
        "foo:bar=1",
        f"identifier={FAUVEL}&_include:iterate=PractitionerRole:practitioner",
    ],
)
def test_an_unsupported_modifier_is_refused(api, query):
    """https://hl7.org/fhir/R4/search.html#modifiers: a server SHALL reject a parameter with
    a modifier it does not support, whatever the handling asked."""
    status, body, _ = api(f"/Practitioner?{query}")
    assert status == 400, body
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == "not-supported"
    status, body, _ = api(f"/PractitionerRole?practitioner={FAUVEL}&role:not=10")
    assert status == 400 and body["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/Practitioner?_lastUpdated=ge2025-01-01", "_lastUpdated"),
        ("/Practitioner?mailbox-mss=a@b.mssante.fr", "mailbox-mss"),
        ("/Practitioner?identifier-type=RPPS", "identifier-type"),
        (f"/PractitionerRole?practitioner={FAUVEL}&speciality=SM54", "speciality"),
        (f"/PractitionerRole?practitioner={FAUVEL}&organization=x", "organization"),
        (f"/PractitionerRole?practitioner={FAUVEL}&active=true", "active"),
    ],
)
def test_filters_of_the_annuaire_sante_not_served_are_refused(api, path, name):
    """A filter the Annuaire Santé applies and santeid does not is refused, not ignored: a
    client written for the Annuaire would read a wider answer as a filtered one."""
    status, body, _ = api(path)
    assert status == 400, body
    assert body["issue"][0]["code"] == "not-supported" and name in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("qualification-code=60", ["810000000003", "810000000019", "810000000023"]),
        (f"qualification-code={G15}|60", ["810000000003", "810000000019", "810000000023"]),
        ("qualification-code=60&family=mer", ["810000000019"]),
        ("qualification-code=21,50", ["810000000002", "810000000007", "810000000018"]),
        ("qualification-code=10&qualification-code=40", ["810000000012"]),
        ("qualification-code=40", ["810000000008", "810000000012"]),
        ("qualification-code=urn:other|10", []),
        ("qualification-code=10&active=false", ["810000000024"]),
        (f"qualification-code={R38}|SM54&identifier={FAUVEL},{NURSE}", [FAUVEL]),
        (f"qualification-code={R09}|E&identifier=810000000014,{FAUVEL}", ["810000000014"]),
        (f"qualification-code=SM54&identifier={FAUVEL},{NURSE}", [FAUVEL]),
        (f"qualification-code=10,60&identifier={FAUVEL},{NURSE}", [FAUVEL, NURSE]),
    ],
)
def test_search_by_qualification_code(api, query, expected):
    """``qualification-code`` (Annuaire Santé, "Rechercher par profession"): a bare code or
    ``system|code``; over the whole directory, the TRE_G15 profession."""
    status, body, _ = api(f"/Practitioner?{query}&_count=500")
    assert status == 200, body
    assert [r["id"] for r in entries(body)] == expected
    assert body["total"] == len(expected)


def test_the_annuaire_santes_own_profession_example(api):
    """``GET [base]/Practitioner?qualification-code=<TRE_G15 system>|10&active=true``."""
    query = f"qualification-code={quote(G15 + '|10', safe='')}&active=true&_count=500"
    status, body, _ = api(f"/Practitioner?{query}")
    found = [r["id"] for r in entries(body)]
    doctors = sorted(
        p.national_id for p in demo_professionals() if "10" in p.professions and p.is_active
    )
    assert status == 200 and found == doctors
    assert self_query(body)["qualification-code"] == [f"{G15}|10"]


@pytest.mark.parametrize(
    "query",
    [
        f"qualification-code={R38}|SM54",
        "qualification-code=SM54",
        "qualification-code=80",  # TRE_G15 80 and the savoir-faire 80 (TRE_G13)
        f"qualification-code={R09}|C",
    ],
)
def test_qualifications_other_than_the_profession_need_an_identifier(api, query):
    status, body, _ = api(f"/Practitioner?{query}")
    assert status == 400, body
    assert body["issue"][0]["code"] == "not-supported"


def test_revinclude_of_the_roles_of_each_practitioner(api):
    status, body, _ = api(
        f"/Practitioner?identifier={FAUVEL},{NURSE}&_revinclude=PractitionerRole:practitioner"
    )
    assert status == 200, body
    Bundle.model_validate(body)
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in body["entry"]]
    assert modes == [("Practitioner", "match")] * 2 + [("PractitionerRole", "include")] * 5
    roles = [e["resource"] for e in body["entry"][2:]]
    assert [r["id"] for r in roles] == [f"{FAUVEL}-1-{i}" for i in (1, 2, 3)] + [
        f"{NURSE}-1-{i}" for i in (1, 2)
    ]
    assert roles[0] == api(f"/PractitionerRole/{FAUVEL}-1-1")[1]
    assert body["total"] == 2  # matches only
    assert self_query(body)["_revinclude"] == ["PractitionerRole:practitioner"]


def test_include_of_the_practitioner_of_each_role(api):
    status, body, _ = api("/PractitionerRole?role=40&_include=PractitionerRole:practitioner")
    assert status == 200, body
    Bundle.model_validate(body)
    matched = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "match"]
    included = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"]
    assert {r["practitioner"]["reference"] for r in matched} == {
        "Practitioner/810000000008",
        "Practitioner/810000000012",
    }
    assert [r["id"] for r in included] == ["810000000008", "810000000012"]
    assert included[1] == api("/Practitioner/810000000012")[1]
    assert self_query(body)["_include"] == ["PractitionerRole:practitioner"]


@pytest.mark.parametrize("target", ["", ":Practitioner"])
def test_includes_with_their_target_type(api, target):
    """R4's ``_include=[source]:[parameter]:[target]`` (https://hl7.org/fhir/R4/search.html#include)
    names the target type of the reference: the same include."""
    value = f"PractitionerRole:practitioner{target}"
    status, body, _ = api(f"/Practitioner?identifier={FAUVEL}&_revinclude={value}")
    assert status == 200, body
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in body["entry"]]
    assert modes == [("Practitioner", "match")] + [("PractitionerRole", "include")] * 3
    assert self_query(body)["_revinclude"] == [value]
    status, body, _ = api(f"/PractitionerRole?practitioner={FAUVEL}&_include={value}")
    assert status == 200, body
    included = [e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == "include"]
    assert included == [FAUVEL]


@pytest.mark.parametrize(
    "path",
    [
        "/Practitioner?_include=PractitionerRole:practitioner",
        "/Practitioner?_revinclude=PractitionerRole:organization",
        "/Practitioner?_revinclude=PractitionerRole:*",
        f"/PractitionerRole?practitioner={FAUVEL}&_include=PractitionerRole:organization",
        f"/PractitionerRole?practitioner={FAUVEL}&_include=*",
        f"/PractitionerRole?practitioner={FAUVEL}&_revinclude=PractitionerRole:practitioner",
        f"/PractitionerRole?practitioner={FAUVEL}&_include=PractitionerRole:practitioner:Patient",
        "/Practitioner?_revinclude=PractitionerRole:practitioner:Organization",
        "/Practitioner?_revinclude=PractitionerRole:practitioner:",
    ],
)
def test_includes_not_served_are_refused(api, path):
    """Never silently ignored: the client would take the missing resources for none."""
    status, body, _ = api(path)
    assert status == 400, body
    assert body["issue"][0]["code"] == "not-supported"


def test_capability_statement_lists_what_is_served(client):
    body = client.get("/fhir/v1/metadata").get_json(force=True)
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    practitioner = resources["Practitioner"]
    assert {p["name"] for p in practitioner["searchParam"]} == {
        "_id",
        "identifier",
        "name",
        "family",
        "given",
        "active",
        "qualification-code",
    }
    served = ["PractitionerRole:practitioner", "PractitionerRole:practitioner:Practitioner"]
    assert practitioner["searchRevInclude"] == served
    assert "searchInclude" not in practitioner
    role = resources["PractitionerRole"]
    assert role["searchInclude"] == served
    assert {p["name"] for p in role["searchParam"]} == {"practitioner", "role"}
    chained = next(p for p in role["searchParam"] if p["name"] == "practitioner")
    assert "practitioner.identifier" in chained["documentation"]
    assert "searchRevInclude" not in role


def _demo_roles(profession: str) -> int:
    from santeid.fhir_directory import resources

    return sum(
        1
        for p in demo_professionals()
        for role in resources.practitioner_roles(p)
        if role["code"][0]["coding"][0]["code"] == profession
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("active=true", lambda: sum(p.is_active for p in demo_professionals())),
        (
            "qualification-code=10",
            lambda: sum("10" in p.professions for p in demo_professionals()),
        ),
        (f"identifier={FAUVEL},{NURSE}&family=fauv,bouv", lambda: 2),
        ("family=zzz", lambda: 0),
    ],
)
def test_total_accurate_counts_every_page(api, query, expected):
    """``_total=accurate`` (https://hl7.org/fhir/R4/search.html#total, offered by the Annuaire
    Santé): every match counted, on the first page and the next ones."""
    status, body, _ = api(f"/Practitioner?{query}&_count=1&_total=accurate")
    assert status == 200, body
    assert body["total"] == expected()
    if "next" in links(body):
        following = urlsplit(links(body)["next"]).query
        assert parse_qs(following)["_total"] == ["accurate"]
        assert api(f"/Practitioner?{following}")[1]["total"] == expected()


def test_total_of_roles(api):
    status, body, _ = api("/PractitionerRole?role=10&_count=2&_total=accurate")
    assert status == 200 and "next" in links(body)
    assert body["total"] == _demo_roles("10")
    status, body, _ = api(
        f"/PractitionerRole?practitioner={FAUVEL},{NURSE}&_count=1&_total=accurate"
    )
    assert body["total"] == 5 and len(entries(body)) == 1


def test_total_none_and_estimate(api):
    # Default (and ``estimate``): given when the whole result is on the first page.
    assert api(f"/Practitioner?identifier={FAUVEL}")[1]["total"] == 1
    assert api(f"/Practitioner?identifier={FAUVEL}&_total=estimate")[1]["total"] == 1
    assert "total" not in api("/Practitioner?_count=2")[1]
    assert "total" not in api(f"/Practitioner?identifier={FAUVEL}&_total=none")[1]
    status, body, _ = api("/Practitioner?_total=exact")
    assert status == 400 and body["issue"][0]["code"] == "invalid"


R23 = "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Repeated parameters AND (https://hl7.org/fhir/R4/search.html#combining).
        (f"practitioner={FAUVEL}&role=10&role={R23}|L", [f"{FAUVEL}-1-1"]),
        (f"practitioner={NURSE}&role=10&role={R23}|S", []),
        (
            f"practitioner={FAUVEL},{NURSE}&role=10,60&role={R23}|L",
            [f"{FAUVEL}-1-1", f"{NURSE}-1-1"],
        ),
        # A bare code is any system's: E is the TRE_R09 category "en formation".
        (f"practitioner={FAUVEL},810000000014&role=10&role=E", ["810000000014-1-1"]),
        (f"practitioner={FAUVEL}&role=C", [f"{FAUVEL}-1-{i}" for i in (1, 2, 3)]),
        ("role=10&role=40", []),
        ("role=40&role=10,40", ["810000000008-1-1", "810000000012-2-1"]),
    ],
)
def test_role_repetitions_and_their_alternatives_or(api, query, expected):
    status, body, _ = api(f"/PractitionerRole?{query}")
    assert status == 200, body
    assert [r["id"] for r in entries(body)] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"practitioner={FAUVEL}&practitioner={NURSE}", []),
        (f"practitioner={FAUVEL},{NURSE}&practitioner=Practitioner/{NURSE}", [NURSE]),
    ],
)
def test_repeated_practitioners_and(api, query, expected):
    """A role has one practitioner: two different ones repeated designate no role."""
    status, body, _ = api(f"/PractitionerRole?{query}&_total=accurate")
    assert status == 200, body
    found = entries(body)
    assert {r["practitioner"]["reference"].split("/")[1] for r in found} == set(expected)
    assert body["total"] == len(found) and (found or not expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"practitioner.identifier={FAUVEL}", [f"{FAUVEL}-1-{i}" for i in (1, 2, 3)]),
        (f"practitioner.identifier=http://rpps.fr|{FAUVEL[1:]}&role={R23}|L", [f"{FAUVEL}-1-1"]),
        (
            f"practitioner.identifier={FAUVEL},{NURSE}&practitioner={NURSE}",
            [f"{NURSE}-1-1", f"{NURSE}-1-2"],
        ),
        (f"practitioner.identifier={NURSE}&practitioner={FAUVEL}", []),
        (f"practitioner.identifier={FAUVEL}&practitioner.identifier={NURSE}", []),
        ("practitioner.identifier=urn:other|810000000001", []),
    ],
)
def test_roles_of_the_practitioner_an_identifier_designates(api, query, expected):
    """The chained ``practitioner.identifier`` (https://hl7.org/fhir/R4/search.html#chaining):
    the roles whose practitioner ``identifier`` designates, as ``Practitioner?identifier=``."""
    status, body, _ = api(f"/PractitionerRole?{query}")
    assert status == 200, body
    assert [r["id"] for r in entries(body)] == expected
    assert "practitioner.identifier" in self_query(body)


@pytest.mark.parametrize(
    "path",
    [
        "/PractitionerRole?organization.identifier=410000000001001",
        "/PractitionerRole?location.address-city=PARIS",
        f"/PractitionerRole?practitioner={FAUVEL}&practitioner.name=FAUVEL",
        f"/PractitionerRole?practitioner={FAUVEL}&role.system=x",
        f"/Practitioner?identifier.value={FAUVEL}",
    ],
)
def test_chains_not_served_are_refused(api, path):
    """A chain santeid does not follow is refused (400 ``not-supported``), never ignored: the
    answer would be wider than asked."""
    status, body, _ = api(path)
    assert status == 400, body
    assert body["issue"][0]["code"] == "not-supported"
    assert path.split("?")[1].split("&")[-1].split("=")[0] in body["issue"][0]["diagnostics"]
    assert api("/Practitioner?foo.bar=1")[0] == 200  # not a parameter: unknown, ignored


def test_a_role_other_than_a_profession_over_the_whole_directory_is_refused(api):
    """The Annuaire Santé's ``role=40&role=E`` (dentists in training): the category is not
    indexed, so without ``practitioner`` it is refused rather than dropped."""
    status, body, _ = api("/PractitionerRole?role=40&role=E")
    assert status == 400 and body["issue"][0]["code"] == "not-supported"


RENAMED = "810000000090"


@pytest.fixture
def renamed(app):
    """FAUVEL's copy whose civil-status names (DURAND Alice Rose) are not her exercice names."""
    from santeid.services import services

    fauvel = next(p for p in demo_professionals() if p.national_id == FAUVEL)
    copy = dataclasses.replace(
        fauvel,
        national_id=RENAMED,
        local_id=RENAMED[1:],
        family_name="DURAND",
        given_names=("ALICE", "ROSE"),
        other_ids=(),
    )
    with app.app_context():
        services().directory.upsert(copy)
    return copy


def test_civil_status_names_are_neither_served_nor_searched(renamed, api):
    """The Annuaire Santé publishes exercice names (on PractitionerRole) and the civility:
    the civil-status names of the RASS extract stay out of the API, as searches on them."""
    status, body, response = api(f"/Practitioner/{RENAMED}")
    assert status == 200 and body["name"] == [{"use": "official", "prefix": ["MME"]}]
    roles = api(f"/PractitionerRole?practitioner={RENAMED}")[2]
    for text in (response.get_data(as_text=True), roles.get_data(as_text=True)):
        assert "DURAND" not in text and "ALICE" not in text and "ROSE" not in text
    for query in ("family=durand", "given=alice", "name=durand", "name=alice"):
        assert RENAMED not in [r["id"] for r in entries(api(f"/Practitioner?{query}")[1])], query
    found = [r["id"] for r in entries(api("/Practitioner?family=fauvel&given=helene")[1])]
    assert found == [FAUVEL, RENAMED]


def test_name_matches_the_civility_prefix(renamed, api):
    """Annuaire Santé v1: ``name`` searches "le préfixe correspondant à la civilité"."""
    women = sorted(
        p.national_id for p in [*demo_professionals(), renamed] if p.code_civilite == "MME"
    )
    status, body, _ = api("/Practitioner?name=MME&_count=500")
    assert status == 200
    assert [r["id"] for r in entries(body)] == [n.replace("/", "-") for n in women]
    assert [r["id"] for r in entries(api("/Practitioner?name=mme&family=fauv")[1])] == [
        FAUVEL,
        RENAMED,
    ]
    assert api(f"/Practitioner?identifier={FAUVEL}&name=M")[1]["total"] == 1  # M… prefixes MME
    assert api("/Practitioner?identifier=810000000002&name=MME")[1]["total"] == 0


def _by_mode(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {"match": [], "include": []}
    for entry in bundle.get("entry", []):
        found[entry["search"]["mode"]].append(entry["resource"])
    return found


def test_elements_keep_the_elements_named_with_id_and_meta(api):
    """``_elements`` (https://hl7.org/fhir/R4/search.html#elements) on a read and a search: the
    elements named, ``id``, ``meta`` tagged SUBSETTED; an unknown name adds nothing (as HAPI
    FHIR, the Annuaire Santé's server); the self and next links carry it. Whole resources were
    answered."""
    _, whole, _ = api(f"/Practitioner/{FAUVEL}")
    status, body, _ = api(f"/Practitioner/{FAUVEL}?_elements=identifier,notAnElement")
    assert status == 200, body
    Practitioner.model_validate(body)
    assert set(body) == {"resourceType", "id", "meta", "identifier"}
    assert body["identifier"] == whole["identifier"]
    # HAPI FHIR's display, as the Annuaire Santé writes it.
    display = "Resource encoded in summary mode"
    assert body["meta"]["tag"] == [
        {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED", "display": display}
    ]
    status, body, _ = api(f"/Practitioner?identifier={FAUVEL}&_elements=name&_elements=active")
    (match,) = entries(body)
    assert set(match) == {"resourceType", "id", "meta", "name", "active"} and is_subsetted(match)
    assert self_query(body)["_elements"] == ["name", "active"]
    status, body, _ = api("/Practitioner?name=m&_count=1&_elements=identifier")
    assert set(entries(body)[0]) == {"resourceType", "id", "meta", "identifier"}
    assert parse_qs(urlsplit(links(body)["next"]).query)["_elements"] == ["identifier"]
    # Blank: no subsetting, nothing in self.
    status, body, _ = api(f"/Practitioner?identifier={FAUVEL}&_elements=,")
    assert entries(body) == [whole] and "_elements" not in self_query(body)


def test_elements_leave_included_resources_whole_unless_their_type_is_named(api):
    """R4: "the list of elements does not apply to included resources"; a name after a type
    (``PractitionerRole.code``) applies to that type's resources, included ones too, as HAPI
    FHIR reads it."""
    include = "_revinclude=PractitionerRole:practitioner"
    _, whole, _ = api(f"/Practitioner?identifier={FAUVEL}&{include}")
    status, body, _ = api(f"/Practitioner?identifier={FAUVEL}&{include}&_elements=identifier")
    Bundle.model_validate(body)
    found, expected = _by_mode(body), _by_mode(whole)
    assert [set(p) for p in found["match"]] == [{"resourceType", "id", "meta", "identifier"}]
    assert found["include"] == expected["include"] and len(found["include"]) == 3
    status, body, _ = api(
        f"/Practitioner?identifier={FAUVEL}&{include}&_elements=PractitionerRole.code"
    )
    found = _by_mode(body)
    assert found["match"] == expected["match"]
    assert [set(r) for r in found["include"]] == [{"resourceType", "id", "meta", "code"}] * 3
    assert [r["code"] for r in found["include"]] == [r["code"] for r in expected["include"]]
    status, body, _ = api(
        f"/PractitionerRole?practitioner={FAUVEL}&_include=PractitionerRole:practitioner"
        "&_elements=practitioner,Practitioner.active"
    )
    found = _by_mode(body)
    assert [set(r) for r in found["match"]] == [{"resourceType", "id", "meta", "practitioner"}] * 3
    assert [set(p) for p in found["include"]] == [{"resourceType", "id", "meta", "active"}]
    for resource in found["match"] + found["include"]:
        assert is_subsetted(resource)
        (PractitionerRole if resource["resourceType"] == "PractitionerRole" else Practitioner
         ).model_validate(resource)  # fmt: skip


@pytest.mark.parametrize("path", ["/Practitioner", "/PractitionerRole"])
def test_summary_true_keeps_the_summary_elements(api, path):
    """``_summary=true`` (https://hl7.org/fhir/R4/search.html#summary): the elements R4 marks
    isSummary, at every depth (fhir.resources' flags, not santeid's table), in every resource
    of the answer, included ones too (as HAPI FHIR encodes them); each tagged SUBSETTED."""
    query = (
        f"identifier={FAUVEL}&_revinclude=PractitionerRole:practitioner"
        if path == "/Practitioner"
        else f"practitioner={FAUVEL}&_include=PractitionerRole:practitioner"
    )
    _, whole, _ = api(f"{path}?{query}")
    status, body, _ = api(f"{path}?{query}&_summary=true")
    assert status == 200, body
    wanted = [summary_of(e["resource"], e["resource"]["resourceType"]) for e in whole["entry"]]
    got = [e["resource"] for e in body["entry"]]
    assert all(is_subsetted(r) for r in got)
    assert [without_subsetted_tag(r) for r in got] == wanted
    assert not any("qualification" in r or "extension" in r for r in got)
    assert self_query(body)["_summary"] == ["true"]
    Bundle.model_validate(body)
    status, read, _ = api(f"/Practitioner/{FAUVEL}?_summary=TRUE")
    assert without_subsetted_tag(read) == summary_of(whole_read(api), "Practitioner")


def whole_read(api) -> dict:
    return api(f"/Practitioner/{FAUVEL}")[2].get_json()


@pytest.mark.parametrize(
    ("summary", "keys", "tagged"),
    [
        ("text", {"resourceType", "id", "meta"}, True),  # no narrative, no mandatory element
        ("data", None, True),  # no narrative to remove: the whole resource, tagged
        ("false", None, False),
    ],
)
def test_summary_text_data_and_false(api, summary, keys, tagged):
    whole = whole_read(api)
    status, body, _ = api(f"/Practitioner/{FAUVEL}?_summary={summary}")
    assert status == 200 and is_subsetted(body) is tagged
    assert set(body) == (keys or set(whole) | ({"meta"} if tagged else set()))
    if keys is None:
        assert without_subsetted_tag(body) == whole
    status, search, _ = api(f"/PractitionerRole?practitioner={FAUVEL}&_summary={summary}")
    assert all(is_subsetted(r) is tagged for r in entries(search))
    assert self_query(search)["_summary"] == [summary]


@pytest.mark.parametrize(
    ("path", "diagnostics"),
    [
        (f"/Practitioner?identifier={FAUVEL}&_summary=maybe", "_summary must be one of"),
        (f"/Practitioner/{FAUVEL}?_summary=maybe", "_summary must be one of"),
        (f"/Practitioner?identifier={FAUVEL}&_summary=text&_summary=true", "_summary=text"),
        (f"/Practitioner?identifier={FAUVEL}&_summary=true&_elements=name", "Cannot combine"),
        (f"/PractitionerRole?practitioner={FAUVEL}&_summary=data&_elements=code", "Cannot combine"),
        (f"/Practitioner/{FAUVEL}?_summary=count", "searches only"),
    ],
)
def test_a_wrong_summary_is_a_400(api, path, diagnostics):
    """A ``_summary`` value R4 does not define, ``text`` with another value, ``_summary`` (but
    ``false``) with ``_elements`` (HAPI FHIR's "Cannot combine the _summary and _elements
    parameters"), ``count`` on a read: 400 ``invalid``, never the whole resource."""
    status, body, _ = api(path)
    assert status == 400, body
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == "invalid"
    assert diagnostics in body["issue"][0]["diagnostics"]


def test_summary_and_elements_are_known_to_strict_handling(api):
    status, body, _ = api(
        f"/Practitioner?identifier={FAUVEL}&_summary=false&_elements=active",
        Prefer="handling=strict",
    )
    assert status == 200, body
    assert [set(r) for r in entries(body)] == [{"resourceType", "id", "meta", "active"}]


@pytest.mark.parametrize(
    "query",
    [
        f"/Practitioner?identifier={FAUVEL}&_revinclude=PractitionerRole:practitioner&_count=0",
        f"/PractitionerRole?practitioner={FAUVEL}&_include=PractitionerRole:practitioner"
        "&_summary=count&_total=none",
        f"/Practitioner?identifier={FAUVEL}&_count=0&_cursor=810000000000&_elements=name",
    ],
)
def test_the_self_link_of_a_count_alone_lists_what_it_applied(api, query):
    """The count alone (https://hl7.org/fhir/R4/search.html#count) includes nothing, pages
    nothing, subsets nothing and always counts: its self link (R4 #selfidentify) names none of
    ``_include``, ``_revinclude``, ``_cursor``, ``_total``, ``_elements`` — ``_include`` was
    kept."""
    status, body, _ = api(query)
    assert status == 200, body
    assert body["total"] == (3 if query.startswith("/PractitionerRole") else 1)
    assert "entry" not in body
    applied = set(self_query(body))
    assert applied & {"_include", "_revinclude", "_cursor", "_total", "_elements"} == set()
    assert applied & {"identifier", "practitioner"} and applied & {"_count", "_summary"}


@pytest.mark.parametrize(
    ("reference", "roles"),
    [
        (f"http://localhost/fhir/v1/Practitioner/{FAUVEL}", 3),  # this server's base
        (f"HTTP://LOCALHOST/fhir/v1/Practitioner/{FAUVEL}", 3),  # scheme and host: any case
        (f"https://other.example/fhir/v1/Practitioner/{FAUVEL}", 0),
        (f"http://localhost/elsewhere/Practitioner/{FAUVEL}", 0),
        (f"http://localhost/fhir/v1/Practitioner/{FAUVEL}/_history/1", 0),
        (f"urn:uuid:{FAUVEL}", 0),
        # Not a URL (a bracket left open, a host in brackets that is no IPv6 address): no
        # server's, so no match — not a 500.
        (f"http://[::1/fhir/v1/Practitioner/{FAUVEL}", 0),
        (f"http://[localhost]/fhir/v1/Practitioner/{FAUVEL}", 0),
    ],
)
def test_a_reference_by_url_matches_this_servers_practitioners_only(api, reference, roles):
    """``practitioner=[url]`` (https://hl7.org/fhir/R4/search.html#reference) designates the
    resource at that URL: another server's practitioner is not this one's, even with the same
    id — any URL ending ``Practitioner/<id>`` matched."""
    status, body, _ = api(f"/PractitionerRole?practitioner={quote(reference, safe='')}")
    assert status == 200, body
    assert len(entries(body)) == roles

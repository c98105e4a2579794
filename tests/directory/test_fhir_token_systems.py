"""How the FHIR directory API matches a token's system, the same for ``identifier``,
``qualification-code``, ``role`` and ``active`` (docs/directory.md, "Token systems";
https://hl7.org/fhir/R4/search.html#token): a bare value is any system's, ``system|value``
that system's, ``|value`` a value without a system — none in the directory — and a system
nothing is written in matches nothing: 200 and an empty Bundle, never an error; ``system|``
is any value of that system, and ``active``'s repetitions AND, its commas OR. Asked of a
running ``santeid serve`` with its demo directory."""

from __future__ import annotations

import pytest
import requests

from santeid.directory import nomenclatures
from santeid.directory.demo import demo_professionals
from santeid.directory.search import SYSTEM_IDNPS

FAUVEL = "810000000001"  # demo: médecin, three activities (two in liberal mode)
PROFESSION = nomenclatures.fhir_system("TRE_G15-ProfessionSante")
MODE = nomenclatures.fhir_system("TRE_R23-ModeExercice")
UNKNOWN = "urn:example:no-such-system"


@pytest.fixture(scope="module")
def search(directory_server, directory_token):
    def get(path: str, **params: str | list[str]) -> tuple[int, dict]:
        answer = requests.get(
            f"{directory_server.base}/fhir/v1/{path}",
            params={**params, "_total": "accurate"},
            headers={"Authorization": f"Bearer {directory_token}"},
            timeout=30,
        )
        return answer.status_code, answer.json()

    return get


#: (resource, parameters, whether anything matches) — for each parameter, its system given,
#: bare, unknown, absent (``|value``), and an unknown system among alternatives.
CASES = [
    ("Practitioner", {"identifier": f"{SYSTEM_IDNPS}|{FAUVEL}"}, True),
    ("Practitioner", {"identifier": FAUVEL}, True),
    ("Practitioner", {"identifier": f"{UNKNOWN}|{FAUVEL}"}, False),
    ("Practitioner", {"identifier": f"|{FAUVEL}"}, False),
    ("Practitioner", {"identifier": f"{UNKNOWN}|{FAUVEL},{SYSTEM_IDNPS}|{FAUVEL}"}, True),
    ("Practitioner", {"qualification-code": f"{PROFESSION}|10"}, True),
    ("Practitioner", {"qualification-code": "10"}, True),
    ("Practitioner", {"qualification-code": f"{UNKNOWN}|10"}, False),
    ("Practitioner", {"qualification-code": "|10"}, False),
    ("Practitioner", {"qualification-code": f"{UNKNOWN}|10,{PROFESSION}|10"}, True),
    ("PractitionerRole", {"role": f"{PROFESSION}|10"}, True),
    ("PractitionerRole", {"role": "10"}, True),
    ("PractitionerRole", {"role": f"{UNKNOWN}|10"}, False),
    ("PractitionerRole", {"role": "|10"}, False),
    ("PractitionerRole", {"role": f"{UNKNOWN}|10,{PROFESSION}|10"}, True),
    ("PractitionerRole", {"practitioner": FAUVEL, "role": f"{MODE}|L"}, True),
    ("PractitionerRole", {"practitioner": FAUVEL, "role": f"{UNKNOWN}|L"}, False),
    ("PractitionerRole", {"practitioner": FAUVEL, "role": "|L"}, False),
    # A boolean is written without a system: bare or ``|true``, never another system's.
    ("Practitioner", {"active": "true"}, True),
    ("Practitioner", {"active": "|true"}, True),
    ("Practitioner", {"active": f"{UNKNOWN}|true"}, False),
    ("Practitioner", {"active": f"{UNKNOWN}|false"}, False),
    ("Practitioner", {"identifier": FAUVEL, "active": f"{UNKNOWN}|true"}, False),
]


@pytest.mark.parametrize(
    ("resource", "params", "found"),
    CASES,
    ids=[f"{resource}?{'&'.join(f'{k}={v}' for k, v in p.items())}" for resource, p, _ in CASES],
)
def test_a_token_s_system_is_matched_alike_by_every_parameter(search, resource, params, found):
    status, bundle = search(resource, **params)
    assert status == 200, bundle
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    matches = [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    assert bool(matches) is found
    assert (bundle["total"] > 0) is found
    assert all(e["resource"]["resourceType"] == resource for e in matches)


def test_a_code_written_but_not_indexed_is_still_refused(search):
    """What santeid cannot search the way it is asked stays a 400: a role code of another list
    than the profession's, over the whole directory (docs/directory.md, "role")."""
    status, outcome = search("PractitionerRole", role=f"{MODE}|L")
    assert status == 400
    assert outcome["issue"][0]["code"] == "not-supported"


def test_active_without_a_system_is_every_active_practitioner_and_another_system_none(search):
    """``active`` is a token whose value (a boolean) has no system: ``|true`` is ``true``, all
    the active practitioners; ``urn:x|true`` matches nothing (``total`` 0)."""
    _, bare = search("Practitioner", active="true")
    _, without_system = search("Practitioner", active="|true")
    assert bare["total"] > 1 and without_system["total"] == bare["total"]
    status, other = search("Practitioner", active="urn:x|true")
    assert status == 200 and other["total"] == 0 and "entry" not in other
    status, outcome = search("Practitioner", active="urn:x|maybe")
    assert status == 400 and outcome["issue"][0]["code"] == "invalid"


def _demo(predicate) -> list[str]:
    """Resource ids of the demo people ``predicate`` holds for, in national-id order."""
    from santeid.fhir_directory import resources

    people = sorted(demo_professionals(), key=lambda p: p.national_id)
    return [resources.resource_id(p.national_id) for p in people if predicate(p)]


SPECIALTY = nomenclatures.fhir_system("TRE_R38-SpecialiteOrdinale")
RPPS, ADELI = "http://rpps.fr", "http://adeli.fr"
NURSE = "810000000003"

#: (resource, parameters, the ids expected): ``system|`` is any code of that system
#: (https://hl7.org/fhir/R4/search.html#token), repetitions AND, alternatives OR.
SYSTEM_ONLY = [
    ("Practitioner", {"identifier": f"{RPPS}|"}, lambda: _demo(lambda p: p.id_type == "8")),
    ("Practitioner", {"identifier": f"{ADELI}|"}, lambda: _demo(lambda p: p.id_type == "0")),
    ("Practitioner", {"identifier": f"{SYSTEM_IDNPS}|"}, lambda: _demo(lambda p: True)),
    ("Practitioner", {"identifier": f"{UNKNOWN}|"}, list),
    (
        "Practitioner",
        {"identifier": f"{ADELI}|,{FAUVEL}"},
        lambda: _demo(lambda p: p.id_type == "0" or p.national_id == FAUVEL),
    ),
    ("Practitioner", {"identifier": [f"{RPPS}|", f"{ADELI}|"]}, list),
    ("Practitioner", {"identifier": [f"{RPPS}|", FAUVEL]}, lambda: [FAUVEL]),
    ("Practitioner", {"identifier": f"{RPPS}|", "family": "fauvel"}, lambda: [FAUVEL]),
    ("Practitioner", {"identifier": f"{RPPS}|", "active": "false"}, lambda: ["810000000024"]),
    (
        "Practitioner",
        {"qualification-code": f"{PROFESSION}|"},
        lambda: _demo(lambda p: bool(p.professions)),
    ),
    (
        "Practitioner",
        {"qualification-code": [f"{PROFESSION}|", "60"]},
        lambda: _demo(lambda p: "60" in p.professions),
    ),
    (
        "Practitioner",
        {"qualification-code": f"{PROFESSION}|", "identifier": f"{SYSTEM_IDNPS}|"},
        lambda: _demo(lambda p: bool(p.professions)),
    ),
    (
        "Practitioner",
        {"qualification-code": f"{SPECIALTY}|", "identifier": f"{FAUVEL},{NURSE}"},
        lambda: [FAUVEL],
    ),
    (
        "Practitioner",
        {"qualification-code": f"{PROFESSION}|", "identifier": f"{FAUVEL},{NURSE}"},
        lambda: [FAUVEL, NURSE],
    ),
    ("Practitioner", {"active": ["true", "false"]}, list),
    ("Practitioner", {"active": "true,false"}, lambda: _demo(lambda p: True)),
    ("Practitioner", {"active": f"false,{UNKNOWN}|true"}, lambda: ["810000000024"]),
    ("Practitioner", {"active": f"{UNKNOWN}|"}, list),
    ("Practitioner", {"active": ["true,false", "false"]}, lambda: ["810000000024"]),
    ("PractitionerRole", {"practitioner": FAUVEL, "role": f"{MODE}|"}, lambda: [FAUVEL] * 3),
    ("PractitionerRole", {"practitioner": FAUVEL, "role": f"{UNKNOWN}|"}, list),
    (
        "PractitionerRole",
        {"role": f"{PROFESSION}|"},
        lambda: [i for i in _demo(lambda p: True) for _ in range(_roles(i))],
    ),
]


def _roles(resource_id: str) -> int:
    from santeid.fhir_directory import resources

    person = next(
        p for p in demo_professionals() if resources.resource_id(p.national_id) == resource_id
    )
    return len(resources.practitioner_roles(person))


@pytest.mark.parametrize(
    ("resource", "params", "expected"),
    SYSTEM_ONLY,
    ids=[
        f"{resource}?{'&'.join(f'{k}={v}' for k, v in p.items())}" for resource, p, _ in SYSTEM_ONLY
    ],
)
def test_a_system_alone_is_any_code_of_it_and_booleans_combine(search, resource, params, expected):
    status, bundle = search(resource, _count="500", **params)
    assert status == 200, bundle
    matches = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    if resource == "PractitionerRole":
        found = [r["practitioner"]["reference"].split("/")[1] for r in matches]
    else:
        found = [r["id"] for r in matches]
    assert found == expected()
    assert bundle["total"] == len(found)


@pytest.mark.parametrize(
    ("resource", "params"),
    [
        ("Practitioner", {"qualification-code": f"{SPECIALTY}|"}),
        ("PractitionerRole", {"role": f"{MODE}|"}),
        ("PractitionerRole", {"practitioner.identifier": f"{RPPS}|"}),
    ],
)
def test_a_system_alone_that_is_not_indexed_is_refused(search, resource, params):
    status, outcome = search(resource, **params)
    assert status == 400 and outcome["issue"][0]["code"] == "not-supported"


@pytest.mark.parametrize("value", ["|", ",", "maybe", "urn:x|maybe", "true,maybe"])
def test_active_is_a_boolean(search, value):
    status, outcome = search("Practitioner", active=value)
    assert status == 400 and outcome["issue"][0]["code"] == "invalid"

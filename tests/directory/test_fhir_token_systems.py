"""How the FHIR directory API matches a token's system, the same for ``identifier``,
``qualification-code``, ``role`` and ``active`` (docs/directory.md, "Token systems";
https://hl7.org/fhir/R4/search.html#token): a bare value is any system's, ``system|value``
that system's, ``|value`` a value without a system — none in the directory — and a system
nothing is written in matches nothing: 200 and an empty Bundle, never an error. Asked of a
running ``santeid serve`` with its demo directory."""

from __future__ import annotations

import pytest
import requests

from santeid.directory import nomenclatures
from santeid.directory.search import SYSTEM_IDNPS

FAUVEL = "810000000001"  # demo: médecin, three activities (two in liberal mode)
PROFESSION = nomenclatures.fhir_system("TRE_G15-ProfessionSante")
MODE = nomenclatures.fhir_system("TRE_R23-ModeExercice")
UNKNOWN = "urn:example:no-such-system"


@pytest.fixture(scope="module")
def search(directory_server, directory_token):
    def get(path: str, **params: str) -> tuple[int, dict]:
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

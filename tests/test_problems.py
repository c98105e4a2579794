"""The one problem catalogue: every ``type`` santeid answers with resolves to a description."""

from __future__ import annotations

import pytest

from santeid import problems
from santeid.ecps.problems import CATALOGUE as ECPS_CATALOGUE
from santeid.insi.problems import PROBLEM_TYPES as INSI_PROBLEM_TYPES


def test_each_family_is_a_part_of_the_one_catalogue():
    sandbox = problems.family("sandbox")
    assert set(ECPS_CATALOGUE) | set(INSI_PROBLEM_TYPES) | set(sandbox) == set(problems.CATALOGUE)
    assert not set(sandbox) & (set(ECPS_CATALOGUE) | set(INSI_PROBLEM_TYPES))
    assert not set(ECPS_CATALOGUE) & set(INSI_PROBLEM_TYPES)


@pytest.mark.parametrize("code", sorted(problems.CATALOGUE))
def test_every_type_resolves_to_json(client, code):
    kind = problems.CATALOGUE[code]
    answer = client.get(f"/problems/{code}")
    assert (answer.status_code, answer.mimetype) == (200, "application/json")
    assert answer.get_json() == {
        "type": f"http://localhost/problems/{code}",
        "code": code,
        "title": kind.title,
        "status": kind.status,
        "description": kind.description,
        "api": kind.family,
    }


def test_a_browser_gets_a_page_and_the_index_lists_every_type(client):
    page = client.get("/problems/wrong_pin", headers={"Accept": "text/html"})
    assert (page.status_code, page.mimetype) == (200, "text/html")
    assert "Wrong PIN" in page.get_data(as_text=True)
    listing = client.get("/problems/").get_json()
    assert [entry["code"] for entry in listing] == list(problems.CATALOGUE)
    html = client.get("/problems/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert html.mimetype == "text/html"
    assert all(f'id="{code}"' in html.get_data(as_text=True) for code in problems.CATALOGUE)


def test_an_unknown_type_is_a_problem_not_a_page(client):
    answer = client.get("/problems/<script>")
    assert (answer.status_code, answer.mimetype) == (404, "application/problem+json")

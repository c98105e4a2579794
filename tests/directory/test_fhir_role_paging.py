"""Paging PractitionerRole searches over a directory whose national ids look like role ids:
structure staff (types 3 and 5) carry an identifier of their establishment's own making after
the ``/`` (docs/directory.md), ``-`` included. A ``next`` link names the last role or the last
practitioner shown; following the links must give every role once, whatever the ids."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from santeid.directory import synthetic
from santeid.directory.extract_writer import write_extract
from tests.directory.conftest import DIRECTORY_READER
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

#: A structure staff member whose identifier ends like a role's ranks (``-1-2``).
STAFF = "3123456789/X-1-2"


def _staff(person, national_id: str):
    return dataclasses.replace(
        person, national_id=national_id, id_type=national_id[0], local_id=national_id[1:],
        other_ids=(), exercices=person.exercices[:1],
    )  # fmt: skip


def test_pages_end_after_a_staff_member_whose_id_looks_like_a_role(tmp_path):
    people = list(synthetic.professionals(2, 7))
    staff = _staff(people[0], STAFF)
    after = _staff(people[1], "3123456789/Y")
    staff = dataclasses.replace(
        staff, exercices=(dataclasses.replace(staff.exercices[0], activities=()),)
    )
    extract = write_extract(tmp_path / "extract.txt", [staff, after])
    with santeid_process(tmp_path / "home", clients=[DIRECTORY_READER]) as server:
        server.cli("directory", "import", "--no-progress", str(extract))
        token = requests.post(
            f"{server.oidc}/token",
            data={"grant_type": "client_credentials"},
            auth=(DIRECTORY_READER["client_id"], DIRECTORY_READER["client_secret"]),
            timeout=30,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{server.base}/fhir/v1/PractitionerRole"
        params: dict | None = {
            "practitioner": "3123456789-X-1-2,3123456789-Y",
            "_count": "1",
        }
        everything = requests.get(
            url, params={**params, "_count": "50"}, headers=headers, timeout=30
        ).json()
        expected = [e["resource"]["id"] for e in everything["entry"]]
        assert len(expected) > 1
        seen: list[str] = []
        following: str | None = url
        # Bounded: a cursor leading back to a page already seen would loop for ever.
        for _ in range(len(expected) + 2):
            if following is None:
                break
            page = requests.get(following, params=params, headers=headers, timeout=30)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [e["resource"]["id"] for e in body.get("entry", [])]
            links = {link["relation"]: link["url"] for link in body["link"]}
            following, params = links.get("next"), None
        assert seen == expected

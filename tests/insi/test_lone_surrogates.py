"""A lone surrogate (JSON ``"\\ud800"``, RFC 8259 §8.2) in a request is refused like any other
bad input: the proper 400 (or SOAP fault), never a 500, and the call is audited."""

from __future__ import annotations

import json

import pytest

from tests.insi import test_fast_path
from tests.support import soap as support
from tests.support.soap import envelope
from tests.support.soap import fault_parts
from tests.support.soap import post
from tests.support.soap import traits_body

pair = test_fast_path.pair

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

LONE = "\ud800"
TRAITS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
          "birthDate": "1997-02-26", "birthplace": "2A020"}  # fmt: skip
BODIES = {
    "/insi/v1/ins/search-by-traits": TRAITS,
    "/insi/v1/ins/verify": {"matricule": "297022A020778", "key": "78", **TRAITS},
    "/insi/v1/ins/search-by-vitale": {"odMatricule": "297022A020778",
                                      "individualMatricule": "297022A020778",
                                      "birthName": "ADRTROIS", "birthDate": "1997-02-26"},
}  # fmt: skip


def _variants():
    for path, body in BODIES.items():
        for member, value in body.items():
            yield path, member, {**body, member: [LONE] if isinstance(value, list) else LONE}


def _audited(client) -> int:
    return len(client.application.extensions["santeid"].insi.audit.rows(limit=10_000))


@pytest.mark.parametrize(("path", "member", "body"), list(_variants()))
def test_a_lone_surrogate_in_a_member_is_a_400_and_audited(pair, path, member, body):
    fast, slow, bearer = pair
    data = json.dumps(body)  # ensure_ascii: the surrogate travels as the escape \ud800
    assert "\\ud800" in data
    for client in (fast, slow):
        before = _audited(client)
        response = client.post(path, data=data, content_type="application/json", headers=bearer)
        assert response.status_code == 400, response.data
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["code"] in ("santeid_invalid_trait", "santeid_invalid_request")
        assert problem["field"] == member
        assert _audited(client) == before + 1


def test_a_lone_surrogate_as_a_member_name_is_a_400(pair):
    fast, slow, bearer = pair
    data = json.dumps({**TRAITS, LONE: 1})
    for client in (fast, slow):
        response = client.post(
            "/insi/v1/ins/search-by-traits", data=data, content_type="application/json",
            headers=bearer,
        )  # fmt: skip
        assert response.status_code == 400, response.data
        problem = response.get_json()
        assert (problem["rule"], problem["field"]) == ("unknown-member", "\\ud800")


def test_fhir_cannot_receive_a_lone_surrogate(client, bearer):
    # Percent-encoded CESU-8 of U+D800 is not UTF-8: decoded as U+FFFD, refused as a trait.
    query = "family=%ED%A0%80&given=A&gender=female&birthdate=1997-02-26"
    response = client.get(f"/insi/fhir/Patient?{query}", headers=bearer)
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "santeid_invalid_trait"


@pytest.mark.parametrize("text", [b"&#xD800;", b"\xed\xa0\x80"])
def test_soap_lone_surrogate_is_malformed_xml(soap_app, auto_cert, text):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    data = data.replace(b">ADRTROIS<", b">" + text + b"<")
    response = post(soap_app.test_client(), data, certificate=auto_cert)
    assert response.status_code == 500
    assert fault_parts(response.data)["erreur_code"] == "santeid_xml_malformed"

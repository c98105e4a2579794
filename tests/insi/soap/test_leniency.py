"""SOAP requests the real service's schemas accept are accepted (docs/reference/
insi-teleservice.md §3, §4): the request XSDs restrict nothing beyond ``xs:string``, and the
INSi rules decide after parsing — refusing with santeid's one code for trait errors
(``santeid_invalid_trait``, the real codes not being public) and naming the element."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.support import soap as support
from tests.support.soap import NS
from tests.support.soap import RECSANS
from tests.support.soap import RECVIT
from tests.support.soap import VERIFY
from tests.support.soap import VITALE
from tests.support.soap import envelope
from tests.support.soap import fault_parts
from tests.support.soap import parse
from tests.support.soap import post
from tests.support.soap import traits_body
from tests.support.soap import verify_body
from tests.support.soap import vitale_body

soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

NIR_OID = "1.2.250.1.213.1.4.8"
NIA_OID = "1.2.250.1.213.1.4.9"


@pytest.fixture
def client(soap_app):
    return soap_app.test_client()


def answer(client, certificate, body, action=support.TRAITS, data: bytes | None = None):
    response = post(client, data or envelope(body, action), action, certificate=certificate)
    return response.status_code, parse(response.data)


def code_cr(root) -> str | None:
    return root.findtext(".//res:CodeCR", namespaces=NS)


def refused_naming(client, certificate, body, element, action=support.TRAITS):
    response = post(client, envelope(body, action), action, certificate=certificate)
    assert response.status_code == 500
    parts = fault_parts(response.data)
    assert parts["erreur_code"] == "santeid_invalid_trait", parts
    assert parts["text"].startswith(f"{element} : "), parts["text"]


@pytest.fixture
def beneficiary(base_db):
    row = base_db.execute(
        "SELECT od.matricule AS od, printf('%02d', od.cle) AS od_key, b.birth_name, "
        "b.birth_date, b.rang FROM persons b JOIN persons od ON b.od_id = od.id "
        "WHERE b.id > 100 ORDER BY b.id LIMIT 1"
    ).fetchone()
    return row


def test_empty_lieu_naissance_is_not_given(client, auto_cert):
    body = traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26", "")
    assert body.find(f"{{{RECSANS}}}LieuNaissance") is not None
    status, root = answer(client, auto_cert, body)
    assert (status, code_cr(root)) == (200, "00")


def test_fifteen_character_matricule_od_is_accepted(client, auto_cert, beneficiary):
    body = vitale_body(
        (beneficiary["od"] + beneficiary["od_key"], ""), beneficiary["birth_name"],
        beneficiary["birth_date"], beneficiary["rang"],
    )  # fmt: skip
    cle = body.find(f"{{{RECVIT}}}MatriculeOD/{{{RECVIT}}}Cle")
    cle.getparent().remove(cle)
    status, root = answer(client, auto_cert, body, VITALE)
    assert (status, code_cr(root)) == (200, "00")


def test_rang_naissance_is_a_string_read_as_a_number(client, auto_cert, beneficiary):
    body = vitale_body(
        (beneficiary["od"], beneficiary["od_key"]), beneficiary["birth_name"],
        beneficiary["birth_date"], rank=None,
    )  # fmt: skip
    etree.SubElement(body, f"{{{RECVIT}}}RangNaissance").text = f" {beneficiary['rang']} "
    status, root = answer(client, auto_cert, body, VITALE)
    assert (status, code_cr(root)) == (200, "00")


@pytest.mark.parametrize(
    "rank", ["A", "1.5", "-1", "0", "10", "²", "١", "9" * 5000, "1" + "0" * 18]
)
def test_rang_naissance_that_is_no_rank_is_refused_naming_it(client, auto_cert, beneficiary, rank):
    body = vitale_body(
        (beneficiary["od"], beneficiary["od_key"]), beneficiary["birth_name"],
        beneficiary["birth_date"], rank=None,
    )  # fmt: skip
    etree.SubElement(body, f"{{{RECVIT}}}RangNaissance").text = rank
    refused_naming(client, auto_cert, body, "RangNaissance", VITALE)


def test_matricule_of_another_length_is_refused_by_the_rules_not_the_schema(client, auto_cert):
    body = verify_body(
        "29702A020778", "78", NomNaissance="ADRTROIS", ListePrenom="DOMINIQUE", Sexe="F",
        DateNaissance="1997-02-26", LieuNaissance="2A020",
    )  # fmt: skip
    refused_naming(client, auto_cert, body, "NumIdentifiant", VERIFY)


def test_context_bam_without_insured_number_is_accepted(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    assert b"<ctxbam:COUVERTURE/>" in data
    data = data.replace(
        b"<ctxbam:COUVERTURE/>",
        b"<ctxbam:COUVERTURE><ctxbam:ASSURE><ctxbam:Id><ctxbam:Cle>12</ctxbam:Cle></ctxbam:Id>"
        b"</ctxbam:ASSURE></ctxbam:COUVERTURE>",
    )
    status, root = answer(client, auto_cert, None, data=data)
    assert (status, code_cr(root)) == (200, "00")


def _verify_provisoire(client, certificate, oid: str):
    body = verify_body(
        "1090763220888", "35", NomNaissance="PROVISOIRE", ListePrenom="MATRICULE", Sexe="M",
        DateNaissance="2009-07-01", LieuNaissance="63220",
    )  # fmt: skip
    body.find(".//{*}OID").text = oid
    status, root = answer(client, certificate, body, VERIFY)
    assert status == 200
    return root.find(".//rep:IndividuVerifie", NS)


def test_verification_of_a_nia_with_the_nir_oid_is_not_conform(client, auto_cert):
    individu = _verify_provisoire(client, auto_cert, NIR_OID)
    assert individu.findtext("rep:Conforme", namespaces=NS) == "false"
    # The INS is echoed as supplied, with the OID supplied.
    assert individu.findtext("rep:INSFourni/rep:OID", namespaces=NS) == NIR_OID
    assert [e.text for e in individu.findall("rep:ElementNonConforme", NS)] == ["INSFourni"]


def test_verification_of_a_nia_with_its_oid_is_conform(client, auto_cert):
    individu = _verify_provisoire(client, auto_cert, NIA_OID)
    assert individu.findtext("rep:Conforme", namespaces=NS) == "true"
    assert individu.findtext("rep:INSFourni/rep:OID", namespaces=NS) == NIA_OID


# A comment or a processing instruction inside a value is no part of it (XML 1.0 §2.5, §2.6):
# the schema validates the character data around it joined, and the value read must be that one.
def test_comment_inside_a_birth_name_is_no_part_of_it(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    split = data.replace(b">ADRTROIS<", b">ADR<!-- compte rendu -->TR<?client v2?>OIS<")
    assert split != data
    status, root = answer(client, auto_cert, None, data=split)
    assert (status, code_cr(root)) == (200, "00")


def test_verification_compares_the_whole_value_around_a_comment(client, auto_cert):
    body = verify_body(
        "297022A020778", "78", NomNaissance="ADRTROIS", ListePrenom="DOMINIQUE", Sexe="F",
        DateNaissance="1997-02-26", LieuNaissance="2A020",
    )  # fmt: skip
    data = envelope(body, VERIFY).replace(b">ADRTROIS<", b">ADRTROIS<!-- -->XYZ<")
    status, root = answer(client, auto_cert, None, VERIFY, data=data)
    assert status == 200
    individu = root.find(".//rep:IndividuVerifie", NS)
    assert individu.findtext("rep:Conforme", namespaces=NS) == "false"
    assert [e.text for e in individu.findall("rep:ElementNonConforme", NS)] == ["NomNaissance"]


def test_comment_inside_the_software_number_is_no_part_of_it(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    idam = support.IDAM.encode()
    split = data.replace(b">" + idam + b"<", b">" + idam[:4] + b"<!-- -->" + idam[4:] + b"<")
    assert split != data
    status, root = answer(client, auto_cert, None, data=split)
    assert (status, code_cr(root)) == (200, "00")

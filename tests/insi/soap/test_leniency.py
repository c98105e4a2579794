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


def test_empty_prenom_is_not_given(client, auto_cert):
    # As REST's and FHIR's empty given names: one empty Prenom beside the others changes nothing
    # (it was joined to them and refused as "the last character cannot be ' '", a space nobody
    # sent).
    for given in (["DOMINIQUE", ""], ["", "DOMINIQUE"]):
        body = traits_body("ADRTROIS", given, "F", "1997-02-26")
        status, root = answer(client, auto_cert, body)
        assert (status, code_cr(root)) == (200, "00"), given


def test_only_empty_prenom_is_no_given_name(client, auto_cert):
    refused_naming(client, auto_cert, traits_body("ADRTROIS", [""], "F", "1997-02-26"), "Prenom")


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


# -- character encodings: the media type's charset is authoritative (RFC 7303 §3.2, which RFC
# 3902 applies to application/soap+xml); a byte order mark wins over it; without either, the
# XML declaration, else UTF-8 (XML 1.0 §4.3.3).
def _latin1_envelope(declaration: bool) -> bytes:
    """An envelope in ISO-8859-1 whose birth name carries an accent: refused by the INSi rules
    once read (docs/reference/insi-teleservice.md §12), so the refusal shows how it was read."""
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    text = data.decode("utf-8").replace(">ADRTROIS<", ">ADRTRÖIS<")
    if not declaration:
        text = text.split("?>", 1)[1]
    else:
        text = text.replace("encoding='utf-8'", "encoding='ISO-8859-1'")
    return text.encode("iso-8859-1")


@pytest.mark.parametrize("declaration", [False, True])
def test_iso_8859_1_charset_of_the_media_type_is_read(client, auto_cert, declaration):
    response = post(
        client, _latin1_envelope(declaration), certificate=auto_cert,
        **{"Content-Type": f'application/soap+xml; charset=ISO-8859-1; action="{support.TRAITS}"'},
    )  # fmt: skip
    parts = fault_parts(response.data)
    assert parts["erreur_code"] == "santeid_invalid_trait", parts
    assert parts["text"] == "NomNaissance : diacritic in 'Ö' is refused [diacritic]"


def test_charset_of_the_media_type_wins_over_the_declaration(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    text = data.decode("utf-8").replace(">ADRTROIS<", ">ADRTRÖIS<")
    # Declared UTF-8, sent in ISO-8859-1 as the media type says.
    response = post(
        client, text.encode("iso-8859-1"), certificate=auto_cert,
        **{"Content-Type": "application/soap+xml;charset=iso-8859-1"},
    )  # fmt: skip
    assert fault_parts(response.data)["text"] == (
        "NomNaissance : diacritic in 'Ö' is refused [diacritic]"
    )


def test_byte_order_mark_wins_over_the_charset(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    response = post(
        client, b"\xef\xbb\xbf" + data, certificate=auto_cert,
        **{"Content-Type": "application/soap+xml; charset=ISO-8859-1"},
    )  # fmt: skip
    assert (response.status_code, code_cr(parse(response.data))) == (200, "00")


def test_unknown_charset_is_a_415_fault(client, auto_cert):
    data = envelope(traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26"))
    response = post(
        client, data, certificate=auto_cert,
        **{"Content-Type": "application/soap+xml; charset=x-santeid-unknown"},
    )  # fmt: skip
    assert response.status_code == 415
    parts = fault_parts(response.data)
    assert parts["erreur_code"] == "santeid_media_type"
    assert "x-santeid-unknown" in parts["text"]


def test_dtd_hidden_by_a_utf_7_charset_is_refused(client, auto_cert):
    # "<!DOCTYPE" spelled in UTF-7 escapes a byte scan; the parsed document still shows it.
    data = (
        b"+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY e SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-"
        b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        b'<r:RECSANSVITALE xmlns:r="http://www.cnamts.fr/INSiRecSans"><r:NomNaissance>+ACY-e+ADs-'
        b"</r:NomNaissance></r:RECSANSVITALE></soap:Body></soap:Envelope>"
    )
    response = post(
        client, data, certificate=auto_cert,
        **{"Content-Type": "application/soap+xml; charset=utf-7"},
    )  # fmt: skip
    assert response.status_code == 500
    assert fault_parts(response.data)["erreur_code"] == "santeid_xml_forbidden"
    assert b"root:" not in response.data

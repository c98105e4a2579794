"""Carte Vitale search and verification (core)."""

from __future__ import annotations

import pytest

from santeid.civil_status.nir import format_key
from santeid.insi.model import InsiError
from santeid.insi.model import TraitsQuery
from santeid.insi.model import VerifyQuery
from santeid.insi.model import VitaleQuery
from tests.support.insi import REST_CTX
from tests.support.insi import SOAP_CTX


def _vitale(person, od, *, rank=None, individual=None, name=None, ctx=SOAP_CTX, service=None):
    return service.search_by_vitale(
        VitaleQuery(
            od_matricule=od["matricule"],
            individual_matricule=individual,
            birth_name=name or person["birth_name"],
            birth_date=person["birth_date"],
            birth_rank=rank or person["rang"],
        ),
        ctx,
    )


def test_a_child_is_found_on_a_parents_card(service, base_db):
    child = base_db.execute(
        "SELECT * FROM persons WHERE od_id != id AND rang = 1 ORDER BY id LIMIT 1"
    ).fetchone()
    parent = base_db.execute("SELECT * FROM persons WHERE id = ?", (child["od_id"],)).fetchone()
    result = _vitale(child, parent, service=service)
    assert result.cr == "00"
    assert result.identity.matricule == child["matricule"]  # the child's own INS
    assert result.identity.matricule != parent["matricule"]
    # With the child's own matricule as read on the card.
    assert _vitale(child, parent, individual=child["matricule"], service=service).cr == "00"
    # Another person's matricule as MatriculeIndividu: nobody.
    assert _vitale(child, parent, individual=parent["matricule"], service=service).cr == "01"
    # The wrong birth name: nobody.
    assert _vitale(child, parent, name="ZZYZX", service=service).cr == "01"
    # The 15-character form with the key is accepted too.
    with_key = {"matricule": parent["matricule"] + format_key(parent["cle"])}
    assert _vitale(child, with_key, service=service).identity.matricule == child["matricule"]


def test_twins_are_told_apart_by_their_rang(service, base_db):
    pair = base_db.execute(
        "SELECT a.id AS first, b.id AS second FROM persons a JOIN persons b "
        "ON a.od_id = b.od_id AND a.birth_date = b.birth_date AND a.rang = 1 AND b.rang = 2 "
        "AND a.birth_name = b.birth_name ORDER BY a.id LIMIT 1"
    ).fetchone()
    assert pair is not None, "the base has twins on one card"
    first, second = (
        base_db.execute("SELECT * FROM persons WHERE id = ?", (i,)).fetchone() for i in pair
    )
    od = base_db.execute("SELECT * FROM persons WHERE id = ?", (first["od_id"],)).fetchone()
    assert _vitale(first, od, rank=1, service=service).identity.matricule == first["matricule"]
    assert _vitale(first, od, rank=2, service=service).identity.matricule == second["matricule"]
    assert _vitale(first, od, rank=3, service=service).cr == "01"


def test_an_adult_is_on_their_own_card(service):
    query = VitaleQuery("297022A020778", None, "adrtrois", "1997-02-26", 1)
    assert service.search_by_vitale(query, REST_CTX).identity.value == "297022A02077878"


@pytest.mark.parametrize(
    ("od", "individual", "name", "day", "rank", "element", "rule"),
    [
        ("297022A02077", None, "ADRTROIS", "1997-02-26", 1, "MatriculeOD", "nir-format"),
        ("297022A02077879", None, "ADRTROIS", "1997-02-26", 1, "MatriculeOD", "nir-key"),
        ("", None, "ADRTROIS", "1997-02-26", 1, "MatriculeOD", "required"),
        ("297022A020778", "X", "ADRTROIS", "1997-02-26", 1, "MatriculeIndividu", "nir-format"),
        ("297022A020778", None, "", "1997-02-26", 1, "NomNaissance", "required"),
        ("297022A020778", None, "ADRTROIS", "26/02/1997", 1, "DateNaissance", "date-format"),
        ("297022A020778", None, "ADRTROIS", "1997-02-26", 0, "RangNaissance", "rank"),
    ],
)
def test_vitale_refusals_name_element_and_rule(
    service, od, individual, name, day, rank, element, rule
):
    with pytest.raises(InsiError) as caught:
        service.search_by_vitale(VitaleQuery(od, individual, name, day, rank), SOAP_CTX)
    assert (caught.value.element, str(caught.value.rule)) == (element, rule)


# -- verification ------------------------------------------------------------------------------
ADRTROIS = TraitsQuery("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020")


def test_verification_conform(service):
    result = service.verify(VerifyQuery("297022A020778", "78", ADRTROIS), SOAP_CTX)
    assert result.conform
    assert result.differing == ()
    assert result.identity.value == "297022A02077878"


def test_verification_names_the_differing_traits(service):
    traits = TraitsQuery("ADRTROIS", ("DOMINIQUE", "MARIE"), "M", "1997-02-26", "2B020")
    result = service.verify(VerifyQuery("297022A020778", "78", traits), SOAP_CTX)
    assert not result.conform
    assert result.differing == ("given_names", "sex", "birthplace")
    assert result.identity is None  # no reference traits for someone who does not have them


def test_verification_compares_the_whole_given_name_list(service):
    traits = TraitsQuery("ECETINSI", ("PIERRE-ALAIN",), "M", "2009-07-14", "63220")
    result = service.verify(VerifyQuery("1090763220834", "89", traits), SOAP_CTX)
    assert result.differing == ("given_names",)
    whole = TraitsQuery("ECETINSI", ("PIERRE-ALAIN", "MURIEL", "FLORIANT"), "M", "2009-07-14",
                        "63220")  # fmt: skip
    assert service.verify(VerifyQuery("1090763220834", "89", whole), SOAP_CTX).conform


def test_verification_of_an_unknown_matricule(service):
    result = service.verify(VerifyQuery("297022A020787", "69", ADRTROIS), SOAP_CTX)
    assert (result.conform, result.differing, result.identity) == (False, ("matricule",), None)
    assert service.audit.rows()[0]["result"] == "unknown-ins"


def test_verification_of_an_earlier_matricule_points_to_the_active_ins(service):
    whole = TraitsQuery("ECETINSI", ("PIERRE-ALAIN", "MURIEL", "FLORIANT"), "M", "2009-07-14",
                        "63220")  # fmt: skip
    result = service.verify(VerifyQuery("2090763220834", "39", whole), SOAP_CTX)
    assert not result.conform
    assert result.differing == ("matricule",)
    assert result.identity.value == "109076322083489"


@pytest.mark.parametrize(
    ("matricule", "key", "element", "rule"),
    [
        ("297022A020778", "77", "Cle", "nir-key"),
        ("297022A020778", "7", "Cle", "nir-key"),
        ("297022A02077", "78", "NumIdentifiant", "nir-format"),
        ("397022A020778", "78", "NumIdentifiant", "nir-sex"),
    ],
)
def test_verification_refuses_a_malformed_ins(service, matricule, key, element, rule):
    with pytest.raises(InsiError) as caught:
        service.verify(VerifyQuery(matricule, key, ADRTROIS), SOAP_CTX)
    assert (caught.value.element, str(caught.value.rule)) == (element, rule)


# -- HERMANN / GATIEN: published keys that do not verify (docs/reference/insi-teleservice.md §9) --
HERMANN = TraitsQuery("HERMANN", ("GATIEN",), "M", "1981-03-24", "63220")


def test_hermann_is_verified_with_the_published_key(service):
    """santeid answers INSACTIF 1810363220456 / 60 (the CNDA file's key; 76 is computed): that
    INS, sent back, is conform."""
    result = service.verify(VerifyQuery("1810363220456", "60", HERMANN), SOAP_CTX)
    assert result.conform
    assert result.identity.value == "181036322045660"


def test_hermann_earlier_matricule_with_its_published_key(service):
    result = service.verify(VerifyQuery("2810363220456", "10", HERMANN), SOAP_CTX)
    assert (result.conform, result.differing) == (False, ("matricule",))
    assert result.identity.value == "181036322045660"


@pytest.mark.parametrize(("matricule", "key"), [("1810363220456", "76"), ("2810363220456", "26")])
def test_hermann_computed_key_is_refused_as_a_wrong_key(service, matricule, key):
    """The computed key is not the published one: refused as any wrong key is (``Cle``,
    ``nir-key``), never answered."""
    with pytest.raises(InsiError) as caught:
        service.verify(VerifyQuery(matricule, key, HERMANN), SOAP_CTX)
    assert (caught.value.element, str(caught.value.rule)) == ("Cle", "nir-key")
    assert "expected" in caught.value.message


@pytest.mark.parametrize("ctx", [SOAP_CTX, REST_CTX], ids=["strict", "normalising"])
def test_hermann_on_his_carte_vitale_with_the_published_key(service, ctx):
    found = service.search_by_vitale(
        VitaleQuery("181036322045660", None, "HERMANN", "1981-03-24", 1), ctx
    )
    assert (found.cr, found.identity.value) == ("00", "181036322045660")
    individual = VitaleQuery("181036322045660", "281036322045610", "HERMANN", "1981-03-24", 1)
    assert service.search_by_vitale(individual, ctx).identity.value == "181036322045660"
    with pytest.raises(InsiError) as caught:
        service.search_by_vitale(
            VitaleQuery("181036322045676", None, "HERMANN", "1981-03-24", 1), ctx
        )
    assert (caught.value.element, str(caught.value.rule)) == ("MatriculeOD", "nir-key")


def test_verification_needs_the_birthplace(service):
    traits = TraitsQuery("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26")
    with pytest.raises(InsiError) as caught:
        service.verify(VerifyQuery("297022A020778", "78", traits), SOAP_CTX)
    assert (caught.value.element, str(caught.value.rule)) == ("LieuNaissance", "required")

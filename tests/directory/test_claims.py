"""The PSC userinfo claim set (docs/reference/pro-sante-connect.md §9): keys, order, values, and the
edge cases."""

from __future__ import annotations

import dataclasses
import json

import pytest

from santeid.directory import Activity
from santeid.directory import Exercice
from santeid.directory import OtherId
from santeid.directory import Professional
from santeid.directory import Structure
from santeid.directory.demo import demo_professionals
from santeid.directory.models import own_other_ids
from santeid.psc import claims
from santeid.psc.claims import build_userinfo
from santeid.psc.claims import other_ids_claim
from santeid.psc.claims import sub_for

FEDERATION_ID = "0f4b8a2e-6d3c-4c1a-9e57-3a2b1c0d9e8f"

# Spelled out here from docs/reference/pro-sante-connect.md §9.3-§9.4 rather than imported, so that
# a slip in the module's
# own constants cannot hide itself.
TOP_LEVEL = [
    "Secteur_Activite",
    "sub",
    "SubjectOrganization",
    "Mode_Acces_Raison",
    "preferred_username",
    "given_name",
    "Acces_Regulation_Medicale",
    "UITVersion",
    "authMode",
    "Palier_Authentification",
    "SubjectRefPro",
    "SubjectOrganizationID",
    "SubjectRole",
    "PSI_Locale",
    "otherIds",
    "SubjectNameID",
    "family_name",
]
# The November-2023 BAS sample (docs/reference/pro-sante-connect.md §9.5,
# ad2ien/prosante-connect-synapse-module tests/test_mapping.py), its keys in its order: no
# ``authMode`` between ``UITVersion`` and ``Palier_Authentification``.
LATE_2023 = [
    "Secteur_Activite",
    "sub",
    "codeGenreActivite",
    "SubjectOrganization",
    "Mode_Acces_Raison",
    "preferred_username",
    "codeCivilite",
    "given_name",
    "Acces_Regulation_Medicale",
    "UITVersion",
    "Palier_Authentification",
    "SubjectRefPro",
    "SubjectOrganizationID",
    "SubjectRole",
    "PSI_Locale",
    "otherIds",
    "SubjectNameID",
    "family_name",
]
EXERCICE = [
    "codeProfession",
    "codeCategorieProfessionnelle",
    "codeCiviliteDexercice",
    "nomDexercice",
    "prenomDexercice",
    "codeTypeSavoirFaire",
    "codeSavoirFaire",
    "activities",
]
ACTIVITY = [
    "codeModeExercice",
    "codeSecteurDactivite",
    "codeSectionPharmacien",
    "codeRole",
    "codeGenreActivite",
    "numeroSiretSite",
    "numeroSirenSite",
    "numeroFinessSite",
    "numeroFinessetablissementJuridique",
    "identifiantTechniqueDeLaStructure",
    "raisonSocialeSite",
    "enseigneCommercialeSite",
    "complementDestinataire",
    "complementPointGeographique",
    "numeroVoie",
    "indiceRepetitionVoie",
    "codeTypeDeVoie",
    "libelleVoie",
    "mentionDistribution",
    "bureauCedex",
    "codePostal",
    "codeCommune",
    "codePays",
    "telephone",
    "telephone2",
    "telecopie",
    "adresseEMail",
    "codeDepartement",
    "ancienIdentifiantDeLaStructure",
    "autoriteDenregistrement",
]
SECTOR_OID = "1.2.250.1.71.4.2.4"
ROLE_OID = "1.2.250.1.213.1.1.5.5"


def demo(national_id: str) -> Professional:
    return next(p for p in demo_professionals() if p.national_id == national_id)


def userinfo(professional: Professional, auth_mode: str | None = "MOBILE") -> dict:
    sub = sub_for(professional.national_id, FEDERATION_ID)
    return build_userinfo(professional, sub=sub, auth_mode=auth_mode)


def leaves(value, path="$"):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def test_module_constants_match_the_reference_lists():
    assert list(claims.USERINFO_KEYS) == TOP_LEVEL
    assert list(claims.USERINFO_KEYS_LATE_2023) == LATE_2023
    assert list(claims.EXERCICE_KEYS) == EXERCICE
    assert list(claims.ACTIVITY_KEYS) == ACTIVITY
    assert len(ACTIVITY) == 30


@pytest.mark.parametrize("professional", demo_professionals(), ids=lambda p: p.national_id)
def test_every_demo_userinfo_has_psc_keys_in_psc_order_and_no_null(professional):
    info = userinfo(professional)
    if professional.exercices:
        assert list(info) == TOP_LEVEL
        assert list(info["SubjectRefPro"]) == ["codeCivilite", "exercices"]
        for exercice in info["SubjectRefPro"]["exercices"]:
            assert list(exercice) == EXERCICE
            for activity in exercice["activities"]:
                assert list(activity) == ACTIVITY
    for path, value in leaves(info):
        if path.endswith(".qualite"):
            assert type(value) is int, path
        else:
            assert isinstance(value, str), f"{path} = {value!r}"  # "" for missing, never null
    # Serialising keeps the order: what clients receive is what was built.
    assert list(json.loads(json.dumps(info))) == list(info)


def test_full_userinfo_of_the_first_sandbox_professional():
    info = userinfo(demo("810000000001"), auth_mode="CARD")
    assert info["sub"] == f"f:{FEDERATION_ID}:810000000001"
    assert info["preferred_username"] == info["SubjectNameID"] == "810000000001"
    assert (info["given_name"], info["family_name"]) == ("HELENE", "FAUVEL")
    assert info["authMode"] == "CARD"
    # The first activity (the liberal cabinet) speaks for her.
    assert info["Secteur_Activite"] == f"SA07^{SECTOR_OID}"
    assert info["SubjectOrganization"] == "CABINET MEDICAL FAUVEL"
    assert info["SubjectOrganizationID"] == "R9000000000001"
    assert info["SubjectRole"] == [f"10^{ROLE_OID}"]
    assert info["otherIds"] == [{"identifiant": "810000000001", "origine": "RPPS", "qualite": 1}]
    ref = info["SubjectRefPro"]
    assert ref["codeCivilite"] == "MME"
    (exercice,) = ref["exercices"]
    assert exercice["codeProfession"] == "10"
    assert exercice["codeCiviliteDexercice"] == "DR"
    assert (exercice["codeTypeSavoirFaire"], exercice["codeSavoirFaire"]) == ("S", "SM54")
    cabinet, hospital, centre = exercice["activities"]
    assert cabinet["codeModeExercice"] == "L"
    assert cabinet["ancienIdentifiantDeLaStructure"] == "410000000001001"
    assert cabinet["autoriteDenregistrement"] == "CNOM/CNOM/CNOM"
    assert cabinet["codeCommune"] == "69383"
    assert hospital["identifiantTechniqueDeLaStructure"] == "F0B6900011"
    assert hospital["numeroFinessSite"] == "0B6900011"
    assert hospital["numeroFinessetablissementJuridique"] == "0B6900003"
    assert hospital["ancienIdentifiantDeLaStructure"] == "10B6900011"
    assert centre["numeroSiretSite"] == "00000010900017"
    assert centre["numeroSirenSite"] == "000000109"
    assert centre["adresseEMail"] == "accueil.cds-pentes@example.org"


def test_constants():
    info = userinfo(demo("810000000001"))
    assert info["PSI_Locale"] == "1.2.250.1.213.1.3.1.1"
    assert info["UITVersion"] == "1.0"
    assert info["Acces_Regulation_Medicale"] == "FAUX"
    assert info["Mode_Acces_Raison"] == ""
    assert info["Palier_Authentification"] == "APPPRIP3^1.2.250.1.213.1.5.1.1.1"


def test_auth_mode_is_left_out_when_unknown():
    info = userinfo(demo("810000000001"), auth_mode=None)
    assert "authMode" not in info
    assert list(info) == [k for k in TOP_LEVEL if k != "authMode"]


def test_an_establishment_first_activity_gives_its_finess_technical_id():
    info = userinfo(demo("810000000013"))
    assert info["SubjectOrganizationID"] == "F0B3500015"
    assert info["SubjectOrganization"] == "CHU DES TROIS RIVIERES"
    assert info["Secteur_Activite"] == f"SA01^{SECTOR_OID}"


def test_several_exercices_give_one_role_each_and_the_first_exercice_speaks():
    info = userinfo(demo("810000000012"))
    assert info["SubjectRole"] == [f"10^{ROLE_OID}", f"40^{ROLE_OID}"]
    exercices = info["SubjectRefPro"]["exercices"]
    assert [e["codeProfession"] for e in exercices] == ["10", "40"]
    assert [e["codeSavoirFaire"] for e in exercices] == ["SM07", "SCD02"]
    assert info["SubjectOrganization"] == "CHU DES BEFFROIS"  # first exercice's activity
    assert (
        exercices[1]["activities"][0]["raisonSocialeSite"] == "CABINET DE CHIRURGIE ORALE VASSEUR"
    )


def test_a_profession_held_twice_is_one_role():
    base = demo("810000000001")
    twice = dataclasses.replace(base, exercices=base.exercices * 2)
    assert userinfo(twice)["SubjectRole"] == [f"10^{ROLE_OID}"]


def test_five_activities_keep_their_rank_order():
    activities = userinfo(demo("810000000004"))["SubjectRefPro"]["exercices"][0]["activities"]
    assert [a["codeSecteurDactivite"] for a in activities] == [
        "SA08",
        "SA04",
        "SA01",
        "SA05",
        "SA43",
    ]
    assert activities[4]["codeModeExercice"] == "B"
    assert activities[4]["codeGenreActivite"] == "GENR04"
    assert activities[4]["mentionDistribution"] == "BP 40012"
    assert activities[4]["bureauCedex"] == "33001 BORDEAUX CEDEX"


def test_an_exercice_without_activity_keeps_the_full_shape_with_empty_organisation():
    info = userinfo(demo("810000000021"))
    assert list(info) == TOP_LEVEL
    assert info["SubjectRefPro"]["exercices"][0]["activities"] == []
    assert info["Secteur_Activite"] == ""
    assert info["SubjectOrganization"] == ""
    assert info["SubjectOrganizationID"] == ""
    assert info["SubjectRole"] == [f"10^{ROLE_OID}"]


def test_only_the_first_exercice_feeds_the_organisation_claims():
    """An empty first exercice is not skipped to borrow the second one's activity."""
    base = demo("810000000012")
    first, second = base.exercices
    reordered = dataclasses.replace(
        base, exercices=(dataclasses.replace(first, activities=()), second)
    )
    info = userinfo(reordered)
    assert (info["Secteur_Activite"], info["SubjectOrganization"]) == ("", "")
    assert info["SubjectOrganizationID"] == ""


def test_an_activity_without_structure_or_sector_gives_empty_strings():
    professional = Professional(
        national_id="810000000901",
        id_type="8",
        local_id="10000000901",
        family_name="ESSAI",
        given_names=("JEANNE",),
        exercices=(Exercice(code_profession="60", activities=(Activity(),)),),
    )
    info = userinfo(professional)
    (activity,) = info["SubjectRefPro"]["exercices"][0]["activities"]
    assert list(activity) == ACTIVITY
    assert set(activity.values()) == {""}
    assert info["Secteur_Activite"] == ""  # never a bare "^1.2.250.1.71.4.2.4"
    assert info["SubjectOrganizationID"] == ""


def test_a_person_with_no_identifier_to_list_has_no_other_ids_claim():
    """docs/claims.md: ``otherIds`` is left out, not ``[]``, when the directory lists no
    identifier — in userinfo as in the access token (``other_ids_member``)."""
    professional = dataclasses.replace(demo("810000000001"), other_ids=())
    info = userinfo(professional)
    assert "otherIds" not in info
    assert list(info) == [key for key in TOP_LEVEL if key != "otherIds"]
    assert claims.other_ids_member(professional) == {}
    assert claims.other_ids_member(demo("810000000001")) == {
        "otherIds": [{"identifiant": "810000000001", "origine": "RPPS", "qualite": 1}]
    }


@pytest.mark.parametrize("professional", demo_professionals(), ids=lambda p: p.national_id)
def test_every_demo_professional_lists_its_own_id_first_by_the_one_rule(professional):
    """The demo data and ``own_other_ids`` (used for the sandbox's own professionals and the
    synthetic directory) agree: own id first, RPPS / ADELI / EDIT by type, none for staff."""
    own = own_other_ids(professional.national_id, professional.id_type)
    assert professional.other_ids[: len(own)] == own
    if not own:
        assert professional.other_ids == ()


def test_sector_without_structure_still_gives_secteur_activite():
    professional = Professional(
        national_id="810000000901",
        id_type="8",
        local_id="10000000901",
        family_name="ESSAI",
        exercices=(
            Exercice(code_profession="10", activities=(Activity(code_secteur_activite="SA05"),)),
        ),
    )
    info = userinfo(professional)
    assert info["Secteur_Activite"] == f"SA05^{SECTOR_OID}"
    assert info["SubjectOrganization"] == ""


def test_adeli_only_professional():
    info = userinfo(demo("0999500012"))
    assert info["SubjectNameID"] == info["preferred_username"] == "0999500012"
    assert info["sub"].endswith(":0999500012")
    assert info["otherIds"] == [{"identifiant": "0999500012", "origine": "ADELI", "qualite": 1}]
    assert info["SubjectRole"] == [f"95^{ROLE_OID}"]
    exercice = info["SubjectRefPro"]["exercices"][0]
    assert exercice["codeCiviliteDexercice"] == ""
    assert exercice["activities"][0]["autoriteDenregistrement"] == "ARS/ARS/ARS"


def test_edit_test_identity():
    info = userinfo(demo("ANS20240115093000"))
    assert info["SubjectNameID"] == "ANS20240115093000"
    assert info["otherIds"] == [
        {"identifiant": "ANS20240115093000", "origine": "EDIT", "qualite": 1}
    ]


def test_other_ids_keep_their_order_and_types():
    ids = other_ids_claim(demo("810000000003"))
    assert ids == [
        {"identifiant": "810000000003", "origine": "RPPS", "qualite": 1},
        {"identifiant": "0996000011", "origine": "ADELI", "qualite": 1},
    ]
    for item in ids:
        assert list(item) == ["identifiant", "origine", "qualite"]
        assert type(item["qualite"]) is int and type(item["identifiant"]) is str


def test_qualite_is_an_integer_even_if_stored_otherwise():
    professional = dataclasses.replace(
        demo("810000000001"), other_ids=(OtherId("810000000001", "RPPS", qualite="2"),)
    )
    assert other_ids_claim(professional) == [
        {"identifiant": "810000000001", "origine": "RPPS", "qualite": 2}
    ]


@pytest.mark.parametrize("national_id", ["500000010900017/SEC0042", "30B6900011/ADM0107"])
def test_a_person_without_exercice_gets_the_short_observed_shape(national_id):
    """docs/reference/pro-sante-connect.md §9.5 "user without exercise": no sectoral claim at
    all."""
    professional = demo(national_id)
    info = userinfo(professional, auth_mode="CARD")
    assert list(info) == [
        "sub",
        "preferred_username",
        "codeCivilite",
        "given_name",
        "SubjectNameID",
        "family_name",
    ]
    assert info["sub"] == f"f:{FEDERATION_ID}:{national_id}"
    assert info["preferred_username"] == info["SubjectNameID"] == national_id
    assert info["codeCivilite"] == professional.code_civilite
    assert (info["given_name"], info["family_name"]) == (
        professional.given_name,
        professional.family_name,
    )


def test_civil_status_names_not_exercice_names():
    info = userinfo(demo("810000000020"))
    assert info["family_name"] == "LEMAIRE"
    assert info["given_name"] == "CATHERINE"
    assert info["SubjectRefPro"]["exercices"][0]["nomDexercice"] == "LEMAIRE-VIDAL"


def test_given_name_is_the_first_given_name():
    assert userinfo(demo("810000000005"))["given_name"] == "SOPHIE"
    nameless = dataclasses.replace(demo("810000000005"), given_names=())
    assert userinfo(nameless)["given_name"] == ""


def test_pharmacy_brand_and_section():
    activity = userinfo(demo("810000000002"))["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert activity["raisonSocialeSite"] == "SELARL PHARMACIE ROCHEFORT"
    assert activity["enseigneCommercialeSite"] == "PHARMACIE DES DEUX RIVIERES"
    assert activity["codeSectionPharmacien"] == "A"
    assert activity["codeSecteurDactivite"] == "SA33"


@pytest.mark.parametrize("professional", demo_professionals(), ids=lambda p: p.national_id)
def test_correspondence_details_never_reach_userinfo(professional):
    """Phone and e-mail serve e-CPS activation only (docs/reference/pro-sante-connect.md §13)."""
    text = json.dumps(userinfo(professional))
    assert professional.correspondence_email not in text
    assert professional.correspondence_phone not in text
    assert "email" not in userinfo(professional)


def test_sub_is_keycloak_federated_form():
    assert sub_for("810000000001", FEDERATION_ID) == f"f:{FEDERATION_ID}:810000000001"


def test_corsican_and_overseas_addresses():
    corsica = userinfo(demo("810000000022"))["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert (corsica["codeCommune"], corsica["codeDepartement"]) == ("2A004", "2A")
    reunion = userinfo(demo("810000000023"))["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert (reunion["codeCommune"], reunion["codeDepartement"]) == ("97411", "974")
    assert reunion["telephone"] == ""


def test_structure_fields_map_one_to_one():
    """Every structure field lands in exactly one activity key."""
    values = {f.name: f"v-{f.name}" for f in dataclasses.fields(Structure)}
    structure = Structure(**values)
    claim = claims.activity_claim(Activity(structure=structure))
    mapped = {v for v in claim.values() if v.startswith("v-")}
    assert mapped == set(values.values())


@pytest.mark.parametrize("auth_mode", ["CARD", "MOBILE", None])
def test_the_late_2023_layout_has_the_samples_keys_exactly(auth_mode):
    """docs/claims.md, "The late-2023 layout": the sample's keys in its order, ``authMode``
    included only in the tokens."""
    professional = demo("810000000001")
    sub = sub_for(professional.national_id, FEDERATION_ID)
    info = build_userinfo(
        professional, sub=sub, auth_mode=auth_mode, layout=claims.LAYOUT_LATE_2023
    )
    assert list(info) == LATE_2023
    assert list(info["SubjectRefPro"]) == ["exercices"]
    assert list(json.loads(json.dumps(info))) == LATE_2023

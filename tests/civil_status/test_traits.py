"""Traits normalisation (civil status → INSi form) and validation (RNIV / INSi rules)."""

from __future__ import annotations

from datetime import date

import pytest

from santeid.civil_status.traits import BIRTH_DATE
from santeid.civil_status.traits import BIRTH_NAME
from santeid.civil_status.traits import BIRTHPLACE
from santeid.civil_status.traits import FIRST_GIVEN_NAME
from santeid.civil_status.traits import GIVEN_NAMES
from santeid.civil_status.traits import SEX
from santeid.civil_status.traits import Rule
from santeid.civil_status.traits import TraitError
from santeid.civil_status.traits import compact_name
from santeid.civil_status.traits import complete_birth_date
from santeid.civil_status.traits import first_given_name_consistent
from santeid.civil_status.traits import normalize_birthplace
from santeid.civil_status.traits import normalize_given_names
from santeid.civil_status.traits import normalize_name
from santeid.civil_status.traits import normalize_sex
from santeid.civil_status.traits import normalize_traits
from santeid.civil_status.traits import validate_birth_date
from santeid.civil_status.traits import validate_birthplace
from santeid.civil_status.traits import validate_given_names
from santeid.civil_status.traits import validate_name
from santeid.civil_status.traits import validate_sex
from santeid.civil_status.traits import validate_traits

# -- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Dupont", "DUPONT"),
        ("Lefèvre", "LEFEVRE"),
        ("Müller", "MULLER"),
        ("François", "FRANCOIS"),
        ("Œuvrard", "OEUVRARD"),
        ("Cœurdevey", "COEURDEVEY"),
        ("Lætitia", "LAETITIA"),
        ("ÆLIS", "AELIS"),
        ("Strauß", "STRAUSS"),
        ("Østergaard", "OSTERGAARD"),
        ("Łukasiewicz", "LUKASIEWICZ"),
        ("Nguyễn", "NGUYEN"),
        ("Yılmaz", "YILMAZ"),
        ("de La Fontaine", "DE LA FONTAINE"),
        ("du Pont", "DU PONT"),
        ("Le Goff", "LE GOFF"),
        ("N'Diaye", "N'DIAYE"),
        ("N’Diaye", "N'DIAYE"),  # typographic apostrophe → ASCII 39
        ("d‘Aeion", "D'AEION"),
        ("d' Artagnan", "D'ARTAGNAN"),  # space + apostrophe cannot be combined
        ("d 'Artagnan", "D'ARTAGNAN"),
        ("d''Artagnan", "D'ARTAGNAN"),  # apostrophe cannot be doubled
        ("'t Hooft", "'T HOOFT"),  # apostrophe allowed in first position
        ("Dupont--Martin", "DUPONT--MARTIN"),  # double hyphen of double family names
        ("Dupont---Martin", "DUPONT--MARTIN"),
        ("Dupont – Martin", "DUPONT-MARTIN"),  # en dash, spaces around a hyphen
        ("  Dupont  ", "DUPONT"),  # leading and trailing spaces
        ("De   Vinci", "DE VINCI"),  # multiple spaces
        ("De\tVinci", "DE VINCI"),
        ("De\u00a0Vinci", "DE VINCI"),  # no-break space
        ("-Dupont-", "DUPONT"),  # hyphen neither first nor last
        ("Saint-Exupéry", "SAINT-EXUPERY"),
    ],
)
def test_normalize_birth_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected
    assert validate_name(expected) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jean-François", "JEAN-FRANCOIS"),
        ("Jean--Pierre", "JEAN-PIERRE"),  # no double hyphen in a given name
        ("Zoé", "ZOE"),
        ("Hélène'", "HELENE"),  # no final apostrophe in a given name
        ("Anne-", "ANNE"),
        ("Maëlle", "MAELLE"),
    ],
)
def test_normalize_given_name(raw: str, expected: str) -> None:
    assert normalize_name(raw, given=True) == expected


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("Dupont2", Rule.CHARSET),  # digits refused
        ("Louis XIV 1er", Rule.CHARSET),
        ("St. Pierre", Rule.CHARSET),
        ("Dupont/Martin", Rule.CHARSET),
        ("Иванов", Rule.CHARSET),  # not Latin: no transliteration is guessed
        ("", Rule.REQUIRED),
        ("   ", Rule.REQUIRED),
        ("---", Rule.REQUIRED),
        ("'", Rule.NO_LETTER),
    ],
)
def test_normalize_refuses(raw: str, rule: Rule) -> None:
    with pytest.raises(TraitError) as caught:
        normalize_name(raw)
    assert caught.value.rule == rule
    assert caught.value.field == BIRTH_NAME


@pytest.mark.parametrize(
    "raw", ["Lefèvre", "d’ Artagnan", "  de  la   Tour--Du-Pin ", "Cœur", "N'Guessan"]
)
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize_name(raw)
    assert normalize_name(once) == once


def test_normalize_given_names_lists() -> None:
    assert normalize_given_names("Jean-François, Marie, Joseph") == (
        "JEAN-FRANCOIS",
        "MARIE",
        "JOSEPH",
    )
    # An inner space in a civil-status given name becomes a separator of the INSi list.
    assert normalize_given_names("Marie Claire, Anaïs") == ("MARIE", "CLAIRE", "ANAIS")
    assert normalize_given_names(["Pierre-Alain", "Muriel", "Floriant"]) == (
        "PIERRE-ALAIN",
        "MURIEL",
        "FLORIANT",
    )
    assert normalize_given_names("Zoé,, ") == ("ZOE",)
    with pytest.raises(TraitError) as caught:
        normalize_given_names(" , ")
    assert (caught.value.field, caught.value.rule) == (GIVEN_NAMES, Rule.REQUIRED)


def test_normalize_sex_and_birthplace() -> None:
    assert normalize_sex(" m ") == "M"
    assert normalize_sex("f") == "F"
    assert normalize_sex("H") == "M"
    assert normalize_birthplace(" 2a020 ") == "2A020"
    with pytest.raises(TraitError):
        normalize_sex("X")


def test_compact_name() -> None:
    assert compact_name("DE VINCI") == compact_name("DE-VINCI") == "DEVINCI"
    assert compact_name("D'AEION") == "DAEION"


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", Rule.REQUIRED),
        ("A" * 101, Rule.LENGTH),
        ("Dupont", Rule.LOWERCASE),
        ("LEFÈVRE", Rule.DIACRITIC),
        ("FRANÇOIS", Rule.DIACRITIC),
        ("CŒUR", Rule.LIGATURE),
        ("LÆTITIA", Rule.LIGATURE),
        ("DUPONT2", Rule.CHARSET),
        ("DUPONT.", Rule.CHARSET),
        ("'", Rule.NO_LETTER),
        (" DUPONT", Rule.FIRST_CHARACTER),
        ("-DUPONT", Rule.FIRST_CHARACTER),
        ("DUPONT ", Rule.LAST_CHARACTER),
        ("DUPONT-", Rule.LAST_CHARACTER),
        ("DE  VINCI", Rule.SPACE_APOSTROPHE),
        ("D''AEION", Rule.SPACE_APOSTROPHE),
        ("D' AEION", Rule.SPACE_APOSTROPHE),
        ("D 'AEION", Rule.SPACE_APOSTROPHE),
        ("DUPONT---MARTIN", Rule.HYPHEN_RUN),
    ],
)
def test_validate_birth_name_rules(value: str, rule: Rule) -> None:
    with pytest.raises(TraitError) as caught:
        validate_name(value)
    error = caught.value
    assert (error.field, error.rule) == (BIRTH_NAME, rule)
    assert error.element == "NomNaissance"
    assert f"[{rule}]" in str(error)


@pytest.mark.parametrize(
    "value", ["DUPONT", "D'AEION", "'T HOOFT", "DE VINCI", "DUPONT--MARTIN", "LE GOFF", "A"]
)
def test_validate_birth_name_accepts(value: str) -> None:
    assert validate_name(value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("JEAN--PIERRE", Rule.HYPHEN_RUN),
        ("JEAN'", Rule.LAST_CHARACTER),
        ("JEAN-", Rule.LAST_CHARACTER),
        ("PIERRE  PAUL", Rule.SPACE_APOSTROPHE),
        ("ZOÉ", Rule.DIACRITIC),
    ],
)
def test_validate_given_names_rules(value: str, rule: Rule) -> None:
    with pytest.raises(TraitError) as caught:
        validate_given_names(value)
    assert (caught.value.field, caught.value.rule) == (GIVEN_NAMES, rule)


def test_validate_given_names_list() -> None:
    assert validate_given_names("PIERRE-ALAIN MURIEL FLORIANT") == (
        "PIERRE-ALAIN",
        "MURIEL",
        "FLORIANT",
    )
    assert validate_given_names(["CATARINA", "BELLA"]) == ("CATARINA", "BELLA")
    with pytest.raises(TraitError):
        validate_given_names("")


@pytest.mark.parametrize(
    ("first", "names", "coherent"),
    [
        # RNIV EXI ID 10, the implementation guide's own example.
        ("JEAN-CHRISTOPHE", "JEAN CHRISTOPHE PIERRE", True),
        ("PIERRE-ALAIN", "PIERRE-ALAIN MURIEL FLORIANT", True),
        ("PIERRE", "PIERRE-ALAIN MURIEL FLORIANT", True),
        ("CATARINA", "CATARINA BELLA", True),
        ("BELLA", "CATARINA BELLA", False),
        ("JEAN", "JEANNE MARIE", False),
        ("D'ARTAGNAN", "D ARTAGNAN LOUIS", True),
    ],
)
def test_first_given_name_consistency(first: str, names: str, coherent: bool) -> None:
    assert first_given_name_consistent(first, names) is coherent


@pytest.mark.parametrize("value", ["m", "f", "H", "I", "U", "", "1"])
def test_validate_sex_refuses(value: str) -> None:
    with pytest.raises(TraitError) as caught:
        validate_sex(value)
    assert (caught.value.field, caught.value.rule) == (SEX, Rule.SEX)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("14/07/2009", Rule.DATE_FORMAT),
        ("2009-7-14", Rule.DATE_FORMAT),
        ("20090714", Rule.DATE_FORMAT),
        ("", Rule.DATE_FORMAT),
        ("2009-02-30", Rule.DATE_VALUE),
        ("2009-00-01", Rule.DATE_VALUE),
        ("2009-07-00", Rule.DATE_VALUE),
        ("2009-13-01", Rule.DATE_VALUE),
        ("1799-12-31", Rule.DATE_RANGE),
        ("2026-01-02", Rule.DATE_RANGE),
    ],
)
def test_validate_birth_date_rules(value: str, rule: Rule) -> None:
    with pytest.raises(TraitError) as caught:
        validate_birth_date(value, today=date(2026, 1, 1))
    assert (caught.value.field, caught.value.rule) == (BIRTH_DATE, rule)


def test_validate_birth_date_accepts() -> None:
    assert validate_birth_date("2009-07-14") == date(2009, 7, 14)
    assert validate_birth_date("2024-02-29", today=date(2026, 1, 1)) == date(2024, 2, 29)
    assert validate_birth_date(date(1936, 6, 21)) == date(1936, 6, 21)


def test_complete_birth_date_exi_id_11() -> None:
    assert complete_birth_date(1950) == date(1950, 12, 31)
    assert complete_birth_date(1950, 6) == date(1950, 6, 1)
    assert complete_birth_date(1950, None, 14) == date(1950, 1, 14)
    assert complete_birth_date(1950, 6, 14) == date(1950, 6, 14)


@pytest.mark.parametrize("value", ["63220", "2A020", "2B020", "97411", "97608", "99352", "75114"])
def test_validate_birthplace_accepts(value: str) -> None:
    assert validate_birthplace(value) == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("2a020", Rule.COG_FORMAT),
        ("2C020", Rule.COG_FORMAT),
        ("6322", Rule.COG_FORMAT),
        ("632200", Rule.COG_FORMAT),
        ("2A02B", Rule.COG_FORMAT),
        ("", Rule.COG_FORMAT),
        ("00123", Rule.COG_VALUE),
        ("99100", Rule.COG_VALUE),
    ],
)
def test_validate_birthplace_rules(value: str, rule: Rule) -> None:
    with pytest.raises(TraitError) as caught:
        validate_birthplace(value)
    assert (caught.value.field, caught.value.rule) == (BIRTHPLACE, rule)
    assert caught.value.element == "LieuNaissance"


def test_validate_traits() -> None:
    traits = validate_traits(
        birth_name="ECETINSI",
        given_names="PIERRE-ALAIN MURIEL FLORIANT",
        sex="M",
        birth_date="2009-07-14",
        birthplace="63220",
    )
    assert traits.first_given_name == "PIERRE-ALAIN"
    assert traits.given_names_text == "PIERRE-ALAIN MURIEL FLORIANT"
    assert traits.birth_date == date(2009, 7, 14)
    without_place = validate_traits(
        birth_name="DE VINCI", given_names=["LEONARDO"], sex="M", birth_date="2014-02-01"
    )
    assert without_place.birthplace is None
    with pytest.raises(TraitError) as caught:
        validate_traits(
            birth_name="TCHITCHI",
            given_names="CATARINA BELLA",
            first_given_name="BELLA",
            sex="F",
            birth_date="1936-06-21",
        )
    assert (caught.value.field, caught.value.rule) == (FIRST_GIVEN_NAME, Rule.FIRST_GIVEN_NAME)
    with pytest.raises(TraitError) as caught:
        validate_traits(birth_name="Adrun", given_names="ZOE", sex="F", birth_date="1975-12-31")
    assert caught.value.field == BIRTH_NAME


def test_normalize_traits_from_civil_status() -> None:
    traits = normalize_traits(
        birth_name="d’Aeion",
        given_names="Cœur",
        sex="m",
        birth_date="1987-01-25",
        birthplace="2b020",
        first_given_name="cœur",
    )
    assert traits.birth_name == "D'AEION"
    assert traits.given_names == ("COEUR",)
    assert traits.first_given_name == "COEUR"
    assert (traits.sex, traits.birthplace) == ("M", "2B020")
    with pytest.raises(TraitError) as caught:
        normalize_traits(birth_name="Zoé", given_names="Zoé", sex="F", birth_date="1975-12-32")
    assert caught.value.rule == Rule.DATE_VALUE

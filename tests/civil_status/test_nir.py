"""NIR / NIA construction, parsing and key, checked against python-stdnum as an oracle."""

from __future__ import annotations

import random
from datetime import date

import pytest
from stdnum.fr import nir as stdnum_nir

from santeid.civil_status.nir import OID_NIA
from santeid.civil_status.nir import OID_NIR
from santeid.civil_status.nir import MatriculeError
from santeid.civil_status.nir import build_matricule
from santeid.civil_status.nir import format_key
from santeid.civil_status.nir import inconsistencies
from santeid.civil_status.nir import nir_key
from santeid.civil_status.nir import oid_for
from santeid.civil_status.nir import parse_matricule

# Keys recomputed and checked against INSi data in docs/reference/insi-teleservice.md §11.
INSI_KEYS = {
    "297022A020778": 78,
    "160012B020777": 13,
    "180032B020401": 23,
    "1090763220834": 89,
    "2090763220834": 39,
    "2360663220836": 56,
    "2751263220749": 74,
    "1100863220830": 60,
    "1090763220888": 35,
    "1810163220751": 40,
}


@pytest.mark.parametrize(("number", "key"), sorted(INSI_KEYS.items()))
def test_keys_of_insi_data(number: str, key: int) -> None:
    assert nir_key(number) == key
    assert stdnum_nir.validate(number + format_key(key)) == number + format_key(key)


def test_keys_agree_with_stdnum_including_corsica() -> None:
    rng = random.Random(2024)
    departments = ["2A", "2B", "01", "19", "18", "63", "75", "97", "99"]
    for _ in range(5000):
        number = (
            rng.choice("12")
            + f"{rng.randrange(100):02d}"
            + f"{rng.randint(1, 12):02d}"
            + rng.choice(departments)
            + f"{rng.randrange(1000):03d}"
            + f"{rng.randint(1, 999):03d}"
        )
        key = nir_key(number)
        assert 1 <= key <= 97
        assert stdnum_nir.calc_check_digits(number) == format_key(key)
        assert stdnum_nir.is_valid(number + format_key(key))
        wrong = format_key(key % 97 + 1)
        assert not stdnum_nir.is_valid(number + wrong)


def test_corsica_is_not_department_19_or_18() -> None:
    # 2A→19 and 2B→18 only inside the key computation: the numbers stay distinct.
    assert nir_key("297022A020778") == nir_key("2970219020778")
    assert parse_matricule("297022A020778").place == "2A020"


def test_key_rejects_malformed() -> None:
    with pytest.raises(MatriculeError):
        nir_key("12345")
    with pytest.raises(MatriculeError):
        nir_key("297022C020778")


def test_build_matricule() -> None:
    assert build_matricule("F", date(1997, 2, 26), "2A020", 778) == "297022A020778"
    assert build_matricule("M", date(1960, 1, 1), "2B020", 777) == "160012B020777"
    assert build_matricule("M", date(2009, 7, 14), "63220", 834) == "1090763220834"
    # Overseas: 97 + 1 digit of département, 2 digits of commune — still the 5-character COG.
    assert build_matricule("F", date(2001, 11, 3), "97411", 5) == "2011197411005"
    # Born abroad: 99 + country code (a NIA has the same layout).
    assert build_matricule("M", date(1985, 5, 5), "99352", 12) == "1850599352012"
    for bad in (
        dict(sex="X", birthplace="63220", order=1),
        dict(sex="M", birthplace="2C020", order=1),
        dict(sex="M", birthplace="63220", order=0),
        dict(sex="M", birthplace="63220", order=1000),
    ):
        with pytest.raises(MatriculeError):
            build_matricule(birth_date=date(2000, 1, 1), **bad)


def test_parse_matricule() -> None:
    parts = parse_matricule("2 97 02 2A 020 778 78")
    assert (parts.sex, parts.year2, parts.month, parts.place, parts.order) == (
        "F",
        97,
        2,
        "2A020",
        778,
    )
    assert (parts.department, parts.commune) == ("2A", "020")
    assert parts.value == "297022A02077878"
    assert parts.formatted() == stdnum_nir.format("297022A02077878")
    overseas = parse_matricule("2011197411005")
    assert (overseas.department, overseas.commune, overseas.born_abroad) == ("974", "11", False)
    assert parse_matricule("185059935201280").born_abroad


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("29702", "format"),
        ("297022C02077878", "format"),
        ("297022A02077879", "key"),
        ("397022A02077878", "sex"),
        ("7970263220778", "sex"),  # NNP: another CNAM number, not an INS
        ("2971363220778", "month"),
        ("2973063220778", "month"),  # pseudo-month: lenient mode only
        ("2970200220778", "department"),
        ("2970220220778", "department"),  # Corsica before 1976: lenient mode only
        ("2970263220000", "order"),
    ],
)
def test_parse_matricule_refuses(text: str, rule: str) -> None:
    with pytest.raises(MatriculeError) as caught:
        parse_matricule(text)
    assert caught.value.rule == rule


def test_published_key_replaces_the_computed_one() -> None:
    """HERMANN's published keys (docs/reference/insi-teleservice.md §9): only with
    ``published_keys`` given, and then exactly that key."""
    published = {"1810363220456": 60}
    assert nir_key("1810363220456") == 76
    assert parse_matricule("181036322045676").key == 76  # by default: the computed key
    parts = parse_matricule("181036322045660", published_keys=published)
    assert (parts.key, parts.value) == (60, "181036322045660")
    assert parse_matricule("1810363220456", published_keys=published).key == 60
    with pytest.raises(MatriculeError) as caught:
        parse_matricule("181036322045676", published_keys=published)
    assert caught.value.rule == "key"
    assert "expected 60" in str(caught.value)
    # Other matricules keep their computed key.
    assert parse_matricule("297022A02077878", published_keys=published).key == 78


def test_fr_core_example_is_not_a_valid_nir() -> None:
    # docs/reference/insi-teleservice.md §11: FR Core's example value 123456789012244 must not be
    # reused as a positive
    # fixture; its key would be 12 (and month 45 is no month).
    assert nir_key("1234567890122") == 12
    with pytest.raises(MatriculeError):
        parse_matricule("123456789012244", strict=False)
    assert not stdnum_nir.is_valid("123456789012244")


def test_parse_matricule_lenient() -> None:
    assert parse_matricule("2973063220778", strict=False).month == 30
    assert parse_matricule("2970220220778", strict=False).department == "20"
    with pytest.raises(MatriculeError):
        parse_matricule("2971363220778", strict=False)


def test_nia_has_the_nir_layout() -> None:
    # PROVISOIRE / MATRICULE: a NIA (OID .9) with a NIR-shaped number and key.
    parts = parse_matricule("109076322088835")
    assert parts.key == 35
    assert oid_for(9) == OID_NIA == "1.2.250.1.213.1.4.9"
    assert oid_for(8) == OID_NIR


def test_inconsistencies() -> None:
    traits = dict(sex="M", birth_date=date(2009, 7, 14), birthplace="63220")
    assert inconsistencies("1090763220834", **traits) == []
    # ECETINSI's earlier matricule carried the other sex digit.
    assert inconsistencies("2090763220834", **traits) == ["sex"]
    assert inconsistencies("2090663220123", **traits) == ["sex", "month"]
    assert inconsistencies("1100863220830", **traits) == ["year", "month"]
    assert inconsistencies("1090799352834", **traits) == ["birthplace"]

"""National identifiers typed on the login page (docs/reference/pro-sante-connect.md §13, §15.1)."""

from __future__ import annotations

import pytest

from santeid.directory.demo import demo_professionals
from santeid.psc.national_id import MAX_LENGTH
from santeid.psc.national_id import NationalId
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id


@pytest.mark.parametrize(
    ("typed", "value", "id_type", "kind", "local_id"),
    [
        ("810000000001", "810000000001", "8", "RPPS", "10000000001"),
        ("0999500012", "0999500012", "0", "ADELI", "999500012"),
        # An IGC-Santé test card's holder (docs/reference/insi-teleservice.md §7).
        ("00B6087510", "00B6087510", "0", "ADELI", "0B6087510"),
        ("30B6900011/ADM0107", "30B6900011/ADM0107", "3", "FINESS", "0B6900011/ADM0107"),
        (
            "500000010900017/SEC0042",
            "500000010900017/SEC0042",
            "5",
            "SIRET",
            "00000010900017/SEC0042",
        ),
        ("ANS20240115093000", "ANS20240115093000", "ANS", "TEST", "20240115093000"),
    ],
)
def test_each_identifier_type_is_recognised(typed, value, id_type, kind, local_id):
    parsed = parse_national_id(typed)
    assert parsed == NationalId(value=value, id_type=id_type, kind=kind, local_id=local_id)
    # The RASS invariant "Identification nationale = type + identifiant"
    # (docs/reference/pro-sante-connect.md §15.2).
    assert parsed.value == parsed.id_type + parsed.local_id
    assert str(parsed) == value


@pytest.mark.parametrize(
    "typed",
    [
        "  810000000001  ",
        "8 10 000 000 001",
        "8 1000 0000 001",
        "\t810000000001\n",
        "8\u00a010000000001",  # non-breaking space, as pasted from a PDF or web page
        "8\u202f10000000001",  # narrow no-break space, French typography's thousands separator
    ],
)
def test_spaces_around_and_between_groups_are_removed(typed):
    assert parse_national_id(typed).value == "810000000001"


def test_structure_staff_ids_expose_structure_and_internal_id():
    finess = parse_national_id("30B6900011/ADM0107")
    assert (finess.structure_id, finess.internal_id) == ("0B6900011", "ADM0107")
    siret = parse_national_id("500000010900017/SEC0042")
    assert (siret.structure_id, siret.internal_id) == ("00000010900017", "SEC0042")
    rpps = parse_national_id("810000000001")
    assert (rpps.structure_id, rpps.internal_id) == ("", "")


def test_finess_is_upper_cased_but_the_internal_id_keeps_its_case():
    # FINESS numbers are upper case (2A/2B in Corsica); the structure's own id is its business.
    assert parse_national_id("32a0000012/Dr.Lee-1").value == "32A0000012/Dr.Lee-1"


def test_adeli_is_upper_cased_as_finess():
    assert parse_national_id("00b6087510").value == "00B6087510"


def test_edit_prefix_is_case_insensitive():
    assert parse_national_id("ans20240115093000").value == "ANS20240115093000"


def test_luhn_key_is_not_checked():
    """Test identities need not carry a valid RPPS key (the demo ids deliberately do not)."""
    assert parse_national_id("810000000001").kind == "RPPS"
    assert parse_national_id("810000000009").kind == "RPPS"  # its Luhn key is valid: also fine


ERRORS = [
    (None, "empty"),
    ("", "empty"),
    ("   \u00a0 ", "empty"),
    ("8" * (MAX_LENGTH + 1), "too_long"),
    ("5" + "0" * 14 + "/" + "A" * MAX_LENGTH, "too_long"),
    ("x" * 5000, "too_long"),
    ("8100000000O1", "non_digit"),  # letter O typed for a zero
    ("8100-0000-0001", "non_digit"),
    ("0999-500-012", "adeli_format"),
    ("00B60875\u00e910", "adeli_format"),
    ("0\u00df1234567", "adeli_format"),  # "ß" would be "SS" upper-cased: 10 characters
    ("81000000001", "rpps_length"),
    ("8100000000011", "rpps_length"),
    ("8", "rpps_length"),
    ("10000000001", "rpps_missing_prefix"),
    ("1 0000 0000 01", "rpps_missing_prefix"),
    ("99700427885", "rpps_missing_prefix"),
    ("099950001", "adeli_missing_prefix"),
    ("999500012", "adeli_missing_prefix"),
    ("0999", "adeli_length"),
    ("09995000123", "adeli_length"),
    ("30B6900011", "staff_format"),
    ("30B6900011/", "staff_format"),
    ("500000010900017", "staff_format"),
    ("30B69/ADM0107", "finess_format"),
    ("30B6900011X/ADM0107", "finess_format"),
    ("5123/SEC0042", "siret_format"),
    ("50000001090001A/SEC0042", "siret_format"),
    ("500000010900017/SEC<42>", "internal_id_format"),
    ("500000010900017/SEC/42", "internal_id_format"),
    ("ANS2024", "test_id_format"),
    ("ANS2024011509300A", "test_id_format"),
    ("ANS202401150930001", "test_id_format"),
    ("7123456789", "unknown_prefix"),
    # legacy RASS person type 2 (docs/reference/pro-sante-connect.md §15.1)
    ("2630000000001", "unknown_prefix"),
    ("DR HOUSE", "unknown_prefix"),
]


@pytest.mark.parametrize(("typed", "code"), ERRORS)
def test_invalid_identifiers_are_refused_with_a_precise_code(typed, code):
    with pytest.raises(NationalIdError) as caught:
        parse_national_id(typed)
    error = caught.value
    assert error.code == code
    # Both languages are written for the person at the keyboard, and they differ.
    assert error.message_fr and error.message_en and error.message_fr != error.message_en


def test_every_documented_code_is_produced():
    documented = {
        "empty",
        "too_long",
        "non_digit",
        "rpps_length",
        "rpps_missing_prefix",
        "adeli_length",
        "adeli_missing_prefix",
        "adeli_format",
        "staff_format",
        "finess_format",
        "siret_format",
        "internal_id_format",
        "test_id_format",
        "unknown_prefix",
    }
    assert {code for _, code in ERRORS} == documented
    for code in documented:
        assert code in parse_national_id.__doc__


def test_missing_prefix_message_gives_the_identifier_to_type():
    """The real PSC FAQ's most common mistake: the bare RPPS number
    (docs/reference/pro-sante-connect.md §13)."""
    with pytest.raises(NationalIdError) as caught:
        parse_national_id("10000000001")
    assert "810000000001" in caught.value.message_fr
    assert "810000000001" in caught.value.message_en
    assert "préfixe 8" in caught.value.message_fr
    assert "prefix 8" in caught.value.message_en


def test_rpps_length_message_states_the_rule():
    with pytest.raises(NationalIdError) as caught:
        parse_national_id("8100000001")
    message = caught.value.message_fr
    assert (
        "l'identifiant rpps doit compter 12 chiffres : le préfixe 8 suivi des 11 chiffres "
        "du numéro rpps" in message.lower()
    )
    assert "saisi 10" in message  # how many digits were typed
    assert "12 digits" in caught.value.message_en


def test_non_digit_message_names_the_offending_character():
    with pytest.raises(NationalIdError) as caught:
        parse_national_id("8100000000O1")
    assert "« O »" in caught.value.message_fr
    assert "'O'" in caught.value.message_en


def test_error_is_a_value_error_with_the_english_message_and_a_language_switch():
    with pytest.raises(ValueError, match="Enter your national identifier"):
        parse_national_id("")
    try:
        parse_national_id("")
    except NationalIdError as exc:
        assert exc.message("en") == exc.message_en
        assert exc.message("en-GB") == exc.message_en
        assert exc.message("fr") == exc.message_fr
        assert exc.message("de") == exc.message_fr  # the login page is French first


def test_every_demo_identifier_is_valid_and_normalised():
    for professional in demo_professionals():
        parsed = parse_national_id(professional.national_id)
        assert parsed.value == professional.national_id
        assert (parsed.id_type, parsed.local_id) == (professional.id_type, professional.local_id)

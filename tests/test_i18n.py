"""The one message catalogue (``santeid.i18n``): French and English say the same things; the
language a page is written in (tests/test_login_page_languages.py shows it on a real server)."""

from __future__ import annotations

import re
import string

import pytest

from santeid.i18n import MESSAGES
from santeid.i18n import SUPPORTED
from santeid.i18n import pick_locale


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_french_and_english_have_the_same_keys():
    assert set(SUPPORTED) == set(MESSAGES)
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])


def test_both_languages_fill_the_same_placeholders():
    for key, french in MESSAGES["fr"].items():
        assert _fields(french) == _fields(MESSAGES["en"][key]), key


def test_every_error_code_for_people_has_its_message():
    """The codes ``CardError`` and ``NationalIdError`` are documented with each have text."""
    from santeid.cps import cards
    from santeid.psc import national_id

    card_codes = re.findall(r"``(\w+)``", cards.CardError.__doc__.split("Codes:")[1])
    id_codes = re.findall(r"``(\w+)``", national_id.parse_national_id.__doc__.split("codes")[1])
    assert card_codes and id_codes
    for code in card_codes:
        assert f"card.{code}" in MESSAGES["fr"], code
    for code in id_codes:
        key = f"national_id.{code}"
        variants = [k for k in MESSAGES["fr"] if k == key or k.startswith(key + "_")]
        assert variants, code


def test_no_french_text_puts_de_before_a_name():
    """French elides "de" before a vowel: "le téléphone de ANTOINE" reads as a mistake
    ("d'ANTOINE"), and whether a name takes the elision is not known in advance (a mute or
    an aspirated h). Names follow "pour", or guillemets ("la e-CPS de « … »"). The admin
    console adds its texts to the catalogue when imported."""
    import santeid.admin.messages  # noqa: F401 - its texts join MESSAGES

    offending = {key: text for key, text in MESSAGES["fr"].items() if re.search(r"\bde \{", text)}
    assert offending == {}


@pytest.mark.parametrize(
    ("ui_locales", "kc_locale", "language"),
    [
        (None, None, "fr"),
        ("en", None, "en"),
        ("de en", None, "en"),  # the first language santeid offers
        ("de", None, "fr"),  # a list offering nothing is no choice
        ("de fr", "en", "en"),  # the user's kc_locale before the client's list
        ("en", "fr", "fr"),
        ("EN-gb", None, "en"),  # a tag is matched on its language, without case
        (None, "de", "fr"),  # nothing offered: French, PSC's default
    ],
)
def test_the_page_language_comes_from_the_user_then_the_client(ui_locales, kc_locale, language):
    """``DefaultLocaleSelectorProvider``'s order (docs/reference/keycloak-behaviour.md,
    "Login pages"), less the user's profile and the locale cookie santeid does not keep, and
    the browser's ``Accept-Language``, which santeid does not read."""
    assert pick_locale(ui_locales, kc_locale) == language

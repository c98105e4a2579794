"""Identity traits: normalisation to the INSi character set and validation (RNIV / INSi rules).

The five *traits INS* are the birth name, the list of birth given names, the sex, the birth date
and the COG code of the birthplace (docs/reference/insi-teleservice.md §12 "RNIV identity rules").
The INSi teleservice
rejects any alphanumeric datum containing lower case, diacritics (accents, diaereses, cedillas) or
ligatures (Æ, Œ); the accepted set is A-Z, space, apostrophe (ASCII 39), hyphen and double hyphen
(ASCII 45); the first character is neither a space nor a hyphen (an apostrophe is allowed first);
a space and an apostrophe can be neither doubled nor combined (SEL-MP-043 §2 and §3.4.1,
EF_INS01_03, EF_INS10_01, EF_INS10_02, quoted in docs/reference/insi-teleservice.md §12).  Given
names take no double hyphen
and do not end with a hyphen or an apostrophe.

Two families of pure functions live here:

* ``normalize_*`` turn a civil-status spelling ("Lefèvre", "de La Fontaine", "Lætitia",
  "N’Diaye") into the INSi form ("LEFEVRE", "DE LA FONTAINE", "LAETITIA", "N'DIAYE").  This is
  what a health software does before calling INSi, and what the synthetic base stores next to the
  raw form.
* ``validate_*`` check a value that claims to be in INSi form already, as the teleservice does on
  its input, and raise :class:`TraitError` naming the field and the :class:`Rule` broken.  They
  never repair anything.

Every rule has a stable identifier (:class:`Rule`); ``docs/civil-status.md`` maps each to its
source.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

# -- fields -----------------------------------------------------------------------------------

BIRTH_NAME = "birth_name"
GIVEN_NAMES = "given_names"
FIRST_GIVEN_NAME = "first_given_name"
SEX = "sex"
BIRTH_DATE = "birth_date"
BIRTHPLACE = "birthplace"

#: INSi element carrying each field (docs/reference/insi-teleservice.md §4 ``RECSANSVITALE`` and §5
#: ``TIQ``), so protocol
#: layers can turn a :class:`TraitError` into a message that names what the client actually sent.
FIELD_ELEMENTS: dict[str, str] = {
    BIRTH_NAME: "NomNaissance",
    GIVEN_NAMES: "ListePrenom",
    FIRST_GIVEN_NAME: "Prenom",
    SEX: "Sexe",
    BIRTH_DATE: "DateNaissance",
    BIRTHPLACE: "LieuNaissance",
}

#: Longest name accepted.  INSi's own limits are not public (docs/reference/insi-teleservice.md
#: §12); the INS Datamatrix allows
#: 1-100 characters for names, so anything longer could not be printed on a patient's label anyway.
MAX_NAME_LENGTH = 100


class Rule(StrEnum):
    """Identifier of each rule checked; the value is what :class:`TraitError` carries."""

    #: The trait is mandatory here and is missing or empty.
    REQUIRED = "required"
    #: Longer than :data:`MAX_NAME_LENGTH` (Datamatrix INS §5 bound; INSi limits not public).
    LENGTH = "length"
    #: Lower-case letter (SEL-MP-043 §3.4.1: "minuscules").
    LOWERCASE = "lowercase"
    #: Accent, diaeresis, cedilla… (SEL-MP-043 §3.4.1: "signes diacritiques").
    DIACRITIC = "diacritic"
    #: Æ or Œ (SEL-MP-043 §3.4.1: "ligatures (Æ, Œ)").
    LIGATURE = "ligature"
    #: Any other character outside A-Z, space, apostrophe, hyphen (digits, punctuation…).
    CHARSET = "charset"
    #: Name made only of separators.
    NO_LETTER = "no-letter"
    #: First character is a space or a hyphen (an apostrophe is allowed).
    FIRST_CHARACTER = "first-character"
    #: Last character is a space (both names), a hyphen (both names) or an apostrophe (given names).
    LAST_CHARACTER = "last-character"
    #: Space or apostrophe doubled, or a space next to an apostrophe.
    SPACE_APOSTROPHE = "space-apostrophe"
    #: More than two hyphens in a row (birth name) or a double hyphen in a given name.
    HYPHEN_RUN = "hyphen-run"
    #: First given name not coherent with the list of given names (RNIV EXI ID 10).
    FIRST_GIVEN_NAME = "first-given-name"
    #: Sex other than ``M`` / ``F`` (INSi returns only these, EF_INS25_04).
    SEX = "sex"
    #: Date not written ``AAAA-MM-JJ`` (XSD type ``DateLunaire``).
    DATE_FORMAT = "date-format"
    #: ``AAAA-MM-JJ`` but not a calendar date (``00`` day or month, 30 February…).
    DATE_VALUE = "date-value"
    #: Date after the reference day, or before 1800.
    DATE_RANGE = "date-range"
    #: Birthplace not a 5-character COG code (``\\d{5}``, ``2A\\d{3}``, ``2B\\d{3}``).
    COG_FORMAT = "cog-format"
    #: Well-formed COG code that cannot be a birthplace (``00xxx``, ``99100`` = France itself).
    COG_VALUE = "cog-value"


class TraitError(ValueError):
    """A trait breaks a rule: ``field`` is one of the module's field names, ``rule`` a
    :class:`Rule`, ``message`` a human explanation."""

    def __init__(self, field: str, rule: Rule, message: str) -> None:
        super().__init__(f"{field}: {message} [{rule}]")
        self.field = field
        self.rule = rule
        self.message = message

    @property
    def element(self) -> str:
        """The INSi element name of the field (``NomNaissance``…)."""
        return FIELD_ELEMENTS.get(self.field, self.field)


@dataclass(frozen=True, slots=True)
class Traits:
    """Validated traits in INSi form.  ``given_names`` is the list; ``first_given_name`` its head
    unless a coherent one was supplied (EXI ID 10)."""

    birth_name: str
    given_names: tuple[str, ...]
    first_given_name: str
    sex: str
    birth_date: date
    birthplace: str | None = None

    @property
    def given_names_text(self) -> str:
        """``ListePrenom`` as INSi sends it: the given names separated by single spaces."""
        return " ".join(self.given_names)


# -- normalisation ----------------------------------------------------------------------------

# Letters NFKD leaves alone because Unicode does not see them as "letter + accent": ligatures and
# stroked letters.  Œ/Æ are the two the INSi rule names; the others turn up in foreign civil-status
# spellings (Polish Ł, Scandinavian Ø, German ß, Vietnamese Đ, Turkish dotless ı, Icelandic Þ/Ð).
_SPECIAL_LETTERS = str.maketrans(
    {
        "Œ": "OE",
        "œ": "OE",
        "Æ": "AE",
        "æ": "AE",
        "ß": "SS",
        "ẞ": "SS",
        "Ø": "O",
        "ø": "O",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Ð": "D",
        "ð": "D",
        "Þ": "TH",
        "þ": "TH",
        "ı": "I",
        "Ŀ": "L",
        "ŀ": "L",
        # Catalan middle dot (Col·lell): not a separator, just dropped.
        "·": "",
    }
)
# Typographic apostrophes and hyphens that word processors substitute for ASCII 39 / 45.
_APOSTROPHES = "\u2019\u2018\u02bc\u0060\u00b4\u2032\u02b9"
_HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad"
_PUNCTUATION = str.maketrans({**dict.fromkeys(_APOSTROPHES, "'"), **dict.fromkeys(_HYPHENS, "-")})

_INSI_NAME = re.compile(r"[A-Z' -]+")
_SPACES = re.compile(r"\s+")
_AROUND_HYPHEN = re.compile(r" *(-+) *")
_AROUND_APOSTROPHE = re.compile(r" *('+) *")
_LONG_HYPHEN_RUN = re.compile(r"-{3,}")
_TRAILING_GIVEN = re.compile(r"[-']+$")


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_name(text: str, *, given: bool = False, field: str | None = None) -> str:
    """Turn a civil-status spelling into the INSi form of a name.

    Steps (each one a rule of docs/reference/insi-teleservice.md §12, applied so that the result
    passes :func:`validate_name`):

    1. ligatures and stroked letters spelled out (Œ→OE, Æ→AE, ß→SS, Ø→O, Ł→L…), then accents,
       diaereses and cedillas removed (NFKD decomposition, combining marks dropped);
    2. upper case;
    3. typographic apostrophes (’ ‘ ʼ) become ASCII 39, typographic dashes ASCII 45, any white space
       a plain space;
    4. runs of spaces collapse to one, spaces at both ends go;
    5. spaces next to a hyphen or an apostrophe go ("D' ARTAGNAN" → "D'ARTAGNAN",
       "JEAN - PIERRE" → "JEAN-PIERRE"): a space cannot be combined with an apostrophe, and a
       space around a hyphen is never meaningful;
    6. doubled apostrophes collapse; hyphen runs are cut to ``--`` in a birth name (the double
       hyphen of double family names) and to ``-`` in a given name (no ``--`` there);
    7. hyphens (and, for given names, apostrophes) at either end go: they carry no information and
       the position rules forbid them.

    Digits and any other character (``.``, ``,``, ``/``…) cannot be transliterated: they raise
    :class:`TraitError` with :attr:`Rule.CHARSET`, as would an empty result (:attr:`Rule.REQUIRED`).
    The result is then checked with :func:`validate_name`.
    """
    field = field or (GIVEN_NAMES if given else BIRTH_NAME)
    value = _strip_marks(text).upper().translate(_PUNCTUATION)
    value = _SPACES.sub(" ", value).strip()
    value = _AROUND_HYPHEN.sub(lambda m: m.group(1), value)
    value = _AROUND_APOSTROPHE.sub("'", value)
    if given:
        # A leading apostrophe is allowed; a trailing one is not (given names only).
        value = _TRAILING_GIVEN.sub("", re.sub(r"-{2,}", "-", value)).lstrip("-")
    else:
        value = _LONG_HYPHEN_RUN.sub("--", value).strip("-")
    if not value:
        raise TraitError(field, Rule.REQUIRED, f"nothing left of {text!r} once normalised")
    if not _INSI_NAME.fullmatch(value):
        bad = sorted({c for c in value if not _INSI_NAME.fullmatch(c)})
        raise TraitError(
            field, Rule.CHARSET, f"{text!r} contains characters INSi refuses: {''.join(bad)!r}"
        )
    return validate_name(value, field=field, given=given)


def normalize_given_names(value: str | Sequence[str]) -> tuple[str, ...]:
    """Normalise a list of given names into the INSi list (a tuple of single given names).

    A string is split on commas (the civil-status separator: "Jean-François, Marie, Joseph") and
    on white space (the INSi separator).  A given name written with an inner space in a civil
    record ("Marie Claire") therefore becomes two list items, exactly as it would read in
    ``ListePrenom``: the list is space-separated, so an inner space cannot survive.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not item.strip():
            continue
        names.extend(normalize_name(item, given=True).split(" "))
    if not names:
        raise TraitError(GIVEN_NAMES, Rule.REQUIRED, "at least one given name is required")
    return tuple(names)


def normalize_sex(value: str) -> str:
    """``m``/``f``, ``H`` (homme) → ``M``/``F``; anything else is refused (:func:`validate_sex`)."""
    text = value.strip().upper()
    return validate_sex({"H": "M"}.get(text, text))


def normalize_birthplace(value: str) -> str:
    """Upper-case and trim a COG code (``2a020`` → ``2A020``), then validate it."""
    return validate_birthplace(value.strip().upper())


def compact_name(name: str) -> str:
    """The name without its separators: ``DE VINCI``, ``DE-VINCI`` and ``DEVINCI`` → ``DEVINCI``.

    A candidate key for a tolerant matching policy; INSi's real matching rule is not public
    (docs/reference/insi-teleservice.md §5, §15).
    """
    return name.replace(" ", "").replace("-", "").replace("'", "")


# -- validation -------------------------------------------------------------------------------


def validate_name(value: str, *, field: str = BIRTH_NAME, given: bool = False) -> str:
    """Check that ``value`` is a name in INSi form; return it unchanged or raise
    :class:`TraitError`.

    ``given`` selects the given-name rules (no ``--``, no final hyphen or apostrophe); a given-name
    *list* is checked with :func:`validate_given_names`.
    """
    if not value:
        raise TraitError(field, Rule.REQUIRED, "must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise TraitError(field, Rule.LENGTH, f"longer than {MAX_NAME_LENGTH} characters")
    if not _INSI_NAME.fullmatch(value):
        _raise_charset(field, value)
    if not any("A" <= c <= "Z" for c in value):
        raise TraitError(field, Rule.NO_LETTER, f"{value!r} contains no letter")
    if value[0] in " -":
        raise TraitError(
            field, Rule.FIRST_CHARACTER, "the first character can be neither a space nor a hyphen"
        )
    last_forbidden = " -'" if given else " -"
    if value[-1] in last_forbidden:
        raise TraitError(field, Rule.LAST_CHARACTER, f"the last character cannot be {value[-1]!r}")
    for pair in ("  ", "''", "' ", " '"):
        if pair in value:
            raise TraitError(
                field,
                Rule.SPACE_APOSTROPHE,
                f"{value!r}: a space and an apostrophe can be neither doubled nor combined",
            )
    if given and "--" in value:
        raise TraitError(field, Rule.HYPHEN_RUN, "a given name takes no double hyphen")
    if "---" in value:
        raise TraitError(field, Rule.HYPHEN_RUN, "at most two hyphens in a row (double hyphen)")
    return value


def _raise_charset(field: str, value: str) -> None:
    # Name the most specific rule, in the order the INSi text lists them.
    for c in value:
        if c in "ŒÆœæ":
            raise TraitError(field, Rule.LIGATURE, f"ligature {c!r} is refused (write OE / AE)")
    for c in value:
        if unicodedata.combining(c) or unicodedata.normalize("NFD", c) != c:
            raise TraitError(field, Rule.DIACRITIC, f"diacritic in {c!r} is refused")
    for c in value:
        if c.islower():
            raise TraitError(field, Rule.LOWERCASE, f"lower-case {c!r} is refused")
    bad = "".join(sorted({c for c in value if not _INSI_NAME.fullmatch(c)}))
    raise TraitError(
        field, Rule.CHARSET, f"only A-Z, space, apostrophe and hyphen are allowed, not {bad!r}"
    )


def validate_given_names(value: str | Sequence[str]) -> tuple[str, ...]:
    """Check a given-name list (``ListePrenom``: names separated by single spaces, or a sequence).

    Each item follows the given-name rules; the whole text follows the space rules.
    """
    text = value if isinstance(value, str) else " ".join(value)
    if not text:
        raise TraitError(GIVEN_NAMES, Rule.REQUIRED, "at least one given name is required")
    validate_name(text, field=GIVEN_NAMES, given=True)
    return tuple(text.split(" "))


def first_given_name_consistent(first: str, given_names: Sequence[str] | str) -> bool:
    """RNIV EXI ID 10: the first given name must match the start of the list, hyphens and
    apostrophes being equivalent to spaces ("JEAN-CHRISTOPHE" is coherent with
    "JEAN CHRISTOPHE PIERRE").  A match must end on a word boundary ("JEAN" is not the start
    of "JEANNE")."""
    listed = given_names if isinstance(given_names, str) else " ".join(given_names)
    head = re.sub(r"[-']+", " ", first)
    body = re.sub(r"[-']+", " ", listed)
    return body == head or body.startswith(head + " ")


def validate_sex(value: str) -> str:
    """``M`` or ``F`` only (EF_INS25_04: INSi returns only these two)."""
    if value not in ("M", "F"):
        raise TraitError(SEX, Rule.SEX, f"sex must be 'M' or 'F', not {value!r}")
    return value


#: ASCII digits: ``\d`` also takes other scripts' digits ("１９８０-01-01"), which
#: ``date.fromisoformat`` refuses — a format error, not a date that does not exist.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def validate_birth_date(value: str | date, *, today: date | None = None) -> date:
    """A birth date written ``AAAA-MM-JJ`` (XSD ``DateLunaire``), a real calendar day, not after
    ``today`` (when given) nor before 1800.

    ``00`` for an unknown day or month is refused: the RNIV completes incomplete dates instead
    (EXI ID 11, see :func:`complete_birth_date`); whether INSi accepts ``00`` is not public.
    """
    if isinstance(value, date):
        parsed = value
    else:
        if not _ISO_DATE.fullmatch(value or ""):
            raise TraitError(BIRTH_DATE, Rule.DATE_FORMAT, f"{value!r} is not AAAA-MM-JJ")
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise TraitError(
                BIRTH_DATE, Rule.DATE_VALUE, f"{value!r} is not a calendar date"
            ) from None
    if parsed.year < 1800:
        raise TraitError(BIRTH_DATE, Rule.DATE_RANGE, f"{parsed.isoformat()} is before 1800")
    if today is not None and parsed > today:
        raise TraitError(BIRTH_DATE, Rule.DATE_RANGE, f"{parsed.isoformat()} is in the future")
    return parsed


def complete_birth_date(year: int, month: int | None = None, day: int | None = None) -> date:
    """RNIV EXI ID 11: day unknown → the 1st; month unknown → January; both unknown →
    31 December."""
    if month is None and day is None:
        return date(year, 12, 31)
    return date(year, month or 1, day or 1)


_COG = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")


def validate_birthplace(value: str) -> str:
    """A 5-character COG code: commune (``01001``, ``2A004``, ``97411``) or ``99xxx`` country.

    Only the shape is checked: a birthplace must be the COG valid *at the birth date*
    (docs/reference/insi-teleservice.md §12, §14), which needs historical COG files this module does
    not have.
    """
    if not _COG.fullmatch(value or ""):
        raise TraitError(BIRTHPLACE, Rule.COG_FORMAT, f"{value!r} is not a 5-character COG code")
    if value.startswith("00") or value == "99100":
        raise TraitError(BIRTHPLACE, Rule.COG_VALUE, f"{value!r} cannot be a birthplace")
    return value


def validate_traits(
    *,
    birth_name: str,
    given_names: str | Sequence[str],
    sex: str,
    birth_date: str | date,
    birthplace: str | None = None,
    first_given_name: str | None = None,
    today: date | None = None,
) -> Traits:
    """Validate traits already in INSi form; raise :class:`TraitError` on the first broken rule.

    ``birthplace`` is optional as in ``RECSANSVITALE`` (docs/reference/insi-teleservice.md §4).
    ``first_given_name`` defaults
    to the head of the list and otherwise must be coherent with it (EXI ID 10).
    """
    name = validate_name(birth_name, field=BIRTH_NAME)
    names = validate_given_names(given_names)
    if first_given_name is None:
        first = names[0]
    else:
        first = validate_name(first_given_name, field=FIRST_GIVEN_NAME, given=True)
        if not first_given_name_consistent(first, names):
            raise TraitError(
                FIRST_GIVEN_NAME,
                Rule.FIRST_GIVEN_NAME,
                f"{first!r} is not the start of the given-name list {' '.join(names)!r}",
            )
    return Traits(
        birth_name=name,
        given_names=names,
        first_given_name=first,
        sex=validate_sex(sex),
        birth_date=validate_birth_date(birth_date, today=today),
        birthplace=None if birthplace is None else validate_birthplace(birthplace),
    )


def normalize_traits(
    *,
    birth_name: str,
    given_names: str | Sequence[str],
    sex: str,
    birth_date: str | date,
    birthplace: str | None = None,
    first_given_name: str | None = None,
    today: date | None = None,
) -> Traits:
    """Normalise civil-status spellings (names, sex, COG case), then validate as
    :func:`validate_traits`.  The date is not repaired: a wrong date is an error, not a spelling."""
    names = normalize_given_names(given_names)
    return validate_traits(
        birth_name=normalize_name(birth_name),
        given_names=names,
        sex=normalize_sex(sex),
        birth_date=birth_date,
        birthplace=None if birthplace is None else normalize_birthplace(birthplace),
        first_given_name=None
        if first_given_name is None
        else normalize_name(first_given_name, given=True, field=FIRST_GIVEN_NAME),
        today=today,
    )

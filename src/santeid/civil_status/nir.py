"""NIR and NIA: construction, parsing and control key (docs/reference/insi-teleservice.md §11).

A matricule INS is 13 characters followed by a 2-digit key::

    1  sex           1 male, 2 female
    2-3  year        last two digits of the birth year
    4-5  month       01-12 (pseudo-months for incomplete civil records: lenient mode only)
    6-10 birthplace  the 5-character COG of the birthplace: département (01-95, 2A, 2B) + commune,
                     97x/98x + 2-digit commune overseas, or 99 + country code for births abroad
    11-13 order      order number in the birth register, 001-999
    14-15 key        97 - (N mod 97), N being the 13 characters read as a number once 2A is
                     replaced by 19 and 2B by 18

The NIA (numéro identifiant d'attente) given to people born abroad pending certification "est
constitué comme un NIR": same layout and key; only its OID differs (``1.2.250.1.213.1.4.9``).

The key is computed here rather than through ``stdnum.fr.nir``: it is three lines, it is on the
generator's hot path (one call per person and per history entry) and the test suite uses
python-stdnum as an *independent* oracle, which it could not be if the code called it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

#: OIDs of the INS identifier systems (docs/reference/insi-teleservice.md §10).
OID_PREFIX = "1.2.250.1.213.1.4."
OID_NIR = OID_PREFIX + "8"
OID_NIA = OID_PREFIX + "9"
OID_NIR_TEST = OID_PREFIX + "10"
OID_NIR_DEMO = OID_PREFIX + "11"

#: Last arc of each OID, as stored in the civil-status base to keep rows small.
OID_ARC_NIR = 8
OID_ARC_NIA = 9
OID_ARC_NIR_TEST = 10
OID_ARC_NIR_DEMO = 11

NIR = "NIR"
NIA = "NIA"


def oid_for(arc: int) -> str:
    """Full OID from the last arc stored in the base (8 → ``1.2.250.1.213.1.4.8``)."""
    return f"{OID_PREFIX}{arc}"


class MatriculeError(ValueError):
    """A matricule is malformed; ``rule`` names the part that is wrong."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{message} [{rule}]")
        self.rule = rule
        self.message = message


_CORSICA = {"2A": "19", "2B": "18"}


def nir_key(number: str) -> int:
    """Control key (1-97) of a 13-character NIR or NIA.

    ``97 - (N mod 97)`` after replacing ``2A`` by ``19`` and ``2B`` by ``18`` in positions 6-7
    ("Pour la Corse, remplacer 2A par 19 et 2B par 18", CNAM ``NirKey.php``,
    docs/reference/insi-teleservice.md §11).
    """
    if len(number) != 13:
        raise MatriculeError("length", f"{number!r}: a matricule has 13 characters")
    department = number[5:7]
    digits = number[:5] + _CORSICA.get(department, department) + number[7:]
    if not digits.isdigit() or not digits.isascii():
        raise MatriculeError("format", f"{number!r}: only digits, and 2A/2B in positions 6-7")
    return 97 - int(digits) % 97


def format_key(key: int) -> str:
    """The key as INSi writes it (``Cle``, pattern ``[0-9]{2}``)."""
    return f"{key:02d}"


def build_matricule(sex: str, birth_date: date, birthplace: str, order: int) -> str:
    """The 13 characters of a NIR (or NIA) for someone of this sex, birth date and birthplace.

    ``sex`` is ``M``/``F``; ``birthplace`` a 5-character COG: positions 6-10 of the matricule are
    the COG itself (département + commune, 97x + commune, or 99 + country).  ``order`` is the
    register order number, 1-999.
    """
    if sex not in ("M", "F"):
        raise MatriculeError("sex", f"sex must be 'M' or 'F', not {sex!r}")
    if not _PLACE.fullmatch(birthplace):
        raise MatriculeError("place", f"{birthplace!r} is not a 5-character COG code")
    if not 1 <= order <= 999:
        raise MatriculeError("order", f"order number {order} is outside 001-999")
    sex_digit = "1" if sex == "M" else "2"
    return f"{sex_digit}{birth_date.year % 100:02d}{birth_date.month:02d}{birthplace}{order:03d}"


@dataclass(frozen=True, slots=True)
class MatriculeParts:
    """A parsed matricule.  ``place`` is positions 6-10: the birthplace COG."""

    number: str
    key: int
    sex: str
    year2: int
    month: int
    place: str
    order: int

    @property
    def department(self) -> str:
        """``01``-``95``, ``2A``/``2B``, ``971``-``989`` overseas (3 digits), ``99`` abroad."""
        return self.place[:3] if self.place[:2] in ("97", "98") else self.place[:2]

    @property
    def commune(self) -> str:
        """Commune part of the place (2 digits overseas, 3 otherwise); country code abroad."""
        return self.place[len(self.department) :]

    @property
    def born_abroad(self) -> bool:
        return self.place.startswith("99")

    @property
    def value(self) -> str:
        """The 15-character identifier value (matricule + key), as in FHIR ``identifier.value``."""
        return self.number + format_key(self.key)

    def formatted(self) -> str:
        """Human display, ``2 97 02 2A 020 778 78``."""
        n = self.number
        return f"{n[0]} {n[1:3]} {n[3:5]} {n[5:7]} {n[7:10]} {n[10:13]} {format_key(self.key)}"


_PLACE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")
_SHAPE = re.compile(r"([0-9])([0-9]{2})([0-9]{2})([0-9]{2}|2[AB])([0-9]{3})([0-9]{3})([0-9]{2})?")
# CNAM's NirValidator.php accepts only sex 1/2, months 01-12; the 20-42 and 50+ pseudo-months of
# incomplete civil records are cited by a secondary source only (docs/reference/insi-teleservice.md
# §11, [Unconfirmed]).
_STRICT_MONTHS = frozenset(range(1, 13))
_LENIENT_MONTHS = _STRICT_MONTHS | frozenset(range(20, 43)) | frozenset(range(50, 100))


_NO_PUBLISHED_KEYS: Mapping[str, int] = MappingProxyType({})


def parse_matricule(
    text: str, *, strict: bool = True, published_keys: Mapping[str, int] = _NO_PUBLISHED_KEYS
) -> MatriculeParts:
    """Parse a 13-character matricule or a 15-character matricule + key (spaces ignored).

    Checks the shape, sex digit 1/2, month, département, order number and, when present, the key.
    ``strict`` follows the CNAM validator (months 01-12 only); ``strict=False`` also accepts the
    unconfirmed pseudo-months 20-42 and 50-99 and département ``20`` (Corsica before 1976,
    [Unconfirmed] in docs/reference/insi-teleservice.md §11) and ``96`` (Tunisia before
    independence).  The key of a
    13-character input is computed.

    ``published_keys`` maps matricules published with a key that does not verify to that key
    (``santeid.civil_status.test_identities.UNVERIFIED_KEYS``, docs/reference/insi-teleservice.md
    §9): for those, the published key is the one expected (and returned), the computed one is
    refused.
    """
    compact = text.replace(" ", "").upper()
    match = _SHAPE.fullmatch(compact)
    if not match:
        raise MatriculeError(
            "format", f"{text!r} is not 13 characters (+2 key digits) of the NIR layout"
        )
    sex, year2, month, department, commune, order, key = match.groups()
    if sex not in "12":
        raise MatriculeError("sex", f"{text!r}: first digit {sex} is neither 1 (man) nor 2 (woman)")
    if int(month) not in (_STRICT_MONTHS if strict else _LENIENT_MONTHS):
        raise MatriculeError("month", f"{text!r}: month {month} is not a valid month")
    allowed_special = ("20", "96") if not strict else ()
    if department == "00" or (department in ("20", "96") and department not in allowed_special):
        raise MatriculeError("department", f"{text!r}: département {department} is not used")
    if order == "000":
        raise MatriculeError("order", f"{text!r}: order number 000 is not used")
    number = compact[:13]
    expected = published_keys.get(number)
    if expected is None:
        expected = nir_key(number)
    if key is not None and int(key) != expected:
        raise MatriculeError(
            "key", f"{text!r}: key {key} does not match the number (expected {expected:02d})"
        )
    return MatriculeParts(
        number=number,
        key=expected,
        sex="M" if sex == "1" else "F",
        year2=int(year2),
        month=int(month),
        place=department + commune,
        order=int(order),
    )


def inconsistencies(matricule: str, *, sex: str, birth_date: date, birthplace: str) -> list[str]:
    """Which traits the matricule contradicts (empty list = consistent).

    Compares the sex digit, the two-digit year, the month and positions 6-10 with the birthplace
    COG.  Real matricules may legitimately disagree (a corrected sex or birthplace keeps the old
    number, some test identities do), so this is a diagnostic, not a validation rule.
    """
    parts = parse_matricule(matricule, strict=False)
    problems = []
    if parts.sex != sex:
        problems.append("sex")
    if parts.year2 != birth_date.year % 100:
        problems.append("year")
    if parts.month != birth_date.month:
        problems.append("month")
    if parts.place != birthplace:
        problems.append("birthplace")
    return problems

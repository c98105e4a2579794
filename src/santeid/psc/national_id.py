"""National identifiers typed on the Pro Santé Connect login page.

A professional identifies with ``nationalId = idType + id`` (docs/reference/pro-sante-connect.md
§15.1):

======  ========  ==========================================================
type    kind      shape
======  ========  ==========================================================
``8``   RPPS      ``8`` + the 11-digit RPPS number (12 digits)
``0``   ADELI     ``0`` + the ADELI number: 9 digits or capital letters, as FINESS
                  (``00B6087510``, an IGC-Santé test card's holder,
                  docs/reference/insi-teleservice.md §7)
``3``   FINESS    ``3`` + FINESS (9 characters) + ``/`` + id given by the structure
``5``   SIRET     ``5`` + SIRET (14 digits) + ``/`` + id given by the structure
``ANS`` TEST      ``ANS`` + 14 digits: EDIT sandbox identities (docs/reference/pro-sante-connect.md
§13)
======  ========  ==========================================================

The person types ``1`` and ``2`` seen in the RASS extract are legacy and unconfirmed
(docs/reference/pro-sante-connect.md §15.1,
§20); they are refused as an unknown prefix.

The RPPS number carries a Luhn key, but the key is deliberately **not** checked: PSC documents no
such check, and test identities need not satisfy it (santeid's demo ids are Luhn-invalid on
purpose so that they can never be a real professional's number).

Error messages are written for the person at the keyboard, in French first (the PSC login page is
French) with an English twin; the ``code`` is stable for programs and tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from santeid.i18n import MessageError

#: Longest identifier accepted, after spaces are removed. Structure-staff ids are the longest
#: (``5`` + 14 + ``/`` + internal id); 64 leaves room for any internal id seen in practice.
MAX_LENGTH = 64

#: Input longer than this is refused before any processing (cheap guard against abuse).
_MAX_RAW_LENGTH = 1024

#: ``idType`` → ``kind``.
KINDS: dict[str, str] = {
    "8": "RPPS",
    "0": "ADELI",
    "3": "FINESS",
    "5": "SIRET",
    "ANS": "TEST",
}

_DIGITS = re.compile(r"[0-9]+")
_FINESS = re.compile(r"[0-9A-Z]{9}")
#: ADELI numbers: the characters of FINESS numbers (the IGC-Santé test cards' have letters),
#: either case when typed; ASCII only, so that upper-casing cannot change the length.
_ADELI = re.compile(r"[0-9A-Za-z]+")
_SIRET = re.compile(r"[0-9]{14}")
# The structure's internal id: letters, digits and a few separators; nothing that could be
# mistaken for markup or another id.
_INTERNAL_ID = re.compile(r"[A-Za-z0-9._-]+")


class NationalIdError(MessageError, ValueError):
    """The text typed is not a national identifier; ``code`` says why. The message, in French
    or English, is ``national_id.<code>`` of the message catalogue (``santeid.i18n``)."""

    PREFIX = "national_id"


@dataclass(frozen=True)
class NationalId:
    """A well-formed national identifier.

    ``value`` is the normalised identifier (``SubjectNameID`` / ``preferred_username`` in PSC
    claims), always ``id_type + local_id``.
    """

    value: str
    id_type: str
    kind: str
    local_id: str

    @property
    def structure_id(self) -> str:
        """FINESS or SIRET of a structure-staff id (types 3 and 5), else ``""``."""
        return self.local_id.split("/", 1)[0] if self.id_type in ("3", "5") else ""

    @property
    def internal_id(self) -> str:
        """The structure's own id of a staff member (types 3 and 5), else ``""``."""
        return self.local_id.split("/", 1)[1] if self.id_type in ("3", "5") else ""

    def __str__(self) -> str:
        return self.value


def _first_non_digit(text: str) -> str:
    return next(ch for ch in text if ch not in "0123456789")


def _non_digit(value: str, label: str) -> NationalIdError:
    bad = _first_non_digit(value)
    return NationalIdError("non_digit", label=label, bad=bad)


def parse_national_id(text: str | None) -> NationalId:
    """Validate and normalise the identifier a professional typed.

    Surrounding spaces and the spaces people type between groups of digits
    (``"8 10 000 000 001"``) are removed; ``ans`` is accepted for ``ANS``.

    Raises :class:`NationalIdError` with one of the codes ``empty``, ``too_long``,
    ``non_digit``, ``rpps_length``, ``rpps_missing_prefix``, ``adeli_length``,
    ``adeli_missing_prefix``, ``adeli_format``, ``staff_format``, ``finess_format``,
    ``siret_format``, ``internal_id_format``, ``test_id_format``, ``unknown_prefix``.
    """
    raw = text or ""
    if len(raw) > _MAX_RAW_LENGTH:
        raise _too_long()
    # str.split() with no argument splits on every Unicode space, including the non-breaking
    # spaces that copy-pasting from a PDF or a web page brings along.
    value = "".join(raw.split())
    if not value:
        raise NationalIdError("empty")
    if len(value) > MAX_LENGTH:
        raise _too_long()

    if value[:3].upper() == "ANS":
        return _parse_test(value)

    # The most common mistake on the real login page is the bare 11-digit RPPS number
    # (docs/reference/pro-sante-connect.md §13, FAQ): say exactly what to add rather than "unknown
    # prefix".
    if value.isascii() and value.isdigit():
        # 11 digits after a 0 is an ADELI id with one digit too many, not a bare RPPS number.
        if len(value) == 11 and value[0] not in "80":
            raise NationalIdError("rpps_missing_prefix", value=value)
        if len(value) == 9 and value[0] != "8":
            raise NationalIdError("adeli_missing_prefix", value=value)

    id_type = value[0]
    if id_type == "8":
        return _parse_rpps(value)
    if id_type == "0":
        return _parse_adeli(value)
    if id_type in ("3", "5"):
        return _parse_staff(value)
    raise NationalIdError("unknown_prefix", first=value[0])


def _too_long() -> NationalIdError:
    return NationalIdError("too_long", max_length=MAX_LENGTH)


def _parse_rpps(value: str) -> NationalId:
    if not _DIGITS.fullmatch(value):
        raise _non_digit(value, "RPPS")
    if len(value) != 12:
        raise NationalIdError("rpps_length", typed=len(value))
    return NationalId(value=value, id_type="8", kind="RPPS", local_id=value[1:])


def _parse_adeli(value: str) -> NationalId:
    if not _ADELI.fullmatch(value):
        bad = next(ch for ch in value if not _ADELI.fullmatch(ch))
        raise NationalIdError("adeli_format", bad=bad)
    # Upper case as FINESS numbers are (``00b6087510`` typed is ``00B6087510``).
    value = value.upper()
    if len(value) != 10:
        raise NationalIdError("adeli_length", typed=len(value))
    return NationalId(value=value, id_type="0", kind="ADELI", local_id=value[1:])


def _parse_staff(value: str) -> NationalId:
    id_type = value[0]
    kind = KINDS[id_type]
    structure, slash, internal = value[1:].partition("/")
    if not slash or not internal:
        key = "finess" if id_type == "3" else "siret"
        raise NationalIdError(
            "staff_format", message_key=f"national_id.staff_format_{key}", id_type=id_type
        )
    if id_type == "3":
        # FINESS numbers are upper case (Corsican ones start with 2A or 2B).
        structure = structure.upper()
        if not _FINESS.fullmatch(structure):
            raise NationalIdError("finess_format", structure=structure)
    elif not _SIRET.fullmatch(structure):
        raise NationalIdError("siret_format", structure=structure)
    if not _INTERNAL_ID.fullmatch(internal):
        raise NationalIdError("internal_id_format")
    local_id = f"{structure}/{internal}"
    return NationalId(value=id_type + local_id, id_type=id_type, kind=kind, local_id=local_id)


def _parse_test(value: str) -> NationalId:
    digits = value[3:]
    if not (_DIGITS.fullmatch(digits) and len(digits) == 14):
        raise NationalIdError("test_id_format")
    return NationalId(value="ANS" + digits, id_type="ANS", kind="TEST", local_id=digits)

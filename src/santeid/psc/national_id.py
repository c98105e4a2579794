"""National identifiers typed on the Pro Santé Connect login page.

A professional identifies with ``nationalId = idType + id`` (psc.md §15.1):

======  ========  ==========================================================
type    kind      shape
======  ========  ==========================================================
``8``   RPPS      ``8`` + the 11-digit RPPS number (12 digits)
``0``   ADELI     ``0`` + the 9-digit ADELI number (10 digits)
``3``   FINESS    ``3`` + FINESS (9 characters) + ``/`` + id given by the structure
``5``   SIRET     ``5`` + SIRET (14 digits) + ``/`` + id given by the structure
``ANS`` TEST      ``ANS`` + 14 digits: EDIT sandbox identities (psc.md §13)
======  ========  ==========================================================

The person types ``1`` and ``2`` seen in the RASS extract are legacy and unconfirmed (psc.md §15.1,
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
_SIRET = re.compile(r"[0-9]{14}")
# The structure's internal id: letters, digits and a few separators; nothing that could be
# mistaken for markup or another id.
_INTERNAL_ID = re.compile(r"[A-Za-z0-9._-]+")


class NationalIdError(ValueError):
    """The text typed is not a national identifier; ``code`` says why."""

    def __init__(self, code: str, message_fr: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_fr = message_fr
        self.message_en = message_en

    def message(self, language: str = "fr") -> str:
        """The message in ``language`` (``fr`` or ``en``); French for anything else."""
        return self.message_en if language.lower().startswith("en") else self.message_fr


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


def _non_digit(value: str, label_fr: str, label_en: str) -> NationalIdError:
    bad = _first_non_digit(value)
    return NationalIdError(
        "non_digit",
        f"L'identifiant {label_fr} ne doit contenir que des chiffres "
        f"(caractère « {bad} » non autorisé).",
        f"An {label_en} identifier contains digits only (character {bad!r} is not allowed).",
    )


def parse_national_id(text: str | None) -> NationalId:
    """Validate and normalise the identifier a professional typed.

    Surrounding spaces and the spaces people type between groups of digits
    (``"8 10 000 000 001"``) are removed; ``ans`` is accepted for ``ANS``.

    Raises :class:`NationalIdError` with one of the codes ``empty``, ``too_long``,
    ``non_digit``, ``rpps_length``, ``rpps_missing_prefix``, ``adeli_length``,
    ``adeli_missing_prefix``, ``staff_format``, ``finess_format``, ``siret_format``,
    ``internal_id_format``, ``test_id_format``, ``unknown_prefix``.
    """
    raw = text or ""
    if len(raw) > _MAX_RAW_LENGTH:
        raise _too_long()
    # str.split() with no argument splits on every Unicode space, including the non-breaking
    # spaces that copy-pasting from a PDF or a web page brings along.
    value = "".join(raw.split())
    if not value:
        raise NationalIdError(
            "empty",
            "Saisissez votre identifiant national.",
            "Enter your national identifier.",
        )
    if len(value) > MAX_LENGTH:
        raise _too_long()

    if value[:3].upper() == "ANS":
        return _parse_test(value)

    # The most common mistake on the real login page is the bare 11-digit RPPS number
    # (psc.md §13, FAQ): say exactly what to add rather than "unknown prefix".
    if value.isascii() and value.isdigit():
        # 11 digits after a 0 is an ADELI id with one digit too many, not a bare RPPS number.
        if len(value) == 11 and value[0] not in "80":
            raise NationalIdError(
                "rpps_missing_prefix",
                "Ajoutez le préfixe 8 devant votre numéro RPPS : l'identifiant national compte "
                f"12 chiffres, soit 8{value}.",
                "Add the prefix 8 in front of your RPPS number: the national identifier has "
                f"12 digits, here 8{value}.",
            )
        if len(value) == 9 and value[0] != "8":
            raise NationalIdError(
                "adeli_missing_prefix",
                "Un numéro ADELI (9 chiffres) se saisit précédé du préfixe 0 : l'identifiant "
                f"national compte 10 chiffres, soit 0{value}.",
                "Type an ADELI number (9 digits) after the prefix 0: the national identifier "
                f"has 10 digits, here 0{value}.",
            )

    id_type = value[0]
    if id_type == "8":
        return _parse_rpps(value)
    if id_type == "0":
        return _parse_adeli(value)
    if id_type in ("3", "5"):
        return _parse_staff(value)
    raise NationalIdError(
        "unknown_prefix",
        f"Identifiant non reconnu : il doit commencer par 8 (RPPS), 0 (ADELI), 3 ou 5 "
        f"(personnel d'établissement), pas par « {value[0]} ».",
        "Unrecognised identifier: it must start with 8 (RPPS), 0 (ADELI), 3 or 5 "
        f"(structure staff), not with {value[0]!r}.",
    )


def _too_long() -> NationalIdError:
    return NationalIdError(
        "too_long",
        f"Identifiant trop long : {MAX_LENGTH} caractères au plus.",
        f"Identifier too long: {MAX_LENGTH} characters at most.",
    )


def _parse_rpps(value: str) -> NationalId:
    if not _DIGITS.fullmatch(value):
        raise _non_digit(value, "RPPS", "RPPS")
    if len(value) != 12:
        raise NationalIdError(
            "rpps_length",
            "L'identifiant RPPS doit compter 12 chiffres : le préfixe 8 suivi des 11 chiffres "
            f"du numéro RPPS (vous en avez saisi {len(value)}).",
            "An RPPS identifier has 12 digits: the prefix 8 followed by the 11 digits of the "
            f"RPPS number (you typed {len(value)}).",
        )
    return NationalId(value=value, id_type="8", kind="RPPS", local_id=value[1:])


def _parse_adeli(value: str) -> NationalId:
    if not _DIGITS.fullmatch(value):
        raise _non_digit(value, "ADELI", "ADELI")
    if len(value) != 10:
        raise NationalIdError(
            "adeli_length",
            "L'identifiant ADELI doit compter 10 chiffres : le préfixe 0 suivi des 9 chiffres "
            f"du numéro ADELI (vous en avez saisi {len(value)}).",
            "An ADELI identifier has 10 digits: the prefix 0 followed by the 9 digits of the "
            f"ADELI number (you typed {len(value)}).",
        )
    return NationalId(value=value, id_type="0", kind="ADELI", local_id=value[1:])


def _parse_staff(value: str) -> NationalId:
    id_type = value[0]
    kind = KINDS[id_type]
    structure_fr, structure_en = (
        ("le n° FINESS (9 caractères)", "the FINESS number (9 characters)")
        if id_type == "3"
        else ("le n° SIRET (14 chiffres)", "the SIRET number (14 digits)")
    )
    structure, slash, internal = value[1:].partition("/")
    if not slash or not internal:
        raise NationalIdError(
            "staff_format",
            f"Un identifiant de personnel d'établissement s'écrit {id_type}, puis "
            f"{structure_fr}, puis « / » et l'identifiant interne donné par la structure.",
            f"A structure-staff identifier is {id_type}, then {structure_en}, then '/' and "
            "the internal identifier given by the structure.",
        )
    if id_type == "3":
        # FINESS numbers are upper case (Corsican ones start with 2A or 2B).
        structure = structure.upper()
        if not _FINESS.fullmatch(structure):
            raise NationalIdError(
                "finess_format",
                f"Le n° FINESS « {structure} » doit compter 9 caractères (chiffres ou lettres).",
                f"The FINESS number {structure!r} must have 9 characters (digits or letters).",
            )
    elif not _SIRET.fullmatch(structure):
        raise NationalIdError(
            "siret_format",
            f"Le n° SIRET « {structure} » doit compter 14 chiffres.",
            f"The SIRET number {structure!r} must have 14 digits.",
        )
    if not _INTERNAL_ID.fullmatch(internal):
        raise NationalIdError(
            "internal_id_format",
            "L'identifiant interne (après « / ») ne peut contenir que des lettres, des "
            "chiffres, « . », « _ » ou « - ».",
            "The internal identifier (after '/') may only contain letters, digits, '.', '_' "
            "or '-'.",
        )
    local_id = f"{structure}/{internal}"
    return NationalId(value=id_type + local_id, id_type=id_type, kind=kind, local_id=local_id)


def _parse_test(value: str) -> NationalId:
    digits = value[3:]
    if not (_DIGITS.fullmatch(digits) and len(digits) == 14):
        raise NationalIdError(
            "test_id_format",
            "Un identifiant de test EDIT s'écrit ANS suivi de 14 chiffres "
            "(par exemple ANS20240115093000).",
            "An EDIT test identifier is ANS followed by 14 digits (for example ANS20240115093000).",
        )
    return NationalId(value="ANS" + digits, id_type="ANS", kind="TEST", local_id=digits)

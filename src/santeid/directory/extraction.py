"""The RASS "Extraction ProSanteConnect" file format (docs/reference/pro-sante-connect.md §15.2):
lines ⇄ professionals.

A UTF-8 text file, one header line then one line per person × exercice × savoir-faire ×
situation d'exercice; 51 pipe-separated columns and a trailing ``|``; dates ``dd/MM/yyyy``;
*Prénoms* as ``ANNE'CATHERINE'``; *Autres identifiants* as ``id,origine,qualite;…``
(docs/reference/pro-sante-connect.md §10).

- :func:`split_line` checks one line and returns its 51 fields, or raises :class:`LineError`
  with a reason a person can act on;
- :func:`build_professional` groups the lines of one person into person → exercices →
  savoir-faire → activities → structures, the way ANS's loader does (``ansforge/psc-rass-loader``:
  one exercice per *Code profession* + *Code catégorie professionnelle*, the situations of
  every line added to it);
- :func:`professional_rows` is the inverse, used by the test-file writer
  (:mod:`santeid.directory.extract_writer`) and the synthetic generator's file output;
- :func:`person_digest` fingerprints a person's lines for the import's diff.
"""

from __future__ import annotations

import datetime
import hashlib
import operator
from collections.abc import Iterable
from collections.abc import Sequence

from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import OtherId
from santeid.directory.models import Professional
from santeid.directory.models import SavoirFaire
from santeid.directory.models import Structure
from santeid.directory.schema import decode_given_names
from santeid.directory.schema import encode_given_names

#: Format name used on the command line (``--format extraction-psc``).
FORMAT = "extraction-psc"

#: The 51 column names of the published header, in order (docs/reference/pro-sante-connect.md §15.2,
#: verbatim).
HEADER: tuple[str, ...] = (
    "Type d'identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Nom de famille",
    "Prénoms",
    "Date de naissance",
    "Code commune de naissance",
    "Code pays de naissance",
    "Lieu de naissance",
    "Code sexe",
    "Téléphone (coord. correspondance)",
    "Adresse e-mail (coord. correspondance)",
    "Code civilité",
    "Code profession",
    "Code catégorie professionnelle",
    "Code civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code type savoir-faire",
    "Code savoir-faire",
    "Code mode exercice",
    "Code secteur d'activité",
    "Code section tableau pharmaciens",
    "Code rôle",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Code pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code département (coord. structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Autres identifiants",
    "Code genre d'activité",
)
COLUMNS = len(HEADER)
HEADER_LINE = "|".join(HEADER) + "|"

# Column positions.
ID_TYPE, LOCAL_ID, NATIONAL_ID, FAMILY_NAME, GIVEN_NAMES, BIRTH_DATE = range(6)
BIRTH_COMMUNE, BIRTH_COUNTRY, BIRTH_PLACE, SEX = range(6, 10)
PHONE, EMAIL, CIVILITE = 10, 11, 12
PROFESSION, CATEGORIE, CIVILITE_EXERCICE, NOM_EXERCICE, PRENOM_EXERCICE = range(13, 18)
TYPE_SAVOIR_FAIRE, SAVOIR_FAIRE = 18, 19
MODE, SECTEUR, SECTION, ROLE = range(20, 24)
STRUCTURE_ID = 28
ANCIEN_ID, AUTORITE, OTHER_IDS, GENRE = 47, 48, 49, 50

#: Structure fields by column (24–46), in the file's order.
STRUCTURE_FIELDS: tuple[tuple[int, str], ...] = (
    (24, "numero_siret"),
    (25, "numero_siren"),
    (26, "numero_finess_site"),
    (27, "numero_finess_ej"),
    (28, "identifiant_technique"),
    (29, "raison_sociale"),
    (30, "enseigne_commerciale"),
    (31, "complement_destinataire"),
    (32, "complement_point_geographique"),
    (33, "numero_voie"),
    (34, "indice_repetition_voie"),
    (35, "code_type_voie"),
    (36, "libelle_voie"),
    (37, "mention_distribution"),
    (38, "bureau_cedex"),
    (39, "code_postal"),
    (40, "code_commune"),
    (41, "code_pays"),
    (42, "telephone"),
    (43, "telephone2"),
    (44, "telecopie"),
    (45, "email"),
    (46, "code_departement"),
)
#: Columns describing one situation d'exercice (activity + structure), for grouping.
SITUATION_COLUMNS = (*range(MODE, AUTORITE + 1), GENRE)
#: Columns santeid does not store (birth place and sex): left out of the digest, so a change
#: there is not reported as a change of the directory.
UNSTORED_COLUMNS = frozenset({BIRTH_COMMUNE, BIRTH_COUNTRY, BIRTH_PLACE, SEX})
_DIGEST_COLUMNS = tuple(i for i in range(COLUMNS) if i not in UNSTORED_COLUMNS)
# The same columns picked in one C call each (millions of lines go through these).
_digest_fields = operator.itemgetter(*_DIGEST_COLUMNS)
_situation_fields = operator.itemgetter(*SITUATION_COLUMNS)


class LineError(ValueError):
    """A line that cannot be read; the message says why."""


def normalise_header(line: str) -> str:
    """The header without BOM, line end and surrounding spaces."""
    return line.lstrip("\ufeff").rstrip("\r\n").strip()


def is_header(line: str) -> bool:
    """Whether ``line`` is the published header (a missing trailing ``|`` is tolerated)."""
    text = normalise_header(line)
    return text == HEADER_LINE or text + "|" == HEADER_LINE


def split_line(line: str) -> list[str]:
    """The 51 fields of a data line (stripped), or :class:`LineError`.

    Checks what every later step relies on: the column count (with the trailing ``|``),
    a national id equal to type + identifier, a family name, a ``dd/MM/yyyy`` birth date and a
    well-formed *Autres identifiants*.
    """
    text = line.rstrip("\r\n")
    parts = text.split("|")
    if len(parts) == COLUMNS + 1 and parts[-1].strip() == "":
        parts.pop()
    elif len(parts) != COLUMNS:
        found = len(parts) - 1 if parts and parts[-1].strip() == "" else len(parts)
        raise LineError(f"expected {COLUMNS} '|'-separated columns, found {found}")
    fields = list(map(str.strip, parts))
    national_id = fields[NATIONAL_ID]
    if not national_id:
        raise LineError("empty 'Identification nationale PP'")
    if national_id != fields[ID_TYPE] + fields[LOCAL_ID]:
        raise LineError(
            f"'Identification nationale PP' {national_id!r} is not 'Type d'identifiant PP' "
            f"{fields[ID_TYPE]!r} + 'Identifiant PP' {fields[LOCAL_ID]!r}"
        )
    if not fields[FAMILY_NAME]:
        raise LineError("empty 'Nom de famille'")
    parse_date(fields[BIRTH_DATE])
    parse_other_ids(fields[OTHER_IDS])
    return fields


def parse_date(text: str) -> datetime.date | None:
    """``dd/MM/yyyy`` → date; ``""`` → None; anything else is a :class:`LineError`."""
    if not text:
        return None
    try:
        if len(text) == 10 and text[2] == text[5] == "/" and text.isascii():
            # The extract's own form, read without strptime (a tenth of its cost, and every
            # line has a date); int() still refuses non-digits and date() impossible days.
            day, month, year = text[:2], text[3:5], text[6:]
            if (day + month + year).isdigit():
                return datetime.date(int(year), int(month), int(day))
        return datetime.datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        raise LineError(f"'Date de naissance' {text!r} is not a dd/MM/yyyy date") from None


def format_date(value: datetime.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def parse_other_ids(text: str) -> tuple[OtherId, ...]:
    """``id,origine,qualite;…`` → :class:`OtherId` items (docs/reference/pro-sante-connect.md
    §10)."""
    items = []
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        parts = [p.strip() for p in chunk.split(",")]
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise LineError(f"'Autres identifiants' item {chunk!r} is not id,origine,qualite")
        try:
            quality = int(parts[2])
        except ValueError:
            raise LineError(f"'Autres identifiants' quality {parts[2]!r} is not a number") from None
        items.append(OtherId(identifiant=parts[0], origine=parts[1], qualite=quality))
    return tuple(items)


def format_other_ids(other_ids: Iterable[OtherId]) -> str:
    return ";".join(f"{o.identifiant},{o.origine},{int(o.qualite)}" for o in other_ids)


def format_line(fields: Sequence[str]) -> str:
    """One file line (without its line end): fields joined by ``|`` plus the trailing ``|``."""
    return "|".join(fields) + "|"


def person_digest(rows: Iterable[Sequence[str]]) -> bytes:
    """16-byte fingerprint of a person's lines, blind to their order and to duplicates.

    Order-blind like ANS's own comparison (its ``equals`` compares sets): a file that only
    reorders lines changes nothing. The stored ranks (hence the userinfo's first activity) are
    those of the import that last changed the person.
    """
    texts = sorted({"|".join(_digest_fields(row)) for row in rows})
    return hashlib.blake2b("\n".join(texts).encode("utf-8"), digest_size=16).digest()


def _structure(row: Sequence[str]) -> Structure:
    return Structure(**{name: row[column] for column, name in STRUCTURE_FIELDS})


class _ExerciceBuilder:
    __slots__ = ("first", "savoir_faire", "situations")

    def __init__(self, row: Sequence[str]) -> None:
        self.first = row
        self.savoir_faire: dict[tuple[str, str], None] = {}
        self.situations: dict[tuple[str, ...], Activity] = {}


def build_professional(rows: Sequence[Sequence[str]]) -> tuple[Professional, list[str]]:
    """Group the lines of one person (file order) into a :class:`Professional`.

    Person fields come from the first line. Exercices are keyed by profession + category (as
    ANS's loader does), their names taken from the first line of each; savoir-faire and
    situations are de-duplicated in file order; the first savoir-faire is the exercice's (the
    one userinfo sends), the others go to ``other_savoir_faire``. Returns the professional and
    warnings (a situation whose structure has data but no technical id loses the structure:
    the directory keys structures by that id).
    """
    first = rows[0]
    warnings: list[str] = []
    exercices: dict[tuple[str, str], _ExerciceBuilder] = {}
    for row in rows:
        has_exercice = any(row[PROFESSION : SAVOIR_FAIRE + 1])
        situation = _situation_fields(row)
        has_situation = any(situation)
        if not has_exercice and not has_situation:
            continue
        key = (row[PROFESSION], row[CATEGORIE])
        builder = exercices.get(key)
        if builder is None:
            builder = exercices[key] = _ExerciceBuilder(row)
        builder.savoir_faire.setdefault((row[TYPE_SAVOIR_FAIRE], row[SAVOIR_FAIRE]), None)
        if has_situation:
            if situation not in builder.situations:
                structure = None
                if row[STRUCTURE_ID]:
                    structure = _structure(row)
                elif any(row[column] for column, _ in STRUCTURE_FIELDS):
                    warnings.append("situation with structure data but no technical id")
                builder.situations[situation] = Activity(
                    code_mode_exercice=row[MODE],
                    code_secteur_activite=row[SECTEUR],
                    code_section_pharmacien=row[SECTION],
                    code_role=row[ROLE],
                    code_genre_activite=row[GENRE],
                    autorite_enregistrement=row[AUTORITE],
                    ancien_identifiant_structure=row[ANCIEN_ID],
                    structure=structure,
                )
    built = []
    for builder in exercices.values():
        pairs = list(builder.savoir_faire)
        if len(pairs) > 1:
            pairs = [pair for pair in pairs if pair != ("", "")]
        head = builder.first
        built.append(
            Exercice(
                code_profession=head[PROFESSION],
                code_categorie_professionnelle=head[CATEGORIE],
                code_civilite_exercice=head[CIVILITE_EXERCICE],
                nom_exercice=head[NOM_EXERCICE],
                prenom_exercice=head[PRENOM_EXERCICE],
                code_type_savoir_faire=pairs[0][0],
                code_savoir_faire=pairs[0][1],
                activities=tuple(builder.situations.values()),
                other_savoir_faire=tuple(SavoirFaire(t, c) for t, c in pairs[1:]),
            )
        )
    professional = Professional(
        national_id=first[NATIONAL_ID],
        id_type=first[ID_TYPE],
        local_id=first[LOCAL_ID],
        family_name=first[FAMILY_NAME],
        given_names=decode_given_names(first[GIVEN_NAMES]),
        birth_date=parse_date(first[BIRTH_DATE]),
        code_civilite=first[CIVILITE],
        correspondence_phone=first[PHONE],
        correspondence_email=first[EMAIL],
        exercices=tuple(built),
        other_ids=parse_other_ids(first[OTHER_IDS]),
    )
    return professional, warnings


_EMPTY_SITUATION = Activity()
_SEX_OF_CIVILITE = {"M": "M", "MME": "F"}


def professional_rows(
    professional: Professional, *, birth: tuple[str, str, str] = ("", "", "")
) -> list[list[str]]:
    """The extract lines of ``professional``: exercice × savoir-faire × situation.

    ``birth`` fills *Code commune*, *Code pays* and *Lieu de naissance*, which the directory
    does not keep; *Code sexe* follows *Code civilité*.
    """
    p = professional
    person = [
        p.id_type,
        p.local_id,
        p.national_id,
        p.family_name,
        encode_given_names(p.given_names),
        format_date(p.birth_date),
        *birth,
        _SEX_OF_CIVILITE.get(p.code_civilite, ""),
        p.correspondence_phone,
        p.correspondence_email,
        p.code_civilite,
    ]
    other_ids = format_other_ids(p.other_ids)
    rows: list[list[str]] = []
    if not p.exercices:
        row = person + [""] * (COLUMNS - len(person))
        row[OTHER_IDS] = other_ids
        return [row]
    for e in p.exercices:
        head = [
            e.code_profession,
            e.code_categorie_professionnelle,
            e.code_civilite_exercice,
            e.nom_exercice,
            e.prenom_exercice,
        ]
        pairs = [(e.code_type_savoir_faire, e.code_savoir_faire)] + [
            (s.code_type_savoir_faire, s.code_savoir_faire) for s in e.other_savoir_faire
        ]
        for code_type, code in pairs:
            for a in e.activities or (_EMPTY_SITUATION,):
                s = a.structure or Structure(identifiant_technique="")
                row = [
                    *person,
                    *head,
                    code_type,
                    code,
                    a.code_mode_exercice,
                    a.code_secteur_activite,
                    a.code_section_pharmacien,
                    a.code_role,
                    *(getattr(s, name) for _, name in STRUCTURE_FIELDS),
                    a.ancien_identifiant_structure,
                    a.autorite_enregistrement,
                    other_ids,
                    a.code_genre_activite,
                ]
                rows.append(row)
    return rows

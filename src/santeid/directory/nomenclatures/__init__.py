"""The NOS code lists behind the directory's codes (docs/reference/pro-sante-connect.md §16),
shipped as CSV files.

Each ``TRE_*.csv`` file next to this module holds ``code,label,table`` rows taken from the ANS
terminology server's published CodeSystems and value sets (the ``# source:`` line of each file
says which; ``docs/directory.md`` lists the gaps). They are read once per process.

:data:`FIELD_TABLES` says which list each directory field is checked against; the importer and
the synthetic generator call :func:`check_professional` so that an unknown code is **reported**
(per field and code, with counts) — the row itself is kept, see ``docs/directory.md``
("Nomenclatures") for why.
"""

from __future__ import annotations

import csv
import functools
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from santeid.directory.models import Professional

#: Base of the NOS FHIR canonical URLs: ``{BASE}/{TABLE}/FHIR/{TABLE with - for _}``.
NOS_BASE = "https://mos.esante.gouv.fr/NOS"


def fhir_system(table: str) -> str:
    """FHIR CodeSystem URL of a NOS table: ``TRE_R23-ModeExercice`` →
    ``https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice``."""
    return f"{NOS_BASE}/{table}/FHIR/{table.replace('_', '-')}"


@dataclass(frozen=True)
class Nomenclature:
    """One NOS table: ``codes`` maps each code to ``(label, source table)``."""

    name: str
    title: str
    codes: dict[str, tuple[str, str]]

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def label(self, code: str) -> str:
        entry = self.codes.get(code)
        return entry[0] if entry else ""

    def table_of(self, code: str) -> str:
        """The NOS table a code comes from (differs from :attr:`name` only for merged lists)."""
        entry = self.codes.get(code)
        return entry[1] if entry else self.name


#: Files shipped, by short name (the ``TRE_xxx`` prefix).
FILES = {
    "TRE_G15": "TRE_G15-ProfessionSante",
    "TRE_R38": "TRE_R38-SpecialiteOrdinale",
    "TRE_R01": "TRE_R01-EnsembleSavoirFaire",
    "TRE_R04": "TRE_R04-TypeSavoirFaire",
    "TRE_R09": "TRE_R09-CategorieProfessionnelle",
    "TRE_R11": "TRE_R11-CiviliteExercice",
    "TRE_R81": "TRE_R81-Civilite",
    "TRE_R23": "TRE_R23-ModeExercice",
    "TRE_R22": "TRE_R22-GenreActivite",
    "TRE_R02": "TRE_R02-SecteurActivite",
    "TRE_R21": "TRE_R21-Fonction",
    "TRE_R06": "TRE_R06-SectionTableauCNOP",
}

#: Directory field → short names of the lists its non-empty values must belong to.
#: ``code_savoir_faire`` accepts the whole savoir-faire set (TRE_R01 is the union; the R38 part
#: is in its own file).
FIELD_TABLES: dict[str, tuple[str, ...]] = {
    "code_civilite": ("TRE_R81",),
    "code_profession": ("TRE_G15",),
    "code_categorie_professionnelle": ("TRE_R09",),
    "code_civilite_exercice": ("TRE_R11",),
    "code_type_savoir_faire": ("TRE_R04",),
    "code_savoir_faire": ("TRE_R38", "TRE_R01"),
    "code_mode_exercice": ("TRE_R23",),
    "code_secteur_activite": ("TRE_R02",),
    "code_section_pharmacien": ("TRE_R06",),
    "code_role": ("TRE_R21",),
    "code_genre_activite": ("TRE_R22",),
}


def _read(file_name: str) -> Nomenclature:
    text = resources.files(__package__).joinpath(f"{file_name}.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    title = lines[0].lstrip("# ").split("—", 1)[-1].strip() if lines else file_name
    body = "\n".join(line for line in lines if not line.startswith("#"))
    codes = {
        row["code"]: (row["label"], row.get("table") or file_name)
        for row in csv.DictReader(io.StringIO(body))
    }
    return Nomenclature(name=file_name, title=title, codes=codes)


@functools.cache
def nomenclatures() -> dict[str, Nomenclature]:
    """Every shipped list by short name (``TRE_G15``…), read once per process."""
    return {short: _read(name) for short, name in FILES.items()}


def get(short_name: str) -> Nomenclature:
    return nomenclatures()[short_name]


@functools.cache
def _allowed(field: str) -> frozenset[str]:
    tables = nomenclatures()
    return frozenset(code for short in FIELD_TABLES[field] for code in tables[short].codes)


def is_known(field: str, code: str) -> bool:
    """Whether ``code`` is in the lists of ``field``; ``""`` (absent) always is."""
    return not code or code in _allowed(field)


def label(field: str, code: str) -> str:
    """Label of a code of a field, ``""`` if unknown."""
    for short in FIELD_TABLES[field]:
        found = get(short).label(code)
        if found:
            return found
    return ""


def table_of(field: str, code: str) -> str:
    """NOS table (file name form) of a code of a field; the field's first table if unknown."""
    for short in FIELD_TABLES[field]:
        nomenclature = get(short)
        if code in nomenclature:
            return nomenclature.table_of(code)
    return get(FIELD_TABLES[field][0]).name


@functools.cache
def systems_of(field: str) -> frozenset[str]:
    """Every FHIR CodeSystem URL a code of ``field`` is written with: its lists' own and, for a
    merged list, the tables its codes come from (:func:`table_of`, :func:`fhir_system`)."""
    systems = set()
    for short in FIELD_TABLES[field]:
        nomenclature = get(short)
        systems.add(fhir_system(nomenclature.name))
        systems.update(fhir_system(nomenclature.table_of(code)) for code in nomenclature.codes)
    return frozenset(systems)


class CodeReport:
    """Counts unknown codes per ``(field, code)``; cheap to feed millions of rows."""

    def __init__(self) -> None:
        self.unknown: Counter[tuple[str, str]] = Counter()
        self._allowed = {field: _allowed(field) for field in FIELD_TABLES}

    def check(self, field: str, code: str) -> bool:
        if code and code not in self._allowed[field]:
            self.unknown[(field, code)] += 1
            return False
        return True

    def check_professional(self, professional: Professional) -> bool:
        """Check every coded field of ``professional``; True when all are known."""
        ok = self.check("code_civilite", professional.code_civilite)
        for exercice in professional.exercices:
            for field in (
                "code_profession",
                "code_categorie_professionnelle",
                "code_civilite_exercice",
                "code_type_savoir_faire",
                "code_savoir_faire",
            ):
                ok = self.check(field, getattr(exercice, field)) and ok
            for extra in exercice.other_savoir_faire:
                ok = self.check("code_type_savoir_faire", extra.code_type_savoir_faire) and ok
                ok = self.check("code_savoir_faire", extra.code_savoir_faire) and ok
            for activity in exercice.activities:
                for field in (
                    "code_mode_exercice",
                    "code_secteur_activite",
                    "code_section_pharmacien",
                    "code_role",
                    "code_genre_activite",
                ):
                    ok = self.check(field, getattr(activity, field)) and ok
        return ok

    @property
    def total(self) -> int:
        return sum(self.unknown.values())

    def lines(self) -> Iterable[str]:
        """Human-readable summary lines, most frequent first."""
        for (field, code), count in self.unknown.most_common():
            yield f"{field} {code!r}: {count} row(s)"


def check_professional(professional: Professional, report: CodeReport | None = None) -> CodeReport:
    """Check one professional into ``report`` (a new one if not given) and return it."""
    report = report or CodeReport()
    report.check_professional(professional)
    return report

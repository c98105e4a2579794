"""Indexed searches of the directory, for the FHIR API (:mod:`santeid.fhir_directory`).

Every search returns national ids in ascending order after a cursor (keyset pagination: the
next page starts after the last id of this one), so a page costs the same at the start and at
the end of 1.2 million people. Each query walks an index of schema version 2
(:mod:`santeid.directory.schema`): names are matched by prefix with ``>= ? AND < ?`` range
conditions on plain indexes; professions through ``exercice (code_profession, national_id)``.

Names in the directory are in the RASS form (upper case, no accents): queries are put in the
same form (:func:`name_key`), which makes the search case- and accent-insensitive as FHIR
string searches are (FHIR R4 §3.1.1.5.13, "string").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from collections.abc import Sequence

from santeid.directory.repository import Directory

#: System of ``Identification nationale PP`` (idNat_PS), the Annuaire Santé's ``IDNPS`` slice.
SYSTEM_IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
#: Systems of the RPPS number alone (without the leading ``8``): old and current Annuaire Santé.
SYSTEMS_RPPS = ("http://rpps.fr", "https://rpps.esante.gouv.fr")
#: System of the ADELI number alone (without the leading ``0``).
SYSTEMS_ADELI = ("http://adeli.fr",)


class SearchError(ValueError):
    """A search the API cannot run (the message is for the caller)."""


def name_key(text: str) -> str:
    """``"Léa-Marie d'Arco"`` → ``"LEA-MARIE D'ARCO"``: the RASS form of a name."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.upper().replace("Œ", "OE").replace("Æ", "AE").split())


def _prefix_range(prefix: str) -> tuple[str, str]:
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def identifier_candidates(system: str | None, value: str) -> tuple[list[str], list[str]]:
    """``(national ids, other identifiers)`` a token ``system|value`` can designate."""
    value = value.strip()
    if not value:
        return [], []
    if system is None or system == "":
        # Any system (docs/directory.md, "Identifier systems"): the RPPS and ADELI forms
        # (without their 8 / 0) designate former ids in otherIds as well as national ids.
        national = [value]
        if value.isdigit() and len(value) == 11:
            national.append("8" + value)
        if value.isdigit() and len(value) == 9:
            national.append("0" + value)
        return national, list(national)
    if system == SYSTEM_IDNPS:
        return [value], [value]
    if system in SYSTEMS_RPPS:
        return ["8" + value], ["8" + value]
    if system in SYSTEMS_ADELI:
        return ["0" + value], ["0" + value]
    return [], []


class DirectorySearch:
    """Searches over one :class:`Directory`."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def by_identifiers(self, tokens: Iterable[tuple[str | None, str]]) -> list[str]:
        """National ids matching any of the ``(system, value)`` tokens (FHIR ``token`` OR)."""
        national: set[str] = set()
        others: set[str] = set()
        for system, value in tokens:
            n, o = identifier_candidates(system, value)
            national.update(n)
            others.update(o)
        if not national and not others:
            return []
        found: set[str] = set()
        with self.directory._connection() as conn:
            if national:
                marks = ", ".join("?" * len(national))
                found.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT national_id FROM person WHERE national_id IN ({marks})",  # noqa: S608
                        tuple(national),
                    )
                )
            if others:
                marks = ", ".join("?" * len(others))
                found.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT DISTINCT national_id FROM other_id WHERE identifiant IN ({marks})",  # noqa: S608
                        tuple(others),
                    )
                )
        return sorted(found)

    def by_names(
        self,
        *,
        name: Sequence[str] = (),
        family: Sequence[str] = (),
        given: Sequence[str] = (),
        active: bool | None = None,
        after: str = "",
        limit: int = 50,
    ) -> list[str]:
        """National ids whose names start with the given texts, ordered, after ``after``.

        ``family`` matches the civil-status family name or any *nom d'exercice*; ``given`` the
        first civil-status given name or any *prénom d'exercice*; ``name`` either. Several
        values of one parameter, or several parameters, must all match (FHIR AND).
        """
        parts: list[str] = []
        params: list[object] = []
        for kind, values in (("family", family), ("given", given), ("name", name)):
            for value in values:
                key = name_key(value)
                if not key:
                    raise SearchError(f"empty {kind} search")
                low, high = _prefix_range(key)
                selects = []
                if kind in ("family", "name"):
                    selects.append(
                        "SELECT national_id FROM person WHERE family_name >= ? AND family_name < ?"
                    )
                    selects.append(
                        "SELECT national_id FROM exercice WHERE nom_exercice >= ? AND "
                        "nom_exercice < ?"
                    )
                if kind in ("given", "name"):
                    selects.append(
                        "SELECT national_id FROM person WHERE given_names >= ? AND given_names < ?"
                    )
                    selects.append(
                        "SELECT national_id FROM exercice WHERE prenom_exercice >= ? AND "
                        "prenom_exercice < ?"
                    )
                parts.append(" UNION ".join(selects))
                params.extend([low, high] * len(selects))
        where = ["national_id > ?"]
        tail: list[object] = [after]
        if active is not None:
            where.append("national_id IN (SELECT national_id FROM person WHERE status = ?)")
            tail.append("active" if active else "inactive")
        if parts:
            source = " INTERSECT ".join(f"SELECT * FROM ({part})" for part in parts)  # noqa: S608
        else:
            source = "SELECT national_id FROM person"
        sql = (
            f"SELECT national_id FROM ({source}) WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY national_id LIMIT ?"
        )
        with self.directory._connection() as conn:
            rows = conn.execute(sql, (*params, *tail, limit)).fetchall()
        return [row[0] for row in rows]

    def by_profession(self, codes: Sequence[str], *, after: str = "", limit: int = 50) -> list[str]:
        """National ids with an exercice in one of the professions ``codes`` (index walk)."""
        if not codes:
            return []
        marks = ", ".join("?" * len(codes))
        sql = (
            "SELECT DISTINCT national_id FROM exercice "  # noqa: S608
            f"WHERE code_profession IN ({marks}) AND national_id > ? "
            "ORDER BY national_id LIMIT ?"
        )
        with self.directory._connection() as conn:
            rows = conn.execute(sql, (*codes, after, limit)).fetchall()
        return [row[0] for row in rows]

"""Indexed searches of the directory, for the FHIR API (:mod:`santeid.fhir_directory`).

Every search returns national ids in ascending order after a cursor (keyset pagination: the
next page starts after the last id of this one), so a page costs the same at the start and at
the end of 1.2 million people. Each query walks an index of the schema
(:mod:`santeid.directory.schema`): names are matched by prefix with ``>= ? AND < ?`` range
conditions on plain indexes; professions through ``exercice (code_profession, national_id)``,
which alone (``qualification-code=10``, ``role=10``) is walked in national-id order;
people an identifier designates are checked against the other conditions through their primary
keys (``among``).

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
#: Each identifier system, with what a value in it lacks of the national id it designates.
_IDENTIFIER_PREFIXES = (
    (SYSTEM_IDNPS, ""),
    *((system, "8") for system in SYSTEMS_RPPS),
    *((system, "0") for system in SYSTEMS_ADELI),
)


def system_matches(asked: str | None, written: str | None) -> bool:
    """Whether a token's system ``asked`` matches a code or identifier written in ``written``:
    the one statement of it for every token parameter of the FHIR API (``identifier``,
    ``qualification-code``, ``role``; ``active``, a boolean, is written without a system),
    after https://hl7.org/fhir/R4/search.html#token. A bare code (``None``) is any system's;
    ``|code`` (``""``) is written without a system, as nothing in the directory is but
    ``active``; ``system|code`` is that system's. A system nothing is
    written in matches nothing — an empty result, as for any value that matches nothing,
    never an error (docs/directory.md, "Token systems")."""
    return asked is None or asked == (written or "")


#: Columns each name parameter matches by prefix, as ``(table, column)``; every one has an
#: index (:mod:`santeid.directory.schema`).
NAME_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "family": (("person", "family_name"), ("exercice", "nom_exercice")),
    "given": (("person", "given_names"), ("exercice", "prenom_exercice")),
}
NAME_COLUMNS["name"] = NAME_COLUMNS["family"] + NAME_COLUMNS["given"]
#: The FHIR API's (docs/directory.md, "Names"): the names the Annuaire Santé publishes — the
#: exercice's — and, for ``name``, the civility prefix (TRE_R81), never the civil-status names.
FHIR_NAME_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "family": (("exercice", "nom_exercice"),),
    "given": (("exercice", "prenom_exercice"),),
}
FHIR_NAME_COLUMNS["name"] = (
    FHIR_NAME_COLUMNS["family"] + FHIR_NAME_COLUMNS["given"] + (("person", "code_civilite"),)
)

#: Name conditions, ANDed: each the columns it tests and its alternative ``[low, high)``
#: prefix ranges, ORed.
_Conditions = list[tuple[tuple[tuple[str, str], ...], list[tuple[str, str | None]]]]


class SearchError(ValueError):
    """A search the API cannot run (the message is for the caller)."""


def name_key(text: str) -> str:
    """``"Léa-Marie d'Arco"`` → ``"LEA-MARIE D'ARCO"``: the RASS form of a name."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.upper().replace("Œ", "OE").replace("Æ", "AE").split())


#: The last code point, and the surrogates, which are no text (UTF-8 cannot encode them).
_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def _prefix_range(prefix: str) -> tuple[str, str | None]:
    """``[low, high)``: the texts that start with ``prefix``, as SQLite's ``BINARY`` collation
    orders them — by their UTF-8 bytes, that is by code point. ``high`` is the least text after
    them all: the prefix with its last character that is not U+10FFFF incremented (past the
    surrogates) and what follows it cut; ``None`` when every character is U+10FFFF (no text
    is after them)."""
    head = prefix
    while head:
        following = ord(head[-1]) + 1
        if following <= _LAST_CODE_POINT:
            if following in _SURROGATES:
                following = _SURROGATES.stop
            return prefix, head[:-1] + chr(following)
        head = head[:-1]
    return prefix, None


def _range_test(column: str, high: str | None) -> str:
    """The SQL test of a :func:`_prefix_range` on ``column``, its parameters low then high."""
    return f"{column} >= ?" if high is None else f"{column} >= ? AND {column} < ?"


def _range_params(low: str, high: str | None) -> list[object]:
    return [low] if high is None else [low, high]


def identifier_candidates(system: str | None, value: str) -> tuple[list[str], list[str]]:
    """``(national ids, other identifiers)`` a token ``system|value`` can designate."""
    value = value.strip()
    if not value:
        return [], []
    if system is None:
        # Any system (docs/directory.md, "Identifier systems"): the RPPS and ADELI forms
        # (without their 8 / 0) designate former ids in otherIds as well as national ids.
        national = [value]
        if value.isdigit() and len(value) == 11:
            national.append("8" + value)
        if value.isdigit() and len(value) == 9:
            national.append("0" + value)
        return national, list(national)
    for written, prefix in _IDENTIFIER_PREFIXES:
        if system_matches(system, written):
            return [prefix + value], [prefix + value]
    return [], []


def identifier_type(system: str | None) -> str | None:
    """The id type (``8``, ``0``) of the people who have an identifier written in ``system``,
    for a token ``system|`` — any value of that system (https://hl7.org/fhir/R4/search.html#token):
    ``""`` for idNat_PS, which everyone has; ``None`` for a system nothing is written in (or
    no system)."""
    if system is None:
        return None
    for written, prefix in _IDENTIFIER_PREFIXES:
        if system == written:
            return prefix
    return None


#: Professions a search asks for, ANDed: each item the TRE_G15 codes one of the person's
#: exercices must have (OR), or ``None``: any profession (an exercice at all).
Professions = Sequence[Sequence[str] | None]
#: Repetitions of ``identifier`` naming a whole system (``http://rpps.fr|``), ANDed: each the
#: national ids its other alternatives designate and the id types of the systems named (OR).
Designated = Sequence[tuple[Sequence[str], Sequence[str]]]


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
        found = set(self.existing(national))
        with self.directory._connection() as conn:
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

    def existing(self, national_ids: Iterable[str]) -> list[str]:
        """The national ids of ``national_ids`` that are in the directory, in order: people by
        their logical id alone (FHIR ``_id``, https://hl7.org/fhir/R4/search.html#id)."""
        wanted = sorted(set(national_ids))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        sql = f"SELECT national_id FROM person WHERE national_id IN ({marks}) ORDER BY national_id"  # noqa: S608
        with self.directory._connection() as conn:
            return [row[0] for row in conn.execute(sql, tuple(wanted))]

    def by_names(
        self,
        *,
        name: Sequence[str | Sequence[str]] = (),
        family: Sequence[str | Sequence[str]] = (),
        given: Sequence[str | Sequence[str]] = (),
        professions: Professions = (),
        active: bool | None = None,
        among: Sequence[str] | None = None,
        designated: Designated = (),
        after: str = "",
        limit: int = 50,
        columns: dict[str, tuple[tuple[str, str], ...]] = NAME_COLUMNS,
    ) -> list[str]:
        """National ids whose names start with the given texts, ordered, after ``after``.

        ``family`` matches the civil-status family name or any *nom d'exercice*; ``given`` the
        first civil-status given name or any *prénom d'exercice*; ``name`` either (``columns``:
        :data:`NAME_COLUMNS`; the FHIR API's are :data:`FHIR_NAME_COLUMNS`). Each value
        is a text or a sequence of alternative texts (one of which must match: FHIR's comma
        OR); several values of one parameter, or several parameters, must all match (FHIR AND).

        ``professions``: TRE_G15 codes, each item a list of alternatives (one of the person's
        exercices is in one of them) or ``None`` (any exercice); the items AND like names.

        ``designated``: repetitions of ``identifier`` that name a whole system
        (:data:`Designated`), each checked through the person's primary key.

        ``among``: only these national ids (those an identifier search found), each checked
        against the conditions through its primary key, however many people the names or
        ``active`` alone would match.
        """
        query = _search_query(name, family, given, professions, active, among, designated, columns)
        if query is None:
            return []
        sql, params = query
        with self.directory._connection() as conn:
            rows = conn.execute(sql, (*params, after, limit)).fetchall()
        return [row[0] for row in rows]

    def count(
        self,
        *,
        name: Sequence[str | Sequence[str]] = (),
        family: Sequence[str | Sequence[str]] = (),
        given: Sequence[str | Sequence[str]] = (),
        professions: Professions = (),
        active: bool | None = None,
        among: Sequence[str] | None = None,
        designated: Designated = (),
        columns: dict[str, tuple[tuple[str, str], ...]] = NAME_COLUMNS,
    ) -> int:
        """How many people :meth:`by_names` finds with these conditions, over all its pages
        (FHIR ``_total=accurate``): the same query, counted — a walk of every match."""
        query = _search_query(name, family, given, professions, active, among, designated, columns)
        if query is None:
            return 0
        sql, params = query
        with self.directory._connection() as conn:
            # LIMIT -1: no limit (https://www.sqlite.org/lang_select.html#limitoffset).
            row = conn.execute(f"SELECT COUNT(*) FROM ({sql})", (*params, "", -1)).fetchone()  # noqa: S608
        return int(row[0])

    def by_profession(
        self, codes: Sequence[str] | None, *, after: str = "", limit: int = 50
    ) -> list[str]:
        """National ids with an exercice in one of the professions ``codes`` (index walk),
        or in any profession (``None``)."""
        if codes is not None and not codes:
            return []
        test, params = _profession_test("", codes)
        sql = (
            "SELECT DISTINCT national_id FROM exercice "  # noqa: S608
            f"WHERE {test}national_id > ? ORDER BY national_id LIMIT ?"
        )
        with self.directory._connection() as conn:
            rows = conn.execute(sql, (*params, after, limit)).fetchall()
        return [row[0] for row in rows]

    def count_roles(self, codes: Sequence[str] | None) -> int:
        """How many ``PractitionerRole`` resources the professions ``codes`` (``None``: any)
        have over the whole directory: one per situation of an exercice in them, one for an
        exercice without situation (:func:`santeid.fhir_directory.resources.practitioner_roles`)."""
        if codes is not None and not codes:
            return 0
        test, params = _profession_test("e.", codes)
        sql = (
            "SELECT COALESCE(SUM(MAX(1, (SELECT COUNT(*) FROM activity a "  # noqa: S608
            "WHERE a.exercice_id = e.id))), 0) "
            f"FROM exercice e WHERE {test}1"
        )
        with self.directory._connection() as conn:
            return int(conn.execute(sql, tuple(params)).fetchone()[0])


def _profession_test(alias: str, codes: Sequence[str] | None) -> tuple[str, list[object]]:
    """``code_profession IN (…) AND `` for ``codes``, nothing for ``None`` (any profession):
    the start of a ``WHERE`` on table ``alias``."""
    if codes is None:
        return "", []
    return f"{alias}code_profession IN ({', '.join('?' * len(codes))}) AND ", list(codes)


def _search_query(
    name: Sequence[str | Sequence[str]],
    family: Sequence[str | Sequence[str]],
    given: Sequence[str | Sequence[str]],
    professions: Professions,
    active: bool | None,
    among: Sequence[str] | None,
    designated: Designated,
    columns: dict[str, tuple[tuple[str, str], ...]],
) -> tuple[str, list[object]] | None:
    """The SQL of a search and its parameters but ``after`` and ``limit``, which come last;
    ``None`` when nobody can match (no one among, a profession list of no code, a designated
    repetition of nobody)."""
    if any(codes is not None and not codes for codes in professions):
        return None
    if any(not ids and not types for ids, types in designated):
        return None
    conditions: _Conditions = []
    for kind, values in (("family", family), ("given", given), ("name", name)):
        for value in values:
            ranges = []
            for alternative in (value,) if isinstance(value, str) else value:
                key = name_key(alternative)
                if not key:
                    raise SearchError(f"empty {kind} search")
                ranges.append(_prefix_range(key))
            if ranges:
                conditions.append((columns[kind], ranges))
    if among is not None:
        sql, params = _among_query(among, conditions, active, professions, designated)
    else:
        sql, params = _names_query(conditions, active, professions, designated)
    return None if sql is None else (sql, params)


def _by_key(
    column: str,
    professions: Professions,
    designated: Designated,
    where: list[str],
    params: list[object],
) -> None:
    """Add to ``where`` and ``params`` the tests of ``professions`` and ``designated`` on the
    national id ``column``, each read through a key: the person's exercices by
    ``exercice (national_id, rank)``, its id type by the primary key."""
    for codes in professions:
        test, values = _profession_test("t.", codes)
        where.append(
            "EXISTS (SELECT 1 FROM exercice t WHERE "  # noqa: S608
            f"{test}t.national_id = {column})"
        )
        params.extend(values)
    for ids, types in designated:
        test, values = _designated_test(column, ids, types)
        where.append(test)
        params.extend(values)


def _designated_test(column: str, ids: Sequence[str], types: Sequence[str]) -> tuple[str, list]:
    """The SQL test of one :data:`Designated` repetition on the national id ``column``: one of
    the ``ids``, or a person of one of the id ``types``, read through the primary key."""
    tests = []
    if ids:
        tests.append(f"{column} IN ({', '.join('?' * len(ids))})")
    tests.append(
        f"EXISTS (SELECT 1 FROM person d WHERE d.national_id = {column} "  # noqa: S608
        f"AND d.id_type IN ({', '.join('?' * len(types))}))"
    )
    return f"({' OR '.join(tests)})", [*ids, *types]


def _names_query(
    conditions: _Conditions,
    active: bool | None,
    professions: Professions = (),
    designated: Designated = (),
) -> tuple[str, list[object]]:
    """The search over the whole directory: each name condition a ``UNION`` of index range
    walks, the conditions ``INTERSECT``ed; each candidate's professions and status then read
    through its keys. Without names, the first profession list is the walk (``exercice
    (code_profession, national_id)``, in national-id order from the cursor, stopping at
    ``limit`` for one code). Parameters ``after`` and ``limit`` come last."""
    params: list[object] = []
    where: list[str] = []
    if conditions:
        parts = []
        for columns, ranges in conditions:
            selects = []
            for table, column in columns:
                for low, high in ranges:
                    selects.append(
                        f"SELECT national_id FROM {table} WHERE {_range_test(column, high)}"  # noqa: S608
                    )
                    params.extend(_range_params(low, high))
            parts.append(" UNION ".join(selects))
        source = " INTERSECT ".join(f"SELECT * FROM ({part})" for part in parts)  # noqa: S608
    elif professions:
        # Not a subquery: SQLite would sort its whole output for the ORDER BY.
        first, *others = professions
        if first is not None:
            where.append(f"s.code_profession IN ({', '.join('?' * len(first))})")
            params.extend(first)
        professions = others
        source = ""
    elif active is True:
        # ``active=true`` alone: the primary key walked in order, stopping at ``limit`` matches
        # (nearly everyone is active).
        source = "SELECT national_id FROM person WHERE status = 'active'"
        active = None
    elif active is False:
        # ``active=false`` alone: the partial index of the few inactive people, which SQLite
        # uses only for this very literal condition (schema version 3).
        source = "SELECT national_id FROM person WHERE status = 'inactive'"
        active = None
    else:
        source = "SELECT national_id FROM person"
    # A few exercices per candidate, through ``exercice (national_id, rank)``: never the list
    # of a whole profession intersected with the names.
    _by_key("s.national_id", professions, designated, where, params)
    if active is not None:
        # Each candidate's status read through the primary key: the list of every active
        # (or inactive) person is never built.
        where.append(
            "EXISTS (SELECT 1 FROM person p WHERE p.national_id = s.national_id AND p.status = ?)"
        )
        params.append("active" if active else "inactive")
    where.append("s.national_id > ?")
    if source:
        select = f"SELECT s.national_id FROM ({source}) s"  # noqa: S608
    else:
        select = "SELECT DISTINCT s.national_id FROM exercice s"
    sql = f"{select} WHERE {' AND '.join(where)} ORDER BY s.national_id LIMIT ?"  # noqa: S608
    return sql, params


def _among_query(
    among: Sequence[str],
    conditions: _Conditions,
    active: bool | None,
    professions: Professions = (),
    designated: Designated = (),
) -> tuple[str | None, list[object]]:
    """The same conditions tested on the people ``among`` only: each person read by its
    primary key, its exercices through ``exercice (national_id, rank)``; parameters ``after``
    and ``limit`` come last. ``None`` when ``among`` is empty."""
    if not among:
        return None, []
    wanted = sorted(set(among))
    where = [f"national_id IN ({', '.join('?' * len(wanted))})"]
    params: list[object] = [*wanted]
    if active is not None:
        where.append("status = ?")
        params.append("active" if active else "inactive")
    for columns, ranges in conditions:
        tests = []
        for table, column in columns:
            for low, high in ranges:
                if table == "person":
                    tests.append(f"({_range_test(column, high)})")
                else:
                    walk = (
                        f"t.national_id = person.national_id AND {_range_test(f't.{column}', high)}"
                    )
                    tests.append(f"EXISTS (SELECT 1 FROM {table} t WHERE {walk})")  # noqa: S608
                params.extend(_range_params(low, high))
        where.append(f"({' OR '.join(tests)})")
    _by_key("person.national_id", professions, designated, where, params)
    where.append("national_id > ?")
    sql = (
        f"SELECT national_id FROM person WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY national_id LIMIT ?"
    )
    return sql, params

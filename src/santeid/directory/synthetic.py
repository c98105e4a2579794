"""A deterministic synthetic directory at the RASS's real shape and size.

``santeid directory generate --professionals N --seed S`` builds a directory of ``N`` invented
professionals whose proportions follow the national directory (about 1.2 million people; see
``docs/directory.md`` for the figures and their sources): professions by TRE_G15 code, specialties
of médecins (TRE_R38), liberal and salaried practice, individual and group cabinets, SEL and
pharmacies with SIRET, hospitals, clinics and nursing homes with FINESS, a few people with two
exercices or several savoir-faire, ADELI national ids for the professions still registered
there, and ``otherIds`` histories (a former ADELI number kept after the move to the RPPS, §10).

Determinism: every draw comes from a :class:`random.Random` seeded with the string
``santeid-directory:<GENERATOR_VERSION>:<seed>:<chunk>`` (string seeds go through SHA-512, not
Python's salted ``hash``), one stream per chunk of :data:`CHUNK` people, plus one stream for the
shared structures; pools are read from files shipped with the package. The same ``N`` and seed
give the same professionals on any machine.

Nothing is real: RPPS-type ids are ``82`` + 9 digits + a deliberately wrong Luhn key, ADELI
numbers start with department ``96`` (which does not exist), SIREN/SIRET numbers start with
``000`` and FINESS numbers with ``0B`` (no such department), e-mails are at ``example.org`` and
phone numbers come from the blocks ARCEP sets aside for fiction (as in ``demo.py``). Communes,
postcodes and departments are real.

Speed: people are generated as plain tuples in table order and bulk-loaded by :func:`generate`
with ``executemany`` in one transaction, journal off, secondary indexes built after the load;
the same records turn into :class:`~santeid.directory.models.Professional` values
(:meth:`Record.professional`) for the extract-file output.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import os
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import accumulate
from pathlib import Path
from random import Random

from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import OtherId
from santeid.directory.models import Professional
from santeid.directory.models import SavoirFaire
from santeid.directory.models import Structure
from santeid.directory.models import own_other_ids
from santeid.directory.repository import ACTIVITY_COLUMNS
from santeid.directory.repository import EXERCICE_COLUMNS
from santeid.directory.repository import PERSON_COLUMNS
from santeid.directory.repository import STRUCTURE_COLUMNS
from santeid.directory.schema import migrate
from santeid.directory.schema import secondary_indexes

#: Bump when the output for a given seed changes.
GENERATOR_VERSION = 1
#: People per random stream (and per insert batch).
CHUNK = 20_000


class Weighted:
    """Items with weights, drawn with one ``rng.random()`` and a bisection."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, pairs: Sequence[tuple[object, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum = list(accumulate(weight for _, weight in pairs))
        self.total = self.cum[-1]

    def draw(self, rng: Random):
        return self.items[bisect_right(self.cum, rng.random() * self.total)]


# -- shape of the directory -------------------------------------------------------------------

#: TRE_G15 profession → relative weight (thousands of people registered, rounded; see
#: docs/directory.md): médecins ~230 k and infirmiers ~600 k of about 1.2 million.
PROFESSION_WEIGHTS: dict[str, float] = {
    "10": 230, "60": 600, "70": 95, "21": 73, "40": 44, "98": 36, "28": 35, "91": 26,
    "50": 24, "96": 15, "94": 15, "80": 14, "95": 12, "31": 10, "86": 10, "92": 6, "26": 5,
    "69": 2, "32": 1, "83": 1.5, "81": 0.7, "82": 0.4, "84": 0.1, "85": 0.1,
}  # fmt: skip

#: Médecins' first savoir-faire (TRE_R38, type S): general practice ~45 %, then specialties.
MEDECIN_SPECIALTIES: dict[str, float] = {
    "SM54": 22, "SM26": 18, "SM53": 5, "SM02": 5, "SM42": 6.5, "SM40": 4, "SM44": 3.5,
    "SM74": 0.8, "SM04": 3, "SM73": 0.5, "SM38": 2.8, "SM20": 2.5, "SM15": 1.8, "SM24": 1.8,
    "SM41": 1.5, "SM48": 1.2, "SM32": 1.3, "SM34": 1.2, "SM08": 1.5, "SM14": 1.1, "SM03": 1.4,
    "SM01": 0.7, "SM16": 0.9, "SM27": 1.0, "SM30": 0.8, "SM25": 2.0, "SM49": 0.9, "SM18": 1.0,
    "SM12": 0.6, "SM28": 0.4, "SM29": 1.0, "SM21": 0.5, "SM36": 0.4, "SM59": 1.2, "SM46": 0.4,
    "SM19": 0.4, "SM07": 0.2, "SM10": 0.3, "SM11": 0.3, "SM13": 0.2, "SM31": 0.3, "SM58": 0.2,
    "SM61": 0.3, "SM43": 0.4, "SM45": 0.3, "SM17": 0.1, "SM57": 0.1,
}  # fmt: skip
#: Second savoir-faire some médecins hold (type, code): capacities, competences, DESC.
MEDECIN_EXTRA_SAVOIR_FAIRE: dict[tuple[str, str], float] = {
    ("CAPA", "CAPA05"): 2, ("CAPA", "CAPA06"): 3, ("CAPA", "CAPA10"): 2, ("CAPA", "CAPA01"): 1,
    ("C", "C05"): 1, ("DNQ", "DSM220"): 2, ("DNQ", "DSM213"): 1, ("DEC", "DEC14"): 1,
    ("OP", "81"): 1, ("OP", "80"): 0.5,
}  # fmt: skip
DENTISTE_SPECIALTIES = {"": 92, "SCD01": 6, "SCD02": 1.5, "SCD03": 0.5}
INFIRMIER_SPECIALTIES = {"": 92, "SI07": 2.5, "SI06": 1.5, "SI08": 3.5, "SI01": 0.5}

#: Share of women per profession (drives civilité and given names).
WOMEN: dict[str, float] = {
    "10": 0.5, "60": 0.87, "70": 0.5, "21": 0.68, "40": 0.48, "50": 0.97, "91": 0.96,
    "96": 0.88, "94": 0.86, "95": 0.93, "92": 0.9, "80": 0.7, "98": 0.7, "31": 0.95,
}  # fmt: skip

#: Share of liberal practice per profession (others are salaried).
LIBERAL: dict[str, float] = {
    "10": 0.55, "60": 0.2, "70": 0.85, "21": 0.0, "40": 0.9, "50": 0.3, "91": 0.8, "80": 0.95,
    "92": 0.6, "96": 0.3, "94": 0.15, "95": 0.3, "98": 0.05, "28": 0.25, "26": 0.4,
}  # fmt: skip

#: Registration authority (order or ARS) per profession (docs/reference/pro-sante-connect.md §9.3
#: key 30).
AUTHORITY: dict[str, str] = {
    "10": "CNOM", "21": "CNOP", "40": "ONCD", "50": "CNOSF", "60": "ONI", "69": "ONI",
    "70": "CNOMK", "80": "CNOPP",
}  # fmt: skip

#: Professions still registered in ADELI for most of their members (national id type 0).
ADELI_PROFESSIONS = frozenset({"26", "28", "81", "82", "83", "84", "85", "86", "94", "95", "96"})
#: Professions moved from ADELI to the RPPS: members often keep their former ADELI number.
MIGRATED_PROFESSIONS = frozenset({"60", "69", "70", "80", "91", "92", "98", "31"})

#: Number of activities (situations) of a person with liberal or mixed practice.
ACTIVITY_COUNTS = Weighted([(1, 70), (2, 20), (3, 6), (4, 2.5), (5, 1.2), (6, 0.3)])

#: Kinds of establishment (TRE_R02 sector, share, name patterns).
ESTABLISHMENTS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("SA01", 32, ("CENTRE HOSPITALIER DE {city}", "CHU DE {city}", "HOPITAL DE {city}")),
    ("SA03", 4, ("HOPITAL PRIVE {saint}", "INSTITUT {saint}")),
    ("SA04", 20, ("CLINIQUE {saint}", "CLINIQUE DU {place}", "POLYCLINIQUE DE {city}")),
    ("SA17", 30, ("EHPAD LES {trees}", "EHPAD {saint}", "RESIDENCE LES {trees}")),
    ("SA16", 6, ("MAS LES {trees}", "IME DE {city}")),
    ("SA25", 8, ("LABORATOIRE DE BIOLOGIE MEDICALE {saint}", "LABORATOIRE DU {place}")),
)
SAINTS = (
    "SAINT MARTIN", "SAINTE ANNE", "SAINT JOSEPH", "SAINT LOUIS", "SAINTE MARIE", "SAINT PIERRE",
    "SAINT VINCENT", "SAINT JEAN", "SAINTE CLAIRE", "SAINT LUC", "PASTEUR", "LAENNEC",
)  # fmt: skip
PHARMACY_SIGNS = ("DU CENTRE", "DE LA GARE", "DU MARCHE", "DES ECOLES", "DU PARC")
PLACES = ("PARC", "LAC", "VAL", "PONT", "MOULIN", "CHATEAU", "PORT", "BOIS", "CENTRE", "MARCHE")
TREES = ("TILLEULS", "CHENES", "ERABLES", "PINS", "CEDRES", "SAULES", "PEUPLIERS", "ACACIAS")
STREETS = (
    "DE LA REPUBLIQUE", "VICTOR HUGO", "JEAN JAURES", "DU GENERAL DE GAULLE", "PASTEUR",
    "DE LA GARE", "DES ECOLES", "DE L EGLISE", "DU MOULIN", "GAMBETTA", "JULES FERRY",
    "DE PARIS", "DU MARECHAL FOCH", "CARNOT", "DES LILAS", "DES TILLEULS", "DU STADE",
    "DE LA LIBERATION", "DU 8 MAI 1945", "DE VERDUN", "DU MARECHAL LECLERC", "NATIONALE",
    "DES JARDINS", "DE LA MAIRIE", "DU CHATEAU", "DES ROSIERS", "SAINT MICHEL", "DE LA PAIX",
    "ANATOLE FRANCE", "EMILE ZOLA", "DES PRES", "DE LA FONTAINE", "DU COMMERCE", "DES VIGNES",
    "DU PORT", "DES FLEURS", "DE BRETAGNE", "DU LAVOIR", "DES CERISIERS", "DE LA POSTE",
)  # fmt: skip
STREET_TYPES = Weighted(
    [("R", 55), ("AV", 15), ("BD", 8), ("PL", 6), ("CHE", 6), ("ALL", 4), ("IMP", 3), ("RTE", 3)]
)
#: Phone blocks reserved for fiction (see demo.py); the last four digits vary.
PHONE_BLOCKS = ("019900", "026191", "035301", "046571", "053649")


@dataclass(frozen=True)
class Commune:
    code: str
    postcode: str
    name: str
    department: str


@dataclass(frozen=True)
class Pools:
    family: Weighted
    given: dict[str, Weighted]
    communes: Weighted


def _data_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("santeid.directory").joinpath("data", name).read_text("utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(body)))


@functools.cache
def pools() -> Pools:
    """Name and commune pools, read once from ``data/names.csv`` and ``data/communes.csv``."""
    names = _data_rows("names.csv")
    by_kind: dict[str, list[tuple[object, float]]] = {}
    for row in names:
        by_kind.setdefault(row["kind"], []).append((row["name"], float(row["weight"])))
    communes = [
        (Commune(r["code"], r["postcode"], r["name"], r["department"]), float(r["weight"]))
        for r in _data_rows("communes.csv")
    ]
    return Pools(
        family=Weighted(by_kind["family"]),
        given={"F": Weighted(by_kind["given_F"]), "M": Weighted(by_kind["given_M"])},
        communes=Weighted(communes),
    )


# -- identifiers -------------------------------------------------------------------------------


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_key(digits: str) -> int:
    """The Luhn check digit making ``digits + key`` valid."""
    values = [ord(ch) - 48 for ch in reversed(digits)]
    total = sum(_DOUBLED[d] for d in values[0::2]) + sum(values[1::2])
    return (10 - total % 10) % 10


def rpps_local(index: int) -> str:
    """11-digit RPPS-shaped number ``2`` + 9 digits + a key that fails Luhn: never a real one."""
    body = f"2{index:09d}"
    return body + str((luhn_key(body) + 1) % 10)


def adeli_number(serial: int) -> str:
    """9-digit ADELI-shaped number in department ``96``, which does not exist."""
    return f"96{serial:07d}"


def siren(serial: int) -> str:
    body = f"000{serial:05d}"
    return body + str(luhn_key(body))


def siret(siren_number: str) -> str:
    body = siren_number + "0001"
    return body + str(luhn_key(body))


def finess(serial: int) -> str:
    return f"0B{serial:07d}"


# -- records -----------------------------------------------------------------------------------


@dataclass
class Record:
    """One generated person as table rows (column order of :mod:`~.repository`)."""

    person: tuple
    #: (exercice row without id/rank, extra savoir-faire pairs, [(activity row, structure id)])
    exercices: list[tuple[tuple, list[tuple[str, str]], list[tuple[tuple, str | None]]]]
    other_ids: list[tuple[str, str, int]]
    #: Structures created for this person only (own cabinet), as structure rows.
    structures: list[tuple]

    def professional(self, shared: dict[str, tuple]) -> Professional:
        """The same person as a :class:`Professional` (for the extract-file output)."""
        own = {row[0]: row for row in self.structures}
        values = dict(zip(PERSON_COLUMNS, self.person, strict=True))
        values["given_names"] = tuple(n for n in values["given_names"].split("'") if n)
        birth = values["birth_date"]
        values["birth_date"] = datetime.date.fromisoformat(birth) if birth else None
        values["sandbox_auto_approve"] = bool(values["sandbox_auto_approve"])
        exercices = []
        for row, extras, activities in self.exercices:
            acts = []
            for activity_row, structure_id in activities:
                srow = (own.get(structure_id) or shared.get(structure_id)) if structure_id else None
                structure = Structure(*srow) if srow else None
                acts.append(
                    Activity(
                        **dict(zip(ACTIVITY_COLUMNS, activity_row, strict=True)),
                        structure=structure,
                    )
                )
            exercices.append(
                Exercice(
                    **dict(zip(EXERCICE_COLUMNS, row, strict=True)),
                    activities=tuple(acts),
                    other_savoir_faire=tuple(SavoirFaire(t, c) for t, c in extras),
                )
            )
        return Professional(
            **values,
            exercices=tuple(exercices),
            other_ids=tuple(OtherId(i, o, q) for i, o, q in self.other_ids),
        )


def _address(rng: Random, commune: Commune) -> tuple[str, ...]:
    """Structure columns ``complement_destinataire`` … ``code_departement`` (19 values)."""
    return (
        "",  # complement_destinataire
        "",  # complement_point_geographique
        str(rng.randint(1, 180)),
        "B" if rng.random() < 0.03 else "",
        STREET_TYPES.draw(rng),
        STREETS[rng.randrange(len(STREETS))],
        "",  # mention_distribution
        f"{commune.postcode} {commune.name}",
        commune.postcode,
        commune.code,
        "99000",
        PHONE_BLOCKS[rng.randrange(5)] + f"{rng.randrange(10_000):04d}",
        "",  # telephone2
        "",  # telecopie
        "",  # email
        commune.department,
    )


class Generator:
    """Generates the ``n`` people of one seed, chunk by chunk; see the module docstring."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.pools = pools()
        self.professions = Weighted(list(PROFESSION_WEIGHTS.items()))
        self.medecin = Weighted(list(MEDECIN_SPECIALTIES.items()))
        self.medecin_extra = Weighted(list(MEDECIN_EXTRA_SAVOIR_FAIRE.items()))
        self.dentiste = Weighted(list(DENTISTE_SPECIALTIES.items()))
        self.infirmier = Weighted(list(INFIRMIER_SPECIALTIES.items()))
        self.shared: dict[str, tuple] = {}
        self._build_shared_structures()

    def rng(self, stream: str) -> Random:
        # Synthetic data, not secrets: a seeded, reproducible generator is the point.
        return Random(f"santeid-directory:{GENERATOR_VERSION}:{self.seed}:{stream}")  # noqa: S311

    # -- shared structures: establishments, group cabinets, SEL, pharmacies ---------------------

    def _build_shared_structures(self) -> None:
        rng = self.rng("structures")
        n = self.n
        kinds = Weighted([(k, share) for k, share, _ in ESTABLISHMENTS])
        patterns = {k: p for k, _, p in ESTABLISHMENTS}
        self.establishments: dict[str, list[str]] = {k: [] for k, _, _ in ESTABLISHMENTS}
        self.sector_of: dict[str, str] = {}
        serial = 0
        for _ in range(max(12, n // 120)):
            sector = kinds.draw(rng)
            commune = self.pools.communes.draw(rng)
            name = (
                rng.choice(patterns[sector])
                .replace("{city}", commune.name)
                .replace("{saint}", rng.choice(SAINTS))
                .replace("{place}", rng.choice(PLACES))
                .replace("{trees}", rng.choice(TREES))
            )
            serial += 1
            site = finess(serial)
            legal = finess(5_000_000 + serial // 3)
            sid = "F" + site
            self.shared[sid] = (sid, "", "", site, legal, name, "", *_address(rng, commune))
            self.establishments[sector].append(sid)
            self.sector_of[sid] = sector
        self.groups: list[str] = []  # cabinets de groupe (SA08), RPPS-managed structures
        self.sels: list[str] = []  # sociétés d'exercice (SA09) with SIRET
        self.pharmacies: list[str] = []  # officines (SA33) with SIRET
        self.centres: list[str] = []  # centres de santé (SA05) with SIRET
        siren_serial = 0
        for kind, count, label in (
            ("groups", max(4, n // 50), "CABINET MEDICAL"),
            ("sels", max(4, n // 250), "SELARL"),
            ("pharmacies", max(4, n // 55), "PHARMACIE"),
            ("centres", max(2, n // 600), "CENTRE DE SANTE"),
        ):
            for i in range(count):
                commune = self.pools.communes.draw(rng)
                sid = f"R3{len(self.shared):013d}"
                number_siret = number_siren = enseigne = ""
                if kind != "groups":
                    siren_serial += 1
                    number_siren = siren(siren_serial)
                    number_siret = siret(number_siren)
                family = self.pools.family.draw(rng)
                if kind == "pharmacies":
                    name = f"SELARL PHARMACIE {family}"
                    enseigne = "PHARMACIE " + rng.choice(PHARMACY_SIGNS)
                elif kind == "centres":
                    name = f"{label} {commune.name}"
                elif kind == "sels":
                    name = f"{label} {family} ET ASSOCIES"
                else:
                    name = f"{label} {rng.choice(TREES)} {i}"
                self.shared[sid] = (
                    sid,
                    number_siret,
                    number_siren,
                    "",
                    "",
                    name,
                    enseigne,
                    *_address(rng, commune),
                )
                getattr(self, kind).append(sid)

    def structures(self) -> Iterator[tuple]:
        return iter(self.shared.values())

    # -- people ---------------------------------------------------------------------------------

    def chunks(self) -> Iterator[list[Record]]:
        for start in range(0, self.n, CHUNK):
            yield self.chunk(start // CHUNK, start, min(self.n, start + CHUNK))

    def chunk(self, number: int, start: int, stop: int) -> list[Record]:
        rng = self.rng(f"chunk:{number}")
        return [self.person(rng, index) for index in range(start, stop)]

    def chunk_rows(self, number: int) -> dict[str, list[tuple]]:
        """Chunk ``number`` as rows per table, ready for ``executemany``.

        Row ids are derived from the person's index (``exercice.id`` = index × 4 + rank,
        ``activity.id`` = exercice id × 8 + rank): chunks can be built in any process and in any
        order, and ids still grow with the national ids, so every insert appends.
        """
        start = number * CHUNK
        rows: dict[str, list[tuple]] = {table: [] for table in TABLE_ORDER}
        persons, structures, exercices = rows["person"], rows["structure"], rows["exercice"]
        activities, others, savoir_faire = rows["activity"], rows["other_id"], rows["savoir_faire"]
        for offset, record in enumerate(self.chunk(number, start, min(self.n, start + CHUNK))):
            index = start + offset
            national_id = record.person[0]
            persons.append(record.person)
            structures.extend(record.structures)
            for e_rank, (row, extras, acts) in enumerate(record.exercices, start=1):
                exercice_id = index * 4 + e_rank
                exercices.append((exercice_id, national_id, e_rank, *row))
                for s_rank, pair in enumerate(extras, start=1):
                    savoir_faire.append((exercice_id, s_rank, *pair))
                for a_rank, (activity_row, sid) in enumerate(acts, start=1):
                    activities.append(
                        (exercice_id * 8 + a_rank, exercice_id, a_rank, *activity_row, sid)
                    )
            for o_rank, other in enumerate(record.other_ids, start=1):
                others.append((national_id, o_rank, *other))
        return rows

    def person(self, rng: Random, index: int) -> Record:
        profession = self.professions.draw(rng)
        woman = rng.random() < WOMEN.get(profession, 0.75)
        sex = "F" if woman else "M"
        family = self.pools.family.draw(rng)
        if rng.random() < 0.03:
            family = f"{family}-{self.pools.family.draw(rng)}".replace(" ", "-")
        given = [self.pools.given[sex].draw(rng)]
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            extra = self.pools.given[sex].draw(rng)
            if extra not in given:
                given.append(extra)
        adeli = profession in ADELI_PROFESSIONS and rng.random() < 0.7
        if adeli:
            id_type, local_id = "0", adeli_number(index)
        else:
            id_type, local_id = "8", rpps_local(index)
        national_id = id_type + local_id
        year = 2001 - int(rng.random() * 46)
        birth = f"{year}-{1 + int(rng.random() * 12):02d}-{1 + int(rng.random() * 28):02d}"
        email = ""
        if rng.random() < 0.8:
            email = f"{given[0]}.{family}.{index}@example.org".lower().replace(" ", "-")
        phone = f"063998{index % 10_000:04d}" if rng.random() < 0.7 else ""
        person = (
            national_id,
            id_type,
            local_id,
            family,
            "".join(f"{name}'" for name in given),
            birth,
            "MME" if woman else "M",
            phone,
            email,
            0,
            "active",
            "",
        )
        structures: list[tuple] = []
        exercices = [
            self.exercice(rng, profession, family, given[0], local_id, 0, structures),
        ]
        if rng.random() < 0.004:
            second = {"10": "40", "40": "10", "60": "50", "50": "60", "70": "80"}.get(
                profession, "60"
            )
            exercices.append(self.exercice(rng, second, family, given[0], local_id, 1, structures))
        other_ids = [
            (o.identifiant, o.origine, o.qualite) for o in own_other_ids(national_id, id_type)
        ]
        if not adeli and profession in MIGRATED_PROFESSIONS and rng.random() < 0.6:
            other_ids.append(("0" + adeli_number(5_000_000 + 2 * index), "ADELI", 1))
            if rng.random() < 0.08:
                other_ids.append(("0" + adeli_number(5_000_001 + 2 * index), "ADELI", 1))
        return Record(person, exercices, other_ids, structures)

    def exercice(
        self,
        rng: Random,
        profession: str,
        family: str,
        first_given: str,
        local_id: str,
        exercice_rank: int,
        structures: list[tuple],
    ) -> tuple[tuple, list[tuple[str, str]], list[tuple[tuple, str | None]]]:
        category = "C"
        roll = rng.random()
        if profession in ("10", "21", "40", "50") and roll < 0.03:
            category = "E"
        elif roll > 0.99:
            category = "M"
        code_type = code = ""
        extras: list[tuple[str, str]] = []
        if profession == "10":
            code_type, code = "S", self.medecin.draw(rng)
            if rng.random() < 0.06:
                extras.append(self.medecin_extra.draw(rng))
        elif profession == "40":
            code = self.dentiste.draw(rng)
            code_type = "S" if code else ""
        elif profession == "60":
            code = self.infirmier.draw(rng)
            code_type = "S" if code else ""
        civilite = ""
        if profession in ("10", "40"):
            civilite = "PR" if rng.random() < 0.02 else ("DR" if rng.random() < 0.9 else "")
        elif profession == "21" and rng.random() < 0.2:
            civilite = "DR"
        nom = family
        if rng.random() < 0.04:
            nom = f"{family}-{self.pools.family.draw(rng)}".replace(" ", "-")
        row = (profession, category, civilite, nom, first_given, code_type, code)
        return row, extras, self.activities(rng, profession, local_id, exercice_rank, structures)

    def activities(
        self,
        rng: Random,
        profession: str,
        local_id: str,
        exercice_rank: int,
        structures: list[tuple],
    ) -> list[tuple[tuple, str | None]]:
        authority = AUTHORITY.get(profession, "ARS")
        liberal = rng.random() < LIBERAL.get(profession, 0.1)
        result: list[tuple[tuple, str | None]] = []
        if rng.random() < 0.015:
            return result  # registered, no current situation
        count = ACTIVITY_COUNTS.draw(rng) if liberal or profession == "10" else 1
        if profession == "21":
            count = 1 if rng.random() < 0.9 else 2
        seen: set[str | None] = set()
        for rank in range(count):
            genre = "GENR01"
            roll = rng.random()
            if roll < 0.03:
                genre = "GENR02"
            elif roll < 0.04:
                genre = "GENR04"
            if profession == "21":
                situation = self._pharmacist(rng, authority, genre)
            elif liberal and rank == 0:
                situation = self._liberal(
                    rng, profession, local_id, exercice_rank, authority, genre, structures
                )
            elif liberal and rng.random() < 0.5:
                auth = f"{authority}/{authority}/{authority}"
                situation = ("L", "SA08", "", "", genre, auth, ""), rng.choice(self.groups)
            else:
                situation = self._salaried(rng, profession, authority, genre)
            if situation[1] in seen:
                continue  # one situation per structure and exercice
            seen.add(situation[1])
            result.append(situation)
        return result

    def _liberal(self, rng, profession, local_id, exercice_rank, authority, genre, structures):
        roll = rng.random()
        auth = f"{authority}/{authority}/{authority}"
        if roll < 0.62:
            # Own cabinet: a structure of this person only, old id 4 + RPPS + rank
            # (docs/reference/pro-sante-connect.md §9.3).
            commune = self.pools.communes.draw(rng)
            sid = f"R2{local_id[1:]}{exercice_rank}"
            rank = len(structures) + 1
            name = f"CABINET {profession} {local_id[-4:]}"
            structures.append((sid, "", "", "", "", name, "", *_address(rng, commune)))
            old = f"4{local_id}{rank:03d}"
            return ("L", "SA07", "", "FON-01" if rng.random() < 0.3 else "", genre, auth, old), sid
        if roll < 0.88:
            sid = rng.choice(self.groups)
            return ("L", "SA08", "", "", genre, auth, ""), sid
        if roll < 0.96:
            sid = rng.choice(self.sels)
            return ("L", "SA09", "", "FON-02", genre, auth, "3" + self.shared[sid][1]), sid
        sid = rng.choice(self.centres)
        return ("S", "SA05", "", "", genre, auth, "3" + self.shared[sid][1]), sid

    def _salaried(self, rng, profession, authority, genre):
        sectors = ("SA01", "SA01", "SA01", "SA04", "SA17", "SA03")
        if profession in ("10",) and rng.random() < 0.08:
            sectors = ("SA25",)
        if profession in ("94", "96") and rng.random() < 0.5:
            sectors = ("SA16",)
        sector = rng.choice(sectors)
        candidates = self.establishments.get(sector) or self.establishments["SA01"]
        sid = rng.choice(candidates)
        site = self.shared[sid][3]
        role = "FON-33" if rng.random() < 0.2 else ""
        auth = f"{authority}/{authority}/ARS"
        return ("S", self.sector_of[sid], "", role, genre, auth, "1" + site), sid

    def _pharmacist(self, rng, authority, genre):
        roll = rng.random()
        auth = f"{authority}/{authority}/{authority}"
        if roll < 0.32:
            sid = rng.choice(self.pharmacies)
            return ("L", "SA33", "A", "FON-03", genre, auth, "3" + self.shared[sid][1]), sid
        if roll < 0.72:
            sid = rng.choice(self.pharmacies)
            return ("S", "SA33", "D", "FON-05", genre, auth, "3" + self.shared[sid][1]), sid
        if roll < 0.84:
            sid = rng.choice(self.establishments["SA01"] or self.establishments["SA04"])
            site = self.shared[sid][3]
            return ("S", "SA01", "H", "", genre, f"{authority}/{authority}/ARS", "1" + site), sid
        sid = rng.choice(self.establishments["SA25"] or self.establishments["SA01"])
        site = self.shared[sid][3]
        return ("S", "SA25", "G", "FON-41", genre, f"{authority}/{authority}/ARS", "1" + site), sid


# -- output --------------------------------------------------------------------------------------


@dataclass
class GenerationReport:
    professionals: int
    exercices: int
    activities: int
    structures: int
    other_ids: int
    seconds: float
    path: str


def generate(
    path: Path | str,
    n: int,
    seed: int,
    *,
    with_demo: bool = True,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> GenerationReport:
    """Write a new directory database of ``n`` synthetic professionals to ``path``.

    Built in ``path.tmp`` and renamed at the end, so an interrupted or failed run leaves the
    previous file in place (and no ``path.tmp``); a running server keeps reading the file it
    opened (restart it). The demo set is added unless ``with_demo`` is false, so that the
    sandbox logins keep working.

    ``jobs`` processes build the rows while this one writes them (default: 2 from 100,000
    people up, when the machine has 2 cores); the output does not depend on it.
    """
    started = time.monotonic()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    leftovers = (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    try:
        counts, structures_count = _build(tmp, n, seed, with_demo, progress, jobs)
        os.replace(tmp, path)
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
    return GenerationReport(
        professionals=n,
        exercices=counts.get("exercice", 0),
        activities=counts.get("activity", 0),
        structures=structures_count,
        other_ids=counts.get("other_id", 0),
        seconds=time.monotonic() - started,
        path=str(path),
    )


def _build(
    tmp: Path,
    n: int,
    seed: int,
    with_demo: bool,
    progress: Callable[[int], None] | None,
    jobs: int | None,
) -> tuple[dict[str, int], int]:
    """Fill the new database ``tmp`` (see :func:`generate`); ``(rows per table, structures)``."""
    from santeid.directory.repository import Directory

    conn = sqlite3.connect(tmp, isolation_level=None)
    counts: dict[str, int] = {}
    try:
        for pragma in (
            "page_size = 4096",
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            "temp_store = MEMORY",
            "cache_size = -262144",
        ):
            conn.execute(f"PRAGMA {pragma}")
        migrate(conn)
        indexes = secondary_indexes()
        for name in indexes:
            conn.execute(f"DROP INDEX {name}")
        generator = Generator(n, seed)
        sql = {
            "person": _insert_sql("person", PERSON_COLUMNS),
            "structure": _insert_sql("structure", STRUCTURE_COLUMNS),
            "exercice": _insert_sql("exercice", ("id", "national_id", "rank", *EXERCICE_COLUMNS)),
            "savoir_faire": _insert_sql(
                "savoir_faire",
                ("exercice_id", "rank", "code_type_savoir_faire", "code_savoir_faire"),
            ),
            "activity": _insert_sql(
                "activity", ("id", "exercice_id", "rank", *ACTIVITY_COLUMNS, "structure_id")
            ),
            "other_id": _insert_sql(
                "other_id", ("national_id", "rank", "identifiant", "origine", "qualite")
            ),
        }
        conn.execute("BEGIN")
        conn.executemany(sql["structure"], generator.structures())
        for rows in _chunk_rows(generator, jobs):
            for table in TABLE_ORDER:
                conn.executemany(sql[table], rows[table])
                counts[table] = counts.get(table, 0) + len(rows[table])
            if progress:
                progress(len(rows["person"]))
        conn.execute("COMMIT")
        for index_sql in indexes.values():
            conn.execute(index_sql)
        structures_count = conn.execute("SELECT count(*) FROM structure").fetchone()[0]
        conn.execute("PRAGMA locking_mode = NORMAL")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    if with_demo:
        demo = Directory(tmp)
        try:
            demo.seed_demo()
        finally:
            demo.close()
    return counts, structures_count


TABLE_ORDER = ("person", "structure", "exercice", "savoir_faire", "activity", "other_id")

_WORKER: Generator | None = None


def _worker_init(n: int, seed: int) -> None:
    global _WORKER
    _WORKER = Generator(n, seed)


def _worker_chunk(number: int) -> dict[str, list[tuple]]:
    assert _WORKER is not None
    return _WORKER.chunk_rows(number)


def _chunk_rows(generator: Generator, jobs: int | None) -> Iterator[dict[str, list[tuple]]]:
    """Rows of every chunk in order, built here or by ``jobs - 1`` helper processes."""
    numbers = range((generator.n + CHUNK - 1) // CHUNK)
    if jobs is None:
        jobs = 2 if generator.n >= 100_000 and (os.cpu_count() or 1) >= 2 else 1
    if jobs <= 1:
        for number in numbers:
            yield generator.chunk_rows(number)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(
        jobs - 1 if jobs > 2 else 1, _worker_init, (generator.n, generator.seed)
    ) as pool:
        yield from pool.imap(_worker_chunk, numbers, chunksize=1)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - names from the schema
        f"VALUES ({', '.join('?' * len(columns))})"
    )


def professionals(n: int, seed: int) -> Iterator[Professional]:
    """The generated people as :class:`Professional` values, in generation order."""
    generator = Generator(n, seed)
    for records in generator.chunks():
        for record in records:
            yield record.professional(generator.shared)

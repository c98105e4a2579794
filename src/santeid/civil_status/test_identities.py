"""THE PUBLISHED FICTITIOUS TEST SET of the INSi qualification environment
(docs/reference/insi-teleservice.md §9).

Every identity below is fictitious.  They were published as captures of the real qualification
environment (Padoa ``@padoa/tlsi-ins`` fixtures) or as CNDA test files, and health software is
tested against them: santeid loads them, unchanged, into every civil-status base it generates, so a
client qualified against the real service gets the same answers from the simulator.

Two lists:

* :data:`TEST_IDENTITIES`: persons present in the base, with exactly the traits, matricule, key,
  OID and history docs/reference/insi-teleservice.md records.  Their carte Vitale "ouvrant droit" is
  themselves (docs/reference/insi-teleservice.md
  records no card data for them).
* :data:`PUBLISHED_CASES`: the published *queries* and the answer each must get (00 with a given
  matricule, 01, 02, or a SOAP fault), including those whose point is that nobody matches.

Two persons had to be completed: docs/reference/insi-teleservice.md records that ``DE VINCI /
LEONARDO / M / 2014-02-01``
answers **02** (several identities) but gives none of them.  The two ``DE VINCI`` entries are
santeid's own completion (``source`` says so): same searched traits, different birthplaces, NIRs
consistent with those birthplaces.

HERMANN / GATIEN is loaded exactly as the CNDA file ``TEST_2.08_cas2.xml`` has it, although its
keys do not verify (:data:`UNVERIFIED_KEYS`): vendors' CNDA test steps expect those values.
ECETINSI has the one ``INSHISTO`` the live service returns (the CNDA file ``TEST_2.04_cas2.xml``
adds a second one the live answer does not have).

Left out of the base on purpose (see ``docs/civil-status.md``): PAT-TROIS / DOMINIQUE (an ANS
HL7v2 example with OID ``.10`` whose NIR contradicts its birthplace, not an INSi answer), ADRDEUX
/ LAURENT and PATB-QUATRE / LAURENCE (request samples with no recorded answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from santeid.civil_status.nir import OID_ARC_NIA
from santeid.civil_status.nir import OID_ARC_NIR
from santeid.civil_status.nir import nir_key

PADOA_LIVE = "INSi qualification capture (Padoa fixtures)"
PADOA_VIRTUAL = "Padoa virtual mode"
SANTEID_COMPLETION = (
    "santeid completion of a published 02 case (docs/reference/insi-teleservice.md records no "
    "identity)"
)
CNDA_HERMANN = "CNDA TEST_2.08_cas2.xml (published keys that do not verify)"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ``INSHISTO`` entry: an earlier matricule with its own OID and optional dates."""

    matricule: str
    key: int
    oid: int
    date_deb: str | None = None
    date_fin: str | None = None


@dataclass(frozen=True, slots=True)
class TestIdentity:
    """A person of the published test set, as stored in the base (traits in INSi form)."""

    birth_name: str
    given_names: tuple[str, ...]
    sex: str
    birth_date: str
    birthplace: str
    matricule: str
    key: int
    oid: int
    source: str
    history: tuple[HistoryEntry, ...] = ()

    @property
    def kind(self) -> str:
        return "NIA" if self.oid == OID_ARC_NIA else "NIR"


@dataclass(frozen=True, slots=True)
class PublishedCase:
    """A published traits query and its expected answer.

    ``expected`` is a ``CodeCR`` (``00``, ``01``, ``02``) or ``fault``; ``fault`` then holds
    ``<subcode>/<siram:Erreur code>``.  ``matricule`` is the expected ``INSACTIF`` for ``00``.
    """

    birth_name: str
    given_names: str
    sex: str
    birth_date: str
    expected: str
    matricule: str | None = None
    fault: str | None = None
    birthplace: str | None = None
    source: str = PADOA_LIVE


TEST_IDENTITIES: tuple[TestIdentity, ...] = (
    TestIdentity(
        "ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020",
        "297022A020778", 78, OID_ARC_NIR, PADOA_LIVE,
    ),
    TestIdentity(
        "ADRTROIS", ("TOUSSAINT",), "M", "1960-01-01", "2B020",
        "160012B020777", 13, OID_ARC_NIR, PADOA_LIVE,
    ),
    TestIdentity(
        "ADRUN", ("ZOE",), "F", "1975-12-31", "63220",
        "2751263220749", 74, OID_ARC_NIR, PADOA_LIVE + ", TEST certificate, README output",
    ),
    TestIdentity(
        "TCHITCHI", ("CATARINA", "BELLA"), "F", "1936-06-21", "63220",
        "2360663220836", 56, OID_ARC_NIR, PADOA_LIVE,
    ),
    TestIdentity(
        "ECETINSI", ("PIERRE-ALAIN", "MURIEL", "FLORIANT"), "M", "2009-07-14", "63220",
        "1090763220834", 89, OID_ARC_NIR, PADOA_LIVE,
        # The live answer's one INSHISTO, as captured: DateDeb is later than DateFin.
        history=(HistoryEntry("2090763220834", 39, OID_ARC_NIR, "2019-03-01", "2019-02-28"),),
    ),
    TestIdentity(
        "NESSI", ("MICHELANGELO", "ANTHONY"), "M", "2010-08-07", "63220",
        "1100863220830", 60, OID_ARC_NIR, PADOA_VIRTUAL,
    ),
    TestIdentity(
        "CORSE", ("ANTHONY",), "M", "1980-03-02", "2B020",
        "180032B020401", 23, OID_ARC_NIR, "CNDA TEST_2.08_cas1.xml",
        # The CNDA answer repeats the active matricule as history.
        history=(HistoryEntry("180032B020401", 23, OID_ARC_NIR),),
    ),
    TestIdentity(
        "PROVISOIRE", ("MATRICULE",), "M", "2009-07-01", "63220",
        "1090763220888", 35, OID_ARC_NIA, "CNDA TEST_2.05.xml (OID NIA)",
    ),
    TestIdentity(
        "DE VINCI", ("LEONARDO",), "M", "2014-02-01", "13201",
        "1140213201417", 64, OID_ARC_NIR, SANTEID_COMPLETION,
    ),
    TestIdentity(
        "DE VINCI", ("LEONARDO",), "M", "2014-02-01", "69381",
        "1140269381152", 13, OID_ARC_NIR, SANTEID_COMPLETION,
    ),
    TestIdentity(
        "HERMANN", ("GATIEN",), "M", "1981-03-24", "63220",
        "1810363220456", 60, OID_ARC_NIR, CNDA_HERMANN,
        # As the CNDA file: the active matricule repeated, then the other sex digit.
        history=(
            HistoryEntry("1810363220456", 60, OID_ARC_NIR),
            HistoryEntry("2810363220456", 10, OID_ARC_NIR),
        ),
    ),
)  # fmt: skip

#: Published matricules whose key does not verify (HERMANN's: 97 - N mod 97 gives 76 and 26
#: where the CNDA file has 60 and 10, docs/reference/insi-teleservice.md §9), each with its
#: published key. The INSi operations expect exactly that key for them, never the computed one
#: (``santeid.insi.service.parse_ins_matricule``): the INS santeid answers is the one it accepts
#: back.
UNVERIFIED_KEYS: Mapping[str, int] = MappingProxyType(
    {
        matricule: key
        for identity in TEST_IDENTITIES
        for matricule, key in (
            (identity.matricule, identity.key),
            *((entry.matricule, entry.key) for entry in identity.history),
        )
        if nir_key(matricule) != key
    }
)

PUBLISHED_CASES: tuple[PublishedCase, ...] = (
    PublishedCase("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "00", "297022A020778"),
    PublishedCase("ADRTROIS", "TOUSSAINT", "M", "1960-01-01", "00", "160012B020777"),
    PublishedCase("ADRUN", "ZOE", "F", "1975-12-31", "00", "2751263220749"),
    PublishedCase("TCHITCHI", "OLA", "F", "1936-06-21", "01"),
    PublishedCase("TCHITCHI", "CATARINA", "F", "1936-06-21", "00", "2360663220836"),
    PublishedCase("HOUILLES", "PIERRE", "M", "1993-01-27", "01", source=PADOA_VIRTUAL),
    PublishedCase("HOUILLES", "PAUL", "M", "1993-01-27", "01", source=PADOA_VIRTUAL),
    PublishedCase("HOUILLES", "JACQUES", "M", "1993-01-27", "01", source=PADOA_VIRTUAL),
    PublishedCase("HOUILLES", "PIERRE PAUL JACQUES", "M", "1993-01-27", "01", source=PADOA_VIRTUAL),
    PublishedCase("DE VINCI", "LEONARDO", "M", "2014-02-01", "02"),
    PublishedCase("DE VINCI", "LEONARDODINO DICAPRIO BUFFALO", "M", "2004-02-01", "01"),
    PublishedCase("ECETINSI", "PIERRE-ALAIN", "M", "2009-07-14", "00", "1090763220834"),
    PublishedCase("NESSI", "MICHELANGELO", "M", "2010-08-07", "00", "1100863220830",
                  source=PADOA_VIRTUAL),
    PublishedCase("CORSE", "ANTHONY", "M", "1980-03-02", "00", "180032B020401",
                  source="CNDA TEST_2.08_cas1.xml"),
    PublishedCase("PROVISOIRE", "MATRICULE", "M", "2009-07-01", "00", "1090763220888",
                  source="CNDA TEST_2.05.xml"),
    PublishedCase("HERMANN", "GATIEN", "M", "1981-03-24", "00", "1810363220456",
                  source=CNDA_HERMANN),
    PublishedCase("D'AEION", "COEUR", "M", "1987-01-25", "fault", fault="siram_40/insi_102"),
)  # fmt: skip

#: Birth name of the sandbox fault scenarios (``santeid.insi.service.SANDBOX_FAULTS``): a traits
#: search for it in sandbox mode answers the fault its given name names. Nobody holds it.
SANDBOX_FAULT_BIRTH_NAME = "SANTEID-FAUTE"

#: Birth names of every published fictitious person, loaded or not.  Random persons never get one
#: of these (compared without separators), so a published "01" stays 01 and a published "00"
#: never turns into "02" whatever matching policy the INSi layer adopts.
RESERVED_BIRTH_NAMES: frozenset[str] = frozenset(
    {i.birth_name for i in TEST_IDENTITIES}
    | {c.birth_name for c in PUBLISHED_CASES}
    | {"PAT-TROIS", "ADRDEUX", "PATB-QUATRE", SANDBOX_FAULT_BIRTH_NAME}
)

#: Every matricule the test set uses (active and history): random persons never get one.
RESERVED_MATRICULES: frozenset[str] = frozenset(
    {i.matricule for i in TEST_IDENTITIES}
    | {h.matricule for i in TEST_IDENTITIES for h in i.history}
    # Recorded for identities that are not loaded: kept free all the same.
    | {"2790351215189", "1810163220751"}
    # ECETINSI's second INSHISTO in the CNDA file, which the live answer does not have.
    | {"2090663220123"}
)

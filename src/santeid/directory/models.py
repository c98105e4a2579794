"""The professionals directory as immutable values, shaped like the RASS extract.

One :class:`Professional` (a line group of the RASS "Extraction ProSanteConnect" file,
docs/reference/pro-sante-connect.md
§15.2) holds its :class:`Exercice` items (one per profession), each holding its :class:`Activity`
items (one per *situation d'exercice*), each pointing at a :class:`Structure`.

Field names are the snake_case forms of the RASS columns; ``docs/claims.md`` maps each one to
its userinfo claim. Every code field holds the code as a string and ``""`` when absent, never
``None``: userinfo must carry ``""`` for missing values (docs/reference/pro-sante-connect.md §9.3),
and one convention from
the database to the claims leaves no place for a ``null`` to slip through.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

#: ``Professional.status`` values. Only ``active`` professionals may log in; ``inactive`` ones
#: stay in the directory (their identifiers must not be reused) but are refused at login.
STATUS_ACTIVE = "active"
STATUS_INACTIVE = "inactive"
STATUSES = (STATUS_ACTIVE, STATUS_INACTIVE)

#: TRE_G15-ProfessionSante labels (docs/reference/pro-sante-connect.md §16), for people reading the
#: command line and docs.
PROFESSION_LABELS: dict[str, str] = {
    "10": "Médecin",
    "21": "Pharmacien",
    "26": "Audioprothésiste",
    "28": "Opticien-Lunetier",
    "31": "Assistant dentaire",
    "32": "Physicien médical",
    "40": "Chirurgien-Dentiste",
    "50": "Sage-Femme",
    "60": "Infirmier",
    "69": "Infirmier psychiatrique",
    "70": "Masseur-Kinésithérapeute",
    "80": "Pédicure-Podologue",
    "81": "Orthoprothésiste",
    "82": "Podo-Orthésiste",
    "83": "Orthopédiste-Orthésiste",
    "84": "Oculariste",
    "85": "Epithésiste",
    "86": "Technicien de laboratoire médical",
    "91": "Orthophoniste",
    "92": "Orthoptiste",
    "94": "Ergothérapeute",
    "95": "Diététicien",
    "96": "Psychomotricien",
    "98": "Manipulateur ERM",
}


@dataclass(frozen=True)
class Structure:
    """A site where professionals work (RASS columns *Numéro SIRET site* … *Code département*).

    ``identifiant_technique`` is ``R…`` for a structure managed in the RPPS (a cabinet) or
    ``F`` + FINESS for an establishment (docs/reference/pro-sante-connect.md §9.3, key 10).
    """

    identifiant_technique: str
    numero_siret: str = ""
    numero_siren: str = ""
    numero_finess_site: str = ""
    numero_finess_ej: str = ""
    raison_sociale: str = ""
    enseigne_commerciale: str = ""
    complement_destinataire: str = ""
    complement_point_geographique: str = ""
    numero_voie: str = ""
    indice_repetition_voie: str = ""
    code_type_voie: str = ""
    libelle_voie: str = ""
    mention_distribution: str = ""
    bureau_cedex: str = ""
    code_postal: str = ""
    code_commune: str = ""
    code_pays: str = ""
    telephone: str = ""
    telephone2: str = ""
    telecopie: str = ""
    email: str = ""
    code_departement: str = ""


@dataclass(frozen=True)
class Activity:
    """A *situation d'exercice*: how and where an exercice is practised.

    ``ancien_identifiant_structure`` and ``autorite_enregistrement`` belong to the situation,
    not the structure: the old identifier ``4`` + RPPS + rank names the professional's own
    cabinet, and the authority differs between two people at the same hospital.
    """

    code_mode_exercice: str = ""  # TRE_R23-ModeExercice: L, S, B, I
    code_secteur_activite: str = ""  # TRE_R02-SecteurActivite: SA07, SA01…
    code_section_pharmacien: str = ""  # TRE_R06-SectionTableauCNOP: A, D, G, H…
    code_role: str = ""  # TRE_R21-Fonction (FON-xx)
    code_genre_activite: str = ""  # TRE_R22-GenreActivite: GENR01…
    autorite_enregistrement: str = ""  # "CNOM/CNOM/CNOM", "ARS/ARS/ARS"…
    ancien_identifiant_structure: str = ""  # 1+FINESS, 3+SIRET or 4+RPPS+rank
    structure: Structure | None = None


@dataclass(frozen=True)
class SavoirFaire:
    """A savoir-faire beyond an exercice's first one (RASS *Code type savoir-faire*, *Code
    savoir-faire*). The RASS file repeats the exercice on one line per savoir-faire; userinfo
    carries only the first (docs/reference/pro-sante-connect.md §9.3), the FHIR API lists them
    all."""

    code_type_savoir_faire: str = ""  # TRE_R04
    code_savoir_faire: str = ""  # TRE_R38 / TRE_R01


@dataclass(frozen=True)
class Exercice:
    """An *exercice professionnel*: one profession of the person, with its savoir-faire.

    ``code_type_savoir_faire``/``code_savoir_faire`` hold the first savoir-faire (the one
    userinfo sends); ``other_savoir_faire`` the others, in file order.
    """

    code_profession: str  # TRE_G15-ProfessionSante: 10, 21, 40, 50, 60…
    code_categorie_professionnelle: str = ""  # TRE_R09: C civil, E en formation
    code_civilite_exercice: str = ""  # TRE_R11: DR, PR…
    nom_exercice: str = ""
    prenom_exercice: str = ""
    code_type_savoir_faire: str = ""  # TRE_R04: S, C, CAPA…
    code_savoir_faire: str = ""  # TRE_R38 / TRE_R01: SM26, SM54, SCD01…
    activities: tuple[Activity, ...] = ()
    other_savoir_faire: tuple[SavoirFaire, ...] = ()


@dataclass(frozen=True)
class OtherId:
    """An identifier the person is also known by (RASS *Autres identifiants*,
    docs/reference/pro-sante-connect.md §10)."""

    identifiant: str
    origine: str  # RPPS, ADELI, EDIT…
    qualite: int = 1


#: ``origine`` of a person's own identifier in *Autres identifiants* / ``otherIds``, by national
#: id type: every PSC answer lists the person's own id first — ``899700427885,RPPS`` (BAS access
#: token and userinfo, docs/reference/pro-sante-connect.md §6, §9.4), ``810106820706,RPPS,1``
#: (RASS extract, §15.2), an EDIT identity with ``EDIT`` (§9.5). Structure staff (types ``3`` and
#: ``5``) have no RPPS, ADELI or EDIT id: the userinfo recorded for such a person has no
#: ``otherIds`` at all (§9.5).
OWN_ID_ORIGINS: dict[str, str] = {"8": "RPPS", "0": "ADELI", "ANS": "EDIT"}


def own_other_ids(national_id: str, id_type: str) -> tuple[OtherId, ...]:
    """The *Autres identifiants* of a person nothing else is known of: their own identifier,
    ``qualite`` 1, with the origin of its type (:data:`OWN_ID_ORIGINS`); none for structure
    staff. The demo and synthetic directories and the sandbox's own professionals all use it."""
    origine = OWN_ID_ORIGINS.get(id_type)
    return (OtherId(national_id, origine, 1),) if origine else ()


@dataclass(frozen=True)
class Professional:
    """A person of the directory, with exercices and activities in rank order.

    ``family_name`` and ``given_names`` are civil-status names (RASS *Nom de famille*,
    *Prénoms*); the names a professional practises under are on each :class:`Exercice`.
    ``correspondence_phone`` and ``correspondence_email`` serve e-CPS activation
    (docs/reference/pro-sante-connect.md §13)
    and never appear in userinfo. ``sandbox_scenario`` (sandbox mode only) is the scenario the
    professional was created with through the sandbox control API, as JSON (``""``: none;
    ``santeid.sandbox.scenarios``), kept with the professional so that it lasts as long.
    """

    national_id: str
    id_type: str
    local_id: str
    family_name: str
    given_names: tuple[str, ...] = ()
    birth_date: datetime.date | None = None
    code_civilite: str = ""  # TRE_R81-Civilite: M, MME
    correspondence_phone: str = ""
    correspondence_email: str = ""
    sandbox_auto_approve: bool = False
    status: str = STATUS_ACTIVE
    sandbox_scenario: str = ""
    exercices: tuple[Exercice, ...] = ()
    other_ids: tuple[OtherId, ...] = ()

    @property
    def given_name(self) -> str:
        """First civil-status given name: the userinfo ``given_name``
        (docs/reference/pro-sante-connect.md §9.2)."""
        return self.given_names[0] if self.given_names else ""

    @property
    def professions(self) -> tuple[str, ...]:
        """Distinct profession codes, in exercice order (feeds ``SubjectRole``)."""
        return tuple(dict.fromkeys(e.code_profession for e in self.exercices))

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE

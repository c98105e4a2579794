"""Protocol-neutral INSi model: queries, answers, call context and errors.

The SOAP, REST and FHIR adapters all speak this model; :class:`santeid.insi.service.InsiService`
answers it.  Names follow the INSi operations (``docs/reference/insi-teleservice.md``, cited
as §N):

* :class:`TraitsQuery` — ``RECSANSVITALE`` (§4): ``NomNaissance``, ``Prenom`` 0..n, ``Sexe``,
  ``DateNaissance``, optional ``LieuNaissance``;
* :class:`VitaleQuery` — ``RECVITALE`` (§4): ``MatriculeOD``, ``MatriculeIndividu`` 0..1,
  ``NomNaissance``, ``DateNaissance``, ``RangNaissance``;
* :class:`VerifyQuery` — ``RequeteUnitaire`` (§4): an INS and the five traits;
* :class:`SearchResult` — ``RESULTAT`` (§5): ``CodeCR`` and, for 00 only, the ``INDIVIDU``
  (:class:`Identity`: ``INSACTIF``, ``INSHISTO*``, ``TIQ``);
* :class:`VerifyResult` — santeid's own design (the real verification answer is not public,
  §15; see ``docs/insi-overview.md``);
* :class:`InsiError` — a refusal or a fault, carrying the INSi codes of §6 where they exist.

Values are in INSi form (upper case A-Z, space, apostrophe, hyphen; dates ``AAAA-MM-JJ``;
sex ``M``/``F``; 5-character COG) once the service has normalised and validated a query.
"""

from __future__ import annotations

from dataclasses import dataclass

from santeid import problems as _catalogue

# -- result codes (docs/reference/insi-teleservice.md §5)
# ----------------------------------------------------------------

CR_FOUND = "00"
CR_NOT_FOUND = "01"
CR_SEVERAL = "02"

#: ``LibelleCR`` exactly as the teleservice sends it, without accents (§5).
CR_LABELS: dict[str, str] = {
    CR_FOUND: "OK",
    CR_NOT_FOUND: "Aucune identite trouvee",
    CR_SEVERAL: "Plusieurs identites trouvees",
}

# -- operations (docs/reference/insi-teleservice.md §1)
# ------------------------------------------------------------------

OP_SEARCH_TRAITS = "rechercherInsAvecTraitsIdentite"
OP_SEARCH_VITALE = "rechercherInsAvecCarteVitale"
OP_VERIFY = "verifierInsAvecTraitsIdentite"
OPERATIONS: tuple[str, ...] = (OP_SEARCH_TRAITS, OP_SEARCH_VITALE, OP_VERIFY)

# -- channels and authentication methods ------------------------------------------------------

CHANNELS: tuple[str, ...] = ("soap", "rest", "fhir")
AUTH_METHODS: tuple[str, ...] = ("certificate", "cps-assertion", "psc-token", "bearer")

#: Trait names used in :attr:`VerifyResult.differing`, in this order.
TRAIT_NAMES: tuple[str, ...] = ("birth_name", "given_names", "sex", "birth_date", "birthplace")
#: :attr:`VerifyResult.differing` when the INS itself is unknown or no longer the active one.
MATRICULE = "matricule"


@dataclass(frozen=True)
class TraitsQuery:
    """Search by identity traits (``RECSANSVITALE``, WS_INS2).

    ``given_names``: the queried given names; an item may hold several space-separated names,
    as clients send "all the given names" in one ``Prenom`` (§5).  ``birthplace``: optional COG.
    """

    birth_name: str
    given_names: tuple[str, ...]
    sex: str
    birth_date: str
    birthplace: str | None = None


#: ``RangNaissance`` when the card does not say (the beneficiary is not a twin): an absent or
#: empty ``RangNaissance`` in SOAP, an absent or null ``birthRank`` in REST.
DEFAULT_BIRTH_RANK = 1


@dataclass(frozen=True)
class VitaleQuery:
    """Search with a carte Vitale (``RECVITALE``, WS_INS1).

    ``od_matricule``: the "ouvrant droit" (insured person) NIR read on the card, 13 characters
    (15 with the key, which is then checked).  ``individual_matricule``: the beneficiary's own
    matricule when the card carries it.  ``birth_rank``: rang de naissance (twins: 1, 2).
    """

    od_matricule: str
    individual_matricule: str | None
    birth_name: str
    birth_date: str
    birth_rank: int


@dataclass(frozen=True)
class VerifyQuery:
    """Verification of an INS against identity traits (``RequeteUnitaire``).

    ``oid``: the OID supplied with the INS (``INSFourni/OID``), when given: an INS is its
    matricule *and* its OID, so a NIA sent with the NIR's OID is not the person's INS."""

    matricule: str
    key: str
    traits: TraitsQuery
    oid: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One ``INSHISTO``: an earlier matricule, its OID and optional ``DateDeb``/``DateFin``
    (kept as recorded, even when ``start`` is later than ``end``, §5)."""

    matricule: str
    key: str
    oid: str
    start: str | None
    end: str | None

    @property
    def value(self) -> str:
        """The 15 characters matricule + key."""
        return self.matricule + self.key


@dataclass(frozen=True)
class Identity:
    """The ``INDIVIDU`` of a 00 answer: ``INSACTIF`` (matricule, key, OID), ``INSHISTO*`` and
    the ``TIQ`` traits (``ListePrenom`` as ``given_names``)."""

    matricule: str
    key: str
    oid: str
    birth_name: str
    given_names: tuple[str, ...]
    sex: str
    birth_date: str
    birthplace: str
    history: tuple[HistoryEntry, ...]

    @property
    def value(self) -> str:
        """The 15 characters matricule + key (FHIR ``identifier.value``)."""
        return self.matricule + self.key

    @property
    def kind(self) -> str:
        """``NIA`` for OID ``.9``, else ``NIR`` (docs/reference/insi-teleservice.md §10)."""
        return "NIA" if self.oid.endswith(".9") else "NIR"

    @property
    def given_names_text(self) -> str:
        """``ListePrenom``: the given names separated by single spaces."""
        return " ".join(self.given_names)

    @property
    def first_given_name(self) -> str:
        """The first item of ``ListePrenom`` (FR Core: "extraire le premier prénom")."""
        return self.given_names[0] if self.given_names else ""


@dataclass(frozen=True)
class SearchResult:
    """``RESULTAT``: ``cr`` is ``00`` (``identity`` set), ``01`` or ``02`` (``identity`` None)."""

    cr: str
    identity: Identity | None

    @property
    def label(self) -> str:
        """``LibelleCR`` (§5)."""
        return CR_LABELS[self.cr]


@dataclass(frozen=True)
class VerifyResult:
    """Answer of a verification (santeid's design, ``docs/insi-overview.md``).

    ``conform``: the INS is the person's active one and all five traits are those of the
    reference base.  ``differing``: names of the traits that differ (:data:`TRAIT_NAMES` order),
    with ``"matricule"`` first when the INS is unknown or only an earlier one.  ``identity``: the
    reference identity when every trait conforms (also when the INS is an earlier one, so that
    the caller can move to the active INS), else None.
    """

    conform: bool
    differing: tuple[str, ...]
    identity: Identity | None


@dataclass(frozen=True)
class CallContext:
    """Who calls, and how: what the audit trail records (never the traits).

    ``software_id``: the software's authorisation number (IDAM, SOAP ``ContexteLPS``), the
    OAuth client id (``azp``) of a Bearer token, or the structure of a certificate (REST/FHIR,
    ``docs/insi-overview.md``).  ``strict``: validate traits exactly as the teleservice does (refuse
    lower case, accents…); None means "by channel": strict on SOAP (wire compatibility),
    normalising on REST and FHIR.
    """

    software_id: str
    structure_id: str | None
    professional_id: str | None
    channel: str
    auth_method: str
    strict: bool | None = None

    @property
    def strict_traits(self) -> bool:
        return self.channel == "soap" if self.strict is None else self.strict


class InsiError(Exception):
    """A refusal or a fault of the teleservice.

    ``code``: the ``siram:Erreur`` code (``insi_102``, ``desir_550``, ``DESIR_560``…, §6) or,
    for what docs/reference/insi-teleservice.md has no code for, santeid's own
    (``santeid_invalid_trait``…).
    ``severity``: the ``severite`` attribute (``information | avertissement | erreur | fatale``;
    the real ``insi_102`` capture says ``fatal``).  ``message``: the technical text
    (``siram:Erreur`` content).  ``element``: the INSi element at fault (``NomNaissance``…),
    ``rule``: the rule it breaks (``diacritic``…, ``docs/civil-status.md``).  ``http_status``:
    what REST and FHIR answer: the catalogue's status of ``code`` (``santeid.problems``),
    given only where an HTTP error keeps its own (``santeid.insi.problems.error_for``).
    ``subcode`` / ``fault``: SOAP 1.2 ``Code/Subcode/Value`` (``siram_40``…) and ``Code/Value``
    (``Sender`` / ``Receiver``); ``reason``: the user-facing ``Reason/Text``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        severity: str = "erreur",
        element: str | None = None,
        http_status: int | None = None,
        rule: str | None = None,
        subcode: str | None = None,
        fault: str = "Sender",
        reason: str | None = None,
        field: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.severity = severity
        self.message = message
        self.element = element
        self.http_status = http_status or _catalogue.problem_type(code).status
        self.rule = rule
        self.subcode = subcode
        self.fault = fault
        self.reason = reason or message
        #: Name of the model field at fault (``birth_name``…), for adapters that rename it.
        self.field = field
        #: Operator-facing explanation (logs, REST ``detail``); never sent over SOAP.
        self.detail = detail

    def __repr__(self) -> str:
        return (
            f"InsiError(code={self.code!r}, message={self.message!r}, element={self.element!r}, "
            f"rule={self.rule!r}, http_status={self.http_status})"
        )


# -- the errors of docs/reference/insi-teleservice.md §6, and santeid's own
# --------------------------------------------

#: Reason text of the real ``siram_40`` faults (§6).
REASON_UNAVAILABLE = (
    "Le service est temporairement inaccessible. Veuillez renouveler votre demande "
    "ultérieurement. Si le problème persiste, contactez l'éditeur du progiciel ou votre "
    "responsable informatique."
)
REASON_UNKNOWN_SOFTWARE = (
    "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du progiciel "
    "ou votre responsable informatique."
)
REASON_INSUFFICIENT_ACCESS = "Niveau d'accès insuffisant"

# santeid's codes for what INSi records no code for (the real ones are not public,
# docs/reference/insi-teleservice.md §15) live in the one problem catalogue.
from santeid.problems import CODE_INVALID_REQUEST as CODE_INVALID_REQUEST  # noqa: E402
from santeid.problems import CODE_INVALID_TRAIT as CODE_INVALID_TRAIT  # noqa: E402
from santeid.problems import CODE_UNAUTHENTICATED as CODE_UNAUTHENTICATED  # noqa: E402

SUBCODE_INVALID_INPUT = "santeid_invalid_input"


def technical_error() -> InsiError:
    """The real answer to D'AEION / COEUR: fault ``siram_40`` / ``insi_102``, severity
    ``fatal`` as captured (§6, §8.1)."""
    return InsiError(
        "insi_102",
        "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique.",
        severity="fatal",
        subcode="siram_40",
        fault="Receiver",
        reason=REASON_UNAVAILABLE,
    )


def outage(exc: BaseException) -> InsiError | None:
    """``desir_1020`` when ``exc`` is an outage of the token store or of the database — logged
    as one, without a traceback — else ``None`` (a bug). Every INSi adapter answers them so."""
    import logging

    from santeid import outages

    failed = outages.failed_part(exc)
    if failed is None:
        return None
    what = outages.describe(failed)
    logging.getLogger("santeid.insi").error("%s is unavailable during an INSi call: %s", what, exc)
    return service_unavailable(f"{what} is unavailable")


def service_unavailable(detail: str | None = None) -> InsiError:
    """``siram_40`` / ``desir_1020`` (§6): here, the civil-status base cannot be opened."""
    return InsiError(
        "desir_1020",
        "Le service appelé est temporairement indisponible",
        severity="fatale",
        subcode="siram_40",
        fault="Sender",
        reason=REASON_UNAVAILABLE,
        detail=detail,
    )


def unknown_software() -> InsiError:
    """``siram_100`` / ``desir_550`` (§6): the software authorisation number is not registered."""
    return InsiError(
        "desir_550",
        "Numéro d'autorisation du logiciel inconnu.",
        severity="erreur",
        subcode="siram_100",
        fault="Sender",
        reason=REASON_UNKNOWN_SOFTWARE,
    )


def insufficient_access(message: str | None = None) -> InsiError:
    """``DESIR_560`` (§6): certificate CN not ``INSI-AUTO``/``INSI-MANU``, or any other
    credential that does not grant access.  Its full fault shape is not public; santeid uses
    subcode ``siram_100`` like the other access refusal."""
    return InsiError(
        "DESIR_560",
        message or "Vous ne disposez pas des droits suffisants pour accéder à ce service",
        severity="erreur",
        subcode="siram_100",
        fault="Sender",
        reason=REASON_INSUFFICIENT_ACCESS,
    )

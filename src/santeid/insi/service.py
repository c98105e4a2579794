"""The protocol-neutral INSi core: search by traits, search with a carte Vitale, verification.

Every adapter (SOAP ``santeid.insi.soap``, REST :mod:`santeid.insi.rest`, FHIR
:mod:`santeid.insi.fhir`) turns its request into a query of :mod:`santeid.insi.model`, calls
:class:`InsiService` with a :class:`~santeid.insi.model.CallContext`, and renders the answer or
the :class:`~santeid.insi.model.InsiError`.  The rules, with their sources
(docs/reference/insi-teleservice.md §N), are in
``docs/insi-overview.md``; in short:

* **Traits** are normalised (REST, FHIR) or validated as-is (SOAP: the teleservice refuses lower
  case, accents and ligatures, docs/reference/insi-teleservice.md §12) with
  :mod:`santeid.civil_status.traits`; a refusal
  names the INSi element and the rule.
* **Search by traits** (``rechercherInsAvecTraitsIdentite``, §5): birth name, sex and birth date
  equal, birthplace equal when given, and **every queried given name is one of the person's
  given names** (order free).  One person → CR 00 with ``INSACTIF``, ``INSHISTO`` and ``TIQ``;
  none → 01; several → 02.  Deceased persons are found like anyone (the RNIPP keeps them, an INS
  is never reused).  The published D'AEION / COEUR query answers the technical-error fault
  ``siram_40`` / ``insi_102`` (§6, §8.1), read from the base's ``published_cases``.  In sandbox
  mode only, ``SANTEID-FAUTE`` with the given name ``INDISPONIBLE``, ``TECHNIQUE`` or ``ACCES``
  answers ``desir_1020``, ``insi_102`` or ``DESIR_560`` in their captured shape
  (:data:`SANDBOX_FAULTS`, ``docs/insi-soap.md``).
* **Search with a carte Vitale** (``rechercherInsAvecCarteVitale``, §4): the ouvrant droit's
  matricule, the beneficiary's birth date and rang identify one beneficiary (the base's unique
  index); its birth name, and its own matricule when the card carries it, must agree.
* **Verification** (``verifierInsAvecTraitsIdentite``): santeid's own design (§15).
* Every call, answered or refused, appends one audit row (:mod:`santeid.insi.audit`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from collections.abc import Iterator
from datetime import date
from datetime import datetime
from pathlib import Path

from santeid import db
from santeid.civil_status import traits as tr
from santeid.civil_status.nir import MatriculeError
from santeid.civil_status.nir import MatriculeParts
from santeid.civil_status.nir import format_key
from santeid.civil_status.nir import oid_for
from santeid.civil_status.nir import parse_matricule
from santeid.civil_status.schema import SQL_BY_ID
from santeid.civil_status.schema import SQL_BY_MATRICULE
from santeid.civil_status.schema import SQL_HISTORY
from santeid.civil_status.schema import SQL_HISTORY_OWNER
from santeid.civil_status.schema import SQL_TRAITS
from santeid.civil_status.schema import SQL_TRAITS_PLACE
from santeid.civil_status.schema import SQL_VITALE
from santeid.civil_status.test_identities import SANDBOX_FAULT_BIRTH_NAME
from santeid.civil_status.test_identities import UNVERIFIED_KEYS
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.insi.audit import AuditBacklog
from santeid.insi.audit import AuditLog
from santeid.insi.audit import SoftwareRegistry
from santeid.insi.audit import utc_now
from santeid.insi.audit import valid_month
from santeid.insi.base import CivilBase
from santeid.insi.model import CODE_INVALID_REQUEST
from santeid.insi.model import CODE_INVALID_TRAIT
from santeid.insi.model import CR_FOUND
from santeid.insi.model import CR_NOT_FOUND
from santeid.insi.model import CR_SEVERAL
from santeid.insi.model import MATRICULE
from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import OP_SEARCH_VITALE
from santeid.insi.model import OP_VERIFY
from santeid.insi.model import SUBCODE_INVALID_INPUT
from santeid.insi.model import CallContext
from santeid.insi.model import HistoryEntry
from santeid.insi.model import Identity
from santeid.insi.model import InsiError
from santeid.insi.model import SearchResult
from santeid.insi.model import TraitsQuery
from santeid.insi.model import VerifyQuery
from santeid.insi.model import VerifyResult
from santeid.insi.model import VitaleQuery
from santeid.insi.model import insufficient_access
from santeid.insi.model import service_unavailable
from santeid.insi.model import technical_error
from santeid.observability import record as observe

log = logging.getLogger(__name__)
#: No room for, or no way to write, an answer's audit row.
_AUDIT_FAILURES: tuple[type[Exception], ...] = (AuditBacklog, *db.DatabaseError, OSError)

#: File name of the civil-status base in ``data_dir`` (same default as ``santeid civil``).
BASE_NAME = "civil-status.sqlite3"
#: File name of the audit trail, statistics and software registry in ``data_dir``.
AUDIT_NAME = "insi.sqlite3"
#: The key of the audit trail's query hashes (``santeid.insi.audit``), in the data directory.
AUDIT_KEY_NAME = "insi-audit.key"

#: Audit ``result`` of a verification (it has no ``CodeCR``).
VERIFY_CONFORM = "conform"
VERIFY_NOT_CONFORM = "not-conform"
VERIFY_UNKNOWN = "unknown-ins"

#: Highest rang de naissance accepted (twins, triplets…; the carte Vitale writes one digit).
MAX_BIRTH_RANK = 9

#: INSi element of each model field, per operation (docs/reference/insi-teleservice.md §4).
TRAITS_ELEMENTS = {
    tr.BIRTH_NAME: "NomNaissance",
    tr.GIVEN_NAMES: "Prenom",
    tr.FIRST_GIVEN_NAME: "Prenom",
    tr.SEX: "Sexe",
    tr.BIRTH_DATE: "DateNaissance",
    tr.BIRTHPLACE: "LieuNaissance",
}
VERIFY_ELEMENTS = {**TRAITS_ELEMENTS, tr.GIVEN_NAMES: "ListePrenom"}
VITALE_ELEMENTS = {
    "od_matricule": "MatriculeOD",
    "individual_matricule": "MatriculeIndividu",
    tr.BIRTH_NAME: "NomNaissance",
    tr.BIRTH_DATE: "DateNaissance",
    "birth_rank": "RangNaissance",
}
MATRICULE_ELEMENTS = {"matricule": "NumIdentifiant", "key": "Cle"}

_KEY = re.compile(r"[0-9]{2}")

#: Sandbox fault scenarios: a traits search for :data:`SANDBOX_FAULT_BIRTH_NAME` whose first
#: given name is a key here answers that fault (sandbox mode only), so that client software can
#: be tested on each fault the real service was seen to send (docs/reference/insi-teleservice.md §6,
#: §8b). DE VINCI /
#: DICAPRIO, captured answering ``desir_1020`` once, answers 01 like any unknown name.
#: The sandbox scenario that answers late (``sandbox_insi_delay``), then as any unknown name (01).
SANDBOX_SLOW_GIVEN_NAME = "LENT"
SANDBOX_FAULTS: dict[str, Callable[[], InsiError]] = {
    "INDISPONIBLE": service_unavailable,
    "TECHNIQUE": technical_error,
    "ACCES": insufficient_access,
}


#: The text of a ``required`` refusal: a trait absent, empty or blank (its element and rule are
#: the error's own members; the text had been the rule's id, "Prenom : required [required]").
MISSING = "missing or empty"


def invalid(
    field: str, rule: str, message: str, element: str | None, *, code: str = CODE_INVALID_TRAIT
) -> InsiError:
    """A refused input: HTTP 400, SOAP ``Sender`` fault, naming the element and the rule."""
    return InsiError(
        code,
        message,
        severity="erreur",
        element=element,
        rule=rule,
        subcode=SUBCODE_INVALID_INPUT,
        fault="Sender",
        field=field,
    )


def parse_ins_matricule(text: str) -> MatriculeParts:
    """A matricule (13 characters, or 15 with the key) as the INSi operations take it: lenient
    (``strict=False``), and a published test matricule whose key does not verify (HERMANN /
    GATIEN, docs/reference/insi-teleservice.md §9) takes exactly the key santeid answers for it,
    not the computed one."""
    return parse_matricule(text, strict=False, published_keys=UNVERIFIED_KEYS)


def given_names_match(queried: tuple[str, ...], listed: str) -> bool:
    """The given-name rule of the traits search: every queried given name is one of the person's
    (``ListePrenom`` items, compared exactly; order and the other given names free).

    TCHITCHI ``OLA`` → no, ``CATARINA`` → yes (``CATARINA BELLA``); a homonym with the same
    first given name is told apart by adding another given name (docs/reference/insi-teleservice.md
    §5,
    ``docs/insi-overview.md``).
    """
    names = listed.split(" ")
    return all(name in names for name in queried)


# Shapes that are already in INSi form and pass every rule (normalising them changes nothing):
# most queries take this path; anything else goes through civil_status.traits in full.
_FAST_BIRTH_NAME = re.compile(r"[A-Z]+(?:(?:--|[-' ])[A-Z]+)*")
_FAST_GIVEN_NAME = re.compile(r"[A-Z]+(?:[-'][A-Z]+)*")
_FAST_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FAST_COG = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")


def _fast_traits(q: TraitsQuery, today: date) -> tr.Traits | None:
    """``q`` as validated traits when every value is already a plain, valid INSi form (what
    the full path would accept unchanged, strict or normalising); None otherwise."""
    name = q.birth_name
    if (
        not isinstance(name, str)
        or len(name) > tr.MAX_NAME_LENGTH
        or not _FAST_BIRTH_NAME.fullmatch(name)
        or q.sex not in ("M", "F")
        or not isinstance(q.birth_date, str)
        or not _FAST_DATE.fullmatch(q.birth_date)
    ):
        return None
    names: list[str] = []
    for item in q.given_names or ():
        if not isinstance(item, str):
            return None
        names.extend(item.split(" "))
    if not names or not all(_FAST_GIVEN_NAME.fullmatch(n) for n in names):
        return None
    if sum(map(len, names)) + len(names) - 1 > tr.MAX_NAME_LENGTH:
        return None
    try:
        day = date.fromisoformat(q.birth_date)
    except ValueError:
        return None
    if day.year < 1800 or day > today:
        return None
    place = q.birthplace or None
    if place is not None and (
        not isinstance(place, str)
        or not _FAST_COG.fullmatch(place)
        or place.startswith("00")
        or place == "99100"
    ):
        return None
    return tr.Traits(
        birth_name=name,
        given_names=tuple(names),
        first_given_name=names[0],
        sex=q.sex,
        birth_date=day,
        birthplace=place,
    )


class InsiService:
    """The INSi teleservice, whatever the protocol (``app.extensions["santeid"].insi``)."""

    def __init__(
        self,
        base_path: Path | str,
        audit_path: Path | str | db.Database,
        *,
        key_path: Path | str | None = None,
        clock: Callable[[], datetime] = utc_now,
        sandbox: bool = False,
        sandbox_delay: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        #: Sandbox mode: the :data:`SANDBOX_FAULTS` scenarios answer their fault, and
        #: :data:`SANDBOX_SLOW_GIVEN_NAME` answers after ``sandbox_delay`` seconds.
        self.sandbox = sandbox
        self.sandbox_delay = sandbox_delay
        self._sleep = sleep
        self.base = CivilBase(base_path)
        self.audit = AuditLog(audit_path, key_path=key_path, clock=clock)
        self._registry = SoftwareRegistry(self.audit.db, clock)
        self.clock = clock

    @classmethod
    def for_settings(cls, settings, *, clock: Clock = system_clock) -> InsiService:
        """``insi_base`` (empty = ``{data_dir}/civil-status.sqlite3``) and the audit tables of
        ``database_url`` (empty = ``{data_dir}/insi.sqlite3``)."""
        base = Path(settings.insi.base) if settings.insi.base else settings.data_path / BASE_NAME
        audit = db.database_for(settings, db.INSI)
        return cls(
            base,
            audit,
            key_path=settings.data_path / AUDIT_KEY_NAME,
            clock=functools.partial(utc_datetime, clock),
            sandbox=settings.sandbox.enabled,
            sandbox_delay=settings.sandbox.insi_delay,
        )

    # -- operations ----------------------------------------------------------------------------
    def search_by_traits(self, q: TraitsQuery, ctx: CallContext) -> SearchResult:
        """``rechercherInsAvecTraitsIdentite`` (docs/reference/insi-teleservice.md §4, §5)."""
        started = time.perf_counter_ns()
        digest_parts: tuple = (
            OP_SEARCH_TRAITS,
            q.birth_name,
            " ".join(map(str, q.given_names or ())),
            q.sex,
            q.birth_date,
            q.birthplace,
        )
        try:
            traits = self._traits(q, ctx, TRAITS_ELEMENTS)
            digest_parts = (
                OP_SEARCH_TRAITS,
                traits.birth_name,
                traits.given_names_text,
                traits.sex,
                traits.birth_date.isoformat(),
                traits.birthplace,
            )
            self._check_fault_cases(traits)
            result = self._search_traits(traits)
        except InsiError as exc:
            self._record(ctx, OP_SEARCH_TRAITS, exc.code, digest_parts, started)
            raise
        self._record(ctx, OP_SEARCH_TRAITS, result.cr, digest_parts, started)
        return result

    def search_by_vitale(self, q: VitaleQuery, ctx: CallContext) -> SearchResult:
        """``rechercherInsAvecCarteVitale`` (docs/reference/insi-teleservice.md §4): the beneficiary
        of a carte Vitale."""
        started = time.perf_counter_ns()
        digest_parts: tuple = (
            OP_SEARCH_VITALE,
            q.od_matricule,
            q.individual_matricule,
            q.birth_name,
            q.birth_date,
            q.birth_rank,
        )
        try:
            od, individual, birth_name, birth_date, rank = self._vitale_inputs(q, ctx)
            digest_parts = (
                OP_SEARCH_VITALE,
                od.number,
                individual.number if individual else None,
                birth_name,
                birth_date,
                rank,
            )
            result = self._search_vitale(od, individual, birth_name, birth_date, rank)
        except InsiError as exc:
            self._record(ctx, OP_SEARCH_VITALE, exc.code, digest_parts, started)
            raise
        self._record(ctx, OP_SEARCH_VITALE, result.cr, digest_parts, started)
        return result

    def verify(self, q: VerifyQuery, ctx: CallContext) -> VerifyResult:
        """``verifierInsAvecTraitsIdentite``: santeid's design (``docs/insi-overview.md``)."""
        started = time.perf_counter_ns()
        t = q.traits
        digest_parts: tuple = (
            OP_VERIFY,
            q.matricule,
            q.key,
            t.birth_name,
            " ".join(map(str, t.given_names or ())),
            t.sex,
            t.birth_date,
            t.birthplace,
        )
        try:
            parts = self._ins(q.matricule, q.key)
            traits = self._traits(t, ctx, VERIFY_ELEMENTS, require_birthplace=True)
            digest_parts = (
                OP_VERIFY,
                parts.number,
                format_key(parts.key),
                traits.birth_name,
                traits.given_names_text,
                traits.sex,
                traits.birth_date.isoformat(),
                traits.birthplace,
            )
            result = self._verify(parts, traits, q.oid)
        except InsiError as exc:
            self._record(ctx, OP_VERIFY, exc.code, digest_parts, started)
            raise
        if result.conform:
            outcome = VERIFY_CONFORM
        elif result.differing == (MATRICULE,) and result.identity is None:
            outcome = VERIFY_UNKNOWN
        else:
            outcome = VERIFY_NOT_CONFORM
        self._record(ctx, OP_VERIFY, outcome, digest_parts, started)
        return result

    def today(self) -> date:
        """Today's date in France (Europe/Paris), the one date of the service: the latest
        birth date a search accepts, and the ``dateInterrogationINSi`` its FHIR answers carry.
        The UTC date lagged behind it from midnight to 1 or 2 a.m., French time. Without
        time-zone data on the system, the UTC date."""
        now = self.clock()
        try:
            from zoneinfo import ZoneInfo

            return now.astimezone(ZoneInfo("Europe/Paris")).date()
        except Exception:  # no time-zone data on this system
            return now.date()

    def software(self) -> SoftwareRegistry:
        """The registered software authorisation numbers (IDAM)."""
        return self._registry

    def stats(self, software_id: str | None, month: str | None = None) -> dict:
        """Calls of ``month`` (``YYYY-MM``, UTC; default: this month) by software, operation and
        result; ``software_id`` None = every software (see :meth:`AuditLog.stats`)."""
        month = month or self.clock().strftime("%Y-%m")
        if not valid_month(month):
            raise invalid(
                "month", "month-format", f"{month!r} is not a month YYYY-MM", None,
                code=CODE_INVALID_REQUEST,
            )  # fmt: skip
        return self.audit.stats(software_id, month)

    def record_refusal(self, ctx: CallContext, operation: str, error: InsiError) -> None:
        """Audit a call an adapter refused before reaching the core (unknown IDAM, certificate
        not INSI-AUTO/INSI-MANU, a REST member or FHIR parameter refused…): one row with the
        error code, no query hash.  Never raises: the refusal stands even if its row cannot be
        written (it is logged)."""
        try:
            self.audit.record(ctx, operation, error.code)
            observe.insi_call(self._registry, ctx.software_id, operation, error.code)
        except Exception:
            log.exception("cannot audit a refused INSi %s call", ctx.channel)

    @contextlib.contextmanager
    def refusal_recorded(self, ctx: CallContext, operation: str) -> Iterator[None]:
        """The one way an adapter reads a request of an authenticated caller: an
        :class:`InsiError` raised in the block (a body, a member, a parameter refused before
        the core) is audited with :meth:`record_refusal`, then raised again. The core's own
        refusals are audited by the core: its calls stay out of the block."""
        try:
            yield
        except InsiError as error:
            self.record_refusal(ctx, operation, error)
            raise

    # -- inputs --------------------------------------------------------------------------------
    def _traits(
        self,
        q: TraitsQuery,
        ctx: CallContext,
        elements: dict[str, str],
        *,
        require_birthplace: bool = False,
    ) -> tr.Traits:
        fast = _fast_traits(q, self.today())
        if fast is not None and (fast.birthplace is not None or not require_birthplace):
            return fast
        given = tuple(q.given_names or ())
        for field, value in (
            (tr.BIRTH_NAME, q.birth_name),
            (tr.GIVEN_NAMES, "".join(g or "" for g in given).strip()),
            (tr.SEX, q.sex),
            (tr.BIRTH_DATE, q.birth_date),
        ):
            if not isinstance(value, str) or not value.strip():
                raise invalid(field, tr.Rule.REQUIRED, MISSING, elements.get(field))
        # Optional, and blank is not given on every channel (SOAP's <LieuNaissance/> and
        # <LieuNaissance> </LieuNaissance>, REST's and FHIR's "" and " ").
        birthplace = q.birthplace
        if isinstance(birthplace, str):
            birthplace = birthplace.strip() or None
        if require_birthplace and birthplace is None:
            raise invalid(
                tr.BIRTHPLACE,
                tr.Rule.REQUIRED,
                "the birthplace is one of the five INS traits a verification compares",
                elements[tr.BIRTHPLACE],
            )
        try:
            if ctx.strict_traits:
                return tr.validate_traits(
                    birth_name=q.birth_name,
                    given_names=" ".join(given),
                    sex=q.sex,
                    birth_date=q.birth_date,
                    birthplace=birthplace,
                    today=self.today(),
                )
            return tr.normalize_traits(
                birth_name=q.birth_name,
                given_names=[g for g in given if g],
                sex=q.sex,
                birth_date=q.birth_date.strip(),
                birthplace=birthplace,
                today=self.today(),
            )
        except tr.TraitError as exc:
            raise invalid(exc.field, exc.rule, exc.message, elements.get(exc.field)) from None

    def _matricule(self, value: object, field: str, element: str) -> MatriculeParts:
        if not isinstance(value, str) or not value.strip():
            raise invalid(field, "required", MISSING, element)
        try:
            return parse_ins_matricule(value)
        except MatriculeError as exc:
            raise invalid(field, f"nir-{exc.rule}", exc.message, element) from None

    def _ins(self, matricule: str, key: str) -> MatriculeParts:
        if not isinstance(matricule, str) or len(matricule.replace(" ", "")) != 13:
            raise invalid(
                "matricule", "nir-format", "the matricule has 13 characters",
                MATRICULE_ELEMENTS["matricule"],
            )  # fmt: skip
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise invalid("key", "nir-key", "the key is 2 digits", MATRICULE_ELEMENTS["key"])
        try:
            return parse_ins_matricule(matricule + key)
        except MatriculeError as exc:
            field = "key" if exc.rule == "key" else "matricule"
            raise invalid(
                field, f"nir-{exc.rule}", exc.message, MATRICULE_ELEMENTS[field]
            ) from None

    def _vitale_inputs(
        self, q: VitaleQuery, ctx: CallContext
    ) -> tuple[MatriculeParts, MatriculeParts | None, str, str, int]:
        od = self._matricule(q.od_matricule, "od_matricule", VITALE_ELEMENTS["od_matricule"])
        individual = None
        if q.individual_matricule:
            individual = self._matricule(
                q.individual_matricule,
                "individual_matricule",
                VITALE_ELEMENTS["individual_matricule"],
            )
        if not isinstance(q.birth_name, str) or not q.birth_name.strip():
            raise invalid(tr.BIRTH_NAME, "required", MISSING, VITALE_ELEMENTS[tr.BIRTH_NAME])
        if not isinstance(q.birth_date, str) or not q.birth_date.strip():
            raise invalid(tr.BIRTH_DATE, "required", MISSING, VITALE_ELEMENTS[tr.BIRTH_DATE])
        try:
            if ctx.strict_traits:
                birth_name = tr.validate_name(q.birth_name)
            else:
                birth_name = tr.normalize_name(q.birth_name)
            birth_date = tr.validate_birth_date(q.birth_date.strip(), today=self.today())
        except tr.TraitError as exc:
            raise invalid(exc.field, exc.rule, exc.message, VITALE_ELEMENTS[exc.field]) from None
        rank = q.birth_rank
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= MAX_BIRTH_RANK:
            raise invalid(
                "birth_rank",
                "rank",
                f"the rang de naissance is a whole number from 1 to {MAX_BIRTH_RANK}",
                VITALE_ELEMENTS["birth_rank"],
            )
        return od, individual, birth_name, birth_date.isoformat(), rank

    def _check_fault_cases(self, traits: tr.Traits) -> None:
        if self.sandbox and traits.birth_name == SANDBOX_FAULT_BIRTH_NAME:
            if traits.first_given_name == SANDBOX_SLOW_GIVEN_NAME:
                # Late, then the ordinary answer: nobody has this name (01).
                self._sleep(self.sandbox_delay)
                return
            scenario = SANDBOX_FAULTS.get(traits.first_given_name)
            if scenario is not None:
                raise scenario()
        day = traits.birth_date.isoformat()
        for case in self.base.fault_cases():
            if (
                case.birth_name == traits.birth_name
                and case.sex == traits.sex
                and case.birth_date == day
                and given_names_match(traits.given_names, " ".join(case.given_names))
                and (traits.birthplace is None or case.birthplace in (None, traits.birthplace))
            ):
                raise technical_error()

    # -- lookups -------------------------------------------------------------------------------
    # Each reads the civil-status base as sqlite3 raises its errors: a disk I/O error is then
    # an outage (desir_1020), a wrong statement a bug (db.sqlite_errors).
    @db.sqlite_errors
    def _search_traits(self, traits: tr.Traits) -> SearchResult:
        conn = self.base.connection()
        params: tuple = (traits.birth_date.isoformat(), traits.sex, traits.birth_name)
        if traits.birthplace is None:
            rows = conn.execute(SQL_TRAITS, params).fetchall()
        else:
            rows = conn.execute(SQL_TRAITS_PLACE, (*params, traits.birthplace)).fetchall()
        matches: dict[int, tuple[tuple, list[tuple]]] = {}
        for row in rows:
            entry = matches.get(row[0])
            if entry is None:
                if not given_names_match(traits.given_names, row[5]):
                    continue
                entry = matches[row[0]] = (row, [])
            if row[9] is not None:
                entry[1].append(row[9:])
        if not matches:
            return SearchResult(CR_NOT_FOUND, None)
        if len(matches) > 1:
            return SearchResult(CR_SEVERAL, None)
        ((row, history),) = matches.values()
        return SearchResult(CR_FOUND, self._identity(conn, row, history))

    @db.sqlite_errors
    def _search_vitale(
        self,
        od: MatriculeParts,
        individual: MatriculeParts | None,
        birth_name: str,
        birth_date: str,
        rank: int,
    ) -> SearchResult:
        conn = self.base.connection()
        rows = conn.execute(SQL_VITALE, (od.number, birth_date, rank)).fetchall()
        matches = [row for row in rows if row[4] == birth_name]
        if individual is not None:
            matches = [
                row
                for row in matches
                if row[1] == individual.number
                or any(h[0] == individual.number for h in self._history_rows(conn, row[0]))
            ]
        if not matches:
            return SearchResult(CR_NOT_FOUND, None)
        if len(matches) > 1:  # cannot happen: (od_id, birth_date, rang) is unique
            return SearchResult(CR_SEVERAL, None)
        return SearchResult(CR_FOUND, self._identity(conn, matches[0]))

    @db.sqlite_errors
    def _verify(
        self, parts: MatriculeParts, traits: tr.Traits, supplied_oid: str | None = None
    ) -> VerifyResult:
        """The INS supplied is the person's when its matricule is the active one and, when an
        OID was supplied, that OID is the matricule's (a NIA sent with the NIR's OID ``.8`` is
        not the person's INS: ``INSFourni`` does not conform)."""
        conn = self.base.connection()
        row = conn.execute(SQL_BY_MATRICULE, (parts.number,)).fetchone()
        earlier = False
        if row is None:
            owner = conn.execute(SQL_HISTORY_OWNER, (parts.number,)).fetchone()
            if owner is not None:
                row = conn.execute(SQL_BY_ID, (owner[0],)).fetchone()
                earlier = True
        if row is None:
            return VerifyResult(False, (MATRICULE,), None)
        if not earlier and supplied_oid and supplied_oid != oid_for(row[3]):
            earlier = True  # the right matricule under another OID: not this INS
        reference = (row[4], tuple(row[5].split(" ")), row[6], row[7], row[8])
        given = (
            traits.birth_name,
            traits.given_names,
            traits.sex,
            traits.birth_date.isoformat(),
            traits.birthplace,
        )
        names = (tr.BIRTH_NAME, tr.GIVEN_NAMES, tr.SEX, tr.BIRTH_DATE, tr.BIRTHPLACE)
        differing = tuple(n for n, a, b in zip(names, given, reference, strict=True) if a != b)
        identity = None if differing else self._identity(conn, row)
        if earlier:
            return VerifyResult(False, (MATRICULE, *differing), identity)
        return VerifyResult(not differing, differing, identity)

    @staticmethod
    def _history_rows(conn: sqlite3.Connection, person_id: int) -> list[tuple]:
        return conn.execute(SQL_HISTORY, (person_id,)).fetchall()

    def _identity(
        self, conn: sqlite3.Connection, row: tuple, history_rows: list[tuple] | None = None
    ) -> Identity:
        """``row``: columns 0-8 of a person; ``history_rows``: its INSHISTO rows (matricule, cle,
        oid, date_deb, date_fin) when already read, else they are read here."""
        if history_rows is None:
            history_rows = self._history_rows(conn, row[0])
        history = tuple(
            HistoryEntry(
                matricule=h[0], key=format_key(h[1]), oid=oid_for(h[2]), start=h[3], end=h[4]
            )
            for h in history_rows
        )
        return Identity(
            matricule=row[1],
            key=format_key(row[2]),
            oid=oid_for(row[3]),
            birth_name=row[4],
            given_names=tuple(row[5].split(" ")),
            sex=row[6],
            birth_date=row[7],
            birthplace=row[8],
            history=history,
        )

    # -- audit ---------------------------------------------------------------------------------
    def _record(
        self, ctx: CallContext, operation: str, result: str, digest_parts: tuple, started: int
    ) -> None:
        duration_us = (time.perf_counter_ns() - started) // 1000
        try:
            self.audit.record(
                ctx,
                operation,
                result,
                query_hash=self.audit.query_hash(*digest_parts),
                duration_us=duration_us,
            )
            observe.insi_call(self._registry, ctx.software_id, operation, result)
        except _AUDIT_FAILURES as exc:
            # No answer without its audit row: the trail must be complete (fail closed).
            log.error("INSi audit trail not writable: %s", exc)
            raise service_unavailable(f"audit trail not writable: {exc}") from None

"""Request bodies → queries of :mod:`santeid.insi.model` (docs/reference/insi-teleservice.md §4).

The body was validated against its XSD first (:mod:`santeid.insi.soap.schemas`); values are
passed on exactly as sent: the core checks the traits with the teleservice's own strictness on
the SOAP channel (lower case, accents… refused, docs/reference/insi-teleservice.md §12) and names
the element at fault.
"""

from __future__ import annotations

from lxml import etree

from santeid.civil_status import traits as tr
from santeid.insi.model import DEFAULT_BIRTH_RANK
from santeid.insi.model import InsiError
from santeid.insi.model import TraitsQuery
from santeid.insi.model import VerifyQuery
from santeid.insi.model import VitaleQuery
from santeid.insi.service import invalid
from santeid.insi.soap.protocol import RECSANS
from santeid.insi.soap.protocol import RECVIT
from santeid.insi.soap.protocol import REQUNIT
from santeid.security import whole_number


def _text(parent: etree._Element | None, namespace: str, name: str) -> str | None:
    if parent is None:
        return None
    child = parent.find(f"{{{namespace}}}{name}")
    if child is None:
        return None
    return child.text or ""


def traits_query(payload: etree._Element) -> TraitsQuery:
    """``RECSANSVITALE``: ``NomNaissance``, ``Prenom`` 0..n, ``Sexe``, ``DateNaissance``,
    ``LieuNaissance`` 0..1. Each ``Prenom`` is one query item (clients send one given name, or
    all of them space-separated, docs/reference/insi-teleservice.md §4); an empty one is no
    given name, as REST's and FHIR's empty items (joined to the others, it would be refused as
    a space nobody sent)."""
    given = (p.text for p in payload.iterfind(f"{{{RECSANS}}}Prenom"))
    return TraitsQuery(
        birth_name=_text(payload, RECSANS, "NomNaissance") or "",
        given_names=tuple(name for name in given if name),
        sex=_text(payload, RECSANS, "Sexe") or "",
        birth_date=_text(payload, RECSANS, "DateNaissance") or "",
        # An empty or blank <LieuNaissance/> is "not given" (the element is a plain string,
        # docs/reference/insi-teleservice.md §4): the core's rule.
        birthplace=_text(payload, RECSANS, "LieuNaissance"),
    )


def _matricule(parent: etree._Element | None, namespace: str) -> str | None:
    """``NumIdentifiant`` followed by ``Cle`` when given (the core checks the key)."""
    if parent is None:
        return None
    number = _text(parent, namespace, "NumIdentifiant") or ""
    key = _text(parent, namespace, "Cle") or ""
    return (number + key) or None


def _birth_rank(text: str | None) -> int:
    """``RangNaissance``: a string in the schema (as the real one); a whole number here
    (:func:`santeid.security.whole_number`), 1 when absent or empty. Anything else is refused
    naming the element (santeid's code: the real service's answer to it is not public); the
    core checks the range."""
    value = (text or "").strip()
    if not value:
        return DEFAULT_BIRTH_RANK
    rank = whole_number(value)
    if rank is None:
        shown = value if len(value) <= 20 else f"{value[:20]}… ({len(value)} characters)"
        raise invalid(
            "birth_rank", "rank", f"the rang de naissance is a whole number, not {shown!r}",
            "RangNaissance",
        )  # fmt: skip
    return rank


def vitale_query(payload: etree._Element) -> VitaleQuery:
    """``RECVITALE``: ``MatriculeIndividu`` 0..1, ``MatriculeOD``, ``NomNaissance``,
    ``DateNaissance``, ``RangNaissance`` (1 when absent). ``NumIdentifiant`` may carry the
    15 characters matricule + key, ``Cle`` then absent."""
    return VitaleQuery(
        od_matricule=_matricule(payload.find(f"{{{RECVIT}}}MatriculeOD"), RECVIT) or "",
        individual_matricule=_matricule(payload.find(f"{{{RECVIT}}}MatriculeIndividu"), RECVIT),
        birth_name=_text(payload, RECVIT, "NomNaissance") or "",
        birth_date=_text(payload, RECVIT, "DateNaissance") or "",
        birth_rank=_birth_rank(_text(payload, RECVIT, "RangNaissance")),
    )


def verify_query(payload: etree._Element) -> VerifyQuery:
    """``RequeteUnitaire/IndividuVerifie``: ``INSFourni/IdIndividu`` (``NumIdentifiant``,
    ``Cle``) and ``TraitsIdentiteIndividu``. The given names compared are ``ListePrenom`` (or
    ``Prenom`` alone); a ``Prenom`` sent with the list must be coherent with it (RNIV EXI ID 10).
    """
    ns = REQUNIT
    # The schema, checked before, requires IndividuVerifie; without it every field is empty.
    individual = payload.find(f"{{{ns}}}IndividuVerifie")
    ins = traits = None
    if individual is not None:
        ins = individual.find(f"{{{ns}}}INSFourni/{{{ns}}}IdIndividu")
        traits = individual.find(f"{{{ns}}}TraitsIdentiteIndividu")
    first = _text(traits, ns, "Prenom")
    listed = _text(traits, ns, "ListePrenom")
    if first and listed and not tr.first_given_name_consistent(first, listed):
        raise _incoherent(first, listed)
    given = listed if listed is not None else first
    return VerifyQuery(
        matricule=_text(ins, ns, "NumIdentifiant") or "",
        key=_text(ins, ns, "Cle") or "",
        traits=TraitsQuery(
            birth_name=_text(traits, ns, "NomNaissance") or "",
            given_names=(given,) if given else (),
            sex=_text(traits, ns, "Sexe") or "",
            birth_date=_text(traits, ns, "DateNaissance") or "",
            birthplace=_text(traits, ns, "LieuNaissance"),
        ),
        oid=supplied_oid(payload),
    )


def supplied_oid(payload: etree._Element) -> str | None:
    """``RequeteUnitaire/IndividuVerifie/INSFourni/OID``, if given."""
    ns = REQUNIT
    value = payload.findtext(f"{{{ns}}}IndividuVerifie/{{{ns}}}INSFourni/{{{ns}}}OID")
    return value.strip() or None if value else None


def _incoherent(first: str, listed: str) -> InsiError:
    return invalid(
        tr.FIRST_GIVEN_NAME,
        tr.Rule.FIRST_GIVEN_NAME,
        f"{first!r} is not the start of the given-name list {listed!r} (RNIV EXI ID 10)",
        "Prenom",
    )

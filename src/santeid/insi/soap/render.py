"""Responses, byte for byte in the shape of the real service's answers
(docs/reference/insi-teleservice.md §5, §8.2–§8.4,
§8b).

* the envelope: ``soap:Envelope``, **never a ``Header``** (whatever WS-Addressing headers the
  request carried), then ``env:Body`` declaring both ``S`` and ``env`` — as the captured
  qualification answers (00, 02);
* ``RESULTAT`` in the default namespace ``INSiResultat``, declaring ``ns0`` (``INSiRecVit``) and
  ``ns1`` (``INSiRecSans``) as the real service does; children in the XSD's fixed order: ``CR``
  (``CodeCR``, ``LibelleCR``), then for 00 only ``INDIVIDU``: ``INSACTIF``, ``INSHISTO``*,
  ``TIQ`` with **``ListePrenom`` only** (no ``Prenom``), as real answers;
* the not-found answer (CR 01) as the recorded ``REP_CR01.xml`` clients compare live answers
  with: CRLF after the XML declaration, ``S:Body`` declaring ``S``, ``RESULTAT`` declaring
  ``ns3`` (RecVit), ``ns2`` (RecSans) then the default namespace (:data:`NOT_FOUND`);
* ``ReponseUnitaire`` (verification, santeid's design, ``docs/insi-soap.md``).
"""

from __future__ import annotations

from lxml import etree

from santeid.insi.model import CR_FOUND
from santeid.insi.model import CR_LABELS
from santeid.insi.model import CR_NOT_FOUND
from santeid.insi.model import MATRICULE
from santeid.insi.model import HistoryEntry
from santeid.insi.model import Identity
from santeid.insi.model import SearchResult
from santeid.insi.model import VerifyQuery
from santeid.insi.model import VerifyResult
from santeid.insi.soap.protocol import RECSANS
from santeid.insi.soap.protocol import RECVIT
from santeid.insi.soap.protocol import REPUNIT
from santeid.insi.soap.protocol import RESULTAT
from santeid.insi.soap.protocol import SOAP12

#: Element of each :data:`santeid.insi.model.TRAIT_NAMES` entry in a verification answer.
VERIFY_ELEMENT_NAMES = {
    MATRICULE: "INSFourni",
    "birth_name": "NomNaissance",
    "given_names": "ListePrenom",
    "sex": "Sexe",
    "birth_date": "DateNaissance",
    "birthplace": "LieuNaissance",
}

_RESULTAT_NSMAP = {None: RESULTAT, "ns0": RECVIT, "ns1": RECSANS}
#: OID of the INS-NIR (docs/reference/insi-teleservice.md §10).
NIR_OID = "1.2.250.1.213.1.4.8"


def _add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _cr(parent: etree._Element, ns: str, code: str) -> None:
    cr = _add(parent, f"{{{ns}}}CR")
    _add(cr, f"{{{ns}}}CodeCR", code)
    _add(cr, f"{{{ns}}}LibelleCR", CR_LABELS[code])


def _ins(
    parent: etree._Element, ns: str, name: str, matricule: str, key: str, oid: str
) -> etree._Element:
    element = _add(parent, f"{{{ns}}}{name}")
    id_individu = _add(element, f"{{{ns}}}IdIndividu")
    _add(id_individu, f"{{{ns}}}NumIdentifiant", matricule)
    if key:
        _add(id_individu, f"{{{ns}}}Cle", key)
    _add(element, f"{{{ns}}}OID", oid)
    return element


def _history(parent: etree._Element, entry: HistoryEntry) -> None:
    ns = RESULTAT
    element = _ins(parent, ns, "INSHISTO", entry.matricule, entry.key, entry.oid)
    if entry.start:
        _add(element, f"{{{ns}}}DateDeb", entry.start)
    if entry.end:
        _add(element, f"{{{ns}}}DateFin", entry.end)


def _individu(parent: etree._Element, identity: Identity) -> None:
    ns = RESULTAT
    individu = _add(parent, f"{{{ns}}}INDIVIDU")
    _ins(individu, ns, "INSACTIF", identity.matricule, identity.key, identity.oid)
    for entry in identity.history:
        _history(individu, entry)
    tiq = _add(individu, f"{{{ns}}}TIQ")
    _add(tiq, f"{{{ns}}}NomNaissance", identity.birth_name)
    _add(tiq, f"{{{ns}}}ListePrenom", identity.given_names_text)
    _add(tiq, f"{{{ns}}}Sexe", identity.sex)
    _add(tiq, f"{{{ns}}}DateNaissance", identity.birth_date)
    if identity.birthplace:
        _add(tiq, f"{{{ns}}}LieuNaissance", identity.birthplace)


def resultat(result: SearchResult) -> etree._Element:
    """``RESULTAT`` for a search answer (docs/reference/insi-teleservice.md §5)."""
    root = etree.Element(f"{{{RESULTAT}}}RESULTAT", nsmap=_RESULTAT_NSMAP)
    _cr(root, RESULTAT, result.cr)
    if result.cr == CR_FOUND and result.identity is not None:
        _individu(root, result.identity)
    return root


def reponse_unitaire(
    query: VerifyQuery, result: VerifyResult, supplied_oid: str | None = None
) -> etree._Element:
    """``ReponseUnitaire`` for a verification (santeid's design, ``docs/insi-soap.md``):
    ``CR`` 00, then ``IndividuVerifie`` with the INS supplied, ``Conforme``, each
    ``ElementNonConforme`` and, when the traits all conform, the person's ``INSACTIF``.

    The OID echoed with the INS supplied is the request's ``OID`` when given (an INS with the
    wrong OID is echoed as supplied, and does not conform); else the one the base records for
    that matricule when the person is known, else the NIR's (docs/reference/insi-teleservice.md
    §10)."""
    ns = REPUNIT
    root = etree.Element(f"{{{ns}}}ReponseUnitaire", nsmap={None: ns})
    _cr(root, ns, CR_FOUND)
    individu = _add(root, f"{{{ns}}}IndividuVerifie")
    oid = NIR_OID
    if result.identity is not None:
        if result.identity.matricule == query.matricule:
            oid = result.identity.oid
        for entry in result.identity.history:
            if entry.matricule == query.matricule:
                oid = entry.oid
    oid = supplied_oid or query.oid or oid
    _ins(individu, ns, "INSFourni", query.matricule, query.key, oid)
    _add(individu, f"{{{ns}}}Conforme", "true" if result.conform else "false")
    for name in result.differing:
        _add(individu, f"{{{ns}}}ElementNonConforme", VERIFY_ELEMENT_NAMES.get(name, name))
    if result.identity is not None:
        identity = result.identity
        _ins(individu, ns, "INSACTIF", identity.matricule, identity.key, identity.oid)
    return root


_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP12}">'
_BODY = f'<env:Body xmlns:S="{SOAP12}" xmlns:env="{SOAP12}">'
_TAIL = "</env:Body></soap:Envelope>"

#: The whole CR 01 answer, as the recorded ``REP_CR01.xml`` (docs/reference/insi-teleservice.md
#: §8b): the one answer whose
#: bytes do not depend on the request.
NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n'
    f'<soap:Envelope xmlns:soap="{SOAP12}"><S:Body xmlns:S="{SOAP12}">'
    f'<RESULTAT xmlns:ns3="{RECVIT}" xmlns:ns2="{RECSANS}" xmlns="{RESULTAT}">'
    f"<CR><CodeCR>{CR_NOT_FOUND}</CodeCR><LibelleCR>{CR_LABELS[CR_NOT_FOUND]}</LibelleCR></CR>"
    "</RESULTAT></S:Body></soap:Envelope>"
).encode()


def envelope(payload: etree._Element) -> bytes:
    """The response document around ``payload`` (docs/reference/insi-teleservice.md §8.2 shape), no
    SOAP header."""
    return (
        _HEAD.encode() + _BODY.encode() + etree.tostring(payload, encoding="utf-8") + _TAIL.encode()
    )


def search_answer(result: SearchResult) -> bytes:
    """The whole answer to a search: :data:`NOT_FOUND` for CR 01, else ``RESULTAT`` in the
    envelope of the captured 00 / 02 answers."""
    if result.cr == CR_NOT_FOUND:
        return NOT_FOUND
    return envelope(resultat(result))

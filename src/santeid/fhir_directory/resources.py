"""Directory entries as FHIR R4 resources shaped like the national Annuaire Santé API.

The Annuaire Santé FHIR API (``/fhir/v1``, FHIR 4.0.1; profiles in ``ansforge/IG-fhir-annuaire``)
serves a ``Practitioner`` per person and ``PractitionerRole`` resources for exercices and
situations. santeid follows its identifier systems and NOS coding systems:

- ``Practitioner.identifier``: ``IDNPS`` (national id, ``urn:oid:1.2.250.1.71.4.2.1``), ``RPPS``
  (``http://rpps.fr``, the number without its ``8``) or ``ADELI`` (``http://adeli.fr``), typed
  with FR Core's ``fr-core-cs-v2-0203``; the other identifiers of *Autres identifiants*
  (docs/reference/pro-sante-connect.md
  §10) follow as ``IDNPS`` identifiers with ``use: old`` (former ADELI numbers…);
- ``Practitioner.name``: the civility only (``official``, prefix = TRE_R81 civilité), as the
  Annuaire Santé v1 ("Le nom et le prénom d'exercice du professionnel sont restitués au niveau
  de la ressource PractitionerRole", docs/directory.md "Resources"): the civil-status names of
  the extract stay out, as the birth date; ``qualification``: one per exercice (profession
  TRE_G15 + category TRE_R09) and one per savoir-faire (TRE_R38… + type TRE_R04), as the
  Annuaire Santé's ``exercicePro`` and ``savoirFaire`` slices;
- ``PractitionerRole``: one per situation d'exercice (or one per exercice without situation),
  carrying the exercice's profession, category and exercice name (extension
  ``as-ext-practitionerrole-name``), the situation's mode (TRE_R23), genre (TRE_R22), fonction
  (TRE_R21) and pharmacist section (TRE_R06), the savoir-faire as ``specialty``, and the
  structure as a logical ``organization`` reference (``identifier`` + ``display``: santeid serves
  no ``Organization`` resource).

Private data stays out, as in userinfo (docs/claims.md rule 8): no birth date, no correspondence
phone or e-mail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from santeid.clock import utc_datetime
from santeid.directory import nomenclatures
from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import Professional
from santeid.directory.search import SYSTEM_IDNPS
from santeid.security import whole_number
from santeid.services import services

FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
SYSTEM_RPPS = "http://rpps.fr"
SYSTEM_ADELI = "http://adeli.fr"
#: idNat_Struct (``1``+FINESS, ``3``+SIRET, ``4``+RPPS+rank: *Ancien identifiant de la structure*).
SYSTEM_IDNST = "urn:oid:1.2.250.1.71.4.2.2"
#: Technical id of a RASS structure (``R…``, ``F``+FINESS), as the Annuaire Santé's own ids.
SYSTEM_STRUCTURE = "https://annuaire.sante.fr"
EXT_ROLE_NAME = "http://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-practitionerrole-name"

_TYPE_LABELS = {
    "IDNPS": "Identifiant national de professionnel de santé",
    "RPPS": "N° RPPS",
    "ADELI": "N° ADELI",
}


def resource_id(national_id: str) -> str:
    """FHIR id of a person: the national id, ``/`` of structure-staff ids (types 3 and 5)
    written ``-`` (FHIR ids allow ``[A-Za-z0-9.-]``)."""
    return national_id.replace("/", "-", 1)


def national_id_of(resource: str) -> str:
    """Inverse of :func:`resource_id` (a FINESS or SIRET never contains ``-``)."""
    if resource[:1] in ("3", "5") and "-" in resource:
        return resource.replace("-", "/", 1)
    return resource


def role_id(national_id: str, exercice_rank: int, activity_rank: int) -> str:
    return f"{resource_id(national_id)}-{exercice_rank}-{activity_rank}"


def parse_role_id(value: str) -> tuple[str, int, int] | None:
    head, _, tail = value.rpartition("-")
    person, _, middle = head.rpartition("-")
    exercice_rank, activity_rank = whole_number(middle), whole_number(tail)
    if not person or exercice_rank is None or activity_rank is None:
        return None
    return national_id_of(person), exercice_rank, activity_rank


def _identifier(type_code: str, system: str, value: str, use: str = "official") -> dict:
    return {
        "use": use,
        "type": {
            "coding": [
                {"system": FR_CORE_V2_0203, "code": type_code, "display": _TYPE_LABELS[type_code]}
            ]
        },
        "system": system,
        "value": value,
    }


def _coding(field: str, code: str) -> dict:
    table = nomenclatures.table_of(field, code)
    coding = {"system": nomenclatures.fhir_system(table), "code": code}
    display = nomenclatures.label(field, code)
    if display:
        coding["display"] = display
    return coding


def _concept(field: str, code: str) -> dict:
    return {"coding": [_coding(field, code)]}


def practitioner(professional: Professional) -> dict:
    """The ``Practitioner`` resource of a directory entry."""
    p = professional
    identifiers = [_identifier("IDNPS", SYSTEM_IDNPS, p.national_id)]
    if p.id_type == "8":
        identifiers.append(_identifier("RPPS", SYSTEM_RPPS, p.local_id))
    elif p.id_type == "0":
        identifiers.append(_identifier("ADELI", SYSTEM_ADELI, p.local_id))
    for other in p.other_ids:
        if other.identifiant != p.national_id:
            identifiers.append(
                {
                    "use": "old",
                    "type": {"text": other.origine},
                    "system": SYSTEM_IDNPS,
                    "value": other.identifiant,
                }
            )
    qualifications = []
    for exercice in p.exercices:
        codings = [_coding("code_profession", exercice.code_profession)]
        if exercice.code_categorie_professionnelle:
            codings.append(
                _coding("code_categorie_professionnelle", exercice.code_categorie_professionnelle)
            )
        qualifications.append({"code": {"coding": codings}})
        for code_type, code in _savoir_faire(exercice):
            codings = [_coding("code_savoir_faire", code)]
            if code_type:
                codings.append(_coding("code_type_savoir_faire", code_type))
            qualifications.append({"code": {"coding": codings}})
    resource: dict = {
        "resourceType": "Practitioner",
        "id": resource_id(p.national_id),
        "identifier": identifiers,
        "active": p.is_active,
    }
    if p.code_civilite:
        resource["name"] = [{"use": "official", "prefix": [p.code_civilite]}]
    if qualifications:
        resource["qualification"] = qualifications
    return resource


def _savoir_faire(exercice: Exercice) -> list[tuple[str, str]]:
    pairs = [(exercice.code_type_savoir_faire, exercice.code_savoir_faire)]
    pairs += [(s.code_type_savoir_faire, s.code_savoir_faire) for s in exercice.other_savoir_faire]
    return [(t, c) for t, c in pairs if c]


def practitioner_roles(professional: Professional) -> list[dict]:
    """The ``PractitionerRole`` resources of a directory entry, in exercice/activity order."""
    roles = []
    for e_rank, exercice in enumerate(professional.exercices, start=1):
        if not exercice.activities:
            roles.append(_role(professional, e_rank, exercice, 0, None))
        for a_rank, activity in enumerate(exercice.activities, start=1):
            roles.append(_role(professional, e_rank, exercice, a_rank, activity))
    return roles


def _role(
    p: Professional, e_rank: int, exercice: Exercice, a_rank: int, activity: Activity | None
) -> dict:
    codes = [_concept("code_profession", exercice.code_profession)]
    if exercice.code_categorie_professionnelle:
        codes.append(
            _concept("code_categorie_professionnelle", exercice.code_categorie_professionnelle)
        )
    role: dict = {"resourceType": "PractitionerRole", "id": role_id(p.national_id, e_rank, a_rank)}
    exercice_name: dict = {}
    if exercice.nom_exercice:
        exercice_name["family"] = exercice.nom_exercice
    if exercice.prenom_exercice:
        exercice_name["given"] = [exercice.prenom_exercice]
    if exercice.code_civilite_exercice:
        exercice_name["suffix"] = [exercice.code_civilite_exercice]
    if exercice_name:
        role["extension"] = [{"url": EXT_ROLE_NAME, "valueHumanName": exercice_name}]
    role["active"] = p.is_active
    role["practitioner"] = {"reference": f"Practitioner/{resource_id(p.national_id)}"}
    if activity is not None:
        for field in (
            "code_mode_exercice",
            "code_genre_activite",
            "code_role",
            "code_section_pharmacien",
        ):
            value = getattr(activity, field)
            if value:
                codes.append(_concept(field, value))
        structure = activity.structure
        if structure is not None:
            if activity.ancien_identifiant_structure:
                ref_id = {"system": SYSTEM_IDNST, "value": activity.ancien_identifiant_structure}
            else:
                ref_id = {"system": SYSTEM_STRUCTURE, "value": structure.identifiant_technique}
            organization: dict = {"identifier": ref_id}
            if structure.raison_sociale:
                organization["display"] = structure.raison_sociale
            role["organization"] = organization
    role["code"] = codes
    specialties = []
    for code_type, code in _savoir_faire(exercice):
        specialties.append(_concept("code_savoir_faire", code))
        if code_type:
            specialties.append(_concept("code_type_savoir_faire", code_type))
    if specialties:
        role["specialty"] = specialties
    return role


def searchset(
    entries: Iterable[tuple[str, dict]],
    *,
    included: Iterable[tuple[str, dict]] = (),
    self_url: str,
    next_url: str | None,
    total: int | None,
) -> dict:
    """A ``searchset`` Bundle (FHIR R4 §3.1.1.4) of ``(fullUrl, resource)`` pairs: the
    matches (search mode ``match``), then the resources ``_include``/``_revinclude`` asked
    for (mode ``include``, https://hl7.org/fhir/R4/search.html#include); ``total`` counts the
    matches only."""
    bundle: dict = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": _now()},
        "type": "searchset",
    }
    if total is not None:
        bundle["total"] = total
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle["link"] = links
    entry = [
        {"fullUrl": url, "resource": resource, "search": {"mode": mode}}
        for mode, pairs in (("match", entries), ("include", included))
        for url, resource in pairs
    ]
    if entry:
        bundle["entry"] = entry
    return bundle


def _now() -> str:
    moment = utc_datetime(services().clock)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

"""The Pro Santé Connect userinfo claim set, built from a directory entry.

Reproduces the February-2023 BAS userinfo (docs/reference/pro-sante-connect.md §9.4): the same keys,
spelled the same way
(``numeroFinessetablissementJuridique`` and its lower-case ``e`` included), in the same order,
every leaf a string and ``""`` where the directory has nothing, never ``null``
(docs/reference/pro-sante-connect.md §9.3).
Clients written against PSC often deserialise strictly and in order; ``docs/claims.md`` maps
each claim to its directory field and RASS column.

A professional without any exercice (structure staff, types 3 and 5) gets the short shape
observed for a "user without exercise" (docs/reference/pro-sante-connect.md §9.5), see
:func:`build_userinfo`.
"""

from __future__ import annotations

from santeid.directory.models import Activity
from santeid.directory.models import Exercice
from santeid.directory.models import Professional
from santeid.directory.models import Structure

#: OID of TRE_R02-SecteurActivite, suffix of ``Secteur_Activite``
#: (docs/reference/pro-sante-connect.md §16).
SECTEUR_ACTIVITE_OID = "1.2.250.1.71.4.2.4"
#: OID of TRE_G15-ProfessionSante, suffix of each ``SubjectRole`` item
#: (docs/reference/pro-sante-connect.md §16).
PROFESSION_OID = "1.2.250.1.213.1.1.5.5"

# Constants of every observed userinfo (docs/reference/pro-sante-connect.md §9.2); DMP VIHF
# attribute values.
PSI_LOCALE = "1.2.250.1.213.1.3.1.1"
UIT_VERSION = "1.0"
ACCES_REGULATION_MEDICALE = "FAUX"
MODE_ACCES_RAISON = ""
#: Same value whatever the authentication means, card logins included
#: (docs/reference/pro-sante-connect.md §11).
PALIER_AUTHENTIFICATION = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"

#: Top-level keys of the full userinfo, in PSC's order (docs/reference/pro-sante-connect.md §9.4).
USERINFO_KEYS = (
    "Secteur_Activite",
    "sub",
    "SubjectOrganization",
    "Mode_Acces_Raison",
    "preferred_username",
    "given_name",
    "Acces_Regulation_Medicale",
    "UITVersion",
    "authMode",
    "Palier_Authentification",
    "SubjectRefPro",
    "SubjectOrganizationID",
    "SubjectRole",
    "PSI_Locale",
    "otherIds",
    "SubjectNameID",
    "family_name",
)

#: Top-level keys of the late-2023 layout, in the order of the November-2023 BAS sample
#: (docs/reference/pro-sante-connect.md §9.5): ``codeGenreActivite`` after ``sub``,
#: ``codeCivilite`` after ``preferred_username``, and no ``authMode``.
USERINFO_KEYS_LATE_2023 = (
    "Secteur_Activite",
    "sub",
    "codeGenreActivite",
    "SubjectOrganization",
    "Mode_Acces_Raison",
    "preferred_username",
    "codeCivilite",
    "given_name",
    "Acces_Regulation_Medicale",
    "UITVersion",
    "Palier_Authentification",
    "SubjectRefPro",
    "SubjectOrganizationID",
    "SubjectRole",
    "PSI_Locale",
    "otherIds",
    "SubjectNameID",
    "family_name",
)

#: Keys of the userinfo of a person without exercice (docs/reference/pro-sante-connect.md §9.5), in
#: the observed order.
NO_EXERCICE_KEYS = (
    "sub",
    "preferred_username",
    "codeCivilite",
    "given_name",
    "SubjectNameID",
    "family_name",
)

#: Keys of one ``SubjectRefPro.exercices[]`` item (docs/reference/pro-sante-connect.md §9.3),
#: ``activities`` last.
EXERCICE_KEYS = (
    "codeProfession",
    "codeCategorieProfessionnelle",
    "codeCiviliteDexercice",
    "nomDexercice",
    "prenomDexercice",
    "codeTypeSavoirFaire",
    "codeSavoirFaire",
    "activities",
)

#: Keys of one ``activities[]`` item (docs/reference/pro-sante-connect.md §9.3, table of 30 keys).
ACTIVITY_KEYS = (
    "codeModeExercice",
    "codeSecteurDactivite",
    "codeSectionPharmacien",
    "codeRole",
    "codeGenreActivite",
    "numeroSiretSite",
    "numeroSirenSite",
    "numeroFinessSite",
    "numeroFinessetablissementJuridique",
    "identifiantTechniqueDeLaStructure",
    "raisonSocialeSite",
    "enseigneCommercialeSite",
    "complementDestinataire",
    "complementPointGeographique",
    "numeroVoie",
    "indiceRepetitionVoie",
    "codeTypeDeVoie",
    "libelleVoie",
    "mentionDistribution",
    "bureauCedex",
    "codePostal",
    "codeCommune",
    "codePays",
    "telephone",
    "telephone2",
    "telecopie",
    "adresseEMail",
    "codeDepartement",
    "ancienIdentifiantDeLaStructure",
    "autoriteDenregistrement",
)

# An activity whose structure is unknown still gets all 30 keys, with "".
_NO_STRUCTURE = Structure(identifiant_technique="")


def sub_for(national_id: str, federation_id: str) -> str:
    """``sub`` as Keycloak's federated-user id: ``f:<component uuid>:<national id>``
    (docs/reference/pro-sante-connect.md §1, §9.2). Stable for a given installation's
    ``federation_id``."""
    return f"f:{federation_id}:{national_id}"


def other_ids_claim(professional: Professional) -> list[dict]:
    """``otherIds``: ``[{"identifiant", "origine", "qualite"}]`` with an integer ``qualite``
    (docs/reference/pro-sante-connect.md §10); also mapped into access tokens
    (docs/reference/pro-sante-connect.md §6)."""
    return [
        {"identifiant": o.identifiant, "origine": o.origine, "qualite": int(o.qualite)}
        for o in professional.other_ids
    ]


def other_ids_member(professional: Professional) -> dict:
    """``{"otherIds": […]}`` for userinfo and the access token alike, or ``{}`` for a person
    with no identifier to list (structure staff): the userinfo recorded for such a person has
    no ``otherIds`` (docs/reference/pro-sante-connect.md §9.5), and a Keycloak mapper given no
    value adds no claim to any token (docs/reference/keycloak-behaviour.md, "Tokens"), so the
    access token has none either."""
    return {"otherIds": other_ids_claim(professional)} if professional.other_ids else {}


def activity_claim(activity: Activity) -> dict:
    """One ``activities[]`` item: situation codes, then the structure, then the old
    structure id and the registration authority (docs/reference/pro-sante-connect.md §9.3)."""
    s = activity.structure or _NO_STRUCTURE
    return {
        "codeModeExercice": activity.code_mode_exercice,
        "codeSecteurDactivite": activity.code_secteur_activite,
        "codeSectionPharmacien": activity.code_section_pharmacien,
        "codeRole": activity.code_role,
        "codeGenreActivite": activity.code_genre_activite,
        "numeroSiretSite": s.numero_siret,
        "numeroSirenSite": s.numero_siren,
        "numeroFinessSite": s.numero_finess_site,
        "numeroFinessetablissementJuridique": s.numero_finess_ej,
        "identifiantTechniqueDeLaStructure": s.identifiant_technique,
        "raisonSocialeSite": s.raison_sociale,
        "enseigneCommercialeSite": s.enseigne_commerciale,
        "complementDestinataire": s.complement_destinataire,
        "complementPointGeographique": s.complement_point_geographique,
        "numeroVoie": s.numero_voie,
        "indiceRepetitionVoie": s.indice_repetition_voie,
        "codeTypeDeVoie": s.code_type_voie,
        "libelleVoie": s.libelle_voie,
        "mentionDistribution": s.mention_distribution,
        "bureauCedex": s.bureau_cedex,
        "codePostal": s.code_postal,
        "codeCommune": s.code_commune,
        "codePays": s.code_pays,
        "telephone": s.telephone,
        "telephone2": s.telephone2,
        "telecopie": s.telecopie,
        "adresseEMail": s.email,
        "codeDepartement": s.code_departement,
        "ancienIdentifiantDeLaStructure": activity.ancien_identifiant_structure,
        "autoriteDenregistrement": activity.autorite_enregistrement,
    }


def exercice_claim(exercice: Exercice) -> dict:
    """One ``SubjectRefPro.exercices[]`` item; ``activities`` is ``[]`` when there are none
    (the key is kept: its absence is a fault scenario, not the normal shape,
    docs/reference/pro-sante-connect.md §9.5)."""
    return {
        "codeProfession": exercice.code_profession,
        "codeCategorieProfessionnelle": exercice.code_categorie_professionnelle,
        "codeCiviliteDexercice": exercice.code_civilite_exercice,
        "nomDexercice": exercice.nom_exercice,
        "prenomDexercice": exercice.prenom_exercice,
        "codeTypeSavoirFaire": exercice.code_type_savoir_faire,
        "codeSavoirFaire": exercice.code_savoir_faire,
        "activities": [activity_claim(a) for a in exercice.activities],
    }


def subject_ref_pro(professional: Professional, *, with_civilite: bool = True) -> dict:
    """``SubjectRefPro``: ``codeCivilite`` then ``exercices`` (docs/reference/pro-sante-connect.md
    §9.3); without
    ``codeCivilite`` in the late-2023 layout, which moves it to the top level (§9.5)."""
    exercices = [exercice_claim(e) for e in professional.exercices]
    if not with_civilite:
        return {"exercices": exercices}
    return {"codeCivilite": professional.code_civilite, "exercices": exercices}


def first_activity(professional: Professional) -> Activity | None:
    """The activity that speaks for the professional: the first activity of the first
    exercice (docs/reference/pro-sante-connect.md §9.2), or ``None``."""
    if professional.exercices and professional.exercices[0].activities:
        return professional.exercices[0].activities[0]
    return None


#: ``layout`` of :func:`build_userinfo` (setting ``userinfo_layout``).
LAYOUT_CLASSIC = "classic"
LAYOUT_LATE_2023 = "late-2023"


def build_userinfo(
    professional: Professional,
    *,
    sub: str,
    auth_mode: str | None,
    layout: str = LAYOUT_CLASSIC,
) -> dict:
    """The userinfo response PSC would send for ``professional``
    (docs/reference/pro-sante-connect.md §9).

    ``layout`` ``late-2023``: the variant of a November-2023 BAS sample
    (docs/reference/pro-sante-connect.md §9.5), key for key (:data:`USERINFO_KEYS_LATE_2023`) —
    ``codeGenreActivite`` (of the first activity) after ``sub`` and ``codeCivilite`` after
    ``preferred_username`` at the top level, no ``codeCivilite`` in ``SubjectRefPro``, and no
    ``authMode`` (the sample has none; the tokens keep theirs).

    Keys are inserted in PSC's order (:data:`USERINFO_KEYS`); serialise without sorting
    (``json.dumps`` default; Flask's ``sort_keys = False``, ``santeid.security.JSONProvider``)
    to keep it.
    ``authMode`` (``CARD``, ``MOBILE``…) is left out when ``auth_mode`` is ``None``, as in the
    2021 samples.

    The first activity of the first exercice supplies ``SubjectOrganization`` (its
    *raison sociale*), ``SubjectOrganizationID`` (its structure's technical id) and
    ``Secteur_Activite`` (``<sector code>^1.2.250.1.71.4.2.4``); all three are ``""`` when that
    activity, or the value, is missing. ``SubjectRole`` lists each distinct profession once.

    A professional without exercice gets only :data:`NO_EXERCICE_KEYS`, the shape observed
    for such a user (docs/reference/pro-sante-connect.md §9.5): with no profession, PSC sends no
    sectoral claim at all.
    """
    national_id = professional.national_id
    if not professional.exercices:
        return {
            "sub": sub,
            "preferred_username": national_id,
            "codeCivilite": professional.code_civilite,
            "given_name": professional.given_name,
            "SubjectNameID": national_id,
            "family_name": professional.family_name,
        }

    activity = first_activity(professional)
    structure = (activity.structure if activity else None) or _NO_STRUCTURE
    sector = activity.code_secteur_activite if activity else ""
    late = layout == LAYOUT_LATE_2023
    userinfo: dict = {
        "Secteur_Activite": f"{sector}^{SECTEUR_ACTIVITE_OID}" if sector else "",
        "sub": sub,
    }
    if late:
        userinfo["codeGenreActivite"] = activity.code_genre_activite if activity else ""
    userinfo.update(
        {
            "SubjectOrganization": structure.raison_sociale,
            "Mode_Acces_Raison": MODE_ACCES_RAISON,
            "preferred_username": national_id,
        }
    )
    if late:
        userinfo["codeCivilite"] = professional.code_civilite
    userinfo |= {
        "given_name": professional.given_name,
        "Acces_Regulation_Medicale": ACCES_REGULATION_MEDICALE,
        "UITVersion": UIT_VERSION,
    }
    if auth_mode is not None and not late:
        userinfo["authMode"] = auth_mode
    userinfo.update(
        {
            "Palier_Authentification": PALIER_AUTHENTIFICATION,
            "SubjectRefPro": subject_ref_pro(professional, with_civilite=not late),
            "SubjectOrganizationID": structure.identifiant_technique,
            "SubjectRole": [f"{code}^{PROFESSION_OID}" for code in professional.professions],
            "PSI_Locale": PSI_LOCALE,
            **other_ids_member(professional),
            "SubjectNameID": national_id,
            "family_name": professional.family_name,
        }
    )
    return userinfo

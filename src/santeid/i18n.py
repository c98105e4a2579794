"""French by default, English with ``ui_locales=en`` (OIDC Core §3.1.2.1)."""

from __future__ import annotations

SUPPORTED = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "lang": "fr",
        "sandbox_banner": ("Bac à sable santeid — environnement de test, aucune donnée réelle."),
        "login_title": "Connexion à {service}",
        "login_intro": "Identifiez-vous avec votre identifiant national de professionnel de santé.",
        "national_id_label": "Identifiant national",
        "national_id_help": (
            "RPPS : 8 suivi des 11 chiffres (12 chiffres). ADELI : 0 suivi des 9 chiffres."
        ),
        "submit": "Continuer",
        "cancel": "Annuler et revenir au service",
        "unknown_professional": (
            "Aucun professionnel ne porte l'identifiant {national_id} dans l'annuaire."
        ),
        "inactive_professional": (
            "Le compte {national_id} n'est plus actif dans l'annuaire : connexion impossible."
        ),
        "no_authenticator": (
            "Aucun moyen d'authentification n'est disponible pour {national_id} sur ce serveur."
        ),
        "wait_title": "Validation en cours",
        "wait_sandbox": (
            "Authentificateur du bac à sable : la connexion de {name} sera validée automatiquement."
        ),
        "wait_continue": "Continuer",
        "approved": "Connexion validée, retour au service…",
        "error_title": "Erreur",
        "error_back": "Revenez sur le service qui vous a envoyé ici et recommencez.",
        "expired_title": "Demande de connexion expirée",
        "expired_detail": "Cette demande de connexion n'existe plus ou a expiré.",
        "foreign_tx": "Cette demande de connexion a été ouverte dans un autre navigateur.",
        "csrf": "Le formulaire a expiré. Rechargez la page et recommencez.",
        "logged_out_title": "Session fermée",
        "logged_out": "Vous êtes déconnecté de Pro Santé Connect (santeid).",
        "logout_confirm_title": "Déconnexion",
        "logout_confirm": "Voulez-vous fermer votre session ?",
        "logout_button": "Se déconnecter",
        "unavailable": "Service momentanément indisponible. Réessayez dans quelques instants.",
        "not_found": "Page introuvable.",
        "too_large": "Requête refusée : un paramètre dépasse la taille autorisée.",
    },
    "en": {
        "lang": "en",
        "sandbox_banner": "santeid sandbox — test environment, no real data.",
        "login_title": "Log in to {service}",
        "login_intro": "Identify yourself with your national health professional identifier.",
        "national_id_label": "National identifier",
        "national_id_help": (
            "RPPS: 8 followed by the 11 digits (12 digits). ADELI: 0 followed by 9 digits."
        ),
        "submit": "Continue",
        "cancel": "Cancel and go back to the service",
        "unknown_professional": "No professional with identifier {national_id} in the directory.",
        "inactive_professional": (
            "Account {national_id} is no longer active in the directory: login refused."
        ),
        "no_authenticator": (
            "No authentication means is available for {national_id} on this server."
        ),
        "wait_title": "Waiting for approval",
        "wait_sandbox": (
            "Sandbox authenticator: the login of {name} will be approved automatically."
        ),
        "wait_continue": "Continue",
        "approved": "Login approved, going back to the service…",
        "error_title": "Error",
        "error_back": "Go back to the service that sent you here and try again.",
        "expired_title": "Login request expired",
        "expired_detail": "This login request no longer exists or has expired.",
        "foreign_tx": "This login request was opened in another browser.",
        "csrf": "The form has expired. Reload the page and try again.",
        "logged_out_title": "Session closed",
        "logged_out": "You are logged out of Pro Santé Connect (santeid).",
        "logout_confirm_title": "Log out",
        "logout_confirm": "Do you want to close your session?",
        "logout_button": "Log out",
        "unavailable": "Service temporarily unavailable. Please try again shortly.",
        "not_found": "Page not found.",
        "too_large": "Request refused: a parameter exceeds the allowed size.",
    },
}


def pick_locale(ui_locales: str | None) -> str:
    """First supported language of the space-separated ``ui_locales`` preference list."""
    for tag in (ui_locales or "").split():
        lang = tag.split("-")[0].lower()
        if lang in SUPPORTED:
            return lang
    return "fr"


class Translator:
    def __init__(self, locale: str):
        self.locale = locale if locale in SUPPORTED else "fr"

    def __call__(self, key: str, **values) -> str:
        text = MESSAGES[self.locale].get(key) or MESSAGES["fr"][key]
        return text.format(**values) if values else text

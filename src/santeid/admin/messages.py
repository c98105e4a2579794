"""French and English texts of the admin console, merged into :mod:`santeid.i18n`."""

from __future__ import annotations

from santeid import i18n

FR = {
    "admin_title": "Console d'administration",
    "admin_login": "Connexion administrateur",
    "admin_user": "Identifiant",
    "admin_password": "Mot de passe",
    "admin_sign_in": "Se connecter",
    "admin_sign_out": "Se déconnecter",
    "admin_bad_login": "Identifiant ou mot de passe incorrect.",
    "admin_throttled": "Trop d'essais depuis cette adresse : réessayez dans 15 minutes.",
    "admin_demo": (
        "Bac à sable : administrateur de démonstration « admin », mot de passe « {password} »."
    ),
    "admin_with_professional": "Se connecter avec ma e-CPS ou ma carte CPS",
    "admin_or": "ou",
    "admin_not_an_admin": (
        "Authentification réussie, mais ce professionnel n'a pas accès à la console "
        "(admin_professionals)."
    ),
    "admin_dashboard": "Tableau de bord",
    "admin_clients": "Clients",
    "admin_professionals": "Professionnels",
    "admin_keys": "Clés de signature",
    "admin_events": "Événements",
    "admin_insi": "INSi",
    "admin_csv": "Chiffres (CSV)",
    "admin_logins_by_mode": "Connexions réussies par heure, par authMode ou par SSO (48 h)",
    "admin_logins_by_outcome": "Connexions par heure, par résultat (48 h)",
    "admin_ciba": "Demandes CIBA par heure, par résultat (48 h)",
    "admin_ecps": "e-CPS par heure : approbations, refus, expirations, PIN erronés (48 h)",
    "admin_insi_by_operation": "Appels INSi par jour, par opération (14 jours)",
    "admin_insi_by_result": "Appels INSi par jour, par code retour (14 jours)",
    "admin_insi_by_software": "Appels INSi par jour, par logiciel (14 jours)",
    "admin_chart_desc": "{total} au total. Les chiffres sont dans le tableau qui suit.",
    "admin_figures": "Chiffres",
    "admin_hour": "Heure (UTC)",
    "admin_latency": "Temps de réponse depuis le démarrage (tous les processus), par famille",
    "admin_family": "Famille",
    "admin_requests": "Requêtes",
    "admin_day": "Jour (UTC)",
    "admin_register": "Enregistrer un client (métadonnées RFC 7591 en JSON)",
    "admin_register_button": "Enregistrer",
    "admin_register_form": "Enregistrer un client (secret créé ici, affiché une seule fois)",
    "admin_rotate_secret": "Nouveau secret",
    "admin_remove": "Supprimer",
    "admin_new_secret": "Nouveau secret pour {client} (affiché une seule fois) :",
    "admin_registered": "Client {client} enregistré.",
    "admin_removed": "Client {client} supprimé.",
    "admin_internal": "client interne de santeid",
    "admin_no_secret": (
        "{client} s'authentifie par {method} : un secret ne lui servirait à rien, aucun n'est créé."
    ),
    "admin_internal_client": (
        "{client} est un client interne de santeid (page « Mes e-CPS », débogueur du bac à "
        "sable ou connexions à cette console) : il ne peut être ni enregistré, ni supprimé, ni "
        "remplacé, ni modifié ici."
    ),
    "admin_search": "Rechercher",
    "admin_national_id": "Identifiant national",
    "admin_search_label": "Identifiant national ou nom",
    "admin_start_activation": "Nouveau code d'activation e-CPS",
    "admin_activation_code": "Code d'activation à usage unique, à transmettre au professionnel :",
    "admin_not_found": "Aucun professionnel {national_id}.",
    "admin_inactive": (
        "{national_id} est inactif dans l'annuaire : pas de code d'activation e-CPS (il ne "
        "pourrait pas se connecter)."
    ),
    "admin_inactive_professional": (
        "Inactif dans l'annuaire : ce professionnel ne peut pas se connecter, et aucun code "
        "d'activation e-CPS ne lui est donné."
    ),
    "admin_inactive_mark": "(inactif)",
    "admin_devices": "Appareils e-CPS",
    "admin_revoke": "Révoquer",
    "admin_revoked": "Appareil {device} révoqué.",
    "admin_recent_events": "Événements récents",
    "admin_rotate_key": "Nouvelle clé de signature",
    "admin_key_rotated": "Nouvelle clé {kid} active.",
    "admin_retire_key": "Retirer",
    "admin_key_retired": (
        "Clé {retired} retirée : publiée jusqu'au {until} (UTC), le temps que les jetons qu'elle "
        "a signés expirent. Nouvelle clé {kid} active."
    ),
    "admin_key_not_active": (
        "La clé {kid} n'est plus active (déjà retirée, ou inconnue) : rien n'a changé."
    ),
    "admin_key_status": "État",
    "admin_key_created": "Créée (UTC)",
    "admin_key_retired_at": "Retirée (UTC)",
    "admin_key_published_until": "Publiée jusqu'au (UTC)",
    "admin_filter": "Filtrer",
    "admin_next": "Suivants",
    "admin_previous": "Précédents",
    "admin_type": "Type",
    "admin_client": "Client",
    "admin_time": "Date (UTC)",
    "admin_source": "Origine",
    "admin_details": "Détails",
    "admin_reason_device": "Motif, appareil",
    "admin_actions": "Actions",
    "admin_none": "Aucun.",
    "admin_software": "Logiciels autorisés (IDAM)",
    "admin_month_stats": "Appels du mois {month}",
    "admin_error": "Refusé : {error}",
    "admin_too_long": (
        "Refusé : le champ {field} dépasse sa limite, {limit} octets (max_parameter_length) ; "
        "rien n'a été enregistré."
    ),
    "admin_form_not_sent": (
        "Votre session avait pris fin : le formulaire n'a pas été envoyé. Reconnectez-vous pour "
        "revenir à la page où il était."
    ),
}
EN = {
    "admin_title": "Admin console",
    "admin_login": "Administrator sign-in",
    "admin_user": "User name",
    "admin_password": "Password",
    "admin_sign_in": "Sign in",
    "admin_sign_out": "Sign out",
    "admin_bad_login": "Wrong user name or password.",
    "admin_throttled": "Too many attempts from this address: try again in 15 minutes.",
    "admin_demo": "Sandbox: demo administrator “admin”, password “{password}”.",
    "admin_with_professional": "Sign in with my e-CPS or CPS card",
    "admin_or": "or",
    "admin_not_an_admin": (
        "Authenticated, but this professional is not allowed into the console "
        "(admin_professionals)."
    ),
    "admin_dashboard": "Dashboard",
    "admin_clients": "Clients",
    "admin_professionals": "Professionals",
    "admin_keys": "Signing keys",
    "admin_events": "Events",
    "admin_insi": "INSi",
    "admin_csv": "Figures (CSV)",
    "admin_logins_by_mode": "Successful logins per hour, by authMode or SSO (48 h)",
    "admin_logins_by_outcome": "Logins per hour, by outcome (48 h)",
    "admin_ciba": "CIBA requests per hour, by outcome (48 h)",
    "admin_ecps": "e-CPS per hour: approvals, denials, timeouts, wrong PINs (48 h)",
    "admin_insi_by_operation": "INSi calls per day, by operation (14 days)",
    "admin_insi_by_result": "INSi calls per day, by result code (14 days)",
    "admin_insi_by_software": "INSi calls per day, by software (14 days)",
    "admin_chart_desc": "{total} in all. The figures are in the table that follows.",
    "admin_figures": "Figures",
    "admin_hour": "Hour (UTC)",
    "admin_latency": "Response times since the start (every worker), by endpoint family",
    "admin_family": "Family",
    "admin_requests": "Requests",
    "admin_day": "Day (UTC)",
    "admin_register": "Register a client (RFC 7591 metadata as JSON)",
    "admin_register_button": "Register",
    "admin_register_form": "Register a client (secret made here, shown once)",
    "admin_rotate_secret": "New secret",
    "admin_remove": "Remove",
    "admin_new_secret": "New secret of {client} (shown once):",
    "admin_registered": "Client {client} registered.",
    "admin_removed": "Client {client} removed.",
    "admin_internal": "santeid's own client",
    "admin_no_secret": "{client} authenticates with {method}: a secret would serve it nothing.",
    "admin_internal_client": (
        '{client} is santeid\'s own client (the "Mes e-CPS" page, the sandbox debugger or '
        "this console's logins): it cannot be registered, removed, replaced or changed here."
    ),
    "admin_search": "Search",
    "admin_national_id": "National identifier",
    "admin_search_label": "National identifier or name",
    "admin_start_activation": "New e-CPS activation code",
    "admin_activation_code": "Single-use activation code, for the professional:",
    "admin_not_found": "No professional {national_id}.",
    "admin_inactive": (
        "{national_id} is inactive in the directory: no e-CPS activation code (they could not "
        "log in)."
    ),
    "admin_inactive_professional": (
        "Inactive in the directory: this professional cannot log in, and gets no e-CPS "
        "activation code."
    ),
    "admin_inactive_mark": "(inactive)",
    "admin_devices": "e-CPS devices",
    "admin_revoke": "Revoke",
    "admin_revoked": "Device {device} revoked.",
    "admin_recent_events": "Recent events",
    "admin_rotate_key": "New signing key",
    "admin_key_rotated": "New key {kid} active.",
    "admin_retire_key": "Retire",
    "admin_key_retired": (
        "Key {retired} retired: published until {until} (UTC), while the tokens it signed "
        "expire. New key {kid} active."
    ),
    "admin_key_not_active": (
        "Key {kid} is no longer active (already retired, or unknown): nothing changed."
    ),
    "admin_key_status": "Status",
    "admin_key_created": "Created (UTC)",
    "admin_key_retired_at": "Retired (UTC)",
    "admin_key_published_until": "Published until (UTC)",
    "admin_filter": "Filter",
    "admin_next": "Next",
    "admin_previous": "Previous",
    "admin_type": "Type",
    "admin_client": "Client",
    "admin_time": "Time (UTC)",
    "admin_source": "Source",
    "admin_details": "Details",
    "admin_reason_device": "Reason, device",
    "admin_actions": "Actions",
    "admin_none": "None.",
    "admin_software": "Authorised software (IDAM)",
    "admin_month_stats": "Calls of {month}",
    "admin_error": "Refused: {error}",
    "admin_too_long": (
        "Refused: the field {field} is longer than its limit of {limit} bytes "
        "(max_parameter_length); nothing was registered."
    ),
    "admin_form_not_sent": (
        "Your session had ended: the form was not sent. Sign in again to go back to the page "
        "it was on."
    ),
}

i18n.MESSAGES["fr"].update(FR)
i18n.MESSAGES["en"].update(EN)

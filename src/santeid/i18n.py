"""The one message catalogue of santeid's pages and of the messages its errors show people:
French by default, English with ``ui_locales=en`` (OIDC Core §3.1.2.1,
https://openid.net/specs/openid-connect-core-1_0.html#AuthRequest).

Both languages have the same keys (a test checks it). Texts are ``str.format`` templates:
``{name}`` placeholders, with format specs where the languages differ (``{end:%d/%m/%Y}``).
Errors that carry a message for people (``CardError``, ``NationalIdError``) keep a code and
its values, and take their text from here (keys ``card.<code>``, ``national_id.<code>``)."""

from __future__ import annotations

import re

SUPPORTED = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "lang": "fr",
        "sandbox_banner": ("Bac à sable santeid — environnement de test, aucune donnée réelle."),
        # What a sandbox phone does (santeid.sandbox.scenarios.Scenario.describe).
        "sandbox_scenario.approve": "validée {when}",
        "sandbox_scenario.deny": "refusée sur le téléphone {when}",
        "sandbox_scenario.never": "jamais répondue : la demande expire",
        "sandbox_scenario.wrong_code": "le mauvais code est choisi {when}",
        "sandbox_scenario.device_locked": "code PIN faux, appareil bloqué {when}",
        "sandbox_scenario.card_only": "pas de téléphone : carte CPS (ou e-CPS activée) seulement",
        "sandbox_scenario.none": "pas de téléphone de bac à sable",
        "sandbox_scenario.at_once": "immédiatement",
        "sandbox_scenario.after": "après {seconds} s",
        "sandbox_scenario.when_default": (
            "après sandbox_approval_delay ({browser} s) pour une connexion navigateur, "
            "{ciba} pour CIBA"
        ),
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
            "Aucune e-CPS n'est activée pour {national_id} : activez votre e-CPS ou "
            "connectez-vous avec votre carte CPS."
        ),
        "wait_title": "Validation en cours",
        "wait_ecps": (
            "Une demande de connexion pour {name} a été envoyée sur son téléphone. "
            "Saisissez votre code PIN e-CPS, puis choisissez le code ci-dessous."
        ),
        "dynamic_code_intro": "Code à choisir sur votre téléphone :",
        "wait_expires": "La demande expire dans {seconds} secondes.",
        "wait_wrong_pin": (
            "Code PIN erroné saisi sur le téléphone. Essais restants avant blocage : {remaining}."
        ),
        "otp_link": "Pas de réseau sur le téléphone ?",
        "otp_title": "Code hors connexion",
        "otp_intro": (
            "Ouvrez l'application e-CPS, rubrique « code hors connexion », et saisissez le code "
            "à 6 chiffres affiché."
        ),
        "otp_label": "Code hors connexion",
        "otp_back": "Revenir à la validation sur le téléphone",
        "otp_invalid_code": "Code incorrect. Vérifiez le code affiché par l'application.",
        "otp_replayed_code": "Ce code a déjà servi. Attendez le code suivant (30 secondes).",
        "otp_locked": (
            "Trop de codes incorrects : le code hors connexion est bloqué {minutes} minutes."
        ),
        "otp_locked_for_the_day": (
            "Trop de codes incorrects en 24 heures : le code hors connexion est bloqué jusqu'à "
            "la fin de cette période. Validez la connexion sur le téléphone ou avec votre "
            "carte CPS."
        ),
        "otp_no_device": "Aucune e-CPS active pour ce compte.",
        "failed_title": "Connexion non validée",
        "failure_denied": "La connexion a été refusée sur le téléphone.",
        "failure_wrong_code": (
            "Le code choisi sur le téléphone n'est pas celui affiché sur cette page."
        ),
        "failure_locked": (
            "Trop de codes PIN erronés : votre e-CPS est bloquée. Activez-la de nouveau."
        ),
        "failure_expired": "Délai dépassé : la demande n'a pas été validée à temps.",
        "failure_other": "La connexion n'a pas pu être validée.",
        "failure_replaced": (
            "Une demande plus récente a remplacé celle-ci sur le téléphone : réessayez."
        ),
        "too_many_logins": (
            "Trop de demandes de connexion pour ce compte ou depuis cette adresse. "
            "Réessayez dans quelques minutes."
        ),
        "retry": "Réessayer",
        "card_link": "Se connecter avec une carte CPS",
        "activation_link": "Activer ma e-CPS",
        "wait_sandbox": (
            "Téléphone du bac à sable : la demande pour {name} reçoit la réponse de son scénario."
        ),
        "wait_continue": "Continuer",
        "approved": "Connexion validée, retour au service…",
        "error_title": "Erreur",
        "error_title_code": "Erreur : {error}",
        # Keycloak's login theme, messages_fr.properties (code.ftl).
        "code_success_title": "Code succès",
        "code_error_title": "Code d'erreur : {error}",
        "copy_code_instruction": "Copiez le code et recopiez le dans votre application :",
        "error_back": "Revenez sur le service qui vous a envoyé ici et recommencez.",
        "login_restarted": (
            "Le délai de connexion est dépassé : la connexion reprend depuis le début."
        ),
        "already_logged_in_title": "Déjà connecté",
        "already_logged_in": (
            "Vous êtes déjà connecté. Vous pouvez fermer cette page et revenir au service."
        ),
        "expired_title": "Demande de connexion expirée",
        "expired_detail": "Cette demande de connexion n'existe plus ou a expiré.",
        "foreign_tx": "Cette demande de connexion a été ouverte dans un autre navigateur.",
        "csrf": (
            "Le formulaire a expiré : la page est restée ouverte trop longtemps, ou votre "
            "navigateur a perdu sa session."
        ),
        "csrf_retry": "Afficher le formulaire à nouveau",
        "csrf_back": "Revenez à la page précédente et recommencez.",
        "logged_out_title": "Session fermée",
        "logged_out": "Vous êtes déconnecté de Pro Santé Connect (santeid).",
        "logout_confirm_title": "Déconnexion",
        "logout_confirm": "Voulez-vous fermer votre session ?",
        "logout_button": "Se déconnecter",
        "logout_continue": "Continuer",
        "back_to_application": "« Revenir à l'application",
        "frontchannel_logout_apps": "Vous vous déconnectez des applications suivantes :",
        "unavailable": "Service momentanément indisponible. Réessayez dans quelques instants.",
        "not_found": "Page introuvable.",
        "internal_error": "Erreur interne. L'incident est enregistré ; réessayez plus tard.",
        "too_large": "Requête refusée : un paramètre dépasse la taille autorisée.",
        # Keycloak's login theme, messages_fr.properties: the texts of its error pages that
        # santeid's show too, ``keycloak.<key of Keycloak's Messages.java>``
        # (``santeid.oidc.keycloak_errors.PageMessage``).
        "keycloak.invalidRequestMessage": "Requête invalide",
        "keycloak.clientNotFoundMessage": "Client inconnu.",
        "keycloak.invalidParameterMessage": "Paramètre invalide : {parameter}",
        "keycloak.missingParameterMessage": "Paramètres manquants : {parameter}",
        "keycloak.invalidRedirectUriMessage": "L'URI de redirection est invalide",
        # -- e-CPS activation, devices and sandbox outbox (santeid.web_ecps) --------------
        "ecps_activation_title": "Activer ma e-CPS",
        "ecps_activation_intro": (
            "Saisissez votre identifiant national. Deux codes de validation vous seront "
            "envoyés : l'un à l'adresse e-mail, l'autre au téléphone mobile enregistrés "
            "dans l'annuaire."
        ),
        "ecps_send_codes": "Recevoir les codes",
        "ecps_activation_card_hint": (
            "Vos coordonnées de correspondance sont absentes ou anciennes ? Faites-les mettre "
            "à jour dans l'annuaire (RPPS : votre Ordre ; ADELI : votre ARS) ou activez votre "
            "e-CPS avec votre carte CPS."
        ),
        "ecps_devices_link": "Gérer mes e-CPS",
        "ecps_activate_new": "Activer une nouvelle e-CPS",
        "ecps_inactive_professional": (
            "Le compte {national_id} n'est plus actif dans l'annuaire : activation impossible."
        ),
        "ecps_missing_contact": (
            "Aucune adresse e-mail ni aucun téléphone mobile de correspondance ne sont "
            "enregistrés pour {national_id} dans l'annuaire : l'activation par codes est "
            "impossible. Activez votre e-CPS avec votre carte CPS."
        ),
        "ecps_missing_email": (
            "Aucune adresse e-mail de correspondance n'est enregistrée pour {national_id} dans "
            "l'annuaire : l'activation par codes est impossible. Activez votre e-CPS avec "
            "votre carte CPS."
        ),
        "ecps_missing_phone": (
            "Aucun téléphone mobile de correspondance n'est enregistré pour {national_id} dans "
            "l'annuaire : l'activation par codes est impossible. Activez votre e-CPS avec "
            "votre carte CPS."
        ),
        "ecps_messages_unconfigured": (
            "L'envoi des codes de validation n'est pas configuré sur ce serveur. Contactez "
            "l'administrateur du service ou activez votre e-CPS avec votre carte CPS."
        ),
        "ecps_messages_failed": (
            "Les codes de validation n'ont pas pu être envoyés. Réessayez dans quelques minutes."
        ),
        "ecps_too_many_sends": (
            "Trop de demandes de codes pour cet identifiant. Réessayez dans {minutes} min."
        ),
        "ecps_too_many_sends_address": (
            "Trop de demandes de codes depuis cette adresse. Réessayez dans {minutes} min."
        ),
        "ecps_email_subject": "Votre code de validation pour activer votre e-CPS",
        "ecps_email_body": (
            "Bonjour,\n\n"
            "Voici le code de validation à saisir sur la page d'activation de votre e-CPS, "
            "avec le code reçu par SMS :\n\n"
            "    {code}\n\n"
            "Il est valable {minutes} minutes et ne sert qu'une fois. Ne le communiquez à "
            "personne : aucun service ne vous le demandera.\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n\n"
            "— santeid (Pro Santé Connect)\n"
        ),
        "ecps_sms_body": (
            "santeid e-CPS : code de validation {code}, à saisir avec le code reçu par e-mail. "
            "Valable {minutes} min. Ne le communiquez à personne."
        ),
        "ecps_codes_title": "Codes de validation",
        "ecps_codes_sent": (
            "Deux codes viennent d'être envoyés : l'un par e-mail à {email}, l'autre par SMS "
            "au {phone}. Ils sont valables {minutes} minutes."
        ),
        "ecps_email_code_label": "Code reçu par e-mail",
        "ecps_sms_code_label": "Code reçu par SMS",
        "ecps_code_help": "6 chiffres.",
        "ecps_code_format": "Saisissez les 6 chiffres du code.",
        "ecps_verify_codes": "Valider",
        "ecps_restart": "Recommencer l'activation",
        "ecps_codes_expired": (
            "Ces codes ont expiré ou ont déjà servi. Demandez de nouveaux codes."
        ),
        "ecps_codes_locked": (
            "Trop de codes incorrects : ces codes sont annulés. Demandez de nouveaux codes."
        ),
        "ecps_codes_wrong": (
            "Les codes ne correspondent pas. Vérifiez les deux codes. Essais restants : "
            "{remaining}."
        ),
        "ecps_foreign_flow": "Cette activation a été commencée dans un autre navigateur.",
        "ecps_qr_title": "Activez votre e-CPS sur votre téléphone",
        "ecps_qr_intro": "Activation de la e-CPS pour {name} ({national_id}).",
        "ecps_qr_step_app": (
            "Scannez ce QR code avec l'appareil photo de votre téléphone : il ouvre "
            "l'application e-CPS (à ajouter ensuite à l'écran d'accueil)."
        ),
        "ecps_qr_step_scan": (
            "Ou, dans l'application e-CPS déjà ouverte, scannez-le ou saisissez le code "
            "d'activation."
        ),
        "ecps_qr_open_app": "Ouvrir l'application e-CPS sur cet appareil",
        "ecps_qr_step_pin": "Choisissez votre code PIN e-CPS dans l'application.",
        "ecps_qr_code_label": "Code d'activation :",
        "ecps_qr_uri_label": "Lien d'activation :",
        "ecps_qr_cli": "En ligne de commande (téléphone simulé) :",
        "ecps_qr_png": "Image PNG du QR code",
        "ecps_qr_png_download": "Enregistrer l'image",
        "ecps_qr_alt": "QR code d'activation e-CPS, à scanner avec l'application e-CPS",
        "ecps_qr_remaining": "Ce QR code expire dans {seconds} secondes.",
        "ecps_qr_validity": "Ce QR code est valable {seconds} secondes.",
        "ecps_qr_expired": (
            "Ce QR code a expiré. Recommencez l'activation pour recevoir de nouveaux codes."
        ),
        "ecps_devices_title": "Mes e-CPS",
        "ecps_devices_intro": "Téléphones où la e-CPS est activée pour {name} ({national_id}).",
        "ecps_devices_caption": "Vos e-CPS",
        "ecps_device_name": "Téléphone",
        "ecps_device_status": "État",
        "ecps_device_created": "Activée le",
        "ecps_device_last_used": "Dernière utilisation",
        "ecps_device_actions": "Action",
        "ecps_device_revoke": "Révoquer",
        "ecps_device_revoke_named": "Révoquer la e-CPS de « {name} »",
        "ecps_device_unnamed": "Téléphone sans nom",
        "ecps_revoke_confirm_title": "Révoquer une e-CPS",
        "ecps_revoke_confirm": (
            "Révoquer la e-CPS de « {name} » ? Ce téléphone ne pourra plus valider de "
            "connexion ; pour l'utiliser de nouveau, il faudra activer une nouvelle e-CPS."
        ),
        "ecps_revoke_confirm_button": "Oui, révoquer",
        "ecps_revoke_keep": "Non, revenir à mes e-CPS",
        "ecps_device_never": "jamais",
        "ecps_status_active": "active",
        "ecps_status_locked": "bloquée",
        "ecps_status_revoked": "révoquée",
        "ecps_no_devices": "Aucune e-CPS n'est activée pour votre compte.",
        "ecps_device_revoked": "La e-CPS de « {name} » est révoquée.",
        "ecps_device_already_revoked": "La e-CPS de « {name} » était déjà révoquée.",
        "ecps_device_forbidden": "Cette e-CPS n'est pas la vôtre : vous ne pouvez pas la révoquer.",
        "ecps_device_unknown": "Cette e-CPS n'existe pas.",
        "ecps_login_state": (
            "La connexion n'a pas pu être vérifiée (demande inconnue ou déjà utilisée). "
            "Rouvrez la page « Mes e-CPS »."
        ),
        "ecps_login_failed": "Vous n'êtes pas connecté : la connexion a été annulée ou a échoué.",
        "ecps_login_again": "Se connecter",
        "outbox_title": "Boîte d'envoi du bac à sable",
        "outbox_intro": (
            "Bac à sable : aucun message n'est réellement envoyé. Les e-mails et SMS que "
            "santeid aurait envoyés sont ici, du plus récent au plus ancien."
        ),
        "outbox_link": "Bac à sable : voir les messages envoyés",
        "outbox_empty": "Aucun message.",
        "outbox_time": "Heure (UTC)",
        "outbox_channel": "Canal",
        "outbox_channel_email": "E-mail",
        "outbox_channel_sms": "SMS",
        "outbox_to": "Destinataire",
        "outbox_subject": "Objet",
        # -- CPS card login and national identifiers (santeid.cps.cards, santeid.psc.national_id)
        "card_error_title": "Connexion par carte CPS impossible",
        "card_error_back": "Revenir à la page de connexion",
        "card.no_certificate": (
            "Aucune carte CPS n'a été présentée. Insérez votre carte dans le lecteur, vérifiez "
            "que le logiciel de la carte (Cryptolib CPS) est installé, puis réessayez."
        ),
        "card.untrusted_issuer": (
            "Le certificat présenté n'a pas été émis par une autorité de certification CPS "
            "reconnue par ce serveur (émetteur : {issuer})."
        ),
        "card.unreadable_issuer": (
            "Le certificat présenté n'a pas été émis par une autorité de certification CPS "
            "reconnue par ce serveur (le nom de son émetteur est illisible)."
        ),
        "card.not_yet_valid": (
            "Le certificat de cette carte CPS n'est valide qu'à partir du {start:%d/%m/%Y %H:%M} "
            "UTC."
        ),
        "card.expired": (
            "Cette carte CPS a expiré le {end:%d/%m/%Y %H:%M} UTC. Utilisez votre nouvelle "
            "carte, ou connectez-vous avec votre e-CPS."
        ),
        "card.wrong_usage": (
            "Le certificat présenté n'est pas un certificat d'authentification de carte CPS "
            "(usage non prévu pour une connexion)."
        ),
        "card.revoked": (
            "Cette carte CPS a été révoquée (perte, vol ou remplacement) : elle ne permet plus "
            "de se connecter. Utilisez votre nouvelle carte, ou votre e-CPS."
        ),
        "card.no_national_id": (
            "Le certificat présenté ne contient pas d'identifiant national de professionnel de "
            "santé : ce n'est pas un certificat de carte CPS."
        ),
        "card.unknown_professional": (
            "Cette carte porte l'identifiant {national_id}, qui ne figure pas dans l'annuaire "
            "des professionnels de santé : connexion impossible."
        ),
        "card.inactive_professional": (
            "Le compte {national_id} n'est plus actif dans l'annuaire : connexion impossible."
        ),
        "national_id.empty": "Saisissez votre identifiant national.",
        "national_id.too_long": "Identifiant trop long : {max_length} caractères au plus.",
        "national_id.non_digit": (
            "L'identifiant {label} ne doit contenir que des chiffres (caractère « {bad} » non "
            "autorisé)."
        ),
        "national_id.rpps_missing_prefix": (
            "Ajoutez le préfixe 8 devant votre numéro RPPS : l'identifiant national compte 12 "
            "chiffres, soit 8{value}."
        ),
        "national_id.adeli_missing_prefix": (
            "Un numéro ADELI (9 chiffres) se saisit précédé du préfixe 0 : l'identifiant "
            "national compte 10 chiffres, soit 0{value}."
        ),
        "national_id.unknown_prefix": (
            "Identifiant non reconnu : il doit commencer par 8 (RPPS), 0 (ADELI), 3 ou 5 "
            "(personnel d'établissement), pas par « {first} »."
        ),
        "national_id.rpps_length": (
            "L'identifiant RPPS doit compter 12 chiffres : le préfixe 8 suivi des 11 chiffres du "
            "numéro RPPS (vous en avez saisi {typed})."
        ),
        "national_id.adeli_length": (
            "L'identifiant ADELI doit compter 10 caractères : le préfixe 0 suivi des 9 caractères "
            "du numéro ADELI (vous en avez saisi {typed})."
        ),
        "national_id.adeli_format": (
            "L'identifiant ADELI ne contient que des chiffres et des lettres majuscules "
            "(caractère « {bad} » non autorisé)."
        ),
        "national_id.staff_format_finess": (
            "Un identifiant de personnel d'établissement s'écrit {id_type}, puis le n° FINESS (9 "
            "caractères), puis « / » et l'identifiant interne donné par la structure."
        ),
        "national_id.staff_format_siret": (
            "Un identifiant de personnel d'établissement s'écrit {id_type}, puis le n° SIRET (14 "
            "chiffres), puis « / » et l'identifiant interne donné par la structure."
        ),
        "national_id.finess_format": (
            "Le n° FINESS « {structure} » doit compter 9 caractères (chiffres ou lettres)."
        ),
        "national_id.siret_format": "Le n° SIRET « {structure} » doit compter 14 chiffres.",
        "national_id.internal_id_format": (
            "L'identifiant interne (après « / ») ne peut contenir que des lettres, des chiffres, "
            "« . », « _ » ou « - »."
        ),
        "national_id.test_id_format": (
            "Un identifiant de test EDIT s'écrit ANS suivi de 14 chiffres (par exemple "
            "ANS20240115093000)."
        ),
    },
    "en": {
        "lang": "en",
        "sandbox_banner": "santeid sandbox — test environment, no real data.",
        "sandbox_scenario.approve": "approved {when}",
        "sandbox_scenario.deny": "denied on the phone {when}",
        "sandbox_scenario.never": "never answered: the request expires",
        "sandbox_scenario.wrong_code": "the wrong code is picked {when}",
        "sandbox_scenario.device_locked": "wrong PIN, device locked {when}",
        "sandbox_scenario.card_only": "no phone: CPS card (or an activated e-CPS) only",
        "sandbox_scenario.none": "no sandbox phone",
        "sandbox_scenario.at_once": "at once",
        "sandbox_scenario.after": "after {seconds} s",
        "sandbox_scenario.when_default": (
            "after sandbox_approval_delay ({browser} s) for a browser login, {ciba} for CIBA"
        ),
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
            "No e-CPS is activated for {national_id}: activate your e-CPS or log in with "
            "your CPS card."
        ),
        "wait_title": "Waiting for approval",
        "wait_ecps": (
            "A login request was sent to {name}'s phone. Enter your e-CPS PIN, then pick "
            "the code below."
        ),
        "dynamic_code_intro": "Code to pick on your phone:",
        "wait_expires": "The request expires in {seconds} seconds.",
        "wait_wrong_pin": (
            "Wrong PIN typed on the phone. Attempts left before it locks: {remaining}."
        ),
        "otp_link": "No network on the phone?",
        "otp_title": "Offline code",
        "otp_intro": 'Open the e-CPS app, "offline code", and type the 6-digit code shown.',
        "otp_label": "Offline code",
        "otp_back": "Back to approval on the phone",
        "otp_invalid_code": "Wrong code. Check the code shown by the app.",
        "otp_replayed_code": "This code was already used. Wait for the next one (30 seconds).",
        "otp_locked": "Too many wrong codes: the offline code is locked for {minutes} minutes.",
        "otp_locked_for_the_day": (
            "Too many wrong codes in 24 hours: the offline code is locked until that period "
            "ends. Approve the login on the phone or with your CPS card."
        ),
        "otp_no_device": "No active e-CPS for this account.",
        "failed_title": "Login not approved",
        "failure_denied": "The login was refused on the phone.",
        "failure_wrong_code": "The code picked on the phone is not the one shown on this page.",
        "failure_locked": "Too many wrong PINs: your e-CPS is locked. Activate it again.",
        "failure_expired": "Too late: the request was not approved in time.",
        "failure_other": "The login could not be approved.",
        "failure_replaced": "A newer request replaced this one on the phone: try again.",
        "too_many_logins": (
            "Too many login requests for this account or from this address. "
            "Try again in a few minutes."
        ),
        "retry": "Try again",
        "card_link": "Log in with a CPS card",
        "activation_link": "Activate my e-CPS",
        "wait_sandbox": ("Sandbox phone: the request of {name} gets the answer of its scenario."),
        "wait_continue": "Continue",
        "approved": "Login approved, going back to the service…",
        "error_title": "Error",
        "error_title_code": "Error: {error}",
        # Keycloak's login theme, messages_en.properties (code.ftl).
        "code_success_title": "Success code",
        "code_error_title": "Error code: {error}",
        "copy_code_instruction": "Please copy this code and paste it into your application:",
        "error_back": "Go back to the service that sent you here and try again.",
        "login_restarted": "The time allowed to log in ran out: the login starts over.",
        "already_logged_in_title": "Already logged in",
        "already_logged_in": (
            "You are already logged in. You can close this page and go back to the service."
        ),
        "expired_title": "Login request expired",
        "expired_detail": "This login request no longer exists or has expired.",
        "foreign_tx": "This login request was opened in another browser.",
        "csrf": (
            "The form has expired: the page stayed open too long, or your browser lost its session."
        ),
        "csrf_retry": "Show the form again",
        "csrf_back": "Go back to the previous page and try again.",
        "logged_out_title": "Session closed",
        "logged_out": "You are logged out of Pro Santé Connect (santeid).",
        "logout_confirm_title": "Log out",
        "logout_confirm": "Do you want to close your session?",
        "logout_button": "Log out",
        "logout_continue": "Continue",
        "back_to_application": "« Back to Application",
        "frontchannel_logout_apps": "You are logging out from the following apps:",
        "unavailable": "Service temporarily unavailable. Please try again shortly.",
        "not_found": "Page not found.",
        "internal_error": "Internal error. It has been logged; try again later.",
        "too_large": "Request refused: a parameter exceeds the allowed size.",
        # Keycloak's login theme, messages_en.properties (same keys).
        "keycloak.invalidRequestMessage": "Invalid Request",
        "keycloak.clientNotFoundMessage": "Client not found.",
        "keycloak.invalidParameterMessage": "Invalid parameter: {parameter}",
        "keycloak.missingParameterMessage": "Missing parameters: {parameter}",
        "keycloak.invalidRedirectUriMessage": "Invalid redirect uri",
        # -- e-CPS activation, devices and sandbox outbox (santeid.web_ecps) --------------
        "ecps_activation_title": "Activate my e-CPS",
        "ecps_activation_intro": (
            "Type your national identifier. Two validation codes will be sent to you: one to "
            "the e-mail address, the other to the mobile phone recorded in the directory."
        ),
        "ecps_send_codes": "Send me the codes",
        "ecps_activation_card_hint": (
            "Contact details missing or out of date? Have them updated in the directory "
            "(RPPS: your Ordre; ADELI: your ARS) or activate your e-CPS with your CPS card."
        ),
        "ecps_devices_link": "Manage my e-CPS",
        "ecps_activate_new": "Activate a new e-CPS",
        "ecps_inactive_professional": (
            "Account {national_id} is no longer active in the directory: activation refused."
        ),
        "ecps_missing_contact": (
            "No correspondence e-mail address or mobile phone is recorded for {national_id} "
            "in the directory: activation by codes is impossible. Activate your e-CPS with "
            "your CPS card."
        ),
        "ecps_missing_email": (
            "No correspondence e-mail address is recorded for {national_id} in the directory: "
            "activation by codes is impossible. Activate your e-CPS with your CPS card."
        ),
        "ecps_missing_phone": (
            "No correspondence mobile phone is recorded for {national_id} in the directory: "
            "activation by codes is impossible. Activate your e-CPS with your CPS card."
        ),
        "ecps_messages_unconfigured": (
            "Sending validation codes is not configured on this server. Contact the "
            "service's administrator or activate your e-CPS with your CPS card."
        ),
        "ecps_messages_failed": (
            "The validation codes could not be sent. Please try again in a few minutes."
        ),
        "ecps_too_many_sends": (
            "Too many code requests for this identifier. Please try again in {minutes} min."
        ),
        "ecps_too_many_sends_address": (
            "Too many code requests from this address. Please try again in {minutes} min."
        ),
        "ecps_email_subject": "Your validation code to activate your e-CPS",
        "ecps_email_body": (
            "Hello,\n\n"
            "Here is the validation code to type on your e-CPS activation page, together with "
            "the code received by SMS:\n\n"
            "    {code}\n\n"
            "It is valid for {minutes} minutes and works once. Never share it: no service "
            "will ever ask you for it.\n"
            "If you did not ask for it, ignore this message.\n\n"
            "— santeid (Pro Santé Connect)\n"
        ),
        "ecps_sms_body": (
            "santeid e-CPS: validation code {code}, to type with the code received by e-mail. "
            "Valid {minutes} min. Never share it."
        ),
        "ecps_codes_title": "Validation codes",
        "ecps_codes_sent": (
            "Two codes were just sent: one by e-mail to {email}, the other by SMS to {phone}. "
            "They are valid for {minutes} minutes."
        ),
        "ecps_email_code_label": "Code received by e-mail",
        "ecps_sms_code_label": "Code received by SMS",
        "ecps_code_help": "6 digits.",
        "ecps_code_format": "Type the 6 digits of the code.",
        "ecps_verify_codes": "Confirm",
        "ecps_restart": "Start the activation again",
        "ecps_codes_expired": "These codes have expired or were already used. Ask for new codes.",
        "ecps_codes_locked": "Too many wrong codes: these codes are cancelled. Ask for new codes.",
        "ecps_codes_wrong": (
            "The codes do not match. Check both codes. Attempts left: {remaining}."
        ),
        "ecps_foreign_flow": "This activation was started in another browser.",
        "ecps_qr_title": "Activate your e-CPS on your phone",
        "ecps_qr_intro": "Activation of the e-CPS of {name} ({national_id}).",
        "ecps_qr_step_app": (
            "Scan this QR code with your phone's camera: it opens the e-CPS app (then add it "
            "to the home screen)."
        ),
        "ecps_qr_step_scan": (
            "Or, in the e-CPS app already open, scan it or type the activation code."
        ),
        "ecps_qr_open_app": "Open the e-CPS app on this device",
        "ecps_qr_step_pin": "Choose your e-CPS PIN in the app.",
        "ecps_qr_code_label": "Activation code:",
        "ecps_qr_uri_label": "Activation link:",
        "ecps_qr_cli": "From the command line (simulated phone):",
        "ecps_qr_png": "PNG image of the QR code",
        "ecps_qr_png_download": "Save the image",
        "ecps_qr_alt": "e-CPS activation QR code, to scan with the e-CPS app",
        "ecps_qr_remaining": "This QR code expires in {seconds} seconds.",
        "ecps_qr_validity": "This QR code is valid for {seconds} seconds.",
        "ecps_qr_expired": "This QR code has expired. Start the activation again to get new codes.",
        "ecps_devices_title": "My e-CPS",
        "ecps_devices_intro": "Phones where the e-CPS of {name} ({national_id}) is activated.",
        "ecps_devices_caption": "Your e-CPS",
        "ecps_device_name": "Phone",
        "ecps_device_status": "Status",
        "ecps_device_created": "Activated on",
        "ecps_device_last_used": "Last used",
        "ecps_device_actions": "Action",
        "ecps_device_revoke": "Revoke",
        "ecps_device_revoke_named": 'Revoke the e-CPS of "{name}"',
        "ecps_device_unnamed": "Unnamed phone",
        "ecps_revoke_confirm_title": "Revoke an e-CPS",
        "ecps_revoke_confirm": (
            'Revoke the e-CPS of "{name}"? This phone will no longer approve logins; to use it '
            "again, a new e-CPS must be activated."
        ),
        "ecps_revoke_confirm_button": "Yes, revoke",
        "ecps_revoke_keep": "No, back to my e-CPS",
        "ecps_device_never": "never",
        "ecps_status_active": "active",
        "ecps_status_locked": "locked",
        "ecps_status_revoked": "revoked",
        "ecps_no_devices": "No e-CPS is activated for your account.",
        "ecps_device_revoked": 'The e-CPS of "{name}" is revoked.',
        "ecps_device_already_revoked": 'The e-CPS of "{name}" was already revoked.',
        "ecps_device_forbidden": "This e-CPS is not yours: you cannot revoke it.",
        "ecps_device_unknown": "This e-CPS does not exist.",
        "ecps_login_state": (
            "The login could not be checked (unknown or already used request). Open the "
            '"My e-CPS" page again.'
        ),
        "ecps_login_failed": "You are not logged in: the login was cancelled or failed.",
        "ecps_login_again": "Log in",
        "outbox_title": "Sandbox outbox",
        "outbox_intro": (
            "Sandbox: no message is really sent. The e-mails and SMS santeid would have sent "
            "are here, newest first."
        ),
        "outbox_link": "Sandbox: see the messages sent",
        "outbox_empty": "No message.",
        "outbox_time": "Time (UTC)",
        "outbox_channel": "Channel",
        "outbox_channel_email": "E-mail",
        "outbox_channel_sms": "SMS",
        "outbox_to": "Recipient",
        "outbox_subject": "Subject",
        # -- CPS card login and national identifiers (santeid.cps.cards, santeid.psc.national_id)
        "card_error_title": "CPS card login failed",
        "card_error_back": "Back to the login page",
        "card.no_certificate": (
            "No CPS card was presented. Insert your card in the reader, check that the card "
            "software (CPS Cryptolib) is installed, then try again."
        ),
        "card.untrusted_issuer": (
            "The certificate presented was not issued by a CPS certification authority this "
            "server trusts (issuer: {issuer})."
        ),
        "card.unreadable_issuer": (
            "The certificate presented was not issued by a CPS certification authority this "
            "server trusts (its issuer's name cannot be read)."
        ),
        "card.not_yet_valid": (
            "This CPS card certificate is only valid from {start:%Y-%m-%d %H:%M} UTC."
        ),
        "card.expired": (
            "This CPS card expired on {end:%Y-%m-%d %H:%M} UTC. Use your new card, or log in "
            "with your e-CPS."
        ),
        "card.wrong_usage": (
            "The certificate presented is not a CPS card authentication certificate (its usage "
            "does not allow logging in)."
        ),
        "card.revoked": (
            "This CPS card has been revoked (lost, stolen or replaced): it can no longer be used "
            "to log in. Use your new card, or your e-CPS."
        ),
        "card.no_national_id": (
            "The certificate presented carries no national health-professional identifier: it is "
            "not a CPS card certificate."
        ),
        "card.unknown_professional": (
            "This card carries the identifier {national_id}, which is not in the health "
            "professionals directory: login refused."
        ),
        "card.inactive_professional": (
            "Account {national_id} is no longer active in the directory: login refused."
        ),
        "national_id.empty": "Enter your national identifier.",
        "national_id.too_long": "Identifier too long: {max_length} characters at most.",
        "national_id.non_digit": (
            "An {label} identifier contains digits only (character {bad!r} is not allowed)."
        ),
        "national_id.rpps_missing_prefix": (
            "Add the prefix 8 in front of your RPPS number: the national identifier has 12 "
            "digits, here 8{value}."
        ),
        "national_id.adeli_missing_prefix": (
            "Type an ADELI number (9 digits) after the prefix 0: the national identifier has 10 "
            "digits, here 0{value}."
        ),
        "national_id.unknown_prefix": (
            "Unrecognised identifier: it must start with 8 (RPPS), 0 (ADELI), 3 or 5 (structure "
            "staff), not with {first!r}."
        ),
        "national_id.rpps_length": (
            "An RPPS identifier has 12 digits: the prefix 8 followed by the 11 digits of the "
            "RPPS number (you typed {typed})."
        ),
        "national_id.adeli_length": (
            "An ADELI identifier has 10 characters: the prefix 0 followed by the 9 characters of "
            "the ADELI number (you typed {typed})."
        ),
        "national_id.adeli_format": (
            "An ADELI identifier contains digits and capital letters only (character {bad!r} is "
            "not allowed)."
        ),
        "national_id.staff_format_finess": (
            "A structure-staff identifier is {id_type}, then the FINESS number (9 characters), "
            "then '/' and the internal identifier given by the structure."
        ),
        "national_id.staff_format_siret": (
            "A structure-staff identifier is {id_type}, then the SIRET number (14 digits), then "
            "'/' and the internal identifier given by the structure."
        ),
        "national_id.finess_format": (
            "The FINESS number {structure!r} must have 9 characters (digits or letters)."
        ),
        "national_id.siret_format": "The SIRET number {structure!r} must have 14 digits.",
        "national_id.internal_id_format": (
            "The internal identifier (after '/') may only contain letters, digits, '.', '_' or '-'."
        ),
        "national_id.test_id_format": (
            "An EDIT test identifier is ANS followed by 14 digits (for example ANS20240115093000)."
        ),
    },
}


def pick_locale(ui_locales: str | None, kc_locale: str | None = None) -> str:
    """First supported language of the space-separated ``ui_locales`` preference list, after
    ``kc_locale`` (one language tag) when it names a supported one: Keycloak's locale selector
    takes the user's choice (``kc_locale``) before the client's ``ui_locales``
    (``DefaultLocaleSelectorProvider``, docs/reference/keycloak-behaviour.md, "Login pages").
    The browser's ``Accept-Language`` is not read: a browser's language alone never turns a
    page away from PSC's French (docs/reference/keycloak-behaviour.md, "Login page languages:
    ``LoginPageTest`` and its neighbours, method by method")."""
    for tag in [*(kc_locale or "").split()[:1], *(ui_locales or "").split()]:
        lang = tag.split("-")[0].lower()
        if lang in SUPPORTED:
            return lang
    return "fr"


#: The language a page declares on its root element, ``<html lang="…">`` (a BCP 47 tag), within
#: its first bytes: after the doctype and, for a few pages, a comment.
_DECLARED_LANGUAGE = re.compile(rb'<html lang="([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)"')
_DECLARATION_WITHIN = 512


def add_content_language(response):
    """``after_request``: an HTML page says its language in ``Content-Language`` too (RFC 9110
    §8.5), the one its ``<html lang>`` declares, as Keycloak's login theme answers every page
    in the language it was written in (``FreeMarkerLoginFormsProvider.processTemplate``:
    ``Response.status(…).type(…).language(locale)``,
    https://github.com/keycloak/keycloak/blob/c754ce686a93715fc044073115a867e4e349b586/services/src/main/java/org/keycloak/forms/login/freemarker/FreeMarkerLoginFormsProvider.java).
    Read from the page itself, the two can never differ. A file sent as it is stored, or a
    response whose view set its own header, is left as it is. A page ``abort`` raised reaches
    here as an iterator (Flask makes the exception a response by running it as a WSGI
    application): reading it keeps its body in memory, as a page rendered whole already was."""
    if (
        response.mimetype != "text/html"
        or response.direct_passthrough
        or "Content-Language" in response.headers
    ):
        return response
    declared = _DECLARED_LANGUAGE.search(response.get_data()[:_DECLARATION_WITHIN])
    if declared is not None:
        response.headers["Content-Language"] = declared.group(1).decode("ascii")
    return response


def init_app(app) -> None:
    app.after_request(add_content_language)


class Translator:
    def __init__(self, locale: str):
        self.locale = locale if locale in SUPPORTED else "fr"

    def __call__(self, key: str, **values) -> str:
        text = MESSAGES[self.locale].get(key) or MESSAGES["fr"][key]
        return text.format(**values) if values else text


class MessageError(Exception):
    """An error with a stable ``code`` for programs and a message for people, in either
    language: ``{PREFIX}.{code}`` of :data:`MESSAGES` (or ``message_key``), filled with the
    error's ``values``."""

    PREFIX = ""

    def __init__(self, code: str, *, message_key: str | None = None, **values: object) -> None:
        self.code = code
        self.message_key = message_key or f"{self.PREFIX}.{code}"
        self.values = values
        super().__init__(self.message("en"))

    def message(self, language: str = "fr") -> str:
        """The message in ``language`` (``fr`` or ``en``); French for anything else."""
        return Translator(language.lower()[:2])(self.message_key, **self.values)

    @property
    def message_fr(self) -> str:
        return self.message("fr")

    @property
    def message_en(self) -> str:
        return self.message("en")

"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2) and the JWKS.

Served at both ``{issuer}/.well-known/openid-configuration`` and PSC's
``{issuer}/.well-known/wallet-openid-configuration``, advertising only what santeid
implements; Keycloak's standard document also at RFC 8414's
``{issuer}/.well-known/oauth-authorization-server``, as Keycloak 25 and later serve it
(docs/reference/keycloak-behaviour.md, "Discovery"). The members santeid shares with PSC's
document come in that document's order (``docs/reference/pro-sante-connect.md §2``), as do
those of ``mtls_endpoint_aliases``.
The two differ as PSC's do: the wallet document advertises the wallet authorization URL
(``<issuer origin>/auth`` by default, ``authorization_endpoint`` setting), Keycloak's standard
document the realm's own ``…/protocol/openid-connect/auth``.
"""

from __future__ import annotations

import json

from flask import Response
from flask import jsonify
from flask import request

from santeid import i18n
from santeid.cache_control import keycloak_no_cache
from santeid.ciba.metadata import delivery_modes
from santeid.oidc import client_auth
from santeid.oidc import grant_types
from santeid.oidc import pkce
from santeid.oidc.authorize import ACR_VALUES_SUPPORTED
from santeid.oidc.authorize import ANSWERED_RESPONSE_TYPES
from santeid.oidc.authorize import RESPONSE_MODES
from santeid.oidc.client_auth import ASSERTION_SIGNING_ALGS
from santeid.oidc.request_objects import REQUEST_OBJECT_ALGS
from santeid.oidc.scopes import SCOPES_SUPPORTED
from santeid.services import services

CLAIMS_SUPPORTED = [
    "aud",
    "sub",
    "iss",
    "auth_time",
    "acr",
    "amr",
    "sid",
    "given_name",
    "family_name",
    "preferred_username",
    "SubjectNameID",
    "authMode",
    "SubjectRefPro",
    "SubjectOrganization",
    "SubjectOrganizationID",
    "SubjectRole",
    "Secteur_Activite",
    "otherIds",
]


def mtls_endpoint_aliases(settings) -> dict | None:
    """RFC 8705 §5: where a client authenticating with its certificate sends its requests —
    the HTTPS listener that asks for client certificates (``mtls_base_url``), as PSC advertises
    for its production clients. None when santeid has no such listener.

    One alias for each endpoint santeid serves among those Keycloak aliases, in Keycloak's
    order (``docs/reference/pro-sante-connect.md §2``, ``mtls_endpoint_aliases``): every
    endpoint that authenticates clients (``client_auth.ENDPOINTS``) but the logout endpoint,
    which Keycloak does not alias, and the userinfo endpoint, whose Bearer token may be bound
    to the certificate (RFC 8705 §3)."""
    base = settings.mtls_oidc_base
    if base is None:
        return None
    return {
        "token_endpoint": f"{base}/token",
        "revocation_endpoint": f"{base}/revoke",
        "introspection_endpoint": f"{base}/token/introspect",
        "userinfo_endpoint": f"{base}/userinfo",
        "pushed_authorization_request_endpoint": f"{base}/ext/par/request",
        "backchannel_authentication_endpoint": f"{base}/ext/ciba/auth",
    }


def metadata(*, wallet: bool = True) -> dict:
    """The provider metadata; ``wallet``: PSC's ``wallet-openid-configuration``.

    Members in PSC's order (the module docstring). The three that PSC's document lacks sit
    where Keycloak's ``OIDCConfigurationRepresentation`` declares them, or, when Keycloak has
    no such member, right after their nearest neighbour in PSC's document (comments below)."""
    settings = services().settings
    base = settings.oidc_base
    auth_methods = client_auth.discovery_methods()
    aliases = mtls_endpoint_aliases(settings)
    # What santeid signs: only the algorithms with an active key (docs/keys.md). What clients
    # sign (request objects, client assertions) is verified with their keys: every algorithm.
    signed_by_us = list(services().keys.signing_algorithms())
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": (
            settings.advertised_authorization_endpoint
            if wallet
            else settings.keycloak_authorization_endpoint
        ),
        "token_endpoint": f"{base}/token",
        "introspection_endpoint": f"{base}/token/introspect",
        "userinfo_endpoint": f"{base}/userinfo",
        "end_session_endpoint": f"{base}/logout",
        # Front-Channel Logout 1.0 §3 and Back-Channel Logout 1.0 §2.1 (oidc/logout.py).
        "frontchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "jwks_uri": f"{base}/certs",
        # OpenID Connect Session Management 1.0 §3.3 (oidc/session_status.py).
        "check_session_iframe": f"{base}/login-status-iframe.html",
        "grant_types_supported": list(grant_types.SUPPORTED),
        "acr_values_supported": ACR_VALUES_SUPPORTED,
        "response_types_supported": list(ANSWERED_RESPONSE_TYPES),
        "subject_types_supported": ["public"],
        # Not in PSC's document; Keycloak declares it right after subject_types_supported
        # (https://github.com/keycloak/keycloak, services/src/main/java/org/keycloak/protocol/
        # oidc/representations/OIDCConfigurationRepresentation.java).
        "prompt_values_supported": ["none", "login"],
        "id_token_signing_alg_values_supported": signed_by_us,
        "userinfo_signing_alg_values_supported": signed_by_us,
        "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGS),
        "response_modes_supported": list(RESPONSE_MODES),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
        # JARM §4: the response JWTs of the ``*.jwt`` response modes (oidc/authorize.py).
        "authorization_signing_alg_values_supported": signed_by_us,
        "claims_supported": CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "scopes_supported": SCOPES_SUPPORTED,
        # RFC 9101: request objects yes; request_uri only from the PAR endpoint, never
        # fetched (oidc/request_objects.py).
        "request_parameter_supported": True,
        "request_uri_parameter_supported": False,
        # PSC's order; plain for every client unless pkce_plain_for_all_clients is off.
        "code_challenge_methods_supported": list(pkce.METHODS),
        # RFC 8705 §3: the access tokens of tls_client_auth clients carry cnf.x5t#S256 and
        # every Bearer API checks it (santeid.oidc.protector).
        "tls_client_certificate_bound_access_tokens": True,
        "revocation_endpoint": f"{base}/revoke",
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # In neither PSC's document nor Keycloak's: right after the nearest member it shares
        # with PSC's document.
        "ui_locales_supported": list(i18n.SUPPORTED),
        # CIBA Core 1.0 §4 (santeid.ciba): PSC's modes, push with ciba_push_enabled
        # (docs/reference/pro-sante-connect.md §2, §14).
        "backchannel_token_delivery_modes_supported": list(delivery_modes(settings)),
        "backchannel_authentication_endpoint": f"{base}/ext/ciba/auth",
        "backchannel_authentication_request_signing_alg_values_supported": list(
            client_auth.REQUEST_SIGNING_ALGS
        ),
        # In neither PSC's document nor Keycloak's: right after the nearest CIBA member it
        # shares with PSC's document.
        "backchannel_user_code_parameter_supported": False,
        # RFC 9126 §5.
        "require_pushed_authorization_requests": False,
        "pushed_authorization_request_endpoint": f"{base}/ext/par/request",
        # RFC 8705 §5; only with a certificate listener.
        **({} if aliases is None else {"mtls_endpoint_aliases": aliases}),
        "authorization_response_iss_parameter_supported": True,
    }


#: RFC 7517 §8.5.1.
JWK_SET_MEDIA_TYPE = "application/jwk-set+json"


def _document(wallet: bool) -> Response:
    # jsonify would sort the keys; integrators diff this document against PSC's.
    return keycloak_no_cache(
        Response(json.dumps(metadata(wallet=wallet)), mimetype="application/json")
    )


def discovery():
    """Keycloak's standard ``openid-configuration``."""
    return _document(wallet=False)


def wallet_discovery():
    """PSC's ``wallet-openid-configuration``."""
    return _document(wallet=True)


def certs():
    """The JWK Set (RFC 7517 §5), ``Cache-Control: no-cache`` as Keycloak's certs endpoint
    (``@NoCache``, docs/reference/keycloak-behaviour.md, "Realm endpoints"): a new key signs as
    soon as it exists (docs/keys.md, "Rotation"), so a cached copy would lack it; a cache must
    ask again before reusing what it stored (RFC 9111 §5.2.2.4). ``Accept:
    application/jwk-set+json``, exactly, gets that media type (RFC 7517 §8.5.1), as from
    Keycloak after 26.2 (``OIDCLoginProtocolService.certs``); any other ``application/json``."""
    response = jsonify(services().keys.jwks())
    if request.headers.get("Accept") == JWK_SET_MEDIA_TYPE:
        response.mimetype = JWK_SET_MEDIA_TYPE
    response.headers["Cache-Control"] = "no-cache"
    return response

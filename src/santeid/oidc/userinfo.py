"""UserInfo endpoint (OIDC Core §5.3), GET and POST, returning PSC's claim set
(docs/reference/pro-sante-connect.md §9).

The Bearer token comes in the ``Authorization`` header or, for POST, in the form body
(RFC 6750 §2.1–2.2), never both. It is read by the one resource protector
(``santeid.oidc.protector``). Every error is Keycloak's (``UserInfoEndpoint``,
docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"), checked in
Keycloak's order. First, an ``Accept`` of neither ``application/json`` nor
``application/jwt``: 406, before anything (Keycloak's ``@Produces``, checked by its router
before the endpoint runs). Then a ``Content-Type`` that is no media type: 400
``invalid_request`` "The content-type header value did not correspond to a valid media type",
a JSON object, as Keycloak 26.8 answers it (an empty value is no header). Both rules are
``santeid.oidc.media_types``'. Then each refusal is the status, a ``WWW-Authenticate: Bearer
realm="esante-wallet"[, error=…, error_description=…]`` challenge and an empty body
(:func:`santeid.oidc.protector.challenge_response`):

* a form with ``access_token`` twice: 400 ``invalid_request`` "Duplicate parameter";
* no token — no ``Authorization: Bearer <token>`` header (another scheme is no token) and no
  form token: 401 with a bare challenge; a token both ways: 400 ``invalid_request`` "More than
  one method used for including an access token";
* a token that does not verify (signature, issuer, type, expiry): 401 ``invalid_token`` "Token
  verification failed";
* a token without ``openid``: 403 ``insufficient_scope`` "Missing openid scope";
* its client no longer registered: 401 ``invalid_token`` "Client not found";
* revoked by itself: "Token verification failed"; its session or grant ended (logout,
  refresh token revoked, replayed code, refused reuse, the session idle for
  ``sso_idle_timeout``): "user_session_not_found"; its session still stored but past its
  timeouts (a restart with a lower ``sso_idle_timeout`` or ``sso_max_lifetime``), or a CIBA
  grant past a lowered ``sso_max_lifetime``: "session_expired";
* its professional gone from the directory: "User not found"; inactive: "User disabled";
* bound to a certificate not presented (RFC 8705 §3): Keycloak's "Client certificate missing,
  or its thumbprint and one in the refresh token did NOT match".

A service account's token (``client_credentials`` with ``openid``) is answered as Keycloak
answers it — a transient session of the service-account user, which exists as long as its
client does: its ``sub`` and ``preferred_username`` (docs/endpoints.md).

Any origin may read an answer until the token's client is known, then that client's web
origins (``santeid.oidc.cors``).

With ``userinfo_errors = "rfc6750"``: an ``Authorization`` header of another scheme is 400
``invalid_request``, and a refused token's ``error_description`` says why. JSON by default;
a signed JWT (``application/jwt``) when the client registered ``userinfo_signed_response_alg``.
"""

from __future__ import annotations

import json

from authlib.oauth2 import OAuth2Error
from flask import Response
from flask import request

from santeid.cache_control import no_store
from santeid.errors import oauth_error
from santeid.oidc import cors
from santeid.oidc import keycloak_errors
from santeid.oidc import media_types
from santeid.oidc import protector
from santeid.oidc.clients import require_signing_key
from santeid.oidc.scopes import is_openid
from santeid.oidc.scopes import released_userinfo
from santeid.oidc.tokens import GRANT_ENDED
from santeid.oidc.tokens import SESSION_OVER
from santeid.oidc.tokens import SESSION_STORED_OVER
from santeid.oidc.tokens import TokenError
from santeid.oidc.tokens import is_service_account_token
from santeid.psc.claims import build_userinfo
from santeid.services import services

TOKEN_VERIFICATION_FAILED = keycloak_errors.TOKEN_VERIFICATION_FAILED


def _realm() -> str:
    return services().settings.issuer_path.rsplit("/", 1)[-1] or "santeid"


def _refused(error: str | None = None, description: str | None = None) -> Response:
    """Every error answer of the endpoint (:func:`protector.challenge_response`)."""
    return protector.challenge_response(_realm(), error, description)


def _invalid_token(keycloak_text: str, reason: str) -> Response:
    """401 ``invalid_token``: Keycloak's text; with ``userinfo_errors = "rfc6750"``, "Token
    verification failed: " and santeid's ``reason``."""
    if services().settings.keycloak.userinfo_errors == "rfc6750":
        return _refused("invalid_token", f"{TOKEN_VERIFICATION_FAILED}: {reason}")
    return _refused("invalid_token", keycloak_text)


def _protector_refusal(exc: OAuth2Error) -> Response:
    """The protector's refusal: no token, two, another scheme (``rfc6750`` only), or a token
    that does not verify."""
    if exc.error == protector.UNSUPPORTED:
        # Only raised in the rfc6750 style: RFC 6750 §3.1 invalid_request (malformed request).
        return _refused("invalid_request", protector.BEARER_REQUIRED)
    if exc.error == protector.MISSING:
        # RFC 6750 §3.1: no credentials, no error code; Keycloak's OAuth2Error.unauthorized().
        return _refused()
    if exc.error == protector.INVALID_REQUEST:
        return _refused("invalid_request", exc.description)
    return _invalid_token(TOKEN_VERIFICATION_FAILED, exc.description or "")


def _repeated_form_token() -> bool:
    """A POSTed form whose ``access_token`` is sent more than once: Keycloak's
    ``UserInfoEndpoint.checkAccessTokenDuplicated``, whatever the ``Authorization`` header
    holds (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation")."""
    return (
        request.method == "POST"
        and request.mimetype == "application/x-www-form-urlencoded"
        and keycloak_errors.repeated_parameter(request.form, only=("access_token",))
    )


def userinfo():
    svc = services()
    # Keycloak's @Produces: an Accept of neither JSON nor JWT is refused before anything.
    unacceptable = media_types.refusal()
    if unacceptable is not None:
        return unacceptable
    if media_types.malformed_content_type():
        # Keycloak's plain ErrorResponseException: a JSON object, no challenge, no CORS.
        return oauth_error(400, "invalid_request", media_types.MALFORMED_CONTENT_TYPE)
    if _repeated_form_token():
        # RFC 6750 §3.1 invalid_request ("repeats the same parameter").
        return _refused("invalid_request", keycloak_errors.USERINFO_DUPLICATE_PARAMETER)
    # Keycloak's CORS: any origin may read the answer until the token's client is known.
    cors.allow_any_origin()
    guard = protector.access_token_protector(
        svc.tokens,
        accept_form_token=True,
        other_schemes_are_none=svc.settings.keycloak.userinfo_errors == "keycloak",
        # Revocation and the certificate binding are checked below, in Keycloak's order.
        verify=svc.tokens.access_token_claims,
        check_binding=False,
    )
    presented = protector.ProtectedRequest.from_flask(accept_form_token=True)
    try:
        claims = guard.token(presented)
    except OAuth2Error as exc:
        return _protector_refusal(exc)
    if not is_openid(claims.get("scope")):
        # OIDC Core §5.3: userinfo is OpenID's; a plain OAuth 2.0 token is refused.
        return _refused("insufficient_scope", keycloak_errors.MISSING_OPENID_SCOPE)
    client = svc.clients.get(claims.get("azp"))
    if client is None:
        return _invalid_token(keycloak_errors.CLIENT_NOT_FOUND, "its client is not registered")
    cors.allow_origins_of(client)
    try:
        svc.tokens.check_live(claims)
    except TokenError as exc:
        # Revoked alone: part of Keycloak's token verification; with its grant, or its session
        # gone (idle for sso_idle_timeout, past sso_max_lifetime): Keycloak finds no user
        # session holding the token's client; its session still stored but past its timeouts:
        # Keycloak's user session found but not valid (UserSessionUtil.findValidSession).
        text = {
            GRANT_ENDED: keycloak_errors.USER_SESSION_NOT_FOUND,
            SESSION_OVER: keycloak_errors.USER_SESSION_NOT_FOUND,
            SESSION_STORED_OVER: keycloak_errors.SESSION_EXPIRED,
        }.get(str(exc), TOKEN_VERIFICATION_FAILED)
        return _invalid_token(text, str(exc))
    professional = None
    if not is_service_account_token(claims):
        professional = svc.directory.get(claims["preferred_username"])
        if professional is None:
            # A professional since removed from the directory.
            return _refused("invalid_token", keycloak_errors.USER_NOT_FOUND)
        if not professional.is_active:
            # Keycloak's disabled user (docs/reference/keycloak-behaviour.md, "Disabled users").
            return _refused("invalid_token", keycloak_errors.USER_DISABLED)
    try:
        protector.check_certificate_binding(claims, presented)
    except OAuth2Error:
        return _invalid_token(keycloak_errors.CERTIFICATE_MISMATCH, protector.UNBOUND)

    if professional is None:
        # The client's service account (client_credentials): its subject and username, as
        # its tokens name it, whatever the scope — no professional behind it.
        body = {"sub": claims["sub"], "preferred_username": claims["preferred_username"]}
    else:
        # What the token's scope releases: the one scope policy (santeid.oidc.scopes).
        body = released_userinfo(
            claims.get("scope"),
            build_userinfo(
                professional,
                sub=claims["sub"],
                auth_mode=claims.get("authMode"),
                layout=svc.settings.keycloak.userinfo_layout,
            ),
        )

    # A registered algorithm without an active key: 500 server_error (santeid.errors).
    field, algs = "userinfo_signed_response_alg", svc.keys.signing_algorithms
    alg = require_signing_key(client, field, algs)
    if alg is not None:
        # OIDC Core §5.3.2: a signed response carries iss and aud.
        signed = dict(body, iss=svc.settings.issuer, aud=client.get_client_id())
        jwt = svc.keys.sign(signed, alg=alg)
        return no_store(Response(jwt, mimetype="application/jwt"))
    # Flask's JSON provider sorts keys; PSC's key order is part of the compatibility promise.
    return no_store(Response(json.dumps(body, ensure_ascii=False), mimetype="application/json"))

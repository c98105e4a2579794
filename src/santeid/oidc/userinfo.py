"""UserInfo endpoint (OIDC Core §5.3), GET and POST, returning PSC's claim set
(docs/reference/pro-sante-connect.md §9).

The Bearer token comes in the ``Authorization`` header or, for POST, in the form body
(RFC 6750 §2.1–2.2). Sent both ways, Keycloak reads the header's and ignores the form's
(``UserInfoEndpoint.issueUserInfoPost``); with ``userinfo_errors = "rfc6750"`` that is an
``invalid_request`` (RFC 6750 §3.1). It is read by the one resource protector
(``santeid.oidc.protector``), which also checks certificate-bound tokens (RFC 8705 §3).
Errors are Keycloak's (docs/reference/keycloak-behaviour.md, "Userinfo"): no token is
400 ``invalid_request`` "Token not provided" without a challenge; an invalid, expired or
revoked token is 401 ``invalid_token`` "Token verification failed" with
``WWW-Authenticate: Bearer realm="esante-wallet", …``; a token whose session or grant ended
(logout, refresh token revoked) is 401 ``invalid_request`` "User session not found or doesn't
have client attached on it", same challenge; the token of a professional now
inactive in the directory is 401 ``invalid_token`` "User disabled". A token without ``openid``, or a
service account's (``client_credentials``) whatever its scope, is 403 ``insufficient_scope``
(``docs/endpoints.md``). JSON by default; a signed JWT
(``application/jwt``) when the client registered ``userinfo_signed_response_alg``.
"""

from __future__ import annotations

import json

from authlib.oauth2 import OAuth2Error
from flask import Response
from flask import request

from santeid.errors import oauth_error
from santeid.oidc import keycloak_errors
from santeid.oidc import protector
from santeid.oidc.clients import require_signing_key
from santeid.oidc.scopes import is_openid
from santeid.oidc.scopes import released_userinfo
from santeid.oidc.tokens import GRANT_ENDED
from santeid.oidc.tokens import is_service_account_token
from santeid.psc.claims import build_userinfo
from santeid.services import services

TOKEN_VERIFICATION_FAILED = keycloak_errors.TOKEN_VERIFICATION_FAILED
#: A service account's token (``client_credentials``) with ``openid``: no professional.
SERVICE_ACCOUNT_TOKEN = "A service account token has no professional"  # noqa: S105 - a message


def _realm() -> str:
    return services().settings.issuer_path.rsplit("/", 1)[-1] or "santeid"


def _error(status: int, error: str, description: str, *, challenge: bool):
    bearer = protector.bearer_challenge(_realm(), error, description) if challenge else None
    return oauth_error(status, error, description, challenge=bearer)


def _rfc6750_refusal(exc: OAuth2Error):
    """``userinfo_errors = "rfc6750"``: RFC 6750 §3.1 read strictly."""
    if exc.error == protector.MISSING:
        # No credentials: a bare challenge, no error code.
        bare = protector.bearer_challenge(_realm())
        return oauth_error(401, "invalid_request", protector.TOKEN_REQUIRED, challenge=bare)
    if exc.error == protector.UNSUPPORTED:
        return _error(400, "invalid_request", protector.BEARER_REQUIRED, challenge=False)
    if exc.error == protector.INVALID_REQUEST:
        return _error(400, "invalid_request", exc.description, challenge=False)
    return _error(
        401, "invalid_token", f"{TOKEN_VERIFICATION_FAILED}: {exc.description}", challenge=True
    )


def _refusal(exc: OAuth2Error):
    if services().settings.keycloak.userinfo_errors == "rfc6750":
        return _rfc6750_refusal(exc)
    if exc.error in (protector.MISSING, protector.UNSUPPORTED):
        # Keycloak reads only a Bearer token; anything else is no token at all.
        return _error(400, "invalid_request", "Token not provided", challenge=False)
    if exc.error == protector.INVALID_REQUEST:
        return _error(400, "invalid_request", exc.description, challenge=False)
    if exc.description == protector.UNBOUND:
        # RFC 8705 §3: a certificate-bound token without its certificate is invalid_token.
        return _error(401, "invalid_token", exc.description, challenge=True)
    if exc.description == GRANT_ENDED:
        # Keycloak's UserInfoEndpoint.findValidSession: the token verifies, its session is gone.
        return _error(
            401, "invalid_request", keycloak_errors.USER_SESSION_NOT_FOUND, challenge=True
        )
    return _error(401, "invalid_token", TOKEN_VERIFICATION_FAILED, challenge=True)


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
    header_first = svc.settings.keycloak.userinfo_errors == "keycloak"
    if _repeated_form_token():
        # RFC 6750 §3.1 invalid_request ("repeats the same parameter"): Keycloak's answer, with
        # its challenge; without one in the rfc6750 style, as its other invalid_request.
        description = keycloak_errors.USERINFO_DUPLICATE_PARAMETER
        return _error(400, "invalid_request", description, challenge=header_first)
    guard = protector.access_token_protector(
        svc.tokens, accept_form_token=True, header_first=header_first
    )
    try:
        claims = guard.token(protector.ProtectedRequest.from_flask(accept_form_token=True))
    except OAuth2Error as exc:
        return _refusal(exc)
    if not is_openid(claims.get("scope")):
        # Keycloak's UserInfoEndpoint: a plain OAuth 2.0 token (no openid) is refused with
        # 403 insufficient_scope "Missing openid scope" (OIDC Core §5.3: openid required).
        return _error(403, "insufficient_scope", "Missing openid scope", challenge=True)
    if is_service_account_token(claims):
        # A client_credentials token, openid asked or not: no professional to describe. 403,
        # not 401: the token is valid, a new one would be refused too (docs/endpoints.md).
        return _error(403, "insufficient_scope", SERVICE_ACCOUNT_TOKEN, challenge=True)
    professional = svc.directory.get(claims["preferred_username"])
    if professional is None:
        # A professional since removed from the directory.
        return _error(401, "invalid_token", TOKEN_VERIFICATION_FAILED, challenge=True)
    if not professional.is_active:
        # Keycloak's UserInfoEndpoint for a disabled user (docs/reference/keycloak-behaviour.md,
        # "Disabled users").
        return _error(401, "invalid_token", keycloak_errors.USER_DISABLED, challenge=True)

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

    client = svc.clients.get(claims.get("azp"))
    # A registered algorithm without an active key: 500 server_error (santeid.errors).
    field, algs = "userinfo_signed_response_alg", svc.keys.signing_algorithms
    alg = None if client is None else require_signing_key(client, field, algs)
    if client is not None and alg is not None:
        # OIDC Core §5.3.2: a signed response carries iss and aud.
        signed = dict(body, iss=svc.settings.issuer, aud=client.get_client_id())
        jwt = svc.keys.sign(signed, alg=alg)
        return Response(jwt, mimetype="application/jwt", headers={"Cache-Control": "no-store"})
    # Flask's JSON provider sorts keys; PSC's key order is part of the compatibility promise.
    return Response(
        json.dumps(body, ensure_ascii=False),
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )

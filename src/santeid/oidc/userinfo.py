"""UserInfo endpoint (OIDC Core §5.3), GET and POST, returning PSC's claim set (psc.md §9).

The Bearer token comes in the ``Authorization`` header or, for POST, in the form body
(RFC 6750 §2.1–2.2; using both is an ``invalid_request``). JSON by default; a signed JWT
(``application/jwt``) when the client registered ``userinfo_signed_response_alg``.
"""

from __future__ import annotations

import json

from flask import Response
from flask import jsonify
from flask import request

from santeid.oidc.scopes import is_openid
from santeid.oidc.tokens import TokenError
from santeid.psc.claims import build_userinfo
from santeid.services import services


def _bearer_error(status: int, error: str | None, description: str):
    realm = services().settings.issuer_path.rsplit("/", 1)[-1] or "santeid"
    challenge = f'Bearer realm="{realm}"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    body = {"error": error or "invalid_request", "error_description": description}
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def _presented_token() -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    from_header = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "the Authorization header must be 'Bearer <token>'"
        from_header = value.strip()
    from_body = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        from_body = request.form.get("access_token")
    if from_header and from_body:
        return None, "the access token was sent in more than one way"
    return from_header or from_body, None


def userinfo():
    token, problem = _presented_token()
    if problem:
        return _bearer_error(400, "invalid_request", problem)
    if not token:
        # RFC 6750 §3.1: no error code when the request carried no credentials.
        return _bearer_error(401, None, "an access token is required")
    svc = services()
    try:
        claims = svc.tokens.verify_access_token(token)
    except TokenError as exc:
        return _bearer_error(401, "invalid_token", f"Token verification failed: {exc}")
    if not is_openid(claims.get("scope")):
        # Keycloak's UserInfoEndpoint: a plain OAuth 2.0 token (no openid) is refused with
        # 403 insufficient_scope "Missing openid scope" (OIDC Core §5.3: openid required).
        return _bearer_error(403, "insufficient_scope", "Missing openid scope")
    professional = svc.directory.get(claims["preferred_username"])
    if professional is None:
        return _bearer_error(401, "invalid_token", "the professional is no longer in the directory")

    scopes = claims.get("scope", "").split()
    if "scope_all" in scopes:
        body = build_userinfo(professional, sub=claims["sub"], auth_mode=claims.get("authMode"))
    else:
        # Without scope_all PSC's sectoral data is not released: identity only.
        body = {
            "sub": claims["sub"],
            "preferred_username": professional.national_id,
            "SubjectNameID": professional.national_id,
        }

    client = svc.clients.get(claims.get("azp"))
    if client is not None and client.userinfo_signed_response_alg:
        # OIDC Core §5.3.2: a signed response carries iss and aud.
        signed = dict(body, iss=svc.settings.issuer, aud=client.get_client_id())
        jwt = svc.keys.sign(signed, alg=client.userinfo_signed_response_alg)
        return Response(jwt, mimetype="application/jwt", headers={"Cache-Control": "no-store"})
    # Flask's JSON provider sorts keys; PSC's key order is part of the compatibility promise.
    return Response(
        json.dumps(body, ensure_ascii=False),
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )

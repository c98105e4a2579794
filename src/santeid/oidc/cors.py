"""CORS on the endpoints a browser application calls, as Keycloak sends it
(``docs/reference/keycloak-behaviour.md``, Realm endpoints; Keycloak's ``DefaultCors``).

* Discovery and the JWKS: every origin is allowed (its ``Origin`` is echoed).
* Token endpoint: the authenticated client's web origins (``web_origins`` metadata, Keycloak's
  "Web origins"; ``+`` = the origins of its redirect URIs).
* UserInfo: the web origins of the client the access token was issued to (``azp``).
* Preflight (``OPTIONS`` with ``Access-Control-Request-Method``) on those four: answered for
  any origin with the endpoint's methods, ``Access-Control-Allow-Headers``, credentials and
  ``Access-Control-Max-Age: 3600``, as Keycloak.
* An actual request from an origin that is not allowed gets no CORS header (the browser then
  refuses to hand the response to the page). ``Access-Control-Allow-Credentials: true``
  accompanies every allowed origin.

``Vary: Origin`` is added because the echoed origin differs per caller (discovery and JWKS
are cacheable).
"""

from __future__ import annotations

import base64

from authlib.integrations.flask_oauth2 import client_authenticated
from flask import g
from flask import request

from santeid.security import loads_untrusted_json
from santeid.services import services

#: Keycloak's ``Cors.DEFAULT_ALLOW_HEADERS`` plus ``Authorization`` (its ``auth()`` mode).
ALLOW_HEADERS = (
    "Origin, Accept, X-Requested-With, Content-Type, Access-Control-Request-Method, "
    "Access-Control-Request-Headers, Authorization"
)
MAX_AGE = "3600"
#: Endpoint name → methods announced in a preflight answer.
PREFLIGHT_METHODS = {
    "oidc.discovery": "GET, OPTIONS",
    "oidc.wallet_discovery": "GET, OPTIONS",
    "oidc.certs": "GET, OPTIONS",
    "oidc.token": "POST, OPTIONS",
    "oidc.userinfo": "GET, POST, OPTIONS",
}
PUBLIC_ENDPOINTS = ("oidc.discovery", "oidc.wallet_discovery", "oidc.certs")


def _remember_client(sender, client, grant=None, **kwargs) -> None:
    # Authlib's signal after client authentication (token, introspection, revocation).
    g.santeid_cors_client = client


def _token_client():
    """The client the Bearer access token of this request was issued to.

    The claims are read without verifying the signature: they only choose which origin may
    *read* the answer, and a forged or expired token gets an error answer that carries nothing
    (the UserInfo endpoint verifies the token itself)."""
    header = request.headers.get("Authorization", "")
    token = (
        header[7:].strip()
        if header[:7].lower() == "bearer "
        else request.form.get("access_token", "")
    )
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 8192:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        azp = loads_untrusted_json(base64.urlsafe_b64decode(payload)).get("azp")
    except (ValueError, AttributeError):
        return None
    return services().clients.get(azp) if isinstance(azp, str) else None


def _allowed(endpoint: str, origin: str) -> bool:
    if endpoint in PUBLIC_ENDPOINTS:
        return True
    if endpoint == "oidc.token":
        client = getattr(g, "santeid_cors_client", None)
    else:
        client = _token_client()
    if client is None:
        return False
    origins = client.web_origins
    return "*" in origins or origin.lower() in origins


def add_cors_headers(response):
    """``after_request`` of the OIDC blueprint."""
    endpoint = request.endpoint or ""
    origin = request.headers.get("Origin")
    if endpoint not in PREFLIGHT_METHODS:
        return response
    response.vary.add("Origin")
    if not origin:
        return response
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if not preflight and not _allowed(endpoint, origin):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = PREFLIGHT_METHODS[endpoint]
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
    elif endpoint == "oidc.token":
        response.headers["Access-Control-Expose-Headers"] = "Access-Control-Allow-Methods"
    return response


def init_app(app, blueprint) -> None:
    blueprint.after_request(add_cors_headers)
    client_authenticated.connect(_remember_client, weak=False)

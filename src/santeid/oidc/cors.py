"""CORS on the endpoints a browser application calls, as Keycloak sends it
(``docs/reference/keycloak-behaviour.md``, Realm endpoints; Keycloak's ``DefaultCors``).

* Discovery and the JWKS: every origin is allowed (its ``Origin`` is echoed).
* Token and revocation endpoints: the authenticated client's web origins (``web_origins``
  metadata, Keycloak's "Web origins"; ``+`` = the origins of its redirect URIs), as Keycloak's
  ``TokenEndpoint`` and ``TokenRevocationEndpoint`` (``cors.allowedOrigins(session, client)``
  after client authentication): a single-page application revokes its tokens from the page
  (oidc-client-ts's ``revokeTokens``, ``revokeTokensOnSignout``). A client that does not
  authenticate: every origin (Keycloak's ``AuthorizeClientUtil.authorizeClient``,
  ``cors.allowAllOrigins()``; ``SanteidAuthorizationServer.authenticate_client``).
* UserInfo, as its ``UserInfoEndpoint`` (docs/reference/keycloak-behaviour.md, "Userinfo,
  introspection, revocation"): every origin until the token's client is known — no token, a
  token that does not verify or whose client is gone (:func:`allow_any_origin`) — then that
  client's web origins (:func:`allow_origins_of`); none for a repeated form ``access_token``,
  refused before.
* The UMA grant at the token endpoint, as its ``PermissionGrantType``: the web origins of the
  client its Bearer token was issued to (``azp``), read unverified from a token that does not
  verify (``santeid.oidc.refused_grants.UmaGrant``).
* The device authorization endpoint (``…/auth/device``, served only to refuse: no PSC client
  has the device flow), as Keycloak's ``DeviceEndpoint``: any origin when the client does not
  authenticate, none for the refusal of a client that does (an ``ErrorResponseException``,
  without CORS).
* The refresh-token logout (``POST …/logout`` with ``refresh_token``), as Keycloak's
  ``LogoutEndpoint.logoutToken``: the authenticated client's web origins, its 204 and its
  refusals alike; every origin for a client that does not authenticate. The RP-initiated
  logout, a page, gets none (Keycloak's ``logout`` builds no ``Cors``). Its preflight
  (``LogoutEndpoint``'s ``OPTIONS``: ``auth().preflight()`` naming no method) announces
  Keycloak's default methods, ``GET, HEAD, OPTIONS`` — a browser's ``POST`` passes all the
  same, a CORS-safelisted method (``LogoutCorsTest``).
* The pushed authorization request endpoint, as Keycloak's ``ParEndpoint``
  (``AbstractParEndpoint.authorizeClient``: ``cors.allowedOrigins(session, client)`` once the
  client authenticates, every origin for a client that does not): the authenticated client's
  web origins, its 201 and its refusals alike (``request_objects``); a single-page application
  pushes its request from the page (@axa-fr/oidc-client's ``par``). No preflight answer:
  ``ParEndpoint`` declares no ``OPTIONS``, and a form ``POST`` needs none.
* Preflight on the others — any ``OPTIONS`` with an ``Origin``, ``Access-Control-Request-Method``
  or not, as Keycloak's ``@OPTIONS`` methods answer it (``TokenEndpointCorsTest.preflightRequest``
  sends none): answered for any origin with the methods the endpoint's Keycloak counterpart
  names (:data:`PREFLIGHT_METHODS`), ``Access-Control-Allow-Headers``, credentials and
  ``Access-Control-Max-Age: 3600``.
* An actual request from an origin that is not allowed gets no CORS header (the browser then
  refuses to hand the response to the page). ``Access-Control-Allow-Credentials: true``
  accompanies every allowed origin.

``Access-Control-Expose-Headers`` on an allowed token, revocation, userinfo, pushed or device
authorization answer, or refresh-token logout, names ``Access-Control-Allow-Methods``, and
``WWW-Authenticate`` too when the answer has one, so that a browser application reads
userinfo's refusals (an empty body, the error in the challenge).

``Vary: Origin`` is added because the echoed origin differs per caller (discovery and JWKS
are cacheable).
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import client_authenticated
from flask import g
from flask import request

#: Keycloak's ``Cors.DEFAULT_ALLOW_HEADERS`` plus ``Authorization`` (its ``auth()`` mode):
#: ``DPoP`` among them since ``Cors`` became a provider interface (2024;
#: docs/reference/keycloak-behaviour.md, "Realm endpoints"), though santeid, as PSC, offers no
#: DPoP: a page that sends a proof passes the preflight, its proof ignored.
ALLOW_HEADERS = (
    "Origin, Accept, X-Requested-With, Content-Type, Access-Control-Request-Method, "
    "Access-Control-Request-Headers, DPoP, Authorization"
)
MAX_AGE = "3600"
#: Keycloak's ``Cors.DEFAULT_ALLOW_METHODS``, announced by a preflight that names no method.
DEFAULT_ALLOW_METHODS = "GET, HEAD, OPTIONS"
#: Endpoint name → methods announced in a preflight answer, as each Keycloak ``@OPTIONS``
#: method names them (``allowedMethods``).
PREFLIGHT_METHODS = {
    # RealmsResource.getVersionPreflight, OIDCLoginProtocolService.getVersionPreflight.
    "oidc.discovery": "GET",
    "oidc.wallet_discovery": "GET",
    "oidc.oauth_discovery": "GET",
    "oidc.certs": "GET",
    "oidc.token": "POST, OPTIONS",
    "oidc.revoke": "POST, OPTIONS",
    "oidc.device_authorization": "POST, OPTIONS",
    # UserInfoEndpoint.issueUserInfoPreflight and LogoutEndpoint's preflight name none.
    "oidc.userinfo": DEFAULT_ALLOW_METHODS,
    "oidc.logout": DEFAULT_ALLOW_METHODS,
}
#: Endpoints answered with CORS but no preflight (Keycloak's ``ParEndpoint``).
WITHOUT_PREFLIGHT = ("oidc.par",)
PUBLIC_ENDPOINTS = ("oidc.discovery", "oidc.wallet_discovery", "oidc.oauth_discovery", "oidc.certs")
#: Exposed on every allowed token, revocation, userinfo, pushed and device authorization
#: answer, and refresh-token logout (Keycloak's ``exposedHeaders``).
EXPOSED = "Access-Control-Allow-Methods"
EXPOSING_ENDPOINTS = (
    "oidc.token", "oidc.revoke", "oidc.userinfo", "oidc.par", "oidc.device_authorization",
    "oidc.logout",
)  # fmt: skip
#: :func:`allow_any_origin`'s mark.
_ANY_ORIGIN = object()


def allow_origins_of(client) -> None:
    """The answer being built may be read by ``client``'s web origins (Keycloak's
    ``Cors.allowedOrigins(session, client)``)."""
    g.santeid_cors_client = client


def allow_any_origin() -> None:
    """The answer being built may be read by any origin (Keycloak's
    ``Cors.allowAllOrigins()``), until :func:`allow_origins_of` narrows it."""
    g.santeid_cors_client = _ANY_ORIGIN


def _remember_client(sender, client, grant=None, **kwargs) -> None:
    # Authlib's signal after a grant's client authentication (the token endpoint); the
    # revocation endpoint calls allow_origins_of itself (provider.py).
    allow_origins_of(client)


def _allowed(endpoint: str, origin: str) -> bool:
    if endpoint in PUBLIC_ENDPOINTS:
        return True
    client = getattr(g, "santeid_cors_client", None)
    if client is _ANY_ORIGIN:
        return True
    if client is None:
        return False
    return client.allows_origin(origin)


def add_cors_headers(response):
    """``after_request`` of the OIDC blueprint."""
    endpoint = request.endpoint or ""
    origin = request.headers.get("Origin")
    if endpoint not in PREFLIGHT_METHODS and endpoint not in WITHOUT_PREFLIGHT:
        return response
    response.vary.add("Origin")
    if not origin:
        return response
    # Keycloak's OPTIONS methods build a preflight Cors whatever the request carries besides
    # Origin (DefaultCors.add), Access-Control-Request-Method or not.
    preflight = request.method == "OPTIONS" and endpoint in PREFLIGHT_METHODS
    if not preflight and not _allowed(endpoint, origin):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = PREFLIGHT_METHODS[endpoint]
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
    elif endpoint in EXPOSING_ENDPOINTS:
        challenge = ", WWW-Authenticate" if "WWW-Authenticate" in response.headers else ""
        response.headers["Access-Control-Expose-Headers"] = EXPOSED + challenge
    return response


def init_app(app, blueprint) -> None:
    blueprint.after_request(add_cors_headers)
    client_authenticated.connect(_remember_client, weak=False)

"""The OpenID Connect provider's routes, in Pro Santé Connect's Keycloak URL layout
(docs/reference/pro-sante-connect.md §1).

Every route of the realm is listed here, relative to the issuer path
(``/auth/realms/esante-wallet`` by default).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint
from flask import request

from santeid import error_formats
from santeid import errors
from santeid.cache_control import credential_response
from santeid.interaction import PendingLogin
from santeid.interaction import install_authorization
from santeid.interaction import login_pages
from santeid.oidc import authorize
from santeid.oidc import cors
from santeid.oidc import discovery
from santeid.oidc import logout
from santeid.oidc import media_types
from santeid.oidc import realm
from santeid.oidc import refused_grants
from santeid.oidc import request_objects
from santeid.oidc import session_status
from santeid.oidc import tls_client_auth
from santeid.oidc import userinfo
from santeid.oidc.login_outcome import OidcAuthorizationSide
from santeid.security import again_by_get_with_cookies
from santeid.services import services

OIDC = "/protocol/openid-connect"


def authorization():
    """GET or POST ``…/protocol/openid-connect/auth``: a pushed request or a request object
    resolved (``request_objects.py``), then the request checked and answered
    (``authorize.py``). A GET is read from its query string, a POST from its form only, as
    Keycloak's ``AuthorizationEndpoint.buildPost`` reads it (docs/reference/keycloak-behaviour.md,
    "Authorization endpoint"). Its error pages link back to the client it names
    (``authorize.page_client_id``)."""
    again = again_by_get_with_cookies()
    if again is not None:
        return again
    sent = request.form if request.method == "POST" else request.args
    errors.lead_back_to_service(authorize.page_client_id(sent))
    params = request_objects.resolve(sent)
    outcome = authorize.authorization_outcome(params)
    if isinstance(outcome, PendingLogin):
        return login_pages().begin(outcome)
    return outcome


def installed_app_code():
    """GET ``…/protocol/openid-connect/oauth/oob`` (``authorize.installed_app_page``)."""
    return authorize.installed_app_page(request.args)


def token():
    """RFC 6749 §3.2 token endpoint (Authlib grants: authorization_code, refresh_token)."""
    return services().authorization_server.create_token_response()


def introspect():
    """RFC 7662 §2. An ``Accept`` of neither JSON nor JWT is refused first, as Keycloak's
    ``@Produces`` refuses it (``media_types``)."""
    unacceptable = media_types.refusal()
    if unacceptable is not None:
        return unacceptable
    return services().authorization_server.create_endpoint_response("introspection")


def revoke():
    """RFC 7009 §2. A success is an empty 200 without ``Content-Type``, as Keycloak's
    ``TokenRevocationEndpoint`` answers it (``allowEmptyContentType``;
    docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"): Flask would
    call the empty body ``text/html``, which a browser library that checks what it reads
    (oidc-client-ts: JSON or no type) refuses."""
    response = services().authorization_server.create_endpoint_response("revocation")
    if response.status_code == 200 and not response.get_data():
        del response.headers["Content-Type"]
    return response


ROUTES = [
    # (path under the issuer, endpoint name, view, methods)
    ("/.well-known/openid-configuration", "discovery", discovery.discovery, ["GET"]),
    # RFC 8414 §3 at the realm, as Keycloak 25 and later serve it: the same document.
    (
        "/.well-known/oauth-authorization-server",
        "oauth_discovery",
        discovery.discovery,
        ["GET"],
    ),
    (
        "/.well-known/wallet-openid-configuration",
        "wallet_discovery",
        discovery.wallet_discovery,
        ["GET"],
    ),
    (f"{OIDC}/auth", "authorize", authorization, ["GET", "POST"]),
    # RFC 8628 §3.1 at Keycloak's path: a client without the device flow (refused_grants.py).
    (
        f"{OIDC}/auth/device",
        "device_authorization",
        refused_grants.device_authorization,
        ["POST"],
    ),
    (f"{OIDC}/token", "token", token, ["POST"]),
    (f"{OIDC}/token/introspect", "introspect", introspect, ["POST"]),
    (f"{OIDC}/oauth/oob", "installed_app_code", installed_app_code, ["GET"]),
    (f"{OIDC}/revoke", "revoke", revoke, ["POST"]),
    (f"{OIDC}/userinfo", "userinfo", userinfo.userinfo, ["GET", "POST"]),
    (f"{OIDC}/certs", "certs", discovery.certs, ["GET"]),
    (f"{OIDC}/logout", "logout", logout.logout, ["GET", "POST"]),
    (f"{OIDC}/logout/logout-confirm", "logout_confirm", logout.logout_confirm, ["POST"]),
    (
        f"{OIDC}/logout/backchannel-logout",
        "backchannel_logout",
        logout.backchannel_logout,
        ["POST"],
    ),
    # OpenID Connect Session Management 1.0 §3.2 at Keycloak's paths (session_status.py).
    (
        f"{OIDC}/login-status-iframe.html",
        "login_status_iframe",
        session_status.login_status_iframe,
        ["GET"],
    ),
    (
        f"{OIDC}/login-status-iframe.html/init",
        "login_status_iframe_init",
        session_status.login_status_iframe_init,
        ["GET"],
    ),
    (
        f"{OIDC}/3p-cookies/step1.html",
        "third_party_cookies_step1",
        session_status.third_party_cookies_step1,
        ["GET"],
    ),
    (
        f"{OIDC}/3p-cookies/step2.html",
        "third_party_cookies_step2",
        session_status.third_party_cookies_step2,
        ["GET"],
    ),
    # CIBA's routes are registered by santeid.ciba.init_app.
    # RFC 9126 pushed authorization requests at Keycloak's path (request_objects.py).
    (f"{OIDC}/ext/par/request", "par", request_objects.pushed_authorization_request, ["POST"]),
]


#: Endpoints whose clients are programs (JSON errors); ``authorize`` and ``logout`` serve pages.
JSON_ENDPOINTS = ("token", "userinfo", "introspect", "revoke", "certs", "discovery",
                  "wallet_discovery", "par", "device_authorization",
                  "backchannel_logout")  # fmt: skip


def init_app(app) -> None:
    services = app.extensions["santeid"]
    settings = services.settings
    # An unusable tls_client_auth_ca_file stops the server now, not at a client's request.
    tls_client_auth.check_configuration(settings)
    # Authlib's server reads its OAUTH2_* options from the Flask configuration.
    services.authorization_server.init_app(app)
    bp = Blueprint("oidc", __name__, url_prefix=settings.issuer_path or None)
    for path, name, view, methods in ROUTES:
        bp.add_url_rule(path, name, view, methods=methods)
    error_formats.declare(
        bp, error_formats.JSON_OAUTH, endpoints=[f"oidc.{name}" for name in JSON_ENDPOINTS],
        prefixes=[lambda settings: f"{settings.issuer_path}{OIDC}/"],
    )  # fmt: skip

    @bp.after_request
    def token_answer_headers(response):
        # Keycloak's TokenEndpoint.processGrantRequest sets no-store and Pragma (RFC 6749
        # §5.1) before its first check: a refusal made before a grant runs (a parameter over
        # its limit, santeid.security) carries them as the grant's answers do.
        if request.endpoint == "oidc.token" and request.method == "POST":
            credential_response(response)
        return response

    # The login pages hand their outcome back through santeid.interaction.
    install_authorization(app, OidcAuthorizationSide())
    # CORS for browser applications and Keycloak's realm endpoints (cors.py, realm.py).
    cors.init_app(app, bp)
    app.register_blueprint(bp)
    realm.init_app(app)

    # PSC advertises its authorization endpoint on another host, the "wallet", at /auth
    # (docs/reference/pro-sante-connect.md §1): the same view answers on that URL's path,
    # /auth by default, unless it is configured to be the Keycloak path.
    path = urlsplit(settings.advertised_authorization_endpoint).path or "/"
    if path != f"{settings.issuer_path}{OIDC}/auth":
        app.add_url_rule(path, "authorize_alias", authorization, methods=["GET", "POST"])

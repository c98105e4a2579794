"""The grants Keycloak knows and Pro Santé Connect's clients may not use, answered as Keycloak
answers a client without them (docs/reference/keycloak-behaviour.md, "Grants PSC's clients
cannot use").

santeid implements none of them and advertises none (discovery's ``grant_types_supported`` is
:data:`santeid.oidc.grant_types.SUPPORTED`). A library that builds Keycloak's requests itself
(python-keycloak's ``token(username, password)``, ``device()``, ``uma_permissions()``) still
sends them, to the token endpoint or to the device authorization endpoint
(:func:`device_authorization`, served for that answer alone). Keycloak authenticates the
client first, as for every grant (a wrong secret is the token endpoint's 401), then refuses
the feature the client does not have, each grant in its own words — not
``unsupported_grant_type``, which it answers only for a grant type it has no provider for
(token exchange, off at PSC). The same answers under ``error_style = "strict"``: each is an
RFC 6749 §5.2 code for a client that may not use the grant.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError
from authlib.oauth2.rfc6750 import InvalidTokenError
from flask import request

from santeid.oidc import client_auth
from santeid.oidc import cors
from santeid.oidc.protector import ProtectedRequest
from santeid.oidc.protector import bearer_header_token
from santeid.oidc.protector import check_certificate_binding
from santeid.oidc.tokens import TokenError
from santeid.services import services
from santeid.untrusted_json import segment_object

#: RFC 6749 §4.3; Keycloak's ``ResourceOwnerPasswordCredentialsGrantType`` for a client
#: without "Direct access grants".
PASSWORD = "password"  # noqa: S105 - a grant type name
DIRECT_ACCESS_GRANTS_OFF = "Client not allowed for direct access grants"
#: User-Managed Access 2.0 §3.3.1 (Keycloak's authorization services, ``PermissionGrantType``):
#: no PSC client is a resource server. Its own refusals, in the order Keycloak checks them: a
#: Bearer token that does not verify (401 ``invalid_grant``), then the resource server the
#: ``audience`` names (``AuthorizationTokenService.getResourceServer``, 400
#: ``invalid_request``): none, an unknown client, a client without authorization services.
UMA = "urn:ietf:params:oauth:grant-type:uma-ticket"
INVALID_BEARER_TOKEN = "Invalid bearer token"  # noqa: S105 - a message
NO_AUDIENCE = "You must provide the issuedFor"
UNKNOWN_RESOURCE_SERVER = "Unknown resource server id."
NO_PERMISSIONS = "Client does not support permissions"
#: RFC 8628 §3.4; Keycloak's ``DeviceGrantType`` for a client without "OAuth 2.0 Device
#: Authorization Grant".
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_GRANT_OFF = "Client not allowed OAuth 2.0 Device Authorization Grant"
#: The same client at the device authorization endpoint (RFC 8628 §3.1), Keycloak's
#: ``DeviceEndpoint``: another code and other words for the same refusal.
DEVICE_FLOW_OFF = (
    "Client is not allowed to initiate OAuth 2.0 Device Authorization Grant. "
    "The flow is disabled for the client."
)


class RefusedGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """A grant whose request is refused once the client is authenticated, with every method
    of the token endpoint (``client_auth.methods_for("token")``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = client_auth.methods_for("token")

    def refusal(self) -> OAuth2Error:
        raise NotImplementedError

    def validate_token_request(self):
        self.request.client = self.authenticate_token_endpoint_client()
        raise self.refusal()

    def create_token_response(self):  # pragma: no cover - validate_token_request refuses
        raise NotImplementedError


class PasswordGrant(RefusedGrant):
    """The resource owner password credentials grant: PSC's professionals authenticate with a
    card or e-CPS, never a password. 400 ``unauthorized_client``."""

    GRANT_TYPE = PASSWORD

    def refusal(self) -> OAuth2Error:
        return UnauthorizedClientError(DIRECT_ACCESS_GRANTS_OFF)


class DeviceCodeGrant(RefusedGrant):
    """RFC 8628's device-code grant: PSC's professionals log in on the device that asks.
    400 ``invalid_grant``."""

    GRANT_TYPE = DEVICE_CODE

    def refusal(self) -> OAuth2Error:
        return InvalidGrantError(DEVICE_GRANT_OFF)


class UmaGrant(RefusedGrant):
    """The UMA grant, as Keycloak's ``PermissionGrantType`` takes it: with an ``Authorization:
    Bearer`` access token (python-keycloak's ``uma_permissions``) the token stands for the
    client — a live one (signature, issuer, type, expiry, neither revoked nor its grant ended:
    ``TokenService.verify_access_token``; Keycloak's ``Tokens.getAccessToken``, whose
    ``AuthenticationManager.verifyIdentityToken`` wants the token's user session valid),
    presented with its certificate when bound to one (RFC 8705 §3,
    https://www.rfc-editor.org/rfc/rfc8705#section-3: the check of every resource,
    ``protector.check_certificate_binding``, which Keycloak's bearer-token authenticator does
    not make), and no client authentication —, else the client is authenticated as at the token
    endpoint; then the ``audience`` is looked up, and no client has authorization services. A
    ``ticket``, which only Keycloak's protection API issues, is not read."""

    GRANT_TYPE = UMA

    def validate_token_request(self):
        token = bearer_header_token(request.headers.get("Authorization"))
        if token is None:
            self.request.client = self.authenticate_token_endpoint_client()
        else:
            try:
                claims = services().tokens.verify_access_token(token)
                check_certificate_binding(claims, ProtectedRequest.from_flask())
            except (TokenError, InvalidTokenError):
                _allow_origins_of_token_client(_unverified_claims(token))
                raise InvalidGrantError(INVALID_BEARER_TOKEN, status_code=401) from None
            _allow_origins_of_token_client(claims)
        raise self.refusal()

    def refusal(self) -> OAuth2Error:
        audience = self.request.form.get("audience")
        if audience is None:
            return InvalidRequestError(NO_AUDIENCE)
        if services().clients.get(audience) is None:
            return InvalidRequestError(UNKNOWN_RESOURCE_SERVER)
        return InvalidRequestError(NO_PERMISSIONS)


def _unverified_claims(token: str) -> dict:
    """The payload of a compact JWS, its signature unchecked (Keycloak's ``JWSInput``);
    empty for what is no JWS."""
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not a compact JWS")
        segment_object(parts[0])
        return segment_object(parts[1])
    except ValueError:
        return {}


def _allow_origins_of_token_client(claims: dict) -> None:
    """The UMA grant's answer may be read by the web origins of the client the Bearer token
    was issued to (``azp``), when it is registered: Keycloak's ``PermissionGrantType`` calls
    ``cors.allowedOrigins(session, client)`` with that client, read from a token that does
    not verify as from one that does, before any refusal (``CorsErrorResponseException``)."""
    azp = claims.get("azp")
    client = services().clients.get(azp) if isinstance(azp, str) else None
    if client is not None:
        cors.allow_origins_of(client)


def device_authorization():
    """``POST …/protocol/openid-connect/auth/device`` (RFC 8628 §3.1), Keycloak's
    ``DeviceEndpoint``: the client authenticated as at the token endpoint (its 401), then 400
    ``unauthorized_client`` :data:`DEVICE_FLOW_OFF`."""
    server = services().authorization_server
    try:
        client_auth.authenticate("token", server.create_oauth2_request(request))
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    return server.handle_error_response(None, UnauthorizedClientError(DEVICE_FLOW_OFF))


#: Every refused grant, registered on the token endpoint by
#: ``santeid.oidc.provider.create_authorization_server``.
GRANTS: tuple[type[RefusedGrant], ...] = (PasswordGrant, DeviceCodeGrant, UmaGrant)

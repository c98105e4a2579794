"""The grants Keycloak knows and Pro Santé Connect's clients may not use, answered as Keycloak
answers a client without them (docs/reference/keycloak-behaviour.md, "Grants PSC's clients
cannot use").

santeid implements none of them and advertises none (discovery's ``grant_types_supported`` is
:data:`santeid.oidc.grant_types.SUPPORTED`). A library that builds Keycloak's requests itself
(python-keycloak's ``token(username, password)``, ``device()``, ``uma_permissions()``) still
sends them; Keycloak authenticates the client first (as for every grant: a wrong secret is the
401 of the token endpoint), then refuses the feature the client does not have — not
``unsupported_grant_type``, which it answers only for a grant type it does not know at all (token
exchange, off at PSC). Each refusal is RFC 6749 §5.2's (``unauthorized_client``: the client
may not use this grant), in Keycloak's words, whatever ``error_style``.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError

from santeid.oidc import client_auth

#: RFC 6749 §4.3; Keycloak's ``ResourceOwnerPasswordCredentialsGrantType`` for a client
#: without "Direct access grants".
PASSWORD = "password"  # noqa: S105 - a grant type name
DIRECT_ACCESS_GRANTS_OFF = "Client not allowed for direct access grants"


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


#: Every refused grant, registered on the token endpoint by
#: ``santeid.oidc.provider.create_authorization_server``.
GRANTS: tuple[type[RefusedGrant], ...] = (PasswordGrant,)

"""CIBA error responses (CIBA Core 1.0 §13 at the back-channel endpoint, §11 at the token
endpoint).

Authlib's RFC 6749 and RFC 8628 errors are reused where the codes are the same
(``authorization_pending``, ``slow_down``, ``expired_token`` are RFC 8628 §3.5's); only the
codes CIBA adds are defined here, as tiny :class:`~authlib.oauth2.base.OAuth2Error`
subclasses in Authlib's style (``rfc8628/errors.py``).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import AccessDeniedError
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError
from authlib.oauth2.rfc8628.errors import ExpiredTokenError
from authlib.oauth2.rfc8628.errors import SlowDownError

__all__ = [
    "AccessDeniedError",
    "AuthenticationChannelError",
    "AuthorizationPendingError",
    "BackchannelAccessDeniedError",
    "ExpiredLoginHintTokenError",
    "ExpiredTokenError",
    "InvalidBindingMessageError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "InvalidUserCodeError",
    "MissingUserCodeError",
    "SlowDownError",
    "UnauthorizedClientError",
    "UnknownUserIdError",
]


class ExpiredLoginHintTokenError(OAuth2Error):
    """CIBA Core §13: the ``login_hint_token`` provided in the authentication request is not
    valid because it has expired."""

    error = "expired_login_hint_token"


class UnknownUserIdError(OAuth2Error):
    """CIBA Core §13: the OpenID Provider is not able to identify which end-user the Client
    wishes to be authenticated by means of the hint provided in the request."""

    error = "unknown_user_id"


class MissingUserCodeError(OAuth2Error):
    """CIBA Core §13: user code is required but was missing from the request."""

    error = "missing_user_code"


class InvalidUserCodeError(OAuth2Error):
    """CIBA Core §13: user code was invalid."""

    error = "invalid_user_code"


class InvalidBindingMessageError(OAuth2Error):
    """CIBA Core §13: the binding message is invalid or unacceptable for use in the context of
    the given request."""

    error = "invalid_binding_message"


class BackchannelAccessDeniedError(AccessDeniedError):
    """CIBA Core §13: ``access_denied`` at the back-channel endpoint is a **403** (Keycloak
    answers 400, keycloak#44347; santeid follows the specification). At the token endpoint
    ``access_denied`` stays a 400 (RFC 6749 §5.2)."""

    status_code = 403


class AuthenticationChannelError(OAuth2Error):
    """Keycloak's answer when its authentication channel (PSC's e-CPS back end) does not accept
    the request — for PSC, a professional who has no e-CPS: ``503 server_error`` "Failed to send
    authentication request" (``docs/reference/pro-sante-connect.md §14`` row 9)."""

    error = "server_error"
    status_code = 503


class KeycloakCibaNotAllowedError(OAuth2Error):
    """Keycloak's answer to a client without the CIBA grant: ``invalid_grant`` "Client not
    allowed OIDC CIBA Grant", 401 in recent releases
    (``docs/reference/pro-sante-connect.md §14`` row 2)."""

    error = "invalid_grant"
    status_code = 401

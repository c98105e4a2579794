"""Bearer-token protection of santeid's resources, in one place (RFC 6750, RFC 8705 §3).

Every API that takes ``Authorization: Bearer <token>`` — userinfo, the FHIR directory, INSi
REST/FHIR/SOAP (PSC mode), the e-CPS device API — reads it through a
:class:`BearerProtector`, an Authlib ``ResourceProtector`` with one token validator:

* :class:`AccessTokenValidator`: santeid's own access tokens (signature, issuer, ``typ``,
  expiry, revocation: ``TokenService.verify_access_token``) and, for a token bound to a client
  certificate (``cnf.x5t#S256``, RFC 8705 §3.1), the certificate of the connection: absent or
  another one is ``invalid_token`` (§3).
* the e-CPS API registers its own validator for device JWTs (``santeid.ecps.api``).

The protector only decides; it raises Authlib's ``OAuth2Error`` subclasses and each API renders
them in its own format (for userinfo, :func:`challenge_response`: RFC 6750 §3 as Keycloak
writes it; ``OperationOutcome`` for FHIR, ``application/problem+json`` for INSi and e-CPS):

========================== ===================================================================
``error``                  when
========================== ===================================================================
``missing_authorization``  no ``Authorization`` header (nor, where accepted, a form token);
                           with ``other_schemes_are_none``, no ``Bearer <token>`` header either
``unsupported_token_type`` an ``Authorization`` header that is not ``Bearer <token>``
``invalid_request``        a token sent in more than one way (RFC 6750 §2)
``invalid_token``          a token that is not valid, or not presented with its certificate
========================== ===================================================================
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6749.errors import UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750 import InvalidTokenError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Response
from flask import request as flask_request
from werkzeug.datastructures import Headers

from santeid.cache_control import no_store
from santeid.oidc import keycloak_errors
from santeid.oidc.tls_client_auth import matches_binding
from santeid.oidc.tokens import TokenError
from santeid.tls import client_certificate

if TYPE_CHECKING:
    from santeid.oidc.tokens import TokenService

#: The ``error`` values the renderers switch on.
MISSING = MissingAuthorizationError.error
UNSUPPORTED = UnsupportedTokenTypeError.error
INVALID_REQUEST = InvalidRequestError.error
INVALID_TOKEN = InvalidTokenError.error

#: Descriptions of :data:`MISSING` and :data:`UNSUPPORTED` for the APIs that answer with
#: their own words rather than Keycloak's (userinfo's ``rfc6750`` errors, the FHIR directory).
TOKEN_REQUIRED = "an access token is required"  # noqa: S105 - a message
BEARER_REQUIRED = "the Authorization header must be 'Bearer <token>'"
#: Description of a certificate-bound token presented without its certificate.
UNBOUND = "the access token is bound to a client certificate that was not presented"


def bearer_challenge(realm: str, error: str | None = None, description: str | None = None) -> str:
    """``WWW-Authenticate`` of a refusal on a Bearer-protected resource (RFC 6750 §3,
    https://www.rfc-editor.org/rfc/rfc6750#section-3): the realm, then the error code and
    its description when there is one (none without credentials, §3.1). A description holds
    only %x20-21 / %x23-5B / %x5D-7E: a ``"`` becomes ``'``, any other character outside
    that set ``?``, so the quoted-string always ends where it should."""
    challenge = f'Bearer realm="{realm}"'
    if error:
        challenge += f', error="{error}"'
    if description:
        text = "".join(_challenge_char(c) for c in description)
        challenge += f', error_description="{text}"'
    return challenge


#: RFC 6750 §3.1: the status of each ``error`` of a Bearer refusal; none (no credentials, §3.1)
#: is a 401. Keycloak's ``OAuth2Error.error`` maps them the same way.
CHALLENGE_STATUS = {
    None: 401,
    "invalid_request": 400,
    "invalid_token": 401,
    "insufficient_scope": 403,
}


def challenge_response(
    realm: str, error: str | None = None, description: str | None = None
) -> Response:
    """A refusal on a Bearer-protected resource as Keycloak's ``OAuth2Error`` with
    ``json(false)`` writes its userinfo errors (docs/reference/keycloak-behaviour.md,
    "Userinfo, introspection, revocation"): the status of ``error``
    (:data:`CHALLENGE_STATUS`), the :func:`bearer_challenge` and an empty ``text/plain``
    body — the error travels in ``WWW-Authenticate`` only (RFC 6750 §3)."""
    response = Response(b"", status=CHALLENGE_STATUS[error], mimetype="text/plain")
    response.headers["WWW-Authenticate"] = bearer_challenge(realm, error, description)
    return no_store(response)


def _challenge_char(char: str) -> str:
    if char == '"':
        return "'"
    code = ord(char)
    return char if 0x20 <= code <= 0x7E and char != "\\" else "?"


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url (no padding) of the SHA-256 of the DER."""
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class ProtectedRequest:
    """What the protector reads of a request: its headers, a token sent in the form body
    (userinfo's POST, RFC 6750 §2.2) and, lazily, the TLS client certificate."""

    def __init__(
        self,
        headers: Headers | Mapping[str, str],
        *,
        form_token: str | None = None,
        certificate: Callable[[], x509.Certificate | None] = lambda: None,
    ) -> None:
        self.headers = headers
        self.form_token = form_token
        self._certificate = certificate

    def certificate(self) -> x509.Certificate | None:
        return self._certificate()

    @classmethod
    def from_flask(cls, *, accept_form_token: bool = False) -> ProtectedRequest:
        """The current Flask request; its certificate through ``santeid.tls``."""
        form_token = None
        if (
            accept_form_token
            and flask_request.method == "POST"
            and flask_request.mimetype == "application/x-www-form-urlencoded"
        ):
            form_token = flask_request.form.get("access_token")
        return cls(flask_request.headers, form_token=form_token, certificate=client_certificate)


class AccessToken(dict):
    """Claims of a verified access token, as Authlib's validator asks of a token."""

    def is_expired(self) -> bool:
        return False  # verification refused expired tokens

    def is_revoked(self) -> bool:
        return False  # idem

    def get_scope(self) -> str:
        scope: str = self.get("scope", "")
        return scope


def check_certificate_binding(claims: Mapping[str, Any], request: ProtectedRequest) -> None:
    """RFC 8705 §3: a token bound to a client certificate (``cnf.x5t#S256``) is accepted only
    with that certificate on the connection; absent or another one is ``invalid_token``
    (:data:`UNBOUND`)."""
    bound = (claims.get("cnf") or {}).get("x5t#S256")
    if bound is None:
        return
    certificate = request.certificate()
    presented = certificate_thumbprint(certificate) if certificate is not None else None
    if not matches_binding(presented, bound):
        raise InvalidTokenError(description=UNBOUND)


class AccessTokenValidator(BearerTokenValidator):
    """santeid's access tokens. ``verify``: ``TokenService.verify_access_token`` or a caching
    equivalent (INSi's ``VerifiedTokens``); it raises ``TokenError``. ``check_binding``: the
    certificate binding is checked here (:func:`check_certificate_binding`), unless the
    caller checks it later in its own order (userinfo, as Keycloak: last)."""

    def __init__(
        self,
        verify: Callable[[str], dict],
        realm: str | None = None,
        *,
        check_binding: bool = True,
    ) -> None:
        super().__init__(realm=realm)
        self.verify = verify
        self.check_binding = check_binding

    def authenticate_token(self, token_string: str) -> AccessToken:
        try:
            return AccessToken(self.verify(token_string.strip()))
        except TokenError as exc:
            raise InvalidTokenError(description=str(exc), realm=self.realm) from None

    def validate_token(
        self,
        token: AccessToken,
        scopes: list[str] | None,
        request: ProtectedRequest,
        **kwargs: Any,
    ) -> None:
        super().validate_token(token, scopes, request)
        if self.check_binding:
            check_certificate_binding(token, request)


def bearer_header_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None for any other header
    (Keycloak's ``AppAuthManager.extractAuthorizationHeaderTokenOrReturnNull``: two
    whitespace-separated parts, the first ``Bearer`` in any case)."""
    parts = (header or "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


class BearerProtector(ResourceProtector):
    """Authlib's ``ResourceProtector`` with santeid's parsing: the token in ``Authorization``
    or, when ``accept_form_token``, in the form body (an empty ``access_token`` is one) —
    never both, ``invalid_request`` (RFC 6750 §2; Keycloak's words,
    :data:`keycloak_errors.MORE_THAN_ONE_METHOD`). With ``other_schemes_are_none`` (Keycloak's
    ``UserInfoEndpoint`` and ``AppAuthManager.extractAuthorizationHeaderTokenOrReturnNull``,
    docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"): an
    ``Authorization`` header that is not ``Bearer <token>`` is no token at all, not
    ``unsupported_token_type``."""

    def __init__(
        self,
        validator: BearerTokenValidator,
        *,
        accept_form_token: bool = False,
        other_schemes_are_none: bool = False,
    ) -> None:
        super().__init__()
        self.register_token_validator(validator)
        self.accept_form_token = accept_form_token
        self.other_schemes_are_none = other_schemes_are_none

    def parse_request_authorization(
        self, request: ProtectedRequest
    ) -> tuple[BearerTokenValidator, str]:
        form_token = request.form_token if self.accept_form_token else None
        header = request.headers.get("Authorization")
        if self.other_schemes_are_none:
            header = header if bearer_header_token(header) is not None else None
        if header:
            validator, token = super().parse_request_authorization(request)
            if form_token is not None:
                raise InvalidRequestError(keycloak_errors.MORE_THAN_ONE_METHOD)
            return validator, token
        if form_token is not None:
            return self.get_token_validator("bearer"), form_token
        # No token at all (Authlib's error for a request without Authorization; no API renders
        # its own challenge).
        raise MissingAuthorizationError(None, None)

    def token(self, request: ProtectedRequest, scopes: list[str] | None = None) -> Any:
        """The validated token (claims) of ``request``; raises an ``OAuth2Error``."""
        return self.validate_request(scopes, request)


def access_token_protector(
    tokens: TokenService,
    *,
    accept_form_token: bool = False,
    other_schemes_are_none: bool = False,
    verify: Callable[[str], dict] | None = None,
    check_binding: bool = True,
) -> BearerProtector:
    """The protector of santeid's access tokens (``tokens``: the ``TokenService``)."""
    validator = AccessTokenValidator(
        verify or tokens.verify_access_token, check_binding=check_binding
    )
    return BearerProtector(
        validator,
        accept_form_token=accept_form_token,
        other_schemes_are_none=other_schemes_are_none,
    )

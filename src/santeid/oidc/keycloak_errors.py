"""OAuth 2.0 error responses as Keycloak writes them (``docs/reference/keycloak-behaviour.md``,
"Token endpoint": every error response carries an ``error_description``), and the texts of
its authorization endpoint ("Authorization endpoint").

The descriptions Keycloak gives where santeid has no more precise one; an error raised without
a description (Authlib raises several) gets the one of its code here, so no client ever reads
an error without ``error_description``; so are the texts of the authorization-code grant's
refusals that replace Authlib's. The other specific Keycloak texts of the token, revocation and
CIBA endpoints live with the checks that raise them. The texts of Keycloak's error pages are
its login theme's messages, kept in both languages in ``santeid.i18n``: an error page's
message is carried by its key (:class:`PageMessage`), in English where a description is
written, and on a page in the page's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import OAuth2Error

from santeid.i18n import Translator

#: The messages of Keycloak's login theme that santeid's error pages show, in the catalogue
#: (``santeid.i18n``) as ``keycloak.<key>``, the key of Keycloak's ``Messages.java``
#: (https://github.com/keycloak/keycloak/blob/1700cb149bed428383a6880dcd3c63f9426fa65f/services/src/main/java/org/keycloak/services/messages/Messages.java):
#: ``invalidRequestMessage``, ``clientNotFoundMessage``, ``invalidParameterMessage``…
_PAGE_MESSAGE = "keycloak."


@dataclass(frozen=True)
class PageMessage:
    """One of Keycloak's login-theme messages, carried by an error page (``ErrorPage``): its
    key (the catalogue's ``keycloak.<key>``) and the value of its one parameter (``{0}`` in
    Keycloak's properties, ``{parameter}`` in the catalogue), if it has one. Keycloak's
    login theme renders the message of its key with ``MessageFormat`` and the page's locale
    (``FreeMarkerLoginFormsProvider``,
    https://github.com/keycloak/keycloak/blob/c754ce686a93715fc044073115a867e4e349b586/services/src/main/java/org/keycloak/forms/login/freemarker/FreeMarkerLoginFormsProvider.java):
    a page shows :meth:`text` in its own language — in French from Keycloak's
    ``messages_fr.properties``
    (https://github.com/keycloak/keycloak/blob/008e27bd470f14b03e8e5d8d15545f077db80bf0/themes/src/main/resources-community/theme/base/login/messages/messages_fr.properties:
    "Invalid parameter: redirect_uri" is "Paramètre invalide : redirect_uri"). Its English
    (``str()``, from ``messages_en.properties``,
    https://github.com/keycloak/keycloak/blob/00183820e60b979aa257f79e0f438a41fed42e50/themes/src/main/resources/theme/base/login/messages/messages_en.properties)
    is the description a JSON answer, a log line or an event keeps in every language."""

    key: str
    parameter: str | None = None

    def text(self, t: Translator) -> str:
        """The message in ``t``'s language."""
        values = {} if self.parameter is None else {"parameter": self.parameter}
        return t(_PAGE_MESSAGE + self.key, **values)

    def __str__(self) -> str:
        return self.text(Translator("en"))


#: Keycloak's description of a failed client authentication, with ``invalid_client`` or
#: ``unauthorized_client`` (``santeid.oidc.client_auth.invalid_client``).
INVALID_CLIENT = "Invalid client or Invalid client credentials"
#: Keycloak's description of any failed client authentication at the introspection and
#: pushed-authorization-request endpoints, with ``invalid_request`` (same function).
CLIENT_AUTHENTICATION_FAILED = "Authentication failed."
#: Introspection asked by a public client (``TokenIntrospectionEndpoint.authorizeClient``),
#: 403 ``invalid_request``.
CLIENT_NOT_ALLOWED = "Client not allowed."
#: ``client_credentials`` asked by a public client, and by a client without a service account
#: (``client_credentials`` not among its ``grant_types``): 401 ``unauthorized_client``
#: (``ClientCredentialsGrantType.process``).
PUBLIC_CLIENT_NO_SERVICE_ACCOUNT = "Public client not allowed to retrieve service account"
NO_SERVICE_ACCOUNT = "Client not enabled to retrieve service account"
#: Default ``error_description`` per ``error`` code.
DESCRIPTIONS: dict[str, str] = {
    "invalid_request": "Invalid request",
    "invalid_client": INVALID_CLIENT,
    "invalid_grant": "Invalid grant",
    "unauthorized_client": "Client not allowed",
    "unsupported_grant_type": "Unsupported grant_type",
    "invalid_scope": "Invalid scopes",
    "unsupported_token_type": "Unsupported token type",
    "access_denied": "Access denied",
    "server_error": "Unexpected server error",
}
#: Keycloak's ``TokenEndpoint.checkGrantType``: the form parameter is required.
MISSING_GRANT_TYPE = "Missing form parameter: grant_type"
#: A token request of the authorization-code grant without ``code``
#: (``docs/reference/keycloak-behaviour.md``, "Token endpoint").
MISSING_CODE = "Missing parameter: code"
#: The token request's ``redirect_uri`` is not the authorization request's, or is missing
#: (same section).
INCORRECT_REDIRECT_URI = "Incorrect redirect_uri"
#: The code was issued to another client than the one presenting it (same section).
CODE_OF_ANOTHER_CLIENT = "Auth error: Found different client_id in clientSession"
#: A code used before (sequentially or in a race), or one never issued or expired
#: (``docs/reference/keycloak-behaviour.md``, "Token endpoint").
CODE_NOT_VALID = "Code not valid"
#: A refresh request without ``refresh_token`` (``RefreshTokenGrantType.process``), or a
#: logout request without one (``docs/reference/keycloak-behaviour.md``, "Refresh tokens").
NO_REFRESH_TOKEN = "No refresh token"  # noqa: S105 - an error text
#: A refresh token issued to another client than the one presenting it, at the token and
#: logout endpoints (``TokenManager.verifyRefreshToken``, same section).
REFRESH_TOKEN_OF_ANOTHER_CLIENT = (
    "Invalid refresh token. Token client and authorized client don't match"  # noqa: S105
)
#: A grant whose SSO session exists but is no longer valid (Keycloak's
#: ``AuthenticationManager.isSessionValid`` false): a code exchanged, a refresh token used,
#: once the session reached ``sso_max_lifetime`` or ended otherwise
#: (``docs/reference/keycloak-behaviour.md``, "Token endpoint", "Refresh tokens").
SESSION_NOT_ACTIVE = "Session not active"
#: A refresh token whose grant ended while its SSO session lives on (its client detached from
#: the session: its refresh token revoked, a replayed code, a refused reuse); once the session
#: itself is over, "Session not active" (``TokenManager.validateToken``,
#: ``docs/reference/keycloak-behaviour.md``, "Refresh tokens").
SESSION_WITHOUT_CLIENT = "Session doesn't have required client"
#: The professional is inactive in the directory, Keycloak's disabled user: a code exchanged, a
#: refresh token used (``invalid_grant``), an access token at userinfo (401 ``invalid_token``)
#: (``docs/reference/keycloak-behaviour.md``, "Disabled users").
USER_DISABLED = "User disabled"
#: A parameter sent more than once: a form parameter at the token, introspection and
#: revocation endpoints, any parameter of an authorization request (a redirect) or of a
#: pushed one (``docs/reference/keycloak-behaviour.md``, "Token endpoint", "Authorization
#: endpoint"), and at the back-channel authentication endpoint.
DUPLICATED_PARAMETER = "duplicated parameter"
#: Userinfo: a form whose ``access_token`` is repeated (``UserInfoEndpoint.
#: checkAccessTokenDuplicated``, docs/reference/keycloak-behaviour.md, "Userinfo,
#: introspection, revocation"); 400 ``invalid_request``.
USERINFO_DUPLICATE_PARAMETER = "Duplicate parameter"
#: Keycloak's error page ``invalidRequestMessage``: an authorization request without
#: ``client_id`` or with several (same page, "Authorization endpoint").
INVALID_REQUEST_PAGE = PageMessage("invalidRequestMessage")
#: Keycloak's error page ``clientNotFoundMessage``: an authorization request whose
#: ``client_id`` names no client (same section).
CLIENT_NOT_FOUND_PAGE = PageMessage("clientNotFoundMessage")
#: The code was issued with a ``code_challenge`` and the token request has no
#: ``code_verifier`` (``docs/reference/keycloak-behaviour.md``, "Token endpoint").
PKCE_VERIFIER_NOT_SPECIFIED = "PKCE code verifier not specified"
#: A client with an enforced PKCE method asking with another
#: (``AuthorizationEndpointChecker.checkParamsForPkceEnforcedClient``).
PKCE_METHOD_NOT_CONFIGURED = (
    "Invalid parameter: code challenge method is not matching the configured one"
)
#: A ``code_verifier`` (an empty one too) for a code issued without ``code_challenge`` (same
#: section).
PKCE_VERIFIER_WITHOUT_CHALLENGE = (
    "PKCE code verifier specified but challenge not present in authorization"
)
#: The ``code_verifier`` does not give the code's ``code_challenge`` (same section).
PKCE_CODE_MISMATCH = "PKCE verification failed: Code mismatch"
#: The ``code_verifier`` is not 43 to 128 unreserved characters (RFC 7636 §4.1), an empty one
#: included (same section: a wrong verifier).
PKCE_INVALID_CODE_VERIFIER = "PKCE verification failed: Invalid code verifier"
#: A refresh token of a grant that ended when its client left the SSO session, presented once
#: the client has joined the session again: Keycloak finds the new client session and refuses
#: the older token (``TokenManager.validateToken``, ``isIssuedBeforeSessionStart``; this
#: spelling from release 25 on, docs/reference/keycloak-behaviour.md, "Refresh tokens").
REFRESH_TOKEN_BEFORE_CLIENT_SESSION = "refresh token issued before the client session started"  # noqa: S105 - an error text

#: Userinfo's refusals, each an ``error_description`` in the ``WWW-Authenticate`` challenge of
#: an empty answer (``UserInfoEndpoint``, docs/reference/keycloak-behaviour.md, "Userinfo,
#: introspection, revocation"), in the order Keycloak checks them. A token both in the
#: ``Authorization: Bearer`` header and in the form; 400 ``invalid_request``.
MORE_THAN_ONE_METHOD = "More than one method used for including an access token"  # noqa: S105
#: An access token that does not verify — signature, issuer, type (a refresh or ID token),
#: expiry, or revoked by itself; 401 ``invalid_token``.
TOKEN_VERIFICATION_FAILED = "Token verification failed"  # noqa: S105 - a message
#: A token without ``openid``; 403 ``insufficient_scope``.
MISSING_OPENID_SCOPE = "Missing openid scope"
#: A token whose client (``azp``) is no longer registered; 401 ``invalid_token``.
CLIENT_NOT_FOUND = "Client not found"
#: A token that verifies but whose user session is gone or no longer holds its client (a
#: logout, its refresh token revoked, a replayed code, a refused reuse): 401 ``invalid_token``
#: with Keycloak's event code as description (``UserSessionUtil``'s
#: ``Errors.USER_SESSION_NOT_FOUND``; "User session not found or doesn't have client attached
#: on it" in the releases before https://github.com/keycloak/keycloak/pull/38234).
USER_SESSION_NOT_FOUND = "user_session_not_found"
#: A token whose user session is still stored but past its timeouts (Keycloak's
#: ``AuthenticationManager.isSessionValid`` false; ``UserSessionUtil``'s
#: ``Errors.SESSION_EXPIRED``; "Session expired" before the same change): 401
#: ``invalid_token`` (``docs/reference/keycloak-behaviour.md``, "An SSO session found over").
SESSION_EXPIRED = "session_expired"
#: The professional of a token no longer in the directory: 401 ``invalid_token`` at userinfo;
#: of a code, 400 ``invalid_grant`` at its exchange (``TokenEndpoint.codeToToken``: the user
#: session holds no user) (``docs/reference/keycloak-behaviour.md``, "Disabled users").
USER_NOT_FOUND = "User not found"
#: An authorization code of a client detached from its SSO session since the code was issued
#: (a code replayed, a refresh token revoked): Keycloak's ``AuthorizationCodeGrantType`` finds
#: the user session but no client session in it; 400 ``invalid_grant``.
CODE_USER_SESSION_NOT_FOUND = "User session not found"
#: A refresh token that verifies but whose session's professional is no longer in the
#: directory, or that is not ours at all: ``invalid_grant`` (``TokenManager.verifyRefreshToken``,
#: ``validateToken``; ``docs/reference/keycloak-behaviour.md``, "Refresh tokens").
INVALID_REFRESH_TOKEN = "Invalid refresh token"  # noqa: S105 - an error text
#: A certificate-bound token presented without its certificate, or with another one (RFC 8705
#: §3); 401 ``invalid_token``.
CERTIFICATE_MISMATCH = (
    "Client certificate missing, or its thumbprint and one in the refresh token did NOT match"
)
#: A token request of a client whose tokens are bound to its certificate (RFC 8705 §3.4
#: ``tls_client_certificate_bound_access_tokens``, Keycloak's "OAuth 2.0 Mutual TLS Certificate
#: Bound Access Tokens Enabled") made without one: 400 ``invalid_request``
#: (``AuthorizationCodeGrantType``'s ``checkAndBindMtlsHoKToken``).
CERTIFICATE_MISSING_FOR_BINDING = "Client Certification missing for MTLS HoK Token Binding"

#: The error pages of RP-initiated logout, Keycloak's ``LogoutEndpoint.logout`` with its login
#: theme's texts (``invalidParameterMessage``, ``missingParameterMessage``,
#: ``invalidRedirectUriMessage``; docs/reference/keycloak-behaviour.md, "Logout"): Keycloak's
#: legacy ``redirect_uri`` parameter;
LOGOUT_REDIRECT_URI_PARAMETER = PageMessage("invalidParameterMessage", "redirect_uri")
#: a ``post_logout_redirect_uri`` with neither ``id_token_hint`` nor ``client_id``;
LOGOUT_HINT_MISSING = PageMessage("missingParameterMessage", "id_token_hint")
#: an ``id_token_hint`` that is not an ID token of this realm, or names another client than
#: ``client_id``;
LOGOUT_HINT_INVALID = PageMessage("invalidParameterMessage", "id_token_hint")
#: a ``post_logout_redirect_uri`` its client did not register, or whose client is unknown.
LOGOUT_INVALID_REDIRECT_URI = PageMessage("invalidRedirectUriMessage")


#: The authorization endpoint's "Missing parameter: …" of its redirects
#: (``AuthorizationEndpointChecker``, a text of its own, singular where the page's
#: ``missingParameterMessage`` says "parameters"): :func:`missing_parameter`.
_MISSING_PARAMETER = "Missing parameter: {}"
#: ``response_type`` with a value other than ``code``, ``token``, ``id_token`` and ``none``
#: (``none`` alone): Keycloak answers ``unsupported_response_type`` with no description, and
#: logs this reason (``OIDCResponseType.parse``); santeid sends it, every error having a
#: description (``docs/psc-integration.md`` §5.1).
UNSUPPORTED_RESPONSE_TYPE = "Unsupported response_type"
#: The PAR endpoint's ``invalid_request`` for a response type it cannot parse (``ParEndpoint``).
PAR_UNSUPPORTED_RESPONSE_TYPE = "Unsupported response type"
#: An authorization request without a pushed ``request_uri`` from a client that requires one
#: (``AuthorizationEndpointChecker.checkParRequired``).
PAR_REQUIRED = "Pushed Authorization Request is only allowed."
#: The PAR endpoint's ``invalid_request`` for a pushed request holding ``request_uri``
#: (``ParEndpoint``, ``ParTest.testFailureParIncludesRequestUri``).
PAR_REQUEST_URI_NOT_ALLOWED = "It is not allowed to include request_uri to PAR."
#: An implicit or hybrid ``response_type`` with ``response_mode=query``.
QUERY_NOT_ALLOWED_FOR_IMPLICIT = "Response_mode 'query' not allowed for implicit or hybrid flow"
#: An implicit or hybrid ``response_type`` with ``response_mode=query.jwt`` (JARM §2.3.1), from a
#: client without an encrypted response JWT: every client of santeid's.
QUERY_JWT_NOT_ENCRYPTED = (
    "Response_mode 'query.jwt' is allowed only when the authorization response token is encrypted"
)
#: ``response_type`` ``code`` (or ``none``) from a client without the code flow.
STANDARD_FLOW_DISABLED = (
    "Client is not allowed to initiate browser login with given response_type. "
    "Standard flow is disabled for the client."
)
#: An implicit or hybrid ``response_type``: no client has the implicit flow.
IMPLICIT_FLOW_DISABLED = (
    "Client is not allowed to initiate browser login with given response_type. "
    "Implicit flow is disabled for the client."
)


def repeated_parameter(params, *, only=None, ignoring=()) -> bool:
    """A parameter of ``params`` (a werkzeug ``MultiDict``: a form, a query string) sent more
    than once — among ``only`` when given, never one of ``ignoring``: the check behind
    Keycloak's "duplicated parameter" (``checkParameterDuplicated``, ``checkDuplicated``;
    RFC 6749 §3.1, §3.2: a parameter MUST NOT be included more than once)."""
    return any(
        len(values) > 1 and (only is None or name in only) and name not in ignoring
        for name, values in params.lists()
    )


def missing_parameter(name: str) -> str:
    return _MISSING_PARAMETER.format(name)


def invalid_parameter_page(name: str) -> PageMessage:
    """Keycloak's page ``invalidParameterMessage`` for ``name`` ("Invalid parameter: …")."""
    return PageMessage("invalidParameterMessage", name)


def invalid_parameter(name: str) -> str:
    """The English of :func:`invalid_parameter_page`, which Keycloak's authorization endpoint's
    redirects write too (``AuthorizationEndpointChecker``)."""
    return str(invalid_parameter_page(name))


def invalid_token_issuer(expected: str, found: object) -> str:
    """Keycloak's refusal of a refresh token issued by another issuer than ``expected``
    (``TokenVerifier.RealmUrlCheck``, run by ``TokenManager.verifyRefreshToken``;
    ``docs/reference/keycloak-behaviour.md``, "Refresh tokens"): Java's concatenation writes a
    missing ``iss`` as ``null``; made fit for ``error_description`` by :func:`safe_description`."""
    was = "null" if found is None else str(found)
    return safe_description(f"Invalid token issuer. Expected '{expected}', but was '{was}'")


def safe_description(text: str) -> str:
    """``text`` fit for ``error_description``: RFC 6749 §5.2 allows only the characters
    %x20-21 / %x23-5B / %x5D-7E there (Authlib refuses any other with ``ValueError``), so each
    other character of ``text`` (a client's raw input) is written percent-encoded in UTF-8
    (``é`` → ``%C3%A9``, ``"`` → ``%22``)."""
    return "".join(
        ch if " " <= ch <= "~" and ch not in '"\\' else quote(ch, safe="") for ch in text
    )


def with_description(error: OAuth2Error) -> OAuth2Error:
    """``error`` itself, given its code's description when it has none."""
    code = error.error
    if not error.description and code:
        error.description = DESCRIPTIONS.get(code, code.replace("_", " "))
    return error


def missing_grant_type() -> InvalidRequestError:
    return InvalidRequestError(MISSING_GRANT_TYPE)

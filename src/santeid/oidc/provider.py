"""Every Authlib subclass of the provider, each a few lines delegating to santeid's services.

Authlib handles the token endpoint (RFC 6749 §3.2, §4.1.3, §6), client authentication
(client_secret_basic, client_secret_post, private_key_jwt and client_secret_jwt — RFC 7523
§2.2), PKCE verification
(RFC 7636 §4.6), introspection (RFC 7662) and revocation (RFC 7009). santeid supplies storage,
the PSC token shapes and the atomic single-use rules.
"""

from __future__ import annotations

import copy
import hmac
import logging
from functools import partial
from typing import TYPE_CHECKING

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oauth2.rfc7636.challenge import create_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import request as flask_request
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import ClaimError
from joserfc.errors import JoseError
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwk import Key
from joserfc.jwk import OctKey

from santeid.observability import record as observe
from santeid.oidc import client_auth
from santeid.oidc import client_keys
from santeid.oidc import cors
from santeid.oidc import grant_types
from santeid.oidc import keycloak_errors
from santeid.oidc import pkce
from santeid.oidc import refused_grants
from santeid.oidc import scopes
from santeid.oidc.authentication import Authentication
from santeid.oidc.authorize import without_query_parameter
from santeid.oidc.session_end import end_session
from santeid.oidc.session_end import end_session_found_over
from santeid.oidc.tls_client_auth import CertificateMissing
from santeid.oidc.tls_client_auth import TlsClientAuth
from santeid.oidc.tls_client_auth import bound_certificate_thumbprint
from santeid.oidc.tls_client_auth import refresh_certificate_thumbprint
from santeid.oidc.tokens import RefreshRefused
from santeid.oidc.tokens import SessionEnded
from santeid.oidc.tokens import SessionGone
from santeid.oidc.tokens import SubjectDisabled
from santeid.oidc.tokens import TokenError
from santeid.oidc.tokens import UnknownSubject
from santeid.oidc.tokens import service_account
from santeid.services import services as _services
from santeid.storage import keys
from santeid.storage.records import Record
from santeid.untrusted_json import loads_untrusted_json

if TYPE_CHECKING:
    from santeid.oidc.clients import ClientRegistry

log = logging.getLogger(__name__)

#: Every method at the token endpoint (``client_auth.py`` holds the list and the policy).
AUTH_METHODS = client_auth.methods_for("token")


class AuthorizationCodeRecord:
    """A stored authorization code (``TokenService.codes``), as Authlib's grant and PKCE
    extension read it."""

    def __init__(self, record: Record):
        self.key = record.key
        self.data = record.data
        #: The code's login, decoded once for every check of the exchange and its tokens.
        self.authentication = Authentication.from_dict(record.data["auth"])

    def get_redirect_uri(self) -> str:
        return self.data["redirect_uri"]

    def get_scope(self) -> str:
        return self.data["scope"]

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int:
        return self.authentication.auth_time

    @property
    def code_challenge(self) -> str | None:
        return self.data.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.data.get("code_challenge_method")


class PerClientCodeChallenge(CodeChallenge):
    """RFC 7636 verification at the token endpoint. ``plain`` is accepted only for a code whose
    client was allowed to use it at the authorization endpoint (checked there).

    A code issued with a ``code_challenge`` is refused as Keycloak refuses it
    (``docs/reference/keycloak-behaviour.md``, "Token endpoint"): no ``code_verifier`` is
    ``invalid_grant`` "PKCE code verifier not specified", a verifier that is not 43 to 128
    unreserved characters (RFC 7636 §4.1; an empty one too) is ``invalid_grant`` "PKCE
    verification failed: Invalid code verifier", one that does not match is ``invalid_grant``
    "PKCE verification failed: Code mismatch"; Authlib says ``invalid_request`` and "Code
    challenge failed." instead. A code issued without a challenge is refused with any
    ``code_verifier``, an empty one too (RFC 9700 §4.8; Keycloak's ``invalid_grant`` "PKCE code
    verifier specified but challenge not present in authorization", same section, where Authlib
    says ``invalid_request`` and lets an empty one through). The verifier is checked here, in
    constant time (``hmac.compare_digest``), never by Authlib's ``==``."""

    SUPPORTED_CODE_CHALLENGE_METHOD = list(pkce.METHODS)
    DEFAULT_CODE_CHALLENGE_METHOD = pkce.DEFAULT

    def validate_code_verifier(self, grant, result):
        """The checks below; a refusal spends the code (:meth:`AuthorizationCodeGrant.spend`)."""
        try:
            self._check_code_verifier(grant.request)
        except OAuth2Error:
            AuthorizationCodeGrant.spend(grant.request.authorization_code)
            raise

    def _check_code_verifier(self, request: OAuth2Request) -> None:
        code = request.authorization_code
        challenge = self.get_authorization_code_challenge(code)
        verifier = request.form.get("code_verifier")
        if not challenge:
            if verifier is not None:
                raise InvalidGrantError(keycloak_errors.PKCE_VERIFIER_WITHOUT_CHALLENGE)
            return
        if verifier is None:
            raise InvalidGrantError(keycloak_errors.PKCE_VERIFIER_NOT_SPECIFIED)
        # fullmatch: the pattern's "$" would let a trailing newline through.
        if not CODE_VERIFIER_PATTERN.fullmatch(verifier):
            raise InvalidGrantError(keycloak_errors.PKCE_INVALID_CODE_VERIFIER)
        # RFC 7636 §4.6: transform the verifier by the code's method, compare with the
        # challenge; here rather than in Authlib, whose comparison is "==": constant time.
        method = (
            self.get_authorization_code_challenge_method(code) or self.DEFAULT_CODE_CHALLENGE_METHOD
        )
        if method == pkce.S256:
            derived = create_s256_code_challenge(verifier)
        elif method == pkce.PLAIN:
            derived = verifier
        else:  # never stored (checked at the authorization endpoint): refused all the same
            derived = ""
        if not derived or not hmac.compare_digest(derived.encode(), challenge.encode()):
            raise InvalidGrantError(keycloak_errors.PKCE_CODE_MISMATCH)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


def _subject_refusal(exc: UnknownSubject) -> str:
    """Keycloak's words for a grant whose user is no longer there (the user session holds no
    user: "User not found") or is disabled ("User disabled")."""
    if isinstance(exc, SubjectDisabled):
        return keycloak_errors.USER_DISABLED
    return keycloak_errors.USER_NOT_FOUND


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1.3–4.1.4 with OIDC Core §3.1.3 id_token; codes are single-use, atomically."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @hooked
    def validate_token_request(self):
        """RFC 6749 §4.1.3 with Keycloak's texts, in Keycloak's order
        (``docs/reference/keycloak-behaviour.md``, "Token endpoint"): the code (missing, then
        unknown or used), its login (:meth:`_check_login`: its session, its professional), then
        ``redirect_uri``, then the client it was issued to; the PKCE
        checks (:class:`PerClientCodeChallenge`) run after, as Authlib's hook. Client
        authentication and the grant-type check come first, as in Authlib. Every refusal
        once the code was found spends it (:meth:`spend`)."""
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                f"The client is not authorized to use 'grant_type={self.GRANT_TYPE}'"
            )
        code = self.request.form.get("code")
        if code is None:
            raise InvalidRequestError(keycloak_errors.MISSING_CODE)
        authorization_code = self.query_authorization_code(code, client)
        self.request.code_session = self._check_login(authorization_code)
        original_redirect_uri = authorization_code.get_redirect_uri()
        sent_redirect_uri = self.request.payload.redirect_uri
        if (
            sent_redirect_uri
            and "session_state=" in sent_redirect_uri
            and "session_state=" not in original_redirect_uri
        ):
            # Keycloak's KEYCLOAK-4478 allowance (AuthorizationCodeGrantType.process): the
            # adapters before its 3.4.2 sent their callback URL with the session_state added.
            sent_redirect_uri = without_query_parameter(sent_redirect_uri, "session_state")
        refusal = None
        if original_redirect_uri and sent_redirect_uri != original_redirect_uri:
            refusal = keycloak_errors.INCORRECT_REDIRECT_URI
        elif authorization_code.data["client_id"] != client.get_client_id():
            # RFC 6749 §4.1.3: the code was issued to another client.
            refusal = keycloak_errors.CODE_OF_ANOTHER_CLIENT
        else:
            refusal = self._session_refusal(authorization_code)
        if refusal is not None:
            self.spend(authorization_code)
            raise InvalidGrantError(refusal)
        self.request.client = client
        self.request.authorization_code = authorization_code

    def _check_login(self, authorization_code: AuthorizationCodeRecord) -> Record | None:
        """The code's login, checked where Keycloak checks it, before the ``redirect_uri`` and
        the client (``AuthorizationCodeGrantType.process``, docs/reference/keycloak-behaviour.md,
        "Token endpoint"): its SSO session closed or expired, "Code not valid"
        (``OAuth2CodeParser.parseCode`` finds no user session); its client detached from the
        session since the code was issued, "User session not found" (no client session in
        it); then its professional gone
        from the directory, "User not found", or inactive, "User disabled". A refusal spends
        the code. :meth:`create_token_response` meets the same refusals again when they
        happen in between. Returns the SSO session as read here, which the family of the
        grant joins without reading it again (``TokenService.open_family``)."""
        tokens = _services().tokens
        authentication = authorization_code.authentication
        session = None
        try:
            if not tokens.session_reached_end(authentication):
                # One at its end still exists for Keycloak: "Session not active", after the
                # client (_session_refusal).
                session = tokens.live_session(authentication)
            if authentication.sid and tokens.client_detached(
                authentication.sid, authorization_code.data["client_id"]
            ):
                if self.spend(authorization_code) is None:
                    # Another request spent the code first (a replay raced, which detached
                    # the client): this is its second use, and Keycloak's single-use check
                    # comes before the client session's, "Code not valid".
                    self._detach_replayed(authorization_code.data)
                    raise InvalidGrantError(keycloak_errors.CODE_NOT_VALID)
                raise InvalidGrantError(keycloak_errors.CODE_USER_SESSION_NOT_FOUND)
            tokens.professional_of(authentication)
        except SessionGone as exc:
            self.spend(authorization_code)
            raise InvalidGrantError(str(exc)) from None
        except UnknownSubject as exc:
            self.spend(authorization_code)
            raise InvalidGrantError(_subject_refusal(exc)) from None
        return session

    @staticmethod
    def _session_refusal(authorization_code: AuthorizationCodeRecord) -> str | None:
        """Keycloak's ``isSessionValid``, after the client and before PKCE: the code's session
        reached ``sso_max_lifetime``, "Session not active"."""
        if _services().tokens.session_reached_end(authorization_code.authentication):
            return keycloak_errors.SESSION_NOT_ACTIVE
        return None

    @staticmethod
    def spend(authorization_code: AuthorizationCodeRecord) -> Record | None:
        """A redemption refused once the code was found has spent it, as Keycloak takes the
        code out of its single-use store as it parses it (``OAuth2CodeParser.parseCode``,
        docs/reference/keycloak-behaviour.md, "Token endpoint"), before every later check: the
        consumption that a successful exchange makes (a compare-and-set from "issued", so of
        concurrent requests one only spends it), leaving a tombstone that names no family but
        keeps the code's session and client — a later use is "Code not valid" and detaches
        that client from the session (:meth:`_detach_replayed`), as Keycloak's. Returns the
        code as spent here, ``None`` when another request spent it first."""
        services = _services()
        return services.tokens.codes.consume(
            authorization_code.key,
            "issued",
            tombstone_lifetime=services.settings.oidc.refresh_token_lifetime,
            current=authorization_code.data,
        )

    def query_authorization_code(self, code, client):
        """The stored code, whichever client it was issued to (checked after ``redirect_uri``,
        :meth:`validate_token_request`), or a refusal. An unknown (or expired) code and a used
        one are ``invalid_grant`` "Code not valid" as Keycloak says
        (docs/reference/keycloak-behaviour.md, "Token endpoint")."""
        if not isinstance(code, str) or len(code) > 512:
            raise InvalidGrantError(keycloak_errors.CODE_NOT_VALID)
        record = _services().tokens.codes.get(code)
        if record is None:
            raise InvalidGrantError(keycloak_errors.CODE_NOT_VALID)
        data = record.data
        if data["state"] != "issued":
            self._detach_replayed(data)
            log.warning(
                "authorization code of %s replayed by %s; the client's grants in its session "
                "are revoked",
                data["client_id"],
                client.get_client_id(),
            )
            raise InvalidGrantError(keycloak_errors.CODE_NOT_VALID)
        return AuthorizationCodeRecord(record)

    @staticmethod
    def _detach_replayed(data: dict) -> None:
        """A code used a second time (in turn or in a race, its first use successful or
        refused): RFC 6749 §4.1.2 has the tokens it gave revoked, and Keycloak's
        ``AuthorizationCodeGrantType`` detaches the code's client from its user session
        ("Attempt to use same code twice should invalidate existing clientSession",
        docs/reference/keycloak-behaviour.md, "Token endpoint"): every grant of that client
        under the code's SSO session ends, by the mechanism a refresh token's revocation uses
        (``TokenService.detach_client_from_session``). The session itself lives on: Keycloak
        removes a user session only when a revocation leaves it without clients."""
        tokens = _services().tokens
        sid = (data.get("auth") or {}).get("sid")
        if sid:
            tokens.detach_client_from_session(sid, data["client_id"])
        elif data.get("fid"):
            tokens.revoke_family(data["fid"])

    def create_token_response(self):
        services = _services()
        client = self.request.client
        record: AuthorizationCodeRecord = self.request.authorization_code
        authentication = record.authentication
        try:
            thumbprint = bound_certificate_thumbprint(client)
        except CertificateMissing:
            # Keycloak checks the binding last, the code taken out already.
            self.spend(record)
            raise InvalidRequestError(keycloak_errors.CERTIFICATE_MISSING_FOR_BINDING) from None
        # The family, the code's consumption and the token writes go to the store together
        # (one round trip, docs/storage.md), the family first so that the tombstone never
        # names a family not yet written.
        writes = services.store.batch()
        try:
            family = services.tokens.open_family(
                client=client,
                authentication=authentication,
                scope=record.get_scope(),
                nonce=record.get_nonce(),
                batch=writes,
                session=getattr(self.request, "code_session", None),
            )
        except SessionEnded as exc:
            self.spend(record)
            raise InvalidGrantError(str(exc)) from None
        # The code is consumed by a compare-and-set before any token is handed out, so two
        # concurrent requests cannot both succeed. The tombstone outlives the code so that a
        # late replay still finds the family to revoke.
        codes = services.tokens.codes
        consumed = codes.consume_in(
            writes,
            record.key,
            "issued",
            {"fid": family.id},
            tombstone_lifetime=services.settings.oidc.refresh_token_lifetime,
            current=record.data,
        )
        try:
            token = services.tokens.issue(
                client=client,
                authentication=authentication,
                scope=record.get_scope(),
                family_id=family.id,
                nonce=record.get_nonce(),
                include_refresh=client.check_grant_type(grant_types.REFRESH_TOKEN),
                opened=family,
                certificate_thumbprint=thumbprint,
                batch=writes,
            )
        except UnknownSubject as exc:
            if consumed.value is None:
                self._refuse_used_code(record.key, family.id)
            services.tokens.revoke_family(family.id)
            raise InvalidGrantError(_subject_refusal(exc)) from None
        if consumed.value is None:
            self._refuse_used_code(record.key, family.id)
        if services.tokens.session_ended(authentication):
            # A logout ran while the family joined the session, too late to revoke it.
            services.tokens.revoke_family(family.id)
            raise InvalidGrantError(keycloak_errors.CODE_NOT_VALID)
        observe.token_issued(client.get_client_id(), grant_types.AUTHORIZATION_CODE)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def _refuse_used_code(self, key: str, family_id: str):
        """Another request consumed the code first: this is the second use
        (:meth:`_detach_replayed`), and the tokens built here are revoked with the rest."""
        tokens = _services().tokens
        tokens.revoke_family(family_id)
        latest = tokens.codes.read(key)
        if latest is not None:
            self._detach_replayed(latest.data)
        raise InvalidGrantError(keycloak_errors.CODE_NOT_VALID)

    # Authlib calls these only from its own create_token_response, which we replace.
    def save_authorization_code(self, code, request):  # pragma: no cover - not used
        raise NotImplementedError

    def delete_authorization_code(self, authorization_code):  # pragma: no cover - not used
        raise NotImplementedError

    def authenticate_user(self, authorization_code):  # pragma: no cover - not used
        raise NotImplementedError


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 as Keycloak: a new refresh token at each refresh; the presented one stays
    usable until it expires, or, with ``refresh_token_revoke``, rotation with reuse detection
    (``TokenService.use_refresh_token``).

    The request is checked in Keycloak's order (``RefreshTokenGrantType.process``,
    docs/reference/keycloak-behaviour.md, "Refresh tokens"): the client, ``refresh_token``
    present, the ``scope`` parameter's values, then the token (signature, expiry, its client,
    the certificate it is bound to, its grant). With the Keycloak scope policy, a ``scope``
    parameter keeps the granted scopes it names, and ``openid`` if granted, and ignores the
    others; with the strict one, a scope not granted is ``invalid_scope`` (RFC 6749 §6)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self):
        client = self._validate_request_client()
        self.request.client = client
        raw = self.request.form.get("refresh_token")
        if raw is None:
            raise InvalidRequestError(keycloak_errors.NO_REFRESH_TOKEN)
        requested = self.request.payload.scope
        policy = scopes.current_policy()
        if requested is not None and policy == "keycloak":
            try:
                scopes.granted_scope(
                    requested,
                    client.allowed_scopes,
                    where=grant_types.REFRESH_TOKEN,
                    policy=policy,
                )
            except scopes.ScopeError as exc:
                raise InvalidScopeError(description=exc.description) from None
        try:
            grant = _services().tokens.refresh_grant(
                raw,
                client.get_client_id(),
                certificate_check=partial(refresh_certificate_thumbprint, client),
            )
        except RefreshRefused as exc:
            # Keycloak's validateToken logs out a session found no longer valid before it
            # answers "Session not active" (docs/reference/keycloak-behaviour.md, "An SSO
            # session found over").
            end_session_found_over(_services(), exc.session)
            raise InvalidGrantError(str(exc)) from None
        except CertificateMissing:
            # Keycloak's refusal of a refresh without the certificate its token is bound to, or
            # with another (docs/reference/keycloak-behaviour.md, "Token endpoint"): in
            # TokenManager.verifyRefreshToken, after the token's client, before its session.
            raise UnauthorizedClientError(
                keycloak_errors.CERTIFICATE_MISMATCH, status_code=401
            ) from None
        granted = scopes.scope_values(grant.scope)
        if not requested:
            self.request.refresh_scope = grant.scope
        elif policy == "keycloak":
            # Keycloak to 26.6 (DefaultClientSessionContext.getScopeString) keeps openid when
            # the authorization asked for it, whatever the parameter names
            # (docs/reference/keycloak-behaviour.md, "Refresh tokens").
            names = set(scopes.scope_values(requested)) | {scopes.OPENID}
            self.request.refresh_scope = " ".join(s for s in granted if s in names)
        elif set(scopes.scope_values(requested)).issubset(granted):
            self.request.refresh_scope = " ".join(dict.fromkeys(scopes.scope_values(requested)))
        else:
            # RFC 6749 §6: the new scope MUST NOT include a scope not originally granted.
            raise InvalidScopeError()
        self.request.refresh_token = grant

    def create_token_response(self):
        services = _services()
        grant = self.request.refresh_token
        client = self.request.client
        scope = self.request.refresh_scope
        # The ID token's key first: a refusal for a missing key counts no use of the token.
        services.tokens.id_token_alg(client, grant.scope)
        try:
            services.tokens.use_refresh_token(grant)
        except RefreshRefused as exc:
            raise InvalidGrantError(str(exc)) from None
        try:
            token = services.tokens.issue(
                client=client,
                authentication=grant.authentication,
                scope=scope,
                family_id=grant.family_id,
                nonce=grant.nonce,
                include_refresh=True,
                certificate_thumbprint=grant.certificate_thumbprint,
                grant_scope=grant.scope,
            )
        except SubjectDisabled:
            # Became inactive since refresh_grant looked: refused as there, not revoked.
            raise InvalidGrantError(keycloak_errors.USER_DISABLED) from None
        except UnknownSubject:
            # Gone from the directory since refresh_grant looked: refused as there.
            raise InvalidGrantError(keycloak_errors.INVALID_REFRESH_TOKEN) from None
        observe.token_issued(
            client.get_client_id(),
            grant_types.REFRESH_TOKEN,
            professional=grant.authentication.national_id,
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def authenticate_user(self, refresh_token):  # pragma: no cover - not used
        return refresh_token.authentication

    def revoke_old_credential(self, refresh_token):  # pragma: no cover - not used
        raise NotImplementedError


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4: a service gets an access token for itself (the FHIR directory API,
    ``docs/directory.md``). Only clients registered with ``client_credentials`` in
    ``grant_types`` may use it; every token-endpoint authentication method applies."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self):
        """Authlib's checks, a client not registered for the grant answered as Keycloak's
        ``ClientCredentialsGrantType`` answers it (docs/endpoints.md, "Token endpoint"): 401
        ``unauthorized_client``, "Public client not allowed to retrieve service account" for
        a public client, "Client not enabled to retrieve service account" for another;
        ``error_style = "strict"``: Authlib's 400 (RFC 6749 §5.2)."""
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            if _services().settings.keycloak.error_style != "keycloak":
                raise UnauthorizedClientError(
                    f"The client is not authorized to use 'grant_type={self.GRANT_TYPE}'"
                )
            raise UnauthorizedClientError(
                keycloak_errors.PUBLIC_CLIENT_NO_SERVICE_ACCOUNT
                if client.is_public
                else keycloak_errors.NO_SERVICE_ACCOUNT,
                status_code=401,
            )
        self.request.client = client
        self.validate_requested_scope()

    def validate_requested_scope(self):
        try:
            self.request.granted_scope = scopes.granted_scope(
                self.request.payload.scope,
                self.request.client.allowed_scopes,
                where=scopes.CLIENT_CREDENTIALS,
                policy=scopes.current_policy(),
            )
        except scopes.ScopeError as exc:
            raise InvalidScopeError(description=exc.description) from None

    def create_token_response(self):
        client = self.request.client
        scope = self.request.granted_scope
        try:
            thumbprint = bound_certificate_thumbprint(client)
        except CertificateMissing:
            raise InvalidRequestError(keycloak_errors.CERTIFICATE_MISSING_FOR_BINDING) from None
        token = _services().tokens.issue_client_token(
            client=client, scope=scope, certificate_thumbprint=thumbprint
        )
        log.info("client_credentials token issued to %s", client.get_client_id())
        observe.token_issued(client.get_client_id(), grant_types.CLIENT_CREDENTIALS)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _OtherAssertionMethod(Exception):
    """The assertion names a client of the other JWT method: this authenticator does not
    answer (:meth:`ClientAssertionJWT.__call__`)."""


#: The endpoints (under ``{issuer}/protocol/openid-connect``) whose URL a client assertion's
#: ``aud`` may name, wherever it is sent, as at Keycloak: token (OIDC Core §9's SHOULD),
#: introspection, PAR and CIBA — not revocation nor logout, whose own URL is refused there too
#: (docs/reference/keycloak-behaviour.md, "Client authentication").
ASSERTION_AUDIENCE_ENDPOINTS = ("token", "token/introspect", "ext/par/request", "ext/ciba/auth")


class ClientAssertionJWT(JWTBearerClientAssertion):
    """A JWT client assertion (OIDC Core §9, RFC 7523 §3) with atomic ``jti`` replay
    protection: the checks ``private_key_jwt`` (:class:`PrivateKeyJWT`) and
    ``client_secret_jwt`` (:class:`ClientSecretJWT`) share, each subclass giving the key it
    verifies with and what Keycloak answers for an algorithm outside its own.

    The key and the algorithms follow the client's registered method, never the assertion's
    header (:func:`client_auth.assertion_algorithms`): each authenticator answers only for a
    client registered with its method, and verifies with its algorithms alone. An assertion
    is accepted within ``client_assertion_max_lifetime`` of its ``iat`` (of now for its
    ``exp`` when it has no ``iat``), as Keycloak bounds it (:func:`client_auth.time_problem`),
    and its ``jti`` is remembered exactly as long as the assertion could be accepted
    (:func:`client_auth.assertion_accepted_until` + leeway). A ``client_id`` parameter must
    name the assertion's client (RFC 7521 §4.2,
    https://www.rfc-editor.org/rfc/rfc7521#section-4.2), compared as soon as that client is
    found, before the signature and the ``jti`` are read (Keycloak's
    ``AbstractJWTClientValidator.validate``, ``validateClient`` first,
    https://github.com/keycloak/keycloak/blob/110a62421652e631dc667d8d9584dd52d101f96a/services/src/main/java/org/keycloak/authentication/authenticators/client/AbstractJWTClientValidator.java):
    a request naming another client spends no assertion. An assertion naming a client of a
    non-JWT method authenticates nothing, before its signature is read (Keycloak's
    ``validateClient``); a refused assertion of the authenticator's own client raises
    :class:`client_auth.SignedJwtRefused`, with Keycloak's words for it
    (docs/reference/keycloak-behaviour.md, "Client authentication")."""

    #: Keycloak's reason per JWT claim refused by the claims registry (``verify_claims``).
    CLAIM_REFUSALS = {
        "aud": client_auth.SIGNED_JWT_AUDIENCE,
        "exp": client_auth.SIGNED_JWT_NOT_ACTIVE,
        "nbf": client_auth.SIGNED_JWT_NOT_ACTIVE,
        "iat": client_auth.SIGNED_JWT_ISSUED_IN_FUTURE,
    }
    #: Keycloak's reason per time rule of :func:`client_auth.time_problem` refused.
    TIME_REFUSALS = {
        client_auth.MISSING: client_auth.SIGNED_JWT_EXP_REQUIRED,
        client_auth.EXPIRED: client_auth.SIGNED_JWT_NOT_ACTIVE,
        client_auth.TOO_FAR_AHEAD: client_auth.SIGNED_JWT_EXP_TOO_FAR,
        client_auth.ISSUED_IN_FUTURE: client_auth.SIGNED_JWT_ISSUED_IN_FUTURE,
        client_auth.ISSUED_TOO_LONG_AGO: client_auth.SIGNED_JWT_ISSUED_TOO_LONG_AGO,
    }

    def __call__(self, query_client, request):
        named = request.form.get("client_id") if request.form else None
        method = self.CLIENT_AUTH_METHOD

        def assertion_client(client_id):
            """The client the assertion's ``sub`` names, once the ``client_id`` parameter
            is found to name it too; a client of the other JWT method is left to the other
            authenticator."""
            client = query_client(client_id)
            if client is None:
                return None
            registered = client.token_endpoint_auth_method
            if registered in client_auth.JWT_METHODS and registered != method:
                raise _OtherAssertionMethod
            if registered == method and named and named != client.get_client_id():
                raise client_auth.SignedJwtRefused(
                    "client_id is not the client of the assertion",
                    client_auth.SIGNED_JWT_CLIENT_ID_NOT_SUB,
                )
            return client

        try:
            return super().__call__(assertion_client, request)
        except _OtherAssertionMethod:
            return None

    def extract_assertion(self, assertion: str):
        """Authlib's reading of the assertion before its client is known (its header and
        unverified claims), with the header as long as the parameter
        (:func:`client_keys.jws_registry`)."""
        family = client_auth.assertion_algorithms(self.CLIENT_AUTH_METHOD)
        try:
            obj = jws.extract_compact(assertion.encode(), registry=client_keys.jws_registry(family))
        except JoseError as exc:
            raise InvalidClientError(description="Invalid JWT assertion.") from exc
        try:
            # Nested deeper than Python parses: a ValueError too, not a 500 (the caller is not
            # authenticated yet). A claim twice: the last (RFC 7519 §4, santeid.untrusted_json).
            claims = loads_untrusted_json(obj.payload, last_member_wins=True)
        except ValueError:
            raise InvalidClientError(description="Invalid JWT payload.") from None
        if not isinstance(claims, dict):
            raise InvalidClientError(description="Invalid JWT payload.")
        return obj.headers(), claims

    def verification_key(self, client, headers: dict) -> Key:
        """The key that verifies this assertion of ``client`` (its protected ``headers``),
        once its algorithm is found to be one the client may use."""
        raise NotImplementedError

    def algorithm_refused(self, alg: object) -> client_auth.SignedJwtRefused:
        """The answer to an assertion whose ``alg`` is none of this method's."""
        return client_auth.SignedJwtRefused(
            f"client assertion: algorithm {alg!r} not accepted for {self.CLIENT_AUTH_METHOD}",
            client_auth.SIGNED_JWT_ALGORITHM,
        )

    def get_audiences(self):
        """Keycloak's audiences, the same at every endpoint: the issuer (FAPI-CIBA "client
        assertion with the issuer as aud" must succeed) and the URLs of
        :data:`ASSERTION_AUDIENCE_ENDPOINTS` (``JWTClientValidator.getExpectedAudiences``,
        https://github.com/keycloak/keycloak/blob/898fdedcdabc022e43b06d99335d1cfda5adf204/services/src/main/java/org/keycloak/authentication/authenticators/client/JWTClientValidator.java),
        and those URLs on the certificate listener too (discovery's ``mtls_endpoint_aliases``,
        RFC 8705 §5): Keycloak builds them from the URL the request reached it at
        (``getUriInfo().getBaseUri()``), so a client that names the alias it posts to is
        accepted there."""
        settings = _services().settings
        bases = dict.fromkeys(filter(None, (settings.oidc_base, settings.mtls_oidc_base)))
        return [
            settings.issuer,
            *(f"{base}/{path}" for base in bases for path in ASSERTION_AUDIENCE_ENDPOINTS),
        ]

    def resolve_client_public_key(self, client):
        """The client's key, behind a resolver that also checks the assertion's algorithm
        against the client's: its method's (:func:`client_auth.assertion_algorithms`), or
        the one it registered."""
        if client.token_endpoint_auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError(
                description=f"The client cannot authenticate with method: {self.CLIENT_AUTH_METHOD}"
            )
        accepted = client_auth.assertion_algorithms(
            self.CLIENT_AUTH_METHOD, client.token_endpoint_auth_signing_alg
        )

        def resolve(obj):
            alg = obj.headers().get("alg")
            if alg not in accepted:
                raise self.algorithm_refused(alg)
            return self.verification_key(client, obj.headers())

        return resolve

    def process_assertion_claims(self, assertion, resolve_key):
        # Authlib decodes with joserfc's default algorithms (HS256, RS256, ES256): name this
        # method's own (the client's, checked by resolve_key).
        family = client_auth.assertion_algorithms(self.CLIENT_AUTH_METHOD)
        try:
            registry = client_keys.jws_registry(family)
            token = jose_jwt.decode(assertion, resolve_key, registry=registry)
        except UnsupportedAlgorithmError as exc:
            alg = jws.extract_compact(assertion.encode(), registry=registry).headers().get("alg")
            raise self.algorithm_refused(alg) from exc
        except JoseError as exc:
            raise self.signature_refused(exc) from exc
        self.verify_issuer_and_audience(token.claims)
        now = _services().clock()
        nbf = client_auth.numeric_date(token.claims.get("nbf"))
        has_exp = client_auth.numeric_date(token.claims.get("exp")) is not None
        if has_exp and nbf is not None and nbf > now + self.leeway:
            # Keycloak's validateTokenActive: isActive (exp and nbf) before iat is read.
            raise client_auth.SignedJwtRefused(
                "client assertion: not valid yet (nbf)", client_auth.SIGNED_JWT_NOT_ACTIVE
            )
        max_lifetime = _services().settings.oidc.client_assertion_max_lifetime
        problem = client_auth.time_problem(
            token.claims,
            now=now,
            max_lifetime=max_lifetime,
            validity=False,  # verify_claims checks exp and nbf, with the same skew
            bound_from_iat=True,
            leeway=self.leeway,
        )
        if problem:
            description = f"client assertion: {problem.describe(f'{max_lifetime} seconds')}"
            keycloak = self.TIME_REFUSALS.get(problem.kind, description)
            raise client_auth.SignedJwtRefused(description, keycloak)
        self.verify_claims(token.claims)
        return token.claims

    def signature_refused(self, exc: JoseError) -> client_auth.SignedJwtRefused:
        """The answer to an assertion whose signature does not verify."""
        return client_auth.SignedJwtRefused(exc.description, client_auth.SIGNED_JWT_SIGNATURE)

    def verify_issuer_and_audience(self, claims):
        """RFC 7523 §3, in Keycloak's order (``AbstractJWTClientValidator.validate``: the
        client, the signature, the audience, then the times): ``iss`` and ``sub`` the client —
        an ``iss`` other than ``sub`` is a third party's assertion, which Keycloak's
        authenticator leaves alone, no reason of its own —, then ``aud`` naming this server
        (:meth:`get_audiences`), and, with ``client_assertion_multiple_audiences`` off, only
        it: Keycloak's default since 26.2 (``AbstractBaseJWTValidator.validateTokenAudience``;
        OpenID Connect Core §9 as corrected in 2025 asks for the issuer alone)."""
        registry = jose_jwt.JWTClaimsRegistry(
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
        )
        try:
            # These three alone: the registry would check the times of any other it is given.
            registry.validate(
                {name: claims[name] for name in ("iss", "sub", "aud") if name in claims}
            )
        except ClaimError as exc:
            keycloak = self.CLAIM_REFUSALS.get(exc.claim)
            if keycloak is None:  # iss, sub: not this client's own assertion
                raise InvalidClientError(description=exc.description) from exc
            raise client_auth.SignedJwtRefused(exc.description, keycloak) from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        several = isinstance(claims["aud"], list) and len(claims["aud"]) > 1
        if several and not _services().settings.oidc.client_assertion_multiple_audiences:
            raise client_auth.SignedJwtRefused(
                "client assertion: more than one audience", client_auth.SIGNED_JWT_AUDIENCES
            )

    def verify_claims(self, claims):
        """Authlib's remaining checks (RFC 7523 §3: ``exp`` and ``nbf`` with the leeway, a
        ``jti`` seen once), on the application's clock, each refusal with Keycloak's reason;
        :meth:`verify_issuer_and_audience` has checked the rest."""
        registry = jose_jwt.JWTClaimsRegistry(
            now=lambda: int(_services().clock()),
            leeway=self.leeway,
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ClaimError as exc:
            keycloak = self.CLAIM_REFUSALS.get(exc.claim)
            if keycloak is None:
                raise InvalidClientError(description=exc.description) from exc
            raise client_auth.SignedJwtRefused(exc.description, keycloak) from exc
        if "jti" not in claims:
            raise client_auth.SignedJwtRefused(
                "Missing JWT ID.", client_auth.SIGNED_JWT_JTI_REQUIRED
            )
        if not self.validate_jti(claims, claims["jti"]):
            raise client_auth.SignedJwtRefused(
                "JWT ID is used before.", client_auth.SIGNED_JWT_REUSED
            )

    def validate_jti(self, claims, jti):
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        services = _services()
        # Remember the jti as long as the assertion could still be accepted, plus the leeway
        # (exp and iat are checked integers by now), as every single-use marker.
        accepted_until = client_auth.assertion_accepted_until(
            claims, services.settings.oidc.client_assertion_max_lifetime
        )
        ttl = keys.lifetime_through(accepted_until + self.leeway, services.clock())
        key = keys.CLIENT_ASSERTION_JTI.key(str(claims["sub"]), keys.digest(jti))
        return services.store.add(key, {"seen": True}, ttl)


class PrivateKeyJWT(ClientAssertionJWT):
    """``private_key_jwt``: the assertion is signed with a private key whose public half the
    client registered in ``jwks``; only the asymmetric algorithms discovery advertises
    (:data:`client_auth.PRIVATE_KEY_JWT_ALGS`) verify it."""

    # types-Authlib marks this Final; in Authlib it is a plain class attribute, the name this
    # subclass registers its method under.
    CLIENT_AUTH_METHOD = client_auth.PRIVATE_KEY_JWT  # type: ignore[misc]

    def verification_key(self, client, headers: dict) -> Key:
        """The key :func:`client_keys.verification_key` picks, as Keycloak's
        ``JWTClientAuthenticator`` does: none is "Unable to load public key", one of another
        type or ``alg`` than the assertion's a signature that does not verify."""
        try:
            return client_keys.verification_key(client.jwks, headers)
        except client_keys.NoClientKey as exc:
            raise client_auth.SignedJwtRefused(str(exc), client_auth.SIGNED_JWT_NO_KEY) from exc
        except client_keys.KeyMismatch as exc:
            raise client_auth.SignedJwtRefused(str(exc), client_auth.SIGNED_JWT_SIGNATURE) from exc


class ClientSecretJWT(ClientAssertionJWT):
    """``client_secret_jwt`` (OIDC Core §9, Keycloak's "Signed JWT with Client Secret"): the
    assertion is an HMAC (HS256, HS384, HS512: :data:`client_auth.HMAC_SIGNING_ALGS`) keyed
    with the client's secret, which santeid keeps for such a client alone
    (``Client.shared_secret``). Keycloak's ``JWTClientSecretAuthenticator`` answers 400
    ``unauthorized_client`` for an HMAC that does not verify and for an asymmetric algorithm
    (:data:`client_auth.HMAC_JWT_SIGNATURE`, :data:`client_auth.HMAC_JWT_NOT_SYMMETRIC`);
    ``none`` or an unknown algorithm is "Invalid signature algorithm", as for
    ``private_key_jwt``
    (https://github.com/keycloak/keycloak/blob/09994c361bf7028d08b22d7eacf1295f3af5e7f0/services/src/main/java/org/keycloak/authentication/authenticators/client/JWTClientSecretAuthenticator.java)."""

    CLIENT_AUTH_METHOD = client_auth.CLIENT_SECRET_JWT  # type: ignore[misc]

    def verification_key(self, client, headers: dict) -> Key:
        secret = client.shared_secret
        if not secret:  # registered before santeid kept it: Keycloak's "no secret" answer
            raise InvalidClientError(description="The client has no secret to verify with.")
        return OctKey.import_key(secret.encode())

    def algorithm_refused(self, alg: object) -> client_auth.SignedJwtRefused:
        if alg in client_auth.ASYMMETRIC_ALGS:
            return client_auth.SignedJwtRefused(
                f"client assertion: {alg} is not an HMAC algorithm",
                client_auth.HMAC_JWT_NOT_SYMMETRIC,
                client_auth.HMAC_JWT_ERROR,
            )
        return super().algorithm_refused(alg)

    def signature_refused(self, exc: JoseError) -> client_auth.SignedJwtRefused:
        return client_auth.SignedJwtRefused(
            exc.description, client_auth.HMAC_JWT_SIGNATURE, client_auth.HMAC_JWT_ERROR
        )


def current_endpoint_url() -> str:
    settings = _services().settings
    origin = settings.issuer[: len(settings.issuer) - len(settings.issuer_path)]
    return origin + flask_request.path


class TokenObject:
    """A token found by introspection or revocation."""

    def __init__(
        self, kind: str, claims: dict, record: dict | None = None, family: dict | None = None
    ):
        self.kind = kind
        self.claims = claims
        self.record = record
        self.family = family
        #: Introspected with the hint ``requesting_party_token``: Keycloak's UMA answer.
        self.as_rpt = False

    def check_client(self, client) -> bool:
        return self.claims.get("azp") == client.get_client_id()

    def is_expired(self) -> bool:
        return False  # verification already refused expired tokens

    def is_revoked(self) -> bool:
        return False  # idem


def _find_token(token_string: str, hint: str | None) -> TokenObject | None:
    tokens = _services().tokens
    kinds = (
        ["refresh_token", "access_token"]
        if hint == "refresh_token"
        else ["access_token", "refresh_token"]
    )
    for kind in kinds:
        try:
            if kind == "access_token":
                return TokenObject(kind, tokens.verify_access_token(token_string))
            claims, record = tokens.verify_refresh_token(token_string)
            family = tokens.family(record["fid"])
            if record["state"] != "active" or family is None or family["state"] != "active":
                return None
            return TokenObject(kind, claims, record, family)
        except TokenError:
            continue
    return None


def _revocation_token(token_string: str) -> TokenObject | None:
    """The token a revocation names, as Keycloak's ``TokenRevocationEndpoint.checkToken``
    decodes it: signature and issuer, any expiry. An access or refresh token is returned
    (its session is checked after its client, :meth:`TokenService.revocation_holds`); another
    type of ours (an ID token) is 400 ``unsupported_token_type`` "Unsupported token type" in
    Keycloak's error style, unknown in the strict one (docs/reference/keycloak-behaviour.md,
    "Userinfo, introspection, revocation")."""
    tokens = _services().tokens
    try:
        claims = tokens.revocation_claims(token_string)
    except TokenError:
        return None
    if claims.get("typ") == "Bearer":
        return TokenObject("access_token", claims)
    if claims.get("typ") == "Refresh":
        return TokenObject("refresh_token", claims)
    if _services().settings.keycloak.error_style == "keycloak":
        raise OAuth2Error(
            keycloak_errors.DESCRIPTIONS["unsupported_token_type"],
            status_code=400,
            error="unsupported_token_type",
        )
    return None


def _preferred_username_after_session_state(claims: dict) -> dict:
    """The claims in the order of Keycloak's introspection answer
    (``docs/reference/pro-sante-connect.md`` §8): ``preferred_username`` moves right after
    ``session_state`` when the token has both."""
    if "preferred_username" not in claims or "session_state" not in claims:
        return dict(claims)
    ordered = {}
    for name, value in claims.items():
        if name != "preferred_username":
            ordered[name] = value
        if name == "session_state":
            ordered["preferred_username"] = claims["preferred_username"]
    return ordered


#: Keycloak's texts at introspection (``TokenIntrospectionEndpoint``) and revocation
#: (``TokenRevocationEndpoint``) for a request without ``token``, and introspection's for a
#: ``token_type_hint`` it does not know (docs/reference/keycloak-behaviour.md, "Userinfo,
#: introspection, revocation").
INTROSPECTION_TOKEN_NOT_PROVIDED = "Token not provided."  # noqa: S105 - a message
REVOCATION_TOKEN_NOT_PROVIDED = "Token not provided"  # noqa: S105 - a message
INTROSPECTION_UNSUPPORTED_HINT = "Unsupported token type."


#: UMA's hint at introspection, and the claims Keycloak's ``RPTIntrospectionProvider`` copies
#: from the token into its answer (an ``AccessToken`` holding ``jti``, ``acr``, ``typ``,
#: ``exp``, ``iat``, ``aud`` and ``nbf``, serialized in the token's own order).
RPT_HINT = "requesting_party_token"  # noqa: S105 - a type name
RPT_CLAIMS = frozenset({"jti", "acr", "typ", "exp", "iat", "aud", "nbf"})


def _duplicated_parameter() -> bool:
    """A form parameter sent more than once (RFC 6749 §3.2: "MUST NOT be included more than
    once"; Keycloak's ``checkParameterDuplicated`` reads the form body only)."""
    return keycloak_errors.repeated_parameter(flask_request.form)


class SanteidIntrospectionEndpoint(IntrospectionEndpoint):
    """RFC 7662 as Keycloak answers (``docs/reference/pro-sante-connect.md`` §8,
    ``docs/reference/keycloak-behaviour.md``, "Userinfo, introspection, revocation"): the
    token's claims, ``preferred_username`` right after ``session_state`` and no empty
    ``scope``, then ``client_id``, ``username``, ``token_type`` and ``active``.
    ``SubjectNameID`` is added only for access tokens, as PSC documents."""

    CLIENT_AUTH_METHODS = client_auth.methods_for("introspection")
    #: Keycloak's introspection providers, one per hint: the access and refresh tokens', and
    #: UMA's (``RPTIntrospectionProvider``), which authorization services, on by default,
    #: register.
    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token", RPT_HINT)

    def authenticate_endpoint_client(self, request):
        """A public client is refused before anything is read: 403 ``invalid_request``
        "Client not allowed.", Keycloak's ``TokenIntrospectionEndpoint.authorizeClient``."""
        client = super().authenticate_endpoint_client(request)
        if client.is_public:
            raise InvalidRequestError(keycloak_errors.CLIENT_NOT_ALLOWED, status_code=403)
        return client

    def check_params(self, request, client):
        """Keycloak's checks after client authentication, in its order: a repeated parameter,
        no ``token``, then an unknown ``token_type_hint`` (with ``error_style = "strict"``
        such a hint is ignored and every type searched, RFC 7662 §2.1)."""
        if _duplicated_parameter():
            raise InvalidRequestError(keycloak_errors.DUPLICATED_PARAMETER)
        if "token" not in request.form:
            raise InvalidRequestError(INTROSPECTION_TOKEN_NOT_PROVIDED)
        hint = request.form.get("token_type_hint")
        keycloak_style = _services().settings.keycloak.error_style == "keycloak"
        if keycloak_style and hint is not None and hint not in self.SUPPORTED_TOKEN_TYPES:
            raise InvalidRequestError(INTROSPECTION_UNSUPPORTED_HINT)

    def query_token(self, token_string, token_type_hint):
        """The token, ``None`` (inactive) if not ours or no longer valid. With the hint
        ``refresh_token``, Keycloak's ``RefreshTokenIntrospectionProvider`` also finds a
        refresh token inactive once its reuse is over (``TokenService.reuse_over``); the
        access-token provider, without a hint, does not look. With the hint
        ``requesting_party_token`` (Keycloak's error style), any of our tokens is looked for,
        as UMA's provider verifies it as an access token, and answered as that provider does
        (:meth:`introspect_token`)."""
        keycloak_style = _services().settings.keycloak.error_style == "keycloak"
        rpt = keycloak_style and token_type_hint == RPT_HINT
        token = _find_token(token_string, None if rpt else token_type_hint)
        if token is not None:
            token.as_rpt = rpt
        if (
            token is not None
            and token.kind == "refresh_token"
            and token_type_hint == "refresh_token"  # noqa: S105 - a type name
            and _services().tokens.reuse_over(token.claims, token.family or {})
        ):
            return None
        return token

    def check_permission(self, token, client, request):
        if not client.introspection_allowed:
            raise UnauthorizedClientError("This client is not allowed to introspect tokens")
        return True

    def introspect_token(self, token):
        claims = token.claims
        if _services().clients.get(claims.get("azp")) is None:
            # Keycloak's AccessTokenIntrospectionProvider.verifyClient: the token's client is
            # no longer registered, inactive (userinfo's "Client not found").
            return {"active": False}
        if _services().tokens.session_over(claims.get("sid")):
            # Keycloak's UserSessionUtil finds no valid user session: inactive
            # (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation").
            return {"active": False}
        if token.kind == "access_token":
            username = claims.get("preferred_username")
        else:
            username = Authentication.from_dict(token.family["auth"]).national_id
        if username and username != service_account(claims.get("azp") or ""):
            # Keycloak's TokenManager.checkTokenValidForIntrospection (isUserValid) finds the
            # token of a disabled or deleted user inactive (docs/reference/keycloak-behaviour.md,
            # "Disabled users"). A service-account token names nobody in the directory.
            professional = _services().directory.get(username)
            if professional is None or not professional.is_active:
                return {"active": False}
        if token.as_rpt:
            # Keycloak's RPTIntrospectionProvider: a few of the token's claims, then active
            # (no permissions: santeid issues no UMA token).
            payload = {name: value for name, value in claims.items() if name in RPT_CLAIMS}
            payload["active"] = True
            return payload
        payload = _preferred_username_after_session_state(claims)
        scope = payload.get("scope")
        if isinstance(scope, str) and not scope.strip():
            # Keycloak's AccessTokenIntrospectionProvider.introspect drops an empty scope
            # (RFC 6749 §3.3: one scope value or more), for access and refresh tokens alike.
            del payload["scope"]
        if token.kind == "access_token":
            payload["SubjectNameID"] = claims.get("preferred_username", "")
            token_type = "Bearer"  # noqa: S105 - a type name
        else:
            token_type = "Refresh"  # noqa: S105 - a type name
        payload["client_id"] = claims.get("azp")
        payload["username"] = username
        payload["token_type"] = token_type
        payload["active"] = True
        return payload


class SanteidRevocationEndpoint(RevocationEndpoint):
    """RFC 7009: revoking a refresh token ends its client's grants in its SSO session (and the
    session when no client is left in it); an access token is deny-listed."""

    CLIENT_AUTH_METHODS = client_auth.methods_for("revocation")

    def authenticate_endpoint_client(self, request):
        """The authenticated client's web origins may read the answer (Keycloak's
        ``TokenRevocationEndpoint.checkClient``, ``cors.allowedOrigins(session, client)``;
        ``cors.py``)."""
        client = super().authenticate_endpoint_client(request)
        cors.allow_origins_of(client)
        return client

    def check_params(self, request, client):
        """Keycloak's ``TokenRevocationEndpoint``, after client authentication: a form
        parameter sent more than once is ``invalid_request`` "duplicated parameter"
        (``checkParameterDuplicated``); then it reads ``token`` only: no ``token`` is
        ``invalid_request`` "Token not provided"; ``token_type_hint`` is ignored, whatever its
        value, and every type searched (RFC 7009 §2.1 allows it)."""
        if _duplicated_parameter():
            raise InvalidRequestError(keycloak_errors.DUPLICATED_PARAMETER)
        if "token" not in request.form:
            raise InvalidRequestError(REVOCATION_TOKEN_NOT_PROVIDED)

    def query_token(self, token_string, token_type_hint):
        return _revocation_token(token_string)

    def authenticate_token(self, request, client):
        """Keycloak's order (``TokenRevocationEndpoint.revoke``): the token and its type, its
        client ("Unmatching clients", whether its session lasts or not), then its session:
        a token whose session no longer holds its client is "Invalid token"."""
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token and not token.check_client(client):
            # RFC 7009 §2.1: refused. Keycloak's TokenRevocationEndpoint answers
            # invalid_request "Unmatching clients"; the strict style keeps Authlib's
            # invalid_grant.
            if _services().settings.keycloak.error_style == "keycloak":
                raise InvalidRequestError("Unmatching clients")
            raise InvalidGrantError("The token was issued to another client")
        if token and not _services().tokens.revocation_holds(token.claims):
            token = None
        request.credential = token
        return token

    def create_endpoint_response(self, request):
        status, body, headers = super().create_endpoint_response(request)
        if _services().settings.keycloak.error_style != "keycloak":
            return status, body, headers
        # Keycloak's TokenRevocationEndpoint: an empty 200 on success; for a token it cannot
        # find, a 200 that says so (RFC 7009 §2.2 only asks for the 200).
        if request.credential is None:
            return 200, {"error": "invalid_token", "error_description": "Invalid token"}, headers
        return 200, "", [(k, v) for k, v in headers if k.lower() != "content-type"]

    def revoke_token(self, token, request):
        """Keycloak's ``TokenRevocationEndpoint`` (docs/reference/keycloak-behaviour.md,
        "Userinfo, introspection, revocation"): a refresh token detaches its client from the
        SSO session — every grant of the client under it ends (``TokenService.detach_client``)
        — and the session ends with no client left in it; an access token ends alone."""
        services = _services()
        if token.kind == "refresh_token":
            # The grant the token belongs to, expired or not (authenticate_token found one).
            family_id = services.tokens.refresh_token_grant(token.claims)
            emptied = None if family_id is None else services.tokens.detach_client(family_id)
            if emptied is not None:
                end_session(services, emptied, logout=False)
        else:
            services.tokens.revoke_access_token(token.claims)


class SanteidAuthorizationServer(AuthorizationServer):
    """Authlib's server with Keycloak's client authentication and error bodies."""

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's loop over the methods, each client id read once per request: the
        public-client method comes first (``client_auth._ATTEMPT_ORDER``) and looks the client
        up, and the method it registered would read it again — a database round trip more
        with several hosts. The methods stay Authlib's (registered on ``_client_auth`` by
        :func:`create_authorization_server`), shared by every thread; each call gets its own
        memo.

        A client that does not authenticate is answered for any origin to read (Keycloak's
        ``AuthorizeClientUtil.authorizeClient``: ``cors.allowAllOrigins()`` before its
        refusal; ``cors.py``): no client's web origins are known yet."""
        looked_up: dict[str, object] = {}

        def query_once(client_id):
            if client_id not in looked_up:
                looked_up[client_id] = self.query_client(client_id)
            return looked_up[client_id]

        authentication = copy.copy(self._client_auth)
        authentication.query_client = query_once
        try:
            return authentication(request, methods, endpoint)
        except InvalidClientError as error:
            cors.allow_any_origin()
            raise client_auth.invalid_client(error, endpoint, request, query_once) from None

    def create_token_response(self, request=None):
        request = self.create_oauth2_request(request)
        if request.form.get("grant_type") is None:
            # Keycloak's TokenEndpoint.checkGrantType (RFC 6749 §5.2 invalid_request), for an
            # absent grant_type only: an empty one names no grant, unsupported_grant_type.
            return self.handle_error_response(request, keycloak_errors.missing_grant_type())
        if request.form.get("grant_type") != refused_grants.UMA and _duplicated_parameter():
            # Keycloak's TokenEndpoint: the grant type, then the client, then
            # checkParameterDuplicated, for every grant but UMA's, which authenticates its
            # caller itself and repeats "permission" (RFC 6749 §5.2 invalid_request).
            try:
                self.get_token_grant(request).authenticate_token_endpoint_client()
            except OAuth2Error as error:
                return self.handle_error_response(request, error)
            duplicated = InvalidRequestError(keycloak_errors.DUPLICATED_PARAMETER)
            return self.handle_error_response(request, duplicated)
        return super().create_token_response(request)

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request  # already built (create_token_response above)
        return super().create_oauth2_request(request)

    def handle_error_response(self, request, error):
        return super().handle_error_response(request, keycloak_errors.with_description(error))


def create_authorization_server(clients: ClientRegistry) -> SanteidAuthorizationServer:
    """The server with its grants, endpoints and client authentication methods; the web layer
    loads Flask's configuration into it (``oidc.routes.init_app``)."""
    server = SanteidAuthorizationServer(
        query_client=clients.get, save_token=lambda token, request: None
    )
    client_auth.register_methods(server)
    server.register_client_auth_method(
        client_auth.PRIVATE_KEY_JWT, PrivateKeyJWT(leeway=client_auth.ASSERTION_CLOCK_SKEW)
    )
    server.register_client_auth_method(
        client_auth.CLIENT_SECRET_JWT, ClientSecretJWT(leeway=client_auth.ASSERTION_CLOCK_SKEW)
    )
    server.register_client_auth_method(client_auth.TLS_CLIENT_AUTH, TlsClientAuth())
    server.register_grant(AuthorizationCodeGrant, [PerClientCodeChallenge(required=False)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    for refused in refused_grants.GRANTS:
        server.register_grant(refused)
    server.register_endpoint(SanteidIntrospectionEndpoint)
    server.register_endpoint(SanteidRevocationEndpoint)
    return server

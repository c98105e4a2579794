"""Tokens shaped as Pro Santé Connect issues them (docs/reference/pro-sante-connect.md §5–§8).

* Access token: a JWT signed with the realm key, PSC's claim set and order, no ``aud``
  (docs/reference/pro-sante-connect.md §6), 120 s by default; for a client authenticated by
  its certificate, bound to it by ``cnf.x5t#S256`` (RFC 8705 §3.1).
* ID token: OIDC Core §2 claims plus PSC's ``SubjectNameID``, ``authMode``, names, and the
  ``auth_level`` and ``scope`` of PSC's production ID tokens (§7).
* Refresh token: a JWT as Keycloak issues it — signed with the realm's HMAC secret (HS512,
  never published; clients only decode it to read ``exp``), ``typ`` ``Refresh``, ``aud`` the
  realm (docs/reference/keycloak-behaviour.md, "Refresh tokens") — backed by a server-side
  record so it can be revoked. Refresh tokens are grouped in a *family* (one per
  authorization code). By default, as Keycloak's "Revoke Refresh Token" off, a refresh token
  works until it expires, so two tabs refreshing at once both succeed. With
  ``refresh_token_revoke`` on, Keycloak's rotation: a token works
  ``refresh_token_max_reuse`` + 1 times, an older one is "stale" once a newer one was used,
  and either refusal revokes the family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2); its
  refresh tokens then carry Keycloak's ``reuse_id``, the family's (:func:`reuse_id`).

Store (``docs/storage.md``): the records of kinds
:data:`~santeid.storage.records.REFRESH_TOKEN_FAMILY` (with rotation, ``current_rt``/
``refreshed_at``: the refresh token last used, and when),
:data:`~santeid.storage.records.REFRESH_TOKEN` and
:data:`~santeid.storage.records.AUTHORIZATION_CODE`; the keys ``keys.FAMILY_ACCESS_TOKENS``
(access-token ids of a family), ``keys.REFRESH_TOKEN_USES`` (uses of a refresh token, with
rotation), ``keys.REVOKED_ACCESS_TOKEN`` (access-token deny list) and ``keys.SESSION_FAMILIES``
(families opened under an SSO session, revoked at logout; a client's, at the revocation of
one of its refresh tokens).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from santeid.clock import system_clock
from santeid.keystore import ALGORITHMS
from santeid.keystore import HMAC_ALGORITHM
from santeid.keystore import InvalidSignature
from santeid.oidc import keycloak_errors
from santeid.oidc import scopes
from santeid.oidc.authentication import Authentication
from santeid.oidc.clients import require_signing_key
from santeid.oidc.sessions import SessionStore
from santeid.psc.claims import other_ids_member
from santeid.psc.claims import sub_for
from santeid.storage import keys as store_keys
from santeid.storage.base import Batch
from santeid.storage.records import AUTHORIZATION_CODE
from santeid.storage.records import REFRESH_TOKEN
from santeid.storage.records import REFRESH_TOKEN_FAMILY
from santeid.storage.records import Record
from santeid.storage.records import RecordBook

if TYPE_CHECKING:
    from santeid.directory.models import Professional

#: PSC's production ID tokens carry ``auth_level`` "1" whatever the means (its meaning is not
#: published; docs/reference/pro-sante-connect.md §7, §11).
AUTH_LEVEL = "1"
#: Refresh tokens are HS512; those signed by a version of santeid that used the realm's
#: signing key are accepted until they expire.
REFRESH_TOKEN_ALGS = [HMAC_ALGORITHM, *ALGORITHMS]
#: The refresh token's hash in a CIBA push-mode ID token (CIBA Core 1.0 §10.3.1,
#: https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html#rfc.section.10.3.1).
RT_HASH_CLAIM = "urn:openid:params:jwt:claim:rt_hash"
#: The shortest time a revoked access token stays denied, as Keycloak's
#: ``TokenRevocationEndpoint.revokeAccessToken``.
REVOKED_ACCESS_TOKEN_MIN = 10


class TokenError(Exception):
    """A token that cannot be accepted: unsigned by us, expired, revoked or malformed."""


class ForeignIssuer(TokenError):
    """A token signed with our keys whose ``iss`` is not our issuer (one issued before the
    issuer changed): ``claims`` are its claims, for a refusal that names them."""

    def __init__(self, claims: dict):
        super().__init__("token issued by another issuer")
        self.claims = claims


#: What :meth:`TokenService.verify_access_token` says of an access token whose grant ended
#: with it (a logout of its session, its refresh token revoked, a refused reuse, a replayed
#: code) rather than being revoked alone: Keycloak's userinfo words the two apart
#: (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation").
GRANT_ENDED = "the session or grant of the token has ended"
#: Why :meth:`TokenService.check_live` refuses a token whose session is over.
SESSION_OVER = "its session has ended"
#: Why :meth:`TokenService.check_live` refuses a token whose SSO session is still stored but
#: past its timeouts: Keycloak's userinfo words it apart from a session not found
#: (docs/reference/keycloak-behaviour.md, "An SSO session found over").
SESSION_STORED_OVER = "its session is stored but past its timeouts"


class RefreshRefused(TokenError):
    """A refresh token the token endpoint refuses; the message is Keycloak's
    ``error_description`` for the ``invalid_grant`` (docs/reference/keycloak-behaviour.md).
    ``session``: the SSO session of a "Session not active" (a CIBA grant: the grant), which
    the token endpoint ends if it is still stored (``session_end.end_session_found_over``)."""

    def __init__(self, description: str, *, session: str | None = None):
        super().__init__(description)
        self.session = session


class UnknownSubject(Exception):
    """The professional of a grant is no longer in the directory."""


class SubjectDisabled(UnknownSubject):
    """The professional of a grant is inactive in the directory (Keycloak's disabled user,
    docs/reference/keycloak-behaviour.md, "Disabled users"); whoever handles a professional
    gone from the directory handles this one too, unless it says otherwise."""


class SessionEnded(Exception):
    """The session of a grant reached ``sso_max_lifetime`` before its tokens were issued;
    Keycloak's ``error_description`` for the ``invalid_grant`` is the message."""


class SessionGone(SessionEnded):
    """The SSO session of a grant was closed (logout) or expired before its tokens were
    issued: Keycloak finds no user session for the code and answers "Code not valid"
    (docs/reference/keycloak-behaviour.md, "Token endpoint")."""


def service_account(client_id: str) -> str:
    """The subject of ``client_id``'s ``client_credentials`` tokens (Keycloak's convention)."""
    return f"service-account-{client_id}"


def is_service_account_token(claims: dict) -> bool:
    """An access token of the ``client_credentials`` grant (:meth:`TokenService.
    issue_client_token`): no professional behind it, whatever its scope."""
    azp = claims.get("azp")
    return isinstance(azp, str) and claims.get("sub") == service_account(azp)


def _uuid() -> str:
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def reuse_id(family_id: str) -> str:
    """The ``reuse_id`` claim of the refresh tokens of the grant ``family_id`` with
    ``refresh_token_revoke`` on: Keycloak's ``AccessTokenResponseBuilder.generateRefreshToken``
    gives the first refresh token of a grant a new random UUID and each refresh copies it —
    the chain whose uses its rotation counts together, as santeid counts a family's
    (docs/reference/keycloak-behaviour.md, "Refresh tokens: timeouts and rotation, method by
    method"). Derived from the family's id rather than stored: the same for every token of the
    family, distinct from the family's other ids (a CIBA grant's ``sid`` is its family id) and
    shaped as a version-4 UUID, as Keycloak's."""
    digest = hashlib.sha256(b"reuse_id:" + family_id.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of the SHA-256 digest (all our algorithms are *256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@dataclass(frozen=True)
class OpenedFamily:
    """A grant's refresh-token family queued by :meth:`TokenService.open_family`: its id and
    the SSO session as that check found it live (None for a grant without one: CIBA)."""

    id: str
    session: Record | None


@dataclass
class RefreshGrant:
    """A refresh token that passed signature, expiry and state checks."""

    jti: str
    iat: int
    family_id: str
    family: dict
    client_id: str
    authentication: Authentication
    scope: str
    nonce: str | None
    #: The ``x5t#S256`` the tokens of this refresh are bound to (RFC 8705 §3), or None: what
    #: :meth:`TokenService.refresh_grant`'s ``certificate_check`` returned, else the refresh
    #: token's own ``cnf.x5t#S256``.
    certificate_thumbprint: str | None = None

    # Authlib's RefreshTokenGrant asks these of the credential.
    def check_client(self, client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


class TokenService:
    def __init__(self, settings, store, keys, directory, clock=system_clock):
        self.settings = settings
        self.store = store
        self.keys = keys
        self.directory = directory
        self.clock = clock
        #: Authorization codes: redeemed for the tokens of a new family, a replay revokes it.
        self.codes = RecordBook(store, AUTHORIZATION_CODE, clock=clock)
        self.families = RecordBook(store, REFRESH_TOKEN_FAMILY, clock=clock)
        self.refresh_tokens = RecordBook(store, REFRESH_TOKEN, clock=clock)
        #: The SSO sessions the grants belong to (the application's ``Services.sessions``).
        self.sessions = SessionStore(
            store,
            max_lifetime=settings.login.sso_max_lifetime,
            idle_timeout=settings.login.sso_idle_timeout,
            clock=clock,
        )

    # -- issuing ------------------------------------------------------------
    def id_token_alg(self, client, scope: str) -> str | None:
        """The algorithm of the ID token ``client`` gets for ``scope`` (``None``: no ID token,
        no ``openid``), checked before anything of a grant is written or counted.

        :raises SigningKeyUnavailable: the client's ``id_token_signed_response_alg`` has no
            active key (docs/keys.md).
        """
        if not scopes.is_openid(scope):
            return None
        return self.id_token_signing_alg(client)

    def id_token_signing_alg(self, client) -> str:
        """The algorithm of ``client``'s ID tokens — and of its logout tokens, which the client
        validates as an ID token (Back-Channel Logout 1.0 §2.6; Keycloak's
        ``DefaultTokenManager.signatureAlgorithm`` maps ``LOGOUT`` to the client's
        ``id_token_signed_response_alg`` as ``ID``, docs/reference/keycloak-behaviour.md,
        "Logout"): the one it registered, else ``signing_alg``.

        :raises SigningKeyUnavailable: the registered algorithm has no active key.
        """
        registered = require_signing_key(
            client, "id_token_signed_response_alg", self.keys.signing_algorithms
        )
        return registered or self.settings.oidc.signing_alg

    def authorization_response_alg(self, client) -> str:
        """The algorithm of ``client``'s JARM response JWTs (``santeid.oidc.authorize``): its
        ``authorization_signed_response_alg`` (JARM §3), else ``signing_alg``, as Keycloak's
        ``DefaultTokenManager.signatureAlgorithm`` maps ``AUTHORIZATION_RESPONSE`` to the
        client's ``authorization.signed.response.alg``, else the realm's default (RS256).

        :raises SigningKeyUnavailable: the registered algorithm has no active key.
        """
        registered = require_signing_key(
            client, "authorization_signed_response_alg", self.keys.signing_algorithms
        )
        return registered or self.settings.oidc.signing_alg

    def session_end(self, authentication: Authentication) -> int:
        """When the session of ``authentication`` reaches ``sso_max_lifetime``: no token of it
        outlives that instant, and no refresh is granted from it. Keycloak's ``TokenManager``
        caps access and refresh tokens at the user session's start + SSO Session Max
        (docs/reference/keycloak-behaviour.md, "Refresh tokens")."""
        return authentication.session_start + self.settings.login.sso_max_lifetime

    def refresh_lifetime(self, authentication: Authentication, now: int) -> int:
        """Seconds a refresh token issued ``now`` under the session of ``authentication``
        lives — Keycloak's ``min(now + SSO Session Idle, session start + SSO Session Max)``
        (``TokenManager.AccessTokenResponseBuilder.generateRefreshToken``,
        docs/reference/keycloak-behaviour.md, "Refresh tokens"), with
        ``refresh_token_lifetime`` as Keycloak's Client Session Idle when it is shorter. The
        issuing restarts the session's idle time (:meth:`issue`), so the token and the idle
        session lapse together. A CIBA login is a session of its own with the same timeouts
        (its grant's family stands for it). Its grant checked that the session is not over."""
        oidc, login = self.settings.oidc, self.settings.login
        idle = min(oidc.refresh_token_lifetime, login.sso_idle_timeout)
        return max(1, min(idle, self.session_end(authentication) - now))

    def session_over(self, sid: str | None) -> bool:
        """The session a token names by its ``sid`` has ended: an SSO session that no longer
        lasts (logged out, idle for ``sso_idle_timeout``, past ``sso_max_lifetime``), or a
        grant without one (CIBA: the grant is its ``sid``) whose family is gone or revoked.
        False for a token without ``sid`` (``client_credentials``). Keycloak checks the user
        session of every token it accepts: refresh "Session not active", userinfo
        "user_session_not_found", introspection inactive (docs/reference/keycloak-behaviour.md,
        "Refresh tokens"; "Userinfo, introspection, revocation")."""
        if not sid or not isinstance(sid, str):
            return False
        return not self.sessions.exists(sid) and self._no_grant_holds(sid)

    def _no_grant_holds(self, sid: str) -> bool:
        """No SSO session is ``sid``: neither does a live grant that is its own session —
        active, and not past ``sso_max_lifetime`` (:meth:`grant_reached_end`)."""
        grant = self.own_session_grant(sid)
        return grant is None or self.grant_reached_end(grant)

    def own_session_grant(self, sid: str) -> dict | None:
        """The active grant without an SSO session (CIBA) whose ``sid`` is the grant itself —
        Keycloak's user session of its own (``CibaGrantType.createUserSession``) — or None."""
        family = self.family(sid)
        if family is None or family["auth"].get("sid") or family["state"] != "active":
            return None
        return family

    def grant_reached_end(self, family: dict) -> bool:
        """The grant ``family`` (:meth:`own_session_grant`) is past ``sso_max_lifetime`` — a
        restart lowered it, as a session stored but over (``SessionStore.over``)."""
        return self.session_reached_end(Authentication.from_dict(family["auth"]))

    def check_live(self, claims: dict) -> None:
        """:meth:`check_not_denied`, then :meth:`session_over` of the token's ``sid``
        (:data:`SESSION_OVER`; :data:`SESSION_STORED_OVER` for a session record still stored
        but past its timeouts, ``SessionStore.over``, or a grant that is its own session past
        ``sso_max_lifetime``, :meth:`grant_reached_end`), the deny-list entry and the SSO
        session read together: one store round trip (docs/storage.md).

        :raises TokenError: as those checks, in that order."""
        deny_key = store_keys.REVOKED_ACCESS_TOKEN.key(str(claims.get("jti")))
        sid = claims.get("sid")
        if not sid or not isinstance(sid, str):
            self._refuse_denied(self.store.get(deny_key))
            return
        session_key = self.sessions.book.key(sid)
        denial, session = self.store.get_many(deny_key, session_key)
        self._refuse_denied(denial)
        stored = self.sessions.book.found(session_key, session)
        if self.sessions.lasting(stored) is not None:
            return
        grant = self.own_session_grant(sid)
        if grant is None:
            raise TokenError(SESSION_OVER if stored is None else SESSION_STORED_OVER)
        if self.grant_reached_end(grant):
            raise TokenError(SESSION_STORED_OVER)

    def open_family(
        self,
        *,
        client,
        authentication: Authentication,
        scope: str,
        nonce: str | None,
        batch: Batch | None = None,
        session: Record | None = None,
    ) -> OpenedFamily:
        """Create the refresh-token family of one authorization grant: written at once, or
        when ``batch`` runs (``docs/storage.md``: one round trip with the grant's other
        writes). ``session``: the login's SSO session as :meth:`live_session` found it earlier
        in the same request (the code exchange reads it among its first checks), not read
        again; a logout since is caught as below.

        :raises SessionEnded: the login's session reached ``sso_max_lifetime``
            (:meth:`session_reached_end`; Keycloak's "Session not active", a user session that
            exists but is no longer valid); nothing is written.
        :raises SessionGone: the login's SSO session no longer exists (logged out, expired).
            A logout that runs while the family joins the session is caught by
            :meth:`session_ended` once the family's writes have run.
        """
        if self.session_reached_end(authentication):
            raise SessionEnded(keycloak_errors.SESSION_NOT_ACTIVE)
        if session is None:
            session = self.live_session(authentication)
        fid = _uuid()
        record = {
            "client_id": client.get_client_id(),
            "auth": authentication.to_dict(),
            "scope": scope,
            "nonce": nonce,
            # When the grant began: a refresh token no older than that may be revoked by it
            # once expired (:meth:`refresh_token_grant`).
            "opened": int(self.clock()),
        }
        writes = self.store.batch() if batch is None else batch
        self.families.create(
            fid,
            record,
            lifetime=self.refresh_lifetime(authentication, int(self.clock())),
            batch=writes,
        )
        if authentication.sid:
            writes.add_member(
                store_keys.SESSION_FAMILIES.key(authentication.sid),
                fid,
                self.settings.login.sso_max_lifetime,
            )
        if batch is None:
            writes.run()
        return OpenedFamily(fid, session)

    def session_reached_end(self, authentication: Authentication) -> bool:
        """The session of ``authentication`` reached ``sso_max_lifetime``: the session store's
        rule (``SessionStore.reached_max_lifetime``), from the session's start as the login
        carries it. The one test of it for a grant: the code exchange asks it among its first
        checks (such a session is not read), again where Keycloak's ``isSessionValid`` runs,
        after the client, and once more in :meth:`open_family`, which CIBA's redemption calls
        too; a refresh asks it in :meth:`refresh_grant`."""
        return self.sessions.reached_max_lifetime(authentication.session_start, int(self.clock()))

    def live_session(self, authentication: Authentication) -> Record | None:
        """The SSO session of a login, still open, or None for a login without one (CIBA).

        :raises SessionGone: the login had a session, and it was closed (logout) or expired.
        """
        if not authentication.sid:
            return None
        session = self.sessions.live(authentication.sid)
        if session is None:
            raise SessionGone(keycloak_errors.CODE_NOT_VALID)
        return session

    def professional_of(self, authentication: Authentication) -> Professional:
        """The professional a grant is issued for, as the directory holds them now.

        :raises UnknownSubject: gone from the directory (Keycloak's "User not found").
        :raises SubjectDisabled: inactive (Keycloak's "User disabled").
        """
        professional = self.directory.get(authentication.national_id)
        if professional is None:
            raise UnknownSubject(authentication.national_id)
        if not professional.is_active:
            raise SubjectDisabled(authentication.national_id)
        return professional

    def session_ended(self, authentication: Authentication) -> bool:
        """A logout marked the SSO session of ``authentication`` as ended. Read after a family
        has joined the session's set: a logout marks the session before it reads that set
        (``logout.end_session``), so a family that joined too late for the logout to revoke
        it sees the mark here, and its grant revokes it."""
        return self.session_ended_sid(authentication.sid)

    def session_ended_sid(self, sid: str | None) -> bool:
        """:meth:`session_ended` of the SSO session ``sid``."""
        return bool(sid) and self.store.get(store_keys.SESSION_ENDED.key(str(sid))) is not None

    def issue(
        self,
        *,
        client,
        authentication: Authentication,
        scope: str,
        family_id: str,
        nonce: str | None = None,
        include_refresh: bool = True,
        extra_id_claims: dict | None = None,
        with_rt_hash: bool = False,
        opened: OpenedFamily | None = None,
        certificate_thumbprint: str | None = None,
        batch: Batch | None = None,
        grant_scope: str | None = None,
    ) -> dict:
        """Build the token response (RFC 6749 §5.1, Keycloak field order).

        ``grant_scope``: the scope the grant was given, when ``scope`` (that of the access
        token and the response) is narrower — a refresh that names fewer scopes. As in
        Keycloak, the refresh token keeps the grant's scope and the grant's scope decides the
        ID token (docs/reference/keycloak-behaviour.md, "Refresh tokens").

        ``extra_id_claims`` are added to the ID token, and ``with_rt_hash`` adds the refresh
        token's hash (:data:`RT_HASH_CLAIM`) (both for CIBA push mode, CIBA Core §10.3.1).
        ``opened``: the family :meth:`open_family` queued in this request (its id is
        ``family_id``), which already lives as long as this refresh token and needs no write.
        ``certificate_thumbprint``: the certificate of the token request
        (``santeid.oidc.tls_client_auth.bound_certificate_thumbprint``); the access token and
        the refresh token are bound to it (``cnf``, RFC 8705 §3.1), as Keycloak binds both, so
        that the refresh token is redeemed with that certificate alone
        (``refresh_certificate_thumbprint``).
        A refresh token issued under an SSO session restarts its idle time
        (:meth:`SessionStore.keep_alive`): a code exchange or a refresh is a use of the session;
        after :meth:`open_family`, from the session it read, with the batch's writes.
        ``batch``: the writes this request has queued (the family opened, the grant
        consumed), which the token writes join; it runs here, before any token is signed, so
        that the lot is one store round trip, and the caller reads its own outcomes after.
        It runs even when the professional is gone, as unbatched writes would have; it does
        not run when the client's ID-token algorithm has no key (:meth:`id_token_alg`): the
        grant is then neither consumed nor opened."""
        if opened is not None and opened.id != family_id:
            raise ValueError("opened is another family than family_id")
        family_just_opened = opened is not None
        if grant_scope is None:
            grant_scope = scope
        id_alg = self.id_token_alg(client, grant_scope)
        writes = self.store.batch() if batch is None else batch
        try:
            professional = self.professional_of(authentication)
        except UnknownSubject:
            writes.run()
            raise
        now = int(self.clock())
        settings = self.settings
        # No token outlives its session (Keycloak: ``expires_in`` and ``refresh_expires_in``
        # shrink as the session nears its maximum). The grant checked that it is not over.
        session_end = self.session_end(authentication)
        access_exp = min(now + settings.oidc.access_token_lifetime, session_end)
        refresh_exp = now + self.refresh_lifetime(authentication, now)
        sub = sub_for(authentication.national_id, settings.oidc.federation_id)
        sid = authentication.sid or family_id
        client_id = client.get_client_id()

        at_jti = _uuid()
        rt_jti = _uuid() if include_refresh else ""
        # Listed as long as any of the family's access tokens can live: a logout or a refused
        # reuse revokes what the list holds, so a list gone before its tokens would leave them
        # working (an access token lifetime set above the refresh token's).
        writes.add_member(
            store_keys.FAMILY_ACCESS_TOKENS.key(family_id),
            at_jti,
            max(settings.oidc.access_token_lifetime, settings.oidc.refresh_token_lifetime),
        )
        renewed = None
        if include_refresh:
            self.refresh_tokens.create(
                rt_jti,
                {"fid": family_id, "client_id": client_id},
                lifetime=max(1, refresh_exp - now),
                batch=writes,
            )
            if not family_just_opened:
                # Keep the family alive as long as its newest refresh token.
                renewed = self.families.update_in(
                    writes,
                    self.families.key(family_id),
                    {},
                    lifetime=max(1, refresh_exp - now),
                )
        session_kept_alive = False
        if include_refresh and opened is not None and opened.session is not None:
            # The refresh token and the session's idle time start together.
            self.sessions.keep_alive_in(writes, opened.session)
            session_kept_alive = True
        writes.run()
        if not family_just_opened:
            # A revocation of the family that listed its access tokens before this one joined
            # (a concurrent reuse refusal, a logout) has already marked the family: the token
            # is born revoked, and the refresh token issued with it is refused with the family.
            # The renewal ran after the access token joined the list, so it tells.
            family = self.families.get(family_id) if renewed is None else renewed.value
            if family is None or family.state != "active":
                self._deny_access_token(at_jti, "family", settings.oidc.access_token_lifetime)
        if include_refresh and authentication.sid and not session_kept_alive:
            self.sessions.keep_alive(authentication.sid)

        access_claims = {
            "exp": access_exp,
            "iat": now,
            "auth_time": authentication.auth_time,
            "jti": at_jti,
            "iss": settings.issuer,
            "sub": sub,
            "typ": "Bearer",
            "azp": client_id,
            "nonce": nonce or "",
            "session_state": sid,
            "acr": authentication.acr,
            "scope": scope,
            "sid": sid,
            "authMode": authentication.auth_mode,
            **other_ids_member(professional),
            "preferred_username": authentication.national_id,
        }
        if certificate_thumbprint:
            access_claims["cnf"] = {"x5t#S256": certificate_thumbprint}
        access_token = self.keys.sign(access_claims, alg=settings.oidc.signing_alg)
        # Keycloak's ``AccessTokenResponse.refreshExpiresIn`` is a ``long``: always written, 0
        # when no refresh token is issued (docs/reference/keycloak-behaviour.md, "Token
        # endpoint").
        response: dict = {
            "access_token": access_token,
            "expires_in": access_exp - now,
            "refresh_expires_in": 0,
        }
        if include_refresh:
            refresh_claims = {
                "exp": refresh_exp,
                "iat": now,
                "jti": rt_jti,
                "iss": settings.issuer,
                "aud": settings.issuer,
                "sub": sub,
                "typ": "Refresh",
                "azp": client_id,
                "nonce": nonce or "",
                "session_state": sid,
                "scope": grant_scope,
                "sid": sid,
            }
            if certificate_thumbprint:
                refresh_claims["cnf"] = {"x5t#S256": certificate_thumbprint}
            if settings.oidc.refresh_token_revoke:
                refresh_claims["reuse_id"] = reuse_id(family_id)
            refresh_token = self.keys.sign(refresh_claims, alg=HMAC_ALGORITHM)
            response["refresh_expires_in"] = refresh_exp - now
            response["refresh_token"] = refresh_token
        response["token_type"] = "Bearer"  # noqa: S105 - a type name, not a secret

        if id_alg is not None:
            id_claims = self._id_token_claims(
                client_id=client_id,
                sub=sub,
                now=now,
                # Keycloak's generateIDToken copies the access token's exp: an adapter that
                # validates its grant's ID token at every request (keycloak-connect) keeps the
                # grant as long as its access token (docs/reference/keycloak-behaviour.md,
                # "Refresh tokens").
                exp=access_exp,
                auth_time=authentication.auth_time,
                nonce=nonce,
            )
            id_claims.update(
                {
                    "session_state": sid,
                    "at_hash": at_hash(access_token),
                    "acr": authentication.acr,
                    "amr": list(authentication.amr),
                    "sid": sid,
                    "authMode": authentication.auth_mode,
                    "SubjectNameID": authentication.national_id,
                    "preferred_username": authentication.national_id,
                    "given_name": professional.given_name,
                    "family_name": professional.family_name,
                    "auth_level": AUTH_LEVEL,
                    "scope": scope,
                }
            )
            if with_rt_hash and include_refresh:
                # Same construction as at_hash (CIBA Core §10.3.1).
                id_claims[RT_HASH_CLAIM] = at_hash(response["refresh_token"])
            if extra_id_claims:
                id_claims.update(extra_id_claims)
            response["id_token"] = self.keys.sign(id_claims, alg=id_alg)
        response["not-before-policy"] = 0
        response["session_state"] = sid
        response["scope"] = scope
        return response

    def _id_token_claims(
        self,
        *,
        client_id: str,
        sub: str,
        now: int,
        exp: int,
        auth_time: int | None = None,
        nonce: str | None = None,
    ) -> dict:
        """The claims that open every ID token santeid issues, whatever the grant (OIDC Core
        §2, https://openid.net/specs/openid-connect-core-1_0.html#IDToken; Keycloak's
        ``TokenManager.AccessTokenResponseBuilder.generateIDToken``, which builds the ID token
        of every grant from its access token, docs/reference/keycloak-behaviour.md, "Token
        endpoint"): ``auth_time`` when there was an authentication, ``nonce`` when the request
        sent one — an empty ``nonce=`` too, as ``""``: Keycloak keeps the empty parameter
        (``AuthzEndpointRequestParser``) and writes the empty claim (docs/reference/
        keycloak-behaviour.md, "Tokens"). The caller adds the claims of its grant and signs
        with :meth:`id_token_alg`."""
        claims: dict = {"exp": exp, "iat": now}
        if auth_time is not None:
            claims["auth_time"] = auth_time
        claims.update(
            {
                "jti": _uuid(),
                "iss": self.settings.issuer,
                "aud": client_id,
                "sub": sub,
                "typ": "ID",
                "azp": client_id,
            }
        )
        if nonce is not None:
            claims["nonce"] = nonce
        return claims

    def issue_client_token(
        self, *, client, scope: str, certificate_thumbprint: str | None = None
    ) -> dict:
        """Tokens of the ``client_credentials`` grant (RFC 6749 §4.4): an access token for the
        client's service account, no refresh token (Keycloak's ``client_credentials.
        use_refresh_token``, off by default), and, when ``scope`` holds
        ``openid``, an ID token for the service account, as Keycloak issues one for every
        grant whose scope is an OpenID request (docs/reference/keycloak-behaviour.md, "Token
        endpoint").

        The access token is shaped as PSC's (same signature, ``typ`` and lifetime,
        docs/reference/pro-sante-connect.md §6) so that :meth:`verify_access_token` accepts
        it; its subject is the client's service account (Keycloak's convention:
        ``preferred_username`` ``service-account-<client_id>``), which no directory entry
        matches: userinfo describes the service account, the FHIR directory API accepts it.
        No session stands behind it (Keycloak's transient user session): no ``sid``, no
        ``session_state``. The ID token carries what Keycloak's ``generateIDToken`` copies from
        the access token (``sub``, ``azp``, ``exp``, no ``sid``), ``aud`` the client,
        ``at_hash``, and the claims of the access token whose mappers also write the ID token
        (``preferred_username``, ``clientId``); it is signed with the client's
        ``id_token_signed_response_alg``, as every ID token (:meth:`id_token_alg`, checked
        before anything is signed).
        """
        id_alg = self.id_token_alg(client, scope)
        now = int(self.clock())
        settings = self.settings
        client_id = client.get_client_id()
        subject = service_account(client_id)
        exp = now + settings.oidc.access_token_lifetime
        claims = {
            "exp": exp,
            "iat": now,
            "jti": _uuid(),
            "iss": settings.issuer,
            "sub": subject,
            "typ": "Bearer",
            "azp": client_id,
            "scope": scope,
            "clientId": client_id,
            "preferred_username": subject,
        }
        if certificate_thumbprint:
            claims["cnf"] = {"x5t#S256": certificate_thumbprint}  # RFC 8705 §3.1
        access_token = self.keys.sign(claims, alg=settings.oidc.signing_alg)
        response: dict = {
            "access_token": access_token,
            "expires_in": settings.oidc.access_token_lifetime,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
        }
        if id_alg is not None:
            id_claims = self._id_token_claims(client_id=client_id, sub=subject, now=now, exp=exp)
            id_claims.update(
                {
                    "at_hash": at_hash(access_token),
                    "preferred_username": subject,
                    "clientId": client_id,
                }
            )
            response["id_token"] = self.keys.sign(id_claims, alg=id_alg)
        response["not-before-policy"] = 0
        response["scope"] = scope
        return response

    # -- verifying ----------------------------------------------------------
    def _verified_claims(
        self, token: str, expected_typ: str | None, algs=None, *, check_expiry: bool = True
    ) -> dict:
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
            raise TokenError("malformed token")
        try:
            claims = self.keys.verify(token, algs=algs)["claims"]
        except InvalidSignature as exc:
            raise TokenError("invalid signature") from exc
        if claims.get("iss") != self.settings.issuer:
            raise ForeignIssuer(claims)
        if expected_typ is not None and claims.get("typ") != expected_typ:
            raise TokenError(f"not a {expected_typ} token")
        exp = claims.get("exp")
        if check_expiry and (not isinstance(exp, int) or exp <= self.clock()):
            raise TokenError("token expired")
        return claims

    def verify_access_token(self, token: str) -> dict:
        """Claims of a live access token of ours (RFC 6750 §3.1 ``invalid_token`` otherwise):
        :meth:`access_token_claims`, then :meth:`check_not_denied`."""
        claims = self.access_token_claims(token)
        self.check_not_denied(claims)
        return claims

    def access_token_claims(self, token: str) -> dict:
        """Claims of an access token of ours whose signature, issuer, type and expiry hold,
        revoked or not: the first of the checks of :meth:`verify_access_token`, for userinfo,
        which runs others before the revocation check, as Keycloak
        (docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation")."""
        return self._verified_claims(token, "Bearer")

    def check_not_denied(self, claims: dict) -> None:
        """Raise ``TokenError`` if the access token of ``claims`` is on the deny list: revoked
        alone, "token revoked"; with its family, :data:`GRANT_ENDED`."""
        self._refuse_denied(
            self.store.get(store_keys.REVOKED_ACCESS_TOKEN.key(str(claims.get("jti"))))
        )

    @staticmethod
    def _refuse_denied(denial: dict | None) -> None:
        """The refusal of an access token whose deny-list entry is ``denial``, if any."""
        if denial is not None:
            raise TokenError(GRANT_ENDED if denial.get("reason") == "family" else "token revoked")

    def _deny_access_token(self, jti: str, reason: str, lifetime: int) -> None:
        self.store.put(store_keys.REVOKED_ACCESS_TOKEN.key(jti), {"reason": reason}, lifetime)

    def verify_refresh_token(self, token: str) -> tuple[dict, dict]:
        """Claims and server record of a refresh token whose signature and expiry hold."""
        claims = self._verified_claims(token, "Refresh", REFRESH_TOKEN_ALGS)
        record = self.refresh_tokens.get(claims.get("jti"))
        if record is None:
            raise TokenError("unknown refresh token")
        return claims, record.data

    def foreign_refresh_token_refusal(self, refused: ForeignIssuer) -> str:
        """Keycloak's description of a token of ours under another issuer presented as a
        refresh token, at a refresh as at the refresh-token logout (both run
        ``TokenManager.verifyRefreshToken``: the type first, then the issuer,
        ``TokenVerifier.RealmUrlCheck``, then the expiry; docs/reference/keycloak-behaviour.md,
        "Refresh tokens")."""
        if refused.claims.get("typ") != "Refresh":
            return keycloak_errors.INVALID_REFRESH_TOKEN
        return keycloak_errors.invalid_token_issuer(self.settings.issuer, refused.claims.get("iss"))

    def logout_refresh_token_claims(self, token: str) -> dict:
        """Claims of a refresh token of ours presented to the refresh-token logout: its
        signature, issuer and type hold, expired or not, its server record gone or not —
        Keycloak's ``LogoutEndpoint`` verifies it without checking expiry
        (docs/reference/keycloak-behaviour.md, "Logout")."""
        return self._verified_claims(token, "Refresh", REFRESH_TOKEN_ALGS, check_expiry=False)

    def revocation_claims(self, token: str) -> dict:
        """Claims of a token of ours — its signature and issuer hold — of any type, expired or
        not: what Keycloak's ``TokenRevocationEndpoint.checkToken`` decodes before it reads
        the type, the client and the session (docs/reference/keycloak-behaviour.md,
        "Userinfo, introspection, revocation")."""
        return self._verified_claims(token, None, REFRESH_TOKEN_ALGS, check_expiry=False)

    def revocation_holds(self, claims: dict) -> bool:
        """Whether a revocation still finds the grant of a token of ours, whatever its expiry
        — Keycloak's ``TokenRevocationEndpoint.checkUser``
        (``UserSessionUtil.findValidSessionForAccessToken``: the user session valid, holding
        the token's client, whose client session did not start after the token; neither the
        token's expiry nor its revocation alone is looked at), else it answers "Invalid
        token" (docs/reference/keycloak-behaviour.md, "Userinfo, introspection,
        revocation"). A token holds while its session lasts: an access token while the grant
        that issued it is active, a refresh token while :meth:`refresh_token_grant` finds
        its grant; an access token without ``sid`` (``client_credentials``, Keycloak's
        transient session), always."""
        sid = claims.get("sid")
        jti = str(claims.get("jti"))
        if not sid or not isinstance(sid, str):
            return claims.get("typ") != "Refresh"
        if self.session_over(sid):
            return False
        if claims.get("typ") == "Refresh":
            return self.refresh_token_grant(claims) is not None
        grants = self.session_families(sid) if self.sessions.exists(sid) else {sid}
        for family_id in grants:
            family = self.family(family_id)
            if family is None or family["state"] != "active":
                continue
            if jti in self.store.members(store_keys.FAMILY_ACCESS_TOKENS.key(family_id)):
                return True
        return False

    def refresh_token_grant(self, claims: dict) -> str | None:
        """The live grant (family id) a revocation of the refresh token of ``claims`` ends,
        expired or not — Keycloak's client session of the token's client in its user session
        (``TokenRevocationEndpoint.revokeClientSession``, docs/reference/keycloak-behaviour.md,
        "Userinfo, introspection, revocation") — or None ("Invalid token"). While the token's
        server record lasts (until its ``exp``), its own grant, if still active. After that,
        a grant of the token's client (``azp``) still active in the token's session (``sid``)
        and opened no later than the second after the token's ``iat``: a token issued before
        its client was detached finds only newer grants, as Keycloak's ``checkTokenIssuedAt``
        finds its client session started after it (``iat + 1 < started``). The session must
        last (:meth:`session_over`)."""
        sid = claims.get("sid")
        if not sid or not isinstance(sid, str) or self.session_over(sid):
            return None
        record = self.refresh_tokens.get(str(claims.get("jti")))
        if record is not None:
            family = self.family(record.data["fid"])
            active = family is not None and family["state"] == "active"
            return record.data["fid"] if active else None
        iat = claims.get("iat")
        if not isinstance(iat, int):
            return None
        grants = self.session_families(sid) if self.sessions.exists(sid) else {sid}
        for family_id in sorted(grants):
            family = self.family(family_id)
            if (
                family is not None
                and family["state"] == "active"
                and family["client_id"] == claims.get("azp")
                and int(family.get("opened", 0)) <= iat + 1
            ):
                return family_id
        return None

    def id_token_hint_claims(self, token: str) -> dict | None:
        """Claims of an ID token we issued, expired or not (OIDC Core §3.1.2.1, RP-Initiated
        Logout §2 accept an expired hint), or None."""
        if not isinstance(token, str) or token.count(".") != 2:
            return None
        try:
            claims = self.keys.verify(token)["claims"]
        except InvalidSignature:
            return None
        if claims.get("iss") != self.settings.issuer or claims.get("typ") != "ID":
            return None
        return claims

    def family(self, family_id: str) -> dict | None:
        family = self.families.get(family_id)
        return None if family is None else family.data

    def refresh_grant(
        self,
        token: str,
        client_id: str | None = None,
        *,
        certificate_check: Callable[[str | None], str | None] | None = None,
    ) -> RefreshGrant:
        """Check a presented refresh token: signature, expiry, issued to ``client_id`` (when
        given), then its certificate binding, then its grant still active — Keycloak's order
        (``TokenManager.verifyRefreshToken``, which checks the certificate right after the
        client, then ``validateToken``, docs/reference/keycloak-behaviour.md, "Refresh
        tokens"). ``certificate_check`` (when given) is called with the thumbprint the token is
        bound to (its ``cnf.x5t#S256``, or None) and returns the one the new tokens are bound
        to, the grant's :attr:`RefreshGrant.certificate_thumbprint`
        (``santeid.oidc.tls_client_auth.refresh_certificate_thumbprint``); what it raises goes
        to the caller, nothing else checked.

        :raises RefreshRefused: with Keycloak's description of the refusal.
        """
        try:
            claims, record = self.verify_refresh_token(token)
        except ForeignIssuer as exc:
            raise RefreshRefused(self.foreign_refresh_token_refusal(exc)) from None
        except TokenError as exc:
            expired = str(exc) == "token expired"
            raise RefreshRefused(
                "Token is not active" if expired else keycloak_errors.INVALID_REFRESH_TOKEN
            ) from None
        if client_id is not None and record["client_id"] != client_id:
            raise RefreshRefused(keycloak_errors.REFRESH_TOKEN_OF_ANOTHER_CLIENT)
        bound_to = (claims.get("cnf") or {}).get("x5t#S256")
        thumbprint = bound_to if certificate_check is None else certificate_check(bound_to)
        family = self.family(record["fid"])
        if family is None or family["state"] != "active" or record["state"] != "active":
            raise RefreshRefused(self._ended_grant_text(family))
        authentication = Authentication.from_dict(family["auth"])
        if self.session_reached_end(authentication) or self.session_over(authentication.sid):
            # Reached when a timeout was lowered since (the token's own expiry says less), or
            # when the SSO session ended otherwise: Keycloak's "Session not active".
            raise RefreshRefused(
                keycloak_errors.SESSION_NOT_ACTIVE, session=authentication.sid or record["fid"]
            )
        professional = self.directory.get(authentication.national_id)
        if professional is None:
            # Keycloak's TokenManager.validateToken: the user session holds no user, after the
            # session check; nothing is revoked.
            raise RefreshRefused(keycloak_errors.INVALID_REFRESH_TOKEN)
        if not professional.is_active:
            # Keycloak's TokenManager.validateToken, after the session check; the grant is
            # not revoked: once active again, the professional's refresh token works again.
            raise RefreshRefused(keycloak_errors.USER_DISABLED)
        return RefreshGrant(
            jti=claims["jti"],
            iat=int(claims.get("iat") or 0),
            family_id=record["fid"],
            family=family,
            client_id=record["client_id"],
            authentication=authentication,
            scope=family["scope"],
            nonce=family.get("nonce"),
            certificate_thumbprint=thumbprint,
        )

    def _ended_grant_text(self, family: dict | None) -> str:
        """Keycloak's words for a refresh token whose grant ended (``TokenManager.
        validateToken``): its user session gone, "Session not active"; the session still
        there but without the token's client, :data:`keycloak_errors.SESSION_WITHOUT_CLIENT`;
        the client back in the session with a new grant — Keycloak's new client session, which
        started after the token was issued —
        :data:`keycloak_errors.REFRESH_TOKEN_BEFORE_CLIENT_SESSION`
        (docs/reference/keycloak-behaviour.md, "Refresh tokens")."""
        sid = (family or {}).get("auth", {}).get("sid")
        if not sid or not self.sessions.exists(sid) or self.session_ended_sid(sid):
            return keycloak_errors.SESSION_NOT_ACTIVE
        if (family or {}).get("client_id") in self.session_clients(sid):
            return keycloak_errors.REFRESH_TOKEN_BEFORE_CLIENT_SESSION
        return keycloak_errors.SESSION_WITHOUT_CLIENT

    def use_refresh_token(self, grant: RefreshGrant) -> None:
        """Count a use of a refresh token before new tokens are issued from it.

        Keycloak's default ("Revoke Refresh Token" off): nothing to count, the token stays
        usable until it expires. With ``refresh_token_revoke`` (Keycloak's
        ``TokenManager.validateTokenReuse``): a token older than the one last used is
        "Stale token"; the one in use may serve ``refresh_token_max_reuse`` + 1 times, counted
        atomically so that of two concurrent uses beyond the limit one is refused. Either
        refusal ends the grant — someone holds a copy of the token (RFC 9700 §4.14.2) — and
        every other grant of the client in the same SSO session, as Keycloak "will detach
        client session from user session" (``validateTokenReuseForRefresh``); the session
        and the other clients' grants stay (:meth:`detach_client`, whose emptied session is
        not ended here).

        :raises RefreshRefused: with Keycloak's description.
        """
        settings = self.settings
        if not settings.oidc.refresh_token_revoke:
            return
        family = grant.family
        if family.get("current_rt") != grant.jti:
            if self._stale(family, grant.jti, grant.iat):
                self.detach_client(grant.family_id)
                raise RefreshRefused("Stale token")
            self.families.update(
                self.families.key(grant.family_id),
                {"current_rt": grant.jti, "refreshed_at": int(self.clock())},
            )
        uses = self.store.incr(
            store_keys.REFRESH_TOKEN_USES.key(grant.jti), settings.oidc.refresh_token_lifetime
        )
        if uses > settings.oidc.refresh_token_max_reuse + 1:
            self.detach_client(grant.family_id)
            raise RefreshRefused("Maximum allowed refresh token reuse exceeded")

    @staticmethod
    def _stale(family: dict, jti: str, iat: int) -> bool:
        """Keycloak's "Stale token" (``TokenManager.validateTokenReuse``): issued before the
        grant's last refresh, which another token of the grant made."""
        current = family.get("current_rt")
        return current is not None and current != jti and iat < int(family.get("refreshed_at") or 0)

    def reuse_over(self, claims: dict, family: dict) -> bool:
        """Whether Keycloak's introspection with the hint ``refresh_token`` finds this refresh
        token of ``family`` spent (``RefreshTokenIntrospectionProvider.verifyTokenReuse``:
        ``TokenManager.validateTokenReuse`` without counting a use): with
        ``refresh_token_revoke``, stale, or the token last used and used more than
        ``refresh_token_max_reuse`` times — it would be refused at its next use. Counts
        nothing."""
        settings = self.settings
        if not settings.oidc.refresh_token_revoke:
            return False
        jti = str(claims["jti"])
        if self._stale(family, jti, int(claims["iat"])):
            return True
        if family.get("current_rt") != jti:
            return False
        uses = self.store.counter(store_keys.REFRESH_TOKEN_USES.key(jti))
        return uses > settings.oidc.refresh_token_max_reuse

    # -- revoking -----------------------------------------------------------
    def revoke_access_token(self, claims: dict) -> None:
        """Deny the access token of ``claims`` until past its ``exp``: Keycloak's
        ``TokenRevocationEndpoint.revokeAccessToken`` keeps its revoked-token entry
        ``exp`` − now + 1 seconds, 10 at least (``TokenRevocationTest.
        testRevokedAccessTokenCacheLifespan``): :func:`store_keys.lifetime_through`, the rule
        of every single-use marker kept until a JWT's ``exp``, so that the entry never lapses
        in the last fraction of a second before it (docs/reference/keycloak-behaviour.md,
        "Revocation and offline tokens")."""
        lifetime = max(
            store_keys.lifetime_through(int(claims["exp"]), self.clock()), REVOKED_ACCESS_TOKEN_MIN
        )
        self._deny_access_token(str(claims["jti"]), "revoked", lifetime)

    def revoke_family(self, family_id: str) -> None:
        """Revoke every token of a grant: its refresh tokens and the access tokens it issued."""
        # From "active" only: revoking twice (a replay after a logout) changes nothing.
        self.families.transition(self.families.key(family_id), "active", "revoked")
        for jti in self.store.members(store_keys.FAMILY_ACCESS_TOKENS.key(family_id)):
            self._deny_access_token(jti, "family", self.settings.oidc.access_token_lifetime)

    def detach_client(self, family_id: str) -> str | None:
        """Revocation of a refresh token of the grant ``family_id``, as Keycloak's
        ``TokenRevocationEndpoint.revokeClientSession`` detaches the token's client from its
        user session (docs/reference/keycloak-behaviour.md, "Userinfo, introspection,
        revocation"): every grant of that client opened under the same SSO session is revoked,
        not only this one. Returns the SSO session's id when no grant of any client is left
        alive in it — Keycloak then removes the user session, which the caller does
        (``session_end.end_session``) — else None. A grant without an SSO session (CIBA) is
        its own session: it alone is revoked."""
        family = self.family(family_id)
        sid = None if family is None else family["auth"].get("sid")
        if family is None or not sid:
            self.revoke_family(family_id)
            return None
        return self.detach_client_from_session(sid, family["client_id"])

    def detach_client_from_session(self, sid: str, client_id: str) -> str | None:
        """Keycloak's ``AuthenticatedClientSessionModel.detachFromUserSession`` of
        ``client_id``'s client session in the SSO session ``sid``: every grant of that client
        opened under the session is revoked (its refresh tokens then "Session doesn't have
        required client", its access tokens "user_session_not_found" at userinfo). Returns
        ``sid`` when no grant of any client is left alive in the session, else None; the caller
        decides whether that ends the session (:meth:`detach_client`)."""
        self.store.put(
            store_keys.CLIENT_SESSION.key(sid, client_id),
            {"state": "detached"},
            self.settings.login.sso_max_lifetime,
        )
        others_alive = False
        for other_id in self.session_families(sid):
            other = self.family(other_id)
            if other is None:
                continue
            if other["client_id"] == client_id:
                self.revoke_family(other_id)
            elif other["state"] == "active":
                others_alive = True
        return None if others_alive else sid

    def attach_client(self, sid: str, client_id: str, batch: Batch) -> None:
        """``client_id`` is in the SSO session ``sid`` from the authorization code issued to it
        now, as Keycloak makes the client session at the code: a detachment before no longer
        refuses the codes issued from here on (:meth:`client_detached`)."""
        batch.put(
            store_keys.CLIENT_SESSION.key(sid, client_id),
            {"state": "attached"},
            self.settings.login.sso_max_lifetime,
        )

    def client_detached(self, sid: str, client_id: str) -> bool:
        """``client_id`` was detached from the SSO session ``sid``
        (:meth:`detach_client_from_session`) and no code was issued to it there since: a code
        it holds was issued before, and finds no client session (Keycloak's "User session not
        found", docs/reference/keycloak-behaviour.md, "Token endpoint")."""
        record = self.store.get(store_keys.CLIENT_SESSION.key(sid, client_id))
        return record is not None and record.get("state") == "detached"

    def revoke_session(self, sid: str) -> None:
        """Logout: every grant opened under the SSO session ``sid`` stops working."""
        for family_id in self.session_families(sid):
            self.revoke_family(family_id)

    def session_families(self, sid: str) -> set[str]:
        """The token families opened under the SSO session ``sid``."""
        return self.store.members(store_keys.SESSION_FAMILIES.key(sid))

    def session_clients(self, sid: str) -> list[str]:
        """The clients still in the SSO session ``sid``: those holding a grant of it that has
        not ended — Keycloak's client sessions of the user session. A client detached from it
        (its refresh token revoked, a refused reuse, a replayed code) is not, until a new grant
        brings it back (docs/reference/keycloak-behaviour.md, "Logout", "Refresh tokens")."""
        clients: dict[str, None] = {}
        for family_id in self.session_families(sid):
            family = self.family(family_id)
            if family is not None and family["state"] == "active":
                clients.setdefault(family["client_id"], None)
        return list(clients)

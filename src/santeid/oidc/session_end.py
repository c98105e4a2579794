"""Ending an SSO session: the one place every path goes through — RP-initiated and
refresh-token logout (``oidc/logout.py``), another professional logging in on the browser
(``oidc/login_outcome.py``), the operators' ``santeid sessions logout`` (``cli/sessions.py``)
and a refresh, an authorization or a logout request that finds its session still stored but
past its timeouts (:func:`end_session_found_over`); and ending a grant without an SSO session
(CIBA), which the logouts reach by its own ``sid``.

Every token issued under the session is revoked, the session is closed, and its clients are
notified by OpenID Connect Back-Channel Logout 1.0 (``backchannel_logout.py``,
https://openid.net/specs/openid-connect-backchannel-1_0.html). The clients that took part are
returned: the logout page renders Front-Channel Logout 1.0 iframes for them
(https://openid.net/specs/openid-connect-frontchannel-1_0.html).

Protocol-neutral: no request, no Flask application; the services are passed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from santeid.observability import record as observe
from santeid.oidc import backchannel_logout
from santeid.psc.claims import sub_for
from santeid.storage import keys

if TYPE_CHECKING:
    from santeid.services import Services


def session_participants(svc: Services, sid: str) -> tuple[list, str | None]:
    """Clients still in the SSO session ``sid`` (``TokenService.session_clients``) and the
    professional's national id. A client detached from the session (its refresh token
    revoked, a refused reuse, a replayed code) is no longer told of its end: Keycloak logs out
    the user session's client sessions only (``AuthenticationManager.backchannelLogoutAll``,
    docs/reference/keycloak-behaviour.md, "Logout")."""
    current = svc.sessions.get(sid)
    national_id = None if current is None else current.national_id
    if national_id is None:
        # The session itself already gone: the professional named by any of its grants.
        for family_id in svc.tokens.session_families(sid):
            family = svc.tokens.family(family_id)
            if family is not None:
                national_id = family["auth"]["national_id"]
                break
    clients = [svc.clients.get(cid) for cid in svc.tokens.session_clients(sid)]
    return [c for c in clients if c is not None], national_id


def end_session(svc: Services, sid: str | None, *, logout: bool = True) -> list:
    """Close an SSO session, revoke every token issued under it and notify its clients by
    back-channel logout. Returns the clients that took part in the session (the logout page
    renders front-channel iframes for those that registered a ``frontchannel_logout_uri``).

    ``logout=False``: the session is removed as Keycloak removes a user session left without
    any client (``UserSessionProvider.removeUserSession`` after a token revocation,
    docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation") — no logout
    event, no back-channel logout: no client is left in it to notify."""
    if not sid:
        return []
    # Marked ended before its families are read, for notification as for revocation: a grant
    # that joins the session after those reads finds the mark and revokes its own tokens
    # (``TokenService.session_ended``); one that checked the mark before it was written had
    # joined before the reads, so its client is notified and its tokens revoked here.
    first_end = _mark_ended(svc, sid)
    clients, national_id = session_participants(svc, sid)
    svc.tokens.revoke_session(sid)
    svc.sessions.close(sid)
    if logout and national_id is not None and first_end:
        _announce(svc, clients, national_id=national_id, sid=sid)
    return clients


def end_session_found_over(svc: Services, sid: str | None) -> bool:
    """End the SSO session ``sid`` if it is still stored but past its timeouts
    (``SessionStore.over``), telling its clients as a logout does; True if it was. Keycloak's
    refresh of such a session (``TokenManager.validateToken``) and its identity cookie
    (``AuthenticationManager.verifyIdentityToken``) call ``backchannelLogout`` before they
    refuse it; a session already gone is told to no one (docs/reference/keycloak-behaviour.md,
    "An SSO session found over"). Once per session end, whatever the number of requests or
    hosts that find it: :func:`end_session`'s mark is written once (``_mark_ended``). A grant
    without an SSO session (CIBA), Keycloak's user session of its own, is ended the same way
    once it is past ``sso_max_lifetime`` (:func:`end_sessionless_grant`)."""
    if svc.sessions.over(sid):
        end_session(svc, sid)
        return True
    grant = svc.tokens.own_session_grant(sid) if sid else None
    if grant is None or not svc.tokens.grant_reached_end(grant):
        return False
    end_sessionless_grant(svc, str(sid))
    return True


def end_sessionless_grant(svc: Services, family_id: str) -> None:
    """End a grant without an SSO session (CIBA), whose ``sid`` is the grant itself: its
    tokens are revoked and, the first time, its client is told by back-channel logout, as
    :func:`end_session` tells a session's clients. Keycloak's CIBA login is an ordinary user
    session with one client session (``CibaGrantType.createUserSession`` →
    ``AuthenticationProcessor.attachSession``, docs/reference/keycloak-behaviour.md, "Refresh
    tokens"), logged out as any other. A grant already revoked (its refresh token revoked, a
    refused reuse) has no session left to log out: nothing is sent."""
    family = svc.tokens.family(family_id)
    if family is None:
        return
    first_end = _mark_ended(svc, family_id)
    svc.tokens.revoke_family(family_id)
    client = svc.clients.get(family["client_id"])
    if first_end and family["state"] == "active":
        clients = [] if client is None else [client]
        _announce(svc, clients, national_id=family["auth"]["national_id"], sid=family_id)


def _mark_ended(svc: Services, sid: str) -> bool:
    """Mark the session ``sid`` as ended; True the first time. A session ends once: a second
    logout naming it (an old ``id_token_hint``) notifies no one."""
    ended = keys.SESSION_ENDED.key(sid)
    return svc.store.add(ended, {"ended": True}, svc.settings.login.sso_max_lifetime)


def _announce(svc: Services, clients: list, *, national_id: str, sid: str) -> None:
    """The logout event, and the back-channel logout of ``clients``."""
    observe.logout(national_id, store=svc.events)
    backchannel_logout.notify(
        svc, clients, sub=sub_for(national_id, svc.settings.oidc.federation_id), sid=sid
    )

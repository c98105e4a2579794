"""Logout at ``…/protocol/openid-connect/logout`` (GET and POST), as Keycloak serves it
(``docs/reference/keycloak-behaviour.md``, Logout; ``docs/reference/pro-sante-connect.md §12``).

RP-Initiated Logout 1.0 (https://openid.net/specs/openid-connect-rpinitiated-1_0.html), by
GET or form POST alike (§2), decided as Keycloak's ``LogoutEndpoint.logout``:

* With a valid ``id_token_hint`` of a known client the session it names ends at once when the
  browser holds that session or none: this is also PSC's server-to-server logout (a GET with
  only the hint). The hint of a grant without a browser session (CIBA), whose ``sid`` names
  the grant, ends that grant (its tokens, and its client told by back-channel logout).
* Otherwise the browser is asked to confirm (§2: the OP SHOULD ask) — always when it holds
  another session than the hint's — so a third-party page cannot log a professional out. The
  confirmation posts to ``…/logout/logout-confirm`` with its CSRF token; a relying party's
  POST to ``…/logout`` carries none and needs none. One exception: without a hint and without
  a session in the browser, a known ``client_id`` with its registered
  ``post_logout_redirect_uri`` returns there at once (nothing to log out).
* ``post_logout_redirect_uri`` must be registered for the client (§3). With the default
  ``post_logout_redirect_policy = "keycloak"`` a client that registered no
  ``post_logout_redirect_uris`` may name one of its ``redirect_uris`` (Keycloak's "+");
  ``strict`` accepts only ``post_logout_redirect_uris``. ``state`` is echoed, in place of
  one the URI's query holds (Keycloak 26.6.7 and 26.7.3). Without a
  target, a "session fermée" page is shown, linking back to the client's ``client_uri``.
  Refusals are Keycloak's error pages (``keycloak_errors``).

Keycloak's refresh-token logout (its adapters, python-keycloak, keycloak-js): a ``POST`` with
client authentication and ``refresh_token`` ends the token's SSO session and answers 204.

``…/logout/backchannel-logout`` is where Keycloak receives the logout tokens of the identity
providers it brokers (``LogoutEndpoint.backchannelLogout``). santeid brokers none: it refuses
every request as Keycloak does without one (:func:`backchannel_logout`).

Both logouts end the session through ``session_end.py`` (every token issued under it revoked,
OIDC Back-Channel Logout 1.0 tokens sent), which returns the clients to notify by
Front-Channel Logout 1.0 iframes
(https://openid.net/specs/openid-connect-frontchannel-1_0.html): the logout page renders them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.exceptions import UnsupportedMediaType

from santeid.errors import back_link
from santeid.errors import lead_back_to_service
from santeid.errors import oauth_error
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.oidc import client_auth
from santeid.oidc import cors
from santeid.oidc import keycloak_errors
from santeid.oidc.authorize import ErrorPage
from santeid.oidc.authorize import add_query
from santeid.oidc.authorize import browser_sid
from santeid.oidc.authorize import forget_sso
from santeid.oidc.authorize import without_query_parameter
from santeid.oidc.session_end import end_session
from santeid.oidc.session_end import end_session_found_over
from santeid.oidc.session_end import end_sessionless_grant
from santeid.oidc.tls_client_auth import CertificateMissing
from santeid.oidc.tls_client_auth import refresh_certificate_thumbprint
from santeid.oidc.tokens import ForeignIssuer
from santeid.oidc.tokens import TokenError
from santeid.security import again_by_get_with_cookies
from santeid.security import check_csrf
from santeid.services import services
from santeid.untrusted_json import segment_object


def frontchannel_logouts(clients, sid: str) -> list[tuple[str, str]]:
    """Front-Channel Logout 1.0 §2–§3: ``(name, uri)`` of each client with a
    ``frontchannel_logout_uri``, with ``iss`` and ``sid`` when it registered
    ``frontchannel_logout_session_required``. The name (``client_name``, else ``client_id``)
    is shown beside its iframe, as Keycloak's page lists "the following apps"
    (docs/reference/keycloak-behaviour.md, "Logout")."""
    issuer = services().settings.issuer
    frames = []
    for client in clients:
        uri = client.frontchannel_logout_uri
        if not uri:
            continue
        if client.frontchannel_logout_session_required:
            uri = add_query(uri, [("iss", issuer), ("sid", sid)])
        frames.append((client.name, uri))
    return frames


def _finish(t, target: str | None, state: str | None, frames: list[tuple[str, str]]):
    """Redirect to ``target`` (with ``state``, replacing a ``state`` of its query as Keycloak
    26.6.7 and 26.7.3 do, ``LogoutUtil.getRedirectUriWithAttachedState`` with
    ``KeycloakUriBuilder.replaceQueryParam``: the name compared as written, the new one
    last), or show the closed-session page; with
    front-channel iframes, the page names their services, loads them first and then
    continues to ``target``. The closed-session page links back to the logout's client's
    ``client_uri`` (:func:`santeid.errors.back_link`), as Keycloak's info page "You are
    logged out" links to the client's "Home URL"; its front-channel page has no such link
    (docs/reference/keycloak-behaviour.md, "Logout")."""
    if target and state is not None:
        target = add_query(without_query_parameter(target, "state"), [("state", state)])
    if not frames:
        if target:
            return redirect(target, code=302)
        return render_template("logged_out.html", t=t, home=back_link())
    response = make_response(
        render_template("frontchannel_logout.html", t=t, frames=frames, target=target)
    )
    origins = sorted({"{0.scheme}://{0.netloc}".format(urlsplit(u)) for _, u in frames})
    # The iframes load the clients' pages: only their origins may be framed.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"frame-src {' '.join(origins)}; frame-ancestors 'none'; form-action 'self'"
    )
    return response


def refresh_token_logout():
    """Keycloak's ``POST …/logout`` with client authentication and ``refresh_token``: the
    token's SSO session ends (every token issued under it, back-channel logout) → 204. The
    token's signature is checked, not its expiry: a token that lapsed still ends the session
    it names, and a session already over answers 204 as well; a token bound to a certificate
    without it, or with another, is 401 ``unauthorized_client``, as at a refresh (Keycloak's
    ``LogoutEndpoint.logoutToken``, docs/reference/keycloak-behaviour.md, "Logout")."""
    svc = services()
    server = svc.authorization_server
    try:
        client = client_auth.authenticate("end_session", server.create_oauth2_request(request))
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    # Its web origins may read the answer, 204 or refusal (Keycloak's
    # cors.allowedOrigins(session, client) after authorizeClient; cors.py).
    cors.allow_origins_of(client)
    token = request.form.get("refresh_token")
    if token is None:
        return oauth_error(400, "invalid_request", keycloak_errors.NO_REFRESH_TOKEN)
    # An empty one is a token that does not verify: "Invalid refresh token", as Keycloak.
    try:
        claims = svc.tokens.logout_refresh_token_claims(token)
    except ForeignIssuer as refused:
        return oauth_error(400, "invalid_grant", svc.tokens.foreign_refresh_token_refusal(refused))
    except TokenError:
        return oauth_error(400, "invalid_grant", keycloak_errors.INVALID_REFRESH_TOKEN)
    client_id = client.get_client_id()
    if claims.get("azp") != client_id:
        return oauth_error(400, "invalid_grant", keycloak_errors.REFRESH_TOKEN_OF_ANOTHER_CLIENT)
    try:
        # Verified as a refresh verifies it: a token bound to a certificate ends its session
        # over that certificate alone (RFC 8705 §3).
        refresh_certificate_thumbprint(client, (claims.get("cnf") or {}).get("x5t#S256"))
    except CertificateMissing:
        return oauth_error(401, "unauthorized_client", keycloak_errors.CERTIFICATE_MISMATCH)
    sid = claims.get("sid")
    # A grant without a browser session (CIBA) is its own sid: that grant ends.
    if not _end_sessionless_grant(svc, sid, client_id) and isinstance(sid, str):
        end_session(svc, sid)
    return "", 204


#: ``LogoutEndpoint.backchannelLogout`` without ``logout_token``, and
#: ``LogoutTokenValidationCode``'s texts for a token ``JWSInput`` cannot read and for a realm
#: without an identity provider to verify it with.
NO_LOGOUT_TOKEN = "No logout token"  # noqa: S105 - an error text
LOGOUT_TOKEN_UNREADABLE = "The decode of the logoutToken failed"  # noqa: S105 - an error text
NO_IDENTITY_PROVIDER = "No Identity Provider has been found"


def _jws_input_reads(token: str) -> bool:
    """Whether Keycloak's ``JWSInput`` reads ``token`` and maps its payload: two or three
    dot-separated parts (Java's ``split`` drops trailing empty ones), a JSON object in the
    header and in the payload, a base64url signature."""
    parts = token.split(".")
    while parts and parts[-1] == "":
        parts.pop()
    if not 2 <= len(parts) <= 3:
        return False
    try:
        segment_object(parts[0])
        segment_object(parts[1])
        if len(parts) == 3:
            base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (ValueError, binascii.Error):
        return False
    return True


def backchannel_logout():
    """``POST …/logout/backchannel-logout``: Keycloak's ``LogoutEndpoint.backchannelLogout``
    (``@Consumes(APPLICATION_FORM_URLENCODED)``; docs/reference/keycloak-behaviour.md,
    "Logout"). No ``logout_token``: 400 "No logout token"; one ``JWSInput`` cannot read: 400
    "The decode of the logoutToken failed"; any other: ``TokenManager.verifyLogoutToken`` finds
    no identity provider to verify it with — santeid brokers none — 400 "No Identity Provider
    has been found". All ``invalid_request``; nothing ends. Another media type is 415; a
    request without ``Content-Type`` is read as an empty form, as RESTEasy Reactive checks
    ``@Consumes`` only against a ``Content-Type`` sent (``ClassRoutingHandler.handle``)."""
    if request.mimetype and request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType()
    token = request.form.get("logout_token")
    if token is None:
        return oauth_error(400, "invalid_request", NO_LOGOUT_TOKEN)
    if not _jws_input_reads(token):
        return oauth_error(400, "invalid_request", LOGOUT_TOKEN_UNREADABLE)
    return oauth_error(400, "invalid_request", NO_IDENTITY_PROVIDER)


def _end_sessionless_grant(svc, sid, audience) -> bool:
    """The tokens of a grant without a browser session (CIBA) name the grant itself as their
    ``sid``: it ends (``session_end.end_sessionless_grant``: its tokens revoked, its client
    told by back-channel logout, as Keycloak logs out a CIBA login's user session). Only a
    grant of ``audience`` (the hint's, the refresh token's client); True if ``sid`` named such
    a grant."""
    if not sid or not isinstance(sid, str):
        return False
    family = svc.tokens.family(sid)
    if family is None or family["auth"].get("sid") or family["client_id"] != audience:
        return False
    end_sessionless_grant(svc, sid)
    return True


@dataclass
class LogoutRequest:
    """An RP-initiated logout request, checked as Keycloak's ``LogoutEndpoint.logout`` checks
    it (docs/reference/keycloak-behaviour.md, "Logout")."""

    #: The parameters as sent: the confirmation page carries them to its form.
    params: dict[str, str]
    #: Claims of the verified ``id_token_hint``.
    hint: dict | None
    #: ``client_id`` as sent.
    client_id: str | None
    #: The client ``client_id`` names, or else the hint's audience; None if there is none.
    client: Any
    #: The ``post_logout_redirect_uri``, registered for ``client``.
    target: str | None
    state: str | None

    @property
    def hint_sid(self) -> str | None:
        sid = (self.hint or {}).get("sid")
        return sid if isinstance(sid, str) and sid else None


def parse_request(svc, params) -> LogoutRequest:
    """Check a logout request in Keycloak's order; a refusal is an error page, and nothing
    ends. A parameter sent empty is sent: Keycloak reads it as an empty string, not as an
    absent one (``LogoutEndpoint.logout`` tests each for ``null``), so ``id_token_hint=`` is an
    invalid hint, ``post_logout_redirect_uri=`` an unregistered URI and ``client_id=`` a
    client that does not exist (docs/reference/keycloak-behaviour.md, "Logout")."""
    # A service sent the browser here: its refusals say to go back to it (no link yet).
    lead_back_to_service()
    if "redirect_uri" in params:
        # Keycloak's legacy parameter, refused unless its legacy option is on (it is not).
        raise ErrorPage("invalid_request", keycloak_errors.LOGOUT_REDIRECT_URI_PARAMETER)
    encoded_hint = params.get("id_token_hint")
    client_id = params.get("client_id")
    target = params.get("post_logout_redirect_uri")
    if target is not None and encoded_hint is None and client_id is None:
        raise ErrorPage("invalid_request", keycloak_errors.LOGOUT_HINT_MISSING)
    hint = None
    if encoded_hint is not None:
        # Expired or not (RP-Initiated Logout 1.0 §2); its signature and type are checked.
        hint = svc.tokens.id_token_hint_claims(encoded_hint)
        if hint is None:
            raise ErrorPage("invalid_request", keycloak_errors.LOGOUT_HINT_INVALID)
    if hint is not None and client_id is not None and hint.get("aud") != client_id:
        raise ErrorPage("invalid_request", keycloak_errors.LOGOUT_HINT_INVALID)
    # client_id names the client whenever it is sent; else the hint's audience does.
    client = svc.clients.get(client_id if client_id is not None else (hint or {}).get("aud"))
    # Keycloak makes the client its context's here: the logout's pages, and its refusals from
    # now on, link back to its home page, as its logout confirmation, info and error pages
    # link to the client's "Home URL"; an unknown client has none.
    lead_back_to_service(None if client is None else client.client_id)
    policy = svc.settings.keycloak.post_logout_redirect_policy
    if target is not None and (
        client is None or not client.check_post_logout_redirect_uri(target, policy)
    ):
        # RP-Initiated Logout 1.0 §3: only a URI registered for the client (an unknown client
        # has none). Keycloak has made the client its context's by then: the page links back.
        raise ErrorPage("invalid_request", keycloak_errors.LOGOUT_INVALID_REDIRECT_URI)
    return LogoutRequest(
        params=params.to_dict(flat=True),
        hint=hint,
        client_id=client_id,
        client=client,
        target=target,
        state=params.get("state"),
    )


def _browser_session(svc) -> str | None:
    """The browser's live SSO session, if any."""
    sid = browser_sid()
    return sid if sid is not None and svc.sessions.exists(sid) else None


def needs_confirmation(svc, req: LogoutRequest) -> bool:
    """Keycloak asks the browser first (``confirmationNeeded || forcedConfirmation``) unless a
    valid ``id_token_hint`` of a known client names the browser's own session (or the browser
    has none), or, without a hint and without a session in the browser, a known client names
    its registered ``post_logout_redirect_uri``: nothing to log out, the browser returns at
    once. Always for an unknown ``client_id``, and for a hint of another session than the
    browser's: a page cannot end a session the browser did not confirm ending."""
    if req.client_id is not None and req.client is None:
        return True
    browser_sid = _browser_session(svc)
    if browser_sid is not None:
        if req.hint is not None and req.hint_sid != browser_sid:
            return True
    elif req.hint is None and req.client is not None and req.target is not None:
        return False
    return req.hint is None or req.client is None


def log_out(svc, req: LogoutRequest, t):
    """Keycloak's ``doBrowserLogout`` (docs/reference/keycloak-behaviour.md, "Logout"): the
    session the hint names ends, and without a hint the browser's own; the browser forgets its
    session either way. When the browser held another live session than the hint's (it
    confirmed first), Keycloak only drops the browser's cookie and that session lives on, its
    tokens valid, out of the professional's reach: santeid ends it too, the session the
    professional confirmed closing (docs/psc-integration.md §5.1)."""
    held = browser_sid()
    forget_sso()
    hint_sid = req.hint_sid
    sids: list[str] = []
    audience = (req.hint or {}).get("aud")
    if hint_sid and not _end_sessionless_grant(svc, hint_sid, audience):
        sids.append(hint_sid)
    if held and held != hint_sid:
        if req.hint is None or svc.sessions.exists(held):
            sids.append(held)
    frames: list[tuple[str, str]] = []
    for sid in sids:
        frames += frontchannel_logouts(end_session(svc, sid), sid)
    return _finish(t, req.target, req.state, frames)


def _translator(params) -> Translator:
    """The logout pages' language: ``kc_locale`` (Keycloak's language menu), then the client's
    ``ui_locales``, as on every page of Keycloak's login theme
    (docs/reference/keycloak-behaviour.md, "Login page languages: ``LoginPageTest`` and its
    neighbours, method by method")."""
    return Translator(pick_locale(params.get("ui_locales"), params.get("kc_locale")))


def logout():
    """GET or POST ``…/logout``: Keycloak's refresh-token logout (a POST with
    ``refresh_token``), or RP-Initiated Logout 1.0 §2, whose GET and form POST are the same
    request — a relying party's form carries no CSRF token of ours, and needs none: it ends a
    session at once only with a valid hint of the browser's own session (or from a browser
    holding none), and otherwise shows the confirmation page (:func:`needs_confirmation`)."""
    if request.method == "POST" and "refresh_token" in request.form:
        return refresh_token_logout()
    again = again_by_get_with_cookies()
    if again is not None:
        return again
    svc = services()
    params = request.form if request.method == "POST" else request.args
    req = parse_request(svc, params)
    _end_browser_session_found_over(svc)
    if needs_confirmation(svc, req):
        return render_template(
            "logout_confirm.html",
            t=_translator(params),
            params=req.params,
            action=url_for("oidc.logout_confirm"),
            home=back_link(),
        )
    return log_out(svc, req, _translator(params))


def logout_confirm():
    """POST ``…/logout/logout-confirm``, Keycloak's path: the confirmation page's form. Its
    CSRF token first (another page cannot confirm for the browser), then the request it
    carries is checked again and carried out."""
    check_csrf(cross_site=True)
    svc = services()
    req = parse_request(svc, request.form)
    _end_browser_session_found_over(svc)
    return log_out(svc, req, _translator(request.form))


def _end_browser_session_found_over(svc) -> None:
    """Keycloak's ``LogoutEndpoint`` reads the identity cookie once the request's parameters
    are checked (``authenticateIdentityCookie``, before the confirmation and at it): a session
    it names that is still stored but past its timeouts is logged out there, its clients told
    by back-channel logout, and the logout goes on as from a browser without a session
    (docs/reference/keycloak-behaviour.md, "An SSO session found over")."""
    end_session_found_over(svc, browser_sid())

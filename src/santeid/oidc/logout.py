"""Logout at ``…/protocol/openid-connect/logout`` (GET and POST), as Keycloak serves it
(``docs/reference/keycloak-behaviour.md``, Logout; ``docs/reference/pro-sante-connect.md §12``).

RP-Initiated Logout 1.0 (https://openid.net/specs/openid-connect-rpinitiated-1_0.html):

* With a valid ``id_token_hint`` the session it names ends at once: this is also PSC's
  server-to-server logout (a GET with only the hint). The hint of a grant without a browser
  session (CIBA), whose ``sid`` names the grant, ends that grant's tokens.
* Without one, the browser is asked to confirm (§2: the OP SHOULD ask), so a third-party page
  cannot log a professional out.
* ``post_logout_redirect_uri`` must be registered for the client (§3). With the default
  ``post_logout_redirect_policy = "keycloak"`` a client that registered no
  ``post_logout_redirect_uris`` may name one of its ``redirect_uris`` (Keycloak's "+");
  ``strict`` accepts only ``post_logout_redirect_uris``. ``state`` is echoed. Without a
  target, a "session fermée" page is shown.

Keycloak's refresh-token logout (its adapters, python-keycloak, keycloak-js): a ``POST`` with
client authentication and ``refresh_token`` ends the token's SSO session and answers 204.

Both logouts end the session through ``session_end.py`` (every token issued under it revoked,
OIDC Back-Channel Logout 1.0 tokens sent), which returns the clients to notify by
Front-Channel Logout 1.0 iframes
(https://openid.net/specs/openid-connect-frontchannel-1_0.html): the logout page renders them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session

from santeid.errors import oauth_error
from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.oidc import client_auth
from santeid.oidc import keycloak_errors
from santeid.oidc.authorize import ErrorPage
from santeid.oidc.authorize import add_query
from santeid.oidc.session_end import end_session
from santeid.oidc.tokens import TokenError
from santeid.security import check_csrf
from santeid.services import services


def frontchannel_logout_urls(clients, sid: str) -> list[str]:
    """Front-Channel Logout 1.0 §2–§3: each client's ``frontchannel_logout_uri``, with ``iss``
    and ``sid`` when it registered ``frontchannel_logout_session_required``."""
    issuer = services().settings.issuer
    urls = []
    for client in clients:
        uri = client.frontchannel_logout_uri
        if not uri:
            continue
        if client.frontchannel_logout_session_required:
            uri = add_query(uri, [("iss", issuer), ("sid", sid)])
        urls.append(uri)
    return urls


def _finish(t, target: str | None, state: str | None, frames: list[str]):
    """Redirect to ``target`` (with ``state``), or show the closed-session page; with
    front-channel iframes, the page loads them first and then continues to ``target``."""
    if target:
        target = add_query(target, [("state", state)] if state is not None else [])
    if not frames:
        if target:
            return redirect(target, code=302)
        return render_template("logged_out.html", t=t)
    response = make_response(
        render_template("frontchannel_logout.html", t=t, frames=frames, target=target)
    )
    origins = sorted({"{0.scheme}://{0.netloc}".format(urlsplit(u)) for u in frames})
    # The iframes load the clients' pages: only their origins may be framed.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"frame-src {' '.join(origins)}; frame-ancestors 'none'; form-action 'self'"
    )
    return response


def refresh_token_logout():
    """Keycloak's ``POST …/logout`` with client authentication and ``refresh_token``: the
    token's SSO session ends (every token issued under it, back-channel logout) → 204."""
    svc = services()
    server = svc.authorization_server
    try:
        client = client_auth.authenticate("end_session", server.create_oauth2_request(request))
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    token = request.form.get("refresh_token")
    if not token:
        return oauth_error(400, "invalid_request", keycloak_errors.NO_REFRESH_TOKEN)
    try:
        claims, record = svc.tokens.verify_refresh_token(token)
    except TokenError:
        return oauth_error(400, "invalid_grant", "Invalid refresh token")
    if claims.get("azp") != client.get_client_id():
        return oauth_error(400, "invalid_grant", keycloak_errors.REFRESH_TOKEN_OF_ANOTHER_CLIENT)
    family = svc.tokens.family(record["fid"])
    sid = (family or {}).get("auth", {}).get("sid")
    if sid:
        end_session(svc, sid)
    elif family is not None:
        # A grant without a browser session (CIBA): only its own tokens end.
        svc.tokens.revoke_family(record["fid"])
    return "", 204


def _end_sessionless_grant(svc, sid, audience) -> bool:
    """The ID token of a grant without a browser session (CIBA) names the grant itself as its
    ``sid``: its tokens end, as at the refresh-token logout (no back-channel logout either).
    Only a grant of the hint's audience; True if ``sid`` named such a grant."""
    if not sid or not isinstance(sid, str):
        return False
    family = svc.tokens.family(sid)
    if family is None or family["auth"].get("sid") or family["client_id"] != audience:
        return False
    svc.tokens.revoke_family(sid)
    return True


def _check_target(svc, params, client) -> str | None:
    target = params.get("post_logout_redirect_uri")
    if not target:
        return None
    if client is None:
        raise ErrorPage(
            "invalid_request", "post_logout_redirect_uri needs an id_token_hint or a client_id"
        )
    if not client.check_post_logout_redirect_uri(
        target, svc.settings.keycloak.post_logout_redirect_policy
    ):
        # Keycloak's page text for this case.
        raise ErrorPage("invalid_request", "Invalid redirect uri")
    return target


def logout():
    if request.method == "POST" and "refresh_token" in request.form:
        return refresh_token_logout()
    svc = services()
    params = request.values
    t = Translator(pick_locale(params.get("ui_locales")))
    hint = params.get("id_token_hint")
    hint_claims = None
    if hint:
        hint_claims = svc.tokens.id_token_hint_claims(hint)
        if hint_claims is None:
            raise ErrorPage(
                "invalid_request", "id_token_hint is not an ID token issued by this server"
            )
    client_id = params.get("client_id")
    if hint_claims and client_id and hint_claims.get("aud") != client_id:
        raise ErrorPage("invalid_request", "client_id does not match the id_token_hint audience")
    client = svc.clients.get(client_id or (hint_claims or {}).get("aud"))
    target = _check_target(svc, params, client)

    if hint_claims is None:
        if request.method == "GET":
            return render_template(
                "logout_confirm.html", t=t, params=params.to_dict(flat=True), action=request.path
            )
        check_csrf()
        sid = session.pop("sid", None)
    else:
        sid = hint_claims.get("sid")
        if session.get("sid") == sid:
            session.pop("sid", None)
        if _end_sessionless_grant(svc, sid, hint_claims.get("aud")):
            sid = None
    participants = end_session(svc, sid)
    frames = frontchannel_logout_urls(participants, sid) if sid else []
    return _finish(t, target, params.get("state"), frames)

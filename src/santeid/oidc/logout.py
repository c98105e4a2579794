"""RP-Initiated Logout 1.0 at ``…/protocol/openid-connect/logout`` (GET and POST).

* With a valid ``id_token_hint`` the session it names ends at once: this is also PSC's
  server-to-server logout (a GET with only the hint).
* Without one, the browser is asked to confirm (RP-Initiated Logout §2: the OP SHOULD ask),
  so a third-party page cannot log a professional out.
* ``post_logout_redirect_uri`` must be registered for the client (§3); ``state`` is echoed.
  Without it, a "session fermée" page is shown.
Ending a session revokes every token issued under it.
"""

from __future__ import annotations

from flask import redirect
from flask import render_template
from flask import request
from flask import session

from santeid.i18n import Translator
from santeid.i18n import pick_locale
from santeid.oidc.authorize import ErrorPage
from santeid.oidc.authorize import add_query
from santeid.security import check_csrf
from santeid.services import services


def end_session(sid: str | None) -> None:
    """Close an SSO session and revoke every token issued under it."""
    if not sid:
        return
    svc = services()
    svc.tokens.revoke_session(sid)
    svc.sessions.close(sid)


def logout():
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

    target = params.get("post_logout_redirect_uri")
    if target:
        if client is None:
            raise ErrorPage(
                "invalid_request", "post_logout_redirect_uri needs an id_token_hint or a client_id"
            )
        if target not in client.post_logout_redirect_uris:
            raise ErrorPage(
                "invalid_request", "post_logout_redirect_uri is not registered for this client"
            )

    if hint_claims is None:
        if request.method == "GET":
            return render_template(
                "logout_confirm.html", t=t, params=params.to_dict(flat=True), action=request.path
            )
        check_csrf()
        sid = session.pop("sid", None)
        end_session(sid)
    else:
        sid = hint_claims.get("sid")
        end_session(sid)
        if session.get("sid") == sid:
            session.pop("sid", None)

    if target:
        state = params.get("state")
        return redirect(
            add_query(target, [("state", state)] if state is not None else []), code=302
        )
    return render_template("logged_out.html", t=t)

"""Admin sign-in through santeid's own login: a professional listed in ``admin_professionals``
proves who they are on the login pages every relying party uses — e-CPS approval on the phone,
or the CPS card when that authenticator is installed — and gets a console session.

The console hands the login pages a :class:`~santeid.interaction.PendingLogin` of its own
(client ``santeid.oidc.clients.ADMIN_CONSOLE_CLIENT_ID``, reserved: never a registered one),
exactly as the authorization endpoint does for a relying party: same transaction, same
authenticators, same push limits and events (``santeid.login``; docs/operations.md, "Admin
console"). When the login pages are done they
hand the proof back through ``santeid.interaction``; :class:`ConsoleAwareAuthorization` routes a
console login to :func:`finish` (no SSO session, no code) and every other one, unchanged, to
the OpenID Connect side.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import redirect
from flask import url_for

from santeid.interaction import PendingLogin
from santeid.interaction import authorization
from santeid.interaction import install_authorization
from santeid.interaction import login_pages
from santeid.oidc.clients import ADMIN_CONSOLE_CLIENT_ID
from santeid.security import browser_id

#: Key of the pending request that marks a console login.
_MARK = "santeid_admin_console"


def begin(locale: str, client_name: str):
    """Send this browser to the login pages for a console sign-in."""
    pending = PendingLogin(
        ADMIN_CONSOLE_CLIENT_ID, client_name, {_MARK: True, "locale": locale}, browser_id()
    )
    return login_pages().begin(pending)


class ConsoleAwareAuthorization:
    """``santeid.interaction``'s authorization side: console logins end in the console, every
    other login goes to ``oidc_side`` unchanged."""

    def __init__(self, oidc_side) -> None:
        self.oidc_side = oidc_side

    def complete(self, request: dict, authentication, answerable):
        if request.get(_MARK):
            from santeid.admin.views import professional_signed_in

            return professional_signed_in(authentication)
        return self.oidc_side.complete(request, authentication, answerable)

    def refuse(self, request: dict, error: str, description: str | None):
        if request.get(_MARK):
            return redirect(url_for("admin.login"))
        return self.oidc_side.refuse(request, error, description)

    def still_answerable(self, request: dict):
        if request.get(_MARK):
            return True  # the console's own sign-in: no registered client to lose
        return self.oidc_side.still_answerable(request)

    def answer_by_sso(self, request: dict, answerable, *, claim: Callable[[], bool]):
        if request.get(_MARK):
            return None  # the console's own sign-in opens no SSO session, nor is answered by one
        return self.oidc_side.answer_by_sso(request, answerable, claim=claim)


def init_app(app) -> None:
    with app.app_context():
        install_authorization(app, ConsoleAwareAuthorization(authorization()))

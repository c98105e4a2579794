"""The one interface between the authorization endpoint and the login pages.

The authorization endpoint (``santeid.oidc``) validates a request and, when the SSO session
cannot answer it, hands a :class:`PendingLogin` to the login pages (``santeid.login``). The
login pages prove who the professional is and hand back an :class:`Authentication` — or a
refusal — to the authorization side, which opens or joins the SSO session and answers the
client (code, or error). Neither package imports the other: each installs its half here from
its ``init_app`` and reaches the other half through :func:`login_pages` / :func:`authorization`.

The validated request travels as a plain dict (it is stored in the login transaction, shared
by every worker); the login pages read only its ``locale`` and ``login_hint`` keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from flask import current_app

if TYPE_CHECKING:  # the value the login pages hand back: santeid.oidc.authentication
    from flask import Flask
    from flask.typing import ResponseReturnValue

    from santeid.oidc.authentication import Authentication

__all__ = [
    "AuthorizationSide",
    "LoginPages",
    "PendingLogin",
    "authorization",
    "install_authorization",
    "install_login_pages",
    "login_pages",
]

_KEY = "santeid.interaction"


@dataclass(frozen=True)
class PendingLogin:
    """An authorization request waiting for the professional to log in."""

    client_id: str
    client_name: str
    #: The validated authorization request, serialised; the login pages read only its
    #: ``locale`` (page language) and ``login_hint`` (pre-filled identifier).
    request: dict
    #: The browser the login must be finished in (login CSRF and session fixation defence).
    browser_id: str


class LoginPages(Protocol):
    """Implemented by ``santeid.login``."""

    def begin(self, pending: PendingLogin) -> ResponseReturnValue:
        """Show the login pages for ``pending``; returns the response (a redirect)."""


class AuthorizationSide(Protocol):
    """Implemented by ``santeid.oidc``."""

    def complete(
        self, request: dict, authentication: Authentication, answerable: Any
    ) -> ResponseReturnValue:
        """The professional proved ``authentication``: open or join this browser's SSO session
        and answer the client (authorization code). ``answerable``: what
        :meth:`still_answerable` gave for ``request`` in this same HTTP request. Returns the
        response."""

    def refuse(self, request: dict, error: str, description: str | None) -> ResponseReturnValue:
        """The login ended without a proof (e.g. the professional cancelled): answer the
        client with ``error`` and ``description`` (no ``error_description`` when None).
        Returns the response."""

    def still_answerable(self, request: dict) -> Any:
        """Whether ``request``, validated when its login began, may still be answered: None if
        not, else what answers it (the OpenID Connect side's: the client, as registered now),
        which the login pages hand back unread to :meth:`complete` or :meth:`answer_by_sso`
        in the same HTTP request, so that the client is read once per request. A login kept by
        the browser beyond its transaction (``santeid_restart``) is started again, or refused
        to its client, only while this holds."""

    def answer_by_sso(
        self, request: dict, answerable: Any, *, claim: Callable[[], bool]
    ) -> ResponseReturnValue | None:
        """The answer to ``request`` (a code) from this browser's SSO session when that session
        answers it without a login — another tab logged in while this login's page was open —
        else None. ``answerable``: what :meth:`still_answerable` gave for ``request`` in this
        same HTTP request. Returns the response. ``claim`` ends the login the page ran, atomically,
        once the session is found to answer and before the code is written or the login
        recorded: False (the login moved on meanwhile, a proof approved) answers None."""


def _halves() -> dict[str, Any]:
    halves: dict[str, Any] = current_app.extensions.setdefault(_KEY, {})
    return halves


def install_login_pages(app: Flask, pages: LoginPages) -> None:
    app.extensions.setdefault(_KEY, {})["login_pages"] = pages


def install_authorization(app: Flask, side: AuthorizationSide) -> None:
    app.extensions.setdefault(_KEY, {})["authorization"] = side


def login_pages() -> LoginPages:
    pages: LoginPages = _halves()["login_pages"]
    return pages


def authorization() -> AuthorizationSide:
    side: AuthorizationSide = _halves()["authorization"]
    return side

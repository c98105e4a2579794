"""The authorization side of ``santeid.interaction``: what happens when the login pages
are done (SSO session, then the authorization response of RFC 6749 §4.1.2 / §4.1.2.1)."""

from __future__ import annotations

from collections.abc import Callable

from santeid.oidc.authentication import Authentication
from santeid.oidc.authorize import AuthorizationRequest
from santeid.oidc.authorize import browser_sid
from santeid.oidc.authorize import code_response
from santeid.oidc.authorize import error_redirect
from santeid.oidc.authorize import new_code
from santeid.oidc.authorize import remember_sso
from santeid.oidc.authorize import session_may_answer
from santeid.oidc.authorize import sso_answer
from santeid.oidc.clients import Client
from santeid.oidc.session_end import end_session
from santeid.services import services


class OidcAuthorizationSide:
    def complete(self, request: dict, authentication: Authentication):
        """The SSO session (renewed, or new) and the code answering ``request``, written in
        one store round trip (docs/storage.md)."""
        svc = services()
        sessions = svc.sessions
        areq = AuthorizationRequest.from_dict(request)
        previous = browser_sid()
        writes = svc.store.batch()
        # Keycloak keeps the user session when the same professional logs in again.
        renewal = sessions.renew_in(writes, previous, authentication)
        if renewal is not None:
            code, record = new_code(areq, renewal.authentication, writes)
            writes.run()
            if renewal.lasted:
                remember_sso(renewal.authentication)
                return code_response(areq, self._client(areq), renewal.authentication, code)
            # Ended between its read and its renewal (a logout): that code is never sent.
            if record is not None:
                svc.tokens.codes.delete(record.key)
            writes = svc.store.batch()
        # A first login, or another professional takes over this browser: the previous one is
        # logged out.
        end_session(svc, previous)
        opened = sessions.open(authentication, batch=writes)
        code, _ = new_code(areq, opened, writes)
        writes.run()
        remember_sso(opened)
        return code_response(areq, self._client(areq), opened, code)

    def refuse(self, request: dict, error: str, description: str | None):
        areq = AuthorizationRequest.from_dict(request)
        return error_redirect(areq, areq.state, error, description, client=self._client(areq))

    @staticmethod
    def _client(areq: AuthorizationRequest) -> Client | None:
        """The request's client as registered now, when the login pages are done (None: gone
        meanwhile): the answer follows the client's settings then, as Keycloak's
        ``OIDCLoginProtocol.authenticated`` and ``sendError`` read them
        (``santeid.oidc.authorize.issuer_parameter``)."""
        return services().clients.get(areq.client_id)

    def still_answerable(self, request: dict) -> bool:
        """The client is still registered and its ``redirect_uri`` still one of its own, as
        Keycloak starts an expired login again from ``KC_RESTART`` only for a client that
        still exists (docs/reference/keycloak-behaviour.md, "Login pages"); the rest of the
        request was checked when the login began."""
        return self._answerable_client(request) is not None

    @staticmethod
    def _answerable_client(request: dict) -> Client | None:
        """The client of ``request`` when it may still be answered (:meth:`still_answerable`),
        else None."""
        client = services().clients.get(str(request.get("client_id")))
        uri = request.get("redirect_uri")
        if client is None or not isinstance(uri, str) or not client.check_redirect_uri(uri):
            return None
        return client

    def answer_by_sso(self, request: dict, *, claim: Callable[[], bool]):
        """The code from the browser's SSO session, as the authorization endpoint answers
        (:func:`santeid.oidc.authorize.sso_answer`): Keycloak's login pages restart their flow
        once another tab logged in, and its cookie authenticator answers
        (docs/reference/keycloak-behaviour.md, "Login pages: two tabs, browser buttons,
        KC_RESTART"). Not for a client gone meanwhile, nor a ``redirect_uri`` it no longer
        registers (:meth:`still_answerable`), as Keycloak's login actions refuse an
        authentication session whose client is gone. Nothing is read from the store without
        an identity cookie, nor for a request no session could answer (``prompt=login``,
        ``max_age=0``: :func:`santeid.oidc.authorize.session_may_answer`)."""
        if browser_sid() is None:
            return None
        areq = AuthorizationRequest.from_dict(request)
        if not session_may_answer(areq):
            return None
        client = self._answerable_client(request)
        if client is None:
            return None
        return sso_answer(areq, client, services().store.batch(), claim=claim)

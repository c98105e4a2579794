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
    def complete(self, request: dict, authentication: Authentication, client: Client):
        """The SSO session (renewed, or new) and the code answering ``request``, written in
        one store round trip (docs/storage.md). ``client``: the request's client as
        :meth:`still_answerable` read it in this HTTP request — as registered when the login
        pages are done, so the answer follows the client's settings then, as Keycloak's
        ``OIDCLoginProtocol.authenticated`` reads them
        (``santeid.oidc.authorize.issuer_parameter``); not read again."""
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
                return code_response(areq, client, renewal.authentication, code)
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
        return code_response(areq, client, opened, code)

    def refuse(self, request: dict, error: str, description: str | None):
        areq = AuthorizationRequest.from_dict(request)
        # The request's client as registered now (None: gone meanwhile), as Keycloak's
        # ``sendError`` reads it (santeid.oidc.authorize.issuer_parameter).
        client = services().clients.get(areq.client_id)
        return error_redirect(areq, areq.state, error, description, client=client)

    @staticmethod
    def still_answerable(request: dict) -> Client | None:
        """The client of ``request``, read now, while it is still registered and its
        ``redirect_uri`` still one of its own, else None: Keycloak starts an expired login
        again from ``KC_RESTART`` only for a client that still exists
        (docs/reference/keycloak-behaviour.md, "Login pages"); the rest of the request was
        checked when the login began. The login pages hand it back to :meth:`complete` and
        :meth:`answer_by_sso` in the same request (``santeid.interaction``)."""
        client = services().clients.get(str(request.get("client_id")))
        uri = request.get("redirect_uri")
        if client is None or not isinstance(uri, str) or not client.check_redirect_uri(uri):
            return None
        return client

    def answer_by_sso(self, request: dict, client: Client, *, claim: Callable[[], bool]):
        """The code from the browser's SSO session, as the authorization endpoint answers
        (:func:`santeid.oidc.authorize.sso_answer`): Keycloak's login pages restart their flow
        once another tab logged in, and its cookie authenticator answers
        (docs/reference/keycloak-behaviour.md, "Login pages: two tabs, browser buttons,
        KC_RESTART"). ``client``: what :meth:`still_answerable` read in this request — never a
        client gone meanwhile, nor one that no longer registers the ``redirect_uri``, as
        Keycloak's login actions refuse an authentication session whose client is gone.
        Nothing is read from the store without an identity cookie, nor for a request no
        session could answer (``prompt=login``, ``max_age=0``:
        :func:`santeid.oidc.authorize.session_may_answer`)."""
        if browser_sid() is None:
            return None
        areq = AuthorizationRequest.from_dict(request)
        if not session_may_answer(areq):
            return None
        return sso_answer(areq, client, services().store.batch(), claim=claim)

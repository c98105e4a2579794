"""The CIBA grant at the token endpoint (CIBA Core 1.0 §10.1, §11), modelled on Authlib's
``rfc8628.DeviceCodeGrant``.

``grant_type=urn:openid:params:grant-type:ciba&auth_req_id=…`` with client authentication.
The request is judged in Keycloak's order (``TokenEndpoint.checkClient``, then
``CibaGrantType.process``, docs/reference/keycloak-behaviour.md "CIBA at the token endpoint")
— client authentication (``invalid_client``) → the client's CIBA grant → ``auth_req_id``
missing (``invalid_request``) → unknown/consumed/other client (``invalid_grant``) → expired
(``expired_token``) → polled sooner than ``interval`` seconds after the last accepted poll
(``slow_down`` "too early to access"; the interval stays) → denied (``access_denied``) →
approved (tokens, once) → ``authorization_pending``, each with Keycloak's description. With
``error_style = "strict"``, DeviceCodeGrant's order and RFC 8628 §3.5's rule: ``slow_down``
comes after approval and denial, and each one adds 5 s to that request's interval. A push-mode
client never polls: ``unauthorized_client`` (§11).
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.oauth2.rfc6749 import BaseGrant
from authlib.oauth2.rfc6749 import TokenEndpointMixin

from santeid.ciba.errors import AccessDeniedError
from santeid.ciba.errors import AuthorizationPendingError
from santeid.ciba.errors import ExpiredTokenError
from santeid.ciba.errors import InvalidGrantError
from santeid.ciba.errors import InvalidRequestError
from santeid.ciba.errors import SlowDownError
from santeid.ciba.errors import UnauthorizedClientError
from santeid.ciba.metadata import CIBA_GRANT_TYPE
from santeid.ciba.metadata import PUSH
from santeid.ciba.metadata import delivery_mode as client_delivery_mode
from santeid.ciba.requests import APPROVED
from santeid.ciba.requests import CONSUMED
from santeid.ciba.requests import DENIED
from santeid.ciba.requests import CibaRequest
from santeid.ciba.service import TokenRedemptionError
from santeid.ciba.validators import CIBA_NOT_ALLOWED
from santeid.oidc import client_auth
from santeid.oidc import keycloak_errors
from santeid.oidc.tls_client_auth import CertificateMissing
from santeid.services import services

log = logging.getLogger(__name__)

#: CIBA Core §11 / RFC 8628 §3.5: each ``slow_down`` adds this many seconds to the interval.
SLOW_DOWN_STEP = 5
#: Keycloak's descriptions (``CibaGrantType``, ``DeviceGrantType.getDeviceByDeviceCode``;
#: docs/reference/keycloak-behaviour.md "CIBA at the token endpoint").
KEYCLOAK_SLOW_DOWN = "too early to access"
MISSING_AUTH_REQ_ID = "Missing parameter: auth_req_id"
#: An ``auth_req_id`` that was never issued (Keycloak: one it cannot decrypt).
UNKNOWN_AUTH_REQ_ID = "Invalid Auth Req ID"
#: An ``auth_req_id`` already exchanged for tokens (Keycloak: no longer in its store).
USED_AUTH_REQ_ID = "Invalid auth_req_id"
#: An ``auth_req_id`` issued to another client.
OTHER_CLIENTS_AUTH_REQ_ID = "unauthorized client"
EXPIRED = "authentication timed out"
DENIED_DESCRIPTION = "not authorized"
PENDING_DESCRIPTION = (
    "The authorization request is still pending as the end-user hasn't yet been authenticated."
)


class CibaGrant(BaseGrant, TokenEndpointMixin):
    """``urn:openid:params:grant-type:ciba``; storage hooks left to a subclass."""

    GRANT_TYPE = CIBA_GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = client_auth.methods_for("token")

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            if self.keycloak_style():
                # Keycloak's CibaGrantType: 400 invalid_grant.
                raise InvalidGrantError(CIBA_NOT_ALLOWED)
            raise UnauthorizedClientError("The client is not allowed to use the CIBA grant")
        auth_req_id = self.request.form.get("auth_req_id")
        if auth_req_id is None:
            # Absent only: an empty one is judged as any other, unknown (Keycloak's
            # ``formParams.getFirst`` gives ``""``, which it cannot decrypt).
            raise InvalidRequestError(MISSING_AUTH_REQ_ID)
        if self.delivery_mode(client) == PUSH:
            # CIBA Core §11: a push-mode client gets its tokens at its notification endpoint.
            raise UnauthorizedClientError("The client is configured in push mode")
        credential = self.query_ciba_request(auth_req_id)
        if credential is None:
            # Never issued, or so long expired that it is gone.
            raise InvalidGrantError(UNKNOWN_AUTH_REQ_ID)
        if credential.get_client_id() != client.get_client_id():
            # Keycloak has forgotten a used one whoever presents it; nothing is revoked for
            # another client's attempt.
            used = credential.stored_state == CONSUMED
            raise InvalidGrantError(USED_AUTH_REQ_ID if used else OTHER_CLIENTS_AUTH_REQ_ID)
        self.request.client = client
        self.request.credential = self.validate_ciba_request(credential)

    def validate_ciba_request(self, credential: CibaRequest) -> CibaRequest:
        if credential.stored_state == CONSUMED:
            self.on_replay(credential)
            raise InvalidGrantError(USED_AUTH_REQ_ID)
        if credential.is_expired():
            self.on_expired(credential)
            raise ExpiredTokenError(EXPIRED)
        keycloak_order = self.keycloak_style()
        if keycloak_order and self.should_slow_down(credential):
            raise SlowDownError(KEYCLOAK_SLOW_DOWN)
        credential = self.refresh_ciba_request(credential)
        if credential.state == DENIED:
            # Whatever the reason (refused, failed): the push error payload alone carries it.
            raise AccessDeniedError(DENIED_DESCRIPTION)
        if credential.state == APPROVED:
            return credential
        if credential.is_expired():
            self.on_expired(credential)
            raise ExpiredTokenError(EXPIRED)
        if not keycloak_order and self.should_slow_down(credential):
            raise SlowDownError("Polling too fast: wait the interval (now 5 s longer)")
        raise AuthorizationPendingError(PENDING_DESCRIPTION)

    # -- Developers MUST implement ---------------------------------------------------------------
    def delivery_mode(self, client: Any) -> str:
        raise NotImplementedError()

    def query_ciba_request(self, auth_req_id: str) -> CibaRequest | None:
        raise NotImplementedError()

    def refresh_ciba_request(self, credential: CibaRequest) -> CibaRequest:
        """The request brought up to date with the user's device."""
        return credential

    def should_slow_down(self, credential: CibaRequest) -> bool:
        raise NotImplementedError()

    def keycloak_style(self) -> bool:
        """Keycloak's errors: its ``slow_down`` (too early a poll is ``slow_down`` whatever the
        request's state) and ``invalid_grant`` for a client without the grant."""
        return False

    def on_replay(self, credential: CibaRequest) -> None:
        """A consumed ``auth_req_id`` presented again by its own client (answered
        ``invalid_grant`` whatever this does)."""

    def on_expired(self, credential: CibaRequest) -> None:
        """A poll found the request expired (``expired_token``)."""


class SanteidCibaGrant(CibaGrant):
    """Storage and tokens through ``services().ciba`` (``service.py``)."""

    @staticmethod
    def _ciba():
        return services().ciba

    def delivery_mode(self, client: Any) -> str:
        return client_delivery_mode(client)

    def query_ciba_request(self, auth_req_id: str) -> CibaRequest | None:
        return self._ciba().book.get(auth_req_id)

    def refresh_ciba_request(self, credential: CibaRequest) -> CibaRequest:
        return self._ciba().sync(credential)

    def keycloak_style(self) -> bool:
        return services().settings.keycloak.error_style == "keycloak"

    def should_slow_down(self, credential: CibaRequest) -> bool:
        interval = credential.interval
        if interval <= 0:
            # Interval 0 (client metadata): no throttling, and no write per poll.
            return False
        ciba = self._ciba()
        now = ciba.clock()
        last = credential.data.get("last_poll")
        too_soon = last is not None and now - float(last) < interval
        if self.keycloak_style():
            # Keycloak (DeviceGrantType.isPollingAllowed): a poll is accepted once per
            # interval; an early one neither moves the window nor lengthens the interval.
            if not too_soon:
                ciba.book.note_poll(credential, now, interval)
            return too_soon
        if too_soon:
            interval += SLOW_DOWN_STEP
        ciba.book.note_poll(credential, now, interval)
        return too_soon

    def on_replay(self, credential: CibaRequest) -> None:
        self._ciba().presented_again(credential)

    def on_expired(self, credential: CibaRequest) -> None:
        self._ciba().note_expired(credential)

    def create_token_response(self):
        client = self.request.client
        try:
            token = self._ciba().redeem(self.request.credential, client)
        except TokenRedemptionError as exc:
            raise InvalidGrantError(str(exc)) from None
        except CertificateMissing:
            raise InvalidRequestError(keycloak_errors.CERTIFICATE_MISSING_FOR_BINDING) from None
        return 200, token, self.TOKEN_RESPONSE_HEADER

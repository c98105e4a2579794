"""Flask views of the CIBA routes (listed in ``santeid.ciba.ROUTES``)."""

from __future__ import annotations

from flask import jsonify
from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from santeid.cache_control import no_store
from santeid.ciba import card as card_channel
from santeid.errors import oauth_error
from santeid.oidc.protector import bearer_header_token
from santeid.services import services
from santeid.tls import client_certificate


def backchannel_authentication():
    """``POST {issuer}/protocol/openid-connect/ext/ciba/auth`` (CIBA Core §7)."""
    return services().authorization_server.create_endpoint_response("backchannel_authentication")


def card(auth_req_id: str):
    """``GET|POST {issuer}/protocol/openid-connect/ext/ciba/card/<auth_req_id>`` (``card.py``)."""
    svc = services()
    try:
        if request.method == "GET":
            body = card_channel.describe(svc, auth_req_id)
        else:
            payload = request.get_json(silent=True)
            body = card_channel.approve(svc, auth_req_id, payload, client_certificate(svc.settings))
    except card_channel.CardApprovalError as exc:
        response = jsonify(exc.as_json())
        response.status_code = exc.status
        return no_store(response)
    response = jsonify(body)
    return no_store(response)


def authentication_channel_callback():
    """``POST {issuer}/protocol/openid-connect/ext/ciba/auth/callback``: where Keycloak's
    authentication device reports the end user's decision
    (``BackchannelAuthenticationCallbackEndpoint``, ``@POST @Consumes(APPLICATION_JSON)``;
    docs/reference/keycloak-behaviour.md, "CIBA at the token endpoint"). santeid's decisions
    come from its own channels and it issues no authentication-channel token, so every call
    gets Keycloak's refusal of a token it did not issue: 401 ``invalid_token`` "Invalid token"
    without a bearer token, 403 with any (``verifyAuthenticationRequest``, which runs before
    the body's ``status`` is read). Another media type is 415; a request without
    ``Content-Type`` is answered as a JSON one, as RESTEasy Reactive checks ``@Consumes`` only
    against a ``Content-Type`` sent (``ClassRoutingHandler.handle``)."""
    if request.mimetype and not request.is_json:
        raise UnsupportedMediaType()
    if bearer_header_token(request.headers.get("Authorization")) is None:
        return oauth_error(401, "invalid_token", "Invalid token")
    return oauth_error(403, "invalid_token", "Invalid token")

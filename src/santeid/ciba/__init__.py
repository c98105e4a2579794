"""Client-Initiated Backchannel Authentication: OpenID Connect CIBA Core 1.0
(https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html),
as Pro Santé Connect offers it to heavy clients (docs/reference/pro-sante-connect.md §14), written
on Authlib's
extension points (docs/reference/openid-standards.md §2.4; Authlib's own grants and endpoints): a
back-channel Authlib ``Endpoint`` and a
token-endpoint grant modelled on ``rfc8628.DeviceCodeGrant``, with hooks named after
node-oidc-provider's (docs/reference/openid-standards.md §1.4).

* ``endpoint.py`` — ``POST {issuer}/protocol/openid-connect/ext/ciba/auth`` (§7); its
  neighbour ``…/ext/ciba/auth/callback``, Keycloak's authentication-channel callback, refuses
  every call as Keycloak refuses a token it did not issue (``views.py``);
  ``validators.py`` its checks in order; ``request_object.py`` signed requests (§7.1.1);
* ``grant.py`` — ``urn:openid:params:grant-type:ciba`` at the token endpoint (§10.1, §11);
* ``requests.py`` — the request record (``ciba:<sha256(auth_req_id)>``, compare-and-set);
* ``service.py`` — decisions (e-CPS, sandbox, CPS card) and token redemption;
* ``delivery.py`` — ping and push notifications (§10.2, §10.3) behind an SSRF guard;
* ``card.py`` — the CARD channel: the workstation signs the request's challenge with the
  CPS card key;
* ``metadata.py`` — CIBA client metadata (§4); ``errors.py`` — §13 error codes.

Walk-through and error table: ``docs/ciba.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["init_app", "register_client_checks"]

log = logging.getLogger(__name__)

#: CIBA's routes under the issuer, at Keycloak's paths
#: (docs/reference/pro-sante-connect.md §14): (path, endpoint, methods).
ROUTES = [
    ("/protocol/openid-connect/ext/ciba/auth", "auth", ["POST"]),
    ("/protocol/openid-connect/ext/ciba/auth/callback", "callback", ["POST"]),
    ("/protocol/openid-connect/ext/ciba/card/<auth_req_id>", "card", ["GET", "POST"]),
]


def register_client_checks() -> None:
    """Teach client registration the CIBA grant type and metadata (CIBA Core §4). Called by
    :func:`init_app` and by the commands that register clients without the web application."""
    from santeid.ciba.metadata import CIBA_GRANT_TYPE
    from santeid.ciba.metadata import validate_ciba_metadata
    from santeid.oidc.clients import register_metadata_check

    register_metadata_check(validate_ciba_metadata, grant_types=(CIBA_GRANT_TYPE,))


def _register_routes(app, settings) -> None:
    from flask import Blueprint

    from santeid import error_formats
    from santeid.ciba import views

    bp = Blueprint("ciba", __name__, url_prefix=settings.issuer_path or None)
    handlers: dict[str, Callable[..., Any]] = {
        "auth": views.backchannel_authentication,
        "callback": views.authentication_channel_callback,
        "card": views.card,
    }
    for path, name, methods in ROUTES:
        bp.add_url_rule(path, name, handlers[name], methods=methods)
    # CIBA serves programs only: JSON errors, also for an unknown path under ext/ciba/.
    error_formats.declare(
        bp, error_formats.JSON_OAUTH,
        prefixes=[lambda s: f"{s.issuer_path}/protocol/openid-connect/ext/ciba/"],
    )  # fmt: skip
    app.register_blueprint(bp)


def init_app(app) -> None:
    """Register the routes, the client-metadata checks, the endpoint and the grant on the
    authorization server (``services().ciba`` is built by ``create_services``)."""
    from santeid.ciba.endpoint import SanteidBackchannelAuthenticationEndpoint
    from santeid.ciba.grant import SanteidCibaGrant

    services = app.extensions["santeid"]
    settings = services.settings
    register_client_checks()
    _register_routes(app, settings)
    server = services.authorization_server
    server.register_endpoint(SanteidBackchannelAuthenticationEndpoint)
    server.register_grant(SanteidCibaGrant)
    if settings.sandbox.enabled:
        log.warning(
            "SANDBOX MODE: CIBA notification endpoints on http://127.0.0.1 and "
            "http://localhost are allowed (never outside sandbox mode)."
        )

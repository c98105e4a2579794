"""Client-Initiated Backchannel Authentication: OpenID Connect CIBA Core 1.0
(https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html),
as Pro Santé Connect offers it to heavy clients (psc.md §14), written on Authlib's
extension points (oidc.md §2.4, style.md §1): a back-channel Authlib ``Endpoint`` and a
token-endpoint grant modelled on ``rfc8628.DeviceCodeGrant``, with hooks named after
node-oidc-provider's (oidc.md §1.4).

* ``endpoint.py`` — ``POST {issuer}/protocol/openid-connect/ext/ciba/auth`` (§7);
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

__all__ = ["init_app"]

log = logging.getLogger(__name__)


def init_app(app) -> None:
    """Create ``services().ciba`` and register the endpoint and grant (after ``ecps``)."""
    from santeid.ciba.endpoint import SanteidBackchannelAuthenticationEndpoint
    from santeid.ciba.grant import SanteidCibaGrant
    from santeid.ciba.service import CibaService

    services = app.extensions["santeid"]
    settings = services.settings
    services.ciba = CibaService(
        settings=settings,
        store=services.store,
        tokens=services.tokens,
        clients=services.clients,
        directory=services.directory,
        ecps=services.ecps,
        secret_key=str(app.config["SECRET_KEY"]),
    )
    server = services.authorization_server
    server.register_endpoint(SanteidBackchannelAuthenticationEndpoint)
    server.register_grant(SanteidCibaGrant)
    if services.ecps is not None:
        # A decision on the phone completes the CIBA request (and starts ping/push) in the
        # worker that received it.
        services.ecps.on_request_decided(services.ciba.on_ecps_decided)
    if settings.sandbox:
        log.warning(
            "SANDBOX MODE: CIBA notification endpoints on http://127.0.0.1 and "
            "http://localhost are allowed (never outside sandbox mode)."
        )

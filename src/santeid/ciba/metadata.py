"""CIBA client metadata (CIBA Core 1.0 §4, registered as in RFC 7591 §2) and santeid's two
per-client knobs.

=============================================  ==================================================
``grant_types``                                 contains ``urn:openid:params:grant-type:ciba``
``backchannel_token_delivery_mode``             ``poll``, ``ping`` or ``push``; REQUIRED for a CIBA
                                                client (§4)
``backchannel_client_notification_endpoint``    REQUIRED for ping and push: an ``https`` URL that
                                                does not resolve to a loopback, link-local or
                                                private address (SSRF guard; in sandbox mode
                                                ``http://127.0.0.1`` / ``http://localhost`` too)
``backchannel_authentication_request_signing_alg``  ``PS256`` or ``ES256``: the client's
                                                requests MUST then be signed (§7.1.1); needs
                                                ``jwks``
``backchannel_user_code_parameter``             ``false`` only (santeid supports no user code)
``backchannel_request_expiry``                  santeid: ``expires_in`` in seconds (1–3600,
                                                default 120 as Keycloak,
                                                docs/reference/pro-sante-connect.md §14)
``backchannel_polling_interval``                santeid: ``interval`` in seconds (0–300,
                                                default 5; 0 turns ``slow_down`` off)
=============================================  ==================================================
"""

from __future__ import annotations

from typing import Any

from santeid.oidc.client_auth import REQUEST_SIGNING_ALGS
from santeid.oidc.grant_types import CIBA as CIBA_GRANT_TYPE

#: ``backchannel_token_delivery_mode`` values (CIBA Core 1.0 §4), in discovery's order.
DELIVERY_MODES: tuple[str, ...] = ("poll", "ping", "push")
DEFAULT_REQUEST_EXPIRY = 120
DEFAULT_POLLING_INTERVAL = 5
MAX_REQUEST_EXPIRY = 3600
MAX_POLLING_INTERVAL = 300


class CibaMetadataError(ValueError):
    """Invalid CIBA metadata; the message says why (RFC 7591 ``invalid_client_metadata``)."""


def _seconds(meta: dict[str, Any], name: str, low: int, high: int) -> None:
    if name not in meta:
        return
    value = meta[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CibaMetadataError(f"{name} must be a whole number of seconds from {low} to {high}")


def validate_ciba_metadata(meta: dict[str, Any], *, sandbox: bool) -> None:
    """Check the CIBA members of ``meta``; raise :class:`CibaMetadataError`.

    The notification endpoint is resolved now (registration) and again before each delivery
    (``delivery.py``): what it resolves to may change in between.
    """
    from santeid.ecps.webhooks import WebhookRefused
    from santeid.ecps.webhooks import check_webhook_url

    grant_types = meta.get("grant_types") or []
    is_ciba = CIBA_GRANT_TYPE in grant_types
    mode = meta.get("backchannel_token_delivery_mode")
    if not is_ciba:
        # backchannel_logout_* is OIDC Back-Channel Logout 1.0 §2.2, not CIBA.
        ciba_members = [
            k
            for k in meta
            if k.startswith("backchannel_") and not k.startswith("backchannel_logout_")
        ]
        if ciba_members:
            raise CibaMetadataError(
                f"{', '.join(sorted(ciba_members))}: only for clients with the grant type "
                f"{CIBA_GRANT_TYPE}"
            )
        return
    if mode not in DELIVERY_MODES:
        raise CibaMetadataError(
            "backchannel_token_delivery_mode is required for CIBA clients: "
            + ", ".join(DELIVERY_MODES)
        )
    endpoint = meta.get("backchannel_client_notification_endpoint")
    if mode in ("ping", "push"):
        if not endpoint:
            raise CibaMetadataError(
                f"backchannel_client_notification_endpoint is required in {mode} mode"
            )
        try:
            check_webhook_url(endpoint, sandbox=sandbox)
        except WebhookRefused as exc:
            raise CibaMetadataError(f"backchannel_client_notification_endpoint: {exc}") from None
    elif endpoint is not None:
        raise CibaMetadataError("backchannel_client_notification_endpoint is for ping and push")
    alg = meta.get("backchannel_authentication_request_signing_alg")
    if alg is not None:
        if alg not in REQUEST_SIGNING_ALGS:
            raise CibaMetadataError(
                "backchannel_authentication_request_signing_alg: "
                + " or ".join(REQUEST_SIGNING_ALGS)
            )
        if not meta.get("jwks"):
            raise CibaMetadataError(
                "backchannel_authentication_request_signing_alg needs the client's jwks"
            )
    if meta.get("backchannel_user_code_parameter", False) is not False:
        raise CibaMetadataError("backchannel_user_code_parameter: only false is supported")
    _seconds(meta, "backchannel_request_expiry", 1, MAX_REQUEST_EXPIRY)
    _seconds(meta, "backchannel_polling_interval", 0, MAX_POLLING_INTERVAL)


# -- reading a registered client --------------------------------------------------------------


def is_ciba_client(client: Any) -> bool:
    return client.check_grant_type(CIBA_GRANT_TYPE) and (
        client.metadata.get("backchannel_token_delivery_mode") in DELIVERY_MODES
    )


def delivery_mode(client: Any) -> str:
    return client.metadata.get("backchannel_token_delivery_mode", "poll")


def notification_endpoint(client: Any) -> str | None:
    return client.metadata.get("backchannel_client_notification_endpoint")


def request_signing_alg(client: Any) -> str | None:
    return client.metadata.get("backchannel_authentication_request_signing_alg")


def request_expiry(client: Any) -> int:
    return int(client.metadata.get("backchannel_request_expiry", DEFAULT_REQUEST_EXPIRY))


def polling_interval(client: Any) -> int:
    return int(client.metadata.get("backchannel_polling_interval", DEFAULT_POLLING_INTERVAL))

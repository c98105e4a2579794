"""CIBA client metadata (CIBA Core 1.0 §4, registered as in RFC 7591 §2), santeid's two
per-client knobs, and the delivery modes offered.

=============================================  ==================================================
``grant_types``                                 contains ``urn:openid:params:grant-type:ciba``
``backchannel_token_delivery_mode``             ``poll``, ``ping``, or ``push`` with the setting
                                                ``ciba_push_enabled``; REQUIRED for a CIBA
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

Delivery modes: Pro Santé Connect's discovery advertises ``poll`` and ``ping`` (PSC implements
poll only: docs/reference/pro-sante-connect.md §2, §14), and so does santeid's by default, so
that a client written against santeid works at PSC. ``push``, which Keycloak lacks, is offered
only with ``ciba_push_enabled``: off, discovery leaves it out, registration refuses a push
client, a server does not start while one is registered (:func:`check_registered_clients`),
and one registered meanwhile by a command of another configuration is no CIBA client here
(:func:`is_ciba_client`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

from santeid.oidc.client_auth import REQUEST_SIGNING_ALGS
from santeid.oidc.grant_types import CIBA as CIBA_GRANT_TYPE

if TYPE_CHECKING:
    from santeid.settings import Settings

#: ``backchannel_token_delivery_mode`` values (CIBA Core 1.0 §4).
POLL = "poll"
PING = "ping"
PUSH = "push"
#: Every mode santeid implements, in discovery's order.
DELIVERY_MODES: tuple[str, ...] = (POLL, PING, PUSH)
#: The modes PSC's discovery advertises (docs/reference/pro-sante-connect.md §2): santeid's
#: offer unless ``ciba_push_enabled``.
PSC_DELIVERY_MODES: tuple[str, ...] = (POLL, PING)
#: The modes in which santeid calls the client's notification endpoint (§10.2, §10.3).
NOTIFIED_MODES: tuple[str, ...] = (PING, PUSH)
#: The setting that offers push (docs/configuration.md).
PUSH_SETTING = "ciba_push_enabled"
DEFAULT_REQUEST_EXPIRY = 120
DEFAULT_POLLING_INTERVAL = 5
MAX_REQUEST_EXPIRY = 3600
MAX_POLLING_INTERVAL = 300


def delivery_modes(settings: Settings | None) -> tuple[str, ...]:
    """The modes offered with ``settings`` (None: the defaults), in discovery's order."""
    if settings is not None and settings.oidc.ciba_push_enabled:
        return DELIVERY_MODES
    return PSC_DELIVERY_MODES


def push_is_off() -> str:
    """Why a push client is refused, and the setting that would accept it."""
    from santeid.settings.base import ENV_PREFIX

    return (
        f"{PUSH} is off (Pro Santé Connect offers {POLL} only and advertises "
        f"{' and '.join(PSC_DELIVERY_MODES)}): set {PUSH_SETTING} = true "
        f"({ENV_PREFIX}{PUSH_SETTING.upper()}=true)"
    )


class CibaMetadataError(ValueError):
    """Invalid CIBA metadata; the message says why (RFC 7591 ``invalid_client_metadata``)."""


def _seconds(meta: dict[str, Any], name: str, low: int, high: int) -> None:
    if name not in meta:
        return
    value = meta[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CibaMetadataError(f"{name} must be a whole number of seconds from {low} to {high}")


def validate_ciba_metadata(
    meta: dict[str, Any], *, sandbox: bool, settings: Settings | None = None
) -> None:
    """Check the CIBA members of ``meta``; raise :class:`CibaMetadataError`. ``settings``:
    the configuration registering it, which says whether push is offered (None: it is not).

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
    offered = delivery_modes(settings)
    if mode == PUSH and mode not in offered:
        raise CibaMetadataError(f"backchannel_token_delivery_mode: {push_is_off()}")
    if mode not in offered:
        raise CibaMetadataError(
            "backchannel_token_delivery_mode is required for CIBA clients: " + ", ".join(offered)
        )
    endpoint = meta.get("backchannel_client_notification_endpoint")
    if mode in NOTIFIED_MODES:
        if not endpoint:
            raise CibaMetadataError(
                f"backchannel_client_notification_endpoint is required in {mode} mode"
            )
        try:
            check_webhook_url(endpoint, sandbox=sandbox)
        except WebhookRefused as exc:
            raise CibaMetadataError(f"backchannel_client_notification_endpoint: {exc}") from None
    elif endpoint is not None:
        raise CibaMetadataError(
            "backchannel_client_notification_endpoint is for " + " and ".join(NOTIFIED_MODES)
        )
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


def is_ciba_client(client: Any, settings: Settings) -> bool:
    """The client may call the back-channel endpoint: the CIBA grant and a mode offered with
    ``settings`` (a push client, registered by a command with push on, is not one while push
    is off here)."""
    return client.check_grant_type(CIBA_GRANT_TYPE) and (
        client.metadata.get("backchannel_token_delivery_mode") in delivery_modes(settings)
    )


def check_registered_clients(clients: Iterable[Any], settings: Settings) -> None:
    """At start: raise ``ConfigurationError`` naming every push client while push is off, so
    that the operator learns it at once rather than from a client's refused requests."""
    from santeid.settings import ConfigurationError

    if PUSH in delivery_modes(settings):
        return
    unoffered = [
        client.client_id
        for client in clients
        if client.check_grant_type(CIBA_GRANT_TYPE) and delivery_mode(client) == PUSH
    ]
    if unoffered:
        many = len(unoffered) > 1
        raise ConfigurationError(
            f"CIBA client{'s' if many else ''} {', '.join(map(repr, unoffered))} "
            f"registered in {PUSH} mode, but {push_is_off()}, or remove "
            f"{'them' if many else 'it'} (santeid clients remove <client_id>)"
        )


def delivery_mode(client: Any) -> str:
    return client.metadata.get("backchannel_token_delivery_mode", POLL)


def notification_endpoint(client: Any) -> str | None:
    return client.metadata.get("backchannel_client_notification_endpoint")


def request_signing_alg(client: Any) -> str | None:
    return client.metadata.get("backchannel_authentication_request_signing_alg")


def request_expiry(client: Any) -> int:
    return int(client.metadata.get("backchannel_request_expiry", DEFAULT_REQUEST_EXPIRY))


def polling_interval(client: Any) -> int:
    return int(client.metadata.get("backchannel_polling_interval", DEFAULT_POLLING_INTERVAL))

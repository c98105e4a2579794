"""The hooks the cores call, one line each: every call counts in the Prometheus metrics
(:mod:`santeid.observability.metrics`) and, for authentication events, writes an event
(:mod:`santeid.observability.events`) with the request's time, source address and id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from santeid.observability import events
from santeid.observability import metrics
from santeid.oidc import grant_types
from santeid.psc import proofs

if TYPE_CHECKING:
    from santeid.observability.events import EventStore

#: e-CPS request failures → the login failure reason the operators see.
_ECPS_FAILURES = {"pin_locked": "locked", "wrong_code": "wrong_code"}


def login_started(client_id: str) -> None:
    metrics.login_started(client_id)


def login_completed(client_id: str, auth_mode: str, *, professional: str | None) -> None:
    metrics.login_completed(client_id, auth_mode)
    events.record(events.LOGIN, client_id=client_id, professional=professional, auth_mode=auth_mode)


def login_by_sso(client_id: str, auth_mode: str, *, professional: str) -> None:
    """A code issued from the browser's SSO session, without a login (at the authorization
    endpoint, or at a login page once another tab logged in): a ``LOGIN`` event with the
    reason :data:`santeid.observability.events.SSO` and the session's ``authMode``, as
    Keycloak writes a ``LOGIN`` event for a login by its identity cookie (its ``SSOTest``,
    docs/reference/keycloak-behaviour.md, "Events of a login by SSO")."""
    metrics.login_by_sso(client_id)
    events.record(
        events.LOGIN,
        client_id=client_id,
        professional=professional,
        auth_mode=auth_mode,
        reason=events.SSO,
    )


#: Card refusals (``santeid.cps.cards.CardError`` codes) → the login failure reason: someone
#: absent from the directory or inactive as for a typed identifier, the others the card's own.
_CARD_FAILURES = {"unknown_professional": "unknown_id", "inactive_professional": "inactive"}


def login_failed(
    client_id: str, reason: str, *, professional: str | None = None, auth_mode: str | None = None
) -> None:
    """A browser login refused or abandoned before or at its e-CPS request."""
    reason = _ECPS_FAILURES.get(reason, reason)
    if reason == "expired":  # only an e-CPS request left unanswered expires
        metrics.ecps_decided("browser", "expired")
    _login_error(client_id, reason, professional, auth_mode)


def card_login_failed(client_id: str, code: str, *, professional: str | None) -> None:
    """A login refused at a CPS card (``authMode`` ``CARD``): the browser's card link
    (``professional``: whom the certificate names, if it names anyone), or the CIBA CARD
    channel (``santeid.ciba.card``; ``professional``: the request's, ``code`` also
    ``wrong_card`` or ``invalid_signature``)."""
    _login_error(client_id, _CARD_FAILURES.get(code, code), professional, proofs.AUTH_MODE_CARD)


def _login_error(
    client_id: str, reason: str, professional: str | None, auth_mode: str | None
) -> None:
    metrics.login_failed(client_id, reason, auth_mode)
    events.record(
        events.LOGIN_ERROR,
        client_id=client_id,
        professional=professional,
        auth_mode=auth_mode,
        reason=reason if reason in metrics.LOGIN_FAILURE_REASONS else "failed",
    )


def logout(
    professional: str | None, *, client_id: str | None = None, store: EventStore | None = None
) -> None:
    """``store``: where the event goes when no application is at hand (an operator's
    command); by default the current application's."""
    events.record(events.LOGOUT, client_id=client_id, professional=professional, store=store)


def token_issued(client_id: str, grant: str, *, professional: str | None = None) -> None:
    metrics.token_issued(client_id, grant)
    if grant == grant_types.REFRESH_TOKEN:
        events.record(events.REFRESH_TOKEN, client_id=client_id, professional=professional)


def ciba_requested(
    client_id: str, mode: str, *, professional: str | None, store: EventStore | None = None
) -> None:
    metrics.ciba_requested(client_id, mode)
    events.record(
        events.CIBA_REQUEST,
        client_id=client_id,
        professional=professional,
        reason=mode,
        store=store,
    )


def ciba_decided(
    request, outcome: str, auth_mode: str | None = None, *, store: EventStore | None = None
) -> None:
    """``store``: as for :func:`logout` (a decision taken outside any request: the sandbox
    phone's timer)."""
    metrics.ciba_decided(request.mode, outcome)
    events.record(
        events.CIBA_OUTCOME,
        client_id=request.client_id,
        professional=request.national_id,
        auth_mode=auth_mode,
        reason=outcome,
        store=store,
    )


def ciba_expired(request, *, store: EventStore | None = None) -> None:
    metrics.ciba_expired(request.mode)
    events.record(
        events.CIBA_OUTCOME,
        client_id=request.client_id,
        professional=request.national_id,
        reason="expired",
        store=store,
    )


def ecps_decided(request) -> None:
    metrics.ecps_decided(request.kind, request.status, request.failure)


def ecps_wrong_pin(device, *, locked: bool) -> None:
    metrics.ecps_wrong_pin(locked)
    events.record(events.PIN_FAILURE, professional=device.national_id, device=device.device_id)
    if locked:
        events.record(events.DEVICE_LOCK, professional=device.national_id, device=device.device_id)


def ecps_offline_code_locked(professional: str) -> None:
    """The professional's offline code is refused to everyone for the rest of the day's
    window (``ecps_totp_failures_per_day`` wrong codes)."""
    metrics.ecps_offline_code_locked()
    events.record(events.OFFLINE_CODE_LOCK, professional=professional, reason="per_day")


def ecps_activated(device) -> None:
    metrics.ecps_activated()
    events.record(
        events.DEVICE_ACTIVATION, professional=device.national_id, device=device.device_id
    )


def ecps_revoked(
    device_id: str, *, professional: str | None = None, store: EventStore | None = None
) -> None:
    """``store``: as for :func:`logout` (``santeid ecps revoke``)."""
    metrics.ecps_revoked()
    events.record(
        events.DEVICE_REVOCATION, professional=professional, device=device_id, store=store
    )


def insi_call(registry, software_id: str | None, operation: str, result: str) -> None:
    metrics.insi_call(registry, software_id, operation, result)

"""OpenID Connect Back-Channel Logout 1.0 (https://openid.net/specs/openid-connect-backchannel-1_0.html).

When an SSO session ends (RP-initiated logout, refresh-token logout, another professional
logging in on the browser), every client that obtained tokens under it and registered a
``backchannel_logout_uri`` receives a *logout token* (§2.4): a JWT signed with the realm key
of the client's ID-token algorithm (§2.6: the client validates it as an ID token;
``TokenService.id_token_signing_alg``), ``typ`` header ``logout+jwt``, with ``iss``, ``aud``
(the client), ``iat``, ``exp``, ``jti``, ``sub``, ``typ`` (Keycloak's ``Logout``,
docs/reference/keycloak-behaviour.md, "Logout"), ``events`` and — when the client asks for it
(``backchannel_logout_session_required``, on by default as in Keycloak) — ``sid``; never a
``nonce`` (§2.4).

It is POSTed as ``logout_token=<jwt>`` (§2.5) through the SSRF-guarded, address-pinned
transport of the e-CPS webhooks (``santeid.ecps.webhooks.deliver``), as Keycloak sends it:
within the request that ends the session (``AuthenticationManager.backchannelLogoutAll``),
each token signed as it leaves, so that none expires waiting its turn. Unlike Keycloak, which
waits for each client in turn, every receiver gets its own thread and the ending request waits
for them together, ``backchannel_logout_timeout`` at most: a receiver that hangs delays no
other one and holds the logout that long only; its delivery runs on, bounded by the same
timeout on each network operation. A failure — refused connection, timeout, an answer other
than 2xx — is logged and not retried (Keycloak neither).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

from santeid.ecps.webhooks import deliver

log = logging.getLogger(__name__)

#: OIDC Back-Channel Logout 1.0 §2.4: the event member of the ``events`` claim.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The ``typ`` claim of Keycloak's logout token (its ``LogoutToken`` sets it, as every token it
#: issues has one: docs/reference/keycloak-behaviour.md, "Logout").
LOGOUT_TOKEN_TYPE = "Logout"  # noqa: S105 - a token type
#: Seconds a logout token is valid: Keycloak's two minutes (``DefaultTokenManager.
#: initLogoutToken``; §2.6 has RPs accept it "for a short time").
LOGOUT_TOKEN_LIFETIME = 120

#: Deliveries still running: the ones the ending request stopped waiting for.
_running: set[threading.Thread] = set()
_running_lock = threading.Lock()


def logout_token(svc, client, *, sub: str, sid: str) -> str:
    """The §2.4 logout token for ``client``, issued now."""
    now = int(svc.clock())
    claims = {
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "iss": svc.settings.issuer,
        "aud": client.get_client_id(),
        "sub": sub,
        "typ": LOGOUT_TOKEN_TYPE,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    if client.backchannel_logout_session_required:
        claims["sid"] = sid
    return svc.keys.sign(claims, alg=svc.tokens.id_token_signing_alg(client), typ="logout+jwt")


def notify(svc, clients, *, sub: str, sid: str) -> int:
    """Send a logout token to each client with a ``backchannel_logout_uri``, all at once, and
    wait for them ``backchannel_logout_timeout`` at most; returns how many were sent."""
    timeout = svc.settings.oidc.backchannel_logout_timeout
    deliveries = []
    for client in clients:
        if not client.backchannel_logout_uri:
            continue
        delivery = threading.Thread(
            target=_send,
            args=(svc, client),
            kwargs={"sub": sub, "sid": sid, "timeout": timeout},
            name=f"backchannel-logout-{client.get_client_id()}",
            daemon=True,
        )
        with _running_lock:
            _running.add(delivery)
        delivery.start()
        deliveries.append(delivery)
    deadline = time.monotonic() + timeout
    for delivery in deliveries:
        delivery.join(max(0.0, deadline - time.monotonic()))
    return len(deliveries)


def _send(svc, client, *, sub: str, sid: str, timeout: float) -> None:
    client_id = client.get_client_id()
    try:
        # Signed here, as it leaves: its iat and exp count from the delivery.
        token = logout_token(svc, client, sub=sub, sid=sid)
        status = deliver(
            client.backchannel_logout_uri,
            {"logout_token": token},
            sandbox=bool(svc.settings.sandbox.enabled),
            timeout=timeout,
            user_agent="santeid-backchannel-logout",
            form=True,
        )
    except Exception as exc:  # noqa: BLE001 — a relying party must never break a logout
        log.warning("back-channel logout to client %s failed: %s", client_id, exc)
        return
    else:
        # §2.8: 200 (or 204) on success; 400 if the RP could not log out.
        if not 200 <= status < 300:
            log.warning("back-channel logout to client %s answered %s", client_id, status)
    finally:
        with _running_lock:
            _running.discard(threading.current_thread())


def finish_deliveries() -> None:
    """Wait for the deliveries still running (a command that exits after a logout)."""
    with _running_lock:
        running = list(_running)
    for delivery in running:
        delivery.join()

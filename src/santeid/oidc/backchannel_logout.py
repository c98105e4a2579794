"""OpenID Connect Back-Channel Logout 1.0 (https://openid.net/specs/openid-connect-backchannel-1_0.html).

When an SSO session ends (RP-initiated logout, refresh-token logout, another professional
logging in on the browser), every client that obtained tokens under it and registered a
``backchannel_logout_uri`` receives a *logout token* (§2.4): a JWT signed with the realm key,
``typ`` header ``logout+jwt``, with ``iss``, ``aud`` (the client), ``iat``, ``exp``, ``jti``,
``sub``, ``typ`` (Keycloak's ``Logout``, docs/reference/keycloak-behaviour.md, "Logout"),
``events`` and — when the client asks for it (``backchannel_logout_session_required``,
on by default as in Keycloak) — ``sid``; never a ``nonce`` (§2.4).

It is POSTed as ``logout_token=<jwt>`` (§2.5) through the SSRF-guarded, address-pinned
transport of the e-CPS webhooks (``santeid.ecps.webhooks.deliver``). Deliveries run on a
small background thread pool, each bounded by ``backchannel_logout_timeout``: the
professional's logout never waits for a relying party; a failure is logged.
"""

from __future__ import annotations

import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from santeid.ecps.webhooks import deliver

log = logging.getLogger(__name__)

#: OIDC Back-Channel Logout 1.0 §2.4: the event member of the ``events`` claim.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The ``typ`` claim of Keycloak's logout token (its ``LogoutToken`` sets it, as every token it
#: issues has one: docs/reference/keycloak-behaviour.md, "Logout").
LOGOUT_TOKEN_TYPE = "Logout"  # noqa: S105 - a token type
#: Seconds a logout token is valid (Keycloak gives it the access-token lifespan; RPs should
#: accept it "for a short time", §2.6).
LOGOUT_TOKEN_LIFETIME = 120

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    # Created lazily, so that each worker process (forked or spawned) owns its own threads.
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="backchannel-logout")
        return _executor


def logout_token(svc, client, *, sub: str, sid: str) -> str:
    """The §2.4 logout token for ``client``."""
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
    return svc.keys.sign(claims, alg=svc.settings.oidc.signing_alg, typ="logout+jwt")


def notify(svc, clients, *, sub: str, sid: str) -> int:
    """Send a logout token to each client with a ``backchannel_logout_uri``; returns how many
    deliveries were queued. Signing happens here (the request's thread), delivery later."""
    queued = 0
    for client in clients:
        uri = client.backchannel_logout_uri
        if not uri:
            continue
        token = logout_token(svc, client, sub=sub, sid=sid)
        try:
            _pool().submit(
                _send,
                uri,
                token,
                client.get_client_id(),
                sandbox=bool(svc.settings.sandbox.enabled),
                timeout=svc.settings.oidc.backchannel_logout_timeout,
            )
        except RuntimeError:  # the pool is shut down (interpreter exit)
            log.warning("back-channel logout to %s not sent: shutting down", client.client_id)
            continue
        queued += 1
    return queued


def _send(uri: str, token: str, client_id: str, *, sandbox: bool, timeout: float) -> None:
    try:
        status = deliver(
            uri,
            {"logout_token": token},
            sandbox=sandbox,
            timeout=timeout,
            user_agent="santeid-backchannel-logout",
            form=True,
        )
    except Exception as exc:  # noqa: BLE001 — a relying party must never break a logout
        log.warning("back-channel logout to client %s failed: %s", client_id, exc)
        return
    # §2.8: 200 (or 204) on success; 400 if the RP could not log out.
    if not 200 <= status < 300:
        log.warning("back-channel logout to client %s answered %s", client_id, status)


def finish_deliveries() -> None:
    """Wait for the queued deliveries (a command that exits after a logout)."""
    global _executor
    with _executor_lock:
        pool, _executor = _executor, None
    if pool is not None:
        pool.shutdown(wait=True)

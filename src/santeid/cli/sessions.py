"""``santeid sessions``: operators end an SSO session (Keycloak's admin "Sign out"), with the
same effects as a logout: every token issued under it revoked, back-channel logout sent to its
clients (``docs/endpoints.md``, Logout). Same settings as the server (``SANTEID_*``)."""

from __future__ import annotations

import click

from santeid.cli import COMMANDS
from santeid.cli import get_settings
from santeid.db.backends import redact


@click.group(help=COMMANDS["sessions"])
def sessions() -> None:
    pass


@sessions.command("logout")
@click.argument("sid")
def logout(sid: str) -> None:
    """End the SSO session SID, as a logout would."""
    settings = get_settings()
    if settings.store.url.startswith("memory:"):
        raise click.ClickException(
            "sessions live in the shared store, and memory:// is private to the server's "
            "process: this command cannot reach them. Point SANTEID_STORE_URL at the server's "
            "redis://…, or log out from the service (RP-initiated or refresh-token logout)."
        )
    from santeid import create_services
    from santeid.observability.events import command
    from santeid.oidc import backchannel_logout
    from santeid.oidc.session_end import end_session

    # The services the server runs on, without its web layers.
    svc = create_services(settings)
    if not svc.sessions.exists(sid) and not svc.tokens.session_families(sid):
        raise click.ClickException(f"no session {sid!r} in {redact(settings.store.url)}")
    with command():  # the LOGOUT event's source: this command
        participants = end_session(svc, sid)
    # Deliveries run in the background: let them finish before the command exits.
    backchannel_logout.finish_deliveries()
    notified = [c.client_id for c in participants if c.backchannel_logout_uri]
    click.echo(
        f"ended session {sid}; back-channel logout sent to "
        + (", ".join(notified) if notified else "no client")
    )

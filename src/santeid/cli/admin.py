"""``santeid admin``: the admin console's account (docs/operations.md)."""

from __future__ import annotations

import click

from santeid.cli import COMMANDS


@click.group(help=COMMANDS["admin"])
def admin() -> None:
    pass


@admin.command("set-password")
@click.password_option("--password", prompt="Admin password", help="Read from the terminal.")
def set_password(password: str) -> None:
    """Print the admin_password_hash setting (Argon2id) for the password typed; put it in the
    configuration file or SANTEID_ADMIN_PASSWORD_HASH and restart the server."""
    if len(password) < 12:
        raise click.BadParameter("use at least 12 characters", param_hint="--password")
    if not password.strip():
        raise click.BadParameter("use other characters than spaces", param_hint="--password")
    from santeid.ecps.pin import PinHasher

    digest = PinHasher().hash(password)
    click.echo(f'admin_password_hash = "{digest}"')

"""``santeid clients``: register relying parties from RFC 7591 metadata files."""

from __future__ import annotations

import json

import click

from santeid.cli import COMMANDS
from santeid.cli import get_settings
from santeid.cli import printable
from santeid.keystore import KeyStoreError
from santeid.keystore import open_keystore
from santeid.oidc.clients import ClientExists
from santeid.oidc.clients import ClientRegistry
from santeid.oidc.clients import InternalClient
from santeid.oidc.clients import InvalidClientMetadata
from santeid.oidc.clients import is_relative
from santeid.oidc.clients import refuse_internal


def _admin_event(reason: str, client_id: str) -> None:
    from santeid.observability.events import ADMIN_CLIENT
    from santeid.observability.events import record_command

    record_command(get_settings(), ADMIN_CLIENT, reason, client_id=client_id)


def _registry() -> ClientRegistry:
    from santeid import ciba

    # The features a running server has (create_app) check their clients here too.
    ciba.register_client_checks()
    settings = get_settings()

    def signing_algs():
        # The server's keys directory (SANTEID_KEYS_DIR), opened only for a client that names
        # an algorithm: a client may name only one with an active key (docs/keys.md).
        return open_keystore(settings).signing_algorithms()

    return ClientRegistry.for_settings(settings, signing_algs=signing_algs)


@click.group(help=COMMANDS["clients"])
def clients() -> None:
    pass


@clients.command("add")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--replace", is_flag=True, help="Replace a client with the same client_id.")
def add(file, replace: bool) -> None:
    """Register the client described by FILE (RFC 7591 metadata as JSON; - for stdin)."""
    from santeid.untrusted_json import loads_untrusted_json

    try:
        metadata = loads_untrusted_json(file.read())
    except UnicodeDecodeError as exc:  # a ValueError too: first
        raise click.ClickException(
            f"{file.name}: not UTF-8 text, as JSON must be (RFC 8259 §8.1): "
            f"{exc.reason} at byte {exc.start}"
        ) from None
    except ValueError as exc:  # malformed, or nested too deeply
        raise click.ClickException(f"{file.name}: not valid JSON ({exc})") from None
    try:
        if isinstance(metadata, dict):
            refuse_internal(metadata.get("client_id"))
        registry = _registry()
        # The event says what was done: ``--replace`` of a client not registered yet (the
        # README's first run) registers it.
        client_id = metadata.get("client_id") if isinstance(metadata, dict) else None
        replaced = replace and isinstance(client_id, str) and registry.get(client_id) is not None
        client = registry.add(metadata, replace=replace)
    except InternalClient as exc:
        raise click.ClickException(str(exc)) from None
    except ClientExists as exc:
        raise click.ClickException(
            f"{exc.error}: client {exc.client_id!r} already exists: "
            f"`santeid clients add --replace {file.name}` replaces it (its secret too)"
        ) from None
    except InvalidClientMetadata as exc:
        raise click.ClickException(f"{exc.error}: {exc.description}") from None
    except KeyStoreError as exc:  # the key file cannot be read
        raise click.ClickException(str(exc)) from None
    click.echo(f"registered client {client.client_id} ({client.token_endpoint_auth_method})")
    _admin_event("replace" if replaced else "register", client.client_id)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_clients(as_json: bool) -> None:
    """List registered clients (secrets are never shown)."""
    registered = _registry().list()
    if as_json:
        click.echo(json.dumps([c.public_metadata() for c in registered], indent=2))
        return
    if not registered:
        click.echo("no client registered")
    for client in registered:
        registered_uris = client.metadata.get("redirect_uris", [])
        uris = ", ".join(_as_registered(uri) for uri in registered_uris) or "-"
        fields = (client.client_id, client.token_endpoint_auth_method, uris)
        click.echo("\t".join(printable(field) for field in fields))


#: What follows a path-only redirect URI in the text listing.
RELATIVE_MARK = "relative to the issuer's origin"


def _as_registered(uri: str) -> str:
    """A redirect URI as registered: a path (santeid's own clients register one) is printed
    as it is, marked — each server resolves it against its own issuer's origin, which this
    command's settings need not share (docs/endpoints.md, "Client metadata")."""
    return f"{uri} ({RELATIVE_MARK})" if is_relative(uri) else uri


@clients.command("remove")
@click.argument("client_id")
def remove(client_id: str) -> None:
    """Remove a client (never one of santeid's own: santeid-account, santeid-debugger)."""
    try:
        removed = _registry().remove(client_id)
    except InternalClient as exc:
        raise click.ClickException(str(exc)) from None
    if not removed:
        raise click.ClickException(f"no client {client_id!r}")
    click.echo(f"removed client {client_id}")
    _admin_event("remove", client_id)

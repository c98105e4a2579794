"""``santeid ecps``: operators' commands for e-CPS devices (activation codes, listing,
revocation). Same settings as the server (``SANTEID_*``, ``SANTEID_CONFIG``)."""

from __future__ import annotations

import datetime
import io
import json

import click

from santeid.cli import COMMANDS
from santeid.cli import NATIONAL_ID
from santeid.cli import get_settings
from santeid.cli.server_url import chosen_server
from santeid.cli.server_url import server_option
from santeid.psc.national_id import NationalId
from santeid.settings import ConfigurationError


def _service(*, need_store: bool, settings=None):
    """An ``EcpsService`` on the server's files and store, without the web application."""
    from santeid.directory import Directory
    from santeid.ecps.service import EcpsService
    from santeid.storage import store_from_url

    settings = settings or get_settings()
    if need_store and settings.store.url.startswith("memory:"):
        raise click.ClickException(
            "activation codes live in the shared store, and memory:// is private to each "
            "process: a code made here would be unknown to the server. Point "
            "SANTEID_STORE_URL at the server's redis://…, or create the code from the "
            "activation page of the running server."
        )
    directory = Directory.for_settings(settings)
    store = store_from_url(settings.store.url)
    return EcpsService(settings, store, directory)


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group(help=COMMANDS["ecps"])
def ecps() -> None:
    pass


@ecps.command()
@click.argument("national_id", type=NATIONAL_ID)
@click.option("--json", "as_json", is_flag=True, help="Print {code, expires_at, uri, app_link}.")
@click.option("--no-qr", is_flag=True, help="Do not draw the QR code.")
@server_option
def activate(national_id: NationalId, as_json: bool, no_qr: bool, server: str | None) -> None:
    """Make a single-use activation code for NATIONAL_ID (shown as a QR code).

    The app link and URI name the server found as ``santeid cps approve`` finds it
    (``santeid.cli.server_url``)."""
    from santeid.ecps.service import ActivationError

    settings = get_settings()
    issuer, why = chosen_server(settings, server)
    try:
        settings = settings.replace(issuer=issuer)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--server") from None
    service = _service(need_store=True, settings=settings)
    try:
        activation = service.start_activation(national_id.value)
    except ActivationError as exc:
        raise click.ClickException(str(exc)) from None
    from santeid.observability.events import ADMIN_DEVICE
    from santeid.observability.events import record_command

    record_command(settings, ADMIN_DEVICE, "activation", professional=activation.national_id)
    if as_json:
        click.echo(json.dumps(activation.to_dict()))
        return
    lifetime = activation.expires_at - int(service.clock())
    click.echo(f"server: {issuer} ({why})")
    click.echo(f"Activation code for {activation.national_id}: {activation.code}")
    click.echo(f"Valid until {_when(activation.expires_at)} ({lifetime} s), single use.")
    click.echo(f"App link: {activation.app_link}")
    click.echo(f"URI: {activation.uri}")
    if not no_qr:
        import qrcode

        qr = qrcode.QRCode(border=2)
        # The app link: a phone's camera opens the e-CPS app with it.
        qr.add_data(activation.app_link)
        out = io.StringIO()
        qr.print_ascii(out=out)
        click.echo(out.getvalue())
    click.echo(
        "Scan it with the phone's camera (it opens the e-CPS app), "
        "or: santeid device enroll --activation-uri URI --pin …"
    )


@ecps.command()
@click.option("--national-id", type=NATIONAL_ID, help="Only this professional's devices.")
@click.option("--json", "as_json", is_flag=True, help="JSON, one object per device.")
def devices(national_id: NationalId | None, as_json: bool) -> None:
    """List devices (newest first)."""
    service = _service(need_store=False)
    if national_id:
        found = service.devices.list_for(national_id.value)
    else:
        found = service.devices.list_all()
    if as_json:
        click.echo(json.dumps([device.public_info() for device in found], indent=2))
        return
    if not found:
        click.echo("no device")
        return
    for device in found:
        click.echo(
            f"{device.device_id}  {device.national_id:<20} {device.status:<8} "
            f"created {_when(device.created_at)}  last used {_when(device.last_used_at)}  "
            f"{device.name}"
        )


@ecps.command()
@click.argument("device_id")
def revoke(device_id: str) -> None:
    """Revoke DEVICE_ID: it can no longer approve anything (activate a new one)."""
    from santeid.observability.events import EventStore
    from santeid.observability.events import command

    settings = get_settings()
    service = _service(need_store=False, settings=settings)
    device = service.devices.get(device_id)
    if device is None:
        raise click.ClickException(f"no device {device_id}")
    with command():
        revoked = service.revoke_device(device_id, command_events=EventStore.for_settings(settings))
    if not revoked:
        click.echo(f"device {device_id} was already revoked")
        return
    click.echo(f"device {device_id} of {device.national_id} revoked")
    from santeid.observability.events import ADMIN_DEVICE
    from santeid.observability.events import record_command

    record_command(
        settings, ADMIN_DEVICE, "revoke", professional=device.national_id, device=device_id
    )

"""``santeid device``: a simulated e-CPS phone (``santeid.ecps.simulator``), for developers
and CI. It talks to a santeid server only through the documented device protocol; see
``docs/ecps-simulator.md``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from santeid.cli import COMMANDS
from santeid.cli import TAKES_RANDOM_ID
from santeid.cli import Decimal
from santeid.ecps.simulator import DEVICE_FILE_ENV
from santeid.ecps.simulator import DeviceFile
from santeid.ecps.simulator import DeviceSimulator
from santeid.ecps.simulator import SimulatorError
from santeid.ecps.simulator import default_device_file
from santeid.ecps.simulator import describe

_FILE_HELP = f"Device file (default ${DEVICE_FILE_ENV} or ~/.santeid/device.json)."


def _file_option(function):
    return click.option(
        "--file",
        "device_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=_FILE_HELP,
    )(function)


def _load(device_file: Path | None) -> DeviceSimulator:
    path = device_file or default_device_file()
    try:
        return DeviceSimulator(DeviceFile.load(path))
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from None


def _fail(exc: SimulatorError) -> click.ClickException:
    return click.ClickException(str(exc))


def _pick(simulator: DeviceSimulator, request_id: str | None, code: str | None = None) -> dict:
    """The named pending request; else the browser request offering ``code`` among its
    candidates (the one whose login page shows that code); else the oldest one."""
    try:
        pending = simulator.pending()
    except SimulatorError as exc:
        raise _fail(exc) from None
    if request_id:
        for item in pending:
            if item["request_id"] == request_id:
                return item
        return {"request_id": request_id, "kind": None}
    if not pending:
        raise click.ClickException("no pending request")
    if code is not None:
        offering = [item for item in pending if code in (item.get("candidates") or ())]
        if len(offering) > 1:
            # Three candidates out of a hundred: two logins may both offer the code. The
            # sandbox hint, when the server gives it, tells which page shows it.
            offering = [i for i in offering if i.get("sandbox_expected_code") == code] or offering
        if not offering:
            raise click.ClickException(f"no pending browser request offers the code {code}")
        if len(offering) > 1:
            ids = ", ".join(item["request_id"] for item in offering)
            raise click.ClickException(
                f"several pending requests offer the code {code} ({ids}): name REQUEST_ID"
            )
        return offering[0]
    return min(pending, key=lambda item: (item.get("created_at", 0), item["request_id"]))


@click.group(help=COMMANDS["device"])
def device() -> None:
    pass


@device.command()
@click.option(
    "--activation-uri",
    required=True,
    help="The activation QR code's link: https://host/ecps/app/#activation=… "
    "(or santeid-ecps://activate?server=…&code=…).",
)
@click.option("--pin", required=True, help="PIN to set (4 to 8 digits).")
@click.option("--name", default="santeid device simulator", show_default=True)
@click.option("--webhook-url", help="URL the server POSTs to when a request arrives.")
@click.option("--force", is_flag=True, help="Replace an existing device file.")
@_file_option
def enroll(
    activation_uri: str,
    pin: str,
    name: str,
    webhook_url: str | None,
    force: bool,
    device_file: Path | None,
) -> None:
    """Make a key pair, register it with an activation code, save the device file (0600)."""
    path = device_file or default_device_file()
    try:
        # Before the activation code is used: a device whose key cannot be kept is useless.
        DeviceFile.check_writable(path, overwrite=force)
        simulator = DeviceSimulator.enroll(activation_uri, pin, name=name, webhook_url=webhook_url)
    except SimulatorError as exc:
        raise _fail(exc) from None
    try:
        simulator.device.save(path, overwrite=force)
    except SimulatorError as exc:
        device_id = simulator.device.device_id
        raise click.ClickException(
            f"device {device_id} was registered but not saved ({exc}): revoke it "
            f"(santeid ecps revoke {device_id}) and enrol again with a new activation code"
        ) from None
    click.echo(
        f"device {simulator.device.device_id} enrolled for {simulator.device.national_id} "
        f"on {simulator.device.server}; saved to {path}"
    )


@device.command()
@_file_option
def info(device_file: Path | None) -> None:
    """What the server knows of this device (GET /me)."""
    simulator = _load(device_file)
    try:
        click.echo(json.dumps(simulator.me(), indent=2))
    except SimulatorError as exc:
        raise _fail(exc) from None


@device.command()
@click.option("--wait", default=0.0, show_default=True, help="Long-poll up to this many seconds.")
@click.option("--json", "as_json", is_flag=True)
@_file_option
def pending(wait: float, as_json: bool, device_file: Path | None) -> None:
    """List the pending requests of this device's professional."""
    simulator = _load(device_file)
    try:
        items = simulator.pending(wait=wait)
    except SimulatorError as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(items, indent=2))
    elif not items:
        click.echo("no pending request")
    for item in items if not as_json else ():
        click.echo(describe(item))


@device.command(context_settings=TAKES_RANDOM_ID)
@click.argument("request_id", required=False)
@click.option("--pin", required=True)
@click.option("--code", help="The code shown on the login page (browser requests).")
@_file_option
def approve(request_id: str | None, pin: str, code: str | None, device_file: Path | None) -> None:
    """Approve REQUEST_ID (default: the pending request offering --code, else the oldest)."""
    simulator = _load(device_file)
    item = _pick(simulator, request_id, code)
    if code is None and item.get("kind") == "browser" and item.get("sandbox_expected_code"):
        code = item["sandbox_expected_code"]
        click.echo(f"using the sandbox hint: code {code}")
    try:
        result = simulator.approve(item["request_id"], pin, code)
    except SimulatorError as exc:
        # A wrong PIN's detail says the attempts left itself, as deny shows it.
        raise _fail(exc) from None
    click.echo(f"request {result['request_id']}: {result['status']} on {simulator.device.server}")


@device.command(context_settings=TAKES_RANDOM_ID)
@click.argument("request_id", required=False)
@click.option("--pin", required=True)
@_file_option
def deny(request_id: str | None, pin: str, device_file: Path | None) -> None:
    """Deny REQUEST_ID (default: the oldest pending request)."""
    simulator = _load(device_file)
    item = _pick(simulator, request_id)
    try:
        result = simulator.deny(item["request_id"], pin)
    except SimulatorError as exc:
        raise _fail(exc) from None
    click.echo(f"request {result['request_id']}: {result['status']} on {simulator.device.server}")


@device.command()
@_file_option
def totp(device_file: Path | None) -> None:
    """Print the current offline code (RFC 6238)."""
    click.echo(_load(device_file).totp())


@device.command()
@click.option("--pin", required=True)
@click.option(
    "--auto-approve",
    is_flag=True,
    help="On a sandbox server, pick the code from the server's sandbox hint.",
)
@click.option("--code", help="Code to pick for browser requests.")
@click.option("--deny", "deny_all", is_flag=True, help="Deny every request instead.")
@click.option("--once", is_flag=True, help="Stop after the first decision.")
@click.option("--timeout", type=Decimal(), help="Stop after this many seconds.")
@_file_option
def watch(
    pin: str,
    auto_approve: bool,
    code: str | None,
    deny_all: bool,
    once: bool,
    timeout: float | None,
    device_file: Path | None,
) -> None:
    """Wait for requests and decide each as it arrives (CIBA: no code needed).

    Exit status: 0; 1 when --once was given and nothing was decided before --timeout, or when
    the device can no longer decide; 130 when interrupted (Ctrl-C).
    """
    simulator = _load(device_file)

    def choose(item: dict) -> str | None:
        if not sys.stdin.isatty():
            return None
        choices = click.Choice(list(item.get("candidates") or []))
        return click.prompt("Code shown on the login page", type=choices)

    own = simulator.device
    click.echo(f"watching for requests to {own.national_id} on {own.server}")
    try:
        decided = simulator.watch(
            pin,
            auto_approve=auto_approve,
            code=code,
            deny=deny_all,
            once=once,
            timeout=timeout,
            choose=choose,
            echo=lambda line: click.echo(line),
        )
    except SimulatorError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        # Not a success: with --once, 0 means "approved" to the script waiting for it.
        click.echo("interrupted", err=True)
        sys.exit(130)
    click.echo(f"{decided} request(s) decided")
    if once and decided == 0:
        sys.exit(1)

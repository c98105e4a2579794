"""``santeid insi``: the INSi teleservice — registered software and monthly statistics.

Commands of other INSi modules are added to the same group: the SOAP layer's certificate command
(``issue-cert``) goes at the end of this file, in the section kept for it.
"""

from __future__ import annotations

import json

import click

from santeid.cli import COMMANDS
from santeid.cli import get_settings


def _service():
    """The INSi core on the configured data directory, which the command names on stderr
    (the server must use the same one: ``SANTEID_DATA_DIR`` or ``data_dir``)."""
    from santeid.insi.service import AUDIT_NAME
    from santeid.insi.service import InsiService

    settings = get_settings()
    directory = settings.data_path
    fresh = "" if (directory / AUDIT_NAME).exists() else " (no INSi data there yet)"
    click.echo(f"santeid: data directory {directory}{fresh}", err=True)
    return InsiService.for_settings(settings)


@click.group(help=COMMANDS["insi"])
def insi() -> None:
    pass


@insi.group()
def software() -> None:
    """Software authorisation numbers (IDAM) accepted by the SOAP service."""


@software.command("add")
@click.argument("idam")
@click.option("--name", required=True, help="Software name (shown in statistics).")
@click.option("--replace", is_flag=True, help="Rename an IDAM already registered.")
def software_add(idam: str, name: str, replace: bool) -> None:
    """Register the authorisation number IDAM (sent as ContexteLPS/LPS/IDAM R="4")."""
    try:
        entry = _service().software().add(idam, name, replace=replace)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Software {entry.idam} ({entry.name}) registered")


@software.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def software_list(as_json: bool) -> None:
    """List the registered software."""
    entries = _service().software().list()
    if as_json:
        click.echo(json.dumps([e.__dict__ for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo("No software registered: santeid insi software add IDAM --name NAME")
        return
    width = max(len(e.idam) for e in entries)
    for e in entries:
        click.echo(f"{e.idam:<{width}}  {e.name}  (added {e.added_at})")


@software.command("remove")
@click.argument("idam")
def software_remove(idam: str) -> None:
    """Unregister IDAM: its SOAP calls get the siram_100 / desir_550 fault from now on."""
    if not _service().software().remove(idam):
        raise click.ClickException(f"software {idam!r} is not registered")
    click.echo(f"Software {idam} removed")


@insi.command()
@click.option("--software", "software_id", help="Only this software (IDAM, client id…).")
@click.option("--month", help="YYYY-MM (UTC) [default: this month].")
@click.option("--json", "as_json", is_flag=True, help="JSON output (as GET /insi/v1/stats).")
def stats(software_id: str | None, month: str | None, as_json: bool) -> None:
    """Calls of a month by software, operation and result (CR 00/01/02, errors)."""
    from santeid.insi.model import InsiError

    try:
        report = _service().stats(software_id, month)
    except InsiError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"INSi calls in {report['month']}: {report['total']}")
    for entry in report["software"]:
        name = f" ({entry['name']})" if entry["name"] else ""
        # A SOAP call refused for want of an IDAM is counted under an empty software id.
        shown_id = entry["softwareId"] or "(no software number)"
        click.echo(f"\n{shown_id}{name}: {entry['total']}")
        for operation, counts in entry["operations"].items():
            results = ", ".join(f"{k} {v}" for k, v in counts["results"].items()) or "-"
            click.echo(f"  {operation:<34} {counts['total']:>8}   {results}")


# -- certificates (SOAP layer: `santeid insi issue-cert`, appended below) ----------------------
from santeid.cli.insi_certs import issue_cert  # noqa: E402 - the SOAP layer's command

insi.add_command(issue_cert)

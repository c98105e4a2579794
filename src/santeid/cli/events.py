"""``santeid events``: the authentication event store (docs/operations.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC
from datetime import datetime

import click

from santeid.cli import COMMANDS
from santeid.cli import NATIONAL_ID
from santeid.cli import Integer
from santeid.cli import get_settings
from santeid.cli import printable
from santeid.clock import system_clock
from santeid.settings.observability import MAX_EVENT_DAYS

#: ASCII digits only: ``\d`` would take the digits of every script (``٣d``, ``３h``).
_DURATION = re.compile(r"([0-9]+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: float) -> int:
    """``30m``, ``24h``, ``7d`` (ago) or an ISO 8601 date/time (UTC when no offset)."""
    from santeid.security import whole_number  # here: santeid.security loads Flask

    match = _DURATION.fullmatch(value.strip())
    if match:
        count = whole_number(match.group(1))
        seconds = None if count is None else count * _SECONDS[match.group(2)]
        if seconds is None or seconds > MAX_EVENT_DAYS * 86400:
            raise click.BadParameter(
                f"{value!r}: at most {MAX_EVENT_DAYS}d ago", param_hint="--since"
            )
        return int(now) - seconds
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected a duration (30m, 24h, 7d) or an ISO date (2026-12-01T08:00)",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _store():
    from santeid.observability.events import EventStore

    return EventStore.for_settings(get_settings())


@click.group(help=COMMANDS["events"])
def events() -> None:
    pass


@events.command("list")
@click.option("--professional", type=NATIONAL_ID, help="National identifier of the professional.")
@click.option("--client", "client_id", help="Client id.")
@click.option("--type", "types", multiple=True, help="Event type (repeatable), e.g. LOGIN_ERROR.")
@click.option("--since", help="From: a duration ago (30m, 24h, 7d) or an ISO date/time (UTC).")
@click.option("--limit", default=100, show_default=True, type=Integer(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON array of events.")
def list_events(professional, client_id, types, since, limit, as_json) -> None:
    """Events, newest first."""
    from santeid.observability.events import TYPES

    unknown = [t for t in types if t.upper() not in TYPES]
    if unknown:
        raise click.BadParameter(
            f"unknown type {unknown[0]!r}; one of {', '.join(TYPES)}", param_hint="--type"
        )
    found = _store().list(
        professional=professional.value if professional else None,
        client_id=client_id,
        types=tuple(t.upper() for t in types),
        # A command's own moment: it runs without the application.
        since=None if since is None else parse_since(since, system_clock()),
        limit=limit,
    )
    if as_json:
        click.echo(json.dumps([e.as_json() for e in found], ensure_ascii=False, indent=2))
        return
    for e in found:
        when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        fields = [
            f"{name}={value}"
            for name, value in (
                ("client", e.client_id),
                ("professional", e.professional),
                ("authMode", e.auth_mode),
                ("reason", e.reason),
                ("device", e.device),
                ("from", e.source),
                ("request", e.request_id),
            )
            if value
        ]
        fields += [f"{name}={value}" for name, value in (e.details or {}).items()]
        click.echo(printable(f"{when}Z {e.type:<18} " + " ".join(fields)))


@events.command()
@click.option(
    "--older-than",
    type=Integer(1, MAX_EVENT_DAYS),
    help="Days to keep (default: the events_retention_days setting).",
)
def purge(older_than: int | None) -> None:
    """Delete the events older than the retention (run it daily, e.g. from cron)."""
    days = older_than or get_settings().observability.events_retention_days
    removed = _store().purge(days)
    click.echo(f"{removed} event(s) older than {days} days deleted")

"""``santeid db``: schema versions and migrations of the durable data (:mod:`santeid.db`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from santeid.cli import COMMANDS
from santeid.cli import get_settings
from santeid.settings import ConfigurationError


def _target() -> str:
    settings = get_settings()
    from santeid import db

    return (
        db.redact(settings.database.url)
        if settings.database.url
        else (f"embedded SQLite files in {settings.data_path}")
    )


@contextlib.contextmanager
def _refused(component: str) -> Iterator[None]:
    """What stops ``db status`` and ``db upgrade`` at one component, as one line: a SchemaError
    or a ``database_url`` that cannot be opened; PostgreSQL unavailable — the server down or
    frozen, the database not created yet (santeid never creates it: docs/deployment.md), a
    refused login — named by its URL, since it is every component's database; any other
    database error, by the component it met."""
    from santeid import db as persistence
    from santeid.db.backends import PostgresUnavailable

    try:
        yield
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    except PostgresUnavailable as exc:
        raise click.ClickException(f"{_target()}: {exc}") from None
    except persistence.DatabaseError as exc:
        raise click.ClickException(f"{component}: {exc}") from None


@click.group(help=COMMANDS["db"])
def db() -> None:
    pass


@db.command()
def upgrade() -> None:
    """Apply the missing schema migrations (safe to repeat; servers do it at start-up unless
    database_auto_upgrade is false)."""
    from santeid import db as persistence
    from santeid.db.schemas import all_schemas

    settings = get_settings()
    click.echo(f"database: {_target()}")
    for schema in all_schemas():
        with _refused(schema.component.name):
            database = persistence.database_for(settings, schema.component)
            found, now = persistence.upgrade(database, schema)
        state = "up to date" if found == now else f"upgraded from {found}"
        click.echo(f"  {schema.component.name:<8} version {now} ({state})")


@db.command()
@click.option(
    "--check",
    is_flag=True,
    help="Exit status 1 unless every component is current (for deployment scripts).",
)
def status(check: bool) -> None:
    """Show each component's schema version in the database and the one this santeid knows
    (only reads: a database that does not exist yet is shown at version 0, not created).
    With --check, exit status 1 unless every component is current."""
    from santeid import db as persistence
    from santeid.db.schemas import all_schemas

    settings = get_settings()
    click.echo(f"database: {_target()}")
    current = True
    newer: list[str] = []
    for schema in all_schemas():
        name = schema.component.name
        with _refused(name):
            database = persistence.database_for(settings, schema.component)
            try:
                found = persistence.current_version(database, schema)
            except persistence.SchemaTooNew as exc:
                found = exc.found
        absent = isinstance(database, persistence.SqliteDatabase) and not database.exists()
        if absent:
            note = "no database yet: run `santeid db upgrade`"
        elif found == schema.version:
            note = "current"
        elif found > schema.version:
            note = "newer than this santeid knows"
            newer.append(f"version {found} of {name}")
        else:
            note = "run `santeid db upgrade`"
        current = current and note == "current"
        click.echo(f"  {name:<8} {found} of {schema.version} ({note})")
    if newer:
        raise click.ClickException(
            f"a newer santeid upgraded this database: run a santeid release newer than this one "
            f"({_release()}), one that knows {', '.join(newer)}; santeid never downgrades a "
            "schema"
        )
    if check and not current:
        raise SystemExit(1)


def _release() -> str:
    from importlib.metadata import version

    return version("santeid")


@db.command("migrate-from-sqlite")
@click.argument(
    "data_dir", type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
)
def migrate_from_sqlite(data_dir: Path) -> None:
    """Copy the embedded installation in DATA_DIR (its *.sqlite3 files) into database_url.

    Every component's tables are copied, table by table (docs/deployment.md). It can be run
    again after an interruption, and once more just before switching over: rows changed or
    removed since (a revoked device or card, a removed client) are updated or removed too.
    The civil-status base and the directory stay per-host SQLite files."""
    from santeid import db as persistence
    from santeid.db.copy import CopyConflict
    from santeid.db.copy import NoInstallation
    from santeid.db.copy import migrate_from_sqlite as copy

    settings = get_settings()
    if not settings.database.url:
        raise click.ClickException(
            "database_url is not set: set SANTEID_DATABASE_URL=postgresql://… to the database "
            "to copy into"
        )
    click.echo(f"copying {data_dir} into {_target()}")
    refused: tuple[type[Exception], ...] = (
        ConfigurationError,
        CopyConflict,
        NoInstallation,
        *persistence.DatabaseError,
    )
    try:
        report = copy(data_dir, settings)
    except refused as exc:
        raise click.ClickException(str(exc)) from None
    width = max(len(entry.table) for entry in report)
    for entry in report:
        click.echo(
            f"  {entry.table:<{width}} {entry.source:>8} rows in the source, "
            f"{entry.copied:>8} copied, {entry.already_there:>8} already there, "
            f"{entry.updated:>8} updated, {entry.removed:>8} removed"
        )

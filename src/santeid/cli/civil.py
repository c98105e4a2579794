"""``santeid civil``: the synthetic civil-status base behind the INSi teleservice."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

import click

from santeid.cli import COMMANDS
from santeid.cli import Integer
from santeid.cli import get_settings

BASE_NAME = "civil-status.sqlite3"


def _default_base() -> Path:
    return get_settings().data_path / BASE_NAME


@click.group(help=COMMANDS["civil"])
def civil() -> None:
    pass


@civil.command()
@click.option(
    "--persons", type=Integer(min=0), required=True, help="Synthetic persons to generate."
)
@click.option("--seed", type=Integer(), default=1, show_default=True, help="Master random seed.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Output file, its directory created if missing [default: {{data_dir}}/{BASE_NAME}].",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-01-01",
    show_default=True,
    help="Reference day for ages and deaths, 1900-01-01 or later (the clock is never read: "
    "output is reproducible).",
)
@click.option(
    "--jobs",
    type=Integer(min=1),
    default=os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="Processes drawing persons (the file is the same whatever the number).",
)
def generate(persons: int, seed: int, out: Path | None, as_of: datetime, jobs: int) -> None:
    """Generate the base: PERSONS synthetic people plus the published fictitious test set.

    The same --persons, --seed and --as-of give a byte-for-byte identical file, whatever --jobs.
    """
    from santeid.civil_status.generate import check_as_of
    from santeid.civil_status.generate import generate as run

    try:
        check_as_of(as_of.date())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--as-of'") from None
    target = out or _default_base()
    with click.progressbar(length=persons, label="Generating persons", show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.pos)
            if done == total:
                bar.label = "Building indexes"
                bar.render_progress()

        summary = run(target, persons, seed, as_of=as_of.date(), progress=progress, jobs=jobs)
    rate = summary.persons / summary.seconds if summary.seconds else 0.0
    share = 100.0 * summary.nia / summary.persons if summary.persons else 0.0
    lines = [
        f"Civil-status base written to {summary.path} ({summary.size_bytes / 1e6:,.1f} MB)",
        f"  persons                 {summary.persons:,} synthetic"
        f" + {summary.test_persons} published test identities",
        f"  NIA                     {summary.nia:,} ({share:.2f} %)",
        f"  deceased                {summary.deceased:,}",
        f"  homonym groups          {summary.homonym_groups:,}",
        f"  twin pairs              {summary.twin_pairs:,}",
        f"  on a parent's card      {summary.minors_on_parent_card:,}",
        f"  history entries         {summary.history_entries:,}",
        f"  births moved a month    {summary.moved_births:,} (their month's order numbers full)",
        f"  time                    {summary.seconds:,.1f} s ({rate:,.0f} persons/s)",
        f"  seed {summary.seed}, as of {summary.as_of.isoformat()}",
    ]
    click.echo("\n".join(lines))


@civil.command()
@click.argument("matricule")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Base to read [default: {{data_dir}}/{BASE_NAME}].",
)
def show(matricule: str, db: Path | None) -> None:
    """Show the person holding MATRICULE (13 characters, or 15 with the key; spaces allowed)."""
    from santeid.civil_status import schema
    from santeid.civil_status.nir import MatriculeError
    from santeid.civil_status.nir import format_key
    from santeid.civil_status.nir import oid_for
    from santeid.insi.service import parse_ins_matricule

    try:
        # Read as INSi reads it: the published test matricules keep their published keys.
        parts = parse_ins_matricule(matricule)
    except MatriculeError as exc:
        raise click.ClickException(str(exc)) from None
    path = db or _default_base()
    if not path.exists():
        raise click.ClickException(
            f"no civil-status base at {path}: run 'santeid civil generate --persons N' first"
        )
    try:
        conn = schema.open_base(path)
    except (ValueError, sqlite3.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        person = conn.execute(schema.SQL_SHOW_BY_MATRICULE, (parts.number,)).fetchone()
        note = ""
        if person is None:
            earlier = conn.execute(schema.SQL_HISTORY_OWNER, (parts.number,)).fetchone()
            if earlier is None:
                raise click.ClickException(f"no person with matricule {parts.number}")
            person = conn.execute(schema.SQL_SHOW_BY_ID, (earlier["person_id"],)).fetchone()
            note = f"  ({parts.number} is an earlier matricule of this person)"
        history = conn.execute(schema.SQL_SHOW_HISTORY, (person["id"],)).fetchall()
        od = conn.execute(schema.SQL_SHOW_BY_ID, (person["od_id"],)).fetchone()
        beneficiaries = conn.execute(
            schema.SQL_SHOW_BENEFICIARIES, (person["id"], person["id"])
        ).fetchall()
        source = conn.execute(schema.SQL_SHOW_TEST_SOURCE, (person["id"],)).fetchone()
    finally:
        conn.close()

    ins = person["matricule"] + format_key(person["cle"])
    lines = [
        f"{person['birth_name']} {person['given_names']}{note}",
        f"  INS               {ins} ({person['kind']}, OID {oid_for(person['oid'])})",
        f"  birth name        {person['birth_name']}   (civil status: {person['birth_name_raw']})",
        f"  given names       {person['given_names']}"
        f"   (civil status: {person['given_names_raw']})",
        f"  first given name  {person['first_given_name']}",
        f"  sex               {person['sex']}",
        f"  birth date        {person['birth_date']}  (rang {person['rang']})",
        f"  birthplace        {person['birthplace']}",
        f"  deceased          {person['death_date'] or 'no'}",
    ]
    if od is None or od["id"] == person["id"]:
        lines.append("  carte Vitale      own card (ouvrant droit)")
    else:
        lines.append(
            f"  carte Vitale      on the card of {od['matricule']}{format_key(od['cle'])}"
            f" ({od['birth_name']} {od['first_given_name']})"
        )
    for b in beneficiaries:
        lines.append(
            f"  beneficiary       {b['matricule']}{format_key(b['cle'])} {b['birth_name']}"
            f" {b['first_given_name']}, born {b['birth_date']}, rang {b['rang']}"
        )
    for h in history:
        span = " → ".join(d or "?" for d in (h["date_deb"], h["date_fin"]))
        lines.append(
            f"  history {h['seq']}         {h['matricule']}{format_key(h['cle'])}"
            f" (OID {oid_for(h['oid'])}) {span}"
        )
    if source is not None:
        lines.append(f"  published test identity: {source['source']}")
    click.echo("\n".join(lines))

"""``santeid directory``: look at, seed, import and generate the professionals directory.

The directory file is ``{data_dir}/directory.sqlite3``; it is created on first use.
``import`` loads a RASS "Extraction ProSanteConnect" file (``docs/directory.md``); ``generate``
builds a synthetic directory at national scale; ``nomenclatures`` lists the shipped code lists.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from santeid.cli import COMMANDS
from santeid.cli import NATIONAL_ID
from santeid.cli import Integer
from santeid.cli import get_settings
from santeid.cli import stop_on_sigterm
from santeid.directory import Directory
from santeid.directory import Professional
from santeid.directory import nomenclatures
from santeid.directory.extraction import FORMAT
from santeid.directory.models import PROFESSION_LABELS
from santeid.psc.claims import build_userinfo
from santeid.psc.claims import sub_for
from santeid.psc.national_id import NationalId

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@contextlib.contextmanager
def _open_directory() -> Iterator[Directory]:
    store = Directory.for_settings(get_settings())
    try:
        yield store
    finally:
        store.close()


def _professions_text(professional: Professional) -> str:
    return (
        ", ".join(f"{code} {PROFESSION_LABELS.get(code, '?')}" for code in professional.professions)
        or "(no exercice)"
    )


@click.group(help=COMMANDS["directory"])
def directory() -> None:
    pass


@directory.command("list")
@click.option("--sandbox", is_flag=True, help="Only professionals approved automatically.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_command(sandbox: bool, as_json: bool) -> None:
    """List professionals, ordered by national id."""
    with _open_directory() as store:
        professionals = store.list(sandbox_only=sandbox)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "national_id": p.national_id,
                        "id_type": p.id_type,
                        "family_name": p.family_name,
                        "given_name": p.given_name,
                        "professions": list(p.professions),
                        "sandbox_auto_approve": p.sandbox_auto_approve,
                        "status": p.status,
                    }
                    for p in professionals
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not professionals:
        click.echo("No professional. Load the demo set with: santeid directory seed-demo")
        return
    for p in professionals:
        flags = " [auto-approve]" if p.sandbox_auto_approve else ""
        flags += "" if p.is_active else f" [{p.status}]"
        click.echo(
            f"{p.national_id:<24} {p.family_name} {p.given_name} — {_professions_text(p)}{flags}"
        )


@directory.command("seed-demo")
def seed_demo() -> None:
    """Load the synthetic demo professionals (idempotent: run it again to reset them)."""
    with _open_directory() as store:
        loaded = store.seed_demo()
        total = store.count()
    click.echo(f"Loaded {loaded} demo professionals into {store.path} ({total} in all).")


@directory.command("show")
@click.argument("national_id", type=NATIONAL_ID)
@click.option("--json", "as_json", is_flag=True, help="Print the userinfo JSON only.")
@click.option(
    "--auth-mode",
    default=None,
    metavar="MODE",
    help="authMode claim to include (CARD, MOBILE…); left out by default.",
)
def show(national_id: NationalId, as_json: bool, auth_mode: str | None) -> None:
    """Show the userinfo PSC would send for NATIONAL_ID."""
    parsed = national_id
    with _open_directory() as store:
        professional = store.get(parsed.value)
    if professional is None:
        raise click.ClickException(f"no professional with national id {parsed.value}")
    userinfo = build_userinfo(
        professional,
        sub=sub_for(professional.national_id, get_settings().oidc.federation_id),
        auth_mode=auth_mode,
    )
    document = json.dumps(userinfo, ensure_ascii=False, indent=2)
    if as_json:
        click.echo(document)
        return
    p = professional
    click.echo(f"{p.national_id} ({parsed.kind}) {p.code_civilite} {p.family_name} {p.given_name}")
    click.echo(f"  professions: {_professions_text(p)}")
    click.echo(
        f"  status: {p.status}; sandbox auto-approve: {'yes' if p.sandbox_auto_approve else 'no'}"
    )
    for rank, exercice in enumerate(p.exercices, start=1):
        click.echo(
            f"  exercice {rank}: {exercice.code_profession} {exercice.code_savoir_faire or '-'}, "
            f"{len(exercice.activities)} activit{'y' if len(exercice.activities) == 1 else 'ies'}"
        )
        for activity in exercice.activities:
            s = activity.structure
            where = f"{s.raison_sociale} ({s.identifiant_technique})" if s else "no structure"
            click.echo(
                f"    {activity.code_mode_exercice or '-'} "
                f"{activity.code_secteur_activite or '-'} {where}"
            )
    click.echo("userinfo:")
    click.echo(document)


class _ClickProgress:
    """The importer's progress display: a bar on stderr (a label only when not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: ProgressBar[int] | None = None

    def start(self, label: str, total: int) -> None:
        if self.enabled:
            self._bar = click.progressbar(
                length=max(total, 1), label=label, file=sys.stderr, show_pos=False
            )
            self._bar.__enter__()

    def update(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.update(amount)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


#: What an operator does after an import that stopped half-way (docs/directory.md).
_RUN_AGAIN = "the batches committed so far stay applied; run the same import again to complete it"


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice([FORMAT]),
    default=FORMAT,
    show_default=True,
    help="File format: the RASS 'Extraction ProSanteConnect' (plain or zipped).",
)
@click.option(
    "--strict", is_flag=True, help="Refuse lines carrying codes absent from the NOS lists."
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar on stderr.")
def import_command(file: Path, file_format: str, strict: bool, progress: bool) -> None:
    """Import FILE as a full extract: add, change and remove professionals to match it.

    Re-importing the same file changes nothing. Malformed lines are reported with their line
    numbers and skipped; the exit code is 1 only when no line at all could be read.
    """
    from santeid.directory.importer import ExtractFormatError
    from santeid.directory.importer import ImportRunning
    from santeid.directory.importer import SecondProcessStopped
    from santeid.directory.importer import import_extraction

    # SIGTERM (a systemd timer's stop, ``timeout``, ``docker stop``) stops like Ctrl-C, so that
    # the staging copy of the extract is removed, the second process stopped and, after a bulk
    # load, the indexes created again, instead of Python's default of ending on the spot.
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with _open_directory() as store:
            report = import_extraction(
                store, file, source=file_format, strict=strict, progress=_ClickProgress(progress)
            )
    except (ExtractFormatError, ImportRunning) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException(f"import interrupted: {_RUN_AGAIN}") from None
    except SecondProcessStopped as exc:
        raise click.ClickException(f"{exc}: {_RUN_AGAIN}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    for line in report.summary():
        click.echo(line)
    if not report.valid_lines:
        sys.exit(1)


@directory.command("generate")
@click.option("--professionals", "count", type=Integer(1), required=True, help="How many.")
@click.option(
    "--seed", type=Integer(), default=1, show_default=True, help="Same seed, same people."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: this installation's directory). A name ending in .txt or .zip "
    "gets an Extraction ProSanteConnect file instead of a database.",
)
@click.option("--demo/--no-demo", default=True, help="Add the demo professionals (database only).")
@click.option(
    "--force", is_flag=True, help="Replace an existing output file, or a directory that has people."
)
@click.option("--jobs", type=Integer(1, 8), default=None, help="Processes (default: auto).")
def generate_command(
    count: int, seed: int, out: Path | None, demo: bool, force: bool, jobs: int | None
) -> None:
    """Generate a deterministic synthetic directory of COUNT professionals (real proportions)."""
    from santeid.directory import synthetic

    if out is not None and out.exists() and not force:
        raise click.ClickException(f"{out} exists: add --force to replace it")
    if out is not None and out.suffix.lower() in (".txt", ".zip"):
        from santeid.directory.extract_writer import write_extract

        with click.progressbar(
            length=count, label="Generating", file=sys.stderr, show_pos=True
        ) as bar:

            def counted():
                for professional in synthetic.professionals(count, seed):
                    bar.update(1)
                    yield professional

            try:
                write_extract(out, counted())
            except OSError as exc:
                raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
        click.echo(f"Wrote {count} synthetic professionals to {out} ({FORMAT}).")
        return
    if out is None:
        with _open_directory() as store:
            target = store.path
            existing = store.count()
        if existing and not force:
            raise click.ClickException(
                f"{target} already holds {existing} professionals: add --force to replace "
                "them, or --out FILE to write elsewhere"
            )
    else:
        target = out
    with click.progressbar(length=count, label="Generating", file=sys.stderr) as bar:
        report = synthetic.generate(
            target, count, seed, with_demo=demo, progress=bar.update, jobs=jobs
        )
    click.echo(
        f"Generated {report.professionals} professionals ({report.exercices} exercices, "
        f"{report.activities} activities, {report.structures} structures) into {target} "
        f"in {report.seconds:.1f} s. Restart a running server to serve them."
    )


@directory.command("nomenclatures")
@click.argument("table", required=False)
def nomenclatures_command(table: str | None) -> None:
    """List the shipped NOS code lists, or the codes of TABLE (TRE_G15, TRE_R38…)."""
    tables = nomenclatures.nomenclatures()
    if table is None:
        for short, nomenclature in tables.items():
            click.echo(f"{short:<8} {len(nomenclature.codes):>4} codes  {nomenclature.name}")
        return
    key = table.upper().split("-")[0]
    if key not in tables:
        raise click.ClickException(f"unknown table {table!r}; known: {', '.join(tables)}")
    for code, (label, source) in tables[key].codes.items():
        suffix = "" if source == tables[key].name else f"  [{source}]"
        click.echo(f"{code:<8} {label}{suffix}")

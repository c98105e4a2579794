"""``santeid directory``: look at and seed the professionals directory.

The directory file is ``{data_dir}/directory.sqlite3``; it is created on first use.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import click

from santeid.cli import get_settings
from santeid.directory import Directory
from santeid.directory import Professional
from santeid.directory.models import PROFESSION_LABELS
from santeid.psc.claims import build_userinfo
from santeid.psc.claims import sub_for
from santeid.psc.national_id import NationalIdError
from santeid.psc.national_id import parse_national_id


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


@click.group()
def directory() -> None:
    """The professionals directory (RPPS-like) the provider logs people in from."""


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
@click.argument("national_id")
@click.option("--json", "as_json", is_flag=True, help="Print the userinfo JSON only.")
@click.option(
    "--auth-mode",
    default=None,
    metavar="MODE",
    help="authMode claim to include (CARD, MOBILE…); left out by default.",
)
def show(national_id: str, as_json: bool, auth_mode: str | None) -> None:
    """Show the userinfo PSC would send for NATIONAL_ID."""
    try:
        parsed = parse_national_id(national_id)
    except NationalIdError as exc:
        raise click.ClickException(exc.message_en) from None
    with _open_directory() as store:
        professional = store.get(parsed.value)
    if professional is None:
        raise click.ClickException(f"no professional with national id {parsed.value}")
    userinfo = build_userinfo(
        professional,
        sub=sub_for(professional.national_id, get_settings().federation_id),
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

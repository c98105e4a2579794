"""``santeid cps``: test CPS cards — issue, revoke, list (see docs/cps-card.md), and approve
a CARD-channel CIBA request as the workstation would (docs/ciba.md).

The test authority lives in ``{keys_dir}/cps-test-ca.pem`` / ``.key`` (created by the first
``issue-card``); issued and revoked cards in ``{data_dir}/cps-cards.sqlite3``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import click

from santeid.cli import COMMANDS
from santeid.cli import CREDENTIALS_OUT
from santeid.cli import NATIONAL_ID
from santeid.cli import TAKES_RANDOM_ID
from santeid.cli import Integer
from santeid.cli import get_settings
from santeid.cli import refuse_test_authority
from santeid.cli import test_authority_option
from santeid.cli.server_url import chosen_server
from santeid.cli.server_url import server_option
from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.cps.cards import CARD_VALIDITY_DAYS
from santeid.cps.cards import issue_test_card
from santeid.cps.registry import CardRegistry
from santeid.directory import Directory
from santeid.directory import Professional
from santeid.pki import PKIError
from santeid.pki import load_certificates
from santeid.pki import name_text
from santeid.pki import serial_hex
from santeid.psc.national_id import NationalId


@click.group(help=COMMANDS["cps"])
def cps() -> None:
    pass


@cps.command("issue-card")
@click.argument("national_id", type=NATIONAL_ID)
@CREDENTIALS_OUT
@click.option(
    "--days",
    default=CARD_VALIDITY_DAYS,
    show_default=True,
    type=Integer(1, 3650),
    help="Validity period.",
)
@click.option("--expired", is_flag=True, help="A card that expired yesterday (to test refusal).")
@click.option("--not-yet-valid", is_flag=True, help="A card valid from tomorrow (to test refusal).")
@click.option(
    "--allow-unknown",
    is_flag=True,
    help="Issue even if NATIONAL_ID is not in the directory (to test refusal).",
)
@test_authority_option("cards", "cps_ca_file")
def issue_card(
    national_id: NationalId,
    out_dir: Path,
    days: int,
    expired: bool,
    not_yet_valid: bool,
    allow_unknown: bool,
    outside_sandbox: bool,
) -> None:
    """Issue a test card certificate for the professional NATIONAL_ID.

    The subject is C=FR, O/OU (first structure), title (profession), SN, GN and
    CN=<national id>. The test authority is created on first use. Outside sandbox mode
    the command refuses unless --test-authority is given: card logins there trust
    cps_ca_file only (docs/cps-card.md, "Production").
    """
    if expired and not_yet_valid:
        raise click.UsageError("--expired and --not-yet-valid exclude each other")
    settings = get_settings()
    refuse_test_authority(
        settings,
        outside_sandbox,
        "card logins trust cps_ca_file only, so a test card would be refused (untrusted_issuer)",
    )
    parsed = national_id
    directory = Directory.for_settings(settings)
    try:
        professional = directory.get(parsed.value)
    finally:
        directory.close()
    if professional is None:
        if not allow_unknown:
            raise click.ClickException(
                f"{parsed.value} is not in the directory ({settings.data_path}/"
                "directory.sqlite3): load it first (`santeid directory seed-demo`), or pass "
                "--allow-unknown to make a card the server will refuse"
            )
        professional = Professional(
            national_id=parsed.value,
            id_type=parsed.id_type,
            local_id=parsed.local_id,
            family_name="INCONNU",
            given_names=("CARTE",),
        )
    not_before = not_after = None
    # A command's own moment: it runs without the application.
    now = utc_datetime(system_clock)
    if expired:
        not_before, not_after = (
            now - datetime.timedelta(days=days + 1),
            now - datetime.timedelta(days=1),
        )
    elif not_yet_valid:
        not_before = now + datetime.timedelta(days=1)
        not_after = not_before + datetime.timedelta(days=days)
    try:
        # The files first: a card whose key cannot be written is not recorded.
        card = issue_test_card(
            settings,
            professional,
            days=days,
            not_before=not_before,
            not_after=not_after,
            out_dir=out_dir,
        )
    except (PKIError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"issued card {serial_hex(card.certificate)} for {parsed.value}")
    click.echo(f"  subject  {name_text(card.certificate.subject)}")
    click.echo(f"  issuer   {name_text(card.certificate.issuer)}")
    click.echo(
        f"  valid    {card.certificate.not_valid_before_utc:%Y-%m-%d %H:%M}Z → "
        f"{card.certificate.not_valid_after_utc:%Y-%m-%d %H:%M}Z"
    )
    for role, path in card.files.items():
        click.echo(f"  {role:<8} {path}")


@cps.command("revoke-card")
@click.argument("serial_or_dir")
@click.option("--reason", default="", help="Free text kept with the revocation.")
def revoke_card(serial_or_dir: str, reason: str) -> None:
    """Revoke a card: SERIAL_OR_DIR is a hexadecimal serial number, a certificate file, or
    a directory holding cert.pem (as written by issue-card)."""
    settings = get_settings()
    path = Path(serial_or_dir)
    if path.is_dir():
        path = path / "cert.pem"
    if path.is_file():
        try:
            serial = serial_hex(load_certificates(path)[0])
        except PKIError as exc:
            raise click.ClickException(str(exc)) from None
    elif path.exists() or "/" in serial_or_dir:
        raise click.ClickException(f"{serial_or_dir}: no cert.pem there")
    else:
        serial = serial_or_dir
    registry = CardRegistry.for_settings(settings)
    try:
        record, newly = registry.revoke(serial, reason)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SERIAL_OR_DIR") from None
    who = f" ({record.national_id})" if record.national_id else " (not issued here)"
    if newly:
        click.echo(f"revoked card {record.serial}{who}: refused from the next login on")
    else:
        click.echo(f"card {record.serial}{who} was already revoked")


@cps.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_cards(as_json: bool) -> None:
    """Cards issued here and revoked serials, with their status."""
    records = CardRegistry.for_settings(get_settings()).list()
    if as_json:
        click.echo(json.dumps([r.as_json() for r in records], ensure_ascii=False, indent=2))
        return
    if not records:
        click.echo("no card issued or revoked yet: `santeid cps issue-card NATIONAL_ID --out DIR`")
        return
    rows = [("SERIAL", "NATIONAL ID", "NOT AFTER", "STATUS")]
    for r in records:
        not_after = (
            "-"
            if r.not_after is None
            else datetime.datetime.fromtimestamp(r.not_after, datetime.UTC).strftime(
                "%Y-%m-%d %H:%MZ"
            )
        )
        rows.append((r.serial, r.national_id or "-", not_after, r.status()))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cps.command("approve", context_settings=TAKES_RANDOM_ID)
@click.option(
    "--card",
    "card_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory holding the card's cert.pem and key.pem (as written by issue-card).",
)
@server_option
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA for https.")
@click.argument("auth_req_id")
def approve(card_dir: Path, server: str | None, ca_file: str | None, auth_req_id: str) -> None:
    """Approve the CARD-channel CIBA request AUTH_REQ_ID with a test card, as the
    professional's workstation does: read the request's challenge, sign it with the card
    key, send the signature and the card certificate (docs/ciba.md, "CARD channel")."""
    import base64

    import requests
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        cert_pem = (card_dir / "cert.pem").read_text()
        key = serialization.load_pem_private_key((card_dir / "key.pem").read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot read the card in {card_dir}: {exc}") from None
    issuer, why = chosen_server(get_settings(), server)
    click.echo(f"server: {issuer} ({why})")
    url = f"{issuer}/protocol/openid-connect/ext/ciba/card/{auth_req_id}"
    verify: bool | str = ca_file or True
    try:
        described = requests.get(url, timeout=10, verify=verify)
        if described.status_code != 200:
            raise click.ClickException(f"{described.status_code}: {described.text.strip()}")
        request = _card_request(described)
        data = request["signing_input"].encode()
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
        else:
            raise click.ClickException("the card key must be RSA or EC")
        binding = request.get("binding_message")
        click.echo(
            f"{request['client_name']} asks to log you in"
            + (f" (binding message {binding})" if binding else "")
        )
        answer = requests.post(
            url,
            json={
                "certificate": cert_pem,
                "signature": base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
            },
            timeout=10,
            verify=verify,
        )
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {issuer}: {exc}") from None
    if answer.status_code != 200:
        raise click.ClickException(f"{answer.status_code}: {answer.text.strip()}")
    click.echo("approved with the card: the service can now fetch its tokens")


def _card_request(response) -> dict:
    """The CARD-channel request the server described (docs/ciba.md, "CARD channel"): a JSON
    object with the ``signing_input`` to sign, the ``client_name`` and an optional
    ``binding_message``; anything else is a one-line error."""
    try:
        request = response.json()
    except ValueError:
        request = None
    if (
        isinstance(request, dict)
        and isinstance(request.get("signing_input"), str)
        and isinstance(request.get("client_name"), str)
        and isinstance(request.get("binding_message") or "", str)
    ):
        return request
    raise click.ClickException(
        f"unexpected answer from {response.url}: not a card request "
        "(a JSON object with signing_input, client_name and binding_message)"
    )

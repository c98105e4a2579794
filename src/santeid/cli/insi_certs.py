"""``santeid insi issue-cert``: test establishment certificates for the INSi mTLS mode.

INSi authenticates a structure's software by the TLS client certificate of the structure, an
IGC-Santé "ORG" certificate whose CN is exactly ``INSI-AUTO`` (unattended calls) or
``INSI-MANU`` (operator-initiated calls), issued in qualification by "TEST AC IGC-SANTE
ELEMENTAIRE ORGANISATIONS" (docs/reference/insi-teleservice.md §7). This command plays that
authority: the test INSi CA
``{keys_dir}/insi-test-ca.pem`` / ``.key`` (created on first use, then reused; what
``insi_ca_file`` defaults to in sandbox mode) issues the certificate and writes
``DIR/cert.pem``, ``DIR/key.pem`` (0600) and ``DIR/ca.pem`` (the authority, to give to
``santeid serve --client-ca``). Outside sandbox mode it refuses unless told
``--test-authority``: the server trusts ``insi_ca_file`` only there
(``santeid.insi.auth.insi_ca_path``). See ``docs/insi-soap.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from santeid.cli import CREDENTIALS_OUT
from santeid.cli import Integer
from santeid.cli import get_settings
from santeid.cli import refuse_test_authority
from santeid.cli import test_authority_option
from santeid.insi.auth import INSI_CERTIFICATE_CNS
from santeid.insi.auth import insi_test_authority
from santeid.pki import CLIENT_AUTH
from santeid.pki import PKIError
from santeid.pki import issue_certificate
from santeid.pki import name_text
from santeid.pki import serial_hex
from santeid.pki import subject_name
from santeid.pki import write_credentials

#: A FINESS (9 characters, 2A/2B allowed), a SIRET (14 digits), or a structure identifier as
#: INSi clients send it in ``Emetteur`` (e.g. ``10B0152872``, docs/reference/insi-teleservice.md
#: §3).
STRUCTURE = re.compile(r"[0-9A-Za-z]{9,15}")

#: Validity of an establishment certificate (IGC-Santé ORG certificates: 3 years).
DEFAULT_DAYS = 1095


@click.command("issue-cert")
@click.option(
    "--structure",
    required=True,
    help="FINESS or SIRET of the structure (the certificate's OU; INSi's Emetteur).",
)
@click.option(
    "--cn",
    "common_name",
    required=True,
    type=click.Choice(INSI_CERTIFICATE_CNS),
    help="INSI-AUTO (unattended calls) or INSI-MANU (operator-initiated calls).",
)
@CREDENTIALS_OUT
@click.option(
    "--organization",
    default="STRUCTURE DE TEST",
    show_default=True,
    help="The structure's name (the certificate's O).",
)
@click.option(
    "--days",
    default=DEFAULT_DAYS,
    show_default=True,
    type=Integer(1, 3650),
    help="Validity period.",
)
@test_authority_option("certificates", "insi_ca_file")
def issue_cert(
    structure: str,
    common_name: str,
    out_dir: Path,
    organization: str,
    days: int,
    outside_sandbox: bool,
) -> None:
    """Issue a test INSi establishment certificate (CN INSI-AUTO or INSI-MANU).

    The test INSi CA under keys_dir is created on first use. Present cert.pem/key.pem as the
    TLS client certificate; santeid must trust ca.pem (santeid serve --client-ca). Outside
    sandbox mode the command refuses unless --test-authority is given: INSi trusts
    insi_ca_file only there (docs/insi-soap.md, "Authentication").
    """
    if not STRUCTURE.fullmatch(structure):
        raise click.BadParameter(
            "a FINESS (9 characters) or SIRET (14 digits): letters and digits only",
            param_hint="--structure",
        )
    settings = get_settings()
    refuse_test_authority(
        settings,
        outside_sandbox,
        "INSi trusts insi_ca_file only, so a test certificate would be refused (DESIR_560)",
    )
    try:
        authority = insi_test_authority(settings)
        certificate, key = issue_certificate(
            authority,
            subject=subject_name(
                common_name=common_name,
                country="FR",
                organization=organization[:64] or None,
                organizational_unit=structure,
            ),
            key_type="rsa-2048",
            days=days,
            key_usage=("digital_signature", "key_encipherment"),
            extended_key_usages=(CLIENT_AUTH,),
        )
        paths = write_credentials(out_dir, certificate, key, authority)
    except (PKIError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"subject     {name_text(certificate.subject)}")
    click.echo(f"issuer      {name_text(certificate.issuer)}")
    click.echo(f"serial      {serial_hex(certificate)}")
    click.echo(f"valid until {certificate.not_valid_after_utc:%Y-%m-%d}")
    for label, path in paths.items():
        click.echo(f"{label:<11} {path}")


#: Commands added to the ``santeid insi`` group (``santeid.cli.insi``).
COMMANDS = (issue_cert,)

"""``santeid tls``: certificates for serving TLS in development (see docs/cps-card.md)."""

from __future__ import annotations

from pathlib import Path

import click

from santeid.cli import COMMANDS
from santeid.cli import CREDENTIALS_OUT
from santeid.cli import Integer
from santeid.cli import get_settings
from santeid.pki import PKIError
from santeid.pki import TestAuthority
from santeid.pki import check_server_host
from santeid.pki import issue_server_certificate
from santeid.pki import serial_hex
from santeid.pki import write_credentials

#: The test authority that signs dev server certificates, stored as
#: ``{keys_dir}/tls-test-ca.pem`` / ``.key``. Only this command knows it: the TLS layer
#: (:mod:`santeid.tls`) serves whatever certificate it is given, whoever signed it.
TLS_TEST_CA_NAME = "tls-test-ca"
TLS_TEST_CA_COMMON_NAME = "TEST AC SANTEID SERVEURS"


def _hosts(ctx: click.Context, param: click.Parameter, hosts: tuple[str, ...]) -> tuple[str, ...]:
    for host in hosts:
        try:
            check_server_host(host)
        except PKIError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return hosts


@click.group(help=COMMANDS["tls"])
def tls() -> None:
    pass


@tls.command("dev-cert")
@CREDENTIALS_OUT
@click.option(
    "--host",
    "hosts",
    multiple=True,
    callback=_hosts,
    help="Host name or IP address the certificate is for (repeatable; "
    "default 127.0.0.1 and localhost).",
)
@click.option("--days", default=397, show_default=True, type=Integer(1, 3650))
def dev_cert(out_dir: Path, hosts: tuple[str, ...], days: int) -> None:
    """A server certificate signed by the test TLS authority ({keys_dir}/tls-test-ca.pem,
    created on first use). Clients trust it with ca.pem (curl --cacert, requests verify=)."""
    settings = get_settings()
    try:
        authority = TestAuthority.load_or_create(
            settings.keys_path, TLS_TEST_CA_NAME, common_name=TLS_TEST_CA_COMMON_NAME
        )
        certificate, key = issue_server_certificate(
            authority, hosts or ("127.0.0.1", "localhost"), days=days
        )
        files = write_credentials(out_dir, certificate, key, authority)
    except (PKIError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"issued server certificate {serial_hex(certificate)} for "
        f"{', '.join(hosts or ('127.0.0.1', 'localhost'))}"
    )
    for role, path in files.items():
        click.echo(f"  {role:<8} {path}")
    # The authorities the TLS layer asks for without --client-ca (santeid.cli.serve,
    # santeid.pki.trust_anchor_file): the test ones stand in for empty files in sandbox mode only.
    if settings.sandbox.enabled:
        trusted = (
            "sandbox mode: the test CPS and INSi authorities when cps_ca_file or insi_ca_file "
            "is empty"
        )
    else:
        trusted = "the test authorities are not trusted outside sandbox mode"
    click.echo(
        f"serve with: santeid serve --tls-cert {files['cert']} --tls-key {files['key']} "
        "(client certificates of the authorities of cps_ca_file, insi_ca_file and "
        f"tls_client_auth_ca_file are accepted; {trusted}; --client-ca PEM names others "
        "instead)"
    )

"""``santeid serve`` with several workers builds the application once, in a forked child, before
the workers start: errors are told once, and the supervising master stays small."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

import santeid
from santeid.cli import serve
from santeid.settings import Settings
from santeid.settings.base import listen_host
from tests.support.paths import ROOT


def test_a_sound_configuration_is_built_once_by_the_child(settings: Settings) -> None:
    secret = settings.data_path / "secret_key"
    assert not secret.exists()
    serve._build_once_in_a_child(settings)
    # First-start work (here the session secret kept in the data folder) was done, once.
    assert secret.read_text().strip()


def test_a_configuration_error_found_by_the_child_is_the_master_s_error(
    settings: Settings, tmp_path: Path
) -> None:
    professionals = tmp_path / "professionals.toml"
    professionals.write_text("[[professional]]\nnational_id = 12\n")
    broken = settings.replace(sandbox_professionals=str(professionals))
    with pytest.raises(click.ClickException) as raised:
        serve._build_once_in_a_child(broken)
    assert raised.value.message.startswith("sandbox_professionals:\n  ")
    assert str(professionals) in raised.value.message


def test_an_unexpected_failure_in_the_child_is_shown_and_refuses_the_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken_factory(_settings: Settings) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(santeid, "create_app", broken_factory)  # the forked child inherits it
    with pytest.raises(click.ClickException) as raised:
        serve._build_once_in_a_child(settings)
    assert raised.value.message == "the application could not be built (traceback above)"
    assert "RuntimeError: the disk is on fire" in capfd.readouterr().err


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "[::]", "192.168.1.20", "127.0.0.1", "::1", "[::1]", "fe80::1%eth0",  # noqa: S104
     "LOCALHOST", "IDP.Example.ORG", "FE80::1%Eth0"],
)  # fmt: skip
def test_make_run_prints_the_pages_at_the_address_of_the_issuer(host: str) -> None:
    """``make run HOST=0.0.0.0`` (docs/ecps-app.md, a phone on the same network) serves on every
    address with the issuer ``http://127.0.0.1:…``: the pages it prints to begin with (README,
    "Two commands") are at the issuer's address, not at the wildcard a browser cannot open —
    nor at ``http://LOCALHOST:…`` where the issuer writes the name in lower case."""
    dry_run = subprocess.run(
        ["make", "-n", "run", f"HOST={host}", "PORT=8000"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    listened = listen_host(host)  # santeid serve's --host
    issuer = serve._effective_settings(Settings(), listened, 8000, None, sandbox=True).issuer
    origin = issuer.split("/auth/", 1)[0]
    printed = re.findall(r"(https?://[^/\s\"]+)/\S*\s", dry_run.stdout)
    assert printed and set(printed) == {origin}, (printed, origin)


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("::1", "http://[::1]:8000"),
        ("[::1]", "http://[::1]:8000"),
        ("::", "http://127.0.0.1:8000"),
        # RFC 6874 §2: a zone in a URI is "%25" and the zone; a bare % is no URI.
        ("fe80::1%eth0", "http://[fe80::1%25eth0]:8000"),
        ("localhost", "http://localhost:8000"),
        # RFC 3986 §6.2.2.1: a host name is compared in lower case, and written so.
        ("LocalHost", "http://localhost:8000"),
        ("IDP.Example.ORG", "http://idp.example.org:8000"),
        ("fe80::1%Eth0", "http://[fe80::1%25Eth0]:8000"),  # an interface name keeps its case
    ],
)
def test_the_issuer_follows_the_address_as_a_uri_writes_it(host: str, origin: str) -> None:
    """The issuer ``santeid serve --host`` makes when none is configured (docs/configuration.md):
    an IPv6 literal in brackets (RFC 3986 §3.2.2) with its zone, if any, written as RFC 6874
    writes it — it was ``http://[fe80::1%eth0]:…``, whose ``%et`` is no percent-encoding, so no
    URI a client can take for the issuer."""
    issuer = serve._effective_settings(
        Settings(), listen_host(host), 8000, None, sandbox=True
    ).issuer
    assert issuer == f"{origin}/auth/realms/esante-wallet"

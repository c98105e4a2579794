"""Attacks reproduced against real server processes: ``santeid serve`` in each shipped layout,
a real nginx in front, a real Redis for the multi-process servers."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from santeid.cli import main
from tests.support.servers import santeid_home


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, str]:
    """A development certificate for a server's direct TLS (``santeid tls dev-cert``): the
    paths of its ``cert``, ``key`` and ``ca`` PEM files."""
    home = santeid_home(tmp_path_factory.mktemp("tls"))
    result = CliRunner().invoke(
        main, ["tls", "dev-cert", "--out", str(home.home / "tls")], env=home.env
    )
    assert result.exit_code == 0, result.output
    return {name: str(home.home / "tls" / f"{name}.pem") for name in ("cert", "key", "ca")}

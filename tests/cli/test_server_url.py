"""Which server the commands that call one talk to (``santeid.cli.server_url``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from santeid.cli.server_url import record_serving
from santeid.cli.server_url import server_issuer
from santeid.settings import Settings

DEFAULT = "http://127.0.0.1:5000/auth/realms/esante-wallet"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=str(tmp_path / "var"))


def test_explicit_server_as_issuer_or_as_base_url(settings):
    issuer = "https://idp.example.org/auth/realms/esante-wallet"
    assert server_issuer(settings, issuer + "/") == (issuer, "--server")
    assert server_issuer(settings, "http://127.0.0.1:8443") == (
        "http://127.0.0.1:8443/auth/realms/esante-wallet",
        "--server",
    )
    with pytest.raises(ValueError, match="--server"):
        server_issuer(settings, "127.0.0.1:8443")


def test_the_configured_issuer_wins_over_a_running_server(settings):
    record_serving(settings.replace(issuer="http://127.0.0.1:9999/auth/realms/esante-wallet"))
    configured = settings.replace(issuer="https://idp.example.org/auth/realms/esante-wallet")
    assert server_issuer(configured) == (configured.issuer, "the configured issuer")


def test_the_running_server_recorded_by_serve(settings):
    running = settings.replace(issuer="http://127.0.0.1:8443/auth/realms/esante-wallet")
    record_serving(running)  # this test process stands for the living server
    issuer, why = server_issuer(settings)
    assert issuer == running.issuer and why.startswith("the running santeid serve")


def test_a_stopped_server_is_not_used(settings):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    settings.data_path.mkdir(parents=True)
    (settings.data_path / "serving.json").write_text(
        json.dumps({"issuer": "http://127.0.0.1:8443/x", "pid": int(ended.stdout)})
    )
    assert server_issuer(settings) == (DEFAULT, "the default issuer")
    (settings.data_path / "serving.json").write_text("not json")
    assert server_issuer(settings) == (DEFAULT, "the default issuer")

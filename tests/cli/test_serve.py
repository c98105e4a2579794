"""``santeid serve`` with several workers builds the application once, in a forked child, before
the workers start: errors are told once, and the supervising master stays small."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

import santeid
from santeid.cli import serve
from santeid.settings import Settings


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

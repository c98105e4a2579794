"""``santeid insi software add`` and the server resolve the data directory with one function
(``santeid.settings.resolve_data_dir``): a command run from another directory with the
server's configuration file writes where the server reads, and says where that is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from santeid.insi.service import InsiService
from santeid.settings import load_settings

SANTEID = str(Path(sys.executable).with_name("santeid"))


def test_software_add_from_another_directory_writes_the_servers_data(tmp_path):
    home, elsewhere = tmp_path / "deploy", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    config = home / "santeid.toml"
    config.write_text('data_dir = "var"\nkeys_dir = "keys"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    env["SANTEID_CONFIG"] = str(config)
    result = subprocess.run(
        [SANTEID, "insi", "software", "add", "TESTDATADIR1", "--name", "data dir"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = (home / "var").resolve()
    assert f"santeid: data directory {data} (no INSi data there yet)" in result.stderr
    assert not (elsewhere / "var").exists()
    # The server's settings, loaded from the same file in its own working directory.
    settings = load_settings({"SANTEID_CONFIG": str(config)})
    assert settings.data_path == data
    assert InsiService.for_settings(settings).software().get("TESTDATADIR1") is not None
    again = subprocess.run(
        [SANTEID, "insi", "software", "list"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "TESTDATADIR1" in again.stdout
    assert f"santeid: data directory {data}\n" in again.stderr


def test_an_absolute_data_dir_is_used_as_is(tmp_path):
    settings = load_settings({"SANTEID_DATA_DIR": str(tmp_path / "abs")})
    assert settings.data_path == tmp_path / "abs"


def test_without_a_configuration_file_the_working_directory_anchors_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).data_path == tmp_path.resolve() / "var"

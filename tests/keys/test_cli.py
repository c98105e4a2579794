"""``santeid keys generate | rotate | list`` through click's CliRunner."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from click.testing import Result

from santeid.cli import main
from santeid.ecps.push import load_vapid_key
from santeid.keys.vapid import VAPID_KEY_FILE
from santeid.keystore import KEYS_FILENAME
from santeid.keystore import KeyStore


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def run(keys_dir: Path, monkeypatch: pytest.MonkeyPatch):
    # Only SANTEID_KEYS_DIR (and what a test adds) may shape the settings.
    for variable in ("SANTEID_CONFIG", "SANTEID_SIGNING_ALG"):
        monkeypatch.delenv(variable, raising=False)

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            main, ["keys", *args], env={"SANTEID_KEYS_DIR": str(keys_dir), **(env or {})}
        )

    return invoke


def listed(run, env: dict[str, str] | None = None) -> list[dict]:
    result = run("list", "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_generate(run, keys_dir: Path) -> None:
    """Every key a server needs: the signing key, the refresh-token secret and the Web Push
    key (docs/keys.md, "A new server's keys")."""
    result = run("generate")
    assert result.exit_code == 0, result.output
    key, secret = listed(run)
    assert result.output == (
        f"generated RS256 key {key['kid']} in {keys_dir}/\n"
        f"generated HS512 key {secret['kid']} in {keys_dir}/\n"
        f"generated the Web Push key {keys_dir / VAPID_KEY_FILE}\n"
    )
    assert (key["alg"], key["status"], key["key_size"]) == ("RS256", "active", 2048)
    assert (secret["alg"], secret["status"], secret["published"]) == ("HS512", "active", False)
    for path in (keys_dir / KEYS_FILENAME, keys_dir / VAPID_KEY_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert load_vapid_key(keys_dir).public_key is not None


def test_generate_with_an_algorithm_makes_that_key_only(run, keys_dir: Path) -> None:
    result = run("generate", "--alg", "RS256")
    assert result.exit_code == 0, result.output
    assert [k["alg"] for k in listed(run)] == ["RS256"]
    assert not (keys_dir / VAPID_KEY_FILE).exists()


def test_generate_is_idempotent(run, keys_dir: Path) -> None:
    first = run("generate")
    vapid = (keys_dir / VAPID_KEY_FILE).read_bytes()
    second = run("generate")
    assert second.exit_code == 0
    assert "already exists" in second.output and "santeid keys rotate" in second.output
    assert f"kept the Web Push key {keys_dir / VAPID_KEY_FILE}" in second.output
    assert (keys_dir / VAPID_KEY_FILE).read_bytes() == vapid
    for key in listed(run):
        assert key["kid"] in first.output and key["kid"] in second.output


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_generate_other_algorithms(run, alg: str) -> None:
    result = run("generate", "--alg", alg)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"generated {alg} key ")
    assert [k["alg"] for k in listed(run)] == [alg]


def test_generate_defaults_to_the_configured_algorithm(run) -> None:
    result = run("generate", env={"SANTEID_SIGNING_ALG": "ES256"})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("generated ES256 key ")


def test_generate_rsa_size(run) -> None:
    assert run("generate", "--bits", "3072").exit_code == 0
    assert listed(run)[0]["key_size"] == 3072


def test_generate_refuses_bad_input(run, keys_dir: Path) -> None:
    result = run("generate", "--alg", "HS256")
    assert result.exit_code == 2 and "HS256" in result.output
    result = run("generate", "--alg", "ES256", "--bits", "3072")
    assert result.exit_code == 1
    assert "Error: ES256 keys are P-256" in result.output
    result = run("generate", "--bits", "1024")
    assert result.exit_code == 2
    assert not (keys_dir / KEYS_FILENAME).exists()


def test_rotate(run) -> None:
    run("generate", "--alg", "RS256")
    (old,) = listed(run)
    result = run("rotate")
    assert result.exit_code == 0, result.output
    new, retired = listed(run)
    assert (new["status"], retired["status"]) == ("active", "retired")
    assert retired["kid"] == old["kid"]
    lines = result.output.splitlines()
    assert lines[0].startswith("rotated RS256 in ") and lines[0].endswith(new["kid"])
    assert lines[1].startswith(f"retired {old['kid']}: still published")
    assert lines[1].endswith(retired["published_until"].replace("T", " "))


def test_prepare_then_rotate(run, keys_dir: Path) -> None:
    """docs/keys.md, "Publishing the next key first"."""
    run("generate", "--alg", "RS256")
    (active,) = listed(run)
    first = run("prepare")
    assert first.exit_code == 0, first.output
    (prepared,) = [k for k in listed(run) if k["status"] == "next"]
    assert prepared["published"] is True and prepared["published_until"] is None
    assert first.output == (
        f"prepared RS256 key {prepared['kid']} in {keys_dir}/: published from now, signs from "
        "the next `santeid keys rotate --alg RS256`\n"
    )
    assert run("prepare").output.startswith(f"already prepared RS256 key {prepared['kid']} ")
    assert "(next: signs after rotate)" in run("list").output

    rotated = run("rotate")
    assert rotated.output.splitlines()[0].endswith(f"new active key {prepared['kid']}")
    statuses = {k["kid"]: k["status"] for k in listed(run)}
    assert statuses == {prepared["kid"]: "active", active["kid"]: "retired"}


def test_rotate_keeps_published_until_for_longest_token_lifetime(run) -> None:
    run("generate", "--alg", "RS256")
    run("rotate", env={"SANTEID_REFRESH_TOKEN_LIFETIME": "7200"})
    # `list` reads the same setting: published until retired_at + 7200 s + margin.
    retired = listed(run, {"SANTEID_REFRESH_TOKEN_LIFETIME": "7200"})[1]
    gap = datetime.fromisoformat(retired["published_until"]) - datetime.fromisoformat(
        retired["retired_at"]
    )
    assert gap.total_seconds() == 7200 + KeyStore.PUBLICATION_MARGIN


def test_rotate_with_nothing_to_retire(run) -> None:
    result = run("rotate", "--alg", "ES256")
    assert result.exit_code == 0, result.output
    assert "no active ES256 key to retire" in result.output


def test_list_table(run) -> None:
    run("generate", "--alg", "RS256")
    run("generate", "--alg", "ES256")
    run("rotate", "--alg", "RS256")
    result = run("list")
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == [
        "KID",
        "ALG",
        "SIZE",
        "STATUS",
        "CREATED",
        "RETIRED",
        "PUBLISHED",
        "UNTIL",
    ]
    assert len(rows) == 3
    keys = listed(run)
    for row, key in zip(rows, keys, strict=True):
        assert row.startswith(key["kid"])
        assert key["alg"] in row and key["status"] in row
    assert "(while active)" in rows[0]


def test_list_empty(run) -> None:
    result = run("list")
    assert result.exit_code == 0
    assert "no signing keys" in result.output and "santeid keys generate" in result.output
    assert listed(run) == []


def test_corrupted_file_is_a_one_line_error(run, keys_dir: Path) -> None:
    keys_dir.mkdir()
    (keys_dir / KEYS_FILENAME).write_text("{oops")
    for command in (["list"], ["generate"], ["rotate"]):
        result = run(*command)
        assert result.exit_code == 1, command
        assert result.output.startswith("Error: ") and "not valid JSON" in result.output
        assert "Traceback" not in result.output
    assert (keys_dir / KEYS_FILENAME).read_text() == "{oops"


def test_keys_written_by_the_cli_are_used_by_a_server_store(run, keys_dir: Path) -> None:
    run("generate")
    server = KeyStore(keys_dir, retired_key_lifetime=1800, reload_interval=0)
    token = server.sign({"a": 1})
    run("rotate")
    assert server.verify(token)["claims"] == {"a": 1}
    assert server.signing_key().kid == listed(run)[0]["kid"]


def test_unwritable_directory_is_a_one_line_error(run, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(src: str, dst: str) -> None:
        raise OSError(30, "Read-only file system", dst)

    monkeypatch.setattr("santeid.keys.storage.os.replace", read_only)
    result = run("generate")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot write in ")
    assert "Read-only file system" in result.output and "Traceback" not in result.output


def test_the_hmac_secret_is_never_listed_as_published(run) -> None:
    """/certs never lists the HS512 secret (docs/keys.md): `keys list` says so too."""
    assert run("generate").exit_code == 0
    assert run("generate", "--alg", "HS512").exit_code == 0
    rotated = run("rotate", "--alg", "HS512")
    assert rotated.exit_code == 0
    (retired,) = [k for k in listed(run) if k["status"] == "retired"]
    until = retired["published_until"].replace("T", " ")
    # Until when refresh tokens signed by the old secret keep working, never "published".
    assert rotated.output.splitlines()[1] == (
        f"retired {retired['kid']}: refresh tokens it signed still verify until {until} "
        "(never published)"
    )
    published = {(k["alg"], k["status"]): k["published"] for k in listed(run)}
    assert published == {
        ("RS256", "active"): True,
        ("HS512", "active"): False,
        ("HS512", "retired"): False,
    }
    table = run("list").output.splitlines()
    for line in table[1:]:
        assert ("HS512" in line) == line.endswith("(never published)"), line
    assert table[-1].endswith(f"verifies until {until} (never published)")

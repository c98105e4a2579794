"""``santeid ecps activate | devices | revoke`` (operators) on the server's store and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from joserfc.jwk import ECKey

from santeid import create_app
from santeid.cli import main
from santeid.settings import Settings
from santeid.storage import store_from_url
from tests.support.ecps_phone import CHEAP_PINS
from tests.support.oidc_flow import ISSUER

NATIONAL_ID = "810000000001"


@pytest.fixture
def env(tmp_path, redis_url):
    return {
        "SANTEID_DATA_DIR": str(tmp_path / "var"),
        "SANTEID_KEYS_DIR": str(tmp_path / "keys"),
        "SANTEID_STORE_URL": redis_url,
        "SANTEID_ISSUER": ISSUER,
        "SANTEID_SANDBOX": "true",
        "SANTEID_CONFIG": "",
    }


@pytest.fixture
def run(env):
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, **overrides: str):
        result = runner.invoke(main, list(args), env={**env, **overrides}, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    run = invoke
    run("directory", "seed-demo")
    return run


@pytest.fixture
def server_app(env, tmp_path, redis_url):
    """The web application on the same files and Redis as the command line."""
    settings = Settings(
        issuer=ISSUER,
        data_dir=env["SANTEID_DATA_DIR"],
        keys_dir=env["SANTEID_KEYS_DIR"],
        store_url=redis_url,
        sandbox=True,
    )
    store = store_from_url(redis_url)
    app = create_app(settings, store=store)
    app.extensions["santeid"].ecps.pins = CHEAP_PINS
    yield app
    store.close()


pytestmark = pytest.mark.redis


def test_activate_json_then_register_on_the_server(run, server_app):
    out = json.loads(run("ecps", "activate", NATIONAL_ID, "--json").output)
    assert out["national_id"] == NATIONAL_ID
    assert out["uri"].startswith("santeid-ecps://activate?server=http%3A%2F%2Flocalhost&code=")
    client = server_app.test_client()
    key = ECKey.generate_key("P-256")
    response = client.post(
        "/ecps/device/register",
        json={
            "activation_code": out["code"],
            "public_jwk": key.as_dict(private=False),
            "pin": "1234",
        },
    )
    assert response.status_code == 201
    device_id = response.get_json()["device_id"]

    listed = json.loads(run("ecps", "devices", "--json").output)
    assert [d["device_id"] for d in listed] == [device_id]
    assert "pin_hash" not in listed[0] and "totp_secret" not in listed[0]
    mine = json.loads(run("ecps", "devices", "--national-id", NATIONAL_ID, "--json").output)
    assert [d["device_id"] for d in mine] == [device_id]
    assert (
        json.loads(run("ecps", "devices", "--national-id", "899999999999", "--json").output) == []
    )
    assert device_id in run("ecps", "devices").output

    assert "revoked" in run("ecps", "revoke", device_id).output
    assert "already revoked" in run("ecps", "revoke", device_id).output
    assert server_app.extensions["santeid"].ecps.devices.get(device_id).status == "revoked"


def test_activate_prints_a_qr_code(run):
    output = run("ecps", "activate", NATIONAL_ID).output
    assert "santeid-ecps://activate?" in output
    assert "█" in output or "▀" in output  # qrcode's print_ascii half blocks
    assert "single use" in output


def test_activate_refuses_unknown_professional(run):
    result = run("ecps", "activate", "899999999999", ok=False)
    assert result.exit_code == 1
    assert "not in the directory" in result.output


def test_activate_refuses_memory_store(run):
    result = run("ecps", "activate", NATIONAL_ID, ok=False, SANTEID_STORE_URL="memory://")
    assert result.exit_code == 1
    assert "memory://" in result.output and "redis://" in result.output


def test_revoke_writes_the_device_revocation_event(run, server_app):
    """docs/operations.md "Authentication events": ``DEVICE_REVOCATION`` whoever revoked the
    device, ``santeid ecps revoke`` included, with its professional (so that ``santeid events
    list --professional`` shows it) and the source ``cli`` of a command's events."""
    code = json.loads(run("ecps", "activate", NATIONAL_ID, "--json").output)["code"]
    key = ECKey.generate_key("P-256")
    response = server_app.test_client().post(
        "/ecps/device/register",
        json={"activation_code": code, "public_jwk": key.as_dict(private=False), "pin": "1234"},
    )
    device_id = response.get_json()["device_id"]

    run("ecps", "revoke", device_id)

    listed = json.loads(
        run("events", "list", "--type", "DEVICE_REVOCATION", "--professional", NATIONAL_ID,
            "--json").output
    )  # fmt: skip
    assert [(e["device"], e["professional"], e["source"]) for e in listed] == [
        (device_id, NATIONAL_ID, "cli")
    ]


def test_revoke_unknown_device(run):
    result = run("ecps", "revoke", "nope", ok=False)
    assert result.exit_code == 1 and "no device" in result.output
    assert "no device" in run("ecps", "devices").output


def test_activate_with_a_corrupt_server_record_uses_the_default_issuer(run, env):
    """A ``serving.json`` no server wrote (a pid past any process) is no running server."""
    data = Path(env["SANTEID_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "serving.json").write_text(
        '{"issuer": "http://127.0.0.1:1/x", "pid": 99999999999999999999}'
    )
    text = run("ecps", "activate", NATIONAL_ID, "--no-qr", SANTEID_ISSUER=None).output
    assert "server: http://127.0.0.1:5000/auth/realms/esante-wallet (the default issuer)" in text


def test_activate_names_the_running_server(run, env):
    """No issuer configured: the links name the running ``santeid serve`` (its record in
    ``serving.json``, cli/server_url.py), as ``santeid cps approve`` finds it."""
    from santeid.cli.server_url import record_serving

    running = Settings(
        data_dir=env["SANTEID_DATA_DIR"],
        issuer="http://127.0.0.1:29500/auth/realms/esante-wallet",
    )
    record_serving(running)  # this test process stands for the living server
    out = json.loads(run("ecps", "activate", NATIONAL_ID, "--json", SANTEID_ISSUER=None).output)
    assert out["app_link"].startswith("http://127.0.0.1:29500/ecps/app/#activation=")
    assert "server=http%3A%2F%2F127.0.0.1%3A29500&" in out["uri"]
    text = run("ecps", "activate", NATIONAL_ID, "--no-qr", SANTEID_ISSUER=None).output
    assert "server: http://127.0.0.1:29500/auth/realms/esante-wallet (the running" in text

    named = json.loads(
        run("ecps", "activate", NATIONAL_ID, "--json", "--server", "http://10.0.0.7:8080").output
    )
    assert named["app_link"].startswith("http://10.0.0.7:8080/ecps/app/#activation=")
    refused = run("ecps", "activate", NATIONAL_ID, "--server", "10.0.0.7:8080", ok=False)
    assert refused.exit_code == 2 and "--server" in refused.output

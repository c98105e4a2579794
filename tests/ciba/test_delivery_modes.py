"""The CIBA delivery modes santeid offers: PSC's by default, push on demand.

Pro Santé Connect's discovery advertises ``poll`` and ``ping`` (and PSC implements poll only,
docs/reference/pro-sante-connect.md §2 and §14): a client written against santeid's default
discovery must work at PSC, so push (a CIBA Core mode Keycloak lacks) is offered only with
``ciba_push_enabled``. Off, discovery leaves it out, registration refuses a push client, a
server does not start while one is registered, and one registered meanwhile by a command of
another configuration is refused at the back-channel endpoint (docs/ciba.md, "Push mode")."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from santeid import create_app
from santeid.cli import main
from santeid.oidc.clients import ClientRegistry
from santeid.oidc.clients import InvalidClientMetadata
from santeid.settings import ConfigurationError
from santeid.storage.memory import MemoryStore
from tests.support.ciba import CIBA_GRANT
from tests.support.ciba import SECRET
from tests.support.ciba import Receiver
from tests.support.ciba import backchannel
from tests.support.ciba import register_ciba_client
from tests.support.oidc_flow import basic_auth
from tests.support.servers import refused_start
from tests.support.servers import santeid_home

WELL_KNOWN = "/auth/realms/esante-wallet/.well-known"
DOCUMENTS = ("openid-configuration", "wallet-openid-configuration")
PSC_MODES = ["poll", "ping"]
PUSH_OFF = "push is off"


def _advertised(app) -> list[list[str]]:
    client = app.test_client()
    return [
        client.get(f"{WELL_KNOWN}/{name}").get_json()["backchannel_token_delivery_modes_supported"]
        for name in DOCUMENTS
    ]


def _push_client(receiver_url: str, client_id: str = "ciba-push") -> dict:
    return {
        "client_id": client_id,
        "client_secret": SECRET,
        "grant_types": [CIBA_GRANT, "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "backchannel_token_delivery_mode": "push",
        "backchannel_client_notification_endpoint": receiver_url,
    }


def test_discovery_advertises_psc_modes_by_default(app):
    assert _advertised(app) == [PSC_MODES, PSC_MODES]


def test_discovery_advertises_push_only_when_enabled(settings):
    app = create_app(settings.replace(ciba_push_enabled=True), store=MemoryStore())
    assert _advertised(app) == [[*PSC_MODES, "push"]] * 2


def test_a_push_client_is_refused_at_registration_when_push_is_off(app):
    with pytest.raises(InvalidClientMetadata, match=PUSH_OFF) as refused:
        register_ciba_client(
            app,
            "ciba-push",
            backchannel_token_delivery_mode="push",
            backchannel_client_notification_endpoint="http://127.0.0.1:9/cb",
        )
    assert refused.value.error == "invalid_client_metadata"
    assert "ciba_push_enabled" in refused.value.description
    assert app.extensions["santeid"].clients.get("ciba-push") is None
    # The modes PSC has stay open.
    register_ciba_client(
        app,
        "ciba-ping",
        backchannel_token_delivery_mode="ping",
        backchannel_client_notification_endpoint="http://127.0.0.1:9/cb",
    )


def test_clients_add_refuses_a_push_client_unless_push_is_enabled(settings, tmp_path):
    client_file = tmp_path / "push.json"
    client_file.write_text(json.dumps(_push_client("http://127.0.0.1:8099/ciba")))
    env = {
        "SANTEID_DATA_DIR": settings.data_dir,
        "SANTEID_KEYS_DIR": settings.keys_dir,
        "SANTEID_CONFIG": "",
        "SANTEID_SANDBOX": "true",
    }
    runner = CliRunner()
    refused = runner.invoke(main, ["clients", "add", str(client_file)], env=env)
    assert refused.exit_code == 1
    assert PUSH_OFF in refused.output and "SANTEID_CIBA_PUSH_ENABLED" in refused.output
    added = runner.invoke(
        main,
        ["clients", "add", str(client_file)],
        env={**env, "SANTEID_CIBA_PUSH_ENABLED": "true"},
    )
    assert added.exit_code == 0, added.output


def test_a_server_with_a_push_client_does_not_start_while_push_is_off(settings):
    enabled = settings.replace(ciba_push_enabled=True)
    create_app(enabled, store=MemoryStore()).extensions["santeid"].clients.add(
        _push_client("http://127.0.0.1:9/cb", "logiciel-lourd-push")
    )
    with pytest.raises(ConfigurationError, match="'logiciel-lourd-push'") as refused:
        create_app(settings, store=MemoryStore())
    assert "ciba_push_enabled" in str(refused.value)
    create_app(enabled, store=MemoryStore())  # with push on, the same data starts


@pytest.mark.server
def test_santeid_serve_names_the_push_client_in_one_line(tmp_path):
    home = santeid_home(tmp_path, SANTEID_CIBA_PUSH_ENABLED="true")
    home.add_client(_push_client("http://127.0.0.1:9/cb", "logiciel-lourd-push"))
    result = refused_start(tmp_path, SANTEID_CIBA_PUSH_ENABLED="false")
    assert result.returncode == 1, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert "'logiciel-lourd-push'" in line and "SANTEID_CIBA_PUSH_ENABLED=true" in line
    assert "Traceback" not in result.stderr


def test_a_push_client_registered_meanwhile_is_refused_at_the_backchannel(
    app, settings, auto_id, caplog
):
    """A command with another configuration (push on) registers a push client in the
    database of a running server whose push is off: its requests are refused and nothing
    is delivered."""
    with Receiver([204]) as receiver:
        meta = _push_client(receiver.url)
        ClientRegistry.for_settings(settings.replace(ciba_push_enabled=True)).add(meta)
        client = app.test_client()
        for style, status, error in [
            ("keycloak", 401, "invalid_grant"),
            ("strict", 400, "unauthorized_client"),
        ]:
            app.extensions["santeid"].settings.keycloak.error_style = style
            response = backchannel(
                client,
                meta,
                headers=basic_auth(meta["client_id"], SECRET),
                login_hint=auto_id,
                client_notification_token="notification-token-0123",
            )
            assert (response.status_code, response.get_json()["error"]) == (status, error)
            assert response.get_json()["error_description"] == "Client not allowed OIDC CIBA Grant"
    assert receiver.received == []
    assert "CIBA request of ciba-push refused: registered in push mode, but push is off" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("environment", "make_args", "expected"),
    [
        ({}, [], None),
        ({"SANTEID_CIBA_PUSH_ENABLED": "true"}, [], None),
        ({"SANTEID_CONFIG": "push.toml"}, [], None),
        ({}, ["CIBA_PUSH=true"], "true"),
        ({"SANTEID_CIBA_PUSH_ENABLED": "true"}, ["CIBA_PUSH=false"], "false"),
    ],
)
def test_make_run_leaves_the_setting_to_its_sources_unless_asked(environment, make_args, expected):
    """The start-up refusal of a push client says ``SANTEID_CIBA_PUSH_ENABLED=true`` (or the
    config file's ``ciba_push_enabled``): under ``make run`` both reach the server — the
    recipe sets the variable only when ``CIBA_PUSH`` is given, never a default over them."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANTEID_")}
    dry_run = subprocess.run(
        ["make", "-n", "-C", str(root), "run", *make_args],
        env={**env, **environment},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    serve = next(line for line in dry_run.splitlines() if "santeid serve" in line)
    if expected is None:
        assert "SANTEID_CIBA_PUSH_ENABLED=" not in serve, serve
    else:
        assert f"SANTEID_CIBA_PUSH_ENABLED={expected} " in serve, serve

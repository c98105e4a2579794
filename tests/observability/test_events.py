"""``santeid events list`` and ``purge`` on the events a login wrote."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from santeid.cli import main
from santeid.observability.events import LOGIN
from santeid.observability.events import LOGIN_ERROR
from santeid.observability.events import Event
from santeid.observability.events import EventStore


def _env(settings) -> dict:
    return {
        "SANTEID_DATA_DIR": settings.data_dir,
        "SANTEID_KEYS_DIR": settings.keys_dir,
        "SANTEID_CONFIG": "",
    }


def _account() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def test_list_filters_and_json(settings):
    store = EventStore.for_settings(settings)
    now = int(time.time())
    store.add(Event(at=now - 10, type=LOGIN, client_id="rp-a", professional="810000000001",
                    auth_mode="MOBILE", source="127.0.0.1", request_id="req-1"))  # fmt: skip
    store.add(Event(at=now - 5, type=LOGIN_ERROR, client_id="rp-b", professional="899999999990",
                    reason="unknown_id"))  # fmt: skip
    store.add(Event(at=now - 3 * 86400, type=LOGIN, client_id="rp-a"))
    runner = CliRunner()
    listed = runner.invoke(main, ["events", "list", "--since", "1d"], env=_env(settings))
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 2 and "LOGIN_ERROR" in lines[0] and "reason=unknown_id" in lines[0]
    assert "authMode=MOBILE" in lines[1] and "request=req-1" in lines[1]

    as_json = runner.invoke(
        main,
        ["events", "list", "--client", "rp-a", "--type", "login", "--json"],
        env=_env(settings),
    )
    assert as_json.exit_code == 0, as_json.output
    found = json.loads(as_json.output)
    assert [e["at"] for e in found] == [now - 10, now - 3 * 86400]
    assert found[0]["professional"] == "810000000001"
    by_professional = runner.invoke(
        main, ["events", "list", "--professional", "899999999990", "--json"], env=_env(settings)
    )
    assert [e["type"] for e in json.loads(by_professional.output)] == [LOGIN_ERROR]

    bad = runner.invoke(main, ["events", "list", "--type", "NOPE"], env=_env(settings))
    assert bad.exit_code == 2 and "unknown type" in bad.output
    bad_since = runner.invoke(main, ["events", "list", "--since", "yesterday"], env=_env(settings))
    assert bad_since.exit_code == 2 and "duration" in bad_since.output
    # Digits of other scripts (Arabic-Indic, full-width, superscript) are no duration.
    for since in ("\u0663d", "\uff13h", "1\u0660m", "\u00b2d", "\u0662\u0660\u0662\u0666-12-01"):
        refused = runner.invoke(main, ["events", "list", "--since", since], env=_env(settings))
        assert refused.exit_code == 2 and "expected a duration" in refused.output, since

    purged = runner.invoke(main, ["events", "purge", "--older-than", "2"], env=_env(settings))
    assert purged.exit_code == 0 and purged.output.startswith("1 event(s)")
    assert len(store.list()) == 2


@pytest.mark.redis
def test_commands_that_change_clients_keys_and_devices_write_admin_events(
    settings, tmp_path, redis_url
):
    """Each change a command makes is an admin event naming who ran it (the account of the
    process's user id) and through what (``cli``), as the console's name its admin
    (docs/operations.md, "Authentication events")."""
    client_file = tmp_path / "client.json"
    client_file.write_text(
        json.dumps(
            {
                "client_id": "rp-cli",
                "client_secret": "a-secret-of-some-length-0123456789",
                "redirect_uris": ["https://rp.example/cb"],
            }  # fmt: skip
        )
    )
    runner = CliRunner()
    env = {**_env(settings), "SANTEID_STORE_URL": redis_url}
    assert runner.invoke(main, ["clients", "add", str(client_file)], env=env).exit_code == 0
    assert runner.invoke(main, ["clients", "remove", "rp-cli"], env=env).exit_code == 0
    rotated = runner.invoke(main, ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    activated = runner.invoke(main, ["ecps", "activate", "810000000004", "--json"], env=env)
    assert activated.exit_code == 0, activated.output
    found = EventStore.for_settings(settings).list()
    assert [(e.type, e.reason, e.source) for e in found][::-1] == [
        ("ADMIN_CLIENT", "register", "cli"),
        ("ADMIN_CLIENT", "remove", "cli"),
        ("ADMIN_KEY", "rotate", "cli"),
        ("ADMIN_DEVICE", "activation", "cli"),
    ]
    assert found[0].professional == "810000000004"
    assert found[1].details["kid"] in rotated.output
    for event in found:
        assert {"admin": _account(), "channel": "cli"}.items() <= event.details.items()
    listed = runner.invoke(main, ["events", "list", "--type", "ADMIN_KEY"], env=env)
    assert f"admin={_account()} channel=cli kid={found[1].details['kid']}" in listed.output


def test_clients_add_replace_says_replace_only_when_a_client_was_replaced(settings, tmp_path):
    """The README registers its client with ``santeid clients add --replace`` so that the block
    runs again: the first run registers a new client (``register``), the second replaces it
    (``replace``) — an auditor reading ``replace`` looks for the secret that was replaced."""
    client_file = tmp_path / "client.json"
    client_file.write_text(
        json.dumps(
            {
                "client_id": "rp-again",
                "client_secret": "a-secret-of-some-length-0123456789",
                "redirect_uris": ["https://rp.example/cb"],
            }  # fmt: skip
        )
    )
    runner = CliRunner()
    for _ in range(2):
        added = runner.invoke(main, ["clients", "add", "--replace", str(client_file)],
                              env=_env(settings))  # fmt: skip
        assert added.exit_code == 0, added.output
    found = EventStore.for_settings(settings).list(types=("ADMIN_CLIENT",))
    assert [(e.client_id, e.reason) for e in found][::-1] == [
        ("rp-again", "register"),
        ("rp-again", "replace"),
    ]


def _key_rotation_by(settings, **environment) -> dict:
    """The operator details of the event of a ``santeid keys rotate`` run in its own process
    with these environment variables."""
    kept = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
    env = {**kept, **_env(settings), **environment}
    santeid = str(Path(sys.executable).with_name("santeid"))
    subprocess.run([santeid, "keys", "rotate"], env=env, check=True, capture_output=True,
                   timeout=60)  # fmt: skip
    (event,) = [e for e in EventStore.for_settings(settings).list() if e.type == "ADMIN_KEY"][:1]
    return {k: v for k, v in event.details.items() if k in ("admin", "sudo_user")}


def test_a_command_names_the_account_of_its_user_id_whatever_the_environment_says(settings):
    """``LOGNAME``, ``USER`` and ``SUDO_USER`` are whatever the caller set: the admin of a
    command's events is the account of the process's real user id, and ``sudo_user`` is said
    only by ``sudo`` to a command it runs as root (``SUDO_UID`` and ``SUDO_USER``)."""
    forged = {"LOGNAME": "dr-x", "USER": "dr-x", "LNAME": "dr-x", "USERNAME": "dr-x"}
    assert _key_rotation_by(settings, **forged, SUDO_USER="dr-y") == {"admin": _account()}
    through_sudo = _key_rotation_by(settings, **forged, SUDO_USER="ann", SUDO_UID="1000")
    if os.getuid() == 0:
        assert through_sudo == {"admin": _account(), "sudo_user": "ann"}
    else:
        assert through_sudo == {"admin": _account()}

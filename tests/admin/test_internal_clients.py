"""santeid's own relying parties (``santeid-account`` of "Mes e-CPS", ``santeid-debugger`` of the
sandbox) are registered by santeid at every start: the admin console and ``santeid clients``
refuse to remove, replace or register them, so that the pages using them keep working on
every host (docs/operations.md, "Admin console")."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from santeid import create_app
from santeid.cli import main
from santeid.observability import events
from santeid.storage import MemoryStore

ACCOUNT = "santeid-account"
DEBUGGER = "santeid-debugger"
DEMO_PASSWORD = "santeid-demo-admin"  # noqa: S105 - the documented sandbox demo admin


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


@pytest.fixture
def admin(app):
    client = app.test_client()
    page = client.get("/admin/login")
    signed = client.post(
        "/admin/login",
        data={"user": "admin", "password": DEMO_PASSWORD, "csrf_token": _csrf(page)},
    )
    assert signed.status_code == 302
    return client


def _devices_page_logs_in(app) -> bool:
    """``/ecps/devices`` without a session sends the browser to the authorization endpoint as
    ``santeid-account``, which must still be registered to accept it."""
    start = app.test_client().get("/ecps/devices")
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = app.test_client().get(start.headers["Location"])
    return authorize.status_code == 302 and "/login-actions/" in authorize.headers["Location"]


@pytest.mark.parametrize("client_id", [ACCOUNT, DEBUGGER])
def test_the_console_neither_removes_nor_rotates_an_internal_client(app, admin, client_id):
    registry = app.extensions["santeid"].clients
    registry.add({"client_id": "rp-other", "client_secret": "a-secret-of-at-least-16-chars",
                  "redirect_uris": ["https://rp.example/cb"]})  # fmt: skip
    before = registry.get(client_id)
    assert before is not None and _devices_page_logs_in(app)
    listing = admin.get("/admin/clients").get_data(as_text=True)
    row = re.search(rf'<tr data-client="{client_id}">.*?</tr>', listing, re.S).group(0)
    assert 'class="remove"' not in row and 'class="rotate"' not in row
    assert 'class="remove"' in listing  # other clients keep their buttons
    csrf = _csrf(admin.get("/admin/clients"))

    removed = admin.post("/admin/clients/remove", data={"csrf_token": csrf, "client_id": client_id})
    assert removed.status_code == 409
    assert client_id in removed.get_data(as_text=True)
    rotated = admin.post("/admin/clients/rotate", data={"csrf_token": csrf, "client_id": client_id})
    assert rotated.status_code == 409
    assert 'id="new-secret"' not in rotated.get_data(as_text=True)
    metadata = json.dumps({**before.metadata, "client_secret": "x" * 32})
    replaced = admin.post("/admin/clients", data={"csrf_token": csrf, "metadata": metadata})
    assert replaced.status_code == 400

    after = registry.get(client_id)
    assert after is not None
    assert (after.metadata, after.secret_digest) == (before.metadata, before.secret_digest)
    assert not app.extensions["santeid"].events.list(types=(events.ADMIN_CLIENT,))
    assert _devices_page_logs_in(app)


def test_the_cli_neither_removes_nor_replaces_an_internal_client(app, settings, tmp_path):
    registry = app.extensions["santeid"].clients
    before = registry.get(ACCOUNT)
    env = {
        "SANTEID_DATA_DIR": settings.data_dir,
        "SANTEID_KEYS_DIR": settings.keys_dir,
        "SANTEID_SANDBOX": "true",
        "SANTEID_CONFIG": "",
    }
    runner = CliRunner()
    removed = runner.invoke(main, ["clients", "remove", ACCOUNT], env=env)
    assert removed.exit_code == 1
    assert f"{ACCOUNT!r} is santeid's own" in removed.output
    document = tmp_path / "account.json"
    document.write_text(
        json.dumps({**before.metadata, "redirect_uris": ["https://elsewhere.example/cb"],
                    "client_secret": "a-secret-of-at-least-16-characters"})
    )  # fmt: skip
    replaced = runner.invoke(main, ["clients", "add", "--replace", str(document)], env=env)
    assert replaced.exit_code == 1
    assert f"{ACCOUNT!r} is santeid's own" in replaced.output
    assert registry.get(ACCOUNT).metadata == before.metadata
    assert _devices_page_logs_in(app)


@pytest.mark.parametrize(
    ("client_id", "field", "path"),
    [
        (ACCOUNT, "redirect_uris", "/ecps/devices"),
        (DEBUGGER, "redirect_uris", "/sandbox/debugger/callback"),
        (DEBUGGER, "post_logout_redirect_uris", "/sandbox/debugger"),
    ],
)
def test_internal_clients_register_the_path_and_the_absolute_uri(settings, client_id, field, path):
    """A host of the previous release on the same data folder compares the stored URI as a
    plain string with its absolute one (docs/deployment.md, "Upgrading several hosts"): the
    registration keeps that form beside the path every server resolves as its own."""
    app = create_app(settings, store=MemoryStore())
    stored = app.extensions["santeid"].clients.get(client_id).metadata[field]
    assert path in stored
    assert f"http://localhost{path}" in stored
    # A second server (another issuer) on the same data folder: the path keeps both
    # matching; the absolute URI is the last started server's.
    moved = settings.replace(issuer="https://psc.example.org/auth/realms/x")
    other = create_app(moved, store=MemoryStore()).extensions["santeid"].clients
    stored = other.get(client_id).metadata[field]
    assert stored == [path, f"https://psc.example.org{path}"]
    first = app.extensions["santeid"].clients.get(client_id)
    assert f"http://localhost{path}" in getattr(first, field)
    assert f"https://psc.example.org{path}" in getattr(other.get(client_id), field)


def test_the_consoles_own_client_id_is_not_registered(app, admin, settings, tmp_path):
    """``santeid-admin-console`` names the console's logins in the login transaction, the
    metrics and the ``LOGIN`` events: a relying party registered under it would be taken for
    the console there."""
    console_id = "santeid-admin-console"
    metadata = {"client_id": console_id, "client_secret": "a-secret-of-at-least-16-characters",
                "redirect_uris": ["https://rp.example.org/cb"]}  # fmt: skip
    csrf = _csrf(admin.get("/admin/clients"))
    refused = admin.post("/admin/clients", data={"csrf_token": csrf,
                                                 "metadata": json.dumps(metadata)})  # fmt: skip
    assert refused.status_code == 400 and console_id in refused.get_data(as_text=True)
    document = tmp_path / "console.json"
    document.write_text(json.dumps(metadata))
    env = {"SANTEID_DATA_DIR": settings.data_dir, "SANTEID_KEYS_DIR": settings.keys_dir,
           "SANTEID_SANDBOX": "true", "SANTEID_CONFIG": ""}  # fmt: skip
    added = CliRunner().invoke(main, ["clients", "add", str(document)], env=env)
    assert added.exit_code == 1 and f"{console_id!r} is santeid's own" in added.output
    assert app.extensions["santeid"].clients.get(console_id) is None

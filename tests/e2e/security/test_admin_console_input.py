"""What an admin types, or a link hands, to the console of a real server: refused with a page
that says why, never a 500, and nothing shown that the server did not write
(docs/operations.md, "Admin console")."""

from __future__ import annotations

import json

import pytest

from tests.support.security import csrf_token
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

DEMO_PASSWORD = "santeid-demo-admin"  # noqa: S105 - the documented sandbox demo admin


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("console-input"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@pytest.fixture
def admin(server):
    from tests.support.security import admin_signed_in

    return admin_signed_in(server.base, DEMO_PASSWORD)


def test_metadata_nested_beyond_reason_is_refused(server, admin):
    page = admin.get(f"{server.base}/admin/clients", timeout=10)
    deep = "[" * 4000
    answer = admin.post(f"{server.base}/admin/clients", timeout=10,
                        data={"csrf_token": csrf_token(page.text), "metadata": deep})  # fmt: skip
    assert answer.status_code == 400, answer.text[:300]
    assert 'id="error"' in answer.text and "nested too deeply" in answer.text
    assert "Traceback" not in server.log.read_text()


def test_a_link_cannot_write_in_the_status_box(server, admin):
    """A notice says what the server did; a link's ``?notice=`` (a phishing line under the
    console's own banner) is not shown."""
    lure = "Session expirée : rappelez le support au 01 23 45 67 89"
    page = admin.get(f"{server.base}/admin/professionals", params={"notice": lure}, timeout=10)
    assert page.status_code == 200
    assert lure not in page.text and 'id="notice"' not in page.text


def test_the_events_page_says_who_changed_what(server, admin):
    """An admin event's details — who (``admin``), through what (``channel``), which key —
    are on the Events page, for the console's changes and a command's alike."""
    keys_page = admin.get(f"{server.base}/admin/keys", timeout=10)
    rotated = admin.post(f"{server.base}/admin/keys", timeout=10,
                         data={"csrf_token": csrf_token(keys_page.text)})  # fmt: skip
    assert rotated.status_code == 200
    server.cli("keys", "rotate", "--alg", "ES256")
    listed = json.loads(server.cli("events", "list", "--type", "ADMIN_KEY", "--json").stdout)
    by_channel = {e["details"]["channel"]: e["details"] for e in listed}
    assert by_channel["console"]["admin"] == "admin"
    assert by_channel["cli"]["admin"]  # the operating system's user who ran the command
    page = admin.get(f"{server.base}/admin/events", params={"type": "ADMIN_KEY"}, timeout=10)
    for details in by_channel.values():
        for name, value in details.items():
            assert f"{name}={value}" in page.text, (name, value)


def test_no_console_answer_is_kept_by_a_cache(server, admin):
    """The console's figures are as private as its pages: ``Cache-Control: no-store`` on the
    CSV too, as on every answer of ``/admin/`` (docs/security.md, "Browser")."""
    for path in ("/admin/dashboard.csv", "/admin/", "/admin/clients"):
        answer = admin.get(f"{server.base}{path}", allow_redirects=False, timeout=10)
        assert answer.status_code == 200, path
        assert "no-store" in answer.headers.get("Cache-Control", ""), path

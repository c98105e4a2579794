"""What an admin types, or a link hands, to the console of a real server: refused with a page
that says why, never a 500, and nothing shown that the server did not write
(docs/operations.md, "Admin console")."""

from __future__ import annotations

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

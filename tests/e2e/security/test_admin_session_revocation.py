"""A copy of an admin console cookie against a real server: once the admin has signed out, the
copy opens nothing, on any worker — the session is the store's record, which the sign-out
deleted, not the signed cookie (docs/security.md, "Browser"; OWASP Session Management Cheat
Sheet, "Manual Session Expiration")."""

from __future__ import annotations

import pytest
import requests

from santeid.ecps.pin import PinHasher
from tests.support.security import admin_signed_in
from tests.support.security import browser
from tests.support.security import csrf_token
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

ADMIN_PASSWORD = "the-admin-password-of-the-revocation-tests"
COOKIE = "santeid_session"


@pytest.fixture
def server(tmp_path, redis_url):
    with santeid_process(
        tmp_path,
        # Two workers on one store: the sign-out on one ends the session on the other.
        args=("--sandbox", "--workers", "2"),
        SANTEID_STORE_URL=redis_url,
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
    ) as server:
        yield server


def _console(server, cookie: str) -> requests.Response:
    """``/admin/`` with nothing but ``cookie``: the attacker's replay."""
    with browser() as attacker:
        attacker.cookies.set(COOKIE, cookie)
        return attacker.get(f"{server.base}/admin/", allow_redirects=False, timeout=10)


def test_a_cookie_copied_before_sign_out_is_refused_after_it(server):
    admin = admin_signed_in(server.base, ADMIN_PASSWORD)
    clients_page = admin.get(f"{server.base}/admin/clients", timeout=10)
    assert clients_page.status_code == 200
    stolen = admin.cookies[COOKIE]
    csrf = csrf_token(clients_page.text)
    # The copy works while the admin is signed in (the test's control), on either worker.
    for _ in range(4):
        assert _console(server, stolen).status_code == 200

    signed_out = admin.post(f"{server.base}/admin/logout", data={"csrf_token": csrf},
                            allow_redirects=False, timeout=10)  # fmt: skip
    assert signed_out.status_code == 302

    for _ in range(4):  # whichever worker answers
        replay = _console(server, stolen)
        assert replay.status_code == 302, replay.text
        assert replay.headers["Location"].endswith("/admin/login")
    # Nor can the copy change anything: a client registered with it and its CSRF token is not.
    with browser() as attacker:
        attacker.cookies.set(COOKIE, stolen)
        form = {"csrf_token": csrf, "client_id": "rp-stolen", "client_name": "stolen",
                "redirect_uri": "https://rp.example.org/cb"}  # fmt: skip
        forged = attacker.post(
            f"{server.base}/admin/clients", data=form, allow_redirects=False, timeout=10
        )
    assert forged.status_code == 303 and forged.headers["Location"].endswith("/admin/login")
    assert "rp-stolen" not in server.cli("clients", "list").stdout

"""A sandbox exposed on a network, its console closed by a password: the control API, which
answers anyone, must not open it. It scripts any professional's e-CPS answer
(``PUT …/scenario``), issues test CPS cards the sandbox trusts and shows activation codes in
its outbox; so in sandbox mode no professional's login proves who is at the keyboard, and once
``admin_password_hash`` is set the console's professional sign-in is off (docs/operations.md,
"Admin console"; docs/sandbox.md)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest

from santeid.ecps.pin import PinHasher
from tests.support.security import admin_signed_in
from tests.support.security import browser
from tests.support.security import csrf_token
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

ADMIN_PASSWORD = "the-admin-password-of-the-sandbox-sign-in-tests"
#: An admin professional whose sandbox scenario is a refusal until someone scripts it.
ADMIN = "810000000032"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("sandbox-console"),
        SANTEID_STORE_URL="memory://",
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
        SANTEID_ADMIN_PROFESSIONALS=ADMIN,
    ) as process:
        yield process


def _professional_sign_in(base: str, national_id: str):
    """A browser's professional sign-in to the console, through the login pages as far as they
    let it go: the last answer, and the browser."""
    session = browser()
    page = session.get(f"{base}/admin/login", timeout=10)
    started = session.post(f"{base}/admin/login/professional", allow_redirects=False,
                           timeout=10, data={"csrf_token": csrf_token(page.text)})  # fmt: skip
    if started.status_code != 302:
        return started, session
    login_url = urljoin(started.url, started.headers["Location"])
    form = session.get(login_url, timeout=10)
    session.post(login_url, data={"national_id": national_id, "csrf_token": csrf_token(form.text)},
                 allow_redirects=False, timeout=10)  # fmt: skip
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    for _ in range(50):
        state = session.get(urljoin(login_url, "status"), params={"tx": tx}, timeout=10).json()
        if state["state"] != "waiting":
            break
        time.sleep(0.1)
    done = session.get(urljoin(login_url, "complete"), params={"tx": tx},
                       allow_redirects=False, timeout=10)  # fmt: skip
    return done, session


def test_the_control_api_does_not_open_a_console_closed_by_a_password(server):
    attacker = browser()  # no cookie, no password: only the sandbox's open API
    scripted = attacker.put(f"{server.base}/sandbox/api/professionals/{ADMIN}/scenario",
                            json={"outcome": "approve"}, timeout=10)  # fmt: skip
    assert scripted.status_code == 200, scripted.text

    login_page = attacker.get(f"{server.base}/admin/login", timeout=10)
    assert 'id="sign-in-professional"' not in login_page.text
    answer, session = _professional_sign_in(server.base, ADMIN)
    assert answer.status_code == 404, (answer.status_code, answer.headers.get("Location"))
    keys = session.get(f"{server.base}/admin/keys", allow_redirects=False, timeout=10)
    assert keys.status_code == 302 and keys.headers["Location"].endswith("/admin/login")

    assert "admin_professionals is ignored" in server.log.read_text()  # said at the start
    # The password still opens it (the test's control).
    admin = admin_signed_in(server.base, ADMIN_PASSWORD)
    assert admin.get(f"{server.base}/admin/keys", timeout=10).status_code == 200

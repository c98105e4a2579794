"""Sandbox conveniences do not exist outside sandbox mode (docs/sandbox.md: "Nothing on this
page exists outside sandbox mode"), against a real ``santeid serve`` started as production
runs it (``SANTEID_SANDBOX=false``, no ``--sandbox``), on a folder holding the demo directory:

* the admin console's documented demo password signs nobody in;
* the sandbox pages and the control API answer 404, no response carries
  ``X-Santeid-Sandbox`` nor the sandbox banner;
* the *auto-approve* demo professionals are approved by nobody: the login page says they have
  no e-CPS, a CIBA request for one is refused (no phone to ask);
* a phone's pending requests never carry ``sandbox_expected_code`` (the right code of a browser
  login): the professional picks the code the login page shows, as on a real phone."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest

from santeid.admin.views import SANDBOX_DEMO_PASSWORD
from santeid.ecps.pin import PinHasher
from santeid.ecps.simulator import DeviceSimulator
from santeid.i18n import Translator
from tests.support.ciba import CIBA_GRANT
from tests.support.security import activation_uri
from tests.support.security import admin_signed_in
from tests.support.security import browser
from tests.support.security import csrf_token
from tests.support.servers import production_process
from tests.support.servers import santeid_home

pytestmark = [pytest.mark.server]

ADMIN_PASSWORD = "the-admin-password-of-the-outside-sandbox-tests"
CLIENT_ID = "rp-outside-sandbox"
SECRET = "a-long-secret-for-the-outside-sandbox-tests-0123456789"
REDIRECT_URI = "https://rp.example.org/callback"
#: Approved by the sandbox phone after ``sandbox_approval_delay`` (browser), at once (CIBA).
AUTO_APPROVED = "810000000001"
#: Another auto-approve demo professional, who activates a phone below.
WITH_PHONE = "810000000002"
PIN = "135790"
#: What sandbox mode serves (docs/sandbox.md, docs/endpoints.md).
SANDBOX_PATHS = [
    "/sandbox/outbox",
    "/sandbox/outbox.json",
    "/sandbox/debugger",
    "/sandbox/api/professionals",
    f"/sandbox/api/professionals/{AUTO_APPROVED}/scenario",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("outside-sandbox")
    santeid_home(home, sandbox=False).cli("directory", "seed-demo")
    client = {
        "client_id": CLIENT_ID,
        "client_name": "RP hors bac à sable",
        "client_secret": SECRET,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with production_process(
        home,
        behind_proxy=False,
        clients=[client],
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
    ) as server:
        yield server


def _no_sandbox_mark(response) -> None:
    assert "X-Santeid-Sandbox" not in response.headers, response.url
    assert Translator("fr")("sandbox_banner") not in response.text, response.url
    assert 'id="sandbox-banner"' not in response.text, response.url


def _login_page(server, session) -> str:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": "s" * 16, "nonce": "n" * 16}  # fmt: skip
    authorize = f"{server.oidc}/auth?{urlencode(query)}"
    started = session.get(authorize, allow_redirects=False, timeout=10)
    assert started.status_code == 302, started.text
    return urljoin(authorize, started.headers["Location"])


def _submit(session, login_url: str, national_id: str):
    page = session.get(login_url, timeout=10)
    _no_sandbox_mark(page)
    form = {"national_id": national_id, "csrf_token": csrf_token(page.text)}
    return session.post(login_url, data=form, allow_redirects=False, timeout=10)


def _ciba(server, national_id: str):
    return browser().post(f"{server.oidc}/ext/ciba/auth", auth=(CLIENT_ID, SECRET), timeout=10,
                          data={"scope": "openid scope_all", "login_hint": national_id,
                                "binding_message": "42"})  # fmt: skip


def test_no_sandbox_convenience_answers_outside_sandbox_mode(server):
    session = browser()
    # Pages: no banner, no header, no sandbox page, no control API.
    for path in ("/", "/admin/login", "/ecps/activation", "/health"):
        answer = session.get(server.base + path, timeout=10)
        assert answer.status_code == 200, (path, answer.text)
        _no_sandbox_mark(answer)
    for path in SANDBOX_PATHS:
        answer = session.get(server.base + path, allow_redirects=False, timeout=10)
        assert answer.status_code == 404, (path, answer.status_code)
        _no_sandbox_mark(answer)
    changed = session.put(f"{server.base}/sandbox/api/professionals/{AUTO_APPROVED}/scenario",
                          json={"outcome": "approve"}, timeout=10)  # fmt: skip
    assert changed.status_code == 404

    # The demo password: neither shown nor accepted; the configured one is (the control).
    page = session.get(f"{server.base}/admin/login", timeout=10)
    assert SANDBOX_DEMO_PASSWORD not in page.text
    demo = session.post(f"{server.base}/admin/login", allow_redirects=False, timeout=10,
                        data={"user": "admin", "password": SANDBOX_DEMO_PASSWORD,
                              "csrf_token": csrf_token(page.text)})  # fmt: skip
    assert demo.status_code == 401, demo.text
    console = session.get(f"{server.base}/admin/", allow_redirects=False, timeout=10)
    assert console.status_code == 302 and "/admin/login" in console.headers["Location"]
    admin_signed_in(server.base, ADMIN_PASSWORD)

    # An auto-approve professional: no phone answers for them, on the login page or by CIBA.
    login_url = _login_page(server, session)
    refused = _submit(session, login_url, AUTO_APPROVED)
    assert refused.status_code == 400, refused.text
    assert AUTO_APPROVED in refused.text
    _no_sandbox_mark(refused)
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    status = session.get(urljoin(login_url, "status"), params={"tx": tx}, timeout=10)
    assert status.json()["state"] == "identify"
    ciba = _ciba(server, AUTO_APPROVED)
    assert ciba.status_code == 503, ciba.text
    assert ciba.json()["error"] == "server_error"
    assert "auth_req_id" not in ciba.json()


def test_a_phone_is_never_given_the_right_code_outside_sandbox_mode(server):
    """An auto-approve professional with an activated phone: the pending browser login lists
    its candidate codes without ``sandbox_expected_code``; the phone approves with the code the
    login page shows (the control) and the login completes."""
    admin = admin_signed_in(server.base, ADMIN_PASSWORD)
    phone = DeviceSimulator.enroll(activation_uri(admin, server.base, WITH_PHONE), PIN)
    session = browser()
    login_url = _login_page(server, session)
    waiting = _submit(session, login_url, WITH_PHONE)
    assert waiting.status_code == 303, waiting.text
    page = session.get(urljoin(login_url, waiting.headers["Location"]), timeout=10)
    _no_sandbox_mark(page)
    shown = re.search(r'id="dynamic-code"[^>]*>([^<]+)<', page.text).group(1).strip()
    (item,) = phone.pending(wait=5)
    assert item["kind"] == "browser"
    assert "sandbox_expected_code" not in item
    assert shown in item["candidates"]
    assert phone.approve(item["request_id"], PIN, shown)["status"] == "approved"
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    done = session.get(urljoin(login_url, "complete"), params={"tx": tx},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"].startswith(REDIRECT_URI)
    assert "code=" in done.headers["Location"]

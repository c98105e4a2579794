"""CSRF against a real server: a form posted with a *wrong* token — another browser's real
token, or a made-up one — is refused with 400 and changes nothing: on the login page (no proof
started for the professional), the admin console's forms (no sign-in, no client registered or
removed), the logout confirmation (the SSO session survives), the self-service activation
(no codes sent, none checked) and the devices page (no device revoked).

A login transaction is bound to the browser that started it: another browser, even with a
valid CSRF token of its own, gets 403 on each of its pages. docs/security.md, "Browser"."""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from santeid.ecps.pin import PinHasher
from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import REDIRECT_URI
from tests.support.security import admin_signed_in
from tests.support.security import browser
from tests.support.security import csrf_token
from tests.support.security import first_professional
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

ADMIN_PASSWORD = "the-admin-password-of-the-csrf-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("csrf")
    with santeid_process(
        home,
        clients=[CLIENT],
        SANTEID_STORE_URL="memory://",
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
    ) as server:
        yield server


def _browser() -> requests.Session:
    return browser()


def _csrf(page: requests.Response) -> str:
    return csrf_token(page.text)


def _foreign_token(url: str) -> str:
    with _browser() as attacker:
        return _csrf(attacker.get(url, timeout=10))


def _login_page(server, browser: requests.Session) -> tuple[str, str]:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": "s" * 16, "nonce": "n" * 16}  # fmt: skip
    authorize = f"{server.oidc}/auth?{urlencode(query)}"
    response = browser.get(authorize, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return urljoin(authorize, response.headers["Location"]), authorize


def _state(server, browser: requests.Session, login_url: str) -> str:
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    realm = urlsplit(login_url).path.split("/login-actions/")[0]
    status = browser.get(f"{server.base}{realm}/login-actions/status", params={"tx": tx},
                         timeout=10)  # fmt: skip
    assert status.status_code == 200, status.text
    return status.json()["state"]


@pytest.mark.parametrize("kind", ["another browser's", "made-up"])
def test_the_login_page_refuses_a_wrong_token(server, kind):
    national_id = first_professional(server)  # auto-approved in sandbox mode
    browser = _browser()
    login_url, authorize = _login_page(server, browser)
    assert _csrf(browser.get(login_url, timeout=10))  # this browser has a token of its own
    wrong = _foreign_token(authorize) if kind == "another browser's" else secrets.token_urlsafe(32)
    refused = browser.post(login_url, data={"national_id": national_id, "csrf_token": wrong},
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert refused.status_code == 400, refused.text
    # Nothing started: the transaction still waits for an identifier.
    assert _state(server, browser, login_url) == "identify"
    # The same post with the browser's own token goes through (the test's control).
    accepted = browser.post(login_url, data={"national_id": national_id,
                                             "csrf_token": _csrf(browser.get(login_url))},
                            allow_redirects=False, timeout=10)  # fmt: skip
    assert accepted.status_code == 303, accepted.text
    assert _state(server, browser, login_url) != "identify"


def _wrong(server, kind: str) -> str:
    if kind == "made-up":
        return secrets.token_urlsafe(32)
    return _foreign_token(f"{server.base}/admin/login")


@pytest.mark.parametrize("kind", ["another browser's", "made-up"])
def test_the_admin_sign_in_refuses_a_wrong_token(server, kind):
    browser = _browser()
    browser.get(f"{server.base}/admin/login", timeout=10)
    refused = browser.post(f"{server.base}/admin/login", allow_redirects=False, timeout=10,
                           data={"user": "admin", "password": ADMIN_PASSWORD,
                                 "csrf_token": _wrong(server, kind)})  # fmt: skip
    assert refused.status_code == 400, refused.text
    # Not signed in: the console still sends this browser to its sign-in page.
    console = browser.get(f"{server.base}/admin/", allow_redirects=False, timeout=10)
    assert console.status_code == 302 and "/admin/login" in console.headers["Location"]


@pytest.mark.parametrize("kind", ["another browser's", "made-up"])
def test_admin_forms_refuse_a_wrong_token(server, kind):
    admin = admin_signed_in(server.base, ADMIN_PASSWORD)
    clients_url = f"{server.base}/admin/clients"
    assert _csrf(admin.get(clients_url, timeout=10))
    new_id = f"rp-forged-{secrets.token_hex(4)}"
    form = {"client_id": new_id, "client_name": new_id,
            "redirect_uri": "https://forged.example.org/cb"}  # fmt: skip
    added = admin.post(clients_url, data={**form, "csrf_token": _wrong(server, kind)},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert added.status_code == 400, added.text
    removed = admin.post(f"{clients_url}/remove",
                         data={"csrf_token": _wrong(server, kind), "client_id": CLIENT_ID},
                         allow_redirects=False, timeout=10)  # fmt: skip
    assert removed.status_code == 400, removed.text
    listed = server.cli("clients", "list").stdout
    assert CLIENT_ID in listed and new_id not in listed
    # The admin's own token registers the client (the test's control).
    own = _csrf(admin.get(clients_url, timeout=10))
    accepted = admin.post(clients_url, data={**form, "csrf_token": own}, timeout=10)
    assert accepted.status_code == 200, accepted.text
    assert new_id in server.cli("clients", "list").stdout


# -- logout confirmation ------------------------------------------------------------------------
#: Auto-approved in sandbox mode, without a phone (the login page's test uses the first one).
SIGNED_IN = "810000000002"


def _approved_login(server, session: requests.Session, national_id: str) -> str:
    """``session`` logs ``national_id`` in (the sandbox approves at once): the redirect with
    the code, which also opens the SSO session."""
    login_url, _ = _login_page(server, session)
    page = session.get(login_url, timeout=10)
    posted = session.post(login_url, data={"national_id": national_id, "csrf_token": _csrf(page)},
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert posted.status_code == 303, posted.text
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    for _ in range(100):
        if _state(server, session, login_url) == "approved":
            break
        time.sleep(0.1)
    done = session.get(urljoin(login_url, "complete"), params={"tx": tx},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"].startswith(REDIRECT_URI)
    return done.headers["Location"]


def _logged_in(server) -> tuple[requests.Session, str]:
    """A browser whose professional logged in (SSO session open); and its authorization URL."""
    browser = _browser()
    login_url, authorize = _login_page(server, browser)
    posted = browser.post(login_url, data={"national_id": first_professional(server),
                                           "csrf_token": _csrf(browser.get(login_url))},
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert posted.status_code == 303, posted.text
    for _ in range(100):
        if _state(server, browser, login_url) == "approved":
            break
        time.sleep(0.05)
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    realm = urlsplit(login_url).path.split("/login-actions/")[0]
    done = browser.get(f"{server.base}{realm}/login-actions/complete", params={"tx": tx},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"].startswith(REDIRECT_URI)
    return browser, authorize


def _has_session(browser: requests.Session, authorize: str) -> bool:
    silent = browser.get(authorize + "&prompt=none", allow_redirects=False, timeout=10)
    return "code=" in silent.headers["Location"]


@pytest.mark.parametrize("kind", ["another browser's", "made-up", "missing"])
def test_the_logout_confirmation_refuses_a_wrong_token(server, kind):
    """A third-party page cannot end the professional's session: its logout request without
    ``id_token_hint`` (GET or a form POST) only shows the confirmation, and a forged
    confirmation is refused — the session lives on until the professional confirms."""
    browser, authorize = _logged_in(server)
    logout = f"{server.oidc}/logout"
    page = browser.get(logout, timeout=10)
    assert page.status_code == 200 and 'id="confirm-logout"' in page.text
    # The relying party's POST (no token of ours): the same confirmation, nothing ended.
    cross_site = browser.post(logout, data={"client_id": CLIENT_ID}, allow_redirects=False,
                              timeout=10)  # fmt: skip
    assert cross_site.status_code == 200 and 'id="confirm-logout"' in cross_site.text
    assert _has_session(browser, authorize)
    confirm = urljoin(logout, re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
    assert confirm != logout  # the confirmation has an address of its own
    forged = {"another browser's": _foreign_token(logout), "made-up": secrets.token_urlsafe(32),
              "missing": None}[kind]  # fmt: skip
    refused = browser.post(confirm, data={} if forged is None else {"csrf_token": forged},
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert _has_session(browser, authorize)
    # The professional's own confirmation logs out (the test's control).
    accepted = browser.post(confirm, data={"csrf_token": _csrf(page)}, allow_redirects=False,
                            timeout=10)  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    assert not _has_session(browser, authorize)


# -- login transactions bound to their browser --------------------------------------------------
def test_a_login_transaction_cannot_be_used_from_another_browser(server):
    """The professional's browser starts a login; another browser (a CSRF token of its own in
    hand) tries each page of that transaction: 403 everywhere, nothing started, approved,
    finished or cancelled; the professional's browser then finishes it."""
    owner = _browser()
    login_url, _ = _login_page(server, owner)
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    actions = urljoin(login_url, "./")
    intruder = _browser()
    own_login, _ = _login_page(server, intruder)
    token = _csrf(intruder.get(own_login, timeout=10))  # valid, for the intruder's session

    def intrude() -> list[requests.Response]:
        form = {"csrf_token": token}
        calls = [
            ("GET", "authenticate", None),
            ("POST", "authenticate", {**form, "national_id": SIGNED_IN}),
            ("GET", "status", None),
            ("GET", "otp", None),
            ("POST", "otp", {**form, "otp": "123456"}),
            ("POST", "retry", form),
            ("GET", "complete", None),
            ("POST", "cancel", form),
        ]
        return [
            intruder.request(method, actions + page, params={"tx": tx}, data=data,
                             allow_redirects=False, timeout=10)
            for method, page, data in calls
        ]  # fmt: skip

    for answer in intrude():
        assert answer.status_code == 403, (answer.request.method, answer.url, answer.text)
        assert "Location" not in answer.headers
    assert _state(server, owner, login_url) == "identify"  # nothing started

    page = owner.get(login_url, timeout=10)
    posted = owner.post(login_url, data={"national_id": SIGNED_IN, "csrf_token": _csrf(page)},
                        allow_redirects=False, timeout=10)  # fmt: skip
    assert posted.status_code == 303, posted.text
    for _ in range(100):
        if _state(server, owner, login_url) == "approved":
            break
        time.sleep(0.1)
    # Approved: the intruder still can neither take the code nor cancel the login.
    for answer in intrude():
        assert answer.status_code == 403, (answer.request.method, answer.url, answer.text)
        assert "Location" not in answer.headers
    assert _state(server, owner, login_url) == "approved"
    done = owner.get(actions + "complete", params={"tx": tx}, allow_redirects=False, timeout=10)
    assert done.status_code == 302 and "code=" in done.headers["Location"]


# -- self-service activation and the devices page -----------------------------------------------
#: Demo professional with both contact data (docs/demo-professionals.md).
ACTIVATING = "810000000004"
ACTIVATING_EMAIL = "antoine.legrand@example.org"
ACTIVATING_PHONE = "0639980004"
#: Auto-approved, given a phone below for the devices page.
WITH_PHONE = "810000000003"
PIN = "135790"


def _outbox(server, session: requests.Session, to: str) -> list[dict]:
    answer = session.get(f"{server.base}/sandbox/outbox.json", params={"to": to}, timeout=10)
    return answer.json()["messages"]


def _code_in(message: dict) -> str:
    return re.search(r"\b([0-9]{6})\b", message["body"]).group(1)


@pytest.mark.parametrize("kind", ["another browser's", "made-up"])
def test_the_activation_forms_refuse_a_wrong_token(server, kind):
    session = _browser()
    activation = f"{server.base}/ecps/activation"
    sent = len(_outbox(server, session, ACTIVATING_EMAIL))
    session.get(activation, timeout=10)
    wrong = _foreign_token(activation) if kind == "another browser's" else secrets.token_urlsafe(32)
    refused = session.post(activation, data={"national_id": ACTIVATING, "csrf_token": wrong},
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert len(_outbox(server, session, ACTIVATING_EMAIL)) == sent  # no codes sent

    page = session.get(activation, timeout=10)
    asked = session.post(activation, data={"national_id": ACTIVATING, "csrf_token": _csrf(page)},
                         allow_redirects=False, timeout=10)  # fmt: skip
    assert asked.status_code == 303, asked.text
    flow = parse_qs(urlsplit(asked.headers["Location"]).query)["flow"][0]
    verify = f"{server.base}/ecps/activation/verify"
    codes = {"email_code": _code_in(_outbox(server, session, ACTIVATING_EMAIL)[0]),
             "sms_code": _code_in(_outbox(server, session, ACTIVATING_PHONE)[0])}  # fmt: skip
    page = session.get(verify, params={"flow": flow}, timeout=10)
    wrong = _foreign_token(activation) if kind == "another browser's" else secrets.token_urlsafe(32)
    forged = session.post(verify, data={"flow": flow, **codes, "csrf_token": wrong}, timeout=10)
    assert forged.status_code == 400, forged.text
    assert 'id="activation-code"' not in forged.text and "santeid-ecps://" not in forged.text
    # Another browser cannot use the flow at all, its own token in hand.
    other = _browser()
    other_token = _csrf(other.get(activation, timeout=10))
    stolen = other.post(verify, data={"flow": flow, **codes, "csrf_token": other_token},
                        timeout=10)  # fmt: skip
    assert stolen.status_code == 403, stolen.text
    # The right codes with the browser's own token activate (the test's control): the forged
    # posts did not spend the flow.
    done = session.post(verify, data={"flow": flow, **codes, "csrf_token": _csrf(page)},
                        timeout=10)  # fmt: skip
    assert done.status_code == 200, done.text
    assert "santeid device enroll" in done.text


def test_the_devices_page_refuses_a_wrong_token(server):
    from santeid.ecps.simulator import DeviceSimulator
    from tests.support.security import activation_uri
    from tests.support.security import admin_signed_in

    session = _browser()
    _approved_login(server, session, WITH_PHONE)  # before the phone: the sandbox approves
    admin = admin_signed_in(server.base, ADMIN_PASSWORD)
    phone = DeviceSimulator.enroll(activation_uri(admin, server.base, WITH_PHONE), PIN,
                                   session=_browser())  # fmt: skip
    device_id = phone.device.device_id
    listing = session.get(f"{server.base}/ecps/devices", timeout=10)
    assert listing.status_code == 200 and device_id in listing.text, listing.text
    revoke = f"{server.base}/ecps/devices/{device_id}/revoke"
    confirm = session.get(revoke, timeout=10)
    assert confirm.status_code == 200, confirm.text
    for wrong in (_foreign_token(f"{server.base}/ecps/activation"), secrets.token_urlsafe(32)):
        refused = session.post(revoke, data={"csrf_token": wrong}, allow_redirects=False,
                               timeout=10)  # fmt: skip
        assert refused.status_code == 400, refused.text
        assert phone.me()["status"] == "active"
    # The page's own token revokes (the test's control).
    done = session.post(revoke, data={"csrf_token": _csrf(confirm)}, allow_redirects=False,
                        timeout=10)  # fmt: skip
    assert done.status_code == 303, done.text
    assert phone.me()["status"] == "revoked"

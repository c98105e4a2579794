"""The control API's e-CPS activation (``POST /sandbox/api/activations``, docs/sandbox.md)
does not exist outside sandbox mode, against a real ``santeid serve`` started as production
runs it (``SANTEID_SANDBOX=false``) with real delivery — an SMTP server and an SMS gateway,
both local — so that the activation pages do send codes (the control):

* asking codes through the control API sends nothing and starts no activation;
* a stranger who learnt the flow id of the professional's own activation cannot submit codes
  through it: 404, no attempt spent — the professional still activates with the page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller

from tests.support.redis_server import free_port
from tests.support.security import browser
from tests.support.security import csrf_token
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process
from tests.support.web_ecps import EMAIL
from tests.support.web_ecps import PHONE
from tests.support.web_ecps import PROFESSIONAL
from tests.support.web_ecps import RecordingHandler
from tests.support.web_ecps import SmsReceiver

pytestmark = [pytest.mark.server]

API = "/sandbox/api"
CODE_RE = re.compile(r"\b([0-9]{6})\b")


@pytest.fixture(scope="module")
def delivery():
    """``(mails, sms, smtp_port)``: a real SMTP server and a real SMS gateway, recording."""
    handler = RecordingHandler()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with SmsReceiver() as sms:
            yield handler, sms, smtp.port
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, delivery):
    _, sms, smtp_port = delivery
    home = tmp_path_factory.mktemp("activation-api-outside-sandbox")
    santeid_home(home, sandbox=False).cli("directory", "seed-demo")
    settings = {
        "SANTEID_SMTP_HOST": "127.0.0.1",
        "SANTEID_SMTP_PORT": str(smtp_port),
        "SANTEID_SMTP_STARTTLS": "false",
        "SANTEID_SMS_HOOK_URL": sms.url,
    }
    with santeid_process(home, sandbox=False, SANTEID_STORE_URL="memory://", **settings) as s:
        yield s


def page_codes(server, session) -> str:
    """The professional's own activation on the page: the flow id of the codes page."""
    page = session.get(f"{server.base}/ecps/activation", timeout=10)
    started = session.post(
        f"{server.base}/ecps/activation",
        data={"national_id": PROFESSIONAL, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert started.status_code == 303, started.text
    return parse_qs(urlsplit(started.headers["Location"]).query)["flow"][0]


def test_no_activation_through_the_control_api_outside_sandbox_mode(server, delivery):
    mails, sms, _ = delivery
    attacker = browser()
    asked = attacker.post(
        f"{server.base}{API}/activations", json={"national_id": PROFESSIONAL}, timeout=10
    )
    assert asked.status_code == 404
    assert "activation_id" not in asked.text
    assert (mails.messages, sms.calls) == ([], [])

    # The professional's own activation, on the page: codes really go out (the control).
    owner = browser()
    flow = page_codes(server, owner)
    assert [m.rcpt_tos for m in mails.messages] == [[EMAIL]]
    assert [c.body["to"] for c in sms.calls] == [PHONE]
    email_code = CODE_RE.search(mails.messages[0].content.decode()).group(1)
    sms_code = CODE_RE.search(sms.calls[0].body["text"]).group(1)

    # The stranger holding the flow id guesses codes through the control API: nothing runs.
    for _ in range(6):
        guessed = attacker.post(
            f"{server.base}{API}/activations/{flow}/verify",
            json={"email_code": "000000", "sms_code": "000000"},
            timeout=10,
        )
        assert guessed.status_code == 404
    page = owner.get(f"{server.base}/ecps/activation/verify", params={"flow": flow}, timeout=10)
    done = owner.post(
        f"{server.base}/ecps/activation/verify",
        data={"flow": flow, "email_code": email_code, "sms_code": sms_code,
              "csrf_token": csrf_token(page.text)},
        timeout=10,
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert 'id="activation-uri"' in done.text

"""Helpers for the e-CPS web page tests: a browser going through self-service activation, the
sandbox outbox, device enrolment over the device protocol, a real SMTP server (aiosmtpd)
and a real HTTP receiver standing for an SMS gateway."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from joserfc.jwk import ECKey

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CODE_RE = re.compile(r"\b([0-9]{6})\b")
#: Demo professional with both contact data and no sandbox auto-approval.
PROFESSIONAL = "810000000004"
EMAIL = "antoine.legrand@example.org"
PHONE = "0639980004"


def csrf(html: str) -> str:
    return CSRF_RE.search(html).group(1)


def outbox(http, **params) -> list[dict]:
    response = http.get("/sandbox/outbox.json", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["messages"]


def request_codes(http, national_id: str = PROFESSIONAL, *, query: str = "") -> str:
    """Type the identifier on the activation page; return the flow id of the codes page."""
    page = http.get("/ecps/activation" + query)
    assert page.status_code == 200, page.get_data(as_text=True)
    response = http.post(
        "/ecps/activation" + query,
        data={"national_id": national_id, "csrf_token": csrf(page.get_data(as_text=True))},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.headers["Location"]).query)["flow"][0]


def codes_from_outbox(http, email: str = EMAIL, phone: str = PHONE) -> tuple[str, str]:
    """The latest e-mail and SMS codes sent to this professional."""
    mail = outbox(http, to=email)[0]
    sms = outbox(http, to=phone)[0]
    return CODE_RE.search(mail["body"]).group(1), CODE_RE.search(sms["body"]).group(1)


def session_csrf(http) -> str:
    """This browser's CSRF token (one per session, on every form)."""
    return csrf(http.get("/ecps/activation").get_data(as_text=True))


def post_codes(
    http, flow: str, email_code: str, sms_code: str, *, query: str = "", follow: bool = True
):
    """Submit both codes; ``follow``: the page the browser ends on (the QR page, a redirect
    away, when they are right), else the answer to the POST itself."""
    token = session_csrf(http)
    return http.post(
        "/ecps/activation/verify" + query,
        data={"flow": flow, "email_code": email_code, "sms_code": sms_code, "csrf_token": token},
        follow_redirects=follow,
    )


def enrol_over_protocol(http, activation_uri: str, *, name: str = "Pixel de test") -> dict:
    """What a phone does with the QR code: POST the code, its public key and a PIN."""
    from santeid.ecps.simulator import parse_activation_uri

    server, code = parse_activation_uri(activation_uri)
    assert server == "http://localhost"
    key = ECKey.generate_key("P-256", private=True)
    response = http.post(
        "/ecps/device/register",
        json={
            "activation_code": code,
            "public_jwk": key.as_dict(private=False),
            "pin": "246810",
            "name": name,
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def set_contact_details(app, email: str, phone: str, national_id: str = PROFESSIONAL) -> None:
    """The directory's correspondence e-mail and phone of ``national_id``, replaced."""
    import dataclasses

    directory = app.extensions["santeid"].directory
    directory.upsert(
        dataclasses.replace(
            directory.get(national_id), correspondence_email=email, correspondence_phone=phone
        )
    )


def enrol(app, national_id: str, name: str = "Téléphone") -> str:
    """A device for ``national_id`` registered through the e-CPS service; its id."""
    ecps = app.extensions["santeid"].ecps
    activation = ecps.start_activation(national_id)
    key = ECKey.generate_key("P-256", private=True)
    device = ecps.register_device(
        activation_code=activation.code,
        public_jwk=key.as_dict(private=False),
        pin="1357",
        name=name,
    )
    return device.device_id


# -- a real SMTP server ------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None


@dataclass
class RecordingHandler:
    """aiosmtpd handler keeping every message it accepts."""

    messages: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        auth = session.auth_data if session.authenticated else None
        self.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or envelope.content,
                # STARTTLS sets session.ssl; implicit TLS shows on the transport.
                tls=session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                login=getattr(auth, "login", None),
            )
        )
        return "250 Message accepted for delivery"


# -- a real HTTP receiver for the SMS hook ----------------------------------------------------


@dataclass
class HookCall:
    path: str
    headers: dict[str, str]
    body: dict | None


class SmsReceiver:
    """A local HTTP server recording POSTs; ``status`` and ``delay`` shape its answer."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                receiver.calls.append(HookCall(self.path, dict(self.headers.items()), body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.status if self.path == "/sms" else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format, *args):  # noqa: A002 - silence the test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/sms"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> SmsReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

"""Webhooks: delivered in the background to a local receiver, never blocking, never
following redirects; the SSRF guard at registration and again at delivery."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from santeid.ecps import webhooks
from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import check_webhook_url
from santeid.ecps.webhooks import deliver
from tests.support.ecps_phone import Phone
from tests.support.redis_server import closed_port


class Receiver:
    """A local HTTP server recording POSTs; ``delay`` slows its answers, ``status`` sets them."""

    def __init__(self, *, delay: float = 0.0, status: int = 204) -> None:
        self.hits: list[tuple[str, dict, dict]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.hits.append((self.path, dict(self.headers), json.loads(body)))
                receiver.event.set()
                time.sleep(delay)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    instance = Receiver()
    yield instance
    instance.close()


def _resolving_to(monkeypatch, mapping: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in mapping:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in mapping[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake)


# -- the guard ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",  # plain http outside the sandbox
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",  # CGNAT
        "https://[fd00::1]/hook",  # unique local
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://user:pass@93.184.215.14/hook",
        "https://93.184.215.14/hook#fragment",
        "ftp://93.184.215.14/hook",
        "not a url",
        "https://",
        "https://" + "a" * 2100 + ".example/",
    ],
)
def test_refused_outside_sandbox(url):
    with pytest.raises(WebhookRefused):
        check_webhook_url(url, sandbox=False)


@pytest.mark.parametrize(
    "character",
    ["\x00", "\x01", "\t", "\n", "\r", "\x1f", " ", "\x7f", '"', "<", ">", "\\", "^", "`",
     "{", "|", "}", "\x85", "\u00a0", "\u200b", "\u202e", "\u2028", "\ud800"],
)  # fmt: skip
@pytest.mark.parametrize(
    "place",
    [
        "http://127.0.0.1:8080/a{}b",
        "http://127.0.0.1:8080/?q={}",
        "http://127.0.0.1{}:8080/",
        "{}http://127.0.0.1:8080/",
    ],
)
def test_characters_no_url_can_hold_are_refused_first(monkeypatch, character, place):
    """RFC 3986 §2: refused before anything else, even for a URL the sandbox would accept."""

    def never(*args, **kwargs):
        raise AssertionError("resolved")

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", never)
    with pytest.raises(WebhookRefused) as refused:
        check_webhook_url(place.format(character), sandbox=True)
    assert str(refused.value) == (
        f"malformed URL (U+{ord(character):04X} cannot appear in a URL, RFC 3986 §2)"
    )


def test_every_character_a_url_may_hold_is_accepted():
    url = "http://127.0.0.1:8080/AZaz09-._~:@!$&'()*+,;=%20/?q=[x]/é"
    assert check_webhook_url(url, sandbox=True)[3] == ["127.0.0.1"]


def test_names_resolving_to_private_addresses_are_refused(monkeypatch):
    _resolving_to(
        monkeypatch,
        {
            "internal.example": ["10.0.0.8"],
            "mixed.example": ["93.184.215.14", "127.0.0.1"],
            "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        },
    )
    with pytest.raises(WebhookRefused, match="non-public"):
        check_webhook_url("https://internal.example/hook", sandbox=False)
    with pytest.raises(WebhookRefused, match="non-public"):
        check_webhook_url("https://mixed.example/hook", sandbox=False)
    scheme, host, port, addresses = check_webhook_url(
        "https://public.example:8443/hook", sandbox=False
    )
    assert (scheme, host, port) == ("https", "public.example", 8443)
    assert addresses[0] == "93.184.215.14"


@pytest.mark.parametrize(
    "url, a_label",
    [
        ("https://exämple.fr/hook", "xn--exmple-cua.fr"),
        ("https://EXÄMPLE.fr/hook", "xn--exmple-cua.fr"),
        ("https://xn--exmple-cua.fr/hook", "xn--exmple-cua.fr"),  # written as its A-label
        # IDNA2008 keeps ß (Python's IDNA 2003 codec, socket's and ssl's, makes it "ss":
        # fass.de, another domain).
        ("https://faß.de/hook", "xn--fa-hia.de"),
        ("https://hôpital.ｅｘａｍｐｌｅ/hook", "xn--hpital-ixa.example"),  # fullwidth, mapped
    ],
)
def test_an_internationalised_host_is_checked_as_its_a_label(monkeypatch, url, a_label):
    """The name resolved (and then connected to) is the host's IDNA2008 A-label, whichever
    way it is written; resolving to a private address, it is refused like any name."""
    looked_up: list[object] = []
    _resolving_to(monkeypatch, {a_label: ["93.184.215.14"]})
    resolve = webhooks.socket.getaddrinfo

    def recording(host, *args, **kwargs):
        looked_up.append(host)
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", recording)
    assert check_webhook_url(url, sandbox=False) == ("https", a_label, 443, ["93.184.215.14"])
    assert looked_up == [a_label]
    _resolving_to(monkeypatch, {a_label: ["10.0.0.8"]})
    with pytest.raises(WebhookRefused, match="non-public"):
        check_webhook_url(url, sandbox=False)


@pytest.mark.parametrize(
    "host, why",
    [
        ("☃.example", "U+2603"),  # a symbol: IDNA 2003 only
        ("-hôpital.example", "hyphen"),
        ("h\u0302ô" * 30 + ".example", "too long"),
        ("١a.example", "directionality"),  # right-to-left digit, then a left-to-right letter
    ],
)
def test_a_host_without_a_label_is_refused_before_any_lookup(monkeypatch, host, why):
    def never(*args, **kwargs):
        raise AssertionError("resolved")

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", never)
    with pytest.raises(WebhookRefused) as refused:
        check_webhook_url(f"https://{host}/hook", sandbox=False)
    message = str(refused.value)
    assert message.startswith("the host ") and "is not a valid internationalised domain" in message
    assert why in message and message.endswith("write it as its A-label (xn--…)")


def test_unresolvable_host_is_refused(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror("no such host")

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fail)
    with pytest.raises(WebhookRefused, match="cannot be resolved"):
        check_webhook_url("https://nowhere.example/hook", sandbox=False)


def test_public_https_allowed():
    assert check_webhook_url("https://93.184.215.14/push?t=1", sandbox=False)[3] == [
        "93.184.215.14"
    ]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8099/ciba", "http://localhost/hook"])
def test_local_http_outside_sandbox_says_sandbox_mode_would_accept_it(url):
    with pytest.raises(WebhookRefused) as refused:
        check_webhook_url(url, sandbox=False)
    assert str(refused.value) == (
        "the webhook URL must use https"
        " (http://127.0.0.1 and http://localhost are accepted in sandbox mode only)"
    )


def test_other_http_urls_get_no_sandbox_hint():
    with pytest.raises(WebhookRefused) as refused:
        check_webhook_url("http://93.184.215.14/hook", sandbox=False)
    assert str(refused.value) == "the webhook URL must use https"


def test_sandbox_allows_local_http_only_for_loopback():
    assert check_webhook_url("http://127.0.0.1:8080/hook", sandbox=True)[3] == ["127.0.0.1"]
    assert check_webhook_url("http://localhost:8080/hook", sandbox=True)[3] == ["127.0.0.1"]
    assert check_webhook_url("http://[::1]:8080/hook", sandbox=True)[3] == ["::1"]
    with pytest.raises(WebhookRefused):
        check_webhook_url("http://10.0.0.1/hook", sandbox=True)
    with pytest.raises(WebhookRefused):
        check_webhook_url("http://93.184.215.14/hook", sandbox=True)


# -- delivery --------------------------------------------------------------------------------------
def test_webhook_called_when_a_request_is_created(app, client, ecps, national_id):
    slow = Receiver(delay=1.0)
    try:
        phone = Phone.register(app, client, national_id, webhook_url=slow.url("/push?token=x"))
        started = time.monotonic()
        request = ecps.create_browser_request(national_id, client_name="RP")
        assert time.monotonic() - started < 0.5  # never waits for the receiver
        assert slow.event.wait(5)
        path, headers, body = slow.hits[0]
        assert path == "/push?token=x"
        assert body == {"request_id": request.request_id}
        assert headers["Content-Type"] == "application/json"
        assert phone.device_id
    finally:
        slow.close()


def test_webhook_set_later_through_the_api(client, ecps, phone, national_id, receiver):
    response = client.post(
        "/ecps/device/webhook", json={"webhook_url": receiver.url()}, headers=phone.auth()
    )
    assert response.status_code == 200
    request = ecps.create_ciba_request(
        national_id, client_name="RP", binding_message="01", expires_in=30
    )
    assert receiver.event.wait(5)
    assert receiver.hits[0][2] == {"request_id": request.request_id}


def test_only_active_devices_are_notified(app, client, ecps, national_id, receiver):
    phone = Phone.register(app, client, national_id, webhook_url=receiver.url())
    ecps.revoke_device(phone.device_id)
    ecps.create_browser_request(national_id, client_name="RP")
    assert not receiver.event.wait(0.5)


def test_redirects_are_not_followed(receiver):
    redirecting = Receiver(status=302)
    try:
        status = deliver(redirecting.url(), {"request_id": "x"}, sandbox=True)
        assert status == 302
        assert [hit[0] for hit in redirecting.hits] == ["/hook"]
    finally:
        redirecting.close()


def test_failures_are_logged_not_raised(app, client, ecps, national_id, caplog):
    with closed_port() as port:
        Phone.register(app, client, national_id, webhook_url=f"http://127.0.0.1:{port}/x")
        with caplog.at_level(logging.WARNING, logger="santeid.ecps.webhooks"):
            ecps.create_browser_request(national_id, client_name="RP")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if any("failed" in r.getMessage() for r in caplog.records):
                    break
                time.sleep(0.05)
    assert any("failed" in r.getMessage() for r in caplog.records)


def test_delivery_rechecks_the_address(monkeypatch, receiver):
    """DNS rebinding: a name that was public at registration and now resolves to loopback is
    refused at delivery, and nothing reaches the local receiver."""
    _resolving_to(monkeypatch, {"rebind.example": ["127.0.0.1"]})
    with pytest.raises(WebhookRefused):
        deliver(f"https://rebind.example:{receiver.port}/hook", {"request_id": "x"}, sandbox=False)
    assert receiver.hits == []


def test_delivery_names_the_a_label_to_the_server(receiver):
    """In sandbox mode ``ｌｏｃａｌｈｏｓｔ`` (fullwidth) is ``localhost`` once mapped (UTS #46):
    the loopback receiver is reached, and the ``Host`` it is sent is the ASCII name."""
    url = f"http://ｌｏｃａｌｈｏｓｔ:{receiver.port}/hook"
    assert check_webhook_url(url, sandbox=True)[1:] == ("localhost", receiver.port, ["127.0.0.1"])
    assert deliver(url, {"request_id": "z"}, sandbox=True) == 204
    assert receiver.hits[0][1]["Host"] == f"localhost:{receiver.port}"


def test_delivery_connects_to_the_checked_address(monkeypatch, receiver):
    """The connection goes to the address checked, not to a second lookup of the name."""
    calls = []
    _resolving_to(monkeypatch, {})
    real = webhooks.socket.getaddrinfo

    def counting(host, *args, **kwargs):
        calls.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", counting)
    status = deliver(f"http://localhost:{receiver.port}/hook", {"request_id": "y"}, sandbox=True)
    assert status == 204
    assert "localhost" not in calls  # sandbox loopback names are pinned, never resolved
    assert receiver.hits[0][2] == {"request_id": "y"}

"""The SSRF guard of webhooks and CIBA notifications (santeid.ecps.webhooks) judges an IPv6
address that reaches an IPv4 one by that IPv4 address: NAT64 (RFC 6052), 6to4 (RFC 3056),
IPv4-compatible and IPv4-mapped (RFC 4291 §2.5.5) forms of loopback, private or link-local
addresses are refused like the addresses themselves (in-process, below).

Then against a real ``santeid serve`` outside sandbox mode, its name resolution scripted
(``tests.support.lookup_probe``): the admin console refuses to register a CIBA notification
endpoint or a back-channel logout URI at such an address, the device API a webhook (at
enrolment or changed) and a Web Push endpoint; a ping endpoint that names a local receiver
(registered while the folder was in sandbox mode) is refused at delivery, and the receiver
hears nothing; a push endpoint so registered gets no tokens minted at all; a webhook host
rebound to 127.0.0.1 after its check is never reached."""

from __future__ import annotations

import json

import pytest

from santeid.ecps.webhooks import WebhookRefused
from santeid.ecps.webhooks import check_webhook_url


@pytest.mark.parametrize(
    "host, reaches",
    [
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # cloud metadata
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("2002:7f00:1::1", "127.0.0.1"),
        ("2002:c0a8:101::", "192.168.1.1"),
        ("2002:a9fe:a9fe:1::2", "169.254.169.254"),
        ("::127.0.0.1", "127.0.0.1"),
        ("::a00:1", "10.0.0.1"),
        ("::ffff:192.168.0.1", "192.168.0.1"),
    ],
)
def test_transition_forms_of_internal_addresses_are_refused(host, reaches):
    with pytest.raises(WebhookRefused, match=reaches.replace(".", r"\.")):
        check_webhook_url(f"https://[{host}]/hook", sandbox=False)


@pytest.mark.parametrize("host", ["64:ff9b::808:808", "2002:808:808::1"])
def test_transition_forms_of_public_addresses_stay_allowed(host):
    scheme, _, port, addresses = check_webhook_url(f"https://[{host}]/hook", sandbox=False)
    assert (scheme, port, addresses) == ("https", 443, [host])


# -- against a real server, outside sandbox mode ------------------------------------------------
#
# Sandbox mode allows http(s) to 127.0.0.1/localhost/[::1] (local receivers); outside it, every
# outgoing URL must be https and reach only globally routable addresses (docs/security.md,
# "Outgoing requests"). The server below runs with SANTEID_SANDBOX=false. A receiver listens on
# 127.0.0.1: a client registered while the folder was in sandbox mode still names it, and the
# server must refuse it at delivery; whatever is refused, the receiver hears nothing.

ADMIN_PASSWORD = "the-admin-password-of-the-ssrf-tests"
PIN = "135790"
NATIONAL_ID = "810000000001"
CLIENT_SECRET = "a-long-secret-for-the-ssrf-guard-tests-0123456789"
#: Loopback, private, link-local (cloud metadata), CGNAT, and IPv6 forms of them.
INTERNAL_HOSTS = [
    "127.0.0.1",
    "localhost",
    "10.0.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[64:ff9b::a9fe:a9fe]",
    "[2002:7f00:1::1]",
    "[fd00::1]",
]


@pytest.fixture(scope="module")
def outside_sandbox(tmp_path_factory):
    from santeid.ecps.pin import PinHasher
    from tests.support.ciba import CIBA_GRANT
    from tests.support.ciba import Receiver
    from tests.support.lookup_probe import lookup_probe
    from tests.support.security import admin_signed_in
    from tests.support.servers import production_process
    from tests.support.servers import santeid_home

    home = tmp_path_factory.mktemp("ssrf-outside-sandbox")
    probe, lookups = lookup_probe(home)
    with Receiver([204]) as receiver:
        # Set up while the folder is in sandbox mode, which accepts the local receiver.
        sandboxed = santeid_home(home, SANTEID_CIBA_PUSH_ENABLED="true")
        sandboxed.cli("directory", "seed-demo")
        for client_id, mode in (("rp-ping-loopback", "ping"), ("rp-push-loopback", "push")):
            sandboxed.register(
                client_id,
                client_secret=CLIENT_SECRET,
                grant_types=[CIBA_GRANT, "refresh_token"],
                token_endpoint_auth_method="client_secret_basic",
                backchannel_token_delivery_mode=mode,
                backchannel_client_notification_endpoint=receiver.url,
            )
        with production_process(
            home,
            behind_proxy=False,
            SANTEID_CIBA_PUSH_ENABLED="true",  # a push client is registered
            SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
            **probe,
        ) as server:
            admin = admin_signed_in(server.base, ADMIN_PASSWORD)
            yield {"server": server, "receiver": receiver, "admin": admin, "lookups": lookups}


def _register_in_console(setup, metadata: dict):
    """The admin console's "register a client (JSON)" form, on the real server."""
    from tests.support.security import csrf_token

    admin, base = setup["admin"], setup["server"].base
    csrf = csrf_token(admin.get(f"{base}/admin/clients", timeout=10).text)
    return admin.post(f"{base}/admin/clients", timeout=10,
                      data={"metadata": json.dumps(metadata), "csrf_token": csrf})  # fmt: skip


def _activation_uri(setup, national_id: str = NATIONAL_ID) -> str:
    from tests.support.security import activation_uri

    return activation_uri(setup["admin"], setup["server"].base, national_id)


@pytest.mark.server
@pytest.mark.parametrize("host", INTERNAL_HOSTS)
@pytest.mark.parametrize("field", ["ciba", "backchannel_logout"])
def test_registration_refuses_internal_endpoints(outside_sandbox, field, host):
    from tests.support.ciba import CIBA_GRANT

    port = outside_sandbox["receiver"].server.server_address[1]
    url = f"https://{host}:{port}/cb"
    client_id = f"rp-{field}-" + "".join(c if c.isalnum() else "-" for c in host)
    metadata = {"client_id": client_id, "client_secret": CLIENT_SECRET,
                "token_endpoint_auth_method": "client_secret_basic"}  # fmt: skip
    if field == "ciba":
        metadata.update(grant_types=[CIBA_GRANT], backchannel_token_delivery_mode="ping",
                        backchannel_client_notification_endpoint=url)  # fmt: skip
    else:
        metadata.update(redirect_uris=["https://rp.example.org/cb"], backchannel_logout_uri=url)
    answer = _register_in_console(outside_sandbox, metadata)
    assert answer.status_code == 400, answer.text
    assert "non-public address" in answer.text or "cannot be resolved" in answer.text
    assert client_id not in outside_sandbox["server"].cli("clients", "list").stdout


@pytest.mark.server
def test_registration_refuses_the_plain_http_local_receiver(outside_sandbox):
    """What sandbox mode accepts (``http://127.0.0.1``) is refused outside it."""
    from tests.support.ciba import CIBA_GRANT

    answer = _register_in_console(outside_sandbox, {
        "client_id": "rp-ping-http", "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_basic", "grant_types": [CIBA_GRANT],
        "backchannel_token_delivery_mode": "ping",
        "backchannel_client_notification_endpoint": outside_sandbox["receiver"].url,
    })  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert "https" in answer.text


@pytest.mark.server
@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "[::ffff:10.0.0.1]"])
def test_a_device_webhook_to_an_internal_address_is_refused(outside_sandbox, host):
    from santeid.ecps.simulator import DeviceSimulator
    from santeid.ecps.simulator import ProtocolError

    with pytest.raises(ProtocolError) as refused:
        DeviceSimulator.enroll(_activation_uri(outside_sandbox), PIN,
                               webhook_url=f"https://{host}/relay")  # fmt: skip
    assert refused.value.code == "invalid_webhook_url"


@pytest.mark.server
def test_a_notification_endpoint_turned_internal_is_refused_at_delivery(outside_sandbox):
    """``rp-ping-loopback`` names the local receiver (registered in sandbox mode): the CIBA
    ping after the phone's approval is refused by the guard at delivery and never reaches the
    receiver, while the client still gets its tokens by polling."""
    import time

    import requests

    from santeid.ecps.simulator import DeviceSimulator
    from tests.support.ciba import CIBA_GRANT

    server, receiver = outside_sandbox["server"], outside_sandbox["receiver"]
    phone = DeviceSimulator.enroll(_activation_uri(outside_sandbox), PIN)
    auth = ("rp-ping-loopback", CLIENT_SECRET)
    params = {"scope": "openid scope_all", "login_hint": NATIONAL_ID, "binding_message": "42",
              "client_notification_token": "ping-token-0123456789"}  # fmt: skip
    started = requests.post(f"{server.oidc}/ext/ciba/auth", auth=auth, data=params, timeout=10)
    assert started.status_code == 200, started.text
    (item,) = phone.pending(wait=5)
    assert phone.approve(item["request_id"], PIN)["status"] == "approved"
    token = None
    for _ in range(50):
        token = requests.post(f"{server.oidc}/token", auth=auth, timeout=10,
                              data={"grant_type": CIBA_GRANT,
                                    "auth_req_id": started.json()["auth_req_id"]})  # fmt: skip
        if token.status_code == 200:
            break
        time.sleep(0.2)
    assert token.status_code == 200, token.text
    _wait_for_log(server, "CIBA ping to rp-ping-loopback", "refused by the SSRF guard")
    assert receiver.received == []


def _wait_for_log(server, *parts: str, seconds: float = 15) -> str:
    """The first line of the server's log holding every one of ``parts``, once written."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        for line in server.log.read_text().splitlines():
            if all(part in line for part in parts):
                return line
        assert time.monotonic() < deadline, (parts, server.log.read_text()[-3000:])
        time.sleep(0.2)


def _ciba(server, client_id: str, national_id: str, scope: str):
    """A CIBA request of ``client_id`` (ping or push) for ``national_id``."""
    import requests

    form = {"scope": scope, "login_hint": national_id, "binding_message": "42",
            "client_notification_token": "notification-token-0123456789"}  # fmt: skip
    return requests.post(f"{server.oidc}/ext/ciba/auth", data=form, timeout=10,
                         auth=(client_id, CLIENT_SECRET))  # fmt: skip


def _approved_on_a_phone(setup, client_id: str, national_id: str, scope: str) -> None:
    """A CIBA request of ``client_id`` for ``national_id``, approved on a phone activated for
    the occasion: its ping or push follows."""
    from santeid.ecps.simulator import DeviceSimulator

    phone = DeviceSimulator.enroll(_activation_uri(setup, national_id), PIN)
    started = _ciba(setup["server"], client_id, national_id, scope)
    assert started.status_code == 200, started.text
    (item,) = phone.pending(wait=5)
    assert phone.approve(item["request_id"], PIN)["status"] == "approved"


def _subscription(endpoint: str) -> dict:
    """A Push API subscription (``PushSubscription.toJSON()``) to ``endpoint`` with valid keys
    (RFC 8291 §3: a P-256 point and 16 bytes), so that only the endpoint can be refused."""
    import base64
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return {"endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}


#: Internal addresses a phone may name as its Web Push endpoint or webhook (the receiver's port
#: is added to the plain-HTTP one: a service that listens there).
INTERNAL_OUTGOING = [
    "https://127.0.0.1/push",
    "https://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:{port}/cb",
    "https://[::ffff:127.0.0.1]/push",
    "https://localhost/push",
    "http://localhost/push",
    "https://10.0.0.1/push",
    "https://private.lookup-probe.test/push",
]


@pytest.mark.server
def test_a_push_subscription_to_an_internal_endpoint_is_refused(outside_sandbox):
    """``POST /ecps/device/push`` (the e-CPS app's Web Push subscription): the endpoint is
    fetched by the server at each login request, so it passes the same guard."""
    import requests

    from santeid.ecps.simulator import DeviceSimulator
    from santeid.ecps.simulator import make_device_token

    server, receiver = outside_sandbox["server"], outside_sandbox["receiver"]
    phone = DeviceSimulator.enroll(_activation_uri(outside_sandbox, "810000000004"), PIN)
    url = f"{server.base}/ecps/device/push"

    def call(method: str, **kwargs):
        bearer = {"Authorization": f"Bearer {make_device_token(phone.device)}"}
        return requests.request(method, url, headers=bearer, timeout=10, **kwargs)

    port = receiver.server.server_address[1]
    for endpoint in (e.format(port=port) for e in INTERNAL_OUTGOING):
        refused = call("POST", json={"subscription": _subscription(endpoint), "lang": "fr"})
        assert refused.status_code == 400, (endpoint, refused.text)
        assert refused.json()["code"] == "invalid_request", refused.text
        assert "push endpoint is not allowed" in refused.json()["detail"]
        assert call("GET").json()["subscribed"] is False
    # The control: a public endpoint is kept.
    public = {"subscription": _subscription("https://public.lookup-probe.test/push")}
    accepted = call("POST", json=public)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["subscribed"] is True
    assert call("DELETE").json()["subscribed"] is False


@pytest.mark.server
def test_a_webhook_changed_to_an_internal_address_is_refused(outside_sandbox):
    """``POST /ecps/device/webhook`` from an enrolled phone: refused like at enrolment."""
    from santeid.ecps.simulator import DeviceSimulator
    from santeid.ecps.simulator import ProtocolError

    port = outside_sandbox["receiver"].server.server_address[1]
    phone = DeviceSimulator.enroll(_activation_uri(outside_sandbox, "810000000004"), PIN)
    for url in (e.format(port=port) for e in INTERNAL_OUTGOING):
        with pytest.raises(ProtocolError) as refused:
            phone.set_webhook(url)
        assert (refused.value.status, refused.value.code) == (400, "invalid_webhook_url"), url
        assert phone.me().get("webhook_url") is None
    # The control: a public host is accepted.
    accepted = phone.set_webhook("https://public.lookup-probe.test/relay")
    assert accepted["webhook_url"] == "https://public.lookup-probe.test/relay"
    phone.set_webhook(None)


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that counts the connections it accepts (and closes them)."""
    import contextlib
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[tuple] = []

    def accept():
        while True:
            try:
                connection, peer = server.accept()
            except OSError:  # closed
                return
            accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    with contextlib.suppress(OSError):
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
    server.close()
    thread.join(5)


@pytest.mark.server
def test_a_webhook_host_rebound_after_its_check_is_never_reached(outside_sandbox, listener):
    """DNS rebinding: two phones of one professional name webhook hosts that resolve to a
    public address when checked, then to 127.0.0.1, where a listener waits. ``rebind-1``
    turns to 127.0.0.1 after the check at registration: the check repeated at delivery
    refuses it. ``rebind-2`` turns after the delivery's own check: the delivery connects to
    the address it checked (the probe refuses that connection) and looks the name up no
    third time. The listener is never reached."""

    from santeid.ecps.simulator import DeviceSimulator
    from tests.support.lookup_probe import PUBLIC_ADDRESS
    from tests.support.lookup_probe import connections
    from tests.support.lookup_probe import looked_up

    port, accepted = listener
    server, lookups = outside_sandbox["server"], outside_sandbox["lookups"]
    national_id = "810000000003"
    hosts = ["rebind-1.lookup-probe.test", "rebind-2.lookup-probe.test"]
    phones = []
    for host in hosts:
        phone = DeviceSimulator.enroll(_activation_uri(outside_sandbox, national_id), PIN)
        phone.set_webhook(f"https://{host}:{port}/relay")  # checked: a public address
        phones.append(phone)
    assert [looked_up(lookups).count(host) for host in hosts] == [1, 1]

    # A request for the professional: both webhooks are delivered.
    started = _ciba(server, "rp-ping-loopback", national_id, "openid")
    assert started.status_code == 200, started.text
    # Each delivery ends in failure (logged): wait for both before judging.
    first, second = (_wait_for_log(server, f"webhook https://{host}", "failed") for host in hosts)
    assert accepted == []
    assert "non-public address (127.0.0.1)" in first  # refused by the delivery's check
    assert connections(lookups) == [f"{PUBLIC_ADDRESS}:{port}"]  # the checked address
    assert [looked_up(lookups).count(host) for host in hosts] == [2, 2]
    (item,) = phones[0].pending()
    phones[0].deny(item["request_id"], PIN)


@pytest.mark.server
def test_a_push_endpoint_turned_internal_mints_nothing(outside_sandbox):
    """``rp-push-loopback`` names the local receiver (registered in sandbox mode): after the
    phone's approval the push, which would carry the tokens, is refused by the guard before
    any token is minted — none counted issued for the client — and the receiver hears
    nothing."""
    import requests

    from tests.support.operations import metric_sum
    from tests.support.operations import parse_metrics

    server, receiver = outside_sandbox["server"], outside_sandbox["receiver"]
    _approved_on_a_phone(outside_sandbox, "rp-push-loopback", "810000000002", "openid scope_all")
    _wait_for_log(server, "CIBA push to rp-push-loopback", "refused by the SSRF guard")
    metrics = parse_metrics(requests.get(f"{server.base}/metrics", timeout=10).text)
    assert metric_sum(metrics, "santeid_tokens_issued_total", client="rp-push-loopback") == 0
    assert receiver.received == []


@pytest.mark.server
def test_an_internationalised_notification_host_is_checked_as_its_a_label(outside_sandbox):
    """A notification endpoint whose host is internationalised is resolved and checked as its
    IDNA2008 A-label, at registration and again at delivery, never as the Unicode name
    (which Python's resolver would turn into another domain by IDNA 2003, ``ß`` → ``ss``):
    a name that reaches a private address is refused; one that turns to 127.0.0.1 after its
    check (DNS rebinding) is refused at delivery; a host with no A-label is refused at
    registration, saying so."""
    import idna

    from tests.support.ciba import CIBA_GRANT
    from tests.support.lookup_probe import looked_up

    server, lookups = outside_sandbox["server"], outside_sandbox["lookups"]

    def register(client_id: str, host: str):
        return _register_in_console(outside_sandbox, {
            "client_id": client_id, "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_basic", "grant_types": [CIBA_GRANT],
            "backchannel_token_delivery_mode": "ping",
            "backchannel_client_notification_endpoint": f"https://{host}/cb",
        })  # fmt: skip

    def a_label(host: str) -> str:
        return idna.encode(host, uts46=True).decode()

    private = "intérieur.lookup-probe.test"
    refused = register("rp-idn-private", private)
    assert refused.status_code == 400 and "non-public address (10.0.0.1)" in refused.text
    no_a_label = register("rp-idn-invalid", "public.☃.lookup-probe.test")
    assert no_a_label.status_code == 400
    assert "not a valid internationalised domain name" in no_a_label.text
    rebound = "rebind-1.straße.lookup-probe.test"
    accepted = register("rp-idn-rebound", rebound)  # its first lookup: a public address
    assert accepted.status_code in (200, 303), accepted.text
    assert "rp-idn-rebound" in server.cli("clients", "list").stdout

    _approved_on_a_phone(outside_sandbox, "rp-idn-rebound", "810000000006", "openid")
    line = _wait_for_log(server, "CIBA ping to rp-idn-rebound", "refused by the SSRF guard")
    assert "non-public address (127.0.0.1)" in line
    names = looked_up(lookups)
    assert a_label(rebound) == "rebind-1.xn--strae-oqa.lookup-probe.test"
    assert (names.count(a_label(private)), names.count(a_label(rebound))) == (1, 2)
    assert not [name for name in names if not name.isascii()], names

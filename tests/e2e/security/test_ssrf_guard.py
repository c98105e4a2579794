"""The SSRF guard of webhooks and CIBA notifications (santeid.ecps.webhooks) judges an IPv6
address that reaches an IPv4 one by that IPv4 address: NAT64 (RFC 6052), 6to4 (RFC 3056),
IPv4-compatible and IPv4-mapped (RFC 4291 §2.5.5) forms of loopback, private or link-local
addresses are refused like the addresses themselves (in-process, below).

Then against a real ``santeid serve`` outside sandbox mode: the admin console refuses to
register a CIBA notification endpoint or a back-channel logout URI at such an address, the
device API a webhook; a ping endpoint that names a local receiver (registered while the folder
was in sandbox mode) is refused at delivery, and the receiver hears nothing."""

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
    from tests.support.security import admin_signed_in
    from tests.support.servers import santeid_home
    from tests.support.servers import santeid_process

    home = tmp_path_factory.mktemp("ssrf-outside-sandbox")
    with Receiver([204]) as receiver:
        # Set up while the folder is in sandbox mode, which accepts the local receiver.
        sandboxed = santeid_home(home)
        sandboxed.cli("directory", "seed-demo")
        sandboxed.register(
            "rp-ping-loopback",
            client_secret=CLIENT_SECRET,
            grant_types=[CIBA_GRANT],
            token_endpoint_auth_method="client_secret_basic",
            backchannel_token_delivery_mode="ping",
            backchannel_client_notification_endpoint=receiver.url,
        )
        with santeid_process(
            home,
            sandbox=False,
            SANTEID_STORE_URL="memory://",
            SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
        ) as server:
            admin = admin_signed_in(server.base, ADMIN_PASSWORD)
            yield {"server": server, "receiver": receiver, "admin": admin}


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
    deadline = time.monotonic() + 10
    while "refused by the SSRF guard" not in server.log.read_text():
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)
    assert receiver.received == []

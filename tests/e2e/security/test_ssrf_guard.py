"""The SSRF guard of webhooks and CIBA notifications (santeid.ecps.webhooks) judges an IPv6
address that reaches an IPv4 one by that IPv4 address: NAT64 (RFC 6052), 6to4 (RFC 3056),
IPv4-compatible and IPv4-mapped (RFC 4291 §2.5.5) forms of loopback, private or link-local
addresses are refused like the addresses themselves."""

from __future__ import annotations

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

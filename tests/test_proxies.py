"""Which address each part of santeid reads: the connection's (``REMOTE_ADDR``, the proxy's
behind a reverse proxy) only where a peer is judged, the client's
(``santeid.proxies.client_address``) everywhere else (docs/security.md "The client's address
behind a proxy")."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

PACKAGE = ROOT / "src" / "santeid"

#: The modules that read the connection's address, and why it is the peer there.
PEER_READERS = {
    # The rule itself: REMOTE_ADDR restored to the peer, the forwarded client kept aside.
    "proxies.py",
    # Whether the certificate header comes from a trusted proxy; the TLS connection's peer.
    "tls.py",
    # INSi: the certificate header's trust, and whether the request came over santeid's own TLS.
    "insi/soap/authentication.py",
    "insi/problems.py",
    # The servers set REMOTE_ADDR from the socket, and bound connections per peer before any
    # header is read (trusted proxies exempt).
    "serving.py",
}


def test_only_the_peer_checks_read_the_connection_s_address():
    readers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"remote_addr|REMOTE_ADDR", path.read_text(encoding="utf-8"))
    }
    strays = sorted(readers - PEER_READERS)
    assert strays == [], (
        f"{strays} read the connection's address, the proxy's behind a reverse proxy: a limit, "
        "allow-list or record about a client takes santeid.proxies.client_address"
    )

"""``[http]``: how santeid meets HTTP clients and the proxies in front of it — reverse
proxies, forwarded client certificates, slow clients, request limits (santeid.serving,
santeid.proxies, santeid.security, docs/security.md)."""

from __future__ import annotations

from pydantic import NonNegativeInt
from pydantic import PositiveInt

from santeid.settings.base import FractionalSeconds
from santeid.settings.base import SecondsOrZero
from santeid.settings.base import Section


class HttpSettings(Section):
    #: Comma-separated addresses or CIDR ranges of the reverse proxies in front.
    trusted_proxies: str = ""
    #: Proxies in front that append to ``X-Forwarded-*`` (applied only when the peer is one
    #: of ``trusted_proxies``; the rightmost ``proxy_hops`` values are believed).
    proxy_hops: PositiveInt = 1
    #: Header in which a TLS-terminating proxy forwards the verified client certificate
    #: (URL-encoded PEM); honoured only from ``trusted_proxies``.
    tls_client_cert_header: str = ""
    #: Seconds a client has to send its request line and headers, then its body; the server
    #: closes the connection after that (408), before any application code runs.
    request_header_timeout: FractionalSeconds = 10.0
    request_body_timeout: FractionalSeconds = 10.0
    #: Connections one client address may hold open at once per server process (0 = no
    #: limit); trusted proxies are exempt.
    max_connections_per_address: NonNegativeInt = 32
    #: ``Strict-Transport-Security`` max-age on HTTPS responses (0 = not sent).
    hsts_max_age: SecondsOrZero = 31536000
    #: Requests whose parameters exceed this many bytes are refused with 400.
    max_parameter_length: PositiveInt = 4096

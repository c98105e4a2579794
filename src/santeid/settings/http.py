"""``[http]``: how santeid meets HTTP clients and the proxies in front of it — reverse
proxies, forwarded client certificates, slow clients, request limits (santeid.serving,
santeid.proxies, santeid.security, docs/security.md)."""

from __future__ import annotations

import re

from pydantic import field_validator

from santeid.settings.base import Count
from santeid.settings.base import CountOrZero
from santeid.settings.base import FractionalSeconds
from santeid.settings.base import SecondsOrZero
from santeid.settings.base import Section

#: A header name: an RFC 9110 token (§5.1, §5.6.2 ``tchar``,
#: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^`|~0-9A-Za-z_-]+")


class HttpSettings(Section):
    #: Comma-separated addresses or CIDR ranges of the reverse proxies in front.
    trusted_proxies: str = ""
    #: Proxies in front that append to ``X-Forwarded-*`` (applied only when the peer is one
    #: of ``trusted_proxies``; the rightmost ``proxy_hops`` values are believed).
    proxy_hops: Count = 1
    #: Header in which a TLS-terminating proxy forwards the verified client certificate
    #: (URL-encoded PEM); honoured only from ``trusted_proxies``.
    tls_client_cert_header: str = ""
    #: Seconds a client has to send its request line and headers, then its body; the server
    #: closes the connection after that (408), before any application code runs.
    request_header_timeout: FractionalSeconds = 10.0
    request_body_timeout: FractionalSeconds = 10.0
    #: Connections one client address may hold open at once per server process (0 = no
    #: limit); trusted proxies are exempt.
    max_connections_per_address: CountOrZero = 32
    #: ``Strict-Transport-Security`` max-age on HTTPS responses (0 = not sent).
    hsts_max_age: SecondsOrZero = 31536000
    #: Requests whose parameters exceed this many bytes are refused with 400.
    max_parameter_length: Count = 4096
    #: The same bound for the parameters that carry a JWT another party signs
    #: (``santeid.security.JWT_PARAMETERS``): Keycloak's token-parameter limit; never below
    #: ``max_parameter_length``.
    max_jwt_parameter_length: Count = 20000

    @field_validator("tls_client_cert_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        name = value.strip()
        if name and not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{value!r} is not a header name (e.g. X-SSL-Client-Cert)")
        if "_" in name:
            # Every server layout drops such a header before santeid sees it
            # (santeid.serving, docs/cps-card.md): a proxy sending it would never be heard,
            # and every card would be "no certificate".
            raise ValueError(
                f"{value!r} holds an underscore, and santeid never reads a header whose name "
                f"does: name it {name.replace('_', '-')!r} and have the proxy send that name"
            )
        return name

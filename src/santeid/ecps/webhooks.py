"""Webhooks: "a request is waiting for you" pushed to a device's relay.

A device may register a ``webhook_url`` (typically its push-notification relay). When a
request is created for the professional, santeid POSTs ``{"request_id": "…"}`` to each of
their active devices' URLs. The body is only a wake-up hint: it carries nothing a device could
not read from the authenticated ``GET /ecps/device/requests``, so the webhook needs no secret.

The URL is chosen by whoever holds the device, so fetching it is a server-side request forgery
risk (OWASP SSRF Prevention Cheat Sheet). The guard:

* ``https`` only, no credentials in the URL;
* only the characters a URL can hold (RFC 3986 §2,
  https://www.rfc-editor.org/rfc/rfc3986#section-2): no control character (NUL included),
  space, DEL or ``"<>\\^`{|}``; past ASCII (an internationalised host name, RFC 3987), no
  control, format or separator character nor lone surrogate;
* an internationalised host name (RFC 3987) is turned into its A-label once, by
  :func:`ascii_host` (IDNA2008 with the UTS #46 mapping, as browsers and registries do:
  ``exämple.fr`` is ``xn--exmple-cua.fr``), and that name is the one resolved, checked, and
  named to the server (TLS SNI and certificate check, ``Host``); a host that has no A-label is
  refused, saying why;
* every address the host resolves to must be globally routable — loopback, private
  (RFC 1918, RFC 4193), link-local (cloud metadata at 169.254.169.254), CGNAT, multicast,
  reserved, and the IPv6 forms that reach an IPv4 address (IPv4-mapped, IPv4-compatible,
  NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by that IPv4 address;
* the check is repeated at delivery and the connection goes to the address that was checked
  (no second DNS lookup: defeats DNS rebinding), with TLS still verifying the host name;
* no redirects are followed (``http.client`` never follows them), 5-second timeout;
* in sandbox mode only, ``http``/``https`` to ``127.0.0.1``, ``localhost`` or ``[::1]`` is
  also allowed, for the simulator and local tests.

Deliveries run on a small thread pool: creating a request never waits for a webhook, and a
failure is only logged.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode
from urllib.parse import urlsplit

import idna

log = logging.getLogger(__name__)

#: Seconds for connecting and for the answer.
TIMEOUT = 5.0
#: Longest URL accepted.
MAX_URL_LENGTH = 2048
#: Host names that mean "this machine", allowed in sandbox mode only.
SANDBOX_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Added to the refusal of a plain ``http`` URL on this machine outside sandbox mode: the
#: sandbox exception is the likely thing its author was counting on.
SANDBOX_ONLY_HINT = "(http://127.0.0.1 and http://localhost are accepted in sandbox mode only)"


class WebhookRefused(ValueError):
    """The URL may not be used as a webhook; the message says why."""


#: What RFC 3986 lets a URL hold besides ASCII letters and digits: the unreserved (§2.3) and
#: reserved (§2.2) characters, and ``%`` of percent-encoding (§2.1).
URL_PUNCTUATION = frozenset("-._~:/?#[]@!$&'()*+,;=%")
#: Unicode categories refused past ASCII: controls (C1), format characters (bidirectional
#: overrides, zero-width), lone surrogates and separators (RFC 3987 §2.2 ``ucschar`` and §4.1).
UNFIT_CATEGORIES = ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")


def unfit_character(url: str) -> str | None:
    """The first character of ``url`` that no URL can hold, if any (see :data:`URL_PUNCTUATION`
    and :data:`UNFIT_CATEGORIES`)."""
    for character in url:
        if character.isascii():
            if not (character.isalnum() or character in URL_PUNCTUATION):
                return character
        elif unicodedata.category(character) in UNFIT_CATEGORIES:
            return character
    return None


#: NAT64 well-known prefix (RFC 6052 §2.1): ``64:ff9b::a.b.c.d`` reaches IPv4 ``a.b.c.d``.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches, if it is a transition form: IPv4-mapped
    ``::ffff:a.b.c.d`` (RFC 4291 §2.5.5.2), IPv4-compatible ``::a.b.c.d`` (RFC 4291 §2.5.5.1,
    deprecated but still routed by some stacks), NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052) and
    6to4 ``2002:AABB:CCDD::/48`` (RFC 3056 §2)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX or (int(ip) >> 32 == 0 and int(ip) > 1):  # not :: nor ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _check_address(address: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        # Judged by the IPv4 address it reaches: 64:ff9b::7f00:1 is 127.0.0.1.
        ip = embedded_ipv4(ip) or ip
    # ``is_global`` is False for loopback, RFC 1918, link-local, CGNAT (100.64/10), ULA,
    # documentation and reserved ranges; multicast is excluded separately.
    if not ip.is_global or ip.is_multicast:
        raise WebhookRefused(f"the host resolves to a non-public address ({ip})")


def ascii_host(host: str) -> str:
    """The name a connection to ``host`` uses: ``host`` itself when it is ASCII (a name, an
    IP address, an A-label ``xn--…`` as written), else its A-label by IDNA2008 (RFC 5891)
    with the UTS #46 mapping, non-transitional (https://www.unicode.org/reports/tr46/): what
    browsers and domain registries resolve, where Python's own ``idna`` codec (IDNA 2003,
    used by ``socket`` and ``ssl`` for a non-ASCII name) would reach another domain
    (``faß.de`` → ``fass.de`` instead of ``xn--fa-hia.de``).

    :raises WebhookRefused: ``host`` is no valid internationalised domain name.
    """
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError and its kinds
        raise WebhookRefused(
            f"the host {host!r} is not a valid internationalised domain name "
            f"(IDNA2008, RFC 5891: {exc}); write it as its A-label (xn--…)"
        ) from None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused(f"the host {host!r} cannot be resolved ({exc})") from None
    # SOCK_STREAM over IPv4/IPv6: the first item of every address is its text form.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookRefused(f"the host {host!r} has no address")
    return addresses


def check_webhook_url(url: object, *, sandbox: bool) -> tuple[str, str, int, list[str]]:
    """Validate ``url``; return ``(scheme, host, port, addresses to connect to)``, ``host``
    in ASCII (:func:`ascii_host`): the name :func:`deliver` gives the server.

    :raises WebhookRefused: the URL is malformed or points at a forbidden address.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise WebhookRefused("the webhook URL must be a string of at most 2048 characters")
    unfit = unfit_character(url)
    if unfit is not None:
        # Checked first: such a URL is never stored (PostgreSQL holds no NUL) nor resolved.
        raise WebhookRefused(
            f"malformed URL (U+{ord(unfit):04X} cannot appear in a URL, RFC 3986 §2)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"malformed URL ({exc})") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookRefused("the webhook URL must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("the webhook URL must not carry credentials")
    if parts.fragment:
        raise WebhookRefused("the webhook URL must not carry a fragment")
    port = port or (443 if parts.scheme == "https" else 80)
    # From here on, the one name resolved, checked and connected to.
    host = ascii_host(host)
    if sandbox and host in SANDBOX_LOCAL_HOSTS:
        # Sandbox convenience: a receiver on this machine (simulator, tests). The name is
        # not resolved: "localhost" is pinned to the loopback address.
        return parts.scheme, host, port, ["::1" if host == "::1" else "127.0.0.1"]
    if parts.scheme != "https":
        hint = f" {SANDBOX_ONLY_HINT}" if host in SANDBOX_LOCAL_HOSTS else ""
        raise WebhookRefused(f"the webhook URL must use https{hint}")
    addresses = _resolve(host, port)
    for address in addresses:
        _check_address(address)
    return parts.scheme, host, port, addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls_context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls_context)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # server_hostname: SNI and certificate verification against the URL's host name.
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


def deliver(
    url: str,
    payload: dict | bytes,
    *,
    sandbox: bool,
    timeout: float = TIMEOUT,
    headers: dict[str, str] | None = None,
    user_agent: str = "santeid-ecps-webhook",
    form: bool = False,
) -> int:
    """POST ``payload`` as JSON (or, with ``form``, as ``application/x-www-form-urlencoded``;
    ``bytes`` as they are: the Web Push messages of ``push.py``, whose ``headers`` name their
    type) to ``url`` after :func:`check_webhook_url`, connecting to the address it checked;
    return the HTTP status. No redirect is followed (``http.client`` follows none). Raises
    :class:`WebhookRefused` on refusal, ``OSError`` or ``http.client.HTTPException`` on
    network errors (the caller logs them). Also the transport of the CIBA ping and push
    deliveries (``santeid.ciba.delivery``) and of back-channel logout
    (``santeid.oidc.backchannel_logout``)."""
    scheme, host, port, addresses = check_webhook_url(url, sandbox=sandbox)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, addresses[0], timeout)
    try:
        if isinstance(payload, bytes):
            body, content_type = payload, "application/octet-stream"
        elif form:
            body = urlencode(payload).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload).encode()
            content_type = "application/json"
        connection.request(
            "POST",
            target,
            body=body,
            headers={
                "Content-Type": content_type,
                "User-Agent": user_agent,
                **(headers or {}),
            },
        )
        response = connection.getresponse()
        # The body is ignored (CIBA Core §10.2 too): drain a little so the connection closes
        # cleanly.
        response.read(65536)
        return response.status
    finally:
        connection.close()


class WebhookNotifier:
    """Sends webhooks on a thread pool; :meth:`notify` never blocks and never raises."""

    def __init__(self, *, sandbox: bool, max_workers: int = 4, timeout: float = TIMEOUT) -> None:
        self.sandbox = sandbox
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="webhook")

    def notify(self, urls: Iterable[str], request_id: str) -> None:
        for url in urls:
            try:
                self._executor.submit(self._send, url, request_id)
            except RuntimeError:  # the pool is shut down (interpreter exit)
                log.warning("webhook for request %s not sent: shutting down", request_id)

    def _send(self, url: str, request_id: str) -> None:
        try:
            status = deliver(
                url, {"request_id": request_id}, sandbox=self.sandbox, timeout=self.timeout
            )
        except Exception as exc:  # noqa: BLE001 — a webhook must never break anything
            log.warning("webhook %s for request %s failed: %s", _shown(url), request_id, exc)
            return
        if not 200 <= status < 300:
            log.warning("webhook %s for request %s answered %s", _shown(url), request_id, status)

    def shutdown(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


def _shown(url: str) -> str:
    """The URL without its query (which may hold a relay token) for the logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

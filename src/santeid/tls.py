"""TLS with optional client certificates: the server side of mutual TLS (RFC 8446 §4.3.2,
RFC 5246 §7.4.4), and the client certificate of the current request.

Pro Santé Connect authenticates CPS cards (docs/reference/pro-sante-connect.md §11, §13) and machine
clients (docs/reference/pro-sante-connect.md §3)
with IGC-Santé certificates presented in the TLS handshake; INSi does the same for
establishment certificates ``INSI-AUTO`` / ``INSI-MANU`` (docs/reference/insi-teleservice.md §7).
santeid sees the
certificate either way:

* **direct TLS** (``santeid serve --tls-cert … --tls-key … --client-ca …``): the server
  *requests* a certificate, but does not require one (``CERT_OPTIONAL``), so pages that need
  none keep working; a certificate that does not chain to ``--client-ca`` fails the handshake.
  :func:`client_certificate` reads it from the connection (Werkzeug's ``werkzeug.socket``,
  gunicorn's ``gunicorn.socket``).
* **behind a TLS-terminating proxy** (nginx, HAProxy): the proxy forwards the certificate in
  the ``tls_client_cert_header`` header (nginx ``$ssl_client_escaped_cert``: URL-encoded PEM).
  The header is believed only from ``trusted_proxies``; from anywhere else it is ignored and
  logged, since anyone can send a header.

The certificate returned is *presented*, not *trusted*: callers verify it against their own
authorities (``santeid.cps.cards.verify_card_certificate`` for cards,
``santeid.insi.auth.certificate_context`` for INSi establishments,
``santeid.oidc.tls_client_auth`` for OAuth clients).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import logging
import ssl
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from flask import request

from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.pki import certificate_name
from santeid.settings import ConfigurationError
from santeid.settings import Settings

__all__ = [
    "client_certificate",
    "is_trusted_proxy",
    "parse_forwarded_certificate",
    "parse_trusted_proxies",
    "peer_certificate_der",
    "server_ssl_context",
]

log = logging.getLogger(__name__)

#: WSGI environ keys under which servers expose the client connection.
SOCKET_ENVIRON_KEYS = ("werkzeug.socket", "gunicorn.socket")

#: Header values meaning "no certificate" (nginx sends an empty value; some proxies a dash).
_NO_CERTIFICATE = ("", "-", "(null)")

_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"


class _ServerContext(ssl.SSLContext):
    """The contexts :func:`server_ssl_context` makes: an ``ssl.SSLContext`` that also carries
    the issuers whose certificates' validity period the application checks itself."""

    #: See ``period_checked_by_app`` of :func:`server_ssl_context`.
    period_checked_by_app: tuple[x509.Name, ...] = ()


class _DeferredHandshakeContext(_ServerContext):
    """Sockets it wraps do not handshake on ``accept()``: the handshake happens on the first
    read, in the thread serving the connection. Werkzeug's server accepts connections in one
    thread; a handshake there would stall every client while one browser waits for its
    card's PIN (the middleware asks for it during the handshake)."""

    def wrap_socket(self, sock, *args, **kwargs):
        kwargs["do_handshake_on_connect"] = False
        if len(args) > 1:  # (server_side, do_handshake_on_connect, …) given positionally
            args = (args[0], False, *args[2:])
        return super().wrap_socket(sock, *args, **kwargs)


#: OpenSSL's ``X509_V_FLAG_NO_CHECK_TIME`` (x509_vfy.h; not named by the ssl module): the chain
#: is verified without comparing its validity periods to the clock.
_X509_V_FLAG_NO_CHECK_TIME = 0x200000


class _PeriodCheckingSocket(ssl.SSLSocket):
    """With the handshake's time check off: on the first read (the handshake is then done), a
    client certificate outside its validity period whose issuer is not one of
    ``period_checked_by_app`` ends the connection, as the handshake would have refused it."""

    _period_checked = False

    def _check_period(self) -> None:
        if not self._period_checked:
            self._period_checked = True
            if not _period_acceptable(self.getpeercert(binary_form=True), self.context):
                self.close()
                raise ConnectionResetError("client certificate outside its validity period")

    # Werkzeug reads through recv_into, gunicorn through recv; both after the handshake. A
    # read that returns nothing is the end of the connection, which may come before the
    # handshake is done (a client gone, or cut off by the deadlines of santeid.serving): there
    # is no certificate to check then, and none is asked for (getpeercert would raise).
    def recv_into(self, buffer, nbytes=0, flags=0):
        received = super().recv_into(buffer, nbytes, flags)
        if received:
            self._check_period()
        return received

    def recv(self, buflen=1024, flags=0):
        received = super().recv(buflen, flags)
        if received:
            self._check_period()
        return received


def _period_acceptable(der: bytes | None, context) -> bool:
    if der is None:
        return True
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        # OpenSSL read it, cryptography cannot (an IA5String holding Latin-1, say): the
        # application cannot either (client_certificate: no certificate), so it authenticates
        # nothing whatever its period. The connection goes on, as outside sandbox mode.
        return True
    issuer = certificate_name(certificate, "issuer")
    if issuer is not None and issuer in getattr(context, "period_checked_by_app", ()):
        return True
    # The TLS handshake happens before any request reaches the application and its clock.
    now = utc_datetime(system_clock)
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def server_ssl_context(
    cert: Path | str,
    key: Path | str,
    client_ca: Path | str | Sequence[Path | str] | None = None,
    *,
    defer_handshake: bool = True,
    period_checked_by_app: Sequence[x509.Name] | None = None,
) -> ssl.SSLContext:
    """A server context: TLS 1.2 or later, ``cert``/``key`` as the server's credentials and,
    with ``client_ca``, a client certificate **requested but optional**
    (``ssl.CERT_OPTIONAL``): a client may present none, but one it presents must chain to a
    certificate of ``client_ca`` (a PEM bundle, or several; an intermediate authority counts,
    its root need not be there) or the handshake fails (``unknown_ca``).

    With ``defer_handshake`` (the default), sockets wrapped by this context handshake on
    their first read rather than inside ``accept()`` (see :class:`_DeferredHandshakeContext`).

    ``period_checked_by_app`` (sandbox mode: the CPS card authorities) lets a certificate
    of these issuers outside its validity period through, so that the application explains it
    (an expired test card gets the card page's ``expired`` explanation, docs/cps-card.md)
    instead of a killed handshake; ``verify_card_certificate`` checks the period. Any other
    certificate outside its period still never reaches the application: the connection ends
    on its first read, right after the handshake (:class:`_PeriodCheckingSocket`).
    """
    context_class = _DeferredHandshakeContext if defer_handshake else _ServerContext
    context = context_class(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load the TLS certificate {cert} with key {key}: {exc}"
        ) from None
    authorities = [client_ca] if isinstance(client_ca, str | Path) else list(client_ca or ())
    for authority in authorities:
        try:
            context.load_verify_locations(cafile=str(authority))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load the client CA file {authority}: {exc}") from None
    if authorities:
        context.verify_mode = ssl.CERT_OPTIONAL
        # A certificate of ``client_ca`` is a trust anchor whether or not it is a root: cards
        # are signed by an issuing authority ("AC IGC-SANTE FORT PERSONNES") which is what
        # ``cps_ca_file`` holds, without its root (docs/cps-card.md, "Production"), as
        # santeid's own check wants a card signed directly by a certificate of the bundle.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if period_checked_by_app:
            context.verify_flags |= _X509_V_FLAG_NO_CHECK_TIME
            context.sslsocket_class = _PeriodCheckingSocket
            context.period_checked_by_app = tuple(period_checked_by_app)
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


def peer_certificate_der(environ: Mapping[str, Any]) -> bytes | None:
    """DER bytes of the certificate the client presented on this TLS connection, if any."""
    for name in SOCKET_ENVIRON_KEYS:
        getpeercert = getattr(environ.get(name), "getpeercert", None)
        if getpeercert is None:
            continue  # absent, or a plain-TCP socket
        try:
            der = getpeercert(binary_form=True)
        except ValueError:  # handshake not finished
            return None
        if der:
            return der
    return None


@functools.lru_cache(maxsize=16)
def parse_trusted_proxies(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``trusted_proxies``: comma- (or space-) separated addresses and CIDR ranges."""
    networks = []
    for item in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"trusted_proxies: {item!r} is not an IP address or CIDR range "
                "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
            ) from None
    return tuple(networks)


def is_trusted_proxy(address: str | None, trusted_proxies: str) -> bool:
    """Whether ``address`` (``request.remote_addr``) is one of ``trusted_proxies``."""
    if not address or not trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    networks = parse_trusted_proxies(trusted_proxies)
    return any(c in n for c in candidates for n in networks if c.version == n.version)


def parse_forwarded_certificate(value: str) -> x509.Certificate:
    """The certificate in a proxy header: URL-encoded PEM (nginx ``$ssl_client_escaped_cert``),
    plain PEM (line breaks possibly turned into spaces or tabs), or base64 DER (HAProxy
    ``%[ssl_c_der,base64]``; Traefik's ``X-Forwarded-Tls-Client-Cert``, which holds every
    certificate the client sent, separated by commas, possibly URL-encoded). Of several
    certificates, the first is the client's own: a TLS client sends its own certificate
    first, then the authorities it chains to (RFC 8446 §4.4.2,
    https://www.rfc-editor.org/rfc/rfc8446#section-4.4.2; RFC 5246 §7.4.6).
    Raises ``ValueError`` if it is none of these."""
    text = unquote(value.strip())
    if _PEM_BEGIN in text:
        body = text.split(_PEM_BEGIN, 1)[1].split(_PEM_END, 1)[0]
    else:
        # Traefik: "<leaf>,<authority>,…" (the PEM bodies of the chain, joined by commas).
        body = text.split(",", 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    return x509.load_der_x509_certificate(der)


def log_ignored_header(header: str, remote: str | None) -> None:
    """Warn that the certificate header came from an address outside ``trusted_proxies``
    (docs/configuration.md, "Behind a reverse proxy"): a proxy left out of the list sees every
    forwarded certificate refused, and this line says why."""
    log.warning("%s header from %s ignored: that address is not in trusted_proxies", header, remote)


def client_certificate(settings: Settings | None = None) -> x509.Certificate | None:
    """The client certificate of the current Flask request, or ``None``.

    From a trusted proxy (``request.remote_addr`` in ``trusted_proxies``) with
    ``tls_client_cert_header`` set, the header is authoritative; otherwise the certificate of
    the TLS connection itself. A certificate header from any other address is ignored and
    logged. ``settings`` defaults to the app's (``santeid.services``).
    """
    if settings is None:
        from santeid.services import services

        settings = services().settings
    header = settings.http.tls_client_cert_header
    if header:
        remote = request.remote_addr
        value = request.headers.get(header)
        if is_trusted_proxy(remote, settings.http.trusted_proxies):
            if value is None or value.strip() in _NO_CERTIFICATE:
                return None
            try:
                return parse_forwarded_certificate(value)
            except ValueError:
                log.warning("unreadable certificate in %s from proxy %s: ignored", header, remote)
                return None
        if value is not None:
            log_ignored_header(header, remote)
    der = peer_certificate_der(request.environ)
    if der is None:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:  # the TLS stack accepted it, so this should not happen
        log.warning(
            "unreadable client certificate on the TLS connection from %s", request.remote_addr
        )
        return None

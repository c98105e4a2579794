"""``santeid.tls`` pieces: proxy headers, trusted addresses, the server context."""

from __future__ import annotations

import base64
import socket
import ssl
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization

from santeid.pki import TestAuthority
from santeid.pki import certificate_pem
from santeid.pki import issue_server_certificate
from santeid.pki import load_certificates
from santeid.pki import subject_name
from santeid.pki import write_credentials
from santeid.settings import ConfigurationError
from santeid.tls import is_trusted_proxy
from santeid.tls import parse_forwarded_certificate
from santeid.tls import parse_trusted_proxies
from santeid.tls import peer_certificate_der
from santeid.tls import server_ssl_context


@pytest.fixture(scope="module")
def server_files(tmp_path_factory):
    home = tmp_path_factory.mktemp("tls")
    ca = TestAuthority.load_or_create(home, "ca", common_name="TEST", key_type="ec-p256")
    cert, key = issue_server_certificate(ca)
    return write_credentials(home / "server", cert, key, ca), cert


def test_forwarded_certificate_in_every_proxy_format(server_files):
    _, cert = server_files
    pem = certificate_pem(cert).decode()
    der = cert.public_bytes(serialization.Encoding.DER)
    forms = {
        "nginx $ssl_client_escaped_cert": quote(pem, safe=""),
        "nginx, '/' and '+' left alone": quote(pem, safe="/+="),
        "plain PEM": pem,
        "PEM on one line (spaces)": pem.replace("\n", " "),
        "PEM with tabs (old $ssl_client_cert)": pem.replace("\n", "\n\t"),
        "HAProxy ssl_c_der,base64": base64.b64encode(der).decode(),
    }
    for label, value in forms.items():
        assert parse_forwarded_certificate(value) == cert, label


def test_of_a_forwarded_chain_the_client_s_own_certificate_is_read(server_files):
    """Traefik's ``X-Forwarded-Tls-Client-Cert``: every certificate the client sent (its own
    first, RFC 8446 §4.4.2), their PEM bodies on one line, joined by commas; URL-encoded by
    Traefik v2."""
    files, cert = server_files
    authority = load_certificates(files["ca"])[0]
    bodies = [
        "".join(certificate_pem(certificate).decode().splitlines()[1:-1])
        for certificate in (cert, authority)
    ]
    chain = ",".join(bodies)
    for value in (chain, quote(chain, safe="")):
        assert parse_forwarded_certificate(value) == cert


@pytest.mark.parametrize("value", ["", "garbage!", "QUJD", "-----BEGIN CERTIFICATE-----x"])
def test_unreadable_forwarded_certificate(value):
    with pytest.raises(ValueError):
        parse_forwarded_certificate(value)


def test_trusted_proxies_accept_addresses_and_ranges():
    trusted = "127.0.0.1, 10.0.0.0/8 2001:db8::/32"
    assert is_trusted_proxy("127.0.0.1", trusted)
    assert is_trusted_proxy("10.20.30.40", trusted)
    assert is_trusted_proxy("2001:db8::5", trusted)
    assert is_trusted_proxy("::ffff:10.1.2.3", trusted)  # IPv4-mapped, dual-stack sockets
    assert not is_trusted_proxy("127.0.0.2", trusted)
    assert not is_trusted_proxy("192.168.1.1", trusted)
    assert not is_trusted_proxy(None, trusted)
    assert not is_trusted_proxy("not-an-ip", trusted)
    assert not is_trusted_proxy("127.0.0.1", "")
    assert len(parse_trusted_proxies(trusted)) == 3
    with pytest.raises(ConfigurationError, match="proxy.local"):
        parse_trusted_proxies("10.0.0.1, proxy.local")


def test_server_context_requests_an_optional_client_certificate(server_files):
    files, _ = server_files
    context = server_ssl_context(files["cert"], files["key"], files["ca"])
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert context.get_ca_certs()  # the client authorities are loaded
    plain = server_ssl_context(files["cert"], files["key"])
    assert plain.verify_mode == ssl.CERT_NONE
    with pytest.raises(ConfigurationError, match="TLS certificate"):
        server_ssl_context(files["ca"], files["key"])  # key does not match
    with pytest.raises(ConfigurationError, match="client CA"):
        server_ssl_context(files["cert"], files["key"], files["key"])


def test_peer_certificate_of_plain_and_tls_sockets():
    class Plain:  # a TCP socket: no getpeercert
        pass

    class Handshaking:
        def getpeercert(self, binary_form=False):
            raise ValueError("handshake not done")

    class Anonymous:
        def getpeercert(self, binary_form=False):
            return None

    assert peer_certificate_der({}) is None
    assert peer_certificate_der({"werkzeug.socket": Plain()}) is None
    assert peer_certificate_der({"gunicorn.socket": Handshaking()}) is None
    assert peer_certificate_der({"werkzeug.socket": Anonymous()}) is None


@pytest.mark.parametrize("read", ["recv_into", "recv"])  # Werkzeug's, gunicorn's
def test_a_connection_ended_before_its_handshake_reads_as_ended(server_files, read):
    """With the validity period checked after the handshake: a client that leaves (or is cut
    off by the header deadline, santeid.serving) before the end of the deferred handshake is
    an ended connection for the thread reading it, not an error in the server's log."""
    files, _ = server_files
    context = server_ssl_context(
        files["cert"],
        files["key"],
        files["ca"],
        period_checked_by_app=[subject_name(common_name="TEST AC CARTES")],
    )
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        client.close()
        with context.wrap_socket(accepted, server_side=True) as server:
            received = server.recv_into(bytearray(16)) if read == "recv_into" else server.recv(16)
    assert not received

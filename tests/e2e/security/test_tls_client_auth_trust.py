"""``tls_client_auth`` (RFC 8705 §2.1) trusts ``tls_client_auth_ca_file`` only, whatever the
transport (docs/endpoints.md, "mTLS"; docs/security.md, "Certificate-authenticated clients").

Against a real ``santeid serve`` outside sandbox mode, a certificate carrying a registered
client's subject DN but not issued by an authority of that file, or not issued for client
authentication, gets no token (``invalid_client``):

* behind docs/cps-card.md's nginx block (``ssl_verify_client optional_no_ca``: nginx checks no
  chain), a **self-signed** certificate with the client's DN;
* over direct TLS (``santeid serve --tls-cert …`` without ``--client-ca``), a certificate with
  the client's DN issued by the INSi establishment authority, which the TLS handshake accepts
  (``insi_ca_file``) but which vouches for INSi callers, not for OAuth clients;
* behind nginx again, certificates issued by the client's own authority with the client's DN
  but unfit for a TLS client — a TLS **server**'s (extendedKeyUsage serverAuth alone, RFC 5280
  §4.2.1.12), one of anyExtendedKeyUsage alone, one whose keyUsage is keyEncipherment alone
  (§4.2.1.3) —, which the direct listener's handshake refuses alike (OpenSSL's SSL client
  purpose, ``tests.support.cps.PURPOSES``).

The client's own certificate still authenticates and binds its tokens (``cnf.x5t#S256``); with
``tls_client_auth_ca_file`` empty, no certificate does.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from urllib.parse import quote

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from santeid.pki import CLIENT_AUTH
from santeid.pki import TestAuthority
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import load_certificates
from santeid.pki import private_key_pem
from santeid.pki import write_credentials
from santeid.pki import write_pem
from tests.e2e.test_cps_behind_nginx import _filled
from tests.e2e.test_cps_behind_nginx import documented_server_block
from tests.support.cps import FIT_FOR_A_TLS_CLIENT
from tests.support.cps import PURPOSES
from tests.support.cps import TITLE_DRAFT
from tests.support.cps import UNFIT_FOR_A_TLS_CLIENT
from tests.support.cps import signed_certificate
from tests.support.cps import with_latin1_title
from tests.support.redis_server import free_port
from tests.support.security import REALM
from tests.support.security import running_nginx
from tests.support.security import self_signed_certificate
from tests.support.servers import CERT_HEADER
from tests.support.servers import production_process
from tests.support.servers import refused_start
from tests.support.servers import santeid_home

pytestmark = [pytest.mark.server]

CLIENT_ID = "logiciel-mtls"
SUBJECT_DN = "CN=logiciel-mtls,O=Etablissement Test,C=FR"


def _self_signed(subject: x509.Name, folder) -> None:
    """``folder/cert.pem`` and ``key.pem``: a self-signed end-entity certificate of ``subject``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir()
    write_pem(folder / "cert.pem", certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    write_pem(folder / "key.pem", private_key_pem(key), mode=0o600)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The client (registered by the command line), the establishment authority that issued
    its certificate, that certificate, and the two forgeries carrying its DN."""
    home = tmp_path_factory.mktemp("tls-client-auth")
    production = santeid_home(home, sandbox=False)
    production.register(
        CLIENT_ID,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn=SUBJECT_DN,
    )
    production.cli("tls", "dev-cert", "--out", str(home / "tls"))
    subject = x509.Name.from_rfc4514_string(SUBJECT_DN)
    machines = TestAuthority.load_or_create(home / "machines", "machines-ca",
                                            common_name="TEST AC ETABLISSEMENTS")  # fmt: skip
    write_credentials(home / "client", *issue_certificate(machines, subject=subject), machines)
    _self_signed(subject, home / "self-signed")
    for folder, (key_usage, usages, _) in PURPOSES.items():
        issued = issue_certificate(machines, subject=subject, key_usage=key_usage,
                                   extended_key_usages=usages)  # fmt: skip
        write_credentials(home / folder, *issued, machines)
    # Issued by the client's own authority for client authentication, its extendedKeyUsage
    # twice (RFC 5280 §4.2: an extension at most once).
    key = generate_private_key("ec-p256")
    repeated = signed_certificate(subject, key, machines.certificate.subject,
                                  machines.private_key, ca=False,
                                  twice=x509.ExtendedKeyUsage([CLIENT_AUTH]))  # fmt: skip
    write_credentials(home / "repeated-eku", repeated, key, machines)
    _latin1_title(subject, machines, home / "latin1-title")
    # An authority the server trusts for something else (INSi establishment certificates).
    insi = TestAuthority.load_or_create(home / "insi", "insi-ca", common_name="TEST AC INSI")
    write_credentials(home / "insi-issued", *issue_certificate(insi, subject=subject), insi)
    return home


def _latin1_title(subject: x509.Name, authority: TestAuthority, folder) -> None:
    """``folder``: a certificate the client's authority issued for client authentication,
    whose subject — the client's DN and a title ``Médecin`` in Latin-1, in a TeletexString —
    OpenSSL reads (a handshake, nginx forward it) and cryptography cannot."""
    key = generate_private_key("ec-p256")
    now = datetime.datetime.now(datetime.UTC)
    titled = x509.Name([*subject, x509.NameAttribute(x509.NameOID.TITLE, TITLE_DRAFT)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(titled)
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([CLIENT_AUTH]), critical=False)
    )
    certificate = with_latin1_title(builder, authority.private_key)
    write_credentials(folder, certificate, key, authority)


def _token(url: str, home, folder: str, verify: str) -> requests.Response:
    return requests.post(
        f"{url}{REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID},
        cert=(str(home / folder / "cert.pem"), str(home / folder / "key.pem")),
        verify=verify,
        timeout=10,
    )


def _forwarded_token(proxied, home, folder: str) -> requests.Response:
    """The token request of a client whose certificate is that of ``folder``, as the proxy
    forwards it to santeid (``$ssl_client_escaped_cert``, from the proxy's address)."""
    pem = (home / folder / "cert.pem").read_text()
    return requests.post(
        f"{proxied['backend']}{REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID},
        headers={CERT_HEADER: quote(pem, safe=""), "X-Forwarded-Proto": "https"},
        timeout=10,
    )


def _refused(answer: requests.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert "access_token" not in answer.json()


def _bound_to(answer: requests.Response, home, folder: str) -> None:
    """The token was issued and is bound to the certificate of ``folder`` (RFC 8705 §3.1)."""
    assert answer.status_code == 200, answer.text
    payload = answer.json()["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    certificate = load_certificates(home / folder / "cert.pem")[0]
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    thumbprint = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert claims["cnf"] == {"x5t#S256": thumbprint}


@pytest.fixture(scope="module")
def proxied(home):
    """The documented nginx block in front of a server outside sandbox mode."""
    port = free_port()
    cert, key = self_signed_certificate(home)
    authority = home / "machines" / "machines-ca.pem"
    with production_process(
        home,
        log_name="proxied.log",
        SANTEID_ISSUER=f"https://127.0.0.1:{port}{REALM}",
        SANTEID_TLS_CLIENT_AUTH_CA_FILE=str(authority),
    ) as server:
        block = _filled(documented_server_block(), (f"listen 127.0.0.1:{port} ssl;", str(cert),
                        str(key), str(authority), f"127.0.0.1:{server.port}"))  # fmt: skip
        with running_nginx(home, port, server.port, cert, key, server=block):
            yield {"url": f"https://127.0.0.1:{port}", "ca": str(cert), "log": server.log,
                   "backend": server.base}  # fmt: skip


def _direct(home, log_name: str, **settings: str):
    tls = ["--tls-cert", str(home / "tls" / "cert.pem"), "--tls-key", str(home / "tls" / "key.pem")]
    return production_process(
        home,
        behind_proxy=False,
        args=tls,
        log_name=log_name,
        ca=str(home / "tls" / "ca.pem"),
        SANTEID_INSI_CA_FILE=str(home / "insi" / "insi-ca.pem"),
        **settings,
    )


def test_a_self_signed_certificate_with_the_clients_dn_gets_no_token_behind_nginx(home, proxied):
    _refused(_token(proxied["url"], home, "self-signed", proxied["ca"]))
    log = proxied["log"].read_text()
    assert "not issued by an authority of tls_client_auth_ca_file" in log
    assert "client_credentials token issued" not in log


def test_the_clients_own_certificate_gets_a_bound_token_behind_nginx(home, proxied):
    _bound_to(_token(proxied["url"], home, "client", proxied["ca"]), home, "client")


@pytest.mark.parametrize(("folder", "reason"), UNFIT_FOR_A_TLS_CLIENT)
def test_a_certificate_unfit_for_a_tls_client_gets_no_token_behind_nginx(
    home, proxied, folder, reason
):
    """RFC 5280 §4.2.1.12, §4.2.1.3: a TLS server's certificate, one of anyExtendedKeyUsage
    alone, one for encryption alone — a TLS handshake refuses each as a client's (OpenSSL's SSL
    client purpose; the direct listener, below), and so does tls_client_auth behind a proxy
    that checks no chain."""
    _refused(_token(proxied["url"], home, folder, proxied["ca"]))
    log = proxied["log"].read_text()
    assert f"tls_client_auth refused for logiciel-mtls: {reason}" in log


def test_a_certificate_repeating_an_extension_gets_no_token_behind_a_proxy(home, proxied):
    """RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular
    extension". OpenSSL holds such a certificate invalid — its handshake refuses it, and its
    clients will not even present it —, but a proxy that checks no chain forwards whatever
    another TLS stack presented: in the proxy's header, its extensions cannot be read, and it
    is refused (401 ``invalid_client``), never a server error."""
    _refused(_forwarded_token(proxied, home, "repeated-eku"))
    log = proxied["log"].read_text()
    assert "tls_client_auth refused for logiciel-mtls: its extensions cannot be read" in log
    assert "Traceback" not in log


def test_a_certificate_whose_subject_cannot_be_read_gets_no_token_behind_a_proxy(home, proxied):
    """A certificate of the client's own authority whose subject cryptography cannot decode
    (a Latin-1 title in a TeletexString, which OpenSSL and so the proxy read) names no
    registered subject DN: refused (401 ``invalid_client``), never a server error — the
    comparison with the DN read the subject unguarded and answered 500."""
    _refused(_forwarded_token(proxied, home, "latin1-title"))
    log = proxied["log"].read_text()
    assert "tls_client_auth refused for logiciel-mtls: certificate subject" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("folder", FIT_FOR_A_TLS_CLIENT)
def test_a_certificate_fit_for_a_tls_client_gets_a_token_behind_nginx(home, proxied, folder):
    _bound_to(_token(proxied["url"], home, folder, proxied["ca"]), home, folder)


def test_a_certificate_of_another_trusted_authority_gets_no_token_over_direct_tls(home):
    authority = str(home / "machines" / "machines-ca.pem")
    with _direct(home, "direct.log", SANTEID_TLS_CLIENT_AUTH_CA_FILE=authority) as server:
        # The handshake accepts it (insi_ca_file); the client authentication does not.
        _refused(_token(server.base, home, "insi-issued", server.ca))
        _bound_to(_token(server.base, home, "client", server.ca), home, "client")
        # The client's authority, other purposes: the handshake itself refuses the same
        # certificates as the application behind nginx (above), and takes the others.
        for folder in PURPOSES:
            if folder in FIT_FOR_A_TLS_CLIENT:
                _bound_to(_token(server.base, home, folder, server.ca), home, folder)
                continue
            with pytest.raises(requests.exceptions.SSLError):
                _token(server.base, home, folder, server.ca)


def test_an_unreadable_tls_client_auth_ca_file_stops_the_server(tmp_path):
    refused = refused_start(tmp_path, SANTEID_TLS_CLIENT_AUTH_CA_FILE=str(tmp_path / "none.pem"))
    assert refused.returncode != 0
    assert "tls_client_auth_ca_file: cannot read" in refused.stdout + refused.stderr


def test_without_tls_client_auth_ca_file_no_certificate_authenticates(home):
    with _direct(home, "no-ca-file.log") as server:
        _refused(_token(server.base, home, "insi-issued", server.ca))
        log = server.log.read_text()
    assert "tls_client_auth_ca_file is empty" in log

"""What the security tests share: the client a santeid process is prepared with, a browser
(a ``requests`` session), the admin console's sign-in and a phone's activation, raw sockets
from a chosen loopback address, a self-signed certificate and a real nginx."""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode
from urllib.parse import urljoin

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.structures import CaseInsensitiveDict

from tests.support.servers import SANTEID
from tests.support.servers import SHARED_STORE_LAYOUTS
from tests.support.servers import SanteidHome

REALM = "/auth/realms/esante-wallet"
REDIRECT_URI = "https://rp.example.org/callback"
CLIENT_ID = "rp-security"
SECRET = "a-long-secret-for-the-security-tests-0123456789"
#: Another loopback address (all of 127.0.0.0/8 is the loopback interface on Linux): a client
#: that is not the trusted proxy 127.0.0.1, or an attacker told apart from honest clients.
OTHER_LOOPBACK = "127.0.0.2"
#: The parameters of a server fixture over the layouts ``santeid serve`` runs on one port
#: (``tests.support.servers.LAYOUTS``): the one-process server, and those of several processes
#: marked ``redis``, their store.
EVERY_LAYOUT = [
    "werkzeug",
    *(pytest.param(layout, marks=pytest.mark.redis) for layout in SHARED_STORE_LAYOUTS),
]


def santeid(env: dict, *args: str) -> str:
    result = subprocess.run(
        [SANTEID, *args], env=env, check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


#: The confidential client of these tests.
CLIENT = {
    "client_id": CLIENT_ID,
    "client_name": "RP de test",
    "client_secret": SECRET,
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "client_secret_basic",
}


def browser(ca: str | Path | None = None) -> requests.Session:
    """A browser: a session of its own (cookies), blind to the proxy variables; trusting the
    authority file ``ca`` (a santeid over HTTPS with its development certificate) when given."""
    session = requests.Session()
    session.trust_env = False
    if ca is not None:
        session.verify = str(ca)
    return session


def csrf_token(html: str) -> str:
    """The ``csrf_token`` of the (first) form of a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def admin_signed_in(base: str, password: str) -> requests.Session:
    """A browser signed in to the admin console of the server at ``base`` as ``admin``."""
    admin = browser()
    page = admin.get(f"{base}/admin/login", timeout=10)
    signed = admin.post(f"{base}/admin/login", allow_redirects=False, timeout=10,
                        data={"user": "admin", "password": password,
                              "csrf_token": csrf_token(page.text)})  # fmt: skip
    assert signed.status_code == 302, signed.text
    return admin


def activation_uri(admin: requests.Session, base: str, national_id: str) -> str:
    """A single-use activation URI for ``national_id``'s new phone, made in the admin console
    (``admin``: :func:`admin_signed_in`): in the server's own process, whatever its store."""
    page = admin.get(f"{base}/admin/professionals", params={"q": national_id}, timeout=10)
    started = admin.post(f"{base}/admin/professionals/activation", timeout=10,
                         data={"csrf_token": csrf_token(page.text),
                               "national_id": national_id})  # fmt: skip
    assert started.status_code == 200, started.text
    code = re.search(r'id="activation-code">([^<]+)<', started.text).group(1)
    return "santeid-ecps://activate?" + urlencode({"server": base, "code": code})


def first_professional(server: SanteidHome) -> str:
    listing = server.cli("directory", "list", "--sandbox", "--json").stdout
    return json.loads(listing)[0]["national_id"]


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed server certificate for ``host`` (an IP address); returns (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy-cert.pem", directory / "proxy-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


#: What every nginx of the tests runs in: a private prefix, one process, ``{server}`` blocks.
NGINX_FRAME = """
daemon off;
master_process off;
pid {home}/nginx.pid;
error_log {home}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {home}/body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
{server}
}}
"""

#: The server block docs/configuration.md "Behind a reverse proxy" shows.
NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
"""


@contextlib.contextmanager
def running_nginx(
    home: Path, port: int, upstream: int, cert: Path, key: Path, *, server: str | None = None
) -> Iterator[None]:
    """A real nginx terminating TLS on ``port`` in front of ``127.0.0.1:upstream``: the server
    block of :data:`NGINX_SERVER`, or ``server`` (a block already filled in, listening on
    ``port``)."""
    binary = nginx_binary()
    assert binary, "nginx is missing: apt-get install nginx (.ci/run does it)"
    if server is None:
        server = NGINX_SERVER.format(port=port, upstream=upstream, cert=cert, key=key)
    conf = home / "nginx.conf"
    conf.write_text(NGINX_FRAME.format(home=home, server=server))
    log = (home / "nginx.out").open("wb")
    process = subprocess.Popen([binary, "-p", str(home), "-c", str(conf)], stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: " + (home / "nginx.out").read_text())
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def http_from(
    source: str,
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 10,
) -> tuple[int, CaseInsensitiveDict, bytes]:
    """One plain-HTTP request to ``127.0.0.1:port`` from the loopback address ``source``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                            source_address=(source, 0))  # fmt: skip
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        headers = CaseInsensitiveDict(response.getheaders())  # Granian sends lower case
        return response.status, headers, response.read()
    finally:
        connection.close()


def card_login_link(server, browser: requests.Session) -> str:
    """The card-login link of a fresh authorization request of :data:`CLIENT_ID`, as
    ``browser`` finds it on the login page."""
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": "s" * 16, "nonce": "n" * 16}  # fmt: skip
    authorize = f"{server.oidc}/auth?{urlencode(query)}"
    response = browser.get(authorize, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    login_url = urljoin(authorize, response.headers["Location"])
    page = browser.get(login_url, timeout=10)
    link = re.search(r'href="([^"]*/login-actions/card\?tx=[^"]+)"', page.text)
    assert link, "the login page links to the card login"
    return urljoin(login_url, link.group(1).replace("&amp;", "&"))

"""The client-certificate header (``tls_client_cert_header``) against a real server: believed
from the trusted proxy's address only. A client connecting from another loopback address sends
a valid CPS card's or INSi certificate's header, with ``X-Forwarded-For`` naming the proxy to
pass for it: the card login answers "no certificate", INSi SOAP ``DESIR_560`` and the INSi REST
API 401 (no credentials); the same headers
from the proxy's address are accepted, except under a name with underscores
(``X_SSL_Client_Cert``), in the one-process server and under Granian (``--workers 2``) alike
(docs/security.md, "Transport and proxies"; docs/cps-card.md)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import requests

from santeid.pki import certificate_pem
from santeid.pki import load_certificates
from tests.support.attack_server import browser_from
from tests.support.cps import ACTIVE_ID
from tests.support.insi_server import ACTION
from tests.support.insi_server import STRUCTURE
from tests.support.insi_server import envelope
from tests.support.insi_server import refused
from tests.support.redis_server import RedisServer
from tests.support.security import CLIENT
from tests.support.security import OTHER_LOOPBACK
from tests.support.security import card_login_link
from tests.support.servers import BEHIND_PROXY
from tests.support.servers import CERT_HEADER
from tests.support.servers import PROXY
from tests.support.servers import SANTEID
from tests.support.servers import forwarded_certificate
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

IDAM = "TESTSANTEID1"
#: What a client adds to pass for the proxy: the proxy's address as the forwarded client.
SPOOFS = [
    {},
    {"X-Forwarded-For": PROXY},
    {"X-Forwarded-For": PROXY, "X-Real-IP": PROXY, "Forwarded": f"for={PROXY}"},
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    prepared = santeid_home(tmp_path_factory.mktemp("cert-header"))
    home = prepared.home
    prepared.cli("directory", "seed-demo")
    prepared.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / "card"))
    prepared.cli("insi", "issue-cert", "--structure", STRUCTURE, "--cn", "INSI-AUTO",
                 "--out", str(home / "insi"))  # fmt: skip
    prepared.cli("insi", "software", "add", IDAM, "--name", "santeid security tests")
    base = home / "civil-status.sqlite3"
    subprocess.run([SANTEID, "civil", "generate", "--persons", "20", "--out", str(base)],
                   check=True, capture_output=True, timeout=120,
                   env={"HOME": str(home), "PATH": "/usr/bin:/bin"})  # fmt: skip
    with santeid_process(
        home,
        clients=[CLIENT],
        SANTEID_STORE_URL="memory://",
        SANTEID_INSI_BASE=str(base),
        **BEHIND_PROXY,
    ) as server:
        card = load_certificates(home / "card" / "cert.pem")[0]
        insi = load_certificates(home / "insi" / "cert.pem")[0]
        yield server, card, insi


@pytest.fixture(scope="module")
def granian(tmp_path_factory) -> Iterator[tuple]:
    """``santeid serve --workers 2`` (Granian, santeid's RSGI layer) with the same settings and
    a Redis of its own; a card it accepts."""
    home = tmp_path_factory.mktemp("cert-header-granian")
    prepared = santeid_home(home)
    prepared.cli("directory", "seed-demo")
    prepared.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / "card"))
    with (
        RedisServer() as redis_server,
        santeid_process(
            home,
            args=["--sandbox", "--workers", "2"],
            clients=[CLIENT],
            SANTEID_STORE_URL=redis_server.url,
            **BEHIND_PROXY,
        ) as server,
    ):
        yield server, load_certificates(home / "card" / "cert.pem")[0]


def test_the_card_header_from_the_proxy_logs_in(setup):
    server, card, _ = setup
    with browser_from(PROXY) as proxy:
        answer = proxy.get(card_login_link(server, proxy), headers=forwarded_certificate(card),
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code == 302, answer.text
    assert "/login-actions/complete?tx=" in answer.headers["Location"]


def test_a_chain_forwarded_as_traefik_does_logs_in_with_its_first_certificate(setup):
    """Traefik's ``X-Forwarded-Tls-Client-Cert``: the certificates the browser sent, the card
    first, then its authority (a card middleware sends it), PEM bodies joined by commas."""
    server, card, _ = setup
    authority = load_certificates(server.home / "card" / "ca.pem")[0]
    chain = ",".join("".join(certificate_pem(c).decode().splitlines()[1:-1])
                     for c in (card, authority))  # fmt: skip
    with browser_from(PROXY) as proxy:
        answer = proxy.get(card_login_link(server, proxy), headers={CERT_HEADER: chain},
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code == 302, answer.text
    assert "/login-actions/complete?tx=" in answer.headers["Location"]


@pytest.mark.parametrize("spoof", SPOOFS, ids=["bare", "x-forwarded-for", "every-header"])
def test_a_card_header_from_another_address_is_ignored(setup, spoof):
    server, card, _ = setup
    with browser_from(OTHER_LOOPBACK) as attacker:
        answer = attacker.get(card_login_link(server, attacker),
                              headers={**forwarded_certificate(card), **spoof},
                              allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert 'data-code="no_certificate"' in answer.text
    assert f"from {OTHER_LOOPBACK} ignored" in server.log.read_text()


@pytest.mark.redis
def test_under_granian_the_card_header_from_the_proxy_logs_in(granian):
    server, card = granian
    with browser_from(PROXY) as proxy:
        answer = proxy.get(card_login_link(server, proxy), headers=forwarded_certificate(card),
                           allow_redirects=False, timeout=10)  # fmt: skip
    assert answer.status_code == 302, answer.text
    assert "/login-actions/complete?tx=" in answer.headers["Location"]


#: The header's name with underscores for some of its hyphens: the same CGI variable
#: (``HTTP_X_SSL_CLIENT_CERT``) once hyphens become underscores, and a name that a proxy
#: replacing only ``X-SSL-Client-Cert`` forwards as the client sent it (HAProxy does).
UNDERSCORED = ["X_SSL_Client_Cert", "X-SSL_Client-Cert", "x_ssl_client_cert"]


@pytest.mark.parametrize("layout", ["werkzeug", pytest.param("granian", marks=pytest.mark.redis)])
@pytest.mark.parametrize("name", UNDERSCORED)
def test_an_underscored_card_header_from_the_proxy_is_no_certificate(request, layout, name):
    """A browser without a card, through a proxy that forwards any header it did not set,
    sends someone's public certificate under an underscored name: never a login."""
    server, card = request.getfixturevalue(layout if layout == "granian" else "setup")[:2]
    with browser_from(PROXY) as proxy:
        answer = proxy.get(card_login_link(server, proxy), allow_redirects=False, timeout=10,
                           headers={name: forwarded_certificate(card)[CERT_HEADER]})  # fmt: skip
    assert answer.status_code == 400, (answer.status_code, answer.headers.get("Location"))
    assert 'data-code="no_certificate"' in answer.text


def _soap(server, source: str, certificate, extra: dict) -> requests.Response:
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{ACTION}"',
               **forwarded_certificate(certificate), **extra}  # fmt: skip
    with browser_from(source) as client:
        return client.post(f"{server.base}/insi/soap", data=envelope(idam=IDAM),
                           headers=headers, timeout=30)  # fmt: skip


def test_the_insi_certificate_header_from_the_proxy_is_accepted(setup):
    server, _, insi = setup
    answer = _soap(server, PROXY, insi, {})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("spoof", SPOOFS, ids=["bare", "x-forwarded-for", "every-header"])
def test_an_insi_certificate_header_from_another_address_is_refused(setup, spoof):
    server, _, insi = setup
    reason = refused(_soap(server, OTHER_LOOPBACK, insi, spoof))
    assert "certificat" in reason
    assert "Traceback" not in server.log.read_text()


REST_SEARCH = "/insi/v1/ins/search-by-traits"
TRAITS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
          "birthDate": "1997-02-26"}  # fmt: skip


def _rest(server, source: str, certificate, extra: dict) -> requests.Response:
    with browser_from(source) as client:
        return client.post(f"{server.base}{REST_SEARCH}", json=TRAITS, timeout=30,
                           headers={**forwarded_certificate(certificate), **extra})  # fmt: skip


def test_the_insi_rest_api_believes_the_header_from_the_proxy_only(setup):
    server, _, insi = setup
    assert _rest(server, PROXY, insi, {}).status_code == 200
    for spoof in SPOOFS:
        answer = _rest(server, OTHER_LOOPBACK, insi, spoof)
        # No certificate believed: the REST API asks for a token or a certificate.
        assert answer.status_code == 401, (spoof, answer.text)
        assert answer.json()["code"] == "santeid_unauthenticated", answer.text


def _undecodable_insi_certificate():
    """A self-signed ``INSI-AUTO`` certificate whose subject holds a Latin-1 title in a
    TeletexString: OpenSSL reads it (a handshake, nginx forward it), cryptography raises
    ``ValueError`` when its subject is read."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.support.cps import TITLE_DRAFT
    from tests.support.cps import with_latin1_title

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "INSI-AUTO"),
        x509.NameAttribute(NameOID.TITLE, TITLE_DRAFT),
    ])  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    return with_latin1_title(builder, key)


def test_an_insi_certificate_whose_names_cannot_be_read_is_refused_not_a_500(setup):
    """Any client behind the documented proxy can present such a certificate: INSi read its
    subject before anything else and answered 500 with a traceback in the log; now the
    ``DESIR_560`` refusal (SOAP) and 403 (REST), as for any certificate of no INSi
    authority."""
    server, _, _ = setup
    certificate = _undecodable_insi_certificate()
    assert "certificat" in refused(_soap(server, PROXY, certificate, {}))
    answer = _rest(server, PROXY, certificate, {})
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "DESIR_560", answer.text
    assert "Traceback" not in server.log.read_text()

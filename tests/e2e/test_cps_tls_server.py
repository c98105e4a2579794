"""The real thing: ``santeid serve --tls-cert … --tls-key … --client-ca …`` as a process, driven
with ``requests`` over HTTPS presenting test card certificates in the TLS handshake — once with
Werkzeug (one process, memory store) and once with gunicorn (two workers, real Redis).

Which refusals look like what, with direct TLS:

* a card of an authority **not** in ``--client-ca``: the TLS handshake fails (alert
  ``unknown_ca``); the browser shows its own "bad client certificate" error, no page;
* a card of an authority in ``--client-ca`` but not trusted for CPS cards (``cps_ca_file`` /
  test authority), a revoked card, a card of someone absent from the directory, no card at
  all: a santeid page saying why.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import re
import secrets
import socket
import ssl
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from joserfc import jwt
from joserfc.jwk import KeySet

from santeid.cli.serve import _client_authorities
from santeid.cps.cards import card_subject
from santeid.directory import Directory
from santeid.pki import TestAuthority
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import private_key_pem
from santeid.pki import subject_name
from santeid.pki import write_credentials
from santeid.pki import write_pem
from santeid.settings import Settings
from tests.support.cps import ACTIVE_ID
from tests.support.cps import IA5_STRING
from tests.support.cps import TITLE_DRAFT
from tests.support.cps import UNKNOWN_ID
from tests.support.cps import igc_like_authorities
from tests.support.cps import latin1_title_der
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

REDIRECT_URI = "https://rp.example.org/callback"
CLIENT_ID = "rp-card"
SECRET = "a-long-secret-for-the-card-test-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Directory, client, server certificate and cards, made with the command line."""
    prepared = santeid_home(tmp_path_factory.mktemp("cards"))
    home = prepared.home
    prepared.cli("directory", "seed-demo")
    prepared.cli("tls", "dev-cert", "--out", str(home / "tls"))
    prepared.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / "card"))
    prepared.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / "revoked"))
    prepared.cli("cps", "revoke-card", str(home / "revoked"))
    prepared.cli("cps", "issue-card", UNKNOWN_ID, "--out", str(home / "unknown"), "--allow-unknown")
    # Two foreign authorities: one the TLS layer accepts (listed in --client-ca) but santeid
    # does not trust for cards, one nobody knows.
    for name in ("listed", "stranger"):
        ca = TestAuthority.load_or_create(
            home / "foreign", f"{name}-ca", common_name=f"AC {name.upper()}", key_type="ec-p256"
        )
        cert, key = issue_certificate(
            ca, subject=subject_name(common_name=ACTIVE_ID, country="FR"), key_type="ec-p256"
        )
        write_credentials(home / name, cert, key, ca)
    # A card of the test authority whose subject cryptography cannot load (an IA5String
    # holding Latin-1), which OpenSSL, and so the handshake, takes.
    authority = TestAuthority.load(home / "keys", "cps-test-ca")
    key = generate_private_key("rsa-2048")
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(common_name=ACTIVE_ID, title=TITLE_DRAFT))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    unloadable = latin1_title_der(builder, authority.private_key, tag=IA5_STRING)
    (home / "unloadable").mkdir()
    write_pem(home / "unloadable" / "cert.pem", ssl.DER_cert_to_PEM_cert(unloadable).encode(),
              mode=0o644)  # fmt: skip
    write_pem(home / "unloadable" / "key.pem", private_key_pem(key), mode=0o600)
    bundle = home / "client-ca.pem"
    bundle.write_bytes(
        (home / "keys" / "cps-test-ca.pem").read_bytes() + (home / "listed" / "ca.pem").read_bytes()
    )
    prepared.add_client(
        {
            "client_id": CLIENT_ID,
            "client_name": "RP carte",
            "client_secret": SECRET,
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }
    )
    return {"home": home, "client_ca": bundle, "ca": str(home / "tls" / "ca.pem")}


@pytest.fixture(
    scope="module",
    params=["werkzeug", pytest.param("gunicorn", marks=pytest.mark.redis)],
)
def server(request, pki):
    home = pki["home"]
    args = ["--sandbox", "--tls-cert", str(home / "tls" / "cert.pem")]
    args += ["--tls-key", str(home / "tls" / "key.pem"), "--client-ca", str(pki["client_ca"])]
    settings = {}
    if request.param == "gunicorn":
        redis_server = request.getfixturevalue("redis_server")
        settings["SANTEID_STORE_URL"] = redis_server.url.rsplit("/", 1)[0] + "/6"
        args += ["--workers", "2"]
    with santeid_process(
        home,
        args=args,
        ca=pki["ca"],
        log_name=f"server-{request.param}.log",
        # No issuer configured: serve derives https://127.0.0.1:<port>/auth/realms/….
        SANTEID_ISSUER=None,
        **settings,
    ) as process:
        yield {"base": process.base, "ca": pki["ca"], "home": home, "log": process.log}


def _browser(server, card: str | None) -> requests.Session:
    browser = requests.Session()
    # Not trust_env: REQUESTS_CA_BUNDLE would override the session's verify= (requests#3829).
    browser.trust_env = False
    browser.verify = server["ca"]
    if card:
        folder = server["home"] / card
        browser.cert = (str(folder / "cert.pem"), str(folder / "key.pem"))
    return browser


def _authorize_url(server, verifier: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid scope_all",
        "state": secrets.token_hex(8),
        "nonce": secrets.token_hex(8),
        "acr_values": "eidas1",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    return f"{server['base']}/auth/realms/esante-wallet/protocol/openid-connect/auth?" + urlencode(
        query
    )


def _follow_card_link(server, browser, verifier: str) -> requests.Response:
    """Authorization request → login page → its "Carte CPS" link; the card link's response."""
    response = browser.get(_authorize_url(server, verifier), allow_redirects=False, timeout=10)
    assert response.status_code == 302
    login_url = urljoin(server["base"], response.headers["Location"])
    page = browser.get(login_url, timeout=10)
    assert page.status_code == 200
    link = re.search(r'href="([^"]*/login-actions/card\?tx=[^"]+)"', page.text)
    assert link, "the login page links to the card login"
    return browser.get(
        urljoin(login_url, html.unescape(link.group(1))), allow_redirects=False, timeout=10
    )


def test_default_issuer_is_https(server):
    discovery = requests.get(
        f"{server['base']}/auth/realms/esante-wallet/.well-known/wallet-openid-configuration",
        verify=server["ca"],
        timeout=10,
    ).json()
    assert discovery["issuer"] == f"{server['base']}/auth/realms/esante-wallet"
    assert discovery["token_endpoint"].startswith("https://")


def test_card_login_over_mutual_tls(server):
    verifier = secrets.token_urlsafe(48)
    browser = _browser(server, "card")
    approved = _follow_card_link(server, browser, verifier)
    assert approved.status_code == 302, approved.text
    complete = urljoin(server["base"], approved.headers["Location"])
    assert "/login-actions/complete?tx=" in complete
    back = browser.get(complete, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    assert back.headers["Location"].startswith(REDIRECT_URI)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]

    # The relying party, a plain TLS client (no certificate), exchanges the code.
    token = requests.post(
        f"{server['base']}/auth/realms/esante-wallet/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, SECRET),
        verify=server["ca"],
        timeout=10,
    )
    assert token.status_code == 200, token.text
    jwks = KeySet.import_key_set(
        requests.get(
            f"{server['base']}/auth/realms/esante-wallet/protocol/openid-connect/certs",
            verify=server["ca"],
            timeout=10,
        ).json()
    )
    access = jwt.decode(token.json()["access_token"], jwks, algorithms=["RS256"]).claims
    assert access["authMode"] == "CARD"
    assert access["acr"] == "eidas3"
    assert access["preferred_username"] == ACTIVE_ID
    id_token = jwt.decode(token.json()["id_token"], jwks, algorithms=["RS256"]).claims
    assert id_token["amr"] == ["sc", "pin", "hwk", "mfa"]
    assert id_token["SubjectNameID"] == ACTIVE_ID


@pytest.mark.parametrize(
    ("card", "status", "code", "text"),
    [
        ("revoked", 403, "revoked", "a été révoquée"),
        ("unknown", 403, "unknown_professional", "ne figure pas dans l'annuaire"),
        ("listed", 403, "untrusted_issuer", "AC LISTED"),
        (None, 400, "no_certificate", "Aucune carte CPS"),
    ],
)
def test_refused_card_gets_a_clear_page(server, card, status, code, text):
    response = _follow_card_link(server, _browser(server, card), secrets.token_urlsafe(48))
    assert response.status_code == status
    page = html.unescape(response.text)
    assert "Connexion par carte CPS impossible" in page
    assert f'data-code="{code}"' in page
    assert text in page
    assert 'id="back-to-login"' in page
    # The login goes on from here: not the error pages' advice to start again at the service.
    assert "Revenez sur le service" not in page


def test_a_card_cryptography_cannot_load_is_no_card_and_the_connection_serves(server):
    """The handshake takes it; santeid cannot read it: no certificate, as outside sandbox
    mode — in sandbox mode the connection was dropped at its first request."""
    browser = _browser(server, "unloadable")
    assert browser.get(f"{server['base']}/health", timeout=10).status_code == 200
    response = _follow_card_link(server, browser, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert 'data-code="no_certificate"' in response.text


def test_card_of_an_unknown_authority_fails_the_tls_handshake(server):
    """OpenSSL refuses the certificate (alert unknown_ca): no HTTP exchange at all."""
    browser = _browser(server, "stranger")
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        browser.get(_authorize_url(server, "v" * 50), allow_redirects=False, timeout=10)
    message = str(caught.value).lower()
    assert any(word in message for word in ("unknown ca", "alert", "reset", "eof")), message
    # The server goes on serving everybody else.
    assert requests.get(f"{server['base']}/health", verify=server["ca"], timeout=10).ok


def test_a_stalled_handshake_does_not_block_other_clients(server):
    """A browser waiting for its card's PIN holds its handshake open; others are served."""
    host, port = urlsplit(server["base"]).hostname, urlsplit(server["base"]).port
    with socket.create_connection((host, port), timeout=5):  # TCP only, no ClientHello
        for _ in range(3):
            health = requests.get(f"{server['base']}/health", verify=server["ca"], timeout=5)
            assert health.status_code == 200


def test_default_client_authorities(tmp_path):
    """Without --client-ca: the CPS authorities (cps_ca_file, else in sandbox mode only the
    test CPS authority), the INSi ones (insi_ca_file, else in sandbox mode only the test INSi
    authority) and those of tls_client_auth clients (tls_client_auth_ca_file); the test
    authorities are created in sandbox mode, never used outside it."""
    settings = Settings(data_dir=str(tmp_path / "var"), keys_dir=str(tmp_path / "keys"))
    keys = tmp_path / "keys"
    assert _client_authorities(settings, "/explicit.pem") == ["/explicit.pem"]
    configured = settings.replace(
        cps_ca_file="/igc.pem", insi_ca_file="/org.pem", tls_client_auth_ca_file="/rp.pem"
    )
    assert _client_authorities(configured, None) == ["/igc.pem", "/org.pem", "/rp.pem"]
    assert _client_authorities(settings, None) == []
    created = _client_authorities(settings.replace(sandbox=True), None)
    assert created == [str(keys / "cps-test-ca.pem"), str(keys / "insi-test-ca.pem")]
    assert all(Path(path).is_file() for path in created)
    assert _client_authorities(settings, None) == []
    assert _client_authorities(settings.replace(cps_ca_file="/igc.pem"), None) == ["/igc.pem"]


@pytest.fixture(scope="module")
def issuing_only(pki):
    """docs/cps-card.md, "Production": ``cps_ca_file`` holds the issuing authority only (not
    its root), no ``--client-ca``; a card that authority signed, presented alone."""
    home = pki["home"]
    _, issuing = igc_like_authorities(home / "igc")
    directory = Directory.for_settings(Settings(data_dir=str(home / "var"), sandbox=True))
    try:
        subject = card_subject(directory.get(ACTIVE_ID))
    finally:
        directory.close()
    write_credentials(home / "igc-card", *issue_certificate(issuing, subject=subject), issuing)
    args = ["--sandbox", "--tls-cert", str(home / "tls" / "cert.pem")]
    args += ["--tls-key", str(home / "tls" / "key.pem")]
    with santeid_process(home, args=args, ca=pki["ca"], log_name="server-issuing-only.log",
                         SANTEID_ISSUER=None, SANTEID_STORE_URL="memory://",
                         SANTEID_CPS_CA_FILE=str(issuing.cert_path)) as process:  # fmt: skip
        yield {"base": process.base, "ca": pki["ca"], "home": home, "log": process.log}


def test_a_card_of_the_issuing_authority_alone_logs_in_over_mutual_tls(issuing_only):
    browser = _browser(issuing_only, "igc-card")
    approved = _follow_card_link(issuing_only, browser, secrets.token_urlsafe(48))
    assert approved.status_code == 302, approved.text
    assert "/login-actions/complete?tx=" in approved.headers["Location"]

"""docs/cps-card.md's nginx block, read from the document and run as written (only its
addresses and file names changed) in front of a real ``santeid serve``: a card nginx itself
finds wrong (expired, not yet valid, signed by a look-alike authority, not for client
authentication) gets santeid's page saying why, as the document promises, never nginx's bare
"400 The SSL certificate error"; a good card logs in."""

from __future__ import annotations

import re
from urllib.parse import urlencode
from urllib.parse import urljoin

import pytest
import requests

from santeid.cps.cards import CPS_TEST_CA_COMMON_NAME
from santeid.cps.cards import CPS_TEST_CA_NAME
from santeid.cps.cards import card_subject
from santeid.directory import Directory
from santeid.pki import SERVER_AUTH
from santeid.pki import TestAuthority
from santeid.pki import generate_private_key
from santeid.pki import issue_certificate
from santeid.pki import subject_name
from santeid.pki import write_credentials
from santeid.settings import Settings
from tests.support.cps import ACTIVE_ID
from tests.support.cps import TITLE_DRAFT
from tests.support.cps import signed_certificate
from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import REALM
from tests.support.security import REDIRECT_URI
from tests.support.security import running_nginx
from tests.support.security import self_signed_certificate
from tests.support.servers import BEHIND_PROXY
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

#: What the test changes in the documented block: the addresses and files of this machine.
PLACEHOLDERS = (
    "listen 443 ssl;",
    "/etc/nginx/tls/idp.example.org.pem",
    "/etc/nginx/tls/idp.example.org.key",
    "/etc/nginx/tls/cps-authorities.pem",
    "127.0.0.1:8080",
)


def documented_server_block() -> str:
    """The ``nginx`` block under "Behind a TLS-terminating proxy" in docs/cps-card.md."""
    text = (ROOT / "docs" / "cps-card.md").read_text()
    section = text.split("## Behind a TLS-terminating proxy")[1].split("\n## ")[0]
    blocks = re.findall(r"```nginx\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "docs/cps-card.md: one nginx block behind a proxy"
    return blocks[0]


def _filled(block: str, values: tuple[str, ...]) -> str:
    for placeholder, value in zip(PLACEHOLDERS, values, strict=True):
        assert placeholder in block, f"docs/cps-card.md's nginx block: {placeholder} is gone"
        block = block.replace(placeholder, value)
    return block


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    home = tmp_path_factory.mktemp("cps-nginx")
    prepared = santeid_home(home)
    prepared.cli("directory", "seed-demo")
    for name, flags in (("card", ()), ("expired", ("--expired",)),
                        ("not-yet-valid", ("--not-yet-valid",))):  # fmt: skip
        prepared.cli("cps", "issue-card", ACTIVE_ID, "--out", str(home / name), *flags)
    settings = Settings(data_dir=str(home / "var"), keys_dir=str(home / "keys"), sandbox=True)
    directory = Directory.for_settings(settings)
    try:
        subject = card_subject(directory.get(ACTIVE_ID))
    finally:
        directory.close()
    # Same name as the test authority, another key: nginx sees a bad signature.
    lookalike = TestAuthority.load_or_create(home / "lookalike", CPS_TEST_CA_NAME,
                                             common_name=CPS_TEST_CA_COMMON_NAME)  # fmt: skip
    write_credentials(home / "lookalike-card", *issue_certificate(lookalike, subject=subject),
                      lookalike)  # fmt: skip
    # The real authority, but a server certificate: nginx sees an unsuitable purpose.
    real = TestAuthority.load(home / "keys", CPS_TEST_CA_NAME)
    server_only = issue_certificate(real, subject=subject, extended_key_usages=(SERVER_AUTH,))
    write_credentials(home / "server-auth", *server_only, real)
    # Names in a Latin-1 TeletexString, which OpenSSL (nginx) reads and cryptography cannot
    # decode: a card of the real authority, and a self-signed certificate any browser can make.
    latin1 = subject_name(common_name=ACTIVE_ID, title=TITLE_DRAFT)
    card_key, forged_key = generate_private_key("rsa-2048"), generate_private_key("rsa-2048")
    latin1_card = signed_certificate(latin1, card_key, real.certificate.subject, real.private_key,
                                     ca=False, latin1_title=True)  # fmt: skip
    write_credentials(home / "latin1-card", latin1_card, card_key, real)
    forged = signed_certificate(latin1, forged_key, latin1, forged_key, ca=False,
                                latin1_title=True)  # fmt: skip
    write_credentials(home / "latin1-self-signed", forged, forged_key, real)

    port = free_port()
    cert, key = self_signed_certificate(home)
    with santeid_process(
        home,
        args=(),
        clients=[CLIENT],
        SANTEID_ISSUER=f"https://127.0.0.1:{port}{REALM}",
        SANTEID_STORE_URL="memory://",
        **BEHIND_PROXY,
    ) as server:
        block = _filled(documented_server_block(), (f"listen 127.0.0.1:{port} ssl;", str(cert),
                        str(key), str(real.cert_path), f"127.0.0.1:{server.port}"))  # fmt: skip
        with running_nginx(home, port, server.port, cert, key, server=block):
            yield {"home": home, "issuer": f"https://127.0.0.1:{port}{REALM}", "ca": str(cert)}


def _card_login(proxied, card: str) -> requests.Response:
    """A browser holding ``card`` (its certificate offered on every connection, as a card in
    its reader): the login page, then the card link."""
    folder = proxied["home"] / card
    with requests.Session() as browser:
        browser.trust_env = False
        browser.verify = proxied["ca"]
        browser.cert = (str(folder / "cert.pem"), str(folder / "key.pem"))
        query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
                 "scope": "openid scope_all", "state": "s" * 16, "nonce": "n" * 16}  # fmt: skip
        authorize = f"{proxied['issuer']}/protocol/openid-connect/auth?{urlencode(query)}"
        response = browser.get(authorize, allow_redirects=False, timeout=10)
        assert response.status_code == 302, (response.status_code, response.text[:300])
        login_url = urljoin(authorize, response.headers["Location"])
        page = browser.get(login_url, timeout=10)
        link = re.search(r'href="([^"]*/login-actions/card\?tx=[^"]+)"', page.text)
        assert link, (page.status_code, page.text[:300])
        card_url = urljoin(login_url, link.group(1).replace("&amp;", "&"))
        return browser.get(card_url, allow_redirects=False, timeout=10)


def test_a_good_card_logs_in(proxied):
    answer = _card_login(proxied, "card")
    assert answer.status_code == 302, answer.text
    assert "/login-actions/complete?tx=" in answer.headers["Location"]


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("expired", "expired"),
        ("not-yet-valid", "not_yet_valid"),
        ("lookalike-card", "untrusted_issuer"),
        ("server-auth", "wrong_usage"),
    ],
)
def test_a_card_nginx_finds_wrong_gets_santeids_page(proxied, card, code):
    answer = _card_login(proxied, card)
    assert answer.status_code == 403, (answer.status_code, answer.text[:300])
    assert f'data-code="{code}"' in answer.text


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [("latin1-card", 400, "no_national_id"), ("latin1-self-signed", 403, "untrusted_issuer")],
)
def test_a_certificate_whose_names_cryptography_cannot_decode_gets_santeids_page(
    proxied, card, status, code
):
    """nginx forwards what OpenSSL reads; santeid refuses it with its page, not a 500."""
    answer = _card_login(proxied, card)
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert f'data-code="{code}"' in answer.text


def test_a_post_from_a_browser_holding_an_expired_card_reaches_santeid_whole(proxied):
    """The hand-over to santeid keeps the method and the body (a token request here)."""
    folder = proxied["home"] / "expired"
    answer = requests.post(
        f"{proxied['issuer']}/protocol/openid-connect/token",
        data={"grant_type": "authorization_code", "code": "unknown", "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, CLIENT["client_secret"]),
        cert=(str(folder / "cert.pem"), str(folder / "key.pem")),
        verify=proxied["ca"],
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"

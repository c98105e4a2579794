"""The CPS-card path from ``make run``'s own HTTPS listener (``--tls-port``, no second
server), with test cards issued through the control API: a valid card logs in; an expired or
not-yet-valid card gets the documented explanation page (sandbox mode lets it through the
handshake) instead of a killed TLS handshake."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest
import requests

from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CLIENT_ID = "mon-service"
NATIONAL_ID = "810000000005"  # card only


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    prepared = santeid_home(tmp_path_factory.mktemp("make-run"))
    home = prepared.home
    prepared.cli("tls", "dev-cert", "--out", str(home / "tls"))
    client = {
        "client_id": "mon-service",
        "client_secret": "secret-of-mon-service-0123456789",
        "redirect_uris": ["http://127.0.0.1:8000/callback"],
    }
    tls = ["--tls-cert", str(home / "tls" / "cert.pem")]
    tls += ["--tls-key", str(home / "tls" / "key.pem")]
    with santeid_process(
        home,
        args=["--sandbox", *tls],
        tls_port=True,
        clients=[client],
        SANTEID_SANDBOX_APPROVAL_DELAY=None,
    ) as process:
        yield {
            "base": process.base,
            "https": process.https,
            "ca": str(home / "tls" / "ca.pem"),
            "home": home,
        }


def card_files(server, validity: str) -> tuple[str, str]:
    card = requests.post(
        f"{server['base']}/sandbox/api/cards",
        json={"national_id": NATIONAL_ID, "validity": validity},
        timeout=10,
    ).json()
    folder = server["home"] / f"card-{validity}"
    folder.mkdir(exist_ok=True)
    (folder / "cert.pem").write_text(card["certificate_pem"])
    (folder / "key.pem").write_text(card["private_key_pem"])
    return str(folder / "cert.pem"), str(folder / "key.pem")


def card_login(server, validity: str) -> requests.Response:
    """Authorization request on the HTTP port, then the login page's card link followed on
    the HTTPS port with the card in the handshake (cookies are per host, not per port)."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = server["ca"]
    browser.cert = card_files(server, validity)
    response = browser.get(
        f"{server['base']}/auth/realms/esante-wallet/protocol/openid-connect/auth",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": "http://127.0.0.1:8000/callback",
            "scope": "openid scope_all",
            "state": "s",
            "nonce": "n",
        },
        allow_redirects=False,
        timeout=10,
    )
    login_url = urljoin(server["base"], response.headers["Location"])
    page = browser.get(login_url, timeout=10)
    link = re.search(r'href="([^"]*/login-actions/card\?tx=[^"]+)"', page.text).group(1)
    card_url = urljoin(server["https"], html.unescape(link))
    return browser.get(card_url, allow_redirects=False, timeout=10)


def test_valid_card_logs_in_over_the_https_listener(server):
    response = card_login(server, "valid")
    assert response.status_code in (302, 303), response.text[:500]


@pytest.mark.parametrize("validity", ["expired", "not_yet_valid"])
def test_card_outside_its_validity_gets_the_explanation_page(server, validity):
    response = card_login(server, validity)
    assert response.status_code == 403
    assert f'data-code="{validity}"' in html.unescape(response.text)

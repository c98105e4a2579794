"""The CPS-card path from ``make run``'s own HTTPS listener (``--tls-port``, no second
server), with test cards issued through the control API: a valid card logs in; an expired or
not-yet-valid card gets the documented explanation page (sandbox mode lets it through the
handshake) instead of a killed TLS handshake."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.support.redis_server import free_port
from tests.support.servers import running_server

pytestmark = pytest.mark.server

SANTEID = str(Path(sys.executable).with_name("santeid"))
CLIENT_ID = "mon-service"
NATIONAL_ID = "810000000005"  # card only


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("make-run")
    port, tls_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        SANTEID_DATA_DIR=str(home / "var"),
        SANTEID_KEYS_DIR=str(home / "keys"),
        SANTEID_SANDBOX="true",
        SANTEID_ISSUER=f"{base}/auth/realms/esante-wallet",
    )
    subprocess.run([SANTEID, "tls", "dev-cert", "--out", str(home / "tls")], env=env, check=True)
    (home / "client.json").write_text(
        '{"client_id": "mon-service", "client_secret": "secret-of-mon-service-0123456789",'
        ' "redirect_uris": ["http://127.0.0.1:8000/callback"]}'
    )
    subprocess.run([SANTEID, "clients", "add", str(home / "client.json")], env=env, check=True)
    command = [
        SANTEID, "serve", "--sandbox", "--port", str(port), "--tls-port", str(tls_port),
        "--tls-cert", str(home / "tls" / "cert.pem"), "--tls-key", str(home / "tls" / "key.pem"),
    ]  # fmt: skip
    with running_server(command, env, home / "server.log", f"{base}/health"):
        yield {
            "base": base,
            "https": f"https://127.0.0.1:{tls_port}",
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

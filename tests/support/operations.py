"""What the operations tests share: a real ``santeid serve`` with its environment, and a
browser login driven over HTTP (a module of its own: ``conftest`` names collide)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

SANTEID = str(Path(sys.executable).with_name("santeid"))
REDIRECT_URI = "https://rp.example.org/callback"
CLIENT_ID = "rp-operations"
SECRET = "a-long-secret-for-the-operations-test-0123456789"
UNKNOWN_NATIONAL_ID = "899999999990"


def run(env: dict, *args: str) -> str:
    return subprocess.run(
        [SANTEID, *args], env=env, check=True, capture_output=True, text=True, timeout=120
    ).stdout


#: The relying party of these tests (code flow, refresh, CIBA in poll mode).
CLIENT = {
    "client_id": CLIENT_ID,
    "client_name": "RP des opérations",
    "client_secret": SECRET,
    "redirect_uris": [REDIRECT_URI],
    "grant_types": ["authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"],
    "backchannel_token_delivery_mode": "poll",
    "token_endpoint_auth_method": "client_secret_basic",
}


def sandbox_professional(env: dict) -> str:
    return json.loads(run(env, "directory", "list", "--sandbox", "--json"))[0]["national_id"]


def start_login(
    issuer: str, *, client_id: str = CLIENT_ID, secret: str = SECRET
) -> tuple[OAuth2Session, str, requests.Session, str]:
    """Authorization request → the login page: ``(rp, verifier, browser, login_url)``."""
    rp = OAuth2Session(
        client_id,
        secret,
        scope="openid scope_all",
        redirect_uri=REDIRECT_URI,
        token_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(
        f"{issuer}/protocol/openid-connect/auth",
        nonce=generate_token(20),
        acr_values="eidas1",
        code_verifier=verifier,
    )
    browser = requests.Session()
    response = browser.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    return rp, verifier, browser, urljoin(url, response.headers["Location"])


def submit_identifier(browser: requests.Session, login_url: str, national_id: str):
    page = browser.get(login_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return browser.post(
        login_url, data={"national_id": national_id, "csrf_token": csrf}, allow_redirects=False
    )


def code_flow_client(client_id: str, secret: str, redirect_uri: str = REDIRECT_URI) -> dict:
    """The metadata of a web service as PSC integrations register one: the code flow with
    refresh tokens, its secret by HTTP Basic."""
    return {
        "client_id": client_id,
        "client_name": client_id,
        "client_secret": secret,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


def sandbox_login(browser: requests.Session, started: requests.Response, env: dict):
    """``browser``'s login from ``started`` (the authorization endpoint's redirect to the login
    page) as the first sandbox professional of the server of ``env`` (auto-approved): the
    login page's last answer, the redirect that ends at the client."""
    login_url = urljoin(started.url, started.headers["Location"])
    submitted = submit_identifier(browser, login_url, sandbox_professional(env))
    assert submitted.status_code == 303, submitted.text
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    for _ in range(100):
        state = browser.get(urljoin(login_url, "status"), params={"tx": tx}, timeout=10)
        if state.json()["state"] == "approved":
            break
        time.sleep(0.1)
    return browser.get(
        urljoin(login_url, "complete"), params={"tx": tx}, allow_redirects=False, timeout=10
    )


def full_login(issuer: str, national_id: str, **client) -> dict:
    """A sandbox professional logs in (auto-approved) and the RP redeems the code."""
    return browser_login(issuer, national_id, **client)[0]


def browser_login(issuer: str, national_id: str, **client) -> tuple[dict, requests.Session]:
    """:func:`full_login`, with the browser that logged in (its SSO session cookie)."""
    rp, verifier, browser, login_url = start_login(issuer, **client)
    submit_identifier(browser, login_url, national_id)
    tx = parse_qs(urlsplit(login_url).query)["tx"][0]
    realm = urlsplit(login_url).path.split("/login-actions/")[0]
    origin = f"{urlsplit(login_url).scheme}://{urlsplit(login_url).netloc}"
    for _ in range(100):
        status = browser.get(f"{origin}{realm}/login-actions/status", params={"tx": tx})
        if status.json()["state"] == "approved":
            break
        time.sleep(0.1)
    done = browser.get(
        f"{origin}{realm}/login-actions/complete", params={"tx": tx}, allow_redirects=False
    )
    assert done.status_code == 302
    tokens = rp.fetch_token(
        f"{issuer}/protocol/openid-connect/token",
        authorization_response=done.headers["Location"],
        code_verifier=verifier,
    )
    return tokens, browser


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text format → {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def metric_sum(samples: dict, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)

"""The real thing for CIBA: ``santeid serve --workers 2`` on Redis, the e-CPS device simulator
(``santeid device watch --auto-approve``) approving in another process, and Authlib's
relying-party client driving poll mode over HTTP, the ID token checked against the JWKS.
Also the CARD channel with ``santeid cps approve`` and ping mode to a local receiver."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.ciba import Receiver
from tests.support.servers import SANTEID
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.redis]

SECRET = "a-long-secret-for-the-ciba-process-test-0123"
CIBA = "urn:openid:params:grant-type:ciba"
PIN = "135790"


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_server):
    home = tmp_path_factory.mktemp("ciba-server")
    with santeid_process(
        home,
        args=["--workers", "2"],
        SANTEID_STORE_URL=redis_server.url.rsplit("/", 1)[0] + "/6",
        SANTEID_DEVICE_FILE=str(home / "device" / "device.json"),
        SANTEID_SANDBOX_APPROVAL_DELAY=None,  # a user's sandbox: the default approval delay
    ) as server:
        yield server


def _add_client(server, name: str, **metadata) -> None:
    server.register(
        name,
        client_name=f"Logiciel {name}",
        client_secret=SECRET,
        grant_types=[CIBA, "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
        **metadata,
    )


def _backchannel(rp: OAuth2Session, url: str, data: dict) -> requests.Response:
    """The back-channel request, authenticated like a token request (CIBA Core §7.1)."""
    return rp.post(
        url, data=data, withhold_token=True, auth=rp.client_auth("client_secret_basic"), timeout=10
    )


def _professional(server, *, auto_approve: bool) -> str:
    listed = json.loads(server.cli("directory", "list", "--json").stdout)
    return next(
        p["national_id"]
        for p in listed
        if p["sandbox_auto_approve"] == auto_approve and p.get("status", "active") == "active"
    )


def test_authlib_rp_polls_while_the_device_simulator_approves(server):
    discovery = requests.get(
        f"{server.issuer}/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    assert server.log.read_text().count("CIBA notification endpoints on http://127.0.0.1") >= 1
    jwks = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=5).json())
    _add_client(
        server,
        "ciba-process",
        backchannel_token_delivery_mode="poll",
        backchannel_polling_interval=1,
    )
    national_id = _professional(server, auto_approve=False)
    activation = json.loads(server.cli("ecps", "activate", national_id, "--json").stdout)
    server.cli("device", "enroll", "--activation-uri", activation["uri"], "--pin", PIN)
    watcher = subprocess.Popen(
        [SANTEID, "device", "watch", "--pin", PIN, "--auto-approve", "--timeout", "60"],
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        rp = OAuth2Session("ciba-process", SECRET, token_endpoint_auth_method="client_secret_basic")
        for _ in range(2):  # two logins: requests land on both workers
            ack = _backchannel(
                rp,
                discovery["backchannel_authentication_endpoint"],
                {
                    "scope": "openid scope_all",
                    "login_hint": national_id,
                    "binding_message": "37",
                    "acr_values": "eidas1",
                    "channel": "MOBILE",
                },
            )
            assert ack.status_code == 200, ack.text
            ack = ack.json()
            token = None
            deadline = time.monotonic() + 30
            while token is None:
                assert time.monotonic() < deadline, "no approval within 30 s"
                time.sleep(ack["interval"])
                try:
                    token = rp.fetch_token(
                        discovery["token_endpoint"], grant_type=CIBA, auth_req_id=ack["auth_req_id"]
                    )
                except Exception as exc:  # noqa: BLE001 — authlib raises OAuthError
                    assert getattr(exc, "error", None) == "authorization_pending", exc
            decoded = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
            claims = decoded.claims
            assert claims["iss"] == server.issuer and claims["aud"] == "ciba-process"
            assert claims["SubjectNameID"] == national_id
            assert claims["authMode"] == "MOBILE" and claims["acr"] == "eidas1"
            assert claims["amr"] == ["swk", "pin", "mfa"] and claims["auth_time"] <= time.time()
            userinfo = rp.get(discovery["userinfo_endpoint"], timeout=10).json()
            assert userinfo["SubjectNameID"] == national_id
    finally:
        watcher.terminate()
        output = watcher.communicate(timeout=10)[0]
    assert output.count("approved") >= 2, output


def test_card_channel_with_the_cps_approve_command(server):
    _add_client(
        server, "ciba-card", backchannel_token_delivery_mode="poll", backchannel_polling_interval=0
    )
    national_id = "810000000004"  # no device, not auto-approved (demo directory)
    card_dir = server.home / "card"
    server.cli("cps", "issue-card", national_id, "--out", str(card_dir))
    rp = OAuth2Session("ciba-card", SECRET, token_endpoint_auth_method="client_secret_basic")
    endpoint = f"{server.issuer}/protocol/openid-connect"
    ack = _backchannel(
        rp,
        f"{endpoint}/ext/ciba/auth",
        {"scope": "openid", "login_hint": national_id, "channel": "CARD"},
    ).json()
    # "--": a base64url auth_req_id may begin with "-", which is not an option.
    card = str(card_dir)
    output = server.cli("cps", "approve", "--card", card, "--", ack["auth_req_id"]).stdout
    assert "approved" in output
    token = rp.fetch_token(f"{endpoint}/token", grant_type=CIBA, auth_req_id=ack["auth_req_id"])
    claims = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(requests.get(f"{endpoint}/certs", timeout=5).json()),
        algorithms=["RS256"],
    ).claims
    assert claims["authMode"] == "CARD" and claims["acr"] == "eidas3"


def test_ping_mode_across_workers(server):
    auto_id = _professional(server, auto_approve=True)
    with Receiver([204]) as receiver:
        _add_client(
            server,
            "ciba-ping",
            backchannel_token_delivery_mode="ping",
            backchannel_client_notification_endpoint=receiver.url,
        )
        rp = OAuth2Session("ciba-ping", SECRET, token_endpoint_auth_method="client_secret_basic")
        endpoint = f"{server.issuer}/protocol/openid-connect"
        ack = _backchannel(
            rp,
            f"{endpoint}/ext/ciba/auth",
            {"scope": "openid", "login_hint": auto_id, "client_notification_token": "tok-1"},
        ).json()
        [ping] = receiver.wait_for(1)
    assert ping["body"] == {"auth_req_id": ack["auth_req_id"]}
    assert ping["headers"]["Authorization"] == "Bearer tok-1"
    token = rp.fetch_token(f"{endpoint}/token", grant_type=CIBA, auth_req_id=ack["auth_req_id"])
    assert token["token_type"] == "Bearer"

"""The real thing for CIBA: ``santeid serve --workers 2`` on Redis, the e-CPS device simulator
(``santeid device watch --auto-approve``) approving in another process, and Authlib's
relying-party client driving poll mode over HTTP, the ID token checked against the JWKS.
Also the CARD channel with ``santeid cps approve`` and ping mode to a local receiver."""

from __future__ import annotations

import base64
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


#: Demo directory: no e-CPS device, not auto-approved; the CARD channel's professional.
CARD_HOLDER = "810000000004"


def _card_request(server, client_id: str) -> tuple[OAuth2Session, str, str]:
    """A CARD-channel request for :data:`CARD_HOLDER` by ``client_id``, registered in poll
    mode: the client, the OpenID Connect endpoints' URL and the ``auth_req_id``."""
    _add_client(
        server, client_id, backchannel_token_delivery_mode="poll", backchannel_polling_interval=0
    )
    rp = OAuth2Session(client_id, SECRET, token_endpoint_auth_method="client_secret_basic")
    endpoint = f"{server.issuer}/protocol/openid-connect"
    ack = _backchannel(
        rp,
        f"{endpoint}/ext/ciba/auth",
        {"scope": "openid", "login_hint": CARD_HOLDER, "channel": "CARD"},
    ).json()
    return rp, endpoint, ack["auth_req_id"]


def test_card_channel_with_the_cps_approve_command(server):
    card_dir = server.home / "card"
    server.cli("cps", "issue-card", CARD_HOLDER, "--out", str(card_dir))
    rp, endpoint, auth_req_id = _card_request(server, "ciba-card")
    # "--": a base64url auth_req_id may begin with "-", which is not an option.
    output = server.cli("cps", "approve", "--card", str(card_dir), "--", auth_req_id).stdout
    assert "approved" in output
    token = rp.fetch_token(f"{endpoint}/token", grant_type=CIBA, auth_req_id=auth_req_id)
    claims = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(requests.get(f"{endpoint}/certs", timeout=5).json()),
        algorithms=["RS256"],
    ).claims
    assert claims["authMode"] == "CARD" and claims["acr"] == "eidas3"


def test_refused_card_attempts_are_login_errors_and_the_request_stays_pending(server, tmp_path):
    """Each card the CARD channel refuses (expired, of another professional, of an authority
    no one trusts, a signature that does not verify) is a ``LOGIN_ERROR`` event with
    ``authMode`` ``CARD`` and its reason, as a card refused at the browser's card link; the
    request stays pending, and the professional's own card still approves it."""
    from santeid.pki import TestAuthority
    from santeid.pki import certificate_pem
    from santeid.pki import issue_certificate
    from santeid.pki import private_key_pem
    from santeid.pki import subject_name

    national_id = CARD_HOLDER
    cards = {name: tmp_path / name for name in ("own", "expired", "other", "untrusted")}
    server.cli("cps", "issue-card", national_id, "--out", str(cards["own"]))
    server.cli("cps", "issue-card", national_id, "--expired", "--out", str(cards["expired"]))
    server.cli("cps", "issue-card", _professional(server, auto_approve=True),
               "--out", str(cards["other"]))  # fmt: skip
    certificate, key = issue_certificate(
        TestAuthority.load_or_create(tmp_path, "look-alike", common_name="TEST AC CPS"),
        subject=subject_name(common_name=national_id, country="FR"),
    )
    cards["untrusted"].mkdir()
    (cards["untrusted"] / "cert.pem").write_bytes(certificate_pem(certificate))
    (cards["untrusted"] / "key.pem").write_bytes(private_key_pem(key))
    client_id = "ciba-card-refusals"
    rp, endpoint, auth_req_id = _card_request(server, client_id)
    for name in ("expired", "other", "untrusted"):
        refused = server.cli("cps", "approve", "--card", str(cards[name]), "--", auth_req_id,
                             check=False)  # fmt: skip
        assert refused.returncode == 1 and "403" in refused.stderr, (name, refused.stderr)
    # The professional's own card, but a signature over something else.
    card_url = f"{endpoint}/ext/ciba/card/{auth_req_id}"
    bad_signature = requests.post(card_url, timeout=10, json={
        "certificate": (cards["own"] / "cert.pem").read_text(),
        "signature": base64.urlsafe_b64encode(b"\x01" * 256).rstrip(b"=").decode(),
    })  # fmt: skip
    assert bad_signature.status_code == 403, bad_signature.text
    assert bad_signature.json()["error"] == "invalid_signature"

    listed = server.cli("events", "list", "--client", client_id, "--type", "LOGIN_ERROR", "--json")
    events = json.loads(listed.stdout)[::-1]  # oldest first
    assert [e["reason"] for e in events] == [
        "expired",
        "wrong_card",
        "untrusted_issuer",
        "invalid_signature",
    ], events
    for event in events:
        assert (event["auth_mode"], event["professional"]) == ("CARD", national_id), event
        assert event["source"] == "127.0.0.1" and event["request_id"], event

    pending = rp.post(f"{endpoint}/token", withhold_token=True, timeout=10,
                      auth=rp.client_auth("client_secret_basic"),
                      data={"grant_type": CIBA, "auth_req_id": auth_req_id})  # fmt: skip
    assert pending.json()["error"] == "authorization_pending", pending.text
    approved = server.cli("cps", "approve", "--card", str(cards["own"]), "--", auth_req_id)
    assert "approved" in approved.stdout
    token = rp.fetch_token(f"{endpoint}/token", grant_type=CIBA, auth_req_id=auth_req_id)
    assert token["token_type"] == "Bearer"


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

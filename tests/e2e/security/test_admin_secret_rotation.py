"""A new secret from the admin console changes the secret and nothing else, on a real server:
a client registered under rules that no longer hold — here in sandbox mode, with a back-channel
logout URI on this machine, which a production server refuses to register — gets its new
secret when the same data folder is served outside sandbox mode, instead of a 500
(docs/operations.md, "Admin console"; docs/endpoints.md, "Client metadata")."""

from __future__ import annotations

import json

import pytest
import requests

from santeid.ecps.pin import PinHasher
from tests.support.security import admin_signed_in
from tests.support.security import csrf_token
from tests.support.servers import production_process
from tests.support.servers import santeid_home

pytestmark = [pytest.mark.server]

ADMIN_PASSWORD = "the-admin-password-of-the-rotation-tests"
CLIENT = {
    "client_id": "rp-sandbox-era",
    "client_secret": "the-sandbox-era-secret-0123456789",
    "redirect_uris": ["https://rp.example.org/callback"],
    # Accepted in sandbox mode only: the SSRF guard refuses this machine outside it.
    "backchannel_logout_uri": "http://127.0.0.1:9/backchannel-logout",
}


def test_a_new_secret_for_a_client_that_todays_rules_would_refuse(tmp_path):
    santeid_home(tmp_path).add_client(CLIENT)  # registered by a sandbox
    with production_process(
        tmp_path, SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD)
    ) as server:
        before = json.loads(server.cli("clients", "list", "--json").stdout)
        admin = admin_signed_in(server.base, ADMIN_PASSWORD)
        page = admin.get(f"{server.base}/admin/clients", timeout=10)
        rotated = admin.post(f"{server.base}/admin/clients/rotate", timeout=10,
                             data={"csrf_token": csrf_token(page.text),
                                   "client_id": CLIENT["client_id"]})  # fmt: skip
        assert rotated.status_code == 200, rotated.text[:500]
        secret = rotated.text.split('id="new-secret">', 1)[1].split("<", 1)[0]
        for given, authenticated in ((secret, True), (CLIENT["client_secret"], False)):
            answer = requests.post(f"{server.oidc}/token", timeout=10, data={
                "grant_type": "authorization_code", "code": "made-up",
                "redirect_uri": CLIENT["redirect_uris"][0],
                "client_id": CLIENT["client_id"], "client_secret": given})  # fmt: skip
            assert (answer.json()["error"] == "invalid_grant") is authenticated, answer.text
        # Nothing else changed.
        assert json.loads(server.cli("clients", "list", "--json").stdout) == before

"""Refresh tokens against a real server: whoever holds one (a service, or someone who stole it)
cannot keep a session alive past ``sso_max_lifetime`` by refreshing it again and again, and
the last access token stops at the same instant — as Keycloak's tokens end with their user
session (docs/reference/keycloak-behaviour.md, "Refresh tokens")."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.operations import CLIENT
from tests.support.operations import CLIENT_ID
from tests.support.operations import SECRET
from tests.support.operations import full_login
from tests.support.operations import sandbox_professional
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

#: The session's maximum in this server, in seconds.
MAX_LIFETIME = 5


def _refresh(server, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{server.oidc}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(CLIENT_ID, SECRET),
        timeout=10,
    )


def test_refreshing_again_and_again_does_not_outlive_the_session(tmp_path):
    with santeid_process(
        tmp_path, clients=[CLIENT], SANTEID_SSO_MAX_LIFETIME=str(MAX_LIFETIME)
    ) as server:
        tokens = full_login(server.issuer, sandbox_professional(server.env))
        ends = time.time() + MAX_LIFETIME
        assert tokens["refresh_expires_in"] <= MAX_LIFETIME
        refreshes = 0
        while True:
            response = _refresh(server, tokens["refresh_token"])
            if response.status_code != 200:
                break
            tokens = response.json()
            refreshes += 1
            assert tokens["refresh_expires_in"] <= max(0, ends - time.time()) + 1
            assert time.time() < ends + 2, "a refresh succeeded after the session's end"
            time.sleep(0.5)
        assert refreshes >= 3  # the holder did refresh while the session lasted
        assert time.time() >= ends - 1
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        userinfo = requests.get(
            f"{server.oidc}/userinfo",
            headers={"Authorization": "Bearer " + tokens["access_token"]},
            timeout=10,
        )
        assert userinfo.status_code == 401

"""Keycloak's realm endpoints other than the protocol's (docs/reference/keycloak-behaviour.md,
"Realm endpoints"), through the app's HTTP interface."""

from __future__ import annotations

import pytest

from tests.support.oidc_flow import register_client

REALM = "/auth/realms/esante-wallet"


@pytest.mark.parametrize("client_id", ["an-unknown-client", "registered"])
def test_the_client_redirect_endpoint_answers_no_content(app, client, client_id):
    """``GET {realm}/clients/{client_id}/redirect`` (``RealmsResource.getRedirect``) sends the
    browser to a client's root or base URL; for a client Keycloak does not know, or one with
    neither, the method returns ``null``: 204 and no body. A client without ``client_uri`` (its
    "Home URL") has neither."""
    register_client(app, client_id="registered")
    answer = client.get(f"{REALM}/clients/{client_id}/redirect")
    assert answer.status_code == 204
    assert answer.data == b""
    assert "Location" not in answer.headers
    assert "Content-Type" not in answer.headers  # no content, of no type


@pytest.mark.parametrize(
    ("client_uri", "location"),
    [
        ("https://service.example.org/accueil", "https://service.example.org/accueil"),
        # A path, as Keycloak resolves a relative base URL against the server's root.
        ("/mon-service", "http://localhost/mon-service"),
    ],
)
def test_the_client_redirect_endpoint_sends_the_browser_home(app, client, client_uri, location):
    """A client with a home page (``client_uri``, Keycloak's "Home URL" or base URL) is sent
    there with 303 (``ClientRedirectTest.testRedirectStatusCode``,
    https://github.com/keycloak/keycloak/blob/56a7df8a566927b1c87ca8fb5bdc603cc289361f/tests/base/src/test/java/org/keycloak/tests/client/ClientRedirectTest.java)."""
    register_client(app, client_id="with-home", client_uri=client_uri)
    answer = client.get(f"{REALM}/clients/with-home/redirect")
    assert answer.status_code == 303
    assert answer.headers["Location"] == location


def test_the_client_redirect_endpoint_of_another_realm(client):
    answer = client.get("/auth/realms/other/clients/x/redirect")
    assert answer.status_code == 404
    assert answer.json == {"error": "Realm does not exist"}

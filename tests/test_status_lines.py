"""The reason phrase of every status line is HTTP's own ("401 Unauthorized", "404 Not Found"),
as Keycloak's server writes it, not Werkzeug's upper-cased one ("401 UNAUTHORIZED"): clients
log it (LemonLDAP::NG's "Bad token response: Unauthorized"), RFC 9110 §15
(https://www.rfc-editor.org/rfc/rfc9110#section-15) names each code's phrase."""

from __future__ import annotations

from http import HTTPStatus

import pytest


@pytest.mark.parametrize(
    ("method", "path", "data", "code"),
    [
        # Keycloak's 401 for a client it does not know (docs/psc-integration.md §5.1).
        ("POST", "/auth/realms/esante-wallet/protocol/openid-connect/token",
         {"grant_type": "authorization_code", "client_id": "nobody", "client_secret": "x",
          "code": "x"}, 401),
        ("GET", "/auth/realms/esante-wallet/no-such-page", None, 404),
        ("GET", "/auth/realms/esante-wallet/.well-known/openid-configuration", None, 200),
        ("DELETE", "/auth/realms/esante-wallet/.well-known/openid-configuration", None, 405),
    ],
)  # fmt: skip
def test_the_status_line_has_http_s_reason_phrase(client, method, path, data, code):
    response = client.open(path, method=method, data=data)
    assert response.status == f"{code} {HTTPStatus(code).phrase}"

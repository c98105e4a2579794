"""Client authentication against a real ``santeid serve`` process under each policy,
``client_authentication = "keycloak"`` (the default) and ``"strict"``
(docs/configuration.md; docs/reference/keycloak-behaviour.md, "Client authentication").

* HTTP Basic credentials are read one way under both policies: each part form-decoded after
  Base64, as RFC 6749 §2.3.1 has clients encode them (openid-client does: a space becomes
  ``+``, a ``+`` ``%2B``).
"""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
import requests

from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CIBA = "urn:openid:params:grant-type:ciba"
#: A secret with a space, a plus and a percent sign: three characters form-encoding changes.
SPACED_SECRET = "a secret with+plus and 100% space-0123456789"  # noqa: S105 - a test secret


def _clients() -> list[dict]:
    grants = {
        "redirect_uris": ["http://127.0.0.1:8000/callback"],
        "grant_types": ["client_credentials", "authorization_code", CIBA],
        "backchannel_token_delivery_mode": "poll",
    }
    return [
        {"client_id": "spaced-secret", "client_secret": SPACED_SECRET,
         "token_endpoint_auth_method": "client_secret_basic", **grants},
    ]  # fmt: skip


@pytest.fixture(scope="module", params=["keycloak", "strict"])
def server(request, tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp(f"client-auth-{request.param}"),
        clients=_clients(),
        SANTEID_CLIENT_AUTHENTICATION=request.param,
    ) as process:
        yield process


def _basic(client_id: str, secret: str, encode) -> dict:
    credentials = f"{encode(client_id)}:{encode(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: quote_plus(text, safe=""), id="form-encoded"),  # openid-client
        pytest.param(lambda text: text.replace("%", "%25").replace("+", "%2B"), id="percent-only"),
    ],
)
@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/token", {"grant_type": "client_credentials"}),
        ("/token/introspect", {"token": "x"}),
        ("/ext/ciba/auth", {"scope": "openid", "login_hint": "810000000030"}),
    ],
    ids=["token", "introspection", "ciba"],
)
def test_basic_credentials_are_form_decoded_under_both_policies(server, encode, path, form):
    """RFC 6749 §2.3.1: the client form-encodes its id and secret, then Base64; the server
    decodes both (Keycloak's ``BasicAuthHelper.RFC6749.parseHeader``). The strict policy read
    them with Authlib's ``%XX``-only decoding: openid-client's ``+`` stayed a ``+`` and the
    secret was refused."""
    response = requests.post(server.oidc + path, data=form,
                             headers=_basic("spaced-secret", SPACED_SECRET, encode),
                             timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text

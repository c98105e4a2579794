"""A refresh token of a client registered with ``tls_client_certificate_bound_access_tokens``
(RFC 8705 §3.4, Keycloak's "OAuth 2.0 Mutual TLS Certificate Bound Access Tokens Enabled") is
bound to the certificate of the token request that got it, as Keycloak binds it: a refresh over
another certificate is refused (RFC 8705 §4 for public clients, whose refresh token is all a
thief needs; Keycloak's ``TokenManager.verifyRefreshToken``, docs/psc-integration.md §5.2).

Against a real ``santeid serve`` over HTTPS asking for client certificates: an attacker holding
a stolen refresh token and any certificate the TLS layer accepts — here another one of the same
establishment authority — gets no token, for a public client and for a secret one; switching
the binding on for a client binds the tokens its earlier, unbound refresh token gets, and a
refresh token once bound stays bound when the switch is turned off again (docs/psc-integration.md
§5.2). The refresh-token logout verifies the token as a refresh does, and CIBA's push mode,
with no token request, binds the pushed tokens to the certificate of the back-channel
authentication request (docs/ciba.md, "Push mode"). The access token, bound alike, stands for
no caller of the UMA grant without its certificate (RFC 8705 §3). The revocation endpoint, as
Keycloak's, revokes a bound token of the authenticated client without its certificate.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conformance.test_tokens_and_mtls import REDIRECT_URI
from tests.e2e.conformance.test_tokens_and_mtls import _authorization_code
from tests.e2e.conformance.test_tokens_and_mtls import _decode_unverified
from tests.e2e.conformance.test_tokens_and_mtls import _discovery
from tests.e2e.conformance.test_tokens_and_mtls import _pkce
from tests.e2e.conformance.test_tokens_and_mtls import _serve
from tests.e2e.conformance.test_tokens_and_mtls import _thumbprint
from tests.e2e.conformance.test_tokens_and_mtls import _tls
from tests.support.ciba import CIBA_GRANT
from tests.support.ciba import Receiver
from tests.support.servers import establishment_certificates
from tests.support.servers import santeid_home

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-bound-refresh-test-0123456789"
#: Keycloak's refusal of a refresh whose certificate is missing or not the refresh token's.
CERTIFICATE_MISMATCH = (
    "Client certificate missing, or its thumbprint and one in the refresh token did NOT match"
)
GRANTS = ["authorization_code", "refresh_token"]


def _home(tmp_path_factory, name: str, **settings: str) -> dict:
    """Keys, the demo directory, a server certificate, an establishment authority and two of
    its certificates (the client's, ``machine``, and the thief's, ``other``), the clients."""
    prepared = santeid_home(tmp_path_factory.mktemp(name), **settings)
    path = prepared.home
    prepared.cli("directory", "seed-demo")
    prepared.cli("tls", "dev-cert", "--out", str(path / "tls"))
    establishment_certificates(
        path,
        {folder: (folder, "Etablissement") for folder in ("machine", "other")},
        authority="rp-ca",
    )
    listed = json.loads(prepared.cli("directory", "list", "--sandbox", "--json").stdout)
    return {"path": path, "national_id": listed[0]["national_id"], "prepared": prepared}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    made = _home(tmp_path_factory, "bound-refresh")
    prepared = made["prepared"]
    prepared.register(
        "rp-public-bound",
        redirect_uris=[REDIRECT_URI],
        grant_types=GRANTS,
        token_endpoint_auth_method="none",
        tls_client_certificate_bound_access_tokens=True,
    )
    prepared.register(
        "rp-secret-bound",
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        grant_types=GRANTS,
        token_endpoint_auth_method="client_secret_basic",
        tls_client_certificate_bound_access_tokens=True,
    )
    return made


@pytest.fixture(scope="module")
def server(home):
    yield from _serve(home, "bound-refresh")


def _client(client_id: str) -> dict:
    """What the client sends to authenticate: its id alone (public) or its secret."""
    if client_id == "rp-secret-bound":
        return {"data": {}, "auth": (client_id, SECRET)}
    return {"data": {"client_id": client_id}}


def _tokens(server, client_id: str, folder: str) -> dict:
    """A login of ``client_id`` whose code is redeemed over the certificate of ``folder``."""
    verifier, challenge = _pkce()
    code = _authorization_code(server, client_id, challenge)
    client = _client(client_id)
    response = _tls(server, folder).post(
        _discovery(server)["mtls_endpoint_aliases"]["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
              "code_verifier": verifier, **client["data"]},
        auth=client.get("auth"), timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(server, client_id: str, refresh_token: str, folder: str | None):
    client = _client(client_id)
    return _tls(server, folder).post(
        _discovery(server)["mtls_endpoint_aliases"]["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **client["data"]},
        auth=client.get("auth"),
        timeout=10,
    )


def _refused(answer) -> None:
    assert answer.status_code == 401, (answer.status_code, answer.text)
    assert (answer.status_code, answer.json()) == (401, {
        "error": "unauthorized_client", "error_description": CERTIFICATE_MISMATCH})  # fmt: skip


@pytest.mark.parametrize("client_id", ["rp-public-bound", "rp-secret-bound"])
def test_a_stolen_refresh_token_is_refused_over_another_certificate(server, client_id):
    tokens = _tokens(server, client_id, "machine")
    # The thief's certificate, which the TLS layer accepts, and none at all.
    _refused(_refresh(server, client_id, tokens["refresh_token"], "other"))
    _refused(_refresh(server, client_id, tokens["refresh_token"], None))
    bound = {"x5t#S256": _thumbprint(server["home"] / "machine")}
    assert _decode_unverified(tokens["refresh_token"])[1]["cnf"] == bound

    # The client's own certificate: new tokens, the new refresh token bound again.
    renewed = _refresh(server, client_id, tokens["refresh_token"], "machine")
    assert renewed.status_code == 200, renewed.text
    for name in ("access_token", "refresh_token"):
        assert _decode_unverified(renewed.json()[name])[1]["cnf"] == bound
    _refused(_refresh(server, client_id, renewed.json()["refresh_token"], "other"))


def _uma(server, access_token: str, folder: str | None):
    """The UMA grant with the access token as its caller (python-keycloak's
    ``uma_permissions()``), over the certificate of ``folder`` or none."""
    return _tls(server, folder).post(
        _discovery(server)["mtls_endpoint_aliases"]["token_endpoint"],
        data={"grant_type": "urn:ietf:params:oauth:grant-type:uma-ticket",
              "audience": "rp-secret-bound"},
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )  # fmt: skip


@pytest.mark.parametrize("client_id", ["rp-public-bound", "rp-secret-bound"])
def test_a_bound_access_token_stands_for_no_caller_of_the_uma_grant_without_its_certificate(
    server, client_id
):
    """RFC 8705 §3: a bound access token is presented with its certificate, at the UMA grant
    as at every resource (the token endpoint takes it as its caller): without it, or over
    another one, it is a token that does not verify, 401 ``invalid_grant`` — not the
    resource server's answer, which tells a thief the token is live and which client ids
    exist (docs/security.md)."""
    access_token = _tokens(server, client_id, "machine")["access_token"]
    no_caller = {"error": "invalid_grant", "error_description": "Invalid bearer token"}
    for folder in ("other", None):
        answer = _uma(server, access_token, folder)
        assert (answer.status_code, answer.json()) == (401, no_caller), folder
    answer = _uma(server, access_token, "machine")
    no_permissions = "Client does not support permissions"
    assert (answer.status_code, answer.json()) == (400, {
        "error": "invalid_request", "error_description": no_permissions})  # fmt: skip


def _register(home, client_id: str, *, bound: bool) -> None:
    """``santeid clients add --replace``: the operator turns the switch on or off."""
    prepared = home["prepared"]
    document = {
        "client_id": client_id,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": GRANTS,
        "token_endpoint_auth_method": "none",
        "tls_client_certificate_bound_access_tokens": bound,
    }
    path = home["path"] / f"{client_id}.json"
    path.write_text(json.dumps(document))
    prepared.cli("clients", "add", "--replace", str(path))


def test_switching_the_binding_on_or_off_unbinds_no_refresh_token(home, server):
    machine = {"x5t#S256": _thumbprint(server["home"] / "machine")}
    _register(home, "rp-switched", bound=False)
    unbound = _tokens(server, "rp-switched", "machine")["refresh_token"]
    assert "cnf" not in _decode_unverified(unbound)[1]
    _register(home, "rp-switched", bound=True)
    # Switched on: the earlier refresh token needs a certificate, and binds what it gets to it.
    _refused(_refresh(server, "rp-switched", unbound, None))
    switched = _refresh(server, "rp-switched", unbound, "machine")
    assert switched.status_code == 200, switched.text
    bound = switched.json()["refresh_token"]
    assert _decode_unverified(bound)[1]["cnf"] == machine

    _register(home, "rp-switched", bound=False)
    # Bound once, bound for good: the switch turned off lets no other certificate in, and the
    # tokens of its own stay bound.
    _refused(_refresh(server, "rp-switched", bound, "other"))
    _refused(_refresh(server, "rp-switched", bound, None))
    renewed = _refresh(server, "rp-switched", bound, "machine")
    assert renewed.status_code == 200, renewed.text
    for name in ("access_token", "refresh_token"):
        assert _decode_unverified(renewed.json()[name])[1]["cnf"] == machine


def _logout(server, client_id: str, refresh_token: str, folder: str | None):
    """Keycloak's refresh-token logout (``POST …/logout``), on the listener asking for
    certificates."""
    token_endpoint = _discovery(server)["mtls_endpoint_aliases"]["token_endpoint"]
    client = _client(client_id)
    return _tls(server, folder).post(
        token_endpoint.removesuffix("/token") + "/logout",
        data={"refresh_token": refresh_token, **client["data"]},
        auth=client.get("auth"),
        timeout=10,
    )


@pytest.mark.parametrize("client_id", ["rp-public-bound", "rp-secret-bound"])
def test_a_stolen_refresh_token_ends_no_session_over_another_certificate(server, client_id):
    """Keycloak's ``LogoutEndpoint.logoutToken`` verifies the refresh token as a refresh does
    (``TokenManager.verifyRefreshToken``): the same 401 without its certificate."""
    tokens = _tokens(server, client_id, "machine")
    _refused(_logout(server, client_id, tokens["refresh_token"], "other"))
    _refused(_logout(server, client_id, tokens["refresh_token"], None))
    # The professional's session is still there: the client's own refresh works.
    assert _refresh(server, client_id, tokens["refresh_token"], "machine").status_code == 200
    ended = _logout(server, client_id, tokens["refresh_token"], "machine")
    assert ended.status_code == 204, ended.text
    assert _refresh(server, client_id, tokens["refresh_token"], "machine").status_code == 400


@pytest.fixture(scope="module")
def push_server(tmp_path_factory):
    """CIBA's push mode offered (``ciba_push_enabled``), to the command line too."""
    made = _home(tmp_path_factory, "bound-push", SANTEID_CIBA_PUSH_ENABLED="true")
    for server in _serve(made, "bound-push", SANTEID_CIBA_PUSH_ENABLED="true"):
        yield {**server, "prepared": made["prepared"]}


def test_tokens_pushed_to_a_bound_client_are_bound_to_its_request_s_certificate(push_server):
    """CIBA's push mode delivers the tokens to the client's notification endpoint, with no
    token request: they are bound to the certificate of the back-channel authentication
    request that asked for them, which a client whose tokens are bound must present there
    (Keycloak offers no push mode; its poll and ping grants refuse a token request without
    the certificate, 400 ``invalid_request``)."""
    server = push_server
    backchannel = _discovery(server)["mtls_endpoint_aliases"]["backchannel_authentication_endpoint"]
    with Receiver([204]) as receiver:
        server["prepared"].register(
            "rp-push-bound",
            client_secret=SECRET,
            grant_types=[CIBA_GRANT, "refresh_token"],
            token_endpoint_auth_method="client_secret_basic",
            backchannel_token_delivery_mode="push",
            backchannel_client_notification_endpoint=receiver.url,
            tls_client_certificate_bound_access_tokens=True,
        )
        request = {"scope": "openid scope_all", "binding_message": "42",
                   "login_hint": server["national_id"],
                   "client_notification_token": "notification-token-0123456789"}  # fmt: skip
        auth = ("rp-push-bound", SECRET)
        alone = _tls(server, None).post(backchannel, data=request, auth=auth, timeout=10)
        assert (alone.status_code, alone.json()) == (400, {
            "error": "invalid_request",
            "error_description": "Client Certification missing for MTLS HoK Token Binding",
        })  # fmt: skip
        started = _tls(server, "machine").post(backchannel, data=request, auth=auth, timeout=10)
        assert started.status_code == 200, started.text
        pushed = receiver.wait_for(1, timeout=30)[0]["body"]
    bound = {"x5t#S256": _thumbprint(server["home"] / "machine")}
    for name in ("access_token", "refresh_token"):
        assert _decode_unverified(pushed[name])[1].get("cnf") == bound, name
    userinfo = _discovery(server)["mtls_endpoint_aliases"]["userinfo_endpoint"]
    bearer = {"Authorization": f"Bearer {pushed['access_token']}"}
    assert _tls(server, "other").get(userinfo, headers=bearer, timeout=10).status_code == 401
    assert _tls(server, "machine").get(userinfo, headers=bearer, timeout=10).status_code == 200


def _revoke(server, client_id: str, token: str, folder: str | None):
    client = _client(client_id)
    return _tls(server, folder).post(
        _discovery(server)["mtls_endpoint_aliases"]["revocation_endpoint"],
        data={"token": token, **client["data"]},
        auth=client.get("auth"),
        timeout=10,
    )


@pytest.mark.parametrize("client_id", ["rp-public-bound", "rp-secret-bound"])
def test_a_bound_token_is_revoked_without_its_certificate(server, client_id):
    """Keycloak's ``TokenRevocationEndpoint.revoke`` authenticates the client, then checks the
    token (``checkToken``), its client (``checkIssuedFor``) and its session (``checkUser``),
    never its ``cnf``: the client revokes a bound token without presenting the certificate,
    the empty 200, and the token is dead for the certificate's holder too."""
    tokens = _tokens(server, client_id, "machine")
    revoked = _revoke(server, client_id, tokens["access_token"], None)
    assert (revoked.status_code, revoked.text) == (200, "")
    no_caller = {"error": "invalid_grant", "error_description": "Invalid bearer token"}
    answer = _uma(server, tokens["access_token"], "machine")
    assert (answer.status_code, answer.json()) == (401, no_caller)

    revoked = _revoke(server, client_id, tokens["refresh_token"], None)
    assert (revoked.status_code, revoked.text) == (200, "")
    refused = _refresh(server, client_id, tokens["refresh_token"], "machine")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_grant"

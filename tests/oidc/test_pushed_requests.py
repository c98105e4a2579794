"""Pushed authorization requests (RFC 9126) are used once, and only by the client that pushed
them: a ``request_uri`` presented with another ``client_id`` is refused *without* being used up
(``docs/security.md``, "Pushed authorization requests")."""

from __future__ import annotations

from santeid.oidc.request_objects import PAR_URN_PREFIX
from tests.support.concurrency import race
from tests.support.oidc_flow import CLIENT_SECRET
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import REDIRECT_URI
from tests.support.oidc_flow import basic_auth
from tests.support.oidc_flow import register_client


def _push(http) -> str:
    pushed = http.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI},
        headers=basic_auth("service-test", CLIENT_SECRET),
    )
    assert pushed.status_code == 201, pushed.get_json()
    return pushed.get_json()["request_uri"]


def _use(http, request_uri: str, client_id: str = "service-test"):
    query = {"client_id": client_id, "request_uri": request_uri}
    return http.get(f"{OIDC}/auth", query_string=query)


def test_another_client_id_does_not_use_up_the_request_uri(app, client):
    register_client(app)
    register_client(app, client_id="service-other")
    request_uri = _push(client)
    for other in ("service-other", "unknown-client", ""):
        refused = _use(client, request_uri, other)
        assert refused.status_code == 400
        assert "request_uri was pushed by another client" in refused.get_data(as_text=True)
    # Still there for the client that pushed it, then used.
    record = app.extensions["santeid"].store.get("par:" + request_uri[len(PAR_URN_PREFIX) :])
    assert record is not None and record["state"] == "pushed"
    used = _use(client, request_uri)
    assert used.status_code == 302 and "/login-actions/" in used.headers["Location"]
    again = _use(client, request_uri)
    assert again.status_code == 400
    assert "request_uri is unknown or expired" in again.get_data(as_text=True)


def test_racing_uses_of_one_request_uri_let_one_through(app, client):
    register_client(app)
    request_uri = _push(client)

    def use(_: int) -> int:
        return _use(app.test_client(), request_uri).status_code

    statuses = race(use, threads=8)
    assert sorted(statuses) == [302] + [400] * 7

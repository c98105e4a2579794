"""The provider's short-lived records expire by their own ``expires_at`` and the clock of their
book (``docs/storage.md``, "Records"), not by the store's TTL: each test moves a
:class:`~santeid.clock.ManualClock` while the store, on its own clock, still holds the record.
"""

from __future__ import annotations

import pytest

from santeid.clock import ManualClock
from santeid.oidc.authentication import Authentication
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import error_detail
from tests.support.oidc_flow import register_client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_a_code_past_its_lifetime_is_invalid_grant_while_the_store_still_holds_it(app, clock):
    svc = app.extensions["santeid"]
    svc.tokens.codes.clock = clock
    flow = Flow(app, app.test_client(), register_client(app))
    code = flow.obtain_code()["code"]
    clock.advance(svc.settings.oidc.authorization_code_lifetime)
    assert svc.store.get(svc.tokens.codes.key(code)) is not None
    response = flow.token(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_a_login_transaction_past_its_lifetime_is_gone(app, clock):
    svc = app.extensions["santeid"]
    svc.transactions.book.clock = clock
    txid = svc.transactions.create(client_id="c", client_name="C", areq={}, bid="b")
    clock.advance(svc.settings.login.transaction_lifetime - 1)
    assert svc.transactions.get(txid)["state"] == "identify"
    clock.advance(1)
    assert svc.transactions.get(txid) is None
    assert svc.transactions.move(txid, "identify", {"state": "waiting"}) is None


def test_an_sso_session_slides_by_the_clock(app, clock):
    svc = app.extensions["santeid"]
    svc.sessions.book.clock = clock
    svc.sessions.clock = clock
    idle = svc.settings.login.sso_idle_timeout
    auth = svc.sessions.open(Authentication("810000000001", int(clock()), "eidas1", "X", ["x"]))
    clock.advance(idle - 1)
    assert svc.sessions.get(auth.sid) is not None  # used: the idle timeout starts again
    clock.advance(idle - 1)
    assert svc.sessions.exists(auth.sid)
    clock.advance(1)
    assert not svc.sessions.exists(auth.sid)


def test_a_pushed_request_past_its_lifetime_is_an_invalid_request_uri(settings, clock, caplog):
    """RFC 9126 §2.2: a ``request_uri`` is usable until its ``expires_in`` — by the app's clock,
    the one ``create_services`` hands to every service (the store, on the real clock, still
    holds the record)."""
    from santeid import create_app
    from santeid.storage import MemoryStore
    from tests.support.oidc_flow import OIDC
    from tests.support.oidc_flow import REDIRECT_URI
    from tests.support.oidc_flow import basic_auth

    clocked_app = create_app(settings, store=MemoryStore(), clock=clock)
    client = register_client(clocked_app)
    http = clocked_app.test_client()
    pushed = http.post(
        f"{OIDC}/ext/par/request",
        data={"response_type": "code", "scope": "openid", "redirect_uri": REDIRECT_URI},
        headers=basic_auth(client["client_id"], client["client_secret"]),
    )
    assert pushed.status_code == 201, pushed.get_json()
    body = pushed.get_json()
    query = {"client_id": client["client_id"], "request_uri": body["request_uri"]}
    clock.advance(body["expires_in"])
    expired = http.get(f"{OIDC}/auth", query_string=query)
    assert expired.status_code == 400
    assert error_detail(expired) == "Requête invalide"  # Keycloak's page
    assert "(invalid_request_uri): request_uri is unknown or expired" in caplog.text

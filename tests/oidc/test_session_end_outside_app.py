"""Ending an SSO session outside any web request or application (``santeid sessions logout``
runs on the services alone): tokens revoked, session closed, LOGOUT event written, clients
notified by back-channel logout — once."""

from __future__ import annotations

import pytest

from santeid.observability import events
from santeid.oidc import backchannel_logout
from santeid.oidc.session_end import end_session
from santeid.oidc.tokens import TokenError
from tests.support.oidc_flow import register_client


def test_a_session_ends_on_the_services_alone(app, client, flow, monkeypatch):
    register_client(app, backchannel_logout_uri="http://127.0.0.1:9/logout")
    tokens = flow.full_login()
    sid = tokens["session_state"]
    svc = app.extensions["santeid"]
    svc.tokens.verify_access_token(tokens["access_token"])
    sent = []
    monkeypatch.setattr(
        backchannel_logout, "notify", lambda svc, clients, **kw: sent.append((clients, kw))
    )

    participants = end_session(svc, sid)  # no application context

    assert [c.client_id for c in participants] == ["service-test"]
    assert not svc.sessions.exists(sid)
    with pytest.raises(TokenError):
        svc.tokens.verify_access_token(tokens["access_token"])
    ((clients, claims),) = sent
    assert [c.client_id for c in clients] == ["service-test"]
    assert claims["sid"] == sid
    (logout,) = svc.events.list(types=(events.LOGOUT,))
    assert logout.professional and logout.source is None
    # A session ends once: a second end notifies no one.
    end_session(svc, sid)
    assert len(sent) == 1
    assert len(svc.events.list(types=(events.LOGOUT,))) == 1

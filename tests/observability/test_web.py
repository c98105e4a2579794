"""Operator endpoints and events inside the application: the ``/metrics`` allow-list, the
request id, and the events a browser login writes."""

from __future__ import annotations

import pytest

from santeid import create_app
from santeid.observability.events import LOGIN
from santeid.observability.events import LOGIN_ERROR
from santeid.settings import ConfigurationError
from santeid.settings import validate
from santeid.storage import MemoryStore


def test_metrics_answer_loopback_only_by_default(client):
    assert client.get("/metrics").status_code == 200
    far = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert far.status_code == 404


def test_metrics_allow_list_is_a_setting(settings):
    app = create_app(settings.replace(metrics_allowed_addresses="10.0.0.0/8"), store=MemoryStore())
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.3.4"}).status_code == 200
    assert client.get("/metrics").status_code == 404  # loopback no longer listed
    closed = create_app(settings.replace(metrics_allowed_addresses=""), store=MemoryStore())
    assert closed.test_client().get("/metrics").status_code == 404


def test_metrics_behind_a_trusted_proxy_judge_the_client_it_forwards(settings):
    """The test client's address, 127.0.0.1, is the trusted proxy: the allow-list judges the
    client it forwards in ``X-Forwarded-For``, never the proxy (docs/operations.md
    "Metrics")."""
    app = create_app(settings.replace(trusted_proxies="127.0.0.1"), store=MemoryStore())
    client = app.test_client()
    remote = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert remote.status_code == 404
    # The proxy appends the address it saw to what the client sent: the rightmost one counts.
    appended = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
    assert appended.status_code == 404
    local = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert local.status_code == 200
    # From a peer that is not a trusted proxy the header is not believed.
    forged = client.get(
        "/metrics",
        headers={"X-Forwarded-For": "127.0.0.1"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert forged.status_code == 404


def test_a_bad_allow_list_stops_the_start(settings):
    with pytest.raises(ConfigurationError, match="not-an-address"):
        validate(settings.replace(metrics_allowed_addresses="127.0.0.1, not-an-address"))
    with pytest.raises(ConfigurationError, match="log_format"):
        validate(settings.replace(log_format="xml"))


def test_request_id_is_kept_when_sane_and_replaced_otherwise(client):
    kept = client.get("/health/live", headers={"X-Request-Id": "lb-1234-abcd"})
    assert kept.headers["X-Request-Id"] == "lb-1234-abcd"
    replaced = client.get("/health/live", headers={"X-Request-Id": "x\u00e9<script>"})
    assert replaced.headers["X-Request-Id"] != "x\u00e9<script>"
    assert len(replaced.headers["X-Request-Id"]) == 32
    assert client.get("/health/live").headers["X-Request-Id"]


def test_a_login_and_a_refused_identifier_are_events(app, flow):
    flow.full_login()
    # prompt=login: the login page again, where an identifier no directory entry has is typed.
    login_url = flow.authorize(prompt="login").headers["Location"]
    page = flow.http.get(login_url).get_data(as_text=True)
    refused = flow.http.post(
        login_url, data={"national_id": "899999999990", "csrf_token": flow.csrf(page)}
    )
    assert refused.status_code == 400
    events = app.extensions["santeid"].events.list()
    types = [e.type for e in events]
    assert types[:2] == [LOGIN_ERROR, LOGIN]
    failed, success = events[0], events[1]
    assert failed.reason == "unknown_id" and failed.professional == "899999999990"
    assert success.auth_mode and success.client_id == flow.client["client_id"]
    assert success.source == "127.0.0.1" and success.request_id


def _sign_in_as_admin(client) -> None:
    import re

    page = client.get("/admin/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed_in = client.post(
        "/admin/login",
        data={"user": "admin", "password": "santeid-demo-admin", "csrf_token": csrf},
    )
    assert signed_in.status_code == 302


def _chart_total(client, chart: str, series: str) -> int:
    figures = client.get("/admin/dashboard.csv").get_data(as_text=True).splitlines()
    return sum(
        int(line.rsplit(",", 1)[1])
        for line in figures
        if line.startswith(f"{chart},") and line.rsplit(",", 2)[1] == series
    )


def test_a_code_from_the_sso_session_is_a_login_event_of_its_own_kind(app, client, flow):
    """Keycloak writes a ``LOGIN`` event for a login by its identity cookie (``SSOTest``,
    docs/reference/keycloak-behaviour.md, "Events of a login by SSO"): so does santeid, with
    the reason ``sso`` and the session's ``authMode``, counted apart from the logins that used
    a means — at the authorization endpoint and at a login page left open while another tab
    logged in. Neither is a login started, completed or an e-CPS approval."""
    from santeid.observability.events import SSO
    from santeid.observability.metrics import OWN_METRICS

    client_id = flow.client["client_id"]

    def sample(name: str, **labels) -> float:
        return OWN_METRICS.get_sample_value(name, {"client": client_id, **labels}) or 0

    left_open = flow.authorize(state="tab1").headers["Location"]
    assert flow.http.get(left_open).status_code == 200
    flow.full_login()
    (login,) = app.extensions["santeid"].events.list(types=(LOGIN,))
    assert login.reason is None
    before = {name: sample(name) for name in ("santeid_logins_started_total",
                                              "santeid_logins_sso_total")}  # fmt: skip
    completed = sample("santeid_logins_completed_total", auth_mode=login.auth_mode)

    assert flow.code_from(flow.authorize())["code"]  # the authorization endpoint answers
    assert flow.code_from(flow.http.get(left_open))["state"] == "tab1"  # the page left open

    newest = app.extensions["santeid"].events.list(types=(LOGIN,))
    assert len(newest) == 3
    for event in newest[:2]:
        assert (event.reason, event.client_id) == (SSO, client_id)
        assert (event.auth_mode, event.professional) == (login.auth_mode, login.professional)
        assert event.source == "127.0.0.1" and event.request_id
    assert sample("santeid_logins_sso_total") == before["santeid_logins_sso_total"] + 2
    assert sample("santeid_logins_started_total") == before["santeid_logins_started_total"]
    assert sample("santeid_logins_completed_total", auth_mode=login.auth_mode) == completed

    _sign_in_as_admin(client)
    assert _chart_total(client, "logins-mode", "SSO") == 2
    assert _chart_total(client, "logins-mode", login.auth_mode) == 1
    assert _chart_total(client, "logins-outcome", "success") == 1
    assert _chart_total(client, "ecps", "approved") == (1 if login.auth_mode == "MOBILE" else 0)


def test_events_record_the_client_a_trusted_proxy_forwards(settings):
    """An event's source address is the client the trusted proxy 127.0.0.1 (the test client's
    address) forwards, not the proxy; a forged header from anyone else is not believed."""
    import re

    from santeid.observability.events import ADMIN_LOGIN

    app = create_app(settings.replace(trusted_proxies="127.0.0.1"), store=MemoryStore())

    def wrong_password(forwarded_for: str, peer: str) -> None:
        client = app.test_client()
        request = {"headers": {"X-Forwarded-For": forwarded_for},
                   "environ_base": {"REMOTE_ADDR": peer}}  # fmt: skip
        page = client.get("/admin/login", **request).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = {"user": "admin", "password": "wrong", "csrf_token": csrf}
        assert client.post("/admin/login", data=form, **request).status_code == 401

    wrong_password("203.0.113.9", peer="127.0.0.1")
    wrong_password("127.0.0.1", peer="198.51.100.7")
    found = app.extensions["santeid"].events.list(types=(ADMIN_LOGIN,))
    assert [e.source for e in found][::-1] == ["203.0.113.9", "198.51.100.7"]


def test_an_expired_ecps_login_is_an_ecps_timeout_and_a_login_error(app):
    from santeid.observability import record
    from santeid.observability.metrics import OWN_METRICS

    labels = {"kind": "browser", "outcome": "timeout"}
    before = OWN_METRICS.get_sample_value("santeid_ecps_decisions_total", labels) or 0
    with app.test_request_context("/"):
        record.login_failed("rp-x", "expired", professional="810000000004")
    assert OWN_METRICS.get_sample_value("santeid_ecps_decisions_total", labels) == before + 1
    (event,) = app.extensions["santeid"].events.list(types=(LOGIN_ERROR,))
    assert (event.reason, event.client_id) == ("expired", "rp-x")


def test_latency_percentiles_come_from_the_duration_histogram(client):
    from santeid.observability.metrics import latency_percentiles

    before = latency_percentiles().get("health", (0, []))[0]
    for _ in range(3):
        client.get("/health/live")
    count, (p50, p95, p99) = latency_percentiles()["health"]
    assert count == before + 3
    assert 0 < p50 <= p95 <= p99 <= 30.0  # bucket bounds, in seconds


def test_a_ciba_login_approved_at_once_by_the_sandbox_is_on_the_dashboard(app, client):
    """The sandbox approves some professionals' CIBA requests as they are made: that decision is
    a CIBA outcome and a successful login like any other, in the events and on the dashboard."""
    import base64

    from santeid.observability.events import CIBA_OUTCOME

    secret = "ciba-dashboard-secret-0123456789"
    app.extensions["santeid"].clients.add(
        {
            "client_id": "ciba-dashboard",
            "client_secret": secret,
            "grant_types": ["urn:openid:params:grant-type:ciba"],
            "token_endpoint_auth_method": "client_secret_basic",
            "backchannel_token_delivery_mode": "poll",
        },
        replace=True,
    )
    basic = base64.b64encode(f"ciba-dashboard:{secret}".encode()).decode()
    started = client.post(
        "/auth/realms/esante-wallet/protocol/openid-connect/ext/ciba/auth",
        data={"scope": "openid", "login_hint": "810000000030", "binding_message": "A1"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert started.status_code == 200, started.get_json()
    (outcome,) = app.extensions["santeid"].events.list(types=(CIBA_OUTCOME,))
    assert (outcome.reason, outcome.auth_mode, outcome.client_id) == (
        "approved",
        "MOBILE",
        "ciba-dashboard",
    )

    _sign_in_as_admin(client)
    assert _chart_total(client, "logins-mode", "MOBILE") == 1
    assert _chart_total(client, "logins-outcome", "success") == 1
    assert _chart_total(client, "ciba", "approved") == 1


def test_the_access_record_reads_the_basic_client_id_as_client_authentication_does():
    """The client id of the access record is read from HTTP Basic as client authentication
    reads it (``client_auth.basic_credentials``, RFC 6749 §2.3.1 form decoding): an id a
    client form-encoded (``:`` as ``%3A``) is recorded as registered, not as sent."""
    import base64

    from santeid.observability.web import _environ_client_id

    sent = base64.b64encode(b"logiciel%3Aregion:the+secret").decode()
    assert _environ_client_id({"HTTP_AUTHORIZATION": f"Basic {sent}"}) == "logiciel:region"

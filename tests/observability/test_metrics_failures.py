"""Failure metrics provoked inside the application (the process test provokes the others): the
HTTPS requirement, a rate limit passed, and an authentication event the database refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from santeid import create_app
from santeid import rate_limits
from santeid.observability import events
from santeid.observability.metrics import OWN_METRICS
from santeid.storage import MemoryStore


def _count(name: str, **labels: str) -> float:
    return OWN_METRICS.get_sample_value(name, labels) or 0.0


def test_plain_http_to_an_https_issuer_is_a_counted_refusal(settings):
    app = create_app(
        settings.replace(issuer="https://id.example.org/auth/realms/esante-wallet"),
        store=MemoryStore(),
    )
    before = _count("santeid_refusals_total", reason="https_required")
    answer = app.test_client().get("/auth/realms/esante-wallet/.well-known/openid-configuration")
    assert answer.status_code == 403
    assert _count("santeid_refusals_total", reason="https_required") == before + 1


def test_a_hit_beyond_a_rate_limit_is_counted_under_the_limit_name():
    store = MemoryStore()
    reason = "rate_limit:ecps-push-address"
    before = _count("santeid_refusals_total", reason=reason)
    limit = rate_limits.Limit(rate_limits.ECPS_PUSH_ADDRESS, 2, 60)
    hits = [limit.hit(store, "198.51.100.7") for _ in range(3)]
    assert hits == [False, False, True]
    assert _count("santeid_refusals_total", reason=reason) == before + 1


def test_a_limit_refused_on_its_own_page_is_not_counted_as_a_refusal():
    """The offline code's limits answer on the login page ("locked"), not with a 429: their
    refusals are not ``santeid_refusals_total`` (docs/operations.md lists its reasons)."""
    store = MemoryStore()
    rule = rate_limits.ECPS_OFFLINE_CODE_PROFESSIONAL
    before = _count("santeid_refusals_total", reason=f"rate_limit:{rule.name}")
    limit = rate_limits.Limit(rule, 1, 60)
    assert [limit.hit(store, "810000000001") for _ in range(2)] == [False, True]
    assert _count("santeid_refusals_total", reason=f"rate_limit:{rule.name}") == before


def test_an_event_the_database_refuses_is_counted_and_the_request_goes_on(app, settings):
    labels = {"backend": "sqlite", "operation": "event_write"}
    with app.test_request_context("/"):
        events.record(events.LOGOUT, professional="810000000004")  # creates the table
    path = Path(settings.data_dir) / "events.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE auth_events")
    before = _count("santeid_database_errors_total", **labels)
    with app.test_request_context("/"):
        events.record(events.LOGOUT, professional="810000000004")  # logged, not raised
    assert _count("santeid_database_errors_total", **labels) == before + 1

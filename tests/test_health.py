"""The health endpoints inside the application: the probes answer over plain HTTP whatever the
issuer (docs/operations.md "Health endpoints"), and a failed readiness check says why in the
server log."""

from __future__ import annotations

import pytest

from santeid import create_app
from santeid.storage import MemoryStore

HTTPS_ISSUER = "https://id.example.org/auth/realms/esante-wallet"


@pytest.fixture
def https_client(settings):
    """The sandbox app with an ``https://`` issuer, called over plain HTTP from loopback (an
    orchestrator's probe sent straight to the pod's port)."""
    return create_app(settings.replace(issuer=HTTPS_ISSUER), store=MemoryStore()).test_client()


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready", "/metrics"])
def test_probes_and_metrics_answer_plain_http_with_an_https_issuer(https_client, path):
    assert https_client.get(path).status_code == 200


def test_metrics_over_plain_http_are_still_behind_their_allow_list(https_client):
    far = https_client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert far.status_code == 404


def test_the_realm_still_requires_https(https_client):
    answer = https_client.get("/auth/realms/esante-wallet/.well-known/openid-configuration")
    assert answer.status_code == 403
    assert answer.get_json()["error_description"] == "HTTPS required"
    # Only the exact probe paths: nothing under them, nothing that merely starts like them.
    assert https_client.get("/health/live/x").status_code == 403
    assert https_client.get("/metricsx").status_code == 403

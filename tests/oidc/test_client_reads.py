"""The registered client is read from the database (a round trip to PostgreSQL with several
hosts) at most once per HTTP request of a login: the login pages' end checks that the client
is still there and answers it with that same record (``santeid.interaction``,
``still_answerable`` handed to ``complete`` and ``answer_by_sso``), and so do the sandbox's
scripted logins — no second read, and no cache of clients that a ``santeid clients`` change
would have to reach (docs/performance.md, "Store round trips per login")."""

from __future__ import annotations

import itertools
from collections import Counter
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from flask import g
from flask import has_request_context
from flask import request

from santeid.oidc import clients as clients_module
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import sandbox_professional

API = "/sandbox/api"
#: A sandbox professional whose phone never answers by itself (docs/sandbox.md).
NEVER = "810000000034"


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """``(method path, n)`` → client reads of the ``n``-th HTTP request to that path."""
    counted: Counter = Counter()
    serial = itertools.count()

    class Counted(clients_module.Client):
        """A client record made from a database row: one per read."""

        def __init__(self, *args, **kwargs):
            if has_request_context():
                if "client_read_serial" not in g:
                    g.client_read_serial = next(serial)
                counted[(f"{request.method} {request.path}", g.client_read_serial)] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(clients_module, "Client", Counted)
    return counted


def _more_than_once(reads: Counter) -> list:
    return [key for key, count in reads.items() if count > 1]


def test_a_code_flow_login_reads_its_client_once_per_request(app, flow, reads):
    tokens = flow.full_login()
    assert "access_token" in tokens
    paths = {path for path, _ in reads}
    assert any(path.endswith("/login-actions/complete") for path in paths), paths
    assert any(path.endswith("/openid-connect/token") for path in paths), paths
    assert _more_than_once(reads) == [], reads


def test_a_login_page_answered_by_another_tab_session_reads_its_client_once(app, flow, reads):
    """The page of a login left open, opened again once another tab logged in: the SSO session
    answers it (``answer_by_sso``) with the client the page's check read."""
    left_open = flow.authorize(state="tab1").headers["Location"]
    assert flow.http.get(left_open).status_code == 200
    flow.code_from(flow.login(flow.authorize(state="tab2"), sandbox_professional(app)))
    reads.clear()
    answer = flow.code_from(flow.http.get(left_open))
    assert answer["state"] == "tab1"
    assert sum(reads.values()) == 1, reads


def test_a_scripted_login_completed_reads_its_client_once(app, flow, client, reads):
    """The sandbox's control API: the completion checks the client is still there and ends the
    login with that record."""
    authorization_url = f"http://localhost{OIDC}/auth?" + urlencode(
        {
            "response_type": "code",
            "client_id": flow.client["client_id"],
            "redirect_uri": flow.client["redirect_uris"][0],
            "scope": "openid",
            "state": "st",
        }
    )
    login = client.post(
        f"{API}/logins",
        json={"authorization_url": authorization_url, "national_id": NEVER, "wait": 0},
    ).get_json()
    phone = login["request"]
    client.post(f"{API}/requests/{phone['request_id']}/approve", json={"code": phone["code"]})
    reads.clear()
    done = client.post(f"{API}/logins/{login['login_id']}/complete", json={"wait": 0})
    assert done.get_json()["state"] == "done", done.get_json()
    callback = urlsplit(done.get_json()["callback_url"])
    assert "code" in parse_qs(callback.query)
    assert sum(reads.values()) == 1, reads

"""The WSGI fast path (``insi_fast_path``) answers exactly as the Flask blueprint."""

from __future__ import annotations

import gzip
import json

import pytest

from santeid import create_app
from santeid.insi.rest import FastPath
from santeid.storage import MemoryStore
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import register_client

SEARCH = "/insi/v1/ins/search-by-traits"
ADRTROIS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
            "birthDate": "1997-02-26"}  # fmt: skip
HEADERS = ("Content-Type", "Cache-Control", "X-Content-Type-Options", "Referrer-Policy",
           "X-Santeid-Sandbox", "WWW-Authenticate", "Retry-After", "Allow")  # fmt: skip


def _layers(wsgi_app) -> list:
    """The WSGI middlewares around the Flask app, outermost first (request observation wraps
    the fast path)."""
    layers = []
    while wsgi_app is not None:
        layers.append(wsgi_app)
        wsgi_app = getattr(wsgi_app, "wsgi_app", None)
    return layers


@pytest.fixture
def pair(settings):
    """The same app twice on one store and keys: with and without the fast path."""
    store = MemoryStore()
    fast = create_app(settings, store=store)
    slow = create_app(settings.replace(insi_fast_path=False), store=store)
    assert any(isinstance(layer, FastPath) for layer in _layers(fast.wsgi_app))
    assert not any(isinstance(layer, FastPath) for layer in _layers(slow.wsgi_app))
    client = fast.test_client()
    token = Flow(fast, client, register_client(fast)).full_login()["access_token"]
    return fast.test_client(), slow.test_client(), {"Authorization": f"Bearer {token}"}


def _requests(bearer: dict) -> list[tuple[str, dict]]:
    verify = {"matricule": "297022A020778", "key": "78", **ADRTROIS, "birthplace": "2A020"}
    return [
        (SEARCH, {"json": ADRTROIS, "headers": bearer}),
        (SEARCH, {"json": {**ADRTROIS, "givenNames": ["OLA"]}, "headers": bearer}),
        (SEARCH, {"json": {"birthName": "DE VINCI", "givenNames": ["LEONARDO"], "sex": "M",
                           "birthDate": "2014-02-01"}, "headers": bearer}),
        (SEARCH, {"json": {**ADRTROIS, "birthName": "Adrtröis"}, "headers": bearer}),
        (SEARCH, {"json": {**ADRTROIS, "birthName": "ADR3"}, "headers": bearer}),
        (SEARCH, {"json": {"birthName": "D'AEION", "givenNames": ["COEUR"], "sex": "M",
                           "birthDate": "1987-01-25"}, "headers": bearer}),
        (SEARCH, {"json": {**ADRTROIS, "extra": 1}, "headers": bearer}),
        (SEARCH, {"json": [1], "headers": bearer}),
        (SEARCH, {"data": "{", "content_type": "application/json", "headers": bearer}),
        (SEARCH, {"data": "{}", "content_type": "application/json; charset=utf-8",
                  "headers": bearer}),
        (SEARCH, {"data": gzip.compress(json.dumps(ADRTROIS).encode()),
                  "content_type": "application/json",
                  "headers": {**bearer, "Content-Encoding": "gzip"}}),
        (SEARCH, {"json": ADRTROIS, "headers": {**bearer, "Content-Encoding": "identity"}}),
        (SEARCH, {"json": ADRTROIS, "headers": {"Authorization": "Bearer x.y.z"}}),
        (SEARCH, {"json": ADRTROIS, "headers": {"Authorization": "Basic abc"}}),
        (SEARCH, {"json": ADRTROIS}),
        ("/insi/v1/ins/verify", {"json": verify, "headers": bearer}),
        ("/insi/v1/ins/verify", {"json": {**verify, "sex": "M"}, "headers": bearer}),
        ("/insi/v1/ins/search-by-vitale", {"json": {"odMatricule": "297022A020778",
         "birthName": "ADRTROIS", "birthDate": "1997-02-26"}, "headers": bearer}),
        ("/insi/v1/ins/search-by-vitale", {"json": {"odMatricule": "297022A020778",
         "birthName": "ADRTROIS", "birthDate": "1997-02-26", "birthRank": 0}, "headers": bearer}),
    ]  # fmt: skip


def test_fast_path_and_flask_give_the_same_answers(pair):
    fast, slow, bearer = pair
    for path, kwargs in _requests(bearer):
        a = fast.post(path, **kwargs)
        b = slow.post(path, **kwargs)
        assert a.status_code == b.status_code, (path, kwargs)
        assert a.get_json() == b.get_json(), (path, kwargs)
        assert {h: a.headers.get(h) for h in HEADERS} == {h: b.headers.get(h) for h in HEADERS}


def test_fast_path_leaves_other_requests_to_flask(pair):
    fast, slow, bearer = pair
    # Query string (refused: no parameter is defined), other method, oversize body: Flask
    # answers, on both apps alike.
    assert fast.post(SEARCH + "?x=1", json=ADRTROIS, headers=bearer).status_code == 400
    too_large = fast.post(
        SEARCH, data="x" * 300_000, content_type="application/json", headers=bearer
    )
    assert (too_large.status_code, too_large.mimetype) == (413, "application/problem+json")
    assert fast.get(SEARCH, headers=bearer).status_code == 405
    assert slow.get("/insi/v1/stats", headers=bearer).status_code == 200


def test_a_body_in_a_content_coding_is_a_415_on_the_fast_path_too(pair):
    """A client that compresses its body (``Content-Encoding: gzip``) is told so, 415, as
    without the fast path (docs/insi-rest.md): the fast path read the compressed bytes as
    JSON and answered 400 "the body is not valid JSON" to every such request with a token."""
    fast, _, bearer = pair
    answer = fast.post(
        SEARCH,
        data=gzip.compress(json.dumps(ADRTROIS).encode()),
        content_type="application/json",
        headers={**bearer, "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 415, answer.get_data(as_text=True)
    assert answer.get_json()["code"] == "santeid_unsupported_media_type"

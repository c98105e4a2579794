"""The control API's OpenAPI document declares every status its operations answer: each
operation is called with an identifier that is no national identifier and while the store is
down, and the answers checked against the document (``tests/sandbox/conftest.py`` checks every
answer of these tests and of the others of this folder)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from santeid import create_app
from santeid.storage import MemoryStore
from tests.support.control_api import document
from tests.support.ecps_phone import DownStore
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import register_client

API = "/sandbox/api"
AT_ONCE = "810000000030"
METHODS = ("get", "put", "post", "delete", "patch")
#: An identifier of the right shape for each path parameter, that names nothing.
NOBODY = "A" * 32


def _authorization_url(client_document: dict) -> str:
    query = {
        "response_type": "code",
        "client_id": client_document["client_id"],
        "redirect_uri": client_document["redirect_uris"][0],
        "scope": "openid scope_all",
        "state": "st",
        "nonce": "nn",
    }
    return f"http://localhost{OIDC}/auth?" + urlencode(query)


def _calls(app) -> dict[tuple[str, str], dict]:
    """A plausible request body for every operation of the document (``None``: no body)."""
    url = _authorization_url(register_client(app))
    return {
        ("/scenarios", "get"): None,
        ("/professionals", "post"): {"national_id": "810000000301", "family_name": "OUTAGE",
                                     "scenario": "deny"},
        ("/professionals/{national_id}", "get"): None,
        ("/professionals/{national_id}/requests", "get"): None,
        ("/professionals/{national_id}/scenario", "put"): {"outcome": "deny"},
        ("/professionals/{national_id}/scenario", "delete"): None,
        ("/requests/{request_id}", "get"): None,
        ("/requests/{request_id}/approve", "post"): {"code": "11"},
        ("/requests/{request_id}/deny", "post"): None,
        ("/requests/{request_id}/expire", "post"): None,
        ("/logins", "post"): {"authorization_url": url, "national_id": AT_ONCE, "wait": 0},
        ("/logins/{login_id}", "get"): None,
        ("/logins/{login_id}/complete", "post"): {"wait": 0},
        ("/activations", "post"): {"national_id": "810000000004"},
        ("/activations/{activation_id}/verify", "post"): {"email_code": "123456",
                                                          "sms_code": "654321"},
        ("/outbox", "get"): None,
        ("/cards", "post"): {"national_id": AT_ONCE},
    }  # fmt: skip


def _operations() -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in document()["paths"].items()
        if path != "/openapi.json"
        for method in item
        if method in METHODS
    ]


def _call(client, path: str, method: str, body, national_id: str = AT_ONCE):
    for name in ("request_id", "login_id", "activation_id"):
        path = path.replace("{" + name + "}", NOBODY)
    path = path.replace("{national_id}", national_id)
    return client.open(API + path, method=method.upper(), json=body)


def test_every_operation_has_a_call_here(app):
    assert set(_calls(app)) == set(_operations())


@pytest.mark.parametrize("path", sorted({p for p, _ in _operations() if "{national_id}" in p}))
def test_a_malformed_national_id_in_the_path_is_a_declared_400(app, client, path):
    for method in (m for m in document()["paths"][path] if m in METHODS):
        answer = _call(client, path, method, _calls(app)[path, method], national_id="abc")
        assert (answer.status_code, answer.get_json()["code"]) == (400, "invalid_national_id")


class _Outage:
    """The application's store, every operation of which fails (``DownStore``) while
    ``down``."""

    def __init__(self, store) -> None:
        self.store, self.down = store, False

    def __getattr__(self, name):
        attribute = getattr(self.store, name)
        if self.down and callable(attribute):
            return getattr(DownStore(), name)
        return attribute


def test_an_oversized_body_is_a_declared_413_where_a_body_is_read(app, client):
    oversized = {"x": "y" * 300_000}
    for path, method in _operations():
        operation = document()["paths"][path][method]
        answer = _call(client, path, method, oversized)
        if "requestBody" in operation:
            assert answer.status_code == 413, (path, method)
        else:
            assert answer.status_code != 413, (path, method)


def test_a_compressed_body_is_a_declared_415_where_a_body_is_read(client):
    import gzip

    for path, method in _operations():
        operation = document()["paths"][path][method]
        if "requestBody" not in operation:
            continue
        assert "415" in operation["responses"], (path, method)
        for name in ("request_id", "login_id", "activation_id"):
            path = path.replace("{" + name + "}", NOBODY)
        answer = client.open(
            API + path.replace("{national_id}", AT_ONCE),
            method=method.upper(),
            data=gzip.compress(b'{"scenario": "approve"}'),
            headers={"Content-Encoding": "gzip"},
            content_type="application/json",
        )
        assert answer.status_code == 415, (path, method, answer.get_data(as_text=True))
        assert answer.get_json()["code"] == "unsupported_media_type"


def test_every_operation_answers_a_store_outage_as_declared(settings):
    """The store down, each operation answers what the document declares for it (checked by
    the folder's contract fixture), 503 for those that use the store; every operation
    declares 503, a database outage's too."""
    for path, method in _operations():
        assert "503" in document()["paths"][path][method]["responses"], (path, method)
    store = _Outage(MemoryStore())
    app = create_app(settings, store=store)
    client = app.test_client()
    calls = _calls(app)
    store.down = True
    statuses = {}
    for path, method in _operations():
        statuses[path, method] = _call(client, path, method, calls[path, method]).status_code
    without_store = {("/outbox", "get"), ("/cards", "post")}
    assert {op for op, status in statuses.items() if status != 503} == without_store, statuses

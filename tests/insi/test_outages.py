"""A database outage during an INSi call (SOAP, REST with and without the fast path, FHIR) is
answered as a store outage is — ``desir_1020`` — and logged as an outage, never as a bug with
its traceback."""

from __future__ import annotations

import logging

import pytest

from santeid import create_app
from santeid.db import SqliteUnavailable
from santeid.storage import StoreUnavailable
from tests.support import soap as support
from tests.support.soap import envelope
from tests.support.soap import parse
from tests.support.soap import post
from tests.support.soap import traits_body

SEARCH = "/insi/v1/ins/search-by-traits"
ADRTROIS = {"birthName": "ADRTROIS", "givenNames": ["DOMINIQUE"], "sex": "F",
            "birthDate": "1997-02-26"}  # fmt: skip
PATIENT = "/insi/fhir/Patient"
FHIR_ADRTROIS = [("family", "ADRTROIS"), ("given", "DOMINIQUE"), ("gender", "female"),
                 ("birthdate", "1997-02-26")]  # fmt: skip
soap_home = support.soap_home
soap_settings = support.soap_settings
soap_app = support.soap_app
insi_ca = support.insi_ca
auto_cert = support.auto_cert

OUTAGES = [
    pytest.param(SqliteUnavailable("database is locked"), "the database", id="database"),
    pytest.param(StoreUnavailable("connection refused"), "the token store", id="store"),
]


def _down(app, monkeypatch, exc: Exception) -> None:
    def search(*args, **kwargs):
        raise exc

    monkeypatch.setattr(app.extensions["santeid"].insi, "search_by_traits", search)


def _logged_as_outage(caplog, what: str) -> None:
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in records] == [
        f"{what} is unavailable during an INSi call"
    ]
    assert all(r.exc_info is None for r in records)


@pytest.mark.parametrize(("exc", "what"), OUTAGES)
@pytest.mark.parametrize("fast_path", [True, False])
def test_rest(app, settings, bearer, monkeypatch, caplog, exc, what, fast_path):
    if not fast_path:
        store = app.extensions["santeid"].store
        app = create_app(settings.replace(insi_fast_path=False), store=store)
    _down(app, monkeypatch, exc)
    caplog.clear()
    answer = app.test_client().post(SEARCH, json=ADRTROIS, headers=bearer)
    assert answer.status_code == 503
    assert answer.get_json()["code"] == "desir_1020"
    _logged_as_outage(caplog, what)


@pytest.mark.parametrize(("exc", "what"), OUTAGES)
def test_fhir(app, client, bearer, monkeypatch, caplog, exc, what):
    _down(app, monkeypatch, exc)
    caplog.clear()
    answer = client.get(PATIENT, query_string=FHIR_ADRTROIS, headers=bearer)
    assert answer.status_code == 503
    assert "desir_1020" in answer.get_data(as_text=True)
    _logged_as_outage(caplog, what)


@pytest.mark.parametrize(("exc", "what"), OUTAGES)
def test_soap(soap_app, auto_cert, monkeypatch, caplog, exc, what):
    _down(soap_app, monkeypatch, exc)
    client = soap_app.test_client()
    caplog.clear()
    body = traits_body("ADRTROIS", ["DOMINIQUE"], "F", "1997-02-26")
    answer = post(client, envelope(body), certificate=auto_cert)
    # The one fault of the service's own for every failure on its side (insi-soap.md).
    assert answer.status_code == 500
    assert "desir_1020" in answer.get_data(as_text=True)
    parse(answer.data)
    _logged_as_outage(caplog, what)

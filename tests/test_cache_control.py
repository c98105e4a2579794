"""``Cache-Control: no-store`` is stated once (``santeid.cache_control``): every answer that a
cache must not keep goes through it, so that a change of the rule (a directive added, say)
reaches every endpoint."""

from __future__ import annotations

import ast

from flask import Response

from santeid.cache_control import CREDENTIAL_RESPONSE_HEADERS
from santeid.cache_control import NO_STORE
from santeid.cache_control import keycloak_no_back_button
from santeid.cache_control import keycloak_no_cache
from santeid.cache_control import no_store
from tests.support.paths import ROOT

PACKAGE = ROOT / "src" / "santeid"


def test_no_store_sets_the_header_on_the_response_it_returns():
    response = Response("{}", mimetype="application/json")
    assert no_store(response) is response
    assert response.headers["Cache-Control"] == "no-store"


#: The names of Keycloak's two headers, which only their functions read.
KEYCLOAK_HEADERS = ("KEYCLOAK_NO_CACHE", "KEYCLOAK_NO_BACK_BUTTON")


def test_keycloak_no_cache_sets_keycloaks_header_on_the_response_it_returns():
    # CacheControlUtil.noCache() as JAX-RS writes it: the discovery documents' and the
    # session-status iframe pages' header.
    response = Response("{}", mimetype="application/json")
    assert keycloak_no_cache(response) is response
    assert response.headers["Cache-Control"] == "no-cache, must-revalidate, no-transform, no-store"


def test_keycloak_no_back_button_sets_keycloaks_header_on_the_response_it_returns():
    # CacheControlUtil.noBackButtonCacheControlHeader: the authorization endpoint's answers.
    response = Response("", status=302)
    assert keycloak_no_back_button(response) is response
    assert response.headers["Cache-Control"] == "no-store, must-revalidate, max-age=0"


def test_no_module_but_cache_control_unpacks_keycloaks_headers():
    """Every answer with one of Keycloak's headers goes through its function
    (``keycloak_no_cache``, ``keycloak_no_back_button``)."""
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cache_control.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in KEYCLOAK_HEADERS:
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert readers == [], f"use santeid.cache_control's functions instead: {readers}"


def test_credential_answers_carry_no_store_and_pragma():
    # RFC 6749 §5.1: a token response is never cached, HTTP/1.0 caches included.
    assert NO_STORE in CREDENTIAL_RESPONSE_HEADERS
    assert ("Pragma", "no-cache") in CREDENTIAL_RESPONSE_HEADERS


def test_no_module_but_cache_control_writes_the_directive():
    writers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cache_control.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "no-store":
                writers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert writers == [], f"use santeid.cache_control instead: {writers}"

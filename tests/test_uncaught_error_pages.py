"""What escapes every endpoint under Keycloak's root path (``/auth``) — an unknown path or
realm, a bug — answered as Keycloak's ``KeycloakErrorHandler`` answers it, by the request's
``Accept``: the error page to a browser, the JSON error object to a program
(``santeid.error_formats``); never a stack trace. Keycloak's ``UncaughtErrorPageTest``, method
by method, in docs/reference/keycloak-behaviour.md ("Error pages: ``UncaughtErrorPageTest``,
method by method")."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from santeid.security import page_policy
from tests.support.oidc_flow import ISSUER
from tests.support.oidc_flow import authorization_query
from tests.support.oidc_flow import error_detail

REALM = ISSUER.removeprefix("http://localhost")
#: Chromium's ``Accept`` on a navigation.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"

#: ``UncaughtErrorPageTest.invalidResource``, ``invalidRealm``, ``invalidRealmResource`` (for
#: santeid, ``master`` is another realm), then paths under santeid's own realm and its OIDC
#: endpoints, whose unknown URLs Keycloak answers the same way.
UNKNOWN_PATHS = [
    "/auth/nosuch",
    "/auth/realms/nosuch",
    "/auth/realms/master/nosuch",
    f"{REALM}/nosuch",
    f"{REALM}/protocol/openid-connect/nosuch",
    f"{REALM}/login-actions/nosuch",
]
UNKNOWN_REALMS = {"/auth/realms/nosuch", "/auth/realms/master/nosuch"}


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("accept", [BROWSER, "text/html", "text/*", "application/json, text/html"])
def test_an_unknown_path_or_realm_is_the_404_page_to_a_browser(client, path, accept):
    """Keycloak: the error page "Page not found" to a request that accepts HTML — a type, not
    ``*``, compatible with ``text/html``, whatever its quality value
    (``MediaTypeMatcher.isHtmlRequest``). santeid answered an unknown realm, and an unknown URL
    under the OIDC endpoints, with JSON to a browser too."""
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert error_detail(response) == "Page introuvable."


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_an_unknown_path_or_realm_is_json_to_a_program(client, path, accept):
    """Keycloak writes the ``NotFoundException`` as its JSON error object to any other request
    (curl's ``*/*``, an OIDC library's ``application/json``, no ``Accept``): an unknown realm
    ``{"error":"Realm does not exist"}``; an unknown URL ``{"error": <RESTEasy's message>}``,
    which santeid writes as its own ``not_found`` object. santeid answered the unknown URLs
    outside its OIDC endpoints with its HTML page whatever the ``Accept``."""
    headers = {"Accept": accept} if accept else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    if path in UNKNOWN_REALMS:
        assert response.get_json() == {"error": "Realm does not exist"}
    else:
        assert response.get_json()["error"] == "not_found"


@pytest.fixture
def failing_realm_info(app):
    """The realm endpoint (``GET /auth/realms/esante-wallet``, a JSON endpoint) with a bug: the
    counterpart of Keycloak's ``testing/uncaught-error`` resource."""

    def fail():
        raise RuntimeError("forced failure in the realm endpoint")

    app.view_functions["realm_info"] = fail
    return REALM


def test_an_uncaught_error_is_the_500_page_to_a_browser_without_its_trace(
    client, failing_realm_info, caplog
):
    """``UncaughtErrorPageTest.uncaughtError`` (and ``uncaughtErrorJson``, whose testing
    client accepts ``text/html``): the error page saying an internal error happened, nothing
    of the exception; the log has it whole."""
    response = client.get(failing_realm_info, headers={"Accept": BROWSER})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    internal_error = "Erreur interne. L'incident est enregistré ; réessayez plus tard."
    assert error_detail(response) == internal_error
    page = response.get_data(as_text=True)
    assert "forced failure" not in page and "Traceback" not in page
    assert "forced failure in the realm endpoint" in caplog.text


def test_an_uncaught_error_is_a_json_500_to_a_program(client, failing_realm_info):
    """Keycloak's JSON for a server error is ``unknown_error``, "For more on this error consult
    the server log."; santeid's is RFC 6749's ``server_error`` (kept), with nothing of the
    exception either."""
    response = client.get(failing_realm_info, headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.get_json() == {"error": "server_error", "error_description": "internal error"}


@pytest.mark.parametrize("path", [REALM, f"{REALM}/nosuch"])
def test_the_error_pages_carry_the_pages_security_headers(client, failing_realm_info, path):
    """``UncaughtErrorPageTest.uncaughtErrorHeaders``: Keycloak's error page carries the
    realm's browser security headers. santeid's 500 and 404 pages carry its own pages' set
    (``santeid.security``): framed by nobody, not indexed, no referrer, not stored; no HSTS
    over plain HTTP on a loopback name."""
    response = client.get(path, headers={"Accept": "text/html; charset=utf-8"})
    assert response.status_code in (500, 404)
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == page_policy()
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Robots-Tag"] == "none"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers


def test_an_unknown_client_is_an_error_page_whatever_the_accept(client):
    """``UncaughtErrorPageTest.errorPageException``: "Client not found." on the error page.
    A refusal the authorization endpoint writes itself is a page for a program's ``Accept``
    too, as Keycloak's ``ErrorPage.error`` (only what escapes follows the ``Accept``)."""
    query = authorization_query("nosuch", "https://service.example.org/callback")
    response = client.get(
        f"{REALM}/protocol/openid-connect/auth?" + urlencode(query),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert error_detail(response) == "Client inconnu."


@pytest.mark.parametrize(
    ("query", "lang", "detail"),
    [
        ("", "fr", "Page introuvable."),
        ("?kc_locale=en", "en", "Page not found."),
        ("?kc_locale=en-GB", "en", "Page not found."),
        ("?ui_locales=en", "en", "Page not found."),
        ("?kc_locale=fr&ui_locales=en", "fr", "Page introuvable."),
        ("?kc_locale=de", "fr", "Page introuvable."),
    ],
)
def test_the_404_page_speaks_the_language_kc_locale_chooses(client, query, lang, detail):
    """``UncaughtErrorPageTest.internationalisationEnabled`` and ``switchLocale``: Keycloak's
    error page resolves its locale as the login pages do, the user's ``kc_locale`` (what its
    language selector's links add to the URL) first. santeid's error page read ``ui_locales``
    only; ``kc_locale`` now comes first, as on its login pages. A language santeid does not
    have (German) leaves the page in French."""
    for path in ("/auth/nosuch", f"{REALM}/nosuch", "/auth/realms/nosuch"):
        response = client.get(path + query, headers={"Accept": BROWSER})
        assert response.status_code == 404
        assert f'<html lang="{lang}">' in response.get_data(as_text=True)
        assert error_detail(response) == detail


@pytest.mark.parametrize(
    "path",
    [
        "/auth/realms/master/clients-registrations/openid-connect",
        f"{REALM}/clients-registrations/openid-connect",
        "/auth/admin/realms/master/components",
        "/auth/admin/realms/master/users",
    ],
)
@pytest.mark.parametrize("body", ["{ invalid : invalid }", '{"<img src=alert(1)>":1}', "[]"])
def test_keycloaks_registration_and_admin_apis_are_unknown_urls_in_json(client, path, body):
    """``uncaughtErrorClientRegistration``, ``uncaughtErrorAdmin``,
    ``uncaughtErrorAdminPropertyError``, ``jsonProcessingException``: santeid has neither
    dynamic registration nor Keycloak's admin REST API. A program posting JSON there gets a
    JSON 404 — never an HTML page, and nothing of its body written back."""
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert "<img" not in response.get_data(as_text=True)

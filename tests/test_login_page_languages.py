"""The language of the pages a browser meets at santeid, on a real ``santeid serve``: the login
page, the error page, the installed application's page and the logout pages, as Keycloak's
locale selector picks it for the choices santeid reads (docs/reference/keycloak-behaviour.md,
"Login pages" and "Login page languages: ``LoginPageTest`` and its neighbours, method by
method"): the user's ``kc_locale``, then the client's ``ui_locales``, then French, PSC's
default; a language santeid does not offer is no choice. The browser's ``Accept-Language`` is
not read: a browser's language alone never turns a page away from PSC's French. The page says
its language twice, in ``<html lang>`` and in ``Content-Language``, as Keycloak's login theme
answers (``FreeMarkerLoginFormsProvider.processTemplate``: ``Response.language(locale)``)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
import requests

from tests.support.http_login import login_to_callback
from tests.support.servers import santeid_process

pytestmark = pytest.mark.server

CLIENT_ID = "service-des-langues"
REDIRECT_URI = "http://127.0.0.1:9/callback"
#: A sandbox professional approved at once (docs/sandbox.md, "Scenarios by identity").
APPROVED_AT_ONCE = "810000000030"
#: The login page's own words in each language (santeid.i18n, ``national_id_label``).
IDENTIFIER_LABEL = {"fr": "Identifiant national", "en": "National identifier"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    client = {
        "client_id": CLIENT_ID,
        "client_name": "Service des langues",
        "client_secret": "a-long-secret-for-the-language-tests-0123456789",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with santeid_process(tmp_path_factory.mktemp("languages"), clients=[client]) as process:
        yield process


def _login_page(server, accept_language: str | None = None, **params) -> requests.Response:
    """A browser of its own sent by the client to the authorization endpoint, ``params`` added
    to the request, ``Accept-Language`` on every request when given; the login page it lands
    on."""
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid", "state": "s", "nonce": "n", **params}  # fmt: skip
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    with requests.Session() as browser:
        page = browser.get(f"{server.oidc}/auth?{urlencode(query)}", headers=headers, timeout=10)
    assert page.status_code == 200, page.text
    assert "/login-actions/" in page.url, page.url
    return page


def _language(page: requests.Response) -> str:
    """The language a page says it is in: ``<html lang>``, which ``Content-Language`` repeats."""
    declared = re.search(r'<html lang="([^"]*)"', page.text).group(1)
    assert page.headers.get("Content-Language") == declared
    return declared


@pytest.mark.parametrize(
    "accept_language",
    ["en", "en-GB,en;q=0.9", "en-US,en;q=0.9", "de-CH, de;q=0.9, en;q=0.8", "*", None],
)
def test_the_browsers_language_alone_leaves_the_login_page_french(server, accept_language):
    """``LoginPageTest.acceptLanguageHeader`` (kept): Keycloak's realm with English offered shows
    an English browser its English page; santeid's pages stay French, PSC's language, whatever
    the browser sends — a headless Chromium, as in most services' own tests, sends ``en-US``."""
    page = _login_page(server, accept_language)
    assert _language(page) == "fr"
    assert IDENTIFIER_LABEL["fr"] in page.text


@pytest.mark.parametrize(
    ("params", "language"),
    [
        ({"ui_locales": "en"}, "en"),
        ({"ui_locales": "fr"}, "fr"),
        ({"ui_locales": "de fr"}, "fr"),  # "fr de" is German in LoginPageTest
        ({"ui_locales": "de en"}, "en"),  # the first language santeid offers
        ({"ui_locales": "de"}, "fr"),  # none offered: French
        ({"kc_locale": "en", "ui_locales": "fr"}, "en"),  # the user's choice first
        ({"kc_locale": "de", "ui_locales": "en"}, "en"),
    ],
)
def test_kc_locale_then_ui_locales_pick_the_login_page(server, params, language):
    """``LoginPageTest.uiLocalesParameter``, ``htmlLangAttributeWithInternationalizationEnabled``:
    Keycloak's ``DefaultLocaleSelectorProvider`` reads the user's request (``kc_locale``), then
    the client's ``ui_locales`` (its first offered language). A French browser asking changes
    nothing of it."""
    page = _login_page(server, "fr-FR,fr;q=0.9", **params)
    assert _language(page) == language
    assert IDENTIFIER_LABEL[language] in page.text


def test_the_error_page_follows_kc_locale(server):
    """``LoginPageTest.languageUserUpdatesOnErrorPage``: the error page of a redirect URI the
    client never registered is shown again in the language chosen with ``kc_locale`` (Keycloak's
    language menu adds it to the page's URL), and loading that URL again keeps it; an English
    browser alone gets it in French. Its detail is Keycloak's ``invalidParameterMessage`` in
    the page's language, as Keycloak's theme writes it (German in the test)."""
    query = {"response_type": "code", "client_id": CLIENT_ID, "scope": "openid",
             "redirect_uri": "http://invalid"}  # fmt: skip
    url = f"{server.oidc}/auth?{urlencode(query)}"
    french = requests.get(url, headers={"Accept-Language": "en"}, timeout=10)
    assert french.status_code == 400
    assert _language(french) == "fr"
    assert 'id="error-detail">Paramètre invalide : redirect_uri</p>' in french.text
    chosen = f"{url}&kc_locale=en"
    for _ in range(2):
        english = requests.get(chosen, headers={"Accept-Language": "fr"}, timeout=10)
        assert english.status_code == 400
        assert _language(english) == "en"
        assert 'id="error-detail">Invalid parameter: redirect_uri</p>' in english.text


def test_the_installed_application_page_follows_kc_locale(server):
    """The page of ``urn:ietf:wg:oauth:2.0:oob`` is a login-theme page too (``code.ftl``):
    French, "Success code" once ``kc_locale=en`` asks for English."""
    oob = f"{server.oidc}/oauth/oob?code=abc"
    french = requests.get(oob, headers={"Accept-Language": "en-US"}, timeout=10)
    assert _language(french) == "fr" and "Code succès" in french.text
    chosen = requests.get(f"{oob}&kc_locale=en", timeout=10)
    assert _language(chosen) == "en" and "Success code" in chosen.text


def test_the_logout_pages_follow_ui_locales(server):
    """The confirmation a logout without ``id_token_hint`` asks, and the logged-out page, are
    login-theme pages too: French, English with ``ui_locales=en``."""
    logout = f"{server.oidc}/logout"
    french = requests.get(logout, headers={"Accept-Language": "en"}, timeout=10)
    assert french.status_code == 200
    assert _language(french) == "fr"
    asked = requests.get(f"{logout}?ui_locales=en", timeout=10)
    assert _language(asked) == "en"


def test_the_page_of_a_login_no_longer_there_follows_kc_locale(server):
    """``InfoPageTest.changeLanguage``: after a login, the login-actions URL without its login
    is the info page "already logged in"; it has no login to take a language from, and takes
    the ``kc_locale`` Keycloak's language menu adds; French otherwise."""
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid", "state": "s", "nonce": "n"}  # fmt: skip
    with requests.Session() as browser:
        login_to_callback(
            browser, f"{server.oidc}/auth?{urlencode(query)}", REDIRECT_URI, APPROVED_AT_ONCE
        )
        info = f"{server.issuer}/login-actions/authenticate"
        french = browser.get(info, headers={"Accept-Language": "en"}, timeout=10)
        chosen = browser.get(f"{info}?kc_locale=en", timeout=10)
    assert french.status_code == chosen.status_code == 200
    assert _language(french) == "fr" and "Vous êtes déjà connecté" in french.text
    assert _language(chosen) == "en" and "You are already logged in" in chosen.text

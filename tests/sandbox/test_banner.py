"""The sandbox shows on every page (README, "Try it"): the pages of ``base.html``, the e-CPS
app, the problem pages and the INSi ``CodeCR`` pages carry the banner in sandbox mode, and none
of them outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from santeid import create_app
from santeid.storage import MemoryStore

BANNER = 'id="sandbox-banner"'
PAGES = ["/", "/ecps/activation", "/ecps/app/", "/problems/wrong_pin", "/problems/", "/insi/cr",
         "/insi/cr/02"]  # fmt: skip
#: The pages of santeid.problem_pages' layout: bare outside sandbox mode.
BARE_PAGES = ("/problems/", "/insi/cr")
HTML = {"Accept": "text/html"}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_the_sandbox_banner(client, path):
    page = client.get(path, headers=HTML)
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert text.count(BANNER) == 1, path
    assert "Bac à sable santeid" in text or "santeid sandbox — test environment" in text


@pytest.mark.parametrize("path", ["/problems/wrong_pin", "/insi/cr/02"])
def test_the_problem_pages_style_their_banner(client, path):
    text = client.get(path, headers=HTML).get_data(as_text=True)
    assert "santeid sandbox — test environment, no real data." in text  # the page is English
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', text).group(1)
    with client.get(stylesheet) as style:
        assert ".sandbox-banner" in style.get_data(as_text=True)


def test_the_app_banner_carries_both_languages_for_the_language_switch(client):
    text = client.get("/ecps/app/").get_data(as_text=True)
    banner = re.search(r"<aside [^>]*" + BANNER + r"[^>]*>[^<]*</aside>", text).group(0)
    assert 'data-text-fr="Bac à sable santeid' in banner
    assert 'data-text-en="santeid sandbox — test environment, no real data."' in banner
    assert text.index(banner) < text.index('<nav id="tabs"')


def test_no_banner_outside_sandbox_mode(settings, app):
    # ``app`` (sandbox) made the dev keys the production app needs to start.
    production = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = production.test_client()
    for path in PAGES:
        text = http.get(path, headers=HTML).get_data(as_text=True)
        assert BANNER not in text, path
        if path.startswith(BARE_PAGES):
            assert "santeid.css" not in text  # the bare page of before
    shell = Path(production.template_folder) / "ecps_app" / "index.html"
    expected = shell.read_text().replace("  <!-- sandbox banner -->\n", "")
    assert http.get("/ecps/app/").get_data(as_text=True) == expected


def test_home_page_links_the_admin_console(client):
    assert 'href="/admin/"' in client.get("/").get_data(as_text=True)


def test_the_debugger_ciba_form_starts_with_a_professional_approved_at_once(client):
    page = client.get("/sandbox/debugger").get_data(as_text=True)
    hint = re.search(r'id="ciba-login-hint" name="login_hint" value="([^"]+)"', page).group(1)
    described = client.get(f"/sandbox/api/professionals/{hint}").get_json()
    assert described["scenario_description"] == "approved at once"

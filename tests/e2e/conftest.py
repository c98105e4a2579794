"""The browser of the modules that drive a relying party's web service in Chromium: one
desktop-sized Chromium per module (``chromium``), handed to each test with nothing left of
the previous one at santeid or at the service (``browser``). A module provides ``server``
(its ``santeid serve``) and ``site`` (the service's origin), and defines ``chromium`` itself
when its Chromium needs more (a certificate to trust). Single-page applications' modules, whose
``server`` runs over HTTPS, take ``third_party_chromium``."""

from __future__ import annotations

import pytest

from tests.support.browser import desktop_browser
from tests.support.browser import start_afresh


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    driver = desktop_browser(tmp_path_factory.mktemp("relying-party-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, server, site):
    start_afresh(chromium, server.base, site)
    return chromium


@pytest.fixture(scope="module")
def third_party_chromium(tmp_path_factory, server):
    """For a module whose ``server`` runs over HTTPS with its development certificate: a
    Chromium that trusts it and keeps third-party cookies, as Chrome does by default (a
    single-page application's hidden iframes — silent login, session status — carry
    santeid's cookies inside its page), and waits up to 30 s for a page's asynchronous script."""
    driver = desktop_browser(
        tmp_path_factory.mktemp("third-party-cookies-profile"),
        server.home / "tls/cert.pem",
        third_party_cookies=True,
    )
    driver.set_script_timeout(30)
    yield driver
    driver.quit()

"""The browser of the modules that drive a relying party's web service in Chromium: one
desktop-sized Chromium per module (``chromium``), handed to each test with nothing left of
the previous one at santeid or at the service (``browser``). A module provides ``server``
(its ``santeid serve``) and ``site`` (the service's origin), and defines ``chromium`` itself
when its Chromium needs more (a certificate to trust)."""

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

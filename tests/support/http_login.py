"""A professional's browser login driven over plain HTTP (``requests``), for the tests of
relying-party libraries against a real ``santeid serve``: what the browser does between the
service's authorization URL and its callback."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests


def login_to_callback(
    browser: requests.Session, url: str, redirect_uri: str, national_id: str
) -> str:
    """What the professional's browser does from the authorization ``url``: follow to the login
    page, submit the national identifier (a sandbox professional approved at once,
    docs/sandbox.md), follow the redirects until the service's callback under
    ``redirect_uri``, whose URL it returns (the callback itself is not fetched). With an SSO
    session, the callback comes at once."""
    location = url
    while True:
        response = browser.get(location, allow_redirects=False)
        assert response.status_code in (200, 302, 303), response.text[:500]
        if response.status_code == 200:  # the login page
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
            response = browser.post(
                location,
                data={"national_id": national_id, "csrf_token": csrf},
                allow_redirects=False,
            )
            assert response.status_code == 303, response.text[:500]
        location = urljoin(location, response.headers["Location"])
        if location.startswith(redirect_uri):
            return location

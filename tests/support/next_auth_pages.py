"""The pages NextAuth.js serves a service under its base path — v4 (``next-auth``,
https://next-auth.js.org/getting-started/rest-api) at ``/api/auth``, and Auth.js, v5's engine
(https://authjs.dev), wherever the service mounts it — driven as a professional's browser
does, in Chromium or over HTTP: the sign-in page, whose button posts the CSRF token to
``{base}/signin/{provider}``; ``{base}/csrf``; the sign-in and error pages showing
``?error=…``. The services of the tests show their session as JSON at ``/session``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

from tests.support.browser import identify
from tests.support.browser import shown_json
from tests.support.browser import wait_for


@dataclass(frozen=True)
class NextAuthPages:
    """The pages under ``base`` (``/api/auth``, ``/auth``…) of a service whose provider is
    ``provider``; ``library`` names them in what a wait reports."""

    base: str
    library: str
    provider: str = "keycloak"

    def open_sign_in(self, browser, site: str) -> None:
        """The library's own sign-in page, its provider's button clicked (the form posts the
        CSRF token to ``{base}/signin/{provider}``), back to ``/session`` afterwards."""
        browser.get(f"{site}{self.base}/signin?callbackUrl=%2Fsession")
        selector = f"form[action$='/signin/{self.provider}'] button"
        wait_for(
            lambda: browser.find_element("css selector", selector),
            what=f"{self.library} sign-in page",
        ).click()

    def log_in(self, browser, site: str, national_id: str) -> None:
        """:meth:`open_sign_in`, then santeid's login page, the professional's identifier; the
        sandbox phone answers."""
        self.open_sign_in(browser, site)
        identify(browser, national_id)

    def logged_in(self, browser, site: str, national_id: str) -> dict:
        """:meth:`log_in`, then the session the service shows at ``/session``."""
        self.log_in(browser, site, national_id)
        session = shown_json(browser, f"{site}/session")["session"]
        assert session is not None, "nobody logged in at the service"
        return session

    def error(self, browser, site: str) -> tuple[str, str]:
        """Wait for one of the library's pages with an ``error`` (its error page or its
        sign-in page, as the error's kind says); its path and the error."""
        wait_for(
            lambda: (
                browser.current_url.startswith(f"{site}{self.base}/")
                and "error=" in browser.current_url
            ),
            what=f"{self.library} error page",
        )
        url = urlsplit(browser.current_url)
        return url.path, parse_qs(url.query)["error"][0]

    def signed_in(self, http: requests.Session, site: str, query: str = "") -> str:
        """The sign-in as the library's page posts it (the CSRF token from ``{base}/csrf``), in
        ``http``'s cookies, with ``query`` (next-auth's ``signIn()`` sends its authorization
        parameters so): the authorization URL the library sends the browser to."""
        csrf = http.get(f"{site}{self.base}/csrf", timeout=10).json()["csrfToken"]
        sent = http.post(
            f"{site}{self.base}/signin/{self.provider}{query and '?' + query}",
            data={"csrfToken": csrf, "callbackUrl": "/session"},
            allow_redirects=False,
            timeout=10,
        )
        return sent.headers["Location"]

    def authorization_request(self, site: str) -> tuple[str, dict[str, str]]:
        """Where the library sends the browser to sign in, and the query it sends."""
        with requests.Session() as http:
            location = urlsplit(self.signed_in(http, site))
        query = {name: values[0] for name, values in parse_qs(location.query).items()}
        return f"{location.scheme}://{location.netloc}{location.path}", query

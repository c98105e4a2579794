"""The pages NextAuth.js serves a service under its base path — v4 (``next-auth``,
https://next-auth.js.org/getting-started/rest-api) at ``/api/auth``, and Auth.js, v5's engine
(https://authjs.dev), wherever the service mounts it — driven as a professional's browser
does, in Chromium or over HTTP: the sign-in page, whose button posts the CSRF token to
``{base}/signin/{provider}``; ``{base}/csrf``; the sign-in and error pages showing
``?error=…``. The services of the tests show their session as JSON at ``/session`` and read
how they authenticate at the token endpoint from their environment
(:func:`client_authentication`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests
from joserfc.jwk import RSAKey

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

    def register(
        self, server, client_id: str, origin: str, secret: str, metadata: dict | None
    ) -> None:
        """The service at ``origin`` registered at ``server`` as an operator registers it: the
        library's callback, the service's ``/logged-out`` page after the logout, the refresh
        grant, ``secret`` with HTTP Basic; ``metadata`` changes it (``None`` removes an
        entry)."""
        registration = {
            "client_secret": secret,
            "redirect_uris": [f"{origin}{self.base}/callback/{self.provider}"],
            "post_logout_redirect_uris": [f"{origin}/logged-out"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
            **(metadata or {}),
        }
        server.register(client_id, **{k: v for k, v in registration.items() if v is not None})

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


def client_authentication(method: str, folder: Path, kid: str) -> tuple[dict, dict[str, str]]:
    """How a service of these tests authenticates at the token endpoint with ``method``: the
    registration's changes and the service's environment (``CLIENT_AUTH``). For
    ``private_key_jwt``, a new RS256 key ``kid``: its public JWK registered as ``jwks``, no
    secret, its private JWK in a file under ``folder`` (``PRIVATE_KEY``)."""
    metadata: dict = {"token_endpoint_auth_method": method}
    env = {"CLIENT_AUTH": method}
    if method == "private_key_jwt":
        key = RSAKey.generate_key(2048, private=True, parameters={"kid": kid})
        key_file = folder / "private-key.json"
        key_file.write_text(json.dumps(key.as_dict(private=True)))
        metadata |= {"client_secret": None, "jwks": {"keys": [key.as_dict(private=False)]}}
        env["PRIVATE_KEY"] = str(key_file)
    return metadata, env

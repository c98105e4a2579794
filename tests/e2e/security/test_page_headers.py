"""The cookies' flags and the pages' security headers, as a real server sends them
(docs/security.md, "Browser"): the session cookie ``SameSite=Lax`` and ``HttpOnly`` always,
``Secure`` with an ``https://`` issuer (not with ``make run``'s plain-HTTP localhost one); the
SSO session's cookies (``santeid_auth_session`` from the authorization endpoint,
``santeid_identity`` once the login ends) ``HttpOnly`` and, with an ``https://`` issuer,
``Secure; SameSite=None`` as Keycloak's ``KEYCLOAK_IDENTITY`` and ``AUTH_SESSION_ID``, else
``SameSite=Lax`` without ``Secure`` (which ``SameSite=None`` requires); CSP with
``default-src 'self'`` and ``frame-ancestors 'none'``, ``X-Frame-Options: DENY``,
``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``Cache-Control: no-store`` and ``X-Robots-Tag: none`` on the login page and the admin console's
pages."""

from __future__ import annotations

import re
from urllib.parse import urlencode
from urllib.parse import urljoin

import pytest
import requests

from santeid.ecps.pin import PinHasher
from tests.support.operations import sandbox_login
from tests.support.security import CLIENT
from tests.support.security import CLIENT_ID
from tests.support.security import REDIRECT_URI
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

ADMIN_PASSWORD = "the-admin-password-of-the-header-tests"


@pytest.fixture(scope="module", params=["http", "https"])
def server(request, tmp_path_factory):
    """The server with a plain-HTTP localhost issuer, or with an ``https://`` one (its main
    port serving TLS with a development certificate)."""
    prepared = santeid_home(tmp_path_factory.mktemp(f"headers-{request.param}"))
    args: tuple[str, ...] = ()
    ca = None
    if request.param == "https":
        args, ca = prepared.dev_tls()
    with santeid_process(
        prepared.home,
        args=args,
        ca=ca,
        clients=[CLIENT],
        SANTEID_STORE_URL="memory://",
        SANTEID_ADMIN_PASSWORD_HASH=PinHasher().hash(ADMIN_PASSWORD),
    ) as server:
        assert server.issuer.startswith(request.param + "://")
        yield server


def _browser(server) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca or True
    return session


def _login_page(server, browser: requests.Session) -> requests.Response:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
             "scope": "openid scope_all", "state": "s" * 16, "nonce": "n" * 16}  # fmt: skip
    authorize = f"{server.oidc}/auth?{urlencode(query)}"
    response = browser.get(authorize, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    page = browser.get(urljoin(authorize, response.headers["Location"]), timeout=10)
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    return page


def _admin_pages(server, browser: requests.Session) -> list[requests.Response]:
    sign_in = browser.get(f"{server.base}/admin/login", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', sign_in.text).group(1)
    signed = browser.post(f"{server.base}/admin/login", allow_redirects=False, timeout=10,
                          data={"user": "admin", "password": ADMIN_PASSWORD,
                                "csrf_token": csrf})  # fmt: skip
    assert signed.status_code == 302, signed.text
    pages = [sign_in, signed]
    for path in ("/admin/", "/admin/clients", "/admin/professionals", "/admin/events"):
        page = browser.get(server.base + path, allow_redirects=False, timeout=10)
        assert page.status_code == 200, (path, page.status_code)
        pages.append(page)
    return pages


def _session_cookie(response: requests.Response) -> list[str]:
    """The attributes of the ``santeid_session`` cookie the response sets, lower-cased."""
    header = response.headers.get("Set-Cookie", "")
    assert header.startswith("santeid_session="), (response.url, header)
    return [part.strip().lower() for part in header.split(";")[1:]]


def _check_cookie(server, response: requests.Response) -> None:
    attributes = _session_cookie(response)
    assert "httponly" in attributes, attributes
    assert "samesite=lax" in attributes, attributes
    if server.issuer.startswith("https://"):
        assert "secure" in attributes, attributes
    else:  # a plain-HTTP localhost issuer (make run): the browser would not send it back
        assert "secure" not in attributes, attributes


def _cookie_attributes(response: requests.Response, name: str) -> list[str]:
    """The attributes of the cookie ``name`` the response sets, lower-cased."""
    for header in response.raw.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return [part.strip().lower() for part in header.split(";")[1:]]
    raise AssertionError(f"{response.url} sets no {name}: {response.headers.get('Set-Cookie')}")


def _check_sso_cookie(server, response: requests.Response, name: str) -> None:
    attributes = _cookie_attributes(response, name)
    assert "httponly" in attributes and "path=/" in attributes, attributes
    if server.issuer.startswith("https://"):
        assert "secure" in attributes and "samesite=none" in attributes, attributes
    else:
        assert "secure" not in attributes and "samesite=lax" in attributes, attributes


def _check_headers(response: requests.Response) -> None:
    headers = response.headers
    policy = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    assert "default-src 'self'" in policy, policy
    assert "frame-ancestors 'none'" in policy, policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in headers["Cache-Control"]
    assert headers["X-Robots-Tag"] == "none"


def test_the_login_page(server):
    with _browser(server) as browser:
        page = _login_page(server, browser)
        _check_cookie(server, page)
        _check_headers(page)


def test_the_sso_session_cookies(server):
    with _browser(server) as browser:
        query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
                 "scope": "openid scope_all", "state": "s" * 16, "nonce": "n" * 16}  # fmt: skip
        started = browser.get(f"{server.oidc}/auth?{urlencode(query)}", allow_redirects=False,
                              timeout=10)  # fmt: skip
        assert started.status_code == 302, started.text
        _check_sso_cookie(server, started, "santeid_auth_session")
        done = sandbox_login(browser, started, server.env)
        assert done.status_code == 302 and "code=" in done.headers["Location"], done.text
        _check_sso_cookie(server, done, "santeid_identity")


def test_the_admin_console(server):
    with _browser(server) as browser:
        pages = _admin_pages(server, browser)
        _check_cookie(server, pages[0])  # the sign-in page, which sets the CSRF token
        _check_cookie(server, pages[1])  # signing in
        for page in pages:
            _check_headers(page)

"""A professional's browser login driven over plain HTTP (``requests``), for the tests of
relying-party libraries against a real ``santeid serve``: what the browser does between the
service's authorization URL and its callback."""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import requests

from tests.support.oidc_flow import authorization_url
from tests.support.oidc_flow import basic_auth


def login_to_callback(
    browser: requests.Session,
    url: str,
    redirect_uri: str,
    national_id: str,
    *,
    refused: bool = False,
) -> str:
    """What the professional's browser does from the authorization ``url``: follow to the login
    page, submit the national identifier (a sandbox professional approved at once,
    docs/sandbox.md), follow the redirects until the service's callback under
    ``redirect_uri``, whose URL it returns (the callback itself is not fetched). With an SSO
    session, the callback comes at once. ``refused``: the login is refused on the sandbox
    phone (a denying professional): on the page that says so, the professional gives up (the
    login's ``/cancel``), which sends the browser back with ``access_denied``."""
    location = url
    while True:
        response = browser.get(location, allow_redirects=False)
        assert response.status_code in (200, 302, 303), response.text[:500]
        if response.status_code == 200:  # the login page, or the page of a refused login
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
            if 'id="failure-message"' in response.text:
                assert refused, response.text[:500]
                response = browser.post(
                    location.replace("/authenticate", "/cancel"),
                    data={"csrf_token": csrf},
                    allow_redirects=False,
                )
                assert response.status_code == 302, response.text[:500]
            else:
                response = browser.post(
                    location,
                    data={"national_id": national_id, "csrf_token": csrf},
                    allow_redirects=False,
                )
                assert response.status_code == 303, response.text[:500]
        location = urljoin(location, response.headers["Location"])
        if location.startswith(redirect_uri):
            return location


def login_from_service(
    browser: requests.Session,
    start: str,
    redirect_uri: str,
    national_id: str,
    *,
    refused: bool = False,
    **changes: str,
) -> str:
    """What the professional's browser does from the service's own login route ``start``
    (its cookies kept in ``browser``): the authorization URL the service redirects to, with
    ``changes`` made to its query (a ``state`` or ``nonce`` altered on its way), then
    :func:`login_to_callback`; the callback URL under ``redirect_uri``."""
    sent = browser.get(start, allow_redirects=False, timeout=10)
    assert sent.status_code in (302, 303), sent.text[:500]
    url = urlsplit(sent.headers["Location"])
    query = {name: values[0] for name, values in parse_qs(url.query).items()} | changes
    authorization = urlunsplit(url._replace(query=urlencode(query)))
    return login_to_callback(browser, authorization, redirect_uri, national_id, refused=refused)


def identifier_refused(
    browser: requests.Session, start: str, national_id: str
) -> requests.Response:
    """What the professional's browser gets from the service's own login route ``start`` when
    santeid refuses the identifier typed on its login page (one its directory does not
    know): the authorization URL the service redirects to, santeid's login page, then
    santeid's answer to the identifier — its login page again with its error, no redirect
    back to the service (the professional may type another one)."""
    sent = browser.get(start, allow_redirects=False, timeout=10)
    assert sent.status_code in (302, 303), sent.text[:500]
    page = browser.get(sent.headers["Location"], timeout=10)
    assert page.status_code == 200 and 'name="national_id"' in page.text, page.text[:500]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return browser.post(
        page.url,
        data={"national_id": national_id, "csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )


def logged_in_tokens(
    oidc: str,
    client_id: str,
    secret: str,
    redirect_uri: str,
    national_id: str,
    browser: requests.Session | None = None,
    verify: str | bool = True,
) -> dict:
    """The token answer a service gets for a professional's login at the server whose
    Keycloak endpoints are under ``oidc``: the authorization request (``openid scope_all``,
    ``acr_values`` ``eidas1``), :func:`login_to_callback` in ``browser`` (a new one unless
    given: one may already hold the SSO cookie), the code exchanged with HTTP Basic
    (``verify``: the server's authority over HTTPS)."""
    url = authorization_url(f"{oidc}/auth", client_id=client_id, redirect_uri=redirect_uri)
    callback = login_to_callback(browser or requests.Session(), url, redirect_uri, national_id)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = requests.post(
        f"{oidc}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers=basic_auth(client_id, secret),
        timeout=10,
        verify=verify,
    )
    assert response.status_code == 200, response.text
    return response.json()


def service_token(oidc: str, client_id: str, secret: str, verify: str | bool = True) -> str:
    """``client_id``'s own access token (``client_credentials``, RFC 6749 §4.4, HTTP Basic) at
    the server whose Keycloak endpoints are under ``oidc``; ``verify``: its authority over
    HTTPS."""
    response = requests.post(
        f"{oidc}/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
        timeout=10,
        verify=verify,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def revoke(
    oidc: str, token: str, client_id: str, secret: str, verify: str | bool = True, **hint: str
) -> None:
    """``token`` revoked at ``oidc``'s ``/revoke`` by ``client_id`` (RFC 7009, HTTP Basic;
    ``hint``: ``token_type_hint=…``); ``verify`` as :func:`service_token`."""
    response = requests.post(
        f"{oidc}/revoke",
        data={"token": token, **hint},
        headers=basic_auth(client_id, secret),
        timeout=10,
        verify=verify,
    )
    assert response.status_code == 200, response.text

"""Driving a browser through the professional's login pages: a relying party sends it to the
authorization endpoint, the login page's transaction, the redirect back to the service."""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from santeid.storage.records import LOGIN_TRANSACTION
from santeid.storage.redis import RedisStore
from tests.support.browser import wait_for


def open_login_page(browser, oidc: str, client_id: str, origin: str, state: str, **extra) -> str:
    """The relying party at ``origin`` sends the browser to the authorization endpoint under
    ``oidc``; the login page's transaction id."""
    params = {"response_type": "code", "client_id": client_id, "scope": "openid",
              "redirect_uri": f"{origin}/callback", "state": state, "nonce": f"nonce-{state}",
              **extra}  # fmt: skip
    browser.get(f"{oidc}/auth?{urlencode(params)}")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    return transaction_id(browser.current_url)


def transaction_id(url: str) -> str:
    return parse_qs(urlsplit(url).query)["tx"][0]


def expire(redis_url: str, transaction: str) -> None:
    """The transaction reaches the end of its lifetime: its key leaves the store."""
    store = RedisStore.from_url(redis_url)
    assert store.delete(LOGIN_TRANSACTION.key(transaction)) == 1


def callback(browser, origin: str) -> dict[str, str]:
    """The query of the redirect back to the service at ``origin``."""
    url = wait_for(
        lambda: browser.current_url if browser.current_url.startswith(origin) else "",
        what="the redirect back to the service",
    )
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

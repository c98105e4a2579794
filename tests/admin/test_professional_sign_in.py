"""Admin sign-in through santeid's own login pages (``admin_professionals``): the sandbox phone
approves as an e-CPS would, and only a listed professional gets a console session."""

from __future__ import annotations

import re

import pytest

from santeid import create_app
from santeid.observability import events
from santeid.settings import ConfigurationError
from santeid.settings import validate
from santeid.storage import MemoryStore
from tests.support.oidc_flow import Flow


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _sandbox_professionals(app) -> list[str]:
    return [p.national_id for p in app.extensions["santeid"].directory.list(sandbox_only=True)]


@pytest.fixture
def console(settings):
    """The console of a sandbox app whose first auto-approved professional is an admin."""
    probe = create_app(settings, store=MemoryStore())
    admin, other = _sandbox_professionals(probe)[:2]
    app = create_app(settings.replace(admin_professionals=f" {admin}, "), store=MemoryStore())
    return app, admin, other


def _sign_in_with_login_pages(app, national_id: str):
    client = app.test_client()
    page = client.get("/admin/login")
    assert 'id="sign-in-professional"' in page.get_data(as_text=True)
    started = client.post("/admin/login/professional", data={"csrf_token": _csrf(page)})
    assert "/login-actions/authenticate?tx=" in started.headers["Location"]
    return client, Flow(app, client, {}).login(started, national_id)


def _admin_logins(app) -> list:
    return app.extensions["santeid"].events.list(types=(events.ADMIN_LOGIN,))


def test_a_listed_professional_signs_in_with_the_login_pages(console):
    app, admin, _ = console
    client, done = _sign_in_with_login_pages(app, admin)
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    (event,) = _admin_logins(app)
    assert (event.reason, event.professional) == ("success", admin)
    assert event.auth_mode and event.details == {"method": event.auth_mode}
    # The console's changes name the professional who made them.
    keys_page = client.get("/admin/keys")
    client.post("/admin/keys", data={"csrf_token": _csrf(keys_page)})
    (rotation,) = app.extensions["santeid"].events.list(types=(events.ADMIN_KEY,))
    assert rotation.details["admin"] == admin
    # The login went through the same core as any relying party's: a LOGIN event.
    (login,) = app.extensions["santeid"].events.list(types=(events.LOGIN,))
    assert (login.client_id, login.professional) == ("santeid-admin-console", admin)


def test_a_professional_not_listed_is_authenticated_but_refused(console):
    app, _, other = console
    client, refused = _sign_in_with_login_pages(app, other)
    assert refused.status_code == 403
    assert "admin_professionals" in refused.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still signed out
    (event,) = _admin_logins(app)
    assert (event.reason, event.professional) == ("refused", other)


def test_cancelling_the_login_returns_to_the_console_login(console):
    app, admin, _ = console
    client = app.test_client()
    started = client.post(
        "/admin/login/professional", data={"csrf_token": _csrf(client.get("/admin/login"))}
    )
    login_url = started.headers["Location"]
    page = client.get(login_url)
    txid = re.search(r"tx=([\w-]+)", login_url).group(1)
    cancelled = client.post(
        f"/auth/realms/esante-wallet/login-actions/cancel?tx={txid}",
        data={"csrf_token": _csrf(page)},
    )
    assert cancelled.status_code == 302 and cancelled.headers["Location"].endswith("/admin/login")
    assert client.get("/admin/").status_code == 302


def test_password_sign_ins_are_events_with_their_method(app):
    client = app.test_client()
    page = client.get("/admin/login")
    assert 'id="sign-in-professional"' not in page.get_data(as_text=True)  # none listed
    refused = client.post("/admin/login/professional", data={"csrf_token": _csrf(page)})
    assert refused.status_code == 404
    client.post(
        "/admin/login",
        data={"user": "admin", "password": "santeid-demo-admin", "csrf_token": _csrf(page)},
    )
    (event,) = _admin_logins(app)
    assert (event.reason, event.details) == ("success", {"method": "password"})


def test_without_a_password_only_the_professional_sign_in_is_offered(settings):
    app = create_app(
        settings.replace(sandbox=False, admin_professionals="810000000004"), store=MemoryStore()
    )
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    assert 'id="sign-in-professional"' in page and 'id="password"' not in page
    assert client.post("/admin/login", data={"user": "admin"}).status_code == 404


def test_a_malformed_admin_professional_stops_the_start(settings):
    with pytest.raises(ConfigurationError, match="admin_professionals"):
        validate(settings.replace(admin_professionals="810000000004, 12AB"))

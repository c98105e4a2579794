"""Admin console sessions live in the store (``santeid.admin.sessions``): the sign-out, the idle
timeout and the maximum lifetime end them whatever copy of the cookie is kept, and a session
whose admin is no longer allowed in — another password configured, the professional taken out
of ``admin_professionals`` — is over at its next request (docs/operations.md, "Admin
console"). The replay of a copied cookie against a real server:
``tests/e2e/security/test_admin_session_revocation.py``."""

from __future__ import annotations

import re

from santeid import create_app
from santeid.ecps.pin import PinHasher
from santeid.observability import events
from santeid.storage import MemoryStore
from santeid.storage.keys import ADMIN_SESSION_IDLE
from santeid.storage.keys import ADMIN_SESSION_MAX_LIFETIME
from tests.support.oidc_flow import Flow

COOKIE = "santeid_session"
DEMO_PASSWORD = "santeid-demo-admin"  # noqa: S105 - the documented sandbox demo admin


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _sign_in(app, password: str = DEMO_PASSWORD):
    client = app.test_client()
    page = client.get("/admin/login")
    signed = client.post(
        "/admin/login", data={"user": "admin", "password": password, "csrf_token": _csrf(page)}
    )
    assert signed.status_code == 302 and signed.headers["Location"].endswith("/admin/")
    return client


def _replay(app, cookie: str):
    """``/admin/`` from another browser holding a copy of ``cookie``."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other.get("/admin/")


def _signed_out(response) -> bool:
    """Sent to the login page: a page asked for by 302, a form posted by 303 (See Other)."""
    expected = 303 if response.request.method == "POST" else 302
    location = response.headers.get("Location", "")
    return response.status_code == expected and location.endswith("/admin/login")


def test_a_copy_of_the_cookie_is_refused_after_sign_out(app):
    client = _sign_in(app)
    copy = client.get_cookie(COOKIE).value
    assert _replay(app, copy).status_code == 200
    client.post("/admin/logout", data={"csrf_token": _csrf(client.get("/admin/clients"))})
    assert _signed_out(_replay(app, copy))
    assert _signed_out(client.get("/admin/"))
    # The store keeps no session: the cookie's id was its only key, and it is gone.
    store = app.extensions["santeid"].store
    assert not [k for k in store._values if k.startswith("admin-session:")]


def test_the_cookie_holds_only_an_id_and_the_store_its_digest(app):
    client = _sign_in(app)
    store = app.extensions["santeid"].store
    (key,) = [k for k in store._values if k.startswith("admin-session:")]
    record = store.get(key)
    assert (record["who"], record["method"]) == ("admin", "password")
    sid = app.session_interface.get_signing_serializer(app).loads(client.get_cookie(COOKIE).value)[
        "admin"
    ]["sid"]
    assert sid not in key and len(sid) >= 43  # 256 bits


def test_another_password_hash_ends_the_sessions_of_the_old_one(settings):
    store = MemoryStore()
    old, new = PinHasher().hash("the-old-admin-password"), PinHasher().hash("the-new-password")
    first = create_app(settings.replace(admin_password_hash=old), store=store)
    copy = _sign_in(first, "the-old-admin-password").get_cookie(COOKIE).value
    # The same configuration on another host (or after a restart) knows the session.
    assert (
        _replay(
            create_app(settings.replace(admin_password_hash=old), store=store), copy
        ).status_code
        == 200
    )
    rebuilt = create_app(settings.replace(admin_password_hash=new), store=store)
    assert _signed_out(_replay(rebuilt, copy))
    # The demo admin's session ends when a hash is configured, too.
    demo = create_app(settings, store=store)
    demo_copy = _sign_in(demo).get_cookie(COOKIE).value
    assert _signed_out(_replay(rebuilt, demo_copy))


def test_a_professional_taken_out_of_admin_professionals_is_signed_out(settings):
    store = MemoryStore()
    probe = create_app(settings, store=MemoryStore())
    admin, other = [
        p.national_id for p in probe.extensions["santeid"].directory.list(sandbox_only=True)[:2]
    ]
    listed = settings.replace(admin_professionals=f"{admin} {other}")
    app = create_app(listed, store=store)
    client = app.test_client()
    page = client.get("/admin/login")
    started = client.post("/admin/login/professional", data={"csrf_token": _csrf(page)})
    done = Flow(app, client, {}).login(started, admin)
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/")
    copy = client.get_cookie(COOKIE).value
    assert _replay(create_app(listed, store=store), copy).status_code == 200

    removed = create_app(settings.replace(admin_professionals=other), store=store)
    assert _signed_out(_replay(removed, copy))
    # And it registers nothing with the session it had.
    thief = removed.test_client()
    thief.set_cookie(COOKIE, copy)
    csrf = _csrf(client.get("/admin/login"))
    posted = thief.post(
        "/admin/clients",
        data={"csrf_token": csrf, "client_id": "rp-x", "client_name": "x",
              "redirect_uri": "https://rp.example.org/cb"},
    )  # fmt: skip
    assert _signed_out(posted)
    assert removed.extensions["santeid"].clients.get("rp-x") is None
    assert not removed.extensions["santeid"].events.list(types=(events.ADMIN_CLIENT,))


def test_a_sandbox_professional_session_ends_once_a_password_hash_is_set(settings):
    """In sandbox mode the console takes professional logins only while no password is set
    (docs/operations.md, "Admin console"): a session opened that way ends once one is."""
    store = MemoryStore()
    probe = create_app(settings, store=MemoryStore())
    admin = probe.extensions["santeid"].directory.list(sandbox_only=True)[0].national_id
    listed = settings.replace(admin_professionals=admin)
    app = create_app(listed, store=store)
    client = app.test_client()
    started = client.post(
        "/admin/login/professional", data={"csrf_token": _csrf(client.get("/admin/login"))}
    )
    done = Flow(app, client, {}).login(started, admin)
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/")
    copy = client.get_cookie(COOKIE).value
    assert _replay(create_app(listed, store=store), copy).status_code == 200

    closed = listed.replace(admin_password_hash=PinHasher().hash("the-sandbox-password"))
    assert _signed_out(_replay(create_app(closed, store=store), copy))


def test_idle_timeout_and_maximum_lifetime(clocked_app, clock):
    client = _sign_in(clocked_app)
    clock.advance(ADMIN_SESSION_IDLE - 5)
    assert client.get("/admin/").status_code == 200  # its idle time starts again
    clock.advance(ADMIN_SESSION_IDLE - 5)
    assert client.get("/admin/").status_code == 200
    clock.advance(ADMIN_SESSION_IDLE + 1)
    assert _signed_out(client.get("/admin/"))

    busy = _sign_in(clocked_app)
    used_for = 0
    while used_for + ADMIN_SESSION_IDLE // 2 < ADMIN_SESSION_MAX_LIFETIME:
        clock.advance(ADMIN_SESSION_IDLE // 2)
        used_for += ADMIN_SESSION_IDLE // 2
        assert busy.get("/admin/").status_code == 200
    clock.advance(ADMIN_SESSION_MAX_LIFETIME - used_for)
    assert _signed_out(busy.get("/admin/"))


def test_what_a_change_shows_once_is_taken_once_and_keyed_by_session_and_page(clock):
    """``show_once`` keeps it for one page of one session; the first ``take_shown`` of that
    page has it, the next nothing; another session or page never; gone after
    ``ADMIN_FLASH_LIFETIME``. The key holds neither the session's id nor the page."""
    from santeid.admin.sessions import ConsoleSessions
    from santeid.storage.keys import ADMIN_FLASH_LIFETIME

    store = MemoryStore()
    sessions = ConsoleSessions(store, clock)
    mine, theirs = sessions.open("admin", "password"), sessions.open("admin", "password")
    sessions.show_once(mine, "clients", {"secret": "s3cr3t"})
    (key,) = [k for k in store._values if k.startswith("admin-flash:")]
    assert mine not in key and "clients" not in key
    assert sessions.take_shown(theirs, "clients") == {}
    assert sessions.take_shown(mine, "keys") == {}
    assert sessions.take_shown(mine, "clients") == {"secret": "s3cr3t"}
    assert sessions.take_shown(mine, "clients") == {}
    assert sessions.take_shown(None, "clients") == {}
    sessions.show_once(mine, "keys", {"notice": "n"})
    clock.advance(ADMIN_FLASH_LIFETIME)
    assert sessions.take_shown(mine, "keys") == {}

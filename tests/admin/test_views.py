"""The admin console's switch and account, inside the application."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from santeid import create_app
from santeid.cli import main
from santeid.storage import MemoryStore

_OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _csrf(page) -> str:
    """The ``csrf_token`` of a page's forms."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _sign_in(client, password: str):
    page = client.get("/admin/login")
    return client.post(
        "/admin/login", data={"user": "admin", "password": password, "csrf_token": _csrf(page)}
    )


def _signed_in(client, path: str = "/admin/clients", **query) -> str:
    """Signed in as the sandbox demo admin, on the console page ``path``: the CSRF token its
    forms post."""
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    return _csrf(client.get(path, query_string=query))


def _shown(page, element_id: str) -> str | None:
    """The text of the element ``element_id`` of a console page, if there."""
    found = re.search(rf'id="{element_id}">([^<]+)<', page.get_data(as_text=True))
    return found.group(1) if found else None


def test_console_is_off_outside_sandbox_without_a_password_hash(settings):
    app = create_app(settings.replace(sandbox=False), store=MemoryStore())
    assert app.test_client().get("/admin/login").status_code == 404


def test_set_password_makes_the_hash_the_console_accepts(settings):
    result = CliRunner().invoke(
        main, ["admin", "set-password", "--password", "correct horse battery"]
    )
    assert result.exit_code == 0, result.output
    digest = re.fullmatch(r'admin_password_hash = "(\$argon2id\$[^"]+)"\n', result.output).group(1)
    app = create_app(
        settings.replace(sandbox=False, admin_password_hash=digest), store=MemoryStore()
    )
    client = app.test_client()
    # The sandbox demo password is refused once a hash is configured.
    assert _sign_in(client, "santeid-demo-admin").status_code == 401
    assert "santeid-demo-admin" not in client.get("/admin/login").get_data(as_text=True)
    signed_in = _sign_in(client, "correct horse battery")
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    short = CliRunner().invoke(main, ["admin", "set-password", "--password", "short"])
    assert short.exit_code == 2


def test_pages_need_a_signed_in_admin(client):
    for path in ("/admin/", "/admin/clients", "/admin/keys", "/admin/events", "/admin/insi"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_sign_in_is_throttled_per_address_after_five_failures(client):
    for _ in range(5):
        assert _sign_in(client, "wrong").status_code == 401
    # Even the right password waits for the window to pass.
    throttled = _sign_in(client, "santeid-demo-admin")
    assert throttled.status_code == 429
    other = client.application.test_client()
    page = other.get("/admin/login", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    csrf = _csrf(page)
    elsewhere = other.post(
        "/admin/login",
        data={"user": "admin", "password": "santeid-demo-admin", "csrf_token": csrf},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert elsewhere.status_code == 302


def test_a_successful_sign_in_is_not_counted_as_a_failure(client):
    for _ in range(4):
        assert _sign_in(client, "wrong").status_code == 401
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    # Counted before the check, then taken back: 4 failures so far, so a fifth is checked.
    assert _sign_in(client, "wrong").status_code == 401
    assert _sign_in(client, "wrong").status_code == 429


def _sign_in_as(client, password: str, forwarded_for: str):
    """A sign-in through the trusted proxy 127.0.0.1 (the test client's address) for the
    client ``forwarded_for``."""
    headers = {"X-Forwarded-For": forwarded_for}
    page = client.get("/admin/login", headers=headers)
    csrf = _csrf(page)
    return client.post(
        "/admin/login",
        data={"user": "admin", "password": password, "csrf_token": csrf},
        headers=headers,
    )


def test_sign_in_behind_a_trusted_proxy_is_throttled_per_forwarded_client(settings):
    """Behind the proxy every connection comes from its address: the limit counts the client
    it forwards, so one attacker cannot lock the admin out (docs/operations.md "Admin
    console"), and the events say who tried."""
    from santeid.observability.events import ADMIN_LOGIN
    from santeid.observability.metrics import OWN_METRICS

    def refusals() -> float:
        labels = {"reason": "rate_limit:admin-sign-in"}
        return OWN_METRICS.get_sample_value("santeid_refusals_total", labels) or 0.0

    app = create_app(settings.replace(trusted_proxies="127.0.0.1"), store=MemoryStore())
    attacker = app.test_client()
    for _ in range(5):
        assert _sign_in_as(attacker, "wrong", "203.0.113.9").status_code == 401
    admin = app.test_client()
    assert _sign_in_as(admin, "santeid-demo-admin", "198.51.100.20").status_code == 302
    before = refusals()
    assert _sign_in_as(attacker, "santeid-demo-admin", "203.0.113.9").status_code == 429
    assert refusals() == before + 1
    # The counter's key holds the address's digest, never the address (docs/storage.md).
    store_keys = list(app.extensions["santeid"].store._values)
    assert any(k.startswith("admin-login-failures:") for k in store_keys)
    assert not any("203.0.113.9" in k or "198.51.100.20" in k for k in store_keys)
    found = app.extensions["santeid"].events.list(types=(ADMIN_LOGIN,))
    assert [(e.reason, e.source) for e in found][::-1] == [
        *[("failure", "203.0.113.9")] * 5,
        ("success", "198.51.100.20"),
        ("throttled", "203.0.113.9"),
    ]


def test_insi_daily_counts_read_only_the_period(tmp_path):
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    from santeid.insi.audit import AuditLog
    from santeid.insi.model import CallContext

    audit = AuditLog(tmp_path / "insi.sqlite3")
    ctx = CallContext("LOGICIEL-A", "10B0152872", None, "rest", "bearer")
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    for day in range(20):  # one call a day, and a second one on the last day
        audit.record(ctx, "rechercherInsAvecTraitsIdentite", "00", at=start + timedelta(days=day))
    audit.record(ctx, "verifierInsAvecTraitsIdentite", "conform", at=start + timedelta(days=19))
    counts = audit.daily_counts(datetime(2026, 11, 18, tzinfo=UTC))
    assert counts == [
        ("2026-11-18", "LOGICIEL-A", "rechercherInsAvecTraitsIdentite", "00", 1),
        ("2026-11-19", "LOGICIEL-A", "rechercherInsAvecTraitsIdentite", "00", 1),
        ("2026-11-20", "LOGICIEL-A", "rechercherInsAvecTraitsIdentite", "00", 1),
        ("2026-11-20", "LOGICIEL-A", "verifierInsAvecTraitsIdentite", "conform", 1),
    ]
    assert audit.daily_counts(datetime(2026, 12, 1, tzinfo=UTC)) == []
    assert len(audit.daily_counts(datetime(2026, 1, 1, tzinfo=UTC))) == 21


def test_professionals_by_name_and_an_activation_code(app, client):
    from santeid.observability.events import ADMIN_DEVICE

    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    someone = app.extensions["santeid"].directory.get("810000000004")
    found = client.get("/admin/professionals", query_string={"q": someone.family_name})
    assert f"q={someone.national_id}" in found.get_data(as_text=True)
    csrf = _csrf(client.get("/admin/professionals", query_string={"q": someone.national_id}))
    started = client.post(
        "/admin/professionals/activation",
        data={"csrf_token": csrf, "national_id": someone.national_id},
    )
    assert started.status_code == 303
    code = _shown(client.get(started.headers["Location"]), "activation-code")
    # Stored (as a digest) for the phone to redeem, as one made by `santeid ecps activate`.
    ecps = app.extensions["santeid"].ecps
    digest = hashlib.sha256(code.encode()).hexdigest()
    assert ecps.store.get(f"ecps:activation:{digest}")["national_id"] == someone.national_id
    (event,) = app.extensions["santeid"].events.list(types=(ADMIN_DEVICE,))
    assert (event.reason, event.professional) == ("activation", someone.national_id)
    unknown = client.post(
        "/admin/professionals/activation",
        data={"csrf_token": csrf, "national_id": "899999999990"},
    )
    assert unknown.status_code == 404


def test_a_client_registered_from_the_form_gets_a_secret_shown_once(app, client):
    csrf = _signed_in(client)
    form = {"client_id": "rp-form", "client_name": "RP formulaire",
            "redirect_uri": "https://rp.example.org/cb", "csrf_token": csrf}  # fmt: skip
    registered = client.post("/admin/clients", data=form, follow_redirects=True)
    assert registered.status_code == 200
    secret = _shown(registered, "new-secret")
    stored = app.extensions["santeid"].clients.get("rp-form")
    assert stored.check_client_secret(secret)
    assert secret not in client.get("/admin/clients").get_data(as_text=True)
    # Bad metadata: a clear refusal, nothing registered.
    refused = client.post(
        "/admin/clients", data={**form, "client_id": "rp-bad", "redirect_uri": "x"}
    )
    assert refused.status_code == 400 and 'id="new-secret"' not in refused.get_data(as_text=True)
    assert app.extensions["santeid"].clients.get("rp-bad") is None


def test_dashboard_charts_insi_calls_per_day(app, client):
    from datetime import UTC
    from datetime import datetime

    from santeid.insi.model import CallContext

    audit = app.extensions["santeid"].insi.audit
    ctx = CallContext("LOGICIEL-B", None, None, "soap", "certificate")
    for result in ("00", "01", "00"):
        audit.record(ctx, "rechercherInsAvecTraitsIdentite", result, at=datetime.now(UTC))
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    html = client.get("/admin/").get_data(as_text=True)
    totals = dict(re.findall(r'data-series-total="([^"]+)">(\d+)<', html))
    assert totals["rechercherInsAvecTraitsIdentite"] == "3"
    assert (totals["00"], totals["01"], totals["LOGICIEL-B"]) == ("2", "1", "3")
    figures = client.get("/admin/dashboard.csv").get_data(as_text=True)
    assert any(
        line.startswith("insi-software,") and line.endswith(",LOGICIEL-B,3")
        for line in figures.splitlines()
    )
    # The columns docs/operations.md tells a script to read are the file's.
    header = figures.splitlines()[0]
    documented = re.search(r"`/admin/dashboard\.csv`: ([^;]+);", _OPERATIONS_DOC.read_text())
    assert documented and documented.group(1).replace("`", "").replace(" ", "") == header


@pytest.mark.parametrize("method", ["private_key_jwt", "tls_client_auth"])
def test_no_new_secret_for_a_client_that_authenticates_without_one(app, client, method):
    """A new secret for a ``private_key_jwt`` or ``tls_client_auth`` client would authenticate
    nothing (santeid.oidc.client_auth.SECRET_METHODS): no button, and 409 if posted anyway."""
    from joserfc.jwk import ECKey

    from santeid.observability.events import ADMIN_CLIENT
    from tests.support.oidc_flow import register_client

    credential = (
        {"jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}}
        if method == "private_key_jwt"
        else {"tls_client_auth_subject_dn": "CN=logiciel,O=Cabinet,C=FR"}
    )
    register_client(app, client_id="rp-keys", token_endpoint_auth_method=method, **credential)
    register_client(app, client_id="rp-secret")
    registry = app.extensions["santeid"].clients
    before = registry.get("rp-keys")
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    html = client.get("/admin/clients").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-client="([^"]+)">(.*?)</tr>', html, re.S))
    assert 'class="rotate"' not in rows["rp-keys"] and 'class="remove"' in rows["rp-keys"]
    assert 'class="rotate"' in rows["rp-secret"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    refused = client.post(
        "/admin/clients/rotate", data={"csrf_token": csrf, "client_id": "rp-keys"}
    )
    assert refused.status_code == 409
    assert 'id="new-secret"' not in refused.get_data(as_text=True)
    assert method in refused.get_data(as_text=True)
    after = registry.get("rp-keys")
    assert (after.metadata, after.secret_digest) == (before.metadata, before.secret_digest)
    assert not app.extensions["santeid"].events.list(types=(ADMIN_CLIENT,))
    # A client with a secret gets its new one (the control).
    rotated = client.post(
        "/admin/clients/rotate",
        data={"csrf_token": csrf, "client_id": "rp-secret"},
        follow_redirects=True,
    )
    assert registry.get("rp-secret").check_client_secret(_shown(rotated, "new-secret"))


@pytest.mark.postgres
def test_the_events_page_past_every_event_is_empty_on_postgresql(settings, postgres_url):
    """``?page=99999999999999999999``: its offset does not fit PostgreSQL's bigint; the page is
    empty, as every page past the last event, instead of a 500."""
    from santeid import db
    from santeid.observability.events import ADMIN_LOGIN

    app = create_app(settings.replace(database_url=postgres_url), store=MemoryStore())
    try:
        client = app.test_client()
        assert _sign_in(client, "santeid-demo-admin").status_code == 302
        assert app.extensions["santeid"].events.list(types=(ADMIN_LOGIN,))  # one event there
        for page in ("99999999999999999999", str(2**63 // 50), "-3", "x"):
            answer = client.get("/admin/events", query_string={"page": page})
            assert answer.status_code == 200, (page, answer.get_data(as_text=True)[:300])
        listed = client.get("/admin/events", query_string={"page": "0"}).get_data(as_text=True)
        assert "ADMIN_LOGIN" in listed
    finally:
        db.close_shared(postgres_url)


def _keys_form(client) -> str:
    return _csrf(client.get("/admin/keys"))


def test_rotating_from_the_console_a_broken_key_file_says_why(app, client, keys_dir):
    """A running server keeps its last good keys when the file is broken (docs/keys.md,
    "Reload"); a rotation from the console is refused as `santeid keys rotate` refuses it, with
    the store's message, and the file is left as it is."""
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    csrf = _keys_form(client)
    (keys_dir / "signing-keys.json").write_text("{oops")
    kid = app.extensions["santeid"].keys.signing_key().kid

    for form in ({}, {"retire": kid}):
        answer = client.post("/admin/keys", data={"csrf_token": csrf, **form})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 409, page
        error = re.search(r'<p class="error" role="alert" id="error">([^<]+)</p>', page).group(1)
        assert "signing-keys.json is not valid JSON" in error
    assert (keys_dir / "signing-keys.json").read_text() == "{oops"


def test_rotating_from_the_console_on_a_read_only_key_volume_says_why(
    client, keys_dir, monkeypatch
):
    """Keys mounted read-only (a Kubernetes Secret, docs/keys.md, "Several hosts") cannot be
    rotated in place: the console says so, as the command does, rather than "internal error"."""
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    csrf = _keys_form(client)
    before = (keys_dir / "signing-keys.json").read_bytes()

    def read_only(src: str, dst: str) -> None:
        raise OSError(30, "Read-only file system", dst)

    monkeypatch.setattr("santeid.keys.storage.os.replace", read_only)
    answer = client.post("/admin/keys", data={"csrf_token": csrf})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 409, page
    error = re.search(r'<p class="error" role="alert" id="error">([^<]+)</p>', page).group(1)
    assert f"cannot write in {keys_dir}" in error and "Read-only file system" in error
    assert (keys_dir / "signing-keys.json").read_bytes() == before


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_a_new_secret_is_long_enough_for_any_hmac_algorithm(app, client, alg):
    """A new secret has HS512's 512 bits whatever the client's method: Keycloak's
    ``KeycloakModelUtils.generateSecret`` makes every client secret 512 bits strong, the
    86 characters ``ClientAuthSecretSignedJWTTest.authenticateWithValidClientSecretWhenRotation
    PolicyIsEnableForHS512`` and ``regenerateClientSecretForClientSecretBasicWithIdTokenHs512``
    assert
    (https://github.com/keycloak/keycloak/blob/main/tests/base/src/test/java/org/keycloak/tests/oauth/ClientAuthSecretSignedJWTTest.java).
    A ``client_secret_jwt`` client of HS384 or HS512 gets one its algorithm accepts
    (RFC 7518 §3.2: a key as long as the hash) — 32 random bytes were refused there, a 500 —
    and authenticates with it."""
    import time
    import uuid

    from joserfc import jwt
    from joserfc.jwk import OctKey

    from tests.support.oidc_flow import ISSUER
    from tests.support.oidc_flow import OIDC
    from tests.support.oidc_flow import register_client

    register_client(
        app,
        client_id="rp-hmac",
        client_secret="s" * 64,
        token_endpoint_auth_method="client_secret_jwt",
        token_endpoint_auth_signing_alg=alg,
    )
    csrf = _signed_in(client)
    rotated = client.post(
        "/admin/clients/rotate",
        data={"csrf_token": csrf, "client_id": "rp-hmac"},
        follow_redirects=True,
    )
    assert rotated.status_code == 200, rotated.get_data(as_text=True)[:300]
    secret = _shown(rotated, "new-secret")
    assert len(secret) == 86
    now = int(time.time())
    claims = {"iss": "rp-hmac", "sub": "rp-hmac", "aud": f"{ISSUER}/protocol/openid-connect/token",
              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}  # fmt: skip
    assertion = jwt.encode(
        {"alg": alg}, claims, OctKey.import_key(secret.encode()), algorithms=[alg]
    )
    answer = client.post(f"{OIDC}/token", data={
        "grant_type": "authorization_code", "code": "made-up", "redirect_uri": "https://service.example.org/callback",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})  # fmt: skip
    assert answer.get_json()["error"] == "invalid_grant", answer.get_json()


def test_an_activation_code_refused_to_an_inactive_professional_says_why(app, client):
    """The page of an inactive professional offers the button; its refusal names the reason
    instead of the same page again, and nothing is made."""
    from santeid.observability.events import ADMIN_DEVICE

    inactive = app.extensions["santeid"].directory.get("810000000024")
    assert inactive is not None and not inactive.is_active
    csrf = _signed_in(client, "/admin/professionals", q=inactive.national_id)
    refused = client.post(
        "/admin/professionals/activation",
        data={"csrf_token": csrf, "national_id": inactive.national_id},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    error = re.search(r'<p class="error" role="alert" id="error">([^<]+)</p>', html).group(1)
    assert inactive.national_id in error and "inactif" in error
    assert 'id="activation-code"' not in html
    assert not app.extensions["santeid"].events.list(types=(ADMIN_DEVICE,))


def test_retiring_a_key_no_longer_active_says_so(app, client):
    """Two tabs on the keys page: the second "Retire" of the same key changes nothing and says
    why, on the console's page, rather than a bare 409."""
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    csrf = _keys_form(client)
    kid = app.extensions["santeid"].keys.signing_key().kid
    assert client.post("/admin/keys", data={"csrf_token": csrf, "retire": kid}).status_code == 303
    before = [(k.kid, k.status) for k in app.extensions["santeid"].keys.list()]
    again = client.post("/admin/keys", data={"csrf_token": csrf, "retire": kid})
    page = again.get_data(as_text=True)
    assert again.status_code == 409
    error = re.search(r'<p class="error" role="alert" id="error">([^<]+)</p>', page).group(1)
    assert kid in error
    assert 'id="keys"' in page  # the keys page, its table there
    assert [(k.kid, k.status) for k in app.extensions["santeid"].keys.list()] == before


def test_the_events_page_past_every_event_is_empty(client):
    """docs/operations.md: a page past the last event, whatever its number, is empty, one
    whose number has more digits than a page number is read with included (it was the first
    page); what is no number is the first page."""
    assert _sign_in(client, "santeid-demo-admin").status_code == 302
    assert "<td>ADMIN_LOGIN</td>" in client.get("/admin/events").get_data(as_text=True)
    for page in ("99999999999999999999", "1" + "0" * 5000, "1000"):
        html = client.get("/admin/events", query_string={"page": page}).get_data(as_text=True)
        assert "<td>ADMIN_LOGIN</td>" not in html, page
    for page in ("0", "000", "x", "-3"):  # the first page
        html = client.get("/admin/events", query_string={"page": page}).get_data(as_text=True)
        assert "<td>ADMIN_LOGIN</td>" in html, page


def test_a_refused_registration_keeps_what_was_typed(app, client):
    """A registration refused (a client id that exists, a fragment in the redirect URI, JSON
    with one mistake) shows the form again as it was typed, to correct, not to type again."""
    csrf = _signed_in(client)
    form = {"client_id": "rp-typed", "client_name": "RP « saisi »",
            "redirect_uri": "https://rp.example.org/cb#x", "csrf_token": csrf}  # fmt: skip
    refused = client.post("/admin/clients", data=form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "fragment" in page
    assert 'id="client_id" name="client_id" value="rp-typed"' in page
    assert 'value="RP « saisi »"' in page
    assert 'value="https://rp.example.org/cb#x"' in page
    metadata = '{"client_id": "rp-json", "redirect_uris": ["https://rp.example.org/cb"],}'
    refused = client.post("/admin/clients", data={"metadata": metadata, "csrf_token": csrf})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert re.search(r'<textarea id="metadata"[^>]*>([^<]*)</textarea>', page).group(1) == (
        metadata.replace('"', "&#34;")
    )
    assert app.extensions["santeid"].clients.get("rp-typed") is None
    # A member twice (RFC 7493 §2.3): refused naming it, not the last one registered.
    metadata = ('{"client_id": "rp-twice", "redirect_uris": ["https://rp.example.org/cb"], '
                '"redirect_uris": ["https://evil.example/cb"]}')  # fmt: skip
    refused = client.post("/admin/clients", data={"metadata": metadata, "csrf_token": csrf})
    assert refused.status_code == 400
    assert "&#39;redirect_uris&#39; appears more than once" in refused.get_data(as_text=True)
    assert app.extensions["santeid"].clients.get("rp-twice") is None
    # Registered: the form is empty again.
    registered = client.post(
        "/admin/clients",
        data={**form, "redirect_uri": "https://rp.example.org/cb"},
        follow_redirects=True,
    )
    assert registered.status_code == 200
    assert 'id="client_id" name="client_id" value=""' in registered.get_data(as_text=True)


def test_the_language_links_stay_on_the_page_or_its_section(app, client):
    # A bare "?lang=en" after a form posted to /admin/clients/rotate led to a 405 (the address
    # is no page), and on a search dropped the search. A refused rotation answers there.
    from tests.support.oidc_flow import register_client

    register_client(
        app,
        client_id="rp-lang",
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn="CN=logiciel,O=Cabinet,C=FR",
    )
    assert _sign_in(client, "santeid-demo-admin").status_code == 302

    def english_link(page) -> str:
        html = page.get_data(as_text=True)
        return (
            re.search(r'<a href="([^"]+)" lang="en">English</a>', html)
            .group(1)
            .replace("&amp;", "&")
        )

    searched = client.get("/admin/professionals?q=810000000030&lang=fr")
    assert english_link(searched) == "/admin/professionals?q=810000000030&lang=en"
    csrf = _csrf(client.get("/admin/clients"))
    refused = client.post(
        "/admin/clients/rotate", data={"csrf_token": csrf, "client_id": "rp-lang"}
    )
    assert refused.status_code == 409
    link = english_link(refused)
    assert link == "/admin/clients?lang=en"
    followed = client.get(link)
    assert followed.status_code == 200
    assert '<html lang="en">' in followed.get_data(as_text=True)


def test_a_refused_password_keeps_the_user_typed_never_the_password(client):
    refused = _sign_in(client, "not-the-password")
    assert refused.status_code == 401
    html = refused.get_data(as_text=True)
    assert re.search(r'<input id="user" name="user"[^>]* value="admin"', html)
    assert "not-the-password" not in html


def _cookies_and_locations(client, answers) -> str:
    """Everything a browser keeps or is sent to by ``answers``: its cookies' values and the
    redirects' addresses."""
    kept = [cookie.value for cookie in client._cookies.values()]
    return " ".join([*kept, *(a.headers.get("Location", "") for a in answers)])


def test_a_reload_after_a_change_changes_nothing_and_shows_its_secret_no_more(app, client):
    """Post/Redirect/Get: each change answers 303 to its section's page, which shows the new
    secret, key or activation code once; reloading that page sends no form again — the
    registry, the keys, the activation codes and the admin events stay as the change left
    them — and shows the secret no more. What is shown once is never in a cookie or a URL."""
    from santeid.observability.events import ADMIN_CLIENT
    from santeid.observability.events import ADMIN_DEVICE
    from santeid.observability.events import ADMIN_KEY
    from tests.support.oidc_flow import register_client

    services = app.extensions["santeid"]
    register_client(app, client_id="rp-reload")
    csrf = _signed_in(client)

    rotated = client.post("/admin/clients/rotate", data={"csrf_token": csrf,
                                                         "client_id": "rp-reload"})  # fmt: skip
    assert rotated.status_code == 303 and rotated.headers["Location"] == "/admin/clients"
    page = client.get("/admin/clients")
    secret = _shown(page, "new-secret")
    assert secret and "rp-reload" in _shown(page, "notice")
    digest = services.clients.get("rp-reload").secret_digest
    reloaded = client.get("/admin/clients")
    assert _shown(reloaded, "new-secret") is None and _shown(reloaded, "notice") is None
    assert services.clients.get("rp-reload").secret_digest == digest
    assert services.clients.get("rp-reload").check_client_secret(secret)
    assert secret not in _cookies_and_locations(client, [rotated])

    registered = client.post("/admin/clients", data={"csrf_token": csrf, "client_id": "rp-new",
                             "redirect_uri": "https://rp.example.org/cb"})  # fmt: skip
    assert registered.status_code == 303
    secret = _shown(client.get(registered.headers["Location"]), "new-secret")
    assert services.clients.get("rp-new").check_client_secret(secret)
    assert _shown(client.get("/admin/clients"), "new-secret") is None
    removed = client.post("/admin/clients/remove", data={"csrf_token": csrf,
                                                         "client_id": "rp-new"})  # fmt: skip
    assert removed.status_code == 303
    assert "rp-new" in _shown(client.get("/admin/clients"), "notice")
    assert _shown(client.get("/admin/clients"), "notice") is None
    reasons = [e.reason for e in services.events.list(types=(ADMIN_CLIENT,))]
    assert sorted(reasons) == ["register", "remove", "rotate_secret"]

    kids = {k.kid for k in services.keys.list()}
    rotated = client.post("/admin/keys", data={"csrf_token": csrf})
    assert rotated.status_code == 303 and rotated.headers["Location"] == "/admin/keys"
    (new_kid,) = {k.kid for k in services.keys.list()} - kids
    assert new_kid in _shown(client.get("/admin/keys"), "notice")
    assert _shown(client.get("/admin/keys"), "notice") is None
    assert {k.kid for k in services.keys.list()} == kids | {new_kid}
    assert len(services.events.list(types=(ADMIN_KEY,))) == 1

    someone = services.directory.get("810000000004")
    started = client.post(
        "/admin/professionals/activation",
        data={"csrf_token": csrf, "national_id": someone.national_id},
    )
    assert started.status_code == 303
    # Another professional's page does not take it: the code is for this one's page only.
    other = client.get("/admin/professionals", query_string={"q": "810000000030"})
    assert _shown(other, "activation-code") is None
    code = _shown(client.get(started.headers["Location"]), "activation-code")
    assert code and code not in _cookies_and_locations(client, [started])
    again = client.get(started.headers["Location"])
    assert _shown(again, "activation-code") is None and 'id="start-activation"' in (
        again.get_data(as_text=True)
    )
    assert len(services.events.list(types=(ADMIN_DEVICE,))) == 1
    # Taken once shown: the store keeps nothing of it.
    assert not [k for k in services.store._values if k.startswith("admin-flash:")]


def _section_form(client, path: str, **query) -> dict[str, str]:
    """The hidden fields of the first form that changes something on the console page
    ``path``: its CSRF token and ``back``."""
    html = client.get(path, query_string=query).get_data(as_text=True)
    back = re.search(r'name="back" value="([^"]*)"', html).group(1).replace("&amp;", "&")
    return {"csrf_token": _csrf_text(html), "back": back}


def _csrf_text(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_a_form_posted_after_sign_out_says_so_and_sign_in_leads_back_to_its_page(app, client):
    """A second tab's form posted once the session has ended is not sent: the login page says
    so (once), and the sign-in leads back to the page the form was on — the form is not
    posted again."""
    from santeid.observability.events import ADMIN_DEVICE

    _signed_in(client)
    hidden = _section_form(client, "/admin/professionals", q="8 10 000 000 004")
    assert hidden["back"] == "/admin/professionals?q=8+10+000+000+004"
    client.post("/admin/logout", data={"csrf_token": hidden["csrf_token"]})
    posted = client.post("/admin/professionals/activation",
                         data={**hidden, "national_id": "810000000004"})  # fmt: skip
    assert posted.status_code == 303 and posted.headers["Location"] == "/admin/login"
    login = client.get("/admin/login")
    assert "formulaire n'a pas été envoyé" in _shown(login, "notice").replace("&#39;", "'")
    assert _shown(client.get("/admin/login"), "notice") is None  # said once
    assert not app.extensions["santeid"].events.list(types=(ADMIN_DEVICE,))
    signed = _sign_in(client, "santeid-demo-admin")
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/admin/professionals?q=8+10+000+000+004"
    assert not app.extensions["santeid"].events.list(types=(ADMIN_DEVICE,))
    # Once back, the next sign-in goes to the dashboard again.
    client.post("/admin/logout", data={"csrf_token": _csrf(client.get("/admin/clients"))})
    assert _sign_in(client, "santeid-demo-admin").headers["Location"] == "/admin/"
    # The language chosen is kept across: an English form is answered in English.
    csrf = _csrf(client.get("/admin/keys?lang=en"))
    client.post("/admin/logout", data={"csrf_token": csrf})
    client.post("/admin/keys", data={"csrf_token": csrf, "back": "/admin/keys"})
    assert "the form was not sent" in _shown(client.get("/admin/login"), "notice")


def test_a_form_without_this_browsers_token_after_sign_out_writes_no_cookie(client):
    """A form posted from another site after the session ended (the browser sends it
    without the console's cookies, or with a token not this browser's) is not remembered:
    no cookie is written that would replace the console's — signing its admin out."""
    client.post("/admin/logout", data={"csrf_token": _signed_in(client)})
    for token in ("", "forged"):
        posted = client.post("/admin/clients", data={"csrf_token": token, "back": "/admin/keys"})
        assert posted.status_code == 303 and posted.headers["Location"] == "/admin/login"
        assert "Set-Cookie" not in posted.headers
    assert _shown(client.get("/admin/login"), "notice") is None
    assert _sign_in(client, "santeid-demo-admin").headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    "back",
    [
        "//evil.example/admin/keys",
        "https://evil.example/admin/keys",
        "/\\evil.example/admin/keys",
        "/admin/../sandbox/debugger",
        "/.well-known/openid-configuration",
        "/admin/login",
        "/admin/keys#x",
        "/admin/keys\r\nSet-Cookie: x=y",
        "/admin/clients/rotate",
        "",
    ],
)
def test_the_page_a_sign_in_leads_back_to_is_a_console_page_only(client, back):
    """``back`` comes with the form: anything but the path of a console page shown by GET is
    not followed (no open redirect) — the sign-in leads to the section's page instead."""
    csrf = _signed_in(client, "/admin/keys")
    client.post("/admin/logout", data={"csrf_token": csrf})
    posted = client.post("/admin/clients/remove", data={"csrf_token": csrf, "back": back,
                                                        "client_id": "rp-x"})  # fmt: skip
    assert posted.status_code == 303
    signed = _sign_in(client, "santeid-demo-admin")
    assert signed.headers["Location"] == "/admin/clients"


def test_a_client_field_over_its_limit_says_which_and_keeps_the_form(app, client):
    """A 5 000-character client name: the clients page, naming the field and its limit
    (``max_parameter_length``, the rule of every form), the form as typed; nothing
    registered. Signed out or with another CSRF token, nothing of the page is shown."""
    limit = app.extensions["santeid"].settings.http.max_parameter_length
    name = "N" * 5000
    csrf = _signed_in(client)
    form = {"csrf_token": csrf, "client_id": "rp-long", "client_name": name,
            "redirect_uri": "https://rp.example.org/cb"}  # fmt: skip
    refused = client.post("/admin/clients", data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    error = _shown(refused, "error")
    assert "client_name" in error and str(limit) in error
    assert f'id="client_name" name="client_name" value="{name}"' in html
    assert 'value="rp-long"' in html and 'id="clients"' in html
    assert app.extensions["santeid"].clients.get("rp-long") is None
    metadata = '{"client_id": "rp-json", "client_name": "' + name + '"}'
    refused = client.post("/admin/clients", data={"csrf_token": csrf, "metadata": metadata})
    assert refused.status_code == 400 and "metadata" in _shown(refused, "error")
    assert name in refused.get_data(as_text=True)
    # Another token: the CSRF refusal, not the page.
    forged = client.post("/admin/clients", data={**form, "csrf_token": "forged"})
    assert forged.status_code == 400 and 'id="clients"' not in forged.get_data(as_text=True)
    # Elsewhere in the console, the rule's own page.
    kid = app.extensions["santeid"].keys.signing_key().kid
    other = client.post("/admin/keys", data={"csrf_token": csrf, "retire": kid + "x" * limit})
    assert other.status_code == 400 and 'id="keys"' not in other.get_data(as_text=True)
    signed_out = app.test_client().post("/admin/clients", data=form)
    assert signed_out.status_code == 303 and signed_out.headers["Location"] == "/admin/login"


def test_the_events_filter_reads_a_spaced_national_id(app, client):
    """A national identifier typed with spaces, as on the login page, finds its events."""
    csrf = _signed_in(client, "/admin/professionals", q="810000000004")
    client.post("/admin/professionals/activation",
                data={"csrf_token": csrf, "national_id": "810000000004"})  # fmt: skip

    def listed(typed: str) -> list[str]:
        html = client.get("/admin/events", query_string={"professional": typed})
        return re.findall(r"<tr><td>[^<]*</td><td>(\w+)</td>", html.get_data(as_text=True))

    found = listed("810000000004")
    assert found == ["ADMIN_DEVICE"]
    for typed in ("8 10 000 000 004", "  810000000004  ", "8 1000 0000 004"):
        assert listed(typed) == found, typed
    assert listed("810000000030") == []


def test_an_inactive_professional_s_page_says_so(app, client):
    inactive = app.extensions["santeid"].directory.get("810000000024")
    assert inactive is not None and not inactive.is_active
    _signed_in(client, "/admin/")
    page = client.get("/admin/professionals", query_string={"q": inactive.national_id})
    assert "Inactif dans l'annuaire" in _shown(page, "inactive").replace("&#39;", "'")
    page = client.get("/admin/professionals", query_string={"q": inactive.national_id,
                                                           "lang": "en"})  # fmt: skip
    assert "Inactive in the directory" in _shown(page, "inactive")
    found = client.get("/admin/professionals", query_string={"q": inactive.family_name})
    assert "(inactive)" in found.get_data(as_text=True)
    active = client.get("/admin/professionals", query_string={"q": "810000000004"})
    assert 'id="professional"' in active.get_data(as_text=True)
    assert _shown(active, "inactive") is None


def test_the_console_refuses_a_jwks_uri_as_the_command_does(app, client):
    """The console's JSON registration checks metadata where ``santeid clients add`` does
    (``validate_metadata``): a ``jwks_uri``, never fetched, is refused for a client holding a
    secret as for any other, not registered to be ignored (docs/endpoints.md, "Client
    metadata")."""
    csrf = _signed_in(client)
    for method in ("client_secret_post", "none"):
        metadata = {"client_id": f"rp-{method}", "redirect_uris": ["https://rp.example.org/cb"],
                    "token_endpoint_auth_method": method,
                    "jwks_uri": "https://rp.example.org/jwks.json"}  # fmt: skip
        if method != "none":
            metadata["client_secret"] = "a-long-enough-secret-0123456789"
        refused = client.post(
            "/admin/clients", data={"metadata": json.dumps(metadata), "csrf_token": csrf}
        )
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400, page
        assert "jwks_uri is not supported: register the public keys inline in jwks" in page
        assert app.extensions["santeid"].clients.get(f"rp-{method}") is None

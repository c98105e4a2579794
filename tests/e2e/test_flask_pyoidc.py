"""Flask-pyoidc (PyPI ``Flask-pyoidc``, https://github.com/zamzterz/Flask-pyoidc), the Flask
extension on pyoidc's ``oic``, pointed at a real ``santeid serve`` over HTTPS: a Flask service
(tests/e2e/flask_pyoidc/app.py) configured as the library's README says, a
``ProviderConfiguration`` with the realm's ``issuer`` (discovery) and a ``ClientMetadata``
with ``client_id`` and ``client_secret``, ``auth_request_params`` PSC's ``openid scope_all``
and ``acr_values`` ``eidas1``.

Flask-pyoidc pins ``oic`` below the version the project uses: the service runs as its own
process from a virtual environment beside its file (``tests/e2e/flask_pyoidc/.venv``,
git-ignored), installed once from the hashed lock ``tests/e2e/flask_pyoidc/requirements.txt``
(:func:`install_locked_venv`). Its ``requests`` trusts santeid's development authority through
``REQUESTS_CA_BUNDLE``, nothing insecure switched on. The service keeps Flask's cookie session,
as the README's example; a second one keeps Flask-Session's server-side sessions, the way past
the cookie size a longer PSC profile reaches.

What the library does, read in its source (``flask_pyoidc/flask_pyoidc.py``,
``auth_response_handler.py``, ``pyoidc_facade.py``): ``@oidc_auth`` sends the browser to the
discovered authorization endpoint with ``state`` and ``nonce`` kept in Flask's session; the
redirect URI's view exchanges the code (``client_secret_basic``), has ``oic`` verify the ID
token (signature against ``jwks_uri``, ``iss``, ``aud``, ``nonce``, ``exp``), reads userinfo
(its ``sub`` must be the ID token's) and keeps tokens and claims in ``flask.session``;
``@oidc_logout`` clears them and sends the browser to ``end_session_endpoint`` with
``id_token_hint``, ``post_logout_redirect_uri`` (the logout view itself) and a ``state`` it
checks on the way back; an error from the provider or a failed check is handed to the
``@error_view`` (and logged at ``ERROR``).

The bearer-token API (``@token_auth``, ``@access_control``, ``flask_pyoidc.py``'s
``introspect_token``): the token is introspected at the discovered ``introspection_endpoint``
(RFC 7662, ``token_type_hint=access_token``, HTTP Basic) and must be ``active``, name the
client in ``aud`` and hold every scope of ``scopes_required``; no ``Authorization`` header is
401, a refused token 403. PSC's access tokens carry no ``aud``: the library's ``result['aud']``
raises ``KeyError`` and Flask answers 500 for every active token, so the service's
``PscTokenAuthentication`` reads ``client_id`` there for the ``psc-api`` provider, and the
rest of the check meets santeid's answers. Token refresh: ``valid_access_token()`` sends the
refresh token to the token endpoint when the access token has expired or with
``force_refresh=True``, and answers ``None`` when refused; ``session_refresh_interval_seconds``
makes ``@oidc_auth`` send the browser back with ``prompt=none`` once the interval has passed
(``user_session.py``'s ``should_refresh``), and hands an error answer to ``@error_view``."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from tests.support.http_login import login_from_service
from tests.support.http_login import revoke
from tests.support.http_login import service_token
from tests.support.python_rp import ServiceSite
from tests.support.python_venv import install_locked_venv
from tests.support.redis_server import free_port
from tests.support.servers import https_sandbox_process
from tests.support.servers import running_server

FOLDER = Path(__file__).resolve().parent / "flask_pyoidc"

pytestmark = [
    pytest.mark.server,
    # The first test waits for the virtual environment's install (once per checkout).
    pytest.mark.timeout(900),
]

CLIENT_ID = "flask-pyoidc-service"
SERVER_SESSIONS_CLIENT_ID = "flask-pyoidc-server-sessions"
SECRET = "a-long-secret-for-the-flask-pyoidc-service-01"
#: Another service of the realm, whose own tokens are not the API's.
OTHER_SERVICE = "flask-pyoidc-another-service"
#: The service's providers: santeid with the registered secret, and with another one.
PSC = "psc"
WRONG_SECRET = "wrong-secret"
#: santeid with the registered secret and ``session_refresh_interval_seconds`` 0: every visit
#: of the protected view after the login re-authenticates silently (``prompt=none``), so the
#: test sees it without waiting for an interval to pass.
SILENT = "psc-silent"
#: santeid with the registered secret, its introspection without ``aud`` (app.py's
#: ``PscTokenAuthentication``).
API = "psc-api"
#: docs/sandbox.md: a médecin approved at once; one who denies on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: docs/sandbox.md: two exercices and two professions, a longer userinfo.
TWO_EXERCICES = "810000000012"
#: Werkzeug's limit for a cookie, above which it warns that browsers may drop it.
COOKIE_LIMIT = 4093


@pytest.fixture(scope="module")
def python() -> Path:
    return install_locked_venv(FOLDER, "flask_pyoidc")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with https_sandbox_process(
        tmp_path_factory.mktemp("flask-pyoidc-santeid"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@contextlib.contextmanager
def flask_service(
    python: Path, server, folder: Path, client_id: str, *, server_sessions: bool
) -> Iterator[tuple[str, Path]]:
    """The Flask service on a free port of ``localhost`` (another site than santeid's
    ``127.0.0.1``), registered at santeid as ``client_id`` with its redirect URI and its logout
    view as post-logout redirect URI; ``server_sessions``: Flask-Session's, else Flask's
    cookie session. Its origin and its log."""
    port = free_port()
    origin = f"http://localhost:{port}"
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/redirect_uri"],
        post_logout_redirect_uris=[f"{origin}/logout"],
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
    )
    config = {
        "port": port,
        "origin": origin,
        "issuer": server.issuer,
        "client_id": client_id,
        "providers": {
            PSC: SECRET,
            WRONG_SECRET: "not-the-registered-secret",
            SILENT: SECRET,
            API: SECRET,
        },
        "sessions": str(folder / "sessions") if server_sessions else None,
        "session_refresh_intervals": {SILENT: 0},
        "audience_from_client_id": [API],
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SANTEID_", "PYTHON"))},
        "FLASK_PYOIDC_RP": json.dumps(config),
        "REQUESTS_CA_BUNDLE": server.ca,
    }
    log = folder / "service.log"
    command = [str(python), str(FOLDER / "app.py")]
    with running_server(command, env, log, f"http://127.0.0.1:{port}/health", cwd=folder):
        yield origin, log


@pytest.fixture(scope="module")
def service(python, server, tmp_path_factory):
    """The service as the README's example has it: Flask's cookie session."""
    folder = tmp_path_factory.mktemp("flask-pyoidc-service")
    with flask_service(python, server, folder, CLIENT_ID, server_sessions=False) as service:
        yield service


@pytest.fixture(scope="module")
def server_side_service(python, server, tmp_path_factory):
    """The same service with Flask-Session's server-side sessions."""
    folder = tmp_path_factory.mktemp("flask-pyoidc-server-sessions")
    with flask_service(
        python, server, folder, SERVER_SESSIONS_CLIENT_ID, server_sessions=True
    ) as service:
        yield service


@pytest.fixture
def site(service):
    """The service's origin; it must log nothing during the test (warnings and errors only)
    unless the test took it (:meth:`ServiceSite.taken`)."""
    site = ServiceSite.from_end_of(*service)
    yield site
    logged = site.taken()
    assert not logged.strip(), logged


def browser_for(server) -> requests.Session:
    """A browser trusting santeid's development authority (and nothing from the environment
    that would override it)."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = server.ca
    return browser


def callback_answer(
    site: str, provider: str, browser: requests.Session, national_id: str = PROFESSIONAL,
    **options,
) -> requests.Response:  # fmt: skip
    """The professional's browser from the service's protected view through santeid's login
    to the library's redirect URI (``options``: :func:`login_from_service`'s): the library's
    answer there."""
    callback = login_from_service(
        browser, f"{site}/me/{provider}", f"{site}/redirect_uri", national_id, **options
    )
    return browser.get(callback, allow_redirects=False, timeout=30)


def log_in(
    site: str, browser: requests.Session, national_id: str = PROFESSIONAL, provider: str = PSC
) -> dict:
    """The whole login: back at the protected view, what it shows."""
    answer = callback_answer(site, provider, browser, national_id)
    assert answer.status_code == 302, answer.text[:2000]
    assert answer.headers["Location"] == f"/me/{provider}"
    shown = browser.get(urljoin(site, answer.headers["Location"]), allow_redirects=False)
    assert shown.status_code == 200, shown.text[:2000]
    return shown.json()


def authorization_url(site: str, browser: requests.Session) -> str:
    """Where the protected view sends a browser without a session of the service: the
    authorization request's URL."""
    sent = browser.get(f"{site}/me/{PSC}", allow_redirects=False, timeout=10)
    assert sent.status_code == 302, sent.text[:500]
    return sent.headers["Location"]


def endpoint_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query


def test_the_protected_view_sends_psc_s_authorization_request(server, site):
    """``@oidc_auth``: the endpoint from santeid's discovery document, the registered client
    and redirect URI, PSC's scopes and ``acr_values`` from ``auth_request_params``, a
    ``state`` and a ``nonce``."""
    endpoint, query = endpoint_and_query(authorization_url(site, browser_for(server)))
    assert endpoint == f"{server.oidc}/auth"
    assert query.pop("state") and query.pop("nonce")
    assert query == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid scope_all",
        "acr_values": "eidas1",
        "redirect_uri": f"{site}/redirect_uri",
    }


def test_the_login_keeps_the_verified_id_token_and_psc_s_userinfo(server, site):
    """The library verified the ID token (signature, ``iss``, ``aud``, the nonce it sent) and
    keeps its claims with userinfo's: the claims PSC services read reached the view."""
    browser = browser_for(server)
    shown = log_in(site, browser)
    assert shown["provider"] == PSC
    id_token = shown["id_token"]
    keys = jwt.PyJWKClient(
        f"{server.oidc}/certs", ssl_context=ssl.create_default_context(cafile=server.ca)
    )
    verified = jwt.decode(
        shown["id_token_jwt"],
        keys.get_signing_key_from_jwt(shown["id_token_jwt"]).key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=server.issuer,
    )
    # oic keeps ``aud`` as a list (OpenID Connect Core §2: a string or an array).
    assert id_token == {**verified, "aud": [CLIENT_ID]}
    assert id_token["acr"] == "eidas1" and id_token["nonce"]
    userinfo = shown["userinfo"]
    assert userinfo["sub"] == id_token["sub"]
    assert userinfo["SubjectNameID"] == userinfo["preferred_username"] == PROFESSIONAL
    assert (userinfo["given_name"], userinfo["family_name"]) == ("CLEMENT", "ARNAUD")
    assert userinfo["SubjectRefPro"]["exercices"]


def test_an_id_token_for_another_nonce_is_refused_by_the_library(server, site):
    """The ``nonce`` altered on its way to santeid: santeid puts the one it received in the ID
    token, the library compares it with the one it kept and refuses the login (its error
    view), so the ID token check is the library's own."""
    browser = browser_for(server)
    answer = callback_answer(site, PSC, browser, nonce="another-nonce")
    assert answer.status_code == 401, answer.text[:2000]
    assert answer.json()["error"] == "unexpected_error"
    assert "nonce" in answer.json()["error_description"].lower()
    assert "ERROR" in site.taken()
    assert browser.get(f"{site}/me/{PSC}", allow_redirects=False).status_code == 302


def test_the_library_s_logout_ends_santeid_s_sso_session(server, site):
    """``@oidc_logout``: the browser goes to santeid's end-session endpoint with the ID token
    as ``id_token_hint``, the logout view as ``post_logout_redirect_uri`` and a ``state``;
    santeid ends the SSO session without a confirmation page and sends the browser back with
    that ``state`` (which the library checks: it logs a mismatch). Before, a new session of the
    service logged in through santeid's SSO session at once; after, santeid asks for the
    professional again."""
    browser = browser_for(server)
    shown = log_in(site, browser)
    another_session = browser_for(server)
    for cookie in browser.cookies:
        if cookie.domain == urlsplit(server.base).hostname:
            another_session.cookies.set_cookie(cookie)
    sso = another_session.get(authorization_url(site, another_session), allow_redirects=False)
    assert sso.status_code == 302, sso.text[:500]
    assert sso.headers["Location"].startswith(f"{site}/redirect_uri?"), sso.headers

    sent = browser.get(f"{site}/logout", allow_redirects=False)
    assert sent.status_code == 303, sent.text[:500]
    endpoint, query = endpoint_and_query(sent.headers["Location"])
    assert endpoint == f"{server.oidc}/logout"
    assert query["id_token_hint"] == shown["id_token_jwt"]
    assert query["post_logout_redirect_uri"] == f"{site}/logout"
    ended = browser.get(sent.headers["Location"], allow_redirects=False)
    assert ended.status_code == 302, ended.text[:500]
    assert ended.headers["Location"] == f"{site}/logout?state={query['state']}"
    back = browser.get(ended.headers["Location"], allow_redirects=False)
    assert back.json() == {"logged_out": True, "state": query["state"]}

    asked = browser.get(authorization_url(site, browser), allow_redirects=False)
    assert asked.status_code == 302, asked.text[:500]
    assert "/login-actions/authenticate?" in asked.headers["Location"], asked.headers
    page = browser.get(urljoin(asked.url, asked.headers["Location"]), allow_redirects=False)
    assert page.status_code == 200 and 'name="national_id"' in page.text, page.text[:500]


def test_a_wrong_client_secret_is_the_library_s_error_page(server, site):
    """The service's secret is not the registered one: santeid answers the code exchange with
    Keycloak's 401 ``unauthorized_client`` (docs/psc-integration.md §5.1), which the library
    reads as an OAuth error and hands to its error view; santeid logs no failure of its own."""
    answer = callback_answer(site, WRONG_SECRET, browser_for(server))
    assert answer.status_code == 401, answer.text[:2000]
    assert answer.json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }
    assert "unauthorized_client" in site.taken()
    assert "Traceback" not in server.log.read_text()


def test_a_login_refused_on_the_phone_is_the_library_s_error_page(server, site):
    """The professional denies the login on the phone and gives up: santeid sends the browser
    back with ``access_denied``, which the library hands to its error view; the protected
    view still asks for a login."""
    browser = browser_for(server)
    answer = callback_answer(site, PSC, browser, DENYING, refused=True)
    assert answer.status_code == 401, answer.text[:2000]
    assert answer.json()["error"] == "access_denied"
    assert "access_denied" in site.taken()
    assert browser.get(f"{site}/me/{PSC}", allow_redirects=False).status_code == 302


def test_a_longer_profile_overflows_the_cookie_session_and_not_a_server_side_one(
    server, site, server_side_service
):
    """The library keeps the access, refresh and ID tokens, the ID token's claims and
    userinfo in ``flask.session``. In Flask's cookie session (the README's example) a
    professional with two exercices makes it larger than a browser keeps (Werkzeug warns):
    the browser drops it, and the protected view starts the login again, in a loop
    (https://github.com/zamzterz/Flask-pyoidc/issues/115). With Flask-Session's server-side
    sessions the cookie holds an identifier and the same login shows both exercices."""
    browser = browser_for(server)
    log_in(site, browser, TWO_EXERCICES)
    assert len(browser.cookies.get("session")) > COOKIE_LIMIT
    assert "The 'session' cookie is too large" in site.taken()

    server_side = ServiceSite.from_end_of(*server_side_service)
    browser = browser_for(server)
    shown = log_in(server_side, browser, TWO_EXERCICES)
    assert len(browser.cookies.get("session")) < 100
    assert len(shown["userinfo"]["SubjectRefPro"]["exercices"]) == 2
    assert not server_side.taken().strip()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def introspected(server, token: str) -> dict:
    """santeid's own introspection answer for ``token`` (RFC 7662, the service's credentials)."""
    answer = requests.post(
        f"{server.oidc}/token/introspect",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(CLIENT_ID, SECRET),
        verify=server.ca,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def forged(token: str) -> str:
    """``token`` with another professional in its payload, its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["preferred_username"] = claims["SubjectNameID"] = TWO_EXERCICES
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_the_library_s_token_check_fails_on_every_psc_access_token(server, site):
    """``@auth.token_auth`` as the README has it: the library introspects the bearer token at
    santeid's ``introspection_endpoint`` with the service's credentials, and santeid answers
    the professional's token active — without ``aud``, which PSC's access tokens do not carry
    (docs/psc-integration.md §3). The library then reads ``result['aud']`` (it requires its
    client id there): ``KeyError``, Flask's 500, for ``token_auth`` and ``access_control``
    alike. Tokens santeid answers inactive never reach that line: the library's 403."""
    token = log_in(site, browser_for(server))["access_token"]
    answer = introspected(server, token)
    assert answer["active"] is True and answer["client_id"] == CLIENT_ID
    assert "aud" not in answer

    for view in (f"/api/{PSC}", f"/either/{PSC}"):
        refused = requests.get(f"{site}{view}", headers=bearer(token), timeout=30)
        assert refused.status_code == 500, refused.text[:500]
    logged = site.taken()
    assert logged.count("KeyError: 'aud'") == 2, logged

    assert requests.get(f"{site}/api/{PSC}", timeout=30).status_code == 401
    inactive = requests.get(f"{site}/api/{PSC}", headers=bearer(forged(token)), timeout=30)
    assert inactive.status_code == 403


def test_a_professional_s_token_is_accepted_with_santeid_s_introspection_answer(server, site):
    """With the introspection that reads ``client_id`` where the library reads ``aud``
    (app.py's ``PscTokenAuthentication``; the rest is the library's): the professional's access
    token reaches the view, which sees santeid's introspection answer in
    ``auth.current_token_identity`` — ``active``, the service as ``client_id``, the
    professional's national identifier, ``openid scope_all`` — and meets
    ``scopes_required=["scope_all"]``."""
    token = log_in(site, browser_for(server))["access_token"]
    shown = requests.get(f"{site}/api/{API}", headers=bearer(token), timeout=30)
    assert shown.status_code == 200, shown.text[:500]
    identity = shown.json()
    assert identity == introspected(server, token)
    assert identity["active"] is True and identity["client_id"] == CLIENT_ID
    assert identity["username"] == identity["SubjectNameID"] == PROFESSIONAL
    assert identity["scope"].split() == ["openid", "scope_all"]
    professionals = requests.get(
        f"{site}/api/{API}/professionals", headers=bearer(token), timeout=30
    )
    assert professionals.status_code == 200, professionals.text[:500]
    assert professionals.json()["jti"] == identity["jti"]


def test_missing_forged_and_revoked_tokens_are_refused_as_the_library_refuses(server, site):
    """No ``Authorization`` header: the library's 401. A token whose payload was altered (its
    signature no longer matches) and the professional's token once revoked at santeid's
    revocation endpoint (RFC 7009) are answered inactive by santeid's introspection: the
    library's 403. A service's own ``client_credentials`` token is active and issued to the
    service, but without ``scope_all``: accepted where no scope is required, 403 where
    ``scope_all`` is; another service's, active too, is not the service's: 403."""
    token = log_in(site, browser_for(server))["access_token"]
    assert requests.get(f"{site}/api/{API}", timeout=30).status_code == 401
    refused = requests.get(f"{site}/api/{API}", headers=bearer(forged(token)), timeout=30)
    assert refused.status_code == 403
    assert requests.get(f"{site}/api/{API}", headers=bearer(token), timeout=30).status_code == 200
    revoke(server.oidc, token, CLIENT_ID, SECRET, verify=server.ca)
    refused = requests.get(f"{site}/api/{API}", headers=bearer(token), timeout=30)
    assert refused.status_code == 403

    own = service_token(server.oidc, CLIENT_ID, SECRET, verify=server.ca)
    accepted = requests.get(f"{site}/api/{API}", headers=bearer(own), timeout=30)
    assert accepted.status_code == 200, accepted.text[:500]
    assert accepted.json()["username"] == f"service-account-{CLIENT_ID}"
    assert "scope_all" not in accepted.json().get("scope", "").split()
    refused = requests.get(f"{site}/api/{API}/professionals", headers=bearer(own), timeout=30)
    assert refused.status_code == 403

    server.register(OTHER_SERVICE, client_secret=SECRET, grant_types=["client_credentials"])
    others = service_token(server.oidc, OTHER_SERVICE, SECRET, verify=server.ca)
    refused = requests.get(f"{site}/api/{API}", headers=bearer(others), timeout=30)
    assert refused.status_code == 403


def test_access_control_takes_a_token_or_else_the_login_session(server, site):
    """``@auth.access_control``: a bearer token is introspected as by ``token_auth``, and a
    token santeid answers inactive is the library's 403 even beside a login session; without
    a token, the login session: the view with the professional's userinfo, or, without one,
    the browser sent to santeid's authorization endpoint."""
    browser = browser_for(server)
    sent = browser.get(f"{site}/either/{API}", allow_redirects=False, timeout=30)
    assert sent.status_code == 302
    assert sent.headers["Location"].startswith(f"{server.oidc}/auth?")

    token = log_in(site, browser, provider=API)["access_token"]
    by_session = browser.get(f"{site}/either/{API}", allow_redirects=False, timeout=30)
    assert by_session.status_code == 200, by_session.text[:500]
    assert by_session.json()["session"]["SubjectNameID"] == PROFESSIONAL

    by_token = requests.get(f"{site}/either/{API}", headers=bearer(token), timeout=30)
    assert by_token.status_code == 200, by_token.text[:500]
    assert by_token.json()["token"]["username"] == PROFESSIONAL
    refused = browser.get(f"{site}/either/{API}", headers=bearer(forged(token)), timeout=30)
    assert refused.status_code == 403


def test_valid_access_token_refreshes_at_santeid_s_token_endpoint(server, site):
    """``auth.valid_access_token(force_refresh=True)``: the library sends the refresh token
    to santeid's token endpoint (``grant_type=refresh_token``, HTTP Basic) and keeps the
    answer's access and refresh tokens in the session: the new access token works at
    santeid's userinfo and the protected view shows it. Once santeid has revoked the refresh
    token (RFC 7009), the refresh is refused and the library answers ``None``, the session
    left as it was."""
    browser = browser_for(server)
    log_in(site, browser)
    before = browser.get(f"{site}/tokens", timeout=30).json()

    refreshed = browser.get(f"{site}/refresh", timeout=30).json()["access_token"]
    assert refreshed and refreshed != before["access_token"]
    after = browser.get(f"{site}/tokens", timeout=30).json()
    assert after["access_token"] == refreshed
    assert after["refresh_token"] and after["refresh_token"] != before["refresh_token"]
    userinfo = requests.get(
        f"{server.oidc}/userinfo", headers=bearer(refreshed), verify=server.ca, timeout=30
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["SubjectNameID"] == PROFESSIONAL
    shown = browser.get(f"{site}/me/{PSC}", allow_redirects=False, timeout=30)
    assert shown.status_code == 200 and shown.json()["access_token"] == refreshed

    revoke(server.oidc, after["refresh_token"], CLIENT_ID, SECRET, verify=server.ca)
    assert browser.get(f"{site}/refresh", timeout=30).json() == {"access_token": None}
    assert browser.get(f"{site}/tokens", timeout=30).json() == after


def test_the_session_refresh_is_answered_by_santeid_s_sso_session(
    server, site, server_side_service
):
    """``session_refresh_interval_seconds`` (here 0): once the interval has passed, the
    protected view sends the browser to santeid's authorization endpoint again with
    ``prompt=none``; santeid answers from its SSO session without a login page, and the library
    keeps the new tokens. After a logout at santeid (its end-session endpoint, the library not
    told), santeid answers the silent request with ``login_required``, which the library hands
    to its error view (and logs at ``ERROR``); its session stays, so the next visit asks
    santeid silently again rather than for a login. In Flask's cookie session the silent
    request does not fit: the tokens and claims with the authorization request the library
    keeps come over 4 kB for a professional with one exercice (Werkzeug warns; a browser keeps
    the previous cookie, without that request), so the service keeps its sessions on the
    server."""
    browser = browser_for(server)
    answer = callback_answer(site, SILENT, browser)
    assert answer.status_code == 302 and answer.headers["Location"] == f"/me/{SILENT}"
    assert browser.get(f"{site}/me/{SILENT}", allow_redirects=False).status_code == 302
    assert len(browser.cookies.get("session")) > COOKIE_LIMIT
    assert "The 'session' cookie is too large" in site.taken()

    server_side = ServiceSite.from_end_of(*server_side_service)
    browser = browser_for(server)
    answer = callback_answer(server_side, SILENT, browser)
    assert answer.status_code == 302 and answer.headers["Location"] == f"/me/{SILENT}"
    before = browser.get(f"{server_side}/tokens", timeout=30).json()

    def silent_request() -> str:
        sent = browser.get(f"{server_side}/me/{SILENT}", allow_redirects=False, timeout=30)
        assert sent.status_code == 302, sent.text[:500]
        endpoint, query = endpoint_and_query(sent.headers["Location"])
        assert endpoint == f"{server.oidc}/auth"
        assert query["prompt"] == "none" and query["scope"] == "openid scope_all"
        return sent.headers["Location"]

    answered = browser.get(silent_request(), allow_redirects=False, timeout=30)
    assert answered.status_code == 302, answered.text[:500]
    callback, query = endpoint_and_query(answered.headers["Location"])
    assert callback == f"{server_side}/redirect_uri" and query["code"], answered.headers
    back = browser.get(answered.headers["Location"], allow_redirects=False, timeout=30)
    assert back.status_code == 302 and back.headers["Location"] == f"/me/{SILENT}"
    after = browser.get(f"{server_side}/tokens", timeout=30).json()
    assert after["access_token"] != before["access_token"]
    assert after["last_session_refresh"] >= before["last_session_refresh"]

    ended = browser.get(
        f"{server.oidc}/logout",
        params={"id_token_hint": after["id_token_jwt"]},
        allow_redirects=False,
        timeout=30,
    )
    assert ended.status_code == 200, ended.text[:500]
    answered = browser.get(silent_request(), allow_redirects=False, timeout=30)
    assert answered.status_code == 302, answered.text[:500]
    callback, query = endpoint_and_query(answered.headers["Location"])
    assert callback == f"{server_side}/redirect_uri" and query["error"] == "login_required"
    refused = browser.get(answered.headers["Location"], allow_redirects=False, timeout=30)
    assert refused.status_code == 401, refused.text[:500]
    # No description, as from Keycloak.
    assert refused.json() == {"error": "login_required", "error_description": None}
    logged = server_side.taken()
    assert "login_required" in logged and "ERROR" in logged
    silent_request()
    assert len(browser.cookies.get("session")) < 100
    assert not server_side.taken().strip()

"""A Flask service logging professionals in with Authlib's Flask client
(``authlib.integrations.flask_client``, https://docs.authlib.org/en/latest/client/flask.html),
pointed at a real ``santeid serve``: registered as the snippet Flask services copy, with PSC's
wallet discovery URL as ``server_metadata_url``, ``client_kwargs`` ``{"scope": "openid
scope_all", "code_challenge_method": "S256"}`` and ``authorize_params`` ``{"acr_values":
"eidas1"}``; the registry's ``fetch_token`` and ``update_token`` keep each professional's
tokens. Served by Werkzeug's threaded server in this process on ``localhost`` (another site
than santeid's ``127.0.0.1``), driven in headless Chromium through the sandbox's login page.

Authlib's client reads the discovery document (``load_server_metadata``), sends the
authorization request with ``state``, the service's ``nonce`` and a PKCE S256 challenge,
exchanges the code with the verifier (``client_secret_basic``, its default), validates the ID
token (signature against the JWKS, ``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``) into
``token["userinfo"]``, reads userinfo with the access token, and refreshes it
(``fetch_access_token`` with the refresh grant, or on its own when the access token has
expired, handing the new tokens to ``update_token``). Authlib's server side is santeid's own
dependency; its client side is what a Flask PSC service runs. An exception in the service
fails the test."""

from __future__ import annotations

import logging
import secrets
import threading
import time

import pytest
import requests

from tests.support.browser import identify
from tests.support.browser import relying_party_browser
from tests.support.browser import shown_json
from tests.support.browser import wait_for
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser]

CLIENT_ID = "flask-service"
SECRET = "a-long-secret-for-the-flask-service-000001"
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
#: The service's clients at Authlib's registry: PSC's, and the same with a wrong secret.
PSC = "psc"
WRONG_SECRET = "psc_wrong_secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("authlib-flask"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


class Service:
    """The Flask service: its application, Authlib's registry, the tokens it keeps (by the
    professional's ``sub``), what ``update_token`` received, the exceptions its views raised."""

    def __init__(self, discovery_url: str) -> None:
        from authlib.integrations.flask_client import OAuth
        from authlib.integrations.flask_client import OAuthError
        from flask import Flask
        from flask import got_request_exception
        from flask import jsonify
        from flask import session
        from flask import url_for

        self.tokens: dict[str, dict] = {}
        self.updates: list[dict] = []
        self.exceptions: list[BaseException] = []
        app = Flask("psc_flask_service")
        app.secret_key = "a-test-secret-key-for-the-flask-service"
        got_request_exception.connect(
            lambda sender, exception, **extra: self.exceptions.append(exception), app
        )

        def fetch_token(name):
            return self.tokens.get(session.get("sub", ""))

        def update_token(name, token, refresh_token=None, access_token=None):
            self.updates.append({"name": name, "refresh_token": refresh_token})
            self.tokens[session["sub"]] = token

        oauth = OAuth(app, fetch_token=fetch_token, update_token=update_token)
        for name, secret in ((PSC, SECRET), (WRONG_SECRET, "not-the-secret")):
            # https://docs.authlib.org/en/latest/client/flask.html#flask-openid-connect-client
            oauth.register(
                name=name,
                client_id=CLIENT_ID,
                client_secret=secret,
                server_metadata_url=discovery_url,
                client_kwargs={"scope": "openid scope_all", "code_challenge_method": "S256"},
                authorize_params={"acr_values": "eidas1"},
            )
        self.app, self.oauth = app, oauth

        @app.get("/login/<name>")
        def login(name):
            nonce = secrets.token_urlsafe(16)
            session["nonce"] = nonce
            callback = url_for("callback", name=name, _external=True)
            return oauth.create_client(name).authorize_redirect(callback, nonce=nonce)

        @app.get("/callback/<name>")
        def callback(name):
            try:
                token = oauth.create_client(name).authorize_access_token()
            except OAuthError as error:
                return jsonify(
                    exception=type(error).__name__,
                    error=error.error,
                    description=error.description,
                )
            session["sub"] = token["userinfo"]["sub"]
            self.tokens[session["sub"]] = token
            return jsonify(token=token, nonce=session["nonce"])

        @app.get("/userinfo")
        def userinfo():
            return jsonify(oauth.psc.userinfo())

        @app.get("/refresh")
        def refresh():
            """The refresh grant, asked for by the service."""
            old = self.tokens[session["sub"]]
            token = oauth.psc.fetch_access_token(
                grant_type="refresh_token", refresh_token=old["refresh_token"]
            )
            self.tokens[session["sub"]] = token
            return jsonify(old=old, new=token)

        @app.get("/logout")
        def logout():
            """RP-initiated logout: the end-session endpoint with the ID token as
            ``id_token_hint`` and a ``state`` the client checks on the way back."""
            token = self.tokens.pop(session["sub"])
            back = url_for("logged_out", _external=True)
            return oauth.psc.logout_redirect(back, id_token_hint=token["id_token"])

        @app.get("/logged-out")
        def logged_out():
            try:
                state = oauth.psc.validate_logout_response()
            except OAuthError as error:
                return jsonify(exception=type(error).__name__, error=error.description)
            session.clear()
            return jsonify(state)

        @app.get("/expired-then-userinfo")
        def expired_then_userinfo():
            """The access token has expired: the client refreshes it on its own before it
            calls userinfo, and hands the new tokens to ``update_token``."""
            old = dict(self.tokens[session["sub"]])
            self.tokens[session["sub"]] = {**old, "expires_at": int(time.time()) - 1}
            claims = oauth.psc.userinfo()
            return jsonify(old=old, new=self.tokens[session["sub"]], userinfo=claims)


@pytest.fixture(scope="module")
def service(server):
    """The service, registered at santeid as an operator registers it, serving in a thread;
    its origin.

    The service's own logs are kept out of the suite's scan of what is logged
    (tests/support/log_scan.py, santeid's rule of no credential in a log line): it keeps no
    access log (its callback URLs carry the code), and Authlib's client, which logs the PKCE
    verifier it makes at ``DEBUG``, logs to nobody here. santeid's own use of Authlib (the
    server side, ``authlib.oauth2``, ``authlib.integrations.flask_oauth2``) is still read."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):
            pass

    authlib_client = logging.getLogger("authlib.integrations.base_client")
    authlib_client.propagate = False
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    service = Service(wallet)
    listener = make_server(
        "127.0.0.1", 0, service.app, threaded=True, request_handler=QuietRequestHandler
    )
    origin = f"http://localhost:{listener.server_port}"
    server.register(
        CLIENT_ID,
        client_secret=SECRET,
        redirect_uris=[f"{origin}/callback/{name}" for name in (PSC, WRONG_SECRET)],
        post_logout_redirect_uris=[f"{origin}/logged-out"],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method="client_secret_basic",
    )
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    service.origin = origin  # type: ignore[attr-defined]
    yield service
    listener.shutdown()
    listener.server_close()
    authlib_client.propagate = True


@pytest.fixture
def site(service):
    """The service's origin; none of its views may raise."""
    service.exceptions.clear()
    service.updates.clear()
    yield service.origin
    assert not service.exceptions, service.exceptions


chromium, browser = relying_party_browser("authlib-flask-profile")


def log_in(browser, site: str, national_id: str, name: str = PSC) -> None:
    """The professional logs in: the service's login route, santeid's login page, the
    professional's identifier; the sandbox phone answers."""
    browser.get(f"{site}/login/{name}")
    identify(browser, national_id)


def page(browser, site: str, path: str):
    browser.get(f"{site}{path}")
    return shown_json(browser, f"{site}{path}")


def test_load_server_metadata_reads_the_wallet_discovery_document(server, service):
    """``load_server_metadata``: the wallet discovery document as Authlib's client keeps it,
    the endpoints it sends the browser and its requests to."""
    wallet = requests.get(
        f"{server.issuer}/.well-known/wallet-openid-configuration", timeout=10
    ).json()
    with service.app.app_context():
        metadata = service.oauth.psc.load_server_metadata()
    assert metadata["issuer"] == server.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert metadata[name] == wallet[name]
    assert "S256" in metadata["code_challenge_methods_supported"]


def test_the_login_validates_the_id_token_into_userinfo(browser, server, site):
    """``authorize_redirect`` with the service's nonce, then ``authorize_access_token``: the
    token response, and the ID token validated against the JWKS into ``token["userinfo"]``
    with PSC's claims, the nonce sent, ``acr`` ``eidas1``."""
    log_in(browser, site, PROFESSIONAL)
    shown = shown_json(browser, f"{site}/callback/{PSC}")
    token, claims = shown["token"], shown["token"]["userinfo"]
    assert token["token_type"] == "Bearer" and token["scope"] == "openid scope_all"
    assert token["access_token"] and token["refresh_token"] and token["expires_at"]
    assert claims["iss"] == server.issuer and claims["aud"] == CLIENT_ID
    assert claims["nonce"] == shown["nonce"] and claims["acr"] == "eidas1"
    assert claims["SubjectNameID"] == PROFESSIONAL and claims["at_hash"]


def test_userinfo_with_the_tokens_the_service_kept(browser, site):
    """``userinfo()``: the access token from the registry's ``fetch_token``, PSC's claims."""
    log_in(browser, site, PROFESSIONAL)
    sub = shown_json(browser, f"{site}/callback/{PSC}")["token"]["userinfo"]["sub"]
    claims = page(browser, site, "/userinfo")
    assert claims["sub"] == sub and claims["SubjectNameID"] == PROFESSIONAL
    assert (claims["given_name"], claims["family_name"]) == ("CLEMENT", "ARNAUD")
    assert claims["SubjectRefPro"]["exercices"]


def test_fetch_access_token_with_the_refresh_grant(browser, site):
    """``fetch_access_token(grant_type="refresh_token", …)``: new tokens, the same session."""
    log_in(browser, site, PROFESSIONAL)
    shown_json(browser, f"{site}/callback/{PSC}")
    shown = page(browser, site, "/refresh")
    old, new = shown["old"], shown["new"]
    assert new["access_token"] != old["access_token"] and new["refresh_token"]
    assert new["session_state"] == old["session_state"]
    assert page(browser, site, "/userinfo")["SubjectNameID"] == PROFESSIONAL


def test_an_expired_access_token_is_refreshed_by_the_client(browser, service, site):
    """The access token has expired: the client refreshes it with the refresh token before
    it calls userinfo, and calls ``update_token`` with the new tokens and the refresh token
    it used."""
    log_in(browser, site, PROFESSIONAL)
    shown_json(browser, f"{site}/callback/{PSC}")
    shown = page(browser, site, "/expired-then-userinfo")
    old, new = shown["old"], shown["new"]
    assert new["access_token"] != old["access_token"]
    assert new["expires_at"] > time.time()
    assert shown["userinfo"]["SubjectNameID"] == PROFESSIONAL
    assert service.updates == [{"name": PSC, "refresh_token": old["refresh_token"]}]


def test_rp_initiated_logout_with_the_clients_state(browser, server, site):
    """``logout_redirect`` sends the browser to the discovered end-session endpoint with the
    ID token as ``id_token_hint`` and a ``state``; santeid ends the session without a
    confirmation page and comes back with that ``state``, which ``validate_logout_response``
    checks. The next login asks for the professional again."""
    log_in(browser, site, PROFESSIONAL)
    shown_json(browser, f"{site}/callback/{PSC}")
    browser.get(f"{site}/logout")
    back = shown_json(browser, f"{site}/logged-out")
    assert back == {"post_logout_redirect_uri": f"{site}/logged-out"}
    browser.get(f"{site}/login/{PSC}")
    wait_for(lambda: browser.find_element("id", "national_id"), what="the login page")
    assert browser.current_url.startswith(server.base)


def test_a_login_refused_on_the_phone_is_an_oautherror(browser, site):
    """The professional refuses on the sandbox phone and gives up on santeid's page: the
    callback has ``error=access_denied`` and, as from Keycloak, no ``error_description``
    (docs/reference/keycloak-behaviour.md, "Authorization endpoint"), which
    ``authorize_access_token`` raises as Authlib's ``OAuthError`` (whose ``description`` is
    then its default, ``""``)."""
    log_in(browser, site, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    assert shown_json(browser, f"{site}/callback/{PSC}") == {
        "exception": "OAuthError",
        "error": "access_denied",
        "description": "",
    }


def test_a_wrong_client_secret_is_an_oautherror(browser, site):
    """The service's secret is wrong: the token endpoint answers Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/psc-integration.md §5.1), which ``authorize_access_token`` raises as
    ``OAuthError`` with santeid's error and description."""
    log_in(browser, site, PROFESSIONAL, WRONG_SECRET)
    assert shown_json(browser, f"{site}/callback/{WRONG_SECRET}") == {
        "exception": "OAuthError",
        "error": "unauthorized_client",
        "description": "Invalid client or Invalid client credentials",
    }

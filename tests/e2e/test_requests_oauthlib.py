"""A Python service logging professionals in with requests-oauthlib's ``OAuth2Session``
(https://requests-oauthlib.readthedocs.io/en/latest/oauth2_workflow.html, on oauthlib), the
code flow of countless Python scripts and services, pointed at a real ``santeid serve`` by
PSC's wallet discovery document alone: its authorization, token and userinfo endpoints.

The session builds the authorization URL with ``state`` and a PKCE S256 challenge
(``pkce="S256"``), ``acr_values`` and ``nonce`` added as the service's own parameters; the
browser's part is played over plain HTTP with a sandbox professional (docs/sandbox.md);
``fetch_token`` reads the callback URL (its ``state`` checked against the session's, an error
raised as oauthlib's exception) and exchanges the code with the verifier, the client
authenticated with HTTP Basic (``client_secret_basic``, the library's default) or in the body
(``include_client_id=True``: ``client_secret_post``); a protected call reads userinfo; an
expired access token is refreshed by the session itself (``auto_refresh_url``) and handed to
``token_updater``. The library leaves the ID token to the service: it is not validated here.

oauthlib refuses plain HTTP unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set
(https://oauthlib.readthedocs.io/en/latest/oauth2/security.html): set for the sandbox's
``http://`` issuer, as its documentation says for local development; one test runs over HTTPS
without it, as against PSC."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2 import LegacyApplicationClient
from oauthlib.oauth2.rfc6749.errors import AccessDeniedError
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from oauthlib.oauth2.rfc6749.errors import LoginRequired
from oauthlib.oauth2.rfc6749.errors import MismatchingStateError
from oauthlib.oauth2.rfc6749.errors import UnauthorizedClientError
from requests_oauthlib import OAuth2Session

from tests.support.http_login import login_to_callback
from tests.support.servers import santeid_home
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-requests-oauthlib-rp-1"
REDIRECT_URI = "https://service.example.org/callback"
SCOPE = ["openid", "scope_all"]
#: docs/sandbox.md: approved at once; denied on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"


def registered(server, client_id: str, method: str = "client_secret_basic") -> dict:
    """The service registered as an operator does (``santeid clients add``); the wallet
    discovery document it is configured with."""
    server.register(
        client_id,
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        token_endpoint_auth_method=method,
    )
    wallet = f"{server.issuer}/.well-known/wallet-openid-configuration"
    return requests.get(wallet, timeout=10, verify=server.ca or True).json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("requests-oauthlib"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


@pytest.fixture
def insecure_transport(monkeypatch):
    """oauthlib's permission to use the sandbox's plain HTTP."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def authorized(
    session: OAuth2Session, provider: dict, national_id: str = PROFESSIONAL, **extra
) -> str:
    """The library's authorization URL (with a ``nonce`` of the service's) followed by a new
    browser, trusting what ``session`` trusts, to the callback, whose URL it returns."""
    url, _state = session.authorization_url(
        provider["authorization_endpoint"], acr_values="eidas1", nonce=secrets.token_urlsafe(16),
        **extra,
    )  # fmt: skip
    browser = requests.Session()
    browser.trust_env, browser.verify = session.trust_env, session.verify
    refused = national_id == DENYING
    return login_to_callback(browser, url, REDIRECT_URI, national_id, refused=refused)


def sent_requests(session: OAuth2Session) -> list[requests.PreparedRequest]:
    """The requests ``session`` sends from now on."""
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, **kwargs: sent.append(response.request))
    return sent


@pytest.mark.usefixtures("insecure_transport")
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_the_code_flow_through_the_library(server, method):
    client_id = f"roauth-{method}"
    provider = registered(server, client_id, method)
    session = OAuth2Session(client_id, redirect_uri=REDIRECT_URI, scope=SCOPE, pkce="S256")
    url, state = session.authorization_url(provider["authorization_endpoint"], acr_values="eidas1")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{server.base}/auth?")
    assert query["state"] == [state] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid scope_all"] and query["acr_values"] == ["eidas1"]

    callback = login_to_callback(requests.Session(), url, REDIRECT_URI, PROFESSIONAL)
    sent = sent_requests(session)
    post = {"include_client_id": True} if method == "client_secret_post" else {}
    token = session.fetch_token(
        provider["token_endpoint"], authorization_response=callback, client_secret=SECRET, **post
    )
    [exchange] = sent
    body = parse_qs(exchange.body)
    assert body["code_verifier"] and body["grant_type"] == ["authorization_code"]
    if method == "client_secret_post":
        assert body["client_secret"] == [SECRET] and "Authorization" not in exchange.headers
    else:
        assert exchange.headers["Authorization"].startswith("Basic ")
        assert "client_secret" not in body
    assert token["token_type"] == "Bearer" and token["scope"] == SCOPE
    assert token["access_token"] and token["refresh_token"] and token["id_token"]
    assert token["expires_in"] == 120 and token["expires_at"] > time.time()

    userinfo = session.get(provider["userinfo_endpoint"])
    assert userinfo.status_code == 200
    assert userinfo.json()["SubjectNameID"] == PROFESSIONAL

    refreshed = session.refresh_token(provider["token_endpoint"], auth=(client_id, SECRET))
    assert refreshed["access_token"] != token["access_token"]
    assert session.token == refreshed
    assert session.get(provider["userinfo_endpoint"]).json() == userinfo.json()

    # Keycloak's logout of the session by its refresh token, as Keycloak services send it
    # (docs/endpoints.md, "Logout"), through the same session: the next refresh is oauthlib's
    # InvalidGrantError with Keycloak's words.
    ended = session.post(
        provider["end_session_endpoint"],
        data={"refresh_token": refreshed["refresh_token"]},
        auth=(client_id, SECRET),
        withhold_token=True,
    )
    assert ended.status_code == 204
    with pytest.raises(InvalidGrantError) as refused:
        session.refresh_token(provider["token_endpoint"], auth=(client_id, SECRET))
    assert refused.value.description == "Session not active"


@pytest.mark.usefixtures("insecure_transport")
@pytest.mark.parametrize("credentials", ["auto_refresh_kwargs", "request"])
def test_an_expired_access_token_is_refreshed_by_the_session(server, credentials):
    """``auto_refresh_url`` with ``token_updater``: a protected call with an expired access
    token refreshes it first (the client's credentials in the body from
    ``auto_refresh_kwargs``, as the library's documentation shows, or in HTTP Basic from the
    call's ``client_id`` and ``client_secret``), hands the new tokens to ``token_updater``,
    then makes the call with them."""
    client_id = f"roauth-auto-{credentials}"
    provider = registered(server, client_id)
    updates: list[dict] = []
    session = OAuth2Session(
        client_id, redirect_uri=REDIRECT_URI, scope=SCOPE, pkce="S256",
        auto_refresh_url=provider["token_endpoint"], token_updater=updates.append,
        auto_refresh_kwargs=(
            {"client_id": client_id, "client_secret": SECRET}
            if credentials == "auto_refresh_kwargs" else {}
        ),
    )  # fmt: skip
    callback = authorized(session, provider)
    token = session.fetch_token(
        provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
    )
    session.token = {**token, "expires_in": -1, "expires_at": time.time() - 1}
    sent = sent_requests(session)
    call = {"client_id": client_id, "client_secret": SECRET} if credentials == "request" else {}
    userinfo = session.get(provider["userinfo_endpoint"], **call)
    assert userinfo.status_code == 200 and userinfo.json()["SubjectNameID"] == PROFESSIONAL
    [new] = updates
    assert new["access_token"] != token["access_token"] and new["expires_at"] > time.time()
    refresh, protected = sent
    assert parse_qs(refresh.body)["grant_type"] == ["refresh_token"]
    assert protected.headers["Authorization"] == f"Bearer {new['access_token']}"


@pytest.mark.usefixtures("insecure_transport")
def test_errors_the_library_raises(server):
    """Keycloak's errors as oauthlib raises them: a wrong secret is Keycloak's 401
    ``unauthorized_client`` "Invalid client or Invalid client credentials"
    (docs/reference/keycloak-behaviour.md, "Client authentication"), a used code
    ``invalid_grant`` "Code not valid", a login refused on the sandbox phone the authorization
    response's ``access_denied`` (no description, as from Keycloak), a silent login without a
    session ``login_required``."""
    provider = registered(server, "roauth-errors")

    def session() -> OAuth2Session:
        return OAuth2Session("roauth-errors", redirect_uri=REDIRECT_URI, scope=SCOPE, pkce="S256")

    rp = session()
    callback = authorized(rp, provider)
    with pytest.raises(UnauthorizedClientError) as refused:
        rp.fetch_token(
            provider["token_endpoint"], authorization_response=callback, client_secret="wrong"
        )
    assert refused.value.description == "Invalid client or Invalid client credentials"
    # The client is authenticated before the code is read: the code is still unused.
    rp.fetch_token(
        provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
    )
    with pytest.raises(InvalidGrantError) as refused:
        rp.fetch_token(
            provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
        )
    assert refused.value.description == "Code not valid"

    denying = session()
    callback = authorized(denying, provider, DENYING)
    with pytest.raises(AccessDeniedError) as refused:
        denying.fetch_token(
            provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
        )
    assert refused.value.description == ""  # oauthlib's default: none was sent

    silent = session()
    callback = authorized(silent, provider, prompt="none")
    with pytest.raises(LoginRequired):
        silent.fetch_token(
            provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
        )

    # The session's own check: the callback of another login (another state) is refused
    # before any request.
    callback = authorized(session(), provider)
    mine = session()
    mine.authorization_url(provider["authorization_endpoint"])
    with pytest.raises(MismatchingStateError):
        mine.fetch_token(
            provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
        )


def test_over_https_as_at_psc(tmp_path_factory, monkeypatch):
    """An ``https://`` issuer, as PSC's: no ``OAUTHLIB_INSECURE_TRANSPORT``, the server's
    certificate checked against its authority (``santeid tls dev-cert``'s)."""
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    home = tmp_path_factory.mktemp("requests-oauthlib-https")
    tls, ca = santeid_home(home).dev_tls()
    with santeid_process(home, args=["--sandbox", *tls], ca=ca) as https_server:
        provider = registered(https_server, "roauth-https")
        assert provider["token_endpoint"].startswith("https://")
        session = OAuth2Session("roauth-https", redirect_uri=REDIRECT_URI, scope=SCOPE, pkce="S256")
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override the authority
        session.verify = ca
        callback = authorized(session, provider)
        token = session.fetch_token(
            provider["token_endpoint"], authorization_response=callback, client_secret=SECRET
        )
        assert token["scope"] == SCOPE
        assert session.get(provider["userinfo_endpoint"]).json()["SubjectNameID"] == PROFESSIONAL
        # The library's own rule: no plain HTTP without the variable.
        with pytest.raises(InsecureTransportError):
            OAuth2Session("roauth-https", token=token).get(f"http://127.0.0.1:{https_server.port}/")


@pytest.mark.usefixtures("insecure_transport")
def test_the_backend_and_legacy_application_flows(server):
    """The library's other documented flows
    (https://requests-oauthlib.readthedocs.io/en/latest/oauth2_workflow.html): the backend
    application flow (``BackendApplicationClient``, ``client_credentials``, the credentials in
    HTTP Basic) gets a service account's token, as from Keycloak, usable at userinfo with
    ``openid``; without a service account,
    and with the legacy application flow (``LegacyApplicationClient``, the password grant,
    which PSC's clients are not allowed), Keycloak's ``unauthorized_client`` refusals
    (docs/reference/keycloak-behaviour.md, "Token endpoint"), raised as oauthlib's
    ``UnauthorizedClientError``."""
    provider = registered(server, "roauth-users")
    server.register(
        "roauth-backend",
        client_secret=SECRET,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
    )
    backend = OAuth2Session(client=BackendApplicationClient(client_id="roauth-backend"))
    token = backend.fetch_token(
        provider["token_endpoint"], client_id="roauth-backend", client_secret=SECRET
    )
    assert token["access_token"] and "refresh_token" not in token
    # Without openid, userinfo is refused, as by Keycloak (docs/endpoints.md, "UserInfo").
    refusal = backend.get(provider["userinfo_endpoint"])
    assert (
        refusal.status_code == 403
        and 'error="insufficient_scope"' in refusal.headers["WWW-Authenticate"]
    )
    # The scope is the oauthlib client's: the session's own is not sent in this flow.
    backend = OAuth2Session(
        client=BackendApplicationClient(client_id="roauth-backend", scope=["openid"])
    )
    token = backend.fetch_token(
        provider["token_endpoint"], client_id="roauth-backend", client_secret=SECRET
    )
    assert token["scope"] == ["openid"] and token["id_token"]
    assert backend.get(provider["userinfo_endpoint"]).json() == {
        "sub": "service-account-roauth-backend",
        "preferred_username": "service-account-roauth-backend",
    }

    no_account = OAuth2Session(client=BackendApplicationClient(client_id="roauth-users"))
    with pytest.raises(UnauthorizedClientError) as refused:
        no_account.fetch_token(
            provider["token_endpoint"], client_id="roauth-users", client_secret=SECRET
        )
    assert refused.value.description == "Client not enabled to retrieve service account"

    legacy = OAuth2Session(client=LegacyApplicationClient(client_id="roauth-users"))
    with pytest.raises(UnauthorizedClientError) as refused:
        legacy.fetch_token(
            provider["token_endpoint"], username=PROFESSIONAL, password="a password",
            client_id="roauth-users", client_secret=SECRET,
        )  # fmt: skip
    assert refused.value.description == "Client not allowed for direct access grants"

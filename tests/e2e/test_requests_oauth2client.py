"""A heavy client's server on requests-oauth2client (guillp's OAuth 2.x client on requests,
https://guillp.github.io/requests_oauth2client/), the Python library that drives CIBA, pointed
at a real ``santeid serve`` over HTTPS by the realm's issuer alone:
``OAuth2Client.from_discovery_endpoint(issuer=…)``, which reads the endpoints, the JWK Set and
``authorization_response_iss_parameter_supported`` from the discovery document.

CIBA Core 1.0 in poll mode, PSC's heavy-client flow (docs/ciba.md,
docs/reference/pro-sante-connect.md §14): ``backchannel_authentication_request`` with PSC's
parameters, the ``interval`` and ``expires_in`` the library reads from the acknowledgement, and
``BackChannelAuthenticationPollingJob`` through ``authorization_pending``, ``slow_down``,
``expired_token`` and ``access_denied``, with the four client authentication methods
(``ClientSecretBasic``, ``ClientSecretPost``, ``PrivateKeyJwt``, ``ClientSecretJwt``) at the
back-channel, token, introspection and revocation endpoints. The sandbox answers as
docs/sandbox.md says: a professional approved at once, one who refuses, one whose phone never
answers (approved, or expired, through the control API). Then the code flow with PKCE
(``AuthorizationRequest``, ``validate_callback`` checking ``state`` and RFC 9207's ``iss``,
the ID token validated by ``authorization_code``), PAR, refresh, revocation, introspection,
``client_credentials``, and the library's auth handlers (``BearerToken``,
``OAuth2AccessTokenAuth``, ``OAuth2ClientCredentialsAuth``) on userinfo.

The library validates an ID token only in the code flow; the CIBA one is checked here with
jwskate (the library's own JWT layer) against the JWK Set the client read."""

from __future__ import annotations

import time
import uuid
from datetime import UTC
from datetime import datetime
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import pytest
import requests
from jwskate import Jwk
from jwskate import SignedJwt
from requests_oauth2client import AccessDenied
from requests_oauth2client import AuthorizationResponseError
from requests_oauth2client import BackChannelAuthenticationPollingJob
from requests_oauth2client import BearerToken
from requests_oauth2client import ClientSecretBasic
from requests_oauth2client import ClientSecretJwt
from requests_oauth2client import ClientSecretPost
from requests_oauth2client import ExpiredToken
from requests_oauth2client import InvalidClient
from requests_oauth2client import InvalidGrant
from requests_oauth2client import InvalidIssuer
from requests_oauth2client import InvalidRequest
from requests_oauth2client import LoginRequired
from requests_oauth2client import MismatchingIssuer
from requests_oauth2client import MismatchingState
from requests_oauth2client import MissingIssuer
from requests_oauth2client import OAuth2AccessTokenAuth
from requests_oauth2client import OAuth2Client
from requests_oauth2client import OAuth2ClientCredentialsAuth
from requests_oauth2client import PrivateKeyJwt
from requests_oauth2client import PublicApp
from requests_oauth2client import ServerError
from requests_oauth2client import UnauthorizedClient
from requests_oauth2client import UnknownTokenEndpointError

from tests.support.http_login import login_to_callback
from tests.support.servers import establishment_certificates
from tests.support.servers import https_sandbox_process
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server]

SECRET = "a-long-secret-for-the-requests-oauth2client-1"
REDIRECT_URI = "https://service.example.org/callback"
CIBA = "urn:openid:params:grant-type:ciba"
SCOPE = "openid scope_all"
#: docs/sandbox.md: approved at once; refuses on the phone; never answers; card only;
#: inactive.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"
SILENT = "810000000034"
CARD_ONLY = "810000000005"
INACTIVE = "810000000024"
#: The service's own key for ``private_key_jwt``: its public half is registered at santeid.
SERVICE_KEY = Jwk.generate(alg="RS256", kid="service-key-1")
METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"]
JWT_METHODS = ("private_key_jwt", "client_secret_jwt")


#: The service's TLS client certificate (``tls_client_auth``, PSC's production method).
SERVICE_DN = "CN=logiciel-lourd,O=Cabinet Test,C=FR"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Sandbox mode over HTTPS, as PSC answers: the library refuses an endpoint that is not
    ``https`` (outside its ``testing`` mode). The establishments' authority
    (``tls_client_auth_ca_file``) issued the service's certificate, in ``home/client``."""
    home = tmp_path_factory.mktemp("requests-oauth2client")
    authority = establishment_certificates(home, {"client": ("logiciel-lourd", "Cabinet Test")})
    with https_sandbox_process(
        home,
        SANTEID_STORE_URL="memory://",
        SANTEID_TLS_CLIENT_AUTH_CA_FILE=str(authority.cert_path),
    ) as process:
        yield process


def registered(server, client_id: str, method: str = "client_secret_basic", **metadata) -> None:
    """The service registered as an operator does: the code flow and CIBA in poll mode."""
    keys = {"jwks": {"keys": [SERVICE_KEY.public_jwk().to_dict()]}}
    server.register(
        client_id,
        **({"client_secret": SECRET} if method != "private_key_jwt" else keys),
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token", CIBA],
        token_endpoint_auth_method=method,
        backchannel_token_delivery_mode="poll",
        **{"backchannel_polling_interval": 1, **metadata},
    )


def credentials(client_id: str, method: str, aud: str | None = None):
    """The library's handler for ``method``, as its documentation shows each one; ``aud``:
    the audience of a JWT method's assertions (by default, the URL each is posted to)."""
    if method == "client_secret_basic":
        return ClientSecretBasic(client_id, SECRET)
    if method == "client_secret_post":
        return ClientSecretPost(client_id, SECRET)
    if method == "private_key_jwt":
        return PrivateKeyJwt(client_id, SERVICE_KEY, aud=aud)
    return ClientSecretJwt(client_id, SECRET, aud=aud)


def https_session(server) -> requests.Session:
    """A session trusting the server's development authority (PSC's certificate is public)."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override the authority
    session.verify = server.ca
    return session


def oauth2_client(server, auth) -> OAuth2Client:
    """The client as the library's documentation builds it from the issuer, with the service's
    redirect URI. The library reads no ``backchannel_authentication_endpoint`` from a discovery
    document: it is given, PSC's CIBA URL (Keycloak's path under the realm)."""
    return OAuth2Client.from_discovery_endpoint(
        issuer=server.issuer,
        auth=auth,
        session=https_session(server),
        redirect_uri=REDIRECT_URI,
        backchannel_authentication_endpoint=f"{server.issuer}/protocol/openid-connect/ext/ciba/auth",
    )


def answers(client: OAuth2Client) -> list[requests.Response]:
    """The answers ``client``'s session gets from now on."""
    seen: list[requests.Response] = []
    client.session.hooks["response"].append(lambda response, **kwargs: seen.append(response))
    return seen


def polled(job: BackChannelAuthenticationPollingJob, polls: int) -> BearerToken:
    """The token ``job`` gets within ``polls`` calls (each waits the job's interval first)."""
    for _ in range(polls):
        token = job()
        if token is not None:
            return token
    raise AssertionError(f"no token after {polls} polls")


def checked_id_token(client: OAuth2Client, token: BearerToken) -> dict:
    """The CIBA ID token's claims, its signature checked against the JWK Set the client read
    (by ``kid``), its ``iss``, ``aud`` and ``exp``."""
    id_token = token.id_token
    key = client.authorization_server_jwks.get_jwk_by_kid(id_token.kid)
    id_token.validate(key, alg="RS256", issuer=client.issuer, audience=client.client_id)
    return id_token.claims


def pending_ciba_request(server, national_id: str, binding_message: str) -> str:
    """The control API's id of the professional's pending CIBA request with that message."""
    listed = https_session(server).get(
        f"{server.base}/sandbox/api/professionals/{national_id}/requests", timeout=10
    )
    assert listed.status_code == 200, listed.text
    [request] = [
        r
        for r in listed.json()["requests"]
        if r["kind"] == "ciba" and r["binding_message"] == binding_message
    ]
    return request["request_id"]


def control(server, request_id: str, action: str) -> None:
    """``POST /sandbox/api/requests/<id>/<action>`` (``approve``, ``deny``, ``expire``)."""
    done = https_session(server).post(
        f"{server.base}/sandbox/api/requests/{request_id}/{action}", timeout=10
    )
    assert done.status_code == 200, done.text


def test_the_client_is_configured_by_the_issuer(server):
    """What ``from_discovery_endpoint`` read: santeid's endpoints, its signing key, and RFC
    9207's ``iss`` turned on by the discovery document; the CIBA URL given is the one the
    document lists. PSC's wallet discovery URL configures the same client."""
    client = oauth2_client(server, ClientSecretBasic("anyone", SECRET))
    oidc = f"{server.issuer}/protocol/openid-connect"
    assert (client.issuer, client.token_endpoint) == (server.issuer, f"{oidc}/token")
    assert client.authorization_endpoint == f"{oidc}/auth"
    assert client.pushed_authorization_request_endpoint == f"{oidc}/ext/par/request"
    assert client.revocation_endpoint == f"{oidc}/revoke"
    assert client.introspection_endpoint == f"{oidc}/token/introspect"
    assert client.userinfo_endpoint == f"{oidc}/userinfo"
    assert client.authorization_response_iss_parameter_supported is True
    assert len(client.authorization_server_jwks) >= 1
    discovery = client.session.get(f"{server.issuer}/.well-known/openid-configuration").json()
    ciba = discovery["backchannel_authentication_endpoint"]
    assert client.backchannel_authentication_endpoint == ciba
    # PSC's wallet discovery URL, its issuer checked against the one expected.
    wallet = OAuth2Client.from_discovery_endpoint(
        f"{server.issuer}/.well-known/wallet-openid-configuration",
        issuer=server.issuer,
        auth=ClientSecretBasic("anyone", SECRET),
        session=https_session(server),
    )
    assert (wallet.token_endpoint, wallet.jwks_uri) == (client.token_endpoint, client.jwks_uri)


@pytest.mark.parametrize("method", METHODS)
def test_ciba_poll_mode_with_each_client_authentication(server, method):
    """PSC's CIBA request (``scope_all``, ``acr_values`` ``eidas1``, a two-digit
    ``binding_message``, PSC's ``channel``) for a professional approved at once; the polling
    job reads ``interval`` and ``expires_in``, gets the tokens; userinfo, introspection and the
    revocation of the access token, the refresh, each endpoint authenticating the client by
    ``method``. An assertion's ``aud`` is the URL it is posted to, the library's default:
    accepted at the back-channel, token and introspection endpoints, refused at the
    revocation endpoint (400 ``invalid_client`` "Invalid token audience"), as Keycloak's
    audiences leave that URL out (``JWTClientValidator.getExpectedAudiences``,
    docs/reference/keycloak-behaviour.md, "Client authentication"); with ``aud`` the issuer,
    revoked."""
    client_id = f"roc-ciba-{method}"
    registered(server, client_id, method)
    client = oauth2_client(server, credentials(client_id, method))
    seen = answers(client)
    ack = client.backchannel_authentication_request(
        scope=SCOPE,
        login_hint=PROFESSIONAL,
        binding_message="42",
        acr_values="eidas1",
        channel="MOBILE",
    )
    assert ack.auth_req_id and ack.interval == 1
    assert 115 <= ack.expires_in <= 120  # Keycloak's default expiry, 120 s
    [sent] = [r.request for r in seen]
    if method == "client_secret_basic":
        assert sent.headers["Authorization"].startswith("Basic ")
    else:
        body = parse_qs(sent.body)
        assert "Authorization" not in sent.headers
        if method == "client_secret_post":
            assert body["client_secret"] == [SECRET]
        else:
            assert body["client_assertion_type"] == [
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ]
            assertion = SignedJwt(body["client_assertion"][0])
            assert assertion.audiences == [client.backchannel_authentication_endpoint]

    job = BackChannelAuthenticationPollingJob(client, ack)
    assert job.interval == 1
    token = polled(job, 5)
    assert token.token_type == "Bearer" and token.refresh_token and token.scope == SCOPE
    claims = checked_id_token(client, token)
    assert claims["SubjectNameID"] == PROFESSIONAL and claims["acr"] == "eidas1"
    assert claims["authMode"] == "MOBILE"

    assert client.userinfo(token)["SubjectNameID"] == PROFESSIONAL
    # The token as the library's requests auth handler (RFC 6750 header).
    userinfo = requests.get(client.userinfo_endpoint, auth=token, verify=server.ca, timeout=10)
    assert userinfo.json()["preferred_username"] == PROFESSIONAL
    introspected = client.introspect_token(token.access_token, token_type_hint="access_token")
    assert introspected["active"] is True and introspected["client_id"] == client_id
    if method in JWT_METHODS:
        # Keycloak's audiences leave the revocation endpoint's URL out, the library's
        # default there: the service gives its handler the issuer as aud, good everywhere.
        with pytest.raises(InvalidClient) as refused:
            client.revoke_access_token(token)
        assert refused.value.response.status_code == 400
        assert refused.value.description == "Invalid token audience"
        client = oauth2_client(server, credentials(client_id, method, aud=server.issuer))
    assert client.revoke_access_token(token) is True
    assert client.introspect_token(token.access_token) == {"active": False}
    refreshed = client.refresh_token(token)
    assert refreshed.access_token != token.access_token and refreshed.id_token
    assert checked_id_token(client, refreshed)["sub"] == claims["sub"]
    introspected = client.introspect_token(refreshed.refresh_token, token_type_hint="refresh_token")
    assert introspected["active"] is True and introspected["typ"] == "Refresh"


def test_ciba_with_the_client_certificate(server):
    """``tls_client_auth`` (RFC 8705 §2), PSC's production method for CIBA: the library has
    no handler of its own for it, so the client is ``PublicApp(client_id)`` (its id in the
    form) on a session presenting the certificate (``session.cert``), and, the library
    reading no ``mtls_endpoint_aliases`` (RFC 8705 §5), built from those URLs. The access
    token is bound to the certificate (``cnf.x5t#S256``): userinfo answers with it, 401
    without it; the refresh comes with it."""
    registered(server, "roc-mtls", "tls_client_auth", tls_client_auth_subject_dn=SERVICE_DN)
    session = https_session(server)
    session.cert = (str(server.home / "client/cert.pem"), str(server.home / "client/key.pem"))
    discovery = session.get(f"{server.issuer}/.well-known/openid-configuration").json()
    aliases = discovery["mtls_endpoint_aliases"]
    client = OAuth2Client(
        token_endpoint=aliases["token_endpoint"],
        backchannel_authentication_endpoint=aliases["backchannel_authentication_endpoint"],
        userinfo_endpoint=aliases["userinfo_endpoint"],
        introspection_endpoint=aliases["introspection_endpoint"],
        revocation_endpoint=aliases["revocation_endpoint"],
        issuer=discovery["issuer"],
        jwks_uri=discovery["jwks_uri"],
        auth=PublicApp("roc-mtls"),
        session=session,
    )
    client.update_authorization_server_public_keys()
    ack = client.backchannel_authentication_request(
        scope=SCOPE, login_hint=PROFESSIONAL, binding_message="51", acr_values="eidas1"
    )
    token = polled(BackChannelAuthenticationPollingJob(client, ack), 5)
    assert checked_id_token(client, token)["SubjectNameID"] == PROFESSIONAL
    introspected = client.introspect_token(token.access_token)
    assert introspected["client_id"] == "roc-mtls" and introspected["cnf"]["x5t#S256"]
    assert client.userinfo(token)["SubjectNameID"] == PROFESSIONAL
    without = requests.get(client.userinfo_endpoint, auth=token, verify=server.ca, timeout=10)
    assert without.status_code == 401
    refreshed = client.refresh_token(token)
    assert client.userinfo(refreshed)["SubjectNameID"] == PROFESSIONAL


def test_the_polling_job_through_pending_and_slow_down(server):
    """A phone that has not answered yet: ``authorization_pending``, the job waits and polls
    again. A job told to poll sooner than the server's ``interval`` (2 s) meets Keycloak's
    ``slow_down`` "too early to access" and lengthens its own interval by 5 s (CIBA Core §11),
    then gets the tokens once the professional approved."""
    registered(server, "roc-pending", backchannel_polling_interval=2)
    client = oauth2_client(server, ClientSecretBasic("roc-pending", SECRET))
    ack = client.backchannel_authentication_request(
        scope=SCOPE, login_hint=SILENT, binding_message="17"
    )
    assert ack.interval == 2
    seen = answers(client)
    job = BackChannelAuthenticationPollingJob(client, ack)
    assert job() is None
    hurried = BackChannelAuthenticationPollingJob(client, ack, interval=1)
    assert hurried() is None
    assert hurried.interval == 1 + 5
    control(server, pending_ciba_request(server, SILENT, "17"), "approve")
    token = hurried()
    assert token is not None and checked_id_token(client, token)["SubjectNameID"] == SILENT
    errors = [
        (r.status_code, r.json().get("error"), r.json().get("error_description")) for r in seen
    ]
    assert errors == [
        (400, "authorization_pending",
         "The authorization request is still pending as the end-user hasn't yet been "
         "authenticated."),
        (400, "slow_down", "too early to access"),
        (200, None, None),
    ]  # fmt: skip


def test_a_refusal_and_an_expiry_as_the_polling_job_raises_them(server):
    """A professional who refuses on the phone: the job raises ``AccessDenied`` (Keycloak's
    "not authorized"). A request that expires unanswered (``requested_expiry``, read back as
    ``expires_in``; expired through the control API): ``ExpiredToken`` "authentication timed
    out". The job itself never stops polling at ``expires_in``: the server's answer ends it."""
    registered(server, "roc-refusals")
    client = oauth2_client(server, ClientSecretBasic("roc-refusals", SECRET))
    refused = client.backchannel_authentication_request(scope=SCOPE, login_hint=DENYING)
    with pytest.raises(AccessDenied) as denied:
        polled(BackChannelAuthenticationPollingJob(client, refused), 5)
    assert (denied.value.error, denied.value.description) == ("access_denied", "not authorized")

    silent = client.backchannel_authentication_request(
        scope=SCOPE, login_hint=SILENT, binding_message="23", requested_expiry=30
    )
    assert 25 <= silent.expires_in <= 30
    job = BackChannelAuthenticationPollingJob(client, silent)
    assert job() is None
    control(server, pending_ciba_request(server, SILENT, "23"), "expire")
    with pytest.raises(ExpiredToken) as expired:
        polled(job, 5)
    assert expired.value.description == "authentication timed out"


def test_back_channel_refusals_as_the_library_raises_them(server):
    """Keycloak's answers at ``ext/ciba/auth`` (docs/reference/pro-sante-connect.md §14) as the
    library's exceptions: a wrong secret ``UnauthorizedClient`` (401), a client without CIBA
    ``InvalidGrant`` "Client not allowed OIDC CIBA Grant", an inactive professional
    ``InvalidRequest`` "invalid_user", a professional without a phone on the ``MOBILE``
    channel 503 ``server_error``, which the library reads as any OAuth error: ``ServerError``."""
    registered(server, "roc-ciba-errors")
    client = oauth2_client(server, ClientSecretBasic("roc-ciba-errors", SECRET))
    wrong = oauth2_client(server, ClientSecretBasic("roc-ciba-errors", "not-the-secret"))
    with pytest.raises(UnauthorizedClient) as refused:
        wrong.backchannel_authentication_request(scope=SCOPE, login_hint=PROFESSIONAL)
    assert refused.value.response.status_code == 401
    assert refused.value.description == "Invalid client or Invalid client credentials"

    server.register(
        "roc-no-ciba",
        client_secret=SECRET,
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code"],
        token_endpoint_auth_method="client_secret_basic",
    )
    without = oauth2_client(server, ClientSecretBasic("roc-no-ciba", SECRET))
    with pytest.raises(InvalidGrant) as refused:
        without.backchannel_authentication_request(scope=SCOPE, login_hint=PROFESSIONAL)
    assert refused.value.description == "Client not allowed OIDC CIBA Grant"

    with pytest.raises(InvalidRequest) as refused:
        client.backchannel_authentication_request(scope=SCOPE, login_hint=INACTIVE)
    assert refused.value.description == "invalid_user"

    with pytest.raises(ServerError) as refused:
        client.backchannel_authentication_request(
            scope=SCOPE, login_hint=CARD_ONLY, channel="MOBILE"
        )
    assert refused.value.response.status_code == 503
    assert refused.value.description == "Failed to send authentication request"


def with_query(url: str, **changes: str | None) -> str:
    """``url`` with its query's ``changes`` (``None``: the parameter removed)."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    kept = {name: value for name, value in query.items() if value is not None}
    return urlunsplit(parts._replace(query=urlencode(kept)))


def browser(server) -> requests.Session:
    return https_session(server)


@pytest.mark.parametrize("method", METHODS)
def test_the_code_flow_with_pkce_state_iss_and_the_id_token(server, method):
    """``authorization_request`` (``state``, ``nonce``, PKCE S256, ``acr_values`` ``eidas1``),
    the browser's login, ``validate_callback`` (``state`` and RFC 9207's ``iss``),
    ``authorization_code`` with the verifier, which validates the ID token (signature by
    ``kid``, ``iss``, ``aud``, ``azp``, ``exp``, ``nonce``, ``acr``, ``at_hash``, ``auth_time``
    within ``max_age``); then
    ``OAuth2AccessTokenAuth`` on userinfo, which refreshes an expired access token first, and
    the revocation of the refresh token (a JWT method's handler with ``aud`` the issuer),
    after which a refresh is ``InvalidGrant``."""
    client_id = f"roc-code-{method}"
    registered(server, client_id, method)
    client = oauth2_client(server, credentials(client_id, method))
    request = client.authorization_request(scope=SCOPE, acr_values="eidas1", max_age=600)
    query = parse_qs(urlsplit(request.uri).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [request.state]
    assert query["max_age"] == ["600"]
    assert query["nonce"] == [request.nonce] and query["acr_values"] == ["eidas1"]

    callback = login_to_callback(browser(server), request.uri, REDIRECT_URI, PROFESSIONAL)
    assert parse_qs(urlsplit(callback).query)["iss"] == [server.issuer]
    response = request.validate_callback(callback)
    token = client.authorization_code(response)
    assert token.id_token.claims["nonce"] == request.nonce
    assert token.id_token.claims["acr"] == "eidas1"
    assert token.id_token.claims["SubjectNameID"] == PROFESSIONAL

    expired = BearerToken(
        access_token=token.access_token, refresh_token=token.refresh_token, expires_in=-1
    )
    auth = OAuth2AccessTokenAuth(client, expired)
    userinfo = requests.get(client.userinfo_endpoint, auth=auth, verify=server.ca, timeout=10)
    assert userinfo.status_code == 200 and userinfo.json()["SubjectNameID"] == PROFESSIONAL
    assert auth.token.access_token != token.access_token and not auth.token.is_expired()

    revoking = oauth2_client(server, credentials(client_id, method, aud=server.issuer))
    assert revoking.revoke_refresh_token(auth.token) is True
    with pytest.raises(InvalidGrant):
        client.refresh_token(auth.token)


def test_the_callback_checks_of_the_library(server):
    """``validate_callback`` refuses another login's ``state`` and an ``iss`` that is not the
    issuer; a callback without ``iss`` only when the request was made with
    ``authorization_response_iss_parameter_supported`` (the client's, read from discovery,
    is not handed on by ``authorization_request``); a login
    refused on the sandbox phone comes back as ``access_denied`` (no description, as from
    Keycloak), an ``AuthorizationResponseError``, with ``iss``; a silent login without a
    session, ``LoginRequired``."""
    registered(server, "roc-callbacks")
    client = oauth2_client(server, ClientSecretBasic("roc-callbacks", SECRET))
    request = client.authorization_request(scope=SCOPE, acr_values="eidas1")
    callback = login_to_callback(browser(server), request.uri, REDIRECT_URI, PROFESSIONAL)
    with pytest.raises(MismatchingState):
        client.authorization_request(scope=SCOPE).validate_callback(callback)
    with pytest.raises(MismatchingIssuer):
        request.validate_callback(with_query(callback, iss="https://psc.example.org/"))
    # The client read authorization_response_iss_parameter_supported from discovery, but its
    # authorization_request() does not hand it on: a callback without iss passes unless the
    # service asks for the check on each request.
    assert request.validate_callback(with_query(callback, iss=None)).code
    strict = client.authorization_request(
        scope=SCOPE, acr_values="eidas1",
        authorization_response_iss_parameter_supported=client.authorization_response_iss_parameter_supported,
    )  # fmt: skip
    assert "authorization_response_iss_parameter_supported" not in strict.uri
    callback = login_to_callback(browser(server), strict.uri, REDIRECT_URI, PROFESSIONAL)
    with pytest.raises(MissingIssuer):
        strict.validate_callback(with_query(callback, iss=None))
    assert client.authorization_code(strict.validate_callback(callback)).access_token

    refused = client.authorization_request(scope=SCOPE, acr_values="eidas1")
    callback = login_to_callback(browser(server), refused.uri, REDIRECT_URI, DENYING, refused=True)
    with pytest.raises(AuthorizationResponseError) as denied:
        refused.validate_callback(callback)
    assert (denied.value.error, denied.value.description) == ("access_denied", None)
    # An error response carries iss too (RFC 9207 §2): the strict check lets it through.
    assert parse_qs(urlsplit(callback).query)["iss"] == [server.issuer]

    silent = client.authorization_request(
        scope=SCOPE, prompt="none",
        authorization_response_iss_parameter_supported=True,
    )  # fmt: skip
    callback = login_to_callback(browser(server), silent.uri, REDIRECT_URI, PROFESSIONAL)
    with pytest.raises(LoginRequired):
        silent.validate_callback(callback)


@pytest.mark.parametrize("method", METHODS)
def test_pushed_authorization_request(server, method):
    """``pushed_authorization_request``: the request pushed with the client's authentication
    (a ``private_key_jwt`` assertion's ``aud`` the PAR endpoint's URL), the browser sent with
    ``client_id`` and ``request_uri`` alone; the pushed request is the one served (its
    ``acr_values``), and the callback is validated by the request that was pushed."""
    client_id = f"roc-par-{method}"
    registered(server, client_id, method)
    client = oauth2_client(server, credentials(client_id, method))
    request = client.authorization_request(scope=SCOPE, acr_values="eidas1")
    pushed = client.pushed_authorization_request(request)
    assert pushed.request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    # expires_in 60 (Keycloak's PAR lifetime), read as a date.
    lifetime = (pushed.expires_at - datetime.now(tz=UTC)).total_seconds()
    assert 50 <= lifetime <= 60
    assert set(parse_qs(urlsplit(pushed.uri).query)) == {"client_id", "request_uri"}
    callback = login_to_callback(browser(server), pushed.uri, REDIRECT_URI, PROFESSIONAL)
    token = client.authorization_code(request.validate_callback(callback))
    assert token.id_token.claims["acr"] == "eidas1"
    assert token.id_token.claims["nonce"] == request.nonce


def test_client_credentials_and_its_auth_handler(server):
    """``client_credentials`` for a service account, and ``OAuth2ClientCredentialsAuth``
    getting one token (``scope=openid``, for userinfo) for two calls; a client without a
    service account is Keycloak's ``unauthorized_client`` "Client not enabled to retrieve
    service account"."""
    server.register(
        "roc-backend",
        client_secret=SECRET,
        grant_types=["client_credentials"],
        token_endpoint_auth_method="client_secret_basic",
    )
    client = oauth2_client(server, ClientSecretBasic("roc-backend", SECRET))
    token = client.client_credentials(scope="openid")
    assert token.access_token and token.refresh_token is None and token.expires_in > 0
    seen = answers(client)
    auth = OAuth2ClientCredentialsAuth(client, scope="openid")
    for _ in range(2):
        userinfo = requests.get(client.userinfo_endpoint, auth=auth, verify=server.ca, timeout=10)
        assert userinfo.json()["sub"] == "service-account-roc-backend"
    assert [r.url for r in seen] == [client.token_endpoint]

    registered(server, "roc-users")
    users = oauth2_client(server, ClientSecretBasic("roc-users", SECRET))
    with pytest.raises(UnauthorizedClient) as refused:
        users.client_credentials(scope="openid")
    assert refused.value.description == "Client not enabled to retrieve service account"


def test_a_signed_authentication_request_as_the_library_signs_it(server):
    """``backchannel_authentication_request(private_jwk=…)`` signs the request's parameters
    alone — every absent one as ``null``, and none of the ``iss``, ``aud``, ``exp``, ``iat``,
    ``nbf``, ``jti`` that CIBA Core §7.1.1 requires — so santeid refuses it (400
    ``invalid_request``), as Keycloak does: its parser reads a ``null`` claim as the text
    "null" (``BackchannelAuthenticationEndpointSignedRequestParser.getParameter``), and the
    ``requested_expiry`` "null" is no number. Those claims given as extra parameters, the
    ``null`` ones are still refused: a client registered with
    ``backchannel_authentication_request_signing_alg`` cannot use the library's signing."""
    key = Jwk.generate(alg="PS256", kid="request-key-1")
    registered(
        server,
        "roc-signed",
        jwks={"keys": [key.public_jwk().to_dict()]},
        backchannel_authentication_request_signing_alg="PS256",
    )
    client = oauth2_client(server, ClientSecretBasic("roc-signed", SECRET))
    seen = answers(client)
    with pytest.raises(InvalidRequest) as refused:
        client.backchannel_authentication_request(
            scope=SCOPE, login_hint=PROFESSIONAL, binding_message="42", private_jwk=key
        )
    # The first of the FAPI-CIBA executor's checks, in its words (docs/ciba.md).
    assert refused.value.description == (
        "Missing parameter in the signed authentication request: exp"
    )
    [request_object] = parse_qs(seen[-1].request.body)["request"]
    claims = SignedJwt(request_object).claims
    assert claims["login_hint"] == PROFESSIONAL and claims["user_code"] is None
    assert not {"iss", "aud", "exp", "iat", "nbf", "jti"} & set(claims)

    now = int(time.time())
    with pytest.raises(InvalidRequest) as refused:
        client.backchannel_authentication_request(
            scope=SCOPE, login_hint=PROFESSIONAL, binding_message="42", private_jwk=key,
            iss="roc-signed", aud=server.issuer, iat=now, nbf=now, exp=now + 300,
            jti=str(uuid.uuid4()),
        )  # fmt: skip
    assert refused.value.description == "request object: client_notification_token must be a string"


def test_grants_psc_clients_may_not_use(server):
    """The library's other grants, as Keycloak refuses them to a PSC client
    (docs/reference/keycloak-behaviour.md, "Grants PSC's clients cannot use"): the password
    grant and the device authorization ``UnauthorizedClient``, token exchange
    ``unsupported_grant_type``, which the library knows no class for
    (``UnknownTokenEndpointError``). The device authorization endpoint is not read from the
    discovery document either: given, Keycloak's path."""
    registered(server, "roc-grants")
    client = OAuth2Client.from_discovery_endpoint(
        issuer=server.issuer,
        auth=ClientSecretBasic("roc-grants", SECRET),
        session=https_session(server),
        device_authorization_endpoint=f"{server.issuer}/protocol/openid-connect/auth/device",
    )
    with pytest.raises(UnauthorizedClient) as refused:
        client.resource_owner_password(username=PROFESSIONAL, password="a password")
    assert refused.value.description == "Client not allowed for direct access grants"
    with pytest.raises(UnauthorizedClient) as refused:
        client.authorize_device(scope="openid")
    assert refused.value.description == (
        "Client is not allowed to initiate OAuth 2.0 Device Authorization Grant. "
        "The flow is disabled for the client."
    )
    with pytest.raises(UnknownTokenEndpointError) as refused:
        client.token_exchange(subject_token="a-token", subject_token_type="access_token")
    assert refused.value.error == "unsupported_grant_type"


def test_the_plain_http_sandbox_needs_the_testing_mode(tmp_path_factory):
    """``make run``'s sandbox answers on ``http://127.0.0.1:5000``: the library refuses an
    ``http`` issuer (``InvalidIssuer``, "must use https") unless the client is made with
    ``testing=True``, its switch for such servers; CIBA then runs as over HTTPS."""
    with santeid_process(
        tmp_path_factory.mktemp("requests-oauth2client-http"), SANTEID_STORE_URL="memory://"
    ) as plain:
        registered(plain, "roc-http")
        auth = ClientSecretBasic("roc-http", SECRET)
        with pytest.raises(InvalidIssuer, match="must use https"):
            OAuth2Client.from_discovery_endpoint(issuer=plain.issuer, auth=auth)
        client = OAuth2Client.from_discovery_endpoint(
            issuer=plain.issuer,
            auth=auth,
            testing=True,
            backchannel_authentication_endpoint=f"{plain.oidc}/ext/ciba/auth",
        )
        ack = client.backchannel_authentication_request(scope=SCOPE, login_hint=PROFESSIONAL)
        token = polled(BackChannelAuthenticationPollingJob(client, ack), 5)
        assert client.userinfo(token)["SubjectNameID"] == PROFESSIONAL

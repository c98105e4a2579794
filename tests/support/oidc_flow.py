"""Helpers for driving the authorization code flow through Flask's test client: one
``Flow`` is one browser (the client keeps its cookies) and one registered service."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

ISSUER = "http://localhost/auth/realms/esante-wallet"
OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"
REDIRECT_URI = "https://service.example.org/callback"
CLIENT_SECRET = "s3cr3t-of-the-test-client-0123456789"
#: The members of Keycloak's token answer, in its order (docs/reference/keycloak-behaviour.md,
#: "Token endpoint"): spelled out here from that page, not imported from santeid, so that a
#: change of santeid's order fails the tests that compare with it.
KEYCLOAK_TOKEN_MEMBERS = [
    "access_token",
    "expires_in",
    "refresh_expires_in",
    "refresh_token",
    "token_type",
    "id_token",
    "not-before-policy",
    "session_state",
    "scope",
]


def userinfo_refusal(response) -> tuple[int, str | None, bytes, str]:
    """What a client sees of a userinfo error — status, ``WWW-Authenticate``, body, media type
    — from Flask's test client or ``requests`` alike."""
    body = response.content if hasattr(response, "content") else response.get_data()
    media_type = response.headers.get("Content-Type", "").split(";")[0]
    return response.status_code, response.headers.get("WWW-Authenticate"), body, media_type


def keycloak_refusal(
    status: int, error: str | None = None, description: str | None = None
) -> tuple[int, str, bytes, str]:
    """Keycloak's userinfo error (``OAuth2Error`` with ``json(false)``,
    docs/reference/keycloak-behaviour.md, "Userinfo, introspection, revocation"), spelled out
    here rather than built by santeid's code: the challenge, an empty ``text/plain`` body."""
    challenge = 'Bearer realm="esante-wallet"'
    if error:
        challenge += f', error="{error}"'
    if description:
        challenge += f', error_description="{description}"'
    return status, challenge, b"", "text/plain"


def register_client(app, **overrides) -> dict:
    metadata = {
        "client_id": "service-test",
        "client_name": "Service de test",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": ["https://service.example.org/logged-out"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    metadata.update(overrides)
    app.extensions["santeid"].clients.add(metadata, replace=True)
    return metadata


def sandbox_professional(app) -> str:
    return app.extensions["santeid"].directory.list(sandbox_only=True)[0].national_id


def authorization_url(endpoint: str, **params: str) -> str:
    """A code-flow authorization URL a service builds, for a real server's ``endpoint``, with
    ``params`` (``client_id`` and ``redirect_uri`` required): :func:`authorization_query`'s
    parameters."""
    client_id = params.pop("client_id")
    redirect_uri = params.pop("redirect_uri")
    return f"{endpoint}?{urlencode(authorization_query(client_id, redirect_uri, **params))}"


def basic_auth(client_id: str, secret: str) -> dict:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorization_query(client_id: str, redirect_uri: str, /, **params) -> dict:
    """The parameters of a code-flow authorization request at e-CPS level (``acr_values``
    ``eidas1``) with a new ``state`` and ``nonce``; ``params`` added or replacing any of them
    (``client_id`` and ``redirect_uri`` too), a value of ``None`` leaving one out."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid scope_all",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "acr_values": "eidas1",
        **params,
    }
    return {k: v for k, v in query.items() if v is not None}


class Flow:
    """Drives one browser (a Flask test client keeps its cookies) through the login."""

    def __init__(self, app, http, client_meta: dict):
        self.app = app
        self.http = http
        self.client = client_meta

    def authorize(self, **params):
        query = authorization_query(
            self.client["client_id"], self.client["redirect_uris"][0], **params
        )
        return self.http.get(f"{OIDC}/auth?" + urlencode(query))

    def csrf(self, html: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def login(self, response, national_id: str):
        """Follow the redirect to the login page and log ``national_id`` in; return the
        redirect that ends the login."""
        assert response.status_code == 302, response.data
        login_url = response.headers["Location"]
        page = self.http.get(login_url)
        assert page.status_code == 200
        posted = self.http.post(
            login_url,
            data={"national_id": national_id, "csrf_token": self.csrf(page.get_data(as_text=True))},
        )
        assert posted.status_code == 303, posted.get_data(as_text=True)
        txid = parse_qs(urlsplit(login_url).query)["tx"][0]
        return self.http.get(f"/auth/realms/esante-wallet/login-actions/complete?tx={txid}")

    def code_from(self, response) -> dict:
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(self.client["redirect_uris"][0])
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def token(self, code: str, **extra):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.client["redirect_uris"][0],
        }
        data.update(extra)
        return self.http.post(
            f"{OIDC}/token",
            data=data,
            headers=basic_auth(self.client["client_id"], self.client["client_secret"]),
        )

    def obtain_code(self, national_id: str | None = None, **params) -> dict:
        """Parameters of the redirect back to the client, logging in only if SSO cannot answer."""
        response = self.authorize(**params)
        if "/login-actions/" in response.headers.get("Location", ""):
            response = self.login(response, national_id or sandbox_professional(self.app))
        return self.code_from(response)

    def full_login(self, national_id: str | None = None, **params) -> dict:
        national_id = national_id or sandbox_professional(self.app)
        result = self.code_from(self.login(self.authorize(**params), national_id))
        response = self.token(result["code"])
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def back_link(page) -> str | None:
    """Where ``page``'s "« Back to Application" link leads (the element of Keycloak's
    ``error.ftl``, ``id="backToApplication"``), or None without one."""
    found = re.search(r'<a id="backToApplication" href="([^"]*)"', page.get_data(as_text=True))
    return None if found is None else found.group(1)


def error_advice(page) -> str | None:
    """The advice under ``page``'s error detail (``error.html``'s ``id="error-advice"``), as a
    browser shows it, or None without one."""
    found = re.search(r'id="error-advice">([^<]*)</p>', page.get_data(as_text=True))
    return None if found is None else html.unescape(found.group(1))


def error_detail(page) -> str:
    """The text of ``page``'s error detail (``error.html``'s ``id="error-detail"``, where
    Keycloak's ``error.ftl`` writes its message), as a browser shows it."""
    found = re.search(r'id="error-detail">([^<]*)</p>', page.get_data(as_text=True))
    assert found is not None, "no error detail on this page"
    return html.unescape(found.group(1))


def set_cookie(response, name: str) -> str:
    """The value ``response`` sets for the cookie ``name`` (its first ``Set-Cookie``)."""
    return next(
        header.split(";", 1)[0].split("=", 1)[1]
        for header in response.headers.getlist("Set-Cookie")
        if header.startswith(f"{name}=")
    )


def kept_for_restart(app, response) -> dict:
    """The login ``response`` keeps in ``santeid_restart``, as the server reads it back."""
    from santeid.security import RESTART

    sealed = set_cookie(response, "santeid_restart")
    with app.test_request_context(headers={"Cookie": f"santeid_restart={sealed}"}):
        return RESTART.get()


def decode(app, token: str) -> tuple[dict, dict]:
    """Verify with the published JWKS only, as a relying party would."""
    jwks = KeySet.import_key_set(app.test_client().get(f"{OIDC}/certs").get_json())
    result = jwt.decode(token, jwks, algorithms=["RS256", "ES256", "PS256"])
    return dict(result.header), dict(result.claims)


class MovedIssuer:
    """A login made under :data:`ISSUER`, then a second app on the same store whose ``issuer``
    setting moved (a new base URL, same keys): what a token issued before the move meets.

    ``flow`` is the browser and service of the login (on the first app), ``tokens`` its token
    answer, ``issuer`` the new one; :meth:`post` sends a form to an endpoint of the second app
    as the service, with its Basic credentials."""

    MOVED = "http://localhost/auth/realms/esante-wallet-moved"

    def __init__(self, settings):
        from santeid import create_app
        from santeid.storage import MemoryStore

        store = MemoryStore()
        before = create_app(settings, store=store)
        self.flow = Flow(before, before.test_client(), register_client(before))
        self.tokens = self.flow.full_login()
        self.issuer = self.MOVED
        self.app = create_app(settings.replace(issuer=self.issuer), store=store)

    def post(self, endpoint: str, form: dict):
        """POST ``form`` to ``…/protocol/openid-connect/<endpoint>`` under the new issuer."""
        path = self.issuer.removeprefix("http://localhost")
        return self.app.test_client().post(
            f"{path}/protocol/openid-connect/{endpoint}",
            data=form,
            headers=basic_auth(self.client_id, CLIENT_SECRET),
        )

    @property
    def client_id(self) -> str:
        return self.flow.client["client_id"]

"""Synapse, the Matrix homeserver (PyPI ``matrix-synapse``, https://github.com/element-hq/synapse),
with its OpenID Connect login (``oidc_providers``) pointed at a real ``santeid serve`` over
HTTPS, as ANS's EIMIS messaging points it at Pro Santé Connect: the provider block of its
public configuration (``ad2ien/prosante-connect-synapse-module``, README "Synapse
configuration": ``idp_id: psc``, which Synapse names ``oidc-psc``; ``discover: false`` with
the five endpoints given; ``user_profile_method: userinfo_endpoint``; ``scopes: ["openid",
"scope_all"]``; the localpart from ``preferred_username``, the display name from
``given_name`` and ``family_name``; ``backchannel_logout_enabled: true``) with only the base
URL changed to santeid's realm, and the same provider with ``discover: true``
(``psc-discovery``).

Synapse's pins clash with the project's (its Twisted and pyOpenSSL with ``cryptography``): it
runs as its own process from a virtual environment beside this module
(``tests/e2e/synapse/.venv``, git-ignored), installed once from the hashed lock
``tests/e2e/synapse/requirements.txt`` (:func:`install_locked_venv`). The homeserver is
generated in ``tmp_path``: SQLite, its client listener alone (no federation) over HTTPS with
santeid's development certificate (Synapse's session cookies are ``Secure``), registration
closed (``enable_registration: false``: accounts come from the SSO login alone), no stats,
the test's client URL in ``sso.client_whitelist`` (no "continue to your client" page).
Synapse's HTTP client trusts santeid's development authority through ``SSL_CERT_FILE``
(pyOpenSSL's default verify paths), nothing insecure switched on.

What Synapse does, read in its source (``synapse/handlers/oidc.py``, ``handlers/sso.py``):
the callback exchanges the code (``client_secret_basic``; PKCE S256 only when the metadata
lists ``code_challenge_methods_supported``, so with discovery alone), validates the ID token
whenever there is one (signature against ``jwks_uri``, ``iss``, ``aud``, the nonce) and keeps
its ``sid``, reads userinfo, maps the user with the Jinja templates and sends the browser
back to the client with a ``loginToken``; its back-channel logout endpoint picks the
provider by the logout token's ``iss`` and ``aud``, validates it (``sid`` required, ``events``,
no ``nonce``) and revokes the devices logged in under that ``sid``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.http_login import identifier_refused
from tests.support.http_login import login_from_service
from tests.support.python_venv import install_locked_venv
from tests.support.redis_server import free_port
from tests.support.servers import code_flow_client
from tests.support.servers import https_sandbox_process
from tests.support.servers import running_server

FOLDER = Path(__file__).resolve().parent / "synapse"

pytestmark = [
    pytest.mark.server,
    # The first test waits for the virtual environment's install (once per checkout).
    pytest.mark.timeout(900),
]

#: The providers: EIMIS's block as published (endpoints given) and the same with discovery.
PSC = "psc"
DISCOVERY = "psc-discovery"
#: EIMIS's block with a letter before the national id in the localpart (Synapse refuses
#: all-digit ones, :func:`test_an_all_digit_national_id_is_refused_by_synapse`).
PREFIXED = "psc-prefixed"
CLIENTS = {
    PSC: "eimis-synapse",
    DISCOVERY: "eimis-synapse-discovery",
    PREFIXED: "eimis-synapse-prefixed",
}
SECRET = "a-long-secret-for-the-synapse-homeserver-01"
SERVER_NAME = "eimis.test"
#: Where a Matrix client (Element) asks Synapse to send the browser back with a login token.
CLIENT_URL = "https://element.eimis.test/"
#: docs/sandbox.md: structure staff (SIRET, FINESS), approved; their ``preferred_username``
#: (the national id) holds a ``/``, which Synapse's ``map_username_to_mxid_localpart`` writes
#: ``=2f``, and letters: a localpart Synapse accepts.
STAFF = "500000010900017/SEC0042"
OTHER_STAFF = "30B6900011/ADM0107"
LOCALPARTS = {STAFF: "500000010900017/sec0042", OTHER_STAFF: "30b6900011/adm0107"}
DISPLAY_NAMES = {STAFF: "LUCAS GARNIER", OTHER_STAFF: "AURELIE PICARD"}
#: docs/sandbox.md: a médecin approved at once, whose RPPS-based national id is all digits.
PROFESSIONAL = "810000000030"
#: docs/sandbox.md: denied on the phone.
DENYING = "810000000032"
#: An RPPS-based national id no professional of the directory holds.
UNKNOWN = "810000009999"


@pytest.fixture(scope="module")
def python() -> Path:
    return install_locked_venv(FOLDER, "synapse.app.homeserver")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """santeid over HTTPS with its development certificate, which Synapse's listener shares:
    santeid's own back-channel logout POST trusts its authority through ``SSL_CERT_FILE``
    (Python's default TLS context, as an operator points it at the authority of a service's
    certificate)."""
    home = tmp_path_factory.mktemp("synapse-santeid")
    with https_sandbox_process(
        home, SANTEID_STORE_URL="memory://", SSL_CERT_FILE=str(home / "tls" / "ca.pem")
    ) as process:
        yield process


def provider(idp_id: str, server, *, discover: bool, localpart_prefix: str = "") -> dict:
    """EIMIS's ``oidc_providers`` entry, the base URL santeid's (``discover: true``: the
    endpoints from santeid's discovery document instead; ``localpart_prefix`` before the
    national id in the localpart)."""
    endpoints = {
        "issuer": server.issuer,
        "authorization_endpoint": f"{server.oidc}/auth",
        "token_endpoint": f"{server.oidc}/token",
        "userinfo_endpoint": f"{server.oidc}/userinfo",
        "jwks_uri": f"{server.oidc}/certs",
    }
    return {
        "idp_id": idp_id,
        "idp_name": "Pro Santé Connect",
        "discover": discover,
        **(endpoints if not discover else {"issuer": server.issuer}),
        "client_id": CLIENTS[idp_id],
        "client_secret": SECRET,
        "user_profile_method": "userinfo_endpoint",
        "scopes": ["openid", "scope_all"],
        "user_mapping_provider": {
            "config": {
                "localpart_template": localpart_prefix + "{{ user.preferred_username }}",
                "display_name_template": "{{ user.given_name }} {{ user.family_name }}",
            }
        },
        "backchannel_logout_enabled": True,
    }


def homeserver_config(folder: Path, server, port: int) -> dict:
    """The homeserver's configuration (YAML is a superset of JSON: written as JSON)."""
    unlimited = {"per_second": 1000, "burst_count": 1000}
    return {
        "server_name": SERVER_NAME,
        "public_baseurl": f"https://127.0.0.1:{port}/",
        "pid_file": str(folder / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": True,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "tls_certificate_path": str(server.home / "tls" / "cert.pem"),
        "tls_private_key_path": str(server.home / "tls" / "key.pem"),
        "database": {"name": "sqlite3", "args": {"database": str(folder / "homeserver.db")}},
        "media_store_path": str(folder / "media_store"),
        "signing_key_path": str(folder / "signing.key"),
        "macaroon_secret_key": "a-macaroon-secret-for-the-synapse-tests-0001",
        "form_secret": "a-form-secret-for-the-synapse-tests-00000001",
        "report_stats": False,
        "enable_registration": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "rc_login": {"address": unlimited, "account": unlimited, "failed_attempts": unlimited},
        "sso": {"client_whitelist": [CLIENT_URL]},
        "oidc_providers": [
            provider(PSC, server, discover=False),
            provider(DISCOVERY, server, discover=True),
            provider(PREFIXED, server, discover=False, localpart_prefix="ps"),
        ],
    }


@pytest.fixture(scope="module")
def synapse(python, server, tmp_path_factory):
    """Synapse on a free port, its clients registered at santeid with its callback and its
    back-channel logout endpoint; its origin."""
    folder = tmp_path_factory.mktemp("synapse")
    port = free_port()
    origin = f"https://127.0.0.1:{port}"
    for client_id in CLIENTS.values():
        server.add_client(
            {
                **code_flow_client(client_id, SECRET, f"{origin}/_synapse/client/oidc/callback"),
                "backchannel_logout_uri": f"{origin}/_synapse/client/oidc/backchannel_logout",
            }
        )
    config = folder / "homeserver.yaml"
    config.write_text(json.dumps(homeserver_config(folder, server, port), indent=2))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SANTEID_", "PYTHON"))},
        "SSL_CERT_FILE": str(server.ca),
    }
    command = [str(python), "-m", "synapse.app.homeserver", "-c", str(config)]
    keys = subprocess.run(
        [*command, "--generate-keys"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert keys.returncode == 0, keys.stdout + keys.stderr
    log = folder / "homeserver.log"
    with running_server(command, env, log, f"{origin}/health", verify=server.ca, seconds=120):
        yield Synapse(origin, folder / "homeserver.db", log, server.ca)


class Synapse:
    def __init__(self, origin: str, database: Path, log: Path, ca: str):
        self.origin = origin
        self.database = database
        self.log = log
        self.ca = ca

    def browser(self) -> requests.Session:
        """A browser trusting santeid's development authority, which both servers' certificate
        comes from (and nothing from the environment that would override it)."""
        browser = requests.Session()
        browser.trust_env = False
        browser.verify = self.ca
        return browser

    def sso_callback(
        self, idp_id: str, national_id: str, browser: requests.Session | None = None,
        *, refused: bool = False,
    ) -> requests.Response:  # fmt: skip
        """The professional's browser from Synapse's SSO redirect (as Element sends it) through
        santeid's login to Synapse's callback: Synapse's answer there."""
        browser = browser or self.browser()
        callback = login_from_service(
            browser, self.sso_redirect(idp_id), f"{self.origin}/_synapse/client/oidc/callback",
            national_id, refused=refused,
        )  # fmt: skip
        return browser.get(callback, allow_redirects=False, timeout=30)

    def sso_redirect(self, idp_id: str) -> str:
        """Where Element sends the browser to log in with ``idp_id``."""
        return (
            f"{self.origin}/_matrix/client/v3/login/sso/redirect/oidc-{idp_id}"
            f"?redirectUrl={quote(CLIENT_URL, safe='')}"
        )

    def login(self, idp_id: str, national_id: str = STAFF, **options) -> dict:
        """:meth:`sso_callback`, then the client's ``m.login.token`` login with the
        ``loginToken`` Synapse sent the browser back with: Synapse's answer (``user_id``,
        ``access_token``, ``device_id``), with the browser."""
        browser = options.get("browser") or self.browser()
        back = self.sso_callback(idp_id, national_id, browser)
        assert back.status_code == 302, back.text[:2000] + self.log.read_text()[-3000:]
        location = back.headers["Location"]
        assert location.startswith(CLIENT_URL), location
        token = parse_qs(urlsplit(location).query)["loginToken"][0]
        answer = requests.post(
            f"{self.origin}/_matrix/client/v3/login",
            json={"type": "m.login.token", "token": token},
            verify=self.ca,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return {**answer.json(), "browser": browser}

    def get(self, path: str, access_token: str) -> requests.Response:
        return requests.get(
            f"{self.origin}/_matrix/client/v3{path}",
            headers={"Authorization": f"Bearer {access_token}"},
            verify=self.ca,
            timeout=30,
        )

    def users(self) -> list[str]:
        """The Matrix users in Synapse's database."""
        with sqlite3.connect(self.database) as database:
            return sorted(row[0] for row in database.execute("SELECT name FROM users"))

    def external_ids(self) -> list[tuple[str, str, str]]:
        """Synapse's links of an identity provider's subject to a Matrix user."""
        with sqlite3.connect(self.database) as database:
            rows = database.execute(
                "SELECT auth_provider, external_id, user_id FROM user_external_ids"
            )
            return sorted(rows)


def user_id(national_id: str) -> str:
    return f"@{LOCALPARTS[national_id]}:{SERVER_NAME}"


def test_the_sso_redirect_goes_to_santeid_as_configured(server, synapse):
    """``/login/sso/redirect/psc``: Synapse sends the browser to the configured authorization
    endpoint with EIMIS's scopes, a state and a nonce, no PKCE (``discover: false`` gives no
    ``code_challenge_methods_supported``); with discovery, the endpoint read from santeid's
    document, and PKCE S256 since the document lists it."""
    browser = synapse.browser()
    for idp_id, pkce in ((PSC, False), (DISCOVERY, True)):
        sent = browser.get(
            f"{synapse.origin}/_matrix/client/v3/login/sso/redirect/oidc-{idp_id}",
            params={"redirectUrl": CLIENT_URL},
            allow_redirects=False,
            timeout=30,
        )
        assert sent.status_code == 302, sent.text
        url = urlsplit(sent.headers["Location"])
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.oidc}/auth"
        assert query["client_id"] == CLIENTS[idp_id] and query["response_type"] == "code"
        assert query["scope"] == "openid scope_all" and query["state"] and query["nonce"]
        assert query["redirect_uri"] == f"{synapse.origin}/_synapse/client/oidc/callback"
        assert ("code_challenge" in query) is pkce
        if pkce:
            assert query["code_challenge_method"] == "S256"


@pytest.mark.parametrize("idp_id", [PSC, DISCOVERY])
def test_login_makes_the_matrix_user_from_santeid_s_claims(synapse, idp_id):
    """The whole login: santeid's login, Synapse's callback (code exchange, ID token,
    userinfo), the ``loginToken``, ``m.login.token``: the Matrix user's localpart is
    santeid's ``preferred_username`` (the national id), its display name ``given_name
    family_name``; ``whoami`` knows the access token."""
    national_id = STAFF if idp_id == PSC else OTHER_STAFF
    logged_in = synapse.login(idp_id, national_id)
    assert logged_in["user_id"] == user_id(national_id)
    whoami = synapse.get("/account/whoami", logged_in["access_token"])
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["user_id"] == user_id(national_id)
    assert whoami.json()["device_id"] == logged_in["device_id"]
    profile = synapse.get(
        f"/profile/{quote(user_id(national_id), safe='')}", logged_in["access_token"]
    )
    assert profile.status_code == 200, profile.text
    assert profile.json()["displayname"] == DISPLAY_NAMES[national_id]


def test_a_second_login_is_the_same_matrix_user(synapse):
    """A second login (a new browser, so a new santeid session) maps to the same user through
    Synapse's link of the provider's ``sub`` to it, with a new device."""
    first = synapse.login(PSC)
    second = synapse.login(PSC)
    assert first["user_id"] == second["user_id"] == user_id(STAFF)
    assert first["device_id"] != second["device_id"]
    assert synapse.users().count(user_id(STAFF)) == 1
    links = [link for link in synapse.external_ids() if link[0] == f"oidc-{PSC}"]
    assert [link[2] for link in links] == [user_id(STAFF)]


@pytest.mark.parametrize("idp_id", [PSC, DISCOVERY])
def test_santeid_s_logout_ends_the_matrix_session(server, synapse, idp_id):
    """The professional logs out at santeid (RP-initiated logout by ``client_id``, confirmed
    on santeid's page): santeid posts its back-channel logout token to Synapse, which
    validates it and revokes the device logged in under its ``sid``: the access token is
    refused (``whoami`` 401), while a login of another santeid session goes on."""
    national_id = STAFF if idp_id == PSC else OTHER_STAFF
    logged_in = synapse.login(idp_id, national_id)
    other = synapse.login(idp_id, national_id)
    assert synapse.get("/account/whoami", logged_in["access_token"]).status_code == 200
    browser = logged_in["browser"]
    page = browser.get(f"{server.oidc}/logout", params={"client_id": CLIENTS[idp_id]})
    assert page.status_code == 200 and 'id="confirm-logout"' in page.text, page.text[:500]
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    confirmed = browser.post(
        f"{server.oidc}/logout/logout-confirm",
        data={"client_id": CLIENTS[idp_id], "csrf_token": csrf},
        allow_redirects=False,
    )
    assert confirmed.status_code in (200, 302), confirmed.text[:500]
    refused = synapse.get("/account/whoami", logged_in["access_token"])
    assert refused.status_code == 401, refused.text
    assert refused.json()["errcode"] == "M_UNKNOWN_TOKEN"
    assert synapse.get("/account/whoami", other["access_token"]).status_code == 200


def test_a_login_denied_on_the_phone_shows_synapse_s_error_and_makes_no_user(synapse):
    """The professional denies the login on the phone and gives up: santeid sends the
    browser back with ``access_denied``, Synapse shows its error page, and no Matrix user is
    made for that professional."""
    answer = synapse.sso_callback(PSC, DENYING, refused=True)
    assert answer.status_code == 400, answer.text[:2000]
    assert "access_denied" in answer.text
    assert not [user for user in synapse.users() if DENYING in user]


def test_an_unknown_national_id_shows_santeid_s_error_and_makes_no_user(synapse):
    """The professional types a national id santeid's directory does not know: santeid's
    login page says so (400) and keeps the browser, which never reaches Synapse's callback;
    Synapse makes no Matrix user and links no identity."""
    answer = identifier_refused(synapse.browser(), synapse.sso_redirect(PSC), UNKNOWN)
    assert answer.status_code == 400, answer.text[:2000]
    assert "Aucun professionnel ne porte" in answer.text and UNKNOWN in answer.text
    assert 'name="national_id"' in answer.text
    assert not [user for user in synapse.users() if UNKNOWN in user]
    assert not [link for link in synapse.external_ids() if UNKNOWN in " ".join(link)]


def test_an_all_digit_national_id_is_refused_by_synapse(synapse):
    """Synapse's own limit, which PSC's answers meet alike: EIMIS's ``localpart_template``
    gives the national id, and a professional's RPPS-based one (``8`` and eleven digits) is
    all digits, which Synapse's registration refuses ("Numeric user IDs are reserved for
    guest users", ``RegistrationHandler.check_username``): its error page, no user made.
    PSC's test accounts (``ANS…``) have letters. With a letter before it
    (``localpart_template: "ps{{ user.preferred_username }}"``) the same professional logs
    in."""
    answer = synapse.sso_callback(PSC, PROFESSIONAL)
    assert answer.status_code == 400, answer.text[:2000]
    assert "Numeric user IDs are reserved for guest users" in answer.text
    assert not [user for user in synapse.users() if PROFESSIONAL in user]
    logged_in = synapse.login(PREFIXED, PROFESSIONAL)
    assert logged_in["user_id"] == f"@ps{PROFESSIONAL}:{SERVER_NAME}"
    profile = synapse.get(f"/profile/{quote(logged_in['user_id'], safe='')}",
                          logged_in["access_token"])  # fmt: skip
    assert profile.json()["displayname"] == "CLEMENT ARNAUD"

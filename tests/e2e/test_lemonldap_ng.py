"""LemonLDAP::NG (https://lemonldap-ng.org, Debian 12's ``lemonldap-ng`` 2.16), the Web-SSO of
French public administrations and hospitals, as a Pro Santé Connect relying party against a
real ``santeid serve``: its portal (``llng-fastcgi-server`` behind nginx,
tests/support/lemonldap.py) configured as LemonLDAP::NG's page "Pro Santé Connect" says
(https://lemonldap-ng.org/documentation/latest/authopenidconnect_prosanteconnect.html) by the
example's script, examples/psc-lemonldap-ng/psc-connect.sh: the metadata set by hand from
santeid's wallet discovery document, the JWKS imported, the attributes exported from userinfo,
``openid scope_all``, ``acr_values`` ``eidas1``, a nonce, ``client_secret_post``, the callback
``?openidconnectcallback=1`` and the logout URL ``?logout=1`` registered. Only the base URL
differs from PSC's.

The professional's login in headless Chromium, the portal's session and what it exported, the
ID token's checks by the portal (a signature that fails them refused), ``client_secret_basic``,
a wrong client secret, the portal's logout through santeid's end-session endpoint (with the
stored ID token as ``id_token_hint``, and without it), and a refusal on the sandbox phone."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.support.browser import identify
from tests.support.browser import wait_for
from tests.support.lemonldap import needs_lemonldap_ng
from tests.support.lemonldap import running_portal
from tests.support.servers import santeid_process

pytestmark = [pytest.mark.server, pytest.mark.browser, needs_lemonldap_ng]

CLIENT_ID = "lemonldap-portal"
#: docs/sandbox.md: Clément ARNAUD, approved at once; Gilles CARON, who refuses on the phone.
PROFESSIONAL = "810000000030"
DENYING = "810000000032"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with santeid_process(
        tmp_path_factory.mktemp("lemonldap-ng"), SANTEID_STORE_URL="memory://"
    ) as process:
        yield process


def portal_of(
    server,
    client_id: str,
    changes: Iterable[tuple[str, str, str]] = (),
    *,
    auth_method: str = "client_secret_post",
    secret: str | None = None,
):
    """A portal with the wallet discovery document's URL as the documentation's metadata,
    registered at santeid as PSC registers it: the callback and logout URLs the documentation
    gives, ``auth_method`` at the token endpoint, a secret made for this run (``secret``: the
    portal's own, another); ``changes`` to the example's configuration."""
    registered = secrets.token_urlsafe(32)

    def register(origin: str) -> None:
        server.register(
            client_id,
            client_secret=registered,
            redirect_uris=[f"{origin}/?openidconnectcallback=1"],
            post_logout_redirect_uris=[f"{origin}/?logout=1"],
            token_endpoint_auth_method=auth_method,
        )

    metadata = f"{server.issuer}/.well-known/wallet-openid-configuration"
    return running_portal(
        metadata, client_id, secret or registered, changes=changes, register=register
    )


@pytest.fixture(scope="module")
def portal(server):
    """The portal as the example configures it."""
    with portal_of(server, CLIENT_ID) as running:
        yield running


@pytest.fixture(scope="module")
def site(portal) -> str:
    return portal.origin


def log_in(browser, site: str, national_id: str = PROFESSIONAL) -> None:
    """The portal's front page sends the browser to santeid (the only provider), whose login
    page takes the professional's identifier; the sandbox phone answers."""
    browser.get(f"{site}/")
    identify(browser, national_id)


def cookie(browser) -> str | None:
    """The portal's session cookie (LemonLDAP::NG's default name), the session's id."""
    found = browser.get_cookie("lemonldap")
    return found["value"] if found else None


def logged_in_session(browser, portal) -> dict:
    """After :func:`log_in`: back at the portal's menu, the SSO session of the browser's
    cookie."""
    wait_for(lambda: browser.find_element("id", "menucontent"), what="the portal's menu")
    assert browser.current_url.startswith(portal.origin)
    session_id = cookie(browser)
    assert session_id
    session = portal.session(session_id)
    assert session and session["_session_kind"] == "SSO", session
    return session


def test_the_login_opens_a_portal_session_with_psc_attributes(browser, server, portal):
    """The portal's authorization request is the documentation's (wallet ``/auth``, ``openid
    scope_all``, ``eidas1``, a nonce); after the callback the portal holds an SSO session whose
    attributes are userinfo's claims as the example exports them, and the ID token it checked
    (``iss``, ``aud``, ``exp``, ``nonce``, ``acr`` among the ACR values asked, the signature
    with the imported JWKS: its debug log says so)."""
    log_in(browser, portal.origin)
    session = logged_in_session(browser, portal)
    assert session["_oidc_OP"] == "psc-connect"
    assert session["uid"] == session["SubjectNameID"] == PROFESSIONAL
    assert session["family_name"] == "ARNAUD" and session["given_name"] == "CLEMENT"
    assert session["preferred_username"] == PROFESSIONAL
    assert session["SubjectRefPro"]["exercices"]
    assert session["SubjectOrganization"] and session["SubjectRole"]
    assert session["_oidc_access_token"] and session["_oidc_id_token"]

    log = portal.log
    sent = re.search(r"Authorization Code Flow Authn Request: (\S+)", log)
    assert sent, log[-3000:]
    request = urlsplit(sent.group(1))
    assert f"{request.scheme}://{request.netloc}{request.path}" == f"{server.base}/auth"
    query = parse_qs(request.query)
    assert query["scope"] == ["openid scope_all"] and query["acr_values"] == ["eidas1"]
    assert query["nonce"] and query["client_id"] == [CLIENT_ID]
    assert "JWT signature verified" in log
    assert "ID Token is valid" in log


def test_the_portals_logout_ends_the_sso_session_at_santeid(browser, server, portal):
    """The documentation's logout URL, ``?logout=1``: the portal ends its session and sends the
    browser to santeid's end-session endpoint with the ID token it kept as ``id_token_hint``,
    its ``client_id`` and ``?logout=1`` as ``post_logout_redirect_uri``; santeid ends the SSO
    session without a confirmation page and sends the browser back, where the portal says the
    professional is logged out. The next login at the portal asks for the professional
    again."""
    log_in(browser, portal.origin)
    session = logged_in_session(browser, portal)
    id_token = session["_oidc_id_token"]
    browser.get(f"{portal.origin}/?logout=1")
    wait_for(lambda: browser.find_element("css selector", "[trmsg='47']"), what="logged out")
    assert browser.current_url.startswith(portal.origin)
    assert portal.session(session["_session_id"]) is None and not cookie(browser)
    sent = re.search(r"OpenID Connect logout to psc-connect will be done on (\S+)", portal.log)
    assert sent, portal.log[-3000:]
    end_session = urlsplit(sent.group(1))
    assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == (
        f"{server.oidc}/logout"
    )
    assert parse_qs(end_session.query) == {
        "id_token_hint": [id_token],
        "post_logout_redirect_uri": [f"{portal.origin}/?logout=1"],
        "client_id": [CLIENT_ID],
    }

    browser.get(f"{portal.origin}/")
    wait_for(lambda: browser.find_element("id", "national_id"), what="santeid's login page")
    assert urlsplit(browser.current_url).netloc == urlsplit(server.base).netloc


def test_a_refusal_on_the_phone_is_the_portals_error(browser, server, portal):
    """The professional refuses on the sandbox phone and gives up on santeid's "refused" page:
    the portal's callback gets ``access_denied`` (with RFC 9207's ``iss``, which the portal
    ignores) and shows its own error, "Error during authentication with OpenID Provider"
    (``PE_OIDC_AUTH_ERROR``), logging santeid's error; no session is opened."""
    log_in(browser, portal.origin, DENYING)
    wait_for(lambda: browser.find_element("id", "failure-message"), what="the refused page")
    browser.find_element("id", "cancel").click()
    message = wait_for(
        lambda: browser.find_element("css selector", "[trmsg='106']"), what="the portal's error"
    )
    assert message.text == "Error during authentication with OpenID Provider"
    assert browser.current_url.startswith(f"{portal.origin}/?openidconnectcallback=1")
    assert "Error returned by psc-connect Provider: access_denied" in portal.log
    assert not cookie(browser)


def test_an_id_token_whose_signature_fails_is_refused(browser, server):
    """The portal checks the ID token's signature with the JWKS it imported: with santeid's
    key replaced by another under the same ``kid``, santeid's ID token is refused
    ("JWT signature verification failed") and the portal shows its error, no session
    opened."""
    keys = requests.get(f"{server.oidc}/certs", timeout=10).json()["keys"]
    other = RSAKey.generate_key(2048).as_dict(private=False)
    forged = {"keys": [{**key, "n": other["n"], "e": other["e"]} for key in keys]}
    changes = [("oidcOPMetaDataJWKS", "psc-connect", json.dumps(forged))]
    with portal_of(server, "lemonldap-foreign-keys", changes) as other_portal:
        log_in(browser, other_portal.origin)
        wait_for(lambda: browser.find_element("css selector", "[trmsg='106']"), what="the error")
        assert "JWT signature verification failed" in other_portal.log
        assert "JWT signature verified" not in other_portal.log
        assert not cookie(browser)


def test_without_the_stored_id_token_santeid_asks_to_confirm_the_logout(browser, server):
    """The documentation's page does not turn on "Store ID token": the portal's logout then
    sends ``client_id`` and ``post_logout_redirect_uri`` without ``id_token_hint``; the
    professional still logged in at santeid confirms the logout there, as at Keycloak
    (docs/reference/keycloak-behaviour.md, "Logout"), then comes back to the portal."""
    changes = [("oidcOPMetaDataOptions/psc-connect", "oidcOPMetaDataOptionsStoreIDToken", "0")]
    with portal_of(server, "lemonldap-no-id-token", changes) as other_portal:
        log_in(browser, other_portal.origin)
        assert "_oidc_id_token" not in logged_in_session(browser, other_portal)
        browser.get(f"{other_portal.origin}/?logout=1")
        confirm = wait_for(
            lambda: browser.find_element("id", "confirm-logout"), what="the confirmation"
        )
        sent = re.search(r"logout to psc-connect will be done on (\S+)", other_portal.log)
        assert sent, other_portal.log[-3000:]
        assert set(parse_qs(urlsplit(sent.group(1)).query)) == {
            "post_logout_redirect_uri",
            "client_id",
        }
        confirm.click()
        wait_for(lambda: browser.find_element("css selector", "[trmsg='47']"), what="logged out")
        browser.get(f"{other_portal.origin}/")
        wait_for(lambda: browser.find_element("id", "national_id"), what="santeid's login page")


def test_client_secret_basic(browser, server):
    """The page's other method at the token endpoint, ``client_secret_basic``, with a client
    registered for it: the login opens the session as with ``client_secret_post``."""
    method = "oidcOPMetaDataOptionsTokenEndpointAuthMethod"
    changes = [("oidcOPMetaDataOptions/psc-connect", method, "client_secret_basic")]
    with portal_of(
        server, "lemonldap-basic", changes, auth_method="client_secret_basic"
    ) as other_portal:
        log_in(browser, other_portal.origin)
        assert logged_in_session(browser, other_portal)["SubjectNameID"] == PROFESSIONAL
        assert "Using auth method client_secret_basic" in other_portal.log


def test_a_wrong_client_secret_is_the_portals_error(browser, server):
    """A portal whose secret is not the registered one: santeid's token endpoint answers
    Keycloak's 401 ``unauthorized_client`` (docs/psc-integration.md §5.1), which the portal
    logs as a bad token response, with the status line's reason phrase as Keycloak's server
    writes it, before showing its error."""
    with portal_of(server, "lemonldap-wrong-secret", secret="not-the-registered-secret") as other:
        log_in(browser, other.origin)
        wait_for(lambda: browser.find_element("css selector", "[trmsg='106']"), what="the error")
        assert "Bad token response: Unauthorized" in other.log
        assert not cookie(browser)


def test_the_acr_value_of_debian_s_copy_of_the_page_refuses_e_cps_logins(browser, server):
    """Debian's copy of the page (2.16) sets the ACR values to ``eidas2``: the portal then
    requires the ID token's ``acr`` among them, and an e-CPS login's is ``eidas1``, as PSC's
    (docs/reference/keycloak-behaviour.md, "Tokens"): the portal refuses it and shows its
    error. The example asks for ``eidas1``, as PSC's services do."""
    changes = [("oidcOPMetaDataOptions/psc-connect", "oidcOPMetaDataOptionsAcrValues", "eidas2")]
    with portal_of(server, "lemonldap-eidas2", changes) as other_portal:
        log_in(browser, other_portal.origin)
        wait_for(lambda: browser.find_element("css selector", "[trmsg='106']"), what="the error")
        assert "ACR eidas1 not listed in request ACR values (eidas2)" in other_portal.log
        assert not cookie(browser)

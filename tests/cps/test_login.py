"""Card login in-process (Flask's test client): the certificate arrives from a trusted proxy's
header or from the TLS socket; every refusal is a page with a way back to the login page."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization

from santeid import create_app
from santeid.cps.cards import CARD_AMR
from santeid.pki import certificate_pem
from santeid.settings import ConfigurationError
from santeid.storage import MemoryStore
from tests.support.cps import ACTIVE_ID
from tests.support.cps import INACTIVE_ID
from tests.support.cps import UNKNOWN_ID
from tests.support.oidc_flow import Flow
from tests.support.oidc_flow import decode
from tests.support.oidc_flow import register_client

HEADER = "X-SSL-Client-Cert"
REALM = "/auth/realms/esante-wallet"
UNTRUSTED = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def settings(settings):
    """The shared settings, behind a proxy on 127.0.0.1 (Flask's test client address)."""
    return settings.replace(tls_client_cert_header=HEADER, trusted_proxies="127.0.0.1, ::1")


def _header(card) -> dict:
    """What nginx sends with ``proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert``."""
    return {HEADER: quote(certificate_pem(card.certificate).decode(), safe="")}


class FakeTLSSocket:
    """Stands for the server's ``ssl.SSLSocket`` in the WSGI environ."""

    def __init__(self, der: bytes | None):
        self.der = der

    def getpeercert(self, binary_form: bool = False):
        assert binary_form
        return self.der


def _login_page(flow, **params) -> tuple[str, str]:
    """Start a login; return the transaction id and the card link of the login page."""
    response = flow.authorize(**params)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    page = flow.http.get(login_url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    match = re.search(r'href="([^"]*/login-actions/card\?tx=[^"]+)"', text)
    assert match, "the login page links to the card login"
    txid = parse_qs(urlsplit(login_url).query)["tx"][0]
    card_url = html.unescape(match.group(1))
    assert card_url == f"{REALM}/login-actions/card?tx={txid}"
    return txid, card_url


def _finish(flow, response) -> dict:
    """From the card route's redirect to the token response."""
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/login-actions/complete?tx=" in response.headers["Location"]
    code = flow.code_from(flow.http.get(response.headers["Location"]))["code"]
    token = flow.token(code)
    assert token.status_code == 200, token.get_json()
    return token.get_json()


def test_card_login_through_a_trusted_proxy(app, flow, make_card):
    _, card_url = _login_page(flow)
    response = flow.http.get(card_url, headers=_header(make_card(ACTIVE_ID)))
    tokens = _finish(flow, response)
    _, access = decode(app, tokens["access_token"])
    assert access["authMode"] == "CARD"
    assert access["acr"] == "eidas3"
    assert access["preferred_username"] == ACTIVE_ID
    _, id_token = decode(app, tokens["id_token"])
    assert id_token["amr"] == CARD_AMR == ["sc", "pin", "hwk", "mfa"]
    assert id_token["authMode"] == "CARD"
    assert id_token["SubjectNameID"] == ACTIVE_ID


@pytest.mark.parametrize("socket_key", ["werkzeug.socket", "gunicorn.socket"])
def test_card_login_with_the_certificate_of_the_tls_connection(app, flow, make_card, socket_key):
    card = make_card(ACTIVE_ID)
    der = card.certificate.public_bytes(serialization.Encoding.DER)
    _, card_url = _login_page(flow)
    environ = {socket_key: FakeTLSSocket(der), **UNTRUSTED}
    tokens = _finish(flow, flow.http.get(card_url, environ_base=environ))
    assert decode(app, tokens["access_token"])[1]["authMode"] == "CARD"


def test_card_acr_follows_the_setting(settings, make_card):
    app = create_app(settings.replace(card_acr="eidas2"), store=MemoryStore())
    flow = Flow(app, app.test_client(), register_client(app))
    _, card_url = _login_page(flow)
    tokens = _finish(flow, flow.http.get(card_url, headers=_header(make_card())))
    assert decode(app, tokens["access_token"])[1]["acr"] == "eidas2"


def test_header_from_an_untrusted_address_is_ignored_and_logged(flow, make_card, caplog):
    txid, card_url = _login_page(flow)
    with caplog.at_level(logging.WARNING, logger="santeid.tls"):
        response = flow.http.get(card_url, headers=_header(make_card()), environ_base=UNTRUSTED)
    assert response.status_code == 400
    assert 'data-code="no_certificate"' in response.get_data(as_text=True)
    assert any(
        HEADER in r.getMessage()
        and "203.0.113.7" in r.getMessage()
        and "trusted_proxies" in r.getMessage()
        for r in caplog.records
    )


def test_a_trusted_proxy_header_wins_over_the_connection(flow, make_card):
    """From the proxy, a missing header means "no card", even if the proxy's own connection
    carries a certificate."""
    der = make_card().certificate.public_bytes(serialization.Encoding.DER)
    _, card_url = _login_page(flow)
    response = flow.http.get(card_url, environ_base={"werkzeug.socket": FakeTLSSocket(der)})
    assert response.status_code == 400
    assert 'data-code="no_certificate"' in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["", "-", "(null)", "not%20a%20certificate", "QUJD"])
def test_empty_or_unreadable_header_means_no_card(flow, value):
    _, card_url = _login_page(flow)
    response = flow.http.get(card_url, headers={HEADER: value})
    assert response.status_code == 400
    assert 'data-code="no_certificate"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("national_id", "options", "code", "status", "french"),
    [
        (ACTIVE_ID, {"expired": True}, "expired", 403, "a expiré le"),
        (ACTIVE_ID, {"not_yet_valid": True}, "not_yet_valid", 403, "valide qu'à partir"),
        (UNKNOWN_ID, {}, "unknown_professional", 403, "ne figure pas dans l'annuaire"),
        (INACTIVE_ID, {}, "inactive_professional", 403, "n'est plus actif"),
    ],
)
def test_refused_cards_get_a_french_page_with_a_way_back(
    flow, make_card, national_id, options, code, status, french
):
    txid, card_url = _login_page(flow)
    response = flow.http.get(card_url, headers=_header(make_card(national_id, **options)))
    assert response.status_code == status
    text = html.unescape(response.get_data(as_text=True))
    assert "Connexion par carte CPS impossible" in text
    assert french in text
    assert f'data-code="{code}"' in text
    back = re.search(r'<a href="([^"]+)" id="back-to-login">Revenir à la page de connexion', text)
    assert back and back.group(1) == f"{REALM}/login-actions/authenticate?tx={txid}"
    # The login can go on: the login page is still there, and a valid card still works.
    assert flow.http.get(back.group(1)).status_code == 200
    _finish(flow, flow.http.get(card_url, headers=_header(make_card(ACTIVE_ID))))


def test_revoked_card_page_in_english(flow, make_card, registry):
    card = make_card()
    registry.revoke(format(card.certificate.serial_number, "X"))
    _, card_url = _login_page(flow, ui_locales="en")
    response = flow.http.get(card_url, headers=_header(card))
    assert response.status_code == 403
    text = html.unescape(response.get_data(as_text=True))
    assert '<html lang="en">' in text
    assert "CPS card login failed" in text
    assert "has been revoked" in text
    assert "Back to the login page" in text
    assert "Go back to the service" not in text


def _failed_logins(client_id: str, reason: str) -> float:
    from santeid.observability.metrics import OWN_METRICS

    labels = {"client": client_id, "auth_mode": "CARD", "reason": reason}
    return OWN_METRICS.get_sample_value("santeid_logins_failed_total", labels) or 0


def test_a_refused_card_is_a_login_error_and_a_failed_login(app, flow, make_card, registry):
    """docs/operations.md: ``LOGIN_ERROR`` is a browser login refused, whatever the proof."""
    from santeid.observability.events import LOGIN_ERROR

    card = make_card()
    registry.revoke(format(card.certificate.serial_number, "X"))
    client_id = flow.client["client_id"]
    before = _failed_logins(client_id, "revoked")
    _, card_url = _login_page(flow)
    assert flow.http.get(card_url, headers=_header(card)).status_code == 403
    (event,) = app.extensions["santeid"].events.list(types=(LOGIN_ERROR,))
    assert (event.reason, event.auth_mode) == ("revoked", "CARD")
    assert (event.client_id, event.professional) == (client_id, ACTIVE_ID)
    assert _failed_logins(client_id, "revoked") == before + 1


def test_card_refusals_use_the_login_reasons_of_the_directory_and_their_own(app, flow, make_card):
    """Someone absent from the directory or inactive: the reasons of a typed identifier; an
    expired card is not an e-CPS request left unanswered (no e-CPS timeout counted)."""
    from santeid.observability.events import LOGIN_ERROR
    from santeid.observability.metrics import OWN_METRICS

    timeouts = {"kind": "browser", "outcome": "timeout"}
    timeouts_before = OWN_METRICS.get_sample_value("santeid_ecps_decisions_total", timeouts) or 0
    for national_id, options in (
        (UNKNOWN_ID, {}),
        (INACTIVE_ID, {}),
        (ACTIVE_ID, {"expired": True}),
    ):
        _, card_url = _login_page(flow)
        flow.http.get(card_url, headers=_header(make_card(national_id, **options)))
    found = app.extensions["santeid"].events.list(types=(LOGIN_ERROR,))
    assert [(e.reason, e.professional) for e in found][::-1] == [
        ("unknown_id", UNKNOWN_ID), ("inactive", INACTIVE_ID), ("expired", ACTIVE_ID)
    ]  # fmt: skip
    assert (OWN_METRICS.get_sample_value("santeid_ecps_decisions_total", timeouts) or 0) == (
        timeouts_before
    )


def test_the_transaction_belongs_to_the_browser(app, flow, make_card):
    _, card_url = _login_page(flow)
    stranger = app.test_client()
    response = stranger.get(card_url, headers=_header(make_card()))
    assert response.status_code == 403
    assert "autre navigateur" in response.get_data(as_text=True)


def test_a_card_login_whose_service_was_removed_ends_on_an_error_page(app, flow, make_card):
    """The service removed while its login page was open: the card link ends the login on the
    error page of a login no longer there (400), its card not read, nothing sent to the
    service (docs/reference/keycloak-behaviour.md, "Login pages")."""
    txid, card_url = _login_page(flow)
    svc = app.extensions["santeid"]
    svc.clients.remove(flow.client["client_id"])
    response = flow.http.get(card_url, headers=_header(make_card(ACTIVE_ID)))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Demande de connexion expirée" in response.get_data(as_text=True)
    assert svc.transactions.get(txid) is None


def test_unknown_transaction(client, make_card):
    response = client.get(f"{REALM}/login-actions/card?tx=nope", headers=_header(make_card()))
    assert response.status_code == 400


def test_card_replaces_a_pending_proof_and_a_second_click_just_continues(app, flow, make_card):
    """Typed an identifier (the sandbox authenticator waits), then used a card instead:
    the card decides who logs in."""
    txid, card_url = _login_page(flow)
    login_url = f"{REALM}/login-actions/authenticate?tx={txid}"
    page = flow.http.get(login_url).get_data(as_text=True)
    posted = flow.http.post(
        login_url, data={"national_id": "810000000001", "csrf_token": flow.csrf(page)}
    )
    assert posted.status_code == 303
    first = flow.http.get(card_url, headers=_header(make_card(ACTIVE_ID)))
    assert first.status_code == 302
    again = flow.http.get(card_url, headers=_header(make_card(ACTIVE_ID)))
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    tokens = _finish(flow, again)
    claims = decode(app, tokens["id_token"])[1]
    assert claims["SubjectNameID"] == ACTIVE_ID
    assert claims["authMode"] == "CARD"


def test_malformed_trusted_proxies_stop_the_app(settings):
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        create_app(settings.replace(trusted_proxies="10.0.0.0/8, proxy.local"), store=MemoryStore())


def test_unreadable_cps_ca_file_stops_the_app(settings, tmp_path):
    with pytest.raises(ConfigurationError, match="cps_ca_file"):
        create_app(settings.replace(cps_ca_file=str(tmp_path / "none.pem")), store=MemoryStore())

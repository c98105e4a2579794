"""The advice under an error page (``error.html``): only a page a service sent the browser to —
the authorization endpoint, the logout, a login's pages — tells the person to go back to that
service; a page of santeid's own (the e-CPS pages) or one opened directly gives none, its
detail and its link (when it has one) saying what to do (``santeid.errors.WayBack``)."""

from __future__ import annotations

import pytest

from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import back_link
from tests.support.oidc_flow import error_advice
from tests.support.oidc_flow import error_detail
from tests.support.web_ecps import codes_from_outbox
from tests.support.web_ecps import enrol
from tests.support.web_ecps import post_codes
from tests.support.web_ecps import request_codes

BACK_TO_SERVICE = {
    "fr": "Revenez sur le service qui vous a envoyé ici et recommencez.",
    "en": "Go back to the service that sent you here and try again.",
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_authorization_error_page_sends_back_to_the_service(client, lang):
    page = client.get(f"{OIDC}/auth?client_id=nosuch&response_type=code&ui_locales={lang}")
    assert page.status_code == 400
    assert error_advice(page) == BACK_TO_SERVICE[lang]


def test_a_logout_error_page_sends_back_to_the_service(client):
    page = client.get(f"{OIDC}/logout?post_logout_redirect_uri=https://elsewhere.example")
    assert page.status_code == 400
    assert error_advice(page) == BACK_TO_SERVICE["fr"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_login_page_of_another_browser_sends_back_to_the_service(app, flow, lang):
    login_url = flow.authorize(ui_locales=lang).headers["Location"]
    page = app.test_client().get(login_url)
    assert page.status_code == 403
    assert error_advice(page) == BACK_TO_SERVICE[lang]


def test_a_bug_on_a_login_page_sends_back_to_the_service_without_a_link(app, flow):
    """The 500 page of a login names no client (as Keycloak's ``KeycloakErrorHandler``), but
    the person still came from a service."""
    login_url = flow.authorize().headers["Location"]

    def fail():
        raise RuntimeError("forced failure in the login page")

    app.view_functions["login.authenticate"] = fail
    page = flow.http.get(login_url, headers={"Accept": "text/html"})
    assert page.status_code == 500
    assert back_link(page) is None
    assert error_advice(page) == BACK_TO_SERVICE["fr"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_page_opened_directly_does_not_send_back_to_a_service(client, lang):
    page = client.get(f"/nosuch?ui_locales={lang}", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert error_detail(page) == {"fr": "Page introuvable.", "en": "Page not found."}[lang]
    assert error_advice(page) is None


def test_the_devices_pages_refusal_leads_back_to_the_list_not_to_a_service(app, flow, client):
    flow.full_login("810000000001")
    foreign = enrol(app, "810000000002")
    page = client.get(f"/ecps/devices/{foreign}/revoke")
    assert page.status_code == 403
    assert back_link(page) == "/ecps/devices"
    assert error_advice(page) is None


def test_the_devices_pages_login_check_does_not_send_back_to_a_service(client):
    client.get("/ecps/devices")  # a login starts, with its state
    page = client.get("/ecps/devices?code=abc&state=forged")
    assert page.status_code == 400
    assert error_advice(page) is None


def test_an_activation_in_another_browser_does_not_send_back_to_a_service(app, client):
    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    page = post_codes(app.test_client(), flow, email_code, sms_code)
    assert page.status_code == 403
    assert error_advice(page) is None

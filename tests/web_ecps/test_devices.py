"""``/ecps/devices``: the logged-in professional's e-CPS devices, through santeid's own
authorization endpoint (client ``santeid-account``), and revocation of one's own only."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from santeid import create_app
from santeid.storage import MemoryStore
from santeid.web_ecps.devices import ACCOUNT_CLIENT_ID
from tests.support.oidc_flow import OIDC
from tests.support.oidc_flow import Flow
from tests.support.web_ecps import csrf
from tests.support.web_ecps import enrol
from tests.support.web_ecps import session_csrf

#: Sandbox professionals (auto-approved logins).
ALICE = "810000000001"
BOB = "810000000002"


def _logged_in(flow: Flow, national_id: str = ALICE) -> None:
    """The browser logs in to the test service: an SSO session now exists. Called before
    enrolling the professional's devices: with an active e-CPS, the sandbox login would
    give way to the e-CPS authenticator and wait for the phone."""
    flow.full_login(national_id)


def _revoke(http, device_id: str, token: str | None = None, query: str = ""):
    if token is None:
        token = session_csrf(http)
    return http.post(f"/ecps/devices/{device_id}/revoke{query}", data={"csrf_token": token})


def _status(app, device_id: str) -> str:
    return app.extensions["santeid"].ecps.devices.get(device_id).status


def test_the_account_client_is_registered_at_start_up(app, settings):
    clients = app.extensions["santeid"].clients
    client = clients.get(ACCOUNT_CLIENT_ID)
    assert client.redirect_uris == ["http://localhost/ecps/devices"]
    assert client.check_grant_type("authorization_code")
    assert not client.check_grant_type("refresh_token")
    # A restart keeps the registration as it is.
    create_app(settings, store=MemoryStore())
    assert clients.get(ACCOUNT_CLIENT_ID).secret_digest == client.secret_digest
    # A server of another issuer on the same data folder registers its absolute URI beside
    # the path (for hosts of the previous release); both read the path as their own page.
    moved = settings.replace(issuer="https://psc.example.org/auth/realms/x")
    other = create_app(moved, store=MemoryStore()).extensions["santeid"].clients
    assert other.get(ACCOUNT_CLIENT_ID).redirect_uris == ["https://psc.example.org/ecps/devices"]
    assert "http://localhost/ecps/devices" in clients.get(ACCOUNT_CLIENT_ID).redirect_uris


def test_devices_page_requires_login_through_the_authorization_endpoint(client):
    response = client.get("/ecps/devices")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"http://localhost{OIDC}/auth"
    )
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == ACCOUNT_CLIENT_ID
    assert query["redirect_uri"] == "http://localhost/ecps/devices"
    assert query["response_type"] == "code" and query["scope"] == "openid"
    assert len(query["state"]) >= 32


def test_login_round_trip_comes_back_to_the_devices_page(app, client):
    flow = Flow(app, client, {"client_id": ACCOUNT_CLIENT_ID})
    start = client.get("/ecps/devices?ui_locales=en")
    assert "ui_locales=en" in start.headers["Location"]
    authorize = client.get(start.headers["Location"])
    assert "/login-actions/" in authorize.headers["Location"]
    login_page = client.get(authorize.headers["Location"]).get_data(as_text=True)
    assert "Mes e-CPS (santeid)" in html.unescape(login_page)
    back = flow.login(authorize, ALICE)
    assert back.status_code == 302
    redirect_to = urlsplit(back.headers["Location"])
    assert redirect_to.path == "/ecps/devices"
    assert "code=" in redirect_to.query and "state=" in redirect_to.query
    landed = client.get(f"/ecps/devices?{redirect_to.query}")
    assert landed.status_code == 303  # code and state leave the address bar
    assert landed.headers["Location"] == "/ecps/devices?ui_locales=en"
    page = client.get(landed.headers["Location"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "My e-CPS" in text and ALICE in text
    assert "No e-CPS is activated for your account." in text
    # The state serves once.
    assert client.get(f"/ecps/devices?{redirect_to.query}").status_code == 400


def test_a_wrong_state_is_refused(client):
    client.get("/ecps/devices")  # a login starts, with its state
    response = client.get("/ecps/devices?code=abc&state=forged")
    assert response.status_code == 400
    assert "La connexion n'a pas pu être vérifiée" in html.unescape(response.get_data(as_text=True))


def test_a_cancelled_login_shows_a_link_instead_of_looping(client):
    start = client.get("/ecps/devices")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    response = client.get(f"/ecps/devices?error=access_denied&state={state}")
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 401
    assert 'role="alert"' in text and "la connexion a été annulée" in text
    assert 'href="/ecps/devices"' in text


def test_lists_only_the_professionals_own_devices(app, flow, client):
    _logged_in(flow, ALICE)
    first = enrol(app, ALICE, name="Pixel d'Alice")
    second = enrol(app, ALICE, name="iPhone <pro>")
    foreign = enrol(app, BOB, name="Téléphone de Bob")
    app.extensions["santeid"].ecps.revoke_device(second)
    response = client.get("/ecps/devices")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="device-{first}"' in text and f'id="device-{second}"' in text
    assert foreign not in text and "Téléphone de Bob" not in text
    assert "iPhone &lt;pro&gt;" in text  # names are escaped
    assert "<caption>" in text and '<th scope="col">' in text
    # A revoked device has no revoke button any more.
    assert f"/ecps/devices/{first}/revoke" in text
    assert f"/ecps/devices/{second}/revoke" not in text
    assert re.search(rf'id="device-{second}" data-status="revoked"', text)


def test_revokes_an_own_device(app, flow, client):
    _logged_in(flow, ALICE)
    device = enrol(app, ALICE, name="Pixel d'Alice")
    response = _revoke(client, device)
    assert response.status_code == 303
    assert response.headers["Location"] == "/ecps/devices"
    assert _status(app, device) == "revoked"
    page = html.unescape(client.get("/ecps/devices").get_data(as_text=True))
    assert "La e-CPS de « Pixel d'Alice » est révoquée." in page
    assert 'role="status"' in page
    # Twice: said so, nothing else changes.
    client.post(f"/ecps/devices/{device}/revoke", data={"csrf_token": session_csrf(client)})
    page = html.unescape(client.get("/ecps/devices").get_data(as_text=True))
    assert "était déjà révoquée" in page


def test_cannot_revoke_another_professionals_device(app, flow, client):
    _logged_in(flow, ALICE)
    foreign = enrol(app, BOB)
    response = _revoke(client, foreign)
    assert response.status_code == 403
    assert "n'est pas la vôtre" in html.unescape(response.get_data(as_text=True))
    assert _status(app, foreign) == "active"


def test_unknown_device_is_404(flow, client):
    _logged_in(flow, ALICE)
    assert _revoke(client, "00000000-0000-4000-8000-000000000000").status_code == 404


def test_revoking_needs_the_csrf_token(app, flow, client):
    _logged_in(flow, ALICE)
    device = enrol(app, ALICE)
    client.get("/ecps/devices")
    response = client.post(f"/ecps/devices/{device}/revoke", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert client.post(f"/ecps/devices/{device}/revoke").status_code == 400
    assert _status(app, device) == "active"


def test_revoking_without_a_session_goes_to_the_login(app, client):
    device = enrol(app, ALICE)
    token = csrf(client.get("/ecps/activation").get_data(as_text=True))
    response = client.post(f"/ecps/devices/{device}/revoke", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/ecps/devices"
    assert _status(app, device) == "active"


def test_devices_page_in_english(app, flow, client):
    _logged_in(flow, ALICE)
    enrol(app, ALICE, name="Pixel")
    text = client.get("/ecps/devices?ui_locales=en").get_data(as_text=True)
    assert '<html lang="en">' in text
    assert "Revoke" in text and "never" in text and "active" in text


def test_revoking_asks_for_confirmation_first(app, flow, client):
    _logged_in(flow, ALICE)
    device = enrol(app, ALICE, name="Pixel d'Alice")
    listing = client.get("/ecps/devices").get_data(as_text=True)
    # The list links to a confirmation page; nothing is revoked by following it.
    assert f'href="/ecps/devices/{device}/revoke"' in listing
    confirm = client.get(f"/ecps/devices/{device}/revoke")
    text = html.unescape(confirm.get_data(as_text=True))
    assert confirm.status_code == 200
    assert "Révoquer la e-CPS de « Pixel d'Alice » ?" in text
    assert 'id="confirm-revoke"' in text and 'href="/ecps/devices"' in text
    assert _status(app, device) == "active"
    response = client.post(f"/ecps/devices/{device}/revoke", data={"csrf_token": csrf(text)})
    assert response.status_code == 303
    assert _status(app, device) == "revoked"
    # Once revoked, the confirmation page sends back to the list.
    assert client.get(f"/ecps/devices/{device}/revoke").status_code == 303


def test_confirmation_page_is_only_for_own_devices(app, flow, client):
    _logged_in(flow, ALICE)
    foreign = enrol(app, BOB, name="Téléphone de Bob")
    response = client.get(f"/ecps/devices/{foreign}/revoke")
    assert response.status_code == 403
    unknown = "00000000-0000-4000-8000-000000000000"
    refused = client.get(f"/ecps/devices/{unknown}/revoke")
    assert refused.status_code == 404
    # Each refusal leads back to the professional's devices, where they came from.
    for page in (response, refused):
        assert '<a id="backToApplication" href="/ecps/devices">' in page.get_data(as_text=True)

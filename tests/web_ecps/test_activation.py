"""Self-service e-CPS activation with two codes (docs/reference/pro-sante-connect.md §13: "deux
codes de validation …
envoyés respectivement au téléphone et à l'adresse e-mail enregistrés dans l'annuaire")."""

from __future__ import annotations

import html
import logging
import re
import threading

import pytest

from santeid import create_app
from santeid.ecps.code_pairs import MAX_ATTEMPTS
from santeid.ecps.code_pairs import CodePairs
from santeid.storage import MemoryStore
from santeid.web_ecps.activation import mask_email
from santeid.web_ecps.activation import mask_phone
from santeid.web_ecps.activation import qr_images
from tests.support.web_ecps import EMAIL
from tests.support.web_ecps import PHONE
from tests.support.web_ecps import PROFESSIONAL
from tests.support.web_ecps import SmsReceiver
from tests.support.web_ecps import codes_from_outbox
from tests.support.web_ecps import csrf
from tests.support.web_ecps import enrol_over_protocol
from tests.support.web_ecps import outbox
from tests.support.web_ecps import post_codes
from tests.support.web_ecps import request_codes
from tests.support.web_ecps import set_contact_details

URI_RE = re.compile(r'<code id="activation-uri">([^<]+)</code>')


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_whole_activation_flow_ends_with_a_qr_code_that_enrols_a_device(any_store_app):
    """Identifier → one code by e-mail and one by SMS → both codes → activation code, URI
    and QR code (PNG and SVG) → the phone redeems the URI's code."""
    http = any_store_app.test_client()
    flow = request_codes(http)

    messages = outbox(http)
    assert [(m["channel"], m["to"]) for m in messages] == [("sms", PHONE), ("email", EMAIL)]
    email_code, sms_code = codes_from_outbox(http)
    assert messages[1]["subject"] == "Votre code de validation pour activer votre e-CPS"

    codes_page = http.get(f"/ecps/activation/verify?flow={flow}")
    text = codes_page.get_data(as_text=True)
    assert codes_page.status_code == 200
    assert "a***@example.org" in text and "06 •• •• •• 04" in text
    assert EMAIL not in text and PHONE not in text
    assert '<label for="email_code">' in text and '<label for="sms_code">' in text

    response = post_codes(http, flow, email_code, sms_code)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert '<img src="data:image/png;base64,' in page
    assert "<svg" in page and 'role="img"' in page
    uri = html.unescape(URI_RE.search(page).group(1))
    # The QR code's link opens the e-CPS app; the code is in the fragment only.
    assert uri.startswith("http://localhost/ecps/app/#activation=")
    # The QR code drawn is that link's (same modules as a fresh drawing of it).
    with any_store_app.app_context():
        _, _, svg = qr_images(uri, "x")
    path = re.search(r' d="([^"]+)"', str(svg)).group(1)
    assert path in page
    assert f'<a class="button" href="{html.escape(uri)}" id="open-app">' in page
    assert "santeid device enroll --activation-uri" in page
    assert 'aria-live="polite"' in page and 'data-remaining="' in page
    # Without JavaScript one validity sentence shows: the ticking counter starts hidden.
    assert '<p id="activation-countdown" hidden data-remaining="' in page
    assert page.count("Ce QR code est valable ") == 1
    assert '<script src="/static/ecps-activation.js">' in page
    assert "<script>" not in page  # CSP script-src 'self': no inline script
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"

    device = enrol_over_protocol(http, uri)
    assert device["national_id"] == PROFESSIONAL
    assert device["status"] == "active"


def _activation_code(page: str) -> str:
    return re.search(r'<code id="activation-code">([^<]+)</code>', page).group(1)


def test_reloading_the_qr_page_shows_the_same_qr_code_in_that_browser_only(app, client):
    """Post/Redirect/Get: the codes' answer is a redirect to the QR page, which a reload (a
    GET) shows again — the same activation code — for as long as that code is valid, in the
    browser that typed the codes only, the codes being used once."""
    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    answer = post_codes(client, flow, email_code, sms_code, follow=False)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    qr_url = answer.headers["Location"]
    assert flow not in qr_url
    first = client.get(qr_url)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    code = _activation_code(first.get_data(as_text=True))
    assert code not in qr_url
    reloaded = client.get(qr_url)
    assert reloaded.status_code == 200
    assert _activation_code(reloaded.get_data(as_text=True)) == code
    # Another browser at that address gets no QR code.
    elsewhere = app.test_client().get(qr_url).get_data(as_text=True)
    assert code not in elsewhere and 'id="activation-code"' not in elsewhere
    # Once the phone has used the code, a reload says so instead of showing a dead QR code.
    enrol_over_protocol(client, html.unescape(URI_RE.search(first.get_data(as_text=True))[1]))
    used = client.get(qr_url)
    assert used.status_code == 400
    assert code not in used.get_data(as_text=True)
    assert "Ce QR code a expiré" in html.unescape(used.get_data(as_text=True))


def test_the_qr_page_ends_with_its_activation_code(clocked_app, clock):
    http = clocked_app.test_client()
    flow = request_codes(http)
    answer = post_codes(http, flow, *codes_from_outbox(http), follow=False)
    qr_url = answer.headers["Location"]
    assert http.get(qr_url).status_code == 200
    clock.advance(clocked_app.extensions["santeid"].settings.ecps.activation_code_lifetime)
    expired = http.get(qr_url)
    assert expired.status_code == 400
    assert 'id="activation-code"' not in expired.get_data(as_text=True)
    assert "Ce QR code a expiré" in html.unescape(expired.get_data(as_text=True))


def test_qr_countdown_script_is_served(client):
    with client.get("/static/ecps-activation.js") as response:
        assert response.status_code == 200
        script = response.get_data(as_text=True)
    assert "activation-countdown" in script
    # With it, the counter is shown and the validity sentence left to screen readers.
    assert "box.hidden = false" in script and 'classList.add("visually-hidden")' in script
    with client.get("/static/santeid.css") as response:
        assert ".visually-hidden {" in response.get_data(as_text=True)


def test_pages_and_messages_in_english_with_ui_locales(client):
    page = client.get("/ecps/activation?ui_locales=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Activate my e-CPS" in page
    response = client.post(
        "/ecps/activation?ui_locales=en",
        data={"national_id": PROFESSIONAL, "csrf_token": csrf(page), "ui_locales": "en"},
    )
    assert response.status_code == 303
    assert "ui_locales=en" in response.headers["Location"]
    codes_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Code received by SMS" in codes_page
    mail = outbox(client, to=EMAIL)[0]
    assert mail["subject"] == "Your validation code to activate your e-CPS"
    assert outbox(client, to=PHONE)[0]["body"].startswith("santeid e-CPS: validation code")


def test_french_is_the_default_language(client):
    page = client.get("/ecps/activation").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Activer ma e-CPS" in page
    assert '<label for="national_id">' in page and "autofocus" in page


def test_the_identifier_field_takes_letters_and_slashes_on_a_phone(client):
    """As the login page's: no numeric keypad for identifiers that hold letters or ``/``."""
    import re

    page = client.get("/ecps/activation").get_data(as_text=True)
    field = re.search(r'<input id="national_id"[^>]*>', page, re.S)
    assert field is not None and "inputmode" not in field.group(0)


def test_wrong_codes_count_down_then_five_wrong_attempts_cancel_the_pair(client):
    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    for attempt in range(1, MAX_ATTEMPTS):
        # One right code is not enough: both are needed.
        response = post_codes(client, flow, email_code, _wrong(sms_code))
        text = response.get_data(as_text=True)
        assert response.status_code == 400
        assert f"Essais restants : {MAX_ATTEMPTS - attempt}" in text
        assert 'role="alert"' in text and 'aria-invalid="true"' in text
    locked = post_codes(client, flow, _wrong(email_code), sms_code)
    assert locked.status_code == 400
    assert "Trop de codes incorrects" in locked.get_data(as_text=True)
    # The pair is gone: even the right codes no longer work.
    late = post_codes(client, flow, email_code, sms_code)
    assert late.status_code == 400
    assert "ont expiré ou ont déjà servi" in late.get_data(as_text=True)


def test_malformed_codes_cost_no_attempt(client):
    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    for _ in range(MAX_ATTEMPTS + 2):
        response = post_codes(client, flow, "12a456", "")
        assert response.status_code == 400
        assert "Saisissez les 6 chiffres du code." in response.get_data(as_text=True)
    spaced = f"{email_code[:3]} {email_code[3:]}"  # as printed in some mail clients
    assert post_codes(client, flow, spaced, sms_code).status_code == 200


def test_codes_are_single_use(client):
    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    assert post_codes(client, flow, email_code, sms_code).status_code == 200
    again = post_codes(client, flow, email_code, sms_code)
    assert again.status_code == 400
    assert "ont expiré ou ont déjà servi" in again.get_data(as_text=True)


def test_codes_expire_after_ten_minutes(clocked_app, clock):
    http = clocked_app.test_client()
    flow = request_codes(http)
    email_code, sms_code = codes_from_outbox(http)
    clock.advance(601)
    response = post_codes(http, flow, email_code, sms_code)
    assert response.status_code == 400
    assert "ont expiré ou ont déjà servi" in response.get_data(as_text=True)
    assert http.get(f"/ecps/activation/verify?flow={flow}").status_code == 400


def test_a_new_request_cancels_the_previous_codes(client):
    first = request_codes(client)
    old_codes = codes_from_outbox(client)
    second = request_codes(client)
    new_codes = codes_from_outbox(client)
    assert post_codes(client, first, *old_codes).status_code == 400
    assert post_codes(client, second, *new_codes).status_code == 200


def _ask_codes_from(client, address: str, query: str = ""):
    """Type the identifier on the activation page from the client address ``address``."""
    page = client.get("/ecps/activation" + query).get_data(as_text=True)
    return client.post(
        "/ecps/activation" + query,
        data={"national_id": PROFESSIONAL, "csrf_token": csrf(page)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_code_requests_are_throttled_and_the_page_names_the_limit_reached(client):
    """3 sends per requesting address, 5 per professional (docs/security.md): each refusal
    says which — the professional refused for the address was never sent the codes."""
    for _ in range(3):
        assert _ask_codes_from(client, "127.0.0.1").status_code == 303
    by_address = _ask_codes_from(client, "127.0.0.1")
    assert by_address.status_code == 429
    # The window's wait (ecps_activation_window, 600 s by default), said and sent.
    assert 590 < int(by_address.headers["Retry-After"]) <= 600
    text = html.unescape(by_address.get_data(as_text=True))
    assert "Trop de demandes de codes depuis cette adresse. Réessayez dans 10 min." in text
    assert "pour cet identifiant" not in text
    english = _ask_codes_from(client, "127.0.0.1", "?ui_locales=en").get_data(as_text=True)
    assert "Too many code requests from this address" in html.unescape(english)
    assert len(outbox(client, to=PHONE)) == 3
    # Refused for the address, the requests spent none of the professional's 5 sends.
    for address in ("127.0.0.2", "127.0.0.2"):
        assert _ask_codes_from(client, address).status_code == 303
    by_professional = _ask_codes_from(client, "127.0.0.3")
    assert by_professional.status_code == 429
    text = html.unescape(by_professional.get_data(as_text=True))
    assert "Trop de demandes de codes pour cet identifiant" in text
    assert len(outbox(client, to=PHONE)) == 5


def test_a_refused_send_says_the_wait_of_the_configured_window(settings):
    # The text said "10 minutes" whatever ecps_activation_window was.
    client = create_app(
        settings.replace(ecps_activation_window=3600), store=MemoryStore()
    ).test_client()
    for _ in range(3):
        assert _ask_codes_from(client, "127.0.0.1").status_code == 303
    refused = _ask_codes_from(client, "127.0.0.1", "?ui_locales=en")
    assert refused.status_code == 429
    assert 3590 < int(refused.headers["Retry-After"]) <= 3600
    text = html.unescape(refused.get_data(as_text=True))
    assert "Too many code requests from this address. Please try again in 60 min." in text


def test_the_flow_is_bound_to_the_browser(app, client):
    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    other = app.test_client()
    assert other.get(f"/ecps/activation/verify?flow={flow}").status_code == 403
    stolen = post_codes(other, flow, email_code, sms_code)
    assert stolen.status_code == 403
    assert "un autre navigateur" in stolen.get_data(as_text=True)
    # The stranger's tries consumed nothing: the owner still activates.
    assert post_codes(client, flow, email_code, sms_code).status_code == 200


@pytest.mark.parametrize(
    ("typed", "status", "message"),
    [
        ("12AB", 400, "identifiant"),
        ("810000009999", 400, "Aucun professionnel ne porte l'identifiant 810000009999"),
        ("810000000024", 400, "n'est plus actif dans l'annuaire : activation impossible"),
    ],
)
def test_identifier_errors_are_explained(client, typed, status, message):
    page = client.get("/ecps/activation").get_data(as_text=True)
    response = client.post(
        "/ecps/activation", data={"national_id": typed, "csrf_token": csrf(page)}
    )
    text = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in html.unescape(text)
    assert 'role="alert"' in text and 'aria-invalid="true"' in text
    assert outbox(client) == []


@pytest.mark.parametrize(
    ("email", "phone", "message"),
    [
        ("", PHONE, "Aucune adresse e-mail de correspondance"),
        (EMAIL, " ", "Aucun téléphone mobile de correspondance"),
        ("", "", "Aucune adresse e-mail ni aucun téléphone mobile"),
    ],
)
def test_professional_without_contact_data_gets_a_clear_message(app, client, email, phone, message):
    set_contact_details(app, email, phone)
    page = client.get("/ecps/activation").get_data(as_text=True)
    response = client.post(
        "/ecps/activation", data={"national_id": PROFESSIONAL, "csrf_token": csrf(page)}
    )
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert message in text and "carte CPS" in text
    assert outbox(client) == []


def test_csrf_token_is_required(client):
    client.get("/ecps/activation")
    response = client.post("/ecps/activation", data={"national_id": PROFESSIONAL})
    assert response.status_code == 400
    assert "Le formulaire a expiré" in response.get_data(as_text=True)
    assert outbox(client) == []

    flow = request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    forged = client.post(
        "/ecps/activation/verify",
        data={"flow": flow, "email_code": email_code, "sms_code": sms_code, "csrf_token": "x"},
    )
    assert forged.status_code == 400
    assert post_codes(client, flow, email_code, sms_code).status_code == 200


def test_outside_sandbox_without_smtp_nor_hook_says_codes_cannot_be_sent(settings, app, caplog):
    production = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = production.test_client()
    page = http.get("/ecps/activation").get_data(as_text=True)
    with caplog.at_level(logging.ERROR, logger="santeid.web_ecps.activation"):
        response = http.post(
            "/ecps/activation", data={"national_id": PROFESSIONAL, "csrf_token": csrf(page)}
        )
    assert response.status_code == 503
    assert "n'est pas configuré" in html.unescape(response.get_data(as_text=True))
    assert "SANTEID_SMTP_HOST" in caplog.text and "SANTEID_SMS_HOOK_URL" in caplog.text


def test_outside_sandbox_codes_go_through_smtp_and_the_sms_hook(settings, app, smtp_server):
    """Real delivery: an SMTP server and an HTTP SMS gateway, both local."""
    controller, mails = smtp_server
    with SmsReceiver() as receiver:
        production = create_app(
            settings.replace(
                sandbox=False,
                smtp_host="127.0.0.1",
                smtp_port=controller.port,
                smtp_starttls=False,
                smtp_from="activation@santeid.example",
                sms_hook_url=receiver.url,
                sms_hook_token="hook-token-0123456789",
            ),
            store=MemoryStore(),
        )
        http = production.test_client()
        flow = request_codes(http)
        assert http.get("/sandbox/outbox.json").status_code == 404
        assert len(mails.messages) == 1 and len(receiver.calls) == 1
        mail = mails.messages[0]
        assert mail.rcpt_tos == [EMAIL] and mail.mail_from == "activation@santeid.example"
        email_code = re.search(rb"\b([0-9]{6})\b", mail.content).group(1).decode()
        call = receiver.calls[0]
        assert call.headers["Authorization"] == "Bearer hook-token-0123456789"
        assert call.body["to"] == PHONE
        sms_code = re.search(r"\b([0-9]{6})\b", call.body["text"]).group(1)
        assert post_codes(http, flow, email_code, sms_code).status_code == 200


def test_failed_delivery_cancels_the_pair(settings, app, smtp_server, caplog):
    controller, mails = smtp_server
    with SmsReceiver() as receiver:
        receiver.status = 503
        production = create_app(
            settings.replace(
                sandbox=False,
                smtp_host="127.0.0.1",
                smtp_port=controller.port,
                smtp_starttls=False,
                sms_hook_url=receiver.url,
            ),
            store=MemoryStore(),
        )
        http = production.test_client()
        page = http.get("/ecps/activation").get_data(as_text=True)
        with caplog.at_level(logging.ERROR, logger="santeid.web_ecps.activation"):
            response = http.post(
                "/ecps/activation", data={"national_id": PROFESSIONAL, "csrf_token": csrf(page)}
            )
    assert response.status_code == 503
    assert "n'ont pas pu être envoyés" in html.unescape(response.get_data(as_text=True))
    assert "HTTP 503" in caplog.text
    store = production.extensions["santeid"].store
    current = store.get(f"ecps-act-current:{PROFESSIONAL}")
    assert current is None or store.get(f"ecps-act:{current['flow']}") is None


# -- the pair of codes, alone --------------------------------------------------------------


def test_concurrent_guesses_get_no_more_than_five_tries():
    """Attempts are counted before the comparison: racing requests cannot exceed the limit."""
    store = MemoryStore()
    pairs = CodePairs(store, b"k" * 32)
    flow, email_code, sms_code = pairs.create(PROFESSIONAL, bid="b")
    results: list[str] = []
    barrier = threading.Barrier(20)

    def guess(n: int) -> None:
        barrier.wait()
        results.append(pairs.verify(flow, f"{n:06d}", f"{n:06d}").outcome)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("wrong") + results.count("ok") <= MAX_ATTEMPTS
    assert pairs.verify(flow, email_code, sms_code).outcome == "expired"


def test_stored_pair_holds_no_code_in_clear():
    store = MemoryStore()
    flow, email_code, sms_code = CodePairs(store, b"secret").create(PROFESSIONAL, bid="b")
    record = store.get(f"ecps-act:{flow}")
    assert email_code not in str(record) and sms_code not in str(record)
    # Another application secret cannot check the codes.
    assert CodePairs(store, b"other").verify(flow, email_code, sms_code).outcome == "wrong"


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("helene.fauvel@example.org", "h***@example.org"),
        ("h@example.org", "h***@example.org"),
        ("not-an-address", "***"),
    ],
)
def test_mask_email(address, masked):
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("0639980012", "06 •• •• •• 12"),
        ("06 39 98 00 12", "06 •• •• •• 12"),
        ("+33639980012", "+33 ••••••• 12"),
        ("12", "••"),
    ],
)
def test_mask_phone(number, masked):
    assert mask_phone(number) == masked

"""The sandbox outbox: where messages land in sandbox mode, and nowhere else."""

from __future__ import annotations

import html

from santeid import create_app
from santeid.messaging import Message
from santeid.messaging import OutboxSender
from santeid.storage import MemoryStore
from tests.support.web_ecps import EMAIL
from tests.support.web_ecps import PHONE
from tests.support.web_ecps import PROFESSIONAL
from tests.support.web_ecps import codes_from_outbox
from tests.support.web_ecps import request_codes

#: Another demo professional with an e-mail and a phone in the directory.
OTHER = "810000000001"


def test_outbox_page_shows_the_codes_newest_first(client):
    request_codes(client)
    email_code, sms_code = codes_from_outbox(client)
    response = client.get("/sandbox/outbox")
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert response.headers["X-Santeid-Sandbox"] == "true"
    assert "Boîte d'envoi du bac à sable" in text
    assert "aucun message n'est réellement envoyé" in text
    assert 'class="sandbox-banner"' in text
    assert email_code in text and sms_code in text
    assert text.index(PHONE) < text.index(EMAIL)  # the SMS was sent last
    assert "Votre code de validation pour activer votre e-CPS" in text


def test_outbox_json_filters_by_recipient_and_limits(client):
    request_codes(client)
    response = client.get("/sandbox/outbox.json?limit=1")
    assert response.headers["Cache-Control"] == "no-store"
    messages = response.get_json()["messages"]
    assert len(messages) == 1 and messages[0]["channel"] == "sms"
    assert set(messages[0]) == {
        "id", "created_at", "time", "channel", "to", "subject", "body", "national_id", "code",
        "activation_id",
    }  # fmt: skip
    only_mail = client.get(f"/sandbox/outbox.json?to={EMAIL}").get_json()["messages"]
    assert [m["to"] for m in only_mail] == [EMAIL]
    # A limit that is no whole number is never a 500 ("²" passes str.isdigit() but not
    # int()): the default one for the pages, a 400 for the control API; a whole number of too
    # many digits is the most.
    for raw in ("%C2%B2", "-1", "9" * 4000):
        response = client.get(f"/sandbox/outbox.json?limit={raw}")
        assert response.status_code == 200, (raw[:10], response.get_data(as_text=True))
        assert len(response.get_json()["messages"]) == 2
        response = client.get(f"/sandbox/api/outbox?limit={raw}")
        if raw.isdigit():
            assert response.status_code == 200, response.get_data(as_text=True)
            assert len(response.get_json()["messages"]) == 2
        else:
            assert response.status_code == 400, (raw, response.get_data(as_text=True))
            assert response.get_json()["code"] == "invalid_request"


def test_the_control_api_gives_each_code_and_filters_by_professional(client):
    """A test suite reads the codes of one professional as fields: no parsing of the
    (French) message bodies, no knowing the directory's e-mail and phone."""
    request_codes(client)
    request_codes(client, OTHER)
    email_code, sms_code = codes_from_outbox(client)
    answer = client.get(f"/sandbox/api/outbox?national_id={PROFESSIONAL}")
    assert answer.status_code == 200
    messages = answer.get_json()["messages"]
    assert [(m["channel"], m["national_id"], m["code"]) for m in messages] == [
        ("sms", PROFESSIONAL, sms_code),
        ("email", PROFESSIONAL, email_code),
    ]
    everyone = client.get("/sandbox/api/outbox").get_json()["messages"]
    assert {m["national_id"] for m in everyone} == {PROFESSIONAL, OTHER}
    refused = client.get("/sandbox/api/outbox?national_id=12AB")
    assert refused.status_code == 400 and refused.get_json()["code"] == "invalid_national_id"


def test_outbox_in_english(client):
    text = client.get("/sandbox/outbox?ui_locales=en").get_data(as_text=True)
    assert "Sandbox outbox" in text and "No message." in text


def test_outbox_does_not_exist_outside_sandbox_mode(settings, app):
    production = create_app(settings.replace(sandbox=False), store=MemoryStore())
    http = production.test_client()
    page = http.get("/sandbox/outbox")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    api = http.get("/sandbox/outbox.json")
    assert api.status_code == 404
    assert api.get_json()["error"] == "not_found"


def test_outbox_keeps_only_the_newest_messages(tmp_path):
    outbox = OutboxSender(tmp_path / "santeid.sqlite3", keep=3)
    for n in range(5):
        outbox.send(Message("sms", f"06000000{n:02d}", "", f"code {n}"))
    assert [e.body for e in outbox.latest()] == ["code 4", "code 3", "code 2"]
    # Another worker (another connection to the same file) sees the same outbox.
    other = OutboxSender(tmp_path / "santeid.sqlite3", keep=3)
    assert [e.to for e in other.latest(limit=1)] == ["0600000004"]
    other.clear()
    assert outbox.latest() == []


def test_outbox_timestamps_are_whole_seconds_as_the_control_api_declares(client):
    """``created_at`` is an integer number of seconds, as the control API's OpenAPI document
    declares it and as every timestamp of the e-CPS device API is."""
    request_codes(client)
    document = client.get("/sandbox/api/openapi.json").get_json()
    answer = document["paths"]["/outbox"]["get"]["responses"]["200"]
    item = answer["content"]["application/json"]["schema"]["properties"]["messages"]["items"]
    assert item["properties"]["created_at"] == {"type": "integer"}
    for url in ("/sandbox/api/outbox", "/sandbox/outbox.json"):
        (message, *_) = client.get(url).get_json()["messages"]
        assert type(message["created_at"]) is int

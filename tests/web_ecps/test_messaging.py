"""Message senders against real servers: an in-process SMTP server (aiosmtpd) with and
without TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS) and AUTH (RFC 4954), and a local
HTTP server standing for the SMS gateway hook. No mocks."""

from __future__ import annotations

import email
import email.policy
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from santeid import create_app
from santeid import create_services
from santeid.messaging import DeliveryError
from santeid.messaging import HttpSmsSender
from santeid.messaging import Message
from santeid.messaging import NotConfigured
from santeid.messaging import OutboxSender
from santeid.messaging import SmtpSender
from santeid.messaging import UnconfiguredSender
from santeid.messaging import senders_for
from santeid.settings import ConfigurationError
from santeid.storage import MemoryStore
from tests.support.redis_server import free_port
from tests.support.security import self_signed_certificate
from tests.support.web_ecps import RecordingHandler

MAIL = Message(
    channel="email",
    to="helene.fauvel@example.org",
    subject="Votre code de validation pour activer votre e-CPS",
    body="Voici le code : 123456\nÀ bientôt.",
)
SMS = Message(channel="sms", to="0639980001", subject="", body="santeid e-CPS : code 654321")


# -- TLS material -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def _server_context(tls_files) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context


def _client_context(tls_files) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"santeid" and auth_data.password == b"relay-password-42"
    # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def _parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


# -- SMTP ---------------------------------------------------------------------------------------


def test_smtp_delivers_a_plain_message(smtp_server, caplog):
    controller, handler = smtp_server
    sender = SmtpSender("127.0.0.1", controller.port, sender="santeid@example.org", starttls=False)
    sender.send(MAIL)
    [received] = handler.messages
    assert received.mail_from == "santeid@example.org"
    assert received.rcpt_tos == [MAIL.to]
    assert not received.tls
    message = _parsed(received.content)
    assert message["Subject"] == MAIL.subject  # non-ASCII survives (RFC 2047)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@example.org>")
    assert message.get_content().replace("\r\n", "\n").strip() == MAIL.body
    # The recipient is personal data: the log line names it masked, as the activation page.
    handed = [r.getMessage() for r in caplog.records if "e-mail handed to" in r.getMessage()]
    assert (
        handed and MAIL.to not in handed[0] and handed[0].endswith("***@" + MAIL.to.split("@")[1])
    )


def test_smtp_starttls_and_auth(tls_files):
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=_server_context(tls_files),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        sender = SmtpSender(
            "127.0.0.1",
            controller.port,
            sender="santeid@example.org",
            username="santeid",
            password="relay-password-42",
            ssl_context=_client_context(tls_files),
        )
        sender.send(MAIL)
        [received] = handler.messages
        assert received.tls and received.login == b"santeid"

        wrong = SmtpSender(
            "127.0.0.1",
            controller.port,
            sender="santeid@example.org",
            username="santeid",
            password="wrong",
            ssl_context=_client_context(tls_files),
        )
        with pytest.raises(DeliveryError, match="127.0.0.1"):
            wrong.send(MAIL)
        # The relay's certificate is checked: an untrusted one is refused.
        untrusted = SmtpSender("127.0.0.1", controller.port, sender="santeid@example.org")
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.send(MAIL)
        assert len(handler.messages) == 1
    finally:
        controller.stop()


def test_smtp_implicit_tls(tls_files):
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=_server_context(tls_files),
    )
    controller.start()
    try:
        sender = SmtpSender(
            "127.0.0.1",
            controller.port,
            sender="santeid@example.org",
            implicit_tls=True,
            ssl_context=_client_context(tls_files),
        )
        sender.send(MAIL)
        [received] = handler.messages
        assert received.tls
    finally:
        controller.stop()


def test_smtp_without_starttls_on_the_relay_is_refused(smtp_server):
    """A relay that does not offer STARTTLS never gets the message in plain text."""
    controller, handler = smtp_server
    sender = SmtpSender("127.0.0.1", controller.port, sender="santeid@example.org")
    with pytest.raises(DeliveryError, match="STARTTLS"):
        sender.send(MAIL)
    assert handler.messages == []


def test_smtp_refuses_a_password_over_plain_text_to_a_remote_relay():
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.2", port=free_port())
    controller.start()
    try:
        sender = SmtpSender(
            "127.0.0.2",
            controller.port,
            sender="santeid@example.org",
            username="santeid",
            password="relay-password-42",
            starttls=False,
        )
        with pytest.raises(DeliveryError, match="plain connection"):
            sender.send(MAIL)
        assert handler.messages == []
    finally:
        controller.stop()


def test_smtp_unreachable_relay_is_a_delivery_error():
    sender = SmtpSender("127.0.0.1", free_port(), sender="santeid@example.org", timeout=2)
    started = time.monotonic()
    with pytest.raises(DeliveryError):
        sender.send(MAIL)
    assert time.monotonic() - started < 5


# -- SMS hook -------------------------------------------------------------------------------


def test_sms_hook_receives_json_with_the_bearer_token(sms_receiver, caplog):
    HttpSmsSender(sms_receiver.url, token="hook-token").send(SMS)
    [call] = sms_receiver.calls
    assert call.path == "/sms"
    assert call.body == {"to": SMS.to, "text": SMS.body}
    handed = [r.getMessage() for r in caplog.records if "SMS handed" in r.getMessage()]
    assert handed == ["SMS handed to the hook for 06 •• •• •• 01"]
    assert call.headers["Authorization"] == "Bearer hook-token"
    assert call.headers["Content-Type"].startswith("application/json")


def test_sms_hook_without_token_sends_no_authorization(sms_receiver):
    HttpSmsSender(sms_receiver.url).send(SMS)
    assert "Authorization" not in sms_receiver.calls[0].headers


def test_sms_hook_error_status_is_a_delivery_error(sms_receiver):
    sms_receiver.status = 500
    with pytest.raises(DeliveryError, match="HTTP 500"):
        HttpSmsSender(sms_receiver.url, token="t").send(SMS)


def test_sms_hook_redirects_are_not_followed(sms_receiver):
    sms_receiver.status = 307
    with pytest.raises(DeliveryError, match="HTTP 307"):
        HttpSmsSender(sms_receiver.url, token="t").send(SMS)
    assert [c.path for c in sms_receiver.calls] == ["/sms"]  # /elsewhere never called


def test_sms_hook_timeout_is_a_delivery_error(sms_receiver):
    sms_receiver.delay = 1.0
    started = time.monotonic()
    with pytest.raises(DeliveryError):
        HttpSmsSender(sms_receiver.url, timeout=0.3).send(SMS)
    assert time.monotonic() - started < 1.0


def test_sms_hook_unreachable_is_a_delivery_error():
    with pytest.raises(DeliveryError):
        HttpSmsSender(f"http://127.0.0.1:{free_port()}/sms").send(SMS)


def test_senders_refuse_the_wrong_channel(sms_receiver):
    with pytest.raises(ValueError, match="SMS"):
        HttpSmsSender(sms_receiver.url).send(MAIL)
    with pytest.raises(ValueError, match="e-mail"):
        SmtpSender("127.0.0.1", 25, sender="s@example.org").send(SMS)


# -- choosing the senders -----------------------------------------------------------------------


def test_sandbox_mode_uses_the_outbox_for_both_channels(settings):
    senders = senders_for(settings)
    assert isinstance(senders.email, OutboxSender) and senders.sms is senders.email
    assert senders.outbox is senders.email and senders.missing() == []


def test_production_without_settings_says_what_to_configure(settings, caplog):
    senders = senders_for(settings.replace(sandbox=False))
    assert isinstance(senders.email, UnconfiguredSender)
    assert isinstance(senders.sms, UnconfiguredSender)
    assert senders.outbox is None
    hints = " ".join(senders.missing())
    assert "SANTEID_SMTP_HOST" in hints and "SANTEID_SMS_HOOK_URL" in hints
    with pytest.raises(NotConfigured, match="SANTEID_SMS_HOOK_URL"):
        senders.send(SMS)


def test_the_server_says_what_to_configure_and_a_command_does_not(settings, caplog):
    """The warning is the server's, once at its start: a command that opens the services
    (``santeid sessions logout``) has no activation to offer and prints nothing of it."""
    production = settings.replace(sandbox=False)
    create_services(production, store=MemoryStore())
    assert "SANTEID_SMTP_HOST" not in caplog.text
    create_app(production, store=MemoryStore())
    warned = [r for r in caplog.records if "SANTEID_SMTP_HOST" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    assert "SANTEID_SMS_HOOK_URL" in caplog.text


def test_production_with_smtp_and_hook(settings):
    senders = senders_for(
        settings.replace(
            sandbox=False,
            smtp_host="smtp.example.org",
            smtp_port=465,
            sms_hook_url="https://sms.example.org/send",
            sms_hook_token="t",
        )
    )
    assert isinstance(senders.email, SmtpSender) and senders.email.implicit_tls
    assert isinstance(senders.sms, HttpSmsSender) and senders.sms.token == "t"
    assert senders.missing() == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://sms.example.org/", "/relative"])
def test_a_hook_url_that_is_not_http_is_a_configuration_error(settings, url):
    with pytest.raises(ConfigurationError, match="sms_hook_url"):
        senders_for(settings.replace(sandbox=False, sms_hook_url=url))

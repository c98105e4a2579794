"""Messages to professionals: the two e-CPS activation codes (psc.md §13: "deux codes de
validation … envoyés respectivement au téléphone et à l'adresse e-mail enregistrés dans
l'annuaire").

One interface, :class:`MessageSender`, and three implementations:

* :class:`OutboxSender` — sandbox mode: nothing leaves the machine; messages land in the
  ``outbox`` table of ``{data_dir}/santeid.sqlite3`` (the last :data:`OUTBOX_KEEP`), shown at
  ``/sandbox/outbox``;
* :class:`SmtpSender` — e-mail through an SMTP relay (RFC 5321), STARTTLS (RFC 3207) when
  ``smtp_starttls`` is on, implicit TLS (RFC 8314 §3.3) on port 465, AUTH (RFC 4954) when a
  user name is set;
* :class:`HttpSmsSender` — SMS handed to an HTTP hook as JSON ``{"to", "text"}``, so any SMS
  gateway can be plugged in with a few lines of glue.

:func:`senders_for` picks them from the settings. Outside sandbox mode a channel whose
settings are missing gets an :class:`UnconfiguredSender`: the server still starts (logins do
not need it), the activation page explains that codes cannot be sent and the log says which
setting to fill in.
"""

from __future__ import annotations

import json
import logging
import smtplib
import sqlite3
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from email.utils import make_msgid
from pathlib import Path
from typing import Literal
from typing import Protocol
from urllib.parse import urlsplit

from santeid.settings import ConfigurationError
from santeid.settings import Settings

log = logging.getLogger(__name__)

Channel = Literal["email", "sms"]
CHANNELS: tuple[Channel, ...] = ("email", "sms")

#: Messages the sandbox outbox keeps; older ones are deleted as new ones arrive.
OUTBOX_KEEP = 200
#: Seconds an SMTP conversation or an SMS hook call may take before it is abandoned.
SMTP_TIMEOUT = 10.0
SMS_TIMEOUT = 5.0
#: RFC 8314 §3.3: the submission port where TLS starts at connection time.
IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True)
class Message:
    """One message to one recipient. ``subject`` is ignored by SMS senders."""

    channel: Channel
    to: str
    subject: str
    body: str


class DeliveryError(Exception):
    """The message could not be handed over (relay down, refused, timeout…). The text is for
    logs: it names the relay or hook, never the message body (it holds a code)."""


class NotConfigured(DeliveryError):
    """No sender is configured for this channel; the text says which settings to fill in."""


class MessageSender(Protocol):
    """Hands a message over for delivery, or raises :class:`DeliveryError`."""

    def send(self, message: Message) -> None: ...


# -- sandbox outbox -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    created_at: float
    channel: str
    to: str
    subject: str
    body: str

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
        }


class OutboxSender:
    """Sandbox "delivery": the message is written to the ``outbox`` table, nothing is sent.

    The table lives in the same SQLite file as the client registry, so every worker (and the
    ``santeid`` command line) sees the same outbox. Connections are per thread, as
    ``sqlite3`` requires, and writes are one ``BEGIN IMMEDIATE`` transaction each so that the
    insert and the trimming to ``keep`` rows cannot interleave with another worker's.
    """

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS outbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        channel    TEXT NOT NULL,
        recipient  TEXT NOT NULL,
        subject    TEXT NOT NULL,
        body       TEXT NOT NULL
    )
    """

    def __init__(self, path: Path | str, *, keep: int = OUTBOX_KEEP, clock=time.time) -> None:
        self.path = Path(path)
        self.keep = keep
        self.clock = clock
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(self.SCHEMA)

    @classmethod
    def for_settings(cls, settings: Settings) -> OutboxSender:
        return cls(settings.data_path / "santeid.sqlite3")

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            self._local.db = db
        return db

    def send(self, message: Message) -> None:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO outbox (created_at, channel, recipient, subject, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.clock(), message.channel, message.to, message.subject, message.body),
            )
            # Keep the newest ``keep`` rows: ids only grow (AUTOINCREMENT), so everything
            # below the keep-th newest id goes.
            db.execute(
                "DELETE FROM outbox WHERE id <= "
                "(SELECT id FROM outbox ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self.keep,),
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise DeliveryError(f"sandbox outbox {self.path}: {exc}") from exc
        # The body holds a code: never logged, even in sandbox mode.
        log.info("sandbox outbox: %s message to %s", message.channel, message.to)

    def latest(self, limit: int = 50, *, to: str | None = None) -> list[OutboxEntry]:
        """Newest first; ``to`` keeps one recipient's messages."""
        sql = "SELECT id, created_at, channel, recipient, subject, body FROM outbox"
        params: tuple = ()
        if to:
            sql += " WHERE recipient = ?"
            params = (to,)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self._connect().execute(sql, (*params, max(0, int(limit)))).fetchall()
        return [OutboxEntry(*row) for row in rows]

    def clear(self) -> None:
        self._connect().execute("DELETE FROM outbox")


# -- SMTP -------------------------------------------------------------------------------------


class SmtpSender:
    """E-mail through an SMTP relay.

    * ``starttls``: upgrade with STARTTLS (RFC 3207) and verify the relay's certificate
      (``ssl_context``, the system's trust store by default); the relay must offer it.
    * ``implicit_tls``: TLS from the first byte (RFC 8314 §3.3, port 465); wins over
      ``starttls``.
    * ``username``: AUTH (RFC 4954) after TLS. Credentials are never sent over a plain
      connection unless the relay is the local host (a local MTA needs no TLS).
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = True,
        implicit_tls: bool = False,
        timeout: float = SMTP_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise ConfigurationError("smtp_host is empty")
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"SmtpSender({self.host}:{self.port})"

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def build(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        domain = self.sender.rpartition("@")[2] or None
        email["Message-ID"] = make_msgid(domain=domain)
        # RFC 3834 §5: an automatic message; mail robots must not answer it.
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body)
        return email

    def _open(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send(self, message: Message) -> None:
        if message.channel != "email":
            raise ValueError(f"SmtpSender sends e-mail, not {message.channel}")
        email = self.build(message)
        try:
            with self._open() as smtp:
                smtp.ehlo()
                tls = self.implicit_tls
                if self.starttls and not self.implicit_tls:
                    # Raises SMTPNotSupportedError if the relay does not offer STARTTLS: a
                    # relay configured for TLS that stops offering it is an attack or a
                    # misconfiguration, never a reason to fall back to plain text.
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                    tls = True
                if self.username:
                    if not tls and self.host not in ("localhost", "127.0.0.1", "::1"):
                        raise DeliveryError(
                            f"SMTP {self.host}:{self.port}: refusing to send the password "
                            "over a plain connection (set smtp_starttls = true)"
                        )
                    smtp.login(self.username, self.password)
                smtp.send_message(email)
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc
        log.info("e-mail handed to %s:%s for %s", self.host, self.port, message.to)


# -- SMS over an HTTP hook --------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an error: following it would send the code (and the token) elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class HttpSmsSender:
    """SMS handed to an HTTP hook: ``POST {url}`` with ``{"to": …, "text": …}``.

    ``Authorization: Bearer <token>`` (RFC 6750 §2.1) when a token is set. Any 2xx is
    success; anything else, a redirect (not followed) or no answer within ``timeout``
    seconds is a :class:`DeliveryError`.
    """

    def __init__(self, url: str, *, token: str = "", timeout: float = SMS_TIMEOUT) -> None:
        check_hook_url(url)
        self.url = url
        self.token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"HttpSmsSender({self.url})"

    def send(self, message: Message) -> None:
        if message.channel != "sms":
            raise ValueError(f"HttpSmsSender sends SMS, not {message.channel}")
        body = json.dumps({"to": message.to, "text": message.body}, ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "santeid"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The scheme was checked to be http(s) in __init__ (S310: no file:// or ftp://).
        request = urllib.request.Request(  # noqa: S310
            self.url, data=body.encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DeliveryError(f"SMS hook {self.url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"SMS hook {self.url}: {reason}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"SMS hook {self.url}: HTTP {status}")
        log.info("SMS handed to the hook for %s", message.to)


def check_hook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"sms_hook_url must be an absolute http(s) URL, got {url!r}")
    return url


# -- choosing --------------------------------------------------------------------------------


class UnconfiguredSender:
    """Stands for a channel whose settings are missing: :meth:`send` raises
    :class:`NotConfigured` with the settings to fill in."""

    def __init__(self, channel: Channel, hint: str) -> None:
        self.channel = channel
        self.hint = hint

    def __repr__(self) -> str:
        return f"UnconfiguredSender({self.channel})"

    def send(self, message: Message) -> None:
        raise NotConfigured(self.hint)


@dataclass(frozen=True)
class Senders:
    """The sender of each channel."""

    email: MessageSender
    sms: MessageSender

    def for_channel(self, channel: Channel) -> MessageSender:
        return self.email if channel == "email" else self.sms

    def missing(self) -> list[str]:
        """What must be configured before codes can be sent (empty when all is well)."""
        return [s.hint for s in (self.email, self.sms) if isinstance(s, UnconfiguredSender)]

    @property
    def outbox(self) -> OutboxSender | None:
        return self.email if isinstance(self.email, OutboxSender) else None

    def send(self, message: Message) -> None:
        self.for_channel(message.channel).send(message)


def senders_for(settings: Settings) -> Senders:
    """Sandbox mode: the outbox for both channels (nothing leaves the machine). Otherwise
    SMTP for e-mail and the HTTP hook for SMS, or an :class:`UnconfiguredSender` — with a
    warning in the log — for a channel whose settings are missing.

    Raises :class:`ConfigurationError` for settings that are present but unusable.
    """
    if settings.sandbox:
        outbox = OutboxSender.for_settings(settings)
        return Senders(email=outbox, sms=outbox)
    email: MessageSender
    sms: MessageSender
    if settings.smtp_host:
        email = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            implicit_tls=settings.smtp_port == IMPLICIT_TLS_PORT,
        )
    else:
        email = UnconfiguredSender(
            "email", "e-mail: set smtp_host (SANTEID_SMTP_HOST) and smtp_from (SANTEID_SMTP_FROM)"
        )
    if settings.sms_hook_url:
        sms = HttpSmsSender(settings.sms_hook_url, token=settings.sms_hook_token)
    else:
        sms = UnconfiguredSender("sms", "SMS: set sms_hook_url (SANTEID_SMS_HOOK_URL)")
    senders = Senders(email=email, sms=sms)
    for hint in senders.missing():
        log.warning(
            "e-CPS activation by codes is unavailable until messages can be sent — %s", hint
        )
    return senders

"""Messages to professionals: the two e-CPS activation codes (docs/reference/pro-sante-connect.md
§13: "deux codes de
validation … envoyés respectivement au téléphone et à l'adresse e-mail enregistrés dans
l'annuaire").

One interface, :class:`MessageSender`, and three implementations:

* :class:`OutboxSender` — sandbox mode: nothing leaves the machine; messages land in the
  ``outbox`` table (:mod:`santeid.db`; embedded: ``{data_dir}/santeid.sqlite3``; the last
  :data:`OUTBOX_KEEP`), shown at ``/sandbox/outbox``;
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
import re
import smtplib
import ssl
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

from santeid import db
from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.settings import ConfigurationError
from santeid.settings import Settings
from santeid.settings.base import called_http_url

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
    """One message to one recipient. ``subject`` is ignored by SMS senders. ``national_id``
    (the professional it is for), ``code`` (the code its body gives) and ``activation_id``
    (the activation that code belongs to) are sent by nobody: only the sandbox outbox keeps
    them, as fields a test suite reads (docs/sandbox.md)."""

    channel: Channel
    to: str
    subject: str
    body: str
    national_id: str = ""
    code: str = ""
    activation_id: str = ""


def mask_email(address: str) -> str:
    """``helene.fauvel@example.org`` → ``h***@example.org``: enough to recognise one's own
    address, not enough to learn someone else's — what the activation page shows, and what
    the log says of a recipient (personal data: never whole in a log line)."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    """``0639980012`` → ``06 •• •• •• 12``; international numbers keep their prefix and
    the last two digits."""
    raw = number.strip()
    digits = re.sub(r"[^0-9]", "", raw)
    if len(digits) == 10 and digits.startswith("0"):
        return f"{digits[:2]} •• •• •• {digits[-2:]}"
    if len(digits) < 4:
        return "••"
    prefix = "+" if raw.startswith("+") else ""
    return f"{prefix}{digits[:2]} {'•' * (len(digits) - 4)} {digits[-2:]}"


def masked_recipient(message: Message) -> str:
    """The recipient of ``message`` as a log line shows it (:func:`mask_email`,
    :func:`mask_phone`)."""
    return mask_email(message.to) if message.channel == "email" else mask_phone(message.to)


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
    national_id: str = ""
    code: str = ""
    activation_id: str = ""

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            # Whole seconds, as every timestamp of the e-CPS device API and the control API's
            # OpenAPI document (the stored value keeps its fraction).
            "created_at": int(self.created_at),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "national_id": self.national_id or None,
            "code": self.code or None,
            "activation_id": self.activation_id or None,
        }


OUTBOX_SCHEMA = db.Schema(
    db.OUTBOX,
    (
        db.Step(
            (
                "CREATE TABLE IF NOT EXISTS outbox ("
                " id         INTEGER PRIMARY KEY AUTOINCREMENT,"
                " created_at REAL NOT NULL,"
                " channel    TEXT NOT NULL,"
                " recipient  TEXT NOT NULL,"
                " subject    TEXT NOT NULL,"
                " body       TEXT NOT NULL)",
            ),
            postgresql=(
                "CREATE TABLE IF NOT EXISTS outbox ("
                " id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                " created_at DOUBLE PRECISION NOT NULL,"
                " channel    TEXT NOT NULL,"
                " recipient  TEXT NOT NULL,"
                " subject    TEXT NOT NULL,"
                " body       TEXT NOT NULL)",
            ),
        ),
        # The professional a message is for and the code it gives, as fields (sandbox only:
        # the outbox exists only there).
        db.Step(
            (
                "ALTER TABLE outbox ADD COLUMN national_id TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE outbox ADD COLUMN code TEXT NOT NULL DEFAULT ''",
            ),
        ),
        # The activation a message's code belongs to, so that parallel activations of one
        # professional each find their own codes.
        db.Step(("ALTER TABLE outbox ADD COLUMN activation_id TEXT NOT NULL DEFAULT ''",)),
    ),
)


class OutboxSender:
    """Sandbox "delivery": the message is written to the ``outbox`` table, nothing is sent.

    The table is reached through :mod:`santeid.db` (embedded: the same SQLite file as the
    client registry; several hosts: PostgreSQL), so every worker, every host and the
    ``santeid`` command line see the same outbox. Each write is one transaction, so that the
    insert and the trimming to ``keep`` rows cannot interleave with another worker's.

    ``path``: the embedded SQLite file, or a :class:`~santeid.db.Database`.
    """

    def __init__(
        self,
        path: Path | str | db.Database,
        *,
        keep: int = OUTBOX_KEEP,
        clock: Clock = system_clock,
    ) -> None:
        self.db = path if isinstance(path, db.Database) else db.SqliteDatabase(path)
        self.keep = keep
        self.clock = clock
        # The table is made ready on first use (santeid.db.ensure, once per process), not here:
        # a worker started while the database is unavailable builds its senders all the same
        # (santeid.startup).

    @property
    def path(self) -> Path | None:
        return getattr(self.db, "path", None)

    @classmethod
    def for_settings(cls, settings: Settings, *, clock: Clock = system_clock) -> OutboxSender:
        return cls(db.database_for(settings, db.OUTBOX), clock=clock)

    def send(self, message: Message) -> None:
        try:
            db.ensure(self.db, OUTBOX_SCHEMA)
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO outbox (created_at, channel, recipient, subject, body,"
                    " national_id, code, activation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.clock(),
                        message.channel,
                        message.to,
                        message.subject,
                        message.body,
                        message.national_id,
                        message.code,
                        message.activation_id,
                    ),
                )
                # Keep the newest ``keep`` rows: ids only grow, so everything at or below
                # the keep-th newest id goes.
                conn.execute(
                    "DELETE FROM outbox WHERE id <= "
                    "(SELECT id FROM outbox ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (self.keep,),
                )
        except db.DatabaseError as exc:
            raise DeliveryError(f"sandbox outbox {self.db!r}: {exc}") from exc
        # The body holds a code: never logged, even in sandbox mode.
        log.info("sandbox outbox: %s message to %s", message.channel, masked_recipient(message))

    def latest(
        self,
        limit: int = 50,
        *,
        to: str | None = None,
        national_id: str | None = None,
        activation_id: str | None = None,
    ) -> list[OutboxEntry]:
        """Newest first; ``to`` keeps one recipient's messages, ``national_id`` one
        professional's, ``activation_id`` one activation's."""
        sql = "SELECT id, created_at, channel, recipient, subject, body, national_id, code,"
        sql += " activation_id FROM outbox"
        where, params = [], []
        for column, value in (
            ("recipient", to),
            ("national_id", national_id),
            ("activation_id", activation_id),
        ):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        db.ensure(self.db, OUTBOX_SCHEMA)
        rows = self.db.execute(sql, (*params, max(0, int(limit)))).fetchall()
        return [OutboxEntry(*row) for row in rows]

    def clear(self) -> None:
        db.ensure(self.db, OUTBOX_SCHEMA)
        self.db.execute("DELETE FROM outbox")


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
        log.info("e-mail handed to %s:%s for %s", self.host, self.port, masked_recipient(message))


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
        log.info("SMS handed to the hook for %s", masked_recipient(message))


def check_hook_url(url: str) -> str:
    """``url`` as ``sms_hook_url`` takes it (:func:`called_http_url`, the settings' rule), set."""
    try:
        if not url:
            raise ValueError("must be set")
        return called_http_url(url)
    except ValueError as exc:
        raise ConfigurationError(f"sms_hook_url {exc}") from None


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


def senders_for(settings: Settings, *, clock: Clock = system_clock) -> Senders:
    """Sandbox mode: the outbox for both channels (nothing leaves the machine). Otherwise
    SMTP for e-mail and the HTTP hook for SMS, or an :class:`UnconfiguredSender` for a channel
    whose settings are missing (the server warns of it: :func:`warn_unconfigured`).

    Raises :class:`ConfigurationError` for settings that are present but unusable.
    """
    if settings.sandbox.enabled:
        outbox = OutboxSender.for_settings(settings, clock=clock)
        return Senders(email=outbox, sms=outbox)
    email: MessageSender
    sms: MessageSender
    if settings.messaging.smtp_host:
        email = SmtpSender(
            settings.messaging.smtp_host,
            settings.messaging.smtp_port,
            sender=settings.messaging.smtp_from,
            username=settings.messaging.smtp_username,
            password=settings.messaging.smtp_password,
            starttls=settings.messaging.smtp_starttls,
            implicit_tls=settings.messaging.smtp_port == IMPLICIT_TLS_PORT,
        )
    else:
        email = UnconfiguredSender(
            "email", "e-mail: set smtp_host (SANTEID_SMTP_HOST) and smtp_from (SANTEID_SMTP_FROM)"
        )
    if settings.messaging.sms_hook_url:
        sms = HttpSmsSender(
            settings.messaging.sms_hook_url, token=settings.messaging.sms_hook_token
        )
    else:
        sms = UnconfiguredSender("sms", "SMS: set sms_hook_url (SANTEID_SMS_HOOK_URL)")
    return Senders(email=email, sms=sms)


def warn_unconfigured(senders: Senders) -> None:
    """The server's start tells the operator which channel cannot send activation codes yet
    (once, not at every command that opens the services)."""
    for hint in senders.missing():
        log.warning(
            "e-CPS activation by codes is unavailable until messages can be sent — %s", hint
        )

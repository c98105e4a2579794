"""``[messaging]``: how activation codes reach professionals outside sandbox mode
(santeid.messaging, docs/ecps-activation.md)."""

from __future__ import annotations

from email.utils import parseaddr

from pydantic import Field
from pydantic import field_validator

from santeid.settings.base import CalledUrlText
from santeid.settings.base import Flag
from santeid.settings.base import Port
from santeid.settings.base import Section


class MessagingSettings(Section):
    #: SMTP relay for e-mails outside sandbox mode (sandbox mode uses /sandbox/outbox).
    smtp_host: str = ""
    smtp_port: Port = 587
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_from: str = "santeid@localhost"
    smtp_starttls: Flag = True
    #: HTTP hook receiving SMS as JSON ``{"to", "text"}`` (Bearer ``sms_hook_token`` if set).
    sms_hook_url: CalledUrlText = ""
    sms_hook_token: str = Field(default="", repr=False)

    @field_validator("smtp_from")
    @classmethod
    def _mailbox(cls, value: str) -> str:
        """The sender of the activation e-mails (``From``, the SMTP envelope) and the contact
        of the Web Push messages (``mailto:``, RFC 8292 §2.1): an address alone,
        ``local@domain`` (RFC 5322 §3.4.1 addr-spec), without a display name."""
        name, address = parseaddr(value)
        local, _, domain = address.rpartition("@")
        if name or address != value or not local or not domain or any(c.isspace() for c in value):
            raise ValueError(
                f"must be an e-mail address alone, local@domain (RFC 5322 §3.4.1), got {value!r}"
            )
        return value

"""``[messaging]``: how activation codes reach professionals outside sandbox mode
(santeid.messaging, docs/ecps-activation.md)."""

from __future__ import annotations

from pydantic import Field

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

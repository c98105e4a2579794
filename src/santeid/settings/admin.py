"""``[admin]``: the admin console (santeid.admin, docs/operations.md)."""

from __future__ import annotations

from pydantic import Field

from santeid.settings.base import Section


class AdminSettings(Section):
    flat_prefix = "admin_"

    #: Argon2id hash of the admin console's password (``santeid admin set-password``); empty =
    #: ``/admin`` off (sandbox mode: the documented demo admin).
    password_hash: str = Field(default="", repr=False)

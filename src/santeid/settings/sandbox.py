"""``[sandbox]``: sandbox mode and the integrators' sandbox (santeid.sandbox, docs/sandbox.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from santeid.settings.base import Flag
from santeid.settings.base import FlatName
from santeid.settings.base import FractionalSecondsOrZero
from santeid.settings.base import Section


class SandboxSettings(Section):
    flat_prefix = "sandbox_"

    #: Sandbox mode: test conveniences on, and every page says so.
    enabled: Annotated[Flag, FlatName("sandbox")] = False
    #: Seconds the sandbox authenticator waits before approving an auto-approve professional.
    approval_delay: FractionalSecondsOrZero = 1.0
    #: A YAML or JSON file of professionals (with their scenarios) loaded at start.
    professionals: str = ""
    #: Seconds the INSi scenario ``SANTEID-FAUTE`` / ``LENT`` waits before its answer (01),
    #: so that client software can test its time-outs.
    insi_delay: Annotated[FractionalSecondsOrZero, Field(le=120)] = 5.0

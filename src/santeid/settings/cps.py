"""``[cps]``: CPS card logins (santeid.login.card, santeid.cps, docs/cps-card.md)."""

from __future__ import annotations

from santeid.settings.base import Section


class CpsSettings(Section):
    flat_prefix = "cps_"

    #: PEM file of the certification authorities CPS card certificates must chain to;
    #: empty = in sandbox mode the test CA under ``keys_dir`` (created by ``santeid cps
    #: issue-card``), outside it no card is accepted (docs/cps-card.md, "Production").
    ca_file: str = ""

"""``[insi]``: the INSi teleservice (santeid.insi, docs/insi-overview.md)."""

from __future__ import annotations

import json

from pydantic import field_validator

from santeid.settings.base import ConfigurationError
from santeid.settings.base import Flag
from santeid.settings.base import Seconds
from santeid.settings.base import Section


class InsiSettings(Section):
    flat_prefix = "insi_"

    #: Civil-status base the INSi service answers from (``santeid civil generate``);
    #: empty = ``{data_dir}/civil-status.sqlite3``.
    base: str = ""
    #: PEM file of the authorities INSi establishment certificates (CN INSI-AUTO /
    #: INSI-MANU) must be issued by; empty = in sandbox mode the test INSi CA
    #: ``{keys_dir}/insi-test-ca.pem``, outside it no establishment certificate is accepted
    #: (docs/insi-soap.md, "Authentication").
    ca_file: str = ""
    #: Serve the INSi JSON operations through a thin WSGI layer ahead of Flask (same code,
    #: about half the cost per call); false = through Flask only.
    fast_path: Flag = True
    #: Answer ``Sender`` SOAP faults with HTTP 400 (SOAP 1.2 Part 2 §7.5.2.2) instead of the
    #: real service's 500 for every fault.
    soap_sender_400: Flag = False
    #: INSi CPx assertions: oldest ``IssueInstant`` accepted, in seconds; an assertion is
    #: accepted once (its ``ID`` is remembered until it is too old).
    assertion_max_age: Seconds = 300
    #: Software numbers (IDAM) each establishment certificate may claim, as JSON
    #: ``{"<certificate subject, RFC 4514>": ["IDAM", …]}``; a subject not listed may claim any.
    idam_by_certificate: str = ""

    @field_validator("idam_by_certificate")
    @classmethod
    def _idam_bindings_readable(cls, value: str) -> str:
        parse_idam_bindings(value)  # raises if malformed
        return value

    @property
    def idam_bindings(self) -> dict[str, frozenset[str]]:
        """``insi_idam_by_certificate`` read: certificate subject (RFC 4514) → IDAM allowed."""
        return parse_idam_bindings(self.idam_by_certificate)


def parse_idam_bindings(text: str) -> dict[str, frozenset[str]]:
    """``insi_idam_by_certificate``: a JSON object mapping a certificate subject (RFC 4514
    string, as ``openssl x509 -nameopt RFC2253`` prints it) to the list of IDAM it may claim."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"insi_idam_by_certificate: not JSON ({exc})") from None
    if not isinstance(document, dict) or not all(
        isinstance(subject, str)
        and isinstance(idams, list)
        and idams
        and all(isinstance(idam, str) and idam for idam in idams)
        for subject, idams in document.items()
    ):
        raise ConfigurationError(
            'insi_idam_by_certificate must be {"<certificate subject>": ["IDAM", ...], ...}'
        )
    return {subject: frozenset(idams) for subject, idams in document.items()}

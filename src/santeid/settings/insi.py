"""``[insi]``: the INSi teleservice (santeid.insi, docs/insi-overview.md)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from types import MappingProxyType

from cryptography import x509
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
    #: ``{"<certificate subject, RFC 4514>": ["IDAM", …]}``; a subject not listed may claim any
    #: (:func:`certificate_subject_key`: how a subject written here matches a certificate's).
    idam_by_certificate: str = ""

    @field_validator("idam_by_certificate")
    @classmethod
    def _idam_bindings_readable(cls, value: str) -> str:
        parse_idam_bindings(value)  # raises if malformed
        return value

    @property
    def idam_bindings(self) -> Mapping[SubjectKey, frozenset[str]]:
        """``insi_idam_by_certificate`` read: certificate subject
        (:func:`certificate_subject_key`) → IDAM allowed."""
        return parse_idam_bindings(self.idam_by_certificate)


#: A certificate subject as ``insi_idam_by_certificate`` compares it: its attributes, each an
#: (OID, value) pair, in a fixed order (:func:`certificate_subject_key`).
SubjectKey = tuple[tuple[str, str], ...]


def certificate_subject_key(name: x509.Name) -> SubjectKey:
    """What identifies a certificate subject in ``insi_idam_by_certificate``: its attributes
    by OID (``CN``, ``cn`` and ``2.5.4.3`` are one type) with their values exactly, whatever
    their order. Both orders are printed for the same certificate — RFC 4514's, last RDN
    first (``openssl x509 -nameopt RFC2253``, cryptography's ``rfc4514_string``), and the
    certificate's own (``openssl x509 -subject`` without ``-nameopt``): a subject written in
    either matches, where an exact string comparison let a binding written in the other order
    never apply, and its certificate claim any software number without a word."""
    return tuple(sorted((attribute.oid.dotted_string, str(attribute.value)) for attribute in name))


@functools.lru_cache(maxsize=4)
def parse_idam_bindings(text: str) -> Mapping[SubjectKey, frozenset[str]]:
    """``insi_idam_by_certificate``: a JSON object mapping a certificate subject (an RFC 4514
    string, https://www.rfc-editor.org/rfc/rfc4514#section-3, as ``openssl x509 -noout
    -subject -nameopt RFC2253`` prints it) to the list of IDAM it may claim. A subject that is
    no RFC 4514 string (OpenSSL's default ``C = FR, O = …`` with spaces, say) is refused: read
    as written, it would match no certificate. Read once per value (every SOAP call asks)."""
    if not text.strip():
        return MappingProxyType({})
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
    bindings: dict[SubjectKey, frozenset[str]] = {}
    for subject, idams in document.items():
        try:
            key = certificate_subject_key(x509.Name.from_rfc4514_string(subject))
        except ValueError:
            key = ()
        if not key:
            raise ConfigurationError(
                f"insi_idam_by_certificate: {subject[:200]!r} is no certificate subject as RFC "
                "4514 writes it (no spaces around ',' and '='; "
                "openssl x509 -noout -subject -nameopt RFC2253 prints it so)"
            )
        if key in bindings:
            raise ConfigurationError(
                f"insi_idam_by_certificate: the subject {subject[:200]!r} is listed twice"
            )
        bindings[key] = frozenset(idams)
    return MappingProxyType(bindings)

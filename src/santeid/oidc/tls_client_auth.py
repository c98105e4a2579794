"""``tls_client_auth``: client authentication by a PKI certificate over mutual TLS
(RFC 8705 §2.1), the method Pro Santé Connect requires of machine clients in production
(docs/reference/pro-sante-connect.md §3, §14: "Basic (deprecated, initial phases) or mTLS
(production)").

The client sends its ``client_id`` as a request parameter and presents its certificate in
the TLS handshake (or through a trusted TLS-terminating proxy, ``santeid.tls``); it is
authenticated when the certificate is signed by an authority of ``tls_client_auth_ca_file``
(RFC 8705 §2.1: the PKI method rests on validation against trust anchors), is within its
validity period, is fit for a TLS client as a handshake checks it (an ``extendedKeyUsage``
extension, when present, lists ``clientAuth``; a ``keyUsage``, ``digitalSignature`` or
``keyAgreement``, RFC 5280 §4.2.1.12, §4.2.1.3: ``santeid.pki.client_purpose_refusal``, OpenSSL's
SSL client purpose, the rule of CPS cards too), and its subject equals
the ``tls_client_auth_subject_dn`` it registered (RFC 8705 §2.1.2). The chain is checked
here, whatever the transport: the TLS layer's ``--client-ca`` also holds the CPS and INSi
authorities, and a proxy set up as docs/cps-card.md shows (``ssl_verify_client
optional_no_ca``) forwards a self-signed certificate, or a TLS server's, as readily as any
other. Keycloak's nginx certificate lookup likewise verifies a
forwarded certificate against its own trust store
(https://www.keycloak.org/docs-api/latest/javadocs/org/keycloak/services/x509/NginxProxySslClientCertificateLookup.html).
The bundle holds the *issuing* authorities (one-step path, as ``cps_ca_file``,
``santeid.pki.issuing_authority``). Empty, no client authenticates this way.

DN comparison: both names as sequences of (attribute type, value), values compared
case-insensitively with runs of spaces collapsed (RFC 4517 §4.2.15 ``caseIgnoreMatch``);
the string types (PrintableString, UTF8String) do not matter.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from santeid.clock import utc_datetime
from santeid.oidc.client_auth import TLS_CLIENT_AUTH
from santeid.pki import authorities_in
from santeid.pki import certificate_name
from santeid.pki import client_purpose_refusal
from santeid.pki import issuing_authority
from santeid.pki import untrusted_issuer_reason
from santeid.services import services
from santeid.settings import ConfigurationError
from santeid.settings import Settings

log = logging.getLogger(__name__)


class InvalidSubjectDN(ValueError):
    """``tls_client_auth_subject_dn`` is not an RFC 4514 distinguished name."""


#: Keywords Keycloak's ``X509ClientAuthenticator`` reads in a registered subject DN beyond
#: RFC 4514's (its ``CUSTOM_OIDS``, those of Open Banking Brasil's certificates).
_KEYWORDS = {
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "BUSINESSCATEGORY": NameOID.BUSINESS_CATEGORY,
    "JURISDICTIONCOUNTRYNAME": NameOID.JURISDICTION_COUNTRY_NAME,
}
#: DER string types a ``#``-hexadecimal value may hold, and their encodings.
_DER_STRINGS = {0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1",
                0x1E: "utf-16-be", 0x1C: "utf-32-be"}  # fmt: skip
_SPECIAL = ',+"\\<>;='


def _der_string(hexadecimal: str) -> str:
    """The text of a DER string (``#130432303039``: PrintableString "2009"), or ValueError."""
    der = bytes.fromhex(hexadecimal)
    if len(der) < 2 or der[0] not in _DER_STRINGS:
        raise ValueError("not a DER string")
    length, start = der[1], 2
    if length & 0x80:
        start = 2 + (length & 0x7F)
        length = int.from_bytes(der[2:start], "big")
    if start + length != len(der):
        raise ValueError("DER length")
    return der[start:].decode(_DER_STRINGS[der[0]])


def _escaped(value: str) -> str:
    out = "".join("\\" + c if c in _SPECIAL else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def _rfc4514(text: str) -> str:
    """``text`` as RFC 4514 writes it, read as Keycloak's ``X500Principal`` reads it: spaces
    around the ``,``, ``+`` and ``=`` separators dropped (RFC 1779's ``CN=a, O=b``), and a
    ``#`` value (its DER, in hexadecimal) replaced by its text."""
    out: list[str] = []
    kept = 0  # characters of ``out`` no trailing-space trimming may remove (escapes)
    i, n = 0, len(text)
    after_separator = True
    while i < n:
        c = text[i]
        if c == "\\":
            out.append(text[i : i + 2])
            i += 2
            kept = len(out)
            after_separator = False
            continue
        if c in ",+=":
            while len(out) > kept and out[-1] == " ":
                out.pop()
            out.append(c)
            i += 1
            while i < n and text[i] == " ":
                i += 1
            if c == "=" and i < n and text[i] == "#":
                end = i + 1
                while end < n and text[end] in "0123456789abcdefABCDEF":
                    end += 1
                out.append(_escaped(_der_string(text[i + 1 : end])))
                i = end
                while i < n and text[i] == " ":
                    i += 1
            kept = len(out)
            after_separator = True
            continue
        if c == " " and after_separator:
            i += 1
            continue
        out.append(c)
        after_separator = False
        i += 1
    while len(out) > kept and out[-1] == " ":
        out.pop()
    return "".join(out)


def parse_subject_dn(text: Any) -> x509.Name:
    """A registered subject DN: RFC 4514, with what Keycloak's ``X509ClientAuthenticator``
    accepts besides (:func:`_rfc4514`, :data:`_KEYWORDS`)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 1024:
        raise InvalidSubjectDN("tls_client_auth_subject_dn must be an RFC 4514 string")
    try:
        return x509.Name.from_rfc4514_string(_rfc4514(text), _KEYWORDS)
    except (ValueError, IndexError):
        raise InvalidSubjectDN(
            f"tls_client_auth_subject_dn: {text!r} is not an RFC 4514 string "
            "(e.g. CN=service,O=Etablissement,C=FR)"
        ) from None


def _comparable(name: x509.Name) -> list[tuple[str, str]]:
    return [
        (attribute.oid.dotted_string, " ".join(str(attribute.value).split()).casefold())
        for attribute in name
    ]


def client_authorities_file(settings: Settings) -> Path | None:
    """``tls_client_auth_ca_file``, or None: no client certificate is trusted."""
    ca_file = settings.oidc.tls_client_auth_ca_file
    return Path(ca_file) if ca_file else None


def client_authorities(settings: Settings) -> tuple[x509.Certificate, ...]:
    """The certificates of ``tls_client_auth_ca_file`` (read again when the file changes);
    none when the setting is empty. Raises :class:`ConfigurationError` when it is set but
    unusable."""
    path = client_authorities_file(settings)
    return () if path is None else authorities_in(path, "tls_client_auth_ca_file")


def check_configuration(settings: Settings) -> None:
    """At start-up: an unusable ``tls_client_auth_ca_file`` stops the server
    (:class:`ConfigurationError`); an empty one is logged."""
    if not client_authorities(settings):
        log.info("tls_client_auth_ca_file is empty: no client authenticates with tls_client_auth")


def subject_matches(certificate: x509.Certificate, registered_dn: str) -> bool:
    """Whether ``certificate``'s subject is the DN the client registered; a subject that
    cannot be decoded (:func:`santeid.pki.certificate_name`) is no one's."""
    try:
        expected = parse_subject_dn(registered_dn)
    except InvalidSubjectDN:
        return False
    subject = certificate_name(certificate, "subject")
    return subject is not None and _comparable(subject) == _comparable(expected)


class CertificateMissing(Exception):
    """A token request of a client whose tokens must be bound to its certificate came without
    one (:func:`bound_certificate_thumbprint`), or a refresh without the certificate its
    refresh token is bound to (:func:`refresh_certificate_thumbprint`)."""


def bound_certificate_thumbprint(client) -> str | None:
    """RFC 8705 §3: the ``x5t#S256`` of the certificate this (token endpoint) request's
    connection carries, to which the access tokens it issues are bound, or None: for a
    ``tls_client_auth`` client, which authenticated with it; for any client registered with
    ``tls_client_certificate_bound_access_tokens`` (RFC 8705 §3.4; Keycloak's per-client "OAuth
    2.0 Mutual TLS Certificate Bound Access Tokens Enabled", off by default), whatever its
    authentication — ANS's proof of concept authenticates with its secret and presents its
    certificate (docs/psc-integration.md §5.2). Such a client without a certificate raises
    :class:`CertificateMissing`, which Keycloak refuses."""
    bound = bool(client.metadata.get("tls_client_certificate_bound_access_tokens"))
    if client.token_endpoint_auth_method != TLS_CLIENT_AUTH and not bound:
        return None
    thumbprint = _presented_thumbprint()
    if thumbprint is None and bound:
        raise CertificateMissing
    return thumbprint


def _presented_thumbprint() -> str | None:
    """The ``x5t#S256`` of the certificate of this request's connection (``santeid.tls``),
    or None."""
    # At request time only: santeid.tls imports Flask, and client registration (this module's
    # validate_metadata, ``santeid clients``) runs without it (tests/test_module_imports.py).
    from santeid.oidc.protector import certificate_thumbprint
    from santeid.tls import client_certificate

    certificate = client_certificate()
    return certificate_thumbprint(certificate) if certificate is not None else None


def refresh_certificate_thumbprint(client, bound_to: str | None) -> str | None:
    """RFC 8705 §3 at a refresh whose refresh token is bound to the certificate ``bound_to``
    (its ``cnf.x5t#S256``, which it carries whenever its access token does): the thumbprint
    the new tokens are bound to — ``bound_to``, once this request's certificate is that one —,
    or, for an unbound refresh token, :func:`bound_certificate_thumbprint`'s. Keycloak refuses
    a refresh whose certificate is missing or is not the refresh token's
    (``TokenManager.verifyRefreshToken``, docs/reference/keycloak-behaviour.md, "Token
    endpoint"); without that, a stolen refresh token and any certificate the TLS layer
    accepts would get new tokens (RFC 8705 §4). A bound refresh token stays bound whatever the
    client's switch says now (docs/psc-integration.md §5.2).

    :raises CertificateMissing: the certificate is missing or another one.
    """
    if bound_to is None:
        return bound_certificate_thumbprint(client)
    if not matches_binding(_presented_thumbprint(), bound_to):
        raise CertificateMissing
    return bound_to


def matches_binding(presented: str | None, bound: object) -> bool:
    """RFC 8705 §3: the certificate presented, by its ``x5t#S256`` (None: none), is the one a
    token is bound to, ``bound`` (its ``cnf.x5t#S256``); compared in constant time, no
    certificate matching none. The one test of a bound token's use: a refresh token at a
    refresh or a logout (:func:`refresh_certificate_thumbprint`), an access token at a
    protected resource (``santeid.oidc.protector.check_certificate_binding``)."""
    return hmac.compare_digest((presented or "").encode(), str(bound).encode())


def validate_metadata(meta: dict[str, Any]) -> None:
    """RFC 8705 §2.1.2: a ``tls_client_auth`` client registers exactly one subject DN (§3.4's
    ``tls_client_certificate_bound_access_tokens`` is checked a boolean with the other
    switches, ``santeid.oidc.clients.validate_metadata``)."""
    if meta.get("token_endpoint_auth_method") == TLS_CLIENT_AUTH:
        parse_subject_dn(meta.get("tls_client_auth_subject_dn"))


def _named_client_id(request) -> str | None:
    """The ``client_id`` a ``tls_client_auth`` request names, as Keycloak's
    ``X509ClientAuthenticator`` reads it: the form's, else the query string's (a client that
    puts it in the token endpoint's URL authenticates all the same,
    ``MutualTLSClientTest.testSuccessfulClientInvocationWithClientIdInQueryParams``).

    Not :func:`santeid.oidc.client_auth.keycloak_secret_credentials`: Keycloak's two
    authenticators read the client id by different rules, and santeid keeps each one's.
    ``ClientIdAndSecretAuthenticator`` takes the Basic header's user, overridden by the
    form's ``client_id``, and never reads the query; ``X509ClientAuthenticator`` never reads
    the Basic header (a certificate client sends no secret) and falls back on the query.
    Both take the first value of a repeated parameter (``getFirst``)."""
    for source in (getattr(request, "form", None), getattr(request, "args", None)):
        if source:
            client_id = source.get("client_id")
            if client_id is not None:
                return client_id
    return None


class TlsClientAuth:
    """Authlib client authentication method (``server.register_client_auth_method``)."""

    def __call__(self, query_client, request) -> Any:
        client_id = _named_client_id(request)
        if not client_id:
            return None
        from santeid.tls import client_certificate  # Flask: see bound_certificate_thumbprint

        certificate = client_certificate()
        if certificate is None:
            return None
        now = utc_datetime(services().clock)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            # RFC 5280 §4.1.2.5; the handshake may have let it through (sandbox mode).
            log.info("tls_client_auth refused for %s: certificate outside its validity", client_id)
            return None
        client = query_client(client_id)
        if client is None or client.token_endpoint_auth_method != TLS_CLIENT_AUTH:
            return None
        try:
            authorities = client_authorities(services().settings)
        except ConfigurationError as exc:  # the file went missing since start-up
            log.warning("tls_client_auth refused for %s: %s", client_id, exc)
            return None
        if issuing_authority(certificate, authorities, now) is None:
            # RFC 8705 §2.1: a certificate no trust anchor vouches for (self-signed, or of
            # another authority) proves nothing about its subject.
            log.info(
                "tls_client_auth refused for %s: certificate not issued by an authority of "
                "tls_client_auth_ca_file: %s",
                client_id,
                untrusted_issuer_reason(certificate, authorities, now),
            )
            return None
        refusal = client_purpose_refusal(certificate)
        if refusal is not None:
            # RFC 5280 §4.2.1.12: e.g. a TLS server's certificate of the same authority.
            log.info("tls_client_auth refused for %s: %s", client_id, refusal)
            return None
        registered = client.metadata.get("tls_client_auth_subject_dn", "")
        if not subject_matches(certificate, registered):
            log.info("tls_client_auth refused for %s: certificate subject differs", client_id)
            return None
        return client

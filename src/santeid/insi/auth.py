"""Who may call the INSi service, shared by the SOAP, REST and FHIR adapters.

Two credentials (docs/reference/insi-teleservice.md §7):

* an **establishment certificate** presented in TLS (``santeid.tls.client_certificate``):
  its CN must be exactly ``INSI-AUTO`` or ``INSI-MANU`` and it must be issued by an authority of
  ``insi_ca_file`` (default, in sandbox mode only: the test INSi CA
  ``{keys_dir}/insi-test-ca.pem``, the stand-in for "TEST AC IGC-SANTE ELEMENTAIRE
  ORGANISATIONS"; outside it, none), and fit for a TLS client as a handshake checks it
  (``santeid.pki.client_purpose_refusal``).  Anything else is ``DESIR_560`` "Niveau
  d'accès insuffisant" (§6).  :func:`certificate_context`.
* a **Bearer access token** of santeid's own provider (REST and FHIR; the SOAP PSC mode pairs it
  with an unsigned assertion): signature, expiry and revocation are checked by
  ``TokenService.verify_access_token``; the login must have been made with a card (``authMode``
  ``CARD``) or e-CPS (``MOBILE``, also what the sandbox authenticator reports).
  :func:`bearer_context`.

Both return a :class:`~santeid.insi.model.CallContext` or the
:class:`~santeid.insi.model.InsiError` to answer (they never raise it), so that each adapter
renders the refusal in its own format.  Software id (what the statistics count): the ``azp``
(OAuth client id) of a token; for a certificate, the IDAM a SOAP call sent (empty when it sent
none: the call is refused, and recorded with nothing else), else — REST and FHIR, which have no
IDAM — the certificate's structure (``OU``).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import weakref
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from santeid.clock import system_clock
from santeid.clock import utc_datetime
from santeid.insi.model import CODE_UNAUTHENTICATED
from santeid.insi.model import CallContext
from santeid.insi.model import InsiError
from santeid.insi.model import insufficient_access
from santeid.psc.proofs import AUTH_MODES

log = logging.getLogger(__name__)

#: The test authority that issues INSi establishment certificates (``santeid insi issue-cert``),
#: stored as ``{keys_dir}/insi-test-ca.pem`` / ``.key`` (``santeid.pki.TestAuthority``).
INSI_TEST_CA_NAME = "insi-test-ca"
#: Its CN: the qualification issuer's name (docs/reference/insi-teleservice.md §7).
INSI_TEST_CA_COMMON_NAME = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
#: The only CNs INSi accepts, exactly (upper case, hyphen; docs/reference/insi-teleservice.md §7).
INSI_CERTIFICATE_CNS = ("INSI-AUTO", "INSI-MANU")
#: ``authMode`` of the logins whose tokens may call INSi: a card or e-CPS login, every mode
#: PSC sends (docs/reference/pro-sante-connect.md §11; the sandbox authenticator reports
#: ``MOBILE``, ``santeid.psc.proofs``).
ACCEPTED_AUTH_MODES = AUTH_MODES


def insi_ca_path(settings) -> Path | None:
    """The PEM file of the authorities establishment certificates must be signed by:
    ``insi_ca_file``; else, in sandbox mode only, the test INSi CA
    ``{keys_dir}/insi-test-ca.pem`` if it exists; else ``None`` (every establishment
    certificate is refused, ``DESIR_560``).

    Outside sandbox mode the test authority is never implied: its key lies unencrypted in
    ``keys_dir``, and whoever can run ``santeid insi issue-cert`` or read that folder would
    call INSi as any establishment (docs/insi-soap.md, "Authentication"); the rule is
    :func:`santeid.pki.trust_anchor_file`'s, the CPS cards' too."""
    from santeid.pki import trust_anchor_file

    return trust_anchor_file(
        settings.insi.ca_file,
        sandbox=settings.sandbox.enabled,
        keys_dir=settings.keys_path,
        test_authority=INSI_TEST_CA_NAME,
    )


def insi_test_authority(settings):
    """The test INSi CA under ``keys_dir``, created on first use (``santeid.pki``).  For the
    command that issues INSI-AUTO / INSI-MANU certificates and for tests."""
    from santeid.pki import TestAuthority

    return TestAuthority.load_or_create(
        settings.keys_path, INSI_TEST_CA_NAME, common_name=INSI_TEST_CA_COMMON_NAME
    )


def insi_authorities(settings) -> tuple[x509.Certificate, ...]:
    """The certificates of :func:`insi_ca_path` (read again when the file changes); none when
    there is no such file. Raises :class:`~santeid.settings.ConfigurationError` when
    ``insi_ca_file`` is set but unusable (``santeid.pki.authorities_in``)."""
    from santeid.pki import authorities_in

    path = insi_ca_path(settings)
    return () if path is None else authorities_in(path, "insi_ca_file")


def check_configuration(settings) -> None:
    """At start-up: an unusable ``insi_ca_file`` stops the server (``ConfigurationError``,
    as ``cps_ca_file`` and ``tls_client_auth_ca_file`` do); an empty one outside sandbox mode
    is logged."""
    insi_authorities(settings)
    if not settings.insi.ca_file and not settings.sandbox.enabled:
        log.warning(
            "insi_ca_file is empty: every INSi establishment certificate is refused "
            "(DESIR_560); set it to the IGC-Santé authorities that issue them (the test INSi "
            "authority is trusted in sandbox mode only)"
        )


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def certificate_structure(cert: x509.Certificate) -> str | None:
    """The structure a certificate belongs to: ``OU`` (FINESS or SIRET, what Padoa sends as
    ``Emetteur``, docs/reference/insi-teleservice.md §3), else ``serialNumber``, else ``O``."""
    for oid in (
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.SERIAL_NUMBER,
        NameOID.ORGANIZATION_NAME,
    ):
        value = _attribute(cert.subject, oid)
        if value:
            return value
    return None


def certificate_context(
    cert: x509.Certificate | None,
    *,
    channel: str = "soap",
    software_id: str | None = None,
    settings=None,
    now: datetime.datetime | None = None,
) -> CallContext | InsiError:
    """The call context of an INSi establishment certificate, or the ``DESIR_560`` refusal.

    Checks (docs/reference/insi-teleservice.md §7): CN exactly ``INSI-AUTO`` or ``INSI-MANU``;
    issued by an authority of ``insi_ca_file`` (:func:`insi_ca_path`) that is a valid CA now
    (``santeid.pki.issuing_authority``: validity, ``cA=TRUE``, ``keyCertSign``, signature —
    the rule CPS cards and ``tls_client_auth`` clients share); within its validity period;
    fit for a TLS client as a handshake checks it (``santeid.pki.client_purpose_refusal``,
    OpenSSL's SSL client purpose, the rule of CPS cards and ``tls_client_auth`` clients too:
    an ``extendedKeyUsage`` with ``clientAuth``, a ``keyUsage`` with ``digitalSignature`` or
    ``keyAgreement``, when present — a TLS server's certificate of the same authority is
    refused); when its subject is in
    ``insi_idam_by_certificate``, the IDAM a SOAP call claims (``software_id``) is one listed
    for it (REST and FHIR calls claim none). The TLS layer may already have checked the chain
    against ``--client-ca``, which can hold other authorities (CPS cards): this check is the
    one that ties the certificate to INSi.
    """
    if cert is None:
        return insufficient_access("aucun certificat client présenté")
    if settings is None:
        from santeid.services import services

        settings = services().settings
    from santeid.pki import certificate_name
    from santeid.settings.insi import certificate_subject_key

    # A name cryptography cannot decode (Latin-1 in a TeletexString) names no INSi
    # certificate: read through the one reader that tells so (it raised a 500 here).
    subject = certificate_name(cert, "subject")
    if subject is None:
        return insufficient_access("nom du certificat illisible")
    cn = _attribute(subject, NameOID.COMMON_NAME)
    if cn not in INSI_CERTIFICATE_CNS:
        return insufficient_access()
    # Commands (``santeid insi …``) call this without an application: the machine's clock.
    moment = now or utc_datetime(system_clock)
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        return insufficient_access("certificat hors de sa période de validité")
    from santeid.pki import client_purpose_refusal
    from santeid.pki import issuing_authority
    from santeid.settings import ConfigurationError

    try:
        authorities = insi_authorities(settings)
    except ConfigurationError as exc:  # the file went missing since start-up
        log.warning("INSi establishment certificate refused: %s", exc)
        authorities = ()
    if issuing_authority(cert, authorities, moment) is None:
        return insufficient_access("certificat non émis par une autorité INSi reconnue")
    purpose = client_purpose_refusal(cert)
    if purpose is not None:
        # RFC 5280 §4.2.1.12, §4.2.1.3: e.g. a TLS server's certificate of the same authority,
        # which a handshake refuses as a client's; behind a proxy that checks no chain, only
        # this check does.
        return insufficient_access(
            f"certificat impropre à l'authentification d'un client TLS : {purpose}"
        )
    structure = certificate_structure(cert)
    allowed = settings.insi.idam_bindings.get(certificate_subject_key(subject))
    if allowed is not None and software_id is not None and software_id not in allowed:
        # The certificate belongs to a vendor whose software numbers are known: a call
        # claiming another one is refused, so calls are attributed to what was proven.
        return insufficient_access(
            f"logiciel {software_id or '(sans IDAM)'} non autorisé pour ce certificat"
        )
    return CallContext(
        # SOAP's IDAM as sent, even empty: never the structure, under which the REST and FHIR
        # calls made with this certificate are counted.
        software_id=(
            software_id if software_id is not None else structure or format(cert.serial_number, "X")
        ),
        structure_id=structure,
        professional_id=None,
        channel=channel,
        auth_method="certificate",
    )


def unauthenticated(message: str, *, token_error: str | None = None) -> InsiError:
    """HTTP 401: no credential, or a Bearer token that is not valid.  ``rule`` carries the
    RFC 6750 §3.1 error code (``invalid_token``, ``invalid_request``) for ``WWW-Authenticate``."""
    return InsiError(
        CODE_UNAUTHENTICATED,
        message,
        severity="erreur",
        rule=token_error,
        subcode="siram_100",
        fault="Sender",
    )


class VerifiedTokens:
    """Claims of access tokens whose signature was already checked, for at most
    :data:`MAX_AGE` seconds and never past their ``exp``.

    A professional's software sends the same access token with every INSi call of its two
    minutes; checking the RS256 signature again each time is most of the cost of a call
    (``bench/insi.py``).  Only the signature check is skipped: on a hit the expiry is checked
    against the token service's clock and the **revocation** list is read in the store every
    time (``revoked:<jti>``, the deny list of ``santeid.oidc.tokens``), exactly as
    ``TokenService.verify_access_token`` does.  Keys are the exact token strings: nothing
    unsigned can hit the cache.  :data:`MAX_AGE` bounds how long a token keeps working after
    its signing key is withdrawn from the key store.
    """

    MAX_AGE = 30.0
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def claims(self, tokens, token: str) -> dict:
        """``tokens.verify_access_token(token)``, with the signature check cached."""
        from santeid.oidc.tokens import TokenError

        now = time.monotonic()
        entry = self._entries.get(token)
        if entry is not None and now - entry[0] < self.MAX_AGE:
            claims = entry[1]
            if claims["exp"] <= tokens.clock():
                raise TokenError("token expired")
            tokens.check_not_denied(claims)
            return claims
        claims = tokens.verify_access_token(token)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                # Drop the oldest half (insertion order): simple, and rare.
                for key in list(self._entries)[: self.MAX_ENTRIES // 2]:
                    self._entries.pop(key, None)
            self._entries[token] = (now, claims)
        return claims

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: One cache per token service (per app): a token another app verified proves nothing here.
_VERIFIED: weakref.WeakKeyDictionary[object, VerifiedTokens] = weakref.WeakKeyDictionary()
_VERIFIED_LOCK = threading.Lock()


def verified_tokens(tokens) -> VerifiedTokens:
    cache = _VERIFIED.get(tokens)
    if cache is None:
        with _VERIFIED_LOCK:
            cache = _VERIFIED.setdefault(tokens, VerifiedTokens())
    return cache


def bearer_context(
    authorization: str | None,
    *,
    channel: str = "rest",
    auth_method: str = "bearer",
    svc=None,
    certificate=None,
) -> CallContext | InsiError:
    """The call context of ``Authorization: Bearer <access token>``, or the refusal.

    The header is read and the token checked by the resource protector every Bearer API shares
    (``santeid.oidc.protector``), with the signature check cached (:class:`VerifiedTokens`).
    ``svc`` defaults to the app's services (``tokens``, ``settings``); ``certificate``: a
    callable giving the connection's client certificate, for certificate-bound tokens
    (RFC 8705 §3; default: the current Flask request's).  401 when the header is malformed or
    the token invalid, expired, revoked or presented without its certificate; 403
    ``DESIR_560`` when the login's ``authMode`` is not one of PSC's, or when there is none (a
    service account's ``client_credentials`` token: no professional logged in).
    """
    from authlib.oauth2 import OAuth2Error

    from santeid.oidc import protector

    if svc is None:
        from santeid.services import services

        svc = services()
    if certificate is None:
        certificate = _flask_certificate
    cache = verified_tokens(svc.tokens)
    guard = protector.access_token_protector(
        svc.tokens, verify=lambda token: cache.claims(svc.tokens, token)
    )
    request = protector.ProtectedRequest(
        {"Authorization": authorization or ""}, certificate=certificate
    )
    try:
        claims = guard.token(request)
    except OAuth2Error as exc:
        if exc.error != protector.INVALID_TOKEN:
            return unauthenticated(
                "Authorization must be 'Bearer <access token>'",
                token_error="invalid_request",  # noqa: S106 - an RFC 6750 error code
            )
        return unauthenticated(
            f"access token refused: {exc.description}",
            token_error="invalid_token",  # noqa: S106 - an RFC 6750 error code
        )
    mode = claims.get("authMode")
    accepted = ACCEPTED_AUTH_MODES
    if mode not in accepted:
        # No authMode: a service account's token (client_credentials), nobody logged in.
        which = f"authMode {mode!r}" if mode is not None else "un jeton de compte de service"
        return insufficient_access(
            f"{which} n'ouvre pas l'accès à INSi : il faut la connexion d'un professionnel "
            f"(authMode attendu : {', '.join(accepted)})"
        )
    return CallContext(
        software_id=str(claims.get("azp") or ""),
        structure_id=None,
        professional_id=claims.get("preferred_username"),
        channel=channel,
        auth_method=auth_method,
    )


def _flask_certificate():
    from flask import has_request_context

    if not has_request_context():
        return None
    from santeid.tls import client_certificate

    return client_certificate()


def request_context(channel: str) -> CallContext | InsiError:
    """REST and FHIR: the Bearer token if an ``Authorization`` header is present, else the
    client certificate of the connection (``santeid.tls``), else 401."""
    from flask import request

    header = request.headers.get("Authorization")
    if header is not None:
        return bearer_context(header, channel=channel)
    try:
        from santeid.tls import client_certificate
    except ImportError:  # pragma: no cover - santeid.tls ships with the package
        cert = None
    else:
        cert = client_certificate()
    if cert is not None:
        from santeid.services import services

        return certificate_context(cert, channel=channel, now=utc_datetime(services().clock))
    return unauthenticated(
        "authentication required: Bearer access token or INSi client certificate"
    )

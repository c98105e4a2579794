"""Who is calling: the three ways INSi authenticates a SOAP call (docs/reference/insi-teleservice.md
§7).

Tried in this order:

1. the professional's assertion in ``wsse:Security`` (``saml.professional_assertion``): the
   one whose ``NameQualifier`` is CPS or PSC, in whatever position (with a carte Vitale the
   "assertion CV" beside it is ignored, docs/reference/insi-teleservice.md §4, §7); when none
   has such a qualifier and no client certificate was presented, the first signed one:

   * signed, ``NameQualifier="CPS"`` (or any signed one): the **CPx card** mode — the card
     certificate in ``KeyInfo`` must be a valid CPS card of the directory and the signature
     must hold (``auth_method`` ``cps-assertion``);
   * unsigned, ``NameQualifier="PSC"``: the **Pro Santé Connect** mode — it must come with
     ``Authorization: Bearer <santeid access token>`` (signature, expiry, revocation and
     ``authMode`` checked by ``santeid.insi.auth.bearer_context``) whose professional
     (``preferred_username``) is the assertion's ``NameID`` (``auth_method`` ``psc-token``);

2. otherwise a **TLS client certificate** (``santeid.tls.client_certificate``: the connection's,
   or a trusted proxy's header) with CN ``INSI-AUTO``/``INSI-MANU`` issued by the INSi CA and
   fit for a TLS client (``santeid.insi.auth.certificate_context``; ``auth_method``
   ``certificate``);

3. nothing usable: the insufficient-access fault ``DESIR_560`` (docs/reference/insi-teleservice.md
§6), whatever went
   wrong — its ``siram:Erreur`` text says what.

A request carrying the professional's assertion is judged on it alone: a bad one is refused
even if a certificate was presented too (INSi serves the two modes on different hosts,
docs/reference/insi-teleservice.md §2).
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import replace

from flask import request

from santeid.clock import utc_datetime
from santeid.cps.cards import CardError
from santeid.cps.cards import verify_card_certificate
from santeid.insi.auth import bearer_context
from santeid.insi.auth import certificate_context
from santeid.insi.auth import insi_ca_path
from santeid.insi.model import CallContext
from santeid.insi.model import InsiError
from santeid.insi.model import insufficient_access
from santeid.insi.soap import saml
from santeid.insi.soap.headers import RequestHeaders
from santeid.settings import ConfigurationError
from santeid.storage import keys as store_keys
from santeid.tls import client_certificate
from santeid.tls import is_trusted_proxy
from santeid.tls import log_ignored_header
from santeid.tls import peer_certificate_der

log = logging.getLogger(__name__)

CHANNEL = "soap"


#: ``siram:Erreur`` text of ``DESIR_560`` (docs/reference/insi-teleservice.md §6).
INSUFFICIENT_ACCESS = "Vous ne disposez pas des droits suffisants pour accéder à ce service"


def _refuse(reason: str | None) -> InsiError:
    """``DESIR_560``; ``reason`` (santeid's addition, in parentheses) says what was wrong."""
    log.info("INSi SOAP call refused: %s", reason or "insufficient access")
    if not reason or reason == INSUFFICIENT_ACCESS:
        return insufficient_access(INSUFFICIENT_ACCESS)
    return insufficient_access(f"{INSUFFICIENT_ACCESS} ({reason})")


def _professional_assertion(headers: RequestHeaders, settings) -> saml.Assertion | None:
    """The assertion the request is judged on: with a client certificate, only one whose
    ``NameQualifier`` is CPS or PSC (another signed one, such as the "assertion CV" of a carte
    Vitale, docs/reference/insi-teleservice.md §4, authenticates no one)."""
    return saml.professional_assertion(headers.security, any_signed=_presented(settings) is None)


def attempted_method(headers: RequestHeaders, settings) -> str:
    """The authentication method a request tried (for the audit row of a refusal)."""
    assertion = _professional_assertion(headers, settings)
    if assertion is None:
        return "certificate"
    return "cps-assertion" if assertion.signed else "psc-token"


def _software_id(headers: RequestHeaders) -> str:
    return headers.idam or ""


def _max_age(settings) -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.insi.assertion_max_age)


def _now() -> datetime.datetime:
    """The application clock's time (``services().clock``)."""
    from santeid.services import services  # at call time: santeid.services imports the app

    return utc_datetime(services().clock)


def _first_use(signed: saml.Assertion, certificate, acceptable_until: datetime.datetime) -> None:
    """Remember the assertion until it is no longer acceptable; refuse a second use (atomic
    set-if-absent: of concurrent replays exactly one passes)."""
    from santeid.services import services  # at call time: santeid.services imports the app

    now = services().clock()
    ttl = store_keys.lifetime_through(acceptable_until.timestamp(), now)
    used = {"at": int(now)}
    if not services().store.add(saml.replay_key(signed, certificate), used, ttl):
        raise saml.AssertionRefused("assertion déjà utilisée (ID)")


def _cps(assertion: saml.Assertion, headers: RequestHeaders, settings) -> CallContext:
    try:
        certificate = saml.signing_certificate(assertion)
        now = _now()
        national_id = verify_card_certificate(certificate, settings, now=now)
        signed = saml.verify_signature(assertion, certificate)
        acceptable_until = saml.check_times(signed, now=now, max_age=_max_age(settings))
        if not signed.id:
            raise saml.AssertionRefused("assertion sans ID")
    except saml.AssertionRefused as exc:
        raise _refuse(str(exc)) from None
    except CardError as exc:
        raise _refuse(f"carte CPS refusée : {exc.code}") from None
    except ConfigurationError as exc:
        log.error("CPS authorities unusable: %s", exc)
        raise _refuse("autorités CPS indisponibles") from None
    if signed.qualifier != saml.QUALIFIER_CPS:
        raise _refuse("NameQualifier de l'assertion signée différent de CPS")
    if signed.name_id != national_id:
        raise _refuse("le NameID de l'assertion n'est pas le porteur de la carte")
    try:
        # Last: only an assertion that authenticates someone is remembered.
        _first_use(signed, certificate, acceptable_until)
    except saml.AssertionRefused as exc:
        raise _refuse(str(exc)) from None
    return CallContext(
        software_id=_software_id(headers),
        structure_id=signed.attributes.get("identifiantFacturation") or headers.emitter,
        professional_id=national_id,
        channel=CHANNEL,
        auth_method="cps-assertion",
    )


def _psc(assertion: saml.Assertion, headers: RequestHeaders, settings) -> CallContext:
    try:
        saml.check_times(assertion, now=_now(), max_age=_max_age(settings))
    except saml.AssertionRefused as exc:
        raise _refuse(str(exc)) from None
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise _refuse("assertion PSC sans jeton d'accès (Authorization: Bearer)")
    context = bearer_context(authorization, channel=CHANNEL, auth_method="psc-token")
    if isinstance(context, InsiError):
        raise _refuse(f"jeton d'accès refusé : {context.message}")
    if not assertion.name_id or context.professional_id != assertion.name_id:
        raise _refuse("le NameID de l'assertion PSC n'est pas le titulaire du jeton")
    return replace(
        context,
        software_id=_software_id(headers),
        structure_id=assertion.attributes.get("identifiantFacturation") or headers.emitter,
    )


def authenticate(headers: RequestHeaders, settings) -> CallContext:
    """The call context of this request, or raise the ``DESIR_560`` :class:`InsiError`."""
    assertion = _professional_assertion(headers, settings)
    if assertion is not None:
        if assertion.signed:
            return _cps(assertion, headers, settings)
        if assertion.qualifier == saml.QUALIFIER_PSC:
            return _psc(assertion, headers, settings)
        raise _refuse("assertion CPS non signée")
    raw = _presented(settings)
    if raw is None:
        raise _refuse("aucun certificat client ni assertion")
    context = _certificate_context(raw, _software_id(headers), settings)
    if isinstance(context, InsiError):
        raise _refuse(context.message)
    return context


#: How long the verdict on a certificate is reused: establishment software calls with the same
#: certificate all day, and reading and checking it costs more than the search itself.
CERTIFICATE_CACHE_SECONDS = 60.0
CERTIFICATE_CACHE_SIZE = 1024
_verdicts: dict[tuple, tuple[float, CallContext | InsiError]] = {}


def _presented(settings) -> str | bytes | None:
    """The certificate as presented, unparsed — the trusted proxy's header value, else the DER
    of the TLS connection's — in the same order as ``santeid.tls.client_certificate``."""
    header = settings.http.tls_client_cert_header
    if header:
        value = request.headers.get(header)
        if is_trusted_proxy(request.remote_addr, settings.http.trusted_proxies):
            return value if value and value.strip() not in ("", "-", "(null)") else None
        if value is not None:
            log_ignored_header(header, request.remote_addr)
    return peer_certificate_der(request.environ)


def _certificate_context(raw: str | bytes, software_id: str, settings) -> CallContext | InsiError:
    """``certificate_context`` of the presented certificate, remembered for
    :data:`CERTIFICATE_CACHE_SECONDS` per certificate, IDAM and state of the INSi CA file (a
    replaced file is read again at once), never past the certificate's expiry."""
    ca_path = insi_ca_path(settings)
    try:
        ca_state = ca_path.stat().st_mtime_ns if ca_path is not None else None
    except OSError:
        ca_state = None
    key = (raw, software_id, str(ca_path), ca_state)
    now = time.monotonic()
    cached = _verdicts.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    certificate = client_certificate(settings)
    if certificate is None:  # an unreadable header
        return insufficient_access(f"{INSUFFICIENT_ACCESS} (certificat client illisible)")
    moment = _now()
    verdict = certificate_context(
        certificate, channel=CHANNEL, software_id=software_id, settings=settings, now=moment
    )
    remaining = (certificate.not_valid_after_utc - moment).total_seconds()
    if remaining > 0:
        if len(_verdicts) >= CERTIFICATE_CACHE_SIZE:
            _verdicts.clear()
        _verdicts[key] = (now + min(CERTIFICATE_CACHE_SECONDS, remaining), verdict)
    return verdict

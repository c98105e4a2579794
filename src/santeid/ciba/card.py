"""The CARD channel of PSC's CIBA (docs/reference/pro-sante-connect.md §14: ``channel=CARD``, "e-CPS
and CPx cards through
the CPS-Gestion desktop app"): the professional's workstation proves the CPS card.

``{issuer}/protocol/openid-connect/ext/ciba/card/<auth_req_id>``

* ``GET`` → ``{"challenge", "signing_input", "binding_message", "client_name",
  "expires_in"}``: the challenge (256 random bits) was drawn at the back-channel request;
  ``signing_input`` is what the card signs, ``santeid-ciba-card:<challenge>`` in UTF-8 (a
  fixed prefix so the signature can serve no other protocol).
* ``POST`` ``{"certificate": "<PEM>", "signature": "<base64url>"}`` (the certificate may also
  come from the TLS handshake, ``santeid.tls``): the card certificate is verified as at the
  card login (``santeid.cps.verify_card_certificate``: trusted CPS authority, validity,
  usage, revocation, active professional), must name the professional of the request, and
  the signature over ``signing_input`` must verify with its key (RSA PKCS#1 v1.5 or ECDSA,
  SHA-256). The request is then approved: ``authMode`` ``CARD``, ``acr`` ``card_acr``,
  ``amr`` ``["sc","pin","hwk","mfa"]``. ``santeid cps approve --card DIR AUTH_REQ_ID`` plays
  the workstation.

Errors are JSON ``{"error", "error_description"}``: 404 ``not_found`` (unknown, or not a
CARD request), 409 ``not_pending`` (decided or expired), 400 ``invalid_request``, 403
``invalid_card`` (with the card check's ``code``) or ``invalid_signature``. Each 403 leaves the
request pending and is a ``LOGIN_ERROR`` event (``santeid.observability.record.card_login_failed``,
as at the browser's card link) with the request's client and professional.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from santeid.ciba.requests import PENDING
from santeid.ciba.service import MEANS_CARD
from santeid.clock import utc_datetime
from santeid.cps import CardError
from santeid.cps import verify_card_certificate
from santeid.observability import record as observe
from santeid.pki import serial_hex
from santeid.psc import proofs

log = logging.getLogger(__name__)

SIGNING_PREFIX = "santeid-ciba-card:"


class CardApprovalError(Exception):
    def __init__(self, status: int, error: str, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.extra = extra

    def as_json(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description, **self.extra}


def signing_input(challenge: str) -> bytes:
    return (SIGNING_PREFIX + challenge).encode()


def _card_request(ciba: Any, auth_req_id: str):
    request = ciba.book.get(auth_req_id)
    if request is None or request.data.get("means") != MEANS_CARD:
        raise CardApprovalError(404, "not_found", "no CARD-channel CIBA request has this id")
    if request.state != PENDING:
        raise CardApprovalError(409, "not_pending", f"the request is {request.state}")
    return request


def describe(services: Any, auth_req_id: str) -> dict[str, Any]:
    """What the workstation shows and signs (the ``GET``)."""
    request = _card_request(services.ciba, auth_req_id)
    client = services.clients.get(request.client_id)
    challenge = request.data["challenge"]
    return {
        "challenge": challenge,
        "signing_input": signing_input(challenge).decode(),
        "binding_message": request.data.get("binding_message"),
        "client_name": client.name if client is not None else request.client_id,
        "expires_in": max(0, int(request.expires_at - services.ciba.clock())),
    }


def verify_signature(certificate: x509.Certificate, signature: bytes, data: bytes) -> bool:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def approve(
    services: Any, auth_req_id: str, body: Any, tls_certificate: x509.Certificate | None
) -> dict[str, Any]:
    """The ``POST``: check the card and its signature, approve the request. A card refused
    (403) is a ``LOGIN_ERROR`` event, as at the browser's card link; the request stays
    pending."""
    request = _card_request(services.ciba, auth_req_id)
    certificate, signature = _presented(body, tls_certificate)
    try:
        national_id = _verified(services, request, certificate, signature)
    except CardApprovalError as exc:
        reason = exc.extra.get("code", exc.error)
        log.info(
            "CIBA card approval for %s refused: %s (certificate serial %s)",
            request.national_id,
            reason,
            serial_hex(certificate),
        )
        observe.card_login_failed(request.client_id, reason, professional=request.national_id)
        raise
    approved = services.ciba.approve(
        request.key,
        proofs.authentication_for(
            proofs.CARD,
            national_id=national_id,
            auth_time=int(services.ciba.clock()),
            settings=services.settings,
        ),
    )
    if approved is None:
        raise CardApprovalError(409, "not_pending", "the request was decided meanwhile")
    return {"status": "approved"}


def _presented(
    body: Any, tls_certificate: x509.Certificate | None
) -> tuple[x509.Certificate, bytes]:
    """The certificate (from the body, else the TLS handshake) and the signature the
    workstation sent; 400 ``invalid_request`` when either is missing or malformed."""
    if not isinstance(body, dict):
        raise CardApprovalError(400, "invalid_request", "send a JSON object")
    certificate = tls_certificate
    pem = body.get("certificate")
    if pem is not None:
        if not isinstance(pem, str):
            raise CardApprovalError(400, "invalid_request", "certificate must be a PEM string")
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise CardApprovalError(400, "invalid_request", "certificate is not PEM") from None
    if certificate is None:
        raise CardApprovalError(400, "invalid_request", "the card certificate is required")
    encoded = body.get("signature")
    try:
        if not isinstance(encoded, str) or not encoded:
            raise ValueError
        signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, binascii.Error):
        raise CardApprovalError(
            400, "invalid_request", "signature (base64url) is required"
        ) from None
    return certificate, signature


def _verified(services: Any, request: Any, certificate: x509.Certificate, signature: bytes) -> str:
    """The national identifier of the card, once it is trusted, names the request's
    professional and has signed its challenge; else 403 ``invalid_card`` (with the card
    check's ``code``, or ``wrong_card``) or ``invalid_signature``."""
    try:
        national_id = verify_card_certificate(
            certificate,
            services.settings,
            directory=services.directory,
            now=utc_datetime(services.clock),
        )
    except CardError as exc:
        raise CardApprovalError(403, "invalid_card", exc.message("en"), code=exc.code) from None
    if national_id != request.national_id:
        raise CardApprovalError(
            403, "invalid_card", "this card belongs to another professional", code="wrong_card"
        )
    if not verify_signature(certificate, signature, signing_input(request.data["challenge"])):
        raise CardApprovalError(403, "invalid_signature", "the signature does not verify")
    return national_id

"""How a device proves who it is: JWTs signed with its own key.

The phone makes a P-256 key pair at registration and keeps the private key (in its secure
element, on a real phone); santeid keeps the public JWK. Every call of the device API then
carries a JWS (RFC 7515, compact serialization) signed **ES256** (RFC 7518 §3.4) whose header
``kid`` is the ``device_id``:

* the **device token**, ``Authorization: Bearer <JWT>`` (RFC 6750 §2.1), claims
  ``iss`` = device_id, ``aud`` = the server origin, ``iat``, ``exp`` (at most 60 s after
  ``iat``) and a single-use ``jti`` (RFC 7519 §4.1);
* the **decision JWT** (``decisions.py``), the same header, with the decision's claims.

This module checks what both share — structure, algorithm, device, signature, device status —
and the device token's claims. Each refusal is a distinct :class:`~santeid.ecps.problems.Problem`.
"""

from __future__ import annotations

from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from santeid.clock import Clock
from santeid.clock import system_clock
from santeid.ecps.devices import STATUS_LOCKED
from santeid.ecps.devices import STATUS_REVOKED
from santeid.ecps.devices import Device
from santeid.ecps.devices import DeviceRepository
from santeid.ecps.problems import Problem
from santeid.storage import EphemeralStore
from santeid.storage import keys
from santeid.untrusted_json import json_number
from santeid.untrusted_json import loads_untrusted_json

#: The only algorithm a device signs with (RFC 7518 §3.4; P-256 keys, RFC 7518 §6.2.1.1).
ALGORITHM = "ES256"
#: A device token lives at most this long (``exp - iat``), and a decision is accepted at
#: most this long after its ``iat``.
MAX_TOKEN_LIFETIME = 60
#: Tolerated clock difference between the phone and the server, in seconds.
CLOCK_SKEW = 5
#: Longest compact JWS accepted (a device token is ~400 characters).
MAX_TOKEN_LENGTH = 4096

#: joserfc registry allowing exactly ES256: a token announcing ``none``, ``HS256`` (with the
#: public key as the secret) or any other algorithm is refused before any key is used.
_REGISTRY = JWSRegistry(algorithms=[ALGORITHM])


def import_public_jwk(jwk: Any) -> ECKey:
    """The device's public key; refuses anything but an EC P-256 *public* JWK.

    A JWK carrying the private member ``d`` is refused rather than stripped: a phone app that
    sends it has leaked its key, and must make a new one.
    """
    if not isinstance(jwk, dict):
        raise ValueError("the public key must be a JWK object")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError('the public key must be an EC key on P-256 ("kty": "EC", "crv": "P-256")')
    if "d" in jwk:
        raise ValueError("the JWK carries a private key (member 'd'); send the public key only")
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
        raise ValueError("the JWK must be a signing key for ES256")
    if not isinstance(jwk.get("x"), str) or not isinstance(jwk.get("y"), str):
        raise ValueError("the JWK lacks its coordinates x and y")
    try:
        # cryptography checks the point is on the curve.
        key = ECKey.import_key({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"unusable P-256 public key: {exc}") from None
    if key.is_private:
        raise ValueError("the JWK carries a private key")
    return key


def public_jwk_and_thumbprint(jwk: Any) -> tuple[dict[str, Any], str]:
    """The canonical public JWK to store and its RFC 7638 thumbprint."""
    key = import_public_jwk(jwk)
    return dict(key.as_dict(private=False)), key.thumbprint()


def verify_device_jws(
    token: Any, devices: DeviceRepository, *, allow_inactive: bool = False
) -> tuple[Device, dict[str, Any]]:
    """Check a compact JWS signed by a registered device; return the device and the claims.

    Order of the checks, each with its own problem code: structure and algorithm
    (``invalid_token``), ``kid`` names a device (``unknown_device``), signature with that
    device's key (``bad_signature`` — also a token signed with another device's key), device
    status (``device_revoked``, ``device_locked``; skipped with ``allow_inactive`` so that a
    locked device can still learn its status from ``GET /me``).
    """
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise Problem("invalid_token", "the token is not ASCII") from None
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise Problem("invalid_token", "a compact JWS of at most 4096 characters is expected")
    token = token.strip()
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise Problem("invalid_token", f"not a compact JWS: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise Problem("invalid_token", f"the JWS must be signed {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Problem("invalid_token", "the JWS header must name the device in 'kid'")
    device = devices.get(kid)
    if device is None:
        raise Problem("unknown_device", "no device is registered under this kid")
    try:
        key = import_public_jwk(device.public_jwk)
        verified = jws.deserialize_compact(token, key, algorithms=[ALGORITHM], registry=_REGISTRY)
    except BadSignatureError:
        detail = "the signature does not verify with this device's key"
        raise Problem("bad_signature", detail) from None
    except (JoseError, ValueError, TypeError) as exc:
        raise Problem("invalid_token", f"unusable JWS: {exc}") from None
    try:
        claims = loads_untrusted_json(verified.payload, last_member_wins=True)
    except (ValueError, UnicodeDecodeError):
        raise Problem("invalid_token", "the JWS payload is not JSON") from None
    if not isinstance(claims, dict):
        raise Problem("invalid_token", "the JWS payload is not a JSON object")
    if not allow_inactive:
        check_active(device)
    return device, claims


def check_active(device: Device) -> None:
    if device.status == STATUS_REVOKED:
        raise Problem("device_revoked", "this device has been revoked; activate a new one")
    if device.status == STATUS_LOCKED:
        raise Problem("device_locked", "this device is locked after wrong PINs; activate a new one")


def numeric_date(claims: dict[str, Any], name: str, code: str) -> float:
    """The claim ``name`` of a device token or a decision as a NumericDate (RFC 7519 §2): a
    JSON number a double holds (:func:`santeid.untrusted_json.json_number`); :class:`Problem`
    ``code`` if it is missing or anything else."""
    value = json_number(claims.get(name))
    if value is None:
        raise Problem(code, f"the claim {name!r} must be a NumericDate (RFC 7519 §2)")
    return value


def check_audience(claims: dict[str, Any], origin: str) -> None:
    """``aud`` must be this server's origin (RFC 7519 §4.1.3): a token made for another
    santeid (the sandbox, say) cannot be replayed here."""
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if origin not in audiences:
        raise Problem("invalid_audience", f"'aud' must be {origin}")


def jti_digest(jti: Any, code: str) -> str:
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
        raise Problem(code, "the claim 'jti' must be a string of 1 to 256 characters")
    return keys.digest(jti)


def verify_device_token(
    token: str,
    *,
    devices: DeviceRepository,
    store: EphemeralStore,
    origin: str,
    allow_inactive: bool = False,
    clock: Clock = system_clock,
) -> Device:
    """Authenticate a device API call from its device token, the Bearer token of its
    ``Authorization`` header (RFC 6750 §2.1; read by ``santeid.ecps.api``)."""
    device, claims = verify_device_jws(token, devices, allow_inactive=allow_inactive)
    if claims.get("iss") != device.device_id:
        raise Problem("invalid_issuer", "'iss' must be the device_id (the 'kid')")
    check_audience(claims, origin)
    now = clock()
    issued_at = numeric_date(claims, "iat", "invalid_token")
    expires = numeric_date(claims, "exp", "invalid_token")
    if expires - issued_at > MAX_TOKEN_LIFETIME:
        raise Problem("token_lifetime_too_long", "'exp' must be at most 60 s after 'iat'")
    if issued_at > now + CLOCK_SKEW:
        raise Problem("token_not_yet_valid", "'iat' is in the future; check the phone's clock")
    if expires <= now - CLOCK_SKEW:
        raise Problem("token_expired", "the token has expired; sign a new one for each call")
    digest = jti_digest(claims.get("jti"), "invalid_token")
    # Remembered until the token could no longer be accepted anyway.
    ttl = keys.lifetime_through(expires + CLOCK_SKEW, now)
    seen = keys.ECPS_DEVICE_TOKEN_JTI.key(device.device_id, digest)
    if not store.add(seen, {"at": int(now)}, ttl):
        raise Problem("replayed_token", "this jti has already been used; use a new one per call")
    return device

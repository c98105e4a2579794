"""The key of a client's registered ``jwks`` that verifies a JWS the client signed: its
``private_key_jwt`` assertions (``santeid.oidc.provider.PrivateKeyJWT``), its request
objects (``santeid.oidc.request_objects``), its signed CIBA requests and login hint tokens
(``santeid.ciba.request_object``) — one lookup, as Keycloak makes one for all of them
(``PublicKeyStorageManager.getClientPublicKeyWrapper``, which ``DefaultTokenManager``'s
``decodeClientJWT`` and the "Signed JWT" authenticator both call;
docs/reference/keycloak-behaviour.md, "Client authentication"):

* the keys: those of ``use`` ``sig`` and of a type that verifies signatures (RSA, EC, OKP), in
  the order registered (``JWKSUtils.getKeyWrappersForUse(jwks, SIG, …)``); a key of ``use``
  ``enc`` (or any other) is never used. A key without ``use`` is taken as a signature key, as
  Keycloak takes the keys of a client's JWKS URL (``useRequestedUseWhenNull``); Keycloak
  leaves such a key out of a JWKS pasted in the client's settings, a difference santeid keeps:
  its ``jwks`` stands for both settings (docs/psc-integration.md §5);
* the pick (``PublicKeysWrapper.getKeyByKidAndAlg(kid, alg)``): the first key of the JWS's
  ``kid`` and ``alg`` member, else the first of its ``kid``; when the JWS has no ``kid``, a key
  without one comes first that way, then the first key whose ``alg``, or default algorithm
  (:func:`default_algorithm`), is the JWS's. None: :class:`NoClientKey` ("Unable to load
  public key" at the token endpoint);
* the key found must fit the JWS (``ClientAsymmetricSignatureVerifierContext``,
  ``ClientECDSASignatureVerifierContext``): of the algorithm's key type, and with no ``alg``
  member but the JWS's. Otherwise :class:`KeyMismatch`, which Keycloak's verifier reports as a
  signature that does not verify.

A key's ``key_ops`` is never read (:func:`without_key_ops`): Keycloak's ``JWK`` keeps it
among the members ``JWKParser`` and ``JWKSUtils`` ignore, so a key whose ``key_ops`` names
``encrypt``, or is not a list, is registered and verifies as one without it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

#: Key types that verify a signature (Keycloak's ``JWKParser.isKeyTypeSupported``).
SIGNATURE_KEY_TYPES: tuple[str, ...] = ("RSA", "EC", "OKP")
#: The ``use`` values of a key that verifies signatures (none: see the module's text).
SIGNATURE_USES: tuple[str | None, ...] = ("sig", None)
#: The key type each JWS algorithm family needs.
_FAMILY_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
#: ``KeyWrapper.getAlgorithmOrDefault`` for an EC key without ``alg``, by curve: Keycloak
#: writes the third "P-512", so that a P-521 key, like one of no known curve, falls through to
#: the RSA case and defaults to RS256.
_EC_DEFAULT_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-512": "ES512"}


class _ClientJWSRegistry(JWSRegistry):
    #: joserfc reads no JWS header over 512 bytes, which refused every JWS whose header
    #: carries an ``x5c`` certificate chain (RFC 7515 §4.1.6; two or three certificates are 5
    #: to 8 KB), as Keycloak reads them. No bound of its own here: the parameter that holds
    #: the JWS is bounded before it is read (``max_jwt_parameter_length``,
    #: ``santeid.security.check_parameter_size``), the whole body too
    #: (``santeid.serving.MAX_BUFFERED_BODY``, not imported: it would load Flask into the
    #: commands, which read client keys).
    max_header_length = sys.maxsize


def jws_registry(algorithms: Collection[str]) -> JWSRegistry:
    """What reads a JWS a client signed (``joserfc``'s ``registry=``): ``algorithms`` alone,
    and the header as long as the parameter that brought it."""
    return _ClientJWSRegistry(algorithms=list(algorithms))


class ClientKeyError(Exception):
    """The client's keys cannot verify this JWS."""


class NoClientKey(ClientKeyError):
    """No signature key of the client for the JWS's ``kid`` and ``alg``."""


class KeyMismatch(ClientKeyError):
    """The key found is of another type or ``alg`` than the JWS's."""


def is_signature_key(jwk: Mapping[str, Any]) -> bool:
    """Whether a registered JWK may verify what its client signs (its ``use`` and type)."""
    return jwk.get("use") in SIGNATURE_USES and jwk.get("kty") in SIGNATURE_KEY_TYPES


def default_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """The key's ``alg``, or Keycloak's default for its type (``getAlgorithmOrDefault``):
    RS256 for RSA, by curve for EC, none for OKP."""
    if jwk.get("alg") is not None:
        return jwk["alg"]
    if jwk.get("kty") == "EC":
        return _EC_DEFAULT_ALGORITHMS.get(jwk.get("crv"), "RS256")  # type: ignore[arg-type]
    if jwk.get("kty") == "RSA":
        return "RS256"
    return None


def without_key_ops(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The JWK without ``key_ops``, which Keycloak ignores (the module's text); joserfc would
    refuse to import a key whose ``key_ops`` does not fit its ``use``, and to verify with a
    key whose ``key_ops`` lacks ``verify``."""
    return {name: value for name, value in jwk.items() if name != "key_ops"}


def set_without_key_ops(jwks: Any) -> Any:
    """:func:`without_key_ops` for each key of a JWK Set; anything that is no JWK Set is
    returned as it is, for the caller's own check to refuse."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        return jwks
    keys = [without_key_ops(k) if isinstance(k, Mapping) else k for k in jwks["keys"]]
    return {**jwks, "keys": keys}


def _signature_keys(jwks: Mapping[str, Any] | None) -> list[tuple[Mapping[str, Any], Key]]:
    """The client's signature keys, in order, each with its JWK as registered; a key that
    does not import is left out, as Keycloak ignores a key it cannot load."""
    found = []
    members = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for jwk in members if isinstance(members, list) else []:
        if not isinstance(jwk, Mapping) or not is_signature_key(jwk):
            continue
        try:
            found.append((jwk, JWKRegistry.import_key(without_key_ops(jwk))))
        except (JoseError, ValueError, TypeError, KeyError):
            continue
    return found


def _pick(keys: list[tuple[Mapping[str, Any], Key]], kid: object, alg: object):
    by_kid = [entry for entry in keys if entry[0].get("kid") == kid]
    for jwk, key in by_kid:
        if jwk.get("alg") == alg:
            return jwk, key
    if by_kid:
        return by_kid[0]
    if kid is None:
        for jwk, key in keys:
            if default_algorithm(jwk) == alg:
                return jwk, key
    return None


def verification_key(jwks: Mapping[str, Any] | None, headers: Mapping[str, Any]) -> Key:
    """The key of ``jwks`` that verifies a JWS with these protected ``headers``; raise
    :class:`NoClientKey` or :class:`KeyMismatch`. The JWS's algorithm is checked against the
    verifier's own list by the caller, before."""
    kid, alg = headers.get("kid"), headers.get("alg")
    found = _pick(_signature_keys(jwks), kid, alg)
    if found is None:
        raise NoClientKey(f"no signature key of the client for kid {kid!r} and alg {alg!r}")
    jwk, key = found
    family = _FAMILY_KEY_TYPE.get(str(alg)[:2])
    if jwk.get("kty") != family:
        raise KeyMismatch(f"the key {jwk.get('kid')!r} ({jwk.get('kty')}) cannot verify {alg}")
    if jwk.get("alg") is not None and jwk["alg"] != alg:
        raise KeyMismatch(f"the key {jwk.get('kid')!r} is for {jwk['alg']}, not {alg}")
    return key


def resolver(jwks: Mapping[str, Any] | None) -> Callable[[Any], Key]:
    """:func:`verification_key` as joserfc's key argument: called with the JWS being
    decoded."""

    def resolve(obj: Any) -> Key:
        return verification_key(jwks, obj.headers())

    return resolve

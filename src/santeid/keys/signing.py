"""Signing and verifying with the store's keys, and the JWK Set that publishes them.

- RFC 7515 (JWS) §3.1 / §7.1: compact serialization; §4.1.4: the ``kid`` header parameter.
- RFC 7517 (JWK) §4: key members; §5: the JWK Set (public members only, RFC 7518 §6.2.1 /
  §6.3.1).
- RFC 7518 (JWA) §3.2 HS512 (the refresh-token secret, never published), §3.3 RS256, §3.4
  ES256, §3.5 PS256.

Part of the key store (:mod:`santeid.keystore`).
"""

from __future__ import annotations

import builtins
import functools
import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.util import json_b64encode
from joserfc.util import urlsafe_b64encode

from santeid.keys.lifecycle import _PARSER
from santeid.keys.lifecycle import _PUBLIC_MEMBERS
from santeid.keys.lifecycle import _REGISTRIES
from santeid.keys.lifecycle import ALGORITHMS
from santeid.keys.lifecycle import HMAC_ALGORITHM
from santeid.keys.lifecycle import STORED_ALGORITHMS
from santeid.keys.lifecycle import InvalidSignature
from santeid.keys.lifecycle import NoSigningKey
from santeid.keys.lifecycle import SigningKey
from santeid.keys.lifecycle import UnsupportedAlgorithm
from santeid.keys.lifecycle import _alg_message
from santeid.keys.lifecycle import _certificate_members
from santeid.keys.lifecycle import _Entry
from santeid.keys.state import KeyStoreState


class KeySigning(KeyStoreState):
    """``sign``, ``verify``, ``jwks``. Mixed into :class:`santeid.keystore.KeyStore`."""

    def signing_key(self, alg: str | None = None) -> SigningKey:
        """The active private key for ``alg`` (default: ``default_alg`` if it has an active
        key, else the first algorithm of :data:`ALGORITHMS` that has one).

        :raises NoSigningKey: no active key (for ``alg``).
        """
        entry = self._signing_entry(alg)
        return SigningKey(entry.key, entry.kid)

    def signing_algorithms(self) -> tuple[str, ...]:
        """The algorithms of :data:`ALGORITHMS` this store can sign with now (those with an
        active key), in that order: what discovery advertises for ID tokens and userinfo, and
        what a client may register as ``id_token_signed_response_alg`` or
        ``userinfo_signed_response_alg`` (docs/keys.md, "Algorithms")."""
        with self._lock:
            self._refresh()
            return tuple(alg for alg in ALGORITHMS if self._active(alg) is not None)

    def _signing_entry(self, alg: str | None) -> _Entry:
        if alg is not None and alg not in STORED_ALGORITHMS:
            raise UnsupportedAlgorithm(_alg_message(alg))
        with self._lock:
            self._refresh()
            entry = self._active(alg) if alg is not None else self._default_active()
        if entry is None:
            which = f"{alg} " if alg else ""
            flag = f" --alg {alg}" if alg else ""
            raise NoSigningKey(
                f"no active {which}signing key in {self.file}: run `santeid keys generate{flag}`"
                " (SANTEID_KEYS_DIR selects the keys directory)"
            )
        return entry

    def sign(
        self,
        claims: dict[str, Any],
        *,
        alg: str | None = None,
        typ: str = "JWT",
        extra_headers: dict[str, Any] | None = None,
    ) -> str:
        """Sign ``claims`` as a compact JWS (RFC 7515 §7.1) with the active key for ``alg``.

        The protected header is ``{"alg", "typ", "kid"}`` in that order (as PSC's), then
        ``extra_headers``, which may not override those three.
        """
        entry = self._signing_entry(alg)
        # Compact JSON, UTF-8 (RFC 7519 §7.1); ensure_ascii=False keeps accented names short.
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        if not extra_headers:
            # The usual case (every token of a login): the header segment is encoded once per
            # key and type, and the key signs the RFC 7515 §5.1 signing input directly — the
            # bytes joserfc's serialize_compact produces for the same header (tested).
            registry = _REGISTRIES[entry.alg]
            algorithm = registry.get_alg(entry.alg)
            algorithm.check_key(entry.key)
            signing_input = (
                _protected_header_segment(entry.alg, typ, entry.kid)
                + b"."
                + urlsafe_b64encode(payload)
            )
            signature = urlsafe_b64encode(algorithm.sign(signing_input, entry.key))
            return (signing_input + b"." + signature).decode("ascii")
        header: dict[str, Any] = {"alg": entry.alg, "typ": typ, "kid": entry.kid}
        clash = {"alg", "typ", "kid"} & extra_headers.keys()
        if clash:
            raise ValueError(f"extra_headers may not set {sorted(clash)}")
        header.update(extra_headers)
        return jws.serialize_compact(header, payload, entry.key, registry=_REGISTRIES[entry.alg])

    def verify(
        self, token: str | bytes, *, algs: builtins.list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Check ``token``'s signature with the published key its ``kid`` names.

        Returns ``{"header": {...}, "claims": {...}}``. Only the signature is checked:
        ``exp``, ``nbf``, ``iss``, ``aud`` and ``typ`` are the caller's job.

        :param algs: accepted algorithms (default: any of :data:`ALGORITHMS`, never the HMAC
            secret unless asked for with :data:`HMAC_ALGORITHM`); the token's
            ``alg`` must also be the algorithm its key was generated for, so an RSA key made
            for RS256 never verifies a PS256 signature (RFC 7517 §4.4).
        :raises InvalidSignature: malformed token, no or unknown ``kid``, key no longer
            published, algorithm not allowed, bad signature, or claims not a JSON object.
        """
        value = token.encode("ascii", "replace") if isinstance(token, str) else token
        try:
            obj = jws.extract_compact(value, registry=_PARSER)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidSignature(f"malformed JWS: {exc}") from None
        header = obj.headers()
        kid = header.get("kid")
        alg = header.get("alg")
        if not isinstance(kid, str):
            raise InvalidSignature("JWS header has no kid")
        with self._lock:
            self._refresh()
            now = self.clock()
            entry = self._published(kid, now)
            if entry is None and self._recheck():  # rotated by another process just now?
                entry = self._published(kid, now)
        if entry is None:
            raise InvalidSignature(f"unknown or unpublished kid {kid!r}")
        if alg != entry.alg:
            raise InvalidSignature(f"alg {alg!r} does not match key {kid} ({entry.alg})")
        if alg not in (ALGORITHMS if algs is None else algs):
            raise InvalidSignature(f"alg {alg!r} not allowed here")
        try:
            valid = jws.validate_compact(obj, entry.key, registry=_REGISTRIES[entry.alg])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidSignature(f"cannot verify: {exc}") from None
        if not valid:
            raise InvalidSignature(f"bad signature for kid {kid}")
        try:
            claims = json.loads(obj.payload)
        except (ValueError, UnicodeDecodeError):
            raise InvalidSignature("payload is not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidSignature("payload is not a JSON object")
        return {"header": dict(header), "claims": claims}

    def _published(self, kid: str, now: float) -> _Entry | None:
        return next((e for e in self._entries if e.kid == kid and self._is_published(e, now)), None)

    def jwks(self) -> dict[str, builtins.list[dict[str, Any]]]:
        """The public JWK Set (RFC 7517 §5): active keys first, then retired keys still
        published. Members: ``kty, kid, use, alg``, the public parameters only, then the key's
        self-signed certificate as Keycloak publishes it: ``x5c``, ``x5t``, ``x5t#S256``
        (RFC 7517 §4.7–§4.9).

        The file is checked at each call, not every ``reload_interval``: a key is published by
        every process as soon as it is in the file, hence before any process signs with it
        (OIDC Core §10.1.1), so a relying party that fetches the set on meeting a new ``kid``
        finds it whichever worker or host answers."""
        with self._lock:
            self._check_now()
            now = self.clock()
            keys = []
            for entry in self._ordered(now):
                if entry.alg == HMAC_ALGORITHM or not self._is_published(entry, now):
                    continue  # the HMAC secret is never published
                full = entry.key.as_dict(private=False)
                kty = entry.key.key_type  # what as_dict writes as "kty"
                jwk: dict[str, Any] = {"kty": kty, "kid": entry.kid, "use": "sig", "alg": entry.alg}
                for member in _PUBLIC_MEMBERS[kty]:
                    jwk[member] = full[member]
                jwk.update(_certificate_members(entry.certificate))
                keys.append(jwk)
            return {"keys": keys}


@functools.lru_cache(maxsize=64)
def _protected_header_segment(alg: str, typ: str, kid: str) -> bytes:
    """BASE64URL(UTF8(JWS Protected Header)) (RFC 7515 §7.1) of ``{"alg", "typ", "kid"}``, in
    that order, as joserfc encodes it: a function of these three strings only, so it is
    computed once per key and type (a handful of entries, whatever the traffic)."""
    return json_b64encode({"alg": alg, "typ": typ, "kid": kid})
